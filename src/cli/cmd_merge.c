/* cmd_merge.c — `ponder merge DIR... --out DIR`: join the shards of one run (made with
 * `ponder eval --shard I/K`) into one run directory and summarize it. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder merge SHARD_DIR... --out DIR [--overwrite] [--quiet]\n"
    "\n"
    "Joins the shards of one run, made with `ponder eval --shard I/K` (on several processes or\n"
    "machines), into DIR: config.json, results.jsonl, timing.jsonl and a rebuilt\n"
    "summary.json. Refused: shards of different runs (the differing setting is named),\n"
    "overlapping or missing shards, a shard that is not finished, a DIR that is not empty\n"
    "(without --overwrite).\n"
    "\n"
    "  --out DIR     the merged run directory\n"
    "  --overwrite   replace what DIR holds\n"
    "  --quiet       print nothing but errors\n";

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int quiet = 0, overwrite = 0;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    size_t n = 0;
    if (!dirs) return cli_fail("merge", "out of memory");
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            free(dirs);
            return 0;
        }
        if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--overwrite")) overwrite = 1;
        else if (!strncmp(a, "--", 2)) {
            char name[32];
            const char *val;
            if (cli_opt_value("merge", argc, argv, &i, name, sizeof name, &val)) rc = 1;
            else if (!strcmp(name, "out")) out = val;
            else rc = cli_fail("merge", "unknown option '%s' (see --help)", a);
        } else dirs[n++] = a;
    }
    if (!rc && !out) rc = cli_fail("merge", "--out DIR is required");
    if (!rc && !n) rc = cli_fail("merge", "name the shard directories (see --help)");
    if (!rc) {
        pd_error err = {0};
        pd_eval_report rep;
        if (pd_eval_merge(dirs, n, out, overwrite, &rep, &err)) rc = cli_fail_err("merge", &err);
        else {
            if (!quiet) {
                pd_eval_print_table(&rep, 1, stdout);
                printf("\nmerged %zu shards: %zu searches; wrote %s/results.jsonl and %s/summary.json\n", n, rep.n_done,
                       out, out);
            }
            pd_eval_report_free(&rep);
        }
    }
    free(dirs);
    return rc;
}
