/* main.c — `ponder <command> [options]`: dispatch to the commands in src/cli/cmd_*.c. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"demo", cmd_demo, "run the demo: search strategies compared on generated problems"},
    {"solve", cmd_solve, "solve one problem with a search strategy"},
    {"eval", cmd_eval, "evaluate strategies x budgets on a dataset into a resumable run directory"},
    {"summarize", cmd_summarize, "rebuild a run's summary.json from its results.jsonl"},
    {"merge", cmd_merge, "join the shards of a run (eval --shard I/K) into one run directory"},
    {"plan", cmd_plan, "compute-optimal strategy per difficulty bin and budget (cross-validated); adaptive consistency"},
    {"report", cmd_report, "report.html: SVG plots of accuracy against N, FLOPs, time, level; runs overlaid"},
    {"data", cmd_data, "generate datasets (`ponder data arith`)"},
    {"score", cmd_score, "score solution steps with a process reward model (JSONL on stdin)"},
    {"grade", cmd_grade, "grade JSONL {pred, gold} lines from stdin"},
    {"generate", cmd_generate, "generate text with a local model"},
    {"logits", cmd_logits, "print the last position's logits of a local model"},
    {"tokenize", cmd_tokenize, "tokenize stdin (or --decode ids) with a model's tokenizer"},
    {"bench", cmd_bench, "measure prompt and generation speed of a local model"},
    {"quantize", cmd_quantize, "write a model directory as a GGUF file (q8_0, q4_0, q4_k_m, ...), as llama.cpp would"},
    {"pull", cmd_pull, "download a model from the Hugging Face hub into its cache"},
    {"serve", cmd_serve, "an OpenAI-compatible API on the engine that thinks longer (searches per request)"},
};

static void usage(FILE *f) {
    fprintf(f, "ponder %s — make small language models think longer\n\nusage: ponder <command> [options]\n\ncommands:\n",
            PD_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`ponder <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ponder %s\n", PD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ponder: unknown command '%s' (see `ponder --help`)\n", argv[1]);
    return 1;
}
