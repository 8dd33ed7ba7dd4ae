/* steps.h — turning sampled tokens into step nodes: the rules the engine's policy and the
 * remote policy share (steps.c). docs/SEARCH.md, "How the cut is made", explains them. */
#ifndef PD_BACKEND_STEPS_H
#define PD_BACKEND_STEPS_H

#include "ponder/base.h"
#include "ponder/tokenizer.h"

/* Append n bytes with invalid UTF-8 replaced by U+FFFD (as a lossy decode does). */
int pd_steps_append_lossy(pd_buf *b, const char *s, size_t n);

/* A step that ended at the delimiter, whose end `*cut` (in text bytes) may fall inside the
 * last sampled token (ids[n_ids-1], text bytes up to ends[n_ids-1]): when it does, the token
 * is dropped and its bytes before the cut tokenized again. Sets *n_keep (sampled ids kept)
 * and *tail / *n_tail (the re-tokenized tail, malloc'd; NULL, 0 when none). A tail whose
 * tokens would not spell it exactly is not cut: *cut moves to the token's end. */
void pd_steps_cut(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, const size_t *ends, const char *text,
                  size_t *cut, size_t *n_keep, int32_t **tail, size_t *n_tail);

/* The next step of a rollout split at the delimiter: the step starting at text byte s0 and
 * sampled id id0 ends at byte *s1 (after the delimiter, or at `cut`) and id *id1 (each id
 * goes to the step its first byte is in); *last when it is the rollout's last step. */
void pd_steps_rollout_next(const char *text, size_t cut, const size_t *ends, size_t n_ids, const char *delim,
                           size_t delim_len, size_t s0, size_t id0, size_t *s1, size_t *id1, int *last);

#endif
