/* kernels.c — the kernel sets' common contract, the portable C set, and the matmul driver.
 *
 * Everything the forward pass spends its time on reduces to dot products of an fp32
 * activation row with a weight row stored as F32, F16 or BF16, with fp32 accumulation.
 *
 * Summation order is part of the contract. Within a kernel set every dot product (dot, dot_w,
 * and each output of tile) keeps ONE accumulator of `lanes` lanes: element i is added into
 * lane i % lanes, in increasing i (the last partial vector as if zero-padded), and the lanes
 * are reduced by the fixed tree of pd_kernel_reduce. A tile computes several rows and columns
 * at once only by keeping several such accumulators in registers, never by reordering one.
 * So a row computed in a wide batch (tile on fp32-converted weights) is bit-identical to the
 * same row computed alone (tile on stored weights, or dot_w): a sequence's logits, hence its
 * samples, never depend on the batch it is in. Across sets the results agree to rounding
 * only (lanes differ: 8 portable and AVX2, 16 AVX-512; the portable set has no fused
 * multiply-add); tests check ~1e-5 relative. The AVX512-BF16 set is the exception by design:
 * for BF16 weights it multiplies activations rounded to bf16 (kernels.h: bf16 products), which
 * moves a dot product by up to ~2^-9 of sum |w x|; tests hold it to that bound.
 *
 * Panels (kernels.h; the sets with mm_panels: AVX2, AVX-512, AVX512-BF16) change the form for the
 * model's matmul weights, not the principle: there every output is ONE fp32 accumulator, a
 * fused multiply-add chain over k in increasing order from zero (pd_panel_dot_ref, in C),
 * then + bias. Weights are packed at load time in panels of 16 outputs ([cols][16]: one
 * vector per k), so the kernels are outer products (weight vectors times broadcast
 * activations) with no reduction; decode, narrow and wide batches, and panel_dot for single
 * lm_head rows, only run different numbers of such chains at once, so the invariant above
 * (a row's bits independent of the batch, the path and the threads) holds for them too. A
 * set's two forms differ by rounding (each is exact to its own order); rows of the small
 * read-outs (reward heads) and quantized weights keep the row form.
 *
 * The driver (pd_matmul_rows) is common to every set. For a range of weight rows it walks
 * blocks of PD_ROW_BLOCK rows; for wide batches each block is first converted to fp32 once
 * (so that the tile's inner loop is loads and multiply-adds only), for narrow ones the tile
 * converts in registers (decode streams each weight once, straight from memory). Inside a
 * block, activation rows go nr at a time and the reduction dimension in chunks of at most
 * PD_K_CHUNK, so that a chunk of nr activation rows stays in L1 while the block's weight
 * rows pass over it; the lane sums are carried between chunks in a small buffer. With bf16
 * products (BF16 weights, a set that has them) nothing is converted: the tiles multiply the
 * weights as stored, and the activations rounded to bf16 once per matmul by the caller
 * (pd_matmul_rows_bf16) when it did, else in registers by every tile (the same bits). */
#include "engine/kernels.h"

#include <math.h>
#include <string.h>

#include "model/safetensors.h"

/* Activation rows from which a block of weights is converted to fp32 once rather than in
 * registers by every tile (conversion costs the tile a few instructions per weight vector,
 * repeated once per nr activation rows). */
#define PD_CONVERT_MIN_ROWS 24
/* Reduction-dimension chunk (a multiple of twice every set's lanes). */
#define PD_K_CHUNK 512

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

/* The fixed reduction: 16 lanes fold to 8 (l + (l + 8)), then
 * ((0+4) + (2+6)) + ((1+5) + (3+7)), which is the AVX horizontal sum's order. */
