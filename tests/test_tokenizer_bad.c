/* test_tokenizer_bad.c — broken tokenizer.json files give clear errors, never a crash;
 * a small hand-made tokenizer exercises BPE merges, ignore_merges and the post-processor;
 * `ponder tokenize` round-trips text through the command line.
 *
 * The small tokenizer is built here as JSON text: the 256 byte-level symbols (GPT-2's
 * bytes_to_unicode) plus a few merges, so expected ids can be worked out by hand. */
#include "ponder.h"
#include "test.h"

#include <stdint.h>

/* Appends the byte-level form of byte b (GPT-2's bytes_to_unicode) as UTF-8. */
static void put_byte_form(pd_buf *out, int b) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
        cp = 256 + n;
    }
    char u[4];
    if (cp < 0x80) { u[0] = (char)cp; pd_buf_append(out, u, 1); }
    else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); pd_buf_append(out, u, 2); }
}

/* A small valid tokenizer.json: ids 0-255 the bytes (id = byte), then 256 "ab", 257 "abc",
 * 258 "Ġa" (space + a), 259 "bc", 260 "xyz" (no merge makes it); merges "a b", "ab c",
 * "Ġ a", "b c" (b c ranks after ab c); added token 261 "<s>" (special, BOS via the
 * template); `extra` is spliced into the model object (e.g. ",\"ignore_merges\":true"). */
