/* compare.c — are two parsed answers equal? Type by type, with the gold deciding.
 *
 * The order of the checks follows Math-Verify's verify() so that the two agree on the
 * cases both test suites pin down:
 *
 *   1. Assignments: "x = 5" is an assignment when its left side is only symbols ("x", "AB",
 *      "f(x)", "(p,q)", "A:B"); a chain "x = 1+1 = 2" keeps its first left and last right
 *      side. If the prediction is an equation and the gold is not, the prediction's right
 *      side is compared ("x = 3" vs "3"); if the gold is an assignment and the prediction
 *      is no equation, the gold's right side is ("k = 1" vs "1"). A real equation in the
 *      gold ("2x + z = 1") is never reduced, so "1" does not equal it.
 *   2. A relation gold against a set prediction compares the relation's solution set with
 *      the set ("-2 \le x \le 7" vs [-2, 7]); the other way round only with set_relation.
 *   3. Structurally identical trees are equal.
 *   4. Relations: same operator and equal (lhs - rhs); flipped operator and opposite
 *      difference (x < 1 vs -x > -1); otherwise the differences must be proportional (any
 *      factor for = and !=, positive for the same inequality, negative for a flipped one),
 *      which is what solving both would find for the polynomial relations answers hold.
 *   5. Sets, tuples, intervals: intervals by endpoints and brackets; finite sets ignoring
 *      order and duplicates; tuples in order; an open interval (a, b) also reads as the
 *      pair (a, b); other real sets (unions, relation sets) by membership at sample points
 *      around every endpoint.
 *   6. Symbols and text: case-insensitive names, a word written as letters ("odd" = o*d*d)
 *      equals \text{odd}; "e" equals Euler's e.
 *   7. Numbers and expressions: when either side is a decimal number both are rounded to
 *      float_rounding decimals; integers (and integer percentages, 28% = 28) compare
 *      exactly; other constants exactly as rationals when possible, else numerically with a
 *      1e-9 relative tolerance; expressions with variables at G_NPOINTS random points.
 *      Matrices element by element (sums and products of matrices evaluated first).
 *
 * Everything is bounded: recursion depth, set sizes (<= 256 after parsing), sample points. */
#include "grade_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct X {
    gctx *c;
    const gcmp_opts *o;
    long calls, max_calls; /* comparisons made, and the budget (grows with the trees' size) */
} X;

static int eqr(X *x, gnode *g, gnode *p, int d);

/* ---- predicates ---- */

static int is_rel(const gnode *n) { return n && n->kind == G_REL; }

static int is_eqn(const gnode *n) {
    if (!is_rel(n)) return 0;
    for (int i = 0; i + 1 < n->nkid; i++)
        if (n->rel[i] != GR_EQ) return 0;
    return 1;
}

int gonly_symbols(const gnode *n, int d) {
    if (!n || d > G_MAX_DEPTH) return 0;
    switch (n->kind) {
    case G_SYM: case G_TEXT: return 1;
    case G_CONST: return n->op == GC_E || n->op == GC_I;
    case G_MUL: case G_ADD: case G_DIV: case G_TUPLE: case G_INTERVAL: case G_FUNC:
        if (n->kind == G_FUNC && !n->op && strcmp(n->name ? n->name : "", "abs") != 0) return 0;
        for (int i = 0; i < n->nkid; i++)
            if (!gonly_symbols(n->kid[i], d + 1)) return 0;
        return n->nkid > 0;
    default: return 0;
    }
}

static int is_assign(const gnode *n) { return is_eqn(n) && gonly_symbols(n->kid[0], 0); }

static int is_setlike(const gnode *n) {
    return n && (n->kind == G_SET || n->kind == G_INTERVAL || n->kind == G_UNION ||
                 n->kind == G_INTER || n->kind == G_SETMINUS || n->kind == G_UNIVERSE);
}

static int is_inf(const gnode *n, int *sign) {
    int s = 1;
    while (n && n->kind == G_NEG) {
        s = -s;
        n = n->kid[0];
    }
    if (n && n->kind == G_CONST && n->op == GC_INF) {
        *sign = s;
        return 1;
    }
    return 0;
}

/* ---- structural equality ---- */

int gsame(const gnode *a, const gnode *b, int d) {
    if (a == b) return 1;
    if (!a || !b || d > G_MAX_DEPTH) return 0;
    if (a->kind != b->kind || a->nkid != b->nkid || a->op != b->op) return 0;
    if ((a->flags & (G_LOPEN | G_ROPEN)) != (b->flags & (G_LOPEN | G_ROPEN))) return 0;
    if ((a->name || b->name) && a->kind != G_MUL && (!a->name || !b->name || strcmp(a->name, b->name)))
        return 0;
    switch (a->kind) {
    case G_NUM:
        if (a->num.ok && b->num.ok) {
            if (!gr_eq(a->num, b->num)) return 0;
        } else if (a->num.ok || b->num.ok || a->dval != b->dval) {
            return 0;
        }
        if ((a->flags & G_FLOAT) != (b->flags & G_FLOAT) || a->base != b->base) return 0;
        return 1;
    case G_TIME: return a->base == b->base && (a->flags & G_SECS) == (b->flags & G_SECS);
    case G_REL:
        if (memcmp(a->rel, b->rel, (size_t)a->nkid - 1)) return 0;
        break;
    case G_MATRIX:
        if (a->rows != b->rows || a->cols != b->cols) return 0;
        break;
    default: break;
    }
    for (int i = 0; i < a->nkid; i++)
        if (!gsame(a->kid[i], b->kid[i], d + 1)) return 0;
    return 1;
}

