/* test_policy_local.c — a causal LM on the embedded engine as the search's policy, with a
 * local PRM as verifier: steps cut exactly at the delimiter, caches that hold the tokens of
 * the text, results independent of the batch, and `ponder eval` end to end.
 *
 * The policy is the rlhflow fixture (tests/fixtures/prm/rlhflow: a random-weight tiny
 * LlamaForCausalLM with a Llama 3 chat template); its text is noise, which is what these
 * checks need: they are about the machinery, not the answers. The step delimiter is a single
 * space, so that steps end often and sampled tokens such as " x" run past it. */
#include "ponder.h"
#include "test.h"

#define POLICY "tests/fixtures/prm/rlhflow"
#define PRM "tests/fixtures/prm/qwen2-prm"

static void opts(pd_backend_opts *o, const char *delim) {
    pd_backend_opts_default(o);
    strcpy(o->step_delimiter, delim);
    o->n_threads = 2;
}

typedef struct collected {
    pd_search_result r[64];
    int n;
} collected;

static int collect(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    collected *c = ud;
    (void)err;
    pd_search_result *d = &c->r[job];
    *d = *r;
    d->c = calloc((size_t)r->n, sizeof *d->c);
    for (int32_t i = 0; i < r->n; i++) {
        d->c[i] = r->c[i];
        d->c[i].text = strdup(r->c[i].text);
        d->c[i].answer = r->c[i].answer ? strdup(r->c[i].answer) : NULL;
        d->c[i].key = r->c[i].key ? strdup(r->c[i].key) : NULL;
        d->c[i].rewards = malloc(((size_t)r->c[i].n_steps + 1) * sizeof(float));
        memcpy(d->c[i].rewards, r->c[i].rewards, (size_t)r->c[i].n_steps * sizeof(float));
        d->c[i].ids = malloc((r->c[i].n_ids + 1) * sizeof(int32_t));
        if (r->c[i].n_ids) memcpy(d->c[i].ids, r->c[i].ids, r->c[i].n_ids * sizeof(int32_t));
    }
    c->n++;
    return 0;
}

static void free_collected(collected *c, size_t n) {
    for (size_t i = 0; i < n; i++) pd_search_result_free(&c->r[i]);
}

static char problem_text[30][64];
static pd_problem problems[30];

/* 30 problems, each strategy in turn, run with at most `inflight` searches at once. */
static int run_all(const pd_policy *pol, const pd_verifier *ver, pd_strategy s, int inflight, collected *out,
                   pd_sched_stats *st, pd_error *err) {
    pd_sched_job jobs[30];
    for (int i = 0; i < 30; i++) {
        snprintf(problem_text[i], sizeof problem_text[i], "What is %d + %d?", i, 2 * i + 1);
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        problems[i] = (pd_problem){strdup(id), problem_text[i], NULL, NULL, 1};
        pd_search_cfg_default(&jobs[i].cfg);
        jobs[i].prob = &problems[i];
        jobs[i].cfg.strategy = s;
        jobs[i].cfg.n = 4;
        jobs[i].cfg.beam_width = 2;
        jobs[i].cfg.num_iterations = 4;
        jobs[i].cfg.step_max_tokens = 12;
        jobs[i].cfg.seed = 3;
    }
    memset(out, 0, sizeof *out);
    int rc = pd_sched_run(pol, ver, jobs, 30, inflight, collect, out, st, err);
    for (int i = 0; i < 30; i++) free(problems[i].id);
    return rc;
}

