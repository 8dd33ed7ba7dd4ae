/* ponder/search.h — the search tree, the policy/verifier interfaces, the strategies and the
 * scheduler that batches many searches into wide backend calls (src/search/, src/backend/).
 *
 * The picture (docs/SEARCH.md has the details):
 *
 *   pd_tree       one per search: nodes are reasoning steps, kept in an array (int32 ids);
 *                 step texts and token ids live in arenas and nodes hold spans into them.
 *   pd_policy     extends leaves: expand(requests), each request asking for k children of one
 *                 leaf, one step each (until "\n\n", end of sequence or the step token cap) or
 *                 a rollout to the end. A small struct of function pointers (ggml-style).
 *   pd_verifier   scores the newest step of each requested node: reward in [0, 1].
 *   pd_search     one (problem, strategy, N) search, a state machine that emits expansion
 *                 and score requests and says when it is done.
 *   pd_sched_run  drives many searches at once: every round, ONE policy call carries the
 *                 expansions of all searches in flight and ONE verifier call their scores.
 *
 * Every request carries a pointer to its search's pd_cost, so a batched backend call charges
 * each problem exactly its own tokens. */
#ifndef PONDER_SEARCH_H
#define PONDER_SEARCH_H

#include <stdint.h>
#include <stddef.h>
#include "ponder/base.h"
#include "ponder/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cost ---- */

/* What a search spent. Token counts are charged by the backends; FLOPs are filled in when
 * the search ends: 2 x parameters x computed tokens, for each model. */
typedef struct pd_cost {
    uint64_t policy_tokens; /* tokens the policy generated */
    uint64_t prefix_tokens; /* prompt/prefix tokens the policy computed (not generated) */
    uint64_t prm_tokens;    /* tokens the verifier computed */
    uint64_t expansions;    /* nodes the policy created */
    uint64_t scored;        /* nodes the verifier scored */
    double policy_flops;    /* 2 * policy params * (policy_tokens + prefix_tokens) */
    double prm_flops;       /* 2 * verifier params * prm_tokens */
    uint64_t kv_waits;      /* backend calls in which some of its work waited for KV memory
                             * (--kv-memory: served in a later turn, or after evicting caches) */
} pd_cost;

/* ---- the tree ---- */

typedef enum pd_node_status {
    PD_NODE_OPEN = 0,      /* being generated / the root */
    PD_NODE_STEP_ENDED,    /* the step ended at the delimiter: can be extended */
    PD_NODE_FINISHED,      /* end of sequence: a complete solution */
    PD_NODE_TRUNCATED,     /* hit the token cap: complete, without a proper ending */
} pd_node_status;

/* One reasoning step. The root (id 0) is the prompt and has no step text. */
typedef struct pd_node {
    int32_t parent;      /* -1 for the root */
    int32_t depth;       /* 0 for the root, 1 for a first step, ... */
    uint32_t text_off;   /* step text: tree->text[text_off .. text_off + text_len) */
    uint32_t text_len;
    uint32_t ids_off;    /* step token ids: tree->ids[ids_off .. + ids_len) (0 when not kept) */
    uint32_t ids_len;
    uint32_t n_tokens;   /* tokens in the step (the sim's are nominal; ids_len may be 0) */
    float reward;        /* the verifier's step reward in [0,1]; negative when not scored */
    uint32_t n_children; /* children created so far */
    uint8_t status;      /* pd_node_status */
    uint8_t pruned;      /* released: the search is done with it (its text and reward stay) */
    uint64_t seed;       /* per-node seed, derived from the parent's and the child index */
    uint64_t handle;     /* opaque policy handle (KV-cache reference, the sim's hidden state) */
    uint64_t vhandle;    /* opaque verifier handle (the PRM's cached prefix) */
    /* The policy's own confidence over the step's tokens (0 when the policy gives none):
     * conf = DeepConf's token confidence, -(mean log-probability of the top 20 tokens);
     * certainty = self-certainty, KL(uniform || p) over the whole vocabulary; both means over
     * the step's tokens. conf_low: the lowest sliding-window mean of conf seen while the
     * step was generated (DeepConf's lowest group confidence; 0 when no window filled). */
    float conf, certainty, conf_low;
    uint8_t stopped;     /* generation was stopped early for low confidence (truncated) */
} pd_node;

