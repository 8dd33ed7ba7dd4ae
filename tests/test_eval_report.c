/* test_eval_report.c — `ponder report`: the rows of runs (accuracy, FLOPs and seconds per
 * problem, PRM cost only where the selection uses it, spread over seeds), baselines, and
 * report.html rendered in headless Chromium (Debian's chromium, installed by scripts/deps.sh):
 * every plot must be on the page with its axes (tick labels laid out) and every mark and
 * series visible inside its plot. The page must hold no script and load nothing. */
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

static void t_render_chromium(void) {
    if (!make_runs()) SKIP("runs not made");
    const char *chr = chromium();
    /* not a skip: the plots must be checked where the tests run (scripts/deps.sh installs it) */
    CHECK_MSG(chr != NULL, "chromium is not installed: `sh scripts/deps.sh` installs Debian's chromium");
    if (!chr) return;
    char *html = NULL;
    size_t len = 0;
    pd_error err = {0};
    CHECK_EQ_INT(pd_file_read(DIR "/report.html", &html, &len, &err), 0);
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
        if (strncmp(id, "acc-level", 9)) CHECK_MSG(base == 2, "%s", line); /* both baselines */
    }
    CHECK_EQ_INT(plots, 8);
}

int main(void) {
    RUN(t_rows);
    RUN(t_page_text);
    RUN(t_render_chromium);
    return test_done();
}
