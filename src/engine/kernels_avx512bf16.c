/* kernels_avx512bf16.c — the AVX512-BF16 kernel set: bf16 weights times bf16 activations.
 *
 * `vdpbf16ps` multiplies 32 bf16 pairs and adds each pair of products into one of 16 fp32
 * lanes: twice the multiply-adds of an fp32 FMA per instruction, and bf16 weights need no
 * conversion at all. The price is that the activations are rounded to bf16 (round to nearest
 * even) before they are multiplied, as llama.cpp does for bf16 models: a dot product then
 * differs from the fp32 sets by up to ~2^-9 of sum |w x| (tests/test_forward_kernels.c and
 * docs/PERFORMANCE.md measure it). Whether it pays depends on the CPU: where vdpbf16ps
 * issues as often as an FMA (AMD Zen 4) it doubles the multiply-adds per cycle, but on the
 * Intel Xeon this was written on it issues about a quarter as often as an FMA, so its tile
 * does ~0.55x the multiply-adds of the fp32 tile (docs/PERFORMANCE.md). So this set runs
 * only in bf16 precision (model.h: PD_PRECISION_BF16), chosen automatically on AMD CPUs
 * (model.c) or asked for (PONDER_KERNELS=avx512bf16); elsewhere bf16 precision runs on the
 * fp32 sets, the forward pass rounding their inputs, with the same products. F32 and F16
 * weights, attention and everything but bf16 weight products run the AVX-512 set's fp32
 * kernels unchanged.
 *
 * The summation order for bf16 weights (kernels.h: tile_bf16): elements 2p and 2p + 1 go to
 * lane p % 16 together, in increasing p, by one vdpbf16ps; lanes reduce by pd_kernel_reduce.
 * Every path (dot_w, the tile on fp32 activations rounded in registers, the tile on
 * activations rounded once per matmul by round_bf16) issues the same instructions on the same
 * bf16 values, so a row's result never depends on its batch, here as in the other sets.
 *
 * The tile is 4 weight rows x up to 6 activation rows, as in the AVX-512 set: 24 accumulators,
 * 4 weight vectors and one activation vector in registers; per 32 elements 24 vdpbf16ps
 * against 10 loads. Weights stream from memory (decode) or from L2 (a block of 16 rows reused
 * by every activation row); the next group of rows is prefetched while one is in flight.
 *
 * Panels (kernels.h: mm_panels, what the forward pass runs; see "panels" below): with panels,
 * an output of BF16 weights is instead one lane's chain of vdpbf16ps over the pairs of k
 * (k, k + 1), k = 0, 2, 4, ... in increasing order, from zero, then + bias, with no
 * reduction: each step adds w[k + 1] bf16(x[k + 1]) and then w[k] bf16(x[k]) to the lane,
 * each product exact and each addition rounded to nearest even, subnormals flushed (as
 * measured, Intel's SDM order; tests/test_panels.c holds a scalar model of it), an odd K's
 * last k paired with zero. The same bits whatever T, the panel range or the tile; panel_dot
 * gives that chain too. F32 and F16 weights take the AVX-512 set's panels (fp32 chains). */
#include "engine/kernels.h"

#include <stddef.h>
#include <string.h>

#include "model/safetensors.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__clang__) || __GNUC__ >= 10)
#include <immintrin.h>

#include "engine/avx512_inl.h"

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define LANES 16
#define STEP 32 /* bf16 elements per vector: two per lane */
#define MR 4
#define NR 6

/* Mask of the first n (< 32) 16-bit elements. */
static inline __mmask32 tail_mask(int n) { return (__mmask32)((1u << n) - 1); }

/* fp32 elements [i, i + 32) rounded to bf16, in order. */
BF16 INLINE __m512bh round32(const float *x, size_t i) {
    return _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
}

/* The same for the last partial vector of n < 32 elements: the rest are zero (and not read). */
BF16 INLINE __m512bh round32_tail(const float *x, size_t i, int n) {
    __mmask16 lo = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1), hi = (__mmask16)(n > 16 ? (1u << (n - 16)) - 1 : 0);
    return _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + i + 16), _mm512_maskz_loadu_ps(lo, x + i));
}

/* 32 stored bf16 elements from element i (as a vector of bf16 pairs). */
BF16 INLINE __m512bh load_bh(const void *p, size_t i) { return (__m512bh)_mm512_loadu_si512((const uint16_t *)p + i); }

BF16 INLINE __m512bh load_bh_tail(const void *p, size_t i, int n) {
    return (__m512bh)_mm512_maskz_loadu_epi16(tail_mask(n), (const uint16_t *)p + i);
}