typedef struct pd_tree {
    pd_node *nodes;               /* (n_nodes) */
    int32_t n_nodes, cap_nodes;
    char *text;                   /* step text arena */
    size_t text_len, text_cap;
    int32_t *ids;                 /* token id arena */
    size_t ids_len, ids_cap;
    const pd_problem *prob;       /* the problem (not owned) */
    float temperature, top_p;     /* sampling of this search (greedy requests use 0) */
    int32_t step_max_tokens;      /* token cap of one step (and of one rollout) */
    void *bstate;                 /* per-tree backend state (owned by the backend) */
    void (*bstate_free)(void *);  /* frees bstate when the tree is freed */
} pd_tree;

/* Start a tree for `prob` with a root whose seed is `root_seed`. Returns 0 or PD_ENOMEM. */
int pd_tree_init(pd_tree *t, const pd_problem *prob, uint64_t root_seed);
void pd_tree_free(pd_tree *t);
/* The seed of child `index` of `parent` (a pure function of the parent's seed and index). */
uint64_t pd_tree_child_seed(const pd_tree *t, int32_t parent, uint32_t index);
/* Append a child of `parent` with the given step text (copied into the arena) and token ids
 * (may be NULL/0). Returns the new node id, or -1 when out of memory / past 2^31 nodes. */
int32_t pd_tree_add(pd_tree *t, int32_t parent, uint64_t seed, const char *text, size_t text_len,
                    const int32_t *ids, size_t n_ids, uint32_t n_tokens, int status,
                    uint64_t handle);
/* Pointer to a node's step text (not NUL-terminated; length nodes[id].text_len). */
static inline const char *pd_tree_text(const pd_tree *t, int32_t id) {
    return t->text + t->nodes[id].text_off;
}
/* 1 when the node ends a solution (finished or truncated). */
static inline int pd_node_done(const pd_node *n) {
    return n->status == PD_NODE_FINISHED || n->status == PD_NODE_TRUNCATED;
}
/* The whole solution text from the root to `leaf` (malloc'd, NUL-terminated), or NULL. */
char *pd_tree_path_text(const pd_tree *t, int32_t leaf);
/* Node ids from the first step to `leaf` into out (capacity cap); returns the path length
 * (which may exceed cap: then only the first cap entries were written). */
int32_t pd_tree_path(const pd_tree *t, int32_t leaf, int32_t *out, int32_t cap);

/* Aggregation of step rewards along a path (search-and-learn's agg_strategy). */
typedef enum pd_agg { PD_AGG_LAST = 0, PD_AGG_MIN, PD_AGG_PROD, PD_AGG_MEAN } pd_agg;
/* Aggregate the scored steps from the root to `leaf` (unscored steps are skipped; 0 when none
 * is scored). */
double pd_tree_aggregate(const pd_tree *t, int32_t leaf, pd_agg agg);
/* Aggregate an array of step rewards. */
double pd_agg_rewards(const float *r, size_t n, pd_agg agg);
const char *pd_agg_name(pd_agg a);
int pd_agg_parse(const char *s, pd_agg *out); /* 0, or -1 for an unknown name */

/* ---- backend interfaces ---- */

typedef enum pd_expand_mode { PD_EXPAND_STEP = 0, PD_EXPAND_ROLLOUT } pd_expand_mode;

/* Ask for k children of `leaf`. STEP: each child is one step. ROLLOUT: each sample runs to the
 * end and is appended as a chain of step nodes; out[i] receives the i-th sample's last node.
 * Child i of the leaf gets seed pd_tree_child_seed(tree, leaf, child_base + i); a greedy
 * request (temperature 0) gives identical children whatever the index. */