/* ---- small tree builders ---- */

static gnode *mk2(X *x, int kind, gnode *a, gnode *b) {
    gnode *n = gn_new(x->c, kind, 2);
    if (!n) return NULL;
    n->kid[0] = a;
    n->kid[1] = b;
    return n;
}

static gnode *diff(X *x, gnode *a, gnode *b) {
    gnode *nb = gn_new(x->c, G_NEG, 1);
    if (!nb) return NULL;
    nb->kid[0] = b;
    return mk2(x, G_ADD, a, nb);
}

static gnode *eq_node(X *x, gnode *l, gnode *r) {
    gnode *n = mk2(x, G_REL, l, r);
    if (!n) return NULL;
    n->rel = ga_alloc(x->c->a, 1);
    if (!n->rel) return NULL;
    n->rel[0] = GR_EQ;
    return n;
}

/* An interval that is empty as written, (7, 6), is a pair (Math-Verify reads it so). */
static gnode *fix_interval(X *x, gnode *n) {
    if (!n || n->kind != G_INTERVAL) return n;
    int sa, sb;
    if (is_inf(n->kid[0], &sa) || is_inf(n->kid[1], &sb)) return n;
    int lo = n->flags & G_LOPEN, ro = n->flags & G_ROPEN, c;
    grat ea = geval_exact(x->c, n->kid[0]), eb = geval_exact(x->c, n->kid[1]);
    if (ea.ok && eb.ok) {
        c = gr_cmp(eb, ea); /* exact: (10^{40}+1, 10^{40}) is empty as written */
    } else {
        double complex a, b;
        if (geval_num(n->kid[0], NULL, NULL, 0, &a) || geval_num(n->kid[1], NULL, NULL, 0, &b)) return n;
        if (cimag(a) != 0 || cimag(b) != 0) return n;
        c = creal(b) < creal(a) ? -1 : creal(b) > creal(a);
    }
    int empty = (!lo && !ro) ? c < 0 : c <= 0;
    if (!empty) return n;
    gnode *t = gn_new(x->c, G_TUPLE, 2);
    if (!t) return n;
    t->kid[0] = n->kid[0];
    t->kid[1] = n->kid[1];
    return t;
}

/* ---- numbers ---- */

/* The number literal under an optional minus and percent: sets *neg, *pct. */
static const gnode *num_atom(const gnode *n, int *neg, int *pct) {
    *neg = 0;
    *pct = 0;
    if (n && n->kind == G_PCT) {
        *pct = 1;
        n = n->kid[0];
    }
    while (n && n->kind == G_NEG) {
        *neg = !*neg;
        n = n->kid[0];
    }
    return n && n->kind == G_NUM ? n : NULL;
}

static int close_enough(double complex a, double complex b, double tol) {
    double m = fmax(1.0, fmax(cabs(a), cabs(b)));
    return cabs(a - b) <= tol * m;
}

/* Variables of both sides (union, sorted by first appearance order of gvars). */
static int both_vars(const gnode *g, const gnode *p, const char **names, int max) {
    const char *a[16], *b[16];
    int na = gvars(g, a, 16), nb = gvars(p, b, 16), n = 0;
    for (int i = 0; i < na && n < max; i++) names[n++] = a[i];
    for (int j = 0; j < nb && n < max; j++) {
        int dup = 0;
        for (int i = 0; i < na; i++) dup |= !strcmp(a[i], b[j]);
        if (!dup) names[n++] = b[j];
    }
    return n;
}

/* Equal values at every sample point (no variables: one point). tol relative. */
static int same_values(const gnode *g, const gnode *p, double tol) {
    const char *names[16];
    int nv = both_vars(g, p, names, 16);
    double complex vals[16];
    int good = 0;
    int npts = nv ? G_NPOINTS : 1;
    for (int k = 0; k < npts; k++) {
        for (int i = 0; i < nv; i++) vals[i] = gpoint(k, i);
        double complex a, b;
        int ea = geval_num(g, names, vals, nv, &a), eb = geval_num(p, names, vals, nv, &b);
        if (ea && eb) continue;
        if (ea || eb) return 0;
        if (!close_enough(a, b, tol)) return 0;
        good++;
    }
    return nv ? good >= 2 : good == 1;
}

/* Round x to k decimals (as an integer count of 10^-k), with a fallback for big values. */
static int rounded_equal(double a, double b, int k) {
    if (k < 0) k = 0;
    if (k > 15) k = 15;
    double s = pow(10.0, k);
    double x = a * s, y = b * s;
    if (fabs(x) < 4e15 && fabs(y) < 4e15) {
        /* nudge by a relative epsilon so 0.125 -> 0.13 like decimal rounding would */
        double ex = nearbyint(x + copysign(fabs(x) * 4e-16, x));
        double ey = nearbyint(y + copysign(fabs(y) * 4e-16, y));
        if (fabs(x - trunc(x)) == 0.5 || fabs(y - trunc(y)) == 0.5) {
            ex = round(x);
            ey = round(y);
        }
        return ex == ey;
    }
    return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
}

/* 1 when the tree holds a decimal literal (0.5, 1.5e3) anywhere. */
static int has_decimal(const gnode *n, int d) {
    if (!n || d > G_MAX_DEPTH) return 0;
    if (n->kind == G_NUM) return (n->flags & G_FLOAT) != 0;
    for (int i = 0; i < n->nkid; i++)
        if (has_decimal(n->kid[i], d + 1)) return 1;
    return 0;
}

