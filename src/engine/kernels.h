/* kernels.h — the inner loops of the forward pass, behind a small table of function pointers.
 *
 * Four kernel sets: portable C (the reference), AVX2+FMA+F16C (kernels_avx2.c), AVX-512
 * (kernels_avx512.c) and AVX512-BF16 (kernels_avx512bf16.c: bf16 weights times activations
 * rounded to bf16, for bf16 precision only), the SIMD ones chosen at run time when the CPU has
 * them (model.c; in bf16 precision the fp32 sets get their inputs rounded by the forward pass,
 * so every set computes the same products). Every set follows one summation order (see kernels.c), so a row's result never
 * depends on how many other rows were computed with it; tests run every set the CPU has and
 * compare them. Two forms: dot products of weight rows (every set: one accumulator of
 * `lanes` lanes along k per output, then a fixed reduction), and, in the sets with panel
 * kernels (mm_panels: AVX2, AVX-512, AVX512-BF16), the model's matmul weights packed in panels of
 * 16 outputs and each output one fused multiply-add chain over k (an outer-product GEMM;
 * vdpbf16ps over pairs of k for BF16 weights in the AVX512-BF16 set). */
#ifndef PD_ENGINE_KERNELS_H
#define PD_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Largest register tile and vector width of any set (sizes the accumulator buffers). */
#define PD_KERNEL_MAX_MR 4
#define PD_KERNEL_MAX_NR 8
#define PD_KERNEL_MAX_LANES 16

typedef struct pd_mm pd_mm; /* one matmul's operands, below */

