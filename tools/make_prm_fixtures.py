#!/usr/bin/env python3
"""make_prm_fixtures.py — random-weight tiny PRMs of the four kinds ponder reads, with tokenizers
built here and reference step rewards computed by PyTorch / transformers.

Writes tests/fixtures/prm/<dir>/ for

  qwen2-prm          Qwen2.5-Math-PRM-7B shape: Qwen2ForProcessRewardModel, score head
                     Linear(H,H)-ReLU-Linear(H,2), no lm_head.weight
  qwen2-prm-lmhead   the same model (same weights) with an extra, unused lm_head.weight
  skywork            Skywork-o1-Open-PRM-Qwen-2.5 shape: Qwen2ForPrmModel, v_head.summary Linear(H,1)
  rlhflow            RLHFlow/Llama3.1-8B-PRM-Deepseek-Data shape: LlamaForCausalLM (Llama-3.1 rope)
  math-shepherd      peiyi9979/math-shepherd-mistral-7b-prm shape: MistralForCausalLM

Each directory holds config.json (hub style: rope_theta / rope_scaling / torch_dtype, as the real
checkpoints spell it), model.safetensors (float32, tensor names as the real checkpoints),
tokenizer.json + tokenizer_config.json (a small BPE trained here on generated math text, in the
layout of the real family: Qwen2 byte-level, Llama-3 byte-level, Mistral SentencePiece-style with
byte fallback) and reference.json:

  {"kind", "made_with", "special_ids": {token: id}, the read-out ids ("step_tag", "candidates"
   [plus, minus], "newline", "bos_token" as the kind has them), "cases": [{"problem", "steps",
   "input_text", "input_ids", "readout_positions", "rewards", "head"}]}

input_ids are built exactly as the PRM's own code does (tests/fixtures/prm/README.md and
../shared/reference/PRM_FORMATS.md); rewards (one per step) are computed on them by a float32
eager-attention forward; "head" holds the raw numbers each reward comes from (the two score
outputs, the value, or the two candidate logits). Skywork cases also carry "line_positions" and
"line_rewards": the value at every appended "\\n" (a step with internal newlines has several).

Weights are seeded normals with larger scales than the usual init so that rewards spread over
(0, 1); the tokenizers' BPE training is deterministic; rerunning rewrites identical files.

Usage: ~/ponder-venv/bin/python tools/make_prm_fixtures.py [--shared ../shared] [--out tests/fixtures/prm]
"""
import argparse
import copy
import json
import math
import os
import random
import shutil

import tokenizers
import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from torch import nn
from transformers import (AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2Model)

QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2)

