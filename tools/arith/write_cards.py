#!/usr/bin/env python3
"""write_cards.py — the model cards (models/<name>/README.md) of the arith models, from what
train_all.sh measured: each model's train_log.json, the evaluations of evaluate.py and the
stage times in build/arith/times.txt.

Usage: ~/ponder-venv/bin/python tools/arith/write_cards.py [--work build/arith]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def load(path):
    with open(path) as f:
        return json.load(f)


def times(work):
    t = {}
    p = os.path.join(work, "times.txt")
    if os.path.exists(p):
        for line in open(p):
            k, v = line.split()
            t[k] = int(v)
    return t


def size_mb(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 1e6


def acc_table(ev):
    rows = ["| level | problems | greedy accuracy | step accuracy |", "|---|---|---|---|"]
    for k in ["1", "2", "3", "4", "5", "all"]:
        if k in ev["greedy"]:
            v = ev["greedy"][k]
            rows.append("| %s | %d | %.3f | %.3f |" % (k, v["problems"], v["accuracy"], v["step_accuracy"]))
    return "\n".join(rows)


def arch(cfg):
    return ("Qwen2 body: hidden %d, %d layers, %d attention heads (%d key/value heads), MLP %d, vocabulary %d, "
            "context %d, tied embeddings: %s" % (cfg["hidden_size"], cfg["num_hidden_layers"],
                                                 cfg["num_attention_heads"], cfg["num_key_value_heads"],
                                                 cfg["intermediate_size"], cfg["vocab_size"],
                                                 cfg["max_position_embeddings"], cfg.get("tie_word_embeddings")))


TASK = ("`ponder data sums` problems (src/eval/sums.c), a search task: \"Three of the numbers 14, 27, 35, 8, 19 "
        "and 42 add up to 76. What is the smallest of the three?\" (exactly one choice works); levels 1-5 choose 2 of "
        "4, 2 of 5, 3 of 6, 3 of 7 and 4 of 8 numbers (values up to 30, 40, 50, 60, 70); the solution takes the "
        "chosen numbers from the largest down, one subtraction per step (\"$76 - 35 = 41$ is left for the other "
        "two.\"), steps separated by a blank line, the last one naming a number of the list and ending in "
        "\\boxed{answer}. The choice is hard to make; the last step is easy to check.")


def policy_card(name, d, ev, t, stage, other):
    log = load(os.path.join(d, "train_log.json"))
    cfg = load(os.path.join(d, "config.json"))
    c = log["config"]
    lv = ", ".join("%g" % x for x in c["levels"])
    return """# {name}

A {what} policy for ponder's arithmetic world (issue 9), trained from scratch on CPU by
`tools/arith/train_all.sh`. {params:,} parameters ({mb:.1f} MB, {dtype} safetensors).

- **Architecture**: Qwen2ForCausalLM, {arch}.
- **Tokenizer**: byte-level BPE trained on the task's text (tools/arith/make_tokenizer.py), Qwen2's
  pre-tokenizer (every digit one token); ChatML chat template without a default system prompt;
  EOS `<|im_end|>`.
- **Task and format**: {task} The model answers in the chat format with no system turn:
  `<|im_start|>user\\n{{problem}}<|im_end|>\\n<|im_start|>assistant\\n` then the solution exactly as the
  generator writes it, then `<|im_end|>`. Run it with `--system-prompt ''`.
- **Data**: {examples:,} generated problems (`ponder data sums`, seeds of their own; evaluation seeds
  differ), levels weighted {lv} (1 to 5); loss on the answer tokens only.
{grown}- **Training**: {steps} AdamW steps of about {bt} tokens (length-bucketed batches), peak learning rate {lr},
  warm-up then cosine decay, weight decay 0.1, seed {seed}; {secs} s of training ({threads} torch thread(s){stage}).
- **Measured with ponder** (`tools/arith/evaluate.py`: best_of_n N=1, temperature 0, no system prompt,
  {n} fresh problems, seed {eseed}); step accuracy is the share of steps right up to the first wrong one:

{table}

