/* quant_avx2.c — fused dequantize-and-dot kernels for GGUF blocks, AVX2 + FMA + F16C (8 lanes).
 *
 * The same design as quant_avx512.c, for the AVX2 kernel set's contract: each 8-value slice
 * of the quantized row is decoded in registers with quant.c's reference operations (never
 * fused) and multiplied into one 8-lane accumulator per activation row, in increasing element
 * order, reduced by pd_kernel_reduce's tree: bit for bit the AVX2 set's dot (and tile) on the
 * dequantized row. MR (4) weight rows and up to QNX (2) activation rows per call (16 ymm
 * registers: 8 accumulators, the weight vector, an activation vector, scales and masks).
 * These are the fp32-activation kernels (PONDER_QUANT_ACT=f32); the integer kernels on 8-bit
 * activations (the default) are at the end of the file.
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

/* One widened group of a 32-value block type: d * q (MIN 0; q already less the type's offset)
 * or d * q + m (MIN 1), the multiply and the add apart, as the reference. */
AVX2 INLINE __m256 q_val(const int MIN, __m256 d, __m256 m, __m256i q) {
    __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(q));
    return MIN ? _mm256_add_ps(v, m) : v;
}

/* Q4_0 (MIN 0): w = d * (q - 8), Q4_1 (MIN 1): w = d * q + m; byte j holds value j (low
 * nibble) and j + 16 (high). */
AVX2 INLINE void q4_gen(const int NX, const int MIN, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m256i m4 = _mm256_set1_epi32(15), e8 = _mm256_set1_epi32(MIN ? 0 : 8);
    const int bb = MIN ? 20 : 18, vo = MIN ? 4 : 2;
    for (int k = 0, o = 0; k < n; k += 32, o += bb) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m256 d = _mm256_set1_ps(h2f(b)), m = MIN ? _mm256_set1_ps(h2f(b + 2)) : d;
            __m256i v0 = u8x8(b + vo), v1 = u8x8(b + vo + 8);
            ACC(i, q_val(MIN, d, m, _mm256_sub_epi32(_mm256_and_si256(v0, m4), e8)), k);
            ACC(i, q_val(MIN, d, m, _mm256_sub_epi32(_mm256_and_si256(v1, m4), e8)), k + 8);
            ACC(i, q_val(MIN, d, m, _mm256_sub_epi32(_mm256_srli_epi32(v0, 4), e8)), k + 16);
            ACC(i, q_val(MIN, d, m, _mm256_sub_epi32(_mm256_srli_epi32(v1, 4), e8)), k + 24);
        }
    }
    END;
}

/* Q5_0 (MIN 0): w = d * ((q | h << 4) - 16), Q5_1 (MIN 1): w = d * (q | h << 4) + m; bit j of
 * qh is value j's fifth bit. The 32 values are assembled as bytes first (nibbles, plus 16
 * where the fifth bit is set: qh's bytes spread over the lanes and tested against one bit per
 * byte), Q5_0 minus 16, then widened 8 at a time. */
AVX2 INLINE void q5_gen(const int NX, const int MIN, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const __m128i b4 = _mm_set1_epi8(15);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull), b16 = _mm256_set1_epi8(16);
    const int bb = MIN ? 24 : 22, ho = MIN ? 4 : 2;
    for (int k = 0, o = 0; k < n; k += 32, o += bb) {
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + o;
            if (!(k & 63)) PREFETCH(b);
            __m256 d = _mm256_set1_ps(h2f(b)), m = MIN ? _mm256_set1_ps(h2f(b + 2)) : d;
            uint32_t qh;
            memcpy(&qh, b + ho, 4);
            __m128i qs = _mm_loadu_si128((const __m128i *)(b + ho + 4));
            __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), b4), _mm_and_si128(qs, b4));
            __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread);
            q = _mm256_or_si256(q, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), b16));
            if (!MIN) q = _mm256_sub_epi8(q, b16);
            __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1); /* Q5_1's 0..31 widen alike */
            ACC(i, q_val(MIN, d, m, _mm256_cvtepi8_epi32(q0)), k);
            ACC(i, q_val(MIN, d, m, _mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8))), k + 8);
            ACC(i, q_val(MIN, d, m, _mm256_cvtepi8_epi32(q1)), k + 16);
            ACC(i, q_val(MIN, d, m, _mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8))), k + 24);
        }
    }
    END;
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
                    pd_scale_min_k4(2 * j + half, sc, &s1, &m1);
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

/* Q2_K (Q3 0) and Q3_K (Q3 1): see quant_avx512.c; 8 values at a time. */
AVX2 INLINE void k23_gen(const int NX, const int Q3, const uint8_t *const *w, const float *x, size_t ldx, int n, float *out) {
    BEGIN;
    const size_t bb = Q3 ? 110 : 84;
    const __m256i m2 = _mm256_set1_epi32(3), one = _mm256_set1_epi32(1);
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
                __m256 dl = _mm256_set1_ps(ds[i][j]), ml = _mm256_set1_ps(Q3 ? 0.0f : dm[i][j]);
                for (int s = 0; s < 2; s++) {
                    const int l = 16 * (j & 1) + 8 * s;
                    __m256i v = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + (Q3 ? 32 : 16) + 32 * (j / 8) + l), 2 * (j % 8 / 2)), m2);
                    if (Q3) {
                        __m256i h = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + l), j / 2), one);
                        v = _mm256_sub_epi32(v, _mm256_slli_epi32(_mm256_xor_si256(h, one), 2));
                        ACC(i, _mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)), k + 16 * j + 8 * s);
                    } else
                        ACC(i, _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)), ml), k + 16 * j + 8 * s);
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

