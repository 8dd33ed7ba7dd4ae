/* cmd_data.c — `ponder data arith|sums`: write generated problems as JSONL. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *HELP =
    "usage: ponder data arith|sums [--n N] [--levels LO-HI] [--seed S] [--out FILE]\n"
    "\n"
    "Writes N generated problems in MATH-500's JSONL layout (problem, solution, answer,\n"
    "level, unique_id) to FILE or stdout; steps are separated by a blank line and the\n"
    "solution ends in \\boxed{answer}.\n"
    "\n"
    "  arith  \"Compute $(15 + 19) \\times 7$.\": one operation reduced per step; harder\n"
    "         levels have more and larger numbers, multiplication/division and nesting.\n"
    "  sums   \"Three of the numbers 14, 27, 35, 8, 19 and 42 add up to 76. What is the\n"
    "         smallest of the three?\": a search task (docs/ARITH.md): one subtraction per\n"
    "         step, each easy to check and hard to produce; harder levels have more\n"
    "         numbers to choose from and more to choose.\n"
    "\n"
    "  --n N           number of problems (default 100)\n"
    "  --levels LO-HI  difficulty levels, spread evenly (default 1-5; a single level: 3)\n"
    "  --seed S        seed (default 1); the same seed gives the same problems\n"
    "  --out FILE      output file (default: stdout)\n";

/* Parse "LO-HI" or "L" into lo/hi. */
static int parse_levels(const char *s, int *lo, int *hi) {
    char extra;
    if (sscanf(s, "%d-%d%c", lo, hi, &extra) == 2) return 0;
    if (sscanf(s, "%d%c", lo, &extra) == 1) {
        *hi = *lo;
        return 0;
    }
    return -1;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    int sums = !strcmp(argv[1], "sums");
    if (!sums && strcmp(argv[1], "arith") != 0)
        return cli_fail("data", "unknown generator '%s' (known: arith, sums)", argv[1]);
    static const struct option opts[] = {
        {"n", required_argument, 0, 'n'},     {"levels", required_argument, 0, 'l'},
        {"seed", required_argument, 0, 's'},  {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    long n = 100, seed = 1;
    int lo = 1, hi = 5;
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_long(optarg, &n) || n < 1 || n > 10000000) return cli_fail("data", "--n wants a count from 1 to 10000000, not '%s'", optarg);
            break;
        case 'l':
            if (parse_levels(optarg, &lo, &hi)) return cli_fail("data", "--levels wants LO-HI, e.g. 1-5, not '%s'", optarg);
            break;
        case 's':
            if (cli_parse_long(optarg, &seed)) return cli_fail("data", "--seed wants a non-negative integer, not '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'h': fputs(HELP, stdout); return 0;
        default: return cli_fail("data", "unknown option '%s' (see --help)", argv[optind]);
        }
    }
    if (optind + 1 < argc) return cli_fail("data", "unexpected argument '%s'", argv[optind + 1]);
    pd_dataset ds = {0};
    pd_error err = {0};
    if ((sums ? pd_sums_generate : pd_arith_generate)(&ds, (size_t)n, lo, hi, (uint64_t)seed, &err)) {
        pd_dataset_free(&ds);
        return cli_fail_err("data", &err);
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        pd_dataset_free(&ds);
        return cli_fail("data", "cannot write %s", out);
    }
    int rc = pd_dataset_write_jsonl(&ds, f, &err);
    if ((out && fclose(f) != 0) || (!out && fflush(f) != 0)) rc = rc ? rc : pd_err_set(&err, PD_EIO, "write failed");
    pd_dataset_free(&ds);
    return rc ? cli_fail_err("data", &err) : 0;
}
