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
 * the batch. These are the fp32-activation kernels (PONDER_QUANT_ACT=f32); the integer
 * kernels on 8-bit activations (the default) are at the end of the file.
 *
 * Only reached through pd_qkernels_avx512(), which asks the CPU first. */
#include "engine/quant.h"

#include <stddef.h>
#include <string.h>

#include "model/gguf.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "engine/avx512_inl.h"

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
        out[i * NX + j] = pd_avx512_hsum16(c[i][j])
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

/* Q4_0 (MIN 0): w = d * (q - 8), Q4_1 (MIN 1): w = d * q + m; byte j holds value j (low
 * nibble) and j + 16 (high). The block's 16 possible weights are computed once (the
 * reference's own operations) and looked up with vpermps, which reads only the low 4 bits of
 * each index: no masking, no conversion. */
AVX512 INLINE void q4_gen(const int NX, const int MIN, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m512 qs = MIN ? _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
                          : _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const int bb = MIN ? 20 : 18, vo = MIN ? 4 : 2;
    for (int k = 0, o = 0; k < n; k += 32, o += bb) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m512 t = _mm512_mul_ps(_mm512_set1_ps(h2f(b)), qs);
            if (MIN) t = _mm512_add_ps(t, _mm512_set1_ps(h2f(b + 2)));
            __m512i v = u8x16(b + vo);
            ACC(i, _mm512_permutexvar_ps(v, t), k);
            ACC(i, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t), k + 16);
        }
    }
    END;
}

/* Q5_0 (MIN 0): w = d * ((q | h << 4) - 16), Q5_1 (MIN 1): w = d * (q | h << 4) + m; qh's bit j
 * is value j's fifth bit. Two 16-entry tables (fifth bit clear, set), looked up by the
 * nibble, the second under the fifth bits as a lane mask. */
AVX512 INLINE void q5_gen(const int NX, const int MIN, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m512 q0 = MIN ? _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
                          : _mm512_setr_ps(-16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1);
    const __m512 q1 = MIN ? _mm512_setr_ps(16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31)
                          : _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int bb = MIN ? 24 : 22, ho = MIN ? 4 : 2;
    for (int k = 0, o = 0; k < n; k += 32, o += bb) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m512 d = _mm512_set1_ps(h2f(b));
            __m512 t0 = _mm512_mul_ps(d, q0), t1 = _mm512_mul_ps(d, q1);
            if (MIN) {
                __m512 m = _mm512_set1_ps(h2f(b + 2));
                t0 = _mm512_add_ps(t0, m), t1 = _mm512_add_ps(t1, m);
            }
            uint32_t qh;
            memcpy(&qh, b + ho, 4);
            __m512i v = u8x16(b + ho + 4), hv = _mm512_srli_epi32(v, 4);
            ACC(i, _mm512_mask_permutexvar_ps(_mm512_permutexvar_ps(v, t0), (__mmask16)(qh & 0xffff), v, t1), k);
            ACC(i, _mm512_mask_permutexvar_ps(_mm512_permutexvar_ps(hv, t0), (__mmask16)(qh >> 16), hv, t1), k + 16);
        }
    }
    END;
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
                pd_scale_min_k4(t, b + 4, &sc, &mn);
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
                if (!FIVE) { /* the sub-blocks' 16 possible weights each, looked up (see q4_gen) */
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

/* Q2_K (Q3 0) and Q3_K (Q3 1): sub-block j of 16 values takes bits 2 (j % 8 / 2) of bytes
 * 32 (j / 8) + 16 (j & 1) .. + 15 of the 2-bit values; Q2_K w = (d * sc_j) * q - (dmin * m_j),
 * Q3_K w = (d * sc_j) * (q - 4 (1 - bit j / 2 of hmask)) (quant.c's deq_q2_k, deq_q3_k). */
AVX512 INLINE void k23_gen(const int NX, const int Q3, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const size_t bb = Q3 ? 110 : 84;
    const __m512i m2 = _mm512_set1_epi32(3), one = _mm512_set1_epi32(1);
    for (int k = 0; k < n; k += 256) {
        size_t o = (size_t)(k / 256) * bb;
        float ds[MR][16], dm[MR][16]; /* each row's (d * scale) and (dmin * min), the reference's products */
        ROWS {
            const uint8_t *b = w[i] + o;
            PREFETCH(b), PREFETCH(b + 64);
            pd_k23_factors(Q3, b, ds[i], dm[i]);
        }
        for (int j = 0; j < 16; j++) {
            _Pragma("GCC unroll 4") ROWS {
                const uint8_t *b = w[i] + o;
                __m512i v = _mm512_and_si512(_mm512_srli_epi32(u8x16(b + (Q3 ? 32 : 16) + 32 * (j / 8) + 16 * (j & 1)), 2 * (j % 8 / 2)), m2);
                if (Q3) {
                    __m512i h = _mm512_and_si512(_mm512_srli_epi32(u8x16(b + 16 * (j & 1)), j / 2), one);
                    v = _mm512_sub_epi32(v, _mm512_slli_epi32(_mm512_xor_si512(h, one), 2));
                    ACC(i, _mm512_mul_ps(_mm512_set1_ps(ds[i][j]), _mm512_cvtepi32_ps(v)), k + 16 * j);
                } else
                    ACC(i, _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(ds[i][j]), _mm512_cvtepi32_ps(v)), _mm512_set1_ps(dm[i][j])), k + 16 * j);
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
#define Q4_0_CALL(NX) q4_gen(NX, 0, w, x, ldx, n, out)
#define Q5_0_CALL(NX) q5_gen(NX, 0, w, x, ldx, n, out)
#define Q2_K_CALL(NX) k23_gen(NX, 0, w, x, ldx, n, out)
#define Q3_K_CALL(NX) k23_gen(NX, 1, w, x, ldx, n, out)
#define Q4_1_CALL(NX) q4_gen(NX, 1, w, x, ldx, n, out)
#define Q5_1_CALL(NX) q5_gen(NX, 1, w, x, ldx, n, out)
#define Q4_K_CALL(NX) k45_gen(NX, 0, w, x, ldx, n, out)
#define Q5_K_CALL(NX) k45_gen(NX, 1, w, x, ldx, n, out)
#define Q6_K_CALL(NX) q6_k_gen(NX, w, x, ldx, n, out)
QFNS(q8_0, Q8_0_CALL)
QFNS(q4_0, Q4_0_CALL)
QFNS(q5_0, Q5_0_CALL)
QFNS(q2_k, Q2_K_CALL)
QFNS(q3_k, Q3_K_CALL)
QFNS(q4_1, Q4_1_CALL)
QFNS(q5_1, Q5_1_CALL)
QFNS(q4_k, Q4_K_CALL)
QFNS(q5_k, Q5_K_CALL)
QFNS(q6_k, Q6_K_CALL)

/* The functions for a type (index: activation rows; 0 dequantizes), or NULL. */
static const qfn *fns(int type) {
    switch (type) {
    case PD_GGML_Q8_0: return q8_0_fns;
    case PD_GGML_Q4_0: return q4_0_fns;
    case PD_GGML_Q5_0: return q5_0_fns;
    case PD_GGML_Q2_K: return q2_k_fns;
    case PD_GGML_Q3_K: return q3_k_fns;
    case PD_GGML_Q4_1: return q4_1_fns;
    case PD_GGML_Q5_1: return q5_1_fns;
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

/* ---- 8-bit activations: integer dots with AVX-512 VNNI (vpdpbusd) ----
 *
 * The quantizer, then the 16-row panel kernels below for every integer type (see quant.c for
 * what they compute: q8_dot_ref, bit for bit). */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INX 4

VNNI static void q8_quantize_avx512(const float *x, int n, void *dst) {
    int8_t *q = dst;
    for (int b = 0; b < n / 32; b++) {
        __m512 a0 = _mm512_loadu_ps(x + 32 * b), a1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a0), _mm512_abs_ps(a1)));
        float dx = amax / 127.0f, id = dx != 0.0f ? 1.0f / dx : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(a0, vid))));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(a1, vid))));
        pd_q8_block_tail(dst, n, b, dx);
    }
}

