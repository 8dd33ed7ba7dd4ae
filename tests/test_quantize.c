/* test_quantize.c — `ponder quantize` (src/model/gguf_convert.c, gguf_write.c) and the
 * quantizers (src/engine/quantize.c).
 *
 * Models: tests/fixtures/prm/rlhflow (Llama, Llama 3 byte-level tokenizer and chat template,
 * Llama 3.1 RoPE scaling, untied, f32), tests/fixtures/prm/math-shepherd (Mistral, written as
 * llama: SentencePiece-style tokenizer with byte fallback, sliding window 4096, f32), a Qwen2 causal LM made here from the skywork fixture
 * (its config.json with architectures Qwen2ForCausalLM: q/k/v biases, tied, Qwen2 tokenizer,
 * ChatML), and when present models/arith-small (Qwen2, bf16) and models/arith-large (Qwen2,
 * hidden 256: the only one whose rows take the K-quants instead of their fallbacks).
 *
 * What is checked:
 *   - each quantizer against the dequantizer (quant.c): dequantize(quantize(x)) within the
 *     type's error bound, block by block for the 32-value types, in relative RMS for the
 *     K-quants; the same bytes twice; halves and bfloat16 round to nearest even;
 *   - every file type of every model: the file loads in ponder; each tensor holds exactly
 *     pd_quantize_row of the source's row in the converter's order (Llama's Q/K permutation
 *     included: weights_gguf.c undoes it, so the rows must come back in Hugging Face's order);
 *     F32 files give the source's logits within the GGUF tests' 2e-5; the quantized types
 *     within TOL_TYPE of them (fp32 activations, relative to the row's largest |logit|);
 *   - the tokenizer from the file tokenizes like tokenizer.json, and has its special ids and
 *     chat template; SentencePiece-style ones too (tokenizer.ggml.model llama: the spm_legacy
 *     fixture against its Hugging Face references, Llama 2's real vocabulary (the shared tiny
 *     GGUF) written back with no merges key and the same merges, llama.cpp's llama-spm
 *     vectors when present); the Math-Shepherd PRM's f32 file gives the directory's logits bit
 *     for bit and the same rewards;
 *   - metadata: alignment 32, architecture, pre-tokenizer name, norms kept F32;
 *   - errors name what: a missing directory, an unsupported architecture, a tokenizer GGUF
 *     cannot hold (a Metaspace pre-tokenizer), an unknown type, an
 *     output that cannot be written; a failed run leaves an existing output untouched and
 *     no temporary file behind; the same input gives the same file, byte for byte; the CLI. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>

#include "engine/quant.h"
#include "model/gguf.h"
#include "model/gguf_convert.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "ponder.h"
#include "test.h"

#define TMP "build/tmp/test_quantize"
#define LLAMA "tests/fixtures/prm/rlhflow"
#define SHEPHERD "tests/fixtures/prm/math-shepherd"
#define QWEN TMP "/qwen2"
#define ARITH_SMALL "models/arith-small"
#define ARITH_LARGE "models/arith-large"
#define TOL_EXACT 2e-5

/* Largest difference from the source's logits, relative to the row's largest |logit| (fp32
 * activations), per file type: on the random PRM-fixture models (their q/k projections are 3x
 * larger than usual, so attention is sharp and small weight errors move the logits far) and on
 * the trained arith models. Measured 2026-12-02 (docs/MODELS.md); the tolerances leave about
 * 1.5x room. The exact check is check_tensors_exact; this one checks the file is the model. */
static const struct { const char *type; double tol_random, tol_trained; } types[] = {
    {"f32", TOL_EXACT, TOL_EXACT}, {"f16", 4e-3, 1e-4},  {"bf16", 4e-2, 1e-2},   {"q8_0", 8e-2, 3e-2},
    {"q6_k", 8e-2, 6e-2},          {"q5_k_m", 0.8, 0.12}, {"q5_0", 0.6, 0.15},    {"q5_1", 0.8, 0.2},
    {"q4_k_m", 0.6, 0.18},         {"q4_k_s", 0.7, 0.18}, {"q4_0", 0.8, 0.35},    {"q4_1", 0.6, 0.4},
};

/* ---- quantizers ---- */

static void fill_row(pd_rng *r, float *x, int n, int kind) {
    for (int i = 0; i < n; i++) {
        double v = pd_rng_normal(r);
        switch (kind) {
        case 0: x[i] = (float)v; break;                                           /* Gaussian */
        case 1: x[i] = (float)(v * exp(3.0 * pd_rng_normal(r))); break;          /* scales varying wildly */
        case 2: x[i] = (i / 32) % 3 == 0 ? 0.0f : (i / 32) % 3 == 1 ? 0.25f : (float)v; break; /* zero, constant blocks */
        case 3: x[i] = i % 97 == 0 ? 40.0f : (float)(1e-3 * v); break;            /* outliers */
        default: x[i] = -(float)fabs(v) - 1.0f; break;                             /* all negative */
        }
    }
}

