/* kernels_avx2.c — the AVX2 kernel set (with FMA and F16C): 8 lanes.
 *
 * The contract is in kernels.c: one 8-lane accumulator per dot product, elements in
 * increasing order, pd_kernel_reduce's tree at the end. The functions carry target
 * attributes and are only reached through pd_kernels_avx2(), which asks the CPU first, so
 * the library still builds for (and runs on) baseline x86-64.
 *
 * The tile is 4 weight rows x up to 3 activation rows: 12 accumulators, 4 weight vectors
 * and one activation vector, 17 values for the 16 ymm registers, which compilers handle
 * with one reload of an activation vector; per 8 elements that is 12 multiply-adds against
 * 7-8 loads. As in the AVX-512 set, weights are fp32 (converted per block by the driver) or
 * BF16/F16 converted in registers, prefetching the next group of rows. */
#include "engine/kernels.h"

#include <stddef.h>
#include <string.h>

#include "model/safetensors.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define LANES 8
#define MR 4
#define NR 3

/* Elements [i, i + 8) of a row stored as dt, as fp32. */
AVX2 INLINE __m256 load8(const void *p, int dt, size_t i) {
    if (dt == PD_DT_F32) return _mm256_loadu_ps((const float *)p + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    if (dt == PD_DT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* The last partial vector (n < 8 elements), zero-padded. */
AVX2 INLINE __m256 load8_tail(const void *p, int dt, size_t i, int n) {
    if (dt == PD_DT_F32) {
        float b[8] = {0};
        memcpy(b, (const float *)p + i, (size_t)n * sizeof *b);
        return _mm256_loadu_ps(b);
    }
    uint16_t b[8] = {0};
    memcpy(b, (const uint16_t *)p + i, (size_t)n * sizeof *b);
    return load8(b, dt, 0);
}

/* pd_kernel_reduce's tree on a register: (0+4, 1+5, 2+6, 3+7) -> ((0+4)+(2+6)) + ((1+5)+(3+7)). */
AVX2 INLINE float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* One dot product in the contract's order; the body of dot and dot_w. */
AVX2 INLINE float dot_gen(const void *w, int dt, const float *x, int n) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + LANES <= n; i += LANES) s = _mm256_fmadd_ps(load8(w, dt, (size_t)i), _mm256_loadu_ps(x + i), s);
    if (i < n) s = _mm256_fmadd_ps(load8_tail(w, dt, (size_t)i, n - i), load8_tail(x, PD_DT_F32, (size_t)i, n - i), s);
    return hsum8(s);
}

AVX2 static float dot_avx2(const float *a, const float *b, int n) { return dot_gen(a, PD_DT_F32, b, n); }

/* Dispatch on dtype once so each loop is specialised (no per-load branch). */
AVX2 static float dot_w_avx2(const void *w, int dt, const float *x, int n) {
    if (dt == PD_DT_BF16) return dot_gen(w, PD_DT_BF16, x, n);
    if (dt == PD_DT_F16) return dot_gen(w, PD_DT_F16, x, n);
    return dot_gen(w, PD_DT_F32, x, n);
}

AVX2 static void to_f32_avx2(const void *src, int dt, float *dst, int n) {
    if (dt == PD_DT_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm256_storeu_ps(dst + i, load8(src, dt, (size_t)i));
    const uint16_t *h = src;
    for (; i < n; i++) dst[i] = dt == PD_DT_BF16 ? pd_bf16_to_f32(h[i]) : pd_f16_to_f32(h[i]);
}

AVX2 static void axpy_avx2(float a, const float *x, float *y, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* Four accumulators reduced at once in pd_kernel_reduce's order: fold 8 -> 4 lanes two
 * accumulators per register, then the last two steps in-lane. */
AVX2 static void reduce4_avx2(const float *acc, size_t stride, float out[4]) {
    __m256 a = _mm256_loadu_ps(acc), b = _mm256_loadu_ps(acc + stride);
    __m256 c = _mm256_loadu_ps(acc + 2 * stride), d = _mm256_loadu_ps(acc + 3 * stride);
    /* [a0-3 | b0-3] + [a4-7 | b4-7]: lane l + lane l + 4 */
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    /* (0+2, 1+3), then their sum, in element 0 of each 128-bit lane */
    ab = _mm256_add_ps(ab, _mm256_permute_ps(ab, _MM_SHUFFLE(1, 0, 3, 2)));
    ab = _mm256_add_ps(ab, _mm256_permute_ps(ab, _MM_SHUFFLE(2, 3, 0, 1)));
    cd = _mm256_add_ps(cd, _mm256_permute_ps(cd, _MM_SHUFFLE(1, 0, 3, 2)));
    cd = _mm256_add_ps(cd, _mm256_permute_ps(cd, _MM_SHUFFLE(2, 3, 0, 1)));
    out[0] = _mm256_cvtss_f32(ab);
    out[1] = _mm_cvtss_f32(_mm256_extractf128_ps(ab, 1));
    out[2] = _mm256_cvtss_f32(cd);
    out[3] = _mm_cvtss_f32(_mm256_extractf128_ps(cd, 1));
}

/* The tile for a fixed activation-row count NX and weight dtype DT (both constants after
 * inlining, so the accumulator arrays live in registers). */
AVX2 INLINE void tile_gen(const int NX, const int DT, const void *const *w, const float *x, size_t ldx, int k0, int k1,
                          float *acc, int first) {
    __m256 c[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) c[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + (i * NR + j) * LANES);
    /* stored weights come from memory: fetch the next group of MR rows (contiguous after
     * this one, and the next block's first rows after a block's last group) while this one
     * is in flight, one line per row per 64 bytes */
    const int prefetch = DT != PD_DT_F32;
    const size_t es = DT == PD_DT_F32 ? 4 : 2;
    const ptrdiff_t ahead = MR * ((const char *)w[1] - (const char *)w[0]);
    int k = k0;
    for (; k + LANES <= k1; k += LANES) {
        __m256 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            wv[i] = load8(w[i], DT, (size_t)k);
            if (prefetch && !(k & 31)) _mm_prefetch((const char *)w[i] + (size_t)k * es + ahead, _MM_HINT_T0);
        }
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) {
            __m256 xv = _mm256_loadu_ps(x + j * ldx + k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
    if (k < k1) {
        __m256 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) wv[i] = load8_tail(w[i], DT, (size_t)k, k1 - k);
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) {
            __m256 xv = load8_tail(x + j * ldx, PD_DT_F32, (size_t)k, k1 - k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) _mm256_storeu_ps(acc + (i * NR + j) * LANES, c[i][j]);
}

/* One specialised tile per (dtype, activation rows). */
#define TILE_FN(DT, NX)                                                                                              \
    AVX2 static void tile_##DT##_##NX(const void *const *w, const float *x, size_t ldx, int k0, int k1, float *acc,   \
                                      int first) {                                                                   \
        tile_gen(NX, PD_DT_##DT, w, x, ldx, k0, k1, acc, first);                                                     \
    }
#define TILE_FNS(DT) TILE_FN(DT, 1) TILE_FN(DT, 2) TILE_FN(DT, 3)
TILE_FNS(F32)
TILE_FNS(BF16)
TILE_FNS(F16)

typedef void (*tile_fn)(const void *const *, const float *, size_t, int, int, float *, int);
static const tile_fn tiles_f32[NR] = {tile_F32_1, tile_F32_2, tile_F32_3};
static const tile_fn tiles_bf16[NR] = {tile_BF16_1, tile_BF16_2, tile_BF16_3};
static const tile_fn tiles_f16[NR] = {tile_F16_1, tile_F16_2, tile_F16_3};

static void tile_avx2(int nx, const void *const *w, int dt, const float *x, size_t ldx, int k0, int k1, float *acc,
                      int first) {
    const tile_fn *t = dt == PD_DT_BF16 ? tiles_bf16 : dt == PD_DT_F16 ? tiles_f16 : tiles_f32;
    t[nx - 1](w, x, ldx, k0, k1, acc, first);
}

/* pd_exp_det on 8 lanes: the same operations (kernels.h). */
AVX2 static inline __m256 exp_det8(__m256 d) {
    __m256 keep = _mm256_cmp_ps(d, _mm256_set1_ps(PD_EXP_DET_MIN), _CMP_GE_OQ); /* false for NaN */
    d = _mm256_min_ps(d, _mm256_setzero_ps());
    __m256 R = _mm256_set1_ps(PD_EXP_DET_ROUND);
    __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(d, _mm256_set1_ps(PD_EXP_DET_LOG2E)), R), R);
    __m256 r = _mm256_sub_ps(d, _mm256_mul_ps(n, _mm256_set1_ps(PD_EXP_DET_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(PD_EXP_DET_LN2_LO)));
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 120));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 24));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 6));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

