/* choice.c — multiple-choice answers: reading a choice gold, finding the chosen letter.
 *
 * A gold is a choice when it is one capital letter ("C", "(C)", "\text{(C)}", "$C$") or a
 * letter with its option text ("(B) 42 apples", "B) 42", "B. $\frac12$", "C: 7 cm"); with
 * mode mcq also a lowercase letter and "Option B" / "Answer: B". The letter decides; the option
 * text is kept, so a prediction that names no letter but gives the option's value ("42")
 * still matches it.
 *
 * In a model's text the chosen letter is a capital standing alone (after the start, a space,
 * "(", "{" or "**"; before ".", ",", ":", ";", ")", "}", "**", a space or the end), in tiers:
 *
 *   0    "final answer is X"
 *   50   a choice said in words: "I pick / choose / select / go with X", "the correct
 *        (answer | option | choice) is X", "X is correct", "X is the answer"
 *   100  "answer: X"          200  "answer ... X" within 60 characters
 *   250  X at a line start    300  anywhere
 *
 * and the last one of the best tier wins. A letter that the text rejects is never chosen:
 * "A and D are wrong", "not B", "rule out C", "eliminate A, B and E", "neither A nor D".
 * The words "A" and "I" count only with an anchor, brackets or a mark after them. In mode
 * mcq a lowercase letter counts too, after an anchor ("Answer: d", tier 100 or better). */
#include "grade_int.h"

#include <ctype.h>
#include <string.h>

#define SP(c) ((c) == ' ' || (c) == '\n' || (c) == '\t' || (c) == '\r')

/* Does s[i..] start with the lowercase phrase w, ignoring case, ending at a non-letter? */
static int word_at(const char *s, size_t n, size_t i, const char *w) {
    size_t k = 0;
    for (; w[k]; k++) {
        if (i + k >= n || tolower((unsigned char)s[i + k]) != w[k]) return 0;
    }
    return i + k >= n || !isalpha((unsigned char)s[i + k]);
}

/* Does the lowercase phrase w end right before position i (after a non-letter)? */
static int word_before(const char *s, size_t i, const char *w) {
    size_t l = strlen(w);
    if (i < l) return 0;
    size_t a = i - l;
    for (size_t k = 0; k < l; k++)
        if (tolower((unsigned char)s[a + k]) != w[k]) return 0;
    return a == 0 || !isalpha((unsigned char)s[a - 1]);
}

/* ---- the gold ---- */

/* Skip spaces, '$', '*' and the openings "\text{" / "\textbf{" / "\mathrm{" from i. */
static size_t skip_wrap(const char *s, size_t i) {
    for (;;) {
        if (s[i] == ' ' || s[i] == '$' || s[i] == '*') {
            i++;
            continue;
        }
        static const char *const cmds[] = {"\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{", "\\textrm{", NULL};
        int hit = 0;
        for (int k = 0; cmds[k] && !hit; k++)
            if (!strncmp(s + i, cmds[k], strlen(cmds[k]))) {
                i += strlen(cmds[k]);
                hit = 1;
            }
        if (!hit) return i;
    }
}

