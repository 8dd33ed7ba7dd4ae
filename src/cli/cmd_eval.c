/* cmd_eval.c — `ponder eval`: strategies x budgets x seeds over a dataset, into a run
 * directory that survives crashes (the library's pd_eval_run does the work; this file parses
 * options, reads a stored configuration back for --resume, and turns SIGINT/SIGTERM into
 * "finish the current write and stop"). */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder eval --policy SPEC --prm SPEC --dataset FILE --out DIR [options]\n"
    "       ponder eval --resume DIR [options]\n"
    "\n"
    "Runs every strategy at every budget N (and every seed) on every problem of a JSONL dataset\n"
    "(MATH-500, AIME24 and GSM8K layouts), batching all searches through one scheduler, and\n"
    "writes the run directory DIR (docs/EVAL.md):\n"
    "  DIR/config.json    what the run is; --resume checks it\n"
    "  DIR/results.jsonl  one line per problem x strategy x N x seed, appended the moment its\n"
    "                     search finishes: completions (texts, step rewards, aggregated scores,\n"
    "                     answers), pred_{naive,weighted,maj}@k for every power of two k <= N\n"
    "                     (and N), correctness, cost\n"
    "  DIR/timing.jsonl   policy and PRM seconds spent on each search\n"
    "  DIR/summary.json   accuracy per strategy x N x selection, overall, per level, per\n"
    "                     subject and per seed (mean, spread), mean cost per problem\n"
    "A killed run keeps every finished search: run `ponder eval --resume DIR` to finish it\n"
    "(the options are read back from DIR/config.json; any given must match). Ctrl-C stops\n"
    "after the current write. Malformed and duplicate dataset lines are reported on stderr\n"
    "with their line number and skipped.\n"
    "\n"
    "  --policy SPEC         policy model: a model directory or a Hugging Face repo id in the\n"
    "                        local cache (the embedded engine), or 'sim' (the simulated policy)\n"
    "  --prm SPEC            process reward model: a PRM directory or repo id (its kind from\n"
    "                        config.json, the repo id or --prm-kind), or 'sim'\n"
    "  --dataset FILE        JSONL (or JSON array) problems, or a Hugging Face dataset id\n"
    "                        ORG/NAME[@REV] (its --dataset-split file, test by default), read from\n"
    "                        the Hugging Face cache, downloaded into it first when missing\n"
    "                        (HF_ENDPOINT, HF_TOKEN; `ponder pull --dataset`)\n"
    "  --dataset-start I, --dataset-end J  only problems I..J-1 of the dataset (recorded; a\n"
    "                        resume takes the same)\n"
    "  --dataset-split S     the split of a Hugging Face dataset id (a local file is one split)\n"
    "  --config FILE         a YAML recipe (search-and-learn's keys: approach, n, beam_width,\n"
    "                        num_iterations, lookahead, temperature, top_p, max_tokens,\n"
    "                        agg_strategy, seed, system_prompt, model_path, prm_path,\n"
    "                        dataset_name, dataset_split, dataset_start, dataset_end,\n"
    "                        output_dir, ...; or these options' names); flags given here\n"
    "                        override it (docs/EVAL.md)\n"
    "  --out DIR             run directory (created; refused when not empty unless --resume\n"
    "                        or --overwrite)\n"
    "  --resume DIR          continue the run in DIR (a torn last line is dropped and redone);\n"
    "                        starts it when DIR is missing or empty\n"
    "  --overwrite           replace the run in --out\n"
    "  --strategy LIST       comma list of %s (best_of_n); auto runs a plan\n"
    "  --plan FILE           the plan of strategy auto (`ponder plan`): per problem a probe of P\n"
    "                        best-of-N samples (or of P first steps) gives the difficulty bin,\n"
    "                        then the plan's choice for that bin and the budget (the plan's\n"
    "                        largest <= N) runs; the probe counts in the cost; a plan made with\n"
    "                        --budget flops may draw more than N on hard bins (docs/EVAL.md)\n"
    "  --n LIST              comma list of budgets N (4); beam_search and dvts need N to be a\n"
    "                        multiple of the beam width\n"
    "  --seeds LIST          comma list of seeds (default: --seed); accuracy is reported as the\n"
    "                        mean over seeds with its standard deviation\n"
    "  --shard I/K           run only problems I, I+K, I+2K, ... (I = 0..K-1); join the shards\n"
    "                        with `ponder merge`\n"
    "  --limit K             only the first K problems\n"
    "  --max-inflight F      searches in flight at once (256)\n"
    "  --no-texts            leave completion texts out of results.jsonl\n"
    "  --quiet               no progress or table on stdout/stderr\n"
    "Progress goes to stderr: a line redrawn in place on a terminal (searches done, ETA,\n"
    "tokens/s, running accuracy per strategy), a log line per tenth of the run otherwise.\n"
    "%s"
    "\nEmbedded engine (a model directory or repo id as --policy / --prm):\n%s"
    "\nSimulated backend (docs/SEARCH.md): a policy whose steps are right with a probability\n"
    "that falls with the level, and a PRM whose rewards separate right from wrong steps.\n"
    "%s";

