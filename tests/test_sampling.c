/* test_sampling.c — pd_sample's filters and RNG use, and generation's stop conditions.
 *
 * Distributions are checked by drawing many samples with fixed seeds (deterministic, so
 * never flaky) and comparing frequencies with the probabilities the filters imply. */
#include <math.h>

#include "engine/kernels.h"
#include "ponder.h"
#include "test.h"

/* logits = log(p) for a small distribution */
static void logits_of(const double *p, int n, float *out) {
    for (int i = 0; i < n; i++) out[i] = p[i] > 0 ? (float)log(p[i]) : -INFINITY;
}

/* Draw n samples; counts[id]++. Returns 0 or the error code. */
static int draw(const float *lg, int V, pd_sampling s, uint64_t seed, int n, int *counts) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    memset(counts, 0, (size_t)V * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int32_t t;
        int rc = pd_sample(lg, (size_t)V, &s, &r, &t, NULL);
        if (rc) return rc;
        if (t < 0 || t >= V) return -100;
        counts[t]++;
    }
    return 0;
}

static void t_greedy(void) {
    float lg[6] = {0.1f, 2.0f, -1.0f, 2.0f, NAN, 1.9f};
    pd_sampling g = pd_sampling_greedy();
    int32_t t = -1;
    CHECK(pd_sample(lg, 6, &g, NULL, &t, NULL) == 0);
    CHECK_EQ_INT(t, 1); /* ties: lowest id, NaN never wins */
    pd_sampling k1 = {1.0, 1, 1.0, 0.0};
    pd_rng r;
    pd_rng_seed(&r, 5);
    CHECK(pd_sample(lg, 6, &k1, &r, &t, NULL) == 0);
    CHECK_EQ_INT(t, 1);
    float nan3[3] = {NAN, NAN, NAN};
    pd_error err = {0};
    CHECK(pd_sample(nan3, 3, &g, NULL, &t, &err) == PD_EINVAL);
}

static void t_temperature_matches_softmax(void) {
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    float lg[4];
    logits_of(p, 4, lg);
    int c[4], N = 40000;
    pd_sampling s = {1.0, 0, 1.0, 0.0};
    CHECK(draw(lg, 4, s, 11, N, c) == 0);
    for (int i = 0; i < 4; i++) {
        double sd = sqrt(N * p[i] * (1 - p[i]));
        CHECK_MSG(fabs(c[i] - N * p[i]) < 5 * sd, "token %d: %d draws, expected %.0f", i, c[i], N * p[i]);
    }
    /* T = 2 flattens: p_i ~ sqrt(p_i) */
    s.temperature = 2.0;
    CHECK(draw(lg, 4, s, 12, N, c) == 0);
    double z = 0;
    for (int i = 0; i < 4; i++) z += sqrt(p[i]);
    for (int i = 0; i < 4; i++) {
        double q = sqrt(p[i]) / z, sd = sqrt(N * q * (1 - q));
        CHECK_MSG(fabs(c[i] - N * q) < 5 * sd, "T=2 token %d: %d draws, expected %.0f", i, c[i], N * q);
    }
}

static void t_filters(void) {
    const double p[5] = {0.4, 0.3, 0.15, 0.1, 0.05};
    float lg[5];
    logits_of(p, 5, lg);
    int c[5], N = 20000;
    /* top-k 2: only {0, 1}, renormalised 4:3 */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 2, 1.0, 0.0}, 1, N, c) == 0);
    CHECK(c[2] == 0 && c[3] == 0 && c[4] == 0);
    CHECK_MSG(fabs(c[0] - N * 4.0 / 7) < 5 * sqrt(N * 4.0 / 7 * 3.0 / 7), "top-k: %d", c[0]);
    /* top-p 0.8: drop from the bottom while the dropped mass <= 0.2: 0.05 + 0.1 = 0.15 dropped, 0.3 would exceed */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 0, 0.8, 0.0}, 2, N, c) == 0);
    CHECK(c[3] == 0 && c[4] == 0 && c[2] > 0 && c[1] > 0 && c[0] > 0);
    /* top-p 0.5: keeps {0, 1} (0.3 + 0.15 + 0.1 + 0.05 > 0.5 after adding 0.3) */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 0, 0.5, 0.0}, 3, N, c) == 0);
    CHECK(c[2] == 0 && c[3] == 0 && c[4] == 0 && c[1] > 0);
    /* tiny top-p keeps the top token only */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 0, 0.01, 0.0}, 4, 200, c) == 0);
    CHECK_EQ_INT(c[0], 200);
    /* min-p 0.5: keep p >= 0.2 -> {0, 1} */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 0, 1.0, 0.5}, 5, N, c) == 0);
    CHECK(c[2] == 0 && c[3] == 0 && c[4] == 0 && c[1] > 0);
    /* min-p 0.3: keep p >= 0.12 -> {0, 1, 2} */
    CHECK(draw(lg, 5, (pd_sampling){1.0, 0, 1.0, 0.3}, 6, N, c) == 0);
    CHECK(c[3] == 0 && c[4] == 0 && c[2] > 0);
    /* top-k ties at the edge are kept (HF keeps logits >= the k-th value) */
    float tie[4] = {1.0f, 0.5f, 0.5f, -3.0f};
    CHECK(draw(tie, 4, (pd_sampling){1.0, 2, 1.0, 0.0}, 7, 4000, c) == 0);
    CHECK(c[1] > 0 && c[2] > 0 && c[3] == 0);
    /* combined, order temperature -> top-k -> top-p -> min-p */
    CHECK(draw(lg, 5, (pd_sampling){0.5, 4, 0.9, 0.1}, 8, N, c) == 0);
    CHECK(c[4] == 0);
}

