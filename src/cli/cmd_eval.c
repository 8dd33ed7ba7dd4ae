/* cmd_eval.c — `ponder eval` (placeholder until its module lands). */
#include "cli.h"

int cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("eval", "not implemented yet");
}
