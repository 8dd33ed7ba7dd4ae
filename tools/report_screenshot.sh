#!/bin/sh
# tools/report_screenshot.sh — the screenshot of `ponder report` in docs/report.png.
#
# Runs a small sweep on the simulated backend (200 arithmetic problems, best-of-N, beam
# search and DVTS at N = 4, 16, 64, three seeds, a noisy PRM), a second sweep with a weaker
# policy to show runs overlaid, writes the report with a baseline, and renders it with
# headless Chromium (Debian's chromium package). Usage: sh tools/report_screenshot.sh [OUT.png]
set -e
cd "$(dirname "$0")/.."
OUT=${1:-docs/report.png}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
P=build/ponder
W=build/tmp/report_screenshot
[ -x "$P" ] || make -s all
rm -rf "$W" && mkdir -p "$W"
$P data arith --n 200 --levels 1-5 --seed 1 --out "$W/arith.jsonl"
$P eval --policy sim --prm sim --dataset "$W/arith.jsonl" --strategy best_of_n,beam_search,dvts --n 4,16,64 \
    --seeds 0,1,2 --sim-prm-noise 1.5 --sim-acc-decay 0.06 --quiet --out "$W/policy-a"
$P eval --policy sim --prm sim --dataset "$W/arith.jsonl" --strategy best_of_n,beam_search --n 4,16,64 \
    --sim-policy-acc 0.9 --sim-prm-noise 1.5 --sim-acc-decay 0.06 --quiet --out "$W/policy-b"
$P report "$W/policy-a" "$W/policy-b" --selection weighted,maj --baseline "larger model, greedy=0.55" \
    --title "ponder report (simulated backend)" --out "$W/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,2300 \
    --screenshot="$OUT" "file://$PWD/$W/report.html" 2>/dev/null
echo "wrote $OUT"
