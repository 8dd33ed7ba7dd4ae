/* tokenizer_load.c — reading tokenizer.json (and tokenizer_config.json) into the flat
 * tables of tokenizer_internal.h.
 *
 * Only what the tokenizers of the Llama 2 / Llama 3 / Mistral / Qwen2 / DeepSeek families
 * declare is accepted; anything else is refused with PD_EUNSUPPORTED naming the field,
 * rather than tokenizing subtly wrong. A tokenizer with a ByteLevel step (pre-tokenizer or
 * decoder) is byte-level, one without is SentencePiece-style:
 *
 * Byte-level (Llama 3, Qwen2, DeepSeek):
 *   model        BPE (no dropout, no byte_fallback, no subword prefix/suffix), ignore_merges
 *   normalizer   null, NFC, or a Sequence of NFC
 *   pre_tokenizer Split (Regex or String pattern, behaviour Isolated), ByteLevel (with or
 *                without its GPT-2 regex, no prefix space), Digits, Sequence of these with
 *                ByteLevel last
 *   decoder      ByteLevel
 * SentencePiece-style (Llama 2, Mistral, Math-Shepherd), in the two layouts real files use:
 * legacy (normalizer Sequence[Prepend("▁"), Replace(" " -> "▁")], pre_tokenizer null) and
 * newer (normalizer null, pre_tokenizer Metaspace):
 *   model        BPE (no dropout, no subword prefix/suffix), byte_fallback, fuse_unk,
 *                unk_token, ignore_merges
 *   normalizer   null, NFC, Prepend, Replace with a String pattern, Sequence of these
 *   pre_tokenizer null, or Metaspace (one-character replacement; prepend_scheme first /
 *                always / never, or the older add_prefix_space; split true or false)
 *   decoder      Metaspace, or Replace (String pattern), ByteFallback, Fuse, Strip (leading
 *                characters only, after Fuse): each optional, in that order
 * Both:
 *   post_processor TemplateProcessing (single), ByteLevel, Sequence of these, null
 *   added_tokens with special, lstrip, rstrip, single_word, normalized
 * JSON is parsed with jansson; the parsed tree is freed as soon as the tables are built.
 * Every count and id is bounds-checked (see TOK_MAX_* in tokenizer_internal.h), and every
 * error message starts with the file name and names the JSON path that is wrong.
 *
 * Byte-level BPE maps each byte to a printable code point (GPT-2's bytes_to_unicode) and
 * the vocabulary is written in that mapped form. At load time each token's form is mapped
 * back to raw bytes once, so that encoding works on raw bytes and decoding is a copy.
 * SentencePiece-style vocabularies are kept as written; each token's bytes are what the
 * decoder makes of it alone ("▁" -> " ", "<0x0A>" -> byte 0x0A), see spm_set_bytes. */
#include "tokenizer_internal.h"
#include "model/gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- hashing */

/* 64-bit FNV-1a style hash with a final avalanche; returns the hash of p[0..n). */
uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Looks up raw bytes in the BPE vocabulary; returns the id or -1. */
int32_t tok_lookup_bytes(const pd_tokenizer *t, const void *p, size_t n) {
    if (!t->byte_tab) return -1;
    size_t i = tok_hash(p, n) & t->byte_mask;
    for (;;) {
        uint32_t v = t->byte_tab[i];
        if (!v) return -1;
        const tok_entry *e = &t->tokens[v - 1];
        if (e->bytes_len == n && memcmp(t->arena + e->bytes_off, p, n) == 0) return (int32_t)(v - 1);
        i = (i + 1) & t->byte_mask;
    }
}

/* Looks up a vocabulary form among the model's tokens; returns the id or -1. */
int32_t tok_lookup_form(const pd_tokenizer *t, const char *p, size_t n) {
    if (!t->form_tab) return -1;
    size_t i = tok_hash(p, n) & t->form_mask;
    for (;;) {
        uint32_t v = t->form_tab[i];
        if (!v) return -1;
        const tok_entry *e = &t->tokens[v - 1];
        if (e->form_len == n && memcmp(t->arena + e->form_off, p, n) == 0) return (int32_t)(v - 1);
        i = (i + 1) & t->form_mask;
    }
}

/* Capacity (a power of two, at least twice n) for an open-addressing table of n keys. */
static size_t table_size(size_t n) {
    size_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

/* ---------------------------------------------------------------- UTF-8 */

/* How many continuation bytes follow lead byte c (0 when c is not a valid lead byte), and
 * the range [*lo, *hi] allowed for the first of them (which excludes overlong forms,
 * surrogates and code points past U+10FFFF). */
size_t tok_utf8_lead(unsigned c, unsigned *lo, unsigned *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c == 0xE0) return *lo = 0xA0, 2;
    if (c == 0xED) return *hi = 0x9F, 2;
    if (c >= 0xE1 && c <= 0xEF) return 2;
    if (c == 0xF0) return *lo = 0x90, 3;
    if (c >= 0xF1 && c <= 0xF3) return 3;
    if (c == 0xF4) return *hi = 0x8F, 3;
    return 0;
}

/* Length of the valid UTF-8 prefix of p[0..n). */
size_t tok_utf8_valid_prefix(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], lo, hi;
        if (c < 0x80) { i++; continue; }
        size_t need = tok_utf8_lead(c, &lo, &hi);
        if (!need) return i;
        if (i + need >= n) return i; /* truncated */
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return n;
}

/* Decodes one UTF-8 code point from valid text at *p (advancing it); returns it. */
static uint32_t utf8_next(const unsigned char **p) {
    const unsigned char *s = *p;
    uint32_t c = s[0];
    if (c < 0x80) { *p = s + 1; return c; }
    if (c < 0xE0) { *p = s + 2; return ((c & 0x1F) << 6) | (s[1] & 0x3F); }
    if (c < 0xF0) { *p = s + 3; return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F); }
    *p = s + 4;
    return ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* GPT-2's bytes_to_unicode, inverted: code point -> byte, for code points below 324
 * (-1 when the code point is not one a byte maps to). */
static void byte_level_inverse(int16_t inv[324]) {
    for (int i = 0; i < 324; i++) inv[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        if (printable) inv[b] = (int16_t)b;
        else inv[256 + n++] = (int16_t)b;
    }
}

/* ---------------------------------------------------------------- arena */

/* Appends n bytes (plus a NUL) to the arena; stores their offset; returns 0 or PD_ENOMEM. */
static int arena_add(pd_tokenizer *t, const void *p, size_t n, uint32_t *off) {
    if (t->arena_len + n + 1 > 0xFFFFFFF0u) return PD_ENOMEM;
    if (pd_grow((void **)&t->arena, &t->arena_cap, t->arena_len + n + 1, 1)) return PD_ENOMEM;
    *off = (uint32_t)t->arena_len;
    if (n) memcpy(t->arena + t->arena_len, p, n);
    t->arena[t->arena_len + n] = 0;
    t->arena_len += n + 1;
    return 0;
}

/* ---------------------------------------------------------------- helpers */

typedef struct load_ctx {
    pd_tokenizer *t;
    const char *file;   /* name used in messages */
    pd_error *err;
} load_ctx;

#define FAIL(ctx, code, ...) \
    (pd_err_set((ctx)->err, code, __VA_ARGS__), pd_err_prefix((ctx)->err, "%s", (ctx)->file))

/* A JSON member that must be a string when present: its text, or NULL when absent/null.
 * *bad is set when it is present with another type. */
static const char *opt_str(json_t *obj, const char *key, int *bad) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) { *bad = 1; return NULL; }
    return json_string_value(v);
}

/* A JSON boolean member, def when absent or null; -1 when it has another type. */
static int opt_bool(json_t *obj, const char *key, int def) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_boolean(v)) return -1;
    return json_is_true(v);
}

/* Type name of a JSON value, for messages. */
static const char *jtype(json_t *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Whether s[0..n) is a token that tokenizers' ByteFallback decoder reads as a byte: six bytes
 * "<0x" XX ">" where XX parses with Rust's u8::from_str_radix(XX, 16) (two hex digits of either
 * case, or '+' and one). Stores the byte in *b. */
static int fallback_byte(const char *s, size_t n, unsigned char *b) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return 0;
    int hi, lo;
    unsigned char x = (unsigned char)s[3], y = (unsigned char)s[4];
    lo = y >= '0' && y <= '9' ? y - '0' : y >= 'a' && y <= 'f' ? y - 'a' + 10 : y >= 'A' && y <= 'F' ? y - 'A' + 10 : -1;
    hi = x == '+' ? 0 : x >= '0' && x <= '9' ? x - '0' : x >= 'a' && x <= 'f' ? x - 'a' + 10 : x >= 'A' && x <= 'F' ? x - 'A' + 10 : -1;
    if (hi < 0 || lo < 0) return 0;
    *b = (unsigned char)(hi * 16 + lo);
    return 1;
}

