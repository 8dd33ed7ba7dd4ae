#!/usr/bin/env bash
# train_all.sh — retrain every arith model from scratch on this machine's CPUs and measure them:
#   build/arith/tokenizer   the BPE tokenizer               (make_tokenizer.py)
#   models/arith-small      the small policy                (train_policy.py --size small)
#   models/arith-large      the large policy, ~10x          (train_policy.py --size large)
#   models/arith-prm        the PRM, on the small policy's own samples (sample_prm_data.py, train_prm.py)
# then greedy accuracy per level of both policies with ponder (evaluate.py) and the model cards
# (write_cards.py). Work files go to build/arith/; the log with each stage's wall time to
# build/arith/train_all.log. Needs build/ponder (make) and the venv of tools/requirements.txt.
#
# Usage: tools/arith/train_all.sh            (PY=python to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-$HOME/ponder-venv/bin/python}
W=build/arith
mkdir -p "$W" models
LOG=$W/train_all.log
: > "$LOG"
[ -x build/ponder ] || make -j"$(nproc)" build/ponder
start=$(date +%s)
stage() {  # stage NAME CMD...: run, log, time
    local name=$1; shift
    local t0=$(date +%s)
    echo "== $name: $*" | tee -a "$LOG"
    "$@" 2>&1 | tee -a "$LOG"
    local t1=$(date +%s)
    echo "== $name: $((t1 - t0)) s" | tee -a "$LOG"
    echo "$name $((t1 - t0))" >> "$W/times.txt"
}
: > "$W/times.txt"
stage tokenizer "$PY" tools/arith/make_tokenizer.py --out "$W/tokenizer"
stage small "$PY" tools/arith/train_policy.py --size small --tokenizer "$W/tokenizer" --out models/arith-small
stage large "$PY" tools/arith/train_policy.py --size large --tokenizer "$W/tokenizer" --out models/arith-large
stage sample "$PY" tools/arith/sample_prm_data.py --policy models/arith-small --out "$W/prm-data"
stage prm "$PY" tools/arith/train_prm.py --policy models/arith-small --data "$W/prm-data/samples.jsonl" --out models/arith-prm
stage eval-small "$PY" tools/arith/evaluate.py --policy models/arith-small --prm models/arith-prm --out "$W/eval-small" --json "$W/eval-small.json"
stage eval-large "$PY" tools/arith/evaluate.py --policy models/arith-large --prm models/arith-prm --out "$W/eval-large" --json "$W/eval-large.json"
stage cards "$PY" tools/arith/write_cards.py --work "$W"
end=$(date +%s)
echo "train_all: $((end - start)) s in all ($(nproc) CPUs)" | tee -a "$LOG"
echo "total $((end - start))" >> "$W/times.txt"
