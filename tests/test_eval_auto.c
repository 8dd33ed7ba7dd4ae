/* test_eval_auto.c — `--strategy auto --plan FILE` (src/search/auto.c): the probe's statistic
 * picks the bin, and the plan's choice for that bin runs, the same search as on its own.
 *
 * A sim run of best_of_n at N = 8 and beam_search at N = 4 (M = 2) gives every problem's
 * probe (the mean score of its first 4 best-of-N samples). A hand-written plan splits the
 * problems at the median of that probe: the hard half gets beam_search N = 4 (naive), the easy
 * half best_of_n N = 8 (majority). Then `eval --strategy auto` must, per problem: report the
 * probe statistic the samples give, the bin the threshold gives; the easy half's completions
 * and cost equal to the best_of_n@8 line's (the probe's samples are its first: nothing spent
 * twice); the hard half's completions equal to the beam_search line's, with the probe's tokens
 * on top of its cost; the plan's own selection's answer. A plan with its bins swapped must
 * swap the strategies. Also solve with auto, the errors (no plan, a bad plan naming the field,
 * N below the plan's budgets) and a resume with another plan refused.
 *
 * A first-step probe (P first steps of the root, their mean PRM score) must bin by that mean,
 * and the strategy that runs must take the probe's steps over: beam search, DVTS, REBASE and
 * best-of-N with N >= P give the same completions for the same cost as on their own (the
 * probe costs nothing extra), best-of-2 pays for the two first steps it does not use. */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_eval_auto"

static char out[65536];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

/* The lines of a results file keyed "strategy n id". */
static json_t *load_lines(const char *path) {
    json_t *m = json_object();
    FILE *f = fopen(path, "r");
    if (!f) return m;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        char key[256];
        snprintf(key, sizeof key, "%s %lld %s", json_string_value(json_object_get(j, "strategy")),
                 (long long)json_integer_value(json_object_get(j, "n")), json_string_value(json_object_get(j, "id")));
        json_object_set_new(m, key, j);
    }
    free(line);
    fclose(f);
    return m;
}

/* A probe's statistic from a best-of-N line: the mean score of its first P samples, or
 * (first_step) the mean PRM score of their first steps. */
static double probe_of(json_t *bon, int P, int first_step) {
    json_t *c = json_object_get(bon, "completions");
    double s = 0;
    for (int i = 0; i < P; i++) {
        json_t *ci = json_array_get(c, (size_t)i);
        s += json_number_value(first_step ? json_array_get(json_object_get(ci, "step_rewards"), 0)
                                          : json_object_get(ci, "score"));
    }
    return s / P;
}

static double median_probe(json_t *lines, int P, int first_step) {
    double v[1024];
    size_t n = 0;
    const char *k;
    json_t *j;
    json_object_foreach(lines, k, j) {
        if (strncmp(k, "best_of_n 8 ", 12) || n >= 1024) continue;
        v[n++] = probe_of(j, P, first_step);
    }
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && v[b - 1] > v[b]; b--) {
            double t = v[b];
            v[b] = v[b - 1];
            v[b - 1] = t;
        }
    return n > 1 ? (v[n / 2 - 1] + v[n / 2]) / 2 : 0; /* between two problems: no tie at the rounding */
}

static void write_plan(const char *path, double thr, int swap) {
    const char *hard = "{\"strategy\": \"beam_search\", \"selection\": \"naive\", \"n\": 4, \"beam_width\": 2}";
    const char *easy = "{\"strategy\": \"best_of_n\", \"selection\": \"maj\", \"n\": 8, \"beam_width\": 4}";
    const char *easy4 = "{\"strategy\": \"best_of_n\", \"selection\": \"weighted\", \"n\": 4}";
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [%.17g],\n"
               " \"budgets\": [{\"budget\": 4, \"bins\": [%s, %s]},\n"
               "             {\"budget\": 8, \"bins\": [%s, %s]}]}\n",
            thr, hard, easy4, swap ? easy : hard, swap ? hard : easy);
    fclose(f);
}

