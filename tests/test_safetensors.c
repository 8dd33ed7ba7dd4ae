/* test_safetensors.c — bad model files are clear errors naming the file and the problem.
 *
 * Headers built by hand (lying offsets, overlaps, unknown dtypes, overflowing shapes,
 * truncation), checkpoints rewritten from the llama_f32 fixture with a tensor dropped, its
 * dtype or shape changed, truncated at many lengths, sharded indexes that lie, and configs
 * with absurd values. Every case must fail with the expected code and message; none may
 * crash (the sanitizer build runs this too). Scratch files go to build/tmp/test_safetensors/. */
#include <jansson.h>

#include "model/safetensors.h"
#include "ponder.h"
#include "test.h"

#define TMP "build/tmp/test_safetensors"
#define FIX "tests/fixtures/models/llama_f32"

/* An in-memory safetensors image: 8-byte length, header text, data_len zero bytes. */
static uint8_t *image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

/* Parse a hand-made header; returns the code and leaves the message in err. */
static int parse_header(const char *header, size_t data_len, pd_error *err) {
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    pd_st_file f;
    int rc = pd_st_parse(b, len, "x.safetensors", &f, err);
    if (!rc) pd_st_close(&f);
    free(b);
    return rc;
}

#define EXPECT_BAD(hdr, dlen, code, needle) do { pd_error e_ = {0}; int rc_ = parse_header(hdr, dlen, &e_); \
    CHECK_MSG(rc_ == (code) && strstr(e_.msg, needle) && strstr(e_.msg, "x.safetensors"), \
              "header %s: rc %d msg '%s' (want '%s')", hdr, rc_, e_.msg, needle); } while (0)

static void t_header_validation(void) {
    pd_error err = {0};
    /* a good one, with metadata, a zero-size tensor and padding spaces */
    CHECK(parse_header("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                       "\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[32,32]}}   ", 32, &err) == 0);
    size_t len;
    uint8_t *b = image("{\"w\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[2,8]}}", 8, &len);
    pd_st_file f;
    CHECK(pd_st_parse(b, len, "y", &f, &err) == 0);
    const pd_st_tensor *t = pd_st_find(&f, "w");
    CHECK(t && t->dtype == PD_DT_F16 && t->rank == 1 && t->shape[0] == 3 && t->n_elems == 3 && t->data == b + 8 + (len - 8 - 8) + 2);
    CHECK(pd_st_find(&f, "nope") == NULL);
    pd_st_close(&f);
    free(b);

    CHECK(pd_st_parse((const uint8_t *)"abc", 3, "x.safetensors", &f, &err) == PD_EFORMAT && strstr(err.msg, "too short"));
    uint8_t big[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(pd_st_parse(big, sizeof big, "x.safetensors", &f, &err) == PD_EFORMAT && strstr(err.msg, "exceeds the file size"));
    EXPECT_BAD("{\"a\":", 0, PD_EFORMAT, "not valid JSON");
    EXPECT_BAD("[1,2]", 0, PD_EFORMAT, "not a JSON object");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               16, PD_EFORMAT, "duplicate");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, PD_EFORMAT, "unknown dtype 'F9'");
    EXPECT_BAD("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, PD_EFORMAT, "missing dtype");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, PD_EFORMAT, "past the data section");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, PD_EFORMAT, "need 8");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 12, PD_EFORMAT, "backwards");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 12, PD_EFORMAT, "data_offsets");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, PD_EFORMAT, "shape dimension 0");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, PD_EFORMAT, "shape dimension 0");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8, PD_EFORMAT, "overflows");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, PD_EFORMAT, "rank 9");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               16, PD_EFORMAT, "overlap");
    EXPECT_BAD("{\"a\":3}", 0, PD_EFORMAT, "not an object");
    EXPECT_BAD("{\"__metadata__\":[1]}", 0, PD_EFORMAT, "__metadata__");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", 8, PD_EFORMAT, "data_offsets");
}

/* ---- rewriting the llama_f32 fixture ---- */

typedef struct mod {
    const char *drop;          /* tensor to leave out */
    const char *retype, *dtype; /* tensor whose dtype string to replace */
    const char *reshape;       /* tensor whose shape becomes (s0, s1) */
    long s0, s1;
} mod;

/* Write dir/config.json (a copy of the fixture's, or `config` when given) and
 * dir/model.safetensors rewritten from the fixture with modification md. */
