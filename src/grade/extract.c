/* extract.c — find the final answer in a model's text.
 *
 * Candidates are collected, ranked in priority tiers, and tried in order; the first that
 * parses is the answer (the same scheme as Math-Verify's parse(), written as a scanner
 * instead of regular expressions). Tiers, strongest first:
 *
 *   0    "final answer is <math> . I hope"     and \boxed{} (boxed_priority 0, the default)
 *   50   "final answer ... is <math>"          (and \boxed{} when boxed_priority is 50)
 *   100  "answer: ... <math>"                  (math starting within 50 characters)
 *   200  "answer ... <math>"
 *   300  any math anywhere
 *
 * where <math> is a LaTeX environment — $..$ and \(..\) on one line, $$..$$ and \[..\] over
 * lines, " [..] " with spaces around, a bare \frac{1}{2} — or a chain of up to six joined
 * by "," / "and" / "or" (read as a set), optionally followed by a percent sign; or, with
 * match_expr, a plain number (1,234.5 / 1 000 / 3,14 / .5, after a space, "=" or a
 * currency sign, with a percent) or a digits-and-operators expression like 2/3 or 3*(4+1).
 * Within a tier the candidate that ends last wins (the final answer usually comes last).
 * \boxed{} takes the last box, joined with boxes just before it when only "and", "or", ","
 * or a few characters separate them ("\boxed{1} and \boxed{2}" is "1,2").
 *
 * <think>...</think> is skipped (the text after the last </think> is read). When the gold
 * answer is a multiple-choice letter, a letter is looked for instead (choice.c). When nothing parses, the
 * first candidate's text is returned unparsed, and compared as a string. */
#include "grade_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ASCII classes (the C locale's, without a function call per character) */
#define SP(c) ((c) == ' ' || (c) == '\n' || (c) == '\t' || (c) == '\r' || (c) == '\f' || (c) == '\v')
#define DIG(c) ((unsigned char)((c) - '0') < 10)
#define ALPHA(c) ((unsigned char)(((c) | 32) - 'a') < 26)

typedef struct cand {
    int prio;
    size_t start, end;
    size_t vs;   /* where the value itself starts (start is the anchor's, "final answer") */
    char *str;   /* normalised answer text (arena), made lazily for env and box candidates */
    int boxed;   /* comes from the \boxed{} path: str is made from the span start..end */
    int ek, el;  /* env chain ek..el when >= 0 (str made from it when first needed) */
} cand;

typedef struct env {
    size_t start, end;    /* whole match, percent included */
    size_t cs, ce;        /* content */
    int pct;
} env;

/* An answer anchor: the word's start and end; en: the English "answer" (which "final" may
 * precede and whose colon must follow at once, as Math-Verify reads it). */
typedef struct anchor {
    size_t pos, end;
    int en;
} anchor;

typedef struct ex {
    gctx *c;
    const char *s;
    size_t n;
    anchor ans[64];  /* answer anchors ("answer", "答案", "Réponse", ...), the last 64 */
    int nans;
    env *envs;
    int nenv;
    cand *cands;
    int ncand, capcand;
} ex;

/* Does s[i..] start with the lowercase word w, ignoring case? */
static int ieq_at(const char *s, size_t n, size_t i, const char *w) {
    for (size_t k = 0; w[k]; k++) {
        if (i + k >= n) return 0;
        char c = s[i + k];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != w[k]) return 0;
    }
    return 1;
}

/* Percent marker right after position i (spaces allowed); returns its end or 0. */
static size_t percent_after(const char *s, size_t n, size_t i) {
    size_t k = i;
    while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
    if (k + 1 < n && s[k] == '\\' && s[k + 1] == '%') return k + 2;
    if (k < n && s[k] == '%') return k + 1;
    if (ieq_at(s, n, k, "percentage")) return k + 10;
    if (ieq_at(s, n, k, "percent")) return k + 7;
    if (ieq_at(s, n, k, "pct") && !(k + 3 < n && ALPHA(s[k + 3]))) return k + 3;
    return 0;
}

static int escaped(const char *s, size_t i) { return i > 0 && s[i - 1] == '\\'; }