/* Completions of two lines the same (answers, scores, tokens). */
static int same_completions(json_t *a, json_t *b) {
    json_t *ca = json_object_get(a, "completions"), *cb = json_object_get(b, "completions");
    if (json_array_size(ca) != json_array_size(cb) || !json_array_size(ca)) return 0;
    for (size_t i = 0; i < json_array_size(ca); i++) {
        json_t *x = json_array_get(ca, i), *y = json_array_get(cb, i);
        if (!json_equal(json_object_get(x, "answer"), json_object_get(y, "answer")) ||
            !json_equal(json_object_get(x, "text"), json_object_get(y, "text")) ||
            fabs(json_number_value(json_object_get(x, "score")) - json_number_value(json_object_get(y, "score"))) > 1e-9 ||
            !json_equal(json_object_get(x, "tokens"), json_object_get(y, "tokens")))
            return 0;
    }
    return 1;
}

static long long cost_of(json_t *line, const char *k) {
    return (long long)json_integer_value(json_object_get(json_object_get(line, "cost"), k));
}

static double thr_used;

static void t_auto_runs_the_plan(void) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR " && mkdir -p " DIR " && %s data arith --n 60 --seed 5 --out " DIR "/d.jsonl && "
             "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy best_of_n,beam_search --n 8,4 "
             "--beam-width 2 --sim-prm-noise 1.5 --sim-policy-acc 0.85 --quiet --out " DIR "/fixed",
             ponder_bin(), ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *fixed = load_lines(DIR "/fixed/results.jsonl");
    double thr = median_probe(fixed, 4, 0);
    thr_used = thr;
    write_plan(DIR "/plan.json", thr, 0);
    write_plan(DIR "/swapped.json", thr, 1);
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy auto --plan " DIR
             "/plan.json --n 8 --beam-width 2 --sim-prm-noise 1.5 --sim-policy-acc 0.85 --quiet --out " DIR "/auto && "
             "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy auto --plan " DIR "/swapped.json --n 8 "
             "--beam-width 2 --sim-prm-noise 1.5 --sim-policy-acc 0.85 --quiet --out " DIR "/swapped",
             ponder_bin(), ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *au = load_lines(DIR "/auto/results.jsonl"), *sw = load_lines(DIR "/swapped/results.jsonl");
    CHECK_EQ_INT(json_object_size(au), 60);
    CHECK_EQ_INT(json_object_size(sw), 60);
    int n_easy = 0, n_hard = 0, plan_right = 0;
    const char *k;
    json_t *j;
    json_object_foreach(au, k, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        char kb[256], kf[256], ks[256];
        snprintf(kb, sizeof kb, "best_of_n 8 %s", id);
        snprintf(kf, sizeof kf, "beam_search 4 %s", id);
        snprintf(ks, sizeof ks, "auto 8 %s", id);
        json_t *bon = json_object_get(fixed, kb), *beam = json_object_get(fixed, kf), *pl = json_object_get(j, "plan");
        json_t *other = json_object_get(sw, ks);
        CHECK(bon && beam && pl && other);
        if (!bon || !beam || !pl || !other) continue;
        /* the statistic: the mean score of the first 4 best-of-N samples */
        json_t *c = json_object_get(bon, "completions");
        double s = 4 * probe_of(bon, 4, 0);
        double stat = json_number_value(json_object_get(pl, "stat"));
        CHECK_MSG(fabs(stat - s / 4) < 1e-5, "%s: stat %g, samples say %g", id, stat, s / 4);
        int bin = (int)json_integer_value(json_object_get(pl, "bin"));
        CHECK_EQ_INT(bin, s / 4 >= thr ? 1 : 0);
        const char *strat = json_string_value(json_object_get(pl, "strategy"));
        /* policy tokens of the probe: its 4 samples */
        long long probe = 0;
        for (int i = 0; i < 4; i++) probe += json_integer_value(json_object_get(json_array_get(c, (size_t)i), "tokens"));
        if (bin == 1) {
            n_easy++;
            CHECK_STR(strat, "best_of_n");
            CHECK_MSG(same_completions(j, bon), "%s: auto's best_of_n differs from best_of_n@8", id);
            CHECK_EQ_INT(cost_of(j, "policy_tokens"), cost_of(bon, "policy_tokens")); /* the probe reused */
            CHECK_EQ_INT(cost_of(j, "prm_tokens"), cost_of(bon, "prm_tokens"));
            CHECK(json_equal(json_object_get(j, "correct_plan"), json_object_get(bon, "correct_maj@8")));
            CHECK_STR(json_string_value(json_object_get(json_object_get(other, "plan"), "strategy")), "beam_search");
            CHECK(same_completions(other, beam));
        } else {
            n_hard++;
            CHECK_STR(strat, "beam_search");
            CHECK_EQ_INT(json_integer_value(json_object_get(pl, "beam_width")), 2);
            CHECK_MSG(same_completions(j, beam), "%s: auto's beam_search differs from beam_search@4", id);
            CHECK_EQ_INT(cost_of(j, "policy_tokens"), cost_of(beam, "policy_tokens") + probe); /* the probe on top */
            CHECK(json_equal(json_object_get(j, "correct_plan"), json_object_get(beam, "correct_naive@4")));
            CHECK_STR(json_string_value(json_object_get(json_object_get(other, "plan"), "strategy")), "best_of_n");
            CHECK(same_completions(other, bon));
        }
        plan_right += json_is_true(json_object_get(j, "correct_plan"));
    }
    CHECK_MSG(n_easy >= 20 && n_hard >= 20, "easy %d, hard %d", n_easy, n_hard);
    /* the summary: accuracy with the plan's selection */
    json_t *sum = json_load_file(DIR "/auto/summary.json", 0, NULL);
    json_t *cell = json_array_get(json_object_get(sum, "results"), 0);
    CHECK_STR(json_string_value(json_object_get(cell, "strategy")), "auto");
    CHECK_MSG(fabs(json_number_value(json_object_get(cell, "accuracy_plan")) - plan_right / 60.0) < 1e-9, "%s",
              json_dumps(cell, 0));
    json_decref(sum);
    /* at budget 4..7 the plan's budget 4 entry runs (best_of_n@8 does not fit) */
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy auto --plan " DIR
             "/plan.json --n 4 --beam-width 2 --limit 10 --quiet --out " DIR "/b4", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *b4 = load_lines(DIR "/b4/results.jsonl");
    json_object_foreach(b4, k, j) {
        json_t *pl = json_object_get(j, "plan");
        int bin = (int)json_integer_value(json_object_get(pl, "bin"));
        CHECK_STR(json_string_value(json_object_get(pl, "strategy")), bin ? "best_of_n" : "beam_search");
        CHECK_EQ_INT(json_integer_value(json_object_get(pl, "n")), 4);
    }
    CHECK_EQ_INT(json_object_size(b4), 10);
    json_decref(b4);
    json_decref(fixed);
    json_decref(au);
    json_decref(sw);
}

