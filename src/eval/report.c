/* report.c — accuracy-against-compute rows, written as JSON and as an HTML page with an SVG
 * plot (include/ponder/eval.h, pd_report_*).
 *
 * A row is one (model, strategy, selection, N, level) with its accuracy and its compute
 * (FLOPs per problem, policy and PRM counted). The page has one line per (model, strategy,
 * selection) through its budgets, accuracy against FLOPs on a log scale, single-budget
 * series (greedy) as points, and a table of every overall row. The SVG is written by hand:
 * a few dozen elements do not need a library, and the page has no script, so it opens
 * anywhere and pastes into a paper as it is. */
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
