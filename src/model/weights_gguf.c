/* weights_gguf.c — a GGUF file as the engine's weights: config from metadata, tensors by name.
 *
 * Architectures `llama` (also Mistral-family files, which llama.cpp writes as llama) and
 * `qwen2`. The hyper-parameters come from `<arch>.*` keys (block_count, embedding_length,
 * feed_forward_length, attention.head_count[_kv], attention.key_length,
 * attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count, context_length),
 * the special ids from tokenizer.ggml.*. Tensors are llama.cpp's names:
 *     token_embd, output_norm, output (absent when tied to token_embd),
 *     blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}
 * with .weight (and .bias for Qwen2's q/k/v). GGUF shapes list the fastest dimension first:
 * a (rows, cols) matrix has ne = {cols, rows}.
 *
 * llama.cpp's converter reorders the rows of Llama's Q and K projections (per head, from
 * Hugging Face's rotate-half layout (first halves, then second halves) to interleaved pairs,
 * which is what its own RoPE rotates). The engine's RoPE is Hugging Face's, so the rows are
 * put back here: one copy of Q and K (a tenth of a layer's weights), the rest stays mapped.
 * Qwen2 files are written without the reordering.
 *
 * Matrices may be F32, F16, BF16 or one of the block formats src/engine/quant.c computes
 * with; vectors (norms, biases) are converted to fp32 copies. Llama 3.1+'s RoPE frequency
 * scaling arrives as a tensor, rope_freqs.weight, whose values divide the frequencies. */
#include "model/gguf.h"
#include "model/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/quant.h"

/* Remember a buffer to free with the weights; frees p and returns PD_ENOMEM on failure. */
static int own(pd_weights *w, void *p) {
    if (pd_grow((void **)&w->owned, &w->cap_owned, w->n_owned + 1, sizeof *w->owned)) {
        free(p);
        return PD_ENOMEM;
    }
    w->owned[w->n_owned++] = p;
    return 0;
}

/* The engine dtype of a ggml type, or -1 when the engine cannot compute with it. */
static int engine_dtype(int t) {
    if (t == PD_GGML_F32) return PD_DT_F32;
    if (t == PD_GGML_F16) return PD_DT_F16;
    if (t == PD_GGML_BF16) return PD_DT_BF16;
    return pd_quant_supported(t) ? PD_DT_QUANT + t : -1;
}

/* Find tensor `name` with shape (d1 rows of d0) (d1 < 0: a vector of d0) and a type the
 * engine takes. Returns it or NULL with err set. */
static const pd_gguf_tensor *need(pd_weights *w, const char *name, long d0, long d1, pd_error *err) {
    const pd_gguf_tensor *t = pd_gguf_tensor_find(w->gguf, name);
    if (!t) {
        pd_err_set(err, PD_ENOTFOUND, "%s: missing tensor '%s'", w->where, name);
        return NULL;
    }
    if (engine_dtype(t->type) < 0) {
        const char *tn = pd_ggml_type_name(t->type);
        pd_err_set(err, PD_EUNSUPPORTED, "%s: tensor '%s' has type %s; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, "
                   "Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K", w->where, name, tn ? tn : "?");
        return NULL;
    }
    uint64_t rows = d1 < 0 ? 1 : (uint64_t)d1;
    if (t->ne[0] != (uint64_t)d0 || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1) {
        char want[64];
        if (d1 < 0) snprintf(want, sizeof want, "%ld", d0);
        else snprintf(want, sizeof want, "%ld, %ld", d0, d1);
        pd_err_set(err, PD_EFORMAT, "%s: tensor '%s' has shape (ne) [%llu, %llu, %llu, %llu]; the metadata implies [%s]", w->where,
                   name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                   (unsigned long long)t->ne[3], want);
        return NULL;
    }
    return t;
}

/* Put rows of Q or K back in Hugging Face order: within each head of hd rows, converted row
 * 2i + j (j = 0, 1) is Hugging Face's row j * hd/2 + i. `row` is the bytes of one row. */
static void unpermute_rows(const uint8_t *src, uint8_t *dst, int n_heads, int hd, size_t row) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(dst + ((size_t)h * hd + (size_t)j * (hd / 2) + i) * row, src + ((size_t)h * hd + 2 * (size_t)i + j) * row, row);
}

