/* gguf.c — the GGUF reader: header, metadata, tensor infos, alignment (see gguf.h).
 *
 * The file is outside data, so the parser walks it with a bounds-checked cursor: every read
 * first checks the bytes are there, every count is compared with the bytes left before
 * anything is allocated from it (each element takes at least one byte, so a count larger
 * than the rest of the file is a lie, whatever the element type), and every error says the
 * byte offset where the walk stopped. Metadata values are not copied: an entry records the
 * offset of its value, and the typed getters read from the mapping. Tensor infos are checked
 * once the data section's start is known: a known type, ne[0] a whole number of blocks, the
 * byte count without overflow, an aligned offset, the bytes inside the file, no overlap. */
#include "model/gguf.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ggml tensor types ---- */

static const struct { int type; const char *name; size_t blck, bytes; } ggml_types[] = {
    {PD_GGML_F32, "F32", 1, 4},       {PD_GGML_F16, "F16", 1, 2},        {PD_GGML_Q4_0, "Q4_0", 32, 18},
    {PD_GGML_Q4_1, "Q4_1", 32, 20},   {PD_GGML_Q5_0, "Q5_0", 32, 22},    {PD_GGML_Q5_1, "Q5_1", 32, 24},
    {PD_GGML_Q8_0, "Q8_0", 32, 34},   {PD_GGML_Q8_1, "Q8_1", 32, 36},    {PD_GGML_Q2_K, "Q2_K", 256, 84},
    {PD_GGML_Q3_K, "Q3_K", 256, 110}, {PD_GGML_Q4_K, "Q4_K", 256, 144},  {PD_GGML_Q5_K, "Q5_K", 256, 176},
    {PD_GGML_Q6_K, "Q6_K", 256, 210}, {PD_GGML_Q8_K, "Q8_K", 256, 292},  {PD_GGML_IQ4_NL, "IQ4_NL", 32, 18},
    {PD_GGML_IQ4_XS, "IQ4_XS", 256, 136}, {PD_GGML_I8, "I8", 1, 1},      {PD_GGML_I16, "I16", 1, 2},
    {PD_GGML_I32, "I32", 1, 4},       {PD_GGML_I64, "I64", 1, 8},        {PD_GGML_F64, "F64", 1, 8},
    {PD_GGML_BF16, "BF16", 1, 2},
};

static int type_index(int type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof *ggml_types; i++)
        if (ggml_types[i].type == type) return (int)i;
    return -1;
}
const char *pd_ggml_type_name(int type) {
    int i = type_index(type);
    return i < 0 ? NULL : ggml_types[i].name;
}
size_t pd_ggml_block_elems(int type) {
    int i = type_index(type);
    return i < 0 ? 0 : ggml_types[i].blck;
}
size_t pd_ggml_block_bytes(int type) {
    int i = type_index(type);
    return i < 0 ? 0 : ggml_types[i].bytes;
}

/* Bytes of one metadata value of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
static size_t vtype_size(int t) {
    static const size_t sz[PD_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t >= 0 && t < PD_GGUF_VTYPE_COUNT ? sz[t] : 0;
}
/* The fewest bytes an element of type t can take (a string: its u64 length; an array: its
 * u32 type and u64 count), used to reject counts larger than the bytes left. */
static size_t vtype_min_size(int t) {
    if (t == PD_GGUF_STRING) return 8;
    if (t == PD_GGUF_ARRAY) return 12;
    return vtype_size(t);
}
static const char *vtype_name(int t) {
    static const char *names[PD_GGUF_VTYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                     "bool", "string", "array", "u64", "i64", "f64"};
    return t >= 0 && t < PD_GGUF_VTYPE_COUNT ? names[t] : "?";
}

/* ---- the cursor ---- */

typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
    const char *name;     /* file name for messages */
    pd_error *err;
} rd;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Check that n more bytes are there; `what` names what is being read. */
static int need(rd *r, size_t n, const char *what) {
    if (n > r->len - r->pos)
        return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: the file ends (%zu bytes needed, %zu left; truncated?)",
                          r->name, what, r->pos, n, r->len - r->pos);
    return 0;
}
static int rd_u32(rd *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return PD_EFORMAT;
    *v = (uint32_t)le(r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}
static int rd_u64(rd *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return PD_EFORMAT;
    *v = le(r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}
/* A string: its bytes start at *off and run *n bytes (checked to be inside the file). */
static int rd_str(rd *r, size_t *off, size_t *n, size_t max, const char *what) {
    uint64_t len;
    size_t at = r->pos;
    if (rd_u64(r, &len, what)) return PD_EFORMAT;
    if (len > r->len - r->pos)
        return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: length %llu runs past the end of the file (%zu bytes left)",
                          r->name, what, at, (unsigned long long)len, r->len - r->pos);
    if (len > max)
        return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: length %llu is over the limit of %zu", r->name, what, at,
                          (unsigned long long)len, max);
    *off = r->pos;
    *n = (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

/* Skip over one value of type t (arrays recursively), checking it lies in the file. */
static int skip_value(rd *r, int t, int depth, const char *key) {
    char what[96];
    snprintf(what, sizeof what, "metadata '%.60s'", key);
    if (t == PD_GGUF_STRING) {
        size_t off, n;
        return rd_str(r, &off, &n, SIZE_MAX, what);
    }
    if (t == PD_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        size_t at = r->pos;
        if (depth >= PD_GGUF_MAX_NESTING)
            return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: arrays nested deeper than %d", r->name, what, at,
                              PD_GGUF_MAX_NESTING);
        if (rd_u32(r, &et, what) || rd_u64(r, &n, what)) return PD_EFORMAT;
        if (et >= PD_GGUF_VTYPE_COUNT)
            return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: unknown array element type %u", r->name, what, at, et);
        if (n > (r->len - r->pos) / vtype_min_size((int)et))
            return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: %llu %s elements cannot fit in the %zu bytes left",
                              r->name, what, at, (unsigned long long)n, vtype_name((int)et), r->len - r->pos);
        if (et != PD_GGUF_STRING && et != PD_GGUF_ARRAY) {
            r->pos += (size_t)n * vtype_size((int)et); /* fits: checked just above */
            return 0;
        }
        for (uint64_t i = 0; i < n; i++)
            if (skip_value(r, (int)et, depth + 1, key)) return PD_EFORMAT;
        return 0;
    }
    if (t < 0 || t >= PD_GGUF_VTYPE_COUNT)
        return pd_err_set(r->err, PD_EFORMAT, "%s: %s at byte %zu: unknown value type %d", r->name, what, r->pos, t);
    if (need(r, vtype_size(t), what)) return PD_EFORMAT;
    r->pos += vtype_size(t);
    return 0;
}

/* ---- parsing ---- */

