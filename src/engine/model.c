/* model.c — a loaded model: weights, kernels, thread pool.
 *
 * pd_model_load binds the weights (src/model/weights.c), picks the kernels (the widest set
 * the CPU runs, unless the caller or PONDER_KERNELS asks for another), starts the thread
 * pool, packs the matmul weights in panels when the kernels want them, and precomputes the
 * RoPE frequencies, including Llama 3's "llama3" frequency scaling. The forward workspace is grown lazily by forward.c.
 *
 * The KV cache (reference-counted blocks shared between forks, from a pool bounded by
 * pd_kv_set_memory) is in kv.c. */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/quant.h"
#include "model/gguf.h"

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

int pd_kernels_parse(const char *s, pd_kernels *out) {
    static const char *const names[] = {"auto", "portable", "avx2", "avx512", "avx512bf16"}; /* pd_kernels order */
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i])) {
            *out = (pd_kernels)i;
            return 0;
        }
    return -1;
}

int pd_precision_parse(const char *s, pd_precision *out) {
    if (!s) return -1;
    if (!strcmp(s, "exact")) *out = PD_PRECISION_EXACT;
    else if (!strcmp(s, "bf16")) *out = PD_PRECISION_BF16;
    else return -1;
    return 0;
}

pd_precision pd_precision_resolve(pd_precision p) {
    const char *env = getenv("PONDER_PRECISION");
    if (p == PD_PRECISION_DEFAULT && !(env && *env && !pd_precision_parse(env, &p))) p = PD_PRECISION_EXACT;
    return p;
}

/* Whether this CPU's vdpbf16ps issues about as often as an fp32 FMA, so that bf16 products
 * run at twice the multiply-adds: AMD's (Zen 4 and later). On the Intel Xeon measured it
 * issues about a quarter as often, and the AVX-512 set on pre-rounded activations is faster
 * (docs/PERFORMANCE.md). */
static int fast_bf16_dot(void) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    return pd_kernels_avx512bf16() && __builtin_cpu_is("amd");
#else
    return 0;
#endif
}

/* The precision and the kernel set asked for: PONDER_PRECISION and PONDER_KERNELS override
 * the defaults (tests and benchmarks compare through them). An explicit set the CPU cannot
 * run is an error, and so is the AVX512-BF16 set with exact products. */
static int pick_kernels(pd_model *m, pd_kernels k, pd_precision prec, const char *dir, pd_error *err) {
    const char *env = getenv("PONDER_KERNELS"), *penv = getenv("PONDER_PRECISION");
    if (k == PD_KERNELS_AUTO && env && *env && pd_kernels_parse(env, &k))
        return pd_err_set(err, PD_EINVAL, "%s: PONDER_KERNELS=%s: expected portable, avx2, avx512, avx512bf16 or auto", dir,
                          env);
    if (prec == PD_PRECISION_DEFAULT && penv && *penv && pd_precision_parse(penv, &prec))
        return pd_err_set(err, PD_EINVAL, "%s: PONDER_PRECISION=%s: expected exact or bf16", dir, penv);
    if (prec == PD_PRECISION_DEFAULT) prec = k == PD_KERNELS_AVX512BF16 ? PD_PRECISION_BF16 : PD_PRECISION_EXACT;
    if (k == PD_KERNELS_AVX512BF16 && prec != PD_PRECISION_BF16)
        return pd_err_set(err, PD_EINVAL, "%s: the avx512bf16 kernels multiply in bf16: precision exact needs another set",
                          dir);
    switch (k) {
    case PD_KERNELS_PORTABLE: m->ops = pd_kernels_portable(); break;
    case PD_KERNELS_AVX2: m->ops = pd_kernels_avx2(); break;
    case PD_KERNELS_AVX512: m->ops = pd_kernels_avx512(); break;
    case PD_KERNELS_AVX512BF16: m->ops = pd_kernels_avx512bf16(); break;
    default: m->ops = prec == PD_PRECISION_BF16 && fast_bf16_dot() ? pd_kernels_avx512bf16() : pd_kernels_best(); break;
    }
    if (!m->ops)
        return pd_err_set(err, PD_EINVAL, "%s: this CPU cannot run the %s kernels", dir,
                          k == PD_KERNELS_AVX2 ? "avx2" : k == PD_KERNELS_AVX512 ? "avx512" : "avx512bf16");
    m->precision = prec;
    /* a set that multiplies in fp32 gets its BF16 products' inputs rounded by the forward pass */
    m->round_act = prec == PD_PRECISION_BF16 && !m->ops->round_bf16;
    return 0;
}

