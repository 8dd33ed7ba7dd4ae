/* forward.c — the batched transformer forward pass (Llama / Qwen2 / Mistral).
 *
 * One call runs the new tokens of several sequences. All their rows are stacked into one
 * activation matrix X (T, dim), T = total new tokens, so each weight matrix is streamed once
 * per call whatever the number of sequences; only attention is per sequence, each row
 * looking at its own KV cache up to its own position. This is what batched tree search
 * needs: many branches each adding a token (or a prefill chunk) per step.
 *
 * Per layer, in PyTorch terms (HF LlamaDecoderLayer):
 *     h = rmsnorm(x) * w_attn_norm
 *     q, k, v = h @ Wq.T (+bq), h @ Wk.T (+bk), h @ Wv.T (+bv); rope(q), rope(k)
 *     append k, v to the cache; a = softmax(q k.T / sqrt(head_dim), causal[, window]) v
 *     x = x + a @ Wo.T (+bo)
 *     h = rmsnorm(x) * w_ffn_norm
 *     x = x + (silu(h @ Wg.T) * (h @ Wu.T)) @ Wd.T
 * then logits = (rmsnorm(x) * w_norm) @ W_lm.T only for the rows whose logits were asked for
 * (only the lm_head rows of the ids asked for, when a caller reads just a few), or a reward
 * model's head on those rows: score = W2 relu(W1 h + b1) + b2, or v = w . h + b.
 *
 * Activations are fp32; weights stay in their stored dtype and are converted inside the
 * kernels with fp32 accumulation. Matmuls and attention are split into tasks for the thread
 * pool; the small elementwise steps run on the calling thread. */
#include "engine/engine.h"
#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Multiply-adds below which a parallel loop runs on the calling thread: waking the pool
 * costs a few microseconds, more than such a loop (tiny models, single decode rows). The
 * result is the same either way: a task computes the same rows in the same order. */
#define SMALL_WORK 65536

/* ---- matmul: Y(T, rows) = X(T, cols) @ W(rows, cols).T + bias ---- */

typedef struct mm_job {
    const pd_model *m;
    pd_mm a;
    const uint16_t *xb;       /* a.x rounded to bf16 (kernel sets with bf16 products), or NULL */
    int rows_per_task;        /* weight rows per task, or panels for packed weights */
    int panels;               /* a.w packed in panels: the set's mm_panels */
} mm_job;

/* One task: a range of weight rows (or panels) against every input row (kernels.c). */
static void mm_task(void *ctx, size_t task, int thread) {
    const mm_job *j = ctx;
    int r0 = (int)task * j->rows_per_task, r1 = r0 + j->rows_per_task;
    float *scratch = j->m->scratch + (size_t)thread * j->m->scratch_per_thread;
    if (j->panels) {
        int np = (j->a.rows + PD_PANEL - 1) / PD_PANEL;
        j->m->ops->mm_panels(&j->a, r0, r1 < np ? r1 : np, scratch);
        return;
    }
    if (r1 > j->a.rows) r1 = j->a.rows;
    if (j->xb) pd_matmul_rows_bf16(j->m->ops, &j->a, j->xb, r0, r1, scratch);
    else pd_matmul_rows(j->m->ops, &j->a, r0, r1, scratch);
}

/* One task: activation row t rounded to bf16 for a kernel set with bf16 products. */
static void round_task(void *ctx, size_t t, int thread) {
    const mm_job *j = ctx;
    size_t n = (size_t)j->a.cols;
    j->m->ops->round_bf16(j->a.x + t * n, j->m->xbf + t * n, j->a.cols);
}

/* Y = X @ W.T + bias over the pool; y_rows (optional) scatters output rows. Tasks are whole
 * row blocks, about 4 per thread so that a slow thread (a busy machine) is waited for less;
 * for packed weights, groups of 4 panels (the tiles' width), about 8 tasks per thread. */
