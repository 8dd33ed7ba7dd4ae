/* remote_parse.c — servers' JSON answers into plain structs (remote_int.h).
 *
 * The shapes are the ones ../shared/reference/serving.md records for vLLM, SGLang,
 * llama.cpp's llama-server and ponder serve, with their differences: the stop reason is
 * vLLM's `stop_reason` or SGLang's `matched_stop`; generated ids are `token_ids` (vLLM with
 * return_token_ids, SGLang, ponder serve) or `tokens` (llama-server); logprobs are OpenAI's
 * legacy completions layout (`top_logprobs`: one {token: logprob} object per position,
 * "token_id:N" keys with return_tokens_as_token_ids) or the chat layout llama-server uses
 * (`content`: [{id, token, logprob, top_logprobs: [{id, token, logprob}]}]), or llama-server's
 * native `completion_probabilities` (`probs` in its README's example) in the chat layout's
 * shape. The first position's become rp_choice.top (PRM probes); every position's values
 * become pos_lp (token confidences, remote_policy.c), with ponder serve's `self_certainty`.
 *
 * Token texts may hold NUL bytes (a vocabulary's "\u0000" token): bodies are read with
 * JSON_ALLOW_NUL. Everything from the network is checked: types, counts (bounded), ids in range, indices
 * inside the choice count. A body that is not such an answer gives -1 and a reason; the
 * caller treats it as a garbled answer (retried, then the request fails). */
#include "remote_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHOICES 4096
#define MAX_IDS (1u << 24)
#define MAX_TOP 4096

static int why_set(char *why, size_t cap, const char *fmt, const char *a) {
    snprintf(why, cap, fmt, a ? a : "");
    return -1;
}

const char *rp_server_name(rp_server k) {
    switch (k) {
    case RP_SRV_PONDER: return "ponder";
    case RP_SRV_VLLM: return "vllm";
    case RP_SRV_SGLANG: return "sglang";
    case RP_SRV_LLAMACPP: return "llama.cpp";
    default: return "unknown";
    }
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}

/* "token_id:123" -> 123, else -1. */
static int32_t token_id_key(const char *k) {
    if (strncmp(k, "token_id:", 9) || !k[9]) return -1;
    long v = 0;
    for (const char *p = k + 9; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    return (int32_t)v;
}

static int push_top(rp_choice *c, int32_t id, const char *tok, double lp) {
    if (c->n_top >= MAX_TOP) return 0;
    rp_top *t = realloc(c->top, (c->n_top + 1) * sizeof *t);
    if (!t) return -1;
    c->top = t;
    t[c->n_top].id = id >= 0 ? id : tok ? token_id_key(tok) : -1;
    t[c->n_top].tok = tok ? strdup(tok) : NULL;
    t[c->n_top].logprob = lp;
    if (tok && !t[c->n_top].tok) return -1;
    c->n_top++;
    return 0;
}

/* ---- every position's top logprobs ---- */

static int pos_open(rp_choice *c, size_t n) {
    if (n > MAX_IDS) return -1;
    free(c->pos_off);
    c->pos_off = calloc(n + 1, sizeof *c->pos_off);
    c->n_pos = 0;
    return c->pos_off ? 0 : -1;
}

static int pos_push(rp_choice *c, double lp, size_t *cap) {
    size_t at = c->pos_off[c->n_pos + 1];
    if (at >= *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        double *d = realloc(c->pos_lp, nc * sizeof *d);
        if (!d) return -1;
        c->pos_lp = d, *cap = nc;
    }
    c->pos_lp[at] = lp;
    c->pos_off[c->n_pos + 1] = at + 1;
    return 0;
}

/* A position's list: an object {token: logprob} (legacy layout) or an array of {logprob}
 * (or {prob}: llama-server's post-sampling layout) entries. */
static int pos_read(rp_choice *c, json_t *e, size_t *cap, char *why, size_t wcap) {
    c->pos_off[c->n_pos + 1] = c->pos_off[c->n_pos];
    size_t k = 0;
    if (json_is_object(e)) {
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v) {
            if (!json_is_number(v)) return why_set(why, wcap, "top_logprobs[]['%.40s'] is not a number", key);
            if (k++ < MAX_TOP && pos_push(c, json_number_value(v), cap)) return why_set(why, wcap, "out of memory%s", NULL);
        }
    } else if (json_is_array(e)) {
        for (size_t i = 0; i < json_array_size(e) && i < MAX_TOP; i++) {
            json_t *x = json_array_get(e, i), *l = json_object_get(x, "logprob"), *p = json_object_get(x, "prob");
            double v;
            if (json_is_number(l)) v = json_number_value(l);
            else if (json_is_number(p) && json_number_value(p) > 0) v = log(json_number_value(p));
            else if (json_is_number(p)) v = -INFINITY;
            else return why_set(why, wcap, "a top logprobs entry has no logprob%s", NULL);
            if (pos_push(c, v, cap)) return why_set(why, wcap, "out of memory%s", NULL);
        }
    } else if (e && !json_is_null(e)) {
        return why_set(why, wcap, "a position's top logprobs are neither an object nor a list%s", NULL);
    }
    c->n_pos++;
    return 0;
}