/* The "plan" object of a result names beam_width only for the strategies that have one (beam
 * search and DVTS), however the plan file is written: eval and serve build it with the same
 * pd_plan_trace_json (eval used to write it for every strategy but best-of-N). */
static void t_auto_trace_beam_width(void) {
    FILE *f = fopen(DIR "/pf.json", "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [%.17g],\n"
               " \"budgets\": [{\"budget\": 4, \"bins\": [{\"strategy\": \"dvts\", \"selection\": \"naive\", \"n\": 4, "
               "\"beam_width\": 2}, {\"strategy\": \"particle_filter\", \"selection\": \"weighted\", \"n\": 4, "
               "\"beam_width\": 2}]}]}\n", thr_used);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy auto --plan " DIR
             "/pf.json --n 4 --beam-width 2 --sim-prm-noise 1.5 --sim-policy-acc 0.85 --quiet --out " DIR "/pf",
             ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *lines = load_lines(DIR "/pf/results.jsonl");
    int n_dvts = 0, n_pf = 0;
    const char *k;
    json_t *j;
    json_object_foreach(lines, k, j) {
        json_t *pl = json_object_get(j, "plan");
        const char *st = json_string_value(json_object_get(pl, "strategy"));
        CHECK(st != NULL);
        if (!st) continue;
        if (!strcmp(st, "dvts")) {
            n_dvts++;
            CHECK_EQ_INT(json_integer_value(json_object_get(pl, "beam_width")), 2);
        } else {
            n_pf++;
            CHECK_STR(st, "particle_filter");
            CHECK_MSG(!json_object_get(pl, "beam_width"), "%s: %s", k, json_dumps(pl, 0));
        }
    }
    CHECK_MSG(n_dvts > 0 && n_pf > 0, "dvts %d, particle_filter %d", n_dvts, n_pf);
    json_decref(lines);
}

