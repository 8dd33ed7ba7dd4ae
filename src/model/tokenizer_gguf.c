/* tokenizer_gguf.c — the tokenizer of a GGUF file, from its tokenizer.ggml.* metadata.
 *
 * Rather than a second loader, the metadata is written out as the tokenizer.json (and
 * tokenizer_config.json) that Hugging Face has for the same model, and that text goes through
 * the one validated loader (tokenizer_load.c). The equivalence is the point: ponder promises
 * exact parity with the Hugging Face tokenizer, and this way a GGUF file gets the same code.
 *
 * tokenizer.ggml.model "gpt2" (byte-level BPE: Llama 3, Qwen2, DeepSeek):
 *   tokens are already in byte-level form and merges are "left right" strings, as in
 *   tokenizer.json; token_type 3 (control) and 4 (user-defined) become added tokens (special
 *   and not), 5 (unused: llama.cpp's padding rows) are left out. The pre-tokenizer is not in
 *   the file: tokenizer.ggml.pre names it, and each name known here maps to the Split regex,
 *   normaliser and ignore_merges of that family's tokenizer.json.
 * tokenizer.ggml.model "llama" (SentencePiece BPE: Llama 2, Mistral):
 *   the vocabulary with byte-fallback tokens; merges are rebuilt from the pieces' scores the way
 *   transformers' converter did for the hub's tokenizer.json files (put_spm_merges), unless the
 *   file has tokenizer.ggml.merges (`ponder quantize` writes them for a tokenizer.json whose
 *   merges the scores cannot say, one trained by `tokenizers`; llama.cpp does not read them for
 *   this model): then those; normaliser Prepend("▁") (when add_space_prefix) + Replace(" ",
 *   "▁"), decoder Replace + ByteFallback + Fuse + Strip: the legacy layout of Llama 2's
 *   tokenizer.json. Control and unknown tokens are special added tokens, user-defined ones
 *   plain added tokens.
 * Both: add_bos_token / add_eos_token make the post-processor; bos/eos ids and
 * tokenizer.chat_template go to the config part (the chat template is then recognised, or
 * refused when rendered, as for a model directory). */
#include "tokenizer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

/* Pre-tokenizer types (tokenizer.ggml.pre) and their tokenizer.json pieces. */
#define RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
static const struct {
    const char *pre;     /* tokenizer.ggml.pre */
    const char *regex;   /* Split regex, or NULL: ByteLevel's GPT-2 regex */
    int nfc;             /* normaliser NFC */
    int ignore_merges;
    int add_bos;         /* when tokenizer.ggml.add_bos_token is absent (llama.cpp's defaults) */
} pre_types[] = {
    {"llama-bpe", RE_LLAMA3, 0, 1, 1},
    {"llama3", RE_LLAMA3, 0, 1, 1},
    {"llama-v3", RE_LLAMA3, 0, 1, 1},
    {"qwen2", RE_QWEN2, 1, 0, 0},
    {"deepseek-r1-qwen", RE_QWEN2, 1, 0, 0},
    {"gpt-2", NULL, 0, 0, 0},
};

/* The tokenizer.ggml.pre name of a byte-level tokenizer.json's pre-tokenizer: its Split regex
 * (NULL for ByteLevel's own GPT-2 regex), NFC normaliser and ignore_merges; NULL when no
 * name here reads back as that tokenizer. For `ponder quantize` (gguf_convert.c). */
const char *tok_gguf_pre_name(const char *regex, int nfc, int ignore_merges) {
    for (size_t i = 0; i < sizeof pre_types / sizeof *pre_types; i++) {
        const char *r = pre_types[i].regex;
        if (((!r && !regex) || (r && regex && !strcmp(r, regex))) && pre_types[i].nfc == !!nfc &&
            pre_types[i].ignore_merges == !!ignore_merges)
            return pre_types[i].pre;
    }
    return NULL;
}

