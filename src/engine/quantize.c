/* quantize.c — fp32 rows into GGUF's tensor formats: the inverse of quant.c's dequantizers.
 *
 * `ponder quantize` (src/model/gguf_convert.c) writes every weight matrix through
 * pd_quantize_row. The block layouts are ggml's (quant.c's top comment spells them out; the
 * dequantizers there are the definition this file is tested against). How the integers and
 * scales are chosen is not part of a format; here:
 *
 *   F32, F16, BF16  plain conversion, halves rounded to nearest even (as ggml and numpy).
 *   Q8_0   d = max|x| / 127, q = round(x / d) (half away from zero): ggml's and gguf-py's rule,
 *          so these bytes are the ones llama.cpp's converter writes.
 *   Q4_0, Q5_0  the value of largest magnitude v maps to the most negative integer
 *          (d = v / -8, v / -16), the others to the nearest level, clamped at the top.
 *   Q4_1, Q5_1  d = (max - min) / (levels - 1), m = min, q = nearest level.
 *   Q4_K, Q5_K  per sub-block of 32 a weighted least-squares fit of x ~ s q - m (s, m >= 0)
 *          over a few candidate grids (fit_affine); the eight (s, m) are then rounded to 6 bits
 *          against the block's d and dmin, and the values rounded again on the final grid.
 *   Q6_K   per sub-block of 16 a weighted least-squares fit of x ~ s q, q in [-32, 31]
 *          (fit_signed); the sixteen s rounded to int8 against the block's d, the values
 *          rounded again on the final grid.
 * The K-quant fits weigh each value by its size (large weights matter more to a matmul), so
 * these bytes differ from llama-quantize's search but decode in every reader. Everything is a
 * pure function of the input: the same row always gives the same bytes. */
#include "engine/quant.h"

#include <math.h>
#include <string.h>

#include "model/gguf.h"

/* ---- halves ---- */

uint16_t pd_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00 | (uint16_t)((a >> 13) & 0x3ff); /* NaN, kept quiet */
    if (a >= 0x38800000u) {                                                     /* a normal half, or too large */
        uint32_t r = a - 0x38000000u;                                           /* exponent bias 127 -> 15 */
        r = (r + 0xfffu + ((r >> 13) & 1)) >> 13;                               /* round the mantissa to nearest even */
        return sign | (uint16_t)(r >= 0x7c00 ? 0x7c00 : r);                     /* past 65504: infinity */
    }
    /* a subnormal half: units of 2^-24 (the product is exact; lrintf rounds to nearest even,
     * and 1024 is the smallest normal's encoding) */
    return sign | (uint16_t)lrintf(fabsf(f) * 0x1p24f);
}

static inline void put_f16(uint8_t *p, float f) {
    uint16_t h = pd_f32_to_f16(f);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}
static inline float f16_round(float f) { return pd_f16_to_f32(pd_f32_to_f16(f)); }

/* ---- 32-value blocks ---- */

static void q8_0_block(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* The first value of largest magnitude (its sign matters). */
static float max_mag(const float *x, int n) {
    float amax = 0.0f, v = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), v = x[j];
    return v;
}

/* The 32 levels of a 32-value block after its scale(s): for 5 bits first the fifth bits as a
 * little-endian 32-bit mask, then the low nibbles, element j and j + 16 sharing a byte. */
static void pack_q32(const uint8_t q[32], uint8_t *out, int bits) {
    if (bits == 5) {
        uint32_t qh = 0;
        for (int j = 0; j < 32; j++) qh |= (uint32_t)(q[j] >> 4) << j;
        for (int k = 0; k < 4; k++) out[k] = (uint8_t)(qh >> (8 * k));
        out += 4;
    }
    for (int j = 0; j < 16; j++) out[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
}

/* Q4_0 (bits 4) and Q5_0 (bits 5): levels q - 2^(bits-1), v -> the lowest. */
static void q_0_block(const float *x, uint8_t *b, int bits) {
    int half = 1 << (bits - 1), top = 2 * half - 1;
    float d = max_mag(x, 32) / (float)-half, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(x[j] * id + ((float)half + 0.5f)); /* >= 0.5 for finite x: truncation rounds */
        q[j] = (uint8_t)(v < 0 ? 0 : v > top ? top : v);
    }
    pack_q32(q, b + 2, bits);
}

/* Q4_1 (bits 4) and Q5_1 (bits 5): w = d q + m. */
static void q_1_block(const float *x, uint8_t *b, int bits) {
    int top = (1 << bits) - 1;
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) lo = fminf(lo, x[j]), hi = fmaxf(hi, x[j]);
    float d = (hi - lo) / (float)top, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    put_f16(b + 2, lo);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)((x[j] - lo) * id + 0.5f);
        q[j] = (uint8_t)(v < 0 ? 0 : v > top ? top : v);
    }
    pack_q32(q, b + 4, bits);
}

