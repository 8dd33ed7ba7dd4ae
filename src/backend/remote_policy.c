/* remote_policy.c — a policy on a remote OpenAI-compatible server (vLLM, SGLang,
 * llama.cpp's llama-server, another ponder serve), over /v1/completions.
 *
 * Prompts are token ids: the problem rendered with the model's chat template (the local
 * tokenizer of --tokenizer or of the #MODEL name, the same rendering as the embedded
 * policy) followed by the ids of the path's steps, so no step boundary is ever tokenized
 * twice. Every request says everything: temperature, top_p, top_k, min_p, max_tokens, the
 * seed (servers apply different defaults, so nothing is left to them), `stop: [delimiter]`
 * with the stop string kept (include_stop_str_in_output for vLLM, no_stop_trim for SGLang;
 * re-appended where a server drops it), and return_token_ids.
 *
 * Where a step ends is decided here, by the embedded policy's rules (docs/SEARCH.md): the
 * returned ids are replayed (end of sequence, then the first delimiter in the bytes of the
 * non-special tokens, then the step cap, then the context), a token that runs past the
 * delimiter is cut and its head re-tokenized exactly as policy_local.c does, and a rollout
 * is split at every delimiter. A server that returns no ids gets its text tokenized.
 *
 * Seeds. Child i of a leaf has the search's seed pd_expand_child_seed(req, i). Against ponder
 * serve one request carries all k children with `seeds` (one per choice), and ponder serve
 * samples each with the engine's own sampler and RNG: the same tokens as the local run
 * (tests/test_serve_remote.c). vLLM seeds the n children of a request with seed + i, so `n`
 * is used there with the first child's seed; elsewhere (SGLang, llama-server) each child is
 * its own request with its own seed (--remote-n overrides).
 *
 * llama-server is asked through its native /completion route, the only one that returns every
 * sampled id (its OpenAI layout has none).
 *
 * Capability probing at open: GET /models on every endpoint (the model's presence, which
 * server it is: owned_by), then one tiny completion with n = 2 and token ids, falling back
 * to n = 1 and to a text prompt when refused: what works is detected, not guessed.
 *
 * Token confidences (DeepConf, self-certainty): only for requests whose search reads them
 * (want_conf), `logprobs: 20` (llama-server native: n_probs) is asked and every returned
 * token's top log-probabilities go through confidence.c as the engine's logits do, with its
 * window and online stop replayed on the ids; ponder serve adds its exact self-certainty. A
 * server that does not give them fails the search, naming itself and what is missing.
 *
 * Costs: each response's usage (prompt_tokens - cached_tokens as prefix tokens); generated
 * tokens are the ids each child sampled (the end-of-sequence id included, as the engine
 * counts them). A request that fails for good (after retries) fails its search, whose
 * problem is recorded as failed; the run goes on. */
#include "backend_int.h"
#include "remote_int.h"
#include "steps.h"
#include "ponder/hub.h"
#include "ponder/model.h"
#include "ponder/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 64

typedef struct rpol {
    rh_client *http;
    char *spec;
    char *model;             /* the served model name */
    pd_tokenizer *tok;
    pd_model_config cfg;     /* eos ids, context, vocabulary */
    char *system_prompt;
    char *delim;
    size_t delim_len;
    rp_server kind;
    int use_n;               /* ask for the children in one request */
    int seeds_ext;           /* ponder serve: one seed per choice */
    int token_prompts;       /* the server takes token-id prompts */
    int max_n;               /* children per request */
} rpol;

/* The per-tree prompt ids (tree->bstate). */
typedef struct rtree {
    int32_t *ids;
    size_t n;
} rtree;

static void rtree_free(void *p) {
    rtree *r = p;
    if (r) free(r->ids);
    free(r);
}

static int is_eos(const rpol *c, int32_t id) {
    for (int i = 0; i < c->cfg.n_eos; i++)
        if (c->cfg.eos_ids[i] == id) return 1;
    return 0;
}

/* The prompt of a tree's problem (as policy_local.c renders it). */
static rtree *tree_prompt(rpol *c, pd_tree *t, pd_error *err) {
    if (t->bstate) return t->bstate;
    pd_chat_msg msg[2];
    size_t nm = 0;
    if (c->system_prompt[0]) msg[nm++] = (pd_chat_msg){"system", c->system_prompt};
    msg[nm++] = (pd_chat_msg){"user", t->prob && t->prob->problem ? t->prob->problem : ""};
    pd_buf b = {0};
    rtree *r = calloc(1, sizeof *r);
    int rc = r ? pd_chat_render(c->tok, msg, nm, 1, 0, &b, err) : pd_err_set(err, PD_ENOMEM, "out of memory");
    if (!rc) rc = pd_tokenizer_encode(c->tok, b.data ? b.data : "", b.len, 0, &r->ids, &r->n, err);
    pd_buf_free(&b);
    if (rc) {
        rtree_free(r);
        return NULL;
    }
    t->bstate = r;
    t->bstate_free = rtree_free;
    return r;
}

