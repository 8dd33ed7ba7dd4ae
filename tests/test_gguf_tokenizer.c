/* test_gguf_tokenizer.c — the tokenizer of a GGUF file (src/model/tokenizer_gguf.c) equals the
 * Hugging Face tokenizer.json of the same model.
 *
 * - Always: the GGUF fixtures (tests/fixtures/gguf, written by llama.cpp's converter from the
 *   rlhflow fixture's tokenizer: byte-level BPE, pre-tokenizer llama-bpe, Llama 3 chat template)
 *   against that tokenizer.json: ids with and without special tokens, decoded text, chat
 *   family and rendering, on built-in texts and the shared vectors' texts.
 * - When llama.cpp's vocabulary files are there ($PONDER_LLAMA_CPP_MODELS, else
 *   build/llama.cpp/src/models, which tools/check_llama_server.sh unpacks): ggml-vocab-qwen2,
 *   ggml-vocab-llama-bpe (gpt2 models) and ggml-vocab-llama-spm (SentencePiece) against the ids
 *   Hugging Face's tokenizers produced (../shared/tokvec, or the .out files beside them), and
 *   the gpt2 ones against ../shared/tokenizers' tokenizer.json on the same texts.
 * - The shared tiny GGUF's Llama 2 vocabulary against ggml-vocab-llama-spm's reference ids.
 * Each part skips cleanly when its files are absent. */
#include "model/gguf.h"
#include "ponder.h"
#include "test.h"

#define FIX "tests/fixtures/gguf"
#define SEP "\n__ggml_vocab_test__\n"

static const char *texts[] = {
    "Hello world", " Hello World!", "3333333 + 22 = 4444", "   leading and trailing   ", "tabs\tand\nnew\n\nlines",
    "<|begin_of_text|>special <|eot_id|> in text", "ÅÄÖ émigré naïve 日本語 🦙", "don't you'll I'M", "", "a",
    "x=1;y=2\r\nz", "((((nested)))) ... !!!",
};

/* Split a .inp file into texts (malloc'd copies); returns the count. */
static size_t read_inp(const char *path, char ***out) {
    char *data = NULL;
    size_t len, n = 0, cap = 0;
    pd_error err = {0};
    *out = NULL;
    if (pd_file_read(path, &data, &len, &err)) return 0;
    char *p = data, *end = data + len, *s;
    while (p < end && (s = memmem(p, (size_t)(end - p), SEP, strlen(SEP)))) {
        if (pd_grow((void **)out, &cap, n + 1, sizeof **out)) break;
        (*out)[n++] = strndup(p, (size_t)(s - p));
        p = s + strlen(SEP);
    }
    free(data);
    return n;
}

static void free_texts(char **t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t);
}

/* Do two tokenizers give the same ids (add_special 0 and 1) and the same decoded text? */
static int same_encoding(const pd_tokenizer *a, const pd_tokenizer *b, const char *text) {
    int ok = 1;
    for (int sp = 0; sp < 2; sp++) {
        int32_t *ia = NULL, *ib = NULL;
        size_t na = 0, nb = 0;
        pd_error err = {0};
        int ra = pd_tokenizer_encode(a, text, strlen(text), sp, &ia, &na, &err);
        int rb = pd_tokenizer_encode(b, text, strlen(text), sp, &ib, &nb, &err);
        if (ra || rb || na != nb || (na && memcmp(ia, ib, na * sizeof *ia))) {
            printf("  ids differ (add_special %d) on \"%.60s\" (%zu vs %zu ids)\n", sp, text, na, nb);
            ok = 0;
        }
        char *da = NULL, *db = NULL;
        if (!ra && !pd_tokenizer_decode(a, ia, na, 0, &da, &err) && !pd_tokenizer_decode(b, ia, na, 0, &db, &err) &&
            strcmp(da, db)) {
            printf("  decoded text differs on \"%.60s\"\n", text);
            ok = 0;
        }
        free(da), free(db), free(ia), free(ib);
    }
    return ok;
}

