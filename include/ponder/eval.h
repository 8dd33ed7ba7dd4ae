/* ponder/eval.h — benchmark runs: every problem x strategy x N (x seed), written into a run
 * directory that survives crashes (src/eval/eval.c, run.c; docs/EVAL.md).
 *
 * A run directory holds
 *   config.json    what the run is (backends, dataset fingerprint, strategies, budgets,
 *                  seeds, search and sim settings, shard); a resume must match it
 *   results.jsonl  one line per finished search, appended whole the moment it finishes
 *                  (completion order): the completions with their texts, step rewards,
 *                  aggregated scores and extracted answers, pred_{naive,weighted,maj}@k for
 *                  every power of two k <= N (and N itself), their correctness, the cost.
 *                  Deterministic: the same run gives the same lines, byte for byte
 *   timing.jsonl   per search, the policy and PRM seconds spent on it (backend call time
 *                  shared among the call's searches by the tokens each computed)
 *   summary.json   accuracy per strategy x N x selection, overall, per level, per subject,
 *                  per seed (mean and spread), the mean cost (tokens, FLOPs, seconds)
 * A killed run loses at most the searches in flight: resume it and it redoes only those. */
#ifndef PONDER_EVAL_H
#define PONDER_EVAL_H

#include <signal.h>
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
#define PD_EVAL_MAX_SEEDS 16  /* seeds per run */
#define PD_EVAL_MAX_SUBJECTS 24 /* subjects kept apart; the rest count as "other" */

typedef struct pd_eval_opts {
    const char *policy_spec, *prm_spec; /* recorded in config.json and summary.json */
    const char *dataset;                /* recorded in config.json and summary.json */
    const char *out_dir;                /* created if missing; NULL: write nothing */
    pd_strategy strategies[PD_N_STRATEGIES + 1]; /* the concrete ones and auto */
    int n_strategies;
    int32_t ns[PD_EVAL_MAX_N];
    int n_ns;
    pd_search_cfg base;       /* beam width, lookahead, iterations, agg, sampling, seed */
    size_t limit;             /* use the first `limit` problems (0: all) */
    int max_inflight;         /* searches in flight (<= 0: 256) */
    int with_texts;           /* write completion texts into results.jsonl (1) */
    int progress;             /* progress on stderr: a redrawn line on a terminal, else a log
                                 line every 10% or minute */
    const pd_sim_params *sim; /* recorded when the backends are sim (may be NULL) */
    /* ---- runs ---- */
    uint64_t seeds[PD_EVAL_MAX_SEEDS]; /* every job runs once per seed (n_seeds 0: base.seed) */
    int n_seeds;
    int shard_index, shard_count; /* run problems shard_index, +shard_count, ... (count <= 1: all) */
    int resume;               /* continue the run in out_dir (its config.json must match; a
                                 missing or empty out_dir starts a new run) */
    int overwrite;            /* replace a run in out_dir. pd_eval_opts_default sets 1 (as
                                 pd_eval_run always did); 0 refuses an out_dir that is not
                                 empty (the CLI's default: --overwrite sets it) */
    const pd_backend_opts *backend; /* recorded in config.json (system prompt, delimiter,
                                       PRM kind...; may be NULL) */
    const volatile sig_atomic_t *stop; /* when it becomes non-zero: finish the current write and
                                          return PD_ELIMIT "interrupted" (resumable) */
    /* strategy auto: the plan (pd_plan_load) and its file, recorded in config.json with a
       fingerprint of its choices (a resume with another plan is refused) */
    const pd_auto_plan *plan;
    const char *plan_path;
    /* recorded in config.json when set (the caller slices the dataset: pd_dataset_slice; a
       resume slices it the same from what is recorded): dataset_start / dataset_end (0: none),
       the Hugging Face split the dataset came from (NULL: a local file) */
    size_t dataset_start, dataset_end;
    const char *dataset_split;
} pd_eval_opts;

void pd_eval_opts_default(pd_eval_opts *o);

