/* test_hub.c — model resolution and `ponder pull` (models, GGUF files, datasets) against a
 * fake hub.
 *
 * The fake hub is a libmicrohttpd server inside this process on 127.0.0.1 (ephemeral
 * port) that speaks the parts of the Hugging Face hub protocol pull uses: the API
 * listing (/api/models/ORG/NAME/revision/REV, with sizes and LFS hashes when
 * ?blobs=true), /ORG/NAME/resolve/COMMIT/PATH (small files directly with ETag and
 * X-Repo-Commit, LFS files by a 302 to /cdn/SHA256 with X-Linked-Etag / X-Linked-Size),
 * a Range-capable CDN, a private repo that needs "Bearer secret-token", a repo whose LFS
 * file does not match its listed sha256, and broken listings. Knobs make the CDN cut a
 * body half-way or answer 503, or die (close every connection without an answer). Dataset
 * repos are served under /api/datasets/ and /datasets/ORG/NAME/resolve/, as the hub does.
 * Every request is logged, so the tests can check what was
 * asked (Range, Authorization). HF_ENDPOINT points at it and HF_HOME at
 * build/tmp/test_hub/...; no network is used. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sys/file.h>
#include <netinet/in.h>
#include <pthread.h>
#include <arpa/inet.h>

#include "ponder.h"
#include "model/hub_internal.h"

#define TMP "build/tmp/test_hub"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define COMMIT_P "89abcdef0123456789abcdef0123456789abcdef"
#define TOKEN "secret-token"
#define LFS_SIZE 600000

/* ---- the fake hub ---- */

typedef struct ffile {
    const char *path;
    unsigned char *data;
    size_t len;
    int lfs;
    char sha[65];        /* true sha256 of data */
    char listed_sha[65]; /* what the listing says (differs for the corrupt repo) */
    char blob[41];       /* fake git blob id */
    long listed_delta;   /* the listing's size is off by this much */
    int missing;         /* listed, but resolve answers 404 */
} ffile;

typedef struct frepo {
    const char *id, *commit;
    int dataset;             /* a dataset repo (api/datasets/, /datasets/ORG/NAME/resolve/) */
    int private;
    int no_blobs;            /* listing without sizes / blob ids / LFS data, like an old hub */
    const char *raw_listing; /* served as-is instead of a generated one */
    ffile files[8];
    int n;
} frepo;

typedef struct logent {
    char url[300], range[64], auth[128], blobs[16];
} logent;

static struct {
    struct MHD_Daemon *d;
    int port;
    char endpoint[64];
    frepo repos[16];
    int n_repos;
    pthread_mutex_t mu;
    logent log[512];
    int n_log;
    int cut_next;       /* cut the next CDN body half-way */
    int fail_next;      /* answer 503 to the next n CDN requests */
    int fail_after_cut; /* after that cut, set fail_next to this */
    int ignore_range;   /* the CDN answers 200 with the whole body to Range requests */
    int die_after_cut;  /* after the next cut, answer nothing at all (a dead server) */
    int dead;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static unsigned char *make_bytes(size_t n, uint64_t seed) {
    unsigned char *p = malloc(n);
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)pd_rng_u64(&r);
    return p;
}

static void add_file(frepo *r, const char *path, const char *text, size_t lfs_len, uint64_t seed) {
    ffile *f = &r->files[r->n++];
    f->path = path;
    if (text) {
        f->len = strlen(text);
        f->data = (unsigned char *)strdup(text);
    } else {
        f->len = lfs_len;
        f->data = make_bytes(lfs_len, seed);
        f->lfs = 1;
    }
    pd_sha256_hex(f->data, f->len, f->sha);
    memcpy(f->listed_sha, f->sha, 65);
    char h[65];
    pd_buf k = {0};
    pd_buf_printf(&k, "git-%s-%s", r->id, path);
    pd_sha256_hex(k.data, k.len, h);
    pd_buf_free(&k);
    memcpy(f->blob, h, 40);
    f->blob[40] = 0;
}

/* A text file stored with LFS (as datasets' JSONL files are): served through the CDN. */
static void add_lfs_text(frepo *r, const char *path, const char *text) {
    add_file(r, path, text, 0, 0);
    r->files[r->n - 1].lfs = 1;
}

/* n MATH-like JSONL records for split `tag`. */
static char *jsonl_records(const char *tag, int n) {
    pd_buf b = {0};
    for (int i = 0; i < n; i++)
        pd_buf_printf(&b, "{\"problem\": \"What is %d + %d? (%s)\", \"answer\": \"%d\", \"level\": %d, "
                      "\"unique_id\": \"%s/%d.json\"}\n", i, i + 1, tag, 2 * i + 1, 1 + i % 5, tag, i);
    return pd_buf_steal(&b);
}
#define N_TEST_RECORDS 60
static char *g_test_jsonl, *g_train_jsonl;

static void setup_repos(void) {
    frepo *r = &S.repos[S.n_repos++];
    r->id = "test-org/tiny-model";
    r->commit = COMMIT;
    add_file(r, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8}\n", 0, 0);
    add_file(r, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}\n", 0, 0);
    add_file(r, "model.safetensors", NULL, LFS_SIZE, 1);
    add_file(r, "pytorch_model.bin", NULL, 5000, 2);
    add_file(r, ".gitattributes", "*.safetensors filter=lfs\n", 0, 0);
    add_file(r, "original/params.json", "{\"dim\": 8}\n", 0, 0);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/corrupt";
    r->commit = COMMIT;
    add_file(r, "config.json", "{}\n", 0, 0);
    add_file(r, "model.safetensors", NULL, 70000, 3);
    memset(r->files[1].listed_sha, 'a', 64); /* the listing lies */

    r = &S.repos[S.n_repos++];
    r->id = "test-org/private";
    r->commit = COMMIT_P;
    r->private = 1;
    add_file(r, "config.json", "{\"private\": true}\n", 0, 0);
    add_file(r, "model.safetensors", NULL, 30000, 4);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/noblobs";
    r->commit = COMMIT;
    r->no_blobs = 1;
    add_file(r, "config.json", "{\"old\": 1}\n", 0, 0);
    add_file(r, "model.safetensors", NULL, 40000, 5);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/short"; /* a body shorter than the listing says */
    r->commit = COMMIT;
    add_file(r, "config.json", "{\"short\": 1}\n", 0, 0);
    r->files[0].listed_delta = 10;

    r = &S.repos[S.n_repos++];
    r->id = "test-org/long"; /* a body longer than the listing says */
    r->commit = COMMIT;
    add_file(r, "model.safetensors", NULL, 50000, 6);
    r->files[0].listed_delta = -100;

    r = &S.repos[S.n_repos++];
    r->id = "test-org/ghost"; /* a listed file the server does not have */
    r->commit = COMMIT;
    add_file(r, "config.json", "{}\n", 0, 0);
    add_file(r, "tokenizer.json", "{}\n", 0, 0);
    r->files[1].missing = 1;

    r = &S.repos[S.n_repos++];
    r->id = "test-org/tiny-gguf"; /* a GGUF repo: several quantizations, no config.json */
    r->commit = COMMIT;
    add_file(r, "README.md", "# tiny gguf\n", 0, 0);
    add_file(r, ".gitattributes", "*.gguf filter=lfs\n", 0, 0);
    add_file(r, "tiny-Q4_K_M.gguf", NULL, 30000, 7);
    add_file(r, "tiny-Q8_0.gguf", NULL, 40000, 8);
    add_file(r, "tiny-f16.gguf", NULL, 50000, 9);

    g_test_jsonl = jsonl_records("test", N_TEST_RECORDS);
    g_train_jsonl = jsonl_records("train", 7);
    r = &S.repos[S.n_repos++];
    r->id = "test-org/math-set"; /* a dataset repo in the MATH-500 layout, plus a train split */
    r->commit = COMMIT;
    r->dataset = 1;
    add_file(r, "README.md", "---\nconfigs: []\n---\n", 0, 0);
    add_file(r, ".gitattributes", "*.jsonl filter=lfs\n", 0, 0);
    add_lfs_text(r, "test.jsonl", g_test_jsonl);
    add_lfs_text(r, "data/train-00000-of-00001.jsonl", g_train_jsonl);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/parquet-set"; /* a dataset held only as parquet */
    r->commit = COMMIT;
    r->dataset = 1;
    add_file(r, "README.md", "# parquet\n", 0, 0);
    add_file(r, "data/test-00000-of-00001.parquet", NULL, 3000, 10);
    add_file(r, "data/train-00000-of-00001.parquet", NULL, 3000, 11);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/json-set"; /* a split as a JSON array under data/ */
    r->commit = COMMIT;
    r->dataset = 1;
    add_file(r, "data/test.json", "[{\"question\": \"What is 2 + 2?\", \"answer\": 4},\n"
                                  " {\"question\": \"What is 3 + 3?\", \"answer\": 6}]\n", 0, 0);

    r = &S.repos[S.n_repos++];
    r->id = "test-org/badjson";
    r->raw_listing = "{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"config.json\", \"size\": 3},";

    r = &S.repos[S.n_repos++];
    r->id = "test-org/evil";
    r->raw_listing = "{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"config.json\", \"size\": 3},"
                     "{\"rfilename\": \"../../../../escaped.json\", \"size\": 3}]}";
    if (S.n_repos > (int)(sizeof S.repos / sizeof *S.repos)) abort();
}

