/* engine.h — internals shared by the engine's files: the model and KV-cache structs. */
#ifndef PD_ENGINE_ENGINE_H
#define PD_ENGINE_ENGINE_H

#include "ponder/model.h"
#include "engine/kernels.h"
#include "engine/pool.h"
#include "model/weights.h"

struct pd_model {
    pd_weights w;
    const pd_kernel_ops *ops;
    pd_pool *pool;
    int n_threads;
    float *inv_freq;          /* (head_dim / 2) RoPE frequencies, scaling applied */
    float *scratch;           /* (n_threads, scratch_per_thread) */
    float *row_tmp;           /* (2, dim) scratch of the small read-outs (reward heads) */
    size_t scratch_per_thread;
    /* forward workspace, grown to the largest batch seen (in tokens) */
    size_t ws_tokens;
    float *x;                 /* (T, dim) residual stream */
    float *xb;                /* (T, max(dim, q_dim)) normed input / attention output */
    float *q;                 /* (T, q_dim) */
    float *k, *v;             /* (T, kv_dim) */
    float *xo;                /* (T, dim) projection output before the residual add */
    float *hb, *hb2;          /* (T, hidden) MLP */
    float *rope;              /* (T, head_dim) cos | sin per token */
    int *row_seq;             /* (T) which step a row belongs to */
    int *row_pos;             /* (T) its position in its sequence */
    float **out_rows;         /* (T) where each logits row goes */
    float *att;               /* (n_threads, att_cap) attention scores */
    size_t att_cap;
};

/* A sequence's KV cache: per layer, fp32 keys and values for every position so far.
 * (Becomes a list of shared blocks in the next engine issue; callers only see pd_kv.) */
struct pd_kv {
    const pd_model *m;
    size_t len, cap;          /* positions held / allocated */
    float **k, **v;           /* (n_layers) -> (cap, kv_dim) */
};

/* Make room for `need` positions; 0 or PD_ENOMEM (kv unchanged). */
int pd_kv_reserve(pd_kv *kv, size_t need);

#endif
