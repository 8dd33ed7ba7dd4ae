/* hub.c — model resolution: from a spec the user typed to a directory of model files.
 *
 * A spec is either a local directory in Hugging Face layout (used as it is) or a hub
 * repo id "ORG/NAME[@REVISION]", looked up in the Hugging Face hub cache so that models
 * downloaded by other tools (huggingface_hub, transformers, huggingface-cli) are found
 * and ours are found by them. The cache layout, shared with those tools:
 *
 *   CACHE/models--ORG--NAME/refs/REVISION          the commit hash REVISION points at
 *   CACHE/models--ORG--NAME/snapshots/COMMIT/FILE  symlink -> ../../blobs/BLOB
 *   CACHE/models--ORG--NAME/blobs/BLOB             the bytes (BLOB: sha256 for LFS files,
 *                                                  the git blob id for the others)
 *
 * CACHE is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. A revision that is a 40-hex commit names its snapshot
 * directly; a branch or tag goes through refs/. Repo ids and revisions are validated
 * before they touch a path, so "../" or an absolute path can never be smuggled in: the
 * "--" separator of the folder name is forbidden inside ids for the same reason.
 *
 * Resolution never touches the network; `ponder pull` (hub_pull.c) fills the cache.
 * Trade-off: a snapshot directory is returned as soon as it exists; whether it holds a
 * complete model is for the model loader to say (it names the missing file). */
#include "hub_internal.h"
#include "model/gguf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pd_hub_cache_dir(char *out, size_t out_size, pd_error *err) {
    const char *v;
    int n;
    if ((v = getenv("HF_HUB_CACHE")) && *v) n = snprintf(out, out_size, "%s", v);
    else if ((v = getenv("HF_HOME")) && *v) n = snprintf(out, out_size, "%s/hub", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v) n = snprintf(out, out_size, "%s/huggingface/hub", v);
    else if ((v = getenv("HOME")) && *v) n = snprintf(out, out_size, "%s/.cache/huggingface/hub", v);
    else return pd_err_set(err, PD_ENOTFOUND, "no Hugging Face cache: none of HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME is set");
    if (n < 0 || (size_t)n >= out_size) return pd_err_set(err, PD_ELIMIT, "Hugging Face cache path too long: %.200s", v);
    return 0;
}

/* Check one part of a repo id (ORG or NAME). */
static int check_id_part(const char *s, size_t n, const char *id, pd_error *err) {
    if (n == 0 || n > 96)
        return pd_err_set(err, PD_EINVAL, "repo id '%.200s': each part must have 1 to 96 characters", id);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return pd_err_set(err, PD_EINVAL, "repo id '%.200s': character '%c' not allowed (only A-Z a-z 0-9 . _ -)",
                              id, isprint(c) ? c : '?');
    }
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
        return pd_err_set(err, PD_EINVAL, "repo id '%.200s': a part may not start or end with '-' or '.'", id);
    return 0;
}

int pd_hub_check_repo_id(const char *id, pd_error *err) {
    if (!id || !*id) return pd_err_set(err, PD_EINVAL, "empty repo id (expected ORG/NAME)");
    const char *slash = strchr(id, '/');
    if (!slash || strchr(slash + 1, '/'))
        return pd_err_set(err, PD_EINVAL, "repo id '%.200s': expected exactly one '/' (ORG/NAME)", id);
    if (strstr(id, "--") || strstr(id, ".."))
        return pd_err_set(err, PD_EINVAL, "repo id '%.200s': \"--\" and \"..\" are not allowed", id);
    int rc = check_id_part(id, (size_t)(slash - id), id, err);
    return rc ? rc : check_id_part(slash + 1, strlen(slash + 1), id, err);
}

int pd_hub_check_revision(const char *rev, pd_error *err) {
    size_t n = rev ? strlen(rev) : 0;
    if (n == 0 || n > 255) return pd_err_set(err, PD_EINVAL, "revision must have 1 to 255 characters");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)rev[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != '/')
            return pd_err_set(err, PD_EINVAL, "revision '%.200s': character '%c' not allowed", rev, isprint(c) ? c : '?');
    }
    if (strstr(rev, "..") || strstr(rev, "//") || rev[0] == '/' || rev[0] == '.' || rev[n - 1] == '/' ||
        strstr(rev, "/."))
        return pd_err_set(err, PD_EINVAL, "revision '%.200s': not a valid branch, tag or commit name", rev);
    return 0;
}

/* Whether name ends with suffix. */
static int ends_with(const char *name, const char *suffix) {
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && !memcmp(name + n - m, suffix, m);
}

int pd_hub_default_file(const char *path) {
    if (strchr(path, '/')) return 0;
    /* Mistral's own checkpoint format (consolidated.safetensors + params.json) duplicates the
     * Hugging Face weights in the same repo and is not read by ponder */
    if (!strncmp(path, "consolidated", 12) || !strcmp(path, "params.json")) return 0;
    if (ends_with(path, ".index.json")) return ends_with(path, ".safetensors.index.json");
    if (ends_with(path, ".json") || ends_with(path, ".safetensors") || ends_with(path, ".txt") ||
        ends_with(path, ".jinja") || ends_with(path, ".tiktoken"))
        return 1;
    return !strcmp(path, "tokenizer.model") || !strcmp(path, "README.md") || !strncmp(path, "LICENSE", 7);
}

int pd_hub_default_dataset_file(const char *path) {
    if (!strcmp(path, "README.md")) return 1;
    return ends_with(path, ".jsonl") || ends_with(path, ".json");
}

