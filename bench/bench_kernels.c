/* bench_kernels.c — bf16 weights in the AVX-512 set (converted to fp32, fp32 FMA) against the
 * AVX512-BF16 set (vdpbf16ps on activations rounded to bf16), one thread, back to back.
 *
 *   make bench && build/bench/bench_kernels
 *
 * Prints, per CPU second of the thread (time spent descheduled on a shared machine does not
 * count; a busy hyperthread sibling still does):
 *   1. the instructions themselves: vfmadd231ps and vdpbf16ps on registers only (24
 *      independent accumulators), as instructions and as multiply-adds per second;
 *   2. the 4 x nr register tile alone (4 x 6 in AVX-512, 4 x 3 in AVX2), operands in L1 (k = 512);
 *   3. whole matmuls of Qwen2.5-0.5B's shapes (896 -> 896, 896 -> 128, 896 -> 4864, 4864 -> 896
 *      and the lm_head, 896 -> 151936) at T = 1 (decode), 16 (tree branches), 128 and 512 (prefill):
 *      the AVX-512 set on row-major weights (pd_matmul_rows), the same set on panel-packed
 *      weights (mm_panels: what the forward pass runs), and the AVX512-BF16 set (rows, the
 *      activations rounded once per call, as the forward pass does); the panels' rate also as a
 *      share of the FMA peak of line 1 (16 multiply-adds per vfmadd231ps).
 * Arguments (optional): --set NAME (avx2 or avx512, default avx512: the set whose rows and
 * panels are measured; the AVX512-BF16 column only with avx512; for avx2 the peak is
 * vfmadd231ps on ymm, 8 multiply-adds each), --panels (only the panel kernels, the prefill
 * shapes, no lm_head: a quick check of mm_panels), then a list of T to run instead of
 * 1 16 128 512.
 * Never fails; a set the CPU lacks is skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels.h"
#include "model/safetensors.h"

/* This thread's CPU time. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CHAINS 24

/* Instructions per CPU second of 24 independent vfmadd231ps chains. */
__attribute__((target("avx512f"))) static double fma_rate(long iters) {
    __m512 c[CHAINS], a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < CHAINS; i++) c[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long r = 0; r < iters; r++)
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) c[i] = _mm512_fmadd_ps(a, b, c[i]);
    double el = now() - t0;
    volatile float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(c[i]);
    return (double)CHAINS * iters / el;
}

/* The same on ymm registers (the AVX2 set's peak), 12 chains: 8 multiply-adds each. */
__attribute__((target("avx2,fma"))) static double fma_rate_ymm(long iters) {
    __m256 c[12], a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    double t0 = now();
    for (long r = 0; r < iters; r++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(a, b, c[i]);
    double el = now() - t0;
    volatile float sink = 0;
    float o[8];
    for (int i = 0; i < 12; i++) _mm256_storeu_ps(o, c[i]), sink += o[0];
    return 12.0 * iters / el;
}

/* The same for vdpbf16ps (32 multiply-adds each, against 16). */
__attribute__((target("avx512f,avx512bf16"))) static double dpbf16_rate(long iters) {
    __m512 c[CHAINS];
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f7f), b = (__m512bh)_mm512_set1_epi16(0x3a80);
    for (int i = 0; i < CHAINS; i++) c[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long r = 0; r < iters; r++)
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) c[i] = _mm512_dpbf16_ps(c[i], a, b);
    double el = now() - t0;
    volatile float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(c[i]);
    return (double)CHAINS * iters / el;
}
#endif

/* Multiply-adds per CPU second of the 4 x nr tile on operands in L1, best of 5 runs. */
static double tile_rate(const pd_kernel_ops *ops, int bf16, const void *const *w, const void *x, int k) {
    float acc[4 * 8 * 16];
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int n = 0; n < 20000; n++) {
            if (bf16) ops->tile_bf16(6, w, x, (size_t)k, 0, k, acc, 1);
            else ops->tile(ops->nr, w, PD_DT_F32, x, (size_t)k, 0, k, acc, 1);
        }
        double r = 20000.0 * 4 * ops->nr * k / (now() - t0);
        if (r > best) best = r;
    }
    return best;
}

/* Multiply-adds per CPU second of one matmul, repeated for about 0.1 s, best of 10 (the best
 * of many short runs: on a shared machine a neighbour's burst slows some of them); panels:
 * a->w is packed and run by mm_panels. */
static double mm_rate(const pd_kernel_ops *ops, const pd_mm *a, uint16_t *xb, float *scratch, int panels) {
    double best = 0;
    for (int rep = 0; rep < 10; rep++) {
        int it = 0;
        double t0 = now(), el;
        do {
            if (panels) ops->mm_panels(a, 0, (a->rows + PD_PANEL - 1) / PD_PANEL, scratch);
            else if (ops->round_bf16) {
                for (size_t t = 0; t < a->T; t++) ops->round_bf16(a->x + t * a->cols, xb + t * a->cols, a->cols);
                pd_matmul_rows_bf16(ops, a, xb, 0, a->rows, scratch);
            } else pd_matmul_rows(ops, a, 0, a->rows, scratch);
            it++;
            el = now() - t0;
        } while (el < 0.1);
        double r = (double)a->rows * a->cols * (double)a->T * it / el;
        if (r > best) best = r;
    }
    return best;
}

