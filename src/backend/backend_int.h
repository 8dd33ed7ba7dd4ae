/* backend_int.h — constructors of the concrete backends, used by backend.c's spec dispatch. */
#ifndef PONDER_BACKEND_INT_H
#define PONDER_BACKEND_INT_H

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

/* A causal LM on the embedded engine as the policy (policy_local.c). */
int pd_local_policy_open(pd_policy *pol, const char *spec, const char *system_prompt, const char *delim,
                         int n_threads, pd_error *err);
extern const char PD_SAL_SYSTEM_PROMPT[];

/* A PRM on the embedded engine as a verifier (prm_local.c); delim is the search's step
 * delimiter, stripped from step texts before the PRM reads them. */
struct pd_prm_opts;
int pd_prm_verifier_open(pd_verifier *ver, const char *spec, const struct pd_prm_opts *o, const char *delim,
                         pd_error *err);

#endif
