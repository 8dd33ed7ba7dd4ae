/* test_strategies.c — the mechanics of best_of_n, beam_search, dvts and lookahead.
 *
 * A toy backend makes the mechanics visible: sampled child i of a node at depth d-1 gets the
 * value 100 + 10 * (i % 4) + d, a greedy child gets 1000 minus its parent's value, and the toy
 * verifier's reward is value / 1000. Solutions end at depth D; optionally, sampled children
 * with i % 4 == 3 end early (from depth 2). The toy records every request it serves. */
#include "test.h"
#include "ponder.h"

#include <math.h>

typedef struct toy {
    int depth;        /* D */
    int early;        /* children with i % 4 == 3 finish from depth 2 */
    int calls;        /* policy calls */
    int reqs[64];     /* per call: number of requests */
    int ks[64][64];   /* per call, per request: k */
    int modes[64];    /* per call: mode of the first request */
    int greedy[64];   /* per call: greedy flag of the first request */
    long created, released, scored;
    int max_scored_depth;
} toy;

static int32_t toy_step(toy *ty, pd_tree *t, int32_t parent, uint32_t idx, int greedy, uint64_t seed,
                        pd_cost *cost) {
    int d = t->nodes[parent].depth + 1;
    uint64_t v = greedy ? 1000 - t->nodes[parent].handle : 100 + 10 * (idx % 4) + (uint64_t)d;
    int fin = d >= ty->depth || (ty->early && !greedy && idx % 4 == 3 && d >= 2);
    char txt[64];
    int n = fin ? snprintf(txt, sizeof txt, "d%dc%u \\boxed{%llu}", d, idx, (unsigned long long)v)
                : snprintf(txt, sizeof txt, "d%dc%u\n\n", d, idx);
    int32_t id = pd_tree_add(t, parent, seed, txt, (size_t)n, NULL, 0, 10,
                             fin ? PD_NODE_FINISHED : PD_NODE_STEP_ENDED, v);
    ty->created++;
    cost->policy_tokens += 10;
    return id;
}

static int toy_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    toy *ty = ctx;
    if (ty->calls < 64) {
        ty->reqs[ty->calls] = (int)n;
        ty->modes[ty->calls] = r[0].mode;
        ty->greedy[ty->calls] = r[0].greedy;
        for (size_t q = 0; q < n && q < 64; q++) ty->ks[ty->calls][q] = r[q].k;
    }
    ty->calls++;
    for (size_t q = 0; q < n; q++) {
        for (int32_t i = 0; i < r[q].k; i++) {
            uint32_t idx = (uint32_t)(r[q].child_base + i);
            int32_t id = toy_step(ty, r[q].tree, r[q].leaf, idx, r[q].greedy,
                                  pd_expand_child_seed(&r[q], i), r[q].cost);
            while (r[q].mode == PD_EXPAND_ROLLOUT && !pd_node_done(&r[q].tree->nodes[id]))
                id = toy_step(ty, r[q].tree, id, 0, 0, pd_tree_child_seed(r[q].tree, id, 0), r[q].cost);
            r[q].out[i] = id;
        }
    }
    return 0;
}

static void toy_release(void *ctx, pd_tree *t, int32_t node) {
    (void)t;
    (void)node;
    ((toy *)ctx)->released++;
}

static int toy_score(void *ctx, pd_score_req *r, size_t n, pd_error *err) {
    toy *ty = ctx;
    for (size_t q = 0; q < n; q++) {
        pd_node *nd = &r[q].tree->nodes[r[q].node];
        nd->reward = (float)nd->handle / 1000.0f;
        if (nd->depth > ty->max_scored_depth) ty->max_scored_depth = nd->depth;
        ty->scored++;
    }
    return 0;
}

static pd_problem PROB = {"toy-1", "toy problem", "0", NULL, 1};

