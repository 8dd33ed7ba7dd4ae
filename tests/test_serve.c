/* test_serve.c — `ponder serve` over loopback: the routes, the completion API's fields
 * (seeds, stops, logprobs, streaming), searches through the chat API, /pooling, and the
 * safety rails (OpenAI-shaped 400s, 404, 405, 413, 401 with an API key, 429 at the caps, a
 * client that hangs up cancels its search).
 *
 * The server runs in this process on a free port (pd_serve_start with port 0), with the
 * tiny fixture models: rlhflow (a random-weight Llama 3 chat model) as the policy and
 * qwen2-prm as the PRM. Their text is noise; the checks are about the machinery. */
#include "ponder.h"
#include "serve_util.h"
#include "test.h"

#include <math.h>

#define POLICY "tests/fixtures/prm/rlhflow"
#define PRM "tests/fixtures/prm/qwen2-prm"

static pd_server *srv;
static int port;
static pd_backend_opts bo;
static const pd_auto_plan *plan; /* strategy auto's, for the next start() */

static int start(const char *api_key, int max_searches, int max_seqs) {
    pd_serve_opts o;
    pd_serve_opts_default(&o);
    o.port = 0;
    o.policy = POLICY;
    o.prm = PRM;
    o.quiet = 1;
    o.api_key = api_key;
    o.max_searches = max_searches;
    o.max_seqs = max_seqs;
    o.max_body = 4096;
    o.max_n = 16;
    o.max_tokens = 512;
    o.plan = plan;
    pd_backend_opts_default(&bo);
    strcpy(bo.step_delimiter, " ");
    bo.n_threads = 2;
    o.backend = &bo;
    pd_error err = {0};
    if (pd_serve_start(&srv, &o, &err)) {
        printf("serve: %s\n", err.msg);
        return -1;
    }
    port = pd_serve_port(srv);
    return 0;
}

static void stop(void) {
    pd_serve_stop(srv);
    srv = NULL;
}

/* The routes that are not completions. */
static void t_models_health_metrics(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    http_res r;
    CHECK_EQ_INT(http_do(port, "GET", "/v1/models", NULL, NULL, &r), 200);
    json_t *j = json_loadb(r.body.data, r.body.len, 0, NULL);
    CHECK_STR(json_string_value(jpath(j, "data", 0, "id")), "rlhflow");
    CHECK_STR(json_string_value(jpath(j, "data", 0, "owned_by")), "ponder");
    CHECK(json_is_true(json_object_get(jpath(j, "data", 0, "ponder"), "search")));
    json_decref(j);
    http_res_free(&r);
    CHECK_EQ_INT(http_do(port, "GET", "/health", NULL, NULL, NULL), 200);
    CHECK_EQ_INT(http_do(port, "GET", "/nope", NULL, NULL, NULL), 404);
    CHECK_EQ_INT(http_do(port, "GET", "/v1/completions", NULL, NULL, NULL), 405);
    json_decref(post_json(port, "/v1/completions", "{\"prompt\": \"2+2=\", \"max_tokens\": 3}", &st));
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_INT(http_do(port, "GET", "/metrics", NULL, NULL, &r), 200);
    CHECK(r.body.data && strstr(r.body.data, "ponder_requests_total{route=\"/v1/completions\",code=\"200\"} 1"));
    CHECK(r.body.data && strstr(r.body.data, "ponder_request_duration_seconds_bucket{route=\"/v1/completions\",le=\"+Inf\"} 2")); /* the 405 too */
    CHECK(r.body.data && strstr(r.body.data, "ponder_generated_tokens_total 3"));
    CHECK(r.body.data && strstr(r.body.data, "ponder_kv_cache_bytes"));
    CHECK(r.body.data && strstr(r.body.data, "ponder_searches_total{strategy=\"beam_search\"} 0"));
    http_res_free(&r);
    stop();
}

typedef struct conc {
    int seed;
    json_t *out;
} conc;

