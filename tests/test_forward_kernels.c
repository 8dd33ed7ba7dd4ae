/* test_forward_kernels.c — the AVX2 and portable kernels agree; conversions are exact; the
 * thread pool runs every task exactly once. */
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
    const pd_kernel_ops *c = pd_kernels_portable(), *a = pd_kernels_avx2();
    if (!a) SKIP("no AVX2 on this CPU");
    static uint16_t all[65536];
    static float fc[65536], fa[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    c->to_f32(all, PD_DT_F16, fc, 65536);
    a->to_f32(all, PD_DT_F16, fa, 65536);
    CHECK(memcmp(fc, fa, sizeof fc) == 0);
    c->to_f32(all, PD_DT_BF16, fc, 65536);
    a->to_f32(all, PD_DT_BF16, fa, 65536);
    CHECK(memcmp(fc, fa, sizeof fc) == 0);
}

/* Relative agreement of two dot products. */
static int close_to(float x, float y, float scale) { return fabsf(x - y) <= 1e-5f * scale + 1e-6f; }

static void t_avx2_matches_portable(void) {
    const pd_kernel_ops *c = pd_kernels_portable(), *a = pd_kernels_avx2();
    if (!a) SKIP("no AVX2 on this CPU");
    CHECK_STR(a->name, "avx2");
    pd_rng r;
    pd_rng_seed(&r, 3);
    enum { N = 203 };
    float x[4 * N], w[N], y[N], ya[N], yc[N], o4a[4], o4c[4];
    uint16_t wb[N], wh[N];
    for (int i = 0; i < 4 * N; i++) x[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        w[i] = (float)pd_rng_normal(&r);
        wb[i] = to_bf16(w[i]);
        wh[i] = (uint16_t)(0x3000 + pd_rng_below(&r, 0x1000)) | (pd_rng_below(&r, 2) ? 0x8000 : 0);
        y[i] = (float)pd_rng_normal(&r);
    }
    int lens[] = {0, 1, 7, 8, 9, 16, 31, 64, 100, N};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        int n = lens[li];
        float scale = 0;
        for (int i = 0; i < n; i++) scale += fabsf(w[i] * x[i]);
        CHECK_MSG(close_to(a->dot(w, x, n), c->dot(w, x, n), scale), "dot n=%d", n);
        a->dot4(w, x, N, n, o4a);
        c->dot4(w, x, N, n, o4c);
        for (int k = 0; k < 4; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += fabsf(w[i] * x[k * N + i]);
            CHECK_MSG(close_to(o4a[k], o4c[k], s), "dot4 n=%d row %d", n, k);
            /* within a kernel set the order is fixed: dot4 = dot bit for bit */
            CHECK_MSG(o4a[k] == a->dot(w, x + k * N, n), "avx2 dot4 = dot n=%d", n);
            CHECK_MSG(o4c[k] == c->dot(w, x + k * N, n), "portable dot4 = dot n=%d", n);
        }
        CHECK_MSG(close_to(a->dot_w(w, PD_DT_F32, x, n), c->dot_w(w, PD_DT_F32, x, n), scale), "dot_w f32 n=%d", n);
        CHECK_MSG(close_to(a->dot_w(wb, PD_DT_BF16, x, n), c->dot_w(wb, PD_DT_BF16, x, n), scale), "dot_w bf16 n=%d", n);
        CHECK_MSG(close_to(a->dot_w(wh, PD_DT_F16, x, n), c->dot_w(wh, PD_DT_F16, x, n), scale + 1), "dot_w f16 n=%d", n);
        /* dot_w on stored weights = dot on the converted row, bit for bit (batch independence) */
        float conv[N];
        a->to_f32(wb, PD_DT_BF16, conv, n);
        CHECK(a->dot_w(wb, PD_DT_BF16, x, n) == a->dot(conv, x, n));
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

/* The whole model on both kernel sets, through the public option. */
static void t_model_kernels_agree(void) {
    pd_error err = {0};
    pd_model_opts pa = {2, PD_KERNELS_AUTO}, pc = {2, PD_KERNELS_PORTABLE};
    pd_model *a = pd_model_load("tests/fixtures/models/mistral_f16", &pa, &err);
    pd_model *c = pd_model_load("tests/fixtures/models/mistral_f16", &pc, &err);
    CHECK(a && c);
    if (a && c) {
        CHECK_STR(pd_model_kernels_name(c), "portable");
        int32_t ids[] = {1, 5, 77, 200, 31, 4, 4, 9};
        float la[8 * 256], lc[8 * 256];
        pd_kv *ka = pd_kv_new(a, &err), *kc = pd_kv_new(c, &err);
        pd_seq_step sa = {.kv = ka, .tokens = ids, .n_tokens = 8, .logits = PD_LOGITS_ALL, .out = la},
                    sc = {.kv = kc, .tokens = ids, .n_tokens = 8, .logits = PD_LOGITS_ALL, .out = lc};
        CHECK(pd_model_forward(a, &sa, 1, &err) == 0 && pd_model_forward(c, &sc, 1, &err) == 0);
        float worst = 0;
        for (int i = 0; i < 8 * 256; i++) worst = fmaxf(worst, fabsf(la[i] - lc[i]));
        CHECK_MSG(worst < 1e-5f, "avx2 vs portable %g", worst);
        pd_kv_free(ka);
        pd_kv_free(kc);
    }
    pd_model_free(a);
    pd_model_free(c);
}

int main(void) {
    RUN(t_conversions);
    RUN(t_avx2_matches_portable);
    RUN(t_pool);
    RUN(t_model_kernels_agree);
    return test_done();
}