/* Bind a matrix (rows, cols); with heads > 0 its rows are un-permuted (Llama Q/K). */
static int bind_mat(pd_weights *w, const char *name, int rows, int cols, int heads, pd_wmat *m, pd_error *err) {
    const pd_gguf_tensor *t = need(w, name, cols, rows, err);
    if (!t) return err ? err->code : PD_EFORMAT;
    m->dtype = engine_dtype(t->type);
    m->rows = rows;
    m->cols = cols;
    m->data = t->data;
    size_t es = pd_dtype_is_quant(m->dtype) ? 1 : pd_dtype_size(m->dtype);
    if (heads || (uintptr_t)t->data % es) {
        uint8_t *copy = malloc(t->size ? t->size : 1);
        if (!copy || own(w, copy)) return pd_err_set(err, PD_ENOMEM, "%s: out of memory copying '%s'", w->where, name);
        if (heads) unpermute_rows(t->data, copy, heads, rows / heads, pd_wmat_row_bytes(m));
        else memcpy(copy, t->data, t->size);
        m->data = copy;
    }
    w->n_params += (size_t)rows * (size_t)cols;
    return 0;
}

/* Bind a vector (n) as an fp32 copy; with heads > 0 un-permuted like the matrix rows. */
static int bind_vec(pd_weights *w, const char *name, int n, int heads, float **out, pd_error *err) {
    const pd_gguf_tensor *t = need(w, name, n, -1, err);
    if (!t) return err ? err->code : PD_EFORMAT;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v || own(w, v)) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", w->where);
    float *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", w->where);
    if (pd_dtype_is_quant(engine_dtype(t->type))) {
        pd_dequant_row_ref(t->type, t->data, tmp, n);
    } else {
        for (int i = 0; i < n; i++) {
            const uint8_t *p = t->data + (size_t)i * (t->type == PD_GGML_F32 ? 4 : 2);
            if (t->type == PD_GGML_F32) memcpy(&tmp[i], p, 4);
            else {
                uint16_t h = (uint16_t)(p[0] | p[1] << 8);
                tmp[i] = t->type == PD_GGML_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
            }
        }
    }
    if (heads) unpermute_rows((const uint8_t *)tmp, (uint8_t *)v, heads, n / heads, sizeof(float));
    else memcpy(v, tmp, (size_t)n * sizeof *v);
    free(tmp);
    *out = v;
    w->n_params += (size_t)n;
    return 0;
}

/* ---- config from metadata ---- */

/* "<arch>.<suffix>" into buf. */
static const char *akey(char *buf, size_t n, const char *arch, const char *suffix) {
    snprintf(buf, n, "%s.%s", arch, suffix);
    return buf;
}

/* Add id to the EOS list once (ids outside the vocabulary are ignored). */
static void add_eos(pd_model_config *c, int64_t id) {
    if (id < 0 || id >= c->vocab_size) return;
    for (int k = 0; k < c->n_eos; k++)
        if (c->eos_ids[k] == id) return;
    if (c->n_eos < PD_MAX_EOS) c->eos_ids[c->n_eos++] = (int)id;
}

/* End-of-generation ids: tokenizer.ggml.{eos,eot,eom}_token_id, and the control tokens the
 * families' generation_config.json list besides their eos (Llama 3's <|eot_id|> and
 * <|eom_id|>, Qwen2.5's <|im_end|> and <|endoftext|>), found by their text as llama.cpp does. */
static int read_eos(const pd_gguf *g, pd_model_config *c, pd_error *err) {
    static const char *keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"};
    int64_t id;
    int rc;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if ((rc = pd_gguf_get_int(g, keys[i], 0, -1, -1, INT32_MAX, &id, err))) return rc;
        add_eos(c, id);
    }
    static const char *eog[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>",
                                "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"};
    const pd_gguf_kv *tokens = pd_gguf_find(g, "tokenizer.ggml.tokens"), *types = pd_gguf_find(g, "tokenizer.ggml.token_type");
    if (!tokens || tokens->type != PD_GGUF_ARRAY || tokens->arr_type != PD_GGUF_STRING) return 0;
    if (types && (types->type != PD_GGUF_ARRAY || types->n != tokens->n || types->arr_type == PD_GGUF_STRING ||
                  types->arr_type == PD_GGUF_ARRAY || types->arr_type == PD_GGUF_F32 || types->arr_type == PD_GGUF_F64))
        types = NULL;
    size_t off = tokens->off;
    for (uint64_t i = 0; i < tokens->n; i++) {
        const char *s;
        size_t n;
        pd_gguf_arr_str_next(g, &off, &s, &n);
        if (n < 5 || s[0] != '<' || (types && pd_gguf_arr_int(g, types, i) != 3)) continue; /* 3: control */
        for (size_t k = 0; k < sizeof eog / sizeof *eog; k++)
            if (n == strlen(eog[k]) && !memcmp(s, eog[k], n)) add_eos(c, (int64_t)i);
    }
    return 0;
}

