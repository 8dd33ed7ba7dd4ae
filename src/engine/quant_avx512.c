/* quant_avx512.c — fused dequantize-and-dot kernels for GGUF blocks, AVX-512 (16 lanes).
 *
 * One call takes MR (4) quantized weight rows and up to QNX (4) fp32 activation rows and
 * returns their MR x nx dot products. Each 16-value slice of the row is decoded in registers (integer
 * unpacking, int -> float, the scale multiplies of quant.c's reference, in the same order and
 * never fused) and multiplied into one 16-lane accumulator per (weight row, activation row), in increasing
 * element order, then reduced by pd_kernel_reduce's tree. That is exactly kernels.c's
 * contract for the AVX-512 set on the dequantized row, so every result is bit for bit what
 * dequantizing the row and calling the set's dot (or its tile, on a dequantized block) gives:
 * decode, few-row batches and wide prefill blocks agree, and a row's result never depends on
 * the batch. The activations stay fp32 (no 8-bit activation quantization; see quant.c).
 *
 * Only reached through pd_qkernels_avx512(), which asks the CPU first. */
#include "engine/quant.h"

#include <stddef.h>
#include <string.h>

#include "model/gguf.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define MR 4
#define QNX 4

/* An IEEE half at p (F16C: the same value as pd_f16_to_f32). */
AVX512 INLINE float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* pd_kernel_reduce's tree on a register: 16 -> 8 lanes, then the AVX horizontal sum. */
AVX512 INLINE float hsum16(__m512 v) {
    __m256 e = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(e), _mm256_extractf128_ps(e, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* 16 bytes at p, zero-extended to 16 int32 lanes. */
AVX512 INLINE __m512i u8x16(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }

/* NX 0 (dequantize): row i of out (stride ldx) gets wv at k; else c[i][j] += wv * x[j][k .. k + 16) for every activation row j < NX. */
#define ACC(i, wv, k)                                                                                                \
    do {                                                                                                             \
        __m512 w_ = (wv);                                                                                            \
        if (NX == 0) _mm512_storeu_ps(out + (size_t)(i) * ldx + (size_t)(k), w_);                                       \
        else _Pragma("GCC unroll 4") for (int j_ = 0; j_ < NX; j_++) c[i][j_] =                                     \
            _mm512_fmadd_ps(w_, _mm512_loadu_ps(x + (size_t)j_ * ldx + (size_t)(k)), c[i][j_]);                           \
    } while (0)

/* MR x NX accumulators: MR weight rows at once give the FMA units independent chains (one
 * accumulator per dot product is the contract; one row alone would wait on its latency). */
#define BEGIN                                                                                                        \
    const ptrdiff_t ahead = MR * (w[1] - w[0]);                                                                      \
    __m512 c[MR][QNX];                                                                                               \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++)      \
        c[i][j] = _mm512_setzero_ps()
#define END                                                                                                          \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 4") for (int j = 0; j < NX; j++)      \
        out[i * NX + j] = hsum16(c[i][j])
#define ROWS for (int i = 0; i < MR; i++)

/* The same bytes of the next group of MR rows (contiguous after these: a matrix's rows
 * are short, ~1 KB for Qwen2.5-0.5B, so "ahead in the row" would be inside this group). */
#define PREFETCH(p) _mm_prefetch((const char *)(p) + ahead, _MM_HINT_T0)

/* Q8_0: w = d * q. */
AVX512 INLINE void q8_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    for (int k = 0, o = 0; k < n; k += 32, o += 34) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            PREFETCH(b);
            __m512 d = _mm512_set1_ps(h2f(b));
            __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 2)));
            __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 18)));
            ACC(i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)), k);
            ACC(i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)), k + 16);
        }
    }
    END;
}

/* Q4_0: w = d * (q - 8); byte j holds value j (low nibble) and j + 16 (high). The block's 16
 * possible weights are computed once (the reference's own multiply) and looked up with
 * vpermps, which reads only the low 4 bits of each index: no masking, no conversion. */
AVX512 INLINE void q4_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m512 qm8 = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    for (int k = 0, o = 0; k < n; k += 32, o += 18) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m512 t = _mm512_mul_ps(_mm512_set1_ps(h2f(b)), qm8);
            __m512i v = u8x16(b + 2);
            ACC(i, _mm512_permutexvar_ps(v, t), k);
            ACC(i, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t), k + 16);
        }
    }
    END;
}

