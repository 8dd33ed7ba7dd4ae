/* ponder/base.h — errors, growable buffers, files, RNG: what every module uses.
 *
 * Error convention: library functions return 0 (PD_OK) on success or a negative
 * pd_code on failure, and fill a caller-owned pd_error with a one-line message that
 * names what and where ("model.safetensors: tensor 'x' ends past the file end").
 * A NULL pd_error is allowed: the message is then dropped. The library never exits. */
#ifndef PONDER_BASE_H
#define PONDER_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_VERSION "0.1.0"

typedef enum pd_code {
    PD_OK = 0,
    PD_EINVAL = -1,       /* bad argument or option */
    PD_EIO = -2,          /* file or stream could not be read or written */
    PD_ENOMEM = -3,       /* out of memory, or a size that overflows */
    PD_EFORMAT = -4,      /* malformed outside data (file, JSON, request) */
    PD_ENOTFOUND = -5,    /* a file, tensor, token or model that is not there */
    PD_EUNSUPPORTED = -6, /* well-formed but not supported (architecture, dtype) */
    PD_ENET = -7,         /* network or remote server failure */
    PD_ELIMIT = -8,       /* a configured bound was exceeded */
} pd_code;

typedef struct pd_error {
    int code;
    char msg[512];
} pd_error;

/* Record an error (printf-style message) and return `code`. */
int pd_err_set(pd_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix an existing message with "prefix: " (for adding the where); returns err->code. */
int pd_err_prefix(pd_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Short name of a code ("invalid argument", ...). */
const char *pd_code_name(int code);

/* ---- growable byte buffer (always NUL-terminated when non-empty) ---- */
typedef struct pd_buf {
    char *data;
    size_t len, cap;
} pd_buf;

int pd_buf_reserve(pd_buf *b, size_t extra);              /* room for `extra` more bytes + NUL */
int pd_buf_append(pd_buf *b, const void *p, size_t n);
int pd_buf_puts(pd_buf *b, const char *s);
int pd_buf_putc(pd_buf *b, char c);
int pd_buf_printf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pd_buf_vprintf(pd_buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included. */
int pd_buf_json_str(pd_buf *b, const char *s, size_t n);
void pd_buf_reset(pd_buf *b);                              /* len = 0, keeps memory */
void pd_buf_free(pd_buf *b);
/* Take ownership of the bytes ("" when empty); the buffer is left empty. */
char *pd_buf_steal(pd_buf *b);

/* ---- checked sizes ---- */
/* *out = a * b; returns 0, or PD_ENOMEM on overflow. */
int pd_mul_size(size_t a, size_t b, size_t *out);
/* Grow *arr (elements of `elem` bytes, capacity *cap) to hold at least `need`. */
int pd_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* ---- files ---- */
/* Read a whole file into a NUL-terminated malloc'd buffer. */
int pd_file_read(const char *path, char **data, size_t *len, pd_error *err);
int pd_file_write(const char *path, const void *data, size_t len, pd_error *err);
int pd_file_exists(const char *path);
int pd_dir_exists(const char *path);
/* mkdir -p */
int pd_mkdirs(const char *path, pd_error *err);

typedef struct pd_mmap {
    const uint8_t *data;
    size_t len;
} pd_mmap;
/* Map a file read-only (an empty file maps to data = NULL, len = 0). */
int pd_mmap_open(const char *path, pd_mmap *m, pd_error *err);
void pd_mmap_close(pd_mmap *m);

/* ---- deterministic RNG (xoshiro256**, seeded through splitmix64) ---- */
typedef struct pd_rng {
    uint64_t s[4];
} pd_rng;

/* Mix a value into a 64-bit hash (for deriving per-sequence seeds from ids). */
uint64_t pd_hash_mix(uint64_t h, uint64_t v);
uint64_t pd_hash_str(uint64_t h, const char *s);
void pd_rng_seed(pd_rng *r, uint64_t seed);
uint64_t pd_rng_u64(pd_rng *r);
double pd_rng_f64(pd_rng *r);              /* uniform in [0, 1) */
uint64_t pd_rng_below(pd_rng *r, uint64_t n); /* uniform in [0, n), n > 0 */
double pd_rng_normal(pd_rng *r);           /* standard normal */

/* ---- time ---- */
double pd_now(void);                       /* monotonic seconds */

#ifdef __cplusplus
}
#endif
#endif
