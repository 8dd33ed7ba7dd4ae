/* kernels_avx2.c — the AVX2 kernel set (with FMA and F16C): 8 lanes.
 *
 * The contract is in kernels.c: one 8-lane accumulator per dot product, elements in
 * increasing order, pd_kernel_reduce's tree at the end. The functions carry target
 * attributes and are only reached through pd_kernels_avx2(), which asks the CPU first, so
 * the library still builds for (and runs on) baseline x86-64.
 *
 * The tile is 4 weight rows x up to 3 activation rows: 12 accumulators, 4 weight vectors
 * and one activation vector, 17 values for the 16 ymm registers, which compilers handle
 * with one reload of an activation vector; per 8 elements that is 12 multiply-adds against
 * 7-8 loads. As in the AVX-512 set, weights are fp32 (converted per block by the driver) or
 * BF16/F16 converted in registers, prefetching the next group of rows.
 *
 * The model's matmul weights take the panel kernels instead (mm_panels, panel_dot; section
 * "panels" below): one fused multiply-add chain per output, the AVX-512 panels' bits.
 * Attention's weighted sum of values takes axpy_rows (several heads' outputs kept in
 * registers, axpy's bits), and silu_mul and softmax a vector exp (section "elementwise"), the
 * AVX-512 set's at 8 lanes: the same bits per element. */
#include "engine/kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "model/safetensors.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define LANES 8
#define MR 4
#define NR 3

