/* test_chat.c — chat templates against transformers' apply_chat_template.
 *
 * tests/fixtures/tokenizer/{llama3,qwen2,r1}.json hold renderings made by
 * tools/make_tokenizer_fixture.py (with and without system prompt, generation prompt,
 * continue_final_message, the tokenizer_config template and each .jinja variant in the
 * shared folder); each must match exactly, and so must the ids of the rendered text.
 * Also: recognition, the unrecognised-template error, continuing a partial message that
 * ends in whitespace or holds </think> (kept verbatim), today's date in Llama's header. */
#include "ponder.h"
#include "test.h"
#include "tok_shared.h"

#include <jansson.h>
#include <time.h>

/* Renders every chat case of tests/fixtures/tokenizer/NAME.json and compares. */
static void check_chat_fixture(const char *name, pd_chat_family family) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/tokenizer/%s.json", name);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
    CHECK_MSG(root != NULL, "%s: %s", path, je.text);
    if (!root) return;
    const char *dir = json_string_value(json_object_get(root, "tokenizer")) + strlen("tokenizers/");
    pd_tokenizer *t = load_shared(dir);
    if (!t) {
        /* name the tokenizer before freeing root: dir points into it */
        printf("SKIP %s: shared tokenizer %s absent\n", t_cur_name, dir);
        json_decref(root);
        t_cur_skipped = 1;
        return;
    }
    CHECK_EQ_INT(pd_tokenizer_chat_family(t), family);
    char *config_template = strdup(pd_tokenizer_chat_template(t) ? pd_tokenizer_chat_template(t) : "");
    json_t *cases = json_object_get(root, "chat");
    CHECK(json_array_size(cases) >= 8);
    int n_cont = 0, n_sys = 0, n_gen = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *tname = json_string_value(json_object_get(c, "template"));
        pd_error err = {0};
        if (strcmp(tname, "config") == 0) {
            CHECK(pd_tokenizer_set_chat_template(t, config_template, &err) == 0);
        } else {
            char rel[512], *text = NULL;
            snprintf(rel, sizeof rel, "tokenizers/%s/%s", dir, tname);
            const char *p = shared_path(rel);
            CHECK_MSG(p && pd_file_read(p, &text, NULL, &err) == 0, "%s", rel);
            if (!text) continue;
            CHECK(pd_tokenizer_set_chat_template(t, text, &err) == 0);
            free(text);
        }
        CHECK_MSG(pd_tokenizer_chat_family(t) == family, "%s: template %s not recognised", name, tname);
        json_t *msgs = json_object_get(c, "messages");
        size_t n = json_array_size(msgs);
        pd_chat_msg m[16];
        for (size_t k = 0; k < n && k < 16; k++) {
            m[k].role = json_string_value(json_object_get(json_array_get(msgs, k), "role"));
            m[k].content = json_string_value(json_object_get(json_array_get(msgs, k), "content"));
            if (!strcmp(m[k].role, "system")) n_sys++;
        }
        int gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        int cont = json_is_true(json_object_get(c, "continue_final_message"));
        n_gen += gen;
        n_cont += cont;
        pd_chat_opts o = {.date_string = "26 Jul 2024"};
        pd_buf out = {0};
        int rc = pd_chat_render_opts(t, m, n, gen, cont, &o, &out, &err);
        CHECK_MSG(rc == 0, "%s case %zu: %s", name, i, err.msg);
        const char *want = json_string_value(json_object_get(c, "text"));
        if (rc == 0 && strcmp(out.data ? out.data : "", want) != 0) {
            CHECK_MSG(0, "%s case %zu (template %s, gen %d, cont %d):\n  want \"%s\"\n  got  \"%s\"", name, i, tname,
                      gen, cont, want, out.data ? out.data : "");
        }
        /* the rendered text tokenizes to transformers' ids (no BOS added: the template has it) */
        int32_t *ids = NULL;
        size_t nid = 0;
        CHECK(pd_tokenizer_encode(t, out.data ? out.data : "", out.len, 0, &ids, &nid, &err) == 0);
        json_t *wid = json_object_get(c, "ids");
        int same = nid == json_array_size(wid);
        for (size_t k = 0; same && k < nid; k++) same = ids[k] == json_integer_value(json_array_get(wid, k));
        CHECK_MSG(same, "%s case %zu: ids of the rendering differ", name, i);
        free(ids);
        pd_buf_free(&out);
    }
    CHECK(n_cont > 0 && n_sys > 0 && n_gen > 0);
    pd_error err = {0};
    CHECK(pd_tokenizer_set_chat_template(t, config_template, &err) == 0);
    free(config_template);
    json_decref(root);
}

