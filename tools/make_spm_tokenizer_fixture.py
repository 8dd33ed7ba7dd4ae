#!/usr/bin/env python3
"""make_spm_tokenizer_fixture.py — small SentencePiece-style (Llama 2 / Mistral family)
tokenizers and reference encodings/decodings from Hugging Face `tokenizers`.

    ~/ponder-venv/bin/python tools/make_spm_tokenizer_fixture.py [--out tests/fixtures/tokenizer]

Trains one BPE with byte fallback (tokenizers' BpeTrainer, Metaspace pre-tokenization, on a
small mixed corpus: prose, math and LaTeX, digits, Cyrillic with Math-Shepherd's " ки" step
tag, CJK, emoji, runs of spaces; tabs and newlines are left out so that they go through byte
fallback as in Mistral's vocabulary), lays the vocabulary out as Llama 2 / Mistral do
(<unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, then the learned tokens; "▁▁" is the first
merge) and writes it in the two layouts that real tokenizer.json files use:

  spm_legacy/     Mistral-7B-v0.1 / Llama 2: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
                  pre_tokenizer null, merges as "a b" strings;
  spm_metaspace/  Mistral-7B-v0.3 (and transformers' conversions today): normalizer null,
                  pre_tokenizer Metaspace(prepend_scheme "first", split false), merges as pairs;

both with model BPE (byte_fallback, fuse_unk, unk_token "<unk>"), decoder
Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)], post_processor
TemplateProcessing "<s> $A", and a tokenizer_config.json (bos "<s>", eos "</s>",
add_bos_token true). Each folder also gets refs.json:

  variants: [{name, patch, encode: [{text, ids, ids_special, decoded, decoded_skip}],
              decode: [{ids, text, text_skip}]}]

where `patch` turns the folder's tokenizer.json into the variant (the C test applies the same
patch): "set" replaces top-level members (pre_tokenizer, decoder, added_tokens), "model"
updates members of the model (byte_fallback, fuse_unk), "vocab_remove" deletes vocabulary
entries. Variant "base" is the file itself. Texts: hand-written edge cases (empty string,
spaces, "\\n\\n", "<s>" in the middle, byte fallback, " ки", "+ -", ...) plus seeded random
strings; ids from Tokenizer.encode(text, add_special_tokens=False / True); decodes from
Tokenizer.decode(ids, skip_special_tokens=False / True) of those ids and of random id sequences.

Also writes two seeds for the tokenizer.json fuzz target (fuzz/corpus/fuzz_tokenizer_json/
spm_legacy.json, spm_metaspace.json: a tiny vocabulary in each layout, then a NUL byte and a
tokenizer_config.json). Deterministic: fixed seeds, no network.
"""
import argparse
import copy
import json
import os
import random

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

M = "\u2581"  # ▁

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The cat sat on the mat.",
    "Let's solve the problem step by step. First, we compute the sum of the numbers.",
    "Step 1: Janet has 16 eggs per day. She eats 3 for breakfast. ки",
    "Step 2: She bakes muffins with 4 eggs, so 16 - 3 - 4 = 9 eggs remain. ки",
    "Step 3: She sells them for $2 each, so she makes 9 * 2 = 18 dollars. ки",
    "The answer is: 18 ки",
    "Let $f(x) = \\frac{x^2 + 3x - 10}{x - 2}$. Find $\\lim_{x \\to 2} f(x)$.",
    "\\begin{align} \\int_0^{\\pi} \\sin^2\\theta \\, d\\theta &= \\frac{\\pi}{2} \\end{align}",
    "Therefore, the final answer is $\\boxed{\\dfrac{14}{3}}$. I hope it is correct.",
    "We have $a^2 + b^2 = c^2$, so $c = \\sqrt{a^2 + b^2} = \\sqrt{9 + 16} = 5$.",
    "Solve for x: 2x + 7 = 22, so x = 7.5. Then 3.14159 * 2 = 6.28318 and 1000000 + 1 = 1000001.",
    "The sum 1 + 2 + 3 + ... + 100 = 5050, and 12 * 13 = 156, 17 % 5 = 2, 2^10 = 1024.",
    "In 2024, 365 days; in 2023 also 365. Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 99 100 256 1024.",
    "Привет, мир! Это тест. Шаг ки шаг ки. Решение: ответ равен пяти.",
    "Математика — это наука. Задача решена ки",
    "你好，世界！这是一个测试。我们来计算三加四等于七。数学问题的答案。",
    "日本語のテキスト：東京は日本の首都です。",
    "I love 🦙 and 🐍! 😀 😀 👍 ✨✨",
    "Ελληνικά: α β γ δ ε π σ. Symbols: ≤ ≥ ≠ ± × ÷ √ ∞ ∑ ∫ π θ.",
    "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "x  =  1    and    y   =   2       indented text  with  double  spaces",
    "    four leading spaces, then two  between, then   three.",
    "Café résumé naïve façade — “quotes” and ‘single’ … ellipsis.",
    "Hello world! Hello there. hello HELLO Hello, World.",
]

