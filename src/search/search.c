/* search.c — one search: configuration, the stage machine shared by all strategies, and the
 * result (completions with texts, rewards, answers, cost).
 *
 * The strategies (strategies.c) decide what to expand and what to keep; this file does the
 * bookkeeping they share: queueing requests, the lookahead sub-rounds (greedy one-step
 * expansions of each candidate's tip, then scoring the whole chain), scoring every new step
 * exactly once, releasing nodes, and turning leaves into pd_completion records.
 *
 * Releasing. A backend may hold something per node (the engine: KV-cache blocks), so a node
 * is handed to the policy's release hook as soon as nothing can use it any more, not when the
 * search ends. Each node has a count: its unreleased children plus the holds the search has
 * on it (an active beam or subtree head that will be extended, a candidate still to be
 * judged). The strategies hold and unhold; a count that falls to 0 releases the node and
 * decrements its parent, so a dead branch is released up to the first ancestor that still
 * leads somewhere live. The counts are kept here, not in pd_node: they are the search's
 * business, and new nodes (made by the backend) are counted at the start of each advance.
 * Completions are released too once recorded: results read only the tree's arrays (texts,
 * rewards, status), never a backend handle. Each node is released exactly once (the
 * `pruned` flag); pd_search_destroy sweeps whatever is still held (a search cut short).
 *
 * All per-search arrays that the backend writes into (cands, tips) are sized N up front and
 * never move while requests are pending: a request's `out` pointer stays valid. */
#include "search_int.h"
#include "ponder/grade.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *STRAT_NAMES[] = {"best_of_n", "beam_search", "dvts", "particle_filter", "rebase", "deepconf",
                                    "auto"};

const char *pd_strategy_name(pd_strategy s) {
    return (unsigned)s <= PD_AUTO ? STRAT_NAMES[s] : "?";
}

int pd_strategy_parse(const char *s, pd_strategy *out) {
    for (int i = 0; i <= PD_AUTO; i++)
        if (!strcmp(s, STRAT_NAMES[i])) {
            *out = (pd_strategy)i;
            return 0;
        }
    return -1;
}

/* search-and-learn's defaults. */
void pd_search_cfg_default(pd_search_cfg *c) {
    memset(c, 0, sizeof *c);
    c->strategy = PD_BEST_OF_N;
    c->n = 4;
    c->beam_width = 4;
    c->num_iterations = 40;
    c->lookahead = 0;
    c->agg = PD_AGG_LAST;
    c->temperature = 0.8f;
    c->top_p = 1.0f;
    c->step_max_tokens = 2048;
    c->seed = 0;
    c->resample = PD_RESAMPLE_SYSTEMATIC;
    c->ess_threshold = 0.5f;
    c->pf_temperature = 1.0f;
    c->rebase_temperature = 0.2f;
    c->deepconf_warmup = 0;
    c->deepconf_keep = 0.9f;
    c->conf_window = 64;
}

