/* engine.c — the engine thread of `ponder serve`: it alone touches the models.
 *
 * HTTP threads queue jobs (parsed requests) and wait; the engine loops over rounds, each
 * serving every job in flight together:
 *
 *   1. jobs whose client went away are dropped (their KV caches freed, their searches
 *      destroyed, which releases every node);
 *   2. new completion jobs are admitted: the prompt's ids (token ids as sent, a text
 *      tokenized, a chat rendered with the model's template), the longest cached prefix
 *      from the prefix cache, then all new prompts prefilled in shared forward calls; each
 *      of a job's n choices starts from a copy of the prompt's cache;
 *   3. one decoding step: every live choice samples a token and all survivors run in ONE
 *      forward call;
 *   4. one scheduler round of every search in flight: their expansions in one policy call,
 *      their scores in one verifier call (the same state machines as `ponder eval`);
 *   5. /pooling jobs are computed; finished jobs get their response bodies (or their last
 *      server-sent events) and leave.
 *
 * Sampling is the engine policy's, exactly (src/backend/policy_local.c): pd_sample with the
 * request's temperature / top_k / top_p / min_p and a per-choice RNG seeded from the choice's
 * seed; the step-stop rules in the same order (end of sequence, then the first occurrence of
 * a stop string in the raw bytes of the non-special tokens, then max_tokens, then the
 * model's context). Logits do not depend on the batch or on how a prompt was split into
 * forward calls, so a remote policy that sends the prompt's ids and each child's seed gets
 * the tokens the embedded policy would have sampled (tests/test_serve_remote.c).
 *
 * The prefix cache keeps the KV caches of finished choices (LRU, bounded in MiB): a search
 * driven through the API sends the same prefix again with one more step each time, and
 * only the tokens past the longest cached prefix are computed (reported as usage's
 * prompt_tokens_details.cached_tokens). */
#include "serve_int.h"
#include "search/search_int.h"
#include "eval/eval_int.h"
#include "ponder/grade.h"
#include "ponder/hub.h"
#include "ponder/prm.h"
#include "ponder/tokenizer.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFILL_CHUNK 1024
#define CACHE_MIN_PREFIX 8   /* shorter common prefixes are not worth a cache copy */

/* ---- one choice being generated ---- */

enum { FIN_LIVE = 0, FIN_EOS, FIN_STOP_STR, FIN_STOP_ID, FIN_LENGTH };

struct sv_seq {
    sv_job *job;
    int index;
    pd_kv *kv;
    float *logits;          /* (vocab) of the next token */
    pd_rng rng;
    int32_t *ids;           /* sampled ids (the EOS included, as vLLM's token_ids) */
    size_t n_ids, cap_ids;
    pd_buf text;            /* raw bytes of the non-special tokens */
    size_t scanned;         /* text bytes searched for stop strings */
    int fin;
    int stop_idx;           /* FIN_STOP_STR: which string */
    int32_t stop_id;        /* FIN_STOP_ID: which id */
    size_t cut;             /* text bytes in the answer */
    size_t emitted;         /* streaming: text bytes sent */
    int32_t next;
    /* logprobs, per sampled token */
    float *lp;              /* (n_ids) of the sampled token */
    int32_t *top_ids;       /* (n_ids, K) */
    float *top_lp;
    float *req_lp;          /* (n_ids, n_lp_ids) of the requested ids */
    double *cert;           /* (n_ids) self-certainty, when asked */
    size_t cap_lp;
};

static void seq_clear(sv_seq *q) {
    pd_kv_free(q->kv);
    free(q->logits);
    free(q->ids);
    pd_buf_free(&q->text);
    free(q->lp);
    free(q->top_ids);
    free(q->top_lp);
    free(q->req_lp);
    free(q->cert);
    memset(q, 0, sizeof *q);
}

/* ---- the prefix cache ---- */

typedef struct centry {
    int32_t *ids;
    size_t n;
    pd_kv *kv;              /* holds ids[0..n) */
    uint64_t used;
} centry;

typedef struct pcache {
    centry *e;
    size_t n, cap;
    size_t tokens, max_tokens;
    uint64_t clock;
} pcache;

static void cache_drop(pcache *c, size_t i) {
    c->tokens -= c->e[i].n;
    pd_kv_free(c->e[i].kv);
    free(c->e[i].ids);
    c->e[i] = c->e[--c->n];
}

static void cache_free(pcache *c) {
    if (!c) return;
    while (c->n) cache_drop(c, c->n - 1);
    free(c->e);
    free(c);
}

/* The entry sharing the longest prefix with ids, and that length. */
static size_t cache_lookup(pcache *c, const int32_t *ids, size_t n, size_t *best) {
    size_t bl = 0;
    *best = (size_t)-1;
    for (size_t i = 0; c && i < c->n; i++) {
        size_t m = c->e[i].n < n ? c->e[i].n : n, l = 0;
        while (l < m && c->e[i].ids[l] == ids[l]) l++;
        if (l > bl) bl = l, *best = i;
    }
    if (*best != (size_t)-1) c->e[*best].used = ++c->clock;
    return bl;
}

/* Keep kv (holding ids[0..n)) in the cache; takes ownership of kv. */
static void cache_put(pcache *c, const int32_t *ids, size_t n, pd_kv *kv) {
    if (!c || !c->max_tokens || n < CACHE_MIN_PREFIX || n > c->max_tokens) {
        pd_kv_free(kv);
        return;
    }
    for (size_t i = 0; i < c->n;) { /* an entry that is a prefix of this one is redundant */
        centry *x = &c->e[i];
        if (x->n <= n && !memcmp(x->ids, ids, x->n * sizeof *ids)) {
            cache_drop(c, i);
            continue;
        }
        if (x->n >= n && !memcmp(x->ids, ids, n * sizeof *ids)) { /* and this one is redundant */
            x->used = ++c->clock;
            pd_kv_free(kv);
            return;
        }
        i++;
    }
    while (c->n && c->tokens + n > c->max_tokens) { /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used) lru = i;
        cache_drop(c, lru);
    }
    int32_t *copy = malloc(n * sizeof *copy);
    if (!copy || pd_grow((void **)&c->e, &c->cap, c->n + 1, sizeof *c->e)) {
        free(copy);
        pd_kv_free(kv);
        return;
    }
    memcpy(copy, ids, n * sizeof *ids);
    c->e[c->n++] = (centry){copy, n, kv, ++c->clock};
    c->tokens += n;
}

/* ---- opening the models ---- */

static int is_eos(const pd_server *s, int32_t id) {
    for (int i = 0; i < s->cfg.n_eos; i++)
        if (s->cfg.eos_ids[i] == id) return 1;
    return 0;
}

