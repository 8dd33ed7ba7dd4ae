/* test_cli_search.c — `ponder eval`, `ponder solve` and `ponder demo` as a user runs them:
 * exit statuses, one-line errors, files written. Uses the ponder binary of the same build
 * directory as this test (build/ or build-asan/). */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_cli_search"

static char ponder[1024];

static char out[65536];

static void write_data(void) {
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    mkdir(DIR, 0755);
    pd_dataset ds = {0};
    pd_error err = {0};
    for (int i = 0; i < 12; i++) {
        char id[16], ans[16];
        snprintf(id, sizeof id, "p%d", i);
        snprintf(ans, sizeof ans, "%d", 3 * i + 1);
        pd_dataset_add(&ds, id, "Compute something.", ans, NULL, 1 + i % 5);
    }
    FILE *f = fopen(DIR "/data.jsonl", "w");
    pd_dataset_write_jsonl(&ds, f, &err);
    fputs("{broken\n", f);
    fclose(f);
    pd_dataset_free(&ds);
}

static void t_eval_cli(void) {
    write_data();
    char cmd[2048];
    CHECK(system("rm -rf " DIR "/run") == 0); /* eval refuses to write over an earlier run */
    snprintf(cmd, sizeof cmd,
             "%s eval --policy sim --prm sim --dataset " DIR "/data.jsonl --strategy best_of_n,beam_search,dvts "
             "--n 4,16 --beam-width 4 --seed 3 --limit 10 --sim-prm-noise 0.5 --quiet --out " DIR "/run",
             ponder);
    int rc = run_capture(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_MSG(strstr(out, "data.jsonl:13") != NULL, "the skipped line is reported: %s", out);
    json_error_t je;
    json_t *s = json_load_file(DIR "/run/summary.json", 0, &je);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(json_integer_value(json_object_get(s, "problems")), 10);
        CHECK_EQ_INT(json_integer_value(json_object_get(s, "skipped_lines")), 1);
        CHECK_EQ_INT(json_array_size(json_object_get(s, "results")), 6);
        CHECK(json_real_value(json_object_get(json_object_get(s, "sim"), "prm_noise")) == 0.5);
        json_decref(s);
    }
    char *data = NULL;
    size_t len = 0;
    pd_error err = {0};
    CHECK_EQ_INT(pd_file_read(DIR "/run/results.jsonl", &data, &len, &err), 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    CHECK_EQ_INT(lines, 10 * 3 * 2);
    free(data);
}

static void t_eval_cli_errors(void) {
    write_data();
    char cmd[2048];
    const char *bad[][2] = {
        {"--strategy mcts", "mcts"},
        {"--strategy beam_search --n 6", "not divisible"},
        {"--strategy dvts --n 2 --beam-width 4", "beam width"},
        {"--bogus 1", "unknown option '--bogus'"},
        {"--sim-bogus 1", "unknown option '--sim-bogus'"},
        {"--sim-prm-noise -1", "noise"},
        {"--n 0", "--n"},
        {"--lookahead 2", "lookahead"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s eval --policy sim --prm sim --dataset " DIR "/data.jsonl --quiet --out " DIR "/bad %s",
                 ponder, bad[i][0]);
        int rc = run_capture(cmd, out, sizeof out);
        CHECK_MSG(rc != 0, "%s should fail", bad[i][0]);
        CHECK_MSG(strstr(out, bad[i][1]) != NULL, "%s: %s", bad[i][0], out);
        CHECK_MSG(strncmp(out, "ponder eval: ", 13) == 0, "%s", out);
        CHECK_MSG(strchr(out, '\n') == out + strlen(out) - 1, "one line: %s", out);
    }
    snprintf(cmd, sizeof cmd, "%s eval --policy ./models/x --prm sim --dataset " DIR "/data.jsonl --out " DIR "/bad", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "./models/x") != NULL && strstr(out, "no such directory") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm http://h:1/v1 --dataset " DIR "/data.jsonl --out " DIR "/bad", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "remote") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/missing.jsonl --out " DIR "/bad", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "missing.jsonl") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --help", ponder);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "--sim-prm-noise") && strstr(out, "--beam-width") && strstr(out, "--lookahead"));
}

static void t_solve_cli(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s solve --policy sim --prm sim --strategy beam_search --n 8 --answer 42 --level 2 "
             "--sim-policy-acc 1 \"What is 6 times 7?\"", ponder);
    int rc = run_capture(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_MSG(!strncmp(out, "42\n", 3), "%s", out); /* a perfect policy finds the answer */
    CHECK(strstr(out, "beam_search N=8 M=4") != NULL);
    CHECK(strstr(out, "cost:") != NULL);
    snprintf(cmd, sizeof cmd, "%s solve --policy sim --prm sim \"What is 6 times 7?\"", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "--answer") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s solve --policy sim --prm sim --strategy dvts --n 5 --answer 1 x", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "not divisible") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s solve --help", ponder);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
}

