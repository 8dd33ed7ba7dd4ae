/* parse.c — LaTeX answer -> expression tree: a tokenizer and a recursive-descent parser.
 *
 * Grammar, loosest binding first (each level is one function below):
 *
 *   answer   := group (';' group)*          group := element (',' element)*
 *   element  := setexpr (relop setexpr)*    relop: = < > \le \ge \ne \approx \in ...
 *   setexpr  := sum ((\cup | \cap | \setminus) sum)*
 *   sum      := [+|-|\pm] product ((+ | - | \pm | \mp) product)*
 *   product  := unary ((\cdot | \times | * | / | \div | : | <nothing>) unary)*
 *   unary    := (- | +) unary | power
 *   power    := postfix [^ exponent]         postfix := primary (! | \% | _base | ')*
 *   primary  := number | letter | word | \frac | \sqrt | \func arg | ( .. ) | [ .. ] | \{ .. \}
 *             | { .. } | |x| | \lfloor..\rfloor | \text{..} | \begin{pmatrix}..\end{pmatrix} | ...
 *
 * How the answer list is read follows Math-Verify: "1, 2" is a set, "(1, 2)" an open
 * interval that may be read as a pair, "(1, 2, 3)" a tuple, "p=5,q=2;p=7,q=2" a set of
 * pairs, "a = 4, -8, -10" the assignment of a set, "1 \pm \sqrt 2" a set of two numbers.
 * A run of letters ("abc", "odd") is a product of variables that remembers its word, so a
 * text answer ("\text{odd}") can still be compared with it.
 *
 * Bounds: the tokenizer is linear, every recursion checks G_MAX_DEPTH, and every node
 * counts against G_MAX_NODES (gn_new fails past it), so parsing any input is bounded. */
#include "grade_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TK_END, TK_NUM, TK_WORD, TK_CMD, TK_CHAR, TK_TEXT, TK_BEGIN, TK_ENDENV, TK_ROWSEP, TK_TIME };

typedef struct tok {
    int kind;
    const char *s; /* token text (number digits, word, command name without '\', text body) */
    size_t n;
    char ch;       /* TK_CHAR: the character; TK_TEXT: 'r' for \mathrm-like, 't' for \text */
    size_t end;    /* input position after the token */
} tok;

typedef struct P {
    gctx *c;
    const char *s;
    size_t n, pos; /* pos: start of the current token */
    tok t;         /* current token */
    int depth, err, absdepth;
    int trig;      /* inside a trigonometric function's argument: degrees become radians */
} P;

/* A growing list of nodes in the arena (answers may hold 5,000-element tuples or 300 x 300
 * matrices); the first few live in the struct. */
typedef struct glist {
    gnode **v;
    int n, cap;
    gnode *small[8];
} glist;

static void gl_init(glist *l) {
    l->v = l->small;
    l->n = 0;
    l->cap = 8;
}

/* Append e; 0, or -1 when out of memory or past G_MAX_NODES elements. */
static int gl_push(gctx *c, glist *l, gnode *e) {
    if (l->n == l->cap) {
        if (l->cap >= G_MAX_NODES) return -1;
        gnode **v = ga_alloc(c->a, sizeof(gnode *) * (size_t)l->cap * 2);
        if (!v) return -1;
        memcpy(v, l->v, sizeof(gnode *) * (size_t)l->n);
        l->v = v;
        l->cap *= 2;
    }
    l->v[l->n++] = e;
    return 0;
}

/* ---- tokenizer ---- */

static int starts_at(const char *s, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && memcmp(s + i, w, l) == 0;
}

/* Commands that only space or size things: skipped. */
/* Is w[0..l) one of the words in list ("|a|b|c|")? One memmem over the list. */
static int in_list(const char *list, size_t listlen, const char *w, size_t l) {
    if (l == 0 || l > 30) return 0;
    char key[34];
    key[0] = '|';
    memcpy(key + 1, w, l);
    key[l + 1] = '|';
    return memmem(list, listlen, key, l + 2) != NULL;
}
#define IN_LIST(lit, w, l) in_list(lit, sizeof(lit) - 1, w, l)

static int is_skip_cmd(const char *w, size_t l) {
    return IN_LIST("|left|right|quad|qquad|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|biggl|biggr|middle"
                   "|limits|nolimits|displaystyle|textstyle|hline|nonumber|mathstrut|strut|hfill"
                   "|noindent|scriptstyle|phantom|notag|rm|bf|it|",
                   w, l);
}

/* Skip spaces and spacing commands from i; returns the new position. */
static size_t skip_space(const char *s, size_t n, size_t i) {
    for (;;) {
        while (i < n && (isspace((unsigned char)s[i]) || s[i] == '~')) i++;
        if (i + 1 < n && s[i] == '\\' && (s[i + 1] == ',' || s[i + 1] == ';' || s[i + 1] == ':' ||
                                         s[i + 1] == ' ' || s[i + 1] == '!' || s[i + 1] == '>')) {
            i += 2;
            continue;
        }
        if (i + 1 < n && s[i] == '\\' && isalpha((unsigned char)s[i + 1])) {
            size_t j = i + 1;
            while (j < n && isalpha((unsigned char)s[j])) j++;
            /* "\quadx_2": a spacing command glued to the next letters */
            if (j - i - 1 > 5 && starts_at(s, n, i + 1, "qquad")) j = i + 6;
            else if (j - i - 1 > 4 && starts_at(s, n, i + 1, "quad")) j = i + 5;
            if (is_skip_cmd(s + i + 1, j - i - 1)) {
                int lr = (j - i - 1 == 4 && memcmp(s + i + 1, "left", 4) == 0) ||
                         (j - i - 1 == 5 && memcmp(s + i + 1, "right", 5) == 0);
                i = j;
                if (lr) {
                    while (i < n && s[i] == ' ') i++;
                    if (i < n && s[i] == '.') i++; /* \left. \right. */
                }
                if (j - i == 0 && 0) break;
                continue;
            }
        }
        return i;
    }
}

/* Index after the '}' matching the '{' at i, or 0 when unbalanced. */
static size_t brace_end(const char *s, size_t n, size_t i) {
    int d = 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] == '\\' && k + 1 < n) {
            k++;
            continue;
        }
        if (s[k] == '{') d++;
        else if (s[k] == '}' && --d == 0) return k + 1;
    }
    return 0;
}

/* ---- times of day ---- */

/* An a.m. / p.m. marker at s[k] ("am", "p.m.", "PM", "\\text{ p.m.}", "\\mathrm{pm}"), after
 * optional spaces: GT_AM / GT_PM and its end in *end, or 0. */
static int ampm_at(const char *s, size_t n, size_t k, size_t *end) {
    for (;;) { /* spaces: ' ', '~', \, \; \  */
        if (k < n && (s[k] == ' ' || s[k] == '~')) k++;
        else if (k + 1 < n && s[k] == '\\' && (s[k + 1] == ',' || s[k + 1] == ';' || s[k + 1] == ' ')) k += 2;
        else break;
    }
    static const char *const wrap[] = {"\\text{", "\\mathrm{", "\\textrm{", "\\mbox{", "\\textnormal{", NULL};
    for (int w = 0; wrap[w]; w++) {
        size_t l = strlen(wrap[w]);
        if (k + l > n || memcmp(s + k, wrap[w], l) != 0) continue;
        size_t e, inner = k + l;
        while (inner < n && s[inner] == ' ') inner++;
        int m = ampm_at(s, n, inner, &e);
        if (!m) return 0;
        while (e < n && s[e] == ' ') e++;
        if (e >= n || s[e] != '}') return 0;
        *end = e + 1;
        return m;
    }
    if (k >= n) return 0;
    char c = (char)tolower((unsigned char)s[k]);
    if (c != 'a' && c != 'p') return 0;
    size_t i = k + 1;
    if (i < n && s[i] == '.') i++;
    if (i < n && s[i] == ' ' && s[i - 1] == '.') i++;
    if (i >= n || tolower((unsigned char)s[i]) != 'm') return 0;
    i++;
    if (i < n && isalpha((unsigned char)s[i])) return 0;
    if (i < n && s[i] == '.') i++;
    *end = i;
    return c == 'a' ? GT_AM : GT_PM;
}

/* A time of day at s[i] (see gtime_scan in grade_int.h); its end or 0. */
size_t gtime_scan(const char *s, size_t n, size_t i, gtime *t) {
    memset(t, 0, sizeof *t);
    size_t k = i;
    while (k < n && k < i + 2 && isdigit((unsigned char)s[k])) t->h = t->h * 10 + (s[k++] - '0');
    if (k == i || (k < n && isdigit((unsigned char)s[k]))) return 0;
    if (k + 2 < n && s[k] == ':' && isdigit((unsigned char)s[k + 1]) && isdigit((unsigned char)s[k + 2]) &&
        !(k + 3 < n && isdigit((unsigned char)s[k + 3]))) {
        t->colon = 1;
        t->m = (s[k + 1] - '0') * 10 + (s[k + 2] - '0');
        k += 3;
        if (k + 2 < n && s[k] == ':' && isdigit((unsigned char)s[k + 1]) && isdigit((unsigned char)s[k + 2]) &&
            !(k + 3 < n && isdigit((unsigned char)s[k + 3]))) {
            t->secs = 1;
            t->s = (s[k + 1] - '0') * 10 + (s[k + 2] - '0');
            k += 3;
        }
    }
    size_t e;
    t->marker = ampm_at(s, n, k, &e);
    if (t->marker) k = e;
    if (t->m > 59 || t->s > 59) return 0;
    if (t->marker ? (t->h < 1 || t->h > 12) : (!t->colon || t->h > 23)) return 0;
    return k;
}

