/* ponder/model.h — the embedded engine: load a Hugging Face model directory, run a batched
 * forward pass, sample, generate (src/model/config.c, safetensors.c, weights.c, src/engine/).
 *
 * Usage:
 *     pd_model *m = pd_model_load(dir, NULL, &err);
 *     pd_kv *kv = pd_kv_new(m, &err);
 *     pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = n, .logits = PD_LOGITS_LAST, .out = buf};
 *     pd_model_forward(m, &s, 1, &err);        // buf: (vocab) logits of the last position
 *
 * One forward call takes a BATCH of sequences, each with its own KV cache and its new tokens
 * (a prefill chunk or one decode token); the weights are streamed once per call for all of
 * them. A pd_kv is an opaque table of shared, reference-counted blocks from the model's own
 * pool, which pd_kv_set_memory may bound. A model is not thread-safe: one forward call at a
 * time (it runs its own thread pool inside). */
#ifndef PONDER_MODEL_H
#define PONDER_MODEL_H

#include "ponder/base.h"
#include "ponder/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pd_arch {
    PD_ARCH_LLAMA = 1,   /* LlamaForCausalLM */
    PD_ARCH_QWEN2,       /* Qwen2ForCausalLM: q/k/v biases */
    PD_ARCH_MISTRAL,     /* MistralForCausalLM: optional sliding window */
} pd_arch;

/* What sits on top of the last hidden state (after the final norm). */
typedef enum pd_head {
    PD_HEAD_LM = 0,       /* lm_head: next-token logits over the vocabulary */
    PD_HEAD_PRM_CLASS,    /* Qwen2ForProcessRewardModel: score = Linear(H,H), ReLU, Linear(H,2) */
    PD_HEAD_VALUE,        /* Skywork's Qwen2ForPrmModel: v_head.summary = Linear(H,1) */
} pd_head;

#define PD_MAX_EOS 16
#define PD_MAX_LAYERS 1024

/* What config.json (and generation_config.json) say, after validation. */
typedef struct pd_model_config {
    pd_arch arch;
    char architecture[64];      /* "LlamaForCausalLM" ... */
    pd_head head;               /* PD_HEAD_LM for the causal LMs; a reward head for the PRMs */
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;               /* config head_dim, default hidden_size / n_heads */
    int max_positions;          /* max_position_embeddings */
    float rms_norm_eps;
    double rope_theta;
    /* rope_scaling type "llama3" (Llama 3.1+); rope_llama3 = 0 means plain RoPE */
    int rope_llama3;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_positions;
    int tie_embeddings;
    int attn_qkv_bias;          /* q/k/v projections have biases (Qwen2; Llama attention_bias) */
    int attn_o_bias;            /* o_proj has a bias (Llama attention_bias) */
    int sliding_window;         /* 0: none; else keys with pos > query_pos - window */
    unsigned char layer_sliding[PD_MAX_LAYERS]; /* 1 where the layer uses the sliding window */
    int bos_id;                 /* -1 when none */
    int eos_ids[PD_MAX_EOS];    /* union of config.json and generation_config.json */
    int n_eos;
} pd_model_config;

/* Parse config.json text (len bytes; `name` for messages) into cfg. Absurd or inconsistent
 * values are an error naming the file and the field. */
int pd_model_config_parse(const char *json, size_t len, const char *name, pd_model_config *cfg, pd_error *err);
/* Merge generation_config.json text: adds its eos_token_id (int or list) to cfg->eos_ids. */
int pd_model_config_merge_generation(const char *json, size_t len, const char *name, pd_model_config *cfg,
                                     pd_error *err);