/* The metadata a tokenizer needs, checked. */
typedef struct gtok {
    const pd_gguf *g;
    const char *name;
    const pd_gguf_kv *tokens, *types, *merges, *scores;
    uint64_t n;
    int64_t bos, eos, unk;
    int add_bos, add_eos, add_space;
    const char **tok;     /* (n) token text (not NUL-terminated) */
    size_t *tok_len;
} gtok;

static int type_of(const gtok *t, uint64_t i) { return t->types ? (int)pd_gguf_arr_int(t->g, t->types, i) : 1; }

/* "tokens[i]" as a JSON string. */
static int put_tok(pd_buf *b, const gtok *t, int64_t i) { return pd_buf_json_str(b, t->tok[i], t->tok_len[i]); }

/* The added_tokens array: ids whose type is in the mask (bit per type), special when the
 * type is in special_mask. */
static int put_added(pd_buf *b, const gtok *t, unsigned mask, unsigned special_mask) {
    int rc = pd_buf_puts(b, "\"added_tokens\":[");
    int first = 1;
    for (uint64_t i = 0; i < t->n && !rc; i++) {
        int ty = type_of(t, i);
        if (ty < 0 || ty > 31 || !(mask & (1u << ty))) continue;
        rc = pd_buf_printf(b, "%s{\"id\":%llu,\"content\":", first ? "" : ",", (unsigned long long)i);
        if (!rc) rc = put_tok(b, t, (int64_t)i);
        if (!rc) rc = pd_buf_printf(b, ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
                                       "\"special\":%s}", (special_mask & (1u << ty)) ? "true" : "false");
        first = 0;
    }
    return rc ? rc : pd_buf_puts(b, "],");
}

/* A TemplateProcessing post-processor adding BOS and/or EOS, or null. */
static int put_post(pd_buf *b, const gtok *t) {
    int bos = t->add_bos && t->bos >= 0, eos = t->add_eos && t->eos >= 0, rc = 0;
    if (!bos && !eos) return pd_buf_puts(b, "\"post_processor\":null,");
    rc = pd_buf_puts(b, "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[");
    if (!rc && bos) rc = pd_buf_puts(b, "{\"SpecialToken\":{\"id\":\"B\",\"type_id\":0}},");
    if (!rc) rc = pd_buf_puts(b, "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}");
    if (!rc && eos) rc = pd_buf_puts(b, ",{\"SpecialToken\":{\"id\":\"E\",\"type_id\":0}}");
    if (!rc) rc = pd_buf_puts(b, "],\"pair\":[],\"special_tokens\":{");
    if (!rc && bos) {
        rc = pd_buf_printf(b, "\"B\":{\"id\":\"B\",\"ids\":[%lld],\"tokens\":[", (long long)t->bos);
        if (!rc) rc = put_tok(b, t, t->bos);
        if (!rc) rc = pd_buf_puts(b, eos ? "]}," : "]}");
    }
    if (!rc && eos) {
        rc = pd_buf_printf(b, "\"E\":{\"id\":\"E\",\"ids\":[%lld],\"tokens\":[", (long long)t->eos);
        if (!rc) rc = put_tok(b, t, t->eos);
        if (!rc) rc = pd_buf_puts(b, "]}");
    }
    return rc ? rc : pd_buf_puts(b, "}},");
}

/* The vocabulary object: every token whose type is in mask. */
static int put_vocab(pd_buf *b, const gtok *t, unsigned mask) {
    int rc = pd_buf_puts(b, "\"vocab\":{"), first = 1;
    for (uint64_t i = 0; i < t->n && !rc; i++) {
        int ty = type_of(t, i);
        if (ty < 0 || ty > 31 || !(mask & (1u << ty))) continue;
        if (!first) rc = pd_buf_putc(b, ',');
        if (!rc) rc = put_tok(b, t, (int64_t)i);
        if (!rc) rc = pd_buf_printf(b, ":%llu", (unsigned long long)i);
        first = 0;
    }
    return rc ? rc : pd_buf_puts(b, "},");
}