/* Decimals written with a negative power of ten (3e-8) keep float_rounding significant
 * digits rather than decimals, so 3e-8 and 4e-8 stay apart: the decimals to round to. */
static int rounding_digits(const gnode *ga, const gnode *pa, double a, double b, int k) {
    if (!((ga && (ga->flags & G_SCI)) || (pa && (pa->flags & G_SCI)))) return k;
    double m = fmax(fabs(a), fabs(b));
    if (!(m > 0) || m >= 1) return k;
    int e = (int)floor(log10(m));
    return k - e > 400 ? 400 : k - e;
}

/* The approximation rule (--rel-tol): a side written with a decimal literal equals the
 * other within rel_tol relative error (at every sample point when there are variables). */
static int approx_eq(X *x, const gnode *g, const gnode *p) {
    if (!(x->o->rel_tol > 0) || !(has_decimal(g, 0) || has_decimal(p, 0))) return 0;
    return same_values(g, p, x->o->rel_tol);
}

/* Numbers and expressions (step 7 in the file comment). */
static int num_eq(X *x, gnode *g, gnode *p, int d) {
    if (gis_matrix_expr(g) || gis_matrix_expr(p)) {
        if (g->kind == G_MATRIX && p->kind == G_MATRIX) {
            if (g->rows != p->rows || g->cols != p->cols) return 0;
            int all = 1;
            for (int i = 0; i < g->nkid && all; i++) all = eqr(x, g->kid[i], p->kid[i], d + 1);
            if (all) return 1;
        }
        const char *names[16];
        int nv = both_vars(g, p, names, 16);
        double complex vals[16];
        for (int k = 0; k < (nv ? G_NPOINTS : 1); k++) {
            for (int i = 0; i < nv; i++) vals[i] = gpoint(k, i);
            gmat a, b;
            if (geval_mat(g, names, vals, nv, &a) || geval_mat(p, names, vals, nv, &b)) return 0;
            if (a.rows != b.rows || a.cols != b.cols) return 0;
            for (int i = 0; i < a.rows * a.cols; i++)
                if (!close_enough(a.v[i], b.v[i], 1e-9)) return 0;
        }
        return 1;
    }
    gctx *c = x->c;
    int gneg, gpct, pneg, ppct;
    const gnode *ga = num_atom(g, &gneg, &gpct), *pa = num_atom(p, &pneg, &ppct);
    if (ga || pa) {
        int gf = ga && (ga->flags & G_FLOAT), pf = pa && (pa->flags & G_FLOAT);
        if (gf || pf) { /* a decimal literal: both rounded to float_rounding decimals */
            grat ea = geval_exact(c, g), eb = geval_exact(c, p);
            double complex a, b;
            if (ea.ok && eb.ok) {
                int k = rounding_digits(ga, pa, gr_double(ea), gr_double(eb), x->o->float_rounding);
                if (gr_round_eq(c->a, ea, eb, k)) return 1;
                return approx_eq(x, g, p);
            }
            if (geval_num(g, NULL, NULL, 0, &a) || geval_num(p, NULL, NULL, 0, &b)) return 0;
            int k = rounding_digits(ga, pa, cabs(a), cabs(b), x->o->float_rounding);
            if (rounded_equal(creal(a), creal(b), k) && rounded_equal(cimag(a), cimag(b), k))
                return 1;
            return close_enough(a, b, 1e-12) || approx_eq(x, g, p);
        }
        if (ga && pa && ga->num.ok && pa->num.ok && gr_is_int(ga->num) && gr_is_int(pa->num)) {
            /* integers; 28% equals 28 */
            grat a = gneg ? gr_neg(c->a, ga->num) : ga->num, b = pneg ? gr_neg(c->a, pa->num) : pa->num;
            if (gpct == ppct || ga->base || pa->base) return gr_eq(a, b);
            if (gr_eq(a, b)) return 1;
        }
    }
    grat a = geval_exact(c, g), b = geval_exact(c, p);
    if (a.ok && b.ok) return gr_eq(a, b) || approx_eq(x, g, p);
    return same_values(g, p, 1e-9) || approx_eq(x, g, p);
}

/* ---- symbols and words ---- */

static const char *word_of(const gnode *n) {
    if (!n) return NULL;
    if (n->kind == G_SYM && !strchr(n->name, '_') && !strchr(n->name, '\'')) return n->name;
    if (n->kind == G_TEXT) return n->name;
    if (n->kind == G_MUL && n->name) return n->name;
    if (n->kind == G_CONST && n->op == GC_E) return "e";
    if (n->kind == G_CONST && n->op == GC_I) return "i";
    return NULL;
}

static int sym_eq(const gnode *g, const gnode *p) {
    const char *a = word_of(g), *b = word_of(p);
    if (a && b) return strcmp(a, b) == 0;
    return gsame(g, p, 0);
}

/* ---- relations ---- */

static int inverse_op(int op) {
    switch (op) {
    case GR_LT: return GR_GT;
    case GR_GT: return GR_LT;
    case GR_LE: return GR_GE;
    case GR_GE: return GR_LE;
    default: return op;
    }
}