/* ---- 16-row panels (every batch width): every integer type ----
 *
 * Sixteen weight rows side by side, one per 32-bit lane: for each 32-value chunk the rows'
 * values are transposed into eight vectors V_k (lane o: values 4k..4k+3 of row o, unsigned
 * bytes as above) and the rows' scales into fp32 vectors. One vpdpbusd per V_k against the
 * activation row's 4 bytes broadcast gives the 16 rows' exact integer block sums after eight
 * (four per Q6_K / Q3_K / Q2_K 16-value group; a storage offset removed by one vpdpwssd of the
 * block's 16-value sums), so the fp32 work is per block, not per 4 values: cvt, (scale * dx) *
 * s, add, per lane in increasing block order from 0 (the K-quants' mins summed apart and
 * subtracted at the end, Q4_1/Q5_1's summed apart and added) — exactly q8_dot_ref's operations, so these kernels equal the portable reference bit
 * for bit. Decode transposes in registers (panel_dot with w); wide batches pack the panel once
 * (panel_pack: per chunk 8 x 64 bytes of V_k and two vectors of 16 fp32 scales or mins, four
 * for Q2_K) and run 8
 * activation rows at a time against it. */
#define PNX 8
#define PANEL_CHUNK 640 /* bytes of one packed 32-value chunk: 8 x 64 + 2 x 64 */
#define PANEL_CHUNK_Q2K 768 /* Q2_K's: 8 x 64 + 4 x 64 (scales and mins of two 16-value groups) */
typedef int32_t __attribute__((may_alias, aligned(1))) i32u; /* 4 activation bytes, broadcast from memory */

VNNI static int panel_type_avx512(int type) {
    return type == PD_GGML_Q8_0 || type == PD_GGML_Q4_0 || type == PD_GGML_Q4_1 || type == PD_GGML_Q5_0 || type == PD_GGML_Q5_1 ||
           type == PD_GGML_Q2_K || type == PD_GGML_Q3_K || type == PD_GGML_Q4_K || type == PD_GGML_Q5_K || type == PD_GGML_Q6_K;
}
/* The types whose blocks carry a min (w = d * q + m): its sum is added apart, as the K-quants'. */
#define WITH_MIN(TYPE) ((TYPE) == PD_GGML_Q4_1 || (TYPE) == PD_GGML_Q5_1)
/* The K-quants (256-value super-blocks); those whose mins are subtracted at the end. */
#define KQ(TYPE) ((TYPE) == PD_GGML_Q2_K || (TYPE) == PD_GGML_Q3_K || (TYPE) == PD_GGML_Q4_K || (TYPE) == PD_GGML_Q5_K || (TYPE) == PD_GGML_Q6_K)
#define KMIN(TYPE) ((TYPE) == PD_GGML_Q2_K || (TYPE) == PD_GGML_Q4_K || (TYPE) == PD_GGML_Q5_K)
/* Types with a scale per 16 values (two per chunk: A, B; Q2_K's mins C, D). */
#define K16(TYPE) ((TYPE) == PD_GGML_Q2_K || (TYPE) == PD_GGML_Q3_K || (TYPE) == PD_GGML_Q6_K)
static size_t panel_bytes_avx512(int n) { return (size_t)(n / 32) * PANEL_CHUNK_Q2K; }

/* The rows' offsets from w[0], for the gathers. */
VNNI INLINE void panel_offsets(const uint8_t *const *w, __m512i off[2]) {
    long long o[16];
    for (int i = 0; i < 16; i++) o[i] = (long long)(w[i] - w[0]);
    off[0] = _mm512_loadu_si512(o), off[1] = _mm512_loadu_si512(o + 8);
}

/* The 16 rows' dwords at byte o of their blocks starting at base (row i at base + off[i]). */
VNNI INLINE __m512i gather16(const uint8_t *base, const __m512i off[2]) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_i64gather_epi32(off[0], base, 1)), _mm512_i64gather_epi32(off[1], base, 1), 1);
}

/* 8 x 8 dword transposes in each 256-bit half: Z[p] = (row p | row p + 8) -> V[k] (lane o: dword k of row o). */
VNNI INLINE void transpose16(const __m512i Z[8], __m512i V[8]) {
    __m512i T[8], U[8];
    _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) {
        T[2 * q] = _mm512_unpacklo_epi32(Z[2 * q], Z[2 * q + 1]);
        T[2 * q + 1] = _mm512_unpackhi_epi32(Z[2 * q], Z[2 * q + 1]);
    }
    _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++) { /* rows 4g..4g+3 (and + 8) */
        U[4 * g + 0] = _mm512_unpacklo_epi64(T[4 * g], T[4 * g + 2]);     /* dwords 0, 4 */
        U[4 * g + 1] = _mm512_unpackhi_epi64(T[4 * g], T[4 * g + 2]);     /* 1, 5 */
        U[4 * g + 2] = _mm512_unpacklo_epi64(T[4 * g + 1], T[4 * g + 3]); /* 2, 6 */
        U[4 * g + 3] = _mm512_unpackhi_epi64(T[4 * g + 1], T[4 * g + 3]); /* 3, 7 */
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        V[k] = _mm512_permutex2var_epi64(U[k], lo, U[4 + k]);
        V[k + 4] = _mm512_permutex2var_epi64(U[k], hi, U[4 + k]);
    }
}

