/* ponder.h — the public API of libponder.
 *
 * ponder scales test-time compute for language-model reasoning: a policy model writes a
 * solution step by step, a process reward model scores the steps, and a search strategy
 * spends a compute budget to pick the best answer. This header gathers the modules' public
 * headers; each documents its own functions. Errors: see ponder/base.h. */
#ifndef PONDER_H
#define PONDER_H

#include "ponder/base.h"
#include "ponder/grade.h"
#include "ponder/dataset.h"
#include "ponder/hub.h"
#include "ponder/tokenizer.h"
#include "ponder/search.h"
#include "ponder/eval.h"
#include "ponder/model.h"
#include "ponder/quantize.h"
#include "ponder/prm.h"
#include "ponder/serve.h"
#include "ponder/recipe.h"

#endif