/* (gl - gr) = k (pl - pr) at every point with k constant; sign: 0 any, 1 k > 0, -1 k < 0. */
static int proportional(const gnode *gd, const gnode *pd, int sign) {
    const char *names[16];
    int nv = both_vars(gd, pd, names, 16);
    if (nv == 0) return 0;
    double complex vals[16], k0 = 0;
    int good = 0;
    for (int k = 0; k < G_NPOINTS; k++) {
        for (int i = 0; i < nv; i++) vals[i] = gpoint(k, i);
        double complex a, b;
        if (geval_num(gd, names, vals, nv, &a) || geval_num(pd, names, vals, nv, &b)) continue;
        if (cabs(b) < 1e-12 || cabs(a) < 1e-12) {
            if (cabs(a) < 1e-12 && cabs(b) < 1e-12) continue;
            return 0;
        }
        double complex r = a / b;
        if (good == 0) k0 = r;
        else if (!close_enough(r, k0, 1e-8)) return 0;
        good++;
    }
    if (good < 3 || fabs(cimag(k0)) > 1e-9 * cabs(k0)) return 0;
    if (sign > 0 && creal(k0) <= 0) return 0;
    if (sign < 0 && creal(k0) >= 0) return 0;
    return 1;
}

static int rel1_eq(X *x, gnode *gl, int gop, gnode *gr, gnode *pl, int pop, gnode *pr, int d) {
    if (gop == pop && gop == GR_EQ && gsame(gl, pl, 0)) return eqr(x, gr, pr, d + 1);
    gnode *gd = diff(x, gl, gr);
    if (!gd) return 0;
    if (gop == pop) {
        gnode *pd = diff(x, pl, pr);
        if (pd && eqr(x, gd, pd, d + 1)) return 1;
        if (pd && proportional(gd, pd, (gop == GR_EQ || gop == GR_NE) ? 0 : 1)) return 1;
    }
    if (inverse_op(gop) == pop) {
        gnode *pd = diff(x, pr, pl);
        if (pd && eqr(x, gd, pd, d + 1)) return 1;
        if (pd && gop != GR_EQ && gop != GR_NE && proportional(gd, pd, 1)) return 1;
    }
    return 0;
}

static int rel_eq(X *x, gnode *g, gnode *p, int d) {
    if (g->nkid != p->nkid) return 0;
    for (int i = 0; i + 1 < g->nkid; i++)
        if (!rel1_eq(x, g->kid[i], g->rel[i], g->kid[i + 1], p->kid[i], p->rel[i], p->kid[i + 1], d))
            return 0;
    return 1;
}

/* ---- real sets by membership ---- */

/* Value of a real endpoint: 0 ok, -1 not real; ±inf allowed. */
static int real_of(const gnode *n, double *v) {
    int s;
    if (is_inf(n, &s)) {
        *v = s * INFINITY;
        return 0;
    }
    double complex z;
    if (geval_num(n, NULL, NULL, 0, &z) || fabs(cimag(z)) > 1e-12 * (1 + fabs(creal(z)))) return -1;
    *v = creal(z);
    return 0;
}

typedef struct relvar {
    const char *names[16];
    int n;
} relvar;

/* Membership of t: 1, 0, or -1 when it cannot be decided. */
static int member(const gnode *s, double t, const relvar *rv, int d) {
    if (!s || d > G_MAX_DEPTH) return -1;
    switch (s->kind) {
    case G_INTERVAL: {
        double lo, hi;
        if (real_of(s->kid[0], &lo) || real_of(s->kid[1], &hi)) return -1;
        double eps = 1e-12 * fmax(1, fabs(t));
        int okl = (s->flags & G_LOPEN) ? t > lo + eps : t >= lo - eps;
        int okh = (s->flags & G_ROPEN) ? t < hi - eps : t <= hi + eps;
        return okl && okh;
    }
    case G_SET:
    case G_TUPLE:
        for (int i = 0; i < s->nkid; i++) {
            double v;
            /* an infinite element is no point of the line: membership cannot tell */
            if (real_of(s->kid[i], &v) || !isfinite(v)) return -1;
            if (fabs(v - t) <= 1e-9 * fmax(1, fabs(t))) return 1;
        }
        return 0;
    case G_UNION: {
        int unk = 0;
        for (int i = 0; i < s->nkid; i++) {
            int m = member(s->kid[i], t, rv, d + 1);
            if (m == 1) return 1;
            if (m < 0) unk = 1;
        }
        return unk ? -1 : 0;
    }
    case G_INTER: case G_SETMINUS: {
        int a = member(s->kid[0], t, rv, d + 1), b = member(s->kid[1], t, rv, d + 1);
        if (a < 0 || b < 0) return -1;
        return s->kind == G_INTER ? (a && b) : (a && !b);
    }
    case G_UNIVERSE:
        switch (s->op) {
        case GU_REALS: case GU_COMPLEX: return 1;
        case GU_EMPTY: return 0;
        case GU_INTEGERS: return t == floor(t);
        case GU_NATURALS: return t == floor(t) && t >= 1;
        default: return -1;
        }
    case G_REL: {
        if (rv->n != 1) return -1;
        double complex vals[16];
        for (int i = 0; i < rv->n; i++) vals[i] = t;
        for (int i = 0; i + 1 < s->nkid; i++) {
            double complex a, b;
            if (geval_num(s->kid[i], rv->names, vals, rv->n, &a) ||
                geval_num(s->kid[i + 1], rv->names, vals, rv->n, &b))
                return 0; /* outside the domain: not a solution */
            if (fabs(cimag(a)) > 1e-9 || fabs(cimag(b)) > 1e-9) return 0;
            double u = creal(a), v = creal(b), eps = 1e-10 * fmax(1, fmax(fabs(u), fabs(v)));
            int ok;
            switch (s->rel[i]) {
            case GR_EQ: ok = fabs(u - v) <= eps; break;
            case GR_NE: ok = fabs(u - v) > eps; break;
            case GR_LT: ok = u < v - eps; break;
            case GR_LE: ok = u <= v + eps; break;
            case GR_GT: ok = u > v + eps; break;
            case GR_GE: ok = u >= v - eps; break;
            default: return -1;
            }
            if (!ok) return 0;
        }
        return 1;
    }
    default: return -1;
    }
}

