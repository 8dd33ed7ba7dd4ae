/* test_prm.c — the local PRMs: each kind's exact input and rewards against transformers,
 * incremental scoring on the search tree against full recomputation, batch independence,
 * and the errors for what cannot be read.
 *
 * Fixtures: tests/fixtures/prm/<kind>/ (tools/make_prm_fixtures.py): random-weight tiny
 * models of each PRM architecture, tokenizers trained there, and reference.json with each
 * case's input ids, read-out positions and rewards computed by transformers in f32. */
#include "ponder.h"
#include "test.h"

#include <jansson.h>
#include <math.h>

static const char *KINDS[] = {"qwen2-prm", "qwen2-prm-lmhead", "skywork", "rlhflow", "math-shepherd"};

static json_t *load_ref(const char *kind) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/prm/%s/reference.json", kind);
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static pd_prm *open_kind(const char *kind, pd_error *err) {
    char dir[512];
    snprintf(dir, sizeof dir, "tests/fixtures/prm/%s", kind);
    return pd_prm_open(dir, NULL, err);
}

/* Steps of a case as a C array (pointers into the JSON). */
static size_t case_steps(json_t *c, const char **out, size_t cap) {
    json_t *st = json_object_get(c, "steps");
    size_t n = json_array_size(st);
    for (size_t i = 0; i < n && i < cap; i++) out[i] = json_string_value(json_array_get(st, i));
    return n;
}

/* Every kind: the rendered input ids and read-out positions are the reference's exactly, and
 * the rewards agree within 1e-4. */
static void t_reference(void) {
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++) {
        json_t *ref = load_ref(KINDS[k]);
        CHECK_MSG(ref != NULL, "%s: no reference.json", KINDS[k]);
        if (!ref) continue;
        pd_error err = {0};
        pd_prm *p = open_kind(KINDS[k], &err);
        CHECK_MSG(p != NULL, "%s: %s", KINDS[k], err.msg);
        if (!p) {
            json_decref(ref);
            continue;
        }
        json_t *cases = json_object_get(ref, "cases");
        CHECK(json_array_size(cases) >= 5);
        for (size_t ci = 0; ci < json_array_size(cases); ci++) {
            json_t *c = json_array_get(cases, ci);
            const char *steps[64];
            size_t n = case_steps(c, steps, 64);
            const char *problem = json_string_value(json_object_get(c, "problem"));
            int32_t *ids = NULL;
            size_t n_ids = 0, *pos = NULL;
            CHECK_MSG(pd_prm_render(p, problem, steps, n, &ids, &n_ids, &pos, &err) == 0, "%s: %s", KINDS[k], err.msg);
            json_t *rid = json_object_get(c, "input_ids"), *rpos = json_object_get(c, "readout_positions");
            CHECK_EQ_INT(n_ids, json_array_size(rid));
            size_t bad = 0;
            for (size_t i = 0; i < n_ids && i < json_array_size(rid); i++)
                bad += ids[i] != json_integer_value(json_array_get(rid, i));
            CHECK_MSG(bad == 0, "%s case %zu: %zu ids differ", KINDS[k], ci, bad);
            for (size_t i = 0; pos && i < n; i++) CHECK_EQ_INT(pos[i], json_integer_value(json_array_get(rpos, i)));
            float rew[64];
            uint64_t tokens = 0;
            CHECK_MSG(pd_prm_score(p, problem, steps, n, rew, &tokens, &err) == 0, "%s: %s", KINDS[k], err.msg);
            CHECK_EQ_INT(tokens, pos ? pos[n - 1] + 1 : 0);
            json_t *rr = json_object_get(c, "rewards");
            for (size_t i = 0; i < n; i++) {
                double want = json_real_value(json_array_get(rr, i));
                CHECK_MSG(fabs(rew[i] - want) < 1e-4, "%s case %zu step %zu: %.7f vs %.7f", KINDS[k], ci, i, rew[i], want);
            }
            free(ids);
            free(pos);
        }
        pd_prm_close(p);
        json_decref(ref);
    }
}

/* Steps as a chain of nodes under the root of a fresh tree (with the delimiter, as the
 * policy writes them). Returns the tree's node ids in out[0..n). */
static void build_chain(pd_tree *t, pd_problem *prob, const char **steps, size_t n, int32_t *out) {
    pd_tree_init(t, prob, 7);
    int32_t parent = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s\n\n", steps[i]);
        parent = pd_tree_add(t, parent, i, buf, strlen(buf), NULL, 0, 1,
                             i + 1 == n ? PD_NODE_FINISHED : PD_NODE_STEP_ENDED, 0);
        out[i] = parent;
    }
}

