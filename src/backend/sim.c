/* sim.c — the simulated backend: a policy with known error rates and a PRM with tunable noise.
 *
 * It exists for tests, for measuring the search machinery alone, and for planning experiments
 * at scale without a model. The model of a solution:
 *
 *   - a problem takes S steps: the number of blank-line separated paragraphs of its reference
 *     solution when it has one that ends in \boxed{} (the arith generator's solutions do),
 *     otherwise base_steps + level;
 *   - each sampled step is correct with probability p(level) = policy_acc - acc_decay *
 *     (level - 1), clamped to [0, 1] (a problem without a level counts as default_level);
 *   - the final answer is the gold only when every step on the path was correct; otherwise
 *     it is the problem's popular wrong answer (probability `distractor`) or the gold's last
 *     number moved by 1..wrong_spread;
 *   - greedy requests (temperature 0) are the sample with the index PD_GREEDY_CHILD: every
 *     greedy child of a node is the same step;
 *   - the PRM's reward for a node is sigmoid(+-prm_sep/2 + prm_noise * z + d), + when every step
 *     up to and including it is correct, z a standard normal drawn from the node's seed, and d
 *     (prm_drift > 0) the sum of prm_drift * z_a over the node and its ancestors: an error that
 *     persists down a path, so some branches look consistently better or worse than they are.
 *
 *   - the policy's confidence in a step (what DeepConf and self-certainty read) is
 *     max(0.05, 2 +- conf_sep/2 + conf_noise * z), + while the path is correct; a rollout
 *     keeps the mean over its last max(1, conf_window / step_tokens) steps as its sliding
 *     window, records the lowest in conf_low and stops (truncated, `stopped`) when the
 *     request's conf_stop is above it.
 *
 * Determinism: every random draw comes from a generator seeded by the node's own seed (a hash
 * of the root seed and the child indices along its path), never from a shared stream, so the
 * results do not depend on which other requests share a batch or in what order.
 *
 * Hidden state: the node handle's bit 0 says "every step so far is correct" (the PRM reads
 * it: the sim PRM only works with the sim policy). The root's bits 1 and 2 record that the
 * policy / the PRM has computed the prompt: the sim assumes an ideal prefix cache, so the
 * prompt is charged once per tree and each step's tokens once per model.
 *
 * Texts: correct steps copy the reference solution's paragraph (or a short generic sentence),
 * wrong ones alter a digit of it; every step but the last ends with "\n\n"; the last says
 * "Therefore, the final answer is $\boxed{...}$." Token counts are nominal (step_tokens,
 * jittered 0.5x..1.5x per step), not a tokenizer's. Nothing in the hot path formats with
 * printf or calls malloc: texts are assembled in a scratch buffer kept in the context. */
#include "backend_int.h"
#include "ponder/grade.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAX_STEPS 256
#define H_GOOD 1u       /* every step so far is correct */
#define H_POL_PROMPT 2u /* root: the policy computed the prompt */
#define H_PRM_PROMPT 4u /* root: the PRM computed the prompt */

typedef struct sim_ctx {
    pd_sim_params p;
    pd_buf scratch; /* the step text being assembled */
} sim_ctx;

/* Per-tree state: what the sim knows about the problem (built at the first expansion). */
typedef struct sim_tree {
    int n_steps;          /* S */
    double p_step;        /* per-step accuracy */
    uint32_t prompt_tokens;
    int use_ref;          /* step texts come from the reference solution */
    int ref_final;        /* the reference's last paragraph can serve as the correct final step */
    uint32_t off[SIM_MAX_STEPS], len[SIM_MAX_STEPS]; /* paragraphs of the reference */
    char *distractor;     /* the popular wrong answer (malloc'd) */
} sim_tree;

static void sim_tree_free(void *p) {
    sim_tree *st = p;
    if (!st) return;
    free(st->distractor);
    free(st);
}

/* ---- answers ---- */

/* `gold` with its last run of digits moved by delta (never to a negative number); when it has
 * no digits, gold + "+|delta|". Appends to b. */
