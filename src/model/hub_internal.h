/* hub_internal.h — pieces of the hub module shared by its files, its tests and its fuzz
 * targets: SHA-256, the API listing parser, the HTTP header parsers, path checks. Not
 * part of the public API. */
#ifndef PONDER_HUB_INTERNAL_H
#define PONDER_HUB_INTERNAL_H

#include <stdint.h>

#include "ponder/hub.h"

/* ---- SHA-256 (FIPS 180-4), hub_sha256.c ---- */
typedef struct pd_sha256 {
    uint32_t h[8];
    uint64_t n;          /* bytes hashed so far */
    uint8_t block[64];   /* pending partial block (n % 64 bytes) */
} pd_sha256;

void pd_sha256_init(pd_sha256 *s);
void pd_sha256_update(pd_sha256 *s, const void *data, size_t len);
/* Finish and write the 32-byte digest (the state must be re-initialised to reuse it). */
void pd_sha256_final(pd_sha256 *s, uint8_t digest[32]);
/* Finish and write the digest as 64 lowercase hex characters + NUL. */
void pd_sha256_final_hex(pd_sha256 *s, char hex[65]);
/* One-shot hex digest of a buffer. */
void pd_sha256_hex(const void *data, size_t len, char hex[65]);

/* ---- the hub API listing, hub_listing.c ---- */
/* Bounds on what a listing may contain (a listing past them is rejected). */
#define PD_HUB_MAX_FILES 100000
#define PD_HUB_MAX_PATH 1024
#define PD_HUB_MAX_LISTING (64u << 20) /* bytes of JSON */

typedef struct pd_hub_file {
    char *path;          /* "rfilename": relative path in the repo, checked */
    int64_t size;        /* bytes, or -1 when the listing does not say */
    int lfs;             /* stored with LFS: sha256 below is the content's hash */
    char sha256[65];     /* lowercase hex, "" when not LFS */
    char blob_id[41];    /* git blob id (lowercase hex) when given, else "" */
} pd_hub_file;

typedef struct pd_hub_listing {
    char commit[41];     /* "sha": the commit the revision resolved to */
    pd_hub_file *files;
    size_t n_files;
} pd_hub_listing;

/* Parse the JSON of GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true:
 * {"sha": "<40 hex>", "siblings": [{"rfilename": "a/b.json", "size": 12,
 * "blobId": "<40 hex>", "lfs": {"sha256": "<64 hex>", "size": 12}}, ...], ...}.
 * Every path is checked with pd_hub_check_path, hashes are lowercased and checked,
 * sizes are checked to be in [0, 2^53]; where "size" and "lfs.size" both appear they
 * must agree; a path may appear once. Other fields are ignored. On error *out is left
 * empty. Free with pd_hub_listing_free. */
int pd_hub_listing_parse(const char *json, size_t len, pd_hub_listing *out, pd_error *err);
void pd_hub_listing_free(pd_hub_listing *l);

/* Check a file path from the outside: relative, 1..PD_HUB_MAX_PATH bytes, components
 * separated by single '/', none empty, "." or "..", no '\\', no control bytes, no
 * component ending in ".incomplete" or starting with ".ponder-". 0 or PD_EFORMAT. */
int pd_hub_check_path(const char *path, pd_error *err);

/* Whether s is exactly n lowercase-or-uppercase hex digits. */
int pd_hub_is_hex(const char *s, size_t n);

/* ---- HTTP response headers, hub_listing.c ---- */
/* Split one raw header line ("Name: value\r\n") into a name and a trimmed value, both
 * NUL-terminated into the caller's buffers (truncated values are rejected). Returns 1
 * for a header, 0 for a line that is not one (status line, blank line, continuation),
 * -1 when name or value does not fit. */
int pd_hub_header_split(const char *line, size_t len, char *name, size_t name_size, char *value,
                        size_t value_size);
/* Parse "bytes START-END/TOTAL" (TOTAL may be '*': *total = -1). 0, or -1 when malformed
 * or inconsistent (END < START, END >= TOTAL, numbers past 2^62). */
int pd_hub_content_range(const char *value, int64_t *start, int64_t *end, int64_t *total);
/* Parse a whole non-negative decimal (a Content-Length, X-Linked-Size): 0 or -1. */
int pd_hub_parse_size(const char *value, int64_t *out);
/* Normalise an ETag value into a blob name: drop a weak "W/" prefix and the quotes;
 * the result must be 1..128 characters from [A-Za-z0-9._-] and not start with '.'.
 * 0, or -1 when it is not usable as a file name. */
int pd_hub_etag_name(const char *value, char *out, size_t out_size);

#endif