static void t_rng_and_params(void) {
    const double p[3] = {0.6, 0.3, 0.1};
    float lg[3];
    logits_of(p, 3, lg);
    int a[3], b[3];
    pd_sampling s = {0.8, 0, 0.95, 0.0};
    CHECK(draw(lg, 3, s, 42, 500, a) == 0);
    CHECK(draw(lg, 3, s, 42, 500, b) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* one RNG draw per sampled token: two streams from the same seed stay in step */
    pd_rng r1, r2;
    pd_rng_seed(&r1, 9);
    pd_rng_seed(&r2, 9);
    int32_t t;
    CHECK(pd_sample(lg, 3, &s, &r1, &t, NULL) == 0);
    (void)pd_rng_f64(&r2);
    CHECK(r1.s[0] == r2.s[0] && r1.s[3] == r2.s[3]);
    pd_error err = {0};
    pd_rng r;
    pd_rng_seed(&r, 1);
    CHECK(pd_sample(lg, 3, &(pd_sampling){-1, 0, 1, 0}, &r, &t, &err) == PD_EINVAL && strstr(err.msg, "temperature"));
    CHECK(pd_sample(lg, 3, &(pd_sampling){1, -2, 1, 0}, &r, &t, &err) == PD_EINVAL && strstr(err.msg, "top_k"));
    CHECK(pd_sample(lg, 3, &(pd_sampling){1, 0, 0, 0}, &r, &t, &err) == PD_EINVAL && strstr(err.msg, "top_p"));
    CHECK(pd_sample(lg, 3, &(pd_sampling){1, 0, 1, 1.5}, &r, &t, &err) == PD_EINVAL && strstr(err.msg, "min_p"));
    CHECK(pd_sample(lg, 3, &(pd_sampling){1, 0, 1, 0}, NULL, &t, &err) == PD_EINVAL);
    CHECK(pd_sample(lg, 0, &s, &r, &t, &err) == PD_EINVAL);
    /* temperatures so small that 1 / T or logit / T overflow float: the greedy limit, never
     * the lowest logit (the sum of exp(inf - inf) was NaN and the last candidate won) */
    float three[3] = {1.0f, 2.0f, -1.0f}, big[3] = {100.0f, 99.0f, 0.0f};
    for (uint64_t seed = 0; seed < 8; seed++) {
        pd_rng_seed(&r, seed);
        CHECK(pd_sample(three, 3, &(pd_sampling){1e-50, 0, 1, 0}, &r, &t, &err) == 0 && t == 1);
        CHECK(pd_sample(three, 3, &(pd_sampling){1e-50, 2, 0.9, 0.1}, &r, &t, &err) == 0 && t == 1);
        CHECK(pd_sample(big, 3, &(pd_sampling){1e-37, 0, 1, 0}, &r, &t, &err) == 0 && t == 0);
    }
    /* all -inf but one */
    float one[4] = {-INFINITY, -INFINITY, 3.0f, -INFINITY};
    CHECK(pd_sample(one, 4, &(pd_sampling){1, 0, 0.5, 0.2}, &r, &t, NULL) == 0 && t == 2);
}

/* Generation stops: EOS (from config), max_tokens, context; ignore_eos. */
static void t_generation_stops(void) {
    pd_error err = {0};
    pd_model *m = pd_model_load("tests/fixtures/models/llama_bf16", NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    /* sample at high temperature until an EOS id (2 or 7) appears: finish EOS, last id is EOS */
    int32_t prompt[] = {1, 17};
    pd_gen_params p = {0};
    p.sampling = (pd_sampling){3.0, 0, 1.0, 0.0};
    p.max_tokens = 1000;
    int saw_eos = 0;
    for (uint64_t seed = 0; seed < 20 && !saw_eos; seed++) {
        pd_gen_seq s = {.prompt = prompt, .n_prompt = 2, .seed = seed};
        CHECK(pd_generate(m, NULL, &p, &s, 1, &err) == 0);
        if (s.finish == PD_FINISH_EOS) {
            saw_eos = 1;
            CHECK(s.ids[s.n_ids - 1] == 2 || s.ids[s.n_ids - 1] == 7);
            for (size_t i = 0; i + 1 < s.n_ids; i++) CHECK(s.ids[i] != 2 && s.ids[i] != 7);
        } else {
            CHECK(s.finish == PD_FINISH_LENGTH);
        }
        pd_gen_seq_clear(&s);
    }
    CHECK(saw_eos);
    /* ignore_eos runs to max_tokens */
    p.ignore_eos = 1;
    p.max_tokens = 300;
    pd_gen_seq s = {.prompt = prompt, .n_prompt = 2, .seed = 3};
    CHECK(pd_generate(m, NULL, &p, &s, 1, &err) == 0);
    CHECK(s.finish == PD_FINISH_LENGTH && s.n_ids == 300);
    pd_gen_seq_clear(&s);
    /* max_tokens 0: nothing generated */
    p.max_tokens = 0;
    CHECK(pd_generate(m, NULL, &p, &s, 1, &err) == 0 && s.n_ids == 0 && s.finish == PD_FINISH_LENGTH);
    pd_gen_seq_clear(&s);
    /* stop strings without a tokenizer are refused; empty prompts too */
    const char *stop[] = {"\n"};
    p.stop = stop;
    p.n_stop = 1;
    CHECK(pd_generate(m, NULL, &p, &s, 1, &err) == PD_EINVAL && strstr(err.msg, "tokenizer"));
    p.n_stop = 0;
    pd_gen_seq empty = {.prompt = prompt, .n_prompt = 0};
    CHECK(pd_generate(m, NULL, &p, &empty, 1, &err) == PD_EINVAL);
    pd_model_free(m);
}

/* Stop strings on decoded text, with a real tokenizer over a tiny model's ids (ids < 256 of
 * the Llama 3 tokenizer are single byte-level characters). Skips without the tokenizer. */
static void t_stop_strings(void) {
    const char *tp = shared_path("tokenizers/llama-3.2-1b-instruct");
    if (!tp) tp = shared_path("tokenizers/Llama-3.2-1B-Instruct");
    if (!tp) SKIP("no Llama 3 tokenizer in ../shared/tokenizers");
    char tdir[4096];
    snprintf(tdir, sizeof tdir, "%s", tp);
    pd_error err = {0};
    pd_tokenizer *tok = pd_tokenizer_load(tdir, &err);
    if (!tok) SKIP("tokenizer not loadable: %s", err.msg);
    pd_model *m = pd_model_load("tests/fixtures/models/llama_f32", NULL, &err);
    CHECK(m != NULL);
    int32_t prompt[] = {1, 17, 203};
    pd_gen_params p = {0};
    p.sampling = pd_sampling_greedy();
    p.max_tokens = 12;
    p.ignore_eos = 1;
    pd_gen_seq full = {.prompt = prompt, .n_prompt = 3};
    CHECK(m && pd_generate(m, tok, &p, &full, 1, &err) == 0);
    CHECK(full.text && strlen(full.text) >= 6);
    if (m && full.text && strlen(full.text) >= 6) {
        /* stop at the 2 characters starting at offset 4 of the greedy text */
        char stop_s[3] = {full.text[4], full.text[5], 0};
        const char *stop[] = {stop_s};
        p.stop = stop;
        p.n_stop = 1;
        const char *first = strstr(full.text, stop_s);
        size_t at = (size_t)(first - full.text);
        pd_gen_seq s = {.prompt = prompt, .n_prompt = 3};
        CHECK(pd_generate(m, tok, &p, &s, 1, &err) == 0);
        CHECK(s.finish == PD_FINISH_STOP);
        CHECK(s.text && strlen(s.text) == at && !strncmp(s.text, full.text, at));
        CHECK(s.n_ids < full.n_ids);
        pd_gen_seq_clear(&s);
        p.keep_stop = 1;
        CHECK(pd_generate(m, tok, &p, &s, 1, &err) == 0);
        CHECK(s.text && strlen(s.text) == at + 2 && !strncmp(s.text, full.text, at + 2));
        pd_gen_seq_clear(&s);
    }
    pd_gen_seq_clear(&full);
    pd_model_free(m);
    pd_tokenizer_free(tok);
}

/* The documented draw written out plainly: survivors of temperature and min-p get
 * pd_exp_det(l - max) (l = logit / T in float), u = one draw x their sum (pd_exp_sum's), the
 * first token whose running total in index order passes u. The engine scans in blocks of 16
 * first, which can differ only when u falls within rounding of a boundary. */
static int32_t draw_plain(const float *lg, int V, double T, double min_p, pd_rng *r) {
    float inv_t = (float)(1.0 / T), mx = -INFINITY;
    for (int i = 0; i < V; i++) {
        float l = isnan(lg[i]) ? -INFINITY : lg[i] * inv_t;
        if (l > mx) mx = l;
    }
    float *e = malloc((size_t)V * sizeof *e);
    double lanes[16] = {0}, acc = 0;
    int32_t last = -1, pick = -1;
    for (int i = 0; i < V; i++) {
        float l = isnan(lg[i]) ? -INFINITY : lg[i] * inv_t;
        e[i] = (min_p > 0 && (double)l - mx < log(min_p)) ? 0.0f : pd_exp_det(l - mx);
        lanes[i % 16] += e[i];
        if (e[i] > 0) last = i;
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    double u = pd_rng_f64(r) * lanes[0];
    for (int i = 0; i < V && pick < 0; i++)
        if (u < (acc += e[i])) pick = i;
    free(e);
    return pick >= 0 ? pick : last;
}

/* Temperature and min-p sampling without a sort, with and without the caller's work buffer,
 * draws the plain rule's token: many random distributions (NaN and -inf entries, a few
 * dominant logits, lengths not a multiple of 16), temperatures and min-p values, and the RNGs
 * stay in step. */
static void t_linear_path_exact(void) {
    enum { V = 3001 };
    float *lg = malloc(V * sizeof *lg), *work = malloc(V * sizeof *work);
    pd_rng gen;
    pd_rng_seed(&gen, 77);
    const double temps[4] = {0.3, 0.8, 1.0, 1.7}, minps[3] = {0.0, 0.05, 0.6};
    int mismatches = 0, distinct_ok = 0;
    for (int round = 0; round < 24; round++) {
        double scale = 1.0 + 8.0 * pd_rng_f64(&gen);
        for (int i = 0; i < V; i++) lg[i] = (float)((pd_rng_f64(&gen) - 0.5) * scale);
        lg[(int)(pd_rng_f64(&gen) * V)] = NAN;
        lg[(int)(pd_rng_f64(&gen) * V)] = -INFINITY;
        if (round % 3 == 0) lg[(int)(pd_rng_f64(&gen) * V)] = (float)scale * 3;
        pd_sampling s = {temps[round % 4], 0, 1.0, minps[round % 3]};
        pd_rng a, b, c;
        pd_rng_seed(&a, (uint64_t)round), pd_rng_seed(&b, (uint64_t)round), pd_rng_seed(&c, (uint64_t)round);
        int32_t prev = -1;
        for (int k = 0; k < 40; k++) {
            int32_t ta = -1, tb = -1, tc = draw_plain(lg, V, s.temperature, s.min_p, &c);
            CHECK(pd_sample_work(lg, V, &s, &a, &ta, work, NULL) == 0);
            CHECK(pd_sample(lg, V, &s, &b, &tb, NULL) == 0);
            mismatches += ta != tc || tb != tc;
            distinct_ok += prev >= 0 && ta != prev;
            prev = ta;
        }
        CHECK(a.s[0] == c.s[0] && b.s[1] == c.s[1]);
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(distinct_ok > 100); /* the draws vary: the check compares real samples */
    free(lg);
    free(work);
}

int main(void) {
    RUN(t_linear_path_exact);
    RUN(t_greedy);
    RUN(t_temperature_matches_softmax);
    RUN(t_filters);
    RUN(t_rng_and_params);
    RUN(t_generation_stops);
    RUN(t_stop_strings);
    return test_done();
}
