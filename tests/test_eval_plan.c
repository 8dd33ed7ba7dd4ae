/* test_eval_plan.c — `ponder plan` on a run whose answer is known: 40 problems, half easy
 * (every best-of-N sample right, one answer, high PRM scores), half hard (every sample wrong,
 * all answers different, low scores); beam search is right on all of them and costs more.
 * The compute-optimal plan must send easy problems to the cheapest best-of-N option and hard
 * ones to beam search, keep every problem right on the held-out folds, and cost what that
 * costs (probe included for the predicted bins; a first-step probe is taken over by beam
 * search and charged in part to best-of-k below its P); adaptive consistency must stop exactly
 * where its rules say; the first-step plan file read back. Also: a run on the sim end to end
 * through the CLI. */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_eval_plan"

static char out[65536];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

/* A results line: strategy st at N n for problem i; ok: every selection right; samples'
 * answers (NULL: "w<j>" per sample j, all different) and score. Each sample has two steps of
 * 50 tokens, the first scored 0.8 when ok, else 0.3. */
static void put_line(FILE *f, const char *st, int n, int i, int ok, const char *ans, double score, double pf, double qf) {
    json_t *o = json_object();
    char id[16];
    snprintf(id, sizeof id, "p%d", i);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "level", json_integer(ok ? 1 : 5));
    json_object_set_new(o, "strategy", json_string(st));
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "seed", json_integer(0));
    json_t *comps = json_array();
    for (int j = 0; j < n; j++) {
        json_t *c = json_object();
        char a[16];
        snprintf(a, sizeof a, "w%d", j);
        json_t *rw = json_array();
        json_array_append_new(rw, json_real(ok ? 0.8 : 0.3));
        json_array_append_new(rw, json_real(score));
        json_object_set_new(c, "step_rewards", rw);
        json_object_set_new(c, "score", json_real(score));
        json_object_set_new(c, "answer", json_string(ans ? ans : a));
        json_object_set_new(c, "correct", json_boolean(ok));
        json_object_set_new(c, "tokens", json_integer(100));
        json_array_append_new(comps, c);
    }
    json_object_set_new(o, "completions", comps);
    for (int k = 1; k <= n; k *= 2)
        for (int s = 0; s < PD_N_SELECT; s++) {
            char key[48];
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)s), k);
            json_object_set_new(o, key, json_boolean(ok));
        }
    json_t *cost = json_object();
    json_object_set_new(cost, "policy_flops", json_real(pf));
    json_object_set_new(cost, "prm_flops", json_real(qf));
    json_object_set_new(cost, "policy_tokens", json_integer(100 * n));
    json_object_set_new(cost, "prm_tokens", json_integer(100 * n));
    json_object_set_new(o, "cost", cost);
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    free(s);
    json_decref(o);
}

static void make_known_run(void) {
    /* a real run for config.json (beam width 4), its lines replaced by the known ones */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR " && mkdir -p " DIR " && %s data arith --n 40 --out " DIR
             "/d.jsonl && %s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy best_of_n,beam_search --n 8 "
             "--quiet --out " DIR "/known", ponder_bin(), ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    FILE *f = fopen(DIR "/known/results.jsonl", "w");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 40; i++) {
        int easy = i < 20;
        put_line(f, "best_of_n", 8, i, easy, easy ? "1" : NULL, easy ? 0.9 : 0.2, 8e9, 8e9);
        put_line(f, "beam_search", 8, i, 1, "1", 0.9, 1e10, 1e10);
    }
    fclose(f);
}