/* 32 bytes at a and at c as one vector. */
VNNI INLINE __m512i pair32(const uint8_t *a, const uint8_t *c) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)), _mm256_loadu_si256((const __m256i *)c), 1);
}

/* Chunk q (32 values) of the rows w[0..15]: block q for Q8_0/Q4_0/Q4_1/Q5_0/Q5_1, value 32
 * (q % 8).. of super-block q / 8 for the K-quants; V[0..7] (and for the 32-value block types
 * the half scales in *dw, Q4_1/Q5_1's mins in *dm). */
VNNI INLINE void panel_values(const int TYPE, const uint8_t *const *w, const __m512i off[2], int q, ptrdiff_t ahead, __m512i V[8],
                              __m512 *dw, __m512 *dm) {
    const int K = KQ(TYPE);
    const int bb = TYPE == PD_GGML_Q8_0 ? 34 : TYPE == PD_GGML_Q4_0 ? 18 : TYPE == PD_GGML_Q5_0 ? 22 : TYPE == PD_GGML_Q4_1 ? 20
                 : TYPE == PD_GGML_Q5_1 ? 24 : TYPE == PD_GGML_Q2_K ? 84 : TYPE == PD_GGML_Q3_K ? 110 : TYPE == PD_GGML_Q4_K ? 144
                 : TYPE == PD_GGML_Q5_K ? 176 : 210;
    const size_t bo = K ? (size_t)(q / 8) * bb : (size_t)q * bb;
    const int s = q % 8; /* K-quants: the chunk in the super-block */
    const __m512i m4 = _mm512_set1_epi8(0xf);
    __m512i Z[8];
    _Pragma("GCC unroll 8") for (int p = 0; p < 8; p++) {
        const uint8_t *a = w[p] + bo, *c = w[p + 8] + bo;
        if (ahead && (K || !(q & 1))) {
            /* the same bytes of the next panel, into L2 only: an L1 prefetch holds one of the
             * core's few L1 fill buffers until its line arrives, which caps the bytes in
             * flight, and a panel of long rows (82 KB for 4864 values) would not stay in L1
             * anyway (decode measured +5-15% over _MM_HINT_T0, which beat no prefetch) */
            const int po = K ? (TYPE == PD_GGML_Q2_K || TYPE == PD_GGML_Q3_K ? 32 : 64) * (s & 3) : 0;
            _mm_prefetch((const char *)a + ahead + po, _MM_HINT_T1), _mm_prefetch((const char *)c + ahead + po, _MM_HINT_T1);
        }
        if (TYPE == PD_GGML_Q8_0) Z[p] = pair32(a + 2, c + 2);
        else if (TYPE == PD_GGML_Q4_0 || TYPE == PD_GGML_Q5_0 || WITH_MIN(TYPE)) {
            const int o = TYPE == PD_GGML_Q4_0 ? 2 : TYPE == PD_GGML_Q4_1 ? 4 : TYPE == PD_GGML_Q5_0 ? 6 : 8; /* the nibbles */
            __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + o))),
                                                _mm_loadu_si128((const __m128i *)(c + o)), 1);
            __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
            Z[p] = _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), m4);
            if (TYPE == PD_GGML_Q5_0 || TYPE == PD_GGML_Q5_1) {
                const int oh = TYPE == PD_GGML_Q5_0 ? 2 : 4;
                uint32_t h0, h1;
                memcpy(&h0, a + oh, 4), memcpy(&h1, c + oh, 4);
                Z[p] = _mm512_mask_add_epi8(Z[p], (__mmask64)h0 | (__mmask64)h1 << 32, Z[p], _mm512_set1_epi8(16));
            }
        } else if (TYPE == PD_GGML_Q4_K || TYPE == PD_GGML_Q5_K) {
            const int o = (TYPE == PD_GGML_Q5_K ? 48 : 16) + 32 * (s / 2);
            __m512i z = pair32(a + o, c + o);
            Z[p] = _mm512_and_si512(s & 1 ? _mm512_srli_epi16(z, 4) : z, m4);
            if (TYPE == PD_GGML_Q5_K)
                Z[p] = _mm512_or_si512(Z[p], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(pair32(a + 16, c + 16), s),
                                                                               _mm512_set1_epi8(1)), 4));
        } else if (TYPE == PD_GGML_Q2_K || TYPE == PD_GGML_Q3_K) {
            /* bits 2 (s % 4), + 1 of bytes 32 (s / 4) .. + 31 of the 2-bit values; Q3_K: + 4 * bit s of hmask */
            const int o = (TYPE == PD_GGML_Q2_K ? 16 : 32) + 32 * (s / 4);
            Z[p] = _mm512_and_si512(_mm512_srli_epi16(pair32(a + o, c + o), 2 * (s % 4)), _mm512_set1_epi8(3));
            if (TYPE == PD_GGML_Q3_K)
                Z[p] = _mm512_or_si512(Z[p], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(pair32(a, c), s), _mm512_set1_epi8(1)), 2));
        } else { /* Q6_K: half h = s / 4, group g = s % 4 */
            const int h = s / 4, g = s % 4;
            __m512i z = pair32(a + 64 * h + 32 * (g & 1), c + 64 * h + 32 * (g & 1));
            Z[p] = _mm512_or_si512(_mm512_and_si512(g >= 2 ? _mm512_srli_epi16(z, 4) : z, m4),
                                   _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(pair32(a + 128 + 32 * h, c + 128 + 32 * h), 2 * g),
                                                                      _mm512_set1_epi8(3)), 4));
        }
    }
    if (!K) { /* the 16 half scales: the blocks' first dwords (Q4_1/Q5_1: d | m << 16) */
        __m512i g = gather16(w[0] + bo, off);
        *dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
        if (WITH_MIN(TYPE)) *dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));
    }
    transpose16(Z, V);
    if (TYPE == PD_GGML_Q8_0) _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) V[k] = _mm512_xor_si512(V[k], _mm512_set1_epi8((char)0x80));
}

