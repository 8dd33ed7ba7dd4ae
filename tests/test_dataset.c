/* Tests of the dataset loader (src/eval/dataset.c) and the arithmetic generator (arith.c). */
#include "ponder.h"
#include "test.h"

#include <ctype.h>

/* ---- a small independent evaluator for the generated LaTeX expressions ---- */
typedef struct { const char *p; int bad; } ev;
static long long ev_sum(ev *e);
static void ev_ws(ev *e) { while (*e->p == ' ') e->p++; }
static long long ev_atom(ev *e) {
    ev_ws(e);
    if (*e->p == '(') {
        e->p++;
        long long v = ev_sum(e);
        ev_ws(e);
        if (*e->p != ')') e->bad = 1; else e->p++;
        return v;
    }
    int neg = 0;
    if (*e->p == '-') neg = 1, e->p++;
    if (!isdigit((unsigned char)*e->p)) { e->bad = 1; return 0; }
    long long v = strtoll(e->p, (char **)&e->p, 10);
    return neg ? -v : v;
}
static long long ev_prod(ev *e) {
    long long v = ev_atom(e);
    for (;;) {
        ev_ws(e);
        if (!strncmp(e->p, "\\times", 6)) { e->p += 6; v *= ev_atom(e); }
        else if (!strncmp(e->p, "\\div", 4)) {
            e->p += 4;
            long long d = ev_atom(e);
            if (d == 0 || v % d) { e->bad = 1; return 0; }
            v /= d;
        } else return v;
    }
}
static long long ev_sum(ev *e) {
    long long v = ev_prod(e);
    for (;;) {
        ev_ws(e);
        if (*e->p == '+') { e->p++; v += ev_prod(e); }
        else if (*e->p == '-') { e->p++; v -= ev_prod(e); }
        else return v;
    }
}
/* Evaluate the text between the first '$' at or after s and the next '$' (or '=' when
 * stop_at_eq). */
static long long eval_math(const char *s, int *bad) {
    const char *a = strchr(s, '$');
    if (!a) { *bad = 1; return 0; }
    ev e = {a + 1, 0};
    long long v = ev_sum(&e);
    ev_ws(&e);
    if (*e.p != '$' && *e.p != '=') e.bad = 1;
    *bad |= e.bad;
    return v;
}

static void t_arith_correct(void) {
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK(pd_arith_generate(&ds, 500, 1, 5, 42, &err) == 0);
    CHECK_EQ_INT(ds.n, 500);
    int per_level[6] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        pd_problem *p = &ds.items[i];
        CHECK(p->level >= 1 && p->level <= 5);
        per_level[p->level]++;
        int bad = 0;
        long long v = eval_math(p->problem, &bad);
        CHECK_MSG(!bad, "cannot evaluate %s", p->problem);
        CHECK_MSG(v == strtoll(p->answer, NULL, 10), "%s: %lld vs %s", p->problem, v, p->answer);
        /* steps: one operation each; each step's equation holds; the
         * last ends in \boxed{answer} */
        int steps = 1;
        const char *s = p->solution;
        for (const char *q = s; (q = strstr(q, "\n\n")); q += 2) steps++;
        CHECK_EQ_INT(steps, p->level); /* level L has L+1 numbers, so L operations */
        for (const char *q = s; q; q = strstr(q, "\n\n")) {
            if (*q == '\n') q += 2;
            int b2 = 0;
            long long lhs = eval_math(q, &b2);
            const char *eq = strchr(q, '=');
            CHECK(!b2 && eq && strtoll(eq + 1, NULL, 10) == lhs);
        }
        char boxed[64];
        snprintf(boxed, sizeof boxed, "\\boxed{%s}$.", p->answer);
        size_t sl = strlen(s), bl = strlen(boxed);
        CHECK(sl > bl && strcmp(s + sl - bl, boxed) == 0);
    }
    for (int l = 1; l <= 5; l++) CHECK_EQ_INT(per_level[l], 100);
    pd_dataset_free(&ds);
}

/* Target-sum problems: the numbers are distinct, exactly one choice of the stated count makes
 * the target (checked here by trying every subset), the answer is its smallest number, and
 * the solution subtracts the chosen numbers from the largest down, each step's arithmetic
 * right, the last one naming a number of the list and boxing the answer. */
