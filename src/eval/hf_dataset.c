/* hf_dataset.c — `--dataset ORG/NAME` (a Hugging Face dataset id) resolved in the Hugging
 * Face cache, in the layout huggingface_hub writes for datasets (docs/EVAL.md):
 *
 *   CACHE/datasets--ORG--NAME/refs/REVISION          the commit REVISION points at
 *   CACHE/datasets--ORG--NAME/snapshots/COMMIT/FILE  the repository's files
 *
 * (CACHE as for models: pd_hub_cache_dir.) The split's file is the best-ranked of
 * pd_hub_split_file's forms (SPLIT.jsonl, data/SPLIT.jsonl, SPLIT/SPLIT.jsonl,
 * data/SPLIT-*.jsonl, SPLIT-*.jsonl), JSONL before JSON (a JSON array of records, or JSON
 * lines under a .json name: pd_dataset_read reads both). A split held only as parquet is
 * refused with the command that converts it; a split in several shards is refused with
 * the command that joins them (one file per run keeps resume and config.json simple).
 *
 * pd_dataset_fetch downloads a split that is not in the cache (pd_hub_pull in its dataset
 * mode: the same HTTP client, resume, checks, HF_ENDPOINT and HF_TOKEN as `ponder pull`),
 * then reads it from the cache like any other; once there, nothing is asked of the network. */
#include "ponder/dataset.h"
#include "ponder/hub.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The best split file found so far. */
typedef struct split_pick {
    int rank;           /* pd_hub_split_file's, 0 = none yet */
    int n_at_rank;      /* files with that rank (shards when rank >= 4) */
    char rel[512];      /* its path in the snapshot */
    char other[512];    /* another file of the same rank (a second shard) */
} split_pick;

/* Rank the files of snap/rel (one directory, not below) as split files with extension ext. */
static void scan_dir(const char *snap, const char *rel, const char *split, const char *ext, split_pick *b) {
    char dir[4800], full[5400], relpath[512];
    snprintf(dir, sizeof dir, "%s/%s", snap, rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (size_t)snprintf(relpath, sizeof relpath, "%s%s", rel, e->d_name) >= sizeof relpath)
            continue;
        int r = pd_hub_split_file(relpath, split, ext);
        snprintf(full, sizeof full, "%s/%s", snap, relpath);
        if (!r || !is_file(full) || (b->rank && r > b->rank)) continue;
        if (r == b->rank) {
            b->n_at_rank++;
            if (strcmp(relpath, b->rel) > 0) {
                memcpy(b->other, relpath, sizeof b->other);
                continue;
            }
            memcpy(b->other, b->rel, sizeof b->other);
        } else {
            b->n_at_rank = 1;
        }
        b->rank = r;
        memcpy(b->rel, relpath, sizeof b->rel);
    }
    closedir(d);
}

/* Find the split's file with extension ext under snap (see the top). */
static int find_split(const char *snap, const char *split, const char *ext, split_pick *b) {
    memset(b, 0, sizeof *b);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/", split);
    scan_dir(snap, "", split, ext, b);
    scan_dir(snap, "data/", split, ext, b);
    scan_dir(snap, sub, split, ext, b);
    return b->rank != 0;
}

/* Split a dataset id spec ORG/NAME[@REVISION] into id and rev ("main" without '@').
 * Returns 1 when it is one, else 0: also for a name ending like a data file ("data/x.jsonl"
 * is a file that is missing, not a dataset to download). */
static int parse_id(const char *spec, char id[256], char rev[256]) {
    static const char *file_ext[] = {".jsonl", ".json", ".parquet", ".csv", ".txt"};
    size_t sl = strlen(spec);
    for (int i = 0; i < 5; i++) {
        size_t el = strlen(file_ext[i]);
        if (sl >= el && !strcmp(spec + sl - el, file_ext[i])) return 0;
    }
    const char *at = strchr(spec, '@');
    size_t il = at ? (size_t)(at - spec) : strlen(spec);
    if (il >= 256 || (at && strlen(at + 1) >= 256)) return 0;
    memcpy(id, spec, il);
    id[il] = 0;
    snprintf(rev, 256, "%s", at ? at + 1 : "main");
    pd_error e = {0};
    return !pd_hub_check_repo_id(id, &e) && !pd_hub_check_revision(rev, &e);
}

/* Check a split name (it becomes part of file names). */
static int check_split(const char *split, pd_error *err) {
    if (strchr(split, '/') || strstr(split, "..") || strlen(split) > 100 || !*split)
        return pd_err_set(err, PD_EINVAL, "dataset split '%s' is not a split name", split);
    return 0;
}

