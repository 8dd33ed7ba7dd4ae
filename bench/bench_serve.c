/* bench_serve.c — load on `ponder serve`: C concurrent clients for D seconds against an
 * in-process server with the tiny fixture models (or a running server with --url), a mix
 * of plain completions and searches through the chat API. Prints throughput, latency
 * percentiles per kind, and the answers by status; errors other than 429 are the figure to
 * watch (target: none). Prints figures; never fails on time.
 *
 *   build/bench/bench_serve [--clients 200] [--seconds 20] [--search-share 0.2] [--url http://127.0.0.1:PORT]
 */
#include "ponder.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    double lat;
    int status;
    int search;
    long tokens;
} sample;

typedef struct client {
    int id;
    const char *base;
    double until, share;
    sample *s;
    size_t n, cap;
} client;

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
    pd_buf *b = ud;
    return pd_buf_append(b, p, sz * n) ? 0 : sz * n;
}

static long usage_tokens(const char *body) {
    const char *p = body ? strstr(body, "\"total_tokens\":") : NULL;
    return p ? atol(p + 15) : 0;
}

static void *run_client(void *arg) {
    client *c = arg;
    CURL *h = curl_easy_init();
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)c->id * 7919 + 1);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[512], body[1024];
    pd_buf resp = {0};
    for (uint64_t k = 0; pd_now() < c->until; k++) {
        int search = pd_rng_f64(&r) < c->share;
        if (search) {
            snprintf(url, sizeof url, "%s/v1/chat/completions", c->base);
            snprintf(body, sizeof body,
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"What is %d + %d?\"}], \"seed\": %llu, "
                     "\"ponder\": {\"strategy\": \"best_of_n\", \"n\": 4, \"max_step_tokens\": 16}}",
                     c->id, (int)k, (unsigned long long)k);
        } else {
            snprintf(url, sizeof url, "%s/v1/completions", c->base);
            snprintf(body, sizeof body, "{\"prompt\": \"Client %d asks %llu:\", \"max_tokens\": 16, \"seed\": %llu, \"stop\": [\"\\n\\n\"]}",
                     c->id, (unsigned long long)k, (unsigned long long)k);
        }
        pd_buf_reset(&resp);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        double t0 = pd_now();
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        double dt = pd_now() - t0;
        if (pd_grow((void **)&c->s, &c->cap, c->n + 1, sizeof *c->s)) break;
        c->s[c->n++] = (sample){dt, (int)status, search, status == 200 ? usage_tokens(resp.data) : 0};
        if (status == 429) {
            struct timespec ts = {0, 50 * 1000000L}; /* a polite client backs off a little */
            nanosleep(&ts, NULL);
        }
    }
    pd_buf_free(&resp);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, client *cs, int nc, int search, double secs) {
    size_t n = 0, ok = 0, other = 0, busy = 0;
    long tokens = 0;
    double *lat = NULL;
    size_t cap = 0;
    for (int i = 0; i < nc; i++)
        for (size_t k = 0; k < cs[i].n; k++) {
            sample *s = &cs[i].s[k];
            if (s->search != search) continue;
            n++;
            if (s->status == 200) {
                ok++;
                tokens += s->tokens;
                if (!pd_grow((void **)&lat, &cap, ok, sizeof *lat)) lat[ok - 1] = s->lat;
            } else if (s->status == 429) busy++;
            else other++;
        }
    if (ok) qsort(lat, ok, sizeof *lat, cmp_d);
    printf("%-12s %8zu requests  %8zu ok  %6zu x 429  %4zu other errors  %7.1f ok/s  %9.0f tokens/s  p50 %7.1f ms  p99 %7.1f ms\n", what,
           n, ok, busy, other, ok / secs, tokens / secs, ok ? lat[ok / 2] * 1e3 : 0, ok ? lat[(size_t)(ok * 0.99)] * 1e3 : 0);
    free(lat);
}

int main(int argc, char **argv) {
    int nc = 200;
    double secs = 20, share = 0.2;
    const char *url = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clients")) nc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--search-share")) share = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--url")) url = argv[i + 1];
    }
    if (nc < 1 || nc > 4096 || !(secs > 0 && secs <= 3600)) {
        fprintf(stderr, "bench_serve: --clients 1..4096, --seconds (0, 3600]\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pd_server *srv = NULL;
    char base[256];
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    if (!url) {
        pd_serve_opts o;
        pd_serve_opts_default(&o);
        o.port = 0;
        o.policy = "tests/fixtures/prm/rlhflow";
        o.prm = "tests/fixtures/prm/qwen2-prm";
        o.quiet = 1;
        o.max_connections = nc + 16;
        o.backend = &bo;
        pd_error err = {0};
        if (pd_serve_start(&srv, &o, &err)) {
            fprintf(stderr, "bench_serve: %s\n", err.msg);
            return 1;
        }
        snprintf(base, sizeof base, "http://127.0.0.1:%d", pd_serve_port(srv));
        url = base;
    }
    printf("bench_serve: %d clients for %.0f s against %s (%s); %.0f%% searches (best_of_n N=4, step cap 16), the rest\n"
           "completions of 16 tokens\n", nc, secs, url, srv ? "in-process, tiny fixture models" : "external", share * 100);
    client *cs = calloc((size_t)nc, sizeof *cs);
    pthread_t *th = calloc((size_t)nc, sizeof *th);
    double t0 = pd_now();
    for (int i = 0; i < nc; i++) {
        cs[i] = (client){.id = i, .base = url, .until = t0 + secs, .share = share};
        pthread_create(&th[i], NULL, run_client, &cs[i]);
    }
    for (int i = 0; i < nc; i++) pthread_join(th[i], NULL);
    double wall = pd_now() - t0;
    report("completions", cs, nc, 0, wall);
    report("searches", cs, nc, 1, wall);
    for (int i = 0; i < nc; i++) free(cs[i].s);
    free(cs);
    free(th);
    if (srv) pd_serve_stop(srv);
    curl_global_cleanup();
    return 0;
}
