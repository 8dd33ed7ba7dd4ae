/* hub_pull.c — `ponder pull`: download a model or dataset repo into the Hugging Face hub cache.
 *
 * The flow, for repo ORG/NAME at revision REV (a branch, tag or commit):
 *
 *   1. GET {endpoint}/api/models/ORG/NAME/revision/REV?blobs=true (api/datasets/ for a
 *      dataset): the commit REV points at ("sha") and the files ("siblings": path, size,
 *      git blob id, LFS sha256).
 *   2. Pick the files: those the --include globs match (and a dataset's split files) when
 *      any are given, else what a model needs (pd_hub_default_file) or the JSONL/JSON files
 *      of a dataset (pd_hub_default_dataset_file).
 *   3. For each file not already in the cache: GET {endpoint}/ORG/NAME/resolve/COMMIT/PATH
 *      ({endpoint}/datasets/ORG/NAME/... for a dataset)
 *      (redirects followed: LFS files live on a CDN) into blobs/BLOB.incomplete, hashing as
 *      the bytes arrive; a partial file left by a cut connection or an earlier run is
 *      resumed with "Range: bytes=N-". Check the size, and the sha256 of LFS files, then
 *      rename to blobs/BLOB and link snapshots/COMMIT/PATH -> ../../blobs/BLOB.
 *   4. Write refs/REV = COMMIT last, so a name only resolves once its snapshot is whole.
 *
 * BLOB is the LFS sha256 or the git blob id from the listing, as huggingface_hub names
 * them, so both tools share blobs. When the listing gives neither, the partial file gets
 * a private name and the blob is named after the response's X-Linked-Etag / ETag (or the
 * content's sha256 when those are unusable).
 *
 * Failures: connection errors, cut bodies, 429 and 5xx are retried with exponential
 * backoff (attempts that received bytes reset the count); 401/403/404 and integrity
 * failures stop at once with a message that says what to do. Every number the server
 * sends (sizes, Content-Range) is checked before it is used; the body can never grow a
 * file past the size the listing announced. The Authorization header is not forwarded to
 * other hosts on redirects (libcurl's rule for custom headers), so a CDN never sees the
 * token.
 *
 * Not done: parallel downloads (one file at a time keeps the code simple; a single
 * stream usually fills the link), checking git blob ids of small non-LFS files (that
 * needs SHA-1; their size is checked), spaces. Datasets and models share every step; the
 * cache folder is datasets--ORG--NAME for a dataset, as huggingface_hub names it. */
#include "hub_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define ERRBODY_MAX 1024      /* bytes of an error response body kept for the message */
#define MAX_FAILURES 100      /* total failed attempts per request, progress or not */
#define PATH_SIZE 8192

/* One pull: settings and where things go. */
typedef struct pull_ctx {
    const char *repo, *rev;
    int dataset;              /* a dataset repo (api/datasets/, /datasets/ORG/NAME/resolve/) */
    char endpoint[1024];
    char *auth;               /* "Authorization: Bearer TOKEN", or NULL */
    char repo_dir[4608];      /* CACHE/models--ORG--NAME */
    char commit[41];
    int max_retries;
    double retry_base_s;
    pd_hub_progress_fn progress;
    void *progress_user;
    CURL *curl;
    struct curl_slist *headers;
    pd_hub_pull_result *res;
    /* the file being downloaded, for progress */
    const char *cur_file;
    size_t cur_index, n_selected;
} pull_ctx;

/* The state of one HTTP request: the response headers that matter and the body sink. */
typedef struct xfer {
    pull_ctx *c;
    int status;                /* of the latest response (redirects included) */
    int n_resp;                /* responses seen; the hub's own is the first */
    char repo_commit[64];      /* X-Repo-Commit (first response) */
    char etag[160];            /* X-Linked-Etag, else ETag (first response) */
    int etag_linked;
    int64_t linked_size;       /* X-Linked-Size (first response), -1 if none */
    int64_t content_length;    /* of the latest response, -1 if none */
    int has_range;             /* Content-Range of the latest response */
    int64_t range_start, range_end, range_total;
    char error_code[64], error_msg[256]; /* X-Error-Code / X-Error-Message */
    int header_error;          /* a header we need was malformed */
    /* sink: memory (API) or a file (downloads) */
    pd_buf *mem;
    size_t mem_limit;
    int fd;                    /* -1 for memory */
    pd_sha256 *sha;
    int64_t offset;            /* bytes in the file when the request started */
    int64_t written;           /* bytes received into the file by this request */
    int64_t limit;             /* the file may not grow past this (-1: no limit) */
    int started;               /* the first body byte of a 2xx response was handled */
    int sink_code;             /* an error the sink raised (curl then says WRITE_ERROR) */
    char sink_msg[400];
    pd_buf errbody;            /* body of a non-2xx response, capped */
} xfer;

/* ---- small helpers ---- */

/* snprintf into out, with an error when it does not fit. */
static int path_fmt(char *out, size_t size, pd_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int path_fmt(char *out, size_t size, pd_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) return pd_err_set(err, PD_ELIMIT, "path too long: %.200s", out);
    return 0;
}