/* Elements [i, i + 8) of a row stored as dt, as fp32. */
AVX2 INLINE __m256 load8(const void *p, int dt, size_t i) {
    if (dt == PD_DT_F32) return _mm256_loadu_ps((const float *)p + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    if (dt == PD_DT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* The last partial vector (n < 8 elements), zero-padded. */
AVX2 INLINE __m256 load8_tail(const void *p, int dt, size_t i, int n) {
    if (dt == PD_DT_F32) {
        float b[8] = {0};
        memcpy(b, (const float *)p + i, (size_t)n * sizeof *b);
        return _mm256_loadu_ps(b);
    }
    uint16_t b[8] = {0};
    memcpy(b, (const uint16_t *)p + i, (size_t)n * sizeof *b);
    return load8(b, dt, 0);
}

/* pd_kernel_reduce's tree on a register: (0+4, 1+5, 2+6, 3+7) -> ((0+4)+(2+6)) + ((1+5)+(3+7)). */
AVX2 INLINE float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* One dot product in the contract's order; the body of dot and dot_w. */
AVX2 INLINE float dot_gen(const void *w, int dt, const float *x, int n) {
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + LANES <= n; i += LANES) s = _mm256_fmadd_ps(load8(w, dt, (size_t)i), _mm256_loadu_ps(x + i), s);
    if (i < n) s = _mm256_fmadd_ps(load8_tail(w, dt, (size_t)i, n - i), load8_tail(x, PD_DT_F32, (size_t)i, n - i), s);
    return hsum8(s);
}

AVX2 static float dot_avx2(const float *a, const float *b, int n) { return dot_gen(a, PD_DT_F32, b, n); }

/* Dispatch on dtype once so each loop is specialised (no per-load branch). */
AVX2 static float dot_w_avx2(const void *w, int dt, const float *x, int n) {
    if (dt == PD_DT_BF16) return dot_gen(w, PD_DT_BF16, x, n);
    if (dt == PD_DT_F16) return dot_gen(w, PD_DT_F16, x, n);
    return dot_gen(w, PD_DT_F32, x, n);
}

AVX2 static void to_f32_avx2(const void *src, int dt, float *dst, int n) {
    if (dt == PD_DT_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm256_storeu_ps(dst + i, load8(src, dt, (size_t)i));
    const uint16_t *h = src;
    for (; i < n; i++) dst[i] = dt == PD_DT_BF16 ? pd_bf16_to_f32(h[i]) : pd_f16_to_f32(h[i]);
}

AVX2 static void axpy_avx2(float a, const float *x, float *y, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* axpy_rows (kernels.h) on a strip of NV vectors (8 NV floats; y, x from the strip's first
 * column) for NH heads at once: the heads' strips in NV NH accumulators, per position NV loads
 * of x and NV NH multiply-adds, each element y = fmadd(a, x, y) in increasing p: axpy_avx2's
 * operation (its vector loop: the rows here are whole vectors, so its scalar tail never applies). */
AVX2 INLINE void axpy_rows_gen(const int NV, const int NH, const float *a, size_t lda, const float *x, size_t ldx, int np,
                               float *y, size_t ldy) {
    __m256 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < NV * NH; i++) acc[i] = _mm256_loadu_ps(y + (size_t)(i / NV) * ldy + 8 * (i % NV));
    for (int p = 0; p < np; p++) {
        __m256 xv[8];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) xv[v] = _mm256_loadu_ps(x + (size_t)p * ldx + 8 * v);
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            __m256 av = _mm256_broadcast_ss(a + (size_t)h * lda + (size_t)p);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[h * NV + v] = _mm256_fmadd_ps(av, xv[v], acc[h * NV + v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < NV * NH; i++) _mm256_storeu_ps(y + (size_t)(i / NV) * ldy + 8 * (i % NV), acc[i]);
}

/* A last, narrower strip of nv vectors (1 .. 7 alone, 1 .. 3 for 2 or 3 heads) of NH heads:
 * axpy_rows_gen with its shape a constant (head_dim 64 and 128 never come here). */
#define STRIP_CASE(NV, NH) case NV: axpy_rows_gen(NV, NH, a, lda, x, ldx, np, y, ldy); break;
AVX2 static void axpy_strip_part(int nv, int nh, const float *a, size_t lda, const float *x, size_t ldx, int np, float *y,
                                 size_t ldy) {
    if (nh == 1) switch (nv) { STRIP_CASE(1, 1) STRIP_CASE(2, 1) STRIP_CASE(3, 1) STRIP_CASE(4, 1)
                               STRIP_CASE(5, 1) STRIP_CASE(6, 1) STRIP_CASE(7, 1) }
    else if (nh == 2) switch (nv) { STRIP_CASE(1, 2) STRIP_CASE(2, 2) STRIP_CASE(3, 2) }
    else switch (nv) { STRIP_CASE(1, 3) STRIP_CASE(2, 3) STRIP_CASE(3, 3) }
}
#undef STRIP_CASE

/* NH heads (from a, y) over the whole width n (a multiple of 8): strips of NV vectors, then
 * the narrower rest. */
AVX2 INLINE void axpy_rows_heads(const int NV, const int NH, const float *a, size_t lda, const float *x, size_t ldx, int np,
                                 float *y, size_t ldy, int n) {
    int c0 = 0;
    for (; c0 + NV * LANES <= n; c0 += NV * LANES) axpy_rows_gen(NV, NH, a, lda, x + c0, ldx, np, y + c0, ldy);
    if (c0 < n) axpy_strip_part((n - c0) / LANES, NH, a, lda, x + c0, ldx, np, y + c0, ldy);
}

/* axpy_rows (kernels.h). Widths of whole vectors: heads three at a time (then a pair) in strips
 * of 4 vectors, 12 accumulators, 3 x vectors and a broadcast of the 16 ymm registers (the
 * fourth x vector read by each multiply-add from L1); a head left over alone in strips of 8
 * (8 accumulators, x read by the multiply-adds). Other widths: axpy per position and head.
 * The strips of a head are disjoint columns, each element still one fmadd per position in
 * increasing p, as in axpy_avx2. Measured on Zen 4 (AVX2 forced, one thread, attention's
 * shapes for head_dim 64 and 128: 16 positions x 8 rows q_dim apart, as in a prefill, and x 7
 * heads 64 apart, as in decode; alternated, best of 15, in G multiply-adds/s; heads x vectors
 * per pass): this mix 43-49, 3 x 4 alone 44-49, 1 x 8 38-41, 2 x 4 35-37, 6 x 2 37-42, 4 x 2
 * 45 on 8 heads but 31 on 7; axpy per position 6-20 (the machine was noisy). */
AVX2 static void axpy_rows_avx2(const float *a, size_t lda, const float *x, size_t ldx, int np, float *y, size_t ldy,
                                int nh, int n) {
    if (n % LANES) {
        for (int h = 0; h < nh; h++)
            for (int p = 0; p < np; p++) axpy_avx2(a[(size_t)h * lda + (size_t)p], x + (size_t)p * ldx, y + (size_t)h * ldy, n);
        return;
    }
    int h = 0;
    for (; nh - h >= 3; h += 3) axpy_rows_heads(4, 3, a + (size_t)h * lda, lda, x, ldx, np, y + (size_t)h * ldy, ldy, n);
    if (nh - h == 2) axpy_rows_heads(4, 2, a + (size_t)h * lda, lda, x, ldx, np, y + (size_t)h * ldy, ldy, n);
    else if (nh - h == 1) axpy_rows_heads(8, 1, a + (size_t)h * lda, lda, x, ldx, np, y + (size_t)h * ldy, ldy, n);
}

/* Four accumulators reduced at once in pd_kernel_reduce's order: fold 8 -> 4 lanes two
 * accumulators per register, then the last two steps in-lane. */
AVX2 static void reduce4_avx2(const float *acc, size_t stride, float out[4]) {
    __m256 a = _mm256_loadu_ps(acc), b = _mm256_loadu_ps(acc + stride);
    __m256 c = _mm256_loadu_ps(acc + 2 * stride), d = _mm256_loadu_ps(acc + 3 * stride);
    /* [a0-3 | b0-3] + [a4-7 | b4-7]: lane l + lane l + 4 */
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    /* (0+2, 1+3), then their sum, in element 0 of each 128-bit lane */
    ab = _mm256_add_ps(ab, _mm256_permute_ps(ab, _MM_SHUFFLE(1, 0, 3, 2)));
    ab = _mm256_add_ps(ab, _mm256_permute_ps(ab, _MM_SHUFFLE(2, 3, 0, 1)));
    cd = _mm256_add_ps(cd, _mm256_permute_ps(cd, _MM_SHUFFLE(1, 0, 3, 2)));
    cd = _mm256_add_ps(cd, _mm256_permute_ps(cd, _MM_SHUFFLE(2, 3, 0, 1)));
    out[0] = _mm256_cvtss_f32(ab);
    out[1] = _mm_cvtss_f32(_mm256_extractf128_ps(ab, 1));
    out[2] = _mm256_cvtss_f32(cd);
    out[3] = _mm_cvtss_f32(_mm256_extractf128_ps(cd, 1));
}

/* The tile for a fixed activation-row count NX and weight dtype DT (both constants after
 * inlining, so the accumulator arrays live in registers). */
AVX2 INLINE void tile_gen(const int NX, const int DT, const void *const *w, const float *x, size_t ldx, int k0, int k1,
                          float *acc, int first) {
    __m256 c[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) c[i][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + (i * NR + j) * LANES);
    /* stored weights come from memory: fetch the next group of MR rows (contiguous after
     * this one, and the next block's first rows after a block's last group) while this one
     * is in flight, one line per row per 64 bytes */
    const int prefetch = DT != PD_DT_F32;
    const size_t es = DT == PD_DT_F32 ? 4 : 2;
    const ptrdiff_t ahead = MR * ((const char *)w[1] - (const char *)w[0]);
    int k = k0;
    for (; k + LANES <= k1; k += LANES) {
        __m256 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            wv[i] = load8(w[i], DT, (size_t)k);
            if (prefetch && !(k & 31)) _mm_prefetch((const char *)w[i] + (size_t)k * es + ahead, _MM_HINT_T0);
        }
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) {
            __m256 xv = _mm256_loadu_ps(x + j * ldx + k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
    if (k < k1) {
        __m256 wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) wv[i] = load8_tail(w[i], DT, (size_t)k, k1 - k);
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) {
            __m256 xv = load8_tail(x + j * ldx, PD_DT_F32, (size_t)k, k1 - k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(wv[i], xv, c[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NX; j++) _mm256_storeu_ps(acc + (i * NR + j) * LANES, c[i][j]);
}

/* One specialised tile per (dtype, activation rows). */
#define TILE_FN(DT, NX)                                                                                              \
    AVX2 static void tile_##DT##_##NX(const void *const *w, const float *x, size_t ldx, int k0, int k1, float *acc,   \
                                      int first) {                                                                   \
        tile_gen(NX, PD_DT_##DT, w, x, ldx, k0, k1, acc, first);                                                     \
    }
#define TILE_FNS(DT) TILE_FN(DT, 1) TILE_FN(DT, 2) TILE_FN(DT, 3)
TILE_FNS(F32)
TILE_FNS(BF16)
TILE_FNS(F16)

typedef void (*tile_fn)(const void *const *, const float *, size_t, int, int, float *, int);
static const tile_fn tiles_f32[NR] = {tile_F32_1, tile_F32_2, tile_F32_3};
static const tile_fn tiles_bf16[NR] = {tile_BF16_1, tile_BF16_2, tile_BF16_3};
static const tile_fn tiles_f16[NR] = {tile_F16_1, tile_F16_2, tile_F16_3};

static void tile_avx2(int nx, const void *const *w, int dt, const float *x, size_t ldx, int k0, int k1, float *acc,
                      int first) {
    const tile_fn *t = dt == PD_DT_BF16 ? tiles_bf16 : dt == PD_DT_F16 ? tiles_f16 : tiles_f32;
    t[nx - 1](w, x, ldx, k0, k1, acc, first);
}

/* ---- panels: weights packed [cols][16] per 16 outputs (kernels.h) ----
 *
 * Outer-product form, as in the AVX-512 set: per k, each panel's 16 weights (two ymm vectors)
 * are multiplied by an activation row's element k broadcast, so every output is one
 * accumulator lane, one fused multiply-add chain over k in increasing order from zero, and no
 * reduction is needed: the same bits as pd_panel_dot_ref and the AVX-512 panels. The register
 * tile is NP panels x NX activation rows, 2 NP NX accumulators of the 16 ymm registers:
 *   - decode (T <= 2): 4 panels x 1 row or 2 panels x 2 rows, 8 independent chains (the FMA
 *     latency on two ports), each weight read from memory once;
 *   - otherwise 1 panel x 6 rows: 12 accumulators, 2 weight vectors and a broadcast; per k
 *     one weight load and 6 broadcast loads for 12 multiply-adds. Panels go in groups of 4,
 *     each block of 6 activation rows passing over the group's panels in turn (its rows stay
 *     in L1, the group's weights in L2), each tile prefetching its weight stream
 *     PANEL_PREFETCH bytes ahead (on into the next panel near its end).
 * Weights are always converted in registers, never into scratch: a BF16 k-vector is one
 * 256-bit load and three shifts, the even and the odd outputs in separate vectors, which
 * store_tile puts back in order (half the instructions of vpmovzxwd + vpslld per 8, which
 * took decode to about half the speed of the row tiles); F16 two vcvtph2ps. Measured on Zen 4
 * with AVX2 forced, one thread, Qwen2.5-0.5B's matmul shapes (calls alternated in one
 * process, best of 15): converting a group of 4 panels to fp32 once per matmul, as the
 * AVX-512 set does for wide batches, was slower at every T from 12 to 512 for BF16 and F16
 * alike (10-40% up to T = 47, 1-10% at 64-512); the prefetch took T = 16 on the 4864-row
 * and 4864-column shapes from ~30 to ~40 GMAC/s and was no gain in decode. The tiles differ
 * only in how many chains run at once, so a row's outputs are the same bits whatever T, the
 * panel range of a thread, or the tile that computed them. */

#define PANEL_NX 6           /* activation rows of the prefill tile */
#define PANEL_GROUP 4        /* panels one block of rows passes over before the next block */
#define PANEL_PREFETCH 4096  /* bytes ahead in a prefill tile's weight stream */

/* Element k's 16 weights of a panel stored as DT (p: its first element) as two vectors: F32
 * and F16 outputs 0-7 and 8-15; BF16 the even outputs (0, 2, .., 14: the dwords' low halves
 * shifted up) and the odd ones (the high halves, shifted down and up again: unlike a mask,
 * no register for a constant, which the 6-row tile has none left for). */
AVX2 INLINE void panel_load(const int DT, const void *p, size_t k, __m256 *lo, __m256 *hi) {
    if (DT == PD_DT_F32) {
        *lo = _mm256_loadu_ps((const float *)p + k * 16);
        *hi = _mm256_loadu_ps((const float *)p + k * 16 + 8);
    } else if (DT == PD_DT_BF16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + k * 16));
        *lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        *hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16));
    } else {
        *lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + k * 16)));
        *hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + k * 16 + 8)));
    }
}

