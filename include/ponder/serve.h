/* ponder/serve.h — `ponder serve`: an OpenAI-compatible HTTP API that thinks longer
 * (src/serve/; docs/REMOTE.md).
 *
 *   POST /v1/completions       plain completions on the embedded engine (text or token-id
 *                              prompts, n, per-choice seeds, stop strings kept or trimmed,
 *                              logprobs), sampled exactly as the engine's policy samples
 *   POST /v1/chat/completions  a chat turn; with a `ponder` object in the body or a model
 *                              name "STRATEGY-N/MODEL" it runs a search (policy + PRM) and
 *                              answers with the chosen completion; `stream: true` as
 *                              server-sent events
 *   POST /pooling              vLLM's pooling API for a qwen2-prm PRM (one [p_neg, p_pos]
 *                              pair per <extra_0>)
 *   GET  /v1/models, /health, /metrics (Prometheus text)
 *
 * One engine thread owns the models (they are not thread-safe); HTTP threads parse requests,
 * queue them and wait. Every engine round batches the work of all requests in flight: the
 * decode steps of every completion in one forward call, the searches through one policy and
 * one verifier call, as the scheduler does for eval. */
#ifndef PONDER_SERVE_H
#define PONDER_SERVE_H

#include "ponder/base.h"
#include "ponder/search.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_serve_opts {
    const char *host;          /* address to bind ("127.0.0.1") */
    int port;                  /* 0: any free port (pd_serve_port tells which) (8080) */
    const char *policy;        /* model directory or repo id: completions and the search policy */
    const char *prm;           /* PRM directory or repo id for searches and /pooling (may be NULL) */
    const char *model_name;    /* the name clients use (NULL: the policy spec's last path part) */
    const char *api_key;       /* require "Authorization: Bearer KEY" (NULL: no key) */
    const pd_backend_opts *backend; /* threads, step delimiter, system prompt, PRM options (may be NULL) */
    size_t max_body;           /* request body cap in bytes (1 MiB) */
    int max_n;                 /* cap on n and on a search's N (64) */
    int max_tokens;            /* cap on max_tokens and a search's step token cap (4096) */
    int max_searches;          /* searches in flight at once; more get 429 (16) */
    int max_seqs;              /* completion sequences queued or in flight; more get 429 (1024) */
    int max_connections;       /* HTTP connections at once (512) */
    size_t cache_mb;           /* prefix cache of finished sequences' KV, in MiB (256; 0: off) */
    double timeout_s;          /* a request that waits longer is answered 503 (600) */
    int quiet;                 /* no request log on stderr */
    const pd_auto_plan *plan;  /* strategy auto's plan (pd_plan_load; NULL: auto is refused) */
} pd_serve_opts;

void pd_serve_opts_default(pd_serve_opts *o);

typedef struct pd_server pd_server;

/* Load the models, bind and start serving in background threads. Returns 0 or an error
 * (a model that does not load, a port in use). */
int pd_serve_start(pd_server **out, const pd_serve_opts *o, pd_error *err);
/* The port actually bound. */
int pd_serve_port(const pd_server *s);
/* The model name clients use. */
const char *pd_serve_model_name(const pd_server *s);
/* Stop accepting, cancel what is in flight, join the threads, free everything. */
void pd_serve_stop(pd_server *s);

#ifdef __cplusplus
}
#endif
#endif
