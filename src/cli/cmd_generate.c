/* cmd_generate.c — `ponder generate`: sample a continuation from a local model.
 *
 * The prompt is text (tokenized with the model's tokenizer, optionally through its chat
 * template) or token ids; the output is the generated text, or the generated ids with
 * --print-ids (which, with --prompt-ids, needs no tokenizer at all). Text is streamed as it
 * is produced unless stop strings are given (then the trimmed text is printed at the end). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOP 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder generate --model M (--prompt TEXT [--chat] [--system TEXT] | --prompt-ids \"1 2 3\")\n"
            "                       [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P]\n"
            "                       [--seed S] [--stop STR]... [--print-ids] [--ignore-eos] [--threads N]\n"
            "                       [--kernels K] [--precision P]\n\n"
            "Generate a continuation with the embedded engine.\n\n"
            "  --model M         model directory (Hugging Face layout) or hub repo id in the HF cache\n"
            "  --prompt TEXT     prompt text (needs tokenizer.json); BOS added as the tokenizer says\n"
            "  --chat            wrap --prompt as a user message in the model's chat template\n"
            "  --system TEXT     system message for --chat\n"
            "  --prompt-ids IDS  prompt as token ids, space or comma separated (no BOS added)\n"
            "  --max-tokens N    tokens to generate at most (default 256)\n"
            "  --temperature T   0 = greedy (default 0)\n"
            "  --top-p P         nucleus sampling (default 1 = off)\n"
            "  --top-k K         keep the K most likely tokens (default 0 = off)\n"
            "  --min-p P         drop tokens below P x the top probability (default 0 = off)\n"
            "  --seed S          RNG seed (default 0)\n"
            "  --stop STR        stop when STR appears (repeatable; needs a tokenizer; STR not printed)\n"
            "  --print-ids       print the generated token ids, space separated, instead of text\n"
            "  --ignore-eos      keep generating past EOS ids\n"
            "  --threads N       worker threads (default: one per CPU)\n"
            "%s", cli_engine_flags_help(20));
}

/* Streams each generated piece of text to stdout; *user counts the bytes written. */
static void print_piece(void *user, size_t seq, int32_t id, const char *piece, size_t len) {
    (void)seq, (void)id;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    *(size_t *)user += len;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *prompt_ids = NULL, *system = NULL, *stop[MAX_STOP];
    int chat = 0, print_ids = 0;
    long threads = 0, seed = 0;
    size_t n_stop = 0, streamed = 0;
    pd_gen_params gp = {0};
    gp.sampling = pd_sampling_greedy();
    gp.max_tokens = 256;
    for (int i = 1, r; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--print-ids")) print_ids = 1;
        else if (!strcmp(a, "--ignore-eos")) gp.ignore_eos = 1;
        else if (!v) return cli_fail("generate", "%s needs a value (or unknown option; see --help)", a);
        else if (!strcmp(a, "--model")) model = v, i++;
        else if (!strcmp(a, "--prompt")) prompt = v, i++;
        else if (!strcmp(a, "--prompt-ids")) prompt_ids = v, i++;
        else if (!strcmp(a, "--system")) system = v, i++;
        else if (!strcmp(a, "--stop")) {
            if (n_stop == MAX_STOP) return cli_fail("generate", "at most %d --stop strings", MAX_STOP);
            if (!*v) return cli_fail("generate", "--stop needs a non-empty string");
            stop[n_stop++] = v, i++;
        } else if (!strcmp(a, "--max-tokens")) {
            if (cli_parse_long(v, &l) || l > 1 << 24) return cli_fail("generate", "bad --max-tokens '%s'", v);
            gp.max_tokens = (size_t)l, i++;
        } else if (!strcmp(a, "--temperature")) {
            if (cli_parse_double(v, &d) || !(d >= 0 && d <= 100)) return cli_fail("generate", "bad --temperature '%s'", v);
            gp.sampling.temperature = d, i++;
        } else if (!strcmp(a, "--top-p")) {
            if (cli_parse_double(v, &d) || !(d > 0 && d <= 1)) return cli_fail("generate", "bad --top-p '%s' (0 < P <= 1)", v);
            gp.sampling.top_p = d, i++;
        } else if (!strcmp(a, "--top-k")) {
            if (cli_parse_long(v, &l) || l > 1 << 24) return cli_fail("generate", "bad --top-k '%s'", v);
            gp.sampling.top_k = (int)l, i++;
        } else if (!strcmp(a, "--min-p")) {
            if (cli_parse_double(v, &d) || !(d >= 0 && d <= 1)) return cli_fail("generate", "bad --min-p '%s' (0 <= P <= 1)", v);
            gp.sampling.min_p = d, i++;
        } else if ((r = cli_engine_flag("generate", a, v)) >= 0) {
            if (r) return r;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_long(v, &seed)) return cli_fail("generate", "bad --seed '%s'", v);
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_long(v, &threads) || threads < 1 || threads > 64) return cli_fail("generate", "bad --threads '%s'", v);
            i++;
        } else return cli_fail("generate", "unknown option '%s' (see --help)", a);
    }
    if (!model) return cli_fail("generate", "--model is required (see --help)");
    if (!!prompt == !!prompt_ids) return cli_fail("generate", "give exactly one of --prompt and --prompt-ids");
    if (chat && !prompt) return cli_fail("generate", "--chat needs --prompt");

    char dir[4096];
    pd_error err = {0};
    if (pd_hub_resolve(model, dir, sizeof dir, &err)) return cli_fail_err("generate", &err);
    int need_tok = prompt || !print_ids || n_stop;
    pd_tokenizer *tok = NULL;
    if (need_tok && !(tok = pd_tokenizer_load(dir, &err))) {
        if (!prompt && !n_stop)
            pd_err_prefix(&err, "decoding the output needs the tokenizer (or use --print-ids)");
        return cli_fail_err("generate", &err);
    }
    int rc = 1;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    const char *bad;
    pd_model *m = NULL;
    pd_buf text = {0};
    pd_gen_seq seq = {0};
    if (prompt_ids) {
        if (cli_parse_ids(prompt_ids, &ids, &n_ids, &bad) || n_ids == 0) {
            rc = cli_fail("generate", "bad --prompt-ids '%s' (space-separated non-negative ids)", prompt_ids);
            goto out;
        }
    } else {
        const char *src = prompt;
        if (chat) {
            pd_chat_msg msgs[2];
            size_t nm = 0;
            if (system) msgs[nm++] = (pd_chat_msg){"system", system};
            msgs[nm++] = (pd_chat_msg){"user", prompt};
            if (pd_chat_render(tok, msgs, nm, 1, 0, &text, &err)) {
                rc = cli_fail_err("generate", &err);
                goto out;
            }
            src = text.data ? text.data : "";
        }
        size_t n = 0;
        /* a chat template spells BOS itself; a plain prompt gets the tokenizer's post-processor */
        if (pd_tokenizer_encode(tok, src, strlen(src), !chat, &ids, &n, &err)) {
            rc = cli_fail_err("generate", &err);
            goto out;
        }
        n_ids = n;
        if (!n_ids) {
            rc = cli_fail("generate", "the prompt encodes to no tokens");
            goto out;
        }
    }
    pd_model_opts mo = {(int)threads, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    if (!(m = pd_model_load(dir, &mo, &err))) {
        rc = cli_fail_err("generate", &err);
        goto out;
    }
    gp.stop = stop;
    gp.n_stop = n_stop;
    if (!print_ids && !n_stop) gp.on_token = print_piece, gp.user = &streamed;
    seq.prompt = ids;
    seq.n_prompt = (size_t)n_ids;
    seq.seed = (uint64_t)seed;
    if (pd_generate(m, tok, &gp, &seq, 1, &err)) {
        if (gp.on_token) printf("\n");
        rc = cli_fail_err("generate", &err);
        goto out;
    }
    if (print_ids) {
        for (size_t i = 0; i < seq.n_ids; i++) printf("%s%d", i ? " " : "", (int)seq.ids[i]);
        printf("\n");
    } else if (n_stop) {
        if (seq.text) fwrite(seq.text, 1, seq.text_len, stdout);
        printf("\n");
    } else {
        /* the final flush of a half-finished UTF-8 character (U+FFFD) reaches no token's piece */
        if (seq.text && seq.text_len > streamed) fwrite(seq.text + streamed, 1, seq.text_len - streamed, stdout);
        printf("\n");
    }
    rc = 0;
out:
    pd_gen_seq_clear(&seq);
    pd_model_free(m);
    pd_tokenizer_free(tok);
    pd_buf_free(&text);
    free(ids);
    return rc;
}
