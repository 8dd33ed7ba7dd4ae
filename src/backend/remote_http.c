/* remote_http.c — many HTTP requests in flight with libcurl's multi interface.
 *
 * A backend call hands rh_run all its requests at once; they run with at most max_inflight
 * transfers open, spread round-robin over the endpoints (several servers share the load).
 * A request whose attempt fails transiently — no connection, a timeout, an HTTP 5xx or
 * 429, or a 2xx whose body the caller's validator rejects (a garbled answer) — is tried
 * again after a backoff (backoff_s x 2^attempt, jittered by 0.5..1.5, at most 30 s; a 429's
 * Retry-After is honoured up to the same cap) on the next endpoint, at most `retries` more
 * times. Other 4xx answers are final (the server said the request itself is wrong). After
 * the last attempt the request carries an error naming the endpoint, the status or curl's
 * reason, and the attempts; the caller fails that request's search, and the run goes on.
 *
 * Everything is bounded: attempts per request, seconds per attempt (curl's timeout), the
 * backoff. No global state besides curl_global_init (once). */
#include "remote_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKOFF_S 30.0
#define MAX_BODY (256u << 20) /* answers larger than this are refused */

struct rh_client {
    char **bases;
    int n_bases;
    int rr;                /* next base for round-robin */
    char *auth;            /* "Authorization: Bearer ..." or NULL */
    rh_opts o;
    CURLM *multi;
    pd_rng rng;            /* jitter */
    rh_stats st;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

rh_client *rh_client_new(const char *const *bases, int n_bases, const rh_opts *o, pd_error *err) {
    pthread_once(&curl_once, curl_init_once);
    rh_client *c = calloc(1, sizeof *c);
    if (!c || n_bases < 1 || !(c->bases = calloc((size_t)n_bases, sizeof *c->bases))) {
        free(c);
        pd_err_set(err, n_bases < 1 ? PD_EINVAL : PD_ENOMEM, "remote: %s", n_bases < 1 ? "no endpoint" : "out of memory");
        return NULL;
    }
    c->o = *o;
    if (c->o.max_inflight < 1) c->o.max_inflight = 64;
    if (!(c->o.timeout_s > 0)) c->o.timeout_s = 60;
    if (c->o.retries < 0) c->o.retries = 0;
    if (!(c->o.backoff_s > 0)) c->o.backoff_s = 0.5;
    c->n_bases = n_bases;
    for (int i = 0; i < n_bases; i++)
        if (!(c->bases[i] = strdup(bases[i]))) goto oom;
    if (o->api_key && *o->api_key) {
        size_t n = strlen(o->api_key) + 32;
        if (!(c->auth = malloc(n))) goto oom;
        snprintf(c->auth, n, "Authorization: Bearer %s", o->api_key);
        c->o.api_key = NULL;
    }
    if (!(c->multi = curl_multi_init())) goto oom;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->o.max_inflight);
    pd_rng_seed(&c->rng, pd_hash_mix((uint64_t)(uintptr_t)c, (uint64_t)(pd_now() * 1e6)));
    return c;
oom:
    rh_client_free(c);
    pd_err_set(err, PD_ENOMEM, "remote: out of memory");
    return NULL;
}

void rh_client_free(rh_client *c) {
    if (!c) return;
    if (c->multi) curl_multi_cleanup(c->multi);
    for (int i = 0; c->bases && i < c->n_bases; i++) free(c->bases[i]);
    free(c->bases);
    free(c->auth);
    free(c);
}

int rh_client_n_bases(const rh_client *c) { return c->n_bases; }
const char *rh_client_base(const rh_client *c, int i) { return i >= 0 && i < c->n_bases ? c->bases[i] : ""; }
rh_stats rh_client_stats(const rh_client *c) { return c->st; }

void rh_req_clear(rh_req *r) {
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    r->ok = 0;
    r->status = 0;
    r->attempts = 0;
    r->err[0] = 0;
}