/* x rounded to bf16: dst[i] = bf16(x[i]), round to nearest even (what the tiles multiply). */
BF16 static void round_bf16_avx512bf16(const float *x, uint16_t *dst, int n) {
    int i = 0;
    for (; i + STEP <= n; i += STEP) _mm512_storeu_si512(dst + i, (__m512i)round32(x, (size_t)i));
    if (i < n) _mm512_mask_storeu_epi16(dst + i, tail_mask(n - i), (__m512i)round32_tail(x, (size_t)i, n - i));
}

/* sum_i w[i] * bf16(x[i]) for bf16 w, in the set's order. */
BF16 static float dot_bf16(const void *w, const float *x, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + STEP <= n; i += STEP) s = _mm512_dpbf16_ps(s, round32(x, (size_t)i), load_bh(w, (size_t)i));
    if (i < n) s = _mm512_dpbf16_ps(s, round32_tail(x, (size_t)i, n - i), load_bh_tail(w, (size_t)i, n - i));
    return pd_avx512_hsum16(s);
}

BF16 static float dot_w_avx512bf16(const void *w, int dt, const float *x, int n) {
    if (dt == PD_DT_BF16) return dot_bf16(w, x, n);
    return pd_avx512_dot_w(w, dt, x, n);
}

/* The tile for a fixed activation-row count NX: x holds bf16 rows (PACKED, from round_bf16)
 * or fp32 rows rounded here, each activation vector once per 32 elements, the same bits. */
BF16 INLINE void tile_gen(const int NX, const int PACKED, const void *const *w, const void *x, size_t ldx, int k0, int k1,
                          float *acc, int first) {
    __m512 c[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) c[i][j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + (i * NR + j) * LANES);
    /* the next group of MR rows (contiguous after this one), one line per row per step */
    const ptrdiff_t ahead = MR * ((const char *)w[1] - (const char *)w[0]);
    int k = k0;
    for (; k + STEP <= k1; k += STEP) {
        __m512bh wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            wv[i] = load_bh(w[i], (size_t)k);
            _mm_prefetch((const char *)w[i] + (size_t)k * 2 + ahead, _MM_HINT_T0);
        }
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m512bh xv = PACKED ? load_bh((const uint16_t *)x + j * ldx, (size_t)k) : round32((const float *)x + j * ldx, (size_t)k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm512_dpbf16_ps(c[i][j], xv, wv[i]);
        }
    }
    if (k < k1) {
        __m512bh wv[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) wv[i] = load_bh_tail(w[i], (size_t)k, k1 - k);
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) {
            __m512bh xv = PACKED ? load_bh_tail((const uint16_t *)x + j * ldx, (size_t)k, k1 - k)
                                 : round32_tail((const float *)x + j * ldx, (size_t)k, k1 - k);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) c[i][j] = _mm512_dpbf16_ps(c[i][j], xv, wv[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < NX; j++) _mm512_storeu_ps(acc + (i * NR + j) * LANES, c[i][j]);
}

/* One specialised tile per (activation form, activation rows). */
#define TILE_FN(NAME, PACKED, NX)                                                                                   \
    BF16 static void NAME##_##NX(const void *const *w, const void *x, size_t ldx, int k0, int k1, float *acc,      \
                                 int first) {                                                                      \
        tile_gen(NX, PACKED, w, x, ldx, k0, k1, acc, first);                                                       \
    }
#define TILE_FNS(NAME, PACKED) \
    TILE_FN(NAME, PACKED, 1) TILE_FN(NAME, PACKED, 2) TILE_FN(NAME, PACKED, 3) TILE_FN(NAME, PACKED, 4) TILE_FN(NAME, PACKED, 5) TILE_FN(NAME, PACKED, 6)
TILE_FNS(tile_packed, 1)
TILE_FNS(tile_round, 0)

typedef void (*tile_fn)(const void *const *, const void *, size_t, int, int, float *, int);
static const tile_fn tiles_packed[NR] = {tile_packed_1, tile_packed_2, tile_packed_3, tile_packed_4, tile_packed_5, tile_packed_6};
static const tile_fn tiles_round[NR] = {tile_round_1, tile_round_2, tile_round_3, tile_round_4, tile_round_5, tile_round_6};

/* The contract's tile on fp32 activations: bf16 weights go through bf16 products (activations
 * rounded in registers), F32 and F16 weights through the AVX-512 set's fp32 tile. */
