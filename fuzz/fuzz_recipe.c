/* fuzz_recipe.c — libFuzzer target for YAML recipes (src/eval/recipe.c, libyaml).
 *
 * When a recipe is accepted, every option it yields must be one of the commands' option
 * names with a NUL-terminated value, and a line inside the input. */
#include <stdlib.h>
#include <string.h>

#include "ponder/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_recipe r;
    pd_error err = {0};
    if (pd_recipe_parse("fuzz/recipe.yaml", (const char *)data, size, &r, &err)) {
        if (!err.msg[0]) abort(); /* every refusal says why */
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n' || data[i] == '\r';
    for (size_t i = 0; i < r.n; i++) {
        const pd_recipe_opt *o = &r.opts[i];
        if (!o->name[0] || !o->value || o->line < 1 || (size_t)o->line > lines) abort();
        if (strlen(o->value) > size) abort();
    }
    pd_recipe_free(&r);
    return 0;
}
