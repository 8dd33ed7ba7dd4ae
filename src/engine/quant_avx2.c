/* quant_avx2.c — fused dequantize-and-dot kernels for GGUF blocks, AVX2 + FMA + F16C (8 lanes).
 *
 * The same design as quant_avx512.c, for the AVX2 kernel set's contract: each 8-value slice
 * of the quantized row is decoded in registers with quant.c's reference operations (never
 * fused) and multiplied into one 8-lane accumulator per activation row, in increasing element
 * order, reduced by pd_kernel_reduce's tree: bit for bit the AVX2 set's dot (and tile) on the
 * dequantized row. MR (4) weight rows and up to QNX (2) activation rows per call (16 ymm
 * registers: 8 accumulators, the weight vector, an activation vector, scales and masks).
 *
 * Only reached through pd_qkernels_avx2(), which asks the CPU first. */
#include "engine/quant.h"

#include <stddef.h>
#include <string.h>

#include "model/gguf.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define MR 4
#define QNX 2

/* An IEEE half at p (F16C: the same value as pd_f16_to_f32). */
AVX2 INLINE float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* pd_kernel_reduce's tree for 8 lanes: ((0+4)+(2+6)) + ((1+5)+(3+7)). */
AVX2 INLINE float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* 8 bytes at p, zero- or sign-extended to 8 int32 lanes. */
AVX2 INLINE __m256i u8x8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
AVX2 INLINE __m256i i8x8(const uint8_t *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)); }

/* NX 0 (dequantize): row i of out (stride ldx) gets wv at k; else c[i][j] += wv * x[j][k .. k + 8) for every activation row j < NX. */
#define ACC(i, wv, k)                                                                                                \
    do {                                                                                                             \
        __m256 w_ = (wv);                                                                                            \
        if (NX == 0) _mm256_storeu_ps(out + (size_t)(i) * ldx + (size_t)(k), w_);                                       \
        else _Pragma("GCC unroll 2") for (int j_ = 0; j_ < NX; j_++) c[i][j_] =                                     \
            _mm256_fmadd_ps(w_, _mm256_loadu_ps(x + (size_t)j_ * ldx + (size_t)(k)), c[i][j_]);                           \
    } while (0)

/* MR x NX accumulators (independent chains for the FMA units; see quant_avx512.c). */
#define BEGIN                                                                                                        \
    const ptrdiff_t ahead = MR * (w[1] - w[0]);                                                                      \
    __m256 c[MR][QNX];                                                                                               \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)      \
        c[i][j] = _mm256_setzero_ps()
#define END                                                                                                          \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)      \
        out[i * NX + j] = hsum8(c[i][j])
#define ROWS for (int i = 0; i < MR; i++)

#define PREFETCH(p) _mm_prefetch((const char *)(p) + ahead, _MM_HINT_T0)

/* Q8_0: w = d * q. */
AVX2 INLINE void q8_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    for (int k = 0, o = 0; k < n; k += 32, o += 34) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            PREFETCH(b);
            __m256 d = _mm256_set1_ps(h2f(b));
            _Pragma("GCC unroll 4") for (int s = 0; s < 4; s++)
                ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(i8x8(b + 2 + 8 * s))), k + 8 * s);
        }
    }
    END;
}

/* Q4_0: w = d * (q - 8); byte j holds value j (low nibble) and j + 16 (high). */
AVX2 INLINE void q4_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m256i m4 = _mm256_set1_epi32(15), e8 = _mm256_set1_epi32(8);
    for (int k = 0, o = 0; k < n; k += 32, o += 18) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m256 d = _mm256_set1_ps(h2f(b));
            __m256i v0 = u8x8(b + 2), v1 = u8x8(b + 10);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v0, m4), e8))), k);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v1, m4), e8))), k + 8);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v0, 4), e8))), k + 16);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v1, 4), e8))), k + 24);
        }
    }
    END;
}

/* Q5_0: w = d * ((q | h << 4) - 16); bit j of qh is value j's fifth bit. The 32 values are
 * assembled as bytes first (nibbles, plus 16 where the fifth bit is set: qh's bytes spread
 * over the lanes and tested against one bit per byte), minus 16, then widened 8 at a time. */
AVX2 INLINE void q5_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m128i b4 = _mm_set1_epi8(15);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull), b16 = _mm256_set1_epi8(16);
    for (int k = 0, o = 0; k < n; k += 32, o += 22) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m256 d = _mm256_set1_ps(h2f(b));
            uint32_t qh;
            memcpy(&qh, b + 2, 4);
            __m128i qs = _mm_loadu_si128((const __m128i *)(b + 6));
            __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), b4), _mm_and_si128(qs, b4));
            __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread);
            h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), b16);
            q = _mm256_sub_epi8(_mm256_or_si256(q, h), b16);
            __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0))), k);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8)))), k + 8);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1))), k + 16);
            ACC(i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8)))), k + 24);
        }
    }
    END;
}

