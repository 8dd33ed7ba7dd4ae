/* kernels.c — dot products and dtype conversion: portable C and AVX2/FMA/F16C.
 *
 * Everything the forward pass spends its time on reduces to dot products of an fp32
 * activation row with a weight row stored as F32, F16 or BF16. Two shapes matter:
 *   - decode (one token per sequence): dot_w reads the stored weights directly and converts
 *     in registers, so the weights are streamed exactly once;
 *   - prefill / wide batches: a block of weight rows is converted to fp32 once (to_f32) and
 *     each row is dotted with four activation rows at a time (dot4), so a weight load is
 *     reused four times from registers.
 * The AVX2 functions carry target attributes and are only called after
 * __builtin_cpu_supports said yes, so the library itself builds for baseline x86-64.
 *
 * Summation order is part of the contract: within one kernel set, dot, dot_w and dot4 add
 * the products in exactly the same order (4 accumulators of 8 lanes over blocks of 32, then
 * 8-wide blocks into the first, a fixed reduction, then the scalar tail). So a row computed
 * in a wide batch (dot4 on converted weights) is bit-identical to the same row computed alone
 * (dot_w): a sequence's logits, hence its samples, never depend on the batch it is in. The
 * portable code uses the same order without fused multiply-adds, so it agrees with AVX2 to
 * rounding (tests check ~1e-5 relative), not bit for bit. */
#include "engine/kernels.h"

#include <string.h>

#include "model/safetensors.h"

/* bf16 is the top half of an fp32. */
float pd_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half to fp32, subnormals, infinities and NaN included. */
float pd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) u = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0); /* NaNs come out quiet, as F16C does */
    else if (exp) u = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) u = sign;
    else {
        exp = 113;
        while (!(man & 0x400)) {
            man <<= 1;
            exp--;
        }
        u = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- portable C ---- */

/* Stored element i of a row as fp32. */
static inline float elem(const void *w, int dtype, int i) {
    if (dtype == PD_DT_F32) return ((const float *)w)[i];
    uint16_t h = ((const uint16_t *)w)[i];
    return dtype == PD_DT_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
}

/* sum w[i] * x[i] in the kernels' fixed order (see the top of the file). */
static float dot_gen(const void *w, int dtype, const float *x, int n) {
    float s[32] = {0};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; k++) s[k] += elem(w, dtype, i + k) * x[i + k];
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += elem(w, dtype, i + k) * x[i + k];
    float v[8];
    for (int k = 0; k < 8; k++) v[k] = (s[k] + s[8 + k]) + (s[16 + k] + s[24 + k]);
    /* the AVX reduction: (0+4, 1+5, 2+6, 3+7) -> ((0+4)+(2+6)) + ((1+5)+(3+7)) */
    float t = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
    for (; i < n; i++) t += elem(w, dtype, i) * x[i];
    return t;
}

static float dot_c(const float *a, const float *b, int n) { return dot_gen(a, PD_DT_F32, b, n); }

static void dot4_c(const float *w, const float *x, size_t ldx, int n, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = dot_gen(w, PD_DT_F32, x + (size_t)r * ldx, n);
}

static void to_f32_c(const void *src, int dtype, float *dst, int n) {
    if (dtype == PD_DT_F32) memcpy(dst, src, (size_t)n * sizeof *dst);
    else
        for (int i = 0; i < n; i++) dst[i] = elem(src, dtype, i);
}

static float dot_w_c(const void *w, int dtype, const float *x, int n) { return dot_gen(w, dtype, x, n); }

static void axpy_c(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static const pd_kernel_ops portable_ops = {"portable", dot_c, dot4_c, to_f32_c, dot_w_c, axpy_c};

const pd_kernel_ops *pd_kernels_portable(void) { return &portable_ops; }

/* ---- AVX2 + FMA + F16C ---- */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    /* lanes (0+4, 1+5, 2+6, 3+7) -> ((0+4)+(2+6)) + ((1+5)+(3+7)) */
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* Load 8 stored elements as fp32. */
AVX2 static inline __m256 load8(const void *p, int dtype, int i) {
    if (dtype == PD_DT_F32) return _mm256_loadu_ps((const float *)p + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    if (dtype == PD_DT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* sum w[i] * x[i] (w stored as dtype) in the fixed order; the body of dot and dot_w. */
AVX2 __attribute__((always_inline)) static inline float dot_gen_avx2(const void *w, int dtype, const float *x, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load8(w, dtype, i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(load8(w, dtype, i + 8), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8(w, dtype, i + 16), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8(w, dtype, i + 24), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8(w, dtype, i), _mm256_loadu_ps(x + i), s0);
    float t = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) t += elem(w, dtype, i) * x[i];
    return t;
}

AVX2 static float dot_avx2(const float *a, const float *b, int n) { return dot_gen_avx2(a, PD_DT_F32, b, n); }

/* Two input rows against one fp32 weight row, same order as dot_gen_avx2 for each. */
AVX2 static inline void dot2_avx2(const float *w, const float *x0, const float *x1, int n, float *o0, float *o1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        __m256 w2 = _mm256_loadu_ps(w + i + 16), w3 = _mm256_loadu_ps(w + i + 24);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);
        b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), b0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + i + 8), a1);
        b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + i + 8), b1);
        a2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x0 + i + 16), a2);
        b2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x1 + i + 16), b2);
        a3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x0 + i + 24), a3);
        b3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x1 + i + 24), b3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 w0 = _mm256_loadu_ps(w + i);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);
        b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), b0);
    }
    float ta = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    float tb = hsum8(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)));
    for (; i < n; i++) {
        ta += w[i] * x0[i];
        tb += w[i] * x1[i];
    }
    *o0 = ta;
    *o1 = tb;
}

AVX2 static void dot4_avx2(const float *w, const float *x, size_t ldx, int n, float out[4]) {
    dot2_avx2(w, x, x + ldx, n, &out[0], &out[1]);
    dot2_avx2(w, x + 2 * ldx, x + 3 * ldx, n, &out[2], &out[3]);
}

AVX2 static void to_f32_avx2(const void *src, int dtype, float *dst, int n) {
    if (dtype == PD_DT_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(src, dtype, i));
    const uint16_t *h = src;
    for (; i < n; i++) dst[i] = dtype == PD_DT_BF16 ? pd_bf16_to_f32(h[i]) : pd_f16_to_f32(h[i]);
}

/* Dispatch on dtype once so each loop is specialised (no per-load branch). */
AVX2 static float dot_w_avx2(const void *w, int dtype, const float *x, int n) {
    if (dtype == PD_DT_BF16) return dot_gen_avx2(w, PD_DT_BF16, x, n);
    if (dtype == PD_DT_F16) return dot_gen_avx2(w, PD_DT_F16, x, n);
    return dot_gen_avx2(w, PD_DT_F32, x, n);
}

AVX2 static void axpy_avx2(float a, const float *x, float *y, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static const pd_kernel_ops avx2_ops = {"avx2", dot_avx2, dot4_avx2, to_f32_avx2, dot_w_avx2, axpy_avx2};

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