int rh_split_spec(const char *spec, char **bases, int max, char **model, pd_error *err) {
    *model = NULL;
    const char *hash = strchr(spec, '#');
    size_t ul = hash ? (size_t)(hash - spec) : strlen(spec);
    if (hash && hash[1] && !(*model = strdup(hash + 1))) return pd_err_set(err, PD_ENOMEM, "out of memory"), -1;
    int n = 0;
    const char *p = spec, *end = spec + ul;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);
        while (l && p[l - 1] == '/') l--;
        if (l) {
            if (n == max || (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) || l <= 8) {
                for (int i = 0; i < n; i++) free(bases[i]);
                free(*model);
                *model = NULL;
                pd_err_set(err, PD_EINVAL, n == max ? "'%s': more than %d endpoints" : "'%s': each endpoint must be an http:// or https:// URL",
                           spec, max);
                return -1;
            }
            if (!(bases[n] = malloc(l + 1))) {
                for (int i = 0; i < n; i++) free(bases[i]);
                pd_err_set(err, PD_ENOMEM, "out of memory");
                return -1;
            }
            memcpy(bases[n], p, l);
            bases[n++][l] = 0;
        }
        p = comma ? comma + 1 : end;
    }
    if (!n) {
        free(*model);
        *model = NULL;
        pd_err_set(err, PD_EINVAL, "'%s': no endpoint URL", spec);
    }
    return n ? n : -1;
}

/* One attempt in flight. */
typedef struct xfer {
    CURL *h;
    struct curl_slist *hdr;
    size_t req;            /* index into the caller's requests */
    int base;
    pd_buf body;
    int too_big;
    double retry_after;    /* a 429's Retry-After, seconds (0: none) */
    struct xfer *prev, *next; /* the transfers in flight */
} xfer;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    xfer *x = ud;
    size_t k = sz * n;
    if (x->too_big || x->body.len + k > MAX_BODY) {
        x->too_big = 1;
        return 0; /* abort the transfer */
    }
    return pd_buf_append(&x->body, p, k) ? 0 : k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    xfer *x = ud;
    size_t k = sz * n;
    if (k > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        double v = strtod(p + 12, NULL);
        if (v > 0 && v <= MAX_BACKOFF_S) x->retry_after = v;
    }
    return k;
}

/* Per-request bookkeeping during rh_run. */
typedef struct rstate {
    double ready;          /* when the next attempt may start */
    int active, done;
    int next_base;
} rstate;

static void fail_msg(rh_client *c, rh_req *r, int base, const char *what) {
    const char *url = c->bases[base];
    snprintf(r->err, sizeof r->err, "%s %.150s%s: %.200s (after %d attempt%s)", r->body ? "POST" : "GET", url, r->path, what,
             r->attempts, r->attempts == 1 ? "" : "s");
}

static int start(rh_client *c, rh_req *r, size_t i, int base, xfer *x, pd_error *err) {
    memset(x, 0, sizeof *x);
    x->req = i;
    x->base = base;
    if (!(x->h = curl_easy_init())) return pd_err_set(err, PD_ENOMEM, "remote: out of memory");
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->bases[base], r->path);
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)(c->o.timeout_s * 1000));
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->o.timeout_s < 10 ? c->o.timeout_s * 1000 : 10000));
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_USERAGENT, "ponder/" PD_VERSION);
    x->hdr = curl_slist_append(x->hdr, "Content-Type: application/json");
    x->hdr = curl_slist_append(x->hdr, "Expect:");
    if (c->auth) x->hdr = curl_slist_append(x->hdr, c->auth);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdr);
    if (r->body) {
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    }
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(c->multi, x->h) != CURLM_OK) return pd_err_set(err, PD_ENOMEM, "remote: cannot start a transfer");
    r->attempts++;
    c->st.attempts++;
    return 0;
}

static void xfer_free(rh_client *c, xfer **list, xfer *x) {
    if (x->prev) x->prev->next = x->next;
    else if (*list == x) *list = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->h) {
        curl_multi_remove_handle(c->multi, x->h);
        curl_easy_cleanup(x->h);
    }
    curl_slist_free_all(x->hdr);
    pd_buf_free(&x->body);
    free(x);
}

