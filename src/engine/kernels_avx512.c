/* kernels_avx512.c — the AVX-512 kernel set (F + BW + VL, with FMA and F16C): 16 lanes.
 *
 * The contract is in kernels.c: one 16-lane accumulator per dot product, elements in
 * increasing order, pd_kernel_reduce's tree at the end. The functions carry target
 * attributes and are only reached through pd_kernels_avx512(), which asks the CPU first, so
 * the library still builds for (and runs on) baseline x86-64.
 *
 * The tile is 4 weight rows x up to 6 activation rows: 24 accumulators, 4 weight vectors and
 * one activation vector in flight, 29 of the 32 zmm registers. Per 16 elements it issues 24
 * multiply-adds against 10 loads, so it can run near the FMA ports' rate from L1/L2. Weights
 * arrive either as fp32 (converted once per block by the driver) or stored as BF16/F16 and
 * converted in registers (decode: each weight is read once, from memory, and used for every
 * activation row of the tile), prefetching the next group of rows while one is in flight.
 *
 * The AVX512-BF16 set (kernels_avx512bf16.c) reuses these entries for everything but bf16
 * weight products, hence their pd_avx512_ names (declared in kernels.h). */
#include "engine/kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "model/safetensors.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "engine/avx512_inl.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define LANES 16
#define MR 4
#define NR 6

