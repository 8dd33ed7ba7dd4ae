/* tokenizer.c — encoding and decoding with a loaded BPE tokenizer (byte-level or
 * SentencePiece-style).
 *
 * Encoding follows Hugging Face `tokenizers` step by step:
 *   1. added tokens (normalized: false) are found in the raw text, leftmost-longest, with
 *      their lstrip / rstrip / single_word rules; the text between them is processed alone;
 *   2. each such segment is NFC-normalised (utf8proc) when the normaliser says so (for
 *      SentencePiece-style tokenizers: the normaliser's steps, e.g. Llama 2's Prepend("▁")
 *      and Replace(" " -> "▁"), so every segment, also one after a special token, gets its
 *      "▁"), and added tokens with normalized: true are then found in the normalised text;
 *   3. the pre-tokenizer's split regexes (PCRE2, UTF + UCP, JIT when available) cut each
 *      piece into words, every match and every gap between matches a word of its own
 *      ("Isolated"); several regexes refine each other's pieces in order. SentencePiece-
 *      style: Metaspace (' ' -> "▁", "▁" prepended as its prepend_scheme says, where
 *      "first" means only a piece that starts the whole text, optional split before each
 *      "▁"), or none: the piece is one word;
 *   4. each word goes through BPE. BPE works on raw bytes: the vocabulary was mapped back
 *      from GPT-2's byte-to-code-point form when loading, so nothing is re-encoded here.
 *      With ignore_merges a word that is itself a token is emitted whole. Otherwise the
 *      classic merge loop: a doubly linked list of symbols and a binary min-heap of
 *      candidate pairs keyed by (merge rank, position); stale heap entries are detected
 *      by re-checking the two symbols' ids when popped. O(n log n) per word.
 *      SentencePiece-style BPE starts from characters instead, with byte fallback and
 *      <unk> (spm_word);
 *   5. the post-processor's template adds its special ids (e.g. BOS) when asked.
 * Text must be valid UTF-8 (PCRE2 in UTF mode needs it; a clear error otherwise).
 *
 * Decoding concatenates each token's bytes (special tokens optionally skipped; ids with
 * no token are skipped, as `tokenizers` does) and replaces invalid UTF-8 by U+FFFD, one per
 * maximal invalid subpart (Rust's String::from_utf8_lossy). Incremental decoding (pd_detok)
 * runs the same replacement as a stream, holding back an incomplete trailing character, so
 * pushing every id and flushing gives exactly pd_tokenizer_decode's text. SentencePiece-
 * style decoding has its own rules (byte-fallback runs, the first token, the leading-space
 * strip): see "SentencePiece-style decode" below; there pd_tokenizer_decode runs pd_detok.
 *
 * No per-word cache: the tokenizer stays immutable and shareable between threads. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- encode state */

typedef struct bpe_node {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t alive;
} bpe_node;

typedef struct bpe_cand {
    uint32_t rank, pos;
    int32_t left, right; /* the ids the pair had when pushed */
} bpe_cand;

typedef struct enc_ctx {
    const pd_tokenizer *t;
    pcre2_match_data *md;
    int32_t *ids;
    size_t n, cap;
    bpe_node *sym;
    size_t sym_cap;
    bpe_cand *heap;
    size_t heap_n, heap_cap;
    pd_error *err;
} enc_ctx;

/* Appends one id; returns 0 or PD_ENOMEM. */
static int emit(enc_ctx *c, int32_t id) {
    if (c->n == c->cap && pd_grow((void **)&c->ids, &c->cap, c->n + 1, sizeof *c->ids))
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    c->ids[c->n++] = id;
    return 0;
}

/* ---------------------------------------------------------------- BPE */

/* Looks up the merge of ids (a, b); returns its slot or NULL. */
static const tok_merge *merge_get(const pd_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & t->merge_mask;
    for (;;) {
        const tok_merge *m = &t->merge_tab[i];
        if (m->id < 0) return NULL;
        if (m->key == key) return m;
        i = (i + 1) & t->merge_mask;
    }
}

