/* cmd_grade.c — `ponder grade`: grade JSONL {pred, gold} lines from stdin.
 *
 * One output line per input line, in order: {"equal": .., "pred_answer": .., "gold_answer": ..}
 * (plus "pred_key"/"gold_key" with --key), or {"error": ".."} for a line that is not a JSON
 * object with string fields pred and gold; the stream goes on after an error. A line may
 * carry its own "integer": true (AIME / GSM8K) on top of the command-line options.
 * Exit status 0 when the input was read to the end (bad lines included), 1 on an I/O error. */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder grade [options] < lines.jsonl\n"
            "\n"
            "Reads one JSON object per line with \"pred\" (model text or a bare answer) and \"gold\"\n"
            "(reference answer), writes one line per input line:\n"
            "  {\"equal\": true|false, \"pred_answer\": \"...\", \"gold_answer\": \"...\",\n"
            "   \"pred_parsed\": true|false, \"gold_parsed\": true|false}\n"
            "(parsed false: the answer could not be read as math and was compared as text)\n"
            "or {\"error\": \"...\"} for a line it cannot read.\n"
            "\n"
            "options:\n"
            "  --key                 also print canonical voting keys (pred_key, gold_key)\n"
            "  --latex-only          read only LaTeX answers ($..$, \\boxed{}), no plain numbers\n"
            "  --expr-only           read only plain numbers and expressions\n"
            "  --boxed-priority N    0 (default): \\boxed{} as strong as \"final answer is\";\n"
            "                        50: after it; -1: ignore \\boxed{}\n"
            "  --float-rounding N    decimals compared when one side is a decimal (default 6)\n"
            "  --non-strict          variable names do not matter (f(x) = f(y))\n"
            "  --set-relation        a relation prediction may equal a set gold\n"
            "  --integer             integer answers only (AIME, GSM8K); also per line \"integer\": true\n"
            "  --keep-think          read <think>...</think> blocks too\n"
            "  --rel-tol R           a decimal answer equals a closed form within relative tolerance R\n"
            "                        (6.283 vs 2\\pi; off by default, as Math-Verify)\n"
            "  --mode M              auto (a letter gold with option text is multiple choice), mcq\n"
            "                        (every gold is a choice letter) or math (never)\n"
            "  --math-verify         extract both sides like Math-Verify (no bare-answer reading,\n"
            "                        <think> kept)\n"
            "  --help                this text\n");
}

