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
 * confidence (a remote one without logprobs) gives 0 everywhere, which votes like majority. */
#include "backend_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    ver->n_params = 0;
    ver->ctx = c;
    ver->score = conf_score;
    ver->free = conf_free;
    return 0;
}