/* Fill cfg from the metadata of g; the file is w->where for messages. */
static int read_config(const pd_gguf *g, const char *where, pd_model_config *c, pd_error *err) {
    memset(c, 0, sizeof *c);
    const char *as;
    size_t alen;
    int rc = pd_gguf_get_str(g, "general.architecture", &as, &alen, err);
    if (rc) return rc;
    char arch[32];
    snprintf(arch, sizeof arch, "%.*s", (int)(alen < 31 ? alen : 31), as);
    if (alen < 31 && !strcmp(arch, "llama")) {
        c->arch = PD_ARCH_LLAMA;
        snprintf(c->architecture, sizeof c->architecture, "LlamaForCausalLM");
    } else if (alen < 31 && !strcmp(arch, "qwen2")) {
        c->arch = PD_ARCH_QWEN2;
        snprintf(c->architecture, sizeof c->architecture, "Qwen2ForCausalLM");
    } else {
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: architecture '%.*s' is not supported (llama, qwen2)", where,
                          (int)(alen < 60 ? alen : 60), as);
    }
    c->head = PD_HEAD_LM;
    char k[96];
    int64_t v, hd_default;
    double d;
#define GETI(suffix, req, def, lo, hi, dst) \
    if ((rc = pd_gguf_get_int(g, akey(k, sizeof k, arch, suffix), req, def, lo, hi, &v, err))) return rc; \
    dst = (int)v
    GETI("block_count", 1, 0, 1, PD_MAX_LAYERS, c->n_layers);
    GETI("embedding_length", 1, 0, 1, 1 << 16, c->hidden_size);
    GETI("feed_forward_length", 1, 0, 1, 1 << 20, c->intermediate_size);
    GETI("attention.head_count", 1, 0, 1, 1024, c->n_heads);
    GETI("attention.head_count_kv", 0, c->n_heads, 1, 1024, c->n_kv_heads);
    GETI("context_length", 0, 4096, 1, 1 << 24, c->max_positions);
    if (c->n_heads % c->n_kv_heads)
        return pd_err_set(err, PD_EFORMAT, "%s: %s.attention.head_count %d is not a multiple of head_count_kv %d", where, arch,
                          c->n_heads, c->n_kv_heads);
    hd_default = c->hidden_size % c->n_heads ? 0 : c->hidden_size / c->n_heads;
    GETI("attention.key_length", !hd_default, hd_default, 2, 1024, c->head_dim);
    int vlen, rope_dim;
    GETI("attention.value_length", 0, c->head_dim, 2, 1024, vlen);
    GETI("rope.dimension_count", 0, c->head_dim, 2, 1024, rope_dim);
#undef GETI
    if (vlen != c->head_dim)
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: %s.attention.value_length %d differs from key_length %d", where, arch, vlen,
                          c->head_dim);
    if (c->head_dim % 2)
        return pd_err_set(err, PD_EFORMAT, "%s: head dimension %d must be even (RoPE rotates pairs)", where, c->head_dim);
    if (rope_dim != c->head_dim)
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: %s.rope.dimension_count %d: RoPE on part of a head (%d) is not supported", where,
                          arch, rope_dim, c->head_dim);
    if ((long long)c->n_heads * c->head_dim > (1 << 17))
        return pd_err_set(err, PD_EFORMAT, "%s: head_count x key_length is absurdly large", where);
    const char *st;
    size_t sl;
    if (!pd_gguf_get_str(g, akey(k, sizeof k, arch, "rope.scaling.type"), &st, &sl, err) && !(sl == 4 && !memcmp(st, "none", 4)))
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: %s.rope.scaling.type '%.*s' is not supported (none)", where, arch,
                          (int)(sl < 40 ? sl : 40), st);
    if ((rc = pd_gguf_get_float(g, akey(k, sizeof k, arch, "attention.layer_norm_rms_epsilon"), 0, 1e-6, 1e-12, 1.0, &d, err)))
        return rc;
    c->rms_norm_eps = (float)d;
    if ((rc = pd_gguf_get_float(g, akey(k, sizeof k, arch, "rope.freq_base"), 0, 10000.0, 1e-6, 1e12, &c->rope_theta, err)))
        return rc;
    /* vocabulary: <arch>.vocab_size, else the tokenizer's, else the embedding's rows */
    const pd_gguf_kv *tokens = pd_gguf_find(g, "tokenizer.ggml.tokens");
    const pd_gguf_tensor *emb = pd_gguf_tensor_find(g, "token_embd.weight");
    int64_t vdef = tokens && tokens->type == PD_GGUF_ARRAY ? (int64_t)tokens->n : emb ? (int64_t)emb->ne[1] : 0;
    if ((rc = pd_gguf_get_int(g, akey(k, sizeof k, arch, "vocab_size"), vdef <= 0, vdef, 1, 1 << 24, &v, err))) return rc;
    c->vocab_size = (int)v;
    c->tie_embeddings = pd_gguf_tensor_find(g, "output.weight") == NULL;
    c->attn_qkv_bias = c->arch == PD_ARCH_QWEN2 || pd_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
    c->attn_o_bias = pd_gguf_tensor_find(g, "blk.0.attn_output.bias") != NULL;
    c->bos_id = -1;
    if ((rc = pd_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, -1, -1, INT32_MAX, &v, err))) return rc;
    if (v >= 0 && v < c->vocab_size) c->bos_id = (int)v;
    return read_eos(g, c, err);
}

