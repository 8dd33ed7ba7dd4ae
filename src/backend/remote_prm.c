/* remote_prm.c — process reward models on remote servers.
 *
 *   vllm-pooling+http://HOST:PORT#MODEL   vLLM's /pooling (a PRM served with the pooling
 *       runner): the whole input of a path (the PRM's own format: qwen2-prm steps joined by
 *       <extra_0>; math-shepherd with STEP pooling on its step tag) as token ids; the answer
 *       holds one probability pair per step tag. The reward is the pair's "good" entry:
 *       index 1 ([p_neg, p_pos], Qwen2.5-Math-PRM's head) or index 0 for a token-judgment PRM
 *       pooled with returned_token_ids [good, bad]. Inputs of many requests share a call.
 *   logprob+http://HOST:PORT/v1#MODEL    token-judgment PRMs (math-shepherd, rlhflow) on any
 *       completions server: per step, the input up to the read-out position as the prompt,
 *       max_tokens 1, temperature 0, logprobs 20 (and logprob_token_ids where the server
 *       takes them); reward = P(good) / (P(good) + P(bad)) — exactly the local read-out,
 *       softmax over the two judgment logits. A judgment token missing from the top
 *       logprobs gets the smallest listed logprob (an upper bound). Probes go out shortest
 *       prefix first, so a server's prefix cache sees each shared prefix before its
 *       extensions; being generation requests they read that cache (pooling does not).
 *
 * The input format is rendered locally by the same code as the embedded PRMs
 * (prm_local.c's pd_prm_render), from --prm-tokenizer or the #MODEL name (a local model
 * directory or a repo id in the Hugging Face cache). Steps are the search's steps without
 * the delimiter, as for the local PRMs. A request that fails for good fails its search. */
#include "backend_int.h"
#include "remote_int.h"
#include "ponder/hub.h"
#include "ponder/prm.h"
#include "ponder/tokenizer.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 64
#define POOL_BATCH 32         /* inputs per /pooling request */
#define REWARD_COVERED (-3.0f) /* a pending node whose reward comes from a descendant's answer */
#define WIDE_LOGPROBS 1024     /* second probe when a judgment token is not in the top 20 */

typedef struct rprm {
    int pooling;               /* 1: /pooling; 0: logprob probes */
    rh_client *http;
    char *spec, *model;
    pd_prm *p;                 /* the input format */
    pd_tokenizer *tok;         /* the PRM's tokenizer (judgment token ids) */
    int32_t good, bad;         /* judgment token ids (probes) */
    int reward_index;          /* pooling: which entry of a pair is the reward */
    char *delim;
    size_t delim_len;
    int ids_ok;                /* the server takes logprob_token_ids */
} rprm;

int pd_remote_is_spec(const char *spec) {
    return !strncmp(spec, "vllm-pooling+http", 17) || !strncmp(spec, "logprob+http", 12);
}

