/* test_forward_kernels.c — every kernel set the CPU runs agrees with the portable one, and
 * with itself whatever the batch; conversions are exact; the thread pool runs every task
 * exactly once. A set with bf16 products (AVX512-BF16) agrees with portable within the
 * activations' bf16 rounding (2^-8 of sum |w x|) and with a scalar model of its own
 * arithmetic to fp32 rounding. */
#include <math.h>
#include <stdatomic.h>

#include "engine/kernels.h"
#include "engine/pool.h"
#include "model/safetensors.h"
#include "ponder.h"
#include "test.h"

/* fp32 -> bf16 by truncation (exactly representable back). */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* Every kernel set this CPU runs, portable first, the opt-in AVX512-BF16 set last. */
static int kernel_sets(const pd_kernel_ops **sets) {
    int n = 0;
    sets[n++] = pd_kernels_portable();
    if (pd_kernels_avx2()) sets[n++] = pd_kernels_avx2();
    if (pd_kernels_avx512()) sets[n++] = pd_kernels_avx512();
    if (pd_kernels_avx512bf16()) sets[n++] = pd_kernels_avx512bf16();
    return n;
}

/* fp32 -> bf16 as bf16 products round activations: to nearest even, NaNs quiet, subnormal
 * inputs to zero (vcvtne2ps2bf16 treats them as zero). */
