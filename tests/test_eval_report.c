/* test_eval_report.c — `ponder report`: the rows of runs (accuracy, FLOPs and seconds per
 * problem, PRM cost only where the selection uses it, spread over seeds), baselines, and
 * report.html rendered in headless Chromium (Debian's chromium, installed by scripts/deps.sh):
 * every plot must be on the page with its axes (tick labels laid out) and every mark and
 * series visible inside its plot. The page must hold no script and load nothing. A run of
 * strategy auto is drawn with the plan's own selection (accuracy_plan), and --plan-curve draws
 * `ponder plan`'s held-out compute-optimal frontier on the FLOPs plot, rendered the same way. */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_eval_report"

static char out[1 << 20];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

/* Two runs: a is best_of_n + beam_search at N = 4, 16 with two seeds; b is best_of_n at
 * N = 4, 16, 64 with a weaker policy. */
static int make_runs(void) {
    static int made = -1;
    if (made >= 0) return made;
    char cmd[4096];
    const char *P = ponder_bin();
    snprintf(cmd, sizeof cmd, "rm -rf " DIR " && mkdir -p " DIR " && %s data arith --n 30 --seed 4 --out " DIR
             "/data.jsonl && %s eval --policy sim --prm sim --dataset " DIR "/data.jsonl --strategy best_of_n,beam_search "
             "--n 4,16 --seeds 0,1 --quiet --out " DIR "/a && %s eval --policy sim --prm sim --dataset " DIR
             "/data.jsonl --n 4,16,64 --sim-policy-acc 0.9 --quiet --out " DIR "/b",
             P, P, P);
    made = run(cmd) == 0;
    if (!made) printf("  %s\n", out);
    return made;
}

/* Rows from a run: what each number is made of. */
static void t_rows(void) {
    if (!make_runs()) SKIP("runs not made");
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_EQ_INT(pd_eval_load(DIR "/a", &rep, &err), 0);
    pd_report_row *rows = NULL;
    size_t n = 0, cap = 0;
    CHECK_EQ_INT(pd_report_rows_from_eval(&rep, "a", (1u << PD_SEL_WEIGHTED) | (1u << PD_SEL_MAJ), &rows, &n, &cap, &err), 0);
    int overall = 0;
    for (size_t i = 0; i < n; i++) {
        const pd_report_row *r = &rows[i];
        CHECK(!strcmp(r->selection, "weighted") || !strcmp(r->selection, "maj"));
        if (r->level) continue;
        overall++;
        const pd_eval_cell *c = NULL;
        for (size_t k = 0; k < rep.n_cells; k++)
            if (!strcmp(pd_strategy_name(rep.cells[k].strategy), r->strategy) && rep.cells[k].n == r->n) c = &rep.cells[k];
        CHECK(c != NULL);
        if (!c) continue;
        CHECK_EQ_INT(r->problems, 60);
        int sel = !strcmp(r->selection, "maj") ? PD_SEL_MAJ : PD_SEL_WEIGHTED;
        CHECK(fabs(r->accuracy - (double)c->correct[sel][c->n_k - 1] / 60) < 1e-12);
        /* majority voting over best-of-N samples does not pay for the PRM */
        int prm = strcmp(r->strategy, "best_of_n") || sel != PD_SEL_MAJ;
        CHECK(fabs(r->flops_per_problem - (c->policy_flops + (prm ? c->prm_flops : 0)) / 60) < 1e-3 * r->flops_per_problem);
        CHECK(r->seconds_per_problem > 0);
        double a0 = (double)c->seed_correct[sel][0] / c->seed_problems[0], a1 = (double)c->seed_correct[sel][1] / c->seed_problems[1];
        CHECK(fabs(r->accuracy_sd - fabs(a0 - a1) / sqrt(2)) < 1e-9);
    }
    CHECK_EQ_INT(overall, 2 * 2 * 2);
    free(rows);
    pd_eval_report_free(&rep);
    pd_report_baseline b;
    CHECK_EQ_INT(pd_report_baseline_parse("Llama-3.1-8B greedy=0.52", &b, &err), 0);
    CHECK_STR(b.label, "Llama-3.1-8B greedy");
    CHECK(fabs(b.accuracy - 0.52) < 1e-12);
    CHECK_EQ_INT(pd_report_baseline_parse("x=a=52%", &b, &err), 0);
    CHECK(fabs(b.accuracy - 0.52) < 1e-12 && !strcmp(b.label, "x=a"));
    CHECK_EQ_INT(pd_report_baseline_parse("x=1.5", &b, &err), PD_EINVAL);
    CHECK_EQ_INT(pd_report_baseline_parse("0.5", &b, &err), PD_EINVAL);
    CHECK_EQ_INT(pd_report_baseline_parse("x=", &b, &err), PD_EINVAL);
}

