/* test_search_sched.c — the scheduler batches across problems; results do not depend on the
 * batch composition.
 *
 * An instrumented wrapper around the sim backend counts backend calls and batch sizes. */
#include "test.h"
#include "ponder.h"

#include <math.h>

#define NPROB 50

typedef struct {
    pd_policy inner;
    pd_verifier vinner;
    uint64_t pcalls, preqs, pmax, vcalls, vreqs, vmax;
} wrap;

static int w_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    wrap *w = ctx;
    w->pcalls++;
    w->preqs += n;
    if (n > w->pmax) w->pmax = n;
    return w->inner.expand(w->inner.ctx, r, n, err);
}

static int w_score(void *ctx, pd_score_req *r, size_t n, pd_error *err) {
    wrap *w = ctx;
    w->vcalls++;
    w->vreqs += n;
    if (n > w->vmax) w->vmax = n;
    return w->vinner.score(w->vinner.ctx, r, n, err);
}

static pd_problem probs[NPROB];
static char ids[NPROB][24], answers[NPROB][24];

static void make_probs(void) {
    for (int i = 0; i < NPROB; i++) {
        snprintf(ids[i], sizeof ids[i], "sched-%d", i);
        snprintf(answers[i], sizeof answers[i], "%d", 17 * i + 3);
        probs[i] = (pd_problem){ids[i], "Compute the thing.", answers[i], NULL, 1 + i % 5};
    }
}

/* Results of every job, flattened into a comparable record. */
typedef struct {
    pd_search_result r[3 * NPROB];
} store;

static int keep_cb(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    store *s = ud;
    pd_search_result *d = &s->r[job];
    *d = *r;
    d->c = calloc((size_t)r->n, sizeof *d->c);
    for (int i = 0; i < r->n; i++) {
        d->c[i] = r->c[i];
        d->c[i].text = strdup(r->c[i].text);
        d->c[i].answer = r->c[i].answer ? strdup(r->c[i].answer) : NULL;
        d->c[i].key = NULL;
        d->c[i].rewards = malloc(sizeof(float) * (size_t)(r->c[i].n_steps + 1));
        memcpy(d->c[i].rewards, r->c[i].rewards, sizeof(float) * (size_t)r->c[i].n_steps);
    }
    return 0;
}

static void store_free(store *s, size_t n) {
    for (size_t j = 0; j < n; j++) pd_search_result_free(&s->r[j]);
}

static int same(const pd_search_result *a, const pd_search_result *b) {
    if (a->n != b->n || a->iterations != b->iterations) return 0;
    if (memcmp(&a->cost, &b->cost, sizeof a->cost)) return 0;
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->c[i].text, b->c[i].text) || a->c[i].score != b->c[i].score) return 0;
        if (a->c[i].n_steps != b->c[i].n_steps) return 0;
        if (memcmp(a->c[i].rewards, b->c[i].rewards, sizeof(float) * (size_t)a->c[i].n_steps)) return 0;
    }
    return 1;
}

static void jobs_for(pd_sched_job *jobs, int with_lookahead) {
    for (int i = 0; i < NPROB; i++)
        for (int s = 0; s < 3; s++) {
            pd_sched_job *j = &jobs[s * NPROB + i];
            j->prob = &probs[i];
            pd_search_cfg_default(&j->cfg);
            j->cfg.strategy = (pd_strategy)s;
            j->cfg.n = 8;
            j->cfg.beam_width = 4;
            j->cfg.seed = 11;
            if (with_lookahead && s) j->cfg.lookahead = 1;
        }
}

/* With 50 problems in flight the backend sees wide batches: the number of calls is about the
 * number of rounds of one search, not 50 times that. */