/* A node's whole input: its path's steps (delimiter stripped) rendered in the PRM's format. */
static int render_path(rprm *c, pd_tree *t, int32_t node, int32_t **ids, size_t *n_ids, size_t **pos, size_t *n_steps,
                       pd_error *err) {
    int32_t depth = pd_tree_path(t, node, NULL, 0);
    int32_t *path = malloc(((size_t)depth + 1) * sizeof *path);
    char **steps = calloc((size_t)depth + 1, sizeof *steps);
    int rc = path && steps ? 0 : pd_err_set(err, PD_ENOMEM, "out of memory");
    if (!rc) pd_tree_path(t, node, path, depth);
    for (int32_t k = 0; k < depth && !rc; k++) {
        const char *s = pd_tree_text(t, path[k]);
        size_t len = t->nodes[path[k]].text_len;
        if (c->delim_len && len >= c->delim_len && !memcmp(s + len - c->delim_len, c->delim, c->delim_len)) len -= c->delim_len;
        if (!(steps[k] = malloc(len + 1))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        else memcpy(steps[k], s, len), steps[k][len] = 0;
    }
    const char *problem = t->prob && t->prob->problem ? t->prob->problem : "";
    if (!rc) rc = pd_prm_render(c->p, problem, (const char *const *)steps, (size_t)depth, ids, n_ids, pos, err);
    *n_steps = (size_t)depth;
    for (int32_t k = 0; steps && k < depth; k++) free(steps[k]);
    free(steps);
    free(path);
    return rc;
}

/* ---- /pooling ---- */

typedef struct pjob {
    size_t req;                /* the score request */
    int32_t *ids;
    size_t n_ids;
    size_t n_steps;
} pjob;

typedef struct pcall {
    size_t *first, *count;     /* per HTTP request: its jobs */
    rp_pooling *res;
} pcall;

static int check_pool(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    pcall *x = ud;
    rp_pooling_free(&x->res[i]);
    return rp_parse_pooling(body, len, x->count[i], &x->res[i], why, cap);
}

static int score_pooling(rprm *c, pd_score_req *reqs, size_t n, pd_error *err) {
    int rc = 0;
    /* chains: a pending ancestor of another request is filled from that request's answer */
    for (size_t i = 0; i < n; i++)
        for (int32_t a = reqs[i].tree->nodes[reqs[i].node].parent; a > 0; a = reqs[i].tree->nodes[a].parent)
            if (reqs[i].tree->nodes[a].reward == PD_REWARD_PENDING) reqs[i].tree->nodes[a].reward = REWARD_COVERED;
    pjob *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t nj = 0;
    if (!jobs) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        if (reqs[i].tree->nodes[reqs[i].node].reward == REWARD_COVERED) continue;
        size_t *pos = NULL;
        jobs[nj].req = i;
        rc = render_path(c, reqs[i].tree, reqs[i].node, &jobs[nj].ids, &jobs[nj].n_ids, &pos, &jobs[nj].n_steps, err);
        free(pos);
        if (!rc) nj++;
    }
    size_t nh = (nj + POOL_BATCH - 1) / POOL_BATCH;
    rh_req *hr = calloc(nh ? nh : 1, sizeof *hr);
    char **bodies = calloc(nh ? nh : 1, sizeof *bodies);
    pcall x = {calloc(nh ? nh : 1, sizeof(size_t)), calloc(nh ? nh : 1, sizeof(size_t)), calloc(nh ? nh : 1, sizeof(rp_pooling))};
    if (!rc && (!hr || !bodies || !x.first || !x.count || !x.res)) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t h = 0; h < nh && !rc; h++) {
        x.first[h] = h * POOL_BATCH;
        x.count[h] = nj - x.first[h] < POOL_BATCH ? nj - x.first[h] : POOL_BATCH;
        json_t *o = json_object(), *in = json_array();
        json_object_set_new(o, "model", json_string(c->model));
        for (size_t k = 0; k < x.count[h]; k++) {
            pjob *j = &jobs[x.first[h] + k];
            json_t *a = json_array();
            for (size_t t = 0; t < j->n_ids; t++) json_array_append_new(a, json_integer(j->ids[t]));
            json_array_append_new(in, a);
        }
        json_object_set_new(o, "input", in);
        bodies[h] = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!bodies[h]) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        hr[h] = (rh_req){.path = "/pooling", .body = bodies[h], .endpoint = -1};
    }
    if (!rc && nh) rc = rh_run(c->http, hr, nh, check_pool, &x, err);
    for (size_t h = 0; h < nh && !rc; h++) {
        for (size_t k = 0; k < x.count[h] && !rc; k++) {
            pjob *j = &jobs[x.first[h] + k];
            pd_score_req *r = &reqs[j->req];
            pd_tree *t = r->tree;
            r->cost->scored++;
            if (!hr[h].ok) {
                if (!r->fail) rc = pd_err_set(err, PD_ENET, "remote prm: %s", hr[h].err);
                else if (!r->fail->code) pd_err_set(r->fail, PD_ENET, "remote prm: %s", hr[h].err);
                continue;
            }
            const rp_pooling *pr = &x.res[h];
            size_t rows = pr->n_rows[k], w = pr->width;
            if (rows < j->n_steps || (size_t)c->reward_index >= w) {
                char b[200];
                snprintf(b, sizeof b, "remote prm %s: %zu reward rows of width %zu for %zu steps", c->spec, rows, w, j->n_steps);
                if (!r->fail) rc = pd_err_set(err, PD_EFORMAT, "%s", b);
                else if (!r->fail->code) pd_err_set(r->fail, PD_EFORMAT, "%s", b);
                continue;
            }
            /* the last n_steps rows are the steps' (a problem holding a tag adds rows before) */
            const double *row0 = pr->rows[k] + (rows - j->n_steps) * w;
            int32_t at = r->node;
            for (size_t s = j->n_steps; s-- > 0 && at > 0; at = t->nodes[at].parent) {
                float v = (float)row0[s * w + (size_t)c->reward_index];
                if (!(v >= 0 && v <= 1)) v = v < 0 ? 0.0f : 1.0f;
                pd_node *nd = &t->nodes[at];
                if (at == r->node || nd->reward < 0) nd->reward = v;
            }
            r->cost->prm_tokens += j->n_ids;
        }
    }
    /* anything still marked covered (its descendant failed) is left unscored */
    for (size_t i = 0; i < n; i++)
        for (int32_t a = reqs[i].node; a > 0; a = reqs[i].tree->nodes[a].parent)
            if (reqs[i].tree->nodes[a].reward == REWARD_COVERED) reqs[i].tree->nodes[a].reward = 0.0f;
    for (size_t h = 0; h < nh; h++) {
        if (hr) rh_req_clear(&hr[h]);
        if (bodies) free(bodies[h]);
        if (x.res) rp_pooling_free(&x.res[h]);
    }
    for (size_t k = 0; k < nj; k++) free(jobs[k].ids);
    free(jobs);
    free(hr);
    free(bodies);
    free(x.first);
    free(x.count);
    free(x.res);
    return rc;
}

