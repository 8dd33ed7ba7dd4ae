/* generate.c — batched generation: prefill every prompt, then decode all live sequences together.
 *
 * Prompts are prefilled in chunks of at most PREFILL_CHUNK tokens per forward call (several
 * sequences share a call); then each step samples one token per live sequence from its own
 * RNG (the draws on the pool's threads), checks the stop conditions (EOS ids, stop strings in the decoded text, max_tokens,
 * the model's context) and feeds the survivors back as one batched forward call. Because
 * every sequence owns its RNG (seeded from its own seed) and its KV cache, a sequence's
 * output is the same alone or in any batch.
 *
 * Text is produced only with a tokenizer: incremental decoding (pd_detok) appends complete
 * UTF-8 characters, special tokens skipped; stop strings are searched in the text generated
 * so far (only the tail that a new piece can complete). */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

#define PREFILL_CHUNK 512

typedef struct gen_state {
    pd_kv *kv;
    pd_rng rng;
    float *logits;          /* (vocab) logits of the last position */
    size_t prefilled;       /* prompt tokens already in the cache */
    int32_t next;           /* token to feed at the next decode step */
    size_t cap_ids;
    pd_buf text;
    pd_detok detok;
    int live;
    int32_t drawn;          /* this step's sample (draw_task) */
    int draw_rc;
    pd_error draw_err;
} gen_state;

/* One step's samples: each live sequence's from its own logits and RNG, on the pool's
 * threads (any order gives the same draws). */
typedef struct draw_job {
    gen_state *st;
    size_t *live;           /* indices of the live sequences */
    const pd_sampling *samp;
    size_t vocab;
    float **work;           /* per thread: vocab floats */
} draw_job;

static void draw_task(void *ctx, size_t task, int thread) {
    draw_job *j = ctx;
    gen_state *g = &j->st[j->live[task]];
    g->draw_rc = pd_sample_work(g->logits, j->vocab, j->samp, &g->rng, &g->drawn, j->work[thread], &g->draw_err);
}

void pd_gen_seq_clear(pd_gen_seq *s) {
    if (!s) return;
    free(s->ids);
    free(s->text);
    s->ids = NULL;
    s->text = NULL;
    s->n_ids = 0;
    s->text_len = 0;
    s->finish = PD_FINISH_NONE;
}

/* Is id one of the model's EOS ids? */
static int is_eos(const pd_model_config *c, int32_t id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == id) return 1;
    return 0;
}

/* After text grew from old_len: does a stop string now appear? Truncates the text at it
 * (keeping it when keep_stop) and returns 1. */
static int check_stop(const pd_gen_params *p, pd_buf *text, size_t old_len) {
    size_t best = SIZE_MAX, best_len = 0;
    for (size_t i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        if (!sl || sl > text->len) continue;
        size_t from = old_len + 1 > sl ? old_len + 1 - sl : 0;
        for (size_t at = from; at + sl <= text->len; at++)
            if (!memcmp(text->data + at, p->stop[i], sl)) {
                if (at < best) best = at, best_len = sl;
                break;
            }
    }
    if (best == SIZE_MAX) return 0;
    text->len = best + (p->keep_stop ? best_len : 0);
    text->data[text->len] = 0;
    return 1;
}