/* ---- 8-bit activations: integer dots with AVX2 (vpmaddubsw + vpmaddwd) ----
 *
 * One 32-value block per register: vpmaddubsw multiplies unsigned weight bytes by the signed
 * activation bytes and adds pairs to 16 bits (no saturation here: |weight| <= 128 and |q| <=
 * 127 give at most 32512 per pair), vpmaddwd against ones adds pairs to 8 exact 32-bit partial
 * sums (lane l: values 4l..4l+3), the same lanes as the AVX-512 VNNI kernels. Q8_0's signed
 * weights go in as |w| with the activation's sign flipped where w < 0 (vpsignb); the others are
 * stored unsigned and their offset is removed by adding the activation buffer's -8 * (sum of
 * each 4 q), shifted (Q3_K: half of it; Q4_1, Q5_1 and the K-quants' mins are scaled
 * block sums instead: see MIN_ACC, ik45_gen and M16_ACC). Then, as the VNNI kernels, each lane times (weight scale * dx) into a
 * vector accumulator per (weight row, activation row): 4 x up to 2 per call (8 of the 16
 * registers). */
#define INX 2
/* A packed group of 4 rows (as quant_avx512.c), per row: W (32 bytes per block), S (8 floats
 * per block), the K-quants' eight (dmin * min) per super-block (Q4_1/Q5_1: one min per block),
 * Q2_K's M (8 floats per block). */
#define PK_ROW(n) (3 * (size_t)(n) + (size_t)(n) / 8)
/* Q2_K's (dmin * min) per 8 lanes of a block (8 floats per block) after those. */
#define PK_M16(pk, i, n) ((float *)((uint8_t *)(pk) + (size_t)(i) * PK_ROW(n) + 2 * (size_t)(n) + (size_t)(n) / 8))

AVX2 static void q8_quantize_avx2(const float *x, int n, void *dst) {
    int8_t *q = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / 32; b++) {
        __m256 a[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) a[k] = _mm256_loadu_ps(x + 32 * b + 8 * k), m = _mm256_max_ps(m, _mm256_andnot_ps(sign, a[k]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        float amax = _mm_cvtss_f32(h);
        float dx = amax / 127.0f, id = dx != 0.0f ? 1.0f / dx : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(a[0], vid)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(a[1], vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(a[2], vid)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(a[3], vid));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_permutevar8x32_epi32(p, order));
        pd_q8_block_tail(dst, n, b, dx);
    }
}

/* acc[i][j] += (S * dx8) * float(partial sums of W (unsigned) x q + (c8 << SH, none if SH < 0)) over block k of every
 * activation row j; Q8 (W signed): |W| x q with q's sign flipped where W < 0. */
#define IACC(i, W, S, k, SH, Q8)                                                                                    \
    do {                                                                                                             \
        if (NX == 0) { /* packing: W and S of row i, block k */                                                      \
            _mm256_storeu_si256((__m256i *)((uint8_t *)out + (size_t)(i) * PK_ROW(n) + 32 * (size_t)(k)), (W));     \
            _mm256_storeu_ps((float *)((uint8_t *)out + (size_t)(i) * PK_ROW(n) + (size_t)(n)) + 8 * (size_t)(k), (S)); \
        }                                                                                                            \
        __m256i wa_ = (Q8) ? _mm256_abs_epi8(W) : (W);                                                               \
        _Pragma("GCC unroll 2") for (int j_ = 0; j_ < NX; j_++) {                                                    \
            const uint8_t *a_ = xq + (size_t)j_ * ldq;                                                               \
            __m256i q_ = _mm256_loadu_si256((const __m256i *)(a_ + 32 * (size_t)(k)));                              \
            if (Q8) q_ = _mm256_sign_epi8(q_, (W));                                                                  \
            __m256i p_ = _mm256_madd_epi16(_mm256_maddubs_epi16(wa_, q_), ones);                                     \
            if ((SH) >= 0)                                                                                           \
                p_ = _mm256_add_epi32(p_, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(PD_Q8_C8(a_, n) + 8 * (k))), (SH) < 0 ? 0 : (SH))); \
            else if ((SH) == -2) /* Q3_K's offset 4: half of -8 * (sum of each 4 q) */                              \
                p_ = _mm256_add_epi32(p_, _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(PD_Q8_C8(a_, n) + 8 * (k))), 1)); \
            __m256 s_ = _mm256_mul_ps((S), _mm256_loadu_ps(PD_Q8_DX8(a_, n) + 8 * (k)));                             \
            acc[i][j_] = _mm256_fmadd_ps(s_, _mm256_cvtepi32_ps(p_), acc[i][j_]);                                    \
        }                                                                                                            \
    } while (0)

