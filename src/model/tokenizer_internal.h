/* tokenizer_internal.h — the tokenizer's data, shared by tokenizer_load.c (reading
 * tokenizer.json / tokenizer_config.json), tokenizer.c (encode, decode) and chat.c
 * (chat templates). Not part of the public API.
 *
 * Everything the tokenizer keeps lives in one string arena plus a few flat tables:
 *   - tokens[id]: the vocabulary form of each id (as written in tokenizer.json) and the
 *     bytes it decodes to (the byte-level mapping undone);
 *   - byte_tab: open-addressing hash from raw bytes to id for the BPE vocabulary, so BPE
 *     runs on raw bytes and never builds byte-level-mapped strings;
 *   - form_tab: hash from vocabulary form to id (token_id lookups, merges);
 *   - merge_tab: hash from the id pair (left, right) to the merge's rank and result;
 *   - added[]: added/special tokens, matched in the text before anything else.
 * The loaded tokenizer is immutable, so one instance may be shared by threads.
 *
 * Two kinds of tokenizer.json are read. Byte-level BPE (a ByteLevel pre-tokenizer or
 * decoder: Llama 3, Qwen2, DeepSeek): as above. SentencePiece-style BPE (no ByteLevel step:
 * Llama 2, Mistral; `spm` set): the vocabulary is kept in its own form ("▁" for a space),
 * byte_tab stays empty, BPE starts from characters (with byte fallback to "<0xNN>" tokens and
 * <unk>), the normaliser is a list of steps (norm[]), the pre-tokenizer is Metaspace or none,
 * and each token's bytes are what the decoder makes of it alone (see tok_entry); the
 * decoder's context rules (byte-fallback runs, the first token, the leading-space strip) are
 * applied while decoding (tokenizer.c). */
#ifndef PD_TOKENIZER_INTERNAL_H
#define PD_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ponder/tokenizer.h"

/* Bounds on what a tokenizer.json may declare (anything larger is refused as absurd). */
#define TOK_MAX_ID        (1 << 24)   /* ids are below 16,777,216 */
#define TOK_MAX_MERGES    (1 << 24)
#define TOK_MAX_TOKEN_LEN 65536       /* bytes in one token's form */
#define TOK_MAX_ADDED     65536
#define TOK_MAX_REGEX     8           /* split regexes in the pre-tokenizer */
#define TOK_MAX_FILE      (1u << 30)  /* tokenizer.json size */

typedef struct tok_entry {
    uint32_t form_off, form_len;   /* vocabulary form, in arena (NUL-terminated) */
    uint32_t bytes_off, bytes_len; /* decoded bytes, in arena */
    uint32_t first_off, first_len; /* SentencePiece-style: decoded bytes as the first token
                                    * (a Metaspace decoder drops its "▁" there; else = bytes) */
    uint8_t present;               /* the id has a token */
    uint8_t special;               /* an added token marked special */
    uint8_t added;                 /* an added token */
    uint8_t byte_tok;              /* SentencePiece-style: a ByteFallback "<0xNN>" token; its
                                    * one byte (bytes) joins a run decoded as UTF-8 together */
    uint8_t skip;                  /* SentencePiece-style: dropped by skip_special (its decoded
                                    * string is a special token's content, as tokenizers tests) */
} tok_entry;

typedef struct tok_added {
    int32_t id;
    uint32_t off, len;             /* the text matched, in arena: the content, or its NFC form
                                    * for a normalized token under an NFC normaliser */
    uint8_t first;                 /* first byte of that text */
    uint8_t lstrip, rstrip, single_word, normalized, special;
} tok_added;

typedef struct tok_merge {
    uint64_t key;                  /* (left id << 32) | right id; 0 with id < 0 = empty slot */
    uint32_t rank;
    int32_t id;                    /* the merged token; -1 marks an empty slot */
} tok_merge;

/* SentencePiece-style normaliser steps (tokenizers' NFC, Prepend, Replace with a String). */
enum { TOK_NORM_NFC = 1, TOK_NORM_PREPEND, TOK_NORM_REPLACE };
#define TOK_MAX_NORM 8
typedef struct tok_norm {
    int kind;
    uint32_t a_off, a_len;         /* Prepend: the text; Replace: the pattern (in arena) */
    uint32_t b_off, b_len;         /* Replace: the content */
} tok_norm;

/* Metaspace prepend_scheme. */
enum { TOK_PREPEND_ALWAYS = 0, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };

/* What chat.c recognised in the model's chat_template. */
typedef struct tok_chat {
    pd_chat_family family;
    int llama_date_header;  /* Llama 3.1+: "Cutting Knowledge Date ... Today Date" header */
    char llama_date[32];    /* the template's fixed default date when it has no strftime_now
                             * (Llama 3.1: "26 Jul 2024"); "" = today's date */
    char *default_system;   /* ChatML: system prompt used when none is given (or NULL) */
    const char *r1_gen;     /* R1: text after <｜Assistant｜> in the generation prompt */
    char why[200];          /* why the template was not recognised ("" when it was) */
} tok_chat;

struct pd_tokenizer {
    char path[4096];            /* tokenizer.json, for messages */
    char *arena;
    size_t arena_len, arena_cap;

    tok_entry *tokens;          /* [n_ids] */
    size_t n_ids;               /* max id + 1 */
    size_t n_vocab;             /* ids that have a token */

    uint32_t *byte_tab;         /* [byte_mask + 1]: id + 1 of the BPE token with those bytes; 0 empty */
    size_t byte_mask;
    uint32_t *form_tab;         /* [form_mask + 1]: id + 1 of the model token with that form */
    size_t form_mask;
    tok_merge *merge_tab;       /* [merge_mask + 1] */
    size_t merge_mask, n_merges;
    int32_t byte_id[256];       /* BPE token of each single byte, -1 when the vocab lacks it */
    int32_t unk_id;             /* model.unk_token, -1 when none */
    int ignore_merges;