/* Read the token starting at i (after skipping space) into *t. */
static void lex(const char *s, size_t n, size_t i, tok *t) {
    i = skip_space(s, n, i);
    memset(t, 0, sizeof *t);
    if (i >= n) {
        t->kind = TK_END;
        t->end = n;
        t->s = s + n;
        return;
    }
    unsigned char c = (unsigned char)s[i];
    t->s = s + i;
    if (isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]))) {
        gtime tm;
        size_t te = isdigit(c) ? gtime_scan(s, n, i, &tm) : 0;
        if (te) { /* 3:05, 15:05:30, 3:05 p.m., 3 pm */
            t->kind = TK_TIME;
            t->n = te - i;
            t->end = te;
            return;
        }
        size_t j = i;
        while (j < n && isdigit((unsigned char)s[j])) j++;
        /* thousands groups separated by a thin space: 1\,000 or 1 000 */
        if (j > i && j - i <= 3) {
            size_t k = j;
            for (;;) {
                size_t m = k;
                if (m + 1 < n && s[m] == '\\' && (s[m + 1] == ',' || s[m + 1] == ' ')) m += 2;
                else if (m < n && s[m] == ' ') m++;
                else break;
                size_t d = m;
                while (d < n && isdigit((unsigned char)s[d])) d++;
                if (d - m != 3 || (d < n && (s[d] == '.' && 0))) break;
                k = d;
            }
            if (k != j) {
                t->kind = TK_NUM;
                t->n = k - i;
                t->end = k;
                t->ch = 's'; /* contains separators */
                return;
            }
        }
        if (j < n && s[j] == '.' && j + 1 < n && isdigit((unsigned char)s[j + 1])) {
            j++;
            while (j < n && isdigit((unsigned char)s[j])) j++;
        } else if (j < n && s[j] == '.' && !(j + 1 < n && (s[j + 1] == '.' || isalpha((unsigned char)s[j + 1])))) {
            j++; /* "3." */
        }
        /* scientific notation 1.5e3 / 2E-4 (a letter must not follow) */
        if (j + 1 < n && (s[j] == 'e' || s[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (s[k] == '+' || s[k] == '-')) k++;
            size_t d = k;
            while (d < n && isdigit((unsigned char)s[d])) d++;
            if (d > k && !(d < n && isalpha((unsigned char)s[d]))) j = d;
        }
        t->kind = TK_NUM;
        t->n = j - i;
        t->end = j;
        return;
    }
    if (isalpha(c)) {
        size_t j = i;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        t->kind = TK_WORD;
        t->n = j - i;
        t->end = j;
        return;
    }
    if (c == '\\') {
        if (i + 1 >= n) {
            t->kind = TK_CHAR;
            t->ch = '\\';
            t->n = 1;
            t->end = n;
            return;
        }
        if (s[i + 1] == '\\') {
            t->kind = TK_ROWSEP;
            t->end = i + 2;
            return;
        }
        if (!isalpha((unsigned char)s[i + 1])) {
            t->kind = TK_CMD;
            t->s = s + i + 1;
            t->n = 1;
            t->end = i + 2;
            return;
        }
        size_t j = i + 1;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        const char *w = s + i + 1;
        size_t l = j - i - 1;
        /* text-like commands carry a {body} */
        if (IN_LIST("|text|textbf|textit|textrm|textnormal|mbox|mathrm|mathbf|mathit|mathsf|textsf"
                    "|texttt|mathtt|operatorname|mathcal|boldsymbol|bm|textup|emph|hbox|",
                    w, l)) {
            size_t b = skip_space(s, n, j);
            size_t e = b < n && s[b] == '{' ? brace_end(s, n, b) : 0;
            if (e) {
                t->kind = TK_TEXT;
                t->s = s + b + 1;
                t->n = e - b - 2;
                t->ch = (w[0] == 't' && w[1] == 'e') || (w[0] == 'm' && w[1] == 'b') || w[0] == 'h' ||
                                w[0] == 'e'
                            ? 't'
                            : (l == 12 ? 'o' : 'r');
                t->end = e;
                return;
            }
            if (b < n && s[b] != '{' && isalpha((unsigned char)s[b])) { /* \mathrm e */
                t->kind = TK_TEXT;
                t->s = s + b;
                t->n = 1;
                t->ch = 'r';
                t->end = b + 1;
                return;
            }
        }
        if ((l == 5 && memcmp(w, "begin", 5) == 0) || (l == 3 && memcmp(w, "end", 3) == 0)) {
            size_t b = skip_space(s, n, j);
            if (b < n && s[b] == '{') {
                size_t e = brace_end(s, n, b);
                if (e) {
                    t->kind = l == 5 ? TK_BEGIN : TK_ENDENV;
                    t->s = s + b + 1;
                    t->n = e - b - 2;
                    t->end = e;
                    if (l == 5 && t->n == 5 && memcmp(t->s, "array", 5) == 0) {
                        size_t b2 = skip_space(s, n, e);
                        if (b2 < n && s[b2] == '{') {
                            size_t e2 = brace_end(s, n, b2);
                            if (e2) t->end = e2;
                        }
                    }
                    return;
                }
            }
        }
        t->kind = TK_CMD;
        t->s = w;
        t->n = l;
        t->end = j;
        return;
    }
    /* a few UTF-8 symbols models write */
    if (c >= 0x80) {
        static const struct {
            const char *u, *cmd;
        } map[] = {{"\xcf\x80", "pi"},      {"\xe2\x88\x9e", "infty"}, {"\xe2\x88\x9a", "sqrt"},
                   {"\xc3\x97", "times"},   {"\xc3\xb7", "div"},       {"\xe2\x89\xa4", "le"},
                   {"\xe2\x89\xa5", "ge"},  {"\xe2\x89\xa0", "ne"},    {"\xc2\xb1", "pm"},
                   {"\xe2\x88\xaa", "cup"}, {"\xe2\x88\xa9", "cap"},   {"\xe2\x8b\x85", "cdot"},
                   {"\xc2\xb7", "cdot"},    {"\xe2\x88\x88", "in"},    {"\xe2\x89\x88", "approx"},
                   {"\xc2\xb0", "circ"},    {NULL, NULL}};
        for (int k = 0; map[k].u; k++) {
            size_t l = strlen(map[k].u);
            if (starts_at(s, n, i, map[k].u)) {
                t->kind = TK_CMD;
                t->s = map[k].cmd;
                t->n = strlen(map[k].cmd);
                t->end = i + l;
                return;
            }
        }
        if (starts_at(s, n, i, "\xe2\x88\x92")) { /* unicode minus */
            t->kind = TK_CHAR;
            t->ch = '-';
            t->n = 1;
            t->end = i + 3;
            return;
        }
    }
    t->kind = TK_CHAR;
    t->ch = (char)c;
    t->n = 1;
    t->end = i + 1;
}

static void adv(P *p) {
    p->pos = p->t.end;
    lex(p->s, p->n, p->pos, &p->t);
}

static int is_char(P *p, char c) { return p->t.kind == TK_CHAR && p->t.ch == c; }
static int is_cmd(P *p, const char *w) {
    return p->t.kind == TK_CMD && p->t.n == strlen(w) && memcmp(p->t.s, w, p->t.n) == 0;
}
static int tok_is(const tok *t, const char *w) {
    return t->n == strlen(w) && memcmp(t->s, w, t->n) == 0;
}

static gnode *fail(P *p) {
    p->err = 1;
    return NULL;
}

static gnode *mk(P *p, int kind, int nkid) {
    gnode *n = gn_new(p->c, kind, nkid);
    if (!n) p->err = 1;
    return n;
}

static gnode *mk1(P *p, int kind, gnode *a) {
    if (!a) return fail(p);
    gnode *n = mk(p, kind, 1);
    if (n) n->kid[0] = a;
    return n;
}

static gnode *mk2(P *p, int kind, gnode *a, gnode *b) {
    if (!a || !b) return fail(p);
    gnode *n = mk(p, kind, 2);
    if (n) {
        n->kid[0] = a;
        n->kid[1] = b;
    }
    return n;
}

/* Append b to an n-ary node of `kind` (flattening when a already is one). */
static gnode *nary(P *p, int kind, gnode *a, gnode *b) {
    if (!a || !b) return fail(p);
    if (a->kind == kind && !a->name) {
        gnode *n = mk(p, kind, a->nkid + 1);
        if (!n) return NULL;
        memcpy(n->kid, a->kid, sizeof(gnode *) * (size_t)a->nkid);
        n->kid[a->nkid] = b;
        return n;
    }
    return mk2(p, kind, a, b);
}

static gnode *mk_const(P *p, int op) {
    gnode *n = mk(p, G_CONST, 0);
    if (n) n->op = (int16_t)op;
    return n;
}