/* Accuracy of one strategy x N, over every seed. */
typedef struct pd_eval_cell {
    pd_strategy strategy;
    int32_t n;
    int32_t n_k;
    int32_t ks[PD_EVAL_MAX_K];                   /* 1, 2, 4, ..., and N */
    uint32_t problems;                           /* results (problems x seeds) */
    uint32_t correct[PD_N_SELECT][PD_EVAL_MAX_K]; /* per selection, per k */
    uint32_t level_problems[PD_EVAL_MAX_LEVEL + 1];
    uint32_t level_correct[PD_N_SELECT][PD_EVAL_MAX_LEVEL + 1]; /* at k = N */
    double policy_tokens, prefix_tokens, prm_tokens, policy_flops, prm_flops; /* sums */
    uint32_t seed_problems[PD_EVAL_MAX_SEEDS];   /* per seed of the report */
    uint32_t seed_correct[PD_N_SELECT][PD_EVAL_MAX_SEEDS]; /* at k = N */
    uint32_t subject_problems[PD_EVAL_MAX_SUBJECTS];       /* per subject of the report */
    uint32_t subject_correct[PD_N_SELECT][PD_EVAL_MAX_SUBJECTS]; /* at k = N */
    double policy_s, prm_s;   /* backend seconds spent on these searches (sums) */
    uint32_t timed;           /* results with a timing record */
    uint32_t failed;          /* problems whose backend requests failed for good (counted as
                               * wrong, `failed` in results) */
    uint32_t plan_correct;    /* auto: right with the plan's own selection (correct_plan) */
    uint32_t level_plan_correct[PD_EVAL_MAX_LEVEL + 1]; /* the same per level */
} pd_eval_cell;

typedef struct pd_eval_report {
    pd_eval_cell *cells; /* (n_cells) strategy-major, then N */
    size_t n_cells;
    size_t n_problems;   /* problems in the run (this shard's) */
    size_t n_skipped;    /* malformed or duplicate dataset lines */
    pd_sched_stats stats; /* of this session's searches */
    double seconds;      /* of this session */
    size_t n_jobs;       /* searches in the run: seeds x strategies x budgets x problems */
    size_t n_done;       /* of which have a result */
    size_t n_resumed;    /* results that were already in the directory when it resumed */
    size_t torn_bytes;   /* bytes of a torn last line dropped on resume */
    int n_seeds;
    uint64_t seeds[PD_EVAL_MAX_SEEDS];
    int n_subjects;      /* subjects seen; the last is "other" when there were too many */
    char subjects[PD_EVAL_MAX_SUBJECTS][48];
    char policy[256], prm[256];             /* the backends' specs */
    char policy_backend[8], prm_backend[8]; /* "sim", "local" or "remote" */
} pd_eval_report;

/* Run every seed x strategy x N over the dataset's problems (this shard's) and write the run
 * directory (see the top of this header). Fills *rep (free with pd_eval_report_free). Returns
 * 0 or an error: a bad configuration, a refused directory (not empty without resume or
 * overwrite; a resume whose configuration differs, naming the difference) fail before any
 * search runs. After a backend failure or an interruption the results written so far stay and
 * the run can be resumed. */
int pd_eval_run(const pd_policy *pol, const pd_verifier *ver, const pd_dataset *ds,
                const pd_eval_opts *o, pd_eval_report *rep, pd_error *err);
void pd_eval_report_free(pd_eval_report *rep);

/* "sim", "remote" (a URL: http://..., logprob+http://...) or "local" (a model directory or
 * repo id). */
const char *pd_eval_backend_kind(const char *spec);

/* Print the accuracy-vs-N table (naive / weighted / maj at k = N, and mean tokens per
 * problem), headed by the backends (saying when they are simulated); with per_level, a
 * second table of weighted accuracy per level, and one per subject when there are several. */
void pd_eval_print_table(const pd_eval_report *rep, int per_level, FILE *f);

/* Rebuild dir/summary.json from dir/config.json, results.jsonl and timing.jsonl (a torn
 * last line is left out). Fills *rep when it is not NULL. */
int pd_eval_summarize(const char *dir, pd_eval_report *rep, pd_error *err);

/* Join the complete shards dirs[0..n) of one run into out (refused: shards of different
 * runs, overlapping or missing shards, an incomplete shard, a non-empty out without
 * overwrite), then summarize it. */
int pd_eval_merge(const char *const *dirs, size_t n, const char *out, int overwrite, pd_eval_report *rep,
                  pd_error *err);

/* The configuration stored in a run directory, read back into options (for resuming with
 * only the directory named): specs, dataset path, strategies, budgets, seeds, search
 * settings, limit, shard, texts, sim parameters and backend options. Strings are owned by
 * *s; free with pd_eval_saved_free. */
typedef struct pd_eval_saved {
    pd_eval_opts o;
    pd_backend_opts bo;
    int has_sim;           /* the run recorded sim parameters (in bo.sim) */
    char *own[12];
} pd_eval_saved;
int pd_eval_saved_load(const char *dir, pd_eval_saved *s, pd_error *err);
void pd_eval_saved_free(pd_eval_saved *s);

/* ---- reports: accuracy against compute (src/eval/report.c) ---- */

