/* gguf_convert.c — `ponder quantize`: a Hugging Face model directory as a GGUF file.
 *
 * What llama.cpp's convert_hf_to_gguf.py followed by llama-quantize would write, so that
 * llama.cpp, the gguf Python package and ponder's own reader (gguf.c, weights_gguf.c,
 * tokenizer_gguf.c) all take the file:
 *   - metadata: general.{architecture, name, file_type, quantization_version}, the
 *     architecture's hyper-parameters (<arch>.block_count, embedding_length, ...), the
 *     tokenizer (tokenizer.ggml.*: for byte-level BPE, model gpt2 with tokens, token types,
 *     merges and the pre-tokenizer's name; for SentencePiece-style tokenizer.json (Llama 2,
 *     Mistral), model llama with tokens, scores that carry the merges' order, token types
 *     and add_space_prefix; special ids, add_bos/add_eos) and tokenizer.chat_template;
 *   - architectures: LlamaForCausalLM and MistralForCausalLM as `llama` (as llama.cpp's
 *     converter writes Mistral; a sliding window becomes the context length, see
 *     context_length), Qwen2ForCausalLM as `qwen2`;
 *   - tensors: llama.cpp's names (token_embd, blk.N.attn_q, ..., output_norm, output;
 *     rope_freqs for Llama 3.1+ frequency scaling); for `llama` the rows of Q and K (and
 *     their biases) in the converter's interleaved order, which weights_gguf.c undoes;
 *   - types: vectors (norms, biases, rope_freqs) stay F32; matrices get the file type's type
 *     with llama-quantize's choices for the mixes (pick_type): the output matrix (or the tied
 *     embedding) Q6_K for the 4- and 5-bit types, Q4_K_M / Q5_K_M give attn_v and ffn_down Q6_K
 *     in the layers use_more_bits picks, and a row length the type's block does not divide
 *     falls back as llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, others -> F16).
 * The source is read through the loaders the engine uses (pd_weights_load, the tokenizer),
 * so everything is checked before anything is written. Tensors are streamed in chunks of
 * rows, each chunk quantized by a thread pool (src/engine/quantize.c; each row on its own, so
 * the bytes never depend on the threads), so memory stays small whatever the model's size. Before the file
 * is renamed into place it is read back with ponder's own GGUF loaders: the weights bind with
 * the source's configuration, and the tokenizer rebuilt from the metadata has the same merges
 * in the same order and tokenizes a check text (mixed scripts, digits, whitespace runs, every
 * added token) to the same ids as tokenizer.json: the role of the token hash llama.cpp's
 * converter checks. */
#include "ponder/quantize.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/kernels.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "model/gguf_convert.h"
#include "model/weights.h"
#include "tokenizer_internal.h"

/* ---- file types (llama.cpp's llama_ftype numbers, written as general.file_type) ---- */

typedef struct ftype {
    const char *name;
    int ftype;       /* general.file_type */
    int base;        /* the matrices' type */
    int mix;         /* 0 plain; 'M' or 'S': the K-quant mixes */
} ftype;

static const ftype ftypes[] = {
    {"f32", 0, PD_GGML_F32, 0},      {"f16", 1, PD_GGML_F16, 0},       {"bf16", 32, PD_GGML_BF16, 0},
    {"q8_0", 7, PD_GGML_Q8_0, 0},    {"q4_0", 2, PD_GGML_Q4_0, 0},     {"q4_1", 3, PD_GGML_Q4_1, 0},
    {"q5_0", 8, PD_GGML_Q5_0, 0},    {"q5_1", 9, PD_GGML_Q5_1, 0},     {"q4_k_s", 14, PD_GGML_Q4_K, 'S'},
    {"q4_k_m", 15, PD_GGML_Q4_K, 'M'}, {"q4_k", 15, PD_GGML_Q4_K, 'M'}, {"q5_k_s", 16, PD_GGML_Q5_K, 'S'},
    {"q5_k_m", 17, PD_GGML_Q5_K, 'M'}, {"q5_k", 17, PD_GGML_Q5_K, 'M'}, {"q6_k", 18, PD_GGML_Q6_K, 0},
};

const char *pd_quantize_type_names(void) {
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m (q4_k), q5_k_s, q5_k_m (q5_k), q6_k";
}

static const ftype *find_ftype(const char *name) {
    for (size_t i = 0; i < sizeof ftypes / sizeof *ftypes; i++)
        if (!strcasecmp(name, ftypes[i].name)) return &ftypes[i];
    return NULL;
}

static int is_float_type(int t) { return t == PD_GGML_F32 || t == PD_GGML_F16 || t == PD_GGML_BF16; }

/* llama-quantize's layers that get more bits in the _M mixes: the first and last eighth, and
 * every third layer between. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The type of a matrix with `cols` values per row. role: "output" for the output matrix (the
 * tied embedding included), "attn_v", "ffn_down" or another; layer of n_layers. */
static int pick_type(const ftype *ft, const char *role, int layer, int n_layers, int cols) {
    int t = ft->base;
    if (is_float_type(t)) return t;
    if (!strcmp(role, "output")) {
        if (t != PD_GGML_Q8_0) t = PD_GGML_Q6_K;
    } else if (!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) {
        int attn_v = role[0] == 'a';
        if (ft->mix == 'M' && use_more_bits(layer, n_layers)) t = PD_GGML_Q6_K;
        else if (ft->mix == 'S' && t == PD_GGML_Q4_K && (attn_v ? layer < 4 : layer < n_layers / 8)) t = PD_GGML_Q5_K;
    }
    if (cols % (int)pd_ggml_block_elems(t)) { /* rows the block does not divide: llama.cpp's fallbacks */
        if (t == PD_GGML_Q4_K) t = PD_GGML_Q5_0;
        else if (t == PD_GGML_Q5_K) t = PD_GGML_Q5_1;
        else if (t == PD_GGML_Q6_K) t = PD_GGML_Q8_0;
        if (cols % (int)pd_ggml_block_elems(t)) t = PD_GGML_F16;
    }
    return t;
}

/* ---- the tensors ---- */

typedef struct tjob {
    char name[64];
    const pd_wmat *m;     /* a matrix (rows, cols) in the source's dtype, or NULL for */
    const float *v;       /* a vector of n fp32 values */
    int n;
    int heads;            /* > 0: Llama's Q/K rows reordered in this many heads */
    int type;             /* the GGUF type */
} tjob;

