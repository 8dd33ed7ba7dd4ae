/* fuzz_hub_listing.c — libFuzzer target for the hub API listing parser
 * (pd_hub_listing_parse): any bytes must give either a listing whose every path passes
 * pd_hub_check_path, whose hashes are lowercase hex and whose sizes are in range, or a
 * clean error — never a crash or a leak. The input also goes through the repo id and
 * revision checks, which guard the cache paths built from user input, and the file
 * selection predicates (default files, a dataset split's files). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_hub_listing l;
    pd_error err;
    if (pd_hub_listing_parse((const char *)data, size, &l, &err) == 0) {
        if (strlen(l.commit) != 40) abort();
        for (size_t i = 0; i < l.n_files; i++) {
            const pd_hub_file *f = &l.files[i];
            if (pd_hub_check_path(f->path, NULL)) abort();
            if (f->size < -1 || f->size > ((int64_t)1 << 53)) abort();
            if (f->lfs && (strlen(f->sha256) != 64 || f->size < 0)) abort();
            if (i && strcmp(l.files[i - 1].path, f->path) >= 0) abort(); /* sorted, unique */
            /* the selection predicates of pull run on every listed path */
            int r = pd_hub_split_file(f->path, "test", ".jsonl");
            if (r < 0 || r > 5 || (r && !pd_hub_default_dataset_file(f->path))) abort();
        }
        pd_hub_listing_free(&l);
    }
    /* the same bytes as a spec: repo id / revision checks must not crash */
    char s[300];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    pd_hub_check_repo_id(s, NULL);
    pd_hub_check_revision(s, NULL);
    pd_hub_check_path(s, NULL);
    pd_hub_default_file(s);
    pd_hub_default_dataset_file(s);
    /* the bytes as a split name against a path that holds it in each form */
    if (s[0] && !strchr(s, '/')) {
        char path[700];
        snprintf(path, sizeof path, "data/%s-00000-of-00001.jsonl", s);
        if (!pd_hub_split_file(path, s, ".jsonl")) abort();
        snprintf(path, sizeof path, "%s/%s.json", s, s);
        if (!pd_hub_split_file(path, s, ".json")) abort(); /* 3 (2 for the split "data") */
    }
    return 0;
}