/* A K-quant super-block's scale words for the 16 rows (sb: its index): st[0] the dword at 0
 * (Q4_K/Q5_K: d | dmin << 16), st[1..3] the 12 packed scale bytes; Q6_K: st[0] the dword at 206
 * (d << 16), st[1..4] the 16 int8 scales; Q2_K: st[0] the dword at 80 (d | dmin << 16), st[1..4]
 * the 16 scale bytes; Q3_K: st[0] the dword at 106 (d << 16: not past the block), st[1..3] the
 * 12 scale bytes. */
VNNI INLINE void panel_kstate(const int TYPE, const uint8_t *const *w, const __m512i off[2], int sb, __m512i st[5]) {
    const int bb = TYPE == PD_GGML_Q2_K ? 84 : TYPE == PD_GGML_Q3_K ? 110 : TYPE == PD_GGML_Q4_K ? 144 : TYPE == PD_GGML_Q5_K ? 176 : 210;
    const uint8_t *base = w[0] + (size_t)sb * bb;
    if (TYPE == PD_GGML_Q2_K) {
        st[0] = gather16(base + 80, off);
        for (int i = 0; i < 4; i++) st[1 + i] = gather16(base + 4 * i, off);
    } else if (TYPE == PD_GGML_Q3_K) {
        st[0] = gather16(base + 106, off);
        for (int i = 0; i < 3; i++) st[1 + i] = gather16(base + 96 + 4 * i, off);
    } else if (TYPE == PD_GGML_Q6_K) {
        st[0] = gather16(base + 206, off);
        for (int i = 0; i < 4; i++) st[1 + i] = gather16(base + 192 + 4 * i, off);
    } else
        for (int i = 0; i < 4; i++) st[i] = gather16(base + 4 * i, off);
}

/* Q3_K's signed scale j (0..15) of the 16 rows: low 4 bits from byte j % 8 (its high nibble
 * for j >= 8), high 2 from byte 8 + j % 4 at bit 2 (j / 4), less 32 (pd_q3_k_scale). */
VNNI INLINE __m512i q3_k_scale16(const __m512i st[5], int j) {
    __m512i lo = _mm512_and_si512(_mm512_srli_epi32(st[1 + (j % 8) / 4], 8 * (j % 4) + 4 * (j / 8)), _mm512_set1_epi32(15));
    __m512i hi = _mm512_and_si512(_mm512_srli_epi32(st[3], 8 * (j % 4) + 2 * (j / 4)), _mm512_set1_epi32(3));
    return _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
}

/* The fp32 scale vectors of chunk s (0..7) of the super-block: Q4_K/Q5_K a = d * sc_s, b =
 * dmin * m_s; Q6_K, Q3_K a = d * sc_(2s), b = d * sc_(2s+1); Q2_K those and c = dmin * m_(2s),
 * e = dmin * m_(2s+1) (quant.c's reference: the same products). */
VNNI INLINE void panel_kscales(const int TYPE, const __m512i st[5], int s, __m512 *a, __m512 *b, __m512 *c, __m512 *e) {
    const __m512i ff = _mm512_set1_epi32(0xff);
    if (TYPE == PD_GGML_Q2_K) {
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(st[0])), dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(st[0], 16)));
        __m512i v = st[1 + s / 2];
        const int sh = 16 * (s & 1); /* bytes 2 (s & 1), + 1 of the dword: scale | min << 4 */
        __m512i b0 = _mm512_and_si512(_mm512_srli_epi32(v, sh), ff), b1 = _mm512_and_si512(_mm512_srli_epi32(v, sh + 8), ff);
        *a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(b0, _mm512_set1_epi32(15))));
        *b = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(b1, _mm512_set1_epi32(15))));
        *c = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(b0, 4)));
        *e = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(b1, 4)));
        return;
    }
    if (TYPE == PD_GGML_Q3_K) {
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(st[0], 16)));
        *a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(q3_k_scale16(st, 2 * s)));
        *b = _mm512_mul_ps(d, _mm512_cvtepi32_ps(q3_k_scale16(st, 2 * s + 1)));
        return;
    }
    if (TYPE == PD_GGML_Q6_K) {
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(st[0], 16)));
        __m512i v = st[1 + s / 2]; /* scales 4 (s / 2) .. + 3 */
        int sh = 16 * (s & 1);     /* bytes 2 (s & 1), + 1 */
        *a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 24 - sh), 24)));
        *b = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 16 - sh), 24)));
        return;
    }
    /* scale_min_k4: s < 4: sc = u0 byte s & 63, m = u1 byte s & 63; else sc = (u2 byte (s-4) & 15) |
     * (u0 byte (s-4) >> 6) << 4, m = (u2 byte (s-4) >> 4) | (u1 byte (s-4) >> 6) << 4 */
    __m512i sc, mn;
    if (s < 4) {
        sc = _mm512_and_si512(_mm512_srli_epi32(st[1], 8 * s), _mm512_set1_epi32(63));
        mn = _mm512_and_si512(_mm512_srli_epi32(st[2], 8 * s), _mm512_set1_epi32(63));
    } else {
        const int sh = 8 * (s - 4);
        __m512i u0 = _mm512_and_si512(_mm512_srli_epi32(st[1], sh), ff), u1 = _mm512_and_si512(_mm512_srli_epi32(st[2], sh), ff);
        __m512i u2 = _mm512_and_si512(_mm512_srli_epi32(st[3], sh), ff);
        sc = _mm512_or_si512(_mm512_and_si512(u2, _mm512_set1_epi32(15)), _mm512_slli_epi32(_mm512_srli_epi32(u0, 6), 4));
        mn = _mm512_or_si512(_mm512_srli_epi32(u2, 4), _mm512_slli_epi32(_mm512_srli_epi32(u1, 6), 4));
    }
    __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(st[0])), dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(st[0], 16)));
    *a = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
    *b = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn));
}

/* Chunk q's contribution for activation rows j < NX: acc[j] += (A * dx_j) * float(integer sum)
 * (Q6_K, Q3_K, Q2_K: two 16-value groups, A then B; their offsets -32, -4, none); Q4_K/Q5_K
 * (mins, subtracted at the end) and Q4_1/Q5_1 (mins, added): accm[j] += B * (dx_j * sum of the
 * block's q); Q2_K: accm[j] += C * (dx_j * sum of the first 16 q), then E * (.. the second 16). */
