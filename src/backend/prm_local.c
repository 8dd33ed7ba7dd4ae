/* prm_local.c — process reward models on the embedded engine: the one place that knows each
 * PRM kind's input format and read-out (include/ponder/prm.h), and the verifier backend that
 * scores search-tree steps incrementally.
 *
 * Formats. render() turns (problem, steps) into the exact token ids the PRM was trained on
 * and the position whose output gives each step's reward, following the authors' code
 * (docs/SEARCH.md cites them): chat templates are rendered by the tokenizer's own family
 * renderer (src/model/chat.c) and the text is tokenized whole, as transformers does; Skywork
 * builds ids line by line, as its prepare_input does. Step tags and judgment tokens are
 * looked up by tokenizing their strings, never by hard-coded ids.
 *
 * Incremental scoring. Every PRM here is causal: the output at a position depends only on
 * the tokens before it. A node's state (pstate) is a KV cache holding its input up to and
 * including its last read-out position, and the ids it holds. To score a child, its whole
 * input is rendered and tokenized (cheap next to the model), compared with the parent's ids,
 * and only the tokens past the common prefix are computed on a copy of the parent's cache.
 * The common prefix is found on ids, not assumed, so a tokenization that differs at the
 * boundary (a merge across it) is recomputed from where it differs: incremental scores are
 * the scores of the whole input. Tokens after the last read-out (closing template tokens)
 * are never computed, and only the read-out rows are: two lm_head rows for the judgment
 * tokens, or the reward head.
 *
 * Lifetimes. A scored node keeps its state while it can still get children: the verifier
 * frees the state of a scored node's parent after the call (unless that parent was scored
 * in the same call, as a lookahead candidate is, which gets children later), and any state
 * when the search releases the node. A state that was freed is not an error: the next job
 * starts from the nearest ancestor that has one, or from scratch. */
#include "backend_int.h"
#include "ponder/hub.h"
#include "ponder/model.h"
#include "ponder/prm.h"
#include "ponder/tokenizer.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tokens per forward call when computing many inputs (bounds the activations' memory). */
#define PRM_CHUNK 1024

static const char *QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}.";

/* A cached input: kv holds ids[0..n). Every state that holds blocks is on its PRM's list,
 * oldest first, for eviction; an evicted state keeps its place on its node but no kv. */
typedef struct pstate {
    pd_kv *kv;                  /* NULL once evicted */
    int32_t *ids;
    size_t n;
    struct pstate *prev, *next; /* the list (a ring through pd_prm.states); NULL when off it */
    int pins;                   /* jobs of the call in progress that start from it */
} pstate;

