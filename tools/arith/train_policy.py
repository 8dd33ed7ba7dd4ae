#!/usr/bin/env python3
"""train_policy.py — train an arith policy (Qwen2ForCausalLM) from scratch on CPU.

The model learns the chat format of common.py: prompt = ChatML user turn with the problem (no
system turn), target = the generator's solution (steps separated by "\\n\\n", last step ending
in \\boxed{answer}) followed by <|im_end|> (the model's EOS). Loss on the target tokens only.
Problems come from `ponder data sums` (common.TASK) with a seed of their own (evaluation seeds differ).
Batches hold examples of similar length (right-padded; causal attention never looks at the
padding), a fixed number of steps with AdamW, linear warm-up and cosine decay: the run is
reproducible (fixed seeds, deterministic data order) and its length does not depend on speed.

Writes OUT (Hugging Face layout): config.json, generation_config.json, model.safetensors (bf16
unless --dtype f32), tokenizer.json, tokenizer_config.json, train_log.json.

Usage: ~/ponder-venv/bin/python tools/arith/train_policy.py --size small|large --out DIR
           [--tokenizer DIR] [--steps N] [--seed S]
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
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# Sizes: (hidden, layers, heads, kv heads, intermediate), the step count, batch tokens, peak lr,
# the data seed and the share of each level (levels 1..5) in the training problems.
# drills: share of single-operation problems (drills_of) among the examples; easy_steps: share
# of the steps, at the start, that see only levels 1-2 (a curriculum: it roughly doubles what
# the small model learns in the same steps). The large model grows out of the trained small one
# (grow(): wider and deeper, computing the same function) and trains on from there.
SIZES = {
    "small": dict(hidden=128, layers=4, heads=4, kv=4, inter=384, steps=2000, batch_tokens=2048, lr=1e-3,
                  data_seed=101, levels=(1, 2, 3, 3, 3), drills=0.5 if common.TASK == "arith" else 0.0, easy_steps=0.3),
    "large": dict(hidden=256, layers=8, heads=8, kv=4, inter=1152, steps=1000, batch_tokens=2048, lr=5e-4,
                  data_seed=102, levels=(1, 2, 3, 3, 3), drills=0.5 if common.TASK == "arith" else 0.0, easy_steps=0.0),
}
MAX_LEN = 1024


def model_config(s, tok):
    ids = {t: tok.convert_tokens_to_ids(t) for t in common.SPECIALS}
    return Qwen2Config(vocab_size=len(tok), hidden_size=s["hidden"], intermediate_size=s["inter"],
                       num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv"],
                       max_position_embeddings=MAX_LEN, rope_theta=10000.0, rms_norm_eps=1e-6,
                       tie_word_embeddings=True, hidden_act="silu", use_sliding_window=False,
                       sliding_window=None, max_window_layers=s["layers"], attention_dropout=0.0,
                       bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                       pad_token_id=ids["<|endoftext|>"], use_cache=True)


def grow(small, large, noise=0.03, seed=0):
    """Load a trained small Qwen2 into a larger one so that the large computes (almost) the
    same function (Net2Net-style function-preserving growth; bert2BERT does the same for BERT):

      width   every hidden unit is duplicated ([x, x]: RMSNorm sees the same RMS), so a linear
              layer reading the hidden state takes its columns twice at half weight and one
              writing it has its rows twice; the final norm weight is halved because the tied
              embedding matrix, read twice, doubles the logits otherwise
      heads   each query head twice (adjacent, so both use the same key/value head under
              grouped-query attention), o_proj reading each copy at half weight
      MLP     each intermediate unit k times (k = large/small), down_proj reading each at 1/k
      depth   small layer i becomes large layer i*d; the layers in between start as identity
              maps (o_proj and down_proj zero, the rest a fresh init) and learn from there

    A small relative noise on the copied weights breaks the copies' symmetry. Returns the large
    model's state dict."""
    cs, cl = small.config, large.config
    H, H2 = cs.hidden_size, cl.hidden_size
    hd = H // cs.num_attention_heads
    w = H2 // H
    hr = cl.num_attention_heads // cs.num_attention_heads
    kmlp = cl.intermediate_size // cs.intermediate_size
    d = cl.num_hidden_layers // cs.num_hidden_layers
    assert H2 == w * H and hd == H2 // cl.num_attention_heads and cl.intermediate_size == kmlp * cs.intermediate_size
    assert cl.num_key_value_heads == cs.num_key_value_heads == cs.num_attention_heads and hr == 2
    assert cl.num_hidden_layers == d * cs.num_hidden_layers and cl.tie_word_embeddings and cs.tie_word_embeddings
    g = torch.Generator().manual_seed(seed)
    ss = {k: v.detach().float() for k, v in small.state_dict().items()}
    out = {k: v.detach().clone() for k, v in large.state_dict().items()}

    def cols(W, k=w):  # a layer reading the widened input: columns k times at 1/k
        return torch.cat([W] * k, dim=-1) / k

    def rows(W, k=w):  # a layer writing the widened output
        return torch.cat([W] * k, dim=0)

    def heads2(W):  # (n_heads * hd, ...) -> each head twice, adjacent
        return W.reshape(-1, hd, *W.shape[1:]).repeat_interleave(hr, dim=0).reshape(-1, *W.shape[1:])

    def noisy(W):
        return W + noise * W.std() * torch.randn(W.shape, generator=g) if W.dim() >= 2 and noise else W

    e = ss["model.embed_tokens.weight"]
    out["model.embed_tokens.weight"] = noisy(torch.cat([e] * w, dim=1))
    out["model.norm.weight"] = rows(ss["model.norm.weight"]) / w
    if "lm_head.weight" in out:  # tied: the same tensor as the embedding
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    for i in range(cs.num_hidden_layers):
        a, b = "model.layers.%d." % i, "model.layers.%d." % (i * d)
        for n in ("input_layernorm.weight", "post_attention_layernorm.weight"):
            out[b + n] = rows(ss[a + n])
        out[b + "self_attn.q_proj.weight"] = noisy(heads2(cols(ss[a + "self_attn.q_proj.weight"])))
        out[b + "self_attn.q_proj.bias"] = heads2(ss[a + "self_attn.q_proj.bias"])
        for n in ("k_proj", "v_proj"):
            out[b + "self_attn.%s.weight" % n] = noisy(cols(ss[a + "self_attn.%s.weight" % n]))
            out[b + "self_attn.%s.bias" % n] = ss[a + "self_attn.%s.bias" % n].clone()
        o = ss[a + "self_attn.o_proj.weight"]  # (H, nh*hd)
        o = o.reshape(H, -1, hd).repeat_interleave(hr, dim=1).reshape(H, -1) / hr
        out[b + "self_attn.o_proj.weight"] = noisy(rows(o))
        for n in ("gate_proj", "up_proj"):
            out[b + "mlp.%s.weight" % n] = noisy(rows(cols(ss[a + "mlp.%s.weight" % n]), kmlp))
        out[b + "mlp.down_proj.weight"] = noisy(rows(cols(ss[a + "mlp.down_proj.weight"], kmlp)))
        for j in range(1, d):  # identity layers in between
            c = "model.layers.%d." % (i * d + j)
            out[c + "self_attn.o_proj.weight"].zero_()
            out[c + "mlp.down_proj.weight"].zero_()
    return out