static void matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                   float *const *y_rows) {
    if (pd_dtype_is_quant(w->dtype)) { /* GGUF block formats: src/engine/quant.c */
        pd_quant_matmul(m, x, T, w, bias, y, y_rows);
        return;
    }
    int blocks = (w->rows + PD_ROW_BLOCK - 1) / PD_ROW_BLOCK;
    int per = (blocks + m->n_threads * 4 - 1) / (m->n_threads * 4) * PD_ROW_BLOCK;
    mm_job j = {m, {w->data, w->dtype, w->rows, w->cols, x, T, bias, y, y_rows}, NULL, per, w->panels};
    if (w->panels) {
        int np = (w->rows + PD_PANEL - 1) / PD_PANEL, groups = (np + 3) / 4;
        j.rows_per_task = (groups + m->n_threads * 8 - 1) / (m->n_threads * 8) * 4;
        per = j.rows_per_task * PD_PANEL;
    } else if (w->dtype == PD_DT_BF16 && m->ops->round_bf16) { /* bf16 products: x rounded once, here */
        j.xb = m->xbf;
        if (T >= 16 * (size_t)m->n_threads && m->n_threads > 1) pd_pool_run(m->pool, T, round_task, &j); /* prefill */
        else
            for (size_t t = 0; t < T; t++) round_task(&j, t, 0);
    }
    size_t n_tasks = (size_t)((w->rows + per - 1) / per);
    if ((size_t)w->rows * (size_t)w->cols * T < SMALL_WORK) {
        /* too small to pay for waking the workers: same tasks, on this thread */
        for (size_t t = 0; t < n_tasks; t++) mm_task(&j, t, 0);
        return;
    }
    pd_pool_run(m->pool, n_tasks, mm_task, &j);
}

/* ---- elementwise pieces ---- */

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for each of T rows of n. */
static void rmsnorm(float *out, const float *x, const float *w, size_t T, int n, float eps) {
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        float *o = out + t * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float scale = 1.0f / sqrtf((float)(ss / n) + eps);
        for (int i = 0; i < n; i++) o[i] = w[i] * (xr[i] * scale);
    }
}

/* Rotate-half RoPE (HF convention: pairs (i, i + d/2)) on n_heads heads of one row. */
static void rope_row(float *v, int n_heads, int hd, const float *cs) {
    int half = hd / 2;
    const float *c = cs, *s = cs + half;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * c[i] - x1 * s[i];
            x[i + half] = x1 * c[i] + x0 * s[i];
        }
    }
}

/* ---- attention ---- */

typedef struct att_job {
    pd_model *m;
    const pd_seq_step *steps;
    int layer;
} att_job;

/* One task: one row and one KV group (the query heads sharing a key/value head):
 * softmax(q k.T * scale) v over the row's visible keys, for each of those heads. Several heads
 * go through one call (they read the same keys and values) only by keeping one accumulator
 * each: every score is bit for bit what dot() gives, and every output element the same
 * sequence of axpy steps over the positions, whatever the other rows of the batch. */
