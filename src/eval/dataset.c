/* dataset.c — placeholder (being written). */
#include "ponder/dataset.h"
#include <stdlib.h>
int pd_dataset_load(const char *path, pd_dataset *ds, pd_error *err) { return pd_err_set(err, PD_EUNSUPPORTED, "%s: not yet", path); }
int pd_dataset_add(pd_dataset *ds, const char *id, const char *problem, const char *answer, const char *solution, int level) { return PD_EUNSUPPORTED; }
void pd_dataset_free(pd_dataset *ds) { (void)ds; }
int pd_dataset_write_jsonl(const pd_dataset *ds, FILE *out, pd_error *err) { return PD_EUNSUPPORTED; }
int pd_arith_generate(pd_dataset *ds, size_t n, int level_lo, int level_hi, uint64_t seed, pd_error *err) { return PD_EUNSUPPORTED; }
