/* http.c — the HTTP side of `ponder serve`, on libmicrohttpd (no hand-rolled HTTP parsing).
 *
 * libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION with a poll()
 * listener), so a handler may block: it reads the body (capped: 413 past --max-body),
 * checks the API key, parses the request (api.c: 400 / 404 with OpenAI's error shape),
 * applies the caps (429 with Retry-After when the searches or sequences in flight are at
 * their limits), queues the job for the engine thread and waits for it. While it waits it
 * polls its socket: a client that hung up cancels its job, which drops the job's sequences
 * and search (freeing their KV caches). Streams (`stream: true`) are answered with a
 * response whose reader callback blocks until the engine has produced more server-sent
 * events; a write that fails (the client left) ends the stream and cancels the job.
 *
 * /metrics is Prometheus text: requests by route and status, tokens, a latency histogram per
 * route, searches by strategy, live sequences and searches, KV memory in use. */
#include "serve_int.h"
#include "ponder/prm.h"
#include "ponder/tokenizer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { R_COMPL = 0, R_CHAT, R_MODELS, R_HEALTH, R_METRICS, R_POOL, R_OTHER, R_N };
static const char *ROUTE_NAMES[R_N] = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics", "/pooling", "other"};
static const int CODES[] = {200, 400, 401, 404, 405, 413, 429, 499, 500, 503};
#define N_CODES (int)(sizeof CODES / sizeof *CODES)
static const double BUCKETS[SV_HIST_N] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

/* Per-connection state while a request's body arrives. */
typedef struct conn {
    pd_buf body;
    int too_big;
    double t0;
} conn;

/* A stream in progress (the response reader's state). */
typedef struct stream {
    pd_server *s;
    sv_job *j;
    int fd;
    int route;
    double t0;
} stream;

static void count(pd_server *s, int route, int status, double t0) {
    int c = N_CODES - 1;
    for (int i = 0; i < N_CODES; i++)
        if (CODES[i] == status) c = i;
    double dt = pd_now() - t0;
    pthread_mutex_lock(&s->mu);
    s->met.req[route][c]++;
    int b = 0;
    while (b < SV_HIST_N && dt > BUCKETS[b]) b++;
    s->met.lat_bucket[route][b]++;
    s->met.lat_sum[route] += dt;
    s->met.lat_count[route]++;
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *type, char *body, const char *retry) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (retry) MHD_add_response_header(r, "Retry-After", retry);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(pd_server *s, struct MHD_Connection *c, int route, int status, char *body, double t0,
                                 const char *retry) {
    if (!body) body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    if (!body) return MHD_NO;
    count(s, route, status, t0);
    if (!s->o.quiet) fprintf(stderr, "ponder serve: %s %d %.1f ms\n", ROUTE_NAMES[route], status, (pd_now() - t0) * 1e3);
    return send_text(c, status, "application/json", body, retry);
}

static enum MHD_Result send_err(pd_server *s, struct MHD_Connection *c, int route, const sv_err *e, double t0) {
    return send_json(s, c, route, e->status, sv_err_body(e), t0, e->status == 429 ? "1" : NULL);
}

/* Has the client hung up? (its socket reads as closed, or errors) */
static int gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return 1;
    char b;
    if (p.revents & POLLIN) {
        ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return 0;
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* Wait (holding s->mu) until the job is done or has events; cancels it when the client
 * left or the request has waited past the timeout. */
static void wait_job(pd_server *s, sv_job *j, int fd, int want_events) {
    while (!j->done && !(want_events && j->events.len)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->done_cv, &s->mu, &ts);
        if (j->done || j->cancel) continue;
        if (gone(fd)) {
            j->cancel = 1;
            s->met.cancelled++;
            pthread_cond_signal(&s->work_cv);
        } else if (s->o.timeout_s > 0 && pd_now() - j->t0 > s->o.timeout_s) {
            j->cancel = 1;
            sv_err_set(&j->err, 503, "server_error", NULL, "the request took longer than the server's timeout (%g s)", s->o.timeout_s);
            pthread_cond_signal(&s->work_cv);
        }
    }
}