/* Scan every math environment, left to right, non-overlapping. */
static void scan_envs(ex *x) {
    const char *s = x->s;
    size_t n = x->n;
    int cap = 0;
    for (size_t i = 0; i < n;) {
        size_t cs = 0, ce = 0, end = 0;
        if (s[i] == '$' && !escaped(s, i) && i + 1 < n && s[i + 1] == '$') {
            for (size_t k = i + 2; k + 1 < n; k++)
                if (s[k] == '$' && s[k + 1] == '$' && !escaped(s, k)) {
                    if (k > i + 2) {
                        cs = i + 2;
                        ce = k;
                        end = k + 2;
                    }
                    break;
                }
        }
        if (!end && s[i] == '\\' && i + 1 < n && s[i + 1] == '[' && !escaped(s, i)) {
            for (size_t k = i + 2; k + 1 < n; k++)
                if (s[k] == '\\' && s[k + 1] == ']') {
                    if (k > i + 2) {
                        cs = i + 2;
                        ce = k;
                        end = k + 2;
                    }
                    break;
                }
        }
        if (!end && s[i] == '$' && !escaped(s, i) && !(i > 0 && DIG(s[i - 1]))) {
            for (size_t k = i + 1; k < n; k++) {
                if (s[k] == '\n') break;
                if (s[k] == '\\' && k + 1 < n && s[k + 1] == '$') {
                    k++;
                    continue;
                }
                if (s[k] == '$') {
                    if (k > i + 1 && !escaped(s, k)) {
                        cs = i + 1;
                        ce = k;
                        end = k + 1;
                    }
                    break;
                }
            }
        }
        if (!end && s[i] == '\\' && i + 1 < n && s[i + 1] == '(' && !escaped(s, i)) {
            for (size_t k = i + 2; k + 1 < n; k++) {
                if (s[k] == '\n') break;
                if (s[k] == '\\' && s[k + 1] == ')') {
                    if (k > i + 2) {
                        cs = i + 2;
                        ce = k;
                        end = k + 2;
                    }
                    break;
                }
            }
        }
        if (!end && SP(s[i]) && i + 1 < n && s[i + 1] == '[') {
            for (size_t k = i + 2; k < n; k++) {
                if (s[k] == '\n' || s[k] == '[') break;
                if (s[k] == ']') {
                    if (k > i + 2 && k + 1 < n && SP(s[k + 1])) {
                        cs = i + 2;
                        ce = k;
                        end = k + 2;
                    }
                    break;
                }
            }
        }
        if (!end && s[i] == '\\' && i + 5 < n && memcmp(s + i, "\\frac{", 6) == 0) {
            /* bare \frac{number}{number} */
            size_t k = i + 6, a = k;
            if (k < n && s[k] == '-') k++;
            while (k < n && (DIG(s[k]) || s[k] == '.' || s[k] == ',')) k++;
            if (k > a && k + 1 < n && s[k] == '}' && s[k + 1] == '{') {
                size_t b = k + 2, m = b;
                if (m < n && s[m] == '-') m++;
                while (m < n && (DIG(s[m]) || s[m] == '.' || s[m] == ',')) m++;
                if (m > b && m < n && s[m] == '}') {
                    cs = i;
                    ce = m + 1;
                    end = m + 1;
                    if (i > 0 && s[i - 1] == '-') cs = i - 1;
                }
            }
        }
        if (!end) {
            i++;
            continue;
        }
        size_t pe = percent_after(s, n, end);
        if (x->nenv >= cap) {
            int nc = cap ? cap * 2 : 64;
            env *ne = ga_alloc(x->c->a, sizeof(env) * (size_t)nc);
            if (!ne) return;
            if (x->nenv) memcpy(ne, x->envs, sizeof(env) * (size_t)x->nenv);
            x->envs = ne;
            cap = nc;
        }
        x->envs[x->nenv++] = (env){i, pe ? pe : end, cs, ce, pe != 0};
        if (x->nenv >= 4096) return;
        i = end;
    }
}

/* Index of the env starting exactly at position i (after spaces), or -1. */
static int env_at(ex *x, size_t i) {
    while (i < x->n && SP(x->s[i])) i++;
    for (int k = 0; k < x->nenv; k++) {
        if (x->envs[k].start == i) return k;
        if (x->envs[k].start > i) break;
    }
    /* inline "[..]" needs the space before it: its match starts at the space */
    for (int k = 0; k < x->nenv; k++)
        if (x->envs[k].start + 1 == i && SP(x->s[x->envs[k].start])) return k;
    return -1;
}

/* How many envs chain from env k ("$1$, $2$ and $3$"): returns the last index. */
static int chain_end(ex *x, int k) {
    int last = k;
    for (int j = k + 1; j < x->nenv && j <= k + 5; j++) {
        size_t a = x->envs[j - 1].end, b = x->envs[j].start;
        if (b < a) break;
        const char *s = x->s;
        size_t i = a;
        while (i < b && SP(s[i])) i++;
        if (i < b && s[i] == ',') i++;
        while (i < b && SP(s[i])) i++;
        if (i + 3 <= b && memcmp(s + i, "and", 3) == 0) i += 3;
        else if (i + 2 <= b && memcmp(s + i, "or", 2) == 0) i += 2;
        else if (!(i > a && s[i - 1] == ',') && !(i > a && memchr(s + a, ',', i - a))) break;
        while (i < b && SP(s[i])) i++;
        if (i != b && !(i + 1 == b && SP(s[i]))) break;
        last = j;
    }
    return last;
}

static int add_cand_env(ex *x, int prio, size_t start, size_t end, int ek, int el, int boxed);
static int add_cand(ex *x, int prio, size_t start, size_t end, char *str, int boxed) {
    if (!str && !boxed) return -1;
    return add_cand_env(x, prio, start, end, -1, -1, boxed) ? -1 : (x->cands[x->ncand - 1].str = str, 0);
}