/* Every position of `arr`: the entries themselves (legacy: arr = top_logprobs), or each
 * entry's member `key` (chat / llama-server layouts: "top_logprobs" or "top_probs"). */
static int read_positions(rp_choice *c, json_t *arr, const char *key, char *why, size_t wcap) {
    size_t n = json_array_size(arr), cap = 0;
    if (pos_open(c, n)) return why_set(why, wcap, "too many logprob positions%s", NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (key) {
            if (!json_is_object(e)) return why_set(why, wcap, "a logprobs position is not an object%s", NULL);
            json_t *v = json_object_get(e, key);
            e = v ? v : json_object_get(e, "top_probs");
        }
        if (pos_read(c, e, &cap, why, wcap)) return -1;
    }
    return 0;
}

/* ponder serve's exact self-certainty per position. */
static int read_cert(rp_choice *c, json_t *a, char *why, size_t wcap) {
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a) || json_array_size(a) != c->n_pos)
        return why_set(why, wcap, "logprobs.self_certainty is not one number per position%s", NULL);
    if (!(c->pos_cert = malloc((c->n_pos ? c->n_pos : 1) * sizeof *c->pos_cert))) return why_set(why, wcap, "out of memory%s", NULL);
    for (size_t i = 0; i < c->n_pos; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) return why_set(why, wcap, "logprobs.self_certainty[] is not a number%s", NULL);
        c->pos_cert[i] = json_number_value(v);
    }
    return 0;
}

/* The first position's logprobs, in either layout. */
static int read_logprobs(json_t *lp, rp_choice *c, char *why, size_t cap) {
    if (!lp || json_is_null(lp)) return 0;
    if (!json_is_object(lp)) return why_set(why, cap, "choices[].logprobs is not an object%s", NULL);
    json_t *top = json_object_get(lp, "top_logprobs"), *content = json_object_get(lp, "content");
    if (json_is_array(top)) {
        c->has_logprobs = 1;
        if (read_positions(c, top, NULL, why, cap) || read_cert(c, json_object_get(lp, "self_certainty"), why, cap)) return -1;
        json_t *first = json_array_get(top, 0);
        if (first && !json_is_null(first)) {
            if (!json_is_object(first)) return why_set(why, cap, "top_logprobs[0] is not an object%s", NULL);
            const char *k;
            json_t *v;
            json_object_foreach(first, k, v) {
                if (!json_is_number(v)) return why_set(why, cap, "top_logprobs[0]['%.40s'] is not a number", k);
                if (push_top(c, -1, k, json_number_value(v))) return why_set(why, cap, "out of memory%s", NULL);
            }
        }
        /* the sampled token itself, when it is not among the top ones */
        json_t *toks = json_object_get(lp, "tokens"), *tlp = json_object_get(lp, "token_logprobs");
        json_t *t0 = json_array_get(toks, 0), *l0 = json_array_get(tlp, 0);
        if (json_is_string(t0) && json_is_number(l0)) {
            int seen = 0;
            for (size_t i = 0; i < c->n_top; i++) seen |= c->top[i].tok && !strcmp(c->top[i].tok, json_string_value(t0));
            if (!seen && push_top(c, -1, json_string_value(t0), json_number_value(l0))) return why_set(why, cap, "out of memory%s", NULL);
        }
        return 0;
    }
    if (json_is_array(content)) { /* llama-server / chat layout */
        c->has_logprobs = 1;
        if (read_positions(c, content, "top_logprobs", why, cap)) return -1;
        json_t *first = json_array_get(content, 0);
        if (!first) return 0;
        if (!json_is_object(first)) return why_set(why, cap, "logprobs.content[0] is not an object%s", NULL);
        json_t *tl = json_object_get(first, "top_logprobs");
        for (size_t i = 0; json_is_array(tl) && i < json_array_size(tl) && i < MAX_TOP; i++) {
            json_t *e = json_array_get(tl, i), *id = json_object_get(e, "id"), *tok = json_object_get(e, "token"),
                   *l = json_object_get(e, "logprob");
            if (!json_is_number(l)) return why_set(why, cap, "logprobs.content[0].top_logprobs[] has no logprob%s", NULL);
            int32_t iv = json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) <= INT32_MAX ? (int32_t)json_integer_value(id) : -1;
            if (push_top(c, iv, json_is_string(tok) ? json_string_value(tok) : NULL, json_number_value(l)))
                return why_set(why, cap, "out of memory%s", NULL);
        }
        json_t *id = json_object_get(first, "id"), *tok = json_object_get(first, "token"), *l = json_object_get(first, "logprob");
        if (json_is_number(l)) {
            int32_t iv = json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) <= INT32_MAX ? (int32_t)json_integer_value(id) : -1;
            int seen = 0;
            for (size_t i = 0; i < c->n_top; i++) seen |= iv >= 0 && c->top[i].id == iv;
            if (!seen && push_top(c, iv, json_is_string(tok) ? json_string_value(tok) : NULL, json_number_value(l)))
                return why_set(why, cap, "out of memory%s", NULL);
        }
        return 0;
    }
    return 0;
}