/* Collect finite endpoint values of a set or relation (and their negatives). The elements
 * of a finite set are collected whatever their size: a point that is never sampled would
 * make {10^{40}} look empty. */
static void endpoints(const gnode *s, double *pts, int *n, int max, int d) {
    if (!s || d > G_MAX_DEPTH) return;
    if (s->kind == G_INTERVAL || s->kind == G_SET || s->kind == G_TUPLE || s->kind == G_REL) {
        int points = s->kind == G_SET || s->kind == G_TUPLE;
        for (int i = 0; i < s->nkid; i++) {
            double v;
            if (!real_of(s->kid[i], &v) && isfinite(v) && (points || fabs(v) < 1e12) && *n + 2 <= max) {
                pts[(*n)++] = v;
                pts[(*n)++] = -v;
            }
        }
    }
    for (int i = 0; i < s->nkid; i++)
        if (s->kind == G_UNION || s->kind == G_INTER || s->kind == G_SETMINUS)
            endpoints(s->kid[i], pts, n, max, d + 1);
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1 when a relation chain has an '=' link: its solutions are isolated points. */
static int has_eq_link(const gnode *n) {
    if (!n || n->kind != G_REL) return 0;
    for (int i = 0; i + 1 < n->nkid; i++)
        if (n->rel[i] == GR_EQ) return 1;
    return 0;
}

/* Same membership at points around every endpoint of either side. Both sides empty at every
 * point proves nothing when one is an equation (2x = 2 has the solution 1, which no sample
 * hits): then the sets are not found equal. */
static int same_members(const gnode *a, const gnode *b, const relvar *rv) {
    double e[128];
    int ne = 0;
    endpoints(a, e, &ne, 128, 0);
    endpoints(b, e, &ne, 128, 0);
    qsort(e, (size_t)ne, sizeof *e, cmp_dbl);
    double pts[512];
    int np = 0;
    static const double fixed[] = {-1e6, -10, -1.5, -0.5, 0, 0.5, 1.5, 10, 1e6};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) pts[np++] = fixed[i];
    for (int i = 0; i < ne && np + 6 < 512; i++) {
        double dl = 1e-7 * fmax(1, fabs(e[i]));
        pts[np++] = e[i];
        pts[np++] = e[i] - dl;
        pts[np++] = e[i] + dl;
        if (i + 1 < ne && e[i + 1] > e[i]) pts[np++] = (e[i] + e[i + 1]) / 2;
    }
    if (ne) {
        pts[np++] = e[0] - 1;
        pts[np++] = e[ne - 1] + 1;
    }
    int hits = 0;
    for (int i = 0; i < np; i++) {
        int ma = member(a, pts[i], rv, 0), mb = member(b, pts[i], rv, 0);
        if (ma < 0 || mb < 0 || ma != mb) return 0;
        hits += ma;
    }
    return hits > 0 || !(has_eq_link(a) || has_eq_link(b));
}

/* Variables of a relation, an undefined function f(x) counting as one variable f. */
static void rel_vars(const gnode *n, relvar *rv, int d) {
    if (!n || d > G_MAX_DEPTH) return;
    if (n->kind == G_SYM || n->kind == G_TEXT || (n->kind == G_FUNC && n->op == 1)) {
        for (int i = 0; i < rv->n; i++)
            if (!strcmp(rv->names[i], n->name)) return;
        if (rv->n < 16) rv->names[rv->n++] = n->name;
        return;
    }
    for (int i = 0; i < n->nkid; i++) rel_vars(n->kid[i], rv, d + 1);
}

static int rel_vs_set(const gnode *rel, const gnode *set) {
    relvar rv = {{0}, 0};
    rel_vars(rel, &rv, 0);
    if (rv.n != 1) return 0;
    return same_members(rel, set, &rv);
}

/* ---- sets and tuples ---- */

static int is_finite_set(const gnode *n) { return n->kind == G_SET || n->kind == G_TUPLE; }

/* The exact value of a plain number element (no decimal point, percent or base, which
 * compare by other rules), or .ok = 0. */
static grat plain_value(X *x, const gnode *n) {
    if (has_decimal(n, 0)) return gr_bad();
    const gnode *m = n;
    while (m && m->kind == G_NEG) m = m->kid[0];
    if (!m || m->kind == G_PCT || m->kind == G_TIME || (m->kind == G_NUM && m->base) ||
        m->kind == G_SET || m->kind == G_TUPLE || m->kind == G_INTERVAL || m->kind == G_MATRIX ||
        m->kind == G_REL)
        return gr_bad();
    return geval_exact(x->c, n);
}

typedef struct valref {
    grat v;
    int i;
} valref;