/* Elements [i, i + 16) of a row stored as dt, as fp32. */
AVX512 INLINE __m512 load16(const void *p, int dt, size_t i) {
    if (dt == PD_DT_F32) return _mm512_loadu_ps((const float *)p + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i));
    if (dt == PD_DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* The same for the last partial vector: lanes outside `m` are zero (and not read). */
AVX512 INLINE __m512 load16_tail(const void *p, int dt, size_t i, __mmask16 m) {
    if (dt == PD_DT_F32) return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
    if (dt == PD_DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* One dot product in the contract's order; the body of dot and dot_w. */
AVX512 INLINE float dot_gen(const void *w, int dt, const float *x, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + LANES <= n; i += LANES) s = _mm512_fmadd_ps(load16(w, dt, (size_t)i), _mm512_loadu_ps(x + i), s);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s = _mm512_fmadd_ps(load16_tail(w, dt, (size_t)i, m), _mm512_maskz_loadu_ps(m, x + i), s);
    }
    return pd_avx512_hsum16(s);
}

AVX512 float pd_avx512_dot(const float *a, const float *b, int n) { return dot_gen(a, PD_DT_F32, b, n); }

/* Dispatch on dtype once so each loop is specialised (no per-load branch). */
AVX512 float pd_avx512_dot_w(const void *w, int dt, const float *x, int n) {
    if (dt == PD_DT_BF16) return dot_gen(w, PD_DT_BF16, x, n);
    if (dt == PD_DT_F16) return dot_gen(w, PD_DT_F16, x, n);
    return dot_gen(w, PD_DT_F32, x, n);
}

AVX512 void pd_avx512_to_f32(const void *src, int dt, float *dst, int n) {
    if (dt == PD_DT_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm512_storeu_ps(dst + i, load16(src, dt, (size_t)i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, load16_tail(src, dt, (size_t)i, m));
    }
}

AVX512 void pd_avx512_axpy(float a, const float *x, float *y, int n) {
    __m512 av = _mm512_set1_ps(a);
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* axpy_rows (kernels.h) for rows of NV vectors, NH heads at once: per position NV loads and
 * NV NH multiply-adds, the heads' outputs in registers; the same fmadd per element as axpy. */
AVX512 INLINE void axpy_rows_gen(const int NV, const int NH, const float *a, size_t lda, const float *x, size_t ldx, int np,
                                 float *y, size_t ldy) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < NV * NH; i++) acc[i] = _mm512_loadu_ps(y + (size_t)(i / NV) * ldy + 16 * (i % NV));
    for (int p = 0; p < np; p++) {
        __m512 xv[8];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) xv[v] = _mm512_loadu_ps(x + (size_t)p * ldx + 16 * v);
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            __m512 av = _mm512_set1_ps(a[(size_t)h * lda + (size_t)p]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[h * NV + v] = _mm512_fmadd_ps(av, xv[v], acc[h * NV + v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < NV * NH; i++) _mm512_storeu_ps(y + (size_t)(i / NV) * ldy + 16 * (i % NV), acc[i]);
}

AVX512 void pd_avx512_axpy_rows(const float *a, size_t lda, const float *x, size_t ldx, int np, float *y, size_t ldy,
                                int nh, int n) {
    for (int h = 0; h < nh;) {
        const float *ah = a + (size_t)h * lda;
        float *yh = y + (size_t)h * ldy;
        int left = nh - h;
        if (n == 64 && left >= 4) axpy_rows_gen(4, 4, ah, lda, x, ldx, np, yh, ldy), h += 4;
        else if (n == 64) axpy_rows_gen(4, 1, ah, lda, x, ldx, np, yh, ldy), h += 1;
        else if (n == 128 && left >= 2) axpy_rows_gen(8, 2, ah, lda, x, ldx, np, yh, ldy), h += 2;
        else if (n == 128) axpy_rows_gen(8, 1, ah, lda, x, ldx, np, yh, ldy), h += 1;
        else {
            for (int p = 0; p < np; p++) pd_avx512_axpy(ah[p], x + (size_t)p * ldx, yh, n);
            h += 1;
        }
    }
}

/* Four accumulators reduced at once in pd_kernel_reduce's order: fold 16 -> 8 lanes two
 * accumulators per register, 8 -> 4 four per register, then the last two steps in-lane. */
AVX512 void pd_avx512_reduce4(const float *acc, size_t stride, float out[4]) {
    __m512 a = _mm512_loadu_ps(acc), b = _mm512_loadu_ps(acc + stride);
    __m512 c = _mm512_loadu_ps(acc + 2 * stride), d = _mm512_loadu_ps(acc + 3 * stride);
    /* [a0-7 | b0-7] + [a8-15 | b8-15]: lane l + lane l + 8 */
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    /* one 128-bit lane per accumulator: l + (l + 4) */
    __m512 v = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    /* (0+2, 1+3), then their sum, in element 0 of each 128-bit lane */
    v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v);
    _mm_storeu_ps(out, _mm512_castps512_ps128(v));
}

/* The tile for a fixed activation-row count NX and weight dtype DT (both constants after
 * inlining, so the accumulator arrays live in registers). */
AVX512 INLINE void tile_gen(const int NX, const int DT, const void *const *w, const float *x, size_t ldx, int k0, int k1,
                            float *acc, int first) {
    __m512 c[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) c[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + (i * NR + j) * LANES);
    /* stored weights come from memory: fetch the next group of MR rows (contiguous after
     * this one, and the next block's first rows after a block's last group) while this one
     * is in flight, one line per row per 64 bytes */
    const int prefetch = DT != PD_DT_F32;
    const size_t es = DT == PD_DT_F32 ? 4 : 2;
    const ptrdiff_t ahead = MR * ((const char *)w[1] - (const char *)w[0]);
    int k = k0;
    for (; k + LANES <= k1; k += LANES) {
        __m512 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            wv[i] = load16(w[i], DT, (size_t)k);
            if (prefetch && !(k & 31)) _mm_prefetch((const char *)w[i] + (size_t)k * es + ahead, _MM_HINT_T0);
        }
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m512 xv = _mm512_loadu_ps(x + j * ldx + k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm512_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
    if (k < k1) {
        __mmask16 m = (__mmask16)((1u << (k1 - k)) - 1);
        __m512 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) wv[i] = load16_tail(w[i], DT, (size_t)k, m);
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + j * ldx + k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm512_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) _mm512_storeu_ps(acc + (i * NR + j) * LANES, c[i][j]);
}

/* One specialised tile per (dtype, activation rows). */
#define TILE_FN(DT, NX)                                                                                              \
    AVX512 static void tile_##DT##_##NX(const void *const *w, const float *x, size_t ldx, int k0, int k1, float *acc, \
                                        int first) {                                                                 \
        tile_gen(NX, PD_DT_##DT, w, x, ldx, k0, k1, acc, first);                                                     \
    }
#define TILE_FNS(DT) TILE_FN(DT, 1) TILE_FN(DT, 2) TILE_FN(DT, 3) TILE_FN(DT, 4) TILE_FN(DT, 5) TILE_FN(DT, 6)
TILE_FNS(F32)
TILE_FNS(BF16)
TILE_FNS(F16)

typedef void (*tile_fn)(const void *const *, const float *, size_t, int, int, float *, int);
static const tile_fn tiles_f32[NR] = {tile_F32_1, tile_F32_2, tile_F32_3, tile_F32_4, tile_F32_5, tile_F32_6};
static const tile_fn tiles_bf16[NR] = {tile_BF16_1, tile_BF16_2, tile_BF16_3, tile_BF16_4, tile_BF16_5, tile_BF16_6};
static const tile_fn tiles_f16[NR] = {tile_F16_1, tile_F16_2, tile_F16_3, tile_F16_4, tile_F16_5, tile_F16_6};

void pd_avx512_tile(int nx, const void *const *w, int dt, const float *x, size_t ldx, int k0, int k1, float *acc,
                    int first) {
    const tile_fn *t = dt == PD_DT_BF16 ? tiles_bf16 : dt == PD_DT_F16 ? tiles_f16 : tiles_f32;
    t[nx - 1](w, x, ldx, k0, k1, acc, first);
}


/* ---- panels: weights packed [cols][16] per 16 outputs (kernels.h) ----
 *
 * Outer-product form: per k, the panels' weight vectors (16 outputs each) are multiplied by
 * each activation row's element k broadcast, so every output is one accumulator lane, one
 * fused multiply-add chain over k in increasing order, and no reduction is needed. The
 * register tile is NP panels x NX activation rows (NP + NX NP + 1 of the 32 registers):
 *   - decode (T <= 2): 8 panels x T rows on the stored weights, converted in registers: 128
 *     outputs per k, eight independent chains to cover the FMA latency;
 *   - otherwise 4 panels x 6 rows (24 accumulators; per k 4 weight loads and 6 broadcasts
 *     for 24 multiply-adds), every activation row passing over the same four panels while
 *     they stay in L1/L2: on the stored weights converted in registers for narrow batches
 *     (each weight read from memory once), on the four panels converted to fp32 once per
 *     matmul into scratch for wide ones (PANEL_CONVERT_MIN rows and more: the conversion's
 *     cost is then spread over enough rows to beat converting in every tile).
 * The tiles differ only in how many chains run at once, so a row's outputs are the same
 * bits whatever T, the panel range of a thread, or the tile that computed them. */

#define PANEL_CONVERT_MIN 48

/* Element k's vector of a panel stored as DT (p: the panel's first element). */
AVX512 INLINE __m512 panel_load(const int DT, const void *p, size_t k) {
    if (DT == PD_DT_F32) return _mm512_loadu_ps((const float *)p + k * 16);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + k * 16));
    if (DT == PD_DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* One k of the tile below: NP weight vectors times NX broadcast activations into c. */
AVX512 INLINE void ptile_k(const int NP, const int NX, const int DT, const char *const *wp, const float *x, size_t ldx,
                           size_t k, __m512 *c) {
    __m512 wv[8];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) wv[p] = panel_load(DT, wp[p], k);
#pragma GCC unroll 6
    for (int j = 0; j < NX; j++) {
        __m512 xb = _mm512_set1_ps(x[(size_t)j * ldx + k]);
#pragma GCC unroll 8
        for (int p = 0; p < NP; p++) c[j * NP + p] = _mm512_fmadd_ps(wv[p], xb, c[j * NP + p]);
    }
}

/* The tile: NP panels (w, ps elements apart) x NX activation rows (x, ldx apart) over k in
 * [0, n), lanes from zero; stored (+ bias) into rows yr[j] at columns col ..; the last
 * panel's lanes from nlast on are not written. */
AVX512 INLINE void ptile(const int NP, const int NX, const int DT, const void *w, size_t ps, const float *x, size_t ldx,
                         int n, float *const *yr, int col, int nlast, const float *bias) {
    __m512 c[24]; /* c[j * NP + p]; fixed sizes (not NX, NP) so that they stay in registers */
    const size_t es = DT == PD_DT_F32 ? 4 : 2;
    const char *wp[8];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) wp[p] = (const char *)w + (size_t)p * ps * es;
#pragma GCC unroll 24
    for (int i = 0; i < NX * NP; i++) c[i] = _mm512_setzero_ps();
    /* batches: four k per loop iteration, measured faster than two (~2% on every prefill
     * shape, calls alternated in one process) and than one (~10% slower), eight no better;
     * decode (NX <= 2, memory-bound) keeps two, where four measured no faster */
    if (NX >= 3) {
#pragma GCC unroll 4
        for (int k = 0; k < n; k++) ptile_k(NP, NX, DT, wp, x, ldx, (size_t)k, c);
    } else {
#pragma GCC unroll 2
        for (int k = 0; k < n; k++) ptile_k(NP, NX, DT, wp, x, ldx, (size_t)k, c);
    }
    pd_avx512_store_tile(NP, NX, c, yr, col, nlast, bias);
}