int sv_engine_open(pd_server *s, pd_error *err) {
    char dir[4096];
    int rc = pd_hub_resolve(s->policy_spec, dir, sizeof dir, err);
    if (rc) return rc;
    pd_model_opts mo = {.n_threads = s->bopts.n_threads, .precision = (pd_precision)s->bopts.precision};
    if (!(s->m = pd_model_load(dir, &mo, err))) return err ? err->code : PD_EINVAL;
    if (!(s->tok = pd_tokenizer_load(dir, err))) return err ? err->code : PD_EINVAL;
    s->cfg = *pd_model_get_config(s->m);
    if (s->cfg.head != PD_HEAD_LM)
        return pd_err_set(err, PD_EINVAL, "serve --policy %s: %s is a reward model, not a causal LM (give it as --prm)",
                          s->policy_spec, s->cfg.architecture);
    s->kv_bytes_per_token = 2 * (size_t)s->cfg.n_layers * (size_t)s->cfg.n_kv_heads * (size_t)s->cfg.head_dim * sizeof(float);
    pcache *c = calloc(1, sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "out of memory");
    c->max_tokens = s->o.cache_mb * (size_t)1048576 / (s->kv_bytes_per_token ? s->kv_bytes_per_token : 1);
    s->cache = c;
    /* searches: the policy needs a chat template, and a PRM */
    if (pd_tokenizer_chat_family(s->tok) != PD_CHAT_NONE) {
        pd_error e2 = {0};
        if (pd_policy_open_opts(&s->pol, s->policy_spec, &s->bopts, &e2) == 0) s->have_policy = 1;
        else if (!s->o.quiet) fprintf(stderr, "ponder serve: searches are off: %s\n", e2.msg);
    }
    if (s->prm_spec) {
        if ((rc = pd_verifier_open_opts(&s->ver, s->prm_spec, s->have_policy ? &s->pol : NULL, &s->bopts, err)))
            return pd_err_prefix(err, "serve --prm %s", s->prm_spec);
        s->have_prm = 1;
        /* /pooling for a PRM with a classification head (qwen2-prm) */
        char pdir[4096];
        if (!pd_hub_resolve(s->prm_spec, pdir, sizeof pdir, err)) {
            pd_model *pm = pd_model_load(pdir, &mo, err);
            if (pm && pd_model_get_config(pm)->head == PD_HEAD_PRM_CLASS) {
                s->prm_m = pm;
                if (!(s->prm_tok = pd_tokenizer_load(pdir, err))) return err ? err->code : PD_EINVAL;
                s->prm_tag = pd_tokenizer_token_id(s->prm_tok, "<extra_0>");
            } else {
                pd_model_free(pm);
            }
        }
    }
    return 0;
}

void sv_engine_close(pd_server *s) {
    cache_free(s->cache);
    s->cache = NULL;
    if (s->have_prm) pd_verifier_close(&s->ver);
    if (s->have_policy) pd_policy_close(&s->pol);
    s->have_prm = s->have_policy = 0;
    pd_model_free(s->prm_m);
    pd_tokenizer_free(s->prm_tok);
    pd_model_free(s->m);
    pd_tokenizer_free(s->tok);
    s->m = s->prm_m = NULL;
    s->tok = s->prm_tok = NULL;
}

/* ---- responses ---- */

/* A JSON string of raw bytes, invalid UTF-8 replaced by U+FFFD. */
static json_t *jbytes(const char *p, size_t n) {
    pd_buf b = {0};
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        int ok = k && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = (u[i + j] & 0xC0) == 0x80;
        if (ok && k == 3) ok = !(c == 0xE0 && u[i + 1] < 0xA0) && !(c == 0xED && u[i + 1] > 0x9F);
        if (ok && k == 4) ok = !(c == 0xF0 && u[i + 1] < 0x90) && !(c == 0xF4 && u[i + 1] > 0x8F);
        if (ok && c == 0) ok = 0; /* no NUL inside JSON strings handed to C clients */
        if (ok) pd_buf_append(&b, u + i, k), i += k;
        else pd_buf_puts(&b, "\xEF\xBF\xBD"), i++;
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    pd_buf_free(&b);
    return j ? j : json_string("");
}

/* The text of one token for logprobs ("token_id:ID" on request). */
static json_t *tok_json(const pd_server *s, const sv_req *r, int32_t id, char *key, size_t ksz) {
    if (r->tokens_as_ids) {
        snprintf(key, ksz, "token_id:%d", (int)id);
        return json_string(key);
    }
    const char *b = "";
    size_t l = 0;
    if (pd_tokenizer_token_bytes(s->tok, id, &b, &l)) b = "", l = 0;
    json_t *j = jbytes(b, l);
    snprintf(key, ksz, "%s", json_string_value(j));
    return j;
}

static const char *finish_name(int fin) { return fin == FIN_LENGTH ? "length" : "stop"; }

static json_t *stop_reason(const sv_seq *q) {
    if (q->fin == FIN_STOP_STR) return json_string(q->job->req.stop[q->stop_idx]);
    if (q->fin == FIN_STOP_ID) return json_integer(q->stop_id);
    return json_null();
}

/* The logprobs object of a completion choice (OpenAI's legacy completions layout). */
static json_t *logprobs_json(const pd_server *s, const sv_seq *q) {
    const sv_req *r = &q->job->req;
    json_t *o = json_object(), *toks = json_array(), *tlp = json_array(), *top = json_array(), *off = json_array();
    size_t K = r->logprobs > 0 ? (size_t)r->logprobs : 0, at = 0;
    char key[64];
    for (size_t i = 0; i < q->n_ids; i++) {
        json_array_append_new(toks, tok_json(s, r, q->ids[i], key, sizeof key));
        json_array_append_new(tlp, json_real(q->lp[i]));
        json_array_append_new(off, json_integer((json_int_t)at));
        const char *b;
        size_t l = 0;
        if (!pd_tokenizer_is_special(s->tok, q->ids[i]) && !pd_tokenizer_token_bytes(s->tok, q->ids[i], &b, &l)) at += l;
        json_t *d = json_object();
        for (size_t k = 0; k < K; k++) {
            json_t *t = tok_json(s, r, q->top_ids[i * K + k], key, sizeof key);
            json_decref(t);
            if (!json_object_get(d, key)) json_object_set_new(d, key, json_real(q->top_lp[i * K + k]));
        }
        for (size_t k = 0; k < r->n_lp_ids; k++) {
            json_t *t = tok_json(s, r, r->lp_ids[k], key, sizeof key);
            json_decref(t);
            json_object_set_new(d, key, json_real(q->req_lp[i * r->n_lp_ids + k]));
        }
        json_array_append_new(top, d);
    }
    json_object_set_new(o, "tokens", toks);
    json_object_set_new(o, "token_logprobs", tlp);
    json_object_set_new(o, "top_logprobs", top);
    json_object_set_new(o, "text_offset", off);
    if (r->self_cert) { /* ponder's extension: the engine policy's self-certainty of each token */
        json_t *c = json_array();
        for (size_t i = 0; i < q->n_ids; i++) json_array_append_new(c, json_real(q->cert[i]));
        json_object_set_new(o, "self_certainty", c);
    }
    return o;
}