/* ---- turning a sample into nodes (the embedded policy's rules, policy_local.c) ---- */

typedef struct sample {
    int32_t *ids;            /* sampled ids (the EOS included when it ended the sample) */
    size_t n_ids;
    size_t *ends;            /* (n_ids) text bytes after each id */
    pd_buf text;             /* raw bytes of the non-special tokens */
    int status;
    size_t cut;
    int eos;
    pd_conf_track ct;        /* token confidences, when the search wants them (confidence.c) */
    int has_conf;
} sample;

static void sample_clear(sample *s) {
    free(s->ids);
    free(s->ends);
    pd_buf_free(&s->text);
    pd_conf_track_free(&s->ct);
    memset(s, 0, sizeof *s);
}

/* Token i's confidence from the choice's logprobs into s->ct; *window_low as the engine's
 * online stop. PD_EUNSUPPORTED (why filled) when the server did not list enough. */
static int token_conf(const rpol *c, rp_choice *ch, size_t i, sample *s, int *window_low, char *why, size_t cap) {
    size_t k = (size_t)c->cfg.vocab_size < PD_CONF_TOP ? (size_t)c->cfg.vocab_size : PD_CONF_TOP;
    if (i >= ch->n_pos) {
        snprintf(why, cap, "it returned logprobs for %zu of the %zu generated tokens", ch->n_pos, ch->n_ids);
        return PD_EUNSUPPORTED;
    }
    double tc, ts;
    size_t n = ch->pos_off[i + 1] - ch->pos_off[i];
    if (pd_conf_from_top(ch->pos_lp + ch->pos_off[i], n, (size_t)c->cfg.vocab_size, &tc, &ts)) {
        snprintf(why, cap, "it listed %zu top logprobs at generated token %zu where token confidences need %zu (a server cap on "
                 "logprobs, or tokens of equal text merged: vLLM --max-logprobs)", n, i, k);
        return PD_EUNSUPPORTED;
    }
    if (ch->pos_cert) ts = ch->pos_cert[i]; /* ponder serve: exact */
    return pd_conf_track_push(&s->ct, tc, ts, window_low) ? PD_ENOMEM : 0;
}

/* Replay returned ids with the engine's stop rules: fills s. `finish` is the server's word
 * when the ids end before a rule fired. With want_conf, each token's confidence comes from
 * the choice's logprobs and the online stop (conf_stop) applies as in the engine. */
static int replay(const rpol *c, const pd_expand_req *r, size_t n_prompt, const int32_t *ids, size_t n, rp_choice *ch,
                  sample *s, char *why, size_t why_cap) {
    size_t cap = r->tree->step_max_tokens > 0 ? (size_t)r->tree->step_max_tokens : 1, scanned = 0;
    if (!(s->ids = malloc((n ? n : 1) * sizeof *s->ids)) || !(s->ends = malloc((n ? n : 1) * sizeof *s->ends))) return PD_ENOMEM;
    if (r->want_conf) {
        if (pd_conf_track_init(&s->ct, r->conf_window, r->conf_stop)) return PD_ENOMEM;
        s->has_conf = 1;
    }
    for (size_t i = 0; i < n && !s->status; i++) {
        int32_t id = ids[i];
        int window_low = 0, rc;
        if (s->has_conf && (rc = token_conf(c, ch, i, s, &window_low, why, why_cap))) return rc;
        s->ids[s->n_ids] = id;
        if (is_eos(c, id)) {
            s->ends[s->n_ids++] = s->text.len;
            s->eos = 1;
            s->cut = s->text.len;
            s->status = PD_NODE_FINISHED;
            break;
        }
        const char *b;
        size_t len = 0;
        if (!pd_tokenizer_is_special(c->tok, id) && !pd_tokenizer_token_bytes(c->tok, id, &b, &len) && len &&
            pd_buf_append(&s->text, b, len))
            return PD_ENOMEM;
        s->ends[s->n_ids++] = s->text.len;
        if (r->mode == PD_EXPAND_STEP && c->delim_len && s->text.len >= c->delim_len) {
            size_t from = scanned + 1 > c->delim_len ? scanned + 1 - c->delim_len : 0;
            for (size_t at = from; at + c->delim_len <= s->text.len; at++)
                if (!memcmp(s->text.data + at, c->delim, c->delim_len)) {
                    s->cut = at + c->delim_len;
                    s->status = PD_NODE_STEP_ENDED;
                    break;
                }
        }
        scanned = s->text.len;
        if (!s->status && (window_low || s->n_ids >= cap || n_prompt + s->n_ids > (size_t)c->cfg.max_positions)) {
            s->ct.stopped = window_low;
            s->cut = s->text.len;
            s->status = PD_NODE_TRUNCATED;
        }
    }
    if (!s->status) { /* the server stopped first: take its word */
        s->cut = s->text.len;
        if (ch && ch->finish == RP_FIN_STOP && ch->stop_kind == 1 && r->mode == PD_EXPAND_STEP) s->status = PD_NODE_STEP_ENDED;
        else if (ch && ch->finish == RP_FIN_STOP && ch->stop_kind == 0) s->status = PD_NODE_FINISHED;
        else s->status = PD_NODE_TRUNCATED;
    }
    return 0;
}

