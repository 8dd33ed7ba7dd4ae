/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json reader.
 *
 * The input is split at the first NUL byte: before it the tokenizer.json text, after it
 * (optional) a tokenizer_config.json text. When loading succeeds, the tokenizer is also
 * exercised: encode a fixed text (with and without special tokens), decode the ids, look
 * up tokens, and render a chat with whatever template the config declared. */
#include "ponder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *js = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    const char *cfg = nul ? (const char *)nul + 1 : NULL;
    size_t cfg_len = nul ? size - len - 1 : 0;
    pd_error err = {0};
    pd_tokenizer *t = pd_tokenizer_load_json(js, len, cfg, cfg_len, "fuzz/tokenizer.json", &err);
    if (!t) return 0;
    static const char text[] = "Hello <s> world! 123 \xc3\xa9t\xc3\xa9 \xf0\x9f\xa6\x99\n\n  x";
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (pd_tokenizer_encode(t, text, sizeof text - 1, special, &ids, &n, &err) == 0) {
            char *back = NULL;
            if (pd_tokenizer_decode(t, ids, n, special, &back, &err) == 0) free(back);
            free(ids);
        }
    }
    for (size_t id = 0; id < 300 && id < pd_tokenizer_vocab_size(t); id++) {
        const char *s = pd_tokenizer_token_str(t, (int32_t)id);
        if (s) (void)pd_tokenizer_token_id(t, s);
    }
    pd_chat_msg m[3] = {{"system", "S"}, {"user", "U"}, {"assistant", "A</think>B"}};
    pd_buf out = {0};
    (void)pd_chat_render(t, m, 3, 0, 1, &out, &err);
    pd_buf_free(&out);
    pd_tokenizer_free(t);
    return 0;
}
