/* cmd_demo_sim.c — `ponder demo --sim`: the search strategies compared on generated problems
 * with the simulated backend (models with known error rates), for planning and tests.
 *
 * It generates arithmetic problems (levels 1-5, fixed seed), runs best_of_n, beam_search and
 * dvts at several budgets through one batched evaluation, and prints accuracy against N,
 * overall and per level. The run directory (problems, results, summary) goes to
 * runs/demo-sim/. The real demo (trained models) is cmd_demo.c. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder demo --sim [--problems P] [--n LIST] [--seed S] [--out DIR] [--sim-* ...]\n"
    "\n"
    "Generates P arithmetic problems (levels 1-5), runs best_of_n, beam_search and dvts at\n"
    "each budget N on the SIMULATED backend (a policy with known error rates and a noisy\n"
    "process reward model), prints accuracy against N overall and per level, and writes\n"
    "DIR/problems.jsonl, DIR/results.jsonl and DIR/summary.json. `ponder demo` without --sim\n"
    "runs the project's trained models instead.\n"
    "\n"
    "  --problems P   number of problems (200)\n"
    "  --n LIST       budgets (4,16,64)\n"
    "  --seed S       seed of the problems and of the searches (1)\n"
    "  --out DIR      run directory (runs/demo-sim)\n"
    "  --policy SPEC  a model directory or repo id to run instead of the simulated policy\n"
    "  --prm SPEC     a PRM directory or repo id to run instead of the simulated PRM\n"
    "\nEmbedded engine:\n%s"
    "\nSimulated backend. The demo's defaults differ from the library's so that search has\n"
    "something to fix: --sim-policy-acc 0.85 --sim-acc-decay 0.07 --sim-prm-sep 2\n"
    "--sim-prm-noise 1.2 (the options below override them):\n%s";

int cmd_demo_sim(int argc, char **argv) {
    long problems = 200;
    uint64_t seed = 1;
    const char *out = "runs/demo-sim";
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.ns[0] = 4;
    o.ns[1] = 16;
    o.ns[2] = 64;
    o.n_ns = 3;
    const char *policy = "sim", *prm = "sim";
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    pd_sim_params *sim = &bo.sim;
    sim->policy_acc = 0.85;
    sim->acc_decay = 0.07;
    sim->prm_sep = 2.0;
    sim->prm_noise = 1.2;
    pd_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(HELP, pd_backend_opts_help(), pd_sim_params_help());
            return 0;
        }
        if (!strcmp(a, "--sim")) continue;
        char name[64];
        const char *val;
        if (cli_opt_value("demo", argc, argv, &i, name, sizeof name, &val)) return 1;
        long v;
        if (!strcmp(name, "problems")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 100000)
                return cli_fail("demo", "--problems: bad value '%s' (1..100000)", val);
            problems = v;
        } else if (!strcmp(name, "n")) {
            o.n_ns = cli_parse_int_list(val, o.ns, PD_EVAL_MAX_N);
            if (o.n_ns < 0) return cli_fail("demo", "--n: '%s' is not a comma list of budgets", val);
        } else if (!strcmp(name, "seed")) {
            if (cli_parse_long(val, &v)) return cli_fail("demo", "--seed: bad value '%s'", val);
            seed = (uint64_t)v;
        } else if (!strcmp(name, "out")) {
            out = val;
        } else if (!strcmp(name, "policy")) {
            policy = val;
        } else if (!strcmp(name, "prm")) {
            prm = val;
        } else {
            pd_error e2 = {0};
            int rc = pd_backend_opts_set(&bo, name, val, &e2);
            if (rc == PD_ENOTFOUND) rc = pd_err_set(&e2, PD_EINVAL, "unknown option '--%s' (see --help)", name);
            if (rc) {
                pd_backend_opts_free(&bo);
                return cli_fail_err("demo", &e2);
            }
        }
    }
    o.strategies[0] = PD_BEST_OF_N;
    o.strategies[1] = PD_BEAM_SEARCH;
    o.strategies[2] = PD_DVTS;
    o.n_strategies = 3;
    o.base.seed = seed;
    for (int k = 0; k < o.n_ns; k++) {
        pd_search_cfg c = o.base;
        c.strategy = PD_BEAM_SEARCH;
        c.n = o.ns[k];
        if (pd_search_cfg_check(&c, &err)) return cli_fail_err("demo", &err);
    }

    int simulated = !strcmp(policy, "sim");
    if (simulated)
        printf("ponder demo --sim: SIMULATED backend (--policy sim --prm sim): the policy and PRM are\n"
               "simulations with known error rates\n"
               "(per-step accuracy %.2f at level 1, -%.2f per level; PRM separation %.1f, noise %.1f).\n\n",
               sim->policy_acc, sim->acc_decay, sim->prm_sep, sim->prm_noise);
    else
        printf("ponder demo: policy %s, PRM %s on the embedded engine.\n\n", policy, prm);
    pd_dataset ds = {0};
    if (pd_arith_generate(&ds, (size_t)problems, 1, 5, seed, &err)) return cli_fail_err("demo", &err);
    if (pd_mkdirs(out, &err)) {
        pd_dataset_free(&ds);
        return cli_fail_err("demo", &err);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/problems.jsonl", out);
    FILE *f = fopen(path, "w");
    if (!f || pd_dataset_write_jsonl(&ds, f, &err) || fclose(f)) {
        if (!err.msg[0]) pd_err_set(&err, PD_EIO, "%s: cannot write", path);
        pd_dataset_free(&ds);
        return cli_fail_err("demo", &err);
    }
    printf("%ld arithmetic problems (levels 1-5, seed %llu) -> %s\n", problems,
           (unsigned long long)seed, path);
    pd_policy pol;
    pd_verifier ver;
    if (pd_policy_open_opts(&pol, policy, &bo, &err)) {
        pd_dataset_free(&ds);
        pd_backend_opts_free(&bo);
        return cli_fail_err("demo", &err);
    }
    if (pd_verifier_open_opts(&ver, prm, &pol, &bo, &err)) {
        pd_policy_close(&pol);
        pd_dataset_free(&ds);
        pd_backend_opts_free(&bo);
        return cli_fail_err("demo", &err);
    }
    o.policy_spec = policy;
    o.prm_spec = prm;
    o.dataset = path;
    o.out_dir = out;
    o.sim = simulated ? sim : NULL;
    o.with_texts = 1;
    o.progress = 0;
    pd_eval_report rep;
    int rc = pd_eval_run(&pol, &ver, &ds, &o, &rep, &err);
    if (!rc) {
        printf("accuracy at budget N (selection among the N completions):\n\n");
        pd_eval_print_table(&rep, 1, stdout);
        printf("\n%llu searches, %llu nodes, %llu policy calls, %.2f s\n",
               (unsigned long long)(rep.n_cells * rep.n_problems), (unsigned long long)rep.stats.nodes,
               (unsigned long long)rep.stats.policy_calls, rep.seconds);
        printf("run directory: %s/ (problems.jsonl, results.jsonl, summary.json)\n", out);
        pd_eval_report_free(&rep);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
    return rc ? cli_fail_err("demo", &err) : 0;
}
