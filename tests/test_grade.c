/* test_grade.c — unit tests of the grader: normalisation, each structure type, keys,
 * extraction, integer mode, robustness on hostile input, and the `ponder grade` command. */
#include "ponder.h"
#include "test.h"

#include <time.h>

static int eq(const char *pred, const char *gold) { return pd_grade_equal(pred, gold); }

#define EQ(p, g) CHECK_MSG(eq(p, g) == 1, "expected %s == %s", p, g)
#define NE(p, g) CHECK_MSG(eq(p, g) == 0, "expected %s != %s", p, g)

static void t_fractions(void) {
    EQ("\\frac{1}{2}", "0.5");
    EQ("\\dfrac12", "\\frac{1}{2}");
    EQ("\\tfrac{1}{2}", "1/2");
    EQ("\\cfrac{1}{2}", ".5");
    EQ("\\frac 59", "\\frac{5}{9}");
    EQ("\\frac1{72}", "\\frac{1}{72}");
    EQ("\\frac{3}{3}", "1");
    EQ("-\\frac{10}{9}", "-10/9");
    NE("\\frac{1}{3}", "0.3");
    EQ("\\frac{1}{3}", "0.333333");      /* decimals rounded to 6 places */
    NE("\\frac{1}{3}", "0.3333");
    EQ("1\\frac{4}{5}", "\\frac{9}{5}"); /* mixed number */
    EQ("137 \\frac{1}{2}", "137.5");
    EQ("-2\\frac{1}{2}", "-2.5");
}

static void t_numbers(void) {
    EQ("1,000", "1000");
    EQ("1\\,000", "1000");
    EQ("10,\\!080", "10080");
    EQ("11,\\! 111,\\! 111,\\! 100", "11111111100");
    NE("32, 349", "32349"); /* a space after the comma: two numbers */
    EQ("004", "4");
    EQ("1000.0", "1000");
    EQ("1.5 \\times 10^{3}", "1500");
    EQ("1.5e3", "1500");
    EQ("2.5 \\cdot 10^{-2}", "0.025");
    EQ("\\$32,\\!348", "32348");
    EQ("\\$18.90", "18.9");
    EQ("90^\\circ", "90");
    EQ("90^{\\circ}", "90");
    EQ("50\\%", "50");
    EQ("50\\%", "0.5");
    EQ("5 \\text{ cm}", "5");
    EQ("15\\mbox{ cm}^2", "15");
    EQ("864 \\mbox{ inches}^2", "864");
    EQ("\\frac{270}7\\text{ degrees}", "\\frac{270}{7}");
    EQ("5.4 \\text{ cents}", "5.4");
    EQ("12 \\text{ inches}", "12");
    NE("12", "13");
    NE("-5", "5");
    EQ("2^{10}", "1024");
    EQ("5!", "120");
    EQ("\\binom{5}{2}", "10");
    EQ("123456789012345678901234567890", "123456789012345678901234567890");
    NE("123456789012345678901234567891", "123456789012345678901234567890");
}

static void t_bases(void) {
    EQ("204_5", "204_5");
    EQ("4210_{5}", "4210_5");
    NE("1112122_3", "1112112_3");
}

static void t_radicals_pi(void) {
    EQ("\\sqrt3", "\\sqrt{3}");
    EQ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}");
    EQ("11\\sqrt2", "\\sqrt{242}");
    NE("2\\sqrt{2}", "\\sqrt{2}");
    EQ("\\sqrt[3]{8}", "2");
    EQ("2\\pi", "\\pi + \\pi");
    EQ("\\frac94\\pi", "\\frac{9}{4}\\pi");
    NE("\\pi", "3.14");
    EQ("\\pi", "3.1415926536"); /* a decimal side rounds both to 6 places */
    EQ("e^{i\\pi}", "-1");
    EQ("6 - 5i", "-5i + 6");
    /* principal branches whatever the sign of a zero imaginary part: -4 is -(4 + 0i) */
    EQ("\\sqrt{-4}", "2i");
    NE("\\sqrt{-4}", "-2i");
    EQ("\\sqrt{-4}", "\\sqrt{0-4}");
    EQ("\\frac{-1+\\sqrt{-3}}{2}", "\\frac{-1+i\\sqrt{3}}{2}");
    EQ("\\ln(-1)", "i\\pi");
    EQ("(-8)^{1/3}", "1+i\\sqrt{3}");
    EQ("\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}");
}