static int parse_int_opt(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || !*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static void put_error(pd_buf *b, const char *msg) {
    pd_buf_puts(b, "{\"error\": ");
    pd_buf_json_str(b, msg, strlen(msg));
    pd_buf_puts(b, "}\n");
}

int cmd_grade(int argc, char **argv) {
    pd_grade_opts o;
    pd_grade_opts_default(&o);
    int want_key = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--key")) {
            want_key = 1;
        } else if (!strcmp(a, "--latex-only")) {
            o.match_expr = 0;
        } else if (!strcmp(a, "--expr-only")) {
            o.match_latex = 0;
        } else if (!strcmp(a, "--boxed-priority")) {
            if (parse_int_opt(i + 1 < argc ? argv[++i] : NULL, -1, 1000, &o.boxed_priority))
                return cli_fail("grade", "--boxed-priority needs an integer from -1 to 1000");
        } else if (!strcmp(a, "--float-rounding")) {
            if (parse_int_opt(i + 1 < argc ? argv[++i] : NULL, 0, 15, &o.float_rounding))
                return cli_fail("grade", "--float-rounding needs an integer from 0 to 15");
        } else if (!strcmp(a, "--non-strict")) {
            o.strict = 0;
        } else if (!strcmp(a, "--set-relation")) {
            o.set_relation = 1;
        } else if (!strcmp(a, "--integer")) {
            o.integer_only = 1;
        } else if (!strcmp(a, "--rel-tol")) {
            const char *v = i + 1 < argc ? argv[++i] : NULL;
            char *end;
            double r = v ? strtod(v, &end) : -1;
            if (!v || !*v || *end || !(r >= 0 && r <= 1))
                return cli_fail("grade", "--rel-tol needs a number from 0 to 1");
            o.rel_tol = r;
        } else if (!strcmp(a, "--mode")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (!strcmp(v, "auto")) o.mode = PD_GRADE_AUTO;
            else if (!strcmp(v, "mcq")) o.mode = PD_GRADE_MCQ;
            else if (!strcmp(v, "math")) o.mode = PD_GRADE_MATH;
            else return cli_fail("grade", "--mode needs auto, mcq or math");
        } else if (!strcmp(a, "--keep-think")) {
            o.skip_think = 0;
        } else if (!strcmp(a, "--math-verify")) {
            o.bare_answers = 0;
            o.skip_think = 0;
        } else {
            return cli_fail("grade", "unknown option '%s' (see `ponder grade --help`)", a);
        }
    }
    if (!o.match_latex && !o.match_expr)
        return cli_fail("grade", "--latex-only and --expr-only exclude each other");
    cli_jsonl rd = {0};
    pd_buf out = {0};
    json_t *j;
    char msg[768];
    while (cli_jsonl_next(&rd, stdin, &j, msg, sizeof msg)) {
        long lineno = rd.lineno;
        pd_buf_reset(&out);
        const char *pred = j ? json_string_value(json_object_get(j, "pred")) : NULL;
        const char *gold = j ? json_string_value(json_object_get(j, "gold")) : NULL;
        if (!j) {
            put_error(&out, msg);
        } else if (!json_is_object(j) || !pred || !gold) {
            snprintf(msg, sizeof msg, "line %ld: needs an object with string fields \"pred\" and \"gold\"", lineno);
            put_error(&out, msg);
        } else {
            pd_grade_opts lo = o;
            if (json_is_true(json_object_get(j, "integer"))) lo.integer_only = 1;
            pd_grade_result r;
            pd_error err = {0};
            if (pd_grade(pred, gold, &lo, &r, &err) != 0) {
                snprintf(msg, sizeof msg, "line %ld: %s", lineno, err.msg);
                put_error(&out, msg);
            } else {
                pd_buf_printf(&out, "{\"equal\": %s, \"pred_answer\": ", r.equal ? "true" : "false");
                pd_buf_json_str(&out, r.pred_answer, strlen(r.pred_answer));
                pd_buf_puts(&out, ", \"gold_answer\": ");
                pd_buf_json_str(&out, r.gold_answer, strlen(r.gold_answer));
                pd_buf_printf(&out, ", \"pred_parsed\": %s, \"gold_parsed\": %s", r.pred_parsed ? "true" : "false",
                              r.gold_parsed ? "true" : "false");
                if (want_key) {
                    char *kp = pd_grade_key(r.pred_answer), *kg = pd_grade_key(r.gold_answer);
                    pd_buf_puts(&out, ", \"pred_key\": ");
                    pd_buf_json_str(&out, kp ? kp : "", kp ? strlen(kp) : 0);
                    pd_buf_puts(&out, ", \"gold_key\": ");
                    pd_buf_json_str(&out, kg ? kg : "", kg ? strlen(kg) : 0);
                    free(kp);
                    free(kg);
                }
                pd_buf_puts(&out, "}\n");
                pd_grade_result_free(&r);
            }
        }
        json_decref(j);
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) {
            cli_jsonl_free(&rd);
            pd_buf_free(&out);
            return cli_fail("grade", "cannot write to stdout");
        }
    }
    cli_jsonl_free(&rd);
    pd_buf_free(&out);
    if (ferror(stdin)) return cli_fail("grade", "cannot read stdin");
    if (fflush(stdout) != 0) return cli_fail("grade", "cannot write to stdout");
    return 0;
}