def drills_of(rows):
    """Single-operation problems: each step's operation of the given problems as a problem of
    its own, written as the generator writes a one-operation expression ("Compute $(-17) \\times
    4$." and "$(-17) \\times 4 = -68$, so the answer is $\\boxed{-68}$."). Their operands follow
    the real steps' distribution; they train the arithmetic in a few tokens."""
    out = []
    for r in rows:
        for st in common.solution_steps(r["solution"]):
            m = common.STEP_OP.match(st)
            op_text, v = m.group(1), int(m.group(2))
            out.append(dict(problem="Compute $%s$." % op_text, solution=common.step_text(op_text, v, None),
                            level=r["level"]))
    return out


def make_examples(tok, n, seed, level_weights, drill_share=0.0):
    """n problems, levels drawn in proportion to level_weights, and as many drills again as
    make drill_share of all examples; tokenized: (ids, n_prompt)."""
    rng = random.Random(seed)
    n_drill = int(n * drill_share / (1 - drill_share)) if drill_share else 0
    rows = []
    for part, count in ((0, n), (1, n_drill)):
        if not count:
            continue
        per = [0] * 5
        for _ in range(count if part == 0 else count // 3 + 1):  # a problem gives ~3 drills
            per[rng.choices(range(5), weights=level_weights)[0]] += 1
        got = []
        for lv in range(5):
            if per[lv]:
                got += common.ponder_data(per[lv], seed * 10 + lv + 1 + 100 * part, levels=str(lv + 1))
        if part == 1:
            got = drills_of(got)
            rng.shuffle(got)
            got = got[:count]
        rows += got
    rng.shuffle(rows)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    out = []
    prompts = tok([common.prompt_text(r["problem"]) for r in rows], add_special_tokens=False)["input_ids"]
    sols = tok([r["solution"] for r in rows], add_special_tokens=False)["input_ids"]
    for p, s, r in zip(prompts, sols, rows):
        out.append((p + s + [eos], len(p), r["level"]))
    return out


def batches(examples, batch_tokens, seed):
    """Length-bucketed batches (each at most batch_tokens padded tokens), in a seeded order."""
    rng = random.Random(seed)
    idx = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), i))
    out, cur, width = [], [], 0
    for i in idx:
        w = max(width, len(examples[i][0]))
        if cur and w * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, w = [], len(examples[i][0])
        cur.append(i)
        width = w
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(examples, b, pad):
    T = max(len(examples[i][0]) for i in b)
    x = torch.full((len(b), T), pad, dtype=torch.long)
    y = torch.full((len(b), T), -100, dtype=torch.long)
    for r, i in enumerate(b):
        ids, np_ = examples[i][:2]
        x[r, :len(ids)] = torch.tensor(ids)
        y[r, np_:len(ids)] = torch.tensor(ids[np_:])
    return x, y


