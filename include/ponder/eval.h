/* ponder/eval.h — benchmark runs: every problem x strategy x N, written as results.jsonl and
 * summary.json (src/eval/eval.c).
 *
 * results.jsonl has one line per problem x strategy x N (in that job order: strategy, then N,
 * then problem): the completions with their texts, step rewards, aggregated scores and
 * extracted answers, pred_{naive,weighted,maj}@k for every power of two k <= N (and N itself),
 * their correctness, and the cost. summary.json has the accuracy per strategy x N x selection,
 * overall and per level, the mean cost, and the dataset lines that were skipped. */
#ifndef PONDER_EVAL_H
#define PONDER_EVAL_H

#include <stdio.h>
#include "ponder/base.h"
#include "ponder/dataset.h"
#include "ponder/search.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_EVAL_MAX_N 16      /* budgets per run */
#define PD_EVAL_MAX_K 32      /* k values per budget */
#define PD_EVAL_MAX_LEVEL 10  /* levels 0..10 are kept apart (0: none; above 10 counts as 10) */

typedef struct pd_eval_opts {
    const char *policy_spec, *prm_spec; /* recorded in summary.json */
    const char *dataset;                /* recorded in summary.json */
    const char *out_dir;                /* created if missing; NULL: write nothing */
    pd_strategy strategies[PD_N_STRATEGIES];
    int n_strategies;
    int32_t ns[PD_EVAL_MAX_N];
    int n_ns;
    pd_search_cfg base;       /* beam width, lookahead, iterations, agg, sampling, seed */
    size_t limit;             /* use the first `limit` problems (0: all) */
    int max_inflight;         /* searches in flight (<= 0: 256) */
    int with_texts;           /* write completion texts into results.jsonl (1) */
    int progress;             /* print progress lines to stderr */
    const pd_sim_params *sim; /* recorded in summary.json when the backends are sim (may be NULL) */
} pd_eval_opts;

void pd_eval_opts_default(pd_eval_opts *o);

/* Accuracy of one strategy x N. */
typedef struct pd_eval_cell {
    pd_strategy strategy;
    int32_t n;
    int32_t n_k;
    int32_t ks[PD_EVAL_MAX_K];                   /* 1, 2, 4, ..., and N */
    uint32_t problems;
    uint32_t correct[PD_N_SELECT][PD_EVAL_MAX_K]; /* per selection, per k */
    uint32_t level_problems[PD_EVAL_MAX_LEVEL + 1];
    uint32_t level_correct[PD_N_SELECT][PD_EVAL_MAX_LEVEL + 1]; /* at k = N */
    double policy_tokens, prefix_tokens, prm_tokens, policy_flops, prm_flops; /* sums */
    uint32_t failed;                             /* problems whose backend requests failed for
                                                  * good (counted as wrong, `failed` in results) */
} pd_eval_cell;

typedef struct pd_eval_report {
    pd_eval_cell *cells; /* (n_cells) strategy-major, then N */
    size_t n_cells;
    size_t n_problems;
    size_t n_skipped;    /* malformed dataset lines */
    pd_sched_stats stats;
    double seconds;
} pd_eval_report;

/* Run every strategy x N over the dataset's problems and write out_dir/results.jsonl and
 * out_dir/summary.json. Fills *rep (free with pd_eval_report_free). Returns 0 or an error
 * (a bad configuration fails before any search runs). */
int pd_eval_run(const pd_policy *pol, const pd_verifier *ver, const pd_dataset *ds,
                const pd_eval_opts *o, pd_eval_report *rep, pd_error *err);
void pd_eval_report_free(pd_eval_report *rep);

/* Print the accuracy-vs-N table (naive / weighted / maj at k = N, and mean tokens per
 * problem); with per_level, a second table of weighted accuracy per level. */
void pd_eval_print_table(const pd_eval_report *rep, int per_level, FILE *f);

/* ---- reports: accuracy against compute (src/eval/report.c) ---- */

/* One (model, strategy, selection, N, level) result. */
typedef struct pd_report_row {
    char model[64];           /* e.g. "arith-small" */
    char strategy[32];        /* "greedy", "best_of_n", "beam_search", "dvts" */
    char selection[16];       /* "maj", "weighted", "naive" or "" */
    int n;                    /* budget N */
    int level;                /* 0: all levels */
    uint32_t problems;
    double accuracy;          /* 0..1 */
    double flops_per_problem; /* policy + PRM (the PRM only where the selection uses it) */
    double wall_s;            /* wall time of the run that produced the row */
} pd_report_row;

/* {"title": ..., "rows": [{model, strategy, selection, n, level ("all" or a number),
 * problems, accuracy, flops_per_problem, wall_s}, ...]} */
int pd_report_write_json(const char *path, const pd_report_row *rows, size_t n, const char *title, pd_error *err);
/* A self-contained HTML page: intro text, an SVG plot of accuracy against FLOPs per problem
 * (log scale; one line per model x strategy x selection through its budgets), and a table
 * of the overall rows with per-level accuracy columns. */
int pd_report_write_html(const char *path, const char *title, const char *intro, const pd_report_row *rows, size_t n,
                         pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