int pd_dataset_resolve(const char *spec, const char *split, char *path, size_t size, pd_error *err) {
    if (is_file(spec)) return snprintf(path, size, "%s", spec) < (int)size ? 0 : pd_err_set(err, PD_EINVAL, "path too long");
    if (!split || !*split) split = "test";
    int rc = check_split(split, err);
    if (rc) return rc;
    char id[256], rev[256];
    if (!parse_id(spec, id, rev))
        return pd_err_set(err, PD_ENOTFOUND, "%s: no such file, nor a Hugging Face dataset id (ORG/NAME[@REVISION])", spec);
    char cache[4096];
    if ((rc = pd_hub_cache_dir(cache, sizeof cache, err))) return rc;
    const char *slash = strchr(id, '/');
    char repo[4608], snap[4800];
    snprintf(repo, sizeof repo, "%s/datasets--%.*s--%s", cache, (int)(slash - id), id, slash + 1);
    /* the commit: a 40-hex revision is one; else refs/REVISION */
    char commit[64] = "";
    int hex = strlen(rev) == 40;
    for (size_t i = 0; hex && i < 40; i++) hex = strchr("0123456789abcdef", rev[i]) != NULL;
    if (hex) snprintf(commit, sizeof commit, "%.40s", rev);
    else {
        char ref[4900];
        snprintf(ref, sizeof ref, "%s/refs/%s", repo, rev);
        FILE *f = fopen(ref, "r");
        if (f) {
            if (!fgets(commit, sizeof commit, f)) commit[0] = 0;
            fclose(f);
            commit[strcspn(commit, "\r\n")] = 0;
        }
    }
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, commit);
    struct stat st;
    if (!commit[0] || strchr(commit, '/') || stat(snap, &st) != 0 || !S_ISDIR(st.st_mode))
        return pd_err_set(err, PD_ENOTFOUND,
                          "%s: not a file, and dataset %s (revision %s) is not in the Hugging Face cache (looked in %s); "
                          "fetch it with `ponder pull --dataset %s%s%s` (`ponder eval` does it by itself when it may "
                          "download), or give a JSONL file",
                          spec, id, rev, repo, id, strcmp(rev, "main") ? " --revision " : "", strcmp(rev, "main") ? rev : "");
    split_pick b;
    const char *exts[] = {".jsonl", ".json"};
    for (int k = 0; k < 2; k++) {
        if (!find_split(snap, split, exts[k], &b)) continue;
        if (b.n_at_rank > 1)
            return pd_err_set(err, PD_EFORMAT,
                              "%s: split '%s' is in %d shards (%s, %s%s) and ponder reads one file per run; join them "
                              "once: cat %s/%.*s*%s > %s%s and give --dataset %s%s",
                              spec, split, b.n_at_rank, b.rel, b.other, b.n_at_rank > 2 ? ", ..." : "", snap,
                              (int)((b.rank == 4 ? 5 : 0) + strlen(split) + 1), b.rel, exts[k], split, exts[k], split,
                              exts[k]);
        if ((size_t)snprintf(path, size, "%s/%s", snap, b.rel) >= size)
            return pd_err_set(err, PD_ELIMIT, "%s: dataset path too long", spec);
        return 0;
    }
    if (find_split(snap, split, ".parquet", &b))
        return pd_err_set(err, PD_EFORMAT,
                          "%s: split '%s' is %s/%s, parquet, which ponder does not read (Debian has no parquet library "
                          "for C); convert it once to JSONL: python3 -c \"import pandas as p; p.read_parquet('%s/%s')"
                          ".to_json('%s.jsonl', orient='records', lines=True)\" and give --dataset %s.jsonl",
                          spec, split, snap, b.rel, snap, b.rel, split, split);
    return pd_err_set(err, PD_ENOTFOUND, "%s: no file for split '%s' in %s (looked for %s.jsonl, data/%s.jsonl, "
                      "%s/%s.jsonl, data/%s-*.jsonl, %s-*.jsonl, and the same .json)", spec, split, snap, split, split,
                      split, split, split, split);
}

int pd_dataset_fetch(const char *spec, const char *split, const pd_hub_pull_opts *pull, char *path, size_t size,
                     pd_error *err) {
    pd_error first = {0};
    int rc = pd_dataset_resolve(spec, split, path, size, &first);
    char id[256], rev[256];
    if (rc != PD_ENOTFOUND || is_file(spec) || !parse_id(spec, id, rev)) {
        if (err) *err = first;
        return rc;
    }
    const char *off = getenv("HF_HUB_OFFLINE");
    if (off && *off && strcmp(off, "0") && strcasecmp(off, "false")) {
        if (err) *err = first;
        return pd_err_prefix(err, "HF_HUB_OFFLINE is set, not downloading");
    }
    pd_hub_pull_opts o = {0};
    if (pull) o = *pull;
    o.dataset = 1;
    o.split = split && *split ? split : "test";
    o.revision = rev;
    if ((rc = pd_hub_pull(id, &o, NULL, err))) return pd_err_prefix(err, "--dataset %s", spec);
    return pd_dataset_resolve(spec, split, path, size, err);
}