/* ---- weights packed in panels ----
 *
 * For a kernel set with panel kernels (kernels.h: mm_panels), every F32/F16/BF16 matrix a
 * matmul reads (the layers' projections and the lm_head, hence the token embedding when it
 * is tied) is packed once here into one anonymous mapping, and the file pages it came from
 * are dropped (MADV_DONTNEED: nothing reads them again), so resident memory is not doubled.
 * PONDER_PANELS=0 keeps the row-major layout and driver (comparisons). */

typedef struct pack_job {
    const pd_wmat *src;
    void *dst;
    int per;                  /* panels per task */
} pack_job;

static void pack_task(void *ctx, size_t task, int thread) {
    const pack_job *j = ctx;
    int np = (j->src->rows + PD_PANEL - 1) / PD_PANEL, p0 = (int)task * j->per, p1 = p0 + j->per < np ? p0 + j->per : np;
    pd_panel_pack(j->src->data, j->src->dtype, j->src->rows, j->src->cols, p0, p1, j->dst);
}

/* Drop the pages wholly inside [p, p + n) when they belong to a mapped weights file. */
static void release_file_pages(const pd_weights *w, const void *p, size_t n) {
    const uint8_t *b = p;
    int mapped = w->gguf && w->gguf->map.data && b >= w->gguf->map.data && b + n <= w->gguf->map.data + w->gguf->map.len;
    for (size_t i = 0; i < w->st.n_files && !mapped; i++) {
        const pd_mmap *f = &w->st.files[i].map;
        mapped = f->data && b >= f->data && b + n <= f->data + f->len;
    }
    if (!mapped) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + page - 1) / page * page, hi = ((uintptr_t)b + n) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- one new layout for the matmul weights, in one anonymous mapping ----
 *
 * The matrices a matmul reads for which size(m, a) > 0, the lm_head first (the largest, so
 * that its file pages are dropped before the new buffer has grown: the peak resident memory
 * is then about one copy, not one and a half), in *mats (*n of them, freed by the caller), and
 * one anonymous mapping for all of them, each at a multiple of 64 bytes, in *buf (NULL when
 * none). what names the work for the out-of-memory errors. */
typedef size_t (*layout_size_fn)(const pd_model *m, const pd_wmat *a);

static int layout_begin(pd_model *m, layout_size_fn size, const char *what, pd_wmat ***mats, int *n, void **buf, size_t *bytes,
                        pd_error *err) {
    pd_weights *w = &m->w;
    int nl = w->cfg.n_layers;
    *n = 0, *buf = NULL, *bytes = 0;
    if (!(*mats = malloc(((size_t)nl * 7 + 1) * sizeof **mats))) return pd_err_set(err, PD_ENOMEM, "out of memory %s the weights", what);
    if (size(m, &w->lm_head)) (*mats)[(*n)++] = &w->lm_head;
    for (int l = 0; l < nl; l++) {
        pd_layer_weights *L = &w->layers[l];
        pd_wmat *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++)
            if (size(m, all[i])) (*mats)[(*n)++] = all[i];
    }
    for (int i = 0; i < *n; i++) *bytes += (size(m, (*mats)[i]) + 63) / 64 * 64;
    if (!*bytes) return 0;
    void *b = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) {
        free(*mats), *mats = NULL;
        return pd_err_set(err, PD_ENOMEM, "out of memory %s the weights (%zu MiB)", what, *bytes >> 20);
    }
#ifdef MADV_HUGEPAGE
    madvise(b, *bytes, MADV_HUGEPAGE); /* fewer page faults here, fewer TLB misses in the matmuls */
#endif
    *buf = b;
    return 0;
}

/* Bytes of a's panels, when it is a float matrix not packed yet (else 0). */
static size_t packed_bytes(const pd_model *m, const pd_wmat *a) {
    (void)m;
    if (!a->data || a->panels || (a->dtype != PD_DT_F32 && a->dtype != PD_DT_F16 && a->dtype != PD_DT_BF16)) return 0;
    return pd_panel_elems(a->rows, a->cols) * pd_dtype_size(a->dtype);
}