typedef struct conv {
    const char *in, *out, *name;
    const ftype *ft;
    pd_weights w;
    pd_tokenizer *tok;
    float *rope_factors;  /* (head_dim / 2) or NULL */
    tjob *jobs;
    size_t n_jobs, cap_jobs;
    pd_gguf_writer gw;
    pd_pool *pool;
    pd_error *err;
} conv;

static int add_job(conv *c, const char *name, const pd_wmat *m, const float *v, int n, int heads, int type) {
    if (pd_grow((void **)&c->jobs, &c->cap_jobs, c->n_jobs + 1, sizeof *c->jobs))
        return pd_err_set(c->err, PD_ENOMEM, "out of memory");
    tjob *j = &c->jobs[c->n_jobs++];
    snprintf(j->name, sizeof j->name, "%s", name);
    j->m = m, j->v = v, j->n = n, j->heads = heads, j->type = type;
    return 0;
}

static int add_mat(conv *c, const char *name, const pd_wmat *m, const char *role, int layer, int heads) {
    return add_job(c, name, m, NULL, 0, heads, pick_type(c->ft, role, layer, c->w.cfg.n_layers, m->cols));
}

static int add_vec(conv *c, const char *name, const float *v, int n, int heads) {
    return add_job(c, name, NULL, v, n, heads, PD_GGML_F32);
}

/* Llama 3.1+ RoPE scaling as the tensor llama.cpp's converter computes: per frequency, the
 * factor its inverse frequency is divided by. */
static int make_rope_factors(conv *c) {
    const pd_model_config *cfg = &c->w.cfg;
    int half = cfg->head_dim / 2;
    if (!(c->rope_factors = malloc((size_t)half * sizeof *c->rope_factors))) return pd_err_set(c->err, PD_ENOMEM, "out of memory");
    double old = cfg->rope_original_max_positions, lo = cfg->rope_low_freq_factor, hi = cfg->rope_high_freq_factor;
    for (int i = 0; i < half; i++) {
        float freq = 1.0f / powf((float)cfg->rope_theta, (float)(2 * i) / (float)cfg->head_dim);
        double wavelen = 2.0 * M_PI / freq, f;
        if (wavelen < old / hi) f = 1.0;
        else if (wavelen > old / lo) f = cfg->rope_factor;
        else {
            double smooth = (old / wavelen - lo) / (hi - lo);
            f = 1.0 / ((1.0 - smooth) / cfg->rope_factor + smooth);
        }
        c->rope_factors[i] = (float)f;
    }
    return 0;
}

/* Every tensor, in the order written. */
static int plan_tensors(conv *c) {
    const pd_model_config *cfg = &c->w.cfg;
    const pd_weights *w = &c->w;
    int rc, dim = cfg->hidden_size, q_dim = cfg->n_heads * cfg->head_dim, kv_dim = cfg->n_kv_heads * cfg->head_dim;
    int llama = cfg->arch != PD_ARCH_QWEN2, qh = llama ? cfg->n_heads : 0, kh = llama ? cfg->n_kv_heads : 0;
    if ((rc = add_mat(c, "token_embd.weight", &w->embed, cfg->tie_embeddings ? "output" : "token_embd", 0, 0)) ||
        (rc = add_vec(c, "output_norm.weight", w->final_norm, dim, 0)) ||
        (!cfg->tie_embeddings && (rc = add_mat(c, "output.weight", &w->lm_head, "output", 0, 0))))
        return rc;
    if (cfg->rope_llama3 && ((rc = make_rope_factors(c)) || (rc = add_vec(c, "rope_freqs.weight", c->rope_factors, cfg->head_dim / 2, 0))))
        return rc;
    for (int l = 0; l < cfg->n_layers; l++) {
        const pd_layer_weights *L = &w->layers[l];
        char n[64];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        if ((rc = add_vec(c, NAME("attn_norm.weight"), L->attn_norm, dim, 0)) ||
            (rc = add_mat(c, NAME("attn_q.weight"), &L->wq, "attn_q", l, qh)) ||
            (rc = add_mat(c, NAME("attn_k.weight"), &L->wk, "attn_k", l, kh)) ||
            (rc = add_mat(c, NAME("attn_v.weight"), &L->wv, "attn_v", l, 0)) ||
            (rc = add_mat(c, NAME("attn_output.weight"), &L->wo, "attn_output", l, 0)) ||
            (rc = add_vec(c, NAME("ffn_norm.weight"), L->ffn_norm, dim, 0)) ||
            (rc = add_mat(c, NAME("ffn_gate.weight"), &L->w_gate, "ffn_gate", l, 0)) ||
            (rc = add_mat(c, NAME("ffn_up.weight"), &L->w_up, "ffn_up", l, 0)) ||
            (rc = add_mat(c, NAME("ffn_down.weight"), &L->w_down, "ffn_down", l, 0)))
            return rc;
        if (L->bq && ((rc = add_vec(c, NAME("attn_q.bias"), L->bq, q_dim, qh)) ||
                      (rc = add_vec(c, NAME("attn_k.bias"), L->bk, kv_dim, kh)) ||
                      (rc = add_vec(c, NAME("attn_v.bias"), L->bv, kv_dim, 0))))
            return rc;
        if (L->bo && (rc = add_vec(c, NAME("attn_output.bias"), L->bo, dim, 0))) return rc;
#undef NAME
    }
    for (size_t i = 0; i < c->n_jobs; i++) {
        const tjob *j = &c->jobs[i];
        uint64_t ne[2] = {(uint64_t)(j->m ? j->m->cols : j->n), (uint64_t)(j->m ? j->m->rows : 1)};
        if ((rc = pd_gguf_w_tensor(&c->gw, j->name, j->type, j->m ? 2 : 1, ne, c->err))) return rc;
    }
    return 0;
}

/* The source row that the converter puts at row r of a Q or K matrix with `heads` heads of
 * hd rows: within a head, row 2i + k comes from Hugging Face's row k * hd/2 + i (rotate-half
 * pairs interleaved). */
static int source_row(int r, int heads, int rows) {
    if (!heads) return r;
    int hd = rows / heads, h = r / hd, i = (r % hd) / 2, k = r % 2;
    return h * hd + k * (hd / 2) + i;
}

