/* cli_recipe.c — `--config recipe.yaml` for eval and solve: the recipe's options (checked by
 * pd_recipe_load, which names FILE:LINE: KEY for a bad one) go in front of the command's own
 * arguments, so that a flag on the command line overrides the file. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_recipe_argv(const char *cmd, int argc, char **argv, int eval_keys, pd_recipe *rec, int *out_argc,
                    char ***out_argv) {
    memset(rec, 0, sizeof *rec);
    *out_argc = argc;
    *out_argv = NULL;
    const char *path = NULL;
    int at = -1, width = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
            if (path) return cli_fail(cmd, "--config is given twice");
            width = argv[i][8] == '=' ? 1 : 2;
            if (width == 2 && i + 1 >= argc) return cli_fail(cmd, "--config needs a recipe file (YAML)");
            path = width == 1 ? argv[i] + 9 : argv[i + 1];
            at = i;
        }
    }
    if (!path) return 0;
    pd_error err = {0};
    if (pd_recipe_load(path, rec, &err)) return cli_fail_err(cmd, &err);
    for (size_t k = 0; k < rec->n; k++)
        if (rec->opts[k].eval_only && !eval_keys) {
            int rc = cli_fail(cmd, "%s:%d: %s: is for ponder eval (%s takes one problem)", path, rec->opts[k].line,
                              rec->opts[k].key, cmd);
            pd_recipe_free(rec);
            return rc;
        }
    /* the new argv, then the "--name" strings, in one block */
    size_t ptrs = ((size_t)argc + 2 * rec->n + 1) * sizeof(char *);
    char **v = calloc(1, ptrs + rec->n * 36);
    if (!v) {
        pd_recipe_free(rec);
        return cli_fail(cmd, "out of memory");
    }
    int n = 0;
    v[n++] = argv[0];
    for (size_t k = 0; k < rec->n; k++) {
        char *nm = (char *)v + ptrs + k * 36;
        snprintf(nm, 36, "--%s", rec->opts[k].name);
        v[n++] = nm;
        v[n++] = rec->opts[k].value;
    }
    for (int i = 1; i < argc; i++) {
        if (i == at) {
            i += width - 1;
            continue;
        }
        v[n++] = argv[i];
    }
    *out_argc = n;
    *out_argv = v;
    return 0;
}
