/* test_hf_dataset.c — `--dataset ORG/NAME`: a Hugging Face dataset id resolved in a hand-made
 * Hugging Face cache (datasets--ORG--NAME/refs, snapshots; HF_HUB_CACHE points at it): the
 * split's JSONL file in each layout datasets use, a revision by ref or commit, parquet refused
 * with the conversion, shards refused with the command that joins them, JSON after JSONL, a
 * dataset not in the cache refused saying how to fetch it (HF_HUB_OFFLINE: downloads are
 * tested against a fake hub in test_hub.c); eval runs on it end to end. No network. */
#include "test.h"
#include "ponder.h"

#include <sys/stat.h>
#include <sys/wait.h>

#define TMP "build/tmp/test_hf_dataset"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define SNAP TMP "/hub/datasets--Org--Math.Set/snapshots/" COMMIT

static void put(const char *path, const char *text) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void t_resolve(void) {
    CHECK(system("rm -rf " TMP) == 0);
    setenv("HF_HUB_CACHE", TMP "/hub", 1);
    put(TMP "/hub/datasets--Org--Math.Set/refs/main", COMMIT "\n");
    put(SNAP "/test.jsonl", "{\"problem\": \"What is 1+1?\", \"answer\": \"2\", \"unique_id\": \"a\"}\n");
    put(SNAP "/data/train-00001-of-00002.jsonl", "{}\n");
    put(SNAP "/data/train-00000-of-00002.jsonl", "{}\n");
    put(SNAP "/data/validation-00000-of-00001.parquet", "PAR1");
    char path[4200];
    pd_error err = {0};
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", NULL, path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/test.jsonl");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set@" COMMIT, "test", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/test.jsonl");
    /* a split in two shards: refused, with the command that joins them */
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "train", path, sizeof path, &err), PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "2 shards") && strstr(err.msg, "data/train-00000-of-00002.jsonl") &&
                  strstr(err.msg, "data/train-00001-of-00002.jsonl") &&
                  strstr(err.msg, "cat " SNAP "/data/train-*.jsonl > train.jsonl"), "%s", err.msg);
    /* one shard is one file; a better-ranked form wins over it; JSONL before JSON */
    put(SNAP "/data/extra-00000-of-00001.jsonl", "{}\n");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "extra", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/data/extra-00000-of-00001.jsonl");
    put(SNAP "/extra/extra.jsonl", "{}\n");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "extra", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/extra/extra.jsonl");
    put(SNAP "/extra.json", "[]\n");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "extra", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/extra/extra.jsonl");
    put(SNAP "/data/other.json", "[]\n");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "other", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/data/other.json");
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "validation", path, sizeof path, &err), PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "validation-00000-of-00001.parquet") && strstr(err.msg, "read_parquet") &&
                  strstr(err.msg, "to_json"), "%s", err.msg);
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "dev", path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "no file for split 'dev'"), "%s", err.msg);
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set@v2", NULL, path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_EQ_INT(pd_dataset_resolve("HuggingFaceH4/MATH-500", NULL, path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "not in the Hugging Face cache") && strstr(err.msg, TMP "/hub/datasets--HuggingFaceH4--MATH-500") &&
                  strstr(err.msg, "ponder pull --dataset HuggingFaceH4/MATH-500"),
              "%s", err.msg);
    CHECK_EQ_INT(pd_dataset_resolve("no/such/file.jsonl", NULL, path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "no such file, nor a Hugging Face dataset id"), "%s", err.msg);
    /* a missing file named like one is not a dataset id to look up (nor to download) */
    CHECK_EQ_INT(pd_dataset_resolve("data/math.jsonl", NULL, path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "data/math.jsonl: no such file"), "%s", err.msg);
    CHECK_EQ_INT(pd_dataset_fetch("data/math.json", NULL, NULL, path, sizeof path, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "data/math.json: no such file") && !strstr(err.msg, "OFFLINE"), "%s", err.msg);
    CHECK_EQ_INT(pd_dataset_resolve("Org/Math.Set", "../x", path, sizeof path, &err), PD_EINVAL);
    /* a file is a file, whatever the split */
    CHECK_EQ_INT(pd_dataset_resolve(SNAP "/test.jsonl", "train", path, sizeof path, &err), 0);
    CHECK_STR(path, SNAP "/test.jsonl");
}

/* A .json split may be a JSON array of records (read as a whole) instead of JSON lines. */
static void t_json_array(void) {
    put(TMP "/array.json", "\xEF\xBB\xBF  [{\"problem\": \"What is 1+1?\", \"answer\": \"2\", \"unique_id\": \"a\"},\n"
                           " {\"question\": \"q?\", \"answer\": 3, \"level\": \"Level 4\"},\n 7,\n"
                           " {\"problem\": \"dup\", \"answer\": \"1\", \"unique_id\": \"a\"}]\n");
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK_EQ_INT(pd_dataset_load(TMP "/array.json", &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 2);
    if (ds.n == 2) {
        CHECK_STR(ds.items[0].id, "a");
        CHECK_STR(ds.items[1].id, "record-2");
        CHECK_STR(ds.items[1].answer, "3");
        CHECK_EQ_INT(ds.items[1].level, 4);
    }
    CHECK_EQ_INT(ds.n_skipped, 2);
    if (ds.n_skipped == 2) {
        CHECK_STR(ds.skipped_msgs[0], TMP "/array.json: record 3: not a JSON object");
        CHECK_STR(ds.skipped_msgs[1], TMP "/array.json: record 4: duplicate id 'a' (first on record 1)");
    }
    pd_dataset_free(&ds);
    /* a broken array fails as a whole, saying where */
    put(TMP "/broken.json", "[{\"problem\": \"p\", \"answer\": \"1\"},\n {\"problem\": }]\n");
    CHECK_EQ_INT(pd_dataset_load(TMP "/broken.json", &ds, &err), PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, TMP "/broken.json") && strstr(err.msg, "line 2"), "%s", err.msg);
    CHECK_EQ_INT(ds.n, 0);
    pd_dataset_free(&ds);
    /* JSON lines under a .json name stay JSON lines */
    put(TMP "/lines.json", "\n{\"problem\": \"p\", \"answer\": \"1\"}\n{\"problem\": \"q\", \"answer\": \"2\"}\n");
    CHECK_EQ_INT(pd_dataset_load(TMP "/lines.json", &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 2);
    pd_dataset_free(&ds);
}

static void t_eval(void) {
    char args[1024];
    snprintf(args, sizeof args, "eval --policy sim --prm sim --dataset Org/Math.Set --dataset-split test --quiet --out " TMP "/run");
    CHECK_EQ_INT(run_ponder(args), 0);
    FILE *f = fopen(TMP "/run/config.json", "r");
    CHECK(f != NULL);
    char buf[8192] = "";
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    CHECK_MSG(strstr(buf, "\"dataset\": \"Org/Math.Set\"") && strstr(buf, "\"dataset_split\": \"test\"") &&
                  strstr(buf, "\"dataset_problems\": 1"), "%s", buf);
    snprintf(args, sizeof args, "eval --policy sim --prm sim --dataset Org/Missing --quiet --out " TMP "/run2");
    CHECK(run_ponder(args) != 0);
    char out[4096], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset Org/Missing --quiet --out " TMP "/run3",
             ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "HF_HUB_OFFLINE") && strstr(out, "not in the Hugging Face cache"), "%s", out);
}

int main(void) {
    setenv("HF_HUB_OFFLINE", "1", 1); /* a dataset not in the cache is never downloaded here */
    RUN(t_resolve);
    RUN(t_json_array);
    RUN(t_eval);
    return test_done();
}