static void tile_avx512bf16(int nx, const void *const *w, int dt, const float *x, size_t ldx, int k0, int k1, float *acc,
                            int first) {
    if (dt == PD_DT_BF16) tiles_round[nx - 1](w, x, ldx, k0, k1, acc, first);
    else pd_avx512_tile(nx, w, dt, x, ldx, k0, k1, acc, first);
}

static void tile_bf16_avx512bf16(int nx, const void *const *w, const uint16_t *x, size_t ldx, int k0, int k1, float *acc,
                                 int first) {
    tiles_packed[nx - 1](w, x, ldx, k0, k1, acc, first);
}

/* ---- panels: weights packed [cols][16] per 16 outputs (kernels.h) ----
 *
 * The AVX-512 set's outer-product form with vdpbf16ps: per pair of k (k, k + 1), each panel's
 * 16 outputs take (w[o][k], w[o][k + 1]) in lane o, each activation row its pair (bf16(x[k]),
 * bf16(x[k + 1])) broadcast to all lanes, and one vdpbf16ps adds both products into every
 * output's lane: one chain per output, over the pairs in increasing order, and no reduction.
 * The packed layout holds element k of the 16 outputs in 32 bytes, so the pair's two rows are
 * 64 contiguous bytes, [k: o0 .. o15][k + 1: o0 .. o15]; one vpermw (a fixed index, one
 * instruction on the whole register) interleaves them into the pairs. The alternatives cost
 * more: unpacklo/hi work within 128-bit lanes, so they need a cross-lane permute as well;
 * widening both rows to 32 bits and merging them is three instructions. An odd K's last k
 * loads its 32 bytes alone (masked), so it pairs with zero, as does its activation.
 *
 * The activations are rounded to bf16 once per call (round_bf16's instructions, so the same
 * bits), into scratch as rows of pairs, in chunks of as many rows as scratch holds (at least
 * 64: PD_PANEL_SCRATCH is 256 bytes per column, a row of pairs at most 4); a tile then
 * broadcasts each pair straight from memory (vbroadcastss, a load), where rounding in
 * registers would cost a convert and a shuffle per row and pair against NP multiply-adds.
 * Tiles, as in the AVX-512 set: 8, 4, 2 or 1 panels x T rows for decode (T <= 2, weights
 * streamed from memory), 4 panels x 6 rows otherwise (24 accumulators, 4 weight loads and
 * permutes and 6 broadcasts per 24 vdpbf16ps). They differ only in how many chains run at
 * once, so an output is the same bits whatever T, the panel range or the tile. */

/* vpermw index: lane o of the result takes elements o (k) and 16 + o (k + 1). */
#define PAIR_IDX(o) 16 + (o), (o) /* _mm512_set_epi16 lists elements from the highest */

/* The pairs of k = 2q, 2q + 1 of a panel (p: its first element); LAST: k = 2q is the last
 * column (odd K), paired with zero. */
BF16 INLINE __m512bh panel_pairs(const void *p, size_t q, int last) {
    const __m512i idx = _mm512_set_epi16(PAIR_IDX(15), PAIR_IDX(14), PAIR_IDX(13), PAIR_IDX(12), PAIR_IDX(11), PAIR_IDX(10),
                                         PAIR_IDX(9), PAIR_IDX(8), PAIR_IDX(7), PAIR_IDX(6), PAIR_IDX(5), PAIR_IDX(4),
                                         PAIR_IDX(3), PAIR_IDX(2), PAIR_IDX(1), PAIR_IDX(0));
    const uint16_t *s = (const uint16_t *)p + 32 * q;
    __m512i v = last ? _mm512_maskz_loadu_epi16((__mmask32)0xffff, s) : _mm512_loadu_si512(s);
    return (__m512bh)_mm512_permutexvar_epi16(idx, v);
}

/* One pair q of the tile below: NP panels' pairs times NX broadcast activation pairs into c. */
BF16 INLINE void ptile_q(const int NP, const int NX, const char *const *wp, const float *xp, size_t ldp, size_t q, int last,
                         __m512 *c) {
    __m512bh wv[8];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) wv[p] = panel_pairs(wp[p], q, last);
#pragma GCC unroll 6
    for (int j = 0; j < NX; j++) {
        __m512bh xb = (__m512bh)_mm512_set1_ps(xp[(size_t)j * ldp + q]); /* the pair's 32 bits, moved as they are */
#pragma GCC unroll 8
        for (int p = 0; p < NP; p++) c[j * NP + p] = _mm512_dpbf16_ps(c[j * NP + p], xb, wv[p]);
    }
}

/* The tile: NP panels (w, ps elements apart) x NX rows of activation pairs (xp, ldp pairs
 * apart) over the K columns, lanes from zero; stored (+ bias) into rows yr[j] at columns
 * col ..; the last panel's lanes from nlast on are not written. */