# Tokens the vocabulary must have (real SentencePiece vocabularies have runs of "▁").
EXTRA_MERGES = [(M, M), (M + M, M + M)]

FIXED_TEXTS = [
    "", " ", "  ", "   ", "a", " a", "  a", "a ", "a  ", " a ", "Hello", " Hello", "Hello world",
    "Hello  world", "Hello   world    ", "\n", "\n\n", " \n\n", "\n\n ", "a\n\nb", "a\tb\t\tc", "\r\n", "\t",
    "ки", " ки", "ки ки", "Step 1: x = 2. ки\nStep 2: y = 3. ки", " ки\n", "+", "+ -", " + -", "-", "- +", "1+1=2",
    "<s>", "</s>", "<unk>", "<s><s>", "<s> ", " <s>", "a<s>b", "a <s> b", "Hello <s> world", "Hello<s>world",
    "<s>Hello", "<s> Hello", "<s>  Hello", "Hello</s>", "Hello </s>", "</s> Hello", "<s>\n\nHello", "a</s><s>b",
    "<s", "s>", "< s>", "<<s>>", "<s>ки</s>", "x <unk> y",
    "😀", " 😀", "😀😀", "a😀b", "🦙 and 🐍", "👨\u200d👩\u200d👧", "🫠", "\u2581", " \u2581", "\u2581\u2581a", "▁▁ ▁",
    "你好", "你好世界", "鑫龘", "日本", "한국어", "Привет", "ёж", "ĳ", "\u00e9", "e\u0301", "\u00a0a", "\u3000",
    "\\frac{1}{2} + \\sqrt{3} = x^2", "$\\boxed{42}$", "The answer is $\\boxed{\\dfrac{14}{3}}$.",
    "1234567890", "3.14159", "1,000,000", "-42", "2^64=18446744073709551616",
    "Let's compute 12 * 13 = 156.\n\nStep 2: 156 + 4 = 160. ки",
    "def f(x):\n    return x  # four spaces\n",
    "\u0000", "a\u0000b", "\u007f", "\U0010ffff", "\ufffd", "<0x0A>", "<0x41>",
    # for the normalized_added variant: "foo bar" (normalized) and "[X]" (lstrip, rstrip)
    "foo bar", "xfoo bar", " foo bar", "<s>foo bar", "a foo bar b", "[X]", " [X] a", "[X]b", "a [X]  b", "  [X]",
]

POOL = [
    "a", "b", "e", "t", "h", "the", "Hello", "world", "step", "ки", "Шаг", "x", "=", "+", "-", "*", "/", "(", ")",
    "$", "\\frac", "{", "}", "^", "_", "0", "1", "2", "7", "42", "3.14", " ", " ", " ", "  ", "\n", "\n\n", "\t",
    "你", "好", "数", "学", "鑫", "😀", "🦙", "\u200d", "é", "e\u0301", "\u00a0", "\u2581", "<s>", "</s>", "<unk>",
    "<", ">", "<0x41>", "ñ", "Ω", "∑", "≤",
]


def random_texts(rng, count):
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 25))) for _ in range(count)]


