/* backend.c — opening a policy or verifier from a spec string, and the backends' options.
 *
 * A spec names where a model lives (DESIGN.md section 1): "sim" (the simulated backend), a
 * local model directory or a repo id in the Hugging Face cache (the embedded engine:
 * policy_local.c, prm_local.c) or a remote OpenAI-compatible server (remote_policy.c,
 * remote_prm.c): "http(s)://..." as policy, "vllm-pooling+http..." or "logprob+http..." as PRM. */
#include "backend_int.h"
#include "remote_int.h"
#include "ponder/model.h"
#include "ponder/prm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pd_backend_opts_default(pd_backend_opts *o) {
    memset(o, 0, sizeof *o);
    pd_sim_params_default(&o->sim);
    strcpy(o->step_delimiter, "\n\n");
    o->remote_inflight = 64;
    o->remote_timeout = 60;
    o->remote_retries = 4;
    o->remote_backoff = 0.5;
    o->remote_n = -1;
}

void pd_backend_opts_free(pd_backend_opts *o) {
    if (!o) return;
    for (size_t i = 0; i < sizeof o->owned / sizeof *o->owned; i++) free(o->owned[i]);
    memset(o->owned, 0, sizeof o->owned);
}

const char *pd_backend_opts_help(void) {
    return "  --system-prompt TEXT  local policy: the system turn (search-and-learn's math prompt;\n"
           "                        '' for none)\n"
           "  --system-prompt-file FILE  the same, read from a file\n"
           "  --step-delimiter S    where a step ends (\\n\\n; C escapes \\n \\t \\\\ understood)\n"
           "  --threads T           engine threads per model (one per CPU)\n"
           "  --kv-memory SIZE      local engine: KV cache memory of each model, the policy's and\n"
           "                        the PRM's pools apart (512M, 2G, bytes; no bound by default);\n"
           "                        a batch that does not fit waits and is served in turns\n"
           "  --prm-kv-memory SIZE  the PRM's pool alone (--kv-memory)\n"
           "  --precision P         local engine: exact (default) or bf16: products with bf16\n"
           "                        weights take activations rounded to bf16, as llama.cpp and\n"
           "                        GPU servers compute (faster where the CPU has a fast bf16\n"
           "                        dot product; scores move ~1e-3)\n"
           "  --prm-precision P     the PRM's alone (--precision)\n"
           "  --prm-kind K          qwen2-prm, skywork, rlhflow or math-shepherd (detected from\n"
           "                        config.json's architectures or the repo id)\n"
           "  --prm-step-tag S      math-shepherd: text after each step (' ки')\n"
           "  --prm-good-token S    rlhflow / math-shepherd judgment tokens ('+', '-')\n"
           "  --prm-bad-token S\n"
           "  --prm-system-prompt S qwen2-prm: its system prompt (the model card's)\n"
           "Remote servers (--policy http://HOST:PORT/v1#MODEL, --prm vllm-pooling+http://... or\n"
           "logprob+http://...; docs/REMOTE.md):\n"
           "  --tokenizer SPEC      local model dir or repo id whose tokenizer and chat template\n"
           "                        render the remote policy's prompts (the #MODEL name)\n"
           "  --prm-tokenizer SPEC  the same for a remote PRM's input format (the #MODEL name)\n"
           "  --remote-api-key KEY  bearer token for the servers ($PONDER_REMOTE_API_KEY)\n"
           "  --remote-inflight R   HTTP requests in flight per remote backend (64)\n"
           "  --remote-timeout S    seconds per attempt (60)\n"
           "  --remote-retries K    retries after a connection error, timeout, 5xx or 429 (4)\n"
           "  --remote-backoff S    first backoff (0.5 s; doubles each retry, jittered)\n"
           "  --remote-n M          auto, on or off: ask for n samples in one request (auto: where\n"
           "                        the server seeds each sample; otherwise one request per child)\n";
}

/* Undo C escapes (\n \t \r \\) of s into out (size cap). Returns 0 or -1 (too long / bad). */
static int unescape(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            c = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s == '\\' ? '\\' : 0;
            if (!c) return -1;
        }
        if (n + 1 >= cap) return -1;
        out[n++] = c;
    }
    out[n] = 0;
    return 0;
}