typedef enum pd_kernels {
    PD_KERNELS_AUTO = 0,      /* the best the CPU supports for the precision: AVX-512, else
                                 AVX2+FMA+F16C, else portable; with PD_PRECISION_BF16, AVX512-BF16
                                 where its bf16 dot product is fast (AMD Zen 4 and later). The
                                 environment variable PONDER_KERNELS (portable, avx2, avx512,
                                 avx512bf16) overrides */
    PD_KERNELS_PORTABLE,      /* plain C */
    PD_KERNELS_AVX2,          /* AVX2+FMA+F16C; loading fails when the CPU lacks them */
    PD_KERNELS_AVX512,        /* AVX-512 F/BW/VL; loading fails when the CPU lacks them */
    PD_KERNELS_AVX512BF16,    /* AVX-512 with AVX512_BF16 (vdpbf16ps): PD_PRECISION_BF16 only */
} pd_kernels;

/* What the products with BF16 weights multiply. The results depend on the precision, not on
 * the CPU: every kernel set computes the same products and differs only in the order of its
 * fp32 sums (~1e-6 relative). */
typedef enum pd_precision {
    PD_PRECISION_DEFAULT = 0, /* exact, unless the environment variable PONDER_PRECISION
                                 (exact, bf16) says otherwise */
    PD_PRECISION_EXACT,       /* fp32 activations times the stored weights (logits within ~1e-5
                                 of transformers in fp32) */
    PD_PRECISION_BF16,        /* BF16 weights times activations rounded to bf16 (to nearest even),
                                 as llama.cpp and bf16 GPU serving compute: logits move ~1e-3 of
                                 their range; on CPUs with a fast bf16 dot product about twice
                                 the multiply-adds per cycle. F32, F16 and quantized weights are
                                 unaffected */
} pd_precision;

typedef struct pd_model_opts {
    int n_threads;            /* 0: one per online CPU (at most 64) */
    pd_kernels kernels;
    pd_precision precision;
} pd_model_opts;

/* "auto", "portable", "avx2", "avx512" or "avx512bf16" -> *out; 0, or -1 for anything else. */
int pd_kernels_parse(const char *s, pd_kernels *out);
/* "exact" or "bf16" -> *out (PD_PRECISION_EXACT / _BF16); 0, or -1 for anything else. */
int pd_precision_parse(const char *s, pd_precision *out);
/* What a model loaded with precision p computes (ignoring the kernels asked for): p, or for
 * PD_PRECISION_DEFAULT, PONDER_PRECISION's (exact when unset; a bad value fails at load). */
pd_precision pd_precision_resolve(pd_precision p);

typedef struct pd_model pd_model;

/* The machine's limits as measured now with n_threads threads (src/engine/probe.c): memory
 * read bandwidth (a 512 MiB buffer) and the fp32 multiply-add peak of the widest vector unit
 * the engine uses, both for all threads together. Takes a few seconds. */
typedef struct pd_machine_limits {
    double read_gbs;          /* GB/s */
    double fma_gflops;        /* GFLOP/s, 2 per multiply-add */
    const char *kernels;      /* the kernel set the engine picks here */
} pd_machine_limits;
int pd_machine_probe(int n_threads, pd_machine_limits *out, pd_error *err);

/* Load a model directory in Hugging Face layout (config.json, generation_config.json when
 * present, model.safetensors or model.safetensors.index.json + shards). Weights stay
 * memory-mapped. opts may be NULL. Returns NULL and fills err on failure. */
pd_model *pd_model_load(const char *dir, const pd_model_opts *opts, pd_error *err);
void pd_model_free(pd_model *m);
const pd_model_config *pd_model_get_config(const pd_model *m);
/* Number of weight parameters (tied embeddings counted once). */
size_t pd_model_n_params(const pd_model *m);
/* "avx512bf16", "avx512", "avx2" or "portable": the kernels in use. */
const char *pd_model_kernels_name(const pd_model *m);
/* "exact" or "bf16": the precision in use (PD_PRECISION_DEFAULT resolved). */
const char *pd_model_precision_name(const pd_model *m);
int pd_model_n_threads(const pd_model *m);
/* Run fn(ctx, task, thread) for every task in [0, n_tasks) on the model's threads (the caller
 * is thread 0; thread < pd_model_n_threads) and return when all are done: per-sequence work
 * between forward calls (sampling). Not to be called from inside such a task. */
