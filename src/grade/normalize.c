/* normalize.c — string-level clean-up of one candidate answer before it is parsed.
 *
 * Most LaTeX variants (\dfrac, \frac12, \sqrt3, \left(, \!, \,, \text{}) are absorbed by the
 * tokenizer in parse.c. What is left here is what needs to see the string as a whole:
 *
 *   1. \boxed{} / \fbox{}: keep their contents (all of them joined by ",", or only the last
 *      group: the last box plus earlier boxes separated from it by "and", "or", "," or a few
 *      characters — "\boxed{1} and \boxed{2}" is the answer "1,2");
 *   2. words that are separators or markers: "and"/"or" (not inside a word) and
 *      \text{and} become ",", "percent"/"pct"/"percentage" become \%, "{,}" becomes ",",
 *      \ldots disappears, \$ and $ and quotes disappear, "\\sqrt" (a doubled backslash from
 *      an escaped string) becomes "\sqrt" unless the answer holds a matrix (where "\\" is a
 *      row break);
 *   3. units at the end: a trailing \text{...}/\mbox{...} (optionally ^2) after a value, and
 *      a trailing unit word ("cm", "degrees", "inches", "dollars", ...) after a digit or "}".
 *
 * These follow Math-Verify's normalisation; docs/GRADING.md lists where we are narrower
 * (single-letter units need a space before them: "5d" stays 5d, Math-Verify reads 5). */
#include "grade_int.h"

#include <ctype.h>
#include <string.h>

/* Unit words stripped at the end of an answer (plural "s"/"es" also matched). */
static const char *const UNITS[] = {
    "feet", "foot", "pound", "digit", "meal", "edge", "student", "multiple", "degree", "mph",
    "kmph", "ft", "sq m", "deg", "mile", "monkey", "prime", "ratio", "gm", "lb", "tile",
    "dm", "gallon", "gal", "men", "soldier", "inch", "inches", "noon", "cent", "kmh",
    "acre", "sq", "mark", "toy", "coin", "yr", "women", "hr", "cu cm",
    "square", "rupee", "round", "cubic", "cc", "mtr", "ohm", "number", "day", "hour",
    "minute", "min", "second", "man", "woman", "sec", "cube", "mt", "sq inch", "hectare",
    "unit", "cm", "kg", "month", "km", "mm", "apple", "liter", "litre", "yard", "year",
    "metre", "meter", "dollar", "mi", "ml", "oz", "ounce", "week", "people", "person",
    "point", "pages", "page", "box", "mg", "way", "m", "g", "s", "h", "l", "t", "c", "d",
    NULL,
};

static int is_word_char(char c) { return isalpha((unsigned char)c) != 0; }

/* Index of the '}' closing the '{' at s[open], or -1. */
static long match_brace(const char *s, size_t n, size_t open) {
    int depth = 0;
    for (size_t i = open; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '{' || s[i + 1] == '}')) {
            i++;
            continue;
        }
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) return (long)i;
    }
    return -1;
}

/* Find the last "\boxed" or "\fbox" starting before `end`; returns its index or -1 and the
 * command length in *clen. */
static long last_box(const char *s, size_t end, size_t *clen) {
    for (long i = (long)end - 5; i >= 0; i--) {
        if (s[i] != '\\') continue;
        if ((size_t)i + 6 <= end && memcmp(s + i, "\\boxed", 6) == 0) {
            *clen = 6;
            return i;
        }
        if ((size_t)i + 5 <= end && memcmp(s + i, "\\fbox", 5) == 0) {
            *clen = 5;
            return i;
        }
    }
    return -1;
}

/* Between two boxes: does the gap allow joining them into one answer? */
static int joinable_gap(const char *g, size_t n, int same_content) {
    if (n < 10) return 1;
    if (same_content || n >= 70) return 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i] == ',' || g[i] == ';') return 1;
        if (i + 3 <= n && (!i || !isalnum((unsigned char)g[i - 1])) &&
            (memcmp(g + i, "and", 3) == 0) && (i + 3 == n || !isalnum((unsigned char)g[i + 3])))
            return 1;
        if (i + 2 <= n && (!i || !isalnum((unsigned char)g[i - 1])) &&
            (memcmp(g + i, "or", 2) == 0) && (i + 2 == n || !isalnum((unsigned char)g[i + 2])))
            return 1;
    }
    return 0;
}

typedef struct span {
    size_t a, b;
} span;

