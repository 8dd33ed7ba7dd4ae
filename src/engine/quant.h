/* quant.h — GGUF block-quantized weights in the forward pass (src/engine/quant.c).
 *
 * A quantized matrix is a pd_wmat whose dtype is PD_DT_QUANT + its ggml type; its rows are
 * whole blocks. forward.c hands such matrices to these functions (three hooks: the matmul,
 * the embedding row, the few-ids read-out); everything else about them lives here. */
#ifndef PD_ENGINE_QUANT_H
#define PD_ENGINE_QUANT_H

#include "engine/engine.h"

#include <string.h>

/* Can the engine compute with ggml type t (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K)? */
int pd_quant_supported(int ggml_type);
/* Bytes in one row of w, whatever its dtype. */
size_t pd_wmat_row_bytes(const pd_wmat *w);

/* Dequantize n values (a multiple of the type's block) stored as ggml type t at src:
 * the portable reference, and the fastest version the CPU has. */
void pd_dequant_row_ref(int ggml_type, const void *src, float *dst, int n);
void pd_dequant_row(int ggml_type, const void *src, float *dst, int n);

/* Row `row` of w as fp32 (any dtype, row-major or packed in panels). */
void pd_wmat_row_f32(const pd_model *m, const pd_wmat *w, int row, float *dst);
/* dot(row `row` of w, x) (any dtype, row-major or packed in panels); tmp: (cols) scratch for a
 * quantized row. The same value as the matching element of the full matmul. */
float pd_wmat_row_dot(const pd_model *m, const pd_wmat *w, int row, const float *x, float *tmp);

/* Fused dequantize-and-dot kernels of a SIMD kernel set (quant_avx2.c, quant_avx512.c).
 * dot: out[i * nx + j] = dot(row w[i] of ggml type `type`, n values, with x + j * ldx) for
 * i < mr (4; a caller with fewer rows repeats one) and j < nx (1 <= nx <= max_nx), bit for
 * bit what the matching kernel set's dot gives on the dequantized row; 0, or -1 for a type
 * it has no kernel for (see pd_quant_fused). dequant: rows w[0..3] as fp32 into dst + i * ldd,
 * the same floats as pd_dequant_row_ref (the decoders of dot, storing instead of dotting). */
typedef struct pd_qkernels {
    const char *name;
    int lanes, mr, max_nx;
    int (*dot)(int type, const void *const *w, const float *x, size_t ldx, int nx, int n, float *out);
    int (*dequant)(int type, const void *const *w, float *dst, size_t ldd, int n);
} pd_qkernels;
const pd_qkernels *pd_qkernels_avx2(void);   /* NULL when the CPU lacks the AVX2 kernel set */
const pd_qkernels *pd_qkernels_avx512(void); /* NULL when the CPU lacks the AVX-512 kernel set */
/* The fused kernels matching a kernel set (NULL for the portable set, the reference). */
const pd_qkernels *pd_qkernels_for(const pd_kernel_ops *ops);
/* Does every SIMD set have a fused kernel for ggml type t (every type pd_quant_supported takes)? */
int pd_quant_fused(int ggml_type);

/* ---- 8-bit activations and integer dot products (the default for quantized matmuls) ----
 *
 * An activation row of n values (n a multiple of 32) is quantized once per matmul to int8 in
 * blocks of 32: dx = amax / 127, q = round-to-nearest-even(x * (1 / dx)), the same bytes on
 * every kernel set. Its buffer (pd_q8_row_bytes(n), see quant.c for the layout) also holds
 * what the integer kernels need per block: the sums of each 16 q, -8 times the sum of each 4
 * q (the start of the integer accumulators for weights stored with an offset), dx spread to 8
 * lanes, and dx times the block's sum (for the mins of Q4_1, Q5_1, Q4_K, Q5_K). The integer kernels then compute, for 4 weight rows and
 * up to max_nx activation rows, the exact integer sum of q_w * q_x per block (or per 16-value
 * sub-block) and combine the blocks in fp32 with the weight and activation scales. */