/* ---- log-probability probes ---- */

typedef struct probe {
    size_t req;
    size_t n_prompt;
    rp_completion res;
} probe;

static int check_probe(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    probe *p = ud;
    rp_completion_free(&p[i].res);
    if (rp_parse_completion(body, len, 1, &p[i].res, why, cap)) return -1;
    if (!p[i].res.c[0].has_logprobs || !p[i].res.c[0].n_top) {
        snprintf(why, cap, "the answer holds no logprobs");
        rp_completion_free(&p[i].res);
        return -1;
    }
    return 0;
}

/* P(good) / (P(good) + P(bad)) from the first position's logprobs. */
static float judge(const rprm *c, const rp_choice *ch, int *missing) {
    double lg = NAN, lb = NAN, lmin = INFINITY;
    for (size_t i = 0; i < ch->n_top; i++) {
        const rp_top *t = &ch->top[i];
        if (t->logprob < lmin) lmin = t->logprob;
        if (t->id == c->good) lg = t->logprob;
        else if (t->id == c->bad) lb = t->logprob;
    }
    if (missing) *missing = isnan(lg) || isnan(lb);
    if (isnan(lg) && isnan(lb)) return 0.5f;
    if (isnan(lg)) lg = lmin;
    if (isnan(lb)) lb = lmin;
    return (float)(1.0 / (1.0 + exp(lb - lg)));
}

