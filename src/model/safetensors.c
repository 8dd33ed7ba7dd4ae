/* safetensors.c — parse and validate safetensors headers; open single and sharded checkpoints.
 *
 * Design: the file is memory-mapped once and never copied; a tensor is a view (pointer +
 * dtype + shape) into the mapping. Because the header is outside data, nothing in it is
 * trusted: the header length must fit the file, the JSON must be an object of well-formed
 * entries (no duplicate names), every dtype must be known, every shape dimension
 * non-negative with an element count and byte size that do not overflow, every byte range
 * must lie inside the data section with end - begin equal to the size the shape implies,
 * and no two non-empty tensors may overlap. Only then are data pointers formed.
 *
 * Trade-off: tensors are kept sorted by name and found by binary search; checkpoints have at
 * most tens of thousands of tensors, so this costs nothing next to the model's load. */
#include "model/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[PD_DT_COUNT] = {
    [PD_DT_F32] = {"F32", 4},  [PD_DT_F16] = {"F16", 2},   [PD_DT_BF16] = {"BF16", 2},
    [PD_DT_F64] = {"F64", 8},  [PD_DT_I64] = {"I64", 8},   [PD_DT_I32] = {"I32", 4},
    [PD_DT_I16] = {"I16", 2},  [PD_DT_I8] = {"I8", 1},     [PD_DT_U8] = {"U8", 1},
    [PD_DT_BOOL] = {"BOOL", 1}, [PD_DT_F8_E4M3] = {"F8_E4M3", 1}, [PD_DT_F8_E5M2] = {"F8_E5M2", 1},
    [PD_DT_U16] = {"U16", 2},  [PD_DT_U32] = {"U32", 4},   [PD_DT_U64] = {"U64", 8},
};

/* Name of a dtype ("?" when out of range). */
const char *pd_dtype_name(int dtype) {
    return dtype >= 0 && dtype < PD_DT_COUNT ? dtypes[dtype].name : "?";
}

/* Bytes per element of a dtype (0 when out of range). */
size_t pd_dtype_size(int dtype) {
    return dtype >= 0 && dtype < PD_DT_COUNT ? dtypes[dtype].size : 0;
}

/* Dtype code of a header dtype string, or -1. */
static int dtype_from_name(const char *s) {
    for (int i = 0; i < PD_DT_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) return i;
    return -1;
}

static int cmp_by_begin(const void *a, const void *b) {
    const pd_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const pd_st_tensor *)a)->name, ((const pd_st_tensor *)b)->name);
}

/* Read a non-negative JSON integer into *out; 0 or -1 when not one. */
static int json_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (unsigned long long)x > (unsigned long long)SIZE_MAX) return -1;
    *out = (size_t)x;
    return 0;
}

/* Validate one header entry and fill t (name not yet set). */
static int parse_entry(const char *fname, const char *key, json_t *v, size_t data_len, pd_st_tensor *t,
                       pd_error *err) {
    if (!json_is_object(v)) return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': header entry is not an object", fname, key);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"), *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': missing dtype", fname, key);
    t->dtype = dtype_from_name(json_string_value(jd));
    if (t->dtype < 0)
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", fname, key, json_string_value(jd));
    if (!json_is_array(js)) return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': missing shape", fname, key);
    size_t rank = json_array_size(js);
    if (rank > PD_ST_MAX_RANK)
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': rank %zu exceeds %d", fname, key, rank, PD_ST_MAX_RANK);
    t->rank = (int)rank;
    size_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        size_t d;
        if (json_size(json_array_get(js, i), &d) || d > ((size_t)1 << 40))
            return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': shape dimension %zu is not a valid size", fname, key, i);
        if (pd_mul_size(n, d, &n))
            return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': element count overflows", fname, key);
        t->shape[i] = (int64_t)d;
    }
    t->n_elems = n;
    size_t bytes;
    if (pd_mul_size(n, pd_dtype_size(t->dtype), &bytes))
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': byte size overflows", fname, key);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || json_size(json_array_get(jo, 0), &t->begin) ||
        json_size(json_array_get(jo, 1), &t->end))
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': data_offsets must be two non-negative integers", fname, key);
    if (t->begin > t->end)
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] run backwards", fname, key, t->begin, t->end);
    if (t->end > data_len)
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': data_offsets end %zu lies past the data section (%zu bytes; file truncated?)",
                          fname, key, t->end, data_len);
    if (t->end - t->begin != bytes)
        return pd_err_set(err, PD_EFORMAT, "%s: tensor '%s': %zu bytes in data_offsets but dtype %s and shape need %zu",
                          fname, key, t->end - t->begin, pd_dtype_name(t->dtype), bytes);
    return 0;
}

