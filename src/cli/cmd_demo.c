/* cmd_demo.c — `ponder demo`: a small model that thinks longer against a model ten times its
 * size, on generated target-sum problems (`ponder data sums`; --task arith for expression
 * models), with the project's own trained models (models/).
 *
 * It generates problems across levels 1-5 (fixed seed), then runs, each as its own
 * evaluation:
 *   - the small policy greedy (N = 1, temperature 0);
 *   - the small policy's best-of-N, once at the largest budget, every smaller budget read off
 *     the first k of the same samples (run_best_of_n), with majority and PRM-weighted voting;
 *   - beam search and DVTS with the PRM at the budgets that are multiples of the beam width;
 *   - the large policy greedy.
 * FLOPs per problem count the policy's computed tokens and, where the selection uses it, the
 * PRM's (greedy and majority vote need no PRM, so its cost is not charged to them, and their
 * runs score with a no-op verifier). It prints the table, the findings the papers report
 * (checked on this run, not asserted), and writes DIR/summary.json (rows) and DIR/report.html
 * (an SVG plot of accuracy against FLOPs), plus each run's results under DIR/runs/.
 * `ponder demo --sim` is the simulated backend's demo (cmd_demo_sim.c). */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_demo_sim(int argc, char **argv);

static const char *HELP =
    "usage: ponder demo [--problems P] [--n LIST] [--seed S] [--out DIR] [--models DIR]\n"
    "                   [--task arith|sums] [--threads T] [--beam-width M] | --sim [...]\n"
    "\n"
    "Runs the project's tiny trained models (models/arith-small, arith-large, arith-prm) on P\n"
    "generated target-sum problems (levels 1-5): the small policy greedy, best-of-N with\n"
    "majority and PRM-weighted voting, beam search and DVTS at each budget N, and the large\n"
    "policy (about 10x the parameters) greedy. Prints accuracy against FLOPs per problem and\n"
    "writes DIR/summary.json, DIR/report.html and each run's results under DIR/runs/.\n"
    "\n"
    "  --problems P   number of problems (200)\n"
    "  --n LIST       budgets (1,2,4,8,16)\n"
    "  --seed S       seed of the problems and of the searches (1)\n"
    "  --out DIR      output directory (runs/demo)\n"
    "  --models DIR   where arith-small, arith-large and arith-prm are (models)\n"
    "  --task T       the problems the models were trained on: sums (target sums, what models/\n"
    "                 holds) or arith (expressions; `ponder data --help`) (sums)\n"
    "  --beam-width M beam search / DVTS width (4)\n"
    "  --iterations I at most I rounds of expansion (12)\n"
    "  --max-step-tokens T  token cap of a step and of a rollout (160)\n"
    "  --threads T    engine threads per model (one per CPU)\n"
    "  --sim          the simulated backend's demo instead (`ponder demo --sim --help`)\n";

/* A verifier that scores nothing: for greedy and majority-vote runs, which need no PRM. */
static int null_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    (void)ctx;
    (void)err;
    for (size_t i = 0; i < n; i++) reqs[i].tree->nodes[reqs[i].node].reward = 0.0f;
    return 0;
}

typedef struct demo {
    pd_dataset ds;
    pd_search_cfg base;
    const char *out;
    int max_level;
    pd_report_row *rows;
    size_t n_rows, cap_rows;
    double total_s;
} demo;

/* Append a row (level 0 = all). */
static int add_row(demo *d, const char *model, const char *strategy, const char *sel, int n, int level,
                   uint32_t problems, uint32_t correct, double flops, double wall) {
    if (!problems) return 0;
    if (pd_grow((void **)&d->rows, &d->cap_rows, d->n_rows + 1, sizeof *d->rows)) return PD_ENOMEM;
    pd_report_row *r = &d->rows[d->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->strategy, sizeof r->strategy, "%s", strategy);
    snprintf(r->selection, sizeof r->selection, "%s", sel);
    r->n = n;
    r->level = level;
    r->problems = problems;
    r->accuracy = (double)correct / problems;
    r->flops_per_problem = flops;
    r->wall_s = wall;
    return 0;
}

