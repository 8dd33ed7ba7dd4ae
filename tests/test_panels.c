/* test_panels.c — panel-packed weights (kernels.h "panels"): packing keeps every element;
 * every set with panel kernels the CPU runs (AVX2, AVX-512) gives in mm_panels, for every
 * output, exactly the C reference chain (fmaf over k in increasing order, then + bias), so
 * the same bits in both sets, whatever the batch size, the panel range a thread takes or the
 * path inside (decode, narrow, wide), and panel_dot the same bits; and the result agrees
 * with the portable set's row-major matmul to rounding. The AVX512-BF16 set's panels on
 * BF16 weights: the same, against a scalar model of its vdpbf16ps chain (its other dtypes:
 * the AVX-512 set's panels). Also: axpy_rows (attention's weighted sum over several heads)
 * is axpy repeated, bit for bit. */
#include <math.h>

#include "engine/kernels.h"
#include "model/safetensors.h"
#include "ponder.h"
#include "test.h"

/* Sets with panel kernels this CPU runs. */
static int panel_sets(const pd_kernel_ops **sets) {
    int n = 0;
    const pd_kernel_ops *all[] = {pd_kernels_avx2(), pd_kernels_avx512()};
    for (int i = 0; i < 2; i++)
        if (all[i] && all[i]->mm_panels) sets[n++] = all[i];
    return n;
}

static float rnd(pd_rng *r) { return (float)((double)(pd_rng_u64(r) >> 11) * 0x1p-53 - 0.5); }

/* A (rows, cols) matrix stored as dtype with random values, as bytes. */
static void *rand_mat(pd_rng *r, int dtype, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    uint8_t *w = malloc(n * pd_dtype_size(dtype));
    for (size_t i = 0; i < n; i++) {
        float f = rnd(r);
        uint32_t u;
        memcpy(&u, &f, 4);
        if (dtype == PD_DT_F32) memcpy(w + 4 * i, &f, 4);
        else if (dtype == PD_DT_BF16) {
            uint16_t h = (uint16_t)(u >> 16);
            memcpy(w + 2 * i, &h, 2);
        } else {
            uint16_t h = (uint16_t)(0x3000 + (pd_rng_u64(r) % 0x1000)) | (uint16_t)(u & 0x80000000u ? 0x8000 : 0);
            memcpy(w + 2 * i, &h, 2);
        }
    }
    return w;
}

static void t_pack(void) {
    pd_rng r;
    pd_rng_seed(&r, 7);
    int dts[] = {PD_DT_F32, PD_DT_BF16, PD_DT_F16};
    for (int d = 0; d < 3; d++) {
        int rows = 37, cols = 21;
        void *w = rand_mat(&r, dts[d], rows, cols);
        void *p = malloc(pd_panel_elems(rows, cols) * pd_dtype_size(dts[d]));
        pd_panel_pack(w, dts[d], rows, cols, 0, (rows + 15) / 16, p);
        float a[21], b[21];
        const pd_kernel_ops *c = pd_kernels_portable();
        for (int i = 0; i < rows; i++) {
            pd_panel_row_f32(p, dts[d], cols, i, a);
            c->to_f32((const uint8_t *)w + (size_t)i * cols * pd_dtype_size(dts[d]), dts[d], b, cols);
            CHECK(!memcmp(a, b, sizeof a));
        }
        free(w), free(p);
    }
}

/* Every output of mm_panels against the reference chain, bit for bit, for batch sizes that
 * take every path, one panel range or several; then against the portable set's matmul. */
