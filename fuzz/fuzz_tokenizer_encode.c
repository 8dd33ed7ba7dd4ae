/* fuzz_tokenizer_encode.c — libFuzzer target: encode / decode arbitrary bytes with a real
 * tokenizer (Llama 3.2's from ../shared, which has no normaliser; PONDER_SHARED overrides).
 *
 * Checks, beyond "no crash": invalid UTF-8 is refused with PD_EINVAL; valid text decodes
 * back to exactly the text (no normaliser, and every byte has a token); the input bytes
 * taken as ids decode in one go and one id at a time to the same text. */
#include "ponder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pd_tokenizer *g_tok; /* loaded once, read-only afterwards */

static pd_tokenizer *tokenizer(void) {
    if (g_tok) return g_tok;
    const char *root = getenv("PONDER_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/llama-3.2-1b-instruct", root && *root ? root : "../shared");
    pd_error err = {0};
    g_tok = pd_tokenizer_load(path, &err);
    if (!g_tok) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", err.msg);
        abort();
    }
    return g_tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_tokenizer *t = tokenizer();
    pd_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = pd_tokenizer_encode(t, (const char *)data, size, size % 2, &ids, &n, &err);
    if (rc == 0) {
        pd_buf back = {0};
        size_t skip = size % 2; /* the BOS that add_special put first */
        if (skip && (n == 0 || ids[0] != pd_tokenizer_bos_id(t))) abort();
        if (pd_tokenizer_decode_buf(t, ids + skip, n - skip, 0, &back, &err) != 0) abort();
        /* Llama 3 has no normaliser: decode(encode(x)) == x exactly */
        if (back.len != size || (size && memcmp(back.data, data, size) != 0)) abort();
        pd_buf_free(&back);
        free(ids);
    } else if (rc != PD_EINVAL) {
        abort();
    }
    /* the bytes as little-endian 16-bit ids: batch and incremental decoding agree */
    size_t m = size / 2;
    int32_t *arb = malloc((m + 1) * sizeof *arb);
    for (size_t i = 0; i < m; i++) arb[i] = (int32_t)(data[2 * i] | (data[2 * i + 1] << 8)) * 2;
    pd_buf a = {0}, b = {0};
    if (pd_tokenizer_decode_buf(t, arb, m, 0, &a, &err) != 0) abort();
    pd_detok d;
    pd_detok_init(&d, t, 0);
    for (size_t i = 0; i < m; i++)
        if (pd_detok_push(&d, arb[i], &b) != 0) abort();
    if (pd_detok_flush(&d, &b) != 0) abort();
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) abort();
    pd_buf_free(&a);
    pd_buf_free(&b);
    free(arb);
    return 0;
}
