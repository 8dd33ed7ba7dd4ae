/* cli.h — shared helpers of the command-line tool (uses only the public API). */
#ifndef PONDER_CLI_H
#define PONDER_CLI_H

#include "ponder.h"

#include <jansson.h>
#include <stdio.h>

/* Each command: argv[0] is the command name. Returns the process exit status. */
int cmd_demo(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_summarize(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_solve(int argc, char **argv);
int cmd_grade(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Print "ponder <cmd>: <message>" to stderr; returns 1 (the exit status for errors). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, from a pd_error. */
int cli_fail_err(const char *cmd, const pd_error *err);
/* Read the option at argv[*i] as "--name VALUE" or "--name=VALUE": writes the name without
 * dashes into name and points *val at the value (advancing *i past a separate value).
 * Returns 0, or prints a one-line reason and returns 1 (not an option, no value). */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i, char *name, size_t name_size,
                  const char **val);
/* Apply a backend option (pd_backend_opts_set: sim-*, system prompt, step delimiter, PRM
 * kind...; bo may be NULL) or a search option (pd_search_cfg_set). Returns 0, or prints the
 * reason and returns 1. */
int cli_set_search_opt(const char *cmd, const char *name, const char *val, pd_search_cfg *cfg,
                       pd_backend_opts *bo);
/* The engine's kernels and precision for every model the command loads: option a (with value
 * v) is "--kernels" (portable, avx2, avx512, avx512bf16, auto) or "--precision" (exact, bf16);
 * checked, then set as PONDER_KERNELS / PONDER_PRECISION (model.h). Returns -1 when a is
 * neither, 0 when set, 1 after printing why v is bad. */
int cli_engine_flag(const char *cmd, const char *a, const char *v);
/* The help lines of those two options, their descriptions starting at column col. */
const char *cli_engine_flags_help(int col);
/* Parse a whole non-negative integer / a double; 0 on success, -1 on junk. */
int cli_parse_long(const char *s, long *out);
int cli_parse_double(const char *s, double *out);
/* Parse token ids separated by spaces, commas, tabs or newlines ("1 2 3", "1,2,3") into a
 * malloc'd array (*ids, *n). Returns 0, or -1 on junk (then *bad points at it) or when out
 * of memory (*bad NULL). */
int cli_parse_ids(const char *s, int32_t **ids, size_t *n, const char **bad);
/* Parse a comma list of integers ("1,4,16"); returns the count, or -1 on junk. */
int cli_parse_int_list(const char *s, int *out, int max);

/* `--config FILE` (a YAML recipe, ponder/recipe.h): when argv holds it, *out_argv (free it)
 * is argv[0], the recipe's options, then argv's other arguments (the command line wins);
 * keys for eval only are refused unless eval_keys. *rec keeps the strings (pd_recipe_free).
 * Returns 0 (*out_argv NULL without --config) or 1 after printing why. */
int cli_recipe_argv(const char *cmd, int argc, char **argv, int eval_keys, pd_recipe *rec, int *out_argc,
                    char ***out_argv);

/* Point o's progress callback at `ponder pull`'s display on stderr (cmd_pull.c): a line
 * redrawn in place on a terminal, one line per finished file otherwise. */
void cli_pull_progress(pd_hub_pull_opts *o);

/* Reading JSONL one object per line, as grade and score do. */
typedef struct cli_jsonl {
    char *line;
    size_t cap;
    long lineno;
} cli_jsonl;
/* Read the next line of f: returns 0 at the end of input, else 1 with *j the parsed line,
 * or *j NULL and msg ("line N: empty" / "line N: not JSON: ...") when it is not JSON. */
int cli_jsonl_next(cli_jsonl *r, FILE *f, json_t **j, char *msg, size_t msg_size);
void cli_jsonl_free(cli_jsonl *r);

#endif
