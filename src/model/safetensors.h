/* safetensors.h — validated reading of .safetensors files and sharded checkpoints.
 *
 * A safetensors file is: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
 * then the data section; offsets are relative to the data section. Everything in the header
 * is checked before a tensor is handed out (see safetensors.c). */
#ifndef PD_MODEL_SAFETENSORS_H
#define PD_MODEL_SAFETENSORS_H

#include "ponder/base.h"

#define PD_ST_MAX_RANK 8
#define PD_ST_MAX_HEADER ((size_t)100 << 20) /* 100 MiB of JSON is far beyond any real header */
#define PD_ST_MAX_SHARDS 4096

typedef enum pd_dtype {
    PD_DT_F32 = 0, PD_DT_F16, PD_DT_BF16, PD_DT_F64,
    PD_DT_I64, PD_DT_I32, PD_DT_I16, PD_DT_I8, PD_DT_U8, PD_DT_BOOL,
    PD_DT_F8_E4M3, PD_DT_F8_E5M2, PD_DT_U16, PD_DT_U32, PD_DT_U64,
    PD_DT_COUNT
} pd_dtype;

/* Name as spelled in safetensors headers ("BF16") and size in bytes of one element. */
const char *pd_dtype_name(int dtype);
size_t pd_dtype_size(int dtype);

typedef struct pd_st_tensor {
    char *name;
    int dtype;                    /* pd_dtype */
    int rank;
    int64_t shape[PD_ST_MAX_RANK];
    size_t n_elems;               /* product of shape */
    size_t begin, end;            /* byte range inside the data section */
    const uint8_t *data;          /* begin of the bytes (inside the mapping) */
} pd_st_tensor;

typedef struct pd_st_file {
    char *path;                   /* as given, for messages */
    pd_mmap map;                  /* the mapping (empty when parsed from memory) */
    pd_st_tensor *tensors;        /* sorted by name */
    size_t n_tensors;
} pd_st_file;

/* Parse and validate the header of a safetensors image held in memory (buf, len); `name`
 * is used in messages. Tensors point into buf, which must outlive f. Returns 0 or an error
 * (PD_EFORMAT for a malformed file, PD_EUNSUPPORTED for unknown dtypes). */
int pd_st_parse(const uint8_t *buf, size_t len, const char *name, pd_st_file *f, pd_error *err);
/* Map the file at path and parse it. */
int pd_st_open(const char *path, pd_st_file *f, pd_error *err);
void pd_st_close(pd_st_file *f);
/* The tensor with this name, or NULL. */
const pd_st_tensor *pd_st_find(const pd_st_file *f, const char *name);

/* model.safetensors.index.json: which shard holds which tensor. */
typedef struct pd_st_index {
    char **shards;        /* distinct shard file names, first-seen order */
    size_t n_shards;
    char **names;         /* tensor names of the weight_map */
    size_t *shard_of;     /* index into shards for each name */
    size_t n_names;
} pd_st_index;

/* Parse index JSON text (len bytes); every shard must be a plain file name ending in
 * ".safetensors". Returns 0 or PD_EFORMAT naming `name`. */
int pd_st_index_parse(const char *json, size_t len, const char *name, pd_st_index *ix, pd_error *err);
void pd_st_index_free(pd_st_index *ix);

/* All tensors of a checkpoint directory: model.safetensors, or the shards listed by
 * model.safetensors.index.json (each tensor must be in the shard the index names). */
typedef struct pd_st_set {
    pd_st_file *files;
    size_t n_files;
} pd_st_set;

int pd_st_set_open(const char *dir, pd_st_set *s, pd_error *err);
void pd_st_set_close(pd_st_set *s);
/* Find a tensor in any file of the set; *file (optional) gets the file's path. */
const pd_st_tensor *pd_st_set_find(const pd_st_set *s, const char *name, const char **file);

#endif
