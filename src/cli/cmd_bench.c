/* cmd_bench.c — `ponder bench`: prompt (prefill) and generation (decode) speed of a local model.
 *
 * Prompt ids are drawn from a fixed-seed RNG (the speed of a forward pass does not depend
 * on which ids), the weights are touched once by a short warm-up before anything is timed,
 * then: one prefill of --prompt-tokens, then --gen-tokens greedy decode steps. With
 * --batch B the decode runs B sequences (forks of the same prefilled prompt) per step, which
 * is what tree search does; tokens/s then counts all B. Each figure is given per wall-clock
 * second and per CPU second of the process (all threads), the latter being the useful one
 * on a busy shared machine. Prints figures, never fails on time. */
#include "cli.h"
#include "cmd_bench_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder bench --model M [--prompt-tokens N] [--gen-tokens N] [--threads T] [--batch B] [--portable]\n"
            "                   [--kernels K] [--precision P]\n"
            "       ponder bench --model M --workload tree [--prm P] [--prm-kind K] [--n 16] [--beam-width 4]\n"
            "                    [--steps 10] [--step-tokens 64] [--prompt-tokens 200] [--ref-sample 16]\n"
            "                    [--kv-memory SIZE] [--json]\n\n"
            "Measure prompt and generation tokens per second of the embedded engine; or (--workload tree)\n"
            "one beam search on a policy and a PRM against the same search done the reference way\n"
            "(every branch and every PRM call re-encoding its whole prefix).\n\n"
            "  --model M          model directory (Hugging Face layout) or hub repo id in the HF cache\n"
            "  --prompt-tokens N  prompt length (default 128)\n"
            "  --gen-tokens N     tokens generated per sequence (default 64)\n"
            "  --threads T        worker threads (default: one per CPU)\n"
            "  --batch B          decode B sequences together (default 1)\n"
            "  --portable         use the portable C kernels (--kernels portable)\n"
            "%s"
            "  --workload tree    the tree search workload (options below; --batch/--gen-tokens unused)\n"
            "  --prm P            tree: the PRM (default: the policy's model again, as a second instance)\n"
            "  --prm-kind K       tree: how P is read (qwen2-prm, skywork, rlhflow, math-shepherd; default: detect)\n"
            "  --n N, --beam-width M, --steps S, --step-tokens N   tree: the search (16, 4, 10, 64)\n"
            "  --ref-sample K     tree: time 1 in K of the reference's prefills and scale (default 16)\n"
            "  --kv-memory SIZE   tree: bound each model's KV cache (512M, 2G; default: no bound)\n"
            "  --json             tree: one JSON object\n", cli_engine_flags_help(21));
}

