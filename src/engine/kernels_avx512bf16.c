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
 * does ~0.55x the multiply-adds of the fp32 tile (docs/PERFORMANCE.md). So this set is
 * chosen only when asked for (PONDER_KERNELS=avx512bf16, PD_KERNELS_AVX512BF16); F32 and
 * F16 weights, attention and everything but bf16 weight products run the AVX-512 set's
 * fp32 kernels unchanged.
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
 * by every activation row); the next group of rows is prefetched while one is in flight. */
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

static const pd_kernel_ops avx512bf16_ops = {
    .name = "avx512bf16", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = pd_avx512_dot, .dot_w = dot_w_avx512bf16, .to_f32 = pd_avx512_to_f32, .axpy = pd_avx512_axpy,
    .tile = tile_avx512bf16, .reduce4 = pd_avx512_reduce4,
    .round_bf16 = round_bf16_avx512bf16, .tile_bf16 = tile_bf16_avx512bf16,
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