/* Row r of a source matrix as fp32. */
static void row_f32(const pd_wmat *m, int r, float *dst) {
    size_t es = pd_dtype_size(m->dtype);
    const uint8_t *p = (const uint8_t *)m->data + (size_t)r * (size_t)m->cols * es;
    for (int i = 0; i < m->cols; i++, p += es) {
        if (m->dtype == PD_DT_F32) memcpy(&dst[i], p, 4);
        else {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            dst[i] = m->dtype == PD_DT_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
        }
    }
}

/* One chunk of a matrix's rows, quantized by the pool: task i is row r0 + i. */
typedef struct chunk {
    const tjob *j;
    int r0;
    size_t row_bytes;
    uint8_t *out;         /* (rows in the chunk, row_bytes) */
    float *scratch;       /* (threads, cols) */
    int bad_row;          /* a row holding a NaN or infinity, + 1 (0: none) */
} chunk;

static void quantize_task(void *ctx, size_t i, int thread) {
    const chunk *k = ctx;
    const pd_wmat *m = k->j->m;
    float *x = k->scratch + (size_t)thread * (size_t)m->cols;
    int r = source_row(k->r0 + (int)i, k->j->heads, m->rows);
    row_f32(m, r, x);
    for (int c = 0; c < m->cols; c++)
        if (!isfinite(x[c])) ((chunk *)ctx)->bad_row = r + 1; /* any one of them will do */
    pd_quantize_row(k->j->type, x, k->out + i * k->row_bytes, m->cols);
}

/* Values quantized per pool run (then written), about 8 MiB of fp32. */
#define CHUNK_VALUES (1 << 21)

/* Quantize and write every tensor's data, in order: a matrix in chunks of rows, each chunk's
 * rows spread over the pool's threads (the bytes do not depend on the threads). */
static int write_tensors(conv *c, const pd_quantize_opts *o) {
    int max_cols = 1;
    for (size_t i = 0; i < c->n_jobs; i++) {
        int n = c->jobs[i].m ? c->jobs[i].m->cols : c->jobs[i].n;
        if (n > max_cols) max_cols = n;
    }
    int nt = pd_pool_size(c->pool);
    size_t chunk_rows = (size_t)(CHUNK_VALUES / max_cols > 0 ? CHUNK_VALUES / max_cols : 1);
    float *scratch = malloc((size_t)nt * (size_t)max_cols * sizeof *scratch);
    uint8_t *buf = malloc(chunk_rows * (size_t)max_cols * 4);
    int rc = scratch && buf ? 0 : pd_err_set(c->err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_jobs && !rc; i++) {
        const tjob *j = &c->jobs[i];
        if (j->m) {
            chunk k = {.j = j, .out = buf, .scratch = scratch};
            k.row_bytes = (size_t)j->m->cols / pd_ggml_block_elems(j->type) * pd_ggml_block_bytes(j->type);
            for (k.r0 = 0; k.r0 < j->m->rows && !rc; k.r0 += (int)chunk_rows) {
                size_t n = (size_t)(j->m->rows - k.r0) < chunk_rows ? (size_t)(j->m->rows - k.r0) : chunk_rows;
                pd_pool_run(c->pool, n, quantize_task, &k);
                if (k.bad_row)
                    rc = pd_err_set(c->err, PD_EFORMAT, "%s: the source of tensor '%s' has a NaN or infinity in row %d", c->in,
                                    j->name, k.bad_row - 1);
                if (!rc) rc = pd_gguf_w_data(&c->gw, buf, n * k.row_bytes, c->err);
            }
        } else {
            for (int r = 0; r < j->n; r++) scratch[r] = j->v[source_row(r, j->heads, j->n)];
            rc = pd_gguf_w_data(&c->gw, scratch, (size_t)j->n * 4, c->err);
        }
        if (!rc && o->progress) o->progress(o->user, i + 1, c->n_jobs, j->name);
    }
    free(scratch);
    free(buf);
    return rc;
}

/* ---- metadata ---- */

/* <arch>.context_length: max_position_embeddings, or the sliding window when the model has
 * one (Mistral v0.1's 4096) and it is shorter. Neither llama.cpp's `llama` architecture nor
 * ponder's GGUF loader has a sliding window (llama.cpp's converter drops it), both attend to
 * every earlier position; up to the window's length that is exactly the windowed attention,
 * so the file says the context where it still computes the source's function. */
static int context_length(const pd_model_config *cfg) {
    int any = 0;
    for (int l = 0; l < cfg->n_layers; l++) any |= cfg->layer_sliding[l];
    return any && cfg->sliding_window > 0 && cfg->sliding_window < cfg->max_positions ? cfg->sliding_window : cfg->max_positions;
}

static void put_hparams(conv *c) {
    const pd_model_config *cfg = &c->w.cfg;
    pd_gguf_writer *g = &c->gw;
    const char *arch = cfg->arch == PD_ARCH_QWEN2 ? "qwen2" : "llama"; /* Mistral too, as llama.cpp writes it */
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
    pd_gguf_w_str(g, "general.architecture", arch);
    /* the last component of the name given (or of the directory) names the model */
    const char *name = c->name ? c->name : c->in;
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && name[b - 1] != '/') b--;
    pd_gguf_w_strn(g, "general.name", name + b, n - b);
    pd_gguf_w_u32(g, "general.file_type", (uint32_t)c->ft->ftype);
    pd_gguf_w_u32(g, "general.quantization_version", 2);
    pd_gguf_w_u32(g, KEY("context_length"), (uint32_t)context_length(cfg));
    pd_gguf_w_u32(g, KEY("embedding_length"), (uint32_t)cfg->hidden_size);
    pd_gguf_w_u32(g, KEY("feed_forward_length"), (uint32_t)cfg->intermediate_size);
    pd_gguf_w_u32(g, KEY("block_count"), (uint32_t)cfg->n_layers);
    pd_gguf_w_u32(g, KEY("attention.head_count"), (uint32_t)cfg->n_heads);
    pd_gguf_w_u32(g, KEY("attention.head_count_kv"), (uint32_t)cfg->n_kv_heads);
    pd_gguf_w_f32(g, KEY("rope.freq_base"), (float)cfg->rope_theta);
    pd_gguf_w_f32(g, KEY("attention.layer_norm_rms_epsilon"), cfg->rms_norm_eps);
    if (cfg->head_dim * cfg->n_heads != cfg->hidden_size) {
        pd_gguf_w_u32(g, KEY("attention.key_length"), (uint32_t)cfg->head_dim);
        pd_gguf_w_u32(g, KEY("attention.value_length"), (uint32_t)cfg->head_dim);
    }
    if (cfg->arch != PD_ARCH_QWEN2) {
        pd_gguf_w_u32(g, KEY("vocab_size"), (uint32_t)cfg->vocab_size);
        pd_gguf_w_u32(g, KEY("rope.dimension_count"), (uint32_t)cfg->head_dim);
    }
