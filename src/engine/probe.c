/* probe.c — the machine's limits as benchmarks compare against them: memory read bandwidth
 * and fp32 multiply-add peak, measured with the engine's own thread pool.
 *
 * Read bandwidth: each thread sums its share of a 512 MiB buffer (far beyond any cache) with
 * the kernel set's dot product; best of three passes. FMA peak: each thread runs chains of
 * independent vector multiply-adds on registers (12 chains: more than FMA latency x ports on
 * current x86 cores), with the widest vector width the CPU runs; best of three. Both are
 * what a kernel can reach on this machine now (on a shared machine, what is left of it). */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

#define PROBE_BYTES ((size_t)512 << 20)
#define FMA_ITERS 20000000L
#define CHAINS 12

/* Multiply-adds of `iters` rounds of CHAINS vector FMAs; returns FLOPs done (2 per FMA). */
typedef double (*fma_loop_fn)(long iters);

static double fma_loop_c(long iters) {
    float a[CHAINS], m = 0.999f, c = 1e-3f;
    for (int i = 0; i < CHAINS; i++) a[i] = (float)i;
    for (long r = 0; r < iters; r++)
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * m + c;
    volatile float sink = a[0];
    (void)sink;
    return 2.0 * CHAINS * (double)iters;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters) {
    __m512 a[CHAINS], m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < iters; r++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 2.0 * 16 * CHAINS * (double)iters;
}

__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters) {
    __m256 a[CHAINS], m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < iters; r++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    volatile float sink = v[0];
    (void)sink;
    return 2.0 * 8 * CHAINS * (double)iters;
}
#endif

typedef struct probe_job {
    const pd_kernel_ops *ops;
    const float *buf;
    size_t per;          /* floats per thread */
    fma_loop_fn fma;
    double flops[64];
    float sums[64];
} probe_job;

static void read_task(void *ctx, size_t task, int thread) {
    probe_job *j = ctx;
    const float *p = j->buf + task * j->per;
    float s = 0;
    for (size_t off = 0; off < j->per; off += (size_t)1 << 20) {
        size_t n = j->per - off < ((size_t)1 << 20) ? j->per - off : (size_t)1 << 20;
        s += j->ops->dot(p + off, p + off, (int)n);
    }
    j->sums[task] = s;
}

static void fma_task(void *ctx, size_t task, int thread) {
    probe_job *j = ctx;
    j->flops[task] = j->fma(FMA_ITERS / 4);
}

/* Measure; see model.h. */
int pd_machine_probe(int n_threads, pd_machine_limits *out, pd_error *err) {
    memset(out, 0, sizeof *out);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    pd_pool *pool = pd_pool_new(n_threads, err);
    if (!pool) return PD_ENOMEM;
    float *buf = malloc(PROBE_BYTES);
    if (!buf) {
        pd_pool_free(pool);
        return pd_err_set(err, PD_ENOMEM, "machine probe: out of memory");
    }
    size_t n = PROBE_BYTES / sizeof *buf;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7) * 0.125f;
    probe_job j = {.ops = pd_kernels_best(), .buf = buf, .per = n / (size_t)n_threads, .fma = fma_loop_c};
    out->kernels = j.ops->name;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    if (pd_kernels_avx512()) j.fma = fma_loop_avx512;
    else if (pd_kernels_avx2()) j.fma = fma_loop_avx2;
#endif
    for (int pass = 0; pass < 3; pass++) {
        double t0 = pd_now();
        pd_pool_run(pool, (size_t)n_threads, read_task, &j);
        double gbs = (double)(j.per * (size_t)n_threads * sizeof *buf) / (pd_now() - t0) / 1e9;
        if (gbs > out->read_gbs) out->read_gbs = gbs;
    }
    for (int pass = 0; pass < 3; pass++) {
        double t0 = pd_now();
        pd_pool_run(pool, (size_t)n_threads, fma_task, &j);
        double dt = pd_now() - t0, flops = 0;
        for (int t = 0; t < n_threads; t++) flops += j.flops[t];
        if (flops / dt / 1e9 > out->fma_gflops) out->fma_gflops = flops / dt / 1e9;
    }
    free(buf);
    pd_pool_free(pool);
    return 0;
}
