/* test_quant_kernels.c — the quantized matmul (src/engine/quant*.c) on every kernel set the
 * CPU runs, against the portable reference.
 *
 * For each fused type (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) and the dequantize-only ones, on random
 * blocks and on the fixtures' real tensors, and for batch widths that take the fused decode
 * path (each row decoded in registers, up to max_nx activation rows per pass) and the wide
 * path (a block of rows dequantized once, then the set's register tiles):
 *   - every output is bit for bit the set's own dot on the reference-dequantized row (so a
 *     row's result never depends on the batch width, the path or the row range of a task);
 *   - every set agrees with the portable set to fp32 rounding (relative to sum |w x|);
 *   - the fused kernels' dequantizer gives the portable reference's floats. */
#include <math.h>

#include "engine/quant.h"
#include "model/gguf.h"
#include "ponder.h"
#include "test.h"

#define DIR "tests/fixtures/gguf"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rndf(void) { return (float)(rnd() % 20001) / 10000.0f - 1.0f; }

/* An IEEE half of about +-2^e (e in [-14, 1]), random mantissa. */
static uint16_t rnd_half(void) { return (uint16_t)((rnd() & 1) << 15 | (uint32_t)(1 + rnd() % 16) << 10 | (rnd() & 0x3ff)); }
static void put_half(uint8_t *p, uint16_t h) { p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8); }

/* rows x cols random blocks of type t, with valid (finite) half scales. */
static uint8_t *rnd_matrix(int t, int rows, int cols) {
    size_t bb = pd_ggml_block_bytes(t), nb = (size_t)rows * (size_t)cols / pd_ggml_block_elems(t);
    uint8_t *w = malloc(nb * bb);
    for (size_t i = 0; i < nb * bb; i++) w[i] = (uint8_t)rnd();
    for (size_t i = 0; i < nb; i++) {
        uint8_t *b = w + i * bb;
        switch (t) {
        case PD_GGML_Q4_1: case PD_GGML_Q5_1: case PD_GGML_Q4_K: case PD_GGML_Q5_K:
            put_half(b, rnd_half()), put_half(b + 2, rnd_half()); break;
        case PD_GGML_Q6_K: put_half(b + 208, rnd_half()); break;
        default: put_half(b, rnd_half()); break;
        }
    }
    return w;
}

static const pd_kernel_ops *sets[3];
static int n_sets;

/* One matrix through every set and batch width; returns the number of outputs checked. */
static long check_matrix(const char *what, int t, const void *data, int rows, int cols) {
    pd_wmat w = {data, PD_DT_QUANT + t, rows, cols};
    size_t rb = pd_wmat_row_bytes(&w);
    const size_t Ts[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 70};
    size_t Tmax = 70;
    float *x = malloc(Tmax * cols * sizeof *x), *deq = malloc((size_t)rows * cols * sizeof *deq);
    float *bias = malloc((size_t)rows * sizeof *bias), *scratch = malloc((size_t)PD_ROW_BLOCK * cols * sizeof *scratch);
    float *y = malloc(Tmax * rows * sizeof *y), *ref = malloc(Tmax * rows * sizeof *ref), *port = malloc(Tmax * rows * sizeof *port);
    float *mag = malloc(Tmax * rows * sizeof *mag);
    float **yr = malloc(Tmax * sizeof *yr);
    for (size_t i = 0; i < Tmax * cols; i++) x[i] = rndf();
    for (int r = 0; r < rows; r++) bias[r] = rndf();
    for (int r = 0; r < rows; r++) pd_dequant_row_ref(t, (const uint8_t *)data + r * rb, deq + (size_t)r * cols, cols);
    for (size_t i = 0; i < Tmax; i++)
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int k = 0; k < cols; k++) s += fabs((double)deq[(size_t)r * cols + k] * x[i * cols + k]);
            mag[i * rows + r] = (float)s + fabsf(bias[r]);
        }
    long checked = 0;
    for (int si = 0; si < n_sets; si++) {
        const pd_kernel_ops *ops = sets[si];
        /* the set's own dot on the dequantized rows */
        for (size_t i = 0; i < Tmax; i++)
            for (int r = 0; r < rows; r++) ref[i * rows + r] = ops->dot(deq + (size_t)r * cols, x + i * cols, cols) + bias[r];
        if (si == 0) memcpy(port, ref, Tmax * rows * sizeof *ref);
        /* the fused set's own dequantizer (wide batches) gives the reference's floats */
        const pd_qkernels *qk = pd_qkernels_for(ops);
        if (qk && pd_quant_fused(t) && rows >= 4) {
            const void *r4[4] = {data, (const uint8_t *)data + rb, (const uint8_t *)data + 2 * rb, (const uint8_t *)data + 3 * rb};
            float *d4 = malloc(4 * (size_t)cols * sizeof *d4);
            CHECK(qk->dequant(t, r4, d4, (size_t)cols, cols) == 0);
            CHECK_MSG(!memcmp(d4, deq, 4 * (size_t)cols * sizeof *d4), "%s %s: dequant differs from the reference", what, ops->name);
            free(d4);
        }
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            size_t T = Ts[ti];
            int bad = 0;
            /* all rows in one task, then split at an odd row into two tasks writing y_rows */
            pd_quant_rows(ops, &w, x, T, bias, y, NULL, 0, rows, scratch);
            for (size_t i = 0; i < T * rows; i++) bad += y[i] != ref[i];
            memset(y, 0, T * rows * sizeof *y);
            for (size_t i = 0; i < T; i++) yr[i] = y + i * rows;
            int split = rows > 5 ? 5 : rows;
            pd_quant_rows(ops, &w, x, T, bias, NULL, yr, 0, split, scratch);
            pd_quant_rows(ops, &w, x, T, bias, NULL, yr, split, rows, scratch);
            for (size_t i = 0; i < T * rows; i++) bad += y[i] != ref[i];
            CHECK_MSG(!bad, "%s %s T=%zu: %d outputs differ from the set's dot on the dequantized rows", what, ops->name, T, bad);
            checked += (long)(T * rows);
        }
        /* this set against the portable reference */
        double worst = 0;
        for (size_t i = 0; i < Tmax * rows; i++) {
            double d = fabs((double)ref[i] - port[i]) / (mag[i] + 1e-30);
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst < 1e-5, "%s %s vs portable: %.3g", what, ops->name, worst);
    }
    free(x), free(deq), free(bias), free(scratch), free(y), free(ref), free(port), free(mag), free(yr);
    return checked;
}

