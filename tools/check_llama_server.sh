#!/bin/sh
# check_llama_server.sh — ponder's remote policy and logprob PRM against llama.cpp's real
# llama-server (third-party check, recorded in docs/REMOTE.md; not part of `make test`).
#
#   sh tools/check_llama_server.sh [JOBS]
#
# 1. llama-server is built from the llama-cpp-python sdist's vendored llama.cpp (as the
#    engine speed issue builds it; CPU only; ~20 min on 2 cores the first time), into
#    build/llama.cpp/.
# 2. The rlhflow fixture (tests/fixtures/prm/rlhflow: a tiny random Llama with a Llama 3
#    chat template) is converted to an f32 GGUF with llama.cpp's convert_hf_to_gguf.py (its
#    tokenizer was trained here, so the pre-tokenizer is declared as llama-bpe, which it is).
# 3. llama-server serves it on a free loopback port, and ponder runs against it:
#    - `ponder eval --policy http://127.0.0.1:PORT/v1#rlhflow` (greedy, so that the tokens
#      can be compared with the local engine's: the two engines' logits agree to float
#      rounding, so greedy paths agree unless two logits tie within it);
#    - the same eval with `--prm logprob+http://127.0.0.1:PORT/v1#rlhflow --prm-kind rlhflow`
#      against the local rlhflow PRM (rewards compared);
#    and the figures are printed.
# Needs cmake, a C++ compiler, and ~/ponder-venv (or $PYTHON) with torch, transformers, gguf.
set -e
JOBS=${1:-2}
PY=${PYTHON:-$HOME/ponder-venv/bin/python}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
W=build/llama.cpp
mkdir -p $W
make -s -j"$JOBS" build/ponder
if [ ! -x $W/bin/llama-server ]; then
    if [ ! -d $W/src ]; then
        [ -f $W/llama_cpp_python.tar.gz ] || { $PY -m pip download llama-cpp-python --no-binary :all: --no-deps -d $W/dl &&
            mv $W/dl/llama_cpp_python-*.tar.gz $W/llama_cpp_python.tar.gz; }
        tar xzf $W/llama_cpp_python.tar.gz -C $W
        mv $W/llama_cpp_python-*/vendor/llama.cpp $W/src
    fi
    cmake -S $W/src -B $W/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON > $W/cmake.log 2>&1
    cmake --build $W/build --target llama-server -j"$JOBS" > $W/build.log 2>&1
    mkdir -p $W/bin && cp $W/build/bin/llama-server $W/bin/
fi
GGUF=$W/rlhflow-f32.gguf
if [ ! -f $GGUF ]; then
    $PY - "$W/src" tests/fixtures/prm/rlhflow "$GGUF" <<'EOF'
import sys
src, model, out = sys.argv[1:4]
sys.path.insert(0, src)
sys.path.insert(1, src + "/gguf-py")
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "llama-bpe"  # a tokenizer trained here: Llama 3's pre-tokenizer
def no_spm(self, *a, **k):
    raise FileNotFoundError("not a SentencePiece model")  # Llama 3 byte-level BPE: straight to the gpt2 path
base.TextModel._set_vocab_sentencepiece = no_spm
base.TextModel._set_vocab_llama_hf = no_spm
import convert_hf_to_gguf as conv
sys.argv = ["convert_hf_to_gguf.py", model, "--outfile", out, "--outtype", "f32"]
conv.main()
EOF
fi
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$W/bin/llama-server -m $GGUF --alias rlhflow --host 127.0.0.1 --port "$PORT" -c 8192 -np 4 -ctk f32 -ctv f32 --threads "$JOBS" > $W/server.log 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
i=0; until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do i=$((i+1)); [ $i -gt 300 ] && { echo "llama-server did not start"; tail $W/server.log; exit 1; }; sleep 0.2; done
echo "== llama-server $(curl -s http://127.0.0.1:$PORT/v1/models | head -c 200)"
D=$W/check
rm -rf $D && mkdir -p $D
build/ponder data arith --n 8 --levels 1-3 --seed 5 > $D/data.jsonl
COMMON="--dataset $D/data.jsonl --strategy best_of_n,beam_search --n 4 --beam-width 2 --iterations 3 --max-step-tokens 12 --step-delimiter ' ' --threads $JOBS --quiet"
eval build/ponder eval --policy tests/fixtures/prm/rlhflow --prm tests/fixtures/prm/rlhflow --prm-kind rlhflow --temperature 0 $COMMON --out $D/local
eval build/ponder eval --policy "http://127.0.0.1:$PORT/v1#rlhflow" --tokenizer tests/fixtures/prm/rlhflow --prm tests/fixtures/prm/rlhflow --prm-kind rlhflow --temperature 0 $COMMON --out $D/remote
eval build/ponder eval --policy tests/fixtures/prm/rlhflow --prm "logprob+http://127.0.0.1:$PORT/v1#rlhflow" --prm-tokenizer tests/fixtures/prm/rlhflow --prm-kind rlhflow --temperature 0 $COMMON --out $D/remote_prm
eval build/ponder eval --policy "http://127.0.0.1:$PORT/v1#rlhflow" --tokenizer tests/fixtures/prm/rlhflow --prm tests/fixtures/prm/rlhflow --prm-kind rlhflow $COMMON --out $D/sampled
$PY - "$D" <<'EOF'
import json, sys
d = sys.argv[1]
def load(n): return [json.loads(l) for l in open(f"{d}/{n}/results.jsonl")]
loc, rem, rprm, smp = load("local"), load("remote"), load("remote_prm"), load("sampled")
failed = sum(1 for r in rem + rprm + smp if r.get("failed"))
same_text = sum(a["completions"][i]["text"] == b["completions"][i]["text"] for a, b in zip(loc, rem) for i in range(len(a["completions"])))
total = sum(len(a["completions"]) for a in loc)
diffs = [abs(x - y) for a, b in zip(loc, rprm) for ca, cb in zip(a["completions"], b["completions"]) for x, y in zip(ca["step_rewards"], cb["step_rewards"])]
steps = sum(len(c["step_rewards"]) for r in smp for c in r["completions"])
print(f"failed problems: {failed}")
print(f"remote policy, greedy: {same_text}/{total} completions identical to the local engine's")
print(f"logprob PRM: {len(diffs)} step rewards, max |remote - local| = {max(diffs):.2e}" if diffs else "logprob PRM: no steps")
print(f"remote policy, sampled (T=0.8): {len(smp)} searches, {steps} steps scored")
EOF