/* Percent-encode s into b; '/' kept when keep_slash. */
static int url_encode(pd_buf *b, const char *s, int keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
        int rc = plain ? pd_buf_putc(b, (char)ch)
                       : pd_buf_printf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
        if (rc) return rc;
    }
    return 0;
}

/* Sleep for s seconds. */
static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* Size of a file, or -1 when it does not exist / is not regular. */
static int64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return -1;
    return (int64_t)st.st_size;
}

/* Write a small file atomically (tmp + rename). */
static int write_atomic(const char *path, const char *text, pd_error *err) {
    char tmp[PATH_SIZE];
    int rc = path_fmt(tmp, sizeof tmp, err, "%s.ponder-tmp", path);
    if (rc) return rc;
    if ((rc = pd_file_write(tmp, text, strlen(text), err))) return rc;
    if (rename(tmp, path)) {
        unlink(tmp);
        return pd_err_set(err, PD_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return 0;
}

/* mkdir -p of the directory part of path. */
static int mkdirs_parent(const char *path, pd_error *err) {
    char dir[PATH_SIZE];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = 0;
    return pd_mkdirs(dir, err);
}

/* ---- libcurl callbacks ---- */

/* Header callback: record the status line and the headers we use. */
static size_t on_header(char *line, size_t size, size_t nitems, void *user) {
    xfer *x = user;
    size_t len = size * nitems;
    if (len >= 5 && !memcmp(line, "HTTP/", 5)) {
        const char *sp = memchr(line, ' ', len);
        int code = 0;
        if (sp && (size_t)(sp - line) + 4 <= len && sp[1] >= '1' && sp[1] <= '5' && sp[2] >= '0' && sp[2] <= '9' &&
            sp[3] >= '0' && sp[3] <= '9')
            code = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        x->status = code;
        x->n_resp++;
        x->content_length = -1;
        x->has_range = 0;
        return len;
    }
    char name[64], value[512];
    int r = pd_hub_header_split(line, len, name, sizeof name, value, sizeof value);
    if (r <= 0) return len; /* not a header, or one too long for anything we read */
    int first = x->n_resp == 1;
    if (!strcasecmp(name, "content-length")) {
        if (pd_hub_parse_size(value, &x->content_length)) x->content_length = -1;
    } else if (!strcasecmp(name, "content-range")) {
        x->has_range = !pd_hub_content_range(value, &x->range_start, &x->range_end, &x->range_total);
        if (!x->has_range) x->header_error = 1;
    } else if (first && !strcasecmp(name, "x-repo-commit")) {
        snprintf(x->repo_commit, sizeof x->repo_commit, "%.63s", value);
    } else if (first && !strcasecmp(name, "x-linked-etag")) {
        snprintf(x->etag, sizeof x->etag, "%.159s", value);
        x->etag_linked = 1;
    } else if (first && !strcasecmp(name, "etag") && !x->etag_linked) {
        snprintf(x->etag, sizeof x->etag, "%.159s", value);
    } else if (first && !strcasecmp(name, "x-linked-size")) {
        if (pd_hub_parse_size(value, &x->linked_size)) x->header_error = 1;
    } else if (!strcasecmp(name, "x-error-code")) {
        snprintf(x->error_code, sizeof x->error_code, "%.63s", value);
    } else if (!strcasecmp(name, "x-error-message")) {
        snprintf(x->error_msg, sizeof x->error_msg, "%.255s", value);
    }
    return len;
}

/* Raise a sink error (the transfer then stops with CURLE_WRITE_ERROR). */
static size_t sink_fail(xfer *x, int code, const char *msg) {
    x->sink_code = code;
    snprintf(x->sink_msg, sizeof x->sink_msg, "%s", msg);
    return 0;
}

/* The first body bytes of a 2xx file response: append (206 at our offset) or restart
 * (200: the server ignored the Range). Returns 0 or a sink error. */
static int start_file_body(xfer *x) {
    char msg[300];
    if (x->status == 206) {
        if (!x->has_range || x->range_start != x->offset) {
            snprintf(msg, sizeof msg, "the partial response does not start at byte %lld", (long long)x->offset);
            sink_fail(x, PD_ENET, msg);
            return -1;
        }
        return 0;
    }
    if (x->offset > 0) { /* a full body: start the file again */
        if (ftruncate(x->fd, 0) || lseek(x->fd, 0, SEEK_SET) < 0) {
            snprintf(msg, sizeof msg, "cannot truncate the partial file: %s", strerror(errno));
            sink_fail(x, PD_EIO, msg);
            return -1;
        }
        x->offset = 0;
        pd_sha256_init(x->sha);
    }
    return 0;
}

/* When the listing gave no size, bound the body by what the server announced. */
static void limit_from_headers(xfer *x) {
    if (x->limit >= 0) return;
    if (x->linked_size >= 0) x->limit = x->linked_size;
    else if (x->status == 206 && x->has_range && x->range_total >= 0) x->limit = x->range_total;
    else if (x->status == 200 && x->content_length >= 0) x->limit = x->content_length;
}

/* Body callback: to memory, to the error buffer, or appended to the file (hashed). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    xfer *x = user;
    size_t len = size * nmemb;
    if (x->status < 200 || x->status >= 300) {
        size_t room = x->errbody.len < ERRBODY_MAX ? ERRBODY_MAX - x->errbody.len : 0;
        if (pd_buf_append(&x->errbody, data, len < room ? len : room)) return sink_fail(x, PD_ENOMEM, "out of memory");
        return len;
    }
    if (x->mem) {
        if (x->mem->len + len > x->mem_limit) return sink_fail(x, PD_ELIMIT, "response too large");
        if (pd_buf_append(x->mem, data, len)) return sink_fail(x, PD_ENOMEM, "out of memory");
        return len;
    }
    if (!x->started) {
        if (start_file_body(x)) return 0;
        limit_from_headers(x);
        x->started = 1;
    }
    if (x->limit >= 0 && (int64_t)len > x->limit - x->offset - x->written) {
        char msg[200];
        snprintf(msg, sizeof msg, "the server sent more than the expected %lld bytes", (long long)x->limit);
        return sink_fail(x, PD_ENET, msg);
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(x->fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "cannot write the download: %s", strerror(errno));
            return sink_fail(x, PD_EIO, msg);
        }
        done += (size_t)w;
    }
    pd_sha256_update(x->sha, data, len);
    x->written += (int64_t)len;
    pull_ctx *c = x->c;
    if (c->progress)
        c->progress(c->progress_user, c->cur_file, c->cur_index, c->n_selected, x->offset + x->written, x->limit);
    return len;
}

/* ---- one HTTP request with retries ---- */

/* Whether a curl failure is worth another try. */
static int transient_curl(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT: case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Set up the easy handle for a GET of url (Range from `from` when > 0). */
static void setup_request(pull_ctx *c, xfer *x, const char *url, int64_t from, int api) {
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ponder/" PD_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);   /* a stalled transfer (under 1 B/s */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);   /*   for 60 s) fails and is retried */
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (api) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    char range[64];
    if (from > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)from);
        curl_easy_setopt(h, CURLOPT_RANGE, range); /* libcurl copies the string */
    }
}

/* Reset the per-attempt response state of x (the sink stays). */
static void xfer_reset(xfer *x) {
    x->status = x->n_resp = 0;
    x->repo_commit[0] = x->etag[0] = x->error_code[0] = x->error_msg[0] = 0;
    x->etag_linked = x->has_range = x->header_error = x->started = x->sink_code = 0;
    x->linked_size = x->content_length = -1;
    x->written = 0;
    x->sink_msg[0] = 0;
    pd_buf_reset(&x->errbody);
}

/* The message for a failed HTTP status: what it means and what to do. */
static int http_error(pull_ctx *c, xfer *x, const char *what, pd_error *err) {
    int file = x->fd >= 0;
    char detail[400] = "";
    if (x->error_msg[0]) snprintf(detail, sizeof detail, " (%s)", x->error_msg);
    else if (x->error_code[0]) snprintf(detail, sizeof detail, " (%s)", x->error_code);
    switch (x->status) {
    case 401:
        return pd_err_set(err, PD_ENOTFOUND,
                          "%s: HTTP 401 from %s%s: the repository '%s' does not exist or needs authentication%s",
                          what, c->endpoint, detail, c->repo,
                          c->auth ? " (the token in HF_TOKEN was refused)" : "; set HF_TOKEN for private or gated repos");
    case 403:
        return pd_err_set(err, PD_ENOTFOUND,
                          "%s: HTTP 403 from %s%s: access to '%s' is denied (gated repo? accept its terms on the hub "
                          "and set HF_TOKEN)", what, c->endpoint, detail, c->repo);
    case 404:
        if (file)
            return pd_err_set(err, PD_ENOTFOUND, "%s: HTTP 404 from %s%s: the file is listed but not found in '%s' "
                              "at commit %s", what, c->endpoint, detail, c->repo, c->commit);
        return pd_err_set(err, PD_ENOTFOUND, "%s: HTTP 404 from %s%s: %s repository '%s' or revision '%s' not found",
                          what, c->endpoint, detail, c->dataset ? "dataset" : "model", c->repo, c->rev);
    default:
        return pd_err_set(err, PD_ENET, "%s: HTTP %d from %s%s", what, x->status, c->endpoint, detail);
    }
}

/* Perform the request once (called by the retry loops). Returns 0 on a 2xx response, 1
 * for a transient failure (message in err), or a negative error. */
static int perform_once(pull_ctx *c, xfer *x, const char *what, pd_error *err) {
    CURLcode rc = curl_easy_perform(c->curl);
    if (x->sink_code) return pd_err_set(err, x->sink_code, "%s: %s", what, x->sink_msg);
    if (rc != CURLE_OK) {
        int r = pd_err_set(err, PD_ENET, "%s: %s", what, curl_easy_strerror(rc));
        if (rc == CURLE_COULDNT_CONNECT) pd_err_prefix(err, "cannot reach %s", c->endpoint);
        return transient_curl(rc) ? 1 : r;
    }
    if (x->status == 429 || x->status >= 500) {
        pd_err_set(err, PD_ENET, "%s: HTTP %d from %s", what, x->status, c->endpoint);
        return 1;
    }
    if (x->status < 200 || x->status >= 300) return http_error(c, x, what, err);
    if (x->header_error) return pd_err_set(err, PD_ENET, "%s: malformed Content-Range or X-Linked-Size header", what);
    return 0;
}

/* Decide after a transient failure: sleep and return 0 to try again, or give up with
 * the last error. *failures counts attempts since the last progress. */
static int backoff(pull_ctx *c, int *failures, int *total, int progressed, pd_error *err) {
    if (progressed) *failures = 0;
    else (*failures)++;
    (*total)++;
    if (*failures > c->max_retries || *total > MAX_FAILURES)
        return pd_err_prefix(err, "giving up after %d attempt%s", *total, *total == 1 ? "" : "s");
    int k = *failures > 0 ? *failures - 1 : 0;
    double d = c->retry_base_s * (double)(1u << (k < 5 ? k : 5));
    sleep_s(d < 30 ? d : 30);
    return 0;
}

/* ---- the listing ---- */

/* GET the API listing of the revision and parse it. */
static int fetch_listing(pull_ctx *c, pd_hub_listing *l, pd_error *err) {
    pd_buf url = {0}, body = {0};
    int rc = pd_buf_printf(&url, "%s/api/%s/%s/revision/", c->endpoint, c->dataset ? "datasets" : "models", c->repo);
    if (!rc) rc = url_encode(&url, c->rev, 0);
    if (!rc) rc = pd_buf_puts(&url, "?blobs=true");
    if (rc) {
        pd_buf_free(&url);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    xfer x = {.c = c, .mem = &body, .mem_limit = PD_HUB_MAX_LISTING, .fd = -1};
    int failures = 0, total = 0;
    for (;;) {
        xfer_reset(&x);
        pd_buf_reset(&body);
        setup_request(c, &x, url.data, 0, 1);
        rc = perform_once(c, &x, "listing files", err);
        if (rc <= 0) break;
        if ((rc = backoff(c, &failures, &total, 0, err))) break;
    }
    if (!rc) rc = pd_hub_listing_parse(body.data ? body.data : "", body.len, l, err);
    if (rc == PD_EFORMAT) pd_err_prefix(err, "%s", url.data);
    pd_buf_free(&url);
    pd_buf_free(&body);
    pd_buf_free(&x.errbody);
    return rc;
}

/* ---- one file ---- */

/* Point snapshots/COMMIT/PATH at blobs/BLOB with a relative symlink (atomically). */
static int link_snapshot(pull_ctx *c, const char *path, const char *blob, pd_error *err) {
    char link[PATH_SIZE], target[PATH_SIZE], tmp[PATH_SIZE], cur[PATH_SIZE];
    int rc = path_fmt(link, sizeof link, err, "%s/snapshots/%s/%s", c->repo_dir, c->commit, path);
    if (rc) return rc;
    pd_buf t = {0};
    int bad = pd_buf_puts(&t, "../../");
    for (const char *p = path; *p; p++)
        if (*p == '/') bad |= pd_buf_puts(&t, "../");
    bad |= pd_buf_printf(&t, "blobs/%s", blob);
    rc = bad ? pd_err_set(err, PD_ENOMEM, "out of memory") : path_fmt(target, sizeof target, err, "%s", t.data);
    pd_buf_free(&t);
    if (rc) return rc;
    ssize_t n = readlink(link, cur, sizeof cur - 1);
    if (n >= 0 && (cur[n] = 0, !strcmp(cur, target))) return 0;
    if ((rc = mkdirs_parent(link, err))) return rc;
    const char *base = strrchr(link, '/') + 1;
    if ((rc = path_fmt(tmp, sizeof tmp, err, "%.*s.ponder-link-%s", (int)(base - link), link, base))) return rc;
    unlink(tmp);
    if (symlink(target, tmp)) return pd_err_set(err, PD_EIO, "%s: cannot create a symlink: %s", tmp, strerror(errno));
    if (rename(tmp, link)) {
        int e = errno;
        unlink(tmp);
        return pd_err_set(err, PD_EIO, "%s: cannot link into the snapshot: %s", link, strerror(e));
    }
    return 0;
}

/* Hash the first n bytes of an open file into s. */
static int hash_fd(int fd, int64_t n, pd_sha256 *s, const char *path, pd_error *err) {
    char buf[1 << 14];
    if (lseek(fd, 0, SEEK_SET) < 0) return pd_err_set(err, PD_EIO, "%s: %s", path, strerror(errno));
    while (n > 0) {
        ssize_t r = read(fd, buf, n < (int64_t)sizeof buf ? (size_t)n : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return pd_err_set(err, PD_EIO, "%s: cannot read the partial download", path);
        pd_sha256_update(s, buf, (size_t)r);
        n -= r;
    }
    return lseek(fd, 0, SEEK_END) < 0 ? pd_err_set(err, PD_EIO, "%s: %s", path, strerror(errno)) : 0;
}

/* Download one file into blobs/ and link it. */
static int pull_file(pull_ctx *c, const pd_hub_file *f, pd_error *err) {
    char blob[200] = "", blob_path[PATH_SIZE], part[PATH_SIZE], what[PD_HUB_MAX_PATH + 16];
    snprintf(what, sizeof what, "%s", f->path);
    int rc;
    if (f->lfs) snprintf(blob, sizeof blob, "%s", f->sha256);
    else if (f->blob_id[0]) snprintf(blob, sizeof blob, "%s", f->blob_id);
    c->cur_file = f->path;

    /* Already there? */
    if (blob[0]) {
        if ((rc = path_fmt(blob_path, sizeof blob_path, err, "%s/blobs/%s", c->repo_dir, blob))) return rc;
        int64_t have = file_size(blob_path);
        if (have >= 0 && (f->size < 0 || have == f->size)) {
            if (c->progress) c->progress(c->progress_user, f->path, c->cur_index, c->n_selected, have, have);
            return link_snapshot(c, f->path, blob, err);
        }
        if ((rc = path_fmt(part, sizeof part, err, "%s.incomplete", blob_path))) return rc;
    } else {
        char link[PATH_SIZE], key[65];
        if ((rc = path_fmt(link, sizeof link, err, "%s/snapshots/%s/%s", c->repo_dir, c->commit, f->path))) return rc;
        int64_t have = file_size(link);
        if (have >= 0 && (f->size < 0 || have == f->size)) {
            if (c->progress) c->progress(c->progress_user, f->path, c->cur_index, c->n_selected, have, have);
            return 0;
        }
        pd_buf k = {0};
        pd_buf_printf(&k, "%s/%s", c->commit, f->path);
        pd_sha256_hex(k.data ? k.data : "", k.len, key);
        pd_buf_free(&k);
        if ((rc = path_fmt(part, sizeof part, err, "%s/blobs/ponder-%.40s.incomplete", c->repo_dir, key))) return rc;
    }

    /* The URL. */
    pd_buf url = {0};
    pd_buf_printf(&url, "%s%s/%s/resolve/%s/", c->endpoint, c->dataset ? "/datasets" : "", c->repo, c->commit);
    if (url_encode(&url, f->path, 1) || !url.data) {
        pd_buf_free(&url);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }

    /* Open (or create) the partial file and take its lock. */
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        pd_buf_free(&url);
        return pd_err_set(err, PD_EIO, "%s: cannot create: %s", part, strerror(errno));
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        pd_buf_free(&url);
        return pd_err_set(err, PD_EIO, "%s: another process is downloading this file", part);
    }
    pd_sha256 sha;
    xfer x = {.c = c, .fd = fd, .sha = &sha};
    int failures = 0, total = 0;
    int64_t expect = f->size;
    for (;;) {
        struct stat st;
        if (fstat(fd, &st)) {
            rc = pd_err_set(err, PD_EIO, "%s: %s", part, strerror(errno));
            break;
        }
        int64_t have = (int64_t)st.st_size;
        if (expect >= 0 && have > expect) { /* longer than the file can be: start over */
            if (ftruncate(fd, 0)) {
                rc = pd_err_set(err, PD_EIO, "%s: %s", part, strerror(errno));
                break;
            }
            have = 0;
        }
        pd_sha256_init(&sha);
        if ((rc = hash_fd(fd, have, &sha, part, err))) break;
        xfer_reset(&x);
        x.offset = have;
        x.limit = expect;
        if (expect >= 0 && have == expect) { /* complete already (an earlier run stopped after the body) */
            rc = 0;
            break;
        }
        setup_request(c, &x, url.data, have, 0);
        rc = perform_once(c, &x, what, err);
        if (c->res && x.written > 0) c->res->bytes_downloaded += x.written;
        if (rc == 0 && !x.started) { /* a 2xx without body bytes */
            if (x.status == 206) {
                rc = pd_err_set(err, PD_ENET, "%s: empty partial response", what);
            } else if (x.offset > 0) { /* an empty full body: the file is empty */
                if (ftruncate(fd, 0)) rc = pd_err_set(err, PD_EIO, "%s: %s", part, strerror(errno));
                x.offset = 0;
                pd_sha256_init(&sha);
            }
        }
        if (rc < 0 && x.status == 416 && have > 0) { /* our partial file does not fit the file: start over */
            if (ftruncate(fd, 0)) {
                rc = pd_err_set(err, PD_EIO, "%s: %s", part, strerror(errno));
                break;
            }
            rc = 1;
        }
        if (rc <= 0) break;
        if ((rc = backoff(c, &failures, &total, x.written > 0, err))) break;
    }
    if (rc) {
        /* keep a partial file for the next run, unless it is empty or the server broke the
         * protocol (then its bytes cannot be trusted) */
        struct stat st;
        if (x.sink_code == PD_ENET || (!fstat(fd, &st) && st.st_size == 0)) unlink(part);
        close(fd);
        pd_buf_free(&url);
        pd_buf_free(&x.errbody);
        return rc;
    }

    /* Check what arrived: size (listing, else X-Linked-Size / Content-Length), commit, sha256. */
    int64_t got = x.offset + x.written;
    if (expect < 0) {
        if (x.linked_size >= 0) expect = x.linked_size;
        else if (x.has_range && x.range_total >= 0) expect = x.range_total;
        else if (x.content_length >= 0) expect = x.offset + x.content_length;
    } else if (x.linked_size >= 0 && x.linked_size != expect) {
        rc = pd_err_set(err, PD_ENET, "%s: the server says %lld bytes (X-Linked-Size), the listing %lld", what,
                        (long long)x.linked_size, (long long)expect);
    } else if (x.has_range && x.range_total >= 0 && x.range_total != expect) {
        rc = pd_err_set(err, PD_ENET, "%s: the server says %lld bytes (Content-Range), the listing %lld", what,
                        (long long)x.range_total, (long long)expect);
    }
    if (!rc && x.repo_commit[0] && strcasecmp(x.repo_commit, c->commit))
        rc = pd_err_set(err, PD_ENET, "%s: the server sent commit %.63s, expected %s", what, x.repo_commit, c->commit);
    if (!rc && expect >= 0 && got != expect)
        rc = pd_err_set(err, PD_ENET, "%s: received %lld bytes, expected %lld (the download was discarded)", what,
                        (long long)got, (long long)expect);
    char hex[65];
    pd_sha256_final_hex(&sha, hex);
    if (!rc && f->lfs && strcmp(hex, f->sha256))
        rc = pd_err_set(err, PD_ENET, "%s: sha256 mismatch: expected %s, got %s (the download was discarded)", what,
                        f->sha256, hex);
    if (!rc && !blob[0] && (!x.etag[0] || pd_hub_etag_name(x.etag, blob, sizeof blob)))
        snprintf(blob, sizeof blob, "%s", hex);
    if (rc) {
        unlink(part);
        close(fd);
        pd_buf_free(&url);
        pd_buf_free(&x.errbody);
        return rc;
    }
    close(fd);
    pd_buf_free(&url);
    pd_buf_free(&x.errbody);

    /* Into place. */
    if ((rc = path_fmt(blob_path, sizeof blob_path, err, "%s/blobs/%s", c->repo_dir, blob))) return rc;
    if (rename(part, blob_path)) return pd_err_set(err, PD_EIO, "%s: cannot rename into place: %s", blob_path, strerror(errno));
    if (c->res) c->res->n_downloaded++;
    if (c->progress) c->progress(c->progress_user, f->path, c->cur_index, c->n_selected, got, got);
    return link_snapshot(c, f->path, blob, err);
}

/* ---- the pull ---- */

/* Read the token: opts, $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN, then the token file that
 * `huggingface-cli login` writes ($HF_TOKEN_PATH, else $HF_HOME/token, else
 * ~/.cache/huggingface/token). Writes "Authorization: Bearer ..." into *auth (or NULL). */
static int read_token(const char *given, char **auth, pd_error *err) {
    *auth = NULL;
    const char *t = given;
    char *file_data = NULL;
    if (!t || !*t) t = getenv("HF_TOKEN");
    if (!t || !*t) t = getenv("HUGGING_FACE_HUB_TOKEN");
    if (!t || !*t) {
        char path[4200] = "";
        const char *v;
        if ((v = getenv("HF_TOKEN_PATH")) && *v) snprintf(path, sizeof path, "%s", v);
        else if ((v = getenv("HF_HOME")) && *v) snprintf(path, sizeof path, "%s/token", v);
        else if ((v = getenv("HOME")) && *v) snprintf(path, sizeof path, "%s/.cache/huggingface/token", v);
        size_t len = 0;
        if (path[0] && pd_file_exists(path) && !pd_file_read(path, &file_data, &len, NULL)) t = file_data;
    }
    if (!t) return 0;
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\n' || t[n - 1] == '\r')) n--;
    int rc = 0;
    if (n > 0) {
        for (size_t i = 0; i < n && !rc; i++)
            if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
                rc = pd_err_set(err, PD_EINVAL, "the Hugging Face token holds a space or control character");
        if (!rc && n > 4096) rc = pd_err_set(err, PD_EINVAL, "the Hugging Face token is too long");
        if (!rc) {
            pd_buf b = {0};
            if (pd_buf_printf(&b, "Authorization: Bearer %.*s", (int)n, t)) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
            else *auth = pd_buf_steal(&b);
        }
    }
    free(file_data);
    return rc;
}

/* Whether a file is selected: a match of an include glob or of the dataset split when
 * either is given, else a default file of the repo's kind. */
static int selected(const pd_hub_file *f, const pd_hub_pull_opts *o) {
    int split = o->dataset && o->split && *o->split;
    if (!split && o->n_include == 0)
        return o->dataset ? pd_hub_default_dataset_file(f->path) : pd_hub_default_file(f->path);
    for (size_t i = 0; i < o->n_include; i++)
        if (o->include[i] && !fnmatch(o->include[i], f->path, 0)) return 1;
    return split && (pd_hub_split_file(f->path, o->split, ".jsonl") || pd_hub_split_file(f->path, o->split, ".json"));
}

/* Append up to max paths of the listing that end with ext (all when ext is NULL) to b,
 * ", "-separated, "..." after the last; returns how many there are in all. */
static size_t list_paths(pd_buf *b, const pd_hub_listing *l, const char *ext, const char *split, size_t max) {
    size_t n = 0, el = ext ? strlen(ext) : 0;
    for (size_t i = 0; i < l->n_files; i++) {
        const char *p = l->files[i].path;
        size_t pl = strlen(p);
        if (ext && (pl < el || strcmp(p + pl - el, ext))) continue;
        if (ext && split && !pd_hub_split_file(p, split, ext)) continue;
        if (n < max) pd_buf_printf(b, "%s%s", n ? ", " : "", p);
        else if (n == max) pd_buf_puts(b, ", ...");
        n++;
    }
    return n;
}

/* The error for a pull that selected no file: what the repo holds and what to do. */
static int nothing_selected(const pull_ctx *c, const pd_hub_listing *l, const pd_hub_pull_opts *o, pd_error *err) {
    pd_buf b = {0};
    int rc;
    const char *split = o->dataset && o->split && *o->split ? o->split : NULL;
    if (o->dataset && list_paths(&b, l, ".parquet", split, 4)) {
        rc = pd_err_set(err, PD_EFORMAT,
                        "dataset %s@%s: %s%s%s is only in parquet (%s), which ponder does not read (Debian has no "
                        "parquet library for C); convert it once to JSONL: python3 -c \"from datasets import "
                        "load_dataset; load_dataset('%s', split='%s').to_json('%s.jsonl')\" and give --dataset %s.jsonl",
                        c->repo, c->rev, split ? "split '" : "the data", split ? split : "", split ? "'" : "",
                        b.data ? b.data : "", c->repo, split ? split : "test", split ? split : "test",
                        split ? split : "test");
    } else if (!o->dataset && o->n_include == 0 && list_paths(&b, l, ".gguf", NULL, 6)) {
        rc = pd_err_set(err, PD_EINVAL,
                        "pull %s@%s: a GGUF repository (%s); choose the file with --include, e.g. --include "
                        "'*Q4_K_M.gguf'", c->repo, c->rev, b.data ? b.data : "");
    } else {
        size_t n = list_paths(&b, l, NULL, NULL, 8);
        const char *want = split ? "the split's JSONL/JSON files (" : o->n_include ? "--include" :
                           o->dataset ? "JSONL/JSON files" : "the model files";
        pd_buf w = {0};
        if (split)
            pd_buf_printf(&w, "%s%s.jsonl, data/%s.jsonl, %s/%s.jsonl, data/%s-*.jsonl, %s-*.jsonl or .json)%s", want,
                          split, split, split, split, split, split, o->n_include ? " or --include" : "");
        rc = pd_err_set(err, PD_ENOTFOUND, "pull %s%s@%s: no files to download: none matches %s (%zu in the repo%s%s)",
                        o->dataset ? "dataset " : "", c->repo, c->rev, w.data ? w.data : want, n, n ? ": " : "",
                        b.data ? b.data : "");
        pd_buf_free(&w);
    }
    pd_buf_free(&b);
    return rc;
}

int pd_hub_pull(const char *repo_id, const pd_hub_pull_opts *opts, pd_hub_pull_result *res, pd_error *err) {
    pd_hub_pull_opts none = {0};
    const pd_hub_pull_opts *o = opts ? opts : &none;
    pull_ctx c = {.repo = repo_id, .rev = o->revision && *o->revision ? o->revision : "main", .dataset = o->dataset};
    c.max_retries = o->max_retries > 0 ? o->max_retries : o->max_retries < 0 ? 0 : 5;
    c.retry_base_s = o->retry_base_s > 0 ? o->retry_base_s : 1.0;
    c.progress = o->progress;
    c.progress_user = o->progress_user;
    c.res = res;
    if (res) memset(res, 0, sizeof *res);
    int rc = pd_hub_check_repo_id(repo_id, err);
    if (rc) return rc;
    if ((rc = pd_hub_check_revision(c.rev, err))) return rc;
    const char *off = getenv("HF_HUB_OFFLINE");
    if (off && *off && strcmp(off, "0") && strcasecmp(off, "false"))
        return pd_err_set(err, PD_EINVAL, "HF_HUB_OFFLINE is set: not downloading %s", repo_id);

    /* Endpoint, cache, token. */
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = DEFAULT_ENDPOINT;
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
        return pd_err_set(err, PD_EINVAL, "hub endpoint '%.200s' is not an http(s) URL", ep);
    if ((rc = path_fmt(c.endpoint, sizeof c.endpoint, err, "%s", ep))) return rc;
    for (size_t n = strlen(c.endpoint); n && c.endpoint[n - 1] == '/';) c.endpoint[--n] = 0;
    char cache[4096];
    if (o->cache_dir && *o->cache_dir) rc = path_fmt(cache, sizeof cache, err, "%s", o->cache_dir);
    else rc = pd_hub_cache_dir(cache, sizeof cache, err);
    if (rc) return rc;
    const char *slash = strchr(repo_id, '/');
    if ((rc = path_fmt(c.repo_dir, sizeof c.repo_dir, err, "%s/%s--%.*s--%s", cache, o->dataset ? "datasets" : "models",
                       (int)(slash - repo_id), repo_id, slash + 1)))
        return rc;
    if ((rc = read_token(o->token, &c.auth, err))) return rc;

    pd_hub_listing l = {0};
    char dir[PATH_SIZE];
    if (!(c.curl = curl_easy_init())) {
        rc = pd_err_set(err, PD_ENOMEM, "cannot start libcurl");
        goto done;
    }
    if (c.auth && !(c.headers = curl_slist_append(NULL, c.auth))) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        goto done;
    }

    /* 1. The listing. */
    if ((rc = fetch_listing(&c, &l, err))) {
        pd_err_prefix(err, "pull %s@%s", repo_id, c.rev);
        goto done;
    }
    if (strlen(c.rev) == 40 && pd_hub_is_hex(c.rev, 40) && strcasecmp(c.rev, l.commit)) {
        rc = pd_err_set(err, PD_ENET, "pull %s: asked for commit %s, the hub answered %s", repo_id, c.rev, l.commit);
        goto done;
    }
    memcpy(c.commit, l.commit, sizeof c.commit);

    /* 2. The selection. Refused when it holds nothing to use: no file; a dataset without
     * JSONL/JSON data (only README.md) unless --include chose it; a GGUF repo (no
     * safetensors) without --include. */
    size_t n_data = 0, n_safetensors = 0, n_gguf = 0;
    for (size_t i = 0; i < l.n_files; i++) {
        const char *p = l.files[i].path;
        size_t pl = strlen(p);
        int sel = selected(&l.files[i], o);
        c.n_selected += sel;
        n_data += sel && ((pl > 6 && !strcmp(p + pl - 6, ".jsonl")) || (pl > 5 && !strcmp(p + pl - 5, ".json")));
        n_safetensors += pl > 12 && !strcmp(p + pl - 12, ".safetensors");
        n_gguf += pl > 5 && !strcmp(p + pl - 5, ".gguf");
    }
    if (res) res->n_files = c.n_selected;
    if (c.n_selected == 0 || (o->dataset && !o->n_include && n_data == 0) ||
        (!o->dataset && !o->n_include && n_gguf && !n_safetensors)) {
        rc = nothing_selected(&c, &l, o, err);
        goto done;
    }
    char blobs[PATH_SIZE];
    if ((rc = path_fmt(blobs, sizeof blobs, err, "%s/blobs", c.repo_dir)) ||
        (rc = path_fmt(dir, sizeof dir, err, "%s/snapshots/%s", c.repo_dir, c.commit)) ||
        (rc = pd_mkdirs(blobs, err)) || (rc = pd_mkdirs(dir, err)))
        goto done;

    /* 3. The files. */
    for (size_t i = 0; i < l.n_files; i++) {
        if (!selected(&l.files[i], o)) continue;
        if ((rc = pull_file(&c, &l.files[i], err))) {
            pd_err_prefix(err, "pull %s@%s", repo_id, c.rev);
            goto done;
        }
        c.cur_index++;
    }

    /* 4. The ref, last. */
    if (strcasecmp(c.rev, c.commit)) {
        char ref[PATH_SIZE], *old = NULL;
        size_t oldlen = 0;
        if ((rc = path_fmt(ref, sizeof ref, err, "%s/refs/%s", c.repo_dir, c.rev)) || (rc = mkdirs_parent(ref, err)))
            goto done;
        if (pd_file_exists(ref) && !pd_file_read(ref, &old, &oldlen, NULL) && oldlen == 40 && !memcmp(old, c.commit, 40)) {
            free(old);
        } else {
            free(old);
            if ((rc = write_atomic(ref, c.commit, err))) goto done;
        }
    }
    if (res) {
        memcpy(res->commit, c.commit, sizeof res->commit);
        if ((rc = path_fmt(res->dir, sizeof res->dir, err, "%s", dir))) goto done;
    }
done:
    pd_hub_listing_free(&l);
    curl_slist_free_all(c.headers);
    if (c.curl) curl_easy_cleanup(c.curl);
    free(c.auth);
    return rc;
}