/* The page's text: every plot with axes and marks, baselines, both runs, nothing loaded. */
static void t_page_text(void) {
    if (!make_runs()) SKIP("runs not made");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s report " DIR "/a " DIR "/b --baseline \"8B greedy=0.5\" --baseline \"70B=80%%\" --out " DIR
             "/report.html", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    CHECK_MSG(strstr(out, "wrote " DIR "/report.html (2 runs"), "%s", out);
    char *html = NULL;
    size_t len = 0;
    pd_error err = {0};
    CHECK_EQ_INT(pd_file_read(DIR "/report.html", &html, &len, &err), 0);
    if (!html) return;
    int plots = 0;
    for (char *p = html; (p = strstr(p, "<svg class=\"plot\"")); p++) {
        char *end = strstr(p, "</svg>");
        CHECK(end != NULL);
        if (!end) break;
        *end = 0;
        CHECK_MSG(strstr(p, "class=\"axis x\"") && strstr(p, "class=\"axis y\"") && strstr(p, "class=\"mark\""), "%.80s", p);
        *end = '<';
        plots++;
    }
    CHECK_EQ_INT(plots, 3 + 5); /* N, FLOPs, time, levels 1-5 */
    CHECK(strstr(html, "id=\"acc-vs-n\"") && strstr(html, "id=\"acc-vs-flops\"") && strstr(html, "id=\"acc-vs-time\""));
    CHECK(strstr(html, "id=\"acc-level-5\""));
    CHECK(strstr(html, "8B greedy (50.0%)") && strstr(html, "70B (80.0%)"));
    CHECK(strstr(html, ">a beam_search (weighted)<") && strstr(html, ">b best_of_n (maj)<"));
    CHECK(strstr(html, "class=\"whisker\""));  /* a's two seeds */
    CHECK(!strstr(html, "<script") && !strstr(html, "src=") && !strstr(html, "href=") && !strstr(html, "@import"));
    free(html);
    /* report.json next to it */
    json_error_t je;
    json_t *j = json_load_file(DIR "/report.json", 0, &je);
    CHECK(j && json_array_size(json_object_get(j, "rows")) > 0);
    json_decref(j);
    /* errors */
    snprintf(cmd, sizeof cmd, "%s report " DIR "/nope", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "no run here"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s report " DIR "/a --baseline 8B", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "LABEL=ACCURACY"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s report " DIR "/a " DIR "/b --labels x", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "1 labels for 2 runs"), "%s", out);
}

/* The script that measures the rendered page: one line per plot. */
static const char *PROBE =
    "<script>window.addEventListener('load',function(){var o=[];"
    "document.querySelectorAll('svg.plot').forEach(function(s){var r=s.getBoundingClientRect();"
    /* inside the plot, with an area (both: marks, text) or a length (lines may be flat) */
    "function inside(e,both){var b=e.getBoundingClientRect();return (both?b.width>0&&b.height>0:b.width>0||b.height>0)"
    "&&b.left>=r.left-1&&b.right<=r.right+1&&b.top>=r.top-1&&b.bottom<=r.bottom+1;}"
    "function count(q,both){var n=0,v=0;s.querySelectorAll(q).forEach(function(e){n++;if(inside(e,both))v++;});return [n,v];}"
    "var m=count('.mark',1),x=count('.axis.x .tick',1),y=count('.axis.y .tick',1),l=count('.series',0),"
    "b=count('.baseline line',0);"
    "o.push('plot '+s.id+' size='+Math.round(r.width)+'x'+Math.round(r.height)+' marks='+m[0]+' visible='+m[1]+"
    "' xticks='+x[1]+' yticks='+y[1]+' series='+l[0]+' seriesvisible='+l[1]+' baselines='+b[1]);});"
    "var p=document.createElement('pre');p.id='probe';p.textContent=o.join('\\n')+'\\nprobe done';"
    "document.body.appendChild(p);});</script>";

