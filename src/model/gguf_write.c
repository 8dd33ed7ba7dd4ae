/* gguf_write.c — a GGUF v3 writer (see gguf_write.h; the format is in gguf.h).
 *
 * Metadata is serialised into a buffer as it is set; tensor infos get their offsets as they
 * are added (each rounded up to the alignment), so the header, the metadata and the infos
 * can be written before any tensor data, which is then streamed: a model far larger than
 * memory is written one row at a time. The output is a temporary file in the target's
 * directory (so the rename stays on one file system), renamed over the target only after
 * every byte is written and synced. */
#include "model/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pd_gguf_writer_init(pd_gguf_writer *w, size_t alignment) {
    memset(w, 0, sizeof *w);
    w->alignment = alignment ? alignment : PD_GGUF_DEFAULT_ALIGNMENT;
    if (w->alignment != PD_GGUF_DEFAULT_ALIGNMENT) pd_gguf_w_u32(w, "general.alignment", (uint32_t)w->alignment);
}

void pd_gguf_writer_free(pd_gguf_writer *w) {
    if (w->f) fclose(w->f);
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    pd_buf_free(&w->meta);
    memset(w, 0, sizeof *w);
}

/* ---- metadata ---- */

static void put(pd_gguf_writer *w, const void *p, size_t n) {
    if (pd_buf_append(&w->meta, p, n)) w->oom = 1;
}
static void put_u32(pd_gguf_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(w, b, 4);
}
static void put_u64(pd_gguf_writer *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}
static void put_str(pd_gguf_writer *w, const char *s, size_t n) {
    put_u64(w, n);
    put(w, s, n);
}
static void put_f32(pd_gguf_writer *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(w, u);
}
/* The key and the value type. */
static void key(pd_gguf_writer *w, const char *k, uint32_t type) {
    put_str(w, k, strlen(k));
    put_u32(w, type);
    w->n_kv++;
}

void pd_gguf_w_u32(pd_gguf_writer *w, const char *k, uint32_t v) { key(w, k, PD_GGUF_U32), put_u32(w, v); }
void pd_gguf_w_i32(pd_gguf_writer *w, const char *k, int32_t v) { key(w, k, PD_GGUF_I32), put_u32(w, (uint32_t)v); }
void pd_gguf_w_f32(pd_gguf_writer *w, const char *k, float v) { key(w, k, PD_GGUF_F32), put_f32(w, v); }
void pd_gguf_w_bool(pd_gguf_writer *w, const char *k, int v) {
    uint8_t b = v ? 1 : 0;
    key(w, k, PD_GGUF_BOOL), put(w, &b, 1);
}
void pd_gguf_w_strn(pd_gguf_writer *w, const char *k, const char *s, size_t n) { key(w, k, PD_GGUF_STRING), put_str(w, s, n); }
void pd_gguf_w_str(pd_gguf_writer *w, const char *k, const char *s) { pd_gguf_w_strn(w, k, s, strlen(s)); }

void pd_gguf_w_arr_str(pd_gguf_writer *w, const char *k, const char *const *s, const size_t *lens, size_t n) {
    key(w, k, PD_GGUF_ARRAY), put_u32(w, PD_GGUF_STRING), put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_str(w, s[i], lens ? lens[i] : strlen(s[i]));
}
void pd_gguf_w_arr_i32(pd_gguf_writer *w, const char *k, const int32_t *v, size_t n) {
    key(w, k, PD_GGUF_ARRAY), put_u32(w, PD_GGUF_I32), put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_u32(w, (uint32_t)v[i]);
}
void pd_gguf_w_arr_f32(pd_gguf_writer *w, const char *k, const float *v, size_t n) {
    key(w, k, PD_GGUF_ARRAY), put_u32(w, PD_GGUF_F32), put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_f32(w, v[i]);
}

/* ---- tensors ---- */

static uint64_t align_up(uint64_t x, size_t a) { return (x + a - 1) / a * a; }

int pd_gguf_w_tensor(pd_gguf_writer *w, const char *name, int type, int n_dims, const uint64_t *ne, pd_error *err) {
    size_t be = pd_ggml_block_elems(type), bb = pd_ggml_block_bytes(type);
    if (!be || n_dims < 1 || n_dims > PD_GGUF_MAX_DIMS || !ne[0] || ne[0] % be)
        return pd_err_set(err, PD_EINVAL, "tensor '%s': %d dimensions, ne[0] %llu: not a valid %s tensor", name, n_dims,
                          (unsigned long long)(n_dims >= 1 ? ne[0] : 0), pd_ggml_type_name(type) ? pd_ggml_type_name(type) : "?");
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        if (!ne[i] || n > UINT64_MAX / ne[i]) return pd_err_set(err, PD_EINVAL, "tensor '%s': bad shape", name);
        n *= ne[i];
    }
    if (pd_grow((void **)&w->t, &w->cap_t, w->n_t + 1, sizeof *w->t) || !(name = strdup(name)))
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    pd_gguf_wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < PD_GGUF_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->size = n / be * bb;
    t->offset = w->data_size;
    w->data_size = align_up(t->offset + t->size, w->alignment);
    return 0;
}