static void att_task(void *ctx, size_t task, int thread) {
    const att_job *j = ctx;
    pd_model *m = j->m;
    const pd_model_config *c = &m->w.cfg;
    int hd = c->head_dim, n_heads = c->n_heads, per_group = n_heads / c->n_kv_heads;
    size_t q_dim = (size_t)n_heads * hd;
    size_t r = task / (size_t)c->n_kv_heads;
    int g = (int)(task % (size_t)c->n_kv_heads), h0 = g * per_group;
    const pd_kv *kv = j->steps[m->row_seq[r]].kv;
    size_t pos = (size_t)m->row_pos[r], start = 0;
    int win = c->layer_sliding[j->layer] ? c->sliding_window : 0;
    if (win && pos + 1 > (size_t)win) start = pos + 1 - (size_t)win;
    size_t n = pos + 1 - start, goff = (size_t)g * hd; /* this group's head within a position's kv_dim */
    float *sc = m->att + (size_t)thread * m->att_cap * (size_t)per_group; /* (per_group, n) */
    float scale = 1.0f / sqrtf((float)hd);
    /* scores: four keys x up to nr heads per tile call, each (head, key) its own lane sums */
    const pd_kernel_ops *ops = m->ops;
    int nr = ops->nr;
    size_t lanes = (size_t)ops->lanes;
    float acc[4 * PD_KERNEL_MAX_NR * PD_KERNEL_MAX_LANES] __attribute__((aligned(64)));
    for (int h = 0; h < per_group; h += nr) {
        int nh = per_group - h < nr ? per_group - h : nr;
        const float *q = m->q + r * q_dim + (size_t)(h0 + h) * hd;
        for (size_t p = start; p <= pos; p += 4) {
            const void *rows[4];
            size_t nk = pos + 1 - p < 4 ? pos + 1 - p : 4;
            for (size_t i = 0; i < 4; i++) rows[i] = pd_kv_at(kv, j->layer, 0, p + (i < nk ? i : nk - 1)) + goff;
            ops->tile(nh, rows, PD_DT_F32, q, (size_t)hd, 0, hd, acc, 1);
            for (int e = 0; e < nh; e++) {
                float s4[4];
                ops->reduce4(acc + (size_t)e * lanes, (size_t)nr * lanes, s4);
                for (size_t i = 0; i < nk; i++) sc[(size_t)(h + e) * n + p - start + i] = s4[i] * scale;
            }
        }
    }
    for (int h = 0; h < per_group; h++) {
        ops->softmax(sc + (size_t)h * n, (int)n);
        memset(m->xb + r * q_dim + (size_t)(h0 + h) * hd, 0, (size_t)hd * sizeof(float));
    }
    /* out_h = sum_p s[h][p] v_p, the positions in order, a KV block's run at a time */
    float *out = m->xb + r * q_dim + (size_t)h0 * hd;
    for (size_t p = start; p <= pos;) {
        size_t run = PD_KV_BLOCK - p % PD_KV_BLOCK;
        if (run > pos + 1 - p) run = pos + 1 - p;
        const float *v = pd_kv_at(kv, j->layer, 1, p) + goff;
        if (ops->axpy_rows) ops->axpy_rows(sc + (p - start), n, v, kv->kv_dim, (int)run, out, (size_t)hd, per_group, hd);
        else
            for (int h = 0; h < per_group; h++)
                for (size_t i = 0; i < run; i++) ops->axpy(sc[(size_t)h * n + p - start + i], v + i * kv->kv_dim, out + (size_t)h * hd, hd);
        p += run;
    }
}

/* ---- workspace ---- */

/* Grow *p to n floats (n = a * b, checked). */
static int grow_f(float **p, size_t a, size_t b) {
    size_t n;
    if (pd_mul_size(a, b, &n) || pd_mul_size(n, sizeof(float), &n)) return PD_ENOMEM;
    float *q = realloc(*p, n ? n : 1);
    if (!q) return PD_ENOMEM;
    *p = q;
    return 0;
}

/* Make the workspace hold T rows and attention over max_len positions. */
static int ensure_workspace(pd_model *m, size_t T, size_t max_len) {
    const pd_model_config *c = &m->w.cfg;
    size_t dim = (size_t)c->hidden_size, q_dim = (size_t)c->n_heads * c->head_dim;
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, hid = (size_t)c->intermediate_size;
    if (T > m->ws_tokens) {
        size_t n = T + T / 2;
        if (grow_f(&m->x, n, dim) || grow_f(&m->xb, n, dim > q_dim ? dim : q_dim) || grow_f(&m->q, n, q_dim) ||
            grow_f(&m->k, n, kv_dim) || grow_f(&m->v, n, kv_dim) || grow_f(&m->xo, n, dim) ||
            grow_f(&m->hb, n, hid) || grow_f(&m->hb2, n, hid) || grow_f(&m->rope, n, (size_t)c->head_dim))
            return PD_ENOMEM;
        if (m->ops->round_bf16) { /* bf16 products: the widest matmul input, rounded */
            size_t in = dim > q_dim ? dim : q_dim, bytes;
            if (hid > in) in = hid;
            if (pd_mul_size(n, in, &bytes) || pd_mul_size(bytes, sizeof *m->xbf, &bytes)) return PD_ENOMEM;
            uint16_t *xbf = realloc(m->xbf, bytes ? bytes : 1);
            if (!xbf) return PD_ENOMEM;
            m->xbf = xbf;
        }
        int *rs = realloc(m->row_seq, n * sizeof *rs);
        if (!rs) return PD_ENOMEM;
        m->row_seq = rs;
        int *rp = realloc(m->row_pos, n * sizeof *rp);
        if (!rp) return PD_ENOMEM;
        m->row_pos = rp;
        float **orow = realloc(m->out_rows, n * sizeof *orow);
        if (!orow) return PD_ENOMEM;
        m->out_rows = orow;
        m->ws_tokens = n;
    }
    if (max_len > m->att_cap) {
        size_t n = max_len + max_len / 2;
        if (grow_f(&m->att, (size_t)m->n_threads, n * (size_t)(c->n_heads / c->n_kv_heads))) return PD_ENOMEM;
        m->att_cap = n;
    }
    return 0;
}