static char *small_json(const char *extra, const char *merges_override) {
    pd_buf b = {0};
    pd_buf_puts(&b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":261,\"content\":\"<s>\",\"special\":true,"
                    "\"normalized\":false,\"lstrip\":false,\"rstrip\":false,\"single_word\":false}],"
                    "\"normalizer\":{\"type\":\"NFC\"},"
                    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
                    "{\"Regex\":\" ?\\\\p{L}+|\\\\p{N}|\\\\s+|[^\\\\s\\\\p{L}\\\\p{N}]+\"},\"behavior\":\"Isolated\","
                    "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
                    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
                    "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<s>\":"
                    "{\"id\":\"<s>\",\"ids\":[261],\"tokens\":[\"<s>\"]}}},"
                    "\"decoder\":{\"type\":\"ByteLevel\"},"
                    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null");
    pd_buf_puts(&b, extra ? extra : "");
    pd_buf_puts(&b, ",\"vocab\":{");
    for (int i = 0; i < 256; i++) {
        pd_buf_puts(&b, i ? ",\"" : "\"");
        if (i == '"' || i == '\\') pd_buf_putc(&b, '\\');
        put_byte_form(&b, i);
        pd_buf_printf(&b, "\":%d", i);
    }
    pd_buf_puts(&b, ",\"ab\":256,\"abc\":257,\"\xc4\xa0" "a\":258,\"bc\":259,\"xyz\":260},\"merges\":");
    pd_buf_puts(&b, merges_override ? merges_override : "[\"a b\",\"ab c\",\"\xc4\xa0 a\",[\"b\",\"c\"]]");
    pd_buf_puts(&b, "}}");
    return pd_buf_steal(&b);
}

/* Encodes text with t into a static " id id" string. */
static const char *enc(const pd_tokenizer *t, const char *text, int special) {
    static char buf[1024];
    int32_t *ids = NULL;
    size_t n = 0;
    pd_error err = {0};
    buf[0] = 0;
    if (pd_tokenizer_encode(t, text, strlen(text), special, &ids, &n, &err)) {
        snprintf(buf, sizeof buf, "ERROR %s", err.msg);
        return buf;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k + 16 < sizeof buf; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, " %d", ids[i]);
    free(ids);
    return buf;
}

static void t_small_bpe(void) {
    char *js = small_json(NULL, NULL);
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load_json(js, strlen(js), NULL, 0, "small.json", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) { free(js); return; }
    CHECK_EQ_INT(pd_tokenizer_vocab_size(t), 262);
    CHECK_STR(enc(t, "abc", 0), " 257");        /* a b -> ab, ab c -> abc */
    CHECK_STR(enc(t, "bc", 0), " 259");
    CHECK_STR(enc(t, "abcbc", 0), " 257 259");
    CHECK_STR(enc(t, " a", 0), " 258");
    CHECK_STR(enc(t, "xyz", 0), " 120 121 122");  /* in the vocab but no merge: bytes */
    CHECK_STR(enc(t, "abc", 1), " 261 257");      /* BOS from TemplateProcessing */
    CHECK_STR(enc(t, "<s>ab<s>", 0), " 261 256 261");
    CHECK_STR(enc(t, "", 1), " 261");
    CHECK_STR(enc(t, "", 0), "");
    CHECK_EQ_INT(pd_tokenizer_bos_id(t), 261);
    CHECK_EQ_INT(pd_tokenizer_token_id(t, "abc"), 257);
    CHECK_EQ_INT(pd_tokenizer_token_id(t, "<s>"), 261);
    CHECK_EQ_INT(pd_tokenizer_token_id(t, "nope"), -1);
    CHECK_STR(pd_tokenizer_token_str(t, 258), "\xc4\xa0" "a");
    CHECK(pd_tokenizer_token_str(t, 262) == NULL && pd_tokenizer_token_str(t, -1) == NULL);
    CHECK(pd_tokenizer_is_special(t, 261) && !pd_tokenizer_is_special(t, 257));
    /* invalid UTF-8 is refused with the byte offset */
    CHECK(strstr(enc(t, "ab\xff", 0), "not valid UTF-8 at byte 2") != NULL);
    CHECK(strstr(enc(t, "\xed\xa0\x80", 0), "not valid UTF-8") != NULL); /* a surrogate */
    /* NFC: e + combining acute is composed into é (2 bytes) before BPE */
    CHECK_STR(enc(t, "e\xcc\x81", 0), " 195 169");
    /* decode: bytes of ids, unknown ids skipped, special tokens optionally skipped */
    int32_t ids[] = {261, 257, 9999, 32, 258};
    char *s = NULL;
    CHECK(pd_tokenizer_decode(t, ids, 5, 0, &s, &err) == 0);
    CHECK_STR(s, "<s>abc  a");
    free(s);
    CHECK(pd_tokenizer_decode(t, ids, 5, 1, &s, &err) == 0);
    CHECK_STR(s, "abc  a");
    free(s);
    /* broken UTF-8 from byte tokens: one U+FFFD per maximal invalid subpart */
    int32_t bad[] = {0xF0, 0x9F, 'a', 0xE2, 0x82, 0xAC, 0x80, 0xF0};
    CHECK(pd_tokenizer_decode(t, bad, 8, 0, &s, &err) == 0);
    CHECK_STR(s, "\xEF\xBF\xBD" "a\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
    /* incremental: the euro sign comes out only once complete */
    pd_detok d;
    pd_detok_init(&d, t, 0);
    pd_buf out = {0};
    CHECK(pd_detok_push(&d, 0xE2, &out) == 0 && out.len == 0);
    CHECK(pd_detok_push(&d, 0x82, &out) == 0 && out.len == 0);
    CHECK(pd_detok_push(&d, 0xAC, &out) == 0 && out.len == 3);
    CHECK(pd_detok_push(&d, 0xF0, &out) == 0 && out.len == 3);
    CHECK(pd_detok_flush(&d, &out) == 0);
    CHECK_STR(out.data, "\xE2\x82\xAC\xEF\xBF\xBD");
    pd_buf_free(&out);
    pd_tokenizer_free(t);
    free(js);
    /* ignore_merges: a word that is a token is taken whole ("xyz" has no merges) */
    js = small_json(",\"ignore_merges\":true", NULL);
    t = pd_tokenizer_load_json(js, strlen(js), NULL, 0, "small.json", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) CHECK_STR(enc(t, "xyz", 0), " 260");
    pd_tokenizer_free(t);
    free(js);
    /* merge ranks decide: with "b c" first, "abc" becomes a + bc (no "a bc" merge) */
    js = small_json(NULL, "[\"b c\",\"a b\",\"ab c\"]");
    t = pd_tokenizer_load_json(js, strlen(js), NULL, 0, "small.json", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) CHECK_STR(enc(t, "abc", 0), " 97 259");
    pd_tokenizer_free(t);
    free(js);
}

/* Expects loading `json` to fail with a message holding `want` (and the file name). */
static void expect_bad(const char *json, size_t len, const char *want) {
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load_json(json, len, NULL, 0, "bad/tokenizer.json", &err);
    CHECK_MSG(t == NULL, "loaded a tokenizer that should fail (%s)", want);
    pd_tokenizer_free(t);
    CHECK_MSG(err.code != 0 && strstr(err.msg, "bad/tokenizer.json") != NULL && strstr(err.msg, want) != NULL,
              "message \"%s\" lacks \"%s\"", err.msg, want);
}

/* Replaces the first `from` in the small JSON by `to` and expects failure with `want`. */
static void expect_bad_edit(const char *from, const char *to, const char *want) {
    char *js = small_json(NULL, NULL);
    char *p = strstr(js, from);
    CHECK_MSG(p != NULL, "test edit '%s' not found", from);
    if (!p) { free(js); return; }
    pd_buf b = {0};
    pd_buf_append(&b, js, (size_t)(p - js));
    pd_buf_puts(&b, to);
    pd_buf_puts(&b, p + strlen(from));
    expect_bad(b.data, b.len, want);
    pd_buf_free(&b);
    free(js);
}

/* An added token with normalized: true whose content is not in NFC (e + combining acute)
 * is matched by its NFC form in the normalised text, as tokenizers normalises added
 * content too: both the composed and the decomposed é in the text become the token. */
static void t_normalized_added(void) {
    char *js = small_json(NULL, NULL);
    pd_buf b = {0};
    const char *at = strstr(js, "\"added_tokens\":[") + strlen("\"added_tokens\":[");
    pd_buf_append(&b, js, (size_t)(at - js));
    pd_buf_puts(&b, "{\"id\":262,\"content\":\"e\\u0301\",\"special\":false,\"normalized\":true},");
    pd_buf_puts(&b, at);
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load_json(b.data, b.len, NULL, 0, "small.json", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_STR(enc(t, "x\xc3\xa9", 0), " 120 262");  /* composed é */
        CHECK_STR(enc(t, "xe\xcc\x81", 0), " 120 262"); /* decomposed, composed by NFC */
        CHECK_STR(enc(t, "<s>e\xcc\x81<s>", 0), " 261 262 261");
        /* looked up by its content as written */
        CHECK_EQ_INT(pd_tokenizer_token_id(t, "e\xcc\x81"), 262);
        CHECK_EQ_INT(pd_tokenizer_token_id(t, "<s>"), 261);
        CHECK(!pd_tokenizer_is_special(t, 262));
    }
    pd_tokenizer_free(t);
    pd_buf_free(&b);
    free(js);
}

static void t_bad_json(void) {
    char *js = small_json(NULL, NULL);
    size_t n = strlen(js);
    /* truncated anywhere: a parse error with line and column, never a crash */
    for (size_t cut = 0; cut < n; cut += 97) expect_bad(js, cut, cut == 0 ? "line" : "line");
    free(js);
    expect_bad("null", 4, "line 1");
    expect_bad("[1]", 3, "expected a JSON object");
    expect_bad("{}", 2, "no \"model\"");
    expect_bad("{\"model\":null}", 14, "no \"model\"");
    /* wrong types */
    expect_bad_edit("\"model\":{\"type\":\"BPE\"", "\"model\":\"BPE\",\"x\":{\"type\":\"BPE\"", "\"model\" is a string");
    expect_bad_edit(",\"vocab\":{", ",\"vocab\":[],\"v\":{", "model.vocab is an array");
    expect_bad_edit("\"merges\":[", "\"merges\":{},\"m\":[", "model.merges is an object");
    expect_bad_edit("\"abc\":257", "\"abc\":\"257\"", "expected an integer id");
    expect_bad_edit("\"content\":\"<s>\"", "\"content\":5", "added_tokens[0].content is an integer");
    expect_bad_edit("\"special\":true", "\"special\":\"yes\"", "added_tokens[0].special is not a boolean");
    expect_bad_edit("\"added_tokens\":[", "\"added_tokens\":{},\"a\":[", "added_tokens is an object");
    expect_bad_edit("\"merges\":[\"a b\"", "\"merges\":[7", "model.merges[0] is an integer");
    /* merges that refer to unknown tokens */
    expect_bad_edit("\"merges\":[\"a b\"", "\"merges\":[\"a q\\u00e9\"", "is not in model.vocab");
    expect_bad_edit("\"merges\":[\"a b\"", "\"merges\":[\"x y\"", "merged token \"xy\" is not in model.vocab");
    expect_bad_edit("\"merges\":[\"a b\"", "\"merges\":[\"ab\"", "not two tokens");
    /* absurd sizes and ids */
    expect_bad_edit("\"abc\":257", "\"abc\":2147483647", "out of range");
    expect_bad_edit("\"abc\":257", "\"abc\":16000000", "ids must be dense");
    expect_bad_edit("\"id\":261", "\"id\":9000000", "ids must be dense");
    expect_bad_edit("\"abc\":257", "\"abc\":-1", "out of range");
    expect_bad_edit("\"id\":261", "\"id\":99999999999", "out of range");
    expect_bad_edit("\"ab\":256", "\"ab\":97", "id 97 is used by two tokens");
    expect_bad_edit("\"ids\":[261]", "\"ids\":[5000]", "not in the vocabulary");
    /* unsupported pieces are named */
    expect_bad_edit("\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "model.type \"WordPiece\" is not supported");
    expect_bad_edit("{\"type\":\"NFC\"}", "{\"type\":\"NFKC\"}", "normalizer type \"NFKC\"");
    expect_bad_edit("\"decoder\":{\"type\":\"ByteLevel\"}", "\"decoder\":{\"type\":\"Metaspace\"}", "decoder type");
    expect_bad_edit("\"behavior\":\"Isolated\"", "\"behavior\":\"Removed\"", "behavior \"Removed\"");
    expect_bad_edit("{\"Regex\":\"", "{\"Regex\":\"(", "does not compile");
    expect_bad_edit("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}",
                    "{\"type\":\"Whitespace\"}", "pre_tokenizer type \"Whitespace\"");
    expect_bad_edit("\"dropout\":null", "\"dropout\":0.1", "dropout");
}

/* The loader names the file for problems on disk; a truncated real file fails cleanly. */
static void t_bad_files(void) {
    pd_error err = {0};
    CHECK(pd_tokenizer_load("build/tmp/test_tokenizer_bad/none", &err) == NULL);
    CHECK(strstr(err.msg, "build/tmp/test_tokenizer_bad/none") != NULL);
    /* a good tokenizer.json beside a broken tokenizer_config.json: the config is named */
    CHECK(pd_mkdirs("build/tmp/test_tokenizer_bad/cfg", &err) == 0);
    char *js = small_json(NULL, NULL);
    CHECK(pd_file_write("build/tmp/test_tokenizer_bad/cfg/tokenizer.json", js, strlen(js), &err) == 0);
    free(js);
    CHECK(pd_file_write("build/tmp/test_tokenizer_bad/cfg/tokenizer_config.json", "{\"bos_token\": ", 14, &err) == 0);
    CHECK(pd_tokenizer_load("build/tmp/test_tokenizer_bad/cfg", &err) == NULL);
    CHECK_MSG(strstr(err.msg, "cfg/tokenizer_config.json: line 1") != NULL, "%s", err.msg);
    /* a directory without tokenizer.json */
    CHECK(pd_mkdirs("build/tmp/test_tokenizer_bad/empty", &err) == 0);
    CHECK(pd_tokenizer_load("build/tmp/test_tokenizer_bad/empty", &err) == NULL);
    CHECK_MSG(strstr(err.msg, "empty: no tokenizer.json") != NULL, "%s", err.msg);
    const char *real = shared_path("tokenizers/qwen2.5-0.5b-instruct/tokenizer.json");
    if (!real) SKIP("shared tokenizer absent");
    char *data = NULL;
    size_t len = 0;
    CHECK(pd_file_read(real, &data, &len, &err) == 0);
    CHECK(pd_mkdirs("build/tmp/test_tokenizer_bad", &err) == 0);
    CHECK(pd_file_write("build/tmp/test_tokenizer_bad/tokenizer.json", data, len / 2, &err) == 0);
    pd_tokenizer *t = pd_tokenizer_load("build/tmp/test_tokenizer_bad", &err);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, "build/tmp/test_tokenizer_bad/tokenizer.json: line") != NULL, "%s", err.msg);
    pd_tokenizer_free(t);
    free(data);
}

