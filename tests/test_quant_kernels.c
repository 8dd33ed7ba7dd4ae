/* test_quant_kernels.c — the quantized matmul (src/engine/quant*.c) on every kernel set the
 * CPU runs, against the portable reference.
 *
 * For each type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: all fused), on random
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
        case PD_GGML_Q2_K: put_half(b + 80, rnd_half()), put_half(b + 82, rnd_half()); break;
        case PD_GGML_Q3_K: put_half(b + 108, rnd_half()); break;
        default: put_half(b, rnd_half()); break;
        }
    }
    return w;
}

static const pd_kernel_ops *sets[4];
static int n_sets;

/* One matrix through every set and batch width; returns the number of outputs checked. */
static long check_matrix(const char *what, int t, const void *data, int rows, int cols) {
    pd_wmat w = {.data = data, .dtype = PD_DT_QUANT + t, .rows = rows, .cols = cols};
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
                         PD_GGML_Q4_1, PD_GGML_Q5_0, PD_GGML_Q5_1, PD_GGML_Q2_K, PD_GGML_Q3_K};
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
                           DIR "/qwen2-q5_0.gguf",    DIR "/qwen2-q4_1.gguf", DIR "/llama-q5_1.gguf", DIR "/llama-q2_k.gguf"};
    int seen[PD_GGML_TYPE_LIMIT] = {0};
    for (int f = 0; f < 8; f++) {
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
    CHECK(seen[PD_GGML_Q8_0] && seen[PD_GGML_Q4_0] && seen[PD_GGML_Q5_0] && seen[PD_GGML_Q4_K] && seen[PD_GGML_Q6_K] &&
          seen[PD_GGML_Q4_1] && seen[PD_GGML_Q5_1] && seen[PD_GGML_Q2_K] && seen[PD_GGML_Q3_K]);
}


/* ---- 8-bit activations and integer dots ---- */

static const pd_qikernels *isets[3];
static int n_isets;

/* x (rows, n): random values, or (exact) integers in [-31, 31] with one +-127 per block, so
 * that every block's dx is exactly 1. */
static float *rnd_act(int rows, int n, int exact) {
    float *x = malloc((size_t)rows * n * sizeof *x);
    for (int i = 0; i < rows * n; i++) {
        if (!exact) x[i] = rndf() * (rnd() % 4 == 0 ? 4.0f : 1.0f);
        else x[i] = i % 32 == 0 ? (rnd() & 1 ? 127.0f : -127.0f) : (float)((int)(rnd() % 63) - 31);
    }
    return x;
}

/* Every set quantizes to the same bytes; each value within dx / 2 of x; the sums are right. */
static void t_q8_quantize(void) {
    const int ns[] = {32, 96, 288, 896, 4864};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        int n = ns[k];
        float *x = rnd_act(1, n, 0);
        x[5] = 0; /* a block of zeros, a block with ties at .5 */
        if (n >= 64) for (int i = 32; i < 64; i++) x[i] = 0;
        if (n >= 96) for (int i = 64; i < 96; i++) x[i] = (float)(i - 80) * 0.5f;
        size_t nb = pd_q8_row_bytes(n);
        uint8_t *ref = malloc(nb), *got = malloc(nb);
        isets[0]->quantize(x, n, ref);
        const int8_t *q = (const int8_t *)ref;
        int bad = 0;
        for (int b = 0; b < n / 32; b++) {
            float dx = PD_Q8_DX(ref, n)[b];
            int s0 = 0, s1 = 0;
            for (int i = 0; i < 32; i++) {
                int v = q[32 * b + i];
                bad += v < -127 || v > 127 || fabsf(dx * (float)v - x[32 * b + i]) > 0.5001f * dx;
                if (i < 16) s0 += v; else s1 += v;
            }
            bad += PD_Q8_S16(ref, n)[2 * b] != s0 || PD_Q8_S16(ref, n)[2 * b + 1] != s1;
            bad += PD_Q8_DXS(ref, n)[b] != dx * (float)(s0 + s1);
            for (int l = 0; l < 8; l++)
                bad += PD_Q8_C8(ref, n)[8 * b + l] != -8 * (q[32 * b + 4 * l] + q[32 * b + 4 * l + 1] + q[32 * b + 4 * l + 2] + q[32 * b + 4 * l + 3]) ||
                       PD_Q8_DX8(ref, n)[8 * b + l] != dx;
        }
        CHECK_MSG(!bad, "n=%d: %d quantized values or sums wrong", n, bad);
        if (n >= 96) CHECK(PD_Q8_DX(ref, n)[1] == 0 && q[32] == 0 && q[64] == -127 && q[95] == 119); /* 7.5 * 127 / 8 = 119.06 */
        for (int si = 1; si < n_isets; si++) {
            memset(got, 0xa5, nb);
            isets[si]->quantize(x, n, got);
            CHECK_MSG(!memcmp(ref, got, nb), "n=%d: %s quantizes differently from portable", n, isets[si]->name);
        }
        free(x), free(ref), free(got);
    }
}

