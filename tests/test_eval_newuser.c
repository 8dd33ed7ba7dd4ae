/* test_eval_newuser.c — what a new user hit (issue 11, "tried as a new user would"), one
 * regression test each: a dataset that starts with a UTF-8 byte-order mark, duplicate ids,
 * `--n 4,4`, a table that did not say the backend was simulated, a second run silently
 * overwriting the first, test_chat's use-after-free without ../shared, `make fuzz` compiling
 * the library once per target. (A run killed with -9 and resumed: test_eval_runs.c.) */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_eval_newuser"

static char out[65536];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

static void setup(void) {
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    mkdir(DIR, 0755);
}

static void put(const char *path, const char *text) {
    pd_error err = {0};
    CHECK_EQ_INT(pd_file_write(path, text, strlen(text), &err), 0);
}

/* A byte-order mark before the first line (Windows editors write one) is not an error. */
static void t_bom(void) {
    setup();
    put(DIR "/bom.jsonl", "\xEF\xBB\xBF{\"problem\": \"1+1?\", \"answer\": \"2\", \"unique_id\": \"a\"}\n"
                          "{\"problem\": \"2+2?\", \"answer\": \"4\", \"unique_id\": \"b\"}\n");
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK_EQ_INT(pd_dataset_load(DIR "/bom.jsonl", &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 2);
    CHECK_MSG(ds.n_skipped == 0, "%s", ds.n_skipped ? ds.skipped_msgs[0] : "");
    if (ds.n == 2) CHECK_STR(ds.items[0].id, "a");
    pd_dataset_free(&ds);
    /* a mark anywhere else is still what it is: inside line 2 it makes that line not JSON */
    put(DIR "/bom2.jsonl", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n\xEF\xBB\xBF{\"problem\": \"x\", \"answer\": \"4\"}\n");
    CHECK_EQ_INT(pd_dataset_load(DIR "/bom2.jsonl", &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 1);
    CHECK_EQ_INT(ds.n_skipped, 1);
    pd_dataset_free(&ds);
}

/* Duplicate ids are reported with both line numbers and the repeat is skipped. */
static void t_duplicate_ids(void) {
    setup();
    put(DIR "/dup.jsonl", "{\"problem\": \"1+1?\", \"answer\": \"2\", \"unique_id\": \"x/1\", \"subject\": \"Algebra\"}\n"
                          "{\"problem\": \"2+2?\", \"answer\": \"4\", \"unique_id\": \"x/2\"}\n"
                          "{\"problem\": \"3+3?\", \"answer\": \"6\", \"unique_id\": \"x/1\", \"subject\": \"Geometry\"}\n"
                          "{\"problem\": \"4+4?\", \"answer\": \"8\", \"id\": 7}\n"
                          "{\"problem\": \"5+5?\", \"answer\": \"10\", \"id\": \"7\"}\n");
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK_EQ_INT(pd_dataset_load(DIR "/dup.jsonl", &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 3);
    CHECK_EQ_INT(ds.n_skipped, 2);
    if (ds.n_skipped == 2) {
        CHECK_MSG(strstr(ds.skipped_msgs[0], "dup.jsonl:3:") && strstr(ds.skipped_msgs[0], "duplicate id 'x/1'") &&
                      strstr(ds.skipped_msgs[0], "line 1"),
                  "%s", ds.skipped_msgs[0]);
        CHECK_MSG(strstr(ds.skipped_msgs[1], ":5:") && strstr(ds.skipped_msgs[1], "'7'"), "%s", ds.skipped_msgs[1]);
    }
    /* the first one stays, with its own subject */
    CHECK_STR(pd_dataset_subject(&ds, 0), "Algebra");
    CHECK(pd_dataset_subject(&ds, 1) == NULL && pd_dataset_subject(&ds, 2) == NULL);
    pd_dataset_free(&ds);
    /* and ponder eval says so */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR "/dup && %s eval --policy sim --prm sim --dataset " DIR
             "/dup.jsonl --out " DIR "/dup --quiet", ponder_bin());
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_MSG(strstr(out, "duplicate id 'x/1'"), "%s", out);
}

/* `--n 4,4` is refused (it wrote every row twice), in the CLI and in the library. */
static void t_budget_twice(void) {
    setup();
    put(DIR "/d.jsonl", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --n 4,16,4 --out " DIR
             "/twice --quiet", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "--n: 4 is given twice") && strchr(out, '\n') == out + strlen(out) - 1, "%s", out);
    CHECK(!pd_file_exists(DIR "/twice/results.jsonl"));
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK_EQ_INT(pd_dataset_load(DIR "/d.jsonl", &ds, &err), 0);
    pd_policy pol;
    pd_verifier ver;
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
    pd_eval_opts o;
    pd_eval_opts_default(&o);
    o.ns[0] = o.ns[1] = 4;
    o.n_ns = 2;
    pd_eval_report rep;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "N = 4 is given twice"), "%s", err.msg);
    o.n_ns = 1;
    o.seeds[0] = o.seeds[1] = 3;
    o.n_seeds = 2;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "seed 3 is given twice"), "%s", err.msg);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
}

