/* fuzz_config.c — libFuzzer target for config.json / generation_config.json (src/model/config.c).
 *
 * When a config is accepted, the invariants the engine sizes its buffers from are checked:
 * positive bounded dimensions, heads divisible by KV heads, an even head_dim, EOS ids
 * inside the vocabulary. The same bytes are then merged as a generation_config.json. */
#include <stdlib.h>

#include "ponder/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_model_config c;
    pd_error err = {0};
    if (pd_model_config_parse((const char *)data, size, "fuzz/config.json", &c, &err)) return 0;
    if (c.vocab_size < 1 || c.hidden_size < 1 || c.n_layers < 1 || c.n_layers > PD_MAX_LAYERS || c.n_heads < 1 ||
        c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads || c.head_dim < 2 || c.head_dim % 2 || c.intermediate_size < 1 ||
        c.max_positions < 1 || !(c.rms_norm_eps > 0) || !(c.rope_theta > 0))
        abort();
    if (pd_model_config_merge_generation((const char *)data, size, "fuzz/generation_config.json", &c, &err) == 0)
        for (int i = 0; i < c.n_eos; i++)
            if (c.eos_ids[i] < 0 || c.eos_ids[i] >= c.vocab_size) abort();
    return 0;
}
