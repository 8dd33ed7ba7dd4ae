/* kernels.h — the inner loops of the forward pass, behind a small table of function pointers.
 *
 * Two implementations: portable C, and AVX2+FMA+F16C chosen at run time when the CPU has
 * them (kernels.c). Tests run both and check they agree. */
#ifndef PD_ENGINE_KERNELS_H
#define PD_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_kernel_ops {
    const char *name;
    /* sum_i a[i] * b[i] */
    float (*dot)(const float *a, const float *b, int n);
    /* out[r] = dot(w, x + r * ldx) for r = 0..3: one weight row against four inputs */
    void (*dot4)(const float *w, const float *x, size_t ldx, int n, float out[4]);
    /* dst[i] = float(src[i]) for a row stored as dtype (pd_dtype: F32, F16, BF16) */
    void (*to_f32)(const void *src, int dtype, float *dst, int n);
    /* sum_i float(w[i]) * x[i], w stored as dtype: the decode path, no conversion pass */
    float (*dot_w)(const void *w, int dtype, const float *x, int n);
    /* y[i] += a * x[i] */
    void (*axpy)(float a, const float *x, float *y, int n);
} pd_kernel_ops;

const pd_kernel_ops *pd_kernels_portable(void);
/* The AVX2 table, or NULL when the CPU (or compiler) lacks AVX2, FMA or F16C. */
const pd_kernel_ops *pd_kernels_avx2(void);

float pd_bf16_to_f32(uint16_t h);
float pd_f16_to_f32(uint16_t h);

#endif
