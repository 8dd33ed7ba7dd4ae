/* test_tokenizer_spm.c — SentencePiece-style tokenizer.json (Llama 2 / Mistral family: byte
 * fallback, Prepend/Replace normaliser or Metaspace pre-tokenizer, Replace/ByteFallback/Fuse/
 * Strip or Metaspace decoder) against Hugging Face `tokenizers`.
 *
 * - tests/fixtures/tokenizer/spm_legacy and spm_metaspace (tools/make_spm_tokenizer_fixture.py):
 *   a small trained vocabulary in the two layouts real files use, each with variants (patches
 *   of its tokenizer.json: prepend schemes, split, Metaspace decoder, no byte fallback, unfused
 *   unknowns, missing byte tokens, normalized added tokens); for every text the ids with and
 *   without special tokens and the decodes; for id sequences (byte runs valid and broken,
 *   special tokens inside runs) the decodes; pd_detok one id at a time gives the same text;
 * - BOS / EOS / accessors from tokenizer.json and tokenizer_config.json;
 * - pd_detok holding a long byte run (heap), pd_detok_free;
 * - what is refused, with messages naming the JSON path. */
#include "ponder.h"
#include "test.h"

#include <jansson.h>
#include <stdint.h>

#define FIX "tests/fixtures/tokenizer/"

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
static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    if (na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0)) return 1;
    size_t k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    printf("    %zu vs %zu ids, first difference at %zu (want %d, got %d)\n", na, nb, k, k < na ? a[k] : -1,
           k < nb ? b[k] : -1);
    return 0;
}

/* Decodes ids one at a time with pd_detok; checks every step leaves whole UTF-8 characters
 * and returns the text (in *out). */
static void detok_all(const pd_tokenizer *t, const int32_t *ids, size_t n, int skip, pd_buf *out) {
    pd_detok d;
    pd_detok_init(&d, t, skip);
    for (size_t k = 0; k < n; k++) {
        size_t before = out->len;
        CHECK(pd_detok_push(&d, ids[k], out) == 0);
        CHECK(out->len >= before && valid_utf8((const unsigned char *)out->data, out->len));
    }
    CHECK(pd_detok_flush(&d, out) == 0);
    CHECK(d.n_pending == 0 && d.run == NULL);
}

/* Applies a variant's patch (see tools/make_spm_tokenizer_fixture.py) to tokenizer.json. */
static void apply_patch(json_t *root, json_t *patch) {
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(patch, "set"), key, v) json_object_set(root, key, v);
    json_t *model = json_object_get(root, "model");
    if (json_object_get(patch, "model")) json_object_update(model, json_object_get(patch, "model"));
    json_t *rm = json_object_get(patch, "vocab_remove");
    for (size_t i = 0; i < json_array_size(rm); i++)
        json_object_del(json_object_get(model, "vocab"), json_string_value(json_array_get(rm, i)));
}

/* Loads a variant: the folder itself for "base", else its patched tokenizer.json (with the
 * folder's tokenizer_config.json). */
