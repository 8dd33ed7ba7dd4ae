/* cmd_bench_tree.c — `ponder bench --workload tree`: one beam search on the embedded engine,
 * against the same search done the reference way.
 *
 * The search is a real one (src/search/, the local policy and PRM backends): beam search with
 * N beams of width M over a prompt of about --prompt-tokens, --steps rounds, steps capped at
 * --step-tokens, every step scored by the PRM. Random-weight models rarely emit the step
 * delimiter or end of sequence, so steps run to the cap: the tree has the intended shape.
 * Thin wrappers around the two backends watch every request: they record each node's path
 * length and which nodes were scored, so that afterwards
 *   - unique_tree_tokens = prompt + every node's step tokens, once (what any engine must
 *     compute at least, per model);
 *   - tokens_computed = what the policy (prompt/prefix + generated) and the PRM actually
 *     computed, from the search's cost;
 *   - ref_tokens_computed = the reference way (Python toolkits): every child re-encodes its
 *     whole prefix and generates its step; every PRM call re-encodes the whole path;
 *   - ref_wall_s = that reference work replayed on the same engine, same threads: prefixes
 *     prefilled from scratch one at a time, each round's children decoded together (as a
 *     batched server would), PRM paths prefilled from scratch. The prefills of one child in
 *     --ref-sample are timed and scaled up (the full replay takes about an hour on 2 cores);
 *     the decode rounds are timed in full. The token ids of the replay are random (speed
 *     does not depend on them), the lengths are the tree's.
 * Both wall times are split: policy_s and prm_s (inside the search's expansions and scoring),
 * ref_prefill_s, ref_decode_s and ref_prm_s (the replay's three parts, adding up to ref_wall_s).
 * Also the process's peak resident memory at the end of the search (before the replay), and
 * the peak KV-cache memory of the two models' block pools (kv_bytes_peak; per live branch:
 * divided by N). With --kv-memory each pool is bounded; the search then waits for memory
 * (kv_waits) and gives the same tree.
 * Prints one JSON object with --json, a few readable lines otherwise. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd_bench_tree.h"

/* A node as the replay needs it (the tree itself is freed with the search). */
typedef struct node_rec {
    int32_t parent, depth;
    uint32_t n_tokens;
    uint32_t pathlen;      /* prompt + the path's step tokens, this node's included */
} node_rec;

/* What the wrappers record. Node ids index the arrays (one tree: one problem). */
typedef struct spy {
    pd_policy pol;         /* the real backends */
    pd_verifier ver;
    pd_tree *tree;         /* the search's (freed when the search ends) */
    uint64_t prompt_tokens;
    node_rec *nodes;       /* (cap) per node id, recorded as nodes are created */
    size_t cap;
    int32_t *children;     /* nodes created by expansions, in order */
    size_t n_children, cap_children;
    int32_t *scored;       /* nodes scored, in order */
    size_t n_scored, cap_scored;
    int oom;
    double policy_s, prm_s; /* wall time inside the policy's expansions and the PRM's scoring */
} spy;

static int push(int32_t **a, size_t *n, size_t *cap, int32_t v) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        int32_t *p = realloc(*a, c * sizeof *p);
        if (!p) return -1;
        *a = p;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int spy_expand(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err) {
    spy *s = ctx;
    uint64_t before = n ? reqs[0].cost->prefix_tokens : 0;
    double t0 = pd_now();
    int rc = s->pol.expand(s->pol.ctx, reqs, n, err);
    s->policy_s += pd_now() - t0;
    if (rc || !n) return rc;
    if (!s->tree) {
        s->tree = reqs[0].tree;
        s->prompt_tokens = reqs[0].cost->prefix_tokens - before; /* the root's prompt, computed once */
    }
    pd_tree *t = s->tree;
    if ((size_t)t->n_nodes > s->cap) {
        size_t c = (size_t)t->n_nodes * 2;
        node_rec *p = realloc(s->nodes, c * sizeof *p);
        if (!p) return s->oom = 1, 0;
        memset(p + s->cap, 0, (c - s->cap) * sizeof *p);
        s->nodes = p;
        s->cap = c;
    }
    s->nodes[0] = (node_rec){-1, 0, 0, (uint32_t)s->prompt_tokens};
    for (size_t i = 0; i < n; i++)
        for (int32_t k = 0; k < reqs[i].k; k++) {
            int32_t id = reqs[i].out[k];
            if (id <= 0 || id >= t->n_nodes) continue;
            const pd_node *nd = &t->nodes[id];
            /* the path's length from the tree itself: a parent need not be a node this spy
             * recorded (only expansions' outputs are) */
            uint32_t len = (uint32_t)s->prompt_tokens;
            for (int32_t a = id; a > 0; a = t->nodes[a].parent) len += t->nodes[a].n_tokens;
            s->nodes[id] = (node_rec){nd->parent, nd->depth, nd->n_tokens, len};
            if (push(&s->children, &s->n_children, &s->cap_children, id)) s->oom = 1;
        }
    return 0;
}

