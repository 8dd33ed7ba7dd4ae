#!/bin/sh
# bench_llama_cpp.sh — ponder's engine against llama.cpp on the same model, same machine,
# same threads, one run after the other (figures for docs/PERFORMANCE.md).
#
#   sh tools/bench_llama_cpp.sh [THREADS]
#
# Needs: build/ponder (make), llama.cpp's llama-bench and llama-batched-bench in
# build/llama.cpp/build/bin (tools/check_llama_server.sh configures that build; then
# `cmake --build build/llama.cpp/build --target llama-bench llama-batched-bench -j1`), and the
# random Qwen2.5-0.5B-shape model from tools/make_bench_qwen.py (HF dir + bf16/f16 GGUF).
# Prints the machine's load before and after: on a shared machine compare the ratios of runs
# made back to back, and the per-CPU-second figures, rather than absolute tokens/s.
set -e
T=${1:-2}
M=build/bench-qwen0.5b
B=build/llama.cpp/build/bin
PONDER=${PONDER:-build/ponder}
export LD_LIBRARY_PATH=$B
[ -f $M/bf16.gguf ] || ${PYTHON:-$HOME/ponder-venv/bin/python} tools/make_bench_qwen.py --out $M
echo "== machine: $(nproc) CPUs; $(uptime)"
echo "== ponder (kernels: ${PONDER_KERNELS:-auto}, precision: ${PONDER_PRECISION:-exact}), prompt 128 / 512, generation at batch 1"
$PONDER bench --model $M/hf --threads "$T" --prompt-tokens 128 --gen-tokens 32
$PONDER bench --model $M/hf --threads "$T" --prompt-tokens 512 --gen-tokens 0
echo "== llama.cpp llama-bench bf16 and f16: pp128, pp512, tg32"
for f in bf16 f16; do $B/llama-bench -m $M/$f.gguf -t "$T" -p 128,512 -n 32 -r 2 -o md 2>/dev/null | grep -E "pp|tg"; done
echo "== ponder: 16 branches x 64 tokens after one shared 200-token prefix"
$PONDER bench --model $M/hf --threads "$T" --prompt-tokens 200 --gen-tokens 64 --batch 16
echo "== llama.cpp llama-batched-bench -npp 200 -ntg 64 -npl 16 -pps (bf16, f16)"
for f in bf16 f16; do $B/llama-batched-bench -m $M/$f.gguf -t "$T" -c 2048 -kvu -b 2048 -ub 512 -npp 200 -ntg 64 -npl 16 -pps 2>/dev/null | grep -E "^\| +[0-9]" ; done
echo "== machine after: $(uptime)"
