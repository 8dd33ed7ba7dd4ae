/* model.c — a loaded model (weights + kernels + thread pool) and per-sequence KV caches.
 *
 * pd_model_load binds the weights (src/model/weights.c), picks the kernels (the widest set
 * the CPU runs, unless the caller or PONDER_KERNELS asks for another), starts the thread
 * pool and precomputes the RoPE frequencies, including Llama 3's "llama3" frequency
 * scaling. The forward workspace is grown lazily by forward.c.
 *
 * The KV cache is deliberately simple for now: per layer, one growable fp32 array of
 * (positions, kv_dim) for keys and one for values. It is opaque to callers, so the next
 * engine issue can swap it for reference-counted blocks shared between tree branches. */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RoPE inverse frequencies as transformers computes them (float32), with llama3 scaling. */
static void compute_inv_freq(const pd_model_config *c, float *inv) {
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)c->head_dim;
        inv[i] = 1.0f / powf((float)c->rope_theta, e);
    }
    if (!c->rope_llama3) return;
    float factor = (float)c->rope_factor, lo = (float)c->rope_low_freq_factor, hi = (float)c->rope_high_freq_factor;
    float old = (float)c->rope_original_max_positions;
    float low_wavelen = old / lo, high_wavelen = old / hi;
    for (int i = 0; i < half; i++) {
        float wavelen = 2.0f * (float)M_PI / inv[i];
        float f = wavelen > low_wavelen ? inv[i] / factor : inv[i];
        if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
            float smooth = (old / wavelen - lo) / (hi - lo);
            f = (1.0f - smooth) * f / factor + smooth * f;
        }
        inv[i] = f;
    }
}

/* The kernel set asked for (PONDER_KERNELS overrides AUTO: tests and benchmarks compare the
 * sets through it); an explicit set the CPU cannot run is an error. */
static int pick_kernels(pd_model *m, pd_kernels k, const char *dir, pd_error *err) {
    const char *env = getenv("PONDER_KERNELS");
    if (k == PD_KERNELS_AUTO && env && *env) {
        if (!strcmp(env, "portable")) k = PD_KERNELS_PORTABLE;
        else if (!strcmp(env, "avx2")) k = PD_KERNELS_AVX2;
        else if (!strcmp(env, "avx512")) k = PD_KERNELS_AVX512;
        else if (strcmp(env, "auto"))
            return pd_err_set(err, PD_EINVAL, "%s: PONDER_KERNELS=%s: expected portable, avx2, avx512 or auto", dir, env);
    }
    switch (k) {
    case PD_KERNELS_PORTABLE: m->ops = pd_kernels_portable(); break;
    case PD_KERNELS_AVX2: m->ops = pd_kernels_avx2(); break;
    case PD_KERNELS_AVX512: m->ops = pd_kernels_avx512(); break;
    default: m->ops = pd_kernels_best(); break;
    }
    if (!m->ops) return pd_err_set(err, PD_EINVAL, "%s: this CPU cannot run the %s kernels", dir, k == PD_KERNELS_AVX2 ? "avx2" : "avx512");
    return 0;
}

/* Load a model directory; see model.h. */
pd_model *pd_model_load(const char *dir, const pd_model_opts *opts, pd_error *err) {
    pd_model *m = calloc(1, sizeof *m);
    if (!m) {
        pd_err_set(err, PD_ENOMEM, "%s: out of memory", dir);
        return NULL;
    }
    if (pd_weights_load(dir, &m->w, err)) {
        free(m);
        return NULL;
    }
    const pd_model_config *c = &m->w.cfg;
    if (pick_kernels(m, opts ? opts->kernels : PD_KERNELS_AUTO, dir, err)) {
        pd_model_free(m);
        return NULL;
    }
    int nt = opts && opts->n_threads > 0 ? opts->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    m->n_threads = nt < 1 ? 1 : nt > 64 ? 64 : nt;
    size_t max_in = (size_t)c->hidden_size;
    size_t q_dim = (size_t)c->n_heads * (size_t)c->head_dim;
    if (q_dim > max_in) max_in = q_dim;
    if ((size_t)c->intermediate_size > max_in) max_in = (size_t)c->intermediate_size;
    m->scratch_per_thread = PD_ROW_BLOCK * max_in;
    m->inv_freq = malloc((size_t)(c->head_dim / 2) * sizeof *m->inv_freq);
    m->row_tmp = malloc(2 * (size_t)c->hidden_size * sizeof *m->row_tmp);
    m->scratch = malloc((size_t)m->n_threads * m->scratch_per_thread * sizeof *m->scratch);
    if (!m->inv_freq || !m->scratch || !m->row_tmp) {
        pd_err_set(err, PD_ENOMEM, "%s: out of memory", dir);
        pd_model_free(m);
        return NULL;
    }
    compute_inv_freq(c, m->inv_freq);
    if (m->w.rope_factors) /* a GGUF file's rope_freqs (Llama 3.1+ scaling, precomputed) */
        for (int i = 0; i < c->head_dim / 2; i++) m->inv_freq[i] /= m->w.rope_factors[i];
    if (!(m->pool = pd_pool_new(m->n_threads, err))) {
        pd_model_free(m);
        return NULL;
    }
    return m;
}