/* One k of the tile: NP panels' weight vectors times NX broadcast activations into c. */
AVX2 INLINE void ptile_k(const int NP, const int NX, const int DT, const char *const *wp, const float *x, size_t ldx,
                         size_t k, __m256 *c) {
    __m256 wv[8];
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) panel_load(DT, wp[p], k, &wv[2 * p], &wv[2 * p + 1]);
#pragma GCC unroll 6
    for (int j = 0; j < NX; j++) {
        __m256 xb = _mm256_broadcast_ss(x + (size_t)j * ldx + k);
#pragma GCC unroll 8
        for (int v = 0; v < 2 * NP; v++) c[2 * j * NP + v] = _mm256_fmadd_ps(wv[v], xb, c[2 * j * NP + v]);
    }
}

/* Accumulators c (panel p of row j: c[2 (j NP + p)] and c[2 (j NP + p) + 1], in panel_load's
 * order for DT) stored, + bias, into rows yr[j] at columns col + 16 p ..; the last panel's
 * lanes from nlast on are not written (nor their bias read). */
AVX2 INLINE void store_tile(const int NP, const int NX, const int DT, const __m256 *c, float *const *yr, int col, int nlast,
                            const float *bias) {
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
        const int part = p == NP - 1 && nlast < 16;
        float t[16] = {0};
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        if (bias) {
            const float *b = bias + col + 16 * p;
            if (part) b = memcpy(t, b, (size_t)nlast * sizeof *t);
            b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        }
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m256 v0 = c[2 * (j * NP + p)], v1 = c[2 * (j * NP + p) + 1];
            if (DT == PD_DT_BF16) { /* even, odd -> [0 1 2 3 | 8 9 10 11], [4 5 6 7 | 12 13 14 15] -> in order */
                __m256 lo = _mm256_unpacklo_ps(v0, v1), hi = _mm256_unpackhi_ps(v0, v1);
                v0 = _mm256_permute2f128_ps(lo, hi, 0x20), v1 = _mm256_permute2f128_ps(lo, hi, 0x31);
            }
            if (bias) v0 = _mm256_add_ps(v0, b0), v1 = _mm256_add_ps(v1, b1);
            float *o = part ? t : yr[j] + col + 16 * p;
            _mm256_storeu_ps(o, v0);
            _mm256_storeu_ps(o + 8, v1);
            if (part) memcpy(yr[j] + col + 16 * p, t, (size_t)nlast * sizeof *t);
        }
    }
}