{other}
Retrain everything: `tools/arith/train_all.sh` (deterministic: fixed seeds and step counts).
`reference.json` holds a few greedy solutions computed by transformers that tests/test_arith_models.c
checks ponder against.
""".format(name=name, what="small" if "small" in name else "large", params=log["params"], mb=size_mb(d),
           dtype=cfg.get("torch_dtype", "bfloat16"), arch=arch(cfg), task=TASK, examples=log["examples"], lv=lv,
           steps=c["steps"], bt=c["batch_tokens"], lr=c["lr"], seed=log["seed"], secs=log["train_seconds"],
           threads=log["torch_threads"],
           stage=", stage wall time %d s in train_all.sh on a 2-core machine shared with other jobs" % t[stage]
           if stage in t else "", n=ev["problems"], eseed=ev["seed"],
           table=acc_table(ev), other=other,
           grown="- **Initialisation**: grown out of the trained models/arith-small (train_policy.grow: wider and "
                 "deeper, computing the same function at first), then trained on as below.\n"
           if log.get("grown_from") else "")


def extra_data(log):
    """The card's line on the data beside the policy's samples, from what the log records."""
    out = []
    if log.get("synthetic") and common.TASK == "sums":
        out.append("%d synthetic wrong solutions of generated problems, of the kinds the small policy writes "
                   "(other numbers taken; the right numbers with one subtraction off; the last subtraction bent "
                   "onto a number of the list: common.sums_corrupt_solution), labelled by the checker"
                   % log["synthetic"])
    elif log.get("synthetic"):
        out.append("%d reference solutions made wrong at one step with a plausible wrong value (off by one or "
                   "ten, a digit changed or swapped, a product off by one row: common.corrupt_solution), "
                   "labelled right up to that step and wrong there" % log["synthetic"])
    if log.get("lm_weight"):
        out.append("%s more reference solutions (all steps right) for an auxiliary next-token loss on right "
                   "steps (weight %g), which keeps the body's arithmetic" % (log.get("extra_refs", "8000"),
                                                                              log["lm_weight"]))
    return "- **Extra data**: " + "; ".join(out) + ".\n" if out else ""


def dense(log):
    out = ""
    if log.get("dense_weight"):
        out += (" plus (weight %g) on per-token labels: every token right up to the first wrong character of the "
                "solution, wrong from there on (train_prm.token_labels)" % log["dense_weight"])
    if log.get("membership_weight"):
        out += (", plus (weight %g) an auxiliary per-number loss: at the last token of every number the steps "
                "write, a linear probe (not saved) is trained to tell whether the problem's list holds that number "
                "(train_prm.membership_labels). Without it no PRM trained here learned to rank a problem's samples "
                "(docs/ARITH.md)" % log["membership_weight"])
    return out


def first(h):
    if "first_wrong_recall" not in h:
        return ""
    return (" The first wrong step of a solution (the one that takes checking the arithmetic; later ones "
            "follow from it) is caught %.3f of the time." % h["first_wrong_recall"])


def prm_card(d, t, work):
    log = load(os.path.join(d, "train_log.json"))
    cfg = load(os.path.join(d, "config.json"))
    h = log["heldout_saved_weights"]
    samp = ""
    sp = os.path.join(work, "prm-data", "stats.json")
    if os.path.exists(sp):
        st = load(sp)
        samp = "\n".join("| %s | %d | %.2f | %.2f |" % (k, v["solutions"], v["solved"], v["right_steps"])
                         for k, v in sorted(st["levels"].items()))
        samp = ("\nThe small policy's samples (distinct solutions per level, share solved, share of steps right):\n\n"
                "| level | solutions | solved | steps right |\n|---|---|---|---|\n" + samp + "\n")
    return """# arith-prm

The process reward model of ponder's arithmetic world (issue 9): Qwen2ForProcessRewardModel in
Qwen2.5-Math-PRM's format, trained on CPU by `tools/arith/train_all.sh`. {params:,} parameters
({mb:.1f} MB, bf16 safetensors), about the small policy's size (its FLOPs count in every search).

- **Architecture**: {arch}; score head Linear(H,H), ReLU, Linear(H,2) (tensors score.0.*, score.2.*),
  no lm_head.