static int run_toy(toy *ty, pd_search_cfg *cfg, pd_search_result *res) {
    pd_policy pol = {"toy", 1e6, ty, toy_expand, toy_release, NULL};
    pd_verifier ver = {.name = "toy", .n_params = 1e6, .ctx = ty, .score = toy_score};
    pd_error err = {0};
    int rc = pd_search_run(&pol, &ver, &PROB, cfg, res, &err);
    if (rc) printf("  search failed: %s\n", err.msg);
    return rc;
}

static int sorted_desc(const pd_search_result *r) {
    for (int32_t i = 1; i < r->n; i++)
        if (r->c[i].score > r->c[i - 1].score) return 0;
    return 1;
}

/* beam_search N=8, M=2: one request of 8 at the root, then 4 beams x 2 per round. */
static void t_beam_counts(void) {
    toy ty = {.depth = 4};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.strategy = PD_BEAM_SEARCH;
    c.n = 8;
    c.beam_width = 2;
    pd_search_result r;
    CHECK_EQ_INT(run_toy(&ty, &c, &r), 0);
    CHECK_EQ_INT(ty.calls, 4);
    CHECK_EQ_INT(ty.reqs[0], 1);
    CHECK_EQ_INT(ty.ks[0][0], 8);
    for (int call = 1; call < 4; call++) {
        CHECK_EQ_INT(ty.reqs[call], 4);
        for (int q = 0; q < 4; q++) CHECK_EQ_INT(ty.ks[call][q], 2);
        CHECK_EQ_INT(ty.modes[call], PD_EXPAND_STEP);
    }
    CHECK_EQ_INT(r.n, 8);
    CHECK_EQ_INT(r.n_topped_up, 0);
    CHECK_EQ_INT(r.iterations, 4);
    CHECK(sorted_desc(&r));
    for (int i = 0; i < r.n; i++) {
        CHECK_EQ_INT(r.c[i].n_steps, 4);
        CHECK_EQ_INT(r.c[i].status, PD_NODE_FINISHED);
        CHECK(r.c[i].answer != NULL);
        CHECK(fabs(r.c[i].score - r.c[i].rewards[3]) < 1e-6); /* agg last */
    }
    /* every node created was released exactly once (the root too) */
    CHECK_EQ_INT(ty.released, ty.created + 1);
    CHECK_EQ_INT(r.cost.policy_tokens, 10 * ty.created);
    pd_search_result_free(&r);
}

/* Finished beams leave the active set: with early finishers, fewer beams are expanded, the
 * next round still spends N, and exactly N completions come back, best first. */
static void t_beam_finished_leave(void) {
    toy ty = {.depth = 5, .early = 1};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.strategy = PD_BEAM_SEARCH;
    c.n = 8;
    c.beam_width = 4; /* keep 2 */
    pd_search_result r;
    CHECK_EQ_INT(run_toy(&ty, &c, &r), 0);
    /* round 1: root x8 (children 3 and 7 are at depth 1: not finished); later rounds: 2 beams */
    CHECK_EQ_INT(ty.reqs[0], 1);
    for (int call = 1; call < ty.calls && call < 64; call++) {
        int sum = 0;
        for (int q = 0; q < ty.reqs[call]; q++) sum += ty.ks[call][q];
        CHECK_EQ_INT(sum, 8);
        CHECK(ty.reqs[call] <= 2);
    }
    CHECK_EQ_INT(r.n, 8);
    CHECK(sorted_desc(&r));
    int short_ones = 0;
    for (int i = 0; i < r.n; i++) short_ones += r.c[i].n_steps < 5;
    CHECK(short_ones > 0); /* early finishers were collected */
    pd_search_result_free(&r);
}

