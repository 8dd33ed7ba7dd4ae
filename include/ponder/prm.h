/* ponder/prm.h — process reward models on the embedded engine (src/backend/prm_local.c).
 *
 * A PRM reads a problem and the steps of a solution and gives each step a reward in [0, 1].
 * Every PRM was trained on its own input format, and a PRM read with the wrong one still
 * returns numbers, just wrong ones; so each kind is read exactly as its authors' code does
 * (docs/SEARCH.md, "Process reward models", has the formats and their sources):
 *
 *   qwen2-prm      Qwen2ForProcessRewardModel (Qwen2.5-Math-PRM-7B/72B): chat template with a
 *                  system prompt, steps joined by <extra_0>, reward = softmax(score head)[1]
 *                  at each <extra_0>.
 *   skywork        Skywork-o1-Open-PRM (Qwen2ForPrmModel): bos + problem + "\n", then every
 *                  line of the steps tokenized on its own and followed by "\n"; reward =
 *                  sigmoid(v_head) at the newline that ends each step's last line.
 *   rlhflow        RLHFlow Llama3.1-8B-PRM-*: one user turn per step (the first prefixed by
 *                  the problem and a space), assistant turns "+"; reward = P(+) over {+, -}
 *                  at the position before each assistant "+".
 *   math-shepherd  Math-Shepherd-style token judgment on any causal LM: "{problem} {steps}"
 *                  with each step followed by the step tag (" ки") and steps joined by "\n";
 *                  reward = P(+) over {+, -} at each tag.
 *
 * Steps are given without the search's step delimiter. Scoring is causal, so a step's reward
 * is computed on top of its parent's cached prefix: the search scores each new step by
 * computing only its tokens and the format's template tokens (pd_verifier_open_opts). */
#ifndef PONDER_PRM_H
#define PONDER_PRM_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pd_prm_kind {
    PD_PRM_AUTO = 0,       /* from config.json's architectures, else the repo id */
    PD_PRM_QWEN2,          /* "qwen2-prm" */
    PD_PRM_SKYWORK,        /* "skywork" */
    PD_PRM_RLHFLOW,        /* "rlhflow" */
    PD_PRM_MATH_SHEPHERD,  /* "math-shepherd" */
} pd_prm_kind;

const char *pd_prm_kind_name(pd_prm_kind k);
/* 0, or -1 for an unknown name ("auto" gives PD_PRM_AUTO). */
int pd_prm_kind_parse(const char *s, pd_prm_kind *out);

typedef struct pd_prm_opts {
    pd_prm_kind kind;          /* PD_PRM_AUTO: detect */
    const char *step_tag;      /* math-shepherd: text after each step (NULL: " ки") */
    const char *good_token;    /* rlhflow, math-shepherd: the judgment tokens (NULL: "+", "-") */
    const char *bad_token;
    const char *system_prompt; /* qwen2-prm: NULL = the model card's ("Please reason step by
                                * step, and put your final answer within \boxed{}.") */
    int n_threads;             /* 0: one per CPU */
    int format_only;           /* read config.json and the tokenizer but no weights: the PRM can
                                * render inputs (pd_prm_render) but not score; for a PRM that
                                * runs on a remote server */
    size_t kv_memory;          /* bytes its KV pool may take (--kv-memory; 0: no bound) */
    int precision;             /* pd_precision (ponder/model.h): products with BF16 weights; 0:
                                * the default (exact, or $PONDER_PRECISION) */
} pd_prm_opts;

typedef struct pd_prm pd_prm;

/* Open a PRM: a model directory in Hugging Face layout or a repo id in the Hugging Face
 * cache. The kind comes from opts->kind, else config.json's architectures
 * (Qwen2ForProcessRewardModel, Qwen2ForPrmModel), else the repo id's name (RLHFlow ...-PRM-,
 * math-shepherd); otherwise a clear error asks for --prm-kind. A tokenizer lacking the
 * format's step tag or judgment tokens is an error naming them. */
pd_prm *pd_prm_open(const char *spec, const pd_prm_opts *opts, pd_error *err);
void pd_prm_close(pd_prm *p);
pd_prm_kind pd_prm_get_kind(const pd_prm *p);
/* Weight parameters of the model (for FLOPs). */
size_t pd_prm_n_params(const pd_prm *p);
/* Tokens the model can hold (max_position_embeddings). */
size_t pd_prm_context(const pd_prm *p);

/* Score every step of one solution: rewards[0..n_steps). *tokens (may be NULL) receives
 * the tokens computed. A solution longer than the context is PD_ELIMIT. */
int pd_prm_score(pd_prm *p, const char *problem, const char *const *steps, size_t n_steps, float *rewards,
                 uint64_t *tokens, pd_error *err);

/* The model input of a solution (for checking formats): its token ids (*ids, malloc'd) and
 * the position whose output gives each step's reward (*pos, malloc'd, n_steps entries).
 * With n_steps = 0, the prefix that every solution of the problem starts with. */
int pd_prm_render(pd_prm *p, const char *problem, const char *const *steps, size_t n_steps, int32_t **ids,
                  size_t *n_ids, size_t **pos, pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
