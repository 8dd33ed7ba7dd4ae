/* config.c — read and validate config.json and generation_config.json.
 *
 * The model's shape comes from outside data, so every field is checked against a generous
 * but finite range before anything is sized from it, and relations between fields are
 * checked too (heads divisible by KV heads, head_dim even, EOS ids inside the vocabulary).
 * Both spellings transformers has used are accepted: rope_theta + rope_scaling (most hub
 * checkpoints) and rope_parameters (transformers 5). Unknown fields are ignored; known
 * fields with values we cannot honour (another activation, another RoPE scaling, MLP
 * biases) are an error rather than a silently wrong model. */
#include "ponder/model.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Read an integer field into *out (def when absent or null); checks [lo, hi]. */
static int get_int(const json_t *root, const char *name, const char *key, long long def, long long lo, long long hi,
                   int *out, pd_error *err) {
    const json_t *v = json_object_get(root, key);
    long long x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) return pd_err_set(err, PD_EFORMAT, "%s: %s is not an integer", name, key);
        x = json_integer_value(v);
    } else if (def == LLONG_MIN) {
        return pd_err_set(err, PD_EFORMAT, "%s: missing %s", name, key);
    }
    if (x < lo || x > hi) return pd_err_set(err, PD_EFORMAT, "%s: %s %lld is out of range [%lld, %lld]", name, key, x, lo, hi);
    *out = (int)x;
    return 0;
}

/* Read a number field (integer or real) into *out (def when absent or null); checks it is
 * finite and in (lo, hi]. */
static int get_num(const json_t *root, const char *name, const char *key, double def, double lo, double hi,
                   double *out, pd_error *err) {
    const json_t *v = json_object_get(root, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v)) return pd_err_set(err, PD_EFORMAT, "%s: %s is not a number", name, key);
        x = json_number_value(v);
    }
    if (!isfinite(x) || !(x > lo) || x > hi) return pd_err_set(err, PD_EFORMAT, "%s: %s %g is out of range (%g, %g]", name, key, x, lo, hi);
    *out = x;
    return 0;
}

/* Read a boolean field (def when absent or null). */
static int get_bool(const json_t *root, const char *name, const char *key, int def, int *out, pd_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return pd_err_set(err, PD_EFORMAT, "%s: %s is not a boolean", name, key);
    *out = json_is_true(v);
    return 0;
}

/* Add the ids of an eos_token_id value (int, list of ints, or null) to cfg. */
static int add_eos(const json_t *v, const char *name, pd_model_config *cfg, pd_error *err) {
    if (!v || json_is_null(v)) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e)) return pd_err_set(err, PD_EFORMAT, "%s: eos_token_id must be an integer or a list of integers", name);
        json_int_t id = json_integer_value(e);
        if (id < 0 || id >= cfg->vocab_size)
            return pd_err_set(err, PD_EFORMAT, "%s: eos_token_id %lld is outside the vocabulary (%d)", name, (long long)id,
                              cfg->vocab_size);
        int dup = 0;
        for (int k = 0; k < cfg->n_eos; k++) dup |= cfg->eos_ids[k] == id;
        if (dup) continue;
        if (cfg->n_eos >= PD_MAX_EOS) return pd_err_set(err, PD_EFORMAT, "%s: more than %d eos_token_id values", name, PD_MAX_EOS);
        cfg->eos_ids[cfg->n_eos++] = (int)id;
    }
    return 0;
}