static void t_sums_correct(void) {
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK(pd_sums_generate(&ds, 500, 1, 5, 42, &err) == 0);
    CHECK_EQ_INT(ds.n, 500);
    static const char *const words[] = {"Two", "Three", "Four"};
    static const int want_count[] = {0, 4, 5, 6, 7, 8}, want_pick[] = {0, 2, 2, 3, 3, 4};
    int per_level[6] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        pd_problem *p = &ds.items[i];
        CHECK(p->level >= 1 && p->level <= 5);
        per_level[p->level]++;
        int pick = 0;
        for (int w = 0; w < 3; w++)
            if (!strncmp(p->problem, words[w], strlen(words[w]))) pick = w + 2;
        CHECK_MSG(pick == want_pick[p->level], "%s", p->problem);
        /* the numbers: between "numbers " and " add up to ", then the target */
        const char *q = strstr(p->problem, "numbers "), *end = strstr(p->problem, " add up to ");
        CHECK(q && end);
        if (!q || !end) continue;
        int v[16], count = 0;
        for (q += 8; q < end && count < 16;) {
            if (*q >= '0' && *q <= '9') v[count++] = (int)strtol(q, (char **)&q, 10);
            else q++;
        }
        int target = atoi(end + 11);
        CHECK_EQ_INT(count, want_count[p->level]);
        for (int a = 0; a < count; a++)
            for (int b = a + 1; b < count; b++) CHECK(v[a] != v[b]);
        int found = 0, smallest = 0;
        for (unsigned m = 0; m < (1u << count); m++) {
            if (__builtin_popcount(m) != (unsigned)pick) continue;
            int sum = 0, lo = 1 << 30;
            for (int k = 0; k < count; k++)
                if (m & (1u << k)) sum += v[k], lo = v[k] < lo ? v[k] : lo;
            if (sum == target) found++, smallest = lo;
        }
        CHECK_MSG(found == 1, "%s: %d choices", p->problem, found);
        CHECK_EQ_INT(atoi(p->answer), smallest);
        /* steps: "$R - C = L$", R the target then each step's L, C from the list, largest first */
        int steps = 0, rest = target, prev = 1 << 30;
        for (const char *st = p->solution; st; st = strstr(st, "\n\n")) {
            if (*st == '\n') st += 2;
            int r, c, l;
            CHECK_MSG(sscanf(st, "$%d - %d = %d$", &r, &c, &l) == 3, "step '%.40s'", st);
            CHECK_EQ_INT(r, rest);
            CHECK_EQ_INT(l, r - c);
            CHECK(c < prev);
            prev = c, rest = l, steps++;
        }
        CHECK_EQ_INT(steps, pick - 1);
        CHECK_EQ_INT(rest, smallest);
        CHECK(rest < prev); /* the last remainder is the smallest chosen */
        char boxed[64];
        snprintf(boxed, sizeof boxed, "\\boxed{%s}$.", p->answer);
        size_t sl = strlen(p->solution), bl = strlen(boxed);
        CHECK(sl > bl && strcmp(p->solution + sl - bl, boxed) == 0);
    }
    for (int l = 1; l <= 5; l++) CHECK_EQ_INT(per_level[l], 100);
    pd_dataset_free(&ds);
    pd_dataset a = {0}, b = {0};
    CHECK(pd_sums_generate(&a, 40, 2, 4, 7, NULL) == 0);
    CHECK(pd_sums_generate(&b, 40, 2, 4, 7, NULL) == 0);
    for (size_t i = 0; i < 40; i++) CHECK_STR(a.items[i].solution, b.items[i].solution);
    CHECK(pd_sums_generate(&a, 5, 3, 6, 1, &err) == PD_EINVAL);
    CHECK(strstr(err.msg, "levels") != NULL);
    pd_dataset_free(&a), pd_dataset_free(&b);
}

static void t_arith_deterministic(void) {
    pd_dataset a = {0}, b = {0}, c = {0};
    CHECK(pd_arith_generate(&a, 50, 2, 4, 7, NULL) == 0);
    CHECK(pd_arith_generate(&b, 50, 2, 4, 7, NULL) == 0);
    CHECK(pd_arith_generate(&c, 50, 2, 4, 8, NULL) == 0);
    int differ = 0;
    for (size_t i = 0; i < 50; i++) {
        CHECK_STR(a.items[i].problem, b.items[i].problem);
        CHECK_STR(a.items[i].id, b.items[i].id);
        differ += strcmp(a.items[i].problem, c.items[i].problem) != 0;
        CHECK(a.items[i].level >= 2 && a.items[i].level <= 4);
    }
    CHECK(differ > 40);
    pd_error err = {0};
    CHECK(pd_arith_generate(&c, 5, 0, 3, 1, &err) == PD_EINVAL);
    CHECK(strstr(err.msg, "levels") != NULL);
    pd_dataset_free(&a), pd_dataset_free(&b), pd_dataset_free(&c);
}

