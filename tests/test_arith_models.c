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
    int wrong_low = 0, right_high = 0, n_right = 0, n_wrong = 0;
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
            /* and the PRM is a trained one: it mostly tells right steps from wrong ones */
            if (json_integer_value(json_array_get(lab, i))) n_right++, right_high += rew[i] > 0.5f;
            else n_wrong++, wrong_low += rew[i] < 0.5f;
        }
        free(ids);
        free(pos);
    }
    CHECK(n_right > 0 && n_wrong > 0);
    CHECK_MSG(right_high * 10 >= n_right * 7 && wrong_low * 10 >= n_wrong * 7,
              "right steps above 0.5: %d/%d, wrong steps below: %d/%d", right_high, n_right, wrong_low, n_wrong);
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
    pd_model_opts o = {2, PD_KERNELS_AUTO};
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

int main(void) {
    RUN(t_prm_reference);
    RUN(t_prm_cli);
    RUN(t_small_policy);
    RUN(t_large_policy);
    RUN(t_generate_cli);
    return test_done();
}