/* Heap order: lower rank first, then leftmost. */
static int cand_less(const bpe_cand *a, const bpe_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* Pushes the pair starting at symbol i (if it has a right neighbour and a merge). */
static void heap_push_pair(enc_ctx *c, int32_t i) {
    if (i < 0) return;
    const bpe_node *s = c->sym;
    int32_t j = s[i].next;
    if (j < 0) return;
    const tok_merge *m = merge_get(c->t, s[i].id, s[j].id);
    if (!m) return;
    bpe_cand x = {m->rank, (uint32_t)i, s[i].id, s[j].id};
    size_t k = c->heap_n++; /* capacity was reserved by the caller */
    while (k > 0) {
        size_t p = (k - 1) / 2;
        if (!cand_less(&x, &c->heap[p])) break;
        c->heap[k] = c->heap[p];
        k = p;
    }
    c->heap[k] = x;
}

/* Pops the best candidate into *out; returns 0 when the heap is empty. */
static int heap_pop(enc_ctx *c, bpe_cand *out) {
    if (c->heap_n == 0) return 0;
    *out = c->heap[0];
    bpe_cand x = c->heap[--c->heap_n];
    size_t k = 0, n = c->heap_n;
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        const bpe_cand *best = &x;
        if (l < n && cand_less(&c->heap[l], best)) { m = l; best = &c->heap[l]; }
        if (r < n && cand_less(&c->heap[r], best)) m = r;
        if (m == k) break;
        c->heap[k] = c->heap[m];
        k = m;
    }
    if (n) c->heap[k] = x;
    return 1;
}

/* Makes room for the symbols of a word of n bytes and their merge candidates. Returns 0 or
 * an error. */
static int bpe_reserve(enc_ctx *c, size_t n) {
    if (n > c->sym_cap && pd_grow((void **)&c->sym, &c->sym_cap, n, sizeof *c->sym))
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    /* Each merge pushes at most two candidates: n initial + 2n later is enough. */
    size_t need = 3 * n + 1;
    if (need > c->heap_cap && pd_grow((void **)&c->heap, &c->heap_cap, need, sizeof *c->heap))
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    return 0;
}

static int bpe_merge(enc_ctx *c, int32_t m);

/* Runs BPE on one pre-tokenized word (raw bytes p[0..n)) and appends its ids.
 * Returns 0 or an error. */
static int bpe_word(enc_ctx *c, const unsigned char *p, size_t n) {
    const pd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (t->ignore_merges || n == 1) {
        int32_t id = tok_lookup_bytes(t, p, n);
        if (id >= 0) return emit(c, id);
    }
    int rc = bpe_reserve(c, n);
    if (rc) return rc;
    bpe_node *s = c->sym;
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id < 0) id = t->unk_id;
        if (id < 0) continue; /* a byte the vocabulary lacks, no unk: dropped, as tokenizers does */
        s[m] = (bpe_node){id, m - 1, m + 1, 1};
        m++;
    }
    return bpe_merge(c, m);
}

/* Appends symbol id to the word being built in c->sym (m symbols so far). */
static void sym_add(enc_ctx *c, int32_t *m, int32_t id) {
    c->sym[*m] = (bpe_node){id, *m - 1, *m + 1, 1};
    (*m)++;
}

/* SentencePiece-style BPE on one word p[0..n) (valid UTF-8), as tokenizers' BPE::merge_word:
 * each character is its vocabulary token; one that is not becomes its bytes' "<0xNN>" tokens
 * (byte_fallback, when the vocabulary has them all), else <unk> (consecutive unknowns fused
 * into one with fuse_unk). As in tokenizers, a pending <unk> is only appended when the next
 * character found in the vocabulary (or the end) comes, so byte-fallback tokens of characters
 * in between go before it. Then the merges. Appends the ids; returns 0 or an error. */
static int spm_word(enc_ctx *c, const unsigned char *p, size_t n) {
    const pd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_lookup_form(t, (const char *)p, n);
        if (id >= 0) return emit(c, id);
    }
    int rc = bpe_reserve(c, n); /* at most one symbol per byte */
    if (rc) return rc;
    int32_t m = 0;
    int unk = 0; /* an <unk> is pending */
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (i + k < n && (p[i + k] & 0xC0) == 0x80) k++;
        int32_t id = tok_lookup_form(t, (const char *)p + i, k);
        if (id >= 0) {
            if (unk) sym_add(c, &m, t->unk_id);
            unk = 0;
            sym_add(c, &m, id);
        } else {
            size_t b = 0;
            if (t->byte_fallback)
                while (b < k && t->fallback_id[p[i + b]] >= 0) b++;
            if (t->byte_fallback && b == k) {
                for (b = 0; b < k; b++) sym_add(c, &m, t->fallback_id[p[i + b]]);
            } else if (t->unk_id >= 0) {
                if (unk && !t->fuse_unk) sym_add(c, &m, t->unk_id);
                unk = 1;
            } /* no unk token: the character is dropped, as tokenizers does */
        }
        i += k;
    }
    if (unk) sym_add(c, &m, t->unk_id);
    return bpe_merge(c, m);
}