/* The same seeds give the same steps and rewards with 1 or 30 problems in flight. */
static void t_batch_independent(void) {
    pd_backend_opts o;
    opts(&o, " ");
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    if (pd_policy_open_opts(&pol, POLICY, &o, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK_MSG(pd_verifier_open_opts(&ver, PRM, &pol, &o, &err) == 0, "%s", err.msg);
    for (int s = 0; s < PD_N_STRATEGIES; s++) {
        static collected a, b;
        pd_sched_stats sa, sb;
        CHECK_MSG(run_all(&pol, &ver, (pd_strategy)s, 1, &a, &sa, &err) == 0, "%s", err.msg);
        CHECK_MSG(run_all(&pol, &ver, (pd_strategy)s, 30, &b, &sb, &err) == 0, "%s", err.msg);
        CHECK(sb.max_expand_batch > sa.max_expand_batch); /* the batches really were wider */
        int steps = 0;
        for (int i = 0; i < 30; i++) {
            CHECK_EQ_INT(a.r[i].n, b.r[i].n);
            for (int32_t c = 0; c < a.r[i].n && c < b.r[i].n; c++) {
                CHECK_STR(a.r[i].c[c].text, b.r[i].c[c].text);
                CHECK_EQ_INT(a.r[i].c[c].n_steps, b.r[i].c[c].n_steps);
                CHECK(a.r[i].c[c].n_ids > 0 && a.r[i].c[c].n_ids == b.r[i].c[c].n_ids &&
                      !memcmp(a.r[i].c[c].ids, b.r[i].c[c].ids, a.r[i].c[c].n_ids * sizeof(int32_t)));
                steps += a.r[i].c[c].n_steps;
                for (int32_t k = 0; k < a.r[i].c[c].n_steps && k < b.r[i].c[c].n_steps; k++) {
                    float x = a.r[i].c[c].rewards[k], y = b.r[i].c[c].rewards[k];
                    CHECK_MSG(memcmp(&x, &y, sizeof x) == 0 && x >= 0 && x <= 1, "%s problem %d: %.9g vs %.9g",
                              pd_strategy_name((pd_strategy)s), i, x, y);
                }
            }
            CHECK_EQ_INT(a.r[i].cost.policy_tokens, b.r[i].cost.policy_tokens);
            CHECK_EQ_INT(a.r[i].cost.prm_tokens, b.r[i].cost.prm_tokens);
            CHECK(a.r[i].cost.policy_tokens > 0 && a.r[i].cost.prefix_tokens > 0 && a.r[i].cost.prm_tokens > 0);
        }
        CHECK(steps > 30 * 4); /* steps really were cut at the delimiter */
        free_collected(&a, 30);
        free_collected(&b, 30);
    }
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

/* Steps end exactly at the delimiter, and a path's ids decode to its text: the cache the
 * next step continues from holds the tokens of the text so far. A node whose cache is gone
 * is rebuilt from its path's ids and continues exactly as the cached one. */
static void t_cut_and_cache(void) {
    pd_backend_opts o;
    opts(&o, " ");
    pd_policy pol;
    pd_error err = {0};
    pd_tokenizer *tok = pd_tokenizer_load(POLICY, &err);
    if (!tok || pd_policy_open_opts(&pol, POLICY, &o, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        pd_tokenizer_free(tok);
        return;
    }
    pd_problem prob = {(char *)"q", (char *)"What is 6 times 7?", NULL, NULL, 1};
    pd_tree ta, tb;
    pd_tree_init(&ta, &prob, 11);
    pd_tree_init(&tb, &prob, 11);
    ta.step_max_tokens = tb.step_max_tokens = 12;
    pd_cost cost = {0};
    int32_t out_a[8], out_b[8];
    pd_expand_req ra = {.tree = &ta, .leaf = 0, .k = 8, .cost = &cost, .out = out_a};
    pd_expand_req rb = {.tree = &tb, .leaf = 0, .k = 8, .cost = &cost, .out = out_b};
    CHECK_MSG(pol.expand(pol.ctx, &ra, 1, &err) == 0, "%s", err.msg);
    CHECK_MSG(pol.expand(pol.ctx, &rb, 1, &err) == 0, "%s", err.msg);
    int ended = 0;
    for (int i = 0; i < 8; i++) {
        const pd_node *n = &ta.nodes[out_a[i]];
        CHECK_EQ_INT(n->text_len, tb.nodes[out_b[i]].text_len);
        if (n->status != PD_NODE_STEP_ENDED) continue;
        ended++;
        const char *txt = pd_tree_text(&ta, out_a[i]);
        CHECK(n->text_len >= 1 && txt[n->text_len - 1] == ' ');
        CHECK(memchr(txt, ' ', n->text_len - 1) == NULL); /* the first space ends the step */
        char *dec = NULL;
        CHECK(pd_tokenizer_decode(tok, ta.ids + n->ids_off, n->ids_len, 1, &dec, &err) == 0);
        CHECK_MSG(dec && strlen(dec) == n->text_len && !memcmp(dec, txt, n->text_len), "ids decode to '%s', text '%.*s'",
                  dec ? dec : "", (int)n->text_len, txt);
        free(dec);
    }
    CHECK(ended >= 2);
    /* go on from each step: tree a from its caches, tree b from rebuilt ones */
    for (int i = 0; i < 8; i++) {
        if (ta.nodes[out_a[i]].status != PD_NODE_STEP_ENDED) continue;
        pol.release(pol.ctx, &tb, out_b[i]); /* drops the cache: the next expand rebuilds it */
        int32_t ga, gb;
        pd_expand_req xa = {.tree = &ta, .leaf = out_a[i], .k = 1, .cost = &cost, .out = &ga};
        pd_expand_req xb = {.tree = &tb, .leaf = out_b[i], .k = 1, .cost = &cost, .out = &gb};
        CHECK(pol.expand(pol.ctx, &xa, 1, &err) == 0);
        CHECK(pol.expand(pol.ctx, &xb, 1, &err) == 0);
        CHECK_EQ_INT(ta.nodes[ga].text_len, tb.nodes[gb].text_len);
        CHECK(!memcmp(pd_tree_text(&ta, ga), pd_tree_text(&tb, gb), ta.nodes[ga].text_len));
    }
    for (int32_t id = ta.n_nodes - 1; id >= 0; id--) pol.release(pol.ctx, &ta, id);
    for (int32_t id = tb.n_nodes - 1; id >= 0; id--) pol.release(pol.ctx, &tb, id);
    pd_tree_free(&ta);
    pd_tree_free(&tb);
    pd_policy_close(&pol);
    pd_tokenizer_free(tok);
}

/* `ponder eval` with a local policy and PRM: results carry texts, rewards and costs. */
static void t_eval_cli(void) {
    const char *dir = "build/tests/policy_eval";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && %s data arith --n 3 --levels 1-2 --seed 4 > %s/data.jsonl", dir,
             dir, ponder_bin(), dir);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "eval --policy " POLICY " --prm " PRM " --dataset %s/data.jsonl --strategy best_of_n,beam_search,dvts "
             "--n 4,8 --beam-width 4 --iterations 3 --max-step-tokens 10 --step-delimiter ' ' --quiet --out %s/run",
             dir, dir);
    CHECK_EQ_INT(run_ponder(cmd), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/run/results.jsonl", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        n++;
        CHECK(strstr(line, "\"text\":\"") != NULL);
        CHECK(strstr(line, "\"step_rewards\":[0.") != NULL || strstr(line, "\"step_rewards\":[1") != NULL);
        CHECK(strstr(line, "\"prm_tokens\":0,") == NULL && strstr(line, "\"prm_tokens\":") != NULL);
        CHECK(strstr(line, "\"policy_flops\":") != NULL);
    }
    free(line);
    fclose(f);
    CHECK_EQ_INT(n, 3 * 3 * 2);
    /* a policy without a chat template is a clear error */
    snprintf(cmd, sizeof cmd, "solve --policy tests/fixtures/prm/math-shepherd --prm " PRM " 'x' > %s/err.txt 2>&1", dir);
    CHECK(run_ponder(cmd) != 0);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *msg = NULL;
    size_t len = 0;
    pd_error err = {0};
    CHECK(pd_file_read(path, &msg, &len, &err) == 0);
    CHECK_MSG(msg && strstr(msg, "chat template") && strstr(msg, "math-shepherd"), "%s", msg ? msg : "");
    free(msg);
}

/* The backend options: escapes in the delimiter, a system prompt from a file, bad values. */
static void t_options(void) {
    pd_backend_opts o;
    pd_backend_opts_default(&o);
    pd_error err = {0};
    CHECK_STR(o.step_delimiter, "\n\n");
    CHECK_EQ_INT(pd_backend_opts_set(&o, "step-delimiter", "\\n\\n\\t", &err), 0);
    CHECK_STR(o.step_delimiter, "\n\n\t");
    CHECK_EQ_INT(pd_backend_opts_set(&o, "step-delimiter", "", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "step-delimiter", "\\q", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "threads", "0", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "prm-kind", "skywork", &err), 0);
    CHECK_EQ_INT(o.prm_kind, PD_PRM_SKYWORK);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "prm-kind", "orm", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "no-such-option", "1", &err), PD_ENOTFOUND);
    const char *path = "build/tests/system_prompt.txt";
    CHECK(pd_file_write(path, "Be brief.\n", 10, &err) == 0);
    CHECK_EQ_INT(pd_backend_opts_set(&o, "system-prompt-file", path, &err), 0);
    CHECK_STR(o.system_prompt, "Be brief.\n");
    CHECK(pd_backend_opts_set(&o, "system-prompt-file", "build/tests/nowhere.txt", &err) != 0);
    CHECK(strstr(err.msg, "nowhere.txt") != NULL);
    /* the system prompt is the prompt's system turn: a different one costs other prefix tokens */
    pd_policy pol;
    CHECK_EQ_INT(pd_backend_opts_set(&o, "threads", "1", &err), 0);
    CHECK_MSG(pd_policy_open_opts(&pol, POLICY, &o, &err) == 0, "%s", err.msg);
    pd_problem prob = {(char *)"q", (char *)"1+1?", NULL, NULL, 1};
    pd_tree t;
    pd_tree_init(&t, &prob, 1);
    t.step_max_tokens = 2;
    pd_cost short_cost = {0}, long_cost = {0};
    int32_t out;
    pd_expand_req r = {.tree = &t, .leaf = 0, .k = 1, .cost = &short_cost, .out = &out};
    CHECK(pol.expand(pol.ctx, &r, 1, &err) == 0);
    pd_policy_close(&pol);
    pd_backend_opts_free(&o);
    pd_backend_opts_default(&o);
    CHECK_MSG(pd_policy_open_opts(&pol, POLICY, &o, &err) == 0, "%s", err.msg);
    r.cost = &long_cost;
    r.leaf = 0;
    CHECK(pol.expand(pol.ctx, &r, 1, &err) == 0); /* the root again: its cache is rebuilt */
    CHECK_MSG(long_cost.prefix_tokens > short_cost.prefix_tokens + 100, "%llu vs %llu",
              (unsigned long long)long_cost.prefix_tokens, (unsigned long long)short_cost.prefix_tokens);
    for (int32_t id = t.n_nodes - 1; id >= 0; id--) pol.release(pol.ctx, &t, id);
    pd_tree_free(&t);
    pd_policy_close(&pol);
}