static void t_expressions(void) {
    EQ("(x+1)^2", "x^2+2x+1");
    EQ("\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}");
    NE("x+1", "x+2");
    EQ("\\sec^2(y)", "\\tan^2(y)+1");
    EQ("\\left(x-2\\right)\\left(x+2\\right)", "(x-2)(x+2)");
    NE("(+5)(b+2)", "(a+5)(b+2)");
    EQ("2 \\sin b \\cos a", "2\\cos a \\sin b");
    NE("x", "y");
    EQ("X", "x"); /* Math-Verify lowercases symbols */
    EQ("f(x)", "f(x)");
    NE("f(x)", "f(y)");
    pd_grade_opts o;
    pd_grade_opts_default(&o);
    o.strict = 0;
    CHECK(pd_grade_equal_opts("f(y)", "f(x)", &o) == 1);
}

static void t_intervals_sets(void) {
    EQ("[0,1)", "[0,1)");
    NE("[0,1)", "(0,1)");
    NE("(1,2]", "(1,2)");
    EQ("(-\\infty, 0]", "(-\\infty,0]");
    EQ("(1,2)\\cup(3,4)", "(3,4)\\cup(1,2)");
    EQ("[0,1)\\cup[1,2]", "[0,2]");
    NE("(-\\infty, -3] \\cup [2, \\infty)", "[-3,2]");
    EQ("\\{1,2\\}", "\\{2,1\\}");
    EQ("1,2", "\\{2,1\\}");
    EQ("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}");
    EQ("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1-\\sqrt5, 1+\\sqrt5");
    NE("\\{1,2\\}", "\\{1,2,3\\}");
    EQ("(1,2,3)", "(1,2,3)");
    NE("(1,2,3)", "(3,2,1)");
    NE("{1,3}", "(3,1)"); /* a set prediction against a pair gold keeps its written order */
    EQ("{1,3}", "(1,3)"); /* (1,3) read as a pair when the other side is a pair */
    EQ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})");
    EQ("x \\in [-2,7]", "[-2,7]");
    EQ("[-2,7]", "-2 \\le x \\le 7"); /* relation gold vs set prediction */
    EQ("(0,9) \\cup (9,36)", "(0,36) \\setminus \\{9\\}");
    /* the empty set is no scalar: points at infinity or past the sampled range are not
     * "nothing", and an equation's solutions are not missing because no sample hits them */
    NE("\\emptyset", "\\infty");
    NE("\\infty", "\\emptyset");
    NE("\\varnothing", "10^{40}");
    NE("\\emptyset", "2x = 2");
    NE("\\emptyset", "x^2 = 2");
    EQ("\\emptyset", "x^2 < 0");
    EQ("\\{1\\}", "2x = 2");
    EQ("\\{\\}", "\\emptyset");
}

static void t_matrices(void) {
    EQ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}");
    NE("\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}");
    EQ("\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac13 \\\\ \\frac{2}{3} \\end{pmatrix}");
    EQ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}",
       "\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}");
    NE("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}");
}

static void t_relations(void) {
    EQ("x=5", "5");
    EQ("5", "x=5");
    NE("1", "2x + z = 1");
    EQ("y=-\\frac{1}{2}x+\\frac{3}{4}", "2x+4y-3=0");
    EQ("-34x-45y+20z-100=0", "34x+45y-20z+100=0");
    EQ("5 < x", "x > 5");
    NE("x < 5", "x > 5");
    EQ("-x > -1", "x < 1");
    NE("x > -1", "x < 1");
    EQ("2x < 4", "x < 2");
    EQ("x \\neq 3", "x != 3");
    EQ("x = 5+5+1 = 7 =11", "x = 11");
    EQ("x\\approx 11", "11");
    EQ("(p,q)=(3,2)", "(3,2)");
    EQ("k = 45, n = 2", "n = 2, k = 45");
}

static void t_text(void) {
    EQ("\\text{Evelyn}", "Evelyn");
    EQ("\\text{even}", "Even");
    NE("\\text{east}", "\\text{west}");
    EQ("\\text{(C)}", "C");
    EQ("\\textbf{odd}", "odd");
}

