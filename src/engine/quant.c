/* quant.c — GGUF block-quantized weights: dequantization and the quantized matmul.
 *
 * Formats (ggml's, little-endian; d, dmin, m are IEEE halves):
 *   Q8_0  32 values:  d, int8 q[32]                       w = d * q
 *   Q4_0  32 values:  d, 16 bytes of nibbles              w = d * (q - 8)
 *   Q4_1  32 values:  d, m, 16 bytes of nibbles           w = d * q + m
 *   Q5_0  32 values:  d, qh (32 fifth bits), 16 bytes     w = d * ((q | h << 4) - 16)
 *   Q5_1  32 values:  d, m, qh, 16 bytes                  w = d * (q | h << 4) + m
 *   (in these, byte j holds value j in its low nibble and value j + 16 in its high one)
 *   Q4_K  256 values: d, dmin, 12 bytes of eight 6-bit (scale, min) pairs, 128 bytes of
 *         nibbles; sub-block s of 32: w = (d * scale_s) * q - (dmin * min_s)
 *   Q5_K  256 values: as Q4_K plus 32 bytes of fifth bits
 *   Q6_K  256 values: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 int8 scales, d;
 *         sub-block s of 16: w = (d * scale_s) * (q - 32)
 *   Q2_K  256 values: 16 bytes of 4-bit (scale, min) pairs, 64 bytes of 2-bit values, d, dmin;
 *         sub-block s of 16: w = (d * scale_s) * q - (dmin * min_s)
 *   Q3_K  256 values: 32 bytes of high bits, 64 bytes of 2-bit values, 12 bytes of sixteen
 *         6-bit scales (stored + 32), d; sub-block s of 16: w = (d * scale_s) * (q - 4 h'),
 *         h' = 1 where the high bit is clear (see deq_q2_k, deq_q3_k for the bit positions)
 * Each value is produced by exactly the float operations written above, in that order (the
 * ones gguf's Python dequantizer and ggml use), so the dequantized weights are bit-exact and
 * a model's logits match a reference computed on the dequantized weights to fp32 rounding.
 *
 * The matmul has two modes. By default (PONDER_QUANT_ACT=q8, pd_model.quant_act) the types
 * with integer kernels (all of the above) run on 8-bit activations: each
 * activation row is quantized once per matmul (blocks of 32, see "8-bit activations" below)
 * and pd_quant_rows_q8 computes exact integer block sums (AVX-512 VNNI vpdpbusd, AVX2
 * vpmaddubsw, or the portable reference) for every batch width: decode and narrow batches
 * decode each group of 4 weight rows in registers, wide batches pack the group once and run
 * every activation row against it (the same bits). This is llama.cpp's trade: decode reads
 * the same bytes with a fraction of the arithmetic, and the logits move by the activations'
 * rounding (tests/test_gguf_model.c: within 6e-2 of the largest logit on the tiny fixtures).
 * With PONDER_QUANT_ACT=f32 the fp32 path below is used. Either way a row's result never
 * depends on its batch.
 *
 * The fp32 path (pd_quant_rows, one pool task per range of weight rows) has two paths:
 *   - decode and narrow batches (T < WIDE_MIN) on a SIMD set: fused dequantize-and-dot
 *     kernels (quant_avx2.c, quant_avx512.c) read each row's blocks straight from memory,
 *     decode them in registers and multiply them into up to max_nx activation rows at once;
 *     no fp32 copy of the weights is written anywhere;
 *   - wide batches (prefill) and the portable set: a block
 *     of PD_ROW_BLOCK rows is dequantized once into a per-thread buffer and run through the
 *     kernel set's register tiles (kernels.c's pd_matmul_rows, the same micro-kernel as
 *     bf16 weights), reused by every activation row.
 * On this path activations stay fp32. The cost is more arithmetic per weight, which decode (bound by memory bandwidth) does not
 * feel; the gain is accuracy and exactness: both paths compute, bit for bit, the kernel set's
 * fp32 dot on the bit-exact dequantized weights (the fused kernels decode with the same
 * operations and accumulate in the set's lane order), so quantized logits match a reference
 * on the dequantized weights to fp32 rounding, and a row's result never depends on the batch
 * it is in, nor on the path its batch takes. The weights are read once per call in their
 * compressed size. The AVX2 dequantizers (chosen at run time) give the same floats as the
 * portable reference (multiplies and subtracts, never fused). */
#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

/* Multiply-adds below which the matmul runs on the calling thread (as forward.c). */
#define SMALL_WORK 65536

