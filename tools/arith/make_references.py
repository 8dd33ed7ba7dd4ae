#!/usr/bin/env python3
"""make_references.py — reference.json of a trained arith policy, for tests/test_arith_models.c:
a few level-1 and level-2 problems the policy solves greedily, each with its prompt ids (the
chat without a system turn), the last prompt position's logits and the greedy continuation up
to and including <|im_end|>, all computed by transformers (the saved weights in float32, eager
attention). The test checks that ponder renders the same ids, computes the same logits (1e-3)
and decodes the same greedy ids, and that the answer is right.

Usage: ~/ponder-venv/bin/python tools/arith/make_references.py DIR...
"""
import json
import os
import re
import sys

import torch
import transformers
from transformers import AutoTokenizer, Qwen2ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 4242  # problems of their own (training and evaluation seeds differ)
WANT = {1: 3, 2: 1}  # solved cases per level


def r7(x):
    return float("%.7g" % x)


def make(d):
    tok = AutoTokenizer.from_pretrained(d)
    model = Qwen2ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    cases = []
    for lv, want in WANT.items():
        got = 0
        for p in common.ponder_data(40, SEED, levels=str(lv)):
            txt = tok.apply_chat_template([{"role": "user", "content": p["problem"]}], tokenize=False,
                                          add_generation_prompt=True)
            assert txt == common.prompt_text(p["problem"])
            ids = tok(txt, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1]
                out = model.generate(torch.tensor([ids]), max_new_tokens=200, do_sample=False, eos_token_id=eos,
                                     pad_token_id=eos)[0, len(ids):].tolist()
            text = tok.decode(out, skip_special_tokens=True)
            m = re.search(r"\\boxed\{(-?\d+)\}", text)
            if out[-1] != eos or not m or m.group(1) != p["answer"] or text != p["solution"]:
                continue
            cases.append(dict(problem=p["problem"], level=lv, answer=p["answer"], prompt_ids=ids,
                              last_logits=[r7(x) for x in logits.tolist()], greedy_ids=out, greedy_text=text))
            got += 1
            if got == want:
                break
        assert got == want, "%s: only %d level-%d problems solved greedily" % (d, got, lv)
    ref = {"made_with": "tools/arith/make_references.py (torch %s, transformers %s; the saved weights in float32, "
                        "eager attention)" % (torch.__version__.split("+")[0], transformers.__version__),
           "eos_id": eos, "cases": cases}
    with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("%s: reference.json with %d cases" % (d, len(cases)))


if __name__ == "__main__":
    for d in sys.argv[1:]:
        make(d)