AVX2 static double exp_sum_avx2(const float *x, float scale, float shift, float *out, size_t n) {
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int h = 0; h < 2; h++) {
            __m256 e = exp_det8(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), sc), sh));
            if (out) _mm256_storeu_ps(out + i + 8 * h, e);
            a[2 * h] = _mm256_add_pd(a[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            a[2 * h + 1] = _mm256_add_pd(a[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        }
    double lanes[16];
    for (int q = 0; q < 4; q++) _mm256_storeu_pd(lanes + 4 * q, a[q]);
    return pd_exp_sum_finish(lanes, x, scale, shift, out, i, n);
}

static const pd_kernel_ops avx2_ops = {
    .name = "avx2", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = dot_avx2, .dot_w = dot_w_avx2, .to_f32 = to_f32_avx2, .axpy = axpy_avx2, .tile = tile_avx2,
    .reduce4 = reduce4_avx2,
    .silu_mul = pd_silu_mul_c, .softmax = pd_softmax_c, .exp_sum = exp_sum_avx2,
};

const pd_kernel_ops *pd_kernels_avx2(void) {
    __builtin_cpu_init();
    unsigned a, b, c, d;
    /* F16C is CPUID.1:ECX bit 29 (not every compiler's __builtin_cpu_supports knows it) */
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) return &avx2_ops;
    return NULL;
}
#else
const pd_kernel_ops *pd_kernels_avx2(void) { return NULL; }
#endif