/* A sample from a server that returned only text: tokenize it (the stop string re-appended
 * where the server dropped it). */
static int from_text(const rpol *c, const pd_expand_req *r, const rp_choice *ch, sample *s, pd_error *err) {
    pd_buf t = {0};
    if (pd_buf_append(&t, ch->text, ch->text_len)) return PD_ENOMEM;
    int stop_str = ch->finish == RP_FIN_STOP && (ch->stop_kind == 1 || (ch->stop_kind == 0 && c->kind == RP_SRV_LLAMACPP &&
                                                                         r->mode == PD_EXPAND_STEP));
    if (stop_str && r->mode == PD_EXPAND_STEP &&
        (t.len < c->delim_len || memcmp(t.data + t.len - c->delim_len, c->delim, c->delim_len)) && pd_buf_append(&t, c->delim, c->delim_len)) {
        pd_buf_free(&t);
        return PD_ENOMEM;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = pd_tokenizer_encode(c->tok, t.data ? t.data : "", t.len, 0, &ids, &n, err);
    pd_buf_free(&t);
    if (rc) return rc;
    s->ids = ids;
    s->n_ids = n;
    if (!(s->ends = malloc((n ? n : 1) * sizeof *s->ends))) return PD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *b;
        size_t len = 0;
        if (!pd_tokenizer_is_special(c->tok, ids[i]) && !pd_tokenizer_token_bytes(c->tok, ids[i], &b, &len) && len &&
            pd_buf_append(&s->text, b, len))
            return PD_ENOMEM;
        s->ends[i] = s->text.len;
    }
    s->cut = s->text.len;
    s->status = stop_str && r->mode == PD_EXPAND_STEP ? PD_NODE_STEP_ENDED
                : ch->finish == RP_FIN_STOP                 ? PD_NODE_FINISHED
                                                            : PD_NODE_TRUNCATED;
    return 0;
}

/* One step node (STEP mode); the cut inside a token as policy_local.c's add_step_node. */
static int32_t add_step(const rpol *c, pd_expand_req *r, int32_t index, sample *g, pd_error *err) {
    pd_tree *t = r->tree;
    uint64_t seed = pd_expand_child_seed(r, index);
    size_t n_keep = g->n_ids - (g->eos ? 1 : 0);
    int32_t *tail = NULL;
    size_t n_tail = 0;
    if (g->status == PD_NODE_STEP_ENDED && g->n_ids)
        pd_steps_cut(c->tok, g->ids, g->n_ids, g->ends, g->text.data, &g->cut, &n_keep, &tail, &n_tail);
    int32_t *ids = malloc((n_keep + n_tail + 1) * sizeof *ids);
    pd_buf text = {0};
    int rc = ids ? 0 : PD_ENOMEM;
    if (!rc) {
        if (n_keep) memcpy(ids, g->ids, n_keep * sizeof *ids);
        if (n_tail) memcpy(ids + n_keep, tail, n_tail * sizeof *ids);
        rc = pd_steps_append_lossy(&text, g->text.data ? g->text.data : "", g->cut);
    }
    int32_t id = -1;
    if (!rc) {
        id = pd_tree_add(t, r->leaf, seed, text.data ? text.data : "", text.len, ids, n_keep + n_tail, (uint32_t)g->n_ids, g->status, 0);
        if (id < 0) rc = PD_ENOMEM;
        else if (g->has_conf) pd_conf_track_node(&g->ct, &t->nodes[id], 0, g->n_ids, 1);
    }
    if (!rc) r->cost->expansions++;
    free(tail);
    free(ids);
    pd_buf_free(&text);
    if (rc) pd_err_set(err, PD_ENOMEM, "remote policy: out of memory");
    return rc ? -1 : id;
}