static int read_ids(json_t *a, rp_choice *c, char *why, size_t cap) {
    size_t n = json_array_size(a);
    if (n > MAX_IDS) return why_set(why, cap, "too many token ids%s", NULL);
    c->ids = malloc((n ? n : 1) * sizeof *c->ids);
    if (!c->ids) return why_set(why, cap, "out of memory%s", NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return why_set(why, cap, "a returned token id is not an id%s", NULL);
        c->ids[i] = (int32_t)json_integer_value(v);
    }
    c->n_ids = n;
    c->has_ids = 1;
    return 0;
}

static int is_int_array(json_t *a) {
    if (!json_is_array(a)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_integer(json_array_get(a, i))) return 0;
    return 1;
}

static uint64_t uval(json_t *o, const char *k, int *has) {
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        if (has) *has = 1;
        return (uint64_t)json_integer_value(v);
    }
    return 0;
}

void rp_completion_free(rp_completion *c) {
    if (!c) return;
    for (size_t i = 0; c->c && i < c->n; i++) {
        rp_choice *x = &c->c[i];
        free(x->text);
        free(x->ids);
        free(x->stop_str);
        for (size_t k = 0; k < x->n_top; k++) free(x->top[k].tok);
        free(x->top);
        free(x->pos_lp);
        free(x->pos_off);
        free(x->pos_cert);
    }
    free(c->c);
    memset(c, 0, sizeof *c);
}

