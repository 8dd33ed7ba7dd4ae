/* auto.c — strategy auto: run a compute-optimal plan (`ponder plan`; docs/EVAL.md).
 *
 * The plan says, per budget and difficulty bin, which strategy, selection, beam width and N
 * do best; the bin comes from a probe an inference-time caller can run. So an auto search
 * has two phases in one tree:
 *
 *   probe   one of (the plan's probe.statistic):
 *           - P best-of-N rollouts of the root (child indices 0..P-1, every step scored),
 *             exactly the first P samples of a best-of-N run with the same seed; their
 *             statistic is the mean aggregated PRM score, or the answer agreement (the
 *             largest answer group's share of the P samples);
 *           - P first steps of the root (child indices 0..P-1, each scored): their mean PRM
 *             score. They are exactly the first steps that best_of_n, beam_search, dvts and
 *             rebase draw first (children 0..N-1 of the root), so those take them over
 *             (pd_auto_reuse): the planned search then costs what it costs alone;
 *             the probe adds only the first steps beyond its N (when N < P);
 *   planned the plan's choice for the budget (its largest budget <= N) and that bin. In a
 *           plan whose budgets are FLOPs (plan.json "budget_kind": "flops") the bins share
 *           the cost of the best fixed option at N, so a hard bin's choice may draw more than
 *           N samples while easy bins stop at the probe's P (the search's arrays are sized by
 *           pd_auto_max_n).
 *           After a rollout probe, best_of_n keeps the probe's first min(n, P) samples as its
 *           first samples (they are the same samples) and draws the rest (indices P..n-1);
 *           any other strategy starts afresh at the root, as it would on its own with this
 *           seed (the probe's completions are dropped; particle_filter alone numbers its
 *           particles after the root's existing children, so its samples are other draws from
 *           the same distribution).
 * The search's cost holds both phases: the probe counts in the budget. The root is held
 * from the start to the end, so that the planned search can start there after the probe's
 * samples were released.
 *
 * Taking over a first step is exact for beam_search, dvts and rebase (the same node: same
 * text, same score). best_of_n rolls the rest of sample i out from the probe's step i with that node's
 * own child seed: on the sim exactly sample i of a best-of-N run, on an engine a sample from
 * the same distribution (its sampler is seeded per request). */
#include "search_int.h"
#include "ponder/grade.h"

#include <stdlib.h>
#include <string.h>

/* The index of the plan's largest budget <= n, or -1. */
static int budget_index(const pd_auto_plan *p, int32_t n) {
    int bi = -1;
    for (int i = 0; i < p->n_budgets; i++)
        if (p->budgets[i] <= n) bi = i;
    return bi;
}

int pd_auto_check(const pd_search_cfg *c, pd_error *err) {
    const pd_auto_plan *p = c->plan;
    if (!p) return pd_err_set(err, PD_EINVAL, "auto: needs a plan (--plan FILE, made by `ponder plan`)");
    if (p->probe_samples < 1 || p->probe_samples > (1 << 20) || p->n_bins < 1 || p->n_bins > PD_PLAN_MAX_BINS ||
        p->n_budgets < 1 || p->n_budgets > PD_PLAN_MAX_BUDGETS || (unsigned)p->statistic > PD_PROBE_FIRST_STEP)
        return pd_err_set(err, PD_EINVAL, "auto: the plan's probe, bins or budgets are out of range");
    int bi = budget_index(p, c->n);
    if (bi < 0)
        return pd_err_set(err, PD_EINVAL, "auto: N=%d is below every budget of the plan (the smallest is %d)", c->n,
                          p->budgets[0]);
    for (int b = 0; b < p->n_bins; b++) {
        const pd_plan_choice *ch = &p->choice[bi][b];
        int32_t cap = p->flops_budget ? 1 << 20 : p->budgets[bi]; /* a FLOPs budget: any n */
        if (ch->strategy < 0 || ch->strategy >= PD_N_STRATEGIES || ch->sel < 0 || ch->sel >= PD_N_SELECT ||
            ch->n < 1 || ch->n > cap)
            return pd_err_set(err, PD_EINVAL, "auto: the plan's choice for budget %d, bin %d is not a strategy with "
                              "1 <= n <= %d", p->budgets[bi], b, cap);
        pd_search_cfg sub = *c;
        sub.strategy = (pd_strategy)ch->strategy;
        sub.n = ch->n;
        sub.beam_width = ch->beam_width > 0 ? ch->beam_width : c->beam_width;
        sub.vote_wave = 0;
        sub.plan = NULL;
        if (sub.strategy != PD_BEAM_SEARCH && sub.strategy != PD_DVTS) sub.lookahead = 0;
        int rc = pd_search_cfg_check(&sub, err);
        if (rc) return rc;
    }
    return 0;
}

int32_t pd_auto_max_n(const pd_search_cfg *c) {
    const pd_auto_plan *p = c->plan;
    int32_t n = c->n > p->probe_samples ? c->n : p->probe_samples;
    int bi = budget_index(p, c->n);
    for (int b = 0; bi >= 0 && b < p->n_bins; b++)
        if (p->choice[bi][b].n > n) n = p->choice[bi][b].n;
    return n;
}

