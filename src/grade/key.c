/* key.c — canonical keys: equivalent answers print the same key (for voting).
 *
 *   numbers           exact rational "p" or "p/q" (0.5, 1/2, \frac{1}{2}, 50\% of 1 all "1/2");
 *                     an integer percentage keys as its integer (28\% = "28", as equality has it);
 *                     a number with a base subscript keeps it ("204_5")
 *   other constants   "~" and the value to 10 significant digits (\sqrt{2}/2 and
 *                     \frac{1}{\sqrt 2} share "~0.7071067812")
 *   with variables    "f[x,y]" and the values at three fixed points, so x/7+2/7 and
 *                     (x+2)/7 share a key
 *   assignments       x = 3 keys as 3 (equality reads "x = 3" and "3" alike); in a set or
 *                     tuple assigning to different names (a = 2, b = 3), "t:a=2" per element
 *   relations         operator and the normalised difference lhs - rhs (x > 1 and 1 < x agree)
 *   tuples / sets     "(k1,k2)" in order / "{..}" sorted and deduplicated
 *   intervals, unions "[a,b)" ; "U(..)" sorted
 *   matrices          "M2x2[..]"
 *   text and words    "t:" and the lowercased letters (\text{Even}, Even, even)
 *
 * Keys never claim more than pd_grade_equal: two answers with the same key are equal, except
 * assignments to different names of one value (x = 3 and y = 3 both key as 3, as both equal
 * 3, though not each other). The
 * reverse can fail where equality is not transitive: float rounding (0.333333 = 1/3 under
 * 6-decimal rounding, but the keys differ), an open interval read as a pair against a set
 * ((1,2) = {1,2}), percentages (28% = 28 and 28% = 0.28), relations against sets. */
#include "grade_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key being built: a string growing in the arena (keys of 300 x 300 matrices or 5,000-digit
 * numbers are long; the arena's budget bounds them). */
typedef struct kb {
    garena *a;
    char *b;
    size_t n, cap;
    int err;
} kb;

static void kb_init(kb *k, garena *a, size_t cap) {
    k->a = a;
    k->n = 0;
    k->err = 0;
    k->cap = cap;
    k->b = ga_alloc(a, cap);
    if (!k->b) k->err = 1;
}

static void kput(kb *k, const char *s) {
    if (k->err || !s) {
        k->err = 1;
        return;
    }
    size_t l = strlen(s);
    if (k->n + l + 1 > k->cap) {
        size_t cap = k->cap * 2 > k->n + l + 1 ? k->cap * 2 : k->n + l + 64;
        char *b = ga_alloc(k->a, cap);
        if (!b) {
            k->err = 1;
            return;
        }
        memcpy(b, k->b, k->n);
        k->b = b;
        k->cap = cap;
    }
    memcpy(k->b + k->n, s, l);
    k->n += l;
    k->b[k->n] = 0;
}

static void fmt_val(double complex v, char *buf, size_t n) {
    double re = creal(v), im = cimag(v);
    if (fabs(re) < 1e-11) re = 0;
    if (fabs(im) < 1e-11 * fmax(1, fabs(re))) im = 0;
    if (im == 0) snprintf(buf, n, "%.10g", re);
    else snprintf(buf, n, "%.10g%+.10gi", re, im);
    if (!strcmp(buf, "-0")) snprintf(buf, n, "0");
}

static int key_rec(gctx *c, const gnode *n, kb *k, int d);

/* 1 when n is an assignment: an all-'=' chain whose left side is only symbols (x = 3). */
static int is_assignment(const gnode *n) {
    if (!n || n->kind != G_REL) return 0;
    for (int i = 0; i + 1 < n->nkid; i++)
        if (n->rel[i] != GR_EQ) return 0;
    return gonly_symbols(n->kid[0], 0);
}

/* 1 when the elements hold assignments to different left sides (a = 2, b = 3): their keys
 * must keep the names, or "a = 2, b = 3" and "a = 3, b = 2" would share one. */
static int assigns_differ(gnode *const *kid, int nk) {
    const gnode *first = NULL;
    for (int i = 0; i < nk; i++) {
        if (!is_assignment(kid[i])) continue;
        if (!first) first = kid[i]->kid[0];
        else if (!gsame(first, kid[i]->kid[0], 0)) return 1;
    }
    return 0;
}