static void spy_pol_release(void *ctx, pd_tree *t, int32_t node) {
    spy *s = ctx;
    if (s->pol.release) s->pol.release(s->pol.ctx, t, node);
}

static int spy_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    spy *s = ctx;
    for (size_t i = 0; i < n; i++)
        if (push(&s->scored, &s->n_scored, &s->cap_scored, reqs[i].node)) s->oom = 1;
    double t0 = pd_now();
    int rc = s->ver.score(s->ver.ctx, reqs, n, err);
    s->prm_s += pd_now() - t0;
    return rc;
}

static void spy_ver_release(void *ctx, pd_tree *t, int32_t node) {
    spy *s = ctx;
    if (s->ver.release) s->ver.release(s->ver.ctx, t, node);
}

/* Prefill `len` random ids into a fresh cache of m (chunks of 512, last logits read). */
static int prefill(pd_model *m, pd_kv **kv, size_t len, pd_rng *rng, float *logits, pd_error *err) {
    if (!(*kv = pd_kv_new(m, err))) return -1;
    size_t V = (size_t)pd_model_get_config(m)->vocab_size;
    int32_t ids[512];
    for (size_t done = 0; done < len;) {
        size_t take = len - done > 512 ? 512 : len - done;
        for (size_t i = 0; i < take; i++) ids[i] = (int32_t)pd_rng_below(rng, V);
        pd_seq_step st = {.kv = *kv, .tokens = ids, .n_tokens = take,
                          .logits = done + take == len ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = logits};
        if (pd_model_forward(m, &st, 1, err)) return -1;
        done += take;
    }
    return 0;
}

/* The reference way's time, split as its parts were replayed (seconds, prefills scaled). */
typedef struct ref_split {
    double prefill_s, decode_s, prm_s;
    const char *kernels, *precision; /* what the engine ran (the same for both ways) */
} ref_split;

