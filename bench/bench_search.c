/* bench_search.c — speed of the search machinery alone: beam search and DVTS on the sim
 * backend over generated problems, all searches batched through the scheduler.
 *
 *   build/bench/bench_search [--problems 500] [--n 64] [--beam-width 4] [--inflight 256]
 *
 * Prints node expansions per second (nodes the policy created, lookahead included), PRM
 * scores per second and searches per second, for each strategy. The sim's own work (RNG,
 * step texts) is counted in, so the figure bounds what the tree, the strategies, the
 * scheduler and result building cost per node. Rows with answers "off" skip answer
 * extraction (cfg.no_answers): the machinery alone; rows with "grader" extract and key every
 * completion's answer through src/grade/, as eval does. Never fails on time. */
#include "ponder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this process: the figure per core, whatever else runs on the machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int sink_cb(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)job;
    (void)err;
    uint64_t *n = ud;
    *n += (uint64_t)r->n;
    return 0;
}

int main(int argc, char **argv) {
    long problems = 500, n = 64, m = 4, inflight = 256, reps = 3, rows = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--problems")) problems = v;
        else if (!strcmp(argv[i], "--n")) n = v;
        else if (!strcmp(argv[i], "--beam-width")) m = v;
        else if (!strcmp(argv[i], "--inflight")) inflight = v;
        else if (!strcmp(argv[i], "--reps")) reps = v;
        else if (!strcmp(argv[i], "--rows")) rows = v; /* the first `rows` rows only */
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 1;
        }
    }
    pd_error err = {0};
    pd_dataset ds = {0};
    if (pd_arith_generate(&ds, (size_t)problems, 1, 5, 7, &err)) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        return 1;
    }
    pd_policy pol;
    pd_verifier ver;
    if (pd_policy_open(&pol, "sim", NULL, &err) || pd_verifier_open(&ver, "sim", &pol, NULL, &err)) {
        fprintf(stderr, "bench_search: %s\n", err.msg);
        return 1;
    }
    pd_sched_job *jobs = calloc((size_t)problems, sizeof *jobs);
    printf("search machinery on the sim backend: %ld arith problems (levels 1-5), N=%ld, M=%ld, "
           "%ld searches in flight, best of %ld runs\n",
           problems, n, m, inflight, reps);
    printf("rates per CPU second of this (single-threaded) process; wall-clock nodes/s alongside\n");
    printf("%-12s %9s %8s %10s %12s %12s %11s %12s\n", "strategy", "lookahead", "answers", "nodes",
           "nodes/s", "scores/s", "searches/s", "wall nodes/s");
    pd_strategy strats[] = {PD_BEAM_SEARCH, PD_DVTS, PD_BEAM_SEARCH, PD_BEAM_SEARCH, PD_DVTS};
    int lookaheads[] = {0, 0, 1, 0, 0};
    int with_answers[] = {0, 0, 0, 1, 1};
    for (int s = 0; s < 5 && s < rows; s++) {
        int answers = with_answers[s];
        for (long i = 0; i < problems; i++) {
            jobs[i].prob = &ds.items[i];
            pd_search_cfg_default(&jobs[i].cfg);
            jobs[i].cfg.strategy = strats[s];
            jobs[i].cfg.n = (int32_t)n;
            jobs[i].cfg.beam_width = (int32_t)m;
            jobs[i].cfg.lookahead = lookaheads[s];
            jobs[i].cfg.no_answers = !answers;
        }
        double best = 1e30, best_wall = 1e30;
        pd_sched_stats st = {0};
        for (long r = 0; r < reps; r++) {
            uint64_t comps = 0;
            double t0 = cpu_now(), w0 = pd_now();
            if (pd_sched_run(&pol, &ver, jobs, (size_t)problems, (int)inflight, sink_cb, &comps, &st, &err)) {
                fprintf(stderr, "bench_search: %s\n", err.msg);
                return 1;
            }
            double dt = cpu_now() - t0, dw = pd_now() - w0;
            if (dt < best) best = dt;
            if (dw < best_wall) best_wall = dw;
        }
        printf("%-12s %9d %8s %10llu %12.3g %12.3g %11.0f %12.3g\n", pd_strategy_name(strats[s]),
               lookaheads[s], answers ? "grader" : "off", (unsigned long long)st.nodes,
               (double)st.nodes / best, (double)st.score_reqs / best, (double)problems / best,
               (double)st.nodes / best_wall);
    }
    free(jobs);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
    return 0;
}
