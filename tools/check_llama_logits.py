#!/usr/bin/env python3
"""check_llama_logits.py — ponder's logits against llama.cpp's on the same GGUF files.

Third-party check for issue 14 (figures in docs/MODELS.md), not part of `make test`:

    python3 tools/check_llama_logits.py [--ponder build/ponder] [--threads 1]

For every file it feeds the same token ids to llama.cpp (tools/llama_logits.c, built here
against build/llama.cpp's libllama, keys and values kept in fp32 as ponder keeps them) and to
`ponder logits` twice: with its default 8-bit activations for quantized weights (what
llama.cpp does too: it rounds activations to Q8_0/Q8_K blocks) and with PONDER_QUANT_ACT=f32
(fp32-exact). It prints, per file, the largest difference of the last position's logits,
relative to the largest |logit| of llama.cpp's row, and whether the argmax agrees. Where the
fixture's transformers reference exists (tests/fixtures/gguf/reference.json) llama.cpp is
compared with it too, so the table shows how far each engine is from the exact computation.

Files: the GGUF fixtures (tests/fixtures/gguf, 3 prompts each), the shared tiny Llama
(../shared/models/gguf), and the trained models/arith-large written by `ponder quantize` in
q8_0, q6_k, q5_k_m, q4_k_m, q4_0, f16 and bf16 (temporary files), on a target-sum problem.
Needs llama.cpp built by tools/check_llama_server.sh (build/llama.cpp/build/bin/libllama.so)
and python3 (standard library only).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA = os.path.join(ROOT, "build", "llama.cpp")


def build_llama_logits(out):
    lib = os.path.join(LLAMA, "build", "bin")
    if not os.path.exists(os.path.join(lib, "libllama.so")):
        sys.exit("check_llama_logits: no %s/libllama.so: build llama.cpp first "
                 "(sh tools/check_llama_server.sh, then cmake --build build/llama.cpp/build --target llama)" % lib)
    cmd = ["cc", "-O2", "-o", out, os.path.join(ROOT, "tools", "llama_logits.c"),
           "-I" + os.path.join(LLAMA, "src", "include"), "-I" + os.path.join(LLAMA, "src", "ggml", "include"),
           "-L" + lib, "-lllama", "-Wl,-rpath," + lib]
    subprocess.run(cmd, check=True)


def floats(text, what):
    try:
        return [float(v) for v in text.split()]
    except ValueError:
        sys.exit("check_llama_logits: %s printed something that is not logits" % what)


def run(cmd, env=None, what="", stdin=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, input=stdin)
    if r.returncode:
        sys.exit("check_llama_logits: %s failed (%d): %s" % (what or cmd[0], r.returncode, r.stderr.strip()))
    return r.stdout


def compare(ref, other):
    """largest |difference| relative to the largest |ref|, and argmax agreement"""
    if len(ref) != len(other):
        return None, False
    scale = max(abs(v) for v in ref) or 1.0
    diff = max(abs(a - b) for a, b in zip(ref, other))
    return diff / scale, max(range(len(ref)), key=ref.__getitem__) == max(range(len(other)), key=other.__getitem__)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ponder", default=os.path.join(ROOT, "build", "ponder"))
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ponder-llama-logits-")
    exe = os.path.join(tmp, "llama_logits")
    build_llama_logits(exe)

    ref = json.load(open(os.path.join(ROOT, "tests", "fixtures", "gguf", "reference.json")))
    cases = []  # (label, path, [prompt ids], [reference rows or None])
    for name, f in ref["files"].items():
        cases.append((name, os.path.join(ROOT, "tests", "fixtures", "gguf", name), ref["prompts"], f["last"]))
    shared = os.path.join(ROOT, "..", "shared", "models", "gguf", "llama-2-tiny-random.gguf")
    if os.path.exists(shared):
        cases.append(("shared llama-2-tiny-random.gguf", shared, [[1, 450, 4996, 17354, 1701, 29916]], None))
    arith = os.path.join(ROOT, "models", "arith-large")
    problem = "Three of the numbers 14, 27, 35, 8, 19 and 42 add up to 76. What is the smallest of the three?\n\n"
    if os.path.isdir(arith):
        ids = [int(v) for v in run([args.ponder, "tokenize", "--model", arith], stdin=problem, what="ponder tokenize").split()]
        for t in ["f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0"]:
            out = os.path.join(tmp, "arith-large-%s.gguf" % t)
            run([args.ponder, "quantize", arith, out, "--type", t, "--quiet"], what="ponder quantize " + t)
            cases.append(("arith-large %s (ponder quantize)" % t, out, [ids], None))

    print("| file | prompt | ponder 8-bit acts vs llama.cpp | ponder fp32 vs llama.cpp | llama.cpp vs transformers | ponder fp32 vs transformers | argmax equal |")
    print("|---|---|---|---|---|---|---|")
    worst = {}
    for label, path, prompts, refs in cases:
        for pi, prompt in enumerate(prompts):
            s = " ".join(str(v) for v in prompt)
            ll = floats(run([exe, path, s, args.threads], what="llama_logits " + label), "llama.cpp")
            pq, pf = (floats(run([args.ponder, "logits", "--model", path, "--prompt-ids", s, "--threads", args.threads],
                                 env=dict(os.environ, PONDER_QUANT_ACT=acts), what="ponder logits (%s) %s" % (acts, label)),
                             "ponder") for acts in ("q8", "f32"))
            dq, aq = compare(ll, pq)
            df, af = compare(ll, pf)
            cells = ["%.1e" % dq if dq is not None else "size differs", "%.1e" % df if df is not None else "size differs"]
            agree = aq and af
            if refs:
                dl, al = compare(refs[pi], ll)
                dp, ap = compare(refs[pi], pf)
                cells += ["%.1e" % dl, "%.1e" % dp]
                agree = agree and al and ap
            else:
                cells += ["—", "—"]
            worst[label] = max(worst.get(label, 0), dq or 0, df or 0)
            print("| %s | %d | %s | %s |" % (label, pi, " | ".join(cells), "yes" if agree else "**no**"))
    shutil.rmtree(tmp)
    print()
    print("largest difference per file (either activation mode, relative to llama.cpp's largest |logit|):")
    for label, v in worst.items():
        print("  %-40s %.1e" % (label, v))


if __name__ == "__main__":
    main()