void pd_model_free(pd_model *m) {
    if (!m) return;
    pd_pool_free(m->pool);
    pd_weights_free(&m->w);
    free(m->inv_freq);
    free(m->scratch);
    free(m->row_tmp);
    free(m->x), free(m->xb), free(m->q), free(m->k), free(m->v), free(m->xo), free(m->hb), free(m->hb2), free(m->rope);
    free(m->row_seq), free(m->row_pos), free(m->out_rows), free(m->att);
    free(m);
}

const pd_model_config *pd_model_get_config(const pd_model *m) { return &m->w.cfg; }
size_t pd_model_n_params(const pd_model *m) { return m->w.n_params; }
const char *pd_model_kernels_name(const pd_model *m) { return m->ops->name; }
int pd_model_n_threads(const pd_model *m) { return m->n_threads; }

/* ---- KV cache ---- */

/* A new, empty cache for model m. */
pd_kv *pd_kv_new(const pd_model *m, pd_error *err) {
    pd_kv *kv = calloc(1, sizeof *kv);
    int L = m->w.cfg.n_layers;
    if (!kv || !(kv->k = calloc((size_t)L, sizeof *kv->k)) || !(kv->v = calloc((size_t)L, sizeof *kv->v))) {
        if (kv) free(kv->k);
        free(kv);
        pd_err_set(err, PD_ENOMEM, "kv cache: out of memory");
        return NULL;
    }
    kv->m = m;
    return kv;
}

void pd_kv_free(pd_kv *kv) {
    if (!kv) return;
    for (int l = 0; l < kv->m->w.cfg.n_layers; l++) {
        free(kv->k[l]);
        free(kv->v[l]);
    }
    free(kv->k);
    free(kv->v);
    free(kv);
}

size_t pd_kv_len(const pd_kv *kv) { return kv->len; }

void pd_kv_truncate(pd_kv *kv, size_t n) {
    if (n < kv->len) kv->len = n;
}

/* Grow every layer's arrays to hold `need` positions (capacity doubles). */
int pd_kv_reserve(pd_kv *kv, size_t need) {
    if (need <= kv->cap) return 0;
    size_t cap = kv->cap ? kv->cap : 16;
    while (cap < need) cap *= 2;
    size_t kv_dim = (size_t)kv->m->w.cfg.n_kv_heads * (size_t)kv->m->w.cfg.head_dim, bytes;
    if (pd_mul_size(cap, kv_dim * sizeof(float), &bytes)) return PD_ENOMEM;
    for (int l = 0; l < kv->m->w.cfg.n_layers; l++) {
        float *k = realloc(kv->k[l], bytes);
        if (!k) return PD_ENOMEM;
        kv->k[l] = k;
        float *v = realloc(kv->v[l], bytes);
        if (!v) return PD_ENOMEM;
        kv->v[l] = v;
    }
    kv->cap = cap;
    return 0;
}

/* A copy of kv (same model, same tokens). */
pd_kv *pd_kv_clone(const pd_kv *kv, pd_error *err) {
    pd_kv *c = pd_kv_new(kv->m, err);
    if (!c) return NULL;
    if (pd_kv_reserve(c, kv->len ? kv->len : 1)) {
        pd_kv_free(c);
        pd_err_set(err, PD_ENOMEM, "kv cache: out of memory");
        return NULL;
    }
    size_t kv_dim = (size_t)kv->m->w.cfg.n_kv_heads * (size_t)kv->m->w.cfg.head_dim;
    for (int l = 0; l < kv->m->w.cfg.n_layers && kv->len; l++) {
        memcpy(c->k[l], kv->k[l], kv->len * kv_dim * sizeof(float));
        memcpy(c->v[l], kv->v[l], kv->len * kv_dim * sizeof(float));
    }
    c->len = kv->len;
    return c;
}