static gnode *mk_int(P *p, long v) {
    gnode *n = mk(p, G_NUM, 0);
    if (n) {
        n->num = gr_make(v, 1);
        n->dval = (double)v;
    }
    return n;
}

static char *lower_dup(P *p, const char *s, size_t l) {
    char *d = ga_strndup(p->c->a, s, l);
    if (!d) {
        p->err = 1;
        return NULL;
    }
    for (size_t i = 0; i < l; i++) d[i] = (char)tolower((unsigned char)d[i]);
    return d;
}

/* Number literal text -> node: the exact rational (GMP past 128 bits) and a double. */
static gnode *mk_number(P *p, const char *s, size_t l, int comma_decimal) {
    gnode *n = mk(p, G_NUM, 0);
    if (!n) return NULL;
    size_t nd = 0;
    long frac_digits = 0, exp10 = 0;
    int seen_dot = 0, has_exp = 0, small = 1;
    gi128 mant = 0;
    char *digits = l <= 64 ? NULL : ga_alloc(p->c->a, l + 1);
    char dbuf[72];
    if (!digits) digits = l <= 64 ? dbuf : NULL;
    if (!digits) {
        p->err = 1;
        return NULL;
    }
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (isdigit((unsigned char)c)) {
            digits[nd++] = c;
            if (small) {
                if (mant > ((gi128)1 << 120) / 10) small = 0;
                else mant = mant * 10 + (c - '0');
            }
            if (seen_dot) frac_digits++;
        } else if (c == '.' || (c == ',' && comma_decimal)) {
            seen_dot = 1;
        } else if (c == 'e' || c == 'E') {
            has_exp = 1;
            char *end;
            exp10 = strtol(s + i + 1, &end, 10);
            if (exp10 > 100000) exp10 = 100000;
            if (exp10 < -100000) exp10 = -100000;
            break;
        }
    }
    digits[nd] = 0;
    if (!seen_dot && !has_exp && small) { /* integers: the common case, no division */
        n->num = gr_make(mant, 1);
        n->dval = (double)mant;
        return n;
    }
    if (seen_dot || has_exp) n->flags |= G_FLOAT;
    if (has_exp) n->flags |= G_SCI;
    n->num = gr_decimal(p->c->a, digits, nd, frac_digits, exp10);
    if (n->num.ok) {
        n->dval = gr_double(n->num);
    } else { /* past G_MAX_BITS: a double only */
        char buf[48];
        snprintf(buf, sizeof buf, "0.%.20se%ld", digits, exp10 - frac_digits + (long)nd);
        n->dval = strtod(buf, NULL);
    }
    return n;
}

/* ---- parser ---- */

static gnode *p_element(P *p);
static gnode *p_sum(P *p);
static gnode *p_unary(P *p);
static gnode *p_power(P *p);
static gnode *p_setexpr(P *p);

#define ENTER(p)                                   \
    do {                                           \
        if (++(p)->depth > G_MAX_PARSE_DEPTH) {    \
            (p)->depth--;                          \
            (p)->c->depth_hit = 1;                 \
            return fail(p);                        \
        }                                          \
    } while (0)
#define LEAVE(p, v)       \
    do {                  \
        (p)->depth--;     \
        return (v);       \
    } while (0)

static int relop_of(P *p) {
    if (p->t.kind == TK_CHAR) {
        char c = p->t.ch;
        const char *nx = p->s + p->t.end;
        size_t rem = p->n - p->t.end;
        if (c == '=') return GR_EQ;
        if (c == '<') return rem && nx[0] == '=' ? -GR_LE : GR_LT;
        if (c == '>') return rem && nx[0] == '=' ? -GR_GE : GR_GT;
        if (c == '!' && rem && nx[0] == '=') return -GR_NE;
        return 0;
    }
    if (p->t.kind != TK_CMD) return 0;
    static const struct {
        const char *w;
        int op;
    } m[] = {{"le", GR_LE},     {"leq", GR_LE},   {"leqslant", GR_LE}, {"ge", GR_GE},
             {"geq", GR_GE},    {"geqslant", GR_GE}, {"lt", GR_LT},    {"gt", GR_GT},
             {"ne", GR_NE},     {"neq", GR_NE},   {"approx", 100},     {"in", 101},
             {"eq", GR_EQ},     {"equiv", GR_EQ}, {"simeq", 100},      {"sim", 100},
             {"notin", 102},    {"Rightarrow", 103}, {"implies", 103}, {"to", 104},
             {"rightarrow", 104}, {NULL, 0}};
    for (int i = 0; m[i].w; i++)
        if (tok_is(&p->t, m[i].w)) return m[i].op;
    return 0;
}

/* Consume the relation operator (two-character ones too). */
static void adv_rel(P *p, int op) {
    adv(p);
    if (op < 0) { /* "<=" ">=" "!=": skip the '=' */
        if (is_char(p, '=')) adv(p);
    }
}

/* element := setexpr (relop setexpr)* */
static gnode *p_element(P *p) {
    ENTER(p);
    gnode *first = p_setexpr(p);
    if (!first) LEAVE(p, NULL);
    gnode *ops[32];
    uint8_t rel[32];
    int nops = 0;
    ops[0] = first;
    for (;;) {
        int op = relop_of(p);
        if (!op) break;
        adv_rel(p, op);
        if (op < 0) op = -op;
        if (op == 103) LEAVE(p, fail(p)); /* implications: not an answer */
        gnode *rhs = p_setexpr(p);
        if (!rhs) LEAVE(p, NULL);
        if (op == 100) { /* \approx: x \approx 3 -> 3 ; a = b \approx c -> a = b */
            if (nops == 0 && gonly_symbols(ops[0], 0)) ops[0] = rhs;
            continue;
        }
        if (op == 101 || op == 104) { /* x \in S: only with symbols on the left; as x = S */
            if (!gonly_symbols(ops[nops], 0)) LEAVE(p, fail(p));
            op = GR_EQ;
        }
        if (op == 102) LEAVE(p, fail(p));
        if (nops >= 31) LEAVE(p, fail(p));
        rel[nops++] = (uint8_t)op;
        ops[nops] = rhs;
    }
    if (nops == 0) LEAVE(p, ops[0]);
    gnode *r = mk(p, G_REL, nops + 1);
    if (!r) LEAVE(p, NULL);
    r->rel = ga_alloc(p->c->a, (size_t)nops);
    if (!r->rel) LEAVE(p, fail(p));
    memcpy(r->kid, ops, sizeof(gnode *) * (size_t)(nops + 1));
    memcpy(r->rel, rel, (size_t)nops);
    LEAVE(p, r);
}

/* setexpr := sum ((\cup | \cap | \setminus) sum)* */
static gnode *p_setexpr(P *p) {
    ENTER(p);
    gnode *a = p_sum(p);
    for (;;) {
        if (!a) LEAVE(p, NULL);
        if (is_cmd(p, "cup") || is_cmd(p, "sqcup") || is_cmd(p, "bigcup")) {
            adv(p);
            a = nary(p, G_UNION, a, p_sum(p));
        } else if (is_cmd(p, "cap") || is_cmd(p, "bigcap")) {
            adv(p);
            a = mk2(p, G_INTER, a, p_sum(p));
        } else if (is_cmd(p, "setminus") || is_cmd(p, "backslash")) {
            adv(p);
            a = mk2(p, G_SETMINUS, a, p_sum(p));
        } else {
            break;
        }
    }
    LEAVE(p, a);
}

static int is_pm(P *p) { return is_cmd(p, "pm") || is_cmd(p, "mp"); }

/* sum := [+|-|\pm] product ((+|-|\pm|\mp) product)* */
static gnode *p_product(P *p);
static gnode *p_sum(P *p) {
    ENTER(p);
    gnode *a;
    if (is_pm(p)) {
        int mp = is_cmd(p, "mp");
        adv(p);
        gnode *b = p_product(p);
        a = mk(p, G_PM, 2);
        if (!a || !b) LEAVE(p, fail(p));
        a->kid[0] = NULL;
        a->kid[1] = b;
        a->op = (int16_t)mp;
    } else {
        a = p_product(p);
    }
    for (;;) {
        if (!a) LEAVE(p, NULL);
        if (is_char(p, '+')) {
            adv(p);
            a = nary(p, G_ADD, a, p_product(p));
        } else if (is_char(p, '-')) {
            adv(p);
            a = nary(p, G_ADD, a, mk1(p, G_NEG, p_product(p)));
        } else if (is_pm(p)) {
            int mp = is_cmd(p, "mp");
            adv(p);
            gnode *b = p_product(p);
            a = mk2(p, G_PM, a, b);
            if (a) a->op = (int16_t)mp;
        } else {
            break;
        }
    }
    LEAVE(p, a);
}

/* Can the current token start a factor of an implicit product? */
static int starts_factor(P *p) {
    switch (p->t.kind) {
    case TK_NUM: case TK_WORD: case TK_TEXT: case TK_BEGIN: case TK_TIME: return 1;
    case TK_CHAR:
        return p->t.ch == '(' || (p->t.ch == '[' && 0) || (p->t.ch == '|' && p->absdepth == 0) ||
               p->t.ch == '{';
    case TK_CMD:
        return !IN_LIST("|cdot|times|div|pm|mp|cup|cap|setminus|le|leq|ge|geq|lt|gt|ne|neq|approx"
                        "|in|notin|to|rfloor|rceil|}|%|rvert|rangle|right|circ|equiv|eq|sim|simeq"
                        "|Rightarrow|implies|rightarrow|backslash|mid||||colon|bmod|pmod|mod|ast"
                        "|star|sqcup|leqslant|geqslant|bigcup|bigcap|prime|degree|rVert|Vert|",
                        p->t.s, p->t.n);
    default: return 0;
    }
}