static pd_tokenizer *load_variant(const char *dir, json_t *variant) {
    pd_error err = {0};
    const char *name = json_string_value(json_object_get(variant, "name"));
    char path[512];
    if (strcmp(name, "base") == 0) {
        pd_tokenizer *t = pd_tokenizer_load(dir, &err);
        CHECK_MSG(t != NULL, "%s: %s", dir, err.msg);
        return t;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECK_MSG(root != NULL, "%s: %s", path, je.text);
    if (!root) return NULL;
    apply_patch(root, json_object_get(variant, "patch"));
    char *js = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    char *cfg = NULL;
    size_t cfg_len = 0;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(pd_file_read(path, &cfg, &cfg_len, &err) == 0);
    pd_tokenizer *t = pd_tokenizer_load_json(js, strlen(js), cfg, cfg_len, name, &err);
    CHECK_MSG(t != NULL, "%s variant %s: %s", dir, name, err.msg);
    free(js);
    free(cfg);
    return t;
}

/* Checks every variant of tests/fixtures/tokenizer/NAME/refs.json. */
static void check_fixture(const char *name) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, FIX "%s", name);
    snprintf(path, sizeof path, "%s/refs.json", dir);
    json_error_t je;
    json_t *refs = json_load_file(path, JSON_ALLOW_NUL, &je);
    CHECK_MSG(refs != NULL, "%s: %s", path, je.text);
    if (!refs) return;
    json_t *vars = json_object_get(refs, "variants");
    CHECK(json_array_size(vars) >= 6);
    for (size_t v = 0; v < json_array_size(vars); v++) {
        json_t *var = json_array_get(vars, v);
        const char *vname = json_string_value(json_object_get(var, "name"));
        pd_tokenizer *t = load_variant(dir, var);
        if (!t) continue;
        json_t *enc = json_object_get(var, "encode"), *dec = json_object_get(var, "decode");
        CHECK(json_array_size(enc) >= 90 && json_array_size(dec) >= 40);
        size_t bad = 0, total = 0;
        for (size_t i = 0; i < json_array_size(enc); i++) {
            json_t *e = json_array_get(enc, i), *jt = json_object_get(e, "text");
            const char *text = json_string_value(jt);
            size_t len = json_string_length(jt);
            int32_t *got0 = NULL;
            size_t ng0 = 0;
            for (int special = 0; special < 2; special++) {
                int32_t *want, *got = NULL;
                size_t nw = json_ids(json_object_get(e, special ? "ids_special" : "ids"), &want), ng = 0;
                pd_error err = {0};
                CHECK_MSG(pd_tokenizer_encode(t, text, len, special, &got, &ng, &err) == 0, "%s", err.msg);
                total++;
                if (!same_ids(want, nw, got, ng)) {
                    bad++;
                    printf("  %s/%s encode%s %zu: \"%.80s\"\n", name, vname, special ? "+special" : "", i, text);
                }
                free(want);
                if (special) free(got);
                else got0 = got, ng0 = ng;
            }
            for (int skip = 0; skip < 2; skip++) {
                json_t *want = json_object_get(e, skip ? "decoded_skip" : "decoded");
                pd_buf back = {0}, inc = {0};
                pd_error err = {0};
                CHECK(pd_tokenizer_decode_buf(t, got0, ng0, skip, &back, &err) == 0);
                CHECK_MSG(same_text(&back, want), "%s/%s: decode (skip %d) of text %zu \"%.60s\": \"%s\"", name, vname,
                          skip, i, text, back.data ? back.data : "");
                detok_all(t, got0, ng0, skip, &inc);
                CHECK_MSG(same_text(&inc, want), "%s/%s: incremental decode (skip %d) of text %zu", name, vname, skip, i);
                pd_buf_free(&back);
                pd_buf_free(&inc);
            }
            free(got0);
        }
        CHECK_MSG(bad == 0, "%s/%s: %zu of %zu encodings differ", name, vname, bad, total);
        for (size_t i = 0; i < json_array_size(dec); i++) {
            json_t *e = json_array_get(dec, i);
            int32_t *ids;
            size_t n = json_ids(json_object_get(e, "ids"), &ids);
            for (int skip = 0; skip < 2; skip++) {
                json_t *want = json_object_get(e, skip ? "text_skip" : "text");
                pd_buf text = {0}, inc = {0};
                pd_error err = {0};
                CHECK(pd_tokenizer_decode_buf(t, ids, n, skip, &text, &err) == 0);
                CHECK_MSG(same_text(&text, want), "%s/%s: decode %zu (skip %d): \"%s\" != \"%s\"", name, vname, i, skip,
                          text.data ? text.data : "", json_string_value(want));
                detok_all(t, ids, n, skip, &inc);
                CHECK_MSG(same_text(&inc, want), "%s/%s: incremental decode %zu (skip %d)", name, vname, i, skip);
                pd_buf_free(&text);
                pd_buf_free(&inc);
            }
            free(ids);
        }
        pd_tokenizer_free(t);
    }
    json_decref(refs);
}

static void t_legacy(void) { check_fixture("spm_legacy"); }
static void t_metaspace(void) { check_fixture("spm_metaspace"); }

