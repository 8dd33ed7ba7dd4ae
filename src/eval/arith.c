/* arith.c — a generator of MATH-like arithmetic problems with step-by-step solutions.
 *
 * Each problem is an integer expression ("Compute $(12 - 4) \times 3 + 5$."); its
 * solution reduces one operation per step, steps separated by a blank line (the search's
 * step delimiter), and ends in \boxed{answer}. Difficulty grows with the level:
 *
 *   level  numbers  operands   operations      shape
 *     1       2      1..9       + -            a op b
 *     2       3      1..12      + - ×          left to right
 *     3       4      1..15      + - × ÷        random nesting
 *     4       5      1..20      + - × ÷        random nesting
 *     5       6      1..25      + - × ÷        random nesting
 *
 * The numbers stay small so that every step is arithmetic a tiny model can learn (the
 * project's models in models/ are trained on these problems, tools/arith/); a level is
 * harder through more steps, nesting and the larger intermediate values they make. Every ×
 * and ÷ has a one-digit operand: a × or ÷ whose right operand is a number gets a new one in
 * 2..9 (for ÷, one that divides the left value, else the ÷ becomes ×) unless, for ×, the
 * left value already has one digit; a × with two longer operands becomes +, and so does a ×
 * whose product would reach 1000 in magnitude (sums can still pass it a little). Every answer
 * is an integer. The expression is a binary tree in a small array; reduction repeatedly
 * evaluates the leftmost operation whose operands are both numbers (post-order), which
 * respects precedence because the tree encodes it. */
#include "ponder/dataset.h"

#include "eval_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 16 /* 6 leaves + 5 operators at level 5 */

typedef struct enode {
    char op;       /* 0 for a number, else one of + - * / */
    long long val; /* number value (for op == 0) */
    int l, r;      /* children (for operators) */
} enode;

typedef struct expr {
    enode n[MAX_NODES];
    int count, root;
} expr;

static const struct {
    int leaves, lo, hi;
    const char *ops;
    int nested;
} LEVELS[6] = {
    {0, 0, 0, "", 0},
    {2, 1, 9, "+-", 0},
    {3, 1, 12, "+-*", 0},
    {4, 1, 15, "+-*/", 1},
    {5, 1, 20, "+-*/", 1},
    {6, 1, 25, "+-*/", 1},
};

static int new_leaf(expr *e, pd_rng *r, int level) {
    enode *n = &e->n[e->count];
    n->op = 0;
    n->val = LEVELS[level].lo + (long long)pd_rng_below(r, (uint64_t)(LEVELS[level].hi - LEVELS[level].lo + 1));
    return e->count++;
}

/* Build a tree with `leaves` numbers: left-deep, or with random splits when nested. */
static int build(expr *e, pd_rng *r, int level, int leaves) {
    if (leaves == 1) return new_leaf(e, r, level);
    int left = LEVELS[level].nested ? 1 + (int)pd_rng_below(r, (uint64_t)(leaves - 1)) : leaves - 1;
    int l = build(e, r, level, left);
    int rr = build(e, r, level, leaves - left);
    const char *ops = LEVELS[level].ops;
    enode *n = &e->n[e->count];
    n->op = ops[pd_rng_below(r, strlen(ops))];
    n->l = l;
    n->r = rr;
    return e->count++;
}

static long long llabs_(long long x) { return x < 0 ? -x : x; }

#define MAX_PRODUCT 1000 /* a × whose product would reach this becomes + */

/* Evaluate the tree, giving every × and ÷ a one-digit operand and rewriting operators that
 * would be inexact or too large (the rules at the top). */
static long long fix_eval(expr *e, int i, pd_rng *r) {
    enode *n = &e->n[i];
    if (!n->op) return n->val;
    long long a = fix_eval(e, n->l, r), b = fix_eval(e, n->r, r);
    enode *rn = &e->n[n->r];
    if (n->op == '/') {
        int div[8], nd = 0;
        for (int d = 2; d <= 9 && !rn->op; d++)
            if (a % d == 0) div[nd++] = d;
        if (nd) b = rn->val = div[pd_rng_below(r, (uint64_t)nd)];
        else n->op = '*';
    }
    if (n->op == '*' && !rn->op && llabs_(a) > 9 && llabs_(b) > 9) b = rn->val = 2 + (long long)pd_rng_below(r, 8);
    if (n->op == '*' && ((llabs_(a) > 9 && llabs_(b) > 9) || llabs_(a) >= MAX_PRODUCT / (llabs_(b) + 1))) n->op = '+';
    switch (n->op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return a / b;
    }
}

static int prec(char op) { return op == '+' || op == '-' ? 1 : op ? 2 : 3; }

static const char *op_tex(char op) {
    switch (op) {
    case '+': return " + ";
    case '-': return " - ";
    case '*': return " \\times ";
    default: return " \\div ";
    }
}

