/* test_gguf_model.c — GGUF files through the forward pass (src/model/weights_gguf.c,
 * src/engine/quant.c) against reference logits.
 *
 * tests/fixtures/gguf holds tiny Llama and Qwen2 models that llama.cpp's converter wrote
 * (tools/make_gguf_fixtures.py; README.md there) in F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
 * and K-quant mixes (Q4_K, Q5_K, Q6_K with Q8_0; Q3_K, Q2_K with Q4_0, by llama-quantize), and
 * reference.json the logits transformers computes on the weights gguf-py dequantizes from each
 * file (and, for the Q2_K / Q3_K tensors, the SHA-256 of those dequantized floats). The engine dequantizes the same
 * weights bit-exactly, and the fused dequantize-and-dot kernels give the same floats as
 * dequantize-then-dot, so with fp32 activations (PONDER_QUANT_ACT=f32) the only difference is
 * fp32 summation order: the tolerance is 2e-5 of the row's largest |logit| for every type
 * (measured: at most 1.5e-6) on every kernel set (portable, AVX2, AVX-512). With 8-bit
 * activations (the default: integer dots, quant.c) the activations' rounding adds up through
 * the layers of these tiny random models (hidden size 64): TOL_Q8 is 6e-2 of the row's largest
 * |logit| (measured 2026-12-02: 1.6e-2 to 4.7e-2 per file, the same on every set; F16/BF16,
 * which have no integer kernels, stay within TOL). Also: a row's logits do not depend on the batch it is in; the
 * dequantizers agree with each other; broken files are clear errors; the shared tiny GGUF
 * runs; the CLI takes a file. (tests/test_quant_kernels.c checks the kernels themselves.) */
#include <jansson.h>
#include <math.h>

#include "engine/quant.h"
#include "model/gguf.h"
#include "model/hub_internal.h"
#include "ponder.h"
#include "test.h"

#define DIR "tests/fixtures/gguf"
#define TOL 2e-5
#define TOL_Q8 6e-2

static json_t *load_ref(void) {
    json_error_t e;
    json_t *r = json_load_file(DIR "/reference.json", 0, &e);
    if (!r) printf("  reference.json: %s\n", e.text);
    return r;
}

/* Logits (n_tokens, vocab) of one prompt run in one forward call. */
static float *run_prompt(pd_model *m, const int32_t *ids, size_t n, pd_error *err) {
    size_t V = (size_t)pd_model_get_config(m)->vocab_size;
    float *out = malloc(n * V * sizeof *out);
    pd_kv *kv = pd_kv_new(m, err);
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = n, .logits = PD_LOGITS_ALL, .out = out};
    if (!kv || pd_model_forward(m, &s, 1, err)) {
        free(out);
        out = NULL;
    }
    pd_kv_free(kv);
    return out;
}

/* Every fixture file, every kernel set the CPU runs: last-position logits within TOL of the reference
 * (relative to the row's largest |logit|), argmax equal at every position. */