static json_t *usage_json(size_t prompt, size_t cached, size_t completion, size_t prm) {
    json_t *u = json_object(), *d = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer((json_int_t)prompt));
    json_object_set_new(u, "completion_tokens", json_integer((json_int_t)completion));
    json_object_set_new(u, "total_tokens", json_integer((json_int_t)(prompt + completion + prm)));
    if (prm) json_object_set_new(u, "prm_tokens", json_integer((json_int_t)prm));
    json_object_set_new(d, "cached_tokens", json_integer((json_int_t)cached));
    json_object_set_new(u, "prompt_tokens_details", d);
    return u;
}

static json_t *head_json(const pd_server *s, const sv_job *j, const char *object) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "object", json_string(object));
    json_object_set_new(o, "created", json_integer(j->created));
    json_object_set_new(o, "model", jbytes(j->req.model, strlen(j->req.model)));
    return o;
}

/* The body of a finished completion / plain chat job. */
static char *gen_body(const pd_server *s, sv_job *j) {
    int chat = j->req.kind == SV_CHAT;
    json_t *o = head_json(s, j, chat ? "chat.completion" : "text_completion"), *ch = json_array();
    for (int i = 0; i < j->n_seqs; i++) {
        sv_seq *q = &j->seqs[i];
        json_t *c = json_object();
        json_object_set_new(c, "index", json_integer(i));
        if (chat) {
            json_t *m = json_object();
            json_object_set_new(m, "role", json_string("assistant"));
            json_object_set_new(m, "content", jbytes(q->text.data ? q->text.data : "", q->cut));
            json_object_set_new(c, "message", m);
            json_object_set_new(c, "logprobs", json_null());
        } else {
            json_object_set_new(c, "text", jbytes(q->text.data ? q->text.data : "", q->cut));
            json_object_set_new(c, "logprobs", j->req.logprobs >= 0 ? logprobs_json(s, q) : json_null());
        }
        json_object_set_new(c, "finish_reason", json_string(finish_name(q->fin)));
        json_object_set_new(c, "stop_reason", stop_reason(q));
        json_t *ids = json_array();
        for (size_t k = 0; k < q->n_ids; k++) json_array_append_new(ids, json_integer(q->ids[k]));
        json_object_set_new(c, "token_ids", ids);
        json_array_append_new(ch, c);
    }
    json_object_set_new(o, "choices", ch);
    json_object_set_new(o, "usage", usage_json(j->prompt_tokens, j->cached_tokens, j->completion_tokens, 0));
    char *b = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return b;
}

/* Append one server-sent event holding o (consumed). */
static void sse(sv_job *j, json_t *o) {
    char *b = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!b) return;
    pd_buf_puts(&j->pend, "data: ");
    pd_buf_puts(&j->pend, b);
    pd_buf_puts(&j->pend, "\n\n");
    free(b);
}

/* A streaming chunk for choice i: text delta (may be NULL) and finish reason (may be NULL). */
static void chunk(const pd_server *s, sv_job *j, int i, const char *text, size_t len, const char *finish, json_t *extra) {
    int chat = j->req.kind == SV_CHAT;
    json_t *o = head_json(s, j, chat ? "chat.completion.chunk" : "text_completion"), *ch = json_array(), *c = json_object();
    json_object_set_new(c, "index", json_integer(i));
    if (chat) {
        json_t *d = json_object();
        if (text) json_object_set_new(d, "content", jbytes(text, len));
        if (i < 0) { /* the opening chunk */
            json_object_set_new(c, "index", json_integer(0));
            json_object_set_new(d, "role", json_string("assistant"));
            json_object_set_new(d, "content", json_string(""));
        }
        json_object_set_new(c, "delta", d);
    } else {
        json_object_set_new(c, "text", text ? jbytes(text, len) : json_string(""));
    }
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    json_array_append_new(ch, c);
    json_object_set_new(o, "choices", ch);
    if (extra) json_object_set_new(o, "ponder", extra);
    sse(j, o);
}