static uint16_t round_bf16_ref(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    if (!(u & 0x7f800000)) return (uint16_t)((u >> 16) & 0x8000);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* sum_i w[i] * bf16(x[i]) in double, and the scale sum |w[i] * bf16(x[i])|. */
static double dot_bf16_ref(const uint16_t *w, const float *x, int n, double *scale) {
    double s = 0;
    *scale = 0;
    for (int i = 0; i < n; i++) {
        double p = (double)pd_bf16_to_f32(w[i]) * pd_bf16_to_f32(round_bf16_ref(x[i]));
        s += p;
        *scale += fabs(p);
    }
    return s;
}

/* Agreement of a bf16-product dot with an fp32 one: each activation rounded to 8 significant
 * bits moves by at most 2^-9 of itself; twice that for the fp32 sums on either side. */
static int close_bf16(float x, float y, float scale) { return fabsf(x - y) <= 0x1p-8f * scale + 1e-6f; }

static void t_conversions(void) {
    CHECK(pd_f16_to_f32(0x3c00) == 1.0f);
    CHECK(pd_f16_to_f32(0xc000) == -2.0f);
    CHECK(pd_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(pd_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(pd_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24)); /* largest subnormal */
    CHECK(pd_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(isinf(pd_f16_to_f32(0xfc00)) && pd_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(pd_f16_to_f32(0x7e00)));
    CHECK(signbit(pd_f16_to_f32(0x8000)) && pd_f16_to_f32(0x8000) == 0.0f);
    CHECK(pd_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(pd_bf16_to_f32(0xc0a0) == -5.0f);
    /* every f16 bit pattern converts the same in both kernel sets */
    const pd_kernel_ops *c = pd_kernels_portable(), *sets[4];
    int n_sets = kernel_sets(sets);
    if (n_sets == 1) SKIP("no SIMD kernel set on this CPU");
    static uint16_t all[65536];
    static float fc[65536], fa[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int si = 1; si < n_sets; si++) {
        const pd_kernel_ops *a = sets[si];
        c->to_f32(all, PD_DT_F16, fc, 65536);
        a->to_f32(all, PD_DT_F16, fa, 65536);
        CHECK_MSG(memcmp(fc, fa, sizeof fc) == 0, "%s f16", a->name);
        c->to_f32(all, PD_DT_BF16, fc, 65536);
        a->to_f32(all, PD_DT_BF16, fa, 65536);
        CHECK_MSG(memcmp(fc, fa, sizeof fc) == 0, "%s bf16", a->name);
        /* odd lengths (the vector tails) */
        a->to_f32(all + 3, PD_DT_BF16, fa, 13);
        c->to_f32(all + 3, PD_DT_BF16, fc, 13);
        CHECK(memcmp(fc, fa, 13 * sizeof *fa) == 0);
    }
}

/* Relative agreement of two dot products. */
static int close_to(float x, float y, float scale) { return fabsf(x - y) <= 1e-5f * scale + 1e-6f; }

static void t_sets_match_portable(void) {
    const pd_kernel_ops *sets[4], *c = pd_kernels_portable();
    int n_sets = kernel_sets(sets);
    if (n_sets == 1) SKIP("no SIMD kernel set on this CPU");
    /* the best is the widest set with fp32 products: bf16 products are opt-in */
    int widest = n_sets - 1;
    while (sets[widest]->round_bf16) widest--;
    CHECK_STR(pd_kernels_best()->name, sets[widest]->name);
    pd_rng r;
    pd_rng_seed(&r, 3);
    enum { N = 203 };
    float x[4 * N], w[N], y[N], ya[N], yc[N];
    uint16_t wb[N], wh[N];
    for (int i = 0; i < 4 * N; i++) x[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        w[i] = (float)pd_rng_normal(&r);
        wb[i] = to_bf16(w[i]);
        wh[i] = (uint16_t)(0x3000 + pd_rng_below(&r, 0x1000)) | (pd_rng_below(&r, 2) ? 0x8000 : 0);
        y[i] = (float)pd_rng_normal(&r);
    }
    int lens[] = {0, 1, 7, 8, 9, 16, 17, 31, 64, 100, N};
    for (int si = 1; si < n_sets; si++) {
        const pd_kernel_ops *a = sets[si];
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            int n = lens[li];
            float scale = 0;
            for (int i = 0; i < n; i++) scale += fabsf(w[i] * x[i]);
            CHECK_MSG(close_to(a->dot(w, x, n), c->dot(w, x, n), scale), "%s dot n=%d", a->name, n);
            CHECK_MSG(close_to(a->dot_w(w, PD_DT_F32, x, n), c->dot_w(w, PD_DT_F32, x, n), scale), "%s dot_w f32 n=%d", a->name, n);
            if (a->round_bf16) /* bf16 products: within the activations' rounding */
                CHECK_MSG(close_bf16(a->dot_w(wb, PD_DT_BF16, x, n), c->dot_w(wb, PD_DT_BF16, x, n), scale), "%s dot_w bf16 n=%d", a->name, n);
            else
                CHECK_MSG(close_to(a->dot_w(wb, PD_DT_BF16, x, n), c->dot_w(wb, PD_DT_BF16, x, n), scale), "%s dot_w bf16 n=%d", a->name, n);
            CHECK_MSG(close_to(a->dot_w(wh, PD_DT_F16, x, n), c->dot_w(wh, PD_DT_F16, x, n), scale + 1), "%s dot_w f16 n=%d", a->name, n);
            /* dot_w on stored weights = dot on the converted row, bit for bit (batch independence) */
            float conv[N];
            a->to_f32(wb, PD_DT_BF16, conv, n);
            CHECK(a->round_bf16 || a->dot_w(wb, PD_DT_BF16, x, n) == a->dot(conv, x, n));
            CHECK(c->dot_w(wb, PD_DT_BF16, x, n) == c->dot(conv, x, n));
            a->to_f32(wh, PD_DT_F16, conv, n);
            CHECK(a->dot_w(wh, PD_DT_F16, x, n) == a->dot(conv, x, n));
            CHECK(c->dot_w(wh, PD_DT_F16, x, n) == c->dot(conv, x, n));
            memcpy(ya, y, sizeof y);
            memcpy(yc, y, sizeof y);
            a->axpy(0.37f, x, ya, n);
            c->axpy(0.37f, x, yc, n);
            for (int i = 0; i < n; i++) CHECK(close_to(ya[i], yc[i], fabsf(y[i]) + fabsf(x[i])));
        }
    }
}

/* pd_matmul_rows on every set, every dtype, shapes that exercise every path (row blocks and
 * their remainders, narrow batches converted in registers and wide ones converted per block,
 * activation-row remainders, reduction chunks and tails): each output equals that set's
 * dot_w of the row alone, bit for bit (so a row never depends on its batch), and agrees with
 * the portable set to rounding. */
static void t_matmul_rows(void) {
    const pd_kernel_ops *sets[4];
    int n_sets = kernel_sets(sets);
    pd_rng r;
    pd_rng_seed(&r, 11);
    int shapes[][3] = {/* rows, cols, T */ {5, 7, 1}, {16, 64, 2}, {37, 203, 3}, {21, 600, 7}, {33, 1100, 30}, {4, 16, 50}, {18, 33, 25}};
    int dts[] = {PD_DT_F32, PD_DT_BF16, PD_DT_F16};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        int rows = shapes[sh][0], cols = shapes[sh][1], T = shapes[sh][2];
        float *wf = malloc((size_t)rows * cols * sizeof *wf), *x = malloc((size_t)T * cols * sizeof *x);
        uint16_t *wh = malloc((size_t)rows * cols * sizeof *wh);
        float *bias = malloc((size_t)rows * sizeof *bias), *ref = malloc((size_t)T * rows * sizeof *ref);
        float *yv = malloc((size_t)T * rows * sizeof *yv), *scratch = malloc((size_t)PD_ROW_BLOCK * cols * sizeof *scratch);
        float *yp = malloc((size_t)T * rows * sizeof *yp);
        uint16_t *xb = malloc((size_t)T * cols * sizeof *xb);
        for (int i = 0; i < rows * cols; i++) wf[i] = (float)pd_rng_normal(&r);
        for (int i = 0; i < T * cols; i++) x[i] = (float)pd_rng_normal(&r);
        for (int i = 0; i < rows; i++) bias[i] = (float)pd_rng_normal(&r);
        for (size_t di = 0; di < 3; di++) {
            int dt = dts[di];
            const void *w = wf;
            if (dt == PD_DT_BF16)
                for (int i = 0; i < rows * cols; i++) wh[i] = to_bf16(wf[i]);
            if (dt == PD_DT_F16)
                for (int i = 0; i < rows * cols; i++) wh[i] = (uint16_t)(0x3000 + pd_rng_below(&r, 0x1000)) | (pd_rng_below(&r, 2) ? 0x8000 : 0);
            if (dt != PD_DT_F32) w = wh;
            size_t es = dt == PD_DT_F32 ? 4 : 2;
            for (int si = 0; si < n_sets; si++) {
                const pd_kernel_ops *k = sets[si];
                pd_mm a = {w, dt, rows, cols, x, (size_t)T, bias, yv, NULL, NULL};
                /* two calls over a split of the rows, as two pool tasks would */
                int split = rows / 3;
                pd_matmul_rows(k, &a, 0, split, scratch);
                pd_matmul_rows(k, &a, split, rows, scratch);
                const int bf16 = dt == PD_DT_BF16 && k->round_bf16;
                if (bf16) { /* activations rounded once by the caller: the same bits */
                    for (int t = 0; t < T; t++) k->round_bf16(x + (size_t)t * cols, xb + (size_t)t * cols, cols);
                    pd_mm ap = a;
                    ap.y = yp;
                    pd_matmul_rows_bf16(k, &ap, xb, 0, split, scratch);
                    pd_matmul_rows_bf16(k, &ap, xb, split, rows, scratch);
                    CHECK_MSG(memcmp(yp, yv, (size_t)T * rows * sizeof *yp) == 0, "%s: matmul %dx%d T=%d: rounded once vs in the tiles",
                              k->name, rows, cols, T);
                }
                int same = 1, close = 1;
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < rows; i++) {
                        const void *wr = (const uint8_t *)w + (size_t)i * cols * es;
                        float alone = k->dot_w(wr, dt, x + (size_t)t * cols, cols) + bias[i];
                        same &= yv[(size_t)t * rows + i] == alone;
                        if (si == 0) ref[(size_t)t * rows + i] = yv[(size_t)t * rows + i];
                        float scale = 0;
                        for (int q = 0; q < cols; q++) {
                            float wq = dt == PD_DT_F32 ? wf[(size_t)i * cols + q] : dt == PD_DT_BF16 ? pd_bf16_to_f32(wh[(size_t)i * cols + q]) : pd_f16_to_f32(wh[(size_t)i * cols + q]);
                            scale += fabsf(wq * x[(size_t)t * cols + q]);
                        }
                        close &= (bf16 ? close_bf16 : close_to)(yv[(size_t)t * rows + i], ref[(size_t)t * rows + i], scale + fabsf(bias[i]));
                    }
                CHECK_MSG(same, "%s: matmul %dx%d T=%d dtype %d: a row differs from the same row alone", k->name, rows, cols, T, dt);
                CHECK_MSG(close, "%s: matmul %dx%d T=%d dtype %d: differs from portable", k->name, rows, cols, T, dt);
            }
        }
        free(wf), free(x), free(wh), free(bias), free(ref), free(yv), free(scratch), free(yp), free(xb);
    }
}

/* A set with bf16 products: round_bf16 rounds to nearest even (ties, tails, subnormals,
 * infinities, NaN); dot_w on bf16 weights equals a scalar model of its arithmetic (each
 * activation rounded, exact products) to fp32 rounding, and gives the same bits on the
 * activations rounded beforehand. */
static void t_bf16_products(void) {
    const pd_kernel_ops *k = pd_kernels_avx512bf16();
    if (!k) SKIP("no AVX512-BF16 on this CPU");
    CHECK(k->tile_bf16 != NULL);
    pd_rng r;
    pd_rng_seed(&r, 21);
    enum { N = 300 };
    static float x[N], xr[N];
    static uint16_t got[N], w[N];
    uint32_t special[] = {0x3f808000, 0x3f818000, 0x3f807fff, 0xbf808000, 0x00000001, 0x807fffff, 0x00800000,
                          0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00001, 0xff800001, 0x00000000, 0x80000000};
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)pd_rng_below(&r, 0x7fffffff) * 2 + (uint32_t)pd_rng_below(&r, 2);
        if (i < (int)(sizeof special / sizeof *special)) u = special[i];
        else if (i % 3 == 0) u = (u & 0xffff0000u) | 0x8000; /* a tie */
        memcpy(&x[i], &u, 4);
    }
    for (int n = 1; n <= 70; n++) { /* every tail length */
        memset(got, 0xff, sizeof got);
        k->round_bf16(x, got, n);
        int ok = got[n] == 0xffff;
        for (int i = 0; i < n; i++) ok &= got[i] == round_bf16_ref(x[i]);
        CHECK_MSG(ok, "round_bf16 n=%d", n);
    }
    k->round_bf16(x, got, N);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= got[i] == round_bf16_ref(x[i]);
    CHECK(ok);
    /* dot products on finite values */
    for (int i = 0; i < N; i++) {
        x[i] = (float)pd_rng_normal(&r);
        xr[i] = pd_bf16_to_f32(round_bf16_ref(x[i]));
        w[i] = to_bf16((float)pd_rng_normal(&r));
    }
    int lens[] = {0, 1, 2, 15, 31, 32, 33, 63, 64, 100, 257, N};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        int n = lens[li];
        double scale, ref = dot_bf16_ref(w, x, n, &scale);
        float d = k->dot_w(w, PD_DT_BF16, x, n);
        CHECK_MSG(fabs(d - ref) <= 1e-6 * scale + 1e-7, "dot_w n=%d: %.9g vs %.9g", n, d, ref);
        CHECK_MSG(d == k->dot_w(w, PD_DT_BF16, xr, n), "dot_w n=%d: rounded beforehand", n);
        /* and so far from the fp32 product that the test could tell them apart */
        if (n == N) CHECK(d != pd_kernels_avx512()->dot_w(w, PD_DT_BF16, x, n));
    }
}

