/* test_arith_models.c — the project's own trained models (models/, tools/arith/): the PRM and
 * both policies against the numbers transformers gave when they were made.
 *
 *   models/arith-prm/reference.json    solutions (right and wrong, every level) with the input
 *                                      ids, read-out positions and rewards of transformers
 *   models/arith-{small,large}/reference.json   level-1 and level-2 problems the policy
 *                                      solves: prompt ids, the last prompt position's logits,
 *                                      the greedy ids (tools/arith/make_references.py)
 *
 * ponder must render the same ids, give the same rewards (1e-4) and logits (1e-3), decode the
 * same greedy ids and so the right answer; `ponder score` and `ponder generate` say the same. */
#include "ponder.h"
#include "test.h"

#include <jansson.h>
#include <math.h>

static json_t *load_json(const char *path) {
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The PRM: input ids, read-out positions and rewards as transformers', for every case. */
static void t_prm_reference(void) {
    if (!exists("models/arith-prm/model.safetensors")) SKIP("models/arith-prm not trained yet");
    json_t *ref = load_json("models/arith-prm/reference.json");
    CHECK_MSG(ref != NULL, "models/arith-prm/reference.json missing or bad");
    if (!ref) return;
    pd_error err = {0};
    pd_prm *p = pd_prm_open("models/arith-prm", NULL, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    if (!p) {
        json_decref(ref);
        return;
    }
    CHECK_EQ_INT(pd_prm_get_kind(p), PD_PRM_QWEN2);
    json_t *cases = json_object_get(ref, "cases");
    CHECK(json_array_size(cases) >= 5);
    /* the last step's reward of each solution (what the searches rank answers by), by label */
    double last_right[64], last_wrong[64];
    int n_right = 0, n_wrong = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        json_t *st = json_object_get(c, "steps");
        const char *steps[64];
        size_t n = json_array_size(st);
        CHECK(n >= 1 && n <= 64);
        if (n < 1 || n > 64) continue;
        for (size_t i = 0; i < n; i++) steps[i] = json_string_value(json_array_get(st, i));
        const char *problem = json_string_value(json_object_get(c, "problem"));
        int32_t *ids = NULL;
        size_t n_ids = 0, *pos = NULL;
        CHECK_MSG(pd_prm_render(p, problem, steps, n, &ids, &n_ids, &pos, &err) == 0, "%s", err.msg);
        json_t *rid = json_object_get(c, "input_ids"), *rpos = json_object_get(c, "readout_positions");
        CHECK_EQ_INT(n_ids, json_array_size(rid));
        size_t bad = 0;
        for (size_t i = 0; i < n_ids && i < json_array_size(rid); i++)
            bad += ids[i] != json_integer_value(json_array_get(rid, i));
        CHECK_MSG(bad == 0, "case %zu: %zu ids differ", ci, bad);
        for (size_t i = 0; pos && i < n; i++) CHECK_EQ_INT(pos[i], json_integer_value(json_array_get(rpos, i)));
        float rew[64];
        CHECK_MSG(pd_prm_score(p, problem, steps, n, rew, NULL, &err) == 0, "%s", err.msg);
        json_t *rr = json_object_get(c, "rewards"), *lab = json_object_get(c, "labels");
        for (size_t i = 0; i < n; i++) {
            double want = json_real_value(json_array_get(rr, i));
            CHECK_MSG(fabs(rew[i] - want) < 1e-4, "case %zu step %zu: %.7f vs %.7f", ci, i, rew[i], want);
        }
        if (json_integer_value(json_array_get(lab, n - 1))) {
            if (n_right < 64) last_right[n_right++] = rew[n - 1];
        } else if (n_wrong < 64) {
            last_wrong[n_wrong++] = rew[n - 1];
        }
        free(ids);
        free(pos);
    }
    /* and the PRM is a trained one: a right solution's last step mostly outscores a wrong one's
     * (the share of (right, wrong) pairs ordered so: the ranking best-of-N relies on) */
    CHECK(n_right > 0 && n_wrong > 0);
    int ordered = 0;
    for (int i = 0; i < n_right; i++)
        for (int j = 0; j < n_wrong; j++) ordered += last_right[i] > last_wrong[j];
    CHECK_MSG(ordered * 4 >= n_right * n_wrong * 3, "right solutions' last step above a wrong one's: %d of %d pairs",
              ordered, n_right * n_wrong);
    pd_prm_close(p);
    json_decref(ref);
}

/* `ponder score` on the first case prints the reference rewards. */
static void t_prm_cli(void) {
    if (!exists("models/arith-prm/model.safetensors")) SKIP("models/arith-prm not trained yet");
    json_t *ref = load_json("models/arith-prm/reference.json");
    if (!ref) SKIP("no reference.json");
    json_t *c = json_array_get(json_object_get(ref, "cases"), 0);
    json_t *line = json_pack("{s:O,s:O}", "problem", json_object_get(c, "problem"), "steps",
                             json_object_get(c, "steps"));
    system("mkdir -p build/tmp/test_arith_models");
    CHECK(json_dump_file(line, "build/tmp/test_arith_models/score.jsonl", JSON_COMPACT) == 0);
    CHECK(run_ponder("score --prm models/arith-prm < build/tmp/test_arith_models/score.jsonl "
                     "> build/tmp/test_arith_models/score.out") == 0);
    json_t *out = load_json("build/tmp/test_arith_models/score.out");
    CHECK(out != NULL);
    json_t *got = json_object_get(out, "rewards"), *want = json_object_get(c, "rewards");
    CHECK_EQ_INT(json_array_size(got), json_array_size(want));
    for (size_t i = 0; i < json_array_size(got) && i < json_array_size(want); i++)
        CHECK(fabs(json_number_value(json_array_get(got, i)) - json_number_value(json_array_get(want, i))) < 1e-4);
    json_decref(out);
    json_decref(line);
    json_decref(ref);
}

/* A policy: the chat prompt's ids, the last prompt logits and the greedy ids as transformers'. */
static void check_policy(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_t *ref = load_json(path);
    CHECK_MSG(ref != NULL, "%s missing or bad", path);
    if (!ref) return;
    pd_error err = {0};
    pd_model_opts o = {2, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    pd_model *m = pd_model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s: %s", dir, err.msg);
    pd_tokenizer *tok = pd_tokenizer_load(dir, &err);
    CHECK_MSG(tok != NULL, "%s: %s", dir, err.msg);
    if (!m || !tok) {
        pd_model_free(m);
        pd_tokenizer_free(tok);
        json_decref(ref);
        return;
    }
    CHECK_EQ_INT(pd_tokenizer_chat_family(tok), PD_CHAT_CHATML);
    int32_t eos = (int32_t)json_integer_value(json_object_get(ref, "eos_id"));
    const pd_model_config *cfg = pd_model_get_config(m);
    int eos_known = 0;
    for (int i = 0; i < cfg->n_eos; i++) eos_known |= cfg->eos_ids[i] == eos;
    CHECK_MSG(eos_known, "%s: <|im_end|> is not an EOS id", dir);
    json_t *cases = json_object_get(ref, "cases");
    CHECK(json_array_size(cases) >= 3);
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *problem = json_string_value(json_object_get(c, "problem"));
        /* the prompt: the chat with no system turn */
        pd_chat_msg msg = {"user", problem};
        pd_buf txt = {0};
        CHECK(pd_chat_render(tok, &msg, 1, 1, 0, &txt, &err) == 0);
        int32_t *ids = NULL;
        size_t n_ids = 0;
        CHECK(pd_tokenizer_encode(tok, txt.data, txt.len, 0, &ids, &n_ids, &err) == 0);
        json_t *rp = json_object_get(c, "prompt_ids");
        CHECK_EQ_INT(n_ids, json_array_size(rp));
        size_t bad = 0;
        for (size_t i = 0; i < n_ids && i < json_array_size(rp); i++)
            bad += ids[i] != json_integer_value(json_array_get(rp, i));
        CHECK_MSG(bad == 0, "%s case %zu: %zu prompt ids differ", dir, ci, bad);
        /* the last position's logits */
        json_t *rl = json_object_get(c, "last_logits");
        size_t V = (size_t)cfg->vocab_size;
        CHECK_EQ_INT(json_array_size(rl), V);
        float *logits = malloc(V * sizeof *logits);
        pd_kv *kv = pd_kv_new(m, &err);
        pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = n_ids, .logits = PD_LOGITS_LAST, .out = logits};
        CHECK_MSG(kv && pd_model_forward(m, &s, 1, &err) == 0, "%s", err.msg);
        double worst = 0;
        for (size_t i = 0; i < V && i < json_array_size(rl); i++) {
            double d = fabs(logits[i] - json_number_value(json_array_get(rl, i)));
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst < 1e-3, "%s case %zu: logits differ by %g", dir, ci, worst);
        pd_kv_free(kv);
        free(logits);
        /* greedy: the same ids, ending in <|im_end|>, and the right answer */
        pd_gen_params gp = {0};
        gp.sampling = pd_sampling_greedy();
        gp.max_tokens = 256;
        pd_gen_seq g = {.prompt = ids, .n_prompt = n_ids};
        CHECK_MSG(pd_generate(m, tok, &gp, &g, 1, &err) == 0, "%s", err.msg);
        json_t *rg = json_object_get(c, "greedy_ids");
        CHECK_EQ_INT(g.n_ids, json_array_size(rg));
        bad = 0;
        for (size_t i = 0; i < g.n_ids && i < json_array_size(rg); i++)
            bad += g.ids[i] != json_integer_value(json_array_get(rg, i));
        CHECK_MSG(bad == 0, "%s case %zu: %zu greedy ids differ", dir, ci, bad);
        CHECK(g.finish == PD_FINISH_EOS);
        char boxed[64];
        snprintf(boxed, sizeof boxed, "\\boxed{%s}$.", json_string_value(json_object_get(c, "answer")));
        CHECK_MSG(g.text && strstr(g.text, boxed), "%s: %s", problem, g.text ? g.text : "(no text)");
        pd_gen_seq_clear(&g);
        free(ids);
        pd_buf_free(&txt);
    }
    pd_tokenizer_free(tok);
    pd_model_free(m);
    json_decref(ref);
}

