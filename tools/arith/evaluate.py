#!/usr/bin/env python3
"""evaluate.py — measure a policy with ponder itself: greedy (best_of_n, N = 1, temperature 0,
no system prompt) on fresh problems, answer accuracy per level and step accuracy per level (the
share of steps that are right, by common.label_steps, counting every step of the generated
solution, each scored as a step that follows right steps only while the solution is still right).

Usage: ~/ponder-venv/bin/python tools/arith/evaluate.py --policy DIR [--prm DIR] [--n 500]
           [--seed 7] [--out DIR] [--json FILE]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def run_eval(policy, prm, dataset, out, extra=()):
    cmd = [common.PONDER, "eval", "--policy", policy, "--prm", prm, "--dataset", dataset, "--out", out,
           "--overwrite", "--system-prompt", "", "--quiet"] + list(extra)
    t = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - t


def first_error_stats(rows):
    """Per level: problems, solved, steps right before the first error / steps attempted.
    A step 'attempt' is each step up to and including the first wrong one."""
    acc = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        c = r["completions"][0]
        steps = c["text"].split(common.DELIM) if c["text"] else [""]
        labels, solved = common.label_steps(r["problem"], steps)
        a = acc[r["level"]]
        a[0] += 1
        a[1] += 1 if r.get("correct_naive@1") else 0
        k = labels.index(0) + 1 if 0 in labels else len(labels)
        a[2] += sum(labels[:k])
        a[3] += k
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True)
    ap.add_argument("--prm", default=os.path.join(common.ROOT, "tests", "fixtures", "prm", "qwen2-prm"))
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out")
    ap.add_argument("--json")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="arith-eval-")
    os.makedirs(out, exist_ok=True)
    ds = os.path.join(out, "problems.jsonl")
    rows = common.ponder_data(a.n, a.seed)
    common.write_jsonl(ds, rows)
    secs = run_eval(a.policy, a.prm, ds, os.path.join(out, "run"),
                    ["--strategy", "best_of_n", "--n", "1", "--temperature", "0"])
    res = common.read_jsonl(os.path.join(out, "run", "results.jsonl"))
    probs = {r["unique_id"]: r["problem"] for r in rows}
    for r in res:
        r["problem"] = probs[r["id"]]
    acc = first_error_stats(res)
    table = {}
    tot = [0, 0, 0, 0]
    for lv in sorted(acc):
        a_ = acc[lv]
        table[str(lv)] = dict(problems=a_[0], accuracy=round(a_[1] / a_[0], 4), step_accuracy=round(a_[2] / a_[3], 4))
        tot = [x + y for x, y in zip(tot, a_)]
    table["all"] = dict(problems=tot[0], accuracy=round(tot[1] / tot[0], 4), step_accuracy=round(tot[2] / tot[3], 4))
    report = dict(policy=os.path.relpath(os.path.abspath(a.policy), common.ROOT), problems=a.n, seed=a.seed,
                  wall_s=round(secs, 1), greedy=table)
    for k, v in table.items():
        print("level %-3s  %4d problems  accuracy %.3f  step accuracy %.3f" % (k, v["problems"], v["accuracy"],
                                                                               v["step_accuracy"]))
    print("(%.0f s with ponder)" % secs)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
