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
 * pool, the matmuls on one input as one job; the per-row steps (norms, RoPE, residual adds,
 * SiLU) too for wide batches, on the calling thread for decode. */
#include "engine/engine.h"
#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Multiply-adds below which a parallel loop runs on the calling thread: waking the pool
 * costs a few microseconds, more than such a loop (tiny models, single decode rows). The
 * result is the same either way: a task computes the same rows in the same order. */
#define SMALL_WORK 65536

/* ---- matmul: Y(T, rows) = X(T, cols) @ W(rows, cols).T + bias ----
 *
 * Matmuls that read the same input (q/k/v; gate/up) run as one pool job whose tasks span the
 * matrices: one wake-up and one tail instead of three or two, and the input rounded to bf16
 * once. Each task still computes a range of one matrix's outputs with the same kernel call as
 * a matmul of its own, so every output keeps its bits (the kernels' results never depend on
 * the row or panel range: kernels.h). */

#define MM_MAX 3

/* One matrix of a job: its operands and its range of task indices. */
typedef struct mm_part {
    pd_mm a;
    int panels;               /* a.w packed in panels: the set's mm_panels */
    int per;                  /* weight rows per task, or panels for packed weights */
    size_t task0, n_tasks;
} mm_part;

typedef struct mm_job {
    const pd_model *m;
    const float *x;           /* the input every part reads */
    const uint16_t *xb;       /* x rounded to bf16 (kernel sets with bf16 products), or NULL */
    int n;
    mm_part part[MM_MAX];
} mm_job;

/* One task: a range of one matrix's weight rows (or panels) against every input row. */
static void mm_task(void *ctx, size_t task, int thread) {
    const mm_job *j = ctx;
    const mm_part *pt = j->part;
    while (task >= pt->task0 + pt->n_tasks) pt++;
    int r0 = (int)(task - pt->task0) * pt->per, r1 = r0 + pt->per;
    float *scratch = j->m->scratch + (size_t)thread * j->m->scratch_per_thread;
    if (pt->panels) {
        int np = (pt->a.rows + PD_PANEL - 1) / PD_PANEL;
        j->m->ops->mm_panels(&pt->a, r0, r1 < np ? r1 : np, scratch);
        return;
    }
    if (r1 > pt->a.rows) r1 = pt->a.rows;
    if (j->xb && pt->a.dtype == PD_DT_BF16) pd_matmul_rows_bf16(j->m->ops, &pt->a, j->xb, r0, r1, scratch);
    else pd_matmul_rows(j->m->ops, &pt->a, r0, r1, scratch);
}

/* One task: activation row t rounded to bf16 for a kernel set with bf16 products. */
static void round_task(void *ctx, size_t t, int thread) {
    const mm_job *j = ctx;
    size_t n = (size_t)j->part[0].a.cols;
    j->m->ops->round_bf16(j->x + t * n, j->m->xbf + t * n, (int)n);
}

/* dst[i] = x[i] rounded to the nearest bf16 value (pd_f32_to_bf16: ties to even, NaN stays a
 * NaN): what bf16 precision multiplies BF16 weights by, on the sets that multiply in fp32
 * (model.h). The products are then exact in fp32, as vdpbf16ps's are, so only the order of
 * the sums (and subnormal inputs, which the AVX512-BF16 set flushes) differs from that set. */
static void round_bf16_values(const float *x, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)pd_f32_to_bf16(x[i]) << 16;
        memcpy(&dst[i], &u, 4);
    }
}

/* One task: activation row t as bf16 values (round_act). */
static void round_values_task(void *ctx, size_t t, int thread) {
    const mm_job *j = ctx;
    size_t n = (size_t)j->part[0].a.cols;
    round_bf16_values(j->x + t * n, j->m->xr + t * n, n);
}

/* Y_i = X @ W_i.T + bias_i for n float matrices on one input, as one pool job; y_rows (n = 1
 * only, optional) scatters output rows. Tasks are whole row blocks, about 4 per thread and
 * matrix so that a slow thread (a busy machine) is waited for less; for packed weights,
 * groups of 4 panels (the tiles' width), about 8 per thread and matrix. */
