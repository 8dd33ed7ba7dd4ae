/* test_serve_remote.c — the remote backends against `ponder serve` and fake servers, over
 * loopback:
 *   - the remote policy against ponder serve gives exactly the local policy's searches
 *     (texts, token ids, rewards, generated tokens) for the same seeds, with n per request
 *     or one request per child; `ponder eval` against `ponder serve` = the local eval;
 *   - logprob probes of token-judgment PRMs (math-shepherd, rlhflow) served by ponder serve
 *     agree with the local PRMs within 1e-4; vllm-pooling against ponder serve's /pooling
 *     (qwen2-prm) too, and against a fake vLLM /pooling server built here (shapes from
 *     ../shared/reference/serving.md §2.1);
 *   - token confidences of the remote policy from ponder serve's logprobs = the local engine's
 *     (each node's conf, certainty, conf_low; the online stop; the confidence verifiers and
 *     DeepConf end to end); fake vLLM servers without logprobs or with too few: the search
 *     fails naming the server and what is missing, and logprobs are asked only when needed;
 *   - faults: the server killed and restarted in the middle of an eval (the client retries,
 *     the run finishes with the same results); a server that answers garbage or hangs (a
 *     clear error naming the endpoint after the retries, each problem recorded as failed,
 *     the run goes on). */
#include "ponder.h"
#include "serve_util.h"
#include "test.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#define POLICY "tests/fixtures/prm/rlhflow"
#define QWEN_PRM "tests/fixtures/prm/qwen2-prm"
#define SHEPHERD "tests/fixtures/prm/math-shepherd"

static pd_server *start_serve(const char *policy, const char *prm, int *port) {
    pd_serve_opts o;
    pd_serve_opts_default(&o);
    o.port = 0;
    o.policy = policy;
    o.prm = prm;
    o.quiet = 1;
    static pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    strcpy(bo.step_delimiter, " ");
    bo.n_threads = 2;
    o.backend = &bo;
    pd_error err = {0};
    pd_server *s = NULL;
    if (pd_serve_start(&s, &o, &err)) printf("serve %s: %s\n", policy, err.msg);
    *port = s ? pd_serve_port(s) : 0;
    return s;
}

static void opts(pd_backend_opts *o) {
    pd_backend_opts_default(o);
    strcpy(o->step_delimiter, " ");
    o->n_threads = 2;
    o->remote_timeout = 30;
    o->remote_retries = 2;
    o->remote_backoff = 0.05;
}

/* ---- collecting results ---- */

#define NP 12
typedef struct res {
    char *text[NP][16];
    int32_t *ids[NP][16];
    size_t n_ids[NP][16];
    float *rew[NP][16];
    int n_steps[NP][16];
    int n[NP];
    int failed[NP];
    char err[NP][256];
    uint64_t policy_tokens[NP];
} res;

static int collect(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)err;
    res *x = ud;
    x->n[job] = r->n;
    x->failed[job] = r->failed;
    snprintf(x->err[job], sizeof x->err[job], "%s", r->error);
    x->policy_tokens[job] = r->cost.policy_tokens;
    for (int32_t i = 0; i < r->n && i < 16; i++) {
        x->text[job][i] = strdup(r->c[i].text);
        x->n_ids[job][i] = r->c[i].n_ids;
        x->ids[job][i] = malloc((r->c[i].n_ids + 1) * sizeof(int32_t));
        if (r->c[i].n_ids) memcpy(x->ids[job][i], r->c[i].ids, r->c[i].n_ids * sizeof(int32_t));
        x->n_steps[job][i] = r->c[i].n_steps;
        x->rew[job][i] = malloc(((size_t)r->c[i].n_steps + 1) * sizeof(float));
        memcpy(x->rew[job][i], r->c[i].rewards, (size_t)r->c[i].n_steps * sizeof(float));
    }
    return 0;
}

static void res_free(res *x) {
    for (int j = 0; j < NP; j++)
        for (int i = 0; i < 16; i++) free(x->text[j][i]), free(x->ids[j][i]), free(x->rew[j][i]);
    memset(x, 0, sizeof *x);
}

static char ptext[NP][64], pid[NP][16];
static pd_problem probs[NP];
static int32_t g_conf_window; /* when set: the searches' window (DeepConf runs) */

