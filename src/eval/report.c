/* report.c — accuracy-against-compute rows, written as JSON and as HTML pages with SVG
 * plots (include/ponder/eval.h, pd_report_*).
 *
 * A row is one (model, strategy, selection, N, level) with its accuracy and its compute
 * (FLOPs per problem, policy and PRM counted; backend seconds per problem). Two pages:
 *   pd_report_write_html   the demo's: one plot of accuracy against FLOPs and a table;
 *   pd_report_write_page   `ponder report`'s: accuracy against N, FLOPs and seconds, per
 *                          level, runs overlaid, baselines, seed spreads, and the table.
 * Every series is one (model, strategy, selection) through its budgets. The SVG is written by
 * hand: a few hundred elements do not need a library, and the page has no script, so it
 * opens anywhere without a network and its plots paste into a paper as they are. */
#include "ponder/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pd_report_write_json(const char *path, const pd_report_row *rows, size_t n, const char *title, pd_error *err) {
    json_t *root = json_object(), *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    }
    json_object_set_new(root, "title", json_string(title ? title : ""));
    for (size_t i = 0; i < n; i++) {
        const pd_report_row *r = &rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "model", json_string(r->model));
        json_object_set_new(o, "strategy", json_string(r->strategy));
        json_object_set_new(o, "selection", json_string(r->selection));
        json_object_set_new(o, "n", json_integer(r->n));
        json_object_set_new(o, "level", r->level ? json_integer(r->level) : json_string("all"));
        json_object_set_new(o, "problems", json_integer(r->problems));
        json_object_set_new(o, "accuracy", json_real(r->accuracy));
        json_object_set_new(o, "flops_per_problem", json_real(r->flops_per_problem));
        json_object_set_new(o, "wall_s", json_real(r->wall_s));
        if (r->accuracy_sd > 0) json_object_set_new(o, "accuracy_sd", json_real(r->accuracy_sd));
        if (r->seconds_per_problem > 0) json_object_set_new(o, "seconds_per_problem", json_real(r->seconds_per_problem));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "rows", arr);
    int rc = json_dump_file(root, path, JSON_INDENT(1)) ? pd_err_set(err, PD_EIO, "%s: cannot write", path) : 0;
    json_decref(root);
    return rc;
}

/* Append s with HTML's special characters escaped. */
static void put_html(pd_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') pd_buf_puts(b, "&lt;");
        else if (*s == '>') pd_buf_puts(b, "&gt;");
        else if (*s == '&') pd_buf_puts(b, "&amp;");
        else if (*s == '"') pd_buf_puts(b, "&quot;");
        else pd_buf_putc(b, *s);
    }
}

/* Do two rows belong to the same series? */
static int same_series(const pd_report_row *a, const pd_report_row *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->strategy, b->strategy) && !strcmp(a->selection, b->selection);
}

static const char *COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

