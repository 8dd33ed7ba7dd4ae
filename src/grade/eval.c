/* eval.c — values of expression trees: exact rationals, complex numbers at a point, matrices.
 *
 * Three evaluators share the tree:
 *
 *   geval_exact  rationals only (numbers, + - * /, integer powers, %, factorials,
 *                floor/ceil/abs/binom/perfect-square roots of rationals; rat.c, GMP past
 *                128 bits). Exact, so 1/3 + 1/6 == 1/2 with no
 *                tolerance; anything else (radicals, pi, variables, overflow) says "not exact".
 *   geval_num    complex doubles with variables bound to given values: the workhorse for
 *                radicals, pi, trig, logs and expressions with variables (compared at several
 *                deterministic random points, see gpoint). Principal branches throughout, so
 *                identities that hold for complex numbers hold here too.
 *   geval_mat    matrix literals and their sums, scalar multiples and products.
 *
 * Work is bounded: each evaluation counts visited nodes and sum terms against
 * G_MAX_EVAL_STEPS, factorials and powers are capped, and recursion depth is capped. */
#include "grade_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ev {
    const char *const *names;
    const double complex *vals;
    int nvar;
    long steps;
    /* bound summation indices */
    const char *ix_name[4];
    double ix_val[4];
    int nix;
} ev;

/* ---- exact ---- */

static grat ex(garena *a, const gnode *n, int d) {
    if (!n || d > G_MAX_DEPTH) return gr_bad();
    switch (n->kind) {
    case G_NUM: return n->num;
    case G_NEG: return gr_neg(a, ex(a, n->kid[0], d + 1));
    case G_ADD: {
        grat s = gr_make(0, 1);
        for (int i = 0; i < n->nkid && s.ok; i++) s = gr_add(a, s, ex(a, n->kid[i], d + 1));
        return s;
    }
    case G_MUL: {
        grat s = gr_make(1, 1);
        for (int i = 0; i < n->nkid && s.ok; i++) s = gr_mul(a, s, ex(a, n->kid[i], d + 1));
        return s;
    }
    case G_DIV: return gr_div(a, ex(a, n->kid[0], d + 1), ex(a, n->kid[1], d + 1));
    case G_PCT: return gr_div(a, ex(a, n->kid[0], d + 1), gr_make(100, 1));
    case G_TIME: return n->num; /* as written: 3:05 is the ratio 3/5 (Math-Verify's reading) */
    case G_POW: {
        grat b = ex(a, n->kid[0], d + 1), e = ex(a, n->kid[1], d + 1);
        long k;
        if (!b.ok || !gr_to_long(e, &k)) return gr_bad();
        return gr_pow(a, b, k);
    }
    case G_FACT: return gr_fact(a, ex(a, n->kid[0], d + 1));
    case G_FUNC: {
        if (!n->name || n->op) return gr_bad();
        if (!strcmp(n->name, "abs") && n->nkid == 1) return gr_abs(a, ex(a, n->kid[0], d + 1));
        if ((!strcmp(n->name, "floor") || !strcmp(n->name, "ceil")) && n->nkid == 1)
            return gr_floor(a, ex(a, n->kid[0], d + 1), n->name[0] == 'c');
        if (!strcmp(n->name, "binom") && n->nkid == 2)
            return gr_binom(a, ex(a, n->kid[0], d + 1), ex(a, n->kid[1], d + 1));
        if (!strcmp(n->name, "sqrt") && n->nkid == 1) /* perfect squares stay exact */
            return gr_sqrt(a, ex(a, n->kid[0], d + 1));
        return gr_bad();
    }
    default: return gr_bad();
    }
}

grat geval_exact(gctx *c, const gnode *n) { return ex(c->a, n, 0); }

/* ---- variables ---- */

static int add_var(const char **names, int cnt, int max, const char *nm) {
    for (int i = 0; i < cnt; i++)
        if (!strcmp(names[i], nm)) return cnt;
    if (cnt >= max) return cnt;
    names[cnt] = nm;
    return cnt + 1;
}

