/* test_vmath.c — the vector exp of the SIMD sets (AVX2, AVX-512) and what is built on it
 * (kernels.h: silu_mul, softmax): exp within 1 ulp of libm's expf over a sweep of the whole
 * float range (every 61st bit pattern, both signs) and at the edges (0 below -103.98, inf
 * above 88.73, NaN for NaN, exactly 1 at 0), the AVX2 exp the same bits as the AVX-512 one
 * (and so its silu_mul) where the CPU runs both; silu_mul and softmax within a few ulp of the portable forms,
 * in place or not, for lengths that end in every partial vector; softmax sums to 1, gives 0
 * for -inf scores and is the same bits for the same row whatever else runs. Also pd_exp_det
 * (sampling's exp, the same operations everywhere): its accuracy, and exp_sum giving the
 * same bits in every kernel set. */
#include <math.h>

#include "engine/kernels.h"
#include "ponder.h"
#include "test.h"

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Distance in units in the last place between two non-negative results (exp's range). */
static uint32_t ulps(float a, float b) {
    uint32_t x = bits(a), y = bits(b);
    return x > y ? x - y : y - x;
}

static float rnd(pd_rng *r) { return (float)((double)(pd_rng_u64(r) >> 11) * 0x1p-53 - 0.5); }

typedef void (*exp_fn)(const float *x, float *y, int n);

/* The vector exps this CPU runs, and their names. */
static int vec_exps(exp_fn *f, const char **names) {
    int n = 0;
    if (pd_kernels_avx2()) f[n] = pd_avx2_exp, names[n++] = "avx2";
    if (pd_kernels_avx512()) f[n] = pd_avx512_exp, names[n++] = "avx512";
    return n;
}

static void t_exp_sweep(void) {
    exp_fn f[2];
    const char *names[2];
    int nf = vec_exps(f, names);
    if (!nf) SKIP("no vector exp on this CPU");
    enum { N = 4096 };
    static float x[N], y[2][N];
    uint32_t worst[2] = {0, 0};
    float worst_x[2] = {0, 0};
    long n_bad_special[2] = {0, 0}, n_differ = 0;
    uint64_t u = 0;
    while (u <= 0xffffffffu) {
        int n = 0;
        for (; n < N && u <= 0xffffffffu; n++, u += 61) x[n] = from_bits((uint32_t)u);
        for (int k = 0; k < nf; k++) f[k](x, y[k], n);
        for (int i = 0; i < n; i++) {
            float e = expf(x[i]);
            if (nf == 2) n_differ += memcmp(&y[0][i], &y[1][i], 4) != 0;
            for (int k = 0; k < nf; k++) {
                if (isnan(x[i])) {
                    n_bad_special[k] += !isnan(y[k][i]);
                    continue;
                }
                if (isinf(e) || e == 0) {
                    n_bad_special[k] += bits(y[k][i]) != bits(e);
                    continue;
                }
                uint32_t d = ulps(y[k][i], e);
                if (d > worst[k]) worst[k] = d, worst_x[k] = x[i];
            }
        }
    }
    for (int k = 0; k < nf; k++) {
        CHECK_MSG(worst[k] <= 1, "%s exp: %u ulp from expf at %a", names[k], worst[k], worst_x[k]);
        CHECK_MSG(n_bad_special[k] == 0, "%s exp: %ld results differ where expf is 0, inf or NaN", names[k], n_bad_special[k]);
    }
    CHECK_MSG(n_differ == 0, "the AVX2 and AVX-512 exps differ in %ld results", n_differ);
}

static void t_exp_edges(void) {
    exp_fn f[2];
    const char *names[2];
    int nf = vec_exps(f, names);
    if (!nf) SKIP("no vector exp on this CPU");
    float x[] = {0.0f, -0.0f, -INFINITY, INFINITY, NAN, -NAN, -1e30f, 1e30f, -104.0f, -103.97f, -103.0f, -87.0f,
                 88.72f, 88.7229f, 89.0f, 1e-30f, -1e-30f, 1.0f, -1.0f, 0.5f, -87.33654f, 0x1p-149f,
                 -88.0f, -100.0f, 88.376f, 88.4f, 88.0f}; /* the last: the subnormal range, 2^127 and 2^128 scales */
    enum { N = sizeof x / sizeof x[0] };
    float y[N];
    for (int k = 0; k < nf; k++) {
        f[k](x, y, N);
        for (int i = 0; i < N; i++) {
            float e = expf(x[i]);
            if (isnan(e)) CHECK_MSG(isnan(y[i]), "%s exp(%a) = %a, expected NaN", names[k], x[i], y[i]);
            else if (e == 0 || isinf(e) || e == 1) CHECK_MSG(y[i] == e, "%s exp(%a) = %a, expf %a", names[k], x[i], y[i], e);
            else CHECK_MSG(ulps(y[i], e) <= 1, "%s exp(%a) = %a, expf %a", names[k], x[i], y[i], e);
        }
        /* every tail length: lanes past n are not written */
        float in[40], out[40];
        for (int i = 0; i < 40; i++) in[i] = (float)i * 0.37f - 7.0f;
        for (int n = 0; n <= 33; n++) {
            for (int i = 0; i < 40; i++) out[i] = -1.0f;
            f[k](in, out, n);
            int ok = 1;
            for (int i = 0; i < 40; i++) ok &= i < n ? ulps(out[i], expf(in[i])) <= 1 : out[i] == -1.0f;
            CHECK_MSG(ok, "%s exp: n = %d", names[k], n);
        }
    }
}

/* The sets whose silu_mul / softmax are not the portable ones. */
static int vec_sets(const pd_kernel_ops **sets) {
    const pd_kernel_ops *all[] = {pd_kernels_avx2(), pd_kernels_avx512(), pd_kernels_avx512bf16()};
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (all[i] && all[i]->silu_mul != pd_silu_mul_c) sets[n++] = all[i];
    return n;
}

/* Within `tol` ulp-sized relative error of the portable result. */
static int near(float a, float b, float tol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabsf(a - b) <= tol * 0x1p-23f * fmaxf(fabsf(b), 0x1p-126f);
}

static void t_silu_mul(void) {
    const pd_kernel_ops *sets[3];
    int ns = vec_sets(sets);
    if (!ns) SKIP("no set with a vector silu_mul on this CPU");
    pd_rng r;
    pd_rng_seed(&r, 3);
    enum { N = 203 };
    float g[N], u[N], ref[N], out[N], g2[N], u2[N];
    for (int s = 0; s < ns; s++)
        for (int rep = 0; rep < 20; rep++) {
            float scale = rep < 10 ? 8.0f : 200.0f;
            for (int i = 0; i < N; i++) g[i] = rnd(&r) * scale, u[i] = rnd(&r) * 4.0f;
            g[0] = 0.0f, g[1] = -INFINITY, g[2] = INFINITY, g[3] = -100.0f, g[4] = 100.0f, g[5] = -90.0f;
            for (int n = 1; n <= N; n += rep < 2 ? 1 : 37) {
                pd_silu_mul_c(g, u, ref, n);
                sets[s]->silu_mul(g, u, out, n);
                int ok = 1;
                for (int i = 0; i < n; i++) ok &= near(out[i], ref[i], 4.0f);
                CHECK_MSG(ok, "%s silu_mul n = %d", sets[s]->name, n);
                /* in place over g, then over u: the same bits */
                memcpy(g2, g, sizeof g), memcpy(u2, u, sizeof u);
                sets[s]->silu_mul(g2, u, g2, n);
                sets[s]->silu_mul(g, u2, u2, n);
                CHECK_MSG(!memcmp(g2, out, (size_t)n * 4) && !memcmp(u2, out, (size_t)n * 4), "%s silu_mul in place n = %d",
                          sets[s]->name, n);
            }
        }
}

/* The AVX2 silu_mul is the AVX-512 one's operations on the same exp: the same bits. */
static void t_silu_mul_avx2_avx512(void) {
    const pd_kernel_ops *a = pd_kernels_avx2(), *b = pd_kernels_avx512();
    if (!a || !b) SKIP("needs both AVX2 and AVX-512");
    pd_rng r;
    pd_rng_seed(&r, 4);
    enum { N = 301 };
    float g[N], u[N], ya[N], yb[N];
    for (int rep = 0; rep < 10; rep++) {
        for (int i = 0; i < N; i++) g[i] = rnd(&r) * (rep < 5 ? 16.0f : 250.0f), u[i] = rnd(&r) * 4.0f;
        g[0] = -INFINITY, g[1] = INFINITY, g[2] = NAN, g[3] = -0.0f;
        for (int n = 1; n <= N; n += rep ? 23 : 1) {
            a->silu_mul(g, u, ya, n);
            b->silu_mul(g, u, yb, n);
            CHECK_MSG(!memcmp(ya, yb, (size_t)n * 4), "silu_mul n = %d: avx2 and avx512 differ", n);
        }
    }
}

static void t_softmax(void) {
    const pd_kernel_ops *sets[3];
    int ns = vec_sets(sets);
    if (!ns) SKIP("no set with a vector softmax on this CPU");
    pd_rng r;
    pd_rng_seed(&r, 9);
    enum { N = 517 };
    static float s0[N], a[N], b[N];
    for (int si = 0; si < ns; si++)
        for (int n = 1; n <= N; n += n < 40 ? 1 : 61) {
            for (int rep = 0; rep < 4; rep++) {
                float scale = rep == 0 ? 1.0f : rep == 1 ? 30.0f : rep == 2 ? 1e4f : 0.0f;
                for (int i = 0; i < n; i++) s0[i] = rnd(&r) * scale + (rep == 3 ? 5.0f : 0.0f);
                if (n > 3) s0[n / 3] = -INFINITY; /* a masked-out key */
                memcpy(a, s0, (size_t)n * 4), memcpy(b, s0, (size_t)n * 4);
                pd_softmax_c(a, n);
                sets[si]->softmax(b, n);
                double sum = 0;
                int ok = 1;
                for (int i = 0; i < n; i++) sum += b[i], ok &= near(b[i], a[i], 8.0f) || fabsf(b[i] - a[i]) < 1e-30f;
                CHECK_MSG(ok, "%s softmax n = %d scale %g: far from the portable form", sets[si]->name, n, scale);
                CHECK_MSG(fabs(sum - 1.0) < 1e-5, "%s softmax n = %d: sums to %.9g", sets[si]->name, n, sum);
                if (n > 3) CHECK_MSG(b[n / 3] == 0.0f, "%s softmax: exp(-inf) = %g", sets[si]->name, b[n / 3]);
                if (n == 1) CHECK_MSG(b[0] == 1.0f, "%s softmax of one score: %g", sets[si]->name, b[0]);
                if (rep == 3 && n <= 40) { /* equal scores: exactly 1/n's division */
                    int eq = 1;
                    for (int i = 0; i < n; i++) eq &= i == n / 3 && n > 3 ? 1 : b[i] == b[0];
                    CHECK_MSG(eq, "%s softmax of equal scores differs", sets[si]->name);
                }
                /* the same row again: the same bits */
                memcpy(a, s0, (size_t)n * 4);
                sets[si]->softmax(a, n);
                CHECK_MSG(!memcmp(a, b, (size_t)n * 4), "%s softmax n = %d: not deterministic", sets[si]->name, n);
            }
        }
}

/* pd_exp_det: within 3e-7 of exp (double) relative over [-86, 0] (every 97th float bit
 * pattern there), exactly 1 at 0 and at positive inputs, 0 below -86, for -inf and NaN. */
static void t_exp_det(void) {
    double worst = 0;
    float worst_d = 0;
    for (uint32_t u = 0x80000000u; u <= bits(PD_EXP_DET_MIN); u += 97) {
        float d = from_bits(u);
        double e = exp((double)d), rel = fabs((double)pd_exp_det(d) - e) / e;
        if (rel > worst) worst = rel, worst_d = d;
    }
    CHECK_MSG(worst < 3e-7, "exp_det: relative error %.3g at %a", worst, worst_d);
    CHECK(pd_exp_det(0.0f) == 1.0f && pd_exp_det(-0.0f) == 1.0f && pd_exp_det(3.0f) == 1.0f);
    CHECK(pd_exp_det(-86.5f) == 0.0f && pd_exp_det(-INFINITY) == 0.0f && pd_exp_det(NAN) == 0.0f);
    CHECK(pd_exp_det(-86.0f) > 0.0f);
}

/* exp_sum: every kernel set gives the portable definition's bits, values and sum, for lengths
 * ending in every partial block, with NaN, -inf and +inf inputs, with and without out. */
static void t_exp_sum_sets(void) {
    const pd_kernel_ops *sets[4] = {pd_kernels_portable(), pd_kernels_avx2(), pd_kernels_avx512(), pd_kernels_avx512bf16()};
    enum { N = 1000 };
    static float x[N], ref[N], got[N];
    pd_rng r;
    pd_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) x[i] = rnd(&r) * 60.0f;
    x[7] = NAN, x[100] = -INFINITY, x[333] = INFINITY, x[500] = 1e30f;
    int compared = 0;
    for (int n = 1; n <= N; n += n < 40 ? 1 : 37)
        for (int si = 1; si < 4; si++) {
            if (!sets[si]) continue;
            float scale = n % 3 ? 1.0f : 1.25f, shift = n % 2 ? 30.0f : 0.5f;
            double a = pd_exp_sum_c(x, scale, shift, ref, (size_t)n);
            double b = sets[si]->exp_sum(x, scale, shift, got, (size_t)n), c = sets[si]->exp_sum(x, scale, shift, NULL, (size_t)n);
            CHECK_MSG(memcmp(&a, &b, sizeof a) == 0 && memcmp(&a, &c, sizeof a) == 0, "%s n=%d: sum %.17g vs %.17g",
                      sets[si]->name, n, b, a);
            CHECK_MSG(memcmp(ref, got, (size_t)n * sizeof *ref) == 0, "%s n=%d: values differ", sets[si]->name, n);
            compared++;
        }
    /* the portable sum is the documented one: values from pd_exp_det, 16 lanes, a fixed tree */
    double lanes[16] = {0};
    for (int i = 0; i < N; i++) lanes[i % 16] += pd_exp_det(x[i] * 1.25f - 0.5f);
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    double p = pd_exp_sum_c(x, 1.25f, 0.5f, NULL, N);
    CHECK(memcmp(&p, &lanes[0], sizeof p) == 0);
    (void)compared;
}

int main(void) {
    RUN(t_exp_det);
    RUN(t_exp_sum_sets);
    RUN(t_exp_edges);
    RUN(t_exp_sweep);
    RUN(t_silu_mul);
    RUN(t_silu_mul_avx2_avx512);
    RUN(t_softmax);
    return test_done();
}