static int is_int_literal(const gnode *n) {
    return n && n->kind == G_NUM && !(n->flags & G_FLOAT) && n->num.ok && n->num.q == 1 && !n->base;
}

/* product := unary ((\cdot|\times|*|/|\div|:|implicit) unary)* */
static gnode *p_product(P *p) {
    ENTER(p);
    gnode *a = p_unary(p);
    for (;;) {
        if (!a) LEAVE(p, NULL);
        if (is_char(p, '*') || is_cmd(p, "cdot") || is_cmd(p, "times") || is_cmd(p, "ast")) {
            adv(p);
            a = nary(p, G_MUL, a, p_unary(p));
        } else if (is_char(p, '/') || is_cmd(p, "div") || is_char(p, ':') || is_cmd(p, "colon")) {
            adv(p);
            a = mk2(p, G_DIV, a, p_unary(p));
        } else if (starts_factor(p)) {
            /* mixed number: 2\frac{1}{2} = 5/2 (integer literal then a fraction of literals) */
            int negmixed = a->kind == G_NEG && is_int_literal(a->kid[0]);
            int mixed = (is_int_literal(a) || negmixed) && p->t.kind == TK_CMD &&
                        (is_cmd(p, "frac") || is_cmd(p, "dfrac") || is_cmd(p, "tfrac"));
            gnode *b = p_power(p);
            if (!b) LEAVE(p, NULL);
            if (mixed && b->kind == G_DIV && is_int_literal(b->kid[0]) && is_int_literal(b->kid[1]) &&
                b->op == 1) {
                a = negmixed ? mk1(p, G_NEG, mk2(p, G_ADD, a->kid[0], b)) : mk2(p, G_ADD, a, b);
            } else {
                a = nary(p, G_MUL, a, b);
            }
        } else {
            break;
        }
    }
    LEAVE(p, a);
}

/* unary := (-|+) unary | power */
static gnode *p_unary(P *p) {
    ENTER(p);
    if (is_char(p, '-')) {
        adv(p);
        LEAVE(p, mk1(p, G_NEG, p_unary(p)));
    }
    if (is_char(p, '+')) {
        adv(p);
        LEAVE(p, p_unary(p));
    }
    LEAVE(p, p_power(p));
}

static gnode *p_primary(P *p);
static gnode *p_group_arg(P *p);

/* Degree marks after ^: \circ, {\circ}, ^\degree. Returns 1 when consumed. */
static int eat_degree(P *p) {
    if (is_cmd(p, "circ") || is_cmd(p, "degree")) {
        adv(p);
        return 1;
    }
    if (is_char(p, '{')) {
        tok save = p->t;
        size_t pos = p->pos;
        adv(p);
        if (is_cmd(p, "circ") || is_cmd(p, "degree")) {
            adv(p);
            if (is_char(p, '}')) {
                adv(p);
                return 1;
            }
        }
        p->t = save;
        p->pos = pos;
    }
    return 0;
}

/* A superscript / function argument: {element} or one token (a single digit of a number). */
static gnode *p_script(P *p) {
    ENTER(p);
    if (is_char(p, '{')) LEAVE(p, p_group_arg(p));
    if (p->t.kind == TK_NUM) { /* x^23 is x^2 3: take one digit */
        gnode *n = mk_number(p, p->t.s, 1, 0);
        size_t np = (size_t)(p->t.s - p->s) + 1;
        p->pos = np;
        lex(p->s, p->n, np, &p->t);
        LEAVE(p, n);
    }
    if (is_char(p, '-')) {
        adv(p);
        LEAVE(p, mk1(p, G_NEG, p_script(p)));
    }
    LEAVE(p, p_primary(p));
}

/* a degree mark after a: dropped (90^\circ = 90), except in a trigonometric function's
 * argument, where it turns degrees into radians (\sin 30^\circ = 1/2) */
static gnode *degrees(P *p, gnode *a) {
    if (!a || !p->trig) return a;
    gnode *k = mk2(p, G_DIV, mk_const(p, GC_PI), mk_int(p, 180));
    return mk2(p, G_MUL, a, k);
}

/* postfix operators: ! \% % and primes */
static gnode *p_postfix(P *p, gnode *a) {
    for (;;) {
        if (!a) return NULL;
        if (is_char(p, '!') && !(p->t.end < p->n && p->s[p->t.end] == '=')) {
            adv(p);
            a = mk1(p, G_FACT, a);
        } else if (is_cmd(p, "%") || is_char(p, '%')) {
            adv(p);
            a = mk1(p, G_PCT, a);
        } else if (is_cmd(p, "circ") || is_cmd(p, "degree")) {
            adv(p);
            a = degrees(p, a);
        } else {
            return a;
        }
    }
}

/* power := postfix [^ script] */
static gnode *p_power(P *p) {
    ENTER(p);
    gnode *a = p_postfix(p, p_primary(p));
    while (a && is_char(p, '^')) {
        adv(p);
        if (eat_degree(p)) {
            a = degrees(p, a);
            continue;
        }
        gnode *e = p_script(p);
        a = p_postfix(p, mk2(p, G_POW, a, e));
    }
    LEAVE(p, a);
}

/* {element}: a braced group; a comma list inside braces is a set. */
static gnode *p_brace_list(P *p, char close_ch, int close_cmd, int as_set);
static gnode *p_group_arg(P *p) {
    ENTER(p);
    if (!is_char(p, '{')) LEAVE(p, fail(p));
    adv(p);
    gnode *e = p_brace_list(p, '}', 0, 1);
    LEAVE(p, e);
}

/* A \frac / \sqrt argument: {group} or a single token (\frac12, \sqrt3, \frac\pi2). */
static gnode *p_arg(P *p) {
    ENTER(p);
    if (is_char(p, '{')) LEAVE(p, p_group_arg(p));
    if (p->t.kind == TK_NUM) {
        gnode *n = mk_number(p, p->t.s, 1, 0);
        size_t np = (size_t)(p->t.s - p->s) + 1;
        p->pos = np;
        lex(p->s, p->n, np, &p->t);
        LEAVE(p, n);
    }
    if (p->t.kind == TK_WORD && p->t.n > 1) { /* \frac ab: one letter */
        gnode *n = mk(p, G_SYM, 0);
        if (n) n->name = lower_dup(p, p->t.s, 1);
        size_t np = (size_t)(p->t.s - p->s) + 1;
        p->pos = np;
        lex(p->s, p->n, np, &p->t);
        LEAVE(p, n);
    }
    LEAVE(p, p_primary(p));
}

static gnode *expand_list(P *p, gnode **items, int n, int kind);

/* Elements up to a closing token, separated by ',' or ';', into items. Sets *closer to the
 * closing character (')', ']', '}', or 'S' for \} / \rbrace) and returns the first element,
 * or NULL when the list does not close. */
static gnode *p_items(P *p, glist *items, int *closer) {
    gl_init(items);
    for (;;) {
        if (p->t.kind == TK_END) return fail(p);
        gnode *e = p_element(p);
        if (!e) return NULL;
        if (gl_push(p->c, items, e)) return fail(p);
        if (is_char(p, ',') || is_char(p, ';')) {
            adv(p);
            continue;
        }
        if (p->t.kind == TK_CHAR && (p->t.ch == ')' || p->t.ch == ']' || p->t.ch == '}')) {
            *closer = p->t.ch;
            adv(p);
            return items->v[0];
        }
        if (is_cmd(p, "}") || is_cmd(p, "rangle") || is_cmd(p, "rbrace")) {
            *closer = is_cmd(p, "rangle") ? ')' : 'S';
            adv(p);
            return items->v[0];
        }
        return fail(p);
    }
}

static gnode *p_brace_list(P *p, char close_ch, int close_cmd, int as_set) {
    ENTER(p);
    glist items;
    int closer = 0;
    if ((close_cmd && (is_cmd(p, "}") || is_cmd(p, "rbrace"))) || (!close_cmd && is_char(p, close_ch))) {
        adv(p); /* empty {} or \{\} */
        gnode *e = mk(p, G_UNIVERSE, 0);
        if (e) e->op = GU_EMPTY;
        LEAVE(p, e);
    }
    if (!p_items(p, &items, &closer)) LEAVE(p, NULL);
    if (close_cmd ? closer != 'S' : closer != close_ch) LEAVE(p, fail(p));
    if (items.n == 1 && !close_cmd) {
        if (items.v[0]->kind == G_PM && as_set) LEAVE(p, expand_list(p, items.v, 1, G_SET));
        LEAVE(p, items.v[0]);
    }
    LEAVE(p, expand_list(p, items.v, items.n, G_SET));
}

/* ---- ± expansion: a tree with k ± signs stands for 2^k trees (k <= 3) ---- */

