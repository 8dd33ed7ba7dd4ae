/* ponder/recipe.h — YAML recipes for `ponder eval` and `ponder solve` (`--config FILE`;
 * src/eval/recipe.c, read by libyaml; docs/EVAL.md).
 *
 * A recipe is a YAML mapping whose keys are search-and-learn's recipe keys (approach, n,
 * beam_width, num_iterations, lookahead, temperature, top_p, max_tokens, agg_strategy, seed,
 * system_prompt, model_path, prm_path, dataset_name, dataset_split, dataset_start,
 * dataset_end, filter_duplicates, sort_completed, output_dir) or ponder's own option names
 * (strategy, n, seeds, policy, prm, dataset, out, beam-width or beam_width, ...). Each becomes
 * the command-line option it stands for; options given on the command line override them.
 * Values are checked here (type, range, known names), so a bad one is reported as
 * FILE:LINE: KEY: why. */
#ifndef PONDER_RECIPE_H
#define PONDER_RECIPE_H

#include <stddef.h>
#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_recipe_opt {
    char name[32];   /* the command-line option without "--" ("beam-width") */
    char *value;     /* its value as the command line would give it ("4", "best_of_n,dvts") */
    char key[48];    /* the key as written in the file */
    int line;        /* 1-based line of the key */
    int eval_only;   /* meaningful for eval only (dataset, output) */
} pd_recipe_opt;

typedef struct pd_recipe {
    pd_recipe_opt *opts;
    size_t n;
    char *path;
} pd_recipe;

/* Read and check the recipe at path. Returns 0, PD_EIO (unreadable) or PD_EFORMAT with
 * "PATH:LINE: KEY: why" (bad YAML, not a mapping, an unknown or repeated key, a bad value). */
int pd_recipe_load(const char *path, pd_recipe *r, pd_error *err);
/* The same from a buffer; `path` names it in messages. */
int pd_recipe_parse(const char *path, const char *data, size_t len, pd_recipe *r, pd_error *err);
void pd_recipe_free(pd_recipe *r);
/* The recipe's keys, one line per key with its option (for --help). */
const char *pd_recipe_help(void);

#ifdef __cplusplus
}
#endif
#endif
