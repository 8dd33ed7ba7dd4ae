/* test_pool_spin.c — the thread pool with polling before sleeping (PONDER_POOL_SPIN_US, read
 * when a pool is made): every task runs once on a valid thread, whether the workers catch the
 * next job while polling (long spin, jobs back to back) or fall asleep first (1 us, pauses
 * between jobs), and pools free cleanly. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "engine/pool.h"
#include "test.h"

typedef struct spin_ctx {
    atomic_int hits[512];
    atomic_int bad_thread;
    int n_threads;
} spin_ctx;

static void spin_task(void *ctx, size_t task, int thread) {
    spin_ctx *c = ctx;
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
}

static void run_rounds(const char *spin, int pause) {
    setenv("PONDER_POOL_SPIN_US", spin, 1);
    for (int nt = 2; nt <= 3; nt++) {
        pd_pool *p = pd_pool_new(nt, NULL);
        CHECK(p != NULL);
        if (!p) continue;
        static spin_ctx c;
        for (int round = 0; round < 200; round++) {
            size_t n = (size_t)(round * 37 % 512);
            for (int i = 0; i < 512; i++) atomic_init(&c.hits[i], 0);
            atomic_init(&c.bad_thread, 0);
            c.n_threads = nt;
            pd_pool_run(p, n, spin_task, &c);
            int ok = 1;
            for (size_t i = 0; i < 512; i++) ok &= atomic_load(&c.hits[i]) == (i < n ? 1 : 0);
            CHECK_MSG(ok, "spin %s threads %d round %d", spin, nt, round);
            CHECK_EQ_INT(atomic_load(&c.bad_thread), 0);
            if (pause && round % 10 == 0) nanosleep(&(struct timespec){0, 200000}, NULL); /* 200 us: past the polling */
        }
        pd_pool_free(p);
    }
    unsetenv("PONDER_POOL_SPIN_US");
}

static void t_spin_long(void) { run_rounds("2000", 0); }
static void t_spin_short(void) { run_rounds("1", 1); }
static void t_spin_off(void) { run_rounds("0", 1); }

int main(void) {
    RUN(t_spin_long);
    RUN(t_spin_short);
    RUN(t_spin_off);
    return test_done();
}