/* ---- K-quant fits ---- */

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fit x[i] ~ s q[i] - m with q[i] in [0, top], s >= 0, m >= 0, minimising sum w (s q - m - x)^2.
 * Candidate grids stretch the range [min(x, 0), max(x)] over top - 1 ... top + 1 steps; each
 * grid's integers get the least-squares (s, m) (m clamped at 0, since the format subtracts a
 * non-negative min). Writes the best q, returns s and *m. */
static float fit_affine(const float *x, const float *w, int n, int top, uint8_t *q, float *m) {
    float lo = 0.0f, hi = x[0], sw = 0.0f, swx = 0.0f;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
        sw += w[i], swx += w[i] * x[i];
    }
    if (hi <= lo) { /* every value is lo <= 0 */
        memset(q, 0, (size_t)n);
        *m = -lo;
        return 0.0f;
    }
    float best_s = (hi - lo) / (float)top, best_b = lo, best_err = INFINITY;
    uint8_t cand[32];
    for (int k = -10; k <= 10; k++) {
        float is = ((float)top + 0.1f * (float)k) / (hi - lo);
        float sl = 0.0f, sll = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi((int)lrintf(is * (x[i] - lo)), 0, top);
            cand[i] = (uint8_t)l;
            sl += w[i] * (float)l, sll += w[i] * (float)(l * l), sxl += w[i] * (float)l * x[i];
        }
        float det = sw * sll - sl * sl, s, b;
        if (!(det > 0.0f)) continue;
        s = (sw * sxl - swx * sl) / det;
        b = (sll * swx - sl * sxl) / det;
        if (b > 0.0f) b = 0.0f, s = sxl / sll;
        if (!(s >= 0.0f)) continue;
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float e = s * (float)cand[i] + b - x[i];
            err += w[i] * e * e;
        }
        if (err < best_err) best_err = err, best_s = s, best_b = b, memcpy(q, cand, (size_t)n);
    }
    if (best_err == INFINITY) /* no grid gave a fit: the plain one */
        for (int i = 0; i < n; i++) q[i] = (uint8_t)clampi((int)lrintf((x[i] - lo) / best_s), 0, top);
    *m = -best_b;
    return best_s;
}

/* Fit x[i] ~ s q[i] with q[i] in [-32, 31], minimising sum w (s q - x)^2: candidate grids put
 * the value of largest magnitude near -32 (the side with one more level). Returns s (its sign
 * is the largest value's opposite; 0 for an all-zero sub-block). */
static float fit_signed(const float *x, const float *w, int n) {
    float v = max_mag(x, n);
    if (v == 0.0f) return 0.0f;
    float best_s = v / -32.0f, best_err = INFINITY;
    for (int k = -8; k <= 8; k++) {
        float is = -(32.0f + 0.1f * (float)k) / v, sxl = 0.0f, sll = 0.0f;
        int l[16];
        for (int i = 0; i < n; i++) {
            l[i] = clampi((int)lrintf(is * x[i]), -32, 31);
            sxl += w[i] * (float)l[i] * x[i], sll += w[i] * (float)(l[i] * l[i]);
        }
        if (!(sll > 0.0f)) continue;
        float s = sxl / sll, err = 0.0f;
        for (int i = 0; i < n; i++) {
            float e = s * (float)l[i] - x[i];
            err += w[i] * e * e;
        }
        if (err < best_err) best_err = err, best_s = s;
    }
    return best_s;
}

/* Q4_K (five 0) and Q5_K (five 1): 256 values, eight sub-blocks of 32. */
static void k45_block(const float *x, uint8_t *b, int five) {
    int top = five ? 31 : 15;
    float s[8], m[8], w[32], smax = 0.0f, mmax = 0.0f;
    uint8_t q[256];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float ss = 0.0f;
        for (int i = 0; i < 32; i++) ss += xs[i] * xs[i];
        float rms = sqrtf(ss / 32.0f);
        for (int i = 0; i < 32; i++) w[i] = rms + fabsf(xs[i]);
        s[j] = fit_affine(xs, w, 32, top, q + 32 * j, &m[j]);
        smax = fmaxf(smax, s[j]), mmax = fmaxf(mmax, m[j]);
    }
    /* the 6-bit scales and mins against d = smax / 63, dmin = mmax / 63 */
    uint8_t *sc = b + 4;
    memset(sc, 0, 12);
    float is = smax > 0.0f ? 63.0f / smax : 0.0f, im = mmax > 0.0f ? 63.0f / mmax : 0.0f;
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = clampi((int)lrintf(is * s[j]), 0, 63);
        lm[j] = clampi((int)lrintf(im * m[j]), 0, 63);
        if (j < 4) {
            sc[j] = (uint8_t)ls[j];
            sc[j + 4] = (uint8_t)lm[j];
        } else {
            sc[j + 4] = (uint8_t)((ls[j] & 0xf) | (lm[j] & 0xf) << 4);
            sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    put_f16(b, smax / 63.0f);
    put_f16(b + 2, mmax / 63.0f);
    /* the values again, on the grid the decoder will use */
    float d = f16_round(smax / 63.0f), dmin = f16_round(mmax / 63.0f);
    for (int j = 0; j < 8; j++) {
        float ds = d * (float)ls[j], dm = dmin * (float)lm[j];
        for (int i = 0; i < 32; i++)
            q[32 * j + i] = ds > 0.0f ? (uint8_t)clampi((int)lrintf((x[32 * j + i] + dm) / ds), 0, top) : 0;
    }
    uint8_t *qh = five ? b + 16 : NULL, *qs = five ? b + 48 : b + 16;
    if (qh) memset(qh, 0, 32);
    for (int j = 0; j < 4; j++) /* 64 values per 32 bytes: sub-block 2j low nibbles, 2j + 1 high */
        for (int l = 0; l < 32; l++) {
            int lo = q[64 * j + l], hi = q[64 * j + 32 + l];
            qs[32 * j + l] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
            if (qh) qh[l] |= (uint8_t)(((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1)));
        }
}

