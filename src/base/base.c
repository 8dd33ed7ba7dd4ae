/* base.c — errors, buffers, checked sizes, files, RNG and clock.
 *
 * Small utilities shared by every module. Nothing here keeps global state. */
#include "ponder/base.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---- */

int pd_err_set(pd_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int pd_err_prefix(pd_error *err, const char *fmt, ...) {
    if (!err) return PD_EINVAL;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg - 2)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %.*s", (int)(sizeof err->msg - (size_t)n - 3), old);
    return err->code;
}

const char *pd_code_name(int code) {
    switch (code) {
    case PD_OK: return "ok";
    case PD_EINVAL: return "invalid argument";
    case PD_EIO: return "i/o error";
    case PD_ENOMEM: return "out of memory";
    case PD_EFORMAT: return "malformed input";
    case PD_ENOTFOUND: return "not found";
    case PD_EUNSUPPORTED: return "unsupported";
    case PD_ENET: return "network error";
    case PD_ELIMIT: return "limit exceeded";
    default: return "unknown error";
    }
}

/* ---- buffers ---- */

int pd_buf_reserve(pd_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return PD_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) return PD_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int pd_buf_append(pd_buf *b, const void *p, size_t n) {
    if (pd_buf_reserve(b, n)) return PD_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int pd_buf_puts(pd_buf *b, const char *s) { return pd_buf_append(b, s, strlen(s)); }
int pd_buf_putc(pd_buf *b, char c) { return pd_buf_append(b, &c, 1); }

int pd_buf_vprintf(pd_buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return PD_EINVAL;
    if (pd_buf_reserve(b, (size_t)n)) return PD_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int pd_buf_printf(pd_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = pd_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int pd_buf_json_str(pd_buf *b, const char *s, size_t n) {
    if (pd_buf_reserve(b, n + 2)) return PD_ENOMEM;
    int rc = pd_buf_putc(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rc = pd_buf_puts(b, "\\\""); break;
        case '\\': rc = pd_buf_puts(b, "\\\\"); break;
        case '\n': rc = pd_buf_puts(b, "\\n"); break;
        case '\r': rc = pd_buf_puts(b, "\\r"); break;
        case '\t': rc = pd_buf_puts(b, "\\t"); break;
        default:
            if (c < 0x20) rc = pd_buf_printf(b, "\\u%04x", c);
            else rc = pd_buf_putc(b, (char)c);
        }
    }
    return rc ? rc : pd_buf_putc(b, '"');
}

void pd_buf_reset(pd_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void pd_buf_free(pd_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *pd_buf_steal(pd_buf *b) {
    char *p = b->data ? b->data : calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- checked sizes ---- */

int pd_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return PD_ENOMEM;
    *out = a * b;
    return 0;
}

int pd_grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) {
        if (c > SIZE_MAX / 2) return PD_ENOMEM;
        c *= 2;
    }
    size_t bytes;
    if (pd_mul_size(c, elem, &bytes)) return PD_ENOMEM;
    void *p = realloc(*arr, bytes);
    if (!p) return PD_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/* ---- files ---- */

int pd_file_read(const char *path, char **data, size_t *len, pd_error *err) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return pd_err_set(err, errno == ENOENT ? PD_ENOTFOUND : PD_EIO, "%s: %s", path, strerror(errno));
    pd_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (pd_buf_append(&b, chunk, n)) {
            fclose(f);
            pd_buf_free(&b);
            return pd_err_set(err, PD_ENOMEM, "%s: out of memory reading file", path);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        pd_buf_free(&b);
        return pd_err_set(err, PD_EIO, "%s: read error", path);
    }
    if (len) *len = b.len;
    *data = pd_buf_steal(&b);
    return 0;
}

int pd_file_write(const char *path, const void *data, size_t len, pd_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return pd_err_set(err, PD_EIO, "%s: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    int bad = (w != len) | (fclose(f) != 0);
    return bad ? pd_err_set(err, PD_EIO, "%s: write failed", path) : 0;
}

int pd_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int pd_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int pd_mkdirs(const char *path, pd_error *err) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return pd_err_set(err, PD_EINVAL, "bad directory path '%s'", path);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return pd_err_set(err, PD_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    if (!pd_dir_exists(path)) return pd_err_set(err, PD_EIO, "%s exists and is not a directory", path);
    return 0;
}

int pd_mmap_open(const char *path, pd_mmap *m, pd_error *err) {
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pd_err_set(err, errno == ENOENT ? PD_ENOTFOUND : PD_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pd_err_set(err, PD_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return pd_err_set(err, PD_EIO, "%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void pd_mmap_close(pd_mmap *m) {
    if (m->data) munmap((void *)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

/* ---- RNG ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t pd_hash_mix(uint64_t h, uint64_t v) {
    uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    return splitmix64(&x);
}

uint64_t pd_hash_str(uint64_t h, const char *s) {
    uint64_t f = 1469598103934665603ULL; /* FNV-1a, then mixed */
    for (; *s; s++) f = (f ^ (unsigned char)*s) * 1099511628211ULL;
    return pd_hash_mix(h, f);
}

void pd_rng_seed(pd_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pd_rng_u64(pd_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double pd_rng_f64(pd_rng *r) { return (double)(pd_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t pd_rng_below(pd_rng *r, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = pd_rng_u64(r);
    while (x >= lim);
    return x % n;
}

double pd_rng_normal(pd_rng *r) {
    double u1 = pd_rng_f64(r), u2 = pd_rng_f64(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- clock ---- */

double pd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
