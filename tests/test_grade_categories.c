/* test_grade_categories.c — the grader on answers as models write them, by category (issue 13):
 * multiple choice, units, times of day, approximations (--rel-tol), other languages' answer
 * anchors, structures (vectors, systems, function definitions, trigonometry), and the
 * nesting / big-number defects as a user meets them.
 *
 * tests/fixtures/grade/categories.jsonl holds the cases (see tests/fixtures/grade/README.md
 * for where each kind came from): a model's text `pred`, a reference `gold`, the verdict
 * `equal` we assert, optional `opts` ({"mode": "mcq", "rel_tol": 1e-4, "integer": true}),
 * and `origin`. Every case must agree; the per-category counts are what docs/GRADING.md
 * reports. Set GRADE_VERBOSE=1 to print every case. */
#include "ponder.h"
#include "test.h"

#include <jansson.h>

typedef struct cat {
    char name[32];
    int n, agree;
} cat;

static void t_categories(void) {
    FILE *f = fopen("tests/fixtures/grade/categories.jsonl", "r");
    CHECK(f != NULL);
    if (!f) return;
    cat cats[16];
    int ncat = 0, total = 0;
    int verbose = getenv("GRADE_VERBOSE") != NULL;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        CHECK_MSG(c != NULL, "bad json line: %s", je.text);
        if (!c) continue;
        const char *cn = json_string_value(json_object_get(c, "category"));
        const char *pred = json_string_value(json_object_get(c, "pred"));
        const char *gold = json_string_value(json_object_get(c, "gold"));
        int want = json_is_true(json_object_get(c, "equal"));
        CHECK(cn && pred && gold && json_is_boolean(json_object_get(c, "equal")));
        if (!cn || !pred || !gold) {
            json_decref(c);
            continue;
        }
        pd_grade_opts o;
        pd_grade_opts_default(&o);
        json_t *jo = json_object_get(c, "opts");
        if (jo) {
            const char *mode = json_string_value(json_object_get(jo, "mode"));
            if (mode && !strcmp(mode, "mcq")) o.mode = PD_GRADE_MCQ;
            if (mode && !strcmp(mode, "math")) o.mode = PD_GRADE_MATH;
            if (json_is_number(json_object_get(jo, "rel_tol"))) o.rel_tol = json_number_value(json_object_get(jo, "rel_tol"));
            if (json_is_true(json_object_get(jo, "integer"))) o.integer_only = 1;
        }
        int k = 0;
        while (k < ncat && strcmp(cats[k].name, cn)) k++;
        if (k == ncat && ncat < 16) {
            snprintf(cats[ncat].name, sizeof cats[ncat].name, "%s", cn);
            cats[ncat].n = cats[ncat].agree = 0;
            ncat++;
        }
        pd_grade_result r;
        pd_error err = {0};
        int rc = pd_grade(pred, gold, &o, &r, &err);
        CHECK_MSG(rc == 0, "pd_grade failed: %s", err.msg);
        if (rc != 0) {
            json_decref(c);
            continue;
        }
        int ok = r.equal == want;
        if (k < ncat) {
            cats[k].n++;
            cats[k].agree += ok;
        }
        total++;
        CHECK_MSG(ok, "[%s] want %d got %d: pred=\"%s\" gold=\"%s\" (pred_answer=\"%s\" gold_answer=\"%s\")", cn, want,
                  r.equal, pred, gold, r.pred_answer, r.gold_answer);
        if (verbose)
            printf("  [%s] %s %d: %s | %s -> %s | %s\n", cn, ok ? "ok  " : "DIFF", want, pred, gold, r.pred_answer,
                   r.gold_answer);
        pd_grade_result_free(&r);
        json_decref(c);
    }
    free(line);
    fclose(f);
    CHECK(total >= 100);
    for (int k = 0; k < ncat; k++)
        printf("agreement %-12s %3d / %3d\n", cats[k].name, cats[k].agree, cats[k].n);
}

int main(void) {
    RUN(t_categories);
    return test_done();
}