static void free_repos(void) {
    for (int i = 0; i < S.n_repos; i++)
        for (int j = 0; j < S.repos[i].n; j++) free(S.repos[i].files[j].data);
    free(g_test_jsonl);
    free(g_train_jsonl);
}

/* The repo of this kind (model or dataset) with this id. */
static frepo *find_kind(const char *id, size_t n, int dataset) {
    for (int i = 0; i < S.n_repos; i++)
        if (strlen(S.repos[i].id) == n && !strncmp(S.repos[i].id, id, n) && S.repos[i].dataset == dataset)
            return &S.repos[i];
    return NULL;
}

static frepo *find_repo(const char *id, size_t n) {
    return find_kind(id, n, 0);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body, const char *err_code) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (err_code) MHD_add_response_header(resp, "X-Error-Code", err_code);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A body served through a callback, so it can stop early (the connection is then cut). */
typedef struct body {
    const unsigned char *data;
    size_t len, cut;
} body;

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max) {
    body *b = cls;
    if (pos >= b->cut) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = b->cut - (size_t)pos < max ? b->cut - (size_t)pos : max;
    memcpy(buf, b->data + pos, n);
    return (ssize_t)n;
}

/* Serve data with Range support; cut = stop after half of what is sent. */
static enum MHD_Result serve_bytes(struct MHD_Connection *conn, const ffile *f, const char *commit, int cut,
                                  int ignore_range) {
    const char *range = ignore_range ? NULL : MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
    size_t from = 0;
    unsigned status = 200;
    if (range) {
        unsigned long long a;
        char dash;
        if (sscanf(range, "bytes=%llu%c", &a, &dash) != 2 || dash != '-') return reply(conn, 400, "bad range", NULL);
        if (a >= f->len) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%zu", f->len);
            MHD_add_response_header(resp, "Content-Range", cr);
            enum MHD_Result ret = MHD_queue_response(conn, 416, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        from = (size_t)a;
        status = 206;
    }
    body *b = malloc(sizeof *b);
    b->data = f->data + from;
    b->len = f->len - from;
    b->cut = cut ? b->len / 2 : b->len;
    struct MHD_Response *resp = MHD_create_response_from_callback(b->len, 16384, body_read, b, free);
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", from, f->len - 1, f->len);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (commit) MHD_add_response_header(resp, "X-Repo-Commit", commit);
    char etag[80];
    snprintf(etag, sizeof etag, "\"%s\"", f->lfs ? f->sha : f->blob);
    MHD_add_response_header(resp, "ETag", etag);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The listing JSON of a repo (sizes and LFS data only with blobs). */
static char *listing_json(const frepo *r, int blobs) {
    pd_buf b = {0};
    pd_buf_printf(&b, "{\"_id\": \"x\", \"id\": \"%s\", \"sha\": \"%s\", \"private\": %s, \"siblings\": [", r->id,
                  r->commit, r->private ? "true" : "false");
    for (int i = 0; i < r->n; i++) {
        const ffile *f = &r->files[i];
        pd_buf_printf(&b, "%s{\"rfilename\": \"%s\"", i ? ", " : "", f->path);
        if (blobs) {
            size_t len = f->len + (size_t)f->listed_delta;
            pd_buf_printf(&b, ", \"blobId\": \"%s\", \"size\": %zu", f->blob, len);
            if (f->lfs) pd_buf_printf(&b, ", \"lfs\": {\"sha256\": \"%s\", \"size\": %zu, \"pointerSize\": 134}",
                                      f->listed_sha, len);
        }
        pd_buf_puts(&b, "}");
    }
    pd_buf_puts(&b, "], \"tags\": [\"llama\"]}");
    return pd_buf_steal(&b);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls; (void)version; (void)upload; (void)upload_size; (void)con_cls;
    const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *blobs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "blobs");
    pthread_mutex_lock(&S.mu);
    if (S.n_log < (int)(sizeof S.log / sizeof *S.log)) {
        logent *e = &S.log[S.n_log++];
        snprintf(e->url, sizeof e->url, "%s", url);
        snprintf(e->range, sizeof e->range, "%s", range ? range : "");
        snprintf(e->auth, sizeof e->auth, "%s", auth ? auth : "");
        snprintf(e->blobs, sizeof e->blobs, "%s", blobs ? blobs : "");
    }
    int cut = 0, fail = 0, dead = S.dead;
    if (!dead && !strncmp(url, "/cdn/", 5)) {
        if (S.fail_next > 0) {
            S.fail_next--;
            fail = 1;
        } else if (S.cut_next) {
            S.cut_next = 0;
            cut = 1;
            S.fail_next = S.fail_after_cut;
            S.dead = S.die_after_cut;
        }
    }
    pthread_mutex_unlock(&S.mu);
    if (dead) return MHD_NO; /* close the connection without an answer */
    if (strcmp(method, "GET")) return reply(conn, 405, "method", NULL);
    int authed = auth && !strcmp(auth, "Bearer " TOKEN);

    int api_dataset = !strncmp(url, "/api/datasets/", 14);
    if (!strncmp(url, "/api/models/", 12) || api_dataset) {
        const char *id = url + (api_dataset ? 14 : 12), *rev = strstr(id, "/revision/");
        if (!rev) return reply(conn, 404, "no", NULL);
        frepo *r = find_kind(id, (size_t)(rev - id), api_dataset);
        rev += 10;
        if (!r || (r->private && !authed)) /* like the hub: unknown and private look alike */
            return r ? reply(conn, 401, "{\"error\": \"Invalid credentials\"}", "RepoNotFound")
                     : reply(conn, 404, "{\"error\": \"Repository not found\"}", "RepoNotFound");
        if (r->raw_listing) return reply(conn, 200, r->raw_listing, NULL);
        if (strcmp(rev, "main") && strcmp(rev, "v1.0") && strcmp(rev, r->commit))
            return reply(conn, 404, "{\"error\": \"Invalid rev id\"}", "RevisionNotFound");
        char *json = listing_json(r, blobs && !strcmp(blobs, "true") && !r->no_blobs);
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (!strncmp(url, "/cdn/", 5)) {
        if (fail) return reply(conn, 503, "busy", NULL);
        for (int i = 0; i < S.n_repos; i++)
            for (int j = 0; j < S.repos[i].n; j++)
                if (S.repos[i].files[j].lfs && !strcmp(S.repos[i].files[j].sha, url + 5))
                    return serve_bytes(conn, &S.repos[i].files[j], NULL, cut, S.ignore_range);
        return reply(conn, 404, "no blob", NULL);
    }
    const char *res = strstr(url, "/resolve/");
    if (res) {
        int ds = !strncmp(url, "/datasets/", 10);
        const char *id = url + (ds ? 10 : 1);
        frepo *r = find_kind(id, (size_t)(res - id), ds);
        if (!r || (r->private && !authed)) return reply(conn, 401, "auth", "RepoNotFound");
        const char *c = res + 9, *slash = strchr(c, '/');
        if (!slash || (size_t)(slash - c) != 40 || strncmp(c, r->commit, 40))
            return reply(conn, 404, "bad commit", "RevisionNotFound");
        for (int j = 0; j < r->n; j++) {
            ffile *f = &r->files[j];
            if (strcmp(f->path, slash + 1)) continue;
            if (f->missing) return reply(conn, 404, "gone", "EntryNotFound");
            if (!f->lfs) return serve_bytes(conn, f, r->commit, 0, 0);
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            char loc[200], etag[80], size[32];
            snprintf(loc, sizeof loc, "%s/cdn/%s", S.endpoint, f->sha);
            snprintf(etag, sizeof etag, "\"%s\"", f->listed_sha);
            snprintf(size, sizeof size, "%zu", f->len);
            MHD_add_response_header(resp, "Location", loc);
            MHD_add_response_header(resp, "X-Linked-Etag", etag);
            MHD_add_response_header(resp, "X-Linked-Size", size);
            MHD_add_response_header(resp, "X-Repo-Commit", r->commit);
            enum MHD_Result ret = MHD_queue_response(conn, 302, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        return reply(conn, 404, "no file", "EntryNotFound");
    }
    return reply(conn, 404, "not found", NULL);
}

static int start_server(void) {
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                           (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!S.d) return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) return -1;
    S.port = info->port;
    snprintf(S.endpoint, sizeof S.endpoint, "http://127.0.0.1:%d", S.port);
    return 0;
}

/* ---- helpers ---- */

static int log_mark(void) {
    pthread_mutex_lock(&S.mu);
    int n = S.n_log;
    pthread_mutex_unlock(&S.mu);
    return n;
}

/* Count logged requests since `from` whose URL starts with prefix. */
static int log_count(int from, const char *prefix) {
    int n = 0;
    pthread_mutex_lock(&S.mu);
    for (int i = from; i < S.n_log; i++) n += !strncmp(S.log[i].url, prefix, strlen(prefix));
    pthread_mutex_unlock(&S.mu);
    return n;
}

/* Use a fresh HF_HOME under TMP; returns the hub cache path (static). */
static const char *fresh_home(const char *name) {
    static char cache[600];
    char home[512], cmd[600];
    snprintf(home, sizeof home, "%s/%s", TMP, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd)) {}
    pd_mkdirs(home, NULL);
    setenv("HF_HOME", home, 1);
    unsetenv("HF_HUB_CACHE");
    snprintf(cache, sizeof cache, "%s/hub", home);
    return cache;
}

static pd_hub_pull_opts test_opts(void) {
    pd_hub_pull_opts o = {0};
    o.retry_base_s = 0.005;
    return o;
}

static int file_equals(const char *path, const unsigned char *data, size_t len) {
    char *got = NULL;
    size_t n = 0;
    if (pd_file_read(path, &got, &n, NULL)) return 0;
    int ok = n == len && !memcmp(got, data, len);
    free(got);
    return ok;
}

static int exists_nofollow(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Count files in dir whose name ends with suffix. */
static int count_suffix(const char *dir, const char *suffix) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -a '%s' 2>/dev/null | grep -c -- '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* ---- SHA-256 ---- */

static void t_sha256_vectors(void) {
    char hex[65];
    pd_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    pd_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    pd_sha256_hex(two, strlen(two), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    pd_sha256 s;
    pd_sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t n = step < 1000000 - done ? step : 1000000 - done;
        pd_sha256_update(&s, a + done, n);
        done += n;
        step = step * 3 % 977 + 1;
    }
    pd_sha256_final_hex(&s, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* every length around the block and padding boundaries: pieces agree with one shot */
    for (size_t len = 50; len < 140; len++) {
        char one[65], two_[65];
        pd_sha256_hex(a, len, one);
        pd_sha256_init(&s);
        pd_sha256_update(&s, a, len / 3);
        pd_sha256_update(&s, a + len / 3, len - len / 3);
        pd_sha256_final_hex(&s, two_);
        CHECK_MSG(!strcmp(one, two_), "len %zu", len);
    }
    free(a);
}

/* ---- parsers ---- */

static void t_listing_parse(void) {
    pd_hub_listing l;
    pd_error err = {0};
    const char *good = "{\"sha\": \"0123456789ABCDEF0123456789abcdef01234567\", \"siblings\": ["
                       "{\"rfilename\": \"z.json\", \"size\": 5, \"blobId\": \"ffffffffffffffffffffffffffffffffffffffff\"},"
                       "{\"rfilename\": \"a/m.safetensors\", \"size\": 9, \"lfs\": {\"sha256\": "
                       "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"size\": 9, \"pointerSize\": 1}},"
                       "{\"rfilename\": \"nosize.txt\"}]}";
    CHECK_EQ_INT(pd_hub_listing_parse(good, strlen(good), &l, &err), 0);
    CHECK_STR(l.commit, "0123456789abcdef0123456789abcdef01234567");
    CHECK_EQ_INT(l.n_files, 3);
    if (l.n_files == 3) { /* sorted by path */
        CHECK_STR(l.files[0].path, "a/m.safetensors");
        CHECK(l.files[0].lfs);
        CHECK_EQ_INT(l.files[0].size, 9);
        CHECK_STR(l.files[0].sha256, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        CHECK_STR(l.files[1].path, "nosize.txt");
        CHECK_EQ_INT(l.files[1].size, -1);
        CHECK(!l.files[1].lfs);
        CHECK_STR(l.files[2].blob_id, "ffffffffffffffffffffffffffffffffffffffff");
    }
    pd_hub_listing_free(&l);

    static const struct { const char *json, *want; } bad[] = {
        {"[1]", "not a JSON object"},
        {"{\"siblings\": []}", "\"sha\""},
        {"{\"sha\": \"0123\", \"siblings\": []}", "\"sha\""},
        {"{\"sha\": \"" COMMIT "\"}", "siblings"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"../x\"}]}", "'..'"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"/etc/passwd\"}]}", "empty"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a//b\"}]}", "empty"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\\\\b\"}]}", "backslash"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"x.incomplete\"}]}", "reserved"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"size\": -1}]}", "size"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"size\": 1.5}]}", "size"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"size\": 99999999999999999}]}", "size"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"size\": 2, \"lfs\": "
         "{\"sha256\": \"" COMMIT COMMIT "\", \"size\": 2}}]}", "lfs.sha256"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"size\": 2, \"lfs\": "
         "{\"sha256\": \"" COMMIT "012345678901234567890123\", \"size\": 3}}]}", "differs"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\"}, {\"rfilename\": \"a\"}]}", "twice"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\", \"blobId\": \"xyz\"}]}", "blobId"},
        {"{\"sha\": \"" COMMIT "\", \"siblings\": [{\"rfilename\": \"a\\u0000b\"}]}", "JSON"},
        {"{\"sha\": ", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        int rc = pd_hub_listing_parse(bad[i].json, strlen(bad[i].json), &l, &err);
        CHECK_MSG(rc == PD_EFORMAT, "case %zu: rc %d", i, rc);
        CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "case %zu: message '%s' lacks '%s'", i, err.msg, bad[i].want);
        CHECK(l.n_files == 0 && l.files == NULL);
    }
}

static void t_header_parsers(void) {
    char name[64], value[128];
    const char *h = "X-Linked-Etag:   \"abc\" \r\n";
    CHECK_EQ_INT(pd_hub_header_split(h, strlen(h), name, sizeof name, value, sizeof value), 1);
    CHECK_STR(name, "X-Linked-Etag");
    CHECK_STR(value, "\"abc\"");
    h = "HTTP/1.1 200 OK\r\n";
    CHECK_EQ_INT(pd_hub_header_split(h, strlen(h), name, sizeof name, value, sizeof value), 0);
    h = "\r\n";
    CHECK_EQ_INT(pd_hub_header_split(h, strlen(h), name, sizeof name, value, sizeof value), 0);
    h = "X: 0123456789";
    CHECK_EQ_INT(pd_hub_header_split(h, strlen(h), name, sizeof name, value, 5), -1);

    int64_t a, b, t;
    CHECK_EQ_INT(pd_hub_content_range("bytes 100-199/200", &a, &b, &t), 0);
    CHECK(a == 100 && b == 199 && t == 200);
    CHECK_EQ_INT(pd_hub_content_range("bytes 0-9/*", &a, &b, &t), 0);
    CHECK_EQ_INT(t, -1);
    CHECK_EQ_INT(pd_hub_content_range("bytes 10-9/200", &a, &b, &t), -1);
    CHECK_EQ_INT(pd_hub_content_range("bytes 0-200/200", &a, &b, &t), -1);
    CHECK_EQ_INT(pd_hub_content_range("bytes -1-2/3", &a, &b, &t), -1);
    CHECK_EQ_INT(pd_hub_content_range("bytes 0-1/99999999999999999999", &a, &b, &t), -1);
    CHECK_EQ_INT(pd_hub_content_range("items 0-1/2", &a, &b, &t), -1);

    CHECK_EQ_INT(pd_hub_parse_size("123", &a), 0);
    CHECK_EQ_INT(a, 123);
    CHECK_EQ_INT(pd_hub_parse_size("12a", &a), -1);
    CHECK_EQ_INT(pd_hub_parse_size("", &a), -1);
    CHECK_EQ_INT(pd_hub_parse_size("-5", &a), -1);

    char e[130];
    CHECK_EQ_INT(pd_hub_etag_name("W/\"abc123\"", e, sizeof e), 0);
    CHECK_STR(e, "abc123");
    CHECK_EQ_INT(pd_hub_etag_name("\"../x\"", e, sizeof e), -1);
    CHECK_EQ_INT(pd_hub_etag_name("\"a/b\"", e, sizeof e), -1);
    CHECK_EQ_INT(pd_hub_etag_name("\"\"", e, sizeof e), -1);
    CHECK_EQ_INT(pd_hub_etag_name("x.incomplete", e, sizeof e), -1);
}

static void t_default_files(void) {
    static const char *yes[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                "special_tokens_map.json", "model.safetensors", "model-00001-of-00002.safetensors",
                                "model.safetensors.index.json", "merges.txt", "vocab.json", "tokenizer.model",
                                "chat_template.jinja", "README.md", "LICENSE"};
    static const char *no[] = {"pytorch_model.bin", "pytorch_model.bin.index.json", "consolidated.00.pth",
                               "model.gguf", "onnx/model.onnx", "original/params.json", "tf_model.h5",
                               "flax_model.msgpack", ".gitattributes", "sub/config.json",
                               "consolidated.safetensors", "params.json"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) CHECK_MSG(pd_hub_default_file(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) CHECK_MSG(!pd_hub_default_file(no[i]), "%s", no[i]);
}

/* ---- resolution on a hand-made cache ---- */

static void t_repo_ids(void) {
    static const char *good[] = {"Qwen/Qwen2.5-1.5B-Instruct", "meta-llama/Llama-3.2-1B", "a/b", "A_1/b.c_d-e"};
    static const char *bad[] = {"", "noslash", "a/b/c", "/abs/path", "a/", "/b", "a--b/c", "a/b--c", "a/..",
                                "../a", "a/.b", "a/b.", "-a/b", "a/b c", "a/b\n", "a/b;rm", "a\\b/c"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK_MSG(pd_hub_check_repo_id(good[i], NULL) == 0, "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(pd_hub_check_repo_id(bad[i], NULL) == PD_EINVAL, "%s", bad[i]);
    char long_id[200];
    memset(long_id, 'x', sizeof long_id);
    long_id[0] = 'a', long_id[1] = '/', long_id[199] = 0;
    CHECK_EQ_INT(pd_hub_check_repo_id(long_id, NULL), PD_EINVAL);
    static const char *revs_ok[] = {"main", "v1.0", "refs/pr/1", COMMIT};
    static const char *revs_bad[] = {"", "../x", "a/../b", "/main", "main/", "a//b", ".x", "a b", "a/.x", "x@y"};
    for (size_t i = 0; i < sizeof revs_ok / sizeof *revs_ok; i++)
        CHECK_MSG(pd_hub_check_revision(revs_ok[i], NULL) == 0, "%s", revs_ok[i]);
    for (size_t i = 0; i < sizeof revs_bad / sizeof *revs_bad; i++)
        CHECK_MSG(pd_hub_check_revision(revs_bad[i], NULL) == PD_EINVAL, "%s", revs_bad[i]);
}

static void t_cache_dir_env(void) {
    char out[512];
    const char *saved_home = getenv("HOME");
    char home[512];
    snprintf(home, sizeof home, "%s", saved_home ? saved_home : "");
    setenv("HF_HUB_CACHE", "/x/hubcache", 1);
    setenv("HF_HOME", "/x/hfhome", 1);
    setenv("XDG_CACHE_HOME", "/x/xdg", 1);
    setenv("HOME", "/x/home", 1);
    CHECK_EQ_INT(pd_hub_cache_dir(out, sizeof out, NULL), 0);
    CHECK_STR(out, "/x/hubcache");
    setenv("HF_HUB_CACHE", "", 1); /* empty counts as unset */
    CHECK_EQ_INT(pd_hub_cache_dir(out, sizeof out, NULL), 0);
    CHECK_STR(out, "/x/hfhome/hub");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HOME");
    CHECK_EQ_INT(pd_hub_cache_dir(out, sizeof out, NULL), 0);
    CHECK_STR(out, "/x/xdg/huggingface/hub");
    unsetenv("XDG_CACHE_HOME");
    CHECK_EQ_INT(pd_hub_cache_dir(out, sizeof out, NULL), 0);
    CHECK_STR(out, "/x/home/.cache/huggingface/hub");
    unsetenv("HOME");
    pd_error err = {0};
    CHECK_EQ_INT(pd_hub_cache_dir(out, sizeof out, &err), PD_ENOTFOUND);
    CHECK(strstr(err.msg, "HF_HOME") != NULL);
    CHECK_EQ_INT(pd_hub_cache_dir(out, 5, NULL), PD_ENOTFOUND);
    setenv("HF_HOME", "/a/long/enough/path", 1);
    CHECK_EQ_INT(pd_hub_cache_dir(out, 5, NULL), PD_ELIMIT);
    if (saved_home) setenv("HOME", home, 1);
    unsetenv("HF_HOME");
}

static void t_resolve_handmade(void) {
    const char *cache = fresh_home("handmade");
    char repo[600], snap[700], path[800], dir[1024];
    snprintf(repo, sizeof repo, "%s/models--some-org--Some.Model", cache);
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, COMMIT);
    pd_mkdirs(snap, NULL);
    snprintf(path, sizeof path, "%s/refs", repo);
    pd_mkdirs(path, NULL);
    snprintf(path, sizeof path, "%s/refs/main", repo);
    pd_file_write(path, COMMIT "\n", 41, NULL); /* a trailing newline is tolerated */
    snprintf(path, sizeof path, "%s/refs/bad", repo);
    pd_file_write(path, "not-a-commit", 12, NULL);
    snprintf(path, sizeof path, "%s/config.json", snap);
    pd_file_write(path, "{}", 2, NULL);

    pd_error err = {0};
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model@main", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model@" COMMIT, dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    /* HF_HUB_CACHE wins over HF_HOME */
    setenv("HF_HUB_CACHE", TMP "/nowhere", 1);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model", dir, sizeof dir, &err), PD_ENOTFOUND);
    setenv("HF_HUB_CACHE", cache, 1);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model", dir, sizeof dir, &err), 0);
    unsetenv("HF_HUB_CACHE");

    /* not there: the message says where it looked and what to do */
    CHECK_EQ_INT(pd_hub_resolve("some-org/Other", dir, sizeof dir, &err), PD_ENOTFOUND);
    CHECK(strstr(err.msg, "models--some-org--Other") != NULL);
    CHECK(strstr(err.msg, "ponder pull some-org/Other") != NULL);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model@v2", dir, sizeof dir, &err), PD_ENOTFOUND);
    CHECK(strstr(err.msg, "refs/v2") != NULL);
    CHECK(strstr(err.msg, "--revision v2") != NULL);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model@89abcdef0123456789abcdef0123456789abcdef", dir, sizeof dir, &err),
                 PD_ENOTFOUND);
    CHECK(strstr(err.msg, "snapshots/89abcdef") != NULL);
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model@bad", dir, sizeof dir, &err), PD_EFORMAT);
    CHECK(strstr(err.msg, "refs/bad") != NULL);

    /* a local directory is used as it is (even one that looks like ORG/NAME) */
    CHECK_EQ_INT(pd_hub_resolve(snap, dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("build/tmp", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, "build/tmp");
    CHECK_EQ_INT(pd_hub_resolve("/no/such/dir", dir, sizeof dir, &err), PD_ENOTFOUND);
    CHECK(strstr(err.msg, "no such directory") != NULL);
    CHECK_EQ_INT(pd_hub_resolve("./nope", dir, sizeof dir, &err), PD_ENOTFOUND);

    /* bad specs never reach the file system as paths */
    static const char *bad[] = {"some-org/../../etc", "a/b/c", "a--b/c", "a/b@../../x", "a/b@", "org/na me", "",
                                "a/b@/abs", "just-a-name"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = pd_hub_resolve(bad[i], dir, sizeof dir, &err);
        CHECK_MSG(rc == PD_EINVAL, "'%s': rc %d (%s)", bad[i], rc, err.msg);
    }
    /* a too-small output buffer */
    CHECK_EQ_INT(pd_hub_resolve("some-org/Some.Model", dir, 10, &err), PD_ELIMIT);
}

/* ---- pull against the fake hub ---- */

static const ffile *repo_file(const char *repo, const char *path) {
    frepo *r = find_repo(repo, strlen(repo));
    for (int j = 0; r && j < r->n; j++)
        if (!strcmp(r->files[j].path, path)) return &r->files[j];
    return NULL;
}

static void t_pull_full_and_noop(void) {
    const char *cache = fresh_home("full");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int mark = log_mark();
    int rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    char repo[600], snap[700], path[900], target[900];
    snprintf(repo, sizeof repo, "%s/models--test-org--tiny-model", cache);
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, COMMIT);
    CHECK_STR(res.commit, COMMIT);
    CHECK_STR(res.dir, snap);
    CHECK_EQ_INT(res.n_files, 3); /* config.json, tokenizer.json, model.safetensors */
    CHECK_EQ_INT(res.n_downloaded, 3);
    const ffile *cfg = repo_file("test-org/tiny-model", "config.json");
    const ffile *st = repo_file("test-org/tiny-model", "model.safetensors");
    CHECK_EQ_INT(res.bytes_downloaded, (int64_t)(cfg->len + st->len + repo_file("test-org/tiny-model", "tokenizer.json")->len));
    /* the API was asked with blobs=true; the LFS file came through the CDN redirect */
    CHECK_EQ_INT(log_count(mark, "/api/models/test-org/tiny-model/revision/main"), 1);
    pthread_mutex_lock(&S.mu);
    CHECK_STR(S.log[mark].blobs, "true");
    pthread_mutex_unlock(&S.mu);
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 1);
    CHECK_EQ_INT(log_count(mark, "/test-org/tiny-model/resolve/" COMMIT "/"), 3);

    /* layout: refs/main, snapshot links into blobs/, blobs named by git id / sha256 */
    snprintf(path, sizeof path, "%s/refs/main", repo);
    char *ref = NULL;
    size_t n = 0;
    CHECK_EQ_INT(pd_file_read(path, &ref, &n, NULL), 0);
    CHECK(ref && n == 40 && !memcmp(ref, COMMIT, 40));
    free(ref);
    snprintf(path, sizeof path, "%s/config.json", snap);
    ssize_t k = readlink(path, target, sizeof target - 1);
    CHECK(k > 0);
    if (k > 0) {
        target[k] = 0;
        char want[100];
        snprintf(want, sizeof want, "../../blobs/%s", cfg->blob);
        CHECK_STR(target, want);
    }
    CHECK(file_equals(path, cfg->data, cfg->len));
    snprintf(path, sizeof path, "%s/model.safetensors", snap);
    k = readlink(path, target, sizeof target - 1);
    CHECK(k > 0);
    if (k > 0) {
        target[k] = 0;
        char want[100];
        snprintf(want, sizeof want, "../../blobs/%s", st->sha);
        CHECK_STR(target, want);
    }
    CHECK(file_equals(path, st->data, st->len));
    snprintf(path, sizeof path, "%s/pytorch_model.bin", snap);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/.gitattributes", snap);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/original", snap);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/blobs", repo);
    CHECK_EQ_INT(count_suffix(path, ".incomplete"), 0);

    /* resolution finds it: by name, @main, @commit */
    char dir[1024];
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model@main", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model@" COMMIT, dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model@v1.0", dir, sizeof dir, &err), PD_ENOTFOUND);

    /* a second pull is a no-op: only the listing is fetched */
    mark = log_mark();
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_downloaded, 0);
    CHECK_EQ_INT(res.bytes_downloaded, 0);
    CHECK_EQ_INT(log_mark() - mark, 1);
    CHECK_EQ_INT(log_count(mark, "/api/"), 1);

    /* a tag pointing at the same commit: a new ref, no downloads; then @v1.0 resolves */
    mark = log_mark();
    o.revision = "v1.0";
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_downloaded, 0);
    CHECK_EQ_INT(log_count(mark, "/cdn/") + log_count(mark, "/test-org/"), 0);
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model@v1.0", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, snap);

    /* by commit: no ref written for it, the snapshot is shared */
    o.revision = COMMIT;
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/refs/%s", repo, COMMIT);
    CHECK(!exists_nofollow(path));

    /* --include selects files (only those): a nested one gets a deeper relative link */
    const char *inc[] = {"original/*", "*.bin"};
    o.revision = NULL;
    o.include = inc;
    o.n_include = 2;
    mark = log_mark();
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_files, 2);
    CHECK_EQ_INT(res.n_downloaded, 2);
    CHECK_EQ_INT(log_count(mark, "/test-org/tiny-model/resolve/" COMMIT "/config.json"), 0);
    const ffile *params = repo_file("test-org/tiny-model", "original/params.json");
    snprintf(path, sizeof path, "%s/original/params.json", snap);
    k = readlink(path, target, sizeof target - 1);
    CHECK(k > 0);
    if (k > 0) {
        target[k] = 0;
        char want[100];
        snprintf(want, sizeof want, "../../../blobs/%s", params->blob);
        CHECK_STR(target, want);
    }
    CHECK(file_equals(path, params->data, params->len));
    snprintf(path, sizeof path, "%s/pytorch_model.bin", snap);
    const ffile *bin = repo_file("test-org/tiny-model", "pytorch_model.bin");
    CHECK(file_equals(path, bin->data, bin->len));
}

static void t_pull_resume_in_process(void) {
    const char *cache = fresh_home("resume");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int mark = log_mark();
    S.cut_next = 1;
    int rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(S.cut_next, 0); /* the cut happened */
    /* two CDN requests: the cut one, then one resuming at the cut with a Range */
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 2);
    char want[64];
    snprintf(want, sizeof want, "bytes=%d-", LFS_SIZE / 2);
    int found = 0;
    pthread_mutex_lock(&S.mu);
    for (int i = mark; i < S.n_log; i++)
        if (!strncmp(S.log[i].url, "/cdn/", 5) && !strcmp(S.log[i].range, want)) found = 1;
    pthread_mutex_unlock(&S.mu);
    CHECK_MSG(found, "no CDN request with Range %s", want);
    /* nothing was fetched twice */
    const ffile *st = repo_file("test-org/tiny-model", "model.safetensors");
    const ffile *cfg = repo_file("test-org/tiny-model", "config.json");
    const ffile *tok = repo_file("test-org/tiny-model", "tokenizer.json");
    CHECK_EQ_INT(res.bytes_downloaded, (int64_t)(st->len + cfg->len + tok->len));
    char path[900];
    snprintf(path, sizeof path, "%s/models--test-org--tiny-model/snapshots/%s/model.safetensors", cache, COMMIT);
    CHECK(file_equals(path, st->data, st->len));
}

static void t_pull_resume_next_run(void) {
    const char *cache = fresh_home("resume2");
    pd_hub_pull_opts o = test_opts();
    o.max_retries = -1; /* no retries without progress */
    pd_hub_pull_result res;
    pd_error err = {0};
    char repo[600], path[900], dir[1024];
    snprintf(repo, sizeof repo, "%s/models--test-org--tiny-model", cache);
    const ffile *st = repo_file("test-org/tiny-model", "model.safetensors");
    const ffile *tok = repo_file("test-org/tiny-model", "tokenizer.json");

    /* first run: the body is cut half-way (progress: retried at once), then the CDN
     * answers 503 (no progress, no retries left): the run fails, the partial stays */
    pthread_mutex_lock(&S.mu);
    S.cut_next = 1;
    S.fail_after_cut = 3;
    pthread_mutex_unlock(&S.mu);
    int rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENET);
    CHECK_MSG(strstr(err.msg, "503") && strstr(err.msg, "giving up") && strstr(err.msg, "model.safetensors"), "%s",
              err.msg);
    pthread_mutex_lock(&S.mu);
    S.fail_next = S.fail_after_cut = 0;
    pthread_mutex_unlock(&S.mu);
    snprintf(path, sizeof path, "%s/blobs/%s.incomplete", repo, st->sha);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == LFS_SIZE / 2);
    snprintf(path, sizeof path, "%s/snapshots/%s/model.safetensors", repo, COMMIT);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/refs/main", repo);
    CHECK(!exists_nofollow(path)); /* the ref comes last */
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model", dir, sizeof dir, &err), PD_ENOTFOUND);

    /* second run: resumes at the cut with a Range request */
    int mark = log_mark();
    o = test_opts();
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 1);
    char want[64];
    snprintf(want, sizeof want, "bytes=%d-", LFS_SIZE / 2);
    pthread_mutex_lock(&S.mu);
    for (int i = mark; i < S.n_log; i++)
        if (!strncmp(S.log[i].url, "/cdn/", 5)) CHECK_STR(S.log[i].range, want);
    pthread_mutex_unlock(&S.mu);
    CHECK_EQ_INT(res.bytes_downloaded, (int64_t)(st->len - LFS_SIZE / 2 + tok->len));
    snprintf(path, sizeof path, "%s/snapshots/%s/model.safetensors", repo, COMMIT);
    CHECK(file_equals(path, st->data, st->len));
    snprintf(path, sizeof path, "%s/blobs", repo);
    CHECK_EQ_INT(count_suffix(path, ".incomplete"), 0);
    CHECK_EQ_INT(pd_hub_resolve("test-org/tiny-model", dir, sizeof dir, &err), 0);
}