/* Reads "$A op B = V$" at the start of a step: 1 when it parses (op '+', '-', '*' or '/'). */
static int step_op(const char *q, long long *a, char *op, long long *b, long long *v) {
    if (*q++ != '$') return 0;
    if (*q == '(') q++;
    char *end;
    *a = strtoll(q, &end, 10);
    if (end == q) return 0;
    q = end;
    if (*q == ')') q++;
    if (!strncmp(q, " + ", 3)) *op = '+', q += 3;
    else if (!strncmp(q, " - ", 3)) *op = '-', q += 3;
    else if (!strncmp(q, " \\times ", 8)) *op = '*', q += 8;
    else if (!strncmp(q, " \\div ", 6)) *op = '/', q += 6;
    else return 0;
    if (*q == '(') q++;
    *b = strtoll(q, &end, 10);
    if (end == q) return 0;
    q = end;
    if (*q == ')') q++;
    if (strncmp(q, " = ", 3)) return 0;
    *v = strtoll(q + 3, &end, 10);
    return end != q + 3;
}

/* Every × and ÷ has a one-digit operand (÷: the divisor), every product stays below 1000 and
 * every value below 2000, and every level but 1 has some × or ÷ (arith.c's rules for
 * learnable steps). */
static void t_arith_small_factors(void) {
    pd_dataset ds = {0};
    CHECK(pd_arith_generate(&ds, 1000, 1, 5, 11, NULL) == 0);
    int muldiv[6] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        const char *s = ds.items[i].solution;
        for (const char *q = s; q; q = strstr(q, "\n\n")) {
            if (*q == '\n') q += 2;
            long long a = 0, b = 0, v = 0;
            char op = 0;
            CHECK_MSG(step_op(q, &a, &op, &b, &v), "cannot read step %.40s", q);
            if (op == '*') CHECK_MSG(llabs(a) <= 9 || llabs(b) <= 9, "%lld x %lld", a, b);
            if (op == '/') CHECK_MSG(b >= 2 && b <= 9, "%lld / %lld", a, b);
            if (op == '*') CHECK_MSG(llabs(v) < 1000, "%lld x %lld = %lld", a, b, v);
            CHECK_MSG(llabs(v) < 2000 && llabs(a) < 2000 && llabs(b) < 2000, "%lld %c %lld = %lld", a, op, b, v);
            muldiv[ds.items[i].level] += op == '*' || op == '/';
        }
    }
    CHECK_EQ_INT(muldiv[1], 0);
    for (int l = 2; l <= 5; l++) CHECK_MSG(muldiv[l] >= 50, "level %d: %d x or / steps", l, muldiv[l]);
    pd_dataset_free(&ds);
}

/* Harder levels need more steps and larger numbers: the mean answer magnitude grows. */
static void t_arith_difficulty(void) {
    pd_dataset ds = {0};
    CHECK(pd_arith_generate(&ds, 1000, 1, 5, 3, NULL) == 0);
    double mag[6] = {0};
    int cnt[6] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        long long v = strtoll(ds.items[i].answer, NULL, 10);
        mag[ds.items[i].level] += (double)(v < 0 ? -v : v);
        cnt[ds.items[i].level]++;
    }
    for (int l = 2; l <= 5; l++) CHECK(mag[l] / cnt[l] > mag[l - 1] / cnt[l - 1]);
    pd_dataset_free(&ds);
}

static void t_load_shared(void) {
    const char *p = shared_path("data/math500.jsonl");
    if (!p) SKIP("../shared/data absent");
    pd_dataset ds = {0};
    pd_error err = {0};
    CHECK(pd_dataset_load(p, &ds, &err) == 0);
    CHECK_EQ_INT(ds.n, 500);
    CHECK_EQ_INT(ds.n_skipped, 0);
    CHECK_STR(ds.items[0].id, "test/precalculus/807.json");
    CHECK_STR(ds.items[0].answer, "\\left( 3, \\frac{\\pi}{2} \\right)");
    CHECK_EQ_INT(ds.items[0].level, 2);
    CHECK(ds.items[0].solution != NULL);
    pd_dataset_free(&ds);

    CHECK(pd_dataset_load(shared_path("data/gsm8k_test.jsonl"), &ds, &err) == 0);
    CHECK_EQ_INT(ds.n, 1319);
    CHECK_STR(ds.items[0].answer, "18");
    CHECK(ds.items[0].solution && strstr(ds.items[0].solution, "####") == NULL);
    CHECK_STR(ds.items[0].id, "line-1");
    CHECK_EQ_INT(ds.items[0].level, 0);
    pd_dataset_free(&ds);

    CHECK(pd_dataset_load(shared_path("data/aime24.jsonl"), &ds, &err) == 0);
    CHECK_EQ_INT(ds.n, 30);
    CHECK_STR(ds.items[0].id, "60");
    CHECK(strncmp(ds.items[0].problem, "Every morning Aya", 17) == 0);
    pd_dataset_free(&ds);
}

