/* cmd_grade.c — `ponder grade` (placeholder until its module lands). */
#include "cli.h"

int cmd_grade(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("grade", "not implemented yet");
}