#define IBEGIN                                                                                                       \
    const ptrdiff_t ahead = MR * (w[1] - w[0]);                                                                      \
    const __m256i ones = _mm256_set1_epi16(1);                                                                       \
    __m256 acc[MR][INX];                                                                                             \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)      \
        acc[i][j] = _mm256_setzero_ps()
#define IEND                                                                                                         \
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)      \
        out[i * NX + j] = hsum8(acc[i][j])

/* The mins of Q4_1 / Q5_1 (w = d * q + m, q stored without an offset): for blocks k..k + 7
 * (fewer at the end of the row: live lanes), acc[i][j] += m_b * (dx_b * block sum of q) lane by
 * lane, once per 8 blocks before block k's integer sums; packing stores the 8 mins as floats. */
AVX2 INLINE __m256i live8(int k, int n) {
    int nm = n / 32 - k < 8 ? n / 32 - k : 8;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nm), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define MIN_ACC(i, mv, live, k)                                                                                      \
    _Pragma("GCC unroll 2") for (int j_ = 0; j_ < NX; j_++) acc[i][j_] =                                            \
        _mm256_fmadd_ps((mv), _mm256_maskload_ps(PD_Q8_DXS(xq + (size_t)j_ * ldq, n) + (k), (live)), acc[i][j_])

/* Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: one 32-value block per step. */
AVX2 INLINE void i32_gen(const int TYPE, const int NX, const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) {
    IBEGIN;
    const int MIN1 = TYPE == PD_GGML_Q4_1 || TYPE == PD_GGML_Q5_1, FIVE = TYPE == PD_GGML_Q5_0 || TYPE == PD_GGML_Q5_1;
    const int bb = TYPE == PD_GGML_Q8_0 ? 34 : TYPE == PD_GGML_Q4_0 ? 18 : TYPE == PD_GGML_Q5_0 ? 22 : TYPE == PD_GGML_Q4_1 ? 20 : 24;
    const int SH = TYPE == PD_GGML_Q8_0 || MIN1 ? -1 : TYPE == PD_GGML_Q4_0 ? 0 : 1;
    const int oq = TYPE == PD_GGML_Q4_0 ? 2 : TYPE == PD_GGML_Q4_1 ? 4 : TYPE == PD_GGML_Q5_0 ? 6 : 8; /* the nibbles */
    const int oh = TYPE == PD_GGML_Q5_0 ? 2 : 4;                                                    /* the fifth bits */
    const __m256i m4 = _mm256_set1_epi8(0xf), five = _mm256_set1_epi8(16);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = _mm256_set1_epi64x(0x8040201008040201LL);
    for (int k = 0; k < n / 32; k++) {
        if (MIN1 && !(k & 7)) {
            const __m256i live = live8(k, n);
            const int nm = n / 32 - k < 8 ? n / 32 - k : 8;
            _Pragma("GCC unroll 4") ROWS {
                uint16_t mh[8] = {0};
                for (int e = 0; e < nm; e++) memcpy(mh + e, w[i] + (size_t)(k + e) * bb + 2, 2);
                __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)mh));
                if (NX == 0) _mm256_maskstore_ps((float *)((uint8_t *)out + (size_t)i * PK_ROW(n) + 2 * (size_t)n) + k, live, mv);
                MIN_ACC(i, mv, live, k);
            }
        }
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + (size_t)k * bb;
            if (TYPE == PD_GGML_Q8_0 || !(k & 1)) PREFETCH(b);
            __m256 S = _mm256_set1_ps(h2f(b));
            __m256i W;
            if (TYPE == PD_GGML_Q8_0) W = _mm256_loadu_si256((const __m256i *)(b + 2));
            else {
                __m128i v = _mm_loadu_si128((const __m128i *)(b + oq));
                W = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1), m4);
                if (FIVE) { /* byte l gets bit l of qh: spread its 4 bytes 8 times each, test one bit per byte */
                    uint32_t qh;
                    memcpy(&qh, b + oh, 4);
                    __m256i hb = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread), bits);
                    W = _mm256_or_si256(W, _mm256_and_si256(_mm256_cmpeq_epi8(hb, bits), five));
                }
            }
            IACC(i, W, S, k, SH, TYPE == PD_GGML_Q8_0);
        }
    }
    IEND;
}

