/* tokenizer.c — placeholder until the tokenizer.json BPE lands (issue 4). */
#include "ponder/tokenizer.h"

#include <stdlib.h>

pd_tokenizer *pd_tokenizer_load(const char *path, pd_error *err) {
    pd_err_set(err, PD_EUNSUPPORTED, "%s: tokenizer not implemented yet", path);
    return NULL;
}
void pd_tokenizer_free(pd_tokenizer *tok) { (void)tok; }
int pd_tokenizer_encode(const pd_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n_ids, pd_error *err) {
    return pd_err_set(err, PD_EUNSUPPORTED, "tokenizer not implemented yet");
}
int pd_tokenizer_decode(const pd_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                        char **text, pd_error *err) {
    return pd_err_set(err, PD_EUNSUPPORTED, "tokenizer not implemented yet");
}
void pd_detok_init(pd_detok *d, const pd_tokenizer *tok, int skip_special) {
    d->tok = tok;
    d->n_pending = 0;
    d->skip_special = skip_special;
}
int pd_detok_push(pd_detok *d, int32_t id, pd_buf *out) { return PD_EUNSUPPORTED; }
int pd_detok_flush(pd_detok *d, pd_buf *out) { return PD_EUNSUPPORTED; }
size_t pd_tokenizer_vocab_size(const pd_tokenizer *tok) { return 0; }
int32_t pd_tokenizer_token_id(const pd_tokenizer *tok, const char *token) { return -1; }
const char *pd_tokenizer_token_str(const pd_tokenizer *tok, int32_t id) { return NULL; }
int pd_tokenizer_is_special(const pd_tokenizer *tok, int32_t id) { return 0; }
int32_t pd_tokenizer_bos_id(const pd_tokenizer *tok) { return -1; }
int32_t pd_tokenizer_eos_id(const pd_tokenizer *tok) { return -1; }
pd_chat_family pd_tokenizer_chat_family(const pd_tokenizer *tok) { return PD_CHAT_NONE; }
int pd_chat_render(const pd_tokenizer *tok, const pd_chat_msg *msgs, size_t n_msgs,
                   int add_generation_prompt, int continue_final, pd_buf *out, pd_error *err) {
    return pd_err_set(err, PD_EUNSUPPORTED, "chat templates not implemented yet");
}
