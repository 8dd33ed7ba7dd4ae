/* ponder/model.h — placeholder, filled by its module. */
#ifndef PONDER_MODEL_H
#define PONDER_MODEL_H
#include "ponder/base.h"
#endif