static int run(const pd_policy *pol, const pd_verifier *ver, pd_strategy s, res *out, pd_error *err) {
    memset(out, 0, sizeof *out);
    if (!pol->expand || !ver->score) return pd_err_set(err, PD_EINVAL, "a backend did not open");
    pd_sched_job jobs[NP];
    for (int i = 0; i < NP; i++) {
        snprintf(ptext[i], sizeof ptext[i], "What is %d + %d?", i, 3 * i + 2);
        snprintf(pid[i], sizeof pid[i], "q%d", i);
        probs[i] = (pd_problem){pid[i], ptext[i], NULL, NULL, 1};
        pd_search_cfg_default(&jobs[i].cfg);
        jobs[i].prob = &probs[i];
        jobs[i].cfg.strategy = s;
        jobs[i].cfg.n = 4;
        jobs[i].cfg.beam_width = 2;
        jobs[i].cfg.num_iterations = 4;
        jobs[i].cfg.step_max_tokens = 12;
        jobs[i].cfg.seed = 7;
        if (g_conf_window) jobs[i].cfg.conf_window = g_conf_window, jobs[i].cfg.deepconf_keep = 0.1f;
    }
    memset(out, 0, sizeof *out);
    return pd_sched_run(pol, ver, jobs, NP, NP, collect, out, NULL, err);
}

/* Same texts, ids and rewards (rewards within tol; 0: bit-identical); generated tokens equal,
 * or (tokens_ge) b's at least a's. */
static void same_ex(const res *a, const res *b, double tol, const char *what, int tokens_ge) {
    int steps = 0;
    for (int j = 0; j < NP; j++) {
        CHECK_MSG(!a->failed[j] && !b->failed[j], "%s: problem %d failed: %s%s", what, j, a->err[j], b->err[j]);
        CHECK_EQ_INT(a->n[j], b->n[j]);
        for (int i = 0; i < a->n[j] && i < b->n[j] && i < 16; i++) {
            CHECK_MSG(a->text[j][i] && b->text[j][i] && !strcmp(a->text[j][i], b->text[j][i]), "%s: problem %d completion %d", what, j, i);
            CHECK(a->n_ids[j][i] == b->n_ids[j][i] && !memcmp(a->ids[j][i], b->ids[j][i], a->n_ids[j][i] * sizeof(int32_t)));
            CHECK_EQ_INT(a->n_steps[j][i], b->n_steps[j][i]);
            for (int k = 0; k < a->n_steps[j][i] && k < b->n_steps[j][i]; k++) {
                double d = fabs((double)a->rew[j][i][k] - (double)b->rew[j][i][k]);
                CHECK_MSG(tol ? d <= tol : d == 0, "%s: problem %d completion %d step %d: %.9g vs %.9g", what, j, i, k, a->rew[j][i][k],
                          b->rew[j][i][k]);
                steps++;
            }
        }
        if (tokens_ge) CHECK(b->policy_tokens[j] >= a->policy_tokens[j]);
        else CHECK_EQ_INT(a->policy_tokens[j], b->policy_tokens[j]);
    }
    CHECK(steps > NP * 4);
}

static void same(const res *a, const res *b, double tol, const char *what) { same_ex(a, b, tol, what, 0); }

/* The remote policy against ponder serve = the local policy, every strategy, with n per
 * request (ponder's per-choice seeds) and with one request per child. */
