/* test_strategies_new.c — particle filtering and REBASE: their mechanics (resampling keeps N
 * particles and follows the weights in distribution; REBASE's allocation sums to the budget
 * and follows softmax(reward / T)), both running through the scheduler in the same batches as
 * the other strategies, and the particle-filtering paper's finding on the simulated backend:
 * with a PRM whose errors persist down a path, particle filtering beats beam search at
 * equal N. */
#include "test.h"
#include "ponder.h"
#include "search/search_int.h"

#include <math.h>

/* Resampling returns N indices; systematic resampling gives each particle floor or ceil of
 * N x w copies; multinomial follows the weights over many draws. */
static void t_resample(void) {
    double w[5] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
    int32_t out[64];
    pd_rng rng;
    pd_rng_seed(&rng, 42);
    for (int rep = 0; rep < 50; rep++) {
        pd_resample_indices(w, 5, 16, PD_RESAMPLE_SYSTEMATIC, &rng, out);
        int cnt[5] = {0};
        for (int k = 0; k < 16; k++) {
            CHECK(out[k] >= 0 && out[k] < 5);
            cnt[out[k]]++;
            if (k) CHECK(out[k] >= out[k - 1]);
        }
        for (int i = 0; i < 5; i++) CHECK_MSG(abs(cnt[i] - (int)lround(16 * w[i])) <= 1, "particle %d: %d copies", i, cnt[i]);
    }
    long tot[5] = {0};
    for (int rep = 0; rep < 2000; rep++) {
        pd_resample_indices(w, 5, 16, PD_RESAMPLE_MULTINOMIAL, &rng, out);
        for (int k = 0; k < 16; k++) {
            CHECK(out[k] >= 0 && out[k] < 5);
            tot[out[k]]++;
        }
    }
    for (int i = 0; i < 5; i++) {
        double share = tot[i] / (2000.0 * 16), sd = sqrt(w[i] * (1 - w[i]) / (2000.0 * 16));
        CHECK_MSG(fabs(share - w[i]) < 5 * sd, "particle %d: share %.4f, weight %.4f", i, share, w[i]);
    }
    /* a zero weight is never picked */
    double z[3] = {0.0, 1.0, 0.0};
    pd_resample_indices(z, 3, 8, PD_RESAMPLE_MULTINOMIAL, &rng, out);
    for (int k = 0; k < 8; k++) CHECK_EQ_INT(out[k], 1);
}

/* The budget is split in full, in proportion to softmax(score / T). */
static void t_allocate(void) {
    double sc[4] = {0.9, 0.5, 0.5, 0.1};
    int32_t out[4];
    for (int budget = 0; budget <= 40; budget++) {
        pd_softmax_allocate(sc, 4, budget, 0.2, out);
        int sum = 0;
        for (int i = 0; i < 4; i++) sum += out[i];
        CHECK_EQ_INT(sum, budget);
        CHECK(out[0] >= out[1] && out[1] >= out[3]);
        CHECK(abs(out[1] - out[2]) <= 1);
    }
    pd_softmax_allocate(sc, 4, 100, 1000.0, out); /* a hot softmax spreads evenly */
    for (int i = 0; i < 4; i++) CHECK(out[i] == 25);
    pd_softmax_allocate(sc, 4, 16, 0.01, out); /* a cold one gives all to the best */
    CHECK_EQ_INT(out[0], 16);
}

static pd_dataset make_ds(int n) {
    pd_dataset ds;
    memset(&ds, 0, sizeof ds);
    for (int i = 0; i < n; i++) {
        char id[32], ans[32];
        snprintf(id, sizeof id, "pf-%d", i);
        snprintf(ans, sizeof ans, "%d", (i * 7919) % 1000 + 2);
        pd_dataset_add(&ds, id, "Compute the value of the expression.", ans, NULL, 1 + i % 5);
    }
    return ds;
}

/* Both run through the scheduler together with the other strategies: N completions each,
 * every node released, the results the same alone or in a mixed batch. */