/* `ponder tokenize` encodes stdin and decodes ids back to the same bytes. */
static void t_cli_roundtrip(void) {
    const char *bin = getenv("PONDER_BIN") ? getenv("PONDER_BIN") : "build/ponder";
    const char *dir = shared_path("tokenizers/llama-3.2-1b-instruct");
    if (!dir || access(bin, X_OK) != 0) SKIP("no shared tokenizer or no %s", bin);
    pd_error err = {0};
    CHECK(pd_mkdirs("build/tmp/test_tokenizer_bad", &err) == 0);
    const char *text = "Hello world 12345 \xf0\x9f\xa6\x99\n\n  x";
    CHECK(pd_file_write("build/tmp/test_tokenizer_bad/in.txt", text, strlen(text), &err) == 0);
    char cmd[10000];
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s --add-special < build/tmp/test_tokenizer_bad/in.txt "
             "> build/tmp/test_tokenizer_bad/ids.txt && %s tokenize --model %s/tokenizer.json --decode --skip-special "
             "< build/tmp/test_tokenizer_bad/ids.txt > build/tmp/test_tokenizer_bad/out.txt", bin, dir, bin, dir);
    CHECK_EQ_INT(system(cmd), 0);
    char *ids = NULL, *out = NULL;
    CHECK(pd_file_read("build/tmp/test_tokenizer_bad/ids.txt", &ids, NULL, &err) == 0);
    CHECK(pd_file_read("build/tmp/test_tokenizer_bad/out.txt", &out, NULL, &err) == 0);
    CHECK_MSG(ids && strncmp(ids, "128000 9906 1917 220 4513 1774 11410 99 247", 43) == 0, "ids: %s", ids);
    CHECK_STR(out, text);
    free(ids);
    free(out);
    snprintf(cmd, sizeof cmd, "echo 1 x | %s tokenize --model %s --decode 2>/dev/null", bin, dir);
    CHECK(system(cmd) != 0);
}

int main(void) {
    RUN(t_small_bpe);
    RUN(t_normalized_added);
    RUN(t_bad_json);
    RUN(t_bad_files);
    RUN(t_cli_roundtrip);
    return test_done();
}
