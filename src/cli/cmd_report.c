/* cmd_report.c — `ponder report DIR...`: one self-contained report.html (SVG plots drawn by
 * ponder, no script, no network) of one or several runs overlaid, and report.json with its
 * rows. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder report DIR... [--out FILE] [--title T] [--labels A,B,...]\n"
    "                     [--baseline \"LABEL=ACC\"]... [--selection LIST] [--plan-curve]\n"
    "\n"
    "Writes one HTML file with SVG plots of the runs in DIR... (run directories of `ponder\n"
    "eval`; several are overlaid): accuracy against N (log scale) per strategy and selection,\n"
    "against FLOPs per problem, against backend seconds per problem, and per difficulty level;\n"
    "whiskers show the spread over seeds; baselines are dashed lines. Then a table of every\n"
    "result. The page needs no network and no script. The rows also go to FILE's .json twin.\n"
    "A run of --strategy auto is drawn with the plan's own selection too (selection plan:\n"
    "summary.json's accuracy_plan).\n"
    "\n"
    "  --out FILE          the page (DIR/report.html for one run, ./report.html for several)\n"
    "  --title T           the page's title\n"
    "  --labels A,B        a name for each run in the plots (default: each DIR's last part)\n"
    "  --baseline L=ACC    a reference line, e.g. \"Llama-3.1-8B greedy=0.52\" or \"8B=52%\";\n"
    "                      may be given several times\n"
    "  --selection LIST    comma list of naive, weighted, maj, plan to plot (all)\n"
    "  --plan-curve        also draw `ponder plan`'s compute-optimal curve of the runs on the\n"
    "                      FLOPs plot: per bin the best option for each accuracy/FLOPs\n"
    "                      trade-off, fitted and measured on different halves of the problems,\n"
    "                      for the probe's bins (prm, what --strategy auto can use) and the\n"
    "                      oracle's (quintiles of pass@1); the runs must be of one policy and\n"
    "                      dataset, with best_of_n, as for `ponder plan`\n";

#define MAX_BASE 16

int cmd_report(int argc, char **argv) {
    const char *outp = NULL, *title = "ponder: accuracy against test-time compute", *labels = NULL;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    pd_report_baseline base[MAX_BASE];
    size_t n_dirs = 0, n_base = 0;
    unsigned sel_mask = (1u << PD_N_SELECT) - 1 + PD_REPORT_SEL_PLAN;
    int plan_curve = 0;
    pd_error err = {0};
    if (!dirs) return cli_fail("report", "out of memory");
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            free(dirs);
            return 0;
        }
        if (strncmp(a, "--", 2)) {
            dirs[n_dirs++] = a;
            continue;
        }
        if (!strcmp(a, "--plan-curve")) {
            plan_curve = 1;
            continue;
        }
        char name[32];
        const char *val;
        if (cli_opt_value("report", argc, argv, &i, name, sizeof name, &val)) rc = 1;
        else if (!strcmp(name, "out")) outp = val;
        else if (!strcmp(name, "title")) title = val;
        else if (!strcmp(name, "labels")) labels = val;
        else if (!strcmp(name, "baseline")) {
            if (n_base >= MAX_BASE) rc = cli_fail("report", "at most %d baselines", MAX_BASE);
            else if (pd_report_baseline_parse(val, &base[n_base], &err)) rc = cli_fail_err("report", &err);
            else n_base++;
        } else if (!strcmp(name, "selection")) {
            sel_mask = 0;
            char buf[128];
            snprintf(buf, sizeof buf, "%s", val);
            for (char *t = strtok(buf, ","); t && !rc; t = strtok(NULL, ",")) {
                int found = 0;
                for (int s = 0; s < PD_N_SELECT; s++)
                    if (!strcmp(t, pd_select_name((pd_select)s))) sel_mask |= 1u << s, found = 1;
                if (!strcmp(t, "plan")) sel_mask |= PD_REPORT_SEL_PLAN, found = 1;
                if (!found) rc = cli_fail("report", "--selection: '%s' is not naive, weighted, maj or plan", t);
            }
            if (!rc && !sel_mask) rc = cli_fail("report", "--selection: empty");
        } else rc = cli_fail("report", "unknown option '--%s' (see --help)", name);
    }
    if (!rc && !n_dirs) rc = cli_fail("report", "name one or more run directories (see --help)");
    /* labels: given, else each directory's last part */
    char (*lab)[64] = calloc(n_dirs ? n_dirs : 1, sizeof *lab);
    if (!rc && !lab) rc = cli_fail("report", "out of memory");
    if (!rc) {
        size_t k = 0;
        if (labels) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", labels);
            for (char *t = strtok(buf, ","); t && k < n_dirs; t = strtok(NULL, ",")) snprintf(lab[k++], 64, "%s", t);
            if (k != n_dirs) rc = cli_fail("report", "--labels: %zu labels for %zu runs", k, n_dirs);
        }
        for (; !rc && k < n_dirs; k++) {
            char d[1024];
            snprintf(d, sizeof d, "%s", dirs[k]);
            size_t l = strlen(d);
            while (l > 1 && d[l - 1] == '/') d[--l] = 0;
            const char *s = strrchr(d, '/');
            snprintf(lab[k], 64, "%.63s", s ? s + 1 : d);
        }
    }
    pd_report_row *rows = NULL;
    size_t n_rows = 0, cap = 0;
    for (size_t i = 0; !rc && i < n_dirs; i++) {
        pd_eval_report rep;
        if (pd_eval_load(dirs[i], &rep, &err)) {
            rc = cli_fail_err("report", &err);
            break;
        }
        if (rep.n_done < rep.n_jobs)
            fprintf(stderr, "ponder report: %s is not finished (%zu of %zu searches): its numbers are partial\n", dirs[i],
                    rep.n_done, rep.n_jobs);
        if (pd_report_rows_from_eval(&rep, lab[i], sel_mask, &rows, &n_rows, &cap, &err)) rc = cli_fail_err("report", &err);
        pd_eval_report_free(&rep);
    }
    if (!rc && plan_curve) { /* ponder plan's held-out frontier, without writing a plan */
        pd_plan_opts po;
        pd_plan_opts_default(&po);
        pd_plan_result pr;
        if (pd_plan_make(dirs, n_dirs, &po, NULL, &pr, &err)) {
            pd_err_prefix(&err, "--plan-curve");
            rc = cli_fail_err("report", &err);
        } else {
            if (pd_report_rows_from_plan(&pr, (1u << po.probe) | (1u << PD_BINS_ORACLE_QUINTILE), &rows, &n_rows, &cap, &err))
                rc = cli_fail_err("report", &err);
            pd_plan_result_free(&pr);
        }
    }
    char path[4200], jpath[4300];
    if (!rc) {
        if (outp) snprintf(path, sizeof path, "%s", outp);
        else if (n_dirs == 1) snprintf(path, sizeof path, "%s/report.html", dirs[0]);
        else snprintf(path, sizeof path, "report.html");
        size_t l = strlen(path);
        if (l > 5 && !strcmp(path + l - 5, ".html")) snprintf(jpath, sizeof jpath, "%.*s.json", (int)(l - 5), path);
        else snprintf(jpath, sizeof jpath, "%s.json", path);
        if (pd_report_write_page(path, title, NULL, rows, n_rows, base, n_base, &err) ||
            pd_report_write_json(jpath, rows, n_rows, title, &err))
            rc = cli_fail_err("report", &err);
        else printf("wrote %s (%zu runs, %zu rows) and %s\n", path, n_dirs, n_rows, jpath);
    }
    free(rows);
    free(lab);
    free(dirs);
    return rc;
}