/* SentencePiece-style: sets what e decodes to on its own from the string the decoder gets for
 * it (n bytes at arena offset off): the string through the decoder's Replace (or Metaspace's
 * "▁" -> " "), or the byte of a ByteFallback token; and, for a Metaspace decoder that drops
 * "▁" in the first token, that form too. Returns 0 or an error. */
static int spm_set_bytes(load_ctx *c, tok_entry *e, uint32_t off, size_t n) {
    pd_tokenizer *t = c->t;
    pd_buf src = {0}, out = {0}, first = {0};
    int rc = 0;
    unsigned char b;
    /* (arena_add may move the arena: pointers into it are taken afresh for each use) */
    if (pd_buf_append(&src, t->arena + off, n)) goto oom;
    if (t->dec_from_len ? tok_replace(&out, src.data, n, t->arena + t->dec_from_off, t->dec_from_len,
                                      t->arena + t->dec_to_off, t->dec_to_len)
                        : pd_buf_append(&out, src.data, n))
        goto oom;
    e->byte_tok = 0;
    if (t->dec_byte_fallback && fallback_byte(out.data, out.len, &b)) {
        if (arena_add(t, &b, 1, &e->bytes_off)) goto oom;
        e->bytes_len = 1;
        e->byte_tok = 1;
    } else if (out.len == n && (n == 0 || memcmp(out.data, src.data, n) == 0)) {
        e->bytes_off = off;
        e->bytes_len = (uint32_t)n;
    } else {
        if (arena_add(t, out.data, out.len, &e->bytes_off)) goto oom;
        e->bytes_len = (uint32_t)out.len;
    }
    e->first_off = e->bytes_off;
    e->first_len = e->bytes_len;
    if (t->dec_meta && t->dec_drop_first && !e->byte_tok) {
        if (tok_replace(&first, src.data, n, t->arena + t->dec_from_off, t->dec_from_len, "", 0) ||
            arena_add(t, first.data, first.len, &e->first_off))
            goto oom;
        e->first_len = (uint32_t)first.len;
    }
    goto done;
oom:
    rc = FAIL(c, PD_ENOMEM, "out of memory");
done:
    pd_buf_free(&src);
    pd_buf_free(&out);
    pd_buf_free(&first);
    return rc;
}

/* Sets e's decoded bytes from the text of n bytes at arena offset off. ByteLevel decoding:
 * every code point maps back to a byte, else the raw text is used. Returns 1 when mapped, 0
 * when raw, or an error code. SentencePiece-style tokenizers: see spm_set_bytes (never
 * mapped). */
static int set_bytes(load_ctx *c, const int16_t inv[324], tok_entry *e, uint32_t off, size_t n) {
    pd_tokenizer *t = c->t;
    if (t->spm) return spm_set_bytes(c, e, off, n);
    unsigned char tmp[TOK_MAX_TOKEN_LEN];
    size_t nb = 0;
    int mapped = 1;
    const unsigned char *p = (const unsigned char *)t->arena + off, *end = p + n;
    while (p < end) {
        uint32_t cp = utf8_next(&p);
        if (cp >= 324 || inv[cp] < 0) { mapped = 0; break; }
        tmp[nb++] = (unsigned char)inv[cp];
    }
    if (mapped) {
        if (arena_add(t, tmp, nb, &e->bytes_off)) return FAIL(c, PD_ENOMEM, "out of memory");
        e->bytes_len = (uint32_t)nb;
    } else {
        e->bytes_off = off;
        e->bytes_len = (uint32_t)n;
    }
    return mapped;
}

/* Registers a token form for id (the model vocabulary or an added token): stores the form
 * and its decoded bytes. Returns 1 or 0 (see set_bytes) or an error code. */
static int set_token(load_ctx *c, const int16_t inv[324], int32_t id, const char *form, size_t n) {
    pd_tokenizer *t = c->t;
    tok_entry *e = &t->tokens[id];
    if (arena_add(t, form, n, &e->form_off)) return FAIL(c, PD_ENOMEM, "out of memory");
    e->form_len = (uint32_t)n;
    e->present = 1;
    return set_bytes(c, inv, e, e->form_off, n);
}

/* ---------------------------------------------------------------- model */

/* Reads model.vocab: fills tokens[], form_tab and byte_tab. Returns 0 or an error. */
static int load_vocab(load_ctx *c, json_t *vocab, const int16_t inv[324], json_t *added) {
    pd_tokenizer *t = c->t;
    if (!json_is_object(vocab)) return FAIL(c, PD_EFORMAT, "model.vocab is %s, expected an object", jtype(vocab));
    size_t n = json_object_size(vocab);
    if (n == 0) return FAIL(c, PD_EFORMAT, "model.vocab is empty");
    if (n > TOK_MAX_ID) return FAIL(c, PD_ELIMIT, "model.vocab has %zu tokens (limit %d)", n, TOK_MAX_ID);
    /* Size the id table from the largest id (vocab and added tokens). */
    int64_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val))
            return FAIL(c, PD_EFORMAT, "model.vocab[\"%.60s\"] is %s, expected an integer id", key, jtype(val));
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= TOK_MAX_ID)
            return FAIL(c, PD_ELIMIT, "model.vocab[\"%.60s\"] = %lld is out of range [0, %d)", key, (long long)id, TOK_MAX_ID);
        if (id > max_id) max_id = id;
    }
    size_t na = json_is_array(added) ? json_array_size(added) : 0;
    for (size_t i = 0; i < na; i++) {
        json_t *id = json_object_get(json_array_get(added, i), "id");
        if (json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) < TOK_MAX_ID &&
            json_integer_value(id) > max_id)
            max_id = json_integer_value(id);
    }
    /* Ids are dense in real tokenizers; a lone huge id would only inflate the tables. */
    if ((size_t)max_id >= 2 * (n + na) + 1024)
        return FAIL(c, PD_ELIMIT, "largest token id %lld is far beyond the %zu tokens declared (ids must be dense)",
                    (long long)max_id, n + na);
    t->n_ids = (size_t)max_id + 1;
    t->tokens = calloc(t->n_ids, sizeof *t->tokens);
    t->form_mask = table_size(n) - 1;
    t->byte_mask = table_size(n) - 1;
    t->form_tab = calloc(t->form_mask + 1, sizeof *t->form_tab);
    t->byte_tab = calloc(t->byte_mask + 1, sizeof *t->byte_tab);
    if (!t->tokens || !t->form_tab || !t->byte_tab) return FAIL(c, PD_ENOMEM, "out of memory for %zu tokens", n);
    json_object_foreach(vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        size_t len = json_object_iter_key_len(json_object_key_to_iter(key));
        if (len > TOK_MAX_TOKEN_LEN)
            return FAIL(c, PD_ELIMIT, "model.vocab: token of id %d is %zu bytes long (limit %d)", id, len, TOK_MAX_TOKEN_LEN);
        if (t->tokens[id].present)
            return FAIL(c, PD_EFORMAT, "model.vocab: id %d is used by two tokens (\"%.60s\" and \"%.60s\")", id,
                        tok_form(t, id), key);
        int mapped = set_token(c, inv, id, key, len);
        if (mapped < 0) return mapped;
        t->n_vocab++;
        size_t i = tok_hash(key, len) & t->form_mask;
        while (t->form_tab[i]) i = (i + 1) & t->form_mask;
        t->form_tab[i] = (uint32_t)id + 1;
        if (mapped) {
            const tok_entry *e = &t->tokens[id];
            const char *b = t->arena + e->bytes_off;
            size_t j = tok_hash(b, e->bytes_len) & t->byte_mask;
            for (;;) {
                uint32_t v = t->byte_tab[j];
                if (!v) { t->byte_tab[j] = (uint32_t)id + 1; break; }
                const tok_entry *o = &t->tokens[v - 1];
                if (o->bytes_len == e->bytes_len && memcmp(t->arena + o->bytes_off, b, e->bytes_len) == 0) break;
                j = (j + 1) & t->byte_mask;
            }
        }
    }
    for (int b = 0; b < 256; b++) {
        unsigned char ch = (unsigned char)b;
        t->byte_id[b] = tok_lookup_bytes(t, &ch, 1);
    }
    return 0;
}