#undef KEY
}

/* The Split regex of tokenizer.json's pre-tokenizer into *regex (malloc'd; NULL for a lone
 * ByteLevel step with its own regex). */
static int read_split_regex(const char *dir, char **regex, pd_error *err) {
    char path[4096];
    *regex = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: %s", path, je.text);
    json_t *pt = json_object_get(root, "pre_tokenizer"), *list = json_object_get(pt, "pretokenizers");
    int rc = 0, n_split = 0;
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *s = json_is_array(list) ? json_array_get(list, i) : pt;
        const char *type = json_string_value(json_object_get(s, "type"));
        if (!type || strcmp(type, "Split")) continue;
        const char *re = json_string_value(json_object_get(json_object_get(s, "pattern"), "Regex"));
        if (!re || n_split++) rc = pd_err_set(err, PD_EUNSUPPORTED, "%s: pre_tokenizer: GGUF names one Split regex "
                                              "(llama-bpe, qwen2, gpt-2); this one has %s", path, re ? "several" : "a string pattern");
        else if (!(*regex = strdup(re))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    json_decref(root);
    return rc;
}

/* The pad token of tokenizer_config.json (a string or {"content": ...}), -1 when none. */
static int32_t read_pad_id(const char *dir, const pd_tokenizer *tok) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *root = json_load_file(path, 0, NULL), *p = json_object_get(root, "pad_token");
    const char *s = json_is_object(p) ? json_string_value(json_object_get(p, "content")) : json_string_value(p);
    int32_t id = s ? pd_tokenizer_token_id(tok, s) : -1;
    json_decref(root);
    return id;
}

/* The tokenizer's special ids (those < 0 left out; unk only for SentencePiece) and whether it
 * adds BOS/EOS, in the order llama.cpp's converter writes them. */
static void write_special_ids(pd_gguf_writer *g, const char *dir, const pd_tokenizer *t, int32_t bos, int32_t eos, int32_t unk) {
    int32_t pad = read_pad_id(dir, t);
    if (bos >= 0) pd_gguf_w_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) pd_gguf_w_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (unk >= 0) pd_gguf_w_u32(g, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    if (pad >= 0) pd_gguf_w_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    pd_gguf_w_bool(g, "tokenizer.ggml.add_bos_token", t->n_pre > 0);
    pd_gguf_w_bool(g, "tokenizer.ggml.add_eos_token", t->n_post > 0);
}

static int merge_rank_cmp(const void *a, const void *b) {
    uint32_t x = (*(tok_merge *const *)a)->rank, y = (*(tok_merge *const *)b)->rank;
    return x < y ? -1 : x > y;
}

/* The byte-level BPE tokenizer as llama.cpp's converter writes it: one
 * token per id up to vocab_size ("[PAD<id>]", type unused, for ids without one), added tokens
 * as control (special) or user-defined ones, the merges in rank order. */
static int put_tokenizer_bpe(pd_gguf_writer *g, const char *dir, const pd_tokenizer *t, int vocab_size, int bos_id, int eos_id,
                             pd_error *err) {
    if (t->n_ids > (size_t)vocab_size)
        return pd_err_set(err, PD_EFORMAT, "%s/tokenizer.json: token ids up to %zu, past config.json's vocab_size %d", dir,
                          t->n_ids - 1, vocab_size);
    char *regex = NULL;
    int rc = read_split_regex(dir, &regex, err);
    if (rc) return rc;
    const char *pre = tok_gguf_pre_name(regex, t->nfc, t->ignore_merges);
    free(regex);
    if (!pre)
        return pd_err_set(err, PD_EUNSUPPORTED, "%s/tokenizer.json: its pre-tokenizer (split regex, normalizer, "
                          "ignore_merges) is none that GGUF's tokenizer.ggml.pre names here (llama-bpe, qwen2, gpt-2)", dir);
    size_t V = (size_t)vocab_size;
    const char **tokens = calloc(V, sizeof *tokens);
    size_t *lens = calloc(V, sizeof *lens);
    int32_t *types = calloc(V, sizeof *types);
    char *pads = malloc(V * 20);
    const tok_merge **merges = malloc((t->n_merges ? t->n_merges : 1) * sizeof *merges);
    char **merge_text = calloc(t->n_merges ? t->n_merges : 1, sizeof *merge_text);
    if (!tokens || !lens || !types || !pads || !merges || !merge_text) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; i < V && !rc; i++) {
        if (i < t->n_ids && t->tokens[i].present) {
            tokens[i] = tok_form(t, (int32_t)i);
            lens[i] = t->tokens[i].form_len;
            types[i] = t->tokens[i].added ? (t->tokens[i].special ? 3 : 4) : 1; /* control, user-defined, normal */
        } else {
            tokens[i] = pads + 20 * i;
            lens[i] = (size_t)snprintf(pads + 20 * i, 20, "[PAD%zu]", i);
            types[i] = 5; /* unused */
        }
    }
    size_t nm = 0;
    for (size_t i = 0; !rc && i <= t->merge_mask; i++)
        if (t->merge_tab[i].id >= 0) merges[nm++] = &t->merge_tab[i];
    qsort(merges, nm, sizeof *merges, merge_rank_cmp);
    for (size_t i = 0; i < nm && !rc; i++) {
        int32_t l = (int32_t)(merges[i]->key >> 32), r = (int32_t)(uint32_t)merges[i]->key;
        pd_buf b = {0};
        if (pd_buf_printf(&b, "%s %s", tok_form(t, l), tok_form(t, r))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        merge_text[i] = pd_buf_steal(&b);
    }
    if (!rc) {
        pd_gguf_w_str(g, "tokenizer.ggml.model", "gpt2");
        pd_gguf_w_str(g, "tokenizer.ggml.pre", pre);
        pd_gguf_w_arr_str(g, "tokenizer.ggml.tokens", tokens, lens, V);
        pd_gguf_w_arr_i32(g, "tokenizer.ggml.token_type", types, V);
        pd_gguf_w_arr_str(g, "tokenizer.ggml.merges", (const char *const *)merge_text, NULL, nm);
        write_special_ids(g, dir, t, t->bos_id >= 0 ? t->bos_id : bos_id, t->eos_id >= 0 ? t->eos_id : eos_id, -1);
        if (t->chat_template) pd_gguf_w_str(g, "tokenizer.chat_template", t->chat_template);
    }
    for (size_t i = 0; merge_text && i < nm; i++) free(merge_text[i]);
    free(merge_text);
    free(merges);
    free(pads);
    free(types);
    free(lens);
    free(tokens);
    return rc;
}

