/* confidence.c — the policy's own confidence as a verifier: no second model.
 *
 * The policy records, for each step, its tokens' mean confidence (DeepConf's token
 * confidence: minus the mean log-probability of the top 20 tokens), their mean
 * self-certainty (KL from the uniform distribution over the vocabulary) and the lowest
 * sliding-window confidence seen (pd_node.conf, .certainty, .conf_low; the local policy
 * computes them from its logits, the sim from its model of correctness). These verifiers
 * turn a path's figures into a reward in [0, 1]:
 *
 *   deepconf        c = the path's lowest window confidence (DeepConf's "lowest group
 *                   confidence"), or its token-weighted mean before a window filled;
 *                   reward = c / (1 + c): monotone, so naive selection picks the most
 *                   confident trace and weighted voting weighs votes by confidence.
 *   self-certainty  s = the path's token-weighted mean self-certainty (Kang et al. 2025);
 *                   reward = 1 - exp(-s).
 *
 * Both are free: no tokens are computed (prm_tokens stays 0). A policy that records no
 * confidence gives 0 everywhere, which votes like majority.
 *
 * The recording is here too, one implementation for every policy that records: a token's
 * figures from a whole distribution (the local engine's logits) or from the top
 * log-probabilities a server returned (a remote policy: the same DeepConf confidence; the
 * self-certainty exact when the server sends it, ponder serve's extension, else estimated
 * from the top-k), and a tracker that keeps the sliding window (DeepConf's group confidence,
 * its lowest value and the online stop) and fills a node's fields. */
#include "backend_int.h"
#include "ponder/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording: token figures, the sliding window, a node's fields ---- */

void pd_conf_from_logits(const float *l, size_t V, double *conf, double *cert) {
    float top[PD_CONF_TOP];
    int nt = 0;
    double mx = -INFINITY, mean = 0;
    for (size_t i = 0; i < V; i++) {
        float x = l[i];
        mean += x;
        if (x > mx) mx = x;
        if (nt < PD_CONF_TOP || x > top[nt - 1]) { /* keep the top values, sorted descending */
            int j = nt < PD_CONF_TOP ? nt++ : PD_CONF_TOP - 1;
            while (j > 0 && top[j - 1] < x) top[j] = top[j - 1], j--;
            top[j] = x;
        }
    }
    double se = pd_exp_sum(l, 1.0f, (float)mx, NULL, V); /* vectorized (sampling's exp) */
    double lse = mx + log(se), ts = 0;
    for (int i = 0; i < nt; i++) ts += top[i];
    *conf = lse - ts / nt;
    *cert = lse - mean / (double)V - log((double)V);
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int pd_conf_from_top(double *lp, size_t n, size_t V, double *conf, double *cert) {
    size_t k = V < PD_CONF_TOP ? V : PD_CONF_TOP;
    if (!k || n < k) return -1;
    qsort(lp, n, sizeof *lp, cmp_desc);
    size_t L = n < V ? n : V; /* every listed token counts for self-certainty */
    double s = 0, sl = 0, mass = 0;
    for (size_t i = 0; i < L; i++) {
        if (i < k) s += lp[i];
        sl += lp[i], mass += exp(lp[i]);
    }
    *conf = -s / (double)k;
    /* KL(U || p) = -log V - (1/V) sum_v log p_v: the V - L unlisted tokens share the mass
     * left, evenly (the least their sum of log p can be: a lower bound), each at most the
     * smallest listed one */
    size_t m = V - L;
    double tail = 0;
    if (m) {
        double left = 1.0 - mass, each = left > 0 ? log(left / (double)m) : -745.0;
        if (each > lp[L - 1]) each = lp[L - 1];
        tail = (double)m * each;
    }
    *cert = -log((double)V) - (sl + tail) / (double)V;
    return 0;
}

int pd_conf_track_init(pd_conf_track *t, int32_t window, float stop) {
    memset(t, 0, sizeof *t);
    t->win = window > 0 ? window : 64;
    t->stop = stop;
    t->ring = calloc((size_t)t->win, sizeof *t->ring);
    return t->ring ? 0 : PD_ENOMEM;
}

void pd_conf_track_free(pd_conf_track *t) {
    free(t->tconf);
    free(t->tcert);
    free(t->ring);
    memset(t, 0, sizeof *t);
}

int pd_conf_track_push(pd_conf_track *t, double tc, double ts, int *window_low) {
    *window_low = 0;
    if (pd_grow((void **)&t->tconf, &t->cap, t->n + 1, sizeof *t->tconf) ||
        !(t->tcert = realloc(t->tcert, t->cap * sizeof *t->tcert)))
        return PD_ENOMEM;
    t->tconf[t->n] = (float)tc;
    t->tcert[t->n] = (float)ts;
    if (t->ring) {
        size_t slot = t->n % (size_t)t->win;
        if (t->n >= (size_t)t->win) t->ring_sum -= t->ring[slot];
        t->ring[slot] = (float)tc;
        t->ring_sum += tc;
        if (t->n + 1 >= (size_t)t->win) {
            double m = t->ring_sum / t->win;
            if (t->conf_low == 0 || m < t->conf_low) t->conf_low = m;
            *window_low = t->stop > 0 && m < t->stop;
        }
    }
    t->n++;
    return 0;
}

void pd_conf_track_node(const pd_conf_track *t, pd_node *nd, size_t a, size_t b, int last) {
    double c = 0, s = 0;
    if (b > t->n) b = t->n;
    for (size_t i = a; i < b; i++) c += t->tconf[i], s += t->tcert[i];
    nd->conf = b > a ? (float)(c / (double)(b - a)) : 0.0f;
    nd->certainty = b > a ? (float)(s / (double)(b - a)) : 0.0f;
    nd->conf_low = (float)t->conf_low;
    nd->stopped = (uint8_t)(last && t->stopped);
}

/* ---- the verifiers ---- */

typedef struct conf_ctx {
    int certainty; /* 1: self-certainty, 0: deepconf */
} conf_ctx;

static int conf_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    const conf_ctx *c = ctx;
    (void)err;
    for (size_t q = 0; q < n; q++) {
        pd_tree *t = reqs[q].tree;
        double low = INFINITY, sum = 0, toks = 0;
        for (int32_t id = reqs[q].node; id > 0; id = t->nodes[id].parent) {
            const pd_node *nd = &t->nodes[id];
            if (nd->conf_low > 0 && nd->conf_low < low) low = nd->conf_low;
            sum += (double)(c->certainty ? nd->certainty : nd->conf) * nd->n_tokens;
            toks += nd->n_tokens;
        }
        double mean = toks > 0 ? sum / toks : 0.0, r;
        if (c->certainty) r = 1.0 - exp(-(mean > 0 ? mean : 0));
        else {
            double v = isfinite(low) ? low : mean;
            r = v > 0 ? v / (1.0 + v) : 0.0;
        }
        t->nodes[reqs[q].node].reward = (float)r;
        reqs[q].cost->scored++;
    }
    return 0;
}

static void conf_free(void *ctx) { free(ctx); }

int pd_confidence_verifier_open(pd_verifier *ver, const char *kind, pd_error *err) {
    memset(ver, 0, sizeof *ver);
    conf_ctx *c = calloc(1, sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "out of memory");
    c->certainty = !strcmp(kind, "self-certainty");
    ver->name = c->certainty ? "self-certainty" : "deepconf";
    ver->needs_conf = 1;
    ver->n_params = 0;
    ver->ctx = c;
    ver->score = conf_score;
    ver->free = conf_free;
    return 0;
}