# ---------------------------------------------------------------------------------- test cases
# Steps are given without the "\n\n" delimiter (search-and-learn splits on it).
CASES = [
    # short, plain ASCII
    dict(problem="What is 2 + 3?",
         steps=["We add 2 and 3 to get 5.", "The answer is 5."]),
    # one step only
    dict(problem="Compute 7 times 8.",
         steps=["7 times 8 is 56, so the answer is $\\boxed{56}$."]),
    # LaTeX with \boxed{}
    dict(problem="Let $f(x) = \\frac{x^2 - 4}{x - 2}$. Find $\\lim_{x \\to 2} f(x)$.",
         steps=["For $x \\neq 2$ we have $f(x) = \\frac{(x-2)(x+2)}{x-2} = x + 2$.",
                "So $\\lim_{x \\to 2} f(x) = 2 + 2 = 4$.",
                "The final answer is $\\boxed{4}$."]),
    # unicode: accents, CJK, symbols
    dict(problem="Un café coûte 3 € et un thé 2 €. Combien coûtent 2 cafés et 1 thé ? 请用中文回答。",
         steps=["Deux cafés coûtent 2 × 3 = 6 €.",
                "加上一杯茶：6 + 2 = 8 欧元。",
                "Réponse : $\\boxed{8}$ € ✓"]),
    # steps with internal single newlines
    dict(problem="Solve the system $x + y = 10$ and $x - y = 2$.",
         steps=["Step 1: Add the two equations.\n(x + y) + (x - y) = 12\n2x = 12, so x = 6.",
                "Step 2: Substitute back.\n6 + y = 10\ny = 4.",
                "The answer is $(x, y) = \\boxed{(6, 4)}$."]),
    # leading and trailing spaces
    dict(problem="  What is 10 - 4?  ",
         steps=["  Subtract 4 from 10:  ", "10 - 4 = 6 ", " The answer is $\\boxed{6}$."]),
    # long
    dict(problem=("A rectangle has a perimeter of 56 cm and its length is 4 cm more than three times its "
                  "width. Find the area of the rectangle, then find the length of its diagonal rounded to "
                  "the nearest tenth of a centimetre."),
         steps=["Let the width be $w$ cm. Then the length is $3w + 4$ cm.",
                "The perimeter is $2(w + 3w + 4) = 8w + 8$, so $8w + 8 = 56$.",
                "Subtracting 8 from both sides gives $8w = 48$, hence $w = 6$.",
                "The length is $3 \\cdot 6 + 4 = 22$ cm.",
                "The area is $6 \\times 22 = 132$ square centimetres.",
                "By the Pythagorean theorem the diagonal is $\\sqrt{6^2 + 22^2} = \\sqrt{36 + 484} = \\sqrt{520}$.",
                "Since $22.8^2 = 519.84$ and $22.81^2 = 520.2961$, we get $\\sqrt{520} \\approx 22.8$.",
                "The area is $\\boxed{132}$ and the diagonal is about 22.8 cm."]),
]


# ------------------------------------------------------------------------------ training text
def corpus_lines(seed=7, n=4000):
    """Generated math text: equations, LaTeX, step prose, a little French and Russian (the
    Math-Shepherd tag "ки" is Cyrillic), no CJK (those characters fall back to bytes)."""
    rng = random.Random(seed)
    v = "xyzabnmkt"
    words = ("Let Then So Therefore Hence Since We The What How Find Compute Show Suppose If Now Next First "
             "Finally answer is are was be area sum product difference quotient of the and to get find number "
             "numbers value values both sides equation equations step steps triangle square rectangle circle "
             "radius diameter perimeter length width height angle degrees root roots divide multiply add "
             "subtract total each cost price solve for gives we have has a an in on at by with so that this "
             "these there which when where not no all any many much more less than equal equals integer "
             "integers positive negative real prime even odd factor factors multiple remainder fraction "
             "decimal percent probability expected function polynomial coefficient term terms sequence "
             "series first second third last next previous point points line lines slope intercept graph "
             "distance speed time hours minutes cents dollars apples students books left right side "
             "simplify expand substitute rewrite check verify note notice recall because thus gives yields "
             "solution solutions problem unique possible cases case least greatest smallest largest "
             "un une le la les est et deux trois réponse égal donc café thé coûte").split()
    temps = [
        "Let ${v}$ be a real number such that ${a}{v} + {b} = {c}$.",
        "Step {n}: Subtract {b} from both sides to get ${a}{v} = {d}$.",
        "Step {n}: Divide both sides by {a}, so ${v} = {e}$.",
        "Therefore, the final answer is $\\boxed{{{e}}}$.",
        "We compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}} = \\frac{{{p}}}{{{q}}}$.",
        "Since $\\sqrt{{{s}}} = {r}$, the area is ${a} \\cdot {b} / 2 = {h}$.",
        "The sum is {a} + {b} + {c} = {t}, and {t} - {b} = {u}.",
        "{a} times {b} is {m}, so the answer is {m}.",
        "$\\lim_{{{v} \\to {a}}} f({v}) = {b}$ and $f'({v}) = {a}{v}^2 - {c}$.",
        "If ${v}^2 - {s} = 0$ then ${v} = \\pm {r}$.",
        "We have $({v} + {a})({v} - {a}) = {v}^2 - {s}$ for every ${v} \\neq 0$.",
        "Un café coûte {a} € ; deux cafés coûtent {m} €. Réponse : {m}.",
        "Шаг {n}: {a} + {b} = {t} ки",
        "{a} + {b} = {t} ки",
        "{a} - {b} = {u} ки",
        "So the answer is {e}. ки",
        "The total is {t} + {a} - {b}.",
        "(x + y) - (x - y) = 2y, so y = {e}.",
        "{w1} {w2} {w3} {w4} {w5}.",
        "{w1} {w2} {w3}, {w4} {w5} {w6} {w7}.",
        "The answer is $({a}, {b})$ or $[{c}, {d}]$; the set is $\\{{{a}, {b}\\}}$.",
        "Step {n}: {w1} {w2} {w3} {w4}: {a} - {b} = {u}. ки",
        "{w1} {w2} {w3} {w4}?",
        "What is {a} + {b}? How many {w1} are there?",
        "{w1} {w2} {w3} {w4} {w5} {w6} {w7}, {w2} {w5}.",
        "{w1} {w3} ${v} = {a}$ {w4} {w6} ${v}^2 = {s2}$.",
    ]
    out = []
    for _ in range(n):
        a, b, c, d = (rng.randint(1, 99) for _ in range(4))
        r = rng.randint(1, 30)
        w = {"w%d" % i: rng.choice(words) for i in range(1, 8)}
        s2 = a * a
        s = rng.choice(temps).format(v=rng.choice(v), a=a, b=b, c=c, d=d, e=rng.randint(-20, 200),
                                     n=rng.randint(1, 9), p=a * d + b * c, q=b * d, s=r * r, r=r, h=a * b / 2,
                                     t=a + b + c, u=a + c, m=a * b, s2=s2, **w)
        out.append(s)
    return out