int rp_parse_completion(const char *body, size_t len, size_t want_n, rp_completion *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &je);
    if (!o) return why_set(why, cap, "the answer is not JSON: %.200s", je.text);
    int rc = -1;
    json_t *ch = json_object_get(o, "choices");
    if (!json_is_object(o) || !json_is_array(ch)) {
        json_t *e = json_object_get(o, "error");
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : json_object_get(o, "message");
        why_set(why, cap, json_is_string(m) ? "the server answered an error: %.200s" : "the answer has no choices%s",
                json_is_string(m) ? json_string_value(m) : NULL);
        goto out;
    }
    size_t n = json_array_size(ch);
    if (!n || n > MAX_CHOICES || (want_n && n != want_n)) {
        char b[64];
        snprintf(b, sizeof b, "%zu (expected %zu)", n, want_n);
        why_set(why, cap, "the answer has %s choices", b);
        goto out;
    }
    if (!(out->c = calloc(n, sizeof *out->c))) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    out->n = n;
    uint8_t *seen = calloc(n, 1);
    if (!seen) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(ch, i), *ix = json_object_get(c, "index");
        if (!json_is_object(c)) {
            why_set(why, cap, "choices[] is not an object%s", NULL);
            goto out_seen;
        }
        size_t at = i;
        if (json_is_integer(ix)) {
            if (json_integer_value(ix) < 0 || (size_t)json_integer_value(ix) >= n || seen[json_integer_value(ix)]) {
                why_set(why, cap, "choices[].index is out of range or repeated%s", NULL);
                goto out_seen;
            }
            at = (size_t)json_integer_value(ix);
        } else if (seen[at]) {
            why_set(why, cap, "choices[].index is missing and repeated%s", NULL);
            goto out_seen;
        }
        seen[at] = 1;
        rp_choice *x = &out->c[at];
        x->index = at;
        json_t *t = json_object_get(c, "text");
        if (!json_is_string(t)) {
            why_set(why, cap, "choices[].text is not a string%s", NULL);
            goto out_seen;
        }
        x->text_len = json_string_length(t);
        if (!(x->text = dupn(json_string_value(t), x->text_len))) {
            why_set(why, cap, "out of memory%s", NULL);
            goto out_seen;
        }
        json_t *f = json_object_get(c, "finish_reason");
        const char *fs = json_is_string(f) ? json_string_value(f) : "";
        x->finish = !strcmp(fs, "stop") || !strcmp(fs, "eos") ? RP_FIN_STOP : !strcmp(fs, "length") ? RP_FIN_LENGTH : *fs ? RP_FIN_OTHER : RP_FIN_UNKNOWN;
        json_t *sr = json_object_get(c, "stop_reason");
        if (!sr || json_is_null(sr)) sr = json_object_get(c, "matched_stop");
        if (json_is_string(sr)) {
            x->stop_kind = 1;
            if (!(x->stop_str = dupn(json_string_value(sr), json_string_length(sr)))) {
                why_set(why, cap, "out of memory%s", NULL);
                goto out_seen;
            }
        } else if (json_is_integer(sr) && json_integer_value(sr) >= 0 && json_integer_value(sr) <= INT32_MAX) {
            x->stop_kind = 2;
            x->stop_id = (int32_t)json_integer_value(sr);
        }
        json_t *ids = json_object_get(c, "token_ids");
        if (!is_int_array(ids)) ids = json_object_get(c, "tokens");
        if (is_int_array(ids) && read_ids(ids, x, why, cap)) goto out_seen;
        if (read_logprobs(json_object_get(c, "logprobs"), x, why, cap)) goto out_seen;
        /* ids as logprobs' tokens "token_id:N" (return_tokens_as_token_ids, servers without
         * return_token_ids) */
        json_t *lt = json_object_get(json_object_get(c, "logprobs"), "tokens");
        if (!x->has_ids && json_is_array(lt) && json_array_size(lt) && json_array_size(lt) <= MAX_IDS) {
            size_t nl = json_array_size(lt), k = 0;
            int32_t *ids = malloc(nl * sizeof *ids);
            for (; ids && k < nl; k++) {
                json_t *t = json_array_get(lt, k);
                if (!json_is_string(t) || (ids[k] = token_id_key(json_string_value(t))) < 0) break;
            }
            if (ids && k == nl) x->ids = ids, x->n_ids = nl, x->has_ids = 1;
            else free(ids);
        }
        /* llama-server's OpenAI layout has no ids, but its logprobs list each sampled token's id */
        json_t *lc = json_object_get(json_object_get(c, "logprobs"), "content");
        if (!x->has_ids && json_is_array(lc) && json_array_size(lc) && json_array_size(lc) <= MAX_IDS) {
            size_t nl = json_array_size(lc), k = 0;
            int32_t *ids = malloc(nl * sizeof *ids);
            for (; ids && k < nl; k++) {
                json_t *id = json_object_get(json_array_get(lc, k), "id");
                if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX) break;
                ids[k] = (int32_t)json_integer_value(id);
            }
            if (ids && k == nl) x->ids = ids, x->n_ids = nl, x->has_ids = 1;
            else free(ids);
        }
    }
    json_t *u = json_object_get(o, "usage");
    if (json_is_object(u)) {
        int has = 0;
        out->prompt_tokens = uval(u, "prompt_tokens", &has);
        out->completion_tokens = uval(u, "completion_tokens", &has);
        json_t *d = json_object_get(u, "prompt_tokens_details");
        if (json_is_object(d)) out->cached_tokens = uval(d, "cached_tokens", NULL);
        if (out->cached_tokens > out->prompt_tokens) out->cached_tokens = out->prompt_tokens;
        out->has_usage = has;
    }
    rc = 0;
