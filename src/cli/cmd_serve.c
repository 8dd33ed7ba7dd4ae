/* cmd_serve.c — `ponder serve`: the OpenAI-compatible server (the library's pd_serve_start
 * does the work; this file parses options and waits for SIGINT / SIGTERM). */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder serve --policy SPEC [--prm SPEC] [--host 127.0.0.1] [--port 8080] [options]\n"
    "\n"
    "An OpenAI-compatible HTTP API on the embedded engine that can think longer:\n"
    "  POST /v1/completions       completions (text or token-id prompt, n, seed / seeds,\n"
    "                             stop with include_stop_str_in_output, logprobs, stream)\n"
    "  POST /v1/chat/completions  chat; with \"ponder\": {\"strategy\": \"beam_search\", \"n\": 16,\n"
    "                             \"beam_width\": 4, \"trace\": true} or a model name\n"
    "                             \"beam_search-16/MODEL\" it runs a search with the PRM and\n"
    "                             answers with the selected completion (stream: progress events)\n"
    "  POST /pooling              vLLM's pooling API for a qwen2-prm --prm\n"
    "  GET  /v1/models, /health, /metrics (Prometheus)\n"
    "Stops on SIGINT or SIGTERM. docs/REMOTE.md has the details.\n"
    "\n"
    "  --policy SPEC         model directory or repo id: completions, and the search policy\n"
    "  --prm SPEC            PRM directory or repo id: searches (and /pooling for qwen2-prm)\n"
    "  --host ADDR           numeric address to bind (127.0.0.1: this machine only)\n"
    "  --port P              port (8080; 0: any free port)\n"
    "  --port-file FILE      write the bound port there once listening\n"
    "  --served-model-name N the model name clients send (the policy spec's last part)\n"
    "  --api-key KEY         require 'Authorization: Bearer KEY' (also $PONDER_API_KEY)\n"
    "  --max-body BYTES      request body cap (1048576; more: 413)\n"
    "  --max-n N             cap on n and on a search's budget N (64)\n"
    "  --max-tokens T        cap on max_tokens and a search's step token cap (4096)\n"
    "  --max-searches S      searches in flight (16; more: 429 with Retry-After)\n"
    "  --max-seqs Q          completion sequences in flight (1024; more: 429)\n"
    "  --max-connections C   HTTP connections at once (512)\n"
    "  --cache-mb M          prefix cache of finished sequences' KV (256 MiB; 0: off)\n"
    "  --timeout S           answer 503 to a request still running after S seconds (600)\n"
    "  --plan FILE           allow strategy \"auto\" (`ponder plan`'s plan: a probe of P best-of-N\n"
    "                        samples bins the problem's difficulty, then the plan's strategy,\n"
    "                        N and selection for that bin and the request's budget N run)\n"
    "  --quiet               no request log on stderr\n"
    "\nEngine and PRM options (as for eval):\n%s";

int cmd_serve(int argc, char **argv) {
    pd_serve_opts o;
    pd_serve_opts_default(&o);
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    pd_search_cfg unused;
    pd_search_cfg_default(&unused);
    const char *port_file = NULL, *plan_path = NULL;
    o.api_key = getenv("PONDER_API_KEY");
    if (o.api_key && !*o.api_key) o.api_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(HELP, pd_backend_opts_help());
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
            continue;
        }
        char name[64];
        const char *val;
        if (cli_opt_value("serve", argc, argv, &i, name, sizeof name, &val)) return 1;
        long v;
        double d;
        if (!strcmp(name, "policy")) o.policy = val;
        else if (!strcmp(name, "prm")) o.prm = val;
        else if (!strcmp(name, "host")) o.host = val;
        else if (!strcmp(name, "port-file")) port_file = val;
        else if (!strcmp(name, "plan")) plan_path = val;
        else if (!strcmp(name, "served-model-name")) o.model_name = val;
        else if (!strcmp(name, "api-key")) o.api_key = *val ? val : NULL;
        else if (!strcmp(name, "port")) {
            if (cli_parse_long(val, &v) || v > 65535) return cli_fail("serve", "--port: bad value '%s'", val);
            o.port = (int)v;
        } else if (!strcmp(name, "cache-mb")) {
            if (cli_parse_long(val, &v) || v > (1L << 20)) return cli_fail("serve", "--cache-mb: bad value '%s'", val);
            o.cache_mb = (size_t)v;
        } else if (!strcmp(name, "timeout")) {
            if (cli_parse_double(val, &d) || !(d > 0)) return cli_fail("serve", "--timeout: bad value '%s'", val);
            o.timeout_s = d;
        } else if (!strcmp(name, "max-body") || !strcmp(name, "max-n") || !strcmp(name, "max-tokens") ||
                   !strcmp(name, "max-searches") || !strcmp(name, "max-seqs") || !strcmp(name, "max-connections")) {
            if (cli_parse_long(val, &v) || v < 1 || v > (1L << 30)) return cli_fail("serve", "--%s: bad value '%s'", name, val);
            if (!strcmp(name, "max-body")) o.max_body = (size_t)v;
            else if (!strcmp(name, "max-n")) o.max_n = (int)v;
            else if (!strcmp(name, "max-tokens")) o.max_tokens = (int)v;
            else if (!strcmp(name, "max-searches")) o.max_searches = (int)v;
            else if (!strcmp(name, "max-seqs")) o.max_seqs = (int)v;
            else o.max_connections = (int)v;
        } else if (cli_set_search_opt("serve", name, val, &unused, &bo)) {
            pd_backend_opts_free(&bo);
            return 1;
        }
    }
    if (!o.policy) return cli_fail("serve", "--policy is required (a model directory or a repo id)");
    o.backend = &bo;
    pd_auto_plan plan;
    if (plan_path) {
        pd_error perr = {0};
        if (pd_plan_load(plan_path, &plan, &perr)) {
            pd_backend_opts_free(&bo);
            return cli_fail_err("serve", &perr);
        }
        o.plan = &plan;
    }
    /* the signals we wait for are blocked in every thread the server starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pd_error err = {0};
    pd_server *s = NULL;
    if (pd_serve_start(&s, &o, &err)) {
        pd_backend_opts_free(&bo);
        return cli_fail_err("serve", &err);
    }
    fprintf(stderr, "ponder serve: '%s' on http://%s:%d/v1 (%s%s)\n", pd_serve_model_name(s), o.host, pd_serve_port(s),
            o.prm ? "searches with PRM " : "completions only", o.prm ? o.prm : "");
    if (port_file) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d\n", pd_serve_port(s));
        if (pd_file_write(port_file, buf, strlen(buf), &err)) fprintf(stderr, "ponder serve: %s\n", err.msg);
    }
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "ponder serve: stopping (signal %d)\n", sig);
    pd_serve_stop(s);
    pd_backend_opts_free(&bo);
    return 0;
}