static void t_matmul(void) {
    const pd_kernel_ops *sets[2];
    int n_sets = panel_sets(sets);
    /* both SIMD sets have panel kernels (so a CPU with either runs this test) */
    if (pd_kernels_avx2()) CHECK(pd_kernels_avx2()->mm_panels && pd_kernels_avx2()->panel_dot);
    if (pd_kernels_avx512()) CHECK(pd_kernels_avx512()->mm_panels && pd_kernels_avx512()->panel_dot);
    if (!n_sets) SKIP("no set with panel kernels on this CPU");
    pd_rng r;
    pd_rng_seed(&r, 11);
    int dts[] = {PD_DT_F32, PD_DT_BF16, PD_DT_F16};
    /* cols below, at and past a multiple of 128 (odd ones too), and below the 4 k of a
     * prefetching loop step (AVX2); rows: a partial last panel, the last group of 1 to 4
     * panels */
    int shapes[][2] = {{45, 100}, {64, 300}, {130, 37}, {16, 16}, {30, 128}, {70, 129}, {64, 896}, {17, 257},
                       {33, 3}, {20, 1}};
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    /* every last block of 1 to 6 rows (AVX2 and AVX-512 6-row tiles), on both sides of the
     * sets' wide-batch thresholds */
    size_t Ts[] = {1, 2, 3, 5, 6, 7, 8, 16, 23, 24, 37, 61};
    enum { N_TS = sizeof Ts / sizeof Ts[0] };
    for (int si = 0; si < n_sets; si++)
        for (int d = 0; d < 3; d++)
            for (int s = 0; s < N_SHAPES; s++) {
                int rows = shapes[s][0], cols = shapes[s][1], np = (rows + 15) / 16, dt = dts[d];
                void *w = rand_mat(&r, dt, rows, cols);
                void *p = malloc(pd_panel_elems(rows, cols) * pd_dtype_size(dt));
                pd_panel_pack(w, dt, rows, cols, 0, np, p);
                float *x = malloc(61 * (size_t)cols * sizeof *x), *bias = malloc((size_t)rows * sizeof *bias);
                float *y = malloc(61 * (size_t)rows * sizeof *y), *y2 = malloc(61 * (size_t)rows * sizeof *y2);
                /* scratch at any float alignment (the kernels align it themselves) */
                float *scratch0 = malloc((PD_PANEL_SCRATCH(cols) + 3) * sizeof *scratch0), *scratch;
                float *scr = malloc((size_t)PD_ROW_BLOCK * cols * sizeof *scr);
                for (int i = 0; i < 61 * cols; i++) x[i] = rnd(&r);
                for (int i = 0; i < rows; i++) bias[i] = rnd(&r);
                for (int ti = 0; ti < N_TS; ti++) {
                    size_t T = Ts[ti];
                    const float *b = ti & 1 ? bias : NULL;
                    scratch = scratch0 + ti % 4;
                    pd_mm a = {p, dt, rows, cols, x, T, b, y, NULL, NULL};
                    memset(y, 0xff, T * (size_t)rows * sizeof *y);
                    sets[si]->mm_panels(&a, 0, np, scratch);
                    int exact = 1, dot_ok = 1;
                    for (size_t t = 0; t < T; t++)
                        for (int o = 0; o < rows; o++) {
                            float ref = pd_panel_dot_ref(p, dt, cols, o, x + t * cols);
                            float got = sets[si]->panel_dot(p, dt, cols, o, x + t * cols);
                            if (got != ref) dot_ok = 0;
                            if (b) ref += b[o];
                            if (memcmp(&ref, &y[t * rows + o], 4)) exact = 0;
                        }
                    CHECK_MSG(exact, "%s dtype %d %dx%d T=%zu: not the reference chain", sets[si]->name, dt, rows, cols, T);
                    CHECK_MSG(dot_ok, "%s dtype %d %dx%d: panel_dot differs", sets[si]->name, dt, rows, cols);
                    /* one panel per call (as threads split it), rows scattered */
                    float *rp[61];
                    for (size_t t = 0; t < T; t++) rp[t] = y2 + (T - 1 - t) * rows;
                    pd_mm a2 = {p, dt, rows, cols, x, T, b, NULL, rp, NULL};
                    for (int q = 0; q < np; q++) sets[si]->mm_panels(&a2, q, q + 1, scratch);
                    int same = 1;
                    for (size_t t = 0; t < T; t++)
                        if (memcmp(y + t * rows, rp[t], (size_t)rows * sizeof *y)) same = 0;
                    CHECK_MSG(same, "%s %dx%d T=%zu: split by panel differs", sets[si]->name, rows, cols, T);
                    /* uneven ranges (groups of 3, then the rest), into a dirty output */
                    memset(y2, 0x7f, T * (size_t)rows * sizeof *y2);
                    for (int q = 0; q < np; q += 3) sets[si]->mm_panels(&a2, q, q + 3 < np ? q + 3 : np, scratch);
                    same = 1;
                    for (size_t t = 0; t < T; t++)
                        if (memcmp(y + t * rows, rp[t], (size_t)rows * sizeof *y)) same = 0;
                    CHECK_MSG(same, "%s %dx%d T=%zu: split in threes differs", sets[si]->name, rows, cols, T);
                    /* the portable set, row-major weights: to rounding */
                    pd_mm ar = {w, dt, rows, cols, x, T, b, y2, NULL, NULL};
                    pd_matmul_rows(pd_kernels_portable(), &ar, 0, rows, scr);
                    int close = 1;
                    for (size_t t = 0; t < T; t++)
                        for (int o = 0; o < rows; o++) {
                            float u = y[t * rows + o], v = y2[t * rows + o];
                            if (fabsf(u - v) > 1e-5f * (1.0f + fabsf(v)) * sqrtf((float)cols)) close = 0;
                        }
                    CHECK_MSG(close, "%s %dx%d T=%zu: far from portable", sets[si]->name, rows, cols, T);
                }
                free(w), free(p), free(x), free(bias), free(y), free(y2), free(scratch0), free(scr);
            }
}