static void t_known_plan(void) {
    make_known_run();
    pd_plan_opts o;
    pd_plan_opts_default(&o);
    pd_plan_result r;
    pd_error err = {0};
    const char *dirs[] = {DIR "/known"};
    CHECK_MSG(pd_plan_make(dirs, 1, &o, DIR "/plan.json", &r, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(r.n_problems, 40);
    CHECK_EQ_INT(r.n_options, 3 * 4 + 3); /* best_of_n at 1, 2, 4, 8; beam_search at 8 */
    CHECK_EQ_INT(r.n_points, 4);
    const pd_plan_point *p8 = r.n_points == 4 ? &r.points[3] : NULL;
    if (p8) {
        CHECK_EQ_INT(p8->n, 8);
        /* the best fixed option is beam search: every problem right, 2e10 FLOPs */
        CHECK_MSG(strstr(p8->fixed, "beam_search M=4"), "%s", p8->fixed);
        CHECK(fabs(p8->fixed_acc - 1) < 1e-12 && fabs(p8->fixed_flops - 2e10) < 1);
        /* oracle bins: easy -> best-of-1 by majority (1e9: one sample, no PRM), hard -> beam */
        for (int k = PD_BINS_ORACLE_QUINTILE; k <= PD_BINS_ORACLE_ABS; k++) {
            CHECK_MSG(fabs(p8->acc[k] - 1) < 1e-12, "bins %d: %g", k, p8->acc[k]);
            CHECK_MSG(fabs(p8->flops[k] - (20 * 1e9 + 20 * 2e10) / 40) < 1, "bins %d: %g", k, p8->flops[k]);
        }
        /* predicted bins: the probe (4 samples: 4e9 policy + 4e9 PRM) first; easy problems go
         * on with best-of-4 (the probe's own samples: 8e9 in all), hard ones pay beam search */
        for (int k = PD_BINS_PRM; k <= PD_BINS_AGREEMENT; k++) {
            CHECK_MSG(fabs(p8->acc[k] - 1) < 1e-12, "bins %d: %g", k, p8->acc[k]);
            CHECK_MSG(fabs(p8->flops[k] - (20 * 8e9 + 20 * (2e10 + 8e9)) / 40) < 1, "bins %d: %g", k, p8->flops[k]);
        }
        /* a first-step probe: 4 first steps of 50 tokens (5e8 policy + 5e8 PRM FLOPs each at
         * 1e7 per token). Beam search takes all four over: hard problems cost 2e10. Easy ones
         * go to best-of-1 by majority: its sample (1e9) starts from the probe's first step,
         * whose PRM score (5e8) majority voting would not have paid, and the 3 other first
         * steps are extra (3e9): 4.5e9 */
        CHECK_MSG(fabs(p8->acc[PD_BINS_FIRST_STEP] - 1) < 1e-12, "%g", p8->acc[PD_BINS_FIRST_STEP]);
        CHECK_MSG(fabs(p8->flops[PD_BINS_FIRST_STEP] - (20 * 4.5e9 + 20 * 2e10) / 40) < 1, "%g",
                  p8->flops[PD_BINS_FIRST_STEP]);
    }
    /* the frontier at lambda = 0 is that choice; large lambdas fall back to one sample */
    CHECK(r.n_front > 2);
    if (r.n_front > 2) {
        CHECK(fabs(r.front[0].acc[0] - 1) < 1e-12 && fabs(r.front[0].flops[0] - 1.05e10) < 1);
        CHECK(fabs(r.front[r.n_front - 1].acc[0] - 0.5) < 1e-12 && fabs(r.front[r.n_front - 1].flops[0] - 1e9) < 1);
    }
    /* adaptive consistency at N = 8: easy problems stop after 4 samples by the vote rule
     * (P(Beta(5, 1) > 1/2) = 0.969 >= 0.95, while 3 give 0.9375) and after 3 by the PRM rule
     * (one answer holds all the score); hard ones never settle */
    const pd_plan_ac *a = NULL;
    for (size_t i = 0; i < r.n_ac; i++)
        if (r.ac[i].n == 8) a = &r.ac[i];
    CHECK(a != NULL);
    if (a) {
        CHECK(fabs(a->samples[0] - 6.0) < 1e-12 && fabs(a->samples[1] - 5.5) < 1e-12);
        CHECK(fabs(a->full_acc[0] - 0.5) < 1e-12 && fabs(a->ada_acc[0] - 0.5) < 1e-12);
        CHECK(fabs(a->ada_acc[1] - 0.5) < 1e-12);
        /* tokens: 100 per sample, so FLOPs follow the samples: (4/8 + 1) / 2 of the vote rule's */
        CHECK(fabs(a->flops_ada[0] / a->flops_full[0] - 0.75) < 1e-9);
    }
    pd_plan_result_free(&r);
    /* the plan file: at budget 8, the easiest bin takes best-of-N, the hardest beam search */
    json_error_t je;
    json_t *pl = json_load_file(DIR "/plan.json", 0, &je);
    CHECK(pl != NULL);
    json_t *b8 = json_array_get(json_object_get(pl, "budgets"), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(b8, "budget")), 8);
    json_t *bins = json_object_get(b8, "bins");
    CHECK_EQ_INT(json_array_size(bins), 5);
    CHECK_STR(json_string_value(json_object_get(json_array_get(bins, 0), "strategy")), "beam_search");
    CHECK_STR(json_string_value(json_object_get(json_array_get(bins, 4), "strategy")), "best_of_n");
    CHECK(json_integer_value(json_object_get(json_array_get(bins, 4), "n")) >= 4);
    CHECK_STR(json_string_value(json_object_get(json_object_get(pl, "probe"), "statistic")), "prm");
    json_decref(pl);
    /* a first-step plan, read back as strategy auto reads it */
    o.probe = PD_BINS_FIRST_STEP;
    CHECK_MSG(pd_plan_make(dirs, 1, &o, DIR "/plan_fs.json", &r, &err) == 0, "%s", err.msg);
    pd_plan_result_free(&r);
    pd_auto_plan ap;
    CHECK_MSG(pd_plan_load(DIR "/plan_fs.json", &ap, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(ap.statistic, PD_PROBE_FIRST_STEP);
    CHECK_EQ_INT(ap.probe_samples, 4);
    CHECK_EQ_INT(ap.n_budgets, 4);
    CHECK_EQ_INT(ap.n_bins, 5);
    if (ap.n_budgets == 4 && ap.n_bins == 5) {
        CHECK_EQ_INT(ap.budgets[3], 8);
        /* the bins of a hard problem's probe (0.3) and an easy one's (0.8), as auto finds them
         * (rewards are floats in the search and in the planner) */
        int hard = 0, easy = 0;
        while (hard < ap.n_bins - 1 && (double)0.3f >= ap.thresholds[hard]) hard++;
        while (easy < ap.n_bins - 1 && (double)0.8f >= ap.thresholds[easy]) easy++;
        CHECK_MSG(hard < easy, "hard bin %d, easy bin %d", hard, easy);
        CHECK_EQ_INT(ap.choice[3][hard].strategy, PD_BEAM_SEARCH);
        CHECK_EQ_INT(ap.choice[3][easy].strategy, PD_BEST_OF_N);
        CHECK_EQ_INT(ap.choice[3][easy].sel, PD_SEL_MAJ);
        CHECK_EQ_INT(ap.choice[3][easy].n, 1);
    }
}

/* A FLOPs budget shared by the bins (--budget flops): 90 problems, best-of-8 only (1e9 policy
 * and 1e9 PRM FLOPs a sample, so best-of-k costs 2e9 k; majority voting always wrong). 60 easy
 * ones are right at every k, 15 medium ones from k = 4, 15 hard ones only at k = 8. At budget
 * 4 the best fixed option is best-of-4 (75 right, 8e9); a plan capped at N = 4 cannot solve
 * the hard ones, but sharing 8e9 it can: easy bins take one sample (or, with a probe of 2
 * samples, best-of-2: the probe itself), medium best-of-4, hard best-of-8, every problem right
 * for less than best-of-4's FLOPs. The plan file says so and is read back with n above its
 * budget. */
static void put_graded(FILE *f, int i, int from_k, double score) {
    json_t *o = json_object();
    char id[16];
    snprintf(id, sizeof id, "q%d", i);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "level", json_integer(from_k == 1 ? 1 : 5));
    json_object_set_new(o, "strategy", json_string("best_of_n"));
    json_object_set_new(o, "n", json_integer(8));
    json_object_set_new(o, "seed", json_integer(0));
    json_t *comps = json_array();
    for (int j = 0; j < 8; j++) {
        json_t *c = json_object(), *rw = json_array();
        char a[16];
        snprintf(a, sizeof a, "w%d", j);
        json_array_append_new(rw, json_real(score));
        json_object_set_new(c, "step_rewards", rw);
        json_object_set_new(c, "score", json_real(score));
        json_object_set_new(c, "answer", json_string(from_k == 1 ? "1" : a));
        json_object_set_new(c, "correct", json_boolean(from_k == 1 || (from_k == 4 && j < 2)));
        json_object_set_new(c, "tokens", json_integer(100));
        json_array_append_new(comps, c);
    }
    json_object_set_new(o, "completions", comps);
    for (int k = 1; k <= 8; k *= 2)
        for (int sl = 0; sl < PD_N_SELECT; sl++) {
            char key[48];
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)sl), k);
            json_object_set_new(o, key, json_boolean(sl != PD_SEL_MAJ && k >= from_k));
        }
    json_t *cost = json_object();
    json_object_set_new(cost, "policy_flops", json_real(8e9));
    json_object_set_new(cost, "prm_flops", json_real(8e9));
    json_object_set_new(cost, "policy_tokens", json_integer(800));
    json_object_set_new(cost, "prm_tokens", json_integer(800));
    json_object_set_new(o, "cost", cost);
    char *txt = json_dumps(o, JSON_COMPACT);
    fprintf(f, "%s\n", txt);
    free(txt);
    json_decref(o);
}