int gchoice_gold(const char *gold, char *letter, const char **option, int loose) {
    if (!gold) return 0;
    if (option) *option = NULL;
    size_t i = skip_wrap(gold, 0);
    if (loose) { /* "Option B", "Answer: B", "choice (B)" */
        static const char *const pre[] = {"option", "choice", "answer", "the answer is", NULL};
        for (int k = 0; pre[k]; k++)
            if (word_at(gold, strlen(gold), i, pre[k])) {
                i += strlen(pre[k]);
                while (gold[i] == ' ' || gold[i] == ':') i++;
                i = skip_wrap(gold, i);
                break;
            }
    }
    int paren = gold[i] == '(';
    if (paren) i++;
    char c = gold[i];
    if (loose && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (!(c >= 'A' && c <= 'Z') || isalnum((unsigned char)gold[i + 1])) return 0;
    i++;
    if (paren && gold[i] != ')') return 0;
    /* the mark after the letter: ")" "." ":" (any of them, with closing braces) */
    size_t m = i;
    int marked = paren;
    while (gold[m] == ')' || gold[m] == '.' || gold[m] == ':' || gold[m] == '}' || gold[m] == '$' ||
           gold[m] == '*') {
        marked |= gold[m] == ')' || gold[m] == '.' || gold[m] == ':';
        m++;
    }
    size_t rest = m;
    while (gold[rest] == ' ' || gold[rest] == '~') rest++;
    if (gold[rest] == 0) { /* the letter alone */
        *letter = c;
        return 1;
    }
    /* a letter with option text needs its mark and a space: "(B) 42", "B) 42", "B. 42" */
    if (!marked || rest == m) return 0;
    *letter = c;
    if (option) *option = gold + rest;
    return 1;
}

/* ---- the letter in a model's text ---- */

/* After a letter ending at i: a list of more letters ("and D", ", E"), then a phrase that
 * rejects them all ("are wrong")? */
static int rejected_after(const char *s, size_t n, size_t i) {
    size_t k = i;
    for (;;) {
        while (k < n && (s[k] == ')' || s[k] == '*' || s[k] == '}')) k++;
        size_t m = k;
        int comma = 0;
        while (m < n && s[m] == ' ') m++;
        if (m < n && s[m] == ',') m++, comma = 1;
        while (m < n && s[m] == ' ') m++;
        if (word_at(s, n, m, "and")) m += 3;
        else if (word_at(s, n, m, "or")) m += 2;
        else if (word_at(s, n, m, "nor")) m += 3;
        else if (!comma) break;
        while (m < n && (s[m] == ' ' || s[m] == '(' || s[m] == '*')) m++;
        if (m < n && s[m] >= 'A' && s[m] <= 'Z' && (m + 1 >= n || !isalnum((unsigned char)s[m + 1]))) {
            k = m + 1;
            continue;
        }
        break;
    }
    while (k < n && (s[k] == ' ' || s[k] == ',')) k++;
    static const char *const neg[] = {"is wrong", "are wrong", "is incorrect", "are incorrect", "is false",
                                      "are false", "is not", "are not", "isn't", "aren't", "is also wrong",
                                      "are also wrong", "can be ruled out", "can be eliminated",
                                      "is eliminated", "are eliminated", "is ruled out", "are ruled out",
                                      "cannot be", "can't be", "is impossible", "are impossible",
                                      "does not", "doesn't", "do not", "don't", "fails", "fail",
                                      "is out", "are out", "is too", "wrong", "incorrect", "is a trap",
                                      "are traps", "is a distractor", "are distractors", NULL};
    for (int q = 0; neg[q]; q++)
        if (word_at(s, n, k, neg[q])) return 1;
    return 0;
}

/* Before the letter at i: a list of letters ("A, B and"), after a word that rejects them
 * ("not", "rule out", "eliminate", "except", "neither ... nor")? */
static int rejected_before(const char *s, size_t i) {
    size_t b = i;
    for (;;) {
        while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '(' || s[b - 1] == '*')) b--;
        size_t m = b;
        if (word_before(s, m, "and")) m -= 3;
        else if (word_before(s, m, "or")) m -= 2;
        else if (m > 0 && s[m - 1] == ',') m--;
        else break;
        while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == ',' || s[m - 1] == ')' || s[m - 1] == '*')) m--;
        if (m > 0 && s[m - 1] >= 'A' && s[m - 1] <= 'Z' && (m < 2 || !isalnum((unsigned char)s[m - 2]))) {
            b = m - 1;
            continue;
        }
        break;
    }
    while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '(' || s[b - 1] == '*')) b--;
    if (word_before(s, b, "option") || word_before(s, b, "options") || word_before(s, b, "choice") ||
        word_before(s, b, "choices")) {
        b -= word_before(s, b, "options") || word_before(s, b, "choices") ? 7 : 6;
        while (b > 0 && s[b - 1] == ' ') b--;
    }
    static const char *const neg[] = {"not", "nor", "neither", "rule out", "rules out", "ruled out",
                                      "ruling out", "eliminate", "eliminates", "eliminated", "eliminating",
                                      "except", "excluding", "exclude", "rather than", "instead of",
                                      "reject", "rejects", "rejected", "discard", "discards", "isn't",
                                      "not option", "wrong", "incorrect", "unlike", NULL};
    for (int q = 0; neg[q]; q++)
        if (word_before(s, b, neg[q])) return 1;
    return 0;
}