/* Collect box contents right to left. mode_last: stop at the first gap that is not
 * joinable. Returns a ","-joined arena string of the contents left to right, or NULL when
 * the text has no box. */
static char *collect_boxes(garena *ar, const char *s, size_t n, int mode_last) {
    span got[64];
    int ng = 0;
    size_t end = n, limit = n;
    long prev_start = -1;
    int unbalanced = 0;
    size_t tail_from = 0;
    while (ng < 64) {
        size_t clen;
        long b = last_box(s, end, &clen);
        if (b < 0) break;
        size_t k = (size_t)b + clen;
        while (k < limit && isspace((unsigned char)s[k])) k++;
        if (k >= limit) break;
        if (s[k] != '{') {
            if (ng == 0) {
                unbalanced = 1;
                tail_from = k;
            }
            break;
        }
        long close = match_brace(s, limit, k);
        if (close < 0) {
            if (ng == 0) {
                unbalanced = 1;
                tail_from = k;
            }
            break;
        }
        size_t ca = k + 1, cb = (size_t)close;
        while (ca < cb && isspace((unsigned char)s[ca])) ca++;
        while (cb > ca && isspace((unsigned char)s[cb - 1])) cb--;
        if (mode_last && prev_start >= 0) {
            size_t ga = (size_t)close + 1, gb = (size_t)prev_start;
            int same = ng > 0 && got[ng - 1].b - got[ng - 1].a == cb - ca &&
                       memcmp(s + got[ng - 1].a, s + ca, cb - ca) == 0;
            if (gb < ga || !joinable_gap(s + ga, gb - ga, same)) break;
        }
        int dup = ng > 0 && got[ng - 1].b - got[ng - 1].a == cb - ca &&
                  memcmp(s + got[ng - 1].a, s + ca, cb - ca) == 0;
        if (!dup) got[ng++] = (span){ca, cb};
        prev_start = b;
        limit = (size_t)b;
        end = (size_t)b;
    }
    if (ng == 0) {
        if (unbalanced) return ga_strndup(ar, s + tail_from, n - tail_from);
        return NULL;
    }
    size_t tot = 0;
    for (int i = 0; i < ng; i++) tot += got[i].b - got[i].a + 1;
    char *o = ga_alloc(ar, tot + 1);
    if (!o) return NULL;
    size_t w = 0;
    for (int i = ng - 1; i >= 0; i--) {
        memcpy(o + w, s + got[i].a, got[i].b - got[i].a);
        w += got[i].b - got[i].a;
        if (i) o[w++] = ',';
    }
    o[w] = 0;
    return o;
}

char *gnorm_boxed_last(garena *a, const char *s, size_t n) { return collect_boxes(a, s, n, 1); }

/* Does s[i..] start with word w, bounded by non-letters on both sides? */
static int word_at(const char *s, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    if (i + l > n || memcmp(s + i, w, l) != 0) return 0;
    if (i > 0 && (is_word_char(s[i - 1]) || s[i - 1] == '\\')) return 0;
    if (i + l < n && is_word_char(s[i + l])) return 0;
    return 1;
}

static int starts(const char *s, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && memcmp(s + i, w, l) == 0;
}

/* Is s[0..n) (spaces around allowed) a time-of-day marker: am, pm, a.m., p.m. (any case)? */
static int is_ampm(const char *s, size_t n) {
    while (n && s[0] == ' ') s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '.')) n--;
    if (n == 0) return 0;
    char c = (char)tolower((unsigned char)s[0]);
    if (c != 'a' && c != 'p') return 0;
    size_t i = 1;
    if (i < n && s[i] == '.') i++;
    if (i < n && s[i] == ' ') i++;
    return i + 1 == n && tolower((unsigned char)s[i]) == 'm';
}

/* Unit symbols and words that a spaced unit expression may be made of ("7 m^2",
 * "7 km/h", "7 sq ft", "7 m/s²", "60 miles per hour"); words of 3+ letters may take s/es. */
