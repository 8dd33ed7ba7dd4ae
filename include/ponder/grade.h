/* ponder/grade.h — answer extraction and equivalence (src/grade/).
 *
 * One equivalence serves both accuracy (eval) and answer grouping (weighted / majority
 * voting in search): two answers with equal keys are equal answers.
 *
 * The semantics follow Math-Verify (Hugging Face): answers are parsed into expression
 * trees and compared by type (numbers exactly or after float rounding, expressions at
 * random points, intervals, sets, tuples, matrices, relations, text); the gold answer's
 * form decides how the prediction is read. docs/GRADING.md lists every difference.
 *
 * All functions are thread-safe (no shared state), bounded in time and memory on any
 * input, and never crash. */
#ifndef PONDER_GRADE_H
#define PONDER_GRADE_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Extract the final answer from a model's text (last \boxed{}, "The answer is", ...).
 * `gold` may be NULL; when given, its form guides extraction (e.g. a letter for multiple
 * choice). Returns a malloc'd string, or NULL when the text holds no answer. */
char *pd_grade_extract(const char *text, const char *gold);

/* 1 when the two (already extracted) answers are equivalent, else 0. The gold's form
 * decides how the prediction is read. */
int pd_grade_equal(const char *pred, const char *gold);

/* A canonical key for an answer: equivalent answers get the same key (for voting).
 * Returns a malloc'd string ("" for an empty answer). */
char *pd_grade_key(const char *answer);

/* ---- options (the three functions above use pd_grade_opts_default) ---- */

typedef struct pd_grade_opts {
    int match_latex;      /* read LaTeX: \boxed{}, $..$, \(..\), \[..\] (default 1) */
    int match_expr;       /* read plain numbers and a+b/c expressions (default 1) */
    int boxed_priority;   /* 0: \boxed{} as strong as "final answer is" (default);
                             50: after "final answer ... is"; -1: ignore \boxed{} */
    int float_rounding;   /* decimals both sides are rounded to when one is a decimal
                             number (default 6) */
    int strict;           /* 1: variable names matter, f(x) != f(y) (default 1) */
    int set_relation;     /* 1: a relation prediction may equal a set gold, e.g.
                             -2 \le x \le 7 vs [-2,7] (default 0; the other way is
                             always allowed) */
    int integer_only;     /* 1: AIME / GSM8K: answers are integers; extraction takes the
                             last integer and equality compares integer values */
    int skip_think;       /* 1: ignore <think>...</think> blocks (default 1) */
    int bare_answers;     /* 1: pd_grade reads a short text with no math delimiters ($, \(,
                             \[, \boxed) and no prose (at most one word outside braces) whole,
                             as one answer: "3, 5, 7", "1,-2", "10\sqrt3" (default 1);
                             0: both sides always go through extraction (Math-Verify's
                             way, where "1,22" is the decimal 1.22 and "3, 5, 7" is 7) */
    double rel_tol;       /* > 0: approximations: a side written with a decimal number (6.283,
                             1.41x, 3.3e-4) also equals the other side within this relative
                             error (6.283 = 2\pi at 1e-4); 0 (default): only float_rounding,
                             Math-Verify's rule */
    int mode;             /* PD_GRADE_AUTO (default): a gold that is a capital letter or a
                             letter with its option text ("(B) 42 apples") is multiple choice;
                             PD_GRADE_MCQ: every gold is a choice letter, in any form ("b",
                             "Option B"); PD_GRADE_MATH: never (a letter is a variable) */
} pd_grade_opts;

enum { PD_GRADE_AUTO = 0, PD_GRADE_MCQ = 1, PD_GRADE_MATH = 2 };

/* Fill `o` with the defaults above. */
void pd_grade_opts_default(pd_grade_opts *o);

/* Extraction with options (NULL = defaults); same contract as pd_grade_extract. */
char *pd_grade_extract_opts(const char *text, const char *gold, const pd_grade_opts *o);

/* Equality of two already extracted answers with options (NULL = defaults). */
int pd_grade_equal_opts(const char *pred, const char *gold, const pd_grade_opts *o);

/* The result of grading one model output against one reference. */
typedef struct pd_grade_result {
    int equal;          /* 1 when the prediction's answer equals the gold's */
    char *pred_answer;  /* extracted prediction answer, whole (malloc'd, "" when none) */
    char *gold_answer;  /* extracted gold answer, whole (malloc'd, "" when none) */
    int pred_parsed;    /* 1 when the answer was read as math; 0 when it could not be read
                           whole (or is prose) and was compared as normalised text */
    int gold_parsed;
} pd_grade_result;

/* Grade a model's text against a reference: extract an answer from both sides (the gold
 * may itself be a full solution; a bare answer extracts to itself) and compare them.
 * Returns 0, or PD_ENOMEM / PD_EINVAL with `err` set. Free with pd_grade_result_free. */
int pd_grade(const char *pred_text, const char *gold_text, const pd_grade_opts *o,
             pd_grade_result *res, pd_error *err);
void pd_grade_result_free(pd_grade_result *res);

#ifdef __cplusplus
}
#endif
#endif