static void t_fixture_equals_tokenizer_json(void) {
    pd_error err = {0};
    pd_tokenizer *g = pd_tokenizer_load(FIX "/llama-q8_0.gguf", &err);
    CHECK_MSG(g, "%s", err.msg);
    pd_tokenizer *h = pd_tokenizer_load("tests/fixtures/prm/rlhflow", &err);
    CHECK_MSG(h, "%s", err.msg);
    if (!g || !h) goto out;
    int bad = 0, n = 0;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++, n++) bad += !same_encoding(g, h, texts[i]);
    const char *inp = shared_path("tokvec/ggml-vocab-llama-bpe.gguf.inp");
    char **t = NULL;
    size_t nt = inp ? read_inp(inp, &t) : 0;
    for (size_t i = 0; i < nt; i++, n++) bad += !same_encoding(g, h, t[i]);
    free_texts(t, nt);
    CHECK_EQ_INT(bad, 0);
    CHECK(n >= 12);
    /* the chat template: the same family, the same rendering */
    CHECK(pd_tokenizer_chat_family(g) == PD_CHAT_LLAMA3 && pd_tokenizer_chat_family(h) == PD_CHAT_LLAMA3);
    pd_chat_msg msgs[2] = {{"system", "Be brief."}, {"user", "What is 2+2?"}};
    pd_buf ra = {0}, rb = {0};
    CHECK(pd_chat_render(g, msgs, 2, 1, 0, &ra, &err) == 0 && pd_chat_render(h, msgs, 2, 1, 0, &rb, &err) == 0);
    CHECK(ra.len && ra.len == rb.len && !memcmp(ra.data, rb.data, ra.len));
    pd_buf_free(&ra), pd_buf_free(&rb);
out:
    pd_tokenizer_free(g);
    pd_tokenizer_free(h);
}

/* A tokenizer whose metadata is unusable is a clear error naming the file and key. */
static void t_bad_metadata(void) {
    char *data;
    size_t len;
    pd_error err = {0};
    CHECK(pd_file_read(FIX "/qwen2-q5_0.gguf", &data, &len, &err) == 0);
    const char *p = "build/tmp/test_gguf_tokenizer.gguf";
    mkdir("build", 0755), mkdir("build/tmp", 0755);
    char *at = memmem(data, len, "llama-bpe", 9); /* tokenizer.ggml.pre */
    CHECK(at != NULL);
    if (at) memcpy(at, "llama-xyz", 9);
    CHECK(pd_file_write(p, data, len, &err) == 0);
    pd_tokenizer *t = pd_tokenizer_load(p, &err);
    CHECK(!t && err.code == PD_EUNSUPPORTED && strstr(err.msg, "'llama-xyz'") && strstr(err.msg, p));
    pd_tokenizer_free(t);
    if (at) memcpy(at, "llama-bpe", 9);
    at = memmem(data, len, "tokenizer.ggml.model", 20);
    CHECK(at != NULL);
    if (at) memcpy(at, "tokenizer.ggml.modex", 20);
    CHECK(pd_file_write(p, data, len, &err) == 0);
    t = pd_tokenizer_load(p, &err);
    CHECK(!t && err.code == PD_ENOTFOUND && strstr(err.msg, "tokenizer.ggml.model"));
    pd_tokenizer_free(t);
    free(data);
    remove(p);
}

/* Where llama.cpp's vocabulary files are, or NULL. */
static const char *llama_models(void) {
    const char *d = getenv("PONDER_LLAMA_CPP_MODELS");
    if (d && *d) return d;
    return pd_dir_exists("build/llama.cpp/src/models") ? "build/llama.cpp/src/models" : NULL;
}

/* Encode every text of vectors `name` with tokenizer t and compare with the reference ids
 * (no special tokens); returns the number of texts that differ, -1 when absent. */
