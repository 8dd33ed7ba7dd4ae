/* bench_tokenizer.c — tokenizer speed: MB/s of text encoded (and decoded) with the shared
 * tokenizers.
 *
 *   build/bench/bench_tokenizer [TEXT_FILE ...]
 *
 * The text is the math data in ../shared/data (math500, gsm8k_test, aime24 JSONL: problems,
 * solutions with LaTeX, as raw lines) unless files are given. Each tokenizer encodes the
 * corpus line by line (prompt-sized calls) and as one text, and decodes the ids back; the
 * best of 3 runs is printed. Prints figures only; never fails on time. */
#include "ponder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOKENIZERS[] = {"llama-3.2-1b-instruct", "qwen2.5-0.5b-instruct"};

int main(int argc, char **argv) {
    const char *root = getenv("PONDER_SHARED");
    if (!root || !*root) root = "../shared";
    static const char *defaults[] = {"data/math500.jsonl", "data/gsm8k_test.jsonl", "data/aime24.jsonl"};
    pd_buf text = {0};
    pd_error err = {0};
    int nfiles = argc > 1 ? argc - 1 : 3;
    for (int i = 0; i < nfiles; i++) {
        char path[4096];
        if (argc > 1) snprintf(path, sizeof path, "%s", argv[i + 1]);
        else snprintf(path, sizeof path, "%s/%s", root, defaults[i]);
        char *data = NULL;
        size_t len = 0;
        if (pd_file_read(path, &data, &len, &err)) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 0;
        }
        pd_buf_append(&text, data, len);
        free(data);
    }
    printf("corpus: %.2f MB in %d file(s)\n", text.len / 1e6, nfiles);
    for (size_t k = 0; k < sizeof TOKENIZERS / sizeof *TOKENIZERS; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tokenizers/%s", root, TOKENIZERS[k]);
        double t0 = pd_now();
        pd_tokenizer *t = pd_tokenizer_load(dir, &err);
        double load_s = pd_now() - t0;
        if (!t) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            continue;
        }
        double best_lines = 1e30, best_whole = 1e30, best_dec = 1e30;
        size_t n_tokens = 0;
        for (int rep = 0; rep < 3; rep++) {
            /* line by line */
            t0 = pd_now();
            size_t ntok = 0;
            const char *p = text.data, *end = text.data + text.len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                int32_t *ids = NULL;
                size_t n = 0;
                if (pd_tokenizer_encode(t, p, len, 0, &ids, &n, &err) == 0) ntok += n;
                free(ids);
                p += len;
            }
            double dt = pd_now() - t0;
            if (dt < best_lines) best_lines = dt;
            /* whole text at once, then decode */
            int32_t *ids = NULL;
            size_t n = 0;
            t0 = pd_now();
            if (pd_tokenizer_encode(t, text.data, text.len, 0, &ids, &n, &err)) {
                fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
                break;
            }
            dt = pd_now() - t0;
            if (dt < best_whole) best_whole = dt;
            n_tokens = n;
            t0 = pd_now();
            char *back = NULL;
            pd_tokenizer_decode(t, ids, n, 0, &back, &err);
            dt = pd_now() - t0;
            if (dt < best_dec) best_dec = dt;
            free(back);
            free(ids);
            (void)ntok;
        }
        double mb = text.len / 1e6;
        printf("%-24s load %.2f s | encode by line %6.1f MB/s | whole text %6.1f MB/s, %.2f M tokens/s "
               "(%zu tokens, %.2f bytes/token) | decode %7.1f MB/s\n",
               TOKENIZERS[k], load_s, mb / best_lines, mb / best_whole, n_tokens / best_whole / 1e6, n_tokens,
               (double)text.len / (double)(n_tokens ? n_tokens : 1), mb / best_dec);
        pd_tokenizer_free(t);
    }
    pd_buf_free(&text);
    return 0;
}