static void pstate_unlink(pstate *s) {
    if (s->next) s->prev->next = s->next, s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void pstate_free(pstate *s) {
    if (!s) return;
    pstate_unlink(s);
    pd_kv_free(s->kv);
    free(s->ids);
    free(s);
}

/* Give back a state's blocks; jobs that would have started from it start from scratch. */
static void pstate_evict(pstate *s) {
    pstate_unlink(s);
    pd_kv_free(s->kv);
    s->kv = NULL;
    s->n = 0;
}

struct pd_prm {
    pd_prm_kind kind;
    pd_model *m;               /* NULL when opened format_only */
    pd_model_config cfg;
    pd_tokenizer *tok;
    char dir[4096];
    char *system_prompt;       /* qwen2-prm */
    char *step_tag;            /* math-shepherd: text after each step */
    int32_t tag_id;            /* qwen2-prm: <extra_0>; math-shepherd: the step tag's token */
    int32_t judge[2];          /* rlhflow / math-shepherd: ids of the good and bad tokens */
    int32_t *hdr;              /* rlhflow: ids of the assistant header that precedes "+" */
    size_t n_hdr;
    int32_t nl_id;             /* skywork: the "\n" token */
    int32_t bos_id;            /* skywork: the BOS token (-1: none) */
    int out_width;             /* floats per read-out row */
    pstate states;             /* ring of the nodes' states that hold blocks, oldest first (a sentinel) */
    uint64_t deferred;         /* score calls served in more than one turn */
    uint64_t evicted;          /* states and jobs' caches dropped to make room */
};

static const char *KIND_NAMES[] = {"auto", "qwen2-prm", "skywork", "rlhflow", "math-shepherd"};

const char *pd_prm_kind_name(pd_prm_kind k) {
    return (unsigned)k <= PD_PRM_MATH_SHEPHERD ? KIND_NAMES[k] : "?";
}

int pd_prm_kind_parse(const char *s, pd_prm_kind *out) {
    for (int i = 0; i <= PD_PRM_MATH_SHEPHERD; i++)
        if (!strcmp(s, KIND_NAMES[i])) {
            *out = (pd_prm_kind)i;
            return 0;
        }
    return -1;
}

pd_prm_kind pd_prm_get_kind(const pd_prm *p) { return p->kind; }
/* Parameters from the config alone (format_only): embeddings, layers, final norm and the
 * head the kind reads; what the weights would count. */
static size_t config_params(const pd_model_config *c) {
    size_t H = (size_t)c->hidden_size, q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim;
    size_t layer = H * q + 2 * H * kv + q * H + 3 * H * (size_t)c->intermediate_size + 2 * H;
    if (c->attn_qkv_bias) layer += q + 2 * kv;
    size_t n = (size_t)c->vocab_size * H + (size_t)c->n_layers * layer + H;
    if (c->head == PD_HEAD_PRM_CLASS) n += H * H + H + 2 * H + 2;
    else if (c->head == PD_HEAD_VALUE) n += H + 1;
    else if (!c->tie_embeddings) n += (size_t)c->vocab_size * H;
    return n;
}

size_t pd_prm_n_params(const pd_prm *p) { return p->m ? pd_model_n_params(p->m) : config_params(&p->cfg); }
size_t pd_prm_context(const pd_prm *p) { return (size_t)p->cfg.max_positions; }

void pd_prm_close(pd_prm *p) {
    if (!p) return;
    pd_model_free(p->m);
    pd_tokenizer_free(p->tok);
    free(p->system_prompt);
    free(p->step_tag);
    free(p->hdr);
    free(p);
}

/* ---- opening ---- */

/* Case-insensitive substring test. */
static int has_word(const char *s, const char *w) {
    size_t n = strlen(w);
    for (; *s; s++)
        if (!strncasecmp(s, w, n)) return 1;
    return 0;
}

/* The kind from the architecture, else from the spec's name. */
static pd_prm_kind detect_kind(const pd_model_config *c, const char *spec) {
    if (c->head == PD_HEAD_PRM_CLASS) return PD_PRM_QWEN2;
    if (c->head == PD_HEAD_VALUE) return PD_PRM_SKYWORK;
    if (has_word(spec, "rlhflow") && has_word(spec, "prm")) return PD_PRM_RLHFLOW;
    if (has_word(spec, "math-shepherd") || has_word(spec, "math_shepherd")) return PD_PRM_MATH_SHEPHERD;
    return PD_PRM_AUTO;
}

/* Encode s without special tokens into a malloc'd array. */
static int encode(const pd_prm *p, const char *s, int add_special, int32_t **ids, size_t *n, pd_error *err) {
    return pd_tokenizer_encode(p->tok, s, strlen(s), add_special, ids, n, err);
}

/* The last id of encode(s): how the references pick a token out of a string. */
static int last_id(const pd_prm *p, const char *what, const char *s, int32_t *out, pd_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = encode(p, s, 0, &ids, &n, err);
    if (rc) return rc;
    if (!n) {
        free(ids);
        return pd_err_set(err, PD_EFORMAT, "%s: the %s \"%s\" tokenizes to nothing", p->dir, what, s);
    }
    *out = ids[n - 1];
    free(ids);
    return 0;
}

/* Set up what the kind's format needs from the tokenizer; errors name what is missing. */
static int setup_format(pd_prm *p, const pd_prm_opts *o, pd_error *err) {
    const char *good = o && o->good_token ? o->good_token : "+";
    const char *bad = o && o->bad_token ? o->bad_token : "-";
    const pd_model_config *c = &p->cfg;
    int rc = 0;
    if ((p->kind == PD_PRM_QWEN2) != (c->head == PD_HEAD_PRM_CLASS) ||
        (p->kind == PD_PRM_SKYWORK) != (c->head == PD_HEAD_VALUE))
        return pd_err_set(err, PD_EINVAL, "%s: a %s PRM needs %s, but config.json says %s", p->dir,
                          pd_prm_kind_name(p->kind),
                          p->kind == PD_PRM_QWEN2     ? "Qwen2ForProcessRewardModel"
                          : p->kind == PD_PRM_SKYWORK ? "Qwen2ForPrmModel"
                                                      : "a causal LM with an lm_head",
                          c->architecture);
    switch (p->kind) {
    case PD_PRM_QWEN2:
        p->out_width = 2;
        p->system_prompt = strdup(o && o->system_prompt ? o->system_prompt : QWEN_PRM_SYSTEM);
        if (!p->system_prompt) return pd_err_set(err, PD_ENOMEM, "out of memory");
        if ((p->tag_id = pd_tokenizer_token_id(p->tok, "<extra_0>")) < 0)
            return pd_err_set(err, PD_EFORMAT, "%s: the tokenizer has no <extra_0> token, which qwen2-prm puts after "
                              "every step", p->dir);
        if (pd_tokenizer_chat_family(p->tok) == PD_CHAT_NONE)
            return pd_err_set(err, PD_EUNSUPPORTED, "%s: qwen2-prm needs the model's chat template, and it has none "
                              "that ponder renders", p->dir);
        return 0;
    case PD_PRM_SKYWORK: {
        p->out_width = 1;
        int32_t *ids = NULL;
        size_t n = 0;
        if ((rc = encode(p, "\n", 0, &ids, &n, err))) return rc;
        p->nl_id = n == 1 ? ids[0] : -1;
        free(ids);
        if (p->nl_id < 0)
            return pd_err_set(err, PD_EFORMAT, "%s: \"\\n\" is not one token, so Skywork's line read-outs do not exist",
                              p->dir);
        p->bos_id = pd_tokenizer_bos_id(p->tok);
        if (p->bos_id < 0) p->bos_id = c->bos_id;
        return 0;
    }
    case PD_PRM_RLHFLOW: {
        p->out_width = 2;
        if ((rc = last_id(p, "good token", good, &p->judge[0], err)) || (rc = last_id(p, "bad token", bad, &p->judge[1], err)))
            return rc;
        if (pd_tokenizer_chat_family(p->tok) != PD_CHAT_LLAMA3)
            return pd_err_set(err, PD_EUNSUPPORTED, "%s: rlhflow needs a Llama 3 chat template", p->dir);
        if (p->judge[0] == p->judge[1])
            return pd_err_set(err, PD_EFORMAT, "%s: the good and bad tokens are the same token", p->dir);
        pd_chat_msg msg[2] = {{"user", "x"}, {"assistant", good}};
        pd_buf a = {0}, b = {0};
        /* the assistant header is what the full turn adds after the user turn, up to "+" */
        rc = pd_chat_render(p->tok, msg, 1, 0, 0, &a, err);
        if (!rc) rc = pd_chat_render(p->tok, msg, 1, 1, 0, &b, err);
        if (!rc && (b.len <= a.len || memcmp(a.data, b.data, a.len)))
            rc = pd_err_set(err, PD_EUNSUPPORTED, "%s: the chat template's generation prompt does not extend the chat",
                            p->dir);
        if (!rc) rc = encode(p, b.data + a.len, 0, &p->hdr, &p->n_hdr, err);
        pd_buf_free(&a);
        pd_buf_free(&b);
        if (!rc && !p->n_hdr) rc = pd_err_set(err, PD_EFORMAT, "%s: empty assistant header", p->dir);
        return rc;
    }
    case PD_PRM_MATH_SHEPHERD: {
        p->out_width = 2;
        p->step_tag = strdup(o && o->step_tag ? o->step_tag : " ки");
        if (!p->step_tag) return pd_err_set(err, PD_ENOMEM, "out of memory");
        if ((rc = last_id(p, "step tag", p->step_tag, &p->tag_id, err))) return rc;
        /* the reference takes encode(f"{good} {bad}") after its BOS: one token each */
        pd_buf s = {0};
        int32_t *ids = NULL;
        size_t n = 0;
        if (pd_buf_printf(&s, "%s %s", good, bad)) return pd_err_set(err, PD_ENOMEM, "out of memory");
        rc = encode(p, s.data, 1, &ids, &n, err);
        pd_buf_free(&s);
        if (rc) return rc;
        size_t k = n && ids[0] == pd_tokenizer_bos_id(p->tok) ? 1 : 0;
        if (n - k != 2) rc = pd_err_set(err, PD_EFORMAT, "%s: \"%s %s\" is not two tokens (good, bad) in this tokenizer; "
                                        "set --prm-good-token / --prm-bad-token", p->dir, good, bad);
        else p->judge[0] = ids[k], p->judge[1] = ids[k + 1];
        free(ids);
        if (!rc && p->judge[0] == p->judge[1]) rc = pd_err_set(err, PD_EFORMAT, "%s: the good and bad tokens are the same", p->dir);
        if (!rc && (p->tag_id == p->judge[0] || p->tag_id == p->judge[1]))
            rc = pd_err_set(err, PD_EFORMAT, "%s: the step tag is a judgment token", p->dir);
        return rc;
    }
    default: return pd_err_set(err, PD_EINVAL, "bad PRM kind");
    }
}

pd_prm *pd_prm_open(const char *spec, const pd_prm_opts *o, pd_error *err) {
    pd_prm *p = calloc(1, sizeof *p);
    if (!p) {
        pd_err_set(err, PD_ENOMEM, "out of memory");
        return NULL;
    }
    p->bos_id = -1;
    p->states.prev = p->states.next = &p->states;
    if (pd_hub_resolve(spec, p->dir, sizeof p->dir, err)) goto fail;
    pd_model_opts mo = {.n_threads = o ? o->n_threads : 0, .precision = o ? (pd_precision)o->precision : PD_PRECISION_DEFAULT};
    if (o && o->format_only) {
        char path[4200], *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/config.json", p->dir);
        int rc = pd_file_read(path, &text, &len, err);
        if (!rc) rc = pd_model_config_parse(text, len, path, &p->cfg, err);
        free(text);
        if (rc) goto fail;
    } else {
        if (!(p->m = pd_model_load(p->dir, &mo, err))) goto fail;
        pd_kv_set_memory(p->m, o ? o->kv_memory : 0);
        p->cfg = *pd_model_get_config(p->m);
    }
    if (!(p->tok = pd_tokenizer_load(p->dir, err))) goto fail;
    p->kind = o ? o->kind : PD_PRM_AUTO;
    if (p->kind == PD_PRM_AUTO) p->kind = detect_kind(&p->cfg, spec);
    if (p->kind == PD_PRM_AUTO) {
        pd_err_set(err, PD_EINVAL,
                   "%s: cannot tell which kind of PRM this %s is (its architecture names no reward head and its "
                   "name no known PRM); say it with --prm-kind qwen2-prm|skywork|rlhflow|math-shepherd",
                   spec, p->cfg.architecture);
        goto fail;
    }
    if (setup_format(p, o, err)) goto fail;
    return p;
fail:
    pd_prm_close(p);
    return NULL;
}

/* ---- formats ---- */

/* Positions in ids holding `id`, the last n of them aligned to the n steps (a step whose text
 * holds the tag itself is read at its last tag). */
static int tag_positions(const pd_prm *p, const int32_t *ids, size_t n_ids, int32_t id, size_t n, size_t *pos,
                         pd_error *err) {
    size_t found = 0;
    for (size_t i = n_ids; i-- > 0 && found < n;)
        if (ids[i] == id) pos[n - 1 - found++] = i;
    if (found < n)
        return pd_err_set(err, PD_EFORMAT, "%s: %zu steps but only %zu step tags in the input", p->dir, n, found);
    return 0;
}

/* rlhflow: the positions before each assistant "+", found as the assistant header
 * followed by the good token. */
static int rlhflow_positions(const pd_prm *p, const int32_t *ids, size_t n_ids, size_t n, size_t *pos, pd_error *err) {
    size_t found = 0;
    for (size_t i = 0; i + p->n_hdr < n_ids && found < n; i++)
        if (ids[i + p->n_hdr] == p->judge[0] && !memcmp(ids + i, p->hdr, p->n_hdr * sizeof *ids))
            pos[found++] = i + p->n_hdr - 1;
    if (found < n)
        return pd_err_set(err, PD_EFORMAT, "%s: %zu steps but %zu assistant \"+\" turns in the rendered chat", p->dir, n,
                          found);
    return 0;
}

/* Append ids to a growable array. */
static int push_ids(int32_t **a, size_t *n, size_t *cap, const int32_t *ids, size_t k) {
    if (pd_grow((void **)a, cap, *n + k, sizeof **a)) return PD_ENOMEM;
    if (k) memcpy(*a + *n, ids, k * sizeof *ids);
    *n += k;
    return 0;
}

/* Skywork's input: bos + problem + "\n", then each line of the joined steps tokenized alone
 * and followed by "\n"; step k is read at the newline that ends its last line. */
static int render_skywork(const pd_prm *p, const char *problem, const char *const *steps, size_t n, int32_t **out,
                          size_t *n_out, size_t *pos, pd_error *err) {
    int32_t *ids = NULL, *tmp = NULL;
    size_t n_ids = 0, cap = 0, nt = 0;
    int rc = 0;
    if (p->bos_id >= 0) rc = push_ids(&ids, &n_ids, &cap, &p->bos_id, 1);
    pd_buf head = {0};
    if (!rc && (pd_buf_puts(&head, problem) || pd_buf_putc(&head, '\n'))) rc = PD_ENOMEM;
    if (!rc && !(rc = pd_tokenizer_encode(p->tok, head.data, head.len, 0, &tmp, &nt, err)))
        rc = push_ids(&ids, &n_ids, &cap, tmp, nt);
    free(tmp);
    pd_buf_free(&head);
    for (size_t k = 0; k < n && !rc; k++) {
        const char *s = steps[k];
        for (;;) {
            const char *e = strchr(s, '\n');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (len) {
                tmp = NULL;
                if (!(rc = pd_tokenizer_encode(p->tok, s, len, 0, &tmp, &nt, err))) rc = push_ids(&ids, &n_ids, &cap, tmp, nt);
                free(tmp);
                if (rc) break;
            }
            if ((rc = push_ids(&ids, &n_ids, &cap, &p->nl_id, 1))) break;
            if (!e) break;
            s = e + 1;
        }
        pos[k] = n_ids - 1;
    }
    if (rc) {
        free(ids);
        return rc == PD_ENOMEM ? pd_err_set(err, rc, "out of memory") : rc;
    }
    *out = ids;
    *n_out = n_ids;
    return 0;
}

/* The text a chat-template or plain-text format is tokenized from. */
static int render_text(const pd_prm *p, const char *problem, const char *const *steps, size_t n, pd_buf *t,
                       pd_error *err) {
    int rc = 0;
    if (p->kind == PD_PRM_MATH_SHEPHERD) {
        rc |= pd_buf_puts(t, problem) | pd_buf_putc(t, ' ');
        for (size_t k = 0; k < n; k++) rc |= (k ? pd_buf_putc(t, '\n') : 0) | pd_buf_puts(t, steps[k]) | pd_buf_puts(t, p->step_tag);
        return rc ? pd_err_set(err, PD_ENOMEM, "out of memory") : 0;
    }
    if (p->kind == PD_PRM_QWEN2) {
        pd_buf a = {0};
        for (size_t k = 0; k < n; k++) rc |= pd_buf_puts(&a, steps[k]) | pd_buf_puts(&a, "<extra_0>");
        pd_chat_msg msg[3] = {{"system", p->system_prompt}, {"user", problem}, {"assistant", a.data ? a.data : ""}};
        /* the whole chat as the reference renders it (run_jobs never computes what follows
         * the last <extra_0>); the prefix alone ends open, after the assistant header */
        if (!rc) rc = pd_chat_render(p->tok, msg, 3, 0, n == 0, t, err);
        else rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        pd_buf_free(&a);
        return rc;
    }
    /* rlhflow: user turn per step (the first prefixed by the problem), assistant "+" */
    pd_chat_msg *msg = calloc(2 * n + 1, sizeof *msg);
    pd_buf first = {0};
    if (!msg) return pd_err_set(err, PD_ENOMEM, "out of memory");
    if (n && (pd_buf_puts(&first, problem) || pd_buf_putc(&first, ' ') || pd_buf_puts(&first, steps[0]))) rc = PD_ENOMEM;
    for (size_t k = 0; k < n && !rc; k++) {
        msg[2 * k] = (pd_chat_msg){"user", k ? steps[k] : first.data};
        msg[2 * k + 1] = (pd_chat_msg){"assistant", "+"};
    }
    if (rc) rc = pd_err_set(err, PD_ENOMEM, "out of memory");
    else rc = pd_chat_render(p->tok, msg, 2 * n, 0, 0, t, err);
    free(msg);
    pd_buf_free(&first);
    return rc;
}

int pd_prm_render(pd_prm *p, const char *problem, const char *const *steps, size_t n, int32_t **ids_out,
                  size_t *n_out, size_t **pos_out, pd_error *err) {
    *ids_out = NULL;
    *n_out = 0;
    *pos_out = NULL;
    size_t *pos = malloc((n ? n : 1) * sizeof *pos);
    if (!pos) return pd_err_set(err, PD_ENOMEM, "out of memory");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc;
    if (p->kind == PD_PRM_SKYWORK) {
        rc = render_skywork(p, problem, steps, n, &ids, &n_ids, pos, err);
    } else {
        pd_buf t = {0};
        rc = render_text(p, problem, steps, n, &t, err);
        if (!rc) rc = pd_tokenizer_encode(p->tok, t.data ? t.data : "", t.len, p->kind == PD_PRM_MATH_SHEPHERD, &ids, &n_ids, err);
        pd_buf_free(&t);
        if (!rc && n) {
            if (p->kind == PD_PRM_RLHFLOW) rc = rlhflow_positions(p, ids, n_ids, n, pos, err);
            else rc = tag_positions(p, ids, n_ids, p->tag_id, n, pos, err);
        }
    }
    if (rc) {
        free(ids);
        free(pos);
        return rc;
    }
    *ids_out = ids;
    *n_out = n_ids;
    *pos_out = pos;
    return 0;
}

/* The reward from one read-out row. */
static float row_reward(const pd_prm *p, const float *o) {
    switch (p->kind) {
    case PD_PRM_SKYWORK: return (float)(1.0 / (1.0 + exp(-(double)o[0])));
    case PD_PRM_QWEN2: return (float)(1.0 / (1.0 + exp((double)o[0] - (double)o[1]))); /* softmax[1] */
    default: return (float)(1.0 / (1.0 + exp((double)o[1] - (double)o[0])));          /* softmax[0] */
    }
}

/* ---- computing inputs on top of cached prefixes ---- */


typedef struct prm_job {
    pstate *base;        /* cached prefix to start from, or NULL */
    int32_t *ids;        /* (n_ids) the input through its last read-out (owned) */
    size_t n_ids;
    size_t *pos;         /* (n_pos) read-out positions, increasing (owned) */
    size_t n_pos;
    /* results */
    pd_kv *kv;           /* holds ids[0..n_ids) */
    float *rew;          /* (n_pos) rewards; NAN for read-outs inside the cached prefix */
    size_t start;        /* first position computed */
    int failed;          /* PD_ELIMIT: longer than the context (nothing computed) */
    int started;         /* kv made (it may have been evicted since: then no state is kept) */
    int waited;          /* started in a later turn, or after evicting caches (KV memory) */
    /* progress */
    size_t at_pos, next_pos;
    int32_t *at;         /* (n_pos) per-call read-out rows */
    float *raw;          /* (n_pos, width) */
} prm_job;

static void job_clear(prm_job *j) {
    free(j->ids);
    free(j->pos);
    pd_kv_free(j->kv);
    free(j->rew);
    free(j->at);
    free(j->raw);
    memset(j, 0, sizeof *j);
}

/* Where job j starts computing: the common prefix of its ids and its base's (at least the
 * last token is computed). */
static size_t job_lcp(const prm_job *j) {
    size_t lcp = 0;
    if (j->base && j->base->kv) {
        size_t m = j->base->n < j->n_ids ? j->base->n : j->n_ids;
        while (lcp < m && j->base->ids[lcp] == j->ids[lcp]) lcp++;
    }
    return lcp >= j->n_ids ? j->n_ids - 1 : lcp;
}

/* Blocks job j adds: those of its positions past the common prefix (and a copy of the
 * shared block the prefix ends in). */
static size_t job_need(const prm_job *j) { return pd_kv_blocks_for(j->n_ids) - job_lcp(j) / pd_kv_block_positions(); }

/* Start job j: from its base's longest common prefix (a copy of the base's cache cut there),
 * or from scratch. */
static int job_start(pd_prm *p, prm_job *j, pd_error *err) {
    size_t lcp = job_lcp(j);
    j->start = lcp;
    j->kv = lcp ? pd_kv_clone(j->base->kv, err) : pd_kv_new(p->m, err);
    if (!j->kv) return err ? err->code : PD_ENOMEM;
    pd_kv_truncate(j->kv, lcp);
    j->at_pos = lcp;
    j->next_pos = 0;
    while (j->next_pos < j->n_pos && j->pos[j->next_pos] < lcp) j->next_pos++;
    if (j->base) j->base->pins--;
    j->started = 1;
    return 0;
}

/* The jobs of the next turn: from jobs[a], in order, as many as the pool has room for, each
 * started. Returns the end b (b == a: not even the first fits). */
static int admit_jobs(pd_prm *p, prm_job *jobs, size_t a, size_t n, size_t *b_out, pd_error *err) {
    size_t avail = pd_kv_blocks_free(p->m), b = a;
    int rc = 0;
    for (; b < n && !rc; b++) {
        prm_job *j = &jobs[b];
        if (j->failed) continue;
        size_t need = job_need(j);
        if (avail != SIZE_MAX) {
            if (need > avail) break;
            avail -= need;
        }
        rc = job_start(p, j, err);
    }
    *b_out = b;
    return rc;
}

/* Room for jobs[a] when admit_jobs found none: evict idle states (oldest first), then the
 * caches of this call's computed jobs (they keep no state), then the states later jobs
 * would start from, then its own base (it starts from scratch). If it still does not fit,
 * the input alone is larger than the budget: PD_ELIMIT naming the PRM and both sizes. */
static int make_room(pd_prm *p, prm_job *jobs, size_t a, size_t n, pd_error *err) {
    prm_job *j = &jobs[a];
    for (pstate *s = p->states.next, *nx; s != &p->states && pd_kv_blocks_free(p->m) < job_need(j); s = nx) {
        nx = s->next;
        if (!s->pins) pstate_evict(s), p->evicted++;
    }
    for (size_t i = 0; i < a && pd_kv_blocks_free(p->m) < job_need(j); i++)
        if (jobs[i].kv) pd_kv_free(jobs[i].kv), jobs[i].kv = NULL, p->evicted++;
    for (size_t i = n; i-- > a && pd_kv_blocks_free(p->m) < job_need(j);)
        if (jobs[i].base && jobs[i].base->kv) pstate_evict(jobs[i].base), p->evicted++;
    if (pd_kv_blocks_free(p->m) >= job_need(j)) return 0;
    size_t blk = pd_kv_block_bytes(p->m);
    return pd_err_set(err, PD_ELIMIT,
                      "prm %s: one input (%zu tokens) needs %.1f MiB of KV cache, but --kv-memory allows %.1f MiB "
                      "(%zu blocks of %zu KiB); raise --kv-memory (or --prm-kv-memory)", p->dir, j->n_ids,
                      (double)pd_kv_blocks_for(j->n_ids) * (double)blk / 1048576.0,
                      (double)pd_kv_blocks_budget(p->m) * (double)blk / 1048576.0, pd_kv_blocks_budget(p->m), blk >> 10);
}

/* Compute every job: each starts from its base's longest common prefix, and the new tokens
 * of all jobs share forward calls of at most PRM_CHUNK tokens. When the PRM's KV pool is
 * bounded and the jobs do not fit together, they go in turns (make_room evicting what can be
 * recomputed); the rewards are the same. */
static int run_jobs(pd_prm *p, prm_job *jobs, size_t n, int *deferred, pd_error *err) {
    size_t ctx = pd_prm_context(p), W = (size_t)p->out_width;
    if (!p->m) return pd_err_set(err, PD_EINVAL, "%s: opened for its format only (no weights): it cannot score", p->dir);
    for (size_t i = 0; i < n; i++) {
        prm_job *j = &jobs[i];
        if (j->n_pos) j->n_ids = j->pos[j->n_pos - 1] + 1; /* nothing after the last read-out */
        if (j->n_ids > ctx || !j->n_ids) {
            j->failed = PD_ELIMIT;
            continue;
        }
        j->rew = malloc((j->n_pos ? j->n_pos : 1) * sizeof *j->rew);
        j->at = malloc((j->n_pos ? j->n_pos : 1) * sizeof *j->at);
        j->raw = malloc((j->n_pos ? j->n_pos : 1) * W * sizeof *j->raw);
        if (!j->rew || !j->at || !j->raw) return pd_err_set(err, PD_ENOMEM, "prm: out of memory");
        for (size_t k = 0; k < j->n_pos; k++) j->rew[k] = NAN;
        if (j->base && !j->base->kv) j->base = NULL;
        if (j->base) j->base->pins++;
    }
    pd_seq_step *steps = malloc((n ? n : 1) * sizeof *steps);
    int rc = 0;
    if (!steps) rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
    for (size_t a = 0, b = 0; a < n && !rc; a = b) {
        if ((rc = admit_jobs(p, jobs, a, n, &b, err))) break;
        int made_room = b == a;
        if (made_room) {
            if ((rc = make_room(p, jobs, a, n, err)) || (rc = admit_jobs(p, jobs, a, n, &b, err))) break;
            if (b == a) { /* cannot happen: make_room made room for jobs[a] */
                rc = pd_err_set(err, PD_ELIMIT, "prm %s: no room in the KV pool", p->dir);
                break;
            }
        }
        if (b < n && deferred) *deferred = 1;
        for (size_t i = a; i < b && (a > 0 || made_room); i++) jobs[i].waited = 1;
        while (!rc) { /* jobs [a, b) in calls of at most PRM_CHUNK tokens */
            size_t ns = 0, budget = PRM_CHUNK;
            for (size_t i = a; i < b && budget; i++) {
                prm_job *j = &jobs[i];
                if (j->failed || !j->kv || j->at_pos >= j->n_ids) continue;
                size_t take = j->n_ids - j->at_pos;
                if (take > budget) take = budget;
                budget -= take;
                size_t na = 0;
                while (j->next_pos + na < j->n_pos && j->pos[j->next_pos + na] < j->at_pos + take) {
                    j->at[na] = (int32_t)(j->pos[j->next_pos + na] - j->at_pos);
                    na++;
                }
                steps[ns++] = (pd_seq_step){.kv = j->kv, .tokens = j->ids + j->at_pos, .n_tokens = take,
                                          .logits = na ? PD_LOGITS_AT : PD_LOGITS_NONE, .out = j->raw + j->next_pos * W,
                                          .at = j->at, .n_at = na, .head = p->kind == PD_PRM_QWEN2 || p->kind == PD_PRM_SKYWORK,
                                          .vocab_ids = p->judge, .n_vocab_ids = p->out_width == 2 && p->kind != PD_PRM_QWEN2 ? 2 : 0};
                j->at_pos += take;
                j->next_pos += na;
            }
            if (!ns) break;
            /* the at arrays are per job and reused by the next call: run this one now */
            rc = pd_model_forward(p->m, steps, ns, err);
        }
    }
    for (size_t i = 0; i < n; i++) /* jobs never started (an error) give their pins back */
        if (!jobs[i].failed && !jobs[i].started && jobs[i].base) jobs[i].base->pins--;
    for (size_t i = 0; i < n && !rc; i++) {
        prm_job *j = &jobs[i];
        if (j->failed) continue;
        for (size_t k = 0; k < j->n_pos; k++)
            if (j->pos[k] >= j->start) j->rew[k] = row_reward(p, j->raw + k * W);
    }
    free(steps);
    return rc;
}

int pd_prm_score(pd_prm *p, const char *problem, const char *const *steps, size_t n, float *rewards, uint64_t *tokens,
                 pd_error *err) {
    if (tokens) *tokens = 0;
    if (!n) return 0;
    prm_job j = {0};
    int rc = pd_prm_render(p, problem, steps, n, &j.ids, &j.n_ids, &j.pos, err);
    if (rc) return rc;
    j.n_pos = n;
    rc = run_jobs(p, &j, 1, NULL, err);
    if (!rc && j.failed)
        rc = pd_err_set(err, PD_ELIMIT, "the input (%zu tokens) does not fit the PRM's context (%zu)", j.n_ids,
                        pd_prm_context(p));
    if (!rc) {
        memcpy(rewards, j.rew, n * sizeof *rewards);
        if (tokens) *tokens = j.n_ids - j.start;
    }
    job_clear(&j);
    return rc;
}

/* ---- the verifier: search-tree steps, scored incrementally ---- */

typedef struct prm_vctx {
    pd_prm *p;
    char *delim;          /* the search's step delimiter, stripped from step texts */
    size_t delim_len;
    int32_t *path;        /* scratch: node ids of one path */
    size_t cap_path;
} prm_vctx;

static pstate *node_state(const pd_tree *t, int32_t id) { return (pstate *)(uintptr_t)t->nodes[id].vhandle; }

static void drop_state(pd_tree *t, int32_t id) {
    pstate_free(node_state(t, id));
    t->nodes[id].vhandle = 0;
}

static void prm_release(void *ctx, pd_tree *t, int32_t node) {
    (void)ctx;
    drop_state(t, node);
}

/* The job for `node`: its whole path rendered (steps without the delimiter), based on the
 * nearest ancestor that has a state. n_steps = 0 renders the problem's prefix (the root). */
static int make_job(prm_vctx *v, pd_tree *t, int32_t node, prm_job *j, pd_error *err) {
    memset(j, 0, sizeof *j);
    int32_t depth = node ? pd_tree_path(t, node, NULL, 0) : 0;
    if (pd_grow((void **)&v->path, &v->cap_path, (size_t)depth + 1, sizeof *v->path)) return PD_ENOMEM;
    if (depth) pd_tree_path(t, node, v->path, depth);
    char **steps = calloc((size_t)depth + 1, sizeof *steps);
    if (!steps) return pd_err_set(err, PD_ENOMEM, "prm: out of memory");
    int rc = 0;
    for (int32_t k = 0; k < depth && !rc; k++) {
        const char *s = pd_tree_text(t, v->path[k]);
        size_t len = t->nodes[v->path[k]].text_len;
        if (v->delim_len && len >= v->delim_len && !memcmp(s + len - v->delim_len, v->delim, v->delim_len))
            len -= v->delim_len;
        if (!(steps[k] = malloc(len + 1))) rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
        else memcpy(steps[k], s, len), steps[k][len] = 0;
    }
    const char *problem = t->prob && t->prob->problem ? t->prob->problem : "";
    if (!rc) rc = pd_prm_render(v->p, problem, (const char *const *)steps, (size_t)depth, &j->ids, &j->n_ids, &j->pos, err);
    j->n_pos = (size_t)depth;
    for (int32_t k = 0; k < depth; k++) free(steps[k]);
    free(steps);
    for (int32_t a = node; !rc && a >= 0 && !j->base; a = a ? t->nodes[a].parent : -1)
        if (a != node && node_state(t, a) && node_state(t, a)->kv) j->base = node_state(t, a);
    return rc;
}

/* Number of ancestors of `node` whose score is requested in this call, in a row. */
static int wave_of(const pd_tree *t, int32_t node) {
    int w = 0;
    for (int32_t a = t->nodes[node].parent; a > 0 && t->nodes[a].reward == PD_REWARD_PENDING; a = t->nodes[a].parent) w++;
    return w;
}

/* Keep a job's cache as the node's state, the newest on the list (it now owns kv and ids);
 * a job whose cache was evicted keeps none. */
static int keep_state(pd_prm *p, pd_tree *t, int32_t node, prm_job *j) {
    if (!j->kv) return 0;
    pstate *s = malloc(sizeof *s);
    if (!s) return PD_ENOMEM;
    *s = (pstate){.kv = j->kv, .ids = j->ids, .n = j->n_ids, .prev = p->states.prev, .next = &p->states};
    s->prev->next = s;
    p->states.prev = s;
    j->kv = NULL;
    j->ids = NULL;
    drop_state(t, node);
    t->nodes[node].vhandle = (uint64_t)(uintptr_t)s;
    return 0;
}

/* Score a batch of requests: the chains of one call go in waves (parents first), each wave
 * one set of forward calls across every tree in the batch. */
static int prm_score(void *ctx, pd_score_req *reqs, size_t n, pd_error *err) {
    prm_vctx *v = ctx;
    int rc = 0, max_wave = 0, deferred = 0;
    int *wave = malloc((n ? n : 1) * sizeof *wave);
    prm_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    char *waited = calloc(n ? n : 1, 1); /* per request: some of its work waited for KV memory */
    if (!wave || !jobs || !idx || !waited) rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        wave[i] = wave_of(reqs[i].tree, reqs[i].node);
        if (wave[i] > max_wave) max_wave = wave[i];
    }
    /* the problem's prefix, computed once per tree and shared by its first steps */
    size_t nj = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        pd_tree *t = reqs[i].tree;
        int has_base = 0;
        for (int32_t a = t->nodes[reqs[i].node].parent; a >= 0 && !has_base; a = a ? t->nodes[a].parent : -1)
            has_base = node_state(t, a) && node_state(t, a)->kv;
        if (has_base || wave[i] || t->nodes[0].pruned) continue;
        int dup = 0;
        for (size_t k = 0; k < nj && !dup; k++) dup = reqs[idx[k]].tree == t;
        if (dup) continue;
        idx[nj] = i;
        if (!(rc = make_job(v, t, 0, &jobs[nj], err))) nj++;
    }
    if (!rc && nj && !(rc = run_jobs(v->p, jobs, nj, &deferred, err)))
        for (size_t k = 0; k < nj && !rc; k++) {
            waited[idx[k]] |= (char)jobs[k].waited;
            if (jobs[k].failed) continue;
            reqs[idx[k]].cost->prm_tokens += jobs[k].n_ids - jobs[k].start;
            if (keep_state(v->p, reqs[idx[k]].tree, 0, &jobs[k])) rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
        }
    for (size_t k = 0; k < nj; k++) job_clear(&jobs[k]);

    for (int w = 0; w <= max_wave && !rc; w++) {
        nj = 0;
        for (size_t i = 0; i < n && !rc; i++)
            if (wave[i] == w) {
                idx[nj] = i;
                if (!(rc = make_job(v, reqs[i].tree, reqs[i].node, &jobs[nj], err))) nj++;
            }
        if (!rc) rc = run_jobs(v->p, jobs, nj, &deferred, err);
        for (size_t k = 0; k < nj && !rc; k++) {
            pd_score_req *r = &reqs[idx[k]];
            pd_tree *t = r->tree;
            prm_job *j = &jobs[k];
            waited[idx[k]] |= (char)j->waited;
            r->cost->scored++;
            if (j->failed) { /* longer than the PRM's context: documented as reward 0 */
                t->nodes[r->node].reward = 0.0f;
                continue;
            }
            r->cost->prm_tokens += j->n_ids - j->start;
            /* this step's reward, and those of unscored ancestors computed on the way */
            int32_t depth = (int32_t)j->n_pos;
            if (pd_grow((void **)&v->path, &v->cap_path, (size_t)depth + 1, sizeof *v->path)) {
                rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
                break;
            }
            pd_tree_path(t, r->node, v->path, depth);
            for (int32_t d = 0; d < depth; d++) {
                pd_node *nd = &t->nodes[v->path[d]];
                if (!isnan(j->rew[d]) && (nd->reward < 0 || v->path[d] == r->node) && nd->reward != PD_REWARD_PENDING)
                    nd->reward = j->rew[d];
            }
            t->nodes[r->node].reward = isnan(j->rew[depth - 1]) ? 0.0f : j->rew[depth - 1];
            if (!pd_node_done(&t->nodes[r->node]) && keep_state(v->p, t, r->node, j))
                rc = pd_err_set(err, PD_ENOMEM, "prm: out of memory");
        }
        for (size_t k = 0; k < nj; k++) job_clear(&jobs[k]);
    }
    /* parents that were not scored in this call have had their children scored: done */
    for (size_t i = 0; i < n && !rc; i++)
        if (wave[i] == 0) drop_state(reqs[i].tree, reqs[i].tree->nodes[reqs[i].node].parent);
    v->p->deferred += (uint64_t)deferred;
    for (size_t i = 0; i < n && !rc; i++) /* once per search (a search's requests come together) */
        if (waited[i] && (i == 0 || !waited[i - 1] || reqs[i - 1].cost != reqs[i].cost)) reqs[i].cost->kv_waits++;
    free(waited);
    free(wave);
    free(jobs);
    free(idx);
    return rc;
}

