/* test_qpanels.c — quantized weights stored as the integer kernels' panels at load
 * (quant.h: store, stored_dot; model.c; quant_avx512.c "stored panels").
 *
 * For every integer-kernel set with a stored form (AVX-512 VNNI: every integer type; AVX2:
 * Q8_0, Q4_0, Q5_0):
 *   - t_stored_matrices: for every type with a stored form, matrices quantized from random
 *     rows (row counts that leave a partial panel, odd and even numbers of 32-value chunks,
 *     one to three K-quant super-blocks) give, bit for bit, the outputs of the same kernels
 *     reading the rows at every batch width and row split, and those of the portable
 *     reference (AVX-512 VNNI: bit for bit; AVX2, whose row kernels sum 8 lanes: within
 *     quant.c's bound);
 *   - t_model_stored: the GGUF fixtures load with their integer-kernel matrices stored (the
 *     path is taken), and their logits are bit for bit those of PONDER_PANELS=0 (the rows).
 * Skipped on a CPU with neither set. */
#include <math.h>

#include "engine/quant.h"
#include "model/gguf.h"
#include "ponder.h"
#include "test.h"

static uint64_t seed = 0x2545f4914f6cdd1dull;
static float uniform(void) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    return (float)((seed >> 11) * 0x1p-53) * 2.0f - 1.0f;
}

/* The sets with a stored form (at most 2), and the kernel choice that loads a model with each. */
static int stored_sets(const pd_qikernels **sets, int *kernels) {
    int n = 0;
    const pd_qikernels *c[2] = {pd_qikernels_avx512(), pd_qikernels_avx2()};
    const int k[2] = {PD_KERNELS_AVX512, PD_KERNELS_AVX2};
    for (int i = 0; i < 2; i++)
        if (c[i] && c[i]->store && c[i]->stored_dot) sets[n] = c[i], kernels[n++] = k[i];
    return n;
}

/* rows x cols quantized from random values whose scale varies by row and block. */
static uint8_t *quantized(int t, int rows, int cols, size_t *row_bytes) {
    float *x = malloc((size_t)cols * sizeof *x);
    size_t bb = pd_ggml_block_bytes(t), be = pd_ggml_block_elems(t);
    *row_bytes = (size_t)cols / be * bb;
    uint8_t *w = malloc((size_t)rows * *row_bytes);
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < cols; k++) x[k] = uniform() * (1.0f + (float)((r * 7 + k / 32) % 5)) * (k % 97 == 0 ? 8.0f : 1.0f);
        pd_quantize_row(t, x, w + (size_t)r * *row_bytes, cols);
    }
    free(x);
    return w;
}

