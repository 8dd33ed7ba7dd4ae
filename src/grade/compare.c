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
    int calls;
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
            if (a->num.p != b->num.p || a->num.q != b->num.q) return 0;
        } else if (a->dval != b->dval) {
            return 0;
        }
        if ((a->flags & G_FLOAT) != (b->flags & G_FLOAT)) return 0;
        return 1;
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
    double complex a, b;
    if (geval_num(n->kid[0], NULL, NULL, 0, &a) || geval_num(n->kid[1], NULL, NULL, 0, &b)) return n;
    if (cimag(a) != 0 || cimag(b) != 0) return n;
    int lo = n->flags & G_LOPEN, ro = n->flags & G_ROPEN;
    int empty = (lo && ro) ? creal(b) <= creal(a) : (!lo && !ro) ? creal(b) < creal(a) : creal(b) <= creal(a);
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
    int gneg, gpct, pneg, ppct;
    const gnode *ga = num_atom(g, &gneg, &gpct), *pa = num_atom(p, &pneg, &ppct);
    if (ga || pa) {
        int gf = ga && (ga->flags & G_FLOAT), pf = pa && (pa->flags & G_FLOAT);
        if (gf || pf) {
            double complex a, b;
            if (geval_num(g, NULL, NULL, 0, &a) || geval_num(p, NULL, NULL, 0, &b)) return 0;
            if (rounded_equal(creal(a), creal(b), x->o->float_rounding) &&
                rounded_equal(cimag(a), cimag(b), x->o->float_rounding))
                return 1;
            return close_enough(a, b, 1e-12);
        }
        if (ga && pa && ga->num.ok && pa->num.ok && ga->num.q == 1 && pa->num.q == 1) {
            /* integers; 28% equals 28 */
            grat a = ga->num, b = pa->num;
            if (gneg) a.p = -a.p;
            if (pneg) b.p = -b.p;
            if (gpct == ppct || ga->base || pa->base) return a.p == b.p;
            if (a.p == b.p) return 1;
        }
        grat a = geval_exact(g), b = geval_exact(p);
        if (a.ok && b.ok) return gr_cmp(a, b) == 0 && a.p == b.p && a.q == b.q;
        return same_values(g, p, 1e-9);
    }
    grat a = geval_exact(g), b = geval_exact(p);
    if (a.ok && b.ok) return a.p == b.p && a.q == b.q;
    return same_values(g, p, 1e-9);
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

/* Drop elements equal to an earlier one (sets only). Returns the new count. */
static int dedupe(X *x, gnode *s, gnode **out, int d) {
    int n = 0;
    for (int i = 0; i < s->nkid; i++) {
        int dup = 0;
        for (int j = 0; j < n && !dup; j++) dup = gsame(out[j], s->kid[i], 0) || eqr(x, out[j], s->kid[i], d + 1);
        if (!dup) out[n++] = s->kid[i];
    }
    return n;
}

static int deep_eq(X *x, gnode *g, gnode *p, int d) {
    gnode *ge[256], *pe[256];
    int ng = g->nkid, np = p->nkid;
    if (ng > 256 || np > 256) return 0;
    if (g->kind == G_SET) ng = dedupe(x, g, ge, d);
    else memcpy(ge, g->kid, sizeof(gnode *) * (size_t)ng);
    if (p->kind == G_SET) np = dedupe(x, p, pe, d);
    else memcpy(pe, p->kid, sizeof(gnode *) * (size_t)np);
    if (ng != np) return 0;
    if (g->kind == G_SET) { /* unordered: match each gold element to a distinct one */
        char used[256] = {0};
        for (int i = 0; i < ng; i++) {
            int found = 0;
            for (int j = 0; j < np && !found; j++)
                if (!used[j] && eqr(x, ge[i], pe[j], d + 1)) used[j] = found = 1;
            if (!found) return 0;
        }
        return 1;
    }
    for (int i = 0; i < ng; i++)
        if (!eqr(x, ge[i], pe[i], d + 1)) return 0;
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

/* ---- the comparison ---- */

static int eqr(X *x, gnode *g, gnode *p, int d) {
    if (!g || !p || d > G_MAX_DEPTH || ++x->calls > 20000) return 0;
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
    if (is_rel(g) && is_rel(p)) return rel_eq(x, g, p, d);
    if (is_rel(g) || is_rel(p)) return 0;
    if (is_setlike(g) || is_setlike(p) || g->kind == G_TUPLE || p->kind == G_TUPLE)
        return sets_eq(x, g, p, d);
    if (g->kind == G_SYM || p->kind == G_SYM || g->kind == G_TEXT || p->kind == G_TEXT)
        return sym_eq(g, p);
    int gi, pi;
    if (is_inf(g, &gi) || is_inf(p, &pi)) return is_inf(g, &gi) && is_inf(p, &pi) && gi == pi;
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
    X x = {c, o, 0};
    if (!gold || !pred) return 0;
    if (!o->strict) { /* variables matched by position: f(x) equals f(y) */
        const char *gv[16], *pv[16];
        int ng = gvars(gold, gv, 16), np = gvars(pred, pv, 16);
        if (ng == np && ng > 0) pred = rename(&x, pred, pv, gv, np, 0);
    }
    return eqr(&x, gold, pred, 0);
}
