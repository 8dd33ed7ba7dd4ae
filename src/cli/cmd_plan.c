/* cmd_plan.c — `ponder plan DIR...`: the compute-optimal strategy per difficulty bin and
 * budget, measured against the best fixed strategy on held-out problems, and adaptive
 * consistency (src/eval/plan.c does the work). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder plan DIR... [--out PLAN.json] [--probe prm|agreement|first-step] [--probe-samples P]\n"
    "                   [--budget n|flops] [--bins K] [--tolerance T] [--ac-threshold X] [--ac-prm-share S]\n"
    "\n"
    "Reads finished runs of one dataset (`ponder eval`; they need best_of_n, whose samples\n"
    "estimate each problem's difficulty) and chooses, per difficulty bin and budget N, the\n"
    "strategy, selection, beam width and N that do best, the cheapest among equals. Bins:\n"
    "oracle (the policy's pass@1: quintiles, or < 10% / < 50% / >= 50%) and predicted (a probe\n"
    "of P best-of-N samples: their mean PRM score, or their answer agreement; or of only their\n"
    "first steps: their mean PRM score; quintiles).\n"
    "Every choice is fitted on half of the problems and measured on the other half (2-fold\n"
    "cross-validation), and so is the best single fixed option it is compared with. Prints\n"
    "the held-out accuracy and mean FLOPs per problem of each, per budget, and what adaptive\n"
    "consistency (stop sampling once the vote is settled) saves on the best-of-N samples.\n"
    "Writes the plan (predicted bins, fitted on every problem) to --out.\n"
    "\n"
    "  --out FILE          the plan (default: DIR/plan.json of the first run)\n"
    "  --probe KIND        the plan's bins: prm (P samples' mean PRM score, default),\n"
    "                      agreement (their answer agreement) or first-step (the mean PRM\n"
    "                      score of P first steps: best_of_n, beam_search, dvts and rebase\n"
    "                      reuse them, so with N >= P the probe costs nothing extra)\n"
    "  --probe-samples P   samples (or first steps) the probe draws (4)\n"
    "  --budget KIND       what a budget N limits: n (every bin's N is at most N, default) or\n"
    "                      flops (the bins share the mean FLOPs of the best fixed option at N,\n"
    "                      probe included: easy bins may stop at the probe's samples, hard ones\n"
    "                      draw more than N, up to the runs' largest N)\n"
    "  --bins K            quantile bins (5)\n"
    "  --tolerance T       choose the cheapest option within T of the best accuracy (0)\n"
    "  --ac-threshold X    adaptive consistency: stop when P(leader stays ahead) >= X (0.95)\n"
    "  --ac-prm-share S    PRM rule: stop when the leader holds S of the score mass (0.8)\n"
    "  --ac-min K          never stop before K samples (3)\n"
    "  --curve             print the whole compute-optimal frontier (accuracy and FLOPs for\n"
    "                      each trade-off lambda), held out\n";

int cmd_plan(int argc, char **argv) {
    pd_plan_opts o;
    pd_plan_opts_default(&o);
    const char *outp = NULL;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    size_t n = 0;
    int rc = 0;
    if (!dirs) return cli_fail("plan", "out of memory");
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            free(dirs);
            return 0;
        }
        if (strncmp(a, "--", 2)) {
            dirs[n++] = a;
            continue;
        }
        if (!strcmp(a, "--curve")) {
            o.curve = 1;
            continue;
        }
        char name[32];
        const char *val;
        long v;
        double d;
        if (cli_opt_value("plan", argc, argv, &i, name, sizeof name, &val)) rc = 1;
        else if (!strcmp(name, "out")) outp = val;
        else if (!strcmp(name, "probe")) {
            if (!strcmp(val, "prm")) o.probe = PD_BINS_PRM;
            else if (!strcmp(val, "agreement")) o.probe = PD_BINS_AGREEMENT;
            else if (!strcmp(val, "first-step")) o.probe = PD_BINS_FIRST_STEP;
            else rc = cli_fail("plan", "--probe: '%s' is not prm, agreement or first-step", val);
        } else if (!strcmp(name, "budget")) {
            if (!strcmp(val, "n")) o.flops_budget = 0;
            else if (!strcmp(val, "flops")) o.flops_budget = 1;
            else rc = cli_fail("plan", "--budget: '%s' is not n or flops", val);
        } else if (!strcmp(name, "probe-samples")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 4096) rc = cli_fail("plan", "--probe-samples: bad value '%s'", val);
            else o.probe_samples = (int)v;
        } else if (!strcmp(name, "bins")) {
            if (cli_parse_long(val, &v) || v < 2 || v > 20) rc = cli_fail("plan", "--bins: '%s' is not 2..20", val);
            else o.n_bins = (int)v;
        } else if (!strcmp(name, "tolerance")) {
            if (cli_parse_double(val, &d) || d < 0 || d > 1) rc = cli_fail("plan", "--tolerance: '%s' is not 0..1", val);
            else o.tolerance = d;
        } else if (!strcmp(name, "ac-threshold")) {
            if (cli_parse_double(val, &d) || d <= 0.5 || d >= 1) rc = cli_fail("plan", "--ac-threshold: '%s' is not in (0.5, 1)", val);
            else o.ac_threshold = d;
        } else if (!strcmp(name, "ac-prm-share")) {
            if (cli_parse_double(val, &d) || d <= 0 || d > 1) rc = cli_fail("plan", "--ac-prm-share: '%s' is not in (0, 1]", val);
            else o.ac_prm_share = d;
        } else if (!strcmp(name, "ac-min")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 4096) rc = cli_fail("plan", "--ac-min: bad value '%s'", val);
            else o.ac_min = (int)v;
        } else rc = cli_fail("plan", "unknown option '--%s' (see --help)", name);
    }
    if (!rc && !n) rc = cli_fail("plan", "name one or more finished run directories (see --help)");
    char path[4200];
    if (!rc) {
        if (outp) snprintf(path, sizeof path, "%s", outp);
        else snprintf(path, sizeof path, "%s/plan.json", dirs[0]);
        pd_plan_result r;
        pd_error err = {0};
        if (pd_plan_make(dirs, n, &o, path, &r, &err)) rc = cli_fail_err("plan", &err);
        else {
            pd_plan_print(&r, &o, stdout);
            printf("\nwrote %s (bins: %s of %d best-of-N %s)\n", path, pd_plan_bins_name(o.probe), o.probe_samples,
                   o.probe == PD_BINS_FIRST_STEP ? "first steps" : "samples");
            pd_plan_result_free(&r);
        }
    }
    free(dirs);
    return rc;
}
