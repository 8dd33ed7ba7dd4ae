/* policy_local.c — a causal LM on the embedded engine as the search's policy.
 *
 * The prompt is the model's chat template with a system turn (search-and-learn's math
 * prompt unless told otherwise) and the problem as the user turn, with the generation
 * prompt; steps continue the assistant turn. One expand call serves every request of every
 * search in flight:
 *   1. each leaf to expand brings its cache up to date (its pending tokens: the prompt for
 *      the root, the last sampled token of its step, or a re-tokenized tail; see below), all
 *      leaves in shared forward calls, each ending with the logits of its next token;
 *   2. each child starts from a copy of its leaf's cache and logits, with its own RNG seeded
 *      from its node seed (pd_expand_child_seed), so its sample does not depend on the batch;
 *   3. decoding: every round samples one token for each live child and runs all survivors in
 *      ONE forward call, until each child ends its step (delimiter, end of sequence, the step
 *      token cap or the model's context).
 *
 * The step cut. A step ends at the first occurrence of the delimiter (default "\n\n") in the
 * bytes it generated, delimiter included, as vLLM's stop with include_stop_str_in_output. A
 * sampled token can run past the delimiter (".\n\n" ends exactly at it; "\n\n\n" runs one
 * byte past): then the text is cut at the delimiter's end, the token is dropped and the part
 * of its text before the cut is tokenized again; those tokens end the step's ids and are the
 * step's pending tokens, so the cache the next step continues from holds exactly the tokens
 * of the text so far. (vLLM re-tokenizes the whole prompt each step; ponder keeps the
 * sampled tokens and re-tokenizes only the cut tail.) A tail whose tokens do not spell it
 * exactly (not valid UTF-8 on its own; a SentencePiece tokenizer's prepended space) is not
 * cut: the step then ends with the whole token.
 *
 * Caches. A node that ended its step keeps its cache (and pending tokens) as its handle until
 * it is expanded (after which it is interior and only its children's caches matter) or
 * released. A node whose cache is gone is rebuilt from its path's token ids, so a
 * re-expansion is slower, never wrong. Finished nodes keep no cache. */
#include "backend_int.h"
#include "steps.h"
#include "ponder/hub.h"
#include "ponder/model.h"
#include "ponder/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREFILL_CHUNK 1024

/* search-and-learn's default system prompt (its config.py). */
const char PD_SAL_SYSTEM_PROMPT[] =
    "Solve the following math problem efficiently and clearly:\n\n- For simple problems (2 steps or fewer):\n"
    "Provide a concise solution with minimal explanation.\n\n- For complex problems (3 steps or more):\n"
    "Use this step-by-step format:\n\n## Step 1: [Concise description]\n[Brief explanation and calculations]\n\n"
    "## Step 2: [Concise description]\n[Brief explanation and calculations]\n\n...\n\n"
    "Regardless of the approach, always conclude with:\n\n"
    "Therefore, the final answer is: $\\boxed{answer}$. I hope it is correct.\n\n"
    "Where [answer] is just the final number or expression that solves the problem.";

/* A node's cache: kv holds the sequence but its pending tokens. Every cache is on its
 * policy's list of caches, oldest first, for eviction. */
typedef struct pnode {
    pd_kv *kv;
    int32_t *pending;
    size_t n_pending;
    struct pnode *prev, *next;  /* the list (a ring through pol_ctx.caches) */
    pd_tree *t;                 /* the node it belongs to */
    int32_t id;
    int busy;                   /* a leaf of the expand call in progress: not evicted */
} pnode;

typedef struct pol_ctx {
    pd_model *m;
    pd_tokenizer *tok;
    char dir[4096];
    char *system_prompt;   /* "" for none */
    char *delim;
    size_t delim_len;
    size_t vocab;
    float **work;          /* per model thread: vocab floats for sampling (NULL until used) */
    int n_work;
    pnode caches;          /* ring of the nodes' caches, oldest first (a sentinel) */
    uint64_t deferred;     /* expand calls served in more than one turn */
    uint64_t evicted;      /* caches dropped to make room */
} pol_ctx;

static void pnode_free(pnode *p) {
    if (!p) return;
    if (p->next) p->prev->next = p->next, p->next->prev = p->prev;
    pd_kv_free(p->kv);
    free(p->pending);
    free(p);
}

static pnode *node_cache(const pd_tree *t, int32_t id) { return (pnode *)(uintptr_t)t->nodes[id].handle; }

