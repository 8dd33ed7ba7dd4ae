/* cmd_summarize.c — `ponder summarize DIR...`: rebuild each run's summary.json from its
 * config.json, results.jsonl and timing.jsonl (a crashed run's partial results, or a run
 * made by an older ponder), and print its table. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *HELP =
    "usage: ponder summarize DIR... [--quiet]\n"
    "\n"
    "Rebuilds DIR/summary.json from DIR/results.jsonl (and timing.jsonl) for each run\n"
    "directory, counting only the whole lines (a killed run's torn last line is left out; the\n"
    "summary says how many of the run's searches are done) and prints the accuracy table.\n"
    "\n"
    "  --quiet   print nothing but errors\n";

int cmd_summarize(int argc, char **argv) {
    int quiet = 0, n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strncmp(argv[i], "--", 2)) return cli_fail("summarize", "unknown option '%s' (see --help)", argv[i]);
        else n_dirs++;
    }
    if (!n_dirs) return cli_fail("summarize", "name a run directory (see --help)");
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--", 2)) continue;
        pd_error err = {0};
        pd_eval_report rep;
        if (pd_eval_summarize(argv[i], &rep, &err)) return cli_fail_err("summarize", &err);
        if (!quiet) {
            if (n_dirs > 1) printf("%s%s:\n", i > 1 ? "\n" : "", argv[i]);
            pd_eval_print_table(&rep, 1, stdout);
            printf("\n%zu of %zu searches done%s; wrote %s/summary.json\n", rep.n_done, rep.n_jobs,
                   rep.n_done < rep.n_jobs ? " (resume the run with `ponder eval --resume DIR` to finish it)" : "",
                   argv[i]);
        }
        pd_eval_report_free(&rep);
    }
    return 0;
}
