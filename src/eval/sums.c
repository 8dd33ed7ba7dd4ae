/* sums.c — a generator of target-sum problems: a search task with step-by-step solutions.
 *
 * "Three of the numbers 14, 27, 35, 8, 19 and 42 add up to 76. What is the smallest of the
 * three?" Exactly one choice of that many numbers makes the target. The solution takes the
 * chosen numbers from the largest down, one subtraction per step, steps separated by a blank
 * line (the search's step delimiter):
 *
 *   $76 - 35 = 41$ is left for the other two.
 *
 *   $41 - 27 = 14$, and 14 is one of the numbers, so the smallest is $\boxed{14}$.
 *
 * The arithmetic world's second task (Countdown-like), made for search: every step is easy
 * to check by rule (a two- or three-digit subtraction, and at the end whether the rest is in
 * the list) but hard to produce (the first step already needs the whole choice), so more
 * guesses solve more problems when a verifier picks among them. How the tiny models trained
 * on it fared is in docs/ARITH.md. The answer depends on every step (the smallest
 * number is the last remainder). Difficulty grows with the level:
 *
 *   level  numbers  chosen  values   choices
 *     1       4       2     1..30       6
 *     2       5       2     1..40      10
 *     3       6       3     1..50      20
 *     4       7       3     1..60      35
 *     5       8       4     1..70      70
 *
 * The numbers of a problem are distinct and in random order; a draw whose target another
 * choice of as many numbers also makes is drawn again. */
#include "ponder/dataset.h"

#include "eval_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_NUMS 8

static const struct {
    int count, pick, hi;
} LEVELS[6] = {
    {0, 0, 0}, {4, 2, 30}, {5, 2, 40}, {6, 3, 50}, {7, 3, 60}, {8, 4, 70},
};

static const char *const WORD[] = {"", "one", "two", "three", "four"};
static const char *const CAP_WORD[] = {"", "One", "Two", "Three", "Four"};
static const char *const EXTREME[] = {"", "", "smaller", "smallest", "smallest"};

/* How many subsets of `pick` of the `count` numbers sum to `target`. */
static int count_subsets(const int *v, int count, int pick, int target) {
    int found = 0;
    for (unsigned m = 0; m < (1u << count); m++) {
        if (__builtin_popcount(m) != pick) continue;
        int s = 0;
        for (int i = 0; i < count; i++)
            if (m & (1u << i)) s += v[i];
        found += s == target;
    }
    return found;
}

/* Draw one problem of `level`: distinct numbers in random order, the chosen ones (sorted
 * from the largest down) and their sum, unique among choices of as many numbers. */
static void draw(pd_rng *r, int level, int *v, int *chosen, int *target) {
    int count = LEVELS[level].count, pick = LEVELS[level].pick, hi = LEVELS[level].hi;
    for (;;) {
        for (int i = 0; i < count; i++) {
            int x, dup;
            do {
                x = 1 + (int)pd_rng_below(r, (uint64_t)hi);
                dup = 0;
                for (int j = 0; j < i; j++) dup |= v[j] == x;
            } while (dup);
            v[i] = x;
        }
        /* the first `pick` positions of a random permutation are the chosen ones */
        int idx[MAX_NUMS];
        for (int i = 0; i < count; i++) idx[i] = i;
        for (int i = count - 1; i > 0; i--) {
            int j = (int)pd_rng_below(r, (uint64_t)(i + 1)), t = idx[i];
            idx[i] = idx[j], idx[j] = t;
        }
        *target = 0;
        for (int i = 0; i < pick; i++) *target += chosen[i] = v[idx[i]];
        if (count_subsets(v, count, pick, *target) != 1) continue;
        for (int i = 0; i < pick; i++) /* largest first */
            for (int j = i + 1; j < pick; j++)
                if (chosen[j] > chosen[i]) {
                    int t = chosen[i];
                    chosen[i] = chosen[j], chosen[j] = t;
                }
        return;
    }
}

static void write_problem(int level, const int *v, const int *chosen, int target, pd_buf *problem,
                          pd_buf *solution, pd_buf *answer) {
    int count = LEVELS[level].count, pick = LEVELS[level].pick;
    /* "Two of the numbers 3, 17, 9 and 25 add up to 26. What is the smaller of the two?" */
    pd_buf_printf(problem, "%s of the numbers ", CAP_WORD[pick]);
    for (int i = 0; i < count; i++)
        pd_buf_printf(problem, "%s%d", i == 0 ? "" : i == count - 1 ? " and " : ", ", v[i]);
    pd_buf_printf(problem, " add up to %d. What is the %s of the %s?", target, EXTREME[pick], WORD[pick]);
    int rest = target;
    for (int i = 0; i + 1 < pick; i++) {
        int left = rest - chosen[i];
        if (i) pd_buf_puts(solution, "\n\n");
        pd_buf_printf(solution, "$%d - %d = %d$", rest, chosen[i], left);
        if (i + 2 < pick) pd_buf_printf(solution, " is left for the other %s.", WORD[pick - 1 - i]);
        else pd_buf_printf(solution, ", and %d is one of the numbers, so the %s is $\\boxed{%d}$.", left, EXTREME[pick], left);
        rest = left;
    }
    pd_buf_printf(answer, "%d", chosen[pick - 1]);
}

/* One problem of `level`. */
static void write_sums(pd_rng *r, int level, pd_buf *problem, pd_buf *solution, pd_buf *answer) {
    int v[MAX_NUMS], chosen[MAX_NUMS], target;
    draw(r, level, v, chosen, &target);
    write_problem(level, v, chosen, target, problem, solution, answer);
}

int pd_sums_generate(pd_dataset *ds, size_t n, int level_lo, int level_hi, uint64_t seed, pd_error *err) {
    return pd_generate_problems(ds, "sums", 0x5a35, n, level_lo, level_hi, seed, write_sums, err);
}
