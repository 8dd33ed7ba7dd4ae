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
 * Each value is produced by exactly the float operations written above, in that order (the
 * ones gguf's Python dequantizer and ggml use), so the dequantized weights are bit-exact and
 * a model's logits match a reference computed on the dequantized weights to fp32 rounding.
 *
 * The matmul: each task dequantizes its weight rows (one at a time for decode, PD_ROW_BLOCK
 * at a time for wider batches, so they are reused from cache by every activation row) into
 * a per-thread fp32 buffer and runs the model's dot kernel on them. Every output goes through
 * the same dot kernel on the same fp32 weights, so a row's result does not depend on the
 * batch it is in, exactly as for bf16 weights. (Register-blocked tiles for the quantized
 * prefill, and dot kernels that dequantize in registers, are the next step.) The weights are read from memory once
 * per call in their compressed size, which is what makes decoding faster: it is bound by
 * memory bandwidth. The AVX2 dequantizers (chosen at run time) give the same floats as the
 * portable reference (multiplies and subtracts, never fused). */
#include "engine/quant.h"

#include <string.h>

#include "model/gguf.h"

/* Multiply-adds below which the matmul runs on the calling thread (as forward.c). */
#define SMALL_WORK 65536

static inline float h2f(const uint8_t *p) { return pd_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

int pd_quant_supported(int t) {
    switch (t) {
    case PD_GGML_Q8_0: case PD_GGML_Q4_0: case PD_GGML_Q4_1: case PD_GGML_Q5_0: case PD_GGML_Q5_1:
    case PD_GGML_Q4_K: case PD_GGML_Q5_K: case PD_GGML_Q6_K: return 1;
    default: return 0;
    }
}

size_t pd_wmat_row_bytes(const pd_wmat *w) {
    if (!pd_dtype_is_quant(w->dtype)) return (size_t)w->cols * pd_dtype_size(w->dtype);
    int t = w->dtype - PD_DT_QUANT;
    return (size_t)w->cols / pd_ggml_block_elems(t) * pd_ggml_block_bytes(t);
}

/* ---- portable reference ---- */

/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (12 packed bytes). */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

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
        scale_min_k4(2 * j, sc, &s1, &m1);
        scale_min_k4(2 * j + 1, sc, &s2, &m2);
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
        scale_min_k4(2 * j, sc, &s1, &m1);
        scale_min_k4(2 * j + 1, sc, &s2, &m2);
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

/* The dequantizer matching the model's kernels: the portable kernel set gets the portable
 * dequantizer (so a portable run uses no vector instructions at all). */
static void deq(const pd_model *m, int t, const void *src, float *dst, int n) {
    if (m->ops == pd_kernels_portable()) pd_dequant_row_ref(t, src, dst, n);
    else pd_dequant_row(t, src, dst, n);
}

/* ---- rows ---- */

void pd_wmat_row_f32(const pd_model *m, const pd_wmat *w, int row, float *dst) {
    const uint8_t *p = (const uint8_t *)w->data + (size_t)row * pd_wmat_row_bytes(w);
    if (pd_dtype_is_quant(w->dtype)) deq(m, w->dtype - PD_DT_QUANT, p, dst, w->cols);
    else m->ops->to_f32(p, w->dtype, dst, w->cols);
}

float pd_wmat_row_dot(const pd_model *m, const pd_wmat *w, int row, const float *x, float *tmp) {
    const uint8_t *p = (const uint8_t *)w->data + (size_t)row * pd_wmat_row_bytes(w);
    if (!pd_dtype_is_quant(w->dtype)) return m->ops->dot_w(p, w->dtype, x, w->cols);
    deq(m, w->dtype - PD_DT_QUANT, p, tmp, w->cols);
    return m->ops->dot(tmp, x, w->cols);
}

/* ---- matmul ---- */

typedef struct qmm_job {
    const pd_model *m;
    const float *x;       /* (T, cols) */
    size_t T;
    const pd_wmat *w;     /* (rows, cols), quantized */
    const float *bias;    /* (rows) or NULL */
    float *y;             /* (T, rows), unless y_rows */
    float *const *y_rows;
    int rows_per_task;
} qmm_job;

static inline float *qmm_out(const qmm_job *j, size_t t) {
    return j->y_rows ? j->y_rows[t] : j->y + t * (size_t)j->w->rows;
}

/* One task: a range of weight rows, dequantized a block at a time, against every input row. */
static void qmm_task(void *ctx, size_t task, int thread) {
    const qmm_job *j = ctx;
    const pd_model *m = j->m;
    const pd_kernel_ops *ops = m->ops;
    const pd_wmat *w = j->w;
    int cols = w->cols, type = w->dtype - PD_DT_QUANT, r0 = (int)task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    if (r1 > w->rows) r1 = w->rows;
    size_t rb_bytes = pd_wmat_row_bytes(w), T = j->T;
    const uint8_t *wd = w->data;
    float *buf = m->scratch + (size_t)thread * m->scratch_per_thread; /* (PD_ROW_BLOCK, cols) */
    int block = T < 4 ? 1 : PD_ROW_BLOCK;
    for (int rb = r0; rb < r1; rb += block) {
        int nb = r1 - rb < block ? r1 - rb : block;
        for (int i = 0; i < nb; i++) deq(m, type, wd + (size_t)(rb + i) * rb_bytes, buf + (size_t)i * cols, cols);
        for (size_t t = 0; t < T; t++)
            for (int i = 0; i < nb; i++)
                qmm_out(j, t)[rb + i] = ops->dot(buf + (size_t)i * cols, j->x + t * cols, cols) + (j->bias ? j->bias[rb + i] : 0.0f);
    }
}

void pd_quant_matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                     float *const *y_rows) {
    int per = (w->rows + m->n_threads * 8 - 1) / (m->n_threads * 8);
    int min = T < 4 ? 4 : PD_ROW_BLOCK;
    if (per < min) per = min;
    if (T >= 4) per = (per + PD_ROW_BLOCK - 1) / PD_ROW_BLOCK * PD_ROW_BLOCK;
    qmm_job j = {m, x, T, w, bias, y, y_rows, per};
    size_t n_tasks = (size_t)((w->rows + per - 1) / per);
    if ((size_t)w->rows * (size_t)w->cols * T < SMALL_WORK) {
        for (size_t t = 0; t < n_tasks; t++) qmm_task(&j, t, 0);
        return;
    }
    pd_pool_run(m->pool, n_tasks, qmm_task, &j);
}
