#!/usr/bin/env python3
"""sample_prm_data.py — the PRM's training data: the small policy's own solutions, sampled with
ponder (best_of_n, temperature 0.8, no system prompt, batched over all problems), each step
labelled exactly by common.label_steps (a step is right when it is the unique right solution's
step, character for character: the right number taken, the subtraction right; every step after a
wrong one is wrong).

Writes OUT/samples.jsonl: {"problem", "level", "steps", "labels", "source"} per distinct
solution (source "policy"), plus the generator's reference solution of every problem
(source "reference", all steps right), and prints label statistics per level.

Usage: ~/ponder-venv/bin/python tools/arith/sample_prm_data.py --policy DIR --out DIR
           [--problems 2000] [--n 8] [--seed 300]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--problems", type=int, default=2000)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--temperature", default="0.8")
    ap.add_argument("--threads", default="0", help="ponder's engine threads (0: one per CPU)")
    ap.add_argument("--prm", default=os.path.join(common.ROOT, "tests", "fixtures", "prm", "qwen2-prm"),
                    help="any PRM: ponder eval needs one; its rewards are not used")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = common.ponder_data(a.problems, a.seed)
    ds = os.path.join(a.out, "problems.jsonl")
    common.write_jsonl(ds, rows)
    t = time.time()
    subprocess.run([common.PONDER, "eval", "--policy", a.policy, "--prm", a.prm, "--dataset", ds,
                    "--out", os.path.join(a.out, "run"), "--overwrite", "--quiet", "--system-prompt", "",
                    "--strategy", "best_of_n", "--n", str(a.n), "--temperature", a.temperature,
                    "--seed", str(a.seed)] + (["--threads", a.threads] if a.threads != "0" else []), check=True)
    secs = time.time() - t
    by_id = {r["unique_id"]: r for r in rows}
    out, seen = [], set()
    stats = collections.defaultdict(lambda: collections.Counter())
    for res in common.read_jsonl(os.path.join(a.out, "run", "results.jsonl")):
        p = by_id[res["id"]]
        for c in res["completions"]:
            steps = c["text"].split(common.DELIM)
            while len(steps) > 1 and steps[-1] == "":
                steps.pop()
            key = (p["problem"], tuple(steps))
            if key in seen:
                stats[p["level"]]["duplicates"] += 1
                continue
            seen.add(key)
            labels, solved = common.label_steps(p["problem"], steps)
            out.append(dict(problem=p["problem"], level=p["level"], steps=steps, labels=labels, source="policy"))
            st = stats[p["level"]]
            st["solutions"] += 1
            st["solved"] += solved
            st["steps"] += len(labels)
            st["right"] += sum(labels)
    for p in rows:
        steps = common.solution_steps(p["solution"])
        out.append(dict(problem=p["problem"], level=p["level"], steps=steps, labels=[1] * len(steps),
                        source="reference"))
    common.write_jsonl(os.path.join(a.out, "samples.jsonl"), out)
    print("sampled %d x %d solutions in %.0f s with ponder" % (len(rows), a.n, secs))
    levels = {str(lv): dict(solutions=st["solutions"], duplicates=st["duplicates"],
                            solved=round(st["solved"] / max(1, st["solutions"]), 4),
                            right_steps=round(st["right"] / max(1, st["steps"]), 4)) for lv, st in stats.items()}
    with open(os.path.join(a.out, "stats.json"), "w") as f:
        json.dump(dict(problems=len(rows), n=a.n, temperature=a.temperature, seed=a.seed, sample_seconds=round(secs),
                       levels=levels), f, indent=1)
        f.write("\n")
    for lv in sorted(stats):
        st = stats[lv]
        print("level %d: %5d distinct solutions (%4d duplicates), %.2f solved, %.2f of steps right"
              % (lv, st["solutions"], st["duplicates"], st["solved"] / max(1, st["solutions"]),
                 st["right"] / max(1, st["steps"])))


if __name__ == "__main__":
    main()