typedef struct pd_expand_req {
    pd_tree *tree;
    int32_t leaf;
    int32_t k;
    int32_t child_base; /* index of the first child, for seeds (distinct samples of one leaf) */
    uint8_t mode;       /* pd_expand_mode */
    uint8_t greedy;     /* 1: temperature 0 */
    pd_cost *cost;      /* the search to charge */
    int32_t *out;       /* (k) new leaf ids, written by the backend */
    /* Where a backend records that this request failed for good (a remote server that kept
     * failing after its retries): pd_err_set(fail, ...) and leave out[] alone; the call
     * still returns 0 and serves the other requests. The search then ends as failed and the
     * run goes on. May be NULL (the request comes from outside a search). */
    pd_error *fail;
    /* DeepConf online: stop a sample once the mean confidence of its last conf_window
     * tokens falls below conf_stop (0: never); it ends truncated, with `stopped` set. */
    float conf_stop;
    int32_t conf_window;
    /* The search reads the policy's token confidences (a confidence verifier or DeepConf): a
     * policy that records them only on request (a remote one: logprobs) records them. */
    uint8_t want_conf;
} pd_expand_req;

/* The child index that greedy requests use for their seed: all greedy children of a node
 * are the same sample. */
#define PD_GREEDY_CHILD 0xffffffffu

/* The seed of the i-th child a request asks for. */
static inline uint64_t pd_expand_child_seed(const pd_expand_req *r, int32_t i) {
    return pd_tree_child_seed(r->tree, r->leaf,
                              r->greedy ? PD_GREEDY_CHILD : (uint32_t)(r->child_base + i));
}

/* The reward of a node whose score is requested in the current verifier call (not scored
 * yet); an unscored node that is not requested has -1. */
#define PD_REWARD_PENDING (-2.0f)

/* Score the newest step of `node` (in the context of its path): sets tree->nodes[node].reward. */
typedef struct pd_score_req {
    pd_tree *tree;
    int32_t node;
    pd_cost *cost;
    pd_error *fail;  /* as in pd_expand_req: a request that failed for good (may be NULL) */
} pd_score_req;

typedef struct pd_policy {
    const char *name;
    double n_params; /* nominal parameter count, for FLOPs */
    void *ctx;
    /* Serve n requests in one call (one batch). Returns 0 or an error code. */
    int (*expand)(void *ctx, pd_expand_req *reqs, size_t n, pd_error *err);
    /* The search is done with a node: release what the backend holds for it (may be NULL).
     * Called exactly once per node, as soon as no live path runs through it (a dropped
     * candidate, a dead branch, a recorded completion), and for any rest when the search is
     * freed; a released node is never expanded again. */
    void (*release)(void *ctx, pd_tree *t, int32_t node);
    void (*free)(void *ctx);
} pd_policy;

typedef struct pd_verifier {
    const char *name;
    double n_params;
    void *ctx;
    /* Score n requests in one call. A request whose parent is scored in the same call
     * (a rollout's or lookahead's chain) comes with it; the backend may also fill in the
     * rewards of unscored ancestors that it computes on the way. */
    int (*score)(void *ctx, pd_score_req *reqs, size_t n, pd_error *err);
    /* The search is done with a node (same contract as pd_policy.release; may be NULL). */
    void (*release)(void *ctx, pd_tree *t, int32_t node);
    void (*free)(void *ctx);
    /* 1: the scores come from the policy's token confidences (deepconf, self-certainty) */
    int needs_conf;
} pd_verifier;

/* ---- the simulated backend (src/backend/sim.c; docs/SEARCH.md) ---- */

typedef struct pd_sim_params {
    double policy_acc;     /* per-step accuracy at level 1 (0.95) */
    double acc_decay;      /* drop of the per-step accuracy per level above 1 (0.03) */
    int default_level;     /* level assumed for problems without one (3) */
    int base_steps;        /* steps = base_steps + level when there is no reference solution (2) */
    double distractor;     /* share of wrong answers that are the problem's popular wrong answer (0.3) */
    int wrong_spread;      /* other wrong answers: gold's last number +- 1..spread (10) */
    double prm_sep;        /* PRM logit of good steps minus that of bad steps (3.0) */
    double prm_noise;      /* std of the PRM's logit noise (1.0) */
    double prm_drift;      /* std per step of a PRM error that persists down a path: a random
                              walk along it, so the PRM is consistently wrong about some
                              branches, as real PRMs are (0: off) */
    double conf_sep;       /* the policy's token confidence: gap between steps on a correct
                              path and the others (1.0; 0: confidence says nothing) */
    double conf_noise;     /* std of the per-step confidence noise (0.5) */
    int step_tokens;       /* nominal mean tokens per step (64; each step 0.5x..1.5x) */
    double policy_params;  /* nominal parameters, for FLOPs (1.5e9) */
    double prm_params;     /* (1.5e9) */
} pd_sim_params;