/* The plot: accuracy (0..1) against FLOPs per problem (log10), overall rows only. */
static void put_svg(pd_buf *b, const pd_report_row *rows, size_t n) {
    const double W = 720, H = 440, L = 70, R = 230, T = 20, B = 50; /* size and margins */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!rows[i].level && rows[i].flops_per_problem > 0) {
            double x = log10(rows[i].flops_per_problem);
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    if (!(lo <= hi)) lo = 0, hi = 1;
    lo = floor(lo), hi = ceil(hi);
    if (hi - lo < 1) hi = lo + 1;
    double pw = W - L - R, ph = H - T - B;
#define PX(f) (L + (log10(f) - lo) / (hi - lo) * pw)
#define PY(a) (T + (1.0 - (a)) * ph)
    pd_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n", W, H);
    pd_buf_printf(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
    for (int k = 0; k <= 10; k += 2) { /* accuracy grid */
        double y = PY(k / 10.0);
        pd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
                      L, y, L + pw, y, L - 6, y + 4, k * 10);
    }
    for (double e = lo; e <= hi + 1e-9; e += 1) { /* decades */
        double x = L + (e - lo) / (hi - lo) * pw;
        pd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">1e%d</text>\n",
                      x, T, x, T + ph, x, T + ph + 16, (int)e);
    }
    pd_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">FLOPs per problem (policy + PRM)</text>\n",
                  L + pw / 2, H - 10);
    pd_buf_printf(b, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">accuracy</text>\n",
                  T + ph / 2, T + ph / 2);
    /* one series per (model, strategy, selection), in order of first appearance */
    int series = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].level) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = !rows[j].level && same_series(&rows[i], &rows[j]);
        if (seen) continue;
        const char *col = COLORS[series % 8];
        pd_buf_puts(b, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"");
        pd_buf_puts(b, col);
        pd_buf_puts(b, "\" points=\"");
        for (size_t j = i; j < n; j++)
            if (!rows[j].level && same_series(&rows[i], &rows[j]) && rows[j].flops_per_problem > 0)
                pd_buf_printf(b, "%.1f,%.1f ", PX(rows[j].flops_per_problem), PY(rows[j].accuracy));
        pd_buf_puts(b, "\"/>\n");
        for (size_t j = i; j < n; j++)
            if (!rows[j].level && same_series(&rows[i], &rows[j]) && rows[j].flops_per_problem > 0) {
                pd_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", PX(rows[j].flops_per_problem),
                              PY(rows[j].accuracy), col);
                put_html(b, rows[j].model);
                pd_buf_printf(b, " %s %s N=%d: %.1f%%, %.3g FLOPs</title></circle>\n", rows[j].strategy, rows[j].selection,
                              rows[j].n, 100 * rows[j].accuracy, rows[j].flops_per_problem);
            }
        double ly = T + 10 + 18 * series;
        pd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\">", W - R + 12, ly, W - R + 32, ly, col, W - R + 38, ly + 4);
        put_html(b, rows[i].model);
        pd_buf_putc(b, ' ');
        put_html(b, rows[i].strategy);
        if (rows[i].selection[0]) {
            pd_buf_puts(b, " (");
            put_html(b, rows[i].selection);
            pd_buf_putc(b, ')');
        }
        pd_buf_puts(b, "</text>\n");
        series++;
    }
    pd_buf_puts(b, "</svg>\n");
#undef PX
#undef PY
}

int pd_report_write_html(const char *path, const char *title, const char *intro, const pd_report_row *rows, size_t n,
                         pd_error *err) {
    pd_buf b = {0};
    pd_buf_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    put_html(&b, title);
    pd_buf_puts(&b, "</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
                    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
                    "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}</style></head><body>\n<h1>");
    put_html(&b, title);
    pd_buf_puts(&b, "</h1>\n");
    if (intro && *intro) {
        pd_buf_puts(&b, "<p>");
        put_html(&b, intro);
        pd_buf_puts(&b, "</p>\n");
    }
    put_svg(&b, rows, n);
    /* levels present, for the per-level columns */
    int levels[PD_EVAL_MAX_LEVEL + 1] = {0};
    for (size_t i = 0; i < n; i++)
        if (rows[i].level > 0 && rows[i].level <= PD_EVAL_MAX_LEVEL) levels[rows[i].level] = 1;
    pd_buf_puts(&b, "<table>\n<tr><th>model</th><th>strategy</th><th>selection</th><th>N</th><th>accuracy</th>");
    for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++)
        if (levels[l]) pd_buf_printf(&b, "<th>L%d</th>", l);
    pd_buf_puts(&b, "<th>FLOPs / problem</th><th>wall s</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const pd_report_row *r = &rows[i];
        if (r->level) continue;
        pd_buf_puts(&b, "<tr><td>");
        put_html(&b, r->model);
        pd_buf_puts(&b, "</td><td>");
        put_html(&b, r->strategy);
        pd_buf_puts(&b, "</td><td>");
        put_html(&b, r->selection);
        pd_buf_printf(&b, "</td><td>%d</td><td>%.1f%%</td>", r->n, 100 * r->accuracy);
        for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++) {
            if (!levels[l]) continue;
            const pd_report_row *m = NULL;
            for (size_t j = 0; j < n && !m; j++)
                if (rows[j].level == l && rows[j].n == r->n && same_series(&rows[j], r)) m = &rows[j];
            if (m) pd_buf_printf(&b, "<td>%.0f%%</td>", 100 * m->accuracy);
            else pd_buf_puts(&b, "<td></td>");
        }
        pd_buf_printf(&b, "<td>%.3g</td><td>%.1f</td></tr>\n", r->flops_per_problem, r->wall_s);
    }
    pd_buf_puts(&b, "</table>\n</body></html>\n");
    if (!b.data) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    int rc = pd_file_write(path, b.data, b.len, err);
    pd_buf_free(&b);
    return rc;
}

