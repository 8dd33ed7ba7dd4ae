/* test_tokenizer.c — tokenizer.json BPE against reference ids.
 *
 * - llama.cpp's tokenizer vectors (../shared/tokvec, ids made by HF tokenizers) for the
 *   Llama 3, Qwen2 and DeepSeek-R1-Distill tokenizers in ../shared/tokenizers;
 * - decoding: every tokvec text survives encode -> decode, and incremental decoding one
 *   id at a time (pd_detok) gives the same text as pd_tokenizer_decode;
 * - tests/fixtures/tokenizer/NAME.json (tools/make_tokenizer_fixture.py, HF tokenizers):
 *   ids with and without special tokens, decodes, random id sequences; flags.json does the
 *   same for a small trained BPE whose added tokens use lstrip/rstrip/single_word/normalized;
 * - special tokens, BOS from the post-processor, accessors, invalid UTF-8 input. */
#include "ponder.h"
#include "test.h"
#include "tok_shared.h"

#include <jansson.h>
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
    tokvec_free(&v);
}

static void t_tokvec_llama3(void) { check_tokvec("llama-bpe", "llama-3.2-1b-instruct"); }
static void t_tokvec_qwen2(void) { check_tokvec("qwen2", "qwen2.5-0.5b-instruct"); }
static void t_tokvec_r1(void) { check_tokvec("deepseek-r1-qwen", "deepseek-r1-distill-qwen-1.5b"); }

/* Is p[0..n) valid UTF-8 (whole characters only)? */
static int valid_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

/* Does buffer b hold exactly the JSON string want (NULs included)? */
static int same_text(const pd_buf *b, json_t *want) {
    size_t n = json_string_length(want);
    return json_is_string(want) && b->len == n && (n == 0 || memcmp(b->data, json_string_value(want), n) == 0);
}

/* Reads a JSON array of ints into ids (malloc'd); returns the count. */
static size_t json_ids(json_t *a, int32_t **ids) {
    size_t n = json_array_size(a);
    *ids = malloc((n + 1) * sizeof **ids);
    for (size_t i = 0; i < n; i++) (*ids)[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return n;
}

/* Same ids? Prints the first difference. */
static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb, const char *what, size_t idx) {
    if (na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0)) return 1;
    size_t k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    printf("  %s %zu: %zu vs %zu ids, first difference at %zu (%d vs %d)\n", what, idx, na, nb, k,
           k < na ? a[k] : -1, k < nb ? b[k] : -1);
    return 0;
}

/* Checks tests/fixtures/tokenizer/NAME.json: encode (both modes), decode, random decodes. */
static void check_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/tokenizer/%s.json", name);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
    CHECK_MSG(root != NULL, "%s: %s", path, je.text);
    if (!root) return;
    pd_tokenizer *own = NULL, *t;
    const char *file = json_string_value(json_object_get(root, "tokenizer_file"));
    pd_error lerr = {0};
    if (file) { /* a tokenizer committed with the fixture */
        t = own = pd_tokenizer_load(file, &lerr);
        CHECK_MSG(t != NULL, "%s", lerr.msg);
        if (!t) { json_decref(root); return; }
    } else {
        t = load_shared(json_string_value(json_object_get(root, "tokenizer")) + strlen("tokenizers/"));
        if (!t) { json_decref(root); SKIP("shared tokenizer for %s absent", name); }
    }
    json_t *enc = json_object_get(root, "encode"), *dec = json_object_get(root, "decode");
    CHECK(json_array_size(enc) >= 40);
    size_t bad = 0, total = 0;
    for (size_t i = 0; i < json_array_size(enc); i++) {
        json_t *e = json_array_get(enc, i);
        json_t *jt = json_object_get(e, "text");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        for (int special = 0; special < 2; special++) {
            int32_t *want, *got = NULL;
            size_t nw = json_ids(json_object_get(e, special ? "ids_special" : "ids"), &want), ng = 0;
            pd_error err = {0};
            CHECK_MSG(pd_tokenizer_encode(t, text, len, special, &got, &ng, &err) == 0, "%s", err.msg);
            total++;
            if (!same_ids(want, nw, got, ng, special ? "encode+special" : "encode", i)) {
                bad++;
                printf("    text: \"%.80s\"\n", text);
            }
            if (!special) {
                for (int skip = 0; skip < 2; skip++) {
                    pd_buf back = {0};
                    CHECK(pd_tokenizer_decode_buf(t, got, ng, skip, &back, &err) == 0);
                    CHECK_MSG(same_text(&back, json_object_get(e, skip ? "decoded_skip" : "decoded")),
                              "decode of text %zu", i);
                    pd_buf_free(&back);
                }
            }
            free(want);
            free(got);
        }
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu encodings differ", name, bad, total);
    CHECK(json_array_size(dec) >= 20);
    for (size_t i = 0; i < json_array_size(dec); i++) {
        json_t *e = json_array_get(dec, i);
        int32_t *ids;
        size_t n = json_ids(json_object_get(e, "ids"), &ids);
        for (int skip = 0; skip < 2; skip++) {
            pd_buf text = {0};
            pd_error err = {0};
            CHECK(pd_tokenizer_decode_buf(t, ids, n, skip, &text, &err) == 0);
            json_t *want = json_object_get(e, skip ? "text_skip" : "text");
            CHECK_MSG(same_text(&text, want), "decode %zu (skip %d)", i, skip);
            /* incremental decoding, one id at a time, gives the same text */
            pd_detok d;
            pd_detok_init(&d, t, skip);
            pd_buf inc = {0};
            for (size_t k = 0; k < n; k++) {
                size_t before = inc.len;
                CHECK(pd_detok_push(&d, ids[k], &inc) == 0);
                /* what was emitted so far is always whole UTF-8 characters */
                CHECK(inc.len >= before && valid_utf8((const unsigned char *)inc.data, inc.len));
            }
            CHECK(pd_detok_flush(&d, &inc) == 0);
            CHECK_MSG(same_text(&inc, want), "incremental decode %zu (skip %d)", i, skip);
            pd_buf_free(&inc);
            pd_buf_free(&text);
        }
        free(ids);
    }
    pd_tokenizer_free(own);
    json_decref(root);
}