/* The verifier scores the newest step on top of the parent's cached prefix: each step's
 * reward equals the full recomputation (1e-5), and the tokens computed per step stay near
 * the step's own size instead of growing with the prefix. */
static void t_incremental(void) {
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++) {
        json_t *ref = load_ref(KINDS[k]);
        if (!ref) continue;
        pd_error err = {0};
        pd_verifier ver;
        char dir[512];
        snprintf(dir, sizeof dir, "tests/fixtures/prm/%s", KINDS[k]);
        if (pd_verifier_open_opts(&ver, dir, NULL, NULL, &err)) {
            CHECK_MSG(0, "%s: %s", KINDS[k], err.msg);
            json_decref(ref);
            continue;
        }
        pd_prm *full = open_kind(KINDS[k], &err);
        json_t *cases = json_object_get(ref, "cases");
        for (size_t ci = 0; full && ci < json_array_size(cases); ci++) {
            json_t *c = json_array_get(cases, ci);
            const char *steps[64];
            size_t n = case_steps(c, steps, 64);
            pd_problem prob = {(char *)"p", (char *)json_string_value(json_object_get(c, "problem")), NULL, NULL, 0};
            pd_tree t;
            int32_t ids[64];
            build_chain(&t, &prob, steps, n, ids);
            pd_cost cost = {0};
            uint64_t prev = 0, max_step = 0, prefix_tokens = 0;
            for (size_t i = 0; i < n; i++) {
                pd_score_req r = {&t, ids[i], &cost, NULL};
                t.nodes[ids[i]].reward = PD_REWARD_PENDING;
                CHECK_MSG(ver.score(ver.ctx, &r, 1, &err) == 0, "%s", err.msg);
                uint64_t step_tokens = cost.prm_tokens - prev;
                if (i == 0) prefix_tokens = step_tokens;
                else if (step_tokens > max_step) max_step = step_tokens;
                prev = cost.prm_tokens;
                float want[64];
                CHECK(pd_prm_score(full, prob.problem, steps, i + 1, want, NULL, &err) == 0);
                CHECK_MSG(fabsf(t.nodes[ids[i]].reward - want[i]) < 1e-5, "%s case %zu step %zu: %.7f vs %.7f",
                          KINDS[k], ci, i, t.nodes[ids[i]].reward, want[i]);
            }
            /* the whole input once (plus re-reading a boundary token or template per step),
             * not the sum of its prefixes */
            int32_t *in = NULL;
            size_t n_in = 0, *pos = NULL;
            CHECK(pd_prm_render(full, prob.problem, steps, n, &in, &n_in, &pos, &err) == 0);
            if (pos) CHECK_MSG(cost.prm_tokens <= pos[n - 1] + 1 + 3 * n, "%s case %zu: %llu tokens for an input of %zu",
                               KINDS[k], ci, (unsigned long long)cost.prm_tokens, pos[n - 1] + 1);
            CHECK(prefix_tokens > 0);
            free(in);
            free(pos);
            for (int32_t id = t.n_nodes - 1; id >= 0; id--) ver.release(ver.ctx, &t, id);
            pd_tree_free(&t);
        }
        pd_prm_close(full);
        pd_verifier_close(&ver);
        json_decref(ref);
    }
}

