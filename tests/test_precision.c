/* test_precision.c — the engine's precision (model.h: pd_precision).
 *
 * bf16 precision multiplies BF16 weights by activations rounded to bf16. Whatever kernel set
 * runs it (the fp32 sets on pre-rounded inputs, the AVX512-BF16 set with vdpbf16ps), the
 * products are the same, so the logits agree to fp32 summation noise, far closer than the
 * rounding moves them from exact precision. Checked here: that agreement on every set the
 * CPU has, batching and few-id read-outs changing no bits, F32 weights untouched, how the
 * precision and the kernel set are chosen (options, PONDER_PRECISION, conflicts), and the
 * options of the backends and the command line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"
#include "ponder.h"
#include "test.h"

#define LEN 7
static const int32_t PROMPT[3][LEN] = {{1, 5, 9, 22, 7, 3, 64}, {2, 40, 41, 8, 8, 19, 100}, {7, 7, 1, 90, 33, 2, 5}};

static pd_model *load(const char *name, pd_kernels k, pd_precision p, pd_error *err) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fixtures/models/%s", name);
    pd_model_opts o = {2, k, p};
    return pd_model_load(dir, &o, err);
}

/* The last position's logits of PROMPT[i] alone, malloc'd (V floats). */
static float *last_logits(pd_model *m, int i) {
    pd_error err = {0};
    size_t V = (size_t)pd_model_get_config(m)->vocab_size;
    float *out = malloc(V * sizeof *out);
    pd_kv *kv = pd_kv_new(m, &err);
    pd_seq_step s = {.kv = kv, .tokens = PROMPT[i], .n_tokens = LEN, .logits = PD_LOGITS_LAST, .out = out};
    int rc = pd_model_forward(m, &s, 1, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    pd_kv_free(kv);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static double range_of(const float *a, size_t n) {
    float lo = a[0], hi = a[0];
    for (size_t i = 1; i < n; i++) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
    return (double)hi - (double)lo;
}

static const pd_kernels KINDS[] = {PD_KERNELS_PORTABLE, PD_KERNELS_AVX2, PD_KERNELS_AVX512, PD_KERNELS_AVX512BF16};

/* Every set in bf16 precision against portable C in bf16 precision: fp32 noise, while bf16 and
 * exact precision differ by the rounding (so the rounding is really applied, on every set). */
static void t_sets_agree_in_bf16(void) {
    const char *names[] = {"llama_bf16", "qwen2_bias_bf16", "llama_sharded_bf16"};
    for (size_t v = 0; v < 3; v++) {
        pd_error err = {0};
        pd_model *pb = load(names[v], PD_KERNELS_PORTABLE, PD_PRECISION_BF16, &err);
        pd_model *pe = load(names[v], PD_KERNELS_PORTABLE, PD_PRECISION_EXACT, &err);
        CHECK(pb && pe);
        if (!pb || !pe) return;
        CHECK_STR(pd_model_precision_name(pb), "bf16");
        CHECK_STR(pd_model_precision_name(pe), "exact");
        size_t V = (size_t)pd_model_get_config(pb)->vocab_size;
        for (int i = 0; i < 3; i++) {
            float *rb = last_logits(pb, i), *re = last_logits(pe, i);
            double range = range_of(re, V), moved = max_diff(rb, re, V);
            CHECK_MSG(moved > 1e-4 * range && moved < 0.05 * range, "%s: bf16 moved the logits by %g (range %g)", names[v],
                      moved, range);
            for (size_t k = 1; k < sizeof KINDS / sizeof *KINDS; k++) {
                pd_model *m = load(names[v], KINDS[k], PD_PRECISION_BF16, &err);
                if (!m) continue; /* a set this CPU lacks */
                CHECK_STR(pd_model_precision_name(m), "bf16");
                float *got = last_logits(m, i);
                double d = max_diff(got, rb, V);
                CHECK_MSG(d <= 1e-5 * range + 1e-6 && d * 50 < moved, "%s %s prompt %d: %g from portable in bf16 (bf16 vs exact %g)",
                          names[v], pd_model_kernels_name(m), i, d, moved);
                free(got);
                pd_model_free(m);
            }
            free(rb), free(re);
        }
        pd_model_free(pb), pd_model_free(pe);
    }
}

/* In bf16 precision a row's bits still do not depend on its batch, and reading a few ids
 * gives the full row's values at those ids, on every set. */
static void t_batch_and_readout_in_bf16(void) {
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++) {
        pd_error err = {0};
        pd_model *m = load("qwen2_bias_bf16", KINDS[k], PD_PRECISION_BF16, &err);
        if (!m) continue;
        size_t V = (size_t)pd_model_get_config(m)->vocab_size;
        float *single[3], *batched = malloc(3 * V * sizeof(float));
        for (int i = 0; i < 3; i++) single[i] = last_logits(m, i);
        pd_kv *kv[3];
        pd_seq_step st[3];
        for (int i = 0; i < 3; i++) {
            kv[i] = pd_kv_new(m, &err);
            st[i] = (pd_seq_step){.kv = kv[i], .tokens = PROMPT[i], .n_tokens = LEN, .logits = PD_LOGITS_LAST, .out = batched + i * V};
        }
        CHECK(pd_model_forward(m, st, 3, &err) == 0);
        for (int i = 0; i < 3; i++)
            CHECK_MSG(max_diff(batched + i * V, single[i], V) == 0, "%s: prompt %d batched differs", pd_model_kernels_name(m), i);
        /* a few ids of prompt 1's last row: the reward-head style read-out */
        int32_t ids[4] = {0, 3, (int32_t)V / 2, (int32_t)V - 1};
        float few[4];
        pd_kv_truncate(kv[1], 0);
        pd_seq_step s = {.kv = kv[1], .tokens = PROMPT[1], .n_tokens = LEN, .logits = PD_LOGITS_LAST, .out = few,
                         .vocab_ids = ids, .n_vocab_ids = 4};
        CHECK(pd_model_forward(m, &s, 1, &err) == 0);
        for (int j = 0; j < 4; j++)
            CHECK_MSG(few[j] == single[1][ids[j]], "%s: id %d read alone %g, in the full row %g", pd_model_kernels_name(m),
                      ids[j], few[j], single[1][ids[j]]);
        for (int i = 0; i < 3; i++) pd_kv_free(kv[i]), free(single[i]);
        free(batched);
        pd_model_free(m);
    }
}

/* F32 weights are multiplied exactly in either precision: the same bits (on this CPU's
 * automatic choice, which may be the AVX512-BF16 set: its F32 products are the AVX-512 set's). */
static void t_f32_weights_untouched(void) {
    pd_error err = {0};
    pd_model *a = load("qwen2_bias_f32", PD_KERNELS_AUTO, PD_PRECISION_EXACT, &err);
    CHECK(a != NULL);
    if (!a) return;
    pd_model *b = load("qwen2_bias_f32", PD_KERNELS_AUTO, PD_PRECISION_BF16, &err);
    CHECK(b != NULL);
    if (!b) {
        pd_model_free(a);
        return;
    }
    size_t V = (size_t)pd_model_get_config(a)->vocab_size;
    float *la = last_logits(a, 0), *lb = last_logits(b, 0);
    CHECK_MSG(max_diff(la, lb, V) == 0, "F32 weights moved in bf16 precision (%s)", pd_model_kernels_name(b));
    free(la), free(lb);
    pd_model_free(a), pd_model_free(b);
}

/* How the precision and the set are chosen. */
static void t_choice(void) {
    pd_error err = {0};
    unsetenv("PONDER_PRECISION");
    pd_model *m = load("llama_bf16", PD_KERNELS_AUTO, PD_PRECISION_DEFAULT, &err);
    CHECK(m && !strcmp(pd_model_precision_name(m), "exact"));
    CHECK(m && strcmp(pd_model_kernels_name(m), "avx512bf16")); /* never with exact products */
    pd_model_free(m);
    /* the environment sets the default; options win over it */
    setenv("PONDER_PRECISION", "bf16", 1);
    m = load("llama_bf16", PD_KERNELS_AUTO, PD_PRECISION_DEFAULT, &err);
    CHECK(m && !strcmp(pd_model_precision_name(m), "bf16"));
    pd_model_free(m);
    m = load("llama_bf16", PD_KERNELS_AUTO, PD_PRECISION_EXACT, &err);
    CHECK(m && !strcmp(pd_model_precision_name(m), "exact"));
    pd_model_free(m);
    setenv("PONDER_PRECISION", "fp8", 1);
    m = load("llama_bf16", PD_KERNELS_AUTO, PD_PRECISION_DEFAULT, &err);
    CHECK(m == NULL && strstr(err.msg, "PONDER_PRECISION=fp8") && strstr(err.msg, "llama_bf16"));
    unsetenv("PONDER_PRECISION");
    /* the AVX512-BF16 set: bf16 precision by default, an error with exact */
    if (pd_kernels_avx512bf16()) {
        m = load("llama_bf16", PD_KERNELS_AVX512BF16, PD_PRECISION_DEFAULT, &err);
        CHECK(m && !strcmp(pd_model_precision_name(m), "bf16"));
        pd_model_free(m);
        m = load("llama_bf16", PD_KERNELS_AVX512BF16, PD_PRECISION_EXACT, &err);
        CHECK(m == NULL && strstr(err.msg, "avx512bf16") && strstr(err.msg, "exact"));
    }
    /* auto in bf16 precision: the AVX512-BF16 set or the best fp32 set, never less */
    m = load("llama_bf16", PD_KERNELS_AUTO, PD_PRECISION_BF16, &err);
    CHECK(m != NULL);
    if (m) {
        const char *best = pd_kernels_avx512() ? "avx512" : pd_kernels_avx2() ? "avx2" : "portable";
        const char *got = pd_model_kernels_name(m);
        CHECK_MSG(!strcmp(got, best) || (!strcmp(got, "avx512bf16") && pd_kernels_avx512bf16()), "auto bf16 picked %s", got);
    }
    pd_model_free(m);
    pd_precision p;
    CHECK(pd_precision_parse("bf16", &p) == 0 && p == PD_PRECISION_BF16);
    CHECK(pd_precision_parse("exact", &p) == 0 && p == PD_PRECISION_EXACT);
    CHECK(pd_precision_parse("BF16", &p) != 0 && pd_precision_parse("", &p) != 0 && pd_precision_parse(NULL, &p) != 0);
}

/* The backends' options and the command line. */
static void t_options(void) {
    pd_backend_opts o;
    pd_backend_opts_default(&o);
    pd_error err = {0};
    CHECK(pd_backend_opts_set(&o, "precision", "bf16", &err) == 0 && o.precision == PD_PRECISION_BF16);
    CHECK(pd_backend_opts_set(&o, "prm-precision", "exact", &err) == 0 && o.prm_precision == PD_PRECISION_EXACT);
    CHECK(pd_backend_opts_set(&o, "precision", "half", &err) == PD_EINVAL && strstr(err.msg, "--precision") &&
          strstr(err.msg, "half"));
    pd_backend_opts_free(&o);
    const char *m = "--model tests/fixtures/models/llama_bf16 --prompt-ids '1 5 9'";
    char args[512];
    snprintf(args, sizeof args, "logits %s --precision fp8 2>/dev/null", m);
    CHECK(run_ponder(args) != 0);
    snprintf(args, sizeof args, "logits %s --kernels sse9 2>/dev/null", m);
    CHECK(run_ponder(args) != 0);
    snprintf(args, sizeof args, "logits %s --kernels portable --precision bf16 >/dev/null", m);
    CHECK(run_ponder(args) == 0);
}

/* An eval run records the precision its local models ran (config.json), and a resume takes
 * it from there, not from the environment of the moment. */
static void t_eval_records_precision(void) {
    char dir[] = "/tmp/ponder-test-precision-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char args[1024];
    snprintf(args, sizeof args, "data sums --n 2 --seed 1 --levels 1-2 > %s/p.jsonl", dir);
    CHECK(run_ponder(args) == 0);
    const char *runs[] = {"bf16", "exact", "mixed"};
    const char *flags[] = {"--precision bf16", "", "--precision bf16 --prm-precision exact"};
    for (int r = 0; r < 3; r++) {
        snprintf(args, sizeof args, "eval --policy models/arith-small --prm models/arith-prm --dataset %s/p.jsonl "
                 "--strategy best_of_n --n 2 %s --out %s/%s > /dev/null 2>&1", dir, flags[r], dir, runs[r]);
        CHECK_MSG(run_ponder(args) == 0, "%s", args);
        char rd[256];
        snprintf(rd, sizeof rd, "%s/%s", dir, runs[r]);
        setenv("PONDER_PRECISION", r == 1 ? "bf16" : "exact", 1); /* the opposite of the run's */
        pd_eval_saved sv;
        pd_error err = {0};
        CHECK(pd_eval_saved_load(rd, &sv, &err) == 0);
        CHECK_EQ_INT(sv.bo.precision, r == 1 ? PD_PRECISION_EXACT : PD_PRECISION_BF16);
        CHECK_EQ_INT(sv.bo.prm_precision, r == 0 ? PD_PRECISION_BF16 : PD_PRECISION_EXACT);
        pd_eval_saved_free(&sv);
        unsetenv("PONDER_PRECISION");
    }
    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0);
}

int main(void) {
    RUN(t_sets_agree_in_bf16);
    RUN(t_batch_and_readout_in_bf16);
    RUN(t_f32_weights_untouched);
    RUN(t_choice);
    RUN(t_options);
    RUN(t_eval_records_precision);
    return test_done();
}