static void stream_end(const pd_server *s, sv_job *j, json_t *usage) {
    if (j->req.include_usage && usage) {
        json_t *o = head_json(s, j, j->req.kind == SV_CHAT ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(o, "choices", json_array());
        json_object_set_new(o, "usage", usage);
        sse(j, o);
    } else {
        json_decref(usage);
    }
    pd_buf_puts(&j->pend, "data: [DONE]\n\n");
}

/* Stream the text of q that can no longer change (live: hold back what a stop string may
 * still cut, and an incomplete UTF-8 character). */
static void stream_text(const pd_server *s, sv_seq *q) {
    sv_job *j = q->job;
    size_t upto = q->cut;
    if (!q->fin) {
        size_t hold = 0;
        for (int k = 0; k < j->req.n_stop; k++)
            if (strlen(j->req.stop[k]) > hold) hold = strlen(j->req.stop[k]);
        upto = q->text.len > hold ? q->text.len - hold + (hold ? 1 : 0) : 0;
        if (hold && upto) upto--; /* keep hold - 1... and one more to be safe at the cut */
        const unsigned char *t = (const unsigned char *)q->text.data;
        while (upto > q->emitted && upto < q->text.len && (t[upto] & 0xC0) == 0x80) upto--;
        /* an incomplete character at the end */
        size_t k = upto;
        while (k > q->emitted && k > upto - (upto > 4 ? 4 : upto) && (t[k - 1] & 0xC0) == 0x80) k--;
        if (k > q->emitted && k <= upto && t[k - 1] >= 0xC0) {
            unsigned c = t[k - 1];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (upto - (k - 1) < need) upto = k - 1;
        }
    }
    if (upto > q->emitted) {
        chunk(s, j, q->index, q->text.data + q->emitted, upto - q->emitted, NULL, NULL);
        q->emitted = upto;
    }
}

/* ---- generation ---- */

/* Log-softmax bookkeeping of one sampled token (raw model logits, as vLLM's default). */
static int record_logprobs(const pd_server *s, sv_seq *q, int32_t id) {
    const sv_req *r = &q->job->req;
    size_t V = (size_t)s->cfg.vocab_size, K = r->logprobs > 0 ? (size_t)r->logprobs : 0, i = q->n_ids;
    if (pd_grow((void **)&q->lp, &q->cap_lp, i + 1, sizeof *q->lp)) return PD_ENOMEM;
    size_t cap = q->cap_lp;
    if ((K && (!(q->top_ids = realloc(q->top_ids, cap * K * sizeof *q->top_ids)) ||
               !(q->top_lp = realloc(q->top_lp, cap * K * sizeof *q->top_lp)))) ||
        (r->n_lp_ids && !(q->req_lp = realloc(q->req_lp, cap * r->n_lp_ids * sizeof *q->req_lp))) ||
        (r->self_cert && !(q->cert = realloc(q->cert, cap * sizeof *q->cert))))
        return PD_ENOMEM;
    const float *l = q->logits;
    float mx = -INFINITY;
    for (size_t v = 0; v < V; v++)
        if (l[v] > mx) mx = l[v];
    /* the engine policy's sum (confidence.c), so that a remote policy's figures equal a local one's */
    double lse = (double)mx + log(pd_exp_sum(l, 1.0f, mx, NULL, V));
    q->lp[i] = (float)((double)l[id] - lse);
    if (r->self_cert) { /* KL(uniform || p) = lse - mean logit - log V, as the engine policy (confidence.c) */
        double mean = 0;
        for (size_t v = 0; v < V; v++) mean += l[v];
        q->cert[i] = lse - mean / (double)V - log((double)V);
    }
    if (K) { /* the K largest, highest first (ties: lower id) */
        int32_t *ti = q->top_ids + i * K;
        float *tl = q->top_lp + i * K;
        size_t nk = 0;
        for (size_t v = 0; v < V; v++) {
            if (nk == K && !(l[v] > l[ti[K - 1]])) continue;
            size_t at = nk < K ? nk++ : K - 1;
            while (at > 0 && l[v] > l[ti[at - 1]]) ti[at] = ti[at - 1], at--;
            ti[at] = (int32_t)v;
        }
        for (size_t k = 0; k < nk; k++) tl[k] = (float)((double)l[ti[k]] - lse);
        for (size_t k = nk; k < K; k++) ti[k] = ti[0], tl[k] = tl[0];
    }
    for (size_t k = 0; k < r->n_lp_ids; k++) {
        int32_t t = r->lp_ids[k];
        q->req_lp[i * r->n_lp_ids + k] = t >= 0 && (size_t)t < V ? (float)((double)l[t] - lse) : -INFINITY;
    }
    return 0;
}

/* Sample q's next token and decide whether it goes on (see the top of the file). */
static int seq_step(pd_server *s, sv_seq *q, pd_error *err) {
    const sv_req *r = &q->job->req;
    int32_t id;
    int rc = pd_sample(q->logits, (size_t)s->cfg.vocab_size, &r->samp, &q->rng, &id, err);
    if (rc) return rc;
    if (r->logprobs >= 0 && record_logprobs(s, q, id)) return pd_err_set(err, PD_ENOMEM, "out of memory");
    if (pd_grow((void **)&q->ids, &q->cap_ids, q->n_ids + 1, sizeof *q->ids)) return pd_err_set(err, PD_ENOMEM, "out of memory");
    q->ids[q->n_ids++] = id;
    q->job->completion_tokens++;
    if (!r->ignore_eos && is_eos(s, id)) {
        q->fin = FIN_EOS;
        q->cut = q->text.len;
        return 0;
    }
    for (size_t k = 0; k < r->n_stop_ids; k++)
        if (r->stop_ids[k] == id) {
            q->fin = FIN_STOP_ID;
            q->stop_id = id;
            q->cut = q->text.len;
            return 0;
        }
    const char *bytes;
    size_t len = 0;
    if (!pd_tokenizer_is_special(s->tok, id) && !pd_tokenizer_token_bytes(s->tok, id, &bytes, &len) && len &&
        pd_buf_append(&q->text, bytes, len))
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    /* the earliest stop string in the text this token completed */
    size_t best = (size_t)-1;
    for (int k = 0; k < r->n_stop; k++) {
        size_t sl = strlen(r->stop[k]);
        if (q->text.len < sl) continue;
        size_t from = q->scanned + 1 > sl ? q->scanned + 1 - sl : 0;
        for (size_t at = from; at + sl <= q->text.len && at < best; at++)
            if (!memcmp(q->text.data + at, r->stop[k], sl)) {
                best = at;
                q->stop_idx = k;
                break;
            }
    }
    q->scanned = q->text.len;
    q->next = id;
    if (best != (size_t)-1) {
        q->fin = FIN_STOP_STR;
        q->cut = r->keep_stop ? best + strlen(r->stop[q->stop_idx]) : best;
    } else if (q->n_ids >= (size_t)r->max_tokens || pd_kv_len(q->kv) + 1 > (size_t)s->cfg.max_positions) {
        q->fin = FIN_LENGTH;
        q->cut = q->text.len;
    }
    return 0;
}

/* The prompt ids of a completion or plain chat job; an error answer (400) when bad. */
static int job_prompt(pd_server *s, sv_job *j) {
    sv_req *r = &j->req;
    pd_error e = {0};
    if (r->kind == SV_COMPLETION && r->has_ids) {
        j->prompt = r->prompt_ids;
        j->n_prompt = r->n_prompt_ids;
        r->prompt_ids = NULL;
    } else if (r->kind == SV_COMPLETION) {
        if (pd_tokenizer_encode(s->tok, r->prompt_text, strlen(r->prompt_text), 1, &j->prompt, &j->n_prompt, &e))
            return sv_err_set(&j->err, 400, "invalid_request_error", "prompt", "%s", e.msg);
    } else {
        pd_chat_msg *m = calloc(r->n_msgs, sizeof *m);
        if (!m) return sv_err_set(&j->err, 500, "server_error", NULL, "out of memory");
        for (size_t i = 0; i < r->n_msgs; i++) m[i] = (pd_chat_msg){r->msgs[i].role, r->msgs[i].content};
        pd_buf b = {0};
        int rc = pd_chat_render(s->tok, m, r->n_msgs, 1, 0, &b, &e);
        free(m);
        if (!rc) rc = pd_tokenizer_encode(s->tok, b.data ? b.data : "", b.len, 0, &j->prompt, &j->n_prompt, &e);
        pd_buf_free(&b);
        if (rc) return sv_err_set(&j->err, 400, "invalid_request_error", "messages", "%s", e.msg);
    }
    if (!j->n_prompt) return sv_err_set(&j->err, 400, "invalid_request_error", "prompt", "the prompt has no tokens");
    for (size_t i = 0; i < j->n_prompt; i++)
        if (j->prompt[i] < 0 || j->prompt[i] >= s->cfg.vocab_size)
            return sv_err_set(&j->err, 400, "invalid_request_error", "prompt", "prompt token %zu is %d, outside the vocabulary (0..%d)",
                              i, (int)j->prompt[i], s->cfg.vocab_size - 1);
    if (j->n_prompt > (size_t)s->cfg.max_positions)
        return sv_err_set(&j->err, 400, "invalid_request_error", "prompt",
                          "This model's maximum context length is %d tokens; the prompt has %zu", s->cfg.max_positions, j->n_prompt);
    return 0;
}

/* Admit new generation jobs: prompts, cached prefixes, prefill, the choices. */
static int admit_gen(pd_server *s, sv_job **jobs, size_t n, pd_error *err) {
    pcache *c = s->cache;
    size_t V = (size_t)s->cfg.vocab_size;
    typedef struct adm { sv_job *j; pd_kv *kv; size_t at; float *logits; } adm;
    adm *a = calloc(n ? n : 1, sizeof *a);
    pd_seq_step *steps = malloc((n ? n : 1) * sizeof *steps);
    size_t *who = malloc((n ? n : 1) * sizeof *who);
    size_t na = 0;
    int rc = 0;
    if (!a || !steps || !who) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        sv_job *j = jobs[i];
        j->admitted = 1;
        if (job_prompt(s, j)) {
            j->fin = 1;
            continue;
        }
        j->prompt_tokens = j->n_prompt;
        size_t best, lcp = cache_lookup(c, j->prompt, j->n_prompt, &best);
        pd_kv *kv = NULL;
        if (lcp >= CACHE_MIN_PREFIX) {
            if (lcp >= j->n_prompt) lcp = j->n_prompt - 1; /* compute the last token for its logits */
            kv = pd_kv_clone(c->e[best].kv, err);
            if (kv) pd_kv_truncate(kv, lcp);
        } else {
            lcp = 0;
            kv = pd_kv_new(s->m, err);
        }
        float *lg = malloc(V * sizeof *lg);
        if (!kv || !lg) {
            pd_kv_free(kv);
            free(lg);
            rc = err && err->code ? err->code : pd_err_set(err, PD_ENOMEM, "out of memory");
            break;
        }
        j->cached_tokens = lcp;
        a[na++] = (adm){j, kv, lcp, lg};
    }
    while (!rc) { /* prefill in calls of at most PREFILL_CHUNK tokens */
        size_t ns = 0, budget = PREFILL_CHUNK;
        for (size_t k = 0; k < na && budget; k++) {
            adm *x = &a[k];
            if (x->at >= x->j->n_prompt) continue;
            size_t take = x->j->n_prompt - x->at < budget ? x->j->n_prompt - x->at : budget;
            budget -= take;
            int last = x->at + take == x->j->n_prompt;
            steps[ns] = (pd_seq_step){.kv = x->kv, .tokens = x->j->prompt + x->at, .n_tokens = take,
                                      .logits = last ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = x->logits};
            who[ns++] = k;
        }
        if (!ns) break;
        if ((rc = pd_model_forward(s->m, steps, ns, err))) break;
        for (size_t q = 0; q < ns; q++) a[who[q]].at += steps[q].n_tokens;
    }
    for (size_t k = 0; k < na && !rc; k++) { /* the choices: a copy of the prompt's cache each */
        sv_job *j = a[k].j;
        int nq = j->req.n;
        if (!(j->seqs = calloc((size_t)nq, sizeof *j->seqs))) {
            rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            break;
        }
        j->n_seqs = nq;
        for (int i = 0; i < nq && !rc; i++) {
            sv_seq *q = &j->seqs[i];
            q->job = j;
            q->index = i;
            uint64_t seed = j->req.seeds ? j->req.seeds[i] : j->req.has_seed ? j->req.seed + (uint64_t)i
                                                                             : pd_hash_mix((uint64_t)time(NULL), (uint64_t)(uintptr_t)q);
            pd_rng_seed(&q->rng, seed);
            if (i == nq - 1) q->kv = a[k].kv, a[k].kv = NULL;
            else if (!(q->kv = pd_kv_clone(a[k].kv, err))) rc = err->code ? err->code : PD_ENOMEM;
            if (!rc && !(q->logits = malloc(V * sizeof *q->logits))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            if (!rc) memcpy(q->logits, a[k].logits, V * sizeof *q->logits);
        }
        if (!rc && j->req.stream && j->req.kind == SV_CHAT) chunk(s, j, -1, NULL, 0, NULL, NULL);
    }
    for (size_t k = 0; k < na; k++) {
        pd_kv_free(a[k].kv);
        free(a[k].logits);
    }
    free(a);
    free(steps);
    free(who);
    return rc;
}

/* One decoding step of every live choice; finished jobs get their bodies. */
static int decode_step(pd_server *s, sv_job **jobs, size_t n, pd_error *err) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)jobs[i]->n_seqs;
    pd_seq_step *steps = malloc((total ? total : 1) * sizeof *steps);
    if (!steps) return pd_err_set(err, PD_ENOMEM, "out of memory");
    size_t ns = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        for (int k = 0; k < jobs[i]->n_seqs && !rc && !jobs[i]->fin; k++) {
            sv_seq *q = &jobs[i]->seqs[k];
            if (q->fin) continue;
            if ((rc = seq_step(s, q, err))) break;
            if (!q->fin) steps[ns++] = (pd_seq_step){.kv = q->kv, .tokens = &q->next, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = q->logits};
        }
    if (!rc && ns) rc = pd_model_forward(s->m, steps, ns, err);
    free(steps);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        sv_job *j = jobs[i];
        int live = 0;
        if (j->fin) continue;
        for (int k = 0; k < j->n_seqs; k++) {
            sv_seq *q = &j->seqs[k];
            if (j->req.stream) {
                stream_text(s, q);
                if (q->fin && q->emitted != (size_t)-1) {
                    chunk(s, j, k, NULL, 0, finish_name(q->fin), NULL);
                    q->emitted = (size_t)-1;
                }
            }
            live |= !q->fin;
        }
        if (live) continue;
        j->fin = 1;
        if (j->req.stream) stream_end(s, j, usage_json(j->prompt_tokens, j->cached_tokens, j->completion_tokens, 0));
        else if (!(j->body = gen_body(s, j))) sv_err_set(&j->err, 500, "server_error", NULL, "out of memory");
        /* the choices' caches go to the prefix cache (they hold the prompt and all sampled
         * ids but the last) */
        for (int k = 0; k < j->n_seqs; k++) {
            sv_seq *q = &j->seqs[k];
            size_t held = q->kv ? pd_kv_len(q->kv) : 0;
            int32_t *ids = held ? malloc(held * sizeof *ids) : NULL;
            if (ids && held >= j->n_prompt && held - j->n_prompt <= q->n_ids) {
                memcpy(ids, j->prompt, j->n_prompt * sizeof *ids);
                memcpy(ids + j->n_prompt, q->ids, (held - j->n_prompt) * sizeof *ids);
                cache_put(s->cache, ids, held, q->kv);
                q->kv = NULL;
            }
            free(ids);
        }
    }
    return 0;
}