/* Run one evaluation of the demo's problems (strategy s at budget n, greedy: temperature 0;
 * the PRM only where prm_used) into DIR/runs/MODEL-STRATEGY-nN, named in dir. */
static int demo_eval(demo *d, const pd_policy *pol, const pd_verifier *ver, const char *model, pd_strategy s, int n,
                     int greedy, int prm_used, char *dir, size_t dir_cap, pd_eval_report *rep, pd_error *err) {
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.base = d->base;
    if (greedy) o.base.temperature = 0.0f;
    o.strategies[0] = s;
    o.n_strategies = 1;
    o.ns[0] = n;
    o.n_ns = 1;
    o.policy_spec = model;
    o.prm_spec = prm_used ? "arith-prm" : "none";
    o.dataset = "problems.jsonl";
    o.progress = 0;
    snprintf(dir, dir_cap, "%s/runs/%s-%s-n%d", d->out, model, greedy ? "greedy" : pd_strategy_name(s), n);
    o.out_dir = dir;
    fflush(stdout);
    int rc = pd_eval_run(pol, ver, &d->ds, &o, rep, err);
    if (rc) printf("\n");
    else d->total_s += rep->seconds;
    return rc;
}

/* One evaluation: strategy s at budget n; rows for each selection in sels ("" = greedy). */
static int run_one(demo *d, const pd_policy *pol, const pd_verifier *ver, const char *model, pd_strategy s, int n,
                   int greedy, const pd_select *sels, const char *const *sel_names, int n_sels, int prm_used,
                   pd_error *err) {
    const char *strat = greedy ? "greedy" : pd_strategy_name(s);
    printf("  %-12s %-12s N=%-3d ", model, strat, n);
    char dir[4200];
    pd_eval_report rep;
    int rc = demo_eval(d, pol, ver, model, s, n, greedy, prm_used, dir, sizeof dir, &rep, err);
    if (rc) return rc;
    const pd_eval_cell *c = &rep.cells[0];
    double p = c->problems ? (double)c->problems : 1.0;
    double flops_pol = c->policy_flops / p, flops_all = (c->policy_flops + c->prm_flops) / p;
    int kn = c->n_k - 1; /* k = N */
    for (int i = 0; i < n_sels && !rc; i++) {
        double flops = prm_used && sels[i] != PD_SEL_MAJ ? flops_all : flops_pol;
        rc = add_row(d, model, strat, sel_names[i], n, 0, c->problems, c->correct[sels[i]][kn], flops, rep.seconds);
        for (int l = 1; l <= d->max_level && !rc; l++)
            rc = add_row(d, model, strat, sel_names[i], n, l, c->level_problems[l], c->level_correct[sels[i]][l], flops,
                         rep.seconds);
        if (i == 0) printf("%5.1f%%", 100.0 * c->correct[sels[i]][kn] / p);
        else printf("  %5.1f%%", 100.0 * c->correct[sels[i]][kn] / p);
    }
    printf("   %.1f s\n", rep.seconds);
    pd_eval_report_free(&rep);
    return rc ? pd_err_set(err, PD_ENOMEM, "demo: out of memory") : 0;
}

/* Best-of-N once at N = the largest budget; every smaller budget k of ns is read off the same
 * samples, as search-and-learn does: its answers are the selections over the first k samples
 * (correct_maj@k, correct_weighted@k in results.jsonl), and its cost is what those k samples
 * took: the policy's prompt once plus the k samples' own tokens, the PRM's input before the
 * steps once plus the k samples' scored tokens (each sample's tokens and one step tag per
 * step). Its wall time is the run's, shared in proportion to those FLOPs. One run instead of
 * one per budget: the demo's largest saving of time. */