/* ---- the file ---- */

static int write_all(pd_gguf_writer *w, const void *p, size_t n, pd_error *err) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return pd_err_set(err, PD_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
    return 0;
}

static int write_zeros(pd_gguf_writer *w, size_t n, pd_error *err) {
    static const uint8_t zero[64];
    for (int rc; n; n -= n < sizeof zero ? n : sizeof zero)
        if ((rc = write_all(w, zero, n < sizeof zero ? n : sizeof zero, err))) return rc;
    return 0;
}

int pd_gguf_w_open(pd_gguf_writer *w, const char *path, pd_error *err) {
    if (w->oom) return pd_err_set(err, PD_ENOMEM, "%s: out of memory building the metadata", path);
    pd_buf tmp = {0};
    if (pd_buf_printf(&tmp, "%s.ponder-tmp-XXXXXX", path) || !(w->path = strdup(path))) {
        pd_buf_free(&tmp);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        int e = errno;
        pd_buf_free(&tmp);
        return pd_err_set(err, PD_EIO, "%s: cannot create the output file there: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    w->tmp = pd_buf_steal(&tmp);
    if (!(w->f = fdopen(fd, "wb"))) {
        close(fd);
        return pd_err_set(err, PD_EIO, "%s: %s", w->tmp, strerror(errno));
    }
    /* header, metadata and tensor infos into one buffer (the metadata buffer's tail) */
    pd_buf kv = w->meta;
    memset(&w->meta, 0, sizeof w->meta);
    put(w, "GGUF", 4);
    put_u32(w, 3);
    put_u64(w, w->n_t);
    put_u64(w, w->n_kv);
    put(w, kv.data, kv.len);
    pd_buf_free(&kv);
    for (size_t i = 0; i < w->n_t; i++) {
        const pd_gguf_wtensor *t = &w->t[i];
        put_str(w, t->name, strlen(t->name));
        put_u32(w, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(w, t->ne[d]);
        put_u32(w, (uint32_t)t->type);
        put_u64(w, t->offset);
    }
    if (w->oom) return pd_err_set(err, PD_ENOMEM, "%s: out of memory building the header", path);
    size_t head = w->meta.len;
    int rc = write_all(w, w->meta.data, head, err);
    if (!rc) rc = write_zeros(w, (size_t)(align_up(head, w->alignment) - head), err);
    pd_buf_free(&w->meta);
    w->cur = 0;
    w->cur_done = 0;
    return rc;
}

int pd_gguf_w_data(pd_gguf_writer *w, const void *p, size_t n, pd_error *err) {
    const uint8_t *b = p;
    while (n) {
        if (w->cur >= w->n_t) return pd_err_set(err, PD_EINVAL, "%s: more tensor data than the tensors hold", w->path);
        pd_gguf_wtensor *t = &w->t[w->cur];
        uint64_t left = t->size - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        int rc = write_all(w, b, k, err);
        if (rc) return rc;
        b += k, n -= k, w->cur_done += k;
        if (w->cur_done == t->size) { /* pad to the next tensor's start */
            uint64_t end = t->offset + t->size;
            if ((rc = write_zeros(w, (size_t)(align_up(end, w->alignment) - end), err))) return rc;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

const char *pd_gguf_w_tmp_path(const pd_gguf_writer *w) { return w->tmp; }

int pd_gguf_w_finish(pd_gguf_writer *w, pd_error *err) {
    if (!w->f) return w->tmp ? 0 : pd_err_set(err, PD_EINVAL, "GGUF writer: finish without open");
    if (w->cur != w->n_t)
        return pd_err_set(err, PD_EINVAL, "%s: tensor '%s' has %llu of its %llu bytes", w->path, w->t[w->cur].name,
                          (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].size);
    int bad = fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    int e = errno;
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    return bad ? pd_err_set(err, PD_EIO, "%s: write failed: %s", w->tmp, strerror(e)) : 0;
}

int pd_gguf_w_commit(pd_gguf_writer *w, pd_error *err) {
    int rc = pd_gguf_w_finish(w, err);
    if (rc) return rc;
    if (rename(w->tmp, w->path) != 0)
        return pd_err_set(err, PD_EIO, "%s: cannot rename into place: %s", w->path, strerror(errno));
    free(w->tmp);
    w->tmp = NULL;
    return 0;
}