static inline float h2f(const uint8_t *p) { return pd_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

int pd_quant_supported(int t) {
    switch (t) {
    case PD_GGML_Q8_0: case PD_GGML_Q4_0: case PD_GGML_Q4_1: case PD_GGML_Q5_0: case PD_GGML_Q5_1:
    case PD_GGML_Q2_K: case PD_GGML_Q3_K: case PD_GGML_Q4_K: case PD_GGML_Q5_K: case PD_GGML_Q6_K: return 1;
    default: return 0;
    }
}

size_t pd_wmat_row_bytes(const pd_wmat *w) {
    if (!pd_dtype_is_quant(w->dtype)) return (size_t)w->cols * pd_dtype_size(w->dtype);
    int t = w->dtype - PD_DT_QUANT;
    return (size_t)w->cols / pd_ggml_block_elems(t) * pd_ggml_block_bytes(t);
}

/* ---- portable reference ---- */

static void deq_q8_0(const uint8_t *b, float *y) {
    float d = h2f(b);
    for (int j = 0; j < 32; j++) y[j] = d * (float)(int8_t)b[2 + j];
}
static void deq_q4_0(const uint8_t *b, float *y) {
    float d = h2f(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 0xf) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}
static void deq_q4_1(const uint8_t *b, float *y) {
    float d = h2f(b), m = h2f(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 0xf) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}
/* Q5_0 (has_min 0: b = d, qh, qs) and Q5_1 (has_min 1: b = d, m, qh, qs). */
static void deq_q5(const uint8_t *b, float *y, int has_min) {
    float d = h2f(b), m = has_min ? h2f(b + 2) : 0.0f;
    const uint8_t *p = b + (has_min ? 4 : 2), *qs = p + 4;
    uint32_t qh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4), hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        if (has_min) {
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        } else {
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}
/* Q4_K (qh NULL) and Q5_K. */
static void deq_k45(const uint8_t *b, float *y, int five) {
    float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *sc = b + 4, *qh = five ? b + 16 : NULL, *q = five ? b + 48 : b + 16;
    for (int j = 0; j < 4; j++) { /* 64 values: two sub-blocks sharing 32 bytes of nibbles */
        int s1, m1, s2, m2;
        pd_scale_min_k4(2 * j, sc, &s1, &m1);
        pd_scale_min_k4(2 * j + 1, sc, &s2, &m2);
        float d1 = d * (float)s1, mm1 = dmin * (float)m1, d2 = d * (float)s2, mm2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++) {
            int lo = q[l] & 0xf, hi = q[l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
            }
            y[64 * j + l] = d1 * (float)lo - mm1;
            y[64 * j + 32 + l] = d2 * (float)hi - mm2;
        }
        q += 32;
    }
}
static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = h2f(b + 208);
    for (int n = 0; n < 2; n++) { /* 128 values each */
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = (d * (float)sc[is]) * (float)q1;
            y[l + 32] = (d * (float)sc[is + 2]) * (float)q2;
            y[l + 64] = (d * (float)sc[is + 4]) * (float)q3;
            y[l + 96] = (d * (float)sc[is + 6]) * (float)q4;
        }
        y += 128, ql += 64, qh += 32, sc += 8;
    }
}

/* Q2_K: 16 scale bytes (sub-block j of 16 values: scale = low nibble, min = high nibble), 64
 * bytes of 2-bit values, d, dmin. Value v = 128 h + 32 s + l is bits 2s, 2s + 1 of byte 32 h + l. */
static void deq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *q = b + 16;
    float d = h2f(b + 80), dmin = h2f(b + 82);
    for (int j = 0; j < 16; j++) { /* sub-block j: h = j / 8, s = j % 8 / 2, l = 16 (j & 1) .. + 15 */
        float dl = d * (float)(sc[j] & 0xf), ml = dmin * (float)(sc[j] >> 4);
        const uint8_t *qj = q + 32 * (j / 8) + 16 * (j & 1);
        int sh = 2 * (j % 8 / 2);
        for (int l = 0; l < 16; l++) y[16 * j + l] = dl * (float)((qj[l] >> sh) & 3) - ml;
    }
}
/* Q3_K: 32 bytes of high bits (hmask), 64 bytes of 2-bit values (as Q2_K), 12 bytes of scales,
 * d. Value v = 32 k + l (k = 4 h + s): low bits as Q2_K's, high bit k of hmask[l]; q = low - 4
 * where the high bit is clear. w = (d * scale_j) * q for sub-block j = v / 16. */
static void deq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *q = b + 32, *sc = b + 96;
    float d = h2f(b + 108);
    for (int j = 0; j < 16; j++) {
        float dl = d * (float)pd_q3_k_scale(sc, j);
        int k = j / 2, l0 = 16 * (j & 1), sh = 2 * (k % 4);
        const uint8_t *qk = q + 32 * (k / 4);
        for (int l = l0; l < l0 + 16; l++) y[32 * k + l] = dl * (float)(((qk[l] >> sh) & 3) - ((hm[l] >> k) & 1 ? 0 : 4));
    }
}

void pd_dequant_row_ref(int t, const void *src, float *dst, int n) {
    const uint8_t *b = src;
    size_t bb = pd_ggml_block_bytes(t), be = pd_ggml_block_elems(t);
    for (int i = 0; i < n; i += (int)be, b += bb, dst += be) {
        switch (t) {
        case PD_GGML_Q8_0: deq_q8_0(b, dst); break;
        case PD_GGML_Q4_0: deq_q4_0(b, dst); break;
        case PD_GGML_Q4_1: deq_q4_1(b, dst); break;
        case PD_GGML_Q5_0: deq_q5(b, dst, 0); break;
        case PD_GGML_Q5_1: deq_q5(b, dst, 1); break;
        case PD_GGML_Q4_K: deq_k45(b, dst, 0); break;
        case PD_GGML_Q5_K: deq_k45(b, dst, 1); break;
        case PD_GGML_Q6_K: deq_q6_k(b, dst); break;
        case PD_GGML_Q2_K: deq_q2_k(b, dst); break;
        case PD_GGML_Q3_K: deq_q3_k(b, dst); break;
        default: memset(dst, 0, be * sizeof *dst); break; /* unreachable: loaders check pd_quant_supported */
        }
    }
}

/* ---- AVX2 (the same floats, eight at a time) ---- */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,f16c")))
#define HAVE_AVX2_DEQUANT 1

/* 8 signed bytes at p as floats times d. */
AVX2 static inline __m256 i8x8_mul(const void *p, __m256 d) {
    __m128i v = _mm_loadl_epi64((const __m128i *)p);
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)));
}

AVX2 static void deq_q8_0_avx2(const uint8_t *b, float *y) {
    __m256 d = _mm256_set1_ps(h2f(b));
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, i8x8_mul(b + 2 + 8 * k, d));
}