static int count_pm(const gnode *n, int d) {
    if (!n || d > G_MAX_DEPTH) return 0;
    int c = n->kind == G_PM;
    for (int i = 0; i < n->nkid; i++) c += count_pm(n->kid[i], d + 1);
    return c > 8 ? 8 : c;
}

/* Copy of n with the ± signs replaced by + or - according to the bits of mask. */
static gnode *pm_pick(P *p, const gnode *n, unsigned mask, int *idx, int d) {
    if (!n) return NULL;
    if (d > G_MAX_DEPTH) return fail(p);
    if (n->kind == G_PM) {
        int bit = (int)((mask >> (*idx)++) & 1u);
        if (n->op) bit = !bit;
        gnode *a = n->kid[0] ? pm_pick(p, n->kid[0], mask, idx, d + 1) : NULL;
        gnode *b = pm_pick(p, n->kid[1], mask, idx, d + 1);
        if (!b) return NULL;
        if (bit) b = mk1(p, G_NEG, b);
        if (!a) return b;
        return mk2(p, G_ADD, a, b);
    }
    if (n->nkid == 0) return (gnode *)n;
    gnode *m = mk(p, n->kind, n->nkid);
    if (!m) return NULL;
    gnode *kids = m->kid ? (gnode *)m->kid : NULL;
    (void)kids;
    gnode **k = m->kid;
    *m = *n;
    m->kid = k;
    for (int i = 0; i < n->nkid; i++) {
        m->kid[i] = n->kid[i] ? pm_pick(p, n->kid[i], mask, idx, d + 1) : NULL;
        if (n->kid[i] && !m->kid[i]) return NULL;
    }
    return m;
}

/* Build a node of `kind` from items, expanding ± inside each item into several items. */
static gnode *expand_list(P *p, gnode **items, int n, int kind) {
    int total = 0;
    for (int i = 0; i < n; i++) {
        int k = count_pm(items[i], 0);
        if (k > 3) return fail(p);
        total += 1 << k;
    }
    gnode *r = mk(p, kind, total);
    if (!r) return NULL;
    int w = 0;
    for (int i = 0; i < n; i++) {
        int k = count_pm(items[i], 0);
        if (!k) {
            r->kid[w++] = items[i];
            continue;
        }
        for (unsigned m = 0; m < (1u << k); m++) {
            int idx = 0;
            gnode *e = pm_pick(p, items[i], m, &idx, 0);
            if (!e) return NULL;
            r->kid[w++] = e;
        }
    }
    return r;
}

/* ( ... ) or [ ... ]: grouping, interval, or tuple. */
static gnode *p_paren(P *p, char open) {
    ENTER(p);
    adv(p);
    glist il;
    int closer = 0;
    if (!p_items(p, &il, &closer)) LEAVE(p, NULL);
    gnode **items = il.v;
    int ni = il.n;
    if (closer != ')' && closer != ']') LEAVE(p, fail(p));
    if (ni == 1) {
        if (open == '(' && closer == ')') LEAVE(p, items[0]);
        if (open == '[' && closer == ']') LEAVE(p, items[0]);
        LEAVE(p, fail(p));
    }
    if (ni == 2 && count_pm(items[0], 0) == 0 && count_pm(items[1], 0) == 0) {
        gnode *iv = mk2(p, G_INTERVAL, items[0], items[1]);
        if (!iv) LEAVE(p, NULL);
        if (open == '(') iv->flags |= G_LOPEN;
        if (closer == ')') iv->flags |= G_ROPEN;
        LEAVE(p, iv);
    }
    LEAVE(p, expand_list(p, items, ni, G_TUPLE));
}

/* Known functions written as commands. */
static int is_func_name(const char *s, size_t n) {
    return IN_LIST("|sin|cos|tan|sec|csc|cot|arcsin|arccos|arctan|sinh|cosh|tanh|ln|log|exp|lg"
                   "|max|min|gcd|lcm|det|arcsec|arccsc|arccot|coth|sech|csch|deg|sgn|",
                   s, n);
}

static gnode *mk_func(P *p, const char *name, int nargs) {
    gnode *f = mk(p, G_FUNC, nargs);
    if (f) f->name = name;
    return f;
}

/* Argument of \sin-like functions: (a, b) or an implicit product of plain factors. */
static gnode *p_func_arg(P *p, glist *args) {
    if (is_char(p, '(')) {
        adv(p);
        int closer = 0;
        if (!p_items(p, args, &closer)) return NULL;
        if (closer != ')') return fail(p);
        return args->v[0];
    }
    gl_init(args);
    gnode *a = p_power(p);
    while (a && starts_factor(p) && !(p->t.kind == TK_CMD && is_func_name(p->t.s, p->t.n)) &&
           !is_char(p, '(')) {
        a = nary(p, G_MUL, a, p_power(p));
    }
    if (!a || gl_push(p->c, args, a)) return fail(p);
    return a;
}

/* \sin^2 x, \sin^{-1} x, \log_2 8, \ln(x), \max(a,b) */
static gnode *p_function(P *p, const char *name) {
    ENTER(p);
    gnode *power = NULL, *base = NULL;
    int inverse = 0;
    for (int k = 0; k < 2; k++) {
        if (is_char(p, '^')) {
            adv(p);
            power = p_script(p);
            if (!power) LEAVE(p, NULL);
            if (power->kind == G_NEG && power->kid[0]->kind == G_NUM && power->kid[0]->dval == 1) {
                inverse = 1;
                power = NULL;
            }
        } else if (is_char(p, '_')) {
            adv(p);
            base = p_script(p);
            if (!base) LEAVE(p, NULL);
        }
    }
    glist al;
    int trig = IN_LIST("|sin|cos|tan|sec|csc|cot|", name, strlen(name));
    p->trig += trig;
    gnode *arg0 = p_func_arg(p, &al);
    p->trig -= trig;
    if (!arg0) LEAVE(p, NULL);
    gnode **args = al.v;
    int na = al.n;
    char nm[16];
    snprintf(nm, sizeof nm, "%s%s", inverse ? "arc" : "", name);
    if (!strcmp(nm, "lg")) {
        snprintf(nm, sizeof nm, "log");
        if (!base) base = mk_int(p, 10);
    }
    const char *fname = ga_strndup(p->c->a, nm, strlen(nm));
    gnode *f;
    if (!strcmp(nm, "log") && base) {
        f = mk_func(p, fname, 2);
        if (!f) LEAVE(p, NULL);
        f->kid[0] = args[0];
        f->kid[1] = base;
    } else {
        f = mk_func(p, fname, na);
        if (!f) LEAVE(p, NULL);
        memcpy(f->kid, args, sizeof(gnode *) * (size_t)na);
    }
    if (power) f = mk2(p, G_POW, f, power);
    LEAVE(p, f);
}

/* Skip the word before a condition: "\text{if }", "if", "for", "when". */
static void skip_if_word(P *p) {
    static const char *const w[] = {"if", "for", "when", "where", NULL};
    if (p->t.kind != TK_TEXT && p->t.kind != TK_WORD) return;
    const char *s = p->t.s;
    size_t n = p->t.n;
    while (n && s[0] == ' ') s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == ',')) n--;
    for (int i = 0; w[i]; i++)
        if (n == strlen(w[i]) && !memcmp(s, w[i], n)) {
            adv(p);
            return;
        }
}

/* \begin{cases} rows \end{cases}: a system ("x = 1 \\ y = 2") is the set of its rows; a
 * piecewise definition ("x & x > 0 \\ -x & \text{otherwise}") the set of (value, condition)
 * pairs. */
static gnode *p_cases(P *p) {
    ENTER(p);
    adv(p);
    glist rows;
    gl_init(&rows);
    for (;;) {
        if (p->t.kind == TK_ENDENV) {
            adv(p);
            break;
        }
        if (p->t.kind == TK_END) LEAVE(p, fail(p));
        gnode *v = p_element(p);
        if (!v) LEAVE(p, fail(p));
        if (is_char(p, '&')) {
            adv(p);
            skip_if_word(p);
            gnode *cond = p_element(p);
            v = mk2(p, G_TUPLE, v, cond);
        }
        if (!v || gl_push(p->c, &rows, v)) LEAVE(p, fail(p));
        if (p->t.kind == TK_ROWSEP) {
            adv(p);
            continue;
        }
        if (is_char(p, ',') || is_char(p, ';')) adv(p); /* "x = 1, \\" */
        if (p->t.kind == TK_ROWSEP) adv(p);
        else if (p->t.kind != TK_ENDENV) LEAVE(p, fail(p));
    }
    if (rows.n == 0) LEAVE(p, fail(p));
    gnode *set = mk(p, G_SET, rows.n);
    if (set) memcpy(set->kid, rows.v, sizeof(gnode *) * (size_t)rows.n);
    LEAVE(p, set);
}

