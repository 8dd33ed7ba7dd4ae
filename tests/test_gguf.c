/* test_gguf.c — the GGUF reader (src/model/gguf.c): good files read back exactly, corrupt
 * ones are clear errors naming what and where, none crash (the sanitizer build runs this).
 *
 * Files are built here byte by byte (a tiny writer below), so each corruption is exact:
 * truncation at every length, counts past the end of the file, unknown value and tensor
 * types, misaligned and out-of-range tensor offsets, overlapping tensors, duplicate keys,
 * a bad general.alignment, version 1 and big-endian files. The shared real file
 * (../shared/models/gguf/llama-2-tiny-random.gguf) is read when present. */
#include "model/gguf.h"
#include "ponder.h"
#include "test.h"

/* ---- a tiny GGUF writer ---- */

static void put(pd_buf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) pd_buf_putc(b, (char)(v >> (8 * i)));
}
static void put_str(pd_buf *b, const char *s) {
    put(b, strlen(s), 8);
    pd_buf_append(b, s, strlen(s));
}
static void kv_u32(pd_buf *b, const char *k, uint32_t v) {
    put_str(b, k);
    put(b, PD_GGUF_U32, 4);
    put(b, v, 4);
}
static void kv_str(pd_buf *b, const char *k, const char *v) {
    put_str(b, k);
    put(b, PD_GGUF_STRING, 4);
    put_str(b, v);
}
static void kv_f32(pd_buf *b, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_str(b, k);
    put(b, PD_GGUF_F32, 4);
    put(b, u, 4);
}
static void tinfo(pd_buf *b, const char *name, int nd, const uint64_t *ne, int type, uint64_t off) {
    put_str(b, name);
    put(b, (uint64_t)nd, 4);
    for (int i = 0; i < nd; i++) put(b, ne[i], 8);
    put(b, (uint64_t)type, 4);
    put(b, off, 8);
}
static void pad(pd_buf *b, size_t a) {
    while (b->len % a) pd_buf_putc(b, 0);
}

/* Offsets inside the good image, for the corruptions. */
typedef struct layout {
    size_t n_tensors_at, n_kv_at, arr_count_at, str_type_at, tensor_type_at, tensor_off_at, data_at;
} layout;

/* A good file: 6 metadata entries (ints, a float, a string, string and f32 arrays, a nested
 * array) and 2 tensors (F32 (3, 2) and Q8_0 (64)), alignment 32. */
static pd_buf good(layout *L) {
    pd_buf b = {0};
    pd_buf_append(&b, "GGUF", 4);
    put(&b, 3, 4);
    L->n_tensors_at = b.len;
    put(&b, 2, 8);
    L->n_kv_at = b.len;
    put(&b, 7, 8);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "llama.block_count", 2);
    kv_f32(&b, "llama.rope.freq_base", 10000.0f);
    put_str(&b, "tokenizer.ggml.tokens");
    L->str_type_at = b.len;
    put(&b, PD_GGUF_ARRAY, 4);
    put(&b, PD_GGUF_STRING, 4);
    L->arr_count_at = b.len;
    put(&b, 3, 8);
    put_str(&b, "a");
    put_str(&b, "");
    put_str(&b, "\xe2\x96\x81x");
    put_str(&b, "tokenizer.ggml.scores");
    put(&b, PD_GGUF_ARRAY, 4);
    put(&b, PD_GGUF_F32, 4);
    put(&b, 2, 8);
    float sc[2] = {-1.5f, 2.0f};
    for (int i = 0; i < 2; i++) {
        uint32_t u;
        memcpy(&u, &sc[i], 4);
        put(&b, u, 4);
    }
    put_str(&b, "nested");
    put(&b, PD_GGUF_ARRAY, 4);
    put(&b, PD_GGUF_ARRAY, 4);
    put(&b, 2, 8);
    for (int i = 0; i < 2; i++) {
        put(&b, PD_GGUF_I16, 4);
        put(&b, 1, 8);
        put(&b, 0xfffe, 2); /* -2 */
    }
    put_str(&b, "flag");
    put(&b, PD_GGUF_BOOL, 4);
    put(&b, 1, 1);
    uint64_t ne_a[2] = {3, 2}, ne_b[1] = {64};
    tinfo(&b, "a.weight", 2, ne_a, PD_GGML_F32, 0);
    L->tensor_type_at = b.len - 12;
    tinfo(&b, "b.weight", 1, ne_b, PD_GGML_Q8_0, 32);
    L->tensor_off_at = b.len - 8;
    pad(&b, 32);
    L->data_at = b.len;
    for (int i = 0; i < 6; i++) {
        float f = (float)i + 0.5f;
        pd_buf_append(&b, &f, 4);
    }
    pad(&b, 32);
    for (int i = 0; i < 68; i++) pd_buf_putc(&b, (char)i);
    return b;
}