typedef struct pd_kernel_ops {
    const char *name;
    /* The summation order: every dot product keeps one accumulator of `lanes` lanes (element
     * i goes to lane i % lanes, in increasing i), then reduces it with pd_kernel_reduce. */
    int lanes;
    /* tile() computes mr weight rows against up to nr activation rows at once (mr is 4 in
     * every set: the driver reduces outputs four rows at a time). */
    int mr, nr;
    /* sum_i a[i] * b[i] */
    float (*dot)(const float *a, const float *b, int n);
    /* sum_i float(w[i]) * x[i], w stored as dtype (pd_dtype: F32, F16, BF16) */
    float (*dot_w)(const void *w, int dtype, const float *x, int n);
    /* dst[i] = float(src[i]) for a row stored as dtype */
    void (*to_f32)(const void *src, int dtype, float *dst, int n);
    /* y[i] += a * x[i] */
    void (*axpy)(float a, const float *x, float *y, int n);
    /* The register-blocked micro-kernel: for i < mr, j < nx, lane l, continue the lane sums
     *   acc[(i * nr + j) * lanes + l] (+)= w[i][k] * x[j * ldx + k], k in [k0, k1), k % lanes == l
     * w: mr row pointers stored as dtype (a caller with fewer rows repeats the last one); x: fp32
     * rows; k0 a multiple of lanes; first: start the sums at zero instead of reading acc. Lane
     * sums are continued in increasing k, so splitting [0, n) into chunks changes nothing. */
    void (*tile)(int nx, const void *const *w, int dtype, const float *x, size_t ldx, int k0, int k1, float *acc,
                 int first);
    /* out[q] = pd_kernel_reduce(acc + q * stride) for q < 4, bit for bit, in a few vector ops */
    void (*reduce4)(const float *acc, size_t stride, float out[4]);
    /* bf16 products, NULL in the sets that multiply in fp32. In a set that has them, every
     * product with a BF16 weight (dot_w, tile, tile_bf16) multiplies the weight by the
     * activation rounded to bf16 (round to nearest even), and elements 2p, 2p + 1 go to lane
     * p % lanes together (the pair's two products summed into the lane by one instruction).
     * round_bf16: dst[i] = bf16(x[i]), the rounding those products use. tile_bf16: tile for
     * BF16 weights on activation rows already rounded by round_bf16 (x: bf16 rows, ldx apart;
     * k0 a multiple of 2 * lanes), bit for bit what tile gives on the fp32 rows. */
    void (*round_bf16)(const float *x, uint16_t *dst, int n);
    void (*tile_bf16)(int nx, const void *const *w, const uint16_t *x, size_t ldx, int k0, int k1, float *acc, int first);
    /* y_h[i] += sum_p a[h * lda + p] * x_p[i] for heads h < nh (y_h = y + h * ldy), positions
     * p < np (x_p = x + p * ldx), i < n: each y_h the same operations, in the same order, as
     * axpy(a[h * lda + p], x_p, y_h, n) for p = 0, 1, ..., only with y_h kept in registers;
     * NULL where a set has no such loop (the caller then calls axpy). */
    void (*axpy_rows)(const float *a, size_t lda, const float *x, size_t ldx, int np, float *y, size_t ldy, int nh, int n);
    /* Panel-packed weights (see "panels" below), NULL in the sets that keep weight rows.
     * mm_panels: the outputs of panels [p0, p1) of a->w (packed by pd_panel_pack) for every
     * activation row; scratch: PD_PANEL_SCRATCH(cols) floats. Every output is one fp32
     * fused multiply-add chain over k in increasing order, from zero, then + bias: the same
     * bits whatever T, the panel range or the path inside (pd_panel_dot_ref is that chain in
     * C). In a set with bf16 products, BF16 weights instead make one lane's chain of
     * vdpbf16ps over the pairs (k, k + 1) in increasing order (kernels_avx512bf16.c), with
     * the same independence. panel_dot: output `row` of a packed matrix against one
     * activation row, bit for bit what mm_panels gives (without bias). */
    void (*mm_panels)(const pd_mm *a, int p0, int p1, float *scratch);
    float (*panel_dot)(const void *w, int dtype, int cols, int row, const float *x);
    /* Elementwise pieces of the forward pass, in every set (the portable ones where a set has
     * no faster form). silu_mul: out[i] = g[i] / (1 + exp(-g[i])) * u[i] (out may be g or u).
     * softmax: s[i] = exp(s[i] - max_j s[j]) / sum_j exp(s[j] - max), in place, n >= 1. The
     * portable forms use libm's expf and sum in increasing i; a SIMD set may evaluate exp as a
     * vector polynomial (within 2 ulp of expf) and sum in lanes. Either way a row's result
     * depends on that row alone, so batching still changes no bits within a set. */
    void (*silu_mul)(const float *g, const float *u, float *out, int n);
    void (*softmax)(float *s, int n);
    /* exp_sum: out[i] = pd_exp_det(x[i] * scale - shift) (a product, then a difference; out
     * may be NULL) and the sum of those values in double, over 16 lanes (lane i % 16 in
     * increasing i, then lanes j and j + 8 added, then j and j + 4, j + 2, j + 1): the same
     * bits in every set (pd_exp_sum_c is the definition). Sampling and the policy's
     * confidence sum a whole vocabulary of these per token. */
    double (*exp_sum)(const float *x, float scale, float shift, float *out, size_t n);
} pd_kernel_ops;

/* Panels: a matrix (rows, cols) packed for the sets with mm_panels, [ceil(rows / 16)][cols][16]
 * in its stored dtype: panel p holds outputs 16 p .. 16 p + 15, element k of all sixteen side
 * by side (one vector per k), the last panel zero-padded. Made once at model load. */
#define PD_PANEL 16
/* Scratch floats mm_panels needs per thread for rows of `cols` (four panels as fp32). */
#define PD_PANEL_SCRATCH(cols) ((size_t)4 * PD_PANEL * (size_t)(cols))

/* One matmul's operands: Y(T, rows) = X(T, cols) @ W(rows, cols).T + bias. */
struct pd_mm {
    const void *w;            /* (rows, cols) stored as dtype (panels, for mm_panels) */
    int dtype;
    int rows, cols;
    const float *x;           /* (T, cols) */
    size_t T;
    const float *bias;        /* (rows) or NULL */
    float *y;                 /* (T, rows), unless y_rows */
    float *const *y_rows;     /* (T) output row pointers, or NULL */
    const uint16_t *xb;       /* x already rounded by the set's round_bf16 (T, cols), or NULL: a set
                                 with bf16 products may read it instead of rounding x itself */
};

