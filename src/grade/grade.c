/* grade.c — the grader's public API (include/ponder/grade.h).
 *
 * Each call owns one arena for all its work (normalised strings, trees, keys) and frees it
 * before returning, so calls are independent and thread-safe. Results handed to the caller
 * are copied out with malloc.
 *
 * Reading an answer: a string is normalised (normalize.c) and parsed (parse.c); when it does
 * not parse, it is compared as a normalised string (two unparsed answers are equal when
 * their texts are). Integer-only mode (AIME, GSM8K) compares integer values and nothing
 * else. */
#include "grade_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void pd_grade_opts_default(pd_grade_opts *o) {
    memset(o, 0, sizeof *o);
    o->match_latex = 1;
    o->match_expr = 1;
    o->boxed_priority = 0;
    o->float_rounding = 6;
    o->strict = 1;
    o->set_relation = 0;
    o->integer_only = 0;
    o->skip_think = 1;
    o->bare_answers = 1;
}

static const pd_grade_opts *opts_or_default(const pd_grade_opts *o, pd_grade_opts *tmp) {
    if (o) return o;
    pd_grade_opts_default(tmp);
    return tmp;
}

static char *dup_out(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* An already extracted answer: normalised text and its tree (NULL when unparsed). */
typedef struct ans {
    char *text;
    gnode *tree;
} ans;

static ans read_answer(gctx *c, const char *s) {
    ans a = {NULL, NULL};
    if (!s) return a;
    size_t n = strlen(s);
    if (n > G_MAX_ANSWER) { /* too long to read: the text itself, whole */
        a.text = (char *)s;
        return a;
    }
    a.text = gnorm_latex(c->a, s, n, 1);
    if (a.text && a.text[0]) a.tree = gparse_answer(c, a.text);
    return a;
}

/* Integer value of a tree (1) or 0 when it is not an integer. An integer percentage is its
 * integer, as in the default comparison (GSM8K's "25%" against the gold 25). */
static int int_value(gctx *c, const gnode *t, grat *v) {
    if (!t) return 0;
    if (t->kind == G_REL && t->nkid >= 2 && gonly_symbols(t->kid[0], 0)) t = t->kid[t->nkid - 1];
    if (t->kind == G_PCT) t = t->kid[0];
    grat r = geval_exact(c, t);
    if (!gr_is_int(r)) return 0;
    *v = r;
    return 1;
}

/* An integer written with dots between groups of three digits ("1.250", "12.345.678"), as
 * German, Spanish, Italian... write thousands: only read so in integer mode, where the
 * answer is known to be an integer (otherwise 1.250 is one and a quarter). */
static int dotted_thousands(gctx *c, const char *s, grat *v) {
    if (!s) return 0;
    size_t i = 0, d = 0;
    char digits[64];
    int neg = s[0] == '-';
    if (neg) i++;
    size_t lead = 0;
    while (isdigit((unsigned char)s[i]) && lead < 4) digits[d++] = s[i++], lead++;
    if (lead < 1 || lead > 3 || s[i] != '.') return 0;
    while (s[i] == '.' && d + 3 < sizeof digits) {
        for (int k = 1; k <= 3; k++)
            if (!isdigit((unsigned char)s[i + k])) return 0;
        memcpy(digits + d, s + i + 1, 3);
        d += 3;
        i += 4;
    }
    if (s[i] != 0) return 0;
    *v = gr_decimal(c->a, digits, d, 0, 0);
    if (neg) *v = gr_neg(c->a, *v);
    return v->ok;
}

/* The integer an answer stands for in integer mode (1), or 0. */
static int int_answer(gctx *c, const ans *a, grat *v) {
    return int_value(c, a->tree, v) || dotted_thousands(c, a->text, v);
}

static int text_equal(const char *a, const char *b) {
    if (!a || !b) return 0;
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && isspace((unsigned char)a[na - 1])) na--;
    while (nb && isspace((unsigned char)b[nb - 1])) nb--;
    return na > 0 && na == nb && memcmp(a, b, na) == 0;
}