int pd_auto_start(pd_search *s) {
    const pd_auto_plan *p = s->cfg.plan;
    s->auto_phase = 1;
    s->auto_bin = -1;
    pd_search_hold(s, 0); /* the planned search starts at the root after the probe */
    s->n_cands = p->probe_samples;
    for (int32_t i = 0; i < s->n_cands; i++) s->owner[i] = 0;
    s->last_round = 1; /* no lookahead for the probe */
    s->iter++;
    s->stage = ST_EXPAND;
    int mode = p->statistic == PD_PROBE_FIRST_STEP ? PD_EXPAND_STEP : PD_EXPAND_ROLLOUT;
    return pd_search_push_expand(s, 0, s->n_cands, 0, mode, 0, s->cands);
}

/* The probe's statistic over the paths ending at nodes[0..n): the mean aggregated score, or
 * the largest answer group's share (agreement: nodes are s->done; samples without an answer
 * are in no group). -1 when out of memory. */
static double probe_stat(pd_search *s, const int32_t *nodes, int32_t n, int statistic) {
    if (n <= 0) return 0;
    if (statistic != PD_PROBE_AGREEMENT) {
        double sum = 0;
        for (int32_t i = 0; i < n; i++) sum += pd_tree_aggregate(&s->tree, nodes[i], s->cfg.agg);
        return sum / n;
    }
    char **keys = pd_search_answer_keys(s, n);
    if (!keys) return -1;
    int32_t best = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!keys[i]) continue;
        int32_t c = 0;
        for (int32_t j = 0; j < n; j++) c += keys[j] && !strcmp(keys[i], keys[j]);
        if (c > best) best = c;
    }
    pd_search_keys_free(keys, n);
    return (double)best / n;
}

int pd_strategy_takes_first_steps(pd_strategy s) {
    return s == PD_BEST_OF_N || s == PD_BEAM_SEARCH || s == PD_DVTS || s == PD_REBASE;
}

int pd_auto_probe_scored(pd_search *s) {
    const pd_auto_plan *p = s->cfg.plan;
    int first_step = p->statistic == PD_PROBE_FIRST_STEP;
    double stat;
    if (first_step) {
        /* keep the first steps (their holds stay) for the planned strategy's first round */
        s->auto_pre = malloc((size_t)s->n_cands * sizeof *s->auto_pre);
        if (!s->auto_pre) return PD_ENOMEM;
        memcpy(s->auto_pre, s->cands, (size_t)s->n_cands * sizeof *s->auto_pre);
        s->n_auto_pre = s->n_cands;
        stat = probe_stat(s, s->auto_pre, s->n_auto_pre, p->statistic);
    } else {
        for (int32_t i = 0; i < s->n_cands; i++) {
            if (pd_search_add_done(s, s->cands[i])) return PD_ENOMEM;
            pd_search_unhold(s, s->cands[i]);
        }
        stat = probe_stat(s, s->done, s->n_done, p->statistic);
    }
    if (stat < 0) return PD_ENOMEM;
    int bi = budget_index(p, s->cfg.n), bin = 0;
    while (bin < p->n_bins - 1 && stat >= p->thresholds[bin]) bin++;
    const pd_plan_choice *ch = &p->choice[bi][bin];
    s->auto_stat = stat;
    s->auto_bin = bin;
    s->auto_choice = *ch;
    s->auto_phase = 2;
    s->cfg.strategy = (pd_strategy)ch->strategy;
    s->cfg.n = ch->n;
    if (ch->beam_width > 0) s->cfg.beam_width = ch->beam_width;
    s->cfg.vote_wave = 0;
    if (s->cfg.strategy != PD_BEAM_SEARCH && s->cfg.strategy != PD_DVTS) s->cfg.lookahead = 0;
    s->auto_choice.beam_width = s->cfg.beam_width;
    if (first_step) {
        if (!pd_strategy_takes_first_steps(s->cfg.strategy)) pd_auto_let_go(s); /* it starts afresh */
        return pd_strat_start(s);
    }
    if (s->cfg.strategy == PD_BEST_OF_N) {
        /* the probe's samples are this run's first samples */
        if (s->n_done > s->cfg.n) s->n_done = s->cfg.n;
        int32_t left = s->cfg.n - s->n_done;
        if (!left) {
            s->stage = ST_DONE;
            return 0;
        }
        s->n_cands = left;
        for (int32_t i = 0; i < left; i++) s->owner[i] = 0;
        s->last_round = 1;
        s->iter++;
        s->stage = ST_EXPAND;
        return pd_search_push_expand(s, 0, left, s->n_done, PD_EXPAND_ROLLOUT, 0, s->cands);
    }
    s->n_done = 0; /* another strategy: it starts afresh at the root */
    return pd_strat_start(s);
}

int32_t pd_auto_reuse(pd_search *s, int32_t k, int32_t child_base, int mode, int32_t *out) {
    int32_t used = s->n_auto_pre - child_base < k ? s->n_auto_pre - child_base : k;
    for (int32_t i = 0; i < used; i++) {
        int32_t id = s->auto_pre[child_base + i];
        if (mode == PD_EXPAND_STEP || pd_node_done(&s->tree.nodes[id])) out[i] = id;
        else if (pd_search_push_expand(s, id, 1, 0, PD_EXPAND_ROLLOUT, 0, &out[i])) return -1;
    }
    return used;
}

void pd_auto_let_go(pd_search *s) {
    int32_t n = s->n_auto_pre;
    s->n_auto_pre = 0; /* no later expansion of the root takes them */
    for (int32_t i = 0; i < n; i++) pd_search_unhold(s, s->auto_pre[i]);
}