/* Set by SIGINT / SIGTERM: the run stops after the current write. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

/* Parse "1,2,3" into seeds (non-negative, distinct). Returns the count or -1. */
static int parse_seeds(const char *s, uint64_t *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9' || n >= max) return -1;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || v > (1ull << 53)) return -1;
        for (int i = 0; i < n; i++)
            if (out[i] == v) return -1;
        out[n++] = v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n ? n : -1;
}

/* The names of every strategy, for the help. */
static const char *strategy_names(void) {
    static char buf[256];
    buf[0] = 0;
    for (int s = 0; s <= PD_AUTO; s++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%s", s ? ", " : "", pd_strategy_name((pd_strategy)s));
    }
    return buf;
}

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

static int eval_main(int argc, char **argv) {
    const char *policy = NULL, *prm = NULL, *dataset = NULL, *out = NULL, *resume = NULL;
    pd_eval_saved saved;
    memset(&saved, 0, sizeof saved);
    pd_eval_opts o;
    pd_backend_opts bo;
    int quiet = 0, overwrite = 0;
    pd_error err = {0};
    pd_auto_plan *plan = NULL;
    /* --resume DIR first: the stored configuration is the starting point */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf(HELP, strategy_names(), pd_search_cfg_help(), pd_backend_opts_help(), pd_sim_params_help());
            return 0;
        }
        if (!strncmp(argv[i], "--resume=", 9)) resume = argv[i] + 9;
        else if (!strcmp(argv[i], "--resume")) {
            if (i + 1 >= argc) return cli_fail("eval", "--resume needs the run directory");
            resume = argv[i + 1];
        }
    }
    if (resume && pd_file_exists(resume) && !pd_dir_exists(resume))
        return cli_fail("eval", "--resume %s: not a directory", resume);
    char cfg_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", resume ? resume : "");
    if (resume && pd_file_exists(cfg_path)) {
        if (pd_eval_saved_load(resume, &saved, &err)) return cli_fail_err("eval", &err);
        o = saved.o;
        bo = saved.bo;
        memset(&saved.bo, 0, sizeof saved.bo); /* bo owns nothing yet; saved keeps its strings */
        policy = o.policy_spec;
        prm = o.prm_spec;
        dataset = o.dataset;
    } else {
        pd_eval_opts_default(&o);
        pd_backend_opts_default(&bo);
    }
    int rc = 0;
