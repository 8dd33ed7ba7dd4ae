/* test_bench_tree.c — `ponder bench --workload tree --json` end to end on the tiny rlhflow
 * fixture (a random Llama with a Llama 3 chat template, as policy and as PRM): one JSON
 * object whose counts are consistent with each other and with the search's shape. No timing
 * is asserted (only that the times are there and positive). */
#include <jansson.h>
#include <math.h>

#include "ponder.h"
#include "test.h"

static json_t *run_bench(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s bench --model tests/fixtures/prm/rlhflow --prm-kind rlhflow --workload tree --json "
             "--threads 2 %s", ponder_bin(), args);
    FILE *f = popen(cmd, "r");
    json_error_t je;
    json_t *j = f ? json_loadf(f, 0, &je) : NULL;
    int st = f ? pclose(f) : -1;
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ponder bench failed (%d)", st);
    return j;
}

static long long num(json_t *j, const char *k) {
    json_t *v = json_object_get(j, k);
    CHECK_MSG(json_is_number(v), "no number '%s'", k);
    return (long long)json_number_value(v);
}

static void t_tree_json(void) {
    json_t *j = run_bench("--n 8 --beam-width 4 --steps 3 --step-tokens 12 --prompt-tokens 80 --ref-sample 3");
    CHECK(j != NULL);
    if (!j) return;
    long long prompt = num(j, "prompt_tokens"), nodes = num(j, "nodes"), scored = num(j, "scored");
    long long pol = num(j, "policy_tokens_computed"), prm = num(j, "prm_tokens_computed");
    long long computed = num(j, "tokens_computed"), unique = num(j, "unique_tree_tokens");
    long long ref = num(j, "ref_tokens_computed");
    CHECK_EQ_INT(num(j, "n"), 8);
    CHECK(prompt > 0);
    /* the first round expands the root into N children; every child is scored */
    CHECK(nodes >= 8);
    CHECK_EQ_INT(scored, nodes);
    CHECK_EQ_INT(computed, pol + prm);
    /* the tree: the prompt plus at most step_tokens per node */
    CHECK(unique > prompt && unique <= prompt + 12 * nodes);
    /* the policy computes every unique token at least once (the last sampled token of a
     * finished step need not be fed back) */
    CHECK(pol >= unique - nodes);
    /* re-encoding every prefix costs at least the N children's copies of the prompt, twice */
    CHECK(ref >= 2 * 8 * prompt);
    CHECK(ref > computed);
    CHECK(json_number_value(json_object_get(j, "wall_s")) > 0);
    CHECK(json_number_value(json_object_get(j, "ref_wall_s")) > 0);
    /* the split of both wall times: the policy and the PRM inside the search's wall time; the
     * reference's three parts add up to its total, every part having run (the times are
     * printed to the microsecond, so sums may differ from the total by the print's rounding) */
    double wall = json_number_value(json_object_get(j, "wall_s"));
    double pol_s = json_number_value(json_object_get(j, "policy_s")), prm_s = json_number_value(json_object_get(j, "prm_s"));
    CHECK(pol_s > 0 && prm_s > 0 && pol_s + prm_s <= wall + 2e-6);
    double rp = json_number_value(json_object_get(j, "ref_prefill_s")), rd = json_number_value(json_object_get(j, "ref_decode_s"));
    double rv = json_number_value(json_object_get(j, "ref_prm_s")), rw = json_number_value(json_object_get(j, "ref_wall_s"));
    CHECK(rp > 0 && rd > 0 && rv > 0);
    CHECK(fabs(rp + rd + rv - rw) < 0.01);
    /* KV memory: the two pools' peaks, per live branch the sum over N */
    long long kv_pol = num(j, "kv_bytes_peak_policy"), kv_prm = num(j, "kv_bytes_peak_prm");
    CHECK(kv_pol > 0 && kv_prm > 0);
    CHECK_EQ_INT(num(j, "kv_bytes_peak"), kv_pol + kv_prm);
    CHECK_EQ_INT(num(j, "kv_bytes_peak_per_branch"), (kv_pol + kv_prm) / 8);
    CHECK_EQ_INT(num(j, "kv_memory"), 0);
    CHECK_EQ_INT(num(j, "kv_waits"), 0);
    /* the same search under --kv-memory of half the smaller peak: the same tree, within the
     * bound, having waited */
    char args[256];
    long long budget = (kv_pol < kv_prm ? kv_pol : kv_prm) / 2;
    snprintf(args, sizeof args, "--n 8 --beam-width 4 --steps 3 --step-tokens 12 --prompt-tokens 80 --ref-sample 3 "
             "--kv-memory %lld", budget);
    json_t *b = run_bench(args);
    CHECK(b != NULL);
    if (b) {
        CHECK_EQ_INT(num(b, "nodes"), nodes);
        CHECK_EQ_INT(num(b, "scored"), scored);
        CHECK_EQ_INT(num(b, "unique_tree_tokens"), unique);
        CHECK_EQ_INT(num(b, "kv_memory"), budget);
        CHECK(num(b, "kv_bytes_peak_policy") <= budget && num(b, "kv_bytes_peak_prm") <= budget);
        CHECK(num(b, "kv_waits") > 0);
        json_decref(b);
    }
    json_decref(j);
}

static void t_bad_workload(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s bench --model tests/fixtures/prm/rlhflow --workload forest 2>/dev/null", ponder_bin());
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

int main(void) {
    RUN(t_tree_json);
    RUN(t_bad_workload);
    return test_done();
}