/* \begin{pmatrix} a & b \\ c & d \end{pmatrix} */
static gnode *p_matrix(P *p) {
    ENTER(p);
    if (tok_is(&p->t, "cases") || tok_is(&p->t, "dcases") || tok_is(&p->t, "rcases")) {
        gnode *c = p_cases(p);
        LEAVE(p, c);
    }
    static const char *const envs[] = {"pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "Vmatrix",
                                       "smallmatrix", "array", NULL};
    int ok = 0;
    for (int i = 0; envs[i]; i++)
        if (tok_is(&p->t, envs[i])) ok = 1;
    if (!ok) LEAVE(p, fail(p));
    adv(p);
    glist cells;
    gl_init(&cells);
    int rows = 0, cols = -1, c = 0;
    for (;;) {
        if (p->t.kind == TK_ENDENV) {
            adv(p);
            if (c > 0) {
                if (cols >= 0 && c != cols) LEAVE(p, fail(p));
                cols = c;
                rows++;
            }
            break;
        }
        if (p->t.kind == TK_END) LEAVE(p, fail(p));
        gnode *e = p_element(p);
        if (!e || gl_push(p->c, &cells, e)) LEAVE(p, fail(p));
        c++;
        if (is_char(p, '&')) {
            adv(p);
            continue;
        }
        if (p->t.kind == TK_ROWSEP) {
            adv(p);
            if (cols >= 0 && c != cols) LEAVE(p, fail(p));
            cols = c;
            rows++;
            c = 0;
            continue;
        }
        if (p->t.kind != TK_ENDENV) LEAVE(p, fail(p));
    }
    int nc = cells.n;
    if (rows == 0 || cols <= 0 || (long)rows * cols != nc) LEAVE(p, fail(p));
    gnode *m = mk(p, G_MATRIX, nc);
    if (!m) LEAVE(p, NULL);
    memcpy(m->kid, cells.v, sizeof(gnode *) * (size_t)nc);
    m->rows = rows;
    m->cols = cols;
    LEAVE(p, m);
}

/* Symbol from one letter, with optional subscript and primes; f(x) becomes a function. */
static gnode *p_letter(P *p, const char *s) {
    char c = *s;
    size_t after = (size_t)(s - p->s) + 1;
    p->pos = after;
    lex(p->s, p->n, after, &p->t);
    char name[96];
    size_t w = 0;
    name[w++] = (char)tolower((unsigned char)c);
    int plain = 1;
    if (is_char(p, '_')) {
        plain = 0;
        size_t i = skip_space(p->s, p->n, p->t.end);
        name[w++] = '_';
        if (i < p->n && p->s[i] == '{') {
            size_t e = brace_end(p->s, p->n, i);
            if (!e) return fail(p);
            for (size_t k = i + 1; k + 1 < e; k++)
                if (!isspace((unsigned char)p->s[k]) && w < sizeof name - 4)
                    name[w++] = (char)tolower((unsigned char)p->s[k]);
            after = e;
        } else if (i < p->n) {
            if (p->s[i] == '\\') {
                size_t k = i + 1;
                while (k < p->n && isalpha((unsigned char)p->s[k])) k++;
                if (k == i + 1) k++;
                for (size_t m = i; m < k && w < sizeof name - 4; m++) name[w++] = p->s[m];
                after = k;
            } else {
                name[w++] = (char)tolower((unsigned char)p->s[i]);
                after = i + 1;
            }
        } else {
            return fail(p);
        }
        p->pos = after;
        lex(p->s, p->n, after, &p->t);
    }
    while (is_char(p, '\'') || is_cmd(p, "prime")) {
        plain = 0;
        if (w < sizeof name - 2) name[w++] = '\'';
        adv(p);
    }
    if (is_char(p, '^') && 0) plain = 0;
    name[w] = 0;
    /* undefined function f(x): a letter then "(" one atom ")" */
    if (is_char(p, '(') && c != 'e') {
        size_t pos = p->pos;
        tok save = p->t;
        int nodes = p->c->nodes;
        adv(p);
        if (p->t.kind == TK_WORD || p->t.kind == TK_NUM) {
            tok inner = p->t;
            adv(p);
            if (is_char(p, ')') && (inner.kind == TK_NUM || inner.n == 1)) {
                adv(p);
                gnode *arg = inner.kind == TK_NUM ? mk_number(p, inner.s, inner.n, 0) : mk(p, G_SYM, 0);
                if (!arg) return NULL;
                if (inner.kind == TK_WORD) arg->name = lower_dup(p, inner.s, 1);
                gnode *f = mk_func(p, NULL, 1);
                if (!f) return NULL;
                f->name = ga_strndup(p->c->a, name, w);
                f->op = 1; /* undefined function */
                f->kid[0] = arg;
                return f;
            }
        }
        p->pos = pos;
        p->t = save;
        p->c->nodes = nodes;
    }
    if (plain && c == 'e') return mk_const(p, GC_E);
    if (plain && c == 'i') return mk_const(p, GC_I);
    gnode *n = mk(p, G_SYM, 0);
    if (n) n->name = ga_strndup(p->c->a, name, w);
    return n;
}

/* A run of letters: a function word (sqrt, sin, ...), infinity, or a product of letters. */
static gnode *p_word(P *p) {
    const char *s = p->t.s;
    size_t n = p->t.n;
    if (n == 1) return p_letter(p, s);
    if ((n == 8 && !memcmp(s, "infinity", 8)) || (n == 3 && !memcmp(s, "inf", 3)) ||
        (n == 3 && !memcmp(s, "oo", 2) && 0)) {
        adv(p);
        return mk_const(p, GC_INF);
    }
    if (n == 4 && !memcmp(s, "sqrt", 4)) {
        adv(p);
        gnode *a = is_char(p, '(') ? p_primary(p) : p_arg(p);
        gnode *f = mk_func(p, "sqrt", 1);
        if (!f || !a) return fail(p);
        f->kid[0] = a;
        return f;
    }
    if (is_func_name(s, n) && n >= 2) {
        char *nm = lower_dup(p, s, n);
        adv(p);
        if (!nm) return NULL;
        return p_function(p, nm);
    }
    if (n > 64) return fail(p);
    /* product of letters; the last one keeps its subscripts / function call */
    gnode *m = mk(p, G_MUL, (int)n);
    if (!m) return NULL;
    char *word = lower_dup(p, s, n);
    if (!word) return NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        gnode *l;
        if (s[i] == 'e') l = mk_const(p, GC_E);
        else if (s[i] == 'i') l = mk_const(p, GC_I);
        else {
            l = mk(p, G_SYM, 0);
            if (l) l->name = lower_dup(p, s + i, 1);
        }
        if (!l) return NULL;
        m->kid[i] = l;
    }
    gnode *last = p_letter(p, s + n - 1);
    if (!last) return NULL;
    m->kid[n - 1] = last;
    m->name = word;
    return m;
}

static int text_is_number(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    if (i < n && s[i] == '-') i++;
    size_t d = i;
    while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.')) i++;
    while (i < n && s[i] == ' ') i++;
    return i == n && i > d;
}

/* A G_TIME node for the time of day at s[0..n) (whole, as gtime_scan reads it), or NULL. */
static gnode *mk_time(P *p, const char *s, size_t n) {
    gtime tm;
    size_t i = 0;
    while (i < n && s[i] == ' ') i++;
    size_t e = gtime_scan(s, n, i, &tm);
    while (e && e < n && (s[e] == ' ' || s[e] == '.')) e++;
    if (!e || e != n) return NULL;
    gnode *t = mk(p, G_TIME, 0);
    if (!t) return NULL;
    int h = tm.marker ? tm.h % 12 + (tm.marker == GT_PM ? 12 : 0) : tm.h;
    t->base = h * 3600 + tm.m * 60 + tm.s;
    t->op = (int16_t)tm.marker;
    if (tm.secs) t->flags |= G_SECS;
    /* as written, without the clock: 3:05 is 3/05 (a ratio), 3 pm is 3 */
    t->num = !tm.colon ? gr_make(tm.h, 1) : !tm.secs && tm.m ? gr_make(tm.h, tm.m) : gr_bad();
    t->dval = t->num.ok ? gr_double(t->num) : 0;
    return t;
}

/* \text{...}: a number, a time, a letter (\mathrm e), or a text atom (letters and digits,
 * lowercased) */
static gnode *p_text(P *p) {
    tok t = p->t;
    adv(p);
    if (t.n && t.n < 40 && isdigit((unsigned char)t.s[strspn(t.s, " ")])) { /* \text{3:05 p.m.} */
        gnode *tm = mk_time(p, t.s, t.n);
        if (tm) return tm;
    }
    if (t.ch == 'o') { /* \operatorname{lcm}(..) */
        char *nm = lower_dup(p, t.s, t.n);
        if (!nm) return NULL;
        if (is_func_name(nm, t.n)) return p_function(p, nm);
        gnode *x = mk(p, G_SYM, 0);
        if (x) x->name = nm;
        return x;
    }
    if (text_is_number(t.s, t.n)) {
        size_t i = 0;
        while (t.s[i] == ' ') i++;
        int neg = t.s[i] == '-';
        if (neg) i++;
        size_t j = i;
        while (j < t.n && t.s[j] != ' ') j++;
        gnode *num = mk_number(p, t.s + i, j - i, 0);
        return neg ? mk1(p, G_NEG, num) : num;
    }
    if (t.ch == 'r' && t.n == 1 && isalpha((unsigned char)t.s[0])) {
        if (t.s[0] == 'e') return mk_const(p, GC_E);
        if (t.s[0] == 'i') return mk_const(p, GC_I);
        gnode *x = mk(p, G_SYM, 0);
        if (x) x->name = lower_dup(p, t.s, 1);
        return x;
    }
    char buf[256];
    size_t w = 0;
    for (size_t i = 0; i < t.n && w < sizeof buf - 1; i++) {
        unsigned char c = (unsigned char)t.s[i];
        if (c == '\\') { /* commands inside text (\left, \,) are not letters of it */
            while (i + 1 < t.n && isalpha((unsigned char)t.s[i + 1])) i++;
            continue;
        }
        if (isalnum(c) || c >= 0x80) buf[w++] = (char)tolower(c);
    }
    if (w == 0) return fail(p);
    gnode *x = mk(p, G_TEXT, 0);
    if (x) x->name = ga_strndup(p->c->a, buf, w);
    return x;
}

