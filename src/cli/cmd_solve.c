/* cmd_solve.c — `ponder solve`: one problem, one strategy; prints the chosen answer and a
 * short summary of the search. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder solve --policy SPEC --prm SPEC [--strategy S] [--n N] [options] \"problem\"\n"
    "\n"
    "Searches for the answer to one problem and prints it, then a short summary of the search\n"
    "(completions, their answers and scores, votes, cost).\n"
    "\n"
    "  --policy SPEC         policy model: a model directory or a repo id in the Hugging Face\n"
    "                        cache (the embedded engine), or 'sim'\n"
    "  --prm SPEC            process reward model: a PRM directory or repo id, or 'sim'\n"
    "  --strategy S          best_of_n, beam_search, dvts, particle_filter, rebase, deepconf,\n"
    "                        or auto (a plan's choice for the problem's difficulty) (best_of_n)\n"
    "  --plan FILE           the plan of --strategy auto (`ponder plan`): a probe of P best-of-N\n"
    "                        samples gives the difficulty bin, then the plan's strategy, N and\n"
    "                        selection for that bin and the budget --n run (the probe counts)\n"
    "  --n N                 budget N (4)\n"
    "  --config FILE         a YAML recipe (search-and-learn's keys or these options' names;\n"
    "                        the flags given here override it; docs/EVAL.md)\n"
    "  --select SEL          how to pick the answer: naive, weighted, maj (weighted; auto: the\n"
    "                        plan's)\n"
    "  --answer A            sim only: the gold answer the simulation is built around\n"
    "                        (required with --policy sim: the sim cannot solve anything)\n"
    "  --level L             sim only: the problem's difficulty level 1..5 (3)\n"
    "  --solution TEXT       sim only: a reference solution whose paragraphs the sim's steps copy\n"
    "%s"
    "\nEmbedded engine (a model directory or repo id as --policy / --prm):\n%s"
    "\nSimulated backend:\n%s";

static int solve_main(int argc, char **argv) {
    const char *policy = NULL, *prm = NULL, *text = NULL, *answer = NULL, *solution = NULL;
    pd_search_cfg cfg;
    pd_search_cfg_default(&cfg);
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    pd_select sel = PD_SEL_WEIGHTED;
    int level = 0, sel_given = 0;
    const char *plan_path = NULL;
    pd_auto_plan *plan = NULL;
    pd_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(HELP, pd_search_cfg_help(), pd_backend_opts_help(), pd_sim_params_help());
            return 0;
        }
        if (strncmp(a, "--", 2) != 0 || !strcmp(a, "--")) {
            if (!strcmp(a, "--")) {
                if (++i >= argc) break;
                a = argv[i];
            }
            if (text) return cli_fail("solve", "give the problem as one argument (quote it)");
            text = a;
            continue;
        }
        char name[64];
        const char *val;
        if (cli_opt_value("solve", argc, argv, &i, name, sizeof name, &val)) return 1;
        long v;
        if (!strcmp(name, "policy")) policy = val;
        else if (!strcmp(name, "prm")) prm = val;
        else if (!strcmp(name, "answer")) answer = val;
        else if (!strcmp(name, "solution")) solution = val;
        else if (!strcmp(name, "strategy")) {
            if (pd_strategy_parse(val, &cfg.strategy))
                return cli_fail("solve", "--strategy: '%s' is not best_of_n, beam_search, dvts, particle_filter, "
                                "rebase, deepconf or auto", val);
        } else if (!strcmp(name, "plan")) {
            plan_path = val;
        } else if (!strcmp(name, "n")) {
            if (cli_parse_long(val, &v) || v < 1 || v > (1 << 20))
                return cli_fail("solve", "--n: bad value '%s'", val);
            cfg.n = (int32_t)v;
        } else if (!strcmp(name, "level")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 100)
                return cli_fail("solve", "--level: bad value '%s' (1..100)", val);
            level = (int)v;
        } else if (!strcmp(name, "select")) {
            int k;
            for (k = 0; k < PD_N_SELECT; k++)
                if (!strcmp(val, pd_select_name((pd_select)k))) break;
            if (k == PD_N_SELECT) return cli_fail("solve", "--select: '%s' is not naive, weighted or maj", val);
            sel = (pd_select)k;
            sel_given = 1;
        } else if (cli_set_search_opt("solve", name, val, &cfg, &bo)) {
            pd_backend_opts_free(&bo);
            return 1;
        }
    }
    if (!policy) return cli_fail("solve", "--policy is required (a model directory, a repo id or 'sim')");
    if (!prm) return cli_fail("solve", "--prm is required (a PRM directory, a repo id or 'sim')");
    if (!text) return cli_fail("solve", "no problem given (see --help)");
    if (!strcmp(policy, "sim") && !answer)
        return cli_fail("solve", "--policy sim simulates a solver around a known answer: give it "
                                 "with --answer (and --level)");
    if (cfg.strategy == PD_AUTO && !plan_path)
        return cli_fail("solve", "--strategy auto needs --plan FILE (made by `ponder plan`)");
    if (cfg.strategy != PD_AUTO && plan_path) return cli_fail("solve", "--plan is for --strategy auto");
    if (plan_path) {
        if (!(plan = malloc(sizeof *plan))) return cli_fail("solve", "out of memory");
        if (pd_plan_load(plan_path, plan, &err)) {
            free(plan);
            return cli_fail_err("solve", &err);
        }
        cfg.plan = plan;
    }
    if (pd_search_cfg_check(&cfg, &err)) {
        free(plan);
        return cli_fail_err("solve", &err);
    }
    pd_policy pol;
    pd_verifier ver;
    if (pd_policy_open_opts(&pol, policy, &bo, &err)) {
        pd_backend_opts_free(&bo);
        return cli_fail_err("solve", &err);
    }
    if (pd_verifier_open_opts(&ver, prm, &pol, &bo, &err)) {
        pd_backend_opts_free(&bo);
        pd_policy_close(&pol);
        return cli_fail_err("solve", &err);
    }
    pd_problem prob = {(char *)"cli", (char *)text, (char *)answer, (char *)solution, level};
    pd_search_result r;
    int rc = pd_search_run(&pol, &ver, &prob, &cfg, &r, &err);
    if (!rc && r.auto_bin >= 0 && !sel_given) sel = (pd_select)r.auto_choice.sel;
    if (!rc) {
        int32_t pick = pd_select_pick(r.c, r.n, r.n, sel);
        const char *ans = pick >= 0 && r.c[pick].answer ? r.c[pick].answer : NULL;
        printf("%s\n", ans ? ans : "(no answer)");
        /* the summary: one line per completion (at most 16), votes, cost */
        printf("\n%s N=%d", pd_strategy_name(cfg.strategy), cfg.n);
        if (cfg.strategy == PD_BEAM_SEARCH || cfg.strategy == PD_DVTS) printf(" M=%d", cfg.beam_width);
        if (cfg.lookahead) printf(" lookahead=%d", cfg.lookahead);
        if (r.auto_bin >= 0) {
            const pd_plan_choice *ch = &r.auto_choice;
            static const char *stats[] = {"mean PRM score", "agreement", "mean first-step PRM score"};
            printf(": probe of %d %s, %s %.3f -> bin %d of %d -> %s N=%d", plan->probe_samples,
                   plan->statistic == PD_PROBE_FIRST_STEP ? "first steps" : "samples", stats[plan->statistic],
                   r.auto_stat, r.auto_bin, plan->n_bins,
                   pd_strategy_name((pd_strategy)ch->strategy), ch->n);
            if (ch->strategy == PD_BEAM_SEARCH || ch->strategy == PD_DVTS) printf(" M=%d", ch->beam_width);
            printf(" %s;", pd_select_name((pd_select)ch->sel));
        }
        printf(" on %s/%s: %d completions, %d iterations, selection %s\n", pol.name, ver.name, r.n,
               r.iterations, pd_select_name(sel));
        for (int32_t i = 0; i < r.n && i < 16; i++)
            printf("  #%-3d score %.3f  steps %-3d %-9s answer %s\n", i, r.c[i].score,
                   r.c[i].n_steps, r.c[i].status == PD_NODE_FINISHED ? "finished" : "truncated",
                   r.c[i].answer ? r.c[i].answer : "(none)");
        if (r.n > 16) printf("  ... %d more\n", r.n - 16);
        for (int s = 0; s < PD_N_SELECT; s++) {
            int32_t p = pd_select_pick(r.c, r.n, r.n, (pd_select)s);
            printf("  %-8s -> %s\n", pd_select_name((pd_select)s),
                   p >= 0 && r.c[p].answer ? r.c[p].answer : "(none)");
        }
        printf("  cost: %llu policy tokens generated, %llu prefix tokens, %llu PRM tokens, "
               "%.3g + %.3g FLOPs\n",
               (unsigned long long)r.cost.policy_tokens, (unsigned long long)r.cost.prefix_tokens,
               (unsigned long long)r.cost.prm_tokens, r.cost.policy_flops, r.cost.prm_flops);
        if (answer && ans) printf("  %s\n", pd_grade_equal(ans, answer) ? "correct" : "wrong");
        pd_search_result_free(&r);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_backend_opts_free(&bo);
    free(plan);
    return rc ? cli_fail_err("solve", &err) : 0;
}

int cmd_solve(int argc, char **argv) {
    pd_recipe rec;
    int rargc;
    char **rargv;
    if (cli_recipe_argv("solve", argc, argv, 0, &rec, &rargc, &rargv)) return 1;
    int rc = solve_main(rargv ? rargc : argc, rargv ? rargv : argv);
    free(rargv);
    pd_recipe_free(&rec);
    return rc;
}