static void matmul_float(pd_model *m, const float *x, size_t T, int n, const pd_wmat *const *w, const float *const *bias,
                         float *const *y, float *const *y_rows) {
    mm_job j = {.m = m, .x = x, .n = n};
    size_t groups = 0, blocks = 0, work = 0;
    int round = 0, round_values = 0;
    for (int i = 0; i < n; i++) {
        int np = (w[i]->rows + PD_PANEL - 1) / PD_PANEL;
        if (w[i]->panels) groups += (size_t)(np + 3) / 4;
        else blocks += (size_t)(w[i]->rows + PD_ROW_BLOCK - 1) / PD_ROW_BLOCK;
        round |= w[i]->dtype == PD_DT_BF16 && m->ops->round_bf16;
        round_values |= w[i]->dtype == PD_DT_BF16 && m->round_act;
        work += (size_t)w[i]->rows * (size_t)w[i]->cols * T;
    }
    size_t nt = (size_t)m->n_threads, want = nt * (size_t)n; /* the tasks n matmuls of their own would have */
    int per_panels = (int)((groups + want * 8 - 1) / (want * 8) * 4), per_rows = (int)((blocks + want * 4 - 1) / (want * 4) * PD_ROW_BLOCK);
    size_t n_tasks = 0;
    for (int i = 0; i < n; i++) {
        mm_part *pt = &j.part[i];
        pt->a = (pd_mm){w[i]->data, w[i]->dtype, w[i]->rows, w[i]->cols, x, T, bias[i], y[i], y_rows, NULL};
        pt->panels = w[i]->panels;
        pt->per = pt->panels ? per_panels : per_rows;
        int units = pt->panels ? (w[i]->rows + PD_PANEL - 1) / PD_PANEL : w[i]->rows;
        pt->task0 = n_tasks;
        pt->n_tasks = (size_t)((units + pt->per - 1) / pt->per);
        n_tasks += pt->n_tasks;
    }
    if (round) { /* bf16 products: x rounded once, here, for every matrix */
        j.xb = m->xbf;
        if (T >= 16 * nt && nt > 1) pd_pool_run(m->pool, T, round_task, &j); /* prefill */
        else
            for (size_t t = 0; t < T; t++) round_task(&j, t, 0);
        for (int i = 0; i < n; i++)
            if (w[i]->dtype == PD_DT_BF16) j.part[i].a.xb = m->xbf;
    }
    if (round_values) { /* bf16 precision on an fp32 set: the BF16 matrices read x rounded */
        if (T >= 16 * nt && nt > 1) pd_pool_run(m->pool, T, round_values_task, &j);
        else
            for (size_t t = 0; t < T; t++) round_values_task(&j, t, 0);
        for (int i = 0; i < n; i++)
            if (w[i]->dtype == PD_DT_BF16) j.part[i].a.x = m->xr;
    }
    if (work < SMALL_WORK) {
        /* too small to pay for waking the workers: same tasks, on this thread */
        for (size_t t = 0; t < n_tasks; t++) mm_task(&j, t, 0);
        return;
    }
    pd_pool_run(m->pool, n_tasks, mm_task, &j);
}

/* Y_i(T, rows_i) = X(T, cols) @ W_i.T + bias_i for n matrices sharing the input X: GGUF block
 * formats through quant.c (one call for all, which quantizes X once), the rest as one job. */
static void matmul_n(pd_model *m, const float *x, size_t T, int n, const pd_wmat *const *w, const float *const *bias,
                     float *const *y) {
    int quant = 0;
    for (int i = 0; i < n; i++) quant += pd_dtype_is_quant(w[i]->dtype);
    if (quant == n) {
        pd_quant_matmul_n(m, x, T, n, w, bias, y);
    } else if (quant) { /* mixed formats: one matmul each */
        for (int i = 0; i < n; i++)
            if (pd_dtype_is_quant(w[i]->dtype)) pd_quant_matmul(m, x, T, w[i], bias[i], y[i], NULL);
            else matmul_float(m, x, T, 1, &w[i], &bias[i], &y[i], NULL);
    } else {
        matmul_float(m, x, T, n, w, bias, y, NULL);
    }
}

/* Y = X @ W.T + bias; y_rows (optional) scatters output rows. */
static void matmul(pd_model *m, const float *x, size_t T, const pd_wmat *w, const float *bias, float *y,
                   float *const *y_rows) {
    if (pd_dtype_is_quant(w->dtype)) pd_quant_matmul(m, x, T, w, bias, y, y_rows); /* src/engine/quant.c */
    else matmul_float(m, x, T, 1, &w, &bias, &y, y_rows);
}

