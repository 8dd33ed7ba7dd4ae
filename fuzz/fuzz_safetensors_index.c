/* fuzz_safetensors_index.c — libFuzzer target for model.safetensors.index.json (src/model/safetensors.c).
 * Checks that every accepted shard name is a plain file name and every tensor maps to one. */
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_st_index ix;
    pd_error err = {0};
    if (pd_st_index_parse((const char *)data, size, "fuzz.index.json", &ix, &err)) return 0;
    for (size_t i = 0; i < ix.n_shards; i++)
        if (strchr(ix.shards[i], '/') || ix.shards[i][0] == '.') abort();
    for (size_t i = 0; i < ix.n_names; i++)
        if (ix.shard_of[i] >= ix.n_shards) abort();
    pd_st_index_free(&ix);
    return 0;
}