/* ---- the forward pass ---- */

/* Check what a step asks to read out: rows in range, a head the model has, known ids. */
static int validate_readout(const pd_model *m, const pd_seq_step *s, size_t i, pd_error *err) {
    const pd_model_config *c = &m->w.cfg;
    if (s->logits == PD_LOGITS_NONE) return 0;
    if (s->logits == PD_LOGITS_AT) {
        if (!s->at || !s->n_at) return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: no rows to read", i);
        for (size_t k = 0; k < s->n_at; k++)
            if (s->at[k] < 0 || (size_t)s->at[k] >= s->n_tokens || (k && s->at[k] <= s->at[k - 1]))
                return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: read-out row %d is out of range or order", i,
                                  (int)s->at[k]);
    }
    if (s->head) {
        if (c->head == PD_HEAD_LM)
            return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: %s has no reward head", i, c->architecture);
        return 0;
    }
    if (c->head != PD_HEAD_LM)
        return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: %s has a reward head, no lm_head", i, c->architecture);
    for (size_t k = 0; k < s->n_vocab_ids; k++)
        if (!s->vocab_ids || s->vocab_ids[k] < 0 || s->vocab_ids[k] >= c->vocab_size)
            return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: logit id outside the vocabulary", i);
    return 0;
}

/* Floats in one output row; see model.h. */
size_t pd_model_row_width(const pd_model *m, const pd_seq_step *s) {
    if (s->head) return m->w.cfg.head == PD_HEAD_PRM_CLASS ? 2 : 1;
    return s->n_vocab_ids ? s->n_vocab_ids : (size_t)m->w.cfg.vocab_size;
}

/* The output rows of step s that are read: is new token t one of them, and which row? */
static int wanted_row(const pd_seq_step *s, size_t t, size_t *k) {
    switch (s->logits) {
    case PD_LOGITS_ALL: *k = t; return 1;
    case PD_LOGITS_LAST: *k = 0; return t + 1 == s->n_tokens;
    case PD_LOGITS_AT:
        while (*k < s->n_at && (size_t)s->at[*k] < t) (*k)++;
        return *k < s->n_at && (size_t)s->at[*k] == t;
    default: return 0;
    }
}

/* One normed final hidden row h (dim) through what step s reads: a few lm_head rows, or the
 * reward head. tmp: (dim) scratch. Same dot products (same order) as the full matmul. */
static void small_readout(const pd_model *m, const pd_seq_step *s, const float *h, float *tmp, float *out) {
    const pd_weights *w = &m->w;
    int dim = w->cfg.hidden_size;
    const pd_kernel_ops *ops = m->ops;
    if (!s->head) {
        for (size_t k = 0; k < s->n_vocab_ids; k++)
            out[k] = pd_wmat_row_dot(m, &w->lm_head, s->vocab_ids[k], h, tmp);
        return;
    }
    size_t es1 = pd_dtype_size(w->head1.dtype);
    if (w->cfg.head == PD_HEAD_VALUE) {
        out[0] = ops->dot_w(w->head1.data, w->head1.dtype, h, dim) + w->head1_b[0];
        return;
    }
    /* score = Linear(H, H) -> ReLU -> Linear(H, 2) */
    for (int r = 0; r < dim; r++) {
        float v = ops->dot_w((const uint8_t *)w->head1.data + (size_t)r * dim * es1, w->head1.dtype, h, dim) + w->head1_b[r];
        tmp[r] = v > 0 ? v : 0;
    }
    size_t es2 = pd_dtype_size(w->head2.dtype);
    for (int j = 0; j < 2; j++)
        out[j] = ops->dot_w((const uint8_t *)w->head2.data + (size_t)j * dim * es2, w->head2.dtype, tmp, dim) + w->head2_b[j];
}