/* BOS from the template, EOS from tokenizer_config.json, token forms and bytes. */
static void t_accessors(void) {
    const char *dirs[2] = {FIX "spm_legacy", FIX "spm_metaspace"};
    for (int i = 0; i < 2; i++) {
        pd_error err = {0};
        pd_tokenizer *t = pd_tokenizer_load(dirs[i], &err);
        CHECK_MSG(t != NULL, "%s", err.msg);
        if (!t) continue;
        CHECK_EQ_INT(pd_tokenizer_bos_id(t), 1);
        CHECK_EQ_INT(pd_tokenizer_eos_id(t), 2);
        CHECK(pd_tokenizer_vocab_size(t) > 800);
        CHECK(pd_tokenizer_is_special(t, 0) && pd_tokenizer_is_special(t, 1) && pd_tokenizer_is_special(t, 2));
        CHECK_STR(pd_tokenizer_token_str(t, 1), "<s>");
        CHECK_EQ_INT(pd_tokenizer_token_id(t, "<0x0A>"), 3 + 10);
        const char *b = NULL;
        size_t n = 0;
        CHECK(pd_tokenizer_token_bytes(t, 13, &b, &n) == 0 && n == 1 && b[0] == '\n');
        int32_t the = pd_tokenizer_token_id(t, "\xe2\x96\x81the"); /* "▁the" */
        CHECK(the > 258 && !pd_tokenizer_is_special(t, the));
        CHECK(pd_tokenizer_token_bytes(t, the, &b, &n) == 0 && n == 4 && memcmp(b, " the", 4) == 0);
        /* Math-Shepherd's step tag: " ки" is one token after a word, "▁ки" */
        int32_t ki = pd_tokenizer_token_id(t, "\xe2\x96\x81\xd0\xba\xd0\xb8");
        int32_t *ids = NULL;
        size_t m = 0;
        const char *step = "x = 2. \xd0\xba\xd0\xb8";
        CHECK(pd_tokenizer_encode(t, step, strlen(step), 0, &ids, &m, &err) == 0);
        CHECK(ki > 258 && m >= 2 && ids[m - 1] == ki);
        free(ids);
        /* text that is not UTF-8 is refused */
        CHECK(pd_tokenizer_encode(t, "a\xff", 2, 0, &ids, &m, &err) == PD_EINVAL);
        pd_tokenizer_free(t);
    }
}

/* A run of byte-fallback tokens longer than pd_detok's inline buffer is held on the heap until
 * it ends; broken, it turns into U+FFFD as it goes; pd_detok_free drops a held run. */
