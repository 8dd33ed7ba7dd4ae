/* ponder/dataset.h — problems with reference answers (src/eval/dataset.c, arith.c).
 *
 * Reads the JSONL layouts of MATH-500 (problem, answer, level, unique_id, solution),
 * AIME 2024 (id, problem, answer) and GSM8K (question, answer with the final value after
 * "####"). A malformed line is recorded with its line number and skipped, and so is a line
 * whose id repeats an earlier one's; a UTF-8 byte-order mark at the start is ignored. */
#ifndef PONDER_DATASET_H
#define PONDER_DATASET_H

#include <stdio.h>
#include "ponder/base.h"

struct pd_hub_pull_opts; /* ponder/hub.h */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_problem {
    char *id;       /* unique_id / id, or "line-N" when absent */
    char *problem;  /* the question text */
    char *answer;   /* the reference answer (GSM8K: the value after ####) */
    char *solution; /* reference solution text, or NULL */
    int level;      /* difficulty 1..5; 0 when the dataset has none */
} pd_problem;

typedef struct pd_dataset {
    pd_problem *items;
    size_t n, cap;
    size_t n_skipped;   /* malformed lines skipped */
    char **skipped_msgs; /* one message per skipped line ("FILE:LINE: reason") */
    size_t skipped_cap;
    char **subjects;     /* MATH's "subject" of item i ("Algebra", ...), or NULL; the array is
                          * NULL or has subjects_cap >= n entries (pd_dataset_subject reads it) */
    size_t subjects_cap;
} pd_dataset;

/* The subject of problem i, or NULL. */
static inline const char *pd_dataset_subject(const pd_dataset *ds, size_t i) {
    return ds->subjects && i < ds->subjects_cap ? ds->subjects[i] : NULL;
}
/* Set the subject of problem i (copied). Returns 0 or PD_ENOMEM. */
int pd_dataset_set_subject(pd_dataset *ds, size_t i, const char *subject);

/* The JSONL file a --dataset spec names: an existing file as it is; a Hugging Face dataset id
 * ORG/NAME[@REVISION] as the split's JSONL file in the Hugging Face cache (datasets--ORG--NAME;
 * split NULL: "test"; the split's .jsonl file, else its .json file). PD_ENOTFOUND (not cached:
 * the message says how to fetch it), PD_EFORMAT (the split is parquet, or in several shards: the
 * message says how to convert or join it). src/eval/hf_dataset.c */
int pd_dataset_resolve(const char *spec, const char *split, char *path, size_t size, pd_error *err);
/* The same, downloading a dataset id's split first when the cache does not hold it
 * (pd_hub_pull with dataset = 1 and the split: only that split's JSONL/JSON files; pull:
 * endpoint, token, retries, progress, or NULL for the defaults; its dataset, split and
 * revision are set from the arguments). A split already in the cache never touches the
 * network; neither does anything when HF_HUB_OFFLINE is set. src/eval/hf_dataset.c */
int pd_dataset_fetch(const char *spec, const char *split, const struct pd_hub_pull_opts *pull, char *path,
                     size_t size, pd_error *err);
/* Keep only problems [start, end) (end 0 or past the last: to the end); PD_EINVAL when that
 * leaves none. (search-and-learn's dataset_start / dataset_end.) */
int pd_dataset_slice(pd_dataset *ds, size_t start, size_t end, pd_error *err);
/* Load a JSONL dataset (or a JSON array of the same records: the first thing in the file is
 * '['). Fails only when the file cannot be read or the array does not parse; bad lines and
 * records are skipped and listed in ds->skipped_msgs. */
int pd_dataset_load(const char *path, pd_dataset *ds, pd_error *err);
/* Add one problem (strings are copied; solution may be NULL). */
int pd_dataset_add(pd_dataset *ds, const char *id, const char *problem, const char *answer,
                   const char *solution, int level);
/* The same from an open stream; `path` names it in messages. */
int pd_dataset_read(FILE *f, const char *path, pd_dataset *ds, pd_error *err);
void pd_dataset_free(pd_dataset *ds);
/* Write MATH-500 layout JSONL. */
int pd_dataset_write_jsonl(const pd_dataset *ds, FILE *out, pd_error *err);

/* Generate n arithmetic problems with levels spread over [level_lo, level_hi]:
 * MATH-like records whose solution reduces one operation per step (steps separated by a
 * blank line) and ends in \boxed{answer}. Deterministic for a seed. */
int pd_arith_generate(pd_dataset *ds, size_t n, int level_lo, int level_hi, uint64_t seed,
                      pd_error *err);

/* Generate n target-sum problems ("Three of the numbers ... add up to 76. What is the smallest
 * of the three?", exactly one choice works) with levels spread over [level_lo, level_hi]; the
 * solution takes the chosen numbers largest first, one subtraction per step, and ends in
 * \boxed{answer}. A search task: each step is easy to check, hard to produce. Deterministic
 * for a seed. */
int pd_sums_generate(pd_dataset *ds, size_t n, int level_lo, int level_hi, uint64_t seed,
                     pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
