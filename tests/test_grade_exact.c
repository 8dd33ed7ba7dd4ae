/* test_grade_exact.c — the grader's limits and exactness (issue 13, first part):
 *
 *   nesting    the depth limit counts brackets (100), and an answer past any limit is never
 *              graded by a piece of itself: it is compared whole as text, parsed = 0;
 *   big        integers and rationals past 128 bits stay exact (GMP), in equality and keys;
 *   long       5,000-element tuples and sets, 300 x 300 matrices are read whole, and the
 *              extracted answer is never cut.
 *
 * Each test here failed before the fix it guards (the old parser gave up after about nine
 * brackets and graded an inner fraction; numbers past 128 bits went through doubles; lists
 * stopped at 256 elements and matrices at 64 entries). */
#include "ponder.h"
#include "test.h"

static int eq(const char *pred, const char *gold) { return pd_grade_equal(pred, gold); }

#define EQ(p, g) CHECK_MSG(eq(p, g) == 1, "expected %.80s == %.80s", p, g)
#define NE(p, g) CHECK_MSG(eq(p, g) == 0, "expected %.80s != %.80s", p, g)

/* pd_grade with the default options; returns equal, fills parsed flags and the answer. */
static int grade(const char *pred, const char *gold, int *pp, int *gp, char **pa) {
    pd_grade_result r;
    pd_error err = {0};
    if (pd_grade(pred, gold, NULL, &r, &err) != 0) return -1;
    int e = r.equal;
    if (pp) *pp = r.pred_parsed;
    if (gp) *gp = r.gold_parsed;
    if (pa) *pa = strdup(r.pred_answer);
    pd_grade_result_free(&r);
    return e;
}

/* "open" repeated k times, then mid, then "close" k times (malloc'd). */
static char *nest(const char *open, const char *mid, const char *close, int k) {
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((lo + lc) * (size_t)k + lm + 1), *w = s;
    for (int i = 0; i < k; i++, w += lo) memcpy(w, open, lo);
    memcpy(w, mid, lm);
    w += lm;
    for (int i = 0; i < k; i++, w += lc) memcpy(w, close, lc);
    *w = 0;
    return s;
}

static int keys_equal(const char *a, const char *b) {
    char *ka = pd_grade_key(a), *kb = pd_grade_key(b);
    int r = ka && kb && !strcmp(ka, kb);
    free(ka);
    free(kb);
    return r;
}

/* ---- nesting ---- */

static void t_nesting_counts_brackets(void) {
    /* ten brackets: read whole (the old parser stopped near nine and graded nothing or a piece) */
    CHECK_EQ_INT(grade("\\boxed{((((((((((3))))))))))}", "3", NULL, NULL, NULL), 1);
    EQ("((((((((((3))))))))))", "3");
    /* a continued fraction seven levels deep is 34/21, not its innermost \frac{1}{1} */
    const char *cf = "1+\\frac{1}{1+\\frac{1}{1+\\frac{1}{1+\\frac{1}{1+\\frac{1}{1+\\frac{1}{1+\\frac{1}{1}}}}}}}";
    int pp = -1, gp = -1;
    CHECK_EQ_INT(grade("1", cf, &pp, &gp, NULL), 0);
    CHECK_EQ_INT(gp, 1);
    CHECK_EQ_INT(grade("\\frac{34}{21}", cf, NULL, NULL, NULL), 1);
    EQ("\\frac{34}{21}", cf);
    NE("1", cf);
    /* up to 100 brackets deep is read */
    char *s100 = nest("(", "3", ")", 100), *s101 = nest("(", "3", ")", 101);
    EQ(s100, "3");
    CHECK_EQ_INT(grade(s100, "3", &pp, NULL, NULL), 1);
    CHECK_EQ_INT(pp, 1);
    /* past it: not parsed, compared whole as text (equal to itself, not to 3) */
    char *pa = NULL;
    CHECK_EQ_INT(grade(s101, "3", &pp, NULL, &pa), 0);
    CHECK_EQ_INT(pp, 0);
    CHECK(pa && !strcmp(pa, s101));
    free(pa);
    NE(s101, "3");
    EQ(s101, s101);
    free(s100);
    free(s101);
    /* 100 levels of \frac braces: each level's value is exact */
    char *f100 = nest("\\frac{1}{1+", "1", "}", 49); /* 98 brace levels */
    EQ(f100, f100);
    NE(f100, "1");
    free(f100);
}