static void *conc_run(void *arg) {
    conc *c = arg;
    char body[256];
    long st;
    snprintf(body, sizeof body, "{\"prompt\": \"Count:\", \"max_tokens\": 16, \"seed\": %d}", c->seed);
    c->out = post_json(port, "/v1/completions", body, &st);
    return NULL;
}

/* n choices with per-choice seeds are exactly the single-choice requests with those seeds
 * (the sample depends on the seed, not on the batch); a seed reproduces its sample. */
static void t_seeds_and_batches(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *both = post_json(port, "/v1/completions",
                             "{\"prompt\": [900, 12, 40, 77], \"max_tokens\": 12, \"n\": 3, \"seeds\": [11, 22, 33], "
                             "\"temperature\": 0.8}", &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(both, "choices")), 3);
    const long seeds[3] = {11, 22, 33};
    int differ = 0;
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\": [900, 12, 40, 77], \"max_tokens\": 12, \"seed\": %ld, \"temperature\": 0.8}", seeds[i]);
        json_t *one = post_json(port, "/v1/completions", body, &st);
        CHECK_EQ_INT(st, 200);
        json_t *a = jpath(both, "choices", i, "token_ids"), *b = jpath(one, "choices", 0, "token_ids");
        CHECK(json_equal(a, b));
        CHECK_STR(json_string_value(jpath(both, "choices", i, "text")), json_string_value(jpath(one, "choices", 0, "text")));
        if (i) differ |= !json_equal(a, jpath(both, "choices", 0, "token_ids"));
        json_decref(one);
    }
    CHECK(differ); /* different seeds really sample differently */
    CHECK_EQ_INT(json_integer_value(jpath(both, "usage", -1, "completion_tokens")), 36);
    CHECK_EQ_INT(json_integer_value(jpath(both, "usage", -1, "prompt_tokens")), 4);
    json_decref(both);
    /* eight concurrent clients (their decoding batched together) get what they get alone */
    pthread_t th[8];
    conc c[8];
    for (int i = 0; i < 8; i++) {
        c[i].seed = 100 + i;
        c[i].out = NULL;
        pthread_create(&th[i], NULL, conc_run, &c[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\": \"Count:\", \"max_tokens\": 16, \"seed\": %d}", c[i].seed);
        json_t *one = post_json(port, "/v1/completions", body, &st);
        CHECK(c[i].out && json_equal(jpath(c[i].out, "choices", 0, "token_ids"), jpath(one, "choices", 0, "token_ids")));
        json_decref(one);
        json_decref(c[i].out);
    }
    stop();
}

/* Stops: the first occurrence of any stop string, kept or trimmed; stop_token_ids; EOS. */
static void t_stops(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *free_run = post_json(port, "/v1/completions", "{\"prompt\": \"Compute 2+2.\", \"max_tokens\": 40, \"seed\": 5}", &st);
    CHECK_EQ_INT(st, 200);
    const char *full = json_string_value(jpath(free_run, "choices", 0, "text"));
    CHECK(full && strchr(full, ' '));
    json_t *kept = post_json(port, "/v1/completions",
                             "{\"prompt\": \"Compute 2+2.\", \"max_tokens\": 40, \"seed\": 5, \"stop\": [\" \"], "
                             "\"include_stop_str_in_output\": true}", &st);
    json_t *trim = post_json(port, "/v1/completions", "{\"prompt\": \"Compute 2+2.\", \"max_tokens\": 40, \"seed\": 5, \"stop\": \" \"}", &st);
    const char *k = json_string_value(jpath(kept, "choices", 0, "text")), *t = json_string_value(jpath(trim, "choices", 0, "text"));
    if (full && k && t && strchr(full, ' ')) {
        size_t at = (size_t)(strchr(full, ' ') - full);
        CHECK_EQ_INT(strlen(k), at + 1);
        CHECK(!strncmp(full, k, at + 1));
        CHECK_EQ_INT(strlen(t), at);
        CHECK_STR(json_string_value(jpath(kept, "choices", 0, "finish_reason")), "stop");
        CHECK_STR(json_string_value(jpath(kept, "choices", 0, "stop_reason")), " ");
    }
    /* a stop token id: the generation ends at its first occurrence */
    json_t *ids = jpath(free_run, "choices", 0, "token_ids");
    if (json_array_size(ids) > 3) {
        long third = (long)json_integer_value(json_array_get(ids, 2));
        size_t first = 0;
        while (json_integer_value(json_array_get(ids, first)) != third) first++;
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\": \"Compute 2+2.\", \"max_tokens\": 40, \"seed\": 5, \"stop_token_ids\": [%ld]}", third);
        json_t *si = post_json(port, "/v1/completions", body, &st);
        CHECK_EQ_INT(json_array_size(jpath(si, "choices", 0, "token_ids")), first + 1);
        CHECK_EQ_INT(json_integer_value(jpath(si, "choices", 0, "stop_reason")), third);
        json_decref(si);
    }
    CHECK_STR(json_string_value(jpath(free_run, "choices", 0, "finish_reason")), "length");
    json_decref(free_run);
    json_decref(kept);
    json_decref(trim);
    stop();
}

