/* kv.c — the KV cache in reference-counted blocks, shared between the branches of a tree.
 *
 * A sequence's cache is a table of blocks of PD_KV_BLOCK positions; a block holds those
 * positions' keys and values for every layer, (n_layers, 2, PD_KV_BLOCK, kv_dim) floats.
 * Forking (pd_kv_clone) copies only the table and takes a reference on each block, so
 * sixteen branches after a 200-token prompt hold the prompt's blocks once. A block is
 * written only by a cache that holds it alone: before a forward pass appends positions,
 * pd_kv_reserve gives the cache its own copy of any shared block those positions fall in
 * (copy on write; in practice the partial tail block of a fork). Truncating releases the
 * blocks past the new end; freeing releases all. A block goes back to the allocator when its
 * last holder lets it go, so pruning a tree node frees exactly what only it held.
 *
 * The pool. Each model has its own (a policy's and a PRM's never compete): it counts the live
 * blocks (pd_kv_blocks_live, so that tests can check that forks and prunes never leak) and
 * their peak, and may have a budget (pd_kv_set_memory, --kv-memory): a block past it is
 * refused, and pd_model_forward fails with PD_ELIMIT before computing anything. The engine
 * itself never waits or evicts; the backends (src/backend/policy_local.c, prm_local.c) plan
 * their batches with pd_kv_blocks_free and pd_kv_blocks_for so that a forward call never
 * meets the bound: they hold work back until in-flight work finishes and evict idle caches
 * to make room (docs/SEARCH.md, KV memory). Blocks come from malloc: the budget bounds how
 * many are live, it is not a preallocated arena, so an unbounded model pays nothing. */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

/* Floats in one block. */
static size_t block_floats(const pd_model *m) {
    return (size_t)m->w.cfg.n_layers * 2 * PD_KV_BLOCK * (size_t)m->w.cfg.n_kv_heads * (size_t)m->w.cfg.head_dim;
}

void pd_kv_pool_init(pd_kv_pool *p) {
    atomic_init(&p->live, 0);
    atomic_init(&p->peak, 0);
    p->budget = SIZE_MAX;
}

/* A block from m's pool: NULL with *rc = PD_ELIMIT past the budget, PD_ENOMEM when malloc fails. */
static pd_kv_block *block_new(const pd_model *m, int *rc) {
    pd_kv_pool *p = m->kv_pool;
    size_t n = block_floats(m), bytes;
    *rc = PD_ENOMEM;
    if (pd_mul_size(n, sizeof(float), &bytes) || bytes > SIZE_MAX - sizeof(pd_kv_block)) return NULL;
    size_t live = atomic_fetch_add(&p->live, 1) + 1;
    if (live > p->budget) {
        atomic_fetch_sub(&p->live, 1);
        *rc = PD_ELIMIT;
        return NULL;
    }
    pd_kv_block *b = malloc(sizeof *b + bytes);
    if (!b) {
        atomic_fetch_sub(&p->live, 1);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    size_t peak = atomic_load(&p->peak);
    while (live > peak && !atomic_compare_exchange_weak(&p->peak, &peak, live)) {}
    return b;
}

static void block_unref(const pd_model *m, pd_kv_block *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b);
        atomic_fetch_sub(&m->kv_pool->live, 1);
    }
}

/* A new, empty cache for model m. */
pd_kv *pd_kv_new(const pd_model *m, pd_error *err) {
    pd_kv *kv = calloc(1, sizeof *kv);
    if (!kv) {
        pd_err_set(err, PD_ENOMEM, "kv cache: out of memory");
        return NULL;
    }
    kv->m = m;
    kv->kv_dim = (size_t)m->w.cfg.n_kv_heads * (size_t)m->w.cfg.head_dim;
    return kv;
}

void pd_kv_free(pd_kv *kv) {
    if (!kv) return;
    for (size_t b = 0; b < kv->n_blocks; b++) block_unref(kv->m, kv->blocks[b]);
    free(kv->blocks);
    free(kv);
}

size_t pd_kv_len(const pd_kv *kv) { return kv->len; }

/* Keep the first n positions; blocks wholly past them are released. */
void pd_kv_truncate(pd_kv *kv, size_t n) {
    if (n >= kv->len) return;
    kv->len = n;
    size_t keep = (n + PD_KV_BLOCK - 1) / PD_KV_BLOCK;
    for (size_t b = keep; b < kv->n_blocks; b++) block_unref(kv->m, kv->blocks[b]);
    if (keep < kv->n_blocks) kv->n_blocks = keep;
}