static int cmp_len(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int score_probes(rprm *c, pd_score_req *reqs, size_t n, pd_error *err) {
    probe *pr = calloc(n ? n : 1, sizeof *pr);
    rh_req *hr = calloc(n ? n : 1, sizeof *hr);
    char **bodies = calloc(n ? n : 1, sizeof *bodies);
    size_t (*order)[2] = calloc(n ? n : 1, sizeof *order);
    int rc = pr && hr && bodies && order ? 0 : pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0, *pos = NULL, ns = 0;
        rc = render_path(c, reqs[i].tree, reqs[i].node, &ids, &n_ids, &pos, &ns, err);
        if (!rc && !ns) rc = pd_err_set(err, PD_EINVAL, "remote prm: the root has no step to score");
        if (!rc) {
            size_t np = pos[ns - 1] + 1; /* up to the read-out position */
            json_t *o = json_object(), *p = json_array();
            json_object_set_new(o, "model", json_string(c->model));
            for (size_t t = 0; t < np; t++) json_array_append_new(p, json_integer(ids[t]));
            json_object_set_new(o, "prompt", p);
            json_object_set_new(o, "max_tokens", json_integer(1));
            json_object_set_new(o, "temperature", json_real(0.0));
            json_object_set_new(o, "n", json_integer(1));
            json_object_set_new(o, "logprobs", json_integer(20));
            json_object_set_new(o, "return_tokens_as_token_ids", json_true());
            if (c->ids_ok) {
                json_t *li = json_array();
                json_array_append_new(li, json_integer(c->good));
                json_array_append_new(li, json_integer(c->bad));
                json_object_set_new(o, "logprob_token_ids", li);
            }
            bodies[i] = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            if (!bodies[i]) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            pr[i].req = i;
            pr[i].n_prompt = np;
            order[i][0] = np;
            order[i][1] = i;
        }
        free(ids);
        free(pos);
    }
    /* shortest prefix first: what others extend reaches the server's cache first */
    if (!rc) qsort(order, n, sizeof *order, cmp_len);
    probe *sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!rc && !sorted) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t k = 0; k < n && !rc; k++) {
        size_t i = order[k][1];
        sorted[k] = pr[i];
        hr[k] = (rh_req){.path = "/completions", .body = bodies[i], .endpoint = -1};
    }
    uint8_t *wide = calloc(n ? n : 1, 1);
    size_t n_wide = 0;
    if (!rc && !wide) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    if (!rc && n) rc = rh_run(c->http, hr, n, check_probe, sorted, err);
    for (size_t k = 0; k < n && !rc; k++) {
        pd_score_req *r = &reqs[sorted[k].req];
        r->cost->scored++;
        if (!hr[k].ok) {
            if (!r->fail) rc = pd_err_set(err, PD_ENET, "remote prm: %s", hr[k].err);
            else if (!r->fail->code) pd_err_set(r->fail, PD_ENET, "remote prm: %s", hr[k].err);
            continue;
        }
        const rp_completion *res = &sorted[k].res;
        int missing = 0;
        r->tree->nodes[r->node].reward = judge(c, &res->c[0], &missing);
        r->cost->prm_tokens += res->has_usage ? res->prompt_tokens - res->cached_tokens : sorted[k].n_prompt;
        wide[k] = missing; /* a judgment token outside the top 20: ask again for more */
        n_wide += missing;
    }
    /* second pass for those: a wide logprobs list (llama-server takes it; a server that refuses
     * it leaves the bound from the first pass) */
    if (!rc && n_wide) {
        rh_req *h2 = calloc(n_wide, sizeof *h2);
        probe *p2 = calloc(n_wide, sizeof *p2);
        char **b2 = calloc(n_wide, sizeof *b2);
        size_t *of = calloc(n_wide, sizeof *of), m = 0;
        if (!h2 || !p2 || !b2 || !of) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        for (size_t k = 0; k < n && !rc; k++) {
            if (!wide[k]) continue;
            const char *body = bodies[order[k][1]], *at = strstr(body, "\"logprobs\":20");
            pd_buf nb = {0};
            if (!at) continue;
            pd_buf_append(&nb, body, (size_t)(at - body));
            pd_buf_printf(&nb, "\"logprobs\":%d", WIDE_LOGPROBS);
            pd_buf_puts(&nb, at + strlen("\"logprobs\":20"));
            if (!nb.data) continue;
            b2[m] = nb.data;
            h2[m] = (rh_req){.path = "/completions", .body = b2[m], .endpoint = -1};
            of[m++] = k;
        }
        if (!rc && m) rc = rh_run(c->http, h2, m, check_probe, p2, err);
        for (size_t i = 0; i < m && !rc; i++) {
            if (!h2[i].ok) continue;
            pd_score_req *r = &reqs[sorted[of[i]].req];
            r->tree->nodes[r->node].reward = judge(c, &p2[i].res.c[0], NULL);
        }
        for (size_t i = 0; i < m; i++) {
            rh_req_clear(&h2[i]);
            rp_completion_free(&p2[i].res);
            free(b2[i]);
        }
        free(h2);
        free(p2);
        free(b2);
        free(of);
    }
    for (size_t k = 0; k < n; k++) {
        if (sorted) rp_completion_free(&sorted[k].res);
        if (hr) rh_req_clear(&hr[k]);
        if (bodies) free(bodies[k]);
    }
    free(wide);
    free(sorted);
    free(pr);
    free(hr);
    free(bodies);
    free(order);
    return rc;
}

static int rprm_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    rprm *c = ctx;
    return c->pooling ? score_pooling(c, reqs, n, err) : score_probes(c, reqs, n, err);
}

