/* llama_tokenize.c — llama.cpp's token ids for texts, to compare a GGUF file's tokenizer as
 * llama.cpp reads it with Hugging Face's ids or ponder's. Not part of ponder; built by hand
 * against build/llama.cpp's libllama (docs/MODELS.md, `ponder quantize`, has the commands):
 *
 *   cc -O2 -o build/llama_tokenize tools/llama_tokenize.c -Ibuild/llama.cpp/src/include \
 *      -Ibuild/llama.cpp/src/ggml/include -Lbuild/llama.cpp/build/bin -lllama \
 *      -Wl,-rpath,build/llama.cpp/build/bin
 *   build/llama_tokenize MODEL.gguf [--special] < TEXTS
 *
 * TEXTS: texts separated by "\n__ggml_vocab_test__\n" (llama.cpp's vocabulary test files,
 * ../shared/tokvec/NAME.inp). Prints one line of space-separated ids per text (the format of the
 * .out files); --special adds BOS/EOS as the file says. Special tokens in the text are
 * matched (parse_special), as Hugging Face matches added tokens. Only the vocabulary is
 * loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* All of stdin, NUL-terminated (malloc'd), its length in *n. */
static char *read_all(size_t *n) {
    size_t cap = 1 << 16;
    char *s = malloc(cap);
    *n = 0;
    for (size_t r; s && (r = fread(s + *n, 1, cap - *n - 1, stdin)) > 0;) {
        *n += r;
        if (cap - *n < 2) s = realloc(s, cap *= 2);
    }
    if (s) s[*n] = 0;
    return s;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: llama_tokenize MODEL.gguf [--special] < TEXTS\n");
        return 2;
    }
    int special = argc > 2 && !strcmp(argv[2], "--special");
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llama_tokenize: %s: llama.cpp could not load it\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    size_t len;
    char *all = read_all(&len);
    if (!all) return 1;
    const char *sep = "\n__ggml_vocab_test__\n";
    for (char *p = all, *end; p < all + len; p = end + strlen(sep)) {
        if (!(end = strstr(p, sep))) end = all + len;
        int n = (int)(end - p);
        llama_token *ids = malloc(((size_t)n + 8) * sizeof *ids);
        int k = llama_tokenize(vocab, p, n, ids, n + 8, special, true);
        if (k < 0) {
            fprintf(stderr, "llama_tokenize: a text gave more tokens than bytes\n");
            return 1;
        }
        for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        free(ids);
        if (end == all + len) break;
    }
    free(all);
    llama_model_free(model);
    return 0;
}