static int cmp_strs(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of children, optionally sorted and deduplicated, joined with ",". */
static void kids(gctx *c, gnode *const *kid, int nk, kb *k, int sorted, int d) {
    int named = assigns_differ(kid, nk);
    if (!sorted) { /* in order: straight into k */
        for (int i = 0; i < nk && !k->err; i++) {
            if (i) kput(k, ",");
            if (named && is_assignment(kid[i])) { /* "name=value" */
                key_rec(c, kid[i]->kid[0], k, d + 1);
                kput(k, "=");
            }
            key_rec(c, kid[i], k, d + 1);
        }
        return;
    }
    char **parts = ga_alloc(c->a, sizeof(char *) * (size_t)(nk + 1));
    if (!parts) {
        k->err = 1;
        return;
    }
    int np = 0;
    for (int i = 0; i < nk; i++) {
        kb sub;
        kb_init(&sub, c->a, 64);
        if (named && is_assignment(kid[i])) { /* "name=value" */
            key_rec(c, kid[i]->kid[0], &sub, d + 1);
            kput(&sub, "=");
        }
        key_rec(c, kid[i], &sub, d + 1);
        if (sub.err) {
            k->err = 1;
            return;
        }
        parts[np++] = sub.b;
    }
    if (sorted) {
        qsort(parts, (size_t)np, sizeof *parts, cmp_strs);
        int w = 0;
        for (int i = 0; i < np; i++)
            if (w == 0 || strcmp(parts[w - 1], parts[i])) parts[w++] = parts[i];
        np = w;
    }
    for (int i = 0; i < np; i++) {
        if (i) kput(k, ",");
        kput(k, parts[i]);
    }
}

/* Scalar key: exact rational, or value, or fingerprint at fixed points. */
static void scalar_key(gctx *c, const gnode *n, kb *k) {
    char buf[128];
    int neg = 0;
    const gnode *m = n;
    if (m->kind == G_PCT) { /* 28% keys as 28 when it is an integer */
        const gnode *in = m->kid[0];
        while (in->kind == G_NEG) {
            neg = !neg;
            in = in->kid[0];
        }
        if (in->kind == G_NUM && gr_is_int(in->num) && !(in->flags & G_FLOAT)) {
            kput(k, gr_str(c->a, neg ? gr_neg(c->a, in->num) : in->num));
            return;
        }
    }
    if (n->kind == G_NUM && n->base && n->base != 10) {
        kput(k, gr_str(c->a, n->num));
        snprintf(buf, sizeof buf, "_%d", n->base);
        kput(k, buf);
        return;
    }
    if (n->kind == G_TIME) { /* the clock: seconds after midnight */
        snprintf(buf, sizeof buf, "T%d", n->base);
        kput(k, buf);
        return;
    }
    grat r = geval_exact(c, n);
    if (r.ok) {
        kput(k, gr_str(c->a, r));
        return;
    }
    const char *names[16];
    int nv = gvars(n, names, 16);
    if (nv == 0) {
        double complex v;
        if (geval_num(n, NULL, NULL, 0, &v)) {
            k->err = 1;
            return;
        }
        fmt_val(v, buf, sizeof buf);
        kput(k, "~");
        kput(k, buf);
        return;
    }
    kput(k, "f[");
    for (int i = 0; i < nv; i++) {
        if (i) kput(k, ",");
        kput(k, names[i]);
    }
    kput(k, "]");
    double complex vals[16];
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < nv; i++) vals[i] = gpoint(p, i);
        double complex v;
        if (geval_num(n, names, vals, nv, &v)) {
            kput(k, ":?");
            continue;
        }
        fmt_val(v, buf, sizeof buf);
        kput(k, ":");
        kput(k, buf);
    }
}

