/* test_search_findings.c — the papers' findings, reproduced on the simulated backend with
 * fixed seeds over 200 problems (levels 1-5):
 *   - accuracy rises with N;
 *   - with a weak policy and a good PRM, beam search beats best-of-N at equal N (and not
 *     with a useless PRM: the gain comes from the verifier);
 *   - weighted voting beats majority voting when the PRM is informative (and they agree
 *     when it is not).
 * Accuracies are computed by the eval runner (no files written). */
#include "test.h"
#include "ponder.h"

#include <math.h>

#define NPROB 200

static void make_ds(pd_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    for (int i = 0; i < NPROB; i++) {
        char id[32], ans[32];
        snprintf(id, sizeof id, "find-%d", i);
        snprintf(ans, sizeof ans, "%d", (i * 7919) % 1000 + 2);
        pd_dataset_add(ds, id, "Compute the value of the expression.", ans, NULL, 1 + i % 5);
    }
}

/* Accuracy of `strat` at budget n with selection `sel` (at k = N). */
static double acc(const pd_sim_params *sp, pd_strategy strat, int n, pd_select sel) {
    pd_dataset ds;
    make_ds(&ds);
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    double a = -1;
    if (pd_policy_open(&pol, "sim", sp, &err) || pd_verifier_open(&ver, "sim", &pol, sp, &err)) {
        printf("  open: %s\n", err.msg);
        pd_dataset_free(&ds);
        return a;
    }
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.strategies[0] = strat;
    o.ns[0] = n;
    o.base.seed = 2024;
    pd_eval_report rep;
    if (pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0) {
        const pd_eval_cell *c = &rep.cells[0];
        a = (double)c->correct[sel][c->n_k - 1] / c->problems;
        pd_eval_report_free(&rep);
    } else {
        printf("  eval: %s\n", err.msg);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
    return a;
}

static void t_accuracy_rises_with_n(void) {
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.policy_acc = 0.85;
    sp.acc_decay = 0.05;
    double b1 = acc(&sp, PD_BEST_OF_N, 1, PD_SEL_WEIGHTED), b4 = acc(&sp, PD_BEST_OF_N, 4, PD_SEL_WEIGHTED),
           b16 = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_WEIGHTED);
    double n4 = acc(&sp, PD_BEST_OF_N, 4, PD_SEL_NAIVE), n16 = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_NAIVE);
    double s4 = acc(&sp, PD_BEAM_SEARCH, 4, PD_SEL_NAIVE), s16 = acc(&sp, PD_BEAM_SEARCH, 16, PD_SEL_NAIVE);
    double d4 = acc(&sp, PD_DVTS, 4, PD_SEL_WEIGHTED), d16 = acc(&sp, PD_DVTS, 16, PD_SEL_WEIGHTED);
    printf("  best_of_n weighted N=1,4,16: %.3f %.3f %.3f; naive N=4,16: %.3f %.3f\n", b1, b4, b16, n4, n16);
    printf("  beam_search naive N=4,16: %.3f %.3f; dvts weighted N=4,16: %.3f %.3f\n", s4, s16, d4, d16);
    CHECK(b1 >= 0 && b1 + 0.05 < b4);
    CHECK(b4 + 0.03 < b16);
    CHECK(n4 + 0.03 < n16);
    CHECK(s4 + 0.03 < s16);
    CHECK(d4 + 0.03 < d16);
}

static void t_beam_beats_bon_weak_policy_good_prm(void) {
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.policy_acc = 0.7;
    sp.acc_decay = 0.05;
    sp.prm_sep = 4.0;
    sp.prm_noise = 0.7;
    for (int n = 4; n <= 16; n *= 4) {
        double bon = acc(&sp, PD_BEST_OF_N, n, PD_SEL_NAIVE), beam = acc(&sp, PD_BEAM_SEARCH, n, PD_SEL_NAIVE);
        double bonw = acc(&sp, PD_BEST_OF_N, n, PD_SEL_WEIGHTED), beamw = acc(&sp, PD_BEAM_SEARCH, n, PD_SEL_WEIGHTED);
        printf("  N=%d: best_of_n naive %.3f weighted %.3f; beam_search naive %.3f weighted %.3f\n", n,
               bon, bonw, beam, beamw);
        CHECK(beam >= bon + 0.1);
        CHECK(beamw >= bonw + 0.1);
    }
    /* control: with a PRM that knows nothing (no separation) the edge is gone: the gain
     * comes from the verifier, not from the search alone */
    sp.prm_sep = 0;
    double bon = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_NAIVE), beam = acc(&sp, PD_BEAM_SEARCH, 16, PD_SEL_NAIVE);
    printf("  useless PRM, N=16: best_of_n naive %.3f, beam_search naive %.3f\n", bon, beam);
    CHECK(beam < bon + 0.1);
}

static void t_weighted_beats_maj_informative_prm(void) {
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.policy_acc = 0.8;
    sp.acc_decay = 0.05;
    sp.distractor = 0.6; /* wrong answers gather on a popular wrong answer */
    sp.prm_sep = 3.0;
    sp.prm_noise = 1.0;
    double w = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_WEIGHTED), m = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_MAJ);
    printf("  informative PRM, best_of_n N=16: weighted %.3f, maj %.3f\n", w, m);
    CHECK(w >= m + 0.05);
    sp.prm_sep = 0;
    sp.prm_noise = 0.3;
    double w0 = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_WEIGHTED), m0 = acc(&sp, PD_BEST_OF_N, 16, PD_SEL_MAJ);
    printf("  uninformative PRM: weighted %.3f, maj %.3f\n", w0, m0);
    CHECK(fabs(w0 - m0) <= 0.05);
}

int main(void) {
    RUN(t_accuracy_rises_with_n);
    RUN(t_beam_beats_bon_weak_policy_good_prm);
    RUN(t_weighted_beats_maj_informative_prm);
    return test_done();
}