static int cmp_kv(const void *a, const void *b) {
    return strcmp(((const pd_gguf_kv *)a)->key, ((const pd_gguf_kv *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const pd_gguf_tensor *)a)->name, ((const pd_gguf_tensor *)b)->name);
}
static int cmp_tensor_off(const void *a, const void *b) {
    const pd_gguf_tensor *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A NUL-terminated copy of n bytes at p (NULL when out of memory). */
static char *dup_n(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* The header: magic, version, counts. */
static int parse_header(rd *r, pd_gguf *g, uint64_t *n_tensors, uint64_t *n_kv) {
    if (r->len < 4 || memcmp(r->p, "GGUF", 4))
        return pd_err_set(r->err, PD_EFORMAT, "%s: not a GGUF file (no \"GGUF\" magic at byte 0)", r->name);
    r->pos = 4;
    if (rd_u32(r, &g->version, "version")) return PD_EFORMAT;
    uint32_t v = g->version, swapped = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    if (v == 1) return pd_err_set(r->err, PD_EUNSUPPORTED, "%s: GGUF version 1 (32-bit counts) is not supported (2, 3)", r->name);
    if (swapped == 2 || swapped == 3)
        return pd_err_set(r->err, PD_EUNSUPPORTED, "%s: a big-endian GGUF file (version %u byte-swapped) is not supported", r->name,
                          swapped);
    if (v != 2 && v != 3) return pd_err_set(r->err, PD_EUNSUPPORTED, "%s: GGUF version %u is not supported (2, 3)", r->name, v);
    if (rd_u64(r, n_tensors, "tensor count") || rd_u64(r, n_kv, "metadata count")) return PD_EFORMAT;
    /* a key-value takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8 */
    if (*n_kv > (r->len - r->pos) / 13)
        return pd_err_set(r->err, PD_EFORMAT, "%s: metadata count %llu (at byte 16) cannot fit in the %zu bytes of the file",
                          r->name, (unsigned long long)*n_kv, r->len);
    if (*n_tensors > (r->len - r->pos) / 24)
        return pd_err_set(r->err, PD_EFORMAT, "%s: tensor count %llu (at byte 8) cannot fit in the %zu bytes of the file",
                          r->name, (unsigned long long)*n_tensors, r->len);
    return 0;
}

/* The metadata key-values; sets g->alignment from general.alignment. */
static int parse_kv(rd *r, pd_gguf *g, uint64_t n_kv) {
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    if (!g->kv) return pd_err_set(r->err, PD_ENOMEM, "%s: out of memory", r->name);
    for (uint64_t i = 0; i < n_kv; i++) {
        pd_gguf_kv *kv = &g->kv[i];
        size_t koff, klen;
        uint32_t t;
        kv->key_off = r->pos;
        if (rd_str(r, &koff, &klen, PD_GGUF_MAX_KEY, "metadata key")) return PD_EFORMAT;
        if (!(kv->key = dup_n(r->p + koff, klen))) return pd_err_set(r->err, PD_ENOMEM, "%s: out of memory", r->name);
        g->n_kv++;
        if (strlen(kv->key) != klen)
            return pd_err_set(r->err, PD_EFORMAT, "%s: metadata key at byte %zu holds a NUL byte", r->name, kv->key_off);
        char what[96];
        snprintf(what, sizeof what, "metadata '%.60s'", kv->key);
        if (rd_u32(r, &t, what)) return PD_EFORMAT;
        if (t >= PD_GGUF_VTYPE_COUNT)
            return pd_err_set(r->err, PD_EFORMAT, "%s: metadata '%.60s' at byte %zu: unknown value type %u", r->name, kv->key,
                              r->pos - 4, t);
        kv->type = (int)t;
        kv->off = r->pos;
        if (t == PD_GGUF_STRING) {
            size_t n;
            if (rd_str(r, &kv->off, &n, SIZE_MAX, what)) return PD_EFORMAT;
            kv->n = n;
        } else if (t == PD_GGUF_ARRAY) {
            size_t at = r->pos;
            if (skip_value(r, PD_GGUF_ARRAY, 0, kv->key)) return PD_EFORMAT;
            kv->arr_type = (int)le(r->p + at, 4);
            kv->n = le(r->p + at + 4, 8);
            kv->off = at + 12;
        } else if (skip_value(r, kv->type, 0, kv->key)) {
            return PD_EFORMAT;
        }
    }
    qsort(g->kv, g->n_kv, sizeof *g->kv, cmp_kv);
    for (size_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, g->kv[i - 1].key))
            return pd_err_set(r->err, PD_EFORMAT, "%s: metadata key '%.60s' appears twice (bytes %zu and %zu)", r->name,
                              g->kv[i].key, g->kv[i - 1].key_off, g->kv[i].key_off);
    g->alignment = PD_GGUF_DEFAULT_ALIGNMENT;
    const pd_gguf_kv *a = pd_gguf_find(g, "general.alignment");
    if (a) {
        uint64_t v = a->type == PD_GGUF_U32 ? le(r->p + a->off, 4) : 0;
        if (a->type != PD_GGUF_U32 || v == 0 || (v & (v - 1)) || v > (1u << 20))
            return pd_err_set(r->err, PD_EFORMAT, "%s: general.alignment (at byte %zu) must be a u32 power of two up to 2^20",
                              r->name, a->key_off);
        g->alignment = (size_t)v;
    }
    return 0;
}

/* The tensor infos (shapes and types checked here; offsets once the data section is known). */
static int parse_tensor_infos(rd *r, pd_gguf *g, uint64_t n_tensors) {
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return pd_err_set(r->err, PD_ENOMEM, "%s: out of memory", r->name);
    for (uint64_t i = 0; i < n_tensors; i++) {
        pd_gguf_tensor *t = &g->tensors[i];
        size_t noff, nlen;
        uint32_t nd, type;
        uint64_t off;
        t->info_off = r->pos;
        if (rd_str(r, &noff, &nlen, PD_GGUF_MAX_NAME, "tensor name")) return PD_EFORMAT;
        if (!(t->name = dup_n(r->p + noff, nlen))) return pd_err_set(r->err, PD_ENOMEM, "%s: out of memory", r->name);
        g->n_tensors++;
        if (strlen(t->name) != nlen)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor name at byte %zu holds a NUL byte", r->name, t->info_off);
        char what[96];
        snprintf(what, sizeof what, "tensor '%.60s'", t->name);
        if (rd_u32(r, &nd, what)) return PD_EFORMAT;
        if (nd < 1 || nd > PD_GGUF_MAX_DIMS)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): %u dimensions (1 to %d)", r->name,
                              t->name, t->info_off, nd, PD_GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        uint64_t n = 1;
        for (int d = 0; d < PD_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            if (rd_u64(r, &t->ne[d], what)) return PD_EFORMAT;
            if (t->ne[d] > ((uint64_t)1 << 40) || (t->ne[d] && n > (((uint64_t)1 << 50) / t->ne[d])))
                return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): dimension %u (%llu) makes it absurdly large",
                                  r->name, t->name, t->info_off, d, (unsigned long long)t->ne[d]);
            n *= t->ne[d];
        }
        t->n_elems = n;
        if (rd_u32(r, &type, what) || rd_u64(r, &off, what)) return PD_EFORMAT;
        t->type = (int)type;
        size_t blck = pd_ggml_block_elems((int)type);
        if (!blck)
            return pd_err_set(r->err, PD_EUNSUPPORTED, "%s: tensor '%.60s' (info at byte %zu): unknown tensor type %u", r->name,
                              t->name, t->info_off, type);
        if (t->ne[0] % blck)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): row length %llu is not a multiple of "
                              "the %s block (%zu)", r->name, t->name, t->info_off, (unsigned long long)t->ne[0],
                              pd_ggml_type_name((int)type), blck);
        /* n < 2^50 and a block is at most 292 bytes: the product fits in 64 bits */
        uint64_t size = n / blck * pd_ggml_block_bytes((int)type);
        if (size > SIZE_MAX || off > SIZE_MAX)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): too large for this machine", r->name,
                              t->name, t->info_off);
        t->size = (size_t)size;
        t->offset = (size_t)off;
    }
    return 0;
}