static void t_pull_range_ignored(void) {
    const char *cache = fresh_home("norange");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    S.ignore_range = 1;
    S.cut_next = 1;
    int mark = log_mark();
    int rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    S.ignore_range = 0;
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 2);
    /* the resumed request got the whole file (200): the partial was restarted, not appended to */
    const ffile *st = repo_file("test-org/tiny-model", "model.safetensors");
    const ffile *cfg = repo_file("test-org/tiny-model", "config.json");
    const ffile *tok = repo_file("test-org/tiny-model", "tokenizer.json");
    CHECK_EQ_INT(res.bytes_downloaded, (int64_t)(LFS_SIZE / 2 + st->len + cfg->len + tok->len));
    char path[900];
    snprintf(path, sizeof path, "%s/models--test-org--tiny-model/snapshots/%s/model.safetensors", cache, COMMIT);
    CHECK(file_equals(path, st->data, st->len));
}

static void t_pull_corrupt(void) {
    const char *cache = fresh_home("corrupt");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/corrupt", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENET);
    CHECK_MSG(strstr(err.msg, "model.safetensors") && strstr(err.msg, "sha256 mismatch"), "%s", err.msg);
    const ffile *st = repo_file("test-org/corrupt", "model.safetensors");
    CHECK_MSG(strstr(err.msg, st->sha) != NULL, "the message names the hash received: %s", err.msg);
    char repo[600], path[900], dir[1024];
    snprintf(repo, sizeof repo, "%s/models--test-org--corrupt", cache);
    snprintf(path, sizeof path, "%s/snapshots/%s/model.safetensors", repo, COMMIT);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/blobs/%s", repo, st->listed_sha);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/blobs", repo);
    CHECK_EQ_INT(count_suffix(path, ".incomplete"), 0); /* the bad bytes were discarded */
    CHECK_EQ_INT(count_suffix(path, st->sha), 0);
    snprintf(path, sizeof path, "%s/refs/main", repo);
    CHECK(!exists_nofollow(path));
    CHECK_EQ_INT(pd_hub_resolve("test-org/corrupt", dir, sizeof dir, &err), PD_ENOTFOUND);
}