/* ---- per-row steps: run over the pool for wide batches ----
 *
 * RMSNorm, RoPE with the KV-cache writes, the residual adds and SiLU touch each row alone, so
 * prefill and wide tree steps split them by rows (ROWS_MIN rows and more; fewer, i.e. decode,
 * stay on the calling thread, where a wake-up would cost more than the loop). A row's
 * operations are the same either way. */

#define ROWS_MIN 8

typedef struct rows_job {
    pd_model *m;
    const pd_seq_step *steps;
    int layer;
    const float *norm;        /* resid_norm_task: the RMSNorm weight, or NULL (the add alone) */
    int add;                  /* resid_norm_task: x += xo first */
    size_t T, per;            /* rows, rows per task */
} rows_job;

/* Run fn over rows [0, T) in tasks of j->per rows: on the pool for ROWS_MIN rows and more. */
static void rows_run(rows_job *j, size_t T, pd_pool_fn fn) {
    size_t nt = (size_t)j->m->n_threads;
    j->T = T;
    if (T < ROWS_MIN || nt == 1) {
        j->per = T;
        fn(j, 0, 0);
        return;
    }
    j->per = (T + nt * 4 - 1) / (nt * 4);
    pd_pool_run(j->m->pool, (T + j->per - 1) / j->per, fn, j);
}

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