static const char *const UNIT_SYMS[] = {
    "m", "cm", "mm", "km", "nm", "dm", "in", "ft", "yd", "mi", "sq", "cu", "g", "kg", "mg", "lb",
    "lbs", "oz", "s", "sec", "ms", "min", "h", "hr", "hrs", "L", "l", "mL", "ml", "J", "kJ", "W",
    "kW", "N", "Pa", "kPa", "V", "Hz", "mol", "cal", "kcal", "K", "mph", "kph", "kmh", "per",
    "meter", "metre", "centimeter", "centimetre", "kilometer", "kilometre", "millimeter",
    "millimetre", "inch", "foot", "feet", "yard", "mile", "gram", "kilogram", "pound", "ounce",
    "second", "minute", "hour", "day", "week", "month", "year", "liter", "litre", "milliliter",
    "square", "cubic", "degree", "dollar", "cent", "unit", "newton", "joule", "watt", "volt",
    "gallon", "acre", "hectare", "ton", "tonne", NULL,
};

static int unit_word(const char *w, size_t l) {
    for (int u = 0; UNIT_SYMS[u]; u++) {
        size_t ul = strlen(UNIT_SYMS[u]);
        if (memcmp(w, UNIT_SYMS[u], ul < l ? ul : l) != 0 || ul > l) continue;
        if (ul == l) return 1;
        if (ul >= 3 && ((l == ul + 1 && w[ul] == 's') || (l == ul + 2 && w[ul] == 'e' && w[ul + 1] == 's')))
            return 1;
    }
    return 0;
}

/* 1 when s[i..n) is a unit expression: unit words joined by spaces, "/", "*", "\cdot", "·",
 * with exponents (^2, ^{2}, ^{-1}, ², ³) and abbreviation dots ("sq. ft."). */
static int unit_expr(const char *s, size_t n, size_t i) {
    int words = 0;
    while (i < n) {
        if (isalpha((unsigned char)s[i])) {
            size_t j = i;
            while (j < n && isalpha((unsigned char)s[j])) j++;
            if (!unit_word(s + i, j - i)) return 0;
            words++;
            i = j;
            if (i < n && s[i] == '.') i++;
        } else if (s[i] == ' ' || s[i] == '/' || s[i] == '*' || s[i] == '~') {
            i++;
        } else if (s[i] == '^') {
            i++;
            int br = i < n && s[i] == '{';
            if (br) i++;
            if (i < n && s[i] == '-') i++;
            size_t d = i;
            while (i < n && isdigit((unsigned char)s[i])) i++;
            if (i == d || (br && !(i < n && s[i++] == '}'))) return 0;
        } else if (starts(s, n, i, "\\cdot")) {
            i += 5;
        } else if (s[i] == '\\' && i + 1 < n && (s[i + 1] == ',' || s[i + 1] == ';' || s[i + 1] == ' ')) {
            i += 2;
        } else if (starts(s, n, i, "\xc2\xb2") || starts(s, n, i, "\xc2\xb3") || starts(s, n, i, "\xc2\xb7")) {
            i += 2;
        } else {
            return 0;
        }
    }
    return words > 0;
}

/* Start of a unit expression ending s[0..n) that is spaced from a number before it ("7 m^2"
 * but not "7m^2", a glued product), or 0. */
static size_t spaced_units(const char *s, size_t n) {
    size_t lo = n > 48 ? n - 48 : 0;
    for (size_t p = lo + 1; p < n; p++) {
        /* p starts a word after a space (or \, \; \  ~) that follows a digit or '}' */
        if (!isalpha((unsigned char)s[p])) continue;
        size_t k = p;
        int spaced = 0;
        for (;;) {
            if (k >= 1 && (s[k - 1] == ' ' || s[k - 1] == '~')) k--, spaced = 1;
            else if (k >= 2 && s[k - 2] == '\\' && (s[k - 1] == ',' || s[k - 1] == ';' || s[k - 1] == ' ')) k -= 2, spaced = 1;
            else break;
        }
        if (!spaced || k == 0 || !(isdigit((unsigned char)s[k - 1]) || s[k - 1] == '}')) continue;
        if (unit_expr(s, n, p)) return k;
    }
    return 0;
}