#define PANEL_ACC(TYPE, V, A, B, C, E, q)                                                                            \
    _Pragma("GCC unroll 8") for (int j = 0; j < NX; j++) {                                                          \
        const uint8_t *a_ = xq + (size_t)j * ldq;                                                                    \
        const i32u *x4_ = (const i32u *)(a_ + 32 * (size_t)(q));                                                     \
        const __m512i pair_ = _mm512_set1_epi32(*(const i32u *)(PD_Q8_S16(a_, n) + 2 * (q)));                        \
        const __m512 dx_ = _mm512_set1_ps(PD_Q8_DX(a_, n)[q]);                                                        \
        if (K16(TYPE)) {                                                                                             \
            __m512i s0_ = _mm512_setzero_si512(), s1_ = _mm512_setzero_si512();                                      \
            if (TYPE != PD_GGML_Q2_K) {                                                                              \
                s0_ = _mm512_dpwssd_epi32(s0_, _mm512_set1_epi32(TYPE == PD_GGML_Q6_K ? 0x0000ffe0 : 0x0000fffc), pair_); \
                s1_ = _mm512_dpwssd_epi32(s1_, _mm512_set1_epi32((int)(TYPE == PD_GGML_Q6_K ? 0xffe00000u : 0xfffc0000u)), pair_); \
            }                                                                                                        \
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                                   \
                s0_ = _mm512_dpbusd_epi32(s0_, (V)[k], _mm512_set1_epi32(x4_[k]));                                   \
                s1_ = _mm512_dpbusd_epi32(s1_, (V)[k + 4], _mm512_set1_epi32(x4_[k + 4]));                           \
            }                                                                                                        \
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_mul_ps((A), dx_), _mm512_cvtepi32_ps(s0_)));         \
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_mul_ps((B), dx_), _mm512_cvtepi32_ps(s1_)));         \
            if (TYPE == PD_GGML_Q2_K) {                                                                              \
                const float dx1_ = PD_Q8_DX(a_, n)[q];                                                               \
                accm[j] = _mm512_add_ps(accm[j], _mm512_mul_ps((C), _mm512_set1_ps(dx1_ * (float)PD_Q8_S16(a_, n)[2 * (q)]))); \
                accm[j] = _mm512_add_ps(accm[j], _mm512_mul_ps((E), _mm512_set1_ps(dx1_ * (float)PD_Q8_S16(a_, n)[2 * (q) + 1]))); \
            }                                                                                                        \
        } else {                                                                                                     \
            __m512i s_ = TYPE == PD_GGML_Q4_K || TYPE == PD_GGML_Q5_K || WITH_MIN(TYPE) ? _mm512_setzero_si512()     \
                       : _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_set1_epi16((short)(TYPE == PD_GGML_Q8_0 ? -128 : TYPE == PD_GGML_Q4_0 ? -8 : -16)), pair_); \
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) s_ = _mm512_dpbusd_epi32(s_, (V)[k], _mm512_set1_epi32(x4_[k])); \
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_mul_ps((A), dx_), _mm512_cvtepi32_ps(s_)));           \
            if (TYPE == PD_GGML_Q4_K || TYPE == PD_GGML_Q5_K || WITH_MIN(TYPE))                                      \
                accm[j] = _mm512_add_ps(accm[j], _mm512_mul_ps((B), _mm512_set1_ps(PD_Q8_DXS(a_, n)[q])));            \
        }                                                                                                            \
    }

#define PANEL_BEGIN                                                                                                  \
    __m512 acc[PNX], accm[PNX];                                                                                      \
    for (int j = 0; j < NX; j++) acc[j] = _mm512_setzero_ps(), accm[j] = _mm512_setzero_ps()
#define PANEL_END                                                                                                    \
    for (int j = 0; j < NX; j++)                                                                                     \
        _mm512_storeu_ps(out + 16 * j, KMIN(TYPE) ? _mm512_sub_ps(acc[j], accm[j])                                   \
                                       : WITH_MIN(TYPE) ? _mm512_add_ps(acc[j], accm[j]) : acc[j])

/* Direct: NX (1..8) activation rows against the 16 rows w (decoded here); out[j * 16 + o]. */
VNNI INLINE void panel_direct(const int TYPE, const int NX, const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) {
    const int K = KQ(TYPE);
    const ptrdiff_t ahead = 16 * (w[1] - w[0]);
    __m512i off[2], st[5];
    panel_offsets(w, off);
    PANEL_BEGIN;
    for (int q = 0; q < n / 32; q++) {
        __m512i V[8];
        __m512 A, B = _mm512_setzero_ps(), C = _mm512_setzero_ps(), E = _mm512_setzero_ps();
        if (K && !(q & 7)) panel_kstate(TYPE, w, off, q / 8, st);
        panel_values(TYPE, w, off, q, ahead, V, &A, &B);
        if (K) panel_kscales(TYPE, st, q & 7, &A, &B, &C, &E);
        PANEL_ACC(TYPE, V, A, B, C, E, q)
    }
    PANEL_END;
}

/* Packed: the same from a panel_pack'ed panel pk. */
VNNI INLINE void panel_packed(const int TYPE, const int NX, const uint8_t *pk, const uint8_t *xq, size_t ldq, int n, float *out) {
    PANEL_BEGIN;
    for (int q = 0; q < n / 32; q++, pk += TYPE == PD_GGML_Q2_K ? PANEL_CHUNK_Q2K : PANEL_CHUNK) {
        __m512i V[8];
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) V[k] = _mm512_loadu_si512(pk + 64 * k);
        __m512 A = _mm512_loadu_ps(pk + 512), B = _mm512_loadu_ps(pk + 576), C = _mm512_setzero_ps(), E = _mm512_setzero_ps();
        if (TYPE == PD_GGML_Q2_K) C = _mm512_loadu_ps(pk + 640), E = _mm512_loadu_ps(pk + 704);
        PANEL_ACC(TYPE, V, A, B, C, E, q)
    }
    PANEL_END;
}

