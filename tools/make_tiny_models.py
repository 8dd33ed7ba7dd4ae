#!/usr/bin/env python3
"""make_tiny_models.py — random-weight tiny models + reference logits for the forward-pass tests.

Writes tests/fixtures/models/<name>/ for every architecture variant the embedded engine
supports: config.json, model.safetensors (or shards + model.safetensors.index.json),
generation_config.json, and reference.json holding logits computed by Hugging Face
transformers (eager attention, float32 arithmetic) for a few prompts at every position.

For bf16/f16 models, "logits" are computed by transformers on the stored low-precision
weights upcast to float32 (what the C engine computes: fp32 activations, weights
converted on the fly), and "native_logits" by transformers running natively in the low
precision (bf16/f16 activations too) for the last position, which the tests compare with a
looser, documented tolerance.

"greedy_ids" are 12 greedy (argmax) tokens after the first prompt computed by recomputing
the whole sequence each step in float32 (EOS ignored).

Weights are drawn from a seeded normal distribution with larger scales than the usual
init so that logits spread over several units and a wrong formula shows.

Usage: /work/venv/bin/python tools/make_tiny_models.py [--out tests/fixtures/models]
       /work/venv/bin/python tools/make_tiny_models.py --bench-model build/bench-model-100m
The second form writes one ~100M-parameter Llama-shaped bf16 model (no reference) for
`ponder bench`; it is not committed.
"""
import argparse
import json
import math
import os
import shutil

import torch
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

PROMPTS = [[1, 17, 203, 5, 99, 42, 7, 250, 3], [1, 64, 9, 130], [1]]
N_GREEDY = 12

COMMON = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              vocab_size=256, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)

# name -> (model class, config class, config kwargs, dtype, config style, shard size)
VARIANTS = {
    "llama_f32": (LlamaForCausalLM, LlamaConfig,
                  dict(num_key_value_heads=2, tie_word_embeddings=False), torch.float32, "v5", None),
    "llama_tied_gqa4_hd16_f32": (LlamaForCausalLM, LlamaConfig,
                                 dict(num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
                                      rope_theta=20000.0), torch.float32, "v4", None),
    "llama3_rope_f32": (LlamaForCausalLM, LlamaConfig,
                        dict(num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=64,
                             rope_theta=500000.0,
                             rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                               high_freq_factor=4.0, original_max_position_embeddings=16)),
                        torch.float32, "v4", None),
    "qwen2_bias_f32": (Qwen2ForCausalLM, Qwen2Config,
                       dict(num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1000000.0),
                       torch.float32, "v4", None),
    "mistral_swa_f32": (MistralForCausalLM, MistralConfig,
                        dict(num_key_value_heads=4, tie_word_embeddings=False, sliding_window=4),
                        torch.float32, "v5", None),
    "llama_bf16": (LlamaForCausalLM, LlamaConfig,
                   dict(num_key_value_heads=2, tie_word_embeddings=False), torch.bfloat16, "v4", None),
    "qwen2_bias_bf16": (Qwen2ForCausalLM, Qwen2Config,
                        dict(num_key_value_heads=1, tie_word_embeddings=True), torch.bfloat16, "v5", None),
    "mistral_f16": (MistralForCausalLM, MistralConfig,
                    dict(num_key_value_heads=2, tie_word_embeddings=False, sliding_window=None),
                    torch.float16, "v4", None),
    "llama_sharded_bf16": (LlamaForCausalLM, LlamaConfig,
                           dict(num_key_value_heads=2, tie_word_embeddings=False), torch.bfloat16, "v5",
                           "20KB"),
    "llama_attn_bias_f32": (LlamaForCausalLM, LlamaConfig,
                            dict(num_key_value_heads=2, tie_word_embeddings=False, attention_bias=True),
                            torch.float32, "v4", None),
}


def randomize(model, seed):
    """Overwrite every parameter with seeded random values of a useful scale."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.3 * torch.randn(p.shape, generator=g)
            elif "embed_tokens" in name:
                v = torch.randn(p.shape, generator=g)
            else:
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1])
            p.copy_(v.to(p.dtype))


def to_v4_style(path):
    """Rewrite config.json the way most hub checkpoints spell rope: rope_theta + rope_scaling."""
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rp.pop("rope_theta", 10000.0)
    rtype = rp.get("rope_type", "default")
    cfg["rope_scaling"] = None if rtype == "default" else rp
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def rounded(t):
    return [float("%.7g" % x) for x in t.tolist()]


@torch.no_grad()
def all_logits(model, ids):
    out = model(torch.tensor([ids]), use_cache=False).logits[0].float()
    return [rounded(row) for row in out]


def make_variant(out_dir, name, spec, seed):
    cls, cfg_cls, kw, dtype, style, shard = spec
    args = dict(COMMON)
    args.update(kw)
    cfg = cfg_cls(**args)
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    randomize(model, seed)
    model = model.to(dtype)
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, max_shard_size=shard) if shard else model.save_pretrained(d)
    if style == "v4":
        to_v4_style(os.path.join(d, "config.json"))
    if name == "llama_bf16":  # EOS as a list in generation_config.json, as Llama 3 ships it
        gp = os.path.join(d, "generation_config.json")
        with open(gp) as f:
            gc = json.load(f)
        gc["eos_token_id"] = [2, 7]
        with open(gp, "w") as f:
            json.dump(gc, f, indent=2)

    # References come from the saved directory, loaded the way users load it (from_pretrained
    # keeps the RoPE buffers in float32; casting a live model would round them to bf16).
    ref = dict(model=name, dtype=str(dtype).replace("torch.", ""), prompts=PROMPTS)
    m32 = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ref["logits"] = [all_logits(m32, p) for p in PROMPTS]
    if dtype != torch.float32:
        native = cls.from_pretrained(d, dtype=dtype, attn_implementation="eager").eval()
        ref["native_logits_last"] = [all_logits(native, p)[-1] for p in PROMPTS]
    seq = list(PROMPTS[0])
    greedy = []
    for _ in range(N_GREEDY):
        nxt = int(torch.tensor(all_logits(m32, seq)[-1]).argmax())
        greedy.append(nxt)
        seq.append(nxt)
    ref["greedy_prompt"] = PROMPTS[0]
    ref["greedy_ids"] = greedy
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(name, sum(p.numel() for p in model.parameters()), "params")


def make_bench_model(path):
    """A ~100M-parameter Llama-shaped bf16 model with random weights (no reference)."""
    cfg = LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                      num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=True,
                      max_position_embeddings=2048, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(path)
    print(path, sum(p.numel() for p in model.parameters()), "params")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/models")
    ap.add_argument("--bench-model", default=None)
    a = ap.parse_args()
    if a.bench_model:
        make_bench_model(a.bench_model)
        return
    os.makedirs(a.out, exist_ok=True)
    for i, (name, spec) in enumerate(VARIANTS.items()):
        make_variant(a.out, name, spec, 1000 + i)


if __name__ == "__main__":
    main()
