/* weights.c — load a model directory: config, then every tensor by name with its expected shape.
 *
 * Matrices stay in the mapping in their stored dtype (F32, F16 or BF16); the kernels convert
 * them to fp32 on the fly. Small vectors (norm weights, biases) are converted to fp32 copies
 * once here, since they are read for every token. A matrix whose bytes are not aligned to
 * its element size (legal in safetensors, never produced by the usual writers) is copied to
 * an aligned buffer rather than read through a misaligned pointer.
 *
 * Tensor names follow Hugging Face's Llama family: model.embed_tokens.weight,
 * model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
 * mlp.{gate,up,down}_proj}, model.norm.weight, lm_head.weight (absent when tied). The
 * reward models replace lm_head by their head: score.{0,2}.{weight,bias} (Qwen2.5-Math-PRM;
 * a lm_head.weight beside it is ignored, as vLLM does) or v_head.summary.{weight,bias}
 * (Skywork's PRM). */
#include "model/weights.h"

#include "engine/kernels.h"
#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Convert one stored element to fp32. */
static float elem_f32(const uint8_t *p, int dtype) {
    uint16_t h;
    float f;
    if (dtype == PD_DT_F32) {
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&h, p, 2);
    return dtype == PD_DT_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
}

/* Remember a buffer to free with the weights; frees p and returns PD_ENOMEM on failure. */
static int own(pd_weights *w, void *p) {
    if (pd_grow((void **)&w->owned, &w->cap_owned, w->n_owned + 1, sizeof *w->owned)) {
        free(p);
        return PD_ENOMEM;
    }
    w->owned[w->n_owned++] = p;
    return 0;
}

/* Find tensor `name`, check dtype is a float type and the shape is (d0) or (d0, d1)
 * (d1 < 0 for a vector). Returns it or NULL with err set (PD_ENOTFOUND when missing). */
static const pd_st_tensor *need(pd_weights *w, const char *name, long d0, long d1, const char **file, pd_error *err) {
    const pd_st_tensor *t = pd_st_set_find(&w->st, name, file);
    if (!t) {
        pd_err_set(err, PD_ENOTFOUND, "%s: missing tensor '%s'", w->where, name);
        return NULL;
    }
    if (t->dtype != PD_DT_F32 && t->dtype != PD_DT_F16 && t->dtype != PD_DT_BF16) {
        pd_err_set(err, PD_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16", *file, name,
                   pd_dtype_name(t->dtype));
        return NULL;
    }
    int rank = d1 < 0 ? 1 : 2;
    if (t->rank != rank || t->shape[0] != d0 || (rank == 2 && t->shape[1] != d1)) {
        char got[128] = "", want[64];
        size_t o = 0;
        for (int i = 0; i < t->rank && o < sizeof got - 24; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (rank == 1) snprintf(want, sizeof want, "%ld", d0);
        else snprintf(want, sizeof want, "%ld, %ld", d0, d1);
        pd_err_set(err, PD_EFORMAT, "%s: tensor '%s' has shape [%s]; the config implies [%s]", *file, name, got, want);
        return NULL;
    }
    return t;
}

/* Bind a matrix (rows, cols). */
static int bind_mat(pd_weights *w, const char *name, int rows, int cols, pd_wmat *m, pd_error *err) {
    const char *file = NULL;
    const pd_st_tensor *t = need(w, name, rows, cols, &file, err);
    if (!t) return err ? err->code : PD_EFORMAT;
    m->dtype = t->dtype;
    m->rows = rows;
    m->cols = cols;
    m->data = t->data;
    size_t es = pd_dtype_size(t->dtype);
    if ((uintptr_t)t->data % es) {
        void *copy = malloc(t->end - t->begin);
        if (!copy || own(w, copy)) return pd_err_set(err, PD_ENOMEM, "%s: out of memory copying '%s'", file, name);
        memcpy(copy, t->data, t->end - t->begin);
        m->data = copy;
    }
    w->n_params += (size_t)rows * (size_t)cols;
    return 0;
}

/* Bind a vector (n) as an fp32 copy. */
static int bind_vec(pd_weights *w, const char *name, int n, float **out, pd_error *err) {
    const char *file = NULL;
    const pd_st_tensor *t = need(w, name, n, -1, &file, err);
    if (!t) return err ? err->code : PD_EFORMAT;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v || own(w, v)) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", file);
    size_t es = pd_dtype_size(t->dtype);
    for (int i = 0; i < n; i++) v[i] = elem_f32(t->data + (size_t)i * es, t->dtype);
    *out = v;
    w->n_params += (size_t)n;
    return 0;
}

