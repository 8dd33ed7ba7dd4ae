/* test_recipe.c — YAML recipes (`--config FILE`, src/eval/recipe.c): search-and-learn's keys
 * become the commands' options with their values checked; errors name the file, the line and
 * the key; on the command line a flag overrides the recipe; eval records the recipe's dataset
 * range so that a resume takes the same problems. */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_recipe"

static char out[65536];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

static const char *opt(const pd_recipe *r, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->opts[i].name, name)) return r->opts[i].value;
    return NULL;
}

static void t_keys(void) {
    const char *y = "# a search-and-learn recipe\n"
                    "approach: beam_search\n"
                    "n: 16\n"
                    "beam_width: 4\n"
                    "num_iterations: 40\n"
                    "lookahead: 1\n"
                    "temperature: 0.8\n"
                    "top_p: 1.0\n"
                    "max_tokens: 2048\n"
                    "agg_strategy: prod\n"
                    "seed: 7\n"
                    "system_prompt: |\n"
                    "  Solve it.\n"
                    "  Step by step.\n"
                    "model_path: meta-llama/Llama-3.2-1B-Instruct\n"
                    "prm_path: RLHFlow/Llama3.1-8B-PRM-Deepseek-Data\n"
                    "dataset_name: HuggingFaceH4/MATH-500\n"
                    "dataset_split: test\n"
                    "dataset_start: 0\n"
                    "dataset_end: 500\n"
                    "filter_duplicates: false\n"
                    "sort_completed: true\n"
                    "output_dir: ~\n";
    pd_recipe r;
    pd_error err = {0};
    CHECK_MSG(pd_recipe_parse("r.yaml", y, strlen(y), &r, &err) == 0, "%s", err.msg);
    CHECK_STR(opt(&r, "strategy"), "beam_search");
    CHECK_STR(opt(&r, "n"), "16");
    CHECK_STR(opt(&r, "beam-width"), "4");
    CHECK_STR(opt(&r, "iterations"), "40");
    CHECK_STR(opt(&r, "lookahead"), "1");
    CHECK_STR(opt(&r, "temperature"), "0.8");
    CHECK_STR(opt(&r, "top-p"), "1.0");
    CHECK_STR(opt(&r, "max-step-tokens"), "2048");
    CHECK_STR(opt(&r, "agg"), "prod");
    CHECK_STR(opt(&r, "seed"), "7");
    CHECK_STR(opt(&r, "system-prompt"), "Solve it.\nStep by step.\n");
    CHECK_STR(opt(&r, "policy"), "meta-llama/Llama-3.2-1B-Instruct");
    CHECK_STR(opt(&r, "prm"), "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data");
    CHECK_STR(opt(&r, "dataset"), "HuggingFaceH4/MATH-500");
    CHECK_STR(opt(&r, "dataset-split"), "test");
    CHECK_STR(opt(&r, "dataset-start"), "0");
    CHECK_STR(opt(&r, "dataset-end"), "500");
    CHECK(opt(&r, "out") == NULL); /* null: the default */
    CHECK_EQ_INT(r.n, 17);         /* filter_duplicates and sort_completed give no option */
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.opts[i].name, "beam-width")) CHECK_EQ_INT(r.opts[i].line, 4);
    pd_recipe_free(&r);
    /* ponder's names, lists */
    const char *y2 = "strategy: [best_of_n, dvts]\nn:\n  - 4\n  - 16\nseeds: [0, 1]\nbeam-width: 2\nplan: p.json\n";
    CHECK_MSG(pd_recipe_parse("r2.yaml", y2, strlen(y2), &r, &err) == 0, "%s", err.msg);
    CHECK_STR(opt(&r, "strategy"), "best_of_n,dvts");
    CHECK_STR(opt(&r, "n"), "4,16");
    CHECK_STR(opt(&r, "seeds"), "0,1");
    CHECK_STR(opt(&r, "beam-width"), "2");
    CHECK_STR(opt(&r, "plan"), "p.json");
    pd_recipe_free(&r);
}