static int pack_weights(pd_model *m, pd_error *err) {
    const char *env = getenv("PONDER_PANELS");
    if (!m->ops->mm_panels || (env && !strcmp(env, "0"))) return 0;
    pd_weights *w = &m->w;
    pd_wmat **mats;
    int n;
    void *buf;
    if (layout_begin(m, packed_bytes, "packing", &mats, &n, &buf, &m->panels_bytes, err)) return -1;
    m->panels = buf;
    uint8_t *dst = buf;
    for (int i = 0; i < n; i++) {
        pd_wmat *a = mats[i];
        int np = (a->rows + PD_PANEL - 1) / PD_PANEL;
        size_t sz = packed_bytes(m, a);
        pack_job j = {a, dst, 64};
        pd_pool_run(m->pool, (size_t)(np + j.per - 1) / (size_t)j.per, pack_task, &j);
        release_file_pages(w, a->data, (size_t)a->rows * (size_t)a->cols * pd_dtype_size(a->dtype));
        if (a == &w->lm_head && w->embed.data == a->data) w->embed.data = dst, w->embed.panels = 1; /* tied */
        a->data = dst, a->panels = 1;
        dst += (sz + 63) / 64 * 64;
    }
    free(mats);
    return 0;
}

/* ---- quantized weights stored as panels ----
 *
 * When the integer kernels have a stored panel form for a matrix's type (quant.h: store), the
 * matrix is repacked here once into it (one anonymous mapping for all), and the file pages
 * are dropped: decode then reads one sequential stream per panel instead of 16 rows, with
 * nothing left to transpose (quant_avx512.c, "stored panels"). w->data still points at the
 * file's rows, which the embedding lookup and the fp32 path read (their pages come back from
 * the page cache on demand). PONDER_PANELS=0 keeps the rows (comparisons). */

typedef struct store_job {
    const pd_qikernels *ik;
    const pd_wmat *src;
    uint8_t *dst;
    size_t bytes;             /* per panel */
    int per;                  /* panels per task */
} store_job;

static void store_task(void *ctx, size_t task, int thread) {
    const store_job *j = ctx;
    (void)thread;
    const pd_wmat *a = j->src;
    int np = (a->rows + 15) / 16, p0 = (int)task * j->per, p1 = p0 + j->per < np ? p0 + j->per : np;
    size_t rb = pd_wmat_row_bytes(a);
    for (int p = p0; p < p1; p++) {
        const void *rows[16];
        for (int i = 0; i < 16; i++) {
            int r = 16 * p + i < a->rows ? 16 * p + i : a->rows - 1;
            rows[i] = (const uint8_t *)a->data + (size_t)r * rb;
        }
        j->ik->store(a->dtype - PD_DT_QUANT, rows, j->dst + (size_t)p * j->bytes, a->cols);
    }
}

/* Bytes of a's stored panels, when m's integer kernels store its type (else 0). */
static size_t stored_bytes(const pd_model *m, const pd_wmat *a) {
    const pd_qikernels *ik = pd_qikernels_for(m->ops);
    if (!a->data || !pd_dtype_is_quant(a->dtype) || !pd_quant_int(a->dtype - PD_DT_QUANT)) return 0;
    return (size_t)(a->rows + 15) / 16 * ik->store_bytes(a->dtype - PD_DT_QUANT, a->cols);
}