/* "merges": the "left right" strings of tokenizer.ggml.merges, as they are. */
static int put_merge_strings(pd_buf *b, const pd_gguf *g, const pd_gguf_kv *merges) {
    int rc = pd_buf_puts(b, "\"merges\":[");
    size_t off = merges->off;
    for (uint64_t i = 0; i < merges->n && !rc; i++) {
        const char *s;
        size_t n;
        pd_gguf_arr_str_next(g, &off, &s, &n);
        if (i) rc = pd_buf_putc(b, ',');
        if (!rc) rc = pd_buf_json_str(b, s, n);
    }
    return rc ? rc : pd_buf_putc(b, ']');
}

/* ---- SentencePiece merges ---- */

typedef struct spm_merge { float score; int32_t id, left, right; } spm_merge;

static int merge_cmp(const void *x, const void *y) {
    const spm_merge *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    if (a->left != b->left) return a->left < b->left ? -1 : 1;
    return a->right < b->right ? -1 : a->right > b->right;
}

/* Hash table from token text to id (first id of a text). */
typedef struct text_tab { int32_t *slot; size_t mask; } text_tab;

static int32_t text_find(const text_tab *h, const gtok *t, const char *s, size_t n) {
    for (size_t i = tok_hash(s, n) & h->mask;; i = (i + 1) & h->mask) {
        int32_t id = h->slot[i];
        if (id < 0) return -1;
        if (t->tok_len[id] == n && !memcmp(t->tok[id], s, n)) return id;
    }
}

/* Merges as transformers' converter built them from a SentencePiece model for the
 * tokenizer.json files on the hub (SentencePieceExtractor with vocab_scores): for each piece,
 * every split into two pieces at a character boundary, ranked by the merged piece's score
 * (highest first: SentencePiece's BPE merges the best-scoring pair first); ties in the order
 * that code's stable sorts leave them (piece id, then left and right ids). Newer transformers
 * rank by id instead, which differs for Llama 2 (its whitespace pieces "▁▁"... have scores
 * far below their ids' rank), and Hugging Face's published ids follow the scores. */
static int put_spm_merges(pd_buf *b, const gtok *t, pd_error *err) {
    text_tab h = {0};
    size_t cap = 16;
    while (cap < 2 * t->n) cap <<= 1;
    h.mask = cap - 1;
    h.slot = malloc(cap * sizeof *h.slot);
    spm_merge *m = NULL;
    size_t n_m = 0, cap_m = 0;
    int rc = 0;
    if (!h.slot) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", t->name);
    memset(h.slot, 0xff, cap * sizeof *h.slot);
    for (uint64_t i = 0; i < t->n; i++) {
        if (text_find(&h, t, t->tok[i], t->tok_len[i]) >= 0) continue;
        size_t k = tok_hash(t->tok[i], t->tok_len[i]) & h.mask;
        while (h.slot[k] >= 0) k = (k + 1) & h.mask;
        h.slot[k] = (int32_t)i;
    }
    for (uint64_t i = 0; i < t->n && !rc; i++) {
        const unsigned char *s = (const unsigned char *)t->tok[i];
        size_t n = t->tok_len[i];
        for (size_t cut = 1; cut < n; cut++) {
            if ((s[cut] & 0xc0) == 0x80) continue; /* inside a character */
            int32_t l = text_find(&h, t, (const char *)s, cut), r = l < 0 ? -1 : text_find(&h, t, (const char *)s + cut, n - cut);
            if (l < 0 || r < 0) continue;
            if (pd_grow((void **)&m, &cap_m, n_m + 1, sizeof *m)) {
                rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", t->name);
                break;
            }
            float sc = pd_gguf_arr_f32(t->g, t->scores, i);
            m[n_m++] = (spm_merge){sc == sc ? sc : -INFINITY, (int32_t)i, l, r}; /* NaN: last (keeps the order total) */
        }
    }
    if (!rc) {
        qsort(m, n_m, sizeof *m, merge_cmp);
        rc = pd_buf_puts(b, "\"merges\":[");
        for (size_t i = 0; i < n_m && !rc; i++) {
            if (i) rc = pd_buf_putc(b, ',');
            if (!rc) rc = pd_buf_puts(b, "[");
            if (!rc) rc = put_tok(b, t, m[i].left);
            if (!rc) rc = pd_buf_putc(b, ',');
            if (!rc) rc = put_tok(b, t, m[i].right);
            if (!rc) rc = pd_buf_puts(b, "]");
        }
        if (!rc) rc = pd_buf_puts(b, "]");
        if (rc) rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", t->name);
    }
    free(m);
    free(h.slot);
    return rc;
}