static int add_cand_env(ex *x, int prio, size_t start, size_t end, int ek, int el, int boxed) {
    if (x->ncand >= x->capcand) {
        int nc = x->capcand ? x->capcand * 2 : 64;
        if (nc > 20000) return -1;
        cand *c = ga_alloc(x->c->a, sizeof(cand) * (size_t)nc);
        if (!c) return -1;
        if (x->ncand) memcpy(c, x->cands, sizeof(cand) * (size_t)x->ncand);
        x->cands = c;
        x->capcand = nc;
    }
    x->cands[x->ncand++] = (cand){prio, start, end, ek >= 0 ? x->envs[ek].start : start, NULL, boxed, ek, el};
    return 0;
}

/* Normalised text of env chain k..last, joined by ",". */
static char *chain_text(ex *x, int k, int last) {
    char *parts[6];
    size_t tot = 0;
    for (int j = k; j <= last; j++) {
        env *e = &x->envs[j];
        char *t = gnorm_latex(x->c->a, x->s + e->cs, e->ce - e->cs, 0);
        if (!t) return NULL;
        if (e->pct) {
            size_t l = strlen(t);
            char *u = ga_alloc(x->c->a, l + 3);
            if (!u) return NULL;
            memcpy(u, t, l);
            memcpy(u + l, "\\%", 3);
            t = u;
        }
        parts[j - k] = t;
        tot += strlen(t) + 1;
    }
    char *o = ga_alloc(x->c->a, tot + 1);
    if (!o) return NULL;
    size_t w = 0;
    for (int j = 0; j <= last - k; j++) {
        size_t l = strlen(parts[j]);
        memcpy(o + w, parts[j], l);
        w += l;
        if (j < last - k) o[w++] = ',';
    }
    o[w] = 0;
    return o;
}

/* ---- plain numbers and expressions (match_expr) ---- */

typedef struct num {
    size_t start, end;
    char *str;
} num;

static int is_currency(const char *s, size_t n, size_t i, size_t *len) {
    if (i >= n || (s[i] != '$' && (unsigned char)s[i] < 0xc2)) return 0;
    static const char *const cur[] = {"$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5", "\xe2\x82\xb9",
                                      "\xe2\x82\xbd", "\xe2\x82\xa9", NULL};
    for (int k = 0; cur[k]; k++) {
        size_t l = strlen(cur[k]);
        if (i + l <= n && memcmp(s + i, cur[k], l) == 0) {
            *len = l;
            return 1;
        }
    }
    return 0;
}

static int prefix_ok(const char *s, size_t i) {
    if (i == 0) return 1;
    char c = s[i - 1];
    if (SP(c) || c == '=') return 1;
    /* after a CJK, Indic or Thai character or a fullwidth mark ("答案是42", "答案：42"): the
     * end of a 3-byte UTF-8 sequence led by 0xe0 or 0xe3..0xef (not 0xe2: math symbols) */
    if (i >= 3 && ((unsigned char)s[i - 3] == 0xe0 || ((unsigned char)s[i - 3] >= 0xe3 && (unsigned char)s[i - 3] <= 0xef)) &&
        ((unsigned char)s[i - 2] & 0xc0) == 0x80 && ((unsigned char)c & 0xc0) == 0x80)
        return 1;
    if (c == '*' && i >= 2 && s[i - 2] == '*') return i == 2 || SP(s[i - 3]) || s[i - 3] == '=';
    return 0;
}

/* Read a number at i (formats in the file comment); returns its end or 0, and writes the
 * canonical text (separators removed, "," decimal as ".") into out. */
static size_t read_number(const char *s, size_t n, size_t i, char *out, size_t cap) {
    size_t k = i, w = 0;
    int neg = 0;
    if (k < n && s[k] == '-') {
        neg = 1;
        k++;
    }
    if (k >= n || !(DIG(s[k]) || s[k] == '.')) return 0;
    char ip[96];
    size_t ipn = 0, e;
    /* (a) 1,234,567.89 or 1 234 567 */
    if (DIG(s[k]) && s[k] != '0') {
        size_t d = k;
        while (d < n && DIG(s[d]) && d - k < 3) d++;
        size_t m = d;
        int groups = 0;
        while (m + 3 < n + 0 && (s[m] == ',' || s[m] == ' ') && DIG(s[m + 1]) &&
               DIG(s[m + 2]) && DIG(s[m + 3]) &&
               !(m + 4 < n && DIG(s[m + 4]))) {
            m += 4;
            groups++;
        }
        if (groups && !(d < n && DIG(s[d]))) {
            for (size_t q = k; q < m && ipn < 90; q++)
                if (DIG(s[q])) ip[ipn++] = s[q];
            e = m;
            if (e + 1 < n && s[e] == '.' && DIG(s[e + 1])) {
                ip[ipn++] = '.';
                e++;
                while (e < n && DIG(s[e]) && ipn < 94) ip[ipn++] = s[e++];
                while (e < n && DIG(s[e])) e++;
            }
            goto done;
        }
    }
    /* (b) 123.45 / 123,45  (c) .5  (d) 123 */
    e = k;
    while (e < n && DIG(s[e])) {
        if (ipn < 90) ip[ipn++] = s[e];
        e++;
    }
    if (e + 1 < n && (s[e] == '.' || s[e] == ',') && DIG(s[e + 1])) {
        if (ipn == 0) ip[ipn++] = '0';
        ip[ipn++] = '.';
        e++;
        while (e < n && DIG(s[e])) {
            if (ipn < 94) ip[ipn++] = s[e];
            e++;
        }
    } else if (ipn == 0) {
        return 0;
    }
done:
    ip[ipn] = 0;
    /* strip leading zeros of the integer part */
    size_t z = 0;
    while (ip[z] == '0' && ip[z + 1] && ip[z + 1] != '.') z++;
    if (neg && w + 1 < cap) out[w++] = '-';
    for (size_t q = z; ip[q] && w + 3 < cap; q++) out[w++] = ip[q];
    size_t pe = percent_after(s, n, e);
    if (pe && w + 3 < cap) {
        out[w++] = '\\';
        out[w++] = '%';
        e = pe;
    }
    out[w] = 0;
    return e;
}