static void t_keys(void) {
    const char *same[][3] = {
        {"\\frac{1}{2}", "0.5", "1/2"},
        {"x=3", "3", "\\dfrac{6}{2}"},
        {"\\{1,2\\}", "2,1", "\\{2, 1\\}"},
        {"\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", "(x+2)/7"},
        {"\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt2}", "\\sqrt{\\frac12}"},
        {"\\text{Even}", "even", "\\textbf{even}"},
        {"x > 1", "1 < x", "x>1"},
        {"[0,1)", "\\left[0, 1\\right)", "[0,1)"},
        {"a=2, b=3", "b = 3, a = 2", "\\{a=2,b=3\\}"},
        {"x=2, x=-3", "-3, 2", "x = -3 \\text{ or } x = 2"},
        {"\\sqrt{-4}", "2i", "\\sqrt{0-4}"},
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        char *k0 = pd_grade_key(same[i][0]);
        for (int j = 1; j < 3; j++) {
            char *k = pd_grade_key(same[i][j]);
            CHECK_MSG(k0 && k && !strcmp(k0, k), "key(%s)=%s but key(%s)=%s", same[i][0], k0, same[i][j], k);
            CHECK(eq(same[i][j], same[i][0]));
            free(k);
        }
        free(k0);
    }
    const char *diff[] = {"\\frac{1}{2}", "\\frac{1}{3}", "x+1", "x+2", "(1,2)", "[1,2]", "\\{1,2\\}",
                          "\\text{east}", "\\sqrt{2}", "2\\sqrt2", "x > 1", "x < 1",
                          "a=2, b=3", "a=3, b=2", "a=2, c=3"};
    for (size_t i = 0; i < sizeof diff / sizeof *diff; i++)
        for (size_t j = i + 1; j < sizeof diff / sizeof *diff; j++) {
            char *a = pd_grade_key(diff[i]), *b = pd_grade_key(diff[j]);
            CHECK_MSG(a && b && strcmp(a, b) != 0, "keys of %s and %s collide: %s", diff[i], diff[j], a);
            free(a);
            free(b);
        }
    char *e = pd_grade_key("");
    CHECK_STR(e, "");
    free(e);
}

static void check_extract(const char *text, const char *gold, const char *want) {
    char *got = pd_grade_extract(text, gold);
    if (!want) {
        CHECK_MSG(got == NULL, "extract(%s) = %s, want nothing", text, got);
    } else {
        CHECK_MSG(got && eq(got, want), "extract(%s) = %s, want %s", text, got ? got : "(none)", want);
    }
    free(got);
}

static void t_extract(void) {
    check_extract("so the answer is \\boxed{\\frac{1}{2}}.", NULL, "1/2");
    check_extract("first \\boxed{3} which we then check again very carefully \\boxed{\\{1, \\{2\\}\\}}", NULL, "\\{1,\\{2\\}\\}");
    check_extract("\\fbox{7} is it", NULL, "7");
    check_extract("The final answer is $12$. I hope it is correct.", NULL, "12");
    check_extract("We get $x=3$ so the answer is 4", NULL, "4");
    check_extract("The answer is \\(\\frac{3}{4}\\)", NULL, "3/4");
    check_extract("Thus\n\\[\n 42\n\\]", NULL, "42");
    check_extract("<think>maybe \\boxed{5}</think> The answer is \\boxed{6}", NULL, "6");
    check_extract("<think>long thought \\boxed{5}", NULL, "5");
    check_extract("\\boxed{1} and \\boxed{2}", NULL, "1,2");
    check_extract("Answer: C", "C", "C");
    check_extract("I think the correct choice is (B).", "\\text{(A)}", "B");
    check_extract("$\\boxed{\\text{(C)}}.$", "C", "C");
    check_extract("no answer here", NULL, NULL);
    check_extract("", NULL, NULL);
    check_extract("costs $1,000.99 in total", NULL, "1000.99");
}

static void t_integer_mode(void) {
    pd_grade_opts o;
    pd_grade_opts_default(&o);
    o.integer_only = 1;
    CHECK(pd_grade_equal_opts("033", "33", &o) == 1);
    CHECK(pd_grade_equal_opts("33.0", "33", &o) == 1);
    CHECK(pd_grade_equal_opts("33.5", "33", &o) == 0);
    CHECK(pd_grade_equal_opts("\\frac{66}{2}", "33", &o) == 1);
    /* an integer percentage is its integer, as in the default comparison */
    CHECK(pd_grade_equal_opts("25\\%", "25", &o) == 1);
    CHECK(pd_grade_equal_opts("25\\%", "25", NULL) == 1);
    CHECK(pd_grade_equal_opts("25\\%", "26", &o) == 0);
    CHECK(pd_grade_equal_opts("12.5\\%", "12", &o) == 0);
    pd_grade_result r;
    CHECK(pd_grade("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", &o, &r, NULL) == 0);
    CHECK(r.equal == 1);
    CHECK_STR(r.pred_answer, "72");
    pd_grade_result_free(&r);
    CHECK(pd_grade("so she has 5 + 7 = 12 apples, the answer is 12.", "12", &o, &r, NULL) == 0);
    CHECK(r.equal == 1);
    pd_grade_result_free(&r);
    CHECK(pd_grade("So 10 out of 40 is 25%.\n#### 25%", "25", &o, &r, NULL) == 0);
    CHECK(r.equal == 1);
    pd_grade_result_free(&r);
}