/* A rollout as a chain of step nodes (policy_local.c's add_rollout_chain). */
static int32_t add_rollout(const rpol *c, pd_expand_req *r, int32_t index, sample *g, pd_error *err) {
    pd_tree *t = r->tree;
    int32_t parent = r->leaf;
    uint64_t seed = pd_expand_child_seed(r, index);
    size_t n_ids = g->n_ids - (g->eos ? 1 : 0), s0 = 0, id0 = 0;
    const char *txt = g->text.data ? g->text.data : "";
    pd_buf text = {0};
    int first = 1;
    for (;;) {
        size_t s1, id1;
        int last;
        pd_steps_rollout_next(txt, g->cut, g->ends, n_ids, c->delim, c->delim_len, s0, id0, &s1, &id1, &last);
        pd_buf_reset(&text);
        if (pd_steps_append_lossy(&text, txt + s0, s1 - s0)) break;
        uint32_t n_tok = (uint32_t)(id1 - id0) + (last && g->eos ? 1 : 0);
        int32_t id = pd_tree_add(t, parent, first ? seed : pd_tree_child_seed(t, parent, 0), text.data ? text.data : "", text.len,
                                 g->ids + id0, id1 - id0, n_tok, last ? g->status : PD_NODE_STEP_ENDED, 0);
        if (id < 0) break;
        if (g->has_conf) pd_conf_track_node(&g->ct, &t->nodes[id], id0, last ? g->n_ids : id1, last);
        r->cost->expansions++;
        if (last) {
            pd_buf_free(&text);
            return id;
        }
        parent = id;
        first = 0;
        s0 = s1;
        id0 = id1;
    }
    pd_buf_free(&text);
    pd_err_set(err, PD_ENOMEM, "remote policy: out of memory");
    return -1;
}

/* ---- requests ---- */

/* One HTTP request: children [first, first + k) of expansion request q. */
typedef struct group {
    size_t q;
    int32_t first, k;
    size_t n_prompt;
    rp_completion res;
} group;

typedef struct call {
    group *g;
    rpol *c;
} call;

/* The seed a non-ponder server gets (31 bits: llama-server reads -1 as "random"). */
static json_int_t wire_seed(const rpol *c, uint64_t s) {
    return c->seeds_ext ? (json_int_t)s : (json_int_t)(s & 0x7fffffffu);
}

static int check_completion(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    call *x = ud;
    group *g = &x->g[i];
    rp_completion_free(&g->res);
    if (x->c->kind == RP_SRV_LLAMACPP && x->c->token_prompts) return rp_parse_llama_native(body, len, &g->res, why, cap);
    return rp_parse_completion(body, len, (size_t)g->k, &g->res, why, cap);
}

/* llama-server's native /completion: the only layout of it that returns every sampled id
 * (its OpenAI layout returns none, and its logprobs skip tokens that are not whole UTF-8
 * characters). Every sampler is set: its defaults differ from OpenAI's. */
static char *llama_native_body(const rpol *c, const pd_expand_req *r, const int32_t *prompt, size_t n_prompt, int32_t first) {
    json_t *o = json_object(), *p = json_array();
    for (size_t i = 0; i < n_prompt; i++) json_array_append_new(p, json_integer(prompt[i]));
    json_object_set_new(o, "prompt", p);
    size_t cap = r->tree->step_max_tokens > 0 ? (size_t)r->tree->step_max_tokens : 1;
    size_t room = (size_t)c->cfg.max_positions - n_prompt;
    json_object_set_new(o, "n_predict", json_integer((json_int_t)(cap < room ? cap : room)));
    json_object_set_new(o, "temperature", json_real(r->greedy ? 0.0 : (double)r->tree->temperature));
    json_object_set_new(o, "top_p", json_real(r->greedy ? 1.0 : (double)r->tree->top_p));
    json_object_set_new(o, "top_k", json_integer(0));
    json_object_set_new(o, "min_p", json_real(0.0));
    json_object_set_new(o, "typical_p", json_real(1.0));
    json_object_set_new(o, "repeat_penalty", json_real(1.0));
    json_object_set_new(o, "presence_penalty", json_real(0.0));
    json_object_set_new(o, "frequency_penalty", json_real(0.0));
    json_object_set_new(o, "dry_multiplier", json_real(0.0));
    json_object_set_new(o, "xtc_probability", json_real(0.0));
    json_object_set_new(o, "top_n_sigma", json_real(-1.0));
    json_object_set_new(o, "seed", json_integer(wire_seed(c, pd_expand_child_seed(r, first))));
    json_object_set_new(o, "return_tokens", json_true());
    json_object_set_new(o, "cache_prompt", json_true());
    if (r->want_conf) json_object_set_new(o, "n_probs", json_integer(PD_CONF_TOP)); /* raw logits' softmax */
    if (r->mode == PD_EXPAND_STEP && c->delim_len) {
        json_t *st = json_array();
        json_array_append_new(st, json_stringn(c->delim, c->delim_len));
        json_object_set_new(o, "stop", st);
    }
    char *b = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return b;
}