static void drop_cache(pd_tree *t, int32_t id) {
    pnode_free(node_cache(t, id));
    t->nodes[id].handle = 0;
}

/* Make p node id's cache, the newest on the list. */
static void set_cache(pol_ctx *c, pd_tree *t, int32_t id, pnode *p) {
    p->t = t;
    p->id = id;
    p->prev = c->caches.prev;
    p->next = &c->caches;
    p->prev->next = p;
    c->caches.prev = p;
    t->nodes[id].handle = (uint64_t)(uintptr_t)p;
}

static void pol_release(void *ctx, pd_tree *t, int32_t node) {
    (void)ctx;
    drop_cache(t, node);
}

/* The prompt's ids for a problem. */
static int prompt_ids(pol_ctx *c, const pd_problem *prob, int32_t **ids, size_t *n, pd_error *err) {
    pd_chat_msg msg[2];
    size_t nm = 0;
    if (c->system_prompt[0]) msg[nm++] = (pd_chat_msg){"system", c->system_prompt};
    msg[nm++] = (pd_chat_msg){"user", prob && prob->problem ? prob->problem : ""};
    pd_buf b = {0};
    int rc = pd_chat_render(c->tok, msg, nm, 1, 0, &b, err);
    if (!rc) rc = pd_tokenizer_encode(c->tok, b.data ? b.data : "", b.len, 0, ids, n, err);
    pd_buf_free(&b);
    return rc;
}

/* Make sure `leaf` has a cache record: the root's prompt, or its path's ids rebuilt. */
static int ensure_cache(pol_ctx *c, pd_tree *t, int32_t leaf, pd_error *err) {
    if (node_cache(t, leaf)) return 0;
    pnode *p = calloc(1, sizeof *p);
    if (!p) return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = prompt_ids(c, t->prob, &ids, &n, err);
    cap = n;
    int32_t depth = leaf ? pd_tree_path(t, leaf, NULL, 0) : 0;
    int32_t *path = malloc(((size_t)depth + 1) * sizeof *path);
    if (!rc && !path) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    if (!rc && depth) pd_tree_path(t, leaf, path, depth);
    for (int32_t d = 0; d < depth && !rc; d++) {
        const pd_node *nd = &t->nodes[path[d]];
        if (pd_grow((void **)&ids, &cap, n + nd->ids_len, sizeof *ids)) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
        else if (nd->ids_len) memcpy(ids + n, t->ids + nd->ids_off, nd->ids_len * sizeof *ids), n += nd->ids_len;
    }
    free(path);
    if (rc) {
        free(ids);
        free(p);
        return rc;
    }
    p->pending = ids;
    p->n_pending = n;
    set_cache(c, t, leaf, p);
    return 0;
}

/* One child being generated. */
typedef struct gen {
    pd_expand_req *req;
    int32_t index;          /* child index in the request */
    pd_kv *kv;
    float *logits;          /* (vocab) of the next token */
    pd_rng rng;
    pd_sampling samp;
    int32_t *ids;           /* sampled ids */
    size_t n_ids, cap_ids;
    size_t *ends;           /* (n_ids) byte length of the text after each id */
    size_t cap_ends;
    pd_buf text;            /* raw bytes of the generated text (special tokens excluded) */
    int32_t next;
    int status;             /* 0 while live, else the pd_node_status it ended with */
    int waited;             /* served in a later turn, or after evicting caches (KV memory) */
    size_t cut;             /* text length kept (the delimiter's end, or all) */
    int eos;                /* the last id is an end-of-sequence id (not kept) */
    size_t scanned;         /* text bytes already searched for the delimiter */
    /* the policy's confidence in its tokens (DeepConf, self-certainty) */
    pd_conf_track ct;       /* (n_ids) per sampled token, the window (confidence.c) */
    /* the draw of this turn (draw_task, on the model's threads) */
    int32_t drawn;
    double tc, ts;          /* the drawn token's confidence and self-certainty */
    int draw_rc;
    pd_error draw_err;
} gen;

static int is_eos(const pd_model_config *c, int32_t id) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == id) return 1;
    return 0;
}

/* Look for the delimiter in the text the last token completed. Returns 1 when found and sets
 * g->cut to the delimiter's end. */
