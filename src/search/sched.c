/* sched.c — the scheduler: continuous batching for search.
 *
 * Many searches (problem x strategy x N) run at once. Every round:
 *   1. start new searches until max_inflight are in flight (they join this round);
 *   2. gather the pending expansion requests of every search into ONE policy call;
 *   3. gather the pending score requests of every search into ONE verifier call;
 *   4. let each search consume its answers and emit its next requests; finished searches
 *      hand their result to the callback and leave, freeing a slot.
 * A search is in one stage at a time (expand or score), so within a round a search appears in
 * at most one of the two calls; searches at different stages still share the round. The
 * backend therefore sees batches as wide as the number of searches in flight times their
 * requests, and the number of backend calls grows with the rounds, not with the problems.
 *
 * Back-pressure. A backend on the embedded engine whose KV pool is bounded (--kv-memory)
 * serves a batch that does not fit in turns, evicting idle caches to make room
 * (policy_local.c, prm_local.c), and counts that in the searches' pd_cost.kv_waits. After a
 * round in which that happened, step 1 starts no new search (while one is in flight): new
 * work waits for the searches in flight to finish and free their blocks. Results do not
 * depend on it (seeds are per node, not per batch).
 *
 * Requests are copied into the round's arrays; their `out` pointers point into the searches'
 * own arrays, which do not move while a round is in progress. Single-threaded: the backends
 * are where parallelism lives. */
#include "search_int.h"

#include <stdlib.h>
#include <string.h>

/* The KV waits of the searches in flight (pd_cost.kv_waits). */
static uint64_t kv_waits(pd_search *const *fl, int n_fl) {
    uint64_t w = 0;
    for (int i = 0; i < n_fl; i++) w += fl[i]->cost.kv_waits;
    return w;
}

/* Run jobs; see pd_sched_run. With take = 1 the callback owns the result's arrays. */
int pd_sched_run_owned(const pd_policy *pol, const pd_verifier *ver, const pd_sched_job *jobs,
                       size_t n_jobs, int max_inflight, pd_sched_cb cb, void *ud, int take,
                       pd_sched_stats *stats, pd_error *err) {
    pd_sched_stats st;
    memset(&st, 0, sizeof st);
    if (max_inflight <= 0) max_inflight = 256;
    if ((size_t)max_inflight > n_jobs) max_inflight = n_jobs ? (int)n_jobs : 1;
    /* check every job first: a bad configuration fails before any work is done */
    for (size_t j = 0; j < n_jobs; j++) {
        int rc = pd_search_cfg_check(&jobs[j].cfg, err);
        if (rc) return rc;
    }
    pd_search **fl = calloc((size_t)max_inflight, sizeof *fl); /* searches in flight */
    size_t *fl_job = calloc((size_t)max_inflight, sizeof *fl_job);
    pd_expand_req *eb = NULL;
    pd_score_req *sb = NULL;
    size_t eb_cap = 0, sb_cap = 0;
    int rc = 0;
    if (!fl || !fl_job) {
        rc = pd_err_set(err, PD_ENOMEM, "scheduler: out of memory");
        goto out;
    }
    size_t next = 0;
    int n_fl = 0, pressed = 0;
    while (next < n_jobs || n_fl > 0) {
        /* 1. fill free slots, unless the last round waited for KV memory and searches are in flight */
        int hold = pressed && n_fl > 0 && n_fl < max_inflight && next < n_jobs;
        st.held_back += (uint64_t)hold;
        while (!hold && n_fl < max_inflight && next < n_jobs) {
            pd_search *s;
            rc = pd_search_create(&s, pol, ver, jobs[next].prob, &jobs[next].cfg, err);
            if (rc) goto out;
            fl[n_fl] = s;
            fl_job[n_fl++] = next++;
        }
        /* 2-3. gather */
        size_t ne = 0, ns = 0;
        for (int i = 0; i < n_fl; i++) {
            pd_search *s = fl[i];
            if (s->n_ereq) {
                if (ne + s->n_ereq > eb_cap &&
                    pd_grow((void **)&eb, &eb_cap, ne + s->n_ereq, sizeof *eb)) {
                    rc = pd_err_set(err, PD_ENOMEM, "scheduler: out of memory");
                    goto out;
                }
                memcpy(eb + ne, s->ereq, s->n_ereq * sizeof *eb);
                ne += s->n_ereq;
            }
            if (s->n_sreq) {
                if (ns + s->n_sreq > sb_cap &&
                    pd_grow((void **)&sb, &sb_cap, ns + s->n_sreq, sizeof *sb)) {
                    rc = pd_err_set(err, PD_ENOMEM, "scheduler: out of memory");
                    goto out;
                }
                memcpy(sb + ns, s->sreq, s->n_sreq * sizeof *sb);
                ns += s->n_sreq;
            }
        }
        uint64_t waits = kv_waits(fl, n_fl);
        if (ne) {
            uint64_t before = 0;
            for (int i = 0; i < n_fl; i++) before += (uint64_t)fl[i]->tree.n_nodes;
            rc = pol->expand(pol->ctx, eb, ne, err);
            if (rc) goto out;
            uint64_t after = 0;
            for (int i = 0; i < n_fl; i++) after += (uint64_t)fl[i]->tree.n_nodes;
            st.nodes += after - before;
            st.policy_calls++;
            st.expand_reqs += ne;
            if (ne > st.max_expand_batch) st.max_expand_batch = ne;
        }
        if (ns) {
            rc = ver->score(ver->ctx, sb, ns, err);
            if (rc) goto out;
            st.verifier_calls++;
            st.score_reqs += ns;
            if (ns > st.max_score_batch) st.max_score_batch = ns;
        }
        pressed = kv_waits(fl, n_fl) != waits;
        st.rounds++;
        /* 4. advance; retire finished searches (keeping the order of the rest) */
        int w = 0;
        for (int i = 0; i < n_fl; i++) {
            pd_search *s = fl[i];
            if (s->stage != ST_DONE) {
                rc = pd_search_advance(s, err);
                if (rc) goto out;
            }
            if (s->stage == ST_DONE) {
                pd_search_result r;
                rc = pd_search_result_build(s, pol->n_params, ver->n_params, &r, err);
                if (rc) goto out;
                rc = cb ? cb(ud, fl_job[i], &r, err) : 0;
                if (!take || !cb) pd_search_result_free(&r);
                pd_search_destroy(s);
                fl[i] = NULL;
                if (rc) goto out;
                continue;
            }
            fl[i] = NULL;
            fl[w] = s;
            fl_job[w++] = fl_job[i];
        }
        n_fl = w;
    }
out:
    if (fl)
        for (int i = 0; i < max_inflight; i++)
            if (fl[i]) pd_search_destroy(fl[i]);
    free(fl);
    free(fl_job);
    free(eb);
    free(sb);
    if (stats) *stats = st;
    return rc;
}

int pd_sched_run(const pd_policy *pol, const pd_verifier *ver, const pd_sched_job *jobs,
                 size_t n_jobs, int max_inflight, pd_sched_cb cb, void *ud, pd_sched_stats *stats,
                 pd_error *err) {
    return pd_sched_run_owned(pol, ver, jobs, n_jobs, max_inflight, cb, ud, 0, stats, err);
}
