/* test_search_tree.c — the search tree, path aggregation and answer selection. */
#include "test.h"
#include "ponder.h"

#include <math.h>

static pd_problem PROB = {"tree-1", "What is 1+1?", "2", NULL, 1};

/* Build root -> a -> b -> c with the given rewards; returns c. */
static int32_t chain(pd_tree *t, const float *r, int n) {
    int32_t id = 0;
    for (int i = 0; i < n; i++) {
        char txt[16];
        int len = snprintf(txt, sizeof txt, "s%d\n\n", i);
        id = pd_tree_add(t, id, pd_tree_child_seed(t, id, 0), txt, (size_t)len, NULL, 0, 3,
                         i == n - 1 ? PD_NODE_FINISHED : PD_NODE_STEP_ENDED, 0);
        t->nodes[id].reward = r[i];
    }
    return id;
}

static void t_tree_add_and_path(void) {
    pd_tree t;
    CHECK_EQ_INT(pd_tree_init(&t, &PROB, 42), 0);
    const float r[3] = {0.5f, 0.25f, 0.75f};
    int32_t leaf = chain(&t, r, 3);
    CHECK_EQ_INT(t.n_nodes, 4);
    CHECK_EQ_INT(t.nodes[leaf].depth, 3);
    CHECK_EQ_INT(t.nodes[0].n_children, 1);
    char *txt = pd_tree_path_text(&t, leaf);
    CHECK_STR(txt, "s0\n\ns1\n\ns2\n\n");
    free(txt);
    int32_t path[8];
    CHECK_EQ_INT(pd_tree_path(&t, leaf, path, 8), 3);
    CHECK_EQ_INT(path[0], 1);
    CHECK_EQ_INT(path[2], leaf);
    /* ids stored and returned; sibling seeds differ, the same index gives the same seed */
    int32_t ids[3] = {7, 8, 9};
    int32_t s = pd_tree_add(&t, 1, 5, "x", 1, ids, 3, 3, PD_NODE_STEP_ENDED, 99);
    CHECK(s > 0);
    CHECK_EQ_INT(t.nodes[s].ids_len, 3);
    CHECK_EQ_INT(t.ids[t.nodes[s].ids_off + 2], 9);
    CHECK_EQ_INT(t.nodes[s].handle, 99);
    CHECK(pd_tree_child_seed(&t, 1, 0) != pd_tree_child_seed(&t, 1, 1));
    CHECK(pd_tree_child_seed(&t, 1, 3) == pd_tree_child_seed(&t, 1, 3));
    CHECK(pd_tree_child_seed(&t, 1, 0) != pd_tree_child_seed(&t, 2, 0));
    CHECK_EQ_INT(pd_tree_add(&t, 1000, 0, "", 0, NULL, 0, 0, 0, 0), -1); /* bad parent */
    pd_tree_free(&t);
}

/* Many nodes: the arrays grow and earlier spans stay valid. */
static void t_tree_growth(void) {
    pd_tree t;
    CHECK_EQ_INT(pd_tree_init(&t, &PROB, 1), 0);
    int32_t id = 0;
    for (int i = 0; i < 5000; i++) {
        char txt[32];
        int len = snprintf(txt, sizeof txt, "step %d\n\n", i);
        id = pd_tree_add(&t, i % 3 == 0 ? 0 : id, (uint64_t)i, txt, (size_t)len, NULL, 0, 1,
                         PD_NODE_STEP_ENDED, 0);
        CHECK(id == i + 1);
    }
    CHECK(!strncmp(pd_tree_text(&t, 1), "step 0\n\n", 8));
    CHECK(!strncmp(pd_tree_text(&t, 4999), "step 4998\n\n", 11));
    pd_tree_free(&t);
}

