/* kernels.h — the inner loops of the forward pass, behind a small table of function pointers.
 *
 * Three kernel sets: portable C (the reference), AVX2+FMA+F16C (kernels_avx2.c) and AVX-512
 * (kernels_avx512.c), the SIMD ones chosen at run time when the CPU has them. Every set
 * follows one summation order (see kernels.c), so a row's result never depends on how many
 * other rows were computed with it; tests run every set the CPU has and compare them. */
#ifndef PD_ENGINE_KERNELS_H
#define PD_ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Largest register tile and vector width of any set (sizes the accumulator buffers). */
#define PD_KERNEL_MAX_MR 4
#define PD_KERNEL_MAX_NR 8
#define PD_KERNEL_MAX_LANES 16

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
} pd_kernel_ops;

/* One matmul's operands: Y(T, rows) = X(T, cols) @ W(rows, cols).T + bias. */
typedef struct pd_mm {
    const void *w;            /* (rows, cols) stored as dtype */
    int dtype;
    int rows, cols;
    const float *x;           /* (T, cols) */
    size_t T;
    const float *bias;        /* (rows) or NULL */
    float *y;                 /* (T, rows), unless y_rows */
    float *const *y_rows;     /* (T) output row pointers, or NULL */
} pd_mm;

/* Weight rows per block: converted to fp32 together (wide batches) and kept in cache while
 * every activation row passes over them. Scratch for pd_matmul_rows: PD_ROW_BLOCK * cols. */
#define PD_ROW_BLOCK 16

/* Output columns [r0, r1) of a matmul, every activation row, with the tiles of ops. */
void pd_matmul_rows(const pd_kernel_ops *ops, const pd_mm *a, int r0, int r1, float *scratch);

/* The fixed reduction of one accumulator of `lanes` (8 or 16) lanes to a float. */
float pd_kernel_reduce(const float *acc, int lanes);

const pd_kernel_ops *pd_kernels_portable(void);
/* The AVX2 table, or NULL when the CPU (or compiler) lacks AVX2, FMA or F16C. */
const pd_kernel_ops *pd_kernels_avx2(void);
/* The AVX-512 table (F, BW, VL), or NULL when the CPU (or compiler) lacks it. */
const pd_kernel_ops *pd_kernels_avx512(void);
/* The best set this CPU runs. */
const pd_kernel_ops *pd_kernels_best(void);

float pd_bf16_to_f32(uint16_t h);
float pd_f16_to_f32(uint16_t h);

#endif