/* Inserts a merge (left, right) -> (rank, id); a repeated pair keeps the later rank. */
static void merge_put(pd_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & t->merge_mask;
    while (t->merge_tab[i].id >= 0 && t->merge_tab[i].key != key) i = (i + 1) & t->merge_mask;
    if (t->merge_tab[i].id < 0) t->n_merges++;
    t->merge_tab[i].key = key;
    t->merge_tab[i].rank = rank;
    t->merge_tab[i].id = id;
}

/* Reads model.merges ("a b" strings or ["a", "b"] pairs). Returns 0 or an error. */
static int load_merges(load_ctx *c, json_t *merges) {
    pd_tokenizer *t = c->t;
    if (!merges || json_is_null(merges)) merges = NULL;
    else if (!json_is_array(merges)) return FAIL(c, PD_EFORMAT, "model.merges is %s, expected an array", jtype(merges));
    size_t n = merges ? json_array_size(merges) : 0;
    if (n > TOK_MAX_MERGES) return FAIL(c, PD_ELIMIT, "model.merges has %zu entries (limit %d)", n, TOK_MAX_MERGES);
    t->merge_mask = table_size(n) - 1;
    t->merge_tab = malloc((t->merge_mask + 1) * sizeof *t->merge_tab);
    if (!t->merge_tab) return FAIL(c, PD_ENOMEM, "out of memory for %zu merges", n);
    for (size_t i = 0; i <= t->merge_mask; i++) t->merge_tab[i] = (tok_merge){0, 0, -1};
    char small[2 * TOK_MAX_TOKEN_LEN + 2];
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            size_t len = json_string_length(m);
            const char *sp = memchr(s, ' ', len);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)))
                return FAIL(c, PD_EFORMAT, "model.merges[%zu] \"%.80s\" is not two tokens separated by one space", i, s);
            a = s; la = (size_t)(sp - s);
            b = sp + 1; lb = len - la - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)); la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)); lb = json_string_length(json_array_get(m, 1));
        } else {
            return FAIL(c, PD_EFORMAT, "model.merges[%zu] is %s, expected \"a b\" or [\"a\", \"b\"]", i, jtype(m));
        }
        if (la > TOK_MAX_TOKEN_LEN || lb > TOK_MAX_TOKEN_LEN)
            return FAIL(c, PD_ELIMIT, "model.merges[%zu] has a token longer than %d bytes", i, TOK_MAX_TOKEN_LEN);
        int32_t ia = tok_lookup_form(t, a, la), ib = tok_lookup_form(t, b, lb);
        if (ia < 0) return FAIL(c, PD_EFORMAT, "model.merges[%zu]: token \"%.*s\" is not in model.vocab", i, (int)(la > 80 ? 80 : la), a);
        if (ib < 0) return FAIL(c, PD_EFORMAT, "model.merges[%zu]: token \"%.*s\" is not in model.vocab", i, (int)(lb > 80 ? 80 : lb), b);
        memcpy(small, a, la);
        memcpy(small + la, b, lb);
        int32_t im = tok_lookup_form(t, small, la + lb);
        if (im < 0)
            return FAIL(c, PD_EFORMAT, "model.merges[%zu]: merged token \"%.*s\" is not in model.vocab", i,
                        (int)(la + lb > 80 ? 80 : la + lb), small);
        merge_put(t, ia, ib, (uint32_t)i, im);
    }
    return 0;
}

/* Reads the "model" object. Returns 0 or an error. */
static int load_model(load_ctx *c, json_t *model, json_t *added, const int16_t inv[324]) {
    pd_tokenizer *t = c->t;
    if (!model || json_is_null(model)) return FAIL(c, PD_EFORMAT, "no \"model\" object");
    if (!json_is_object(model)) return FAIL(c, PD_EFORMAT, "\"model\" is %s, expected an object", jtype(model));
    int bad = 0;
    const char *type = opt_str(model, "type", &bad);
    if (bad) return FAIL(c, PD_EFORMAT, "model.type is not a string");
    if (type && strcmp(type, "BPE") != 0)
        return FAIL(c, PD_EUNSUPPORTED, "model.type \"%.40s\" is not supported (only BPE)", type);
    if (!json_object_get(model, "vocab")) return FAIL(c, PD_EFORMAT, "model has no \"vocab\"");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
        return FAIL(c, PD_EUNSUPPORTED, "model.dropout is set (BPE dropout is not supported)");
    int bf = opt_bool(model, "byte_fallback", 0), fu = opt_bool(model, "fuse_unk", 0);
    if (bf < 0) return FAIL(c, PD_EFORMAT, "model.byte_fallback is not a boolean");
    if (fu < 0) return FAIL(c, PD_EFORMAT, "model.fuse_unk is not a boolean");
    if (bf && !t->spm)
        return FAIL(c, PD_EUNSUPPORTED, "model.byte_fallback is true in a byte-level tokenizer (a ByteLevel "
                    "pre-tokenizer or decoder); byte fallback is only supported in SentencePiece-style ones");
    t->byte_fallback = bf;
    t->fuse_unk = fu;
    const char *pre = opt_str(model, "continuing_subword_prefix", &bad);
    const char *suf = opt_str(model, "end_of_word_suffix", &bad);
    if (bad) return FAIL(c, PD_EFORMAT, "model.continuing_subword_prefix / end_of_word_suffix is not a string");
    if ((pre && *pre) || (suf && *suf))
        return FAIL(c, PD_EUNSUPPORTED, "model.continuing_subword_prefix / end_of_word_suffix are not supported");
    int im = opt_bool(model, "ignore_merges", 0);
    if (im < 0) return FAIL(c, PD_EFORMAT, "model.ignore_merges is not a boolean");
    t->ignore_merges = im;
    int rc = load_vocab(c, json_object_get(model, "vocab"), inv, added);
    if (rc) return rc;
    const char *unk = opt_str(model, "unk_token", &bad);
    if (bad) return FAIL(c, PD_EFORMAT, "model.unk_token is not a string");
    t->unk_id = -1;
    if (unk) {
        t->unk_id = tok_lookup_form(t, unk, strlen(unk));
        if (t->unk_id < 0) return FAIL(c, PD_EFORMAT, "model.unk_token \"%.60s\" is not in model.vocab", unk);
    }
    /* byte fallback looks the model's own vocabulary up: format!("<{b:#04X}>") */
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->fallback_id[b] = tok_lookup_form(t, name, 6);
    }
    return load_merges(c, json_object_get(model, "merges"));
}

/* ---------------------------------------------------------------- added tokens */

/* Order of added tokens: by first byte, then longest first (leftmost-longest matching). */
static int added_cmp(const void *x, const void *y) {
    const tok_added *a = x, *b = y;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Sorts the added tokens for matching and fills added_first. */
static void index_added(pd_tokenizer *t) {
    qsort(t->added, t->n_added, sizeof *t->added, added_cmp);
    size_t k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < t->n_added && t->added[k].first < b) k++;
        t->added_first[b] = (uint32_t)k;
    }
    t->added_first[256] = (uint32_t)t->n_added;
}

/* Compiles t->word_re, the characters single_word counts as part of a word: tokenizers
 * tests its neighbours with the Rust regex crate's Unicode \w, which is Alphabetic (letters,
 * letter numbers, and marks such as Devanagari vowel signs or circled letters), all marks,
 * decimal digits, connector punctuation ('_') and the joiners U+200C/U+200D; not other
 * numbers such as '²'. Returns 0 or an error. */