    tok_added *added;           /* [n_added], sorted by first byte, longest first */
    size_t n_added;
    uint32_t added_first[257];  /* added[added_first[b] .. added_first[b+1]) start with byte b */
    int any_normalized_added;   /* some added token is matched after normalisation */

    pcre2_code *word_re;        /* single_word's word character (the Rust regex crate's \w),
                                 * compiled when some added token is single_word */
    int nfc;                    /* normaliser: NFC */
    pcre2_code *re[TOK_MAX_REGEX]; /* pre-tokenizer splits, applied in order (Isolated) */
    int n_re;

    /* SentencePiece-style tokenizers (spm = 1); unused by byte-level ones */
    int spm;
    tok_norm norm[TOK_MAX_NORM]; /* normaliser steps, applied in order */
    int n_norm;
    int byte_fallback, fuse_unk; /* model.byte_fallback, model.fuse_unk */
    int32_t fallback_id[256];   /* the model's "<0xNN>" token of each byte, -1 when absent */
    int meta;                   /* pre_tokenizer Metaspace (else none) */
    int meta_prepend;           /* its prepend_scheme (TOK_PREPEND_*) */
    int meta_split;             /* its split: a piece starts at every replacement character */
    char meta_rep[8];           /* its replacement character, UTF-8 (NUL-terminated) */
    size_t meta_rep_len;
    uint32_t dec_from_off, dec_from_len; /* decoder Replace (or Metaspace): each token's occurrences */
    uint32_t dec_to_off, dec_to_len;     /* of this string become that one (from_len 0: none) */
    int dec_meta;               /* decoder Metaspace: as Replace("▁" -> " "), but the first token's
                                 * "▁" are dropped unless prepend_scheme is never (dec_drop_first) */
    int dec_drop_first;
    int dec_byte_fallback;      /* decoder ByteFallback: "<0xNN>" tokens are bytes (byte_tok) */
    char dec_strip[8];          /* decoder Strip (after Fuse): the character removed from the
                                 * start of the decoded text, UTF-8; "" when none */
    size_t dec_strip_len, dec_strip_n; /* its length and how many at most (Strip's start) */

    int32_t *pre_ids, *post_ids; /* post-processor: ids before and after the sequence */
    size_t n_pre, n_post;
    int32_t bos_id, eos_id;

    char *bos_token;            /* tokenizer_config.json bos_token text ("" when none) */
    char *chat_template;        /* the template text (NULL when none) */
    tok_chat chat;
};

/* Arena text of a token's form / bytes. */
static inline const char *tok_form(const pd_tokenizer *t, int32_t id) {
    return t->arena + t->tokens[id].form_off;
}
static inline const unsigned char *tok_bytes(const pd_tokenizer *t, int32_t id) {
    return (const unsigned char *)t->arena + t->tokens[id].bytes_off;
}

/* 64-bit hash of a byte string. */
uint64_t tok_hash(const void *p, size_t n);
/* Lookup in byte_tab / form_tab: the id, or -1. */
int32_t tok_lookup_bytes(const pd_tokenizer *t, const void *p, size_t n);
int32_t tok_lookup_form(const pd_tokenizer *t, const char *p, size_t n);

/* Length of the valid UTF-8 prefix of p[0..n) (n when all valid; strict: no overlongs,
 * surrogates or code points above U+10FFFF). */
/* Continuation bytes after UTF-8 lead byte c (0: not a lead byte) and the range allowed
 * for the first of them. */
size_t tok_utf8_lead(unsigned c, unsigned *lo, unsigned *hi);
size_t tok_utf8_valid_prefix(const unsigned char *p, size_t n);

/* Appends s[0..n) to out with every occurrence of from[0..fl) (fl > 0; leftmost first, not
 * overlapping) replaced by to[0..tl). Returns 0 or PD_ENOMEM. */
int tok_replace(pd_buf *out, const char *s, size_t n, const char *from, size_t fl, const char *to, size_t tl);
/* SentencePiece-style: applies the normaliser steps to p[0..n), appending the result to
 * out. Returns 0 or an error code (PD_ENOMEM, PD_EINVAL for NFC failure). */
int tok_normalize(const pd_tokenizer *t, const unsigned char *p, size_t n, pd_buf *out);

/* tokenizer_unicode.c (generated): letters / numbers newer than PCRE2's Unicode data, as
 * character-class contents. */
extern const char TOK_EXTRA_L[], TOK_EXTRA_N[];

/* tokenizer_gguf.c: a GGUF file's tokenizer (its tokenizer.ggml.* metadata written out as
 * tokenizer.json + tokenizer_config.json text, tj and cj, then loaded as those are). */
struct pd_gguf;
int tok_gguf_json(const struct pd_gguf *g, const char *name, pd_buf *tj, pd_buf *cj, pd_error *err);
pd_tokenizer *tok_load_gguf(const char *path, pd_error *err);
/* The tokenizer.ggml.pre name that reads back as this byte-level pre-tokenizer (Split regex, or
 * NULL for ByteLevel's GPT-2 regex; NFC normaliser; ignore_merges), or NULL. */
const char *tok_gguf_pre_name(const char *regex, int nfc, int ignore_merges);

/* chat.c: recognise tok->chat_template into tok->chat (never fails; sets chat.why). */
void tok_chat_recognise(pd_tokenizer *tok);
void tok_chat_clear(tok_chat *c);

#endif