/* One matrix of type t (rows, cols), activations x (Tmax, cols), through every integer set and
 * batch width. Checks: the portable reference against a double-precision sum of the
 * dequantized weights times the dequantized activations; every set's outputs against the
 * portable ones within the bound of quant.c (bit for bit when exact: every partial sum an
 * integer below 2^24); every output the same whatever the batch width and task split. */
static void check_int(const char *what, int t, const void *data, int rows, int cols, const float *x, size_t Tmax, int exact) {
    pd_wmat w = {.data = data, .dtype = PD_DT_QUANT + t, .rows = rows, .cols = cols};
    size_t rb = pd_wmat_row_bytes(&w), ldq = pd_q8_row_stride(cols);
    const size_t Ts[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 70};
    uint8_t *xq = malloc(Tmax * ldq);
    float *deq = malloc((size_t)rows * cols * sizeof *deq), *bias = malloc((size_t)rows * sizeof *bias);
    float *port = malloc(Tmax * rows * sizeof *port), *y = malloc(Tmax * rows * sizeof *y), *full = malloc(Tmax * rows * sizeof *full);
    double *mag = malloc(Tmax * rows * sizeof *mag);
    float **yr = malloc(Tmax * sizeof *yr);
    for (int r = 0; r < rows; r++) bias[r] = exact ? 0.0f : rndf();
    for (int r = 0; r < rows; r++) pd_dequant_row_ref(t, (const uint8_t *)data + r * rb, deq + (size_t)r * cols, cols);
    for (size_t i = 0; i < Tmax; i++) isets[0]->quantize(x + i * cols, cols, xq + i * ldq);
    /* the reference against double precision */
    pd_quant_rows_q8(isets[0], &w, xq, ldq, Tmax, bias, port, NULL, 0, rows, NULL);
    double worst = 0;
    int n_exact = 0;
    for (size_t i = 0; i < Tmax; i++)
        for (int r = 0; r < rows; r++) {
            const int8_t *q = (const int8_t *)(xq + i * ldq);
            double s = 0, m = 0;
            for (int k = 0; k < cols; k++) {
                double v = (double)deq[(size_t)r * cols + k] * (double)PD_Q8_DX(xq + i * ldq, cols)[k / 32] * q[k];
                s += v, m += fabs(v);
            }
            mag[i * rows + r] = m + fabs(bias[r]);
            double d = fabs(s + bias[r] - port[i * rows + r]) / (mag[i * rows + r] + 1e-30);
            if (d > worst) worst = d;
            n_exact += m < 16777216.0;
        }
    CHECK_MSG(worst < 1e-4, "%s: portable integer dot vs double: %.3g", what, worst);
    if (exact) CHECK_MSG(n_exact > (int)(Tmax * rows) / 2, "%s: only %d of the exact case's sums below 2^24", what, n_exact);
    for (int si = 0; si < n_isets; si++) {
        const pd_qikernels *ik = isets[si];
        /* the direct kernels, one activation row at a time, are what every width must give */
        pd_quant_rows_q8(ik, &w, xq, ldq, 1, bias, full, NULL, 0, rows, NULL);
        for (size_t i = 1; i < Tmax; i++) pd_quant_rows_q8(ik, &w, xq + i * ldq, ldq, 1, bias, full + i * rows, NULL, 0, rows, NULL);
        size_t sb = pd_quant_q8_scratch(ik, cols);
        void *scratch = sb ? malloc(sb) : NULL;
        double dw = 0;
        int nbad = 0;
        /* the 16-row panel kernels (AVX-512 VNNI: every integer type) do q8_dot_ref's operations */
        const int panels = ik->panel_type && ik->panel_type(t);
        for (size_t i = 0; i < Tmax * rows; i++) {
            double d = fabs((double)full[i] - port[i]);
            if ((exact && mag[i] < 16777216.0) || panels) nbad += full[i] != port[i];
            if (d / (mag[i] + 1e-30) > dw) dw = d / (mag[i] + 1e-30);
        }
        /* (n / 32 + 16) * 2^-24 of sum |terms| (quant.c); mag bounds sum |terms| up to the
         * weights' own rounding */
        double bound = (cols / 32 + 16) * 0x1p-24 * 1.01;
        CHECK_MSG(dw <= bound, "%s %s vs portable: %.3g (bound %.3g)", what, ik->name, dw, bound);
        CHECK_MSG(!nbad, "%s %s: %d exact sums differ from portable", what, ik->name, nbad);
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            size_t T = Ts[ti];
            if (T > Tmax) break;
            int bad = 0;
            pd_quant_rows_q8(ik, &w, xq, ldq, T, bias, y, NULL, 0, rows, scratch); /* packed from PACK_MIN rows */
            for (size_t i = 0; i < T * rows; i++) bad += y[i] != full[i];
            memset(y, 0, T * rows * sizeof *y);
            for (size_t i = 0; i < T; i++) yr[i] = y + i * rows;
            int split = rows > 5 ? 5 : rows;
            pd_quant_rows_q8(ik, &w, xq, ldq, T, bias, NULL, yr, 0, split, scratch);
            pd_quant_rows_q8(ik, &w, xq, ldq, T, bias, NULL, yr, split, rows, NULL);
            for (size_t i = 0; i < T * rows; i++) bad += y[i] != full[i];
            CHECK_MSG(!bad, "%s %s T=%zu: %d outputs depend on the batch width, the split or the packing", what, ik->name, T, bad);
        }
        free(scratch);
    }
    free(xq), free(deq), free(bias), free(port), free(y), free(full), free(mag), free(yr);
}