def train():
    """The trained vocabulary (Llama 2 layout) and merges."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=M, prepend_scheme="always", split=True)
    tr = trainers.BpeTrainer(vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                             min_frequency=2)
    # tabs and newlines never reach the vocabulary: they are encoded by byte fallback
    tok.train_from_iterator([s.replace("\n", " ").replace("\t", " ") for s in CORPUS] * 8, tr)
    j = json.loads(tok.to_str())
    learned = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for a, b in EXTRA_MERGES:
        vocab.setdefault(a + b, len(vocab))
    for k, _ in learned:
        vocab.setdefault(k, len(vocab))
    merges = [list(m) for m in EXTRA_MERGES] + [list(m) if isinstance(m, list) else m.split(" ")
                                                 for m in j["model"]["merges"]]
    return vocab, merges


def special(content, i):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


SEQ_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": M}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def metaspace(scheme, split):
    return {"type": "Metaspace", "replacement": M, "prepend_scheme": scheme, "split": split}


def layout(kind, vocab, merges):
    """A tokenizer.json dict in the given layout ("legacy" or "metaspace")."""
    j = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special("<unk>", 0), special("<s>", 1), special("</s>", 2)],
        "normalizer": None, "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": copy.deepcopy(SEQ_DECODER),
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    if kind == "legacy":
        j["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": M},
            {"type": "Replace", "pattern": {"String": " "}, "content": M}]}
        j["model"]["merges"] = [" ".join(m) for m in merges]
    else:
        j["pre_tokenizer"] = metaspace("first", False)
    return j


def apply_patch(j, patch):
    j = copy.deepcopy(j)
    for k, v in patch.get("set", {}).items():
        j[k] = v
    j["model"].update(patch.get("model", {}))
    for k in patch.get("vocab_remove", []):
        del j["model"]["vocab"][k]
    return j


def variants(kind, n_vocab):
    """The variants checked for each layout: (name, patch); "base" gets the random texts too."""
    bytes_f = ["<0x%02X>" % b for b in range(0xF0, 0x100)]
    normalized_added = [special("<unk>", 0), dict(special("<s>", 1), normalized=True), special("</s>", 2),
                        {"id": n_vocab, "content": "foo bar", "single_word": False, "lstrip": False, "rstrip": False,
                         "normalized": True, "special": False},
                        {"id": n_vocab + 1, "content": "[X]", "single_word": False, "lstrip": True, "rstrip": True,
                         "normalized": False, "special": True}]
    common = [
        ("no_byte_fallback", {"model": {"byte_fallback": False}}),
        ("no_fuse_unk", {"model": {"byte_fallback": False, "fuse_unk": False}}),
        # bytes 0xF0-0xFF missing: 4-byte characters outside the vocabulary become <unk>,
        # after any byte-fallback tokens of the characters that follow them (tokenizers' order)
        ("partial_bytes", {"vocab_remove": bytes_f}),
        ("partial_bytes_no_fuse", {"vocab_remove": bytes_f, "model": {"fuse_unk": False}}),
        ("normalized_added", {"set": {"added_tokens": normalized_added}}),
    ]
    if kind == "legacy":
        return [("base", {})] + common
    meta_dec = lambda scheme: {"type": "Metaspace", "replacement": M, "prepend_scheme": scheme, "split": False}
    return [("base", {})] + common + [
        ("metaspace_decoder", {"set": {"decoder": meta_dec("first")}}),
        ("always", {"set": {"pre_tokenizer": metaspace("always", False)}}),
        ("never", {"set": {"pre_tokenizer": metaspace("never", False)}}),
        ("split", {"set": {"pre_tokenizer": metaspace("first", True)}}),
        ("always_split_metaspace_decoder", {"set": {"pre_tokenizer": metaspace("always", True),
                                                    "decoder": meta_dec("always")}}),
        ("never_metaspace_decoder", {"set": {"pre_tokenizer": metaspace("never", False),
                                             "decoder": meta_dec("never")}}),
        # the format of tokenizers < 0.19: add_prefix_space true means prepend_scheme "always", split true
        ("old_add_prefix_space", {"set": {
            "pre_tokenizer": {"type": "Metaspace", "replacement": M, "add_prefix_space": True},
            "decoder": {"type": "Metaspace", "replacement": M, "add_prefix_space": True}}}),
    ]


def decode_cases(rng, tok, vocab, n_random):
    """Id sequences to decode: runs of byte tokens (valid and broken UTF-8), specials anywhere,
    "▁" tokens and byte-fallback spaces first, random ids. Ids are those of the base vocabulary
    (a variant that removed a token decodes its id as nothing)."""
    ids = lambda *toks: [vocab[t] for t in toks]
    b = lambda x: "<0x%02X>" % x
    cases = [
        [], ids("<s>"), ids("<s>", "</s>"), ids(M), ids(M, M), ids(M, M, "a"), ids(M + M, "a"), ids(b(0x20), "a"),
        ids(b(0x20), b(0x20), "a"), ids(b(0x20)), ids("<s>", b(0x20), "a"), ids("<s>", M, "a"), ids("</s>", M),
        ids(M, "<s>", M + "the"), ids(b(0xE4), b(0xBD), b(0xA0)), ids(b(0xE4), b(0xBD)), ids(b(0xE4), b(0xBD), "a"),
        ids(b(0xE4), b(0xBD), b(0xA0), b(0xFF), "a"), ids(b(0xFF), b(0xE4), b(0xBD), b(0xA0)),
        ids(b(0xE4), "<s>", b(0xBD), b(0xA0)), ids(b(0xE4), "</s>", b(0xBD), "<s>", b(0xA0), M),
        ids(b(0xE2), b(0x96), b(0x81), "a"), ids(b(0xF0), b(0x9F), b(0x98), b(0x80), b(0xF0), b(0x9F), b(0x98)),
        ids(b(0xC0), b(0x80)), ids(b(0xED), b(0xA0), b(0x80)), ids(b(0xF4), b(0x90), b(0x80), b(0x80)),
        ids(b(0x0A), b(0x0A), M + "the"), ids(b(0x00), "a", b(0x00)), ids("<unk>", M, "<unk>"),
        ids(*([b(0xE4), b(0xBD), b(0xA0)] * 5)), ids(*([b(0xE4), b(0xBD), b(0xA0)] * 5 + [b(0xE4), "a"])),
        [0, 1, 2, len(vocab) + 50, 5],
    ]
    n = tok.get_vocab_size(with_added_tokens=True)
    for i in range(n_random):
        k = rng.randint(1, 14)
        seq = [rng.randrange(n) for _ in range(k)]
        if i % 3 == 0:
            seq = [rng.randrange(3, 259) for _ in range(k)]  # byte tokens
        if i % 3 == 1:
            seq = [rng.choice([rng.randrange(3, 259), rng.randrange(n), 1, 2, vocab[M]]) for _ in range(k)]
        cases.append(seq)
    return cases


def refs_for(j, vocab, rng, full):
    tok = Tokenizer.from_str(json.dumps(j))
    texts = FIXED_TEXTS + random_texts(rng, 60 if full else 0)
    enc = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        enc.append({"text": t, "ids": ids, "ids_special": tok.encode(t, add_special_tokens=True).ids,
                    "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    dec = []
    for ids in decode_cases(rng, tok, vocab, 40 if full else 10):
        dec.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                    "text_skip": tok.decode(ids, skip_special_tokens=True)})
    return enc, dec


def dump(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def fuzz_seed(kind):
    """A tiny tokenizer.json in the layout + NUL + tokenizer_config.json, for the fuzz corpus."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in [0x0A, 0x20, 0x3C, 0x3E, 0x99, 0x9F, 0xA6, 0xC3, 0xA9, 0xF0]:
        vocab["<0x%02X>" % b] = len(vocab)
    merges = [[M, M], ["H", "e"], ["l", "l"], ["ll", "o"], ["He", "llo"], [M, "Hello"], ["o", "r"], [M, "w"],
              [M + "w", "or"], [M + "wor", "l"], [M + "worl", "d"], [M, "ки"], ["1", "2"]]
    for t in [M, "H", "e", "l", "o", "w", "r", "d", "1", "2", "3", "s", "t", "x", "ки"] + ["".join(m) for m in merges]:
        vocab.setdefault(t, len(vocab))
    j = layout(kind, vocab, merges)
    for k in ("truncation", "padding"):  # null members: dropped to keep the seed small
        j.pop(k)
    Tokenizer.from_str(json.dumps(j))  # tokenizers accepts it
    cfg = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True}
    return (json.dumps(j, ensure_ascii=False) + "\0" + json.dumps(cfg)).encode("utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    ap.add_argument("--fuzz", default="fuzz/corpus/fuzz_tokenizer_json")
    args = ap.parse_args()
    vocab, merges = train()
    for kind, folder in (("legacy", "spm_legacy"), ("metaspace", "spm_metaspace")):
        d = os.path.join(args.out, folder)
        os.makedirs(d, exist_ok=True)
        base = layout(kind, vocab, merges)
        dump(os.path.join(d, "tokenizer.json"), base, compact=True)
        dump(os.path.join(d, "tokenizer_config.json"), {
            "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": None, "legacy": kind == "legacy",
            "tokenizer_class": "LlamaTokenizer",
            # transformers' VERY_LARGE_INTEGER, as Llama 2 / Mistral configs have it
            "model_max_length": 1000000000000000019884624838656})
        rng = random.Random(2024 if kind == "legacy" else 2025)
        out = {"made_with": "tools/make_spm_tokenizer_fixture.py (tokenizers %s)" % tokenizers.__version__,
               "layout": kind, "variants": []}
        for name, patch in variants(kind, len(vocab)):
            enc, dec = refs_for(apply_patch(base, patch), vocab, rng, name == "base")
            out["variants"].append({"name": name, "patch": patch, "encode": enc, "decode": dec})
        dump(os.path.join(d, "refs.json"), out, compact=True)
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}
        print(d, len(vocab), "tokens,", len(merges), "merges,", len(out["variants"]), "variants,", sizes)
        if args.fuzz:
            os.makedirs(args.fuzz, exist_ok=True)
            with open(os.path.join(args.fuzz, folder + ".json"), "wb") as f:
                f.write(fuzz_seed(kind))


if __name__ == "__main__":
    main()
