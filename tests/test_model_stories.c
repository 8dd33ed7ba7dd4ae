/* test_model_stories.c — a real checkpoint: ../shared/models/stories260K (Karpathy's 260K
 * TinyStories Llama in Hugging Face layout, no tokenizer). Greedy decoding from prompt [1]
 * must reproduce the 256 ids of its reference.json exactly, through the library and through
 * `ponder generate`; batching and per-sequence seeds must not change any sequence's output. */
#include <jansson.h>

#include "ponder.h"
#include "test.h"

typedef struct stories {
    pd_model *m;
    int32_t prompt[64];
    size_t n_prompt;
    int32_t greedy[512];
    size_t n_greedy;
} stories;

/* Load the model and its reference; 0 or -1 (SKIPped by the caller). */
static int load_stories(stories *s, int threads) {
    const char *dir = shared_path("models/stories260K");
    if (!dir) return -1;
    char d[4096], ref[4200];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(ref, sizeof ref, "%s/reference.json", d);
    json_error_t je;
    json_t *root = json_load_file(ref, 0, &je);
    CHECK_MSG(root != NULL, "reference.json: %s", je.text);
    if (!root) return -1;
    json_t *p = json_object_get(root, "prompt_ids"), *g = json_object_get(root, "greedy_ids");
    s->n_prompt = json_array_size(p);
    s->n_greedy = json_array_size(g);
    CHECK(s->n_prompt >= 1 && s->n_prompt <= 64 && s->n_greedy == 256);
    for (size_t i = 0; i < s->n_prompt && i < 64; i++) s->prompt[i] = (int32_t)json_integer_value(json_array_get(p, i));
    for (size_t i = 0; i < s->n_greedy && i < 512; i++) s->greedy[i] = (int32_t)json_integer_value(json_array_get(g, i));
    json_decref(root);
    pd_error err = {0};
    pd_model_opts o = {threads, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    s->m = pd_model_load(d, &o, &err);
    CHECK_MSG(s->m != NULL, "%s", err.msg);
    return s->m ? 0 : -1;
}

/* The published greedy ids, exactly, with both kernel sets' default (AVX2 when present). */
static void t_greedy_256(void) {
    stories s;
    if (load_stories(&s, 2)) SKIP("../shared/models/stories260K not available");
    pd_gen_params p = {0};
    p.sampling = pd_sampling_greedy();
    p.max_tokens = s.n_greedy;
    pd_gen_seq g = {.prompt = s.prompt, .n_prompt = s.n_prompt};
    pd_error err = {0};
    CHECK_MSG(pd_generate(s.m, NULL, &p, &g, 1, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(g.n_ids, s.n_greedy);
    size_t first_bad = SIZE_MAX;
    for (size_t i = 0; i < g.n_ids && i < s.n_greedy; i++)
        if (g.ids[i] != s.greedy[i] && first_bad == SIZE_MAX) first_bad = i;
    CHECK_MSG(first_bad == SIZE_MAX, "first mismatch at token %zu", first_bad);
    pd_gen_seq_clear(&g);
    pd_model_free(s.m);
}

/* Same with the portable kernels and one thread. */
static void t_greedy_256_portable(void) {
    const char *dir = shared_path("models/stories260K");
    if (!dir) SKIP("../shared/models/stories260K not available");
    stories s;
    if (load_stories(&s, 1)) return;
    pd_model_free(s.m);
    pd_error err = {0};
    pd_model_opts o = {1, PD_KERNELS_PORTABLE, PD_PRECISION_DEFAULT};
    s.m = pd_model_load(shared_path("models/stories260K"), &o, &err);
    CHECK(s.m != NULL);
    if (!s.m) return;
    CHECK_STR(pd_model_kernels_name(s.m), "portable");
    pd_gen_params p = {0};
    p.sampling = pd_sampling_greedy();
    p.max_tokens = s.n_greedy;
    pd_gen_seq g = {.prompt = s.prompt, .n_prompt = s.n_prompt};
    CHECK(pd_generate(s.m, NULL, &p, &g, 1, &err) == 0);
    CHECK(g.n_ids == s.n_greedy && memcmp(g.ids, s.greedy, s.n_greedy * sizeof(int32_t)) == 0);
    pd_gen_seq_clear(&g);
    pd_model_free(s.m);
}

/* A sequence's output does not depend on the batch it runs in: greedy and seeded sampling. */
static void t_batch_independent(void) {
    stories s;
    if (load_stories(&s, 2)) SKIP("../shared/models/stories260K not available");
    int32_t other[] = {1, 403, 407, 261, 378};
    pd_gen_params p = {0};
    p.sampling = (pd_sampling){0.9, 40, 0.95, 0.02};
    p.max_tokens = 48;
    pd_error err = {0};
    /* alone */
    pd_gen_seq alone = {.prompt = s.prompt, .n_prompt = s.n_prompt, .seed = 77};
    CHECK(pd_generate(s.m, NULL, &p, &alone, 1, &err) == 0);
    /* in a batch, in the middle, next to other prompts and seeds */
    pd_gen_seq batch[3] = {{.prompt = other, .n_prompt = 5, .seed = 1},
                           {.prompt = s.prompt, .n_prompt = s.n_prompt, .seed = 77},
                           {.prompt = other, .n_prompt = 3, .seed = 2}};
    CHECK(pd_generate(s.m, NULL, &p, batch, 3, &err) == 0);
    CHECK_EQ_INT(batch[1].n_ids, alone.n_ids);
    CHECK(alone.n_ids > 0 && memcmp(batch[1].ids, alone.ids, alone.n_ids * sizeof(int32_t)) == 0);
    /* a different seed gives a different sample (48 tokens at T=0.9: certain in practice) */
    CHECK(batch[0].n_ids != batch[2].n_ids || memcmp(batch[0].ids, batch[2].ids, batch[0].n_ids * sizeof(int32_t)) != 0);
    /* sampling is not greedy here */
    CHECK(memcmp(alone.ids, s.greedy, alone.n_ids * sizeof(int32_t)) != 0);
    for (int i = 0; i < 3; i++) pd_gen_seq_clear(&batch[i]);
    pd_gen_seq_clear(&alone);
    /* greedy in a batch of 4 = the reference */
    pd_gen_params gp = {0};
    gp.sampling = pd_sampling_greedy();
    gp.max_tokens = s.n_greedy;
    pd_gen_seq gb[4];
    for (int i = 0; i < 4; i++)
        gb[i] = (pd_gen_seq){.prompt = i == 2 ? s.prompt : other, .n_prompt = i == 2 ? s.n_prompt : (size_t)(2 + i)};
    CHECK(pd_generate(s.m, NULL, &gp, gb, 4, &err) == 0);
    CHECK(gb[2].n_ids == s.n_greedy && memcmp(gb[2].ids, s.greedy, s.n_greedy * sizeof(int32_t)) == 0);
    for (int i = 0; i < 4; i++) pd_gen_seq_clear(&gb[i]);
    /* max_tokens and EOS: EOS id 2 ends a sequence and is its last id */
    gp.max_tokens = 5;
    pd_gen_seq g5 = {.prompt = s.prompt, .n_prompt = s.n_prompt};
    CHECK(pd_generate(s.m, NULL, &gp, &g5, 1, &err) == 0);
    CHECK_EQ_INT(g5.n_ids, 5);
    CHECK(g5.finish == PD_FINISH_LENGTH);
    pd_gen_seq_clear(&g5);
    pd_model_free(s.m);
}

/* The command line: `ponder generate --prompt-ids 1 --max-tokens 256 --print-ids`. */
static void t_cli_generate(void) {
    stories s;
    if (load_stories(&s, 1)) SKIP("../shared/models/stories260K not available");
    pd_model_free(s.m);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 1 --max-tokens 256 --print-ids",
             ponder_bin(), shared_path("models/stories260K"));
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    size_t n = 0;
    int v, ok = 1;
    while (fscanf(f, "%d", &v) == 1) {
        if (n >= s.n_greedy || v != s.greedy[n]) ok = 0;
        n++;
    }
    CHECK_EQ_INT(pclose(f), 0);
    CHECK_EQ_INT(n, s.n_greedy);
    CHECK(ok);
    /* logits: one line per vocabulary entry, argmax = the first greedy id */
    snprintf(cmd, sizeof cmd, "%s logits --model %s --prompt-ids 1", ponder_bin(), shared_path("models/stories260K"));
    f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    double x, best = -1e30;
    int lines = 0, arg = -1;
    while (fscanf(f, "%lf", &x) == 1) {
        if (x > best) best = x, arg = lines;
        lines++;
    }
    CHECK_EQ_INT(pclose(f), 0);
    CHECK_EQ_INT(lines, 512);
    CHECK_EQ_INT(arg, s.greedy[0]);
    /* without a tokenizer, text output is a clear error, not a crash */
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 1 --max-tokens 4 2>&1",
             ponder_bin(), shared_path("models/stories260K"));
    f = popen(cmd, "r");
    char line[1024] = "";
    CHECK(f && fgets(line, sizeof line, f));
    CHECK(f && pclose(f) != 0);
    CHECK_MSG(strstr(line, "ponder generate:") && strstr(line, "tokenizer"), "%s", line);
}

int main(void) {
    RUN(t_greedy_256);
    RUN(t_greedy_256_portable);
    RUN(t_batch_independent);
    RUN(t_cli_generate);
    return test_done();
}