static void t_auto_solve(void) {
    char cmd[4096];
    /* a level-1 problem has a high probe score (easy: best_of_n), a level-5 one a low one */
    snprintf(cmd, sizeof cmd, "%s solve --policy sim --prm sim --strategy auto --plan " DIR "/plan.json --n 8 "
             "--beam-width 2 --answer 42 --level 1 'What is 6*7?'", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    CHECK_MSG(strstr(out, "auto N=8: probe of 4 samples, mean PRM score") && strstr(out, "-> bin ") &&
                  strstr(out, "selection"),
              "%s", out);
    CHECK_MSG((strstr(out, "-> bin 1 of 2 -> best_of_n N=8 maj") && strstr(out, "selection maj")) ||
                  (strstr(out, "-> bin 0 of 2 -> beam_search N=4 M=2 naive") && strstr(out, "selection naive")),
              "%s", out);
    snprintf(cmd, sizeof cmd, "%s solve --policy sim --prm sim --strategy auto --n 8 --answer 42 'x'", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--plan"), "%s", out);
}

static void t_auto_errors(void) {
    char cmd[4096];
    const char *base = "--policy sim --prm sim --dataset " DIR "/d.jsonl --quiet --overwrite --out " DIR "/err";
    snprintf(cmd, sizeof cmd, "%s eval %s --strategy auto --n 8", ponder_bin(), base);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--strategy auto needs --plan"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval %s --strategy auto --plan " DIR "/plan.json --n 1", ponder_bin(), base);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "below every budget of the plan"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval %s --strategy best_of_n --plan " DIR "/plan.json --n 8", ponder_bin(), base);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--plan is for --strategy auto"), "%s", out);
    /* bad plans: the file and the field named */
    static const char *bad[][2] = {
        {"{\"probe\": {}}", "not a plan"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"x\", \"samples\": 4}}", "probe.statistic"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [0.5, 0.2], "
         "\"budgets\": []}", "thresholds[1]"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [0.5], "
         "\"budgets\": [{\"budget\": 4, \"bins\": [{\"strategy\": \"best_of_n\", \"selection\": \"maj\", \"n\": 4}]}]}",
         "budgets[0].bins must have 2"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [], "
         "\"budgets\": [{\"budget\": 4, \"bins\": [{\"strategy\": \"best_of_n\", \"selection\": \"maj\", \"n\": 8}]}]}",
         "budgets[0].bins[0].n"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [], "
         "\"budgets\": [{\"budget\": 4, \"bins\": [{\"strategy\": \"auto\", \"selection\": \"maj\", \"n\": 4}]}]}",
         "budgets[0].bins[0].strategy"},
        {"{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"thresholds\": [], "
         "\"budgets\": [{\"budget\": 4, \"bins\": [{\"strategy\": \"beam_search\", \"selection\": \"maj\", \"n\": 4, "
         "\"beam_width\": 3}]}]}",
         "beam_width dividing n"},
        {"{\"ponder_plan\": 1,", DIR "/bad.json:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *f = fopen(DIR "/bad.json", "w");
        CHECK(f != NULL);
        if (!f) return;
        fputs(bad[i][0], f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s eval %s --strategy auto --plan " DIR "/bad.json --n 8", ponder_bin(), base);
        CHECK(run(cmd) != 0);
        CHECK_MSG(strstr(out, DIR "/bad.json") && strstr(out, bad[i][1]), "case %zu: %s", i, out);
    }
    /* a resume with another plan is refused, naming it */
    write_plan(DIR "/other.json", thr_used + 0.01, 0);
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/auto --plan " DIR "/other.json --quiet", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "plan_fingerprint"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/auto --quiet", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
}

/* A first-step plan at budget 8: hard problems to `hard`, easy ones to `easy`. */
static void write_first_step_plan(const char *path, double thr, const char *hard, const char *easy) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"first-step\", \"samples\": 4}, "
               "\"thresholds\": [%.17g], \"budgets\": [{\"budget\": 8, \"bins\": [%s, %s]}]}\n", thr, hard, easy);
    fclose(f);
}