/* ---- searches ---- */

static json_t *search_trace(const sv_job *j, const pd_search_result *r, int32_t pick) {
    json_t *t = json_object(), *cs = json_array();
    json_object_set_new(t, "strategy", json_string(pd_strategy_name(j->req.cfg.strategy)));
    json_object_set_new(t, "n", json_integer(j->req.cfg.n));
    if (j->req.cfg.strategy != PD_BEST_OF_N) json_object_set_new(t, "beam_width", json_integer(j->req.cfg.beam_width));
    pd_select sel = r->auto_bin >= 0 && !j->req.select_given ? (pd_select)r->auto_choice.sel : j->req.select;
    json_object_set_new(t, "selection", json_string(pd_select_name(sel)));
    json_object_set_new(t, "selected", json_integer(pick));
    if (r->auto_bin >= 0) /* auto: the probe's statistic and bin, and what the plan ran */
        json_object_set_new(t, "plan", pd_plan_trace_json(r->auto_stat, r->auto_bin, &r->auto_choice));
    json_object_set_new(t, "iterations", json_integer(r->iterations));
    for (int32_t i = 0; i < r->n; i++) {
        const pd_completion *c = &r->c[i];
        json_t *o = json_object(), *rw = json_array();
        json_object_set_new(o, "text", jbytes(c->text, strlen(c->text)));
        for (int32_t k = 0; k < c->n_steps; k++) json_array_append_new(rw, json_real(c->rewards[k]));
        json_object_set_new(o, "step_rewards", rw);
        json_object_set_new(o, "score", json_real(c->score));
        json_object_set_new(o, "answer", c->answer ? jbytes(c->answer, strlen(c->answer)) : json_null());
        json_object_set_new(o, "status", json_string(c->status == PD_NODE_FINISHED ? "finished" : "truncated"));
        json_array_append_new(cs, o);
    }
    json_object_set_new(t, "candidates", cs);
    json_t *cost = json_object();
    json_object_set_new(cost, "policy_tokens", json_integer((json_int_t)r->cost.policy_tokens));
    json_object_set_new(cost, "prefix_tokens", json_integer((json_int_t)r->cost.prefix_tokens));
    json_object_set_new(cost, "prm_tokens", json_integer((json_int_t)r->cost.prm_tokens));
    json_object_set_new(cost, "policy_flops", json_real(r->cost.policy_flops));
    json_object_set_new(cost, "prm_flops", json_real(r->cost.prm_flops));
    json_object_set_new(t, "cost", cost);
    return t;
}