static void t_logits_match(void) {
    json_t *ref = load_ref();
    if (!ref) {
        CHECK(0);
        return;
    }
    json_t *prompts = json_object_get(ref, "prompts"), *files = json_object_get(ref, "files"), *f;
    const char *name;
    int n_files = 0;
    json_object_foreach(files, name, f) {
        char path[512];
        snprintf(path, sizeof path, DIR "/%s", name);
        /* every kernel set the CPU runs: each has its own fused kernels */
        const int kinds[3] = {PD_KERNELS_PORTABLE, PD_KERNELS_AVX2, PD_KERNELS_AVX512};
        for (int run = 0; run < 6; run++) {
            int kind = run % 3, q8 = run >= 3;
            if ((kind == 1 && !pd_kernels_avx2()) || (kind == 2 && !pd_kernels_avx512())) continue;
            setenv("PONDER_QUANT_ACT", q8 ? "q8" : "f32", 1);
            pd_error err = {0};
            pd_model_opts mo = {.n_threads = 2, .kernels = kinds[kind]};
            pd_model *m = pd_model_load(path, &mo, &err);
            CHECK_MSG(m, "%s: %s", name, err.msg);
            if (!m) continue;
            size_t V = (size_t)pd_model_get_config(m)->vocab_size;
            double worst = 0;
            for (size_t p = 0; p < json_array_size(prompts); p++) {
                json_t *jp = json_array_get(prompts, p), *last = json_array_get(json_object_get(f, "last"), p);
                json_t *am = json_array_get(json_object_get(f, "argmax"), p);
                size_t n = json_array_size(jp);
                int32_t ids[64];
                for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(jp, i));
                float *lg = run_prompt(m, ids, n, &err);
                CHECK_MSG(lg, "%s: %s", name, err.msg);
                if (!lg) continue;
                CHECK_EQ_INT(json_array_size(last), V);
                double scale = 1e-30, diff = 0;
                for (size_t v = 0; v < V && v < json_array_size(last); v++) {
                    double r = json_real_value(json_array_get(last, v));
                    if (fabs(r) > scale) scale = fabs(r);
                    double d = fabs(r - lg[(n - 1) * V + v]);
                    if (d > diff) diff = d;
                }
                if (diff / scale > worst) worst = diff / scale;
                for (size_t t = 0; t < n && !q8; t++) {
                    size_t best = 0;
                    for (size_t v = 1; v < V; v++)
                        if (lg[t * V + v] > lg[t * V + best]) best = v;
                    CHECK_MSG((json_int_t)best == json_integer_value(json_array_get(am, t)), "%s prompt %zu pos %zu: argmax %zu, want %lld",
                              name, p, t, best, (long long)json_integer_value(json_array_get(am, t)));
                }
                free(lg);
            }
            CHECK_MSG(worst <= (q8 ? TOL_Q8 : TOL), "%s (%s%s): worst relative difference %.3g", name, pd_model_kernels_name(m),
                      q8 ? ", 8-bit activations" : "", worst);
            if (getenv("PD_TEST_VERBOSE")) printf("  %-20s %-9s %-3s %.2e\n", name, pd_model_kernels_name(m), q8 ? "q8" : "f32", worst);
            pd_model_free(m);
        }
        n_files++;
    }
    CHECK(n_files >= 10);
    json_decref(ref);
    unsetenv("PONDER_QUANT_ACT");
}

/* A sequence's logits are the same alone and batched with others (decode rows take the
 * fused kernels, prefill blocks the dequantized tiles: the same floats either way). */