/* logprobs: the sampled token's logprob is listed, the top ones are sorted and form part of
 * a distribution; logprob_token_ids give those ids' values; greedy picks the top token. */
static void t_logprobs(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *j = post_json(port, "/v1/completions",
                          "{\"prompt\": [900, 5, 6], \"max_tokens\": 4, \"temperature\": 0, \"logprobs\": 5, "
                          "\"logprob_token_ids\": [3, 4], \"return_tokens_as_token_ids\": true}", &st);
    CHECK_EQ_INT(st, 200);
    json_t *lp = jpath(j, "choices", 0, "logprobs");
    CHECK_EQ_INT(json_array_size(json_object_get(lp, "tokens")), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *top = json_array_get(json_object_get(lp, "top_logprobs"), i);
        CHECK_EQ_INT(json_object_size(top), 7); /* 5 top + 2 requested (distinct here) */
        const char *tok = json_string_value(json_array_get(json_object_get(lp, "tokens"), i));
        CHECK(tok && !strncmp(tok, "token_id:", 9));
        double chosen = json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), i)), sum = 0, mx = -1e9;
        const char *key;
        json_t *v;
        json_object_foreach(top, key, v) {
            if (!strcmp(key, "token_id:3") || !strcmp(key, "token_id:4")) continue;
            sum += exp(json_real_value(v));
            if (json_real_value(v) > mx) mx = json_real_value(v);
        }
        CHECK(sum > 0 && sum <= 1.0 + 1e-6);
        CHECK(fabs(chosen - mx) < 1e-6); /* greedy: the sampled token is the most likely */
        CHECK(json_is_real(json_object_get(top, "token_id:3")) && json_real_value(json_object_get(top, "token_id:3")) < 0);
    }
    json_decref(j);
    stop();
}

/* Streaming: the deltas add up to the non-streamed text; the stream ends with [DONE]. */
static void t_stream(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *plain = post_json(port, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 20, \"seed\": 9, \"stop\": [\" a\"]}", &st);
    http_res r;
    CHECK_EQ_INT(http_do(port, "POST", "/v1/completions",
                         "{\"prompt\": \"Once\", \"max_tokens\": 20, \"seed\": 9, \"stop\": [\" a\"], \"stream\": true, "
                         "\"stream_options\": {\"include_usage\": true}}", NULL, &r), 200);
    CHECK(r.headers.data && strstr(r.headers.data, "text/event-stream"));
    pd_buf text = {0};
    int usage = 0, done = 0;
    for (char *p = r.body.data; p && (p = strstr(p, "data: ")); p += 6) {
        if (!strncmp(p + 6, "[DONE]", 6)) {
            done = 1;
            continue;
        }
        char *e = strstr(p, "\n\n");
        json_t *c = e ? json_loadb(p + 6, (size_t)(e - p - 6), 0, NULL) : NULL;
        CHECK(c != NULL);
        const char *t = json_string_value(jpath(c, "choices", 0, "text"));
        if (t) pd_buf_puts(&text, t);
        usage |= json_integer_value(jpath(c, "usage", -1, "completion_tokens")) > 0;
        json_decref(c);
    }
    CHECK(done && usage);
    CHECK_STR(text.data ? text.data : "", json_string_value(jpath(plain, "choices", 0, "text")));
    pd_buf_free(&text);
    http_res_free(&r);
    json_decref(plain);
    stop();
}

