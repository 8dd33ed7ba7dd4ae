#!/usr/bin/env python3
"""train_prm.py — train the arith PRM in Qwen2.5-Math-PRM's format (Qwen2ForProcessRewardModel):
a Qwen2 body and score = Linear(H,H), ReLU, Linear(H,2) on the final-norm output; the input is
the PRM chat (common.prm_text: system prompt, problem, steps each followed by <extra_0>); the
reward of a step is softmax(score)[1] at its <extra_0>.

The body starts from the small policy's (same size, so the PRM costs about what the policy does
per token), the head from a seeded init; cross-entropy on the exact step labels of
sample_prm_data.py (the small policy's own solutions), a held-out tenth of the problems for the
step-classification accuracy. Deterministic: fixed seeds and data order, a fixed step count.

Writes OUT: config.json (architectures ["Qwen2ForProcessRewardModel"]), model.safetensors
(model.* and score.{0,2}.*, bf16 unless --dtype f32, no lm_head), tokenizer.json,
tokenizer_config.json (the policy's tokenizer; the chat template's default system prompt is the
PRM's), train_log.json, reference.json (rewards by transformers for tests/test_arith_models.c).

Usage: ~/ponder-venv/bin/python tools/arith/train_prm.py --policy DIR --data samples.jsonl --out DIR
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import torch
import transformers
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoTokenizer, Qwen2Config, Qwen2Model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SUMS = common.TASK == "sums"
STEPS = 2500 if SUMS else 1000
BATCH_TOKENS = 4096
LR = 5e-4
# The expression task's PRM was trained with HEAD_LR 2e-3, the head's default init and batches of
# one length in data order; on the target-sum task those gave constant rewards (every ReLU unit
# of the head died; each batch held one class), hence the task's own settings.
HEAD_LR = 3e-4 if SUMS else 2e-3
HEAD_BIAS = 0.5 if SUMS else None  # the head's hidden units start active
LM_WEIGHT = 0.5  # auxiliary next-token loss on the right steps' tokens
EXTRA_REFS = 8000
# Target sums: 20,000 synthetic wrong solutions (common.sums_corrupt_solution) and the per-number
# membership loss (membership_labels). Without that loss no PRM learned to rank a problem's
# samples (docs/ARITH.md: the top-scored of 16 was right less often than a random one).
SYNTHETIC = 20000 if SUMS else 0
MEMBERSHIP_WEIGHT = 1.0 if SUMS else 0.0
DENSE_WEIGHT = 0.0


class Qwen2ProcessRewardModel(nn.Module):
    """Qwen2.5-Math-PRM: Qwen2Model + score = Linear(H,H), ReLU, Linear(H,2)."""

    def __init__(self, cfg):
        super().__init__()
        h = cfg.hidden_size
        self.model = Qwen2Model(cfg)
        self.score = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))

    def forward(self, ids):
        return self.score(self.model(input_ids=ids, use_cache=False).last_hidden_state)

    def forward_both(self, ids):
        """Score-head outputs and next-token logits (the policy's tied embedding as LM head:
        the auxiliary loss that keeps the body's arithmetic; not part of the saved model)."""
        h = self.model(input_ids=ids, use_cache=False).last_hidden_state
        return self.score(h), h @ self.model.embed_tokens.weight.t(), h


def prm_template():
    """The tokenizer's ChatML template with the PRM's system prompt as its default."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizer
    t = make_tokenizer.chat_template()
    old = ("    {%- if messages[0]['role'] == 'system' %}\n"
           "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
           "    {%- endif %}\n")
    new = ("    {%- if messages[0]['role'] == 'system' %}\n"
           "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
           "    {%- else %}\n"
           "        {{- '<|im_start|>system\\n" + common.PRM_SYSTEM.replace("\\", "\\\\") + "<|im_end|>\\n' }}\n"
           "    {%- endif %}\n")
    assert t.count(old) == 1
    return t.replace(old, new)


def encode_all(tok, rows):
    step_id = tok.convert_tokens_to_ids("<extra_0>")
    texts = [common.prm_text(r["problem"], r["steps"]) for r in rows]
    encs = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for ids, offs, txt, r in zip(encs["input_ids"], encs["offset_mapping"], texts, rows):
        pos = [i for i, t in enumerate(ids) if t == step_id]
        assert len(pos) == len(r["steps"])
        # the closing <|im_end|>\n after the last <extra_0> is never read: drop it; start: where
        # the assistant turn (the first step) begins
        head = common.prm_text(r["problem"], [])
        head = head[:head.rindex("<|im_end|>")]
        start = len(tok(head, add_special_tokens=False)["input_ids"])
        assert ids[:start] == tok(head, add_special_tokens=False)["input_ids"]
        out.append((ids[:pos[-1] + 1], pos, r["labels"], start, token_labels(txt, offs, r, pos[-1] + 1),
                    membership_labels(tok, ids[:pos[-1] + 1], start, r["problem"]) if SUMS else None))
    return out


def membership_labels(tok, ids, start, problem):
    """Target-sum task: for each number the assistant turn writes (at its last token), 1 when the
    problem's list holds it, else 0; -100 elsewhere. The check a right last step passes and most
    wrong ones fail ("14 is one of the numbers"), taught where it is local (at the number itself)
    so that the read-out only has to carry it to the step's end."""
    nums = set(common._sums_parse(problem)[1])
    toks = tok.convert_ids_to_tokens(ids)
    lab = [-100] * len(ids)
    t = start
    while t < len(ids):
        if toks[t].isdigit():
            u = t
            while u + 1 < len(ids) and toks[u + 1].isdigit():
                u += 1
            lab[u] = int(int("".join(toks[t:u + 1])) in nums)
            t = u + 1
        else:
            t += 1
    return lab


def token_labels(txt, offs, r, n):
    """Dense labels: for each of the first n tokens of the assistant turn, 1 while the solution is
    still right up to and including that token's last character, 0 from its first wrong
    character on (common.first_error), -100 before the assistant turn. Trained beside the
    read-outs, they teach the body where a step goes wrong, not only that it did."""
    a0 = txt.index("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")
    fe = common.first_error(r["problem"], r["steps"]) if 0 in r["labels"] else None
    bad = len(txt)  # the first wrong character of txt
    if fe is not None:
        k, c = fe
        bad = a0 + sum(len(s) + len("<extra_0>") for s in r["steps"][:k]) + c
    lab = []
    for t in range(n):
        b, e = offs[t]
        lab.append(-100 if e <= a0 else (1 if e <= bad else 0))
    return lab


def batches(ex, batch_tokens, rng):
    """Length-bucketed batches (at most batch_tokens padded tokens each), in a seeded order.
    On the target-sum task, examples of one length are shuffled before bucketing: in data order, a length's policy
    samples (mostly wrong on hard levels) and reference solutions (all right) sat in separate
    batches, and the head learned each batch's class, not the step's (constant rewards)."""
    idx = list(range(len(ex)))
    if SUMS:
        rng.shuffle(idx)
    idx.sort(key=lambda i: len(ex[i][0]))
    out, cur, width = [], [], 0
    for i in idx:
        w = max(width, len(ex[i][0]))
        if cur and w * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, w = [], len(ex[i][0])
        cur.append(i)
        width = w
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(ex, b, pad, lm=False):
    """Input ids, the read-out rows/columns and their labels; with lm, also next-token targets
    (-100 = none) for the tokens of right steps (each step's text up to its <extra_0>)."""
    T = max(len(ex[i][0]) for i in b)
    x = torch.full((len(b), T), pad, dtype=torch.long)
    y = torch.full((len(b), T), -100, dtype=torch.long)
    yd = torch.full((len(b), T), -100, dtype=torch.long)
    ym = torch.full((len(b), T), -100, dtype=torch.long)
    rows, cols, labels = [], [], []
    for r, i in enumerate(b):
        ids, pos, lab, start, dense, memb = ex[i]
        x[r, :len(ids)] = torch.tensor(ids)
        yd[r, :len(ids)] = torch.tensor(dense)
        if memb is not None:
            ym[r, :len(ids)] = torch.tensor(memb)
        rows += [r] * len(pos)
        cols += pos
        labels += lab
        if lm:
            for p, l in zip(pos, lab):
                if l == 1:  # predict tokens start..p-1 from their prefixes
                    y[r, start - 1:p - 1] = torch.tensor(ids[start:p])
                start = p + 1
    out = (x, torch.tensor(rows), torch.tensor(cols), torch.tensor(labels))
    return out + (y, yd, ym) if lm else out


@torch.no_grad()
def evaluate(model, ex, pad):
    model.eval()
    right = n = 0
    tp = fp = fn = 0
    scored = []  # (reward, label) of every step: the ranking quality (AUC), which search uses
    first = first_caught = 0  # the first wrong step of a solution: the one that needs checking
    for b in batches(ex, 8192, random.Random(0)):
        x, r, c, y = collate(ex, b, pad)
        p = torch.softmax(model(x)[r, c].float(), -1)[:, 1]
        pred = (p > 0.5).long()
        scored += zip(p.tolist(), y.tolist())
        right += (pred == y).sum().item()
        n += len(y)
        tp += ((pred == 0) & (y == 0)).sum().item()
        fp += ((pred == 0) & (y == 1)).sum().item()
        fn += ((pred == 1) & (y == 0)).sum().item()
        prev_row, seen = -1, False
        for k in range(len(y)):
            if r[k].item() != prev_row:
                prev_row, seen = r[k].item(), False
            if y[k].item() == 0 and not seen:
                seen = True
                first += 1
                first_caught += pred[k].item() == 0
    model.train()
    scored.sort()  # AUC: P(a right step outscores a wrong one), ties counted half
    n_pos = sum(l for _, l in scored)
    n_neg = len(scored) - n_pos
    rank_sum, i = 0.0, 0
    while i < len(scored):
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        rank_sum += sum(l for _, l in scored[i:j]) * (i + j + 1) / 2.0
        i = j
    auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / max(1, n_pos * n_neg)
    return dict(step_accuracy=round(right / max(1, n), 4), steps=n, auc=round(auc, 4),
                wrong_step_recall=round(tp / max(1, tp + fn), 4), wrong_step_precision=round(tp / max(1, tp + fp), 4),
                first_wrong_recall=round(first_caught / max(1, first), 4))


def lr_scale(step, total, warm=50):
    if step < warm:
        return (step + 1) / warm
    p = (step - warm) / max(1, total - warm)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))