void pd_model_parallel(pd_model *m, size_t n_tasks, void (*fn)(void *ctx, size_t task, int thread), void *ctx);

/* ---- per-sequence KV cache ---- */
typedef struct pd_kv pd_kv;

pd_kv *pd_kv_new(const pd_model *m, pd_error *err);
void pd_kv_free(pd_kv *kv);
/* Tokens held. */
size_t pd_kv_len(const pd_kv *kv);
/* Drop everything after the first n tokens (n <= length). */
void pd_kv_truncate(pd_kv *kv, size_t n);
/* A fork of kv: a new cache with kv's tokens. The caches share kv's blocks of positions
 * (reference-counted; a block is copied only when one of them appends into it), so a fork
 * costs a table copy, and sixteen branches hold their common prefix once. */
pd_kv *pd_kv_clone(const pd_kv *kv, pd_error *err);
/* KV blocks of model m allocated and not yet released (all its caches together); positions
 * per block; bytes per block. */
size_t pd_kv_blocks_live(const pd_model *m);
size_t pd_kv_block_positions(void);
size_t pd_kv_block_bytes(const pd_model *m);
/* The pool of m's blocks (each model has its own): the most blocks live at once so far; the
 * budget in blocks (kv_memory / block bytes; SIZE_MAX when unbounded); the blocks that can
 * still be allocated (SIZE_MAX when unbounded). A forward call that needs a block past the
 * budget fails with PD_ELIMIT before computing anything; callers that must not fail plan
 * their batches with these (src/backend/policy_local.c, prm_local.c). */
size_t pd_kv_blocks_peak(const pd_model *m);
size_t pd_kv_blocks_budget(const pd_model *m);
size_t pd_kv_blocks_free(const pd_model *m);
/* Bound m's pool to `bytes` of blocks (--kv-memory; 0: no bound, the default). Blocks
 * already live stay; new ones are refused while the pool is at the bound. */
void pd_kv_set_memory(pd_model *m, size_t bytes);
/* Blocks that hold `positions` positions. */
size_t pd_kv_blocks_for(size_t positions);
/* Parse a --kv-memory size: "2G", "512M", "64MiB", "1048576" (units K, M, G, T are powers of
 * 1024). 0, or -1 for a bad string (*bytes unchanged). */
int pd_kv_memory_parse(const char *s, size_t *bytes);

/* ---- batched forward ---- */
typedef enum pd_logits_mode {
    PD_LOGITS_NONE = 0,   /* only extend the cache */
    PD_LOGITS_LAST,       /* out: one row for the last new token */
    PD_LOGITS_ALL,        /* out: (n_tokens, width), one row per new token */
    PD_LOGITS_AT,         /* out: (n_at, width), one row per new-token index in `at` */
} pd_logits_mode;

typedef struct pd_seq_step {
    pd_kv *kv;                /* the sequence's cache; the new tokens are appended */
    const int32_t *tokens;    /* (n_tokens) new token ids */
    size_t n_tokens;          /* >= 1 */
    pd_logits_mode logits;    /* which rows come out */
    float *out;               /* caller's buffer for the rows asked for */
    const int32_t *at;        /* PD_LOGITS_AT: (n_at) indices into tokens, increasing */
    size_t n_at;
    /* What a row holds. By default the lm_head logits of every vocabulary id; with
     * vocab_ids, only those ids' logits, in that order (only those lm_head rows are read:
     * a token-judgment PRM needs two, not the vocabulary). With head = 1, the model's reward
     * head instead (PD_HEAD_PRM_CLASS: 2 raw logits; PD_HEAD_VALUE: 1 raw value). */
    const int32_t *vocab_ids;
    size_t n_vocab_ids;
    int head;
} pd_seq_step;

/* Floats in one output row of step s (vocab size, n_vocab_ids or the head's width). */
size_t pd_model_row_width(const pd_model *m, const pd_seq_step *s);