/* Rows of a task: x += xo (the residual add of the block before), then xb = rmsnorm(x). */
static void resid_norm_task(void *ctx, size_t task, int thread) {
    const rows_job *j = ctx;
    const pd_model *m = j->m;
    size_t dim = (size_t)m->w.cfg.hidden_size, r0 = task * j->per, r1 = r0 + j->per < j->T ? r0 + j->per : j->T;
    if (j->add)
        for (size_t i = r0 * dim; i < r1 * dim; i++) m->x[i] += m->xo[i];
    if (j->norm) rmsnorm(m->xb + r0 * dim, m->x + r0 * dim, j->norm, r1 - r0, (int)dim, m->w.cfg.rms_norm_eps);
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

/* Rows of a task: RoPE on q and k, then k and v into the row's KV cache at its position. */
static void rope_kv_task(void *ctx, size_t task, int thread) {
    const rows_job *j = ctx;
    const pd_model *m = j->m;
    const pd_model_config *c = &m->w.cfg;
    int hd = c->head_dim;
    size_t q_dim = (size_t)c->n_heads * hd, kv_dim = (size_t)c->n_kv_heads * hd;
    size_t r0 = task * j->per, r1 = r0 + j->per < j->T ? r0 + j->per : j->T;
    for (size_t r = r0; r < r1; r++) {
        rope_row(m->q + r * q_dim, c->n_heads, hd, m->rope + r * hd);
        rope_row(m->k + r * kv_dim, c->n_kv_heads, hd, m->rope + r * hd);
        pd_kv *kv = j->steps[m->row_seq[r]].kv;
        memcpy(pd_kv_at(kv, j->layer, 0, (size_t)m->row_pos[r]), m->k + r * kv_dim, kv_dim * sizeof(float));
        memcpy(pd_kv_at(kv, j->layer, 1, (size_t)m->row_pos[r]), m->v + r * kv_dim, kv_dim * sizeof(float));
    }
}

/* Rows of a task: hb = silu(hb) * hb2. */
static void silu_task(void *ctx, size_t task, int thread) {
    const rows_job *j = ctx;
    const pd_model *m = j->m;
    size_t hid = (size_t)m->w.cfg.intermediate_size, r0 = task * j->per, r1 = r0 + j->per < j->T ? r0 + j->per : j->T;
    for (size_t r = r0; r < r1; r++) m->ops->silu_mul(m->hb + r * hid, m->hb2 + r * hid, m->hb + r * hid, (int)hid);
}

/* ---- attention ----
 *
 * A task is one KV group (the query heads sharing a key/value head) of a chunk: up to
 * ATT_ROWS consecutive rows of one sequence (a prefill's rows; a decode row is a chunk of
 * one; fewer rows for very long contexts: m->att_rows). The chunk's rows read the same keys
 * and values, so they go through the score tiles and the weighted sums together: each key
 * and value vector is loaded once for all of them, and the tiles run full (heads x rows). Every score is still bit for bit what one
 * row alone gets (a tile's lane sums and reduce4 do not depend on the tile's other rows), and
 * every output element the same sequence of axpy steps over the row's own positions, so a
 * row's result does not depend on the chunk it is in (tests/test_forward.c). */

#define ATT_ROWS 8
#define ATT_SCRATCH_MAX ((size_t)8 << 20)

typedef struct att_job {
    pd_model *m;
    const pd_seq_step *steps;
    int layer;
    size_t n_chunks;
} att_job;

/* Rows [r0, r0 + R) (one sequence, consecutive positions from pos0), KV group g, positions
 * from start (the sliding window's; 0 when R > 1): softmax(q k.T * scale) v per row and head. */
static void att_rows(const att_job *j, size_t r0, size_t R, int g, size_t start, int thread) {
    pd_model *m = j->m;
    const pd_model_config *c = &m->w.cfg;
    const pd_kernel_ops *ops = m->ops;
    int hd = c->head_dim, per_group = c->n_heads / c->n_kv_heads, h0 = g * per_group;
    size_t q_dim = (size_t)c->n_heads * hd, pos0 = (size_t)m->row_pos[r0], last = pos0 + R - 1;
    const pd_kv *kv = j->steps[m->row_seq[r0]].kv;
    size_t n = last + 1 - start, goff = (size_t)g * hd; /* the last row's positions; this group's head in kv_dim */
    size_t nx = (size_t)per_group * R;                  /* query vectors: x = h R + row */
    float *sc = m->att + (size_t)thread * m->att_per_thread; /* (nx, n) scores */
    float *qc = sc + nx * m->att_cap;                        /* (nx, hd) the queries, head-major */
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < per_group; h++)
        for (size_t i = 0; i < R; i++) memcpy(qc + ((size_t)h * R + i) * hd, m->q + (r0 + i) * q_dim + (size_t)(h0 + h) * hd, (size_t)hd * sizeof(float));
    /* scores: four keys x up to nr query vectors per tile call, each (vector, key) its own
     * lane sums; keys past a row's position are computed for the whole tile and never read */
    int nr = ops->nr;
    size_t lanes = (size_t)ops->lanes;
    float acc[4 * PD_KERNEL_MAX_NR * PD_KERNEL_MAX_LANES] __attribute__((aligned(64)));
    for (size_t p = start; p <= last; p += 4) {
        const void *keys[4];
        size_t nk = last + 1 - p < 4 ? last + 1 - p : 4;
        for (size_t i = 0; i < 4; i++) keys[i] = pd_kv_at(kv, j->layer, 0, p + (i < nk ? i : nk - 1)) + goff;
        for (size_t x = 0; x < nx; x += (size_t)nr) {
            int nt = nx - x < (size_t)nr ? (int)(nx - x) : nr;
            ops->tile(nt, keys, PD_DT_F32, qc + x * hd, (size_t)hd, 0, hd, acc, 1);
            for (int e = 0; e < nt; e++) {
                float s4[4], *s = sc + (x + (size_t)e) * n + (p - start);
                ops->reduce4(acc + (size_t)e * lanes, (size_t)nr * lanes, s4);
                for (size_t i = 0; i < nk; i++) s[i] = s4[i] * scale;
            }
        }
    }
    for (int h = 0; h < per_group; h++)
        for (size_t i = 0; i < R; i++) {
            ops->softmax(sc + ((size_t)h * R + i) * n, (int)(n - (R - 1 - i)));
            memset(m->xb + (r0 + i) * q_dim + (size_t)(h0 + h) * hd, 0, (size_t)hd * sizeof(float));
        }
    /* out = sum_p s[p] v_p, the positions in order: those every row sees a KV block's run at a
     * time, then the rest of each row's own (row i sees pos0 + i) */
    float *out = m->xb + r0 * q_dim + (size_t)h0 * hd;
    for (size_t p = start; p <= last; p++) {
        size_t first = p > pos0 ? p - pos0 : 0, run = 1; /* rows that see position p: [first, R) */
        if (p <= pos0) {
            run = PD_KV_BLOCK - p % PD_KV_BLOCK;
            if (run > pos0 + 1 - p) run = pos0 + 1 - p;
        }
        const float *v = pd_kv_at(kv, j->layer, 1, p) + goff;
        const float *a = sc + first * n + (p - start);
        float *y = out + first * q_dim;
        if (R == 1 && ops->axpy_rows) /* the heads of one row: outputs hd apart */
            ops->axpy_rows(a, n, v, kv->kv_dim, (int)run, y, (size_t)hd, per_group, hd);
        else
            for (int h = 0; h < per_group; h++) {
                const float *ah = a + (size_t)h * R * n;
                float *yh = y + (size_t)h * hd;
                if (ops->axpy_rows) ops->axpy_rows(ah, n, v, kv->kv_dim, (int)run, yh, q_dim, (int)(R - first), hd);
                else
                    for (size_t i = 0; i < R - first; i++)
                        for (size_t k = 0; k < run; k++) ops->axpy(ah[i * n + k], v + k * kv->kv_dim, yh + i * q_dim, hd);
            }
        p += run - 1;
    }
}

