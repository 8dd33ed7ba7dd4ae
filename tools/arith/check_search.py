#!/usr/bin/env python3
"""check_search.py — the target effect, measured with ponder on fresh problems: the small policy
with the PRM (best_of_n, beam_search, dvts; beam width 4) at several N against the large policy's
greedy, with accuracy (naive / weighted / majority selection), per level, and FLOPs per problem
(policy + PRM, from ponder's cost records).

Usage: ~/ponder-venv/bin/python tools/arith/check_search.py [--problems 100] [--seed 9001]
           [--n 4,8,16] [--out build/arith/check] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def ponder_eval(policy, prm, ds, out, args):
    t = time.time()
    subprocess.run([common.PONDER, "eval", "--policy", policy, "--prm", prm, "--dataset", ds, "--out", out,
                    "--overwrite", "--quiet", "--system-prompt", ""] + args, check=True)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f), time.time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", default=os.path.join(common.MODELS, "arith-small"))
    ap.add_argument("--large", default=os.path.join(common.MODELS, "arith-large"))
    ap.add_argument("--prm", default=os.path.join(common.MODELS, "arith-prm"))
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--seed", type=int, default=9001)
    ap.add_argument("--n", default="4,8,16")
    ap.add_argument("--strategies", default="best_of_n,beam_search,dvts")
    ap.add_argument("--out", default=os.path.join(common.ROOT, "build", "arith", "check"))
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ds = os.path.join(a.out, "problems.jsonl")
    common.write_jsonl(ds, common.ponder_data(a.problems, a.seed))
    rows = []

    def add(model, summ, secs, greedy=False):
        for r in summ["results"]:
            c = r["cost_per_problem"]
            flops = c["policy_flops"] + (0 if greedy else c["prm_flops"])
            for sel in (["naive"] if greedy else ["weighted", "maj", "naive"]):
                rows.append(dict(model=model, strategy="greedy" if greedy else r["strategy"], n=r["n"], selection=sel,
                                 accuracy=r["accuracy"][sel],
                                 per_level={k: v[sel] for k, v in sorted(r["per_level"].items())},
                                 flops_per_problem=flops, wall_s=round(secs, 1)))

    for name, pol in (("arith-small", a.small), ("arith-large", a.large)):
        summ, secs = ponder_eval(pol, a.prm, ds, os.path.join(a.out, name + "-greedy"),
                                 ["--strategy", "best_of_n", "--n", "1", "--temperature", "0"])
        add(name, summ, secs, greedy=True)
    summ, secs = ponder_eval(a.small, a.prm, ds, os.path.join(a.out, "arith-small-search"),
                             ["--strategy", a.strategies, "--n", a.n, "--beam-width", "4"])
    add("arith-small", summ, secs)
    big = next(r for r in rows if r["model"] == "arith-large")
    print("%-12s %-12s %3s %-9s %8s  %-34s %12s  %s" % ("model", "strategy", "N", "select", "accuracy",
                                                         "per level 1..5", "FLOPs/prob", "vs large greedy"))
    for r in rows:
        lv = " ".join("%.2f" % v for v in r["per_level"].values())
        tag = ""
        if r is not big:
            tag = "%s, %s FLOPs" % ("BEATS" if r["accuracy"] > big["accuracy"] else "loses",
                                    "fewer" if r["flops_per_problem"] < big["flops_per_problem"] else "more")
        print("%-12s %-12s %3d %-9s %8.3f  %-34s %12.3g  %s" % (r["model"], r["strategy"], r["n"], r["selection"],
                                                               r["accuracy"], lv, r["flops_per_problem"], tag))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(problems=a.problems, seed=a.seed, rows=rows), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
