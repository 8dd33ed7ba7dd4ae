/* test_remote_parse.c — the remote backends' readers of server answers
 * (src/backend/remote_parse.c) on each server's shapes (../shared/reference/serving.md), and
 * the endpoint spec splitter. */
#include "backend/remote_int.h"
#include "test.h"

#include <math.h>

static void t_completion_shapes(void) {
    char why[256];
    rp_completion c;
    const char *vllm = "{\"choices\": [{\"index\": 1, \"text\": \"b \", \"finish_reason\": \"stop\", \"stop_reason\": \" \", \"token_ids\": [7, 8]},"
                       "{\"index\": 0, \"text\": \"a\", \"finish_reason\": \"length\", \"stop_reason\": null, \"token_ids\": [5],"
                       " \"logprobs\": {\"tokens\": [\"token_id:5\"], \"token_logprobs\": [-0.5], \"top_logprobs\": [{\"token_id:9\": -0.25}]}}],"
                       " \"usage\": {\"prompt_tokens\": 9, \"completion_tokens\": 3, \"prompt_tokens_details\": {\"cached_tokens\": 4}}}";
    CHECK_MSG(rp_parse_completion(vllm, strlen(vllm), 2, &c, why, sizeof why) == 0, "%s", why);
    CHECK_STR(c.c[0].text, "a");
    CHECK_EQ_INT(c.c[0].finish, RP_FIN_LENGTH);
    CHECK_EQ_INT(c.c[0].stop_kind, 0);
    CHECK_EQ_INT(c.c[0].n_top, 2); /* the top one and the sampled one */
    CHECK(c.c[0].top[0].id == 9 && c.c[0].top[1].id == 5 && fabs(c.c[0].top[1].logprob + 0.5) < 1e-12);
    CHECK(c.c[1].stop_kind == 1 && !strcmp(c.c[1].stop_str, " ") && c.c[1].n_ids == 2 && c.c[1].ids[1] == 8);
    CHECK(c.has_usage && c.prompt_tokens == 9 && c.cached_tokens == 4 && c.completion_tokens == 3);
    rp_completion_free(&c);
    const char *sglang = "{\"choices\": [{\"index\": 0, \"text\": \"x\", \"finish_reason\": \"stop\", \"matched_stop\": 151645,"
                         " \"logprobs\": {\"content\": [{\"id\": 3, \"token\": \"+\", \"logprob\": -0.1, \"top_logprobs\": ["
                         "{\"id\": 3, \"token\": \"+\", \"logprob\": -0.1}, {\"id\": 4, \"token\": \"-\", \"logprob\": -2.3}]}]}}]}";
    CHECK_MSG(rp_parse_completion(sglang, strlen(sglang), 1, &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.c[0].stop_kind == 2 && c.c[0].stop_id == 151645);
    CHECK(c.c[0].has_ids && c.c[0].n_ids == 1 && c.c[0].ids[0] == 3); /* llama-server: ids from its logprobs */
    CHECK(c.c[0].n_top == 2 && c.c[0].top[1].id == 4);
    rp_completion_free(&c);
    /* refused: wrong count, garbage, an error answer (its message kept), bad ids, repeated indices */
    const char *bad[] = {"<html>", "{\"error\": {\"message\": \"context too long\"}}", "{\"choices\": []}",
                         "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"token_ids\": [-1]}]}",
                         "{\"choices\": [{\"index\": 0, \"text\": \"a\"}, {\"index\": 0, \"text\": \"b\"}]}",
                         "{\"choices\": [{\"index\": 5, \"text\": \"a\"}]}", "{\"choices\": [{\"index\": 0, \"text\": 3}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(rp_parse_completion(bad[i], strlen(bad[i]), 0, &c, why, sizeof why) != 0, "case %zu", i);
    CHECK(rp_parse_completion(bad[1], strlen(bad[1]), 0, &c, why, sizeof why) != 0 && strstr(why, "context too long"));
    CHECK(rp_parse_completion(vllm, strlen(vllm), 3, &c, why, sizeof why) != 0);
    /* llama-server's native /completion */
    const char *nat = "{\"content\": \"a b\", \"tokens\": [4, 5, 6], \"stop_type\": \"word\", \"stopping_word\": \" \","
                      " \"tokens_evaluated\": 30, \"tokens_predicted\": 3, \"timings\": {\"cache_n\": 28, \"prompt_n\": 2}}";
    CHECK_MSG(rp_parse_llama_native(nat, strlen(nat), &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.n == 1 && c.c[0].n_ids == 3 && c.c[0].finish == RP_FIN_STOP && c.c[0].stop_kind == 1 && !strcmp(c.c[0].stop_str, " "));
    CHECK(c.prompt_tokens == 30 && c.cached_tokens == 28 && c.completion_tokens == 3);
    rp_completion_free(&c);
    CHECK(rp_parse_llama_native("{\"error\": {\"message\": \"x\"}}", 27, &c, why, sizeof why) != 0);
}

static void t_models_and_pooling(void) {
    char why[256];
    rp_models m;
    const char *mo = "{\"data\": [{\"id\": \"m\", \"owned_by\": \"ponder\", \"max_model_len\": 4096, \"ponder\": {\"seeds\": true, \"max_n\": 32}},"
                     " {\"id\": \"p\", \"owned_by\": \"ponder\"}]}";
    CHECK_MSG(rp_parse_models(mo, strlen(mo), &m, why, sizeof why) == 0, "%s", why);
    CHECK(m.n == 2 && !strcmp(m.ids[1], "p") && m.kind == RP_SRV_PONDER && m.ponder_seeds && m.max_n == 32 && m.max_model_len == 4096);
    rp_models_free(&m);
    const char *vl = "{\"object\": \"list\", \"data\": [{\"id\": \"Qwen/Q\", \"owned_by\": \"vllm\"}]}";
    CHECK(rp_parse_models(vl, strlen(vl), &m, why, sizeof why) == 0 && m.kind == RP_SRV_VLLM && !m.ponder_seeds);
    rp_models_free(&m);
    CHECK(rp_parse_models("{\"data\": []}", 12, &m, why, sizeof why) != 0);
    rp_pooling p;
    const char *po = "{\"data\": [{\"index\": 1, \"data\": [[0.25, 0.75]]}, {\"index\": 0, \"data\": [[0.5, 0.5], [0.9, 0.1]]}]}";
    CHECK_MSG(rp_parse_pooling(po, strlen(po), 2, &p, why, sizeof why) == 0, "%s", why);
    CHECK(p.width == 2 && p.n_rows[0] == 2 && p.n_rows[1] == 1 && p.rows[1][1] == 0.75 && p.rows[0][2] == 0.9);
    rp_pooling_free(&p);
    const char *mixed = "{\"data\": [{\"index\": 0, \"data\": [[0.25, 0.75], [1]]}]}";
    CHECK(rp_parse_pooling(mixed, strlen(mixed), 1, &p, why, sizeof why) != 0);
}

static void t_split_spec(void) {
    char *b[4], *model = NULL;
    pd_error err = {0};
    CHECK_EQ_INT(rh_split_spec("http://a:1/v1,https://b:2/v1/#org/model", b, 4, &model, &err), 2);
    CHECK_STR(b[0], "http://a:1/v1");
    CHECK_STR(b[1], "https://b:2/v1"); /* a trailing slash is dropped (this looped once) */
    CHECK_STR(model, "org/model");
    free(b[0]), free(b[1]), free(model);
    CHECK_EQ_INT(rh_split_spec("http://a:1/v1", b, 4, &model, &err), 1);
    CHECK(model == NULL);
    free(b[0]);
    CHECK_EQ_INT(rh_split_spec("ftp://a/v1#m", b, 4, &model, &err), -1);
    CHECK(strstr(err.msg, "http"));
    CHECK_EQ_INT(rh_split_spec("#m", b, 4, &model, &err), -1);
    CHECK_EQ_INT(rh_split_spec("http://a:1,http://b:2,http://c:3", b, 2, &model, &err), -1);
}

int main(void) {
    RUN(t_completion_shapes);
    RUN(t_models_and_pooling);
    RUN(t_split_spec);
    return test_done();
}