/* The round numbered num_iterations - 1 rolls out to the end. */
static void t_beam_last_round_rollout(void) {
    toy ty = {.depth = 6};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.strategy = PD_BEAM_SEARCH;
    c.n = 4;
    c.beam_width = 2;
    c.num_iterations = 2;
    pd_search_result r;
    CHECK_EQ_INT(run_toy(&ty, &c, &r), 0);
    CHECK_EQ_INT(ty.calls, 2);
    CHECK_EQ_INT(ty.modes[0], PD_EXPAND_STEP);
    CHECK_EQ_INT(ty.modes[1], PD_EXPAND_ROLLOUT);
    CHECK_EQ_INT(r.n, 4);
    CHECK_EQ_INT(r.iterations, 2);
    for (int i = 0; i < r.n; i++) {
        CHECK_EQ_INT(r.c[i].n_steps, 6);
        CHECK_EQ_INT(r.c[i].status, PD_NODE_FINISHED);
    }
    pd_search_result_free(&r);
    /* one iteration: the first round is already the rollout */
    toy t2 = {.depth = 3};
    c.num_iterations = 1;
    CHECK_EQ_INT(run_toy(&t2, &c, &r), 0);
    CHECK_EQ_INT(t2.calls, 1);
    CHECK_EQ_INT(t2.modes[0], PD_EXPAND_ROLLOUT);
    CHECK_EQ_INT(r.n, 4);
    pd_search_result_free(&r);
}

/* Lookahead: candidates are ranked by the score of their greedy continuation. The toy's
 * greedy child has value 1000 - parent: the candidate with the LOWEST own reward has the best
 * continuation, so with lookahead it wins and without it loses. */