static int expr_char(char c) {
    return DIG(c) || c == '.' || c == ' ' || c == '+' || c == '-' || c == '*' ||
           c == '/' || c == '^' || c == '(' || c == ')';
}
static int expr_op(char c) {
    return c == '+' || c == '-' || c == '*' || c == '/' || c == '^' || c == '(' || c == ')';
}
static int suffix_ok(const char *s, size_t n, size_t i) {
    return i >= n || s[i] == '.' || s[i] == ',' || s[i] == ':' || SP(s[i]) ||
           s[i] == ')' || s[i] == '$';
}

/* An expression of digits and operators at i ("2/3", "3*(4+1)"); returns end or 0. */
static size_t read_expr(const char *s, size_t n, size_t i) {
    size_t k = i;
    if (k < n && s[k] == '-') k++;
    if (k < n && s[k] == '(') k++;
    if (k < n && s[k] == '-') k++;
    if (k >= n || !DIG(s[k])) return 0;
    size_t e = k + 1;
    while (e < n && expr_char(s[e]) && e - i < 200) e++;
    /* shrink until it ends well (not on a space or an operator other than ')', and a
     * suffix follows); then it must hold an operator after the first digit */
    while (e > k + 1 && (SP(s[e - 1]) || (expr_op(s[e - 1]) && s[e - 1] != ')') ||
                         !suffix_ok(s, n, e)))
        e--;
    for (size_t q = k + 1; q < e; q++)
        if (expr_op(s[q])) return e;
    return 0;
}

typedef struct nums {
    num *v;
    int n, cap;
} nums;

static void push_num(ex *x, nums *ns, size_t a, size_t b, const char *txt) {
    if (ns->n >= ns->cap) {
        int nc = ns->cap ? ns->cap * 2 : 64;
        if (nc > 40000) return;
        num *v = ga_alloc(x->c->a, sizeof(num) * (size_t)nc);
        if (!v) return;
        if (ns->n) memcpy(v, ns->v, sizeof(num) * (size_t)ns->n);
        ns->v = v;
        ns->cap = nc;
    }
    char *t = ga_strndup(x->c->a, txt, strlen(txt));
    if (t) ns->v[ns->n++] = (num){a, b, t};
}

/* Every number and expression with a valid prefix. Expressions come first at a position. */
static void scan_numbers(ex *x, nums *ns) {
    const char *s = x->s;
    size_t n = x->n;
    for (size_t i = 0; i < n; i++) {
        size_t at = i, cl = 0;
        char c0 = s[i];
        if (!(DIG(c0) || c0 == '-' || c0 == '.' || c0 == '(' || c0 == '*' || c0 == '$' || c0 == '\\' ||
              (unsigned char)c0 >= 0xc2))
            continue;
        if (!prefix_ok(s, i)) continue;
        if (s[i] == '*' && i + 2 < n && s[i + 1] == '*') at = i + 2;
        gtime tm;
        size_t te = DIG(s[at]) ? gtime_scan(s, n, at, &tm) : 0;
        if (te && te - at < 64) { /* a time of day: "3:05 p.m.", "15:05" */
            char buf[64];
            memcpy(buf, s + at, te - at);
            buf[te - at] = 0;
            push_num(x, ns, i, te, buf);
        }
        size_t e = read_expr(s, n, at);
        if (e) {
            char buf[256];
            size_t l = e - at < sizeof buf - 1 ? e - at : sizeof buf - 1;
            memcpy(buf, s + at, l);
            buf[l] = 0;
            push_num(x, ns, i, e, buf);
        }
        if (at + 1 < n && s[at] == '\\' && s[at + 1] == '$') at += 2; /* \$5 */
        else if (is_currency(s, n, at, &cl)) at += cl;
        char out[128];
        e = read_number(s, n, at, out, sizeof out);
        if (e) push_num(x, ns, i, e, out);
    }
}

/* ---- anchors ---- */

/* Answer words of the common languages of multilingual math benchmarks (MGSM: bn de en es
 * fr ja ru sw te th zh) and a few more (ko pt it vi tr id). Each works like "answer": a
 * colon after it (":", "：", " :") makes it tier 100, else 200 (a value within 50 bytes).
 * Latin and Cyrillic words match in either case of their first letter. */
