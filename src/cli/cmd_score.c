/* cmd_score.c — `ponder score`: a PRM's step rewards for JSONL {problem, steps} lines.
 *
 * One output line per input line, in order: {"rewards": [...]} (plus "score" with --agg and
 * "input_ids"/"positions" with --show-input), or {"error": "line N: ..."} for a line that
 * cannot be read or scored; the stream goes on after an error. This is how a user checks a
 * PRM on their own data, and how the formats are tested against transformers.
 * Exit status 0 when the input was read to the end (bad lines included), 1 when the PRM
 * cannot be opened or on an I/O error. */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ponder score --prm SPEC [options] < lines.jsonl\n"
    "\n"
    "Reads one JSON object per line, {\"problem\": \"...\", \"steps\": [\"...\", ...]} (steps without\n"
    "the \"\\n\\n\" delimiter), and writes one line per input line with one reward per step:\n"
    "  {\"rewards\": [r1, r2, ...]}\n"
    "or {\"error\": \"line N: ...\"} for a line it cannot read or score.\n"
    "\n"
    "  --prm SPEC            a PRM directory or a repo id in the Hugging Face cache\n"
    "  --prm-kind K          qwen2-prm, skywork, rlhflow or math-shepherd (detected from\n"
    "                        config.json's architectures or the repo id)\n"
    "  --prm-step-tag S      math-shepherd: text after each step (' ки')\n"
    "  --prm-good-token S    rlhflow / math-shepherd judgment tokens ('+', '-')\n"
    "  --prm-bad-token S\n"
    "  --prm-system-prompt S qwen2-prm: its system prompt (the model card's)\n"
    "  --agg A               also print \"score\": the rewards aggregated by last, min, prod or mean\n"
    "  --show-input          also print the model input: \"input_ids\" and the read-out \"positions\"\n"
    "  --threads T           engine threads (one per CPU)\n";

/* Append a JSON number array of n values. */
static void put_floats(pd_buf *b, const float *v, size_t n) {
    pd_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) pd_buf_printf(b, "%s%.9g", i ? ", " : "", (double)v[i]);
    pd_buf_putc(b, ']');
}

static void put_error(pd_buf *b, const char *msg) {
    pd_buf_puts(b, "{\"error\": ");
    pd_buf_json_str(b, msg, strlen(msg));
    pd_buf_puts(b, "}\n");
}

/* Score one parsed line into out; returns 0 or an error message in err. */
static int score_line(pd_prm *prm, json_t *j, int agg_on, pd_agg agg, int show, pd_buf *out, pd_error *err) {
    const char *problem = json_string_value(json_object_get(j, "problem"));
    json_t *steps = json_object_get(j, "steps");
    if (!json_is_object(j) || !problem || !json_is_array(steps))
        return pd_err_set(err, PD_EFORMAT, "needs an object with a string \"problem\" and an array \"steps\"");
    size_t n = json_array_size(steps);
    const char **sv = malloc((n ? n : 1) * sizeof *sv);
    float *rew = malloc((n ? n : 1) * sizeof *rew);
    int rc = !sv || !rew ? pd_err_set(err, PD_ENOMEM, "out of memory") : 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(sv[i] = json_string_value(json_array_get(steps, i))))
            rc = pd_err_set(err, PD_EFORMAT, "steps[%zu] is not a string", i);
    uint64_t tokens = 0;
    if (!rc) rc = pd_prm_score(prm, problem, sv, n, rew, &tokens, err);
    if (!rc) {
        pd_buf_puts(out, "{\"rewards\": ");
        put_floats(out, rew, n);
        if (agg_on) pd_buf_printf(out, ", \"score\": %.9g", pd_agg_rewards(rew, n, agg));
        if (show) {
            int32_t *ids = NULL;
            size_t n_ids = 0, *pos = NULL;
            if (!(rc = pd_prm_render(prm, problem, sv, n, &ids, &n_ids, &pos, err))) {
                pd_buf_puts(out, ", \"input_ids\": [");
                for (size_t i = 0; i < n_ids; i++) pd_buf_printf(out, "%s%d", i ? ", " : "", (int)ids[i]);
                pd_buf_puts(out, "], \"positions\": [");
                for (size_t i = 0; i < n; i++) pd_buf_printf(out, "%s%zu", i ? ", " : "", pos[i]);
                pd_buf_putc(out, ']');
            }
            free(ids);
            free(pos);
        }
        pd_buf_puts(out, "}\n");
    }
    free(sv);
    free(rew);
    return rc;
}

int cmd_score(int argc, char **argv) {
    const char *spec = NULL;
    pd_prm_opts po = {0};
    int agg_on = 0, show = 0;
    pd_agg agg = PD_AGG_LAST;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--show-input")) {
            show = 1;
            continue;
        }
        char name[64];
        const char *val;
        long v;
        if (cli_opt_value("score", argc, argv, &i, name, sizeof name, &val)) return 1;
        if (!strcmp(name, "prm")) spec = val;
        else if (!strcmp(name, "prm-kind")) {
            if (pd_prm_kind_parse(val, &po.kind))
                return cli_fail("score", "--prm-kind: '%s' is not qwen2-prm, skywork, rlhflow or math-shepherd", val);
        } else if (!strcmp(name, "prm-step-tag")) po.step_tag = val;
        else if (!strcmp(name, "prm-good-token")) po.good_token = val;
        else if (!strcmp(name, "prm-bad-token")) po.bad_token = val;
        else if (!strcmp(name, "prm-system-prompt")) po.system_prompt = val;
        else if (!strcmp(name, "agg")) {
            if (pd_agg_parse(val, &agg)) return cli_fail("score", "--agg: '%s' is not last, min, prod or mean", val);
            agg_on = 1;
        } else if (!strcmp(name, "threads")) {
            if (cli_parse_long(val, &v) || v < 1 || v > 64) return cli_fail("score", "--threads: bad value '%s' (1..64)", val);
            po.n_threads = (int)v;
        } else {
            return cli_fail("score", "unknown option '--%s' (see --help)", name);
        }
    }
    if (!spec) return cli_fail("score", "--prm is required (a PRM directory or repo id)");
    pd_error err = {0};
    pd_prm *prm = pd_prm_open(spec, &po, &err);
    if (!prm) return cli_fail_err("score", &err);
    cli_jsonl rd = {0};
    pd_buf out = {0};
    int rc = 0;
    json_t *j;
    char msg[768];
    while (cli_jsonl_next(&rd, stdin, &j, msg, sizeof msg)) {
        pd_buf_reset(&out);
        pd_error e = {0};
        if (j && score_line(prm, j, agg_on, agg, show, &out, &e)) snprintf(msg, sizeof msg, "line %ld: %s", rd.lineno, e.msg);
        json_decref(j);
        if (msg[0]) {
            pd_buf_reset(&out);
            put_error(&out, msg);
            fprintf(stderr, "ponder score: %s\n", msg);
        }
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) {
            rc = cli_fail("score", "cannot write to stdout");
            break;
        }
        fflush(stdout);
    }
    cli_jsonl_free(&rd);
    pd_buf_free(&out);
    pd_prm_close(prm);
    if (!rc && ferror(stdin)) rc = cli_fail("score", "cannot read stdin");
    return rc;
}