static int run_best_of_n(demo *d, const pd_policy *pol, const pd_verifier *ver, const char *model, const int *ns,
                         int n_ns, pd_error *err) {
    int N = 0;
    for (int i = 0; i < n_ns; i++)
        if (ns[i] > N) N = ns[i];
    char dir[4200], path[4300];
    printf("  %-12s %-12s N=%-3d (N = ", model, "best_of_n", N);
    for (int i = 0; i < n_ns; i++) printf("%s%d", i ? "," : "", ns[i]);
    printf(" from the same samples), majority/weighted: ");
    pd_eval_report rep;
    int rc = demo_eval(d, pol, ver, model, PD_BEST_OF_N, N, 0, 1, dir, sizeof dir, &rep, err);
    if (rc) return rc;
    double seconds = rep.seconds;
    pd_eval_report_free(&rep);
    enum { MAXL = PD_EVAL_MAX_LEVEL + 1 };
    static const char *const SEL[2] = {"maj", "weighted"};
    /* per budget: problems and correct per level (0 = all) and selection, FLOPs sums */
    struct tally {
        uint32_t problems[MAXL], correct[2][MAXL];
        double pol_flops, prm_flops;
    } *t = calloc((size_t)n_ns, sizeof *t);
    if (!t) return pd_err_set(err, PD_ENOMEM, "demo: out of memory");
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) rc = pd_err_set(err, PD_EIO, "%s: cannot read the run's results", path);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    double all_flops = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t je;
        json_t *r = json_loads(line, 0, &je);
        json_t *comps = r ? json_object_get(r, "completions") : NULL, *cost = r ? json_object_get(r, "cost") : NULL;
        if (!json_is_array(comps) || !json_is_object(cost)) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%ld: not a result with completions and cost", path, lineno);
            json_decref(r);
            break;
        }
        int level = (int)json_integer_value(json_object_get(r, "level"));
        if (level < 0 || level > PD_EVAL_MAX_LEVEL) level = 0;
        double pol_flops = json_number_value(json_object_get(cost, "policy_flops"));
        double prm_flops = json_number_value(json_object_get(cost, "prm_flops"));
        double pol_tokens = json_number_value(json_object_get(cost, "policy_tokens"));
        double prefix = json_number_value(json_object_get(cost, "prefix_tokens"));
        double prm_tokens = json_number_value(json_object_get(cost, "prm_tokens"));
        size_t nc = json_array_size(comps);
        double scored_all = 0;
        for (size_t j = 0; j < nc; j++) {
            json_t *c = json_array_get(comps, j);
            scored_all += json_number_value(json_object_get(c, "tokens")) +
                          (double)json_array_size(json_object_get(c, "step_rewards"));
        }
        double prm_head = prm_tokens > scored_all ? prm_tokens - scored_all : 0; /* the PRM's input before the steps */
        all_flops += pol_flops + prm_flops;
        for (int i = 0; i < n_ns; i++) {
            int k = ns[i];
            double toks = 0, scored = 0;
            for (size_t j = 0; j < nc && j < (size_t)k; j++) {
                json_t *c = json_array_get(comps, j);
                toks += json_number_value(json_object_get(c, "tokens"));
                scored += json_number_value(json_object_get(c, "tokens")) +
                          (double)json_array_size(json_object_get(c, "step_rewards"));
            }
            if (pol_tokens + prefix > 0) t[i].pol_flops += pol_flops * (prefix + toks) / (pol_tokens + prefix);
            if (prm_tokens > 0) t[i].prm_flops += prm_flops * (prm_head + scored) / prm_tokens;
            t[i].problems[0]++;
            if (level) t[i].problems[level]++;
            for (int s = 0; s < 2; s++) {
                char key[64];
                snprintf(key, sizeof key, "correct_%s@%d", SEL[s], k);
                int ok = json_is_true(json_object_get(r, key));
                t[i].correct[s][0] += ok;
                if (level) t[i].correct[s][level] += ok;
            }
        }
        json_decref(r);
    }
    free(line);
    if (f) fclose(f);
    for (int i = 0; i < n_ns && !rc; i++) {
        double p = t[i].problems[0] ? t[i].problems[0] : 1;
        double wall = all_flops > 0 ? seconds * (t[i].pol_flops + t[i].prm_flops) / all_flops : seconds;
        printf("%sN=%d %.1f/%.1f%%", i ? ", " : "", ns[i], 100 * t[i].correct[0][0] / p, 100 * t[i].correct[1][0] / p);
        for (int s = 0; s < 2 && !rc; s++) {
            double flops = (s == 0 ? t[i].pol_flops : t[i].pol_flops + t[i].prm_flops) / p; /* majority: no PRM */
            for (int l = 0; l <= d->max_level && !rc; l++)
                rc = add_row(d, model, "best_of_n", SEL[s], ns[i], l, t[i].problems[l], t[i].correct[s][l], flops, wall);
        }
    }
    printf("   %.1f s\n", seconds);
    free(t);
    if (rc == PD_ENOMEM) return pd_err_set(err, PD_ENOMEM, "demo: out of memory");
    return rc;
}