static void t_random_blocks(void) {
    const int types[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q4_K, PD_GGML_Q5_K, PD_GGML_Q6_K,
                         PD_GGML_Q4_1, PD_GGML_Q5_0, PD_GGML_Q5_1};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        int t = types[i], rows = 37, cols = 512;
        uint8_t *w = rnd_matrix(t, rows, cols);
        char what[64];
        snprintf(what, sizeof what, "random type %d", t);
        CHECK(check_matrix(what, t, w, rows, cols) > 0);
        free(w);
    }
}

/* The fixtures' real quantized matrices (the first 40 rows of each). */
static void t_fixture_tensors(void) {
    const char *files[] = {DIR "/llama-kquant.gguf", DIR "/llama-q4_0.gguf", DIR "/qwen2-kquant.gguf", DIR "/llama-q8_0.gguf",
                           DIR "/qwen2-q5_0.gguf"};
    int seen[PD_GGML_TYPE_LIMIT] = {0};
    for (int f = 0; f < 5; f++) {
        pd_gguf g;
        pd_error err = {0};
        CHECK_MSG(pd_gguf_open(files[f], &g, &err) == 0, "%s", err.msg);
        if (err.code) continue;
        for (size_t i = 0; i < g.n_tensors; i++) {
            const pd_gguf_tensor *t = &g.tensors[i];
            if (!pd_quant_supported(t->type) || t->n_dims != 2) continue;
            int cols = (int)t->ne[0], rows = (int)t->ne[1] < 40 ? (int)t->ne[1] : 40;
            char what[256];
            snprintf(what, sizeof what, "%s %s", files[f], t->name);
            check_matrix(what, t->type, t->data, rows, cols);
            seen[t->type] = 1;
        }
        pd_gguf_close(&g);
    }
    CHECK(seen[PD_GGML_Q8_0] && seen[PD_GGML_Q4_0] && seen[PD_GGML_Q5_0] && seen[PD_GGML_Q4_K] && seen[PD_GGML_Q6_K]);
}

int main(void) {
    sets[n_sets++] = pd_kernels_portable();
    if (pd_kernels_avx2()) sets[n_sets++] = pd_kernels_avx2();
    if (pd_kernels_avx512()) sets[n_sets++] = pd_kernels_avx512();
    printf("kernel sets: %d (fused: avx2 %s, avx512 %s)\n", n_sets, pd_qkernels_avx2() ? "yes" : "no",
           pd_qkernels_avx512() ? "yes" : "no");
    RUN(t_random_blocks);
    RUN(t_fixture_tensors);
    return test_done();
}
