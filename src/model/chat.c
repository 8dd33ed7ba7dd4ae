/* chat.c — built-in renderers for the chat templates of the supported model families.
 *
 * Models ship their chat template as Jinja in tokenizer_config.json. Rather than embed a
 * Jinja interpreter, ponder recognises the template's family from distinctive strings and
 * renders it with a small C function per family, reproducing what transformers'
 * apply_chat_template prints for plain system/user/assistant conversations (no tools):
 *
 *   Llama 3.x   bos + (3.1+: a system header "Cutting Knowledge Date: December 2023\n
 *               Today Date: DD Mon YYYY\n\n" followed by the first system message) + one
 *               "<|start_header_id|>role<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>"
 *               per message; Today Date is the local date (transformers' strftime_now) unless
 *               pd_chat_opts gives one, or the template's fixed default when it does not call
 *               strftime_now (Llama 3.1: "26 Jul 2024").
 *   ChatML      Qwen2 / Qwen2.5: the default system prompt written in the template (read out
 *               of it) when the conversation has none, then "<|im_start|>role\ncontent
 *               <|im_end|>\n" per message.
 *   DeepSeek-R1 bos + the last system message + "<｜User｜>content" / "<｜Assistant｜>" +
 *               content after its last "</think>" + "<｜end▁of▁sentence｜>"; the generation
 *               prompt is "<｜Assistant｜>" plus whatever the template variant adds
 *               ("<think>\n" in later templates).
 *
 * Continuing a partial assistant message (continue_final) is where ponder deliberately
 * differs from transformers: the step-wise search appends generated text to the prompt, so
 * the partial message is written exactly as given after its header — never trimmed (Llama's
 * `trim`), never cut at "</think>" (R1), no end-of-turn tag. For messages without leading
 * or trailing whitespace (and, for R1, without "</think>") the output equals transformers'.
 *
 * Templates with constructs a renderer does not reproduce (e.g. ChatML templates that
 * handle <think> blocks, like Qwen3's) are not recognised: pd_chat_render then fails with
 * the reason, rather than render something the model was not trained on. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- recognition */

void tok_chat_clear(tok_chat *c) {
    free(c->default_system);
    memset(c, 0, sizeof *c);
}

/* Copies the Jinja string literal whose opening quote is at q into a malloc'd string,
 * undoing the escapes Jinja undoes (\n \t \r \\ \' \"; any other backslash is kept, as
 * Python does). Returns NULL when the literal is not closed (or out of memory). */
