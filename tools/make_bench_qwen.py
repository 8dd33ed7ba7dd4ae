#!/usr/bin/env python3
"""make_bench_qwen.py — a random-weight model with Qwen2.5-0.5B's exact shape, for engine benchmarks.

Writes, under OUT (default build/bench-qwen0.5b, not committed):
  OUT/hf/          Hugging Face directory (config.json from ../shared/tokenizers/qwen2.5-0.5b-instruct,
                   bf16 model.safetensors, the real Qwen2.5 tokenizer.json) — what `ponder bench` reads;
  OUT/bf16.gguf    the same weights as GGUF, bf16 — what llama.cpp reads;
  OUT/f16.gguf     the same weights as GGUF, f16 (llama.cpp's fastest unquantized CPU path).
The GGUF files are written by llama.cpp's own converter (convert_hf_to_gguf.py, which uses the
`gguf` package) from the llama.cpp source tree given by --llama-src, so that llama.cpp reads
exactly the tensors and metadata it expects. Speed does not depend on the weights' values, so
they are transformers' default random init (seed 0); the tokenizer is real so that llama.cpp
accepts the file.

Usage: ~/ponder-venv/bin/python tools/make_bench_qwen.py [--out build/bench-qwen0.5b]
                                                         [--llama-src build/llama.cpp/src]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tokenizers",
                      "qwen2.5-0.5b-instruct")


def make_hf(out):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        with open(os.path.join(SHARED, "config.json")) as f:
            cfg = json.load(f)
        cfg["torch_dtype"] = "bfloat16"
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(Qwen2Config(**cfg)).to(torch.bfloat16)
        model.save_pretrained(out)
        print(out, sum(p.numel() for p in model.parameters()), "parameters")
    shutil.copy(os.path.join(SHARED, "tokenizer.json"), out)
    # a minimal tokenizer_config.json with Qwen2.5's chat template (the converter loads the
    # tokenizer through transformers; ponder's search renders prompts with the template)
    with open(os.path.join(SHARED, "chat_template.jinja")) as f:
        template = f.read()
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "model_max_length": 32768, "chat_template": template}, f)


def make_gguf(hf, out, outtype, llama_src):
    if os.path.exists(out):
        return
    # The converter tries SentencePiece first and needs the sentencepiece module only to find
    # that there is no tokenizer.model; Qwen2.5 is byte-level BPE, so go straight to that path.
    script = f"""
import sys
sys.path[:0] = [{llama_src!r}, {os.path.join(llama_src, "gguf-py")!r}]
import conversion.base as base
def no_spm(self, *a, **k):
    raise FileNotFoundError("not a SentencePiece model")
base.TextModel._set_vocab_sentencepiece = no_spm
import convert_hf_to_gguf as conv
sys.argv = ["convert_hf_to_gguf.py", {hf!r}, "--outfile", {out!r}, "--outtype", {outtype!r}]
conv.main()
"""
    subprocess.run([sys.executable, "-c", script], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="build/bench-qwen0.5b")
    ap.add_argument("--llama-src", default="build/llama.cpp/src")
    a = ap.parse_args()
    hf = os.path.join(a.out, "hf")
    os.makedirs(hf, exist_ok=True)
    make_hf(hf)
    for t in ("bf16", "f16"):
        make_gguf(hf, os.path.join(a.out, t + ".gguf"), t, a.llama_src)


if __name__ == "__main__":
    main()
