/* test_tokenizer.c — tokenizer.json BPE against reference ids.
 *
 * - llama.cpp's tokenizer vectors (../shared/tokvec, ids made by HF tokenizers) for the
 *   Llama 3, Qwen2 and DeepSeek-R1-Distill tokenizers in ../shared/tokenizers;
 * - decoding: every tokvec text survives encode -> decode, and incremental decoding one
 *   id at a time (pd_detok) gives the same text as pd_tokenizer_decode;
 * - special tokens, BOS from the post-processor, accessors, invalid UTF-8 input. */
#include "ponder.h"
#include "test.h"

#include <stdint.h>

typedef struct tokvec {
    char *inp;           /* whole .inp file (texts are cut in place) */
    char *out;           /* whole .out file */
    const char *text[64];
    size_t text_len[64];
    char *ids_line[64];
    int n;
} tokvec;

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Loads ../shared/tokvec/ggml-vocab-NAME.gguf.{inp,out}; returns 0 when present. */
static int tokvec_load(const char *name, tokvec *v) {
    memset(v, 0, sizeof *v);
    char rel[256];
    pd_error err = {0};
    size_t len;
    snprintf(rel, sizeof rel, "tokvec/ggml-vocab-%s.gguf.inp", name);
    const char *p = shared_path(rel);
    if (!p || pd_file_read(p, &v->inp, &len, &err)) return -1;
    snprintf(rel, sizeof rel, "tokvec/ggml-vocab-%s.gguf.out", name);
    p = shared_path(rel);
    if (!p || pd_file_read(p, &v->out, NULL, &err)) return -1;
    char *s = v->inp, *end = v->inp + len;
    while (s < end && v->n < 64) {
        char *e = memmem(s, (size_t)(end - s), SEP, sizeof SEP - 1);
        if (!e) break;
        v->text[v->n] = s;
        v->text_len[v->n] = (size_t)(e - s);
        v->n++;
        s = e + sizeof SEP - 1;
    }
    int k = 0;
    for (char *line = v->out; line && *line && k < v->n; k++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        v->ids_line[k] = line;
        line = nl ? nl + 1 : NULL;
    }
    for (; k < v->n; k++) v->ids_line[k] = "";
    return 0;
}

static void tokvec_free(tokvec *v) {
    free(v->inp);
    free(v->out);
}

static pd_tokenizer *load_shared(const char *dir) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s", dir);
    const char *p = shared_path(rel);
    if (!p) return NULL;
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load(p, &err);
    if (!t) printf("load %s: %s\n", p, err.msg);
    return t;
}

/* Checks every tokvec text of `vec` with tokenizer `dir`: exact ids, and decode round trip. */
static void check_tokvec(const char *vec, const char *dir) {
    tokvec v;
    if (tokvec_load(vec, &v)) { tokvec_free(&v); SKIP("../shared/tokvec/%s absent", vec); }
    pd_tokenizer *t = load_shared(dir);
    if (!t) { tokvec_free(&v); SKIP("../shared/tokenizers/%s absent or unloadable", dir); }
    CHECK_EQ_INT(v.n, 46);
    int bad = 0;
    for (int i = 0; i < v.n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        pd_error err = {0};
        int rc = pd_tokenizer_encode(t, v.text[i], v.text_len[i], 0, &ids, &n, &err);
        CHECK_MSG(rc == 0, "text %d: %s", i, err.msg);
        pd_buf got = {0};
        for (size_t k = 0; k < n; k++) pd_buf_printf(&got, " %d", ids[k]);
        const char *want = v.ids_line[i];
        if (strcmp(got.data ? got.data : "", want) != 0) {
            bad++;
            printf("  %s text %d \"%.60s\":\n    want%s\n    got %s\n", vec, i, v.text[i], want, got.data ? got.data : "");
        }
        /* decode gives the text back; incremental decoding agrees */
        char *back = NULL;
        CHECK(pd_tokenizer_decode(t, ids, n, 0, &back, &err) == 0);
        CHECK_MSG(back && strlen(back) == v.text_len[i] && memcmp(back, v.text[i], v.text_len[i]) == 0,
                  "decode of text %d differs", i);
        pd_detok d;
        pd_detok_init(&d, t, 0);
        pd_buf inc = {0};
        for (size_t k = 0; k < n; k++) CHECK(pd_detok_push(&d, ids[k], &inc) == 0);
        CHECK(pd_detok_flush(&d, &inc) == 0);
        CHECK_MSG(back && strcmp(inc.data ? inc.data : "", back) == 0, "incremental decode of text %d differs", i);
        pd_buf_free(&inc);
        free(back);
        pd_buf_free(&got);
        free(ids);
    }
    CHECK_MSG(bad == 0, "%d of %d texts differ", bad, v.n);
    pd_tokenizer_free(t);
    tokvec_free(&v);
}

static void t_tokvec_llama3(void) { check_tokvec("llama-bpe", "llama-3.2-1b-instruct"); }
static void t_tokvec_qwen2(void) { check_tokvec("qwen2", "qwen2.5-0.5b-instruct"); }
static void t_tokvec_r1(void) { check_tokvec("deepseek-r1-qwen", "deepseek-r1-distill-qwen-1.5b"); }

int main(void) {
    RUN(t_tokvec_llama3);
    RUN(t_tokvec_qwen2);
    RUN(t_tokvec_r1);
    return test_done();
}
