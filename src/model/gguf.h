/* gguf.h — validated reading of GGUF files (llama.cpp's model format), versions 2 and 3.
 *
 * A GGUF file is, all little-endian:
 *     "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *     n_kv   x (string key, u32 value type, value)          metadata
 *     n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
 *     padding to general.alignment (default 32), then the data section;
 * a string is a u64 length and that many bytes (no NUL); an array value is a u32 element
 * type, a u64 count and the elements. ne[0] is the fastest-moving dimension: a weight
 * matrix of PyTorch shape (rows, cols) has ne = {cols, rows}. Tensor offsets are relative
 * to the data section and must be multiples of the alignment.
 *
 * pd_gguf_parse checks everything before anything is handed out: every count against the
 * bytes left, every string and array inside the file, every value and tensor type known,
 * every tensor's byte range inside the data section, aligned and not overlapping another.
 * Errors name the file, the key or tensor, and the byte offset where the problem is. */
#ifndef PD_MODEL_GGUF_H
#define PD_MODEL_GGUF_H

#include "ponder/base.h"

/* Metadata value types (the numbering is the file format's). */
enum {
    PD_GGUF_U8 = 0, PD_GGUF_I8, PD_GGUF_U16, PD_GGUF_I16, PD_GGUF_U32, PD_GGUF_I32, PD_GGUF_F32,
    PD_GGUF_BOOL, PD_GGUF_STRING, PD_GGUF_ARRAY, PD_GGUF_U64, PD_GGUF_I64, PD_GGUF_F64,
    PD_GGUF_VTYPE_COUNT
};

/* Tensor (ggml) types this reader knows the block layout of (the numbering is ggml's). */
enum {
    PD_GGML_F32 = 0, PD_GGML_F16 = 1, PD_GGML_Q4_0 = 2, PD_GGML_Q4_1 = 3, PD_GGML_Q5_0 = 6,
    PD_GGML_Q5_1 = 7, PD_GGML_Q8_0 = 8, PD_GGML_Q8_1 = 9, PD_GGML_Q2_K = 10, PD_GGML_Q3_K = 11,
    PD_GGML_Q4_K = 12, PD_GGML_Q5_K = 13, PD_GGML_Q6_K = 14, PD_GGML_Q8_K = 15, PD_GGML_IQ4_NL = 20,
    PD_GGML_IQ4_XS = 23, PD_GGML_I8 = 24, PD_GGML_I16 = 25, PD_GGML_I32 = 26, PD_GGML_I64 = 27,
    PD_GGML_F64 = 28, PD_GGML_BF16 = 30,
    PD_GGML_TYPE_LIMIT = 64
};

#define PD_GGUF_MAX_DIMS 4
#define PD_GGUF_DEFAULT_ALIGNMENT 32
#define PD_GGUF_MAX_KEY 65535        /* the format's limit on a key's length */
#define PD_GGUF_MAX_NAME 1024        /* tensor names (ggml itself keeps 64 bytes) */
#define PD_GGUF_MAX_NESTING 4        /* arrays of arrays */

/* Name ("Q4_K"), elements per block and bytes per block of a ggml type; NULL / 0 when the
 * type is unknown. */
const char *pd_ggml_type_name(int type);
size_t pd_ggml_block_elems(int type);
size_t pd_ggml_block_bytes(int type);

typedef struct pd_gguf_kv {
    char *key;            /* NUL-terminated copy of the key */
    int type;             /* PD_GGUF_* */
    int arr_type;         /* PD_GGUF_ARRAY: the element type */
    uint64_t n;           /* PD_GGUF_ARRAY: element count; PD_GGUF_STRING: byte length */
    size_t off;           /* file offset of the value (STRING: its bytes; ARRAY: first element) */
    size_t key_off;       /* file offset of the key, for messages */
} pd_gguf_kv;