/* The chromium binary: $CHROMIUM, else chromium or chromium-browser on the PATH. */
static const char *chromium(void) {
    static char path[512];
    const char *e = getenv("CHROMIUM");
    if (e && *e) return e;
    const char *names[] = {"chromium", "chromium-browser"};
    for (int i = 0; i < 2; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s", names[i]);
        FILE *p = popen(cmd, "r");
        if (!p) continue;
        int ok = fgets(path, sizeof path, p) != NULL;
        pclose(p);
        if (ok) {
            path[strcspn(path, "\n")] = 0;
            return path;
        }
    }
    return NULL;
}

/* Render page (under DIR) with the probe in headless Chromium: want_plots plots, each laid
 * out with both axes, every mark and series inside it; want_base baselines on the big plots;
 * for each id in need (NULL-ended), at least min_series[i] series drawn in that plot. */
static void render_check(const char *page, int want_plots, int want_base, const char *const *need,
                         const int *min_series) {
    const char *chr = chromium();
    /* not a skip: the plots must be checked where the tests run (scripts/deps.sh installs it) */
    CHECK_MSG(chr != NULL, "chromium is not installed: `sh scripts/deps.sh` installs Debian's chromium");
    if (!chr) return;
    char *html = NULL, path[512];
    size_t len = 0;
    pd_error err = {0};
    snprintf(path, sizeof path, DIR "/%s", page);
    CHECK_EQ_INT(pd_file_read(path, &html, &len, &err), 0);
    if (!html) return;
    char *body_end = strstr(html, "</body>");
    CHECK(body_end != NULL);
    if (!body_end) {
        free(html);
        return;
    }
    FILE *f = fopen(DIR "/probe.html", "w");
    CHECK(f != NULL);
    if (!f) {
        free(html);
        return;
    }
    fwrite(html, 1, (size_t)(body_end - html), f);
    fputs(PROBE, f);
    fputs(body_end, f);
    fclose(f);
    free(html);
    char cwd[1024], cmd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(cmd, sizeof cmd, "HOME=%s/" DIR " timeout 120 %s --headless --no-sandbox --disable-gpu --no-first-run "
             "--user-data-dir=%s/" DIR "/chromium-profile --window-size=1200,3000 --dump-dom file://%s/" DIR
             "/probe.html 2>/dev/null", cwd, chr, cwd, cwd);
    int rc = run(cmd);
    CHECK_MSG(rc == 0 && strstr(out, "probe done"), "chromium exited %d: %.1000s", rc, out);
    int plots = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        line = strstr(line, "plot acc"); /* the first follows <pre id="probe"> */
        if (!line) continue;
        char id[64];
        int w, h, marks, vis, xt, yt, ser, servis, base;
        int k = sscanf(line, "plot %63s size=%dx%d marks=%d visible=%d xticks=%d yticks=%d series=%d seriesvisible=%d "
                       "baselines=%d", id, &w, &h, &marks, &vis, &xt, &yt, &ser, &servis, &base);
        CHECK_MSG(k == 10, "%s", line);
        if (k != 10) continue;
        plots++;
        CHECK_MSG(w >= 200 && h >= 150, "%s", line);          /* laid out at its size */
        CHECK_MSG(marks > 0 && vis == marks, "%s", line);     /* every mark drawn inside the plot */
        CHECK_MSG(xt >= 2 && yt == 6, "%s", line);            /* both axes with their tick labels */
        CHECK_MSG(ser > 0 && servis == ser, "%s", line);      /* lines through the budgets */
        if (strncmp(id, "acc-level", 9)) CHECK_MSG(base == want_base, "%s", line); /* every baseline */
        for (int i = 0; need && need[i]; i++)
            if (!strcmp(id, need[i])) CHECK_MSG(ser >= min_series[i], "%s: want %d series", line, min_series[i]);
    }
    CHECK_EQ_INT(plots, want_plots);
}