AVX2 static void deq_q4_0_avx2(const uint8_t *b, float *y) {
    __m256 d = _mm256_set1_ps(h2f(b));
    __m128i q = _mm_loadu_si128((const __m128i *)(b + 2)), m = _mm_set1_epi8(0xf), e = _mm_set1_epi8(8);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m), e), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m), e);
    int8_t t[32];
    _mm_storeu_si128((__m128i *)t, lo);
    _mm_storeu_si128((__m128i *)(t + 16), hi);
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, i8x8_mul(t + 8 * k, d));
}

AVX2 static void deq_q4_k_avx2(const uint8_t *b, float *y) {
    float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *sc = b + 4, *q = b + 16;
    __m256i m4 = _mm256_set1_epi8(0xf);
    for (int j = 0; j < 4; j++, q += 32) {
        int s1, m1, s2, m2;
        pd_scale_min_k4(2 * j, sc, &s1, &m1);
        pd_scale_min_k4(2 * j + 1, sc, &s2, &m2);
        __m256 d1 = _mm256_set1_ps(d * (float)s1), mm1 = _mm256_set1_ps(dmin * (float)m1);
        __m256 d2 = _mm256_set1_ps(d * (float)s2), mm2 = _mm256_set1_ps(dmin * (float)m2);
        __m256i v = _mm256_loadu_si256((const __m256i *)q);
        uint8_t t[64];
        _mm256_storeu_si256((__m256i *)t, _mm256_and_si256(v, m4));
        _mm256_storeu_si256((__m256i *)(t + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        for (int k = 0; k < 4; k++) {
            __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(t + 8 * k))));
            __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(t + 32 + 8 * k))));
            _mm256_storeu_ps(y + 64 * j + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d1, lo), mm1));
            _mm256_storeu_ps(y + 64 * j + 32 + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d2, hi), mm2));
        }
    }
}

AVX2 static void dequant_avx2(int t, const void *src, float *dst, int n) {
    const uint8_t *b = src;
    size_t bb = pd_ggml_block_bytes(t), be = pd_ggml_block_elems(t);
    switch (t) {
    case PD_GGML_Q8_0: for (int i = 0; i < n; i += 32, b += bb, dst += 32) deq_q8_0_avx2(b, dst); return;
    case PD_GGML_Q4_0: for (int i = 0; i < n; i += 32, b += bb, dst += 32) deq_q4_0_avx2(b, dst); return;
    case PD_GGML_Q4_K: for (int i = 0; i < n; i += 256, b += bb, dst += 256) deq_q4_k_avx2(b, dst); return;
    default: (void)be; pd_dequant_row_ref(t, src, dst, n); return;
    }
}

/* Does this CPU run the AVX2 dequantizers? (Asked once per call: __builtin_cpu_supports is a
 * load and a test.) */
static int have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#endif

void pd_dequant_row(int t, const void *src, float *dst, int n) {
#ifdef HAVE_AVX2_DEQUANT
    if (have_avx2()) {
        dequant_avx2(t, src, dst, n);
        return;
    }
#endif
    pd_dequant_row_ref(t, src, dst, n);
}

/* The dequantizer matching a kernel set: the portable set gets the portable dequantizer (so
 * a portable run uses no vector instructions at all). */
static void deq_ops(const pd_kernel_ops *ops, int t, const void *src, float *dst, int n) {
    if (ops == pd_kernels_portable()) pd_dequant_row_ref(t, src, dst, n);
    else pd_dequant_row(t, src, dst, n);
}

static void deq(const pd_model *m, int t, const void *src, float *dst, int n) { deq_ops(m->ops, t, src, dst, n); }

/* The AVX512-BF16 set is the AVX-512 set with bf16 products for bf16 weights; quantized weights
 * take the AVX-512 set's kernels under it. */
static const pd_kernel_ops *quant_family(const pd_kernel_ops *ops) {
    return ops && ops == pd_kernels_avx512bf16() ? pd_kernels_avx512() : ops;
}

const pd_qkernels *pd_qkernels_for(const pd_kernel_ops *ops) {
    ops = quant_family(ops);
    if (ops == pd_kernels_avx512()) return pd_qkernels_avx512();
    if (ops == pd_kernels_avx2()) return pd_qkernels_avx2();
    return NULL;
}

int pd_quant_fused(int t) { return pd_quant_supported(t); }

/* ---- rows ---- */

void pd_wmat_row_f32(const pd_model *m, const pd_wmat *w, int row, float *dst) {
    const uint8_t *p = (const uint8_t *)w->data + (size_t)row * pd_wmat_row_bytes(w);
    if (w->panels) pd_panel_row_f32(w->data, w->dtype, w->cols, row, dst); /* packed at load (model.c) */
    else if (pd_dtype_is_quant(w->dtype)) deq(m, w->dtype - PD_DT_QUANT, p, dst, w->cols);
    else m->ops->to_f32(p, w->dtype, dst, w->cols);
}

float pd_wmat_row_dot(const pd_model *m, const pd_wmat *w, int row, const float *x, float *tmp) {
    if (w->panels) return m->ops->panel_dot(w->data, w->dtype, w->cols, row, x); /* packed at load (model.c) */
    const uint8_t *p = (const uint8_t *)w->data + (size_t)row * pd_wmat_row_bytes(w);
    if (!pd_dtype_is_quant(w->dtype)) return m->ops->dot_w(p, w->dtype, x, w->cols);
    int t = w->dtype - PD_DT_QUANT;
    const pd_qkernels *qk = pd_qkernels_for(m->ops);
    const void *rows[4] = {p, p, p, p};
    float out[4];
    if (m->quant_act && pd_quant_int(t)) { /* the 8-bit path, as pd_quant_matmul: tmp holds the quantized x */
        const pd_qikernels *ik = pd_qikernels_for(m->ops);
        ik->quantize(x, w->cols, tmp);
        ik->dot(t, rows, tmp, 0, 1, w->cols, out);
        return out[0];
    }
    if (qk && pd_quant_fused(t) && qk->dot(t, rows, x, (size_t)w->cols, 1, w->cols, out) == 0) return out[0];
    deq(m, t, p, tmp, w->cols);
    return m->ops->dot(tmp, x, w->cols);
}