/* Q4_K (FIVE 0), Q5_K (FIVE 1): per super-block the eight (d * scale_s), (dmin * min_s). */
AVX2 INLINE void ik45_gen(const int NX, const int FIVE, const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) {
    IBEGIN;
    const size_t bb = FIVE ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(0xf), one = _mm256_set1_epi8(1);
    for (int sb = 0; sb < n / 256; sb++) {
        __m256 dsc[MR];
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + sb * bb;
            PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128);
            uint32_t u[3];
            memcpy(u, b + 4, 12);
            uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
            uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4;
            uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4;
            __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)((uint64_t)sc_hi << 32 | sc_lo))));
            __m256 mnf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)((uint64_t)mn_hi << 32 | mn_lo))));
            dsc[i] = _mm256_mul_ps(_mm256_set1_ps(h2f(b)), scf);
            __m256 dmm = _mm256_mul_ps(_mm256_set1_ps(h2f(b + 2)), mnf);
            if (NX == 0) _mm256_storeu_ps((float *)((uint8_t *)out + (size_t)i * PK_ROW(n) + 2 * (size_t)n) + 8 * sb, dmm);
            _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++) /* the mins */
                acc[i][j] = _mm256_fnmadd_ps(dmm, _mm256_loadu_ps(PD_Q8_DXS(xq + (size_t)j * ldq, n) + 8 * sb), acc[i][j]);
        }
        for (int q = 0; q < 4; q++) {
            _Pragma("GCC unroll 4") ROWS {
                const uint8_t *b = w[i] + sb * bb;
                __m256i v = _mm256_loadu_si256((const __m256i *)(b + (FIVE ? 48 : 16) + 32 * q));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                if (FIVE) {
                    __m256i h = _mm256_loadu_si256((const __m256i *)(b + 16));
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * q)), one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * q + 1)), one), 4));
                }
                IACC(i, lo, _mm256_permutevar8x32_ps(dsc[i], _mm256_set1_epi32(2 * q)), 8 * sb + 2 * q, -1, 0);
                IACC(i, hi, _mm256_permutevar8x32_ps(dsc[i], _mm256_set1_epi32(2 * q + 1)), 8 * sb + 2 * q + 1, -1, 0);
            }
        }
    }
    IEND;
}

/* Q6_K: per half of 128, four blocks (low / high nibbles of ql[0..31] / ql[32..63], with
 * bit pairs 0-1, 2-3, 4-5, 6-7 of qh); lanes 0-3 and 4-7 of block g take scales 2g, 2g + 1. */
AVX2 INLINE void iq6_k_gen(const int NX, const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) {
    IBEGIN;
    const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(3);
    for (int sb = 0; sb < n / 256; sb++) {
        for (int h = 0; h < 2; h++) {
            _Pragma("GCC unroll 4") ROWS {
                const uint8_t *b = w[i] + sb * 210;
                if (!h) PREFETCH(b), PREFETCH(b + 64), PREFETCH(b + 128), PREFETCH(b + 192);
                __m256 dsc = _mm256_mul_ps(_mm256_set1_ps(h2f(b + 208)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 192 + 8 * h)))));
                __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * h)), qb = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
                _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                    __m256i ql = g & 1 ? qb : qa;
                    __m256i W = _mm256_and_si256(g < 2 ? ql : _mm256_srli_epi16(ql, 4), m4);
                    W = _mm256_or_si256(W, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m2), 4));
                    __m256 S = _mm256_permutevar8x32_ps(dsc, _mm256_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1));
                    IACC(i, W, S, 8 * sb + 4 * h + g, 2, 0);
                }
            }
        }
    }
    IEND;
}

/* Q2_K's mins for block k: acc[i][j] += (M * dx8) * float(-(sum of each 4 q)) (M: lanes 0-3
 * the first 16 values' dmin * min, lanes 4-7 the second 16's); packing stores M. */
#define M16_ACC(i, M, k)                                                                                             \
    do {                                                                                                             \
        if (NX == 0) _mm256_storeu_ps(PK_M16(out, i, n) + 8 * (size_t)(k), (M));                                     \
        _Pragma("GCC unroll 2") for (int j_ = 0; j_ < NX; j_++) {                                                    \
            const uint8_t *a_ = xq + (size_t)j_ * ldq;                                                               \
            __m256i s4_ = _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(PD_Q8_C8(a_, n) + 8 * (k))), 3);   \
            acc[i][j_] = _mm256_fmadd_ps(_mm256_mul_ps((M), _mm256_loadu_ps(PD_Q8_DX8(a_, n) + 8 * (k))), _mm256_cvtepi32_ps(s4_), acc[i][j_]); \
        }                                                                                                            \
    } while (0)

/* Q2_K (Q3 0) and Q3_K (Q3 1): per super-block each row's 16 (d * scale) (and Q2_K's 16 (dmin *
 * min)); block c of 32 values: the 2-bit values at bits 2 (c % 4) of bytes 32 (c / 4) .. + 31
 * (Q3_K: plus 4 * bit c of hmask, less 4 through the activation sums), lanes 0-3 and 4-7 with
 * scales 2c and 2c + 1. */
AVX2 INLINE void ik23_gen(const int NX, const int Q3, const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) {
    IBEGIN;
    const size_t bb = Q3 ? 110 : 84;
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int sb = 0; sb < n / 256; sb++) {
        float ds[MR][16], dm[MR][16];
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *b = w[i] + sb * bb;
            PREFETCH(b), PREFETCH(b + 64);
            pd_k23_factors(Q3, b, ds[i], dm[i]);
        }
        for (int c = 0; c < 8; c++) {
            _Pragma("GCC unroll 4") ROWS {
                const uint8_t *b = w[i] + sb * bb;
                __m256i v = _mm256_loadu_si256((const __m256i *)(b + (Q3 ? 32 : 16) + 32 * (c / 4)));
                __m256i W = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (c % 4))), m2);
                if (Q3) {
                    __m256i h = _mm256_loadu_si256((const __m256i *)b);
                    W = _mm256_or_si256(W, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(c)), one), 2));
                }
                __m256 S = _mm256_set_m128(_mm_set1_ps(ds[i][2 * c + 1]), _mm_set1_ps(ds[i][2 * c]));
                IACC(i, W, S, 8 * sb + c, Q3 ? -2 : -1, 0);
                if (!Q3) M16_ACC(i, _mm256_set_m128(_mm_set1_ps(dm[i][2 * c + 1]), _mm_set1_ps(dm[i][2 * c])), 8 * sb + c);
            }
        }
    }
    IEND;
}