static void t_auto_first_step(void) {
    char cmd[4096];
    const char *sim = "--beam-width 2 --sim-prm-noise 1.5 --sim-policy-acc 0.85 --quiet";
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy best_of_n,beam_search,dvts,"
             "rebase --n 8 %s --out " DIR "/fs_fixed", ponder_bin(), sim);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *fixed = load_lines(DIR "/fs_fixed/results.jsonl");
    double thr = median_probe(fixed, 4, 1);
    write_first_step_plan(DIR "/fs_a.json", thr, "{\"strategy\": \"beam_search\", \"selection\": \"naive\", \"n\": 8, \"beam_width\": 2}",
                          "{\"strategy\": \"best_of_n\", \"selection\": \"maj\", \"n\": 8}");
    write_first_step_plan(DIR "/fs_b.json", thr, "{\"strategy\": \"dvts\", \"selection\": \"weighted\", \"n\": 8, \"beam_width\": 2}",
                          "{\"strategy\": \"best_of_n\", \"selection\": \"weighted\", \"n\": 2}");
    const char *rebase = "{\"strategy\": \"rebase\", \"selection\": \"weighted\", \"n\": 8}";
    write_first_step_plan(DIR "/fs_c.json", thr, rebase, rebase);
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --strategy auto --plan " DIR
             "/fs_a.json --n 8 %s --out " DIR "/fs_a && %s eval --policy sim --prm sim --dataset " DIR "/d.jsonl "
             "--strategy auto --plan " DIR "/fs_b.json --n 8 %s --out " DIR "/fs_b && %s eval --policy sim --prm sim "
             "--dataset " DIR "/d.jsonl --strategy auto --plan " DIR "/fs_c.json --n 8 %s --out " DIR "/fs_c",
             ponder_bin(), sim, ponder_bin(), sim, ponder_bin(), sim);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *ra = load_lines(DIR "/fs_a/results.jsonl"), *rb = load_lines(DIR "/fs_b/results.jsonl");
    json_t *rc = load_lines(DIR "/fs_c/results.jsonl");
    CHECK_EQ_INT(json_object_size(ra), 60);
    CHECK_EQ_INT(json_object_size(rb), 60);
    CHECK_EQ_INT(json_object_size(rc), 60);
    int n_easy = 0, n_hard = 0;
    const char *k;
    json_t *ja;
    json_object_foreach(ra, k, ja) {
        const char *id = json_string_value(json_object_get(ja, "id"));
        char key[256];
        snprintf(key, sizeof key, "best_of_n 8 %s", id);
        json_t *bon = json_object_get(fixed, key);
        snprintf(key, sizeof key, "beam_search 8 %s", id);
        json_t *beam = json_object_get(fixed, key);
        snprintf(key, sizeof key, "dvts 8 %s", id);
        json_t *dvts = json_object_get(fixed, key);
        snprintf(key, sizeof key, "rebase 8 %s", id);
        json_t *reb = json_object_get(fixed, key);
        snprintf(key, sizeof key, "auto 8 %s", id);
        json_t *jb = json_object_get(rb, key), *jc = json_object_get(rc, key);
        json_t *pa = json_object_get(ja, "plan"), *pb = json_object_get(jb, "plan");
        CHECK(bon && beam && dvts && reb && jb && jc && pa && pb);
        if (!bon || !beam || !dvts || !reb || !jb || !jc || !pa || !pb) continue;
        CHECK_MSG(same_completions(jc, reb), "%s: auto's rebase differs from rebase@8", id);
        CHECK_EQ_INT(cost_of(jc, "policy_tokens"), cost_of(reb, "policy_tokens"));
        CHECK_EQ_INT(cost_of(jc, "prm_tokens"), cost_of(reb, "prm_tokens"));
        double want = probe_of(bon, 4, 1);
        CHECK_MSG(fabs(json_number_value(json_object_get(pa, "stat")) - want) < 1e-5, "%s: stat %g, first steps say %g",
                  id, json_number_value(json_object_get(pa, "stat")), want);
        int bin = (int)json_integer_value(json_object_get(pa, "bin"));
        CHECK_EQ_INT(bin, want >= thr ? 1 : 0);
        CHECK_EQ_INT(json_integer_value(json_object_get(pb, "bin")), bin);
        /* what ran is what runs on its own, for what it costs on its own: the probe was free */
        json_t *run_a = bin ? bon : beam, *run_b = bin ? NULL : dvts;
        CHECK_MSG(same_completions(ja, run_a), "%s: auto (bin %d) differs from its strategy's own run", id, bin);
        CHECK_EQ_INT(cost_of(ja, "policy_tokens"), cost_of(run_a, "policy_tokens"));
        CHECK_EQ_INT(cost_of(ja, "prm_tokens"), cost_of(run_a, "prm_tokens"));
        if (run_b) {
            n_hard++;
            CHECK_MSG(same_completions(jb, run_b), "%s: auto's dvts differs from dvts@8", id);
            CHECK_EQ_INT(cost_of(jb, "policy_tokens"), cost_of(run_b, "policy_tokens"));
            CHECK_EQ_INT(cost_of(jb, "prm_tokens"), cost_of(run_b, "prm_tokens"));
            continue;
        }
        /* best-of-2 under a 4-step probe: best-of-8's first two samples, and the first steps of
         * samples 2 and 3 paid on top (more than nothing, at most those whole samples) */
        n_easy++;
        json_t *cb = json_object_get(jb, "completions"), *c8 = json_object_get(bon, "completions");
        CHECK_EQ_INT(json_array_size(cb), 2);
        long long t[4];
        for (int i = 0; i < 4; i++) t[i] = (long long)json_integer_value(json_object_get(json_array_get(c8, (size_t)i), "tokens"));
        for (size_t i = 0; i < 2 && json_array_size(cb) == 2; i++)
            CHECK(json_equal(json_array_get(cb, i), json_array_get(c8, i)));
        long long pt = cost_of(jb, "policy_tokens");
        CHECK_MSG(pt > t[0] + t[1] && pt <= t[0] + t[1] + t[2] + t[3], "%s: %lld policy tokens; samples %lld %lld %lld %lld",
                  id, pt, t[0], t[1], t[2], t[3]);
    }
    CHECK_MSG(n_easy >= 20 && n_hard >= 20, "easy %d, hard %d", n_easy, n_hard);
    json_decref(fixed);
    json_decref(ra);
    json_decref(rb);
    json_decref(rc);
}