static void t_wide_batches(void) {
    make_probs();
    pd_error err = {0};
    wrap w = {0};
    CHECK_EQ_INT(pd_policy_open(&w.inner, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&w.vinner, "sim", &w.inner, NULL, &err), 0);
    pd_policy pol = {"wrap", 1e9, &w, w_expand, NULL, NULL};
    pd_verifier ver = {.name = "wrap", .n_params = 1e9, .ctx = &w, .score = w_score};
    for (int s = 0; s < 3; s++) {
        pd_sched_job jobs[NPROB];
        for (int i = 0; i < NPROB; i++) {
            jobs[i].prob = &probs[i];
            pd_search_cfg_default(&jobs[i].cfg);
            jobs[i].cfg.strategy = (pd_strategy)s;
            jobs[i].cfg.n = 8;
            jobs[i].cfg.beam_width = 4;
        }
        /* one problem at a time */
        memset(&w.pcalls, 0, sizeof(uint64_t) * 6);
        for (int i = 0; i < NPROB; i++)
            CHECK_EQ_INT(pd_sched_run(&pol, &ver, &jobs[i], 1, 1, NULL, NULL, NULL, &err), 0);
        uint64_t alone_calls = w.pcalls + w.vcalls, alone_reqs = w.preqs;
        /* all 50 in flight */
        memset(&w.pcalls, 0, sizeof(uint64_t) * 6);
        pd_sched_stats st;
        CHECK_EQ_INT(pd_sched_run(&pol, &ver, jobs, NPROB, 64, NULL, NULL, &st, &err), 0);
        uint64_t calls = w.pcalls + w.vcalls;
        printf("  %s: alone %llu calls; batched %llu calls in %llu rounds, mean policy batch %.1f, "
               "max %llu, max score batch %llu\n",
               pd_strategy_name((pd_strategy)s), (unsigned long long)alone_calls,
               (unsigned long long)calls, (unsigned long long)st.rounds, (double)w.preqs / w.pcalls,
               (unsigned long long)w.pmax, (unsigned long long)w.vmax);
        CHECK_EQ_INT(w.preqs, alone_reqs); /* the same work ... */
        CHECK(calls * 20 < alone_calls);   /* ... in far fewer calls */
        CHECK(calls <= 2 * st.rounds);     /* at most one policy + one verifier call per round */
        CHECK_EQ_INT(st.policy_calls, w.pcalls);
        CHECK_EQ_INT(st.verifier_calls, w.vcalls);
        CHECK(w.pmax >= NPROB);            /* every search in one policy call */
        CHECK(w.vmax >= NPROB * 8);        /* every candidate in one verifier call */
    }
    pd_verifier_close(&w.vinner);
    pd_policy_close(&w.inner);
}

/* The same job gives the same result alone, in a batch of 150, or in reverse order. */
static void t_deterministic_batches(void) {
    make_probs();
    pd_error err = {0};
    pd_policy pol;
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    for (int la = 0; la < 2; la++) {
        static pd_sched_job jobs[3 * NPROB], rev[3 * NPROB];
        jobs_for(jobs, la);
        size_t nj = 3 * NPROB;
        for (size_t j = 0; j < nj; j++) rev[j] = jobs[nj - 1 - j];
        static store a, b, c;
        CHECK_EQ_INT(pd_sched_run(&pol, &ver, jobs, nj, 1, keep_cb, &a, NULL, &err), 0);
        CHECK_EQ_INT(pd_sched_run(&pol, &ver, jobs, nj, 200, keep_cb, &b, NULL, &err), 0);
        CHECK_EQ_INT(pd_sched_run(&pol, &ver, rev, nj, 7, keep_cb, &c, NULL, &err), 0);
        int diff_ab = 0, diff_ac = 0, distinct = 0;
        for (size_t j = 0; j < nj; j++) {
            diff_ab += !same(&a.r[j], &b.r[j]);
            diff_ac += !same(&a.r[j], &c.r[nj - 1 - j]);
            if (j + 1 < nj) distinct += !same(&a.r[j], &a.r[j + 1]);
        }
        CHECK_EQ_INT(diff_ab, 0);
        CHECK_EQ_INT(diff_ac, 0);
        CHECK(distinct > (int)nj / 2); /* the comparison is not vacuous */
        /* a different seed changes the samples */
        jobs[0].cfg.seed = 12;
        pd_search_result r;
        CHECK_EQ_INT(pd_search_run(&pol, &ver, jobs[0].prob, &jobs[0].cfg, &r, &err), 0);
        CHECK(!same(&r, &a.r[0]));
        pd_search_result_free(&r);
        store_free(&a, nj);
        store_free(&b, nj);
        store_free(&c, nj);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

/* A callback error stops the run and is returned. */
static int stop_cb(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    int *count = ud;
    if (++*count == 3) return pd_err_set(err, PD_EIO, "stop here");
    return 0;
}

static void t_callback_error(void) {
    make_probs();
    pd_error err = {0};
    pd_policy pol;
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    static pd_sched_job jobs[3 * NPROB];
    jobs_for(jobs, 0);
    int count = 0;
    CHECK_EQ_INT(pd_sched_run(&pol, &ver, jobs, 3 * NPROB, 16, stop_cb, &count, NULL, &err), PD_EIO);
    CHECK_EQ_INT(count, 3);
    CHECK_STR(err.msg, "stop here");
    /* a bad job fails before any work */
    jobs[NPROB + 5].cfg.n = 6; /* beam_search */
    count = 0;
    CHECK_EQ_INT(pd_sched_run(&pol, &ver, jobs, 3 * NPROB, 16, stop_cb, &count, NULL, &err), PD_EINVAL);
    CHECK_EQ_INT(count, 0);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

int main(void) {
    RUN(t_wide_batches);
    RUN(t_deterministic_batches);
    RUN(t_callback_error);
    return test_done();
}
