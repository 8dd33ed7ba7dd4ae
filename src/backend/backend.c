/* backend.c — opening a policy or verifier from a spec string.
 *
 * A spec names where a model lives (DESIGN.md section 1): "sim" (the simulated backend), a
 * local directory or .gguf file (the embedded engine) or an http(s):// URL (a remote
 * OpenAI-compatible server). Only the simulated backend exists yet; the others answer with a
 * clear PD_EUNSUPPORTED so that scripts written today keep their shape. */
#include "backend_int.h"

#include <string.h>

/* Explain why a non-sim spec cannot be opened yet. */
static int unsupported(const char *what, const char *spec, pd_error *err) {
    if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8))
        return pd_err_set(err, PD_EUNSUPPORTED,
                          "%s '%s': remote backends come in a later issue; only 'sim' works for now",
                          what, spec);
    return pd_err_set(err, PD_EUNSUPPORTED,
                      "%s '%s': the local engine comes in a later issue; only 'sim' works for now",
                      what, spec);
}

int pd_policy_open(pd_policy *pol, const char *spec, const pd_sim_params *sim, pd_error *err) {
    memset(pol, 0, sizeof *pol);
    if (!spec || !*spec) return pd_err_set(err, PD_EINVAL, "policy: empty spec");
    if (!strcmp(spec, "sim")) {
        pd_sim_params d;
        if (!sim) {
            pd_sim_params_default(&d);
            sim = &d;
        }
        return pd_sim_policy_open(pol, sim, err);
    }
    return unsupported("policy", spec, err);
}

int pd_verifier_open(pd_verifier *ver, const char *spec, const pd_policy *pol,
                     const pd_sim_params *sim, pd_error *err) {
    memset(ver, 0, sizeof *ver);
    if (!spec || !*spec) return pd_err_set(err, PD_EINVAL, "prm: empty spec");
    if (!strcmp(spec, "sim")) {
        if (!pol || !pd_sim_is_policy(pol))
            return pd_err_set(err, PD_EINVAL,
                              "prm 'sim': the simulated PRM judges the simulated policy's steps; "
                              "use --policy sim with it");
        pd_sim_params d;
        if (!sim) {
            pd_sim_params_default(&d);
            sim = &d;
        }
        return pd_sim_verifier_open(ver, pol, sim, err);
    }
    return unsupported("prm", spec, err);
}

void pd_policy_close(pd_policy *pol) {
    if (pol && pol->free) pol->free(pol->ctx);
    if (pol) memset(pol, 0, sizeof *pol);
}

void pd_verifier_close(pd_verifier *ver) {
    if (ver && ver->free) ver->free(ver->ctx);
    if (ver) memset(ver, 0, sizeof *ver);
}