/* ---- `ponder report`: rows from runs, the page with every plot ---- */

int pd_report_rows_from_eval(const pd_eval_report *rep, const char *model, unsigned sel_mask, pd_report_row **rows,
                             size_t *n, size_t *cap, pd_error *err) {
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        if (!c->problems) continue;
        int last = c->n_k - 1;
        for (int sel = 0; sel <= PD_N_SELECT; sel++) {
            if (!(sel_mask & (1u << sel))) continue;
            int plan = sel == PD_N_SELECT; /* auto's own selection */
            if (plan && c->strategy != PD_AUTO) continue;
            /* the PRM's cost counts where it is used: always in tree searches, in best-of-N
             * for the selections that read its scores */
            int prm = c->strategy != PD_BEST_OF_N || sel != PD_SEL_MAJ;
            double np = c->problems, nt = c->timed ? c->timed : 1;
            double flops = (c->policy_flops + (prm ? c->prm_flops : 0)) / np;
            double secs = c->timed ? (c->policy_s + (prm ? c->prm_s : 0)) / nt : 0;
            /* spread over seeds */
            double mean = 0, m2 = 0;
            int k = 0;
            for (int s = 0; s < rep->n_seeds && !plan; s++) { /* (not kept per seed for the plan) */
                if (!c->seed_problems[s]) continue;
                double a = (double)c->seed_correct[sel][s] / c->seed_problems[s], d = a - mean;
                k++;
                mean += d / k;
                m2 += d * (a - mean);
            }
            for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++) {
                uint32_t probs = lv ? c->level_problems[lv] : c->problems;
                if (!probs) continue;
                if (pd_grow((void **)rows, cap, *n + 1, sizeof **rows))
                    return pd_err_set(err, PD_ENOMEM, "report: out of memory");
                pd_report_row *r = &(*rows)[(*n)++];
                memset(r, 0, sizeof *r);
                snprintf(r->model, sizeof r->model, "%s", model);
                snprintf(r->strategy, sizeof r->strategy, "%s", pd_strategy_name(c->strategy));
                snprintf(r->selection, sizeof r->selection, "%s", plan ? "plan" : pd_select_name((pd_select)sel));
                r->n = c->n;
                r->level = lv;
                r->problems = probs;
                if (plan) r->accuracy = (double)(lv ? c->level_plan_correct[lv] : c->plan_correct) / probs;
                else r->accuracy = (double)(lv ? c->level_correct[sel][lv] : c->correct[sel][last]) / probs;
                r->flops_per_problem = flops;
                r->seconds_per_problem = secs;
                r->wall_s = rep->seconds;
                r->accuracy_sd = !lv && k > 1 ? sqrt(m2 / (k - 1)) : 0;
            }
        }
    }
    return 0;
}

