/* strategies.c — best_of_n, beam_search and dvts as state machines.
 *
 * Each strategy answers three events: start (emit the first round), expanded (the policy
 * answered: hand the candidates to the shared lookahead/scoring code) and scored (the
 * verifier answered: keep, drop, finish, and emit the next round or stop). Semantics follow
 * Hugging Face's search-and-learn; docs/SEARCH.md lists where and why they differ.
 *
 * best_of_n    N rollouts of the root; every step of every rollout scored; the completions
 *              in sample order.
 * beam_search  round 0 samples N first steps; each later round, the K <= N/M best unfinished
 *              candidates (by aggregated score; ties to the earlier candidate) are the
 *              active beams and share N expansions (M each when K = N/M; otherwise the best
 *              beams get one extra, as the reference repeats its beams to fill N). Finished
 *              or truncated candidates leave for the completion list. The round numbered
 *              num_iterations - 1 rolls out to the end. The result is the N best completions.
 * dvts         N/M independent subtrees of the root; each round every live subtree samples M
 *              children of its head and continues from the best one; when that best child
 *              is finished the subtree's answer is that child (one finished answer per
 *              subtree; its unfinished siblings are dropped). The last round rolls out.
 * lookahead k  (beam_search, dvts) each candidate is extended by k greedy steps and the
 *              candidate is ranked by the aggregated score of that longer path; the extra
 *              steps are then dropped.
 *
 * Holds (search.c releases a node when nothing holds it and no child is left): every head
 * the strategy will extend carries one hold, and every candidate one until it is judged. A
 * kept candidate's hold becomes its head hold; a dropped or completed candidate and the
 * previous round's heads are unheld, so a branch with nothing live below it is released at
 * once, up to the first ancestor that still leads to a live node. Completions are released
 * as they are recorded: the result reads only their texts and rewards from the tree. */
#include "search_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- best_of_n ---- */

static int bon_start(pd_search *s) {
    s->n_cands = s->cfg.n;
    for (int32_t i = 0; i < s->n_cands; i++) s->owner[i] = 0;
    s->last_round = 1;
    s->iter = 1;
    s->stage = ST_EXPAND;
    return pd_search_push_expand(s, 0, s->cfg.n, 0, PD_EXPAND_ROLLOUT, 0, s->cands);
}

static int bon_scored(pd_search *s) {
    for (int32_t i = 0; i < s->n_cands; i++) {
        if (pd_search_add_done(s, s->cands[i])) return PD_ENOMEM;
        pd_search_unhold(s, s->cands[i]);
    }
    s->stage = ST_DONE;
    return 0;
}

/* ---- beam_search ---- */

/* Emit the next round: the active beams share N expansions. */
static int beam_emit(pd_search *s) {
    int32_t n = s->cfg.n, k = s->n_heads, off = 0;
    s->last_round = s->iter == s->cfg.num_iterations - 1;
    int mode = s->last_round ? PD_EXPAND_ROLLOUT : PD_EXPAND_STEP;
    for (int32_t j = 0; j < k; j++) {
        int32_t cnt = n / k + (j < n % k);
        if (pd_search_push_expand(s, s->heads[j], cnt, 0, mode, 0, s->cands + off)) return PD_ENOMEM;
        for (int32_t i = 0; i < cnt; i++) s->owner[off + i] = j;
        off += cnt;
    }
    s->n_cands = off;
    s->iter++;
    s->stage = ST_EXPAND;
    return 0;
}

static int beam_start(pd_search *s) {
    s->heads[0] = 0;
    s->n_heads = 1;
    pd_search_hold(s, 0);
    return beam_emit(s);
}

