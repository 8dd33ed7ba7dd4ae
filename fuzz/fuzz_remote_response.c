/* fuzz_remote_response.c — libFuzzer target for the remote backends' parsers of server
 * answers (src/backend/remote_parse.c): /v1/completions, /v1/models, /pooling and llama-server's
 * native /completion bodies, and
 * the endpoint spec splitter. The first byte picks the parser. Every position's top logprobs
 * of a parsed completion also go through the token-confidence figures (confidence.c), as the
 * remote policy reads them. */
#include "backend/backend_int.h"
#include "backend/remote_int.h"

#include <stdlib.h>
#include <string.h>

static void confidences(rp_completion *c) {
    for (size_t i = 0; i < c->n; i++) {
        rp_choice *x = &c->c[i];
        for (size_t p = 0; p < x->n_pos; p++) {
            double tc, ts;
            size_t n = x->pos_off[p + 1] - x->pos_off[p];
            (void)pd_conf_from_top(x->pos_lp + x->pos_off[p], n, 50, &tc, &ts);
            (void)pd_conf_from_top(x->pos_lp + x->pos_off[p], n, 3, &tc, &ts);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char why[256];
    switch (data[0] % 5) {
    case 0: {
        rp_completion c;
        if (!rp_parse_completion(body, len, data[0] / 4 % 3, &c, why, sizeof why)) confidences(&c), rp_completion_free(&c);
        break;
    }
    case 1: {
        rp_models m;
        if (!rp_parse_models(body, len, &m, why, sizeof why)) rp_models_free(&m);
        break;
    }
    case 2: {
        rp_pooling p;
        if (!rp_parse_pooling(body, len, data[0] / 4 % 3, &p, why, sizeof why)) rp_pooling_free(&p);
        break;
    }
    case 3: {
        rp_completion c;
        if (!rp_parse_llama_native(body, len, &c, why, sizeof why)) confidences(&c), rp_completion_free(&c);
        break;
    }
    default: {
        char *s = malloc(len + 1), *bases[8], *model = NULL;
        if (!s) return 0;
        memcpy(s, body, len);
        s[len] = 0;
        pd_error err = {0};
        int n = rh_split_spec(s, bases, 8, &model, &err);
        for (int i = 0; i < n; i++) free(bases[i]);
        free(model);
        free(s);
    }
    }
    return 0;
}