/* ---- SentencePiece-style tokenizers (Llama 2, Mistral) ---- */

#define SPACE_MARK "\xe2\x96\x81" /* "▁", SentencePiece's space */

/* Arena text (off, len) of t equals s. */
static int arena_is(const pd_tokenizer *t, uint32_t off, uint32_t len, const char *s) {
    return len == strlen(s) && !memcmp(t->arena + off, s, len);
}

/* Whether GGUF's "llama" tokenizer says everything t does: the layout of Llama 2's and
 * Mistral v0.1's tokenizer.json (normalizer Prepend("▁") + Replace(" " -> "▁"), or the
 * Replace alone: *add_space 1 or 0; no pre-tokenizer; BPE with byte fallback over all 256
 * "<0xNN>" tokens and an unk token; decoder Replace("▁" -> " "), ByteFallback, Fuse and, with
 * the Prepend, Strip(" ", 1); added tokens without lstrip/rstrip/single_word/normalized; a
 * post-processor adding at most BOS in front and EOS after). llama.cpp's SentencePiece
 * tokenizer knows nothing else: it always puts "▁" in front of the text and of every piece of
 * text after a special token (add_space_prefix), which is what the Prepend normaliser does; a
 * Metaspace pre-tokenizer does not prepend after special tokens (prepend_scheme "first") nor
 * to text that starts with a space. Returns 0 or PD_EUNSUPPORTED naming what. */
static int spm_layout(const char *dir, const pd_tokenizer *t, int32_t bos, int32_t eos, int *add_space, pd_error *err) {
    const char *why = NULL;
    char buf[160];
    const tok_norm *n = t->norm;
    *add_space = t->n_norm == 2;
    if (t->meta)
        why = "its pre_tokenizer is Metaspace (Mistral v0.3, transformers' newer conversions): that one does not put "
              "\"\xe2\x96\x81\" after special tokens (prepend_scheme \"first\") nor before text that starts with a space, "
              "and GGUF's llama tokenizer (llama.cpp's add_space_prefix) always does, as the legacy normalizer "
              "Prepend(\"\xe2\x96\x81\") + Replace(\" \" -> \"\xe2\x96\x81\") does";
    else if (!((t->n_norm == 2 && n[0].kind == TOK_NORM_PREPEND && arena_is(t, n[0].a_off, n[0].a_len, SPACE_MARK) &&
                n[1].kind == TOK_NORM_REPLACE && arena_is(t, n[1].a_off, n[1].a_len, " ") &&
                arena_is(t, n[1].b_off, n[1].b_len, SPACE_MARK)) ||
               (t->n_norm == 1 && n[0].kind == TOK_NORM_REPLACE && arena_is(t, n[0].a_off, n[0].a_len, " ") &&
                arena_is(t, n[0].b_off, n[0].b_len, SPACE_MARK))))
        why = "its normalizer is not Prepend(\"\xe2\x96\x81\") + Replace(\" \" -> \"\xe2\x96\x81\") (Llama 2, Mistral v0.1) "
              "nor that Replace alone, the two that GGUF's llama tokenizer (add_space_prefix true or false) can say";
    else if (!t->byte_fallback)
        why = "model.byte_fallback is false (GGUF's llama tokenizer always falls back to <0xNN> byte tokens)";
    else if (t->ignore_merges)
        why = "model.ignore_merges is true (GGUF's llama tokenizer has no such rule)";
    else if (t->unk_id < 0)
        why = "model.unk_token is not set (GGUF's llama tokenizer has an unknown token)";
    else if (t->dec_meta || !t->dec_byte_fallback || !arena_is(t, t->dec_from_off, t->dec_from_len, SPACE_MARK) ||
             !arena_is(t, t->dec_to_off, t->dec_to_len, " ") ||
             (*add_space ? t->dec_strip_len != 1 || t->dec_strip[0] != ' ' || t->dec_strip_n != 1 : t->dec_strip_len != 0))
        why = "its decoder is not Replace(\"\xe2\x96\x81\" -> \" \"), ByteFallback, Fuse (and Strip(\" \", 1) with the "
              "Prepend normalizer), the decoding GGUF's llama tokenizer implies";
    else if (t->n_pre > 1 || t->n_post > 1 || (t->n_pre && t->pre_ids[0] != bos) || (t->n_post && t->post_ids[0] != eos))
        why = "its post_processor adds other tokens than BOS in front and EOS after (GGUF has add_bos_token and "
              "add_eos_token)";
    for (int b = 0; b < 256 && !why; b++)
        if (t->fallback_id[b] < 0) {
            snprintf(buf, sizeof buf, "its vocabulary has no byte token <0x%02X> (llama.cpp's byte fallback needs all 256)", b);
            why = buf;
        }
    for (size_t i = 0; i < t->n_added && !why; i++) {
        const tok_added *a = &t->added[i];
        if (a->lstrip || a->rstrip || a->single_word || a->normalized) {
            snprintf(buf, sizeof buf, "added token %d is lstrip, rstrip, single_word or normalized (GGUF's token types "
                     "cannot say so)", a->id);
            why = buf;
        }
    }
    if (why)
        return pd_err_set(err, PD_EUNSUPPORTED, "%s/tokenizer.json: a SentencePiece-style tokenizer that GGUF cannot hold: %s",
                          dir, why);
    return 0;
}

/* Hash of the GGUF token texts to the first id with each text: what tokenizer_gguf.c looks
 * the halves of a piece up in when it rebuilds the merges from the scores. */
typedef struct text_index {
    const char *const *s;
    const size_t *len;
    int32_t *slot;
    size_t mask;
} text_index;

