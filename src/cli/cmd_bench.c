/* cmd_bench.c — `ponder bench` (placeholder until its module lands). */
#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("bench", "not implemented yet");
}