/* Scales of 1.0 (and small Q6_K scales; Q4_1 / Q5_1 mins of -8 / -16, the Q4_0 / Q5_0 grids) for
 * the exact case. */
static void exact_scales(int t, uint8_t *w, size_t nb) {
    size_t bb = pd_ggml_block_bytes(t);
    for (size_t i = 0; i < nb; i++) {
        uint8_t *b = w + i * bb;
        if (t == PD_GGML_Q6_K) {
            put_half(b + 208, 0x3c00);
            for (int s = 0; s < 16; s++) b[192 + s] = (uint8_t)(int8_t)((int)(rnd() % 17) - 8);
        } else if (t == PD_GGML_Q2_K) {
            put_half(b + 80, 0x3c00), put_half(b + 82, 0x3c00);
        } else if (t == PD_GGML_Q3_K) {
            put_half(b + 108, 0x3c00);
        } else {
            put_half(b, 0x3c00);
            if (t == PD_GGML_Q4_K || t == PD_GGML_Q5_K) put_half(b + 2, 0x3c00);
            if (t == PD_GGML_Q4_1 || t == PD_GGML_Q5_1) put_half(b + 2, t == PD_GGML_Q4_1 ? 0xc800 : 0xcc00);
        }
    }
}

static void t_int_random(void) {
    const int types[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q5_0, PD_GGML_Q4_K, PD_GGML_Q5_K, PD_GGML_Q6_K, PD_GGML_Q4_1, PD_GGML_Q5_1,
                         PD_GGML_Q2_K, PD_GGML_Q3_K};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        int t = types[i], k = pd_ggml_block_elems(t) == 256;
        /* odd block counts (the AVX-512 kernels' lone last block), odd row counts */
        const int colss[2] = {k ? 512 : 416, k ? 768 : 96};
        for (int c = 0; c < 2; c++)
            for (int exact = 0; exact < 2; exact++) {
                int rows = c ? 6 : 37, cols = colss[c];
                uint8_t *w = rnd_matrix(t, rows, cols);
                if (exact) exact_scales(t, w, (size_t)rows * cols / pd_ggml_block_elems(t));
                float *x = rnd_act(70, cols, exact);
                char what[64];
                snprintf(what, sizeof what, "type %d %dx%d%s", t, rows, cols, exact ? " exact" : "");
                check_int(what, t, w, rows, cols, x, 70, exact);
                free(w), free(x);
            }
    }
}