- **Input** (ponder's `qwen2-prm` kind): the chat template with the system prompt "{sys}" (the template's
  default), the problem as the user turn, the assistant turn = the steps each followed by `<extra_0>`;
  the reward of a step is softmax(score)[1] at its `<extra_0>`.
- **Data**: the small policy's own solutions, sampled with ponder (best_of_n N=8, temperature 0.8, no system
  prompt) on {probs} problems, distinct solutions kept, plus each problem's reference solution; every step
  labelled exactly by tools/arith/common.py's checker (a step is right when it is the unique right solution's
  step character for character: the right number taken, largest first, and the subtraction right; every
  step after a wrong one is wrong). {nsol:,} training solutions, {nsteps:,} steps, {right:.0%} right.
{samp}
{extra_data}- **Training**: body initialised from models/arith-small, head from a seeded init; {steps} AdamW steps of
  about {bt} tokens, class-balanced cross-entropy on the step labels at `<extra_0>`{dense}; {secs} s
  ({threads} torch thread(s){tstage}).
- **Held-out step classification** (a tenth of the problems, the small policy's solutions, the saved bf16
  weights, threshold 0.5): accuracy {acc:.3f} on {n} steps; wrong steps caught {rec:.3f}, flagged steps
  really wrong {prec:.3f}; ranking (AUC: a right step scored above a wrong one) {auc:.3f}.{first} The
  threshold means little (the synthetic data shifts the classes); the ranking is what the searches use.
  An intermediate step is right only when it takes a number of the unique solution, which the PRM cannot
  know without solving the problem; the last step it can check (the subtraction, and whether the number
  left is in the list), and that is where it earns its keep: docs/ARITH.md.
- `reference.json`: rewards computed by transformers (float32) on held-out solutions of every level;
  `ponder score` agrees within {diff:.1e} (tests/test_arith_models.c checks 1e-4).
""".format(params=log["params"], mb=size_mb(d), arch=arch(cfg), sys=common.PRM_SYSTEM, probs=log.get("problems", "?"),
           nsol=log["train_solutions"], nsteps=log["train_steps"], right=log["train_right_share"], samp=samp,
           steps=log["steps"], bt=log["batch_tokens"], secs=log["train_seconds"], threads=log["torch_threads"],
           tstage="; stage wall times in train_all.sh: sampling %d s, training %d s" % (t["sample"], t["prm"])
           if "sample" in t and "prm" in t else "", acc=h["step_accuracy"], n=h["steps"],
           extra_data=extra_data(log), dense=dense(log), first=first(h),
           rec=h["wrong_step_recall"], prec=h["wrong_step_precision"], auc=h.get("auc", float("nan")), diff=log["ponder_vs_transformers_max_diff"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(common.ROOT, "build", "arith"))
    a = ap.parse_args()
    t = times(a.work)
    evs = {k: load(os.path.join(a.work, "eval-%s.json" % k)) for k in ("small", "large")}
    if "total" in t:
        total = ("The whole retrain (tokenizer, both policies, sampling, PRM, evaluations) took %d s on this "
                 "2-core machine.\n" % t["total"])
    else:  # the stages were run one by one, with train_all.sh's commands
        logs = {k: load(os.path.join(common.MODELS, "arith-" + k, "train_log.json"))["train_seconds"]
                for k in ("small", "large", "prm")}
        total = ("These models were made by train_all.sh's stages run one at a time; from their logged training "
                 "times (small %d s, then large %d s beside the PRM's %d s plus sampling), a whole run takes about "
                 "%d minutes on 2 cores.\n" % (logs["small"], logs["large"], logs["prm"],
                                               round((logs["small"] + max(logs["large"], logs["prm"] + 300) + 180) / 60)))
    for k, other in (("small", "large"), ("large", "small")):
        d = os.path.join(common.MODELS, "arith-" + k)
        o = evs[other]["greedy"]["all"]
        note = ("For comparison, models/arith-%s greedy: accuracy %.3f, step accuracy %.3f on the same problems.\n%s"
                % (other, o["accuracy"], o["step_accuracy"], total))
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write(policy_card("arith-" + k, d, evs[k], t, k, note))
    d = os.path.join(common.MODELS, "arith-prm")
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(prm_card(d, t, a.work))
    print("model cards written")


if __name__ == "__main__":
    main()