static void write_model(const char *dir, const mod *md, const char *config) {
    char path[512];
    pd_error err = {0};
    CHECK(pd_mkdirs(dir, &err) == 0);
    char *text;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", FIX);
    CHECK(pd_file_read(path, &text, &len, &err) == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(pd_file_write(path, config ? config : text, config ? strlen(config) : len, &err) == 0);
    free(text);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    unlink(path);
    pd_st_file f;
    snprintf(path, sizeof path, "%s/model.safetensors", FIX);
    CHECK(pd_st_open(path, &f, &err) == 0);
    json_t *hdr = json_object();
    pd_buf data = {0};
    for (size_t i = 0; i < f.n_tensors; i++) {
        const pd_st_tensor *t = &f.tensors[i];
        if (md && md->drop && !strcmp(md->drop, t->name)) continue;
        json_t *shape = json_array();
        if (md && md->reshape && !strcmp(md->reshape, t->name)) {
            json_array_append_new(shape, json_integer(md->s0));
            json_array_append_new(shape, json_integer(md->s1));
        } else {
            for (int k = 0; k < t->rank; k++) json_array_append_new(shape, json_integer(t->shape[k]));
        }
        const char *dt = md && md->retype && !strcmp(md->retype, t->name) ? md->dtype : pd_dtype_name(t->dtype);
        json_object_set_new(hdr, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", dt, "shape", shape, "data_offsets",
                                                    (json_int_t)data.len, (json_int_t)(data.len + (t->end - t->begin))));
        pd_buf_append(&data, t->data, t->end - t->begin);
    }
    char *h = json_dumps(hdr, JSON_COMPACT);
    size_t hl = strlen(h);
    pd_buf out = {0};
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    pd_buf_append(&out, lenb, 8);
    pd_buf_append(&out, h, hl);
    pd_buf_append(&out, data.data, data.len);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(pd_file_write(path, out.data, out.len, &err) == 0);
    free(h);
    json_decref(hdr);
    pd_buf_free(&data);
    pd_buf_free(&out);
    pd_st_close(&f);
}

/* Load dir and expect failure with `code` and every needle in the message. */
static void expect_load_fail(const char *dir, int code, const char *n1, const char *n2) {
    pd_error err = {0};
    pd_model *m = pd_model_load(dir, NULL, &err);
    CHECK_MSG(m == NULL && err.code == code && strstr(err.msg, n1) && (!n2 || strstr(err.msg, n2)),
              "%s: code %d msg '%s' (want %d '%s' '%s')", dir, err.code, err.msg, code, n1, n2 ? n2 : "");
    pd_model_free(m);
}

static void t_model_tensor_errors(void) {
    /* an unmodified rewrite loads (the writer itself is right) */
    write_model(TMP "/ok", NULL, NULL);
    pd_error err = {0};
    pd_model *m = pd_model_load(TMP "/ok", NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    pd_model_free(m);
    mod drop = {.drop = "model.layers.1.mlp.up_proj.weight"};
    write_model(TMP "/missing", &drop, NULL);
    expect_load_fail(TMP "/missing", PD_ENOTFOUND, "missing tensor 'model.layers.1.mlp.up_proj.weight'", "model.safetensors");
    mod drop_head = {.drop = "lm_head.weight"};
    write_model(TMP "/missing_head", &drop_head, NULL);
    expect_load_fail(TMP "/missing_head", PD_ENOTFOUND, "missing tensor 'lm_head.weight'", NULL);
    mod retype = {.retype = "model.layers.0.self_attn.q_proj.weight", .dtype = "I32"};
    write_model(TMP "/dtype", &retype, NULL);
    expect_load_fail(TMP "/dtype", PD_EUNSUPPORTED, "'model.layers.0.self_attn.q_proj.weight' has dtype I32", "model.safetensors");
    mod retype2 = {.retype = "model.norm.weight", .dtype = "F64"}; /* 8-byte type: size no longer matches */
    write_model(TMP "/dtype2", &retype2, NULL);
    expect_load_fail(TMP "/dtype2", PD_EFORMAT, "model.norm.weight", "need");
    mod reshape = {.reshape = "model.layers.0.self_attn.k_proj.weight", .s0 = 32, .s1 = 16};
    write_model(TMP "/shape", &reshape, NULL);
    expect_load_fail(TMP "/shape", PD_EFORMAT, "has shape [32, 16]; the config implies [16, 32]", "k_proj");
    /* weights that do not fit the config */
    write_model(TMP "/bigger", NULL,
                "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":64,\"num_hidden_layers\":2,"
                "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":256}");
    expect_load_fail(TMP "/bigger", PD_EFORMAT, "model.embed_tokens.weight", "[256, 64]");
    /* no weights at all */
    CHECK(pd_mkdirs(TMP "/noweights", &err) == 0);
    const char *cfg = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                      "\"intermediate_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":256}";
    CHECK(pd_file_write(TMP "/noweights/config.json", cfg, strlen(cfg), &err) == 0);
    expect_load_fail(TMP "/noweights", PD_ENOTFOUND, "no model.safetensors", NULL);
    expect_load_fail(TMP "/nothing-here", PD_ENOTFOUND, "config.json", NULL);
}