/* The overall row of a series at budget n, or NULL. */
static const pd_report_row *find(const demo *d, const char *model, const char *strat, const char *sel, int n,
                                 int level) {
    for (size_t i = 0; i < d->n_rows; i++) {
        const pd_report_row *r = &d->rows[i];
        if (r->level == level && r->n == n && !strcmp(r->model, model) && !strcmp(r->strategy, strat) &&
            !strcmp(r->selection, sel))
            return r;
    }
    return NULL;
}

/* The table of overall rows, with per-level accuracy. */
static void print_table(const demo *d) {
    printf("\n%-12s %-12s %-9s %4s %9s", "model", "strategy", "selection", "N", "accuracy");
    for (int l = 1; l <= d->max_level; l++) printf("   L%d", l);
    printf(" %13s %8s\n", "FLOPs/problem", "wall s");
    for (size_t i = 0; i < d->n_rows; i++) {
        const pd_report_row *r = &d->rows[i];
        if (r->level) continue;
        printf("%-12s %-12s %-9s %4d %8.1f%%", r->model, r->strategy, r->selection, r->n, 100 * r->accuracy);
        for (int l = 1; l <= d->max_level; l++) {
            const pd_report_row *m = find(d, r->model, r->strategy, r->selection, r->n, l);
            if (m) printf(" %3.0f%%", 100 * m->accuracy);
            else printf("     ");
        }
        printf(" %13.3g %8.1f\n", r->flops_per_problem, r->wall_s);
    }
}