int main(int argc, char **argv) {
    double peak = 0; /* multiply-adds per CPU second of vfmadd231ps, 0 where unknown */
    int avx2 = argc > 2 && !strcmp(argv[1], "--set") && !strcmp(argv[2], "avx2");
    if (argc > 2 && !strcmp(argv[1], "--set")) argc -= 2, argv += 2;
    const pd_kernel_ops *sets[] = {avx2 ? pd_kernels_avx2() : pd_kernels_avx512(), avx2 ? NULL : pd_kernels_avx512bf16()};
    if (!sets[0]) {
        printf("no %s on this CPU\n", avx2 ? "AVX2" : "AVX-512");
        return 0;
    }
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    if (avx2) {
        double f = fma_rate_ymm(20000000);
        peak = 8 * f;
        printf("vfmadd231ps ymm: %.2f G/s = %.1f GMAC/s\n", f / 1e9, 8 * f / 1e9);
    }
    double f = avx2 ? 0 : fma_rate(20000000);
    if (!avx2) peak = 16 * f;
    if (!avx2) printf("vfmadd231ps zmm: %.2f G/s = %.1f GMAC/s\n", f / 1e9, 16 * f / 1e9);
    if (sets[1]) {
        double d = dpbf16_rate(5000000);
        printf("vdpbf16ps zmm:   %.2f G/s = %.1f GMAC/s (%.2fx the instructions, %.2fx the multiply-adds)\n", d / 1e9,
               32 * d / 1e9, d / f, 2 * d / f);
    }
#endif
    int panels_only = argc > 1 && !strcmp(argv[1], "--panels");
    if (panels_only) argc--, argv++;
    /* the tile, operands in L1 */
    enum { K = 512 };
    float *wf = malloc(4 * K * sizeof *wf), *xf = malloc(6 * K * sizeof *xf);
    uint16_t *wb = malloc(4 * K * sizeof *wb), *xq = malloc(6 * K * sizeof *xq);
    srand(1);
    for (int i = 0; i < 4 * K; i++) wf[i] = (float)rand() / RAND_MAX - 0.5f, wb[i] = (uint16_t)(0x3c00 + rand() % 0x800);
    for (int i = 0; i < 6 * K; i++) xf[i] = (float)rand() / RAND_MAX - 0.5f, xq[i] = (uint16_t)(0x3c00 + rand() % 0x800);
    const void *wfr[4] = {wf, wf + K, wf + 2 * K, wf + 3 * K}, *wbr[4] = {wb, wb + K, wb + 2 * K, wb + 3 * K};
    if (!panels_only) {
        printf("tile 4x%d, k = %d, in L1: %s %.1f GMAC/s", sets[0]->nr, K, sets[0]->name, tile_rate(sets[0], 0, wfr, xf, K) / 1e9);
        if (sets[1]) printf(", %s %.1f GMAC/s", sets[1]->name, tile_rate(sets[1], 1, wbr, xq, K) / 1e9);
        printf("\n");
    }
    /* matmuls of the model's shapes */
    int shapes[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
    size_t Ts[16] = {1, 16, 128, 512}, nT = 4, maxT = 0;
    if (argc > 1) nT = 0;
    for (int i = 1; i < argc && nT < 16; i++) Ts[nT++] = (size_t)atol(argv[i]);
    for (size_t i = 0; i < nT; i++) maxT = Ts[i] > maxT ? Ts[i] : maxT;
    printf("matmul (rows x cols), bf16 weights, GMAC per CPU second:\n");
    for (int s = 0; s < (panels_only ? 4 : 5); s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        uint16_t *w = malloc((size_t)rows * cols * sizeof *w), *xb = malloc(maxT * (size_t)cols * sizeof *xb);
        uint16_t *wp = malloc(pd_panel_elems(rows, cols) * sizeof *wp);
        float *x = malloc(maxT * (size_t)cols * sizeof *x), *y = malloc(maxT * (size_t)rows * sizeof *y);
        float *scratch = malloc(PD_PANEL_SCRATCH(cols) * sizeof *scratch);
        for (size_t i = 0; i < (size_t)rows * cols; i++) w[i] = (uint16_t)(0x3c00 + rand() % 0x800) | (rand() & 1 ? 0x8000 : 0);
        pd_panel_pack(w, PD_DT_BF16, rows, cols, 0, (rows + PD_PANEL - 1) / PD_PANEL, wp);
        for (size_t i = 0; i < maxT * (size_t)cols; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t ti = 0; ti < nT; ti++) {
            pd_mm a = {w, PD_DT_BF16, rows, cols, x, Ts[ti], NULL, y, NULL, NULL}, ap = a;
            ap.w = wp;
            printf("  %6d x %4d T = %3zu:", rows, cols, Ts[ti]);
            double base = panels_only ? 0 : mm_rate(sets[0], &a, xb, scratch, 0);
            if (!panels_only) printf("  %s rows %5.1f", sets[0]->name, base / 1e9);
            if (sets[0]->mm_panels) {
                double r = mm_rate(sets[0], &ap, xb, scratch, 1);
                printf("  panels %5.1f (", r / 1e9);
                if (base > 0) printf("%.2fx, ", r / base);
                if (peak > 0) printf("%.0f%% of peak", 100 * r / peak);
                printf(")");
            }
            if (sets[1] && rows < 100000 && !panels_only) {
                double r = mm_rate(sets[1], &a, xb, scratch, 0);
                printf("  %s %5.1f (%.2fx)", sets[1]->name, r / 1e9, r / base);
            }
            printf("\n");
            fflush(stdout);
        }
        free(w), free(wp), free(xb), free(x), free(y), free(scratch);
    }
    free(wf), free(xf), free(wb), free(xq);
    return 0;
}