static void t_batch_invariant(void) {
    const char *files[] = {DIR "/llama-kquant.gguf", DIR "/qwen2-q5_0.gguf"};
    for (int run = 0; run < 4; run++) { /* 8-bit activations (the default), then fp32 */
        int f = run % 2;
        if (run >= 2) setenv("PONDER_QUANT_ACT", "f32", 1);
        pd_error err = {0};
        pd_model_opts mo = {.n_threads = 2};
        pd_model *m = pd_model_load(files[f], &mo, &err);
        CHECK_MSG(m, "%s", err.msg);
        if (!m) continue;
        size_t V = (size_t)pd_model_get_config(m)->vocab_size;
        int32_t a[9] = {900, 5, 17, 301, 44, 8, 640, 12, 99}, b[1] = {3};
        float *alone = run_prompt(m, b, 1, &err);
        /* b's one token next to a 9-token prefill: the matmuls take the wide path */
        pd_kv *ka = pd_kv_new(m, &err), *kb = pd_kv_new(m, &err);
        float *oa = malloc(V * sizeof *oa), *ob = malloc(V * sizeof *ob);
        pd_seq_step s[2] = {{.kv = ka, .tokens = a, .n_tokens = 9, .logits = PD_LOGITS_LAST, .out = oa},
                            {.kv = kb, .tokens = b, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = ob}};
        CHECK(pd_model_forward(m, s, 2, &err) == 0);
        CHECK(alone && !memcmp(alone, ob, V * sizeof *ob));
        /* a few vocabulary ids read alone equal the full row */
        int32_t want[3] = {7, 300, 901}, next = 2;
        float few[3], *full = malloc(V * sizeof *full);
        pd_kv *kc = pd_kv_clone(ka, &err);
        pd_seq_step s1 = {.kv = ka, .tokens = &next, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = full};
        pd_seq_step s2 = {.kv = kc, .tokens = &next, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = few, .vocab_ids = want, .n_vocab_ids = 3};
        CHECK(pd_model_forward(m, &s1, 1, &err) == 0 && pd_model_forward(m, &s2, 1, &err) == 0);
        for (int k = 0; k < 3; k++) CHECK(few[k] == full[want[k]]);
        free(full), free(alone), free(oa), free(ob);
        pd_kv_free(ka), pd_kv_free(kb), pd_kv_free(kc);
        pd_model_free(m);
    }
    unsetenv("PONDER_QUANT_ACT");
    /* a wrong value is a clear error */
    setenv("PONDER_QUANT_ACT", "q4", 1);
    pd_error err = {0};
    CHECK(pd_model_load(files[0], NULL, &err) == NULL && err.code == PD_EINVAL && strstr(err.msg, "PONDER_QUANT_ACT=q4"));
    unsetenv("PONDER_QUANT_ACT");
}

/* The AVX2 dequantizers give exactly the portable reference's floats, on every block of the
 * fixtures' quantized tensors. */
static void t_dequant_agree(void) {
    const char *files[] = {DIR "/llama-kquant.gguf", DIR "/llama-q4_0.gguf", DIR "/qwen2-kquant.gguf", DIR "/llama-q2_k.gguf"};
    int checked = 0;
    for (int f = 0; f < 4; f++) {
        pd_gguf g;
        pd_error err = {0};
        CHECK_MSG(pd_gguf_open(files[f], &g, &err) == 0, "%s", err.msg);
        if (err.code) continue;
        for (size_t i = 0; i < g.n_tensors; i++) {
            const pd_gguf_tensor *t = &g.tensors[i];
            if (!pd_quant_supported(t->type)) continue;
            int n = (int)t->n_elems;
            float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
            pd_dequant_row_ref(t->type, t->data, a, n);
            pd_dequant_row(t->type, t->data, b, n);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof *a), "%s %s", files[f], t->name);
            int finite = 1;
            for (int k = 0; k < n; k++) finite &= isfinite(a[k]);
            CHECK(finite);
            free(a), free(b);
            checked++;
        }
        pd_gguf_close(&g);
    }
    CHECK(checked > 20);
}

/* The Q2_K and Q3_K tensors (which llama-quantize wrote from real weights) dequantize bit for bit
 * to gguf-py's floats: reference.json's deq_sha256 holds the SHA-256 of gguf-py's float32 values
 * per tensor (little-endian, as this machine stores them). */