static void t_scheduled(void) {
    pd_dataset ds = make_ds(20);
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK(pd_policy_open(&pol, "sim", NULL, &err) == 0 && pd_verifier_open(&ver, "sim", &pol, NULL, &err) == 0);
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    for (int s = 0; s < PD_N_STRATEGIES; s++) o.strategies[s] = (pd_strategy)s;
    o.n_strategies = PD_N_STRATEGIES;
    o.ns[0] = 8;
    o.n_ns = 1;
    o.base.num_iterations = 6;
    pd_eval_report mixed, alone;
    CHECK_MSG(pd_eval_run(&pol, &ver, &ds, &o, &mixed, &err) == 0, "%s", err.msg);
    CHECK(mixed.stats.max_expand_batch >= 40); /* the strategies shared the batches */
    for (int s = PD_PARTICLE_FILTER; s <= PD_REBASE; s++) {
        pd_eval_opts a = o;
        a.strategies[0] = (pd_strategy)s;
        a.n_strategies = 1;
        CHECK(pd_eval_run(&pol, &ver, &ds, &a, &alone, &err) == 0);
        const pd_eval_cell *m = &mixed.cells[s], *c = &alone.cells[0];
        CHECK_EQ_INT(m->strategy, s);
        for (int sel = 0; sel < PD_N_SELECT; sel++) CHECK_EQ_INT(m->correct[sel][m->n_k - 1], c->correct[sel][c->n_k - 1]);
        CHECK(m->policy_tokens == c->policy_tokens && m->prm_tokens == c->prm_tokens);
        pd_eval_report_free(&alone);
    }
    pd_eval_report_free(&mixed);
    /* one search each: N completions, each a finished or truncated solution */
    for (int s = PD_PARTICLE_FILTER; s <= PD_REBASE; s++) {
        pd_search_cfg cfg;
        pd_search_cfg_default(&cfg);
        cfg.strategy = (pd_strategy)s;
        cfg.n = 16;
        pd_search_result r;
        CHECK(pd_search_run(&pol, &ver, &ds.items[3], &cfg, &r, &err) == 0);
        CHECK_EQ_INT(r.n, 16);
        for (int32_t i = 0; i < r.n; i++) CHECK(r.c[i].status == PD_NODE_FINISHED || r.c[i].status == PD_NODE_TRUNCATED);
        CHECK(r.iterations >= 2);
        pd_search_result_free(&r);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
}

/* Weighted accuracy of a strategy at N over 400 problems on a sim whose PRM errors persist. */
static double acc(pd_strategy strat, int n, double drift) {
    pd_dataset ds = make_ds(400);
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.policy_acc = 0.85;
    sp.acc_decay = 0.07;
    sp.prm_sep = 2.0;
    sp.prm_noise = 1.0;
    sp.prm_drift = drift;
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    double a = -1;
    if (pd_policy_open(&pol, "sim", &sp, &err) == 0 && pd_verifier_open(&ver, "sim", &pol, &sp, &err) == 0) {
        pd_eval_opts o;
        pd_eval_opts_default(&o);
        o.strategies[0] = strat;
        o.ns[0] = n;
        o.base.seed = 7;
        pd_eval_report rep;
        if (pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0) {
            const pd_eval_cell *c = &rep.cells[0];
            a = (double)c->correct[PD_SEL_WEIGHTED][c->n_k - 1] / c->problems;
            pd_eval_report_free(&rep);
        }
        pd_verifier_close(&ver);
        pd_policy_close(&pol);
    }
    pd_dataset_free(&ds);
    return a;
}

/* Puri et al.: particle filtering is robust where a deterministic search over-trusts an
 * imperfect PRM. With a PRM that is consistently wrong about some branches (drift), it beats
 * beam search at N = 16; with i.i.d. noise only (drift 0), beam search is the stronger one in
 * this simulation, which the test also pins, so a change of either is noticed. */
static void t_pf_beats_beam_with_persistent_prm_errors(void) {
    double pf = acc(PD_PARTICLE_FILTER, 16, 1.5), bs = acc(PD_BEAM_SEARCH, 16, 1.5);
    printf("  drift 1.5, N=16: particle_filter %.3f, beam_search %.3f\n", pf, bs);
    CHECK(pf > bs + 0.01);
    double pf0 = acc(PD_PARTICLE_FILTER, 16, 0.0), bs0 = acc(PD_BEAM_SEARCH, 16, 0.0);
    printf("  drift 0,   N=16: particle_filter %.3f, beam_search %.3f\n", pf0, bs0);
    CHECK(bs0 >= pf0);
    double rb = acc(PD_REBASE, 16, 1.5), bon = acc(PD_BEST_OF_N, 16, 1.5);
    printf("  drift 1.5, N=16: rebase %.3f, best_of_n %.3f\n", rb, bon);
    CHECK(rb > bon); /* REBASE's reward-balanced expansion beats independent samples */
}

/* Accuracy (selection sel) and policy tokens per problem of one strategy on the sim with the
 * given confidence signal, read by the deepconf verifier. */
static double conf_run(pd_strategy strat, int n, pd_select sel, double conf_sep, float keep, double *tokens) {
    pd_dataset ds = make_ds(400); /* no reference solutions: base_steps + level steps each */
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.policy_acc = 0.95;
    sp.acc_decay = 0.02;
    sp.base_steps = 10;
    sp.conf_sep = conf_sep;
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    double a = -1;
    if (pd_policy_open(&pol, "sim", &sp, &err) == 0 && pd_verifier_open(&ver, "deepconf", &pol, &sp, &err) == 0) {
        pd_eval_opts o;
        pd_eval_opts_default(&o);
        o.strategies[0] = strat;
        o.ns[0] = n;
        o.base.seed = 11;
        o.base.deepconf_keep = keep;
        pd_eval_report rep;
        if (pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0) {
            const pd_eval_cell *c = &rep.cells[0];
            a = (double)c->correct[sel][c->n_k - 1] / c->problems;
            *tokens = c->policy_tokens / c->problems;
            pd_eval_report_free(&rep);
        } else {
            printf("  %s\n", err.msg);
        }
        pd_verifier_close(&ver);
        pd_policy_close(&pol);
    } else {
        printf("  %s\n", err.msg);
    }
    pd_dataset_free(&ds);
    return a;
}

/* DeepConf: confidence-weighted voting beats plain majority when the policy's confidence
 * says something (and not when it says nothing); DeepConf online (-low) reaches plain
 * voting's accuracy with at least 40% fewer tokens. */
static void t_confidence(void) {
    double t1, t2, t3;
    double w = conf_run(PD_BEST_OF_N, 32, PD_SEL_WEIGHTED, 1.0, 0.9f, &t1);
    double m = conf_run(PD_BEST_OF_N, 32, PD_SEL_MAJ, 1.0, 0.9f, &t1);
    printf("  informative confidence, N=32: weighted %.3f, majority %.3f\n", w, m);
    CHECK(w > m + 0.05);
    double w0 = conf_run(PD_BEST_OF_N, 32, PD_SEL_WEIGHTED, 0.0, 0.9f, &t2);
    double m0 = conf_run(PD_BEST_OF_N, 32, PD_SEL_MAJ, 0.0, 0.9f, &t2);
    printf("  uninformative confidence, N=32: weighted %.3f, majority %.3f\n", w0, m0);
    CHECK(fabs(w0 - m0) < 0.04);
    double dc = conf_run(PD_DEEPCONF, 32, PD_SEL_WEIGHTED, 1.0, 0.1f, &t3);
    printf("  DeepConf-low online N=32: %.3f with %.0f tokens/problem; voting %.3f with %.0f (%.0f%% fewer)\n", dc, t3,
           m, t1, 100 * (1 - t3 / t1));
    CHECK(dc >= m - 0.01);
    CHECK(t3 <= 0.6 * t1);
    double dch = conf_run(PD_DEEPCONF, 32, PD_SEL_WEIGHTED, 1.0, 0.9f, &t3);
    printf("  DeepConf-high online N=32: %.3f with %.0f tokens/problem\n", dch, t3);
    CHECK(dch >= m - 0.01 && t3 < t1);
}

/* Best-of-N that stops sampling once its majority vote is settled gives the same majority
 * answers with fewer samples. */
static void t_vote_stop(void) {
    pd_dataset ds = make_ds(400);
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK(pd_policy_open(&pol, "sim", NULL, &err) == 0 && pd_verifier_open(&ver, "sim", &pol, NULL, &err) == 0);
    double acc[2] = {0}, tok[2] = {0};
    for (int k = 0; k < 2; k++) {
        pd_eval_opts o;
        pd_eval_opts_default(&o);
        o.ns[0] = 32;
        o.base.seed = 3;
        o.base.vote_wave = k ? 4 : 0;
        pd_eval_report rep;
        CHECK(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0);
        const pd_eval_cell *c = &rep.cells[0];
        acc[k] = (double)c->correct[PD_SEL_MAJ][c->n_k - 1] / c->problems;
        tok[k] = c->policy_tokens / c->problems;
        pd_eval_report_free(&rep);
    }
    printf("  majority of 32: %.3f with %.0f tokens/problem; stopping when settled: %.3f with %.0f (%.0f%% fewer)\n",
           acc[0], tok[0], acc[1], tok[1], 100 * (1 - tok[1] / tok[0]));
    CHECK(fabs(acc[1] - acc[0]) <= 0.01);
    CHECK(tok[1] < 0.85 * tok[0]);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
}

int main(void) {
    RUN(t_resample);
    RUN(t_allocate);
    RUN(t_scheduled);
    RUN(t_pf_beats_beam_with_persistent_prm_errors);
    RUN(t_confidence);
    RUN(t_vote_stop);
    return test_done();
}