/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (12 packed bytes). */
INLINE void scale_min_k4(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K (FIVE 0) and Q5_K (FIVE 1): see quant_avx512.c; one 32-value half-chunk per row. */
AVX2 INLINE void k45_gen(const int NX, const int FIVE, const uint8_t *const *w, const float *x, size_t ldx, int n,
                         float *out) {
    BEGIN;
    const size_t bb = FIVE ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi32(15), one = _mm256_set1_epi32(1);
    for (int k = 0; k < n; k += 256) {
        size_t o = (size_t)(k / 256) * bb;
        for (int j = 0; j < 4; j++) {
            for (int half = 0; half < 2; half++) { /* low nibbles (values 0..31), then high (32..63) */
                _Pragma("GCC unroll 4") ROWS {
                    const uint8_t *b = w[i] + o;
                    if (j == 0 && half == 0) PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128);
                    const uint8_t *sc = b + 4, *qh = b + 16, *q = (FIVE ? b + 48 : b + 16) + 32 * j;
                    int s1, m1;
                    scale_min_k4(2 * j + half, sc, &s1, &m1);
                    __m256 dd = _mm256_set1_ps(h2f(b) * (float)s1), mm = _mm256_set1_ps(h2f(b + 2) * (float)m1);
                    for (int s = 0; s < 4; s++) {
                        __m256i v = u8x8(q + 8 * s);
                        v = half ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, m4);
                        if (FIVE)
                            v = _mm256_or_si256(v, _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u8x8(qh + 8 * s), 2 * j + half), one), 4));
                        ACC(i, _mm256_sub_ps(_mm256_mul_ps(dd, _mm256_cvtepi32_ps(v)), mm), k + 64 * j + 32 * half + 8 * s);
                    }
                }
            }
        }
    }
    END;
}

/* Q6_K: see quant_avx512.c; 8 values share a scale with their neighbours (16 per scale). */
AVX2 INLINE void q6_k_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m256i m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3), e32 = _mm256_set1_epi32(32);
    for (int k = 0; k < n; k += 256) {
        size_t o = (size_t)(k / 256) * 210;
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                _Pragma("GCC unroll 4") ROWS {
                    const uint8_t *b = w[i] + o;
                    if (h == 0 && g == 0) PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128), PREFETCH(b + 192);
                    float d = h2f(b + 208);
                    const uint8_t *ql = b + 64 * h + 32 * (g & 1), *qh = b + 128 + 32 * h;
                    const int8_t *sc = (const int8_t *)(b + 192 + 8 * h);
                    __m256 ds0 = _mm256_set1_ps(d * (float)sc[2 * g]), ds1 = _mm256_set1_ps(d * (float)sc[2 * g + 1]);
                    for (int s = 0; s < 4; s++) {
                        __m256i v = u8x8(ql + 8 * s);
                        v = g < 2 ? _mm256_and_si256(v, m4) : _mm256_srli_epi32(v, 4);
                        v = _mm256_or_si256(v, _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u8x8(qh + 8 * s), 2 * g), m2), 4));
                        ACC(i, _mm256_mul_ps(s < 2 ? ds0 : ds1, _mm256_cvtepi32_ps(_mm256_sub_epi32(v, e32))), k + 128 * h + 32 * g + 8 * s);
                    }
                }
            }
        }
    }
    END;
}

/* One specialised function per (type, activation rows). */
typedef void (*qfn)(const uint8_t *const *, const float *, size_t, int, float *);
#define QFN(NAME, NX, CALL)                                                                                         \
    AVX2 static void NAME##_##NX(const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) { CALL; }
#define QFNS(NAME, CALL_NX) QFN(NAME, 0, CALL_NX(0)) QFN(NAME, 1, CALL_NX(1)) QFN(NAME, 2, CALL_NX(2)) static const qfn NAME##_fns[QNX + 1] = {NAME##_0, NAME##_1, NAME##_2};
#define Q8_0_CALL(NX) q8_0_gen(NX, w, x, ldx, n, out)
#define Q4_0_CALL(NX) q4_0_gen(NX, w, x, ldx, n, out)
#define Q5_0_CALL(NX) q5_0_gen(NX, w, x, ldx, n, out)
#define Q4_K_CALL(NX) k45_gen(NX, 0, w, x, ldx, n, out)
#define Q5_K_CALL(NX) k45_gen(NX, 1, w, x, ldx, n, out)
#define Q6_K_CALL(NX) q6_k_gen(NX, w, x, ldx, n, out)
QFNS(q8_0, Q8_0_CALL)
QFNS(q4_0, Q4_0_CALL)
QFNS(q5_0, Q5_0_CALL)
QFNS(q4_k, Q4_K_CALL)
QFNS(q5_k, Q5_K_CALL)
QFNS(q6_k, Q6_K_CALL)

/* The functions for a type (index: activation rows; 0 dequantizes), or NULL. */
static const qfn *fns(int type) {
    switch (type) {
    case PD_GGML_Q8_0: return q8_0_fns;
    case PD_GGML_Q4_0: return q4_0_fns;
    case PD_GGML_Q5_0: return q5_0_fns;
    case PD_GGML_Q4_K: return q4_k_fns;
    case PD_GGML_Q5_K: return q5_k_fns;
    case PD_GGML_Q6_K: return q6_k_fns;
    default: return NULL;
    }
}

static int qdot_avx2(int type, const void *const *w, const float *x, size_t ldx, int nx, int n, float *out) {
    const qfn *f = fns(type);
    if (!f) return -1;
    f[nx]((const uint8_t *const *)w, x, ldx, n, out);
    return 0;
}

static int qdeq_avx2(int type, const void *const *w, float *dst, size_t ldd, int n) {
    const qfn *f = fns(type);
    if (!f) return -1;
    f[0]((const uint8_t *const *)w, NULL, ldd, n, dst);
    return 0;
}

static const pd_qkernels qk_avx2 = {.name = "avx2", .lanes = 8, .mr = MR, .max_nx = QNX, .dot = qdot_avx2, .dequant = qdeq_avx2};

const pd_qkernels *pd_qkernels_avx2(void) {
    return pd_kernels_avx2() ? &qk_avx2 : NULL; /* the same CPU test as the AVX2 kernel set */
}
#else
const pd_qkernels *pd_qkernels_avx2(void) { return NULL; }
#endif