/* Relation key: ops flipped to < / <= and the difference normalised by its first value. */
static void rel_key(gctx *c, const gnode *n, kb *k) {
    for (int i = 0; i + 1 < n->nkid; i++) {
        const gnode *l = n->kid[i], *r = n->kid[i + 1];
        int op = n->rel[i];
        if (op == GR_GT || op == GR_GE) {
            const gnode *t = l;
            l = r;
            r = t;
            op = op == GR_GT ? GR_LT : GR_LE;
        }
        static const char *const opn[] = {"", "=", "!=", "<", "<=", ">", ">="};
        if (i) kput(k, ";");
        kput(k, opn[op]);
        kput(k, ":");
        gnode *nr = gn_new(c, G_NEG, 1), *df = gn_new(c, G_ADD, 2);
        if (!nr || !df) {
            k->err = 1;
            return;
        }
        nr->kid[0] = (gnode *)r;
        df->kid[0] = (gnode *)l;
        df->kid[1] = nr;
        const char *names[16];
        int nv = gvars(df, names, 16);
        double complex vals[16], v0 = 0;
        char buf[96];
        for (int p = 0; p < 3; p++) {
            for (int j = 0; j < nv; j++) vals[j] = gpoint(p, j);
            double complex v;
            if (geval_num(df, names, vals, nv, &v)) {
                kput(k, "?");
                continue;
            }
            if (p == 0) {
                v0 = v;
                if (cabs(v0) < 1e-12) v0 = 1;
                if (op == GR_LT || op == GR_LE) v0 = cabs(v0);
            }
            fmt_val(v / v0, buf, sizeof buf);
            kput(k, p ? "," : "");
            kput(k, buf);
            if (nv == 0) break;
        }
        if (nv) {
            kput(k, "[");
            for (int j = 0; j < nv; j++) {
                if (j) kput(k, ",");
                kput(k, names[j]);
            }
            kput(k, "]");
        }
    }
}

static const char *word(const gnode *n) {
    if (n->kind == G_SYM && !strchr(n->name, '_') && !strchr(n->name, '\'')) return n->name;
    if (n->kind == G_TEXT) return n->name;
    if (n->kind == G_MUL && n->name) return n->name;
    return NULL;
}

static int key_rec(gctx *c, const gnode *n, kb *k, int d) {
    if (!n || d > G_MAX_DEPTH) {
        k->err = 1;
        return -1;
    }
    /* assignments key as their value */
    if (n->kind == G_REL) {
        if (is_assignment(n)) return key_rec(c, n->kid[n->nkid - 1], k, d + 1);
        kput(k, "rel(");
        rel_key(c, n, k);
        kput(k, ")");
        return 0;
    }
    const char *w = word(n);
    if (w) {
        kput(k, "t:");
        kput(k, w);
        return 0;
    }
    char buf[64];
    switch (n->kind) {
    case G_SET: kput(k, "{"); kids(c, n->kid, n->nkid, k, 1, d); kput(k, "}"); return 0;
    case G_TUPLE: kput(k, "("); kids(c, n->kid, n->nkid, k, 0, d); kput(k, ")"); return 0;
    case G_UNION: kput(k, "U("); kids(c, n->kid, n->nkid, k, 1, d); kput(k, ")"); return 0;
    case G_INTER: kput(k, "I("); kids(c, n->kid, n->nkid, k, 1, d); kput(k, ")"); return 0;
    case G_SETMINUS: kput(k, "M("); kids(c, n->kid, n->nkid, k, 0, d); kput(k, ")"); return 0;
    case G_INTERVAL:
        kput(k, (n->flags & G_LOPEN) ? "(" : "[");
        kids(c, n->kid, 2, k, 0, d);
        kput(k, (n->flags & G_ROPEN) ? ")" : "]");
        return 0;
    case G_MATRIX:
        snprintf(buf, sizeof buf, "M%dx%d[", n->rows, n->cols);
        kput(k, buf);
        kids(c, n->kid, n->nkid, k, 0, d);
        kput(k, "]");
        return 0;
    case G_UNIVERSE:
        snprintf(buf, sizeof buf, "U%d", n->op);
        kput(k, buf);
        return 0;
    case G_CONST:
        if (n->op == GC_INF) {
            kput(k, "inf");
            return 0;
        }
        break;
    case G_NEG:
        if (n->kid[0]->kind == G_CONST && n->kid[0]->op == GC_INF) {
            kput(k, "-inf");
            return 0;
        }
        break;
    default: break;
    }
    if (gis_matrix_expr(n)) {
        gmat m;
        if (geval_mat(n, NULL, NULL, 0, &m)) {
            k->err = 1;
            return -1;
        }
        snprintf(buf, sizeof buf, "M%dx%d[", m.rows, m.cols);
        kput(k, buf);
        for (int i = 0; i < m.rows * m.cols; i++) {
            char v[96];
            fmt_val(m.v[i], v, sizeof v);
            if (i) kput(k, ",");
            kput(k, v);
        }
        kput(k, "]");
        return 0;
    }
    scalar_key(c, n, k);
    return 0;
}

/* Canonical key of a parsed answer (an arena string), or NULL when it cannot be keyed. */
char *gkey(gctx *c, gnode *n) {
    kb k;
    kb_init(&k, c->a, 256);
    if (!k.err) k.b[0] = 0;
    key_rec(c, n, &k, 0);
    return k.err ? NULL : k.b;
}