/* A finished search: the selected completion as the answer. */
static void search_done(pd_server *s, sv_job *j, const pd_search_result *r) {
    if (r->failed) {
        sv_err_set(&j->err, 500, "server_error", NULL, "the search failed: %s", r->error);
        return;
    }
    pd_select sel = r->auto_bin >= 0 && !j->req.select_given ? (pd_select)r->auto_choice.sel : j->req.select;
    int32_t pick = pd_select_pick(r->c, r->n, r->n, sel);
    const char *text = pick >= 0 ? r->c[pick].text : "";
    const char *finish = pick >= 0 && r->c[pick].status == PD_NODE_FINISHED ? "stop" : "length";
    json_t *usage = usage_json(r->cost.prefix_tokens, 0, r->cost.policy_tokens, r->cost.prm_tokens);
    json_t *trace = j->req.trace ? search_trace(j, r, pick) : NULL;
    if (j->req.stream) {
        chunk(s, j, 0, text, strlen(text), NULL, NULL);
        chunk(s, j, 0, NULL, 0, finish, trace);
        stream_end(s, j, usage);
        return;
    }
    json_t *o = head_json(s, j, "chat.completion"), *ch = json_array(), *c = json_object(), *m = json_object();
    json_object_set_new(m, "role", json_string("assistant"));
    json_object_set_new(m, "content", jbytes(text, strlen(text)));
    json_object_set_new(c, "index", json_integer(0));
    json_object_set_new(c, "message", m);
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason", json_string(finish));
    json_array_append_new(ch, c);
    json_object_set_new(o, "choices", ch);
    json_object_set_new(o, "usage", usage);
    if (trace) json_object_set_new(o, "ponder", trace);
    if (!(j->body = json_dumps(o, JSON_COMPACT))) sv_err_set(&j->err, 500, "server_error", NULL, "out of memory");
    json_decref(o);
}