float pd_kernel_reduce(const float *acc, int lanes) {
    float v[8];
    for (int l = 0; l < 8; l++) v[l] = lanes == 16 ? acc[l] + acc[l + 8] : acc[l];
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/* ---- the matmul driver ---- */

/* Output columns [r0, r1) for every activation row; see the top of the file. xb: the
 * activations rounded to bf16, or NULL. */
static void matmul_rows(const pd_kernel_ops *ops, const pd_mm *a, const uint16_t *xb, int r0, int r1, float *scratch) {
    const int L = ops->lanes, MR = ops->mr, NR = ops->nr, cols = a->cols;
    const size_t es = pd_dtype_size(a->dtype), T = a->T;
    const int bf16 = a->dtype == PD_DT_BF16 && ops->tile_bf16; /* bf16 products */
    const int convert = a->dtype != PD_DT_F32 && !bf16 && T >= PD_CONVERT_MIN_ROWS;
    /* narrow batches stream each weight row once, start to end (what the hardware prefetcher
     * follows best); wide ones go in chunks that keep the activation tile in L1 */
    const int kc = T >= PD_CONVERT_MIN_ROWS ? PD_K_CHUNK : cols;
    /* lane sums of one block of weight rows against nr activation rows, carried across chunks */
    float acc[PD_ROW_BLOCK * PD_KERNEL_MAX_NR * PD_KERNEL_MAX_LANES];
    for (int rb = r0; rb < r1; rb += PD_ROW_BLOCK) {
        int nb = r1 - rb < PD_ROW_BLOCK ? r1 - rb : PD_ROW_BLOCK;
        const uint8_t *wb = (const uint8_t *)a->w + (size_t)rb * cols * es;
        int dt = a->dtype;
        size_t wes = es;
        if (convert) {
            for (int i = 0; i < nb; i++) ops->to_f32(wb + (size_t)i * cols * es, a->dtype, scratch + (size_t)i * cols, cols);
            wb = (const uint8_t *)scratch;
            dt = PD_DT_F32;
            wes = sizeof(float);
        }
        for (size_t t0 = 0; t0 < T; t0 += (size_t)NR) {
            int nx = T - t0 < (size_t)NR ? (int)(T - t0) : NR;
            const float *x = a->x + t0 * cols;
            for (int k0 = 0; k0 < cols; k0 += kc) {
                int k1 = cols - k0 > kc ? k0 + kc : cols;
                for (int g = 0; g < nb; g += MR) {
                    const void *w[PD_KERNEL_MAX_MR];
                    for (int i = 0; i < MR; i++) w[i] = wb + (size_t)(g + (g + i < nb ? i : nb - 1 - g)) * cols * wes;
                    float *ag = acc + (size_t)g * NR * L;
                    if (bf16 && xb) ops->tile_bf16(nx, w, xb + t0 * cols, (size_t)cols, k0, k1, ag, k0 == 0);
                    else ops->tile(nx, w, dt, x, (size_t)cols, k0, k1, ag, k0 == 0);
                }
            }
            /* each output's lane sums, reduced four outputs (rows i..i+3 of column j) at a time */
            for (int j = 0; j < nx; j++) {
                float *y = a->y_rows ? a->y_rows[t0 + j] : a->y + (t0 + j) * (size_t)a->rows;
                for (int i = 0; i < nb; i += 4) {
                    float v[4];
                    ops->reduce4(acc + ((size_t)i * NR + (size_t)j) * L, (size_t)NR * L, v);
                    for (int q = 0; q < 4 && i + q < nb; q++) y[rb + i + q] = v[q] + (a->bias ? a->bias[rb + i + q] : 0.0f);
                }
            }
        }
    }
}

void pd_matmul_rows(const pd_kernel_ops *ops, const pd_mm *a, int r0, int r1, float *scratch) {
    matmul_rows(ops, a, NULL, r0, r1, scratch);
}

void pd_matmul_rows_bf16(const pd_kernel_ops *ops, const pd_mm *a, const uint16_t *xb, int r0, int r1, float *scratch) {
    matmul_rows(ops, a, xb, r0, r1, scratch);
}

/* ---- panels (kernels.h): the packed layout and its C reference ---- */

size_t pd_panel_elems(int rows, int cols) { return (size_t)(rows + PD_PANEL - 1) / PD_PANEL * PD_PANEL * (size_t)cols; }

/* Stored element i of a row as fp32 (defined below). */
static inline float elem(const void *w, int dtype, size_t i);

/* Each panel: its sixteen rows read side by side, each k's vector written once, in order. */
void pd_panel_pack(const void *w, int dtype, int rows, int cols, int p0, int p1, void *dst) {
    const size_t es = pd_dtype_size(dtype), n = (size_t)cols;
    for (int p = p0; p < p1; p++) {
        uint8_t *d = (uint8_t *)dst + (size_t)p * PD_PANEL * n * es;
        int nr = rows - p * PD_PANEL < PD_PANEL ? rows - p * PD_PANEL : PD_PANEL;
        const uint8_t *src = (const uint8_t *)w + (size_t)p * PD_PANEL * n * es;
        if (nr < PD_PANEL) memset(d, 0, PD_PANEL * n * es);
        if (es == 2) {
            const uint16_t *s = (const uint16_t *)src;
            uint16_t *o = (uint16_t *)d;
            for (size_t k = 0; k < n; k++, o += PD_PANEL)
                for (int i = 0; i < nr; i++) o[i] = s[(size_t)i * n + k];
        } else {
            const float *s = (const float *)src;
            float *o = (float *)d;
            for (size_t k = 0; k < n; k++, o += PD_PANEL)
                for (int i = 0; i < nr; i++) o[i] = s[(size_t)i * n + k];
        }
    }
}

/* Element k of row `row` of a packed matrix, as fp32. */
static inline float panel_elem(const void *w, int dtype, int cols, int row, int k) {
    size_t i = ((size_t)(row / PD_PANEL) * (size_t)cols + (size_t)k) * PD_PANEL + (size_t)(row % PD_PANEL);
    return elem(w, dtype, i);
}

void pd_panel_row_f32(const void *w, int dtype, int cols, int row, float *dst) {
    for (int k = 0; k < cols; k++) dst[k] = panel_elem(w, dtype, cols, row, k);
}

float pd_panel_dot_ref(const void *w, int dtype, int cols, int row, const float *x) {
    float s = 0.0f;
    for (int k = 0; k < cols; k++) s = fmaf(panel_elem(w, dtype, cols, row, k), x[k], s);
    return s;
}

/* ---- portable C: 8 lanes, no fused multiply-add ---- */

#define PORTABLE_LANES 8
#define PORTABLE_MR 4
#define PORTABLE_NR 4

/* Stored element i of a row as fp32. */
static inline float elem(const void *w, int dtype, size_t i) {
    if (dtype == PD_DT_F32) return ((const float *)w)[i];
    uint16_t h = ((const uint16_t *)w)[i];
    return dtype == PD_DT_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
}

/* sum w[i] * x[i] in the kernels' fixed order (see the top of the file). */
static float dot_gen(const void *w, int dtype, const float *x, int n) {
    float s[PORTABLE_LANES] = {0};
    for (int i = 0; i < n; i++) s[i % PORTABLE_LANES] += elem(w, dtype, (size_t)i) * x[i];
    return pd_kernel_reduce(s, PORTABLE_LANES);
}

static float dot_c(const float *a, const float *b, int n) { return dot_gen(a, PD_DT_F32, b, n); }

static float dot_w_c(const void *w, int dtype, const float *x, int n) { return dot_gen(w, dtype, x, n); }

static void to_f32_c(const void *src, int dtype, float *dst, int n) {
    if (dtype == PD_DT_F32) memcpy(dst, src, (size_t)n * sizeof *dst);
    else
        for (int i = 0; i < n; i++) dst[i] = elem(src, dtype, (size_t)i);
}

static void axpy_c(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* The tile of the contract, one output at a time (the reference, not fast). */
static void tile_c(int nx, const void *const *w, int dtype, const float *x, size_t ldx, int k0, int k1, float *acc,
                   int first) {
    for (int i = 0; i < PORTABLE_MR; i++)
        for (int j = 0; j < nx; j++) {
            float *s = acc + (size_t)(i * PORTABLE_NR + j) * PORTABLE_LANES;
            if (first) memset(s, 0, PORTABLE_LANES * sizeof *s);
            const float *xr = x + (size_t)j * ldx;
            for (int k = k0; k < k1; k++) s[k % PORTABLE_LANES] += elem(w[i], dtype, (size_t)k) * xr[k];
        }
}

static void reduce4_c(const float *acc, size_t stride, float out[4]) {
    for (int q = 0; q < 4; q++) out[q] = pd_kernel_reduce(acc + q * stride, PORTABLE_LANES);
}

void pd_silu_mul_c(const float *g, const float *u, float *out, int n) {
    for (int i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void pd_softmax_c(float *s, int n) {
    float mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    for (int i = 0; i < n; i++) sum += (s[i] = expf(s[i] - mx));
    for (int i = 0; i < n; i++) s[i] = s[i] / sum;
}

double pd_exp_sum_finish(double lanes[16], const float *x, float scale, float shift, float *out, size_t i0, size_t n) {
    for (size_t i = i0; i < n; i++) {
        float l = x[i] * scale;
        float e = pd_exp_det(l - shift);
        if (out) out[i] = e;
        lanes[i % 16] += e;
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    return lanes[0];
}

double pd_exp_sum_c(const float *x, float scale, float shift, float *out, size_t n) {
    double lanes[16] = {0};
    return pd_exp_sum_finish(lanes, x, scale, shift, out, 0, n);
}

static const pd_kernel_ops portable_ops = {
    .name = "portable", .lanes = PORTABLE_LANES, .mr = PORTABLE_MR, .nr = PORTABLE_NR,
    .dot = dot_c, .dot_w = dot_w_c, .to_f32 = to_f32_c, .axpy = axpy_c, .tile = tile_c, .reduce4 = reduce4_c,
    .silu_mul = pd_silu_mul_c, .softmax = pd_softmax_c, .exp_sum = pd_exp_sum_c,
};

const pd_kernel_ops *pd_kernels_portable(void) { return &portable_ops; }

/* The widest set the CPU runs: AVX-512, else AVX2, else portable. */
const pd_kernel_ops *pd_kernels_best(void) {
    const pd_kernel_ops *k = pd_kernels_avx512();
    if (!k) k = pd_kernels_avx2();
    return k ? k : pd_kernels_portable();
}
