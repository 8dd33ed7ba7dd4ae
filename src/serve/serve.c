/* serve.c — starting and stopping `ponder serve` (include/ponder/serve.h): the models are
 * loaded first (engine.c), then the engine thread and the HTTP daemon (http.c) start. */
#include "serve_int.h"

#include <stdlib.h>
#include <string.h>

void pd_serve_opts_default(pd_serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_body = 1 << 20;
    o->max_n = 64;
    o->max_tokens = 4096;
    o->max_searches = 16;
    o->max_seqs = 1024;
    o->max_connections = 512;
    o->cache_mb = 256;
    o->timeout_s = 600;
}

/* The name clients use: the spec's last path part ("Qwen/Qwen2.5-0.5B-Instruct" stays whole:
 * a repo id is already a name). */
static void default_name(const char *spec, char *out, size_t cap) {
    size_t n = strlen(spec);
    while (n > 1 && spec[n - 1] == '/') n--;
    const char *start = spec;
    int is_path = spec[0] == '/' || spec[0] == '.' || strchr(spec, '/') != strrchr(spec, '/');
    if (is_path)
        for (size_t i = 0; i < n; i++)
            if (spec[i] == '/') start = spec + i + 1;
    size_t len = (size_t)(spec + n - start);
    if (len >= cap) len = cap - 1;
    memcpy(out, start, len);
    out[len] = 0;
}

int pd_serve_start(pd_server **out, const pd_serve_opts *o, pd_error *err) {
    *out = NULL;
    if (!o || !o->policy || !*o->policy) return pd_err_set(err, PD_EINVAL, "serve: --policy is required");
    if (o->max_n < 1 || o->max_tokens < 1 || o->max_searches < 1 || o->max_seqs < 1 || o->max_body < 64 || o->max_connections < 1)
        return pd_err_set(err, PD_EINVAL, "serve: the caps must be positive");
    pd_server *s = calloc(1, sizeof *s);
    if (!s) return pd_err_set(err, PD_ENOMEM, "out of memory");
    s->o = *o;
    pd_backend_opts_default(&s->bopts);
    if (o->backend) {
        s->bopts = *o->backend;
        memset(s->bopts.owned, 0, sizeof s->bopts.owned); /* the caller keeps those */
    }
    s->policy_spec = strdup(o->policy);
    s->prm_spec = o->prm && *o->prm ? strdup(o->prm) : NULL;
    s->host = strdup(o->host && *o->host ? o->host : "127.0.0.1");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    if (o->model_name && *o->model_name) snprintf(s->model_name, sizeof s->model_name, "%s", o->model_name);
    else if (s->policy_spec) default_name(s->policy_spec, s->model_name, sizeof s->model_name);
    if (s->prm_spec) default_name(s->prm_spec, s->prm_name, sizeof s->prm_name);
    int rc = !s->policy_spec || !s->host || (o->prm && *o->prm && !s->prm_spec) ? pd_err_set(err, PD_ENOMEM, "out of memory") : 0;
    if (!rc) rc = sv_engine_open(s, err);
    if (!rc) rc = sv_engine_start(s, err);
    if (!rc) rc = sv_http_start(s, err);
    if (rc) {
        pd_serve_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

int pd_serve_port(const pd_server *s) { return s ? s->port : 0; }
const char *pd_serve_model_name(const pd_server *s) { return s ? s->model_name : ""; }

void pd_serve_stop(pd_server *s) {
    if (!s) return;
    /* the engine answers what is in flight (503) first, so that handlers waiting on it return */
    sv_engine_stop(s);
    sv_http_stop(s);
    sv_engine_close(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->done_cv);
    free(s->policy_spec);
    free(s->prm_spec);
    free(s->host);
    free(s);
}
