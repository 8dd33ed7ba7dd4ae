/* ponder/tokenizer.h — tokenizer.json byte-level BPE and chat templates (src/model/tokenizer.c, chat.c).
 *
 * Exact parity with Hugging Face `tokenizers` is the contract. */
#ifndef PONDER_TOKENIZER_H
#define PONDER_TOKENIZER_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_tokenizer pd_tokenizer;

/* Load from a model directory (tokenizer.json, and tokenizer_config.json when present) or
 * from a path to a tokenizer.json file. */
pd_tokenizer *pd_tokenizer_load(const char *path, pd_error *err);
void pd_tokenizer_free(pd_tokenizer *tok);

/* Encode text (len bytes) into *ids (malloc'd, *n_ids entries). add_special: apply the
 * post-processor (e.g. BOS). Special/added tokens in the text are matched as tokens. */
int pd_tokenizer_encode(const pd_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n_ids, pd_error *err);
/* Decode ids to text (malloc'd, NUL-terminated). skip_special: drop special tokens. */
int pd_tokenizer_decode(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                        char **text, pd_error *err);

/* Incremental decoding: feed ids one at a time; emits only complete UTF-8 characters. */
typedef struct pd_detok {
    const pd_tokenizer *tok;
    unsigned char pending[8];
    int n_pending;
    int skip_special;
} pd_detok;
void pd_detok_init(pd_detok *d, const pd_tokenizer *tok, int skip_special);
/* Append the text that token `id` completes to out. */
int pd_detok_push(pd_detok *d, int32_t id, pd_buf *out);
/* Flush what is pending (invalid bytes become U+FFFD). */
int pd_detok_flush(pd_detok *d, pd_buf *out);

size_t pd_tokenizer_vocab_size(const pd_tokenizer *tok);
/* Id of a token string, or -1. */
int32_t pd_tokenizer_token_id(const pd_tokenizer *tok, const char *token);
/* Token string of an id (its vocabulary form), or NULL. */
const char *pd_tokenizer_token_str(const pd_tokenizer *tok, int32_t id);
int pd_tokenizer_is_special(const pd_tokenizer *tok, int32_t id);
int32_t pd_tokenizer_bos_id(const pd_tokenizer *tok); /* -1 when none */
int32_t pd_tokenizer_eos_id(const pd_tokenizer *tok); /* from tokenizer_config.json, -1 when none */

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

#ifdef __cplusplus
}
#endif
#endif