/* The packed kernel: the direct kernels' operations on a packed group, in the same order. */
AVX2 INLINE void ipk_gen(const int NX, const int SH, const int Q8, const int K45, const int MIN1, const int M16, const uint8_t *pk,
                         const uint8_t *xq, size_t ldq, int n, float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MR][INX];
    _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)
        acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < n / 32; k++) {
        if (K45 && !(k & 7))
            _Pragma("GCC unroll 4") ROWS {
                __m256 dmm = _mm256_loadu_ps((const float *)(pk + (size_t)i * PK_ROW(n) + 2 * (size_t)n) + k);
                _Pragma("GCC unroll 2") for (int j = 0; j < NX; j++)
                    acc[i][j] = _mm256_fnmadd_ps(dmm, _mm256_loadu_ps(PD_Q8_DXS(xq + (size_t)j * ldq, n) + k), acc[i][j]);
            }
        if (MIN1 && !(k & 7)) {
            const __m256i live = live8(k, n);
            _Pragma("GCC unroll 4") ROWS {
                __m256 mv = _mm256_maskload_ps((const float *)(pk + (size_t)i * PK_ROW(n) + 2 * (size_t)n) + k, live);
                MIN_ACC(i, mv, live, k);
            }
        }
        _Pragma("GCC unroll 4") ROWS {
            const uint8_t *r = pk + (size_t)i * PK_ROW(n);
            __m256i W = _mm256_loadu_si256((const __m256i *)(r + 32 * (size_t)k));
            __m256 S = _mm256_loadu_ps((const float *)(r + n) + 8 * (size_t)k);
            IACC(i, W, S, k, SH, Q8);
            if (M16) M16_ACC(i, _mm256_loadu_ps(PK_M16(pk, i, n) + 8 * (size_t)k), k);
        }
    }
    IEND;
}

typedef void (*ifn)(const uint8_t *const *, const uint8_t *, size_t, int, float *);
#define IFN(NAME, NX, CALL) \
    AVX2 static void NAME##_##NX(const uint8_t *const *w, const uint8_t *xq, size_t ldq, int n, float *out) { CALL; }
#define IFNS(NAME, CALL_NX) IFN(NAME, 0, CALL_NX(0)) IFN(NAME, 1, CALL_NX(1)) IFN(NAME, 2, CALL_NX(2)) \
    static const ifn NAME##_fns[INX + 1] = {NAME##_0, NAME##_1, NAME##_2};
#define IQ8_0_CALL(NX) i32_gen(PD_GGML_Q8_0, NX, w, xq, ldq, n, out)
#define IQ4_0_CALL(NX) i32_gen(PD_GGML_Q4_0, NX, w, xq, ldq, n, out)
#define IQ5_0_CALL(NX) i32_gen(PD_GGML_Q5_0, NX, w, xq, ldq, n, out)
#define IQ2_K_CALL(NX) ik23_gen(NX, 0, w, xq, ldq, n, out)
#define IQ3_K_CALL(NX) ik23_gen(NX, 1, w, xq, ldq, n, out)
#define IQ4_1_CALL(NX) i32_gen(PD_GGML_Q4_1, NX, w, xq, ldq, n, out)
#define IQ5_1_CALL(NX) i32_gen(PD_GGML_Q5_1, NX, w, xq, ldq, n, out)
#define IQ4_K_CALL(NX) ik45_gen(NX, 0, w, xq, ldq, n, out)
#define IQ5_K_CALL(NX) ik45_gen(NX, 1, w, xq, ldq, n, out)
#define IQ6_K_CALL(NX) iq6_k_gen(NX, w, xq, ldq, n, out)
IFNS(iq8_0, IQ8_0_CALL)
IFNS(iq4_0, IQ4_0_CALL)
IFNS(iq5_0, IQ5_0_CALL)
IFNS(iq2_k, IQ2_K_CALL)
IFNS(iq3_k, IQ3_K_CALL)
IFNS(iq4_1, IQ4_1_CALL)
IFNS(iq5_1, IQ5_1_CALL)
IFNS(iq4_k, IQ4_K_CALL)
IFNS(iq5_k, IQ5_K_CALL)
IFNS(iq6_k, IQ6_K_CALL)

typedef void (*pfn)(const uint8_t *, const uint8_t *, size_t, int, float *);
#define PFN(NAME, SH, Q8, K45, MIN1, M16, NX) \
    AVX2 static void NAME##_##NX(const uint8_t *pk, const uint8_t *xq, size_t ldq, int n, float *out) { ipk_gen(NX, SH, Q8, K45, MIN1, M16, pk, xq, ldq, n, out); }
#define PFNS(NAME, SH, Q8, K45, MIN1, M16) PFN(NAME, SH, Q8, K45, MIN1, M16, 1) PFN(NAME, SH, Q8, K45, MIN1, M16, 2) \
    static const pfn NAME##_fns[INX + 1] = {NULL, NAME##_1, NAME##_2};
