/* hub_listing.c — parsers for what the hub sends: the API file listing (JSON) and the
 * HTTP response headers of downloads.
 *
 * Everything here reads outside data and is fuzzed (fuzz/fuzz_hub_listing.c,
 * fuzz/fuzz_hub_header.c). The rules are strict on purpose: a path in the listing
 * becomes a path on disk under snapshots/COMMIT/, so it must not climb out with ".."
 * or be absolute; hashes become file names under blobs/, so they must be plain hex;
 * sizes are bounded before anything is allocated or compared. The parsers allocate
 * only what they return and keep no state. */
#include "hub_internal.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_LIMIT ((int64_t)1 << 53) /* largest file size accepted from a listing */

int pd_hub_is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return s[n] == 0;
}

/* Copy an n-digit hex string lowercased into out (n + 1 bytes). */
static void hex_lower(const char *s, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = 0;
}

int pd_hub_check_path(const char *path, pd_error *err) {
    size_t len = strlen(path);
    if (len == 0 || len > PD_HUB_MAX_PATH)
        return pd_err_set(err, PD_EFORMAT, "file path of %zu bytes (1..%d allowed)", len, PD_HUB_MAX_PATH);
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return pd_err_set(err, PD_EFORMAT, "file path '%.200s': empty, '.' or '..' component", path);
        if (n >= 11 && !memcmp(p + n - 11, ".incomplete", 11))
            return pd_err_set(err, PD_EFORMAT, "file path '%.200s': reserved name", path);
        if (n >= 8 && !memcmp(p, ".ponder-", 8))
            return pd_err_set(err, PD_EFORMAT, "file path '%.200s': reserved name", path);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c < 0x20 || c == 0x7f || c == '\\')
                return pd_err_set(err, PD_EFORMAT, "file path '%.200s': control byte or backslash", path);
        }
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

/* Read an optional integer size field: 0 (and *out set, or left alone when absent), or
 * an error naming the field. */
static int size_field(json_t *obj, const char *key, int64_t *out, const char *path, pd_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SIZE_LIMIT)
        return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"%s\" is not a size in [0, 2^53]",
                          path, key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* Compare two file entries by path (for the duplicate check). */
static int cmp_path(const void *a, const void *b) {
    return strcmp(((const pd_hub_file *)a)->path, ((const pd_hub_file *)b)->path);
}

void pd_hub_listing_free(pd_hub_listing *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n_files; i++) free(l->files[i].path);
    free(l->files);
    memset(l, 0, sizeof *l);
}

/* Parse one "siblings" entry into f (f->path allocated on success). */
static int parse_sibling(json_t *s, size_t i, pd_hub_file *f, pd_error *err) {
    memset(f, 0, sizeof *f);
    f->size = -1;
    if (!json_is_object(s)) return pd_err_set(err, PD_EFORMAT, "hub listing: siblings[%zu] is not an object", i);
    json_t *name = json_object_get(s, "rfilename");
    if (!json_is_string(name))
        return pd_err_set(err, PD_EFORMAT, "hub listing: siblings[%zu] has no \"rfilename\" string", i);
    const char *path = json_string_value(name);
    if (strlen(path) != json_string_length(name))
        return pd_err_set(err, PD_EFORMAT, "hub listing: siblings[%zu]: NUL byte in \"rfilename\"", i);
    int rc = pd_hub_check_path(path, err);
    if (rc) return pd_err_prefix(err, "hub listing: siblings[%zu]", i);
    int64_t size = -1, lfs_size = -1;
    if ((rc = size_field(s, "size", &size, path, err))) return rc;
    json_t *blob = json_object_get(s, "blobId");
    if (blob && !json_is_null(blob)) {
        if (!json_is_string(blob) || !pd_hub_is_hex(json_string_value(blob), 40))
            return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"blobId\" is not 40 hex digits", path);
        hex_lower(json_string_value(blob), 40, f->blob_id);
    }
    json_t *lfs = json_object_get(s, "lfs");
    if (lfs && !json_is_null(lfs)) {
        if (!json_is_object(lfs))
            return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"lfs\" is not an object", path);
        json_t *sha = json_object_get(lfs, "sha256");
        if (!json_is_string(sha) || !pd_hub_is_hex(json_string_value(sha), 64))
            return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"lfs.sha256\" is not 64 hex digits",
                              path);
        if ((rc = size_field(lfs, "size", &lfs_size, path, err))) return rc;
        if (lfs_size < 0)
            return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"lfs\" has no \"size\"", path);
        if (size >= 0 && size != lfs_size)
            return pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s': \"size\" %lld differs from \"lfs.size\" %lld",
                              path, (long long)size, (long long)lfs_size);
        f->lfs = 1;
        hex_lower(json_string_value(sha), 64, f->sha256);
        size = lfs_size;
    }
    f->size = size;
    if (!(f->path = strdup(path))) return pd_err_set(err, PD_ENOMEM, "hub listing: out of memory");
    return 0;
}