/* Cut the fixture's file at many lengths: always an error naming the file, never a crash. */
static void t_truncated_files(void) {
    write_model(TMP "/trunc", NULL, NULL);
    char *full;
    size_t len;
    pd_error err = {0};
    CHECK(pd_file_read(TMP "/trunc/model.safetensors", &full, &len, &err) == 0);
    int fails = 0, tries = 0;
    for (size_t cut = 0; cut < len; cut += cut < 2048 ? 61 : 4099) {
        CHECK(pd_file_write(TMP "/trunc/model.safetensors", full, cut, &err) == 0);
        pd_model *m = pd_model_load(TMP "/trunc", NULL, &err);
        tries++;
        if (!m && strstr(err.msg, "model.safetensors")) fails++;
        else CHECK_MSG(0, "cut at %zu: loaded or unclear error '%s'", cut, m ? "(loaded)" : err.msg);
        pd_model_free(m);
    }
    CHECK_EQ_INT(fails, tries);
    free(full);
}

/* ---- sharded checkpoints whose index lies ---- */

static void write_index(const char *dir, const char *json) {
    pd_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(pd_file_write(path, json, strlen(json), &err) == 0);
}

static void t_index_errors(void) {
    /* a shard set made of the single-file rewrite under another name */
    write_model(TMP "/sharded", NULL, NULL);
    pd_error err = {0};
    CHECK(rename(TMP "/sharded/model.safetensors", TMP "/sharded/model-00001-of-00001.safetensors") == 0);
    write_index(TMP "/sharded", "{\"weight_map\":{\"lm_head.weight\":\"model-00001-of-00001.safetensors\"}}");
    pd_model *m = pd_model_load(TMP "/sharded", NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    pd_model_free(m);
    write_index(TMP "/sharded", "{\"weight_map\":{\"lm_head.weight\":\"../../etc/passwd.safetensors\"}}");
    expect_load_fail(TMP "/sharded", PD_EFORMAT, "bad shard file name", "index.json");
    write_index(TMP "/sharded", "{\"weight_map\":{\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}");
    expect_load_fail(TMP "/sharded", PD_ENOTFOUND, "model-00002-of-00002.safetensors", NULL);
    write_index(TMP "/sharded", "{\"weight_map\":{\"lm_head.weightX\":\"model-00001-of-00001.safetensors\"}}");
    expect_load_fail(TMP "/sharded", PD_EFORMAT, "'lm_head.weightX' is not in model-00001-of-00001.safetensors", NULL);
    write_index(TMP "/sharded", "{\"weight_map\":{}}");
    expect_load_fail(TMP "/sharded", PD_EFORMAT, "weight_map", NULL);
    write_index(TMP "/sharded", "{\"weight_map\":[1]");
    expect_load_fail(TMP "/sharded", PD_EFORMAT, "not valid JSON", "index.json");
    /* the same tensor in two shards */
    pd_mkdirs(TMP "/twice", &err);
    write_model(TMP "/twice", NULL, NULL);
    char *d;
    size_t n;
    CHECK(pd_file_read(TMP "/twice/model.safetensors", &d, &n, &err) == 0);
    CHECK(pd_file_write(TMP "/twice/a.safetensors", d, n, &err) == 0);
    CHECK(pd_file_write(TMP "/twice/b.safetensors", d, n, &err) == 0);
    free(d);
    write_index(TMP "/twice", "{\"weight_map\":{\"lm_head.weight\":\"a.safetensors\",\"model.norm.weight\":\"b.safetensors\"}}");
    /* as in transformers, model.safetensors wins over an index next to it */
    m = pd_model_load(TMP "/twice", NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    pd_model_free(m);
    CHECK(remove(TMP "/twice/model.safetensors") == 0);
    expect_load_fail(TMP "/twice", PD_EFORMAT, "appears in both", NULL);
}

/* ---- config.json ---- */

/* The llama_f32 config with one field replaced by `value` (raw JSON). */
static char *config_with(const char *key, const char *value) {
    json_error_t je;
    json_t *c = json_load_file(FIX "/config.json", 0, &je);
    json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
    if (v) json_object_set_new(c, key, v);
    else json_object_del(c, key);
    char *s = json_dumps(c, 0);
    json_decref(c);
    return s;
}

static void expect_config_fail(const char *key, const char *value, int code, const char *needle) {
    char *cfg = config_with(key, value);
    pd_model_config c;
    pd_error err = {0};
    int rc = pd_model_config_parse(cfg, strlen(cfg), "dir/config.json", &c, &err);
    CHECK_MSG(rc == code && strstr(err.msg, needle) && strstr(err.msg, "dir/config.json"), "%s=%s: rc %d msg '%s' (want '%s')",
              key, value, rc, err.msg, needle);
    free(cfg);
}

static void t_config_errors(void) {
    expect_config_fail("hidden_size", "0", PD_EFORMAT, "hidden_size 0 is out of range");
    expect_config_fail("hidden_size", "-32", PD_EFORMAT, "hidden_size -32 is out of range");
    expect_config_fail("hidden_size", "\"32\"", PD_EFORMAT, "hidden_size is not an integer");
    expect_config_fail("vocab_size", "1000000000000", PD_EFORMAT, "vocab_size 1000000000000 is out of range");
    expect_config_fail("vocab_size", "(delete)", PD_EFORMAT, "missing vocab_size");
    expect_config_fail("num_hidden_layers", "100000", PD_EFORMAT, "num_hidden_layers 100000");
    expect_config_fail("num_attention_heads", "3", PD_EFORMAT, "not a multiple of num_key_value_heads");
    expect_config_fail("num_key_value_heads", "0", PD_EFORMAT, "num_key_value_heads 0");
    expect_config_fail("head_dim", "7", PD_EFORMAT, "head_dim 7 must be even");
    expect_config_fail("head_dim", "100000", PD_EFORMAT, "head_dim 100000 is out of range");
    expect_config_fail("intermediate_size", "0", PD_EFORMAT, "intermediate_size 0");
    expect_config_fail("rms_norm_eps", "-1e-5", PD_EFORMAT, "rms_norm_eps");
    expect_config_fail("rms_norm_eps", "0", PD_EFORMAT, "rms_norm_eps");
    expect_config_fail("rms_norm_eps", "1e-85", PD_EFORMAT, "rms_norm_eps"); /* found by fuzz_config: 0 as a float */
    expect_config_fail("max_position_embeddings", "0", PD_EFORMAT, "max_position_embeddings 0");
    expect_config_fail("rope_parameters", "{\"rope_type\":\"yarn\",\"factor\":4.0,\"rope_theta\":10000}", PD_EUNSUPPORTED, "'yarn'");
    expect_config_fail("rope_parameters", "{\"rope_type\":\"default\",\"rope_theta\":-5}", PD_EFORMAT, "rope_theta");
    expect_config_fail("rope_parameters", "{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":4,\"high_freq_factor\":1,"
                       "\"original_max_position_embeddings\":8192,\"rope_theta\":500000}", PD_EFORMAT, "high_freq_factor");
    expect_config_fail("rope_parameters", "{\"rope_type\":\"llama3\",\"factor\":8,\"rope_theta\":500000}", PD_EFORMAT, "low_freq_factor");
    expect_config_fail("rope_scaling", "[1]", PD_EFORMAT, "rope_scaling is not an object");
    expect_config_fail("architectures", "[\"GPT2LMHeadModel\"]", PD_EUNSUPPORTED, "'GPT2LMHeadModel' is not supported");
    expect_config_fail("hidden_act", "\"gelu\"", PD_EUNSUPPORTED, "hidden_act 'gelu'");
    expect_config_fail("mlp_bias", "true", PD_EUNSUPPORTED, "mlp_bias");
    expect_config_fail("eos_token_id", "999", PD_EFORMAT, "eos_token_id 999 is outside the vocabulary");
    expect_config_fail("eos_token_id", "[2, \"x\"]", PD_EFORMAT, "eos_token_id must be");
    expect_config_fail("tie_word_embeddings", "3", PD_EFORMAT, "tie_word_embeddings is not a boolean");
    pd_model_config c;
    pd_error err = {0};
    CHECK(pd_model_config_parse("{", 1, "dir/config.json", &c, &err) == PD_EFORMAT && strstr(err.msg, "not valid JSON"));
    CHECK(pd_model_config_parse("[]", 2, "dir/config.json", &c, &err) == PD_EFORMAT && strstr(err.msg, "not a JSON object"));
    /* model_type alone is enough; hub-style rope fields; eos lists merged from generation_config */
    const char *ok = "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                     "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":100,\"rope_theta\":1000000,"
                     "\"rope_scaling\":null,\"eos_token_id\":[5,6],\"use_sliding_window\":true,\"sliding_window\":32,"
                     "\"max_window_layers\":1}";
    CHECK(pd_model_config_parse(ok, strlen(ok), "q/config.json", &c, &err) == 0);
    CHECK(c.arch == PD_ARCH_QWEN2 && c.head_dim == 16 && c.attn_qkv_bias && !c.attn_o_bias && c.rope_theta == 1e6);
    CHECK(c.n_eos == 2 && c.eos_ids[1] == 6 && c.sliding_window == 32 && !c.layer_sliding[0] && c.layer_sliding[1]);
    /* transformers' defaults where the keys are absent: sliding_window 4096 (null: none),
     * max_window_layers 28 */
    const char *mis = "{\"model_type\":\"mistral\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                      "\"num_attention_heads\":4,\"vocab_size\":100}";
    CHECK(pd_model_config_parse(mis, strlen(mis), "m/config.json", &c, &err) == 0);
    CHECK(c.sliding_window == 4096 && c.layer_sliding[0] && c.layer_sliding[1]);
    const char *mis_null = "{\"model_type\":\"mistral\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
                           "\"num_attention_heads\":4,\"vocab_size\":100,\"sliding_window\":null}";
    CHECK(pd_model_config_parse(mis_null, strlen(mis_null), "m/config.json", &c, &err) == 0);
    CHECK(c.sliding_window == 0 && !c.layer_sliding[0]);
    const char *qw = "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":30,"
                     "\"num_attention_heads\":4,\"vocab_size\":100,\"use_sliding_window\":true}";
    CHECK(pd_model_config_parse(qw, strlen(qw), "q/config.json", &c, &err) == 0);
    CHECK(c.sliding_window == 4096 && !c.layer_sliding[0] && !c.layer_sliding[27] && c.layer_sliding[28] && c.layer_sliding[29]);
    CHECK(pd_model_config_parse(ok, strlen(ok), "q/config.json", &c, &err) == 0);
    CHECK(pd_model_config_merge_generation("{\"eos_token_id\":[6,9]}", 22, "g", &c, &err) == 0);
    CHECK(c.n_eos == 3 && c.eos_ids[2] == 9);
    CHECK(pd_model_config_merge_generation("{\"eos_token_id\":[6,900]}", 24, "gen.json", &c, &err) == PD_EFORMAT &&
          strstr(err.msg, "gen.json"));
    /* an absurd config on disk fails the model load with the file's name */
    write_model(TMP "/absurd", NULL, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":64,"
                "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":256,\"rms_norm_eps\":1e400}");
    expect_load_fail(TMP "/absurd", PD_EFORMAT, TMP "/absurd/config.json", NULL);
}

/* The real configs in ../shared/tokenizers (Qwen2.5-0.5B, Llama-3.2-1B, R1-Distill-Qwen-1.5B). */
static void t_real_configs(void) {
    static const struct { const char *dir; pd_arch arch; int head_dim, kv, tie, llama3, n_eos; } want[] = {
        {"tokenizers/qwen2.5-0.5b-instruct", PD_ARCH_QWEN2, 64, 2, 1, 0, 1},
        {"tokenizers/llama-3.2-1b-instruct", PD_ARCH_LLAMA, 64, 8, 1, 1, 3},
        {"tokenizers/deepseek-r1-distill-qwen-1.5b", PD_ARCH_QWEN2, 128, 2, 0, 0, 1},
    };
    int seen = 0;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%s/config.json", want[i].dir);
        const char *p = shared_path(rel);
        if (!p) continue;
        seen++;
        char *text;
        size_t len;
        pd_error err = {0};
        pd_model_config c;
        CHECK(pd_file_read(p, &text, &len, &err) == 0);
        CHECK_MSG(pd_model_config_parse(text, len, p, &c, &err) == 0, "%s", err.msg);
        free(text);
        CHECK(c.arch == want[i].arch && c.head_dim == want[i].head_dim && c.n_kv_heads == want[i].kv);
        CHECK(c.tie_embeddings == want[i].tie && c.rope_llama3 == want[i].llama3 && c.n_eos == want[i].n_eos);
        CHECK(c.sliding_window == 0); /* use_sliding_window false in both Qwen configs */
        if (c.rope_llama3) CHECK(c.rope_factor == 32.0 && c.rope_original_max_positions == 8192 && c.rope_theta == 500000.0);
    }
    if (!seen) SKIP("no configs in ../shared/tokenizers");
}

int main(void) {
    pd_mkdirs(TMP, NULL);
    RUN(t_real_configs);
    RUN(t_header_validation);
    RUN(t_model_tensor_errors);
    RUN(t_truncated_files);
    RUN(t_index_errors);
    RUN(t_config_errors);
    return test_done();
}
