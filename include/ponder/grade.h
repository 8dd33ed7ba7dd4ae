/* ponder/grade.h — answer extraction and equivalence (src/grade/).
 *
 * One equivalence serves both accuracy (eval) and answer grouping (weighted / majority
 * voting in search): two answers with equal keys are equal answers. */
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

#ifdef __cplusplus
}
#endif
#endif