/* Read config.json and generation_config.json (optional) of dir into cfg. */
static int load_config(const char *dir, pd_model_config *cfg, pd_error *err) {
    char path[4096];
    char *text = NULL;
    size_t len = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return pd_err_set(err, PD_EINVAL, "%s: path too long", dir);
    int rc = pd_file_read(path, &text, &len, err);
    if (rc) return rc;
    rc = pd_model_config_parse(text, len, path, cfg, err);
    free(text);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (!pd_file_exists(path)) return 0;
    if ((rc = pd_file_read(path, &text, &len, err))) return rc;
    rc = pd_model_config_merge_generation(text, len, path, cfg, err);
    free(text);
    return rc;
}

/* Load and bind everything; see weights.h. */
int pd_weights_load(const char *dir, pd_weights *w, pd_error *err) {
    if (!pd_dir_exists(dir) && pd_gguf_is_file(dir)) return pd_weights_load_gguf(dir, w, err);
    char gguf[4096];
    if (pd_dir_exists(dir) && pd_gguf_in_dir(dir, gguf, sizeof gguf)) return pd_weights_load_gguf(gguf, w, err);
    memset(w, 0, sizeof *w);
    int rc = load_config(dir, &w->cfg, err);
    if (rc) return rc;
    if ((rc = pd_st_set_open(dir, &w->st, err))) return rc;
    snprintf(w->where, sizeof w->where, "%s", w->st.n_files == 1 ? w->st.files[0].path : dir);
    if (w->st.n_files > 1) snprintf(w->where, sizeof w->where, "%.400s/model.safetensors.index.json", dir);
    const pd_model_config *c = &w->cfg;
    int dim = c->hidden_size, q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if ((rc = bind_mat(w, "model.embed_tokens.weight", c->vocab_size, dim, &w->embed, err)) ||
        (rc = bind_vec(w, "model.norm.weight", dim, &w->final_norm, err)))
        goto fail;
    if (c->head == PD_HEAD_PRM_CLASS) {
        if ((rc = bind_mat(w, "score.0.weight", dim, dim, &w->head1, err)) ||
            (rc = bind_vec(w, "score.0.bias", dim, &w->head1_b, err)) ||
            (rc = bind_mat(w, "score.2.weight", 2, dim, &w->head2, err)) ||
            (rc = bind_vec(w, "score.2.bias", 2, &w->head2_b, err)))
            goto fail;
    } else if (c->head == PD_HEAD_VALUE) {
        if ((rc = bind_mat(w, "v_head.summary.weight", 1, dim, &w->head1, err)) ||
            (rc = bind_vec(w, "v_head.summary.bias", 1, &w->head1_b, err)))
            goto fail;
    } else if (c->tie_embeddings) {
        w->lm_head = w->embed;
    } else if ((rc = bind_mat(w, "lm_head.weight", c->vocab_size, dim, &w->lm_head, err))) {
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++) {
        pd_layer_weights *L = &w->layers[l];
        char n[160];
#define NAME(s) (snprintf(n, sizeof n, "model.layers.%d.%s", l, s), n)
        if ((rc = bind_vec(w, NAME("input_layernorm.weight"), dim, &L->attn_norm, err)) ||
            (rc = bind_mat(w, NAME("self_attn.q_proj.weight"), q_dim, dim, &L->wq, err)) ||
            (rc = bind_mat(w, NAME("self_attn.k_proj.weight"), kv_dim, dim, &L->wk, err)) ||
            (rc = bind_mat(w, NAME("self_attn.v_proj.weight"), kv_dim, dim, &L->wv, err)) ||
            (rc = bind_mat(w, NAME("self_attn.o_proj.weight"), dim, q_dim, &L->wo, err)) ||
            (rc = bind_vec(w, NAME("post_attention_layernorm.weight"), dim, &L->ffn_norm, err)) ||
            (rc = bind_mat(w, NAME("mlp.gate_proj.weight"), c->intermediate_size, dim, &L->w_gate, err)) ||
            (rc = bind_mat(w, NAME("mlp.up_proj.weight"), c->intermediate_size, dim, &L->w_up, err)) ||
            (rc = bind_mat(w, NAME("mlp.down_proj.weight"), dim, c->intermediate_size, &L->w_down, err)))
            goto fail;
        if (c->attn_qkv_bias &&
            ((rc = bind_vec(w, NAME("self_attn.q_proj.bias"), q_dim, &L->bq, err)) ||
             (rc = bind_vec(w, NAME("self_attn.k_proj.bias"), kv_dim, &L->bk, err)) ||
             (rc = bind_vec(w, NAME("self_attn.v_proj.bias"), kv_dim, &L->bv, err))))
            goto fail;
        if (c->attn_o_bias && (rc = bind_vec(w, NAME("self_attn.o_proj.bias"), dim, &L->bo, err))) goto fail;
#undef NAME
    }
    return 0;
fail:
    pd_weights_free(w);
    return rc;
}

void pd_weights_free(pd_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->layers);
    pd_st_set_close(&w->st);
    if (w->gguf) pd_gguf_close(w->gguf);
    free(w->gguf);
    memset(w, 0, sizeof *w);
}