static int cmp_valref(const void *a, const void *b) {
    const valref *x = a, *y = b;
    int c = gr_cmp(x->v, y->v);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Sorted exact values of every element (1), or 0 when some element is not a plain number. */
static int plain_values(X *x, const gnode *s, valref *out) {
    for (int i = 0; i < s->nkid; i++) {
        out[i].v = plain_value(x, s->kid[i]);
        out[i].i = i;
        if (!out[i].v.ok) return 0;
    }
    qsort(out, (size_t)s->nkid, sizeof *out, cmp_valref);
    return 1;
}

/* Sets of plain numbers: sorted exact values, duplicates dropped, compared in O(n log n)
 * (a 5,000-element set does not need 25 million comparisons). -1 when not all plain. */
static int plain_sets_eq(X *x, const gnode *g, const gnode *p) {
    if (g->nkid < 8 && p->nkid < 8) return -1;
    valref *a = ga_alloc(x->c->a, sizeof *a * (size_t)(g->nkid + 1));
    valref *b = ga_alloc(x->c->a, sizeof *b * (size_t)(p->nkid + 1));
    if (!a || !b || !plain_values(x, g, a) || !plain_values(x, p, b)) return -1;
    int i = 0, j = 0;
    for (;;) {
        while (i > 0 && i < g->nkid && gr_eq(a[i].v, a[i - 1].v)) i++;
        while (j > 0 && j < p->nkid && gr_eq(b[j].v, b[j - 1].v)) j++;
        if (i == g->nkid || j == p->nkid) return i == g->nkid && j == p->nkid;
        if (!gr_eq(a[i].v, b[j].v)) return 0;
        i++;
        j++;
    }
}

/* A hash of a tree's structure: trees that gsame calls identical hash alike. */
static uint64_t ghash(const gnode *n, int d) {
    if (!n || d > G_MAX_DEPTH) return 0x51ed27u;
    uint64_t h = pd_hash_mix((uint64_t)n->kind * 131 + (uint64_t)(uint16_t)n->op,
                             (uint64_t)n->nkid * 8 + (n->flags & (G_LOPEN | G_ROPEN)));
    if (n->name && n->kind != G_MUL)
        for (const char *q = n->name; *q; q++) h = h * 1099511628211ull ^ (unsigned char)*q;
    if (n->kind == G_NUM) {
        double v = n->num.ok ? gr_double(n->num) : n->dval;
        uint64_t bits;
        if (v == 0) v = 0; /* -0.0 */
        memcpy(&bits, &v, sizeof bits);
        h = pd_hash_mix(h, bits ^ (uint64_t)n->base * 977 ^ (n->flags & G_FLOAT));
    }
    if (n->kind == G_TIME) h = pd_hash_mix(h, (uint64_t)n->base);
    if (n->kind == G_MATRIX) h = pd_hash_mix(h, (uint64_t)n->rows * 65537 + (uint64_t)n->cols);
    if (n->kind == G_REL)
        for (int i = 0; i + 1 < n->nkid; i++) h = h * 31 + n->rel[i];
    for (int i = 0; i < n->nkid; i++) h = pd_hash_mix(h, ghash(n->kid[i], d + 1));
    return h;
}

typedef struct hidx {
    uint64_t h;
    int i;
} hidx;

static int cmp_hidx(const void *a, const void *b) {
    const hidx *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Hashes of v[0..n), sorted (arena array), or NULL. */
static hidx *hashes(X *x, gnode *const *v, int n) {
    hidx *h = ga_alloc(x->c->a, sizeof *h * (size_t)(n + 1));
    if (!h) return NULL;
    for (int i = 0; i < n; i++) h[i] = (hidx){ghash(v[i], 0), i};
    qsort(h, (size_t)n, sizeof *h, cmp_hidx);
    return h;
}

/* Drop elements equal to an earlier one (sets only). Returns the new count. Up to 64
 * elements every pair is compared; past that only structurally identical elements are
 * found (by hash), as the pairwise test is quadratic. */
static int dedupe(X *x, gnode *s, gnode **out, int d) {
    int n = 0;
    if (s->nkid <= 64) {
        for (int i = 0; i < s->nkid; i++) {
            int dup = 0;
            for (int j = 0; j < n && !dup; j++) dup = gsame(out[j], s->kid[i], 0) || eqr(x, out[j], s->kid[i], d + 1);
            if (!dup) out[n++] = s->kid[i];
        }
        return n;
    }
    hidx *h = hashes(x, s->kid, s->nkid);
    char *drop = ga_alloc(x->c->a, (size_t)s->nkid + 1);
    if (!h || !drop) {
        memcpy(out, s->kid, sizeof(gnode *) * (size_t)s->nkid);
        return s->nkid;
    }
    for (int a = 0; a < s->nkid; a++) /* h sorted by hash then index: earlier first */
        for (int b = a + 1; b < s->nkid && h[b].h == h[a].h; b++)
            if (!drop[h[b].i] && gsame(s->kid[h[a].i], s->kid[h[b].i], 0)) drop[h[b].i] = 1;
    for (int i = 0; i < s->nkid; i++)
        if (!drop[i]) out[n++] = s->kid[i];
    return n;
}

static int deep_eq(X *x, gnode *g, gnode *p, int d) {
    int ng = g->nkid, np = p->nkid;
    if (g->kind == G_TUPLE && p->kind == G_TUPLE) {
        if (ng != np) return 0;
        for (int i = 0; i < ng; i++)
            if (!eqr(x, g->kid[i], p->kid[i], d + 1)) return 0;
        return 1;
    }
    if (g->kind == G_SET && p->kind == G_SET) {
        int r = plain_sets_eq(x, g, p);
        if (r >= 0) return r;
    }
    gnode **ge = ga_alloc(x->c->a, sizeof(gnode *) * (size_t)(ng + 1));
    gnode **pe = ga_alloc(x->c->a, sizeof(gnode *) * (size_t)(np + 1));
    if (!ge || !pe) return 0;
    if (g->kind == G_SET) ng = dedupe(x, g, ge, d);
    else memcpy(ge, g->kid, sizeof(gnode *) * (size_t)ng);
    if (p->kind == G_SET) np = dedupe(x, p, pe, d);
    else memcpy(pe, p->kid, sizeof(gnode *) * (size_t)np);
    if (ng != np) return 0;
    if (g->kind != G_SET) {
        for (int i = 0; i < ng; i++)
            if (!eqr(x, ge[i], pe[i], d + 1)) return 0;
        return 1;
    }
    /* unordered: match each gold element to a distinct prediction element; structurally
     * identical ones first (by hash), then the element in the same place, then any */
    char *used = ga_alloc(x->c->a, (size_t)np + 1), *done = ga_alloc(x->c->a, (size_t)ng + 1);
    if (!used || !done) return 0;
    if (ng > 16) {
        hidx *hp = hashes(x, pe, np);
        if (!hp) return 0;
        for (int i = 0; i < ng; i++) {
            uint64_t h = ghash(ge[i], 0);
            int lo = 0, hi = np; /* first entry with hash >= h */
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (hp[mid].h < h) lo = mid + 1;
                else hi = mid;
            }
            for (int k = lo; k < np && hp[k].h == h && !done[i]; k++)
                if (!used[hp[k].i] && gsame(ge[i], pe[hp[k].i], 0)) used[hp[k].i] = done[i] = 1;
        }
    }
    for (int i = 0; i < ng; i++) {
        if (done[i]) continue;
        int found = 0;
        if (!used[i] && eqr(x, ge[i], pe[i], d + 1)) used[i] = found = 1;
        for (int j = 0; j < np && !found; j++)
            if (!used[j] && j != i && eqr(x, ge[i], pe[j], d + 1)) used[j] = found = 1;
        if (!found) return 0;
    }
    return 1;
}

static int real_set(const gnode *n) {
    return n->kind == G_INTERVAL || n->kind == G_UNION || n->kind == G_INTER ||
           n->kind == G_SETMINUS || n->kind == G_UNIVERSE;
}

static int sets_eq(X *x, gnode *g, gnode *p, int d) {
    gnode *a = g, *b = p;
    if (!is_setlike(a) && a->kind != G_TUPLE) {
        a = gn_new(x->c, G_SET, 1);
        if (!a) return 0;
        a->kid[0] = g;
    }
    if (!is_setlike(b) && b->kind != G_TUPLE) {
        b = gn_new(x->c, G_SET, 1);
        if (!b) return 0;
        b->kid[0] = p;
    }
    if (a->kind == G_INTERVAL && b->kind == G_INTERVAL) {
        if ((a->flags & (G_LOPEN | G_ROPEN)) != (b->flags & (G_LOPEN | G_ROPEN))) return 0;
        return eqr(x, a->kid[0], b->kid[0], d + 1) && eqr(x, a->kid[1], b->kid[1], d + 1);
    }
    if (gsame(a, b, 0)) return 1;
    if (is_finite_set(a) && is_finite_set(b)) return deep_eq(x, a, b, d);
    if (a->kind == G_INTERVAL && (a->flags & G_LOPEN) && (a->flags & G_ROPEN) && is_finite_set(b) && b->nkid == 2) {
        gnode *t = mk2(x, G_TUPLE, a->kid[0], a->kid[1]);
        return t && deep_eq(x, t, b, d);
    }
    if (b->kind == G_INTERVAL && (b->flags & G_LOPEN) && (b->flags & G_ROPEN) && is_finite_set(a) && a->nkid == 2) {
        gnode *t = mk2(x, G_TUPLE, b->kid[0], b->kid[1]);
        return t && deep_eq(x, a, t, d);
    }
    if ((real_set(a) || a->kind == G_SET) && (real_set(b) || b->kind == G_SET) &&
        (real_set(a) || real_set(b))) {
        relvar rv = {{0}, 0};
        return same_members(a, b, &rv);
    }
    return 0;
}

/* ---- structures ---- */

/* A vector: a matrix of one column or one row. */
static int is_vector(const gnode *n) { return n->kind == G_MATRIX && (n->rows == 1 || n->cols == 1); }

/* A written list: a tuple, a comma list (a set keeps its written order), or an interval
 * with like brackets ((1, 2) or [1, 2]). */
static int is_list(const gnode *n) {
    if (n->kind == G_TUPLE || n->kind == G_SET) return 1;
    return n->kind == G_INTERVAL && !(n->flags & G_LOPEN) == !(n->flags & G_ROPEN);
}

/* A list against a vector: the same entries in the same order ((1, 2, 3) is the column
 * vector (1; 2; 3)). */
static int vec_eq(X *x, gnode *g, gnode *p, int d) {
    gnode *v = g->kind == G_MATRIX ? g : p, *l = g->kind == G_MATRIX ? p : g;
    if (v->nkid != l->nkid) return 0;
    for (int i = 0; i < v->nkid; i++)
        if (!eqr(x, v == g ? v->kid[i] : l->kid[i], v == g ? l->kid[i] : v->kid[i], d + 1)) return 0;
    return 1;
}

/* f(t) on the left of "=": an undefined function of plain variables. */
static int fun_lhs(const gnode *l) {
    if (l->kind != G_FUNC || l->op != 1 || l->nkid < 1) return 0;
    for (int i = 0; i < l->nkid; i++)
        if (!l->kid[i] || l->kid[i]->kind != G_SYM) return 0;
    return 1;
}

static int mentions(const gnode *n, const char *name) {
    const char *v[16];
    int k = gvars(n, v, 16);
    for (int i = 0; i < k; i++)
        if (!strcmp(v[i], name)) return 1;
    return 0;
}

/* Two definitions of one function: "g(t) = 3t - 1" and "y = 3t - 1" (a dependent variable
 * that the right sides do not use), or "f(x) = x^2" and "g(x) = x^2" (the same arguments).
 * Then the right sides decide. */
static int same_function_def(const gnode *g, const gnode *p) {
    if (g->kind != G_REL || p->kind != G_REL || g->nkid != 2 || p->nkid != 2 || g->rel[0] != GR_EQ ||
        p->rel[0] != GR_EQ)
        return 0;
    const gnode *a = g->kid[0], *b = p->kid[0];
    if (!fun_lhs(a) && !fun_lhs(b)) return 0;
    if (fun_lhs(a) && fun_lhs(b)) {
        if (a->nkid != b->nkid) return 0;
        for (int i = 0; i < a->nkid; i++)
            if (strcmp(a->kid[i]->name, b->kid[i]->name)) return 0;
        return 1;
    }
    const gnode *f = fun_lhs(a) ? a : b, *y = fun_lhs(a) ? b : a;
    if (y->kind != G_SYM || mentions(g->kid[1], y->name) || mentions(p->kid[1], y->name)) return 0;
    for (int i = 0; i < f->nkid; i++)
        if (!strcmp(f->kid[i]->name, y->name)) return 0;
    return 1;
}

/* ---- times of day ---- */

/* Two times of day: equal clocks; a time written without a.m./p.m. and an hour of 1 to 12
 * also equals the marked time 12 hours on ("3:05" is "3:05 p.m."). */
static int time_eq(const gnode *g, const gnode *p) {
    if (g->base == p->base) return 1;
    if (!g->op == !p->op) return 0;
    const gnode *u = g->op ? p : g, *m = g->op ? g : p;
    int h = u->base / 3600;
    return h >= 1 && h <= 12 && u->base % 43200 == m->base % 43200;
}

/* ---- the comparison ---- */

static int eqr(X *x, gnode *g, gnode *p, int d) {
    if (!g || !p || d > G_MAX_DEPTH || ++x->calls > x->max_calls) return 0;
    g = fix_interval(x, g);
    p = fix_interval(x, p);
    int g_assign = is_assign(g), p_assign = is_assign(p);
    int g_eqn = is_eqn(g), p_eqn = is_eqn(p);
    if (g_assign && g->nkid > 2) g = eq_node(x, g->kid[0], g->kid[g->nkid - 1]);
    if (p_assign && p->nkid > 2) p = eq_node(x, p->kid[0], p->kid[p->nkid - 1]);
    if (!g || !p) return 0;
    if (p_eqn && !g_eqn) p = p->kid[p->nkid - 1];
    else if (g_assign && !p_eqn) g = g->kid[g->nkid - 1];
    g = fix_interval(x, g);
    p = fix_interval(x, p);
    if (is_rel(g) && is_setlike(p)) return rel_vs_set(g, p);
    if (x->o->set_relation && is_rel(p) && is_setlike(g)) return rel_vs_set(p, g);
    if (gsame(g, p, 0)) return 1;
    if (same_function_def(g, p)) return eqr(x, g->kid[1], p->kid[1], d + 1);
    if (is_rel(g) && is_rel(p)) return rel_eq(x, g, p, d);
    if (is_rel(g) || is_rel(p)) return 0;
    if ((is_vector(g) && is_list(p)) || (is_vector(p) && is_list(g))) return vec_eq(x, g, p, d);
    if (is_setlike(g) || is_setlike(p) || g->kind == G_TUPLE || p->kind == G_TUPLE)
        return sets_eq(x, g, p, d);
    if (g->kind == G_SYM || p->kind == G_SYM || g->kind == G_TEXT || p->kind == G_TEXT)
        return sym_eq(g, p);
    int gi, pi;
    if (is_inf(g, &gi) || is_inf(p, &pi)) return is_inf(g, &gi) && is_inf(p, &pi) && gi == pi;
    if (g->kind == G_TIME && p->kind == G_TIME) return time_eq(g, p);
    return num_eq(x, g, p, d);
}

/* Copy of n with variable names renamed from[i] -> to[i]. */
static gnode *rename(X *x, gnode *n, const char **from, const char **to, int k, int d) {
    if (!n || d > G_MAX_DEPTH) return n;
    gnode *m = gn_new(x->c, n->kind, 0);
    if (!m) return n;
    gnode **kids = NULL;
    if (n->nkid) {
        kids = ga_alloc(x->c->a, sizeof(gnode *) * (size_t)n->nkid);
        if (!kids) return n;
    }
    *m = *n;
    m->kid = kids;
    for (int i = 0; i < n->nkid; i++) m->kid[i] = rename(x, n->kid[i], from, to, k, d + 1);
    if ((n->kind == G_SYM || (n->kind == G_FUNC && n->op == 1)) && n->name)
        for (int i = 0; i < k; i++)
            if (!strcmp(n->name, from[i])) {
                m->name = to[i];
                break;
            }
    return m;
}

/* 1 when pred equals gold under the options (see the file comment). */
int gequal(gctx *c, gnode *gold, gnode *pred, const gcmp_opts *o) {
    X x = {c, o, 0, 20000 + 8L * c->nodes};
    if (!gold || !pred) return 0;
    if (!o->strict) { /* variables matched by position: f(x) equals f(y) */
        const char *gv[16], *pv[16];
        int ng = gvars(gold, gv, 16), np = gvars(pred, pv, 16);
        if (ng == np && ng > 0) pred = rename(&x, pred, pv, gv, np, 0);
    }
    return eqr(&x, gold, pred, 0);
}
