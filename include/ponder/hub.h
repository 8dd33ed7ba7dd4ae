/* ponder/hub.h — where models live: local directories and the Hugging Face cache
 * (src/model/hub.c: resolution; src/model/hub_pull.c: downloads). docs/MODELS.md
 * describes the spec forms, the environment variables and the cache layout. */
#ifndef PONDER_HUB_H
#define PONDER_HUB_H

#include <stdint.h>

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolve a model spec to a local directory in Hugging Face layout: an existing
 * directory (or a GGUF file) as it is; a repo id "ORG/NAME" (optionally "ORG/NAME@REVISION", a branch,
 * tag or 40-hex commit) looked up in the Hugging Face cache (see pd_hub_cache_dir):
 * models--ORG--NAME/refs/REVISION holds the commit, snapshots/COMMIT/ the files.
 * Writes the directory into dir. PD_ENOTFOUND with a message saying where it looked
 * (and suggesting `ponder pull`) when the model is not there; PD_EINVAL for a spec that
 * is neither an existing directory nor a valid repo id. */
int pd_hub_resolve(const char *spec, char *dir, size_t dir_size, pd_error *err);

/* The Hugging Face hub cache directory: $HF_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else $HOME/.cache/huggingface/hub (empty variables
 * count as unset). The directory need not exist. */
int pd_hub_cache_dir(char *out, size_t out_size, pd_error *err);

/* Check a repo id "ORG/NAME": two parts of 1..96 characters from [A-Za-z0-9._-], not
 * starting or ending with '.' or '-', no "--" or ".." anywhere. 0 or PD_EINVAL. */
int pd_hub_check_repo_id(const char *repo_id, pd_error *err);

/* Check a revision (branch, tag or commit): 1..255 characters from [A-Za-z0-9._/-],
 * no "..", "//", leading '/' or '.', trailing '/'. 0 or PD_EINVAL. */
int pd_hub_check_revision(const char *revision, pd_error *err);

/* Progress of a pull: file `index` (0-based) of `count`, `done` of `total` bytes
 * (total -1 when unknown). Called after each received chunk and once when a file is
 * finished (done == total) or found already complete in the cache. */
typedef void (*pd_hub_progress_fn)(void *user, const char *file, size_t index, size_t count,
                                   int64_t done, int64_t total);

typedef struct pd_hub_pull_opts {
    const char *revision;               /* branch, tag or commit; NULL = "main" */
    const char *const *include;         /* globs (fnmatch, '*' crosses '/'): when given, only */
    size_t n_include;                   /*   the files they match are fetched; "*" = everything */
    const char *endpoint;               /* NULL = $HF_ENDPOINT, else https://huggingface.co */
    const char *token;                  /* NULL = $HF_TOKEN, else $HF_HOME/token if present */
    const char *cache_dir;              /* NULL = pd_hub_cache_dir() */
    int max_retries;                    /* retries without progress per request: 0 = 5, <0 = none */
    double retry_base_s;                /* first backoff delay, doubled each time; <=0 = 1 */
    pd_hub_progress_fn progress;        /* NULL = silent */
    void *progress_user;
    int dataset;                        /* a dataset repo: api/datasets/, CACHE/datasets--ORG--NAME */
    const char *split;                  /* datasets: fetch this split's JSONL/JSON files
                                         *   (pd_hub_split_file), with any include matches */
} pd_hub_pull_opts;

typedef struct pd_hub_pull_result {
    char commit[41];                    /* the snapshot's commit hash */
    char dir[4096];                     /* .../models--ORG--NAME/snapshots/COMMIT */
    size_t n_files;                     /* files selected from the listing */
    size_t n_downloaded;                /* files that needed (some) network transfer */
    int64_t bytes_downloaded;           /* body bytes received for them */
} pd_hub_pull_result;

/* Download repo_id (a model, or a dataset with opts->dataset) at opts->revision into the
 * hub cache with libcurl:
 * lists the files with the hub API, downloads the selected ones into blobs/ (resuming a
 * partial blobs/X.incomplete with an HTTP Range request, retrying transient failures
 * with backoff), checks each size and each LFS file's sha256, links them into
 * snapshots/COMMIT/ and finally writes refs/REVISION. A file already in the cache with
 * the right size is not fetched again. opts may be NULL (all defaults); res may be NULL.
 * The selection: the include globs (and a dataset's split files) when given, else the
 * default files (pd_hub_default_file, pd_hub_default_dataset_file). Selecting nothing is an
 * error that says what the repo holds: PD_ENOTFOUND, PD_EINVAL for a GGUF repo pulled
 * without --include (the message names its .gguf files), PD_EFORMAT for a dataset whose
 * files are parquet (the message says how to convert them).
 * Errors: PD_EINVAL (bad id or revision), PD_ENOTFOUND (401/404), PD_ENET (network,
 * HTTP or integrity failure), PD_EFORMAT (bad listing), PD_EIO (cache writes). */
int pd_hub_pull(const char *repo_id, const pd_hub_pull_opts *opts, pd_hub_pull_result *res,
                pd_error *err);

/* Whether a repo file belongs to the default selection of `pull`: top-level config and
 * tokenizer files (*.json except other formats' weight indexes, *.txt, *.jinja,
 * tokenizer.model, *.tiktoken), *.safetensors, README.md, LICENSE*. Not *.bin, *.pth,
 * *.pt, *.gguf, *.onnx, *.h5, *.msgpack, nor Mistral's consolidated.* / params.json, nor
 * anything in a subdirectory. */
int pd_hub_default_file(const char *path);

/* The same for a dataset repo: *.jsonl and *.json files at any depth (what ponder reads)
 * and a top-level README.md; not parquet, arrow, csv or anything else. */
int pd_hub_default_dataset_file(const char *path);

/* Whether a dataset repo file holds split `split` in format ext (".jsonl", ".json",
 * ".parquet"): 0 if not, else its rank, the first form that matches (lower is preferred):
 * 1 SPLIT.EXT, 2 data/SPLIT.EXT, 3 SPLIT/SPLIT.EXT, 4 data/SPLIT-*.EXT, 5 SPLIT-*.EXT (the
 * '*' part without '/'; the shards of a split, data/test-00000-of-00002.jsonl, ...). */
int pd_hub_split_file(const char *path, const char *split, const char *ext);

#ifdef __cplusplus
}
#endif
#endif