static int find_delim(const pol_ctx *c, gen *g) {
    if (!c->delim_len || g->text.len < c->delim_len) return 0;
    size_t from = g->scanned + 1 > c->delim_len ? g->scanned + 1 - c->delim_len : 0;
    g->scanned = g->text.len;
    for (size_t at = from; at + c->delim_len <= g->text.len; at++)
        if (!memcmp(g->text.data + at, c->delim, c->delim_len)) {
            g->cut = at + c->delim_len;
            return 1;
        }
    return 0;
}

/* The draws of one decode turn: each live child's next token and its confidence, from its
 * own logits and RNG only, so they run on the model's threads in any order. */
typedef struct draw_job {
    pol_ctx *c;
    gen **g;
} draw_job;

static void draw_task(void *ctx, size_t task, int thread) {
    draw_job *j = ctx;
    gen *g = j->g[task];
    float *work = thread < j->c->n_work ? j->c->work[thread] : NULL;
    g->draw_rc = pd_sample_work(g->logits, j->c->vocab, &g->samp, &g->rng, &g->drawn, work, &g->draw_err);
    if (!g->draw_rc) pd_conf_from_logits(g->logits, j->c->vocab, &g->tc, &g->ts);
}

/* Draw for the n children in g (draw_task), on the model's threads from two children on. */
static int draw_all(pol_ctx *c, gen **g, size_t n, pd_error *err) {
    if (!c->work) {
        int nt = pd_model_n_threads(c->m);
        if (!(c->work = calloc((size_t)nt, sizeof *c->work))) return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
        c->n_work = nt;
        for (int t = 0; t < nt; t++)
            if (!(c->work[t] = malloc(c->vocab * sizeof **c->work))) return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    }
    draw_job j = {c, g};
    if (n > 1) pd_model_parallel(c->m, n, draw_task, &j);
    else if (n) draw_task(&j, 0, 0);
    return 0;
}

/* Take g's draw (draw_all) and decide whether it goes on. Returns 0 or an error. */
static int gen_step(pol_ctx *c, gen *g, pd_error *err) {
    const pd_model_config *cfg = pd_model_get_config(c->m);
    if (g->draw_rc) {
        if (err) *err = g->draw_err;
        return g->draw_rc;
    }
    int32_t id = g->drawn;
    g->req->cost->policy_tokens++;
    int window_low = 0;
    if (pd_conf_track_push(&g->ct, g->tc, g->ts, &window_low)) return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    if (pd_grow((void **)&g->ids, &g->cap_ids, g->n_ids + 1, sizeof *g->ids) ||
        pd_grow((void **)&g->ends, &g->cap_ends, g->n_ids + 1, sizeof *g->ends))
        return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    g->ids[g->n_ids] = id;
    if (is_eos(cfg, id)) {
        g->ends[g->n_ids++] = g->text.len;
        g->eos = 1;
        g->cut = g->text.len;
        g->status = PD_NODE_FINISHED;
        return 0;
    }
    const char *bytes;
    size_t len = 0;
    if (!pd_tokenizer_is_special(c->tok, id) && !pd_tokenizer_token_bytes(c->tok, id, &bytes, &len) && len &&
        pd_buf_append(&g->text, bytes, len))
        return pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    g->ends[g->n_ids++] = g->text.len;
    g->next = id;
    size_t cap = g->req->tree->step_max_tokens > 0 ? (size_t)g->req->tree->step_max_tokens : 1;
    if (g->req->mode == PD_EXPAND_STEP && find_delim(c, g)) g->status = PD_NODE_STEP_ENDED;
    else if (window_low || g->n_ids >= cap || pd_kv_len(g->kv) + 1 > (size_t)cfg->max_positions) {
        g->ct.stopped = window_low;
        g->cut = g->text.len;
        g->status = PD_NODE_TRUNCATED;
    }
    return 0;
}