/* ---- the two documents ---- */

/* "key": "value" of a string metadata entry into a C string (NULL when absent). */
static int meta_str(const pd_gguf *g, const char *key, char **out, pd_error *err) {
    const char *s;
    size_t n;
    *out = NULL;
    if (!pd_gguf_find(g, key)) return 0;
    int rc = pd_gguf_get_str(g, key, &s, &n, err);
    if (rc) return rc;
    if (!(*out = malloc(n + 1))) return pd_err_set(err, PD_ENOMEM, "out of memory");
    memcpy(*out, s, n);
    (*out)[n] = 0;
    return 0;
}

/* Read and check the metadata into t. */
static int read_meta(const pd_gguf *g, const char *name, gtok *t, pd_error *err) {
    memset(t, 0, sizeof *t);
    t->g = g, t->name = name;
    int rc = pd_gguf_get_arr(g, "tokenizer.ggml.tokens", PD_GGUF_STRING, &t->tokens, err);
    if (rc) return rc;
    t->n = t->tokens->n;
    if (t->n == 0 || t->n > TOK_MAX_ID) return pd_err_set(err, PD_EFORMAT, "%s: tokenizer.ggml.tokens has %llu tokens", name, (unsigned long long)t->n);
    const pd_gguf_kv *ty = pd_gguf_find(g, "tokenizer.ggml.token_type");
    if (ty) {
        if (ty->type != PD_GGUF_ARRAY || ty->n != t->n || ty->arr_type == PD_GGUF_STRING || ty->arr_type == PD_GGUF_ARRAY ||
            ty->arr_type == PD_GGUF_F32 || ty->arr_type == PD_GGUF_F64)
            return pd_err_set(err, PD_EFORMAT, "%s: tokenizer.ggml.token_type must be an integer array with one entry per token", name);
        t->types = ty;
    }
    int64_t v;
#define ID(key, dst) \
    if ((rc = pd_gguf_get_int(g, key, 0, -1, -1, (int64_t)t->n - 1, &v, err))) return rc; \
    dst = v
    ID("tokenizer.ggml.bos_token_id", t->bos);
    ID("tokenizer.ggml.eos_token_id", t->eos);
    ID("tokenizer.ggml.unknown_token_id", t->unk);
#undef ID
    t->tok = malloc(t->n * sizeof *t->tok);
    t->tok_len = malloc(t->n * sizeof *t->tok_len);
    if (!t->tok || !t->tok_len) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
    size_t off = t->tokens->off;
    for (uint64_t i = 0; i < t->n; i++) {
        pd_gguf_arr_str_next(g, &off, &t->tok[i], &t->tok_len[i]);
        if (t->tok_len[i] == 0 || t->tok_len[i] > TOK_MAX_TOKEN_LEN || tok_utf8_valid_prefix((const unsigned char *)t->tok[i], t->tok_len[i]) != t->tok_len[i])
            return pd_err_set(err, PD_EFORMAT, "%s: tokenizer.ggml.tokens[%llu] is empty, too long or not UTF-8", name, (unsigned long long)i);
    }
    return 0;
}

