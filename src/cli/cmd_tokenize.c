/* cmd_tokenize.c — `ponder tokenize --model M [--add-special] [--decode [--skip-special]]`.
 *
 * Encoding reads all of stdin as one text (bytes as they are: no newline is stripped) and
 * prints its ids space-separated on one line. Decoding reads ids (separated by spaces,
 * newlines or commas) and prints the text exactly, with no newline added, so that
 * `ponder tokenize | ponder tokenize --decode` gives the input back.
 * M is a model directory, a hub repo id found in the Hugging Face cache, or a path to a
 * tokenizer.json file. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder tokenize --model M [--add-special]\n"
            "       ponder tokenize --model M --decode [--skip-special]\n"
            "\n"
            "Encode all of stdin as one text and print its token ids on one line, or (--decode)\n"
            "read token ids from stdin and print their text (no newline added).\n"
            "\n"
            "  --model M        model directory, hub repo id (ORG/NAME) in the Hugging Face cache,\n"
            "                   or a path to a tokenizer.json\n"
            "  --add-special    apply the post-processor (e.g. prepend BOS)\n"
            "  --decode         ids to text\n"
            "  --skip-special   with --decode: leave special tokens out\n");
}

/* Reads all of stdin into b; returns 0 or -1. */
static int read_stdin(pd_buf *b) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (pd_buf_append(b, chunk, n)) return -1;
    return ferror(stdin) ? -1 : 0;
}

/* Loads the tokenizer of spec M (tokenizer.json path, directory or repo id). */
static pd_tokenizer *load(const char *spec, pd_error *err) {
    if (pd_file_exists(spec) && !pd_dir_exists(spec)) return pd_tokenizer_load(spec, err);
    char dir[4096];
    if (pd_hub_resolve(spec, dir, sizeof dir, err)) return NULL;
    return pd_tokenizer_load(dir, err);
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    int add_special = 0, decode = 0, skip_special = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model")) {
            if (++i >= argc) return cli_fail("tokenize", "--model needs a value");
            model = argv[i];
        } else if (!strncmp(a, "--model=", 8)) {
            model = a + 8;
        } else if (!strcmp(a, "--add-special")) {
            add_special = 1;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--skip-special")) {
            skip_special = 1;
        } else {
            return cli_fail("tokenize", "unknown argument '%s' (see --help)", a);
        }
    }
    if (!model) return cli_fail("tokenize", "--model is required (see --help)");
    if (decode && add_special) return cli_fail("tokenize", "--add-special is for encoding, not --decode");
    if (!decode && skip_special) return cli_fail("tokenize", "--skip-special is for --decode");
    pd_error err = {0};
    pd_tokenizer *tok = load(model, &err);
    if (!tok) return cli_fail_err("tokenize", &err);
    pd_buf in = {0}, out = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    if (read_stdin(&in)) {
        rc = cli_fail("tokenize", "reading stdin: %s", strerror(errno));
        goto done;
    }
    if (!decode) {
        if (pd_tokenizer_encode(tok, in.data ? in.data : "", in.len, add_special, &ids, &n, &err)) {
            rc = cli_fail_err("tokenize", &err);
            goto done;
        }
        for (size_t i = 0; i < n; i++) pd_buf_printf(&out, i ? " %d" : "%d", ids[i]);
        pd_buf_putc(&out, '\n');
    } else {
        const char *bad;
        if (cli_parse_ids(in.data ? in.data : "", &ids, &n, &bad)) {
            rc = bad ? cli_fail("tokenize", "--decode: '%.*s' is not a token id", (int)strcspn(bad, " ,\t\r\n"), bad)
                     : cli_fail("tokenize", "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if ((size_t)ids[i] >= pd_tokenizer_vocab_size(tok)) {
                rc = cli_fail("tokenize", "--decode: token id %d is out of range (vocabulary of %zu)", ids[i],
                              pd_tokenizer_vocab_size(tok));
                goto done;
            }
        }
        if (pd_tokenizer_decode_buf(tok, ids, n, skip_special, &out, &err)) {
            rc = cli_fail_err("tokenize", &err);
            goto done;
        }
    }
    if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = cli_fail("tokenize", "writing stdout failed");
done:
    free(ids);
    pd_buf_free(&in);
    pd_buf_free(&out);
    pd_tokenizer_free(tok);
    return rc;
}
