/* plan.c — compute-optimal planning from finished runs (`ponder plan`), and adaptive
 * consistency measured on best-of-N samples.
 *
 * The question (Snell et al. 2024; Liu et al. 2025; ../shared/reference/compute_optimal.md):
 * for this policy, this PRM and this difficulty, which strategy and budget is best? The runs
 * hold, for every problem (and seed), the outcome of every option: a strategy with a
 * selection rule at a budget N (beam width from the run; best-of-N also at every power of two
 * below its N, since its first k samples are exactly a best-of-k run: seeds are per child).
 *
 * Difficulty bins:
 *   oracle    from the policy's pass@1 (the share of correct best-of-N samples): quintiles,
 *             or the absolute thresholds of Liu et al. (hard < 10% <= medium < 50% <= easy).
 *             Not usable at inference time (it reads the answers); shown as the ceiling.
 *   predicted from a probe an inference-time caller can run: P best-of-N samples (the first P
 *             of the run's, exactly what a best-of-P probe draws), their mean PRM score or
 *             their answer agreement (the largest group's share); or only the first steps of
 *             those P samples, their mean PRM score (the first entry of step_rewards); quintiles.
 * For each bin and budget N the plan chooses, among the options whose N is at most the
 * budget, the most accurate on the training problems, and the cheapest (FLOPs) of those
 * within the tolerance: easy bins get a small N, hard bins the whole budget. The choice is
 * fitted on one half of the problems and measured on the other (2-fold cross-validation, the
 * folds by a hash of the problem id), so the reported gain is not fitted to the test set; the
 * best single fixed option is chosen the same way. The probe's FLOPs are charged to the
 * predicted plan unless the chosen option reuses them (strategy auto runs it so,
 * src/search/auto.c): a best-of-N option starts with a sample probe's samples (with N >= P
 * only the rest is added, with N < P the probe is the whole cost); best-of-N, beam search,
 * DVTS and REBASE start with a first-step probe's steps (only the first steps beyond their N
 * are added).
 * A first step's FLOPs are not in the runs: they are estimated as its sample's mean FLOPs per
 * step (tokens / steps of that sample at the line's FLOPs per token). The plan file is fitted
 * on every problem.
 * A budget N caps every bin's N, or (flops_budget, `--budget flops`) is the mean FLOPs of the
 * best fixed option at N, shared by the bins: per bin the option maximising accuracy -
 * lambda x FLOPs, whatever its N, with lambda the smallest that keeps the training mean cost
 * (probe included) within the fixed option's (choose_flops). With a sample probe and best-of-N
 * options that is an adaptive budget: bins whose probe looks settled (high PRM scores, or
 * agreement) stop at those P samples (best-of-P reuses them whole), the others draw more,
 * beyond N where the runs have it.
 *
 * Adaptive consistency (Aggarwal et al. 2023) stops sampling a problem once its vote is
 * settled: after each sample (from the third), with v1 and v2 the two largest answer groups,
 * stop when P(p1 > p2) under Beta(v1 + 1, v2 + 1) reaches the threshold (0.95). The PRM rule
 * stops when the leading answer holds a share of the summed PRM scores (0.8). Measured on the
 * runs' best-of-N samples in their order (the samples an adaptive run would have drawn). */
#include "eval_int.h"
#include "ponder/grade.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

json_t *pd_plan_trace_json(double stat, int bin, const pd_plan_choice *ch) {
    json_t *pl = json_object();
    json_object_set_new(pl, "stat", json_real(stat));
    json_object_set_new(pl, "bin", json_integer(bin));
    json_object_set_new(pl, "strategy", json_string(pd_strategy_name((pd_strategy)ch->strategy)));
    json_object_set_new(pl, "selection", json_string(pd_select_name((pd_select)ch->sel)));
    json_object_set_new(pl, "n", json_integer(ch->n));
    if (ch->strategy == PD_BEAM_SEARCH || ch->strategy == PD_DVTS)
        json_object_set_new(pl, "beam_width", json_integer(ch->beam_width));
    return pl;
}

void pd_plan_opts_default(pd_plan_opts *o) {
    memset(o, 0, sizeof *o);
    o->probe_samples = 4;
    o->probe = PD_BINS_PRM;
    o->n_bins = 5;
    o->tolerance = 0;
    o->ac_threshold = 0.95;
    o->ac_prm_share = 0.8;
    o->ac_min = 3;
}

const char *pd_plan_bins_name(pd_plan_bins b) {
    static const char *names[PD_PLAN_N_BINS] = {"oracle-quintile", "oracle-abs", "prm", "agreement", "first-step"};
    return (unsigned)b < PD_PLAN_N_BINS ? names[b] : "?";
}

/* ---- what the runs hold ---- */

typedef struct option {
    char label[96];      /* "beam_search M=4 weighted" */
    pd_strategy strategy;
    pd_select sel;
    int n, beam_width;
} option;

typedef struct bon_sample { /* a best-of-N completion, for adaptive consistency */
    char *key;           /* pd_grade_key of its answer, NULL without one */
    float score, first; /* aggregated score; its first step's PRM score */
    uint8_t correct;
    double tokens;
    double first_policy_flops, first_prm_flops; /* its first step's (estimated) */
} bon_sample;

typedef struct unit {   /* one problem at one seed */
    char *id;
    int fold, bin;
    int bon_n;           /* N of the best-of-N line the probe and pass@1 come from */
    double pass1, probe_prm, probe_agree, probe_first; /* probe_first: first steps' mean PRM score */
    double probe_policy_flops, probe_prm_flops; /* what the probe's P samples cost */
    bon_sample *bon;     /* (bon_n) */
    double bon_policy_flops, bon_prm_flops;
} unit;

typedef struct plan_ctx {
    const pd_plan_opts *o;
    int pass;            /* 1: find options and units; 2: fill outcomes */
    int beam_width;      /* of the run being read */
    pd_keymap opt_map, unit_map;
    option *opts;
    size_t n_opts, cap_opts;
    unit *units;
    size_t n_units, cap_units;
    uint8_t *ok;         /* (n_units x n_opts) 0/1, 2 = missing */
    float *fl;           /* (n_units x n_opts) FLOPs */
    pd_buf key;
    const char *path;
} plan_ctx;

static int opt_index(plan_ctx *x, pd_strategy s, pd_select sel, int n, int bw, size_t *out) {
    char label[96];
    if (s == PD_BEST_OF_N) snprintf(label, sizeof label, "%s %s@%d", pd_strategy_name(s), pd_select_name(sel), n);
    else snprintf(label, sizeof label, "%s M=%d %s@%d", pd_strategy_name(s), bw, pd_select_name(sel), n);
    if (pd_keymap_get(&x->opt_map, label, out)) return 0;
    if (x->pass == 2) return 1; /* not seen in pass 1: cannot happen */
    if (pd_grow((void **)&x->opts, &x->cap_opts, x->n_opts + 1, sizeof *x->opts)) return PD_ENOMEM;
    option *o = &x->opts[x->n_opts];
    memset(o, 0, sizeof *o);
    snprintf(o->label, sizeof o->label, "%s", label);
    o->strategy = s;
    o->sel = sel;
    o->n = n;
    o->beam_width = bw;
    if (pd_keymap_put(&x->opt_map, label, x->n_opts, NULL) < 0) return PD_ENOMEM;
    *out = x->n_opts++;
    return 0;
}

