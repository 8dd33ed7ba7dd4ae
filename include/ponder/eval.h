/* ponder/eval.h — placeholder, filled by its module. */
#ifndef PONDER_EVAL_H
#define PONDER_EVAL_H
#include "ponder/base.h"
#endif
