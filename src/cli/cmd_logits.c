/* cmd_logits.c — `ponder logits`: the last position's logits of a prompt, one per line.
 *
 * A debugging and parity tool: compare with transformers' model(ids).logits[0, -1]. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder logits --model M --prompt-ids \"1 2 3\" [--threads N] [--portable] [--kernels K]\n"
            "                     [--precision P]\n\n"
            "Print the logits of the last prompt position, one number per line (vocab_size lines).\n\n"
            "  --model M         model directory (Hugging Face layout) or hub repo id in the HF cache\n"
            "  --prompt-ids IDS  token ids, space or comma separated (no BOS added)\n"
            "  --threads N       worker threads (default: one per CPU)\n"
            "  --portable        use the portable C kernels (--kernels portable)\n"
            "%s", cli_engine_flags_help(20));
}

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *prompt_ids = NULL;
    long threads = 0;
    int portable = 0;
    for (int i = 1, r; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--portable")) portable = 1;
        else if (!v) return cli_fail("logits", "%s needs a value (or unknown option; see --help)", a);
        else if (!strcmp(a, "--model")) model = v, i++;
        else if ((r = cli_engine_flag("logits", a, v)) >= 0) {
            if (r) return r;
            i++;
        }
        else if (!strcmp(a, "--prompt-ids")) prompt_ids = v, i++;
        else if (!strcmp(a, "--threads")) {
            if (cli_parse_long(v, &threads) || threads < 1 || threads > 64) return cli_fail("logits", "bad --threads '%s'", v);
            i++;
        } else return cli_fail("logits", "unknown option '%s' (see --help)", a);
    }
    if (!model || !prompt_ids) return cli_fail("logits", "--model and --prompt-ids are required (see --help)");
    int32_t *ids = NULL;
    size_t n = 0;
    const char *bad;
    if (cli_parse_ids(prompt_ids, &ids, &n, &bad) || n == 0) return cli_fail("logits", "bad --prompt-ids '%s' (space-separated non-negative ids)", prompt_ids);
    char dir[4096];
    pd_error err = {0};
    pd_model *m = NULL;
    pd_kv *kv = NULL;
    float *out = NULL;
    int rc = 1;
    pd_model_opts mo = {(int)threads, portable ? PD_KERNELS_PORTABLE : PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    if (pd_hub_resolve(model, dir, sizeof dir, &err) || !(m = pd_model_load(dir, &mo, &err)) || !(kv = pd_kv_new(m, &err))) {
        rc = cli_fail_err("logits", &err);
        goto out;
    }
    size_t V = (size_t)pd_model_get_config(m)->vocab_size;
    if (!(out = malloc(V * sizeof *out))) {
        rc = cli_fail("logits", "out of memory");
        goto out;
    }
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = (size_t)n, .logits = PD_LOGITS_LAST, .out = out};
    if (pd_model_forward(m, &s, 1, &err)) {
        rc = cli_fail_err("logits", &err);
        goto out;
    }
    for (size_t i = 0; i < V; i++) printf("%.9g\n", out[i]);
    rc = 0;
out:
    free(out);
    pd_kv_free(kv);
    pd_model_free(m);
    free(ids);
    return rc;
}