static int store_quant_weights(pd_model *m, pd_error *err) {
    const char *env = getenv("PONDER_PANELS");
    const pd_qikernels *ik = pd_qikernels_for(m->ops);
    if (!m->quant_act || !ik || !ik->store || (env && !strcmp(env, "0"))) return 0;
    pd_weights *w = &m->w;
    pd_wmat **mats;
    int n;
    void *buf;
    if (layout_begin(m, stored_bytes, "storing", &mats, &n, &buf, &m->qpanels_bytes, err)) return -1;
    m->qpanels = buf;
    uint8_t *dst = buf;
    for (int i = 0; i < n; i++) {
        pd_wmat *a = mats[i];
        int np = (a->rows + 15) / 16;
        store_job j = {ik, a, dst, ik->store_bytes(a->dtype - PD_DT_QUANT, a->cols), 32};
        pd_pool_run(m->pool, (size_t)(np + j.per - 1) / (size_t)j.per, store_task, &j);
        a->qpanels = dst;
        release_file_pages(w, a->data, (size_t)a->rows * pd_wmat_row_bytes(a));
        dst += (stored_bytes(m, a) + 63) / 64 * 64;
    }
    free(mats);
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
    if (pick_kernels(m, opts ? opts->kernels : PD_KERNELS_AUTO, opts ? opts->precision : PD_PRECISION_DEFAULT, dir, err)) {
        pd_model_free(m);
        return NULL;
    }
    /* quantized weights: 8-bit activations and integer dots (the default), or fp32
     * activations (exact against the dequantized weights): PONDER_QUANT_ACT=q8|f32 */
    const char *qa = getenv("PONDER_QUANT_ACT");
    m->quant_act = 1;
    if (qa && *qa && strcmp(qa, "q8")) {
        if (strcmp(qa, "f32")) {
            pd_err_set(err, PD_EINVAL, "%s: PONDER_QUANT_ACT=%s: expected q8 or f32", dir, qa);
            pd_model_free(m);
            return NULL;
        }
        m->quant_act = 0;
    }
    int nt = opts && opts->n_threads > 0 ? opts->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    m->n_threads = nt < 1 ? 1 : nt > 64 ? 64 : nt;
    size_t max_in = (size_t)c->hidden_size;
    size_t q_dim = (size_t)c->n_heads * (size_t)c->head_dim;
    if (q_dim > max_in) max_in = q_dim;
    if ((size_t)c->intermediate_size > max_in) max_in = (size_t)c->intermediate_size;
    m->scratch_per_thread = PD_ROW_BLOCK * max_in;
    if (m->ops->mm_panels && PD_PANEL_SCRATCH(max_in) > m->scratch_per_thread) m->scratch_per_thread = PD_PANEL_SCRATCH(max_in);
    m->inv_freq = malloc((size_t)(c->head_dim / 2) * sizeof *m->inv_freq);
    m->row_tmp = malloc(3 * (size_t)c->hidden_size * sizeof *m->row_tmp);
    m->scratch = malloc((size_t)m->n_threads * m->scratch_per_thread * sizeof *m->scratch);
    m->kv_pool = calloc(1, sizeof *m->kv_pool);
    if (!m->inv_freq || !m->scratch || !m->row_tmp || !m->kv_pool) {
        pd_err_set(err, PD_ENOMEM, "%s: out of memory", dir);
        pd_model_free(m);
        return NULL;
    }
    pd_kv_pool_init(m->kv_pool);
    compute_inv_freq(c, m->inv_freq);
    if (m->w.rope_factors) /* a GGUF file's rope_freqs (Llama 3.1+ scaling, precomputed) */
        for (int i = 0; i < c->head_dim / 2; i++) m->inv_freq[i] /= m->w.rope_factors[i];
    if (!(m->pool = pd_pool_new(m->n_threads, err)) || pack_weights(m, err) || store_quant_weights(m, err)) {
        pd_model_free(m);
        return NULL;
    }
    return m;
}

void pd_model_free(pd_model *m) {
    if (!m) return;
    pd_pool_free(m->pool);
    pd_weights_free(&m->w);
    if (m->panels) munmap(m->panels, m->panels_bytes);
    if (m->qpanels) munmap(m->qpanels, m->qpanels_bytes);
    free(m->inv_freq);
    free(m->scratch);
    free(m->row_tmp);
    free(m->x), free(m->xb), free(m->q), free(m->k), free(m->v), free(m->xo), free(m->hb), free(m->hb2), free(m->xbf), free(m->xr), free(m->rope);
    free(m->row_seq), free(m->row_pos), free(m->out_rows), free(m->chunk_row), free(m->att);
    free(m->kv_pool);
    free(m);
}

const pd_model_config *pd_model_get_config(const pd_model *m) { return &m->w.cfg; }
size_t pd_model_n_params(const pd_model *m) { return m->w.n_params; }
const char *pd_model_kernels_name(const pd_model *m) { return m->ops->name; }
const char *pd_model_precision_name(const pd_model *m) { return m->precision == PD_PRECISION_BF16 ? "bf16" : "exact"; }
int pd_model_n_threads(const pd_model *m) { return m->n_threads; }

void pd_model_parallel(pd_model *m, size_t n_tasks, void (*fn)(void *ctx, size_t task, int thread), void *ctx) {
    pd_pool_run(m->pool, n_tasks, fn, ctx);
}
