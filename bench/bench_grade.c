/* bench_grade.c — gradings per second on MATH-500-style pairs, one core.
 *
 *   build/bench/bench_grade [seconds-per-measurement]   (default 2)
 *
 * A grading is pd_grade(model text, gold answer): extraction from a full worked solution
 * (the MATH-500 `solution`, a few hundred to a few thousand characters ending in \boxed{})
 * plus reading the gold and comparing. Also measured: pd_grade_equal on already extracted
 * answers and pd_grade_key (what voting calls), pd_grade on the issue-13 category cases
 * (tests/fixtures/grade/categories.jsonl: multiple choice, units, times, approximations, other
 * languages, structures), and the time of one grading of very long answers (a 5,000-element
 * tuple, a 300 x 300 matrix) and of big numbers. Uses ../shared/data/math500.jsonl; without
 * it, synthetic solutions. Prints figures only; never fails on time. */
#include "ponder.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of this thread: the "one core" figure even when the machine is shared. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct pair {
    char *pred, *gold;
} pair;

static int load(pair **out) {
    FILE *f = fopen("../shared/data/math500.jsonl", "r");
    int n = 0, cap = 0;
    pair *v = NULL;
    if (f) {
        char *line = NULL;
        size_t lc = 0;
        while (getline(&line, &lc, f) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            const char *a = j ? json_string_value(json_object_get(j, "answer")) : NULL;
            const char *s = j ? json_string_value(json_object_get(j, "solution")) : NULL;
            if (a && s) {
                if (n == cap) v = realloc(v, sizeof *v * (size_t)(cap = cap ? cap * 2 : 512));
                v[n].pred = strdup(s);
                v[n].gold = strdup(a);
                n++;
            }
            json_decref(j);
        }
        free(line);
        fclose(f);
    }
    if (n == 0) { /* synthetic stand-ins */
        static const char *golds[] = {"\\frac{14}{3}", "3\\sqrt{13}", "(3, \\frac{\\pi}{2})", "x^2+2x+1",
                                      "[-2, 7]", "\\text{Evelyn}", "1,-2", "90^\\circ"};
        v = malloc(sizeof *v * 8);
        for (n = 0; n < 8; n++) {
            char buf[1024];
            snprintf(buf, sizeof buf, "We compute step by step. First $a = 2$ and $b = 3$, so "
                                      "$a + b = 5$. Therefore the answer is $\\boxed{%s}$.", golds[n]);
            v[n].pred = strdup(buf);
            v[n].gold = strdup(golds[n]);
        }
    }
    *out = v;
    return n;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs <= 0) secs = 2.0;
    pair *v;
    int n = load(&v);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += strlen(v[i].pred);
    printf("bench_grade: %d pairs, mean model text %.0f bytes\n", n, (double)bytes / n);

    /* full gradings: extraction + gold + comparison */
    long count = 0, equal = 0;
    double t0 = pd_now(), c0 = cpu_now(), t;
    do {
        for (int i = 0; i < n; i++) {
            pd_grade_result r;
            if (pd_grade(v[i].pred, v[i].gold, NULL, &r, NULL) == 0) {
                equal += r.equal;
                pd_grade_result_free(&r);
            }
        }
        count += n;
        t = pd_now() - t0;
    } while (t < secs);
    double ct = cpu_now() - c0;
    printf("pd_grade (solution text vs gold):   %9.0f gradings/s of CPU (%.2f us each; wall %.0f/s), %ld/%ld equal\n",
           count / ct, 1e6 * ct / count, count / t, equal, count);

    /* comparisons of extracted answers */
    char **ext = malloc(sizeof *ext * (size_t)n);
    for (int i = 0; i < n; i++) ext[i] = pd_grade_extract(v[i].pred, v[i].gold);
    count = equal = 0;
    t0 = pd_now();
    c0 = cpu_now();
    do {
        for (int i = 0; i < n; i++) equal += pd_grade_equal(ext[i] ? ext[i] : "", v[i].gold);
        count += n;
        t = pd_now() - t0;
    } while (t < secs);
    ct = cpu_now() - c0;
    printf("pd_grade_equal (extracted answers): %9.0f comparisons/s of CPU (%.2f us each; wall %.0f/s)\n",
           count / ct, 1e6 * ct / count, count / t);

    /* keys */
    count = 0;
    t0 = pd_now();
    c0 = cpu_now();
    do {
        for (int i = 0; i < n; i++) free(pd_grade_key(v[i].gold));
        count += n;
        t = pd_now() - t0;
    } while (t < secs);
    ct = cpu_now() - c0;
    printf("pd_grade_key:                       %9.0f keys/s of CPU (%.2f us each; wall %.0f/s)\n",
           count / ct, 1e6 * ct / count, count / t);

    for (int i = 0; i < n; i++) {
        free(ext[i]);
        free(v[i].pred);
        free(v[i].gold);
    }
    free(ext);
    free(v);

    /* the issue-13 category cases, each with its options */
    FILE *f = fopen("tests/fixtures/grade/categories.jsonl", "r");
    if (f) {
        pair *cv = NULL;
        pd_grade_opts *co = NULL;
        int nc = 0, cc = 0;
        char *line = NULL;
        size_t lc = 0;
        while (getline(&line, &lc, f) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            const char *p = j ? json_string_value(json_object_get(j, "pred")) : NULL;
            const char *g = j ? json_string_value(json_object_get(j, "gold")) : NULL;
            if (p && g) {
                if (nc == cc) {
                    cc = cc ? cc * 2 : 256;
                    cv = realloc(cv, sizeof *cv * (size_t)cc);
                    co = realloc(co, sizeof *co * (size_t)cc);
                }
                cv[nc].pred = strdup(p);
                cv[nc].gold = strdup(g);
                pd_grade_opts_default(&co[nc]);
                json_t *jo = json_object_get(j, "opts");
                const char *mode = json_string_value(json_object_get(jo, "mode"));
                if (mode && !strcmp(mode, "mcq")) co[nc].mode = PD_GRADE_MCQ;
                if (json_is_number(json_object_get(jo, "rel_tol"))) co[nc].rel_tol = json_number_value(json_object_get(jo, "rel_tol"));
                if (json_is_true(json_object_get(jo, "integer"))) co[nc].integer_only = 1;
                nc++;
            }
            json_decref(j);
        }
        free(line);
        fclose(f);
        count = equal = 0;
        t0 = pd_now();
        c0 = cpu_now();
        do {
            for (int i = 0; i < nc; i++) {
                pd_grade_result r;
                if (pd_grade(cv[i].pred, cv[i].gold, &co[i], &r, NULL) == 0) {
                    equal += r.equal;
                    pd_grade_result_free(&r);
                }
            }
            count += nc;
            t = pd_now() - t0;
        } while (t < secs && nc > 0);
        ct = cpu_now() - c0;
        if (nc)
            printf("pd_grade (issue-13 categories, %d):  %9.0f gradings/s of CPU (%.2f us each; wall %.0f/s)\n", nc,
                   count / ct, 1e6 * ct / count, count / t);
        for (int i = 0; i < nc; i++) {
            free(cv[i].pred);
            free(cv[i].gold);
        }
        free(cv);
        free(co);
    }

    /* long answers and big numbers: one grading each, timed */
    size_t cap = 1 << 20;
    char *a = malloc(cap), *b = malloc(cap);
    size_t w = (size_t)snprintf(a, cap, "The answer is $\\boxed{(");
    for (int i = 0; i < 5000; i++) w += (size_t)snprintf(a + w, cap - w, "%s%d", i ? ", " : "", i * 7919 % 100003);
    snprintf(a + w, cap - w, ")}$.");
    w = (size_t)snprintf(b, cap, "(");
    for (int i = 0; i < 5000; i++) w += (size_t)snprintf(b + w, cap - w, "%s%d", i ? ", " : "", i * 7919 % 100003);
    snprintf(b + w, cap - w, ")");
    double c1 = cpu_now();
    pd_grade_result r;
    int eqt = 0, eqm = 0;
    if (pd_grade(a, b, NULL, &r, NULL) == 0) {
        eqt = r.equal;
        pd_grade_result_free(&r);
    }
    double c2 = cpu_now();
    w = (size_t)snprintf(a, cap, "The answer is \\boxed{\\begin{pmatrix}");
    for (int i = 0; i < 300; i++)
        for (int j = 0; j < 300; j++)
            w += (size_t)snprintf(a + w, cap - w, "%d%s", (i * 300 + j) % 97, j < 299 ? " & " : i < 299 ? " \\\\ " : "");
    snprintf(a + w, cap - w, "\\end{pmatrix}}.");
    const char *m = strstr(a, "\\begin");
    snprintf(b, cap, "%.*s", (int)(strstr(a, "\\end{pmatrix}") + 13 - m), m);
    double c3 = cpu_now();
    if (pd_grade(a, b, NULL, &r, NULL) == 0) {
        eqm = r.equal;
        pd_grade_result_free(&r);
    }
    double c4 = cpu_now();
    int eqb = pd_grade_equal("100! + 2^{130}", "93326215443944152681699238856266700490715968264381621468592963895217599993229915"
                                              "608941463976156518286253697920827223758251185210916864000000000000000000000000 + "
                                              "1361129467683753853853498429727072845824");
    double c5 = cpu_now();
    printf("long answers: 5,000-tuple %.2f ms (equal %d), 300x300 matrix (%zu bytes) %.2f ms (equal %d); "
           "100!+2^130 exact %.1f us (equal %d)\n",
           1e3 * (c2 - c1), eqt, strlen(b), 1e3 * (c4 - c3), eqm, 1e6 * (c5 - c4), eqb);
    free(a);
    free(b);
    return 0;
}
