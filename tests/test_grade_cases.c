/* test_grade_cases.c — agreement with the public grader test suites (../shared/grader/).
 *
 * cases.jsonl holds 277 cases from Math-Verify's and the MATH dataset's own tests; `equal`
 * is what the suite asserts. Each case runs with its own config (match types, float
 * rounding, strictness, set/relation comparison, \boxed priority), the gold going through
 * extraction like the prediction (bare_answers = 0), as Math-Verify's tests do.
 *
 * The bar: at least 97% agreement on the Math-Verify cases run with Math-Verify's default
 * comparison settings (LaTeX + expression extraction, float_rounding 6, strict, no
 * set/relation comparison). The other groups are reported, not gated. docs/GRADING.md
 * lists every disagreement and its reason. Set GRADE_VERBOSE=1 to print each case.
 *
 * extraction_cases.jsonl: Math-Verify's extraction cases (a text and the choice letter or
 * nothing that should come out). */
#include "ponder.h"
#include "test.h"

#include <jansson.h>

typedef struct group {
    const char *name;
    int n, agree;
} group;

static int config_opts(json_t *cfg, pd_grade_opts *o, int *is_default) {
    pd_grade_opts_default(o);
    o->bare_answers = 0;
    o->skip_think = 0; /* Math-Verify reads <think> blocks too */
    *is_default = 0;
    if (json_is_true(json_object_get(cfg, "defaults"))) {
        o->boxed_priority = 50; /* LatexExtractionConfig's own default */
        *is_default = 1;
        return 0;
    }
    json_t *mt = json_object_get(cfg, "match_types");
    if (!json_is_array(mt)) return -1;
    o->match_latex = o->match_expr = 0;
    size_t i;
    json_t *v;
    json_array_foreach(mt, i, v) {
        if (!strcmp(json_string_value(v) ? json_string_value(v) : "", "latex")) o->match_latex = 1;
        if (!strcmp(json_string_value(v) ? json_string_value(v) : "", "expr")) o->match_expr = 1;
    }
    o->float_rounding = (int)json_integer_value(json_object_get(cfg, "float_rounding"));
    o->strict = json_is_true(json_object_get(cfg, "strict"));
    o->set_relation = json_is_true(json_object_get(cfg, "allow_set_relation_comp"));
    json_t *bp = json_object_get(cfg, "latex_boxed_match_priority");
    o->boxed_priority = bp ? (int)json_integer_value(bp) : 0;
    *is_default = o->match_latex && o->match_expr && o->float_rounding == 6 && o->strict &&
                  !o->set_relation;
    return 0;
}

