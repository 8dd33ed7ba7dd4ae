/* fuzz_eval_run.c — libFuzzer target for reading a run directory back (src/eval/run.c):
 * config.json, results.jsonl and timing.jsonl as `ponder summarize`, `merge`, `plan` and
 * `eval --resume DIR` read them. The input's first line is config.json; the rest is both
 * results.jsonl and timing.jsonl (often ending in a torn line). */
#include "ponder/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_eval_run.%d", (int)getpid());
        mkdir(dir, 0755);
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    put("config.json", data, first);
    put("results.jsonl", nl ? nl + 1 : data, nl ? size - first - 1 : 0);
    put("timing.jsonl", nl ? nl + 1 : data, nl ? size - first - 1 : 0);
    pd_error err = {0};
    pd_eval_report rep;
    if (pd_eval_summarize(dir, &rep, &err) == 0) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            pd_eval_print_table(&rep, 1, devnull);
            fclose(devnull);
        }
        pd_eval_report_free(&rep);
    }
    pd_eval_saved s;
    if (pd_eval_saved_load(dir, &s, &err) == 0) pd_eval_saved_free(&s);
    pd_plan_opts po;
    pd_plan_opts_default(&po);
    pd_plan_result pr;
    const char *dirs[1] = {dir};
    if (pd_plan_make(dirs, 1, &po, NULL, &pr, &err) == 0) pd_plan_result_free(&pr);
    return 0;
}