/* Q5_0: w = d * ((q | h << 4) - 16); qh's bit j is value j's fifth bit. Two 16-entry tables
 * (fifth bit clear: d * (q - 16); set: d * q), looked up by the nibble, the second under the
 * fifth bits as a lane mask. */
AVX512 INLINE void q5_0_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m512 q0 = _mm512_setr_ps(-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1);
    const __m512 q1 = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int k = 0, o = 0; k < n; k += 32, o += 22) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m512 d = _mm512_set1_ps(h2f(b));
            __m512 t0 = _mm512_mul_ps(d, q0), t1 = _mm512_mul_ps(d, q1);
            uint32_t qh;
            memcpy(&qh, b + 2, 4);
            __m512i v = u8x16(b + 6), hv = _mm512_srli_epi32(v, 4);
            ACC(i, _mm512_mask_permutexvar_ps(_mm512_permutexvar_ps(v, t0), (__mmask16)(qh & 0xffff), v, t1), k);
            ACC(i, _mm512_mask_permutexvar_ps(_mm512_permutexvar_ps(hv, t0), (__mmask16)(qh >> 16), hv, t1), k + 16);
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

/* Q4_K (FIVE 0) and Q5_K (FIVE 1): sub-block s of 32, w = (d * scale_s) * q - (dmin * min_s);
 * each 64 values share 32 bytes of nibbles (low: the first 32, high: the next 32) and, for
 * Q5_K, bits 2j and 2j + 1 of the 32 fifth-bit bytes. Rows go one 64-value chunk at a time
 * so that the four rows' chunks interleave. */
AVX512 INLINE void k45_gen(const int NX, const int FIVE, const uint8_t *const *w, const float *x, size_t ldx, int n,
                           float *out) {
    BEGIN;
    const size_t bb = FIVE ? 176 : 144;
    const __m512i m4 = _mm512_set1_epi32(15), one = _mm512_set1_epi32(1);
    for (int k = 0; k < n; k += 256) {
        size_t o = (size_t)(k / 256) * bb;
        /* each row's eight (d * scale, dmin * min) pairs, once per super-block (the reference's
         * products); the chunks below broadcast them from L1 */
        float scf[MR][8], mnf[MR][8];
        ROWS {
            const uint8_t *b = w[i] + o;
            PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128);
            float d = h2f(b), dmin = h2f(b + 2);
            for (int t = 0; t < 8; t++) {
                int sc, mn;
                scale_min_k4(t, b + 4, &sc, &mn);
                scf[i][t] = d * (float)sc, mnf[i][t] = dmin * (float)mn;
            }
        }
        for (int j = 0; j < 4; j++) {
            _Pragma("GCC unroll 4") ROWS {
                const uint8_t *b = w[i] + o;
                const uint8_t *qh = b + 16, *q = (FIVE ? b + 48 : b + 16) + 32 * j;
                __m512 d1 = _mm512_set1_ps(scf[i][2 * j]), mm1 = _mm512_set1_ps(mnf[i][2 * j]);
                __m512 d2 = _mm512_set1_ps(scf[i][2 * j + 1]), mm2 = _mm512_set1_ps(mnf[i][2 * j + 1]);
                __m512i v0 = u8x16(q), v1 = u8x16(q + 16);
                __m512i l0 = _mm512_and_si512(v0, m4), l1 = _mm512_and_si512(v1, m4);
                __m512i h0 = _mm512_srli_epi32(v0, 4), h1 = _mm512_srli_epi32(v1, 4);
                if (FIVE) {
                    __m512i b0 = u8x16(qh), b1 = u8x16(qh + 16);
                    l0 = _mm512_or_si512(l0, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b0, 2 * j), one), 4));
                    l1 = _mm512_or_si512(l1, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b1, 2 * j), one), 4));
                    h0 = _mm512_or_si512(h0, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b0, 2 * j + 1), one), 4));
                    h1 = _mm512_or_si512(h1, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b1, 2 * j + 1), one), 4));
                }
                int k0 = k + 64 * j;
                if (!FIVE) { /* the sub-blocks' 16 possible weights each, looked up (see q4_0_gen) */
                    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                    __m512 t1 = _mm512_sub_ps(_mm512_mul_ps(d1, iota), mm1), t2 = _mm512_sub_ps(_mm512_mul_ps(d2, iota), mm2);
                    ACC(i, _mm512_permutexvar_ps(v0, t1), k0);
                    ACC(i, _mm512_permutexvar_ps(v1, t1), k0 + 16);
                    ACC(i, _mm512_permutexvar_ps(h0, t2), k0 + 32);
                    ACC(i, _mm512_permutexvar_ps(h1, t2), k0 + 48);
                    continue;
                }
                ACC(i, _mm512_sub_ps(_mm512_mul_ps(d1, _mm512_cvtepi32_ps(l0)), mm1), k0);
                ACC(i, _mm512_sub_ps(_mm512_mul_ps(d1, _mm512_cvtepi32_ps(l1)), mm1), k0 + 16);
                ACC(i, _mm512_sub_ps(_mm512_mul_ps(d2, _mm512_cvtepi32_ps(h0)), mm2), k0 + 32);
                ACC(i, _mm512_sub_ps(_mm512_mul_ps(d2, _mm512_cvtepi32_ps(h1)), mm2), k0 + 48);
            }
        }
    }
    END;
}