static int32_t text_index_find(const text_index *h, const char *s, size_t n) {
    for (size_t i = tok_hash(s, n) & h->mask;; i = (i + 1) & h->mask) {
        int32_t id = h->slot[i];
        if (id < 0 || (h->len[id] == n && !memcmp(h->s[id], s, n))) return id;
    }
}

static int text_index_build(text_index *h, const char *const *s, const size_t *len, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    h->s = s, h->len = len, h->mask = cap - 1;
    if (!(h->slot = malloc(cap * sizeof *h->slot))) return PD_ENOMEM;
    memset(h->slot, 0xff, cap * sizeof *h->slot);
    for (size_t i = 0; i < n; i++) {
        size_t k = tok_hash(s[i], len[i]) & h->mask;
        while (h->slot[k] >= 0 && !(len[h->slot[k]] == len[i] && !memcmp(s[h->slot[k]], s[i], len[i]))) k = (k + 1) & h->mask;
        if (h->slot[k] < 0) h->slot[k] = (int32_t)i;
    }
    return 0;
}

static int key_cmp(const void *a, const void *b) {
    uint64_t x = (*(tok_merge *const *)a)->key, y = (*(tok_merge *const *)b)->key;
    return x < y ? -1 : x > y;
}

/* Whether the merges that tokenizer_gguf.c rebuilds from the scores (every split of every
 * token into two tokens at a character boundary, ranked by the token's score, then its id,
 * then the halves' ids, as transformers' converter built the hub's Llama 2 / Mistral files)
 * are merges[0..nm) in that order. They are for a tokenizer.json converted from a
 * SentencePiece model; not for one trained by `tokenizers`, whose merges are one split per
 * token. order[id]: the rank of the first merge giving id among the tokens merges give. */