/* Output row pointers of a's activation rows t0 .. t0 + n - 1 (y_rows, or rows of y). */
static inline void pd_mm_out_rows(const pd_mm *a, size_t t0, int n, float **yr) {
    for (int j = 0; j < n; j++) yr[j] = a->y_rows ? a->y_rows[t0 + (size_t)j] : a->y + (t0 + (size_t)j) * (size_t)a->rows;
}

/* Weight rows per block: converted to fp32 together (wide batches) and kept in cache while
 * every activation row passes over them. Scratch for pd_matmul_rows: PD_ROW_BLOCK * cols. */
#define PD_ROW_BLOCK 16

/* Output columns [r0, r1) of a matmul, every activation row, with the tiles of ops. */
void pd_matmul_rows(const pd_kernel_ops *ops, const pd_mm *a, int r0, int r1, float *scratch);
/* The same for BF16 weights in a set with bf16 products, a->x already rounded by
 * ops->round_bf16 into xb (T, cols) once for every task: the same bits, without every tile
 * rounding the activations again. */
void pd_matmul_rows_bf16(const pd_kernel_ops *ops, const pd_mm *a, const uint16_t *xb, int r0, int r1, float *scratch);

/* Elements of the packed form of a (rows, cols) matrix, padding included. */
size_t pd_panel_elems(int rows, int cols);
/* Pack panels [p0, p1) of w (rows, cols, stored as dtype) into dst (the whole packed matrix). */
void pd_panel_pack(const void *w, int dtype, int rows, int cols, int p0, int p1, void *dst);
/* Row `row` of a packed matrix as fp32 (the token embedding, when tied to a packed lm_head). */
void pd_panel_row_f32(const void *w, int dtype, int cols, int row, float *dst);
/* The reference for mm_panels and panel_dot: fmaf(w[row][k], x[k], s) from s = 0, k increasing. */
float pd_panel_dot_ref(const void *w, int dtype, int cols, int row, const float *x);

/* The fixed reduction of one accumulator of `lanes` (8 or 16) lanes to a float. */
float pd_kernel_reduce(const float *acc, int lanes);
/* The portable silu_mul and softmax (kernels.c), which the SIMD sets may share. */
void pd_silu_mul_c(const float *g, const float *u, float *out, int n);
void pd_softmax_c(float *s, int n);

/* exp(d) for d <= 0 as the same IEEE single operations in every set (no fused multiply-add,
 * no libm): d > 0 counts as 0; below -86 (where exp(d) < 2^-124), -inf and NaN give 0. Within
 * 3e-7 of exp(d) relative (tests/test_vmath.c); what sampling's probabilities are made of. */
#define PD_EXP_DET_MIN (-86.0f)
#define PD_EXP_DET_LOG2E 1.44269502163f
#define PD_EXP_DET_LN2_HI 0.693145751953125f   /* trailing zero bits: n * LN2_HI is exact */
#define PD_EXP_DET_LN2_LO 1.42860676533018e-06f
#define PD_EXP_DET_ROUND 12582912.0f           /* 1.5 * 2^23: (t + R) - R rounds t to an integer */
static inline float pd_exp_det(float d) {
    if (!(d >= PD_EXP_DET_MIN)) return 0.0f;
    if (d > 0.0f) d = 0.0f;
    float n = (d * PD_EXP_DET_LOG2E + PD_EXP_DET_ROUND) - PD_EXP_DET_ROUND;
    float r = d - n * PD_EXP_DET_LN2_HI;
    r = r - n * PD_EXP_DET_LN2_LO;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { uint32_t u; float f; } s = {(uint32_t)((int32_t)n + 127) << 23}; /* 2^n, n in [-124, 0] */
    return p * s.f; /* exact: p * 2^n stays a normal float */
}
/* The portable exp_sum (the definition), and its end: elements [i0, n) one by one into the
 * lanes (lane i % 16) that a SIMD set filled for [0, i0) (i0 a multiple of 16), then the
 * lanes' fixed reduction. */