static char *request_body(const rpol *c, const pd_expand_req *r, const int32_t *prompt, size_t n_prompt, int32_t first, int32_t k,
                          const char *prompt_text) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(c->model));
    if (prompt_text) json_object_set_new(o, "prompt", json_string(prompt_text));
    else {
        json_t *p = json_array();
        for (size_t i = 0; i < n_prompt; i++) json_array_append_new(p, json_integer(prompt[i]));
        json_object_set_new(o, "prompt", p);
    }
    size_t cap = r->tree->step_max_tokens > 0 ? (size_t)r->tree->step_max_tokens : 1;
    size_t room = (size_t)c->cfg.max_positions - n_prompt + (c->kind == RP_SRV_PONDER ? 1 : 0);
    json_object_set_new(o, "max_tokens", json_integer((json_int_t)(cap < room ? cap : room)));
    double temp = r->greedy ? 0.0 : (double)r->tree->temperature, top_p = r->greedy ? 1.0 : (double)r->tree->top_p;
    json_object_set_new(o, "temperature", json_real(temp));
    json_object_set_new(o, "top_p", json_real(top_p));
    json_object_set_new(o, "top_k", json_integer(-1));
    json_object_set_new(o, "min_p", json_real(0.0));
    json_object_set_new(o, "n", json_integer(k));
    json_object_set_new(o, "seed", json_integer(wire_seed(c, pd_expand_child_seed(r, first))));
    if (c->seeds_ext && k > 1) {
        json_t *s = json_array();
        for (int32_t i = 0; i < k; i++) json_array_append_new(s, json_integer(wire_seed(c, pd_expand_child_seed(r, first + i))));
        json_object_set_new(o, "seeds", s);
    }
    if (r->mode == PD_EXPAND_STEP && c->delim_len) {
        json_t *st = json_array();
        json_array_append_new(st, json_stringn(c->delim, c->delim_len));
        json_object_set_new(o, "stop", st);
        json_object_set_new(o, "include_stop_str_in_output", json_true());
        if (c->kind == RP_SRV_SGLANG) json_object_set_new(o, "no_stop_trim", json_true());
    }
    json_object_set_new(o, "skip_special_tokens", json_true());
    json_object_set_new(o, "return_token_ids", json_true());
    if (c->kind == RP_SRV_LLAMACPP) { /* its OpenAI layout returns ids only inside logprobs */
        json_object_set_new(o, "return_tokens", json_true());
        json_object_set_new(o, "logprobs", json_integer(r->want_conf ? PD_CONF_TOP : 1));
    } else if (r->want_conf) { /* token confidences: the top logprobs of every token */
        json_object_set_new(o, "logprobs", json_integer(PD_CONF_TOP));
        /* keys "token_id:N": tokens of equal text stay apart (vLLM, ponder serve) */
        if (c->kind == RP_SRV_VLLM || c->kind == RP_SRV_PONDER) json_object_set_new(o, "return_tokens_as_token_ids", json_true());
        if (c->kind == RP_SRV_PONDER) json_object_set_new(o, "self_certainty", json_true()); /* exact (its extension) */
    }
    char *b = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return b;
}

