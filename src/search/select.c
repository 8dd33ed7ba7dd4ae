/* select.c — choosing one answer among completions: naive, weighted and majority voting.
 *
 * naive     the completion with the highest aggregated score (best-of-N proper);
 * weighted  completions grouped by equal answers (pd_grade_key, the grader's one notion of
 *           equivalence), each group weighted by the sum of its scores (search-and-learn's
 *           weighted best-of-N);
 * maj       the largest group (self-consistency).
 *
 * Ties go to the first: the lowest index for naive, the group whose first member comes first
 * for weighted/maj. Completions without an extracted answer do not vote: a pile of truncated
 * solutions should not outvote a real answer (search-and-learn groups the empty answer like
 * any other; see docs/SEARCH.md). Groups are found by a quadratic scan over the first k keys:
 * k is at most a few hundred, and a scan over short strings beats building a hash table. */
#include "ponder/search.h"

#include <stdlib.h>
#include <string.h>

static const char *SEL_NAMES[] = {"naive", "weighted", "maj"};

const char *pd_select_name(pd_select s) {
    return (unsigned)s < PD_N_SELECT ? SEL_NAMES[s] : "?";
}

/* Index of the chosen completion among the first k, or -1 when there is none. */
int32_t pd_select_pick(const pd_completion *c, int32_t n, int32_t k, pd_select mode) {
    if (k > n) k = n;
    if (k <= 0) return -1;
    if (mode == PD_SEL_NAIVE) {
        int32_t best = 0;
        for (int32_t i = 1; i < k; i++)
            if (c[i].score > c[best].score) best = i;
        return best;
    }
    /* Voting: for each completion that starts a group (no earlier equal key), sum its group. */
    int32_t best = -1;
    double best_w = 0;
    for (int32_t i = 0; i < k; i++) {
        if (!c[i].key) continue;
        int seen = 0;
        for (int32_t j = 0; j < i && !seen; j++)
            if (c[j].key && !strcmp(c[j].key, c[i].key)) seen = 1;
        if (seen) continue;
        double w = 0;
        for (int32_t j = i; j < k; j++)
            if (c[j].key && !strcmp(c[j].key, c[i].key)) w += mode == PD_SEL_MAJ ? 1.0 : c[j].score;
        if (best < 0 || w > best_w) {
            best = i;
            best_w = w;
        }
    }
    if (best < 0) { /* no completion holds an answer: fall back to the best score */
        best = 0;
        for (int32_t i = 1; i < k; i++)
            if (c[i].score > c[best].score) best = i;
    }
    return best;
}