int rh_run(rh_client *c, rh_req *reqs, size_t n, rh_check_fn check, void *ud, pd_error *err) {
    rstate *rs = calloc(n ? n : 1, sizeof *rs);
    if (!rs) return pd_err_set(err, PD_ENOMEM, "remote: out of memory");
    for (size_t i = 0; i < n; i++) {
        rh_req_clear(&reqs[i]);
        rs[i].next_base = reqs[i].endpoint >= 0 && reqs[i].endpoint < c->n_bases ? reqs[i].endpoint : c->rr++ % c->n_bases;
        c->st.requests++;
    }
    size_t n_done = 0;
    int active = 0, rc = 0;
    xfer *list = NULL;
    while (n_done < n && !rc) {
        double now = pd_now(), wait = 0.1;
        /* start what may start */
        for (size_t i = 0; i < n && active < c->o.max_inflight && !rc; i++) {
            if (rs[i].done || rs[i].active) continue;
            if (rs[i].ready > now) {
                if (rs[i].ready - now < wait) wait = rs[i].ready - now;
                continue;
            }
            xfer *x = malloc(sizeof *x);
            if (!x) {
                rc = pd_err_set(err, PD_ENOMEM, "remote: out of memory");
                break;
            }
            rc = start(c, &reqs[i], i, rs[i].next_base, x, err);
            x->next = list;
            if (list) list->prev = x;
            list = x;
            if (rc) {
                xfer_free(c, &list, x);
                break;
            }
            rs[i].active = 1;
            active++;
        }
        if (rc) break;
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = m->data.result;
            rh_req *r = &reqs[x->req];
            rstate *st = &rs[x->req];
            long status = 0;
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
            r->status = (int)status;
            r->used = x->base;
            char why[300] = "";
            int transient = 0, final_fail = 0;
            if (cc != CURLE_OK) {
                snprintf(why, sizeof why, "%s", x->too_big ? "the answer is too large" : curl_easy_strerror(cc));
                transient = !x->too_big;
                final_fail = x->too_big;
            } else if (status >= 200 && status < 300) {
                if (!check || check(ud, x->req, x->body.data ? x->body.data : "", x->body.len, why, sizeof why) == 0) {
                    r->ok = 1;
                    r->resp_len = x->body.len;
                    r->resp = pd_buf_steal(&x->body);
                } else {
                    transient = 1; /* a garbled answer: maybe the next attempt (or endpoint) does better */
                }
            } else {
                /* the server's own message, when it sent one */
                char snip[200];
                size_t k = x->body.len < sizeof snip - 1 ? x->body.len : sizeof snip - 1;
                for (size_t q = 0; q < k; q++) snip[q] = x->body.data[q] >= 32 && x->body.data[q] < 127 ? x->body.data[q] : ' ';
                snip[k] = 0;
                snprintf(why, sizeof why, "HTTP %ld%s%s", status, k ? ": " : "", snip);
                transient = status >= 500 || status == 429 || status == 408;
                final_fail = !transient;
            }
            double ra = x->retry_after;
            xfer_free(c, &list, x);
            active--;
            st->active = 0;
            if (r->ok) {
                st->done = 1;
                n_done++;
                continue;
            }
            if (transient && r->attempts <= c->o.retries) {
                double b = c->o.backoff_s;
                for (int a = 1; a < r->attempts && b < MAX_BACKOFF_S; a++) b *= 2;
                b *= 0.5 + pd_rng_f64(&c->rng);
                if (ra > b) b = ra;
                if (b > MAX_BACKOFF_S) b = MAX_BACKOFF_S;
                st->ready = pd_now() + b;
                if (r->endpoint < 0) st->next_base = (st->next_base + 1) % c->n_bases;
                c->st.retries++;
                snprintf(r->err, sizeof r->err, "%s", why); /* the latest reason, until it succeeds */
                continue;
            }
            (void)final_fail;
            fail_msg(c, r, r->used, why);
            st->done = 1;
            n_done++;
            c->st.failed++;
        }
        if (n_done >= n) break;
        int ms = (int)(wait * 1000);
        if (ms < 1) ms = 1;
        curl_multi_poll(c->multi, NULL, 0, ms, NULL);
    }
    while (list) xfer_free(c, &list, list); /* an aborted call (out of memory): drop what is in flight */
    free(rs);
    return rc;
}