/* The PRM model's KV memory; see pd_kv_usage. */
int pd_prm_verifier_kv_usage(const pd_verifier *ver, pd_kv_usage *u) {
    memset(u, 0, sizeof *u);
    if (ver->score != prm_score) return -1;
    const pd_prm *p = ((const prm_vctx *)ver->ctx)->p;
    pd_kv_usage_of_model(p->m, p->deferred, p->evicted, u);
    return 0;
}

static void prm_vfree(void *ctx) {
    prm_vctx *v = ctx;
    if (!v) return;
    pd_prm_close(v->p);
    free(v->delim);
    free(v->path);
    free(v);
}

int pd_prm_verifier_open(pd_verifier *ver, const char *spec, const pd_prm_opts *o, const char *delim, pd_error *err) {
    memset(ver, 0, sizeof *ver);
    prm_vctx *v = calloc(1, sizeof *v);
    if (!v) return pd_err_set(err, PD_ENOMEM, "out of memory");
    if (!(v->delim = strdup(delim ? delim : "\n\n"))) {
        free(v);
        return pd_err_set(err, PD_ENOMEM, "out of memory");
    }
    v->delim_len = strlen(v->delim);
    if (!(v->p = pd_prm_open(spec, o, err))) {
        prm_vfree(v);
        return err ? err->code : PD_EINVAL;
    }
    ver->name = pd_prm_kind_name(v->p->kind);
    ver->n_params = (double)pd_prm_n_params(v->p);
    ver->ctx = v;
    ver->score = prm_score;
    ver->release = prm_release;
    ver->free = prm_vfree;
    return 0;
}