void pd_sim_params_default(pd_sim_params *p);
/* Set one parameter by its option name without the "--sim-" prefix ("policy-acc",
 * "acc-decay", "default-level", "base-steps", "distractor", "wrong-spread", "prm-sep",
 * "prm-noise", "prm-drift", "conf-sep", "conf-noise", "step-tokens", "policy-params", "prm-params"). Returns 0, PD_ENOTFOUND for an
 * unknown name, or PD_EINVAL for a bad value (then *p is left unchanged). */
int pd_sim_params_set(pd_sim_params *p, const char *name, const char *value, pd_error *err);
/* Help text for the --sim-* options (one line per option, with its default). */
const char *pd_sim_params_help(void);
/* Check ranges; 0 or PD_EINVAL with a message naming the parameter. */
int pd_sim_params_check(const pd_sim_params *p, pd_error *err);

/* What the backends are opened with, beside the spec (pd_backend_opts_default, then
 * pd_backend_opts_set by option name; free with pd_backend_opts_free). */
typedef struct pd_backend_opts {
    pd_sim_params sim;            /* the simulated backend */
    const char *system_prompt;    /* local policy: the system turn (NULL: search-and-learn's math
                                   * prompt; "" for none) */
    char step_delimiter[64];      /* where a step ends ("\n\n"); also stripped before PRMs read */
    int n_threads;                /* engine threads per model (0: one per CPU) */
    size_t kv_memory;             /* bytes of KV cache per model: the policy's pool and the
                                   * PRM's each (--kv-memory; 0: no bound) */
    size_t prm_kv_memory;         /* the PRM's pool instead (--prm-kv-memory; 0: kv_memory) */
    int precision;                /* pd_precision (ponder/model.h) of local models' products with
                                   * BF16 weights (--precision exact|bf16; 0: exact, or
                                   * $PONDER_PRECISION) */
    int prm_precision;            /* the PRM's instead (--prm-precision; 0: precision) */
    int prm_kind;                 /* pd_prm_kind: 0 = detect */
    const char *prm_step_tag;     /* math-shepherd step tag (NULL: " ки") */
    const char *prm_good_token;   /* judgment tokens (NULL: "+", "-") */
    const char *prm_bad_token;
    const char *prm_system_prompt;/* qwen2-prm system prompt (NULL: the model card's) */
    char *owned[4];               /* strings read from files (freed by pd_backend_opts_free) */
    /* remote backends (src/backend/remote_*.c; docs/REMOTE.md) */
    const char *tokenizer;        /* remote policy: a local model directory or repo id whose tokenizer,
                                   * chat template and config render the prompts as token ids (NULL:
                                   * the spec's #MODEL name) */
    const char *prm_tokenizer;    /* remote PRM: the same for the PRM's input format (NULL: #MODEL) */
    const char *remote_api_key;   /* bearer token for remote servers (NULL: $PONDER_REMOTE_API_KEY) */
    int remote_inflight;          /* HTTP requests in flight per remote backend (64) */
    double remote_timeout;        /* seconds per attempt (60) */
    int remote_retries;           /* retries after the first attempt (4) */
    double remote_backoff;        /* first backoff in seconds (0.5; doubles, jittered) */
    int remote_n;                 /* -1 auto (n where the server samples it reproducibly); 0 one
                                   * request per child; 1 always n */
} pd_backend_opts;

void pd_backend_opts_default(pd_backend_opts *o);
void pd_backend_opts_free(pd_backend_opts *o);
/* Set one option by its command-line name without "--": "system-prompt",
 * "system-prompt-file", "step-delimiter" (C escapes \n \t \\ understood), "threads",
 * "kv-memory", "prm-kv-memory" (sizes: pd_kv_memory_parse), "precision", "prm-precision"
 * (exact, bf16),
 * "prm-kind", "prm-step-tag", "prm-good-token", "prm-bad-token", "prm-system-prompt", and
 * "sim-*" (pd_sim_params_set). String values are not copied (except from files and the
 * delimiter): they must outlive the opts. Returns 0, PD_ENOTFOUND for an unknown name, or
 * PD_EINVAL / PD_EIO with a message. */