static int spm_merges_rebuild(const char *const *tok, const size_t *len, size_t V, const tok_merge **merges, size_t nm,
                              const int32_t *order, int *same, pd_error *err) {
    *same = 0;
    for (size_t i = 1; i < nm; i++) {
        const tok_merge *a = merges[i - 1], *b = merges[i];
        if (a->id == b->id ? a->key >= b->key : order[b->id] != order[a->id] + 1) return 0;
    }
    text_index h;
    const tok_merge **by_key = malloc((nm ? nm : 1) * sizeof *by_key);
    if (!by_key || text_index_build(&h, tok, len, V)) {
        free(by_key);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    memcpy(by_key, merges, nm * sizeof *by_key);
    qsort(by_key, nm, sizeof *by_key, key_cmp);
    size_t n_split = 0;
    int ok = 1;
    for (size_t i = 0; i < V && ok; i++) {
        const unsigned char *s = (const unsigned char *)tok[i];
        for (size_t cut = 1; cut < len[i] && ok; cut++) {
            if ((s[cut] & 0xc0) == 0x80) continue;
            int32_t l = text_index_find(&h, tok[i], cut), r = l < 0 ? -1 : text_index_find(&h, tok[i] + cut, len[i] - cut);
            if (l < 0 || r < 0) continue;
            n_split++;
            tok_merge k = {.key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r}, *kp = &k;
            const tok_merge **m = bsearch(&kp, by_key, nm, sizeof *by_key, key_cmp);
            ok = m && (*m)->id == (int32_t)i;
        }
    }
    *same = ok && n_split == nm;
    free(h.slot);
    free(by_key);
    return 0;
}

/* A SentencePiece-style tokenizer (checked by spm_layout) as tokenizer.ggml.model "llama",
 * which is what llama.cpp's converter writes from tokenizer.model; from tokenizer.json alone
 * it gives every token the score -1000, with which llama.cpp's tokenizer (merge the adjacent
 * pair whose joined text is the best-scoring token) merges left to right and splits words
 * wrongly. Here the scores carry the merges' order instead: the tokens that merges give score
 * -1, -2, ... in the order of the first merge giving each, the other normal tokens follow in
 * id order, byte, control, unknown and user-defined tokens 0 (as SentencePiece has them).
 * Token types: byte for the "<0xNN>" fallback tokens, unknown for unk_token, control for
 * special added tokens, user-defined for other added tokens, normal otherwise, unused for the
 * "[PAD<id>]" fillers up to vocab_size. tokenizer.ggml.merges is written too (which llama.cpp
 * does not read for this model) only when the merges rebuilt from the scores would not be
 * tokenizer.json's (spm_merges_rebuild): then ponder takes them from the file. */
static int put_tokenizer_spm(pd_gguf_writer *g, const char *dir, const pd_tokenizer *t, int vocab_size, int bos_id, int eos_id,
                             pd_error *err) {
    int32_t bos = t->bos_id >= 0 ? t->bos_id : bos_id, eos = t->eos_id >= 0 ? t->eos_id : eos_id;
    int add_space, rc = spm_layout(dir, t, bos, eos, &add_space, err);
    if (rc) return rc;
    if (t->n_ids > (size_t)vocab_size)
        return pd_err_set(err, PD_EFORMAT, "%s/tokenizer.json: token ids up to %zu, past config.json's vocab_size %d", dir,
                          t->n_ids - 1, vocab_size);
    size_t V = (size_t)vocab_size, nm = 0;
    const char **tokens = calloc(V, sizeof *tokens);
    size_t *lens = calloc(V, sizeof *lens);
    int32_t *types = calloc(V, sizeof *types), *order = malloc(V * sizeof *order);
    float *scores = calloc(V, sizeof *scores);
    char *pads = malloc(V * 20);
    const tok_merge **merges = malloc((t->n_merges ? t->n_merges : 1) * sizeof *merges);
    char **merge_text = NULL;
    if (!tokens || !lens || !types || !order || !scores || !pads || !merges) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i <= t->merge_mask; i++)
        if (t->merge_tab[i].id >= 0) merges[nm++] = &t->merge_tab[i];
    if (!rc) {
        qsort(merges, nm, sizeof *merges, merge_rank_cmp);
        for (size_t i = 0; i < V; i++) order[i] = -1;
        int32_t k = 0;
        for (size_t i = 0; i < nm; i++)
            if (order[merges[i]->id] < 0) order[merges[i]->id] = k++;
        for (int b = 0; b < 256; b++) types[t->fallback_id[b]] = 6; /* byte */
        float next = -(float)k - 1;
        for (size_t i = 0; i < V; i++) {
            const tok_entry *e = i < t->n_ids ? &t->tokens[i] : NULL;
            if (e && e->present) {
                tokens[i] = tok_form(t, (int32_t)i);
                lens[i] = e->form_len;
                if ((int32_t)i == t->unk_id) types[i] = 2;              /* unknown */
                else if (e->added) types[i] = e->special ? 3 : 4;       /* control, user-defined */
                else if (!types[i]) types[i] = 1;                       /* normal (byte already set) */
                scores[i] = order[i] >= 0 ? -(float)order[i] - 1 : types[i] == 1 ? next-- : 0.0f;
            } else {
                tokens[i] = pads + 20 * i;
                lens[i] = (size_t)snprintf(pads + 20 * i, 20, "[PAD%zu]", i);
                types[i] = 5; /* unused */
            }
        }
    }
    int same = 0;
    if (!rc) rc = spm_merges_rebuild(tokens, lens, V, merges, nm, order, &same, err);
    if (!rc && !same) {
        if (!(merge_text = calloc(nm ? nm : 1, sizeof *merge_text))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        for (size_t i = 0; i < nm && !rc; i++) {
            int32_t l = (int32_t)(merges[i]->key >> 32), r = (int32_t)(uint32_t)merges[i]->key;
            if (strchr(tok_form(t, l), ' ') || strchr(tok_form(t, r), ' '))
                rc = pd_err_set(err, PD_EUNSUPPORTED, "%s/tokenizer.json: merge %zu has a token with a space in it, which "
                                "GGUF's \"left right\" merges cannot hold", dir, i);
            pd_buf b = {0};
            if (!rc && pd_buf_printf(&b, "%s %s", tok_form(t, l), tok_form(t, r))) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            merge_text[i] = pd_buf_steal(&b);
        }
    }
    if (!rc) {
        pd_gguf_w_str(g, "tokenizer.ggml.model", "llama");
        pd_gguf_w_str(g, "tokenizer.ggml.pre", "default");
        pd_gguf_w_arr_str(g, "tokenizer.ggml.tokens", tokens, lens, V);
        pd_gguf_w_arr_f32(g, "tokenizer.ggml.scores", scores, V);
        pd_gguf_w_arr_i32(g, "tokenizer.ggml.token_type", types, V);
        if (merge_text) pd_gguf_w_arr_str(g, "tokenizer.ggml.merges", (const char *const *)merge_text, NULL, nm);
        write_special_ids(g, dir, t, bos, eos, t->unk_id);
        pd_gguf_w_bool(g, "tokenizer.ggml.add_space_prefix", add_space);
        if (t->chat_template) pd_gguf_w_str(g, "tokenizer.chat_template", t->chat_template);
    }
    for (size_t i = 0; merge_text && i < nm; i++) free(merge_text[i]);
    free(merge_text);
    free(merges);
    free(pads);
    free(scores);
    free(order);
    free(types);
    free(lens);
    free(tokens);
    return rc;
}

/* See gguf_convert.h. */
int pd_gguf_put_tokenizer(pd_gguf_writer *g, const char *dir, const pd_tokenizer *t, int vocab_size, int bos_id, int eos_id,
                          pd_error *err) {
    return t->spm ? put_tokenizer_spm(g, dir, t, vocab_size, bos_id, eos_id, err)
                  : put_tokenizer_bpe(g, dir, t, vocab_size, bos_id, eos_id, err);
}

/* ---- reading the file back ---- */

static const char check_text[] =
    "Hello world! It's 2024; we'll see: 12345 + 678 = 13023, x^2 + y^2 = z^2 and \\boxed{\\frac{1}{2}}.\n\n"
    "  Indented\tline\r\nCaf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 \xe2\x80\x9cquoted\xe2\x80\x9d\xe2\x80\xa6 "
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe4\xb8\xad\xe6\x96\x87 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 "
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80 \xf0\x9f\x99\x82\xf0\x9f\x91\x8d "
    "I'M DONE   trailing spaces   \n\n\n";

/* The merges of t in rank order into *out (malloc'd, *n of them); 0 or PD_ENOMEM. */
static int merges_in_order(const pd_tokenizer *t, const tok_merge ***out, size_t *n) {
    *n = 0;
    if (!(*out = malloc((t->n_merges ? t->n_merges : 1) * sizeof **out))) return PD_ENOMEM;
    for (size_t i = 0; i <= t->merge_mask; i++)
        if (t->merge_tab[i].id >= 0) (*out)[(*n)++] = &t->merge_tab[i];
    qsort(*out, *n, sizeof **out, merge_rank_cmp);
    return 0;
}

/* The source tokenizer and the one rebuilt from the file have the same merges in the same
 * order, and give the same ids for the check text followed by every added token. */
static int check_tokenizer(conv *c, const char *path) {
    pd_tokenizer *gt = pd_tokenizer_load(path, c->err);
    if (!gt) return pd_err_prefix(c->err, "reading back the GGUF tokenizer");
    const tok_merge **ma = NULL, **mb = NULL;
    size_t na_m = 0, nb_m = 0, k_m = 0;
    int rc = merges_in_order(c->tok, &ma, &na_m) || merges_in_order(gt, &mb, &nb_m) ? PD_ENOMEM : 0;
    while (!rc && k_m < na_m && k_m < nb_m && ma[k_m]->key == mb[k_m]->key && ma[k_m]->id == mb[k_m]->id) k_m++;
    if (rc) rc = pd_err_set(c->err, PD_ENOMEM, "out of memory");
    else if (k_m < na_m || k_m < nb_m)
        rc = pd_err_set(c->err, PD_EUNSUPPORTED, "%s/tokenizer.json: the tokenizer written to GGUF would have other merges "
                        "(%zu merges, from the file %zu; they differ from merge %zu); not written", c->in, na_m, nb_m, k_m);
    free(ma);
    free(mb);
    if (rc) {
        pd_tokenizer_free(gt);
        return rc;
    }
    pd_buf text = {0};
    rc = pd_buf_puts(&text, check_text);
    for (size_t i = 0; i < c->tok->n_added && !rc; i++) {
        int32_t id = c->tok->added[i].id;
        rc = pd_buf_printf(&text, " %s x%zu", tok_form(c->tok, id), i);
    }
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (rc) rc = pd_err_set(c->err, PD_ENOMEM, "out of memory");
    for (int special = 0; special < 2 && !rc; special++) {
        if (!(rc = pd_tokenizer_encode(c->tok, text.data, text.len, special, &a, &na, c->err)) &&
            !(rc = pd_tokenizer_encode(gt, text.data, text.len, special, &b, &nb, c->err))) {
            size_t k = 0;
            while (k < na && k < nb && a[k] == b[k]) k++;
            if (k < na || k < nb)
                rc = pd_err_set(c->err, PD_EUNSUPPORTED, "%s/tokenizer.json: the tokenizer written to GGUF would tokenize "
                                "differently (token %zu of a check text: %d, from the file %d); not written", c->in, k,
                                k < na ? a[k] : -1, k < nb ? b[k] : -1);
        }
        free(a), free(b);
        a = b = NULL;
    }
    pd_buf_free(&text);
    pd_tokenizer_free(gt);
    return rc;
}

/* The file binds as weights with the source's shape. */
static int check_weights(conv *c, const char *path) {
    pd_weights g;
    int rc = pd_weights_load_gguf(path, &g, c->err);
    if (rc) return pd_err_prefix(c->err, "reading back the GGUF file");
    const pd_model_config *a = &c->w.cfg, *b = &g.cfg;
    if ((a->arch == PD_ARCH_QWEN2) != (b->arch == PD_ARCH_QWEN2) || a->vocab_size != b->vocab_size || a->hidden_size != b->hidden_size ||
        a->intermediate_size != b->intermediate_size || a->n_layers != b->n_layers || a->n_heads != b->n_heads ||
        a->n_kv_heads != b->n_kv_heads || a->head_dim != b->head_dim || a->tie_embeddings != b->tie_embeddings ||
        a->attn_qkv_bias != b->attn_qkv_bias || a->attn_o_bias != b->attn_o_bias || a->rms_norm_eps != b->rms_norm_eps)
        rc = pd_err_set(c->err, PD_EFORMAT, "%s: read back with a configuration other than the source's", path);
    pd_weights_free(&g);
    return rc;
}

/* ---- the whole ---- */

/* The source: a causal LM directory whose architecture and tokenizer GGUF can hold. */
static int open_source(conv *c) {
    char path[4096];
    if (!pd_dir_exists(c->in))
        return pd_err_set(c->err, pd_file_exists(c->in) ? PD_EINVAL : PD_ENOTFOUND, "%s: not a directory (quantize reads a "
                          "Hugging Face model directory: config.json, *.safetensors, tokenizer.json)", c->in);
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", c->in) >= sizeof path)
        return pd_err_set(c->err, PD_EINVAL, "%s: path too long", c->in);
    if (!pd_file_exists(path)) return pd_err_set(c->err, PD_ENOTFOUND, "%s: no config.json (not a Hugging Face model directory)", c->in);
    int rc = pd_weights_load(c->in, &c->w, c->err);
    if (rc) return rc;
    const pd_model_config *cfg = &c->w.cfg;
    if (cfg->head != PD_HEAD_LM || (cfg->arch != PD_ARCH_LLAMA && cfg->arch != PD_ARCH_MISTRAL && cfg->arch != PD_ARCH_QWEN2))
        return pd_err_set(c->err, PD_EUNSUPPORTED, "%s/config.json: architecture %s is not written to GGUF here "
                          "(LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)", c->in, cfg->architecture);
    if (!(c->tok = pd_tokenizer_load(c->in, c->err))) return c->err ? c->err->code : PD_EFORMAT;
    return 0;
}

/* One thread per online CPU, at most 64 (as the engine). */
static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int pd_model_quantize(const char *in, const char *out, const pd_quantize_opts *o, pd_quantize_result *res, pd_error *err) {
    pd_quantize_opts none = {0};
    if (!o) o = &none;
    conv c = {.in = in, .out = out, .name = o->name, .err = err};
    if (res) memset(res, 0, sizeof *res);
    if (!(c.ft = find_ftype(o->type ? o->type : "")))
        return pd_err_set(err, PD_EINVAL, "unknown type '%s' (one of: %s)", o->type ? o->type : "", pd_quantize_type_names());
    if (pd_dir_exists(out)) return pd_err_set(err, PD_EINVAL, "%s: is a directory; give the output file's path", out);
    pd_gguf_writer_init(&c.gw, PD_GGUF_DEFAULT_ALIGNMENT);
    pd_gguf_w_u32(&c.gw, "general.alignment", PD_GGUF_DEFAULT_ALIGNMENT);
    int rc = open_source(&c);
    if (!rc) {
        put_hparams(&c);
        const pd_model_config *cfg = &c.w.cfg;
        rc = pd_gguf_put_tokenizer(&c.gw, in, c.tok, cfg->vocab_size, cfg->bos_id, cfg->n_eos ? cfg->eos_ids[0] : -1, err);
    }
    if (!rc) rc = plan_tensors(&c);
    if (!rc && !(c.pool = pd_pool_new(o->n_threads > 0 ? o->n_threads : default_threads(), err))) rc = err ? err->code : PD_ENOMEM;
    if (!rc) rc = pd_gguf_w_open(&c.gw, out, err);
    if (!rc) rc = write_tensors(&c, o);
    if (!rc) rc = pd_gguf_w_finish(&c.gw, err);
    if (!rc) rc = check_weights(&c, pd_gguf_w_tmp_path(&c.gw));
    if (!rc) rc = check_tokenizer(&c, pd_gguf_w_tmp_path(&c.gw));
    if (!rc && res) {
        res->n_tensors = c.n_jobs;
        res->n_params = c.w.n_params;
        struct stat st;
        if (!stat(pd_gguf_w_tmp_path(&c.gw), &st)) res->file_bytes = (uint64_t)st.st_size;
        size_t o_ = 0;
        for (int t = 0; t < PD_GGML_TYPE_LIMIT; t++) {
            size_t k = 0;
            for (size_t i = 0; i < c.n_jobs; i++) k += c.jobs[i].type == t;
            if (k && o_ < sizeof res->types)
                o_ += (size_t)snprintf(res->types + o_, sizeof res->types - o_, "%s%s %zu", o_ ? ", " : "", pd_ggml_type_name(t), k);
        }
    }
    if (!rc) rc = pd_gguf_w_commit(&c.gw, err);
    pd_gguf_writer_free(&c.gw);
    if (c.pool) pd_pool_free(c.pool);
    pd_tokenizer_free(c.tok);
    pd_weights_free(&c.w);
    free(c.rope_factors);
    free(c.jobs);
    return rc;
}
