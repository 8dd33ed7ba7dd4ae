/* llama_logits.c — llama.cpp's logits of the last position of a prompt given as token ids, one
 * number per line (the format of `ponder logits`), for tools/check_llama_logits.sh. Built by
 * that script against the llama.cpp it builds (build/llama.cpp); not part of ponder.
 *
 *   llama_logits MODEL.gguf "ID ID ID ..." [THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: llama_logits MODEL.gguf \"ID ID ...\" [THREADS]\n");
        return 2;
    }
    llama_token ids[4096];
    int n = 0;
    for (char *s = argv[2], *end; *s && n < 4096; s = end) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) break;
        long v = strtol(s, &end, 10);
        if (end == s) {
            fprintf(stderr, "llama_logits: bad token id at \"%s\"\n", s);
            return 2;
        }
        ids[n++] = (llama_token)v;
    }
    if (!n) {
        fprintf(stderr, "llama_logits: no token ids\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "llama_logits: %s: llama.cpp could not load it\n", argv[1]);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n + 16);
    cp.n_batch = cp.n_ubatch = (uint32_t)n;
    cp.n_threads = cp.n_threads_batch = argc > 3 ? atoi(argv[3]) : 1;
    /* fp32 keys and values, as ponder keeps them (llama.cpp's default is f16) */
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama_logits: %s: no context\n", argv[1]);
        return 1;
    }
    if (llama_decode(ctx, llama_batch_get_one(ids, n))) {
        fprintf(stderr, "llama_logits: %s: llama_decode failed\n", argv[1]);
        return 1;
    }
    const float *lg = llama_get_logits_ith(ctx, -1);
    int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (int i = 0; i < nv; i++) printf("%.9g\n", lg[i]);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