typedef void (*ptile_fn)(const void *w, size_t ps, const float *x, size_t ldx, int n, float *const *yr, int col, int nlast,
                         const float *bias);
#define PTILE_FN(NP, NX, DT)                                                                                     \
    AVX512 static void ptile_##NP##_##NX##_##DT(const void *w, size_t ps, const float *x, size_t ldx, int n,     \
                                                float *const *yr, int col, int nlast, const float *bias) {       \
        ptile(NP, NX, PD_DT_##DT, w, ps, x, ldx, n, yr, col, nlast, bias);                                       \
    }
/* 8, 4, 2 or 1 panels x 1 or 2 rows (decode); 4 or 1 panels x 3 .. 6 rows */
#define PTILE_FNS(DT)                                                                                            \
    PTILE_FN(8, 1, DT) PTILE_FN(8, 2, DT) PTILE_FN(4, 1, DT) PTILE_FN(4, 2, DT) PTILE_FN(2, 1, DT)               \
    PTILE_FN(2, 2, DT) PTILE_FN(1, 1, DT) PTILE_FN(1, 2, DT) PTILE_FN(4, 3, DT) PTILE_FN(4, 4, DT)               \
    PTILE_FN(4, 5, DT) PTILE_FN(4, 6, DT) PTILE_FN(1, 3, DT) PTILE_FN(1, 4, DT) PTILE_FN(1, 5, DT) PTILE_FN(1, 6, DT)
PTILE_FNS(F32)
PTILE_FNS(BF16)
PTILE_FNS(F16)

/* [dtype][8, 4, 2, 1 panels][rows - 1] */
#define PT_DEC(DT)                                                                                               \
    {{ptile_8_1_##DT, ptile_8_2_##DT}, {ptile_4_1_##DT, ptile_4_2_##DT}, {ptile_2_1_##DT, ptile_2_2_##DT},      \
     {ptile_1_1_##DT, ptile_1_2_##DT}}
static const ptile_fn pt_dec[3][4][2] = {PT_DEC(F32), PT_DEC(BF16), PT_DEC(F16)};
/* [dtype][4, 1 panels][rows - 1] */
#define PT_NAR(DT)                                                                                               \
    {{ptile_4_1_##DT, ptile_4_2_##DT, ptile_4_3_##DT, ptile_4_4_##DT, ptile_4_5_##DT, ptile_4_6_##DT},           \
     {ptile_1_1_##DT, ptile_1_2_##DT, ptile_1_3_##DT, ptile_1_4_##DT, ptile_1_5_##DT, ptile_1_6_##DT}}
static const ptile_fn pt_nar[3][2][6] = {PT_NAR(F32), PT_NAR(BF16), PT_NAR(F16)};

static int dt_index(int dt) { return dt == PD_DT_BF16 ? 1 : dt == PD_DT_F16 ? 2 : 0; }

/* Panels [p, p + np) of a packed BF16 or F16 matrix as fp32, into dst ([np][cols][16]). */
AVX512 static void panels_to_f32(const void *w, int dt, int cols, int p, int np, float *dst) {
    size_t n = (size_t)np * (size_t)cols;
    const uint16_t *src = (const uint16_t *)w + (size_t)p * (size_t)cols * 16;
    if (dt == PD_DT_BF16)
        for (size_t i = 0; i < n; i++) _mm512_storeu_ps(dst + 16 * i, panel_load(PD_DT_BF16, src, i));
    else
        for (size_t i = 0; i < n; i++) _mm512_storeu_ps(dst + 16 * i, panel_load(PD_DT_F16, src, i));
}

AVX512 void pd_avx512_mm_panels(const pd_mm *a, int p0, int p1, float *scratch) {
    const size_t T = a->T, K = (size_t)a->cols, es = pd_dtype_size(a->dtype), pe = 16 * K; /* elements per panel */
    const int di = dt_index(a->dtype), last_panel = (a->rows - 1) / 16, nlast_rows = a->rows - 16 * last_panel;
    float *yr[6];
    if (T <= 2) {
        pd_mm_out_rows(a, 0, (int)T, yr);
        for (int p = p0; p < p1;) {
            int np = p1 - p >= 8 ? 8 : p1 - p >= 4 ? 4 : p1 - p >= 2 ? 2 : 1, ni = np == 8 ? 0 : np == 4 ? 1 : np == 2 ? 2 : 3;
            int nl = p + np - 1 == last_panel ? nlast_rows : 16;
            pt_dec[di][ni][T - 1]((const uint8_t *)a->w + (size_t)p * pe * es, pe, a->x, K, a->cols, yr, 16 * p, nl, a->bias);
            p += np;
        }
        return;
    }
    const int convert = a->dtype != PD_DT_F32 && T >= PANEL_CONVERT_MIN;
    for (int p = p0; p < p1;) {
        int np = p1 - p >= 4 ? 4 : 1, nl = p + np - 1 == last_panel ? nlast_rows : 16, d = di;
        const void *w = (const uint8_t *)a->w + (size_t)p * pe * es;
        if (convert) {
            panels_to_f32(a->w, a->dtype, a->cols, p, np, scratch);
            w = scratch, d = 0;
        }
        for (size_t t0 = 0; t0 < T; t0 += 6) {
            int nx = T - t0 < 6 ? (int)(T - t0) : 6;
            pd_mm_out_rows(a, t0, nx, yr);
            pt_nar[d][np == 4 ? 0 : 1][nx - 1](w, pe, a->x + t0 * K, K, a->cols, yr, 16 * p, nl, a->bias);
        }
        p += np;
    }
}

AVX512 float pd_avx512_panel_dot(const void *w, int dt, int cols, int row, const float *x) {
    float out[16], *yr[1] = {out};
    const size_t pe = 16 * (size_t)cols;
    pt_dec[dt_index(dt)][3][0]((const uint8_t *)w + (size_t)(row / 16) * pe * pd_dtype_size(dt), pe, x, (size_t)cols, cols,
                               yr, 0, 16, NULL);
    return out[row % 16];
}

/* ---- elementwise: exp as a vector polynomial (silu_mul, softmax) ----
 *
 * exp(x) = 2^n exp(r), n = rint(x / ln 2), r = x - n ln 2 (Cody-Waite: ln 2 in two parts, the
 * first with trailing zero bits, so n * LN2_HI is exact), |r| <= ln 2 / 2; exp(r) = 1 + r +
 * r^2 P(r) with SLEEF's degree-5 minimax P; vscalefps applies 2^n with one rounding, so
 * overflow gives inf and the subnormal range rounds correctly. Inputs are clamped to
 * [-104, 89] first (expf is 0 below -103.98 and inf above 88.73, so the clamp changes no
 * result), which keeps n finite; the clamp's operand order lets NaN through (vmaxps and
 * vminps return their second operand when one is NaN). Within 1 ulp of glibc's expf over
 * the whole float range (tests/test_vmath.c sweeps it). */
AVX512 INLINE __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(PD_VEXP_MAX), _mm512_max_ps(_mm512_set1_ps(PD_VEXP_MIN), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(PD_VEXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(PD_VEXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(PD_VEXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(PD_VEXP_P5);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PD_VEXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PD_VEXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PD_VEXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PD_VEXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PD_VEXP_P0));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r));
    return _mm512_scalef_ps(p, n);
}

static inline __mmask16 first_n(int n) { return (__mmask16)((1u << n) - 1); }

AVX512 void pd_avx512_exp(const float *x, float *y, int n) {
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm512_storeu_ps(y + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) _mm512_mask_storeu_ps(y + i, first_n(n - i), exp16(_mm512_maskz_loadu_ps(first_n(n - i), x + i)));
}

/* out = g / (1 + exp(-g)) * u: the portable form's operations, exp16 for expf. */
AVX512 INLINE __m512 silu_mul16(__m512 g, __m512 u) {
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

AVX512 void pd_avx512_silu_mul(const float *g, const float *u, float *out, int n) {
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm512_storeu_ps(out + i, silu_mul16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    if (i < n) {
        __mmask16 m = first_n(n - i);
        _mm512_mask_storeu_ps(out + i, m, silu_mul16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* softmax in three passes: the maximum (any order gives the same), exp(s - max) stored and
 * summed in 16 lanes (element i into lane i % 16, in increasing i, then pd_kernel_reduce's
 * tree), then each divided by the sum: a row's bits depend on the row alone. */
AVX512 void pd_avx512_softmax(float *s, int n) {
    const int nv = n / LANES * LANES;
    const __mmask16 mt = first_n(n - nv);
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int i = 0; i < nv; i += LANES) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + i));
    if (mt) mx = _mm512_mask_max_ps(mx, mt, mx, _mm512_maskz_loadu_ps(mt, s + nv));
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int i = 0; i < nv; i += LANES) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + i), m));
        _mm512_storeu_ps(s + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (mt) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mt, s + nv), m));
        _mm512_mask_storeu_ps(s + nv, mt, e);
        sum = _mm512_mask_add_ps(sum, mt, sum, e);
    }
    __m512 d = _mm512_set1_ps(pd_avx512_hsum16(sum));
    for (int i = 0; i < nv; i += LANES) _mm512_storeu_ps(s + i, _mm512_div_ps(_mm512_loadu_ps(s + i), d));
    if (mt) _mm512_mask_storeu_ps(s + nv, mt, _mm512_div_ps(_mm512_maskz_loadu_ps(mt, s + nv), d));
}

/* pd_exp_det on 16 lanes: the same operations (kernels.h). */
AVX512 static inline __m512 exp_det16(__m512 d) {
    __mmask16 keep = _mm512_cmp_ps_mask(d, _mm512_set1_ps(PD_EXP_DET_MIN), _CMP_GE_OQ); /* false for NaN */
    d = _mm512_min_ps(d, _mm512_setzero_ps());
    __m512 R = _mm512_set1_ps(PD_EXP_DET_ROUND);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(d, _mm512_set1_ps(PD_EXP_DET_LOG2E)), R), R);
    __m512 r = _mm512_sub_ps(d, _mm512_mul_ps(n, _mm512_set1_ps(PD_EXP_DET_LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(PD_EXP_DET_LN2_LO)));
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 120));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 24));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 6));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(e));
}