/* ---- 8-bit activations: the portable reference ----
 *
 * An activation row is quantized in blocks of 32 (dx = amax / 127, q = x * (1 / dx) rounded
 * to nearest even: lrintf in the default rounding mode, vcvtps2dq in the SIMD sets, so the
 * bytes are the same on every set). The integer kernels compute, per 32-value block (per
 * 16-value sub-block for Q6_K), the exact integer sum of the weights' stored integers times q
 * and add it to an fp32 sum scaled by (weight scale * dx):
 *   Q8_0  (dw dx) * sum qw qx                    Q4_0  (dw dx) * sum (qw - 8) qx
 *   Q5_0  (dw dx) * sum (qw - 16) qx             Q6_K  ((d sc_g) dx) * sum_(16) (qw - 32) qx
 *   Q4_K, Q5_K  ((d sc_s) dx) * sum qw qx, less (dmin m_s) * (dx * sum qx), the mins summed apart
 *   Q4_1, Q5_1  (dw dx) * sum qw qx, plus m * (dx * sum qx), the mins summed apart and added last
 *   Q3_K  ((d sc_g) dx) * sum_(16) (qw - 4 h') qx
 *   Q2_K  ((d sc_g) dx) * sum_(16) qw qx, less (dmin m_g) * (dx * sum_(16) qx), the mins apart
 * The reference adds block by block; the SIMD sets keep a vector of partial integer sums per
 * block (lane l: 4 consecutive values) and add its scaled lanes into a vector accumulator,
 * reduced at the end. The integer parts are exact in every set; only the fp32 combination
 * differs in order, so the sets differ from the reference by at most about
 * (n / 32 + 16) * 2^-24 * sum over blocks |scale * partial sum| (the usual bound for
 * recursive summation), and equal it bit for bit when every partial sum is exact in fp32
 * (tests/test_quant_kernels.c checks both). The AVX-512 VNNI set's 16-row panel kernels (every
 * integer type: rows in lanes, integer sums per whole block or Q6_K sub-block) do the
 * reference's operations exactly and equal it bit for bit. Against the fp32 path (dequantized weights times
 * fp32 activations) the difference is the activations' rounding: up to dx / 2 per value. */

size_t pd_q8_row_bytes(int n) { return 3 * (size_t)n + (size_t)n / 4 + (size_t)n / 8; }
size_t pd_q8_row_stride(int n) { return (pd_q8_row_bytes(n) + 63) / 64 * 64; }

int pd_quant_int(int t) { return pd_quant_supported(t); }



/* The parts after the q of one block b, once its 32 q are written (every set calls this, so
 * the buffer is the same bytes on every set). */
void pd_q8_block_tail(void *a, int n, int b, float dx) {
    const int8_t *q = (const int8_t *)a + 32 * b;
    int s0 = 0, s1 = 0;
    for (int k = 0; k < 16; k++) s0 += q[k], s1 += q[16 + k];
    for (int l = 0; l < 8; l++) {
        PD_Q8_C8(a, n)[8 * b + l] = -8 * (q[4 * l] + q[4 * l + 1] + q[4 * l + 2] + q[4 * l + 3]);
        PD_Q8_DX8(a, n)[8 * b + l] = dx;
    }
    PD_Q8_DX(a, n)[b] = dx;
    PD_Q8_DXS(a, n)[b] = dx * (float)(s0 + s1);
    PD_Q8_S16(a, n)[2 * b] = (int16_t)s0, PD_Q8_S16(a, n)[2 * b + 1] = (int16_t)s1;
}

static void q8_quantize_ref(const float *x, int n, void *dst) {
    int8_t *q = dst;
    for (int b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[32 * b + k]));
        float dx = amax / 127.0f, id = dx != 0.0f ? 1.0f / dx : 0.0f;
        for (int k = 0; k < 32; k++) q[32 * b + k] = (int8_t)lrintf(x[32 * b + k] * id);
        pd_q8_block_tail(dst, n, b, dx);
    }
}