static int vars_rec(const gnode *n, const char **names, int cnt, int max, int d, const char *bound) {
    if (!n || d > G_MAX_DEPTH) return cnt;
    if (n->kind == G_SYM) {
        if (bound && !strcmp(bound, n->name)) return cnt;
        return add_var(names, cnt, max, n->name);
    }
    if (n->kind == G_TEXT) return add_var(names, cnt, max, n->name);
    if (n->kind == G_FUNC && n->op == 1) cnt = add_var(names, cnt, max, n->name); /* f(..) by f */
    if (n->kind == G_SUM) {
        cnt = vars_rec(n->kid[0], names, cnt, max, d + 1, bound);
        cnt = vars_rec(n->kid[1], names, cnt, max, d + 1, bound);
        return vars_rec(n->kid[2], names, cnt, max, d + 1, n->name);
    }
    for (int i = 0; i < n->nkid; i++) cnt = vars_rec(n->kid[i], names, cnt, max, d + 1, bound);
    return cnt;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct variable names of a tree, sorted. Undefined functions count by their name. */
int gvars(const gnode *n, const char **names, int max) {
    int c = vars_rec(n, names, 0, max, 0, NULL);
    qsort(names, (size_t)c, sizeof *names, cmp_str);
    return c;
}

/* Deterministic pseudo-random value of variable i at point k: positive at the first three
 * points, mixed signs after; never near 0 or 1 (where many expressions coincide). */
double complex gpoint(int k, int i) {
    uint64_t h = pd_hash_mix(0x9e3779b97f4a7c15ull + (uint64_t)k * 1315423911ull, (uint64_t)i + 77);
    double u = (double)(h >> 11) / 9007199254740992.0;
    double v = 0.31 + 1.83 * u;
    if (v > 0.93 && v < 1.07) v += 0.29;
    if (k >= 3 && ((k + i) & 1)) v = -v;
    return v;
}

/* ---- numeric ---- */

static int num(ev *e, const gnode *n, int d, double complex *out);

static int fn_arg(ev *e, const gnode *n, int i, int d, double complex *v) {
    if (i >= n->nkid || !n->kid[i]) return -1;
    return num(e, n->kid[i], d + 1, v);
}

static int is_real(double complex z) { return fabs(cimag(z)) <= 1e-12 * (1 + fabs(creal(z))); }

/* z with a zero imaginary part made +0: C's csqrt, clog and cpow put a real negative
 * argument on one side of the branch cut or the other by the sign of that zero, and a
 * negation (-4 is -(4 + 0i) = -4 - 0i) flips it, which made \sqrt{-4} = -2i. Principal
 * branches need the +0 side. */
static double complex plus_zero(double complex z) { return cimag(z) == 0 ? (double complex)creal(z) : z; }

static int num_func(ev *e, const gnode *n, int d, double complex *out) {
    const char *f = n->name;
    double complex a = 0, b = 0;
    if (!f) return -1;
    if (n->op == 1) { /* undefined function: a variable named by the function */
        for (int i = 0; i < e->nvar; i++)
            if (!strcmp(e->names[i], f)) {
                double complex x;
                if (fn_arg(e, n, 0, d, &x)) x = 0; /* f(x) alone: the value of f */
                /* f(x) and f(y) differ: mix the argument in */
                *out = e->vals[i] * (1.0 + 0.37 * x);
                return 0;
            }
        return -1;
    }
    if (n->nkid < 1 || fn_arg(e, n, 0, d, &a)) return -1;
    if (n->nkid >= 2 && fn_arg(e, n, 1, d, &b)) return -1;
    a = plus_zero(a);
    b = plus_zero(b);
    if (!strcmp(f, "sqrt")) *out = csqrt(a);
    else if (!strcmp(f, "sin")) *out = csin(a);
    else if (!strcmp(f, "cos")) *out = ccos(a);
    else if (!strcmp(f, "tan")) *out = ctan(a);
    else if (!strcmp(f, "sec")) *out = 1.0 / ccos(a);
    else if (!strcmp(f, "csc")) *out = 1.0 / csin(a);
    else if (!strcmp(f, "cot")) *out = ccos(a) / csin(a);
    else if (!strcmp(f, "arcsin")) *out = casin(a);
    else if (!strcmp(f, "arccos")) *out = cacos(a);
    else if (!strcmp(f, "arctan")) *out = catan(a);
    else if (!strcmp(f, "arcsec")) *out = cacos(1.0 / a);
    else if (!strcmp(f, "arccsc")) *out = casin(1.0 / a);
    else if (!strcmp(f, "arccot")) *out = catan(1.0 / a);
    else if (!strcmp(f, "sinh")) *out = csinh(a);
    else if (!strcmp(f, "cosh")) *out = ccosh(a);
    else if (!strcmp(f, "tanh")) *out = ctanh(a);
    else if (!strcmp(f, "coth")) *out = 1.0 / ctanh(a);
    else if (!strcmp(f, "sech")) *out = 1.0 / ccosh(a);
    else if (!strcmp(f, "csch")) *out = 1.0 / csinh(a);
    else if (!strcmp(f, "exp")) *out = cexp(a);
    else if (!strcmp(f, "ln")) *out = clog(a);
    else if (!strcmp(f, "log")) *out = n->nkid >= 2 ? clog(a) / clog(b) : clog(a);
    else if (!strcmp(f, "abs")) *out = cabs(a);
    else if (!strcmp(f, "sgn")) *out = creal(a) > 0 ? 1 : creal(a) < 0 ? -1 : 0;
    else if (!strcmp(f, "floor") || !strcmp(f, "ceil")) {
        if (!is_real(a)) return -1;
        *out = f[0] == 'f' ? floor(creal(a) + 1e-12) : ceil(creal(a) - 1e-12);
    } else if (!strcmp(f, "binom")) {
        if (!is_real(a) || !is_real(b)) return -1;
        double x = creal(a), y = creal(b);
        if (x > 170 || y > 170 || x - y > 170 || x < 0 || y < 0 || x - y < 0) return -1;
        *out = tgamma(x + 1) / (tgamma(y + 1) * tgamma(x - y + 1));
    } else if (!strcmp(f, "max") || !strcmp(f, "min")) {
        double best = creal(a);
        if (!is_real(a)) return -1;
        for (int i = 1; i < n->nkid; i++) {
            double complex v;
            if (fn_arg(e, n, i, d, &v) || !is_real(v)) return -1;
            if (f[1] == 'a' ? creal(v) > best : creal(v) < best) best = creal(v);
        }
        *out = best;
    } else if (!strcmp(f, "gcd") || !strcmp(f, "lcm")) {
        if (!is_real(a)) return -1;
        double r = fabs(creal(a));
        for (int i = 1; i < n->nkid; i++) {
            double complex v;
            if (fn_arg(e, n, i, d, &v) || !is_real(v)) return -1;
            double x = r, y = fabs(creal(v));
            if (x > 1e15 || y > 1e15 || x != floor(x) || y != floor(y)) return -1;
            double g = x, h = y;
            while (h > 0) {
                double t = fmod(g, h);
                g = h;
                h = t;
            }
            r = f[0] == 'g' ? g : (g > 0 ? x / g * y : 0);
        }
        *out = r;
    } else {
        return -1;
    }
    return 0;
}

static int num(ev *e, const gnode *n, int d, double complex *out) {
    if (!n || d > G_MAX_DEPTH || ++e->steps > G_MAX_EVAL_STEPS) return -1;
    double complex a, b;
    switch (n->kind) {
    case G_NUM:
        *out = n->num.ok ? gr_double(n->num) : n->dval;
        return 0;
    case G_TIME: /* as written (see ex) */
        if (!n->num.ok) return -1;
        *out = gr_double(n->num);
        return 0;
    case G_CONST:
        if (n->op == GC_PI) *out = M_PI;
        else if (n->op == GC_E) *out = M_E;
        else if (n->op == GC_I) *out = I;
        else return -1;
        return 0;
    case G_SYM:
    case G_TEXT:
        for (int k = e->nix - 1; k >= 0; k--)
            if (n->kind == G_SYM && !strcmp(e->ix_name[k], n->name)) {
                *out = e->ix_val[k];
                return 0;
            }
        for (int i = 0; i < e->nvar; i++)
            if (!strcmp(e->names[i], n->name)) {
                *out = e->vals[i];
                return 0;
            }
        return -1;
    case G_NEG:
        if (num(e, n->kid[0], d + 1, &a)) return -1;
        *out = -a;
        return 0;
    case G_PCT:
        if (num(e, n->kid[0], d + 1, &a)) return -1;
        *out = a / 100.0;
        return 0;
    case G_ADD:
    case G_MUL: {
        double complex s = n->kind == G_ADD ? 0 : 1;
        for (int i = 0; i < n->nkid; i++) {
            if (num(e, n->kid[i], d + 1, &a)) return -1;
            s = n->kind == G_ADD ? s + a : s * a;
        }
        *out = s;
        return 0;
    }
    case G_DIV:
        if (num(e, n->kid[0], d + 1, &a) || num(e, n->kid[1], d + 1, &b)) return -1;
        if (b == 0) return -1;
        *out = a / b;
        return 0;
    case G_POW: {
        if (num(e, n->kid[0], d + 1, &a) || num(e, n->kid[1], d + 1, &b)) return -1;
        if (is_real(b) && creal(b) == floor(creal(b)) && fabs(creal(b)) <= 64) {
            long k = (long)creal(b);
            double complex r = 1, base = a;
            if (k < 0) {
                if (a == 0) return -1;
                base = 1.0 / a;
                k = -k;
            }
            while (k) {
                if (k & 1) r *= base;
                base *= base;
                k >>= 1;
            }
            *out = r;
            return 0;
        }
        if (a == 0) {
            if (creal(b) > 0) {
                *out = 0;
                return 0;
            }
            return -1;
        }
        /* the principal power, as sympy's: \sqrt[3]{-8} is 1 + 1.732i, not -2 */
        *out = cpow(plus_zero(a), b);
        return 0;
    }
    case G_FACT:
        if (num(e, n->kid[0], d + 1, &a) || !is_real(a) || creal(a) < 0 || creal(a) > 170) return -1;
        *out = tgamma(creal(a) + 1);
        return 0;
    case G_FUNC: return num_func(e, n, d, out);
    case G_SUM: {
        if (num(e, n->kid[0], d + 1, &a) || num(e, n->kid[1], d + 1, &b)) return -1;
        if (!is_real(a) || !is_real(b) || e->nix >= 4) return -1;
        double lo = ceil(creal(a) - 1e-9), hi = floor(creal(b) + 1e-9);
        if (hi - lo > 2000) return -1;
        double complex s = n->op ? 1 : 0;
        e->ix_name[e->nix] = n->name;
        e->nix++;
        for (double k = lo; k <= hi; k++) {
            e->ix_val[e->nix - 1] = k;
            if (num(e, n->kid[2], d + 1, &a)) {
                e->nix--;
                return -1;
            }
            s = n->op ? s * a : s + a;
        }
        e->nix--;
        *out = s;
        return 0;
    }
    default: return -1;
    }
}

/* Complex value of a scalar tree with the given variable values (0), or -1. */
int geval_num(const gnode *n, const char *const *names, const double complex *vals, int nvar,
              double complex *out) {
    ev e = {.names = names, .vals = vals, .nvar = nvar};
    if (num(&e, n, 0, out)) return -1;
    if (!isfinite(creal(*out)) || !isfinite(cimag(*out))) return -1;
    return 0;
}

/* ---- matrices ---- */

int gis_matrix_expr(const gnode *n) {
    if (!n) return 0;
    if (n->kind == G_MATRIX) return 1;
    if (n->kind == G_ADD || n->kind == G_MUL || n->kind == G_NEG || n->kind == G_DIV) {
        for (int i = 0; i < n->nkid && i < 8; i++)
            if (gis_matrix_expr(n->kid[i])) return 1;
    }
    return 0;
}

static int mat(ev *e, const gnode *n, int d, gmat *m);

static int mat_or_scalar(ev *e, const gnode *n, int d, gmat *m, double complex *s, int *is_mat) {
    if (gis_matrix_expr(n)) {
        *is_mat = 1;
        return mat(e, n, d + 1, m);
    }
    *is_mat = 0;
    return num(e, n, d + 1, s);
}

static int mat(ev *e, const gnode *n, int d, gmat *m) {
    if (!n || d > G_MAX_DEPTH || ++e->steps > G_MAX_EVAL_STEPS) return -1;
    switch (n->kind) {
    case G_MATRIX:
        if (n->rows * n->cols > 64) return -1;
        m->rows = n->rows;
        m->cols = n->cols;
        for (int i = 0; i < n->nkid; i++)
            if (num(e, n->kid[i], d + 1, &m->v[i])) return -1;
        return 0;
    case G_NEG:
        if (mat(e, n->kid[0], d + 1, m)) return -1;
        for (int i = 0; i < m->rows * m->cols; i++) m->v[i] = -m->v[i];
        return 0;
    case G_ADD: {
        int first = 1;
        for (int k = 0; k < n->nkid; k++) {
            gmat t;
            if (!gis_matrix_expr(n->kid[k]) || mat(e, n->kid[k], d + 1, &t)) return -1;
            if (first) {
                *m = t;
                first = 0;
                continue;
            }
            if (t.rows != m->rows || t.cols != m->cols) return -1;
            for (int i = 0; i < m->rows * m->cols; i++) m->v[i] += t.v[i];
        }
        return first ? -1 : 0;
    }
    case G_DIV: {
        double complex s;
        if (mat(e, n->kid[0], d + 1, m) || num(e, n->kid[1], d + 1, &s) || s == 0) return -1;
        for (int i = 0; i < m->rows * m->cols; i++) m->v[i] /= s;
        return 0;
    }
    case G_MUL: {
        double complex scal = 1;
        int have = 0;
        for (int k = 0; k < n->nkid; k++) {
            gmat t;
            double complex s;
            int ism;
            if (mat_or_scalar(e, n->kid[k], d, &t, &s, &ism)) return -1;
            if (!ism) {
                scal *= s;
                continue;
            }
            if (!have) {
                *m = t;
                have = 1;
                continue;
            }
            if (m->cols != t.rows || m->rows * t.cols > 64) return -1;
            gmat r = {.rows = m->rows, .cols = t.cols};
            for (int i = 0; i < r.rows; i++)
                for (int j = 0; j < r.cols; j++) {
                    double complex acc = 0;
                    for (int q = 0; q < m->cols; q++) acc += m->v[i * m->cols + q] * t.v[q * t.cols + j];
                    r.v[i * r.cols + j] = acc;
                }
            *m = r;
        }
        if (!have) return -1;
        for (int i = 0; i < m->rows * m->cols; i++) m->v[i] *= scal;
        return 0;
    }
    default: return -1;
    }
}

/* Matrix value of a matrix expression (0), or -1. */
int geval_mat(const gnode *n, const char *const *names, const double complex *vals, int nvar, gmat *out) {
    ev e = {.names = names, .vals = vals, .nvar = nvar};
    return mat(&e, n, 0, out);
}