/* What the run shows, measured: each claim printed with its numbers, or its absence said. */
static void print_findings(const demo *d, const int *ns, int n_ns) {
    printf("\nwhat this run shows:\n");
    const pd_report_row *big = find(d, "arith-large", "greedy", "", 1, 0);
    const pd_report_row *g = find(d, "arith-small", "greedy", "", 1, 0);
    /* 1. the small policy gains with N */
    const pd_report_row *w1 = find(d, "arith-small", "best_of_n", "weighted", ns[0], 0);
    const pd_report_row *wn = find(d, "arith-small", "best_of_n", "weighted", ns[n_ns - 1], 0);
    if (w1 && wn)
        printf("  - best-of-N (PRM-weighted) with the small policy: %.1f%% at N=%d, %.1f%% at N=%d%s\n",
               100 * w1->accuracy, w1->n, 100 * wn->accuracy, wn->n,
               wn->accuracy > w1->accuracy ? "" : " (no gain with N in this run)");
    /* 2. the best small-policy row against the large policy's greedy answer */
    const pd_report_row *best = NULL;
    for (size_t i = 0; i < d->n_rows; i++) {
        const pd_report_row *r = &d->rows[i];
        if (r->level || strcmp(r->model, "arith-small")) continue;
        if (big && r->accuracy > big->accuracy && r->flops_per_problem < big->flops_per_problem &&
            (!best || r->flops_per_problem < best->flops_per_problem))
            best = r;
    }
    if (big && best)
        printf("  - the small policy beats the large one (greedy %.1f%%, %.3g FLOPs/problem) with %s %s N=%d: "
               "%.1f%% at %.3g FLOPs/problem (%.1fx less compute)\n",
               100 * big->accuracy, big->flops_per_problem, best->strategy, best->selection, best->n, 100 * best->accuracy,
               best->flops_per_problem, big->flops_per_problem / best->flops_per_problem);
    else if (big)
        printf("  - no small-policy strategy beats the large policy's greedy %.1f%% at fewer FLOPs in this run\n",
               100 * big->accuracy);
    if (g && big) printf("  - greedy: small %.1f%%, large %.1f%%\n", 100 * g->accuracy, 100 * big->accuracy);
    /* 3. tree search against best-of-N at equal N on the hardest level, at every N both ran */
    int L = d->max_level, shown = 0, problems = 0;
    char ahead[256] = "";
    for (int i = 0; i < n_ns; i++) {
        const pd_report_row *bon = find(d, "arith-small", "best_of_n", "weighted", ns[i], L);
        const pd_report_row *bs = find(d, "arith-small", "beam_search", "weighted", ns[i], L);
        const pd_report_row *dv = find(d, "arith-small", "dvts", "weighted", ns[i], L);
        if (!bon || (!bs && !dv)) continue;
        if (!shown++) printf("  - level %d, best-of-N / beam search / DVTS (PRM-weighted):", L);
        problems = (int)bon->problems;
        printf("%s N=%d %.0f/%.0f/%.0f%%", shown > 1 ? "," : "", ns[i], 100 * bon->accuracy, bs ? 100 * bs->accuracy : 0.0,
               dv ? 100 * dv->accuracy : 0.0);
        if ((bs && bs->accuracy > bon->accuracy) || (dv && dv->accuracy > bon->accuracy)) {
            size_t k = strlen(ahead);
            snprintf(ahead + k, sizeof ahead - k, "%sN=%d", k ? ", " : "", ns[i]);
        }
    }
    if (shown)
        printf(" (%d problems): %s%s\n", problems, ahead[0] ? "tree search ahead of best-of-N at " : "",
               ahead[0] ? ahead : "tree search never ahead of best-of-N");
    /* 4. PRM-weighted voting against majority voting */
    const pd_report_row *bw = NULL, *bm = NULL;
    for (int i = 0; i < n_ns; i++) {
        const pd_report_row *w = find(d, "arith-small", "best_of_n", "weighted", ns[i], 0);
        const pd_report_row *m = find(d, "arith-small", "best_of_n", "maj", ns[i], 0);
        if (w && m && (!bw || w->accuracy - m->accuracy > bw->accuracy - bm->accuracy)) bw = w, bm = m;
    }
    if (bw && bm && bw->accuracy > bm->accuracy)
        printf("  - PRM-weighted vs majority voting: %.1f%% vs %.1f%% at N=%d (the largest gap of the run)\n",
               100 * bw->accuracy, 100 * bm->accuracy, bw->n);
    else if (bw && bm)
        printf("  - PRM-weighted voting never beats majority voting in this run\n");
}

