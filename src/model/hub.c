/* hub.c — model resolution (placeholder: local directories only; the hub cache and
 * `ponder pull` come with issue 4). */
#include "ponder/hub.h"

#include <stdio.h>

int pd_hub_resolve(const char *spec, char *dir, size_t dir_size, pd_error *err) {
    if (!pd_dir_exists(spec)) return pd_err_set(err, PD_ENOTFOUND, "model '%s': no such directory", spec);
    if ((size_t)snprintf(dir, dir_size, "%s", spec) >= dir_size)
        return pd_err_set(err, PD_EINVAL, "model path too long: %s", spec);
    return 0;
}