/* Start new searches, then one scheduler round of every search in flight. */
static int search_round(pd_server *s, sv_job **jobs, size_t n, pd_error *err) {
    pd_expand_req *eb = NULL;
    pd_score_req *sb = NULL;
    size_t ne = 0, ns = 0, ecap = 0, scap = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        sv_job *j = jobs[i];
        if (j->search) continue;
        j->admitted = 1;
        const char *problem = "";
        for (size_t k = 0; k < j->req.n_msgs; k++)
            if (!strcmp(j->req.msgs[k].role, "user")) problem = j->req.msgs[k].content;
        j->prob.id = (char *)"";
        j->prob.problem = (char *)problem;
        pd_search *ps = NULL;
        pd_error e = {0};
        if (pd_search_create(&ps, &s->pol, &s->ver, &j->prob, &j->req.cfg, &e)) {
            sv_err_set(&j->err, e.code == PD_EINVAL ? 400 : 500, e.code == PD_EINVAL ? "invalid_request_error" : "server_error",
                       "ponder", "%s", e.msg);
            j->fin = 1;
            continue;
        }
        j->search = ps;
        j->last_iter = -1;
        if (j->req.stream) chunk(s, j, -1, NULL, 0, NULL, NULL);
    }
    for (size_t i = 0; i < n && !rc; i++) { /* gather */
        pd_search *ps = jobs[i]->search;
        if (!ps || jobs[i]->fin) continue;
        if (ps->n_ereq) {
            if (pd_grow((void **)&eb, &ecap, ne + ps->n_ereq, sizeof *eb)) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            else memcpy(eb + ne, ps->ereq, ps->n_ereq * sizeof *eb), ne += ps->n_ereq;
        }
        if (!rc && ps->n_sreq) {
            if (pd_grow((void **)&sb, &scap, ns + ps->n_sreq, sizeof *sb)) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            else memcpy(sb + ns, ps->sreq, ps->n_sreq * sizeof *sb), ns += ps->n_sreq;
        }
    }
    if (!rc && ne) rc = s->pol.expand(s->pol.ctx, eb, ne, err);
    if (!rc && ns) rc = s->ver.score(s->ver.ctx, sb, ns, err);
    free(eb);
    free(sb);
    for (size_t i = 0; i < n && !rc; i++) { /* advance; finished searches answer */
        sv_job *j = jobs[i];
        pd_search *ps = j->search;
        if (!ps || j->fin) continue;
        if (ps->stage != ST_DONE && (rc = pd_search_advance(ps, err))) break;
        if (j->req.stream && ps->iter != j->last_iter && ps->stage != ST_DONE) {
            j->last_iter = ps->iter;
            json_t *p = json_object();
            json_object_set_new(p, "event", json_string("progress"));
            json_object_set_new(p, "iteration", json_integer(ps->iter));
            json_object_set_new(p, "completions", json_integer(ps->n_done));
            json_object_set_new(p, "policy_tokens", json_integer((json_int_t)ps->cost.policy_tokens));
            json_object_set_new(p, "prm_tokens", json_integer((json_int_t)ps->cost.prm_tokens));
            chunk(s, j, 0, NULL, 0, NULL, p);
        }
        if (ps->stage != ST_DONE) continue;
        pd_search_result r;
        if ((rc = pd_search_result_build(ps, s->pol.n_params, s->ver.n_params, &r, err))) break;
        search_done(s, j, &r);
        j->completion_tokens = r.cost.policy_tokens;
        j->prompt_tokens = r.cost.prefix_tokens;
        j->prm_tokens = r.cost.prm_tokens;
        pd_search_result_free(&r);
        pd_search_destroy(ps);
        j->search = NULL;
        j->fin = 1;
    }
    return rc;
}

/* ---- /pooling (qwen2-prm): [p_neg, p_pos] at every <extra_0> ---- */

static void pooling_job(pd_server *s, sv_job *j) {
    sv_req *r = &j->req;
    j->fin = 1;
    if (!s->prm_m)
        return (void)sv_err_set(&j->err, 400, "invalid_request_error", NULL,
                                "this server has no pooling model (start it with --prm and a qwen2-prm PRM)");
    const pd_model_config *pc = pd_model_get_config(s->prm_m);
    json_t *o = json_object(), *data = json_array();
    size_t prompt = 0;
    int bad = 0;
    for (size_t i = 0; i < r->n_pool && !bad; i++) {
        pd_error e = {0};
        if (r->pool_text[i] && pd_tokenizer_encode(s->prm_tok, r->pool_text[i], strlen(r->pool_text[i]), 1, &r->pool_ids[i],
                                                   &r->pool_n[i], &e)) {
            bad = sv_err_set(&j->err, 400, "invalid_request_error", "input", "input[%zu]: %s", i, e.msg);
            break;
        }
        int32_t *ids = r->pool_ids[i];
        size_t n = r->pool_n[i], na = 0;
        if (!n || n > (size_t)pc->max_positions) {
            bad = sv_err_set(&j->err, 400, "invalid_request_error", "input", "input[%zu] has %zu tokens (1..%d)", i, n, pc->max_positions);
            break;
        }
        int32_t *at = malloc(n * sizeof *at);
        float *out = malloc(2 * n * sizeof *out);
        for (size_t k = 0; at && k < n; k++) {
            if (ids[k] < 0 || ids[k] >= pc->vocab_size) {
                bad = sv_err_set(&j->err, 400, "invalid_request_error", "input", "input[%zu] token %zu is outside the vocabulary", i, k);
                break;
            }
            if (ids[k] == s->prm_tag) at[na++] = (int32_t)k;
        }
        pd_kv *kv = bad ? NULL : pd_kv_new(s->prm_m, &e);
        json_t *rows = json_array();
        if (!bad && (!at || !out || !kv)) bad = sv_err_set(&j->err, 500, "server_error", NULL, "out of memory");
        if (!bad) {
            pd_seq_step st = {.kv = kv, .tokens = ids, .n_tokens = n, .logits = na ? PD_LOGITS_AT : PD_LOGITS_NONE, .out = out,
                              .at = at, .n_at = na, .head = 1};
            if (pd_model_forward(s->prm_m, &st, 1, &e)) bad = sv_err_set(&j->err, 500, "server_error", NULL, "%s", e.msg);
            for (size_t k = 0; k < na && !bad; k++) {
                double p1 = 1.0 / (1.0 + exp((double)out[2 * k] - (double)out[2 * k + 1])); /* softmax[1] */
                json_t *pair = json_array();
                json_array_append_new(pair, json_real(1.0 - p1));
                json_array_append_new(pair, json_real(p1));
                json_array_append_new(rows, pair);
            }
            prompt += n;
        }
        pd_kv_free(kv);
        free(at);
        free(out);
        json_t *item = json_object();
        json_object_set_new(item, "index", json_integer((json_int_t)i));
        json_object_set_new(item, "object", json_string("pooling"));
        json_object_set_new(item, "data", rows);
        json_array_append_new(data, item);
    }
    if (!bad) {
        json_object_set_new(o, "id", json_string(j->id));
        json_object_set_new(o, "object", json_string("list"));
        json_object_set_new(o, "created", json_integer(j->created));
        json_object_set_new(o, "model", jbytes(r->model, strlen(r->model)));
        json_object_set_new(o, "data", data);
        json_object_set_new(o, "usage", usage_json(prompt, 0, 0, 0));
        if (!(j->body = json_dumps(o, JSON_COMPACT))) sv_err_set(&j->err, 500, "server_error", NULL, "out of memory");
        j->prompt_tokens = prompt;
        data = NULL;
    }
    json_decref(data);
    json_decref(o);
}

/* ---- the loop ---- */

static void drop_job(pd_server *s, sv_job *j) {
    for (int k = 0; k < j->n_seqs; k++) seq_clear(&j->seqs[k]);
    free(j->seqs);
    j->seqs = NULL;
    j->n_seqs = 0;
    if (j->search) pd_search_destroy(j->search);
    j->search = NULL;
}

static int is_search(const sv_job *j) { return j->req.kind == SV_CHAT && j->req.search; }

/* Memory held by live caches (for /metrics). */
static size_t kv_bytes(const pd_server *s, sv_job **live, size_t n) {
    size_t tok = s->cache ? ((pcache *)s->cache)->tokens : 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < live[i]->n_seqs; k++)
            if (live[i]->seqs[k].kv) tok += pd_kv_len(live[i]->seqs[k].kv);
    return tok * s->kv_bytes_per_token;
}