static void rprm_free(void *ctx) {
    rprm *c = ctx;
    if (!c) return;
    rh_client_free(c->http);
    pd_prm_close(c->p);
    pd_tokenizer_free(c->tok);
    free(c->spec);
    free(c->model);
    free(c->delim);
    free(c);
}

/* The judgment tokens' ids, as prm_local.c picks them (math-shepherd: encode("+ -") after
 * BOS; rlhflow: the last id of each string). */
static int judgment_ids(rprm *c, const pd_backend_opts *o, pd_error *err) {
    const char *good = o->prm_good_token ? o->prm_good_token : "+", *bad = o->prm_bad_token ? o->prm_bad_token : "-";
    const pd_tokenizer *tok = c->tok;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc;
    if (pd_prm_get_kind(c->p) == PD_PRM_MATH_SHEPHERD) {
        pd_buf s = {0};
        if (pd_buf_printf(&s, "%s %s", good, bad)) return pd_err_set(err, PD_ENOMEM, "out of memory");
        rc = pd_tokenizer_encode(tok, s.data, s.len, 1, &ids, &n, err);
        pd_buf_free(&s);
        if (rc) return rc;
        size_t k = n && ids[0] == pd_tokenizer_bos_id(tok) ? 1 : 0;
        if (n - k != 2) rc = pd_err_set(err, PD_EFORMAT, "remote prm: \"%s %s\" is not two tokens", good, bad);
        else c->good = ids[k], c->bad = ids[k + 1];
        free(ids);
        return rc;
    }
    for (int w = 0; w < 2; w++) {
        const char *s = w ? bad : good;
        if ((rc = pd_tokenizer_encode(tok, s, strlen(s), 0, &ids, &n, err))) return rc;
        if (!n) rc = pd_err_set(err, PD_EFORMAT, "remote prm: \"%s\" tokenizes to nothing", s);
        else if (w) c->bad = ids[n - 1];
        else c->good = ids[n - 1];
        free(ids);
        ids = NULL;
        if (rc) return rc;
    }
    return 0;
}

static int check_probe1(void *ud, size_t i, const char *body, size_t len, char *why, size_t cap) {
    (void)i;
    rp_completion *r = ud;
    rp_completion_free(r);
    return rp_parse_completion(body, len, 1, r, why, cap);
}