/* The tile: NP panels (w, ps elements apart) x NX activation rows (x, ldx apart) over k in
 * [0, n), lanes from zero; stored (+ bias) into rows yr[j] at columns col ..; the last
 * panel's lanes from nlast on are not written. PF: prefetch each weight stream PF bytes
 * ahead (0: none). */
AVX2 INLINE void ptile(const int NP, const int NX, const int DT, const int PF, const void *w, size_t ps, const float *x,
                       size_t ldx, int n, float *const *yr, int col, int nlast, const float *bias) {
    __m256 c[12]; /* fixed size (not 2 NP NX) so that they stay in registers */
    const int es = DT == PD_DT_F32 ? 4 : 2;
    const char *wp[4];
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) wp[p] = (const char *)w + (size_t)p * ps * (size_t)es;
#pragma GCC unroll 12
    for (int i = 0; i < 2 * NP * NX; i++) c[i] = _mm256_setzero_ps();
    int k = 0;
    if (PF) /* four k per iteration, the lines of their 4 x 16 weights fetched PF bytes ahead */
        for (; k + 4 <= n; k += 4) {
#pragma GCC unroll 4
            for (int p = 0; p < NP; p++)
#pragma GCC unroll 4
                for (int l = 0; l < es; l++) _mm_prefetch(wp[p] + (size_t)k * 16 * (size_t)es + 64 * l + PF, _MM_HINT_T0);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) ptile_k(NP, NX, DT, wp, x, ldx, (size_t)(k + i), c);
        }