/* The same nodes scored alone and 30 trees at once give bit-identical rewards. */
static void t_batch_independent(void) {
    json_t *ref = load_ref("qwen2-prm");
    if (!ref) SKIP("no fixture");
    pd_error err = {0};
    pd_verifier ver;
    CHECK_MSG(pd_verifier_open_opts(&ver, "tests/fixtures/prm/qwen2-prm", NULL, NULL, &err) == 0, "%s", err.msg);
    json_t *cases = json_object_get(ref, "cases");
    size_t nc = json_array_size(cases);
    enum { T = 30 };
    static pd_tree trees[T];
    static pd_problem probs[T];
    static int32_t ids[T][64];
    size_t ns[T];
    float alone[T][64];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < T; i++) {
            json_t *c = json_array_get(cases, (size_t)i % nc);
            const char *steps[64];
            ns[i] = case_steps(c, steps, 64);
            probs[i] = (pd_problem){(char *)"p", (char *)json_string_value(json_object_get(c, "problem")), NULL, NULL, 0};
            build_chain(&trees[i], &probs[i], steps, ns[i], ids[i]);
        }
        pd_cost cost = {0};
        size_t depth_max = 0;
        for (int i = 0; i < T; i++) depth_max = ns[i] > depth_max ? ns[i] : depth_max;
        for (size_t d = 0; d < depth_max; d++) {
            pd_score_req reqs[T];
            size_t nr = 0;
            for (int i = 0; i < T; i++) {
                if (d >= ns[i]) continue;
                trees[i].nodes[ids[i][d]].reward = PD_REWARD_PENDING;
                reqs[nr++] = (pd_score_req){&trees[i], ids[i][d], &cost, NULL};
                if (pass == 0) { /* one at a time */
                    CHECK(ver.score(ver.ctx, &reqs[nr - 1], 1, &err) == 0);
                    nr = 0;
                }
            }
            if (nr) CHECK(ver.score(ver.ctx, reqs, nr, &err) == 0);
        }
        for (int i = 0; i < T; i++) {
            for (size_t d = 0; d < ns[i]; d++) {
                float r = trees[i].nodes[ids[i][d]].reward;
                if (pass == 0) alone[i][d] = r;
                else CHECK_MSG(memcmp(&r, &alone[i][d], sizeof r) == 0, "tree %d step %zu: %.9g vs %.9g", i, d, r, alone[i][d]);
            }
            for (int32_t id = trees[i].n_nodes - 1; id >= 0; id--) ver.release(ver.ctx, &trees[i], id);
            pd_tree_free(&trees[i]);
        }
    }
    pd_verifier_close(&ver);
    json_decref(ref);
}

/* Write `text` to dir/name. */
static void put_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Put a fixture file into dir (a symlink). */
static void link_file(const char *kind, const char *dir, const char *name) {
    char src[1024], dst[512];
    char *cwd = getcwd(NULL, 0);
    snprintf(src, sizeof src, "%s/tests/fixtures/prm/%s/%s", cwd, kind, name);
    free(cwd);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    unlink(dst);
    CHECK(symlink(src, dst) == 0);
}