static void t_lookahead_scored(void) {
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.strategy = PD_BEAM_SEARCH;
    c.n = 4;
    c.beam_width = 4; /* keep one beam */
    pd_search_result r;
    toy plain = {.depth = 3};
    CHECK_EQ_INT(run_toy(&plain, &c, &r), 0);
    CHECK(!strncmp(r.c[0].text, "d1c3\n\n", 6)); /* own reward 0.131: best without lookahead */
    CHECK_EQ_INT(plain.max_scored_depth, 3);
    pd_search_result_free(&r);

    toy la = {.depth = 3};
    c.lookahead = 1;
    CHECK_EQ_INT(run_toy(&la, &c, &r), 0);
    for (int i = 0; i < r.n; i++) CHECK_MSG(!strncmp(r.c[i].text, "d1c0\n\n", 6), "%s", r.c[i].text);
    CHECK_EQ_INT(la.greedy[1], 1); /* the second call is the greedy lookahead step */
    CHECK_EQ_INT(la.reqs[1], 4);
    CHECK(la.scored > plain.scored); /* the lookahead steps were scored */
    CHECK_EQ_INT(r.n, 4);
    for (int i = 0; i < r.n; i++) CHECK_EQ_INT(r.c[i].n_steps, 3); /* lookahead steps dropped */
    CHECK_EQ_INT(la.released, la.created + 1);
    pd_search_result_free(&r);

    /* dvts uses the same lookahead: each subtree continues from child 0 (within its group) */
    toy dv = {.depth = 3};
    c.strategy = PD_DVTS;
    c.n = 8;
    c.beam_width = 4;
    CHECK_EQ_INT(run_toy(&dv, &c, &r), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK_MSG(!strncmp(r.c[0].text, "d1c0\n\n", 6), "%s", r.c[0].text);
    CHECK_MSG(!strncmp(r.c[1].text, "d1c4\n\n", 6), "%s", r.c[1].text);
    pd_search_result_free(&r);
}

/* dvts N=8, M=4: two subtrees with distinct children at the shared root; each continues from
 * its best child; one finished answer per subtree, in subtree order. */
static void t_dvts_mechanics(void) {
    toy ty = {.depth = 3};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.strategy = PD_DVTS;
    c.n = 8;
    c.beam_width = 4;
    pd_search_result r;
    CHECK_EQ_INT(run_toy(&ty, &c, &r), 0);
    CHECK_EQ_INT(ty.calls, 3);
    for (int call = 0; call < 3; call++) {
        CHECK_EQ_INT(ty.reqs[call], 2);
        CHECK_EQ_INT(ty.ks[call][0], 4);
        CHECK_EQ_INT(ty.ks[call][1], 4);
    }
    CHECK_EQ_INT(r.n, 2);
    CHECK_MSG(!strncmp(r.c[0].text, "d1c3\n\nd2c3\n\nd3c3", 16), "%s", r.c[0].text);
    CHECK_MSG(!strncmp(r.c[1].text, "d1c7\n\nd2c3\n\nd3c3", 16), "%s", r.c[1].text);
    for (int i = 0; i < r.n; i++) CHECK_EQ_INT(r.c[i].status, PD_NODE_FINISHED);
    pd_search_result_free(&r);

    /* a subtree whose best child finishes stops; the others go on */
    toy e = {.depth = 4, .early = 1};
    CHECK_EQ_INT(run_toy(&e, &c, &r), 0);
    CHECK_EQ_INT(r.n, 2);
    for (int i = 0; i < r.n; i++) {
        CHECK_EQ_INT(r.c[i].status, PD_NODE_FINISHED);
        CHECK_EQ_INT(r.c[i].n_steps, 2); /* child 3 is best and finishes at depth 2 */
    }
    CHECK_EQ_INT(e.calls, 2);
    pd_search_result_free(&r);
}

/* best_of_n: N rollouts at once, every step scored, completions in sample order. */
static void t_bon_mechanics(void) {
    toy ty = {.depth = 3};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.n = 5;
    pd_search_result r;
    CHECK_EQ_INT(run_toy(&ty, &c, &r), 0);
    CHECK_EQ_INT(ty.calls, 1);
    CHECK_EQ_INT(ty.modes[0], PD_EXPAND_ROLLOUT);
    CHECK_EQ_INT(ty.ks[0][0], 5);
    CHECK_EQ_INT(r.n, 5);
    CHECK_EQ_INT(ty.scored, 15); /* 5 rollouts x 3 steps */
    for (int i = 0; i < r.n; i++) {
        char pre[24];
        snprintf(pre, sizeof pre, "d1c%d", i);
        CHECK(!strncmp(r.c[i].text, pre, 4));
        CHECK_EQ_INT(r.c[i].n_steps, 3);
        for (int s = 0; s < 3; s++) CHECK(r.c[i].rewards[s] > 0);
    }
    pd_search_result_free(&r);
    /* aggregation choice reaches the completions' scores */
    toy t2 = {.depth = 3};
    c.agg = PD_AGG_MIN;
    CHECK_EQ_INT(run_toy(&t2, &c, &r), 0);
    for (int i = 0; i < r.n; i++)
        CHECK(fabs(r.c[i].score - pd_agg_rewards(r.c[i].rewards, 3, PD_AGG_MIN)) < 1e-6);
    pd_search_result_free(&r);
}

static void t_cfg_errors(void) {
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    pd_error err = {0};
    c.strategy = PD_BEAM_SEARCH;
    c.n = 6;
    c.beam_width = 4;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "not divisible") != NULL, "%s", err.msg);
    c.strategy = PD_DVTS;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    CHECK(strstr(err.msg, "dvts") != NULL);
    c.n = 8;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), 0);
    c.lookahead = -1;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    c.lookahead = 0;
    c.strategy = PD_BEST_OF_N;
    c.n = 6; /* any N for best_of_n */
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), 0);
    c.lookahead = 2;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    c.lookahead = 0;
    c.n = 0;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    c.n = 4;
    c.top_p = 0;
    CHECK_EQ_INT(pd_search_cfg_check(&c, &err), PD_EINVAL);
    /* the search refuses to start with a bad configuration */
    toy ty = {.depth = 2};
    pd_search_cfg_default(&c);
    c.strategy = PD_BEAM_SEARCH;
    c.n = 6;
    pd_search_result r;
    pd_policy pol = {"toy", 1e6, &ty, toy_expand, toy_release, NULL};
    pd_verifier ver = {.name = "toy", .n_params = 1e6, .ctx = &ty, .score = toy_score};
    CHECK_EQ_INT(pd_search_run(&pol, &ver, &PROB, &c, &r, &err), PD_EINVAL);
    CHECK_EQ_INT(ty.calls, 0);
    pd_strategy s;
    CHECK_EQ_INT(pd_strategy_parse("dvts", &s), 0);
    CHECK_EQ_INT(s, PD_DVTS);
    CHECK_EQ_INT(pd_strategy_parse("mcts", &s), -1);
}