#pragma GCC unroll 2
    for (; k < n; k++) ptile_k(NP, NX, DT, wp, x, ldx, (size_t)k, c);
    store_tile(NP, NX, DT, c, yr, col, nlast, bias);
}

typedef void (*ptile_fn)(const void *w, size_t ps, const float *x, size_t ldx, int n, float *const *yr, int col, int nlast,
                         const float *bias);
#define PTILE_FN(NP, NX, DT, PF)                                                                                 \
    AVX2 static void ptile_##NP##_##NX##_##DT(const void *w, size_t ps, const float *x, size_t ldx, int n,       \
                                              float *const *yr, int col, int nlast, const float *bias) {         \
        ptile(NP, NX, PD_DT_##DT, PF, w, ps, x, ldx, n, yr, col, nlast, bias);                                   \
    }
/* decode: 4, 2 or 1 panels x 1 row, 2 or 1 panels x 2 rows (no prefetch); prefill: 1 panel x
 * 3 .. 6 rows (the 1-panel decode tiles serve 1 and 2 rows there too) */
#define PTILE_FNS(DT)                                                                                            \
    PTILE_FN(4, 1, DT, 0) PTILE_FN(2, 1, DT, 0) PTILE_FN(1, 1, DT, 0) PTILE_FN(2, 2, DT, 0)                      \
    PTILE_FN(1, 2, DT, 0) PTILE_FN(1, 3, DT, PANEL_PREFETCH) PTILE_FN(1, 4, DT, PANEL_PREFETCH)                  \
    PTILE_FN(1, 5, DT, PANEL_PREFETCH) PTILE_FN(1, 6, DT, PANEL_PREFETCH)
PTILE_FNS(F32)
PTILE_FNS(BF16)
PTILE_FNS(F16)

/* [dtype][rows - 1][4, 2, 1 panels] (NULL: no such tile) */
#define PT_DEC(DT) {{ptile_4_1_##DT, ptile_2_1_##DT, ptile_1_1_##DT}, {NULL, ptile_2_2_##DT, ptile_1_2_##DT}}
static const ptile_fn pt_dec[3][2][3] = {PT_DEC(F32), PT_DEC(BF16), PT_DEC(F16)};
/* [dtype][rows - 1] */
#define PT_NAR(DT) {ptile_1_1_##DT, ptile_1_2_##DT, ptile_1_3_##DT, ptile_1_4_##DT, ptile_1_5_##DT, ptile_1_6_##DT}
static const ptile_fn pt_nar[3][PANEL_NX] = {PT_NAR(F32), PT_NAR(BF16), PT_NAR(F16)};

static int dt_index(int dt) { return dt == PD_DT_BF16 ? 1 : dt == PD_DT_F16 ? 2 : 0; }

/* scratch: unused (the weights are converted in registers, above) */
static void mm_panels_avx2(const pd_mm *a, int p0, int p1, float *scratch) {
    const size_t T = a->T, K = (size_t)a->cols, pb = 16 * K * pd_dtype_size(a->dtype); /* bytes per panel */
    const int di = dt_index(a->dtype), last_panel = (a->rows - 1) / 16, nlast_rows = a->rows - 16 * last_panel;
    const uint8_t *w = a->w;
    float *yr[PANEL_NX];
    if (T <= 2) {
        pd_mm_out_rows(a, 0, (int)T, yr);
        for (int p = p0; p < p1;) {
            int np = p1 - p >= 4 && T == 1 ? 4 : p1 - p >= 2 ? 2 : 1, nl = p + np - 1 == last_panel ? nlast_rows : 16;
            pt_dec[di][T - 1][np == 4 ? 0 : np == 2 ? 1 : 2](w + (size_t)p * pb, 16 * K, a->x, K, a->cols, yr, 16 * p, nl,
                                                              a->bias);
            p += np;
        }
        return;
    }
    for (int g = p0; g < p1; g += PANEL_GROUP) {
        int ge = p1 - g < PANEL_GROUP ? p1 : g + PANEL_GROUP;
        for (size_t t0 = 0; t0 < T; t0 += PANEL_NX) {
            int nx = T - t0 < PANEL_NX ? (int)(T - t0) : PANEL_NX;
            pd_mm_out_rows(a, t0, nx, yr);
            for (int p = g; p < ge; p++)
                pt_nar[di][nx - 1](w + (size_t)p * pb, 16 * K, a->x + t0 * K, K, a->cols, yr, 16 * p,
                                   p == last_panel ? nlast_rows : 16, a->bias);
        }
    }
}

static float panel_dot_avx2(const void *w, int dt, int cols, int row, const float *x) {
    float out[16], *yr[1] = {out};
    const size_t pe = 16 * (size_t)cols;
    pt_dec[dt_index(dt)][0][2]((const uint8_t *)w + (size_t)(row / 16) * pe * pd_dtype_size(dt), pe, x, (size_t)cols, cols,
                               yr, 0, 16, NULL);
    return out[row % 16];
}

/* ---- elementwise: exp as a vector polynomial (silu_mul, softmax) ----
 *
 * The AVX-512 set's exp (kernels_avx512.c) at 8 lanes, the same operations up to the last
 * step: inputs clamped to [-104, 89] (the clamp's operand order lets NaN through), n =
 * rint(x / ln 2), r = x - n ln 2 in two Cody-Waite parts, exp(r) = 1 + r + r^2 P(r) with
 * the same degree-5 P. AVX2 has no vscalefps, so 2^n is applied as 2^(n - n/2) times 2^(n/2)
 * (n / 2 rounded down): both factors normal floats (n is in [-150, 128]), the first product
 * exact (p is in [0.7, 1.5], so p 2^(n - n/2) is normal) and the second rounding once, which
 * is vscalefps's one rounding: the same bits as pd_avx512_exp lane for lane, overflow to inf
 * and the subnormal range included. Within 1 ulp of glibc's expf (tests/test_vmath.c). */
AVX2 INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(PD_VEXP_MAX), _mm256_max_ps(_mm256_set1_ps(PD_VEXP_MIN), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(PD_VEXP_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(PD_VEXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(PD_VEXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(PD_VEXP_P5);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PD_VEXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PD_VEXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PD_VEXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PD_VEXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PD_VEXP_P0));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_mul_ps(r, r), p, r));
    /* NaN converts to INT_MIN: its factors are garbage, but p is NaN, and so the product */
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n0 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n0, bias), 23));
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s0), s1);
}