/* Write tokenizer.json text for the file's tokenizer into tj. */
static int build_tokenizer_json(const pd_gguf *g, gtok *t, pd_buf *tj, pd_error *err) {
    const char *model;
    size_t mlen;
    int rc = pd_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen, err);
    if (rc) return rc;
    int gpt2 = mlen == 4 && !memcmp(model, "gpt2", 4), spm = mlen == 5 && !memcmp(model, "llama", 5);
    if (!gpt2 && !spm)
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported (gpt2, llama)", t->name,
                          (int)(mlen < 40 ? mlen : 40), model);
    int64_t v;
    if ((rc = pd_gguf_get_int(g, "tokenizer.ggml.add_bos_token", 0, -1, 0, 1, &v, err))) return rc;
    t->add_bos = v < 0 ? spm : (int)v; /* gpt2: the pre-tokenizer's default, below */
    int bos_given = v >= 0;
    if ((rc = pd_gguf_get_int(g, "tokenizer.ggml.add_eos_token", 0, 0, 0, 1, &v, err))) return rc;
    t->add_eos = (int)v;
    if ((rc = pd_gguf_get_int(g, "tokenizer.ggml.add_space_prefix", 0, 1, 0, 1, &v, err))) return rc;
    t->add_space = (int)v;
    /* token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
    rc = pd_buf_puts(tj, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,");
    if (gpt2) {
        const char *pre = "";
        size_t plen = 0;
        if (pd_gguf_find(g, "tokenizer.ggml.pre") && (rc = pd_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &plen, err))) return rc;
        int k = -1;
        for (size_t i = 0; i < sizeof pre_types / sizeof *pre_types; i++)
            if (plen == strlen(pre_types[i].pre) && !memcmp(pre, pre_types[i].pre, plen)) k = (int)i;
        if (k < 0)
            return pd_err_set(err, PD_EUNSUPPORTED, "%s: tokenizer.ggml.pre '%.*s' is not a pre-tokenizer known here (llama-bpe, "
                              "qwen2, deepseek-r1-qwen, gpt-2)", t->name, (int)(plen < 40 ? plen : 40), pre);
        if (!bos_given) t->add_bos = pre_types[k].add_bos;
        if ((rc = pd_gguf_get_arr(g, "tokenizer.ggml.merges", PD_GGUF_STRING, &t->merges, err))) return rc;
        if (!rc) rc = put_added(tj, t, 1u << 3 | 1u << 4, 1u << 3);
        if (!rc) rc = pd_buf_printf(tj, "\"normalizer\":%s,", pre_types[k].nfc ? "{\"type\":\"NFC\"}" : "null");
        if (!rc && pre_types[k].regex) {
            rc = pd_buf_puts(tj, "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
                                 "{\"Regex\":");
            if (!rc) rc = pd_buf_json_str(tj, pre_types[k].regex, strlen(pre_types[k].regex));
            if (!rc) rc = pd_buf_puts(tj, "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
                                          "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]},");
        }
        else if (!rc)
            rc = pd_buf_puts(tj, "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},");
        if (!rc) rc = put_post(tj, t);
        if (!rc) rc = pd_buf_puts(tj, "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,"
                                      "\"use_regex\":false},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                                      "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,"
                                      "\"byte_fallback\":false,");
        if (!rc) rc = pd_buf_printf(tj, "\"ignore_merges\":%s,", pre_types[k].ignore_merges ? "true" : "false");
        if (!rc) rc = put_vocab(tj, t, 1u << 1 | 1u << 2 | 1u << 6);
        if (!rc) rc = put_merge_strings(tj, g, t->merges);
        if (!rc) rc = pd_buf_puts(tj, "}}");
    } else {
        if (t->unk < 0) t->unk = 0;
        if ((rc = pd_gguf_get_arr(g, "tokenizer.ggml.scores", PD_GGUF_F32, &t->scores, err))) return rc;
        if (t->scores->n != t->n)
            return pd_err_set(err, PD_EFORMAT, "%s: tokenizer.ggml.scores has %llu entries for %llu tokens", t->name,
                              (unsigned long long)t->scores->n, (unsigned long long)t->n);
        if (!rc) rc = put_added(tj, t, 1u << 2 | 1u << 3 | 1u << 4, 1u << 2 | 1u << 3);
        if (!rc) rc = pd_buf_printf(tj, "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[%s{\"type\":\"Replace\",\"pattern\":"
                                    "{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]},\"pre_tokenizer\":null,",
                                    t->add_space ? "{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"}," : "");
        if (!rc) rc = put_post(tj, t);
        if (!rc) rc = pd_buf_printf(tj, "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":"
                                    "{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}%s]},",
                                    t->add_space ? ",{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}" : "");
        if (!rc) rc = pd_buf_puts(tj, "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":");
        if (!rc) rc = put_tok(tj, t, t->unk);
        if (!rc) rc = pd_buf_puts(tj, ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":true,"
                                      "\"byte_fallback\":true,\"ignore_merges\":false,");
        if (!rc) rc = put_vocab(tj, t, ~0u);
        if (!rc && pd_gguf_find(g, "tokenizer.ggml.merges")) { /* the file's own merges (see the top) */
            if ((rc = pd_gguf_get_arr(g, "tokenizer.ggml.merges", PD_GGUF_STRING, &t->merges, err))) return rc;
            rc = put_merge_strings(tj, g, t->merges);
        } else if (!rc)
            rc = put_spm_merges(tj, t, err);
        if (!rc) rc = pd_buf_puts(tj, "}}");
        else if (err && err->code) return err->code;
    }
    return rc ? pd_err_set(err, PD_ENOMEM, "%s: out of memory", t->name) : 0;
}

