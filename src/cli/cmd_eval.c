/* cmd_eval.c — `ponder eval`: strategies x budgets over a dataset; writes results.jsonl and
 * summary.json (the library's pd_eval_run does the work; this file parses options). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder eval --policy SPEC --prm SPEC --dataset FILE --out DIR [options]\n"
    "\n"
    "Runs every strategy at every budget N on every problem of a JSONL dataset (MATH-500,\n"
    "AIME24 and GSM8K layouts), batching all searches through one scheduler, and writes\n"
    "  DIR/results.jsonl  one line per problem x strategy x N: completions (texts, step\n"
    "                     rewards, aggregated scores, answers), pred_{naive,weighted,maj}@k\n"
    "                     for every power of two k <= N (and N), correctness, cost\n"
    "  DIR/summary.json   accuracy per strategy x N x selection, overall and per level,\n"
    "                     mean cost per problem, skipped dataset lines\n"
    "Malformed dataset lines are reported on stderr with their line number and skipped.\n"
    "\n"
    "  --policy SPEC         policy model: a model directory or a Hugging Face repo id in the\n"
    "                        local cache (the embedded engine), or 'sim' (the simulated policy)\n"
    "  --prm SPEC            process reward model: a PRM directory or repo id (its kind from\n"
    "                        config.json, the repo id or --prm-kind), or 'sim'\n"
    "  --dataset FILE        JSONL problems\n"
    "  --out DIR             run directory (created)\n"
    "  --strategy LIST       comma list of best_of_n, beam_search, dvts (best_of_n)\n"
    "  --n LIST              comma list of budgets N (4); beam_search and dvts need N to be a\n"
    "                        multiple of the beam width\n"
    "  --limit K             only the first K problems\n"
    "  --max-inflight F      searches in flight at once (256)\n"
    "  --no-texts            leave completion texts out of results.jsonl\n"
    "  --quiet               no progress or table on stdout/stderr\n"
    "%s"
    "\nEmbedded engine (a model directory or repo id as --policy / --prm):\n%s"
    "\nSimulated backend (docs/SEARCH.md): a policy whose steps are right with a probability\n"
    "that falls with the level, and a PRM whose rewards separate right from wrong steps.\n"
    "%s";

/* Parse "best_of_n,beam_search" into strategies. Returns the count or -1. */
static int parse_strategies(const char *s, pd_strategy *out, int max) {
    int n = 0;
    char buf[256];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n >= max || pd_strategy_parse(tok, &out[n])) return -1;
        for (int i = 0; i < n; i++)
            if (out[i] == out[n]) return -1;
        n++;
    }
    return n ? n : -1;
}

int cmd_eval(int argc, char **argv) {
    const char *policy = NULL, *prm = NULL, *dataset = NULL, *out = NULL;
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    int quiet = 0;
    pd_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(HELP, pd_search_cfg_help(), pd_backend_opts_help(), pd_sim_params_help());
            return 0;
        }
        if (!strcmp(a, "--no-texts")) {
            o.with_texts = 0;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        char name[64];
        const char *val;
        if (cli_opt_value("eval", argc, argv, &i, name, sizeof name, &val)) return 1;
        long v;
        if (!strcmp(name, "policy")) policy = val;
        else if (!strcmp(name, "prm")) prm = val;
        else if (!strcmp(name, "dataset")) dataset = val;
        else if (!strcmp(name, "out")) out = val;
        else if (!strcmp(name, "strategy")) {
            o.n_strategies = parse_strategies(val, o.strategies, PD_N_STRATEGIES);
            if (o.n_strategies < 0)
                return cli_fail("eval", "--strategy: '%s' is not a comma list of best_of_n, "
                                        "beam_search, dvts (each once)", val);
        } else if (!strcmp(name, "n")) {
            o.n_ns = cli_parse_int_list(val, o.ns, PD_EVAL_MAX_N);
            if (o.n_ns < 0)
                return cli_fail("eval", "--n: '%s' is not a comma list of at most %d positive budgets",
                                val, PD_EVAL_MAX_N);
            for (int k = 0; k < o.n_ns; k++)
                if (o.ns[k] > (1 << 20)) return cli_fail("eval", "--n: %d is too large", o.ns[k]);
        } else if (!strcmp(name, "limit")) {
            if (cli_parse_long(val, &v) || v < 1) return cli_fail("eval", "--limit: bad value '%s'", val);
            o.limit = (size_t)v;
        } else if (!strcmp(name, "max-inflight")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 1000000)
                return cli_fail("eval", "--max-inflight: bad value '%s'", val);
            o.max_inflight = (int)v;
        } else if (cli_set_search_opt("eval", name, val, &o.base, &bo)) {
            pd_backend_opts_free(&bo);
            return 1;
        }
    }
    if (!policy) return cli_fail("eval", "--policy is required (a model directory, a repo id or 'sim')");
    if (!prm) return cli_fail("eval", "--prm is required (a PRM directory, a repo id or 'sim')");
    if (!dataset) return cli_fail("eval", "--dataset is required");
    if (!out) return cli_fail("eval", "--out is required");
    /* a lookahead only means something for beam_search/dvts (best_of_n ignores it) */
    int tree_search = 0;
    for (int s = 0; s < o.n_strategies; s++) tree_search |= o.strategies[s] != PD_BEST_OF_N;
    if (o.base.lookahead && !tree_search)
        return cli_fail("eval", "--lookahead applies to beam_search and dvts only");
    for (int s = 0; s < o.n_strategies; s++)
        for (int k = 0; k < o.n_ns; k++) {
            pd_search_cfg c = o.base;
            c.strategy = o.strategies[s];
            c.n = o.ns[k];
            if (c.strategy == PD_BEST_OF_N) c.lookahead = 0;
            if (pd_search_cfg_check(&c, &err)) return cli_fail_err("eval", &err);
        }
    pd_policy pol;
    pd_verifier ver;
    if (pd_policy_open_opts(&pol, policy, &bo, &err)) {
        pd_backend_opts_free(&bo);
        return cli_fail_err("eval", &err);
    }
    if (pd_verifier_open_opts(&ver, prm, &pol, &bo, &err)) {
        pd_backend_opts_free(&bo);
        pd_policy_close(&pol);
        return cli_fail_err("eval", &err);
    }
    pd_dataset ds = {0};
    if (pd_dataset_load(dataset, &ds, &err)) {
        pd_verifier_close(&ver);
        pd_policy_close(&pol);
        pd_backend_opts_free(&bo);
        return cli_fail_err("eval", &err);
    }
    for (size_t i = 0; i < ds.n_skipped && ds.skipped_msgs; i++)
        fprintf(stderr, "ponder eval: skipped %s\n", ds.skipped_msgs[i]);
    o.policy_spec = policy;
    o.prm_spec = prm;
    o.dataset = dataset;
    o.out_dir = out;
    o.progress = !quiet;
    o.sim = !strcmp(policy, "sim") ? &bo.sim : NULL;
    pd_eval_report rep;
    int rc = pd_eval_run(&pol, &ver, &ds, &o, &rep, &err);
    if (!rc) {
        if (!quiet) {
            pd_eval_print_table(&rep, 1, stdout);
            printf("\n%zu problems (%zu dataset lines skipped), %.2f s; wrote %s/results.jsonl and "
                   "%s/summary.json\n",
                   rep.n_problems, rep.n_skipped, rep.seconds, out, out);
        }
        pd_eval_report_free(&rep);
    }
    pd_dataset_free(&ds);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_backend_opts_free(&bo);
    return rc ? cli_fail_err("eval", &err) : 0;
}