/* reduce4 is pd_kernel_reduce four times, bit for bit, in every set. */
static void t_reduce4(void) {
    const pd_kernel_ops *sets[4];
    int n_sets = kernel_sets(sets);
    pd_rng r;
    pd_rng_seed(&r, 5);
    float acc[4 * 20];
    for (int i = 0; i < 80; i++) acc[i] = (float)(pd_rng_normal(&r) * ldexp(1.0, (int)pd_rng_below(&r, 30) - 15));
    for (int si = 0; si < n_sets; si++) {
        float out[4];
        sets[si]->reduce4(acc, 20, out);
        for (int q = 0; q < 4; q++) CHECK_MSG(out[q] == pd_kernel_reduce(acc + q * 20, sets[si]->lanes), "%s reduce4 %d", sets[si]->name, q);
    }
}

typedef struct pool_ctx {
    atomic_int hits[1000];
    atomic_int bad_thread;
    int n_threads;
} pool_ctx;

static void pool_task(void *ctx, size_t task, int thread) {
    pool_ctx *c = ctx;
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
}

static void t_pool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        pd_pool *p = pd_pool_new(nt, NULL);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK_EQ_INT(pd_pool_size(p), nt);
        static pool_ctx c;
        for (int round = 0; round < 50; round++) {
            size_t n = (size_t)(round * 37 % 1000);
            for (int i = 0; i < 1000; i++) atomic_init(&c.hits[i], 0);
            atomic_init(&c.bad_thread, 0);
            c.n_threads = nt;
            pd_pool_run(p, n, pool_task, &c);
            int ok = 1;
            for (size_t i = 0; i < 1000; i++) ok &= atomic_load(&c.hits[i]) == (i < n ? 1 : 0);
            CHECK_MSG(ok, "threads %d round %d", nt, round);
            CHECK_EQ_INT(atomic_load(&c.bad_thread), 0);
        }
        pd_pool_free(p);
    }
}