BF16 INLINE void ptile(const int NP, const int NX, const void *w, size_t ps, const float *xp, size_t ldp, int K,
                       float *const *yr, int col, int nlast, const float *bias) {
    __m512 c[24]; /* c[j * NP + p]; fixed size so that they stay in registers */
    const char *wp[8];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) wp[p] = (const char *)w + (size_t)p * ps * 2;
#pragma GCC unroll 24
    for (int i = 0; i < NX * NP; i++) c[i] = _mm512_setzero_ps();
    const size_t nq = (size_t)K / 2;
#pragma GCC unroll 2
    for (size_t q = 0; q < nq; q++) ptile_q(NP, NX, wp, xp, ldp, q, 0, c);
    if (K & 1) ptile_q(NP, NX, wp, xp, ldp, nq, 1, c);
    pd_avx512_store_tile(NP, NX, c, yr, col, nlast, bias);
}

typedef void (*ptile_fn)(const void *w, size_t ps, const float *xp, size_t ldp, int K, float *const *yr, int col, int nlast,
                         const float *bias);
#define PTILE_FN(NP, NX)                                                                                          \
    BF16 static void ptile_##NP##_##NX(const void *w, size_t ps, const float *xp, size_t ldp, int K, float *const *yr, \
                                       int col, int nlast, const float *bias) {                                   \
        ptile(NP, NX, w, ps, xp, ldp, K, yr, col, nlast, bias);                                                   \
    }
/* 8, 4, 2 or 1 panels x 1 or 2 rows (decode); 4 or 1 panels x 3 .. 6 rows */
PTILE_FN(8, 1) PTILE_FN(8, 2) PTILE_FN(4, 1) PTILE_FN(4, 2) PTILE_FN(2, 1) PTILE_FN(2, 2) PTILE_FN(1, 1) PTILE_FN(1, 2)
PTILE_FN(4, 3) PTILE_FN(4, 4) PTILE_FN(4, 5) PTILE_FN(4, 6) PTILE_FN(1, 3) PTILE_FN(1, 4) PTILE_FN(1, 5) PTILE_FN(1, 6)
/* [8, 4, 2, 1 panels][rows - 1] */
static const ptile_fn pt_dec[4][2] = {{ptile_8_1, ptile_8_2}, {ptile_4_1, ptile_4_2}, {ptile_2_1, ptile_2_2}, {ptile_1_1, ptile_1_2}};
/* [4, 1 panels][rows - 1] */
static const ptile_fn pt_nar[2][6] = {{ptile_4_1, ptile_4_2, ptile_4_3, ptile_4_4, ptile_4_5, ptile_4_6},
                                      {ptile_1_1, ptile_1_2, ptile_1_3, ptile_1_4, ptile_1_5, ptile_1_6}};

/* Row x of K columns as bf16 pairs into dst (ceil(K / 2) pairs, an odd K's last paired with zero). */
BF16 static void round_pairs(const float *x, int K, float *dst) {
    uint16_t *d = (uint16_t *)dst;
    const int n = (K + 1) & ~1;
    int i = 0;
    for (; i + STEP <= K; i += STEP) _mm512_storeu_si512(d + i, (__m512i)round32(x, (size_t)i));
    if (i < K) _mm512_mask_storeu_epi16(d + i, (__mmask32)(((uint64_t)1 << (n - i)) - 1), (__m512i)round32_tail(x, (size_t)i, K - i));
}

/* mm_panels for BF16 weights: activations rounded into scratch a chunk of rows at a time, or,
 * for an even K, read as the caller rounded them (a->xb: the same values, the same pairs). */