static void t_pull_size_mismatch(void) {
    const char *cache = fresh_home("sizes");
    pd_hub_pull_opts o = test_opts();
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/short", &o, NULL, &err);
    CHECK_EQ_INT(rc, PD_ENET);
    const ffile *f = repo_file("test-org/short", "config.json");
    char want[100];
    snprintf(want, sizeof want, "received %zu bytes, expected %zu", f->len, f->len + 10);
    CHECK_MSG(strstr(err.msg, "config.json") && strstr(err.msg, want), "%s", err.msg);
    rc = pd_hub_pull("test-org/long", &o, NULL, &err);
    CHECK_EQ_INT(rc, PD_ENET);
    CHECK_MSG(strstr(err.msg, "model.safetensors") && strstr(err.msg, "more than the expected 49900 bytes"), "%s",
              err.msg);
    rc = pd_hub_pull("test-org/ghost", &o, NULL, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "404") && strstr(err.msg, "listed but not found"),
              "%s", err.msg);
    char path[900];
    const char *repos[] = {"short", "long", "ghost"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/models--test-org--%s/blobs", cache, repos[i]);
        CHECK_MSG(count_suffix(path, ".incomplete") == 0, "%s", repos[i]);
        snprintf(path, sizeof path, "%s/models--test-org--%s/refs/main", cache, repos[i]);
        CHECK(!exists_nofollow(path));
    }
}

