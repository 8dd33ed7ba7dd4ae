/* search_int.h — the search state machine, shared by search.c, strategies.c and sched.c.
 *
 * A search moves through stages; in each stage but the last it has pending requests that
 * the scheduler serves in its next batched backend call:
 *
 *   EXPAND     the strategy's expansions (one round of the search: an "iteration")
 *   LOOKAHEAD  greedy one-step expansions of the candidates' tips (k times per round)
 *   SCORE      scores of every new, unscored step on the candidates' paths
 *   DONE       the completions are ready
 *
 * After the scheduler served the pending requests it calls pd_search_advance(), which turns
 * the answers into the next stage's requests. */
#ifndef PONDER_SEARCH_INT_H
#define PONDER_SEARCH_INT_H

#include "ponder/search.h"

enum { ST_EXPAND = 0, ST_LOOKAHEAD, ST_SCORE, ST_DONE };


/* A candidate's rank key: sorted by score, best first; equal scores keep the lower index first
 * (a total order, so the result does not depend on the sort algorithm). */
typedef struct pd_rank {
    double score;
    int32_t idx;
} pd_rank;

/* Sort a[0..n) best first; tmp has room for n entries. No allocation. */
void pd_rank_sort(pd_rank *a, pd_rank *tmp, size_t n);

typedef struct pd_search {
    pd_search_cfg cfg;
    const pd_problem *prob;
    const pd_policy *pol;   /* for releasing dropped nodes */
    const pd_verifier *ver; /* (may be NULL) */
    pd_tree tree;
    pd_cost cost;
    int stage;
    int32_t iter;           /* expansion rounds started so far */
    int32_t la_left;        /* lookahead steps still to take this round */
    int last_round;         /* the current round rolls out to the end */

    pd_expand_req *ereq;    /* pending expansions */
    size_t n_ereq, cap_ereq;
    pd_score_req *sreq;     /* pending scores */
    size_t n_sreq, cap_sreq;

    int32_t *cands;         /* (N) this round's new children (rollout: the samples' last nodes) */
    int32_t *tips;          /* (N) end of each candidate's lookahead chain (= cands[i] without) */
    double *sel;            /* (N) the candidates' selection scores */
    int32_t *owner;         /* (N) per candidate: the beam / subtree it came from */
    pd_rank *rank, *rank_tmp; /* (N) scratch for ranking candidates */
    int32_t n_cands;

    int32_t *heads;         /* (N) active beams (beam_search) or subtree heads (dvts) */
    int32_t n_heads;
    uint8_t *alive;         /* (N) dvts: subtree still searching; particle_filter: particle not done */
    double *weight;         /* (N) particle_filter: log-weights of the particles */

    int32_t *done;          /* completion leaves, in the order found */
    int32_t n_done, cap_done;
    int32_t n_topped_up;

    /* Release bookkeeping (search.c): refs[id] = the node's unreleased children + the holds
     * the search has on it (an active beam / subtree head, a candidate awaiting its verdict).
     * A node is released when its count falls to 0, and its parent's count drops in turn. */
    int32_t *refs;          /* (n_synced) */
    size_t cap_refs;
    int32_t n_synced;       /* nodes counted into refs so far */

    /* strategy auto (auto.c): 1 while the probe runs, 2 once the plan's choice runs (its
     * configuration then in cfg); the probe's statistic, bin and choice */
    int auto_phase;
    int32_t auto_bin;
    double auto_stat;
    pd_plan_choice auto_choice;
    /* a first-step probe's nodes (root children 0..n_auto_pre-1), each with one hold, offered
     * to the planned strategy's first expansion of the root (pd_auto_reuse) and let go once
     * that round is expanded (pd_auto_let_go) */
    int32_t *auto_pre;
    int32_t n_auto_pre;

    pd_error fail;          /* set by a backend when one of this search's requests failed for
                             * good (pd_expand_req.fail): the search ends as failed */
} pd_search;

/* The answer keys (pd_grade_key of the extracted answer; NULL when none) of the first n
 * finished paths, for votes; NULL when out of memory. Free with pd_search_keys_free. */