static int check_vectors(const pd_tokenizer *t, const char *inp, const char *outp) {
    char **tx = NULL;
    size_t n = read_inp(inp, &tx);
    char *out = NULL;
    size_t len;
    pd_error err = {0};
    if (!n || pd_file_read(outp, &out, &len, &err)) {
        free_texts(tx, n);
        return -1;
    }
    int bad = 0;
    char *line = out;
    for (size_t i = 0; i < n; i++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int32_t *ids = NULL;
        size_t k = 0, m = 0;
        if (pd_tokenizer_encode(t, tx[i], strlen(tx[i]), 0, &ids, &k, &err)) bad++;
        else {
            char *q = line, *e;
            int ok = 1;
            for (;;) {
                long v = strtol(q, &e, 10);
                if (e == q) break;
                ok &= m < k && ids[m] == v;
                m++;
                q = e;
            }
            if (!ok || m != k) {
                bad++;
                printf("  text %zu (\"%.40s\"): %zu ids, reference %zu\n", i, tx[i], k, m);
            }
        }
        free(ids);
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(out);
    free_texts(tx, n);
    return bad;
}

static void t_llama_cpp_vocabs(void) {
    const char *dir = llama_models();
    if (!dir) SKIP("llama.cpp's models/ (vocabulary GGUFs) is absent: set PONDER_LLAMA_CPP_MODELS");
    static const struct { const char *vocab, *shared_tok; } v[] = {
        {"qwen2", "qwen2.5-0.5b-instruct"}, {"llama-bpe", "llama-3.2-1b-instruct"}, {"llama-spm", NULL}};
    int ran = 0;
    for (size_t i = 0; i < 3; i++) {
        char gg[512], inp[600], outp[600];
        snprintf(gg, sizeof gg, "%s/ggml-vocab-%s.gguf", dir, v[i].vocab);
        if (!pd_file_exists(gg)) continue;
        pd_error err = {0};
        pd_tokenizer *t = pd_tokenizer_load(gg, &err);
        CHECK_MSG(t, "%s", err.msg);
        if (!t) continue;
        snprintf(inp, sizeof inp, "%s.inp", gg);
        snprintf(outp, sizeof outp, "%s.out", gg);
        int bad = check_vectors(t, inp, outp);
        CHECK_MSG(bad == 0, "%s: %d texts differ from Hugging Face's ids", v[i].vocab, bad);
        char rel[128];
        snprintf(rel, sizeof rel, "tokenizers/%s", v[i].shared_tok ? v[i].shared_tok : "");
        const char *sh = v[i].shared_tok ? shared_path(rel) : NULL;
        if (sh) { /* the same texts through the shared tokenizer.json: same ids, same text */
            pd_tokenizer *h = pd_tokenizer_load(sh, &err);
            char **tx = NULL;
            size_t n = h ? read_inp(inp, &tx) : 0;
            int diff = 0;
            for (size_t k = 0; k < n; k++) diff += !same_encoding(t, h, tx[k]);
            for (size_t k = 0; h && k < sizeof texts / sizeof *texts; k++) diff += !same_encoding(t, h, texts[k]);
            CHECK_EQ_INT(diff, 0);
            free_texts(tx, n);
            pd_tokenizer_free(h);
        }
        pd_tokenizer_free(t);
        ran++;
    }
    if (!ran) SKIP("no ggml-vocab-*.gguf in %s", dir);
}

/* The shared tiny GGUF holds Llama 2's SentencePiece vocabulary: llama.cpp's llama-spm vectors
 * (Hugging Face's ids for Llama 2) hold for it too. */
static void t_shared_spm(void) {
    const char *g = shared_path("models/gguf/llama-2-tiny-random.gguf");
    const char *dir = llama_models();
    if (!g) SKIP("../shared/models/gguf is absent");
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load(g, &err);
    CHECK_MSG(t, "%s", err.msg);
    if (!t) return;
    /* hand-checked against Llama 2: "Hello world" -> ▁Hello ▁world, with BOS when asked */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(pd_tokenizer_encode(t, "Hello world", 11, 1, &ids, &n, &err) == 0);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 15043 && ids[2] == 3186);
    char *s = NULL;
    CHECK(pd_tokenizer_decode(t, ids, n, 1, &s, &err) == 0 && s && !strcmp(s, "Hello world"));
    free(s), free(ids);
    if (dir) {
        char inp[512], outp[512];
        snprintf(inp, sizeof inp, "%s/ggml-vocab-llama-spm.gguf.inp", dir);
        snprintf(outp, sizeof outp, "%s/ggml-vocab-llama-spm.gguf.out", dir);
        if (pd_file_exists(inp)) CHECK_EQ_INT(check_vectors(t, inp, outp), 0);
    }
    pd_tokenizer_free(t);
}

int main(void) {
    RUN(t_fixture_equals_tokenizer_json);
    RUN(t_bad_metadata);
    RUN(t_llama_cpp_vocabs);
    RUN(t_shared_spm);
    return test_done();
}