#define FAIL(...) do { rc = cli_fail("eval", __VA_ARGS__); goto done; } while (0)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-texts")) {
            o.with_texts = 0;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--overwrite")) {
            overwrite = 1;
            continue;
        }
        char name[64];
        const char *val;
        if (cli_opt_value("eval", argc, argv, &i, name, sizeof name, &val)) {
            rc = 1;
            goto done;
        }
        long v;
        if (!strcmp(name, "policy")) policy = val;
        else if (!strcmp(name, "prm")) prm = val;
        else if (!strcmp(name, "dataset")) dataset = val;
        else if (!strcmp(name, "out")) out = val;
        else if (!strcmp(name, "plan")) o.plan_path = val;
        else if (!strcmp(name, "dataset-split")) o.dataset_split = val;
        else if (!strcmp(name, "dataset-start") || !strcmp(name, "dataset-end")) {
            if (cli_parse_long(val, &v) || v < 0) FAIL("--%s: bad value '%s'", name, val);
            if (name[8] == 's') o.dataset_start = (size_t)v;
            else o.dataset_end = (size_t)v;
        }
        else if (!strcmp(name, "resume")) continue;
        else if (!strcmp(name, "strategy")) {
            o.n_strategies = parse_strategies(val, o.strategies, PD_N_STRATEGIES + 1);
            if (o.n_strategies < 0)
                FAIL("--strategy: '%s' is not a comma list of %s (each once)", val, strategy_names());
        } else if (!strcmp(name, "n")) {
            o.n_ns = cli_parse_int_list(val, o.ns, PD_EVAL_MAX_N);
            if (o.n_ns < 0) FAIL("--n: '%s' is not a comma list of at most %d positive budgets", val, PD_EVAL_MAX_N);
            for (int k = 0; k < o.n_ns; k++) {
                if (o.ns[k] > (1 << 20)) FAIL("--n: %d is too large", o.ns[k]);
                for (int j = 0; j < k; j++)
                    if (o.ns[j] == o.ns[k]) FAIL("--n: %d is given twice", o.ns[k]);
            }
        } else if (!strcmp(name, "seeds")) {
            o.n_seeds = parse_seeds(val, o.seeds, PD_EVAL_MAX_SEEDS);
            if (o.n_seeds < 0)
                FAIL("--seeds: '%s' is not a comma list of at most %d distinct seeds (0..2^53)", val, PD_EVAL_MAX_SEEDS);
        } else if (!strcmp(name, "shard")) {
            int si, sk, used = 0;
            if (sscanf(val, "%d/%d%n", &si, &sk, &used) != 2 || val[used] || sk < 1 || sk > 1000000 || si < 0 || si >= sk)
                FAIL("--shard: '%s' is not I/K with 0 <= I < K (e.g. 0/4 ... 3/4)", val);
            o.shard_index = si;
            o.shard_count = sk;
        } else if (!strcmp(name, "limit")) {
            if (cli_parse_long(val, &v) || v < 1) FAIL("--limit: bad value '%s'", val);
            o.limit = (size_t)v;
        } else if (!strcmp(name, "max-inflight")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 1000000) FAIL("--max-inflight: bad value '%s'", val);
            o.max_inflight = (int)v;
        } else if (cli_set_search_opt("eval", name, val, &o.base, &bo)) {
            rc = 1;
            goto done;
        } else if (!strcmp(name, "seed") && resume && saved.own[0]) {
            o.n_seeds = 0; /* --seed replaces the stored seeds (and is then compared) */
        }
    }
    if (resume) {
        if (out && strcmp(out, resume)) FAIL("--out %s and --resume %s name different directories", out, resume);
        out = resume;
    }
    if (!policy) FAIL("--policy is required (a model directory, a repo id or 'sim')");
    if (!prm) FAIL("--prm is required (a PRM directory, a repo id or 'sim')");
    if (!dataset) FAIL("--dataset is required");
    if (!out) FAIL("--out is required (the run directory)");
    if (overwrite && resume) FAIL("--resume and --overwrite exclude each other");
    /* a lookahead only means something for beam_search/dvts (best_of_n ignores it) */
    int tree_search = 0;
    for (int s = 0; s < o.n_strategies; s++) tree_search |= o.strategies[s] != PD_BEST_OF_N;
    if (o.base.lookahead && !tree_search) FAIL("--lookahead applies to beam_search and dvts only");
    int has_auto = 0;
    for (int s = 0; s < o.n_strategies; s++) has_auto |= o.strategies[s] == PD_AUTO;
    if (has_auto && !o.plan_path) FAIL("--strategy auto needs --plan FILE (made by `ponder plan`)");
    if (!has_auto && o.plan_path) FAIL("--plan is for --strategy auto");
    if (has_auto) {
        if (!(plan = malloc(sizeof *plan))) FAIL("out of memory");
        if (pd_plan_load(o.plan_path, plan, &err)) {
            rc = cli_fail_err("eval", &err);
            goto done;
        }
        o.plan = plan;
    }
    for (int s = 0; s < o.n_strategies; s++)
        for (int k = 0; k < o.n_ns; k++) {
            pd_search_cfg c = o.base;
            c.strategy = o.strategies[s];
            c.n = o.ns[k];
            c.plan = o.plan;
            if (c.strategy == PD_BEST_OF_N) c.lookahead = 0;
            if (pd_search_cfg_check(&c, &err)) {
                rc = cli_fail_err("eval", &err);
                goto done;
            }
        }
    pd_policy pol;
    pd_verifier ver;
    if (pd_policy_open_opts(&pol, policy, &bo, &err)) {
        rc = cli_fail_err("eval", &err);
        goto done;
    }
    if (pd_verifier_open_opts(&ver, prm, &pol, &bo, &err)) {
        pd_policy_close(&pol);
        rc = cli_fail_err("eval", &err);
        goto done;
    }
    pd_dataset ds = {0};
    char ds_path[4200];
    pd_hub_pull_opts pull = {0}; /* a dataset id not in the cache is downloaded, as `ponder pull --dataset` does */
    if (!quiet) cli_pull_progress(&pull);
    if (pd_dataset_fetch(dataset, o.dataset_split, &pull, ds_path, sizeof ds_path, &err) ||
        pd_dataset_load(ds_path, &ds, &err)) {
        pd_verifier_close(&ver);
        pd_policy_close(&pol);
        rc = cli_fail_err("eval", &err);
        goto done;
    }
    for (size_t i = 0; i < ds.n_skipped && ds.skipped_msgs; i++)
        fprintf(stderr, "ponder eval: skipped %s\n", ds.skipped_msgs[i]);
    if ((o.dataset_start || o.dataset_end) && pd_dataset_slice(&ds, o.dataset_start, o.dataset_end, &err)) {
        pd_dataset_free(&ds);
        pd_verifier_close(&ver);
        pd_policy_close(&pol);
        rc = cli_fail_err("eval", &err);
        goto done;
    }
    o.policy_spec = policy;
    o.prm_spec = prm;
    o.dataset = dataset;
    o.out_dir = out;
    o.progress = !quiet;
    o.sim = !strcmp(policy, "sim") ? &bo.sim : NULL;
    o.backend = &bo;
    o.resume = resume != NULL;
    o.overwrite = overwrite;
    o.stop = &stop_flag;
    /* Ctrl-C (or a scheduler's SIGTERM): finish the current write, then stop; a second
     * Ctrl-C kills at once (the run stays resumable either way) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pd_eval_report rep;
    int erc = pd_eval_run(&pol, &ver, &ds, &o, &rep, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!erc) {
        if (!quiet) {
            pd_eval_print_table(&rep, 1, stdout);
            printf("\n%zu problems (%zu dataset lines skipped)", rep.n_problems, rep.n_skipped);
            if (o.shard_count > 1) printf(", shard %d/%d", o.shard_index, o.shard_count);
            if (rep.n_seeds > 1) printf(", %d seeds", rep.n_seeds);
            if (rep.n_resumed) printf(", %zu searches resumed", rep.n_resumed);
            printf(", %.2f s; wrote %s/results.jsonl and %s/summary.json\n", rep.seconds, out, out);
        }
        pd_eval_report_free(&rep);
    }
    pd_dataset_free(&ds);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    if (erc && stop_flag) {
        fprintf(stderr, "ponder eval: interrupted; every finished search is in %s: `ponder eval --resume %s` "
                        "finishes the run\n", out, out);
        rc = 130;
    } else if (erc) {
        rc = cli_fail_err("eval", &err);
    }
done:
#undef FAIL
    free(plan);
    pd_backend_opts_free(&bo);
    pd_eval_saved_free(&saved);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    pd_recipe rec;
    int rargc;
    char **rargv;
    if (cli_recipe_argv("eval", argc, argv, 1, &rec, &rargc, &rargv)) return 1;
    int rc = eval_main(rargv ? rargc : argc, rargv ? rargv : argv);
    free(rargv);
    pd_recipe_free(&rec);
    return rc;
}
