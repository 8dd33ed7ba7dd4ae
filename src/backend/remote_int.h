/* remote_int.h — what the remote backends share (src/backend/remote_*.c; docs/REMOTE.md).
 *
 *   remote_http.c    many HTTP requests in flight over libcurl's multi interface, with
 *                    timeouts, retries (exponential backoff with jitter, moving to the next
 *                    endpoint) and an error naming the endpoint after the last retry
 *   remote_parse.c   the servers' JSON answers (/v1/models, /v1/completions, /pooling) into
 *                    plain structs; pure functions, fuzzed (fuzz/fuzz_remote_response.c)
 *   remote_policy.c  the policy over /v1/completions
 *   remote_prm.c     the PRMs: vLLM's /pooling, and log-probability probes */
#ifndef PONDER_REMOTE_INT_H
#define PONDER_REMOTE_INT_H

#include "ponder/search.h"

#include <stddef.h>
#include <stdint.h>

/* ---- HTTP (remote_http.c) ---- */

typedef struct rh_client rh_client;

typedef struct rh_opts {
    const char *api_key;   /* bearer token (NULL: none) */
    int max_inflight;      /* requests at once (64) */
    double timeout_s;      /* per attempt (60) */
    int retries;           /* attempts after the first (4) */
    double backoff_s;      /* first backoff (0.5); doubles per retry, jittered 0.5x..1.5x, capped at 30 s */
} rh_opts;

/* bases: "http://host:port/v1" ... (copied). Returns NULL with err on failure. */
rh_client *rh_client_new(const char *const *bases, int n_bases, const rh_opts *o, pd_error *err);
void rh_client_free(rh_client *c);
int rh_client_n_bases(const rh_client *c);
const char *rh_client_base(const rh_client *c, int i);

typedef struct rh_req {
    const char *path;      /* appended to the base ("/completions") */
    const char *body;      /* JSON to POST; NULL: GET */
    int endpoint;          /* -1: round-robin; else this base only (no failover) */
    /* results */
    int ok;                /* accepted (2xx and the validator agreed) */
    int status;            /* HTTP status of the last attempt (0: none) */
    int attempts;
    int used;              /* the base that answered last */
    char *resp;            /* the accepted body (malloc'd, NUL-terminated) */
    size_t resp_len;
    char err[400];         /* when !ok: what happened, naming the endpoint */
} rh_req;

/* Validate an answer (2xx body): 0 to accept it, else fill why and return -1 to retry it as
 * a transient failure (a garbled answer). */
typedef int (*rh_check_fn)(void *ud, size_t i, const char *body, size_t len, char *why, size_t why_cap);

/* Run the requests with at most max_inflight at once. Connection errors, timeouts, 5xx and
 * 429 are retried (after backoff, on the next endpoint); other 4xx are not. Bounded in
 * attempts and time. Returns 0 (each request's ok/err tells its fate) or an error for the
 * whole call (out of memory). Frees any earlier resp of the requests. */
int rh_run(rh_client *c, rh_req *reqs, size_t n, rh_check_fn check, void *ud, pd_error *err);
void rh_req_clear(rh_req *r);

/* Counters since rh_client_new. */
typedef struct rh_stats {
    uint64_t requests, attempts, retries, failed;
} rh_stats;
rh_stats rh_client_stats(const rh_client *c);

/* Split a spec "http://a:1/v1,http://b:2/v1#MODEL" (a scheme prefix such as "logprob+"
 * already removed) into bases (malloc'd each; at most max) and the model (malloc'd, or NULL
 * when there is no fragment). Returns the number of bases, or -1 with err. */
int rh_split_spec(const char *spec, char **bases, int max, char **model, pd_error *err);

/* ---- answers (remote_parse.c) ---- */

typedef enum rp_finish { RP_FIN_UNKNOWN = 0, RP_FIN_STOP, RP_FIN_LENGTH, RP_FIN_OTHER } rp_finish;