/* Place every tensor in the data section: aligned, inside the file, no overlaps. */
static int place_tensors(rd *r, pd_gguf *g) {
    size_t a = g->alignment, end = r->pos;
    size_t data_off = end % a ? end + (a - end % a) : end;
    if (data_off < end) data_off = SIZE_MAX; /* wrapped: no room */
    g->data_off = data_off > r->len ? r->len : data_off;
    if (g->n_tensors && data_off > r->len)
        return pd_err_set(r->err, PD_EFORMAT, "%s: the data section would start at byte %zu, past the end of the file (%zu bytes; truncated?)",
                          r->name, data_off, r->len);
    size_t data_len = r->len - g->data_off;
    for (size_t i = 0; i < g->n_tensors; i++) {
        pd_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): data offset %zu is not a multiple of the alignment %zu",
                              r->name, t->name, t->info_off, t->offset, a);
        if (t->offset > data_len || t->size > data_len - t->offset)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' (info at byte %zu): its %zu bytes at data offset %zu (file byte %zu) "
                              "run past the end of the file (%zu bytes; truncated?)", r->name, t->name, t->info_off, t->size,
                              t->offset, g->data_off + (t->offset < data_len ? t->offset : data_len), r->len);
        t->data = r->p + g->data_off + t->offset;
    }
    qsort(g->tensors, g->n_tensors, sizeof *g->tensors, cmp_tensor_off);
    for (size_t i = 1; i < g->n_tensors; i++) {
        const pd_gguf_tensor *p = &g->tensors[i - 1], *t = &g->tensors[i];
        if (t->size && p->size && t->offset < p->offset + p->size)
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensors '%.60s' and '%.60s' overlap in the data section (offsets %zu and %zu)",
                              r->name, p->name, t->name, p->offset, t->offset);
    }
    qsort(g->tensors, g->n_tensors, sizeof *g->tensors, cmp_tensor_name);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, g->tensors[i - 1].name))
            return pd_err_set(r->err, PD_EFORMAT, "%s: tensor '%.60s' appears twice (infos at bytes %zu and %zu)", r->name,
                              g->tensors[i].name, g->tensors[i - 1].info_off, g->tensors[i].info_off);
    return 0;
}

