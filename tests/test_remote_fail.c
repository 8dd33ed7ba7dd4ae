/* test_remote_fail.c — a problem whose backend requests fail for good (a remote server that
 * kept failing after its retries) is recorded as failed, and the run goes on.
 *
 * The backends here wrap the sim and fail every request of chosen problems the way the remote
 * backends do: pd_err_set(req->fail, ...), nothing written to out[], the call itself returns
 * 0. The other problems must come out exactly as in a run where nothing failed. */
#include "ponder.h"
#include "test.h"

typedef struct wrap {
    pd_policy inner;
    pd_verifier vinner;
    const char *fail_expand; /* problem id whose expansions fail */
    const char *fail_score;  /* problem id whose scores fail */
    int failed_calls;
} wrap;

static int is(const pd_tree *t, const char *id) { return id && t->prob && t->prob->id && !strcmp(t->prob->id, id); }

static int w_expand(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err) {
    wrap *w = ctx;
    pd_expand_req *keep = calloc(n ? n : 1, sizeof *keep);
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (is(reqs[i].tree, w->fail_expand)) {
            CHECK(reqs[i].fail != NULL);
            if (reqs[i].fail) pd_err_set(reqs[i].fail, PD_ENET, "http://127.0.0.1:9/v1: connection refused (after 3 retries)");
            w->failed_calls++;
        } else {
            keep[nk++] = reqs[i];
        }
    }
    int rc = nk ? w->inner.expand(w->inner.ctx, keep, nk, err) : 0;
    free(keep);
    return rc;
}

static void w_release(void *ctx, pd_tree *t, int32_t node) {
    wrap *w = ctx;
    if (w->inner.release) w->inner.release(w->inner.ctx, t, node);
}

static int w_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    wrap *w = ctx;
    pd_score_req *keep = calloc(n ? n : 1, sizeof *keep);
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (is(reqs[i].tree, w->fail_score)) {
            CHECK(reqs[i].fail != NULL);
            if (reqs[i].fail) pd_err_set(reqs[i].fail, PD_ENET, "prm http://127.0.0.1:9: HTTP 503 (after 3 retries)");
            w->failed_calls++;
        } else {
            keep[nk++] = reqs[i];
        }
    }
    int rc = nk ? w->vinner.score(w->vinner.ctx, keep, nk, err) : 0;
    free(keep);
    return rc;
}

typedef struct got {
    int n[8], failed[8];
    char err[8][256];
    char text0[8][4096];
} got;

static int cb(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)err;
    got *g = ud;
    g->n[job] = r->n;
    g->failed[job] = r->failed;
    snprintf(g->err[job], sizeof g->err[job], "%s", r->error);
    snprintf(g->text0[job], sizeof g->text0[job], "%s", r->n ? r->c[0].text : "");
    return 0;
}

static void run(int wrapped, pd_strategy strat, got *g) {
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK(pd_policy_open(&pol, "sim", NULL, &err) == 0);
    CHECK(pd_verifier_open(&ver, "sim", &pol, NULL, &err) == 0);
    wrap w = {pol, ver, "p2", "p3", 0};
    pd_policy wp = {"wrap", pol.n_params, &w, w_expand, w_release, NULL};
    pd_verifier wv = {.name = "wrap", .n_params = ver.n_params, .ctx = &w, .score = w_score};
    static char idb[6][16], text[6][64];
    pd_problem probs[6];
    pd_sched_job jobs[6];
    for (int i = 0; i < 6; i++) {
        snprintf(idb[i], sizeof idb[i], "p%d", i);
        snprintf(text[i], sizeof text[i], "What is %d + 1?", i);
        probs[i] = (pd_problem){idb[i], text[i], NULL, NULL, 2};
        char gold[16];
        snprintf(gold, sizeof gold, "%d", i + 1);
        probs[i].answer = strdup(gold);
        pd_search_cfg_default(&jobs[i].cfg);
        jobs[i].cfg.strategy = strat;
        jobs[i].cfg.n = 8;
        jobs[i].cfg.beam_width = 4;
        jobs[i].cfg.seed = 5;
        jobs[i].prob = &probs[i];
    }
    memset(g, 0, sizeof *g);
    int rc = pd_sched_run(wrapped ? &wp : &pol, wrapped ? &wv : &ver, jobs, 6, 6, cb, g, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (wrapped) CHECK(w.failed_calls > 0);
    for (int i = 0; i < 6; i++) free(probs[i].answer);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

/* Failed problems carry the backend's message and no completions; the rest are unchanged. */
static void t_failed_problems(void) {
    for (int s = 0; s < 3; s++) {
        got *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        run(0, (pd_strategy)s, a);
        run(1, (pd_strategy)s, b);
        for (int i = 0; i < 6; i++) {
            if (i == 2 || i == 3) {
                CHECK(b->failed[i]);
                CHECK_EQ_INT(b->n[i], 0);
                CHECK_MSG(strstr(b->err[i], "127.0.0.1:9") != NULL, "%s", b->err[i]);
            } else {
                CHECK(!b->failed[i] && !a->failed[i]);
                CHECK_EQ_INT(a->n[i], b->n[i]);
                CHECK(a->n[i] > 0);
                CHECK_STR(a->text0[i], b->text0[i]);
            }
        }
        free(a);
        free(b);
    }
}

/* pd_eval_run records them in results.jsonl and summary.json and finishes the run. */
static void t_eval_records_failed(void) {
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK(pd_policy_open(&pol, "sim", NULL, &err) == 0);
    CHECK(pd_verifier_open(&ver, "sim", &pol, NULL, &err) == 0);
    wrap w = {pol, ver, "p2", NULL, 0};
    pd_policy wp = {"wrap", pol.n_params, &w, w_expand, w_release, NULL};
    pd_verifier wv = {.name = "wrap", .n_params = ver.n_params, .ctx = &w, .score = w_score};
    pd_dataset ds = {0};
    const char *dir = "build/tests/remote_fail";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    CHECK(system(cmd) == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/data.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < 4; i++) fprintf(f, "{\"id\": \"p%d\", \"problem\": \"What is %d+1?\", \"answer\": \"%d\"}\n", i, i, i + 1);
    if (f) fclose(f);
    CHECK_MSG(pd_dataset_load(path, &ds, &err) == 0, "%s", err.msg);
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.ns[0] = 4;
    o.out_dir = dir;
    pd_eval_report rep;
    CHECK_MSG(pd_eval_run(&wp, &wv, &ds, &o, &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.cells[0].problems, 4);
    CHECK_EQ_INT(rep.cells[0].failed, 1);
    pd_eval_report_free(&rep);
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *data = NULL;
    size_t len = 0;
    CHECK(pd_file_read(path, &data, &len, &err) == 0);
    CHECK(data && strstr(data, "\"id\":\"p2\"") && strstr(data, "\"failed\":true") &&
          strstr(data, "connection refused (after 3 retries)"));
    int lines = 0, failed = 0;
    for (char *p = data; p && *p; p++) lines += *p == '\n';
    for (char *p = data; p && (p = strstr(p, "\"failed\":true")); p++) failed++;
    CHECK_EQ_INT(lines, 4);
    CHECK_EQ_INT(failed, 1);
    free(data);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    CHECK(pd_file_read(path, &data, &len, &err) == 0);
    CHECK(data && strstr(data, "\"failed\": 1"));
    free(data);
    pd_dataset_free(&ds);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

int main(void) {
    RUN(t_failed_problems);
    RUN(t_eval_records_failed);
    return test_done();
}