static int compile_word_class(load_ctx *c) {
    pd_buf rx = {0};
    int ec;
    PCRE2_SIZE eo;
    if (pd_buf_printf(&rx, "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}%s]", TOK_EXTRA_L)) {
        pd_buf_free(&rx);
        return FAIL(c, PD_ENOMEM, "out of memory");
    }
    c->t->word_re = pcre2_compile((PCRE2_SPTR)rx.data, rx.len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    pd_buf_free(&rx);
    if (!c->t->word_re) return FAIL(c, PD_EUNSUPPORTED, "PCRE2 lacks the Alphabetic property (needs 10.40 or later)");
    return 0;
}

/* Reads "added_tokens". Returns 0 or an error. */
static int load_added(load_ctx *c, json_t *added, const int16_t inv[324]) {
    pd_tokenizer *t = c->t;
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return FAIL(c, PD_EFORMAT, "added_tokens is %s, expected an array", jtype(added));
    size_t n = json_array_size(added);
    if (n > TOK_MAX_ADDED) return FAIL(c, PD_ELIMIT, "added_tokens has %zu entries (limit %d)", n, TOK_MAX_ADDED);
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return FAIL(c, PD_ENOMEM, "out of memory");
    int single_word = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(added, i);
        if (!json_is_object(a)) return FAIL(c, PD_EFORMAT, "added_tokens[%zu] is %s, expected an object", i, jtype(a));
        json_t *jid = json_object_get(a, "id"), *jc = json_object_get(a, "content");
        if (!json_is_integer(jid)) return FAIL(c, PD_EFORMAT, "added_tokens[%zu].id is %s, expected an integer", i, jtype(jid));
        if (!json_is_string(jc)) return FAIL(c, PD_EFORMAT, "added_tokens[%zu].content is %s, expected a string", i, jtype(jc));
        json_int_t id = json_integer_value(jid);
        if (id < 0 || id >= TOK_MAX_ID || (size_t)id >= t->n_ids)
            return FAIL(c, PD_ELIMIT, "added_tokens[%zu].id %lld is out of range", i, (long long)id);
        size_t len = json_string_length(jc);
        if (len == 0) return FAIL(c, PD_EFORMAT, "added_tokens[%zu].content is empty", i);
        if (len > TOK_MAX_TOKEN_LEN) return FAIL(c, PD_ELIMIT, "added_tokens[%zu].content is %zu bytes (limit %d)", i, len, TOK_MAX_TOKEN_LEN);
        tok_added *d = &t->added[t->n_added];
        const char *flags[5] = {"special", "lstrip", "rstrip", "single_word", "normalized"};
        int v[5];
        for (int k = 0; k < 5; k++) {
            /* tokenizers' default: normalized = !special */
            int def = k == 4 ? -2 : 0;
            v[k] = opt_bool(a, flags[k], def);
            if (v[k] == -1) return FAIL(c, PD_EFORMAT, "added_tokens[%zu].%s is not a boolean", i, flags[k]);
        }
        if (v[4] == -2) v[4] = !v[0];
        d->id = (int32_t)id;
        d->special = (uint8_t)v[0];
        d->lstrip = (uint8_t)v[1];
        d->rstrip = (uint8_t)v[2];
        d->single_word = (uint8_t)v[3];
        d->normalized = (uint8_t)v[4];
        /* Register the token's form for id (the added form wins over the model's). */
        tok_entry *e = &t->tokens[id];
        if (!e->present) t->n_vocab++;
        int rc = set_token(c, inv, (int32_t)id, json_string_value(jc), len);
        if (rc < 0) return rc;
        e->added = 1;
        e->special = d->special;
        d->off = e->form_off;
        d->len = e->form_len;
        d->first = (unsigned char)t->arena[d->off];
        if (d->normalized) t->any_normalized_added = 1;
        single_word |= d->single_word;
        t->n_added++;
    }
    index_added(t);
    return single_word ? compile_word_class(c) : 0;
}

/* SentencePiece-style: added tokens marked normalized are matched in the normalised text by
 * their content put through the whole normaliser (Prepend included, so under Llama 2's
 * normaliser "foo" is matched as "▁foo"), and decode from that form, as tokenizers does
 * (its normalized_cache). Returns 0 or an error. */
static int spm_normalize_added(load_ctx *c) {
    pd_tokenizer *t = c->t;
    if (!t->n_norm || !t->any_normalized_added) return 0;
    for (size_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (!a->normalized) continue;
        pd_buf nb = {0};
        int rc = tok_normalize(t, (const unsigned char *)t->arena + a->off, a->len, &nb);
        if (rc) rc = FAIL(c, rc, "added token %d: content cannot be normalised", a->id);
        else if (nb.len == 0) rc = FAIL(c, PD_EUNSUPPORTED, "added token %d: the normaliser makes its content empty", a->id);
        else if (nb.len > TOK_MAX_TOKEN_LEN)
            rc = FAIL(c, PD_ELIMIT, "added token %d: normalised form is %zu bytes (limit %d)", a->id, nb.len, TOK_MAX_TOKEN_LEN);
        else if (nb.len != a->len || memcmp(nb.data, t->arena + a->off, a->len) != 0) {
            if (arena_add(t, nb.data, nb.len, &a->off)) rc = FAIL(c, PD_ENOMEM, "out of memory");
            a->len = (uint32_t)nb.len;
            a->first = (unsigned char)nb.data[0];
            if (!rc) rc = spm_set_bytes(c, &t->tokens[a->id], a->off, a->len);
        }
        pd_buf_free(&nb);
        if (rc) return rc;
    }
    index_added(t);
    return 0;
}

/* A byte string, ordered by length then bytes. */
typedef struct span { const char *p; size_t n; } span;
static int span_cmp(const void *x, const void *y) {
    const span *a = x, *b = y;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return memcmp(a->p, b->p, a->n);
}

/* SentencePiece-style: which ids decode's skip_special drops. tokenizers drops a token when
 * the string it decodes from (an added token's content, or its normalised form; a model
 * token's form) is the content of some special token; so a special token whose normalised
 * form differs is kept, as tokenizers keeps it. Returns 0 or an error. */
static int spm_mark_skip(load_ctx *c) {
    pd_tokenizer *t = c->t;
    span *sp = malloc((t->n_added + 1) * sizeof *sp);
    if (!sp) return FAIL(c, PD_ENOMEM, "out of memory");
    size_t ns = 0;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].special) {
            const tok_entry *e = &t->tokens[t->added[i].id];
            sp[ns++] = (span){t->arena + e->form_off, e->form_len};
        }
    qsort(sp, ns, sizeof *sp, span_cmp);
    for (size_t id = 0; id < t->n_ids && ns; id++) {
        tok_entry *e = &t->tokens[id];
        span k = {t->arena + e->form_off, e->form_len};
        e->skip = e->present && bsearch(&k, sp, ns, sizeof *sp, span_cmp) != NULL;
    }
    for (size_t i = 0; i < t->n_added && ns; i++) {
        span k = {t->arena + t->added[i].off, t->added[i].len};
        t->tokens[t->added[i].id].skip = bsearch(&k, sp, ns, sizeof *sp, span_cmp) != NULL;
    }
    free(sp);
    return 0;
}

/* With an NFC normaliser, added tokens marked normalized are looked for in the normalised
 * text in their normalised form (tokenizers normalises their content too, so a token
 * written decomposed still matches), and decode to that form as tokenizers does (its
 * id_to_token gives the normalised content; token_id keeps the content as written). Runs
 * after load_normalizer. Returns 0 or an error. */
static int normalize_added(load_ctx *c) {
    pd_tokenizer *t = c->t;
    if (t->spm) return spm_normalize_added(c);
    if (!t->nfc || !t->any_normalized_added) return 0;
    int16_t inv[324];
    byte_level_inverse(inv);
    for (size_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (!a->normalized) continue;
        unsigned char *nfc = NULL;
        utf8proc_ssize_t r = utf8proc_map((const unsigned char *)t->arena + a->off, (utf8proc_ssize_t)a->len, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r <= 0) {
            free(nfc);
            return FAIL(c, PD_EFORMAT, "added token %d: content cannot be NFC-normalised", a->id);
        }
        int rc = 0;
        if (r > TOK_MAX_TOKEN_LEN) {
            rc = FAIL(c, PD_ELIMIT, "added token %d: NFC form is %zd bytes (limit %d)", a->id, (ssize_t)r, TOK_MAX_TOKEN_LEN);
        } else if ((size_t)r != a->len || memcmp(nfc, t->arena + a->off, a->len) != 0) {
            if (arena_add(t, nfc, (size_t)r, &a->off)) rc = FAIL(c, PD_ENOMEM, "out of memory");
            a->len = (uint32_t)r;
            a->first = nfc[0];
            if (!rc) rc = set_bytes(c, inv, &t->tokens[a->id], a->off, a->len);
        }
        free(nfc);
        if (rc < 0) return rc;
    }
    index_added(t);
    return 0;
}

/* ---------------------------------------------------------------- normalizer */