/* Check a configuration. Returns 0 or PD_EINVAL with the reason. */
int pd_search_cfg_check(const pd_search_cfg *c, pd_error *err) {
    const char *name = pd_strategy_name(c->strategy);
    if ((unsigned)c->strategy > PD_AUTO)
        return pd_err_set(err, PD_EINVAL, "unknown strategy %d", (int)c->strategy);
    if (c->strategy == PD_AUTO) {
        int rc = pd_auto_check(c, err);
        if (rc) return rc;
    }
    if (c->n < 1 || c->n > (1 << 20))
        return pd_err_set(err, PD_EINVAL, "%s: N=%d is out of range (1..%d)", name, c->n, 1 << 20);
    if ((unsigned)c->agg > PD_AGG_MEAN) return pd_err_set(err, PD_EINVAL, "unknown aggregation");
    if (!(c->temperature >= 0 && c->temperature <= 100))
        return pd_err_set(err, PD_EINVAL, "temperature %g is out of range (0..100)", c->temperature);
    if (!(c->top_p > 0 && c->top_p <= 1))
        return pd_err_set(err, PD_EINVAL, "top_p %g is out of range (0, 1]", c->top_p);
    if (c->step_max_tokens < 1)
        return pd_err_set(err, PD_EINVAL, "step token cap must be >= 1");
    if (c->num_iterations < 1 || c->num_iterations > 100000)
        return pd_err_set(err, PD_EINVAL, "%s: num_iterations %d is out of range (1..100000)", name,
                          c->num_iterations);
    if (!(c->ess_threshold >= 0 && c->ess_threshold <= 1))
        return pd_err_set(err, PD_EINVAL, "ess threshold %g is out of range [0, 1]", c->ess_threshold);
    if (c->strategy == PD_DEEPCONF && c->n < 2)
        return pd_err_set(err, PD_EINVAL, "deepconf: N=%d must be at least 2 (warm-up and the rest)", c->n);
    if (c->conf_window < 1) return pd_err_set(err, PD_EINVAL, "conf window must be >= 1");
    if (!(c->pf_temperature > 0 && c->pf_temperature <= 1000) || !(c->rebase_temperature > 0 && c->rebase_temperature <= 1000))
        return pd_err_set(err, PD_EINVAL, "particle filter / rebase temperatures must be in (0, 1000]");
    if (c->strategy == PD_BEAM_SEARCH || c->strategy == PD_DVTS) {
        if (c->beam_width < 1 || c->beam_width > c->n)
            return pd_err_set(err, PD_EINVAL, "%s: beam width M=%d must be in 1..N (N=%d)", name,
                              c->beam_width, c->n);
        if (c->n % c->beam_width)
            return pd_err_set(err, PD_EINVAL, "%s: N=%d is not divisible by beam width M=%d",
                              name, c->n, c->beam_width);
        if (c->lookahead < 0 || c->lookahead > 1000)
            return pd_err_set(err, PD_EINVAL, "%s: lookahead %d is out of range (0..1000)", name,
                              c->lookahead);
    } else if (c->lookahead && c->strategy != PD_AUTO) { /* auto: for the tree searches it plans */
        return pd_err_set(err, PD_EINVAL, "%s: lookahead applies to beam_search and dvts only", name);
    }
    return 0;
}

/* Count the nodes the backend appended since the last call into refs (a new node starts with
 * no hold and no child; its parent gains a child). Returns 0 or PD_ENOMEM. */
static int sync_refs(pd_search *s) {
    int32_t n = s->tree.n_nodes;
    if (n <= s->n_synced) return 0;
    if ((size_t)n > s->cap_refs &&
        pd_grow((void **)&s->refs, &s->cap_refs, (size_t)n, sizeof *s->refs))
        return PD_ENOMEM;
    for (int32_t id = s->n_synced; id < n; id++) {
        s->refs[id] = 0;
        int32_t p = s->tree.nodes[id].parent;
        if (p >= 0) s->refs[p]++;
    }
    s->n_synced = n;
    return 0;
}

/* Hand one node to the backends' release hooks. */
static void release_node(pd_search *s, int32_t id) {
    if (s->pol && s->pol->release) s->pol->release(s->pol->ctx, &s->tree, id);
    if (s->ver && s->ver->release) s->ver->release(s->ver->ctx, &s->tree, id);
}

/* Release `id` and walk up: each parent loses a child, and is released in turn when that
 * leaves it with nothing (no hold, no unreleased child). */
static void release_up(pd_search *s, int32_t id) {
    while (id >= 0) {
        pd_node *n = &s->tree.nodes[id];
        if (n->pruned) return; /* already released */
        n->pruned = 1;
        release_node(s, id);
        id = n->parent;
        if (id >= 0 && --s->refs[id] > 0) return;
    }
}

/* Take a hold on a node. */
void pd_search_hold(pd_search *s, int32_t node) {
    if (node >= 0 && node < s->n_synced) s->refs[node]++;
}

/* Let go of one hold; release the node (and what it leaves dead above) when it was the last. */
void pd_search_unhold(pd_search *s, int32_t node) {
    if (node < 0 || node >= s->n_synced || s->refs[node] <= 0) return;
    if (--s->refs[node] == 0) release_up(s, node);
}

/* Drop a leaf nobody holds: release it and cascade. */
void pd_search_drop(pd_search *s, int32_t node) {
    if (node < 0 || node >= s->n_synced || s->refs[node] != 0) return;
    release_up(s, node);
}