double pd_exp_sum_c(const float *x, float scale, float shift, float *out, size_t n);
double pd_exp_sum_finish(double lanes[16], const float *x, float scale, float shift, float *out, size_t i0, size_t n);

const pd_kernel_ops *pd_kernels_portable(void);
/* The AVX2 table, or NULL when the CPU (or compiler) lacks AVX2, FMA or F16C. */
const pd_kernel_ops *pd_kernels_avx2(void);
/* The AVX-512 table (F, BW, VL), or NULL when the CPU (or compiler) lacks it. */
const pd_kernel_ops *pd_kernels_avx512(void);
/* The AVX512-BF16 table (the AVX-512 set with bf16 products), or NULL when the CPU (or
 * compiler) lacks AVX512_BF16. Never picked by pd_kernels_best: it rounds activations, so
 * model.c picks it only in bf16 precision. */
const pd_kernel_ops *pd_kernels_avx512bf16(void);
/* The AVX-512 set's entries (kernels_avx512.c), which the AVX512-BF16 set shares; only
 * defined where x86 intrinsics are, only called where pd_kernels_avx512() is not NULL. */
float pd_avx512_dot(const float *a, const float *b, int n);
float pd_avx512_dot_w(const void *w, int dtype, const float *x, int n);
void pd_avx512_to_f32(const void *src, int dtype, float *dst, int n);
void pd_avx512_axpy(float a, const float *x, float *y, int n);
void pd_avx512_axpy_rows(const float *a, size_t lda, const float *x, size_t ldx, int np, float *y, size_t ldy, int nh, int n);
void pd_avx512_tile(int nx, const void *const *w, int dtype, const float *x, size_t ldx, int k0, int k1, float *acc,
                    int first);
void pd_avx512_reduce4(const float *acc, size_t stride, float out[4]);
/* silu_mul and softmax (kernels_avx512.c) with exp as a vector polynomial, and that exp:
 * y[i] = exp(x[i]) within 1 ulp of expf, 0 below -103.98, inf above 88.73, NaN for NaN. */
void pd_avx512_silu_mul(const float *g, const float *u, float *out, int n);
void pd_avx512_softmax(float *s, int n);
double pd_avx512_exp_sum(const float *x, float scale, float shift, float *out, size_t n);
/* The vector exp of silu_mul and softmax (kernels_avx512.c exp16, kernels_avx2.c exp8: the
 * same operations at two widths): inputs clamped to [MIN, MAX], n = rint(x LOG2E), r = x -
 * n LN2_HI - n LN2_LO, exp(r) = 1 + r + r^2 P(r), P = P0 + P1 r + ... + P5 r^5. */
#define PD_VEXP_MIN (-104.0f)
#define PD_VEXP_MAX 89.0f
#define PD_VEXP_LOG2E 1.442695040888963407359924681001892137f
#define PD_VEXP_LN2_HI 0.693145751953125f
#define PD_VEXP_LN2_LO 1.428606765330187045e-06f
#define PD_VEXP_P0 0.5f
#define PD_VEXP_P1 0.166666671633720397949219f
#define PD_VEXP_P2 0.0416664853692054748535156f
#define PD_VEXP_P3 0.00833336077630519866943359f
#define PD_VEXP_P4 0.00139304355252534151077271f
#define PD_VEXP_P5 0.000198527617612853646278381f
/* The AVX-512 set's panel kernels (mm_panels, panel_dot), for a set that reuses them. */
void pd_avx512_mm_panels(const pd_mm *a, int p0, int p1, float *scratch);
float pd_avx512_panel_dot(const void *w, int dtype, int cols, int row, const float *x);
void pd_avx512_exp(const float *x, float *y, int n);
/* The AVX2 set's exp (kernels_avx2.c): the same operations at 8 lanes, the same bits as
 * pd_avx512_exp; only to be called where pd_kernels_avx2() is not NULL. */
void pd_avx2_exp(const float *x, float *y, int n);
/* The best set this CPU runs (never the AVX512-BF16 one). */
const pd_kernel_ops *pd_kernels_best(void);

float pd_bf16_to_f32(uint16_t h);
float pd_f16_to_f32(uint16_t h);

#endif