int pd_backend_opts_set(pd_backend_opts *o, const char *name, const char *v, pd_error *err) {
    if (!strncmp(name, "sim-", 4)) return pd_sim_params_set(&o->sim, name + 4, v, err);
    if (!strcmp(name, "system-prompt")) o->system_prompt = v;
    else if (!strcmp(name, "system-prompt-file")) {
        size_t slot = 0;
        while (slot < 4 && o->owned[slot]) slot++;
        if (slot == 4) return pd_err_set(err, PD_EINVAL, "--system-prompt-file: given too often");
        char *text = NULL;
        size_t len = 0;
        int rc = pd_file_read(v, &text, &len, err);
        if (rc) return rc;
        if (strlen(text) != len) {
            free(text);
            return pd_err_set(err, PD_EFORMAT, "%s: the system prompt holds a NUL byte", v);
        }
        o->owned[slot] = text;
        o->system_prompt = text;
    } else if (!strcmp(name, "step-delimiter")) {
        char buf[sizeof o->step_delimiter];
        if (unescape(v, buf, sizeof buf) || !buf[0])
            return pd_err_set(err, PD_EINVAL, "--step-delimiter: '%.40s' is empty, too long or has an unknown escape", v);
        strcpy(o->step_delimiter, buf);
    } else if (!strcmp(name, "threads")) {
        char *end;
        errno = 0;
        long t = strtol(v, &end, 10);
        if (errno || *end || end == v || t < 1 || t > 64) return pd_err_set(err, PD_EINVAL, "--threads: bad value '%.40s' (1..64)", v);
        o->n_threads = (int)t;
    } else if (!strcmp(name, "kv-memory") || !strcmp(name, "prm-kv-memory")) {
        size_t b;
        if (pd_kv_memory_parse(v, &b))
            return pd_err_set(err, PD_EINVAL, "--%s: bad size '%.40s' (bytes, or a number with K, M, G or T: 512M, 2G)",
                              name, v);
        if (!strcmp(name, "kv-memory")) o->kv_memory = b;
        else o->prm_kv_memory = b;
    } else if (!strcmp(name, "precision") || !strcmp(name, "prm-precision")) {
        pd_precision p;
        if (pd_precision_parse(v, &p)) return pd_err_set(err, PD_EINVAL, "--%s: '%.40s' is not exact or bf16", name, v);
        if (!strcmp(name, "precision")) o->precision = (int)p;
        else o->prm_precision = (int)p;
    } else if (!strcmp(name, "prm-kind")) {
        pd_prm_kind k;
        if (pd_prm_kind_parse(v, &k))
            return pd_err_set(err, PD_EINVAL, "--prm-kind: '%.40s' is not qwen2-prm, skywork, rlhflow or math-shepherd", v);
        o->prm_kind = (int)k;
    } else if (!strcmp(name, "prm-step-tag")) o->prm_step_tag = v;
    else if (!strcmp(name, "prm-good-token")) o->prm_good_token = v;
    else if (!strcmp(name, "prm-bad-token")) o->prm_bad_token = v;
    else if (!strcmp(name, "prm-system-prompt")) o->prm_system_prompt = v;
    else if (!strcmp(name, "tokenizer")) o->tokenizer = v;
    else if (!strcmp(name, "prm-tokenizer")) o->prm_tokenizer = v;
    else if (!strcmp(name, "remote-api-key")) o->remote_api_key = v;
    else if (!strcmp(name, "remote-inflight") || !strcmp(name, "remote-retries")) {
        char *end;
        errno = 0;
        long t = strtol(v, &end, 10);
        int inflight = !strcmp(name, "remote-inflight");
        if (errno || *end || end == v || t < (inflight ? 1 : 0) || t > (inflight ? 4096 : 100))
            return pd_err_set(err, PD_EINVAL, "--%s: bad value '%.40s' (%s)", name, v, inflight ? "1..4096" : "0..100");
        if (inflight) o->remote_inflight = (int)t;
        else o->remote_retries = (int)t;
    } else if (!strcmp(name, "remote-timeout") || !strcmp(name, "remote-backoff")) {
        char *end;
        errno = 0;
        double t = strtod(v, &end);
        if (errno || *end || end == v || !(t >= 0.001 && t <= 86400))
            return pd_err_set(err, PD_EINVAL, "--%s: bad value '%.40s' (seconds, 0.001..86400)", name, v);
        if (!strcmp(name, "remote-timeout")) o->remote_timeout = t;
        else o->remote_backoff = t;
    } else if (!strcmp(name, "remote-n")) {
        if (!strcmp(v, "auto")) o->remote_n = -1;
        else if (!strcmp(v, "on")) o->remote_n = 1;
        else if (!strcmp(v, "off")) o->remote_n = 0;
        else return pd_err_set(err, PD_EINVAL, "--remote-n: '%.40s' is not auto, on or off", v);
    } else return PD_ENOTFOUND;
    if (!strncmp(name, "prm-", 4) && strcmp(name, "prm-kind") && !*v)
        return pd_err_set(err, PD_EINVAL, "--%s: empty value", name);
    return 0;
}

