#!/bin/sh
# bench_engine.sh — the embedded engine's figures for docs/PERFORMANCE.md, with the peer
# (Hugging Face transformers on the CPU) measured in the same run on the same model.
#
#   sh tools/bench_engine.sh [THREADS] [PROMPT_TOKENS] [GEN_TOKENS]
#
# Builds build/ponder, writes the ~100M-parameter random Llama (bf16) to build/bench-llama-100m
# once (tools/make_tiny_models.py --bench-model; not committed), then runs `ponder bench` on
# ../shared/models/stories260K and on that model (batch 1 and batch 8), and tools/bench_hf.py
# on the latter in bf16 and fp32.
set -e
T=${1:-2}; P=${2:-128}; G=${3:-32}
PY=${PYTHON:-/work/venv/bin/python}
make -s -j2 build/ponder
M=build/bench-llama-100m
[ -f $M/model.safetensors ] || $PY tools/make_tiny_models.py --bench-model $M
echo "== ponder, stories260K"; build/ponder bench --model ../shared/models/stories260K --threads "$T"
echo "== ponder, $M"; build/ponder bench --model $M --threads "$T" --prompt-tokens "$P" --gen-tokens "$G"
echo "== ponder, $M, batch 8"; build/ponder bench --model $M --threads "$T" --prompt-tokens "$P" --gen-tokens "$G" --batch 8
echo "== transformers bf16"; $PY tools/bench_hf.py --model $M --threads "$T" --prompt-tokens "$P" --gen-tokens "$G" --dtype bfloat16 2>/dev/null
echo "== transformers fp32"; $PY tools/bench_hf.py --model $M --threads "$T" --prompt-tokens "$P" --gen-tokens "$G" --dtype float32 2>/dev/null