static char *jinja_literal(const char *q) {
    char quote = *q;
    const char *end = q + 1;
    while (*end && *end != quote) end += end[0] == '\\' && end[1] ? 2 : 1;
    if (!*end) return NULL;
    char *out = malloc((size_t)(end - q));
    if (!out) return NULL;
    size_t n = 0;
    for (const char *p = q + 1; p < end; p++) {
        if (*p == '\\' && p + 1 < end) {
            char e = *++p;
            if (e == 'n') out[n++] = '\n';
            else if (e == 't') out[n++] = '\t';
            else if (e == 'r') out[n++] = '\r';
            else if (e == '\\' || e == '\'' || e == '"') out[n++] = e;
            else out[n++] = '\\', out[n++] = e;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
    return out;
}

/* Reads the literal default system prompt out of a ChatML template: the text between
 * "<|im_start|>system\n" and "<|im_end|>", either inside one Jinja string literal (Qwen2.5:
 * '<|im_start|>system\nYou are Qwen...<|im_end|>\n'; Qwen2.5-Math's holds "\\boxed{}")
 * or as plain template text. Returns a malloc'd unescaped copy, or NULL when the template
 * writes none (e.g. only '<|im_start|>system\n' + messages[0]['content'] + ...). */
static char *chatml_default_system(const char *tmpl) {
    static const char head[] = "<|im_start|>system";
    const size_t hl = sizeof head - 1;
    for (const char *p = strstr(tmpl, head); p; p = strstr(p + 1, head)) {
        if (p > tmpl && (p[-1] == '\'' || p[-1] == '"')) { /* a string literal */
            char *lit = jinja_literal(p - 1);
            char *e = lit && lit[hl] == '\n' ? strstr(lit + hl + 1, "<|im_end|>") : NULL;
            if (!e) {
                free(lit);
                continue;
            }
            *e = 0;
            memmove(lit, lit + hl + 1, (size_t)(e - (lit + hl + 1)) + 1);
            return lit;
        }
        /* plain template text: up to <|im_end|>, with no Jinja in between */
        const char *s = p + hl, *e;
        if (*s++ != '\n' || !(e = strstr(s, "<|im_end|>")) || strcspn(s, "{}") < (size_t)(e - s)) continue;
        char *out = malloc((size_t)(e - s) + 1);
        if (!out) return NULL;
        memcpy(out, s, (size_t)(e - s));
        out[e - s] = 0;
        return out;
    }
    return NULL;
}

void tok_chat_recognise(pd_tokenizer *t) {
    tok_chat *c = &t->chat;
    tok_chat_clear(c);
    const char *s = t->chat_template;
    if (!s) {
        snprintf(c->why, sizeof c->why, "the model has no chat template (no chat_template in tokenizer_config.json)");
        return;
    }
    if (strstr(s, "<|start_header_id|>") && strstr(s, "<|end_header_id|>") && strstr(s, "<|eot_id|>")) {
        c->family = PD_CHAT_LLAMA3;
        c->llama_date_header = strstr(s, "Cutting Knowledge Date") != NULL;
        /* Llama 3.1's template falls back to a fixed date, not today's (3.2 calls strftime_now) */
        const char *d = strstr(s, "set date_string = ");
        if (c->llama_date_header && d && !strstr(s, "strftime_now")) {
            char *lit = (d[18] == '"' || d[18] == '\'') ? jinja_literal(d + 18) : NULL;
            if (lit && strlen(lit) < sizeof c->llama_date) snprintf(c->llama_date, sizeof c->llama_date, "%s", lit);
            free(lit);
        }
        return;
    }
    if (strstr(s, "<｜User｜>") && strstr(s, "<｜Assistant｜>")) {
        c->family = PD_CHAT_DEEPSEEK_R1;
        if (strstr(s, "<｜Assistant｜><think>"))
            c->r1_gen = strstr(s, "enable_thinking") ? "<think>\n</think>" : "<think>\n";
        else
            c->r1_gen = "";
        return;
    }
    if (strstr(s, "<|im_start|>") && strstr(s, "<|im_end|>")) {
        if (strstr(s, "<think>") || strstr(s, "reasoning_content")) {
            snprintf(c->why, sizeof c->why,
                     "unrecognised chat template: a ChatML template with reasoning (<think>) handling is not supported");
            return;
        }
        c->family = PD_CHAT_CHATML;
        c->default_system = chatml_default_system(s);
        return;
    }
    snprintf(c->why, sizeof c->why,
             "unrecognised chat template (not Llama 3.x, ChatML/Qwen2.5 or DeepSeek-R1; starts \"%.40s\")", s);
}

pd_chat_family pd_tokenizer_chat_family(const pd_tokenizer *t) { return t ? t->chat.family : PD_CHAT_NONE; }

const char *pd_tokenizer_chat_template(const pd_tokenizer *t) { return t ? t->chat_template : NULL; }

int pd_tokenizer_set_chat_template(pd_tokenizer *t, const char *tmpl, pd_error *err) {
    char *copy = NULL;
    if (tmpl && !(copy = strdup(tmpl))) return pd_err_set(err, PD_ENOMEM, "out of memory");
    free(t->chat_template);
    t->chat_template = copy;
    tok_chat_recognise(t);
    return 0;
}

/* ---------------------------------------------------------------- rendering helpers */

/* Python's str.isspace for one code point (what Jinja's trim strips). */
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decodes the code point at s[i] (lenient: a stray byte is its own value); sets *len. */
static uint32_t cp_at(const unsigned char *s, size_t n, size_t i, size_t *len) {
    unsigned c = s[i];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + k > n) k = 1;
    uint32_t v = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
    for (size_t j = 1; j < k; j++) v = (v << 6) | (s[i + j] & 0x3F);
    *len = k;
    return v;
}

/* Appends s with leading and trailing Python whitespace removed (Jinja's trim). */
static int put_trimmed(pd_buf *out, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), a = 0, b = n, l;
    while (a < n && py_space(cp_at(s, n, a, &l))) a += l;
    while (b > a) {
        size_t j = b - 1;
        while (j > a && (s[j] & 0xC0) == 0x80) j--;
        if (!py_space(cp_at(s, n, j, &l))) break;
        b = j;
    }
    return pd_buf_append(out, s + a, b - a);
}

/* Today's local date as "%d %b %Y" in English ("05 Mar 2025"). */
static void today(char *buf, size_t size) {
    static const char *mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    snprintf(buf, size, "%02d %s %04d", tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900);
}

/* ---------------------------------------------------------------- renderers */