/* primary (see the grammar at the top) */
static gnode *p_primary(P *p) {
    ENTER(p);
    tok t = p->t;
    switch (t.kind) {
    case TK_TIME: {
        adv(p);
        gnode *tm = mk_time(p, t.s, t.n);
        LEAVE(p, tm ? tm : fail(p));
    }
    case TK_NUM: {
        adv(p);
        gnode *n;
        if (t.ch == 's') { /* 1\,000 */
            char *buf = ga_alloc(p->c->a, t.n + 1);
            if (!buf) LEAVE(p, fail(p));
            size_t w = 0;
            for (size_t i = 0; i < t.n; i++)
                if (isdigit((unsigned char)t.s[i])) buf[w++] = t.s[i];
            n = mk_number(p, buf, w, 0);
        } else {
            n = mk_number(p, t.s, t.n, 0);
        }
        if (n && is_char(p, '_')) { /* base subscript 204_5, 52_{8} */
            size_t i = skip_space(p->s, p->n, p->t.end);
            size_t e = i;
            int b = 0;
            if (i < p->n && p->s[i] == '{') {
                e = brace_end(p->s, p->n, i);
                if (!e) LEAVE(p, fail(p));
                for (size_t k = i + 1; k + 1 < e; k++)
                    if (isdigit((unsigned char)p->s[k]) && b < 1000) b = b * 10 + (p->s[k] - '0');
            } else if (i < p->n && isdigit((unsigned char)p->s[i])) {
                b = p->s[i] - '0';
                e = i + 1;
            } else {
                LEAVE(p, fail(p));
            }
            n->base = b;
            p->pos = e;
            lex(p->s, p->n, e, &p->t);
        }
        LEAVE(p, n);
    }
    case TK_WORD: LEAVE(p, p_word(p));
    case TK_TEXT: LEAVE(p, p_text(p));
    case TK_BEGIN: LEAVE(p, p_matrix(p));
    case TK_CHAR:
        if (t.ch == '(' || t.ch == '[') LEAVE(p, p_paren(p, t.ch));
        if (t.ch == '{') {
            adv(p);
            LEAVE(p, p_brace_list(p, '}', 0, 1));
        }
        if (t.ch == '|') {
            adv(p);
            p->absdepth++;
            gnode *a = p_sum(p);
            p->absdepth--;
            if (!a || !is_char(p, '|')) LEAVE(p, fail(p));
            adv(p);
            gnode *f = mk_func(p, "abs", 1);
            if (!f) LEAVE(p, NULL);
            f->kid[0] = a;
            LEAVE(p, f);
        }
        LEAVE(p, fail(p));
    case TK_CMD: break;
    default: LEAVE(p, fail(p));
    }
    /* commands */
    if (is_cmd(p, "frac") || is_cmd(p, "dfrac") || is_cmd(p, "tfrac") || is_cmd(p, "cfrac")) {
        adv(p);
        gnode *a = p_arg(p);
        gnode *b = a ? p_arg(p) : NULL;
        gnode *d = mk2(p, G_DIV, a, b);
        if (d) d->op = 1; /* written as a fraction */
        LEAVE(p, d);
    }
    if (is_cmd(p, "sqrt")) {
        adv(p);
        gnode *idx = NULL;
        if (is_char(p, '[')) {
            adv(p);
            idx = p_sum(p);
            if (!idx || !is_char(p, ']')) LEAVE(p, fail(p));
            adv(p);
        }
        gnode *a = p_arg(p);
        if (!a) LEAVE(p, NULL);
        if (idx) LEAVE(p, mk2(p, G_POW, a, mk2(p, G_DIV, mk_int(p, 1), idx)));
        gnode *f = mk_func(p, "sqrt", 1);
        if (!f) LEAVE(p, NULL);
        f->kid[0] = a;
        LEAVE(p, f);
    }
    if (is_cmd(p, "binom") || is_cmd(p, "dbinom") || is_cmd(p, "tbinom")) {
        adv(p);
        gnode *a = p_arg(p);
        gnode *b = a ? p_arg(p) : NULL;
        if (!b) LEAVE(p, fail(p));
        gnode *f = mk_func(p, "binom", 2);
        if (!f) LEAVE(p, NULL);
        f->kid[0] = a;
        f->kid[1] = b;
        LEAVE(p, f);
    }
    if (p->t.n < 16 && is_func_name(p->t.s, p->t.n)) {
        char *nm = lower_dup(p, p->t.s, p->t.n);
        adv(p);
        if (!nm) LEAVE(p, NULL);
        LEAVE(p, p_function(p, nm));
    }
    if (is_cmd(p, "pi")) {
        adv(p);
        LEAVE(p, mk_const(p, GC_PI));
    }
    if (is_cmd(p, "infty") || is_cmd(p, "infin")) {
        adv(p);
        LEAVE(p, mk_const(p, GC_INF));
    }
    if (is_cmd(p, "imath")) {
        adv(p);
        LEAVE(p, mk_const(p, GC_I));
    }
    if (is_cmd(p, "emptyset") || is_cmd(p, "varnothing") || is_cmd(p, "O")) {
        adv(p);
        gnode *e = mk(p, G_UNIVERSE, 0);
        if (e) e->op = GU_EMPTY;
        LEAVE(p, e);
    }
    if (is_cmd(p, "mathbb") || is_cmd(p, "Bbb")) {
        adv(p);
        char ch = 0;
        if (is_char(p, '{')) {
            adv(p);
            if (p->t.kind == TK_WORD) ch = p->t.s[0];
            adv(p);
            if (!is_char(p, '}')) LEAVE(p, fail(p));
            adv(p);
        } else if (p->t.kind == TK_WORD && p->t.n == 1) {
            ch = p->t.s[0];
            adv(p);
        }
        int op = ch == 'R' ? GU_REALS : ch == 'Z' ? GU_INTEGERS : ch == 'N' ? GU_NATURALS
                 : ch == 'Q' ? GU_RATIONALS : ch == 'C' ? GU_COMPLEX : 0;
        if (!op) LEAVE(p, fail(p));
        gnode *e = mk(p, G_UNIVERSE, 0);
        if (e) e->op = (int16_t)op;
        LEAVE(p, e);
    }
    if (is_cmd(p, "{") || is_cmd(p, "lbrace")) {
        adv(p);
        LEAVE(p, p_brace_list(p, 0, 1, 1));
    }
    if (is_cmd(p, "langle")) LEAVE(p, p_paren(p, '('));
    if (is_cmd(p, "lfloor") || is_cmd(p, "lceil")) {
        int fl = is_cmd(p, "lfloor");
        adv(p);
        gnode *a = p_sum(p);
        if (!a || !is_cmd(p, fl ? "rfloor" : "rceil")) LEAVE(p, fail(p));
        adv(p);
        gnode *f = mk_func(p, fl ? "floor" : "ceil", 1);
        if (!f) LEAVE(p, NULL);
        f->kid[0] = a;
        LEAVE(p, f);
    }
    if (is_cmd(p, "lvert") || is_cmd(p, "|") || is_cmd(p, "Vert") || is_cmd(p, "lVert")) {
        const char *close = is_cmd(p, "lvert") ? "rvert" : is_cmd(p, "lVert") ? "rVert" : p->t.s[0] == '|' ? "|" : "Vert";
        adv(p);
        gnode *a = p_sum(p);
        if (!a || !is_cmd(p, close)) LEAVE(p, fail(p));
        adv(p);
        gnode *f = mk_func(p, "abs", 1);
        if (!f) LEAVE(p, NULL);
        f->kid[0] = a;
        LEAVE(p, f);
    }
    if (is_cmd(p, "boxed") || is_cmd(p, "fbox") || is_cmd(p, "overline") || is_cmd(p, "underline") ||
        is_cmd(p, "hat") || is_cmd(p, "vec") || is_cmd(p, "bar") || is_cmd(p, "widehat") ||
        is_cmd(p, "overrightarrow") || is_cmd(p, "tilde") || is_cmd(p, "dot")) {
        adv(p);
        LEAVE(p, p_arg(p));
    }
    if (is_cmd(p, "sum") || is_cmd(p, "prod")) {
        int prod = is_cmd(p, "prod");
        adv(p);
        gnode *lo = NULL, *hi = NULL;
        const char *var = NULL;
        for (int k = 0; k < 2; k++) {
            if (is_char(p, '_')) {
                adv(p);
                if (!is_char(p, '{')) LEAVE(p, fail(p));
                adv(p);
                if (p->t.kind != TK_WORD || p->t.n != 1) LEAVE(p, fail(p));
                var = lower_dup(p, p->t.s, 1);
                adv(p);
                if (!is_char(p, '=')) LEAVE(p, fail(p));
                adv(p);
                lo = p_sum(p);
                if (!lo || !is_char(p, '}')) LEAVE(p, fail(p));
                adv(p);
            } else if (is_char(p, '^')) {
                adv(p);
                hi = p_script(p);
                if (!hi) LEAVE(p, NULL);
            }
        }
        if (!lo || !hi || !var) LEAVE(p, fail(p));
        gnode *body = p_product(p);
        if (!body) LEAVE(p, NULL);
        gnode *s = mk(p, G_SUM, 3);
        if (!s) LEAVE(p, NULL);
        s->name = var;
        s->op = (int16_t)prod;
        s->kid[0] = lo;
        s->kid[1] = hi;
        s->kid[2] = body;
        LEAVE(p, s);
    }
    /* Greek letters and other named symbols become variables */
    static const char *const greek[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon",
                                        "zeta", "eta", "theta", "vartheta", "iota", "kappa",
                                        "lambda", "mu", "nu", "xi", "rho", "sigma", "tau",
                                        "upsilon", "phi", "varphi", "chi", "psi", "omega",
                                        "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
                                        "Upsilon", "Phi", "Psi", "Omega", "ell", NULL};
    int maybe_greek = IN_LIST("|alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota"
                              "|kappa|lambda|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega"
                              "|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Upsilon|Phi|Psi|Omega|ell|",
                              p->t.s, p->t.n);
    for (int i = 0; maybe_greek && greek[i]; i++) {
        if (tok_is(&p->t, greek[i])) {
            gnode *x = mk(p, G_SYM, 0);
            if (x) x->name = ga_strndup(p->c->a, greek[i], strlen(greek[i]));
            adv(p);
            if (x && is_char(p, '_')) { /* \theta_1 */
                adv(p);
                gnode *sub = p_script(p);
                if (!sub) LEAVE(p, NULL);
                char nm[64];
                snprintf(nm, sizeof nm, "%s_%s", greek[i], sub->kind == G_NUM ? "n" : sub->name ? sub->name : "x");
                if (sub->kind == G_NUM) snprintf(nm, sizeof nm, "%s_%.0f", greek[i], sub->dval);
                x->name = ga_strndup(p->c->a, nm, strlen(nm));
            }
            LEAVE(p, x);
        }
    }
    LEAVE(p, fail(p));
}