/* Write tokenizer_config.json text (bos/eos tokens, chat template) into cj. */
static int build_config_json(const pd_gguf *g, const gtok *t, pd_buf *cj, pd_error *err) {
    char *tmpl = NULL;
    int rc = meta_str(g, "tokenizer.chat_template", &tmpl, err);
    if (rc) return rc;
    rc = pd_buf_putc(cj, '{');
    if (!rc && t->bos >= 0) {
        rc = pd_buf_puts(cj, "\"bos_token\":");
        if (!rc) rc = put_tok(cj, t, t->bos);
        if (!rc) rc = pd_buf_putc(cj, ',');
    }
    if (!rc && t->eos >= 0) {
        rc = pd_buf_puts(cj, "\"eos_token\":");
        if (!rc) rc = put_tok(cj, t, t->eos);
        if (!rc) rc = pd_buf_putc(cj, ',');
    }
    if (!rc && tmpl) {
        rc = pd_buf_puts(cj, "\"chat_template\":");
        if (!rc) rc = pd_buf_json_str(cj, tmpl, strlen(tmpl));
        if (!rc) rc = pd_buf_putc(cj, ',');
    }
    if (!rc) rc = pd_buf_puts(cj, "\"from\":\"gguf\"}");
    free(tmpl);
    return rc ? pd_err_set(err, PD_ENOMEM, "%s: out of memory", t->name) : 0;
}

/* Write the two documents for an opened GGUF file (tj, cj start empty); for the tests and
 * for tok_load_gguf. */
int tok_gguf_json(const pd_gguf *g, const char *name, pd_buf *tj, pd_buf *cj, pd_error *err) {
    gtok t;
    int rc = read_meta(g, name, &t, err);
    if (!rc) rc = build_tokenizer_json(g, &t, tj, err);
    if (!rc) rc = build_config_json(g, &t, cj, err);
    free(t.tok);
    free(t.tok_len);
    return rc;
}

pd_tokenizer *tok_load_gguf(const char *path, pd_error *err) {
    pd_gguf g;
    if (pd_gguf_open(path, &g, err)) return NULL;
    pd_buf tj = {0}, cj = {0};
    pd_tokenizer *tok = NULL;
    if (!tok_gguf_json(&g, path, &tj, &cj, err)) tok = pd_tokenizer_load_json(tj.data, tj.len, cj.data, cj.len, path, err);
    pd_buf_free(&tj);
    pd_buf_free(&cj);
    pd_gguf_close(&g);
    return tok;
}
