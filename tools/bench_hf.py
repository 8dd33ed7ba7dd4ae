#!/usr/bin/env python3
"""bench_hf.py — the peer figure for `ponder bench`: Hugging Face transformers on the same model.

Measures what `ponder bench` measures, the same way: a fixed-seed random prompt of
--prompt-tokens ids, one untimed warm-up forward, one timed prefill (prompt tokens/s), then
--gen-tokens greedy decode steps with the KV cache (generation tokens/s), batch 1, on the CPU
with --threads torch threads.

Usage: /work/venv/bin/python tools/bench_hf.py --model build/bench-llama-100m \
           [--prompt-tokens 128] [--gen-tokens 64] [--threads 2] [--dtype bfloat16|float32]
"""
import argparse
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, vocab, (1, a.prompt_tokens), generator=g)
    with torch.no_grad():
        model(ids[:, :8])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        out = model(ids, use_cache=True)
        t_prompt, c_prompt = time.perf_counter() - t0, time.process_time() - c0
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.gen_tokens):
            out = model(nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0
    print(f"transformers {a.dtype}, {a.threads} threads: {a.model}")
    print(f"prompt:     {a.prompt_tokens:6d} tokens in {t_prompt:8.3f} s = {a.prompt_tokens / t_prompt:9.1f} tokens/s "
          f"({a.prompt_tokens / c_prompt:.1f} per CPU second)")
    if a.gen_tokens:
        print(f"generation: {a.gen_tokens:6d} tokens in {t_gen:8.3f} s = {a.gen_tokens / t_gen:9.1f} tokens/s "
              f"({a.gen_tokens / c_gen:.1f} per CPU second)")


if __name__ == "__main__":
    main()