/* Q6_K: per 128 values, 64 bytes of low nibbles, 32 bytes of high 2-bit pairs, 8 int8
 * scales; 16 values share a scale: w = (d * scale) * (q - 32). Group g (of 32 values) takes
 * low nibbles (g < 2) or high ones from ql[32 * (g & 1) ..], and bits 2g, 2g + 1 of qh. */
AVX512 INLINE void q6_k_gen(const int NX, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m512i m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(3), e32 = _mm512_set1_epi32(32);
    for (int k = 0; k < n; k += 256) {
        size_t o = (size_t)(k / 256) * 210;
        float dsf[MR][16]; /* each row's 16 (d * scale) products, once per super-block */
        ROWS {
            const uint8_t *b = w[i] + o;
            PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128), PREFETCH(b + 192);
            float d = h2f(b + 208);
            for (int t = 0; t < 16; t++) dsf[i][t] = d * (float)(int8_t)b[192 + t];
        }
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                _Pragma("GCC unroll 4") ROWS {
                    const uint8_t *b = w[i] + o;
                    const uint8_t *ql = b + 64 * h + 32 * (g & 1), *qh = b + 128 + 32 * h;
                    for (int s = 0; s < 2; s++) {
                        __m512i v = u8x16(ql + 16 * s);
                        v = g < 2 ? _mm512_and_si512(v, m4) : _mm512_srli_epi32(v, 4);
                        v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u8x16(qh + 16 * s), 2 * g), m2), 4));
                        __m512 ds = _mm512_set1_ps(dsf[i][8 * h + 2 * g + s]);
                        ACC(i, _mm512_mul_ps(ds, _mm512_cvtepi32_ps(_mm512_sub_epi32(v, e32))), k + 128 * h + 32 * g + 16 * s);
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
    AVX512 static void NAME##_##NX(const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) { CALL; }
#define QFNS(NAME, CALL_NX) QFN(NAME, 0, CALL_NX(0))                                                                                         \
    QFN(NAME, 1, CALL_NX(1)) QFN(NAME, 2, CALL_NX(2)) QFN(NAME, 3, CALL_NX(3)) QFN(NAME, 4, CALL_NX(4))             \
    static const qfn NAME##_fns[QNX + 1] = {NAME##_0, NAME##_1, NAME##_2, NAME##_3, NAME##_4};
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

static int qdot_avx512(int type, const void *const *w, const float *x, size_t ldx, int nx, int n, float *out) {
    const qfn *f = fns(type);
    if (!f) return -1;
    f[nx]((const uint8_t *const *)w, x, ldx, n, out);
    return 0;
}

static int qdeq_avx512(int type, const void *const *w, float *dst, size_t ldd, int n) {
    const qfn *f = fns(type);
    if (!f) return -1;
    f[0]((const uint8_t *const *)w, NULL, ldd, n, dst);
    return 0;
}

static const pd_qkernels qk_avx512 = {.name = "avx512", .lanes = 16, .mr = MR, .max_nx = QNX, .dot = qdot_avx512, .dequant = qdeq_avx512};

const pd_qkernels *pd_qkernels_avx512(void) {
    return pd_kernels_avx512() ? &qk_avx512 : NULL; /* the same CPU test as the AVX-512 kernel set */
}
#else
const pd_qkernels *pd_qkernels_avx512(void) { return NULL; }
#endif