/* Strip trailing units from s (in place, length *n). */
static void strip_units(char *s, size_t *np) {
    size_t n = *np;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    /* a trailing \text{..} / \mbox{..} (^digit) after something else, at brace depth 0 */
    for (int round = 0; round < 2; round++) {
        size_t e = n;
        if (e >= 2 && s[e - 2] == '^' && isdigit((unsigned char)s[e - 1])) e -= 2;
        else if (e >= 4 && s[e - 1] == '}' && s[e - 4] == '^' && s[e - 3] == '{' &&
                 isdigit((unsigned char)s[e - 2]))
            e -= 4;
        if (e == 0 || s[e - 1] != '}') break;
        static const char *const tcmds[] = {"\\text{", "\\mbox{", "\\textbf{", "\\textnormal{",
                                            "\\textit{", "\\textrm{", "\\mathrm{", "\\mathbf{",
                                            "\\mathit{", NULL};
        long cut = -1;
        int depth = 0;
        for (size_t i = 0; i < e && cut < 0; i++) {
            if (s[i] == '{') depth++;
            else if (s[i] == '}') depth--;
            if (depth != 0 || s[i] != '\\') continue;
            for (int t = 0; tcmds[t]; t++) {
                size_t l = strlen(tcmds[t]);
                if (!starts(s, e, i, tcmds[t])) continue;
                long close = match_brace(s, e, i + l - 1);
                /* a.m. / p.m. in a text group mark a time of day: kept for the parser */
                if (close == (long)e - 1 && !is_ampm(s + i + l, (size_t)close - (i + l))) cut = (long)i;
                break;
            }
        }
        if (cut <= 0) break;
        size_t k = (size_t)cut;
        while (k && isspace((unsigned char)s[k - 1])) k--;
        if (k == 0) break;
        n = k;
    }
    /* trailing unit words (only when the answer ends in a letter) */
    for (int round = 0; round < 2 && n && isalpha((unsigned char)s[n - 1]); round++) {
        int hit = 0;
        for (int u = 0; UNITS[u] && !hit; u++) {
            size_t l = strlen(UNITS[u]);
            for (int suf = 2; suf >= 0 && !hit; suf--) {
                const char *sx = suf == 2 ? "es" : suf == 1 ? "s" : "";
                size_t sl = strlen(sx);
                if (n < l + sl + 1) continue;
                size_t at = n - l - sl;
                if (memcmp(s + at, UNITS[u], l) != 0 || memcmp(s + at + l, sx, sl) != 0) continue;
                if (is_word_char(s[at - 1])) continue;
                size_t k = at;
                while (k && isspace((unsigned char)s[k - 1])) k--;
                if (k == 0) continue;
                int spaced = k < at;
                if (!(isdigit((unsigned char)s[k - 1]) || s[k - 1] == '}')) continue;
                if (l == 1 && !spaced) continue;
                n = k;
                hit = 1;
            }
        }
        if (!hit) break;
    }
    /* a spaced unit expression: "7 m^2", "7 km/h", "7 sq ft", "9.8 m/s²" */
    size_t u = spaced_units(s, n);
    if (u) n = u;
    /* spacing left at the end by a cut: "7\,", "7\ " */
    for (;;) {
        while (n && (s[n - 1] == ' ' || s[n - 1] == '~')) n--;
        if (n >= 2 && s[n - 2] == '\\' && (s[n - 1] == ',' || s[n - 1] == ';' || s[n - 1] == ' ' || s[n - 1] == '!') &&
            !(n >= 3 && s[n - 3] == '\\'))
            n -= 2;
        else if (n >= 2 && s[n - 1] == '\\' && s[n - 2] != '\\') /* "7\ " whose space went */
            n -= 1;
        else
            break;
    }
    *np = n;
}