PFNS(pk_q8, -1, 1, 0, 0, 0)
PFNS(pk_sh0, 0, 0, 0, 0, 0)
PFNS(pk_sh1, 1, 0, 0, 0, 0)
PFNS(pk_sh2, 2, 0, 0, 0, 0)
PFNS(pk_k45, -1, 0, 1, 0, 0)
PFNS(pk_min, -1, 0, 0, 1, 0)
PFNS(pk_q2k, -1, 0, 0, 0, 1)
PFNS(pk_q3k, -2, 0, 0, 0, 0)

static size_t ipack_bytes_avx2(int n) { return MR * PK_ROW(n); }

static int ipack_avx2(int type, const void *const *w, void *dst, int n) {
    const ifn *f = type == PD_GGML_Q8_0 ? iq8_0_fns : type == PD_GGML_Q4_0 ? iq4_0_fns : type == PD_GGML_Q5_0 ? iq5_0_fns
                 : type == PD_GGML_Q4_1 ? iq4_1_fns : type == PD_GGML_Q5_1 ? iq5_1_fns
                 : type == PD_GGML_Q2_K ? iq2_k_fns : type == PD_GGML_Q3_K ? iq3_k_fns : type == PD_GGML_Q4_K ? iq4_k_fns : type == PD_GGML_Q5_K ? iq5_k_fns : type == PD_GGML_Q6_K ? iq6_k_fns : NULL;
    if (!f) return -1;
    f[0]((const uint8_t *const *)w, NULL, 0, n, dst);
    return 0;
}

static void ipdot_avx2(int type, const void *pk, const void *xq, size_t ldq, int nx, int n, float *out) {
    const pfn *f = type == PD_GGML_Q8_0 ? pk_q8_fns : type == PD_GGML_Q4_0 ? pk_sh0_fns : type == PD_GGML_Q5_0 ? pk_sh1_fns
                 : type == PD_GGML_Q6_K ? pk_sh2_fns : type == PD_GGML_Q4_1 || type == PD_GGML_Q5_1 ? pk_min_fns
                 : type == PD_GGML_Q2_K ? pk_q2k_fns : type == PD_GGML_Q3_K ? pk_q3k_fns : pk_k45_fns;
    f[nx](pk, xq, ldq, n, out);
}

static int idot_avx2(int type, const void *const *w, const void *xq, size_t ldq, int nx, int n, float *out) {
    const ifn *f = type == PD_GGML_Q8_0 ? iq8_0_fns : type == PD_GGML_Q4_0 ? iq4_0_fns : type == PD_GGML_Q5_0 ? iq5_0_fns
                 : type == PD_GGML_Q4_1 ? iq4_1_fns : type == PD_GGML_Q5_1 ? iq5_1_fns
                 : type == PD_GGML_Q2_K ? iq2_k_fns : type == PD_GGML_Q3_K ? iq3_k_fns : type == PD_GGML_Q4_K ? iq4_k_fns : type == PD_GGML_Q5_K ? iq5_k_fns : type == PD_GGML_Q6_K ? iq6_k_fns : NULL;
    if (!f) return -1;
    f[nx]((const uint8_t *const *)w, xq, ldq, n, out);
    return 0;
}

/* ---- stored panels: 16 rows repacked once at load (model.c), for every batch width ----
 *
 * The row kernels read 4 row streams and load each block's scale alone (vpinsrw + vcvtph2ps);
 * at batch 1 those loads, not the arithmetic, bound them. A stored panel is two halves of 8
 * rows (rows 0-7, then 8-15), each one sequential region in about the file's size:
 *   the 8 half scales of every block (16 bytes per block, the count rounded up to even so the
 *   values stay 32-byte aligned), then per block: Q5_0 32 bytes of fifth bits (byte 4 o + b,
 *   bit l: the fifth bit of value 4 l + b of row o), then the values, with the rows in the 8
 *   lanes: Q8_0 8 x 32 bytes (vector l, byte 4 o + b: value 4 l + b of row o, signed), Q4_0 /
 *   Q5_0 4 x 32 bytes (vector l < 4: the nibbles of values 4 l + b | those of 4 (l + 4) + b
 *   << 4).
 * The kernel keeps one accumulator per value quad l (8 rows in its lanes) for one activation
 * row at a time: lane o of accumulator l is lane l of the row kernels' accumulator for row o,
 * and gets the same exact integer sums (vpmaddubsw + vpmaddwd of the same products, the same
 * offsets), times the same (scale * dx), by the same fma, block by block; hsum8's tree is then
 * the same adds across the 8 accumulators. So every output is the row kernels' bits. */
#define ST_VB(TYPE) ((TYPE) == PD_GGML_Q8_0 ? 256 : (TYPE) == PD_GGML_Q4_0 ? 128 : 160) /* per block and half */
#define ST_HDR(n) ((size_t)((n) / 32 + 1) / 2 * 32)                                    /* the scales of a half */
#define ST_HALF(TYPE, n) (ST_HDR(n) + (size_t)((n) / 32) * ST_VB(TYPE))

