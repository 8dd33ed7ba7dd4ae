/* ponder/quantize.h — write a Hugging Face model directory as a GGUF file, quantized
 * (`ponder quantize`; src/model/gguf_convert.c).
 *
 *     pd_quantize_opts o = {.type = "q8_0"};
 *     pd_quantize_result r;
 *     if (pd_model_quantize("Qwen2.5-0.5B-Instruct", "qwen-q8_0.gguf", &o, &r, &err)) ...
 *
 * The input is a causal LM directory (LlamaForCausalLM, MistralForCausalLM, written as llama
 * with its context capped at the sliding window, or Qwen2ForCausalLM: config.json, safetensors
 * in bf16/f16/f32, a byte-level BPE or SentencePiece-style tokenizer.json, tokenizer_config.json); the
 * output is a GGUF v3 file as llama.cpp's converter and llama-quantize write it (tensor names,
 * metadata keys, Llama's Q/K row order), which ponder and llama.cpp read. The file is written
 * beside the target and renamed into place only after ponder has read it back (weights, and a
 * tokenizer that tokenizes a check text exactly as tokenizer.json does), so a failure never
 * leaves a partial file. */
#ifndef PONDER_QUANTIZE_H
#define PONDER_QUANTIZE_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_quantize_opts {
    /* f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m (also q4_k), q5_k_s,
     * q5_k_m (also q5_k), q6_k: llama-quantize's file types (case does not matter) */
    const char *type;
    int n_threads;            /* 0: one per online CPU (at most 64); the bytes never depend on it */
    const char *name;         /* general.name: its last '/' component (NULL: the directory's) */
    /* Called after each tensor (optional): tensors done of total, the tensor written. */
    void (*progress)(void *user, size_t done, size_t total, const char *tensor);
    void *user;
} pd_quantize_opts;

typedef struct pd_quantize_result {
    size_t n_tensors;
    uint64_t file_bytes;
    size_t n_params;
    char types[256];          /* tensors per type, e.g. "Q8_0 169, F32 121" */
} pd_quantize_result;

/* Write model directory in_dir as the GGUF file out_path. result may be NULL. Errors name
 * what and where: a missing directory or file, an architecture or tokenizer that GGUF cannot
 * hold here, an unknown type, an output that cannot be written. */
int pd_model_quantize(const char *in_dir, const char *out_path, const pd_quantize_opts *opts,
                      pd_quantize_result *result, pd_error *err);
/* The type names pd_model_quantize takes, comma-separated (for help and messages). */
const char *pd_quantize_type_names(void);

#ifdef __cplusplus
}
#endif
#endif
