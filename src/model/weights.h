/* weights.h — a model directory's config and weight tensors, bound by role and shape-checked. */
#ifndef PD_MODEL_WEIGHTS_H
#define PD_MODEL_WEIGHTS_H

#include "ponder/model.h"
#include "model/safetensors.h"

/* Block-quantized matrices from GGUF files carry dtype PD_DT_QUANT + their ggml type
 * (model/gguf.h: PD_GGML_Q8_0 ...); src/engine/quant.c reads them. */
#define PD_DT_QUANT 64
static inline int pd_dtype_is_quant(int dtype) { return dtype >= PD_DT_QUANT; }

/* A weight matrix (rows, cols), row-major, in its stored dtype (F32, F16, BF16, or a
 * GGUF block format: each row is cols / block elements x block bytes); or, when panels is
 * set (by pd_model_load, for a kernel set with panel kernels: engine/kernels.h), F32, F16 or
 * BF16 packed in panels of 16 rows. */
typedef struct pd_wmat {
    const void *data;
    int dtype;
    int rows, cols;
    int panels;
    const uint8_t *qpanels;    /* quantized weights also stored as the integer kernels' panels
                                * (model.c), or NULL; data stays the file's rows */
} pd_wmat;

typedef struct pd_layer_weights {
    float *attn_norm;          /* (dim) */
    pd_wmat wq;                /* (n_heads * head_dim, dim) */
    pd_wmat wk;                /* (n_kv_heads * head_dim, dim) */
    pd_wmat wv;                /* (n_kv_heads * head_dim, dim) */
    pd_wmat wo;                /* (dim, n_heads * head_dim) */
    float *bq, *bk, *bv, *bo;  /* biases (same rows as their matrix) or NULL */
    float *ffn_norm;           /* (dim) */
    pd_wmat w_gate;            /* (hidden, dim) */
    pd_wmat w_up;              /* (hidden, dim) */
    pd_wmat w_down;            /* (dim, hidden) */
} pd_layer_weights;

typedef struct pd_weights {
    pd_model_config cfg;
    pd_st_set st;              /* the mapped files the matrices point into */
    struct pd_gguf *gguf;      /* or the mapped GGUF file (weights_gguf.c) */
    float *rope_factors;       /* (head_dim / 2) GGUF rope_freqs: inverse frequencies are divided
                                * by these (Llama 3.1+ frequency scaling), or NULL */
    char where[512];           /* the weights file or index, for messages */
    pd_wmat embed;             /* (vocab, dim) */
    pd_wmat lm_head;           /* (vocab, dim); the same as embed when tied; unset (data NULL)
                                * for the reward-head models, which never read it */
    pd_wmat head1, head2;      /* reward head: PRM_CLASS score.0 (dim, dim) and score.2 (2, dim);
                                * VALUE v_head.summary (1, dim) in head1 */
    float *head1_b, *head2_b;  /* their biases */
    float *final_norm;         /* (dim) */
    pd_layer_weights *layers;  /* (n_layers) */
    void **owned;              /* fp32 vectors and realigned copies we allocated */
    size_t n_owned, cap_owned;
    size_t n_params;
} pd_weights;

/* Read config.json (+ generation_config.json) and bind every tensor the architecture needs,
 * checking names, dtypes and shapes. Returns 0 or an error naming the file and tensor.
 * A path to a GGUF file is read by pd_weights_load_gguf instead. */
int pd_weights_load(const char *dir, pd_weights *w, pd_error *err);
void pd_weights_free(pd_weights *w);
/* The same from a GGUF file (weights_gguf.c): architectures llama and qwen2. */
int pd_weights_load_gguf(const char *path, pd_weights *w, pd_error *err);

#endif