/* Q6_K: 256 values, sixteen sub-blocks of 16. */
static void q6_k_block(const float *x, uint8_t *b) {
    float s[16], w[16], smax = 0.0f;
    for (int j = 0; j < 16; j++) {
        for (int i = 0; i < 16; i++) w[i] = x[16 * j + i] * x[16 * j + i];
        s[j] = fit_signed(x + 16 * j, w, 16);
        if (fabsf(s[j]) > fabsf(smax)) smax = s[j];
    }
    /* int8 scales: the largest |s| maps to -128 */
    float d = smax / -128.0f, id = smax != 0.0f ? -128.0f / smax : 0.0f;
    int8_t *sc = (int8_t *)(b + 192);
    for (int j = 0; j < 16; j++) sc[j] = (int8_t)clampi((int)lrintf(id * s[j]), -128, 127);
    put_f16(b + 208, d);
    float dr = f16_round(d);
    uint8_t q[256];
    for (int j = 0; j < 16; j++) {
        float ds = dr * (float)sc[j];
        for (int i = 0; i < 16; i++)
            q[16 * j + i] = (uint8_t)(ds != 0.0f ? clampi((int)lrintf(x[16 * j + i] / ds), -32, 31) + 32 : 32);
    }
    uint8_t *ql = b, *qh = b + 128;
    memset(qh, 0, 64);
    for (int h = 0; h < 2; h++) /* 128 values per 64 bytes of ql and 32 of qh */
        for (int l = 0; l < 32; l++) {
            const uint8_t *v = q + 128 * h;
            ql[64 * h + l] = (uint8_t)((v[l] & 0xf) | (v[l + 64] & 0xf) << 4);
            ql[64 * h + l + 32] = (uint8_t)((v[l + 32] & 0xf) | (v[l + 96] & 0xf) << 4);
            qh[32 * h + l] = (uint8_t)((v[l] >> 4) | (v[l + 32] >> 4) << 2 | (v[l + 64] >> 4) << 4 | (v[l + 96] >> 4) << 6);
        }
}

/* ---- rows ---- */

int pd_quantize_supported(int t) {
    switch (t) {
    case PD_GGML_F32: case PD_GGML_F16: case PD_GGML_BF16: case PD_GGML_Q8_0: case PD_GGML_Q4_0: case PD_GGML_Q4_1:
    case PD_GGML_Q5_0: case PD_GGML_Q5_1: case PD_GGML_Q4_K: case PD_GGML_Q5_K: case PD_GGML_Q6_K: return 1;
    default: return 0;
    }
}

size_t pd_quantize_row(int t, const float *x, void *dst, int n) {
    uint8_t *b = dst;
    size_t be = pd_ggml_block_elems(t), bb = pd_ggml_block_bytes(t);
    for (int i = 0; i < n; i += (int)be, x += be, b += bb) {
        switch (t) {
        case PD_GGML_F32: memcpy(b, x, 4); break;
        case PD_GGML_F16: {
            uint16_t h = pd_f32_to_f16(*x);
            b[0] = (uint8_t)h, b[1] = (uint8_t)(h >> 8);
            break;
        }
        case PD_GGML_BF16: {
            uint16_t h = pd_f32_to_bf16(*x);
            b[0] = (uint8_t)h, b[1] = (uint8_t)(h >> 8);
            break;
        }
        case PD_GGML_Q8_0: q8_0_block(x, b); break;
        case PD_GGML_Q4_0: q_0_block(x, b, 4); break;
        case PD_GGML_Q5_0: q_0_block(x, b, 5); break;
        case PD_GGML_Q4_1: q_1_block(x, b, 4); break;
        case PD_GGML_Q5_1: q_1_block(x, b, 5); break;
        case PD_GGML_Q4_K: k45_block(x, b, 0); break;
        case PD_GGML_Q5_K: k45_block(x, b, 1); break;
        case PD_GGML_Q6_K: q6_k_block(x, b); break;
        default: return 0;
        }
    }
    return (size_t)n / be * bb;
}