/* Reads "normalizer". Returns 0 or an error. */
static int load_normalizer(load_ctx *c, json_t *n, int depth) {
    if (!n || json_is_null(n)) return 0;
    if (!json_is_object(n)) return FAIL(c, PD_EFORMAT, "normalizer is %s, expected an object", jtype(n));
    if (depth > 4) return FAIL(c, PD_EUNSUPPORTED, "normalizer nests too deeply");
    int bad = 0;
    const char *type = opt_str(n, "type", &bad);
    if (!type || bad) return FAIL(c, PD_EFORMAT, "normalizer has no \"type\" string");
    if (strcmp(type, "NFC") == 0) { c->t->nfc = 1; return 0; }
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return FAIL(c, PD_EFORMAT, "normalizer.normalizers is %s, expected an array", jtype(list));
        for (size_t i = 0; i < json_array_size(list); i++) {
            int rc = load_normalizer(c, json_array_get(list, i), depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    return FAIL(c, PD_EUNSUPPORTED, "normalizer type \"%.40s\" is not supported (only NFC)", type);
}

/* A JSON string member that must hold exactly one character: its text (NULL otherwise). */
static const char *one_char(json_t *obj, const char *key, size_t *len) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return NULL;
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    unsigned lo, hi;
    size_t need = s[0] < 0x80 ? 0 : tok_utf8_lead(s[0], &lo, &hi);
    if (n == 0 || n != need + 1 || tok_utf8_valid_prefix(s, n) != n || (s[0] >= 0x80 && !need)) return NULL;
    *len = n;
    return (const char *)s;
}

/* Reads a SentencePiece-style "normalizer" (at JSON path `path`) into t->norm: NFC, Prepend,
 * Replace with a String pattern, Sequence of these. Returns 0 or an error. */
static int load_normalizer_spm(load_ctx *c, json_t *n, const char *path, int depth) {
    pd_tokenizer *t = c->t;
    if (!n || json_is_null(n)) return 0;
    if (!json_is_object(n)) return FAIL(c, PD_EFORMAT, "%s is %s, expected an object", path, jtype(n));
    if (depth > 4) return FAIL(c, PD_EUNSUPPORTED, "normalizer nests too deeply");
    int bad = 0;
    const char *type = opt_str(n, "type", &bad);
    if (!type || bad) return FAIL(c, PD_EFORMAT, "%s has no \"type\" string", path);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return FAIL(c, PD_EFORMAT, "%s.normalizers is %s, expected an array", path, jtype(list));
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[160];
            snprintf(sub, sizeof sub, "%.120s.normalizers[%zu]", path, i);
            int rc = load_normalizer_spm(c, json_array_get(list, i), sub, depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    if (strcmp(type, "NFC") != 0 && strcmp(type, "Prepend") != 0 && strcmp(type, "Replace") != 0)
        return FAIL(c, PD_EUNSUPPORTED, "%s type \"%.40s\" is not supported (only NFC, Prepend, Replace, Sequence)", path, type);
    if (t->n_norm >= TOK_MAX_NORM) return FAIL(c, PD_EUNSUPPORTED, "normalizer has more than %d steps", TOK_MAX_NORM);
    tok_norm *st = &t->norm[t->n_norm];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "NFC") == 0) {
        st->kind = TOK_NORM_NFC;
    } else if (strcmp(type, "Prepend") == 0) {
        json_t *v = json_object_get(n, "prepend");
        if (!json_is_string(v)) return FAIL(c, PD_EFORMAT, "%s (Prepend).prepend is %s, expected a string", path, jtype(v));
        if (json_string_length(v) > TOK_MAX_TOKEN_LEN) return FAIL(c, PD_ELIMIT, "%s (Prepend).prepend is too long", path);
        st->kind = TOK_NORM_PREPEND;
        if (arena_add(t, json_string_value(v), json_string_length(v), &st->a_off)) return FAIL(c, PD_ENOMEM, "out of memory");
        st->a_len = (uint32_t)json_string_length(v);
    } else {
        json_t *pat = json_object_get(n, "pattern"), *con = json_object_get(n, "content");
        json_t *lit = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        if (json_is_object(pat) && json_object_get(pat, "Regex"))
            return FAIL(c, PD_EUNSUPPORTED, "%s (Replace).pattern is a Regex (only String patterns are supported)", path);
        if (!json_is_string(lit)) return FAIL(c, PD_EFORMAT, "%s (Replace).pattern is not {\"String\": ...}", path);
        if (!json_is_string(con)) return FAIL(c, PD_EFORMAT, "%s (Replace).content is %s, expected a string", path, jtype(con));
        if (json_string_length(lit) == 0) return FAIL(c, PD_EUNSUPPORTED, "%s (Replace) has an empty pattern", path);
        if (json_string_length(lit) > TOK_MAX_TOKEN_LEN || json_string_length(con) > TOK_MAX_TOKEN_LEN)
            return FAIL(c, PD_ELIMIT, "%s (Replace): pattern or content is too long", path);
        st->kind = TOK_NORM_REPLACE;
        if (arena_add(t, json_string_value(lit), json_string_length(lit), &st->a_off) ||
            arena_add(t, json_string_value(con), json_string_length(con), &st->b_off))
            return FAIL(c, PD_ENOMEM, "out of memory");
        st->a_len = (uint32_t)json_string_length(lit);
        st->b_len = (uint32_t)json_string_length(con);
    }
    t->n_norm++;
    return 0;
}

/* ---------------------------------------------------------------- pre-tokenizer */

/* Whether a pre_tokenizer or decoder object (or a Sequence of them) has a ByteLevel step:
 * such a tokenizer is byte-level, else SentencePiece-style. */
static int has_byte_level(json_t *v, int depth) {
    if (!json_is_object(v) || depth > 4) return 0;
    const char *type = json_string_value(json_object_get(v, "type"));
    if (type && strcmp(type, "ByteLevel") == 0) return 1;
    json_t *list = json_object_get(v, "pretokenizers");
    if (!json_is_array(list)) list = json_object_get(v, "decoders");
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++)
        if (has_byte_level(json_array_get(list, i), depth + 1)) return 1;
    return 0;
}

/* Reads a Metaspace object (pre-tokenizer or decoder, at JSON path `path`) as tokenizers
 * deserialises it: replacement (one character), prepend_scheme ("always" by default), the
 * older add_prefix_space (false only with prepend_scheme "never", as tokenizers demands),
 * split (true by default). Returns 0 or an error. */
static int load_metaspace(load_ctx *c, json_t *m, const char *path, char rep[8], size_t *rep_len, int *scheme,
                          int *split) {
    size_t n;
    const char *r = one_char(m, "replacement", &n);
    if (!r) return FAIL(c, PD_EFORMAT, "%s (Metaspace).replacement is not a string of one character", path);
    memcpy(rep, r, n);
    rep[n] = 0;
    *rep_len = n;
    int bad = 0;
    const char *ps = opt_str(m, "prepend_scheme", &bad);
    int aps = opt_bool(m, "add_prefix_space", -2), sp = opt_bool(m, "split", 1);
    if (bad) return FAIL(c, PD_EFORMAT, "%s (Metaspace).prepend_scheme is not a string", path);
    if (aps == -1 || sp < 0) return FAIL(c, PD_EFORMAT, "%s (Metaspace): add_prefix_space / split is not a boolean", path);
    if (!ps || strcmp(ps, "always") == 0) *scheme = TOK_PREPEND_ALWAYS;
    else if (strcmp(ps, "first") == 0) *scheme = TOK_PREPEND_FIRST;
    else if (strcmp(ps, "never") == 0) *scheme = TOK_PREPEND_NEVER;
    else return FAIL(c, PD_EFORMAT, "%s (Metaspace).prepend_scheme \"%.40s\" is not first, always or never", path, ps);
    if (aps == 0 && *scheme != TOK_PREPEND_NEVER)
        return FAIL(c, PD_EFORMAT, "%s (Metaspace): add_prefix_space false does not match prepend_scheme (tokenizers "
                    "refuses this too)", path);
    *split = sp;
    return 0;
}

/* Reads a SentencePiece-style "pre_tokenizer": null, Metaspace, or a Sequence holding just a
 * Metaspace. Returns 0 or an error. */
static int load_pretok_spm(load_ctx *c, json_t *p) {
    pd_tokenizer *t = c->t;
    if (!p || json_is_null(p)) return 0;
    if (!json_is_object(p)) return FAIL(c, PD_EFORMAT, "pre_tokenizer is %s, expected an object", jtype(p));
    const char *path = "pre_tokenizer";
    const char *type = json_string_value(json_object_get(p, "type"));
    json_t *list = json_object_get(p, "pretokenizers");
    if (type && strcmp(type, "Sequence") == 0 && json_is_array(list) && json_array_size(list) == 1) {
        p = json_array_get(list, 0);
        path = "pre_tokenizer.pretokenizers[0]";
        type = json_is_object(p) ? json_string_value(json_object_get(p, "type")) : NULL;
    }
    if (!type) return FAIL(c, PD_EFORMAT, "%s has no \"type\" string", path);
    if (strcmp(type, "Metaspace") != 0)
        return FAIL(c, PD_EUNSUPPORTED, "%s type \"%.40s\" is not supported in a SentencePiece-style tokenizer (no "
                    "ByteLevel step): only Metaspace or none", path, type);
    t->meta = 1;
    return load_metaspace(c, p, path, t->meta_rep, &t->meta_rep_len, &t->meta_prepend, &t->meta_split);
}