/* The fixtures' real matrices (the first 40 rows of each) with random activations. */
static void t_int_fixtures(void) {
    const char *files[] = {DIR "/llama-kquant.gguf", DIR "/llama-q4_0.gguf", DIR "/qwen2-kquant.gguf", DIR "/llama-q8_0.gguf",
                           DIR "/qwen2-q5_0.gguf",    DIR "/qwen2-q4_1.gguf", DIR "/llama-q5_1.gguf", DIR "/llama-q2_k.gguf"};
    int seen[PD_GGML_TYPE_LIMIT] = {0};
    for (int f = 0; f < 8; f++) {
        pd_gguf g;
        pd_error err = {0};
        CHECK_MSG(pd_gguf_open(files[f], &g, &err) == 0, "%s", err.msg);
        if (err.code) continue;
        for (size_t i = 0; i < g.n_tensors; i++) {
            const pd_gguf_tensor *t = &g.tensors[i];
            if (!pd_quant_int(t->type) || t->n_dims != 2) continue;
            int cols = (int)t->ne[0], rows = (int)t->ne[1] < 40 ? (int)t->ne[1] : 40;
            float *x = rnd_act(16, cols, 0);
            char what[256];
            snprintf(what, sizeof what, "%s %s", files[f], t->name);
            check_int(what, t->type, t->data, rows, cols, x, 16, 0);
            seen[t->type] = 1;
            free(x);
        }
        pd_gguf_close(&g);
    }
    CHECK(seen[PD_GGML_Q8_0] && seen[PD_GGML_Q4_0] && seen[PD_GGML_Q5_0] && seen[PD_GGML_Q4_K] && seen[PD_GGML_Q5_K] &&
          seen[PD_GGML_Q6_K] && seen[PD_GGML_Q4_1] && seen[PD_GGML_Q5_1] && seen[PD_GGML_Q2_K] && seen[PD_GGML_Q3_K]);
}

/* ---- the driver: pd_quant_matmul and pd_quant_matmul_n over a pool ---- */

/* A model with just what the driver reads: kernel set, activation mode, pool, scratch. */
static pd_model *driver_model(const pd_kernel_ops *ops, int quant_act, int n_threads, int cols) {
    pd_model *m = calloc(1, sizeof *m);
    pd_error err = {0};
    m->ops = ops, m->quant_act = quant_act, m->n_threads = n_threads;
    m->pool = pd_pool_new(n_threads, &err);
    m->scratch_per_thread = (size_t)PD_ROW_BLOCK * cols;
    if (PD_PANEL_SCRATCH(cols) > m->scratch_per_thread) m->scratch_per_thread = PD_PANEL_SCRATCH(cols);
    m->scratch = malloc((size_t)n_threads * m->scratch_per_thread * sizeof *m->scratch);
    return m;
}
static void driver_model_free(pd_model *m) {
    pd_pool_free(m->pool);
    free(m->scratch), free(m);
}

/* Three matrices on one input (q/k/v-like: mixed types and sizes, one without a bias) through
 * one pd_quant_matmul_n run give, bit for bit, what three pd_quant_matmul calls give, and
 * both what one task over all the rows gives (pd_quant_rows_q8 / pd_quant_rows on a single
 * thread): the shared quantized input, the run's task split and the threads change no bit.
 * Every kernel set, both activation modes, 1 and 3 threads, decode to prefill widths. */