/* Allocate a search for one problem and emit its first requests. */
int pd_search_create(pd_search **out, const pd_policy *pol, const pd_verifier *ver, const pd_problem *prob,
                     const pd_search_cfg *cfg, pd_error *err) {
    *out = NULL;
    int rc = pd_search_cfg_check(cfg, err);
    if (rc) return rc;
    pd_search *s = calloc(1, sizeof *s);
    if (!s) return pd_err_set(err, PD_ENOMEM, "search: out of memory");
    s->cfg = *cfg;
    s->prob = prob;
    s->pol = pol;
    s->ver = ver;
    uint64_t root = pd_hash_str(pd_hash_mix(0x706f6e646572ULL, cfg->seed), prob->id ? prob->id : "");
    size_t n = (size_t)cfg->n;
    if (cfg->strategy == PD_AUTO) n = (size_t)pd_auto_max_n(cfg); /* the probe's P, or a choice above N */
    s->cands = malloc(n * sizeof *s->cands);
    s->tips = malloc(n * sizeof *s->tips);
    s->sel = malloc(n * sizeof *s->sel);
    s->owner = malloc(n * sizeof *s->owner);
    s->rank = malloc(2 * n * sizeof *s->rank);
    s->rank_tmp = s->rank ? s->rank + n : NULL;
    s->heads = malloc(n * sizeof *s->heads);
    s->alive = calloc(n, 1);
    s->weight = malloc(n * sizeof *s->weight);
    if (!s->cands || !s->tips || !s->sel || !s->owner || !s->rank || !s->heads || !s->alive || !s->weight ||
        pd_tree_init(&s->tree, prob, root) || sync_refs(s)) {
        pd_search_destroy(s);
        return pd_err_set(err, PD_ENOMEM, "search: out of memory");
    }
    s->tree.temperature = cfg->temperature;
    s->tree.top_p = cfg->top_p;
    s->tree.step_max_tokens = cfg->step_max_tokens;
    if (pd_strat_start(s)) {
        pd_search_destroy(s);
        return pd_err_set(err, PD_ENOMEM, "search: out of memory");
    }
    *out = s;
    return 0;
}

/* Release every node not released yet (deepest ids first; a finished search has normally
 * released them all already) and free everything. */
void pd_search_destroy(pd_search *s) {
    if (!s) return;
    for (int32_t id = s->tree.n_nodes - 1; id >= 0; id--)
        if (!s->tree.nodes[id].pruned) release_node(s, id);
    pd_tree_free(&s->tree);
    free(s->ereq);
    free(s->sreq);
    free(s->cands);
    free(s->tips);
    free(s->sel);
    free(s->owner);
    free(s->rank);
    free(s->heads);
    free(s->alive);
    free(s->weight);
    free(s->done);
    free(s->refs);
    free(s->auto_pre);
    free(s);
}

/* Queue an expansion request. Returns 0 or PD_ENOMEM. */
int pd_search_push_expand(pd_search *s, int32_t leaf, int32_t k, int32_t child_base, int mode,
                          int greedy, int32_t *out) {
    if (leaf == 0 && !greedy && child_base < s->n_auto_pre) { /* auto: the probe drew these first steps */
        int32_t used = pd_auto_reuse(s, k, child_base, mode, out);
        if (used < 0) return PD_ENOMEM;
        k -= used, child_base += used, out += used;
        if (k == 0) return 0;
    }
    if (s->n_ereq == s->cap_ereq &&
        pd_grow((void **)&s->ereq, &s->cap_ereq, s->n_ereq + 1, sizeof *s->ereq))
        return PD_ENOMEM;
    pd_expand_req *r = &s->ereq[s->n_ereq++];
    r->tree = &s->tree;
    r->leaf = leaf;
    r->k = k;
    r->child_base = child_base;
    r->mode = (uint8_t)mode;
    r->greedy = (uint8_t)(greedy || s->cfg.temperature == 0); /* temperature 0 is greedy */
    r->cost = &s->cost;
    r->out = out;
    r->fail = &s->fail;
    r->conf_stop = 0.0f;
    r->conf_window = s->cfg.conf_window;
    r->want_conf = (uint8_t)(s->cfg.strategy == PD_DEEPCONF || (s->ver && s->ver->needs_conf));
    return 0;
}