int pd_hub_split_file(const char *path, const char *split, const char *ext) {
    size_t n = strlen(path), sl = strlen(split), el = strlen(ext);
    if (!sl || n < el || strcmp(path + n - el, ext)) return 0;
    size_t stem = n - el; /* path without ext */
    const char *p = path;
    int in_data = !strncmp(p, "data/", 5);
    if (stem == sl && !memcmp(p, split, sl)) return 1;
    if (in_data && stem == 5 + sl && !memcmp(p + 5, split, sl)) return 2;
    if (stem == 2 * sl + 1 && !memcmp(p, split, sl) && p[sl] == '/' && !memcmp(p + sl + 1, split, sl)) return 3;
    /* SPLIT-*.EXT, in data/ (4) or at the top (5); the '*' part holds no '/' */
    const char *base = in_data ? p + 5 : p;
    size_t bl = stem - (size_t)(base - p);
    if (bl > sl + 1 && !memcmp(base, split, sl) && base[sl] == '-' && !memchr(base, '/', bl))
        return in_data ? 4 : 5;
    return 0;
}

/* Read refs/REV into commit (41 bytes). */
static int read_ref(const char *path, char commit[41], pd_error *err) {
    char *data = NULL;
    size_t len = 0;
    int rc = pd_file_read(path, &data, &len, err);
    if (rc) return rc;
    while (len && isspace((unsigned char)data[len - 1])) data[--len] = 0;
    if (len != 40 || !pd_hub_is_hex(data, 40)) {
        free(data);
        return pd_err_set(err, PD_EFORMAT, "%s: does not hold a 40-hex commit hash", path);
    }
    for (int i = 0; i < 40; i++) commit[i] = (char)tolower((unsigned char)data[i]);
    commit[40] = 0;
    free(data);
    return 0;
}

/* Look up repo id `id` at revision `rev` in the cache; writes the snapshot directory. */
static int resolve_cached(const char *id, const char *rev, char *dir, size_t dir_size, pd_error *err) {
    char cache[4096], repo_dir[4608], path[5120], commit[41];
    int rc = pd_hub_cache_dir(cache, sizeof cache, err);
    if (rc) return rc;
    const char *slash = strchr(id, '/');
    snprintf(repo_dir, sizeof repo_dir, "%s/models--%.*s--%s", cache, (int)(slash - id), id, slash + 1);
    if (!pd_dir_exists(repo_dir))
        return pd_err_set(err, PD_ENOTFOUND,
                          "model '%s' is not a local directory and is not in the Hugging Face cache (looked for %s); "
                          "download it with `ponder pull %s`", id, repo_dir, id);
    const char *rev_opt = strcmp(rev, "main") ? " --revision " : "";
    const char *rev_arg = strcmp(rev, "main") ? rev : "";
    if (strlen(rev) == 40 && pd_hub_is_hex(rev, 40)) {
        for (int i = 0; i < 40; i++) commit[i] = (char)tolower((unsigned char)rev[i]);
        commit[40] = 0;
    } else {
        snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
        if (!pd_file_exists(path))
            return pd_err_set(err, PD_ENOTFOUND,
                              "model '%s': revision '%s' is not in the Hugging Face cache (no %s); "
                              "download it with `ponder pull %s%s%s`", id, rev, path, id, rev_opt, rev_arg);
        if ((rc = read_ref(path, commit, err))) return rc;
    }
    snprintf(path, sizeof path, "%s/snapshots/%s", repo_dir, commit);
    if (!pd_dir_exists(path))
        return pd_err_set(err, PD_ENOTFOUND,
                          "model '%s': snapshot %s of revision '%s' is not in the Hugging Face cache (no %s); "
                          "download it with `ponder pull %s%s%s`", id, commit, rev, path, id, rev_opt, rev_arg);
    if ((size_t)snprintf(dir, dir_size, "%s", path) >= dir_size)
        return pd_err_set(err, PD_ELIMIT, "model directory path too long: %.200s", path);
    return 0;
}

int pd_hub_resolve(const char *spec, char *dir, size_t dir_size, pd_error *err) {
    if (!spec || !*spec) return pd_err_set(err, PD_EINVAL, "empty model spec (a directory or ORG/NAME)");
    if (pd_dir_exists(spec) || (pd_file_exists(spec) && pd_gguf_is_file(spec))) { /* a model directory or a GGUF file */
        if ((size_t)snprintf(dir, dir_size, "%s", spec) >= dir_size)
            return pd_err_set(err, PD_ELIMIT, "model path too long: %.200s", spec);
        return 0;
    }
    /* Clearly a path (absolute, ./, ../, ~): no repo id reading. */
    if (spec[0] == '/' || spec[0] == '.' || spec[0] == '~')
        return pd_err_set(err, PD_ENOTFOUND, "model '%.300s': no such directory", spec);
    char id[256], rev[256];
    const char *at = strchr(spec, '@');
    size_t idlen = at ? (size_t)(at - spec) : strlen(spec);
    if (idlen >= sizeof id || (at && strlen(at + 1) >= sizeof rev))
        return pd_err_set(err, PD_EINVAL, "model '%.200s': no such directory, and too long for a repo id", spec);
    memcpy(id, spec, idlen);
    id[idlen] = 0;
    snprintf(rev, sizeof rev, "%s", at ? at + 1 : "main");
    int rc = pd_hub_check_repo_id(id, err);
    if (!rc) rc = pd_hub_check_revision(rev, err);
    if (rc) return pd_err_prefix(err, "model '%.200s' is not a local directory nor a hub repo id ORG/NAME[@REVISION]", spec);
    return resolve_cached(id, rev, dir, dir_size, err);
}