/* Run the new tokens of n sequences (each kv at most once per call) and append them to
 * their caches. Token ids must be < vocab_size and caches must stay within
 * max_positions. On error no cache has changed. */
int pd_model_forward(pd_model *m, pd_seq_step *steps, size_t n, pd_error *err);

/* ---- sampling ---- */
typedef struct pd_sampling {
    double temperature;   /* 0: greedy (argmax, lowest id on ties) */
    int top_k;            /* 0: off */
    double top_p;         /* 1: off */
    double min_p;         /* 0: off; keeps tokens with p >= min_p * p_max */
} pd_sampling;

/* Greedy: temperature 0, top_k 0, top_p 1, min_p 0. */
pd_sampling pd_sampling_greedy(void);
/* Draw a token from logits (vocab entries) with the filters applied in Hugging Face's order
 * (temperature, top-k, top-p, min-p); uses one pd_rng_f64 draw from rng unless greedy.
 * Writes the id to *token. Returns 0 or an error (bad parameters, out of memory). */
int pd_sample(const float *logits, size_t vocab, const pd_sampling *s, pd_rng *rng, int32_t *token, pd_error *err);
/* pd_sample with the caller's scratch of `vocab` floats (NULL: allocated per call), so that
 * sampling many tokens allocates nothing; the same draws as pd_sample. */
int pd_sample_work(const float *logits, size_t vocab, const pd_sampling *s, pd_rng *rng, int32_t *token, float *work,
                   pd_error *err);
/* sum_i e(x[i] * scale - shift) in double, e(d) = exp(d) for d <= 0 to ~3e-7 relative (0 for
 * NaN and below -86; d > 0 counts as 0), with out[i] = e(...) unless out is NULL: vectorized,
 * the same bits on every CPU (what sampling and the policy's confidence are made of). */
double pd_exp_sum(const float *x, float scale, float shift, float *out, size_t n);

/* ---- generation ---- */
typedef enum pd_finish {
    PD_FINISH_NONE = 0,
    PD_FINISH_LENGTH,     /* max_tokens reached */
    PD_FINISH_EOS,        /* an EOS id was sampled (it is the last of ids) */
    PD_FINISH_STOP,       /* a stop string appeared in the text */
    PD_FINISH_CONTEXT,    /* the model's max_positions was reached */
} pd_finish;

typedef struct pd_gen_params {
    pd_sampling sampling;
    size_t max_tokens;             /* tokens to generate at most per sequence */
    const char *const *stop;       /* stop strings (need a tokenizer) */
    size_t n_stop;
    int keep_stop;                 /* keep the stop string at the end of text */
    int ignore_eos;                /* do not stop at EOS ids */
    /* Called after each generated token of sequence `seq` with the text it completed
     * (may be empty); optional. */
    void (*on_token)(void *user, size_t seq, int32_t id, const char *piece, size_t piece_len);
    void *user;
} pd_gen_params;

typedef struct pd_gen_seq {
    const int32_t *prompt;         /* (n_prompt) ids, n_prompt >= 1 */
    size_t n_prompt;
    uint64_t seed;                 /* this sequence's RNG seed: results do not depend on the batch */
    /* results (free with pd_gen_seq_clear) */
    int32_t *ids;                  /* (n_ids) generated ids */
    size_t n_ids;
    char *text;                    /* decoded generated text (NULL without a tokenizer) */
    size_t text_len;               /* its length in bytes (the text may hold NUL bytes) */
    pd_finish finish;
} pd_gen_seq;

/* Generate for n sequences together (batched decoding). tok may be NULL (no text, no stop
 * strings). Returns 0 or an error. */
int pd_generate(pd_model *m, const pd_tokenizer *tok, const pd_gen_params *p, pd_gen_seq *seqs, size_t n,
                pd_error *err);
void pd_gen_seq_clear(pd_gen_seq *s);

#ifdef __cplusplus
}
#endif
#endif