static int answers_equal(gctx *c, const ans *pred, const ans *gold, const pd_grade_opts *o) {
    if (o->integer_only) {
        grat a, b;
        if (int_answer(c, pred, &a) && int_answer(c, gold, &b)) return gr_eq(a, b);
        return 0;
    }
    if (pred->tree && gold->tree) {
        gcmp_opts co = {o->float_rounding, o->strict, o->set_relation, o->integer_only, o->rel_tol};
        return gequal(c, gold->tree, pred->tree, &co);
    }
    if (!pred->tree && !gold->tree) return text_equal(pred->text, gold->text);
    return 0;
}

char *pd_grade_extract_opts(const char *text, const char *gold, const pd_grade_opts *o) {
    pd_grade_opts tmp;
    o = opts_or_default(o, &tmp);
    if (!text) return NULL;
    garena ar = {0};
    gctx c = {.a = &ar};
    char *a = gextract(&c, text, gold, o, NULL);
    char *r = a ? dup_out(a) : NULL;
    ga_free(&ar);
    return r;
}

char *pd_grade_extract(const char *text, const char *gold) { return pd_grade_extract_opts(text, gold, NULL); }

int pd_grade_equal_opts(const char *pred, const char *gold, const pd_grade_opts *o) {
    pd_grade_opts tmp;
    o = opts_or_default(o, &tmp);
    if (!pred || !gold) return 0;
    /* a choice gold with its option text (or any letter form in mode mcq): the letters, or
     * the prediction against the option text */
    char gl, pl;
    const char *option = NULL;
    int mcq = o->mode == PD_GRADE_MCQ;
    if (o->mode != PD_GRADE_MATH && gchoice_gold(gold, &gl, &option, mcq) && (option || mcq)) {
        if (gchoice_gold(pred, &pl, NULL, mcq)) return pl == gl;
        if (!option) return 0;
        gold = option;
    }
    garena ar = {0};
    gctx c = {.a = &ar};
    ans g = read_answer(&c, gold);
    ans p = read_answer(&c, pred);
    int eq = answers_equal(&c, &p, &g, o);
    ga_free(&ar);
    return eq;
}

int pd_grade_equal(const char *pred, const char *gold) { return pd_grade_equal_opts(pred, gold, NULL); }

char *pd_grade_key(const char *answer) {
    if (!answer) return dup_out("");
    garena ar = {0};
    gctx c = {.a = &ar};
    ans a = read_answer(&c, answer);
    char *out = NULL;
    if (!a.text || !a.text[0]) {
        out = dup_out("");
    } else if (a.tree) {
        char *k = gkey(&c, a.tree);
        if (k) out = dup_out(k);
    }
    if (!out && a.text) { /* unparsed: the normalised text without spaces */
        size_t n = strlen(a.text);
        out = malloc(n + 3);
        if (out) {
            size_t w = 0;
            out[w++] = 's';
            out[w++] = ':';
            for (size_t i = 0; i < n; i++)
                if (!isspace((unsigned char)a.text[i])) out[w++] = a.text[i];
            out[w] = 0;
        }
    }
    ga_free(&ar);
    return out;
}

/* A short text with no math delimiters and no prose: read whole as one answer. Prose means
 * two or more words of three or more letters outside braces and not commands. */
static int is_bare(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '$' && !(i > 0 && s[i - 1] == '\\')) return 0;
    if (n == 0 || n > G_MAX_ANSWER || strchr(s, '\n') || strstr(s, "\\(") || strstr(s, "\\[") ||
        strstr(s, "\\boxed") || strstr(s, "\\fbox") || strstr(s, "</think>") || ghas_anchor(s, n))
        return 0;
    int depth = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{') depth++;
        else if (s[i] == '}') depth--;
        if (!isalpha((unsigned char)s[i])) continue;
        size_t j = i;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        if (depth == 0 && j - i >= 3 && !(i > 0 && s[i - 1] == '\\')) words++;
        i = j - 1;
    }
    return words <= 1;
}