static void t_dequant_gguf_py(void) {
    json_t *ref = load_ref();
    if (!ref) {
        CHECK(0);
        return;
    }
    json_t *files = json_object_get(ref, "files"), *f;
    const char *name;
    int checked = 0, seen[PD_GGML_TYPE_LIMIT] = {0};
    json_object_foreach(files, name, f) {
        json_t *hashes = json_object_get(f, "deq_sha256"), *h;
        if (!hashes) continue;
        char path[512];
        snprintf(path, sizeof path, DIR "/%s", name);
        pd_gguf g;
        pd_error err = {0};
        CHECK_MSG(pd_gguf_open(path, &g, &err) == 0, "%s", err.msg);
        if (err.code) continue;
        const char *tname;
        json_object_foreach(hashes, tname, h) {
            const pd_gguf_tensor *t = pd_gguf_tensor_find(&g, tname);
            CHECK_MSG(t && pd_quant_supported(t->type), "%s: %s", name, tname);
            if (!t || !pd_quant_supported(t->type)) continue;
            int n = (int)t->n_elems;
            float *a = malloc((size_t)n * sizeof *a);
            char hex[65];
            pd_dequant_row_ref(t->type, t->data, a, n);
            pd_sha256_hex(a, (size_t)n * sizeof *a, hex);
            CHECK_MSG(!strcmp(hex, json_string_value(h)), "%s %s: dequantized values differ from gguf-py's", name, tname);
            pd_dequant_row(t->type, t->data, a, n);
            pd_sha256_hex(a, (size_t)n * sizeof *a, hex);
            CHECK_MSG(!strcmp(hex, json_string_value(h)), "%s %s: pd_dequant_row differs from gguf-py's", name, tname);
            seen[t->type] = 1;
            checked++;
            free(a);
        }
        pd_gguf_close(&g);
    }
    CHECK(checked >= 2 && seen[PD_GGML_Q2_K] && seen[PD_GGML_Q3_K]);
    json_decref(ref);
}

/* Write a copy of src with the bytes of `find` (first occurrence) replaced by `repl` (same
 * length) to dst. */
static int patched_copy(const char *src, const char *dst, const char *find, const char *repl) {
    char *data;
    size_t len;
    pd_error err = {0};
    if (pd_file_read(src, &data, &len, &err)) return -1;
    char *p = memmem(data, len, find, strlen(find));
    if (p) memcpy(p, repl, strlen(repl));
    int rc = p ? pd_file_write(dst, data, len, &err) : -1;
    free(data);
    return rc;
}

static void t_bad_files(void) {
    pd_error err = {0};
    mkdir("build", 0755), mkdir("build/tmp", 0755);
    const char *p = "build/tmp/test_gguf_model.gguf";
    /* a renamed tensor is missing */
    CHECK(patched_copy(DIR "/qwen2-q5_0.gguf", p, "blk.1.ffn_up.weight", "blk.1.ffn_uq.weight") == 0);
    CHECK(pd_model_load(p, NULL, &err) == NULL && err.code == PD_ENOTFOUND && strstr(err.msg, "'blk.1.ffn_up.weight'") &&
          strstr(err.msg, p));
    /* another architecture */
    CHECK(patched_copy(DIR "/qwen2-q5_0.gguf", p, "qwen2", "gemma") == 0);
    CHECK(pd_model_load(p, NULL, &err) == NULL && err.code == PD_EUNSUPPORTED && strstr(err.msg, "'gemma'"));
    /* a truncated file: the reader's message */
    char *data;
    size_t len;
    CHECK(pd_file_read(DIR "/llama-q4_0.gguf", &data, &len, &err) == 0);
    CHECK(pd_file_write(p, data, len - 100, &err) == 0);
    free(data);
    CHECK(pd_model_load(p, NULL, &err) == NULL && err.code == PD_EFORMAT && strstr(err.msg, "truncated"));
    /* a tensor of a type the engine does not compute with (Q4_0 retyped IQ4_NL: the same block
     * size, so the reader takes it): refused naming the tensor, its type and the types taken */
    CHECK(pd_file_read(DIR "/llama-q4_0.gguf", &data, &len, &err) == 0);
    const char *tn = "blk.0.attn_q.weight";
    char *at = memmem(data, len, tn, strlen(tn));
    CHECK(at != NULL);
    if (at) {
        uint8_t *ty = (uint8_t *)at + strlen(tn) + 4 + 2 * 8; /* n_dims (2), ne[0], ne[1], then the type */
        CHECK(ty[0] == PD_GGML_Q4_0 && !ty[1] && !ty[2] && !ty[3]);
        ty[0] = PD_GGML_IQ4_NL;
        CHECK(pd_file_write(p, data, len, &err) == 0);
        CHECK(pd_model_load(p, NULL, &err) == NULL && err.code == PD_EUNSUPPORTED);
        CHECK_MSG(strstr(err.msg, "'blk.0.attn_q.weight' has type IQ4_NL") && strstr(err.msg, "Q2_K, Q3_K"), "%s", err.msg);
    }
    free(data);
    remove(p);
}