/* A search through the chat API: an OpenAI-shaped answer, usage counting the PRM, a trace
 * whose selected candidate is the answer; the model-name prefix is the same search. */
static void t_chat_search(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *a = post_json(port, "/v1/chat/completions",
                          "{\"model\": \"rlhflow\", \"messages\": [{\"role\": \"user\", \"content\": \"What is 2+3?\"}], "
                          "\"ponder\": {\"strategy\": \"best_of_n\", \"n\": 4, \"max_step_tokens\": 10, \"trace\": true}, \"seed\": 3}", &st);
    CHECK_EQ_INT(st, 200);
    const char *content = json_string_value(jpath(a, "choices", 0, "message") ? json_object_get(jpath(a, "choices", 0, "message"), "content") : NULL);
    CHECK(content != NULL);
    json_t *u = json_object_get(a, "usage");
    long total = (long)json_integer_value(json_object_get(u, "total_tokens")), prm = (long)json_integer_value(json_object_get(u, "prm_tokens"));
    CHECK(prm > 0);
    CHECK_EQ_INT(total, json_integer_value(json_object_get(u, "prompt_tokens")) + json_integer_value(json_object_get(u, "completion_tokens")) + prm);
    json_t *tr = json_object_get(a, "ponder");
    CHECK_EQ_INT(json_array_size(json_object_get(tr, "candidates")), 4);
    long sel = (long)json_integer_value(json_object_get(tr, "selected"));
    CHECK_STR(json_string_value(jpath(tr, "candidates", sel, "text")), content);
    CHECK(json_array_size(jpath(tr, "candidates", 0, "step_rewards")) > 0);
    json_t *b = post_json(port, "/v1/chat/completions",
                          "{\"model\": \"best_of_n-4/rlhflow\", \"messages\": [{\"role\": \"user\", \"content\": \"What is 2+3?\"}], "
                          "\"ponder\": {\"max_step_tokens\": 10}, \"seed\": 3}", &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(json_string_value(json_object_get(jpath(b, "choices", 0, "message"), "content")), content);
    json_decref(a);
    json_decref(b);
    /* streamed: progress events, then the answer */
    http_res r;
    CHECK_EQ_INT(http_do(port, "POST", "/v1/chat/completions",
                         "{\"model\": \"beam_search-4/rlhflow\", \"messages\": [{\"role\": \"user\", \"content\": \"What is 2+3?\"}], "
                         "\"ponder\": {\"beam_width\": 2, \"iterations\": 3, \"max_step_tokens\": 10}, \"stream\": true}", NULL, &r), 200);
    CHECK(r.body.data && strstr(r.body.data, "\"event\":\"progress\"") && strstr(r.body.data, "\"finish_reason\":\"") &&
          strstr(r.body.data, "data: [DONE]"));
    http_res_free(&r);
    stop();
}

/* Strategy auto: refused without --plan; with a plan whose every bin runs beam search
 * (threshold 2: no probe reaches it), the probe's statistic and the plan's choice are in the
 * trace, the answer is the plan's selection, and it equals beam search's own answer. */
static void t_chat_auto(void) {
    static const char *body = "{\"model\": \"rlhflow\", \"messages\": [{\"role\": \"user\", \"content\": \"What is 2+3?\"}], "
                              "\"ponder\": {\"strategy\": \"%s\", \"n\": 4, \"beam_width\": 2, \"iterations\": 3, "
                              "\"max_step_tokens\": 10, \"trace\": true%s}, \"seed\": 3}";
    char b1[1024], b2[1024];
    snprintf(b1, sizeof b1, body, "auto", "");
    snprintf(b2, sizeof b2, body, "beam_search", ", \"select\": \"maj\"");
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    long st;
    json_t *a = post_json(port, "/v1/chat/completions", b1, &st);
    CHECK_EQ_INT(st, 400);
    char *dump = json_dumps(a, 0);
    CHECK_MSG(dump && strstr(dump, "without --plan") != NULL, "%s", dump ? dump : "(null)");
    free(dump);
    json_decref(a);
    stop();
    pd_auto_plan p;
    memset(&p, 0, sizeof p);
    p.probe_samples = 2;
    p.n_bins = 2;
    p.thresholds[0] = 2.0;
    p.n_budgets = 1;
    p.budgets[0] = 4;
    for (int b = 0; b < 2; b++) p.choice[0][b] = (pd_plan_choice){PD_BEAM_SEARCH, PD_SEL_MAJ, 4, 2};
    plan = &p;
    if (start(NULL, 4, 64)) { CHECK(0); plan = NULL; return; }
    a = post_json(port, "/v1/chat/completions", b1, &st);
    CHECK_EQ_INT(st, 200);
    json_t *tr = json_object_get(a, "ponder"), *pl = json_object_get(tr, "plan");
    CHECK_STR(json_string_value(json_object_get(pl, "strategy")), "beam_search");
    CHECK_EQ_INT(json_integer_value(json_object_get(pl, "bin")), 0);
    CHECK_STR(json_string_value(json_object_get(tr, "selection")), "maj");
    double stat = json_number_value(json_object_get(pl, "stat"));
    CHECK(stat >= 0 && stat <= 1);
    json_t *b = post_json(port, "/v1/chat/completions", b2, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(json_string_value(json_object_get(jpath(a, "choices", 0, "message"), "content")),
              json_string_value(json_object_get(jpath(b, "choices", 0, "message"), "content")));
    /* the probe is paid for: more PRM tokens than beam search alone */
    CHECK(json_integer_value(json_object_get(json_object_get(a, "usage"), "prm_tokens")) >
          json_integer_value(json_object_get(json_object_get(b, "usage"), "prm_tokens")));
    json_decref(a);
    json_decref(b);
    stop();
    plan = NULL;
}

/* Bad requests: OpenAI-shaped errors with the field named; nothing crashes the server. */
static void t_errors(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    struct {
        const char *path, *body;
        long status;
        const char *param;
    } cases[] = {
        {"/v1/completions", "{\"prompt\": ", 400, NULL},
        {"/v1/completions", "[1, 2]", 400, NULL},
        {"/v1/completions", "{}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": 3}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": \"x\", \"n\": 17}", 400, "n"},
        {"/v1/completions", "{\"prompt\": \"x\", \"n\": \"2\"}", 400, "n"},
        {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 513}", 400, "max_tokens"},
        {"/v1/completions", "{\"prompt\": \"x\", \"temperature\": -1}", 400, "temperature"},
        {"/v1/completions", "{\"prompt\": \"x\", \"top_p\": 0}", 400, "top_p"},
        {"/v1/completions", "{\"prompt\": \"x\", \"stop\": [1]}", 400, "stop"},
        {"/v1/completions", "{\"prompt\": \"x\", \"echo\": true}", 400, "echo"},
        {"/v1/completions", "{\"prompt\": \"x\", \"logprobs\": 21}", 400, "logprobs"},
        {"/v1/completions", "{\"prompt\": \"x\", \"seeds\": [1, 2]}", 400, "seeds"},
        {"/v1/completions", "{\"prompt\": \"x\", \"presence_penalty\": 0.5}", 400, "presence_penalty"},
        {"/v1/completions", "{\"prompt\": [905]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [-1]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [\"a\", \"b\"]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": \"x\", \"model\": \"gpt-4\"}", 404, "model"},
        {"/v1/chat/completions", "{\"messages\": []}", 400, "messages"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", 400, "messages"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"ponder\": {\"strategy\": \"magic\"}}", 400, "ponder.strategy"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"ponder\": {\"strategy\": \"beam_search\", \"n\": 6, \"beam_width\": 4}}", 400, "ponder"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"ponder\": {\"n\": 64}}", 400, "ponder.n"},
        {"/v1/chat/completions", "{\"model\": \"beam_search-x/rlhflow\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 404, "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long st;
        json_t *j = post_json(port, cases[i].path, cases[i].body, &st);
        CHECK_MSG(st == cases[i].status, "case %zu: %ld", i, st);
        json_t *e = json_object_get(j, "error");
        CHECK_MSG(json_is_string(json_object_get(e, "message")) && json_is_string(json_object_get(e, "type")), "case %zu", i);
        if (cases[i].param) CHECK_STR(json_string_value(json_object_get(e, "param")), cases[i].param);
        json_decref(j);
    }
    /* a body over the cap: 413 */
    char *big = malloc(8192);
    memset(big, ' ', 8191);
    memcpy(big, "{\"prompt\": \"", 12);
    memcpy(big + 8000, "\"}", 3);
    long st;
    json_decref(post_json(port, "/v1/completions", big, &st));
    CHECK_EQ_INT(st, 413);
    free(big);
    /* still serving */
    json_decref(post_json(port, "/v1/completions", "{\"prompt\": \"2+2=\", \"max_tokens\": 2}", &st));
    CHECK_EQ_INT(st, 200);
    stop();
}

/* --api-key: a bearer token is required on the API (not on /health). */
static void t_api_key(void) {
    if (start("s3cret", 4, 64)) { CHECK(0); return; }
    http_res r;
    CHECK_EQ_INT(http_do(port, "POST", "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}", NULL, &r), 401);
    CHECK(r.body.data && strstr(r.body.data, "invalid_api_key"));
    http_res_free(&r);
    CHECK_EQ_INT(http_do(port, "POST", "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}", "wrong", NULL), 401);
    CHECK_EQ_INT(http_do(port, "POST", "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}", "s3cret", NULL), 200);
    CHECK_EQ_INT(http_do(port, "GET", "/v1/models", NULL, NULL, NULL), 401);
    CHECK_EQ_INT(http_do(port, "GET", "/health", NULL, NULL, NULL), 200);
    stop();
}

/* A stream that a test holds open: a search long enough never to end on its own here. */
typedef struct held {
    CURL *h;
    CURLM *m;
    pd_buf got;
} held;

static const char *LONG_SEARCH =
    "{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+3?\"}], \"stream\": true, "
    "\"ponder\": {\"strategy\": \"beam_search\", \"n\": 16, \"beam_width\": 4, \"iterations\": 1000, \"max_step_tokens\": 512}}";

static int metric(const char *name) {
    http_res r;
    http_do(port, "GET", "/metrics", NULL, NULL, &r);
    const char *p = r.body.data ? strstr(r.body.data, name) : NULL;
    int v = -1;
    while (p && (p == r.body.data || p[-1] != '\n')) p = strstr(p + 1, name);
    if (p) v = atoi(p + strlen(name) + 1);
    http_res_free(&r);
    return v;
}

/* Caps: a search over --max-searches and sequences over --max-seqs get 429 with Retry-After;
 * a client that hangs up cancels its search, whose nodes (and KV caches) are released. */
static void t_caps_and_cancel(void) {
    if (start(NULL, 1, 4)) { CHECK(0); return; }
    http_res r;
    CHECK_EQ_INT(http_do(port, "POST", "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1, \"n\": 5}", NULL, &r), 429);
    CHECK(r.headers.data && strstr(r.headers.data, "Retry-After: 1"));
    CHECK(r.body.data && strstr(r.body.data, "rate_limit_error"));
    http_res_free(&r);
    held s = {curl_easy_init(), curl_multi_init(), {0}};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
    curl_easy_setopt(s.h, CURLOPT_URL, url);
    curl_easy_setopt(s.h, CURLOPT_POSTFIELDS, LONG_SEARCH);
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, su_write);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s.got);
    curl_multi_add_handle(s.m, s.h);
    int running = 1;
    double t0 = pd_now();
    while (running && !(s.got.data && strstr(s.got.data, "\"event\":\"progress\"")) && pd_now() - t0 < 60) {
        curl_multi_perform(s.m, &running);
        curl_multi_poll(s.m, NULL, 0, 50, NULL);
    }
    CHECK_MSG(s.got.data && strstr(s.got.data, "\"event\":\"progress\""), "no progress event");
    /* the one search slot is taken */
    CHECK_EQ_INT(http_do(port, "POST", "/v1/chat/completions", LONG_SEARCH, NULL, NULL), 429);
    CHECK_EQ_INT(metric("ponder_searches_in_flight"), 1);
    /* hang up: the search is cancelled and its slot freed */
    curl_multi_remove_handle(s.m, s.h);
    curl_easy_cleanup(s.h);
    curl_multi_cleanup(s.m);
    pd_buf_free(&s.got);
    int left = 1;
    for (t0 = pd_now(); (left = metric("ponder_searches_in_flight")) != 0 && pd_now() - t0 < 60;) usleep(20000);
    CHECK_EQ_INT(left, 0);
    CHECK_EQ_INT(metric("ponder_cancelled_total"), 1);
    /* and the slot serves the next one */
    long st;
    json_decref(post_json(port, "/v1/chat/completions",
                          "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"ponder\": {\"n\": 2, \"max_step_tokens\": 4}}", &st));
    CHECK_EQ_INT(st, 200);
    stop();
}