static void t_never_a_fragment(void) {
    /* an unreadable box is not replaced by the numbers inside it */
    char *deep = nest("1+\\frac{1}{ ", "1", "}", 120);
    size_t n = strlen(deep) + 64;
    char *text = malloc(n);
    snprintf(text, n, "The answer is \\boxed{%s} so", deep);
    int pp = -1;
    char *pa = NULL;
    CHECK_EQ_INT(grade(text, "1", &pp, NULL, &pa), 0);
    CHECK_EQ_INT(pp, 0);
    CHECK_MSG(pa && !strcmp(pa, deep), "pred_answer = %.60s", pa ? pa : "(null)");
    free(pa);
    CHECK_EQ_INT(grade(text, deep, NULL, NULL, NULL), 1); /* the same text on both sides */
    /* a bare answer too deep to read is that text, not a piece of it */
    int gp = -1;
    CHECK_EQ_INT(grade("1", deep, NULL, &gp, NULL), 0);
    CHECK_EQ_INT(gp, 0);
    free(text);
    free(deep);
    /* 500 signs in a row pass the tree-depth limit: text, neither 3 nor -3 */
    char *signs = nest("-", "3", "", 500);
    CHECK_EQ_INT(grade(signs, "3", &pp, NULL, NULL), 0);
    CHECK_EQ_INT(pp, 0);
    NE(signs, "-3");
    NE(signs, "3");
    EQ(signs, signs);
    free(signs);
    /* an answer that parses reports it */
    CHECK_EQ_INT(grade("\\boxed{\\frac12}", "0.5", &pp, &gp, NULL), 1);
    CHECK_EQ_INT(pp, 1);
    CHECK_EQ_INT(gp, 1);
    /* prose compared as text is flagged */
    CHECK_EQ_INT(grade("no idea", "\\text{no idea}", &pp, NULL, NULL), 0);
}

/* ---- big numbers ---- */

static void t_big_integers(void) {
    NE("12345678901234567890123456789012345678901", "12345678901234567890123456789012345678902");
    EQ("12345678901234567890123456789012345678901", "12345678901234567890123456789012345678901");
    CHECK(!keys_equal("12345678901234567890123456789012345678901", "12345678901234567890123456789012345678902"));
    /* 2^130 = 1361129467683753853853498429727072845824 */
    EQ("2^{130}", "1361129467683753853853498429727072845824");
    NE("2^{130}", "1361129467683753853853498429727072845825");
    NE("2^{130}", "2^{130}+1");
    CHECK(keys_equal("2^{130}", "1361129467683753853853498429727072845824"));
    char *k = pd_grade_key("2^{130}");
    CHECK_STR(k, "1361129467683753853853498429727072845824");
    free(k);
    NE("100!", "100!+1");
    EQ("100!", "93326215443944152681699238856266700490715968264381621468592963895217599993229915608941463976156518"
               "286253697920827223758251185210916864000000000000000000000000");
    CHECK(!keys_equal("100!", "100!+1"));
    EQ("\\frac{100!}{98!}", "9900");
    EQ("\\binom{100}{50}", "100891344545564193334812497256");
    NE("\\binom{200}{100}", "\\binom{200}{100}+1");
    /* identical integers of 600 digits, and two that differ in the last one */
    char a[700], b[700];
    memset(a, '7', 600);
    a[600] = 0;
    memcpy(b, a, 601);
    b[599] = '8';
    EQ(a, a);
    NE(a, b);
    CHECK(keys_equal(a, a));
    CHECK(!keys_equal(a, b));
    pd_grade_opts o;
    pd_grade_opts_default(&o);
    o.integer_only = 1;
    CHECK_EQ_INT(pd_grade_equal_opts(a, a, &o), 1);
    CHECK_EQ_INT(pd_grade_equal_opts(a, b, &o), 0);
    CHECK_EQ_INT(pd_grade_equal_opts("0012345678901234567890123456789012345678901", "12345678901234567890123456789012345678901", &o), 1);
}

static void t_big_rationals(void) {
    NE("2^{-200}", "0");
    NE("10^{-40}", "0");
    EQ("10^{-40}", "\\frac{1}{10^{40}}");
    CHECK(!keys_equal("10^{-40}", "0"));
    CHECK(!keys_equal("10^{-40}", "10^{-41}"));
    EQ("\\frac{10^{50}+1}{10^{50}}", "1+10^{-50}");
    NE("\\frac{10^{50}+1}{10^{50}}", "1");
    EQ("(1+10^{-30})^2", "1+2\\cdot 10^{-30}+10^{-60}");
    /* a decimal with 31 digits, exactly: rounding to 6 places is decided exactly */
    EQ("123456789012345678901234567890.5", "\\frac{246913578024691357802469135781}{2}");
    NE("123456789012345678901234567890.5", "\\frac{246913578024691357802469135783}{2}");
    /* sets of big numbers */
    EQ("\\{10^{40}, 10^{40}+1\\}", "\\{10^{40}+1, 10^{40}\\}");
    NE("\\{10^{40}, 10^{40}+1\\}", "\\{10^{40}\\}");
    CHECK(!keys_equal("\\{10^{40}, 10^{40}+1\\}", "\\{10^{40}\\}"));
    /* values past the exact range compare as before (never equal to a neighbour) */
    EQ("2^{1000000}", "2^{1000000}");
    NE("2^{1000000}", "2^{1000000}+1");
    /* scientific notation below 1 keeps its significant digits */
    NE("3e-8", "4e-8");
    EQ("2.5e-8", "\\frac{1}{40000000}");
    EQ("3 \\times 10^{-8}", "\\frac{3}{100000000}");
    NE("3 \\times 10^{-8}", "4 \\times 10^{-8}");
}