static int perturb_answer(pd_buf *b, const char *gold, int delta) {
    size_t n = strlen(gold), e = n;
    while (e > 0 && !(gold[e - 1] >= '0' && gold[e - 1] <= '9')) e--;
    if (e == 0) {
        char num[24];
        int ad = delta < 0 ? -delta : delta, k = 0;
        char tmp[24];
        do tmp[k++] = (char)('0' + ad % 10);
        while ((ad /= 10) && k < 20);
        num[0] = '+';
        for (int i = 0; i < k; i++) num[1 + i] = tmp[k - 1 - i];
        return pd_buf_append(b, gold, n) || pd_buf_append(b, num, (size_t)k + 1) ? PD_ENOMEM : 0;
    }
    size_t s = e;
    while (s > 0 && gold[s - 1] >= '0' && gold[s - 1] <= '9') s--;
    if (e - s > 9) s = e - 9; /* move only the low 9 digits of a long number */
    long long v = 0;
    for (size_t i = s; i < e; i++) v = v * 10 + (gold[i] - '0');
    long long w = v + delta;
    if (w < 0) w = v - delta;
    char tmp[24];
    int k = 0;
    do tmp[k++] = (char)('0' + w % 10);
    while ((w /= 10) && k < 20);
    char out[24];
    for (int i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
    if (pd_buf_append(b, gold, s) || pd_buf_append(b, out, (size_t)k) ||
        pd_buf_append(b, gold + e, n - e))
        return PD_ENOMEM;
    return 0;
}

/* 1 when s is a plain (optionally signed) integer: moving its digits surely changes it, so
 * the grader need not be asked. */
static int is_plain_int(const char *s) {
    if (*s == '-' || *s == '+') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* A wrong answer that the grader does not take for the gold: perturb, and on the rare
 * collision (e.g. "1/2" vs "2/4") fall back to appending. Returns malloc'd or NULL. */
static char *wrong_answer(const char *gold, int delta) {
    pd_buf b = {0};
    if (perturb_answer(&b, gold, delta)) {
        pd_buf_free(&b);
        return NULL;
    }
    char *w = pd_buf_steal(&b);
    if (w && !is_plain_int(gold) && pd_grade_equal(w, gold)) {
        pd_buf c = {0};
        if (pd_buf_puts(&c, gold) || pd_buf_puts(&c, "+1")) {
            pd_buf_free(&c);
            free(w);
            return NULL;
        }
        free(w);
        w = pd_buf_steal(&c);
    }
    return w;
}

/* A delta in +-[1, spread] from a random value. */
static int pick_delta(uint64_t r, int spread) {
    int d = 1 + (int)((r >> 1) % (uint64_t)spread);
    return (r & 1) ? d : -d;
}

/* ---- per-tree setup ---- */

/* Build the sim's view of the tree's problem. Returns NULL when out of memory. */
static sim_tree *sim_tree_make(const sim_ctx *c, const pd_tree *t) {
    const pd_problem *pb = t->prob;
    sim_tree *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    int level = pb->level >= 1 ? pb->level : c->p.default_level;
    double p = c->p.policy_acc - c->p.acc_decay * (level - 1);
    st->p_step = p < 0 ? 0 : p > 1 ? 1 : p;
    st->prompt_tokens = (uint32_t)((pb->problem ? strlen(pb->problem) : 0) / 4 + 32);
    const char *gold = pb->answer ? pb->answer : "";
    /* paragraphs of the reference solution */
    const char *sol = pb->solution;
    int np = 0;
    if (sol) {
        size_t i = 0, n = strlen(sol);
        while (i < n && np < SIM_MAX_STEPS) {
            while (i < n && (sol[i] == '\n' || sol[i] == ' ')) i++;
            if (i >= n) break;
            const char *e = strstr(sol + i, "\n\n");
            size_t end = e ? (size_t)(e - sol) : n;
            if (end > UINT32_MAX || i > UINT32_MAX) break;
            st->off[np] = (uint32_t)i;
            st->len[np] = (uint32_t)(end - i);
            np++;
            i = end;
        }
    }
    if (np >= 1 && strstr(sol + st->off[np - 1], "\\boxed{")) {
        st->use_ref = 1;
        st->n_steps = np;
        /* use the last paragraph as the correct final step only if it yields the gold */
        char *last = malloc(st->len[np - 1] + 1);
        if (!last) {
            sim_tree_free(st);
            return NULL;
        }
        memcpy(last, sol + st->off[np - 1], st->len[np - 1]);
        last[st->len[np - 1]] = 0;
        /* the common case without the grader: the paragraph boxes the gold verbatim */
        pd_buf want = {0};
        if (pd_buf_puts(&want, "\\boxed{") || pd_buf_puts(&want, gold) || pd_buf_puts(&want, "}")) {
            pd_buf_free(&want);
            free(last);
            sim_tree_free(st);
            return NULL;
        }
        if (strstr(last, want.data)) {
            st->ref_final = 1;
        } else {
            char *a = pd_grade_extract(last, gold);
            st->ref_final = a && pd_grade_equal(a, gold);
            free(a);
        }
        pd_buf_free(&want);
        free(last);
    } else {
        st->n_steps = c->p.base_steps + level;
        if (st->n_steps < 1) st->n_steps = 1;
        if (st->n_steps > SIM_MAX_STEPS) st->n_steps = SIM_MAX_STEPS;
    }
    uint64_t h = pd_hash_str(0x64697374ULL, pb->id ? pb->id : "");
    h = pd_hash_str(h, gold);
    st->distractor = wrong_answer(gold, pick_delta(h, c->p.wrong_spread));
    if (!st->distractor) {
        sim_tree_free(st);
        return NULL;
    }
    return st;
}

/* ---- the policy ---- */

static const char *GENERIC[] = {
    "We simplify the expression", "We compute the next quantity", "We substitute the known values",
    "We collect the like terms",  "We rewrite the equation",       "We evaluate the product",
    "We check the constraint",    "We combine the two results",
};

/* Append the decimal digits of v. */
static int put_uint(pd_buf *b, unsigned v) {
    char tmp[12];
    int k = 0;
    do tmp[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < 11);
    char out[12];
    for (int i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
    return pd_buf_append(b, out, (size_t)k);
}

/* Assemble the text of step `j` (1-based) into c->scratch. */
static int step_text(sim_ctx *c, const pd_tree *t, const sim_tree *st, int j, int good,
                     int final, const char *answer, uint64_t r) {
    pd_buf *b = &c->scratch;
    pd_buf_reset(b);
    if (final) {
        if (good && st->use_ref && st->ref_final)
            return pd_buf_append(b, t->prob->solution + st->off[j - 1], st->len[j - 1]);
        if (pd_buf_puts(b, "Therefore, the final answer is $\\boxed{") || pd_buf_puts(b, answer) ||
            pd_buf_puts(b, "}$. I hope it is correct."))
            return PD_ENOMEM;
        return 0;
    }
    if (st->use_ref && j <= st->n_steps) {
        size_t at = b->len;
        if (pd_buf_append(b, t->prob->solution + st->off[j - 1], st->len[j - 1])) return PD_ENOMEM;
        if (!good) { /* a slip: change the last digit of the paragraph, if it has one */
            for (size_t i = b->len; i > at; i--) {
                char *ch = &b->data[i - 1];
                if (*ch >= '0' && *ch <= '9') {
                    *ch = (char)('0' + (*ch - '0' + 1 + (int)(r % 8)) % 10);
                    break;
                }
            }
        }
    } else {
        if (pd_buf_puts(b, "Step ") || put_uint(b, (unsigned)j) || pd_buf_puts(b, ": ") ||
            pd_buf_puts(b, GENERIC[r % 8]) || pd_buf_puts(b, "."))
            return PD_ENOMEM;
    }
    return pd_buf_append(b, "\n\n", 2);
}

/* Create one step below `parent` from `seed`. *used counts the rollout's tokens so far (for
 * the cap). Returns the new node id, or -1 when out of memory. */
static int32_t sim_step(sim_ctx *c, pd_tree *t, sim_tree *st, int32_t parent, uint64_t seed,
                        uint32_t *used, pd_cost *cost) {
    const pd_node *pn = &t->nodes[parent];
    int j = pn->depth + 1;
    int final = j >= st->n_steps;
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    int good = (pn->handle & H_GOOD) && pd_rng_f64(&rng) < st->p_step;
    uint64_t r_tok = pd_rng_u64(&rng), r_txt = pd_rng_u64(&rng);
    uint32_t tokens = (uint32_t)(c->p.step_tokens * (0.5 + (double)(r_tok >> 11) * 0x1.0p-53));
    if (tokens < 1) tokens = 1;
    int status = final ? PD_NODE_FINISHED : PD_NODE_STEP_ENDED;
    uint32_t cap = t->step_max_tokens > 0 ? (uint32_t)t->step_max_tokens : 1;
    if (*used + tokens > cap) {
        tokens = cap > *used ? cap - *used : 1;
        status = PD_NODE_TRUNCATED;
    }
    *used += tokens;
    char *wrong = NULL;
    const char *answer = t->prob->answer ? t->prob->answer : "";
    if (final && !good) {
        if (pd_rng_f64(&rng) < c->p.distractor) {
            answer = st->distractor;
        } else {
            wrong = wrong_answer(answer, pick_delta(pd_rng_u64(&rng), c->p.wrong_spread));
            if (!wrong) return -1;
            answer = wrong;
        }
    }
    int rc = step_text(c, t, st, j, good, final, answer, r_txt);
    free(wrong);
    if (rc) return -1;
    size_t len = c->scratch.len;
    if (status == PD_NODE_TRUNCATED) { /* cut mid-step: half the text, no delimiter */
        len /= 2;
        while (len > 0 && ((unsigned char)c->scratch.data[len] & 0xC0) == 0x80) len--;
    }
    int32_t id = pd_tree_add(t, parent, seed, c->scratch.data, len, NULL, 0, tokens, status,
                             good ? H_GOOD : 0);
    if (id >= 0) {
        double half = c->p.conf_sep / 2, z1 = pd_rng_normal(&rng), z2 = pd_rng_normal(&rng);
        double cf = 2.0 + (good ? half : -half) + c->p.conf_noise * z1;
        double sc = 2.0 + (good ? half : -half) + c->p.conf_noise * z2;
        t->nodes[id].conf = (float)(cf < 0.05 ? 0.05 : cf);
        t->nodes[id].certainty = (float)(sc < 0.05 ? 0.05 : sc);
        cost->policy_tokens += tokens;
        cost->expansions++;
    }
    return id;
}

/* Serve a batch of expansion requests. */
static int sim_expand(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err) {
    sim_ctx *c = ctx;
    for (size_t q = 0; q < n; q++) {
        pd_expand_req *r = &reqs[q];
        pd_tree *t = r->tree;
        if (r->leaf < 0 || r->leaf >= t->n_nodes)
            return pd_err_set(err, PD_EINVAL, "sim: request for node %d of a %d-node tree",
                              r->leaf, t->n_nodes);
        if (!t->bstate) {
            t->bstate = sim_tree_make(c, t);
            if (!t->bstate) return pd_err_set(err, PD_ENOMEM, "sim: out of memory");
            t->bstate_free = sim_tree_free;
            t->nodes[0].handle |= H_GOOD;
        }
        sim_tree *st = t->bstate;
        if (!(t->nodes[0].handle & H_POL_PROMPT)) {
            t->nodes[0].handle |= H_POL_PROMPT;
            r->cost->prefix_tokens += st->prompt_tokens;
        }
        if (pd_node_done(&t->nodes[r->leaf]))
            return pd_err_set(err, PD_EINVAL, "sim: node %d is finished and cannot be extended",
                              r->leaf);
        for (int32_t i = 0; i < r->k; i++) {
            uint64_t seed = pd_expand_child_seed(r, i);
            uint32_t used = 0;
            int32_t id = sim_step(c, t, st, r->leaf, seed, &used, r->cost);
            if (r->mode == PD_EXPAND_ROLLOUT) {
                /* the sliding window of confidence, in steps */
                int32_t win = r->conf_window / c->p.step_tokens, filled = 0;
                double low = INFINITY;
                float ring[SIM_MAX_STEPS];
                if (win < 1) win = 1;
                if (win > SIM_MAX_STEPS) win = SIM_MAX_STEPS;
                for (;;) {
                    if (id < 0) break;
                    ring[filled % win] = t->nodes[id].conf;
                    if (++filled >= win) {
                        double m = 0;
                        for (int32_t k = 0; k < win; k++) m += ring[k];
                        m /= win;
                        if (m < low) low = m;
                        t->nodes[id].conf_low = (float)low;
                        if (r->conf_stop > 0 && m < r->conf_stop && !pd_node_done(&t->nodes[id])) {
                            t->nodes[id].status = PD_NODE_TRUNCATED; /* stopped: no more tokens */
                            t->nodes[id].stopped = 1;
                        }
                    }
                    if (pd_node_done(&t->nodes[id])) break;
                    id = sim_step(c, t, st, id, pd_tree_child_seed(t, id, 0), &used, r->cost);
                }
            }
            if (id < 0) return pd_err_set(err, PD_ENOMEM, "sim: out of memory");
            r->out[i] = id;
        }
    }
    return 0;
}

static void sim_free(void *ctx) {
    sim_ctx *c = ctx;
    if (!c) return;
    pd_buf_free(&c->scratch);
    free(c);
}

int pd_sim_is_policy(const pd_policy *pol) {
    return pol && pol->expand == sim_expand;
}

int pd_sim_policy_open(pd_policy *pol, const pd_sim_params *p, pd_error *err) {
    int rc = pd_sim_params_check(p, err);
    if (rc) return rc;
    sim_ctx *c = calloc(1, sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "sim: out of memory");
    c->p = *p;
    pol->name = "sim";
    pol->n_params = p->policy_params;
    pol->ctx = c;
    pol->expand = sim_expand;
    pol->release = NULL; /* the sim holds nothing per node */
    pol->free = sim_free;
    return 0;
}

/* ---- the PRM ---- */

typedef struct sim_prm {
    pd_sim_params p;
} sim_prm;

/* Score each requested node: sigmoid(+-sep/2 + noise * z). */
static int sim_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    const sim_prm *c = ctx;
    double half = c->p.prm_sep / 2;
    for (size_t q = 0; q < n; q++) {
        pd_tree *t = reqs[q].tree;
        int32_t id = reqs[q].node;
        if (id <= 0 || id >= t->n_nodes)
            return pd_err_set(err, PD_EINVAL, "sim prm: cannot score node %d of a %d-node tree", id,
                              t->n_nodes);
        if (!t->bstate)
            return pd_err_set(err, PD_EINVAL, "sim prm: the tree was not built by the sim policy");
        pd_node *nd = &t->nodes[id];
        if (!(t->nodes[0].handle & H_PRM_PROMPT)) {
            t->nodes[0].handle |= H_PRM_PROMPT;
            reqs[q].cost->prm_tokens += ((const sim_tree *)t->bstate)->prompt_tokens;
        }
        double z = (nd->handle & H_GOOD) ? half : -half;
        if (c->p.prm_noise > 0) {
            pd_rng rng;
            pd_rng_seed(&rng, pd_hash_mix(nd->seed, 0x50524dULL));
            z += c->p.prm_noise * pd_rng_normal(&rng);
        }
        for (int32_t a = id; c->p.prm_drift > 0 && a > 0; a = t->nodes[a].parent) {
            pd_rng rng;
            pd_rng_seed(&rng, pd_hash_mix(t->nodes[a].seed, 0x4452494654ULL));
            z += c->p.prm_drift * pd_rng_normal(&rng);
        }
        nd->reward = (float)(1.0 / (1.0 + exp(-z)));
        reqs[q].cost->prm_tokens += nd->n_tokens;
        reqs[q].cost->scored++;
    }
    return 0;
}

static void sim_prm_free(void *ctx) {
    free(ctx);
}

int pd_sim_verifier_open(pd_verifier *ver, const pd_policy *pol, const pd_sim_params *p,
                         pd_error *err) {
    (void)pol;
    int rc = pd_sim_params_check(p, err);
    if (rc) return rc;
    sim_prm *c = calloc(1, sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "sim prm: out of memory");
    c->p = *p;
    ver->name = "sim";
    ver->n_params = p->prm_params;
    ver->ctx = c;
    ver->score = sim_score;
    ver->free = sim_prm_free;
    return 0;
}

/* ---- parameters ---- */

void pd_sim_params_default(pd_sim_params *p) {
    memset(p, 0, sizeof *p); /* every field, those added later included (prm_drift: 0) */
    p->policy_acc = 0.95;
    p->acc_decay = 0.03;
    p->default_level = 3;
    p->base_steps = 2;
    p->distractor = 0.3;
    p->wrong_spread = 10;
    p->prm_sep = 3.0;
    p->prm_noise = 1.0;
    p->conf_sep = 1.0;
    p->conf_noise = 0.5;
    p->step_tokens = 64;
    p->policy_params = 1.5e9;
    p->prm_params = 1.5e9;
}

int pd_sim_params_check(const pd_sim_params *p, pd_error *err) {
    if (!(p->policy_acc >= 0 && p->policy_acc <= 1))
        return pd_err_set(err, PD_EINVAL, "sim: policy accuracy %g is not in [0, 1]", p->policy_acc);
    if (!(p->acc_decay >= 0 && p->acc_decay <= 1))
        return pd_err_set(err, PD_EINVAL, "sim: accuracy decay %g is not in [0, 1]", p->acc_decay);
    if (p->default_level < 1 || p->default_level > 100)
        return pd_err_set(err, PD_EINVAL, "sim: default level %d is not in 1..100", p->default_level);
    if (p->base_steps < 0 || p->base_steps > 200)
        return pd_err_set(err, PD_EINVAL, "sim: base steps %d is not in 0..200", p->base_steps);
    if (!(p->distractor >= 0 && p->distractor <= 1))
        return pd_err_set(err, PD_EINVAL, "sim: distractor share %g is not in [0, 1]", p->distractor);
    if (p->wrong_spread < 1 || p->wrong_spread > 1000000)
        return pd_err_set(err, PD_EINVAL, "sim: wrong spread %d is not in 1..1000000", p->wrong_spread);
    if (!(p->prm_sep >= 0 && p->prm_sep <= 100))
        return pd_err_set(err, PD_EINVAL, "sim: PRM separation %g is not in [0, 100]", p->prm_sep);
    if (!(p->prm_noise >= 0 && p->prm_noise <= 100))
        return pd_err_set(err, PD_EINVAL, "sim: PRM noise %g is not in [0, 100]", p->prm_noise);
    if (!(p->conf_sep >= 0 && p->conf_sep <= 100) || !(p->conf_noise >= 0 && p->conf_noise <= 100))
        return pd_err_set(err, PD_EINVAL, "sim: confidence separation / noise must be in [0, 100]");
    if (!(p->prm_drift >= 0 && p->prm_drift <= 100))
        return pd_err_set(err, PD_EINVAL, "sim: PRM drift %g is not in [0, 100]", p->prm_drift);
    if (p->step_tokens < 1 || p->step_tokens > 1000000)
        return pd_err_set(err, PD_EINVAL, "sim: step tokens %d is not in 1..1000000", p->step_tokens);
    if (!(p->policy_params > 0 && p->policy_params < 1e15) || !(p->prm_params > 0 && p->prm_params < 1e15))
        return pd_err_set(err, PD_EINVAL, "sim: parameter counts must be in (0, 1e15)");
    return 0;
}

/* Set one parameter by name (see the header). The change is made on a copy and kept only
 * when the whole set passes the range check: a rejected value leaves *out as it was. */
int pd_sim_params_set(pd_sim_params *out, const char *name, const char *value, pd_error *err) {
    if (!value || !*value) return pd_err_set(err, PD_EINVAL, "--sim-%s: missing value", name);
    char *end;
    double v = strtod(value, &end);
    if (*end || !isfinite(v))
        return pd_err_set(err, PD_EINVAL, "--sim-%s: '%s' is not a number", name, value);
    int is_int = v == floor(v) && fabs(v) < 2e9;
    pd_sim_params tmp = *out, *p = &tmp;
    if (!strcmp(name, "policy-acc")) p->policy_acc = v;
    else if (!strcmp(name, "acc-decay")) p->acc_decay = v;
    else if (!strcmp(name, "distractor")) p->distractor = v;
    else if (!strcmp(name, "prm-sep")) p->prm_sep = v;
    else if (!strcmp(name, "prm-noise")) p->prm_noise = v;
    else if (!strcmp(name, "prm-drift")) p->prm_drift = v;
    else if (!strcmp(name, "conf-sep")) p->conf_sep = v;
    else if (!strcmp(name, "conf-noise")) p->conf_noise = v;
    else if (!strcmp(name, "policy-params")) p->policy_params = v;
    else if (!strcmp(name, "prm-params")) p->prm_params = v;
    else if (!strcmp(name, "default-level") || !strcmp(name, "base-steps") ||
             !strcmp(name, "wrong-spread") || !strcmp(name, "step-tokens")) {
        if (!is_int) return pd_err_set(err, PD_EINVAL, "--sim-%s: '%s' is not a whole number", name, value);
        int iv = (int)v;
        if (!strcmp(name, "default-level")) p->default_level = iv;
        else if (!strcmp(name, "base-steps")) p->base_steps = iv;
        else if (!strcmp(name, "wrong-spread")) p->wrong_spread = iv;
        else p->step_tokens = iv;
    } else {
        return PD_ENOTFOUND;
    }
    int rc = pd_sim_params_check(p, err);
    if (!rc) *out = tmp;
    return rc;
}

const char *pd_sim_params_help(void) {
    return "  --sim-policy-acc A     per-step accuracy of the sim policy at level 1 (0.95)\n"
           "  --sim-acc-decay D      per-step accuracy drop per level above 1 (0.03)\n"
           "  --sim-default-level L  level assumed for problems without one (3)\n"
           "  --sim-base-steps B     steps = B + level when a problem has no reference solution\n"
           "                         ending in \\boxed{} (2); otherwise one step per paragraph\n"
           "  --sim-distractor F     share of wrong answers that are the problem's popular wrong\n"
           "                         answer (0.3); the rest are the gold's last number +-1..spread\n"
           "  --sim-wrong-spread W   spread of the other wrong answers (10)\n"
           "  --sim-prm-sep S        sim PRM: logit gap between correct and wrong steps (3.0)\n"
           "  --sim-prm-noise E      sim PRM: std of the logit noise (1.0); reward =\n"
           "                         sigmoid(+-S/2 + E*z), + when every step so far is correct\n"
           "  --sim-prm-drift D      sim PRM: std per step of an error that persists down a path (0)\n"
           "  --sim-conf-sep S       sim policy confidence: gap between correct and wrong paths (1.0)\n"
           "  --sim-conf-noise E     sim policy confidence: std of its per-step noise (0.5)\n"
           "  --sim-step-tokens T    nominal tokens per step, each 0.5x..1.5x (64)\n"
           "  --sim-policy-params P  nominal policy parameters, for FLOPs (1.5e9)\n"
           "  --sim-prm-params P     nominal PRM parameters, for FLOPs (1.5e9)\n";
}
