/* strategies.c — best_of_n, beam_search and dvts as state machines.
 *
 * Each strategy answers three events: start (emit the first round), expanded (the policy
 * answered: hand the candidates to the shared lookahead/scoring code) and scored (the
 * verifier answered: keep, drop, finish, and emit the next round or stop). Semantics follow
 * Hugging Face's search-and-learn; docs/SEARCH.md lists where and why they differ.
 *
 * best_of_n    N rollouts of the root; every step of every rollout scored; the completions
 *              in sample order.
 *              With vote_wave W > 0 the rollouts come W at a time and sampling stops once
 *              the majority vote is settled (the leader has more votes than the runner-up
 *              could reach with all the samples left): the result then has fewer than N.
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
 * particle_filter  N particles (Puri et al. 2025, "a probabilistic inference approach to
 *              inference-time scaling"; its_hub's semantics): each round every unfinished
 *              particle takes one step (a distinct sample even where particles share a node);
 *              its log-weight is logit(reward of its newest step) / temperature. When the
 *              effective sample size 1 / sum(w^2) of the normalised weights falls below
 *              ess_threshold x N, the N particles are resampled (systematic or multinomial)
 *              in proportion to their weights, finished ones included, so a good finished
 *              particle can take over the others. The last round rolls out; the result is the
 *              N particles' solutions (duplicates count, as the weights meant).
 * rebase       REBASE (Wu et al. 2024): the frontier starts at the root; each round the width
 *              left, N minus the completions found, is split over the frontier nodes by
 *              softmax(reward / balance temperature) (largest remainders), each node gets that
 *              many children, finished children are completions and the others the next
 *              frontier; the width shrinks as solutions finish. The last round rolls out.
 * deepconf     DeepConf online (Fu et al. 2025, "Deep think with confidence"): W warm-up
 *              rollouts (max(2, N/8)) set a threshold, the confidence that keeps the share
 *              deepconf_keep of them (0.9: DeepConf-high; 0.1: -low), measured as each trace's
 *              lowest sliding-window confidence; the other N - W rollouts stop as soon as
 *              their window falls below it (their tokens are not spent). Warm-up traces below
 *              the threshold and stopped traces get reward 0, so they carry no weight in
 *              weighted voting (use it with --prm deepconf for DeepConf's confidence-weighted
 *              vote).
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
#include "ponder/grade.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- best_of_n ---- */

/* The next wave of rollouts: all N, or vote_wave of those left. */
static int bon_emit(pd_search *s) {
    int32_t left = s->cfg.n - s->n_done, k = s->cfg.vote_wave > 0 && s->cfg.vote_wave < left ? s->cfg.vote_wave : left;
    s->n_cands = k;
    for (int32_t i = 0; i < k; i++) s->owner[i] = 0;
    s->last_round = 1;
    s->iter++;
    s->stage = ST_EXPAND;
    return pd_search_push_expand(s, 0, k, s->n_done, PD_EXPAND_ROLLOUT, 0, s->cands);
}

static int bon_start(pd_search *s) {
    return bon_emit(s);
}

char **pd_search_answer_keys(pd_search *s, int32_t n) {
    char **keys = calloc((size_t)n + 1, sizeof *keys);
    if (!keys) return NULL;
    for (int32_t i = 0; i < n; i++) {
        char *text = pd_tree_path_text(&s->tree, s->done[i]);
        char *ans = text ? pd_grade_extract(text, s->prob->answer) : NULL;
        keys[i] = ans ? pd_grade_key(ans) : NULL;
        free(ans);
        free(text);
    }
    return keys;
}

void pd_search_keys_free(char **keys, int32_t n) {
    for (int32_t i = 0; keys && i < n; i++) free(keys[i]);
    free(keys);
}

/* Is the majority vote over the completions so far settled: can the samples left not change
 * the leader? Returns 1, 0, or -1 when out of memory. */
static int vote_settled(pd_search *s) {
    int32_t n = s->n_done, left = s->cfg.n - n;
    char **keys = pd_search_answer_keys(s, n);
    if (!keys) return -1;
    int32_t best = 0, second = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!keys[i]) continue;
        int32_t c = 0, first = 1;
        for (int32_t j = 0; j < n; j++) {
            if (!keys[j] || strcmp(keys[i], keys[j])) continue;
            if (j < i) first = 0;
            c++;
        }
        if (!first) continue; /* count each answer once */
        if (c > best) second = best, best = c;
        else if (c > second) second = c;
    }
    pd_search_keys_free(keys, n);
    return best > second + left;
}

