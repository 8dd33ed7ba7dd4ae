/* test_kv_blocks.c — the block KV cache (src/engine/kv.c): forks share blocks and copy only
 * the block they append into; truncation and freeing release blocks; a long random sequence
 * of forks, appends, truncations and frees never leaks a block, and every cache's logits
 * stay bit-identical to its tokens recomputed from scratch. */
#include <math.h>

#include "ponder.h"
#include "test.h"

#define MODEL "tests/fixtures/models/llama_f32"

static pd_model *load(void) {
    pd_error err = {0};
    pd_model_opts o = {2, PD_KERNELS_AUTO, PD_PRECISION_DEFAULT};
    pd_model *m = pd_model_load(MODEL, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    return m;
}

/* Append ids to kv; the last position's logits into out (may be NULL). */
static int append(pd_model *m, pd_kv *kv, const int32_t *ids, size_t n, float *out) {
    pd_error err = {0};
    pd_seq_step s = {.kv = kv, .tokens = ids, .n_tokens = n, .logits = out ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = out};
    int rc = pd_model_forward(m, &s, 1, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc;
}

static size_t blocks_for(size_t len) { return (len + pd_kv_block_positions() - 1) / pd_kv_block_positions(); }

static void t_fork_shares(void) {
    pd_model *m = load();
    if (!m) return;
    CHECK_EQ_INT(pd_kv_block_positions(), 16);
    pd_error err = {0};
    int32_t ids[41];
    for (int i = 0; i < 41; i++) ids[i] = (int32_t)((i * 37 + 5) % 256);
    float la[256], lb[256], lc[256];
    pd_kv *a = pd_kv_new(m, &err);
    append(m, a, ids, 40, NULL);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 3);
    pd_kv *b = pd_kv_clone(a, &err);
    CHECK(b && pd_kv_len(b) == 40);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 3); /* a fork costs no block */
    append(m, b, &ids[40], 1, lb);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 4); /* the tail block (positions 32..47) copied for b */
    append(m, a, &ids[40], 1, la);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 4); /* a holds its tail alone now: no copy */
    /* both continue exactly as the whole sequence computed in one go */
    pd_kv *c = pd_kv_new(m, &err);
    append(m, c, ids, 41, lc);
    CHECK(memcmp(la, lc, sizeof la) == 0 && memcmp(lb, lc, sizeof lb) == 0);
    /* truncation releases the blocks past the new end; a fork of a fork shares too */
    pd_kv_truncate(c, 10);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 4 + 1);
    pd_kv *d = pd_kv_clone(b, &err);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 5);
    pd_kv_free(a);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 5 - 1); /* only a's tail was a's alone */
    pd_kv_free(b);
    pd_kv_free(c);
    pd_kv_free(d);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 0);
    pd_model_free(m);
}

/* Many caches forked, extended, cut and freed at random. */
static void t_random_forks_never_leak(void) {
    pd_model *m = load();
    if (!m) return;
    enum { SLOTS = 12, OPS = 300, MAXLEN = 120 };
    pd_error err = {0};
    pd_kv *kv[SLOTS] = {0};
    int32_t toks[SLOTS][MAXLEN];
    pd_rng r;
    pd_rng_seed(&r, 2024);
    float out[256], ref[256];
    int mismatches = 0, over = 0, shared = 0, checks = 0;
    for (int op = 0; op < OPS; op++) {
        int i = (int)pd_rng_below(&r, SLOTS), what = (int)pd_rng_below(&r, 10);
        if (!kv[i]) { /* a new sequence */
            kv[i] = pd_kv_new(m, &err);
            size_t n = 1 + pd_rng_below(&r, 30);
            for (size_t t = 0; t < n; t++) toks[i][t] = (int32_t)pd_rng_below(&r, 256);
            append(m, kv[i], toks[i], n, NULL);
        } else if (what < 3) { /* fork into another slot */
            int j = (int)pd_rng_below(&r, SLOTS);
            if (j == i) continue;
            pd_kv_free(kv[j]);
            kv[j] = pd_kv_clone(kv[i], &err);
            memcpy(toks[j], toks[i], pd_kv_len(kv[i]) * sizeof **toks);
        } else if (what < 7) { /* append a few tokens; check the logits against a recompute */
            size_t len = pd_kv_len(kv[i]), n = 1 + pd_rng_below(&r, 20);
            if (len + n > MAXLEN) n = MAXLEN - len;
            if (!n) continue;
            for (size_t t = 0; t < n; t++) toks[i][len + t] = (int32_t)pd_rng_below(&r, 256);
            append(m, kv[i], toks[i] + len, n, out);
            pd_kv *fresh = pd_kv_new(m, &err);
            append(m, fresh, toks[i], len + n, ref);
            mismatches += memcmp(out, ref, sizeof out) != 0;
            checks++;
            pd_kv_free(fresh);
        } else if (what < 9) { /* cut back (a re-tokenized tail, a rejected draft) */
            pd_kv_truncate(kv[i], pd_rng_below(&r, pd_kv_len(kv[i]) + 1));
        } else { /* prune */
            pd_kv_free(kv[i]);
            kv[i] = NULL;
        }
        size_t unshared = 0;
        for (int s = 0; s < SLOTS; s++)
            if (kv[s]) unshared += blocks_for(pd_kv_len(kv[s]));
        over += pd_kv_blocks_live(m) > unshared;
        shared += pd_kv_blocks_live(m) < unshared;
    }
    CHECK_MSG(checks > 50, "only %d appends checked", checks);
    CHECK_MSG(mismatches == 0, "%d of %d appends differ from a recompute", mismatches, checks);
    CHECK_MSG(over == 0, "%d times more blocks live than the caches could hold unshared", over);
    CHECK_MSG(shared > OPS / 4, "forks shared blocks after only %d of %d operations", shared, OPS);
    for (int s = 0; s < SLOTS; s++) pd_kv_free(kv[s]);
    CHECK_EQ_INT(pd_kv_blocks_live(m), 0);
    pd_model_free(m);
}

int main(void) {
    RUN(t_fork_shares);
    RUN(t_random_forks_never_leak);
    return test_done();
}