int pd_backend_opts_set(pd_backend_opts *o, const char *name, const char *value, pd_error *err);
/* Help text for those options. */
const char *pd_backend_opts_help(void);

/* Open a policy / verifier by spec: "sim"; a model directory or a Hugging Face repo id in the
 * local cache (the embedded engine: a causal LM as policy, a PRM as verifier, its kind
 * detected or given by prm_kind); a remote OpenAI-compatible server: policy
 * "http://HOST:PORT/v1#MODEL" (several URLs separated by commas share the load), PRM
 * "vllm-pooling+http://HOST:PORT#MODEL" or "logprob+http://HOST:PORT/v1#MODEL"
 * (docs/REMOTE.md). The sim verifier reads the sim policy's hidden state, so it needs `pol` to
 * be the sim policy. `o` may be NULL for defaults. */
int pd_policy_open_opts(pd_policy *pol, const char *spec, const pd_backend_opts *o, pd_error *err);
int pd_verifier_open_opts(pd_verifier *ver, const char *spec, const pd_policy *pol, const pd_backend_opts *o,
                          pd_error *err);
/* The same with only the sim parameters (sim may be NULL for defaults). */
int pd_policy_open(pd_policy *pol, const char *spec, const pd_sim_params *sim, pd_error *err);
int pd_verifier_open(pd_verifier *ver, const char *spec, const pd_policy *pol,
                     const pd_sim_params *sim, pd_error *err);
void pd_policy_close(pd_policy *pol);
void pd_verifier_close(pd_verifier *ver);

/* The KV-cache memory of a backend on the embedded engine (its model's block pool). */
typedef struct pd_kv_usage {
    uint64_t bytes_live;     /* KV blocks held now */
    uint64_t bytes_peak;     /* the most held at once */
    uint64_t bytes_budget;   /* --kv-memory (0: no bound) */
    uint64_t deferred;       /* calls whose work did not fit at once and was served in turns */
    uint64_t evicted;        /* caches dropped to make room (recomputed when needed) */
} pd_kv_usage;
/* Fill *u for a local policy / PRM verifier; -1 (u zeroed) for other backends. */
int pd_policy_kv_usage(const pd_policy *pol, pd_kv_usage *u);
int pd_verifier_kv_usage(const pd_verifier *ver, pd_kv_usage *u);

/* ---- strategies ---- */

typedef enum pd_strategy {
    PD_BEST_OF_N = 0,
    PD_BEAM_SEARCH,
    PD_DVTS,
    PD_PARTICLE_FILTER, /* N particles, one step a round, resampled by PRM weights */
    PD_REBASE,          /* each round's budget split over the frontier by softmax(reward / T) */
    PD_DEEPCONF,        /* best-of-N with DeepConf online: warm-up traces set a confidence
                           threshold, the rest stop early below it; filtered, weighted vote */
    PD_N_STRATEGIES,    /* the concrete strategies above; loops over them leave auto out */
    PD_AUTO = PD_N_STRATEGIES /* compute-optimal (cfg.plan): a probe (P best-of-N samples, or P
                           first steps) estimates the difficulty, then the plan's strategy for that
                           bin and budget runs; the probe's cost is in the search's cost
                           (src/search/auto.c) */
} pd_strategy;

/* How particle filtering resamples. */
typedef enum pd_resample { PD_RESAMPLE_SYSTEMATIC = 0, PD_RESAMPLE_MULTINOMIAL } pd_resample;
const char *pd_strategy_name(pd_strategy s);
int pd_strategy_parse(const char *s, pd_strategy *out); /* 0, or -1 for an unknown name */

/* A compute-optimal plan for strategy auto: `ponder plan`'s plan.json, read by pd_plan_load
 * (ponder/eval.h). Per budget (the largest N a search may use) and difficulty bin, the
 * option to run; the bin comes from a probe of probe_samples samples (pd_probe_stat). */