int pd_hub_listing_parse(const char *json, size_t len, pd_hub_listing *out, pd_error *err) {
    memset(out, 0, sizeof *out);
    if (len > PD_HUB_MAX_LISTING)
        return pd_err_set(err, PD_ELIMIT, "hub listing: %zu bytes (at most %u)", len, PD_HUB_MAX_LISTING);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) return pd_err_set(err, PD_EFORMAT, "hub listing: invalid JSON at line %d: %s", jerr.line, jerr.text);
    int rc = 0;
    json_t *sha = json_object_get(root, "sha");
    json_t *sib = json_object_get(root, "siblings");
    if (!json_is_object(root)) {
        rc = pd_err_set(err, PD_EFORMAT, "hub listing: not a JSON object");
    } else if (!json_is_string(sha) || !pd_hub_is_hex(json_string_value(sha), 40)) {
        rc = pd_err_set(err, PD_EFORMAT, "hub listing: \"sha\" is not a 40-hex commit hash");
    } else if (!json_is_array(sib)) {
        rc = pd_err_set(err, PD_EFORMAT, "hub listing: no \"siblings\" array");
    } else if (json_array_size(sib) > PD_HUB_MAX_FILES) {
        rc = pd_err_set(err, PD_ELIMIT, "hub listing: %zu files (at most %d)", json_array_size(sib), PD_HUB_MAX_FILES);
    }
    if (rc) goto done;
    hex_lower(json_string_value(sha), 40, out->commit);
    size_t n = json_array_size(sib);
    if (n && !(out->files = calloc(n, sizeof *out->files))) {
        rc = pd_err_set(err, PD_ENOMEM, "hub listing: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = parse_sibling(json_array_get(sib, i), i, &out->files[i], err))) goto done;
        out->n_files++;
    }
    if (n > 1) {
        qsort(out->files, n, sizeof *out->files, cmp_path);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(out->files[i - 1].path, out->files[i].path)) {
                rc = pd_err_set(err, PD_EFORMAT, "hub listing: file '%.200s' listed twice", out->files[i].path);
                goto done;
            }
    }
done:
    json_decref(root);
    if (rc) pd_hub_listing_free(out);
    return rc;
}

/* ---- HTTP headers ---- */

int pd_hub_header_split(const char *line, size_t len, char *name, size_t name_size, char *value,
                        size_t value_size) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (len == 0 || line[0] == ' ' || line[0] == '\t') return 0;
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line) return 0;
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c <= 0x20 || c >= 0x7f) return 0; /* "HTTP/1.1 200 OK" has a space before any colon */
    }
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t vlen = (size_t)(end - v);
    if (nlen >= name_size || vlen >= value_size) return -1;
    memcpy(name, line, nlen);
    name[nlen] = 0;
    memcpy(value, v, vlen);
    value[vlen] = 0;
    if (memchr(value, 0, vlen)) return -1;
    return 1;
}

/* Parse decimal digits at *p (at most 18, so no overflow): advances *p; 0 or -1. */
static int parse_digits(const char **p, int64_t *out) {
    const char *s = *p;
    int64_t v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        if (++n > 18) return -1;
        v = v * 10 + (*s++ - '0');
    }
    if (!n) return -1;
    *p = s;
    *out = v;
    return 0;
}

int pd_hub_parse_size(const char *value, int64_t *out) {
    const char *p = value;
    int64_t v;
    if (parse_digits(&p, &v) || *p) return -1;
    *out = v;
    return 0;
}

int pd_hub_content_range(const char *value, int64_t *start, int64_t *end, int64_t *total) {
    const char *p = value;
    if (strncmp(p, "bytes", 5)) return -1;
    p += 5;
    if (*p != ' ' && *p != '=') return -1;
    while (*p == ' ' || *p == '=') p++;
    int64_t a, b, t = -1;
    if (parse_digits(&p, &a) || *p++ != '-' || parse_digits(&p, &b) || *p++ != '/') return -1;
    if (*p == '*' && p[1] == 0) {
        t = -1;
    } else if (parse_digits(&p, &t) || *p) {
        return -1;
    }
    if (b < a || (t >= 0 && b >= t)) return -1;
    *start = a;
    *end = b;
    *total = t;
    return 0;
}

int pd_hub_etag_name(const char *value, char *out, size_t out_size) {
    const char *v = value;
    if (v[0] == 'W' && v[1] == '/') v += 2;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n == 0 || n > 128 || n >= out_size || v[0] == '.') return -1;
    if (n >= 11 && !memcmp(v + n - 11, ".incomplete", 11)) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return -1;
    }
    memcpy(out, v, n);
    out[n] = 0;
    return 0;
}