static void t_render_chromium(void) {
    if (!make_runs()) SKIP("runs not made");
    render_check("report.html", 8, 2, NULL, NULL);
}

/* A run of strategy auto (a plan made from run a): its rows with the plan's own selection are
 * summary.json's accuracy_plan, per level too; other runs have none. */
static void t_plan_rows(void) {
    if (!make_runs()) SKIP("runs not made");
    char cmd[4096];
    const char *P = ponder_bin();
    snprintf(cmd, sizeof cmd, "%s plan " DIR "/a --out " DIR "/plan.json > /dev/null && %s eval --policy sim --prm sim "
             "--dataset " DIR "/data.jsonl --strategy auto --plan " DIR "/plan.json --n 4,16 --quiet --out " DIR "/c",
             P, P);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_EQ_INT(pd_eval_load(DIR "/c", &rep, &err), 0);
    json_t *sum = json_load_file(DIR "/c/summary.json", 0, NULL);
    CHECK(sum != NULL);
    pd_report_row *rows = NULL;
    size_t n = 0, cap = 0;
    CHECK_EQ_INT(pd_report_rows_from_eval(&rep, "c", PD_REPORT_SEL_PLAN, &rows, &n, &cap, &err), 0);
    int overall = 0;
    for (int budget = 4; budget <= 16; budget *= 4) {
        double acc = -1, lv_sum = 0, flops = -1;
        uint32_t probs = 0;
        for (size_t i = 0; i < n; i++) {
            const pd_report_row *r = &rows[i];
            CHECK_STR(r->selection, "plan");
            CHECK_STR(r->strategy, "auto");
            if (r->n != budget) continue;
            if (r->level) lv_sum += r->accuracy * r->problems;
            else acc = r->accuracy, probs = r->problems, flops = r->flops_per_problem, overall++;
        }
        json_t *cell = NULL, *cs = json_object_get(sum, "results");
        for (size_t i = 0; i < json_array_size(cs); i++)
            if (json_integer_value(json_object_get(json_array_get(cs, i), "n")) == budget) cell = json_array_get(cs, i);
        CHECK(cell != NULL && probs == 30);
        double want = json_number_value(json_object_get(cell, "accuracy_plan"));
        CHECK_MSG(fabs(acc - want) < 1e-9, "N=%d: row %g, summary %g", budget, acc, want);
        CHECK_MSG(fabs(lv_sum - acc * probs) < 1e-6, "N=%d: levels sum to %g correct, overall %g", budget, lv_sum, acc * probs);
        const pd_eval_cell *c = NULL;
        for (size_t k = 0; k < rep.n_cells; k++)
            if (rep.cells[k].n == budget) c = &rep.cells[k];
        CHECK(c && fabs(flops - (c->policy_flops + c->prm_flops) / 30) < 1e-3 * flops); /* auto always scores */
    }
    CHECK_EQ_INT(overall, 2);
    free(rows);
    rows = NULL;
    n = cap = 0;
    /* the plain selections of the same run have no plan rows, and a fixed strategy's run none at all */
    CHECK_EQ_INT(pd_report_rows_from_eval(&rep, "c", 1u << PD_SEL_MAJ, &rows, &n, &cap, &err), 0);
    for (size_t i = 0; i < n; i++) CHECK_STR(rows[i].selection, "maj");
    pd_eval_report_free(&rep);
    free(rows);
    rows = NULL;
    n = cap = 0;
    CHECK_EQ_INT(pd_eval_load(DIR "/a", &rep, &err), 0);
    CHECK_EQ_INT(pd_report_rows_from_eval(&rep, "a", PD_REPORT_SEL_PLAN, &rows, &n, &cap, &err), 0);
    CHECK_EQ_INT(n, 0);
    pd_eval_report_free(&rep);
    free(rows);
    json_decref(sum);
    /* the page: auto's plan series, with the others */
    snprintf(cmd, sizeof cmd, "%s report " DIR "/c --selection maj,plan --out " DIR "/auto.html", P);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    char *html = NULL;
    size_t len = 0;
    CHECK_EQ_INT(pd_file_read(DIR "/auto.html", &html, &len, &err), 0);
    CHECK(html && strstr(html, ">c auto (plan)<") && strstr(html, ">c auto (maj)<") && !strstr(html, "(weighted)<"));
    free(html);
    snprintf(cmd, sizeof cmd, "%s report " DIR "/c --selection best", P);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "not naive, weighted, maj or plan"), "%s", out);
}

