/* gbase.c — the grader's arena allocator and exact rational arithmetic.
 *
 * Arena: a linked list of chunks (8 KiB doubling to 64 KiB, or bigger for a big request); allocations are
 * 16-byte aligned (the rationals hold __int128) and zeroed; everything is freed at once
 * by ga_free. A grading never allocates more than G_ARENA_BUDGET bytes in total: past it,
 * ga_alloc returns NULL and the stage that asked gives up cleanly.
 *
 * Rationals: numerator and denominator in 128-bit integers, always reduced, denominator
 * positive. Every operation checks for overflow and returns .ok = 0 instead of wrapping;
 * callers then fall back to floating point. 128 bits hold any answer a benchmark writes
 * (38 digits) and keep the common case (integers, small fractions) exact and fast. */
#include "grade_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct garena_chunk {
    garena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

/* Allocate n zeroed bytes from the arena; NULL when out of budget or memory. */
void *ga_alloc(garena *a, size_t n) {
    if (a->failed) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n > G_ARENA_BUDGET || a->used + n > G_ARENA_BUDGET) {
        a->failed = 1;
        return NULL;
    }
    garena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        /* chunks grow 8 KiB, 16 KiB, ... up to 64 KiB: most gradings need one small chunk */
        size_t cap = c ? (c->cap < 65536 ? c->cap * 2 : 65536) : 8192;
        if (cap < n) cap = n;
        c = malloc(sizeof *c + cap);
        if (!c) {
            a->failed = 1;
            return NULL;
        }
        c->next = a->head;
        c->cap = cap;
        c->used = 0;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

/* Copy s[0..n) into the arena, NUL-terminated. */
char *ga_strndup(garena *a, const char *s, size_t n) {
    char *d = ga_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Free every chunk; the arena can be reused afterwards. */
void ga_free(garena *a) {
    garena_chunk *c = a->head;
    while (c) {
        garena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used = 0;
    a->failed = 0;
}

/* A new tree node with room for nkid children; counts against the parse's node budget. */
gnode *gn_new(gctx *c, int kind, int nkid) {
    if (++c->nodes > G_MAX_NODES) return NULL;
    gnode *n = ga_alloc(c->a, sizeof *n);
    if (!n) return NULL;
    n->kind = (uint8_t)kind;
    n->nkid = nkid;
    if (nkid > 0) {
        n->kid = ga_alloc(c->a, sizeof(gnode *) * (size_t)nkid);
        if (!n->kid) return NULL;
    }
    return n;
}

/* ---- rationals ---- */

static const gi128 GI_MAX = (gi128)(((unsigned __int128)1 << 126) - 1);

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

/* p/q reduced; .ok = 0 when q == 0 or a part is out of range. */
grat gr_make(gi128 p, gi128 q) {
    grat r = {0, 1, 0};
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

static int mul_ok(gi128 a, gi128 b, gi128 *out) {
    if (__builtin_mul_overflow(a, b, out)) return 0;
    return gabs128(*out) <= GI_MAX;
}

/* a + b */
grat gr_add(grat a, grat b) {
    grat bad = {0, 1, 0};
    if (!a.ok || !b.ok) return bad;
    gi128 g = ggcd(a.q, b.q), x, y, q;
    if (!mul_ok(a.p, b.q / g, &x) || !mul_ok(b.p, a.q / g, &y) || !mul_ok(a.q / g, b.q, &q))
        return bad;
    if (__builtin_add_overflow(x, y, &x)) return bad;
    return gr_make(x, q);
}

/* a - b */
grat gr_sub(grat a, grat b) {
    b.p = -b.p;
    return gr_add(a, b);
}

/* a * b */
grat gr_mul(grat a, grat b) {
    grat bad = {0, 1, 0};
    if (!a.ok || !b.ok) return bad;
    gi128 g1 = ggcd(a.p, b.q), g2 = ggcd(b.p, a.q), p, q;
    if (g1 == 0) g1 = 1;
    if (g2 == 0) g2 = 1;
    if (!mul_ok(a.p / g1, b.p / g2, &p) || !mul_ok(a.q / g2, b.q / g1, &q)) return bad;
    return gr_make(p, q);
}

/* a / b (.ok = 0 for b == 0) */
grat gr_div(grat a, grat b) {
    grat bad = {0, 1, 0};
    if (!a.ok || !b.ok || b.p == 0) return bad;
    grat inv = gr_make(b.q, b.p);
    return gr_mul(a, inv);
}

/* a ^ e for an integer e (bounded: |e| <= 4096, else .ok = 0 unless trivially 0/1/-1) */
grat gr_pow(grat a, long e) {
    grat bad = {0, 1, 0}, one = {1, 1, 1};
    if (!a.ok) return bad;
    if (e == 0) return a.p == 0 ? bad : one; /* 0^0: leave it to the numeric path */
    if (a.p == 0) return e > 0 ? a : bad;
    if (a.q == 1 && (a.p == 1 || a.p == -1)) {
        grat r = a;
        if (a.p == -1 && e % 2 == 0) r.p = 1;
        return r;
    }
    if (e > 4096 || e < -4096) return bad;
    long k = e < 0 ? -e : e;
    grat r = one, b = a;
    while (k) {
        if (k & 1) r = gr_mul(r, b);
        k >>= 1;
        if (k) b = gr_mul(b, b);
        if (!r.ok || !b.ok) return bad;
    }
    return e < 0 ? gr_div(one, r) : r;
}

/* Compare two valid rationals: -1, 0 or 1 (0 when either is invalid). */
int gr_cmp(grat a, grat b) {
    if (!a.ok || !b.ok) return 0;
    grat d = gr_sub(a, b);
    if (!d.ok) {
        double x = gr_double(a), y = gr_double(b);
        return x < y ? -1 : x > y;
    }
    return d.p < 0 ? -1 : d.p > 0;
}

/* Nearest double. */
double gr_double(grat a) { return (double)a.p / (double)a.q; }

static void pr128(gi128 x, char *buf, size_t n) {
    char tmp[64];
    int i = 0, neg = x < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(x + 1)) + 1 : (unsigned __int128)x;
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
void gr_print(grat a, char *buf, size_t n) {
    if (!a.ok) {
        snprintf(buf, n, "nan");
        return;
    }
    pr128(a.p, buf, n);
    if (a.q != 1) {
        size_t l = strlen(buf);
        if (l + 2 < n) {
            buf[l] = '/';
            pr128(a.q, buf + l + 1, n - l - 1);
        }
    }
}
