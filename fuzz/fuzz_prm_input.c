/* fuzz_prm_input.c — libFuzzer target: a process reward model's input built from arbitrary
 * problem and step texts (what `ponder score` and the search hand to a PRM), for each PRM
 * kind's fixture in tests/fixtures/prm (run from the repository root).
 *
 * The input is split at NUL bytes: the first piece is the problem, the rest are steps; the
 * first byte picks the kind. Checks, beyond "no crash": invalid UTF-8 is refused with
 * PD_EINVAL / PD_EFORMAT and never scored; otherwise there is one read-out per step, read-outs
 * increase and lie inside the input, and every reward is in [0, 1]. */
#include "ponder.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *KINDS[] = {"qwen2-prm", "skywork", "rlhflow"};
static pd_prm *g_prm[3]; /* loaded once */

static pd_prm *prm(int k) {
    if (g_prm[k]) return g_prm[k];
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fixtures/prm/%s", KINDS[k]);
    pd_error err = {0};
    pd_prm_opts o = {.n_threads = 1};
    if (!(g_prm[k] = pd_prm_open(dir, &o, &err))) {
        fprintf(stderr, "fuzz_prm_input: %s (run from the repository root)\n", err.msg);
        abort();
    }
    return g_prm[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    pd_prm *p = prm(data[0] % 3);
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    const char *steps[16];
    size_t n = 0;
    char *problem = buf, *s = buf + strlen(buf) + 1;
    while (s < buf + size - 1 && n < 16) {
        steps[n++] = s;
        s += strlen(s) + 1;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0, *pos = NULL;
    pd_error err = {0};
    int rc = pd_prm_render(p, problem, steps, n, &ids, &n_ids, &pos, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            if (pos[i] >= n_ids || (i && pos[i] <= pos[i - 1])) abort();
        float rew[16];
        rc = pd_prm_score(p, problem, steps, n, rew, NULL, &err);
        if (rc != 0 && rc != PD_ELIMIT) abort();
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (!(rew[i] >= 0.0f && rew[i] <= 1.0f)) abort();
    } else if (rc != PD_EINVAL && rc != PD_EFORMAT) {
        abort();
    }
    free(ids);
    free(pos);
    free(buf);
    return 0;
}