static void t_demo_cli(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s demo --sim --problems 40 --n 4,16 --out " DIR "/demo", ponder);
    int rc = run_capture(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK(strstr(out, "SIMULATED") != NULL);
    CHECK(strstr(out, "beam_search") && strstr(out, "dvts") && strstr(out, "best_of_n"));
    CHECK(strstr(out, DIR "/demo") != NULL);
    CHECK(pd_file_exists(DIR "/demo/summary.json"));
    CHECK(pd_file_exists(DIR "/demo/problems.jsonl"));
}

/* The real demo's pipeline, on stand-in models (the PRM fixtures: random weights, so the
 * numbers mean nothing; the rows, files and findings are what is checked). */
static void t_demo_models_cli(void) {
    char cmd[4096], cwd[512];
    if (!getcwd(cwd, sizeof cwd)) return;
    snprintf(cmd, sizeof cmd,
             "rm -rf " DIR "/models && mkdir -p " DIR "/models && ln -s %s/tests/fixtures/prm/rlhflow " DIR
             "/models/arith-small && ln -s %s/tests/fixtures/prm/rlhflow " DIR "/models/arith-large && ln -s "
             "%s/tests/fixtures/prm/qwen2-prm " DIR "/models/arith-prm",
             cwd, cwd, cwd);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s demo --problems 4 --n 1,4 --iterations 3 --max-step-tokens 12 --models " DIR
             "/models --out " DIR "/demo2", ponder);
    int rc = run_capture(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK(strstr(out, "arith-large") && strstr(out, "greedy") && strstr(out, "beam_search") && strstr(out, "dvts"));
    CHECK(strstr(out, "what this run shows") != NULL);
    char *js = NULL;
    size_t len = 0;
    pd_error err = {0};
    CHECK(pd_file_read(DIR "/demo2/summary.json", &js, &len, &err) == 0);
    CHECK(js && strstr(js, "\"flops_per_problem\"") && strstr(js, "\"level\": \"all\"") && strstr(js, "\"wall_s\""));
    CHECK(js && strstr(js, "\"selection\": \"maj\"") && strstr(js, "\"selection\": \"weighted\""));
    free(js);
    CHECK(pd_file_read(DIR "/demo2/report.html", &js, &len, &err) == 0);
    CHECK(js && strstr(js, "<svg") && strstr(js, "<polyline") && strstr(js, "arith-small"));
    free(js);
    CHECK(pd_file_read(DIR "/demo2/problems.jsonl", &js, &len, &err) == 0); /* sums by default */
    CHECK(js && strstr(js, "add up to") && !strstr(js, "Compute"));
    free(js);
    /* --task arith: the problems written and searched are expressions (sums is the default) */
    snprintf(cmd, sizeof cmd, "%s demo --task arith --problems 3 --n 1 --iterations 2 --max-step-tokens 8 --models " DIR
             "/models --out " DIR "/demo4", ponder);
    rc = run_capture(cmd, out, sizeof out);
    CHECK_MSG(rc == 0 && strstr(out, "arithmetic problems"), "%s", out);
    CHECK(pd_file_read(DIR "/demo4/problems.jsonl", &js, &len, &err) == 0);
    CHECK(js && strstr(js, "Compute") && !strstr(js, "add up to"));
    free(js);
    snprintf(cmd, sizeof cmd, "%s demo --task words --models " DIR "/models --out " DIR "/demo5", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "words") && strstr(out, "sums"), "%s", out);
    /* without models it says where it looked and what to do */
    snprintf(cmd, sizeof cmd, "%s demo --models " DIR "/nowhere --out " DIR "/demo3", ponder);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "--sim") && strstr(out, "nowhere"), "%s", out);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    snprintf(ponder, sizeof ponder, "%s", ponder_bin());
    if (!pd_file_exists(ponder)) printf("FAIL: %s is not built (the tests below need it)\n", ponder);
    RUN(t_eval_cli);
    RUN(t_eval_cli_errors);
    RUN(t_solve_cli);
    RUN(t_demo_cli);
    RUN(t_demo_models_cli);
    return test_done();
}