AVX512 double pd_avx512_exp_sum(const float *x, float scale, float shift, float *out, size_t n) {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    __m512 sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp_det16(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), sc), sh));
        if (out) _mm512_storeu_ps(out + i, e);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double lanes[16];
    _mm512_storeu_pd(lanes, lo);
    _mm512_storeu_pd(lanes + 8, hi);
    return pd_exp_sum_finish(lanes, x, scale, shift, out, i, n);
}

static const pd_kernel_ops avx512_ops = {
    .name = "avx512", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = pd_avx512_dot, .dot_w = pd_avx512_dot_w, .to_f32 = pd_avx512_to_f32, .axpy = pd_avx512_axpy,
    .tile = pd_avx512_tile, .reduce4 = pd_avx512_reduce4, .mm_panels = pd_avx512_mm_panels, .panel_dot = pd_avx512_panel_dot,
    .axpy_rows = pd_avx512_axpy_rows,
    .silu_mul = pd_avx512_silu_mul, .softmax = pd_avx512_softmax, .exp_sum = pd_avx512_exp_sum,
};

const pd_kernel_ops *pd_kernels_avx512(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &avx512_ops; /* every AVX-512 CPU has F16C */
    return NULL;
}
#else
const pd_kernel_ops *pd_kernels_avx512(void) { return NULL; }
#endif