static void t_flops_budget(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR "/graded && %s eval --policy sim --prm sim --dataset " DIR "/d.jsonl "
             "--strategy best_of_n --n 8 --quiet --out " DIR "/graded", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    FILE *f = fopen(DIR "/graded/results.jsonl", "w");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 90; i++) put_graded(f, i, i < 60 ? 1 : i < 75 ? 4 : 8, i < 60 ? 0.9 : i < 75 ? 0.5 : 0.2);
    fclose(f);
    pd_plan_opts o;
    pd_plan_opts_default(&o);
    o.probe_samples = 2;
    pd_plan_result r;
    pd_error err = {0};
    const char *dirs[] = {DIR "/graded"};
    for (int flops = 0; flops <= 1; flops++) {
        o.flops_budget = flops;
        CHECK_MSG(pd_plan_make(dirs, 1, &o, DIR "/plan_flops.json", &r, &err) == 0, "%s", err.msg);
        const pd_plan_point *p4 = r.n_points == 4 ? &r.points[2] : NULL;
        CHECK(p4 != NULL);
        if (p4) {
            CHECK_EQ_INT(p4->n, 4);
            CHECK_MSG(strstr(p4->fixed, "@4"), "%s", p4->fixed);
            CHECK(fabs(p4->fixed_acc - 75.0 / 90) < 1e-12 && fabs(p4->fixed_flops - 8e9) < 1);
            if (!flops) { /* capped at N = 4: the hard ones stay wrong */
                CHECK_MSG(fabs(p4->acc[PD_BINS_PRM] - 75.0 / 90) < 1e-12, "%g", p4->acc[PD_BINS_PRM]);
            } else {
                /* oracle: 60 x 2e9 + 15 x 8e9 + 15 x 16e9; the probe's 2 samples (4e9) are
                 * best-of-2 for the easy ones and the first samples of the others */
                CHECK_MSG(fabs(p4->acc[PD_BINS_ORACLE_QUINTILE] - 1) < 1e-12, "%g", p4->acc[PD_BINS_ORACLE_QUINTILE]);
                CHECK_MSG(fabs(p4->flops[PD_BINS_ORACLE_QUINTILE] - 480e9 / 90) < 1, "%g",
                          p4->flops[PD_BINS_ORACLE_QUINTILE]);
                CHECK_MSG(fabs(p4->acc[PD_BINS_PRM] - 1) < 1e-12, "%g", p4->acc[PD_BINS_PRM]);
                CHECK_MSG(fabs(p4->flops[PD_BINS_PRM] - 600e9 / 90) < 1, "%g", p4->flops[PD_BINS_PRM]);
            }
        }
        pd_plan_result_free(&r);
    }
    /* the plan file: budget_kind flops, the hard bin at budget 4 takes best-of-8 */
    json_t *pl = json_load_file(DIR "/plan_flops.json", 0, NULL);
    CHECK(pl != NULL);
    CHECK_STR(json_string_value(json_object_get(pl, "budget_kind")), "flops");
    json_t *b4 = json_array_get(json_object_get(pl, "budgets"), 2);
    CHECK(fabs(json_number_value(json_object_get(b4, "flops")) - 8e9) < 1);
    json_decref(pl);
    pd_auto_plan ap;
    CHECK_MSG(pd_plan_load(DIR "/plan_flops.json", &ap, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(ap.flops_budget, 1);
    CHECK_EQ_INT(ap.probe_samples, 2);
    if (ap.n_budgets == 4) {
        CHECK_EQ_INT(ap.budgets[2], 4);
        int hard = 0, easy = 0;
        while (hard < ap.n_bins - 1 && (double)0.2f >= ap.thresholds[hard]) hard++;
        while (easy < ap.n_bins - 1 && (double)0.9f >= ap.thresholds[easy]) easy++;
        CHECK_EQ_INT(ap.choice[2][hard].strategy, PD_BEST_OF_N);
        CHECK_EQ_INT(ap.choice[2][hard].n, 8);
        CHECK_EQ_INT(ap.choice[2][easy].n, 2);
    }
    /* the same plan with the budgets as caps is refused: n 8 above budget 4 */
    pl = json_load_file(DIR "/plan_flops.json", 0, NULL);
    json_object_set_new(pl, "budget_kind", json_string("n"));
    json_dump_file(pl, DIR "/plan_capped.json", 0);
    json_object_set_new(pl, "budget_kind", json_string("joules"));
    json_dump_file(pl, DIR "/plan_bogus.json", 0);
    json_decref(pl);
    CHECK(pd_plan_load(DIR "/plan_capped.json", &ap, &err) != 0);
    CHECK_MSG(strstr(err.msg, "plan_capped.json") && strstr(err.msg, "(its budget)"), "%s", err.msg);
    CHECK(pd_plan_load(DIR "/plan_bogus.json", &ap, &err) != 0);
    CHECK_MSG(strstr(err.msg, "plan_bogus.json") && strstr(err.msg, "budget_kind"), "%s", err.msg);
}

static void t_plan_errors(void) {
    pd_plan_opts o;
    pd_plan_opts_default(&o);
    pd_plan_result r;
    pd_error err = {0};
    const char *none[] = {DIR "/nowhere"};
    CHECK(pd_plan_make(none, 1, &o, NULL, &r, &err) != 0);
    CHECK_MSG(strstr(err.msg, "nowhere"), "%s", err.msg);
    /* a run without best-of-N cannot estimate difficulty */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy beam_search --n 4 "
             "--quiet --out " DIR "/nobon", ponder_bin());
    CHECK_EQ_INT(run(cmd), 0);
    const char *nb[] = {DIR "/nobon"};
    CHECK_EQ_INT(pd_plan_make(nb, 1, &o, NULL, &r, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "best_of_n"), "%s", err.msg);
    o.probe_samples = 0;
    CHECK_EQ_INT(pd_plan_make(nb, 1, &o, NULL, &r, &err), PD_EINVAL);
}

/* The CLI on a sim run: tables, plan file. */
static void t_plan_cli(void) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s data arith --n 200 --seed 3 --out " DIR "/a.jsonl && %s eval --policy sim --prm sim "
             "--dataset " DIR "/a.jsonl --strategy best_of_n,beam_search,dvts --n 4,16 --sim-prm-noise 2 "
             "--sim-distractor 0.6 --no-texts --quiet --out " DIR "/sim && %s plan " DIR "/sim --probe agreement --curve",
             ponder_bin(), ponder_bin(), ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    CHECK_MSG(strstr(out, "200 problems") && strstr(out, "best fixed option") && strstr(out, "adaptive consistency") &&
                  strstr(out, "frontier") && strstr(out, "wrote " DIR "/sim/plan.json (bins: agreement of 4"),
              "%s", out);
    CHECK(pd_file_exists(DIR "/sim/plan.json"));
    snprintf(cmd, sizeof cmd, "%s plan " DIR "/sim --probe bogus", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--probe"), "%s", out);
}

int main(void) {
    RUN(t_known_plan);
    RUN(t_flops_budget);
    RUN(t_plan_errors);
    RUN(t_plan_cli);
    return test_done();
}