out_seen:
    free(seen);
out:
    json_decref(o);
    if (rc) rp_completion_free(out);
    return rc;
}

void rp_models_free(rp_models *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) free(m->ids[i]);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

int rp_parse_models(const char *body, size_t len, rp_models *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &je);
    if (!o) return why_set(why, cap, "/models did not answer JSON: %.200s", je.text);
    int rc = -1;
    json_t *d = json_object_get(o, "data");
    if (!json_is_array(d) || !json_array_size(d) || json_array_size(d) > 4096) {
        why_set(why, cap, "/models lists no model%s", NULL);
        goto out;
    }
    size_t n = json_array_size(d);
    if (!(out->ids = calloc(n, sizeof *out->ids))) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(d, i), *id = json_object_get(m, "id");
        if (!json_is_string(id)) {
            why_set(why, cap, "/models: data[].id is not a string%s", NULL);
            goto out;
        }
        if (!(out->ids[out->n++] = dupn(json_string_value(id), json_string_length(id)))) {
            why_set(why, cap, "out of memory%s", NULL);
            goto out;
        }
        if (i) continue;
        json_t *ob = json_object_get(m, "owned_by"), *p = json_object_get(m, "ponder"), *ml = json_object_get(m, "max_model_len");
        const char *own = json_is_string(ob) ? json_string_value(ob) : "";
        out->kind = !strcmp(own, "ponder") ? RP_SRV_PONDER : !strcmp(own, "vllm") ? RP_SRV_VLLM : !strcmp(own, "sglang") ? RP_SRV_SGLANG
                    : !strcmp(own, "llamacpp") || !strcmp(own, "llama.cpp") ? RP_SRV_LLAMACPP : RP_SRV_UNKNOWN;
        if (json_is_integer(ml) && json_integer_value(ml) > 0) out->max_model_len = (long)json_integer_value(ml);
        if (out->kind == RP_SRV_PONDER && json_is_object(p)) {
            out->ponder_seeds = json_is_true(json_object_get(p, "seeds"));
            out->ponder_pooling = json_is_true(json_object_get(p, "pooling"));
            json_t *mn = json_object_get(p, "max_n");
            if (json_is_integer(mn) && json_integer_value(mn) > 0 && json_integer_value(mn) < (1 << 20)) out->max_n = (int)json_integer_value(mn);
        }
    }
    rc = 0;
out:
    json_decref(o);
    if (rc) rp_models_free(out);
    return rc;
}

void rp_pooling_free(rp_pooling *p) {
    if (!p) return;
    for (size_t i = 0; p->rows && i < p->n; i++) free(p->rows[i]);
    free(p->rows);
    free(p->n_rows);
    memset(p, 0, sizeof *p);
}