/* Release the blocks past the positions held (reserved by a pd_kv_reserve that failed). */
void pd_kv_trim(pd_kv *kv) {
    size_t keep = (kv->len + PD_KV_BLOCK - 1) / PD_KV_BLOCK;
    for (size_t b = keep; b < kv->n_blocks; b++) block_unref(kv->m, kv->blocks[b]);
    if (keep < kv->n_blocks) kv->n_blocks = keep;
}

/* Room for `need` positions, and positions [len, need) writable by this cache alone.
 * 0, PD_ELIMIT (the pool's budget) or PD_ENOMEM (the cache stays valid, its tokens unchanged). */
int pd_kv_reserve(pd_kv *kv, size_t need) {
    int rc;
    size_t nb = (need + PD_KV_BLOCK - 1) / PD_KV_BLOCK;
    if (nb > kv->cap_blocks) {
        size_t cap = kv->cap_blocks ? kv->cap_blocks : 8;
        while (cap < nb) cap *= 2;
        pd_kv_block **t = realloc(kv->blocks, cap * sizeof *t);
        if (!t) return PD_ENOMEM;
        kv->blocks = t;
        kv->cap_blocks = cap;
    }
    for (; kv->n_blocks < nb; kv->n_blocks++)
        if (!(kv->blocks[kv->n_blocks] = block_new(kv->m, &rc))) return rc;
    /* copy on write: a shared block that the new positions fall in becomes this cache's own */
    for (size_t b = kv->len / PD_KV_BLOCK; b < nb; b++) {
        pd_kv_block *old = kv->blocks[b];
        if (atomic_load(&old->refs) == 1) continue;
        pd_kv_block *own = block_new(kv->m, &rc);
        if (!own) return rc;
        memcpy(own->data, old->data, block_floats(kv->m) * sizeof(float));
        kv->blocks[b] = own;
        block_unref(kv->m, old);
    }
    return 0;
}

/* A fork of kv: the same blocks, shared (see the top of the file). */
pd_kv *pd_kv_clone(const pd_kv *kv, pd_error *err) {
    pd_kv *c = pd_kv_new(kv->m, err);
    if (!c) return NULL;
    size_t nb = (kv->len + PD_KV_BLOCK - 1) / PD_KV_BLOCK;
    if (nb && !(c->blocks = malloc(nb * sizeof *c->blocks))) {
        free(c);
        pd_err_set(err, PD_ENOMEM, "kv cache: out of memory");
        return NULL;
    }
    for (size_t b = 0; b < nb; b++) {
        c->blocks[b] = kv->blocks[b];
        atomic_fetch_add(&c->blocks[b]->refs, 1);
    }
    c->n_blocks = c->cap_blocks = nb;
    c->len = kv->len;
    return c;
}

size_t pd_kv_blocks_live(const pd_model *m) { return atomic_load(&m->kv_pool->live); }

size_t pd_kv_blocks_peak(const pd_model *m) { return atomic_load(&m->kv_pool->peak); }

size_t pd_kv_blocks_budget(const pd_model *m) { return m->kv_pool->budget; }

size_t pd_kv_blocks_free(const pd_model *m) {
    size_t live = atomic_load(&m->kv_pool->live), budget = m->kv_pool->budget;
    return budget == SIZE_MAX ? SIZE_MAX : live < budget ? budget - live : 0;
}

void pd_kv_set_memory(pd_model *m, size_t bytes) {
    size_t per = block_floats(m) * sizeof(float);
    m->kv_pool->budget = bytes && per ? bytes / per : SIZE_MAX;
}

size_t pd_kv_blocks_for(size_t positions) { return positions / PD_KV_BLOCK + (positions % PD_KV_BLOCK != 0); }

size_t pd_kv_block_positions(void) { return PD_KV_BLOCK; }

size_t pd_kv_block_bytes(const pd_model *m) { return block_floats(m) * sizeof(float); }

/* Parse a memory size: digits with an optional unit K, M, G or T (powers of 1024; "KB",
 * "KiB", "MB", ... mean the same; a lone "B" is bytes). 0 or -1 (empty, not a number, an
 * unknown unit, or more than SIZE_MAX bytes). */
int pd_kv_memory_parse(const char *s, size_t *bytes) {
    if (!s) return -1;
    size_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (SIZE_MAX - (size_t)(*p - '0')) / 10) return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    int shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case 'b': case 'B': case 0: break;
    default: return -1;
    }
    if (shift) {
        p++;
        if (*p == 'i' && p[1] == 'B') p += 2;
        else if (*p == 'B' || *p == 'b') p++;
    } else if (*p) {
        p++; /* the lone B */
    }
    if (*p) return -1;
    if (shift && v > (SIZE_MAX >> shift)) return -1;
    *bytes = v << shift;
    return 0;
}
