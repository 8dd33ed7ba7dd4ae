/* serve_int.h — what the pieces of `ponder serve` share (src/serve/).
 *
 *   api.c     request bodies (JSON) -> sv_req, with every field checked against the caps,
 *             and the OpenAI-shaped error bodies; pure functions, fuzzed
 *             (fuzz/fuzz_serve_request.c)
 *   engine.c  the engine thread: owns the models, runs every request in flight in shared
 *             forward calls, builds the response bodies
 *   http.c    libmicrohttpd: routes, the API key, body caps, 429s, waiting for the engine,
 *             server-sent events, /metrics
 */
#ifndef PONDER_SERVE_INT_H
#define PONDER_SERVE_INT_H

#include "ponder/model.h"
#include "ponder/search.h"
#include "ponder/serve.h"

#include <pthread.h>

/* ---- requests (api.c) ---- */

typedef enum sv_kind { SV_COMPLETION = 1, SV_CHAT, SV_POOLING } sv_kind;

#define SV_MAX_STOP 8          /* stop strings per request */
#define SV_MAX_STOP_LEN 256    /* bytes per stop string */
#define SV_MAX_LOGPROBS 20     /* top logprobs per token */
#define SV_MAX_MSGS 256        /* chat messages */

typedef struct sv_msg {
    char *role, *content;
} sv_msg;

typedef struct sv_limits {
    const char *model;     /* the served model name */
    int max_n;
    int max_tokens;
    size_t max_prompt_ids; /* token ids in one prompt */
    const pd_auto_plan *plan; /* strategy auto's plan (NULL: auto is refused) */
} sv_limits;

typedef struct sv_req {
    sv_kind kind;
    char *model;           /* as sent */
    /* completions: one prompt, as text or token ids */
    char *prompt_text;
    int32_t *prompt_ids;
    size_t n_prompt_ids;
    int has_ids;
    /* chat */
    sv_msg *msgs;
    size_t n_msgs;
    /* sampling */
    int n;                 /* choices (1) */
    int has_seed;
    uint64_t seed;         /* choice i draws from seed + i, unless seeds[] */
    uint64_t *seeds;       /* (n) ponder extension: one seed per choice, or NULL */
    pd_sampling samp;      /* temperature (1), top_k (off), top_p (1), min_p (0) */
    int max_tokens;        /* (completions 16; chat: the cap) */
    char *stop[SV_MAX_STOP];
    int n_stop;
    int32_t *stop_ids;
    size_t n_stop_ids;
    int keep_stop;         /* include_stop_str_in_output / no_stop_trim */
    int ignore_eos;
    int logprobs;          /* top logprobs per generated token; -1: none */
    int32_t *lp_ids;       /* logprob_token_ids: these ids' logprobs at every token */
    size_t n_lp_ids;
    int tokens_as_ids;     /* return_tokens_as_token_ids: "token_id:ID" instead of text */
    int self_cert;         /* self_certainty (ponder's extension): each token's KL(uniform || p) */
    int stream, include_usage;
    /* chat with test-time scaling */
    int search;            /* a `ponder` object or a STRATEGY-N/ model prefix */
    pd_search_cfg cfg;
    pd_select select;      /* which completion answers (weighted; auto: the plan's) */
    int select_given;      /* the request named the selection */
    int trace;             /* include candidates, rewards and the selection */
    /* /pooling: inputs as token ids (or text, tokenized by the engine) */
    int32_t **pool_ids;
    size_t *pool_n;
    char **pool_text;
    size_t n_pool;
} sv_req;

/* An error answer: HTTP status and OpenAI's error fields. */
typedef struct sv_err {
    int status;            /* 400, 404, 413, 429, 500, 503 */
    const char *type;      /* "invalid_request_error", "not_found_error", ... */
    const char *code;      /* or NULL */
    char param[48];
    char msg[400];
} sv_err;