/* Queue scores for the unscored nodes from `tip` up to the first scored (or pending) one. */
int pd_search_push_path_scores(pd_search *s, int32_t tip) {
    for (int32_t id = tip; id > 0; id = s->tree.nodes[id].parent) {
        pd_node *n = &s->tree.nodes[id];
        if (n->reward >= 0 || n->reward == PD_REWARD_PENDING) break;
        if (s->n_sreq == s->cap_sreq &&
            pd_grow((void **)&s->sreq, &s->cap_sreq, s->n_sreq + 1, sizeof *s->sreq))
            return PD_ENOMEM;
        n->reward = PD_REWARD_PENDING;
        s->sreq[s->n_sreq++] = (pd_score_req){.tree = &s->tree, .node = id, .cost = &s->cost, .fail = &s->fail};
    }
    return 0;
}

/* Record a completion leaf (the caller still unholds it). Returns 0 or PD_ENOMEM. */
int pd_search_add_done(pd_search *s, int32_t leaf) {
    if (s->n_done == s->cap_done) {
        size_t cap = (size_t)s->cap_done;
        if (pd_grow((void **)&s->done, &cap, (size_t)s->n_done + 1, sizeof *s->done)) return PD_ENOMEM;
        s->cap_done = cap > INT32_MAX ? INT32_MAX : (int32_t)cap;
    }
    s->done[s->n_done++] = leaf;
    return 0;
}

/* Queue scores for every candidate's chain (candidate ... tip). */
static int push_cand_scores(pd_search *s) {
    for (int32_t i = 0; i < s->n_cands; i++)
        if (pd_search_push_path_scores(s, s->tips[i])) return PD_ENOMEM;
    s->stage = ST_SCORE;
    return 0;
}

/* Queue one greedy step for each candidate tip that can still be extended. Returns the
 * number queued (0: nothing to extend), or -1 when out of memory. */
static int push_lookahead(pd_search *s) {
    int queued = 0;
    for (int32_t i = 0; i < s->n_cands; i++) {
        if (pd_node_done(&s->tree.nodes[s->tips[i]])) continue;
        if (pd_search_push_expand(s, s->tips[i], 1, 0, PD_EXPAND_STEP, 1, &s->tips[i])) return -1;
        queued++;
    }
    return queued;
}

/* After the strategy's expansion: the candidates are cands[0..n_cands). With lookahead (and
 * not in the rollout round) extend each unfinished candidate greedily, else score. */
int pd_search_after_expand(pd_search *s) {
    memcpy(s->tips, s->cands, (size_t)s->n_cands * sizeof *s->tips);
    for (int32_t i = 0; i < s->n_cands; i++) pd_search_hold(s, s->cands[i]); /* until judged */
    if (s->cfg.lookahead > 0 && !s->last_round) {
        s->la_left = s->cfg.lookahead;
        int q = push_lookahead(s);
        if (q < 0) return PD_ENOMEM;
        if (q > 0) {
            s->stage = ST_LOOKAHEAD;
            return 0;
        }
    }
    return push_cand_scores(s);
}

/* Consume the answers of the pending requests and emit the next stage's requests. */
int pd_search_advance(pd_search *s, pd_error *err) {
    int stage = s->stage;
    s->n_ereq = 0;
    s->n_sreq = 0;
    int rc = sync_refs(s); /* count the nodes the backend just made */
    if (!rc && s->fail.code) {
        s->stage = ST_DONE; /* a request failed for good: the search ends as failed */
        return 0;
    }
    if (rc) {
        /* out of memory: reported below */
    } else if (stage == ST_EXPAND) {
        rc = pd_strat_expanded(s);
    } else if (stage == ST_LOOKAHEAD) {
        int q = 0;
        if (--s->la_left > 0) q = push_lookahead(s);
        if (q < 0) rc = PD_ENOMEM;
        else if (q == 0) rc = push_cand_scores(s);
    } else if (stage == ST_SCORE) {
        for (int32_t i = 0; i < s->n_cands; i++) {
            s->sel[i] = pd_tree_aggregate(&s->tree, s->tips[i], s->cfg.agg);
            /* the lookahead chain has served its purpose: drop it (the release climbs the
             * chain and stops at the candidate, which is held) */
            if (s->tips[i] != s->cands[i]) pd_search_drop(s, s->tips[i]);
        }
        rc = pd_strat_scored(s);
    }
    if (rc) return pd_err_set(err, rc, "search: out of memory");
    return 0;
}

