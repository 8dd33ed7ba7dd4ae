#!/usr/bin/env bash
# train_all.sh — retrain every arith model from scratch on this machine's CPUs and measure them:
#   build/arith/tokenizer   the BPE tokenizer                      (make_tokenizer.py)
#   models/arith-large      the large policy, ~10x the small one   (train_policy.py --size large)
#   models/arith-small      the small policy                       (train_policy.py --size small)
#   models/arith-prm        the PRM, trained on the small policy's own samples
#                           (sample_prm_data.py, train_prm.py)
# then reference.json of both policies (make_references.py), greedy accuracy per level of both
# with ponder (evaluate.py) and the model cards (write_cards.py).
#
# The small policy trains first; then two lanes run side by side, one CPU thread each (two
# single-threaded processes use 2 cores better than one process with two threads, above all on
# a machine shared with other jobs):
#   lane 1: the large policy, grown out of the small one (train_policy.py --init) and trained on
#   lane 2: sampling the small policy with ponder -> the PRM
# Every run is deterministic (fixed seeds, data and step counts); only the wall time depends on
# the machine. Work files and logs go to build/arith/ (train_all.log, times.txt: each stage's
# wall seconds). Needs build/ponder (made if missing) and the PyPI packages of
# tools/requirements.txt.
#
# Usage: tools/arith/train_all.sh            (PY=... for another Python than ~/ponder-venv)
#
# The task is the target-sum search (`ponder data sums`, what models/ holds); ARITH_TASK=arith
# trains the same pipeline on the first world's expressions (docs/ARITH.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-$HOME/ponder-venv/bin/python}
W=build/arith
mkdir -p "$W" models
: > "$W/train_all.log"
: > "$W/times.txt"
[ -x build/ponder ] || make -j"$(nproc)" build/ponder
start=$(date +%s)

# stage NAME CMD...: run CMD, its output to build/arith/NAME.log, its wall time to times.txt
stage() {
    local name=$1; shift
    local t0; t0=$(date +%s)
    echo "[$(date +%T)] $name: $*" | tee -a "$W/train_all.log"
    if ! "$@" > "$W/$name.log" 2>&1; then
        echo "[$(date +%T)] $name FAILED (see $W/$name.log):" | tee -a "$W/train_all.log"
        tail -n 20 "$W/$name.log"
        return 1
    fi
    local t1; t1=$(date +%s)
    grep -v "it/s\]" "$W/$name.log" | tail -n 8 | sed "s/^/  $name| /"
    echo "[$(date +%T)] $name: $((t1 - t0)) s" | tee -a "$W/train_all.log"
    echo "$name $((t1 - t0))" >> "$W/times.txt"
}

stage tokenizer "$PY" tools/arith/make_tokenizer.py --out "$W/tokenizer"

stage small "$PY" tools/arith/train_policy.py --size small --threads 1 --tokenizer "$W/tokenizer" \
    --out models/arith-small
lane_large() {
    stage large "$PY" tools/arith/train_policy.py --size large --threads 1 --tokenizer "$W/tokenizer" \
        --init models/arith-small --out models/arith-large
}
lane_prm() {
    stage sample "$PY" tools/arith/sample_prm_data.py --policy models/arith-small --threads 1 \
        --problems 1500 --seed 300 --out "$W/prm-data" &&
    stage prm "$PY" tools/arith/train_prm.py --policy models/arith-small --threads 1 \
        --data "$W/prm-data/samples.jsonl" --out models/arith-prm
}
lane_large & large_pid=$!
lane_prm & prm_pid=$!
ok=1
wait $prm_pid || ok=0
wait $large_pid || ok=0
[ $ok = 1 ] || { echo "train_all: a lane failed" >&2; exit 1; }

stage references "$PY" tools/arith/make_references.py models/arith-small models/arith-large
stage eval-small "$PY" tools/arith/evaluate.py --policy models/arith-small --prm models/arith-prm \
    --out "$W/eval-small" --json "$W/eval-small.json"
stage eval-large "$PY" tools/arith/evaluate.py --policy models/arith-large --prm models/arith-prm \
    --out "$W/eval-large" --json "$W/eval-large.json"
end=$(date +%s)
echo "total $((end - start))" >> "$W/times.txt"
stage cards "$PY" tools/arith/write_cards.py --work "$W"
echo "train_all: $((end - start)) s in all on $(nproc) CPUs; models in models/, logs in $W/" | tee -a "$W/train_all.log"
