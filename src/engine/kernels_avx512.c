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

static const pd_kernel_ops avx512_ops = {
    .name = "avx512", .lanes = LANES, .mr = MR, .nr = NR,
    .dot = pd_avx512_dot, .dot_w = pd_avx512_dot_w, .to_f32 = pd_avx512_to_f32, .axpy = pd_avx512_axpy,
    .tile = pd_avx512_tile, .reduce4 = pd_avx512_reduce4,
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
