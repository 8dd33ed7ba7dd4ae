/* test_search_release.c — the search hands a node to the policy's release hook as soon as
 * nothing can use it, not when the search ends.
 *
 * An instrumented policy wraps the sim policy and keeps a ledger of the node handles it has
 * given out: created (live), released, and every misuse (a released node expanded again, a
 * node released twice or never created). Long searches (35-step problems, up to 40 rounds)
 * then check, for beam_search, dvts and best_of_n, with and without lookahead, with and
 * without early finishers (a tight step token cap truncates some steps):
 *   - at every round's strategy call, the live nodes are exactly the paths from the root to
 *     the nodes being extended (the active beams / live subtree heads): nothing dead is held;
 *   - live nodes never exceed (N/M) x depth + N x (1 + lookahead) + 1;
 *   - when the search hands its result over, no node is held any more (the end-of-search
 *     sweep has nothing left to do), and by the end every node was released exactly once;
 *   - for beam search, whose beams share prefixes, the peak is far below the nodes created. */
#include "test.h"
#include "ponder.h"

typedef struct ledger {
    pd_policy inner;      /* the sim */
    const pd_tree *tree;  /* the one tree of the search under test */
    uint8_t *st;          /* per node: 0 unseen, 1 live, 2 released */
    size_t cap;
    uint8_t *mark;        /* scratch for the path closure */
    long created, released, live, max_live, calls;
    long bad_expand;      /* requests on a released (or unknown) node */
    long bad_release;     /* releases of a released or unknown node */
    long closure_mismatch;/* strategy calls where live != |paths to the extended nodes| */
    long max_excess;      /* the largest live - |closure| seen */
    int max_depth;
    long held_at_done;    /* live nodes when the result was handed over */
    int min_steps;        /* the shortest completion */
} ledger;

/* Make room for n nodes in the ledger's arrays. Returns 0 or -1. */
static int ledger_fit(ledger *lg, size_t n) {
    if (n <= lg->cap) return 0;
    size_t cap = lg->cap ? lg->cap : 256;
    while (cap < n) cap *= 2;
    uint8_t *st = realloc(lg->st, cap), *mark = realloc(lg->mark, cap);
    if (st) lg->st = st;
    if (mark) lg->mark = mark;
    if (!st || !mark) return -1;
    memset(lg->st + lg->cap, 0, cap - lg->cap);
    lg->cap = cap;
    return 0;
}

/* Number of distinct nodes on the paths from the root to the requests' leaves. */
static long closure(ledger *lg, const pd_tree *t, const pd_expand_req *r, size_t n) {
    memset(lg->mark, 0, (size_t)t->n_nodes);
    long count = 0;
    for (size_t q = 0; q < n; q++)
        for (int32_t id = r[q].leaf; id >= 0 && !lg->mark[id]; id = t->nodes[id].parent) {
            lg->mark[id] = 1;
            count++;
        }
    return count;
}

static int lg_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    ledger *lg = ctx;
    const pd_tree *t = r[0].tree;
    if (!lg->tree) { /* the search's first call: the root exists already */
        lg->tree = t;
        if (ledger_fit(lg, 1)) return pd_err_set(err, PD_ENOMEM, "ledger: out of memory");
        lg->st[0] = 1;
        lg->live = 1;
    }
    int strategy_call = 0;
    for (size_t q = 0; q < n; q++) {
        if (r[q].tree != t || r[q].leaf < 0 || r[q].leaf >= t->n_nodes || lg->st[r[q].leaf] != 1)
            lg->bad_expand++;
        if (!r[q].greedy) strategy_call = 1; /* lookahead steps are greedy */
    }
    if (strategy_call) {
        long c = closure(lg, t, r, n);
        if (lg->live != c) lg->closure_mismatch++;
        if (lg->live - c > lg->max_excess) lg->max_excess = lg->live - c;
    }
    int32_t before = t->n_nodes;
    int rc = lg->inner.expand(lg->inner.ctx, r, n, err);
    if (rc) return rc;
    if (ledger_fit(lg, (size_t)t->n_nodes)) return pd_err_set(err, PD_ENOMEM, "ledger: out of memory");
    for (int32_t id = before; id < t->n_nodes; id++) {
        lg->st[id] = 1;
        if (t->nodes[id].depth > lg->max_depth) lg->max_depth = t->nodes[id].depth;
    }
    lg->created += t->n_nodes - before;
    lg->live += t->n_nodes - before;
    if (lg->live > lg->max_live) lg->max_live = lg->live;
    lg->calls++;
    return 0;
}

static void lg_release(void *ctx, pd_tree *t, int32_t node) {
    ledger *lg = ctx;
    if (t != lg->tree || node < 0 || (size_t)node >= lg->cap || lg->st[node] != 1) {
        lg->bad_release++;
        return;
    }
    lg->st[node] = 2;
    lg->live--;
    lg->released++;
}

/* Called with the result, before the search is torn down. */
static int lg_done(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)job;
    (void)err;
    ledger *lg = ud;
    lg->held_at_done = lg->live;
    lg->min_steps = INT32_MAX;
    for (int32_t i = 0; i < r->n; i++)
        if (r->c[i].n_steps < lg->min_steps) lg->min_steps = r->c[i].n_steps;
    return r->n > 0 ? 0 : pd_err_set(err, PD_EINVAL, "no completions");
}