/* One task: a chunk and KV group, the chunks taken from the last (the longest contexts of a
 * sequence: the most work first, so that the pool's tail is short). */
static void att_task(void *ctx, size_t task, int thread) {
    const att_job *j = ctx;
    const pd_model *m = j->m;
    const pd_model_config *c = &m->w.cfg;
    size_t ch = j->n_chunks - 1 - task / (size_t)c->n_kv_heads;
    int g = (int)(task % (size_t)c->n_kv_heads), win = c->layer_sliding[j->layer] ? c->sliding_window : 0;
    size_t r0 = (size_t)m->chunk_row[ch], R = (size_t)m->chunk_row[ch + 1] - r0, last = (size_t)m->row_pos[r0] + R - 1;
    if (!win || last + 1 <= (size_t)win) {
        att_rows(j, r0, R, g, 0, thread);
        return;
    }
    for (size_t i = 0; i < R; i++) { /* a sliding window: each row its own first position */
        size_t pos = (size_t)m->row_pos[r0 + i];
        att_rows(j, r0 + i, 1, g, pos + 1 > (size_t)win ? pos + 1 - (size_t)win : 0, thread);
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
        size_t in = dim > q_dim ? dim : q_dim; /* the widest matmul input */
        if (hid > in) in = hid;
        if (m->ops->round_bf16) { /* bf16 products: the input rounded */
            size_t bytes;
            if (pd_mul_size(n, in, &bytes) || pd_mul_size(bytes, sizeof *m->xbf, &bytes)) return PD_ENOMEM;
            uint16_t *xbf = realloc(m->xbf, bytes ? bytes : 1);
            if (!xbf) return PD_ENOMEM;
            m->xbf = xbf;
        }
        if (m->round_act && grow_f(&m->xr, n, in)) return PD_ENOMEM;
        int *rs = realloc(m->row_seq, n * sizeof *rs);
        if (!rs) return PD_ENOMEM;
        m->row_seq = rs;
        int *rp = realloc(m->row_pos, n * sizeof *rp);
        if (!rp) return PD_ENOMEM;
        m->row_pos = rp;
        int *cr = realloc(m->chunk_row, (n + 1) * sizeof *cr);
        if (!cr) return PD_ENOMEM;
        m->chunk_row = cr;
        float **orow = realloc(m->out_rows, n * sizeof *orow);
        if (!orow) return PD_ENOMEM;
        m->out_rows = orow;
        m->ws_tokens = n;
    }
    if (max_len > m->att_cap) {
        /* per thread: (nx, cap) scores and (nx, head_dim) queries, nx = chunk rows x heads per
         * group; chunks of fewer rows for long contexts, so that this stays under
         * ATT_SCRATCH_MAX bytes a thread (a row's bits do not depend on its chunk) */
        size_t n = max_len + max_len / 2, g = (size_t)(c->n_heads / c->n_kv_heads), rows = ATT_ROWS, per;
        while (rows > 1 && rows * g * (n + (size_t)c->head_dim) > ATT_SCRATCH_MAX / sizeof(float)) rows /= 2;
        if (pd_mul_size(rows * g, n + (size_t)c->head_dim, &per) || grow_f(&m->att, (size_t)m->n_threads, per))
            return PD_ENOMEM;
        m->att_cap = n, m->att_per_thread = per, m->att_rows = (int)rows;
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
 * reward head. tmp: (2, dim) scratch. Same dot products (same order) as the full matmul, on
 * the same inputs (rounded to bf16 values for BF16 weights under round_act). */
static void small_readout(const pd_model *m, const pd_seq_step *s, const float *h, float *tmp, float *out) {
    const pd_weights *w = &m->w;
    int dim = w->cfg.hidden_size;
    const pd_kernel_ops *ops = m->ops;
    float *hr = tmp + dim;
    if (m->round_act) round_bf16_values(h, hr, (size_t)dim);
#define INPUT(wm, x) (m->round_act && (wm).dtype == PD_DT_BF16 ? hr : (x))
    if (!s->head) {
        for (size_t k = 0; k < s->n_vocab_ids; k++)
            out[k] = pd_wmat_row_dot(m, &w->lm_head, s->vocab_ids[k], INPUT(w->lm_head, h), tmp);
        return;
    }
    size_t es1 = pd_dtype_size(w->head1.dtype);
    if (w->cfg.head == PD_HEAD_VALUE) {
        out[0] = ops->dot_w(w->head1.data, w->head1.dtype, INPUT(w->head1, h), dim) + w->head1_b[0];
        return;
    }
    /* score = Linear(H, H) -> ReLU -> Linear(H, 2) */
    for (int r = 0; r < dim; r++) {
        float v = ops->dot_w((const uint8_t *)w->head1.data + (size_t)r * dim * es1, w->head1.dtype, INPUT(w->head1, h),
                             dim) + w->head1_b[r];
        tmp[r] = v > 0 ? v : 0;
    }
#undef INPUT
    if (m->round_act && w->head2.dtype == PD_DT_BF16) round_bf16_values(tmp, tmp, (size_t)dim);
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

    int dim = c->hidden_size, hd = c->head_dim, half = hd / 2;

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

    /* attention chunks: up to m->att_rows (ATT_ROWS) consecutive rows of one sequence */
    size_t n_chunks = 0;
    r = 0;
    for (size_t i = 0; i < n; r += steps[i++].n_tokens)
        for (size_t t = 0; t < steps[i].n_tokens; t += (size_t)m->att_rows) m->chunk_row[n_chunks++] = (int)(r + t);
    m->chunk_row[n_chunks] = (int)r;

    rows_job rj = {m, steps, 0, NULL, 0, 0, 0};
    for (int l = 0; l < c->n_layers; l++) {
        const pd_layer_weights *L = &m->w.layers[l];
        /* attention block; h = rmsnorm(x) after the previous layer's x += MLP output */
        rj.layer = l, rj.norm = L->attn_norm, rj.add = l > 0;
        rows_run(&rj, T, resid_norm_task);
        const pd_wmat *wqkv[3] = {&L->wq, &L->wk, &L->wv};
        const float *bqkv[3] = {L->bq, L->bk, L->bv};
        float *yqkv[3] = {m->q, m->k, m->v};
        matmul_n(m, m->xb, T, 3, wqkv, bqkv, yqkv);
        rows_run(&rj, T, rope_kv_task);
        att_job aj = {m, steps, l, n_chunks};
        if (T * (size_t)c->n_heads * max_len * (size_t)hd < SMALL_WORK)
            for (size_t t = 0; t < n_chunks * (size_t)c->n_kv_heads; t++) att_task(&aj, t, 0);
        else
            pd_pool_run(m->pool, n_chunks * (size_t)c->n_kv_heads, att_task, &aj);
        matmul(m, m->xb, T, &L->wo, L->bo, m->xo, NULL);
        /* MLP block */
        rj.norm = L->ffn_norm, rj.add = 1;
        rows_run(&rj, T, resid_norm_task);
        const pd_wmat *wgu[2] = {&L->w_gate, &L->w_up};
        const float *bgu[2] = {NULL, NULL};
        float *ygu[2] = {m->hb, m->hb2};
        matmul_n(m, m->xb, T, 2, wgu, bgu, ygu);
        rows_run(&rj, T, silu_task);
        matmul(m, m->hb, T, &L->w_down, NULL, m->xo, NULL);
    }
    rj.norm = NULL, rj.add = 1; /* the last layer's x += MLP output */
    rows_run(&rj, T, resid_norm_task);

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