static void t_matmul_n(void) {
    const int cols = 256, types[3] = {PD_GGML_Q8_0, PD_GGML_Q4_K, PD_GGML_Q4_1}, rowss[3] = {200, 40, 72};
    const size_t Ts[] = {1, 3, 9, 40};
    pd_wmat w[3];
    float *bias[3] = {NULL, NULL, NULL}, *y[3], *y1[3], *ref[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (pd_wmat){.data = rnd_matrix(types[i], rowss[i], cols), .dtype = PD_DT_QUANT + types[i], .rows = rowss[i], .cols = cols};
        if (i != 1) {
            bias[i] = malloc((size_t)rowss[i] * sizeof(float));
            for (int r = 0; r < rowss[i]; r++) bias[i][r] = rndf();
        }
        y[i] = malloc(40 * (size_t)rowss[i] * sizeof(float));
        y1[i] = malloc(40 * (size_t)rowss[i] * sizeof(float));
        ref[i] = malloc(40 * (size_t)rowss[i] * sizeof(float));
    }
    float *x = rnd_act(40, cols, 0);
    const pd_wmat *wp[3] = {&w[0], &w[1], &w[2]};
    const float *bp[3] = {bias[0], bias[1], bias[2]};
    long checked = 0;
    for (int si = 0; si < n_sets; si++)
        for (int qa = 0; qa < 2; qa++)
            for (int nt = 1; nt <= 3; nt += 2) {
                pd_model *m = driver_model(sets[si], qa, nt, cols);
                for (size_t k = 0; k < sizeof Ts / sizeof *Ts; k++) {
                    size_t T = Ts[k];
                    const pd_qikernels *ik = pd_qikernels_for(sets[si]);
                    size_t ldq = pd_q8_row_stride(cols);
                    uint8_t *xq = malloc(T * ldq);
                    for (size_t t = 0; t < T; t++) ik->quantize(x + t * cols, cols, xq + t * ldq);
                    for (int i = 0; i < 3; i++) {
                        if (qa && pd_quant_int(types[i])) pd_quant_rows_q8(ik, &w[i], xq, ldq, T, bias[i], ref[i], NULL, 0, rowss[i], m->scratch);
                        else pd_quant_rows(sets[si], &w[i], x, T, bias[i], ref[i], NULL, 0, rowss[i], m->scratch);
                        pd_quant_matmul(m, x, T, &w[i], bias[i], y1[i], NULL);
                        memset(y[i], 0xff, T * rowss[i] * sizeof(float));
                    }
                    pd_quant_matmul_n(m, x, T, 3, wp, bp, y);
                    for (int i = 0; i < 3; i++) {
                        size_t nb = T * rowss[i] * sizeof(float);
                        CHECK_MSG(!memcmp(y[i], y1[i], nb), "set %s act %s threads %d T %zu matrix %d: matmul_n != matmul",
                                  sets[si]->name, qa ? "q8" : "f32", nt, T, i);
                        CHECK_MSG(!memcmp(y1[i], ref[i], nb), "set %s act %s threads %d T %zu matrix %d: matmul != one task",
                                  sets[si]->name, qa ? "q8" : "f32", nt, T, i);
                        checked += (long)(T * rowss[i]);
                    }
                    free(xq);
                }
                driver_model_free(m);
            }
    printf("  %ld outputs of matmul_n checked\n", checked);
    for (int i = 0; i < 3; i++) free((void *)w[i].data), free(bias[i]), free(y[i]), free(y1[i]), free(ref[i]);
    free(x);
}

/* Quantized weights under the AVX512-BF16 set run the AVX-512 set's kernels (its bf16 products
 * are for bf16 weights only); t_random_blocks and t_fixture_tensors then check it bit for bit. */
static void t_avx512bf16_quant_kernels(void) {
    if (!pd_kernels_avx512bf16()) SKIP("this CPU has no AVX512_BF16");
    CHECK(pd_qkernels_for(pd_kernels_avx512bf16()) == pd_qkernels_for(pd_kernels_avx512()));
    CHECK(pd_qikernels_for(pd_kernels_avx512bf16()) == pd_qikernels_for(pd_kernels_avx512()));
}

int main(void) {
    sets[n_sets++] = pd_kernels_portable();
    if (pd_kernels_avx2()) sets[n_sets++] = pd_kernels_avx2();
    if (pd_kernels_avx512()) sets[n_sets++] = pd_kernels_avx512();
    if (pd_kernels_avx512bf16()) sets[n_sets++] = pd_kernels_avx512bf16();
    printf("kernel sets: %d (fused: avx2 %s, avx512 %s)\n", n_sets, pd_qkernels_avx2() ? "yes" : "no",
           pd_qkernels_avx512() ? "yes" : "no");
    isets[n_isets++] = pd_qikernels_portable();
    if (pd_qikernels_avx2()) isets[n_isets++] = pd_qikernels_avx2();
    if (pd_qikernels_avx512()) isets[n_isets++] = pd_qikernels_avx512();
    printf("integer sets: %d (avx2 %s, avx512 vnni %s)\n", n_isets, pd_qikernels_avx2() ? "yes" : "no", pd_qikernels_avx512() ? "yes" : "no");
    RUN(t_avx512bf16_quant_kernels);
    RUN(t_random_blocks);
    RUN(t_fixture_tensors);
    RUN(t_q8_quantize);
    RUN(t_int_random);
    RUN(t_int_fixtures);
    RUN(t_matmul_n);
    return test_done();
}