VNNI INLINE void panel_pack_gen(const int TYPE, const uint8_t *const *w, uint8_t *d, int n) {
    const int K = KQ(TYPE);
    __m512i off[2], st[5];
    panel_offsets(w, off);
    for (int q = 0; q < n / 32; q++, d += TYPE == PD_GGML_Q2_K ? PANEL_CHUNK_Q2K : PANEL_CHUNK) {
        __m512i V[8];
        __m512 A, B = _mm512_setzero_ps(), C = _mm512_setzero_ps(), E = _mm512_setzero_ps();
        if (K && !(q & 7)) panel_kstate(TYPE, w, off, q / 8, st);
        panel_values(TYPE, w, off, q, 0, V, &A, &B);
        if (K) panel_kscales(TYPE, st, q & 7, &A, &B, &C, &E);
        for (int k = 0; k < 8; k++) _mm512_storeu_si512(d + 64 * k, V[k]);
        _mm512_storeu_ps(d + 512, A), _mm512_storeu_ps(d + 576, B);
        if (TYPE == PD_GGML_Q2_K) _mm512_storeu_ps(d + 640, C), _mm512_storeu_ps(d + 704, E);
    }
}

typedef void (*dfn)(const uint8_t *const *, const uint8_t *, size_t, int, float *);
typedef void (*kfn)(const uint8_t *, const uint8_t *, size_t, int, float *);
typedef void (*packfn)(const uint8_t *const *, uint8_t *, int);
#define PDFN(NAME, TYPE, NX) \
    VNNI static void NAME##_d##NX(const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) { panel_direct(TYPE, NX, w, xq, ldq, n, out); } \
    VNNI static void NAME##_p##NX(const uint8_t *pk, const uint8_t *xq, size_t ldq, int n, float *out) { panel_packed(TYPE, NX, pk, xq, ldq, n, out); }
#define PDFNS(NAME, TYPE) PDFN(NAME, TYPE, 1) PDFN(NAME, TYPE, 2) PDFN(NAME, TYPE, 3) PDFN(NAME, TYPE, 4) PDFN(NAME, TYPE, 5) \
    PDFN(NAME, TYPE, 6) PDFN(NAME, TYPE, 7) PDFN(NAME, TYPE, 8) \
    VNNI static void NAME##_pack(const uint8_t *const *w, uint8_t *d, int n) { panel_pack_gen(TYPE, w, d, n); } \
    static const dfn NAME##_dfns[PNX + 1] = {NULL, NAME##_d1, NAME##_d2, NAME##_d3, NAME##_d4, NAME##_d5, NAME##_d6, NAME##_d7, NAME##_d8}; \
    static const kfn NAME##_pfns[PNX + 1] = {NULL, NAME##_p1, NAME##_p2, NAME##_p3, NAME##_p4, NAME##_p5, NAME##_p6, NAME##_p7, NAME##_p8};
PDFNS(pq8_0, PD_GGML_Q8_0)
PDFNS(pq4_0, PD_GGML_Q4_0)
PDFNS(pq5_0, PD_GGML_Q5_0)
PDFNS(pq4_1, PD_GGML_Q4_1)
PDFNS(pq5_1, PD_GGML_Q5_1)
PDFNS(pq2_k, PD_GGML_Q2_K)
PDFNS(pq3_k, PD_GGML_Q3_K)
PDFNS(pq4_k, PD_GGML_Q4_K)
PDFNS(pq5_k, PD_GGML_Q5_K)
PDFNS(pq6_k, PD_GGML_Q6_K)