/* Parse a safetensors image in memory; see safetensors.h. */
int pd_st_parse(const uint8_t *buf, size_t len, const char *name, pd_st_file *f, pd_error *err) {
    memset(f, 0, sizeof *f);
    if (len < 8) return pd_err_set(err, PD_EFORMAT, "%s: file too short for a safetensors header (%zu bytes)", name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8)
        return pd_err_set(err, PD_EFORMAT, "%s: header length %llu exceeds the file size %zu (truncated?)", name,
                          (unsigned long long)hlen, len);
    if (hlen > PD_ST_MAX_HEADER)
        return pd_err_set(err, PD_EFORMAT, "%s: header length %llu exceeds the %zu-byte limit", name,
                          (unsigned long long)hlen, PD_ST_MAX_HEADER);
    if (hlen < 2) return pd_err_set(err, PD_EFORMAT, "%s: header of %llu bytes cannot hold a JSON object", name, (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: header is not valid JSON: %s (at byte %d)", name, jerr.text, jerr.position);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: header is not a JSON object", name);
        goto out;
    }
    size_t data_len = len - 8 - (size_t)hlen;
    const uint8_t *data = buf + 8 + hlen;
    size_t cap = json_object_size(root);
    f->tensors = calloc(cap ? cap : 1, sizeof *f->tensors);
    if (!f->tensors) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) {
                rc = pd_err_set(err, PD_EFORMAT, "%s: __metadata__ is not an object", name);
                goto out;
            }
            continue;
        }
        pd_st_tensor *t = &f->tensors[f->n_tensors];
        if ((rc = parse_entry(name, key, val, data_len, t, err))) goto out;
        t->name = strdup(key);
        if (!t->name) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        t->data = data + t->begin;
        f->n_tensors++;
    }
    /* No two non-empty byte ranges may overlap. */
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_begin);
    size_t prev_end = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const pd_st_tensor *t = &f->tensors[i];
        if (t->begin == t->end) continue;
        if (prev && t->begin < prev_end) {
            rc = pd_err_set(err, PD_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data section", name, prev, t->name);
            goto out;
        }
        prev_end = t->end;
        prev = t->name;
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_name);
out:
    json_decref(root);
    if (rc) pd_st_close(f);
    return rc;
}

/* Map and parse a file; see safetensors.h. */
int pd_st_open(const char *path, pd_st_file *f, pd_error *err) {
    pd_mmap m;
    memset(f, 0, sizeof *f);
    int rc = pd_mmap_open(path, &m, err);
    if (rc) return rc;
    rc = pd_st_parse(m.data, m.len, path, f, err);
    if (rc) {
        pd_mmap_close(&m);
        return rc;
    }
    f->map = m;
    f->path = strdup(path);
    if (!f->path) {
        pd_st_close(f);
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

/* Free the tensor table and unmap the file. */
void pd_st_close(pd_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    if (f->map.data) pd_mmap_close(&f->map);
    memset(f, 0, sizeof *f);
}

/* Binary search by name; NULL when absent. */
const pd_st_tensor *pd_st_find(const pd_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (!c) return &f->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- sharded checkpoints ---- */

/* A shard name must be a plain file name: no directories, not hidden, ends in .safetensors. */
static int shard_name_ok(const char *s) {
    size_t n = strlen(s);
    const char *ext = ".safetensors";
    size_t e = strlen(ext);
    return n > e && n < 256 && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && !strcmp(s + n - e, ext);
}

void pd_st_index_free(pd_st_index *ix) {
    if (!ix) return;
    for (size_t i = 0; i < ix->n_shards; i++) free(ix->shards[i]);
    for (size_t i = 0; i < ix->n_names; i++) free(ix->names[i]);
    free(ix->shards);
    free(ix->names);
    free(ix->shard_of);
    memset(ix, 0, sizeof *ix);
}

/* Parse model.safetensors.index.json; see safetensors.h. */
int pd_st_index_parse(const char *json, size_t len, const char *name, pd_st_index *ix, pd_error *err) {
    memset(ix, 0, sizeof *ix);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return pd_err_set(err, PD_EFORMAT, "%s: not valid JSON: %s (line %d)", name, jerr.text, jerr.line);
    int rc = 0;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: missing or empty \"weight_map\" object", name);
        goto out;
    }
    size_t n = json_object_size(wm);
    ix->names = calloc(n, sizeof *ix->names);
    ix->shard_of = calloc(n, sizeof *ix->shard_of);
    if (!ix->names || !ix->shard_of) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    const char *key;
    json_t *val;
    size_t cap = 0;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val) || !shard_name_ok(json_string_value(val))) {
            rc = pd_err_set(err, PD_EFORMAT, "%s: tensor '%s' maps to a bad shard file name", name, key);
            goto out;
        }
        const char *shard = json_string_value(val);
        size_t s = 0;
        while (s < ix->n_shards && strcmp(ix->shards[s], shard)) s++;
        if (s == ix->n_shards) {
            if (ix->n_shards >= PD_ST_MAX_SHARDS) {
                rc = pd_err_set(err, PD_EFORMAT, "%s: more than %d shards", name, PD_ST_MAX_SHARDS);
                goto out;
            }
            if (pd_grow((void **)&ix->shards, &cap, ix->n_shards + 1, sizeof *ix->shards) ||
                !(ix->shards[ix->n_shards] = strdup(shard))) {
                rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
                goto out;
            }
            ix->n_shards++;
        }
        if (!(ix->names[ix->n_names] = strdup(key))) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        ix->shard_of[ix->n_names++] = s;
    }
