/* serve_util.h — helpers of the serve and remote tests: a loopback HTTP client (libcurl easy),
 * starting `ponder serve` in-process, and tiny fake servers (libmicrohttpd). Network only on
 * 127.0.0.1; every request has a timeout. */
#ifndef PONDER_SERVE_UTIL_H
#define PONDER_SERVE_UTIL_H

#include "ponder.h"

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_res {
    long status;
    pd_buf body;
    pd_buf headers;
} http_res;

static inline size_t su_write(char *p, size_t s, size_t n, void *ud) {
    return pd_buf_append(ud, p, s * n) ? 0 : s * n;
}

/* One request to 127.0.0.1:port (body NULL: GET). auth may be NULL. Returns the status (0 on
 * a transport error); res (may be NULL) receives the body and headers (free with
 * http_res_free). */
static inline long http_do(int port, const char *method, const char *path, const char *body, const char *auth, http_res *res) {
    CURL *h = curl_easy_init();
    if (!h) return 0;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    http_res tmp;
    memset(&tmp, 0, sizeof tmp);
    if (!res) res = &tmp;
    memset(res, 0, sizeof *res);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char ab[256];
    if (auth) {
        snprintf(ab, sizeof ab, "Authorization: Bearer %s", auth);
        hd = curl_slist_append(hd, ab);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, su_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, su_write);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &res->headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (res == &tmp) {
        pd_buf_free(&tmp.body);
        pd_buf_free(&tmp.headers);
    }
    return status;
}

static inline void http_res_free(http_res *r) {
    pd_buf_free(&r->body);
    pd_buf_free(&r->headers);
}

/* POST a JSON body; returns the parsed answer (NULL when not JSON) and the status. */
static inline json_t *post_json(int port, const char *path, const char *body, long *status) {
    http_res r;
    *status = http_do(port, "POST", path, body, NULL, &r);
    json_t *j = r.body.data ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
    http_res_free(&r);
    return j;
}

/* A value by a path of keys and indices: jget(o, "choices", 0, "text") is not C; use these. */
static inline json_t *jpath(json_t *o, const char *a, long i, const char *b) {
    json_t *x = json_object_get(o, a);
    if (i >= 0) x = json_array_get(x, (size_t)i);
    return b ? json_object_get(x, b) : x;
}

/* A free port on 127.0.0.1 (bound and released: another process could take it meanwhile). */
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
static inline int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t l = sizeof a;
    int port = 0;
    if (s >= 0 && !bind(s, (struct sockaddr *)&a, sizeof a) && !getsockname(s, (struct sockaddr *)&a, &l)) port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

#endif