int rp_parse_pooling(const char *body, size_t len, size_t want_n, rp_pooling *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &je);
    if (!o) return why_set(why, cap, "/pooling did not answer JSON: %.200s", je.text);
    int rc = -1;
    json_t *d = json_object_get(o, "data");
    size_t n = json_array_size(d);
    if (!json_is_array(d) || !n || n > MAX_CHOICES || (want_n && n != want_n)) {
        json_t *e = json_object_get(o, "error");
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : json_object_get(o, "message");
        why_set(why, cap, json_is_string(m) ? "/pooling answered an error: %.200s" : "/pooling: no data for the inputs%s",
                json_is_string(m) ? json_string_value(m) : NULL);
        goto out;
    }
    out->rows = calloc(n, sizeof *out->rows);
    out->n_rows = calloc(n, sizeof *out->n_rows);
    if (!out->rows || !out->n_rows) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(d, i), *ix = json_object_get(item, "index"), *rows = json_object_get(item, "data");
        size_t at = json_is_integer(ix) ? (size_t)json_integer_value(ix) : i;
        if (!json_is_object(item) || at >= n || out->rows[at] || !json_is_array(rows) || json_array_size(rows) > MAX_IDS) {
            why_set(why, cap, "/pooling: data[] is not {index, data: [...]} with distinct indices%s", NULL);
            goto out;
        }
        size_t nr = json_array_size(rows);
        size_t w = nr && json_is_array(json_array_get(rows, 0)) ? json_array_size(json_array_get(rows, 0)) : 1;
        if (!w || w > 64 || (out->width && out->width != w)) {
            why_set(why, cap, "/pooling: rows of different widths%s", NULL);
            goto out;
        }
        out->width = w;
        if (!(out->rows[at] = malloc((nr ? nr : 1) * w * sizeof(double)))) {
            why_set(why, cap, "out of memory%s", NULL);
            goto out;
        }
        out->n_rows[at] = nr;
        for (size_t r = 0; r < nr; r++) {
            json_t *row = json_array_get(rows, r);
            for (size_t k = 0; k < w; k++) {
                json_t *v = w == 1 && !json_is_array(row) ? row : json_array_get(row, k);
                if (!json_is_number(v) || (json_is_array(row) && json_array_size(row) != w)) {
                    why_set(why, cap, "/pooling: a row holds something that is not a number%s", NULL);
                    goto out;
                }
                out->rows[at][r * w + k] = json_number_value(v);
            }
        }
    }
    json_t *u = json_object_get(o, "usage");
    if (json_is_object(u)) out->prompt_tokens = uval(u, "prompt_tokens", NULL);
    rc = 0;
out:
    json_decref(o);
    if (rc) rp_pooling_free(out);
    return rc;
}

int rp_parse_llama_native(const char *body, size_t len, rp_completion *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &je);
    if (!o) return why_set(why, cap, "the answer is not JSON: %.200s", je.text);
    int rc = -1;
    json_t *content = json_object_get(o, "content"), *toks = json_object_get(o, "tokens"), *st = json_object_get(o, "stop_type");
    if (!json_is_object(o) || !json_is_string(content)) {
        json_t *e = json_object_get(o, "error");
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : NULL;
        why_set(why, cap, json_is_string(m) ? "the server answered an error: %.200s" : "the answer has no content%s",
                json_is_string(m) ? json_string_value(m) : NULL);
        goto out;
    }
    if (!(out->c = calloc(1, sizeof *out->c))) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    out->n = 1;
    rp_choice *x = &out->c[0];
    x->text_len = json_string_length(content);
    if (!(x->text = dupn(json_string_value(content), x->text_len))) {
        why_set(why, cap, "out of memory%s", NULL);
        goto out;
    }
    if (is_int_array(toks) && read_ids(toks, x, why, cap)) goto out;
    const char *sts = json_is_string(st) ? json_string_value(st) : "";
    x->finish = !strcmp(sts, "limit") ? RP_FIN_LENGTH : !strcmp(sts, "eos") || !strcmp(sts, "word") ? RP_FIN_STOP : RP_FIN_UNKNOWN;
    json_t *sw = json_object_get(o, "stopping_word");
    if (!strcmp(sts, "word") && json_is_string(sw)) {
        x->stop_kind = 1;
        if (!(x->stop_str = dupn(json_string_value(sw), json_string_length(sw)))) {
            why_set(why, cap, "out of memory%s", NULL);
            goto out;
        }
    }
    json_t *probs = json_object_get(o, "completion_probabilities");
    if (!probs) probs = json_object_get(o, "probs");
    if (json_is_array(probs)) {
        x->has_logprobs = 1;
        if (read_positions(x, probs, "top_logprobs", why, cap)) goto out;
    }
    int has = 0;
    out->prompt_tokens = uval(o, "tokens_evaluated", &has);
    json_t *tm = json_object_get(o, "timings"); /* cache_n: prompt tokens reused from the slot's cache */
    out->cached_tokens = json_is_object(tm) ? uval(tm, "cache_n", NULL) : 0;
    if (out->cached_tokens > out->prompt_tokens) out->cached_tokens = out->prompt_tokens;
    out->completion_tokens = uval(o, "tokens_predicted", NULL);
    out->has_usage = has;
    rc = 0;
out:
    json_decref(o);
    if (rc) rp_completion_free(out);
    return rc;
}