static const struct {
    const char *w;
    unsigned char len;
} ANCHORS[] = {
#define A(w) {w, sizeof(w) - 1}
    /* sorted by first byte: anchor_range() picks the entries of one byte */
    A("antwort"), A("cevap"), A("jibu"), A("jawaban"), A("réponse"), A("respuesta"), A("resposta"),
    A("risposta"), A("đáp án"), A("Đáp án"),
    A("\xd0\xbe\xd1\x82\xd0\xb2\xd0\xb5\xd1\x82"), /* ответ */
    A("\xd0\x9e\xd1\x82\xd0\xb2\xd0\xb5\xd1\x82"), /* Ответ */
    A("উত্তর"), A("సమాధానం"), A("คำตอบ"), A("答案"), A("答え"), A("解答"), A("정답"),
#undef A
};

/* The ANCHORS entries [*lo, *hi) that start with the (lowercased) byte c; 0 when none. */
static int anchor_range(unsigned char c, int *lo, int *hi) {
    switch (c) {
    case 'a': *lo = 0, *hi = 1; return 1;
    case 'c': *lo = 1, *hi = 2; return 1;
    case 'j': *lo = 2, *hi = 4; return 1;
    case 'r': *lo = 4, *hi = 8; return 1;
    case 0xc4: *lo = 8, *hi = 10; return 1;
    case 0xd0: *lo = 10, *hi = 12; return 1;
    case 0xe0: *lo = 12, *hi = 15; return 1;
    case 0xe7: *lo = 15, *hi = 17; return 1;
    case 0xe8: *lo = 17, *hi = 18; return 1;
    case 0xec: *lo = 18, *hi = 19; return 1;
    default: return 0;
    }
}

/* Record the answer anchors (one pass; the last 64 are kept). A byte is rejected by a
 * switch on it, and a word compared only when its second byte matches too. */
static void find_answers(ex *x) {
    const char *s = x->s;
    size_t n = x->n;
    x->nans = 0;
    /* pairs of bytes that may start an anchor: two table look-ups and one rarely taken
     * branch per byte (first[c] & second[c2] is a bit the two bytes share) */
    static const unsigned char first[256] = {
        ['a'] = 1, ['A'] = 1, ['c'] = 2, ['C'] = 2, ['j'] = 4, ['J'] = 4, ['r'] = 8, ['R'] = 8,
        [0xc4] = 16, [0xd0] = 16, [0xe0] = 16, [0xe7] = 16, [0xe8] = 16, [0xec] = 16,
    };
    static const unsigned char second[256] = {
        ['n'] = 1, ['N'] = 1, ['e'] = 2 | 8, ['E'] = 2 | 8, ['i'] = 4 | 8, ['I'] = 4 | 8, ['a'] = 4, ['A'] = 4,
        [0xc3] = 8, [0x90] = 16, [0x91] = 16, [0x9e] = 16, [0xa0] = 16, [0xa6] = 16, [0xa7] = 16,
        [0xad] = 16, [0xb0] = 16, [0xb8] = 16, [0xbe] = 16,
    };
    for (size_t i = 0; i + 4 <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(first[c] & second[(unsigned char)s[i + 1]])) continue;
        unsigned char lc = c >= 'A' && c <= 'Z' ? (unsigned char)(c | 32) : c;
        int lo, hi;
        if (!anchor_range(lc, &lo, &hi)) continue;
        unsigned char c2 = (unsigned char)s[i + 1];
        if (c2 >= 'A' && c2 <= 'Z') c2 |= 32;
        anchor an = {0, 0, 0};
        if (lc == 'a' && c2 == 'n' && ieq_at(s, n, i, "answer")) {
            an = (anchor){i, i + 6, 1};
        } else {
            for (int k = lo; k < hi; k++) {
                const char *w = ANCHORS[k].w;
                size_t l = ANCHORS[k].len;
                if ((unsigned char)w[1] != c2 || i + l > n || !ieq_at(s, n, i, w)) continue;
                if (lc < 0x80 && i > 0 && ALPHA(s[i - 1])) continue; /* inside a word */
                an = (anchor){i, i + l, 0};
                break;
            }
        }
        if (!an.end) continue;
        if (x->nans == 64) {
            memmove(x->ans, x->ans + 1, sizeof x->ans[0] * 63);
            x->nans--;
        }
        x->ans[x->nans++] = an;
        i = an.end - 1;
    }
}

/* 1 when s[0..n) holds an answer anchor ("Answer: 24", "Jibu ni 36" are no bare answers). */
int ghas_anchor(const char *s, size_t n) {
    ex x = {.s = s, .n = n};
    find_answers(&x);
    return x.nans > 0;
}

/* Next anchor index k >= *k ("final answer" when final: the English word after "final ");
 * returns the text position or -1, and the index in *k. */
static long next_answer(ex *x, int *k, int final) {
    for (; *k < x->nans; (*k)++) {
        size_t i = x->ans[*k].pos;
        if (!final) return (long)i;
        if (x->ans[*k].en && i >= 6 && ieq_at(x->s, x->n, i - 6, "final ")) return (long)i - 6;
    }
    return -1;
}

