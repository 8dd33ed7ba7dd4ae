/* backend_int.h — constructors of the concrete backends, used by backend.c's spec dispatch. */
#ifndef PONDER_BACKEND_INT_H
#define PONDER_BACKEND_INT_H

#include "ponder/model.h"
#include "ponder/search.h"

/* The simulated policy and PRM (sim.c). */
int pd_sim_policy_open(pd_policy *pol, const pd_sim_params *p, pd_error *err);
int pd_sim_verifier_open(pd_verifier *ver, const pd_policy *pol, const pd_sim_params *p,
                         pd_error *err);
/* 1 when pol is a sim policy. */
int pd_sim_is_policy(const pd_policy *pol);

/* The policy's own confidence as the verifier (confidence.c): kind "deepconf" or
 * "self-certainty". */
int pd_confidence_verifier_open(pd_verifier *ver, const char *kind, pd_error *err);

/* Recording token confidences (confidence.c), for every policy that records them. */
#define PD_CONF_TOP 20 /* DeepConf's k: the top-20 log-probabilities */
/* A token's figures from its whole next-token distribution (raw logits, temperature 1):
 * *conf = -(mean log-probability of the top PD_CONF_TOP tokens), *cert = KL(uniform || p) =
 * logsumexp - mean logit - log V. */
void pd_conf_from_logits(const float *logits, size_t V, double *conf, double *cert);
/* The same from the n top log-probabilities a server returned (any order; sorted in place,
 * the sampled token's extra entry may be among them): *conf from the min(PD_CONF_TOP, V)
 * largest, *cert estimated (the unlisted tokens share the mass left evenly: a lower bound).
 * Returns -1 when n < min(PD_CONF_TOP, V). */
int pd_conf_from_top(double *lp, size_t n, size_t V, double *conf, double *cert);
/* One generation's token figures and its sliding window (DeepConf's group confidence). */
typedef struct pd_conf_track {
    float *tconf, *tcert;  /* (n) per token */
    size_t n, cap;
    float *ring;           /* (win) the last tokens' confidence */
    int32_t win;
    float stop;            /* DeepConf online: stop below this window mean (0: never) */
    double ring_sum, conf_low;
    int stopped;           /* set by the policy when the window stop ended the generation */
} pd_conf_track;
int pd_conf_track_init(pd_conf_track *t, int32_t window, float stop); /* 0 or PD_ENOMEM */
void pd_conf_track_free(pd_conf_track *t);
/* Add a token; *window_low = 1 when its window's mean fell below the stop. 0 or PD_ENOMEM. */
int pd_conf_track_push(pd_conf_track *t, double conf, double cert, int *window_low);
/* A node's conf, certainty (means over tokens [a, b)), conf_low (the lowest window so far)
 * and stopped (when `last`). */
void pd_conf_track_node(const pd_conf_track *t, pd_node *nd, size_t a, size_t b, int last);

/* A causal LM on the embedded engine as the policy (policy_local.c), loaded with mo (threads,
 * precision; NULL: defaults); kv_memory bounds its KV pool (bytes; 0: no bound). */
int pd_local_policy_open(pd_policy *pol, const char *spec, const char *system_prompt, const char *delim,
                         const pd_model_opts *mo, size_t kv_memory, pd_error *err);
extern const char PD_SAL_SYSTEM_PROMPT[];
/* Its KV memory; -1 when pol is not a local policy. */
int pd_local_policy_kv_usage(const pd_policy *pol, pd_kv_usage *u);
/* *u's byte figures from model m's block pool, with the backend's own counts (backend.c). */
struct pd_model;
void pd_kv_usage_of_model(const struct pd_model *m, uint64_t deferred, uint64_t evicted, pd_kv_usage *u);

/* A PRM on the embedded engine as a verifier (prm_local.c); delim is the search's step
 * delimiter, stripped from step texts before the PRM reads them. */
struct pd_prm_opts;
int pd_prm_verifier_open(pd_verifier *ver, const char *spec, const struct pd_prm_opts *o, const char *delim,
                         pd_error *err);
/* Its KV memory; -1 when ver is not a local PRM verifier. */
int pd_prm_verifier_kv_usage(const pd_verifier *ver, pd_kv_usage *u);

#endif