/* Lanes [0, n) set, n in [0, 8]: the mask of a partial vector's loads and stores. */
AVX2 INLINE __m256i first_n(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }

/* exp8 on a row: y[i] = exp(x[i]), the same bits as pd_avx512_exp (kernels.h; for the
 * tests, tests/test_vmath.c). */
AVX2 void pd_avx2_exp(const float *x, float *y, int n) {
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = first_n(n - i);
        _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
    }
}

/* out = g / (1 + exp(-g)) * u: the portable form's operations, exp8 for expf (the same bits
 * as the AVX-512 set's silu_mul). */
AVX2 INLINE __m256 silu_mul8(__m256 g, __m256 u) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

AVX2 static void silu_mul_avx2(const float *g, const float *u, float *out, int n) {
    int i = 0;
    for (; i + LANES <= n; i += LANES) _mm256_storeu_ps(out + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        __m256i m = first_n(n - i);
        _mm256_maskstore_ps(out + i, m, silu_mul8(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
    }
}

/* The largest of 8 lanes (any order gives the same). */
AVX2 INLINE float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* softmax in three passes: the maximum, exp(s - max) stored and summed in 8 lanes (element i
 * into lane i % 8, in increasing i, then pd_kernel_reduce's tree), then each divided by the
 * sum: a row's bits depend on the row alone. */
AVX2 static void softmax_avx2(float *s, int n) {
    const int nv = n / LANES * LANES;
    const __m256i mt = first_n(n - nv);
    __m256 mx = _mm256_set1_ps(-INFINITY), sum = _mm256_setzero_ps();
    for (int i = 0; i < nv; i += LANES) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + i));
    if (nv < n) /* masked-off lanes as -inf */
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(s + nv, mt), _mm256_castsi256_ps(mt)));
    __m256 m = _mm256_set1_ps(hmax8(mx));
    for (int i = 0; i < nv; i += LANES) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), m));
        _mm256_storeu_ps(s + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (nv < n) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(s + nv, mt), m));
        _mm256_maskstore_ps(s + nv, mt, e);
        sum = _mm256_add_ps(sum, _mm256_and_ps(e, _mm256_castsi256_ps(mt))); /* + 0 in the other lanes */
    }
    __m256 d = _mm256_set1_ps(hsum8(sum));
    for (int i = 0; i < nv; i += LANES) _mm256_storeu_ps(s + i, _mm256_div_ps(_mm256_loadu_ps(s + i), d));
    if (nv < n) _mm256_maskstore_ps(s + nv, mt, _mm256_div_ps(_mm256_maskload_ps(s + nv, mt), d));
}