int pd_report_rows_from_plan(const pd_plan_result *pr, unsigned bins_mask, pd_report_row **rows, size_t *n,
                             size_t *cap, pd_error *err) {
    /* short names: the legend has 250 pixels */
    static const char *bins[PD_PLAN_N_BINS] = {"oracle", "oracle-abs", "prm probe", "agreement probe",
                                               "first-step probe"};
    for (int b = 0; b < PD_PLAN_N_BINS; b++) {
        if (!(bins_mask & (1u << b))) continue;
        for (size_t i = 0; i < pr->n_front; i++) {
            const pd_plan_front *f = &pr->front[i];
            if (!(f->flops[b] > 0)) continue;
            if (pd_grow((void **)rows, cap, *n + 1, sizeof **rows)) return pd_err_set(err, PD_ENOMEM, "report: out of memory");
            pd_report_row *r = &(*rows)[(*n)++];
            memset(r, 0, sizeof *r);
            snprintf(r->model, sizeof r->model, "plan");
            snprintf(r->strategy, sizeof r->strategy, "optimal");
            snprintf(r->selection, sizeof r->selection, "%s", bins[b]);
            r->problems = (uint32_t)pr->n_problems;
            r->accuracy = f->acc[b];
            r->flops_per_problem = f->flops[b];
        }
    }
    return 0;
}

int pd_report_baseline_parse(const char *s, pd_report_baseline *b, pd_error *err) {
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s) return pd_err_set(err, PD_EINVAL, "baseline '%s': not LABEL=ACCURACY (e.g. \"8B greedy=0.52\")", s);
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1) return pd_err_set(err, PD_EINVAL, "baseline '%s': '%s' is not a number", s, eq + 1);
    if (*end == '%') v /= 100, end++;
    if (*end || !(v >= 0 && v <= 1))
        return pd_err_set(err, PD_EINVAL, "baseline '%s': the accuracy must be 0..1 or 0%%..100%%", s);
    size_t l = (size_t)(eq - s);
    if (l >= sizeof b->label) l = sizeof b->label - 1;
    memcpy(b->label, s, l);
    b->label[l] = 0;
    b->accuracy = v;
    return 0;
}

/* What goes along a plot's x axis. */
typedef enum { AX_N, AX_FLOPS, AX_SECONDS } axis_kind;

static double xval(const pd_report_row *r, axis_kind k) {
    return k == AX_N ? r->n : k == AX_FLOPS ? r->flops_per_problem : r->seconds_per_problem;
}

/* The series of the page: (model, strategy, selection) in order of first appearance; their
 * colour by (strategy, selection), their dash by model. */
typedef struct series_t {
    const pd_report_row *first;
    int color, dash;
} series_t;

static const char *DASH[] = {"", "7 4", "2 3", "10 3 2 3"};
/* 12 colours told apart on screen and on paper (strategy x selection: 9 with three of each) */
static const char *PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                                "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#637939"};

typedef struct page {
    pd_buf *b;
    const pd_report_row *rows;
    size_t n;
    series_t *ser;
    int n_ser;
    const pd_report_baseline *base;
    size_t n_base;
} page;

static int series_of(const page *p, const pd_report_row *r) {
    for (int i = 0; i < p->n_ser; i++)
        if (same_series(p->ser[i].first, r)) return i;
    return -1;
}

/* Tick labels: "1e15"; "10 ms", "2 s". */
static void tick_label(char *t, size_t n, axis_kind k, double v) {
    if (k == AX_N) snprintf(t, n, "%.0f", v);
    else if (k == AX_FLOPS) snprintf(t, n, "1e%.0f", log10(v));
    else if (v < 1e-3) snprintf(t, n, "%.0f µs", v * 1e6);
    else if (v < 1) snprintf(t, n, "%.0f ms", v * 1e3);
    else snprintf(t, n, "%.0f s", v);
}