static void t_fixture_llama3(void) { check_fixture("llama3"); }
static void t_fixture_qwen2(void) { check_fixture("qwen2"); }
static void t_fixture_r1(void) { check_fixture("r1"); }
/* added tokens with lstrip / rstrip / single_word / normalized, on a small trained BPE */
static void t_fixture_flags(void) { check_fixture("flags"); }

/* BOS / EOS / vocabulary size / special flags of the three shared tokenizers, as their
 * tokenizer.json and tokenizer_config.json declare them. */
static void t_accessors(void) {
    struct { const char *dir; int32_t bos, eos; size_t vocab; const char *special; pd_chat_family fam; } c[3] = {
        {"llama-3.2-1b-instruct", 128000, 128009, 128256, "<|eot_id|>", PD_CHAT_LLAMA3},
        {"qwen2.5-0.5b-instruct", -1, 151645, 151665, "<|im_start|>", PD_CHAT_CHATML},
        {"deepseek-r1-distill-qwen-1.5b", 151646, 151643, 151665, "<｜end▁of▁sentence｜>", PD_CHAT_DEEPSEEK_R1},
    };
    for (int i = 0; i < 3; i++) {
        pd_tokenizer *t = load_shared(c[i].dir);
        if (!t) SKIP("shared tokenizers absent");
        CHECK_EQ_INT(pd_tokenizer_bos_id(t), c[i].bos);
        CHECK_EQ_INT(pd_tokenizer_eos_id(t), c[i].eos);
        CHECK_EQ_INT(pd_tokenizer_vocab_size(t), c[i].vocab);
        CHECK_EQ_INT(pd_tokenizer_chat_family(t), c[i].fam);
        int32_t id = pd_tokenizer_token_id(t, c[i].special);
        CHECK(id >= 0 && pd_tokenizer_is_special(t, id));
        CHECK_STR(pd_tokenizer_token_str(t, id), c[i].special);
        /* the vocabulary form of a byte-level token and its raw bytes */
        int32_t sp = pd_tokenizer_token_id(t, "\xc4\xa0the"); /* "Ġthe" */
        const char *b = NULL;
        size_t n = 0;
        CHECK(sp >= 0 && pd_tokenizer_token_bytes(t, sp, &b, &n) == 0 && n == 4 && memcmp(b, " the", 4) == 0);
        CHECK(!pd_tokenizer_is_special(t, sp));
    }
}

int main(void) {
    RUN(t_tokvec_llama3);
    RUN(t_tokvec_qwen2);
    RUN(t_tokvec_r1);
    RUN(t_fixture_llama3);
    RUN(t_fixture_qwen2);
    RUN(t_fixture_r1);
    RUN(t_fixture_flags);
    RUN(t_accessors);
    free_loaded();
    return test_done();
}