/* Parse an image; returns the code and leaves the message in err. */
static int parse(const pd_buf *b, pd_error *err) {
    pd_gguf g;
    int rc = pd_gguf_parse((const uint8_t *)b->data, b->len, "x.gguf", &g, err);
    if (!rc) pd_gguf_close(&g);
    return rc;
}

#define EXPECT_BAD(buf, code, n1, n2) do { pd_error e_ = {0}; int rc_ = parse(&(buf), &e_); \
    CHECK_MSG(rc_ == (code) && strstr(e_.msg, "x.gguf") && strstr(e_.msg, n1) && strstr(e_.msg, n2), \
              "rc %d msg '%s' (want '%s', '%s')", rc_, e_.msg, n1, n2); } while (0)

static void t_good_file(void) {
    layout L;
    pd_buf b = good(&L);
    pd_gguf g;
    pd_error err = {0};
    CHECK_MSG(pd_gguf_parse((const uint8_t *)b.data, b.len, "x.gguf", &g, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(g.version, 3);
    CHECK_EQ_INT(g.n_kv, 7);
    CHECK_EQ_INT(g.n_tensors, 2);
    CHECK_EQ_INT(g.alignment, 32);
    CHECK_EQ_INT(g.data_off, L.data_at);
    const char *s;
    size_t n;
    CHECK(pd_gguf_get_str(&g, "general.architecture", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "llama", 5));
    int64_t v;
    CHECK(pd_gguf_get_int(&g, "llama.block_count", 1, 0, 1, 10, &v, &err) == 0 && v == 2);
    CHECK(pd_gguf_get_int(&g, "flag", 1, 0, 0, 1, &v, &err) == 0 && v == 1);
    CHECK(pd_gguf_get_int(&g, "absent", 0, 7, 0, 10, &v, &err) == 0 && v == 7);
    CHECK(pd_gguf_get_int(&g, "absent", 1, 7, 0, 10, &v, &err) == PD_ENOTFOUND && strstr(err.msg, "absent"));
    CHECK(pd_gguf_get_int(&g, "llama.block_count", 1, 0, 3, 10, &v, &err) == PD_EFORMAT && strstr(err.msg, "out of range"));
    CHECK(pd_gguf_get_int(&g, "general.architecture", 1, 0, 0, 10, &v, &err) == PD_EFORMAT && strstr(err.msg, "string"));
    double d;
    CHECK(pd_gguf_get_float(&g, "llama.rope.freq_base", 1, 0, 0, 1e9, &d, &err) == 0 && d == 10000.0);
    CHECK(pd_gguf_get_float(&g, "llama.block_count", 1, 0, 0, 1e9, &d, &err) == 0 && d == 2.0);
    const pd_gguf_kv *kv;
    CHECK(pd_gguf_get_arr(&g, "tokenizer.ggml.tokens", PD_GGUF_STRING, &kv, &err) == 0 && kv->n == 3);
    size_t off = kv->off;
    const char *want[3] = {"a", "", "\xe2\x96\x81x"};
    for (int i = 0; i < 3; i++) {
        pd_gguf_arr_str_next(&g, &off, &s, &n);
        CHECK(n == strlen(want[i]) && !memcmp(s, want[i], n));
    }
    CHECK(pd_gguf_get_arr(&g, "tokenizer.ggml.scores", PD_GGUF_F32, &kv, &err) == 0);
    CHECK(pd_gguf_arr_f32(&g, kv, 0) == -1.5f && pd_gguf_arr_f32(&g, kv, 1) == 2.0f);
    CHECK(pd_gguf_get_arr(&g, "tokenizer.ggml.scores", PD_GGUF_I32, &kv, &err) == PD_EFORMAT && strstr(err.msg, "array of f32"));
    const pd_gguf_tensor *t = pd_gguf_tensor_find(&g, "a.weight");
    CHECK(t && t->type == PD_GGML_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->size == 24);
    CHECK(t && t->data == (const uint8_t *)b.data + L.data_at);
    float f;
    if (t) memcpy(&f, t->data + 8, 4);
    CHECK(t && f == 2.5f);
    t = pd_gguf_tensor_find(&g, "b.weight");
    CHECK(t && t->type == PD_GGML_Q8_0 && t->size == 68 && t->data == (const uint8_t *)b.data + L.data_at + 32);
    CHECK(pd_gguf_tensor_find(&g, "c.weight") == NULL);
    pd_gguf_close(&g);
    pd_buf_free(&b);
}

/* Every proper prefix of the good file is an error (never a crash), and those that cut the
 * header or the tensor data say the file ends / is truncated. */
static void t_truncated(void) {
    layout L;
    pd_buf b = good(&L);
    int bad = 0;
    for (size_t len = 0; len < b.len; len++) {
        pd_buf c = {0};
        pd_buf_append(&c, b.data, len);
        pd_error e = {0};
        int rc = parse(&c, &e);
        if (rc == 0 || !strstr(e.msg, "x.gguf")) bad++;
        if (len >= 8 && len < L.data_at && !strstr(e.msg, "ends") && !strstr(e.msg, "cannot fit") && !strstr(e.msg, "past the end"))
            bad++, printf("  prefix %zu: %s\n", len, e.msg);
        pd_buf_free(&c);
    }
    CHECK_EQ_INT(bad, 0);
    pd_buf_free(&b);
}

static void t_counts_past_file(void) {
    layout L;
    pd_buf b = good(&L);
    pd_buf c = {0};
    /* a tensor count of 2^60 */
    pd_buf_append(&c, b.data, b.len);
    c.data[L.n_tensors_at + 7] = 0x10;
    EXPECT_BAD(c, PD_EFORMAT, "tensor count", "cannot fit");
    memcpy(c.data, b.data, b.len);
    c.data[L.n_kv_at + 4] = 1; /* 2^32 + 7 key-values */
    EXPECT_BAD(c, PD_EFORMAT, "metadata count", "cannot fit");
    memcpy(c.data, b.data, b.len);
    c.data[L.arr_count_at + 5] = 1; /* 2^40 + 3 strings */
    EXPECT_BAD(c, PD_EFORMAT, "tokenizer.ggml.tokens", "cannot fit");
    memcpy(c.data, b.data, b.len);
    c.data[L.arr_count_at + 8] = 0x40; /* first string's length byte: 0x40 + ... past the file */
    c.data[L.arr_count_at + 14] = 0x7f;
    EXPECT_BAD(c, PD_EFORMAT, "tokenizer.ggml.tokens", "past the end");
    /* a tensor whose bytes run past the end */
    memcpy(c.data, b.data, b.len);
    c.data[L.tensor_off_at] = 64;
    EXPECT_BAD(c, PD_EFORMAT, "'b.weight'", "past the end");
    pd_buf_free(&c);
    pd_buf_free(&b);
}

static void t_unknown_types(void) {
    layout L;
    pd_buf b = good(&L);
    pd_buf c = {0};
    pd_buf_append(&c, b.data, b.len);
    c.data[L.str_type_at] = 13; /* value type 13 does not exist */
    EXPECT_BAD(c, PD_EFORMAT, "tokenizer.ggml.tokens", "unknown value type 13");
    memcpy(c.data, b.data, b.len);
    c.data[L.str_type_at + 4] = 99; /* array element type */
    EXPECT_BAD(c, PD_EFORMAT, "tokenizer.ggml.tokens", "unknown array element type 99");
    memcpy(c.data, b.data, b.len);
    c.data[L.tensor_type_at] = 5; /* ggml type 5 (the removed Q4_3) */
    EXPECT_BAD(c, PD_EUNSUPPORTED, "'a.weight'", "unknown tensor type 5");
    memcpy(c.data, b.data, b.len);
    c.data[L.tensor_type_at] = PD_GGML_Q8_0; /* row of 3 is not a multiple of 32 */
    EXPECT_BAD(c, PD_EFORMAT, "'a.weight'", "multiple of the Q8_0 block");
    pd_buf_free(&c);
    pd_buf_free(&b);
}

static void t_offsets(void) {
    layout L;
    pd_buf b = good(&L);
    pd_buf c = {0};
    pd_buf_append(&c, b.data, b.len);
    c.data[L.tensor_off_at] = 40; /* not a multiple of 32 */
    EXPECT_BAD(c, PD_EFORMAT, "'b.weight'", "not a multiple of the alignment 32");
    memcpy(c.data, b.data, b.len);
    c.data[L.tensor_off_at] = 0; /* on top of a.weight */
    EXPECT_BAD(c, PD_EFORMAT, "overlap", "a.weight");
    memcpy(c.data, b.data, b.len);
    c.data[L.tensor_off_at + 7] = 0x80; /* 2^63 + 32 */
    EXPECT_BAD(c, PD_EFORMAT, "'b.weight'", "past the end");
    pd_buf_free(&c);
    pd_buf_free(&b);
}

/* Header-level refusals: magic, versions, big-endian, duplicate keys, bad alignment, dims. */
static void t_header(void) {
    layout L;
    pd_buf b = good(&L);
    pd_buf c = {0};
    pd_buf_append(&c, b.data, b.len);
    c.data[0] = 'X';
    EXPECT_BAD(c, PD_EFORMAT, "not a GGUF file", "magic");
    memcpy(c.data, b.data, b.len);
    c.data[4] = 1;
    EXPECT_BAD(c, PD_EUNSUPPORTED, "version 1", "not supported");
    memcpy(c.data, b.data, b.len);
    c.data[4] = 0, c.data[7] = 3;
    EXPECT_BAD(c, PD_EUNSUPPORTED, "big-endian", "not supported");
    memcpy(c.data, b.data, b.len);
    c.data[4] = 9;
    EXPECT_BAD(c, PD_EUNSUPPORTED, "version 9", "not supported");
    pd_buf_free(&c);
    pd_buf_free(&b);

    /* duplicate key; alignment of 3; alignment of 64 moves the data section; 5 dimensions */
    pd_buf d = {0};
    pd_buf_append(&d, "GGUF\x02\0\0\0", 8);
    put(&d, 0, 8);
    put(&d, 2, 8);
    kv_u32(&d, "k", 1);
    kv_u32(&d, "k", 2);
    EXPECT_BAD(d, PD_EFORMAT, "'k'", "appears twice");
    pd_buf_free(&d);
    pd_buf_append(&d, "GGUF\x02\0\0\0", 8);
    put(&d, 0, 8);
    put(&d, 1, 8);
    kv_u32(&d, "general.alignment", 3);
    EXPECT_BAD(d, PD_EFORMAT, "general.alignment", "power of two");
    pd_buf_free(&d);

    pd_buf_append(&d, "GGUF\x02\0\0\0", 8);
    put(&d, 1, 8);
    put(&d, 1, 8);
    kv_u32(&d, "general.alignment", 64);
    uint64_t ne[1] = {4};
    tinfo(&d, "t", 1, ne, PD_GGML_F16, 0);
    pad(&d, 64);
    size_t data_at = d.len;
    put(&d, 0x3c00, 2); /* 1.0 in f16 */
    pd_buf_append(&d, "\0\0\0\0\0\0", 6);
    pd_gguf g;
    pd_error err = {0};
    CHECK_MSG(pd_gguf_parse((const uint8_t *)d.data, d.len, "x.gguf", &g, &err) == 0, "%s", err.msg);
    CHECK(g.alignment == 64 && g.data_off == data_at && g.version == 2);
    pd_gguf_close(&g);
    d.len = data_at + 7; /* one byte short */
    EXPECT_BAD(d, PD_EFORMAT, "'t'", "past the end");
    pd_buf_free(&d);

    pd_buf_append(&d, "GGUF\x03\0\0\0", 8);
    put(&d, 1, 8);
    put(&d, 0, 8);
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    tinfo(&d, "t", 5, ne5, PD_GGML_F32, 0);
    pad(&d, 32);
    put(&d, 0, 4);
    EXPECT_BAD(d, PD_EFORMAT, "'t'", "5 dimensions");
    pd_buf_free(&d);
}

/* The real file in ../shared: GGUF v3, llama, F16 matrices and F32 norms, a 32000-token
 * SentencePiece vocabulary. */
static void t_shared_file(void) {
    const char *p = shared_path("models/gguf/llama-2-tiny-random.gguf");
    if (!p) SKIP("../shared/models/gguf is absent");
    pd_gguf g;
    pd_error err = {0};
    CHECK_MSG(pd_gguf_open(p, &g, &err) == 0, "%s", err.msg);
    if (err.code) return;
    CHECK_EQ_INT(g.version, 3);
    const char *s;
    size_t n;
    CHECK(pd_gguf_get_str(&g, "general.architecture", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "llama", 5));
    const pd_gguf_kv *kv;
    CHECK(pd_gguf_get_arr(&g, "tokenizer.ggml.tokens", PD_GGUF_STRING, &kv, &err) == 0 && kv->n == 32000);
    const pd_gguf_tensor *t = pd_gguf_tensor_find(&g, "token_embd.weight");
    CHECK(t && t->ne[0] == 8 && t->ne[1] == 32000);
    t = pd_gguf_tensor_find(&g, "blk.0.attn_norm.weight");
    CHECK(t && t->type == PD_GGML_F32 && t->ne[0] == 8);
    CHECK(pd_gguf_is_file(p));
    CHECK(!pd_gguf_is_file("tests/test_gguf.c"));
    pd_gguf_close(&g);
}

int main(void) {
    RUN(t_good_file);
    RUN(t_truncated);
    RUN(t_counts_past_file);
    RUN(t_unknown_types);
    RUN(t_offsets);
    RUN(t_header);
    RUN(t_shared_file);
    return test_done();
}