/* The merge loop over the m symbols in c->sym; appends the resulting ids. Returns 0 or an
 * error. */
static int bpe_merge(enc_ctx *c, int32_t m) {
    const pd_tokenizer *t = c->t;
    bpe_node *s = c->sym;
    if (m == 0) return 0;
    s[m - 1].next = -1;
    c->heap_n = 0;
    for (int32_t i = 0; i + 1 < m; i++) heap_push_pair(c, i);
    bpe_cand x;
    while (heap_pop(c, &x)) {
        int32_t i = (int32_t)x.pos;
        if (!s[i].alive || s[i].id != x.left) continue;
        int32_t j = s[i].next;
        if (j < 0 || s[j].id != x.right) continue;
        const tok_merge *mg = merge_get(t, x.left, x.right);
        s[i].id = mg->id;
        s[j].alive = 0;
        s[i].next = s[j].next;
        if (s[j].next >= 0) s[s[j].next].prev = i;
        heap_push_pair(c, s[i].prev);
        heap_push_pair(c, i);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        int rc = emit(c, s[i].id);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- pre-tokenizer */

/* Splits p[0..n) with regex k (matches and the gaps between them are words), recursing
 * into regex k+1; past the last regex runs BPE. Returns 0 or an error. */
static int pretok(enc_ctx *c, int k, const unsigned char *p, size_t n) {
    const pd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (k >= t->n_re) return bpe_word(c, p, n);
    size_t gap = 0, from = 0;
    int rc;
    while (from < n) {
        int r = pcre2_match(t->re[k], p, n, from, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(r, msg, sizeof msg);
            return pd_err_set(c->err, PD_ELIMIT, "%s: pre-tokenizer regex failed: %s", t->path, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t s = ov[0], e = ov[1];
        if (e == s) { /* an empty match splits nothing: step over one character */
            from = s + 1;
            while (from < n && (p[from] & 0xC0) == 0x80) from++;
            continue;
        }
        if (s > gap && (rc = pretok(c, k + 1, p + gap, s - gap))) return rc;
        if ((rc = pretok(c, k + 1, p + s, e - s))) return rc;
        gap = from = e;
    }
    return gap < n ? pretok(c, k + 1, p + gap, n - gap) : 0;
}

/* ---------------------------------------------------------------- SentencePiece-style */

int tok_replace(pd_buf *out, const char *s, size_t n, const char *from, size_t fl, const char *to, size_t tl) {
    size_t i = 0, run = 0;
    while (fl && i + fl <= n) {
        if (memcmp(s + i, from, fl) != 0) { i++; continue; }
        if (pd_buf_append(out, s + run, i - run) || pd_buf_append(out, to, tl)) return PD_ENOMEM;
        i += fl;
        run = i;
    }
    return pd_buf_append(out, s + run, n - run) ? PD_ENOMEM : 0;
}

int tok_normalize(const pd_tokenizer *t, const unsigned char *p, size_t n, pd_buf *out) {
    pd_buf a = {0}, b = {0};
    if (pd_buf_append(&a, p, n)) return PD_ENOMEM;
    int rc = 0;
    for (int k = 0; k < t->n_norm && !rc; k++) {
        const tok_norm *st = &t->norm[k];
        b.len = 0;
        if (st->kind == TOK_NORM_NFC) {
            unsigned char *nfc = NULL;
            utf8proc_ssize_t r = a.len ? utf8proc_map((const unsigned char *)a.data, (utf8proc_ssize_t)a.len, &nfc,
                                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE) : 0;
            if (r < 0) rc = PD_EINVAL;
            else if (pd_buf_append(&b, nfc, (size_t)r)) rc = PD_ENOMEM;
            free(nfc);
        } else if (st->kind == TOK_NORM_PREPEND) { /* tokenizers: only a non-empty string */
            if (a.len && (pd_buf_append(&b, t->arena + st->a_off, st->a_len) || pd_buf_append(&b, a.data, a.len)))
                rc = PD_ENOMEM;
        } else {
            rc = tok_replace(&b, a.data, a.len, t->arena + st->a_off, st->a_len, t->arena + st->b_off, st->b_len);
        }
        pd_buf tmp = a;
        a = b;
        b = tmp;
    }
    if (!rc && pd_buf_append(out, a.data, a.len)) rc = PD_ENOMEM;
    pd_buf_free(&a);
    pd_buf_free(&b);
    return rc;
}

/* SentencePiece-style pre-tokenization of one piece, as tokenizers' Metaspace: ' ' becomes
 * the replacement character; it is prepended unless the piece already starts with it
 * (prepend_scheme "always"; "first": only when the piece starts the whole text; "never");
 * with split, a word starts at every replacement character (SplitDelimiterBehavior::
 * MergedWithNext). Without a Metaspace pre-tokenizer the piece is one word. Returns 0 or an
 * error. */
static int spm_pretok(enc_ctx *c, const unsigned char *p, size_t n, int first) {
    const pd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (!t->meta) return spm_word(c, p, n);
    const char *rep = t->meta_rep;
    size_t rl = t->meta_rep_len;
    pd_buf w = {0};
    int rc = 0;
    int starts = n >= 1 && p[0] == ' ';
    if (!starts && n >= rl && memcmp(p, rep, rl) == 0) starts = 1;
    if (!starts && (t->meta_prepend == TOK_PREPEND_ALWAYS || (t->meta_prepend == TOK_PREPEND_FIRST && first)))
        rc = pd_buf_append(&w, rep, rl);
    if (!rc) rc = tok_replace(&w, (const char *)p, n, " ", 1, rep, rl);
    if (rc) {
        pd_buf_free(&w);
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    }
    const unsigned char *q = (const unsigned char *)w.data;
    size_t start = 0;
    if (t->meta_split)
        for (size_t i = rl; i + rl <= w.len && !rc; i++)
            if (memcmp(q + i, rep, rl) == 0 && i > start) {
                rc = spm_word(c, q + start, i - start);
                start = i;
            }
    if (!rc) rc = spm_word(c, q + start, w.len - start);
    pd_buf_free(&w);
    return rc;
}

/* ---------------------------------------------------------------- added tokens */

/* Decodes the code point that ends just before p[i] (i > 0, valid UTF-8). */
static int32_t cp_before(const unsigned char *p, size_t i) {
    size_t j = i - 1;
    while (j > 0 && (p[j] & 0xC0) == 0x80) j--;
    int32_t cp;
    utf8proc_iterate(p + j, (utf8proc_ssize_t)(i - j), &cp);
    return cp;
}

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static int is_ws(int32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Whether code point cp is a word character for single_word (t->word_re). */
static int is_word(enc_ctx *c, int32_t cp) {
    unsigned char u[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, u);
    return n > 0 && pcre2_match(c->t->word_re, u, (size_t)n, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, c->md, NULL) > 0;
}

static int segment(enc_ctx *c, const unsigned char *p, size_t n, int first);

/* Pre-tokenizes and encodes one piece of (normalised) text that holds no added token; first:
 * the piece starts the whole text (Metaspace's prepend_scheme "first"). */
static int piece(enc_ctx *c, const unsigned char *p, size_t n, int first) {
    return c->t->spm ? spm_pretok(c, p, n, first) : pretok(c, 0, p, n);
}

/* Finds added tokens (those with normalized == want_norm) in p[0..n), emitting them and
 * handing the text between them to `segment` (or straight to the pre-tokenizer in the
 * normalised pass). first: p[0..n) starts the whole text. Returns 0 or an error. */
static int split_added(enc_ctx *c, const unsigned char *p, size_t n, int want_norm, int first) {
    const pd_tokenizer *t = c->t;
    size_t done = 0; /* text before this is handled */
    size_t i = 0;
    int rc;
    while (i < n) {
        uint32_t lo = t->added_first[p[i]], hi = t->added_first[p[i] + 1];
        const tok_added *hit = NULL;
        for (uint32_t k = lo; k < hi; k++) {
            const tok_added *a = &t->added[k];
            if (a->normalized != want_norm || a->len > n - i) continue;
            if (memcmp(p + i, t->arena + a->off, a->len) == 0) { hit = a; break; }
        }
        if (!hit) { i++; continue; }
        size_t start = i, stop = i + hit->len;
        if (hit->single_word) {
            int before = start > 0 && is_word(c, cp_before(p, start));
            int32_t next = 0;
            int after = stop < n && utf8proc_iterate(p + stop, (utf8proc_ssize_t)(n - stop), &next) > 0 && is_word(c, next);
            if (before || after) { i = stop; continue; } /* not a word of its own: plain text */
        }
        if (hit->lstrip)
            while (start > done && is_ws(cp_before(p, start))) {
                size_t j = start - 1;
                while (j > 0 && (p[j] & 0xC0) == 0x80) j--;
                start = j;
            }
        if (hit->rstrip)
            while (stop < n) {
                int32_t cp;
                utf8proc_ssize_t l = utf8proc_iterate(p + stop, (utf8proc_ssize_t)(n - stop), &cp);
                if (l <= 0 || !is_ws(cp)) break;
                stop += (size_t)l;
            }
        if (start > done) {
            rc = want_norm ? piece(c, p + done, start - done, first && done == 0)
                           : segment(c, p + done, start - done, first && done == 0);
            if (rc) return rc;
        }
        if ((rc = emit(c, hit->id))) return rc;
        done = i = stop;
    }
    if (done < n)
        return want_norm ? piece(c, p + done, n - done, first && done == 0) : segment(c, p + done, n - done, first && done == 0);
    return 0;
}

/* Processes text between raw-matched added tokens: normalise, match normalised added
 * tokens, pre-tokenize, BPE. first: p starts the whole text. Returns 0 or an error. */
static int segment(enc_ctx *c, const unsigned char *p, size_t n, int first) {
    const pd_tokenizer *t = c->t;
    if (t->spm) {
        pd_buf nb = {0};
        int rc = t->n_norm ? tok_normalize(t, p, n, &nb) : 0;
        if (rc == PD_ENOMEM) rc = pd_err_set(c->err, rc, "tokenizer: out of memory");
        else if (rc) rc = pd_err_set(c->err, rc, "%s: normalisation failed", t->path);
        else if (t->n_norm) p = (const unsigned char *)(nb.data ? nb.data : ""), n = nb.len;
        if (!rc && n) rc = t->any_normalized_added ? split_added(c, p, n, 1, first) : piece(c, p, n, first);
        pd_buf_free(&nb);
        return rc;
    }
    unsigned char *norm = NULL;
    if (t->nfc) {
        size_t k = 0;
        while (k < n && p[k] < 0x80) k++;
        if (k < n) {
            utf8proc_ssize_t r = utf8proc_map(p, (utf8proc_ssize_t)n, &norm, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (r < 0) return pd_err_set(c->err, PD_EINVAL, "%s: NFC normalisation failed: %s", t->path, utf8proc_errmsg(r));
            p = norm;
            n = (size_t)r;
        }
    }
    int rc = t->any_normalized_added ? split_added(c, p, n, 1, first) : pretok(c, 0, p, n);
    free(norm);
    return rc;
}

/* ---------------------------------------------------------------- public: encode */

int pd_tokenizer_encode(const pd_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
                        size_t *n_ids, pd_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len)) return pd_err_set(err, PD_EINVAL, "tokenizer: NULL argument");
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    size_t ok = tok_utf8_valid_prefix(p, len);
    if (ok != len) return pd_err_set(err, PD_EINVAL, "tokenizer: text is not valid UTF-8 at byte %zu", ok);
    enc_ctx c = {0};
    c.t = t;
    c.err = err;
    int rc = 0;
    if (t->n_re || t->word_re) {
        c.md = pcre2_match_data_create(4, NULL);
        if (!c.md) return pd_err_set(err, PD_ENOMEM, "tokenizer: out of memory");
    }
    if (add_special)
        for (size_t i = 0; i < t->n_pre && !rc; i++) rc = emit(&c, t->pre_ids[i]);
    if (!rc) rc = split_added(&c, p, len, 0, 1);
    if (add_special)
        for (size_t i = 0; i < t->n_post && !rc; i++) rc = emit(&c, t->post_ids[i]);
    pcre2_match_data_free(c.md);
    free(c.sym);
    free(c.heap);
    if (rc) {
        free(c.ids);
        return rc;
    }
    if (!c.ids) c.ids = malloc(sizeof *c.ids); /* a valid pointer even for no ids */
    if (!c.ids) return pd_err_set(err, PD_ENOMEM, "tokenizer: out of memory");
    *ids = c.ids;
    *n_ids = c.n;
    return 0;
}

/* ---------------------------------------------------------------- decode */

/* Appends bytes p[0..n) to out as valid UTF-8, each maximal invalid subpart replaced by
 * U+FFFD. When !final, an incomplete character at the very end is not consumed: returns
 * the number of bytes consumed (n when final), or a negative error. */
static long long lossy_append(pd_buf *out, const unsigned char *p, size_t n, int final) {
    static const char FFFD[] = "\xEF\xBF\xBD";
    if (n == 0) return 0;
    size_t i = 0, run = 0; /* p[run..i) is valid and not yet appended */
    while (i < n) {
        unsigned c = p[i], lo, hi;
        if (c < 0x80) { i++; continue; }
        size_t need = tok_utf8_lead(c, &lo, &hi); /* 0: not a lead byte */
        size_t k = 1;
        if (need) {
            for (; k <= need && i + k < n; k++) {
                unsigned b = p[i + k];
                if (k == 1 ? (b < lo || b > hi) : ((b & 0xC0) != 0x80)) break;
            }
            if (k > need) { i += need + 1; continue; } /* a whole valid character */
            if (i + k >= n && !final) {             /* incomplete at the end: hold it back */
                if (pd_buf_append(out, p + run, i - run)) return PD_ENOMEM;
                return (long long)i;
            }
        }
        /* p[i..i+k) is a maximal invalid subpart */
        if (pd_buf_append(out, p + run, i - run) || pd_buf_append(out, FFFD, 3)) return PD_ENOMEM;
        i += k;
        run = i;
    }
    if (pd_buf_append(out, p + run, n - run)) return PD_ENOMEM;
    return (long long)n;
}

/* ---------------------------------------------------------------- SentencePiece-style decode */

/* SentencePiece-style decoding follows tokenizers' decoder chain on the token strings:
 * Replace("▁" -> " ") on each token (or Metaspace, which drops "▁" in the first token), then
 * ByteFallback: a run of consecutive "<0xNN>" tokens becomes its bytes when they are valid
 * UTF-8 as a whole, else one U+FFFD per byte (the whole run, even its valid characters), then
 * Fuse, then Strip: at most dec_strip_n leading dec_strip characters of the whole text go.
 * Skipped special tokens are dropped before the decoder, so a run continues across them.
 * It is written as a stream (pd_detok), which pd_tokenizer_decode_buf also uses: text is
 * emitted as soon as nothing later can change it, i.e. a byte run is held until it ends or
 * turns invalid (after which each further byte of it is one U+FFFD). */

static const char U_FFFD[] = "\xEF\xBF\xBD";

/* State of UTF-8 bytes p[0..n): -1 invalid, 0 whole characters, 1 valid but the last
 * character lacks bytes. */
static int utf8_state(const unsigned char *p, size_t n) {
    size_t i = tok_utf8_valid_prefix(p, n);
    if (i == n) return 0;
    unsigned lo, hi;
    size_t need = tok_utf8_lead(p[i], &lo, &hi);
    if (!need || n - i > need) return -1;
    for (size_t k = 1; i + k < n; k++) {
        unsigned b = p[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return -1;
    }
    return 1;
}

/* Where the last character of p[0..n) (n > 0, valid but for a possibly incomplete end)
 * starts: everything before it is whole characters. */
static size_t last_start(const unsigned char *p, size_t n) {
    size_t j = n - 1;
    while (j > 0 && n - j < 4 && (p[j] & 0xC0) == 0x80) j--;
    return j;
}

/* Appends decoded text to out, the decoder's Strip removing what it still may. */
static int spm_out(pd_detok *d, const void *p, size_t n, pd_buf *out) {
    const pd_tokenizer *t = d->tok;
    const char *s = p;
    while (d->strip_left && n >= t->dec_strip_len && memcmp(s, t->dec_strip, t->dec_strip_len) == 0) {
        s += t->dec_strip_len;
        n -= t->dec_strip_len;
        d->strip_left--;
    }
    if (!n) return 0;
    d->strip_left = 0; /* Strip stops at the first other character */
    return pd_buf_append(out, s, n) ? PD_ENOMEM : 0;
}

/* Forgets the held run. */
static void run_clear(pd_detok *d) {
    free(d->run);
    d->run = NULL;
    d->run_cap = 0;
    d->n_run = 0;
    d->n_pending = 0;
}

/* Ends the current byte run: emits it (or a U+FFFD per byte when it is not whole valid
 * UTF-8). Returns 0 or PD_ENOMEM. */
static int spm_end_run(pd_detok *d, pd_buf *out) {
    int rc = 0;
    if (d->n_run) {
        const unsigned char *buf = d->run ? d->run : d->pending;
        size_t n = d->n_run, j = last_start(buf, n);
        if (utf8_state(buf + j, n - j) == 0) rc = spm_out(d, buf, n, out);
        else
            for (size_t k = 0; k < n && !rc; k++) rc = spm_out(d, U_FFFD, 3, out);
    }
    run_clear(d);
    d->run_bad = 0;
    return rc;
}

/* Decodes one (not skipped) token of a SentencePiece-style tokenizer. Returns 0 or
 * PD_ENOMEM. */
static int spm_push(pd_detok *d, int32_t id, pd_buf *out) {
    const pd_tokenizer *t = d->tok;
    const tok_entry *e = &t->tokens[id];
    int first = d->n_tokens++ == 0;
    if (!e->byte_tok) {
        int rc = spm_end_run(d, out);
        if (rc) return rc;
        return first ? spm_out(d, t->arena + e->first_off, e->first_len, out) : spm_out(d, tok_bytes(t, id), e->bytes_len, out);
    }
    if (d->run_bad) return spm_out(d, U_FFFD, 3, out);
    size_t n = d->n_run;
    if (n + 1 > sizeof d->pending) { /* a long run moves to the heap */
        if (n + 1 > d->run_cap) {
            size_t cap = d->run_cap ? 2 * d->run_cap : 64;
            unsigned char *r = realloc(d->run, cap);
            if (!r) return PD_ENOMEM;
            if (!d->run) memcpy(r, d->pending, n);
            d->run = r;
            d->run_cap = cap;
        }
        d->run[n] = *tok_bytes(t, id);
    } else {
        d->pending[n] = *tok_bytes(t, id);
    }
    d->n_run = n + 1;
    d->n_pending = d->n_run > 0x7FFFFFFF ? 0x7FFFFFFF : (int)d->n_run;
    const unsigned char *buf = d->run ? d->run : d->pending;
    size_t j = n ? last_start(buf, n) : 0;
    if (utf8_state(buf + j, n + 1 - j) >= 0) return 0;
    /* broken: every byte of the run is U+FFFD, those to come too */
    run_clear(d);
    d->run_bad = 1;
    int rc = 0;
    for (size_t k = 0; k <= n && !rc; k++) rc = spm_out(d, U_FFFD, 3, out);
    return rc;
}

int pd_tokenizer_decode_buf(const pd_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special, pd_buf *out,
                            pd_error *err) {
    if (!t || !out || (!ids && n_ids)) return pd_err_set(err, PD_EINVAL, "tokenizer: NULL argument");
    if (t->spm) {
        pd_detok d;
        pd_detok_init(&d, t, skip_special);
        int rc = 0;
        for (size_t i = 0; i < n_ids && !rc; i++) rc = pd_detok_push(&d, ids[i], out);
        if (!rc) rc = pd_detok_flush(&d, out);
        pd_detok_free(&d);
        return rc ? pd_err_set(err, PD_ENOMEM, "tokenizer: out of memory") : 0;
    }
    pd_buf raw = {0};
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].present) continue;
        if (skip_special && t->tokens[id].special) continue;
        if (pd_buf_append(&raw, tok_bytes(t, id), t->tokens[id].bytes_len)) goto oom;
    }
    if (lossy_append(out, (const unsigned char *)raw.data, raw.len, 1) < 0) goto oom;
    pd_buf_free(&raw);
    return 0;
oom:
    pd_buf_free(&raw);
    return pd_err_set(err, PD_ENOMEM, "tokenizer: out of memory");
}

int pd_tokenizer_decode(const pd_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special, char **text,
                        pd_error *err) {
    *text = NULL;
    pd_buf out = {0};
    int rc = pd_tokenizer_decode_buf(t, ids, n_ids, skip_special, &out, err);
    if (rc) {
        pd_buf_free(&out);
        return rc;
    }
    *text = pd_buf_steal(&out);
    if (!*text) return pd_err_set(err, PD_ENOMEM, "tokenizer: out of memory");
    return 0;
}

void pd_detok_init(pd_detok *d, const pd_tokenizer *tok, int skip_special) {
    d->tok = tok;
    d->n_pending = 0;
    d->skip_special = skip_special;
    d->n_tokens = 0;
    d->strip_left = tok && tok->spm ? tok->dec_strip_n : 0;
    d->n_run = 0;
    d->run_bad = 0;
    d->run = NULL;
    d->run_cap = 0;
}

void pd_detok_free(pd_detok *d) {
    if (!d) return;
    run_clear(d);
    d->run_bad = 0;
}

/* Runs pending + p[0..n) through the lossy stream; keeps the unconsumed tail pending. */
static int detok_feed(pd_detok *d, const unsigned char *p, size_t n, pd_buf *out, int final) {
    unsigned char small[256];
    unsigned char *buf = small;
    size_t total = (size_t)d->n_pending + n;
    if (total > sizeof small && !(buf = malloc(total))) return PD_ENOMEM;
    memcpy(buf, d->pending, (size_t)d->n_pending);
    if (n) memcpy(buf + d->n_pending, p, n);
    long long used = lossy_append(out, buf, total, final);
    if (used >= 0) {
        d->n_pending = (int)(total - (size_t)used); /* at most 3: an incomplete character */
        memcpy(d->pending, buf + used, (size_t)d->n_pending);
    }
    if (buf != small) free(buf);
    return used < 0 ? PD_ENOMEM : 0;
}

int pd_detok_push(pd_detok *d, int32_t id, pd_buf *out) {
    const pd_tokenizer *t = d->tok;
    if (!t) return PD_EINVAL;
    if (id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].present) return 0;
    if (t->spm) return d->skip_special && t->tokens[id].skip ? 0 : spm_push(d, id, out);
    if (d->skip_special && t->tokens[id].special) return 0;
    return detok_feed(d, tok_bytes(t, id), t->tokens[id].bytes_len, out, 0);
}

int pd_detok_flush(pd_detok *d, pd_buf *out) {
    if (d->tok && d->tok->spm) return spm_end_run(d, out);
    if (d->n_pending == 0) return 0;
    return detok_feed(d, NULL, 0, out, 1);
}

/* ---------------------------------------------------------------- accessors */

size_t pd_tokenizer_vocab_size(const pd_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t pd_tokenizer_token_id(const pd_tokenizer *t, const char *token) {
    if (!t || !token || !*token) return -1;
    size_t n = strlen(token);
    /* added tokens first, by their content (what they match may be its NFC form) */
    for (size_t k = 0; k < t->n_added; k++) {
        int32_t id = t->added[k].id;
        if (t->tokens[id].form_len == n && memcmp(tok_form(t, id), token, n) == 0) return id;
    }
    return tok_lookup_form(t, token, n);
}

const char *pd_tokenizer_token_str(const pd_tokenizer *t, int32_t id) {
    if (!t || id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].present) return NULL;
    return tok_form(t, id);
}

int pd_tokenizer_token_bytes(const pd_tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (!t || id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].present) return PD_ENOTFOUND;
    *bytes = (const char *)tok_bytes(t, id);
    *len = t->tokens[id].bytes_len;
    return 0;
}

int pd_tokenizer_is_special(const pd_tokenizer *t, int32_t id) {
    if (!t || id < 0 || (size_t)id >= t->n_ids) return 0;
    return t->tokens[id].special;
}

int32_t pd_tokenizer_bos_id(const pd_tokenizer *t) { return t ? t->bos_id : -1; }
int32_t pd_tokenizer_eos_id(const pd_tokenizer *t) { return t ? t->eos_id : -1; }