/* One (model, strategy, selection, N, level) result. */
typedef struct pd_report_row {
    char model[64];           /* e.g. "arith-small", or a run's label */
    char strategy[32];        /* "greedy", "best_of_n", "beam_search", "dvts" */
    char selection[16];       /* "maj", "weighted", "naive" or "" */
    int n;                    /* budget N */
    int level;                /* 0: all levels */
    uint32_t problems;
    double accuracy;          /* 0..1 */
    double flops_per_problem; /* policy + PRM (the PRM only where the selection uses it) */
    double wall_s;            /* wall time of the run that produced the row */
    double accuracy_sd;       /* standard deviation over seeds (0: one seed) */
    double seconds_per_problem; /* backend seconds per problem, policy + PRM as for FLOPs
                                 * (0: not measured) */
} pd_report_row;

/* {"title": ..., "rows": [{model, strategy, selection, n, level ("all" or a number),
 * problems, accuracy, flops_per_problem, wall_s[, accuracy_sd, seconds_per_problem]}, ...]} */
int pd_report_write_json(const char *path, const pd_report_row *rows, size_t n, const char *title, pd_error *err);
/* A self-contained HTML page: intro text, an SVG plot of accuracy against FLOPs per problem
 * (log scale; one line per model x strategy x selection through its budgets), and a table
 * of the overall rows with per-level accuracy columns. */
int pd_report_write_html(const char *path, const char *title, const char *intro, const pd_report_row *rows, size_t n,
                         pd_error *err);

/* The bit of a report's selection mask for strategy auto's own selection (selection "plan":
 * each bin's choice picks its answer as the plan says, accuracy_plan in summary.json). */
#define PD_REPORT_SEL_PLAN (1u << PD_N_SELECT)
/* Append the rows of an evaluation (rep) labelled `model` to *rows (*n rows, *cap capacity;
 * grown with pd_grow): one per strategy x selection (bit s of sel_mask: pd_select s) x N,
 * overall (level 0) and per level present; for strategy auto also selection "plan" (bit
 * PD_REPORT_SEL_PLAN), whose FLOPs count the PRM (the search scores every step). */
int pd_report_rows_from_eval(const pd_eval_report *rep, const char *model, unsigned sel_mask, pd_report_row **rows,
                             size_t *n, size_t *cap, pd_error *err);

/* A reference line drawn across the accuracy plots ("Llama-3.1-8B greedy" at 0.52). */
typedef struct pd_report_baseline {
    char label[96];
    double accuracy;
} pd_report_baseline;
/* Parse "LABEL=0.52" or "LABEL=52%". Returns 0 or PD_EINVAL with a message. */
int pd_report_baseline_parse(const char *s, pd_report_baseline *b, pd_error *err);

/* The report page (`ponder report`): one self-contained HTML file, no script and no network,
 * with SVG plots drawn by ponder: accuracy against N (log scale), against FLOPs per problem,
 * against backend seconds per problem (when measured), per difficulty level (one small plot
 * of accuracy against N per level), every (model, strategy, selection) a series (runs
 * overlaid: colour per strategy and selection, dash per run; whiskers: spread over seeds),
 * baselines as dashed horizontal lines; then a table of the overall rows. Each plot is an
 * <svg class="plot" id="..."> with <g class="axis x">, <g class="axis y">, marks
 * (class="mark") and series (class="series"). */
int pd_report_write_page(const char *path, const char *title, const char *intro, const pd_report_row *rows, size_t n,
                         const pd_report_baseline *baselines, size_t n_baselines, pd_error *err);

/* ---- compute-optimal planning (src/eval/plan.c; docs/EVAL.md) ---- */

/* How problems are binned by difficulty. */
typedef enum pd_plan_bins {
    PD_BINS_ORACLE_QUINTILE = 0, /* quintiles of the policy's pass@1 (reads the answers) */
    PD_BINS_ORACLE_ABS,          /* pass@1 < 10%, < 50%, >= 50% (Liu et al.) */
    PD_BINS_PRM,                 /* quintiles of a probe's mean PRM score (usable at inference) */
    PD_BINS_AGREEMENT,           /* quintiles of a probe's answer agreement (usable at inference) */
    PD_BINS_FIRST_STEP,          /* quintiles of the mean PRM score of a probe's first steps
                                    (usable at inference; the tree searches take them over) */
} pd_plan_bins;
#define PD_PLAN_N_BINS 5         /* ways of binning */
const char *pd_plan_bins_name(pd_plan_bins b);