static void t_small_policy(void) {
    if (!exists("models/arith-small/model.safetensors")) SKIP("models/arith-small not trained yet");
    check_policy("models/arith-small");
}

static void t_large_policy(void) {
    if (!exists("models/arith-large/model.safetensors")) SKIP("models/arith-large not trained yet");
    check_policy("models/arith-large");
}

/* `ponder generate --chat` with the small policy solves a level-1 problem. */
static void t_generate_cli(void) {
    if (!exists("models/arith-small/model.safetensors")) SKIP("models/arith-small not trained yet");
    json_t *ref = load_json("models/arith-small/reference.json");
    if (!ref) SKIP("no reference.json");
    json_t *c = json_array_get(json_object_get(ref, "cases"), 0);
    char cmd[1024];
    system("mkdir -p build/tmp/test_arith_models");
    snprintf(cmd, sizeof cmd, "generate --model models/arith-small --chat --prompt '%s' > build/tmp/test_arith_models/gen.out",
             json_string_value(json_object_get(c, "problem")));
    CHECK(run_ponder(cmd) == 0);
    FILE *f = fopen("build/tmp/test_arith_models/gen.out", "r");
    char out[4096] = {0};
    if (f) {
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        fclose(f);
    }
    CHECK_MSG(strstr(out, json_string_value(json_object_get(c, "greedy_text"))) != NULL, "got: %s", out);
    json_decref(ref);
}