static void t_detok_runs(void) {
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load(FIX "spm_metaspace", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    /* "你" is E4 BD A0: ids 3 + byte */
    int32_t run[64];
    size_t n = 0;
    for (int k = 0; k < 20; k++) run[n++] = 3 + 0xE4, run[n++] = 3 + 0xBD, run[n++] = 3 + 0xA0;
    pd_detok d;
    pd_buf out = {0};
    pd_detok_init(&d, t, 0);
    for (size_t k = 0; k < n; k++) CHECK(pd_detok_push(&d, run[k], &out) == 0);
    CHECK(out.len == 0 && d.n_pending == 60 && d.run != NULL); /* held: a later byte could break it */
    CHECK(pd_detok_push(&d, 3 + 0xE4, &out) == 0 && out.len == 0);
    CHECK(pd_detok_push(&d, 3 + 'A', &out) == 0); /* E4 41: broken, the whole run is U+FFFD */
    CHECK_EQ_INT(out.len, 62 * 3);
    CHECK(d.n_pending == 0 && d.run == NULL);
    CHECK(pd_detok_push(&d, 3 + 0xBD, &out) == 0 && out.len == 63 * 3); /* the rest of a broken run */
    CHECK(pd_detok_push(&d, pd_tokenizer_token_id(t, "a"), &out) == 0 && out.len == 63 * 3 + 1);
    CHECK(pd_detok_flush(&d, &out) == 0);
    pd_buf_free(&out);
    /* the same ids in one decode */
    run[n++] = 3 + 0xE4;
    run[n++] = 3 + 'A';
    run[n++] = 3 + 0xBD;
    char *text = NULL;
    CHECK(pd_tokenizer_decode(t, run, n, 0, &text, &err) == 0 && strlen(text) == 63 * 3);
    free(text);
    /* valid and whole: emitted when the run ends (at flush here) */
    pd_detok_init(&d, t, 0);
    for (size_t k = 0; k < 60; k++) CHECK(pd_detok_push(&d, run[k], &out) == 0);
    CHECK(pd_detok_flush(&d, &out) == 0 && out.len == 60 && d.run == NULL);
    pd_buf_free(&out);
    /* dropped without a flush: nothing leaks (ASan) */
    pd_detok_init(&d, t, 0);
    for (size_t k = 0; k < 30; k++) CHECK(pd_detok_push(&d, run[k], &out) == 0);
    pd_detok_free(&d);
    CHECK(out.len == 0 && d.n_pending == 0 && d.run == NULL);
    pd_tokenizer_free(t);
}

/* Loads the legacy fixture's tokenizer.json with `from` replaced by `to` (first occurrence)
 * and expects the error code and a message containing `want`. */
static void expect_bad(const char *from, const char *to, int code, const char *want) {
    pd_error err = {0};
    char *js = NULL;
    size_t len = 0;
    CHECK(pd_file_read(FIX "spm_legacy/tokenizer.json", &js, &len, &err) == 0);
    if (!js) return;
    char *at = strstr(js, from);
    CHECK_MSG(at != NULL, "fixture lacks %s", from);
    if (!at) { free(js); return; }
    pd_buf b = {0};
    pd_buf_append(&b, js, (size_t)(at - js));
    pd_buf_puts(&b, to);
    pd_buf_puts(&b, at + strlen(from));
    pd_tokenizer *t = pd_tokenizer_load_json(b.data, b.len, NULL, 0, "spm.json", &err);
    CHECK_MSG(t == NULL, "accepted: %s -> %s", from, to);
    pd_tokenizer_free(t);
    CHECK_MSG(err.code == code && strstr(err.msg, want) && strstr(err.msg, "spm.json"), "%s -> %s: %d %s", from, to,
              err.code, err.msg);
    pd_buf_free(&b);
    free(js);
}

static void t_refused(void) {
    const char *seq = "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
                      "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},";
    /* decoders in another order or shape */
    expect_bad("{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"}",
               "{\"type\":\"ByteFallback\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"}",
               PD_EUNSUPPORTED, "decoder.decoders[1]: Replace after a later step");
    expect_bad("{\"type\":\"Fuse\"},", "", PD_EUNSUPPORTED, "decoder.decoders[2] (Strip) without a Fuse");
    expect_bad("\"start\":1,\"stop\":0", "\"start\":1,\"stop\":1", PD_EUNSUPPORTED, "decoder.decoders[3] (Strip): stop");
    expect_bad(seq, "{\"type\":\"CTC\"},", PD_EUNSUPPORTED, "decoder.decoders[0] type \"CTC\"");
    expect_bad("\"decoder\":{", "\"decoder\":null,\"x\":{", PD_EUNSUPPORTED, "no decoder");
    expect_bad("\"content\":\" \",\"start\"", "\"content\":\"  \",\"start\"", PD_EFORMAT, "(Strip).content");
    /* normalisers */
    expect_bad("{\"type\":\"Prepend\"", "{\"type\":\"Lowercase\"},{\"type\":\"Prepend\"", PD_EUNSUPPORTED,
               "normalizer.normalizers[0] type \"Lowercase\"");
    expect_bad("\"pattern\":{\"String\":\" \"}", "\"pattern\":{\"Regex\":\" +\"}", PD_EUNSUPPORTED,
               "normalizer.normalizers[1] (Replace).pattern is a Regex");
    expect_bad("\"pattern\":{\"String\":\" \"}", "\"pattern\":{\"String\":\"\"}", PD_EUNSUPPORTED, "empty pattern");
    expect_bad("\"prepend\":\"\xe2\x96\x81\"", "\"prepend\":7", PD_EFORMAT, "(Prepend).prepend is an integer");
    /* pre-tokenizers */
    expect_bad("\"pre_tokenizer\":null", "\"pre_tokenizer\":{\"type\":\"Whitespace\"}", PD_EUNSUPPORTED,
               "pre_tokenizer type \"Whitespace\" is not supported in a SentencePiece-style");
    expect_bad("\"pre_tokenizer\":null",
               "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"add_prefix_space\":false}",
               PD_EFORMAT, "add_prefix_space false does not match prepend_scheme");
    expect_bad("\"pre_tokenizer\":null",
               "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\",\"prepend_scheme\":\"first\"}",
               PD_EFORMAT, "pre_tokenizer (Metaspace).replacement");
    expect_bad("\"pre_tokenizer\":null",
               "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"once\"}",
               PD_EFORMAT, "prepend_scheme \"once\"");
    /* a ByteLevel decoder makes it byte-level, where byte fallback is refused */
    expect_bad("\"decoder\":{", "\"decoder\":{\"type\":\"ByteLevel\"},\"x\":{", PD_EUNSUPPORTED,
               "model.byte_fallback is true in a byte-level tokenizer");
    expect_bad("\"fuse_unk\":true", "\"fuse_unk\":1", PD_EFORMAT, "model.fuse_unk is not a boolean");
}

int main(void) {
    RUN(t_legacy);
    RUN(t_metaspace);
    RUN(t_accessors);
    RUN(t_detok_runs);
    RUN(t_refused);
    return test_done();
}
