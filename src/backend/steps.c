/* steps.c — turning sampled tokens into step nodes: the delimiter cut inside a token, and a
 * rollout's split into steps. Shared by the engine's policy (policy_local.c) and the remote
 * policy (remote_policy.c), so that a step is the same whichever ran the model. */
#include "steps.h"

#include <stdlib.h>
#include <string.h>

int pd_steps_append_lossy(pd_buf *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        int ok = k && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = (p[i + j] & 0xC0) == 0x80;
        if (ok && k == 3) ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] > 0x9F);
        if (ok && k == 4) ok = !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] > 0x8F);
        if (ok) {
            if (pd_buf_append(b, p + i, k)) return PD_ENOMEM;
            i += k;
        } else {
            if (pd_buf_puts(b, "\xEF\xBF\xBD")) return PD_ENOMEM;
            i++;
        }
    }
    return 0;
}

/* Do the tokens' bytes spell exactly s? (A SentencePiece-style tokenizer prepends a space
 * to a text encoded on its own; such a tail is not cut.) */
static int tail_is_text(const pd_tokenizer *tok, const int32_t *ids, size_t n, const char *s, size_t len) {
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b;
        size_t l = 0;
        if (pd_tokenizer_token_bytes(tok, ids[i], &b, &l) || at + l > len || memcmp(s + at, b, l)) return 0;
        at += l;
    }
    return at == len;
}

void pd_steps_cut(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, const size_t *ends, const char *text,
                  size_t *cut, size_t *n_keep, int32_t **tail, size_t *n_tail) {
    *n_keep = n_ids;
    *tail = NULL;
    *n_tail = 0;
    if (!n_ids) return;
    size_t last = n_ids - 1, b0 = last ? ends[last - 1] : 0;
    if (*cut >= ends[last]) return; /* the token ends at the delimiter: nothing to cut */
    pd_error e2;
    if (*cut > b0 && !pd_tokenizer_encode(tok, text + b0, *cut - b0, 0, tail, n_tail, &e2) && *n_tail &&
        tail_is_text(tok, *tail, *n_tail, text + b0, *cut - b0)) {
        *n_keep = last; /* the token that ran past the delimiter is replaced by the tail */
        return;
    }
    free(*tail);
    *tail = NULL;
    *n_tail = 0;
    *cut = ends[last]; /* no exact tokens of its own: keep the whole token */
}

void pd_steps_rollout_next(const char *text, size_t cut, const size_t *ends, size_t n_ids, const char *delim,
                           size_t delim_len, size_t s0, size_t id0, size_t *s1, size_t *id1, int *last) {
    *s1 = cut;
    *last = 1;
    for (size_t at = s0; delim_len && at + delim_len <= cut; at++)
        if (!memcmp(text + at, delim, delim_len)) {
            *s1 = at + delim_len;
            *last = *s1 >= cut;
            break;
        }
    size_t i = id0;
    while (i < n_ids && (*last || (i ? ends[i - 1] : 0) < *s1)) i++;
    *id1 = i;
}
