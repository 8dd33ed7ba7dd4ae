/* tokenizer.c — encoding and decoding with a loaded byte-level BPE tokenizer.
 *
 * Encoding follows Hugging Face `tokenizers` step by step:
 *   1. added tokens (normalized: false) are found in the raw text, leftmost-longest, with
 *      their lstrip / rstrip / single_word rules; the text between them is processed alone;
 *   2. each such segment is NFC-normalised (utf8proc) when the normaliser says so, and
 *      added tokens with normalized: true are then found in the normalised text;
 *   3. the pre-tokenizer's split regexes (PCRE2, UTF + UCP, JIT when available) cut each
 *      piece into words, every match and every gap between matches a word of its own
 *      ("Isolated"); several regexes refine each other's pieces in order;
 *   4. each word goes through BPE. BPE works on raw bytes: the vocabulary was mapped back
 *      from GPT-2's byte-to-code-point form when loading, so nothing is re-encoded here.
 *      With ignore_merges a word that is itself a token is emitted whole. Otherwise the
 *      classic merge loop: a doubly linked list of symbols and a binary min-heap of
 *      candidate pairs keyed by (merge rank, position); stale heap entries are detected
 *      by re-checking the two symbols' ids when popped. O(n log n) per word.
 *   5. the post-processor's template adds its special ids (e.g. BOS) when asked.
 * Text must be valid UTF-8 (PCRE2 in UTF mode needs it; a clear error otherwise).
 *
 * Decoding concatenates each token's bytes (special tokens optionally skipped; ids with
 * no token are skipped, as `tokenizers` does) and replaces invalid UTF-8 by U+FFFD, one per
 * maximal invalid subpart (Rust's String::from_utf8_lossy). Incremental decoding (pd_detok)
 * runs the same replacement as a stream, holding back an incomplete trailing character, so
 * pushing every id and flushing gives exactly pd_tokenizer_decode's text.
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

/* Runs BPE on one pre-tokenized word (raw bytes p[0..n)) and appends its ids.
 * Returns 0 or an error. */
static int bpe_word(enc_ctx *c, const unsigned char *p, size_t n) {
    const pd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (t->ignore_merges || n == 1) {
        int32_t id = tok_lookup_bytes(t, p, n);
        if (id >= 0) return emit(c, id);
    }
    if (n > c->sym_cap && pd_grow((void **)&c->sym, &c->sym_cap, n, sizeof *c->sym))
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    /* Each merge pushes at most two candidates: n initial + 2n later is enough. */
    size_t need = 3 * n + 1;
    if (need > c->heap_cap && pd_grow((void **)&c->heap, &c->heap_cap, need, sizeof *c->heap))
        return pd_err_set(c->err, PD_ENOMEM, "tokenizer: out of memory");
    bpe_node *s = c->sym;
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id < 0) id = t->unk_id;
        if (id < 0) continue; /* a byte the vocabulary lacks, no unk: dropped, as tokenizers does */
        s[m] = (bpe_node){id, m - 1, m + 1, 1};
        m++;
    }
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

static int segment(enc_ctx *c, const unsigned char *p, size_t n, int normalized_pass);

/* Finds added tokens (those with normalized == want_norm) in p[0..n), emitting them and
 * handing the text between them to `segment` (or straight to the pre-tokenizer in the
 * normalised pass). Returns 0 or an error. */
static int split_added(enc_ctx *c, const unsigned char *p, size_t n, int want_norm) {
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
            rc = want_norm ? pretok(c, 0, p + done, start - done) : segment(c, p + done, start - done, 0);
            if (rc) return rc;
        }
        if ((rc = emit(c, hit->id))) return rc;
        done = i = stop;
    }
    if (done < n) return want_norm ? pretok(c, 0, p + done, n - done) : segment(c, p + done, n - done, 0);
    return 0;
}

/* Processes text between raw-matched added tokens: normalise, match normalised added
 * tokens, pre-tokenize, BPE. Returns 0 or an error. */
static int segment(enc_ctx *c, const unsigned char *p, size_t n, int unused) {
    (void)unused;
    const pd_tokenizer *t = c->t;
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
    int rc = t->any_normalized_added ? split_added(c, p, n, 1) : pretok(c, 0, p, n);
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
    if (!rc) rc = split_added(&c, p, len, 0);
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

int pd_tokenizer_decode_buf(const pd_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special, pd_buf *out,
                            pd_error *err) {
    if (!t || !out || (!ids && n_ids)) return pd_err_set(err, PD_EINVAL, "tokenizer: NULL argument");
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
    if (d->skip_special && t->tokens[id].special) return 0;
    return detok_feed(d, tok_bytes(t, id), t->tokens[id].bytes_len, out, 0);
}

int pd_detok_flush(pd_detok *d, pd_buf *out) {
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