/* GPT-2's split pattern, used by the ByteLevel pre-tokenizer when use_regex is true. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* The Unicode White_Space characters, as the contents of a character class. Hugging Face
 * tokenizers runs its regexes with Oniguruma, whose \s is exactly this set; PCRE2's \s in
 * UCP mode differs at the edges (it also matches U+180E, for one). */
static const char WS_CLASS[] =
    "\\t\\n\\x0B\\f\\r\\x20\\x85\\xA0\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

/* Rewrites a split regex for PCRE2 so that it matches what Oniguruma (Hugging Face
 * tokenizers' engine) matches: \s (in and out of character classes) and \S (outside) become
 * explicit White_Space classes, and \p{L} / \p{N} gain the letters and numbers of Unicode
 * versions newer than PCRE2's data (tokenizer_unicode.c). Appends the result to out;
 * returns 0 or PD_ENOMEM. */
static int rewrite_regex(const char *pat, size_t len, pd_buf *out) {
    int in_class = 0;
    size_t class_start = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = pat[i];
        if (ch == '\\' && i + 1 < len) {
            char e = pat[i + 1];
            const char *extra = NULL;
            size_t skip = 2;
            if ((e == 'p' || e == 'P') && i + 4 < len && pat[i + 2] == '{' && pat[i + 4] == '}' &&
                (pat[i + 3] == 'L' || pat[i + 3] == 'N')) {
                extra = pat[i + 3] == 'L' ? TOK_EXTRA_L : TOK_EXTRA_N;
                skip = 5;
            } else if ((e == 'p' || e == 'P') && i + 2 < len && (pat[i + 2] == 'L' || pat[i + 2] == 'N')) {
                extra = pat[i + 2] == 'L' ? TOK_EXTRA_L : TOK_EXTRA_N;
                skip = 3;
            }
            int rc;
            if (e == 's') rc = in_class ? pd_buf_puts(out, WS_CLASS) : pd_buf_printf(out, "[%s]", WS_CLASS);
            else if (e == 'S' && !in_class) rc = pd_buf_printf(out, "[^%s]", WS_CLASS);
            else if (extra && e == 'p') {
                char prop = skip == 5 ? pat[i + 3] : pat[i + 2];
                rc = in_class ? pd_buf_printf(out, "\\p{%c}%s", prop, extra) : pd_buf_printf(out, "[\\p{%c}%s]", prop, extra);
            } else if (extra && e == 'P' && !in_class) {
                char prop = skip == 5 ? pat[i + 3] : pat[i + 2];
                rc = pd_buf_printf(out, "[^\\p{%c}%s]", prop, extra);
            } else {
                skip = 2;
                rc = pd_buf_append(out, pat + i, 2);
            }
            if (rc) return PD_ENOMEM;
            i += skip - 1;
            continue;
        }
        if (!in_class && ch == '[') {
            in_class = 1;
            class_start = i + 1;
            if (class_start < len && pat[class_start] == '^') class_start++;
        } else if (in_class && ch == ']' && i > class_start) {
            in_class = 0;
        }
        if (pd_buf_putc(out, ch)) return PD_ENOMEM;
    }
    return 0;
}

/* Compiles a split pattern (UTF + UCP; literal when `literal`), JIT-compiling it when
 * available, and appends it to the pre-tokenizer. Returns 0 or an error. */
static int add_regex(load_ctx *c, const char *pat, size_t len, int literal) {
    pd_tokenizer *t = c->t;
    if (t->n_re >= TOK_MAX_REGEX) return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer has more than %d splits", TOK_MAX_REGEX);
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pd_buf rx = {0};
    if (!literal) {
        if (rewrite_regex(pat, len, &rx)) {
            pd_buf_free(&rx);
            return FAIL(c, PD_ENOMEM, "out of memory");
        }
    }
    pcre2_code *re = literal ? pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &eo, NULL)
                             : pcre2_compile((PCRE2_SPTR)(rx.data ? rx.data : ""), rx.len, opts, &ec, &eo, NULL);
    pd_buf_free(&rx);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return FAIL(c, PD_EFORMAT, "pre_tokenizer: split pattern \"%.80s\" does not compile at offset %zu: %s", pat,
                    (size_t)eo, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is used when JIT is unavailable */
    t->re[t->n_re++] = re;
    return 0;
}

/* Reads one pre-tokenizer (recursively for Sequence). *byte_level is set when a ByteLevel
 * step was seen; any step after it is refused. Returns 0 or an error. */
static int load_pretok(load_ctx *c, json_t *p, int depth, int *byte_level) {
    if (!json_is_object(p)) return FAIL(c, PD_EFORMAT, "pre_tokenizer is %s, expected an object", jtype(p));
    if (depth > 4) return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer nests too deeply");
    int bad = 0;
    const char *type = opt_str(p, "type", &bad);
    if (!type || bad) return FAIL(c, PD_EFORMAT, "pre_tokenizer has no \"type\" string");
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list)) return FAIL(c, PD_EFORMAT, "pre_tokenizer.pretokenizers is %s, expected an array", jtype(list));
        for (size_t i = 0; i < json_array_size(list); i++) {
            int rc = load_pretok(c, json_array_get(list, i), depth + 1, byte_level);
            if (rc) return rc;
        }
        return 0;
    }
    if (*byte_level) return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer: a %.40s step after ByteLevel is not supported", type);
    if (strcmp(type, "ByteLevel") == 0) {
        int aps = opt_bool(p, "add_prefix_space", 0), ur = opt_bool(p, "use_regex", 1);
        if (aps < 0 || ur < 0) return FAIL(c, PD_EFORMAT, "pre_tokenizer ByteLevel: add_prefix_space / use_regex is not a boolean");
        if (aps) return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer ByteLevel with add_prefix_space is not supported");
        *byte_level = 1;
        return ur ? add_regex(c, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, 0) : 0;
    }
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(p, "pattern");
        const char *beh = opt_str(p, "behavior", &bad);
        int inv = opt_bool(p, "invert", 0);
        if (bad || inv < 0) return FAIL(c, PD_EFORMAT, "pre_tokenizer Split: behavior / invert has the wrong type");
        if (!beh || strcmp(beh, "Isolated") != 0)
            return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer Split behavior \"%.40s\" is not supported (only Isolated)", beh ? beh : "(none)");
        if (inv) return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer Split with invert is not supported");
        json_t *rx = json_is_object(pat) ? json_object_get(pat, "Regex") : NULL;
        json_t *lit = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        if (json_is_string(rx)) return add_regex(c, json_string_value(rx), json_string_length(rx), 0);
        if (json_is_string(lit)) {
            if (json_string_length(lit) == 0) return FAIL(c, PD_EFORMAT, "pre_tokenizer Split: empty String pattern");
            return add_regex(c, json_string_value(lit), json_string_length(lit), 1);
        }
        return FAIL(c, PD_EFORMAT, "pre_tokenizer Split: pattern is not {\"Regex\": ...} or {\"String\": ...}");
    }
    if (strcmp(type, "Digits") == 0) {
        int ind = opt_bool(p, "individual_digits", 0);
        if (ind < 0) return FAIL(c, PD_EFORMAT, "pre_tokenizer Digits: individual_digits is not a boolean");
        return ind ? add_regex(c, "\\p{N}", 5, 0) : add_regex(c, "\\p{N}+", 6, 0);
    }
    return FAIL(c, PD_EUNSUPPORTED, "pre_tokenizer type \"%.40s\" is not supported", type);
}

/* ---------------------------------------------------------------- post-processor */

/* Appends the ids of a TemplateProcessing special token name to *ids. Returns 0 or error. */
static int template_special(load_ctx *c, json_t *specials, const char *name, int32_t **ids, size_t *n) {
    json_t *s = json_object_get(specials, name);
    json_t *list = json_is_object(s) ? json_object_get(s, "ids") : NULL;
    if (!json_is_array(list))
        return FAIL(c, PD_EFORMAT, "post_processor: special token \"%.60s\" is not described in special_tokens", name);
    size_t k = json_array_size(list);
    if (k > 64) return FAIL(c, PD_ELIMIT, "post_processor: special token \"%.60s\" has %zu ids", name, k);
    int32_t *grown = realloc(*ids, (*n + k + 1) * sizeof **ids);
    if (!grown) return FAIL(c, PD_ENOMEM, "out of memory");
    *ids = grown;
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (size_t)json_integer_value(v) >= c->t->n_ids ||
            !c->t->tokens[json_integer_value(v)].present)
            return FAIL(c, PD_EFORMAT, "post_processor: special token \"%.60s\" has an id that is not in the vocabulary", name);
        (*ids)[(*n)++] = (int32_t)json_integer_value(v);
    }
    return 0;
}

