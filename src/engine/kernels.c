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
 * __builtin_cpu_supports said yes, so the library itself builds for baseline x86-64. The
 * portable code keeps eight partial sums, the same association as one AVX register, so both
 * paths round alike (tests check they agree to ~1e-6 relative). */
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

static float dot_c(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

static void dot4_c(const float *w, const float *x, size_t ldx, int n, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = dot_c(w, x + (size_t)r * ldx, n);
}

static void to_f32_c(const void *src, int dtype, float *dst, int n) {
    const uint16_t *h = src;
    if (dtype == PD_DT_F32) memcpy(dst, src, (size_t)n * sizeof *dst);
    else if (dtype == PD_DT_BF16)
        for (int i = 0; i < n; i++) dst[i] = pd_bf16_to_f32(h[i]);
    else
        for (int i = 0; i < n; i++) dst[i] = pd_f16_to_f32(h[i]);
}

static float dot_w_c(const void *w, int dtype, const float *x, int n) {
    if (dtype == PD_DT_F32) return dot_c(w, x, n);
    const uint16_t *h = w;
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += (dtype == PD_DT_BF16 ? pd_bf16_to_f32(h[i + k]) : pd_f16_to_f32(h[i + k])) * x[i + k];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += (dtype == PD_DT_BF16 ? pd_bf16_to_f32(h[i]) : pd_f16_to_f32(h[i])) * x[i];
    return t;
}

static void axpy_c(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static const pd_kernel_ops portable_ops = {"portable", dot_c, dot4_c, to_f32_c, dot_w_c, axpy_c};

const pd_kernel_ops *pd_kernels_portable(void) { return &portable_ops; }

/* ---- AVX2 + FMA + F16C ---- */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
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

AVX2 static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    float t = hsum8(s);
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

AVX2 static void dot4_avx2(const float *w, const float *x, size_t ldx, int n, float out[4]) {
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv = _mm256_loadu_ps(w + i);
        s0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + i), s0);
        s1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + i), s1);
        s2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + i), s2);
        s3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + i), s3);
    }
    float t0 = hsum8(s0), t1 = hsum8(s1), t2 = hsum8(s2), t3 = hsum8(s3);
    for (; i < n; i++) {
        t0 += w[i] * x0[i];
        t1 += w[i] * x1[i];
        t2 += w[i] * x2[i];
        t3 += w[i] * x3[i];
    }
    out[0] = t0, out[1] = t1, out[2] = t2, out[3] = t3;
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

AVX2 static float dot_w_avx2(const void *w, int dtype, const float *x, int n) {
    if (dtype == PD_DT_F32) return dot_avx2(w, x, n);
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(load8(w, dtype, i), _mm256_loadu_ps(x + i), s);
    float t = hsum8(s);
    const uint16_t *h = w;
    for (; i < n; i++) t += (dtype == PD_DT_BF16 ? pd_bf16_to_f32(h[i]) : pd_f16_to_f32(h[i])) * x[i];
    return t;
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
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return &avx2_ops;
    return NULL;
}
#else
const pd_kernel_ops *pd_kernels_avx2(void) { return NULL; }
#endif