/* A plan whose budgets are FLOPs (plan.json "budget_kind": "flops") at budget 4 with a probe
 * of 4 samples: the hard bin draws best-of-8 (above its budget), the easy one best-of-4. Both
 * reuse the probe's samples whole: the hard problems' completions and cost are best_of_n@8's
 * run alone (4 more samples after the probe, nothing twice), the easy ones' are best_of_n@4's
 * run alone (the probe is the answer: nothing after it). */
static void t_auto_flops_budget(void) {
    FILE *f = fopen(DIR "/flops.json", "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "{\"ponder_plan\": 1, \"probe\": {\"statistic\": \"prm\", \"samples\": 4}, \"budget_kind\": \"flops\",\n"
               " \"thresholds\": [%.17g], \"budgets\": [{\"budget\": 4, \"bins\": [\n"
               "  {\"strategy\": \"best_of_n\", \"selection\": \"weighted\", \"n\": 8},\n"
               "  {\"strategy\": \"best_of_n\", \"selection\": \"naive\", \"n\": 4}]}]}\n", thr_used);
    fclose(f);
    char cmd[4096];
    const char *sim = "--policy sim --prm sim --dataset " DIR "/d.jsonl --beam-width 2 --sim-prm-noise 1.5 "
                      "--sim-policy-acc 0.85 --quiet";
    snprintf(cmd, sizeof cmd, "%s eval %s --strategy best_of_n --n 4 --out " DIR "/bon4 && "
             "%s eval %s --strategy auto --plan " DIR "/flops.json --n 4 --out " DIR "/aflops",
             ponder_bin(), sim, ponder_bin(), sim);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *fixed = load_lines(DIR "/fixed/results.jsonl"), *b4 = load_lines(DIR "/bon4/results.jsonl");
    json_t *au = load_lines(DIR "/aflops/results.jsonl");
    CHECK_EQ_INT(json_object_size(au), 60);
    int n_hard = 0, n_easy = 0;
    const char *k;
    json_t *j;
    json_object_foreach(au, k, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        char k8[256], k4[256];
        snprintf(k8, sizeof k8, "best_of_n 8 %s", id);
        snprintf(k4, sizeof k4, "best_of_n 4 %s", id);
        json_t *bon8 = json_object_get(fixed, k8), *bon4 = json_object_get(b4, k4), *pl = json_object_get(j, "plan");
        CHECK(bon8 && bon4 && pl);
        if (!bon8 || !bon4 || !pl) continue;
        int bin = (int)json_integer_value(json_object_get(pl, "bin"));
        json_t *same = bin ? bon4 : bon8;
        CHECK_EQ_INT(json_integer_value(json_object_get(pl, "n")), bin ? 4 : 8);
        CHECK_EQ_INT(json_array_size(json_object_get(j, "completions")), bin ? 4 : 8);
        CHECK_MSG(same_completions(j, same), "%s: auto's best-of-%d differs from best_of_n@%d alone", id, bin ? 4 : 8,
                  bin ? 4 : 8);
        CHECK_EQ_INT(cost_of(j, "policy_tokens"), cost_of(same, "policy_tokens")); /* the probe reused, not added */
        CHECK_EQ_INT(cost_of(j, "prm_tokens"), cost_of(same, "prm_tokens"));
        CHECK_EQ_INT(cost_of(j, "prefix_tokens"), cost_of(same, "prefix_tokens"));
        CHECK(json_equal(json_object_get(j, "correct_plan"), json_object_get(same, bin ? "correct_naive@4" : "correct_weighted@8")));
        bin ? n_easy++ : n_hard++;
    }
    CHECK_MSG(n_easy >= 20 && n_hard >= 20, "easy %d, hard %d", n_easy, n_hard);
    json_decref(fixed);
    json_decref(b4);
    json_decref(au);
}

int main(void) {
    RUN(t_auto_runs_the_plan);
    RUN(t_auto_first_step);
    RUN(t_auto_flops_budget);
    RUN(t_auto_trace_beam_width);
    RUN(t_auto_solve);
    RUN(t_auto_errors);
    return test_done();
}