static size_t istore_bytes_avx2(int type, int n) {
    switch (type) {
    case PD_GGML_Q8_0: case PD_GGML_Q4_0: case PD_GGML_Q5_0: return 2 * ST_HALF(type, n);
    default: return 0;
    }
}

static void istore_avx2(int type, const void *const *w, void *dst, int n) {
    const int nb = n / 32, bb = type == PD_GGML_Q8_0 ? 34 : type == PD_GGML_Q4_0 ? 18 : 22;
    for (int h = 0; h < 2; h++) {
        uint8_t *half = (uint8_t *)dst + (size_t)h * ST_HALF(type, n);
        memset(half, 0, ST_HDR(n));
        for (int k = 0; k < nb; k++) {
            uint8_t *v = half + ST_HDR(n) + (size_t)k * ST_VB(type);
            memset(v, 0, (size_t)ST_VB(type));
            for (int o = 0; o < 8; o++) {
                const uint8_t *b = (const uint8_t *)w[8 * h + o] + (size_t)k * bb;
                memcpy(half + 16 * (size_t)k + 2 * o, b, 2);
                uint8_t q[32]; /* the row kernels' weight bytes: value m at byte m */
                if (type == PD_GGML_Q8_0) memcpy(q, b + 2, 32);
                else {
                    const uint8_t *qs = b + (type == PD_GGML_Q4_0 ? 2 : 6);
                    uint32_t qh = 0;
                    if (type == PD_GGML_Q5_0) memcpy(&qh, b + 2, 4);
                    for (int m = 0; m < 16; m++) q[m] = qs[m] & 0xf, q[m + 16] = qs[m] >> 4;
                    for (int m = 0; m < 32; m++) q[m] |= (uint8_t)(((qh >> m) & 1) << 4);
                }
                for (int l = 0; l < 8; l++)
                    for (int e = 0; e < 4; e++) {
                        uint8_t x = q[4 * l + e];
                        if (type == PD_GGML_Q8_0) v[32 * l + 4 * o + e] = x;
                        else {
                            uint8_t *p = v + (type == PD_GGML_Q5_0 ? 32 : 0) + 32 * (l & 3) + 4 * o + e;
                            *p |= (uint8_t)((x & 0xf) << (l < 4 ? 0 : 4));
                            if (type == PD_GGML_Q5_0) v[4 * o + e] |= (uint8_t)(((x >> 4) & 1) << l);
                        }
                    }
            }
        }
    }
}

/* The 8 weight vectors of one stored block v (rows in the lanes, vector l: values 4 l .. 4 l + 3):
 * Q4_0 / Q5_0 unsigned (nibbles, plus 16 where the fifth bit is set). */
AVX2 INLINE void st_unpack(const int TYPE, const uint8_t *v, __m256i *W) {
    const __m256i m4 = _mm256_set1_epi8(0xf), b16 = _mm256_set1_epi8(16);
    const uint8_t *pv = v + (TYPE == PD_GGML_Q5_0 ? 32 : 0);
    const __m256i H = TYPE == PD_GGML_Q5_0 ? _mm256_loadu_si256((const __m256i *)v) : _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int l = 0; l < 4; l++) {
        __m256i P = _mm256_loadu_si256((const __m256i *)(pv + 32 * l));
        W[l] = _mm256_and_si256(P, m4), W[l + 4] = _mm256_and_si256(_mm256_srli_epi16(P, 4), m4);
    }
    if (TYPE == PD_GGML_Q5_0) /* bit l of H to bit 4 (shifts within each byte) */
        _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++)
            W[l] = _mm256_or_si256(W[l], _mm256_and_si256(l < 4 ? _mm256_slli_epi16(H, 4 - l) : _mm256_srli_epi16(H, l - 4), b16));
}

/* A[l] += (scale * dx) * float(integer sums of quad l) for block k of activation row a (W: the
 * block's 8 weight vectors; Q8_0 signed, the others unsigned with their offset through c8, or
 * with Wa (their absolute values) signed, the offset already taken: the same integers). */
AVX2 INLINE void st_block(const int TYPE, const __m256i *W, const __m256i *Wa, const uint8_t *scales, const uint8_t *a, int n, int k, __m256 *A) {
    const int SH = TYPE == PD_GGML_Q4_0 ? 0 : 1; /* Q4_0, Q5_0: the offset 8 or 16 through c8 */
    const __m256i ones = _mm256_set1_epi16(1);
    const int32_t *c8 = PD_Q8_C8(a, n) + 8 * (size_t)k;
    const uint8_t *x = a + 32 * (size_t)k;
    __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + 16 * (size_t)k))),
                             _mm256_set1_ps(PD_Q8_DX8(a, n)[8 * (size_t)k]));
    _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) {
        int32_t xl;
        memcpy(&xl, x + 4 * l, 4);
        __m256i q = _mm256_set1_epi32(xl), p;
        if (Wa) p = _mm256_madd_epi16(_mm256_maddubs_epi16(Wa[l], _mm256_sign_epi8(q, W[l])), ones); /* signed W, |W| given */
        else if (TYPE == PD_GGML_Q8_0) p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(W[l]), _mm256_sign_epi8(q, W[l])), ones);
        else p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(W[l], q), ones), _mm256_set1_epi32(c8[l] * (1 << SH)));
        A[l] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(p), A[l]);
    }
}