/* RoPE: theta and scaling from either spelling. */
static int parse_rope(const json_t *root, const char *name, pd_model_config *cfg, pd_error *err) {
    const json_t *rp = json_object_get(root, "rope_parameters");
    const json_t *rs = json_object_get(root, "rope_scaling");
    if (rp && !json_is_null(rp) && !json_is_object(rp)) return pd_err_set(err, PD_EFORMAT, "%s: rope_parameters is not an object", name);
    if (rs && !json_is_null(rs) && !json_is_object(rs)) return pd_err_set(err, PD_EFORMAT, "%s: rope_scaling is not an object", name);
    const json_t *theta_src = json_object_get(root, "rope_theta") ? root : (json_is_object(rp) ? rp : root);
    int rc = get_num(theta_src, name, "rope_theta", 10000.0, 0.0, 1e12, &cfg->rope_theta, err);
    if (rc) return rc;
    const json_t *sc = json_is_object(rs) ? rs : (json_is_object(rp) ? rp : NULL);
    if (!sc) return 0;
    const json_t *t = json_object_get(sc, "rope_type");
    if (!t) t = json_object_get(sc, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : "default";
    if (!strcmp(type, "default")) return 0;
    if (strcmp(type, "llama3"))
        return pd_err_set(err, PD_EUNSUPPORTED, "%s: rope scaling type '%.40s' is not supported (default, llama3)", name, type);
    cfg->rope_llama3 = 1;
    if ((rc = get_num(sc, name, "factor", NAN, 0.0, 1e6, &cfg->rope_factor, err)) ||
        (rc = get_num(sc, name, "low_freq_factor", NAN, 0.0, 1e6, &cfg->rope_low_freq_factor, err)) ||
        (rc = get_num(sc, name, "high_freq_factor", NAN, 0.0, 1e6, &cfg->rope_high_freq_factor, err)) ||
        (rc = get_int(sc, name, "original_max_position_embeddings", LLONG_MIN, 1, 1 << 24,
                      &cfg->rope_original_max_positions, err)))
        return rc;
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return pd_err_set(err, PD_EFORMAT, "%s: llama3 rope scaling needs high_freq_factor > low_freq_factor", name);
    return 0;
}

/* Sliding-window attention: Mistral applies it to every layer; Qwen2 to the layers its
 * layer_types (or use_sliding_window + max_window_layers) mark. */
static int parse_sliding(const json_t *root, const char *name, pd_model_config *cfg, pd_error *err) {
    int rc, use = cfg->arch == PD_ARCH_MISTRAL, max_window_layers = 0;
    if (cfg->arch == PD_ARCH_LLAMA) return 0;
    if (cfg->arch == PD_ARCH_QWEN2) {
        if ((rc = get_bool(root, name, "use_sliding_window", 0, &use, err))) return rc;
        if ((rc = get_int(root, name, "max_window_layers", 28, 0, 1 << 20, &max_window_layers, err))) return rc;
    }
    if (!use) return 0;
    /* transformers' defaults: an absent sliding_window is 4096 (null means no window), an
     * absent max_window_layers 28 */
    int sw_default = json_object_get(root, "sliding_window") ? 0 : 4096;
    if ((rc = get_int(root, name, "sliding_window", sw_default, 0, 1 << 30, &cfg->sliding_window, err))) return rc;
    if (!cfg->sliding_window) return 0;
    const json_t *lt = json_object_get(root, "layer_types");
    if (json_is_array(lt)) {
        if (json_array_size(lt) != (size_t)cfg->n_layers)
            return pd_err_set(err, PD_EFORMAT, "%s: layer_types has %zu entries for %d layers", name, json_array_size(lt), cfg->n_layers);
        for (int i = 0; i < cfg->n_layers; i++) {
            const char *s = json_string_value(json_array_get(lt, (size_t)i));
            if (!s || (strcmp(s, "full_attention") && strcmp(s, "sliding_attention")))
                return pd_err_set(err, PD_EFORMAT, "%s: layer_types[%d] is not full_attention or sliding_attention", name, i);
            cfg->layer_sliding[i] = !strcmp(s, "sliding_attention");
        }
        return 0;
    }
    for (int i = 0; i < cfg->n_layers; i++)
        cfg->layer_sliding[i] = cfg->arch == PD_ARCH_MISTRAL || i >= max_window_layers;
    return 0;
}

/* Parse config.json; see model.h. */
int pd_model_config_parse(const char *json, size_t len, const char *name, pd_model_config *cfg, pd_error *err) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: not valid JSON: %s (line %d)", name, jerr.text, jerr.line);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: not a JSON object", name);
        goto out;
    }
    /* Architecture: the first entry of "architectures", else model_type. */
    /* The reward models are a Qwen2 body with a head of their own instead of lm_head:
     * Qwen2.5-Math-PRM (two-class "score" MLP) and Skywork's PRM (scalar "v_head"). They are
     * only recognised by their architecture name (model_type says qwen2 for both). */
    static const struct { const char *arch, *type; pd_arch id; pd_head head; } known[] = {
        {"LlamaForCausalLM", "llama", PD_ARCH_LLAMA, PD_HEAD_LM},
        {"Qwen2ForCausalLM", "qwen2", PD_ARCH_QWEN2, PD_HEAD_LM},
        {"MistralForCausalLM", "mistral", PD_ARCH_MISTRAL, PD_HEAD_LM},
        {"Qwen2ForProcessRewardModel", NULL, PD_ARCH_QWEN2, PD_HEAD_PRM_CLASS},
        {"Qwen2ForPrmModel", NULL, PD_ARCH_QWEN2, PD_HEAD_VALUE},
    };
    const json_t *archs = json_object_get(root, "architectures");
    const char *arch = json_string_value(json_array_get(archs, 0));
    const char *mtype = json_string_value(json_object_get(root, "model_type"));
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if ((arch && !strcmp(arch, known[i].arch)) ||
            (!arch && mtype && known[i].type && !strcmp(mtype, known[i].type))) {
            cfg->arch = known[i].id;
            cfg->head = known[i].head;
            snprintf(cfg->architecture, sizeof cfg->architecture, "%s", known[i].arch);
        }
    if (!cfg->arch) {
        rc = pd_err_set(err, PD_EUNSUPPORTED, "%s: architecture '%.60s' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, "
                        "MistralForCausalLM, Qwen2ForProcessRewardModel, Qwen2ForPrmModel)",
                        name, arch ? arch : mtype ? mtype : "(none)");
        goto out;
    }
    const char *act = json_string_value(json_object_get(root, "hidden_act"));
    if (act && strcmp(act, "silu")) {
        rc = pd_err_set(err, PD_EUNSUPPORTED, "%s: hidden_act '%.40s' is not supported (silu)", name, act);
        goto out;
    }
    int mlp_bias = 0, attention_bias = 0;
    if ((rc = get_int(root, name, "vocab_size", LLONG_MIN, 1, 1 << 24, &cfg->vocab_size, err)) ||
        (rc = get_int(root, name, "hidden_size", LLONG_MIN, 1, 1 << 16, &cfg->hidden_size, err)) ||
        (rc = get_int(root, name, "intermediate_size", LLONG_MIN, 1, 1 << 20, &cfg->intermediate_size, err)) ||
        (rc = get_int(root, name, "num_hidden_layers", LLONG_MIN, 1, PD_MAX_LAYERS, &cfg->n_layers, err)) ||
        (rc = get_int(root, name, "num_attention_heads", LLONG_MIN, 1, 1024, &cfg->n_heads, err)) ||
        (rc = get_int(root, name, "num_key_value_heads", cfg->n_heads, 1, 1024, &cfg->n_kv_heads, err)) ||
        (rc = get_int(root, name, "max_position_embeddings", 4096, 1, 1 << 24, &cfg->max_positions, err)) ||
        (rc = get_bool(root, name, "tie_word_embeddings", 0, &cfg->tie_embeddings, err)) ||
        (rc = get_bool(root, name, "attention_bias", 0, &attention_bias, err)) ||
        (rc = get_bool(root, name, "mlp_bias", 0, &mlp_bias, err)))
        goto out;
    if (cfg->n_heads % cfg->n_kv_heads) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name,
                        cfg->n_heads, cfg->n_kv_heads);
        goto out;
    }
    const json_t *hd = json_object_get(root, "head_dim");
    if (!hd || json_is_null(hd)) {
        if (cfg->hidden_size % cfg->n_heads) {
            rc = pd_err_set(err, PD_EFORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", name,
                            cfg->hidden_size, cfg->n_heads);
            goto out;
        }
        cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    } else if ((rc = get_int(root, name, "head_dim", 0, 2, 1024, &cfg->head_dim, err))) {
        goto out;
    }
    if (cfg->head_dim % 2 || cfg->head_dim < 2) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: head_dim %d must be even (RoPE rotates pairs)", name, cfg->head_dim);
        goto out;
    }
    if ((long long)cfg->n_heads * cfg->head_dim > (1 << 17)) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: num_attention_heads x head_dim is absurdly large", name);
        goto out;
    }
    if (mlp_bias) {
        rc = pd_err_set(err, PD_EUNSUPPORTED, "%s: mlp_bias is not supported", name);
        goto out;
    }
    double eps;
    /* > 1e-12 so that it survives the conversion to float (1e-85 would become 0) */
    if ((rc = get_num(root, name, "rms_norm_eps", 1e-6, 1e-12, 1.0, &eps, err))) goto out;
    cfg->rms_norm_eps = (float)eps;
    if ((rc = parse_rope(root, name, cfg, err)) || (rc = parse_sliding(root, name, cfg, err))) goto out;
    cfg->attn_qkv_bias = cfg->arch == PD_ARCH_QWEN2 || attention_bias;
    cfg->attn_o_bias = cfg->arch != PD_ARCH_QWEN2 && attention_bias;
    cfg->bos_id = -1;
    const json_t *bos = json_object_get(root, "bos_token_id");
    if (json_is_integer(bos) && json_integer_value(bos) >= 0 && json_integer_value(bos) < cfg->vocab_size)
        cfg->bos_id = (int)json_integer_value(bos);
    rc = add_eos(json_object_get(root, "eos_token_id"), name, cfg, err);
out:
    json_decref(root);
    return rc;
}

/* Merge generation_config.json's EOS ids; see model.h. */
int pd_model_config_merge_generation(const char *json, size_t len, const char *name, pd_model_config *cfg,
                                     pd_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: not valid JSON: %s (line %d)", name, jerr.text, jerr.line);
    int rc = json_is_object(root) ? add_eos(json_object_get(root, "eos_token_id"), name, cfg, err)
                                  : pd_err_set(err, PD_EFORMAT, "%s: not a JSON object", name);
    json_decref(root);
    return rc;
}