static double jnum(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* FLOPs of a best-of-N line's first k samples (a best-of-k run: the same samples): the
 * prompt's (prefix tokens, charged once per tree), the policy's tokens of those samples, and
 * the PRM's: the question's, read once (estimated as the policy's prompt tokens, at most the
 * PRM's tokens beyond the samples'), and the rest in proportion to the k samples' tokens
 * (on the target-sum runs within 4% of a best-of-4 run's own, 1% of best-of-16's). k/n of
 * the line's when the samples' tokens are not recorded. */
static void bon_first_cost(const json_t *line, int k, int n, double *pol, double *prm) {
    json_t *cost = json_object_get(line, "cost"), *comps = json_object_get(line, "completions");
    double pf = jnum(cost, "policy_flops"), qf = jnum(cost, "prm_flops");
    double pt = jnum(cost, "policy_tokens"), xt = jnum(cost, "prefix_tokens"), qt = jnum(cost, "prm_tokens");
    double first = 0, all = 0;
    size_t nc = json_array_size(comps);
    for (size_t i = 0; i < nc; i++) {
        double t = jnum(json_array_get(comps, i), "tokens");
        all += t;
        if ((int)i < k) first += t;
    }
    if (k >= n || nc != (size_t)n || all <= 0 || pt + xt <= 0 || qt <= 0) {
        *pol = pf * k / n, *prm = qf * k / n;
        return;
    }
    double q_once = qt > all ? qt - all : 0;
    if (q_once > xt) q_once = xt;
    *pol = pf * (xt + pt * first / all) / (pt + xt);
    *prm = qf * (q_once + (qt - q_once) * first / all) / qt;
}

/* The best-of-N completions of a line: probe, pass@1, samples. */
static int take_bon(plan_ctx *x, unit *u, const json_t *line, int n) {
    json_t *comps = json_object_get(line, "completions");
    size_t nc = json_array_size(comps);
    if (nc == 0 || (int)nc > n) return 0;
    for (int i = 0; i < abs(u->bon_n); i++) free(u->bon[i].key);
    free(u->bon);
    u->bon = calloc(nc, sizeof *u->bon);
    if (!u->bon) return PD_ENOMEM;
    u->bon_n = (int)nc;
    int correct = 0;
    json_t *cost = json_object_get(line, "cost");
    u->bon_policy_flops = jnum(cost, "policy_flops");
    u->bon_prm_flops = jnum(cost, "prm_flops");
    /* FLOPs per token of each model (the policy's prompt included: charged once per tree) */
    double pt = jnum(cost, "policy_tokens") + jnum(cost, "prefix_tokens"), qt = jnum(cost, "prm_tokens");
    double pol_tok = pt > 0 ? u->bon_policy_flops / pt : 0, prm_tok = qt > 0 ? u->bon_prm_flops / qt : 0;
    for (size_t i = 0; i < nc; i++) {
        json_t *c = json_array_get(comps, i);
        const char *ans = json_string_value(json_object_get(c, "answer"));
        bon_sample *b = &u->bon[i];
        b->key = ans ? pd_grade_key(ans) : NULL;
        b->score = (float)jnum(c, "score");
        b->correct = json_is_true(json_object_get(c, "correct"));
        b->tokens = jnum(c, "tokens");
        json_t *rw = json_object_get(c, "step_rewards");
        size_t steps = json_array_size(rw);
        b->first = steps ? (float)json_number_value(json_array_get(rw, 0)) : 0;
        double first_tokens = b->tokens / (double)(steps ? steps : 1);
        b->first_policy_flops = first_tokens * pol_tok;
        b->first_prm_flops = first_tokens * prm_tok;
        correct += b->correct;
    }
    u->pass1 = (double)correct / (double)nc;
    /* the probe: the first P samples */
    int P = x->o->probe_samples < (int)nc ? x->o->probe_samples : (int)nc;
    double s = 0, sf = 0;
    int best = 0;
    for (int i = 0; i < P; i++) {
        s += u->bon[i].score;
        sf += u->bon[i].first;
        if (!u->bon[i].key) continue;
        int cnt = 0;
        for (int j = 0; j < P; j++) cnt += u->bon[j].key && !strcmp(u->bon[j].key, u->bon[i].key);
        best = cnt > best ? cnt : best;
    }
    u->probe_prm = P ? s / P : 0;
    u->probe_agree = P ? (double)best / P : 0;
    u->probe_first = P ? sf / P : 0;
    bon_first_cost(line, P, (int)nc, &u->probe_policy_flops, &u->probe_prm_flops);
    if ((int)nc < x->o->probe_samples) u->bon_n = -u->bon_n; /* too few samples for the probe */
    return 0;
}

static int plan_line(void *ud, json_t *line, size_t lineno, pd_error *err) {
    plan_ctx *x = ud;
    const char *id = json_string_value(json_object_get(line, "id"));
    const char *st = json_string_value(json_object_get(line, "strategy"));
    json_t *jn = json_object_get(line, "n"), *js = json_object_get(line, "seed");
    pd_strategy strat;
    if (!id || !st || !json_is_integer(jn) || !json_is_integer(js) || pd_strategy_parse(st, &strat))
        return pd_err_set(err, PD_EFORMAT, "%s:%zu: not a result line of this ponder", x->path, lineno);
    if (json_is_true(json_object_get(line, "failed"))) return 0;
    int n = (int)json_integer_value(jn);
    if (n < 1 || n > (1 << 24)) return pd_err_set(err, PD_EFORMAT, "%s:%zu: bad n", x->path, lineno);
    x->key.len = 0;
    if (pd_buf_printf(&x->key, "%lld %s", (long long)json_integer_value(js), id))
        return pd_err_set(err, PD_ENOMEM, "plan: out of memory");
    size_t ui;
    if (!pd_keymap_get(&x->unit_map, x->key.data, &ui)) {
        if (x->pass == 2) return 0;
        if (pd_grow((void **)&x->units, &x->cap_units, x->n_units + 1, sizeof *x->units) ||
            pd_keymap_put(&x->unit_map, x->key.data, x->n_units, NULL) < 0)
            return pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        unit *u = &x->units[x->n_units];
        memset(u, 0, sizeof *u);
        u->id = strdup(id);
        if (!u->id) return pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        u->fold = (int)(pd_hash_str(0x5eedf01d, id) & 1);
        ui = x->n_units++;
    }
    unit *u = &x->units[ui];
    json_t *cost = json_object_get(line, "cost");
    double pf = jnum(cost, "policy_flops"), qf = jnum(cost, "prm_flops");
    for (int sel = 0; sel < PD_N_SELECT; sel++)
        for (int k = 1; k <= n; k = k < n && k * 2 > n ? n : k * 2) {
            if (strat != PD_BEST_OF_N && k != n) continue;
            char key[64];
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)sel), k);
            json_t *v = json_object_get(line, key);
            if (!json_is_boolean(v)) continue;
            size_t oi;
            int rc = opt_index(x, strat, (pd_select)sel, k, x->beam_width, &oi);
            if (rc < 0) return pd_err_set(err, PD_ENOMEM, "plan: out of memory");
            if (rc || x->pass == 1) continue;
            size_t cell = ui * x->n_opts + oi;
            if (x->ok[cell] != 2) continue; /* the same option from a larger best-of-N: same samples */
            x->ok[cell] = json_is_true(v);
            int prm = strat != PD_BEST_OF_N || sel != PD_SEL_MAJ;
            double kp = pf, kq = qf;
            if (k < n) bon_first_cost(line, k, n, &kp, &kq);
            x->fl[cell] = (float)(kp + (prm ? kq : 0));
            if (k == n) break;
        }
    if (x->pass == 2 && strat == PD_BEST_OF_N && n > abs(u->bon_n)) {
        int rc = take_bon(x, u, line, n);
        if (rc) return pd_err_set(err, rc, "plan: out of memory");
    }
    return 0;
}