def lr_at(step, total, peak, warm=100):
    if step < warm:
        return peak * (step + 1) / warm
    p = (step - warm) / max(1, total - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def save(model, tok_dir, out, dtype, log):
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    m = model.to(torch.bfloat16 if dtype == "bf16" else torch.float32)
    m.config.torch_dtype = "bfloat16" if dtype == "bf16" else "float32"
    m.generation_config.eos_token_id = m.config.eos_token_id
    m.generation_config.bos_token_id = m.config.bos_token_id
    m.generation_config.pad_token_id = m.config.pad_token_id
    m.generation_config.do_sample = False
    m.save_pretrained(out, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), out)
    with open(os.path.join(out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=os.path.join(common.ROOT, "build", "arith", "tokenizer"))
    ap.add_argument("--steps", type=int, help="optimizer steps (default: the size's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="grow the model out of this trained smaller policy (grow())")
    ap.add_argument("--dtype", choices=("bf16", "f32"), default="bf16")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a size setting (experiments), e.g. --set lr=1e-3")
    a = ap.parse_args()
    s = dict(SIZES[a.size])
    if a.steps:
        s["steps"] = a.steps
    for kv in a.set:
        k, v = kv.split("=", 1)
        s[k] = type(s[k])(v) if not isinstance(s[k], tuple) else tuple(float(x) for x in v.split(","))
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # denormals slow CPU matmuls down by orders of magnitude
    torch.manual_seed(1000 + a.seed)
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    cfg = model_config(s, tok)
    cfg._attn_implementation = "sdpa"
    model = Qwen2ForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.time()
    if a.init:
        small = Qwen2ForCausalLM.from_pretrained(a.init, dtype=torch.float32)
        model.load_state_dict(grow(small, model, seed=a.seed), strict=True)
        print("grown from %s (%.3fM parameters)" % (a.init, sum(p.numel() for p in small.parameters()) / 1e6),
              flush=True)
    # enough problems that no example is seen twice: steps x examples per batch (about
    # batch_tokens / 130 tokens per problem on average) with margin
    n_ex = int(s["steps"] * s["batch_tokens"] / 100)
    ex = make_examples(tok, n_ex, s["data_seed"] + 1000 * a.seed, s["levels"], s["drills"])
    # curriculum: the first `easy_steps` share of the steps sees only levels 1-2 (and their
    # drills), then every batch comes from the whole mix
    easy_ex = [e for e in ex if e[2] <= 2]
    n_easy = int(s["easy_steps"] * s["steps"])
    bl = (batches(easy_ex, s["batch_tokens"], s["data_seed"])[:n_easy] if n_easy else []) + \
        batches(ex, s["batch_tokens"], s["data_seed"] + 1)
    print("%s: %.3fM parameters, %d examples (%d batches) made in %.0f s" %
          (a.size, n_params / 1e6, len(ex), len(bl), time.time() - t0), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=s["lr"], betas=(0.9, 0.98), eps=1e-8)
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    model.train()
    log, t1, ema = [], time.time(), None
    for step in range(s["steps"]):
        b = bl[step % len(bl)]
        x, y = collate(ex, b, pad)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, s["steps"], s["lr"])
        loss = model(input_ids=x, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0 or step == s["steps"] - 1:
            el = time.time() - t1
            log.append(dict(step=step, loss=round(ema, 5), seconds=round(el, 1)))
            print("step %5d  loss %.4f  lr %.2e  %.0f s" % (step, ema, opt.param_groups[0]["lr"], el), flush=True)
    train_s = time.time() - t1
    info = dict(size=a.size, params=n_params, config=s, seed=a.seed, grown_from=a.init and os.path.relpath(a.init, common.ROOT), examples=len(ex), train_seconds=round(train_s),
                torch_threads=torch.get_num_threads(), torch=torch.__version__, log=log)
    save(model, a.tokenizer, a.out, a.dtype, info)
    print("%s: trained in %.0f s -> %s" % (a.size, train_s, a.out), flush=True)


if __name__ == "__main__":
    main()
