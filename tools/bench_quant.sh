#!/bin/sh
# bench_quant.sh — ponder against llama.cpp on QUANTIZED GGUF files of the random
# Qwen2.5-0.5B-shape model: same file, same threads, one run after the other (figures for
# docs/PERFORMANCE.md, section "Quantized GGUF weights").
#
#   sh tools/bench_quant.sh [TYPE ...]        TYPE: q8_0, q4_k_m (default: both); T=threads (2);
#                                             PONDER=the ponder binary (build/ponder)
#
# Files (under build/bench-qwen0.5b, made once, not committed):
#   q8_0.gguf    written by llama.cpp's converter (the `gguf` package) from the bf16 HF dir
#                (tools/make_bench_qwen.py's make_gguf with outtype q8_0);
#   q4_k_m.gguf  llama.cpp's llama-quantize from bf16.gguf (built here if missing). Qwen2.5-0.5B's
#                896-wide rows are not a multiple of 256, so llama.cpp stores them as Q5_0 (and
#                Q8_0 for attn_v), Q4_K/Q6_K only ffn_down: by bytes ~44% Q5_0, 37% Q8_0
#                (token embedding = tied output head), 11% Q6_K, 7% Q4_K.
# Workloads: decode at batch 1 (after a 128-token prompt; ponder on 8-bit activations, the
# default, and on fp32 activations, the exact path), prompt processing (512 tokens), and
# 16 branches of 64 tokens after one shared 200-token prompt. ponder's bf16 decode (HF dir) is
# printed once for the "quantized vs bf16" ratio. Prints the machine's load before and after:
# on a shared machine compare ratios of back-to-back runs (and per CPU second), not tokens/s.
set -e
T=${T:-2}
M=build/bench-qwen0.5b
B=build/llama.cpp/build/bin
PONDER=${PONDER:-build/ponder}
PY=${PYTHON:-$HOME/ponder-venv/bin/python}
export LD_LIBRARY_PATH=$B
[ -f $M/bf16.gguf ] || $PY tools/make_bench_qwen.py --out $M
[ -f $M/q8_0.gguf ] || $PY -c "import sys; sys.path.insert(0, 'tools'); import make_bench_qwen as m; m.make_gguf('$M/hf', '$M/q8_0.gguf', 'q8_0', 'build/llama.cpp/src')"
if [ ! -f $M/q4_k_m.gguf ]; then
    [ -x $B/llama-quantize ] || cmake --build build/llama.cpp/build --target llama-quantize -j1
    $B/llama-quantize $M/bf16.gguf $M/q4_k_m.gguf Q4_K_M "$T"
fi
echo "== machine: $(nproc) CPUs; $(uptime)"
echo "== ponder bf16 (HF dir), decode at batch 1"
$PONDER bench --model $M/hf --threads "$T" --prompt-tokens 128 --gen-tokens 32 | grep -E "engine|generation"
for ty in ${*:-q8_0 q4_k_m}; do
    f=$M/$ty.gguf
    echo "== $ty: ponder (8-bit activations, the default), prompt 128 + decode 32 at batch 1; prompt 512"
    $PONDER bench --model $f --threads "$T" --prompt-tokens 128 --gen-tokens 32 | grep -E "engine|prompt|generation"
    $PONDER bench --model $f --threads "$T" --prompt-tokens 512 --gen-tokens 0 | grep -E "prompt"
    echo "== $ty: ponder, fp32 activations (PONDER_QUANT_ACT=f32): decode 32 at batch 1"
    PONDER_QUANT_ACT=f32 $PONDER bench --model $f --threads "$T" --prompt-tokens 128 --gen-tokens 32 | grep -E "generation"
    echo "== $ty: ponder, the pool sleeping at once (PONDER_POOL_SPIN_US=0; default: polls 50 us): decode 32 at batch 1"
    PONDER_POOL_SPIN_US=0 $PONDER bench --model $f --threads "$T" --prompt-tokens 128 --gen-tokens 32 | grep -E "generation"
    echo "== $ty: llama.cpp llama-bench pp128, pp512, tg32"
    $B/llama-bench -m $f -t "$T" -p 128,512 -n 32 -r 2 -o md 2>/dev/null | grep -E "pp|tg"
    echo "== $ty: ponder, 16 branches x 64 tokens after one shared 200-token prompt"
    $PONDER bench --model $f --threads "$T" --prompt-tokens 200 --gen-tokens 64 --batch 16 | grep -E "prompt|generation"
    echo "== $ty: llama.cpp llama-batched-bench -npp 200 -ntg 64 -npl 16 -pps"
    $B/llama-batched-bench -m $f -t "$T" -c 2048 -kvu -b 2048 -ub 512 -npp 200 -ntg 64 -npl 16 -pps 2>/dev/null | grep -E "^\| +[0-9]"
done
echo "== machine after: $(uptime)"