/* Turn a finished step into a child node of the request's leaf (STEP mode). */
static int32_t add_step_node(pol_ctx *c, gen *g, pd_error *err) {
    pd_tree *t = g->req->tree;
    int32_t leaf = g->req->leaf;
    uint64_t seed = pd_expand_child_seed(g->req, g->index);
    size_t n_keep = g->n_ids - (g->eos ? 1 : 0); /* the EOS id is not part of the step */
    int32_t *tail = NULL;
    size_t n_tail = 0;
    pnode *pn = NULL;
    int rc = 0;
    if (g->status == PD_NODE_STEP_ENDED) {
        pd_steps_cut(c->tok, g->ids, g->n_ids, g->ends, g->text.data, &g->cut, &n_keep, &tail, &n_tail);
        if (g->kv && !(pn = calloc(1, sizeof *pn))) rc = PD_ENOMEM; /* no kv: evicted, rebuilt from the ids */
    }
    /* ids of the step: the kept sampled ids, then the re-tokenized tail */
    int32_t *ids = malloc((n_keep + n_tail + 1) * sizeof *ids);
    pd_buf text = {0};
    if (!rc && !ids) rc = PD_ENOMEM;
    if (!rc) {
        memcpy(ids, g->ids, n_keep * sizeof *ids);
        if (n_tail) memcpy(ids + n_keep, tail, n_tail * sizeof *ids);
        rc = pd_steps_append_lossy(&text, g->text.data ? g->text.data : "", g->cut);
    }
    int32_t id = -1;
    if (!rc) {
        id = pd_tree_add(t, leaf, seed, text.data ? text.data : "", text.len, ids, n_keep + n_tail,
                         (uint32_t)g->n_ids, g->status, 0);
        if (id < 0) rc = PD_ENOMEM;
        else pd_conf_track_node(&g->ct, &t->nodes[id], 0, g->n_ids, 1);
    }
    if (!rc && pn) {
        /* the cache holds the sampled ids but the last; what the step adds past it is pending */
        pn->kv = g->kv;
        g->kv = NULL;
        if (n_tail) {
            pn->pending = tail, pn->n_pending = n_tail, tail = NULL;
        } else if ((pn->pending = malloc(sizeof *pn->pending))) {
            pn->pending[0] = g->ids[g->n_ids - 1];
            pn->n_pending = 1;
        } else {
            rc = PD_ENOMEM;
        }
        if (!rc) set_cache(c, t, id, pn), pn = NULL;
    }
    if (!rc) g->req->cost->expansions++;
    pnode_free(pn);
    free(tail);
    free(ids);
    pd_buf_free(&text);
    if (rc) pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    return rc ? -1 : id;
}

/* Turn a finished rollout into a chain of step nodes split at the delimiter; returns the
 * last node. Each sampled id goes to the step its first byte is in. */
static int32_t add_rollout_chain(pol_ctx *c, gen *g, pd_error *err) {
    pd_tree *t = g->req->tree;
    int32_t parent = g->req->leaf;
    uint64_t seed = pd_expand_child_seed(g->req, g->index);
    size_t n_ids = g->n_ids - (g->eos ? 1 : 0), s0 = 0, id0 = 0;
    const char *txt = g->text.data ? g->text.data : "";
    pd_buf text = {0};
    int first = 1;
    for (;;) {
        /* the next step: up to the delimiter's end, or the rest */
        size_t s1, id1;
        int last;
        pd_steps_rollout_next(txt, g->cut, g->ends, n_ids, c->delim, c->delim_len, s0, id0, &s1, &id1, &last);
        pd_buf_reset(&text);
        if (pd_steps_append_lossy(&text, txt + s0, s1 - s0)) break;
        uint32_t n_tok = (uint32_t)(id1 - id0) + (last && g->eos ? 1 : 0);
        int32_t id = pd_tree_add(t, parent, first ? seed : pd_tree_child_seed(t, parent, 0), text.data ? text.data : "",
                                 text.len, g->ids + id0, id1 - id0, n_tok, last ? g->status : PD_NODE_STEP_ENDED, 0);
        if (id < 0) break;
        pd_conf_track_node(&g->ct, &t->nodes[id], id0, last ? g->n_ids : id1, last);
        g->req->cost->expansions++;
        if (last) {
            pd_buf_free(&text);
            return id;
        }
        parent = id;
        first = 0;
        s0 = s1;
        id0 = id1;
    }
    pd_buf_free(&text);
    pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    return -1;
}

/* A leaf of one expand call. */
typedef struct leaf_t {
    pd_tree *t;
    int32_t id;
    float *logits;          /* (vocab) of its next token, once prefilled */
    size_t users;           /* children not yet started */
    int overflow;           /* no room to generate: its children are empty and truncated */
    int ready;              /* prefilled */
    int want;               /* to prefill in this turn */
    pd_cost *cost;
} leaf_t;

/* Blocks a leaf's prefill may add: its pending tokens, and a copy of a shared tail block. */
static size_t leaf_need(const pnode *p) {
    size_t len = p->kv ? pd_kv_len(p->kv) : 0;
    return pd_kv_blocks_for(len + p->n_pending) - len / pd_kv_block_positions();
}