/* A tree that is a single letter (C, \text{(C)}). */
static int one_letter(const gnode *t) {
    if (t->kind == G_CONST) return t->op == GC_E || t->op == GC_I;
    return (t->kind == G_SYM || t->kind == G_TEXT) && t->name && strlen(t->name) == 1 &&
           isalpha((unsigned char)t->name[0]);
}

int pd_grade(const char *pred_text, const char *gold_text, const pd_grade_opts *o,
             pd_grade_result *res, pd_error *err) {
    pd_grade_opts tmp;
    o = opts_or_default(o, &tmp);
    memset(res, 0, sizeof *res);
    if (!pred_text || !gold_text) return pd_err_set(err, PD_EINVAL, "grade: pred and gold are required");
    garena ar = {0};
    gctx c = {.a = &ar};
    ans g = {NULL, NULL}, p = {NULL, NULL}, opt = {NULL, NULL};
    /* multiple choice: a gold that is a letter, or a letter with its option text ("(B) 42
     * apples"), is graded by the letter (mode mcq: any letter form; mode math: never) */
    char letter, lbuf[2] = {0, 0};
    const char *option = NULL;
    if (o->mode != PD_GRADE_MATH &&
        gchoice_gold(gold_text, &letter, &option, o->mode == PD_GRADE_MCQ)) {
        lbuf[0] = letter;
        g.text = ga_strndup(&ar, lbuf, 1);
        g.tree = g.text ? gparse(&c, g.text) : NULL;
        if (option) opt = read_answer(&c, option);
    }
    /* a bare answer is read whole; one that is past a limit (too deep, too long) is compared
     * as text, never replaced by a piece of itself; one that merely does not parse ("Answer:
     * 24", "5 (approx.)") goes through extraction */
    if (!g.text && o->bare_answers && is_bare(gold_text)) {
        g = read_answer(&c, gold_text);
        if (!g.tree && !c.limit_hit) g.text = NULL;
    }
    if (!g.text) g.text = gextract(&c, gold_text, NULL, o, &g.tree);
    if (!g.text && o->bare_answers) g = read_answer(&c, gold_text);
    int choice = g.text && o->mode != PD_GRADE_MATH && gchoice_gold(g.text, &letter, NULL, 0);
    if (o->bare_answers && is_bare(pred_text)) {
        p = read_answer(&c, pred_text);
        if (!p.tree && !c.limit_hit) p.text = NULL;
        /* against a choice letter, a bare prediction must itself be one letter (else the
         * letter is looked for in it) */
        if (choice && !(p.tree && one_letter(p.tree))) p.text = NULL, p.tree = NULL;
    }
    if (!p.text) p.text = gextract(&c, pred_text, g.text ? g.text : gold_text, o, &p.tree);
    if (o->integer_only && p.text && !int_answer(&c, &p, &(grat){0})) {
        /* integer benchmarks: fall back to the last integer of the text */
        pd_grade_opts o2 = *o;
        o2.match_latex = 0;
        gnode *t = NULL;
        char *a = gextract(&c, pred_text, NULL, &o2, &t);
        if (a && int_value(&c, t, &(grat){0})) {
            p.text = a;
            p.tree = t;
        }
    }
    res->equal = (g.text && p.text) ? answers_equal(&c, &p, &g, o) : 0;
    /* a prediction that names no letter may give the option's value instead ("42") */
    if (!res->equal && opt.text && p.text && !(p.tree && one_letter(p.tree)))
        res->equal = answers_equal(&c, &p, &opt, o);
    res->pred_answer = dup_out(p.text);
    res->gold_answer = dup_out(g.text);
    res->pred_parsed = p.tree != NULL;
    res->gold_parsed = g.tree != NULL;
    ga_free(&ar);
    if (!res->pred_answer || !res->gold_answer) {
        pd_grade_result_free(res);
        return pd_err_set(err, PD_ENOMEM, "grade: out of memory");
    }
    return 0;
}

void pd_grade_result_free(pd_grade_result *res) {
    if (!res) return;
    free(res->pred_answer);
    free(res->gold_answer);
    res->pred_answer = res->gold_answer = NULL;
}
