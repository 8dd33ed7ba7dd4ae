/* avx512_inl.h — inline AVX-512 helpers shared by the AVX-512 kernel files (kernels_avx512.c,
 * kernels_avx512bf16.c, quant_avx512.c). Include after <immintrin.h>, inside those files'
 * x86 guard; each helper carries its own target attribute, so it inlines into any function
 * whose target includes AVX-512 F/BW/VL. */
#ifndef PD_AVX512_INL_H
#define PD_AVX512_INL_H

/* pd_kernel_reduce's tree on a register: 16 -> 8 lanes, then the AVX horizontal sum (every set's
 * results depend on this order: change it only with the portable reduction). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) __attribute__((always_inline)) static inline float
pd_avx512_hsum16(__m512 v) {
    __m256 e = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(e), _mm256_extractf128_ps(e, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* A panel tile's accumulators c[j * NP + p] (NP panels x NX rows) stored, + bias, into rows
 * yr[j] at columns col + 16 p ..; the last panel's lanes from nlast on are not written. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) __attribute__((always_inline)) static inline void
pd_avx512_store_tile(const int NP, const int NX, const __m512 *c, float *const *yr, int col, int nlast, const float *bias) {
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) {
        __mmask16 m = p == NP - 1 && nlast < 16 ? (__mmask16)((1u << nlast) - 1) : (__mmask16)0xffff;
        __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + col + 16 * p) : _mm512_setzero_ps();
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m512 v = c[j * NP + p];
            if (bias) v = _mm512_add_ps(v, b);
            _mm512_mask_storeu_ps(yr[j] + col + 16 * p, m, v);
        }
    }
}

#endif
