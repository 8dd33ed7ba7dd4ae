/* fuzz_dataset.c — libFuzzer target for the JSONL dataset reader (src/eval/dataset.c). */
#include "ponder/dataset.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    pd_dataset ds = {0};
    pd_error err = {0};
    pd_dataset_read(f, "fuzz", &ds, &err);
    fclose(f);
    pd_dataset_free(&ds);
    return 0;
}