typedef struct pd_qikernels {
    const char *name;
    int max_nx;
    /* quantize n values of x into dst (pd_q8_row_bytes(n) bytes) */
    void (*quantize)(const float *x, int n, void *dst);
    /* out[i * nx + j] = dot(row w[i] of ggml type `type`, activation row xq + j * ldq), n
     * values, i < 4 (a caller with fewer rows repeats one), j < nx <= max_nx; 0, or -1 for a
     * type without an integer kernel (see pd_quant_int) */
    int (*dot)(int type, const void *const *w, const void *xq, size_t ldq, int nx, int n, float *out);
    /* Optional (wide batches): pack 4 rows w[0..3] once into dst (pack_bytes(n) bytes), then
     * dot_packed gives the same outputs as dot, bit for bit, without decoding the rows again. */
    size_t (*pack_bytes)(int n);
    int (*pack)(int type, const void *const *w, void *dst, int n);
    void (*dot_packed)(int type, const void *pk, const void *xq, size_t ldq, int nx, int n, float *out);
    /* Optional (AVX-512 VNNI): 16-row panels for the types panel_type accepts (every integer
     * type), which then take these for every batch width and row split (dot included), bit for
     * bit the portable reference. panel_pack: 16 rows w[0..15] (a caller with fewer repeats
     * one) into dst (panel_bytes(n) bytes); panel_dot: nx (1..PD_PANEL_NX) activation rows
     * against the rows w (pk NULL) or the packed panel pk, out[j * 16 + o]. */
    int (*panel_type)(int type);
    size_t (*panel_bytes)(int n);
    void (*panel_pack)(int type, const void *const *w, void *dst, int n);
    void (*panel_dot)(int type, const void *const *w, const void *pk, const void *xq, size_t ldq, int nx, int n, float *out);
    /* Optional (AVX-512 VNNI; AVX2 for Q8_0, Q4_0, Q5_0): panels stored once at load
     * (model.c, pd_wmat.qpanels), which then serve every batch width with the set's own row
     * kernels' bits (AVX-512: panel_dot's). store_bytes: bytes of one stored
     * panel of 16 rows of n values (0: type has no stored form); store: rows w[0..15] (a
     * caller with fewer repeats one) into dst; stored_dot: as panel_dot, from the stored
     * panel sp. */
    size_t (*store_bytes)(int type, int n);
    void (*store)(int type, const void *const *w, void *dst, int n);
    void (*stored_dot)(int type, const void *sp, const void *xq, size_t ldq, int nx, int n, float *out);
} pd_qikernels;
#define PD_PANEL_NX 8

/* The parts of a quantized activation row of n values (nb = n / 32 blocks; quant.c):
 * int8 q[n] at the start, then these. */
#define PD_Q8_C8(a, n) ((int32_t *)((uint8_t *)(a) + (size_t)(n)))                  /* (8 nb) -8 * sum of each 4 q */
#define PD_Q8_DX8(a, n) ((float *)((uint8_t *)(a) + 2 * (size_t)(n)))                /* (8 nb) dx, 8 times per block */
#define PD_Q8_DX(a, n) ((float *)((uint8_t *)(a) + 3 * (size_t)(n)))                 /* (nb) dx */
#define PD_Q8_DXS(a, n) ((float *)((uint8_t *)(a) + 3 * (size_t)(n) + (size_t)(n) / 8)) /* (nb) dx * block sum */
#define PD_Q8_S16(a, n) ((int16_t *)((uint8_t *)(a) + 3 * (size_t)(n) + (size_t)(n) / 4)) /* (2 nb) sum of each 16 q */

/* Bytes of one quantized activation row of n values, and the stride between rows. */
size_t pd_q8_row_bytes(int n);
size_t pd_q8_row_stride(int n);
/* Fill block b's parts after its 32 q (the sums, dx): every set's quantizer calls this. */
void pd_q8_block_tail(void *a, int n, int b, float dx);
/* Does ggml type t have integer kernels (every type pd_quant_supported takes, on every set)? */
int pd_quant_int(int ggml_type);
const pd_qikernels *pd_qikernels_portable(void); /* the reference: plain C, integer sums per block */
const pd_qikernels *pd_qikernels_avx2(void);     /* AVX2 maddubs; NULL when the CPU lacks AVX2 */
const pd_qikernels *pd_qikernels_avx512(void);   /* AVX-512 VNNI vpdpbusd; NULL without AVX512_VNNI */
/* The integer kernels that go with a kernel set: portable -> portable, AVX2 -> AVX2, AVX-512 ->
 * AVX-512 VNNI when the CPU has it, else AVX2. */
const pd_qikernels *pd_qikernels_for(const pd_kernel_ops *ops);

