/* hf_dataset.c — `--dataset ORG/NAME` (a Hugging Face dataset id) resolved in the Hugging
 * Face cache, in the layout huggingface_hub writes for datasets (docs/EVAL.md):
 *
 *   CACHE/datasets--ORG--NAME/refs/REVISION          the commit REVISION points at
 *   CACHE/datasets--ORG--NAME/snapshots/COMMIT/FILE  the repository's files
 *
 * (CACHE as for models: pd_hub_cache_dir.) The split's file is the first of SPLIT.jsonl,
 * data/SPLIT.jsonl, SPLIT/SPLIT.jsonl, then the first (by name) data/SPLIT-*.jsonl or
 * SPLIT-*.jsonl. A split held only as parquet (or JSON that is not JSONL) is refused with the
 * command that converts it. Downloading a dataset that is not in the cache is not built: the
 * error says how to fetch it. */
#include "ponder/dataset.h"
#include "ponder/hub.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first file (by name) in dir whose name starts with prefix and ends with ext, into out. */
static int first_match(const char *dir, const char *prefix, const char *ext, char *out, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char best[256] = "";
    struct dirent *e;
    size_t pl = strlen(prefix), el = strlen(ext);
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < pl + el || n >= sizeof best || strncmp(e->d_name, prefix, pl) || strcmp(e->d_name + n - el, ext)) continue;
        if (!best[0] || strcmp(e->d_name, best) < 0) snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0]) return 0;
    return snprintf(out, size, "%s/%s", dir, best) < (int)size;
}

/* The split's file with extension ext under snap (see the top). */
static int find_split(const char *snap, const char *split, const char *ext, char *out, size_t size) {
    char p[4608];
    const char *forms[] = {"%s/%s%s", "%s/data/%s%s", "%s/%s/%s"};
    for (int i = 0; i < 3; i++) {
        if (i < 2) snprintf(p, sizeof p, forms[i], snap, split, ext);
        else snprintf(p, sizeof p, "%s/%s/%s%s", snap, split, split, ext);
        if (is_file(p)) return snprintf(out, size, "%s", p) < (int)size;
    }
    char pre[300];
    snprintf(pre, sizeof pre, "%s-", split);
    snprintf(p, sizeof p, "%s/data", snap);
    return first_match(p, pre, ext, out, size) || first_match(snap, pre, ext, out, size);
}

int pd_dataset_resolve(const char *spec, const char *split, char *path, size_t size, pd_error *err) {
    if (is_file(spec)) return snprintf(path, size, "%s", spec) < (int)size ? 0 : pd_err_set(err, PD_EINVAL, "path too long");
    if (!split || !*split) split = "test";
    if (strchr(split, '/') || strstr(split, "..") || strlen(split) > 100)
        return pd_err_set(err, PD_EINVAL, "dataset split '%s' is not a split name", split);
    char id[256], rev[256] = "main";
    const char *at = strchr(spec, '@');
    size_t il = at ? (size_t)(at - spec) : strlen(spec);
    if (il >= sizeof id) return pd_err_set(err, PD_ENOTFOUND, "%s: no such file, nor a Hugging Face dataset id", spec);
    memcpy(id, spec, il);
    id[il] = 0;
    if (at) snprintf(rev, sizeof rev, "%s", at + 1);
    pd_error e2 = {0};
    if (pd_hub_check_repo_id(id, &e2) || (at && pd_hub_check_revision(rev, &e2)))
        return pd_err_set(err, PD_ENOTFOUND, "%s: no such file, nor a Hugging Face dataset id (ORG/NAME[@REVISION])", spec);
    char cache[4096];
    int rc = pd_hub_cache_dir(cache, sizeof cache, err);
    if (rc) return rc;
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
    if (!commit[0] || stat(snap, &st) != 0 || !S_ISDIR(st.st_mode))
        return pd_err_set(err, PD_ENOTFOUND,
                          "%s: not a file, and dataset %s (revision %s) is not in the Hugging Face cache (looked in %s); "
                          "ponder does not download datasets yet: fetch it once with `huggingface-cli download "
                          "--repo-type dataset %s` (HF_HOME / HF_HUB_CACHE as for ponder), or give a JSONL file",
                          spec, id, rev, repo, id);
    if (find_split(snap, split, ".jsonl", path, size)) return 0;
    char other[4900];
    if (find_split(snap, split, ".parquet", other, sizeof other) || find_split(snap, split, ".json", other, sizeof other))
        return pd_err_set(err, PD_EFORMAT,
                          "%s: split '%s' is %s, which ponder does not read (it reads JSONL); convert it once: python3 -c "
                          "\"import pandas as p; p.read_%s('%s').to_json('%s.jsonl', orient='records', lines=True)\" and "
                          "give --dataset %s.jsonl",
                          spec, split, other, strstr(other, ".parquet") ? "parquet" : "json", other, split, split);
    return pd_err_set(err, PD_ENOTFOUND, "%s: no file for split '%s' in %s (looked for %s.jsonl, data/%s.jsonl, "
                      "%s/%s.jsonl, data/%s-*.jsonl, %s-*.jsonl)", spec, split, snap, split, split, split, split, split, split);
}