def corpus_paragraphs(lines, seed=8):
    """Lines joined into paragraphs with "\\n" and "\\n\\n", as solutions look."""
    rng = random.Random(seed)
    paras, i = [], 0
    while i < len(lines):
        k = rng.randint(2, 6)
        seps = [rng.choice(["\n", "\n\n", " ", "\n\n"]) for _ in range(k)]
        paras.append("".join(l + sep for l, sep in zip(lines[i:i + k], seps)))
        i += k
    return paras


# ------------------------------------------------------------------------------ tokenizers
def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def merges_as_strings(merges):
    out = []
    for m in merges:
        a, b = m.split(" ") if isinstance(m, str) else m
        assert " " not in a and " " not in b
        out.append(a + " " + b)
    return out


def byte_level_tokenizer(shared_dir, text, vocab_size, specials):
    """A byte-level BPE trained on `text`, whose normalizer, pre-tokenizer, post-processor and
    decoder are copied verbatim from the shared real tokenizer.json in shared_dir; `specials` are
    added after the vocabulary (ids len(vocab)...). Returns the tokenizer.json dict."""
    with open(os.path.join(shared_dir, "tokenizer.json"), encoding="utf-8") as f:
        real = json.load(f)
    split = real["pre_tokenizer"]["pretokenizers"][0]
    assert split["type"] == "Split"
    tok = Tokenizer(models.BPE())
    if real["normalizer"]:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split["pattern"]["Regex"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tr = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    tok.train_from_iterator(text, tr)
    j = json.loads(tok.to_str())
    for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        j[k] = real[k]
    for k in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
              "byte_fallback", "ignore_merges"):
        j["model"][k] = real["model"][k]
    j["model"]["merges"] = merges_as_strings(j["model"]["merges"])
    n = len(j["model"]["vocab"])
    j["added_tokens"] = [added(n + i, s) for i, s in enumerate(specials)]
    ids = {s: n + i for i, s in enumerate(specials)}
    pp = j["post_processor"]
    if pp and pp["type"] == "Sequence":  # Llama 3: TemplateProcessing with <|begin_of_text|>
        for p in pp["processors"]:
            if p["type"] == "TemplateProcessing":
                for name, st in p["special_tokens"].items():
                    st["ids"] = [ids[t] for t in st["tokens"]]
    return j


