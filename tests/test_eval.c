/* test_eval.c — the eval runner: results.jsonl (one line per problem x strategy x N, in job
 * order, with completions, predictions at every k, correctness and cost) and summary.json
 * (accuracy consistent with the lines, skipped dataset lines counted). */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <math.h>

#define DIR "build/tmp/test_eval"

static const char *DATA =
    "{\"problem\": \"Compute 1+1.\", \"answer\": \"2\", \"level\": 1, \"unique_id\": \"a\"}\n"
    "{\"problem\": \"Compute 2+5.\", \"answer\": \"7\", \"level\": 2, \"unique_id\": \"b\"}\n"
    "this line is not JSON\n"
    "{\"question\": \"Tom has 3 apples and buys 4.\", \"answer\": \"He has 3+4=7\\n#### 7\", \"id\": \"c\"}\n"
    "{\"problem\": \"Compute 9*9.\", \"answer\": \"81\", \"level\": \"Level 5\", \"unique_id\": \"d\",\n"
    "{\"problem\": \"Compute 6*7.\", \"answer\": \"42\", \"level\": 4, \"unique_id\": \"e\", "
    "\"solution\": \"$6 \\\\times 7 = 42$.\\n\\nSo the answer is $\\\\boxed{42}$.\"}\n"
    "{\"answer\": \"3\"}\n"
    "{\"problem\": \"Compute 10-7.\", \"answer\": \"3\", \"level\": 3, \"unique_id\": \"f\"}\n";

static int load(pd_dataset *ds) {
    pd_error err = {0};
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    mkdir(DIR, 0755);
    if (pd_file_write(DIR "/data.jsonl", DATA, strlen(DATA), &err)) return -1;
    memset(ds, 0, sizeof *ds);
    return pd_dataset_load(DIR "/data.jsonl", ds, &err);
}

