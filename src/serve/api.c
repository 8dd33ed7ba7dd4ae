/* api.c — request bodies of `ponder serve` into sv_req, and OpenAI-shaped errors.
 *
 * Every field a client sends is checked for its type and range here, before anything reaches
 * the engine: a bad field is HTTP 400 naming the field (OpenAI's `param`), an unknown model
 * 404. Fields ponder does not implement but a client might rely on (echo, best_of > 1,
 * penalties, logit_bias) are refused rather than ignored, so that nobody gets silently
 * different results; fields that change nothing (user, metadata...) are ignored, as OpenAI's
 * servers do with unknown fields.
 *
 * Shapes follow vLLM's OpenAI server (../shared/reference/serving.md §1.1), with its
 * extensions (top_k, min_p, stop_token_ids, include_stop_str_in_output, ignore_eos,
 * logprob_token_ids, return_tokens_as_token_ids), SGLang's no_stop_trim, and two of ponder's
 * own: `seeds` (one seed per choice; the remote policy sends each child's search seed) and the
 * `ponder` object of chat requests (test-time scaling). */
#include "serve_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sv_err_set(sv_err *e, int status, const char *type, const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

#define BAD(param, ...) sv_err_set(e, 400, "invalid_request_error", param, __VA_ARGS__)

char *sv_err_body(const sv_err *e) {
    json_t *o = json_object(), *in = json_object();
    json_object_set_new(in, "message", json_string(e->msg[0] ? e->msg : "error"));
    json_object_set_new(in, "type", json_string(e->type ? e->type : "invalid_request_error"));
    json_object_set_new(in, "param", e->param[0] ? json_string(e->param) : json_null());
    json_object_set_new(in, "code", e->code ? json_string(e->code) : json_null());
    int ok = json_object_size(in) == 4;
    json_object_set_new(o, "error", in);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s || !ok) { /* a message that was not UTF-8: fall back to a fixed one */
        free(s);
        char buf[160];
        snprintf(buf, sizeof buf, "{\"error\":{\"message\":\"error %d\",\"type\":\"%s\",\"param\":null,\"code\":null}}",
                 e->status, e->type ? e->type : "invalid_request_error");
        s = strdup(buf);
    }
    return s;
}

void sv_req_free(sv_req *r) {
    if (!r) return;
    free(r->model);
    free(r->prompt_text);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].role), free(r->msgs[i].content);
    free(r->msgs);
    free(r->seeds);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop_ids);
    free(r->lp_ids);
    for (size_t i = 0; i < r->n_pool; i++) {
        if (r->pool_ids) free(r->pool_ids[i]);
        if (r->pool_text) free(r->pool_text[i]);
    }
    free(r->pool_ids);
    free(r->pool_n);
    free(r->pool_text);
    memset(r, 0, sizeof *r);
}

/* ---- field readers: each returns 0 (absent or null counts as absent: *present = 0), or -1 with e ---- */

static int get_bool(json_t *o, const char *k, int *out, sv_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return BAD(k, "'%s' must be a boolean", k);
    *out = json_is_true(v);
    return 0;
}

static int get_int(json_t *o, const char *k, long long lo, long long hi, long long *out, int *present, sv_err *e) {
    json_t *v = json_object_get(o, k);
    if (present) *present = 0;
    if (!v || json_is_null(v)) return 0;
    long long x;
    if (json_is_integer(v)) x = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        x = (long long)json_real_value(v);
    else return BAD(k, "'%s' must be an integer", k);
    if (x < lo || x > hi) return BAD(k, "'%s' = %lld is out of range (%lld..%lld)", k, x, lo, hi);
    *out = x;
    if (present) *present = 1;
    return 0;
}

static int get_num(json_t *o, const char *k, double lo, double hi, double *out, sv_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return BAD(k, "'%s' must be a number", k);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return BAD(k, "'%s' = %g is out of range [%g, %g]", k, x, lo, hi);
    *out = x;
    return 0;
}