static void t_pull_http_errors(void) {
    fresh_home("errors");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/missing", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "404") && strstr(err.msg, "test-org/missing") && strstr(err.msg, "not found"), "%s",
              err.msg);
    rc = pd_hub_pull("test-org/private", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "401") && strstr(err.msg, "HF_TOKEN"), "%s", err.msg);
    o.revision = "no-such-branch";
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "404") && strstr(err.msg, "no-such-branch"), "%s", err.msg);
    o.revision = NULL;
    /* invalid ids and revisions never reach the network */
    int mark = log_mark();
    CHECK_EQ_INT(pd_hub_pull("../etc/x", &o, &res, &err), PD_EINVAL);
    CHECK_EQ_INT(pd_hub_pull("a/b/c", &o, &res, &err), PD_EINVAL);
    o.revision = "../../x";
    CHECK_EQ_INT(pd_hub_pull("test-org/tiny-model", &o, &res, &err), PD_EINVAL);
    CHECK_EQ_INT(log_mark() - mark, 0);
    /* a server that is not there: retried, then a clear failure */
    o = test_opts();
    o.max_retries = 1;
    o.endpoint = "http://127.0.0.1:1";
    rc = pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENET);
    CHECK_MSG(strstr(err.msg, "giving up after 2 attempts") && strstr(err.msg, "127.0.0.1:1"), "%s", err.msg);
}