/* One weight row of type t against one activation row: the reference order (block by block). */
static float q8_dot_ref(int t, const uint8_t *w, const void *a, int n) {
    const int8_t *x = a;
    const float *dx = PD_Q8_DX(a, n), *dxs = PD_Q8_DXS(a, n);
    float acc = 0, accm = 0;
    switch (t) {
    case PD_GGML_Q8_0:
    case PD_GGML_Q4_0:
    case PD_GGML_Q5_0: {
        size_t bb = pd_ggml_block_bytes(t);
        for (int b = 0; b < n / 32; b++, w += bb, x += 32) {
            int s = 0;
            if (t == PD_GGML_Q8_0)
                for (int k = 0; k < 32; k++) s += (int8_t)w[2 + k] * x[k];
            else if (t == PD_GGML_Q4_0)
                for (int k = 0; k < 16; k++) s += ((w[2 + k] & 0xf) - 8) * x[k] + ((w[2 + k] >> 4) - 8) * x[16 + k];
            else {
                uint32_t qh = (uint32_t)w[2] | (uint32_t)w[3] << 8 | (uint32_t)w[4] << 16 | (uint32_t)w[5] << 24;
                for (int k = 0; k < 16; k++)
                    s += (((w[6 + k] & 0xf) | ((qh >> k) & 1) << 4) - 16) * x[k] +
                         (((w[6 + k] >> 4) | ((qh >> (k + 16)) & 1) << 4) - 16) * x[16 + k];
            }
            acc += (h2f(w) * dx[b]) * (float)s;
        }
        return acc;
    }
    case PD_GGML_Q4_1:
    case PD_GGML_Q5_1: { /* the stored integers carry no offset: the mins are summed apart */
        size_t bb = pd_ggml_block_bytes(t);
        for (int b = 0; b < n / 32; b++, w += bb, x += 32) {
            int s = 0;
            if (t == PD_GGML_Q4_1)
                for (int k = 0; k < 16; k++) s += (w[4 + k] & 0xf) * x[k] + (w[4 + k] >> 4) * x[16 + k];
            else {
                uint32_t qh = (uint32_t)w[4] | (uint32_t)w[5] << 8 | (uint32_t)w[6] << 16 | (uint32_t)w[7] << 24;
                for (int k = 0; k < 16; k++)
                    s += ((w[8 + k] & 0xf) | ((qh >> k) & 1) << 4) * x[k] + ((w[8 + k] >> 4) | ((qh >> (k + 16)) & 1) << 4) * x[16 + k];
            }
            acc += (h2f(w) * dx[b]) * (float)s;
            accm += h2f(w + 2) * dxs[b];
        }
        return acc + accm;
    }
    case PD_GGML_Q4_K:
    case PD_GGML_Q5_K: {
        int five = t == PD_GGML_Q5_K;
        for (int sb = 0; sb < n / 256; sb++, w += five ? 176 : 144) {
            float d = h2f(w), dmin = h2f(w + 2);
            const uint8_t *qh = w + 16, *q = w + (five ? 48 : 16);
            for (int s = 0; s < 8; s++) {
                int sc, mn, is = 0, blk = 8 * sb + s;
                pd_scale_min_k4(s, w + 4, &sc, &mn);
                for (int l = 0; l < 32; l++) {
                    int v = s & 1 ? q[32 * (s / 2) + l] >> 4 : q[32 * (s / 2) + l] & 0xf;
                    if (five) v |= ((qh[l] >> s) & 1) << 4;
                    is += v * x[32 * blk + l];
                }
                acc += ((d * (float)sc) * dx[blk]) * (float)is;
                accm += (dmin * (float)mn) * dxs[blk];
            }
        }
        return acc - accm;
    }
    case PD_GGML_Q2_K: /* 16-value sub-blocks with a scale and a min each */
        for (int sb = 0; sb < n / 256; sb++, w += 84) {
            float d = h2f(w + 80), dmin = h2f(w + 82);
            for (int j = 0; j < 16; j++) {
                const uint8_t *qj = w + 16 + 32 * (j / 8) + 16 * (j & 1);
                int sh = 2 * (j % 8 / 2), blk = 8 * sb + j / 2, is = 0;
                for (int l = 0; l < 16; l++) is += ((qj[l] >> sh) & 3) * x[256 * sb + 16 * j + l];
                acc += ((d * (float)(w[j] & 0xf)) * dx[blk]) * (float)is;
                accm += (dmin * (float)(w[j] >> 4)) * (dx[blk] * (float)PD_Q8_S16(a, n)[2 * blk + (j & 1)]);
            }
        }
        return acc - accm;
    case PD_GGML_Q3_K:
        for (int sb = 0; sb < n / 256; sb++, w += 110) {
            float d = h2f(w + 108);
            for (int j = 0; j < 16; j++) {
                int k = j / 2, l0 = 16 * (j & 1), sh = 2 * (k % 4), blk = 8 * sb + k, is = 0;
                const uint8_t *qk = w + 32 + 32 * (k / 4);
                for (int l = l0; l < l0 + 16; l++) is += (((qk[l] >> sh) & 3) - ((w[l] >> k) & 1 ? 0 : 4)) * x[256 * sb + 32 * k + l];
                acc += ((d * (float)pd_q3_k_scale(w + 96, j)) * dx[blk]) * (float)is;
            }
        }
        return acc;
    case PD_GGML_Q6_K:
        for (int sb = 0; sb < n / 256; sb++, w += 210) {
            const uint8_t *ql = w, *qh = w + 128;
            const int8_t *sc = (const int8_t *)(w + 192);
            float d = h2f(w + 208);
            for (int v = 0; v < 256; v += 16) { /* value v: half h, group g of 32 within it, l */
                int h = v / 128, g = v % 128 / 32, is = 0;
                for (int e = v; e < v + 16; e++) {
                    int l = e % 32, ql_b = ql[64 * h + 32 * (g & 1) + l], qh_b = qh[32 * h + l];
                    int qv = ((g < 2 ? ql_b & 0xf : ql_b >> 4) | ((qh_b >> (2 * g)) & 3) << 4) - 32;
                    is += qv * x[256 * sb + e];
                }
                acc += ((d * (float)sc[v / 16]) * dx[8 * sb + v / 32]) * (float)is;
            }
        }
        return acc;
    default: return 0; /* unreachable: callers check pd_quant_int */
    }
}

static int q8_dot_portable(int t, const void *const *w, const void *xq, size_t ldq, int nx, int n, float *out) {
    if (!pd_quant_int(t)) return -1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < nx; j++) out[i * nx + j] = q8_dot_ref(t, w[i], (const uint8_t *)xq + (size_t)j * ldq, n);
    return 0;
}

static const pd_qikernels qi_portable = {.name = "portable", .max_nx = 4, .quantize = q8_quantize_ref, .dot = q8_dot_portable};
const pd_qikernels *pd_qikernels_portable(void) { return &qi_portable; }

const pd_qikernels *pd_qikernels_for(const pd_kernel_ops *ops) {
    ops = quant_family(ops);
    if (ops == pd_kernels_avx512() && pd_qikernels_avx512()) return pd_qikernels_avx512();
    if ((ops == pd_kernels_avx512() || ops == pd_kernels_avx2()) && pd_qikernels_avx2()) return pd_qikernels_avx2();
    return &qi_portable;
}

/* ---- matmul ---- */