/* A set with bf16 products given the activations already rounded (pd_mm.xb, what the forward
 * pass passes once per job) computes the same bits as rounding them itself, for every T. */
static void t_panels_prerounded(void) {
    const pd_kernel_ops *k = pd_kernels_avx512bf16();
    if (!k || !k->mm_panels) {
        SKIP("no AVX512-BF16 panels on this CPU");
        return;
    }
    pd_rng r;
    pd_rng_seed(&r, 17);
    const int rows = 70, cols = 96;
    const size_t Ts[] = {1, 2, 3, 6, 13, 150};
    uint16_t *w = malloc((size_t)rows * cols * 2), *p = malloc(pd_panel_elems(rows, cols) * 2), *xb = malloc(150 * (size_t)cols * 2);
    float *x = malloc(150 * (size_t)cols * sizeof(float)), *b = malloc(rows * sizeof(float));
    float *y1 = malloc(150 * (size_t)rows * sizeof(float)), *y2 = malloc(150 * (size_t)rows * sizeof(float));
    float *scratch = malloc(PD_PANEL_SCRATCH(cols) * sizeof(float));
    for (int i = 0; i < rows * cols; i++) w[i] = to_bf16((float)pd_rng_normal(&r));
    for (int i = 0; i < 150 * cols; i++) x[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < rows; i++) b[i] = (float)pd_rng_normal(&r);
    int np = (rows + PD_PANEL - 1) / PD_PANEL;
    pd_panel_pack(w, PD_DT_BF16, rows, cols, 0, np, p);
    for (size_t t = 0; t < 150; t++) k->round_bf16(x + t * cols, xb + t * cols, cols);
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
        pd_mm a = {p, PD_DT_BF16, rows, cols, x, Ts[ti], b, y1, NULL, NULL}, a2 = a;
        a2.y = y2, a2.xb = xb;
        memset(y2, 0xff, 150 * (size_t)rows * sizeof(float));
        k->mm_panels(&a, 0, np, scratch);
        k->mm_panels(&a2, 0, np - 1, scratch);
        k->mm_panels(&a2, np - 1, np, scratch);
        CHECK_MSG(!memcmp(y1, y2, Ts[ti] * (size_t)rows * sizeof(float)), "T=%zu: pre-rounded activations differ", Ts[ti]);
    }
    free(w), free(p), free(xb), free(x), free(b), free(y1), free(y2), free(scratch);
}

