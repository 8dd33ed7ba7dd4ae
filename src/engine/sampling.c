/* sampling.c — draw the next token from logits: greedy, temperature, top-k, top-p, min-p.
 *
 * The filters follow Hugging Face transformers' logits warpers, in its order:
 *   temperature: logits / T
 *   top-k:       keep tokens whose logit is >= the k-th largest (ties at the edge kept)
 *   top-p:       sort ascending, drop tokens while the cumulative probability of what is
 *                dropped stays <= 1 - top_p (at least one token kept)
 *   min-p:       drop tokens with p < min_p * p_max (p over what is left)
 * and a token is drawn in proportion to exp(logit) over the survivors with ONE uniform
 * draw from the sequence's own RNG, so a sequence's samples depend only on its seed and its
 * logits, never on which other sequences share the batch.
 *
 * Trade-off: top-k and top-p sort the whole vocabulary (qsort, ~10 ms for 150k tokens);
 * fine next to a forward pass of a real model, and a partial selection can replace it
 * without changing results. Greedy and plain temperature sampling (with or without min-p),
 * the search's default, are linear and vectorized: one pass for the maximum, one for
 * exp(l - max) of every token (pd_exp_sum: the kernels' pd_exp_det, the same bits on every
 * CPU, summed in fixed lanes), and a scan to the drawn token in blocks of 16. On a
 * 151,936-token vocabulary that is ~0.3 ms a token, against ~1.7 ms with libm's double exp
 * per token (the sorted paths still use it). */
#include "ponder/model.h"

#include "engine/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct cand {
    float l;     /* logit / temperature (-inf when NaN) */
    int32_t id;
} cand;

/* Descending by logit, then ascending id (a deterministic order for ties). */
static int cmp_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->l != y->l) return x->l > y->l ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

pd_sampling pd_sampling_greedy(void) {
    pd_sampling s = {0.0, 0, 1.0, 0.0};
    return s;
}

/* Index of the largest logit (lowest id on ties, NaN never wins); -1 if all are NaN. */
static int32_t argmax(const float *logits, size_t vocab) {
    int32_t best = -1;
    for (size_t i = 0; i < vocab; i++)
        if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best])) best = (int32_t)i;
    return best;
}

/* Greedy pick into *token; an error when every logit is NaN. */
static int pick_greedy(const float *logits, size_t vocab, int32_t *token, pd_error *err) {
    int32_t b = argmax(logits, vocab);
    if (b < 0) return pd_err_set(err, PD_EINVAL, "sample: every logit is NaN");
    *token = b;
    return 0;
}

/* The widest kernel set, looked up once (every set's exp_sum gives the same bits; the
 * lookup asks the CPU, slow in a VM; an atomic because the model's threads sample at once). */
static const pd_kernel_ops *exp_ops(void) {
    static _Atomic(const pd_kernel_ops *) ops;
    const pd_kernel_ops *k = atomic_load_explicit(&ops, memory_order_relaxed);
    if (!k) atomic_store_explicit(&ops, k = pd_kernels_best(), memory_order_relaxed);
    return k;
}

double pd_exp_sum(const float *x, float scale, float shift, float *out, size_t n) {
    return exp_ops()->exp_sum(x, scale, shift, out, n);
}

/* The 16 values from p added in a fixed tree, in double. */
static double block16(const float *p) {
    double a[8];
    for (int j = 0; j < 8; j++) a[j] = (double)p[j] + (double)p[j + 8];
    for (int w = 4; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) a[j] += a[j + w];
    return a[0];
}

/* Temperature and min-p only (no sort): see the header. work: vocab floats. */
static int sample_linear(const float *logits, size_t vocab, const pd_sampling *s, pd_rng *rng, int32_t *token,
                         float *work, pd_error *err) {
    float inv_t = (float)(1.0 / s->temperature), mx = -INFINITY;
    int overflow = !isfinite(inv_t);
    for (size_t i = 0; i < vocab; i++) {
        float l = isnan(logits[i]) ? -INFINITY : logits[i] * inv_t;
        overflow |= l == INFINITY;
        mx = l > mx ? l : mx;
    }
    if (overflow) { /* as in pd_sample */
        (void)pd_rng_f64(rng);
        return pick_greedy(logits, vocab, token, err);
    }
    if (mx == -INFINITY) return pick_greedy(logits, vocab, token, err);
    double sum = pd_exp_sum(logits, inv_t, mx, work, vocab);
    if (s->min_p > 0) { /* drop p < min_p * p_max, i.e. l - max < log(min_p); sum the rest the same way */
        double lim = log(s->min_p), lanes[16] = {0};
        for (size_t i = 0; i < vocab; i++) {
            float l = isnan(logits[i]) ? -INFINITY : logits[i] * inv_t;
            if ((double)l - mx < lim) work[i] = 0;
            lanes[i % 16] += work[i];
        }
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
        sum = lanes[0];
    }
    /* the first token whose running total passes u: whole blocks of 16 first (block16), then
     * token by token from the block it falls in; when rounding leaves the total short of u,
     * the last token with a nonzero probability */
    double u = pd_rng_f64(rng) * sum, acc = 0;
    size_t i = 0, last = vocab;
    while (last > 0 && !(work[last - 1] > 0)) last--;
    int32_t pick = (int32_t)(last ? last - 1 : 0);
    for (; i + 16 <= vocab; i += 16) {
        double t = block16(work + i);
        if (u < acc + t) break;
        acc += t;
    }
    for (; i < vocab; i++) {
        acc += work[i];
        if (u < acc) {
            pick = (int32_t)i;
            break;
        }
    }
    *token = pick;
    return 0;
}