/* The ids of the prompt and the path to `leaf`. */
static int path_prompt(rpol *c, pd_tree *t, int32_t leaf, int32_t **out, size_t *n_out, pd_error *err) {
    rtree *rt = tree_prompt(c, t, err);
    if (!rt) return err && err->code ? err->code : PD_ENOMEM;
    size_t n = rt->n;
    for (int32_t a = leaf; a > 0; a = t->nodes[a].parent) n += t->nodes[a].ids_len;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return pd_err_set(err, PD_ENOMEM, "out of memory");
    memcpy(ids, rt->ids, rt->n * sizeof *ids);
    size_t at = n;
    for (int32_t a = leaf; a > 0; a = t->nodes[a].parent) {
        at -= t->nodes[a].ids_len;
        memcpy(ids + at, t->ids + t->nodes[a].ids_off, t->nodes[a].ids_len * sizeof *ids);
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static int rpol_expand(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err) {
    rpol *c = ctx;
    group *gs = NULL;
    rh_req *hr = NULL;
    char **bodies = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    uint8_t *overflow = calloc(n ? n : 1, 1);
    if (!overflow) return pd_err_set(err, PD_ENOMEM, "out of memory");
    /* 1. the requests: one per group of children */
    for (size_t q = 0; q < n && !rc; q++) {
        pd_expand_req *r = &reqs[q];
        if (r->leaf < 0 || r->leaf >= r->tree->n_nodes || pd_node_done(&r->tree->nodes[r->leaf])) {
            rc = pd_err_set(err, PD_EINVAL, "remote policy: node %d cannot be extended", (int)r->leaf);
            break;
        }
        int32_t *ids = NULL;
        size_t np = 0;
        if ((rc = path_prompt(c, r->tree, r->leaf, &ids, &np, err))) break;
        size_t room = (size_t)c->cfg.max_positions + (c->kind == RP_SRV_PONDER ? 1 : 0);
        if (!np || np >= room) { /* fills the context: empty truncated children, as the engine gives */
            overflow[q] = 1;
            free(ids);
            continue;
        }
        int32_t per = c->use_n ? c->max_n : 1;
        char *text = NULL;
        if (!c->token_prompts) { /* a server without token-id prompts: the ids' text */
            pd_error e2 = {0};
            if (pd_tokenizer_decode(c->tok, ids, np, 0, &text, &e2)) {
                free(ids);
                rc = pd_err_set(err, e2.code ? e2.code : PD_ENOMEM, "%s", e2.msg);
                break;
            }
        }
        for (int32_t first = 0; first < r->k && !rc; first += per) {
            int32_t k = r->k - first < per ? r->k - first : per;
            if (pd_grow((void **)&gs, &cap, ng + 1, sizeof *gs) || !(bodies = realloc(bodies, cap * sizeof *bodies))) {
                rc = pd_err_set(err, PD_ENOMEM, "out of memory");
                break;
            }
            memset(&gs[ng], 0, sizeof gs[ng]);
            gs[ng] = (group){.q = q, .first = first, .k = k, .n_prompt = np};
            bodies[ng] = c->kind == RP_SRV_LLAMACPP && c->token_prompts ? llama_native_body(c, r, ids, np, first)
                                                                        : request_body(c, r, ids, np, first, k, text);
            if (!bodies[ng]) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            else ng++;
        }
        free(text);
        free(ids);
    }
    /* 2. all of them in flight together */
    if (!rc && ng && !(hr = calloc(ng, sizeof *hr))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    /* (llama-server's native route is at its root: curl resolves the dot segment) */
    const char *path = c->kind == RP_SRV_LLAMACPP && c->token_prompts ? "/../completion" : "/completions";
    for (size_t i = 0; i < ng && !rc; i++) hr[i] = (rh_req){.path = path, .body = bodies[i], .endpoint = -1};
    call x = {gs, c};
    if (!rc && ng) rc = rh_run(c->http, hr, ng, check_completion, &x, err);
    /* 3. a request that failed for good fails its search */
    for (size_t i = 0; i < ng && !rc; i++) {
        if (hr[i].ok) continue;
        pd_expand_req *r = &reqs[gs[i].q];
        if (!r->fail) {
            rc = pd_err_set(err, PD_ENET, "remote policy: %s", hr[i].err);
            break;
        }
        if (!r->fail->code) pd_err_set(r->fail, PD_ENET, "remote policy: %s", hr[i].err);
    }
    /* 4. nodes, in request and child order */
    for (size_t q = 0; q < n && !rc; q++) {
        pd_expand_req *r = &reqs[q];
        if (overflow[q]) {
            for (int32_t i = 0; i < r->k && !rc; i++) {
                sample s = {.status = PD_NODE_TRUNCATED};
                int32_t id = r->mode == PD_EXPAND_ROLLOUT ? add_rollout(c, r, i, &s, err) : add_step(c, r, i, &s, err);
                if (id < 0) rc = err ? err->code : PD_ENOMEM;
                else r->out[i] = id;
                sample_clear(&s);
            }
            continue;
        }
        if (r->fail && r->fail->code) continue;
        for (size_t gi = 0; gi < ng && !rc; gi++) {
            group *g = &gs[gi];
            if (g->q != q) continue;
            if (g->res.has_usage) r->cost->prefix_tokens += g->res.prompt_tokens - g->res.cached_tokens;
            else r->cost->prefix_tokens += g->n_prompt;
            for (int32_t i = 0; i < g->k && !rc; i++) {
                rp_choice *ch = &g->res.c[i];
                sample s = {0};
                pd_error e2 = {0};
                char why[200] = "";
                int src;
                if (r->want_conf && (!ch->has_logprobs || !ch->has_ids)) {
                    snprintf(why, sizeof why, "it returned %s", !ch->has_logprobs ? "no logprobs" : "no token ids with its logprobs");
                    src = PD_EUNSUPPORTED;
                } else {
                    src = ch->has_ids ? replay(c, r, g->n_prompt, ch->ids, ch->n_ids, ch, &s, why, sizeof why) : from_text(c, r, ch, &s, &e2);
                }
                if (src == PD_EUNSUPPORTED) { /* the server cannot give token confidences: the search fails, saying why */
                    sample_clear(&s);
                    pd_error *f = r->fail ? r->fail : err;
                    if (!f || !f->code)
                        pd_err_set(f, PD_EUNSUPPORTED, "remote policy: %s at %s: token confidences (--prm deepconf, --prm self-certainty, "
                                   "--strategy deepconf) need the top %d logprobs of every generated token, and %s", rp_server_name(c->kind),
                                   rh_client_base(c->http, hr[gi].used), PD_CONF_TOP, why);
                    if (!r->fail) rc = PD_EUNSUPPORTED;
                    break;
                }
                if (src) {
                    sample_clear(&s);
                    rc = pd_err_set(err, src, "remote policy: %s", e2.msg[0] ? e2.msg : "out of memory");
                    break;
                }
                /* a sample stopped for low confidence was generated to its end by the server */
                r->cost->policy_tokens += ch->has_ids ? (s.ct.stopped ? ch->n_ids : s.n_ids)
                                                      : (g->res.has_usage && g->k == 1 ? g->res.completion_tokens : s.n_ids);
                int32_t id = r->mode == PD_EXPAND_ROLLOUT ? add_rollout(c, r, g->first + i, &s, err) : add_step(c, r, g->first + i, &s, err);
                if (id < 0) rc = err ? err->code : PD_ENOMEM;
                else r->out[g->first + i] = id;
                sample_clear(&s);
            }
        }
    }
    for (size_t i = 0; i < ng; i++) {
        rp_completion_free(&gs[i].res);
        if (hr) rh_req_clear(&hr[i]);
        free(bodies[i]);
    }
    free(gs);
    free(hr);
    free(bodies);
    free(overflow);
    return rc;
}

static void rpol_free(void *ctx) {
    rpol *c = ctx;
    if (!c) return;
    rh_client_free(c->http);
    pd_tokenizer_free(c->tok);
    free(c->spec);
    free(c->model);
    free(c->system_prompt);
    free(c->delim);
    free(c);
}

/* ---- opening: tokenizer, endpoints, probes ---- */

/* Parameters of a model of this shape (for FLOPs, as the engine counts its weights). */
double pd_remote_config_params(const pd_model_config *c) {
    double H = c->hidden_size, V = c->vocab_size, I = c->intermediate_size, L = c->n_layers;
    double q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double layer = H * q + 2 * H * kv + q * H + 3 * H * I + 2 * H;
    if (c->attn_qkv_bias) layer += q + 2 * kv;
    if (c->attn_o_bias) layer += H;
    return V * H * (c->tie_embeddings ? 1 : 2) + L * layer + H;
}

/* config.json (+ generation_config.json) of dir. */
static int read_config(const char *dir, pd_model_config *cfg, pd_error *err) {
    char path[4200];
    char *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = pd_file_read(path, &text, &len, err);
    if (!rc) rc = pd_model_config_parse(text, len, path, cfg, err);
    free(text);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (pd_file_exists(path)) {
        text = NULL;
        if (!(rc = pd_file_read(path, &text, &len, err))) rc = pd_model_config_merge_generation(text, len, path, cfg, err);
        free(text);
    }
    return rc;
}

static int check_models(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    rp_models *m = ud;
    rp_models_free(&m[i]);
    return rp_parse_models(body, len, &m[i], why, cap);
}

static int check_probe(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    (void)i;
    rp_completion *r = ud;
    rp_completion_free(r);
    return rp_parse_completion(body, len, 0, r, why, cap);
}

/* Ask `base` for the served models; the first that answers decides. */
static int probe_models(rpol *c, int *base, rp_models *info, pd_error *err) {
    int nb = rh_client_n_bases(c->http);
    rh_req *hr = calloc((size_t)nb, sizeof *hr);
    rp_models *ms = calloc((size_t)nb, sizeof *ms);
    if (!hr || !ms) {
        free(hr);
        free(ms);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nb; i++) hr[i] = (rh_req){.path = "/models", .endpoint = i};
    int rc = rh_run(c->http, hr, (size_t)nb, check_models, ms, err);
    *base = -1;
    for (int i = 0; i < nb && !rc; i++) {
        if (!hr[i].ok) continue;
        if (c->model) {
            int found = 0;
            for (size_t k = 0; k < ms[i].n; k++) found |= !strcmp(ms[i].ids[k], c->model);
            if (!found) {
                rc = pd_err_set(err, PD_ENOTFOUND, "remote %s: the server at %s does not serve '%s' (it serves '%s'%s)", c->spec,
                                rh_client_base(c->http, i), c->model, ms[i].ids[0], ms[i].n > 1 ? ", ..." : "");
                break;
            }
        }
        if (*base < 0) {
            *base = i;
            *info = ms[i];
            memset(&ms[i], 0, sizeof ms[i]);
        }
    }
    if (!rc && *base < 0) rc = pd_err_set(err, PD_ENET, "remote %s: no endpoint answered: %s", c->spec, nb ? hr[0].err : "");
    for (int i = 0; i < nb; i++) {
        rh_req_clear(&hr[i]);
        rp_models_free(&ms[i]);
    }
    free(hr);
    free(ms);
    return rc;
}

/* One tiny completion; returns 1 when the server took it (res filled), 0 when it refused
 * with a 4xx, or an error (nothing answered). */
static int probe_one(rpol *c, int base, int n, int ids, rp_completion *res, char *msg, size_t msg_cap, pd_error *err) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(c->model));
    if (ids) {
        json_t *p = json_array();
        json_array_append_new(p, json_integer(c->cfg.bos_id >= 0 ? c->cfg.bos_id : 0));
        json_array_append_new(p, json_integer(1));
        json_object_set_new(o, "prompt", p);
    } else {
        json_object_set_new(o, "prompt", json_string("1 + 1 ="));
    }
    json_object_set_new(o, "max_tokens", json_integer(1));
    json_object_set_new(o, "temperature", json_real(0.0));
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "seed", json_integer(1));
    json_object_set_new(o, "return_token_ids", json_true());
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body) return pd_err_set(err, PD_ENOMEM, "out of memory");
    rh_req hr = {.path = "/completions", .body = body, .endpoint = base};
    int rc = rh_run(c->http, &hr, 1, check_probe, res, err);
    free(body);
    if (rc) return rc;
    int ok = hr.ok;
    if (!ok) snprintf(msg, msg_cap, "%s", hr.err);
    int status = hr.status;
    rh_req_clear(&hr);
    if (ok) return 1;
    if (status >= 400 && status < 500) return 0;
    return pd_err_set(err, PD_ENET, "remote %s: %s", c->spec, msg);
}