/* hsum8's tree on the 8 quad accumulators: ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)). */
AVX2 INLINE __m256 st_sum(const __m256 *A) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(A[0], A[4]), _mm256_add_ps(A[2], A[6])),
                         _mm256_add_ps(_mm256_add_ps(A[1], A[5]), _mm256_add_ps(A[3], A[7])));
}

/* out[j * 16 + 8 h + o] for activation row j < nx at xq, half h of the stored panel sp. One
 * activation row at a time over a half (8 accumulators); for several rows, Q4_0 / Q5_0 unpack
 * CH blocks once into ws (less their offset, signed) and wa (absolute values) and run every
 * activation row over them (the accumulators kept in A). */
AVX2 INLINE void istored_gen(const int TYPE, const uint8_t *sp, const uint8_t *xq, size_t ldq, int nx, int n, float *out) {
    enum { CH = 16 };
    const int nb = n / 32;
    for (int h = 0; h < 2; h++) {
        const uint8_t *half = sp + (size_t)h * ST_HALF(TYPE, n), *vals = half + ST_HDR(n);
        if (TYPE != PD_GGML_Q8_0 && nx > 1) {
            __m256 A[PD_PANEL_NX][8];
            __m256i ws[CH * 8], wa[CH * 8];
            const __m256i off = _mm256_set1_epi8(TYPE == PD_GGML_Q4_0 ? 8 : 16);
            for (int j = 0; j < nx; j++) _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) A[j][l] = _mm256_setzero_ps();
            for (int k0 = 0; k0 < nb; k0 += CH) {
                const int ke = nb - k0 < CH ? nb : k0 + CH;
                for (int k = k0; k < ke; k++) {
                    __m256i *W = ws + 8 * (k - k0);
                    st_unpack(TYPE, vals + (size_t)k * ST_VB(TYPE), W);
                    _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++)
                        W[l] = _mm256_sub_epi8(W[l], off), wa[8 * (k - k0) + l] = _mm256_abs_epi8(W[l]);
                }
                for (int j = 0; j < nx; j++) {
                    __m256 acc[8];
                    _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) acc[l] = A[j][l];
                    for (int k = k0; k < ke; k++) st_block(TYPE, ws + 8 * (k - k0), wa + 8 * (k - k0), half, xq + (size_t)j * ldq, n, k, acc);
                    _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) A[j][l] = acc[l];
                }
            }
            for (int j = 0; j < nx; j++) _mm256_storeu_ps(out + 16 * (size_t)j + 8 * h, st_sum(A[j]));
            continue;
        }
        for (int j = 0; j < nx; j++) {
            __m256 A[8];
            _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) A[l] = _mm256_setzero_ps();
            for (int k = 0; k < nb; k++) {
                const uint8_t *v = vals + (size_t)k * ST_VB(TYPE);
                _mm_prefetch((const char *)v + 1024, _MM_HINT_T0);
                __m256i W[8];
                if (TYPE == PD_GGML_Q8_0)
                    _Pragma("GCC unroll 8") for (int l = 0; l < 8; l++) W[l] = _mm256_loadu_si256((const __m256i *)(v + 32 * l));
                else st_unpack(TYPE, v, W);
                st_block(TYPE, W, NULL, half, xq + (size_t)j * ldq, n, k, A);
            }
            _mm256_storeu_ps(out + 16 * (size_t)j + 8 * h, st_sum(A));
        }
    }
}

AVX2 static void istored_q8_0(const uint8_t *sp, const uint8_t *xq, size_t ldq, int nx, int n, float *out) { istored_gen(PD_GGML_Q8_0, sp, xq, ldq, nx, n, out); }
AVX2 static void istored_q4_0(const uint8_t *sp, const uint8_t *xq, size_t ldq, int nx, int n, float *out) { istored_gen(PD_GGML_Q4_0, sp, xq, ldq, nx, n, out); }
AVX2 static void istored_q5_0(const uint8_t *sp, const uint8_t *xq, size_t ldq, int nx, int n, float *out) { istored_gen(PD_GGML_Q5_0, sp, xq, ldq, nx, n, out); }

static void istored_dot_avx2(int type, const void *sp, const void *xq, size_t ldq, int nx, int n, float *out) {
    if (type == PD_GGML_Q8_0) istored_q8_0(sp, xq, ldq, nx, n, out);
    else if (type == PD_GGML_Q4_0) istored_q4_0(sp, xq, ldq, nx, n, out);
    else istored_q5_0(sp, xq, ldq, nx, n, out);
}

static const pd_qikernels qi_avx2 = {.name = "avx2", .max_nx = INX, .quantize = q8_quantize_avx2, .dot = idot_avx2,
                                     .pack_bytes = ipack_bytes_avx2, .pack = ipack_avx2, .dot_packed = ipdot_avx2,
                                     .store_bytes = istore_bytes_avx2, .store = istore_avx2, .stored_dot = istored_dot_avx2};

const pd_qikernels *pd_qikernels_avx2(void) { return pd_kernels_avx2() ? &qi_avx2 : NULL; }
#else
const pd_qkernels *pd_qkernels_avx2(void) { return NULL; }
const pd_qikernels *pd_qikernels_avx2(void) { return NULL; }
#endif