/* The real tiny GGUF in ../shared (F16 matrices, llama) runs. */
static void t_shared_file(void) {
    const char *p = shared_path("models/gguf/llama-2-tiny-random.gguf");
    if (!p) SKIP("../shared/models/gguf is absent");
    pd_error err = {0};
    pd_model *m = pd_model_load(p, NULL, &err);
    CHECK_MSG(m, "%s", err.msg);
    if (!m) return;
    const pd_model_config *c = pd_model_get_config(m);
    CHECK(c->arch == PD_ARCH_LLAMA && c->vocab_size == 32000 && c->hidden_size == 8 && c->n_layers == 1);
    CHECK(c->n_eos >= 1 && c->eos_ids[0] == 2 && c->bos_id == 1);
    int32_t ids[4] = {1, 450, 4996, 17354};
    float *lg = run_prompt(m, ids, 4, &err);
    CHECK(lg);
    int finite = 1;
    for (size_t i = 0; lg && i < 4 * 32000; i++) finite &= isfinite(lg[i]);
    CHECK(finite);
    free(lg);
    pd_model_free(m);
}

/* ponder logits takes a GGUF file for --model. */
static void t_cli(void) {
    CHECK(run_ponder("logits --model " DIR "/llama-q8_0.gguf --prompt-ids 900,5,17 > build/tmp/test_gguf_model.out") == 0);
    char *out = NULL;
    size_t len, lines = 0;
    pd_error err = {0};
    CHECK(pd_file_read("build/tmp/test_gguf_model.out", &out, &len, &err) == 0);
    for (size_t i = 0; out && i < len; i++) lines += out[i] == '\n';
    CHECK_EQ_INT(lines, 905);
    free(out);
    remove("build/tmp/test_gguf_model.out");
}

/* A directory holding one GGUF file and no config.json (a pulled GGUF repo) is that file. */
static void t_gguf_dir(void) {
    mkdir("build", 0755), mkdir("build/tmp", 0755);
    const char *d = "build/tmp/test_gguf_dir";
    mkdir(d, 0755);
    char *data;
    size_t len;
    pd_error err = {0};
    CHECK(pd_file_read(DIR "/qwen2-q5_0.gguf", &data, &len, &err) == 0);
    CHECK(pd_file_write("build/tmp/test_gguf_dir/m-Q5_0.gguf", data, len, &err) == 0);
    free(data);
    pd_model *m = pd_model_load(d, NULL, &err);
    CHECK_MSG(m && pd_model_get_config(m)->arch == PD_ARCH_QWEN2, "%s", err.msg);
    pd_model_free(m);
    pd_tokenizer *t = pd_tokenizer_load(d, &err);
    CHECK_MSG(t, "%s", err.msg);
    pd_tokenizer_free(t);
    CHECK(run_ponder("logits --model build/tmp/test_gguf_dir --prompt-ids 3,4 > /dev/null") == 0);
    /* two GGUF files: ambiguous, so not a model directory */
    CHECK(pd_file_write("build/tmp/test_gguf_dir/other.gguf", "GGUF", 4, &err) == 0);
    CHECK(pd_model_load(d, NULL, &err) == NULL && err.code == PD_ENOTFOUND);
    remove("build/tmp/test_gguf_dir/other.gguf");
    remove("build/tmp/test_gguf_dir/m-Q5_0.gguf");
    rmdir(d);
}

int main(void) {
    RUN(t_logits_match);
    RUN(t_batch_invariant);
    RUN(t_dequant_agree);
    RUN(t_dequant_gguf_py);
    RUN(t_bad_files);
    RUN(t_shared_file);
    RUN(t_cli);
    RUN(t_gguf_dir);
    return test_done();
}