/* Blocks a child of a prefilled leaf holding `len` positions may add, at worst: a copy of
 * the shared tail block and a whole step (the step cap, within the context). */
static size_t child_need(const pol_ctx *c, const pd_tree *t, size_t len) {
    size_t cap = t->step_max_tokens > 0 ? (size_t)t->step_max_tokens : 1;
    size_t max_pos = (size_t)pd_model_get_config(c->m)->max_positions, end = len + cap;
    if (end > max_pos) end = max_pos;
    return pd_kv_blocks_for(end) - len / pd_kv_block_positions();
}

/* Make room: drop the KV blocks of idle caches (oldest first; nodes outside this call), until
 * `want` blocks are free or none is left. The nodes are rebuilt from their ids if expanded. */
static void evict_idle(pol_ctx *c, size_t want) {
    for (pnode *p = c->caches.next, *nx; p != &c->caches && pd_kv_blocks_free(c->m) < want; p = nx) {
        nx = p->next;
        if (p->busy || !p->kv) continue;
        drop_cache(p->t, p->id);
        c->evicted++;
    }
}

/* Prefill the leaves marked `want`: their pending tokens in calls of at most PREFILL_CHUNK
 * tokens, each ending with the logits of its next token. */
static int prefill(pol_ctx *c, leaf_t *lv, size_t nl, pd_seq_step *steps, pd_error *err) {
    int rc = 0;
    for (size_t k = 0; k < nl && !rc; k++) {
        pnode *p = node_cache(lv[k].t, lv[k].id);
        if (!lv[k].want || lv[k].ready) continue;
        if (!p->kv && !(p->kv = pd_kv_new(c->m, err))) rc = err ? err->code : PD_ENOMEM;
        else if (!lv[k].logits && !(lv[k].logits = malloc(c->vocab * sizeof(float))))
            rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    }
    while (!rc) {
        size_t ns = 0, budget = PREFILL_CHUNK;
        for (size_t k = 0; k < nl && budget; k++) {
            pnode *p = node_cache(lv[k].t, lv[k].id);
            if (!lv[k].want || lv[k].ready || !p->n_pending) continue;
            size_t take = p->n_pending < budget ? p->n_pending : budget;
            budget -= take;
            int last = take == p->n_pending;
            steps[ns++] = (pd_seq_step){.kv = p->kv, .tokens = p->pending, .n_tokens = take,
                                        .logits = last ? PD_LOGITS_LAST : PD_LOGITS_NONE, .out = lv[k].logits};
            lv[k].cost->prefix_tokens += take;
        }
        if (!ns) break;
        if ((rc = pd_model_forward(c->m, steps, ns, err))) break;
        for (size_t s = 0; s < ns; s++) /* drop what was computed from the pending lists */
            for (size_t k = 0; k < nl; k++) {
                pnode *p = node_cache(lv[k].t, lv[k].id);
                if (p->kv != steps[s].kv) continue;
                memmove(p->pending, p->pending + steps[s].n_tokens, (p->n_pending - steps[s].n_tokens) * sizeof *p->pending);
                p->n_pending -= steps[s].n_tokens;
            }
    }
    for (size_t k = 0; k < nl && !rc; k++)
        if (lv[k].want) lv[k].ready = 1, lv[k].want = 0;
    return rc;
}

/* Generate children [a, b) to the end of their steps: sample for every live child, then one
 * forward call for all survivors. */
static int decode(pol_ctx *c, gen *gs, size_t a, size_t b, pd_seq_step *steps, pd_error *err) {
    gen **live = malloc((b - a + 1) * sizeof *live);
    int rc = live ? 0 : pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    while (!rc) {
        size_t ns = 0, nl = 0;
        for (size_t i = a; i < b; i++)
            if (!gs[i].status) live[nl++] = &gs[i];
        if ((rc = draw_all(c, live, nl, err))) break;
        for (size_t i = a; i < b && !rc; i++) {
            gen *g = &gs[i];
            if (g->status) continue;
            if ((rc = gen_step(c, g, err))) break;
            if (!g->status) steps[ns++] = (pd_seq_step){.kv = g->kv, .tokens = &g->next, .n_tokens = 1,
                                                        .logits = PD_LOGITS_LAST, .out = g->logits};
        }
        if (rc || !ns) break;
        rc = pd_model_forward(c->m, steps, ns, err);
    }
    free(live);
    /* only a step that ended at the delimiter keeps its cache (as its node's) */
    for (size_t i = a; i < b; i++)
        if (gs[i].status != PD_NODE_STEP_ENDED) pd_kv_free(gs[i].kv), gs[i].kv = NULL;
    return rc;
}