#define PANEL_PICK(type, suffix) \
    ((type) == PD_GGML_Q8_0 ? pq8_0_##suffix : (type) == PD_GGML_Q4_0 ? pq4_0_##suffix : (type) == PD_GGML_Q5_0 ? pq5_0_##suffix \
     : (type) == PD_GGML_Q4_1 ? pq4_1_##suffix : (type) == PD_GGML_Q5_1 ? pq5_1_##suffix \
     : (type) == PD_GGML_Q2_K ? pq2_k_##suffix : (type) == PD_GGML_Q3_K ? pq3_k_##suffix \
     : (type) == PD_GGML_Q4_K ? pq4_k_##suffix : (type) == PD_GGML_Q5_K ? pq5_k_##suffix : pq6_k_##suffix)

/* ---- stored panels: the weights repacked once at load (model.c), for every batch width ----
 *
 * Decoding the rows in registers (panel_direct) reads 16 row streams at once, gathers the
 * blocks' scales and transposes the values for every chunk: at batch 1 on a fast memory
 * system that work, not the bytes, bounds the speed. A stored panel holds the same 16 rows
 * already in the kernel's order, in about the file's size, so decode reads one sequential
 * stream and does only the integer and fp32 work of panel_packed. Per type (n / 32 chunks):
 *   Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: pairs of chunks (the last may be alone): 64 bytes of the
 *     two chunks' 16 half scales (Q4_1/Q5_1 then 64 bytes of their half mins), Q5_0/Q5_1
 *     then 2 x 64 bytes of fifth bits (per chunk 8 64-bit masks, mask k bit 4 o + b: value
 *     4 k + b of row o), then the values: Q8_0 2 x 512 bytes (V_k as panel_values makes
 *     them), the others 2 x 256 (P_k, k < 4: V_k | V_(k + 4) << 4);
 *   Q4_K, Q5_K, Q6_K: per super-block the scale words of panel_kstate (4 or 5 x 64 bytes),
 *     Q5_K 8 x 64 bytes of fifth bits as above, then per pair of chunks 8 x 64 bytes of
 *     nibbles (V_k of the even chunk | V_k of the odd one << 4); Q6_K per 4 chunks 8 x 64
 *     bytes of the values' 2 high bits (chunk c's at bits 2 (c % 4)).
 * Every vector the kernel multiplies is the one panel_values gives, and the scales go through
 * the same operations, so the results are the direct and packed kernels' bits. */
#define IS_K(TYPE) ((TYPE) == PD_GGML_Q4_K || (TYPE) == PD_GGML_Q5_K || (TYPE) == PD_GGML_Q6_K)
#define SB_STATE(TYPE) ((TYPE) == PD_GGML_Q6_K ? 320 : 256)                                                     /* K: scale words */
#define SB_BYTES(TYPE) (SB_STATE(TYPE) + ((TYPE) == PD_GGML_Q5_K ? 512 : 0) + 2048 + ((TYPE) == PD_GGML_Q6_K ? 1024 : 0))
#define FIFTH(TYPE) ((TYPE) == PD_GGML_Q5_0 || (TYPE) == PD_GGML_Q5_1)
#define HDR_BYTES(TYPE) (WITH_MIN(TYPE) ? 128 : 64)
#define PAIR_BYTES(TYPE) (HDR_BYTES(TYPE) + (FIFTH(TYPE) ? 128 : 0) + ((TYPE) == PD_GGML_Q8_0 ? 1024 : 512)) /* 32-value blocks */

static size_t store_bytes_avx512(int type, int n) {
    switch (type) {
    case PD_GGML_Q8_0: case PD_GGML_Q4_0: case PD_GGML_Q5_0: case PD_GGML_Q4_1: case PD_GGML_Q5_1:
        return (size_t)(n / 32 + 1) / 2 * PAIR_BYTES(type);
    case PD_GGML_Q4_K: case PD_GGML_Q5_K: case PD_GGML_Q6_K: return (size_t)(n / 256) * SB_BYTES(type);
    default: return 0;
    }
}

/* Chunk q's offset in a stored panel (32-value block types): its pair, and within it. */
#define PAIR_OF(TYPE, q) ((size_t)((q) / 2) * PAIR_BYTES(TYPE))

VNNI INLINE void store_gen(const int TYPE, const uint8_t *const *w, uint8_t *d, int n) {
    const __m512i m4 = _mm512_set1_epi8(0xf), b16 = _mm512_set1_epi8(16);
    __m512i off[2], st[5];
    panel_offsets(w, off);
    for (int q = 0; q < n / 32; q++) {
        __m512i V[8];
        __m512 A, B;
        panel_values(TYPE, w, off, q, 0, V, &A, &B);
        const int h = q & 1;
        if (!IS_K(TYPE)) {
            uint8_t *p = d + PAIR_OF(TYPE, q);
            const int bb = TYPE == PD_GGML_Q8_0 ? 34 : TYPE == PD_GGML_Q4_0 ? 18 : TYPE == PD_GGML_Q5_0 ? 22 : TYPE == PD_GGML_Q4_1 ? 20 : 24;
            const __m512i g = gather16(w[0] + (size_t)q * bb, off); /* d (| m << 16) */
            _mm256_storeu_si256((__m256i *)(p + 32 * h), _mm512_cvtepi32_epi16(g));
            if (WITH_MIN(TYPE)) _mm256_storeu_si256((__m256i *)(p + 64 + 32 * h), _mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));
            uint8_t *v = p + HDR_BYTES(TYPE);
            if (FIFTH(TYPE)) {
                for (int k = 0; k < 8; k++) {
                    uint64_t mk = _mm512_test_epi8_mask(V[k], b16);
                    memcpy(v + 64 * h + 8 * k, &mk, 8);
                    V[k] = _mm512_and_si512(V[k], m4);
                }
                v += 128;
            }
            if (TYPE == PD_GGML_Q8_0)
                for (int k = 0; k < 8; k++) _mm512_storeu_si512(v + 512 * h + 64 * k, V[k]);
            else
                for (int k = 0; k < 4; k++) _mm512_storeu_si512(v + 256 * h + 64 * k, _mm512_or_si512(V[k], _mm512_slli_epi16(V[k + 4], 4)));
            continue;
        }
        const int s = q & 7;
        uint8_t *sb = d + (size_t)(q / 8) * SB_BYTES(TYPE);
        if (!s) {
            panel_kstate(TYPE, w, off, q / 8, st);
            for (int i = 0; i < (TYPE == PD_GGML_Q6_K ? 5 : 4); i++) _mm512_storeu_si512(sb + 64 * i, st[i]);
        }
        (void)A, (void)B;
        uint8_t *v = sb + SB_STATE(TYPE);
        if (TYPE == PD_GGML_Q5_K) {
            for (int k = 0; k < 8; k++) {
                uint64_t mk = _mm512_test_epi8_mask(V[k], b16);
                memcpy(v + 64 * s + 8 * k, &mk, 8);
                V[k] = _mm512_and_si512(V[k], m4);
            }
            v += 512;
        }
        __m512i hi[8];
        if (TYPE == PD_GGML_Q6_K) { /* the high 2 bits, then the low nibbles as Q4_K's */
            uint8_t *hp = v + 2048 + 512 * (s / 4);
            for (int k = 0; k < 8; k++) {
                hi[k] = _mm512_and_si512(_mm512_srli_epi16(V[k], 4), _mm512_set1_epi8(3));
                __m512i prev = s & 3 ? _mm512_loadu_si512(hp + 64 * k) : _mm512_setzero_si512();
                _mm512_storeu_si512(hp + 64 * k, _mm512_or_si512(prev, _mm512_slli_epi16(hi[k], 2 * (s & 3))));
                V[k] = _mm512_and_si512(V[k], m4);
            }
        }
        uint8_t *np = v + 512 * (s / 2);
        for (int k = 0; k < 8; k++) {
            __m512i prev = h ? _mm512_loadu_si512(np + 64 * k) : _mm512_setzero_si512();
            _mm512_storeu_si512(np + 64 * k, _mm512_or_si512(prev, h ? _mm512_slli_epi16(V[k], 4) : V[k]));
        }
    }
}

