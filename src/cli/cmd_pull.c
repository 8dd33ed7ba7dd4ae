/* cmd_pull.c — `ponder pull` (placeholder until its module lands). */
#include "cli.h"

int cmd_pull(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("pull", "not implemented yet");
}