/* Index of the largest value. */
static int32_t argmax(const float *x, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long n_prompt = 128, n_gen = 64, threads = 0, batch = 1;
    int portable = 0, json = 0, tree = 0;
    long n = 16, beam_width = 4, n_steps = 10, step_tokens = 64, ref_sample = 16;
    const char *prm = NULL, *prm_kind = NULL;
    int prompt_set = 0;
    size_t kv_memory = 0;
    for (int i = 1, r; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--portable")) portable = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!v) return cli_fail("bench", "%s needs a value (or unknown option; see --help)", a);
        else if (!strcmp(a, "--model")) model = v, i++;
        else if ((r = cli_engine_flag("bench", a, v)) >= 0) {
            if (r) return r;
            i++;
        }
        else if (!strcmp(a, "--prm")) prm = v, i++;
        else if (!strcmp(a, "--prm-kind")) prm_kind = v, i++;
        else if (!strcmp(a, "--kv-memory")) {
            if (pd_kv_memory_parse(v, &kv_memory)) return cli_fail("bench", "bad --kv-memory '%s' (512M, 2G, bytes)", v);
            i++;
        }
        else if (!strcmp(a, "--workload")) {
            if (strcmp(v, "tree") && strcmp(v, "speed")) return cli_fail("bench", "unknown --workload '%s' (tree or speed)", v);
            tree = !strcmp(v, "tree");
            i++;
        } else if (!strcmp(a, "--n") || !strcmp(a, "--beam-width") || !strcmp(a, "--steps") || !strcmp(a, "--step-tokens") ||
                   !strcmp(a, "--ref-sample")) {
            long x;
            if (cli_parse_long(v, &x) || x < 1 || x > 4096) return cli_fail("bench", "bad %s '%s'", a, v);
            *(!strcmp(a, "--n") ? &n : !strcmp(a, "--beam-width") ? &beam_width : !strcmp(a, "--steps") ? &n_steps
              : !strcmp(a, "--step-tokens") ? &step_tokens : &ref_sample) = x;
            i++;
        }
        else if (!strcmp(a, "--prompt-tokens")) {
            if (cli_parse_long(v, &n_prompt) || n_prompt < 1 || n_prompt > 1 << 20) return cli_fail("bench", "bad --prompt-tokens '%s'", v);
            prompt_set = 1;
            i++;
        } else if (!strcmp(a, "--gen-tokens")) {
            if (cli_parse_long(v, &n_gen) || n_gen > 1 << 20) return cli_fail("bench", "bad --gen-tokens '%s'", v);
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_long(v, &threads) || threads < 1 || threads > 64) return cli_fail("bench", "bad --threads '%s'", v);
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (cli_parse_long(v, &batch) || batch < 1 || batch > 4096) return cli_fail("bench", "bad --batch '%s'", v);
            i++;
        } else return cli_fail("bench", "unknown option '%s' (see --help)", a);
    }
    if (!model) return cli_fail("bench", "--model is required (see --help)");
    if (portable) setenv("PONDER_KERNELS", "portable", 1);
    if (tree) {
        bench_tree_opts o = {model, prm, prm_kind, (int)threads, (int)n, (int)beam_width, (int)n_steps, (int)step_tokens,
                             prompt_set ? (int)n_prompt : 200, (int)ref_sample, json, kv_memory};
        return bench_tree(&o);
    }
    char dir[4096];
    pd_error err = {0};
    if (pd_hub_resolve(model, dir, sizeof dir, &err)) return cli_fail_err("bench", &err);
    double t0 = pd_now();
    pd_model_opts mo = {(int)threads, portable ? PD_KERNELS_PORTABLE : PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    pd_model *m = pd_model_load(dir, &mo, &err);
    if (!m) return cli_fail_err("bench", &err);
    double t_load = pd_now() - t0;
    const pd_model_config *c = pd_model_get_config(m);
    size_t V = (size_t)c->vocab_size, B = (size_t)batch;
    if (n_prompt + n_gen > c->max_positions) {
        int ctx = c->max_positions;
        pd_model_free(m);
        return cli_fail("bench", "prompt + generated tokens (%ld) exceed the model's context (%d)", n_prompt + n_gen, ctx);
    }
    int rc = 1;
    int32_t *ids = malloc((size_t)n_prompt * sizeof *ids), *next = malloc(B * sizeof *next);
    float *logits = malloc(B * V * sizeof *logits);
    pd_kv **kv = calloc(B, sizeof *kv);
    pd_seq_step *steps = calloc(B, sizeof *steps);
    if (!ids || !next || !logits || !kv || !steps) {
        rc = cli_fail("bench", "out of memory");
        goto out;
    }
    pd_rng rng;
    pd_rng_seed(&rng, 1234);
    for (long i = 0; i < n_prompt; i++) ids[i] = (int32_t)pd_rng_below(&rng, V);
    printf("model: %s (%s, %zu parameters, %d layers, hidden %d, vocab %d)\n", dir, c->architecture,
           pd_model_n_params(m), c->n_layers, c->hidden_size, c->vocab_size);
    printf("engine: %s kernels, %s precision, %d threads; load %.3f s\n", pd_model_kernels_name(m),
           pd_model_precision_name(m), pd_model_n_threads(m), t_load);
    /* the machine's limits now, to state figures as fractions of them: weights read once per
     * decode step (16-bit weights assumed for the bound), 2 FLOPs per parameter per prompt
     * token, embedding and lm_head left out (a lookup; logits of the last token only) */
    pd_machine_limits lim = {0};
    if (pd_machine_probe(pd_model_n_threads(m), &lim, &err)) goto fail;
    double flops_tok = 2.0 * ((double)pd_model_n_params(m) - (c->tie_embeddings ? 1.0 : 2.0) * (double)V * c->hidden_size);
    double bound_gen = lim.read_gbs * 1e9 / (2.0 * (double)pd_model_n_params(m));
    printf("machine: read %.1f GB/s, fp32 FMA peak %.1f GFLOP/s (%d threads); generation bound %.1f tokens/s for 16-bit weights\n",
           lim.read_gbs, lim.fma_gflops, pd_model_n_threads(m), bound_gen);

    /* warm-up: touch every weight page once */
    if (!(kv[0] = pd_kv_new(m, &err))) goto fail;
    steps[0] = (pd_seq_step){.kv = kv[0], .tokens = ids, .n_tokens = n_prompt < 8 ? (size_t)n_prompt : 8, .logits = PD_LOGITS_LAST, .out = logits};
    if (pd_model_forward(m, steps, 1, &err)) goto fail;
    pd_kv_truncate(kv[0], 0);

    /* prompt: one prefill (in chunks of 512 tokens) */
    t0 = pd_now();
    clock_t c0 = clock();
    for (long done = 0; done < n_prompt;) {
        long take = n_prompt - done > 512 ? 512 : n_prompt - done;
        steps[0] = (pd_seq_step){.kv = kv[0], .tokens = ids + done, .n_tokens = (size_t)take, .logits = done + take == n_prompt ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = logits};
        if (pd_model_forward(m, steps, 1, &err)) goto fail;
        done += take;
    }
    double t_prompt = pd_now() - t0, c_prompt = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("prompt:     %6ld tokens in %8.3f s = %9.1f tokens/s (%.1f per CPU second; %.0f%% of the fp32 FMA peak)\n", n_prompt,
           t_prompt, n_prompt / t_prompt, n_prompt / c_prompt, 100.0 * flops_tok * n_prompt / t_prompt / (lim.fma_gflops * 1e9));

    /* generation: B forks of the prompt, greedy, one token per sequence per step */
    for (size_t b = 1; b < B; b++) {
        if (!(kv[b] = pd_kv_clone(kv[0], &err))) goto fail;
        memcpy(logits + b * V, logits, V * sizeof *logits);
    }
    t0 = pd_now();
    c0 = clock();
    for (long g = 0; g < n_gen; g++) {
        for (size_t b = 0; b < B; b++) {
            next[b] = argmax(logits + b * V, V);
            steps[b] = (pd_seq_step){.kv = kv[b], .tokens = &next[b], .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = logits + b * V};
        }
        if (pd_model_forward(m, steps, B, &err)) goto fail;
    }
    double t_gen = pd_now() - t0, c_gen = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (n_gen)
        printf("generation: %6ld tokens in %8.3f s = %9.1f tokens/s (%.1f per CPU second; batch %zu, %.1f tokens/s per sequence; "
               "%.0f%% of the bandwidth bound per step)\n",
               n_gen * (long)B, t_gen, n_gen * (double)B / t_gen, n_gen * (double)B / c_gen, B, n_gen / t_gen,
               100.0 * (n_gen / t_gen) / bound_gen);
    rc = 0;
    goto out;
fail:
    rc = cli_fail_err("bench", &err);
out:
    for (size_t b = 0; kv && b < B; b++) pd_kv_free(kv[b]);
    free(kv);
    free(steps);
    free(ids);
    free(next);
    free(logits);
    pd_model_free(m);
    return rc;
}
