/* gguf_convert.h — the parts of `ponder quantize` (gguf_convert.c) that tests call apart. */
#ifndef PD_MODEL_GGUF_CONVERT_H
#define PD_MODEL_GGUF_CONVERT_H

#include "model/gguf_write.h"
#include "ponder/tokenizer.h"

/* Add tokenizer.ggml.* and tokenizer.chat_template to g for tok, the tokenizer loaded from
 * model directory dir (its tokenizer.json is read again for a byte-level pre-tokenizer's Split
 * regex, tokenizer_config.json for the pad token), with vocab_size ids (at least the
 * tokenizer's); bos_id / eos_id (-1: none) stand in where the tokenizer has none. Byte-level
 * BPE is written as model gpt2, a SentencePiece-style tokenizer (Llama 2, Mistral) as model
 * llama. Returns 0 or an error naming the file and what GGUF cannot hold (a pre-tokenizer
 * tokenizer.ggml.pre cannot name; a Metaspace pre-tokenizer or another SentencePiece layout
 * than Llama 2's). */
int pd_gguf_put_tokenizer(pd_gguf_writer *g, const char *dir, const pd_tokenizer *tok, int vocab_size, int bos_id, int eos_id,
                          pd_error *err);

#endif