static void t_roundtrip(void) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 4], q2[N * 4];
    const int qt[] = {PD_GGML_Q8_0, PD_GGML_Q4_0, PD_GGML_Q5_0, PD_GGML_Q4_1, PD_GGML_Q5_1, PD_GGML_Q4_K, PD_GGML_Q5_K, PD_GGML_Q6_K};
    /* relative RMS error bounds of the K-quants on Gaussian rows (measured 0.072, 0.036, 0.018) */
    const double rms_bound[] = {0, 0, 0, 0, 0, 0.08, 0.04, 0.02};
    pd_rng r;
    pd_rng_seed(&r, 14);
    for (size_t k = 0; k < sizeof qt / sizeof *qt; k++) {
        int t = qt[k];
        CHECK(pd_quantize_supported(t) && pd_quant_supported(t));
        for (int kind = 0; kind < 5; kind++) {
            fill_row(&r, x, N, kind);
            size_t n = pd_quantize_row(t, x, q, N);
            CHECK_EQ_INT(n, N / pd_ggml_block_elems(t) * pd_ggml_block_bytes(t));
            CHECK(pd_quantize_row(t, x, q2, N) == n && !memcmp(q, q2, n)); /* deterministic */
            pd_dequant_row_ref(t, q, y, N);
            double se = 0, sx = 0, worst = 0;
            for (int b = 0; b < N; b += 32) {
                float lo = x[b], hi = x[b], amax = 0;
                for (int i = b; i < b + 32; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]), amax = fmaxf(amax, fabsf(x[i]));
                /* what the block's rule promises (h: the relative rounding of an fp16 scale; a
                 * subnormal fp16 scale is off by up to 2^-25, times up to 128 levels) */
                const double h = 1.0 / 2048, sub = 128 * 0x1p-25;
                double bound = t == PD_GGML_Q8_0 ? amax * (0.5 / 127 + h)
                               : t == PD_GGML_Q4_0 ? amax * (1.0 / 8 + h)
                               : t == PD_GGML_Q5_0 ? amax * (1.0 / 16 + h)
                               : t == PD_GGML_Q4_1 ? (hi - lo) / 30 + (fabsf(lo) + (hi - lo)) * h
                               : t == PD_GGML_Q5_1 ? (hi - lo) / 62 + (fabsf(lo) + (hi - lo)) * h
                               : INFINITY;
                for (int i = b; i < b + 32; i++) {
                    double e = fabs((double)x[i] - y[i]);
                    se += e * e, sx += (double)x[i] * x[i];
                    if (e > bound * (1 + 1e-5) + sub)
                        CHECK_MSG(0, "%s kind %d value %d: %g -> %g, bound %g", pd_ggml_type_name(t), kind, i, x[i], y[i], bound);
                    if (e > bound * (1 + 1e-5) + sub) break;
                    if (e > worst) worst = e;
                }
            }
            if (kind == 0 && rms_bound[k] > 0)
                CHECK_MSG(sqrt(se / sx) < rms_bound[k], "%s: relative RMS error %.4f", pd_ggml_type_name(t), sqrt(se / sx));
            if (kind == 2) /* all-zero blocks decode to zeros */
                for (int i = 0; i < 32; i++) CHECK(y[i] == 0.0f);
            if (getenv("PD_TEST_VERBOSE")) printf("  %s kind %d rms %.4f\n", pd_ggml_type_name(t), kind, sqrt(se / sx));
        }
    }
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void t_halves(void) {
    /* every half (NaNs aside) comes back as itself; bfloat16 likewise */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        CHECK_MSG(pd_f32_to_f16(pd_f16_to_f32((uint16_t)h)) == h, "half %04x", h);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        CHECK_MSG(pd_f32_to_bf16(pd_bf16_to_f32((uint16_t)h)) == h, "bf16 %04x", h);
    }
    /* ties go to even, overflow to infinity, subnormals round too */
    CHECK_EQ_INT(pd_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    CHECK_EQ_INT(pd_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    CHECK_EQ_INT(pd_f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ_INT(pd_f32_to_f16(65520.0f), 0x7c00);
    CHECK_EQ_INT(pd_f32_to_f16(-1e10f), 0xfc00);
    CHECK_EQ_INT(pd_f32_to_f16(0x1p-25f), 0x0000);
    CHECK_EQ_INT(pd_f32_to_f16(3 * 0x1p-25f), 0x0002);
    CHECK_EQ_INT(pd_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400); /* rounds up into the normals */
    CHECK((pd_f32_to_f16(NAN) & 0x7e00) == 0x7e00);
    CHECK_EQ_INT(pd_f32_to_bf16(bits_f32(0x3f808000u)), 0x3f80); /* tie, even below */
    CHECK_EQ_INT(pd_f32_to_bf16(bits_f32(0x3f818000u)), 0x3f82); /* tie, even above */
    CHECK_EQ_INT(pd_f32_to_bf16(bits_f32(0x3f808001u)), 0x3f81);
    CHECK((pd_f32_to_bf16(NAN) & 0x7fc0) == 0x7fc0);
}

/* ---- models ---- */

/* Text for SentencePiece-style tokenizers: leading and repeated spaces, special tokens inside
 * text, byte fallback (tabs, control characters, emoji, CJK), Math-Shepherd's step tag. */
static const char check_texts_spm[] =
    "  Hello  world! <s>Step 1:\t2 + 3 = 5. \xd0\xba\xd0\xb8\n\nStep 2: </s> \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82 "
    "\x01 \xe2\x96\x81x   $\\frac{1}{2}$ 12345<unk>end ";

/* Link files[0..n) of the repository directory src into dir (a directory 4 levels below the
 * repository root, as QWEN's and TMP's are), replacing what is there. */
static void link_files(const char *dir, const char *src, const char *const *files, int n) {
    for (int i = 0; i < n; i++) {
        char from[256], to[256];
        snprintf(from, sizeof from, "../../../../%s/%s", src, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        unlink(to);
        CHECK(symlink(from, to) == 0);
    }
}

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    mkdir("build", 0755), mkdir("build/tmp", 0755), mkdir(TMP, 0755), mkdir(QWEN, 0755);
    /* the Qwen2 causal LM: skywork's body, tokenizer and template as Qwen2ForCausalLM */
    pd_error err = {0};
    char *cfg = NULL;
    size_t len;
    CHECK(pd_file_read("tests/fixtures/prm/skywork/config.json", &cfg, &len, &err) == 0);
    char *p = cfg ? strstr(cfg, "Qwen2ForPrmModel") : NULL;
    CHECK(p != NULL);
    if (!p) return;
    pd_buf b = {0};
    pd_buf_printf(&b, "%.*sQwen2ForCausalLM%s", (int)(p - cfg), cfg, p + strlen("Qwen2ForPrmModel"));
    CHECK(pd_file_write(QWEN "/config.json", b.data, b.len, &err) == 0);
    pd_buf_free(&b);
    free(cfg);
    const char *files[] = {"model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    link_files(QWEN, "tests/fixtures/prm/skywork", files, 3);
}

/* Quantize dir to TMP/<tag>-<type>.gguf (path into out); 0 or the error code. */
static int quantize(const char *dir, const char *tag, const char *type, char *out, size_t n, pd_error *err) {
    snprintf(out, n, TMP "/%s-%s.gguf", tag, type);
    pd_quantize_opts o = {.type = type, .n_threads = 1};
    return pd_model_quantize(dir, out, &o, NULL, err);
}

/* Last-position logits of a prompt (malloc'd, vocab floats), or NULL. */
static float *last_logits(pd_model *m, const int32_t *ids, size_t n) {
    pd_error err = {0};
    size_t V = (size_t)pd_model_get_config(m)->vocab_size;
    float *out = malloc(V * sizeof *out);
    pd_kv *kv = pd_kv_new(m, &err);
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = n, .logits = PD_LOGITS_LAST, .out = out};
    if (!kv || pd_model_forward(m, &s, 1, &err)) {
        printf("  forward: %s\n", err.msg);
        free(out);
        out = NULL;
    }
    pd_kv_free(kv);
    return out;
}

/* Worst relative difference of the last-position logits of three prompts. */
static double logits_diff(pd_model *a, pd_model *b) {
    size_t V = (size_t)pd_model_get_config(a)->vocab_size;
    const int32_t prompts[3][9] = {{1, 5, 17, 300, 44, 8, 140, 12, 99}, {7, 3, 250, 60}, {2}};
    const size_t lens[3] = {9, 4, 1};
    double worst = 0;
    for (int p = 0; p < 3; p++) {
        int32_t ids[9];
        for (size_t i = 0; i < lens[p]; i++) ids[i] = prompts[p][i] % (int32_t)V;
        float *x = last_logits(a, ids, lens[p]), *y = last_logits(b, ids, lens[p]);
        double scale = 1e-30, d = 0;
        for (size_t v = 0; x && y && v < V; v++) {
            scale = fmax(scale, fabs(x[v]));
            d = fmax(d, fabs((double)x[v] - y[v]));
        }
        worst = !x || !y ? INFINITY : fmax(worst, d / scale);
        free(x), free(y);
    }
    return worst;
}

/* Every tensor of the file holds pd_quantize_row of the source's rows: both loaded as the
 * engine binds them (Llama Q/K rows put back in Hugging Face order by the GGUF loader). */
static void check_tensors_exact(const char *dir, const char *path) {
    pd_error err = {0};
    pd_weights s, g;
    int ok_s = pd_weights_load(dir, &s, &err) == 0;
    CHECK_MSG(ok_s, "%s", err.msg);
    int ok_g = pd_weights_load_gguf(path, &g, &err) == 0;
    CHECK_MSG(ok_g, "%s", err.msg);
    if (ok_s && ok_g) {
        int n = g.cfg.n_layers;
        const pd_wmat *pairs[2 * (2 + 7 * 64)];
        int np = 0;
        pairs[np++] = &s.embed, pairs[np++] = &g.embed;
        pairs[np++] = &s.lm_head, pairs[np++] = &g.lm_head;
        for (int l = 0; l < n && l < 64; l++) {
            pd_layer_weights *a = &s.layers[l], *b = &g.layers[l];
            const pd_wmat *la[7] = {&a->wq, &a->wk, &a->wv, &a->wo, &a->w_gate, &a->w_up, &a->w_down};
            const pd_wmat *lb[7] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->w_gate, &b->w_up, &b->w_down};
            for (int k = 0; k < 7; k++) pairs[np++] = la[k], pairs[np++] = lb[k];
        }
        float *row = malloc(65536 * sizeof *row);
        uint8_t *q = malloc(65536 * 4);
        for (int k = 0; k < np; k += 2) {
            const pd_wmat *a = pairs[k], *b = pairs[k + 1];
            CHECK(a->rows == b->rows && a->cols == b->cols && a->cols <= 65536);
            int t = pd_dtype_is_quant(b->dtype) ? b->dtype - PD_DT_QUANT
                    : b->dtype == PD_DT_F32 ? PD_GGML_F32 : b->dtype == PD_DT_F16 ? PD_GGML_F16 : PD_GGML_BF16;
            size_t rb = pd_wmat_row_bytes(b);
            int bad = 0;
            for (int r = 0; r < a->rows && !bad; r++) {
                size_t es = pd_dtype_size(a->dtype);
                const uint8_t *p = (const uint8_t *)a->data + (size_t)r * a->cols * es;
                for (int i = 0; i < a->cols; i++) {
                    uint16_t h = (uint16_t)(p[i * es] | p[i * es + 1] << 8);
                    if (a->dtype == PD_DT_F32) memcpy(&row[i], p + i * es, 4);
                    else row[i] = a->dtype == PD_DT_BF16 ? pd_bf16_to_f32(h) : pd_f16_to_f32(h);
                }
                CHECK(pd_quantize_row(t, row, q, a->cols) == rb);
                bad = memcmp(q, (const uint8_t *)b->data + (size_t)r * rb, rb) != 0;
                CHECK_MSG(!bad, "%s: matrix %d row %d differs from the quantized source row", path, k / 2, r);
            }
        }
        free(row);
        free(q);
        /* vectors: exact fp32 copies */
        CHECK(!memcmp(s.final_norm, g.final_norm, (size_t)g.cfg.hidden_size * 4));
        for (int l = 0; l < n; l++) {
            CHECK(!memcmp(s.layers[l].attn_norm, g.layers[l].attn_norm, (size_t)g.cfg.hidden_size * 4));
            int qd = g.cfg.n_heads * g.cfg.head_dim;
            CHECK(!s.layers[l].bq || !memcmp(s.layers[l].bq, g.layers[l].bq, (size_t)qd * 4));
            CHECK(!s.layers[l].bk || !memcmp(s.layers[l].bk, g.layers[l].bk, (size_t)g.cfg.n_kv_heads * g.cfg.head_dim * 4));
        }
        CHECK_EQ_INT(s.n_params, g.n_params);
    }
    if (ok_s) pd_weights_free(&s);
    if (ok_g) pd_weights_free(&g);
}

/* Every type (or those in `only`, " a b "): loads, tensors exact, logits within the type's
 * tolerance of the source. */
static void check_model(const char *dir, const char *tag, int trained, const char *only) {
    setup();
    pd_error err = {0};
    pd_model_opts mo = {.n_threads = 2};
    setenv("PONDER_QUANT_ACT", "f32", 1);
    pd_model *src = pd_model_load(dir, &mo, &err);
    CHECK_MSG(src, "%s: %s", dir, err.msg);
    for (size_t k = 0; src && k < sizeof types / sizeof *types; k++) {
        char word[16];
        snprintf(word, sizeof word, " %s ", types[k].type);
        if (only && !strstr(only, word)) continue;
        char path[256];
        int rc = quantize(dir, tag, types[k].type, path, sizeof path, &err);
        CHECK_MSG(rc == 0, "%s %s: %s", tag, types[k].type, err.msg);
        if (rc) continue;
        check_tensors_exact(dir, path);
        pd_model *m = pd_model_load(path, &mo, &err);
        CHECK_MSG(m, "%s: %s", path, err.msg);
        if (!m) continue;
        double d = logits_diff(src, m), tol = trained ? types[k].tol_trained : types[k].tol_random;
        CHECK_MSG(d <= tol, "%s %s: logits differ by %.3g of the largest (tolerance %g)", tag, types[k].type, d, tol);
        if (getenv("PD_TEST_VERBOSE")) printf("  %-12s %-7s %.2e\n", tag, types[k].type, d);
        pd_model_free(m);
    }
    pd_model_free(src);
    unsetenv("PONDER_QUANT_ACT");
}

static void t_llama(void) { check_model(LLAMA, "llama", 0, NULL); }
static void t_qwen2(void) { check_model(QWEN, "qwen2", 0, NULL); }
static void t_arith_small(void) {
    if (!pd_dir_exists(ARITH_SMALL)) SKIP("%s is absent", ARITH_SMALL);
    check_model(ARITH_SMALL, "arith-small", 1, " f32 q8_0 q4_k_m ");
}
static void t_arith_large(void) {
    if (!pd_dir_exists(ARITH_LARGE)) SKIP("%s is absent", ARITH_LARGE);
    check_model(ARITH_LARGE, "arith-large", 1, " f16 q8_0 q6_k q5_k_m q4_k_m q4_k_s q4_0 ");
}

/* The tokenizer read back from the file is the directory's. */
static void check_tokenizer(const char *dir, const char *tag) {
    setup();
    pd_error err = {0};
    char path[256];
    CHECK(quantize(dir, tag, "q8_0", path, sizeof path, &err) == 0);
    pd_tokenizer *a = pd_tokenizer_load(dir, &err), *b = pd_tokenizer_load(path, &err);
    CHECK_MSG(a && b, "%s", err.msg);
    if (!a || !b) goto out;
    const char *texts[] = {
        "What is 7 x 8? Let's think step by step.\n\nStep 1: 7 * 8 = 56.\n\nThe answer is \\boxed{56}.",
        "  leading spaces, trailing   \n\n\n tabs\tand\r\nCRLF",
        "1234567890 123 4567 x^2+3x-4=0 \\frac{a}{b} $\\sqrt{2}$",
        "Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x99\x82",
        "<|im_start|>user\nhi<|im_end|>\n<|begin_of_text|><|eot_id|><|endoftext|>",
        "I'M HERE, you're there; they'll've DON'T",
        "Step 1: 2 + 3 = 5. \xd0\xba\xd0\xb8\nStep 2: so the answer is 5. \xd0\xba\xd0\xb8 + -",
        " <s> mid<s>text</s>  <unk>\t\x01\x7f \xe2\x96\x81 \xe2\x96\x81\xe2\x96\x81x",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        for (int special = 0; special < 2; special++) {
            int32_t *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0;
            CHECK(pd_tokenizer_encode(a, texts[i], strlen(texts[i]), special, &x, &nx, &err) == 0);
            CHECK(pd_tokenizer_encode(b, texts[i], strlen(texts[i]), special, &y, &ny, &err) == 0);
            CHECK_MSG(nx == ny && (!nx || !memcmp(x, y, nx * sizeof *x)), "%s text %zu (special %d): %zu vs %zu ids", tag, i,
                      special, nx, ny);
            char *da = NULL, *db = NULL;
            CHECK(nx == 0 || (pd_tokenizer_decode(a, x, nx, 0, &da, &err) == 0 && pd_tokenizer_decode(b, x, nx, 0, &db, &err) == 0 &&
                              !strcmp(da, db)));
            free(da), free(db), free(x), free(y);
        }
    if (pd_tokenizer_bos_id(a) >= 0) CHECK_EQ_INT(pd_tokenizer_bos_id(a), pd_tokenizer_bos_id(b)); /* else config.json's */
    CHECK_EQ_INT(pd_tokenizer_eos_id(a), pd_tokenizer_eos_id(b));
    CHECK(pd_tokenizer_chat_family(a) != PD_CHAT_NONE || !pd_tokenizer_chat_template(a));
    CHECK_EQ_INT(pd_tokenizer_chat_family(a), pd_tokenizer_chat_family(b));
    if (pd_tokenizer_chat_template(a)) CHECK_STR(pd_tokenizer_chat_template(a), pd_tokenizer_chat_template(b));
    else CHECK(!pd_tokenizer_chat_template(b));
    for (int32_t id = 0; id < (int32_t)pd_tokenizer_vocab_size(a); id++)
        CHECK_EQ_INT(pd_tokenizer_is_special(a, id), pd_tokenizer_is_special(b, id));
out:
    pd_tokenizer_free(a);
    pd_tokenizer_free(b);
}

static void t_tokenizer(void) {
    check_tokenizer(LLAMA, "llama");
    check_tokenizer(SHEPHERD, "shepherd");
    check_tokenizer(QWEN, "qwen2");
    if (pd_dir_exists(ARITH_SMALL)) check_tokenizer(ARITH_SMALL, "arith-small");
}

/* The real families' tokenizers (../shared/tokenizers: Qwen2.5, Llama 3.2, DeepSeek-R1
 * distill; 128k-152k tokens) written as GGUF metadata alone and read back: the same ids as the
 * directory's tokenizer on llama.cpp's tokenizer test texts (../shared/tokvec), with and
 * without special tokens; the same special ids and chat rendering. */
static void t_shared_tokenizers(void) {
    setup();
    const char *dirs[3][2] = {{"qwen2.5-0.5b-instruct", "qwen2"}, {"llama-3.2-1b-instruct", "llama-bpe"},
                              {"deepseek-r1-distill-qwen-1.5b", "deepseek-r1-qwen"}};
    int n_done = 0;
    for (int d = 0; d < 3; d++) {
        char rel[256], inp[4096], path[256];
        snprintf(rel, sizeof rel, "tokenizers/%s", dirs[d][0]);
        const char *sp = shared_path(rel);
        if (!sp) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", sp);
        snprintf(rel, sizeof rel, "tokvec/ggml-vocab-%s.gguf.inp", dirs[d][1]);
        snprintf(inp, sizeof inp, "%s", shared_path(rel) ? shared_path(rel) : "");
        snprintf(path, sizeof path, TMP "/tok-%s.gguf", dirs[d][1]);
        pd_error err = {0};
        pd_tokenizer *a = pd_tokenizer_load(dir, &err), *b = NULL;
        CHECK_MSG(a, "%s", err.msg);
        if (!a) continue;
        pd_gguf_writer w;
        pd_gguf_writer_init(&w, 32);
        int rc = pd_gguf_put_tokenizer(&w, dir, a, (int)pd_tokenizer_vocab_size(a) + 7, -1, -1, &err);
        if (!rc) rc = pd_gguf_w_open(&w, path, &err);
        if (!rc) rc = pd_gguf_w_commit(&w, &err);
        pd_gguf_writer_free(&w);
        CHECK_MSG(rc == 0, "%s: %s", dirs[d][0], err.msg);
        b = rc ? NULL : pd_tokenizer_load(path, &err);
        CHECK_MSG(b, "%s: %s", path, err.msg);
        char *text = NULL;
        size_t len = 0, n_texts = 0;
        if (b && *inp && pd_file_read(inp, &text, &len, &err) == 0) {
            const char *sep = "\n__ggml_vocab_test__\n";
            for (char *p = text, *end; p < text + len; p = end + strlen(sep), n_texts++) {
                if (!(end = strstr(p, sep))) end = text + len;
                *end = 0;
                for (int special = 0; special < 2; special++) {
                    int32_t *x = NULL, *y = NULL;
                    size_t nx = 0, ny = 0;
                    CHECK(pd_tokenizer_encode(a, p, strlen(p), special, &x, &nx, &err) == 0 &&
                          pd_tokenizer_encode(b, p, strlen(p), special, &y, &ny, &err) == 0);
                    CHECK_MSG(nx == ny && (!nx || !memcmp(x, y, nx * sizeof *x)), "%s text %zu", dirs[d][0], n_texts);
                    free(x), free(y);
                }
            }
        }
        free(text);
        CHECK(n_texts >= 10);
        if (b) {
            CHECK_EQ_INT(pd_tokenizer_bos_id(a), pd_tokenizer_bos_id(b));
            CHECK_EQ_INT(pd_tokenizer_eos_id(a), pd_tokenizer_eos_id(b));
            CHECK(pd_tokenizer_chat_family(a) != PD_CHAT_NONE && pd_tokenizer_chat_family(a) == pd_tokenizer_chat_family(b));
            pd_chat_msg msgs[2] = {{"system", "Be brief."}, {"user", "What is 2+2?"}};
            pd_chat_opts co = {.date_string = "26 Jul 2024"};
            pd_buf ra = {0}, rb = {0};
            CHECK(pd_chat_render_opts(a, msgs, 2, 1, 0, &co, &ra, &err) == 0 && pd_chat_render_opts(b, msgs, 2, 1, 0, &co, &rb, &err) == 0);
            CHECK(ra.len && ra.len == rb.len && !memcmp(ra.data, rb.data, ra.len));
            pd_buf_free(&ra), pd_buf_free(&rb);
            n_done++;
        }
        pd_tokenizer_free(a);
        pd_tokenizer_free(b);
    }
    if (!n_done) SKIP("../shared/tokenizers is absent");
}

/* Mistral (the Math-Shepherd PRM fixture: SentencePiece-style tokenizer, sliding window 4096)
 * as llama: the f32 file gives the directory's logits bit for bit (full attention = the
 * window's up to the 4096 positions the file declares) and the same rewards; q8_0 within its
 * tolerance, rewards close. */
static void t_mistral(void) {
    check_model(SHEPHERD, "shepherd", 0, " f32 q8_0 ");
    pd_error err = {0};
    char path[256];
    pd_model_opts mo = {.n_threads = 2};
    setenv("PONDER_QUANT_ACT", "f32", 1);
    pd_model *a = pd_model_load(SHEPHERD, &mo, &err), *b = NULL;
    CHECK_MSG(a, "%s", err.msg);
    CHECK(quantize(SHEPHERD, "shepherd", "f32", path, sizeof path, &err) == 0);
    if (a && (b = pd_model_load(path, &mo, &err))) {
        const int32_t ids[] = {1, 447, 344, 347, 346, 358, 281, 416, 817, 347, 419, 358, 469, 479, 364, 266, 363};
        float *x = last_logits(a, ids, 17), *y = last_logits(b, ids, 17);
        CHECK(x && y && !memcmp(x, y, 859 * sizeof *x));
        free(x), free(y);
        CHECK_EQ_INT(pd_model_get_config(b)->max_positions, 4096); /* the sliding window */
    }
    CHECK_MSG(b, "%s", err.msg);
    pd_model_free(a);
    pd_model_free(b);
    unsetenv("PONDER_QUANT_ACT");
    /* rewards: the same for f32, within 0.05 for q8_0 */
    char q8[256];
    CHECK(quantize(SHEPHERD, "shepherd", "q8_0", q8, sizeof q8, &err) == 0);
    pd_prm_opts po = {.kind = PD_PRM_MATH_SHEPHERD, .n_threads = 1};
    pd_prm *pd = pd_prm_open(SHEPHERD, &po, &err), *pf = pd_prm_open(path, &po, &err), *pq = pd_prm_open(q8, &po, &err);
    CHECK_MSG(pd && pf && pq, "%s", err.msg);
    const char *steps[] = {"For $x \\neq 2$ we have $f(x) = \\frac{(x-2)(x+2)}{x-2} = x + 2$.",
                           "So $\\lim_{x \\to 2} f(x) = 2 + 2 = 4$.", "The final answer is $\\boxed{4}$."};
    float rd[3], rf[3], rq[3];
    const char *problem = "Let $f(x) = \\frac{x^2 - 4}{x - 2}$. Find $\\lim_{x \\to 2} f(x)$.";
    if (pd && pf && pq) {
        CHECK(pd_prm_score(pd, problem, steps, 3, rd, NULL, &err) == 0);
        CHECK(pd_prm_score(pf, problem, steps, 3, rf, NULL, &err) == 0);
        CHECK(pd_prm_score(pq, problem, steps, 3, rq, NULL, &err) == 0);
        for (int i = 0; i < 3; i++) {
            CHECK_MSG(rd[i] == rf[i], "step %d: %g vs %g", i, rd[i], rf[i]);
            CHECK_MSG(fabsf(rd[i] - rq[i]) < 0.05f, "step %d: %g vs q8_0 %g", i, rd[i], rq[i]);
            if (getenv("PD_TEST_VERBOSE")) printf("  reward %d: %.6f f32 %.6f q8_0 %.6f\n", i, rd[i], rf[i], rq[i]);
        }
    }
    pd_prm_close(pd);
    pd_prm_close(pf);
    pd_prm_close(pq);
}

/* Write tokenizer t (from dir) alone as GGUF metadata at path, with 5 padding ids past its
 * own, and read it back; NULL on error. */
static pd_tokenizer *tokenizer_roundtrip(const char *dir, const pd_tokenizer *t, const char *path, pd_error *err) {
    pd_gguf_writer w;
    pd_gguf_writer_init(&w, 32);
    int rc = pd_gguf_put_tokenizer(&w, dir, t, (int)pd_tokenizer_vocab_size(t) + 5, -1, -1, err);
    if (!rc) rc = pd_gguf_w_open(&w, path, err);
    if (!rc) rc = pd_gguf_w_commit(&w, err);
    pd_gguf_writer_free(&w);
    return rc ? NULL : pd_tokenizer_load(path, err);
}

/* Whether the GGUF file at path has metadata key. */
static int has_key(const char *path, const char *key) {
    pd_gguf g;
    pd_error err = {0};
    if (pd_gguf_open(path, &g, &err)) return -1;
    int r = pd_gguf_find(&g, key) != NULL;
    pd_gguf_close(&g);
    return r;
}

/* The same ids (with and without special tokens) and decodes from a and b for text. */
static int same_tokens(const pd_tokenizer *a, const pd_tokenizer *b, const char *text, size_t len) {
    pd_error err = {0};
    int ok = 1;
    for (int special = 0; special < 2 && ok; special++) {
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        ok = pd_tokenizer_encode(a, text, len, special, &x, &nx, &err) == 0 &&
             pd_tokenizer_encode(b, text, len, special, &y, &ny, &err) == 0 && nx == ny &&
             (!nx || !memcmp(x, y, nx * sizeof *x));
        for (int skip = 0; skip < 2 && ok && nx; skip++) {
            pd_buf da = {0}, db = {0};
            ok = pd_tokenizer_decode_buf(a, x, nx, skip, &da, &err) == 0 && pd_tokenizer_decode_buf(b, x, nx, skip, &db, &err) == 0 &&
                 da.len == db.len && (!da.len || !memcmp(da.data, db.data, da.len));
            pd_buf_free(&da), pd_buf_free(&db);
        }
        free(x), free(y);
    }
    return ok;
}

/* SentencePiece-style tokenizers as tokenizer.ggml.model "llama". */
static void t_spm_tokenizers(void) {
    setup();
    pd_error err = {0};
    /* the spm_legacy fixture (trained by `tokenizers`: its merges are one split per token, so
     * they are written too) against Hugging Face's ids and decodes of every reference text */
    const char *dir = "tests/fixtures/tokenizer/spm_legacy";
    pd_tokenizer *a = pd_tokenizer_load(dir, &err), *b = a ? tokenizer_roundtrip(dir, a, TMP "/tok-spm-legacy.gguf", &err) : NULL;
    CHECK_MSG(a && b, "%s", err.msg);
    CHECK(has_key(TMP "/tok-spm-legacy.gguf", "tokenizer.ggml.merges") == 1);
    CHECK(!b || pd_tokenizer_vocab_size(b) == 1058 + 5);
    json_t *refs = json_load_file("tests/fixtures/tokenizer/spm_legacy/refs.json", JSON_ALLOW_NUL, NULL);
    CHECK(refs != NULL);
    json_t *base = json_array_get(json_object_get(refs, "variants"), 0), *enc = json_object_get(base, "encode");
    const char *bn = json_string_value(json_object_get(base, "name"));
    CHECK(bn && !strcmp(bn, "base") && json_array_size(enc) > 60);
    for (size_t i = 0; b && i < json_array_size(enc); i++) {
        json_t *e = json_array_get(enc, i), *tx = json_object_get(e, "text");
        const char *text = json_string_value(tx);
        size_t len = json_string_length(tx);
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(pd_tokenizer_encode(b, text, len, 0, &ids, &n, &err) == 0);
        int ok = n == json_array_size(json_object_get(e, "ids"));
        for (size_t k = 0; ok && k < n; k++) ok = ids[k] == json_integer_value(json_array_get(json_object_get(e, "ids"), k));
        pd_buf d = {0};
        ok = ok && (!n || (pd_tokenizer_decode_buf(b, ids, n, 0, &d, &err) == 0 &&
                           d.len == json_string_length(json_object_get(e, "decoded")) &&
                           !memcmp(d.data, json_string_value(json_object_get(e, "decoded")), d.len)));
        CHECK_MSG(ok, "spm_legacy text %zu differs from Hugging Face's", i);
        CHECK(same_tokens(a, b, text, len));
        pd_buf_free(&d);
        free(ids);
    }
    json_decref(refs);
    pd_tokenizer_free(a);
    pd_tokenizer_free(b);
    /* the Metaspace layout is refused, saying why */
    dir = "tests/fixtures/tokenizer/spm_metaspace";
    a = pd_tokenizer_load(dir, &err);
    CHECK_MSG(a, "%s", err.msg);
    if (a) {
        pd_gguf_writer w;
        pd_gguf_writer_init(&w, 32);
        CHECK(pd_gguf_put_tokenizer(&w, dir, a, 1058, -1, -1, &err) == PD_EUNSUPPORTED);
        CHECK_MSG(strstr(err.msg, "spm_metaspace/tokenizer.json") && strstr(err.msg, "Metaspace"), "%s", err.msg);
        pd_gguf_writer_free(&w);
        pd_tokenizer_free(a);
    }
    /* Llama 2's vocabulary (32000 pieces with SentencePiece's scores, in the shared tiny GGUF):
     * its merges are every split, so the scores carry them and no merges key is written; read
     * back, the same merges and ids (llama.cpp's llama-spm texts when there) */
    const char *g = shared_path("models/gguf/llama-2-tiny-random.gguf");
    if (!g) SKIP("../shared/models/gguf is absent");
    char gp[4096];
    snprintf(gp, sizeof gp, "%s", g);
    a = pd_tokenizer_load(gp, &err);
    b = a ? tokenizer_roundtrip(TMP, a, TMP "/tok-llama2.gguf", &err) : NULL;
    CHECK_MSG(a && b, "%s", err.msg);
    CHECK(has_key(TMP "/tok-llama2.gguf", "tokenizer.ggml.merges") == 0);
    CHECK(has_key(TMP "/tok-llama2.gguf", "tokenizer.ggml.scores") == 1);
    if (a && b) {
        CHECK(same_tokens(a, b, "Hello world", 11));
        CHECK(same_tokens(a, b, check_texts_spm, strlen(check_texts_spm)));
        const char *inp = pd_file_exists("build/llama.cpp/src/models/ggml-vocab-llama-spm.gguf.inp")
                              ? "build/llama.cpp/src/models/ggml-vocab-llama-spm.gguf.inp" : NULL;
        char *text = NULL;
        size_t len = 0, n_texts = 0;
        if (inp && pd_file_read(inp, &text, &len, &err) == 0) {
            const char *sep = "\n__ggml_vocab_test__\n";
            for (char *p = text, *end; p < text + len; p = end + strlen(sep), n_texts++) {
                if (!(end = strstr(p, sep))) end = text + len;
                *end = 0;
                CHECK_MSG(same_tokens(a, b, p, strlen(p)), "llama-spm text %zu", n_texts);
            }
        }
        free(text);
    }
    pd_tokenizer_free(a);
    pd_tokenizer_free(b);
}

/* Metadata and tensor types as llama.cpp writes them. */
static void t_metadata(void) {
    setup();
    pd_error err = {0};
    char path[256];
    CHECK(quantize(LLAMA, "llama", "q4_0", path, sizeof path, &err) == 0);
    pd_gguf g;
    if (pd_gguf_open(path, &g, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK_EQ_INT(g.version, 3);
    CHECK_EQ_INT(g.alignment, 32);
    int64_t v = 0;
    CHECK(pd_gguf_get_int(&g, "general.alignment", 1, 0, 0, 1 << 20, &v, &err) == 0 && v == 32);
    CHECK(pd_gguf_get_int(&g, "general.file_type", 1, 0, 0, 100, &v, &err) == 0 && v == 2);
    CHECK(pd_gguf_get_int(&g, "llama.block_count", 1, 0, 0, 100, &v, &err) == 0 && v == 2);
    CHECK(pd_gguf_get_int(&g, "llama.attention.head_count_kv", 1, 0, 0, 100, &v, &err) == 0 && v == 2);
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.bos_token_id", 1, 0, 0, 1 << 20, &v, &err) == 0 && v == 900);
    const char *s;
    size_t n;
    CHECK(pd_gguf_get_str(&g, "general.architecture", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "llama", 5));
    CHECK(pd_gguf_get_str(&g, "tokenizer.ggml.pre", &s, &n, &err) == 0 && n == 9 && !memcmp(s, "llama-bpe", 9));
    CHECK(pd_gguf_get_str(&g, "tokenizer.ggml.model", &s, &n, &err) == 0 && n == 4 && !memcmp(s, "gpt2", 4));
    CHECK(pd_gguf_find(&g, "tokenizer.chat_template") != NULL);
    CHECK(pd_gguf_get_str(&g, "general.name", &s, &n, &err) == 0 && n == 7 && !memcmp(s, "rlhflow", 7));
    const pd_gguf_tensor *t;
    CHECK((t = pd_gguf_tensor_find(&g, "blk.1.ffn_norm.weight")) && t->type == PD_GGML_F32);
    CHECK((t = pd_gguf_tensor_find(&g, "rope_freqs.weight")) && t->type == PD_GGML_F32 && t->ne[0] == 4);
    CHECK((t = pd_gguf_tensor_find(&g, "blk.0.attn_q.weight")) && t->type == PD_GGML_Q4_0 && t->ne[0] == 32 && t->ne[1] == 32);
    /* the output matrix: Q6_K for Q4_0 files, Q8_0 where 256 does not divide its rows (32) */
    CHECK((t = pd_gguf_tensor_find(&g, "output.weight")) && t->type == PD_GGML_Q8_0);
    CHECK(g.n_tensors == 22);
    for (size_t i = 0; i < g.n_tensors; i++) CHECK(g.tensors[i].offset % 32 == 0);
    pd_gguf_close(&g);
    /* Qwen2: no permutation key, its biases F32, the tied embedding as the output */
    CHECK(quantize(QWEN, "qwen2", "q4_k_m", path, sizeof path, &err) == 0);
    if (pd_gguf_open(path, &g, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK(pd_gguf_get_str(&g, "tokenizer.ggml.pre", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "qwen2", 5));
    CHECK((t = pd_gguf_tensor_find(&g, "blk.0.attn_q.bias")) && t->type == PD_GGML_F32);
    CHECK(pd_gguf_tensor_find(&g, "output.weight") == NULL);
    CHECK((t = pd_gguf_tensor_find(&g, "token_embd.weight")) && t->type == PD_GGML_Q8_0); /* Q6_K's fallback */
    CHECK((t = pd_gguf_tensor_find(&g, "blk.0.attn_k.weight")) && t->type == PD_GGML_Q5_0); /* Q4_K's fallback */
    pd_gguf_close(&g);
    /* Mistral: llama, the sliding window as the context, the SentencePiece tokenizer */
    CHECK(quantize(SHEPHERD, "shepherd", "q8_0", path, sizeof path, &err) == 0);
    if (pd_gguf_open(path, &g, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK(pd_gguf_get_str(&g, "general.architecture", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "llama", 5));
    CHECK(pd_gguf_get_int(&g, "llama.context_length", 1, 0, 0, 1 << 24, &v, &err) == 0 && v == 4096);
    CHECK(pd_gguf_get_str(&g, "tokenizer.ggml.model", &s, &n, &err) == 0 && n == 5 && !memcmp(s, "llama", 5));
    CHECK(pd_gguf_get_str(&g, "tokenizer.ggml.pre", &s, &n, &err) == 0 && n == 7 && !memcmp(s, "default", 7));
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.unknown_token_id", 1, 0, 0, 1 << 20, &v, &err) == 0 && v == 0);
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.bos_token_id", 1, 0, 0, 1 << 20, &v, &err) == 0 && v == 1);
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.eos_token_id", 1, 0, 0, 1 << 20, &v, &err) == 0 && v == 2);
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.add_space_prefix", 1, 0, 0, 1, &v, &err) == 0 && v == 1);
    CHECK(pd_gguf_get_int(&g, "tokenizer.ggml.add_bos_token", 1, 0, 0, 1, &v, &err) == 0 && v == 1);
    const pd_gguf_kv *ty = pd_gguf_find(&g, "tokenizer.ggml.token_type"), *sc = pd_gguf_find(&g, "tokenizer.ggml.scores");
    CHECK(ty && sc && ty->n == 859 && sc->n == 859);
    if (ty && sc && ty->n == 859 && sc->n == 859) {
        /* <unk> unknown, <s> </s> control, <0x00>..<0xFF> byte, the rest normal; the first
         * merge's token ("▁=", 335) scores -1, the next -2 */
        CHECK(pd_gguf_arr_int(&g, ty, 0) == 2 && pd_gguf_arr_int(&g, ty, 1) == 3 && pd_gguf_arr_int(&g, ty, 2) == 3);
        CHECK(pd_gguf_arr_int(&g, ty, 3) == 6 && pd_gguf_arr_int(&g, ty, 258) == 6 && pd_gguf_arr_int(&g, ty, 259) == 1);
        CHECK(pd_gguf_arr_f32(&g, sc, 335) == -1.0f && pd_gguf_arr_f32(&g, sc, 336) == -2.0f && pd_gguf_arr_f32(&g, sc, 1) == 0.0f);
    }
    pd_gguf_close(&g);
}

/* Temporary files of output `name` left in TMP. */
static int leftovers(const char *name) {
    DIR *d = opendir(TMP);
    int n = 0;
    struct dirent *e;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.ponder-tmp-", name);
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

static void t_errors(void) {
    setup();
    pd_error err = {0};
    pd_quantize_opts o = {.type = "q8_0"};
    CHECK(pd_model_quantize(TMP "/no-such-dir", TMP "/x.gguf", &o, NULL, &err) == PD_ENOTFOUND);
    CHECK(strstr(err.msg, "no-such-dir") != NULL);
    CHECK(pd_model_quantize("tests/fixtures/prm/qwen2-prm", TMP "/x.gguf", &o, NULL, &err) == PD_EUNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "Qwen2ForProcessRewardModel") != NULL, "%s", err.msg);
    /* Math-Shepherd's body with the Metaspace layout of its tokenizer (Mistral v0.3's): refused */
    mkdir(TMP "/metaspace", 0755);
    json_t *tj = json_load_file(SHEPHERD "/tokenizer.json", 0, NULL);
    CHECK(tj != NULL);
    json_object_set_new(tj, "normalizer", json_null());
    json_object_set_new(tj, "pre_tokenizer", json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement",
                                                       "\xe2\x96\x81", "prepend_scheme", "first", "split", 0));
    CHECK(json_dump_file(tj, TMP "/metaspace/tokenizer.json", 0) == 0);
    json_decref(tj);
    const char *ms_files[] = {"config.json", "model.safetensors", "tokenizer_config.json"};
    link_files(TMP "/metaspace", SHEPHERD, ms_files, 3);
    CHECK(pd_model_quantize(TMP "/metaspace", TMP "/x.gguf", &o, NULL, &err) == PD_EUNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "metaspace/tokenizer.json") && strstr(err.msg, "Metaspace") &&
              strstr(err.msg, "special tokens"), "%s", err.msg);
    CHECK(!pd_file_exists(TMP "/x.gguf"));
    CHECK(pd_model_quantize("tests/fixtures/models/llama_f32", TMP "/x.gguf", &o, NULL, &err) == PD_ENOTFOUND); /* no tokenizer */
    CHECK_MSG(strstr(err.msg, "tokenizer.json") != NULL, "%s", err.msg);
    pd_quantize_opts bad = {.type = "q3_k_xl"};
    CHECK(pd_model_quantize(LLAMA, TMP "/x.gguf", &bad, NULL, &err) == PD_EINVAL);
    CHECK(strstr(err.msg, "q3_k_xl") && strstr(err.msg, "q4_k_m"));
    CHECK(pd_model_quantize(LLAMA, TMP "/no/such/dir/x.gguf", &o, NULL, &err) == PD_EIO);
    CHECK_MSG(strstr(err.msg, TMP "/no/such/dir/x.gguf") != NULL, "%s", err.msg);
    CHECK(pd_model_quantize(LLAMA, TMP, &o, NULL, &err) == PD_EINVAL);
    CHECK(strstr(err.msg, "directory") != NULL);
    /* a failed run leaves what was at OUT as it was */
    CHECK(pd_file_write(TMP "/keep.gguf", "keep", 4, &err) == 0);
    CHECK(pd_model_quantize("tests/fixtures/prm/qwen2-prm", TMP "/keep.gguf", &o, NULL, &err) != 0);
    char *text = NULL;
    size_t len = 0;
    CHECK(pd_file_read(TMP "/keep.gguf", &text, &len, &err) == 0 && len == 4 && !memcmp(text, "keep", 4));
    free(text);
    CHECK_EQ_INT(leftovers("keep.gguf"), 0);
    /* the same input, the same bytes, whatever the threads (over an existing file: replaced whole) */
    char a[256], b[256];
    pd_quantize_opts k = {.type = "q4_k_m", .n_threads = 3};
    pd_quantize_result r;
    CHECK(pd_model_quantize(QWEN, TMP "/keep.gguf", &k, &r, &err) == 0);
    CHECK(r.n_tensors == 2 + 2 * 12 && r.file_bytes > 0 && strstr(r.types, "F32"));
    CHECK(quantize(QWEN, "qwen2", "q4_k_m", a, sizeof a, &err) == 0);
    snprintf(b, sizeof b, TMP "/keep.gguf");
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    CHECK(pd_file_read(a, &x, &nx, &err) == 0 && pd_file_read(b, &y, &ny, &err) == 0);
    CHECK(nx == ny && nx > 0 && !memcmp(x, y, nx));
    free(x), free(y);
    CHECK_EQ_INT(leftovers("keep.gguf"), 0);
}

/* A NaN in the source is refused, naming the tensor and row; nothing is written. */
static void t_nan(void) {
    setup();
    pd_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    pd_st_file f;
    CHECK(pd_file_read(LLAMA "/model.safetensors", &buf, &len, &err) == 0);
    if (!buf || pd_st_parse((const uint8_t *)buf, len, "rlhflow", &f, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        free(buf);
        return;
    }
    const pd_st_tensor *t = pd_st_find(&f, "model.layers.1.mlp.up_proj.weight");
    CHECK(t && t->dtype == PD_DT_F32 && t->shape[1] == 32);
    if (t) {
        float nan = NAN;
        memcpy(buf + (t->data - (const uint8_t *)buf) + (3 * 32 + 5) * 4, &nan, 4);
    }
    pd_st_close(&f);
    mkdir(TMP "/nan", 0755);
    CHECK(pd_file_write(TMP "/nan/model.safetensors", buf, len, &err) == 0);
    free(buf);
    const char *files[] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    link_files(TMP "/nan", LLAMA, files, 3);
    pd_quantize_opts o = {.type = "q8_0"};
    unlink(TMP "/nan.gguf");
    CHECK(pd_model_quantize(TMP "/nan", TMP "/nan.gguf", &o, NULL, &err) == PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "blk.1.ffn_up.weight") && strstr(err.msg, "row 3"), "%s", err.msg);
    CHECK(!pd_file_exists(TMP "/nan.gguf"));
    CHECK_EQ_INT(leftovers("nan.gguf"), 0);
}

static void t_cli(void) {
    setup();
    char out[4096], cmd[512];
    snprintf(cmd, sizeof cmd, "%s quantize " LLAMA " " TMP "/cli.gguf --type Q8_0", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) == 0);
    CHECK_MSG(strstr(out, "cli.gguf: Q8_0, 22 tensors (F32 6, Q8_0 16)") != NULL, "%s", out);
    CHECK(run_ponder("logits --model " TMP "/cli.gguf --prompt-ids 900,5,17 > /dev/null") == 0);
    snprintf(cmd, sizeof cmd, "%s quantize " LLAMA " " TMP "/cli.gguf", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) == 1 && strstr(out, "--type is required"));
    snprintf(cmd, sizeof cmd, "%s quantize " LLAMA " " TMP "/cli.gguf --type=q9", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) == 1 && strstr(out, "unknown type 'q9'"));
    snprintf(cmd, sizeof cmd, "%s quantize " TMP "/missing " TMP "/cli.gguf --type q8_0", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) == 1 && strstr(out, TMP "/missing"));
    snprintf(cmd, sizeof cmd, "%s quantize --help", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) == 0 && strstr(out, "q4_k_m"));
}

int main(void) {
    RUN(t_roundtrip);
    RUN(t_halves);
    RUN(t_llama);
    RUN(t_qwen2);
    RUN(t_arith_small);
    RUN(t_arith_large);
    RUN(t_mistral);
    RUN(t_tokenizer);
    RUN(t_shared_tokenizers);
    RUN(t_spm_tokenizers);
    RUN(t_metadata);
    RUN(t_errors);
    RUN(t_nan);
    RUN(t_cli);
    return test_done();
}