/* An array of token ids (each in 0..2^31-1) of at most max entries; *ids malloc'd. */
static int read_ids(json_t *a, const char *k, size_t max, int32_t **ids, size_t *n, sv_err *e) {
    size_t len = json_array_size(a);
    if (len > max) return BAD(k, "'%s' holds %zu token ids (at most %zu)", k, len, max);
    int32_t *out = malloc((len ? len : 1) * sizeof *out);
    if (!out) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            free(out);
            return BAD(k, "'%s'[%zu] is not a token id (an integer >= 0)", k, i);
        }
        out[i] = (int32_t)json_integer_value(v);
    }
    *ids = out;
    *n = len;
    return 0;
}

static int is_int_array(json_t *a) {
    if (!json_is_array(a) || !json_array_size(a)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_integer(json_array_get(a, i))) return 0;
    return 1;
}

static char *dup_str(json_t *v) {
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (s) memcpy(s, json_string_value(v), n), s[n] = 0;
    return s;
}

/* A string without NUL bytes (the engine handles C strings). */
static int nul_free(json_t *v) { return strlen(json_string_value(v)) == json_string_length(v); }

/* Refuse a field that is present with a value other than its neutral one. */
static int refuse_num(json_t *o, const char *k, double neutral, sv_err *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v) && json_number_value(v) == neutral) return 0;
    return BAD(k, "'%s' is not supported by ponder serve (leave it out or at %g)", k, neutral);
}