/* Sample one token; see model.h. */
int pd_sample(const float *logits, size_t vocab, const pd_sampling *s, pd_rng *rng, int32_t *token, pd_error *err) {
    return pd_sample_work(logits, vocab, s, rng, token, NULL, err);
}

int pd_sample_work(const float *logits, size_t vocab, const pd_sampling *s, pd_rng *rng, int32_t *token, float *work,
                   pd_error *err) {
    if (!logits || !vocab || vocab > INT32_MAX || !s || !token) return pd_err_set(err, PD_EINVAL, "sample: bad arguments");
    if (!isfinite(s->temperature) || s->temperature < 0)
        return pd_err_set(err, PD_EINVAL, "sample: temperature must be >= 0 (got %g)", s->temperature);
    if (s->top_k < 0) return pd_err_set(err, PD_EINVAL, "sample: top_k must be >= 0 (got %d)", s->top_k);
    if (!(s->top_p > 0 && s->top_p <= 1)) return pd_err_set(err, PD_EINVAL, "sample: top_p must be in (0, 1] (got %g)", s->top_p);
    if (!(s->min_p >= 0 && s->min_p <= 1)) return pd_err_set(err, PD_EINVAL, "sample: min_p must be in [0, 1] (got %g)", s->min_p);
    if (s->temperature == 0 || s->top_k == 1) return pick_greedy(logits, vocab, token, err);
    if (!rng) return pd_err_set(err, PD_EINVAL, "sample: sampling needs an RNG");
    if ((s->top_k == 0 || (size_t)s->top_k >= vocab) && s->top_p >= 1) {
        if (work) return sample_linear(logits, vocab, s, rng, token, work, err);
        if (!(work = malloc(vocab * sizeof *work))) return pd_err_set(err, PD_ENOMEM, "sample: out of memory");
        int rc = sample_linear(logits, vocab, s, rng, token, work, err);
        free(work);
        return rc;
    }
    cand *c = malloc(vocab * sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "sample: out of memory");
    size_t n = vocab;
    float inv_t = (float)(1.0 / s->temperature);
    int overflow = !isfinite(inv_t);
    for (size_t i = 0; i < n; i++) {
        c[i].l = isnan(logits[i]) ? -INFINITY : logits[i] * inv_t;
        c[i].id = (int32_t)i;
        overflow |= c[i].l == INFINITY;
    }
    if (overflow) { /* 1 / T or logit / T overflowed: T is so small that the top logit takes all the mass */
        free(c);
        (void)pd_rng_f64(rng); /* still one draw per sampled token */
        return pick_greedy(logits, vocab, token, err);
    }
    int sorted = 0;
    if (s->top_k > 0 && (size_t)s->top_k < n) {
        qsort(c, n, sizeof *c, cmp_desc);
        sorted = 1;
        float kth = c[s->top_k - 1].l;
        size_t keep = (size_t)s->top_k;
        while (keep < n && c[keep].l >= kth) keep++;
        n = keep;
    }
    if (s->top_p < 1) {
        if (!sorted) qsort(c, n, sizeof *c, cmp_desc);
        double mx = c[0].l, sum = 0, cum = 0;
        for (size_t i = 0; i < n; i++) sum += exp((double)c[i].l - mx);
        while (n > 1) {
            cum += exp((double)c[n - 1].l - mx) / sum;
            if (cum > 1.0 - s->top_p) break;
            n--;
        }
    }
    /* max logit among survivors (the first when sorted) */
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (c[i].l > mx) mx = c[i].l;
    if (mx == -INFINITY) { /* everything is -inf: fall back to greedy on the raw logits */
        free(c);
        return pick_greedy(logits, vocab, token, err);
    }
    if (s->min_p > 0) {
        /* p_i / p_max = exp(l_i - max); keep those >= min_p */
        double lim = log(s->min_p);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if ((double)c[i].l - mx >= lim) c[k++] = c[i];
        n = k; /* the max itself always survives */
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += exp((double)c[i].l - mx);
    double u = pd_rng_f64(rng) * sum, acc = 0;
    int32_t pick = c[n - 1].id;
    for (size_t i = 0; i < n; i++) {
        acc += exp((double)c[i].l - mx);
        if (u < acc) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    *token = pick;
    return 0;
}
