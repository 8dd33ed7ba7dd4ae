/* ponder/search.h — placeholder, filled by its module. */
#ifndef PONDER_SEARCH_H
#define PONDER_SEARCH_H
#include "ponder/base.h"
#endif