/* Render node i in LaTeX with the parentheses precedence requires; negative numbers
 * other than the whole expression are parenthesised. */
static void render(const expr *e, int i, int top, pd_buf *b) {
    const enode *n = &e->n[i];
    if (!n->op) {
        if (n->val < 0 && !top) pd_buf_printf(b, "(%lld)", n->val);
        else pd_buf_printf(b, "%lld", n->val);
        return;
    }
    const enode *l = &e->n[n->l], *r = &e->n[n->r];
    int pl = prec(l->op) < prec(n->op);
    /* a right operand of equal precedence is bracketed, so that reading left to right
     * follows the tree: 2 - (3 + 4), 2 \times (3 \div 1) */
    int pr = r->op && prec(r->op) <= prec(n->op);
    if (pl) pd_buf_putc(b, '(');
    render(e, n->l, 0, b);
    if (pl) pd_buf_putc(b, ')');
    pd_buf_puts(b, op_tex(n->op));
    if (pr) pd_buf_putc(b, '(');
    render(e, n->r, 0, b);
    if (pr) pd_buf_putc(b, ')');
}

/* The leftmost operator (post-order) whose operands are both numbers, or -1. */
static int reducible(const expr *e, int i) {
    const enode *n = &e->n[i];
    if (!n->op) return -1;
    int x = reducible(e, n->l);
    if (x >= 0) return x;
    if ((x = reducible(e, n->r)) >= 0) return x;
    return !e->n[n->l].op && !e->n[n->r].op ? i : -1;
}

/* Write the problem, the step-by-step solution and the answer of one expression. */
static void write_problem(expr *e, pd_buf *problem, pd_buf *solution, pd_buf *answer) {
    pd_buf_puts(problem, "Compute $");
    render(e, e->root, 1, problem);
    pd_buf_puts(problem, "$.");
    int i;
    while ((i = reducible(e, e->root)) >= 0) {
        enode *n = &e->n[i];
        long long a = e->n[n->l].val, b = e->n[n->r].val, v;
        switch (n->op) {
        case '+': v = a + b; break;
        case '-': v = a - b; break;
        case '*': v = a * b; break;
        default: v = a / b; break;
        }
        if (solution->len) pd_buf_puts(solution, "\n\n");
        pd_buf_putc(solution, '$');
        render(e, i, 0, solution);
        pd_buf_printf(solution, " = %lld$", v);
        n->op = 0;
        n->val = v;
        if (i == e->root) {
            pd_buf_printf(solution, ", so the answer is $\\boxed{%lld}$.", v);
            pd_buf_printf(answer, "%lld", v);
        } else {
            pd_buf_puts(solution, ", so the expression becomes $");
            render(e, e->root, 1, solution);
            pd_buf_puts(solution, "$.");
        }
    }
}

/* One problem of `level`: a random expression, fixed so that every step is exact and small. */
static void write_arith(pd_rng *r, int level, pd_buf *problem, pd_buf *solution, pd_buf *answer) {
    expr e = {.count = 0};
    e.root = build(&e, r, level, LEVELS[level].leaves);
    fix_eval(&e, e.root, r);
    write_problem(&e, problem, solution, answer);
}

int pd_generate_problems(pd_dataset *ds, const char *name, uint64_t salt, size_t n, int level_lo,
                         int level_hi, uint64_t seed, pd_problem_writer write, pd_error *err) {
    if (level_lo < 1 || level_hi > 5 || level_lo > level_hi)
        return pd_err_set(err, PD_EINVAL, "%s levels must lie in 1-5 (got %d-%d)", name, level_lo, level_hi);
    pd_buf problem = {0}, solution = {0}, answer = {0};
    int rc = 0;
    int span = level_hi - level_lo + 1;
    for (size_t k = 0; k < n && !rc; k++) {
        int level = level_lo + (int)(k % (size_t)span); /* levels spread evenly */
        pd_rng r;
        pd_rng_seed(&r, pd_hash_mix(pd_hash_mix(seed, salt), k));
        pd_buf_reset(&problem), pd_buf_reset(&solution), pd_buf_reset(&answer);
        write(&r, level, &problem, &solution, &answer);
        char id[64];
        snprintf(id, sizeof id, "%s/%llu/%zu", name, (unsigned long long)seed, k);
        if (!problem.len || !solution.len || !answer.len ||
            pd_dataset_add(ds, id, problem.data, answer.data, solution.data, level))
            rc = pd_err_set(err, PD_ENOMEM, "out of memory generating problems");
    }
    pd_buf_free(&problem), pd_buf_free(&solution), pd_buf_free(&answer);
    return rc;
}

int pd_arith_generate(pd_dataset *ds, size_t n, int level_lo, int level_hi, uint64_t seed, pd_error *err) {
    return pd_generate_problems(ds, "arith", 0xa417, n, level_lo, level_hi, seed, write_arith, err);
}