/* Activation rows from which a block of weight rows is dequantized to fp32 once and run
 * through the kernel set's register tiles (pd_matmul_rows), rather than decoded in registers
 * by the fused kernels for every max_nx activation rows. */
#define WIDE_MIN 8
/* Activation rows below which the dequantized blocks are 4 rows (L1) rather than 16. */
#define NARROW_MAX 24

void pd_quant_rows(const pd_kernel_ops *ops, const pd_wmat *w, const float *x, size_t T, const float *bias, float *y,
                   float *const *y_rows, int r0, int r1, float *scratch) {
    const int cols = w->cols, type = w->dtype - PD_DT_QUANT;
    const size_t rb_bytes = pd_wmat_row_bytes(w);
    const uint8_t *wd = w->data;
    const pd_qkernels *qk = pd_qkernels_for(ops);
    if (qk && pd_quant_fused(type) && T < WIDE_MIN) {
        /* decode and narrow batches: each weight row read once, straight from its blocks */
        for (int r = r0; r < r1; r += 4) { /* four rows at a time, the last one repeated at the end */
            int nr = r1 - r < 4 ? r1 - r : 4;
            const void *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = wd + (size_t)(r + (i < nr ? i : nr - 1)) * rb_bytes;
            for (size_t t0 = 0; t0 < T; t0 += (size_t)qk->max_nx) {
                int nx = T - t0 < (size_t)qk->max_nx ? (int)(T - t0) : qk->max_nx;
                float o[4 * 8];
                qk->dot(type, rows, x + t0 * cols, (size_t)cols, nx, cols, o);
                for (int j = 0; j < nx; j++) {
                    float *yo = y_rows ? y_rows[t0 + j] : y + (t0 + j) * (size_t)w->rows;
                    for (int i = 0; i < nr; i++) yo[r + i] = o[i * nx + j] + (bias ? bias[r + i] : 0.0f);
                }
            }
        }
        return;
    }
    /* wide batches (and the portable set, and types without fused kernels): a block of rows
     * dequantized once, then the set's tiles over every activation row */
    enum { TG = 64 };
    float *yr[TG];
    /* a few activation rows (tree branches): blocks of 4 rows, whose fp32 copy stays in L1
     * while the tiles pass over every activation row; prefill: PD_ROW_BLOCK rows */
    const int blk = T < NARROW_MAX ? 4 : PD_ROW_BLOCK;
    for (int rb = r0; rb < r1; rb += blk) {
        int nb = r1 - rb < blk ? r1 - rb : blk;
        int i = 0;
        if (qk && pd_quant_fused(type))
            for (; i + 4 <= nb; i += 4) {
                const void *rows[4];
                for (int q = 0; q < 4; q++) rows[q] = wd + (size_t)(rb + i + q) * rb_bytes;
                qk->dequant(type, rows, scratch + (size_t)i * cols, (size_t)cols, cols);
            }
        for (; i < nb; i++) deq_ops(ops, type, wd + (size_t)(rb + i) * rb_bytes, scratch + (size_t)i * cols, cols);
        for (size_t t0 = 0; t0 < T; t0 += TG) {
            size_t n = T - t0 < TG ? T - t0 : TG;
            for (size_t t = 0; t < n; t++) yr[t] = (y_rows ? y_rows[t0 + t] : y + (t0 + t) * (size_t)w->rows) + rb;
            pd_mm a = {scratch, PD_DT_F32, nb, cols, x + t0 * cols, n, bias ? bias + rb : NULL, NULL, yr, NULL};
            pd_matmul_rows(ops, &a, 0, nb, NULL); /* fp32 weights: no conversion scratch */
        }
    }
}

/* Activation rows from which groups of 4 weight rows are packed once (ik->pack) rather than
 * decoded by the direct kernel for every max_nx activation rows. */
#define PACK_MIN 8

size_t pd_quant_q8_scratch(const pd_qikernels *ik, int n) {
    size_t a = ik->pack_bytes ? 4 * ik->pack_bytes(n) : 0, b = ik->panel_bytes ? ik->panel_bytes(n) : 0;
    return a > b ? a : b;
}

static const float zero16[16]; /* the bias of a matrix without one: + 0.0f, as put_out */

/* Does the 8-bit path of ik take 16-row panels for ggml type t? */
static int use_panels(const pd_qikernels *ik, int t) { return ik->panel_type && ik->panel_type(t); }

/* Write the outputs o (4 x nx) of rows [r, r + nr) for activation rows t0.. */
static void put_out(const pd_wmat *w, const float *o, int nr, int nx, int r, size_t t0, const float *bias, float *y,
                    float *const *y_rows) {
    for (int j = 0; j < nx; j++) {
        float *yo = y_rows ? y_rows[t0 + j] : y + (t0 + j) * (size_t)w->rows;
        for (int i = 0; i < nr; i++) yo[r + i] = o[i * nx + j] + (bias ? bias[r + i] : 0.0f);
    }
}

