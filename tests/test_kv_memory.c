/* test_kv_memory.c — --kv-memory: a bounded KV block pool per model, and searches that wait
 * for memory instead of failing (src/engine/kv.c, src/backend/policy_local.c, prm_local.c,
 * src/search/sched.c).
 *
 *   - sizes parse ("512M", "2G", bytes) and bad ones are refused with the option's name;
 *   - the engine refuses a block past the budget: the forward call fails before computing,
 *     the cache keeps its tokens and gives back what it reserved;
 *   - a search of several problems (beam search, best-of-N, DVTS) under a budget far below
 *     what it uses unbounded completes with bit-identical results, never holds more than the
 *     budget, waits (pd_cost.kv_waits) and ends with no block live in either pool; on the
 *     project's trained arithmetic models (models/) and on a random-weight fixture whose
 *     steps end mid-token (re-tokenized tails rebuilt after eviction);
 *   - a budget that cannot hold one sequence is a clear error naming the model and sizes. */
#include "ponder.h"
#include "test.h"

#define ARITH_POLICY "models/arith-small"
#define ARITH_PRM "models/arith-prm"
#define RANDOM_POLICY "tests/fixtures/prm/rlhflow"
#define RANDOM_PRM "tests/fixtures/prm/qwen2-prm"
#define LLAMA "tests/fixtures/models/llama_f32"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void t_parse_sizes(void) {
    static const struct { const char *s; size_t v; } good[] = {
        {"0", 0}, {"1", 1}, {"1048576", 1048576}, {"512M", (size_t)512 << 20}, {"2G", (size_t)2 << 30},
        {"64k", 64 << 10}, {"64KB", 64 << 10}, {"64KiB", 64 << 10}, {"3MiB", (size_t)3 << 20}, {"1T", (size_t)1 << 40},
        {"100B", 100}, {"7b", 7},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        size_t v = 12345;
        CHECK_MSG(pd_kv_memory_parse(good[i].s, &v) == 0 && v == good[i].v, "'%s' -> %zu", good[i].s, v);
    }
    static const char *bad[] = {"", "M", "-1", "+5", "1.5G", "12X", "5 M", "5M ", "5Mi", "5MBB", "0x10", "G2",
                                "99999999999999999999999", "20000000T"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t v = 777;
        CHECK_MSG(pd_kv_memory_parse(bad[i], &v) == -1 && v == 777, "'%s' accepted (%zu)", bad[i], v);
    }
    CHECK(pd_kv_memory_parse(NULL, &(size_t){0}) == -1);
    /* as a backend option: both pools, or the PRM's alone */
    pd_backend_opts o;
    pd_backend_opts_default(&o);
    pd_error err = {0};
    CHECK_EQ_INT(o.kv_memory, 0);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "kv-memory", "512M", &err), 0);
    CHECK_EQ_INT(o.kv_memory, (size_t)512 << 20);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "prm-kv-memory", "64K", &err), 0);
    CHECK_EQ_INT(o.prm_kv_memory, 64 << 10);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "kv-memory", "lots", &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "--kv-memory") && strstr(err.msg, "lots"), "%s", err.msg);
    CHECK_EQ_INT(o.kv_memory, (size_t)512 << 20); /* unchanged */
    CHECK_EQ_INT(pd_backend_opts_set(&o, "prm-kv-memory", "", &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "--prm-kv-memory"), "%s", err.msg);
    pd_backend_opts_free(&o);
}