/* Parse an image in memory; see gguf.h. */
int pd_gguf_parse(const uint8_t *buf, size_t len, const char *name, pd_gguf *g, pd_error *err) {
    memset(g, 0, sizeof *g);
    g->base = buf;
    g->len = len;
    rd r = {buf, len, 0, name, err};
    uint64_t n_tensors, n_kv;
    int rc;
    if ((rc = parse_header(&r, g, &n_tensors, &n_kv)) || (rc = parse_kv(&r, g, n_kv)) ||
        (rc = parse_tensor_infos(&r, g, n_tensors)) || (rc = place_tensors(&r, g))) {
        pd_gguf_close(g);
        return rc;
    }
    return 0;
}

/* Map and parse a file; see gguf.h. */
int pd_gguf_open(const char *path, pd_gguf *g, pd_error *err) {
    pd_mmap m;
    memset(g, 0, sizeof *g);
    int rc = pd_mmap_open(path, &m, err);
    if (rc) return rc;
    if ((rc = pd_gguf_parse(m.data, m.len, path, g, err))) {
        pd_mmap_close(&m);
        return rc;
    }
    g->map = m;
    if (!(g->path = strdup(path))) {
        pd_gguf_close(g);
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

void pd_gguf_close(pd_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    for (size_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    if (g->map.data) pd_mmap_close(&g->map);
    memset(g, 0, sizeof *g);
}

int pd_gguf_is_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return ok;
}

int pd_gguf_in_dir(const char *dir, char *out, size_t out_size) {
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (pd_file_exists(cfg)) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".gguf")) continue;
        if (n++ == 0 && (size_t)snprintf(out, out_size, "%s/%s", dir, e->d_name) >= out_size) n = 2; /* too long: refuse */
    }
    closedir(d);
    return n == 1 && pd_gguf_is_file(out);
}

/* ---- lookups and typed reads ---- */

const pd_gguf_kv *pd_gguf_find(const pd_gguf *g, const char *key) {
    pd_gguf_kv k = {.key = (char *)key};
    return g->n_kv ? bsearch(&k, g->kv, g->n_kv, sizeof *g->kv, cmp_kv) : NULL;
}

const pd_gguf_tensor *pd_gguf_tensor_find(const pd_gguf *g, const char *name) {
    pd_gguf_tensor k = {.name = (char *)name};
    return g->n_tensors ? bsearch(&k, g->tensors, g->n_tensors, sizeof *g->tensors, cmp_tensor_name) : NULL;
}

/* The file name for messages. */
static const char *gname(const pd_gguf *g) { return g->path ? g->path : "gguf"; }

/* Integer value of type t at p; *ok = 0 when t is not an integer type. */
static int64_t int_at(const uint8_t *p, int t, int *ok) {
    *ok = 1;
    switch (t) {
    case PD_GGUF_U8: case PD_GGUF_BOOL: return p[0];
    case PD_GGUF_I8: return (int8_t)p[0];
    case PD_GGUF_U16: return (int64_t)le(p, 2);
    case PD_GGUF_I16: return (int16_t)le(p, 2);
    case PD_GGUF_U32: return (int64_t)le(p, 4);
    case PD_GGUF_I32: return (int32_t)le(p, 4);
    case PD_GGUF_U64: { uint64_t v = le(p, 8); return v > INT64_MAX ? INT64_MAX : (int64_t)v; }
    case PD_GGUF_I64: return (int64_t)le(p, 8);
    default: *ok = 0; return 0;
    }
}

