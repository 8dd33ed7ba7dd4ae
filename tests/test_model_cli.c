/* test_model_cli.c — `ponder generate`, `ponder logits`, `ponder bench` end to end.
 *
 * Uses the tiny fixtures (ids only), and for the text paths a scratch model directory made of
 * the llama_f32 fixture plus the Qwen2.5 tokenizer from ../shared/tokenizers (its byte-level
 * ids 0..255 are single bytes and it adds no BOS, so they fit the 256-token toy model); those
 * cases SKIP when the tokenizer is not available. Scratch files: build/tmp/test_model_cli/. */
#include <jansson.h>
#include <math.h>

#include "ponder.h"
#include "test.h"

#define TMP "build/tmp/test_model_cli"

/* Run a command and capture stdout (malloc'd, *len bytes); returns the exit status. */
static int capture(const char *args, char **out, size_t *len) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", ponder_bin(), args);
    FILE *f = popen(cmd, "r");
    pd_buf b = {0};
    char tmp[4096];
    size_t n;
    while (f && (n = fread(tmp, 1, sizeof tmp, f)) > 0) pd_buf_append(&b, tmp, n);
    int st = f ? pclose(f) : -1;
    *len = b.len;
    *out = pd_buf_steal(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `ponder logits` = transformers' last-position logits (llama_f32, 4-token prompt). */
static void t_logits_cli(void) {
    char *out;
    size_t len;
    CHECK_EQ_INT(capture("logits --model tests/fixtures/models/llama_f32 --prompt-ids \"1 64 9 130\"", &out, &len), 0);
    json_error_t je;
    json_t *ref = json_load_file("tests/fixtures/models/llama_f32/reference.json", 0, &je);
    json_t *rows = json_array_get(json_object_get(ref, "logits"), 1);
    json_t *last = json_array_get(rows, json_array_size(rows) - 1);
    char *p = out, *end;
    size_t n = 0;
    double worst = 0;
    for (;;) {
        double v = strtod(p, &end);
        if (end == p) break;
        worst = fmax(worst, fabs(v - json_number_value(json_array_get(last, n))));
        n++;
        p = end;
    }
    CHECK_EQ_INT(n, 256);
    CHECK_MSG(worst <= 1e-4, "cli logits vs transformers: %g", worst);
    json_decref(ref);
    free(out);
    /* portable kernels through the CLI agree too */
    CHECK_EQ_INT(capture("logits --portable --threads 1 --model tests/fixtures/models/llama_f32 --prompt-ids 1,64,9,130", &out, &len), 0);
    CHECK_EQ_INT(len > 0 && out[len - 1] == '\n', 1);
    free(out);
}

/* Options are checked: each bad invocation exits 1 with "ponder CMD: ..." on stderr. */
static void t_cli_errors(void) {
    const char *bad[] = {
        "generate --prompt-ids 1",
        "generate --model tests/fixtures/models/llama_f32",
        "generate --model tests/fixtures/models/llama_f32 --prompt x --prompt-ids 1",
        "generate --model tests/fixtures/models/llama_f32 --prompt-ids 1 --temperature -1",
        "generate --model tests/fixtures/models/llama_f32 --prompt-ids 1 --top-p 0",
        "generate --model tests/fixtures/models/llama_f32 --prompt-ids 'x y' --print-ids",
        "generate --model tests/fixtures/models/llama_f32 --prompt-ids 999 --print-ids",
        "generate --model tests/fixtures/models/llama_f32 --prompt-ids 1 --print-ids --bogus",
        "generate --model build/tmp/no-such-model --prompt-ids 1 --print-ids",
        "logits --model tests/fixtures/models/llama_f32",
        "logits --model tests/fixtures/models/llama_f32 --prompt-ids ''",
        "bench --model tests/fixtures/models/llama_f32 --prompt-tokens 0",
        "bench --model tests/fixtures/models/llama_f32 --prompt-tokens 2000 --gen-tokens 100",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1024];
        snprintf(args, sizeof args, "%s 2>&1", bad[i]);
        char *out;
        size_t len;
        int rc = capture(args, &out, &len);
        CHECK_MSG(rc == 1 && strncmp(out, "ponder ", 7) == 0 && len > 0 && len < 400 && out[len - 1] == '\n' && !memchr(out, '\n', len - 1),
                  "`%s`: rc %d, '%s'", bad[i], rc, out);
        free(out);
    }
    const char *help[] = {"generate --help", "logits --help", "bench --help"};
    for (size_t i = 0; i < 3; i++) {
        char *out;
        size_t len;
        CHECK_EQ_INT(capture(help[i], &out, &len), 0);
        CHECK(strstr(out, "usage: ponder") != NULL);
        free(out);
    }
}

/* `ponder generate --print-ids` = the library's greedy ids; bench prints both figures. */
static void t_generate_ids_and_bench(void) {
    char *out;
    size_t len;
    CHECK_EQ_INT(capture("generate --model tests/fixtures/models/llama_f32 --prompt-ids \"1 17 203 5 99 42 7 250 3\" "
                         "--max-tokens 12 --ignore-eos --print-ids", &out, &len), 0);
    json_error_t je;
    json_t *ref = json_load_file("tests/fixtures/models/llama_f32/reference.json", 0, &je);
    json_t *g = json_object_get(ref, "greedy_ids");
    char *p = out, *end;
    size_t n = 0;
    int same = 1;
    for (long v; (v = strtol(p, &end, 10)), end != p; p = end, n++) same &= v == json_integer_value(json_array_get(g, n));
    CHECK_EQ_INT(n, 12);
    CHECK(same);
    free(out);
    json_decref(ref);
    CHECK_EQ_INT(capture("bench --model tests/fixtures/models/qwen2_bias_bf16 --prompt-tokens 16 --gen-tokens 4 --threads 2 --batch 3",
                         &out, &len), 0);
    CHECK(strstr(out, "prompt:") && strstr(out, "generation:") && strstr(out, "tokens/s") && strstr(out, "batch 3"));
    free(out);
}