/* The children of the next turn: from gs[a], in order, as many as the pool has room for at
 * worst (a leaf's prefill and each child's whole step); marks their leaves to prefill.
 * Returns the end b (b == a: not even the first fits). */
static size_t admit(pol_ctx *c, leaf_t *lv, const size_t *gen_leaf, gen *gs, size_t a, size_t ng) {
    size_t avail = pd_kv_blocks_free(c->m), b = a;
    for (; b < ng; b++) {
        leaf_t *L = &lv[gen_leaf[b]];
        const pnode *p = node_cache(L->t, L->id);
        size_t len = (p->kv ? pd_kv_len(p->kv) : 0) + (L->ready ? 0 : p->n_pending);
        size_t need = child_need(c, L->t, len) + (L->ready || L->want ? 0 : leaf_need(p));
        if (gs[b].status) need = 0; /* a child of an overflowing leaf: nothing to compute */
        if (avail != SIZE_MAX) {
            if (need > avail) break;
            avail -= need;
        }
        if (!L->ready && !gs[b].status) L->want = 1;
    }
    return b;
}

/* Room for gs[a], the first child waiting, when admit() found none: evict idle caches, then
 * the caches of this call's finished steps, then those of leaves not started yet (last
 * first); all are rebuilt from their ids when needed. If it still does not fit, the sequence
 * alone is larger than the budget: PD_ELIMIT naming the model and both sizes. */
static int make_room(pol_ctx *c, leaf_t *lv, size_t nl, const size_t *gen_leaf, gen *gs, size_t a, pd_error *err) {
    leaf_t *L = &lv[gen_leaf[a]];
    pnode *p = node_cache(L->t, L->id);
    size_t len = (p->kv ? pd_kv_len(p->kv) : 0) + (L->ready ? 0 : p->n_pending);
    size_t need = child_need(c, L->t, len) + (L->ready ? 0 : leaf_need(p));
    evict_idle(c, need);
    for (size_t i = 0; i < a && pd_kv_blocks_free(c->m) < need; i++)
        if (gs[i].kv) pd_kv_free(gs[i].kv), gs[i].kv = NULL, c->evicted++;
    for (size_t k = nl; k-- > 0 && pd_kv_blocks_free(c->m) < need;) {
        pnode *q = node_cache(lv[k].t, lv[k].id);
        if (&lv[k] == L || lv[k].ready || !q->kv) continue;
        int32_t id = lv[k].id;
        drop_cache(lv[k].t, id); /* its path's ids again, from scratch */
        int rc = ensure_cache(c, lv[k].t, id, err);
        if (rc) return rc;
        node_cache(lv[k].t, id)->busy = 1;
        c->evicted++;
    }
    if (pd_kv_blocks_free(c->m) >= need) return 0;
    size_t blk = pd_kv_block_bytes(c->m), held = pd_kv_blocks_live(c->m) + need; /* live: this sequence's own */
    return pd_err_set(err, PD_ELIMIT,
                      "policy %s: one sequence (%zu positions of prompt and path, then a step of up to %d tokens) needs "
                      "%.1f MiB of KV cache, but --kv-memory allows %.1f MiB (%zu blocks of %zu KiB); raise --kv-memory "
                      "or lower --max-step-tokens", c->dir, len, (int)L->t->step_max_tokens,
                      (double)held * (double)blk / 1048576.0, (double)pd_kv_blocks_budget(c->m) * (double)blk / 1048576.0,
                      pd_kv_blocks_budget(c->m), blk >> 10);
}