/* /pooling on the qwen2-prm: one [p_neg, p_pos] pair per <extra_0>, p_pos = the local reward. */
static void t_pooling(void) {
    if (start(NULL, 4, 64)) { CHECK(0); return; }
    pd_error err = {0};
    pd_prm_opts po = {0};
    pd_prm *p = pd_prm_open(PRM, &po, &err);
    CHECK_MSG(p != NULL, "%s", err.msg);
    if (!p) { stop(); return; }
    const char *steps[3] = {"2 + 3 = 5.", "So the answer is 5.", "$\\boxed{5}$"};
    float want[3];
    CHECK(pd_prm_score(p, "What is 2 + 3?", steps, 3, want, NULL, &err) == 0);
    int32_t *ids = NULL;
    size_t n = 0, *pos = NULL;
    CHECK(pd_prm_render(p, "What is 2 + 3?", steps, 3, &ids, &n, &pos, &err) == 0);
    pd_buf b = {0};
    pd_buf_puts(&b, "{\"model\": \"qwen2-prm\", \"input\": [[");
    for (size_t i = 0; i < n; i++) pd_buf_printf(&b, "%s%d", i ? "," : "", (int)ids[i]);
    pd_buf_puts(&b, "]]}");
    long st;
    json_t *j = post_json(port, "/pooling", b.data, &st);
    CHECK_EQ_INT(st, 200);
    json_t *rows = jpath(j, "data", 0, "data");
    CHECK_EQ_INT(json_array_size(rows), 3);
    for (size_t k = 0; k < 3 && k < json_array_size(rows); k++) {
        double pn = json_real_value(json_array_get(json_array_get(rows, k), 0)), pp = json_real_value(json_array_get(json_array_get(rows, k), 1));
        CHECK(fabs(pn + pp - 1) < 1e-9);
        CHECK_MSG(fabs(pp - want[k]) < 1e-5, "step %zu: %g vs %g", k, pp, want[k]);
    }
    json_decref(j);
    pd_buf_free(&b);
    free(ids);
    free(pos);
    pd_prm_close(p);
    stop();
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(t_models_health_metrics);
    RUN(t_seeds_and_batches);
    RUN(t_stops);
    RUN(t_logprobs);
    RUN(t_stream);
    RUN(t_chat_search);
    RUN(t_chat_auto);
    RUN(t_errors);
    RUN(t_api_key);
    RUN(t_caps_and_cancel);
    RUN(t_pooling);
    curl_global_cleanup();
    return test_done();
}