/* One round over the jobs in flight (engine thread, no lock held). */
static int round_once(pd_server *s, sv_job **live, size_t n, pd_error *err) {
    sv_job **gen_new = malloc((n ? n : 1) * sizeof *gen_new), **gen = malloc((n ? n : 1) * sizeof *gen),
           **srch = malloc((n ? n : 1) * sizeof *srch);
    size_t nn = 0, ng = 0, nsr = 0;
    int rc = 0;
    if (!gen_new || !gen || !srch) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        sv_job *j = live[i];
        if (j->fin) continue;
        if (j->cancel) {
            drop_job(s, j);
            j->fin = 1;
            if (!j->err.status) sv_err_set(&j->err, 499, "cancelled", NULL, "the client closed the connection");
            continue;
        }
        if (j->req.kind == SV_POOLING) pooling_job(s, j);
        else if (is_search(j)) srch[nsr++] = j;
        else if (!j->admitted) gen_new[nn++] = j;
        else gen[ng++] = j;
    }
    if (!rc && nn) rc = admit_gen(s, gen_new, nn, err);
    for (size_t i = 0; i < nn && !rc; i++)
        if (!gen_new[i]->fin) gen[ng++] = gen_new[i];
    /* completions take decoding steps for about as long as the last search round took, so
     * that searches in flight do not slow them to one token per round */
    double t0 = pd_now();
    for (int steps = 0; !rc && ng && steps < 256; steps++) {
        rc = decode_step(s, gen, ng, err);
        size_t live = 0;
        for (size_t i = 0; i < ng; i++) live += !gen[i]->fin;
        if (!live || !nsr || pd_now() - t0 >= s->search_round_s) break;
    }
    t0 = pd_now();
    if (!rc && nsr) rc = search_round(s, srch, nsr, err);
    if (nsr) s->search_round_s = pd_now() - t0;
    free(gen_new);
    free(gen);
    free(srch);
    return rc;
}

static void *engine_main(void *arg) {
    pd_server *s = arg;
    sv_job **live = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->queue) {
            sv_job *j = s->queue;
            s->queue = j->next;
            if (!s->queue) s->queue_tail = NULL;
            j->next = NULL;
            if (pd_grow((void **)&live, &cap, n + 1, sizeof *live)) {
                sv_err_set(&j->err, 503, "server_error", NULL, "out of memory");
                j->done = 1;
                continue;
            }
            j->taken = 1;
            live[n++] = j;
        }
        if (s->stopping) break;
        if (!n) {
            pthread_cond_wait(&s->work_cv, &s->mu);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (live[i]->cancel) live[i]->cancel = 2; /* seen: the engine drops it this round */
        pthread_mutex_unlock(&s->mu);
        pd_error err = {0};
        int rc = round_once(s, live, n, &err);
        if (rc) { /* an engine failure (out of memory): every job in flight gets a 500 */
            if (!s->o.quiet) fprintf(stderr, "ponder serve: engine: %s\n", err.msg);
            for (size_t i = 0; i < n; i++)
                if (!live[i]->fin) {
                    drop_job(s, live[i]);
                    live[i]->fin = 1;
                    sv_err_set(&live[i]->err, 500, "server_error", NULL, "engine error: %s", err.msg);
                }
        }
        size_t kvb = kv_bytes(s, live, n);
        pthread_mutex_lock(&s->mu);
        s->met.kv_bytes = kvb;
        s->met.cache_entries = s->cache ? ((pcache *)s->cache)->n : 0;
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            sv_job *j = live[i];
            if (j->pend.len) {
                pd_buf_append(&j->events, j->pend.data, j->pend.len);
                pd_buf_reset(&j->pend);
            }
            if (!j->fin) {
                live[w++] = j;
                continue;
            }
            if (is_search(j)) {
                s->n_searches--;
                s->met.prm_tokens += j->prm_tokens;
            } else if (j->req.kind != SV_POOLING) {
                s->n_seqs_pending -= j->req.n;
            }
            s->met.prompt_tokens += j->prompt_tokens;
            s->met.cached_tokens += j->cached_tokens;
            s->met.generated_tokens += j->completion_tokens;
            drop_job(s, j);
            j->done = 1;
        }
        n = w;
        int seqs = 0, srch = 0;
        for (size_t i = 0; i < n; i++) {
            if (is_search(live[i])) srch++;
            else seqs += live[i]->n_seqs;
        }
        s->met.seqs_live = seqs;
        s->met.searches_live = srch;
        pthread_cond_broadcast(&s->done_cv);
    }
    /* stopping: everything still here is answered 503 */
    for (size_t i = 0; i < n; i++) {
        drop_job(s, live[i]);
        if (!live[i]->err.status && !live[i]->body) sv_err_set(&live[i]->err, 503, "server_error", NULL, "the server is stopping");
        live[i]->done = 1;
    }
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
    free(live);
    return NULL;
}

void sv_engine_submit(pd_server *s, sv_job *j) {
    static const char hex[] = "0123456789abcdef";
    pd_rng r;
    pd_rng_seed(&r, pd_hash_mix((uint64_t)(uintptr_t)j, (uint64_t)(pd_now() * 1e9)));
    const char *pre = j->req.kind == SV_CHAT ? "chatcmpl-" : j->req.kind == SV_POOLING ? "pool-" : "cmpl-";
    size_t k = strlen(pre);
    memcpy(j->id, pre, k);
    for (int i = 0; i < 24; i++) j->id[k + (size_t)i] = hex[pd_rng_below(&r, 16)];
    j->id[k + 24] = 0;
    j->created = (long)time(NULL);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) { /* nobody will serve it */
        sv_err_set(&j->err, 503, "server_error", NULL, "the server is stopping");
        j->done = 1;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (s->queue_tail) s->queue_tail->next = j;
    else s->queue = j;
    s->queue_tail = j;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

void sv_job_free(sv_job *j) {
    if (!j) return;
    sv_req_free(&j->req);
    free(j->prompt);
    free(j->body);
    pd_buf_free(&j->events);
    pd_buf_free(&j->pend);
    free(j);
}

int sv_engine_start(pd_server *s, pd_error *err) {
    if (pthread_create(&s->engine, NULL, engine_main, s)) return pd_err_set(err, PD_EIO, "serve: cannot start the engine thread");
    s->engine_started = 1;
    return 0;
}

void sv_engine_stop(pd_server *s) {
    if (!s->engine_started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->engine, NULL);
    s->engine_started = 0;
}
