/* cmd_pull.c — `ponder pull REPO_ID [--revision R] [--include GLOB ...]`: download a model
 * (or, with --dataset, a dataset) from the Hugging Face hub into the shared cache
 * (pd_hub_pull), showing progress on stderr, and print the snapshot directory on stdout (so
 * `$(ponder pull X)` can be used as a --model argument). On a terminal the progress line is
 * redrawn in place; otherwise one line per finished file is printed. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INCLUDE 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder pull REPO_ID[@REVISION] [--revision R] [--include GLOB ...] [--quiet]\n"
            "       ponder pull --dataset REPO_ID[@REVISION] [--split S] [--include GLOB ...] [--quiet]\n"
            "\n"
            "Download a model repo (ORG/NAME) from the Hugging Face hub into the Hugging Face cache\n"
            "($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), where `--model ORG/NAME`\n"
            "finds it. Prints the snapshot directory. Interrupted downloads resume where they stopped.\n"
            "\n"
            "  --revision R    branch, tag or commit hash (default: main)\n"
            "  --include GLOB  download only the files matching GLOB (repeatable; '*' matches '/' too):\n"
            "                  --include '*Q4_K_M.gguf' fetches one file of a GGUF repo; without it,\n"
            "                  config, tokenizer and *.safetensors files are fetched, no other weight\n"
            "                  formats (.bin, .pth, .gguf, onnx/)\n"
            "  --dataset       REPO_ID is a dataset (also written datasets/ORG/NAME): its JSONL and\n"
            "                  JSON files go to datasets--ORG--NAME in the cache, where\n"
            "                  `ponder eval --dataset ORG/NAME` reads them; parquet is not read\n"
            "  --split S       with --dataset: only split S's files (S.jsonl, data/S-*.jsonl, ...)\n"
            "  --quiet         no progress on stderr\n"
            "\n"
            "environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (for private and gated\n"
            "repos), HF_HUB_CACHE / HF_HOME (where the cache is). See docs/MODELS.md.\n");
}

/* Progress state of the command. */
typedef struct progress {
    int tty;
    double t0, last_draw;
    size_t last_index;
    int64_t start_done; /* bytes already present when the file's transfer began */
    int drawn;
} progress;

/* Format a byte count as "12.3 MB". */
static void fmt_bytes(char *out, size_t n, int64_t b) {
    if (b < 0) snprintf(out, n, "?");
    else if (b < 1000000) snprintf(out, n, "%.1f kB", (double)b / 1e3);
    else if (b < 1000000000) snprintf(out, n, "%.1f MB", (double)b / 1e6);
    else snprintf(out, n, "%.2f GB", (double)b / 1e9);
}

/* The progress callback: a redrawn line on a terminal, a line per file otherwise. */
static void on_progress(void *user, const char *file, size_t index, size_t count, int64_t done, int64_t total);

void cli_pull_progress(pd_hub_pull_opts *o) {
    static progress p;
    p = (progress){.tty = isatty(2)};
    o->progress = on_progress;
    o->progress_user = &p;
}

static void on_progress(void *user, const char *file, size_t index, size_t count, int64_t done, int64_t total) {
    progress *p = user;
    double now = pd_now();
    int finished = total >= 0 && done == total;
    if (index != p->last_index || !p->drawn) {
        p->last_index = index;
        p->t0 = now;
        p->start_done = done;
    }
    char d[32], t[32];
    fmt_bytes(d, sizeof d, done);
    fmt_bytes(t, sizeof t, total);
    if (p->tty) {
        if (!finished && now - p->last_draw < 0.1 && p->drawn) return;
        p->last_draw = now;
        double rate = now > p->t0 ? (double)(done - p->start_done) / (now - p->t0) : 0;
        char r[32];
        fmt_bytes(r, sizeof r, (int64_t)rate);
        fprintf(stderr, "\r\033[K[%zu/%zu] %.60s  %s / %s  %s/s", index + 1, count, file, d, t, r);
        if (finished) fputc('\n', stderr);
        p->drawn = 1;
    } else if (finished) {
        fprintf(stderr, "[%zu/%zu] %s  %s\n", index + 1, count, file, d);
        p->drawn = 1;
    } else {
        p->drawn = 1;
    }
    fflush(stderr);
}

int cmd_pull(int argc, char **argv) {
    const char *repo = NULL, *revision = NULL, *split = NULL, *include[MAX_INCLUDE];
    size_t n_include = 0;
    int quiet = 0, dataset = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--revision") || !strcmp(a, "--include") || !strcmp(a, "--split")) {
            if (i + 1 >= argc) return cli_fail("pull", "%s needs a value", a);
            if (!strcmp(a, "--revision")) {
                revision = argv[++i];
            } else if (!strcmp(a, "--split")) {
                split = argv[++i];
            } else {
                if (n_include >= MAX_INCLUDE) return cli_fail("pull", "at most %d --include globs", MAX_INCLUDE);
                include[n_include++] = argv[++i];
            }
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (!strcmp(a, "--dataset")) {
            dataset = 1;
        } else if (a[0] == '-') {
            return cli_fail("pull", "unknown option '%s' (see `ponder pull --help`)", a);
        } else if (repo) {
            return cli_fail("pull", "one repo id at a time (got '%s' and '%s')", repo, a);
        } else {
            repo = a;
        }
    }
    if (!repo) return cli_fail("pull", "missing REPO_ID (ORG/NAME; see `ponder pull --help`)");

    /* datasets/ORG/NAME (as in the hub's URLs) is --dataset ORG/NAME */
    if (!strncmp(repo, "datasets/", 9)) {
        dataset = 1;
        repo += 9;
    }
    if (split && !dataset) return cli_fail("pull", "--split is for datasets (--dataset ORG/NAME)");
    if (split && (!*split || strchr(split, '/') || strstr(split, "..")))
        return cli_fail("pull", "--split '%s' is not a split name", split);
    /* ORG/NAME@REV is a shorthand for --revision REV. */
    char id[512];
    if ((size_t)snprintf(id, sizeof id, "%s", repo) >= sizeof id) return cli_fail("pull", "repo id too long");
    char *at = strchr(id, '@');
    if (at) {
        *at = 0;
        if (revision && strcmp(revision, at + 1))
            return cli_fail("pull", "two revisions given ('%s' and '%s')", at + 1, revision);
        revision = at + 1;
    }

    progress p = {.tty = isatty(2)};
    pd_hub_pull_opts o = {.revision = revision, .include = include, .n_include = n_include, .dataset = dataset,
                          .split = split};
    if (!quiet) {
        o.progress = on_progress;
        o.progress_user = &p;
    }
    pd_hub_pull_result res;
    pd_error err = {0};
    double t0 = pd_now();
    if (pd_hub_pull(id, &o, &res, &err)) {
        if (p.tty && p.drawn) fputc('\n', stderr);
        return cli_fail_err("pull", &err);
    }
    if (!quiet) {
        char b[32];
        fmt_bytes(b, sizeof b, res.bytes_downloaded);
        fprintf(stderr, "%s%s@%s: %zu files, %zu downloaded (%s in %.1f s), commit %s\n", dataset ? "dataset " : "", id,
                revision ? revision : "main", res.n_files, res.n_downloaded, b, pd_now() - t0, res.commit);
    }
    printf("%s\n", res.dir);
    return 0;
}
