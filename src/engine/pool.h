/* pool.h — a persistent pthread pool running "for task in 0..n: fn(ctx, task, thread)". */
#ifndef PD_ENGINE_POOL_H
#define PD_ENGINE_POOL_H

#include <stddef.h>

#include "ponder/base.h"

typedef struct pd_pool pd_pool;
/* fn runs each task index once; `thread` is in [0, pd_pool_size) and identifies the
 * worker (for per-thread scratch). */
typedef void (*pd_pool_fn)(void *ctx, size_t task, int thread);

/* A pool of n_threads threads in total: the caller of pd_pool_run is thread 0 and
 * n_threads - 1 workers wait for jobs. Returns NULL with err set on failure. */
pd_pool *pd_pool_new(int n_threads, pd_error *err);
void pd_pool_free(pd_pool *p);
int pd_pool_size(const pd_pool *p);
/* Run n_tasks tasks across the pool and return when all are done. */
void pd_pool_run(pd_pool *p, size_t n_tasks, pd_pool_fn fn, void *ctx);

#endif