/* Sampling, stops, logprobs: the fields completions and chat share. */
static int read_sampling(json_t *o, sv_req *r, const sv_limits *lim, sv_err *e) {
    long long x;
    int has;
    if (get_int(o, "n", 1, lim->max_n, &x, &has, e)) return -1;
    r->n = has ? (int)x : 1;
    if (get_int(o, "best_of", 0, 1 << 20, &x, &has, e)) return -1;
    if (has && x > r->n) return BAD("best_of", "'best_of' is not supported by ponder serve (use n, or a ponder search)");
    if (get_int(o, "seed", INT64_MIN, INT64_MAX, &x, &has, e)) return -1;
    if (has) r->has_seed = 1, r->seed = (uint64_t)x;
    json_t *sa = json_object_get(o, "seeds");
    if (sa && !json_is_null(sa)) {
        if (!json_is_array(sa) || json_array_size(sa) != (size_t)r->n)
            return BAD("seeds", "'seeds' must be an array of n = %d integers (one seed per choice)", r->n);
        if (!(r->seeds = malloc((size_t)r->n * sizeof *r->seeds))) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
        for (int i = 0; i < r->n; i++) {
            json_t *v = json_array_get(sa, (size_t)i);
            if (!json_is_integer(v)) return BAD("seeds", "'seeds'[%d] is not an integer", i);
            r->seeds[i] = (uint64_t)json_integer_value(v);
        }
    }
    r->samp = (pd_sampling){1.0, 0, 1.0, 0.0};
    if (get_num(o, "temperature", 0, 100, &r->samp.temperature, e)) return -1;
    if (get_num(o, "top_p", 1e-9, 1, &r->samp.top_p, e)) return -1;
    if (get_num(o, "min_p", 0, 1, &r->samp.min_p, e)) return -1;
    if (get_int(o, "top_k", -1, INT32_MAX, &x, &has, e)) return -1;
    if (has) r->samp.top_k = x < 0 ? 0 : (int)x; /* -1 (vLLM, SGLang) and 0 both mean off */
    if (refuse_num(o, "presence_penalty", 0, e) || refuse_num(o, "frequency_penalty", 0, e) ||
        refuse_num(o, "repetition_penalty", 1, e))
        return -1;
    json_t *lb = json_object_get(o, "logit_bias");
    if (lb && !json_is_null(lb) && !(json_is_object(lb) && !json_object_size(lb)))
        return BAD("logit_bias", "'logit_bias' is not supported by ponder serve");
    /* max_tokens (chat: also max_completion_tokens) */
    r->max_tokens = r->kind == SV_COMPLETION ? (16 < lim->max_tokens ? 16 : lim->max_tokens) : lim->max_tokens;
    if (get_int(o, "max_tokens", 1, lim->max_tokens, &x, &has, e)) return -1;
    if (has) r->max_tokens = (int)x;
    if (r->kind == SV_CHAT) {
        if (get_int(o, "max_completion_tokens", 1, lim->max_tokens, &x, &has, e)) return -1;
        if (has) r->max_tokens = (int)x;
    }
    /* stop strings */
    json_t *st = json_object_get(o, "stop");
    if (st && !json_is_null(st)) {
        json_t *one[1] = {st};
        size_t ns = json_is_string(st) ? 1 : json_is_array(st) ? json_array_size(st) : (size_t)-1;
        if (ns == (size_t)-1) return BAD("stop", "'stop' must be a string or an array of strings");
        if (ns > SV_MAX_STOP) return BAD("stop", "'stop' holds %zu strings (at most %d)", ns, SV_MAX_STOP);
        for (size_t i = 0; i < ns; i++) {
            json_t *v = json_is_string(st) ? one[0] : json_array_get(st, i);
            if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > SV_MAX_STOP_LEN || !nul_free(v))
                return BAD("stop", "'stop'[%zu] must be a non-empty string of at most %d bytes", i, SV_MAX_STOP_LEN);
            if (!(r->stop[r->n_stop++] = dup_str(v))) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
        }
    }
    json_t *sti = json_object_get(o, "stop_token_ids");
    if (sti && !json_is_null(sti)) {
        if (!json_is_array(sti)) return BAD("stop_token_ids", "'stop_token_ids' must be an array of token ids");
        if (read_ids(sti, "stop_token_ids", 64, &r->stop_ids, &r->n_stop_ids, e)) return -1;
    }
    int keep1 = 0, keep2 = 0, skip = 1;
    if (get_bool(o, "include_stop_str_in_output", &keep1, e) || get_bool(o, "no_stop_trim", &keep2, e) ||
        get_bool(o, "ignore_eos", &r->ignore_eos, e) || get_bool(o, "skip_special_tokens", &skip, e))
        return -1;
    if (!skip) return BAD("skip_special_tokens", "'skip_special_tokens': false is not supported by ponder serve");
    r->keep_stop = keep1 || keep2;
    /* logprobs */
    r->logprobs = -1;
    json_t *lp = json_object_get(o, "logprobs");
    if (r->kind == SV_CHAT) {
        if (lp && json_is_true(lp)) return BAD("logprobs", "chat logprobs are not supported by ponder serve; use /v1/completions");
    } else if (lp && !json_is_null(lp)) {
        if (json_is_boolean(lp)) r->logprobs = json_is_true(lp) ? 0 : -1;
        else if (get_int(o, "logprobs", 0, SV_MAX_LOGPROBS, &x, &has, e)) return -1;
        else r->logprobs = (int)x;
    }
    json_t *lpi = json_object_get(o, "logprob_token_ids");
    if (lpi && !json_is_null(lpi)) {
        if (!json_is_array(lpi)) return BAD("logprob_token_ids", "'logprob_token_ids' must be an array of token ids");
        if (read_ids(lpi, "logprob_token_ids", 64, &r->lp_ids, &r->n_lp_ids, e)) return -1;
        if (r->logprobs < 0) r->logprobs = 0;
    }
    if (get_bool(o, "return_tokens_as_token_ids", &r->tokens_as_ids, e)) return -1;
    if (get_bool(o, "self_certainty", &r->self_cert, e)) return -1;
    if (r->self_cert && r->logprobs < 0) r->logprobs = 0;
    int echo = 0;
    if (get_bool(o, "echo", &echo, e)) return -1;
    if (echo) return BAD("echo", "'echo' is not supported by ponder serve");
    /* streaming */
    if (get_bool(o, "stream", &r->stream, e)) return -1;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return BAD("stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &r->include_usage, e)) return -1;
    }
    return 0;
}

size_t sv_model_prefix(const char *model, pd_search_cfg *cfg) {
    const char *slash = strchr(model, '/'), *dash = NULL;
    if (!slash) return 0;
    for (const char *p = model; p < slash; p++)
        if (*p == '-') dash = p;
    if (!dash || dash == model || dash + 1 == slash) return 0;
    char name[64];
    size_t nl = (size_t)(dash - model);
    if (nl >= sizeof name) return 0;
    memcpy(name, model, nl);
    name[nl] = 0;
    long n = 0;
    for (const char *p = dash + 1; p < slash; p++) {
        if (*p < '0' || *p > '9' || n > (1 << 20)) return 0;
        n = n * 10 + (*p - '0');
    }
    pd_strategy s;
    if (pd_strategy_parse(name, &s) || n < 1) return 0;
    cfg->strategy = s;
    cfg->n = (int32_t)n;
    return (size_t)(slash - model) + 1;
}