/* The whole model on every kernel set, through the public option, against portable C. */
static void t_model_kernels_agree(void) {
    pd_error err = {0};
    pd_model_opts pc = {2, PD_KERNELS_PORTABLE, PD_PRECISION_DEFAULT};
    pd_model *c = pd_model_load("tests/fixtures/models/mistral_f16", &pc, &err);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_STR(pd_model_kernels_name(c), "portable");
    int32_t ids[] = {1, 5, 77, 200, 31, 4, 4, 9};
    float la[8 * 256], lc[8 * 256];
    pd_kv *kc = pd_kv_new(c, &err);
    pd_seq_step sc = {.kv = kc, .tokens = ids, .n_tokens = 8, .logits = PD_LOGITS_ALL, .out = lc};
    CHECK(pd_model_forward(c, &sc, 1, &err) == 0);
    /* (f16 weights: the AVX512-BF16 set multiplies them in fp32 like the AVX-512 set) */
    pd_kernels kinds[] = {PD_KERNELS_AVX2, PD_KERNELS_AVX512, PD_KERNELS_AVX512BF16};
    const char *names[] = {"avx2", "avx512", "avx512bf16"};
    const pd_kernel_ops *have[] = {pd_kernels_avx2(), pd_kernels_avx512(), pd_kernels_avx512bf16()};
    for (int k = 0; k < 3; k++) {
        pd_model_opts pa = {2, kinds[k], PD_PRECISION_DEFAULT};
        pd_model *a = pd_model_load("tests/fixtures/models/mistral_f16", &pa, &err);
        if (!have[k]) { /* a set the CPU lacks is refused, naming it */
            CHECK(a == NULL && strstr(err.msg, names[k]));
            continue;
        }
        CHECK(a != NULL);
        if (!a) continue;
        CHECK_STR(pd_model_kernels_name(a), names[k]);
        pd_kv *ka = pd_kv_new(a, &err);
        pd_seq_step sa = {.kv = ka, .tokens = ids, .n_tokens = 8, .logits = PD_LOGITS_ALL, .out = la};
        CHECK(pd_model_forward(a, &sa, 1, &err) == 0);
        float worst = 0;
        for (int i = 0; i < 8 * 256; i++) worst = fmaxf(worst, fabsf(la[i] - lc[i]));
        CHECK_MSG(worst < 1e-5f, "%s vs portable %g", names[k], worst);
        pd_kv_free(ka);
        pd_model_free(a);
    }
    pd_kv_free(kc);
    pd_model_free(c);
}

int main(void) {
    RUN(t_conversions);
    RUN(t_sets_match_portable);
    RUN(t_matmul_rows);
    RUN(t_bf16_products);
    RUN(t_reduce4);
    RUN(t_pool);
    RUN(t_panels_prerounded);
    RUN(t_model_kernels_agree);
    return test_done();
}
