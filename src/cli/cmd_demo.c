/* cmd_demo.c — `ponder demo` (placeholder until its module lands). */
#include "cli.h"

int cmd_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("demo", "not implemented yet");
}