/* What cannot be read is a clear error naming it. */
static void t_errors(void) {
    pd_error err = {0};
    const char *dir = "build/tests/prm_bad";
    mkdir("build/tests", 0755);
    mkdir(dir, 0755);
    /* a causal LM with no reward head and no name that says which PRM it is */
    link_file("rlhflow", dir, "config.json");
    link_file("rlhflow", dir, "model.safetensors");
    link_file("rlhflow", dir, "tokenizer.json");
    link_file("rlhflow", dir, "tokenizer_config.json");
    pd_prm *p = pd_prm_open(dir, NULL, &err);
    CHECK(p == NULL);
    CHECK_MSG(strstr(err.msg, "--prm-kind") != NULL, "%s", err.msg);
    /* ... which opens once the kind is given */
    pd_prm_opts o = {.kind = PD_PRM_RLHFLOW};
    p = pd_prm_open(dir, &o, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    pd_prm_close(p);
    /* the same token for good and bad */
    o.good_token = o.bad_token = "+";
    CHECK(pd_prm_open(dir, &o, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "same") != NULL, "%s", err.msg);
    /* a qwen2-prm kind asked of a causal LM */
    o = (pd_prm_opts){.kind = PD_PRM_QWEN2};
    CHECK(pd_prm_open(dir, &o, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "Qwen2ForProcessRewardModel") != NULL, "%s", err.msg);
    /* a qwen2-prm whose tokenizer lacks <extra_0> */
    link_file("qwen2-prm", dir, "config.json");
    link_file("qwen2-prm", dir, "model.safetensors");
    link_file("qwen2-prm", dir, "tokenizer_config.json");
    char src[512];
    snprintf(src, sizeof src, "tests/fixtures/prm/qwen2-prm/tokenizer.json");
    json_error_t je;
    json_t *tj = json_load_file(src, 0, &je);
    CHECK(tj != NULL);
    if (tj) {
        json_t *added = json_object_get(tj, "added_tokens");
        for (size_t i = json_array_size(added); i-- > 0;)
            if (!strcmp(json_string_value(json_object_get(json_array_get(added, i), "content")), "<extra_0>"))
                json_array_remove(added, i);
        json_t *vocab = json_object_get(json_object_get(tj, "model"), "vocab");
        json_object_del(vocab, "<extra_0>");
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        unlink(path);
        CHECK(json_dump_file(tj, path, 0) == 0);
        json_decref(tj);
    }
    CHECK(pd_prm_open(dir, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "<extra_0>") != NULL, "%s", err.msg);
    /* a pytorch_model.bin is never read, and the error says how to convert */
    const char *bin = "build/tests/prm_bin";
    mkdir(bin, 0755);
    link_file("qwen2-prm", bin, "config.json");
    put_file(bin, "pytorch_model.bin", "not a pickle");
    CHECK(pd_prm_open(bin, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "pytorch_model.bin") && strstr(err.msg, "safetensors"), "%s", err.msg);
    /* a solution longer than the PRM's context */
    p = open_kind("qwen2-prm", &err);
    CHECK(p != NULL);
    if (p) {
        size_t ctx = pd_prm_context(p), len = ctx * 4;
        char *big = malloc(len + 1);
        for (size_t i = 0; i < len; i++) big[i] = "ab cd"[i % 5];
        big[len] = 0;
        const char *steps[1] = {big};
        float r;
        CHECK_EQ_INT(pd_prm_score(p, "q", steps, 1, &r, NULL, &err), PD_ELIMIT);
        CHECK_MSG(strstr(err.msg, "context") != NULL, "%s", err.msg);
        free(big);
        pd_prm_close(p);
    }
}

/* `ponder score`: one line per input line, bad lines reported with their number. */
static void t_cli(void) {
    char cmd[1024];
    const char *in = "build/tests/score_in.jsonl", *out = "build/tests/score_out.jsonl";
    FILE *f = fopen(in, "w");
    fputs("{\"problem\": \"What is 2+3?\", \"steps\": [\"2+3 = 5.\", \"The answer is $\\\\boxed{5}$.\"]}\n"
          "not json\n"
          "{\"problem\": \"x\", \"steps\": [1]}\n"
          "{\"problem\": \"What is 1+1?\", \"steps\": [\"2\"]}\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "score --prm tests/fixtures/prm/skywork --agg min < %s > %s 2>/dev/null", in, out);
    CHECK_EQ_INT(run_ponder(cmd), 0);
    f = fopen(out, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (n == 1) CHECK_MSG(strstr(line, "\"rewards\": [") && strstr(line, "\"score\""), "%s", line);
        if (n == 2) CHECK_MSG(strstr(line, "\"error\": \"line 2: not JSON"), "%s", line);
        if (n == 3) CHECK_MSG(strstr(line, "\"error\": \"line 3: steps[0]"), "%s", line);
        if (n == 4) CHECK_MSG(strstr(line, "\"rewards\": [") != NULL, "%s", line);
    }
    fclose(f);
    CHECK_EQ_INT(n, 4);
    snprintf(cmd, sizeof cmd, "score --prm build/tests/nowhere < /dev/null > /dev/null 2>&1");
    CHECK(run_ponder(cmd) != 0);
}

/* A PRM opened for its format only (a remote PRM's input rendered locally) needs no
 * weights: the same input as the full PRM, the same parameter count from config.json, and a
 * clear error if asked to score. */
static void t_format_only(void) {
    const char *dir = "build/tests/prm_format_only";
    mkdir("build/tests", 0755);
    mkdir(dir, 0755);
    link_file("qwen2-prm", dir, "config.json");
    link_file("qwen2-prm", dir, "tokenizer.json");
    link_file("qwen2-prm", dir, "tokenizer_config.json");
    pd_error err = {0};
    pd_prm_opts o = {.format_only = 1};
    pd_prm *f = pd_prm_open(dir, &o, &err), *full = open_kind("qwen2-prm", &err);
    CHECK_MSG(f != NULL && full != NULL, "%s", err.msg);
    if (!f || !full) {
        pd_prm_close(f);
        pd_prm_close(full);
        return;
    }
    CHECK_EQ_INT(pd_prm_get_kind(f), PD_PRM_QWEN2);
    CHECK_EQ_INT(pd_prm_n_params(f), pd_prm_n_params(full));
    const char *steps[2] = {"1 + 1 = 2.", "So $\\boxed{2}$."};
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0, *pa = NULL, *pb = NULL;
    CHECK(pd_prm_render(f, "What is 1+1?", steps, 2, &a, &na, &pa, &err) == 0);
    CHECK(pd_prm_render(full, "What is 1+1?", steps, 2, &b, &nb, &pb, &err) == 0);
    CHECK(na == nb && a && b && !memcmp(a, b, na * sizeof *a) && pa[1] == pb[1]);
    float r[2];
    CHECK(pd_prm_score(f, "What is 1+1?", steps, 2, r, NULL, &err) != 0);
    CHECK_MSG(strstr(err.msg, "format only") != NULL, "%s", err.msg);
    free(a), free(b), free(pa), free(pb);
    pd_prm_close(f);
    pd_prm_close(full);
}

int main(void) {
    RUN(t_reference);
    RUN(t_incremental);
    RUN(t_batch_independent);
    RUN(t_errors);
    RUN(t_cli);
    RUN(t_format_only);
    return test_done();
}