static void t_load_malformed(void) {
    pd_error err = {0};
    CHECK(pd_mkdirs("build/tmp/test_dataset", &err) == 0);
    const char *path = "build/tmp/test_dataset/bad.jsonl";
    const char *text =
        "{\"problem\": \"1+1?\", \"answer\": \"2\", \"level\": \"Level 1\"}\n"
        "{\"problem\": \"broken\", \"answer\": \n"
        "\n"
        "[1, 2]\n"
        "{\"question\": \"q\"}\n"
        "{\"question\": \"How many?\", \"answer\": \"So 3+4=7.\\n#### 7\"}\n"
        "{\"problem\": \"p\", \"answer\": 12, \"level\": \"hard\"}\n"
        "{\"problem\": \"p\", \"answer\": 12, \"id\": 5}\n";
    CHECK(pd_file_write(path, text, strlen(text), &err) == 0);
    pd_dataset ds = {0};
    CHECK(pd_dataset_load(path, &ds, &err) == 0);
    CHECK_EQ_INT(ds.n, 3);
    CHECK_EQ_INT(ds.n_skipped, 4);
    if (ds.n == 3 && ds.n_skipped == 4) {
        CHECK_EQ_INT(ds.items[0].level, 1);
        CHECK_STR(ds.items[1].answer, "7");
        CHECK_STR(ds.items[1].solution, "So 3+4=7.");
        CHECK_STR(ds.items[2].answer, "12");
        CHECK_STR(ds.items[2].id, "5");
        CHECK(strstr(ds.skipped_msgs[0], "bad.jsonl:2: invalid JSON") != NULL);
        CHECK(strstr(ds.skipped_msgs[1], ":4: not a JSON object") != NULL);
        CHECK(strstr(ds.skipped_msgs[2], ":5: no \"answer\"") != NULL);
        CHECK(strstr(ds.skipped_msgs[3], ":7: \"level\"") != NULL);
    }
    pd_dataset_free(&ds);
    CHECK(pd_dataset_load("build/tmp/test_dataset/missing.jsonl", &ds, &err) == PD_ENOTFOUND);
    CHECK(strstr(err.msg, "missing.jsonl") != NULL);
}

/* Generated problems survive a write/load round trip, and the CLI writes the same. */
static void t_roundtrip_and_cli(void) {
    pd_error err = {0};
    pd_dataset a = {0}, b = {0};
    CHECK(pd_arith_generate(&a, 20, 1, 5, 9, &err) == 0);
    pd_mkdirs("build/tmp/test_dataset", &err);
    FILE *f = fopen("build/tmp/test_dataset/gen.jsonl", "w");
    CHECK(f && pd_dataset_write_jsonl(&a, f, &err) == 0);
    if (f) fclose(f);
    CHECK(pd_dataset_load("build/tmp/test_dataset/gen.jsonl", &b, &err) == 0);
    CHECK_EQ_INT(b.n, 20);
    for (size_t i = 0; i < 20 && i < b.n; i++) {
        CHECK_STR(a.items[i].problem, b.items[i].problem);
        CHECK_STR(a.items[i].solution, b.items[i].solution);
        CHECK_STR(a.items[i].answer, b.items[i].answer);
        CHECK_EQ_INT(a.items[i].level, b.items[i].level);
    }
    int rc = run_ponder("data arith --n 20 --levels 1-5 --seed 9 --out build/tmp/test_dataset/cli.jsonl");
    CHECK_EQ_INT(rc, 0);
    char *x = NULL, *y = NULL;
    CHECK(pd_file_read("build/tmp/test_dataset/gen.jsonl", &x, NULL, &err) == 0);
    CHECK(pd_file_read("build/tmp/test_dataset/cli.jsonl", &y, NULL, &err) == 0);
    CHECK(x && y && strcmp(x, y) == 0);
    free(x), free(y);
    CHECK(run_ponder("data arith --levels 9 2>/dev/null >/dev/null") != 0);
    CHECK(run_ponder("data nosuch 2>/dev/null") != 0);
    pd_dataset_free(&a), pd_dataset_free(&b);
}

int main(void) {
    RUN(t_arith_correct);
    RUN(t_arith_deterministic);
    RUN(t_sums_correct);
    RUN(t_arith_difficulty);
    RUN(t_arith_small_factors);
    RUN(t_load_shared);
    RUN(t_load_malformed);
    RUN(t_roundtrip_and_cli);
    return test_done();
}
