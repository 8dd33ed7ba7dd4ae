/* cmd_data.c — `ponder data` (placeholder until its module lands). */
#include "cli.h"

int cmd_data(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("data", "not implemented yet");
}