typedef struct pd_plan_opts {
    int probe_samples;   /* P: best-of-N samples (or first steps) the probe draws (4) */
    pd_plan_bins probe;  /* the plan file's bins: PD_BINS_PRM (default), PD_BINS_AGREEMENT or
                            PD_BINS_FIRST_STEP */
    int n_bins;          /* quantile bins (5) */
    double tolerance;    /* a cheaper option within this accuracy of the best is chosen (0) */
    double ac_threshold; /* adaptive consistency, vote rule: stop at P(leader stays ahead) >= (0.95) */
    double ac_prm_share; /* PRM rule: stop when the leader holds this share of the score mass (0.8) */
    int ac_min;          /* never stop before this many samples (3) */
    int curve;           /* pd_plan_print: print the whole frontier curve too (0) */
    int flops_budget;    /* 0: a budget N caps every bin's N; 1: the bins share the mean FLOPs of
                            the best fixed option at N (fitted with it), any N per bin: easy bins
                            may spend less, hard ones more (0) */
} pd_plan_opts;
void pd_plan_opts_default(pd_plan_opts *o);

/* One budget (the largest N a bin may use; with flops_budget, the mean FLOPs of the best fixed
 * option at that N, shared by the bins), measured on held-out problems (2-fold
 * cross-validation): the best single option, and the compute-optimal choice per bin for each
 * way of binning (pd_plan_bins order); FLOPs are means per problem, with the probe's for the
 * predicted bins. */
typedef struct pd_plan_point {
    int n;
    char fixed[96];      /* the best fixed option chosen on the first training fold */
    double fixed_acc, fixed_flops;
    double acc[PD_PLAN_N_BINS], flops[PD_PLAN_N_BINS];
} pd_plan_point;

/* Adaptive consistency at a best-of-N budget N: [0] the vote rule against maj@N, [1] the PRM
 * rule against weighted@N; accuracy, mean samples, mean FLOPs (full and adaptive). */
typedef struct pd_plan_ac {
    int n;
    size_t problems;
    double full_acc[2], ada_acc[2], samples[2], flops_full[2], flops_ada[2];
} pd_plan_ac;

/* A point of the compute-optimal frontier: per bin, the option maximising accuracy minus
 * lambda x FLOPs (fitted on the training fold), measured on the held-out fold. */
typedef struct pd_plan_front {
    double lambda;
    double acc[PD_PLAN_N_BINS], flops[PD_PLAN_N_BINS]; /* per way of binning */
} pd_plan_front;

/* A fixed option over every problem (no fitting). */
typedef struct pd_plan_fixed {
    char label[96];
    double acc, flops;
    int pareto;          /* no other option is as accurate for fewer FLOPs */
} pd_plan_fixed;

typedef struct pd_plan_result {
    size_t n_problems;   /* problems x seeds with every option's result */
    size_t n_dropped;    /* those without */
    size_t n_options;
    pd_plan_point *points;
    size_t n_points;
    pd_plan_ac *ac;
    size_t n_ac;
    pd_plan_front *front;
    size_t n_front;
    pd_plan_fixed *fixed;
    size_t n_fixed;
} pd_plan_result;

/* Read the runs dirs[0..n) (one dataset: their problems and seeds are matched by id), measure
 * the compute-optimal choice against the best fixed option with 2-fold cross-validation and
 * adaptive consistency, and write the plan (predicted bins fitted on every problem) to
 * plan_path when it is not NULL. Free *res with pd_plan_result_free. */
int pd_plan_make(const char *const *dirs, size_t n_dirs, const pd_plan_opts *o, const char *plan_path,
                 pd_plan_result *res, pd_error *err);
void pd_plan_result_free(pd_plan_result *r);
/* Append the held-out compute-optimal frontier of a plan (r->front) to report rows: for each
 * way of binning b with bit b of bins_mask, one row per frontier point, model "plan",
 * strategy "optimal", selection the bins ("oracle", "oracle-abs", "prm probe", "agreement
 * probe", "first-step probe"), n 0 (not on the N axis), accuracy and FLOPs per problem of that point. */
int pd_report_rows_from_plan(const pd_plan_result *r, unsigned bins_mask, pd_report_row **rows, size_t *n,
                             size_t *cap, pd_error *err);
void pd_plan_print(const pd_plan_result *r, const pd_plan_opts *o, FILE *f);

/* Read a plan written by pd_plan_make (plan.json) for strategy auto (pd_search_cfg.plan).
 * Returns 0 or PD_EFORMAT naming the file and the field at fault. */
int pd_plan_load(const char *path, pd_auto_plan *p, pd_error *err);

/* The tallies of a run directory (config.json, results.jsonl, timing.jsonl; a torn last line
 * left out), without writing anything. */
int pd_eval_load(const char *dir, pd_eval_report *rep, pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
