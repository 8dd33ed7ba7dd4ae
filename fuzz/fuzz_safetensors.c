/* fuzz_safetensors.c — libFuzzer target for the safetensors header reader (src/model/safetensors.c).
 *
 * The input is a whole file image. When the parser accepts it, the invariants the loader
 * relies on are checked: every tensor's bytes lie inside the image, its byte count is
 * elements x dtype size, non-empty tensors do not overlap, and lookup by name finds it. */
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_st_file f;
    pd_error err = {0};
    if (pd_st_parse(data, size, "fuzz.safetensors", &f, &err)) {
        if (!err.msg[0]) abort(); /* an error must say what is wrong */
        return 0;
    }
    for (size_t i = 0; i < f.n_tensors; i++) {
        const pd_st_tensor *t = &f.tensors[i];
        if (t->data < data || t->data + (t->end - t->begin) > data + size) abort();
        if (t->end - t->begin != t->n_elems * pd_dtype_size(t->dtype)) abort();
        if (pd_st_find(&f, t->name) != t) abort();
        for (size_t k = 0; k < f.n_tensors; k++)
            if (k != i && t->end > t->begin && f.tensors[k].end > f.tensors[k].begin &&
                t->begin < f.tensors[k].end && f.tensors[k].begin < t->end)
                abort();
    }
    pd_st_close(&f);
    return 0;
}
