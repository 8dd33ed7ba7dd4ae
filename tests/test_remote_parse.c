/* test_remote_parse.c — the remote backends' readers of server answers
 * (src/backend/remote_parse.c) on each server's shapes (../shared/reference/serving.md), and
 * the endpoint spec splitter. */
#include "backend/backend_int.h"
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

/* Every position's top logprobs, in each server's layout, and ponder serve's self-certainty. */
static void t_positions(void) {
    char why[256];
    rp_completion c;
    /* vLLM's legacy layout with return_tokens_as_token_ids and no token_ids: ids from the
     * tokens, a position listing the sampled token beside the top ones */
    const char *vllm = "{\"choices\": [{\"index\": 0, \"text\": \"ab\", \"finish_reason\": \"length\", \"logprobs\": {"
                       "\"tokens\": [\"token_id:5\", \"token_id:6\", \"token_id:7\"], \"token_logprobs\": [-0.5, -0.1, -3],"
                       "\"top_logprobs\": [{\"token_id:9\": -0.25, \"token_id:5\": -0.5}, {\"token_id:6\": -0.1},"
                       " {\"token_id:1\": -0.01, \"token_id:2\": -5, \"token_id:7\": -3}]}}]}";
    CHECK_MSG(rp_parse_completion(vllm, strlen(vllm), 1, &c, why, sizeof why) == 0, "%s", why);
    rp_choice *x = &c.c[0];
    CHECK(x->has_ids && x->n_ids == 3 && x->ids[0] == 5 && x->ids[2] == 7);
    CHECK(x->n_pos == 3 && x->pos_off[0] == 0 && x->pos_off[1] == 2 && x->pos_off[2] == 3 && x->pos_off[3] == 6);
    CHECK(x->pos_lp[2] == -0.1 && x->pos_lp[4] == -5 && x->pos_cert == NULL);
    rp_completion_free(&c);
    /* ponder serve: + self_certainty, one per position */
    const char *pon = "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"token_ids\": [3, 4], \"logprobs\": {"
                      "\"top_logprobs\": [{\"token_id:3\": -0.2}, {\"token_id:4\": -0.3}], \"self_certainty\": [1.5, 2.25]}}]}";
    CHECK_MSG(rp_parse_completion(pon, strlen(pon), 1, &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.c[0].n_pos == 2 && c.c[0].pos_cert && c.c[0].pos_cert[1] == 2.25);
    rp_completion_free(&c);
    /* the chat layout (llama-server's OpenAI route) */
    const char *chat = "{\"choices\": [{\"index\": 0, \"text\": \"x\", \"logprobs\": {\"content\": ["
                       "{\"id\": 3, \"logprob\": -0.1, \"top_logprobs\": [{\"id\": 3, \"logprob\": -0.1}, {\"id\": 4, \"logprob\": -2.3}]},"
                       "{\"id\": 8, \"logprob\": -0.7, \"top_logprobs\": [{\"id\": 8, \"logprob\": -0.7}]}]}}]}";
    CHECK_MSG(rp_parse_completion(chat, strlen(chat), 1, &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.c[0].n_pos == 2 && c.c[0].pos_off[2] == 3 && c.c[0].pos_lp[2] == -0.7 && c.c[0].n_ids == 2 && c.c[0].ids[1] == 8);
    rp_completion_free(&c);
    /* llama-server's native route: completion_probabilities, or `probs` (its README's name), or
     * post-sampling probabilities */
    const char *nat = "{\"content\": \"a\", \"tokens\": [4, 5], \"stop_type\": \"limit\", \"completion_probabilities\": ["
                      "{\"id\": 4, \"logprob\": -0.5, \"top_logprobs\": [{\"id\": 4, \"logprob\": -0.5}, {\"id\": 1, \"logprob\": -1.5}]},"
                      "{\"id\": 5, \"logprob\": -0.25, \"top_logprobs\": [{\"id\": 5, \"logprob\": -0.25}]}]}";
    CHECK_MSG(rp_parse_llama_native(nat, strlen(nat), &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.c[0].has_logprobs && c.c[0].n_pos == 2 && c.c[0].pos_off[1] == 2 && c.c[0].pos_lp[1] == -1.5 && c.c[0].pos_lp[2] == -0.25);
    rp_completion_free(&c);
    const char *post = "{\"content\": \"a\", \"tokens\": [4], \"probs\": [{\"id\": 4, \"prob\": 0.5, \"top_probs\": [{\"id\": 4, \"prob\": 0.5}]}]}";
    CHECK_MSG(rp_parse_llama_native(post, strlen(post), &c, why, sizeof why) == 0, "%s", why);
    CHECK(c.c[0].n_pos == 1 && fabs(c.c[0].pos_lp[0] - log(0.5)) < 1e-12);
    rp_completion_free(&c);
    /* no logprobs at all: none recorded */
    const char *none = "{\"content\": \"a\", \"tokens\": [4]}";
    CHECK(rp_parse_llama_native(none, strlen(none), &c, why, sizeof why) == 0 && !c.c[0].has_logprobs && c.c[0].n_pos == 0);
    rp_completion_free(&c);
    /* refused, naming what: a position that is not a list, a value that is not a number,
     * self_certainty of another length, an entry without a logprob */
    const char *bad[] = {
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"top_logprobs\": [{\"a\": -1}, \"x\"]}}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"top_logprobs\": [{\"a\": -1}, {\"b\": \"c\"}]}}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"top_logprobs\": [{\"a\": -1}], \"self_certainty\": [1, 2]}}]}",
        "{\"choices\": [{\"index\": 0, \"text\": \"a\", \"logprobs\": {\"content\": [{\"top_logprobs\": [{\"id\": 1}]}]}}]}"};
    const char *what[] = {"neither an object nor a list", "is not a number", "self_certainty", "no logprob"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(rp_parse_completion(bad[i], strlen(bad[i]), 0, &c, why, sizeof why) != 0 && strstr(why, what[i]), "case %zu: %s", i, why);
    const char *badnat = "{\"content\": \"a\", \"completion_probabilities\": [3]}";
    CHECK(rp_parse_llama_native(badnat, strlen(badnat), &c, why, sizeof why) != 0 && strstr(why, "not an object"));
}

/* A token's figures from top logprobs = from the whole distribution (confidence.c): the
 * DeepConf confidence exactly, self-certainty exactly when every token is listed and as a
 * lower bound otherwise; the window tracker's lowest window and online stop. */
static void t_conf_from_top(void) {
    enum { V = 50 };
    float l[V];
    uint64_t r = 12345;
    for (int i = 0; i < V; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 8.0 - 4.0);
    }
    double mx = -INFINITY, se = 0;
    for (int i = 0; i < V; i++) mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < V; i++) se += exp((double)l[i] - mx);
    double lse = mx + log(se), lp[V], conf, cert, tc, ts;
    for (int i = 0; i < V; i++) lp[i] = (double)l[i] - lse;
    pd_conf_from_logits(l, V, &conf, &cert);
    /* all V listed, in any order: both exact (up to the engine's exp, within 3e-7 relative:
     * pd_exp_det, which the local figures sum) */
    CHECK(pd_conf_from_top(lp, V, V, &tc, &ts) == 0);
    CHECK_MSG(fabs(tc - conf) < 1e-6 && fabs(ts - cert) < 1e-6, "%g %g vs %g %g", tc, ts, conf, cert);
    /* the top 20 and a few more (the sampled token's entry), shuffled: conf exact, cert below */
    for (int i = 0; i < V; i++) lp[i] = (double)l[i] - lse;
    double top[V];
    memcpy(top, lp, sizeof top);
    pd_conf_from_top(top, V, V, &tc, &ts); /* sorts descending */
    double pick[23];
    for (int i = 0; i < 23; i++) pick[i] = top[(i * 7) % 23];
    CHECK(pd_conf_from_top(pick, 23, V, &tc, &ts) == 0);
    CHECK_MSG(fabs(tc - conf) < 1e-6, "%g vs %g", tc, conf);
    CHECK_MSG(ts <= cert + 1e-6 && ts > 0, "estimate %g exact %g", ts, cert);
    CHECK(pd_conf_from_top(pick, 19, V, &tc, &ts) == -1); /* fewer than k */
    CHECK(pd_conf_from_top(pick, 5, 5, &tc, &ts) == 0);   /* a vocabulary under k: all of it */
    /* the window: lowest mean of 2 tokens; the stop fires below 1.0 */
    pd_conf_track t;
    CHECK(pd_conf_track_init(&t, 2, 1.0f) == 0);
    double v[4] = {3, 2, 0.5, 4};
    int low[4];
    for (int i = 0; i < 4; i++) CHECK(pd_conf_track_push(&t, v[i], 0.5, &low[i]) == 0);
    CHECK(!low[0] && !low[1] && !low[2] && !low[3]); /* means 2.5, 1.25, 2.25 */
    CHECK(fabs(t.conf_low - 1.25) < 1e-9);
    pd_node nd = {0};
    pd_conf_track_node(&t, &nd, 1, 3, 1);
    CHECK(fabs(nd.conf - 1.25f) < 1e-6 && fabs(nd.certainty - 0.5f) < 1e-6 && fabs(nd.conf_low - 1.25f) < 1e-6 && !nd.stopped);
    int lw;
    CHECK(pd_conf_track_push(&t, 0.1, 0, &lw) == 0 && !lw); /* (4 + 0.1) / 2 */
    CHECK(pd_conf_track_push(&t, 0.1, 0, &lw) == 0 && lw);  /* 0.1 < 1: stop */
    CHECK(fabs(t.conf_low - 0.1) < 1e-6);
    pd_conf_track_free(&t);
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
    RUN(t_positions);
    RUN(t_conf_from_top);
    RUN(t_split_spec);
    return test_done();
}