def save(model, policy_cfg, tok_dir, out, dtype):
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    cfg = {k: v for k, v in policy_cfg.items() if k not in ("architectures", "dtype", "torch_dtype")}
    cfg.update(architectures=["Qwen2ForProcessRewardModel"],
               auto_map={"AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
                         "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"},
               tie_word_embeddings=False, torch_dtype="bfloat16" if dtype == "bf16" else "float32",
               transformers_version=transformers.__version__)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    save_file({k: v.detach().to(dt).contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(tok_dir, "tokenizer.json"), out)
    with open(os.path.join(tok_dir, "tokenizer_config.json")) as f:
        tc = json.load(f)
    tc["chat_template"] = prm_template()
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def load_prm(d):
    """The saved PRM as transformers computes it: float32, eager attention."""
    cfg = Qwen2Config.from_pretrained(d)
    cfg._attn_implementation = "eager"
    m = Qwen2ProcessRewardModel(cfg).eval()
    state = {k: v.float() for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
    m.load_state_dict(state, strict=True)
    return m


def r7(x):
    return float("%.7g" % x)


def write_reference(d, cases):
    """reference.json: the rewards transformers gives the saved PRM on a few solutions (right and
    wrong ones, every level), with their input ids and read-out positions (test_prm.c's layout)."""
    tok = AutoTokenizer.from_pretrained(d)
    model = load_prm(d)
    step_id = tok.convert_tokens_to_ids("<extra_0>")
    out = []
    for c in cases:
        txt = common.prm_text(c["problem"], c["steps"])
        msgs = [{"role": "system", "content": common.PRM_SYSTEM}, {"role": "user", "content": c["problem"]},
                {"role": "assistant", "content": "".join(s + "<extra_0>" for s in c["steps"])}]
        assert tok.apply_chat_template(msgs, tokenize=False) == txt
        msgs.pop(0)  # the template's default system prompt is the PRM's
        assert tok.apply_chat_template(msgs, tokenize=False) == txt
        ids = tok(txt, add_special_tokens=False)["input_ids"]
        pos = [i for i, t in enumerate(ids) if t == step_id]
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0]
        out.append(dict(problem=c["problem"], steps=c["steps"], labels=c["labels"], input_text=txt, input_ids=ids,
                        readout_positions=pos, head=[[r7(x) for x in logits[i].tolist()] for i in pos],
                        rewards=[r7(torch.softmax(logits[i], -1)[1].item()) for i in pos]))
    ref = {"kind": "qwen2-prm",
           "made_with": "tools/arith/train_prm.py (torch %s, transformers %s; the saved weights in float32, eager "
                        "attention)" % (torch.__version__.split("+")[0], transformers.__version__),
           "special_ids": {t: tok.convert_tokens_to_ids(t) for t in common.SPECIALS}, "step_tag": step_id,
           "cases": out}
    with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def check_with_ponder(d):
    """ponder score on reference.json's cases: the largest difference from transformers' rewards."""
    import subprocess
    with open(os.path.join(d, "reference.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    inp = "".join(json.dumps(dict(problem=c["problem"], steps=c["steps"])) + "\n" for c in cases)
    out = subprocess.run([common.PONDER, "score", "--prm", d], input=inp, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    worst = 0.0
    for c, line in zip(cases, out):
        got = json.loads(line)["rewards"]
        worst = max([worst] + [abs(x - y) for x, y in zip(got, c["rewards"])])
    assert len(out) == len(cases)
    return worst


def pick_cases(rows, rng):
    """Two solutions per level from the held-out ones: one with a wrong step when there is one."""
    out = []
    for lv in range(1, 6):
        rs = [r for r in rows if r["level"] == lv and r["source"] == "policy"]
        wrong = [r for r in rs if 0 in r["labels"]]
        right = [r for r in rs if 0 not in r["labels"]]
        for pool in (right, wrong):
            if pool:
                out.append(rng.choice(pool))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True, help="the small policy (body init, tokenizer)")
    ap.add_argument("--data", required=True, help="samples.jsonl of sample_prm_data.py (several: comma-separated)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--lr", type=float, default=LR, help="learning rate of the body")
    ap.add_argument("--head-lr", type=float, default=HEAD_LR, help="learning rate of the two-layer head")
    ap.add_argument("--tokenizer", help="a tokenizer of the PRM's own (make_tokenizer.py --numbers); the body is "
                    "then trained from scratch in the policy's shape")
    ap.add_argument("--last-only", action="store_true",
                    help="train on the last step's label only (on sums the earlier steps' labels need the whole choice)")
    ap.add_argument("--head-bias", type=float, default=HEAD_BIAS, help="initial bias of the head's hidden layer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=("bf16", "f32"), default="bf16")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lm-weight", type=float, default=LM_WEIGHT)
    ap.add_argument("--extra-refs", type=int, default=EXTRA_REFS, help="generated reference solutions added")
    ap.add_argument("--extra-refs-seed", type=int, default=4100)
    ap.add_argument("--synthetic", type=int, default=SYNTHETIC, help="reference solutions made wrong at one step")
    ap.add_argument("--synthetic-seed", type=int, default=5100)
    ap.add_argument("--dense-weight", type=float, default=DENSE_WEIGHT,
                    help="weight of the per-token labels (token_labels) beside the step read-outs")
    ap.add_argument("--membership-weight", type=float, default=MEMBERSHIP_WEIGHT,
                    help="target-sum task: weight of an auxiliary per-number membership loss (membership_labels)")
    ap.add_argument("--eval-every", type=int, default=0, help="held-out figures every this many steps")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # denormals slow CPU matmuls down by orders of magnitude
    torch.manual_seed(3000 + a.seed)
    rng = random.Random(3000 + a.seed)
    tok_dir = a.tokenizer or a.policy
    tok = AutoTokenizer.from_pretrained(tok_dir)
    with open(os.path.join(a.policy, "config.json")) as f:
        pcfg = json.load(f)
    cfg = Qwen2Config.from_pretrained(a.policy)
    if a.tokenizer:  # a vocabulary of its own: the policy's shape, the body trained from scratch
        ids = {t: tok.convert_tokens_to_ids(t) for t in common.SPECIALS}
        pcfg.update(vocab_size=len(tok), bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                    pad_token_id=ids["<|endoftext|>"])
        cfg.vocab_size, cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = (
            len(tok), ids["<|endoftext|>"], ids["<|im_end|>"], ids["<|endoftext|>"])
    cfg._attn_implementation = "sdpa"
    model = Qwen2ProcessRewardModel(cfg)
    if not a.tokenizer:  # the body starts as the policy's
        pstate = load_file(os.path.join(a.policy, "model.safetensors"))
        body = {k[len("model."):]: v.float() for k, v in pstate.items() if k.startswith("model.")}
        model.model.load_state_dict(body, strict=True)
    if a.head_bias is not None:
        nn.init.constant_(model.score[0].bias, a.head_bias)
    rows = [r for path in a.data.split(",") for r in common.read_jsonl(path)]
    if a.synthetic:
        # reference solutions made wrong at one step with a plausible wrong value: more of the
        # errors the small policy makes most (a value off), each with its exact label
        srng = random.Random(a.synthetic_seed)
        for p in common.ponder_data(a.synthetic, a.synthetic_seed):
            got = common.corrupt_solution(p["problem"], common.solution_steps(p["solution"]), srng)
            if got:
                rows.append(dict(problem=p["problem"], level=p["level"], steps=got[0], labels=got[1],
                                 source="synthetic"))
    if a.extra_refs:
        # more reference solutions (all steps right): positives for the head and, above all,
        # text for the auxiliary next-token loss, which keeps teaching the body arithmetic
        for p in common.ponder_data(a.extra_refs, a.extra_refs_seed):
            st = common.solution_steps(p["solution"])
            rows.append(dict(problem=p["problem"], level=p["level"], steps=st, labels=[1] * len(st), source="extra"))
    problems = sorted({r["problem"] for r in rows if r["source"] not in ("extra", "synthetic")})
    rng.shuffle(problems)
    held = set(problems[:len(problems) // 10])  # extra references are never held out
    train_rows = [r for r in rows if r["problem"] not in held]
    val_rows = [r for r in rows if r["problem"] in held and r["source"] == "policy"]
    tr, va = encode_all(tok, train_rows), encode_all(tok, val_rows)
    if a.last_only:  # only the last step's label is trained (-100: ignored by the loss)
        tr = [(ids, pos, [-100] * (len(lab) - 1) + lab[-1:], start, dense, memb)
              for ids, pos, lab, start, dense, memb in tr]
    n_pos = sum(sum(l for l in e[2] if l == 1) for e in tr)
    n_all = sum(sum(1 for l in e[2] if l != -100) for e in tr)
    print("PRM: %.3fM parameters; %d train solutions (%d steps, %.2f right), %d held-out" %
          (sum(p.numel() for p in model.parameters()) / 1e6, len(tr), n_all, n_pos / n_all, len(va)), flush=True)
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    # classes weighted to balance right and wrong steps
    w = torch.tensor([n_all / (2.0 * (n_all - n_pos)), n_all / (2.0 * n_pos)])
    head = list(model.score.parameters())
    # the membership probe (--membership-weight): a linear read-out trained beside the head, not saved
    membership_head = nn.Linear(cfg.hidden_size, 2)
    head += list(membership_head.parameters())
    opt = torch.optim.AdamW([{"params": list(model.model.parameters()), "lr": a.lr, "base": a.lr},
                             {"params": head, "lr": a.head_lr, "base": a.head_lr}], betas=(0.9, 0.98),
                            weight_decay=0.01)
    print("before training:", evaluate(model, va, pad), flush=True)
    bl = []
    t0 = time.time()
    log = []
    ema = None
    model.train()
    for step in range(a.steps):
        if not bl:
            bl = batches(tr, BATCH_TOKENS, rng)
        b = bl.pop()
        x, r, c, y, ylm, yd, ym = collate(tr, b, pad, lm=True)
        for g in opt.param_groups:
            g["lr"] = g["base"] * lr_scale(step, a.steps)
        head, logits, hid = model.forward_both(x)
        loss = nn.functional.cross_entropy(head[r, c].float(), y, weight=w)
        if a.dense_weight:
            loss = loss + a.dense_weight * nn.functional.cross_entropy(
                head.reshape(-1, 2).float(), yd.reshape(-1), weight=w, ignore_index=-100)
        if a.membership_weight and (ym != -100).any():
            loss = loss + a.membership_weight * nn.functional.cross_entropy(
                membership_head(hid).reshape(-1, 2).float(), ym.reshape(-1), ignore_index=-100)
        if a.lm_weight and (ylm != -100).any():
            loss = loss + a.lm_weight * nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                                    ylm.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0 or step == a.steps - 1:
            log.append(dict(step=step, loss=round(ema, 5), seconds=round(time.time() - t0, 1)))
            print("step %5d  loss %.4f  %.0f s" % (step, ema, time.time() - t0), flush=True)
        if a.eval_every and step and step % a.eval_every == 0:
            print("  held-out at step %d:" % step, evaluate(model, va, pad), flush=True)
    secs = time.time() - t0
    ev = evaluate(model, va, pad)
    print("held-out:", ev, flush=True)
    save(model, pcfg, tok_dir, a.out, a.dtype)
    ev_saved = evaluate(load_prm(a.out), va, pad)
    write_reference(a.out, pick_cases([r for r in rows if r["problem"] in held], random.Random(5)))
    diff = check_with_ponder(a.out)
    print("ponder score vs transformers on reference.json: max |difference| %.2e" % diff, flush=True)
    assert diff < 1e-4
    with open(os.path.join(a.out, "train_log.json"), "w") as f:
        json.dump(dict(params=sum(p.numel() for p in model.parameters()), steps=a.steps, batch_tokens=BATCH_TOKENS,
                       lr=a.lr, head_lr=a.head_lr, lm_weight=a.lm_weight, dense_weight=a.dense_weight,
                       membership_weight=a.membership_weight,
                       synthetic=a.synthetic, extra_refs=a.extra_refs, seed=a.seed, problems=len(problems), train_solutions=len(tr), train_steps=n_all,
                       train_right_share=round(n_pos / n_all, 4), heldout=ev, heldout_saved_weights=ev_saved,
                       ponder_vs_transformers_max_diff=diff,
                       train_seconds=round(secs), torch_threads=torch.get_num_threads(), log=log), f, indent=1)
        f.write("\n")
    print("PRM: trained in %.0f s -> %s; held-out (saved %s weights): %s" % (secs, a.out, a.dtype, ev_saved))


if __name__ == "__main__":
    main()