/* Output columns [r0, r1) of Y(T, rows) = Xq @ W.T + bias with the integer kernels ik, Xq
 * the T activation rows quantized by ik->quantize (stride ldq bytes): the body of one
 * pd_quant_matmul task on the 8-bit path. When w->qpanels is set, it was stored by ik->store
 * (each set has its own layout) and r0 is a multiple of 16. */
void pd_quant_rows_q8(const pd_qikernels *ik, const pd_wmat *w, const void *xq, size_t ldq, size_t T, const float *bias,
                      float *y, float *const *y_rows, int r0, int r1, void *scratch);
/* Bytes of scratch pd_quant_rows_q8 needs for rows of n values (at most 64 n + 4096). */
size_t pd_quant_q8_scratch(const pd_qikernels *ik, int n);

/* Output columns [r0, r1) of Y(T, rows) = X(T, cols) @ W.T + bias for a quantized W, every
 * activation row, with kernel set ops: the body of one pd_quant_matmul task (tests call it
 * per set). scratch: (PD_ROW_BLOCK, cols) floats. */
void pd_quant_rows(const pd_kernel_ops *ops, const pd_wmat *w, const float *x, size_t T, const float *bias, float *y,
                   float *const *y_rows, int r0, int r1, float *scratch);

/* Y(T, rows) = X(T, cols) @ W.T + bias for a quantized W, over the model's pool; y_rows
 * (optional) scatters the output rows as in forward.c's matmul. */
void pd_quant_matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                     float *const *y_rows);
/* Several quantized matmuls on the same input X (q/k/v; gate/up): Y_i(T, rows_i) = X @ W_i.T
 * + bias_i for i < n, each output the same bits as pd_quant_matmul(m, x, T, w[i], bias[i],
 * y[i], NULL) gives (bias may be NULL, or bias[i]). One pool run (per 8 matrices), X
 * quantized once for the 8-bit path: one wake-up and one wait instead of n. */
void pd_quant_matmul_n(pd_model *m, const float *x, size_t T, int n, const pd_wmat *const *w, const float *const *bias,
                       float *const *y);

/* ---- quantizers (src/engine/quantize.c): fp32 rows into GGUF tensor types ----
 * Can pd_quantize_row write ggml type t? (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K) */
int pd_quantize_supported(int ggml_type);
/* Write n values of x (n a multiple of the type's block) as ggml type t into dst, in the
 * block layout pd_dequant_row_ref reads; deterministic. Returns the bytes written (0 for a
 * type pd_quantize_supported refuses). */
size_t pd_quantize_row(int ggml_type, const float *x, void *dst, int n);
/* fp32 to IEEE half / bfloat16, rounded to nearest even (NaN stays a quiet NaN; halves
 * overflow to infinity past 65504). */
uint16_t pd_f32_to_f16(float f);
static inline uint16_t pd_f32_to_bf16(float f) { /* inline: the forward pass rounds activations with it */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN, kept quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* ---- K-quant block scales (ggml's packing), shared by the reference and the SIMD sets ---- */

/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (12 packed bytes). */
static inline void pd_scale_min_k4(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* The signed 6-bit scale of sub-block j (of 16) of a Q3_K block: low 4 bits from byte j % 8
 * (low nibble for j < 8, high for j >= 8), high 2 bits from byte 8 + j % 4 at bit 2 (j / 4). */
static inline int pd_q3_k_scale(const uint8_t *sc, int j) {
    int lo = j < 8 ? sc[j] & 0xf : sc[j - 8] >> 4, hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* The 16 sub-block factors of a Q2_K (q3 0) or Q3_K (q3 1) block b, the reference's products:
 * ds[j] = d * scale_j, and for Q2_K dm[j] = dmin * min_j (dm untouched for Q3_K). */
static inline void pd_k23_factors(int q3, const uint8_t *b, float ds[16], float dm[16]) {
    if (q3) {
        float d = pd_f16_to_f32((uint16_t)(b[108] | b[109] << 8));
        for (int j = 0; j < 16; j++) ds[j] = d * (float)pd_q3_k_scale(b + 96, j);
    } else {
        float d = pd_f16_to_f32((uint16_t)(b[80] | b[81] << 8)), dmin = pd_f16_to_f32((uint16_t)(b[82] | b[83] << 8));
        for (int j = 0; j < 16; j++) ds[j] = d * (float)(b[j] & 0xf), dm[j] = dmin * (float)(b[j] >> 4);
    }
}

#endif