/* Cancel a job (if still running), wait for the engine to let go, free it. */
static void finish_job(pd_server *s, sv_job *j) {
    pthread_mutex_lock(&s->mu);
    if (!j->done) {
        j->cancel = 1;
        pthread_cond_signal(&s->work_cv);
        while (!j->done) pthread_cond_wait(&s->done_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    sv_job_free(j);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    pd_server *s = st->s;
    sv_job *j = st->j;
    pthread_mutex_lock(&s->mu);
    wait_job(s, j, st->fd, 1);
    ssize_t n;
    if (j->events.len) {
        n = (ssize_t)(j->events.len < max ? j->events.len : max);
        memcpy(buf, j->events.data, (size_t)n);
        memmove(j->events.data, j->events.data + n, j->events.len - (size_t)n);
        j->events.len -= (size_t)n;
    } else if (j->err.status && j->err.status != 499) { /* an error after the stream began: one error event */
        char *e = sv_err_body(&j->err);
        pd_buf_printf(&j->events, "data: %s\n\ndata: [DONE]\n\n", e ? e : "{}");
        free(e);
        j->err.status = 499;
        n = 0;
    } else {
        n = j->err.status == 499 && j->cancel ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->mu);
    if (n == 0) return stream_read(cls, pos, buf, max);
    return n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    count(st->s, st->route, 200, st->t0);
    if (!st->s->o.quiet) fprintf(stderr, "ponder serve: %s 200 (stream) %.1f ms\n", ROUTE_NAMES[st->route], (pd_now() - st->t0) * 1e3);
    finish_job(st->s, st->j);
    free(st);
}

/* GET /v1/models: the served model, with what ponder serve can do (the remote backends read
 * it when they probe a server). */
static char *models_body(pd_server *s) {
    json_t *o = json_object(), *d = json_array(), *m = json_object(), *p = json_object();
    json_object_set_new(m, "id", json_string(s->model_name));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer((json_int_t)time(NULL)));
    json_object_set_new(m, "owned_by", json_string("ponder"));
    json_object_set_new(m, "max_model_len", json_integer(s->cfg.max_positions));
    json_object_set_new(p, "version", json_string(PD_VERSION));
    json_object_set_new(p, "search", json_boolean(s->have_policy && s->have_prm));
    json_object_set_new(p, "pooling", json_boolean(s->prm_m != NULL));
    json_object_set_new(p, "seeds", json_true());
    json_object_set_new(p, "token_ids", json_true());
    json_object_set_new(p, "vocab_size", json_integer(s->cfg.vocab_size));
    json_object_set_new(p, "max_n", json_integer(s->o.max_n));
    json_t *st = json_array();
    for (int i = 0; i < PD_N_STRATEGIES; i++) json_array_append_new(st, json_string(pd_strategy_name((pd_strategy)i)));
    if (s->o.plan) json_array_append_new(st, json_string(pd_strategy_name(PD_AUTO)));
    json_object_set_new(p, "strategies", st);
    json_object_set_new(m, "ponder", p);
    json_array_append_new(d, m);
    if (s->prm_m) { /* the PRM, for /pooling */
        json_t *pm = json_object();
        json_object_set_new(pm, "id", json_string(s->prm_name));
        json_object_set_new(pm, "object", json_string("model"));
        json_object_set_new(pm, "created", json_integer((json_int_t)time(NULL)));
        json_object_set_new(pm, "owned_by", json_string("ponder"));
        json_array_append_new(d, pm);
    }
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", d);
    char *b = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return b;
}

static char *metrics_body(pd_server *s) {
    pd_buf b = {0};
    pthread_mutex_lock(&s->mu);
    sv_metrics m = s->met;
    int qs = s->n_seqs_pending, qsr = s->n_searches;
    pthread_mutex_unlock(&s->mu);
    pd_buf_puts(&b, "# HELP ponder_requests_total HTTP requests by route and status.\n# TYPE ponder_requests_total counter\n");
    for (int r = 0; r < R_N; r++)
        for (int c = 0; c < N_CODES; c++)
            if (m.req[r][c]) pd_buf_printf(&b, "ponder_requests_total{route=\"%s\",code=\"%d\"} %llu\n", ROUTE_NAMES[r], CODES[c], (unsigned long long)m.req[r][c]);
    pd_buf_printf(&b, "# HELP ponder_prompt_tokens_total Prompt tokens of finished requests (policy prefix tokens for searches).\n"
                      "# TYPE ponder_prompt_tokens_total counter\nponder_prompt_tokens_total %llu\n",
                  (unsigned long long)m.prompt_tokens);
    pd_buf_printf(&b, "# HELP ponder_cached_prompt_tokens_total Prompt tokens found in the prefix cache.\n"
                      "# TYPE ponder_cached_prompt_tokens_total counter\nponder_cached_prompt_tokens_total %llu\n",
                  (unsigned long long)m.cached_tokens);
    pd_buf_printf(&b, "# HELP ponder_generated_tokens_total Tokens generated.\n# TYPE ponder_generated_tokens_total counter\n"
                      "ponder_generated_tokens_total %llu\n", (unsigned long long)m.generated_tokens);
    pd_buf_printf(&b, "# HELP ponder_prm_tokens_total Tokens the PRM computed for searches.\n# TYPE ponder_prm_tokens_total counter\n"
                      "ponder_prm_tokens_total %llu\n", (unsigned long long)m.prm_tokens);
    pd_buf_puts(&b, "# HELP ponder_request_duration_seconds Request latency by route.\n# TYPE ponder_request_duration_seconds histogram\n");
    for (int r = 0; r < R_N; r++) {
        if (!m.lat_count[r]) continue;
        uint64_t cum = 0;
        for (int k = 0; k < SV_HIST_N; k++) {
            cum += m.lat_bucket[r][k];
            pd_buf_printf(&b, "ponder_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", ROUTE_NAMES[r], BUCKETS[k], (unsigned long long)cum);
        }
        pd_buf_printf(&b, "ponder_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", ROUTE_NAMES[r], (unsigned long long)m.lat_count[r]);
        pd_buf_printf(&b, "ponder_request_duration_seconds_sum{route=\"%s\"} %.6f\n", ROUTE_NAMES[r], m.lat_sum[r]);
        pd_buf_printf(&b, "ponder_request_duration_seconds_count{route=\"%s\"} %llu\n", ROUTE_NAMES[r], (unsigned long long)m.lat_count[r]);
    }
    pd_buf_puts(&b, "# HELP ponder_searches_total Searches started, by strategy.\n# TYPE ponder_searches_total counter\n");
    for (int i = 0; i <= PD_AUTO; i++)
        pd_buf_printf(&b, "ponder_searches_total{strategy=\"%s\"} %llu\n", pd_strategy_name((pd_strategy)i), (unsigned long long)m.searches[i]);
    pd_buf_printf(&b, "# HELP ponder_cancelled_total Requests whose client went away before the answer.\n# TYPE ponder_cancelled_total counter\n"
                      "ponder_cancelled_total %llu\n", (unsigned long long)m.cancelled);
    pd_buf_printf(&b, "# HELP ponder_sequences_in_flight Completion sequences queued or generating.\n# TYPE ponder_sequences_in_flight gauge\n"
                      "ponder_sequences_in_flight %d\n", qs);
    pd_buf_printf(&b, "# HELP ponder_searches_in_flight Searches queued or running.\n# TYPE ponder_searches_in_flight gauge\n"
                      "ponder_searches_in_flight %d\n", qsr);
    pd_buf_printf(&b, "# HELP ponder_kv_cache_bytes KV cache memory held by live sequences and the prefix cache (completions).\n"
                      "# TYPE ponder_kv_cache_bytes gauge\nponder_kv_cache_bytes %zu\n", m.kv_bytes);
    pd_buf_printf(&b, "# HELP ponder_prefix_cache_entries Entries in the prefix cache.\n# TYPE ponder_prefix_cache_entries gauge\n"
                      "ponder_prefix_cache_entries %zu\n", m.cache_entries);
    return b.data ? b.data : strdup("");
}

static int route_of(const char *url) {
    if (!strcmp(url, "/v1/completions")) return R_COMPL;
    if (!strcmp(url, "/v1/chat/completions")) return R_CHAT;
    if (!strcmp(url, "/v1/models")) return R_MODELS;
    if (!strcmp(url, "/health")) return R_HEALTH;
    if (!strcmp(url, "/metrics")) return R_METRICS;
    if (!strcmp(url, "/pooling") || !strcmp(url, "/v1/pooling")) return R_POOL;
    return R_OTHER;
}

/* Constant-time comparison of the bearer token. */
static int key_ok(const pd_server *s, struct MHD_Connection *c) {
    if (!s->o.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t a = strlen(h), b = strlen(s->o.api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a; i++) diff |= (unsigned char)h[i] ^ (unsigned char)s->o.api_key[i % (b ? b : 1)];
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    pd_server *s = cls;
    conn *cn = *con_cls;
    if (!cn) { /* headers: set up the body buffer */
        if (!(cn = calloc(1, sizeof *cn))) return MHD_NO;
        cn->t0 = pd_now();
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) { /* body bytes */
        if (!cn->too_big && cn->body.len + *upload_size > s->o.max_body) cn->too_big = 1;
        if (!cn->too_big && pd_buf_append(&cn->body, upload, *upload_size)) cn->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    int route = route_of(url);
    double t0 = cn->t0;
    sv_err e = {0};
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (route == R_OTHER) {
        sv_err_set(&e, 404, "not_found_error", NULL, "no route %.100s %.200s", method, url);
        return send_err(s, c, route, &e, t0);
    }
    int want_post = route == R_COMPL || route == R_CHAT || route == R_POOL;
    if ((want_post && !post) || (!want_post && !get)) {
        sv_err_set(&e, 405, "invalid_request_error", NULL, "%.100s needs %s", url, want_post ? "POST" : "GET");
        return send_err(s, c, route, &e, t0);
    }
    if (route == R_HEALTH) return send_json(s, c, route, 200, strdup("{\"status\":\"ok\"}"), t0, NULL);
    if (route == R_METRICS) {
        count(s, route, 200, t0);
        return send_text(c, 200, "text/plain; version=0.0.4", metrics_body(s), NULL);
    }
    if (!key_ok(s, c)) {
        sv_err_set(&e, 401, "invalid_request_error", NULL, "Incorrect API key provided (send Authorization: Bearer KEY)");
        e.code = "invalid_api_key";
        return send_err(s, c, route, &e, t0);
    }
    if (route == R_MODELS) return send_json(s, c, route, 200, models_body(s), t0, NULL);
    if (cn->too_big) {
        sv_err_set(&e, 413, "invalid_request_error", NULL, "the request body is larger than this server's cap (%zu bytes)", s->o.max_body);
        return send_err(s, c, route, &e, t0);
    }
    sv_job *j = calloc(1, sizeof *j);
    if (!j) return MHD_NO;
    j->t0 = t0;
    sv_kind kind = route == R_COMPL ? SV_COMPLETION : route == R_CHAT ? SV_CHAT : SV_POOLING;
    sv_limits lim = {kind == SV_POOLING && s->prm_m ? s->prm_name : s->model_name, s->o.max_n, s->o.max_tokens,
                     (size_t)s->cfg.max_positions + 1, s->o.plan};
    if (sv_parse(kind, cn->body.data, cn->body.len, &lim, &j->req, &e)) {
        free(j);
        return send_err(s, c, route, &e, t0);
    }
    int search = kind == SV_CHAT && j->req.search;
    if (search && !(s->have_policy && s->have_prm)) {
        sv_job_free(j);
        sv_err_set(&e, 400, "invalid_request_error", "ponder",
                   "this server cannot search: it needs a policy with a chat template and a PRM (ponder serve --prm SPEC)");
        return send_err(s, c, route, &e, t0);
    }
    if (kind == SV_CHAT && !search && pd_tokenizer_chat_family(s->tok) == PD_CHAT_NONE) {
        sv_job_free(j);
        sv_err_set(&e, 400, "invalid_request_error", "messages", "the model has no chat template ponder can render; use /v1/completions");
        return send_err(s, c, route, &e, t0);
    }
    /* caps: searches and sequences in flight */
    pthread_mutex_lock(&s->mu);
    int busy = search ? s->n_searches >= s->o.max_searches : kind != SV_POOLING && s->n_seqs_pending + j->req.n > s->o.max_seqs;
    if (!busy) {
        if (search) s->n_searches++, s->met.searches[j->req.cfg.strategy]++;
        else if (kind != SV_POOLING) s->n_seqs_pending += j->req.n;
    }
    pthread_mutex_unlock(&s->mu);
    if (busy) {
        sv_job_free(j);
        sv_err_set(&e, 429, "rate_limit_error", NULL, "the server is at its limit of %s in flight; retry later",
                   search ? "searches" : "sequences");
        return send_err(s, c, route, &e, t0);
    }
    int fd = conn_fd(c);
    sv_engine_submit(s, j);
    pthread_mutex_lock(&s->mu);
    wait_job(s, j, fd, j->req.stream);
    int streaming = j->req.stream && j->events.len;
    pthread_mutex_unlock(&s->mu);
    if (streaming) {
        stream *st = calloc(1, sizeof *st);
        struct MHD_Response *r = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free) : NULL;
        if (!r) {
            free(st);
            finish_job(s, j);
            return MHD_NO;
        }
        *st = (stream){s, j, fd, route, t0};
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* wait for the end (a stream that failed before its first event answers as JSON) */
    pthread_mutex_lock(&s->mu);
    wait_job(s, j, fd, 0);
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result ret;
    if (j->err.status) ret = send_err(s, c, route, &j->err, t0);
    else {
        ret = send_json(s, c, route, 200, j->body, t0, NULL);
        j->body = NULL;
    }
    sv_job_free(j);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn *cn = *con_cls;
    if (!cn) return;
    pd_buf_free(&cn->body);
    free(cn);
    *con_cls = NULL;
}

int sv_http_start(pd_server *s, pd_error *err) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    int g = getaddrinfo(s->host, port, &hints, &ai);
    if (g || !ai) return pd_err_set(err, PD_EINVAL, "serve --host %s: not a numeric address (%s)", s->host, gai_strerror(g));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                            (unsigned)s->o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) return pd_err_set(err, PD_EIO, "serve: cannot listen on %s:%d (in use, or not an address of this machine)", s->host, s->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    s->daemon = d;
    return 0;
}

void sv_http_stop(pd_server *s) {
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
