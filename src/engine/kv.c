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
 * Each model counts its live blocks (pd_kv_blocks_live) so that tests can check that forks
 * and prunes never leak. Not yet: a pool with a memory budget (--kv-memory) and the
 * scheduler's back-pressure when it is full; blocks come from malloc. */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

/* Floats in one block. */
static size_t block_floats(const pd_model *m) {
    return (size_t)m->w.cfg.n_layers * 2 * PD_KV_BLOCK * (size_t)m->w.cfg.n_kv_heads * (size_t)m->w.cfg.head_dim;
}

static pd_kv_block *block_new(const pd_model *m) {
    size_t n = block_floats(m), bytes;
    if (pd_mul_size(n, sizeof(float), &bytes) || bytes > SIZE_MAX - sizeof(pd_kv_block)) return NULL;
    pd_kv_block *b = malloc(sizeof *b + bytes);
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    atomic_fetch_add(&m->kv_stats->live, 1);
    return b;
}

static void block_unref(const pd_model *m, pd_kv_block *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b);
        atomic_fetch_sub(&m->kv_stats->live, 1);
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

/* Room for `need` positions, and positions [len, need) writable by this cache alone.
 * 0 or PD_ENOMEM (the cache stays valid, its tokens unchanged). */
int pd_kv_reserve(pd_kv *kv, size_t need) {
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
        if (!(kv->blocks[kv->n_blocks] = block_new(kv->m))) return PD_ENOMEM;
    /* copy on write: a shared block that the new positions fall in becomes this cache's own */
    for (size_t b = kv->len / PD_KV_BLOCK; b < nb; b++) {
        pd_kv_block *old = kv->blocks[b];
        if (atomic_load(&old->refs) == 1) continue;
        pd_kv_block *own = block_new(kv->m);
        if (!own) return PD_ENOMEM;
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

size_t pd_kv_blocks_live(const pd_model *m) { return atomic_load(&m->kv_stats->live); }

size_t pd_kv_block_positions(void) { return PD_KV_BLOCK; }

size_t pd_kv_block_bytes(const pd_model *m) { return block_floats(m) * sizeof(float); }