/* ---- bins and choices ---- */

static double stat_of(const unit *u, pd_plan_bins kind) {
    switch (kind) {
    case PD_BINS_PRM: return u->probe_prm;
    case PD_BINS_AGREEMENT: return u->probe_agree;
    case PD_BINS_FIRST_STEP: return u->probe_first;
    default: return u->pass1;
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Thresholds of the bins (ascending; bin = how many thresholds the stat reaches; bin 0 is
 * the hardest) from the units with in[u] set. Returns the number of bins. */
static int fit_bins(const unit *us, size_t n, const uint8_t *in, pd_plan_bins kind, int n_bins, double *thr) {
    if (kind == PD_BINS_ORACLE_ABS) {
        thr[0] = 0.1, thr[1] = 0.5;
        return 3;
    }
    double *v = malloc((n ? n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; v && i < n; i++)
        if (in[i]) v[m++] = stat_of(&us[i], kind);
    if (!v || !m) {
        free(v);
        for (int j = 0; j < n_bins - 1; j++) thr[j] = INFINITY;
        return n_bins;
    }
    qsort(v, m, sizeof *v, cmp_d);
    for (int j = 1; j < n_bins; j++) thr[j - 1] = v[(size_t)((double)j * (double)m / n_bins)];
    free(v);
    return n_bins;
}

static int bin_of(double s, const double *thr, int n_bins) {
    int b = 0;
    while (b < n_bins - 1 && s >= thr[b]) b++;
    return b;
}

/* FLOPs of a first-step probe and then option o on unit u. The strategies that take first
 * steps over (pd_strategy_takes_first_steps) take the probe's first min(N, P) steps as their own first steps (their PRM scores come on
 * top only for best-of-N with majority voting, whose FLOPs leave the PRM out); the steps
 * beyond N, and the whole probe for other strategies, are added. */
static double cost_with_first_steps(const plan_ctx *x, size_t u, int o) {
    const option *op = &x->opts[o];
    const unit *un = &x->units[u];
    int P = x->o->probe_samples;
    int reused = pd_strategy_takes_first_steps(op->strategy) ? (op->n < P ? op->n : P) : 0;
    double f = x->fl[u * x->n_opts + (size_t)o];
    for (int i = 0; i < P; i++) {
        const bon_sample *b = &un->bon[i];
        if (i >= reused) f += b->first_policy_flops + b->first_prm_flops;
        else if (op->strategy == PD_BEST_OF_N && op->sel == PD_SEL_MAJ) f += b->first_prm_flops;
    }
    return f;
}

/* FLOPs of the probe and then option o on unit u (predicted bins). A best-of-N option with
 * N >= P starts with a sample probe's samples: only the probe's PRM scores come on top, when
 * the option's selection does not read them anyway (majority voting). */
static double cost_with_probe(const plan_ctx *x, size_t u, int o, int kind) {
    if (kind == PD_BINS_FIRST_STEP) return cost_with_first_steps(x, u, o);
    const option *op = &x->opts[o];
    const unit *un = &x->units[u];
    double f = x->fl[u * x->n_opts + (size_t)o];
    if (op->strategy == PD_BEST_OF_N && op->n > x->o->probe_samples)
        return f + (op->sel == PD_SEL_MAJ ? un->probe_prm_flops : 0);
    if (op->strategy == PD_BEST_OF_N) /* its k <= P samples are the probe's first: the probe is all it costs */
        return un->probe_policy_flops + un->probe_prm_flops;
    return f + un->probe_policy_flops + un->probe_prm_flops;
}

/* The cost of option o on unit u under a way of binning (the probe's for predicted bins). */
static double cost_of(const plan_ctx *x, size_t u, int o, int kind) {
    return kind >= PD_BINS_PRM ? cost_with_probe(x, u, o, kind) : x->fl[u * x->n_opts + (size_t)o];
}

/* The option chosen for the units with in[u] set (and, when bin >= 0, in that bin) among
 * those with n <= budget: the most accurate, the cheapest (under this way of binning: the
 * probe counts for predicted bins) within tol of it. -1 when none. */
static int choose(const plan_ctx *x, const uint8_t *in, int bin, int budget, double tol, int kind) {
    double best = -1;
    double *acc = calloc(x->n_opts, sizeof *acc), *fl = calloc(x->n_opts, sizeof *fl);
    size_t cnt = 0;
    int pick = -1;
    if (!acc || !fl) goto out;
    for (size_t u = 0; u < x->n_units; u++) {
        if (!in[u] || (bin >= 0 && x->units[u].bin != bin)) continue;
        cnt++;
        for (size_t o = 0; o < x->n_opts; o++) {
            acc[o] += x->ok[u * x->n_opts + o];
            fl[o] += cost_of(x, u, (int)o, kind);
        }
    }
    if (!cnt) goto out;
    for (size_t o = 0; o < x->n_opts; o++)
        if (x->opts[o].n <= budget && acc[o] > best) best = acc[o];
    for (size_t o = 0; o < x->n_opts; o++) {
        if (x->opts[o].n > budget || acc[o] < best - tol * (double)cnt - 1e-9) continue;
        /* the cheapest; at equal cost the larger N (best-of-k below the probe's P costs the probe
         * whatever k: keep all its samples) */
        if (pick < 0 || fl[o] < fl[pick] * (1 - 1e-12) ||
            (fl[o] <= fl[pick] * (1 + 1e-12) && x->opts[o].n > x->opts[pick].n))
            pick = (int)o;
    }
out:
    free(acc);
    free(fl);
    return pick;
}

/* The option bin b takes at trade-off lambda: the most of acc - lambda x fl (the training
 * sums of bin b, fl in units of the budget), the cheaper at a tie, then the larger N. At
 * lambda = INFINITY: the cheapest (within a part in 1e6: the runs' costs are kept as floats),
 * then the most accurate. */
static int pick_at(const plan_ctx *x, const double *acc, const double *fl, double lambda) {
    int pick = -1;
    double best = -INFINITY;
    if (isinf(lambda)) {
        for (size_t o = 0; o < x->n_opts; o++)
            if (pick < 0 || fl[o] < fl[pick]) pick = (int)o;
        double cheapest = fl[pick];
        for (size_t o = 0; o < x->n_opts; o++)
            if (fl[o] <= cheapest * (1 + 1e-6) && (acc[o] > acc[pick] || (acc[o] == acc[pick] && x->opts[o].n > x->opts[pick].n)))
                pick = (int)o;
        return pick;
    }
    for (size_t o = 0; o < x->n_opts; o++) {
        double v = acc[o] - lambda * fl[o];
        if (pick < 0 || v > best + 1e-9 ||
            (v > best - 1e-9 && (fl[o] < fl[pick] * (1 - 1e-12) ||
                                 (fl[o] <= fl[pick] * (1 + 1e-12) && x->opts[o].n > x->opts[pick].n)))) {
            best = v > best ? v : best;
            pick = (int)o;
        }
    }
    return pick;
}

/* A FLOPs budget shared by the bins (pd_plan_opts.flops_budget): for the units with in[u]
 * set, binned in x->units[].bin (0..nbins), the option per bin (pick[b]) that maximises
 * accuracy - lambda x FLOPs (under this way of binning: the probe counts for predicted bins),
 * any option whatever its N, with lambda the smallest (bisection) whose picks keep the mean
 * cost at most `target`; with none, the cheapest option per bin. A bin without training
 * units takes `fixed`. Returns 0 or PD_ENOMEM. */
static int choose_flops(const plan_ctx *x, const uint8_t *in, int nbins, double target, int kind, int fixed,
                        int *pick) {
    size_t no = x->n_opts, cnt = 0;
    double *acc = calloc((size_t)nbins * no, sizeof *acc), *fl = calloc((size_t)nbins * no, sizeof *fl);
    size_t *per = calloc((size_t)nbins, sizeof *per);
    if (!acc || !fl || !per) {
        free(acc), free(fl), free(per);
        return PD_ENOMEM;
    }
    double unit = target > 0 ? target : 1; /* costs in budgets: lambda is then about 0..cnt */
    for (size_t u = 0; u < x->n_units; u++) {
        if (!in[u]) continue;
        int b = x->units[u].bin;
        cnt++, per[b]++;
        for (size_t o = 0; o < no; o++) {
            acc[(size_t)b * no + o] += x->ok[u * no + o];
            fl[(size_t)b * no + o] += cost_of(x, u, (int)o, kind) / unit;
        }
    }
    double lo = 0, hi = 0;
    for (;;) { /* hi: the first lambda whose picks fit; none up to 1e4 (an accuracy point is worth
                  less than 1e-4 of a budget): the cheapest per bin (lambda infinite) */
        double c = 0;
        for (int b = 0; b < nbins; b++)
            if (per[b]) c += fl[(size_t)b * no + (size_t)pick_at(x, acc + (size_t)b * no, fl + (size_t)b * no, hi)];
        if (c <= (double)cnt * (1 + 1e-9) || isinf(hi)) break;
        lo = hi;
        hi = hi >= 1e4 ? INFINITY : hi ? 2 * hi : 1e-3;
    }
    for (int it = 0; it < 100 && hi > 0 && !isinf(hi); it++) {
        double mid = (lo + hi) / 2, c = 0;
        for (int b = 0; b < nbins; b++)
            if (per[b]) c += fl[(size_t)b * no + (size_t)pick_at(x, acc + (size_t)b * no, fl + (size_t)b * no, mid)];
        if (c <= (double)cnt * (1 + 1e-9)) hi = mid;
        else lo = mid;
    }
    for (int b = 0; b < nbins; b++)
        pick[b] = per[b] ? pick_at(x, acc + (size_t)b * no, fl + (size_t)b * no, hi) : fixed;
    free(acc), free(fl), free(per);
    return 0;
}

/* The mean cost (without a probe) of option o over the units with in[u] set. */
static double mean_cost(const plan_ctx *x, const uint8_t *in, int o) {
    double s = 0;
    size_t cnt = 0;
    for (size_t u = 0; u < x->n_units; u++)
        if (in[u]) s += x->fl[u * x->n_opts + (size_t)o], cnt++;
    return cnt ? s / (double)cnt : 0;
}

/* ---- adaptive consistency ---- */

/* P(X > 1/2) for X ~ Beta(a, b), a and b positive integers: P(Binomial(a + b - 1, 1/2) < a). */
static double beta_above_half(int a, int b) {
    int n = a + b - 1;
    double s = 0, lc = 0; /* log C(n, j) */
    for (int j = 0; j < a; j++) {
        if (j) lc += log((double)(n - j + 1)) - log((double)j);
        s += exp(lc - n * log(2.0));
    }
    return s > 1 ? 1 : s;
}

/* Run one rule over the first cap samples of u: returns the samples used, *correct the
 * answer's correctness, *frac the share of the cap's tokens spent. rule 0: vote (Beta),
 * 1: PRM share; stop = 0: never stop early (the plain selection at cap). */
static int adaptive(const plan_ctx *x, const unit *u, int cap, int rule, int stop, int *correct, double *frac) {
    const bon_sample *s = u->bon;
    int k = 0;
    int lead = -1;
    for (k = 1; k <= cap; k++) {
        /* the groups of the first k samples: leader and runner-up by count (rule 0) or score
         * mass (rule 1); ties to the group seen first */
        double m1 = 0, m2 = 0, total = 0;
        int c1 = 0, c2 = 0;
        lead = -1;
        for (int i = 0; i < k; i++) {
            if (!s[i].key) continue;
            int first = 1;
            for (int j = 0; j < i && first; j++) first = !(s[j].key && !strcmp(s[j].key, s[i].key));
            total += s[i].score;
            if (!first) continue;
            double m = 0;
            int c = 0;
            for (int j = i; j < k; j++)
                if (s[j].key && !strcmp(s[j].key, s[i].key)) m += s[j].score, c++;
            double v = rule ? m : c, v1 = rule ? m1 : c1;
            if (lead < 0 || v > v1) {
                m2 = m1, c2 = c1;
                m1 = m, c1 = c, lead = i;
            } else if ((rule ? m : c) > (rule ? m2 : c2)) {
                m2 = m, c2 = c;
            }
        }
        if (!stop || k < x->o->ac_min || lead < 0) continue;
        if (rule == 0 ? beta_above_half(c1 + 1, c2 + 1) >= x->o->ac_threshold
                      : total > 0 && m1 / total >= x->o->ac_prm_share)
            break;
    }
    if (k > cap) k = cap;
    *correct = lead >= 0 && s[lead].correct;
    double t_used = 0, t_all = 0;
    for (int i = 0; i < cap; i++) {
        t_all += s[i].tokens;
        if (i < k) t_used += s[i].tokens;
    }
    *frac = t_all > 0 ? t_used / t_all : (double)k / cap;
    return k;
}

/* ---- the plan ---- */

#define PLAN_LAMBDAS 34 /* lambda = 0, then 33 values over four decades */

void pd_plan_result_free(pd_plan_result *r) {
    free(r->points);
    free(r->ac);
    free(r->front);
    free(r->fixed);
    memset(r, 0, sizeof *r);
}

int pd_plan_make(const char *const *dirs, size_t n_dirs, const pd_plan_opts *o, const char *plan_path,
                 pd_plan_result *res, pd_error *err) {
    memset(res, 0, sizeof *res);
    if (n_dirs < 1) return pd_err_set(err, PD_EINVAL, "plan: no run directories given");
    if (o->probe_samples < 1 || o->n_bins < 2 || o->n_bins > 20 || o->probe < PD_BINS_PRM || o->probe >= PD_PLAN_N_BINS)
        return pd_err_set(err, PD_EINVAL, "plan: the probe needs >= 1 samples, 2..20 bins, and is prm, agreement or first-step");
    plan_ctx x = {0};
    x.o = o;
    int rc = 0;
    uint8_t *in = NULL;
    json_t *plan = NULL;
    for (x.pass = 1; x.pass <= 2 && !rc; x.pass++) {
        if (x.pass == 2) {
            size_t cells;
            if (pd_mul_size(x.n_units, x.n_opts, &cells) || !(x.ok = malloc(cells ? cells : 1)) ||
                !(x.fl = calloc(cells ? cells : 1, sizeof *x.fl))) {
                rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
                break;
            }
            memset(x.ok, 2, cells);
        }
        for (size_t d = 0; d < n_dirs && !rc; d++) {
            pd_eval_saved s;
            if ((rc = pd_eval_saved_load(dirs[d], &s, err))) break;
            x.beam_width = s.o.base.beam_width;
            pd_eval_saved_free(&s);
            char *rp = pd_eval_join(dirs[d], "results.jsonl");
            size_t torn;
            x.path = rp;
            rc = rp ? pd_eval_read_jsonl(rp, 0, plan_line, &x, &torn, err) : pd_err_set(err, PD_ENOMEM, "plan: out of memory");
            free(rp);
        }
    }
    if (rc) goto out;
    /* the problems with every option and enough best-of-N samples */
    in = calloc(x.n_units ? x.n_units : 1, 1);
    if (!in) {
        rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        goto out;
    }
    size_t used = 0;
    for (size_t u = 0; u < x.n_units; u++) {
        int all = x.units[u].bon_n >= o->probe_samples;
        for (size_t k = 0; all && k < x.n_opts; k++) all = x.ok[u * x.n_opts + k] != 2;
        in[u] = (uint8_t)all;
        used += all;
    }
    int has_bon = 0;
    for (size_t k = 0; k < x.n_opts; k++) has_bon |= x.opts[k].strategy == PD_BEST_OF_N && x.opts[k].n >= o->probe_samples;
    if (!has_bon) {
        rc = pd_err_set(err, PD_EINVAL, "plan: the runs need best_of_n with N >= %d (its samples estimate each "
                        "problem's difficulty and are the probe's)", o->probe_samples);
        goto out;
    }
    if (used < 10) {
        rc = pd_err_set(err, PD_EINVAL, "plan: %zu problems have every option's result (at least 10 are needed; "
                        "are the runs finished and on the same dataset and seeds?)", used);
        goto out;
    }
    res->n_problems = used;
    res->n_dropped = x.n_units - used;
    res->n_options = x.n_opts;
    /* budgets: the options' N */
    int budgets[64], nb = 0;
    for (size_t k = 0; k < x.n_opts; k++) {
        int seen = 0;
        for (int j = 0; j < nb; j++) seen |= budgets[j] == x.opts[k].n;
        if (!seen && nb < 64) budgets[nb++] = x.opts[k].n;
    }
    for (int i = 1; i < nb; i++)
        for (int j = i; j > 0 && budgets[j - 1] > budgets[j]; j--) {
            int t = budgets[j];
            budgets[j] = budgets[j - 1];
            budgets[j - 1] = t;
        }
    res->points = calloc((size_t)nb, sizeof *res->points);
    if (!res->points) {
        rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        goto out;
    }
    res->n_points = (size_t)nb;
    /* 2-fold cross-validation */
    uint8_t *train = malloc(x.n_units ? x.n_units : 1);
    if (!train) {
        rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (int bi = 0; bi < nb; bi++) {
        pd_plan_point *pt = &res->points[bi];
        pt->n = budgets[bi];
        size_t n_test = 0;
        for (int fold = 0; fold < 2; fold++) {
            for (size_t u = 0; u < x.n_units; u++) train[u] = in[u] && x.units[u].fold != fold;
            int fixed = choose(&x, train, -1, pt->n, o->tolerance, 0);
            if (fixed < 0) continue;
            if (fold == 0) snprintf(pt->fixed, sizeof pt->fixed, "%s", x.opts[fixed].label);
            for (int kind = 0; kind < PD_PLAN_N_BINS; kind++) {
                double thr[20];
                int nbins = fit_bins(x.units, x.n_units, train, (pd_plan_bins)kind, o->n_bins, thr);
                for (size_t u = 0; u < x.n_units; u++) x.units[u].bin = bin_of(stat_of(&x.units[u], (pd_plan_bins)kind), thr, nbins);
                int pick[20];
                if (o->flops_budget) { /* the bins share the fixed option's FLOPs */
                    if (choose_flops(&x, train, nbins, mean_cost(&x, train, fixed), kind, fixed, pick)) {
                        free(train);
                        rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
                        goto out;
                    }
                }
                for (int b = 0; b < nbins && !o->flops_budget; b++) {
                    pick[b] = choose(&x, train, b, pt->n, o->tolerance, kind);
                    if (pick[b] < 0) pick[b] = fixed;
                }
                for (size_t u = 0; u < x.n_units; u++) {
                    if (!in[u] || x.units[u].fold != fold) continue;
                    int c = pick[x.units[u].bin];
                    pt->acc[kind] += x.ok[u * x.n_opts + (size_t)c];
                    pt->flops[kind] += cost_of(&x, u, c, kind);
                }
            }
            for (size_t u = 0; u < x.n_units; u++) {
                if (!in[u] || x.units[u].fold != fold) continue;
                pt->fixed_acc += x.ok[u * x.n_opts + (size_t)fixed];
                pt->fixed_flops += x.fl[u * x.n_opts + (size_t)fixed];
                n_test++;
            }
        }
        double d = n_test ? (double)n_test : 1;
        pt->fixed_acc /= d, pt->fixed_flops /= d;
        for (int kind = 0; kind < PD_PLAN_N_BINS; kind++) pt->acc[kind] /= d, pt->flops[kind] /= d;
    }
    /* the frontier: lambda trades accuracy for FLOPs; each bin takes the option that
     * maximises accuracy - lambda x FLOPs on the training fold (probe included for the
     * predicted bins), measured on the held-out fold */
    {
        double *acc = calloc(x.n_opts, sizeof *acc), *fl = calloc(x.n_opts, sizeof *fl);
        res->fixed = calloc(x.n_opts, sizeof *res->fixed);
        res->front = calloc(PLAN_LAMBDAS, sizeof *res->front);
        if (!acc || !fl || !res->fixed || !res->front) {
            free(acc), free(fl), free(train);
            rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
            goto out;
        }
        /* fixed options over every problem, and their Pareto set */
        for (size_t u = 0; u < x.n_units; u++)
            for (size_t k = 0; in[u] && k < x.n_opts; k++) {
                res->fixed[k].acc += x.ok[u * x.n_opts + k];
                res->fixed[k].flops += x.fl[u * x.n_opts + k];
            }
        double fl_sorted[256];
        size_t nfs = 0;
        for (size_t k = 0; k < x.n_opts; k++) {
            pd_plan_fixed *f = &res->fixed[k];
            snprintf(f->label, sizeof f->label, "%s", x.opts[k].label);
            f->acc /= (double)used, f->flops /= (double)used;
            if (nfs < 256 && f->flops > 0) fl_sorted[nfs++] = f->flops;
        }
        res->n_fixed = x.n_opts;
        for (size_t k = 0; k < x.n_opts; k++) {
            int dominated = 0;
            for (size_t j = 0; j < x.n_opts && !dominated; j++)
                dominated = j != k && ((res->fixed[j].acc >= res->fixed[k].acc && res->fixed[j].flops < res->fixed[k].flops) ||
                                       (res->fixed[j].acc > res->fixed[k].acc && res->fixed[j].flops <= res->fixed[k].flops));
            res->fixed[k].pareto = !dominated;
        }
        qsort(fl_sorted, nfs, sizeof *fl_sorted, cmp_d);
        double fref = nfs ? fl_sorted[nfs / 2] : 1;
        res->n_front = PLAN_LAMBDAS;
        for (int li = 0; li < PLAN_LAMBDAS; li++) {
            pd_plan_front *pf = &res->front[li];
            pf->lambda = li ? pow(10, -3.0 + 4.0 * (li - 1) / (PLAN_LAMBDAS - 2)) / fref : 0;
            size_t n_test = 0;
            for (int fold = 0; fold < 2; fold++) {
                for (size_t u = 0; u < x.n_units; u++) train[u] = in[u] && x.units[u].fold != fold;
                for (int kind = 0; kind < PD_PLAN_N_BINS; kind++) {
                    double thr[20];
                    int nbins = fit_bins(x.units, x.n_units, train, (pd_plan_bins)kind, o->n_bins, thr);
                    for (size_t u = 0; u < x.n_units; u++) x.units[u].bin = bin_of(stat_of(&x.units[u], (pd_plan_bins)kind), thr, nbins);
                    int pick[20];
                    for (int b = 0; b < nbins; b++) {
                        memset(acc, 0, x.n_opts * sizeof *acc);
                        memset(fl, 0, x.n_opts * sizeof *fl);
                        size_t cnt = 0;
                        for (size_t u = 0; u < x.n_units; u++) {
                            if (!train[u] || x.units[u].bin != b) continue;
                            cnt++;
                            for (size_t k = 0; k < x.n_opts; k++) {
                                acc[k] += x.ok[u * x.n_opts + k];
                                fl[k] += cost_of(&x, u, (int)k, kind);
                            }
                        }
                        pick[b] = -1;
                        double best = -INFINITY;
                        for (size_t k = 0; cnt && k < x.n_opts; k++) {
                            double v = (acc[k] - pf->lambda * fl[k]) / (double)cnt;
                            if (v > best + 1e-12 || (v > best - 1e-12 && pick[b] >= 0 && fl[k] < fl[pick[b]])) {
                                best = v;
                                pick[b] = (int)k;
                            }
                        }
                        if (pick[b] < 0) { /* an empty bin: the best option over the training fold */
                            double ba = -1;
                            for (size_t k = 0; k < x.n_opts; k++)
                                if (res->fixed[k].acc > ba) ba = res->fixed[k].acc, pick[b] = (int)k;
                        }
                    }
                    for (size_t u = 0; u < x.n_units; u++) {
                        if (!in[u] || x.units[u].fold != fold) continue;
                        int c = pick[x.units[u].bin];
                        pf->acc[kind] += x.ok[u * x.n_opts + (size_t)c];
                        pf->flops[kind] += cost_of(&x, u, c, kind);
                        if (kind == 0) n_test++;
                    }
                }
            }
            for (int kind = 0; kind < PD_PLAN_N_BINS; kind++) pf->acc[kind] /= (double)n_test, pf->flops[kind] /= (double)n_test;
        }
        free(acc);
        free(fl);
    }
    free(train);
    /* the plan file: predicted bins fitted on every problem */
    if (plan_path) {
        double thr[20];
        int nbins = fit_bins(x.units, x.n_units, in, o->probe, o->n_bins, thr);
        for (size_t u = 0; u < x.n_units; u++) x.units[u].bin = bin_of(stat_of(&x.units[u], o->probe), thr, nbins);
        plan = json_object();
        json_object_set_new(plan, "ponder_plan", json_integer(1));
        json_t *runs = json_array();
        for (size_t d = 0; d < n_dirs; d++) json_array_append_new(runs, pd_eval_jstr(dirs[d]));
        json_object_set_new(plan, "runs", runs);
        json_object_set_new(plan, "problems", json_integer((json_int_t)used));
        json_t *pr = json_object();
        json_object_set_new(pr, "statistic", json_string(pd_plan_bins_name(o->probe)));
        json_object_set_new(pr, "samples", json_integer(o->probe_samples));
        json_object_set_new(plan, "probe", pr);
        json_object_set_new(plan, "budget_kind", json_string(o->flops_budget ? "flops" : "n"));
        json_t *jt = json_array();
        for (int b = 0; b < nbins - 1; b++) json_array_append_new(jt, json_real(isfinite(thr[b]) ? thr[b] : 2.0));
        json_object_set_new(plan, "thresholds", jt);
        json_t *jb = json_array();
        for (int bi = 0; bi < nb; bi++) {
            int fixed = choose(&x, in, -1, budgets[bi], o->tolerance, 0), pick[20];
            json_t *e = json_object(), *bins = json_array();
            json_object_set_new(e, "budget", json_integer(budgets[bi]));
            if (o->flops_budget && fixed >= 0) { /* what the bins share: the fixed option's mean FLOPs */
                double target = mean_cost(&x, in, fixed);
                json_object_set_new(e, "fixed", json_string(x.opts[fixed].label));
                json_object_set_new(e, "flops", json_real(target));
                if (choose_flops(&x, in, nbins, target, o->probe, fixed, pick)) {
                    json_decref(e), json_decref(bins);
                    rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
                    goto out;
                }
            }
            for (int b = 0; b < nbins; b++) {
                int c = o->flops_budget && fixed >= 0 ? pick[b] : choose(&x, in, b, budgets[bi], o->tolerance, o->probe);
                if (c < 0) c = fixed;
                json_t *ch = json_object();
                json_object_set_new(ch, "strategy", json_string(pd_strategy_name(x.opts[c].strategy)));
                json_object_set_new(ch, "selection", json_string(pd_select_name(x.opts[c].sel)));
                json_object_set_new(ch, "n", json_integer(x.opts[c].n));
                json_object_set_new(ch, "beam_width", json_integer(x.opts[c].beam_width));
                json_array_append_new(bins, ch);
            }
            json_object_set_new(e, "bins", bins);
            json_array_append_new(jb, e);
        }
        json_object_set_new(plan, "budgets", jb);
        if ((rc = pd_eval_write_json(plan_path, plan, JSON_INDENT(2), err))) goto out;
    }
    /* adaptive consistency at each best-of-N budget */
    res->ac = calloc((size_t)nb, sizeof *res->ac);
    if (!res->ac) {
        rc = pd_err_set(err, PD_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (int bi = 0; bi < nb; bi++) {
        int cap = budgets[bi];
        if (cap < 2) continue;
        pd_plan_ac *a = &res->ac[res->n_ac];
        size_t cnt = 0;
        for (size_t u = 0; u < x.n_units; u++) {
            const unit *un = &x.units[u];
            if (!in[u] || un->bon_n < cap) continue;
            cnt++;
            for (int rule = 0; rule < 2; rule++) {
                int okf, oka;
                double ff, fa;
                adaptive(&x, un, cap, rule, 0, &okf, &ff);
                int k = adaptive(&x, un, cap, rule, 1, &oka, &fa);
                double full = (un->bon_policy_flops + (rule ? un->bon_prm_flops : 0)) * cap / un->bon_n;
                a->full_acc[rule] += okf;
                a->ada_acc[rule] += oka;
                a->samples[rule] += k;
                a->flops_full[rule] += full;
                a->flops_ada[rule] += full * fa;
            }
        }
        if (!cnt) continue;
        a->n = cap;
        a->problems = cnt;
        for (int rule = 0; rule < 2; rule++) {
            a->full_acc[rule] /= (double)cnt, a->ada_acc[rule] /= (double)cnt, a->samples[rule] /= (double)cnt;
            a->flops_full[rule] /= (double)cnt, a->flops_ada[rule] /= (double)cnt;
        }
        res->n_ac++;
    }
out:
    json_decref(plan);
    free(in);
    for (size_t u = 0; u < x.n_units; u++) {
        for (int i = 0; i < abs(x.units[u].bon_n); i++) free(x.units[u].bon[i].key);
        free(x.units[u].bon);
        free(x.units[u].id);
    }
    free(x.units);
    free(x.opts);
    free(x.ok);
    free(x.fl);
    pd_keymap_free(&x.opt_map);
    pd_keymap_free(&x.unit_map);
    pd_buf_free(&x.key);
    if (rc) pd_plan_result_free(res);
    return rc;
}

void pd_plan_print(const pd_plan_result *r, const pd_plan_opts *o, FILE *f) {
    fprintf(f, "%zu problems (x seeds) with every option's result, %zu options; held-out accuracy (2-fold "
               "cross-validation) and mean FLOPs per problem:\n\n", r->n_problems, r->n_options);
    fprintf(f, "%6s  %-34s %-17s  %-17s  %-17s  %-17s  %-17s  %-17s\n", "budget", "best fixed option", "fixed",
            "oracle quintiles", "oracle abs", "predicted: prm", "predicted: agree", "predicted: 1st step");
    for (size_t i = 0; i < r->n_points; i++) {
        const pd_plan_point *p = &r->points[i];
        fprintf(f, "%6d  %-34.34s %5.1f%% %9.3g ", p->n, p->fixed, 100 * p->fixed_acc, p->fixed_flops);
        for (int k = 0; k < PD_PLAN_N_BINS; k++) fprintf(f, "  %5.1f%% %9.3g ", 100 * p->acc[k], p->flops[k]);
        fputc('\n', f);
    }
    fprintf(f, "\n(budget: %s; oracle bins read the answers, predicted bins come from a "
               "probe of %d best-of-N samples, or of their first steps, whose FLOPs are included)\n",
            o->flops_budget ? "the mean FLOPs of the best fixed option at N, shared by the bins, any N per bin"
                            : "the largest N a bin may use",
            o->probe_samples);
    if (r->n_front && o->curve) {
        fprintf(f, "\nthe frontier, held out (lambda: accuracy - lambda x FLOPs is maximised per bin):\n%12s", "lambda");
        for (int k = 0; k < PD_PLAN_N_BINS; k++) fprintf(f, "  %-17.17s", pd_plan_bins_name((pd_plan_bins)k));
        fputc('\n', f);
        for (size_t j = 0; j < r->n_front; j++) {
            const pd_plan_front *p = &r->front[j];
            fprintf(f, "%12.3g", p->lambda);
            for (int k = 0; k < PD_PLAN_N_BINS; k++) fprintf(f, "  %5.1f%% %9.3g", 100 * p->acc[k], p->flops[k]);
            fputc('\n', f);
        }
    }
    /* against each Pareto-optimal fixed option: the cheapest held-out frontier point that is
     * as accurate, and the best accuracy for no more FLOPs */
    if (r->n_front) {
        fprintf(f, "\ncompute-optimal frontier (per bin: the option maximising accuracy - lambda x FLOPs, held out) "
                   "against the Pareto-optimal fixed options:\n");
        fprintf(f, "%-30s %7s %9s  %-25s  %-25s  %-25s  %-25s  %-25s\n", "fixed option", "acc", "FLOPs",
                "oracle quintiles: same", "oracle abs: same acc", "predicted prm: same acc", "predicted agree: same",
                "predicted 1st step: same");
        for (size_t i = 0; i < r->n_fixed; i++) {
            const pd_plan_fixed *x = &r->fixed[i];
            if (!x->pareto) continue;
            fprintf(f, "%-30.30s %6.1f%% %9.3g", x->label, 100 * x->acc, x->flops);
            for (int k = 0; k < PD_PLAN_N_BINS; k++) {
                const pd_plan_front *best = NULL;
                for (size_t j = 0; j < r->n_front; j++) {
                    const pd_plan_front *p = &r->front[j];
                    if (p->acc[k] + 1e-9 >= x->acc && (!best || p->flops[k] < best->flops[k])) best = p;
                }
                if (best) fprintf(f, "  %9.3g FLOPs (%+5.0f%%)  ", best->flops[k], 100 * (best->flops[k] / x->flops - 1));
                else fprintf(f, "  %-25s", "  (not reached)");
            }
            fputc('\n', f);
        }
    }
    if (!r->n_ac) return;
    fprintf(f, "\nadaptive consistency (best-of-N samples in order; vote rule: stop when P(leader stays ahead) >= %.2f; "
               "PRM rule: stop when the leader holds %.0f%% of the score mass; from sample %d):\n",
            o->ac_threshold, 100 * o->ac_prm_share, o->ac_min);
    fprintf(f, "%6s %9s  %-9s %-9s %-8s %-8s  %-9s %-9s %-8s %-8s\n", "N", "problems", "maj@N", "adaptive", "samples",
            "FLOPs", "weighted", "adaptive", "samples", "FLOPs");
    for (size_t i = 0; i < r->n_ac; i++) {
        const pd_plan_ac *a = &r->ac[i];
        fprintf(f, "%6d %9zu", a->n, a->problems);
        for (int rule = 0; rule < 2; rule++)
            fprintf(f, "  %6.1f%%   %6.1f%%   %6.1f   -%4.0f%%", 100 * a->full_acc[rule], 100 * a->ada_acc[rule], a->samples[rule],
                    a->flops_full[rule] > 0 ? 100 * (1 - a->flops_ada[rule] / a->flops_full[rule]) : 0.0);
        fputc('\n', f);
    }
}

/* ---- reading a plan back (strategy auto) ---- */

int pd_plan_load(const char *path, pd_auto_plan *p, pd_error *err) {
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) return pd_err_set(err, PD_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    int rc = 0;
#define BAD(...) do { rc = pd_err_set(err, PD_EFORMAT, __VA_ARGS__); goto out; } while (0)
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "ponder_plan")) != 1)
        BAD("%s: not a plan of this ponder (\"ponder_plan\": 1 is missing; make one with `ponder plan`)", path);
    json_t *pr = json_object_get(j, "probe");
    const char *st = json_string_value(json_object_get(pr, "statistic"));
    json_t *ps = json_object_get(pr, "samples");
    p->statistic = -1;
    for (int k = PD_BINS_PRM; st && k < PD_PLAN_N_BINS; k++)
        if (!strcmp(st, pd_plan_bins_name((pd_plan_bins)k))) p->statistic = k - PD_BINS_PRM; /* pd_probe_stat */
    if (p->statistic < 0) BAD("%s: probe.statistic must be \"prm\", \"agreement\" or \"first-step\"", path);
    if (!json_is_integer(ps) || json_integer_value(ps) < 1 || json_integer_value(ps) > (1 << 20))
        BAD("%s: probe.samples must be an integer 1..%d", path, 1 << 20);
    p->probe_samples = (int32_t)json_integer_value(ps);
    json_t *thr = json_object_get(j, "thresholds");
    if (!json_is_array(thr) || json_array_size(thr) > PD_PLAN_MAX_BINS - 1)
        BAD("%s: thresholds must be an array of at most %d numbers", path, PD_PLAN_MAX_BINS - 1);
    p->n_bins = (int)json_array_size(thr) + 1;
    for (int b = 0; b + 1 < p->n_bins; b++) {
        json_t *v = json_array_get(thr, (size_t)b);
        if (!json_is_number(v)) BAD("%s: thresholds[%d] is not a number", path, b);
        p->thresholds[b] = json_number_value(v);
        if (b && p->thresholds[b] < p->thresholds[b - 1]) BAD("%s: thresholds[%d] is below thresholds[%d]", path, b, b - 1);
    }
    json_t *bud = json_object_get(j, "budgets");
    if (!json_is_array(bud) || !json_array_size(bud) || json_array_size(bud) > PD_PLAN_MAX_BUDGETS)
        BAD("%s: budgets must be an array of 1..%d entries", path, PD_PLAN_MAX_BUDGETS);
    p->n_budgets = (int)json_array_size(bud);
    json_t *bk = json_object_get(j, "budget_kind"); /* absent in plans before it: "n" */
    const char *bks = json_string_value(bk);
    if (bk && (!bks || (strcmp(bks, "n") && strcmp(bks, "flops"))))
        BAD("%s: budget_kind must be \"n\" (a budget caps every bin's n) or \"flops\" (the bins share its FLOPs)", path);
    p->flops_budget = bks && !strcmp(bks, "flops");
    for (int i = 0; i < p->n_budgets; i++) {
        json_t *e = json_array_get(bud, (size_t)i), *jb = json_object_get(e, "budget"), *bins = json_object_get(e, "bins");
        if (!json_is_integer(jb) || json_integer_value(jb) < 1 || json_integer_value(jb) > (1 << 20))
            BAD("%s: budgets[%d].budget must be an integer 1..%d", path, i, 1 << 20);
        p->budgets[i] = (int32_t)json_integer_value(jb);
        if (i && p->budgets[i] <= p->budgets[i - 1]) BAD("%s: budgets[%d] is not above budgets[%d]", path, i, i - 1);
        if (!json_is_array(bins) || json_array_size(bins) != (size_t)p->n_bins)
            BAD("%s: budgets[%d].bins must have %d entries (one more than the thresholds)", path, i, p->n_bins);
        for (int b = 0; b < p->n_bins; b++) {
            json_t *c = json_array_get(bins, (size_t)b);
            const char *cs = json_string_value(json_object_get(c, "strategy"));
            const char *sl = json_string_value(json_object_get(c, "selection"));
            json_t *cn = json_object_get(c, "n"), *cw = json_object_get(c, "beam_width");
            pd_strategy strat;
            pd_plan_choice *ch = &p->choice[i][b];
            if (!cs || pd_strategy_parse(cs, &strat) || strat == PD_AUTO)
                BAD("%s: budgets[%d].bins[%d].strategy is not a strategy", path, i, b);
            ch->strategy = strat;
            ch->sel = -1;
            for (int k = 0; sl && k < PD_N_SELECT; k++)
                if (!strcmp(sl, pd_select_name((pd_select)k))) ch->sel = k;
            if (ch->sel < 0) BAD("%s: budgets[%d].bins[%d].selection is not naive, weighted or maj", path, i, b);
            int32_t cap = p->flops_budget ? 1 << 20 : p->budgets[i];
            if (!json_is_integer(cn) || json_integer_value(cn) < 1 || json_integer_value(cn) > cap)
                BAD("%s: budgets[%d].bins[%d].n must be an integer 1..%d (%s)", path, i, b, cap,
                    p->flops_budget ? "budget_kind flops" : "its budget");
            ch->n = (int32_t)json_integer_value(cn);
            if (cw && (!json_is_integer(cw) || json_integer_value(cw) < 0 || json_integer_value(cw) > (1 << 20)))
                BAD("%s: budgets[%d].bins[%d].beam_width must be an integer 0..%d", path, i, b, 1 << 20);
            ch->beam_width = cw ? (int32_t)json_integer_value(cw) : 0;
            if ((strat == PD_BEAM_SEARCH || strat == PD_DVTS) && (ch->beam_width < 1 || ch->n % ch->beam_width))
                BAD("%s: budgets[%d].bins[%d]: %s needs a beam_width dividing n", path, i, b, cs);
        }
    }
#undef BAD
out:
    json_decref(j);
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}
