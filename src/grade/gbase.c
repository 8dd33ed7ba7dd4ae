/* gbase.c — the grader's arena allocator and tree nodes.
 *
 * Arena: a linked list of chunks (8 KiB doubling to 64 KiB, or bigger for a big request); allocations are
 * 16-byte aligned (the rationals hold __int128) and zeroed; everything is freed at once
 * by ga_free, which also clears the GMP rationals made in the arena (rat.c). A grading never
 * allocates more than G_ARENA_BUDGET bytes in total (GMP's digits counted too): past it,
 * ga_alloc returns NULL and the stage that asked gives up cleanly. */
#include "grade_int.h"

#include <stdlib.h>
#include <string.h>

struct garena_chunk {
    garena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

/* Allocate n zeroed bytes from the arena; NULL when out of budget or memory. */
void *ga_alloc(garena *a, size_t n) {
    if (a->failed) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n > G_ARENA_BUDGET || a->used + n > G_ARENA_BUDGET) {
        a->failed = 1;
        return NULL;
    }
    garena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        /* chunks grow 8 KiB, 16 KiB, ... up to 64 KiB: most gradings need one small chunk */
        size_t cap = c ? (c->cap < 65536 ? c->cap * 2 : 65536) : 8192;
        if (cap < n) cap = n;
        c = malloc(sizeof *c + cap);
        if (!c) {
            a->failed = 1;
            return NULL;
        }
        c->next = a->head;
        c->cap = cap;
        c->used = 0;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

/* Copy s[0..n) into the arena, NUL-terminated. */
char *ga_strndup(garena *a, const char *s, size_t n) {
    char *d = ga_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Clear the big rationals, free every chunk; the arena can be reused afterwards. */
void ga_free(garena *a) {
    gr_clear_all(a);
    garena_chunk *c = a->head;
    while (c) {
        garena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->bigs = NULL;
    a->used = 0;
    a->failed = 0;
}

/* A new tree node with room for nkid children; counts against the parse's node budget. */
gnode *gn_new(gctx *c, int kind, int nkid) {
    if (++c->nodes > G_MAX_NODES) return NULL;
    gnode *n = ga_alloc(c->a, sizeof *n);
    if (!n) return NULL;
    n->kind = (uint8_t)kind;
    n->nkid = nkid;
    if (nkid > 0) {
        n->kid = ga_alloc(c->a, sizeof(gnode *) * (size_t)nkid);
        if (!n->kid) return NULL;
    }
    return n;
}
