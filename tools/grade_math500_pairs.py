#!/usr/bin/env python3
"""grade_math500_pairs.py — which distinct MATH-500 answers does Math-Verify call equal?

Usage: /work/venv/bin/python tools/grade_math500_pairs.py ../shared/data/math500.jsonl \
           > tests/fixtures/grade/math500_equal_pairs.json

Takes the distinct `answer` strings of MATH-500, parses each with Math-Verify (each wrapped in
$...$, LaTeX + expression extraction, its default settings) and verifies every pair both
ways. Writes {"answers": [...distinct answers...], "equal_pairs": [[i, j], ...]} where i < j
index `answers` and verify() held in either direction. tests/test_grade_math500.c uses it as
the reference for "no answer equals a different problem's answer unless they really are
equal".
"""
import json
import zlib
import sys

import sympy

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify


def main():
    answers = []
    seen = set()
    for line in open(sys.argv[1]):
        a = json.loads(line)["answer"]
        if a not in seen:
            seen.add(a)
            answers.append(a)
    cfg = [LatexExtractionConfig(), ExprExtractionConfig()]
    parsed = [parse("$" + a + "$", cfg, parsing_timeout=None) for a in answers]
    # Values of the answers that are plain numbers: two numbers whose values differ cannot be
    # equal under verify(), so those pairs are skipped (this only saves time: sympy's
    # simplify on thousands of unequal pairs is slow).
    # Variables get fixed values (the same for a name everywhere), so expressions compare by
    # value too; letters that verify() treats as text (e vs E) could be skipped wrongly, which
    # the pairs in MATH-500 do not have.
    def value(p):
        try:
            e = p[0]
            if not isinstance(e, sympy.Expr) or isinstance(e, sympy.Tuple):
                return None
            subs = {s: 0.5 + (zlib.crc32(str(s).encode()) % 1000) / 777.0 for s in e.free_symbols}
            return complex(sympy.N(e.subs(subs)))
        except Exception:
            return None

    vals = [value(p) if p else None for p in parsed]
    pairs = []
    for i in range(len(answers)):
        for j in range(i + 1, len(answers)):
            if not parsed[i] or not parsed[j]:
                continue
            a, b = vals[i], vals[j]
            if a is not None and b is not None and abs(a - b) > 1e-3 * max(1.0, abs(a), abs(b)):
                continue
            if verify(parsed[i], parsed[j], timeout_seconds=5) or verify(parsed[j], parsed[i], timeout_seconds=5):
                pairs.append([i, j])
        print(f"{i}/{len(answers)} {len(pairs)}", file=sys.stderr)
    json.dump({"answers": answers, "equal_pairs": pairs}, sys.stdout, indent=0)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
