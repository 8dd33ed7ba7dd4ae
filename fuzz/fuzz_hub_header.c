/* fuzz_hub_header.c — libFuzzer target for the HTTP response header parsers of
 * `ponder pull` (hub_listing.c): header line splitting, Content-Range, sizes, ETag to
 * blob name. Checks the invariants the download code relies on: a parsed range is
 * ordered and inside its total, a blob name is a safe single path component. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[64], value[512];
    int r = pd_hub_header_split((const char *)data, size, name, sizeof name, value, sizeof value);
    if (r == 1) {
        if (strlen(name) == 0 || strlen(name) >= sizeof name || strlen(value) >= sizeof value) abort();
        int64_t a, b, t;
        if (pd_hub_content_range(value, &a, &b, &t) == 0 && (a < 0 || b < a || (t >= 0 && b >= t) || t < -1)) abort();
        if (pd_hub_parse_size(value, &a) == 0 && a < 0) abort();
        char blob[130];
        if (pd_hub_etag_name(value, blob, sizeof blob) == 0) {
            if (!blob[0] || blob[0] == '.' || strchr(blob, '/') || strlen(blob) > 128) abort();
        }
    }
    return 0;
}