static void t_eval_files(void) {
    pd_dataset ds;
    CHECK_EQ_INT(load(&ds), 0);
    CHECK_EQ_INT(ds.n, 5);
    CHECK_EQ_INT(ds.n_skipped, 3);
    pd_error err = {0};
    pd_policy pol;
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.strategies[0] = PD_BEST_OF_N;
    o.strategies[1] = PD_BEAM_SEARCH;
    o.strategies[2] = PD_DVTS;
    o.n_strategies = 3;
    o.ns[0] = 4;
    o.ns[1] = 8;
    o.n_ns = 2;
    o.base.seed = 5;
    o.out_dir = DIR "/run";
    o.dataset = DIR "/data.jsonl";
    pd_eval_report rep;
    remove(DIR "/run/results.jsonl");
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    CHECK_EQ_INT(rep.n_cells, 6);
    CHECK_EQ_INT(rep.n_skipped, 3);

    /* results.jsonl: 5 problems x 3 strategies x 2 budgets, each once (in completion order) */
    FILE *f = fopen(DIR "/run/results.jsonl", "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int nl = 0;
    uint32_t correct[6][3] = {{0}};
    int seen[6][5] = {{0}};
    const char *ids = "abcef";
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *o2 = json_loads(line, 0, &je);
        CHECK_MSG(o2 != NULL, "line %d: %s", nl + 1, je.text);
        if (!o2) break;
        const char *strat = json_string_value(json_object_get(o2, "strategy"));
        int n = (int)json_integer_value(json_object_get(o2, "n"));
        int cell = -1, pi = -1;
        for (int c = 0; c < 6; c++)
            if (strat && !strcmp(strat, pd_strategy_name(rep.cells[c].strategy)) && n == rep.cells[c].n) cell = c;
        const char *id = json_string_value(json_object_get(o2, "id"));
        for (int k = 0; k < 5 && id; k++)
            if (id[0] == ids[k] && !id[1]) pi = k;
        CHECK_MSG(cell >= 0 && pi >= 0, "line %d: %s %d %s", nl + 1, strat, n, id);
        if (cell < 0 || pi < 0) break;
        CHECK_MSG(!seen[cell][pi], "line %d: a second result for %s %d %s", nl + 1, strat, n, id);
        seen[cell][pi] = 1;
        CHECK_EQ_INT(json_integer_value(json_object_get(o2, "seed")), 5);
        json_t *comps = json_object_get(o2, "completions");
        int expect = !strcmp(strat, "dvts") ? n / 4 : n;
        CHECK_EQ_INT(json_array_size(comps), expect);
        json_t *c0 = json_array_get(comps, 0);
        CHECK(json_is_string(json_object_get(c0, "text")));
        CHECK(json_is_array(json_object_get(c0, "step_rewards")));
        CHECK(json_is_number(json_object_get(c0, "score")));
        CHECK(json_object_get(c0, "answer") != NULL);
        CHECK(json_is_boolean(json_object_get(c0, "correct")));
        for (int k = 1; k <= n; k *= 2) {
            char key[48];
            for (int s = 0; s < 3; s++) {
                snprintf(key, sizeof key, "pred_%s@%d", pd_select_name((pd_select)s), k);
                CHECK_MSG(json_object_get(o2, key) != NULL, "%s", key);
                snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)s), k);
                CHECK_MSG(json_is_boolean(json_object_get(o2, key)), "%s", key);
                if (k == n) correct[cell][s] += json_is_true(json_object_get(o2, key));
            }
        }
        json_t *cost = json_object_get(o2, "cost");
        CHECK(json_integer_value(json_object_get(cost, "policy_tokens")) > 0);
        CHECK(json_integer_value(json_object_get(cost, "prefix_tokens")) > 0);
        CHECK(json_integer_value(json_object_get(cost, "prm_tokens")) > 0);
        CHECK(json_real_value(json_object_get(cost, "policy_flops")) > 0);
        /* the GSM8K line: answer after ####, no level */
        if (pi == 2) {
            CHECK_STR(json_string_value(json_object_get(o2, "gold")), "7");
            CHECK_EQ_INT(json_integer_value(json_object_get(o2, "level")), 0);
        }
        json_decref(o2);
        nl++;
    }
    free(line);
    fclose(f);
    CHECK_EQ_INT(nl, 30);

    /* summary.json agrees with the lines and counts the skipped ones */
    json_error_t je;
    json_t *s = json_load_file(DIR "/run/summary.json", 0, &je);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(json_integer_value(json_object_get(s, "skipped_lines")), 3);
        CHECK_EQ_INT(json_array_size(json_object_get(s, "skipped")), 3);
        CHECK(strstr(json_string_value(json_array_get(json_object_get(s, "skipped"), 0)), ":3:") != NULL);
        CHECK_EQ_INT(json_integer_value(json_object_get(s, "problems")), 5);
        json_t *res = json_object_get(s, "results");
        CHECK_EQ_INT(json_array_size(res), 6);
        for (int c = 0; c < 6; c++) {
            json_t *jc = json_array_get(res, (size_t)c);
            for (int sel = 0; sel < 3; sel++) {
                double a = json_real_value(json_object_get(json_object_get(jc, "accuracy"),
                                                           pd_select_name((pd_select)sel)));
                CHECK_MSG(fabs(a - correct[c][sel] / 5.0) < 1e-9, "cell %d sel %d: %g vs %u/5", c, sel,
                          a, correct[c][sel]);
                CHECK_EQ_INT(rep.cells[c].correct[sel][rep.cells[c].n_k - 1], correct[c][sel]);
            }
            json_t *pl = json_object_get(jc, "per_level");
            CHECK(json_object_get(pl, "0") && json_object_get(pl, "4") && !json_object_get(pl, "5"));
            CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(pl, "1"), "problems")), 1);
            CHECK(json_is_object(json_object_get(json_object_get(jc, "accuracy_at_k"), "maj")));
            CHECK(json_real_value(json_object_get(json_object_get(jc, "cost_per_problem"), "policy_tokens")) > 0);
        }
        json_decref(s);
    }
    pd_eval_report_free(&rep);

    /* --limit, and a configuration error before any work */
    o.limit = 2;
    o.out_dir = NULL;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    CHECK_EQ_INT(rep.n_problems, 2);
    CHECK_EQ_INT(rep.cells[0].problems, 2);
    pd_eval_report_free(&rep);
    o.ns[1] = 6;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK(strstr(err.msg, "divisible") != NULL);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
}