static void t_aggregation(void) {
    pd_tree t;
    CHECK_EQ_INT(pd_tree_init(&t, &PROB, 42), 0);
    const float r[4] = {0.5f, 0.25f, 1.0f, 0.75f};
    int32_t leaf = chain(&t, r, 4);
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_LAST) - 0.75) < 1e-6);
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_MIN) - 0.25) < 1e-6);
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_PROD) - 0.5 * 0.25 * 0.75) < 1e-6);
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_MEAN) - 2.5 / 4) < 1e-6);
    /* an unscored leaf: last falls back to the deepest scored step, the others skip it */
    t.nodes[leaf].reward = -1;
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_LAST) - 1.0) < 1e-6);
    CHECK(fabs(pd_tree_aggregate(&t, leaf, PD_AGG_MEAN) - 1.75 / 3) < 1e-6);
    CHECK(pd_tree_aggregate(&t, 0, PD_AGG_MEAN) == 0.0);
    CHECK(fabs(pd_agg_rewards(r, 4, PD_AGG_MIN) - 0.25) < 1e-6);
    CHECK(fabs(pd_agg_rewards(r, 4, PD_AGG_LAST) - 0.75) < 1e-6);
    CHECK(fabs(pd_agg_rewards(r, 4, PD_AGG_PROD) - 0.09375) < 1e-6);
    CHECK(fabs(pd_agg_rewards(r, 4, PD_AGG_MEAN) - 0.625) < 1e-6);
    pd_agg a;
    CHECK_EQ_INT(pd_agg_parse("prod", &a), 0);
    CHECK_EQ_INT(a, PD_AGG_PROD);
    CHECK_EQ_INT(pd_agg_parse("max", &a), -1);
    CHECK_STR(pd_agg_name(PD_AGG_MEAN), "mean");
    pd_tree_free(&t);
}

/* Completions with the given answers and scores (answer NULL: none). */
static void mk(pd_completion *c, int n, const char **ans, const double *sc) {
    for (int i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].answer = ans[i] ? strdup(ans[i]) : NULL;
        c[i].key = ans[i] ? pd_grade_key(ans[i]) : NULL;
        c[i].score = sc[i];
    }
}
static void unmk(pd_completion *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].answer);
        free(c[i].key);
    }
}

static void t_select_rules(void) {
    pd_completion c[6];
    /* naive: highest score; weighted: 7 has 0.5+0.4=0.9 > 0.8; maj: 7 (2 votes) */
    const char *a1[] = {"5", "7", "7", "9"};
    const double s1[] = {0.8, 0.5, 0.4, 0.1};
    mk(c, 4, a1, s1);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_NAIVE), 0);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_WEIGHTED), 1);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_MAJ), 1);
    /* over the first k only */
    CHECK_EQ_INT(pd_select_pick(c, 4, 2, PD_SEL_WEIGHTED), 0);
    CHECK_EQ_INT(pd_select_pick(c, 4, 1, PD_SEL_MAJ), 0);
    CHECK_EQ_INT(pd_select_pick(c, 4, 100, PD_SEL_MAJ), 1); /* k clamped to n */
    CHECK_EQ_INT(pd_select_pick(c, 4, 0, PD_SEL_NAIVE), -1);
    unmk(c, 4);
    /* ties go to the first: equal scores, equal group sums, equal group sizes */
    const char *a2[] = {"3", "4", "4", "3", "x"};
    const double s2[] = {0.5, 0.5, 0.25, 0.25, 0.5};
    mk(c, 5, a2, s2);
    CHECK_EQ_INT(pd_select_pick(c, 5, 5, PD_SEL_NAIVE), 0);
    CHECK_EQ_INT(pd_select_pick(c, 5, 5, PD_SEL_WEIGHTED), 0); /* 0.75 vs 0.75: "3" seen first */
    CHECK_EQ_INT(pd_select_pick(c, 5, 5, PD_SEL_MAJ), 0);
    unmk(c, 5);
    const char *a3[] = {"1", "2", "2", "1"};
    const double s3[] = {0.1, 0.9, 0.3, 0.9};
    mk(c, 4, a3, s3);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_NAIVE), 1); /* 0.9 twice: the first */
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_WEIGHTED), 1); /* 1.2 vs 1.0 */
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_MAJ), 0);      /* 2 vs 2: "1" seen first */
    unmk(c, 4);
    /* equal answers by the grader's key (spaces, $ are not part of the answer) */
    const char *a4[] = {"12", "13", "$13$", "12"};
    const double s4[] = {0.2, 0.3, 0.3, 0.2};
    mk(c, 4, a4, s4);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_WEIGHTED), 1);
    unmk(c, 4);
    /* completions without an answer do not vote, but naive may pick them */
    const char *a5[] = {NULL, NULL, NULL, "8"};
    const double s5[] = {0.9, 0.9, 0.9, 0.1};
    mk(c, 4, a5, s5);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_NAIVE), 0);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_MAJ), 3);
    CHECK_EQ_INT(pd_select_pick(c, 4, 4, PD_SEL_WEIGHTED), 3);
    CHECK_EQ_INT(pd_select_pick(c, 4, 2, PD_SEL_MAJ), 0); /* none votes: best score */
    unmk(c, 4);
}

int main(void) {
    RUN(t_tree_add_and_path);
    RUN(t_tree_growth);
    RUN(t_aggregation);
    RUN(t_select_rules);
    return test_done();
}