#define PD_PLAN_MAX_BINS 20
#define PD_PLAN_MAX_BUDGETS 64
typedef struct pd_plan_choice {
    int32_t strategy;    /* pd_strategy (a concrete one) */
    int32_t sel;         /* pd_select: how the answer is picked */
    int32_t n, beam_width;
} pd_plan_choice;
/* What a plan's probe draws and measures (pd_auto_plan.statistic). */
typedef enum pd_probe_stat {
    PD_PROBE_PRM = 0,    /* P whole best-of-N samples: their mean aggregated PRM score */
    PD_PROBE_AGREEMENT,  /* P whole samples: their answer agreement (the largest group's share) */
    PD_PROBE_FIRST_STEP, /* P first steps of the root (children 0..P-1), each scored: their mean
                            PRM score; best_of_n, beam_search, dvts and rebase take them as
                            their own first steps, so the probe costs them nothing when N >= P */
} pd_probe_stat;
/* 1 when strategy s begins by expanding the root into children 0..N-1 (best_of_n, beam_search,
 * dvts, rebase): auto then hands it a first-step probe's steps as its own first steps. */
int pd_strategy_takes_first_steps(pd_strategy s);
typedef struct pd_auto_plan {
    int statistic;       /* pd_probe_stat */
    int32_t probe_samples; /* P */
    int n_bins;
    double thresholds[PD_PLAN_MAX_BINS - 1]; /* ascending; a problem's bin is how many of them
                                                its statistic reaches (bin 0: the hardest) */
    int n_budgets;
    int32_t budgets[PD_PLAN_MAX_BUDGETS];   /* ascending */
    /* 0: a budget N caps every bin's n; 1 (plan.json "budget_kind": "flops"): the bins share the
       mean FLOPs of the best fixed option at N, so a hard bin's n may exceed N */
    int flops_budget;
    pd_plan_choice choice[PD_PLAN_MAX_BUDGETS][PD_PLAN_MAX_BINS];
} pd_auto_plan;

typedef struct pd_search_cfg {
    pd_strategy strategy;
    int32_t n;              /* N: the budget of generations */
    int32_t beam_width;     /* M (4) */
    int32_t num_iterations; /* at most this many rounds of expansion (40) */
    int32_t lookahead;      /* beam_search/dvts: score candidates after this many greedy steps (0) */
    pd_agg agg;             /* (last) */
    float temperature;      /* (0.8) */
    float top_p;            /* (1.0) */
    int32_t step_max_tokens;/* (2048) */
    uint64_t seed;          /* with the problem id, seeds the root of the tree (0) */
    int no_answers;         /* leave completions' answer/key NULL: no grader calls (for timing
                               the machinery alone, or callers that extract answers themselves) */
    /* particle_filter */
    pd_resample resample;   /* (systematic) */
    float ess_threshold;    /* resample when ESS < threshold x N (0.5; 1 = every round) */
    float pf_temperature;   /* log-weight = logit(reward) / temperature (1.0) */
    /* rebase */
    float rebase_temperature; /* balance temperature of the softmax over rewards (0.2) */
    /* deepconf */
    int32_t deepconf_warmup;  /* warm-up traces (0: max(2, N/8)) */
    float deepconf_keep;      /* share of warm-up traces above the threshold: 0.9 (DeepConf-high)
                                 or 0.1 (DeepConf-low) (0.9) */
    int32_t conf_window;      /* tokens in the sliding window (64) */
    /* best_of_n: sample in waves of vote_wave and stop once the majority vote is settled (the
     * leading answer has more votes than the runner-up could reach with every sample left);
     * 0: all N at once */
    int32_t vote_wave;
    /* auto: the plan (not owned; must outlive the search). N is the budget: the plan's
     * largest budget <= N is used */
    const pd_auto_plan *plan;
} pd_search_cfg;

void pd_search_cfg_default(pd_search_cfg *c);
/* Set one option by its command-line name without "--" ("beam-width", "lookahead",
 * "iterations", "agg", "temperature", "top-p", "max-step-tokens", "seed"). Returns 0,
 * PD_ENOTFOUND for an unknown name, or PD_EINVAL for a bad value. */