static void check_type(const pd_qikernels *ik, int t, int rows, int cols) {
    size_t rb;
    uint8_t *data = quantized(t, rows, cols, &rb);
    pd_wmat w = {.data = data, .dtype = PD_DT_QUANT + t, .rows = rows, .cols = cols};
    size_t sb = ik->store_bytes(t, cols), np = (size_t)(rows + 15) / 16;
    CHECK_MSG(sb > 0, "type %d has no stored form", t);
    uint8_t *sp = calloc(np, sb);
    for (size_t p = 0; p < np; p++) {
        const void *r16[16];
        for (int i = 0; i < 16; i++) {
            int r = (int)p * 16 + i < rows ? (int)p * 16 + i : rows - 1;
            r16[i] = data + (size_t)r * rb;
        }
        ik->store(t, r16, sp + p * sb, cols);
    }
    pd_wmat ws = w;
    ws.qpanels = sp;
    enum { TMAX = 19 };
    size_t ldq = pd_q8_row_stride(cols);
    uint8_t *xq = malloc(TMAX * ldq);
    float *x = malloc((size_t)TMAX * cols * sizeof *x), *bias = malloc((size_t)rows * sizeof *bias);
    for (int i = 0; i < TMAX * cols; i++) x[i] = uniform() * (i % 13 == 0 ? 3.0f : 1.0f);
    for (int r = 0; r < rows; r++) bias[r] = uniform();
    for (int i = 0; i < TMAX; i++) ik->quantize(x + (size_t)i * cols, cols, xq + (size_t)i * ldq);
    float *ref = malloc((size_t)TMAX * rows * sizeof *ref), *rows_out = malloc((size_t)TMAX * rows * sizeof *rows_out);
    float *y = malloc((size_t)TMAX * rows * sizeof *y), **yr = malloc(TMAX * sizeof *yr);
    void *scratch = malloc(pd_quant_q8_scratch(ik, cols));
    pd_quant_rows_q8(pd_qikernels_portable(), &w, xq, ldq, TMAX, bias, ref, NULL, 0, rows, NULL);
    /* the AVX-512 VNNI kernels do the reference's operations; others are held to quant.c's
     * bound against it, (n / 32 + 16) * 2^-24 of sum |terms| */
    const int exact = ik == pd_qikernels_avx512();
    double *mag = malloc((size_t)TMAX * rows * sizeof *mag);
    float *deq = malloc((size_t)cols * sizeof *deq);
    for (int r = 0; r < rows; r++) {
        pd_dequant_row_ref(t, data + (size_t)r * rb, deq, cols);
        for (int i = 0; i < TMAX; i++) {
            const int8_t *q = (const int8_t *)(xq + (size_t)i * ldq);
            double m = fabs(bias[r]);
            for (int k = 0; k < cols; k++) m += fabs((double)deq[k] * PD_Q8_DX(xq + (size_t)i * ldq, cols)[k / 32] * q[k]);
            mag[(size_t)i * rows + r] = m;
        }
    }
    const double bound = (cols / 32 + 16) * 0x1p-24 * 1.01;
    const size_t Ts[] = {1, 2, 3, 7, 8, 9, 16, TMAX};
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
        size_t T = Ts[ti];
        pd_quant_rows_q8(ik, &w, xq, ldq, T, bias, rows_out, NULL, 0, rows, scratch);
        pd_quant_rows_q8(ik, &ws, xq, ldq, T, bias, y, NULL, 0, rows, scratch);
        int bad_rows = 0, bad_ref = 0;
        for (size_t i = 0; i < T * (size_t)rows; i++)
            bad_rows += y[i] != rows_out[i],
                bad_ref += exact ? y[i] != ref[i] : !(fabs((double)y[i] - ref[i]) <= bound * mag[i]);
        /* a split at a panel boundary, the second task without scratch (as a small task) */
        memset(y, 0, T * rows * sizeof *y);
        for (size_t i = 0; i < T; i++) yr[i] = y + i * rows;
        int split = rows > 16 ? 16 : rows;
        pd_quant_rows_q8(ik, &ws, xq, ldq, T, bias, NULL, yr, 0, split, scratch);
        pd_quant_rows_q8(ik, &ws, xq, ldq, T, bias, NULL, yr, split, rows, NULL);
        for (size_t i = 0; i < T * (size_t)rows; i++) bad_rows += y[i] != rows_out[i];
        CHECK_MSG(!bad_rows && !bad_ref, "%s type %d, %d x %d, T=%zu: %d outputs differ from the row kernels, %d from the reference",
                  ik->name, t, rows, cols, T, bad_rows, bad_ref);
    }
    free(mag), free(deq);
    free(data), free(sp), free(xq), free(x), free(bias), free(ref), free(rows_out), free(y), free(yr), free(scratch);
}

static void t_stored_matrices(void) {
    const pd_qikernels *sets[2];
    int kernels[2], ns = stored_sets(sets, kernels);
    if (!ns) SKIP("this CPU has no kernel set that stores panels");
    for (int si = 0; si < ns; si++) {
        const pd_qikernels *ik = sets[si];
        int n_types = 0;
        const int small[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q5_0, PD_GGML_Q4_1, PD_GGML_Q5_1};
        for (int i = 0; i < 5; i++) {
            if (!ik->store_bytes(small[i], 32)) continue;
            n_types++;
            check_type(ik, small[i], 16, 64);  /* one pair of chunks */
            check_type(ik, small[i], 37, 96);  /* a lone last chunk; a partial panel */
            check_type(ik, small[i], 5, 32);   /* one chunk, one partial panel */
            check_type(ik, small[i], 48, 896); /* Qwen2.5-0.5B's width */
        }
        const int kq[] = {PD_GGML_Q4_K, PD_GGML_Q5_K, PD_GGML_Q6_K};
        for (int i = 0; i < 3; i++) {
            if (!ik->store_bytes(kq[i], 256)) continue;
            n_types++;
            check_type(ik, kq[i], 16, 256);
            check_type(ik, kq[i], 21, 512);
            check_type(ik, kq[i], 33, 768);
        }
        /* the types each set must store (Q8_0, Q4_0, Q5_0 at least) */
        CHECK_MSG(n_types >= 3 && ik->store_bytes(PD_GGML_Q8_0, 32) && ik->store_bytes(PD_GGML_Q4_0, 32) && ik->store_bytes(PD_GGML_Q5_0, 32),
                  "%s stores %d types", ik->name, n_types);
        printf("  %s: %d stored types checked\n", ik->name, n_types);
    }
}

