/* rat.c — exact rationals for the grader: 128-bit integers while a value fits, GMP beyond.
 *
 * Most answers are small integers and fractions, so a value is held as two __int128 (numerator,
 * denominator; reduced, denominator positive, both below 2^126) and the common operations never
 * allocate. When a result does not fit, the operation is redone in GMP (mpq_t, Debian's
 * libgmp) and the value lives in a `gbig` made in the grading's arena; ga_free clears them.
 * The form is canonical — a value that fits is always small — so equality is a comparison
 * of forms and keys print the same digits whichever path made them.
 *
 * Size is bounded: a numerator or denominator past G_MAX_BITS, or a power, factorial or
 * binomial whose result would pass it, is "not exact" (.ok = 0), and the callers fall back to
 * floating point or to comparing text. GMP's digits count against the arena's byte budget. */
#include "grade_int.h"

#include <gmp.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct gbig {
    mpq_t v;   /* canonical */
    gbig *next;
};

static const gi128 GI_MAX = (gi128)(((unsigned __int128)1 << 126) - 1);

grat gr_bad(void) {
    grat r = {0, 1, NULL, 0};
    return r;
}

static gi128 gabs128(gi128 x) { return x < 0 ? -x : x; }

static gi128 ggcd(gi128 a, gi128 b) {
    a = gabs128(a);
    b = gabs128(b);
    if (a <= (gi128)UINT64_MAX && b <= (gi128)UINT64_MAX) { /* 64-bit division is much cheaper */
        uint64_t x = (uint64_t)a, y = (uint64_t)b;
        while (y) {
            uint64_t t = x % y;
            x = y;
            y = t;
        }
        return (gi128)x;
    }
    while (b) {
        gi128 t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* p/q reduced; .ok = 0 when q == 0 or a part is out of the small range. */
grat gr_make(gi128 p, gi128 q) {
    grat r = gr_bad();
    if (q == 0 || gabs128(p) > GI_MAX || gabs128(q) > GI_MAX) return r;
    if (q < 0) {
        p = -p;
        q = -q;
    }
    gi128 g = q == 1 ? 1 : ggcd(p, q);
    if (g > 1) {
        p /= g;
        q /= g;
    }
    r.p = p;
    r.q = q;
    r.ok = 1;
    return r;
}

/* ---- conversions between the two forms ---- */

static void z_set128(mpz_t z, gi128 x) {
    unsigned __int128 u = x < 0 ? (unsigned __int128)0 - (unsigned __int128)x : (unsigned __int128)x;
    uint64_t limbs[2] = {(uint64_t)u, (uint64_t)(u >> 64)};
    mpz_import(z, 2, -1, sizeof limbs[0], 0, 0, limbs);
    if (x < 0) mpz_neg(z, z);
}

/* 1 and *out when |z| < 2^126. */
static int z_get128(const mpz_t z, gi128 *out) {
    if (mpz_sizeinbase(z, 2) > 126) return 0;
    uint64_t limbs[2] = {0, 0};
    size_t cnt = 0;
    mpz_export(limbs, &cnt, -1, sizeof limbs[0], 0, 0, z);
    gi128 v = (gi128)(((unsigned __int128)limbs[1] << 64) | limbs[0]);
    *out = mpz_sgn(z) < 0 ? -v : v;
    return 1;
}

/* out (initialised) = x */
static void q_set(mpq_t out, grat x) {
    if (x.big) {
        mpq_set(out, x.big->v);
        return;
    }
    z_set128(mpq_numref(out), x.p);
    z_set128(mpq_denref(out), x.q);
}

/* The grat for a canonical mpq r, which this call clears or takes over: small when it fits,
 * otherwise moved into a new gbig of the arena (bad past G_MAX_BITS or the byte budget). */
static grat from_q(garena *a, mpq_t r) {
    grat out = gr_bad();
    gi128 p, q;
    if (z_get128(mpq_numref(r), &p) && z_get128(mpq_denref(r), &q)) {
        out.p = p;
        out.q = q;
        out.ok = 1;
        mpq_clear(r);
        return out;
    }
    size_t bytes = (mpz_size(mpq_numref(r)) + mpz_size(mpq_denref(r))) * sizeof(mp_limb_t);
    if (mpz_sizeinbase(mpq_numref(r), 2) > G_MAX_BITS || mpz_sizeinbase(mpq_denref(r), 2) > G_MAX_BITS ||
        !a || a->failed || a->used + bytes > G_ARENA_BUDGET) {
        mpq_clear(r);
        return out;
    }
    gbig *b = ga_alloc(a, sizeof *b);
    if (!b) {
        mpq_clear(r);
        return out;
    }
    a->used += bytes;
    mpq_init(b->v);
    mpq_swap(b->v, r);
    mpq_clear(r);
    b->next = a->bigs;
    a->bigs = b;
    out.big = b;
    out.ok = 1;
    return out;
}

/* Same, for an integer z (cleared or taken over). */
static grat from_z(garena *a, mpz_t z) {
    mpq_t r;
    mpq_init(r);
    mpz_swap(mpq_numref(r), z);
    mpz_clear(z);
    return from_q(a, r);
}

void gr_clear_all(garena *a) {
    for (gbig *b = a->bigs; b; b = b->next) mpq_clear(b->v);
    a->bigs = NULL;
}

/* Bits of the larger of numerator and denominator. */
static size_t rbits(grat x) {
    if (x.big) {
        size_t n = mpz_sizeinbase(mpq_numref(x.big->v), 2), d = mpz_sizeinbase(mpq_denref(x.big->v), 2);
        return n > d ? n : d;
    }
    gi128 m = gabs128(x.p) > x.q ? gabs128(x.p) : x.q;
    size_t b = 0;
    while (m) {
        b++;
        m >>= 1;
    }
    return b;
}

/* ---- arithmetic ---- */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

/* x op y in GMP. */
static grat big_op(garena *a, grat x, grat y, int op) {
    if (!a) return gr_bad();
    mpq_t X, Y, R;
    mpq_inits(X, Y, R, NULL);
    q_set(X, x);
    q_set(Y, y);
    switch (op) {
    case OP_ADD: mpq_add(R, X, Y); break;
    case OP_SUB: mpq_sub(R, X, Y); break;
    case OP_MUL: mpq_mul(R, X, Y); break;
    default: mpq_div(R, X, Y); break;
    }
    mpq_clears(X, Y, NULL);
    return from_q(a, R);
}

static int mul_ok(gi128 a, gi128 b, gi128 *out) {
    if (__builtin_mul_overflow(a, b, out)) return 0;
    return gabs128(*out) <= GI_MAX;
}

/* x + y */
grat gr_add(garena *a, grat x, grat y) {
    if (!x.ok || !y.ok) return gr_bad();
    if (!x.big && !y.big) {
        gi128 g = ggcd(x.q, y.q), u, v, q;
        if (mul_ok(x.p, y.q / g, &u) && mul_ok(y.p, x.q / g, &v) && mul_ok(x.q / g, y.q, &q) &&
            !__builtin_add_overflow(u, v, &u)) {
            grat r = gr_make(u, q);
            if (r.ok) return r;
        }
    }
    return big_op(a, x, y, OP_ADD);
}

/* -x */
grat gr_neg(garena *a, grat x) {
    if (!x.ok) return x;
    if (!x.big) {
        x.p = -x.p;
        return x;
    }
    mpq_t r;
    mpq_init(r);
    mpq_neg(r, x.big->v);
    return from_q(a, r);
}

/* |x| */
grat gr_abs(garena *a, grat x) { return gr_sign(x) < 0 ? gr_neg(a, x) : x; }

/* x - y */
grat gr_sub(garena *a, grat x, grat y) {
    if (!x.ok || !y.ok) return gr_bad();
    if (!y.big) {
        y.p = -y.p;
        return gr_add(a, x, y);
    }
    return big_op(a, x, y, OP_SUB);
}

/* x * y */
grat gr_mul(garena *a, grat x, grat y) {
    if (!x.ok || !y.ok) return gr_bad();
    if (!x.big && !y.big) {
        gi128 g1 = ggcd(x.p, y.q), g2 = ggcd(y.p, x.q), p, q;
        if (g1 == 0) g1 = 1;
        if (g2 == 0) g2 = 1;
        if (mul_ok(x.p / g1, y.p / g2, &p) && mul_ok(x.q / g2, y.q / g1, &q)) return gr_make(p, q);
    }
    return big_op(a, x, y, OP_MUL);
}

/* x / y (.ok = 0 for y == 0) */
grat gr_div(garena *a, grat x, grat y) {
    if (!x.ok || !y.ok || gr_sign(y) == 0) return gr_bad();
    if (!y.big) {
        grat inv = gr_make(y.q, y.p);
        if (inv.ok) return gr_mul(a, x, inv);
    }
    return big_op(a, x, y, OP_DIV);
}

/* x ^ e for an integer e. 0^0 and 0^-k are not exact (left to the numeric path). */
grat gr_pow(garena *a, grat x, long e) {
    grat one = gr_make(1, 1);
    if (!x.ok) return gr_bad();
    int s = gr_sign(x);
    if (e == 0) return s == 0 ? gr_bad() : one;
    if (s == 0) return e > 0 ? x : gr_bad();
    if (!x.big && x.q == 1 && (x.p == 1 || x.p == -1)) {
        if (x.p == -1 && e % 2 == 0) x.p = 1;
        return x;
    }
    unsigned long k = e < 0 ? (unsigned long)0 - (unsigned long)e : (unsigned long)e;
    /* |x| >= 2^(bits-1) for the larger part, so the result has at least (bits-1)*k bits */
    size_t b = rbits(x);
    if (b > 1 && (double)(b - 1) * (double)k > (double)G_MAX_BITS) return gr_bad();
    if (!x.big) { /* square-and-multiply in 128 bits while it fits */
        grat r = one, base = x;
        unsigned long m = k;
        int fits = 1;
        while (m && fits) {
            if (m & 1) {
                gi128 p, q;
                fits = mul_ok(r.p, base.p, &p) && mul_ok(r.q, base.q, &q);
                if (fits) r.p = p, r.q = q;
            }
            m >>= 1;
            if (m && fits) {
                gi128 p, q;
                fits = mul_ok(base.p, base.p, &p) && mul_ok(base.q, base.q, &q);
                if (fits) base.p = p, base.q = q;
            }
        }
        if (fits) return e < 0 ? gr_div(a, one, r) : r; /* powers of a reduced p/q stay reduced */
    }
    if (!a) return gr_bad();
    mpq_t X, R;
    mpq_inits(X, R, NULL);
    q_set(X, x);
    mpz_pow_ui(mpq_numref(R), mpq_numref(X), k);
    mpz_pow_ui(mpq_denref(R), mpq_denref(X), k);
    if (e < 0) mpq_inv(R, R);
    mpq_canonicalize(R);
    mpq_clear(X);
    return from_q(a, R);
}

/* floor(x), or ceil(x) when ceil_ */
grat gr_floor(garena *a, grat x, int ceil_) {
    if (!x.ok) return x;
    if (!x.big) {
        gi128 f = x.p / x.q;
        if (x.p % x.q != 0 && (x.p < 0) == !ceil_) f += x.p < 0 ? -1 : 1;
        return gr_make(f, 1);
    }
    mpz_t z;
    mpz_init(z);
    if (ceil_) mpz_cdiv_q(z, mpq_numref(x.big->v), mpq_denref(x.big->v));
    else mpz_fdiv_q(z, mpq_numref(x.big->v), mpq_denref(x.big->v));
    return from_z(a, z);
}

/* n! for an integer n >= 0 whose factorial stays within G_MAX_BITS. */
grat gr_fact(garena *a, grat n) {
    long k;
    if (!gr_to_long(n, &k) || k < 0) return gr_bad();
    if (k > 2 && lgamma((double)k + 1) / log(2.0) > G_MAX_BITS) return gr_bad();
    if (k <= 33) { /* 33! < 2^126 */
        gi128 r = 1;
        for (long i = 2; i <= k; i++) r *= i;
        return gr_make(r, 1);
    }
    if (!a) return gr_bad();
    mpz_t z;
    mpz_init(z);
    mpz_fac_ui(z, (unsigned long)k);
    return from_z(a, z);
}

/* C(n, k) for integers n >= 0 and k (0 when k < 0 or k > n). */
grat gr_binom(garena *a, grat n, grat k) {
    long nn, kk;
    if (!gr_to_long(n, &nn) || !gr_to_long(k, &kk) || nn < 0) return gr_bad();
    if (kk < 0 || kk > nn) return gr_make(0, 1);
    if (kk > nn - kk) kk = nn - kk;
    double lb = (lgamma((double)nn + 1) - lgamma((double)kk + 1) - lgamma((double)(nn - kk) + 1)) / log(2.0);
    if (lb > G_MAX_BITS) return gr_bad();
    if (!a) return gr_bad();
    mpz_t z;
    mpz_init(z);
    mpz_bin_uiui(z, (unsigned long)nn, (unsigned long)kk);
    return from_z(a, z);
}

/* The square root of x when numerator and denominator are perfect squares, else bad. */
grat gr_sqrt(garena *a, grat x) {
    if (!x.ok || gr_sign(x) < 0) return gr_bad();
    if (!x.big && x.p < ((gi128)1 << 100) && x.q < ((gi128)1 << 100)) {
        double sp = sqrt((double)x.p), sq = sqrt((double)x.q);
        if (sp < 9e15 && sq < 9e15) {
            gi128 rp = (gi128)llround(sp), rq = (gi128)llround(sq);
            if (rp * rp == x.p && rq * rq == x.q) return gr_make(rp, rq);
            return gr_bad();
        }
    }
    if (!a) return gr_bad();
    mpq_t X, R;
    mpq_inits(X, R, NULL);
    q_set(X, x);
    grat out = gr_bad();
    if (mpz_perfect_square_p(mpq_numref(X)) && mpz_perfect_square_p(mpq_denref(X))) {
        mpz_sqrt(mpq_numref(R), mpq_numref(X));
        mpz_sqrt(mpq_denref(R), mpq_denref(X));
        mpq_clear(X);
        return from_q(a, R); /* square roots of coprime squares are coprime */
    }
    mpq_clears(X, R, NULL);
    return out;
}

/* digits d[0..nd) (all '0'-'9') with frac_digits after the point, times 10^exp10 */
grat gr_decimal(garena *a, const char *d, size_t nd, long frac_digits, long exp10) {
    while (nd > 1 && d[0] == '0') {
        d++;
        nd--;
    }
    if (nd == 0) return gr_bad();
    long e = exp10 - frac_digits;
    if (nd == 1 && d[0] == '0') return gr_make(0, 1);
    if (nd <= 36 && e >= -36 && e <= 36) { /* 10^36 < 2^126 */
        gi128 m = 0, p10 = 1;
        for (size_t i = 0; i < nd; i++) m = m * 10 + (d[i] - '0');
        for (long i = 0; i < (e < 0 ? -e : e); i++) p10 *= 10;
        if (e <= 0) return gr_make(m, p10);
        gi128 v;
        if (mul_ok(m, p10, &v)) return gr_make(v, 1);
    }
    /* 3.33 bits a digit */
    if (((double)nd + fabs((double)e)) * 3.33 > (double)G_MAX_BITS + 64 || !a) return gr_bad();
    char *buf = ga_strndup(a, d, nd);
    if (!buf) return gr_bad();
    mpq_t R;
    mpq_init(R);
    if (mpz_set_str(mpq_numref(R), buf, 10) != 0) {
        mpq_clear(R);
        return gr_bad();
    }
    mpz_t p10;
    mpz_init(p10);
    mpz_ui_pow_ui(p10, 10, (unsigned long)(e < 0 ? -e : e));
    if (e >= 0) mpz_mul(mpq_numref(R), mpq_numref(R), p10);
    else mpz_set(mpq_denref(R), p10);
    mpz_clear(p10);
    mpq_canonicalize(R);
    return from_q(a, R);
}

/* ---- comparison and conversion ---- */

int gr_sign(grat x) {
    if (x.big) return mpq_sgn(x.big->v);
    return x.p < 0 ? -1 : x.p > 0;
}

int gr_is_int(grat x) {
    if (!x.ok) return 0;
    if (x.big) return mpz_cmp_ui(mpq_denref(x.big->v), 1) == 0;
    return x.q == 1;
}

int gr_to_long(grat x, long *out) {
    if (!x.ok || x.big || x.q != 1 || x.p > LONG_MAX || x.p < LONG_MIN) return 0;
    *out = (long)x.p;
    return 1;
}

/* Exact equality of two valid values (canonical forms make it a comparison of forms). */
int gr_eq(grat x, grat y) {
    if (!x.ok || !y.ok) return 0;
    if (!x.big && !y.big) return x.p == y.p && x.q == y.q;
    if (x.big && y.big) return mpq_equal(x.big->v, y.big->v) != 0;
    return 0;
}

/* -1, 0 or 1 (0 when either is invalid). */
int gr_cmp(grat x, grat y) {
    if (!x.ok || !y.ok) return 0;
    if (!x.big && !y.big) {
        gi128 l, r;
        if (!__builtin_mul_overflow(x.p, y.q, &l) && !__builtin_mul_overflow(y.p, x.q, &r))
            return l < r ? -1 : l > r;
    }
    mpq_t X, Y;
    mpq_inits(X, Y, NULL);
    q_set(X, x);
    q_set(Y, y);
    int c = mpq_cmp(X, Y);
    mpq_clears(X, Y, NULL);
    return c < 0 ? -1 : c > 0;
}

/* Nearest double. */
double gr_double(grat x) {
    if (!x.ok) return NAN;
    if (x.big) {
        /* mpq_get_d truncates and overflows system-dependently: go through the exponents */
        long en, ed;
        double mn = mpz_get_d_2exp(&en, mpq_numref(x.big->v));
        double md = mpz_get_d_2exp(&ed, mpq_denref(x.big->v));
        long ex = en - ed;
        if (ex > 2000) return mn < 0 ? -INFINITY : INFINITY;
        if (ex < -2000) return 0.0 * mn;
        return ldexp(mn / md, (int)ex);
    }
    return (double)x.p / (double)x.q;
}

static void pr128(gi128 x, char *buf, size_t n) {
    char tmp[64];
    int i = 0, neg = x < 0;
    unsigned __int128 u = neg ? (unsigned __int128)0 - (unsigned __int128)x : (unsigned __int128)x;
    do {
        tmp[i++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u && i < 60);
    size_t o = 0;
    if (neg && o + 1 < n) buf[o++] = '-';
    while (i > 0 && o + 1 < n) buf[o++] = tmp[--i];
    buf[o] = 0;
}

/* "p" or "p/q" */
char *gr_str(garena *a, grat x) {
    if (!x.ok) return ga_strndup(a, "nan", 3);
    if (!x.big) {
        char buf[96];
        pr128(x.p, buf, sizeof buf);
        if (x.q != 1) {
            size_t l = strlen(buf);
            buf[l] = '/';
            pr128(x.q, buf + l + 1, sizeof buf - l - 1);
        }
        return ga_strndup(a, buf, strlen(buf));
    }
    const mpz_srcptr p = mpq_numref(x.big->v), q = mpq_denref(x.big->v);
    size_t n = mpz_sizeinbase(p, 10) + mpz_sizeinbase(q, 10) + 4;
    char *s = ga_alloc(a, n);
    if (!s) return NULL;
    mpz_get_str(s, 10, p);
    if (mpz_cmp_ui(q, 1) != 0) {
        size_t l = strlen(s);
        s[l] = '/';
        mpz_get_str(s + l + 1, 10, q);
    }
    return s;
}

/* round(v * 10^k), halves away from zero, into z */
static void round_scaled(mpz_t z, grat v, const mpz_t p10) {
    mpq_t X;
    mpq_init(X);
    q_set(X, v);
    int neg = mpq_sgn(X) < 0;
    mpz_abs(mpq_numref(X), mpq_numref(X));
    /* floor((2 |p| 10^k + q) / (2 q)) */
    mpz_mul(z, mpq_numref(X), p10);
    mpz_mul_2exp(z, z, 1);
    mpz_add(z, z, mpq_denref(X));
    mpz_mul_2exp(mpq_denref(X), mpq_denref(X), 1);
    mpz_fdiv_q(z, z, mpq_denref(X));
    if (neg) mpz_neg(z, z);
    mpq_clear(X);
}

int gr_round_eq(garena *a, grat x, grat y, int k) {
    (void)a;
    if (!x.ok || !y.ok) return 0;
    if (k < 0) k = 0;
    mpz_t p10, u, v;
    mpz_inits(p10, u, v, NULL);
    mpz_ui_pow_ui(p10, 10, (unsigned long)k);
    round_scaled(u, x, p10);
    round_scaled(v, y, p10);
    int eq = mpz_cmp(u, v) == 0;
    mpz_clears(p10, u, v, NULL);
    return eq;
}