/* The table and the summary say that the backend is simulated. */
static void t_backend_named(void) {
    setup();
    put(DIR "/d.jsonl", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR "/named && %s eval --policy sim --prm sim --dataset " DIR
             "/d.jsonl --out " DIR "/named", ponder_bin());
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_MSG(strstr(out, "policy: sim (simulated backend), PRM: sim (simulated backend)"), "%s", out);
    json_error_t je;
    json_t *s = json_load_file(DIR "/named/summary.json", 0, &je);
    CHECK(s != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(s, "backend"), "policy")), "sim");
    CHECK_STR(json_string_value(json_object_get(json_object_get(s, "backend"), "prm")), "sim");
    json_decref(s);
    CHECK_STR(pd_eval_backend_kind("http://gpu:8000/v1"), "remote");
    CHECK_STR(pd_eval_backend_kind("logprob+http://gpu:8000/v1#RLHFlow/x"), "remote");
    CHECK_STR(pd_eval_backend_kind("Qwen/Qwen2.5-0.5B-Instruct"), "local");
    CHECK_STR(pd_eval_backend_kind("sim"), "sim");
}

/* A second run into the same --out is refused and leaves the first run as it was;
 * --overwrite replaces it. */
static void t_no_silent_overwrite(void) {
    setup();
    put(DIR "/d.jsonl", "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n{\"problem\": \"2+1?\", \"answer\": \"3\"}\n");
    char cmd[2048], *first = NULL, *after = NULL;
    size_t n1 = 0, n2 = 0;
    pd_error err = {0};
    snprintf(cmd, sizeof cmd, "rm -rf " DIR "/once && %s eval --policy sim --prm sim --dataset " DIR
             "/d.jsonl --n 4 --out " DIR "/once --quiet", ponder_bin());
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_EQ_INT(pd_file_read(DIR "/once/results.jsonl", &first, &n1, &err), 0);
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --n 16 --out " DIR
             "/once --quiet", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "not empty") && strstr(out, "--resume") && strstr(out, "--overwrite"), "%s", out);
    CHECK_EQ_INT(pd_file_read(DIR "/once/results.jsonl", &after, &n2, &err), 0);
    CHECK(first && after && n1 == n2 && !memcmp(first, after, n1));
    free(after);
    after = NULL;
    /* a directory with other files in it is not written into either */
    mkdir(DIR "/other", 0755);
    put(DIR "/other/notes.txt", "mine\n");
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --out " DIR "/other --quiet",
             ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK(!pd_file_exists(DIR "/other/results.jsonl"));
    /* --overwrite: the new run's results */
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/d.jsonl --n 16 --out " DIR
             "/once --overwrite --quiet", ponder_bin());
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_EQ_INT(pd_file_read(DIR "/once/results.jsonl", &after, &n2, &err), 0);
    CHECK(after && strstr(after, "\"n\":16") && !strstr(after, "\"n\":4,"));
    free(first);
    free(after);
}

/* make asan-test on a clone without ../shared: test_chat's skip message read freed memory. */
static void t_chat_without_shared(void) {
    char bin[1024], cmd[2048];
    snprintf(bin, sizeof bin, "%s", ponder_bin());
    char *slash = strrchr(bin, '/');
    snprintf(slash ? slash + 1 : bin, sizeof bin - (size_t)(slash ? slash + 1 - bin : 0), "tests/test_chat");
    if (!pd_file_exists(bin)) SKIP("%s is not built", bin);
    snprintf(cmd, sizeof cmd, "PONDER_SHARED=/nonexistent/shared %s", bin);
    int rc = run(cmd);
    CHECK_MSG(rc == 0, "exit %d: %.2000s", rc, out);
    CHECK_MSG(strstr(out, "RESULT ") && strstr(out, "shared tokenizer"), "%.2000s", out);
    CHECK_MSG(!strstr(out, "AddressSanitizer"), "%.2000s", out);
}

/* `make fuzz` compiles each library source once (into one instrumented library), not once
 * per fuzz target. Asked of make with -n: nothing is built. */
static void t_fuzz_builds_library_once(void) {
    int rc = run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -B BUILD=build/tmp/fuzz-plan fuzz");
    CHECK_MSG(rc == 0, "%.2000s", out);
    int compiles = 0, links = 0, multi = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "clang")) continue;
        int srcs = 0;
        for (char *p = line; (p = strstr(p, " src/")); p++) srcs++;
        if (strstr(line, " -c ")) compiles++;
        else links++;
        if (srcs > 1) multi++;
        if (!strstr(line, " -c ")) CHECK_MSG(srcs == 0, "a fuzz target compiles library sources: %.300s", line);
    }
    CHECK_EQ_INT(multi, 0);
    CHECK(links >= 10);
    /* every library source exactly once */
    int n_src = 0;
    FILE *p = popen("ls src/*/*.c | grep -v '^src/cli/' | wc -l", "r");
    if (p) {
        if (fscanf(p, "%d", &n_src) != 1) n_src = -1;
        pclose(p);
    }
    CHECK_EQ_INT(compiles, n_src);
}

int main(void) {
    RUN(t_bom);
    RUN(t_duplicate_ids);
    RUN(t_budget_twice);
    RUN(t_backend_named);
    RUN(t_no_silent_overwrite);
    RUN(t_chat_without_shared);
    RUN(t_fuzz_builds_library_once);
    return test_done();
}