/* Reads "post_processor" (recursively for Sequence). Returns 0 or an error. */
static int load_post(load_ctx *c, json_t *p, int depth) {
    pd_tokenizer *t = c->t;
    if (!p || json_is_null(p)) return 0;
    if (!json_is_object(p)) return FAIL(c, PD_EFORMAT, "post_processor is %s, expected an object", jtype(p));
    if (depth > 4) return FAIL(c, PD_EUNSUPPORTED, "post_processor nests too deeply");
    int bad = 0;
    const char *type = opt_str(p, "type", &bad);
    if (!type || bad) return FAIL(c, PD_EFORMAT, "post_processor has no \"type\" string");
    if (strcmp(type, "ByteLevel") == 0) return 0; /* only adjusts offsets */
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(p, "processors");
        if (!json_is_array(list)) return FAIL(c, PD_EFORMAT, "post_processor.processors is %s, expected an array", jtype(list));
        for (size_t i = 0; i < json_array_size(list); i++) {
            int rc = load_post(c, json_array_get(list, i), depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return FAIL(c, PD_EUNSUPPORTED, "post_processor type \"%.40s\" is not supported", type);
    if (t->pre_ids || t->post_ids) return FAIL(c, PD_EUNSUPPORTED, "post_processor has two TemplateProcessing steps");
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
    if (!json_is_array(single)) return FAIL(c, PD_EFORMAT, "post_processor.single is %s, expected an array", jtype(single));
    int seen_a = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        json_t *sp = json_object_get(item, "SpecialToken"), *sq = json_object_get(item, "Sequence");
        if (json_is_object(sp) && json_is_string(json_object_get(sp, "id"))) {
            int rc = template_special(c, specials, json_string_value(json_object_get(sp, "id")),
                                      seen_a ? &t->post_ids : &t->pre_ids, seen_a ? &t->n_post : &t->n_pre);
            if (rc) return rc;
        } else if (json_is_object(sq)) {
            if (seen_a) return FAIL(c, PD_EFORMAT, "post_processor.single names the sequence twice");
            seen_a = 1;
        } else {
            return FAIL(c, PD_EFORMAT, "post_processor.single[%zu] is neither SpecialToken nor Sequence", i);
        }
    }
    if (!seen_a) return FAIL(c, PD_EFORMAT, "post_processor.single has no Sequence");
    return 0;
}

/* Reads "decoder": only ByteLevel (or a Sequence holding just ByteLevel). */
static int load_decoder(load_ctx *c, json_t *d) {
    if (!d || json_is_null(d)) return FAIL(c, PD_EUNSUPPORTED, "no decoder (only the ByteLevel decoder is supported)");
    if (!json_is_object(d)) return FAIL(c, PD_EFORMAT, "decoder is %s, expected an object", jtype(d));
    int bad = 0;
    const char *type = opt_str(d, "type", &bad);
    if (!type || bad) return FAIL(c, PD_EFORMAT, "decoder has no \"type\" string");
    if (strcmp(type, "ByteLevel") == 0) return 0;
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(d, "decoders");
        if (json_is_array(list) && json_array_size(list) == 1) return load_decoder(c, json_array_get(list, 0));
    }
    return FAIL(c, PD_EUNSUPPORTED, "decoder type \"%.40s\" is not supported (only ByteLevel)", type);
}

/* Reads one step of a SentencePiece-style decoder (at JSON path `path`); *stage is the last
 * step kind seen (1 Replace, 2 ByteFallback, 3 Fuse, 4 Strip), which must come in that order.
 * Returns 0 or an error. */
static int load_decoder_step(load_ctx *c, json_t *d, const char *path, int *stage) {
    pd_tokenizer *t = c->t;
    if (!json_is_object(d)) return FAIL(c, PD_EFORMAT, "%s is %s, expected an object", path, jtype(d));
    const char *type = json_string_value(json_object_get(d, "type"));
    if (!type) return FAIL(c, PD_EFORMAT, "%s has no \"type\" string", path);
    int kind = strcmp(type, "Replace") == 0 ? 1 : strcmp(type, "ByteFallback") == 0 ? 2 : strcmp(type, "Fuse") == 0 ? 3
             : strcmp(type, "Strip") == 0 ? 4 : 0;
    if (!kind)
        return FAIL(c, PD_EUNSUPPORTED, "%s type \"%.40s\" is not supported in a SentencePiece-style decoder (only "
                    "Metaspace, or Replace, ByteFallback, Fuse, Strip in that order)", path, type);
    if (kind <= *stage)
        return FAIL(c, PD_EUNSUPPORTED, "%s: %s after a later step is not supported (only Replace, ByteFallback, "
                    "Fuse, Strip in that order)", path, type);
    if (kind == 1) {
        json_t *pat = json_object_get(d, "pattern"), *con = json_object_get(d, "content");
        json_t *lit = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        if (!json_is_string(lit) || json_string_length(lit) == 0 || !json_is_string(con))
            return FAIL(c, PD_EUNSUPPORTED, "%s (Replace): only a non-empty {\"String\": ...} pattern and a string "
                        "content are supported", path);
        if (json_string_length(lit) > TOK_MAX_TOKEN_LEN || json_string_length(con) > TOK_MAX_TOKEN_LEN)
            return FAIL(c, PD_ELIMIT, "%s (Replace): pattern or content is too long", path);
        if (arena_add(t, json_string_value(lit), json_string_length(lit), &t->dec_from_off) ||
            arena_add(t, json_string_value(con), json_string_length(con), &t->dec_to_off))
            return FAIL(c, PD_ENOMEM, "out of memory");
        t->dec_from_len = (uint32_t)json_string_length(lit);
        t->dec_to_len = (uint32_t)json_string_length(con);
    } else if (kind == 2) {
        t->dec_byte_fallback = 1;
    } else if (kind == 4) {
        size_t n;
        const char *ch = one_char(d, "content", &n);
        json_t *start = json_object_get(d, "start"), *stop = json_object_get(d, "stop");
        if (!ch) return FAIL(c, PD_EFORMAT, "%s (Strip).content is not a string of one character", path);
        if (!json_is_integer(start) || json_integer_value(start) < 0 || !json_is_integer(stop) ||
            json_integer_value(stop) < 0)
            return FAIL(c, PD_EFORMAT, "%s (Strip): start / stop is not a non-negative integer", path);
        if (json_integer_value(stop) != 0)
            return FAIL(c, PD_EUNSUPPORTED, "%s (Strip): stop > 0 (stripping the end of the text) is not supported", path);
        if (*stage < 3)
            return FAIL(c, PD_EUNSUPPORTED, "%s (Strip) without a Fuse step before it (a strip of every token) is not "
                        "supported", path);
        memcpy(t->dec_strip, ch, n);
        t->dec_strip[n] = 0;
        t->dec_strip_len = n;
        t->dec_strip_n = json_integer_value(start) > (json_int_t)1 << 30 ? (size_t)1 << 30 : (size_t)json_integer_value(start);
    }
    *stage = kind;
    return 0;
}

/* Reads a SentencePiece-style "decoder" (before the vocabulary: tokens' decoded bytes depend
 * on it): Metaspace (alone, or the only step of a Sequence), or Replace, ByteFallback, Fuse,
 * Strip (each optional, in that order; a Sequence or a lone step), as the Llama 2 / Mistral
 * families write them. Returns 0 or an error. */