static void t_policy_equals_local(void) {
    int port;
    pd_server *s = start_serve(POLICY, NULL, &port);
    if (!s) {
        CHECK(0);
        return;
    }
    pd_backend_opts o;
    opts(&o);
    pd_error err = {0};
    pd_policy local, remote, remote1;
    pd_verifier ver;
    char spec[128];
    snprintf(spec, sizeof spec, "http://127.0.0.1:%d/v1#rlhflow", port);
    o.tokenizer = POLICY;
    CHECK_MSG(pd_policy_open_opts(&local, POLICY, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_policy_open_opts(&remote, spec, &o, &err) == 0, "%s", err.msg);
    o.remote_n = 0;
    CHECK_MSG(pd_policy_open_opts(&remote1, spec, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_verifier_open_opts(&ver, QWEN_PRM, &local, &o, &err) == 0, "%s", err.msg);
    CHECK(remote.n_params == local.n_params); /* FLOPs from the config's shape = the engine's count */
    for (int st = 0; st < 3; st++) {
        static res a, b, c;
        CHECK_MSG(run(&local, &ver, (pd_strategy)st, &a, &err) == 0, "%s", err.msg);
        CHECK_MSG(run(&remote, &ver, (pd_strategy)st, &b, &err) == 0, "%s", err.msg);
        CHECK_MSG(run(&remote1, &ver, (pd_strategy)st, &c, &err) == 0, "%s", err.msg);
        same(&a, &b, 0, pd_strategy_name((pd_strategy)st));
        same(&a, &c, 0, pd_strategy_name((pd_strategy)st));
        res_free(&a);
        res_free(&b);
        res_free(&c);
    }
    /* a wrong model name is an error naming what the server serves */
    snprintf(spec, sizeof spec, "http://127.0.0.1:%d/v1#other", port);
    pd_policy bad;
    CHECK(pd_policy_open_opts(&bad, spec, &o, &err) != 0 && strstr(err.msg, "rlhflow") && strstr(err.msg, "other"));
    pd_verifier_close(&ver);
    pd_policy_close(&remote1);
    pd_policy_close(&remote);
    pd_policy_close(&local);
    pd_serve_stop(s);
}

/* k children of the root in `mode`, confidences wanted (or not); returns the tree's node
 * count. */
static int32_t expand_root(const pd_policy *pol, pd_tree *t, int mode, int k, float stop, int want, int32_t *out, pd_cost *cost) {
    static pd_problem prob = {(char *)"q", (char *)"What is 2 + 5?", NULL, NULL, 1};
    pd_tree_init(t, &prob, 5);
    t->step_max_tokens = 16;
    pd_expand_req r = {.tree = t, .leaf = 0, .k = k, .cost = cost, .out = out, .mode = (uint8_t)mode, .conf_window = 4,
                       .conf_stop = stop, .want_conf = (uint8_t)want};
    pd_error err = {0};
    CHECK_MSG(pol->expand(pol->ctx, &r, 1, &err) == 0, "%s", err.msg);
    return t->n_nodes;
}

static void tree_done(const pd_policy *pol, pd_tree *t) {
    for (int32_t id = t->n_nodes - 1; id >= 0 && pol->release; id--) pol->release(pol->ctx, t, id);
    pd_tree_free(t);
}

/* Each node's confidence figures equal (conf, conf_low within 1e-5 relative: the server sends
 * log-probabilities as floats; certainty exactly: ponder serve's extension computes it as the
 * engine does); returns how many nodes were stopped. */
static int same_conf(const pd_tree *a, const pd_tree *b, const char *what) {
    int stopped = 0;
    CHECK_EQ_INT(a->n_nodes, b->n_nodes);
    for (int32_t i = 1; i < a->n_nodes && i < b->n_nodes; i++) {
        const pd_node *x = &a->nodes[i], *y = &b->nodes[i];
        CHECK_MSG(x->n_tokens == y->n_tokens && x->status == y->status && x->stopped == y->stopped, "%s: node %d: %u/%u tokens, "
                  "status %d/%d, stopped %d/%d", what, (int)i, x->n_tokens, y->n_tokens, x->status, y->status, x->stopped, y->stopped);
        CHECK_MSG((x->conf > 0 || !x->n_tokens) && fabsf(x->conf - y->conf) <= 1e-5f * x->conf, "%s: node %d conf %.9g vs %.9g", what, (int)i, x->conf, y->conf);
        CHECK_MSG(fabsf(x->conf_low - y->conf_low) <= 1e-5f * x->conf_low, "%s: node %d conf_low %.9g vs %.9g", what, (int)i, x->conf_low,
                  y->conf_low);
        CHECK_MSG((x->certainty > 0 || !x->n_tokens) && x->certainty == y->certainty, "%s: node %d certainty %.9g vs %.9g", what, (int)i, x->certainty,
                  y->certainty);
        stopped += x->stopped;
    }
    return stopped;
}

/* Token confidences of the remote policy (ponder serve's logprobs) = the local engine's: each
 * node's figures, the online stop, and the confidence verifiers and DeepConf end to end. */
static void t_confidence_equals_local(void) {
    int port;
    pd_server *s = start_serve(POLICY, NULL, &port);
    if (!s) {
        CHECK(0);
        return;
    }
    pd_backend_opts o;
    opts(&o);
    o.tokenizer = POLICY;
    pd_error err = {0};
    pd_policy pols[3];
    char spec[128];
    snprintf(spec, sizeof spec, "http://127.0.0.1:%d/v1#rlhflow", port);
    CHECK_MSG(pd_policy_open_opts(&pols[0], POLICY, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_policy_open_opts(&pols[1], spec, &o, &err) == 0, "%s", err.msg);
    o.remote_n = 0;
    CHECK_MSG(pd_policy_open_opts(&pols[2], spec, &o, &err) == 0, "%s", err.msg);
    /* 1. node figures, steps and rollouts */
    for (int mode = 0; mode < 2; mode++) {
        pd_tree t[3];
        int32_t out[3][6];
        pd_cost cost[3] = {{0}};
        for (int p = 0; p < 3; p++) expand_root(&pols[p], &t[p], mode, 6, 0, 1, out[p], &cost[p]);
        for (int p = 1; p < 3; p++) {
            same_conf(&t[0], &t[p], mode ? "rollout" : "step");
            CHECK(cost[p].policy_tokens == cost[0].policy_tokens);
        }
        for (int p = 0; p < 3; p++) tree_done(&pols[p], &t[p]);
    }
    /* 2. the online stop at the local rollouts' median lowest window: some stop, the same ones,
     * at the same token; the server generated them to their end (counted) */
    {
        pd_tree t[3];
        int32_t out[3][8];
        pd_cost cost[3] = {{0}};
        expand_root(&pols[0], &t[0], PD_EXPAND_ROLLOUT, 8, 0, 1, out[0], &cost[0]);
        float low[8];
        for (int i = 0; i < 8; i++) low[i] = t[0].nodes[out[0][i]].conf_low;
        for (int i = 1; i < 8; i++)
            for (int j = i; j > 0 && low[j - 1] > low[j]; j--) {
                float x = low[j];
                low[j] = low[j - 1], low[j - 1] = x;
            }
        float stop = (low[3] + low[4]) / 2;
        tree_done(&pols[0], &t[0]);
        memset(cost, 0, sizeof cost);
        for (int p = 0; p < 3; p++) expand_root(&pols[p], &t[p], PD_EXPAND_ROLLOUT, 8, stop, 1, out[p], &cost[p]);
        for (int p = 1; p < 3; p++) {
            int n_stopped = same_conf(&t[0], &t[p], "online stop");
            CHECK_MSG(n_stopped > 0 && n_stopped < 8, "%d of 8 stopped", n_stopped);
            CHECK(cost[p].policy_tokens > cost[0].policy_tokens);
        }
        for (int p = 0; p < 3; p++) tree_done(&pols[p], &t[p]);
    }
    /* 3. not wanted, not asked: the remote nodes carry no confidence */
    {
        pd_tree t;
        int32_t out[2];
        pd_cost cost = {0};
        expand_root(&pols[1], &t, PD_EXPAND_STEP, 2, 0, 0, out, &cost);
        CHECK(t.nodes[out[0]].conf == 0 && t.nodes[out[1]].certainty == 0);
        tree_done(&pols[1], &t);
    }
    /* 4. searches: the confidence verifiers under best-of-N and beam search, DeepConf online */
    const char *vers[2] = {"deepconf", "self-certainty"};
    for (int v = 0; v < 2; v++) {
        pd_verifier ver;
        CHECK_MSG(pd_verifier_open_opts(&ver, vers[v], &pols[0], &o, &err) == 0, "%s", err.msg);
        pd_strategy sts[3] = {PD_BEST_OF_N, PD_BEAM_SEARCH, PD_DEEPCONF};
        for (int k = 0; k < 3; k++) {
            static res a, b, c;
            g_conf_window = sts[k] == PD_DEEPCONF ? 4 : 0;
            CHECK_MSG(run(&pols[0], &ver, sts[k], &a, &err) == 0, "%s", err.msg);
            CHECK_MSG(run(&pols[1], &ver, sts[k], &b, &err) == 0, "%s", err.msg);
            CHECK_MSG(run(&pols[2], &ver, sts[k], &c, &err) == 0, "%s", err.msg);
            char what[64];
            snprintf(what, sizeof what, "%s %s", vers[v], pd_strategy_name(sts[k]));
            same_ex(&a, &b, 1e-5, what, sts[k] == PD_DEEPCONF);
            same_ex(&a, &c, 1e-5, what, sts[k] == PD_DEEPCONF);
            int nonzero = 0;
            for (int j = 0; j < NP; j++)
                for (int i = 0; i < b.n[j]; i++) nonzero += b.n_steps[j][i] && b.rew[j][i][b.n_steps[j][i] - 1] > 0;
            CHECK_MSG(nonzero > NP, "%s: %d rewarded completions", what, nonzero);
            res_free(&a);
            res_free(&b);
            res_free(&c);
        }
        g_conf_window = 0;
        pd_verifier_close(&ver);
    }
    for (int p = 2; p >= 0; p--) pd_policy_close(&pols[p]);
    pd_serve_stop(s);
}

/* Token-judgment PRMs by logprob probes against ponder serve = the local PRMs (1e-4). */
static void t_logprob_prm(void) {
    const char *kinds[2] = {SHEPHERD, POLICY};
    for (int k = 0; k < 2; k++) {
        int port;
        pd_server *s = start_serve(kinds[k], NULL, &port);
        if (!s) {
            CHECK(0);
            return;
        }
        pd_backend_opts o;
        opts(&o);
        o.prm_tokenizer = kinds[k];
        o.prm_kind = k == 0 ? PD_PRM_MATH_SHEPHERD : PD_PRM_RLHFLOW;
        pd_error err = {0};
        pd_policy pol;
        pd_verifier local, remote;
        char spec[160];
        snprintf(spec, sizeof spec, "logprob+http://127.0.0.1:%d/v1#%s", port, k == 0 ? "math-shepherd" : "rlhflow");
        CHECK_MSG(pd_policy_open_opts(&pol, POLICY, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_verifier_open_opts(&local, kinds[k], &pol, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_verifier_open_opts(&remote, spec, &pol, &o, &err) == 0, "%s", err.msg);
        for (int st = 0; st < 3; st += 2) {
            static res a, b;
            CHECK_MSG(run(&pol, &local, (pd_strategy)st, &a, &err) == 0, "%s", err.msg);
            CHECK_MSG(run(&pol, &remote, (pd_strategy)st, &b, &err) == 0, "%s", err.msg);
            same(&a, &b, 1e-4, k == 0 ? "math-shepherd" : "rlhflow");
            res_free(&a);
            res_free(&b);
        }
        pd_verifier_close(&remote);
        pd_verifier_close(&local);
        pd_policy_close(&pol);
        pd_serve_stop(s);
    }
}

/* vllm-pooling against ponder serve's /pooling (qwen2-prm) = the local PRM (1e-4). */
static void t_pooling_prm(void) {
    int port;
    pd_server *s = start_serve(POLICY, QWEN_PRM, &port);
    if (!s) {
        CHECK(0);
        return;
    }
    pd_backend_opts o;
    opts(&o);
    o.prm_tokenizer = QWEN_PRM;
    pd_error err = {0};
    pd_policy pol;
    pd_verifier local, remote;
    char spec[160];
    snprintf(spec, sizeof spec, "vllm-pooling+http://127.0.0.1:%d#qwen2-prm", port);
    CHECK_MSG(pd_policy_open_opts(&pol, POLICY, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_verifier_open_opts(&local, QWEN_PRM, &pol, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_verifier_open_opts(&remote, spec, &pol, &o, &err) == 0, "%s", err.msg);
    for (int st = 0; st < 3; st++) {
        static res a, b;
        CHECK_MSG(run(&pol, &local, (pd_strategy)st, &a, &err) == 0, "%s", err.msg);
        CHECK_MSG(run(&pol, &remote, (pd_strategy)st, &b, &err) == 0, "%s", err.msg);
        same(&a, &b, 1e-4, "pooling");
        res_free(&a);
        res_free(&b);
    }
    pd_verifier_close(&remote);
    pd_verifier_close(&local);
    pd_policy_close(&pol);
    pd_serve_stop(s);
}

/* ---- fake servers ---- */

typedef enum { FAKE_VLLM_POOLING, FAKE_GARBAGE, FAKE_HANG, FAKE_NO_LOGPROBS, FAKE_FEW_LOGPROBS } fake_mode;

typedef struct fake {
    struct MHD_Daemon *d;
    int port;
    fake_mode mode;
    int requests, bad_shape;
    int asked_logprobs;    /* completions that asked for top-20 logprobs */
} fake;

typedef struct fconn {
    pd_buf body;
} fconn;

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* vLLM's /pooling for a qwen2-prm: [p_neg, p_pos] at every <extra_0> (903 in the fixture's
 * vocabulary); here p_pos = (index of the tag + 1) / 100, so the test knows each reward. */
static char *pooling_answer(fake *f, const char *body, size_t len) {
    json_t *o = json_loadb(body, len, 0, NULL), *in = json_object_get(o, "input");
    if (!json_is_string(json_object_get(o, "model")) || !json_is_array(in) || !json_array_size(in)) f->bad_shape++;
    json_t *out = json_object(), *data = json_array();
    for (size_t i = 0; i < json_array_size(in); i++) {
        json_t *ids = json_array_get(in, i), *rows = json_array();
        if (!json_is_array(ids)) f->bad_shape++;
        int tag = 0;
        for (size_t k = 0; k < json_array_size(ids); k++)
            if (json_integer_value(json_array_get(ids, k)) == 903) {
                double p = (tag++ + 1) / 100.0;
                json_t *pair = json_array();
                json_array_append_new(pair, json_real(1 - p));
                json_array_append_new(pair, json_real(p));
                json_array_append_new(rows, pair);
            }
        json_t *item = json_object();
        json_object_set_new(item, "index", json_integer((json_int_t)i));
        json_object_set_new(item, "object", json_string("pooling"));
        json_object_set_new(item, "data", rows);
        json_array_append_new(data, item);
    }
    json_object_set_new(out, "id", json_string("pool-1"));
    json_object_set_new(out, "object", json_string("list"));
    json_object_set_new(out, "model", json_string("qwen2-prm"));
    json_object_set_new(out, "data", data);
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(o);
    return s;
}

static enum MHD_Result fake_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *ver,
                                   const char *up, size_t *up_size, void **cc) {
    (void)method;
    (void)ver;
    fake *f = cls;
    fconn *fc = *cc;
    if (!fc) {
        *cc = calloc(1, sizeof(fconn));
        return MHD_YES;
    }
    if (*up_size) {
        pd_buf_append(&fc->body, up, *up_size);
        *up_size = 0;
        return MHD_YES;
    }
    __atomic_fetch_add(&f->requests, 1, __ATOMIC_SEQ_CST);
    if (!strcmp(url, "/v1/models"))
        return reply(c, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"rlhflow\",\"object\":\"model\",\"owned_by\":\"vllm\"}]}");
    if (f->mode == FAKE_VLLM_POOLING && !strcmp(url, "/pooling")) {
        char *s = pooling_answer(f, fc->body.data ? fc->body.data : "", fc->body.len);
        enum MHD_Result r = reply(c, 200, s ? s : "{}");
        free(s);
        return r;
    }
    /* the open's capability probe (max_tokens 1) gets a proper answer; searches do not */
    int probe = fc->body.data && strstr(fc->body.data, "\"max_tokens\":1,");
    if (probe)
        return reply(c, 200, "{\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"x\",\"finish_reason\":\"length\"},"
                              "{\"index\":1,\"text\":\"y\",\"finish_reason\":\"length\"}]}");
    if (f->mode == FAKE_NO_LOGPROBS || f->mode == FAKE_FEW_LOGPROBS) {
        /* vLLM's shape: n choices of two tokens (ids 10, 11), cut by the length; logprobs
         * absent, or two per position whatever was asked */
        json_t *o = json_loadb(fc->body.data ? fc->body.data : "", fc->body.len, 0, NULL);
        json_int_t n = json_integer_value(json_object_get(o, "n"));
        if (json_integer_value(json_object_get(o, "logprobs")) == 20) __atomic_fetch_add(&f->asked_logprobs, 1, __ATOMIC_SEQ_CST);
        json_decref(o);
        pd_buf b = {0};
        pd_buf_append(&b, "{\"choices\":[", 12);
        for (json_int_t i = 0; i < (n > 0 ? n : 1); i++) {
            char ch[400];
            snprintf(ch, sizeof ch, "%s{\"index\":%d,\"text\":\"ab\",\"finish_reason\":\"length\",\"token_ids\":[10,11]%s}", i ? "," : "",
                     (int)i, f->mode == FAKE_NO_LOGPROBS ? ""
                             : ",\"logprobs\":{\"top_logprobs\":[{\"token_id:10\":-0.1,\"token_id:3\":-2.5},"
                               "{\"token_id:11\":-0.2,\"token_id:4\":-1.5}]}");
            pd_buf_append(&b, ch, strlen(ch));
        }
        pd_buf_append(&b, "]}", 3);
        enum MHD_Result r = reply(c, 200, b.data);
        pd_buf_free(&b);
        return r;
    }
    if (f->mode == FAKE_HANG) {
        for (int i = 0; i < 30; i++) usleep(50000); /* bounded: 1.5 s, past the client's timeout */
        return reply(c, 200, "{}");
    }
    return reply(c, 200, "<html>garbage</html>");
}

static void fake_done(void *cls, struct MHD_Connection *c, void **cc, enum MHD_RequestTerminationCode t) {
    (void)cls;
    (void)c;
    (void)t;
    fconn *fc = *cc;
    if (fc) pd_buf_free(&fc->body);
    free(fc);
    *cc = NULL;
}

static int fake_start(fake *f, fake_mode mode) {
    memset(f, 0, sizeof *f);
    f->mode = mode;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD, 0, NULL, NULL, fake_handle, f,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, fake_done, f, MHD_OPTION_END);
    if (!f->d) return -1;
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

/* vllm-pooling against a fake vLLM: the request's shape, each step's reward = p_pos. */
static void t_fake_vllm_pooling(void) {
    fake f;
    if (fake_start(&f, FAKE_VLLM_POOLING)) {
        CHECK(0);
        return;
    }
    pd_backend_opts o;
    opts(&o);
    o.prm_tokenizer = QWEN_PRM;
    pd_error err = {0};
    pd_policy pol;
    pd_verifier remote;
    char spec[160];
    snprintf(spec, sizeof spec, "vllm-pooling+http://127.0.0.1:%d/v1#qwen2-prm", f.port);
    CHECK_MSG(pd_policy_open_opts(&pol, POLICY, &o, &err) == 0, "%s", err.msg);
    CHECK_MSG(pd_verifier_open_opts(&remote, spec, &pol, &o, &err) == 0, "%s", err.msg);
    static res b;
    CHECK_MSG(run(&pol, &remote, PD_BEST_OF_N, &b, &err) == 0, "%s", err.msg);
    int steps = 0;
    for (int j = 0; j < NP; j++)
        for (int i = 0; i < b.n[j]; i++)
            for (int k = 0; k < b.n_steps[j][i]; k++, steps++)
                CHECK_MSG(fabsf(b.rew[j][i][k] - (float)((k + 1) / 100.0)) < 1e-6, "step %d: %g", k, b.rew[j][i][k]);
    CHECK(steps > NP * 4);
    CHECK_EQ_INT(f.bad_shape, 0);
    CHECK(f.requests > 0);
    res_free(&b);
    pd_verifier_close(&remote);
    pd_policy_close(&pol);
    MHD_stop_daemon(f.d);
}

/* A server that answers garbage, or hangs: every problem fails with an error naming the
 * endpoint after the retries, and the run finishes. */
static void t_garbage_and_hang(void) {
    for (int mode = FAKE_GARBAGE; mode <= FAKE_HANG; mode++) {
        fake f;
        if (fake_start(&f, (fake_mode)mode)) {
            CHECK(0);
            return;
        }
        pd_backend_opts o;
        opts(&o);
        o.tokenizer = POLICY;
        o.remote_timeout = 0.3;
        o.remote_retries = 1;
        o.remote_backoff = 0.01;
        pd_error err = {0};
        pd_policy remote;
        pd_verifier ver;
        char spec[160];
        snprintf(spec, sizeof spec, "http://127.0.0.1:%d/v1#rlhflow", f.port);
        CHECK_MSG(pd_policy_open_opts(&remote, spec, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_verifier_open_opts(&ver, QWEN_PRM, NULL, &o, &err) == 0, "%s", err.msg);
        static res b;
        CHECK_MSG(run(&remote, &ver, PD_BEAM_SEARCH, &b, &err) == 0, "%s", err.msg);
        char where[64];
        snprintf(where, sizeof where, "http://127.0.0.1:%d/v1/completions", f.port);
        for (int j = 0; j < NP; j++) {
            CHECK(b.failed[j]);
            CHECK_MSG(strstr(b.err[j], where) && strstr(b.err[j], "2 attempts"), "%s", b.err[j]);
            CHECK_MSG(mode == FAKE_GARBAGE ? strstr(b.err[j], "not JSON") != NULL : strstr(b.err[j], "imeout") != NULL, "%s", b.err[j]);
        }
        res_free(&b);
        pd_verifier_close(&ver);
        pd_policy_close(&remote);
        MHD_stop_daemon(f.d);
    }
}

/* Servers that give no logprobs, or fewer than 20 per token: a search that needs token
 * confidences fails, naming the server and what is missing; one that does not need them
 * works and asks for none. */
static void t_confidence_unsupported(void) {
    for (int mode = FAKE_NO_LOGPROBS; mode <= FAKE_FEW_LOGPROBS; mode++) {
        fake f;
        if (fake_start(&f, (fake_mode)mode)) {
            CHECK(0);
            return;
        }
        pd_backend_opts o;
        opts(&o);
        o.tokenizer = POLICY;
        pd_error err = {0};
        pd_policy remote, local;
        pd_verifier prm, conf;
        char spec[160];
        snprintf(spec, sizeof spec, "http://127.0.0.1:%d/v1#rlhflow", f.port);
        CHECK_MSG(pd_policy_open_opts(&remote, spec, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_policy_open_opts(&local, POLICY, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_verifier_open_opts(&prm, QWEN_PRM, &local, &o, &err) == 0, "%s", err.msg);
        CHECK_MSG(pd_verifier_open_opts(&conf, "self-certainty", &remote, &o, &err) == 0, "%s", err.msg);
        static res b;
        CHECK_MSG(run(&remote, &prm, PD_BEST_OF_N, &b, &err) == 0, "%s", err.msg);
        for (int j = 0; j < NP; j++) CHECK_MSG(!b.failed[j] && b.n[j] == 4, "problem %d: %s", j, b.err[j]);
        CHECK_EQ_INT(f.asked_logprobs, 0);
        res_free(&b);
        CHECK_MSG(run(&remote, &conf, PD_BEST_OF_N, &b, &err) == 0, "%s", err.msg);
        char where[64];
        snprintf(where, sizeof where, "vllm at http://127.0.0.1:%d/v1", f.port);
        for (int j = 0; j < NP; j++) {
            CHECK(b.failed[j]);
            CHECK_MSG(strstr(b.err[j], where) && strstr(b.err[j], "top 20 logprobs") &&
                          strstr(b.err[j], mode == FAKE_NO_LOGPROBS ? "returned no logprobs" : "listed 2 top logprobs"),
                      "%s", b.err[j]);
        }
        CHECK(f.asked_logprobs > 0);
        res_free(&b);
        pd_verifier_close(&conf);
        pd_verifier_close(&prm);
        pd_policy_close(&local);
        pd_policy_close(&remote);
        MHD_stop_daemon(f.d);
    }
}

/* ---- `ponder serve` as a process ---- */

static pid_t spawn_serve(int port, const char *log) {
    pid_t p = fork();
    if (p == 0) {
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        execl(ponder_bin(), ponder_bin(), "serve", "--policy", POLICY, "--port", ps, "--threads", "2", "--quiet", (char *)NULL);
        _exit(127);
    }
    return p;
}

static int wait_up(int port) {
    for (int i = 0; i < 400; i++) {
        if (http_do(port, "GET", "/health", NULL, NULL, NULL) == 200) return 1;
        usleep(25000);
    }
    return 0;
}

static int same_lines(const char *a, const char *b, int *n_lines) {
    FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
    int ok = fa && fb, n = 0;
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    while (ok) {
        ssize_t ra = getline(&la, &ca, fa), rb = getline(&lb, &cb, fb);
        if (ra < 0 || rb < 0) {
            ok = ra < 0 && rb < 0;
            break;
        }
        json_t *ja = json_loads(la, 0, NULL), *jb = json_loads(lb, 0, NULL);
        json_object_del(ja, "cost"); /* prefix tokens differ where the server's cache missed */
        json_object_del(jb, "cost");
        ok = ja && jb && json_equal(ja, jb) && !json_object_get(ja, "failed");
        if (!ok) printf("  differs at line %d:\n  %.300s\n  %.300s\n", n + 1, la, lb);
        json_decref(ja);
        json_decref(jb);
        n++;
    }
    free(la);
    free(lb);
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    *n_lines = n;
    return ok;
}

typedef struct evalrun {
    const char *cmd;
    int rc;
    volatile int done;
} evalrun;

static void *eval_thread(void *p) {
    evalrun *e = p;
    e->rc = system(e->cmd);
    e->done = 1;
    return NULL;
}

/* `ponder eval` against `ponder serve` = the local `ponder eval`; then again with the
 * server killed and restarted in the middle: the client retries and nothing changes. */
static void t_eval_cli_and_restart(void) {
    /* scratch under the build being tested (build/ or build-asan/), so that the plain and the
     * sanitizer runs never share it */
    char dir[160];
    snprintf(dir, sizeof dir, "%s", ponder_bin());
    char *slash = strrchr(dir, '/');
    snprintf(slash ? slash + 1 : dir, sizeof dir - (size_t)(slash ? slash + 1 - dir : 0), "tests/serve_remote");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && %s data arith --n 6 --levels 1-3 --seed 8 > %s/data.jsonl", dir, dir,
             ponder_bin(), dir);
    CHECK(system(cmd) == 0);
    int port = free_port();
    char log[256];
    snprintf(log, sizeof log, "%s/serve.log", dir);
    pid_t srv = spawn_serve(port, log);
    CHECK(wait_up(port));
    const char *common = "--prm " QWEN_PRM " --strategy best_of_n,beam_search,dvts --n 4,8 --beam-width 4 --iterations 4 "
                         "--max-step-tokens 12 --step-delimiter ' ' --threads 2 --quiet";
    snprintf(cmd, sizeof cmd, "%s eval --policy " POLICY " %s --dataset %s/data.jsonl --out %s/local", ponder_bin(), common, dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s eval --policy http://127.0.0.1:%d/v1#rlhflow --tokenizer " POLICY " %s --dataset %s/data.jsonl --out %s/remote",
             ponder_bin(), port, common, dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/local/results.jsonl", dir);
    snprintf(b, sizeof b, "%s/remote/results.jsonl", dir);
    int n = 0;
    CHECK(same_lines(a, b, &n));
    CHECK_EQ_INT(n, 6 * 3 * 2);
    /* kill -9 the server once the eval is under way, restart it on the same port */
    snprintf(cmd, sizeof cmd,
             "%s eval --policy http://127.0.0.1:%d/v1#rlhflow --tokenizer " POLICY " %s --remote-retries 12 --remote-backoff 0.1 "
             "--dataset %s/data.jsonl --out %s/restart 2> %s/restart.err",
             ponder_bin(), port, common, dir, dir, dir);
    evalrun e = {cmd, -1, 0};
    pthread_t th;
    pthread_create(&th, NULL, eval_thread, &e);
    for (int i = 0; i < 2000 && !e.done; i++) { /* until the server has served some of it */
        http_res r;
        http_do(port, "GET", "/metrics", NULL, NULL, &r);
        const char *p = r.body.data ? strstr(r.body.data, "ponder_requests_total{route=\"/v1/completions\",code=\"200\"} ") : NULL;
        int served = p ? atoi(p + strlen("ponder_requests_total{route=\"/v1/completions\",code=\"200\"} ")) : 0;
        http_res_free(&r);
        if (served >= 20) break;
        usleep(2000);
    }
    int killed_mid = !e.done;
    kill(srv, SIGKILL);
    waitpid(srv, NULL, 0);
    usleep(300000);
    srv = spawn_serve(port, log);
    pthread_join(th, NULL);
    CHECK_EQ_INT(e.rc, 0);
    snprintf(b, sizeof b, "%s/restart/results.jsonl", dir);
    CHECK(same_lines(a, b, &n));
    CHECK_EQ_INT(n, 6 * 3 * 2);
    if (!killed_mid) printf("  (the eval finished before the kill: the restart was not exercised this time)\n");
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(t_policy_equals_local);
    RUN(t_confidence_equals_local);
    RUN(t_logprob_prm);
    RUN(t_pooling_prm);
    RUN(t_fake_vllm_pooling);
    RUN(t_garbage_and_hang);
    RUN(t_confidence_unsupported);
    RUN(t_eval_cli_and_restart);
    curl_global_cleanup();
    return test_done();
}