int pd_gguf_get_int(const pd_gguf *g, const char *key, int required, int64_t def, int64_t lo, int64_t hi,
                    int64_t *out, pd_error *err) {
    const pd_gguf_kv *kv = pd_gguf_find(g, key);
    if (!kv) {
        if (required) return pd_err_set(err, PD_ENOTFOUND, "%s: missing metadata '%s'", gname(g), key);
        *out = def;
        return 0;
    }
    int ok;
    int64_t v = int_at(g->base + kv->off, kv->type, &ok);
    if (!ok)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) has type %s, not an integer", gname(g), key, kv->key_off,
                          vtype_name(kv->type));
    if (v < lo || v > hi)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) = %lld is out of range [%lld, %lld]", gname(g), key,
                          kv->key_off, (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int pd_gguf_get_float(const pd_gguf *g, const char *key, int required, double def, double lo, double hi,
                      double *out, pd_error *err) {
    const pd_gguf_kv *kv = pd_gguf_find(g, key);
    if (!kv) {
        if (required) return pd_err_set(err, PD_ENOTFOUND, "%s: missing metadata '%s'", gname(g), key);
        *out = def;
        return 0;
    }
    double v;
    int ok = 1;
    const uint8_t *p = g->base + kv->off;
    if (kv->type == PD_GGUF_F32) {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        v = f;
    } else if (kv->type == PD_GGUF_F64) {
        uint64_t u = le(p, 8);
        memcpy(&v, &u, 8);
    } else {
        v = (double)int_at(p, kv->type, &ok);
    }
    if (!ok)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) has type %s, not a number", gname(g), key, kv->key_off,
                          vtype_name(kv->type));
    if (!isfinite(v) || v < lo || v > hi)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) = %g is out of range [%g, %g]", gname(g), key,
                          kv->key_off, v, lo, hi);
    *out = v;
    return 0;
}

int pd_gguf_get_str(const pd_gguf *g, const char *key, const char **s, size_t *len, pd_error *err) {
    const pd_gguf_kv *kv = pd_gguf_find(g, key);
    if (!kv) return pd_err_set(err, PD_ENOTFOUND, "%s: missing metadata '%s'", gname(g), key);
    if (kv->type != PD_GGUF_STRING)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) has type %s, not a string", gname(g), key, kv->key_off,
                          vtype_name(kv->type));
    *s = (const char *)g->base + kv->off;
    *len = (size_t)kv->n;
    return 0;
}

int pd_gguf_get_arr(const pd_gguf *g, const char *key, int elem, const pd_gguf_kv **out, pd_error *err) {
    const pd_gguf_kv *kv = pd_gguf_find(g, key);
    if (!kv) return pd_err_set(err, PD_ENOTFOUND, "%s: missing metadata '%s'", gname(g), key);
    if (kv->type != PD_GGUF_ARRAY || kv->arr_type != elem)
        return pd_err_set(err, PD_EFORMAT, "%s: metadata '%s' (at byte %zu) has type %s%s%s, not array of %s", gname(g), key,
                          kv->key_off, vtype_name(kv->type), kv->type == PD_GGUF_ARRAY ? " of " : "",
                          kv->type == PD_GGUF_ARRAY ? vtype_name(kv->arr_type) : "", vtype_name(elem));
    *out = kv;
    return 0;
}

int64_t pd_gguf_arr_int(const pd_gguf *g, const pd_gguf_kv *kv, uint64_t i) {
    int ok;
    return int_at(g->base + kv->off + (size_t)i * vtype_size(kv->arr_type), kv->arr_type, &ok);
}

float pd_gguf_arr_f32(const pd_gguf *g, const pd_gguf_kv *kv, uint64_t i) {
    uint32_t u = (uint32_t)le(g->base + kv->off + (size_t)i * 4, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void pd_gguf_arr_str_next(const pd_gguf *g, size_t *off, const char **s, size_t *len) {
    *len = (size_t)le(g->base + *off, 8);
    *s = (const char *)g->base + *off + 8;
    *off += 8 + *len;
}