static void t_errors(void) {
    static const char *cases[][2] = {
        {"approach: beam_search\nbogus_key: 1\n", "bad.yaml:2: unknown key 'bogus_key'"},
        {"approach: greedy_search\n", "bad.yaml:1: approach: 'greedy_search' is not a strategy"},
        {"n: 4\nbeam_width: four\n", "bad.yaml:2: beam_width: 'four' is not an integer"},
        {"n: [4, 0]\n", "bad.yaml:1: n: '0' is not an integer in 1..1048576"},
        {"top_p: 1.5\n", "bad.yaml:1: top_p: '1.5' is not a number"},
        {"agg_strategy: median\n", "bad.yaml:1: agg_strategy: 'median' is not last, min, prod or mean"},
        {"beam_width: 4\nbeam-width: 8\n", "bad.yaml:2: beam-width: given twice (first as 'beam_width' on line 1)"},
        {"approach: dvts\nstrategy: dvts\n", "bad.yaml:2: strategy: given twice"},
        {"temperature: [0.8]\n", "bad.yaml:1: temperature: a single value is expected"},
        {"model_path:\n  name: x\n", "bad.yaml:2: model_path: a single value is expected"},
        {"filter_duplicates: true\n", "bad.yaml:1: filter_duplicates: true is not supported"},
        {"sort_completed: maybe\n", "bad.yaml:1: sort_completed: 'maybe' is not true or false"},
        {"- approach\n- n\n", "bad.yaml:1: a recipe is a mapping"},
        {"", "bad.yaml: empty"},
        {"n: 4\n  x: [\n", "bad.yaml:2: not YAML"},
        {"n: \"4\\0\"\n", "bad.yaml:1: n: holds a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pd_recipe r;
        pd_error err = {0};
        int rc = pd_recipe_parse("bad.yaml", cases[i][0], strlen(cases[i][0]), &r, &err);
        CHECK_MSG(rc == PD_EFORMAT, "case %zu: rc %d", i, rc);
        CHECK_MSG(strstr(err.msg, cases[i][1]) != NULL, "case %zu: '%s' does not say '%s'", i, err.msg, cases[i][1]);
        if (!rc) pd_recipe_free(&r);
    }
    pd_recipe r;
    pd_error err = {0};
    CHECK_EQ_INT(pd_recipe_load(DIR "/missing.yaml", &r, &err), PD_EIO);
    CHECK(strstr(err.msg, DIR "/missing.yaml") != NULL);
}

static void t_cli(void) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf " DIR " && mkdir -p " DIR " && %s data arith --n 30 --out " DIR "/d.jsonl",
             ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    FILE *f = fopen(DIR "/r.yaml", "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("approach: beam_search\nn: 8\nbeam_width: 2\nmodel_path: sim\nprm_path: sim\n"
          "dataset_name: " DIR "/d.jsonl\ndataset_split: test\ndataset_start: 5\ndataset_end: 15\n"
          "output_dir: " DIR "/run\nfilter_duplicates: false\n", f);
    fclose(f);
    /* the command line overrides the recipe's n */
    snprintf(cmd, sizeof cmd, "%s eval --config " DIR "/r.yaml --n 4 --quiet", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    json_t *c = json_load_file(DIR "/run/config.json", 0, NULL);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_STR(json_string_value(json_array_get(json_object_get(c, "strategies"), 0)), "beam_search");
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(c, "n"), 0)), 4);
    CHECK_EQ_INT(json_array_size(json_object_get(c, "n")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(c, "search"), "beam_width")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "dataset_problems")), 10);
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "dataset_start")), 5);
    json_decref(c);
    /* problems 5..14 of the file: the ids are the file's */
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK(pd_dataset_load(DIR "/d.jsonl", &ds, &err) == 0);
    f = fopen(DIR "/run/results.jsonl", "r");
    CHECK(f != NULL);
    char line[1 << 16];
    int lines = 0, in_range = 0;
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        for (size_t i = 5; id && i < 15 && i < ds.n; i++) in_range += !strcmp(ds.items[i].id, id);
        lines++;
        json_decref(j);
    }
    if (f) fclose(f);
    CHECK_EQ_INT(lines, 10);
    CHECK_EQ_INT(in_range, 10);
    pd_dataset_free(&ds);
    /* a resume takes the same problems from config.json alone */
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/run --quiet", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    /* solve: the recipe's search keys; dataset keys are eval's */
    f = fopen(DIR "/s.yaml", "w");
    if (!f) return;
    fputs("approach: best_of_n\nn: 4\nmodel_path: sim\nprm_path: sim\nseed: 3\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s solve --config " DIR "/s.yaml --n 2 --answer 12 'What is 3*4?'", ponder_bin());
    CHECK_MSG(run(cmd) == 0, "%s", out);
    CHECK_MSG(strstr(out, "best_of_n N=2"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s solve --config " DIR "/r.yaml --answer 12 'What is 3*4?'", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, DIR "/r.yaml:6: dataset_name: is for ponder eval"), "%s", out);
    f = fopen(DIR "/b.yaml", "w");
    if (!f) return;
    fputs("approach: beam_search\nn: 8\nnum_iterations: lots\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s eval --config " DIR "/b.yaml --quiet", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "ponder eval: " DIR "/b.yaml:3: num_iterations: 'lots' is not an integer"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --config " DIR "/nope.yaml --quiet", ponder_bin());
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, DIR "/nope.yaml: cannot read"), "%s", out);
}

int main(void) {
    RUN(t_keys);
    RUN(t_errors);
    RUN(t_cli);
    return test_done();
}
