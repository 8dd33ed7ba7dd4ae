/* gguf_write.h — writing GGUF v3 files (the layout gguf.h describes), atomically.
 *
 * Usage: collect the metadata and the tensor infos first (their sizes follow from type and
 * shape), then open the file, stream each tensor's bytes in the order they were added, and
 * commit:
 *     pd_gguf_writer w;
 *     pd_gguf_writer_init(&w, 32);
 *     pd_gguf_w_str(&w, "general.architecture", "llama");  ... pd_gguf_w_tensor(&w, ...) ...
 *     pd_gguf_w_open(&w, "out.gguf", err);                  // header, metadata, infos
 *     pd_gguf_w_data(&w, bytes, n, err);  ...               // the tensors' bytes, in order
 *     pd_gguf_w_finish(&w, err);                            // fsync; the temp file may be checked
 *     pd_gguf_w_commit(&w, err);                            // rename into place
 *     pd_gguf_writer_free(&w);                              // (removes the temp file if not committed)
 * The file is written as "<path>.ponder-tmp-XXXXXX" beside the target and renamed over it
 * only when complete, so a failure never leaves a partial file at the path. Each tensor's data
 * starts at a multiple of the alignment (general.alignment is written when it is not 32).
 * Metadata setters record an out-of-memory failure and report it at open. */
#ifndef PD_MODEL_GGUF_WRITE_H
#define PD_MODEL_GGUF_WRITE_H

#include <stdio.h>

#include "model/gguf.h"

typedef struct pd_gguf_wtensor {
    char *name;
    int type;                       /* PD_GGML_* */
    int n_dims;
    uint64_t ne[PD_GGUF_MAX_DIMS];  /* ne[0] fastest */
    uint64_t offset, size;          /* in the data section */
} pd_gguf_wtensor;

typedef struct pd_gguf_writer {
    size_t alignment;
    pd_buf meta;                    /* the serialised key/value pairs */
    uint64_t n_kv;
    pd_gguf_wtensor *t;
    size_t n_t, cap_t;
    uint64_t data_size;             /* the data section so far (aligned) */
    int oom;                        /* a setter ran out of memory */
    /* while writing */
    FILE *f;
    char *path, *tmp;
    size_t cur;                     /* the tensor being written */
    uint64_t cur_done;              /* its bytes written so far */
} pd_gguf_writer;

void pd_gguf_writer_init(pd_gguf_writer *w, size_t alignment);
/* Drop everything (and the temporary file when not committed). */
void pd_gguf_writer_free(pd_gguf_writer *w);

/* Metadata, in the order written. */
void pd_gguf_w_u32(pd_gguf_writer *w, const char *key, uint32_t v);
void pd_gguf_w_i32(pd_gguf_writer *w, const char *key, int32_t v);
void pd_gguf_w_f32(pd_gguf_writer *w, const char *key, float v);
void pd_gguf_w_bool(pd_gguf_writer *w, const char *key, int v);
void pd_gguf_w_str(pd_gguf_writer *w, const char *key, const char *s);
void pd_gguf_w_strn(pd_gguf_writer *w, const char *key, const char *s, size_t len);
/* Arrays: n strings (lens[i] bytes each, or strlen when lens is NULL); n int32; n float. */
void pd_gguf_w_arr_str(pd_gguf_writer *w, const char *key, const char *const *s, const size_t *lens, size_t n);
void pd_gguf_w_arr_i32(pd_gguf_writer *w, const char *key, const int32_t *v, size_t n);
void pd_gguf_w_arr_f32(pd_gguf_writer *w, const char *key, const float *v, size_t n);

/* A tensor of ggml type `type` and shape ne[0..n_dims) (ne[0] fastest, a multiple of the
 * type's block). Returns 0, PD_EINVAL for a bad shape, PD_ENOMEM. */
int pd_gguf_w_tensor(pd_gguf_writer *w, const char *name, int type, int n_dims, const uint64_t *ne, pd_error *err);

/* Create the temporary file beside path and write the header, metadata and tensor infos. */
int pd_gguf_w_open(pd_gguf_writer *w, const char *path, pd_error *err);
/* Append n bytes of tensor data: the tensors in the order added, each exactly its size (a
 * call may span tensors); padding is inserted between them. */
int pd_gguf_w_data(pd_gguf_writer *w, const void *p, size_t n, pd_error *err);
/* Check every tensor was written in full, flush, fsync and close the temporary file (it can
 * then be read back and checked before the commit). */
int pd_gguf_w_finish(pd_gguf_writer *w, pd_error *err);
/* Finish (when not done yet) and rename the file into place. */
int pd_gguf_w_commit(pd_gguf_writer *w, pd_error *err);
/* The temporary file's path from open until the commit, else NULL. */
const char *pd_gguf_w_tmp_path(const pd_gguf_writer *w);

#endif