int pd_remote_verifier_open(pd_verifier *ver, const char *spec, const pd_backend_opts *o, pd_error *err) {
    memset(ver, 0, sizeof *ver);
    pd_backend_opts d;
    if (!o) pd_backend_opts_default(&d), o = &d;
    rprm *c = calloc(1, sizeof *c);
    if (!c || !(c->spec = strdup(spec))) {
        free(c);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    c->pooling = !strncmp(spec, "vllm-pooling+", 13);
    const char *url = strchr(spec, '+') + 1;
    char *bases[MAX_ENDPOINTS];
    int nb = rh_split_spec(url, bases, MAX_ENDPOINTS, &c->model, err), rc = 0;
    if (nb < 0) {
        rprm_free(c);
        return err ? err->code : PD_EINVAL;
    }
    for (int i = 0; c->pooling && i < nb; i++) { /* /pooling lives at the server's root */
        size_t l = strlen(bases[i]);
        if (l > 3 && !strcmp(bases[i] + l - 3, "/v1")) bases[i][l - 3] = 0;
    }
    const char *key = o->remote_api_key ? o->remote_api_key : getenv("PONDER_REMOTE_API_KEY");
    rh_opts ho = {key, o->remote_inflight, o->remote_timeout, o->remote_retries, o->remote_backoff};
    c->http = rh_client_new((const char *const *)bases, nb, &ho, err);
    for (int i = 0; i < nb; i++) free(bases[i]);
    if (!c->http) {
        rprm_free(c);
        return err ? err->code : PD_ENOMEM;
    }
    const char *tspec = o->prm_tokenizer ? o->prm_tokenizer : c->model;
    if (!tspec || !c->model)
        rc = pd_err_set(err, PD_EINVAL, "remote prm %s: name the model (URL#MODEL); its input format is rendered locally from "
                                        "--prm-tokenizer DIR|REPO (else the #MODEL name)", spec);
    pd_prm_opts po = {.kind = (pd_prm_kind)o->prm_kind, .step_tag = o->prm_step_tag, .good_token = o->prm_good_token,
                      .bad_token = o->prm_bad_token, .system_prompt = o->prm_system_prompt, .n_threads = 1,
                      .format_only = 1};
    if (!rc && !(c->p = pd_prm_open(tspec, &po, err)))
        rc = pd_err_prefix(err, "remote prm %s: its input format needs the PRM's tokenizer and config (--prm-tokenizer DIR|REPO)", spec);
    pd_prm_kind kind = c->p ? pd_prm_get_kind(c->p) : PD_PRM_AUTO;
    if (!rc && !c->pooling && kind != PD_PRM_MATH_SHEPHERD && kind != PD_PRM_RLHFLOW)
        rc = pd_err_set(err, PD_EUNSUPPORTED, "remote prm %s: logprob probes read token-judgment PRMs (math-shepherd, rlhflow), "
                                              "not %s; serve it with vLLM's pooling runner (vllm-pooling+...)", spec, pd_prm_kind_name(kind));
    if (!rc && c->pooling && kind != PD_PRM_QWEN2 && kind != PD_PRM_MATH_SHEPHERD)
        rc = pd_err_set(err, PD_EUNSUPPORTED, "remote prm %s: vLLM pools qwen2-prm and math-shepherd PRMs, not %s", spec,
                        pd_prm_kind_name(kind));
    if (!rc) {
        c->reward_index = kind == PD_PRM_QWEN2 ? 1 : 0;
        c->delim = strdup(o->step_delimiter[0] ? o->step_delimiter : "\n\n");
        if (!c->delim) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        else c->delim_len = strlen(c->delim);
    }
    char dir[4096];
    if (!rc && !c->pooling && !(rc = pd_hub_resolve(tspec, dir, sizeof dir, err)) && !(c->tok = pd_tokenizer_load(dir, err)))
        rc = err && err->code ? err->code : PD_EINVAL;
    if (!rc && !c->pooling) rc = judgment_ids(c, o, err);
    /* probe: the server answers, and whether it takes logprob_token_ids */
    if (!rc && !c->pooling) {
        for (int attempt = 0; attempt < 2 && !rc; attempt++) {
            json_t *b = json_object(), *p = json_array();
            json_object_set_new(b, "model", json_string(c->model));
            json_array_append_new(p, json_integer(c->good));
            json_object_set_new(b, "prompt", p);
            json_object_set_new(b, "max_tokens", json_integer(1));
            json_object_set_new(b, "temperature", json_real(0.0));
            json_object_set_new(b, "logprobs", json_integer(20));
            json_object_set_new(b, "return_tokens_as_token_ids", json_true());
            if (attempt == 0) {
                json_t *li = json_array();
                json_array_append_new(li, json_integer(c->good));
                json_array_append_new(li, json_integer(c->bad));
                json_object_set_new(b, "logprob_token_ids", li);
            }
            char *body = json_dumps(b, JSON_COMPACT);
            json_decref(b);
            rp_completion res = {0};
            rh_req hr = {.path = "/completions", .body = body, .endpoint = 0};
            rc = body ? rh_run(c->http, &hr, 1, check_probe1, &res, err) : pd_err_set(err, PD_ENOMEM, "out of memory");
            free(body);
            if (!rc && hr.ok) {
                c->ids_ok = attempt == 0;
                if (!res.c[0].has_logprobs) rc = pd_err_set(err, PD_EUNSUPPORTED, "remote prm %s: the server returns no logprobs", spec);
                rp_completion_free(&res);
                rh_req_clear(&hr);
                break;
            }
            if (!rc && (attempt == 1 || hr.status < 400 || hr.status >= 500))
                rc = pd_err_set(err, PD_ENET, "remote prm %s: %s", spec, hr.err);
            rp_completion_free(&res);
            rh_req_clear(&hr);
        }
    }
    if (rc) {
        rprm_free(c);
        return rc;
    }
    ver->name = c->pooling ? "remote-pooling" : "remote-logprob";
    ver->n_params = (double)pd_prm_n_params(c->p);
    ver->ctx = c;
    ver->score = rprm_score;
    ver->release = NULL;
    ver->free = rprm_free;
    return 0;
}