void pd_quant_rows_q8(const pd_qikernels *ik, const pd_wmat *w, const void *xq, size_t ldq, size_t T, const float *bias,
                      float *y, float *const *y_rows, int r0, int r1, void *scratch) {
    const int cols = w->cols, type = w->dtype - PD_DT_QUANT;
    const size_t rb_bytes = pd_wmat_row_bytes(w);
    const uint8_t *wd = w->data, *xb = xq;
    /* TB activation rows (~100 KB of them for 1K-wide rows) stay in cache while every group
     * of 4 weight rows of the range passes over them */
    enum { TB = 32 };
    const size_t sb = w->qpanels && ik->stored_dot ? ik->store_bytes(type, cols) : 0;
    if (sb) { /* r0 is a multiple of 16 (granule) */
        /* stored at load (model.c): one sequential stream per panel for every batch width */
        for (int r = r0; r < r1; r += 16) {
            int nr = r1 - r < 16 ? r1 - r : 16;
            const uint8_t *sp = w->qpanels + (size_t)(r / 16) * sb;
            for (size_t t0 = 0; t0 < T; t0 += PD_PANEL_NX) {
                int nx = T - t0 < PD_PANEL_NX ? (int)(T - t0) : PD_PANEL_NX;
                float o[PD_PANEL_NX * 16];
                ik->stored_dot(type, sp, xb + t0 * ldq, ldq, nx, cols, o);
                for (int j = 0; j < nx; j++) {
                    float *yo = (y_rows ? y_rows[t0 + j] : y + (t0 + j) * (size_t)w->rows) + r;
                    const float *oj = o + 16 * j;
                    const float *bj = bias ? bias + r : zero16;
                    if (nr == 16) for (int i = 0; i < 16; i++) yo[i] = oj[i] + bj[i];
                    else for (int i = 0; i < nr; i++) yo[i] = oj[i] + bj[i];
                }
            }
        }
        return;
    }
    if (use_panels(ik, type)) {
        /* 16 rows per panel: decoded in registers for a few activation rows (and without
         * scratch), else packed once and run against every activation row, PD_PANEL_NX at a
         * time; the same bits either way */
        const int packed = T >= PACK_MIN && scratch;
        for (int r = r0; r < r1; r += 16) {
            int nr = r1 - r < 16 ? r1 - r : 16;
            const void *rows[16];
            for (int i = 0; i < 16; i++) rows[i] = wd + (size_t)(r + (i < nr ? i : nr - 1)) * rb_bytes;
            if (packed) ik->panel_pack(type, rows, scratch, cols);
            for (size_t t0 = 0; t0 < T; t0 += PD_PANEL_NX) {
                int nx = T - t0 < PD_PANEL_NX ? (int)(T - t0) : PD_PANEL_NX;
                float o[PD_PANEL_NX * 16];
                ik->panel_dot(type, rows, packed ? scratch : NULL, xb + t0 * ldq, ldq, nx, cols, o);
                for (int j = 0; j < nx; j++) {
                    float *yo = (y_rows ? y_rows[t0 + j] : y + (t0 + j) * (size_t)w->rows) + r;
                    const float *oj = o + 16 * j;
                    const float *bj = bias ? bias + r : zero16;
                    if (nr == 16) for (int i = 0; i < 16; i++) yo[i] = oj[i] + bj[i]; /* a known count: vectorized */
                    else for (int i = 0; i < nr; i++) yo[i] = oj[i] + bj[i];
                }
            }
        }
        return;
    }
    if (ik->pack && T >= PACK_MIN && scratch) {
        /* wide batches: 16 rows (4 groups of 4) packed at a time, then every activation row */
        const size_t pb = ik->pack_bytes(cols);
        for (int rb = r0; rb < r1; rb += 16) {
            int re = r1 - rb < 16 ? r1 : rb + 16;
            for (int r = rb; r < re; r += 4) {
                int nr = re - r < 4 ? re - r : 4;
                const void *rows[4];
                for (int i = 0; i < 4; i++) rows[i] = wd + (size_t)(r + (i < nr ? i : nr - 1)) * rb_bytes;
                ik->pack(type, rows, (uint8_t *)scratch + (size_t)(r - rb) / 4 * pb, cols);
            }
            for (size_t tb = 0; tb < T; tb += TB) {
                size_t te = T - tb < TB ? T : tb + TB;
                for (int r = rb; r < re; r += 4) {
                    int nr = re - r < 4 ? re - r : 4;
                    for (size_t t0 = tb; t0 < te; t0 += (size_t)ik->max_nx) {
                        int nx = te - t0 < (size_t)ik->max_nx ? (int)(te - t0) : ik->max_nx;
                        float o[4 * 8];
                        ik->dot_packed(type, (const uint8_t *)scratch + (size_t)(r - rb) / 4 * pb, xb + t0 * ldq, ldq, nx, cols, o);
                        put_out(w, o, nr, nx, r, t0, bias, y, y_rows);
                    }
                }
            }
        }
        return;
    }
    for (size_t tb = 0; tb < T; tb += TB) {
        size_t te = T - tb < TB ? T : tb + TB;
        for (int r = r0; r < r1; r += 4) {
            int nr = r1 - r < 4 ? r1 - r : 4;
            const void *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = wd + (size_t)(r + (i < nr ? i : nr - 1)) * rb_bytes;
            for (size_t t0 = tb; t0 < te; t0 += (size_t)ik->max_nx) {
                int nx = te - t0 < (size_t)ik->max_nx ? (int)(te - t0) : ik->max_nx;
                float o[4 * 8];
                ik->dot(type, rows, xb + t0 * ldq, ldq, nx, cols, o);
                put_out(w, o, nr, nx, r, t0, bias, y, y_rows);
            }
        }
    }
}

/* ---- the driver: one pool run for one or several matrices on the same input ----
 *
 * pd_quant_matmul is pd_quant_matmul_n with one matrix. A run quantizes the activation rows
 * once (when a matrix takes the 8-bit path; the same bytes whichever matrix reads them) and
 * gives each matrix about 8 tasks per thread (a slow thread on a busy machine is waited for
 * less), whole granules each, all in one pool run: one wake-up and one wait for q/k/v (or
 * gate/up) instead of three. A row's result never depends on its task or thread (the
 * kernels' contract), so every output is the same bits as one matrix at a time. (Guided
 * tasks, large first and small last, measured no faster for decode: 28.8-36.4 tok/s against
 * 31.2-36.2 alternated.) */

#define QMM_MATS 8 /* matrices in one run */
/* Bytes of quantized activations kept on the caller's stack rather than malloc'd (decode:
 * ~170 runs a token, one row of up to ~9K values). */
#define XQ_STACK 32768