static int is_remote(const char *spec) { return !strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8); }

int pd_policy_open_opts(pd_policy *pol, const char *spec, const pd_backend_opts *o, pd_error *err) {
    memset(pol, 0, sizeof *pol);
    pd_backend_opts d;
    if (!o) {
        pd_backend_opts_default(&d);
        o = &d;
    }
    if (!spec || !*spec) return pd_err_set(err, PD_EINVAL, "policy: empty spec");
    if (!strcmp(spec, "sim")) return pd_sim_policy_open(pol, &o->sim, err);
    if (is_remote(spec)) return pd_remote_policy_open(pol, spec, o, err);
    pd_model_opts mo = {.n_threads = o->n_threads, .precision = (pd_precision)o->precision};
    return pd_local_policy_open(pol, spec, o->system_prompt, o->step_delimiter, &mo, o->kv_memory, err);
}

int pd_verifier_open_opts(pd_verifier *ver, const char *spec, const pd_policy *pol, const pd_backend_opts *o,
                          pd_error *err) {
    memset(ver, 0, sizeof *ver);
    pd_backend_opts d;
    if (!o) {
        pd_backend_opts_default(&d);
        o = &d;
    }
    if (!spec || !*spec) return pd_err_set(err, PD_EINVAL, "prm: empty spec");
    if (!strcmp(spec, "sim")) {
        if (!pol || !pd_sim_is_policy(pol))
            return pd_err_set(err, PD_EINVAL,
                              "prm 'sim': the simulated PRM judges the simulated policy's steps; "
                              "use --policy sim with it");
        return pd_sim_verifier_open(ver, pol, &o->sim, err);
    }
    if (!strcmp(spec, "deepconf") || !strcmp(spec, "self-certainty")) return pd_confidence_verifier_open(ver, spec, err);
    if (pd_remote_is_spec(spec)) return pd_remote_verifier_open(ver, spec, o, err);
    if (is_remote(spec))
        return pd_err_set(err, PD_EINVAL, "prm '%s': say how to score on a remote server: vllm-pooling+%s (vLLM's /pooling) or "
                          "logprob+%s (token-judgment probes on any completions server)", spec, spec, spec);
    pd_prm_opts po = {.kind = (pd_prm_kind)o->prm_kind, .step_tag = o->prm_step_tag, .good_token = o->prm_good_token,
                      .bad_token = o->prm_bad_token, .system_prompt = o->prm_system_prompt, .n_threads = o->n_threads,
                      .kv_memory = o->prm_kv_memory ? o->prm_kv_memory : o->kv_memory,
                      .precision = o->prm_precision ? o->prm_precision : o->precision};
    return pd_prm_verifier_open(ver, spec, &po, o->step_delimiter, err);
}

int pd_policy_open(pd_policy *pol, const char *spec, const pd_sim_params *sim, pd_error *err) {
    pd_backend_opts o;
    pd_backend_opts_default(&o);
    if (sim) o.sim = *sim;
    return pd_policy_open_opts(pol, spec, &o, err);
}

int pd_verifier_open(pd_verifier *ver, const char *spec, const pd_policy *pol, const pd_sim_params *sim,
                     pd_error *err) {
    pd_backend_opts o;
    pd_backend_opts_default(&o);
    if (sim) o.sim = *sim;
    return pd_verifier_open_opts(ver, spec, pol, &o, err);
}

void pd_kv_usage_of_model(const pd_model *m, uint64_t deferred, uint64_t evicted, pd_kv_usage *u) {
    uint64_t blk = pd_kv_block_bytes(m), budget = pd_kv_blocks_budget(m);
    u->bytes_live = pd_kv_blocks_live(m) * blk;
    u->bytes_peak = pd_kv_blocks_peak(m) * blk;
    u->bytes_budget = budget == SIZE_MAX ? 0 : budget * blk;
    u->deferred = deferred;
    u->evicted = evicted;
}

int pd_policy_kv_usage(const pd_policy *pol, pd_kv_usage *u) { return pd_local_policy_kv_usage(pol, u); }

int pd_verifier_kv_usage(const pd_verifier *ver, pd_kv_usage *u) { return pd_prm_verifier_kv_usage(ver, u); }

void pd_policy_close(pd_policy *pol) {
    if (pol && pol->free) pol->free(pol->ctx);
    if (pol) memset(pol, 0, sizeof *pol);
}

void pd_verifier_close(pd_verifier *ver) {
    if (ver && ver->free) ver->free(ver->ctx);
    if (ver) memset(ver, 0, sizeof *ver);
}