/* Clean one candidate (see the file comment). Returns an arena string (NULL: no memory). */
char *gnorm_latex(garena *a, const char *s0, size_t n0, int boxed_last) {
    const char *s = s0;
    size_t n = n0;
    char *bx = collect_boxes(a, s0, n0, boxed_last);
    if (bx) {
        s = bx;
        n = strlen(bx);
    }
    int has_matrix = -1; /* found out when first needed */
    /* output is at most 2 bytes per input byte ("%" -> "\%") */
    char *o = ga_alloc(a, 2 * n + 8);
    if (!o) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && s[i + 1] == '\\' && i + 2 < n && isalpha((unsigned char)s[i + 2]) &&
            has_matrix < 0)
            has_matrix = memmem(s, n, "matrix", 6) != NULL || memmem(s, n, "{array}", 7) != NULL ||
                         memmem(s, n, "cases}", 6) != NULL;
        if (c == '\\' && i + 1 < n && s[i + 1] == '\\' && i + 2 < n && isalpha((unsigned char)s[i + 2]) &&
            !has_matrix) {
            i++; /* "\\frac" -> "\frac" */
            continue;
        }
        if (c == '\\' && i + 1 < n && s[i + 1] == '$') {
            i += 2;
            continue;
        }
        if (c == '$' || c == '"') {
            i++;
            continue;
        }
        if (c == '\'' && !(i > 0 && (isalpha((unsigned char)s[i - 1]) || s[i - 1] == '\''))) {
            i++;
            continue;
        }
        if (c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            o[w++] = ' ';
            i++;
            continue;
        }
        if (c == '\\' && starts(s, n, i, "\\!")) {
            i += 2;
            while (i < n && s[i] == ' ') i++;
            continue;
        }
        if (c == '\\' && (starts(s, n, i, "\\ldots") || starts(s, n, i, "\\cdots") ||
                          starts(s, n, i, "\\dots"))) {
            while (w && (o[w - 1] == ' ' || o[w - 1] == ',')) w--;
            i += starts(s, n, i, "\\dots") ? 5 : 6;
            o[w++] = ' ';
            continue;
        }
        if (c == '\\' && starts(s, n, i, "\\displaystyle")) {
            i += 13;
            continue;
        }
        if (c == '\\' && (starts(s, n, i, "\\mathrm{th}"))) {
            i += 11;
            continue;
        }
        if (c == '{') {
            size_t k = i + 1;
            while (k < n && s[k] == ' ') k++;
            if (k < n && s[k] == ',') {
                size_t m = k + 1;
                while (m < n && s[m] == ' ') m++;
                if (m < n && s[m] == '}') { /* {,} */
                    while (w && o[w - 1] == ' ') w--;
                    o[w++] = ',';
                    i = m + 1;
                    continue;
                }
            }
        }
        /* \text{and} / \text{ or } -> ","  (also \mbox) */
        if (c == '\\' && (starts(s, n, i, "\\text{") || starts(s, n, i, "\\mbox{"))) {
            size_t k = i + 6;
            while (k < n && s[k] == ' ') k++;
            size_t wl = starts(s, n, k, "and") ? 3 : starts(s, n, k, "or") ? 2 : 0;
            if (wl) {
                size_t m = k + wl;
                while (m < n && s[m] == ' ') m++;
                if (m < n && s[m] == '}') {
                    while (w && (o[w - 1] == ' ' || o[w - 1] == ',')) w--;
                    o[w++] = ',';
                    i = m + 1;
                    continue;
                }
            }
            /* \text{percent} etc. */
            if (starts(s, n, k, "percent}") || starts(s, n, k, "pct}") ||
                starts(s, n, k, "percentage}")) {
                o[w++] = '\\';
                o[w++] = '%';
                while (i < n && s[i] != '}') i++;
                i++;
                continue;
            }
        }
        if (isalpha((unsigned char)c) && (i == 0 || s[i - 1] != '\\')) {
            if (word_at(s, n, i, "and") || word_at(s, n, i, "or")) {
                while (w && (o[w - 1] == ' ' || o[w - 1] == ',')) w--;
                o[w++] = ',';
                i += s[i] == 'a' ? 3 : 2;
                continue;
            }
            const char *pw = word_at(s, n, i, "percentage") ? "percentage"
                             : word_at(s, n, i, "percent")  ? "percent"
                             : word_at(s, n, i, "pct")      ? "pct"
                                                            : NULL;
            if (pw) {
                while (w && o[w - 1] == ' ') w--;
                o[w++] = '\\';
                o[w++] = '%';
                i += strlen(pw);
                continue;
            }
            /* skip over a whole word so "and" inside "random" is never seen */
            size_t k = i;
            while (k < n && isalpha((unsigned char)s[k])) o[w++] = s[k++];
            i = k;
            continue;
        }
        if (c == '\\') { /* copy a command name whole */
            o[w++] = s[i++];
            if (i < n && isalpha((unsigned char)s[i])) {
                while (i < n && isalpha((unsigned char)s[i])) o[w++] = s[i++];
            } else if (i < n) {
                o[w++] = s[i++];
            }
            continue;
        }
        o[w++] = c;
        i++;
    }
    /* trim */
    size_t b = 0;
    while (b < w && (isspace((unsigned char)o[b]) || o[b] == ',')) b++;
    while (w > b && (isspace((unsigned char)o[w - 1]) || o[w - 1] == ',' ||
                     (o[w - 1] == '.' && !(w >= 2 && isdigit((unsigned char)o[w - 2]) && 0))))
        w--;
    o[w] = 0;
    char *r = o + b;
    size_t rn = w - b;
    strip_units(r, &rn);
    r[rn] = 0;
    return r;
}