def sentencepiece_tokenizer(lines, vocab_size):
    """Mistral's legacy tokenizer.json layout: normalizer Prepend("▁") + Replace(" " -> "▁"), no
    pre-tokenizer, BPE with byte_fallback and fuse_unk, <unk> <s> </s> at 0-2, <0x00>..<0xFF> at
    3-258, then the learned pieces. Trained with a Metaspace split so that, as in SentencePiece,
    no piece holds "▁" except at its start; "\\n" is not in the training text, so it is written
    with the byte token <0x0A>, as Mistral does."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tr = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False)
    tok.train_from_iterator(lines, tr)
    learned = json.loads(tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = 3 + b
    for piece, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        assert piece not in vocab and " " not in piece
        vocab[piece] = len(vocab)
    bos = {"id": "<s>", "type_id": 0}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges_as_strings(learned["merges"])},
    }


def qwen_math_template(shared_dir):
    """Qwen2.5's ChatML template with Qwen2.5-Math's default system prompt."""
    with open(os.path.join(shared_dir, "chat_template.jinja"), encoding="utf-8") as f:
        t = f.read()
    old = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    assert t.count(old) == 2
    return t.replace(old, QWEN_MATH_SYSTEM.replace("\\", "\\\\"))  # inside Jinja string literals


def llama31_template(shared_dir):
    """Llama 3.2's template with Llama 3.1's fixed date default (3.1 never calls strftime_now)."""
    with open(os.path.join(shared_dir, "chat_template.jinja"), encoding="utf-8") as f:
        t = f.read()
    old = ('{%- if not date_string is defined %}\n'
           '    {%- if strftime_now is defined %}\n'
           '        {%- set date_string = strftime_now("%d %b %Y") %}\n'
           '    {%- else %}\n'
           '        {%- set date_string = "26 Jul 2024" %}\n'
           '    {%- endif %}\n'
           '{%- endif %}\n')
    new = ('{%- if not date_string is defined %}\n'
           '    {%- set date_string = "26 Jul 2024" %}\n'
           '{%- endif %}\n')
    assert t.count(old) == 1
    return t.replace(old, new)


def write_tokenizer(d, tok_json, tok_config):
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok_json, f, ensure_ascii=False, indent=1)
        f.write("\n")
    decoder = {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word",
                                                  "special")} for a in tok_json["added_tokens"]}
    cfg = dict(tok_config, added_tokens_decoder=decoder)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(d)
    return raw, hf


def encode(raw, hf, text, special):
    """tokenizers' ids, checked against transformers' tokenizer loaded from the same folder."""
    ids = raw.encode(text, add_special_tokens=special).ids
    assert hf(text, add_special_tokens=special)["input_ids"] == ids, (text, ids)
    return ids


# ------------------------------------------------------------------------------ models
# q and k projections 3x the usual scale: sharper attention, so that a read-out position depends
# on particular earlier tokens rather than on their average and the rewards of one case spread
# over (0.05, 0.95) (at 1x they sit within a few hundredths of one value; larger head weights
# instead saturate them).
SCALES = {"q_proj.weight": 3.0, "k_proj.weight": 3.0}


def randomize(module, seed):
    """Overwrite every parameter with seeded random values of a useful scale (as make_tiny_models.py,
    times SCALES)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.3 * torch.randn(p.shape, generator=g)
            elif "embed_tokens" in name:
                v = torch.randn(p.shape, generator=g)
            else:
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1])
            v *= next((f for k, f in SCALES.items() if name.endswith(k)), 1.0)
            p.copy_(v.to(p.dtype))