typedef struct qmm_mat {
    const pd_wmat *w;   /* (rows, cols), quantized */
    const float *bias;  /* (rows) or NULL */
    float *y;           /* (T, rows), unless y_rows */
    float *const *y_rows;
    int q8;             /* on the 8-bit path (else fp32 activations) */
    int per;            /* rows per task */
    size_t first;       /* the run's index of its first task */
} qmm_mat;

typedef struct qmm_run {
    const pd_model *m;
    const float *x;          /* (T, cols) */
    size_t T;
    const pd_qikernels *ik;  /* the 8-bit path: integer kernels, and x quantized in xq */
    void *xq;                /* (T, ldq bytes) */
    size_t ldq;
    int n_mats;
    size_t n_tasks;
    qmm_mat mat[QMM_MATS];
} qmm_run;

static void run_task(void *ctx, size_t task, int thread) {
    const qmm_run *run = ctx;
    int i = run->n_mats - 1;
    while (task < run->mat[i].first) i--;
    const qmm_mat *a = &run->mat[i];
    const pd_model *m = run->m;
    int r0 = (int)(task - a->first) * a->per, r1 = r0 + a->per < a->w->rows ? r0 + a->per : a->w->rows;
    float *scratch = m->scratch + (size_t)thread * m->scratch_per_thread;
    if (a->q8) {
        int fits = pd_quant_q8_scratch(run->ik, a->w->cols) <= m->scratch_per_thread * sizeof(float);
        pd_quant_rows_q8(run->ik, a->w, run->xq, run->ldq, run->T, a->bias, a->y, a->y_rows, r0, r1, fits ? scratch : NULL);
        return;
    }
    pd_quant_rows(m->ops, a->w, run->x, run->T, a->bias, a->y, a->y_rows, r0, r1, scratch);
}

/* Quantize activation row `task` of a run. */
static void quantize_task(void *ctx, size_t task, int thread) {
    const qmm_run *run = ctx;
    (void)thread;
    int cols = run->mat[0].w->cols;
    run->ik->quantize(run->x + task * (size_t)cols, cols, (uint8_t *)run->xq + task * run->ldq);
}

/* Rows per task are multiples of this for matrix a (whole panels, groups of 4 rows, or the
 * blocks the wide path dequantizes at once). */
static int granule(const qmm_run *run, const qmm_mat *a) {
    int type = a->w->dtype - PD_DT_QUANT;
    if (a->q8) return use_panels(run->ik, type) || (a->w->qpanels && run->ik->store_bytes) ? 16 : 4;
    return pd_qkernels_for(run->m->ops) && pd_quant_fused(type) && run->T < WIDE_MIN ? 4 : PD_ROW_BLOCK;
}

/* Each matrix's rows per task and first task (see above). */
static void split_tasks(qmm_run *run) {
    run->n_tasks = 0;
    for (int i = 0; i < run->n_mats; i++) {
        qmm_mat *a = &run->mat[i];
        int per = (a->w->rows + run->m->n_threads * 8 - 1) / (run->m->n_threads * 8), g = granule(run, a);
        if (per < 8) per = 8;
        a->per = (per + g - 1) / g * g;
        a->first = run->n_tasks;
        run->n_tasks += (size_t)((a->w->rows + a->per - 1) / a->per);
    }
}

/* Run n matrices (n <= QMM_MATS) on the same x as one pool run. */
static void quant_run(pd_model *m, const float *x, size_t T, int n, const pd_wmat *const *w, const float *const *bias,
                      float *const *y, float *const *y_rows) {
    qmm_run run = {.m = m, .x = x, .T = T, .n_mats = n};
    int any_q8 = 0;
    size_t work = 0;
    for (int i = 0; i < n; i++) {
        int q8 = m->quant_act && pd_quant_int(w[i]->dtype - PD_DT_QUANT);
        run.mat[i] = (qmm_mat){w[i], bias ? bias[i] : NULL, y ? y[i] : NULL, y_rows, q8, 0, 0};
        any_q8 |= q8;
        work += (size_t)w[i]->rows * (size_t)w[i]->cols * T;
    }
    _Alignas(64) uint8_t stack_xq[XQ_STACK];
    void *heap_xq = NULL;
    if (any_q8) {
        /* the 8-bit path, every batch width (a row's result never depends on its batch): each
         * activation row quantized once here, then integer dots in the tasks */
        run.ik = pd_qikernels_for(m->ops), run.ldq = pd_q8_row_stride(w[0]->cols);
        run.xq = T * run.ldq <= sizeof stack_xq ? (void *)stack_xq : (heap_xq = malloc(T * run.ldq));
        if (run.xq) {
            if (T >= 16 * (size_t)m->n_threads) pd_pool_run(m->pool, T, quantize_task, &run); /* prefill: on every thread */
            else for (size_t t = 0; t < T; t++) quantize_task(&run, t, 0);
        } else /* out of memory: the fp32 path needs nothing more */
            for (int i = 0; i < n; i++) run.mat[i].q8 = 0;
    }
    split_tasks(&run);
    if (work < SMALL_WORK)
        for (size_t t = 0; t < run.n_tasks; t++) run_task(&run, t, 0);
    else pd_pool_run(m->pool, run.n_tasks, run_task, &run);
    free(heap_xq);
}

void pd_quant_matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                     float *const *y_rows) {
    quant_run(m, x, T, 1, &w, &bias, &y, y_rows);
}

void pd_quant_matmul_n(pd_model *m, const float *x, size_t T, int n, const pd_wmat *const *w, const float *const *bias,
                       float *const *y) {
    for (int i = 0; i < n; i += QMM_MATS) quant_run(m, x, T, n - i < QMM_MATS ? n - i : QMM_MATS, w + i, bias ? bias + i : NULL, y + i, NULL);
}