static int beam_scored(pd_search *s) {
    int32_t keep = s->cfg.n / s->cfg.beam_width;
    pd_rank *rk = s->rank;
    int32_t n_open = 0;
    for (int32_t i = 0; i < s->n_cands; i++) {
        if (pd_node_done(&s->tree.nodes[s->cands[i]])) {
            if (pd_search_add_done(s, s->cands[i])) return PD_ENOMEM;
            pd_search_unhold(s, s->cands[i]);
        } else {
            rk[n_open++] = (pd_rank){s->sel[i], i};
        }
    }
    pd_rank_sort(rk, s->rank_tmp, (size_t)n_open);
    /* the previous round's heads are done with (their kept children carry the path on) */
    for (int32_t j = 0; j < s->n_heads; j++) pd_search_unhold(s, s->heads[j]);
    s->n_heads = 0;
    for (int32_t r = 0; r < n_open; r++) {
        int32_t id = s->cands[rk[r].idx];
        if (r < keep) s->heads[s->n_heads++] = id; /* its candidate hold is now a head hold */
        else pd_search_unhold(s, id);
    }
    if (s->n_heads == 0 || s->iter >= s->cfg.num_iterations) {
        s->stage = ST_DONE;
        return 0;
    }
    return beam_emit(s);
}

/* ---- dvts ---- */

/* Emit the next round: M children for the head of every live subtree. */
static int dvts_emit(pd_search *s) {
    int32_t m = s->cfg.beam_width, subtrees = s->cfg.n / m, off = 0;
    s->last_round = s->iter == s->cfg.num_iterations - 1;
    int mode = s->last_round ? PD_EXPAND_ROLLOUT : PD_EXPAND_STEP;
    for (int32_t t = 0; t < subtrees; t++) {
        if (!s->alive[t]) continue;
        /* the subtrees share the root: give each its own child indices there */
        int32_t base = s->heads[t] == 0 ? t * m : 0;
        if (pd_search_push_expand(s, s->heads[t], m, base, mode, 0, s->cands + off)) return PD_ENOMEM;
        for (int32_t i = 0; i < m; i++) s->owner[off + i] = t;
        off += m;
    }
    s->n_cands = off;
    s->iter++;
    s->stage = ST_EXPAND;
    return 0;
}

static int dvts_start(pd_search *s) {
    int32_t subtrees = s->cfg.n / s->cfg.beam_width;
    for (int32_t t = 0; t < subtrees; t++) {
        s->heads[t] = 0;
        s->alive[t] = 1;
        pd_search_hold(s, 0);
    }
    s->n_heads = subtrees;
    return dvts_emit(s);
}

static int dvts_scored(pd_search *s) {
    int32_t m = s->cfg.beam_width, subtrees = s->cfg.n / m, live = 0;
    for (int32_t g = 0; g < s->n_cands; g += m) {
        int32_t t = s->owner[g], best = g;
        for (int32_t i = g + 1; i < g + m; i++)
            if (s->sel[i] > s->sel[best]) best = i;
        for (int32_t i = g; i < g + m; i++)
            if (i != best) pd_search_unhold(s, s->cands[i]);
        pd_search_unhold(s, s->heads[t]); /* the old head: its best child carries the path on */
        s->heads[t] = s->cands[best];     /* the candidate's hold is now the head's */
        if (pd_node_done(&s->tree.nodes[s->cands[best]])) {
            s->alive[t] = 0; /* the subtree's answer: only its text is read from now on */
            pd_search_unhold(s, s->heads[t]);
        } else {
            live++;
        }
    }
    if (live == 0 || s->iter >= s->cfg.num_iterations) {
        /* one answer per subtree, in subtree order */
        for (int32_t t = 0; t < subtrees; t++) {
            if (pd_search_add_done(s, s->heads[t])) return PD_ENOMEM;
            if (s->alive[t]) pd_search_unhold(s, s->heads[t]);
        }
        s->stage = ST_DONE;
        return 0;
    }
    return dvts_emit(s);
}

/* ---- dispatch ---- */

int pd_strat_start(pd_search *s) {
    s->iter = 0;
    switch (s->cfg.strategy) {
    case PD_BEST_OF_N: return bon_start(s);
    case PD_BEAM_SEARCH: return beam_start(s);
    case PD_DVTS: return dvts_start(s);
    default: return PD_EINVAL;
    }
}

int pd_strat_expanded(pd_search *s) {
    return pd_search_after_expand(s);
}

int pd_strat_scored(pd_search *s) {
    switch (s->cfg.strategy) {
    case PD_BEST_OF_N: return bon_scored(s);
    case PD_BEAM_SEARCH: return beam_scored(s);
    case PD_DVTS: return dvts_scored(s);
    default: return PD_EINVAL;
    }
}