/* Hostile inputs finish quickly and do not crash. */
static void t_robust(void) {
    static const char *bad[] = {"", " ", "\\", "{", "}", "$", "$$", "\\boxed{", "\\boxed", "\\frac",
                                "\\frac{", "\\sqrt[", "((((", "))))", "\\left(", "\\begin{pmatrix}",
                                "\\begin{pmatrix} 1 & \\\\ \\end{pmatrix}", "1/0", "0^0", "10^{10^{10}}",
                                "1000000!", "\\sum_{k=0}^{1000000000} k", "x^{x^{x^{x^{x}}}}",
                                "\\text{", "| | |", "\\{\\}", "[,]", ",,,", "=", "<", "\\pm\\pm\\pm\\pm\\pm",
                                "\xff\xfe\xfd", "0.000000000000000000000000000000000000000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (size_t j = 0; j < sizeof bad / sizeof *bad; j++) (void)eq(bad[i], bad[j]);
        char *k = pd_grade_key(bad[i]);
        CHECK(k != NULL);
        free(k);
        free(pd_grade_extract(bad[i], NULL));
    }
    CHECK(pd_grade_equal(NULL, "1") == 0);
    CHECK(pd_grade_extract(NULL, NULL) == NULL);
    /* deep nesting and long inputs stay bounded */
    size_t n = 200000;
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    if (!big) return;
    for (size_t i = 0; i < n; i++) big[i] = "({[\\frac{"[i % 9];
    big[n] = 0;
    double t0 = pd_now();
    (void)eq(big, big);
    free(pd_grade_extract(big, NULL));
    char *k = pd_grade_key(big);
    free(k);
    for (size_t i = 0; i < n; i++) big[i] = "$1$ and \\boxed{x^2} "[i % 20];
    big[n] = 0;
    free(pd_grade_extract(big, NULL));
    for (size_t i = 0; i < n; i++) big[i] = i % 2 ? '+' : '1';
    big[n] = 0;
    (void)eq(big, "1");
    printf("hostile inputs took %.2f s\n", pd_now() - t0);
    free(big);
}

/* `ponder grade`: one line out per line in, errors inline, order kept. */
static void t_cli(void) {
    const char *bin = ponder_bin();
    struct stat st;
    if (stat(bin, &st) != 0) SKIP("%s not built", bin);
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    mkdir("build/tmp/test_grade", 0755);
    FILE *f = fopen("build/tmp/test_grade/in.jsonl", "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("{\"pred\": \"The answer is $\\\\frac{1}{2}$\", \"gold\": \"0.5\"}\n", f);
    fputs("not json\n", f);
    fputs("{\"pred\": \"\\\\boxed{3}\", \"gold\": \"4\"}\n", f);
    fputs("{\"gold\": \"4\"}\n", f);
    fputs("\n", f); /* a blank line is a bad line too, and the stream goes on */
    fputs("{\"pred\": \"7\", \"gold\": \"7\"}", f); /* no newline at the end */
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s grade < build/tmp/test_grade/in.jsonl", bin);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    char line[1024];
    int n = 0;
    const char *want[] = {"{\"equal\": true, \"pred_answer\": \"\\\\frac{1}{2}\", \"gold_answer\": \"0.5\", \"pred_parsed\": true, "
                          "\"gold_parsed\": true}",
                          "{\"error\":", "{\"equal\": false, \"pred_answer\": \"3\", \"gold_answer\": \"4\",",
                          "{\"error\": \"line 4:", "{\"error\": \"line 5:",
                          "{\"equal\": true, \"pred_answer\": \"7\", \"gold_answer\": \"7\","};
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (n < 6) CHECK_MSG(!strncmp(line, want[n], strlen(want[n])), "line %d: %s", n + 1, line);
        n++;
    }
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_EQ_INT(n, 6);
    snprintf(cmd, sizeof cmd, "%s grade --help > /dev/null", bin);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s grade --bogus < /dev/null 2> /dev/null", bin);
    CHECK(system(cmd) != 0);
    /* --rel-tol and --mode reach the grader */
    f = fopen("build/tmp/test_grade/opt.jsonl", "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("{\"pred\": \"so the answer is 6.283\", \"gold\": \"2\\\\pi\"}\n", f);
    fclose(f);
    const char *modes[][2] = {{"", "\"equal\": false"}, {"--rel-tol 0.001", "\"equal\": true"}};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s grade %s < build/tmp/test_grade/opt.jsonl", bin, modes[k][0]);
        p = popen(cmd, "r");
        CHECK(p && fgets(line, sizeof line, p) && strstr(line, modes[k][1]));
        if (p) pclose(p);
    }
    snprintf(cmd, sizeof cmd, "%s grade --mode mcq < /dev/null && ! %s grade --mode x < /dev/null 2> /dev/null", bin, bin);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void) {
    RUN(t_fractions);
    RUN(t_numbers);
    RUN(t_bases);
    RUN(t_radicals_pi);
    RUN(t_expressions);
    RUN(t_intervals_sets);
    RUN(t_matrices);
    RUN(t_relations);
    RUN(t_text);
    RUN(t_keys);
    RUN(t_extract);
    RUN(t_integer_mode);
    RUN(t_robust);
    RUN(t_cli);
    return test_done();
}