/* The demo reads best-of-N at a smaller budget off the first samples of its one run at the
 * largest budget: those answers must be the ones a run at the smaller budget gives (per-sample
 * seeds), and its FLOPs what that run spends (within the estimate of the PRM's input head). */
static void t_demo_best_of_n_subsets(void) {
    if (!exists("models/arith-prm/model.safetensors")) SKIP("models/arith-prm not trained yet");
    const char *D = "build/tmp/test_arith_models/demo";
    char cmd[1024];
    system("rm -rf build/tmp/test_arith_models/demo build/tmp/test_arith_models/n1");
    snprintf(cmd, sizeof cmd, "demo --problems 12 --n 1,4 --out %s > %s.out", D, D);
    CHECK(run_ponder(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "eval --policy models/arith-small --prm models/arith-prm --dataset %s/problems.jsonl --system-prompt '' "
             "--strategy best_of_n --n 1 --seed 1 --temperature 0.8 --max-step-tokens 160 --iterations 12 "
             "--out build/tmp/test_arith_models/n1 --quiet",
             D);
    CHECK(run_ponder(cmd) == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/runs/arith-small-best_of_n-n4/results.jsonl", D);
    FILE *f4 = fopen(path, "r"), *f1 = fopen("build/tmp/test_arith_models/n1/results.jsonl", "r");
    CHECK(f4 && f1);
    /* no run of its own at N = 1 */
    snprintf(path, sizeof path, "%s/runs/arith-small-best_of_n-n1", D);
    CHECK(!exists(path));
    char *l4 = NULL, *l1 = NULL;
    size_t c4 = 0, c1 = 0;
    int lines = 0;
    while (f4 && f1 && getline(&l4, &c4, f4) > 0 && getline(&l1, &c1, f1) > 0) {
        json_error_t je;
        json_t *a = json_loads(l4, 0, &je), *b = json_loads(l1, 0, &je);
        CHECK(a && b);
        if (!a || !b) break;
        CHECK_STR(json_string_value(json_object_get(a, "id")), json_string_value(json_object_get(b, "id")));
        json_t *ca = json_array_get(json_object_get(a, "completions"), 0);
        json_t *cb = json_array_get(json_object_get(b, "completions"), 0);
        CHECK_STR(json_string_value(json_object_get(ca, "text")), json_string_value(json_object_get(cb, "text")));
        CHECK(json_equal(json_object_get(a, "correct_weighted@1"), json_object_get(b, "correct_weighted@1")));
        CHECK(json_equal(json_object_get(a, "correct_maj@1"), json_object_get(b, "correct_maj@1")));
        json_decref(a);
        json_decref(b);
        lines++;
    }
    CHECK_EQ_INT(lines, 12);
    free(l4);
    free(l1);
    if (f4) fclose(f4);
    if (f1) fclose(f1);
    /* the N = 1 weighted row's FLOPs against what the N = 1 run spent */
    snprintf(path, sizeof path, "%s/summary.json", D);
    json_t *sum = load_json(path), *run1 = load_json("build/tmp/test_arith_models/n1/summary.json");
    CHECK(sum && run1);
    double demo_flops = 0, demo_acc = -1;
    json_t *rows = json_object_get(sum, "rows"), *r;
    size_t i;
    json_array_foreach(rows, i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "strategy")) ?: "", "best_of_n") &&
            !strcmp(json_string_value(json_object_get(r, "selection")) ?: "", "weighted") &&
            json_integer_value(json_object_get(r, "n")) == 1 && json_is_string(json_object_get(r, "level"))) {
            demo_flops = json_number_value(json_object_get(r, "flops_per_problem"));
            demo_acc = json_number_value(json_object_get(r, "accuracy"));
        }
    }
    json_t *res = json_array_get(json_object_get(run1, "results"), 0);
    json_t *cost = json_object_get(res, "cost_per_problem");
    double run_flops = json_number_value(json_object_get(cost, "policy_flops")) +
                       json_number_value(json_object_get(cost, "prm_flops"));
    CHECK_MSG(demo_flops > 0 && fabs(demo_flops - run_flops) < 0.05 * run_flops, "demo %g, run %g", demo_flops,
              run_flops);
    CHECK(fabs(demo_acc - json_number_value(json_object_get(json_object_get(res, "accuracy"), "weighted"))) < 1e-9);
    json_decref(sum);
    json_decref(run1);
}

int main(void) {
    RUN(t_prm_reference);
    RUN(t_prm_cli);
    RUN(t_small_policy);
    RUN(t_large_policy);
    RUN(t_generate_cli);
    RUN(t_demo_best_of_n_subsets);
    return test_done();
}
