#!/bin/sh
# bench_rounds.sh — ponder in both precisions against llama.cpp bf16, interleaved, for a VM
# whose speed drifts between runs (docs/PERFORMANCE.md, "Precision as a choice").
#
#   sh tools/bench_rounds.sh [ROUNDS]          prompt 128 + 32 generated, prompt 512, 16 branches
#   sh tools/bench_rounds.sh decode [ROUNDS]   generation at batch 1 only (64 tokens)
#
# Each round runs ponder (PONDER_PRECISION=bf16, then exact) and llama.cpp one after the other
# with 2 threads; compare within a round, and medians across rounds. Needs what
# tools/bench_llama_cpp.sh needs.
set -e
M=build/bench-qwen0.5b
B=build/llama.cpp/build/bin
PONDER=${PONDER:-build/ponder}
export LD_LIBRARY_PATH=$B
if [ "$1" = decode ]; then
  for r in $(seq 1 "${2:-6}"); do
    for p in bf16 exact; do
      printf "ponder %s " $p
      PONDER_PRECISION=$p $PONDER bench --model $M/hf --threads 2 --prompt-tokens 16 --gen-tokens 64 |
        grep generation: | sed 's/.*= *\([0-9.]*\) tokens\/s.*/\1/'
    done
    printf "llama.cpp bf16 "
    $B/llama-bench -m $M/bf16.gguf -t 2 -p 0 -n 64 -r 1 -o csv 2>/dev/null | tail -1 | awk -F, '{print $(NF-1)}'
  done
  exit 0
fi
for r in $(seq 1 "${1:-3}"); do
  echo "== round $r $(uptime)"
  for p in bf16 exact; do
    echo "-- ponder $p: prompt 128, 32 generated"
    PONDER_PRECISION=$p $PONDER bench --model $M/hf --threads 2 --prompt-tokens 128 --gen-tokens 32 |
      grep -E "engine|machine|prompt:|generation:"
  done
  echo "-- llama.cpp bf16"
  $B/llama-bench -m $M/bf16.gguf -t 2 -p 128,512 -n 32 -r 1 -o md 2>/dev/null | grep -E "pp|tg"
  for p in bf16 exact; do
    echo "-- ponder $p: prompt 512"
    PONDER_PRECISION=$p $PONDER bench --model $M/hf --threads 2 --prompt-tokens 512 --gen-tokens 0 | grep -E "prompt:"
  done
  for p in bf16 exact; do
    echo "-- ponder $p: 16 branches"
    PONDER_PRECISION=$p $PONDER bench --model $M/hf --threads 2 --prompt-tokens 200 --gen-tokens 64 --batch 16 |
      grep -E "generation:"
  done
  echo "-- llama.cpp bf16: llama-batched-bench"
  $B/llama-batched-bench -m $M/bf16.gguf -t 2 -c 2048 -kvu -b 2048 -ub 512 -npp 200 -ntg 64 -npl 16 -pps 2>/dev/null |
    grep -E "^\| +[0-9]"
done
echo "== after $(uptime)"
