#!/usr/bin/env python3
"""grade_bench_mv.py — Math-Verify's speed on the pairs bench/bench_grade.c uses, for comparison.

Usage: /work/venv/bin/python tools/grade_bench_mv.py [pairs]   (default 200 MATH-500 pairs)

Each grading is parse(solution) + parse("$answer$") + verify(gold, pred) with Math-Verify's
defaults (timeouts off so no signal handling is timed). Prints gradings per CPU second.
"""
import json
import sys
import time

from math_verify import parse, verify


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pairs = []
    for line in open("../shared/data/math500.jsonl"):
        d = json.loads(line)
        pairs.append((d["solution"], d["answer"]))
    pairs = pairs[:n]
    t0, c0 = time.perf_counter(), time.process_time()
    eq = 0
    for sol, ans in pairs:
        g = parse("$" + ans + "$", parsing_timeout=None)
        p = parse(sol, parsing_timeout=None)
        eq += verify(g, p, timeout_seconds=None)
    c, t = time.process_time() - c0, time.perf_counter() - t0
    print(f"math-verify: {len(pairs)} gradings, {eq} equal, {len(pairs) / c:.0f} gradings/s of CPU "
          f"({1e3 * c / len(pairs):.2f} ms each; wall {len(pairs) / t:.0f}/s)")


if __name__ == "__main__":
    main()