/* Load a GGUF file; see weights.h. */
int pd_weights_load_gguf(const char *path, pd_weights *w, pd_error *err) {
    memset(w, 0, sizeof *w);
    snprintf(w->where, sizeof w->where, "%s", path);
    if (!(w->gguf = calloc(1, sizeof *w->gguf))) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    int rc = pd_gguf_open(path, w->gguf, err);
    if (rc) {
        free(w->gguf);
        w->gguf = NULL;
        return rc;
    }
    const pd_model_config *c = &w->cfg;
    if ((rc = read_config(w->gguf, path, &w->cfg, err))) goto fail;
    int dim = c->hidden_size, hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    int permute = c->arch == PD_ARCH_LLAMA; /* see the top of the file */
    if (!(w->layers = calloc((size_t)c->n_layers, sizeof *w->layers))) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = bind_mat(w, "token_embd.weight", c->vocab_size, dim, 0, &w->embed, err)) ||
        (rc = bind_vec(w, "output_norm.weight", dim, 0, &w->final_norm, err)))
        goto fail;
    if (c->tie_embeddings) w->lm_head = w->embed;
    else if ((rc = bind_mat(w, "output.weight", c->vocab_size, dim, 0, &w->lm_head, err))) goto fail;
    if (pd_gguf_tensor_find(w->gguf, "rope_freqs.weight") &&
        (rc = bind_vec(w, "rope_freqs.weight", hd / 2, 0, &w->rope_factors, err)))
        goto fail;
    if (w->rope_factors) {
        w->n_params -= (size_t)(hd / 2); /* not a weight of the network */
        for (int i = 0; i < hd / 2; i++)
            if (!(w->rope_factors[i] > 0.0f) || w->rope_factors[i] > 1e6f) {
                rc = pd_err_set(err, PD_EFORMAT, "%s: rope_freqs.weight[%d] = %g is not a positive factor", path, i,
                                (double)w->rope_factors[i]);
                goto fail;
            }
    }
    for (int l = 0; l < c->n_layers; l++) {
        pd_layer_weights *L = &w->layers[l];
        char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        if ((rc = bind_vec(w, NAME("attn_norm.weight"), dim, 0, &L->attn_norm, err)) ||
            (rc = bind_mat(w, NAME("attn_q.weight"), q_dim, dim, permute ? c->n_heads : 0, &L->wq, err)) ||
            (rc = bind_mat(w, NAME("attn_k.weight"), kv_dim, dim, permute ? c->n_kv_heads : 0, &L->wk, err)) ||
            (rc = bind_mat(w, NAME("attn_v.weight"), kv_dim, dim, 0, &L->wv, err)) ||
            (rc = bind_mat(w, NAME("attn_output.weight"), dim, q_dim, 0, &L->wo, err)) ||
            (rc = bind_vec(w, NAME("ffn_norm.weight"), dim, 0, &L->ffn_norm, err)) ||
            (rc = bind_mat(w, NAME("ffn_gate.weight"), c->intermediate_size, dim, 0, &L->w_gate, err)) ||
            (rc = bind_mat(w, NAME("ffn_up.weight"), c->intermediate_size, dim, 0, &L->w_up, err)) ||
            (rc = bind_mat(w, NAME("ffn_down.weight"), dim, c->intermediate_size, 0, &L->w_down, err)))
            goto fail;
        if (c->attn_qkv_bias &&
            ((rc = bind_vec(w, NAME("attn_q.bias"), q_dim, permute ? c->n_heads : 0, &L->bq, err)) ||
             (rc = bind_vec(w, NAME("attn_k.bias"), kv_dim, permute ? c->n_kv_heads : 0, &L->bk, err)) ||
             (rc = bind_vec(w, NAME("attn_v.bias"), kv_dim, 0, &L->bv, err))))
            goto fail;
        if (c->attn_o_bias && (rc = bind_vec(w, NAME("attn_output.bias"), dim, 0, &L->bo, err))) goto fail;
#undef NAME
    }
    return 0;
fail:
    pd_weights_free(w);
    return rc;
}