/* The engine's pool: a block past the budget is refused, nothing changes. */
static void t_pool_budget(void) {
    pd_error err = {0};
    pd_model_opts mo = {2, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    pd_model *m = pd_model_load(LLAMA, &mo, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    size_t blk = pd_kv_block_bytes(m);
    CHECK(pd_kv_blocks_budget(m) == SIZE_MAX && pd_kv_blocks_free(m) == SIZE_MAX);
    pd_kv_set_memory(m, 3 * blk + blk / 2); /* 3.5 blocks: 3 */
    CHECK_EQ_INT(pd_kv_blocks_budget(m), 3);
    CHECK_EQ_INT(pd_kv_blocks_free(m), 3);
    int32_t ids[60];
    for (int i = 0; i < 60; i++) ids[i] = (int32_t)((i * 29 + 3) % 256);
    float a[256], b[256];
    pd_kv *kv = pd_kv_new(m, &err);
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = 40, .logits = PD_LOGITS_LAST, .out = a};
    CHECK_EQ_INT(pd_model_forward(m, &s, 1, &err), 0);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 3);
    CHECK_EQ_INT(pd_kv_blocks_free(m), 0);
    /* a fork that appends needs a copy of the shared tail block: refused, both unchanged */
    pd_kv *f = pd_kv_clone(kv, &err);
    s = (pd_seq_step){.kv = f, .tokens = ids + 40, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = b};
    CHECK_EQ_INT(pd_model_forward(m, &s, 1, &err), PD_ELIMIT);
    CHECK_MSG(strstr(err.msg, "--kv-memory") && strstr(err.msg, "full"), "%s", err.msg);
    CHECK_EQ_INT(pd_kv_len(f), 40);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 3);
    /* a batch of two where only the second needs a new block: the first gives back nothing
     * it did not have, nothing is computed */
    s = (pd_seq_step){.kv = kv, .tokens = ids + 40, .n_tokens = 9, .logits = PD_LOGITS_NONE};
    CHECK_EQ_INT(pd_model_forward(m, &s, 1, &err), PD_ELIMIT);
    CHECK_EQ_INT(pd_kv_len(kv), 40);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 3);
    /* the fork gone, the original appends into its own tail block */
    pd_kv_free(f);
    s = (pd_seq_step){.kv = kv, .tokens = ids + 40, .n_tokens = 8, .logits = PD_LOGITS_LAST, .out = a};
    CHECK_EQ_INT(pd_model_forward(m, &s, 1, &err), 0);
    CHECK_EQ_INT(pd_kv_len(kv), 48);
    /* its logits are those of the whole sequence computed in one go (unbounded) */
    pd_kv_set_memory(m, 0);
    CHECK(pd_kv_blocks_budget(m) == SIZE_MAX);
    pd_kv *whole = pd_kv_new(m, &err);
    s = (pd_seq_step){.kv = whole, .tokens = ids, .n_tokens = 48, .logits = PD_LOGITS_LAST, .out = b};
    CHECK_EQ_INT(pd_model_forward(m, &s, 1, &err), 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_EQ_INT(pd_kv_blocks_peak(m), 6);
    pd_kv_free(whole);
    pd_kv_free(kv);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 0);
    CHECK_EQ_INT(pd_kv_blocks_for(0), 0);
    CHECK_EQ_INT(pd_kv_blocks_for(16), 1);
    CHECK_EQ_INT(pd_kv_blocks_for(17), 2);
    pd_model_free(m);
}

/* ---- searches under a budget ---- */

typedef struct collected {
    pd_search_result r[16];
} collected;

/* Keep a copy of each result (pd_search_result_free frees it). */
static int collect(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)err;
    pd_search_result *d = &((collected *)ud)->r[job];
    *d = *r;
    d->c = calloc((size_t)r->n + 1, sizeof *d->c);
    for (int32_t i = 0; i < r->n; i++) {
        d->c[i] = r->c[i];
        d->c[i].text = strdup(r->c[i].text);
        d->c[i].answer = r->c[i].answer ? strdup(r->c[i].answer) : NULL;
        d->c[i].key = r->c[i].key ? strdup(r->c[i].key) : NULL;
        d->c[i].rewards = malloc(((size_t)r->c[i].n_steps + 1) * sizeof(float));
        memcpy(d->c[i].rewards, r->c[i].rewards, (size_t)r->c[i].n_steps * sizeof(float));
        d->c[i].ids = malloc((r->c[i].n_ids + 1) * sizeof(int32_t));
        if (r->c[i].n_ids) memcpy(d->c[i].ids, r->c[i].ids, r->c[i].n_ids * sizeof(int32_t));
    }
    return 0;
}

/* Every job's result, field by field; returns the number of differences (printed). */
static int compare(const collected *a, const collected *b, size_t n) {
    int diff = 0;
    for (size_t j = 0; j < n; j++) {
        const pd_search_result *x = &a->r[j], *y = &b->r[j];
        if (x->n != y->n || x->iterations != y->iterations || x->failed || y->failed ||
            x->cost.policy_tokens != y->cost.policy_tokens || x->cost.expansions != y->cost.expansions ||
            x->cost.scored != y->cost.scored) {
            printf("  job %zu: n %d/%d iterations %d/%d policy tokens %llu/%llu expansions %llu/%llu failed %d/%d\n", j,
                   x->n, y->n, x->iterations, y->iterations, (unsigned long long)x->cost.policy_tokens,
                   (unsigned long long)y->cost.policy_tokens, (unsigned long long)x->cost.expansions,
                   (unsigned long long)y->cost.expansions, x->failed, y->failed);
            diff++;
            continue;
        }
        for (int32_t i = 0; i < x->n; i++) {
            const pd_completion *c = &x->c[i], *d = &y->c[i];
            int same = !strcmp(c->text, d->text) && !c->answer == !d->answer && (!c->answer || !strcmp(c->answer, d->answer)) &&
                       c->n_steps == d->n_steps && !memcmp(c->rewards, d->rewards, (size_t)c->n_steps * sizeof *c->rewards) &&
                       c->score == d->score && c->status == d->status && c->n_ids == d->n_ids &&
                       (!c->n_ids || !memcmp(c->ids, d->ids, c->n_ids * sizeof *c->ids)) && c->n_tokens == d->n_tokens;
            if (!same) {
                printf("  job %zu completion %d differs: \"%.60s\" (%.6f) vs \"%.60s\" (%.6f)\n", j, (int)i, c->text, c->score,
                       d->text, d->score);
                diff++;
            }
        }
    }
    return diff;
}