/* The `ponder` object: the search's configuration. */
static int read_ponder(json_t *p, sv_req *r, const sv_limits *lim, sv_err *e) {
    if (!json_is_object(p)) return BAD("ponder", "'ponder' must be an object");
    long long x;
    int has;
    json_t *v = json_object_get(p, "strategy");
    if (v && !json_is_null(v)) {
        pd_strategy s;
        if (!json_is_string(v) || pd_strategy_parse(json_string_value(v), &s))
            return BAD("ponder.strategy", "'ponder.strategy' is not a known strategy (best_of_n, beam_search, dvts, ...)");
        r->cfg.strategy = s;
    }
    if (get_int(p, "n", 1, lim->max_n, &x, &has, e)) return -1;
    if (has) r->cfg.n = (int32_t)x;
    if (r->cfg.n > lim->max_n) return BAD("ponder.n", "N = %d is over this server's cap (%d)", r->cfg.n, lim->max_n);
    if (get_int(p, "beam_width", 1, lim->max_n, &x, &has, e)) return -1;
    if (has) r->cfg.beam_width = (int32_t)x;
    if (get_int(p, "iterations", 1, 1000, &x, &has, e)) return -1;
    if (has) r->cfg.num_iterations = (int32_t)x;
    if (get_int(p, "num_iterations", 1, 1000, &x, &has, e)) return -1;
    if (has) r->cfg.num_iterations = (int32_t)x;
    if (get_int(p, "lookahead", 0, 8, &x, &has, e)) return -1;
    if (has) r->cfg.lookahead = (int32_t)x;
    if (get_int(p, "max_step_tokens", 1, lim->max_tokens, &x, &has, e)) return -1;
    if (has) r->cfg.step_max_tokens = (int32_t)x;
    if (get_int(p, "seed", 0, INT64_MAX, &x, &has, e)) return -1;
    if (has) r->cfg.seed = (uint64_t)x;
    double d = r->cfg.temperature;
    if (get_num(p, "temperature", 0, 100, &d, e)) return -1;
    r->cfg.temperature = (float)d;
    d = r->cfg.top_p;
    if (get_num(p, "top_p", 1e-9, 1, &d, e)) return -1;
    r->cfg.top_p = (float)d;
    v = json_object_get(p, "agg");
    if (v && !json_is_null(v) && (!json_is_string(v) || pd_agg_parse(json_string_value(v), &r->cfg.agg)))
        return BAD("ponder.agg", "'ponder.agg' must be last, min, prod or mean");
    v = json_object_get(p, "select");
    if (v && !json_is_null(v)) {
        int ok = 0;
        for (int s = 0; s < PD_N_SELECT && json_is_string(v); s++)
            if (!strcmp(json_string_value(v), pd_select_name((pd_select)s))) r->select = (pd_select)s, ok = r->select_given = 1;
        if (!ok) return BAD("ponder.select", "'ponder.select' must be naive, weighted or maj");
    }
    if (get_bool(p, "trace", &r->trace, e)) return -1;
    return 0;
}

/* The text of a message's content: a string, or an array of {"type": "text", "text"} parts. */
static char *content_text(json_t *c, sv_err *e, size_t i) {
    if (json_is_string(c)) {
        if (!nul_free(c)) return BAD("messages", "messages[%zu].content holds a NUL byte", i), NULL;
        return dup_str(c);
    }
    if (json_is_null(c)) return strdup("");
    if (!json_is_array(c)) return BAD("messages", "messages[%zu].content must be a string or an array of text parts", i), NULL;
    pd_buf b = {0};
    for (size_t k = 0; k < json_array_size(c); k++) {
        json_t *part = json_array_get(c, k), *t = json_object_get(part, "type"), *tx = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(t) || strcmp(json_string_value(t), "text") || !json_is_string(tx) ||
            !nul_free(tx)) {
            pd_buf_free(&b);
            return BAD("messages", "messages[%zu].content[%zu] is not a text part ({\"type\": \"text\", \"text\": ...})", i, k),
                   NULL;
        }
        if (pd_buf_puts(&b, json_string_value(tx))) {
            pd_buf_free(&b);
            return sv_err_set(e, 500, "server_error", NULL, "out of memory"), NULL;
        }
    }
    return b.data ? b.data : strdup("");
}