out:
    json_decref(root);
    if (rc) pd_st_index_free(ix);
    return rc;
}

/* Open a checkpoint directory (single file or index + shards); see safetensors.h. As in
 * transformers, model.safetensors wins when a directory holds both it and an index. */
int pd_st_set_open(const char *dir, pd_st_set *s, pd_error *err) {
    memset(s, 0, sizeof *s);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (pd_file_exists(path)) {
        s->files = calloc(1, sizeof *s->files);
        if (!s->files) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
        int rc = pd_st_open(path, &s->files[0], err);
        if (rc) {
            pd_st_set_close(s);
            return rc;
        }
        s->n_files = 1;
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!pd_file_exists(path)) {
        /* PyTorch pickles can run code when loaded: never read, but say how to convert */
        char bin[4200];
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
        int has_bin = pd_file_exists(bin);
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin.index.json", dir);
        has_bin |= pd_file_exists(bin);
        if (has_bin)
            return pd_err_set(err, PD_EUNSUPPORTED,
                              "%.200s: holds pytorch_model.bin, which ponder does not read (unpickling can "
                              "run code); convert it once to model.safetensors, e.g. in Python: "
                              "safetensors.torch.save_file(torch.load('pytorch_model.bin'), "
                              "'model.safetensors', metadata={'format': 'pt'})",
                              dir);
        return pd_err_set(err, PD_ENOTFOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    char *text = NULL;
    size_t len = 0;
    int rc = pd_file_read(path, &text, &len, err);
    if (rc) return rc;
    pd_st_index ix;
    rc = pd_st_index_parse(text, len, path, &ix, err);
    free(text);
    if (rc) return rc;
    s->files = calloc(ix.n_shards, sizeof *s->files);
    if (!s->files) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < ix.n_shards; i++) {
        char sp[4096];
        if ((size_t)snprintf(sp, sizeof sp, "%s/%s", dir, ix.shards[i]) >= sizeof sp) {
            rc = pd_err_set(err, PD_EINVAL, "%s: shard path too long", path);
            goto out;
        }
        if ((rc = pd_st_open(sp, &s->files[i], err))) goto out;
        s->n_files++;
    }
    /* Every tensor the index names must be in its shard, and no tensor in two shards. */
    for (size_t i = 0; i < ix.n_names; i++)
        if (!pd_st_find(&s->files[ix.shard_of[i]], ix.names[i])) {
            rc = pd_err_set(err, PD_EFORMAT, "%s: tensor '%s' is not in %s as the index says", path, ix.names[i],
                            ix.shards[ix.shard_of[i]]);
            goto out;
        }
    for (size_t i = 0; i < s->n_files; i++)
        for (size_t j = 0; j < s->files[i].n_tensors; j++)
            for (size_t k = i + 1; k < s->n_files; k++)
                if (pd_st_find(&s->files[k], s->files[i].tensors[j].name)) {
                    rc = pd_err_set(err, PD_EFORMAT, "%s: tensor '%s' appears in both %s and %s", path,
                                    s->files[i].tensors[j].name, s->files[i].path, s->files[k].path);
                    goto out;
                }
out:
    pd_st_index_free(&ix);
    if (rc) pd_st_set_close(s);
    return rc;
}

void pd_st_set_close(pd_st_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_files; i++) pd_st_close(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

/* Find a tensor in any file of the set. */
const pd_st_tensor *pd_st_set_find(const pd_st_set *s, const char *name, const char **file) {
    for (size_t i = 0; i < s->n_files; i++) {
        const pd_st_tensor *t = pd_st_find(&s->files[i], name);
        if (t) {
            if (file) *file = s->files[i].path;
            return t;
        }
    }
    return NULL;
}