typedef struct rp_top {
    int32_t id;            /* -1 when the server gave only a string */
    char *tok;             /* the token's text, or NULL */
    double logprob;
} rp_top;

typedef struct rp_choice {
    size_t index;
    char *text;            /* NUL-terminated (a NUL inside is kept; text_len tells) */
    size_t text_len;
    int32_t *ids;          /* generated ids when the server returned them (token_ids / tokens) */
    size_t n_ids;
    int has_ids;
    rp_finish finish;
    int stop_kind;         /* 0: no stop reason (EOS for vLLM/ponder), 1: a string, 2: a token id */
    char *stop_str;
    int32_t stop_id;
    /* logprobs of the FIRST generated token (the PRM probes need no more) */
    rp_top *top;
    size_t n_top;
    int has_logprobs;
    /* the top log-probabilities of EVERY generated position, as listed (the sampled token's
     * entry apart is not added): position i's are pos_lp[pos_off[i] .. pos_off[i + 1]);
     * pos_cert: ponder serve's exact self-certainty per position (its extension), or NULL */
    size_t n_pos;
    double *pos_lp;
    size_t *pos_off;       /* (n_pos + 1) */
    double *pos_cert;      /* (n_pos) */
} rp_choice;

typedef struct rp_completion {
    rp_choice *c;          /* ordered by index */
    size_t n;
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
    int has_usage;
} rp_completion;

/* Parse a /v1/completions answer. want_n: choices expected (0: any). Returns 0, or -1 with
 * why (a body that is not such an answer). */
int rp_parse_completion(const char *body, size_t len, size_t want_n, rp_completion *out, char *why, size_t cap);
void rp_completion_free(rp_completion *c);
/* llama-server's native /completion answer (content, tokens, stop_type, stopping_word,
 * tokens_evaluated, tokens_predicted, timings.cache_n, completion_probabilities or probs) as a
 * one-choice completion. */
int rp_parse_llama_native(const char *body, size_t len, rp_completion *out, char *why, size_t cap);

/* What /v1/models says about a server. */
typedef enum rp_server { RP_SRV_UNKNOWN = 0, RP_SRV_PONDER, RP_SRV_VLLM, RP_SRV_SGLANG, RP_SRV_LLAMACPP } rp_server;
typedef struct rp_models {
    char **ids;
    size_t n;
    rp_server kind;        /* from owned_by */
    int ponder_seeds;      /* ponder serve: per-choice seeds */
    int ponder_pooling;
    int max_n;             /* ponder serve: its cap on n (0: unknown) */
    long max_model_len;    /* 0: unknown */
} rp_models;
int rp_parse_models(const char *body, size_t len, rp_models *out, char *why, size_t cap);
void rp_models_free(rp_models *m);
const char *rp_server_name(rp_server k);

/* A /pooling answer: for every input, rows of width floats. */
typedef struct rp_pooling {
    double **rows;         /* (n)[n_rows[i] * width] */
    size_t *n_rows;
    size_t n;
    size_t width;
    uint64_t prompt_tokens;
} rp_pooling;
int rp_parse_pooling(const char *body, size_t len, size_t want_n, rp_pooling *out, char *why, size_t cap);
void rp_pooling_free(rp_pooling *p);

/* ---- backends (remote_policy.c, remote_prm.c) ---- */

/* spec: "http(s)://..." (policy). */
int pd_remote_policy_open(pd_policy *pol, const char *spec, const pd_backend_opts *o, pd_error *err);
/* spec: "vllm-pooling+http://..." or "logprob+http://..." (verifier). */
int pd_remote_verifier_open(pd_verifier *ver, const char *spec, const pd_backend_opts *o, pd_error *err);
/* Parameters of a model of this shape (FLOPs of remote models). */
struct pd_model_config;
double pd_remote_config_params(const struct pd_model_config *c);
/* 1 when spec names a remote verifier ("vllm-pooling+http..." / "logprob+http..."). */
int pd_remote_is_spec(const char *spec);

#endif