char **pd_search_answer_keys(pd_search *s, int32_t n);
void pd_search_keys_free(char **keys, int32_t n);

/* Allocate a search and emit its first requests. Returns 0 or an error. */
int pd_search_create(pd_search **out, const pd_policy *pol, const pd_verifier *ver, const pd_problem *prob,
                     const pd_search_cfg *cfg, pd_error *err);
/* Release every node still held and free the search. */
void pd_search_destroy(pd_search *s);
/* Consume the answers to the pending requests and emit the next ones (or reach ST_DONE). */
int pd_search_advance(pd_search *s, pd_error *err);
/* Build the result of a finished search (FLOPs from the models' parameter counts). */
int pd_search_result_build(pd_search *s, double policy_params, double prm_params,
                           pd_search_result *r, pd_error *err);

/* The scheduler (sched.c); with take = 1 the callback takes ownership of the result's arrays
 * (the scheduler then does not free them). */
int pd_sched_run_owned(const pd_policy *pol, const pd_verifier *ver, const pd_sched_job *jobs,
                       size_t n_jobs, int max_inflight, pd_sched_cb cb, void *ud, int take,
                       pd_sched_stats *stats, pd_error *err);

/* ---- helpers for the strategies (search.c) ---- */
/* Queue an expansion of `leaf` (k children written to out[0..k)). */
int pd_search_push_expand(pd_search *s, int32_t leaf, int32_t k, int32_t child_base, int mode,
                          int greedy, int32_t *out);
/* Queue scores for every unscored node on the path above `tip` (tip included). */
int pd_search_push_path_scores(pd_search *s, int32_t tip);
/* The search holds `node` (a head it will extend, a candidate it has still to judge): it
 * stays unreleased until the matching pd_search_unhold. */
void pd_search_hold(pd_search *s, int32_t node);
/* The search lets go of one hold on `node`; when nothing holds it any more (no hold, no
 * unreleased child) the backend releases it, and so on up the path. */
void pd_search_unhold(pd_search *s, int32_t node);
/* Drop a leaf the search never held (the tip of a lookahead chain): release it and cascade. */
void pd_search_drop(pd_search *s, int32_t node);
/* Record a completion leaf. */
int pd_search_add_done(pd_search *s, int32_t leaf);
/* After an EXPAND stage filled cands[0..n_cands): start lookahead or scoring. */
int pd_search_after_expand(pd_search *s);

/* Resample: n_out indices into w[0..n) (normalised weights) drawn with u, uniform in [0,1)
 * numbers from rng; systematic uses one draw, multinomial one per index. */
void pd_resample_indices(const double *w, int32_t n, int32_t n_out, pd_resample how, pd_rng *rng, int32_t *out);
/* Split `budget` over n items in proportion to softmax(score / temperature), largest
 * remainders first (ties to the lower index): out sums to budget. */
void pd_softmax_allocate(const double *score, int32_t n, int32_t budget, double temperature, int32_t *out);

/* ---- strategy auto (auto.c) ---- */
int pd_auto_check(const pd_search_cfg *c, pd_error *err); /* a plan with a budget <= N, sound choices */
int32_t pd_auto_max_n(const pd_search_cfg *c); /* the most samples an auto search may hold: P or a choice's n */
int pd_auto_start(pd_search *s);          /* the probe: P best-of-N rollouts of the root */
int pd_auto_probe_scored(pd_search *s);   /* the probe scored: bin, choice, and its first round */
/* The planned strategy expands the root with children child_base..child_base+k-1: serve the
 * prefix of them that a first-step probe already drew (out[i] = the probe's node, or a rollout
 * from it queued in rollout mode). Returns how many were served, or -1 when out of memory. */
int32_t pd_auto_reuse(pd_search *s, int32_t k, int32_t child_base, int mode, int32_t *out);
void pd_auto_let_go(pd_search *s);        /* drop the probe's holds on its first steps */

/* ---- the strategies (strategies.c) ---- */
int pd_strat_start(pd_search *s);     /* emit the first round */
int pd_strat_expanded(pd_search *s);  /* EXPAND served */
int pd_strat_scored(pd_search *s);    /* SCORE served: select, then next round or DONE */

#endif
