/* cmd_bench_tree.h — `ponder bench --workload tree` (cmd_bench_tree.c). */
#ifndef PD_CLI_CMD_BENCH_TREE_H
#define PD_CLI_CMD_BENCH_TREE_H

#include <stddef.h>

typedef struct bench_tree_opts {
    const char *model, *prm;   /* policy; PRM (NULL: the policy's directory again) */
    const char *prm_kind;      /* NULL: detect */
    int threads;               /* 0: one per CPU */
    int n, beam_width, steps, step_tokens, prompt_tokens;
    int ref_sample;            /* time 1 in this many of the reference's prefills */
    int json;
    size_t kv_memory;          /* bytes of KV cache per model (0: no bound) */
} bench_tree_opts;

int bench_tree(const bench_tree_opts *o);

#endif