typedef struct run_out {
    collected res;
    pd_sched_stats st;
    pd_kv_usage pol_u, prm_u;   /* after the run */
    uint64_t waits;             /* pd_cost.kv_waits over the jobs */
    int rc;
    pd_error err;
} run_out;

/* Run the jobs on fresh backends with the given budgets (bytes; 0: none). */
static void run(const char *policy, const char *prm, const char *delim, size_t pol_kv, size_t prm_kv,
                const pd_sched_job *jobs, size_t n, run_out *o) {
    memset(o, 0, sizeof *o);
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    strcpy(bo.step_delimiter, delim);
    bo.system_prompt = "";
    bo.n_threads = 2;
    bo.kv_memory = pol_kv;
    bo.prm_kv_memory = prm_kv;
    pd_policy pol;
    pd_verifier ver;
    if ((o->rc = pd_policy_open_opts(&pol, policy, &bo, &o->err))) return;
    if ((o->rc = pd_verifier_open_opts(&ver, prm, &pol, &bo, &o->err))) {
        pd_policy_close(&pol);
        return;
    }
    o->rc = pd_sched_run(&pol, &ver, jobs, n, 8, collect, &o->res, &o->st, &o->err);
    CHECK_EQ_INT(pd_policy_kv_usage(&pol, &o->pol_u), 0);
    CHECK_EQ_INT(pd_verifier_kv_usage(&ver, &o->prm_u), 0);
    for (size_t j = 0; j < n && !o->rc; j++) o->waits += o->res.r[j].cost.kv_waits;
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_backend_opts_free(&bo);
}

static void free_out(run_out *o, size_t n) {
    for (size_t j = 0; j < n; j++) pd_search_result_free(&o->res.r[j]);
}

/* The same jobs unbounded and under a budget of `frac` of each pool's unbounded peak (but at
 * least `floor` bytes): identical results, the bound held, waits, nothing live after. */