int sv_err_set(sv_err *e, int status, const char *type, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Parse a request body of the given kind. Returns 0, or -1 with *e filled (400/404). */
int sv_parse(sv_kind kind, const char *body, size_t len, const sv_limits *lim, sv_req *out, sv_err *e);
void sv_req_free(sv_req *r);
/* {"error": {"message", "type", "param", "code"}} (malloc'd). */
char *sv_err_body(const sv_err *e);

/* Parse a model-name prefix "STRATEGY-N/" (beam_search-16/MODEL): fills cfg->strategy and
 * cfg->n and returns the length of the prefix, or 0 when there is none. */
size_t sv_model_prefix(const char *model, pd_search_cfg *cfg);

/* ---- jobs (engine.c) ---- */

typedef struct sv_seq sv_seq;

typedef struct sv_job {
    sv_req req;
    double t0;
    /* shared with the HTTP thread, under srv->mu */
    int done;              /* the engine is finished with it (body or err set) */
    int cancel;            /* the client went away: drop the work */
    int taken;             /* the engine has it */
    sv_err err;            /* err.status != 0: answer with this error */
    char *body;            /* the JSON response (non-streaming) */
    pd_buf events;         /* server-sent event bytes not yet sent (streaming) */
    struct sv_job *next;   /* the incoming queue */
    /* the engine's own */
    int fin;               /* finished (body / err ready to publish) */
    pd_buf pend;           /* event bytes made this round, appended to events under the lock */
    sv_seq *seqs;
    int n_seqs;
    int admitted;
    size_t prompt_tokens, cached_tokens, completion_tokens, prm_tokens;
    size_t n_prompt;
    int32_t *prompt;       /* (n_prompt) the prompt ids */
    void *search;          /* pd_search while searching */
    pd_problem prob;
    int32_t last_iter;     /* streaming: the last iteration reported */
    char id[40];
    long created;
} sv_job;

/* Metrics, counted under srv->mu. */
#define SV_HIST_N 12
typedef struct sv_metrics {
    uint64_t req[8][10];           /* route x status (http.c's CODES) */
    uint64_t prompt_tokens, cached_tokens, generated_tokens, prm_tokens;
    uint64_t lat_bucket[8][SV_HIST_N + 1]; /* per route, cumulative at render time */
    double lat_sum[8];
    uint64_t lat_count[8];
    uint64_t searches[PD_N_STRATEGIES > 8 ? PD_N_STRATEGIES : 8];
    uint64_t cancelled;
    size_t kv_bytes;               /* KV memory held by live sequences and the prefix cache */
    size_t cache_entries;
    int seqs_live, searches_live;
} sv_metrics;

struct pd_server {
    pd_serve_opts o;
    char model_name[256];
    char prm_name[256];            /* the PRM's name (/pooling) */
    char *policy_spec, *prm_spec, *host;
    pd_backend_opts bopts;
    /* models (the engine thread's) */
    pd_model *m;
    pd_tokenizer *tok;
    pd_model_config cfg;
    size_t kv_bytes_per_token;
    int have_policy, have_prm;     /* searches possible */
    pd_policy pol;
    pd_verifier ver;
    pd_model *prm_m;               /* /pooling: a qwen2-prm's model, or NULL */
    pd_tokenizer *prm_tok;
    int32_t prm_tag;
    void *cache;                   /* the prefix cache (engine.c) */
    double search_round_s;         /* how long the last round of searches took (engine.c) */
    /* threads */
    pthread_t engine;
    int engine_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;        /* the engine waits for jobs */
    pthread_cond_t done_cv;        /* HTTP threads wait for their job */
    int stopping;
    sv_job *queue, *queue_tail;    /* incoming, not taken yet */
    int n_seqs_pending;            /* sequences queued or live (for the cap) */
    int n_searches;                /* searches queued or live */
    sv_metrics met;
    void *daemon;                  /* struct MHD_Daemon */
    int port;
};

/* Engine: load models / start / stop the thread (engine.c). */
int sv_engine_open(pd_server *s, pd_error *err);
void sv_engine_close(pd_server *s);
int sv_engine_start(pd_server *s, pd_error *err);
void sv_engine_stop(pd_server *s);
/* Queue a parsed job (the caller holds no lock). */
void sv_engine_submit(pd_server *s, sv_job *j);
/* Free a job and its request (after done). */
void sv_job_free(sv_job *j);

/* HTTP (http.c). */
int sv_http_start(pd_server *s, pd_error *err);
void sv_http_stop(pd_server *s);

#endif