static int bon_scored(pd_search *s) {
    for (int32_t i = 0; i < s->n_cands; i++) {
        if (pd_search_add_done(s, s->cands[i])) return PD_ENOMEM;
        pd_search_unhold(s, s->cands[i]);
    }
    if (s->n_done < s->cfg.n && s->cfg.vote_wave > 0) {
        int settled = vote_settled(s);
        if (settled < 0) return PD_ENOMEM;
        if (!settled) return bon_emit(s);
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

/* One head, the root, held; then the strategy's first round. */
static int start_at_root(pd_search *s, int (*emit)(pd_search *)) {
    s->heads[0] = 0;
    s->n_heads = 1;
    pd_search_hold(s, 0);
    return emit(s);
}

static int beam_start(pd_search *s) {
    return start_at_root(s, beam_emit);
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

/* ---- shared pieces: resampling and budget allocation ---- */

void pd_resample_indices(const double *w, int32_t n, int32_t n_out, pd_resample how, pd_rng *rng, int32_t *out) {
    /* walk the cumulative weights once with increasing points u_k */
    double u0 = how == PD_RESAMPLE_SYSTEMATIC ? pd_rng_f64(rng) / n_out : 0.0, cum = w[0];
    int32_t i = 0;
    double acc = 0;
    for (int32_t k = 0; k < n_out; k++) {
        double u;
        if (how == PD_RESAMPLE_SYSTEMATIC) {
            u = u0 + (double)k / n_out;
        } else {
            /* the k-th of n_out sorted uniforms by the running-maximum trick:
             * u_k = 1 - (1 - u_{k-1}) * U^(1/(n_out-k)) */
            double e = pow(pd_rng_f64(rng), 1.0 / (double)(n_out - k));
            acc = 1.0 - (1.0 - acc) * e;
            u = acc;
        }
        while (u >= cum && i < n - 1) cum += w[++i];
        out[k] = i;
    }
}

void pd_softmax_allocate(const double *score, int32_t n, int32_t budget, double temperature, int32_t *out) {
    if (n <= 0) return;
    double mx = score[0], sum = 0;
    for (int32_t i = 1; i < n; i++) mx = score[i] > mx ? score[i] : mx;
    double *rem = malloc((size_t)n * sizeof *rem);
    int32_t given = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((score[i] - mx) / temperature);
    for (int32_t i = 0; i < n; i++) {
        double share = budget * exp((score[i] - mx) / temperature) / sum;
        out[i] = (int32_t)floor(share);
        given += out[i];
        if (rem) rem[i] = share - out[i];
    }
    while (given < budget) { /* largest remainder first, ties to the lower index */
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (rem ? rem[i] > rem[best] : out[i] < out[best]) best = i;
        out[best]++;
        given++;
        if (rem) rem[best] = -1;
    }
    free(rem);
}

/* The reward of a node's newest step, 0.5 when it has none (the root). */
static double node_reward(const pd_search *s, int32_t id) {
    float r = s->tree.nodes[id].reward;
    return r < 0 ? 0.5 : r;
}

/* ---- particle_filter ---- */

static int pf_emit(pd_search *s) {
    int32_t n = s->cfg.n, off = 0;
    s->last_round = s->iter == s->cfg.num_iterations - 1;
    int mode = s->last_round ? PD_EXPAND_ROLLOUT : PD_EXPAND_STEP;
    for (int32_t i = 0; i < n; i++) {
        if (!s->alive[i]) continue;
        /* particles on one node take distinct samples: count the earlier ones there */
        int32_t dup = 0;
        for (int32_t j = 0; j < i; j++) dup += s->alive[j] && s->heads[j] == s->heads[i];
        int32_t base = (int32_t)s->tree.nodes[s->heads[i]].n_children + dup;
        if (pd_search_push_expand(s, s->heads[i], 1, base, mode, 0, s->cands + off)) return PD_ENOMEM;
        s->owner[off++] = i;
    }
    s->n_cands = off;
    s->iter++;
    s->stage = ST_EXPAND;
    return 0;
}

static int pf_start(pd_search *s) {
    for (int32_t i = 0; i < s->cfg.n; i++) {
        s->heads[i] = 0;
        s->alive[i] = 1;
        s->weight[i] = 0;
        pd_search_hold(s, 0);
    }
    s->n_heads = s->cfg.n;
    return pf_emit(s);
}

static int pf_scored(pd_search *s) {
    int32_t n = s->cfg.n, live = 0;
    double T = s->cfg.pf_temperature;
    for (int32_t c = 0; c < s->n_cands; c++) {
        int32_t i = s->owner[c], id = s->cands[c];
        pd_search_unhold(s, s->heads[i]); /* the candidate's hold becomes the particle's */
        s->heads[i] = id;
        double r = node_reward(s, id);
        r = r < 1e-6 ? 1e-6 : r > 1 - 1e-6 ? 1 - 1e-6 : r;
        s->weight[i] = log(r / (1 - r)) / T;
        s->alive[i] = !pd_node_done(&s->tree.nodes[id]);
    }
    for (int32_t i = 0; i < n; i++) live += s->alive[i];
    if (live && s->iter < s->cfg.num_iterations) {
        /* normalised weights and their effective sample size */
        double mx = s->weight[0], sum = 0, sq = 0;
        for (int32_t i = 1; i < n; i++) mx = s->weight[i] > mx ? s->weight[i] : mx;
        double *w = s->sel; /* (N) scratch: sel is free between rounds */
        for (int32_t i = 0; i < n; i++) sum += (w[i] = exp(s->weight[i] - mx));
        for (int32_t i = 0; i < n; i++) {
            w[i] /= sum;
            sq += w[i] * w[i];
        }
        if (1.0 / sq < s->cfg.ess_threshold * n) {
            pd_rng rng;
            pd_rng_seed(&rng, pd_hash_mix(s->tree.nodes[0].seed ^ 0x7066ULL, (uint64_t)s->iter));
            int32_t *pick = s->owner; /* (N) scratch */
            pd_resample_indices(w, n, n, s->cfg.resample, &rng, pick);
            int32_t *old = s->tips; /* (N) scratch: the particles before resampling */
            memcpy(old, s->heads, (size_t)n * sizeof *old);
            for (int32_t i = 0; i < n; i++) pd_search_hold(s, old[pick[i]]);
            for (int32_t i = 0; i < n; i++) pd_search_unhold(s, old[i]);
            for (int32_t i = 0; i < n; i++) {
                s->heads[i] = old[pick[i]];
                s->alive[i] = !pd_node_done(&s->tree.nodes[s->heads[i]]);
            }
            for (int32_t i = 0; i < n; i++) {
                double r = node_reward(s, s->heads[i]);
                r = r < 1e-6 ? 1e-6 : r > 1 - 1e-6 ? 1 - 1e-6 : r;
                s->weight[i] = log(r / (1 - r)) / T;
            }
            live = 0;
            for (int32_t i = 0; i < n; i++) live += s->alive[i];
        }
    }
    if (!live || s->iter >= s->cfg.num_iterations) {
        for (int32_t i = 0; i < n; i++) {
            if (pd_search_add_done(s, s->heads[i])) return PD_ENOMEM;
            pd_search_unhold(s, s->heads[i]);
        }
        s->stage = ST_DONE;
        return 0;
    }
    return pf_emit(s);
}

/* ---- rebase ---- */

static int rebase_emit(pd_search *s) {
    int32_t width = s->cfg.n - s->n_done, off = 0, k = s->n_heads;
    s->last_round = s->iter == s->cfg.num_iterations - 1;
    int mode = s->last_round ? PD_EXPAND_ROLLOUT : PD_EXPAND_STEP;
    double *score = s->sel; /* (N) scratch */
    int32_t *alloc = s->tips;
    for (int32_t j = 0; j < k; j++) score[j] = node_reward(s, s->heads[j]);
    pd_softmax_allocate(score, k, width, s->cfg.rebase_temperature, alloc);
    for (int32_t j = 0; j < k; j++) {
        int32_t cnt = alloc[j];
        if (cnt && pd_search_push_expand(s, s->heads[j], cnt, 0, mode, 0, s->cands + off)) return PD_ENOMEM;
        for (int32_t i = 0; i < cnt; i++) s->owner[off + i] = j;
        off += cnt;
    }
    s->n_cands = off;
    s->iter++;
    s->stage = ST_EXPAND;
    return 0;
}

static int rebase_start(pd_search *s) {
    return start_at_root(s, rebase_emit);
}

static int rebase_scored(pd_search *s) {
    /* the old frontier is done with: its children carry the paths on */
    for (int32_t j = 0; j < s->n_heads; j++) pd_search_unhold(s, s->heads[j]);
    s->n_heads = 0;
    for (int32_t i = 0; i < s->n_cands; i++) {
        int32_t id = s->cands[i];
        if (pd_node_done(&s->tree.nodes[id])) {
            if (pd_search_add_done(s, id)) return PD_ENOMEM;
            pd_search_unhold(s, id);
        } else {
            s->heads[s->n_heads++] = id; /* the candidate's hold becomes a frontier hold */
        }
    }
    if (s->n_heads == 0 || s->n_done >= s->cfg.n || s->iter >= s->cfg.num_iterations) {
        for (int32_t j = 0; j < s->n_heads; j++) pd_search_unhold(s, s->heads[j]);
        s->n_heads = 0;
        s->stage = ST_DONE;
        return 0;
    }
    return rebase_emit(s);
}

/* ---- deepconf ---- */

static int32_t dc_warmup(const pd_search *s) {
    int32_t w = s->cfg.deepconf_warmup > 0 ? s->cfg.deepconf_warmup : s->cfg.n / 8;
    if (w < 2) w = 2;
    if (w > s->cfg.n - 1) w = s->cfg.n - 1;
    return w < 1 ? 1 : w;
}

/* A trace's confidence: its lowest window along the path, else its token-weighted mean. */
static double trace_conf(const pd_search *s, int32_t leaf) {
    double low = INFINITY, sum = 0, toks = 0;
    for (int32_t id = leaf; id > 0; id = s->tree.nodes[id].parent) {
        const pd_node *nd = &s->tree.nodes[id];
        if (nd->conf_low > 0 && nd->conf_low < low) low = nd->conf_low;
        sum += (double)nd->conf * nd->n_tokens;
        toks += nd->n_tokens;
    }
    return isfinite(low) ? low : toks > 0 ? sum / toks : 0.0;
}

static int dc_start(pd_search *s) {
    int32_t w = dc_warmup(s);
    s->n_heads = 0; /* phase: 0 warm-up, 1 the rest */
    s->n_cands = w;
    for (int32_t i = 0; i < w; i++) s->owner[i] = 0;
    s->last_round = 1;
    s->iter = 1;
    s->stage = ST_EXPAND;
    return pd_search_push_expand(s, 0, w, 0, PD_EXPAND_ROLLOUT, 0, s->cands);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int dc_scored(pd_search *s) {
    if (s->n_heads == 0) {
        /* the threshold keeps the share `keep` of the warm-up traces */
        int32_t w = s->n_cands;
        double *c = s->sel; /* (N) scratch */
        for (int32_t i = 0; i < w; i++) c[i] = trace_conf(s, s->cands[i]);
        memcpy(s->weight, c, (size_t)w * sizeof *c);
        qsort(s->weight, (size_t)w, sizeof *s->weight, cmp_double);
        int32_t at = (int32_t)floor((1.0 - s->cfg.deepconf_keep) * w);
        if (at > w - 1) at = w - 1;
        double thr = s->weight[at];
        s->weight[0] = thr;
        for (int32_t i = 0; i < w; i++) {
            if (c[i] < thr) s->tree.nodes[s->cands[i]].reward = 0.0f; /* filtered out of the vote */
            if (pd_search_add_done(s, s->cands[i])) return PD_ENOMEM;
            pd_search_unhold(s, s->cands[i]);
        }
        int32_t rest = s->cfg.n - w;
        s->n_heads = 1;
        s->n_cands = rest;
        s->iter = 2;
        s->stage = ST_EXPAND;
        if (pd_search_push_expand(s, 0, rest, w, PD_EXPAND_ROLLOUT, 0, s->cands)) return PD_ENOMEM;
        s->ereq[s->n_ereq - 1].conf_stop = (float)(thr > 0 ? thr : 0);
        return 0;
    }
    for (int32_t i = 0; i < s->n_cands; i++) {
        int32_t id = s->cands[i];
        if (s->tree.nodes[id].stopped) s->tree.nodes[id].reward = 0.0f;
        if (pd_search_add_done(s, id)) return PD_ENOMEM;
        pd_search_unhold(s, id);
    }
    s->stage = ST_DONE;
    return 0;
}

/* ---- dispatch ---- */

int pd_strat_start(pd_search *s) {
    s->iter = 0;
    switch (s->cfg.strategy) {
    case PD_BEST_OF_N: return bon_start(s);
    case PD_BEAM_SEARCH: return beam_start(s);
    case PD_DVTS: return dvts_start(s);
    case PD_PARTICLE_FILTER: return pf_start(s);
    case PD_REBASE: return rebase_start(s);
    case PD_DEEPCONF: return dc_start(s);
    case PD_AUTO: return pd_auto_start(s);
    default: return PD_EINVAL;
    }
}

int pd_strat_expanded(pd_search *s) {
    int rc = pd_search_after_expand(s);
    if (!rc && s->n_auto_pre) pd_auto_let_go(s); /* the first round holds what it took of the probe */
    return rc;
}

int pd_strat_scored(pd_search *s) {
    switch (s->cfg.strategy) {
    case PD_BEST_OF_N: return bon_scored(s);
    case PD_BEAM_SEARCH: return beam_scored(s);
    case PD_DVTS: return dvts_scored(s);
    case PD_PARTICLE_FILTER: return pf_scored(s);
    case PD_REBASE: return rebase_scored(s);
    case PD_DEEPCONF: return dc_scored(s);
    case PD_AUTO: return pd_auto_probe_scored(s);
    default: return PD_EINVAL;
    }
}