/* The reference way's work for the recorded tree, replayed; returns seconds (scaled), or < 0. */
static double replay_reference(const spy *s, const char *pol_dir, const char *prm_dir, int threads, int sample,
                               ref_split *split, pd_error *err) {
    pd_model_opts mo = {threads, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    pd_model *pm = pd_model_load(pol_dir, &mo, err), *vm = pm ? pd_model_load(prm_dir, &mo, err) : NULL;
    size_t V = pm ? (size_t)pd_model_get_config(pm)->vocab_size : 0;
    if (pm) split->kernels = pd_model_kernels_name(pm), split->precision = pd_model_precision_name(pm);
    size_t Vp = vm ? (size_t)pd_model_get_config(vm)->vocab_size : 0;
    float *logits = vm ? malloc((V > Vp ? V : Vp) * sizeof *logits * (s->n_children + 1)) : NULL;
    pd_kv **kvs = calloc(s->n_children + 1, sizeof *kvs);
    pd_seq_step *steps = calloc(s->n_children + 1, sizeof *steps);
    int32_t *next = calloc(s->n_children + 1, sizeof *next);
    double total = -1;
    pd_rng rng;
    pd_rng_seed(&rng, 99);
    if (!vm || !logits || !kvs || !steps || !next) goto out;
    const node_rec *t = s->nodes;
    total = 0;
    /* the policy: children grouped by depth (one round each) */
    for (size_t a = 0; a < s->n_children;) {
        size_t b = a;
        int32_t depth = t[s->children[a]].depth;
        while (b < s->n_children && t[s->children[b]].depth == depth) b++;
        /* prefills of every sample-th child, timed and scaled to the round */
        size_t n_sampled = 0;
        double t0 = pd_now();
        pd_kv *last = NULL;
        for (size_t i = a; i < b; i += (size_t)sample) {
            pd_kv_free(last);
            last = NULL;
            if (prefill(pm, &last, t[s->children[i]].pathlen - t[s->children[i]].n_tokens, &rng, logits, err)) {
                pd_kv_free(last);
                total = -1;
                goto out;
            }
            n_sampled++;
        }
        split->prefill_s += (pd_now() - t0) * (double)(b - a) / (double)n_sampled;
        /* the round's generation: every child decodes its step, all together */
        size_t nb = b - a;
        uint32_t rounds = 0;
        for (size_t i = 0; i < nb; i++) {
            if (!(kvs[i] = pd_kv_clone(last, err))) {
                pd_kv_free(last);
                total = -1;
                goto out;
            }
            if (t[s->children[a + i]].n_tokens > rounds) rounds = t[s->children[a + i]].n_tokens;
        }
        pd_kv_free(last);
        t0 = pd_now();
        for (uint32_t r = 0; r < rounds; r++) {
            size_t ns = 0;
            for (size_t i = 0; i < nb; i++) {
                if (t[s->children[a + i]].n_tokens <= r) continue;
                next[i] = (int32_t)pd_rng_below(&rng, V);
                steps[ns++] = (pd_seq_step){.kv = kvs[i], .tokens = &next[i], .n_tokens = 1, .logits = PD_LOGITS_LAST,
                                            .out = logits + ns * V};
            }
            if (pd_model_forward(pm, steps, ns, err)) {
                total = -1;
                goto out;
            }
        }
        split->decode_s += pd_now() - t0;
        for (size_t i = 0; i < nb; i++) pd_kv_free(kvs[i]), kvs[i] = NULL;
        a = b;
    }
    /* the PRM: every sample-th scored path from scratch, scaled */
    double t0 = pd_now();
    size_t n_sampled = 0;
    for (size_t i = 0; i < s->n_scored; i += (size_t)sample) {
        pd_kv *kv = NULL;
        int rc = prefill(vm, &kv, t[s->scored[i]].pathlen, &rng, logits, err);
        pd_kv_free(kv);
        if (rc) {
            total = -1;
            goto out;
        }
        n_sampled++;
    }
    if (n_sampled) split->prm_s = (pd_now() - t0) * (double)s->n_scored / (double)n_sampled;
    total = split->prefill_s + split->decode_s + split->prm_s;
out:
    for (size_t i = 0; kvs && i <= s->n_children; i++) pd_kv_free(kvs[i]);
    free(kvs);
    free(steps);
    free(next);
    free(logits);
    pd_model_free(pm);
    pd_model_free(vm);
    return total;
}

int bench_tree(const bench_tree_opts *o) {
    pd_error err = {0};
    char pol_dir[4096], prm_dir[4096];
    if (pd_hub_resolve(o->model, pol_dir, sizeof pol_dir, &err) ||
        pd_hub_resolve(o->prm ? o->prm : o->model, prm_dir, sizeof prm_dir, &err))
        return cli_fail_err("bench", &err);
    pd_backend_opts bo;
    pd_backend_opts_default(&bo);
    bo.system_prompt = "";
    bo.n_threads = o->threads;
    bo.kv_memory = o->kv_memory;
    if (o->prm_kind && pd_backend_opts_set(&bo, "prm-kind", o->prm_kind, &err)) return cli_fail_err("bench", &err);
    spy s = {0};
    int rc = 1;
    char *text = NULL;
    if (pd_policy_open_opts(&s.pol, pol_dir, &bo, &err)) goto fail_early;
    if (pd_verifier_open_opts(&s.ver, prm_dir, &s.pol, &bo, &err)) {
        pd_policy_close(&s.pol);
        goto fail_early;
    }
    pd_policy pol = {.name = "bench-spy", .n_params = s.pol.n_params, .ctx = &s, .expand = spy_expand, .release = spy_pol_release};
    pd_verifier ver = {.name = "bench-spy", .n_params = s.ver.n_params, .ctx = &s, .score = spy_score, .release = spy_ver_release};
    /* a problem of about prompt_tokens tokens: common words are one token each in byte-level
     * BPE vocabularies; ~20 tokens go to the chat template */
    static const char *words[] = {" the", " number", " of", " apples", " is", " equal", " to", " twice", " what",
                                  " we", " had", " before", " and", " then", " some", " more"};
    int n_words = o->prompt_tokens > 40 ? o->prompt_tokens - 20 : 20;
    if (!(text = malloc((size_t)n_words * 10 + 64))) goto fail_search;
    size_t len = (size_t)sprintf(text, "Solve:");
    for (int i = 0; i < n_words; i++) len += (size_t)sprintf(text + len, "%s", words[i % 16]);
    pd_problem prob = {.id = "tree-bench", .problem = text, .answer = "0"};
    pd_search_cfg cfg;
    pd_search_cfg_default(&cfg);
    cfg.strategy = PD_BEAM_SEARCH;
    cfg.n = o->n;
    cfg.beam_width = o->beam_width;
    cfg.num_iterations = o->steps;
    cfg.step_max_tokens = o->step_tokens;
    cfg.no_answers = 1;
    if (pd_search_cfg_check(&cfg, &err)) goto fail_search;
    pd_search_result res = {0};
    double t0 = pd_now();
    if (pd_search_run(&pol, &ver, &prob, &cfg, &res, &err)) goto fail_search;
    double wall = pd_now() - t0;
    struct rusage ru;
    double peak_mb = getrusage(RUSAGE_SELF, &ru) ? 0 : (double)ru.ru_maxrss / 1024.0; /* the search's peak (before the replay) */
    if (res.failed) {
        pd_err_set(&err, PD_EIO, "the search failed: %s", res.error);
        pd_search_result_free(&res);
        goto fail_search;
    }
    if (s.oom || !s.tree) {
        pd_err_set(&err, PD_ENOMEM, s.oom ? "out of memory" : "the search expanded nothing");
        pd_search_result_free(&res);
        goto fail_search;
    }
    /* the tree's own size and the reference's token count, from the recorded nodes */
    uint64_t unique = s.prompt_tokens, ref_tokens = 0;
    for (size_t i = 0; i < s.n_children; i++) {
        const node_rec *nd = &s.nodes[s.children[i]];
        unique += nd->n_tokens;
        ref_tokens += nd->pathlen;
    }
    for (size_t i = 0; i < s.n_scored; i++) ref_tokens += s.nodes[s.scored[i]].pathlen;
    uint64_t pol_tokens = res.cost.policy_tokens + res.cost.prefix_tokens, prm_tokens = res.cost.prm_tokens;
    int iterations = res.iterations;
    uint64_t kv_waits = res.cost.kv_waits;
    pd_search_result_free(&res);
    pd_kv_usage ku_pol, ku_prm;
    pd_policy_kv_usage(&s.pol, &ku_pol);
    pd_verifier_kv_usage(&s.ver, &ku_prm);
    uint64_t kv_peak = ku_pol.bytes_peak + ku_prm.bytes_peak;
    /* the backends go before the replay loads its own copies of the models */
    pd_verifier_close(&s.ver);
    pd_policy_close(&s.pol);
    ref_split rs = {0};
    double ref_wall = replay_reference(&s, pol_dir, prm_dir, o->threads, o->ref_sample, &rs, &err);
    if (ref_wall < 0) goto fail;
    uint64_t computed = pol_tokens + prm_tokens;
    if (o->json)
        printf("{\"workload\":\"tree\",\"model\":\"%s\",\"prm\":\"%s\",\"threads\":%d,\"kernels\":\"%s\","
               "\"precision\":\"%s\",\"strategy\":\"beam_search\","
               "\"n\":%d,\"beam_width\":%d,\"steps\":%d,\"iterations\":%d,\"step_tokens\":%d,\"prompt_tokens\":%llu,"
               "\"nodes\":%zu,\"scored\":%zu,\"policy_tokens_computed\":%llu,\"prm_tokens_computed\":%llu,"
               "\"tokens_computed\":%llu,\"unique_tree_tokens\":%llu,\"computed_per_unique\":%.3f,\"wall_s\":%.6f,"
               "\"ref_tokens_computed\":%llu,\"ref_wall_s\":%.6f,\"ref_sample\":%d,\"token_ratio\":%.2f,"
               "\"wall_ratio\":%.2f,\"peak_rss_mb\":%.0f,\"kv_bytes_peak\":%llu,\"kv_bytes_peak_policy\":%llu,"
               "\"kv_bytes_peak_prm\":%llu,\"kv_bytes_peak_per_branch\":%llu,\"kv_memory\":%llu,\"kv_waits\":%llu,"
               "\"policy_s\":%.6f,\"prm_s\":%.6f,\"ref_prefill_s\":%.6f,\"ref_decode_s\":%.6f,\"ref_prm_s\":%.6f}\n",
               pol_dir, prm_dir, o->threads, rs.kernels, rs.precision, o->n, o->beam_width, o->steps, iterations, o->step_tokens,
               (unsigned long long)s.prompt_tokens, s.n_children, s.n_scored, (unsigned long long)pol_tokens,
               (unsigned long long)prm_tokens, (unsigned long long)computed, (unsigned long long)unique,
               (double)computed / (2.0 * (double)unique), wall, (unsigned long long)ref_tokens, ref_wall, o->ref_sample,
               (double)ref_tokens / (double)computed, ref_wall / wall, peak_mb, (unsigned long long)kv_peak,
               (unsigned long long)ku_pol.bytes_peak, (unsigned long long)ku_prm.bytes_peak,
               (unsigned long long)(kv_peak / (uint64_t)o->n), (unsigned long long)o->kv_memory,
               (unsigned long long)kv_waits, s.policy_s, s.prm_s, rs.prefill_s, rs.decode_s, rs.prm_s);
    else {
        printf("tree: beam search N=%d M=%d, %d rounds of up to %d tokens, prompt %llu tokens: %zu nodes, %zu scored\n",
               o->n, o->beam_width, iterations, o->step_tokens, (unsigned long long)s.prompt_tokens, s.n_children,
               s.n_scored);
        printf("engine:    %s kernels, %s precision\n", rs.kernels, rs.precision);
        printf("ponder:    %llu tokens computed (policy %llu, PRM %llu; %.3f x the tree's %llu unique tokens per model) in %.2f s\n",
               (unsigned long long)computed, (unsigned long long)pol_tokens, (unsigned long long)prm_tokens,
               (double)computed / (2.0 * (double)unique), (unsigned long long)unique, wall);
        printf("           peak resident memory %.0f MB (both models mapped, KV caches, workspace)\n", peak_mb);
        printf("           peak KV cache %.1f MiB (policy %.1f, PRM %.1f; %.2f MiB per live branch)%s\n",
               (double)kv_peak / 1048576.0, (double)ku_pol.bytes_peak / 1048576.0, (double)ku_prm.bytes_peak / 1048576.0,
               (double)kv_peak / 1048576.0 / o->n, o->kv_memory ? " under --kv-memory" : "");
        printf("           of which the policy %.2f s, the PRM %.2f s\n", s.policy_s, s.prm_s);
        printf("reference: %llu tokens computed (%.1f x) in %.2f s (%.1f x; prefills timed on 1 in %d)\n",
               (unsigned long long)ref_tokens, (double)ref_tokens / (double)computed, ref_wall, ref_wall / wall,
               o->ref_sample);
        printf("           of which policy prefills %.2f s, decode rounds %.2f s, PRM prefills %.2f s\n", rs.prefill_s,
               rs.decode_s, rs.prm_s);
    }
    rc = 0;
    goto done;
fail_search:
    pd_verifier_close(&s.ver);
    pd_policy_close(&s.pol);
fail:
fail_early:
    rc = cli_fail_err("bench", &err);
done:
    free(text);
    free(s.nodes);
    free(s.children);
    free(s.scored);
    pd_backend_opts_free(&bo);
    return rc;
}
