/* eval_int.h — what eval.c (the runner), run.c (run directories) and the commands built on
 * them share inside src/eval/: result keys, tallying a results line, config.json and
 * summary.json, line-by-line reading of JSONL files that drops a torn last line. */
#ifndef PONDER_EVAL_INT_H
#define PONDER_EVAL_INT_H

#include "ponder/eval.h"

#include <jansson.h>

/* ---- generated problems (arith.c, sums.c) ---- */
/* Writes one problem of `level` drawn from r: its text, step-by-step solution and answer. */
typedef void (*pd_problem_writer)(pd_rng *r, int level, pd_buf *problem, pd_buf *solution, pd_buf *answer);
/* The generators' shared loop: n problems with levels spread evenly over [level_lo, level_hi]
 * (in 1-5), problem k drawn from its own rng (seed, salt, k), ids "<name>/<seed>/<k>". */
int pd_generate_problems(pd_dataset *ds, const char *name, uint64_t salt, size_t n, int level_lo,
                         int level_hi, uint64_t seed, pd_problem_writer write, pd_error *err);

/* ---- a string -> index map (open addressing; keys copied) ---- */
typedef struct pd_keymap {
    char **keys;
    size_t *vals;
    size_t cap, n;
} pd_keymap;

/* Insert key -> val. Returns 0 when new, 1 when the key was there (its value in *old, left
 * unchanged), PD_ENOMEM. */
int pd_keymap_put(pd_keymap *m, const char *key, size_t val, size_t *old);
/* 1 and *val when the key is there, else 0. */
int pd_keymap_get(const pd_keymap *m, const char *key, size_t *val);
void pd_keymap_free(pd_keymap *m);

/* The key of one search, "<seed> <strategy> <n> <id>" (the id last: it may hold spaces). */
int pd_eval_job_key(pd_buf *b, uint64_t seed, const char *strategy, int32_t n, const char *id);
/* The same read from a results or timing line; -1 when a field is missing. */
int pd_eval_line_key(const json_t *line, pd_buf *b);

/* A JSON string of s (null for NULL); when s is not valid UTF-8 (a backend's text cut
 * mid-character, a path in another encoding) its non-ASCII bytes become '?', so that no field
 * is silently dropped. */
json_t *pd_eval_jstr(const char *s);

/* The "plan" object of a strategy-auto search (results.jsonl lines, serve's "ponder" trace):
 * the probe's statistic and bin, and the choice that ran: strategy, selection, n, and
 * beam_width only for the strategies that have one (beam search and DVTS). plan.c; used by
 * eval.c and src/serve/engine.c. */
json_t *pd_plan_trace_json(double stat, int bin, const pd_plan_choice *ch);

/* ---- JSONL files of a run ---- */

/* Call fn(ud, line, lineno) for every whole line of path (a missing file has none). A last
 * line without its newline is torn: it is left out and its size returned in *torn; with
 * cut_torn it is also cut off the file. fn returns 0 to go on or an error code (then err is
 * filled by fn). */
typedef int (*pd_jsonl_fn)(void *ud, json_t *line, size_t lineno, pd_error *err);
int pd_eval_read_jsonl(const char *path, int cut_torn, pd_jsonl_fn fn, void *ud, size_t *torn, pd_error *err);

/* Write j to path through a temporary file and a rename (never half a file). */
int pd_eval_write_json(const char *path, json_t *j, size_t flags, pd_error *err);
/* Join a directory and a file name (malloc'd, or NULL). */
char *pd_eval_join(const char *dir, const char *name);
/* 1 when path is a directory holding anything, 0 when empty or missing, -1 when not a
 * directory. */
int pd_eval_dir_nonempty(const char *path);

/* ---- configuration, tallies, summary ---- */

/* config.json for a run of o over the first n_used problems of ds. */
json_t *pd_eval_config_json(const pd_eval_opts *o, const pd_dataset *ds, size_t n_used);
/* Compare a stored configuration with another; writes "key: A in DIR, B now; ..." for each
 * difference (skipping the keys in `skip`, NULL-terminated) and returns how many. */
int pd_eval_config_diff(const json_t *saved, const json_t *now, const char *const *skip, pd_buf *diff);
/* The number of problems of shard (index, count) of n. */
size_t pd_eval_shard_size(size_t n, int index, int count);

/* Set up rep from a configuration: one cell per strategy x N, the seeds, the backends and
 * this shard's problem count; n_jobs. */
int pd_eval_report_init(pd_eval_report *rep, const json_t *config, pd_error *err);
/* Tally one results line. Returns the cell's index, or -1 with *why set (not one of the
 * run's cells or seeds, a field missing). */
int pd_eval_tally(pd_eval_report *rep, const json_t *line, const char **why);
/* The summary of rep under config; stats and seconds of this session when with_session. */
json_t *pd_eval_summary_json(const pd_eval_report *rep, const json_t *config, int with_session);

#endif