/* ---- long answers ---- */

/* "(e0, e1, ...)" with n elements; order reversed when rev; element `bump` + 1. */
static char *list(const char *open, const char *close, int n, int rev, int bump) {
    size_t cap = (size_t)n * 12 + 16, w = 0;
    char *s = malloc(cap);
    w += (size_t)snprintf(s + w, cap - w, "%s", open);
    for (int k = 0; k < n; k++) {
        int i = rev ? n - 1 - k : k;
        long v = (long)i * 7919 % 100003 + (i == bump);
        w += (size_t)snprintf(s + w, cap - w, "%s%ld", k ? ", " : "", v);
    }
    snprintf(s + w, cap - w, "%s", close);
    return s;
}

static char *matrix(int n, int bump) {
    size_t cap = (size_t)n * n * 8 + 64, w = 0;
    char *s = malloc(cap);
    w += (size_t)snprintf(s + w, cap - w, "\\begin{pmatrix}");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            w += (size_t)snprintf(s + w, cap - w, "%d%s", (i * n + j) % 97 + (i * n + j == bump),
                                  j + 1 < n ? " & " : i + 1 < n ? " \\\\ " : "");
    snprintf(s + w, cap - w, "\\end{pmatrix}");
    return s;
}

static void t_long_tuples(void) {
    char *t = list("(", ")", 5000, 0, -1), *t2 = list("(", ")", 5000, 0, 4321), *tr = list("(", ")", 5000, 1, -1);
    EQ(t, t);
    NE(t2, t);
    NE(tr, t); /* a tuple keeps its order */
    CHECK(keys_equal(t, t));
    CHECK(!keys_equal(t, t2));
    char *s = list("\\{", "\\}", 5000, 0, -1), *sr = list("\\{", "\\}", 5000, 1, -1), *s2 = list("\\{", "\\}", 5000, 1, 17);
    EQ(sr, s); /* a set does not */
    NE(s2, s);
    CHECK(keys_equal(s, sr));
    /* the same through extraction: the answer comes back whole */
    size_t n = strlen(t) + 64;
    char *text = malloc(n);
    snprintf(text, n, "So the answer is $\\boxed{%s}$.", t);
    int pp = -1, gp = -1;
    char *pa = NULL;
    CHECK_EQ_INT(grade(text, t, &pp, &gp, &pa), 1);
    CHECK_EQ_INT(pp, 1);
    CHECK_EQ_INT(gp, 1);
    CHECK_MSG(pa && strlen(pa) == strlen(t), "pred_answer has %zu bytes of %zu", pa ? strlen(pa) : 0, strlen(t));
    free(pa);
    CHECK_EQ_INT(grade(text, t2, NULL, NULL, NULL), 0);
    free(text);
    free(t);
    free(t2);
    free(tr);
    free(s);
    free(sr);
    free(s2);
}

static void t_long_matrices(void) {
    char *m = matrix(300, -1), *m2 = matrix(300, 89999), *m3 = matrix(300, 45000);
    EQ(m, m);
    NE(m2, m);
    NE(m3, m);
    CHECK(keys_equal(m, m));
    CHECK(!keys_equal(m, m2));
    size_t n = strlen(m) + 64;
    char *text = malloc(n);
    snprintf(text, n, "The answer is \\boxed{%s}.", m);
    int pp = -1;
    char *pa = NULL;
    CHECK_EQ_INT(grade(text, m, &pp, NULL, &pa), 1);
    CHECK_EQ_INT(pp, 1);
    CHECK_MSG(pa && !strcmp(pa, m), "pred_answer cut: %zu bytes of %zu", pa ? strlen(pa) : 0, strlen(m));
    free(pa);
    CHECK_EQ_INT(grade(text, m3, NULL, NULL, NULL), 0);
    free(text);
    free(m);
    free(m2);
    free(m3);
}

static void t_too_long_is_text(void) {
    /* past 1 MiB an answer is text: equal to itself, never to a piece of it */
    size_t n = (1u << 20) + 100;
    char *a = malloc(n + 1);
    for (size_t i = 0; i < n; i++) a[i] = i % 2 ? '+' : '1';
    a[n - 1] = '1';
    a[n] = 0;
    EQ(a, a);
    NE(a, "1");
    char *k = pd_grade_key(a);
    CHECK(k && strlen(k) > n / 2);
    free(k);
    free(a);
}

int main(void) {
    RUN(t_nesting_counts_brackets);
    RUN(t_never_a_fragment);
    RUN(t_big_integers);
    RUN(t_big_rationals);
    RUN(t_long_tuples);
    RUN(t_long_matrices);
    RUN(t_too_long_is_text);
    return test_done();
}
