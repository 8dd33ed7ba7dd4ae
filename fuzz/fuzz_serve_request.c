/* fuzz_serve_request.c — libFuzzer target for `ponder serve`'s request bodies (src/serve/api.c):
 * the first byte picks the route (completions, chat, pooling), the rest is the body. Also
 * renders the error body of a refused request. */
#include "serve/serve_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sv_kind kind = (sv_kind)(1 + data[0] % 3);
    sv_limits lim = {"tiny", 16, 512, 4096};
    sv_req r;
    sv_err e;
    if (sv_parse(kind, (const char *)data + 1, size - 1, &lim, &r, &e) == 0) {
        sv_req_free(&r);
    } else {
        char *b = sv_err_body(&e);
        free(b);
    }
    pd_search_cfg c;
    pd_search_cfg_default(&c);
    char *s = malloc(size);
    if (s) {
        memcpy(s, data + 1, size - 1);
        s[size - 1] = 0;
        sv_model_prefix(s, &c);
        free(s);
    }
    return 0;
}