/* fp32 -> bf16 as the bf16 set rounds activations (vcvtne2ps2bf16): to nearest even,
 * subnormal inputs to zero (the test's values are finite). */
static uint16_t round_bf16_ref(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!(u & 0x7f800000)) return (uint16_t)((u >> 16) & 0x8000);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* A subnormal float to zero of its sign (vdpbf16ps's DAZ on its inputs, FTZ on its results). */
static float flush(float f) { return fabsf(f) < 0x1p-126f ? copysignf(0.0f, f) : f; }

/* One vdpbf16ps lane, as measured on Zen 4 and written in Intel's SDM: the odd element's
 * product added first, then the even one's, each product exact (bf16 x bf16 fits fp32) and
 * each addition rounded to nearest even (fmaf: one rounding), subnormals flushed. Checked
 * against the other orders (even first, one rounding of both products, the pair summed
 * first): each disagrees with the instruction on about 1 in 10 random pairs. */
static float dpbf16_ref(float acc, float w0, float x0, float w1, float x1) {
    acc = flush(fmaf(flush(w1), flush(x1), flush(acc)));
    return flush(fmaf(flush(w0), flush(x0), acc));
}

/* The bf16 set's chain for output `row` of BF16 weights w (rows, cols, row-major): pairs
 * (k, k + 1) in increasing k from zero, an odd K's last k paired with zero. */
static float bf16_chain_ref(const uint16_t *w, int cols, int row, const float *x) {
    float s = 0;
    for (int k = 0; k < cols; k += 2) {
        float w0 = pd_bf16_to_f32(w[(size_t)row * cols + k]), x0 = pd_bf16_to_f32(round_bf16_ref(x[k]));
        float w1 = 0, x1 = 0;
        if (k + 1 < cols) w1 = pd_bf16_to_f32(w[(size_t)row * cols + k + 1]), x1 = pd_bf16_to_f32(round_bf16_ref(x[k + 1]));
        s = dpbf16_ref(s, w0, x0, w1, x1);
    }
    return s;
}

/* The AVX512-BF16 set's panels on BF16 weights: every output of mm_panels is the scalar
 * model of its vdpbf16ps chain (+ bias), bit for bit, and panel_dot the same, whatever T
 * (decode and prefill tiles, several chunks of rounded rows), the panel ranges and K's
 * parity; F32 and F16 weights are the AVX-512 set's panels, bit for bit. */
static void t_bf16_panels(void) {
    const pd_kernel_ops *k = pd_kernels_avx512bf16();
    if (!k) SKIP("no AVX512-BF16 on this CPU");
    CHECK(k->mm_panels != NULL && k->panel_dot != NULL);
    pd_rng r;
    pd_rng_seed(&r, 13);
    /* odd and even K, below and past 32 and a chunk (K = 1: 64 rows per chunk of rounded
     * rows, so T = 151 takes three); rows: a partial last panel, groups of 1 to 8 panels */
    int shapes[][2] = {{45, 100}, {130, 37}, {16, 16}, {70, 129}, {17, 1}, {33, 2}, {64, 896}, {200, 63}};
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    size_t Ts[] = {1, 2, 3, 5, 6, 7, 16, 23, 37, 61, 151};
    enum { N_TS = sizeof Ts / sizeof Ts[0], TMAX = 151 };
    int differs = 0; /* from the fp32 chain: the test can tell them apart */
    for (int s = 0; s < N_SHAPES; s++) {
        int rows = shapes[s][0], cols = shapes[s][1], np = (rows + 15) / 16;
        uint16_t *w = rand_mat(&r, PD_DT_BF16, rows, cols);
        void *p = malloc(pd_panel_elems(rows, cols) * 2);
        pd_panel_pack(w, PD_DT_BF16, rows, cols, 0, np, p);
        float *x = malloc(TMAX * (size_t)cols * sizeof *x), *bias = malloc((size_t)rows * sizeof *bias);
        float *y = malloc(TMAX * (size_t)rows * sizeof *y), *y2 = malloc(TMAX * (size_t)rows * sizeof *y2);
        float *ref = malloc(TMAX * (size_t)rows * sizeof *ref);
        float *scratch0 = malloc((PD_PANEL_SCRATCH(cols) + 3) * sizeof *scratch0);
        /* activations over a wide range of magnitudes, so that each rounding matters */
        for (size_t i = 0; i < TMAX * (size_t)cols; i++) x[i] = rnd(&r) * ldexpf(1.0f, (int)pd_rng_below(&r, 16) - 8);
        for (int i = 0; i < rows; i++) bias[i] = rnd(&r);
        for (size_t t = 0; t < TMAX; t++)
            for (int o = 0; o < rows; o++) ref[t * rows + o] = bf16_chain_ref(w, cols, o, x + t * cols);
        for (int o = 0; o < rows; o++) differs |= ref[o] != pd_panel_dot_ref(p, PD_DT_BF16, cols, o, x);
        for (int ti = 0; ti < N_TS; ti++) {
            size_t T = Ts[ti];
            const float *b = ti & 1 ? bias : NULL;
            float *scratch = scratch0 + ti % 4; /* any float alignment */
            pd_mm a = {p, PD_DT_BF16, rows, cols, x, T, b, y, NULL, NULL};
            memset(y, 0xff, T * (size_t)rows * sizeof *y);
            k->mm_panels(&a, 0, np, scratch);
            int exact = 1, dot_ok = 1;
            for (size_t t = 0; t < T; t++)
                for (int o = 0; o < rows; o++) {
                    float want = ref[t * rows + o], got = k->panel_dot(p, PD_DT_BF16, cols, o, x + t * cols);
                    if (memcmp(&got, &want, 4)) dot_ok = 0;
                    if (b) want += b[o];
                    if (memcmp(&want, &y[t * rows + o], 4)) exact = 0;
                }
            CHECK_MSG(exact, "bf16 %dx%d T=%zu bias=%d: not the vdpbf16ps chain", rows, cols, T, b != NULL);
            CHECK_MSG(dot_ok, "bf16 %dx%d T=%zu: panel_dot not the chain", rows, cols, T);
            /* panel ranges as threads take them: one panel, threes, the rest; rows scattered
             * into a dirty output */
            float *rp[TMAX];
            for (size_t t = 0; t < T; t++) rp[t] = y2 + (T - 1 - t) * rows;
            pd_mm a2 = {p, PD_DT_BF16, rows, cols, x, T, b, NULL, rp, NULL};
            for (int step = 1; step <= 5; step += 2) {
                memset(y2, 0x7f, T * (size_t)rows * sizeof *y2);
                for (int q = 0; q < np; q += step) k->mm_panels(&a2, q, q + step < np ? q + step : np, scratch);
                int same = 1;
                for (size_t t = 0; t < T; t++)
                    if (memcmp(y + t * rows, rp[t], (size_t)rows * sizeof *y)) same = 0;
                CHECK_MSG(same, "bf16 %dx%d T=%zu: split by %d panels differs", rows, cols, T, step);
            }
        }
        free(w), free(p), free(x), free(bias), free(y), free(y2), free(ref), free(scratch0);
    }
    CHECK(differs);
    /* F32 and F16 weights: the AVX-512 set's panels, the same bits */
    int dts[] = {PD_DT_F32, PD_DT_F16};
    for (int d = 0; d < 2; d++) {
        int rows = 70, cols = 129, np = (rows + 15) / 16;
        void *w = rand_mat(&r, dts[d], rows, cols);
        void *p = malloc(pd_panel_elems(rows, cols) * pd_dtype_size(dts[d]));
        pd_panel_pack(w, dts[d], rows, cols, 0, np, p);
        float *x = malloc(61 * (size_t)cols * sizeof *x), *y = malloc(61 * (size_t)rows * sizeof *y),
              *y2 = malloc(61 * (size_t)rows * sizeof *y2), *scratch = malloc(PD_PANEL_SCRATCH(cols) * sizeof *scratch);
        for (int i = 0; i < 61 * cols; i++) x[i] = rnd(&r);
        for (size_t T = 1; T <= 61; T += 12) {
            pd_mm a = {p, dts[d], rows, cols, x, T, NULL, y, NULL, NULL};
            pd_mm a2 = {p, dts[d], rows, cols, x, T, NULL, y2, NULL, NULL};
            k->mm_panels(&a, 0, np, scratch);
            pd_kernels_avx512()->mm_panels(&a2, 0, np, scratch);
            CHECK_MSG(!memcmp(y, y2, T * (size_t)rows * sizeof *y), "dtype %d T=%zu: not the AVX-512 panels", dts[d], T);
            CHECK(k->panel_dot(p, dts[d], cols, 5, x) == pd_panel_dot_ref(p, dts[d], cols, 5, x));
        }
        free(w), free(p), free(x), free(y), free(y2), free(scratch);
    }
}

/* axpy_rows is axpy repeated over positions, bit for bit, for any head count, width (whole
 * vectors of either SIMD set, partial ones, strips of every length) and position count
 * (none, one: the AVX2 set's one-head path, several). */
static void t_axpy_rows(void) {
    const pd_kernel_ops *sets[] = {pd_kernels_portable(), pd_kernels_avx2(), pd_kernels_avx512(), pd_kernels_avx512bf16()};
    pd_rng r;
    pd_rng_seed(&r, 5);
    int widths[] = {8, 16, 20, 24, 40, 48, 56, 64, 96, 128}, nps[] = {0, 1, 2, 13};
    float a[8 * 20], x[13 * 160], y[8 * 128], y2[8 * 128];
    for (int i = 0; i < 8 * 20; i++) a[i] = rnd(&r);
    for (int i = 0; i < 13 * 160; i++) x[i] = rnd(&r);
    int tested = 0;
    for (int si = 0; si < 4; si++) {
        if (!sets[si] || !sets[si]->axpy_rows) continue;
        tested++;
        for (int wi = 0; wi < (int)(sizeof widths / sizeof *widths); wi++)
            for (int pi = 0; pi < 4; pi++)
                for (int nh = 1; nh <= 8; nh++) {
                    int n = widths[wi], np = nps[pi];
                    for (int i = 0; i < 8 * 128; i++) y[i] = y2[i] = rnd(&r);
                    sets[si]->axpy_rows(a, 20, x, 160, np, y, 128, nh, n);
                    for (int h = 0; h < nh; h++)
                        for (int p = 0; p < np; p++) sets[si]->axpy(a[h * 20 + p], x + p * 160, y2 + h * 128, n);
                    CHECK_MSG(!memcmp(y, y2, sizeof y), "%s n=%d np=%d heads=%d", sets[si]->name, n, np, nh);
                }
    }
    if (!tested) SKIP("no set with axpy_rows on this CPU");
    /* both SIMD sets have it, where the CPU runs them */
    if (pd_kernels_avx2()) CHECK(pd_kernels_avx2()->axpy_rows != NULL);
    if (pd_kernels_avx512()) CHECK(pd_kernels_avx512()->axpy_rows != NULL);
}

int main(void) {
    RUN(t_pack);
    RUN(t_axpy_rows);
    RUN(t_matmul);
    RUN(t_bf16_panels);
    return test_done();
}