/* 1 when a ranks before b. */
static inline int rank_before(const pd_rank *a, const pd_rank *b) {
    return a->score > b->score || (a->score == b->score && a->idx < b->idx);
}

/* Insertion sort for short runs, then bottom-up merges between a and tmp: no allocation
 * (glibc's qsort mallocs a buffer per call, which showed in the profile). */
void pd_rank_sort(pd_rank *a, pd_rank *tmp, size_t n) {
    const size_t RUN = 16;
    for (size_t lo = 0; lo < n; lo += RUN) {
        size_t hi = lo + RUN < n ? lo + RUN : n;
        for (size_t i = lo + 1; i < hi; i++) {
            pd_rank x = a[i];
            size_t j = i;
            for (; j > lo && rank_before(&x, &a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = x;
        }
    }
    pd_rank *src = a, *dst = tmp;
    for (size_t w = RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = rank_before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        pd_rank *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Fill one completion from a leaf. Returns 0 or PD_ENOMEM. */
static int fill_completion(pd_search *s, int32_t leaf, pd_completion *c) {
    const pd_tree *t = &s->tree;
    memset(c, 0, sizeof *c);
    int32_t depth = t->nodes[leaf].depth;
    c->text = pd_tree_path_text(t, leaf);
    c->rewards = malloc((size_t)(depth ? depth : 1) * sizeof *c->rewards);
    if (!c->text || !c->rewards) return PD_ENOMEM;
    c->n_steps = depth;
    size_t n_ids = 0;
    for (int32_t id = leaf, i = depth - 1; id > 0; id = t->nodes[id].parent, i--) {
        c->rewards[i] = t->nodes[id].reward < 0 ? 0.0f : t->nodes[id].reward;
        n_ids += t->nodes[id].ids_len;
        c->n_tokens += t->nodes[id].n_tokens;
    }
    if (n_ids) { /* the token ids of the whole solution, when the backend keeps them */
        if (!(c->ids = malloc(n_ids * sizeof *c->ids))) return PD_ENOMEM;
        size_t at = n_ids;
        for (int32_t id = leaf; id > 0; id = t->nodes[id].parent) {
            at -= t->nodes[id].ids_len;
            memcpy(c->ids + at, t->ids + t->nodes[id].ids_off, t->nodes[id].ids_len * sizeof *c->ids);
        }
        c->n_ids = n_ids;
    }
    c->score = pd_tree_aggregate(t, leaf, s->cfg.agg);
    c->status = t->nodes[leaf].status;
    if (s->cfg.no_answers) return 0;
    c->answer = pd_grade_extract(c->text, s->prob->answer);
    if (c->answer && !(c->key = pd_grade_key(c->answer))) return PD_ENOMEM;
    return 0;
}

/* Deep copy of a completion (for top-ups). */
static int copy_completion(const pd_completion *a, pd_completion *c) {
    *c = *a;
    c->text = strdup(a->text);
    c->answer = a->answer ? strdup(a->answer) : NULL;
    c->key = a->key ? strdup(a->key) : NULL;
    c->rewards = malloc((size_t)(a->n_steps ? a->n_steps : 1) * sizeof *c->rewards);
    c->ids = a->n_ids ? malloc(a->n_ids * sizeof *c->ids) : NULL;
    if (!c->text || (a->answer && !c->answer) || (a->key && !c->key) || !c->rewards || (a->n_ids && !c->ids))
        return PD_ENOMEM;
    if (a->n_ids) memcpy(c->ids, a->ids, a->n_ids * sizeof *c->ids);
    memcpy(c->rewards, a->rewards, (size_t)a->n_steps * sizeof *c->rewards);
    return 0;
}

/* Turn the completion leaves into the result: beam_search sorts them best first and returns
 * exactly N (duplicating the best ones in the rare case there are fewer); the others keep
 * their order (samples for best_of_n, subtrees for dvts). */
int pd_search_result_build(pd_search *s, double policy_params, double prm_params,
                           pd_search_result *r, pd_error *err) {
    memset(r, 0, sizeof *r);
    r->auto_bin = s->auto_phase ? s->auto_bin : -1;
    r->auto_stat = s->auto_stat;
    r->auto_choice = s->auto_choice;
    if (s->fail.code) { /* failed: no completions, the reason, what was spent */
        r->failed = 1;
        snprintf(r->error, sizeof r->error, "%.255s", s->fail.msg[0] ? s->fail.msg : pd_code_name(s->fail.code));
        r->iterations = s->iter;
        r->cost = s->cost;
        r->cost.policy_flops = 2.0 * policy_params * (double)(s->cost.policy_tokens + s->cost.prefix_tokens);
        r->cost.prm_flops = 2.0 * prm_params * (double)s->cost.prm_tokens;
        return 0;
    }
    int32_t n_leaves = s->n_done;
    int32_t *leaves = s->done;
    pd_rank *ord = NULL;
    int32_t n_out = n_leaves;
    if (s->cfg.strategy == PD_BEAM_SEARCH) {
        ord = malloc(2 * (size_t)(n_leaves ? n_leaves : 1) * sizeof *ord);
        if (!ord) return pd_err_set(err, PD_ENOMEM, "search: out of memory");
        for (int32_t i = 0; i < n_leaves; i++)
            ord[i] = (pd_rank){pd_tree_aggregate(&s->tree, leaves[i], s->cfg.agg), i};
        pd_rank_sort(ord, ord + n_leaves, (size_t)n_leaves);
        n_out = n_leaves ? s->cfg.n : 0;
    }
    r->c = calloc((size_t)(n_out ? n_out : 1), sizeof *r->c);
    if (!r->c) {
        free(ord);
        return pd_err_set(err, PD_ENOMEM, "search: out of memory");
    }
    r->n = n_out;
    int rc = 0;
    for (int32_t i = 0; i < n_out && !rc; i++) {
        if (ord && i >= n_leaves) { /* top up: repeat the best ones in order */
            rc = copy_completion(&r->c[i % n_leaves], &r->c[i]);
            r->n_topped_up++;
        } else {
            rc = fill_completion(s, leaves[ord ? ord[i].idx : i], &r->c[i]);
        }
    }
    free(ord);
    if (rc) {
        pd_search_result_free(r);
        return pd_err_set(err, PD_ENOMEM, "search: out of memory");
    }
    r->iterations = s->iter;
    r->cost = s->cost;
    r->cost.policy_flops = 2.0 * policy_params * (double)(s->cost.policy_tokens + s->cost.prefix_tokens);
    r->cost.prm_flops = 2.0 * prm_params * (double)s->cost.prm_tokens;
    return 0;
}

void pd_search_result_free(pd_search_result *r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n; i++) {
        free(r->c[i].text);
        free(r->c[i].answer);
        free(r->c[i].key);
        free(r->c[i].rewards);
        free(r->c[i].ids);
    }
    free(r->c);
    memset(r, 0, sizeof *r);
}

/* One search, alone: the scheduler with a single job. */
typedef struct {
    pd_search_result *res;
    int got;
} one_ctx;

static int one_cb(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    (void)job;
    (void)err;
    one_ctx *o = ud;
    *o->res = *r; /* take the arrays: the scheduler is told not to free them */
    o->got = 1;
    return 0;
}

int pd_search_run(const pd_policy *pol, const pd_verifier *ver, const pd_problem *prob,
                  const pd_search_cfg *cfg, pd_search_result *res, pd_error *err) {
    memset(res, 0, sizeof *res);
    one_ctx o = {res, 0};
    pd_sched_job job = {prob, *cfg};
    return pd_sched_run_owned(pol, ver, &job, 1, 1, one_cb, &o, 1, NULL, err);
}

/* ---- options by name (shared by the commands, documented once) ---- */

/* Parse a whole integer in [lo, hi]. Returns 0 or -1. */
static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Parse a finite double in [lo, hi]. Returns 0 or -1. */
static int parse_num(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int pd_search_cfg_set(pd_search_cfg *c, const char *name, const char *value, pd_error *err) {
    long long i;
    double d;
    if (!strcmp(name, "beam-width")) {
        if (parse_int(value, 1, 1 << 20, &i)) goto bad;
        c->beam_width = (int32_t)i;
    } else if (!strcmp(name, "lookahead")) {
        if (parse_int(value, 0, 1000, &i)) goto bad;
        c->lookahead = (int32_t)i;
    } else if (!strcmp(name, "iterations")) {
        if (parse_int(value, 1, 100000, &i)) goto bad;
        c->num_iterations = (int32_t)i;
    } else if (!strcmp(name, "agg")) {
        if (!value || pd_agg_parse(value, &c->agg))
            return pd_err_set(err, PD_EINVAL, "--agg: '%s' is not one of last, min, prod, mean",
                              value ? value : "");
    } else if (!strcmp(name, "temperature")) {
        if (parse_num(value, 0, 100, &d)) goto bad;
        c->temperature = (float)d;
    } else if (!strcmp(name, "top-p")) {
        if (parse_num(value, 1e-9, 1, &d)) goto bad;
        c->top_p = (float)d;
    } else if (!strcmp(name, "max-step-tokens")) {
        if (parse_int(value, 1, 1 << 24, &i)) goto bad;
        c->step_max_tokens = (int32_t)i;
    } else if (!strcmp(name, "seed")) {
        if (parse_int(value, 0, INT64_MAX, &i)) goto bad;
        c->seed = (uint64_t)i;
    } else if (!strcmp(name, "resample")) {
        if (value && !strcmp(value, "systematic")) c->resample = PD_RESAMPLE_SYSTEMATIC;
        else if (value && !strcmp(value, "multinomial")) c->resample = PD_RESAMPLE_MULTINOMIAL;
        else return pd_err_set(err, PD_EINVAL, "--resample: '%s' is not systematic or multinomial", value ? value : "");
    } else if (!strcmp(name, "ess-threshold")) {
        if (parse_num(value, 0, 1, &d)) goto bad;
        c->ess_threshold = (float)d;
    } else if (!strcmp(name, "pf-temperature")) {
        if (parse_num(value, 1e-6, 1000, &d)) goto bad;
        c->pf_temperature = (float)d;
    } else if (!strcmp(name, "rebase-temperature")) {
        if (parse_num(value, 1e-6, 1000, &d)) goto bad;
        c->rebase_temperature = (float)d;
    } else if (!strcmp(name, "deepconf-warmup")) {
        if (parse_int(value, 1, 1 << 20, &i)) goto bad;
        c->deepconf_warmup = (int32_t)i;
    } else if (!strcmp(name, "deepconf-keep")) {
        if (parse_num(value, 0.01, 1, &d)) goto bad;
        c->deepconf_keep = (float)d;
    } else if (!strcmp(name, "vote-stop")) {
        if (parse_int(value, 0, 1 << 20, &i)) goto bad;
        c->vote_wave = (int32_t)i;
    } else if (!strcmp(name, "conf-window")) {
        if (parse_int(value, 1, 1 << 20, &i)) goto bad;
        c->conf_window = (int32_t)i;
    } else {
        return PD_ENOTFOUND;
    }
    return 0;
bad:
    return pd_err_set(err, PD_EINVAL, "--%s: bad value '%s'", name, value ? value : "");
}

const char *pd_search_cfg_help(void) {
    return "  --beam-width M        beam width for beam_search and dvts; N must be a multiple (4)\n"
           "  --lookahead K         beam_search/dvts: rank candidates after K greedy steps (0)\n"
           "  --iterations I        at most I rounds of expansion; the last rolls out (40)\n"
           "  --agg A               step-reward aggregation: last, min, prod, mean (last)\n"
           "  --temperature T       sampling temperature (0.8)\n"
           "  --top-p P             nucleus sampling (1.0)\n"
           "  --max-step-tokens T   token cap of one step and of one rollout (2048)\n"
           "  --seed S              seed; with the problem id it seeds every search (0)\n"
           "  --resample R          particle_filter: systematic or multinomial (systematic)\n"
           "  --ess-threshold F     particle_filter: resample when ESS < F x N (0.5; 1: every round)\n"
           "  --pf-temperature T    particle_filter: log-weight = logit(reward) / T (1)\n"
           "  --rebase-temperature T rebase: budget split by softmax(reward / T) (0.2)\n"
           "  --deepconf-warmup W   deepconf: warm-up traces that set the threshold (max(2, N/8))\n"
           "  --deepconf-keep F     deepconf: share of warm-up traces kept above the threshold:\n"
           "                        0.9 (DeepConf-high) or 0.1 (DeepConf-low) (0.9)\n"
           "  --conf-window T       tokens in the confidence sliding window (64)\n"
           "  --vote-stop W         best_of_n: sample W at a time and stop once the majority vote\n"
           "                        is settled (0: all N at once)\n";
}