static int load_decoder_spm(load_ctx *c, json_t *d) {
    pd_tokenizer *t = c->t;
    if (!d || json_is_null(d))
        return FAIL(c, PD_EUNSUPPORTED, "no decoder (tokenizers would join the tokens with spaces; not supported)");
    if (!json_is_object(d)) return FAIL(c, PD_EFORMAT, "decoder is %s, expected an object", jtype(d));
    const char *type = json_string_value(json_object_get(d, "type"));
    if (!type) return FAIL(c, PD_EFORMAT, "decoder has no \"type\" string");
    json_t *list = json_object_get(d, "decoders");
    const char *path = "decoder";
    if (strcmp(type, "Sequence") == 0) {
        if (!json_is_array(list)) return FAIL(c, PD_EFORMAT, "decoder.decoders is %s, expected an array", jtype(list));
        json_t *only = json_array_size(list) == 1 ? json_array_get(list, 0) : NULL;
        const char *ot = json_is_object(only) ? json_string_value(json_object_get(only, "type")) : NULL;
        if (ot && strcmp(ot, "Metaspace") == 0) {
            d = only;
            type = ot;
            path = "decoder.decoders[0]";
        }
    }
    if (strcmp(type, "Metaspace") == 0) {
        char rep[8];
        size_t n;
        int scheme, split, rc = load_metaspace(c, d, path, rep, &n, &scheme, &split);
        if (rc) return rc;
        if (arena_add(t, rep, n, &t->dec_from_off) || arena_add(t, " ", 1, &t->dec_to_off))
            return FAIL(c, PD_ENOMEM, "out of memory");
        t->dec_from_len = (uint32_t)n;
        t->dec_to_len = 1;
        t->dec_meta = 1;
        t->dec_drop_first = scheme != TOK_PREPEND_NEVER;
        return 0;
    }
    int stage = 0;
    if (strcmp(type, "Sequence") != 0) return load_decoder_step(c, d, "decoder", &stage);
    for (size_t i = 0; i < json_array_size(list); i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "decoder.decoders[%zu]", i);
        json_t *step = json_array_get(list, i);
        const char *st = json_is_object(step) ? json_string_value(json_object_get(step, "type")) : NULL;
        if (st && strcmp(st, "Metaspace") == 0)
            return FAIL(c, PD_EUNSUPPORTED, "%s: a Metaspace decoder with other steps is not supported", sub);
        int rc = load_decoder_step(c, step, sub, &stage);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- tokenizer_config.json */

/* Text of a tokenizer_config token entry: a string or {"content": "..."}; NULL otherwise. */
static const char *config_token(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

/* Reads tokenizer_config.json text (bos/eos tokens, chat_template). Returns 0 or an error. */
static int load_config(pd_tokenizer *t, const char *json, size_t len, const char *name, pd_error *err) {
    json_error_t je;
    /* numbers as reals: transformers writes model_max_length 1000000000000000019884624838656
     * (VERY_LARGE_INTEGER), too big for jansson's integers; no number is read here */
    json_t *root = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, &je);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: line %d column %d: %s", name, je.line, je.column, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: expected a JSON object", name);
        goto done;
    }
    const char *bos = config_token(json_object_get(root, "bos_token"));
    const char *eos = config_token(json_object_get(root, "eos_token"));
    if (bos) {
        free(t->bos_token);
        t->bos_token = strdup(bos);
        if (!t->bos_token) { rc = pd_err_set(err, PD_ENOMEM, "out of memory"); goto done; }
        int32_t id = pd_tokenizer_token_id(t, bos);
        if (id >= 0 && t->bos_id < 0) t->bos_id = id;
    }
    if (eos) t->eos_id = pd_tokenizer_token_id(t, eos);
    json_t *ct = json_object_get(root, "chat_template");
    const char *tmpl = NULL;
    if (json_is_string(ct)) tmpl = json_string_value(ct);
    else if (json_is_array(ct)) { /* [{"name": "default", "template": "..."}, ...] */
        for (size_t i = 0; i < json_array_size(ct); i++) {
            json_t *e = json_array_get(ct, i);
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && strcmp(nm, "default") == 0) tmpl = json_string_value(json_object_get(e, "template"));
        }
    }
    if (tmpl) {
        free(t->chat_template);
        t->chat_template = strdup(tmpl);
        if (!t->chat_template) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    }
done:
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- load */

/* Parses tokenizer.json text into t. Returns 0 or an error. */
static int load_tokenizer_json(pd_tokenizer *t, const char *json, size_t len, pd_error *err) {
    load_ctx c = {t, t->path, err};
    if (len > TOK_MAX_FILE) return FAIL(&c, PD_ELIMIT, "file is %zu bytes (limit %u)", len, TOK_MAX_FILE);
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root) return FAIL(&c, PD_EFORMAT, "line %d column %d: %s", je.line, je.column, je.text);
    int rc;
    int16_t inv[324];
    byte_level_inverse(inv);
    if (!json_is_object(root)) { rc = FAIL(&c, PD_EFORMAT, "expected a JSON object at the top"); goto done; }
    json_t *added = json_object_get(root, "added_tokens");
    json_t *pt = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    /* no ByteLevel step anywhere: a SentencePiece-style tokenizer */
    t->spm = !has_byte_level(pt, 0) && !has_byte_level(dec, 0);
    json_t *model = json_object_get(root, "model");
    /* its decoder first (tokens' decoded bytes depend on it), unless the model is missing */
    if (t->spm && json_is_object(model) && (rc = load_decoder_spm(&c, dec))) goto done;
    if ((rc = load_model(&c, model, added, inv))) goto done;
    if ((rc = load_added(&c, added, inv))) goto done;
    if (t->spm) rc = load_normalizer_spm(&c, json_object_get(root, "normalizer"), "normalizer", 0);
    else rc = load_normalizer(&c, json_object_get(root, "normalizer"), 0);
    if (rc || (rc = normalize_added(&c))) goto done;
    if (t->spm) {
        if ((rc = load_pretok_spm(&c, pt)) || (rc = spm_mark_skip(&c))) goto done;
    } else {
        int byte_level = 0;
        if (pt && !json_is_null(pt) && (rc = load_pretok(&c, pt, 0, &byte_level))) goto done;
        if (!byte_level) {
            rc = FAIL(&c, PD_EUNSUPPORTED, "pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
            goto done;
        }
    }
    if ((rc = load_post(&c, json_object_get(root, "post_processor"), 0))) goto done;
    if (!t->spm && (rc = load_decoder(&c, dec))) goto done;
    if (t->n_pre > 0) t->bos_id = t->pre_ids[0];
done:
    json_decref(root);
    return rc;
}

/* Allocates an empty tokenizer named `name`; NULL when out of memory. */
static pd_tokenizer *tok_new(const char *name) {
    pd_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->path, sizeof t->path, "%s", name);
    t->bos_id = t->eos_id = t->unk_id = -1;
    return t;
}

/* Finishes loading: recognises the chat template. */
static void tok_finish(pd_tokenizer *t) {
    if (!t->bos_token) t->bos_token = strdup("");
    tok_chat_recognise(t);
}

pd_tokenizer *pd_tokenizer_load_json(const char *json, size_t len, const char *config_json, size_t config_len,
                                     const char *name, pd_error *err) {
    pd_tokenizer *t = tok_new(name ? name : "tokenizer.json");
    if (!t) { pd_err_set(err, PD_ENOMEM, "out of memory"); return NULL; }
    if (load_tokenizer_json(t, json, len, err) ||
        (config_json && load_config(t, config_json, config_len, "tokenizer_config.json", err))) {
        pd_tokenizer_free(t);
        return NULL;
    }
    tok_finish(t);
    return t;
}

pd_tokenizer *pd_tokenizer_load(const char *path, pd_error *err) {
    char file[4096], dir[4096];
    if (!path || !*path) { pd_err_set(err, PD_EINVAL, "tokenizer: empty path"); return NULL; }
    if (!pd_dir_exists(path) && pd_gguf_is_file(path)) return tok_load_gguf(path, err);
    if (pd_dir_exists(path)) { /* a directory with only a GGUF file (a pulled GGUF repo) */
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        if (!pd_file_exists(file) && pd_gguf_in_dir(path, file, sizeof file)) return tok_load_gguf(file, err);
    }
    if (pd_dir_exists(path)) {
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        if (!pd_file_exists(file)) {
            pd_err_set(err, PD_ENOTFOUND, "%s: no tokenizer.json in this model directory", path);
            return NULL;
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        else snprintf(dir, sizeof dir, ".");
    }
    char *json = NULL;
    size_t len = 0;
    if (pd_file_read(file, &json, &len, err)) return NULL;
    pd_tokenizer *t = tok_new(file);
    if (!t) { free(json); pd_err_set(err, PD_ENOMEM, "out of memory"); return NULL; }
    int rc = load_tokenizer_json(t, json, len, err);
    free(json);
    if (rc) { pd_tokenizer_free(t); return NULL; }
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    if (pd_file_exists(cfg)) {
        if (pd_file_read(cfg, &json, &len, err) || load_config(t, json, len, cfg, err)) {
            free(json);
            pd_tokenizer_free(t);
            return NULL;
        }
        free(json);
    }
    if (!t->chat_template) { /* newer transformers save the template beside the config */
        snprintf(cfg, sizeof cfg, "%s/chat_template.jinja", dir);
        if (pd_file_exists(cfg)) {
            if (pd_file_read(cfg, &json, &len, err)) { pd_tokenizer_free(t); return NULL; }
            t->chat_template = json;
        }
    }
    tok_finish(t);
    return t;
}

void pd_tokenizer_free(pd_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    pcre2_code_free(t->word_re);
    free(t->arena);
    free(t->tokens);
    free(t->byte_tab);
    free(t->form_tab);
    free(t->merge_tab);
    free(t->added);
    free(t->pre_ids);
    free(t->post_ids);
    free(t->bos_token);
    free(t->chat_template);
    tok_chat_clear(&t->chat);
    free(t);
}