/* After anchor k: where its value may start (after a colon, and for the other languages'
 * words after spaces too), and whether there was a colon. */
static size_t anchor_value(const ex *x, int k, int *colon) {
    const char *s = x->s;
    size_t n = x->n, a = x->ans[k].end;
    *colon = 0;
    if (x->ans[k].en) {
        *colon = a < n && s[a] == ':';
        return a + (size_t)*colon;
    }
    size_t m = a;
    while (m < n && (s[m] == ' ' || s[m] == '*')) m++;
    if (m < n && s[m] == ':') {
        *colon = 1;
        return m + 1;
    }
    if (m + 3 <= n && !memcmp(s + m, "\xef\xbc\x9a", 3)) { /* ： */
        *colon = 1;
        return m + 3;
    }
    return a;
}

/* Does the text between an anchor and its value deny it ("the answer is not 5", "答案不是",
 * "n'est pas", "ist nicht", "no es", "не")? Then the anchor does not point at the value. */
static int anchor_denied(const char *s, size_t a, size_t b) {
    static const char *const neg[] = {"not", "n't", "不是", "不", "pas", "nicht", "kein", "no es", "não",
                                      "non", "\xd0\xbd\xd0\xb5", /* не */ "si ", NULL};
    for (size_t i = a; i < b; i++) {
        if (ALPHA(s[i]) && i > a && ALPHA(s[i - 1])) continue; /* words start at a word start */
        for (int k = 0; neg[k]; k++) {
            size_t l = strlen(neg[k]);
            if (i + l > b || !ieq_at(s, b, i, neg[k])) continue;
            if (ALPHA(neg[k][l - 1]) && i + l < b && ALPHA(s[i + l])) continue; /* "nothing" */
            if ((unsigned char)neg[k][0] == 0xd0 && i + l < b && (unsigned char)s[i + l] >= 0xd0) continue;
            return 1;
        }
    }
    return 0;
}

static void add_env_cand(ex *x, int prio, size_t start, int k, int boxed_ok) {
    int last = chain_end(x, k);
    (void)boxed_ok;
    add_cand_env(x, prio, start, x->envs[last].end, k, last, 0);
}

/* 1 when \\boxed or \\fbox starts at s[i] and ends before n. */
static int box_at(const char *s, size_t n, size_t i) {
    return i + 5 < n && s[i] == '\\' && (memcmp(s + i, "\\boxed", 6) == 0 || memcmp(s + i, "\\fbox", 5) == 0);
}

static int env_has_box(ex *x, int k) {
    for (size_t q = x->envs[k].cs; q + 5 < x->envs[k].ce; q++)
        if (box_at(x->s, x->envs[k].ce, q)) return 1;
    return 0;
}

/* "final answer ... is <value>": from *k, the next " is" (or " is:") within 100 characters
 * of a (just after "final answer"); sets *k to its space and returns where the value may
 * start, or 0 when there is none. */
static size_t next_is(const ex *x, size_t a, size_t *k) {
    for (; *k < x->n && *k <= a + 100; ++*k) {
        if (!(SP(x->s[*k]) && ieq_at(x->s, x->n, *k + 1, "is"))) continue;
        size_t m = *k + 3;
        if (m < x->n && x->s[m] == ':') m++;
        return m;
    }
    return 0;
}

/* The tier of a "final answer is <value>" candidate whose value ends at end: 0 when "is"
 * came right after "final answer" and the value is followed by "I hope", else 50. */
static int hope_tier(const ex *x, size_t a, size_t k, size_t end) {
    size_t q = end;
    if (q < x->n && x->s[q] == '.') q++;
    if (q < x->n && SP(x->s[q])) q++;
    return k == a && ieq_at(x->s, x->n, q, "i hope") ? 0 : 50;
}

/* The env candidates for all tiers. */
static void env_candidates(ex *x, const pd_grade_opts *o) {
    const char *s = x->s;
    /* 0: final answer is <env>. I hope ; 50: final answer ... is <env> */
    for (int ka = 0; next_answer(x, &ka, 1) >= 0; ka++) {
        long i = next_answer(x, &ka, 1);
        size_t a = x->ans[ka].end, m;
        for (size_t k = a; (m = next_is(x, a, &k)); k++) {
            int e = env_at(x, m);
            if (e < 0) continue;
            if (anchor_denied(s, a, x->envs[e].start)) break;
            int last = chain_end(x, e);
            size_t after = x->envs[last].end;
            add_cand_env(x, hope_tier(x, a, k, after), (size_t)i, after, e, last, 0);
            break;
        }
    }
    /* 100 / 200: answer(:) then an env starting within 50 characters */
    for (int ka = 0; next_answer(x, &ka, 0) >= 0; ka++) {
        long i = next_answer(x, &ka, 0);
        int colon;
        size_t a = anchor_value(x, ka, &colon);
        for (int k = 0; k < x->nenv; k++) {
            if (x->envs[k].start < a) continue;
            if (x->envs[k].start > a + 50) break;
            if (!anchor_denied(s, a, x->envs[k].start)) add_env_cand(x, colon ? 100 : 200, (size_t)i, k, 1);
            break;
        }
    }
    /* 300: every chain, non-overlapping */
    for (int k = 0; k < x->nenv;) {
        int last = chain_end(x, k);
        add_cand_env(x, 300, x->envs[k].start, x->envs[last].end, k, last, 0);
        k = last + 1;
    }
    /* envs holding a box also count in the box tier ($\boxed{28}$ pct is 28%), chained
     * while every env of the chain holds one ("\(\boxed{1}\) and \(\boxed{-2}\)") */
    for (int k = 0; k < x->nenv && o->boxed_priority >= 0; k++) {
        if (!env_has_box(x, k)) continue;
        int last = chain_end(x, k), l = k;
        while (l < last && env_has_box(x, l + 1)) l++;
        add_cand_env(x, o->boxed_priority, x->envs[k].start, x->envs[l].end, k, l, 0);
    }
}

