/* grade.c — placeholder grader: last \boxed{} extraction and normalised string equality.
 * The full LaTeX-aware grader (issue 3) replaces this file. */
#include "ponder/grade.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *pd_grade_extract(const char *text, const char *gold) {
    (void)gold;
    const char *p = NULL, *q = text;
    while ((q = strstr(q, "\\boxed{")) != NULL) p = q++;
    if (!p) return NULL;
    p += 7;
    int depth = 1;
    const char *e = p;
    for (; *e && depth; e++) depth += (*e == '{') - (*e == '}');
    if (depth) return NULL;
    size_t n = (size_t)(e - 1 - p);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

char *pd_grade_key(const char *a) {
    size_t n = strlen(a);
    char *s = malloc(n + 1), *o = s;
    if (!s) return NULL;
    for (; *a; a++)
        if (!isspace((unsigned char)*a) && *a != '$') *o++ = *a;
    *o = 0;
    return s;
}

int pd_grade_equal(const char *pred, const char *gold) {
    char *a = pd_grade_key(pred), *b = pd_grade_key(gold);
    int eq = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    return eq;
}