/* --plan-curve: ponder plan's held-out frontier (probe bins and oracle bins) on the FLOPs plot,
 * the numbers pd_plan_make measures, nothing on the N axis; rendered with every mark inside. */
static void t_plan_curve(void) {
    if (!make_runs()) SKIP("runs not made");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s report " DIR "/a --plan-curve --out " DIR "/curve.html", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    pd_plan_opts po;
    pd_plan_opts_default(&po);
    pd_plan_result pr;
    pd_error err = {0};
    const char *dirs[] = {DIR "/a"};
    CHECK_EQ_INT(pd_plan_make(dirs, 1, &po, NULL, &pr, &err), 0);
    CHECK(pr.n_front > 1);
    json_t *j = json_load_file(DIR "/curve.json", 0, NULL);
    json_t *rows = json_object_get(j, "rows");
    size_t n_prm = 0, n_oracle = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(r, "strategy")), "optimal")) continue;
        const char *sel = json_string_value(json_object_get(r, "selection"));
        int b = !strcmp(sel, "prm probe") ? PD_BINS_PRM : PD_BINS_ORACLE_QUINTILE;
        size_t k = b == PD_BINS_PRM ? n_prm++ : n_oracle++;
        CHECK_MSG(b == PD_BINS_PRM || !strcmp(sel, "oracle"), "%s", sel);
        CHECK_STR(json_string_value(json_object_get(r, "model")), "plan");
        CHECK_EQ_INT(json_integer_value(json_object_get(r, "n")), 0);
        if (k < pr.n_front) {
            CHECK(fabs(json_number_value(json_object_get(r, "accuracy")) - pr.front[k].acc[b]) < 1e-9);
            CHECK(fabs(json_number_value(json_object_get(r, "flops_per_problem")) - pr.front[k].flops[b]) <=
                  1e-9 * pr.front[k].flops[b]);
        }
    }
    CHECK_EQ_INT(n_prm, pr.n_front);
    CHECK_EQ_INT(n_oracle, pr.n_front);
    json_decref(j);
    pd_plan_result_free(&pr);
    char *html = NULL;
    size_t len = 0;
    CHECK_EQ_INT(pd_file_read(DIR "/curve.html", &html, &len, &err), 0);
    if (html) {
        char *flops = strstr(html, "id=\"acc-vs-flops\""), *end = flops ? strstr(flops, "</svg>") : NULL;
        char *nplot = strstr(html, "id=\"acc-vs-n\""), *nend = nplot ? strstr(nplot, "</svg>") : NULL;
        CHECK(flops && end && nplot && nend);
        if (flops && end && nplot && nend) {
            *end = *nend = 0;
            CHECK_MSG(strstr(flops, ">plan optimal (prm probe)<") && strstr(flops, ">plan optimal (oracle)<") &&
                          strstr(flops, "compute-optimal (prm probe bins, held out)"), "%.300s", flops);
            CHECK(!strstr(nplot, "plan optimal"));
        }
        free(html);
    }
    /* the runs must allow a plan: one without best_of_n is refused, saying so */
    snprintf(cmd, sizeof cmd, "%s report " DIR "/c --plan-curve --out " DIR "/bad.html", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--plan-curve"), "%s", out);
    /* rendered: 8 plots, the FLOPs plot with a's 6 series and the 2 frontier lines */
    static const char *const need[] = {"acc-vs-flops", NULL};
    static const int min_series[] = {8};
    render_check("curve.html", 8, 0, need, min_series);
}

int main(void) {
    RUN(t_rows);
    RUN(t_page_text);
    RUN(t_render_chromium);
    RUN(t_plan_rows);
    RUN(t_plan_curve);
    return test_done();
}