/* Run one search of a 35-step sim problem through the ledger. Returns 0 or the error code. */
static int run_one(ledger *lg, pd_strategy strat, int n, int m, int lookahead, int step_cap) {
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.base_steps = 30; /* steps = 30 + level 5 */
    pd_error err = {0};
    pd_policy sim;
    pd_verifier ver;
    memset(lg, 0, sizeof *lg);
    if (pd_policy_open(&sim, "sim", &sp, &err) || pd_verifier_open(&ver, "sim", &sim, &sp, &err)) {
        printf("  open failed: %s\n", err.msg);
        return 1;
    }
    lg->inner = sim;
    pd_policy pol = {"ledger", sim.n_params, lg, lg_expand, lg_release, NULL};
    pd_problem prob = {"long-1", "A long problem that takes thirty-five steps.", "42", NULL, 5};
    pd_sched_job job = {&prob, {0}};
    pd_search_cfg_default(&job.cfg);
    job.cfg.strategy = strat;
    job.cfg.n = n;
    job.cfg.beam_width = m;
    job.cfg.lookahead = lookahead;
    job.cfg.step_max_tokens = step_cap;
    job.cfg.seed = 11;
    int rc = pd_sched_run(&pol, &ver, &job, 1, 1, lg_done, lg, NULL, &err);
    if (rc) printf("  search failed: %s\n", err.msg);
    pd_verifier_close(&ver);
    pd_policy_close(&sim);
    free(lg->st);
    free(lg->mark);
    lg->st = lg->mark = NULL;
    return rc;
}

/* The checks every search must pass; prints the figures. */
static void check_ledger(const char *what, const ledger *lg, int n, int m, int lookahead) {
    long bound = (long)(n / m) * lg->max_depth + (long)n * (1 + lookahead) + 1;
    printf("  %-34s created %5ld  peak live %4ld (bound %4ld)  held at done %ld  calls %ld"
           "  shortest %d\n", what, lg->created, lg->max_live, bound, lg->held_at_done, lg->calls,
           lg->min_steps);
    CHECK_EQ_INT(lg->bad_expand, 0);
    CHECK_EQ_INT(lg->bad_release, 0);
    CHECK_MSG(lg->closure_mismatch == 0, "%s: %ld strategy calls held %ld nodes off the live paths",
              what, lg->closure_mismatch, lg->max_excess);
    CHECK_MSG(lg->max_live <= bound, "%s: peak %ld > bound %ld", what, lg->max_live, bound);
    CHECK_MSG(lg->held_at_done == 0, "%s: %ld nodes still held when the search finished", what,
              lg->held_at_done);
    CHECK_EQ_INT(lg->released, lg->created + 1); /* the root too, each exactly once */
    CHECK_EQ_INT(lg->live, 0);
}

/* beam_search N=16, M=4 over 35 steps: beams coalesce, so the live paths share prefixes and
 * the peak stays a small fraction of what the search created. */
static void t_beam_long(void) {
    ledger lg;
    CHECK_EQ_INT(run_one(&lg, PD_BEAM_SEARCH, 16, 4, 0, 2048), 0);
    check_ledger("beam_search N=16 M=4", &lg, 16, 4, 0);
    CHECK_EQ_INT(lg.max_depth, 35);
    CHECK_MSG(lg.max_live * 4 < lg.created, "peak %ld of %ld created", lg.max_live, lg.created);
    CHECK_EQ_INT(run_one(&lg, PD_BEAM_SEARCH, 16, 4, 1, 2048), 0);
    check_ledger("beam_search N=16 M=4 lookahead 1", &lg, 16, 4, 1);
    CHECK_MSG(lg.max_live * 4 < lg.created, "peak %ld of %ld created", lg.max_live, lg.created);
    CHECK_EQ_INT(run_one(&lg, PD_BEAM_SEARCH, 8, 2, 2, 2048), 0);
    check_ledger("beam_search N=8 M=2 lookahead 2", &lg, 8, 2, 2);
}

/* Early finishers (a tight step cap truncates some steps): completions and the branches only
 * they kept alive are released as the search goes. */
static void t_early_finishers(void) {
    ledger lg;
    CHECK_EQ_INT(run_one(&lg, PD_BEAM_SEARCH, 16, 4, 0, 88), 0);
    check_ledger("beam_search N=16 M=4 cap 88", &lg, 16, 4, 0);
    CHECK(lg.min_steps < 35); /* some finished early */
    CHECK_EQ_INT(run_one(&lg, PD_BEAM_SEARCH, 16, 4, 1, 88), 0);
    check_ledger("beam_search N=16 M=4 cap 88 la 1", &lg, 16, 4, 1);
    CHECK(lg.min_steps < 35);
    CHECK_EQ_INT(run_one(&lg, PD_DVTS, 16, 4, 0, 88), 0);
    check_ledger("dvts N=16 M=4 cap 88", &lg, 16, 4, 0);
    CHECK(lg.min_steps < 35);
    CHECK_EQ_INT(run_one(&lg, PD_DVTS, 16, 4, 1, 88), 0);
    check_ledger("dvts N=16 M=4 cap 88 lookahead 1", &lg, 16, 4, 1);
    CHECK(lg.min_steps < 35);
}

/* dvts over the full depth (its N/M subtrees are disjoint paths: the peak is close to the
 * bound by design), and best_of_n (nothing to drop before the end: every rollout is a
 * completion, released once recorded). */
static void t_dvts_bon(void) {
    ledger lg;
    CHECK_EQ_INT(run_one(&lg, PD_DVTS, 16, 4, 0, 2048), 0);
    check_ledger("dvts N=16 M=4", &lg, 16, 4, 0);
    CHECK_EQ_INT(run_one(&lg, PD_BEST_OF_N, 8, 1, 0, 2048), 0);
    check_ledger("best_of_n N=8", &lg, 8, 1, 0);
}

int main(void) {
    RUN(t_beam_long);
    RUN(t_early_finishers);
    RUN(t_dvts_bon);
    return test_done();
}
