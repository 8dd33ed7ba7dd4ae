/* ponder/tokenizer.h — tokenizer.json BPE (byte-level: Llama 3, Qwen2, DeepSeek;
 * SentencePiece-style: Llama 2, Mistral) and chat templates
 * (src/model/tokenizer_load.c, tokenizer.c, chat.c).
 *
 * Exact parity with Hugging Face `tokenizers` is the contract. A loaded tokenizer is
 * immutable (except pd_tokenizer_set_chat_template) and may be shared between threads.
 * Text given to encode must be valid UTF-8. To tokenize a rendered chat, encode with
 * add_special = 0: the templates already write the BOS token where the model wants it. */
#ifndef PONDER_TOKENIZER_H
#define PONDER_TOKENIZER_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_tokenizer pd_tokenizer;

/* Load from a model directory (tokenizer.json, and tokenizer_config.json when present),
 * from a path to a tokenizer.json file, or from a GGUF file (its tokenizer.ggml.* metadata:
 * gpt2 byte-level BPE or llama SentencePiece BPE, and tokenizer.chat_template). */
pd_tokenizer *pd_tokenizer_load(const char *path, pd_error *err);
/* Load from memory: tokenizer.json text and optionally tokenizer_config.json text
 * (config_json may be NULL). name is used in error messages. */
pd_tokenizer *pd_tokenizer_load_json(const char *json, size_t len, const char *config_json, size_t config_len,
                                     const char *name, pd_error *err);
void pd_tokenizer_free(pd_tokenizer *tok);

/* Encode text (len bytes) into *ids (malloc'd, *n_ids entries). add_special: apply the
 * post-processor (e.g. BOS). Special/added tokens in the text are matched as tokens. */
int pd_tokenizer_encode(const pd_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n_ids, pd_error *err);
/* Decode ids to text (malloc'd, NUL-terminated). skip_special: drop special tokens. Ids
 * with no token are skipped (as tokenizers does); invalid UTF-8 becomes U+FFFD. */
int pd_tokenizer_decode(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                        char **text, pd_error *err);
/* Same, appending to out (out->len tells the length, for text that holds NUL bytes). */
int pd_tokenizer_decode_buf(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                            pd_buf *out, pd_error *err);

/* Incremental decoding: feed ids one at a time; emits only text that later ids cannot change
 * (complete UTF-8 characters; with SentencePiece-style tokenizers, whole runs of byte-fallback
 * "<0xNN>" tokens, which tokenizers decodes as one). Pushing every id and flushing gives
 * exactly pd_tokenizer_decode's text. The fields are private, except n_pending (bytes held
 * back). */
typedef struct pd_detok {
    const pd_tokenizer *tok;
    unsigned char pending[8];
    int n_pending;
    int skip_special;
    /* SentencePiece-style tokenizers */
    size_t n_tokens;           /* tokens decoded so far */
    size_t strip_left;         /* leading characters the decoder's Strip may still remove */
    size_t n_run;              /* bytes in the current byte-fallback run */
    int run_bad;               /* that run is not valid UTF-8: each of its bytes is U+FFFD */
    unsigned char *run;        /* the run when longer than pending (malloc'd; freed when the
                                * run ends, at flush or by pd_detok_free) */
    size_t run_cap;
} pd_detok;
void pd_detok_init(pd_detok *d, const pd_tokenizer *tok, int skip_special);
/* Append the text that token `id` completes to out. */
int pd_detok_push(pd_detok *d, int32_t id, pd_buf *out);
/* Flush what is pending (invalid bytes become U+FFFD). */
int pd_detok_flush(pd_detok *d, pd_buf *out);
/* Drop what is pending without emitting it and free what the decoder holds (only a long
 * byte-fallback run allocates; flushing frees it too). The decoder may be initialised again. */
void pd_detok_free(pd_detok *d);

size_t pd_tokenizer_vocab_size(const pd_tokenizer *tok);
/* Id of a token string, or -1. */
int32_t pd_tokenizer_token_id(const pd_tokenizer *tok, const char *token);
/* Token string of an id (its vocabulary form), or NULL. */
const char *pd_tokenizer_token_str(const pd_tokenizer *tok, int32_t id);
/* The raw bytes an id decodes to (not NUL-terminated; may be part of a UTF-8 character).
 * SentencePiece-style: "▁" as a space, a "<0xNN>" token as its byte, the decoder's strip of
 * the text's leading space not applied. Returns 0, or PD_ENOTFOUND for an id with no token. */
int pd_tokenizer_token_bytes(const pd_tokenizer *tok, int32_t id, const char **bytes, size_t *len);
int pd_tokenizer_is_special(const pd_tokenizer *tok, int32_t id);
int32_t pd_tokenizer_bos_id(const pd_tokenizer *tok); /* -1 when none */
int32_t pd_tokenizer_eos_id(const pd_tokenizer *tok); /* from tokenizer_config.json, -1 when none */
/* size_t pd_tokenizer_vocab_size: max id + 1 (added tokens included). */

/* ---- chat templates ---- */
typedef enum pd_chat_family {
    PD_CHAT_NONE = 0,
    PD_CHAT_LLAMA3,   /* Llama 3.x <|start_header_id|> ... */
    PD_CHAT_CHATML,   /* Qwen2 / Qwen2.5 <|im_start|> ... */
    PD_CHAT_DEEPSEEK_R1, /* DeepSeek-R1 distills <｜User｜> ... */
} pd_chat_family;

typedef struct pd_chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} pd_chat_msg;

/* The family recognised from tokenizer_config.json's chat_template (PD_CHAT_NONE when the
 * model has no template or an unrecognised one). */
pd_chat_family pd_tokenizer_chat_family(const pd_tokenizer *tok);

/* Render messages with the model's template into out (appended).
 * add_generation_prompt: end with the assistant header. continue_final: the last message
 * is a partial assistant message to be continued exactly (nothing trimmed, no end tag).
 * Fails with a clear error when the template is not recognised. */
int pd_chat_render(const pd_tokenizer *tok, const pd_chat_msg *msgs, size_t n_msgs,
                   int add_generation_prompt, int continue_final, pd_buf *out, pd_error *err);

/* Options of pd_chat_render_opts (zero-initialise). */
typedef struct pd_chat_opts {
    /* Llama 3.1+ "Today Date: ..." line, e.g. "26 Jul 2024". NULL: what transformers
     * renders: today's local date for templates that call strftime_now (3.2), else the
     * template's fixed default (3.1: "26 Jul 2024"). Pin it for reproducible prompts. */
    const char *date_string;
} pd_chat_opts;
/* pd_chat_render with options (opts may be NULL). Roles: system, user, assistant.
 * continue_final needs the last message to be the assistant's; its content is written
 * exactly after the assistant header (this differs from transformers, which trims it). */
int pd_chat_render_opts(const pd_tokenizer *tok, const pd_chat_msg *msgs, size_t n_msgs,
                        int add_generation_prompt, int continue_final, const pd_chat_opts *opts,
                        pd_buf *out, pd_error *err);
/* The chat template text the family was recognised from (NULL when none). */
const char *pd_tokenizer_chat_template(const pd_tokenizer *tok);
/* Replace the chat template (e.g. one given on the command line; NULL removes it) and
 * recognise its family again. Not thread-safe against concurrent renders. */
int pd_tokenizer_set_chat_template(pd_tokenizer *tok, const char *tmpl, pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