/* One plot: accuracy (0..100%) against x (log scale) for the rows of `level` (0: all). */
static void put_plot(page *p, const char *id, const char *title, const char *xlabel, axis_kind k, int level, double W,
                     double H, int legend) {
    pd_buf *b = p->b;
    const double L = 56, R = legend ? 250 : 14, T = 30, B = 46;
    double lo = INFINITY, hi = -INFINITY;
    double base = k == AX_N ? 2 : 10; /* log base of the ticks */
    for (size_t i = 0; i < p->n; i++) {
        const pd_report_row *r = &p->rows[i];
        double x = xval(r, k);
        if (r->level != level || !(x > 0)) continue;
        x = log(x) / log(base);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    lo = floor(lo), hi = ceil(hi);
    if (hi - lo < 1) lo -= 0.5, hi += 0.5;
    double pad = (hi - lo) * 0.04;
    lo -= pad, hi += pad;
    double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + (log(v) / log(base) - lo) / (hi - lo) * pw)
#define PY(a) (T + (1.0 - (a)) * ph)
    pd_buf_printf(b, "<svg class=\"plot\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                  "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", id, W, H, W, H);
    pd_buf_puts(b, "<text class=\"title\" x=\"");
    pd_buf_printf(b, "%.1f\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", L);
    put_html(b, title);
    pd_buf_puts(b, "</text>\n");
    pd_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
    /* y axis: accuracy */
    pd_buf_puts(b, "<g class=\"axis y\">\n");
    for (int t = 0; t <= 10; t += 2) {
        double y = PY(t / 10.0);
        pd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                      "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
                      L, y, L + pw, y, L - 5, y + 4, t * 10);
    }
    pd_buf_printf(b, "<text class=\"label\" x=\"13\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 13 %.1f)\">"
                  "accuracy</text>\n</g>\n", T + ph / 2, T + ph / 2);
    /* x axis: powers of 2 (N) or of 10 */
    pd_buf_puts(b, "<g class=\"axis x\">\n");
    int step = k == AX_N && hi - lo > 9 ? 2 : 1;
    for (double e = ceil(lo); e <= hi + 1e-9; e += step) {
        double v = pow(base, e), x = PX(v);
        char t[32];
        tick_label(t, sizeof t, k, v);
        pd_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                      "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                      x, T, x, T + ph, x, T + ph + 15, t);
    }
    pd_buf_printf(b, "<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 8);
    put_html(b, xlabel);
    pd_buf_puts(b, "</text>\n</g>\n");
    /* baselines */
    for (size_t i = 0; i < p->n_base && level == 0; i++) {
        double y = PY(p->base[i].accuracy);
        pd_buf_printf(b, "<g class=\"baseline\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                      "stroke-dasharray=\"5 4\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">",
                      L, y, L + pw, y, L + pw - 4, y - 4);
        put_html(b, p->base[i].label);
        pd_buf_printf(b, " (%.1f%%)</text></g>\n", 100 * p->base[i].accuracy);
    }
    /* series: a line through the budgets, a mark per row, a whisker for the seeds' spread */
    int shown = 0;
    for (int si = 0; si < p->n_ser; si++) {
        const series_t *s = &p->ser[si];
        const char *col = PALETTE[s->color % 12];
        /* the series' points in x order */
        const pd_report_row *pts[256];
        int np = 0;
        for (size_t i = 0; i < p->n && np < 256; i++) {
            const pd_report_row *r = &p->rows[i];
            if (r->level != level || !(xval(r, k) > 0) || !same_series(r, s->first)) continue;
            int j = np++;
            while (j > 0 && xval(pts[j - 1], k) > xval(r, k)) pts[j] = pts[j - 1], j--;
            pts[j] = r;
        }
        if (!np) continue;
        shown++;
        if (np > 1) {
            pd_buf_printf(b, "<polyline class=\"series\" fill=\"none\" stroke-width=\"2\" stroke=\"%s\"%s%s%s points=\"", col,
                          s->dash ? " stroke-dasharray=\"" : "", s->dash ? DASH[s->dash % 4] : "", s->dash ? "\"" : "");
            for (int j = 0; j < np; j++) pd_buf_printf(b, "%.1f,%.1f ", PX(xval(pts[j], k)), PY(pts[j]->accuracy));
            pd_buf_puts(b, "\"/>\n");
        }
        for (int j = 0; j < np; j++) {
            const pd_report_row *r = pts[j];
            double x = PX(xval(r, k)), y = PY(r->accuracy);
            if (r->accuracy_sd > 0)
                pd_buf_printf(b, "<line class=\"whisker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                              x, PY(fmin(1, r->accuracy + r->accuracy_sd)), x, PY(fmax(0, r->accuracy - r->accuracy_sd)), col);
            pd_buf_printf(b, "<circle class=\"mark\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"><title>", x, y,
                          legend ? "4" : "3", col);
            put_html(b, r->model);
            if (r->n) pd_buf_printf(b, " %s %s N=%d: %.1f%%", r->strategy, r->selection, r->n, 100 * r->accuracy);
            else pd_buf_printf(b, " compute-optimal (%s bins, held out): %.1f%%", r->selection, 100 * r->accuracy);
            if (r->accuracy_sd > 0) pd_buf_printf(b, " ± %.1f", 100 * r->accuracy_sd);
            pd_buf_printf(b, " (%u problems), %.3g FLOPs", r->problems, r->flops_per_problem);
            if (r->seconds_per_problem > 0) pd_buf_printf(b, ", %.3g s", r->seconds_per_problem);
            pd_buf_puts(b, " per problem</title></circle>\n");
        }
        if (legend) {
            double ly = T + 8 + 17 * (shown - 1);
            pd_buf_printf(b, "<g class=\"legend\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"2\"%s%s%s/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                          W - R + 10, ly, W - R + 34, ly, col, s->dash ? " stroke-dasharray=\"" : "",
                          s->dash ? DASH[s->dash % 4] : "", s->dash ? "\"" : "", W - R + 22, ly, col, W - R + 40, ly + 4);
            put_html(b, s->first->model);
            pd_buf_putc(b, ' ');
            put_html(b, s->first->strategy);
            if (s->first->selection[0]) {
                pd_buf_puts(b, " (");
                put_html(b, s->first->selection);
                pd_buf_putc(b, ')');
            }
            pd_buf_puts(b, "</text></g>\n");
        }
    }
    pd_buf_puts(b, "</svg>\n");
#undef PX
#undef PY
}

int pd_report_write_page(const char *path, const char *title, const char *intro, const pd_report_row *rows, size_t n,
                         const pd_report_baseline *baselines, size_t n_baselines, pd_error *err) {
    page p = {0};
    pd_buf b = {0};
    p.b = &b;
    p.rows = rows;
    p.n = n;
    p.base = baselines;
    p.n_base = n_baselines;
    p.ser = calloc(n ? n : 1, sizeof *p.ser);
    if (!p.ser) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    /* series, their colours (by strategy and selection) and dashes (by model) */
    int n_colors = 0, n_models = 0;
    for (size_t i = 0; i < n; i++) {
        if (series_of(&p, &rows[i]) >= 0) continue;
        series_t *s = &p.ser[p.n_ser];
        s->first = &rows[i];
        s->color = s->dash = -1;
        for (int j = 0; j < p.n_ser; j++) {
            const pd_report_row *o = p.ser[j].first;
            if (s->color < 0 && !strcmp(o->strategy, rows[i].strategy) && !strcmp(o->selection, rows[i].selection))
                s->color = p.ser[j].color;
            if (s->dash < 0 && !strcmp(o->model, rows[i].model)) s->dash = p.ser[j].dash;
        }
        if (s->color < 0) s->color = n_colors++;
        if (s->dash < 0) s->dash = n_models++;
        p.n_ser++;
    }
    int has_secs = 0, levels[PD_EVAL_MAX_LEVEL + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        has_secs |= rows[i].seconds_per_problem > 0;
        if (rows[i].level > 0 && rows[i].level <= PD_EVAL_MAX_LEVEL) levels[rows[i].level] = 1;
    }
    pd_buf_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    put_html(&b, title);
    pd_buf_puts(&b, "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
                    "svg.plot{display:block;margin:1em 0}.levels{display:flex;flex-wrap:wrap;gap:0 8px}"
                    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
                    "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}</style></head><body>\n<h1>");
    put_html(&b, title);
    pd_buf_puts(&b, "</h1>\n");
    if (intro && *intro) {
        pd_buf_puts(&b, "<p>");
        put_html(&b, intro);
        pd_buf_puts(&b, "</p>\n");
    }
    put_plot(&p, "acc-vs-n", "Accuracy against the budget N", "N (generations per problem, log scale)", AX_N, 0, 900, 440, 1);
    put_plot(&p, "acc-vs-flops", "Accuracy against compute", "FLOPs per problem (policy + PRM where used, log scale)",
             AX_FLOPS, 0, 900, 440, 1);
    if (has_secs)
        put_plot(&p, "acc-vs-time", "Accuracy against time",
                 "backend seconds per problem (policy + PRM where used, log scale)", AX_SECONDS, 0, 900, 440, 1);
    int any_level = 0;
    for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++) any_level |= levels[l];
    if (any_level) {
        pd_buf_puts(&b, "<h2>Accuracy per difficulty level</h2>\n<div class=\"levels\">\n");
        for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++) {
            if (!levels[l]) continue;
            char id[32], t[32];
            snprintf(id, sizeof id, "acc-level-%d", l);
            snprintf(t, sizeof t, "Level %d", l);
            put_plot(&p, id, t, "N (log scale)", AX_N, l, 270, 230, 0);
        }
        pd_buf_puts(&b, "</div>\n<p>Colours and dashes as in the plots above.</p>\n");
    }
    /* the table of overall rows */
    pd_buf_puts(&b, "<h2>All results</h2>\n<table>\n<tr><th>run</th><th>strategy</th><th>selection</th><th>N</th>"
                    "<th>accuracy</th>");
    for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++)
        if (levels[l]) pd_buf_printf(&b, "<th>L%d</th>", l);
    pd_buf_puts(&b, "<th>problems</th><th>FLOPs / problem</th><th>s / problem</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const pd_report_row *r = &rows[i];
        if (r->level) continue;
        pd_buf_puts(&b, "<tr><td>");
        put_html(&b, r->model);
        pd_buf_puts(&b, "</td><td>");
        put_html(&b, r->strategy);
        pd_buf_puts(&b, "</td><td>");
        put_html(&b, r->selection);
        if (r->n) pd_buf_printf(&b, "</td><td>%d</td><td>%.1f%%", r->n, 100 * r->accuracy);
        else pd_buf_printf(&b, "</td><td>&mdash;</td><td>%.1f%%", 100 * r->accuracy); /* a frontier point */
        if (r->accuracy_sd > 0) pd_buf_printf(&b, " ± %.1f", 100 * r->accuracy_sd);
        pd_buf_puts(&b, "</td>");
        for (int l = 1; l <= PD_EVAL_MAX_LEVEL; l++) {
            if (!levels[l]) continue;
            const pd_report_row *m = NULL;
            for (size_t j = 0; j < n && !m; j++)
                if (rows[j].level == l && rows[j].n == r->n && same_series(&rows[j], r)) m = &rows[j];
            if (m) pd_buf_printf(&b, "<td>%.0f%%</td>", 100 * m->accuracy);
            else pd_buf_puts(&b, "<td></td>");
        }
        pd_buf_printf(&b, "<td>%u</td><td>%.3g</td><td>%.3g</td></tr>\n", r->problems, r->flops_per_problem,
                      r->seconds_per_problem);
    }
    pd_buf_puts(&b, "</table>\n");
    for (size_t i = 0; i < n_baselines; i++) {
        pd_buf_puts(&b, i ? "; " : "<p>Baselines (dashed grey): ");
        put_html(&b, baselines[i].label);
        pd_buf_printf(&b, " %.1f%%", 100 * baselines[i].accuracy);
        if (i + 1 == n_baselines) pd_buf_puts(&b, ".</p>\n");
    }
    pd_buf_puts(&b, "</body></html>\n");
    free(p.ser);
    if (!b.data) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    int rc = pd_file_write(path, b.data, b.len, err);
    pd_buf_free(&b);
    return rc;
}