static void bounded_equals_unbounded(const char *policy, const char *prm, const char *delim, const pd_sched_job *jobs,
                                     size_t n, double frac, size_t floor) {
    run_out *free_run = calloc(1, sizeof *free_run), *tight = calloc(1, sizeof *tight);
    run(policy, prm, delim, 0, 0, jobs, n, free_run);
    CHECK_MSG(free_run->rc == 0, "%s", free_run->err.msg);
    if (free_run->rc) goto out;
    CHECK(free_run->waits == 0 && free_run->st.held_back == 0);
    size_t pol_kv = (size_t)((double)free_run->pol_u.bytes_peak * frac), prm_kv = (size_t)((double)free_run->prm_u.bytes_peak * frac);
    if (pol_kv < floor) pol_kv = floor;
    if (prm_kv < floor) prm_kv = floor;
    CHECK_MSG(pol_kv < free_run->pol_u.bytes_peak && prm_kv < free_run->prm_u.bytes_peak,
              "the budgets (%zu, %zu) do not bind: unbounded peaks %llu, %llu", pol_kv, prm_kv,
              (unsigned long long)free_run->pol_u.bytes_peak, (unsigned long long)free_run->prm_u.bytes_peak);
    run(policy, prm, delim, pol_kv, prm_kv, jobs, n, tight);
    CHECK_MSG(tight->rc == 0, "%s", tight->err.msg);
    if (tight->rc) goto out;
    printf("  %s: policy %llu -> %zu bytes, PRM %llu -> %zu: %llu waits, deferred %llu + %llu calls, evicted %llu + %llu, "
           "%llu rounds held back\n", policy, (unsigned long long)free_run->pol_u.bytes_peak, pol_kv,
           (unsigned long long)free_run->prm_u.bytes_peak, prm_kv, (unsigned long long)tight->waits,
           (unsigned long long)tight->pol_u.deferred, (unsigned long long)tight->prm_u.deferred,
           (unsigned long long)tight->pol_u.evicted, (unsigned long long)tight->prm_u.evicted,
           (unsigned long long)tight->st.held_back);
    int diff = compare(&free_run->res, &tight->res, n);
    CHECK_MSG(diff == 0, "%d differences between the unbounded run and the run under --kv-memory", diff);
    /* the bound held, the work waited for memory, and both pools are empty at the end */
    CHECK_MSG(tight->pol_u.bytes_peak <= pol_kv && tight->prm_u.bytes_peak <= prm_kv, "peaks %llu, %llu over %zu, %zu",
              (unsigned long long)tight->pol_u.bytes_peak, (unsigned long long)tight->prm_u.bytes_peak, pol_kv, prm_kv);
    CHECK(tight->pol_u.bytes_budget > 0 && tight->pol_u.bytes_budget <= pol_kv && tight->prm_u.bytes_budget <= prm_kv);
    CHECK_MSG(tight->waits > 0 && tight->pol_u.deferred + tight->prm_u.deferred > 0, "waits %llu, deferred %llu + %llu",
              (unsigned long long)tight->waits, (unsigned long long)tight->pol_u.deferred,
              (unsigned long long)tight->prm_u.deferred);
    CHECK_EQ_INT(tight->pol_u.bytes_live, 0);
    CHECK_EQ_INT(tight->prm_u.bytes_live, 0);
    CHECK_EQ_INT(free_run->pol_u.bytes_live, 0);
    CHECK_EQ_INT(free_run->prm_u.bytes_live, 0);
    /* recomputing what was evicted costs tokens, never fewer */
    uint64_t a = 0, b = 0;
    for (size_t j = 0; j < n; j++)
        a += free_run->res.r[j].cost.prm_tokens + free_run->res.r[j].cost.prefix_tokens,
        b += tight->res.r[j].cost.prm_tokens + tight->res.r[j].cost.prefix_tokens;
    CHECK_MSG(b >= a, "bounded computed %llu prefix + PRM tokens, unbounded %llu", (unsigned long long)b,
              (unsigned long long)a);
out:
    free_out(free_run, n);
    free_out(tight, n);
    free(free_run);
    free(tight);
}

static const char *ARITH_PROBLEMS[] = {"Compute $2 - 5$.", "Compute $7 + 8$.", "Compute $3 \\times 4 + 1$.",
                                       "Compute $12 + 35 \\times 2$.", "Compute $9 - 4 \\times 3$."};

static void t_search_arith_bounded(void) {
    if (!exists(ARITH_POLICY "/model.safetensors") || !exists(ARITH_PRM "/model.safetensors"))
        SKIP("models/arith-small or models/arith-prm not trained yet");
    enum { NP = 5 };
    pd_problem probs[NP];
    pd_sched_job jobs[3 * NP];
    size_t n = 0;
    static const pd_strategy strat[] = {PD_BEAM_SEARCH, PD_BEST_OF_N, PD_DVTS};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < NP; i++) {
            probs[i] = (pd_problem){.id = "p", .problem = (char *)ARITH_PROBLEMS[i], .answer = "0"};
            pd_search_cfg_default(&jobs[n].cfg);
            jobs[n].prob = &probs[i];
            jobs[n].cfg.strategy = strat[s];
            jobs[n].cfg.n = 8;
            jobs[n].cfg.beam_width = 4;
            jobs[n].cfg.num_iterations = 8;
            jobs[n].cfg.step_max_tokens = 40;
            jobs[n].cfg.seed = 11 + (uint64_t)i;
            n++;
        }
    /* a quarter of what the run holds unbounded, and at least one sequence's worth */
    bounded_equals_unbounded(ARITH_POLICY, ARITH_PRM, "\n\n", jobs, n, 0.25, 1 << 20);
}

/* Random weights, a one-space delimiter: steps end mid-token (re-tokenized tails) and
 * lookahead-free beam search; caches rebuilt after eviction must hold exactly those ids. */
