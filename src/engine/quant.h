/* quant.h — GGUF block-quantized weights in the forward pass (src/engine/quant.c).
 *
 * A quantized matrix is a pd_wmat whose dtype is PD_DT_QUANT + its ggml type; its rows are
 * whole blocks. forward.c hands such matrices to these functions (three hooks: the matmul,
 * the embedding row, the few-ids read-out); everything else about them lives here. */
#ifndef PD_ENGINE_QUANT_H
#define PD_ENGINE_QUANT_H

#include "engine/engine.h"

/* Can the engine compute with ggml type t (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)? */
int pd_quant_supported(int ggml_type);
/* Bytes in one row of w, whatever its dtype. */
size_t pd_wmat_row_bytes(const pd_wmat *w);

/* Dequantize n values (a multiple of the type's block) stored as ggml type t at src:
 * the portable reference, and the fastest version the CPU has. */
void pd_dequant_row_ref(int ggml_type, const void *src, float *dst, int n);
void pd_dequant_row(int ggml_type, const void *src, float *dst, int n);

/* Row `row` of w as fp32 (any dtype). */
void pd_wmat_row_f32(const pd_model *m, const pd_wmat *w, int row, float *dst);
/* dot(row `row` of w, x) (any dtype); tmp: (cols) scratch for a quantized row. The same
 * value as the matching element of pd_quant_matmul. */
float pd_wmat_row_dot(const pd_model *m, const pd_wmat *w, int row, const float *x, float *tmp);

/* Y(T, rows) = X(T, cols) @ W.T + bias for a quantized W, over the model's pool; y_rows
 * (optional) scatters the output rows as in forward.c's matmul. */
void pd_quant_matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                     float *const *y_rows);

#endif