/* Check every step before anything changes; returns total new tokens via *T_out. */
static int validate(const pd_model *m, const pd_seq_step *steps, size_t n, size_t *T_out, size_t *max_len,
                    pd_error *err) {
    const pd_model_config *c = &m->w.cfg;
    if (!steps || !n) return pd_err_set(err, PD_EINVAL, "forward: no sequences");
    size_t T = 0;
    int rc;
    *max_len = 0;
    for (size_t i = 0; i < n; i++) {
        const pd_seq_step *s = &steps[i];
        if (!s->kv || s->kv->m != m) return pd_err_set(err, PD_EINVAL, "forward: sequence %zu has no KV cache of this model", i);
        if (!s->tokens || !s->n_tokens) return pd_err_set(err, PD_EINVAL, "forward: sequence %zu has no new tokens", i);
        if (s->logits < PD_LOGITS_NONE || s->logits > PD_LOGITS_AT || (s->logits != PD_LOGITS_NONE && !s->out))
            return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: bad logits request", i);
        if ((rc = validate_readout(m, s, i, err))) return rc;
        if (s->n_tokens > (size_t)c->max_positions || s->kv->len > (size_t)c->max_positions - s->n_tokens)
            return pd_err_set(err, PD_ELIMIT, "forward: sequence %zu would exceed max_position_embeddings (%d)", i,
                              c->max_positions);
        for (size_t t = 0; t < s->n_tokens; t++)
            if (s->tokens[t] < 0 || s->tokens[t] >= c->vocab_size)
                return pd_err_set(err, PD_EINVAL, "forward: sequence %zu: token id %d is outside the vocabulary (%d)", i,
                                  (int)s->tokens[t], c->vocab_size);
        for (size_t k = 0; k < i; k++)
            if (steps[k].kv == s->kv) return pd_err_set(err, PD_EINVAL, "forward: sequences %zu and %zu share a KV cache", k, i);
        T += s->n_tokens;
        if (T > ((size_t)1 << 24)) return pd_err_set(err, PD_ELIMIT, "forward: too many tokens in one call");
        if (s->kv->len + s->n_tokens > *max_len) *max_len = s->kv->len + s->n_tokens;
    }
    *T_out = T;
    return 0;
}