/* pd_exp_det on 8 lanes: the same operations (kernels.h). */
AVX2 static inline __m256 exp_det8(__m256 d) {
    __m256 keep = _mm256_cmp_ps(d, _mm256_set1_ps(PD_EXP_DET_MIN), _CMP_GE_OQ); /* false for NaN */
    d = _mm256_min_ps(d, _mm256_setzero_ps());
    __m256 R = _mm256_set1_ps(PD_EXP_DET_ROUND);
    __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(d, _mm256_set1_ps(PD_EXP_DET_LOG2E)), R), R);
    __m256 r = _mm256_sub_ps(d, _mm256_mul_ps(n, _mm256_set1_ps(PD_EXP_DET_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(PD_EXP_DET_LN2_LO)));
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 120));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 24));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 6));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

AVX2 static double exp_sum_avx2(const float *x, float scale, float shift, float *out, size_t n) {
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int h = 0; h < 2; h++) {
            __m256 e = exp_det8(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), sc), sh));
            if (out) _mm256_storeu_ps(out + i + 8 * h, e);
            a[2 * h] = _mm256_add_pd(a[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            a[2 * h + 1] = _mm256_add_pd(a[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        }
    double lanes[16];
    for (int q = 0; q < 4; q++) _mm256_storeu_pd(lanes + 4 * q, a[q]);
    return pd_exp_sum_finish(lanes, x, scale, shift, out, i, n);
}

static const pd_kernel_ops avx2_ops = {
    .name = "avx2", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = dot_avx2, .dot_w = dot_w_avx2, .to_f32 = to_f32_avx2, .axpy = axpy_avx2, .tile = tile_avx2,
    .reduce4 = reduce4_avx2, .axpy_rows = axpy_rows_avx2, .mm_panels = mm_panels_avx2, .panel_dot = panel_dot_avx2,
    .silu_mul = silu_mul_avx2, .softmax = softmax_avx2, .exp_sum = exp_sum_avx2,
};

const pd_kernel_ops *pd_kernels_avx2(void) {
    __builtin_cpu_init();
    unsigned a, b, c, d;
    /* F16C is CPUID.1:ECX bit 29 (not every compiler's __builtin_cpu_supports knows it) */
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) return &avx2_ops;
    return NULL;
}
#else
const pd_kernel_ops *pd_kernels_avx2(void) { return NULL; }
void pd_avx2_exp(const float *x, float *y, int n) { /* never called: there is no AVX2 set */
    for (int i = 0; i < n; i++) y[i] = expf(x[i]);
}
#endif