/* ---- answer level ---- */

/* ^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$ : a number with thousands commas */
static int is_comma_number(const char *s) {
    while (*s == ' ') s++;
    if (*s == '-') s++;
    int d = 0;
    while (isdigit((unsigned char)*s)) s++, d++;
    if (d < 1 || d > 3 || *s != ',') return 0;
    int groups = 0;
    while (*s == ',') {
        s++;
        int k = 0;
        while (isdigit((unsigned char)s[k])) k++;
        if (k != 3) return 0;
        s += 3;
        groups++;
    }
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) return 0;
        while (isdigit((unsigned char)*s)) s++;
    }
    while (*s == ' ') s++;
    return *s == 0 && groups > 0;
}

/* The whole grammar of an answer (see the top of the file); NULL when it does not parse. */
static gnode *parse_all(gctx *c, const char *s, size_t n) {
    P p = {.c = c, .s = s, .n = n};
    if (is_comma_number(s)) {
        const char *q = s;
        while (*q == ' ') q++;
        int neg = *q == '-';
        if (neg) q++;
        int lead0 = *q == '0';
        char *buf = ga_alloc(c->a, n + 1);
        if (!buf) return NULL;
        size_t w = 0;
        for (; *q; q++)
            if (isdigit((unsigned char)*q) || *q == '.' || (*q == ',' && lead0)) buf[w++] = *q == ',' ? '.' : *q;
        gnode *num = mk_number(&p, buf, w, 0);
        return neg ? mk1(&p, G_NEG, num) : num;
    }
    lex(s, n, 0, &p.t);
    glist il;
    gl_init(&il);
    int *gstart = NULL, ng = 0, gcap = 0; /* start index of each ';' group, then the end */
    for (;;) {
        gnode *e = p_element(&p);
        if (!e || p.err || gl_push(c, &il, e)) return NULL;
        if (is_char(&p, ',')) {
            adv(&p);
            continue;
        }
        int semi = is_char(&p, ';');
        if (ng + 2 > gcap) {
            int nc = gcap ? gcap * 2 : 8;
            int *g = ga_alloc(c->a, sizeof(int) * (size_t)nc);
            if (!g) return NULL;
            if (ng) memcpy(g, gstart, sizeof(int) * (size_t)(ng + 1));
            else g[0] = 0;
            gstart = g;
            gcap = nc;
        }
        gstart[++ng] = il.n;
        if (!semi) break;
        adv(&p);
    }
    if (p.t.kind != TK_END) return NULL;
    gnode **items = il.v;
    int ni = il.n;
    /* "a = 4, -8, -10": an assignment of the whole list */
    if (ng == 1 && ni > 1 && items[0]->kind == G_REL && items[0]->nkid == 2 &&
        items[0]->rel[0] == GR_EQ && gonly_symbols(items[0]->kid[0], 0)) {
        int rels = 0;
        for (int i = 1; i < ni; i++) rels += items[i]->kind == G_REL;
        if (!rels) {
            gnode **rest = ga_alloc(c->a, sizeof(gnode *) * (size_t)ni);
            if (!rest) return NULL;
            rest[0] = items[0]->kid[1];
            for (int i = 1; i < ni; i++) rest[i] = items[i];
            gnode *set = expand_list(&p, rest, ni, G_SET);
            gnode *r = mk2(&p, G_REL, items[0]->kid[0], set);
            if (!r) return NULL;
            r->rel = items[0]->rel;
            return p.err ? NULL : r;
        }
    }
    gnode *out;
    if (ng == 1) {
        if (ni == 1 && count_pm(items[0], 0) == 0) out = items[0];
        else out = expand_list(&p, items, ni, G_SET);
    } else {
        int all1 = 1;
        for (int g = 0; g < ng; g++) all1 &= gstart[g + 1] - gstart[g] == 1;
        if (all1) {
            out = expand_list(&p, items, ni, G_SET);
        } else {
            out = mk(&p, G_SET, ng);
            for (int g = 0; out && g < ng; g++) {
                int k = gstart[g + 1] - gstart[g];
                gnode *tp = k == 1 ? items[gstart[g]] : expand_list(&p, items + gstart[g], k, G_TUPLE);
                if (!tp) return NULL;
                out->kid[g] = tp;
            }
        }
    }
    return p.err ? NULL : out;
}

/* Deepest bracket nesting of s: ( [ { and their \left / \{ forms (closers undo one level). */
static int bracket_depth(const char *s, size_t n) {
    int d = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '(' || c == '[' || c == '{') {
            if (++d > max) max = d;
        } else if ((c == ')' || c == ']' || c == '}') && d > 0) {
            d--;
        }
    }
    return max;
}

/* 1 when no path of the tree is longer than G_MAX_TREE levels (so every tree walk, bounded
 * by G_MAX_DEPTH, sees the whole tree). */
static int tree_fits(const gnode *n, int d) {
    if (!n) return 1;
    if (d > G_MAX_TREE) return 0;
    for (int i = 0; i < n->nkid; i++)
        if (!tree_fits(n->kid[i], d + 1)) return 0;
    return 1;
}

/* Parse cleaned LaTeX into a tree; NULL when it does not parse. An answer past a limit
 * (length, bracket nesting, tree depth, nodes, memory) is not parsed at all and sets
 * c->limit_hit: no part of it stands for the whole. */
gnode *gparse(gctx *c, const char *s) {
    size_t n = strlen(s);
    if (n == 0) return NULL;
    if (n > G_MAX_ANSWER || bracket_depth(s, n) > G_MAX_NEST) {
        c->limit_hit = 1;
        return NULL;
    }
    int nodes = c->nodes;
    c->depth_hit = 0;
    gnode *t = parse_all(c, s, n);
    if (t && !tree_fits(t, 0)) {
        c->limit_hit = 1;
        t = NULL;
    }
    if (!t && (c->nodes > G_MAX_NODES || c->a->failed || c->depth_hit)) c->limit_hit = 1;
    if (!t) c->nodes = nodes; /* a failed parse gives its node budget back */
    return t;
}

/* Parse; when that fails and the answer is an "a = b = c" chain without ',' or ';', parse
 * only the part after the last '=' (Math-Verify does the same). */
gnode *gparse_answer(gctx *c, const char *s) {
    c->limit_hit = 0;
    gnode *t = gparse(c, s);
    if (t || c->limit_hit) return t;
    if (strchr(s, ',') || strchr(s, ';')) return NULL;
    const char *last = NULL;
    int parts = 1;
    for (const char *q = s; *q; q++) {
        if (*q == '=' && (q == s || (q[-1] != '\\' && q[-1] != '<' && q[-1] != '>' && q[-1] != '!'))) {
            parts++;
            last = q + 1;
        }
    }
    if (parts > 2 && last) return gparse(c, last);
    return NULL;
}