static void t_search_random_bounded(void) {
    enum { NP = 4 };
    pd_problem probs[NP];
    static const char *texts[NP] = {"alpha beta", "what is two and two", "x", "a longer question with words"};
    pd_sched_job jobs[2 * NP];
    size_t n = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < NP; i++) {
            probs[i] = (pd_problem){.id = "r", .problem = (char *)texts[i], .answer = "0"};
            pd_search_cfg_default(&jobs[n].cfg);
            jobs[n].prob = &probs[i];
            jobs[n].cfg.strategy = s ? PD_BEST_OF_N : PD_BEAM_SEARCH;
            jobs[n].cfg.n = 6;
            jobs[n].cfg.beam_width = 2;
            jobs[n].cfg.num_iterations = 5;
            jobs[n].cfg.step_max_tokens = 10;
            jobs[n].cfg.seed = 5 + (uint64_t)i;
            n++;
        }
    bounded_equals_unbounded(RANDOM_POLICY, RANDOM_PRM, " ", jobs, n, 0.3, 0);
}

/* A budget that cannot hold one sequence: an error naming the model and the sizes, for the
 * policy's pool and for the PRM's. */
static void t_too_small(void) {
    if (!exists(ARITH_POLICY "/model.safetensors") || !exists(ARITH_PRM "/model.safetensors"))
        SKIP("models/arith-small or models/arith-prm not trained yet");
    pd_problem prob = {.id = "p", .problem = "Compute $2 - 5$.", .answer = "-3"};
    pd_sched_job job = {.prob = &prob};
    pd_search_cfg_default(&job.cfg);
    job.cfg.strategy = PD_BEAM_SEARCH;
    job.cfg.n = 4;
    job.cfg.beam_width = 2;
    job.cfg.step_max_tokens = 40;
    run_out *o = calloc(1, sizeof *o);
    run(ARITH_POLICY, ARITH_PRM, "\n\n", 64 << 10, 0, &job, 1, o); /* one block */
    CHECK_EQ_INT(o->rc, PD_ELIMIT);
    CHECK_MSG(strstr(o->err.msg, "policy") && strstr(o->err.msg, ARITH_POLICY) && strstr(o->err.msg, "needs") &&
                  strstr(o->err.msg, "MiB") && strstr(o->err.msg, "--kv-memory allows"),
              "%s", o->err.msg);
    CHECK_EQ_INT(o->pol_u.bytes_live, 0); /* the failed call left nothing behind */
    run(ARITH_POLICY, ARITH_PRM, "\n\n", 0, 64 << 10, &job, 1, o);
    CHECK_EQ_INT(o->rc, PD_ELIMIT);
    CHECK_MSG(strstr(o->err.msg, "prm") && strstr(o->err.msg, ARITH_PRM) && strstr(o->err.msg, "tokens") &&
                  strstr(o->err.msg, "--kv-memory allows"),
              "%s", o->err.msg);
    CHECK_EQ_INT(o->prm_u.bytes_live, 0);
    free(o);
}

/* The option as users give it: `ponder solve --kv-memory` prints the same solutions. */
static void t_cli(void) {
    if (!exists(ARITH_POLICY "/model.safetensors") || !exists(ARITH_PRM "/model.safetensors"))
        SKIP("models/arith-small or models/arith-prm not trained yet");
    static char a[16384], b[16384], c[4096];
    char cmd[1024];
    const char *args = "solve --policy " ARITH_POLICY " --prm " ARITH_PRM " --system-prompt '' --strategy beam_search "
                       "--n 8 --seed 2 --max-step-tokens 40 --threads 2 'Compute $4 + 5 \\times 6$.'";
    snprintf(cmd, sizeof cmd, "%s %s | grep -v '^  cost:'", ponder_bin(), args);
    CHECK_EQ_INT(run_capture(cmd, a, sizeof a), 0);
    snprintf(cmd, sizeof cmd, "%s %s --kv-memory 1M | grep -v '^  cost:'", ponder_bin(), args);
    CHECK_EQ_INT(run_capture(cmd, b, sizeof b), 0);
    CHECK(strstr(a, "beam_search") && strstr(a, "completions"));
    CHECK_STR(a, b);
    snprintf(cmd, sizeof cmd, "%s %s --kv-memory 1.5G", ponder_bin(), args);
    CHECK(run_capture(cmd, c, sizeof c) != 0);
    CHECK_MSG(strstr(c, "--kv-memory") && strstr(c, "1.5G"), "%s", c);
    snprintf(cmd, sizeof cmd, "%s %s --kv-memory 64K", ponder_bin(), args);
    CHECK(run_capture(cmd, c, sizeof c) != 0);
    CHECK_MSG(strstr(c, "needs") && strstr(c, ARITH_POLICY), "%s", c);
}

int main(void) {
    RUN(t_parse_sizes);
    RUN(t_pool_budget);
    RUN(t_search_arith_bounded);
    RUN(t_search_random_bounded);
    RUN(t_too_small);
    RUN(t_cli);
    return test_done();
}
