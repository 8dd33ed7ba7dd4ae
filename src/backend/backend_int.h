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

#endif