static void t_pull_token(void) {
    const char *cache = fresh_home("token");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    /* without a token no Authorization header is sent at all */
    int mark = log_mark();
    pd_hub_pull("test-org/tiny-model", &o, &res, &err);
    pthread_mutex_lock(&S.mu);
    for (int i = mark; i < S.n_log; i++) CHECK_STR(S.log[i].auth, "");
    pthread_mutex_unlock(&S.mu);

    setenv("HF_TOKEN", TOKEN, 1);
    mark = log_mark();
    int rc = pd_hub_pull("test-org/private", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_downloaded, 2);
    CHECK(log_mark() - mark >= 3);
    pthread_mutex_lock(&S.mu);
    for (int i = mark; i < S.n_log; i++) CHECK_STR(S.log[i].auth, "Bearer " TOKEN);
    pthread_mutex_unlock(&S.mu);
    char path[900], dir[1024];
    snprintf(path, sizeof path, "%s/models--test-org--private/snapshots/%s", cache, COMMIT_P);
    CHECK_EQ_INT(pd_hub_resolve("test-org/private", dir, sizeof dir, &err), 0);
    CHECK_STR(dir, path);
    /* a wrong token is refused with a message that says so */
    setenv("HF_TOKEN", "wrong", 1);
    rc = pd_hub_pull("test-org/private", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "401") && strstr(err.msg, "refused"), "%s", err.msg);
    /* a token with a line break would inject headers: refused before any request */
    setenv("HF_TOKEN", "abc\r\nX-Evil: 1", 1);
    mark = log_mark();
    CHECK_EQ_INT(pd_hub_pull("test-org/private", &o, &res, &err), PD_EINVAL);
    CHECK_EQ_INT(log_mark() - mark, 0);
    unsetenv("HF_TOKEN");
    /* the token file that `huggingface-cli login` writes, under HF_HOME */
    snprintf(path, sizeof path, "%s/../token", cache);
    pd_file_write(path, TOKEN "\n", strlen(TOKEN) + 1, NULL);
    mark = log_mark();
    rc = pd_hub_pull("test-org/private", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    pthread_mutex_lock(&S.mu);
    CHECK(S.n_log > mark && !strcmp(S.log[mark].auth, "Bearer " TOKEN));
    pthread_mutex_unlock(&S.mu);
}

static void t_pull_bad_listings(void) {
    const char *cache = fresh_home("badlisting");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/badjson", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "invalid JSON") != NULL, "%s", err.msg);
    int mark = log_mark();
    rc = pd_hub_pull("test-org/evil", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "'..'") != NULL, "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/test-org/"), 0); /* nothing downloaded */
    char path[900];
    snprintf(path, sizeof path, "%s/escaped.json", TMP);
    CHECK(!exists_nofollow(path));
    snprintf(path, sizeof path, "%s/models--test-org--evil", cache);
    CHECK(!exists_nofollow(path));
}

static void t_pull_without_blob_info(void) {
    const char *cache = fresh_home("noblobs");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/noblobs", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_downloaded, 2);
    /* blobs are named from X-Linked-Etag (LFS) and ETag (others) */
    const ffile *cfg = repo_file("test-org/noblobs", "config.json");
    const ffile *st = repo_file("test-org/noblobs", "model.safetensors");
    char path[900];
    snprintf(path, sizeof path, "%s/models--test-org--noblobs/blobs/%s", cache, st->sha);
    CHECK(file_equals(path, st->data, st->len));
    snprintf(path, sizeof path, "%s/models--test-org--noblobs/blobs/%s", cache, cfg->blob);
    CHECK(file_equals(path, cfg->data, cfg->len));
    snprintf(path, sizeof path, "%s/models--test-org--noblobs/snapshots/%s/model.safetensors", cache, COMMIT);
    CHECK(file_equals(path, st->data, st->len));
    snprintf(path, sizeof path, "%s/models--test-org--noblobs/blobs", cache);
    CHECK_EQ_INT(count_suffix(path, ".incomplete"), 0);
    /* the second pull finds the files through the snapshot links */
    int mark = log_mark();
    rc = pd_hub_pull("test-org/noblobs", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_downloaded, 0);
    CHECK_EQ_INT(log_mark() - mark, 1);
    /* a body cut short is still resumed (the partial file has a private name) */
    fresh_home("noblobs2");
    S.cut_next = 1;
    mark = log_mark();
    rc = pd_hub_pull("test-org/noblobs", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 2);
    CHECK_EQ_INT(res.bytes_downloaded, (int64_t)(st->len + cfg->len));
}