/* Run one batched forward step; see model.h. */
int pd_model_forward(pd_model *m, pd_seq_step *steps, size_t n, pd_error *err) {
    const pd_model_config *c = &m->w.cfg;
    size_t T = 0, max_len = 0;
    int rc = validate(m, steps, n, &T, &max_len, err);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = pd_kv_reserve(steps[i].kv, steps[i].kv->len + steps[i].n_tokens))) {
            for (size_t k = 0; k <= i; k++) pd_kv_trim(steps[k].kv);
            if (rc == PD_ELIMIT)
                return pd_err_set(err, PD_ELIMIT, "forward: the KV cache is full (%zu blocks of %zu KiB: the --kv-memory "
                                  "budget) and the batch needs more", pd_kv_blocks_budget(m), pd_kv_block_bytes(m) >> 10);
            return pd_err_set(err, PD_ENOMEM, "forward: out of memory for the KV cache");
        }
    if (ensure_workspace(m, T, max_len)) return pd_err_set(err, PD_ENOMEM, "forward: out of memory for %zu tokens", T);

    int dim = c->hidden_size, hd = c->head_dim, half = hd / 2, hid = c->intermediate_size;
    size_t q_dim = (size_t)c->n_heads * hd, kv_dim = (size_t)c->n_kv_heads * hd;

    /* rows: which sequence and position; embeddings; RoPE cos|sin per row */
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < steps[i].n_tokens; t++, r++) {
            m->row_seq[r] = (int)i;
            m->row_pos[r] = (int)(steps[i].kv->len + t);
            pd_wmat_row_f32(m, &m->w.embed, steps[i].tokens[t], m->x + r * dim);
            float *cs = m->rope + r * hd;
            for (int k = 0; k < half; k++) {
                float ang = (float)m->row_pos[r] * m->inv_freq[k]; /* float32, as transformers */
                cs[k] = (float)cos((double)ang);
                cs[half + k] = (float)sin((double)ang);
            }
        }

    for (int l = 0; l < c->n_layers; l++) {
        const pd_layer_weights *L = &m->w.layers[l];
        /* attention block */
        rmsnorm(m->xb, m->x, L->attn_norm, T, dim, c->rms_norm_eps);
        matmul(m, m->xb, T, &L->wq, L->bq, m->q, NULL);
        matmul(m, m->xb, T, &L->wk, L->bk, m->k, NULL);
        matmul(m, m->xb, T, &L->wv, L->bv, m->v, NULL);
        for (r = 0; r < T; r++) {
            rope_row(m->q + r * q_dim, c->n_heads, hd, m->rope + r * hd);
            rope_row(m->k + r * kv_dim, c->n_kv_heads, hd, m->rope + r * hd);
            pd_kv *kv = steps[m->row_seq[r]].kv;
            memcpy(pd_kv_at(kv, l, 0, (size_t)m->row_pos[r]), m->k + r * kv_dim, kv_dim * sizeof(float));
            memcpy(pd_kv_at(kv, l, 1, (size_t)m->row_pos[r]), m->v + r * kv_dim, kv_dim * sizeof(float));
        }
        att_job aj = {m, steps, l};
        if (T * (size_t)c->n_heads * max_len * (size_t)hd < SMALL_WORK)
            for (size_t t = 0; t < T * (size_t)c->n_kv_heads; t++) att_task(&aj, t, 0);
        else
            pd_pool_run(m->pool, T * (size_t)c->n_kv_heads, att_task, &aj);
        matmul(m, m->xb, T, &L->wo, L->bo, m->xo, NULL);
        for (size_t i = 0; i < T * (size_t)dim; i++) m->x[i] += m->xo[i];
        /* MLP block */
        rmsnorm(m->xb, m->x, L->ffn_norm, T, dim, c->rms_norm_eps);
        matmul(m, m->xb, T, &L->w_gate, NULL, m->hb, NULL);
        matmul(m, m->xb, T, &L->w_up, NULL, m->hb2, NULL);
        for (size_t t = 0; t < T; t++) m->ops->silu_mul(m->hb + t * hid, m->hb2 + t * hid, m->hb + t * hid, hid);
        matmul(m, m->hb, T, &L->w_down, NULL, m->xo, NULL);
        for (size_t i = 0; i < T * (size_t)dim; i++) m->x[i] += m->xo[i];
    }

    /* read-out only for the rows asked for: full logit rows are gathered (normed) into xb
     * for one lm_head matmul; rows that read a few ids or the reward head are done in place */
    size_t n_out = 0;
    r = 0;
    for (size_t i = 0; i < n; i++) {
        const pd_seq_step *s = &steps[i];
        size_t k = 0, width = pd_model_row_width(m, s);
        int full = !s->head && !s->n_vocab_ids;
        for (size_t t = 0; t < s->n_tokens; t++, r++) {
            if (!wanted_row(s, t, &k)) continue;
            float *o = s->out + k * width;
            if (full) {
                rmsnorm(m->xb + n_out * dim, m->x + r * dim, m->w.final_norm, 1, dim, c->rms_norm_eps);
                m->out_rows[n_out++] = o;
            } else {
                rmsnorm(m->row_tmp, m->x + r * dim, m->w.final_norm, 1, dim, c->rms_norm_eps);
                small_readout(m, s, m->row_tmp, m->row_tmp + dim, o);
            }
        }
    }
    if (n_out) matmul(m, m->xb, n_out, &m->w.lm_head, NULL, NULL, m->out_rows);
    for (size_t i = 0; i < n; i++) steps[i].kv->len += steps[i].n_tokens;
    return 0;
}
