/* tok_shared.h — the shared reference tokenizers (../shared/tokenizers/DIR), loaded once per
 * test binary and kept for the whole run (loading takes a while under ASan). Included by the
 * tokenizer and chat tests after test.h. */
#ifndef PONDER_TOK_SHARED_H
#define PONDER_TOK_SHARED_H

#include "ponder/tokenizer.h"

static struct { char dir[128]; pd_tokenizer *t; } loaded[8];

/* The tokenizer in ../shared/tokenizers/DIR (NULL when absent); owned by the cache. */
static pd_tokenizer *load_shared(const char *dir) {
    for (int i = 0; i < 8; i++)
        if (loaded[i].t && strcmp(loaded[i].dir, dir) == 0) return loaded[i].t;
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s", dir);
    const char *p = shared_path(rel);
    if (!p) return NULL;
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load(p, &err);
    if (!t) printf("load %s: %s\n", p, err.msg);
    for (int i = 0; t && i < 8; i++)
        if (!loaded[i].t) {
            snprintf(loaded[i].dir, sizeof loaded[i].dir, "%s", dir);
            loaded[i].t = t;
            break;
        }
    return t;
}

/* Free every cached tokenizer (at the end of main). */
static void free_loaded(void) {
    for (int i = 0; i < 8; i++) pd_tokenizer_free(loaded[i].t);
}

#endif