static void t_cases(void) {
    const char *path = shared_path("grader/cases.jsonl");
    if (!path) SKIP("../shared/grader/cases.jsonl not found");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    int verbose = getenv("GRADE_VERBOSE") != NULL;
    group gdef = {"math_verify default config", 0, 0}, goth = {"math_verify other configs", 0, 0},
          ghen = {"hendrycks is_equiv", 0, 0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        CHECK_MSG(c != NULL, "bad json line: %s", je.text);
        if (!c) continue;
        const char *pred = json_string_value(json_object_get(c, "pred"));
        const char *gold = json_string_value(json_object_get(c, "gold"));
        const char *grader = json_string_value(json_object_get(c, "grader"));
        int want = json_is_true(json_object_get(c, "equal"));
        int id = (int)json_integer_value(json_object_get(c, "id"));
        pd_grade_opts o;
        int is_def = 0;
        group *g;
        if (grader && !strcmp(grader, "math_verify")) {
            CHECK(config_opts(json_object_get(c, "config"), &o, &is_def) == 0);
            g = is_def ? &gdef : &goth;
        } else {
            pd_grade_opts_default(&o); /* Hendrycks: bare answers on both sides */
            g = &ghen;
        }
        pd_grade_result r;
        pd_error err = {0};
        int rc = pd_grade(pred, gold, &o, &r, &err);
        CHECK_MSG(rc == 0, "case %d: %s", id, err.msg);
        if (rc == 0) {
            g->n++;
            g->agree += r.equal == want;
            if (verbose || r.equal != want)
                printf("%s case %d (%s): want %d got %d; pred_answer=\"%s\" gold_answer=\"%s\"\n",
                       r.equal == want ? "  ok" : "DISAGREE", id, g->name, want, r.equal,
                       r.pred_answer, r.gold_answer);
            pd_grade_result_free(&r);
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    group *gs[] = {&gdef, &goth, &ghen};
    for (int i = 0; i < 3; i++)
        printf("agreement %-28s %3d / %3d = %.1f%%\n", gs[i]->name, gs[i]->agree, gs[i]->n,
               gs[i]->n ? 100.0 * gs[i]->agree / gs[i]->n : 0.0);
    CHECK(gdef.n > 100);
    CHECK_MSG(gdef.agree * 100 >= gdef.n * 97, "default-config agreement %d/%d is below 97%%",
              gdef.agree, gdef.n);
}

/* extraction_cases.jsonl: choice letters (StringExtractionConfig cases: the expected
 * matched letter, or nothing) and \boxed priority (LatexExtractionConfig cases). Cases that
 * switch off Math-Verify normalisation steps we always apply are reported, not counted. */
static void t_extraction(void) {
    const char *path = shared_path("grader/extraction_cases.jsonl");
    if (!path) SKIP("../shared/grader/extraction_cases.jsonl not found");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, agree = 0, skipped = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *c = json_loads(line, 0, NULL);
        if (!c) continue;
        const char *in = json_string_value(json_object_get(c, "input"));
        const char *cfg = json_string_value(json_object_get(c, "config"));
        json_t *exp = json_object_get(c, "expected_parse");
        json_t *elen = json_object_get(c, "expected_parse_len");
        json_t *efirst = json_object_get(c, "expected_parse_first");
        if (!in || !cfg) {
            json_decref(c);
            continue;
        }
        char *got = NULL;
        const char *want = NULL;
        int ok;
        if (!strncmp(cfg, "StringExtractionConfig", 22)) {
            /* the gold is a letter; strings=('U',) widens the letters to U */
            got = pd_grade_extract(in, strstr(cfg, "'U'") ? "U" : "A");
            want = json_array_size(exp) >= 2 ? json_string_value(json_array_get(exp, 1)) : NULL;
            ok = want ? (got && !strcmp(got, want)) : (got == NULL);
        } else if (strstr(cfg, "malformed_operators=False")) {
            skipped++;
            printf("  not modelled: \"%s\" under %s (we always read \\frac12)\n", in, cfg);
            json_decref(c);
            continue;
        } else {
            pd_grade_opts o;
            pd_grade_opts_default(&o);
            o.match_expr = 0;
            const char *bp = strstr(cfg, "boxed_match_priority=");
            o.boxed_priority = bp ? atoi(bp + 21) : 50;
            got = pd_grade_extract_opts(in, NULL, &o);
            if (elen) {
                ok = json_integer_value(elen) ? got != NULL : got == NULL;
                want = json_integer_value(elen) ? "(an answer)" : NULL;
            } else {
                want = json_string_value(efirst);
                pd_grade_opts d;
                pd_grade_opts_default(&d);
                ok = got && want && pd_grade_equal_opts(got, want, &d);
            }
        }
        n++;
        agree += ok;
        if (!ok || getenv("GRADE_VERBOSE"))
            printf("%s extraction: \"%s\" -> \"%s\" (want \"%s\")\n", ok ? "  ok" : "DISAGREE", in,
                   got ? got : "(none)", want ? want : "(none)");
        free(got);
        json_decref(c);
    }
    free(line);
    fclose(f);
    printf("agreement extraction cases %d / %d (%d not modelled)\n", agree, n, skipped);
    CHECK(n > 0);
    CHECK_MSG(agree == n, "extraction agreement %d/%d", agree, n);
}

int main(void) {
    RUN(t_cases);
    RUN(t_extraction);
    return test_done();
}