/* Run generation; see model.h. */
int pd_generate(pd_model *m, const pd_tokenizer *tok, const pd_gen_params *p, pd_gen_seq *seqs, size_t n,
                pd_error *err) {
    const pd_model_config *c = &m->w.cfg;
    if (!p || !seqs || !n) return pd_err_set(err, PD_EINVAL, "generate: no sequences");
    if (p->n_stop && !tok) return pd_err_set(err, PD_EINVAL, "generate: stop strings need a tokenizer");
    for (size_t i = 0; i < n; i++) {
        if (!seqs[i].prompt || !seqs[i].n_prompt) return pd_err_set(err, PD_EINVAL, "generate: sequence %zu has an empty prompt", i);
        if (seqs[i].n_prompt >= (size_t)c->max_positions)
            return pd_err_set(err, PD_ELIMIT, "generate: prompt %zu (%zu tokens) does not fit the context (%d)", i,
                              seqs[i].n_prompt, c->max_positions);
        seqs[i].ids = NULL;
        seqs[i].text = NULL;
        seqs[i].text_len = 0;
        seqs[i].n_ids = 0;
        seqs[i].finish = PD_FINISH_NONE;
    }
    int rc = 0, nt = pd_pool_size(m->pool);
    gen_state *st = calloc(n, sizeof *st);
    pd_seq_step *steps = calloc(n, sizeof *steps);
    size_t *live = malloc(n * sizeof *live);
    float **work = calloc((size_t)nt, sizeof *work);
    if (!st || !steps || !live || !work) {
        rc = pd_err_set(err, PD_ENOMEM, "generate: out of memory");
        goto out;
    }
    for (int t = 0; t < nt; t++)
        if (!(work[t] = malloc((size_t)c->vocab_size * sizeof **work))) {
            rc = pd_err_set(err, PD_ENOMEM, "generate: out of memory");
            goto out;
        }
    for (size_t i = 0; i < n; i++) {
        if (!(st[i].kv = pd_kv_new(m, err))) {
            rc = err ? err->code : PD_ENOMEM;
            goto out;
        }
        if (!(st[i].logits = malloc((size_t)c->vocab_size * sizeof(float)))) {
            rc = pd_err_set(err, PD_ENOMEM, "generate: out of memory");
            goto out;
        }
        pd_rng_seed(&st[i].rng, seqs[i].seed);
        if (tok) pd_detok_init(&st[i].detok, tok, 1);
        st[i].live = p->max_tokens > 0;
        if (!st[i].live) seqs[i].finish = PD_FINISH_LENGTH;
    }

    /* prefill in chunks; the last chunk of a prompt asks for its last logits */
    for (;;) {
        size_t ns = 0, budget = PREFILL_CHUNK;
        for (size_t i = 0; i < n && budget; i++) {
            if (!st[i].live || st[i].prefilled == seqs[i].n_prompt) continue;
            size_t take = seqs[i].n_prompt - st[i].prefilled;
            if (take > budget) take = budget;
            budget -= take;
            int last = st[i].prefilled + take == seqs[i].n_prompt;
            steps[ns++] = (pd_seq_step){.kv = st[i].kv, .tokens = seqs[i].prompt + st[i].prefilled, .n_tokens = take, .logits = last ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = st[i].logits};
            st[i].prefilled += take;
        }
        if (!ns) break;
        if ((rc = pd_model_forward(m, steps, ns, err))) goto out;
    }

    /* decode: sample for every live sequence, then one batched step for the survivors */
    for (;;) {
        size_t ns = 0, nl = 0;
        for (size_t i = 0; i < n; i++)
            if (st[i].live) live[nl++] = i;
        draw_job dj = {st, live, &p->sampling, (size_t)c->vocab_size, work};
        if (nl > 1) pd_pool_run(m->pool, nl, draw_task, &dj);
        else if (nl) draw_task(&dj, 0, 0);
        for (size_t i = 0; i < n; i++) {
            if (!st[i].live) continue;
            pd_gen_seq *s = &seqs[i];
            int32_t id = st[i].drawn;
            if ((rc = st[i].draw_rc)) {
                if (err) *err = st[i].draw_err;
                goto out;
            }
            if (pd_grow((void **)&s->ids, &st[i].cap_ids, s->n_ids + 1, sizeof *s->ids)) {
                rc = pd_err_set(err, PD_ENOMEM, "generate: out of memory");
                goto out;
            }
            s->ids[s->n_ids++] = id;
            size_t old_len = st[i].text.len;
            if (tok && (rc = pd_detok_push(&st[i].detok, id, &st[i].text))) {
                pd_err_set(err, rc, "generate: decoding token %d failed", (int)id);
                goto out;
            }
            if (p->on_token)
                p->on_token(p->user, i, id, st[i].text.data ? st[i].text.data + old_len : "", st[i].text.len - old_len);
            if (!p->ignore_eos && is_eos(c, id)) s->finish = PD_FINISH_EOS;
            else if (p->n_stop && check_stop(p, &st[i].text, old_len)) s->finish = PD_FINISH_STOP;
            else if (s->n_ids >= p->max_tokens) s->finish = PD_FINISH_LENGTH;
            else if (pd_kv_len(st[i].kv) + 1 > (size_t)c->max_positions) s->finish = PD_FINISH_CONTEXT;
            if (s->finish) {
                st[i].live = 0;
                continue;
            }
            st[i].next = id;
            steps[ns++] = (pd_seq_step){.kv = st[i].kv, .tokens = &st[i].next, .n_tokens = 1, .logits = PD_LOGITS_LAST, .out = st[i].logits};
        }
        if (!ns) break;
        if ((rc = pd_model_forward(m, steps, ns, err))) goto out;
    }
    for (size_t i = 0; i < n && tok; i++) {
        if (seqs[i].finish != PD_FINISH_STOP && (rc = pd_detok_flush(&st[i].detok, &st[i].text))) {
            pd_err_set(err, rc, "generate: decoding failed");
            goto out;
        }
        seqs[i].text_len = st[i].text.len;
        seqs[i].text = pd_buf_steal(&st[i].text);
    }
out:
    for (size_t i = 0; st && i < n; i++) {
        pd_kv_free(st[i].kv);
        free(st[i].logits);
        pd_buf_free(&st[i].text);
        if (rc) pd_gen_seq_clear(&seqs[i]);
    }
    for (int t = 0; work && t < nt; t++) free(work[t]);
    free(work);
    free(live);
    free(st);
    free(steps);
    return rc;
}