/* The local policy records its confidence per step, the confidence verifiers read it, and a
 * request's confidence floor stops a sample as soon as its window falls below it. */
static void t_confidence(void) {
    pd_backend_opts o;
    opts(&o, "@@@@"); /* never generated: a rollout is one node */
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    if (pd_policy_open_opts(&pol, POLICY, &o, &err) || pd_verifier_open_opts(&ver, "self-certainty", &pol, &o, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    pd_problem prob = {(char *)"q", (char *)"What is 1+2?", NULL, NULL, 1};
    pd_tree t;
    pd_tree_init(&t, &prob, 5);
    t.step_max_tokens = 40;
    pd_cost cost = {0};
    int32_t out[4];
    pd_expand_req r = {.tree = &t, .leaf = 0, .k = 4, .cost = &cost, .out = out, .mode = PD_EXPAND_ROLLOUT,
                       .conf_window = 4};
    CHECK(pol.expand(pol.ctx, &r, 1, &err) == 0);
    for (int i = 0; i < 4; i++) {
        const pd_node *n = &t.nodes[out[i]];
        CHECK_MSG(n->conf > 0 && n->certainty > 0 && n->conf_low > 0 && !n->stopped, "conf %g certainty %g low %g stopped %d",
                  n->conf, n->certainty, n->conf_low, n->stopped);
        pd_score_req q = {.tree = &t, .node = out[i], .cost = &cost};
        CHECK(ver.score(ver.ctx, &q, 1, &err) == 0);
        CHECK(t.nodes[out[i]].reward > 0 && t.nodes[out[i]].reward < 1);
    }
    /* a floor above any confidence stops every sample when its first window fills */
    int32_t out2[2];
    pd_expand_req s2 = {.tree = &t, .leaf = 0, .k = 2, .child_base = 4, .cost = &cost, .out = out2,
                        .mode = PD_EXPAND_ROLLOUT, .conf_window = 4, .conf_stop = 1e9f};
    CHECK(pol.expand(pol.ctx, &s2, 1, &err) == 0);
    for (int i = 0; i < 2; i++) {
        const pd_node *n = &t.nodes[out2[i]];
        CHECK(n->stopped && n->status == PD_NODE_TRUNCATED);
        CHECK_EQ_INT(n->n_tokens, 4);
    }
    for (int32_t id = t.n_nodes - 1; id >= 0; id--) pol.release(pol.ctx, &t, id);
    pd_tree_free(&t);
    /* the deepconf strategy end to end on the engine */
    pd_verifier_close(&ver);
    CHECK(pd_verifier_open_opts(&ver, "deepconf", &pol, &o, &err) == 0);
    pd_search_cfg cfg;
    pd_search_cfg_default(&cfg);
    cfg.strategy = PD_DEEPCONF;
    cfg.n = 8;
    cfg.step_max_tokens = 24;
    cfg.conf_window = 4;
    cfg.deepconf_keep = 0.1f;
    pd_search_result res;
    CHECK_MSG(pd_search_run(&pol, &ver, &prob, &cfg, &res, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n, 8);
    CHECK(res.cost.policy_tokens < 8 * 24); /* some samples stopped early */
    pd_search_result_free(&res);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
}

int main(void) {
    RUN(t_batch_independent);
    RUN(t_cut_and_cache);
    RUN(t_eval_cli);
    RUN(t_options);
    RUN(t_confidence);
    return test_done();
}