int pd_search_cfg_set(pd_search_cfg *c, const char *name, const char *value, pd_error *err);
/* Help text for those options. */
const char *pd_search_cfg_help(void);
/* Check a configuration: N >= 1; for beam_search and dvts N must be a multiple of M. */
int pd_search_cfg_check(const pd_search_cfg *c, pd_error *err);

/* One completed solution. */
typedef struct pd_completion {
    char *text;          /* the whole solution */
    char *answer;        /* extracted (pd_grade_extract), or NULL when it holds none */
    char *key;           /* pd_grade_key(answer), or NULL */
    float *rewards;      /* (n_steps) step rewards along the path */
    int32_t n_steps;
    double score;        /* aggregated score */
    int status;          /* PD_NODE_FINISHED or PD_NODE_TRUNCATED */
    int32_t *ids;        /* (n_ids) the solution's token ids (the engine keeps them; the sim
                          * has none: NULL, 0); the end-of-sequence id is not included */
    size_t n_ids;
    uint64_t n_tokens;   /* tokens the policy generated for this solution's steps */
} pd_completion;

typedef struct pd_search_result {
    pd_completion *c;    /* (n) best first for beam_search; in sample/subtree order otherwise */
    int32_t n;
    int32_t n_topped_up; /* completions duplicated to reach N (beam_search; normally 0) */
    int32_t iterations;  /* expansion rounds used */
    pd_cost cost;
    int failed;          /* a backend request failed for good: no completions (n = 0) */
    char error[256];     /* why (the backend's message, naming the endpoint) */
    /* strategy auto: the probe's statistic, the bin and the plan's choice that ran (its
     * completions are the result's); auto_bin is -1 for other strategies */
    int32_t auto_bin;
    double auto_stat;
    pd_plan_choice auto_choice;
} pd_search_result;

void pd_search_result_free(pd_search_result *r);

/* ---- selection ---- */

typedef enum pd_select { PD_SEL_NAIVE = 0, PD_SEL_WEIGHTED, PD_SEL_MAJ, PD_N_SELECT } pd_select;
const char *pd_select_name(pd_select s);
/* Choose among the first k completions (k is clamped to n): naive = highest aggregated score;
 * weighted = the answer group (equal pd_grade_key) with the highest sum of scores; maj = the
 * largest group. Completions without an answer do not vote (they can win naive only).
 * Ties go to the first (lowest index; for groups, the group seen first). Returns the index of
 * the chosen completion (the first of its group), or -1 when k == 0. */
int32_t pd_select_pick(const pd_completion *c, int32_t n, int32_t k, pd_select mode);

/* ---- running searches ---- */

typedef struct pd_sched_job {
    const pd_problem *prob;
    pd_search_cfg cfg;
} pd_sched_job;

typedef struct pd_sched_stats {
    uint64_t rounds;          /* scheduler rounds */
    uint64_t policy_calls, verifier_calls;
    uint64_t expand_reqs, score_reqs; /* requests over all calls */
    uint64_t max_expand_batch, max_score_batch;
    uint64_t nodes;           /* nodes created over all trees */
    uint64_t held_back;       /* rounds that started no new search because a backend's KV
                               * memory was at its bound (back-pressure) */
} pd_sched_stats;

/* Called once per finished job, in completion order; `r` is freed after it returns. A
 * non-zero return stops the run with that code (the callback fills err). */
typedef int (*pd_sched_cb)(void *ud, size_t job, const pd_search_result *r, pd_error *err);

/* Run the jobs with at most max_inflight searches at once (<= 0: 256). Every round gathers
 * the pending expansions of all searches into one policy call and the pending scores into
 * one verifier call. After a round in which some search's work waited for KV memory
 * (pd_cost.kv_waits), no new search starts (back-pressure). stats may be NULL. */
int pd_sched_run(const pd_policy *pol, const pd_verifier *ver, const pd_sched_job *jobs,
                 size_t n_jobs, int max_inflight, pd_sched_cb cb, void *ud, pd_sched_stats *stats,
                 pd_error *err);

/* One search on its own (a scheduler with one job). Fills *res (free with
 * pd_search_result_free). */
int pd_search_run(const pd_policy *pol, const pd_verifier *ver, const pd_problem *prob,
                  const pd_search_cfg *cfg, pd_search_result *res, pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