static void boxed_candidate(ex *x, const pd_grade_opts *o) {
    if (o->boxed_priority < 0) return;
    const char *s = x->s;
    size_t n = x->n, first = n, lastbrace = 0;
    for (size_t i = 0; i + 5 < n; i++)
        if (box_at(s, n, i)) {
            first = i;
            break;
        }
    if (first == n) return;
    for (size_t i = n; i > first; i--)
        if (s[i - 1] == '}') {
            lastbrace = i;
            break;
        }
    if (!lastbrace) return;
    if (add_cand_env(x, o->boxed_priority, first, lastbrace, -1, -1, 1)) return;
    /* the value is the last box (with the boxes joined to it): from the last \boxed on */
    for (size_t i = lastbrace; i > first; i--)
        if (box_at(s, n, i - 1)) {
            x->cands[x->ncand - 1].vs = i - 1;
            break;
        }
}

static void expr_candidates(ex *x, nums *ns) {
    const char *s = x->s;
    size_t n = x->n;
    for (int k = 0; k < ns->n; k++) add_cand(x, 300, ns->v[k].start, ns->v[k].end, ns->v[k].str, 0);
    /* final answer is <num>. I hope / final answer ... is <num> */
    for (int ka = 0; next_answer(x, &ka, 1) >= 0; ka++) {
        long i = next_answer(x, &ka, 1);
        size_t a = x->ans[ka].end, m;
        for (size_t k = a; (m = next_is(x, a, &k)); k++) {
            int best = -1;
            for (int j = 0; j < ns->n; j++) {
                size_t st = ns->v[j].start;
                size_t q = m;
                while (q < n && SP(s[q]) && q < st) q++;
                if (st == q || (st > m && st <= q)) {
                    if (best < 0 || ns->v[j].end > ns->v[best].end) best = j;
                }
                if (st > q) break;
            }
            if (best < 0) continue;
            if (anchor_denied(s, a, ns->v[best].start)) break;
            if (!add_cand(x, hope_tier(x, a, k, ns->v[best].end), (size_t)i, ns->v[best].end, ns->v[best].str, 0))
                x->cands[x->ncand - 1].vs = ns->v[best].start;
            break;
        }
    }
    /* answer(:) ... [last '=' within 100] <num> not followed by '=' */
    for (int ka = 0; next_answer(x, &ka, 0) >= 0; ka++) {
        long i = next_answer(x, &ka, 0);
        int colon;
        size_t from = anchor_value(x, ka, &colon);
        size_t lim = from + 50;
        for (size_t k = from; k < n && k < from + 100; k++)
            if (s[k] == '=') {
                lim = k + 2;
            }
        int best = -1;
        for (int j = 0; j < ns->n; j++) {
            size_t st = ns->v[j].start;
            if (st < from) continue;
            if (st > lim) break;
            size_t q = ns->v[j].end;
            while (q < n && SP(s[q])) q++;
            if (q < n && s[q] == '=') continue;
            best = j;
            break;
        }
        if (best >= 0 && anchor_denied(s, from, ns->v[best].start)) best = -1;
        if (best >= 0 && !add_cand(x, colon ? 100 : 200, (size_t)i, ns->v[best].end, ns->v[best].str, 0))
            x->cands[x->ncand - 1].vs = ns->v[best].start;
    }
}

static int cand_order(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->prio != y->prio) return x->prio < y->prio ? -1 : 1;
    if (x->end != y->end) return x->end > y->end ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return 0;
}

/* ---- driver ---- */

/* 1 when the value of candidate cd lies inside the value of a candidate that did not parse
 * (and is not that same value): a number inside an unreadable \boxed{} is a fragment of
 * the answer, not the answer. */
static int inside_failed(const ex *x, const int *failed, int nfailed, const cand *cd) {
    for (int k = 0; k < nfailed; k++) {
        const cand *f = &x->cands[failed[k]];
        if (cd->vs >= f->vs && cd->end <= f->end && (cd->vs != f->vs || cd->end != f->end)) return 1;
    }
    return 0;
}

/* Sort the candidates and try them tier by tier, up to tier max_prio: returns the index of
 * the first that parses (its tree in *tree), or -1. *fallback gets the first text seen. */