int pd_remote_policy_open(pd_policy *pol, const char *spec, const pd_backend_opts *o, pd_error *err) {
    memset(pol, 0, sizeof *pol);
    pd_backend_opts d;
    if (!o) pd_backend_opts_default(&d), o = &d;
    rpol *c = calloc(1, sizeof *c);
    if (!c || !(c->spec = strdup(spec))) {
        free(c);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    char *bases[MAX_ENDPOINTS];
    int nb = rh_split_spec(spec, bases, MAX_ENDPOINTS, &c->model, err), rc = 0;
    if (nb < 0) {
        rpol_free(c);
        return err ? err->code : PD_EINVAL;
    }
    const char *key = o->remote_api_key ? o->remote_api_key : getenv("PONDER_REMOTE_API_KEY");
    rh_opts ho = {key, o->remote_inflight, o->remote_timeout, o->remote_retries, o->remote_backoff};
    c->http = rh_client_new((const char *const *)bases, nb, &ho, err);
    for (int i = 0; i < nb; i++) free(bases[i]);
    if (!c->http) {
        rpol_free(c);
        return err ? err->code : PD_ENOMEM;
    }
    /* the tokenizer: --tokenizer, else the served model's name as a local dir / repo id */
    const char *tspec = o->tokenizer ? o->tokenizer : c->model;
    char dir[4096];
    if (!tspec) rc = pd_err_set(err, PD_EINVAL, "remote policy %s: name the model (URL#MODEL) or give --tokenizer DIR|REPO: its "
                                                "tokenizer and chat template render the prompts", spec);
    else if ((rc = pd_hub_resolve(tspec, dir, sizeof dir, err)))
        pd_err_prefix(err, "remote policy %s: the prompts are rendered with the model's own tokenizer and chat template; give "
                           "--tokenizer DIR|REPO (a local directory, or a repo id in the Hugging Face cache: ponder pull)", spec);
    if (!rc && !(c->tok = pd_tokenizer_load(dir, err))) rc = err && err->code ? err->code : PD_EINVAL;
    if (!rc) rc = read_config(dir, &c->cfg, err);
    if (!rc && pd_tokenizer_chat_family(c->tok) == PD_CHAT_NONE)
        rc = pd_err_set(err, PD_EUNSUPPORTED, "remote policy %s: %s has no chat template ponder renders", spec, dir);
    if (!rc) {
        c->system_prompt = strdup(o->system_prompt ? o->system_prompt : PD_SAL_SYSTEM_PROMPT);
        c->delim = strdup(o->step_delimiter[0] ? o->step_delimiter : "\n\n");
        if (!c->system_prompt || !c->delim) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        else c->delim_len = strlen(c->delim);
    }
    /* probes */
    int base = -1;
    rp_models info = {0};
    if (!rc) rc = probe_models(c, &base, &info, err);
    if (!rc && !c->model && !(c->model = strdup(info.ids[0]))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    if (!rc) {
        c->kind = info.kind;
        c->seeds_ext = info.kind == RP_SRV_PONDER && info.ponder_seeds;
        if (info.max_model_len > 0 && info.max_model_len < c->cfg.max_positions) c->cfg.max_positions = (int)info.max_model_len;
        char msg[400] = "";
        rp_completion res = {0};
        int took = probe_one(c, base, 2, 1, &res, msg, sizeof msg, err), n_ok = 0;
        if (took == 1) c->token_prompts = 1, n_ok = res.n == 2;
        if (took == 0 && (took = probe_one(c, base, 1, 1, &res, msg, sizeof msg, err)) == 1) c->token_prompts = 1;
        if (took == 0 && (took = probe_one(c, base, 1, 0, &res, msg, sizeof msg, err)) == 1) c->token_prompts = 0;
        if (took == 0) rc = pd_err_set(err, PD_EUNSUPPORTED, "remote policy %s: the server refuses completions: %s", spec, msg);
        else if (took < 0) rc = took;
        rp_completion_free(&res);
        int reproducible_n = c->seeds_ext || c->kind == RP_SRV_VLLM;
        c->use_n = n_ok && (o->remote_n == 1 || (o->remote_n < 0 && reproducible_n));
        c->max_n = info.max_n > 0 ? info.max_n : 64;
    }
    rp_models_free(&info);
    if (rc) {
        rpol_free(c);
        return rc;
    }
    pol->name = "remote";
    pol->n_params = pd_remote_config_params(&c->cfg); /* the model's shape, from its config.json */
    pol->ctx = c;
    pol->expand = rpol_expand;
    pol->release = NULL;
    pol->free = rpol_free;
    return 0;
}
