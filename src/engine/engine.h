/* engine.h — internals shared by the engine's files: the model and KV-cache structs. */
#ifndef PD_ENGINE_ENGINE_H
#define PD_ENGINE_ENGINE_H

#include <stdatomic.h>

#include "ponder/model.h"
#include "engine/kernels.h"
#include "engine/pool.h"
#include "model/weights.h"

/* A model's pool of KV blocks (kv.c), shared by its caches (behind a pointer: caches hold a
 * const model). */
typedef struct pd_kv_pool {
    atomic_size_t live;       /* KV blocks allocated and not yet released */
    atomic_size_t peak;       /* the most live at once */
    size_t budget;            /* the most blocks allowed (--kv-memory); SIZE_MAX: no bound */
} pd_kv_pool;

struct pd_model {
    pd_weights w;
    pd_kv_pool *kv_pool;
    const pd_kernel_ops *ops;
    pd_precision precision;   /* PD_PRECISION_EXACT or _BF16 (model.h) */
    int round_act;            /* bf16 precision on a set that multiplies in fp32: the forward pass
                                 rounds the inputs of BF16-weight products to bf16 values */
    int quant_act;            /* quantized weights: 1 = 8-bit activations, integer dots (quant.c); 0 = fp32 */
    pd_pool *pool;
    int n_threads;
    float *inv_freq;          /* (head_dim / 2) RoPE frequencies, scaling applied */
    void *panels;             /* the matmul weights packed in panels (kernels.h), one anonymous mapping, or NULL */
    size_t panels_bytes;
    void *qpanels;            /* the quantized matrices stored as integer-kernel panels (model.c), or NULL */
    size_t qpanels_bytes;
    float *scratch;           /* (n_threads, scratch_per_thread) */
    float *row_tmp;           /* (3, dim) scratch of the small read-outs (reward heads) */
    size_t scratch_per_thread;
    /* forward workspace, grown to the largest batch seen (in tokens) */
    size_t ws_tokens;
    float *x;                 /* (T, dim) residual stream */
    float *xb;                /* (T, max(dim, q_dim)) normed input / attention output */
    float *q;                 /* (T, q_dim) */
    float *k, *v;             /* (T, kv_dim) */
    float *xo;                /* (T, dim) projection output before the residual add */
    float *hb, *hb2;          /* (T, hidden) MLP */
    uint16_t *xbf;            /* (T, max(dim, q_dim, hidden)) a matmul's input rounded to bf16
                                 (kernel sets with bf16 products only) */
    float *xr;                /* the same as fp32 values (round_act only) */
    float *rope;              /* (T, head_dim) cos | sin per token */
    int *row_seq;             /* (T) which step a row belongs to */
    int *row_pos;             /* (T) its position in its sequence */
    float **out_rows;         /* (T) where each logits row goes */
    int *chunk_row;           /* (chunks + 1) first row of each attention chunk (forward.c), then T */
    float *att;               /* (n_threads, att_per_thread) attention scores and queries */
    size_t att_cap;           /* positions the scores have room for */
    size_t att_per_thread;
    int att_rows;             /* rows per attention chunk the scores have room for */
};

/* KV-cache blocks (kv.c): PD_KV_BLOCK positions of keys and values for every layer,
 * reference-counted so that forks share them. */
#define PD_KV_BLOCK 16
typedef struct pd_kv_block {
    atomic_int refs;
    float data[];             /* (n_layers, 2, PD_KV_BLOCK, kv_dim): keys then values per layer */
} pd_kv_block;

/* A sequence's KV cache: a table of blocks covering positions [0, len). */
struct pd_kv {
    const pd_model *m;
    size_t len;               /* positions held */
    size_t kv_dim;
    pd_kv_block **blocks;     /* (n_blocks) the first n_blocks * PD_KV_BLOCK positions */
    size_t n_blocks, cap_blocks;
};

/* Keys (which = 0) or values (1) of `layer` at position pos: (kv_dim) floats. */
static inline float *pd_kv_at(const pd_kv *kv, int layer, int which, size_t pos) {
    return kv->blocks[pos / PD_KV_BLOCK]->data + (((size_t)layer * 2 + (size_t)which) * PD_KV_BLOCK + pos % PD_KV_BLOCK) * kv->kv_dim;
}

/* Make room for `need` positions, the new ones writable by kv alone (copy on write);
 * 0, PD_ELIMIT (the pool's budget is spent) or PD_ENOMEM (kv still valid, its tokens
 * unchanged; pd_kv_trim gives back what was reserved). */
int pd_kv_reserve(pd_kv *kv, size_t need);
/* Release blocks reserved past the cache's length. */
void pd_kv_trim(pd_kv *kv);
/* An empty pool without a bound. */
void pd_kv_pool_init(pd_kv_pool *p);

#endif