/* NX (1..8) activation rows against a stored panel sp; out[j * 16 + o]. */
VNNI INLINE void panel_stored(const int TYPE, const int NX, const uint8_t *sp, const uint8_t *xq, size_t ldq, int n, float *out) {
    const __m512i m4 = _mm512_set1_epi8(0xf), b16 = _mm512_set1_epi8(16);
    __m512i st[5];
    PANEL_BEGIN;
    for (int q = 0; q < n / 32; q++) {
        __m512i V[8];
        __m512 A, B = _mm512_setzero_ps(), C = _mm512_setzero_ps(), E = _mm512_setzero_ps();
        const int h = q & 1;
        if (!IS_K(TYPE)) {
            const uint8_t *p = sp + PAIR_OF(TYPE, q), *v = p + HDR_BYTES(TYPE);
            A = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32 * h)));
            if (WITH_MIN(TYPE)) B = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 64 + 32 * h)));
            if (TYPE == PD_GGML_Q8_0)
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) V[k] = _mm512_loadu_si512(v + 512 * h + 64 * k);
            else {
                const uint8_t *vv = v + (FIFTH(TYPE) ? 128 : 0) + 256 * h;
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                    __m512i P = _mm512_loadu_si512(vv + 64 * k);
                    V[k] = _mm512_and_si512(P, m4), V[k + 4] = _mm512_and_si512(_mm512_srli_epi16(P, 4), m4);
                }
                if (FIFTH(TYPE))
                    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                        uint64_t mk;
                        memcpy(&mk, v + 64 * h + 8 * k, 8);
                        V[k] = _mm512_mask_add_epi8(V[k], (__mmask64)mk, V[k], b16);
                    }
            }
        } else {
            const int s = q & 7;
            const uint8_t *sb = sp + (size_t)(q / 8) * SB_BYTES(TYPE), *v = sb + SB_STATE(TYPE);
            if (!s) for (int i = 0; i < (TYPE == PD_GGML_Q6_K ? 5 : 4); i++) st[i] = _mm512_loadu_si512(sb + 64 * i);
            const uint8_t *np = v + (TYPE == PD_GGML_Q5_K ? 512 : 0) + 512 * (s / 2);
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                __m512i P = _mm512_loadu_si512(np + 64 * k);
                V[k] = _mm512_and_si512(h ? _mm512_srli_epi16(P, 4) : P, m4);
            }
            if (TYPE == PD_GGML_Q5_K)
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                    uint64_t mk;
                    memcpy(&mk, v + 64 * s + 8 * k, 8);
                    V[k] = _mm512_mask_add_epi8(V[k], (__mmask64)mk, V[k], b16);
                }
            if (TYPE == PD_GGML_Q6_K) {
                const uint8_t *hp = v + 2048 + 512 * (s / 4);
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++)
                    V[k] = _mm512_or_si512(V[k], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(hp + 64 * k), 2 * (s & 3)),
                                                                                    _mm512_set1_epi8(3)), 4));
            }
            panel_kscales(TYPE, st, s, &A, &B, &C, &E);
        }
        PANEL_ACC(TYPE, V, A, B, C, E, q)
    }
    PANEL_END;
}

typedef void (*storefn)(const uint8_t *const *, uint8_t *, int);
#define PSFN(NAME, TYPE, NX) \
    VNNI static void NAME##_s##NX(const uint8_t *sp, const uint8_t *xq, size_t ldq, int n, float *out) { panel_stored(TYPE, NX, sp, xq, ldq, n, out); }
#define PSFNS(NAME, TYPE) PSFN(NAME, TYPE, 1) PSFN(NAME, TYPE, 2) PSFN(NAME, TYPE, 3) PSFN(NAME, TYPE, 4) PSFN(NAME, TYPE, 5) \
    PSFN(NAME, TYPE, 6) PSFN(NAME, TYPE, 7) PSFN(NAME, TYPE, 8) \
    VNNI static void NAME##_store(const uint8_t *const *w, uint8_t *d, int n) { store_gen(TYPE, w, d, n); } \
    static const kfn NAME##_sfns[PNX + 1] = {NULL, NAME##_s1, NAME##_s2, NAME##_s3, NAME##_s4, NAME##_s5, NAME##_s6, NAME##_s7, NAME##_s8};
PSFNS(pq8_0, PD_GGML_Q8_0)
PSFNS(pq4_0, PD_GGML_Q4_0)
PSFNS(pq5_0, PD_GGML_Q5_0)
PSFNS(pq4_1, PD_GGML_Q4_1)
PSFNS(pq5_1, PD_GGML_Q5_1)
PSFNS(pq4_k, PD_GGML_Q4_K)
PSFNS(pq5_k, PD_GGML_Q5_K)
PSFNS(pq6_k, PD_GGML_Q6_K)
/* The types with a stored form (store_bytes > 0). */
#define STORED_PICK(type, suffix) \
    ((type) == PD_GGML_Q8_0 ? pq8_0_##suffix : (type) == PD_GGML_Q4_0 ? pq4_0_##suffix : (type) == PD_GGML_Q5_0 ? pq5_0_##suffix \
     : (type) == PD_GGML_Q4_1 ? pq4_1_##suffix : (type) == PD_GGML_Q5_1 ? pq5_1_##suffix : (type) == PD_GGML_Q4_K ? pq4_k_##suffix \
     : (type) == PD_GGML_Q5_K ? pq5_k_##suffix : pq6_k_##suffix)

static void panel_pack_avx512(int type, const void *const *w, void *dst, int n) {
    packfn f = PANEL_PICK(type, pack);
    f((const uint8_t *const *)w, dst, n);
}

/* nx (1..8) activation rows against 16 rows: from the rows w when pk is NULL, else from the
 * panel pk; out[j * 16 + o]. */
static void panel_dot_avx512(int type, const void *const *w, const void *pk, const void *xq, size_t ldq, int nx, int n, float *out) {
    if (pk) PANEL_PICK(type, pfns)[nx](pk, xq, ldq, n, out);
    else PANEL_PICK(type, dfns)[nx]((const uint8_t *const *)w, xq, ldq, n, out);
}

/* 4 rows w[0..3] against nx activation rows (pd_wmat_row_dot's few-ids reads): the panel kernel. */
static int idot_avx512(int type, const void *const *w, const void *xq, size_t ldq, int nx, int n, float *out) {
    if (!panel_type_avx512(type)) return -1;
    const void *r16[16];
    float o[PNX * 16];
    for (int i = 0; i < 16; i++) r16[i] = w[i < 4 ? i : 3];
    panel_dot_avx512(type, r16, NULL, xq, ldq, nx, n, o);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < nx; j++) out[i * nx + j] = o[j * 16 + i];
    return 0;
}

static void store_avx512(int type, const void *const *w, void *dst, int n) {
    storefn f = STORED_PICK(type, store);
    f((const uint8_t *const *)w, dst, n);
}

static void stored_dot_avx512(int type, const void *sp, const void *xq, size_t ldq, int nx, int n, float *out) {
    STORED_PICK(type, sfns)[nx](sp, xq, ldq, n, out);
}

static const pd_qikernels qi_avx512 = {.name = "avx512vnni", .max_nx = INX, .quantize = q8_quantize_avx512, .dot = idot_avx512,
                                       .panel_type = panel_type_avx512, .panel_bytes = panel_bytes_avx512,
                                       .panel_pack = panel_pack_avx512, .panel_dot = panel_dot_avx512,
                                       .store_bytes = store_bytes_avx512, .store = store_avx512, .stored_dot = stored_dot_avx512};

const pd_qikernels *pd_qikernels_avx512(void) {
    __builtin_cpu_init();
    return pd_kernels_avx512() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512dq") ? &qi_avx512 : NULL;
}
#else
const pd_qkernels *pd_qkernels_avx512(void) { return NULL; }
const pd_qikernels *pd_qikernels_avx512(void) { return NULL; }
#endif