/* Text in, text out with a tokenizer: --prompt, streamed text = decoded ids, --stop. */
static void t_generate_text(void) {
    const char *tk = shared_path("tokenizers/qwen2.5-0.5b-instruct/tokenizer.json");
    if (!tk) SKIP("no Qwen2.5 tokenizer in ../shared/tokenizers");
    char tkpath[4096];
    snprintf(tkpath, sizeof tkpath, "%s", tk);
    pd_error err = {0};
    CHECK(pd_mkdirs(TMP "/model", &err) == 0);
    const char *files[] = {"config.json", "model.safetensors", "generation_config.json"};
    char *d;
    size_t n;
    for (int i = 0; i < 3; i++) {
        char src[256], dst[256];
        snprintf(src, sizeof src, "tests/fixtures/models/llama_f32/%s", files[i]);
        snprintf(dst, sizeof dst, TMP "/model/%s", files[i]);
        CHECK(pd_file_read(src, &d, &n, &err) == 0);
        CHECK(pd_file_write(dst, d, n, &err) == 0);
        free(d);
    }
    CHECK(pd_file_read(tkpath, &d, &n, &err) == 0);
    CHECK(pd_file_write(TMP "/model/tokenizer.json", d, n, &err) == 0);
    free(d);
    pd_tokenizer *tok = pd_tokenizer_load(TMP "/model", &err);
    if (!tok) SKIP("tokenizer not loadable: %s", err.msg);
    int32_t *pids = NULL;
    size_t np = 0;
    CHECK(pd_tokenizer_encode(tok, "a!b", 3, 1, &pids, &np, &err) == 0);
    CHECK(np == 3 && pids && pids[0] == 64 && pids[1] == 0 && pids[2] == 65);
    free(pids);
    /* ids, then the text of the same run */
    char *ids_out, *text;
    size_t il, tl;
    const char *common = "generate --model " TMP "/model --prompt 'a!b' --max-tokens 24 --ignore-eos --temperature 1 --seed 5";
    char args[1024];
    snprintf(args, sizeof args, "%s --print-ids", common);
    CHECK_EQ_INT(capture(args, &ids_out, &il), 0);
    int32_t ids[64];
    size_t nid = 0;
    char *p = ids_out, *end;
    for (long v; nid < 64 && ((v = strtol(p, &end, 10)), end != p); p = end) ids[nid++] = (int32_t)v;
    CHECK_EQ_INT(nid, 24);
    CHECK_EQ_INT(capture(common, &text, &tl), 0);
    char *dec = NULL;
    CHECK(pd_tokenizer_decode(tok, ids, nid, 1, &dec, &err) == 0);
    /* streamed output = decoded ids + newline (byte for byte, NULs included) */
    size_t dl = 0;
    if (dec) {
        pd_buf b = {0};
        pd_detok dt;
        pd_detok_init(&dt, tok, 1);
        for (size_t i = 0; i < nid; i++) pd_detok_push(&dt, ids[i], &b);
        pd_detok_flush(&dt, &b);
        dl = b.len;
        CHECK(tl == dl + 1 && memcmp(text, b.data, dl) == 0 && text[dl] == '\n');
        /* --stop on a byte taken from the middle of the text: output = text up to it */
        char stop = 0;
        size_t at = 0;
        for (size_t i = dl / 2; i < dl; i++)
            if (b.data[i] >= 'A' && b.data[i] <= 'z') {
                stop = b.data[i];
                break;
            }
        if (stop) {
            for (at = 0; b.data[at] != stop; at++) {}
            char *so;
            size_t sl;
            snprintf(args, sizeof args, "%s --stop '%c'", common, stop);
            CHECK_EQ_INT(capture(args, &so, &sl), 0);
            CHECK_MSG(sl == at + 1 && memcmp(so, b.data, at) == 0, "stop '%c' at %zu: got %zu bytes", stop, at, sl);
            free(so);
        }
        /* a run cut off in the middle of a UTF-8 character: the streamed text still ends with
         * what the final flush yields (U+FFFD), exactly as the decoded ids */
        size_t cut = 0;
        pd_detok_init(&dt, tok, 1);
        pd_buf pre = {0};
        for (size_t i = 0; i < nid && !cut; i++) {
            pd_detok_push(&dt, ids[i], &pre);
            if (dt.n_pending) cut = i + 1;
        }
        CHECK_MSG(cut > 0, "no generated token leaves half a character pending; pick another seed");
        if (cut) {
            pd_detok_flush(&dt, &pre);
            char *so;
            size_t sl;
            snprintf(args, sizeof args, "generate --model " TMP "/model --prompt 'a!b' --max-tokens %zu --ignore-eos "
                     "--temperature 1 --seed 5", cut);
            CHECK_EQ_INT(capture(args, &so, &sl), 0);
            CHECK_MSG(sl == pre.len + 1 && memcmp(so, pre.data, pre.len) == 0,
                      "cut after %zu tokens: streamed %zu bytes, decoded %zu", cut, sl, pre.len);
            free(so);
        }
        pd_buf_free(&pre);
        pd_buf_free(&b);
    }
    free(dec);
    free(ids_out);
    free(text);
    pd_tokenizer_free(tok);
}

int main(void) {
    RUN(t_logits_cli);
    RUN(t_cli_errors);
    RUN(t_generate_ids_and_bench);
    RUN(t_generate_text);
    return test_done();
}