/* Serve a batch of expansion requests; see the top of the file. */
static int pol_expand(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err) {
    pol_ctx *c = ctx;
    const pd_model_config *cfg = pd_model_get_config(c->m);
    size_t max_pos = (size_t)cfg->max_positions;
    int rc = 0, deferred = 0;
    /* 1. leaves: one record per distinct (tree, leaf), with a cache record */
    leaf_t *lv = calloc(n ? n : 1, sizeof *lv);
    size_t *req_leaf = calloc(n ? n : 1, sizeof *req_leaf), nl = 0, n_gen = 0, *gen_leaf = NULL;
    gen *gs = NULL;
    pd_seq_step *steps = NULL;
    if (!lv || !req_leaf) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    for (size_t q = 0; q < n && !rc; q++) {
        pd_expand_req *r = &reqs[q];
        if (r->leaf < 0 || r->leaf >= r->tree->n_nodes || pd_node_done(&r->tree->nodes[r->leaf])) {
            rc = pd_err_set(err, PD_EINVAL, "policy: node %d cannot be extended", (int)r->leaf);
            break;
        }
        size_t k = 0;
        while (k < nl && !(lv[k].t == r->tree && lv[k].id == r->leaf)) k++;
        if (k == nl) {
            lv[nl++] = (leaf_t){.t = r->tree, .id = r->leaf, .cost = r->cost};
            if ((rc = ensure_cache(c, r->tree, r->leaf, err))) break;
            node_cache(r->tree, r->leaf)->busy = 1; /* not evicted while this call needs it */
        }
        req_leaf[q] = k;
        lv[k].users += (size_t)(r->k > 0 ? r->k : 0);
        n_gen += (size_t)(r->k > 0 ? r->k : 0);
    }
    for (size_t k = 0; k < nl && !rc; k++) {
        pnode *p = node_cache(lv[k].t, lv[k].id);
        if (!p->n_pending || (p->kv ? pd_kv_len(p->kv) : 0) + p->n_pending > max_pos) lv[k].overflow = 1; /* no room to generate */
    }
    steps = malloc((nl + n_gen + 1) * sizeof *steps);
    gs = calloc(n_gen ? n_gen : 1, sizeof *gs);
    gen_leaf = malloc((n_gen ? n_gen : 1) * sizeof *gen_leaf);
    if (!rc && (!steps || !gs || !gen_leaf)) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
    /* 2. children, in request order; each with its own RNG (its sample does not depend on the batch) */
    size_t ng = 0;
    for (size_t q = 0; q < n && !rc; q++) {
        pd_expand_req *r = &reqs[q];
        for (int32_t i = 0; i < r->k && !rc; i++) {
            gen *g = &gs[ng];
            gen_leaf[ng++] = req_leaf[q];
            g->req = r;
            g->index = i;
            g->samp = r->greedy ? pd_sampling_greedy()
                                : (pd_sampling){.temperature = r->tree->temperature, .top_p = r->tree->top_p};
            pd_rng_seed(&g->rng, pd_expand_child_seed(r, i));
            if (lv[req_leaf[q]].overflow) g->status = PD_NODE_TRUNCATED; /* the prompt or path fills the context */
            else if (pd_conf_track_init(&g->ct, r->conf_window, r->conf_stop)) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
        }
    }
    /* 3. in turns, as many children as the pool holds at worst (all of them when unbounded):
     * prefill their leaves, start each from a copy of its leaf's cache and logits (the last
     * one takes the leaf's own), decode them to the ends of their steps */
    for (size_t a = 0; a < ng && !rc;) {
        size_t b = admit(c, lv, gen_leaf, gs, a, ng);
        int made_room = b == a;
        if (made_room) {
            if ((rc = make_room(c, lv, nl, gen_leaf, gs, a, err))) break;
            b = admit(c, lv, gen_leaf, gs, a, ng);
            if (b == a) { /* cannot happen: make_room made room for gs[a] */
                rc = pd_err_set(err, PD_ELIMIT, "policy %s: no room in the KV pool", c->dir);
                break;
            }
        }
        deferred |= b < ng;
        for (size_t i = a; i < b && (a > 0 || made_room); i++) gs[i].waited = 1;
        if ((rc = prefill(c, lv, nl, steps, err))) break;
        for (size_t i = a; i < b && !rc; i++) {
            gen *g = &gs[i];
            leaf_t *L = &lv[gen_leaf[i]];
            pnode *p = node_cache(L->t, L->id);
            if (g->status) continue;
            if (--L->users == 0) {
                g->kv = p->kv, p->kv = NULL;
            } else if (!(g->kv = pd_kv_clone(p->kv, err))) {
                rc = err ? err->code : PD_ENOMEM;
                break;
            }
            if (!(g->logits = malloc(c->vocab * sizeof(float)))) rc = pd_err_set(err, PD_ENOMEM, "policy: out of memory");
            else memcpy(g->logits, L->logits, c->vocab * sizeof(float));
        }
        if (!rc) rc = decode(c, gs, a, b, steps, err);
        a = b;
    }
    c->deferred += (uint64_t)deferred;
    for (size_t i = 0; i < ng; i++) /* once per search (a search's requests come together) */
        if (gs[i].waited && (i == 0 || !gs[i - 1].waited || gs[i - 1].req->cost != gs[i].req->cost))
            gs[i].req->cost->kv_waits++;
    /* 4. nodes, in request and child order */
    for (size_t i = 0; i < ng && !rc; i++) {
        gen *g = &gs[i];
        int32_t id = g->req->mode == PD_EXPAND_ROLLOUT ? add_rollout_chain(c, g, err) : add_step_node(c, g, err);
        if (id < 0) rc = err ? err->code : PD_ENOMEM;
        else g->req->out[g->index] = id;
    }
    /* 5. the expanded leaves are interior now: their caches are done with */
    for (size_t k = 0; k < nl; k++) drop_cache(lv[k].t, lv[k].id);
    for (size_t i = 0; gs && i < n_gen; i++) {
        pd_kv_free(gs[i].kv);
        free(gs[i].logits);
        free(gs[i].ids);
        free(gs[i].ends);
        pd_conf_track_free(&gs[i].ct);
        pd_buf_free(&gs[i].text);
    }
    for (size_t k = 0; lv && k < nl; k++) free(lv[k].logits);
    free(gs);
    free(gen_leaf);
    free(lv);
    free(req_leaf);
    free(steps);
    return rc;
}