BF16 static void mm_panels_bf16(const pd_mm *a, int p0, int p1, float *scratch) {
    const int K = a->cols, last_panel = (a->rows - 1) / 16, nlast_rows = a->rows - 16 * last_panel;
    const size_t T = a->T, ldp = (size_t)(K + 1) / 2, pe = 16 * (size_t)K; /* pairs per row, elements per panel */
    const int given = a->xb && !(K & 1);
    const size_t chunk = given ? T : PD_PANEL_SCRATCH(K) / ldp;
    const uint16_t *w0 = a->w;
    float *yr[6];
    for (size_t c0 = 0; c0 < T; c0 += chunk) {
        const size_t nc = T - c0 < chunk ? T - c0 : chunk;
        /* rows of pairs, their 32 bits as round_pairs writes them */
        const float *xp = given ? (const float *)(const void *)a->xb : scratch;
        if (!given)
            for (size_t t = 0; t < nc; t++) round_pairs(a->x + (c0 + t) * (size_t)K, K, scratch + t * ldp);
        if (T <= 2) {
            pd_mm_out_rows(a, 0, (int)T, yr);
            for (int p = p0; p < p1;) {
                int np = p1 - p >= 8 ? 8 : p1 - p >= 4 ? 4 : p1 - p >= 2 ? 2 : 1, ni = np == 8 ? 0 : np == 4 ? 1 : np == 2 ? 2 : 3;
                int nl = p + np - 1 == last_panel ? nlast_rows : 16;
                pt_dec[ni][T - 1](w0 + (size_t)p * pe, pe, xp, ldp, K, yr, 16 * p, nl, a->bias);
                p += np;
            }
            continue;
        }
        for (int p = p0; p < p1;) {
            int np = p1 - p >= 4 ? 4 : 1, nl = p + np - 1 == last_panel ? nlast_rows : 16;
            for (size_t t0 = 0; t0 < nc; t0 += 6) {
                int nx = nc - t0 < 6 ? (int)(nc - t0) : 6;
                pd_mm_out_rows(a, c0 + t0, nx, yr);
                pt_nar[np == 4 ? 0 : 1][nx - 1](w0 + (size_t)p * pe, pe, xp + t0 * ldp, ldp, K, yr, 16 * p, nl, a->bias);
            }
            p += np;
        }
    }
}

/* F32 and F16 weights take the AVX-512 set's fp32 panels (this set's contract leaves them fp32). */
static void mm_panels_avx512bf16(const pd_mm *a, int p0, int p1, float *scratch) {
    if (a->dtype == PD_DT_BF16) mm_panels_bf16(a, p0, p1, scratch);
    else pd_avx512_mm_panels(a, p0, p1, scratch);
}

/* Output `row` of packed BF16 weights against one fp32 row: the 1 x 1 tile's chain, with the
 * activations rounded in registers (32 at a time, each pair then broadcast by a vpermd), so
 * no buffer is needed; the same pairs through the same vdpbf16ps chain as mm_panels. */
BF16 static float panel_dot_bf16(const void *w, int K, int row, const float *x) {
    const uint16_t *p = (const uint16_t *)w + (size_t)(row / 16) * 16 * (size_t)K;
    __m512 c = _mm512_setzero_ps();
    int k = 0;
    for (; k + STEP <= K; k += STEP) {
        __m512i xv = (__m512i)round32(x, (size_t)k);
        for (int q = 0; q < 16; q++)
            c = _mm512_dpbf16_ps(c, (__m512bh)_mm512_permutexvar_epi32(_mm512_set1_epi32(q), xv), panel_pairs(p, (size_t)k / 2 + q, 0));
    }
    if (k < K) {
        __m512i xv = (__m512i)round32_tail(x, (size_t)k, K - k);
        for (int q = 0; 2 * q < K - k; q++)
            c = _mm512_dpbf16_ps(c, (__m512bh)_mm512_permutexvar_epi32(_mm512_set1_epi32(q), xv),
                                 panel_pairs(p, (size_t)k / 2 + q, k + 2 * q + 1 == K));
    }
    float out[16];
    _mm512_storeu_ps(out, c);
    return out[row % 16];
}

static float panel_dot_avx512bf16(const void *w, int dt, int cols, int row, const float *x) {
    if (dt == PD_DT_BF16) return panel_dot_bf16(w, cols, row, x);
    return pd_avx512_panel_dot(w, dt, cols, row, x);
}

static const pd_kernel_ops avx512bf16_ops = {
    .name = "avx512bf16", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = pd_avx512_dot, .dot_w = dot_w_avx512bf16, .to_f32 = pd_avx512_to_f32, .axpy = pd_avx512_axpy,
    .tile = tile_avx512bf16, .reduce4 = pd_avx512_reduce4, .axpy_rows = pd_avx512_axpy_rows,
    .round_bf16 = round_bf16_avx512bf16, .tile_bf16 = tile_bf16_avx512bf16,
    .mm_panels = mm_panels_avx512bf16, .panel_dot = panel_dot_avx512bf16,
    .silu_mul = pd_avx512_silu_mul, .softmax = pd_avx512_softmax, .exp_sum = pd_avx512_exp_sum,
};

const pd_kernel_ops *pd_kernels_avx512bf16(void) {
    __builtin_cpu_init();
    if (pd_kernels_avx512() && __builtin_cpu_supports("avx512bf16")) return &avx512bf16_ops;
    return NULL;
}
#else
const pd_kernel_ops *pd_kernels_avx512bf16(void) { return NULL; }
#endif
