/* fuzz_grade.c — libFuzzer target for the grader: extraction, the LaTeX parser, comparison
 * and keys (src/grade/).
 *
 * The input is split at the first NUL-free "\n\n" (if any) into a prediction and a gold; both
 * go through pd_grade (extraction of both sides; the choice mode and the relative tolerance
 * vary with the input size), pd_grade_equal on the raw strings (the parser), pd_grade_key,
 * and extraction with a choice-letter gold. Everything must finish
 * without crashes, leaks or sanitizer reports; libFuzzer's -timeout catches hangs. */
#include "ponder.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0; /* an embedded NUL just ends the string early */
    char *gold = strstr(buf, "\n\n");
    const char *pred = buf;
    if (gold) {
        *gold = 0;
        gold += 2;
    } else {
        gold = buf;
    }
    pd_grade_opts o;
    pd_grade_opts_default(&o);
    o.set_relation = size & 1;
    o.strict = !(size & 2);
    o.mode = (int)(size >> 3) % 3;            /* auto, mcq, math */
    o.rel_tol = (size & 32) ? 1e-3 : 0;       /* the approximation rule */
    pd_grade_result r;
    if (pd_grade(pred, gold, &o, &r, NULL) == 0) pd_grade_result_free(&r);
    o.bare_answers = 0;
    o.integer_only = (size & 4) != 0;
    if (pd_grade(pred, gold, &o, &r, NULL) == 0) pd_grade_result_free(&r);
    o.integer_only = 0;
    (void)pd_grade_equal_opts(pred, gold, &o);
    (void)pd_grade_equal(pred, gold);
    free(pd_grade_key(pred));
    free(pd_grade_extract(pred, "C"));
    free(buf);
    return 0;
}
