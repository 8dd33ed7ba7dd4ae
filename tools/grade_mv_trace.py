#!/usr/bin/env python3
"""grade_mv_trace.py — show how Math-Verify (the reference) reads grader cases.

Usage: /work/venv/bin/python tools/grade_mv_trace.py [ids...] < ../shared/grader/cases.jsonl

For each case (or only the listed ids) prints the parsed gold, the parsed prediction and
Math-Verify's verdict under the case's own config. A debugging aid for src/grade/: it is
never run by the tests.
"""
import json
import sys

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify


def targets(cfg):
    if cfg.get("defaults"):
        return [LatexExtractionConfig(), ExprExtractionConfig()]
    out = []
    if "latex" in cfg["match_types"]:
        out.append(LatexExtractionConfig(boxed_match_priority=cfg.get("latex_boxed_match_priority", 0)))
    if "expr" in cfg["match_types"]:
        out.append(ExprExtractionConfig())
    return out


def main():
    want = {int(a) for a in sys.argv[1:]}
    for line in sys.stdin:
        c = json.loads(line)
        if c["grader"] != "math_verify" or (want and c["id"] not in want):
            continue
        cfg = c["config"]
        t = targets(cfg)
        g = parse(c["gold"], t)
        p = parse(c["pred"], t)
        kw = {}
        if not cfg.get("defaults"):
            kw = dict(float_rounding=cfg["float_rounding"], strict=cfg["strict"],
                      allow_set_relation_comp=cfg["allow_set_relation_comp"])
        v = verify(g, p, **kw)
        print(f'{c["id"]} expect={c["equal"]} mv={v} gold={g!r} pred={p!r}')


if __name__ == "__main__":
    main()