typedef struct pd_gguf_tensor {
    char *name;           /* NUL-terminated copy */
    int type;             /* PD_GGML_* */
    int n_dims;
    uint64_t ne[PD_GGUF_MAX_DIMS]; /* ne[0] fastest; unused dimensions are 1 */
    uint64_t n_elems;
    size_t offset;        /* in the data section */
    size_t size;          /* bytes */
    size_t info_off;      /* file offset of its tensor info, for messages */
    const uint8_t *data;  /* the bytes, inside the image */
} pd_gguf_tensor;

typedef struct pd_gguf {
    char *path;           /* as given, for messages */
    pd_mmap map;          /* the mapping (empty when parsed from memory) */
    const uint8_t *base;  /* the whole image */
    size_t len;
    uint32_t version;
    size_t alignment;
    size_t data_off;      /* file offset of the data section */
    pd_gguf_kv *kv;       /* sorted by key */
    size_t n_kv;
    pd_gguf_tensor *tensors; /* sorted by name */
    size_t n_tensors;
} pd_gguf;

/* Parse and validate a GGUF image held in memory (buf, len); `name` is used in messages.
 * Everything points into buf, which must outlive g. Returns 0, PD_EFORMAT for a malformed
 * file, PD_EUNSUPPORTED for a well-formed one this reader cannot take (GGUF v1, big-endian,
 * an unknown tensor type), PD_ENOMEM. */
int pd_gguf_parse(const uint8_t *buf, size_t len, const char *name, pd_gguf *g, pd_error *err);
/* Map the file at path and parse it. */
int pd_gguf_open(const char *path, pd_gguf *g, pd_error *err);
void pd_gguf_close(pd_gguf *g);
/* Does the file start with the GGUF magic? (Cheap: reads 4 bytes.) */
int pd_gguf_is_file(const char *path);
/* A directory that holds no config.json and exactly one *.gguf file (what `ponder pull REPO
 * --include '*Q4_K_M.gguf'` leaves in the cache): writes that file's path to out and returns
 * 1; else 0. */
int pd_gguf_in_dir(const char *dir, char *out, size_t out_size);

/* The metadata entry with this key, or NULL. */
const pd_gguf_kv *pd_gguf_find(const pd_gguf *g, const char *key);
/* The tensor with this name, or NULL. */
const pd_gguf_tensor *pd_gguf_tensor_find(const pd_gguf *g, const char *name);

/* Typed reads of metadata, each naming the file and key in its errors. An integer of any
 * integer type (bool too) in [lo, hi]; absent: *out = def, or PD_ENOTFOUND when required. */
int pd_gguf_get_int(const pd_gguf *g, const char *key, int required, int64_t def, int64_t lo, int64_t hi,
                    int64_t *out, pd_error *err);
/* A finite number (F32, F64 or an integer) in [lo, hi]; absent as for pd_gguf_get_int. */
int pd_gguf_get_float(const pd_gguf *g, const char *key, int required, double def, double lo, double hi,
                      double *out, pd_error *err);
/* A string (not NUL-terminated: *s, *len point into the image); PD_ENOTFOUND when absent. */
int pd_gguf_get_str(const pd_gguf *g, const char *key, const char **s, size_t *len, pd_error *err);
/* An array whose elements have type elem (PD_GGUF_*); PD_ENOTFOUND when absent. */
int pd_gguf_get_arr(const pd_gguf *g, const char *key, int elem, const pd_gguf_kv **kv, pd_error *err);

/* Elements of a validated array (no checks: the parser checked the array lies in the file). */
int64_t pd_gguf_arr_int(const pd_gguf *g, const pd_gguf_kv *kv, uint64_t i); /* integer types */
float pd_gguf_arr_f32(const pd_gguf *g, const pd_gguf_kv *kv, uint64_t i);
/* Walk a string array: start with *off = kv->off; each call gives the next string and
 * advances *off. */
void pd_gguf_arr_str_next(const pd_gguf *g, size_t *off, const char **s, size_t *len);

#endif