/* The policy model's KV memory; see pd_kv_usage. */
int pd_local_policy_kv_usage(const pd_policy *pol, pd_kv_usage *u) {
    memset(u, 0, sizeof *u);
    if (pol->expand != pol_expand) return -1;
    const pol_ctx *c = pol->ctx;
    pd_kv_usage_of_model(c->m, c->deferred, c->evicted, u);
    return 0;
}

static void pol_free(void *ctx) {
    pol_ctx *c = ctx;
    if (!c) return;
    pd_model_free(c->m);
    pd_tokenizer_free(c->tok);
    free(c->system_prompt);
    free(c->delim);
    for (int t = 0; t < c->n_work; t++) free(c->work[t]);
    free(c->work);
    free(c);
}

int pd_local_policy_open(pd_policy *pol, const char *spec, const char *system_prompt, const char *delim,
                         const pd_model_opts *mo, size_t kv_memory, pd_error *err) {
    memset(pol, 0, sizeof *pol);
    pol_ctx *c = calloc(1, sizeof *c);
    if (!c) return pd_err_set(err, PD_ENOMEM, "out of memory");
    c->caches.prev = c->caches.next = &c->caches;
    int rc = pd_hub_resolve(spec, c->dir, sizeof c->dir, err);
    if (!rc && !(c->m = pd_model_load(c->dir, mo, err))) rc = err ? err->code : PD_EINVAL;
    if (!rc) pd_kv_set_memory(c->m, kv_memory);
    if (!rc && !(c->tok = pd_tokenizer_load(c->dir, err))) rc = err ? err->code : PD_EINVAL;
    if (!rc && pd_model_get_config(c->m)->head != PD_HEAD_LM)
        rc = pd_err_set(err, PD_EINVAL, "policy %s: %s is a reward model, not a causal LM", spec,
                        pd_model_get_config(c->m)->architecture);
    if (!rc && pd_tokenizer_chat_family(c->tok) == PD_CHAT_NONE) {
        pd_chat_msg m = {"user", "x"};
        pd_buf b = {0};
        pd_chat_render(c->tok, &m, 1, 1, 0, &b, err); /* fills the reason */
        pd_buf_free(&b);
        rc = pd_err_prefix(err, "policy %s: no chat template ponder can render (the prompt is the chat template "
                           "with a system and a user turn)", spec);
        if (!rc) rc = PD_EUNSUPPORTED;
    }
    if (!rc) {
        c->vocab = (size_t)pd_model_get_config(c->m)->vocab_size;
        c->system_prompt = strdup(system_prompt ? system_prompt : PD_SAL_SYSTEM_PROMPT);
        c->delim = strdup(delim ? delim : "\n\n");
        if (!c->system_prompt || !c->delim) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        else c->delim_len = strlen(c->delim);
    }
    if (rc) {
        pol_free(c);
        return rc;
    }
    pol->name = "engine";
    pol->n_params = (double)pd_model_n_params(c->m);
    pol->ctx = c;
    pol->expand = pol_expand;
    pol->release = pol_release;
    pol->free = pol_free;
    return 0;
}