/* 'sim' opens; a missing model directory is named; a remote one without its model says so. */
static void t_backend_specs(void) {
    pd_policy pol;
    pd_verifier ver;
    pd_error err = {0};
    CHECK_EQ_INT(pd_policy_open(&pol, "models/qwen", NULL, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "models/qwen") != NULL, "%s", err.msg);
    CHECK(pd_policy_open(&pol, "http://localhost:8000/v1", NULL, &err) != 0);
    CHECK_MSG(strstr(err.msg, "remote") != NULL, "%s", err.msg);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", NULL, NULL, &err), PD_EINVAL);
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    CHECK_EQ_INT(pd_sim_params_set(&sp, "prm-noise", "0.5", &err), 0);
    CHECK(sp.prm_noise == 0.5);
    CHECK_EQ_INT(pd_sim_params_set(&sp, "policy-acc", "1.5", &err), PD_EINVAL);
    /* a rejected value leaves the parameters as they were: later settings still work */
    CHECK(sp.policy_acc == 0.95);
    CHECK_EQ_INT(pd_sim_params_set(&sp, "prm-sep", "2", &err), 0);
    CHECK(sp.prm_sep == 2.0);
    CHECK_EQ_INT(pd_sim_params_check(&sp, &err), 0);
    CHECK_EQ_INT(pd_sim_params_set(&sp, "step-tokens", "2.5", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_sim_params_set(&sp, "bogus", "1", &err), PD_ENOTFOUND);
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    CHECK_EQ_INT(pd_search_cfg_set(&c, "agg", "min", &err), 0);
    CHECK_EQ_INT(c.agg, PD_AGG_MIN);
    CHECK_EQ_INT(pd_search_cfg_set(&c, "agg", "max", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_search_cfg_set(&c, "beam-width", "0", &err), PD_EINVAL);
    CHECK_EQ_INT(pd_search_cfg_set(&c, "top-p", "0.9", &err), 0);
    CHECK(fabs(c.top_p - 0.9) < 1e-6);
    CHECK_EQ_INT(pd_search_cfg_set(&c, "nope", "1", &err), PD_ENOTFOUND);
}

/* A backend failure mid-run stops the run with the backend's message; nothing leaks. */
typedef struct {
    pd_policy inner;
    int calls, fail_at;
} failing;

static int fail_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    failing *f = ctx;
    if (++f->calls == f->fail_at) return pd_err_set(err, PD_ENET, "backend went away");
    return f->inner.expand(f->inner.ctx, r, n, err);
}

static void t_backend_failure(void) {
    pd_dataset ds;
    CHECK_EQ_INT(load(&ds), 0);
    pd_error err = {0};
    failing f = {.fail_at = 3};
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&f.inner, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &f.inner, NULL, &err), 0);
    pd_policy pol = {"failing", 1e9, &f, fail_expand, NULL, NULL};
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.strategies[0] = PD_BEAM_SEARCH;
    o.ns[0] = 8;
    o.out_dir = DIR "/fail";
    pd_eval_report rep;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_ENET);
    CHECK_STR(err.msg, "backend went away");
    CHECK(rep.cells == NULL);
    pd_verifier_close(&ver);
    pd_policy_close(&f.inner);
    pd_dataset_free(&ds);
}

/* summary.json keeps every string even when it is not valid UTF-8 (a dataset path in
 * Latin-1): the dataset is named and each skipped line listed. */
static void t_summary_non_utf8(void) {
    pd_dataset ds;
    CHECK_EQ_INT(load(&ds), 0);
    pd_dataset_free(&ds);
    const char *path = DIR "/caf\xe9.jsonl";
    pd_error err = {0};
    CHECK_EQ_INT(pd_file_write(path, DATA, strlen(DATA), &err), 0);
    memset(&ds, 0, sizeof ds);
    CHECK_EQ_INT(pd_dataset_load(path, &ds, &err), 0);
    CHECK_EQ_INT(ds.n_skipped, 3);
    pd_policy pol;
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.dataset = path;
    o.out_dir = DIR "/latin1";
    pd_eval_report rep;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    pd_eval_report_free(&rep);
    json_error_t je;
    json_t *s = json_load_file(DIR "/latin1/summary.json", 0, &je);
    CHECK(s != NULL);
    if (s) {
        CHECK(json_is_string(json_object_get(s, "dataset")));
        CHECK_EQ_INT(json_integer_value(json_object_get(s, "skipped_lines")), 3);
        CHECK_EQ_INT(json_array_size(json_object_get(s, "skipped")), 3);
        json_decref(s);
    }
    remove(path);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
}

int main(void) {
    RUN(t_eval_files);
    RUN(t_summary_non_utf8);
    RUN(t_backend_failure);
    RUN(t_backend_specs);
    return test_done();
}