static void t_pull_locked(void) {
    const char *cache = fresh_home("locked");
    const ffile *st = repo_file("test-org/tiny-model", "model.safetensors");
    char path[900];
    snprintf(path, sizeof path, "%s/models--test-org--tiny-model/blobs", cache);
    pd_mkdirs(path, NULL);
    snprintf(path, sizeof path, "%s/models--test-org--tiny-model/blobs/%s.incomplete", cache, st->sha);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0); /* another download holds it */
    pd_hub_pull_opts o = test_opts();
    pd_error err = {0};
    int rc = pd_hub_pull("test-org/tiny-model", &o, NULL, &err);
    CHECK_EQ_INT(rc, PD_EIO);
    CHECK_MSG(strstr(err.msg, "another process is downloading") != NULL, "%s", err.msg);
    close(fd);
    rc = pd_hub_pull("test-org/tiny-model", &o, NULL, &err); /* released: fine, and res may be NULL */
    CHECK_MSG(rc == 0, "%s", err.msg);
}

static void t_cli_pull(void) {
    const char *cache = fresh_home("cli");
    char cmd[1024];
    CHECK_EQ_INT(run_ponder("pull --help > /dev/null"), 0);
    CHECK(run_ponder("pull 2> /dev/null") != 0);
    snprintf(cmd, sizeof cmd, "%s pull test-org/tiny-model@v1.0 2> " TMP "/cli/stderr.txt", ponder_bin());
    FILE *p = popen(cmd, "r");
    char line[1024] = "";
    if (p) {
        if (!fgets(line, sizeof line, p)) line[0] = 0;
        CHECK_EQ_INT(pclose(p), 0);
    }
    line[strcspn(line, "\n")] = 0;
    char want[900];
    snprintf(want, sizeof want, "%s/models--test-org--tiny-model/snapshots/%s", cache, COMMIT);
    CHECK_STR(line, want);
    char *out = NULL;
    size_t n = 0;
    CHECK_EQ_INT(pd_file_read(TMP "/cli/stderr.txt", &out, &n, NULL), 0);
    CHECK_MSG(out && strstr(out, "model.safetensors") && strstr(out, "3 files"), "%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s pull test-org/missing 2>&1", ponder_bin());
    p = popen(cmd, "r");
    line[0] = 0;
    if (p) {
        if (!fgets(line, sizeof line, p)) line[0] = 0;
        CHECK(pclose(p) != 0);
    }
    CHECK_MSG(!strncmp(line, "ponder pull: ", 13) && strstr(line, "404"), "%s", line);
}


/* ---- GGUF repos: --include picks one file ---- */

static void t_pull_gguf_include(void) {
    const char *cache = fresh_home("gguf");
    pd_hub_pull_opts o = test_opts();
    pd_hub_pull_result res;
    pd_error err = {0};
    /* without --include: refused, naming the files to choose from, nothing downloaded */
    int mark = log_mark();
    int rc = pd_hub_pull("test-org/tiny-gguf", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "GGUF") && strstr(err.msg, "tiny-Q4_K_M.gguf") && strstr(err.msg, "tiny-f16.gguf") &&
                  strstr(err.msg, "--include"), "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/test-org/") + log_count(mark, "/cdn/"), 0);
    /* --include '*Q4_K_M.gguf': that one file, not README.md nor the other quantizations */
    const char *inc[] = {"*Q4_K_M.gguf"};
    o.include = inc;
    o.n_include = 1;
    mark = log_mark();
    rc = pd_hub_pull("test-org/tiny-gguf", &o, &res, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(res.n_files, 1);
    CHECK_EQ_INT(res.n_downloaded, 1);
    CHECK_EQ_INT(log_count(mark, "/test-org/tiny-gguf/resolve/"), 1);
    CHECK_EQ_INT(log_count(mark, "/test-org/tiny-gguf/resolve/" COMMIT "/tiny-Q4_K_M.gguf"), 1);
    CHECK_EQ_INT(log_count(mark, "/cdn/"), 1);
    const ffile *q4 = repo_file("test-org/tiny-gguf", "tiny-Q4_K_M.gguf");
    char snap[800], path[900];
    snprintf(snap, sizeof snap, "%s/models--test-org--tiny-gguf/snapshots/%s", cache, COMMIT);
    snprintf(path, sizeof path, "%s/tiny-Q4_K_M.gguf", snap);
    CHECK(file_equals(path, q4->data, q4->len));
    const char *absent[] = {"tiny-Q8_0.gguf", "tiny-f16.gguf", "README.md", ".gitattributes"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", snap, absent[i]);
        CHECK_MSG(!exists_nofollow(path), "%s", absent[i]);
    }
    CHECK_STR(res.dir, snap);
    /* a glob that matches nothing says what the repo holds */
    const char *none[] = {"*Q2_K.gguf"};
    o.include = none;
    rc = pd_hub_pull("test-org/tiny-gguf", &o, &res, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "--include") && strstr(err.msg, "tiny-Q8_0.gguf"), "%s", err.msg);
    /* the CLI: one file, the snapshot on stdout */
    fresh_home("gguf-cli");
    char cmd[1024], out[2048] = "";
    snprintf(cmd, sizeof cmd, "%s pull test-org/tiny-gguf --include '*Q4_K_M.gguf' --quiet", ponder_bin());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "models--test-org--tiny-gguf/snapshots/" COMMIT), "%s", out);
}

/* ---- datasets ---- */