int cmd_demo(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--sim")) return cmd_demo_sim(argc, argv);
    long problems = 200;
    uint64_t seed = 1;
    const char *out = "runs/demo", *models = "models", *task = "sums";
    int models_given = 0;
    int ns[PD_EVAL_MAX_N] = {1, 2, 4, 8, 16}, n_ns = 5;
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    bo.system_prompt = ""; /* the models were trained on the bare problem as the user turn */
    demo d = {0};
    pd_search_cfg_default(&d.base);
    d.base.step_max_tokens = 160;
    d.base.num_iterations = 12;
    pd_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            return 0;
        }
        char name[64];
        const char *val;
        if (cli_opt_value("demo", argc, argv, &i, name, sizeof name, &val)) return 1;
        long v;
        if (!strcmp(name, "problems")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 100000)
                return cli_fail("demo", "--problems: bad value '%s' (1..100000)", val);
            problems = v;
        } else if (!strcmp(name, "n")) {
            n_ns = cli_parse_int_list(val, ns, PD_EVAL_MAX_N);
            if (n_ns < 0) return cli_fail("demo", "--n: '%s' is not a comma list of budgets", val);
        } else if (!strcmp(name, "seed")) {
            if (cli_parse_long(val, &v)) return cli_fail("demo", "--seed: bad value '%s'", val);
            seed = (uint64_t)v;
        } else if (!strcmp(name, "out")) {
            out = val;
        } else if (!strcmp(name, "task")) {
            if (strcmp(val, "arith") && strcmp(val, "sums"))
                return cli_fail("demo", "--task: unknown task '%s' (known: arith, sums)", val);
            task = val;
        } else if (!strcmp(name, "models")) {
            models = val;
            models_given = 1;
        } else if (!strcmp(name, "threads")) {
            if (pd_backend_opts_set(&bo, name, val, &err)) return cli_fail_err("demo", &err);
        } else if (!strcmp(name, "beam-width") || !strcmp(name, "iterations") || !strcmp(name, "max-step-tokens")) {
            if (pd_search_cfg_set(&d.base, name, val, &err)) return cli_fail_err("demo", &err);
        } else {
            return cli_fail("demo", "unknown option '--%s' (see --help)", name);
        }
    }
    d.base.seed = seed;
    d.out = out;
    char small[4200], large[4200], prm[4200];
    snprintf(small, sizeof small, "%s/arith-small", models);
    snprintf(large, sizeof large, "%s/arith-large", models);
    snprintf(prm, sizeof prm, "%s/arith-prm", models);
    if (!models_given && (!pd_dir_exists(small) || !pd_dir_exists(large) || !pd_dir_exists(prm))) {
        /* a checkout without the trained models (or not run from its root): say so, and show
         * the strategies on the simulated backend rather than nothing */
        fprintf(stderr, "ponder demo: the trained models are not in '%s' (arith-small, arith-large, arith-prm); "
                        "running the simulated backend instead (`ponder demo --sim`)\n",
                models);
        char *sim_argv[] = {argv[0], (char *)"--sim", NULL};
        return cmd_demo_sim(2, sim_argv);
    }
    if (!pd_dir_exists(small) || !pd_dir_exists(large) || !pd_dir_exists(prm))
        return cli_fail("demo", "the trained models are not in '%s' (arith-small, arith-large, arith-prm): run from the "
                                "repository root or give --models DIR; `ponder demo --sim` runs the simulated backend",
                        models);

    int sums = !strcmp(task, "sums");
    const char *what = sums ? "target-sum" : "arithmetic";
    if ((sums ? pd_sums_generate : pd_arith_generate)(&d.ds, (size_t)problems, 1, 5, seed, &err))
        return cli_fail_err("demo", &err);
    for (size_t i = 0; i < d.ds.n; i++)
        if (d.ds.items[i].level > d.max_level) d.max_level = d.ds.items[i].level;
    if (d.max_level > PD_EVAL_MAX_LEVEL) d.max_level = PD_EVAL_MAX_LEVEL;
    char path[4200];
    snprintf(path, sizeof path, "%s/runs", out);
    int rc = pd_mkdirs(path, &err);
    snprintf(path, sizeof path, "%s/problems.jsonl", out);
    FILE *f = rc ? NULL : fopen(path, "w");
    if (!rc && (!f || pd_dataset_write_jsonl(&d.ds, f, &err) || fclose(f))) {
        if (!err.msg[0]) pd_err_set(&err, PD_EIO, "%s: cannot write", path);
        rc = err.code ? err.code : PD_EIO;
    }
    pd_policy pol_s = {0}, pol_l = {0};
    pd_verifier ver = {0}, none = {.name = "none", .score = null_score};
    if (!rc) rc = pd_policy_open_opts(&pol_s, small, &bo, &err);
    if (!rc) rc = pd_policy_open_opts(&pol_l, large, &bo, &err);
    if (!rc) rc = pd_verifier_open_opts(&ver, prm, &pol_s, &bo, &err);
    if (!rc) {
        printf("ponder demo: %zu %s problems (levels 1-%d, seed %llu) -> %s\n", d.ds.n,
               what, d.max_level, (unsigned long long)seed, path);
        printf("models: arith-small %.2fM parameters, arith-large %.2fM, arith-prm %.2fM (%s)\n\n",
               pol_s.n_params / 1e6, pol_l.n_params / 1e6, ver.n_params / 1e6, models);
        printf("  %-12s %-12s %-5s accuracy\n", "model", "strategy", "N");
    }
    static const pd_select ONE[] = {PD_SEL_NAIVE}, VOTE[] = {PD_SEL_MAJ, PD_SEL_WEIGHTED}, W[] = {PD_SEL_WEIGHTED};
    static const char *const ONE_N[] = {""}, *const VOTE_N[] = {"maj", "weighted"}, *const W_N[] = {"weighted"};
    if (!rc) rc = run_one(&d, &pol_s, &none, "arith-small", PD_BEST_OF_N, 1, 1, ONE, ONE_N, 1, 0, &err);
    /* budgets a run at the largest one records (powers of two below it) are read off it; any
     * other budget gets a run of its own */
    int nmax = 0, sub[PD_EVAL_MAX_N], n_sub = 0;
    for (int i = 0; i < n_ns; i++)
        if (ns[i] > nmax) nmax = ns[i];
    for (int i = 0; i < n_ns; i++)
        if (ns[i] == nmax || (ns[i] & (ns[i] - 1)) == 0) sub[n_sub++] = ns[i];
    if (!rc) rc = run_best_of_n(&d, &pol_s, &ver, "arith-small", sub, n_sub, &err);
    for (int i = 0; i < n_ns && !rc; i++)
        if (ns[i] != nmax && (ns[i] & (ns[i] - 1)) != 0)
            rc = run_one(&d, &pol_s, &ver, "arith-small", PD_BEST_OF_N, ns[i], 0, VOTE, VOTE_N, 2, 1, &err);
    for (int s = PD_BEAM_SEARCH; s <= PD_DVTS && !rc; s++)
        for (int i = 0; i < n_ns && !rc; i++)
            if (ns[i] >= d.base.beam_width && ns[i] % d.base.beam_width == 0)
                rc = run_one(&d, &pol_s, &ver, "arith-small", (pd_strategy)s, ns[i], 0, W, W_N, 1, 1, &err);
    if (!rc) rc = run_one(&d, &pol_l, &none, "arith-large", PD_BEST_OF_N, 1, 1, ONE, ONE_N, 1, 0, &err);
    if (!rc) {
        print_table(&d);
        print_findings(&d, ns, n_ns);
        snprintf(path, sizeof path, "%s/summary.json", out);
        rc = pd_report_write_json(path, d.rows, d.n_rows,
                                  sums ? "ponder demo: target sums, small policy + search vs large policy"
                                       : "ponder demo: arithmetic, small policy + search vs large policy",
                                  &err);
    }
    if (!rc) {
        char intro[512];
        snprintf(intro, sizeof intro,
                 "%zu generated %s problems, levels 1-%d (seed %llu). FLOPs per problem count the policy and, "
                 "where the selection uses it, the PRM (2 x parameters x computed tokens).",
                 d.ds.n, what, d.max_level, (unsigned long long)seed);
        snprintf(path, sizeof path, "%s/report.html", out);
        rc = pd_report_write_html(path, "ponder demo: a small model that thinks longer", intro, d.rows, d.n_rows, &err);
    }
    if (!rc)
        printf("\n%.0f s of searches; wrote %s/summary.json, %s/report.html and the runs' results in %s/runs/\n",
               d.total_s, out, out, out);
    pd_verifier_close(&ver);
    pd_policy_close(&pol_l);
    pd_policy_close(&pol_s);
    pd_backend_opts_free(&bo);
    pd_dataset_free(&d.ds);
    free(d.rows);
    return rc ? cli_fail_err("demo", &err) : 0;
}
