/* pool.c — persistent worker threads for the forward pass.
 *
 * A forward pass issues a few dozen parallel loops per layer (matmuls, attention), each
 * lasting microseconds to milliseconds, so threads are created once with the model and
 * reused. A job is published under a mutex with a generation counter; workers wake on a
 * condition variable, take task indices from an atomic counter until none are left, and
 * report done; the caller works as thread 0 meanwhile and then waits for the others.
 * Trade-off: condition variables alone cost a wake-up per job, and decode issues ~190 jobs
 * per token; so workers and the caller first poll for up to PONDER_POOL_SPIN_US microseconds
 * (default 50; 0: sleep at once), yielding the CPU between polls, which catches the next job
 * of a forward pass without a wake-up (near idle: Q8_0 decode 24 -> 32 tok/s, bf16 15 -> 18,
 * docs/PERFORMANCE.md) and never holds a core longer than that between jobs. */
#include "engine/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

struct pd_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    atomic_ulong gen;        /* incremented per job (under mu; polled without it) */
    atomic_int stop;
    atomic_int n_done;       /* workers finished with the current job */
    long spin_ns;            /* how long to poll before sleeping */
    pd_pool_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;
};

typedef struct worker_arg {
    pd_pool *p;
    int idx;
} worker_arg;

/* Take tasks until none are left. */
static void drain(pd_pool *p, int thread) {
    for (;;) {
        size_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Poll until done(p, arg) or spin_ns pass; returns done's last answer. */
static int spin_until(const pd_pool *p, int (*done)(pd_pool *, unsigned long), unsigned long arg) {
    if (p->spin_ns <= 0) return 0;
    long end = now_ns() + p->spin_ns;
    for (;;) {
        for (int i = 0; i < 16; i++) {
            if (done((pd_pool *)p, arg)) return 1;
            CPU_RELAX();
        }
        if (now_ns() >= end) return done((pd_pool *)p, arg);
        sched_yield(); /* on a busy machine, the thread that will publish the next job may need this CPU */
    }
}
static int new_job(pd_pool *p, unsigned long seen) { return atomic_load(&p->gen) != seen || atomic_load(&p->stop); }
static int all_done(pd_pool *p, unsigned long want) { return (unsigned long)atomic_load(&p->n_done) >= want; }

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    pd_pool *p = a.p;
    unsigned long seen = 0;
    for (;;) {
        spin_until(p, new_job, seen);
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mu);
        if (atomic_load(&p->stop)) break;
        seen = atomic_load(&p->gen);
        pthread_mutex_unlock(&p->mu);
        drain(p, a.idx);
        pthread_mutex_lock(&p->mu);
        if (atomic_fetch_add(&p->n_done, 1) + 1 == p->n_threads - 1) pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Create the pool and start n_threads - 1 workers. */
pd_pool *pd_pool_new(int n_threads, pd_error *err) {
    if (n_threads < 1) n_threads = 1;
    pd_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc((size_t)n_threads, sizeof *p->threads))) {
        free(p);
        pd_err_set(err, PD_ENOMEM, "thread pool: out of memory");
        return NULL;
    }
    p->n_threads = 1;
    const char *env = getenv("PONDER_POOL_SPIN_US");
    p->spin_ns = (env && *env ? atol(env) : 50) * 1000L;
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->n_done, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->next, 0);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->p = p;
        a->idx = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, a)) {
            free(a);
            break;
        }
        p->n_threads++;
    }
    if (p->n_threads != n_threads) {
        pd_pool_free(p);
        pd_err_set(err, PD_ENOMEM, "thread pool: could not start %d threads", n_threads);
        return NULL;
    }
    return p;
}

/* Stop and join the workers. */
void pd_pool_free(pd_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

int pd_pool_size(const pd_pool *p) { return p->n_threads; }

/* Publish the job, work on it as thread 0, wait for the workers. Small jobs run inline. */
void pd_pool_run(pd_pool *p, size_t n_tasks, pd_pool_fn fn, void *ctx) {
    if (!n_tasks) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (size_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->n_done, 0);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    if (spin_until(p, all_done, (unsigned long)(p->n_threads - 1))) return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->n_done) < p->n_threads - 1) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