/* Last-position logits of a fixed prompt. */
static float *logits(const char *path, int kernels, int *V, int *stored, pd_error *err) {
    pd_model_opts mo = {.kernels = kernels, .n_threads = 2};
    pd_model *m = pd_model_load(path, &mo, err);
    if (!m) return NULL;
    *V = pd_model_get_config(m)->vocab_size;
    *stored = m->qpanels != NULL;
    const int32_t ids[] = {1, 5, 9, 2, 7, 3, 11, 4, 6, 8, 10, 12};
    float *out = malloc((size_t)*V * sizeof *out);
    pd_kv *kv = pd_kv_new(m, err);
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = 12, .logits = PD_LOGITS_LAST, .out = out};
    if (!kv || pd_model_forward(m, &s, 1, err)) free(out), out = NULL;
    /* and one decode step on top: the batch-1 path */
    const int32_t next = 13;
    pd_seq_step d = {.kv = kv, .tokens = &next, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = out};
    if (out && pd_model_forward(m, &d, 1, err)) free(out), out = NULL;
    pd_kv_free(kv);
    pd_model_free(m);
    return out;
}

static void t_model_stored(void) {
    const pd_qikernels *sets[2];
    int kernels[2], ns = stored_sets(sets, kernels);
    if (!ns) SKIP("this CPU has no kernel set that stores panels");
    const char *files[] = {"tests/fixtures/gguf/llama-q8_0.gguf", "tests/fixtures/gguf/llama-q4_0.gguf",
                           "tests/fixtures/gguf/qwen2-q5_0.gguf", "tests/fixtures/gguf/llama-kquant.gguf",
                           "tests/fixtures/gguf/qwen2-q4_1.gguf", "tests/fixtures/gguf/llama-q5_1.gguf",
                           "tests/fixtures/gguf/qwen2-kquant.gguf"};
    /* each file's main type, and whether a set stores it (the file then must take the path) */
    const int types[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q5_0, PD_GGML_Q4_K, PD_GGML_Q4_1, PD_GGML_Q5_1, PD_GGML_Q4_K};
    for (int si = 0; si < ns; si++)
        for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
            pd_error err = {0};
            int V = 0, Vr = 0, stored = 0, stored_r = 1;
            const int must = sets[si]->store_bytes(types[f], 256) > 0;
            unsetenv("PONDER_PANELS");
            float *a = logits(files[f], kernels[si], &V, &stored, &err);
            CHECK_MSG(a, "%s %s: %s", sets[si]->name, files[f], err.msg);
            setenv("PONDER_PANELS", "0", 1);
            float *b = logits(files[f], kernels[si], &Vr, &stored_r, &err);
            unsetenv("PONDER_PANELS");
            CHECK_MSG(b, "%s %s: %s", sets[si]->name, files[f], err.msg);
            CHECK_MSG((stored || !must) && !stored_r, "%s %s: stored %d (PONDER_PANELS=0: %d)", sets[si]->name, files[f], stored, stored_r);
            if (a && b && V == Vr) {
                int bad = 0;
                for (int i = 0; i < V; i++) bad += memcmp(&a[i], &b[i], sizeof *a) != 0;
                CHECK_MSG(!bad, "%s %s: %d of %d logits differ between stored panels and rows", sets[si]->name, files[f], bad, V);
            }
            free(a), free(b);
        }
}

int main(void) {
    RUN(t_stored_matrices);
    RUN(t_model_stored);
    return test_done();
}