static int read_messages(json_t *o, sv_req *r, sv_err *e) {
    json_t *ms = json_object_get(o, "messages");
    if (!json_is_array(ms) || !json_array_size(ms)) return BAD("messages", "'messages' must be a non-empty array");
    size_t n = json_array_size(ms);
    if (n > SV_MAX_MSGS) return BAD("messages", "%zu messages (at most %d)", n, SV_MAX_MSGS);
    if (!(r->msgs = calloc(n, sizeof *r->msgs))) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) return BAD("messages", "messages[%zu] needs a 'role'", i);
        const char *rs = json_string_value(role);
        if (!strcmp(rs, "developer")) rs = "system";
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant"))
            return BAD("messages", "messages[%zu].role '%.40s' is not system, user or assistant", i, rs);
        r->n_msgs++;
        r->msgs[i].role = strdup(rs);
        r->msgs[i].content = content_text(json_object_get(m, "content"), e, i);
        if (!r->msgs[i].content) return -1;
        if (!r->msgs[i].role) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
    }
    return 0;
}

/* The prompt of a completion: a string, token ids, or a list holding exactly one of those. */
static int read_prompt(json_t *o, sv_req *r, const sv_limits *lim, sv_err *e) {
    json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) return BAD("prompt", "'prompt' is required");
    if (json_is_array(p) && json_array_size(p) == 1 && (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (!json_string_length(p)) return BAD("prompt", "'prompt' is empty");
        if (!nul_free(p)) return BAD("prompt", "'prompt' holds a NUL byte");
        if (!(r->prompt_text = dup_str(p))) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
        return 0;
    }
    if (is_int_array(p)) {
        r->has_ids = 1;
        return read_ids(p, "prompt", lim->max_prompt_ids, &r->prompt_ids, &r->n_prompt_ids, e);
    }
    if (json_is_array(p) && json_array_size(p) > 1)
        return BAD("prompt", "one prompt per request (send several requests, or n for several choices)");
    return BAD("prompt", "'prompt' must be a string or an array of token ids");
}

/* /pooling: input = text | [ids] | [texts] | [[ids]]. */
static int read_pool_input(json_t *o, sv_req *r, const sv_limits *lim, sv_err *e) {
    json_t *in = json_object_get(o, "input");
    if (!in || json_is_null(in)) return BAD("input", "'input' is required");
    json_t *one[1] = {in};
    json_t **items = one;
    size_t n = 1;
    int list = json_is_array(in) && json_array_size(in) && !is_int_array(in);
    if (list) n = json_array_size(in);
    if (n > 1024) return BAD("input", "%zu inputs (at most 1024)", n);
    r->pool_ids = calloc(n, sizeof *r->pool_ids);
    r->pool_n = calloc(n, sizeof *r->pool_n);
    r->pool_text = calloc(n, sizeof *r->pool_text);
    if (!r->pool_ids || !r->pool_n || !r->pool_text) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
    r->n_pool = n;
    for (size_t i = 0; i < n; i++) {
        json_t *v = list ? json_array_get(in, i) : items[0];
        if (json_is_string(v) && json_string_length(v) && nul_free(v)) {
            if (!(r->pool_text[i] = dup_str(v))) return sv_err_set(e, 500, "server_error", NULL, "out of memory");
        } else if (is_int_array(v)) {
            if (read_ids(v, "input", lim->max_prompt_ids, &r->pool_ids[i], &r->pool_n[i], e)) return -1;
        } else {
            return BAD("input", "input[%zu] must be a non-empty string or an array of token ids", i);
        }
    }
    return 0;
}