static int render_llama3(const pd_tokenizer *t, const pd_chat_msg *m, size_t n, int gen, int cont,
                         const pd_chat_opts *o, pd_buf *out) {
    int rc = pd_buf_puts(out, t->bos_token);
    size_t i = 0;
    if (t->chat.llama_date_header) {
        char date[64];
        if (o && o->date_string) snprintf(date, sizeof date, "%s", o->date_string);
        else if (t->chat.llama_date[0]) snprintf(date, sizeof date, "%s", t->chat.llama_date);
        else today(date, sizeof date);
        rc |= pd_buf_puts(out, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n");
        rc |= pd_buf_printf(out, "Today Date: %s\n\n", date);
        if (n > 0 && strcmp(m[0].role, "system") == 0 && !(cont && n == 1)) {
            rc |= put_trimmed(out, m[0].content);
            i = 1;
        }
        rc |= pd_buf_puts(out, "<|eot_id|>");
    }
    for (; i < n; i++) {
        rc |= pd_buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        if (cont && i == n - 1) {
            rc |= pd_buf_puts(out, m[i].content);
        } else {
            rc |= put_trimmed(out, m[i].content);
            rc |= pd_buf_puts(out, "<|eot_id|>");
        }
    }
    if (gen) rc |= pd_buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return rc ? PD_ENOMEM : 0;
}

static int render_chatml(const pd_tokenizer *t, const pd_chat_msg *m, size_t n, int gen, int cont, pd_buf *out) {
    int rc = 0;
    if ((n == 0 || strcmp(m[0].role, "system") != 0) && t->chat.default_system)
        rc |= pd_buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", t->chat.default_system);
    for (size_t i = 0; i < n; i++) {
        rc |= pd_buf_printf(out, "<|im_start|>%s\n", m[i].role);
        rc |= pd_buf_puts(out, m[i].content);
        if (!(cont && i == n - 1)) rc |= pd_buf_puts(out, "<|im_end|>\n");
    }
    if (gen) rc |= pd_buf_puts(out, "<|im_start|>assistant\n");
    return rc ? PD_ENOMEM : 0;
}

static int render_r1(const pd_tokenizer *t, const pd_chat_msg *m, size_t n, int gen, int cont, pd_buf *out) {
    int rc = pd_buf_puts(out, t->bos_token);
    const char *sys = "";
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].role, "system") == 0) sys = m[i].content;
    rc |= pd_buf_puts(out, sys);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].role, "user") == 0) {
            rc |= pd_buf_puts(out, "<｜User｜>");
            rc |= pd_buf_puts(out, m[i].content);
        } else if (strcmp(m[i].role, "assistant") == 0) {
            rc |= pd_buf_puts(out, "<｜Assistant｜>");
            if (cont && i == n - 1) {
                rc |= pd_buf_puts(out, m[i].content);
            } else {
                const char *c = m[i].content, *k;
                while ((k = strstr(c, "</think>"))) c = k + 8; /* content.split('</think>')[-1] */
                rc |= pd_buf_puts(out, c);
                rc |= pd_buf_puts(out, "<｜end▁of▁sentence｜>");
            }
        }
    }
    if (gen) {
        rc |= pd_buf_puts(out, "<｜Assistant｜>");
        rc |= pd_buf_puts(out, t->chat.r1_gen);
    }
    return rc ? PD_ENOMEM : 0;
}

int pd_chat_render_opts(const pd_tokenizer *t, const pd_chat_msg *msgs, size_t n_msgs, int add_generation_prompt,
                        int continue_final, const pd_chat_opts *opts, pd_buf *out, pd_error *err) {
    if (!t || !out || (!msgs && n_msgs)) return pd_err_set(err, PD_EINVAL, "chat: NULL argument");
    if (t->chat.family == PD_CHAT_NONE) return pd_err_set(err, PD_EUNSUPPORTED, "%s: %s", t->path, t->chat.why);
    if (add_generation_prompt && continue_final)
        return pd_err_set(err, PD_EINVAL, "chat: continue_final and add_generation_prompt cannot be used together");
    for (size_t i = 0; i < n_msgs; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content) return pd_err_set(err, PD_EINVAL, "chat: message %zu has no role or content", i);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
            return pd_err_set(err, PD_EUNSUPPORTED, "chat: message %zu has role \"%.40s\" (only system, user, assistant)", i, r);
    }
    if (continue_final && (n_msgs == 0 || strcmp(msgs[n_msgs - 1].role, "assistant") != 0))
        return pd_err_set(err, PD_EINVAL, "chat: continue_final needs a last message with role assistant");
    switch (t->chat.family) {
    case PD_CHAT_LLAMA3: return render_llama3(t, msgs, n_msgs, add_generation_prompt, continue_final, opts, out);
    case PD_CHAT_CHATML: return render_chatml(t, msgs, n_msgs, add_generation_prompt, continue_final, out);
    case PD_CHAT_DEEPSEEK_R1: return render_r1(t, msgs, n_msgs, add_generation_prompt, continue_final, out);
    default: return pd_err_set(err, PD_EUNSUPPORTED, "%s: unknown chat family", t->path);
    }
}

int pd_chat_render(const pd_tokenizer *t, const pd_chat_msg *msgs, size_t n_msgs, int add_generation_prompt,
                   int continue_final, pd_buf *out, pd_error *err) {
    return pd_chat_render_opts(t, msgs, n_msgs, add_generation_prompt, continue_final, NULL, out, err);
}
