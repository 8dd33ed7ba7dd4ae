/* cmd_generate.c — `ponder generate` (placeholder until its module lands). */
#include "cli.h"

int cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("generate", "not implemented yet");
}
