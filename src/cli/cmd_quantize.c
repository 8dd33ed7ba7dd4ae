/* cmd_quantize.c — `ponder quantize IN OUT --type TYPE`: a Hugging Face model directory as a
 * GGUF file (pd_model_quantize, src/model/gguf_convert.c), without Python. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder quantize IN OUT --type TYPE [--threads N] [--quiet]\n\n"
            "Write the model directory IN (Hugging Face layout: LlamaForCausalLM, MistralForCausalLM or\n"
            "Qwen2ForCausalLM, bf16/f16/f32 safetensors, a byte-level BPE or SentencePiece-style\n"
            "tokenizer.json) as the GGUF file OUT, as\n"
            "llama.cpp's converter and llama-quantize would: ponder, llama.cpp and the gguf package read it.\n"
            "IN may also be a hub repo id in the Hugging Face cache. OUT appears only when complete.\n\n"
            "  --type TYPE   %s\n"
            "                (the K-quant mixes choose per tensor as llama-quantize does; vectors stay F32)\n"
            "  --threads N   quantizing threads (default: one per CPU; the file is the same)\n"
            "  --quiet       no progress on stderr\n",
            pd_quantize_type_names());
}

/* Progress on a terminal: the tensor being written, redrawn in place. */
static void progress(void *user, size_t done, size_t total, const char *tensor) {
    (void)user;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s", done, total, tensor);
    if (done == total) fputc('\n', stderr);
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *type = NULL;
    int n_pos = 0, quiet = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            char name[32];
            const char *v;
            if (cli_opt_value("quantize", argc, argv, &i, name, sizeof name, &v)) return 1;
            if (!strcmp(name, "type")) type = v;
            else if (!strcmp(name, "threads")) {
                if (cli_parse_long(v, &threads) || threads < 1 || threads > 64) return cli_fail("quantize", "bad --threads '%s'", v);
            } else return cli_fail("quantize", "unknown option '--%s' (see --help)", name);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("quantize", "unexpected argument '%s' (usage: ponder quantize IN OUT --type TYPE)", a);
        }
    }
    if (n_pos < 2) return cli_fail("quantize", "IN and OUT are required (usage: ponder quantize IN OUT --type TYPE)");
    if (!type) return cli_fail("quantize", "--type is required (one of: %s)", pd_quantize_type_names());
    pd_error err = {0};
    char dir[4096];
    if (pd_hub_resolve(pos[0], dir, sizeof dir, &err)) return cli_fail_err("quantize", &err);
    pd_quantize_opts o = {.type = type, .n_threads = (int)threads, .name = pos[0], .progress = !quiet && isatty(2) ? progress : NULL};
    pd_quantize_result r;
    if (pd_model_quantize(dir, pos[1], &o, &r, &err)) return cli_fail_err("quantize", &err);
    printf("%s: %s, %zu tensors (%s), %.1f MiB, %zu parameters\n", pos[1], type, r.n_tensors, r.types,
           (double)r.file_bytes / (1024.0 * 1024.0), r.n_params);
    return 0;
}