static void t_split_files(void) {
    CHECK_EQ_INT(pd_hub_split_file("test.jsonl", "test", ".jsonl"), 1);
    CHECK_EQ_INT(pd_hub_split_file("data/test.jsonl", "test", ".jsonl"), 2);
    CHECK_EQ_INT(pd_hub_split_file("test/test.jsonl", "test", ".jsonl"), 3);
    CHECK_EQ_INT(pd_hub_split_file("data/test-00000-of-00002.jsonl", "test", ".jsonl"), 4);
    CHECK_EQ_INT(pd_hub_split_file("test-00001-of-00002.jsonl", "test", ".jsonl"), 5);
    CHECK_EQ_INT(pd_hub_split_file("data/test-00000-of-00001.parquet", "test", ".parquet"), 4);
    CHECK_EQ_INT(pd_hub_split_file("test.json", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("testing.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("test-.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("test-a/b.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("data/x/test.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("train/test.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file("data/train.jsonl", "test", ".jsonl"), 0);
    CHECK_EQ_INT(pd_hub_split_file(".jsonl", "test", ".jsonl"), 0);
    CHECK(pd_hub_default_dataset_file("test.jsonl") && pd_hub_default_dataset_file("data/a/b.json") &&
          pd_hub_default_dataset_file("README.md"));
    CHECK(!pd_hub_default_dataset_file("data/test.parquet") && !pd_hub_default_dataset_file(".gitattributes") &&
          !pd_hub_default_dataset_file("x.csv"));
}

static void t_dataset_fetch(void) {
    const char *cache = fresh_home("dataset");
    pd_hub_pull_opts o = test_opts();
    pd_error err = {0};
    char path[4200], want[900];
    int mark = log_mark();
    int rc = pd_dataset_fetch("test-org/math-set", "test", &o, path, sizeof path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    snprintf(want, sizeof want, "%s/datasets--test-org--math-set/snapshots/%s/test.jsonl", cache, COMMIT);
    CHECK_STR(path, want);
    /* the dataset API and resolve URLs; only the split's file (not train, not README.md) */
    CHECK_EQ_INT(log_count(mark, "/api/datasets/test-org/math-set/revision/main"), 1);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/" COMMIT "/test.jsonl"), 1);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/"), 1);
    CHECK_EQ_INT(log_count(mark, "/api/models/"), 0);
    pd_dataset ds = {0};
    CHECK_EQ_INT(pd_dataset_load(path, &ds, &err), 0);
    CHECK_EQ_INT(ds.n, N_TEST_RECORDS);
    CHECK_EQ_INT(ds.n_skipped, 0);
    pd_dataset_free(&ds);
    snprintf(want, sizeof want, "%s/datasets--test-org--math-set/refs/main", cache);
    CHECK(exists_nofollow(want));
    /* a second time: read from the cache, nothing asked of the server */
    mark = log_mark();
    rc = pd_dataset_fetch("test-org/math-set", "test", &o, path, sizeof path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_EQ_INT(log_mark() - mark, 0);
    /* another split: the listing again and that split's file only */
    mark = log_mark();
    rc = pd_dataset_fetch("test-org/math-set", "train", &o, path, sizeof path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_MSG(strstr(path, "/data/train-00000-of-00001.jsonl") != NULL, "%s", path);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/"), 1);
    /* a split the repo does not have: says what it holds */
    rc = pd_dataset_fetch("test-org/math-set", "validation", &o, path, sizeof path, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "validation.jsonl") && strstr(err.msg, "test.jsonl") && strstr(err.msg, "test-org/math-set"),
              "%s", err.msg);
    /* a dataset that does not exist (a model of that name is not a dataset): 404 */
    rc = pd_dataset_fetch("test-org/tiny-model", NULL, &o, path, sizeof path, &err);
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "404") && strstr(err.msg, "dataset repository 'test-org/tiny-model'"), "%s", err.msg);
    /* JSON (an array of records) is read too */
    rc = pd_dataset_fetch("test-org/json-set", "test", &o, path, sizeof path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_MSG(strstr(path, "/data/test.json") != NULL, "%s", path);
    CHECK_EQ_INT(pd_dataset_load(path, &ds, &err), 0);
    CHECK_EQ_INT(ds.n, 2);
    CHECK(ds.n == 2 && !strcmp(ds.items[1].answer, "6"));
    pd_dataset_free(&ds);
    /* parquet only: a clear error with the conversion, nothing downloaded */
    mark = log_mark();
    rc = pd_dataset_fetch("test-org/parquet-set", "test", &o, path, sizeof path, &err);
    CHECK_EQ_INT(rc, PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "parquet") && strstr(err.msg, "data/test-00000-of-00001.parquet") &&
                  !strstr(err.msg, "train-00000") &&
                  strstr(err.msg, "load_dataset('test-org/parquet-set', split='test').to_json('test.jsonl')"),
              "%s", err.msg);
    CHECK_EQ_INT(log_count(mark, "/datasets/") + log_count(mark, "/cdn/"), 0);
    /* HF_HUB_OFFLINE: the cache only, and the message says why */
    setenv("HF_HUB_OFFLINE", "1", 1);
    mark = log_mark();
    rc = pd_dataset_fetch("test-org/json-set", "train", &o, path, sizeof path, &err);
    unsetenv("HF_HUB_OFFLINE");
    CHECK_EQ_INT(rc, PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "HF_HUB_OFFLINE"), "%s", err.msg);
    CHECK_EQ_INT(log_mark() - mark, 0);
}

static void t_dataset_server_dies(void) {
    const char *cache = fresh_home("dataset-dies");
    pd_hub_pull_opts o = test_opts();
    o.max_retries = -1;
    pd_error err = {0};
    char path[4200], repo[800], p[1200];
    snprintf(repo, sizeof repo, "%s/datasets--test-org--math-set", cache);
    const ffile *f = find_kind("test-org/math-set", 17, 1)->files + 2; /* test.jsonl */
    CHECK_STR(f->path, "test.jsonl");
    /* the body stops half-way and the server is gone: a clear error, and no file that looks whole */
    pthread_mutex_lock(&S.mu);
    S.cut_next = 1;
    S.die_after_cut = 1;
    pthread_mutex_unlock(&S.mu);
    int rc = pd_dataset_fetch("test-org/math-set", "test", &o, path, sizeof path, &err);
    pthread_mutex_lock(&S.mu);
    S.die_after_cut = S.dead = 0;
    pthread_mutex_unlock(&S.mu);
    CHECK_EQ_INT(rc, PD_ENET);
    CHECK_MSG(strstr(err.msg, "test.jsonl") && strstr(err.msg, "giving up") && strstr(err.msg, "test-org/math-set"),
              "%s", err.msg);
    snprintf(p, sizeof p, "%s/snapshots/%s/test.jsonl", repo, COMMIT);
    CHECK(!exists_nofollow(p));
    snprintf(p, sizeof p, "%s/refs/main", repo);
    CHECK(!exists_nofollow(p));
    snprintf(p, sizeof p, "%s/blobs/%s", repo, f->sha);
    CHECK(!exists_nofollow(p));
    snprintf(p, sizeof p, "%s/blobs/%s.incomplete", repo, f->sha);
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (size_t)sb.st_size == f->len / 2);
    CHECK_EQ_INT(pd_dataset_resolve("test-org/math-set", "test", path, sizeof path, &err), PD_ENOTFOUND);
    /* the server is back: the next run resumes the file where it stopped */
    int mark = log_mark();
    rc = pd_dataset_fetch("test-org/math-set", "test", &o, path, sizeof path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    char range[64];
    snprintf(range, sizeof range, "bytes=%zu-", f->len / 2);
    int found = 0;
    pthread_mutex_lock(&S.mu);
    for (int i = mark; i < S.n_log; i++) found |= !strncmp(S.log[i].url, "/cdn/", 5) && !strcmp(S.log[i].range, range);
    pthread_mutex_unlock(&S.mu);
    CHECK_MSG(found, "no CDN request with Range %s", range);
    CHECK(file_equals(path, f->data, f->len));
    snprintf(p, sizeof p, "%s/blobs", repo);
    CHECK_EQ_INT(count_suffix(p, ".incomplete"), 0);
}

static void t_dataset_cli(void) {
    const char *cache = fresh_home("dataset-cli");
    char cmd[1200], out[4096] = "", want[900];
    /* ponder pull --dataset: the split's files; the snapshot on stdout */
    int mark = log_mark();
    snprintf(cmd, sizeof cmd, "%s pull --dataset test-org/math-set --split test 2>&1", ponder_bin());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    snprintf(want, sizeof want, "%s/datasets--test-org--math-set/snapshots/%s", cache, COMMIT);
    CHECK_MSG(strstr(out, want) && strstr(out, "test.jsonl") && strstr(out, "dataset test-org/math-set@main: 1 files"),
              "%s", out);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/"), 1);
    /* datasets/ORG/NAME: every JSONL/JSON file and README.md */
    mark = log_mark();
    snprintf(cmd, sizeof cmd, "%s pull datasets/test-org/math-set --quiet", ponder_bin());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_MSG(strstr(out, want) != NULL, "%s", out);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/"), 2); /* README.md, train; test was there */
    snprintf(cmd, sizeof cmd, "%s pull test-org/tiny-model --split test 2>&1", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "--split is for datasets") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s pull --dataset test-org/parquet-set 2>&1", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "parquet") && strstr(out, "to_json"), "%s", out);
    /* ... unless --include asks for the files anyway */
    mark = log_mark();
    snprintf(cmd, sizeof cmd, "%s pull --dataset test-org/parquet-set --include 'data/test-*' --quiet", ponder_bin());
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/parquet-set/resolve/"), 1);

    /* ponder eval --dataset ORG/NAME: downloaded on the first run, read from the cache after */
    fresh_home("dataset-eval");
    mark = log_mark();
    CHECK_EQ_INT(run_ponder("eval --policy sim --prm sim --dataset test-org/math-set --dataset-split test --n 1 "
                            "--quiet --out " TMP "/dataset-eval/run1"), 0);
    CHECK_EQ_INT(log_count(mark, "/datasets/test-org/math-set/resolve/"), 1);
    char *cfg = NULL;
    size_t n = 0;
    CHECK_EQ_INT(pd_file_read(TMP "/dataset-eval/run1/config.json", &cfg, &n, NULL), 0);
    char np[64];
    snprintf(np, sizeof np, "\"dataset_problems\": %d", N_TEST_RECORDS);
    CHECK_MSG(cfg && strstr(cfg, "\"dataset\": \"test-org/math-set\"") && strstr(cfg, np), "%s", cfg ? cfg : "");
    free(cfg);
    mark = log_mark();
    CHECK_EQ_INT(run_ponder("eval --policy sim --prm sim --dataset test-org/math-set --dataset-split test --n 1 "
                            "--quiet --out " TMP "/dataset-eval/run2"), 0);
    CHECK_EQ_INT(log_mark() - mark, 0);
    /* a dataset the hub does not have: the eval fails saying so */
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset test-org/nothing-here --quiet --out "
             TMP "/dataset-eval/run3 2>&1", ponder_bin());
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK_MSG(strstr(out, "404") && strstr(out, "test-org/nothing-here"), "%s", out);
}

int main(void) {
    if (system("rm -rf " TMP)) {}
    pd_mkdirs(TMP, NULL);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("XDG_CACHE_HOME");
    RUN(t_sha256_vectors);
    RUN(t_listing_parse);
    RUN(t_header_parsers);
    RUN(t_default_files);
    RUN(t_split_files);
    RUN(t_repo_ids);
    RUN(t_cache_dir_env);
    RUN(t_resolve_handmade);
    setup_repos();
    if (start_server()) {
        printf("FAIL cannot start the fake hub server\n");
        free_repos();
        return 1;
    }
    setenv("HF_ENDPOINT", S.endpoint, 1);
    RUN(t_pull_full_and_noop);
    RUN(t_pull_resume_in_process);
    RUN(t_pull_resume_next_run);
    RUN(t_pull_range_ignored);
    RUN(t_pull_corrupt);
    RUN(t_pull_size_mismatch);
    RUN(t_pull_http_errors);
    RUN(t_pull_token);
    RUN(t_pull_bad_listings);
    RUN(t_pull_without_blob_info);
    RUN(t_pull_locked);
    RUN(t_cli_pull);
    RUN(t_pull_gguf_include);
    RUN(t_dataset_fetch);
    RUN(t_dataset_server_dies);
    RUN(t_dataset_cli);
    MHD_stop_daemon(S.d);
    free_repos();
    return test_done();
}