static int try_cands(ex *x, gnode **tree, int max_prio, char **fallback) {
    if (x->ncand == 0) return -1;
    gctx *c = x->c;
    int failed[64], nfailed = 0;
    qsort(x->cands, (size_t)x->ncand, sizeof(cand), cand_order);
    int tried = 0, tier = x->cands[0].prio;
    for (int i = 0; i < x->ncand && x->cands[i].prio <= max_prio; i++) {
        if (x->cands[i].prio != tier) {
            tier = x->cands[i].prio;
            tried = 0;
        }
        if (++tried > G_MAX_CANDIDATES) continue;
        cand *cd = &x->cands[i];
        if (!cd->str && cd->ek >= 0) cd->str = chain_text(x, cd->ek, cd->el);
        if (!cd->str && cd->boxed) {
            char *b = gnorm_boxed_last(c->a, x->s + cd->start, cd->end - cd->start);
            if (b) cd->str = gnorm_latex(c->a, b, strlen(b), 0);
        }
        const char *str = cd->str;
        if (!str || !str[0]) continue;
        if (inside_failed(x, failed, nfailed, cd)) continue; /* a piece of an unread answer */
        if (!*fallback) *fallback = cd->str;
        int nodes = c->nodes;
        gnode *t = gparse_answer(c, str);
        if (t) {
            if (tree) *tree = t;
            return i;
        }
        c->nodes = nodes;
        if (nfailed < (int)(sizeof failed / sizeof *failed)) failed[nfailed++] = i;
    }
    return -1;
}

/* The answer of text under options (arena string), its parse in *tree; NULL when none. */
char *gextract(gctx *c, const char *text, const char *gold, const pd_grade_opts *o, gnode **tree) {
    if (tree) *tree = NULL;
    if (!text) return NULL;
    size_t n = strlen(text);
    const char *s = text;
    if (o->skip_think) {
        const char *t = NULL, *q = s;
        while ((q = strstr(q, "</think>")) != NULL) t = q++;
        if (t) {
            s = t + 8;
            n = strlen(s);
        }
    }
    if (n > G_MAX_INPUT) {
        s += n - G_MAX_INPUT;
        n = G_MAX_INPUT;
    }
    ex x = {.c = c, .s = s, .n = n};
    char letter;
    if (gold && gchoice_gold(gold, &letter, NULL, 0)) {
        /* the normal path first (\boxed{C}, $C$, \boxed{(B) 42}); keep it if it is a
         * choice of one letter */
        pd_grade_opts o2 = *o;
        o2.skip_think = 0;
        gold = NULL;
        gnode *t = NULL;
        char maxl = (char)toupper((unsigned char)letter), got;
        if (maxl < 'E') maxl = 'E';
        char *a = gextract(c, s, NULL, &o2, &t);
        if (a && gchoice_gold(a, &got, NULL, o->mode == PD_GRADE_MCQ) && got <= maxl) {
            char *r = ga_alloc(c->a, 2);
            if (!r) return NULL;
            r[0] = got;
            if (tree) *tree = gparse(c, r);
            return r;
        }
        char l = gfind_letter(s, n, maxl, o->mode == PD_GRADE_MCQ);
        if (!l) {
            if (tree) *tree = t;
            return a;
        }
        char *r = ga_alloc(c->a, 2);
        if (!r) return NULL;
        r[0] = l;
        if (tree) *tree = gparse(c, r);
        return r;
    }
    find_answers(&x);
    if (o->match_latex) {
        scan_envs(&x);
        boxed_candidate(&x, o);
        env_candidates(&x, o);
    }
    /* shortcut: when no "final answer" anchor can put a plain number in the first tier, a
     * first-tier LaTeX candidate that parses (\boxed{}) is the answer: skip the number scan */
    int final_anchor = 0;
    for (int k = 0; k < x.nans; k++)
        final_anchor |= x.ans[k].pos >= 6 && ieq_at(s, n, x.ans[k].pos - 6, "final ");
    if (o->match_expr && !final_anchor && !o->integer_only && x.ncand > 0) {
        char *fb = NULL;
        int first = INT32_MAX;
        for (int k = 0; k < x.ncand; k++)
            if (x.cands[k].prio < first) first = x.cands[k].prio;
        int w = first < 100 ? try_cands(&x, tree, first, &fb) : -1;
        if (w >= 0) return x.cands[w].str;
    }
    if (o->match_expr) {
        nums ns = {0};
        scan_numbers(&x, &ns);
        expr_candidates(&x, &ns);
        if (o->integer_only) { /* GSM8K: "#### 42" is the answer line */
            int h = -1;
            for (size_t i = 0; i + 4 < n; i++)
                if (memcmp(s + i, "####", 4) == 0) h = (int)i;
            if (h >= 0) {
                for (int j = 0; j < ns.n; j++)
                    if (ns.v[j].start >= (size_t)h + 4 && ns.v[j].start <= (size_t)h + 8) {
                        add_cand(&x, -1, (size_t)h, ns.v[j].end, ns.v[j].str, 0);
                        break;
                    }
            }
        }
    }
    char *fallback = NULL;
    int w = try_cands(&x, tree, INT32_MAX, &fallback);
    return w >= 0 ? x.cands[w].str : fallback;
}
