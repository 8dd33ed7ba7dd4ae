/* bench_quant.c — compute cost of the quantized matmul kernels (src/engine/quant*.c) against
 * the bf16 kernels, one thread, weights in cache (1024 x 1024), back to back per type.
 *
 *   make bench && build/bench/bench_quant [avx512|avx2|portable]
 *
 * Decode from memory is bound by bandwidth only while the kernels decode faster than memory
 * delivers; on a busy machine (a fraction of a core each) it is this compute cost that shows.
 * Prints, for T = 1 (decode), T = 16 (tree branches) and T = 64 (prefill), multiply-adds per second of each
 * type on fp32 activations (the exact path) and on 8-bit activations (integer dots, the
 * activations quantized in each call), against bf16 measured just before. Never fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/quant.h"
#include "model/gguf.h"

/* This thread's CPU time: on a shared machine, time spent descheduled does not count. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Multiply-adds per CPU second of one matmul, repeated for about 0.5 s of CPU; ik: the 8-bit path
 * (the activations quantized in every call, as pd_quant_matmul does). */
static double rate(const pd_kernel_ops *ops, const pd_qikernels *ik, const pd_wmat *qw, const pd_mm *bf, const float *x,
                   size_t T, float *y, float *scratch, uint8_t *xq, void *qscratch) {
    int it = 0;
    double t0 = now(), el;
    do {
        if (ik) {
            size_t ldq = pd_q8_row_stride(qw->cols);
            for (size_t t = 0; t < T; t++) ik->quantize(x + t * qw->cols, qw->cols, xq + t * ldq);
            pd_quant_rows_q8(ik, qw, xq, ldq, T, NULL, y, NULL, 0, qw->rows, qscratch);
        } else if (qw) pd_quant_rows(ops, qw, x, T, NULL, y, NULL, 0, qw->rows, scratch);
        else pd_matmul_rows(ops, bf, 0, bf->rows, scratch);
        it++;
        el = now() - t0;
    } while (el < 0.5);
    int rows = qw ? qw->rows : bf->rows, cols = qw ? qw->cols : bf->cols;
    return (double)rows * cols * (double)T * it / el;
}

int main(int argc, char **argv) {
    const char *set = argc > 1 ? argv[1] : "best";
    const pd_kernel_ops *ops = !strcmp(set, "avx2") ? pd_kernels_avx2() : !strcmp(set, "avx512") ? pd_kernels_avx512()
                             : !strcmp(set, "portable") ? pd_kernels_portable() : pd_kernels_best();
    if (!ops) {
        printf("kernel set %s: not on this CPU\n", set);
        return 0;
    }
    const int rows = 1024, cols = 1024;
    const int types[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q5_0, PD_GGML_Q4_K, PD_GGML_Q5_K, PD_GGML_Q6_K, PD_GGML_Q4_1, PD_GGML_Q5_1,
                         PD_GGML_Q2_K, PD_GGML_Q3_K};
    const char *names[] = {"Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K", "Q4_1", "Q5_1", "Q2_K", "Q3_K"};
    float *x = malloc(64 * (size_t)cols * sizeof *x), *y = malloc(64 * (size_t)rows * sizeof *y);
    float *scratch = malloc((size_t)PD_ROW_BLOCK * cols * sizeof *scratch);
    uint16_t *wb = malloc((size_t)rows * cols * sizeof *wb);
    srand(1);
    for (int i = 0; i < 64 * cols; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)rows * cols; i++) wb[i] = (uint16_t)(0x3c00 + rand() % 0x400); /* bf16 in [0.0078, 0.0156) */
    const pd_qikernels *ik = pd_qikernels_for(ops);
    uint8_t *xq = malloc(64 * pd_q8_row_stride(cols));
    void *qscratch = malloc(pd_quant_q8_scratch(ik, cols) + 1);
    printf("kernel set %s (integer: %s), one thread, %d x %d weights\n", ops->name, ik->name, rows, cols);
    printf("%-5s %4s %12s %12s %7s %12s %7s\n", "type", "T", "f32 GMAC/s", "bf16 GMAC/s", "ratio", "q8 GMAC/s", "ratio");
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        int t = types[k];
        size_t bb = pd_ggml_block_bytes(t), nb = (size_t)rows * cols / pd_ggml_block_elems(t);
        uint8_t *w = malloc(nb * bb);
        for (size_t i = 0; i < nb * bb; i++) w[i] = (uint8_t)rand();
        for (size_t i = 0; i < nb; i++) { /* finite half scales: 1.0 */
            uint8_t *b = w + i * bb;
            if (t == PD_GGML_Q6_K) b[208] = 0, b[209] = 0x3c;
            else if (t == PD_GGML_Q2_K) b[80] = 0, b[81] = 0x3c, b[82] = 0, b[83] = 0x3c;
            else if (t == PD_GGML_Q3_K) b[108] = 0, b[109] = 0x3c;
            else b[0] = 0, b[1] = 0x3c, b[2] = 0, b[3] = 0x3c;
        }
        pd_wmat qw = {.data = w, .dtype = PD_DT_QUANT + t, .rows = rows, .cols = cols};
        for (size_t T = 1; T <= 64; T = T == 1 ? 16 : T * 4) {
            pd_mm bf = {wb, PD_DT_BF16, rows, cols, x, T, NULL, y, NULL, NULL};
            double rb = rate(ops, NULL, NULL, &bf, x, T, y, scratch, xq, NULL), rq = rate(ops, NULL, &qw, NULL, x, T, y, scratch, xq, NULL);
            if (pd_quant_int(t)) {
                double ri = rate(ops, ik, &qw, NULL, x, T, y, scratch, xq, qscratch);
                printf("%-5s %4zu %12.2f %12.2f %7.2f %12.2f %7.2f\n", names[k], T, rq / 1e9, rb / 1e9, rq / rb, ri / 1e9, ri / rb);
            } else printf("%-5s %4zu %12.2f %12.2f %7.2f %12s %7s\n", names[k], T, rq / 1e9, rb / 1e9, rq / rb, "-", "-");
        }
        free(w);
    }
    free(x), free(y), free(scratch), free(wb), free(xq), free(qscratch);
    return 0;
}