/* A choice said in words around the letter at i (ending at e): tier 50, else 0. */
static int said_choice(const char *s, size_t n, size_t i, size_t e) {
    /* before, in the same clause: "I pick", "the correct answer is", "I'd go with" */
    size_t lo = i > 48 ? i - 48 : 0;
    for (size_t k = i; k > lo; k--) {
        char c = s[k - 1];
        if (c == '.' || c == ';' || c == '!' || c == '?' || c == '\n') {
            lo = k;
            break;
        }
    }
    static const char *const verbs[] = {"pick", "choose", "chose", "select", "go with", "going with",
                                        "opt for", "correct answer", "correct option", "correct choice",
                                        "right answer", "right option", "best answer", "best option",
                                        "correct one", "correct letter", NULL};
    for (size_t k = lo; k < i; k++) {
        if (k > 0 && isalpha((unsigned char)s[k - 1])) continue;
        for (int q = 0; verbs[q]; q++)
            if (word_at(s, n, k, verbs[q])) return 50;
    }
    /* after: "X is correct", "X is the answer" */
    size_t k = e;
    while (k < n && (s[k] == ')' || s[k] == '*' || s[k] == '}' || s[k] == ' ')) k++;
    static const char *const after[] = {"is correct", "is right", "is the answer", "is the correct",
                                        "is the right", "is the best", NULL};
    for (int q = 0; after[q]; q++)
        if (word_at(s, n, k, after[q])) return 50;
    return 0;
}

static int ieq(const char *s, size_t n, size_t i, const char *w) {
    for (size_t k = 0; w[k]; k++)
        if (i + k >= n || tolower((unsigned char)s[i + k]) != w[k]) return 0;
    return 1;
}

char gfind_letter(const char *s, size_t n, char maxl, int loose) {
    int bestp = 1000;
    size_t beste = 0;
    char best = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int lower = loose && c >= 'a' && c <= maxl - 'A' + 'a';
        if (lower) c = (char)(c - 'a' + 'A');
        else if (!(c >= 'A' && c <= maxl)) continue;
        if (i > 0 && !(SP(s[i - 1]) || s[i - 1] == '(' || s[i - 1] == '*' || s[i - 1] == '{'))
            continue;
        if (i + 1 < n && !(strchr(".,:;)*} \t\n\r", s[i + 1]))) continue;
        if (rejected_before(s, i) || rejected_after(s, n, i + 1)) continue;
        size_t b = i;
        while (b > 0 && (s[b - 1] == '(' || s[b - 1] == '*' || s[b - 1] == ' ' || s[b - 1] == '{')) b--;
        int prio = 300;
        if (b == 0 || s[b - 1] == '\n') prio = 250;
        size_t lo = i > 60 ? i - 60 : 0;
        for (size_t k = lo; k < i; k++)
            if (ieq(s, n, k, "answer")) {
                prio = k + 7 <= i && s[k + 6] == ':' ? 100 : 200;
                if (k >= 6 && ieq(s, n, k - 6, "final ")) prio = 0;
            }
        if (prio > 50 && said_choice(s, n, i, i + 1)) prio = 50;
        if (lower && prio > 100) continue; /* mode mcq: "answer: d", never a stray "a" */
        if (c == 'I' || c == 'A') { /* the words "I" and "A" need an anchor, brackets or a mark */
            int bracket = i > 0 && s[i - 1] == '(' && i + 1 < n && s[i + 1] == ')';
            int marked = prio == 250 && i + 1 < n && strchr(".):", s[i + 1]);
            if (prio >= 250 && !bracket && !marked) continue;
        }
        if (prio < bestp || (prio == bestp && i >= beste)) {
            bestp = prio;
            beste = i;
            best = c;
        }
    }
    return best;
}