class Qwen2ProcessRewardModel(nn.Module):
    """Qwen2.5-Math-PRM: Qwen2Model + score = Linear(H,H), ReLU, Linear(H,2) on the final-norm output."""

    def __init__(self, cfg):
        super().__init__()
        h = cfg.hidden_size
        self.model = Qwen2Model(cfg)
        self.score = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))

    def forward(self, ids):
        return self.score(self.model(input_ids=ids, use_cache=False).last_hidden_state)


class ValueHead(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.summary = nn.Linear(h, 1)


class Qwen2PrmModel(nn.Module):
    """Skywork PRM: Qwen2Model (tied embeddings, no lm_head tensor) + v_head.summary = Linear(H,1)."""

    def __init__(self, cfg):
        super().__init__()
        self.model = Qwen2Model(cfg)
        self.v_head = ValueHead(cfg.hidden_size)

    def forward(self, ids):
        return self.v_head.summary(self.model(input_ids=ids, use_cache=False).last_hidden_state)[..., 0]


def write_config(d, cfg):
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def save_weights(d, state):
    save_file({k: v.detach().contiguous().float() for k, v in state.items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})


def qwen2_config(vocab, **kw):
    c = dict(TINY, attention_dropout=0.0, hidden_act="silu", initializer_range=0.02, max_position_embeddings=4096,
             max_window_layers=2, model_type="qwen2", rope_theta=10000.0, rope_scaling=None, sliding_window=4096,
             torch_dtype="float32", use_cache=True, use_sliding_window=False, vocab_size=vocab,
             transformers_version=transformers.__version__)
    c.update(kw)
    return c


def model_config(cls, cfg):
    """A transformers config from the config.json dict (on a copy: transformers rewrites
    rope_scaling in place)."""
    return cls(**{k: v for k, v in copy.deepcopy(cfg).items() if k not in ("architectures", "auto_map")})


def load_qwen2_module(cls, d):
    """Rebuild a custom Qwen2 PRM from the saved directory (config.json through Qwen2Config)."""
    cfg = Qwen2Config.from_pretrained(d)
    cfg._attn_implementation = "eager"
    m = cls(cfg).eval()
    state = load_file(os.path.join(d, "model.safetensors"))
    state.pop("lm_head.weight", None)
    m.load_state_dict(state, strict=True)
    return m


def r7(x):
    return float("%.7g" % x)


def finish(d, kind, ids, tok_json, cases):
    """Write reference.json: `ids` holds the read-out ids (step_tag, candidates, newline, ...),
    special_ids every added token of the tokenizer by its string."""
    ref = {"kind": kind,
           "made_with": "tools/make_prm_fixtures.py (torch %s, transformers %s, tokenizers %s; float32, eager "
                        "attention)" % (torch.__version__.split("+")[0], transformers.__version__,
                                        tokenizers.__version__),
           "special_ids": {a["content"]: a["id"] for a in tok_json["added_tokens"]}}
    ref.update(ids)
    ref["cases"] = cases
    with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    print("%-18s %7d bytes  rewards:" % (os.path.basename(d), size),
          " ".join("%.3f" % r for c in cases for r in c["rewards"]))


def fresh(out, name):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# ------------------------------------------------------------------------------ qwen2-prm
def make_qwen2_prm(out, shared, text):
    qdir = os.path.join(shared, "tokenizers", "qwen2.5-0.5b-instruct")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]
    tj = byte_level_tokenizer(qdir, text, 900, specials)
    ids_of = {a["content"]: a["id"] for a in tj["added_tokens"]}
    vocab = len(tj["model"]["vocab"]) + len(specials)
    tcfg = {"add_bos_token": False, "add_prefix_space": False, "additional_special_tokens": specials[1:],
            "bos_token": None, "chat_template": qwen_math_template(qdir), "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 4096, "pad_token": "<|endoftext|>",
            "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
    cfg = qwen2_config(vocab, architectures=["Qwen2ForProcessRewardModel"],
                       auto_map={"AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
                                 "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"},
                       bos_token_id=ids_of["<|endoftext|>"], eos_token_id=ids_of["<|im_end|>"],
                       rms_norm_eps=1e-5, tie_word_embeddings=False)
    c = model_config(Qwen2Config, cfg)
    torch.manual_seed(2001)
    m = Qwen2ProcessRewardModel(c)
    randomize(m, 2001)
    g = torch.Generator().manual_seed(2002)
    lm_head = torch.randn(vocab, c.hidden_size, generator=g) / math.sqrt(c.hidden_size)

    for name, with_lm_head in (("qwen2-prm", False), ("qwen2-prm-lmhead", True)):
        d = fresh(out, name)
        write_config(d, cfg)
        state = dict(m.state_dict())
        if with_lm_head:
            state["lm_head.weight"] = lm_head
        save_weights(d, state)
        raw, hf = write_tokenizer(d, tj, tcfg)
        model = load_qwen2_module(Qwen2ProcessRewardModel, d)
        step_id = raw.token_to_id("<extra_0>")
        assert step_id is not None and raw.encode("<extra_0>", add_special_tokens=False).ids == [step_id]
        cases = []
        for case in CASES:
            p, steps = case["problem"], case["steps"]
            msgs = [{"role": "system", "content": QWEN_MATH_SYSTEM}, {"role": "user", "content": p},
                    {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"}]
            txt = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
            assert txt == ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"
                           "%s<|im_end|>\n" % (QWEN_MATH_SYSTEM, p, msgs[2]["content"])), txt
            ids = encode(raw, hf, txt, False)
            assert ids == encode(raw, hf, txt, True)  # Qwen adds no BOS
            pos = [i for i, t in enumerate(ids) if t == step_id]
            assert len(pos) == len(steps)
            with torch.no_grad():
                logits = model(torch.tensor([ids]))[0]
            head = [[r7(x) for x in logits[i].tolist()] for i in pos]
            rewards = [r7(torch.softmax(logits[i], -1)[1].item()) for i in pos]
            cases.append(dict(problem=p, steps=steps, input_text=txt, input_ids=ids, readout_positions=pos,
                              rewards=rewards, head=head))
        finish(d, "qwen2-prm", {"step_tag": step_id}, tj, cases)


# ------------------------------------------------------------------------------ skywork
def make_skywork(out, shared, text):
    qdir = os.path.join(shared, "tokenizers", "qwen2.5-0.5b-instruct")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tj = byte_level_tokenizer(qdir, text, 900, specials)
    ids_of = {a["content"]: a["id"] for a in tj["added_tokens"]}
    vocab = len(tj["model"]["vocab"]) + len(specials)
    tcfg = {"add_bos_token": False, "add_prefix_space": False, "additional_special_tokens": specials[1:],
            "bos_token": "<|endoftext|>", "chat_template": qwen_math_template(qdir),
            "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "errors": "replace",
            "model_max_length": 4096, "pad_token": "<|endoftext|>", "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
    cfg = qwen2_config(vocab, architectures=["Qwen2ForPrmModel"], bos_token_id=ids_of["<|endoftext|>"],
                       eos_token_id=ids_of["<|endoftext|>"], rms_norm_eps=1e-6, tie_word_embeddings=True)
    c = model_config(Qwen2Config, cfg)
    torch.manual_seed(2101)
    m = Qwen2PrmModel(c)
    randomize(m, 2101)
    d = fresh(out, "skywork")
    write_config(d, cfg)
    save_weights(d, m.state_dict())
    raw, hf = write_tokenizer(d, tj, tcfg)
    model = load_qwen2_module(Qwen2PrmModel, d)
    bos = hf.bos_token
    assert bos == "<|endoftext|>"
    nl = encode(raw, hf, "\n", True)[-1]
    cases = []
    for case in CASES:
        p, steps = case["problem"], case["steps"]
        # Skywork's prepare_input: every segment of response.split("\n") tokenized on its own
        ids = encode(raw, hf, bos + p + "\n", True)
        line_pos = []
        for seg in "\n".join(steps).split("\n"):
            ids += (encode(raw, hf, seg, True) if seg else []) + [nl]
            line_pos.append(len(ids) - 1)
        ends = []  # index of each step's last line
        k = -1
        for s in steps:
            k += s.count("\n") + 1
            ends.append(k)
        pos = [line_pos[k] for k in ends]
        with torch.no_grad():
            value = model(torch.tensor([ids]))[0]
        cases.append(dict(problem=p, steps=steps, input_ids=ids, readout_positions=pos,
                          rewards=[r7(torch.sigmoid(value[i]).item()) for i in pos],
                          head=[r7(value[i].item()) for i in pos], line_positions=line_pos,
                          line_rewards=[r7(torch.sigmoid(value[i]).item()) for i in line_pos]))
    finish(d, "skywork", {"bos_token": bos, "newline": nl}, tj, cases)


# ------------------------------------------------------------------------------ rlhflow
def make_rlhflow(out, shared, text):
    ldir = os.path.join(shared, "tokenizers", "llama-3.2-1b-instruct")
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tj = byte_level_tokenizer(ldir, text, 900, specials)
    ids_of = {a["content"]: a["id"] for a in tj["added_tokens"]}
    vocab = len(tj["model"]["vocab"]) + len(specials)
    tcfg = {"bos_token": "<|begin_of_text|>", "chat_template": llama31_template(ldir),
            "clean_up_tokenization_spaces": True, "eos_token": "<|eot_id|>",
            "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
            "tokenizer_class": "PreTrainedTokenizerFast"}
    cfg = dict(TINY, architectures=["LlamaForCausalLM"], attention_bias=False, attention_dropout=0.0,
               bos_token_id=ids_of["<|begin_of_text|>"],
               eos_token_id=[ids_of["<|end_of_text|>"], ids_of["<|eot_id|>"]], hidden_act="silu",
               initializer_range=0.02, max_position_embeddings=131072, mlp_bias=False, model_type="llama",
               pretraining_tp=1, rms_norm_eps=1e-5, rope_theta=500000.0,
               rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
               tie_word_embeddings=False, torch_dtype="float32", use_cache=True, vocab_size=vocab,
               transformers_version=transformers.__version__)
    c = model_config(LlamaConfig, cfg)
    torch.manual_seed(2201)
    m = LlamaForCausalLM(c)
    randomize(m, 2201)
    d = fresh(out, "rlhflow")
    write_config(d, cfg)
    save_weights(d, m.state_dict())
    raw, hf = write_tokenizer(d, tj, tcfg)
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    plus = encode(raw, hf, "+", False)[-1]
    minus = encode(raw, hf, "-", False)[-1]
    assert encode(raw, hf, "+", True)[-1] == plus and encode(raw, hf, "-", True)[-1] == minus
    bos = ids_of["<|begin_of_text|>"]
    head_sys = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
                "2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>")
    cases = []
    for case in CASES:
        p, steps = case["problem"], case["steps"]
        conv = []
        for k, s in enumerate(steps):
            conv.append({"role": "user", "content": p + " " + s if k == 0 else s})
            conv.append({"role": "assistant", "content": "+"})
        txt = hf.apply_chat_template(conv, tokenize=False, add_generation_prompt=False)
        assert txt == head_sys + "".join(
            "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>" % (m_["role"], m_["content"].strip())
            for m_ in conv), txt
        ids = encode(raw, hf, txt, False)
        assert ids[0] == bos and ids[1] != bos
        # read-out k: the last token of the chat up to the k-th assistant header (the "\n\n" that
        # the "+" follows); the prefix's ids are a prefix of the full ids
        pos = []
        for k in range(len(steps)):
            pre = hf.apply_chat_template(conv[:2 * k + 1], tokenize=False, add_generation_prompt=True)
            pids = encode(raw, hf, pre, False)
            assert txt.startswith(pre) and ids[:len(pids)] == pids and ids[len(pids)] == plus
            pos.append(len(pids) - 1)
        with torch.no_grad():
            logits = model(torch.tensor([ids]), use_cache=False).logits[0]
        two = [logits[i][[plus, minus]] for i in pos]
        cases.append(dict(problem=p, steps=steps, input_text=txt, input_ids=ids, readout_positions=pos,
                          rewards=[r7(torch.softmax(t, -1)[0].item()) for t in two],
                          head=[[r7(x) for x in t.tolist()] for t in two]))
    finish(d, "rlhflow", {"candidates": [plus, minus]}, tj, cases)


# ------------------------------------------------------------------------------ math-shepherd
def make_math_shepherd(out, lines):
    tj = sentencepiece_tokenizer(lines, 600)
    vocab = len(tj["model"]["vocab"])
    tcfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "clean_up_tokenization_spaces": False,
            "eos_token": "</s>", "legacy": True, "model_max_length": 1000000000000000019884624838656,
            "pad_token": None, "sp_model_kwargs": {}, "spaces_between_special_tokens": False,
            "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False}
    cfg = dict(TINY, architectures=["MistralForCausalLM"], attention_dropout=0.0, bos_token_id=1, eos_token_id=2,
               hidden_act="silu", initializer_range=0.02, max_position_embeddings=32768, model_type="mistral",
               rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=4096, tie_word_embeddings=False,
               torch_dtype="float32", use_cache=True, vocab_size=vocab, transformers_version=transformers.__version__)
    c = model_config(MistralConfig, cfg)
    torch.manual_seed(2301)
    m = MistralForCausalLM(c)
    randomize(m, 2301)
    d = fresh(out, "math-shepherd")
    write_config(d, cfg)
    save_weights(d, m.state_dict())
    raw, hf = write_tokenizer(d, tj, tcfg)
    model = MistralForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    cand = encode(raw, hf, "+ -", False)
    assert len(cand) == 2 and encode(raw, hf, "+ -", True)[1:] == cand  # the reference's encode("+ -")[1:]
    assert [raw.id_to_token(i) for i in cand] == ["▁+", "▁-"]
    tag = encode(raw, hf, "ки", True)[-1]
    assert raw.id_to_token(tag) == "▁ки"
    cases = []
    for case in CASES:
        p, steps = case["problem"], case["steps"]
        txt = f"{p} " + "\n".join(s + " ки" for s in steps)
        ids = encode(raw, hf, txt, True)
        assert ids[0] == 1 and ids[1] != 1
        pos = [i for i, t in enumerate(ids) if t == tag]
        assert len(pos) == len(steps), (txt, [raw.id_to_token(i) for i in ids])
        with torch.no_grad():
            logits = model(torch.tensor([ids]), use_cache=False).logits[0]
        two = [logits[i][cand] for i in pos]
        cases.append(dict(problem=p, steps=steps, input_text=txt, input_ids=ids, readout_positions=pos,
                          rewards=[r7(torch.softmax(t, -1)[0].item()) for t in two],
                          head=[[r7(x) for x in t.tolist()] for t in two]))
    finish(d, "math-shepherd", {"candidates": cand, "step_tag": tag, "newline": raw.token_to_id("<0x0A>")}, tj,
           cases)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="tests/fixtures/prm")
    a = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)
    lines = corpus_lines()
    paras = corpus_paragraphs(lines)
    make_qwen2_prm(a.out, a.shared, paras)
    make_skywork(a.out, a.shared, paras)
    make_rlhflow(a.out, a.shared, paras)
    make_math_shepherd(a.out, lines)


if __name__ == "__main__":
    main()