int sv_parse(sv_kind kind, const char *body, size_t len, const sv_limits *lim, sv_req *r, sv_err *e) {
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    r->kind = kind;
    r->select = PD_SEL_WEIGHTED;
    pd_search_cfg_default(&r->cfg);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return BAD(NULL, "the body is not valid JSON: %s (at byte %d)", je.text, je.position);
    int rc = -1;
    if (!json_is_object(o)) {
        BAD(NULL, "the body must be a JSON object");
        goto out;
    }
    json_t *m = json_object_get(o, "model");
    if (m && !json_is_null(m) && (!json_is_string(m) || !nul_free(m))) {
        BAD("model", "'model' must be a string");
        goto out;
    }
    const char *model = json_is_string(m) ? json_string_value(m) : lim->model;
    if (!(r->model = strdup(model))) {
        sv_err_set(e, 500, "server_error", NULL, "out of memory");
        goto out;
    }
    if (strcmp(model, lim->model)) {
        size_t pre = kind == SV_CHAT ? sv_model_prefix(model, &r->cfg) : 0;
        if (!pre || strcmp(model + pre, lim->model)) {
            sv_err_set(e, 404, "not_found_error", "model", "The model '%.100s' does not exist (this server serves '%.100s'%s)",
                       model, lim->model, kind == SV_CHAT ? ", and STRATEGY-N/ prefixes of it" : "");
            e->code = "model_not_found";
            goto out;
        }
        r->search = 1;
    }
    if (kind == SV_POOLING) {
        rc = read_pool_input(o, r, lim, e);
        goto out;
    }
    if (kind == SV_COMPLETION ? read_prompt(o, r, lim, e) : read_messages(o, r, e)) goto out;
    if (read_sampling(o, r, lim, e)) goto out;
    if (kind == SV_CHAT) {
        json_t *p = json_object_get(o, "ponder");
        if (p && !json_is_null(p)) {
            /* top-level sampling values are the search's defaults; the ponder object wins */
            if (json_object_get(o, "temperature")) r->cfg.temperature = (float)r->samp.temperature;
            if (json_object_get(o, "top_p")) r->cfg.top_p = (float)r->samp.top_p;
            if (r->has_seed) r->cfg.seed = r->seed;
            if (read_ponder(p, r, lim, e)) {
                if (e->param[0] && strncmp(e->param, "ponder", 6)) { /* name the field inside the object */
                    char in[sizeof e->param];
                    snprintf(in, sizeof in, "%s", e->param);
                    snprintf(e->param, sizeof e->param, "ponder.%.40s", in);
                }
                goto out;
            }
            r->search = 1;
        } else if (r->search) {
            if (json_object_get(o, "temperature")) r->cfg.temperature = (float)r->samp.temperature;
            if (json_object_get(o, "top_p")) r->cfg.top_p = (float)r->samp.top_p;
            if (r->has_seed) r->cfg.seed = r->seed;
        }
        if (r->search) {
            if (r->n != 1) {
                BAD("n", "a search answers once: n must be 1 (the budget is ponder.n)");
                goto out;
            }
            if (r->cfg.n > lim->max_n) {
                BAD("ponder.n", "N = %d is over this server's cap (%d)", r->cfg.n, lim->max_n);
                goto out;
            }
            if (r->cfg.step_max_tokens > lim->max_tokens) r->cfg.step_max_tokens = lim->max_tokens;
            if (r->cfg.strategy == PD_AUTO) {
                if (!lim->plan) {
                    BAD("ponder.strategy", "strategy auto needs a plan: this server was started without --plan FILE");
                    goto out;
                }
                r->cfg.plan = lim->plan;
            }
            pd_error pe = {0};
            if (pd_search_cfg_check(&r->cfg, &pe)) {
                BAD("ponder", "%s", pe.msg);
                goto out;
            }
        }
        int has_user = 0;
        for (size_t i = 0; i < r->n_msgs; i++) has_user |= !strcmp(r->msgs[i].role, "user");
        if (r->search && !has_user) {
            BAD("messages", "a search needs a user message (the problem)");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(o);
    if (rc) sv_req_free(r);
    return rc;
}