/* The sim: best_of_n charges each token once; a tight token cap truncates. */
static void t_sim_bon_cost(void) {
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    pd_problem p = {"sim-1", "Compute 2+3 and then some more words here.", "5", NULL, 2};
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    c.n = 8;
    c.seed = 7;
    pd_search_result r;
    CHECK_EQ_INT(pd_search_run(&pol, &ver, &p, &c, &r, &err), 0);
    CHECK_EQ_INT(r.n, 8);
    uint64_t prompt = strlen(p.problem) / 4 + 32;
    CHECK_EQ_INT(r.cost.prefix_tokens, prompt);
    CHECK(r.cost.policy_tokens > 0);
    CHECK_EQ_INT(r.cost.prm_tokens, prompt + r.cost.policy_tokens);
    CHECK(fabs(r.cost.policy_flops - 2 * 1.5e9 * (double)(r.cost.policy_tokens + prompt)) < 1);
    CHECK(fabs(r.cost.prm_flops - 2 * 1.5e9 * (double)r.cost.prm_tokens) < 1);
    for (int i = 0; i < r.n; i++) {
        CHECK_EQ_INT(r.c[i].n_steps, 2 + 2); /* base_steps + level */
        CHECK_EQ_INT(r.c[i].status, PD_NODE_FINISHED);
        CHECK(r.c[i].answer != NULL);
        CHECK(strstr(r.c[i].text, "\n\n") != NULL);
        CHECK(fabs(r.c[i].score - r.c[i].rewards[r.c[i].n_steps - 1]) < 1e-6);
    }
    pd_search_result_free(&r);
    c.step_max_tokens = 10;
    CHECK_EQ_INT(pd_search_run(&pol, &ver, &p, &c, &r, &err), 0);
    for (int i = 0; i < r.n; i++) {
        CHECK_EQ_INT(r.c[i].status, PD_NODE_TRUNCATED);
        CHECK(strstr(r.c[i].text, "\\boxed") == NULL); /* cut before the answer */
    }
    CHECK(r.cost.policy_tokens <= 8 * 10);
    pd_search_result_free(&r);
    /* temperature 0: every sample is the greedy one */
    c.step_max_tokens = 2048;
    c.temperature = 0;
    CHECK_EQ_INT(pd_search_run(&pol, &ver, &p, &c, &r, &err), 0);
    for (int i = 1; i < r.n; i++) CHECK_STR(r.c[i].text, r.c[0].text);
    pd_search_result_free(&r);
    c.temperature = 0.8f;
    CHECK_EQ_INT(pd_search_run(&pol, &ver, &p, &c, &r, &err), 0);
    int differ = 0;
    for (int i = 1; i < r.n; i++) differ += strcmp(r.c[i].text, r.c[0].text) != 0;
    CHECK(differ > 0);
    pd_search_result_free(&r);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

int main(void) {
    RUN(t_beam_counts);
    RUN(t_beam_finished_leave);
    RUN(t_beam_last_round_rollout);
    RUN(t_lookahead_scored);
    RUN(t_dvts_mechanics);
    RUN(t_bon_mechanics);
    RUN(t_cfg_errors);
    RUN(t_sim_bon_cost);
    return test_done();
}