static void t_chat_llama3(void) { check_chat_fixture("llama3", PD_CHAT_LLAMA3); }
static void t_chat_qwen2(void) { check_chat_fixture("qwen2", PD_CHAT_CHATML); }
static void t_chat_r1(void) { check_chat_fixture("r1", PD_CHAT_DEEPSEEK_R1); }

/* Renders msgs with tokenizer t into a static buffer ("" on error). */
static const char *render(const pd_tokenizer *t, const pd_chat_msg *m, size_t n, int gen, int cont) {
    static char buf[4096];
    pd_buf out = {0};
    pd_error err = {0};
    buf[0] = 0;
    if (pd_chat_render(t, m, n, gen, cont, &out, &err) == 0) snprintf(buf, sizeof buf, "%s", out.data ? out.data : "");
    else snprintf(buf, sizeof buf, "ERROR %s", err.msg);
    pd_buf_free(&out);
    return buf;
}

/* Continuing keeps the partial message byte for byte: trailing blank lines, leading
 * spaces and (R1) the </think> block are not trimmed away. */
static void t_continue_exact(void) {
    pd_tokenizer *q = load_shared("qwen2.5-0.5b-instruct"), *l = load_shared("llama-3.2-1b-instruct"),
                 *r = load_shared("deepseek-r1-distill-qwen-1.5b");
    if (!q || !l || !r) {
        SKIP("shared tokenizers absent");
    }
    pd_chat_msg m[2] = {{"user", "Q?"}, {"assistant", "  <think>\nStep 1: a.</think>\n\nStep 2: b.\n\n"}};
    const char *s = render(q, m, 2, 0, 1);
    CHECK_STR(s, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n  <think>\nStep 1: a.</think>\n\nStep 2: b.\n\n");
    s = render(r, m, 2, 0, 1);
    CHECK_STR(s, "<｜begin▁of▁sentence｜><｜User｜>Q?<｜Assistant｜>  <think>\nStep 1: a.</think>\n\nStep 2: b.\n\n");
    s = render(l, m, 2, 0, 1);
    const char *tail = "<|start_header_id|>assistant<|end_header_id|>\n\n  <think>\nStep 1: a.</think>\n\nStep 2: b.\n\n";
    CHECK(strlen(s) > strlen(tail) && strcmp(s + strlen(s) - strlen(tail), tail) == 0);
    /* a finished assistant turn in the history is cut at </think> by R1's template */
    pd_chat_msg h[3] = {{"user", "Q?"}, {"assistant", "<think>x</think>A."}, {"user", "More?"}};
    CHECK_STR(render(r, h, 3, 1, 0), "<｜begin▁of▁sentence｜><｜User｜>Q?<｜Assistant｜>A.<｜end▁of▁sentence｜><｜User｜>More?<｜Assistant｜>");
    /* misuse is an error, not a rendering */
    CHECK(strncmp(render(q, m, 2, 1, 1), "ERROR", 5) == 0);
    CHECK(strncmp(render(q, m, 1, 0, 1), "ERROR", 5) == 0);
    pd_chat_msg tool[1] = {{"tool", "x"}};
    CHECK(strncmp(render(q, tool, 1, 1, 0), "ERROR", 5) == 0);
}

/* Llama's "Today Date" defaults to today's local date, as transformers' strftime_now. */
static void t_llama_today(void) {
    pd_tokenizer *l = load_shared("llama-3.2-1b-instruct");
    if (!l) SKIP("shared tokenizer absent");
    pd_chat_msg m[1] = {{"user", "Hi"}};
    char want[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    static const char *mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(want, sizeof want, "Today Date: %02d %s %d\n", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900);
    CHECK_MSG(strstr(render(l, m, 1, 1, 0), want) != NULL, "no \"%s\" in the header", want);
    /* a template without strftime_now (Llama 3.1's) falls back to its own fixed date */
    char *saved = strdup(pd_tokenizer_chat_template(l));
    pd_error err = {0};
    CHECK(pd_tokenizer_set_chat_template(l, "{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = "
                                            "\"03 Feb 2031\" %}{%- endif %}{{- \"<|start_header_id|>system<|end_header_id|>"
                                            "\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- \"Today Date: \" "
                                            "+ date_string + \"\\n\\n\" }}{{- \"<|eot_id|>\" }}", &err) == 0);
    CHECK_EQ_INT(pd_tokenizer_chat_family(l), PD_CHAT_LLAMA3);
    CHECK_MSG(strstr(render(l, m, 1, 1, 0), "Today Date: 03 Feb 2031\n") != NULL, "%s", render(l, m, 1, 1, 0));
    CHECK(pd_tokenizer_set_chat_template(l, saved, &err) == 0);
    free(saved);
}

/* Templates: recognised families, and clear errors for others. */
static void t_recognise(void) {
    pd_tokenizer *q = load_shared("qwen2.5-0.5b-instruct");
    if (!q) SKIP("shared tokenizer absent");
    char *saved = strdup(pd_tokenizer_chat_template(q));
    pd_error err = {0};
    pd_chat_msg m[1] = {{"user", "Hi"}};
    /* plain ChatML without a default system prompt */
    CHECK(pd_tokenizer_set_chat_template(q, "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                                            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
                                            "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}", &err) == 0);
    CHECK_EQ_INT(pd_tokenizer_chat_family(q), PD_CHAT_CHATML);
    CHECK_STR(render(q, m, 1, 1, 0), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    /* Qwen2-style default system prompt */
    CHECK(pd_tokenizer_set_chat_template(q, "{% for message in messages %}{% if loop.first and messages[0]['role'] != "
                                            "'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
                                            "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                                            "'<|im_end|>' + '\\n'}}{% endfor %}", &err) == 0);
    CHECK_STR(render(q, m, 1, 0, 0), "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    /* Qwen2.5-Math's default system prompt: a string literal holding an escaped backslash
     * and braces ("\\boxed{}" renders as "\boxed{}", as transformers renders it) */
    CHECK(pd_tokenizer_set_chat_template(q, "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                                            "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\n"
                                            "Reason, put the answer in \\\\boxed{}, don\\'t stop.<|im_end|>\\n' }}{%- endif %}"
                                            "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + "
                                            "message.content + '<|im_end|>' + '\\n' }}{%- endfor %}", &err) == 0);
    CHECK_EQ_INT(pd_tokenizer_chat_family(q), PD_CHAT_CHATML);
    CHECK_STR(render(q, m, 1, 0, 0), "<|im_start|>system\nReason, put the answer in \\boxed{}, don't stop.<|im_end|>\n"
                                     "<|im_start|>user\nHi<|im_end|>\n");
    /* unrecognised: a clear error naming the problem */
    CHECK(pd_tokenizer_set_chat_template(q, "{{ messages[0]['content'] }}</s>", &err) == 0);
    CHECK_EQ_INT(pd_tokenizer_chat_family(q), PD_CHAT_NONE);
    pd_buf out = {0};
    CHECK(pd_chat_render(q, m, 1, 1, 0, &out, &err) == PD_EUNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "unrecognised chat template") != NULL, "%s", err.msg);
    /* a ChatML template with <think> handling (Qwen3-like) is not silently rendered */
    CHECK(pd_tokenizer_set_chat_template(q, "<|im_start|>{{ '<think>\\n' }}<|im_end|>", &err) == 0);
    CHECK_EQ_INT(pd_tokenizer_chat_family(q), PD_CHAT_NONE);
    /* no template at all */
    CHECK(pd_tokenizer_set_chat_template(q, NULL, &err) == 0);
    CHECK(pd_chat_render(q, m, 1, 1, 0, &out, &err) == PD_EUNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "no chat template") != NULL, "%s", err.msg);
    pd_buf_free(&out);
    CHECK(pd_tokenizer_set_chat_template(q, saved, &err) == 0);
    free(saved);
}

int main(void) {
    RUN(t_chat_llama3);
    RUN(t_chat_qwen2);
    RUN(t_chat_r1);
    RUN(t_continue_exact);
    RUN(t_llama_today);
    RUN(t_recognise);
    free_loaded();
    return test_done();
}
