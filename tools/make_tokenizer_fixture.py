#!/usr/bin/env python3
"""Make tests/fixtures/tokenizer/*.json: reference token ids, decodings and chat renderings
from Hugging Face `tokenizers` / `transformers` for the three shared tokenizers.

    /work/venv/bin/python tools/make_tokenizer_fixture.py [--shared ../shared] [--out tests/fixtures/tokenizer]

For each tokenizer in ../shared/tokenizers it writes one JSON file:
  encode: [{text, ids (add_special_tokens=False), ids_special (True), decoded, decoded_skip}]
          texts: hand-written cases (math with LaTeX, code, emoji, CJK, whitespace runs, digits,
          special tokens inside text, NFC cases) plus seeded random strings over a mixed alphabet;
  decode: [{ids, text, text_skip}] random id sequences (incl. ids that split UTF-8 characters);
  chat:   [{template, messages, add_generation_prompt, continue_final_message, text, ids}]
          from transformers' apply_chat_template (date_string pinned to "26 Jul 2024"),
          `template` being "config" (tokenizer_config.json) or a .jinja file name in the folder.
Everything is deterministic (fixed seeds). The C tests read these files with jansson.
"""
import argparse
import json
import os
import random

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors,
                        trainers)
from transformers import AutoTokenizer

TOKENIZERS = {
    "llama3": "llama-3.2-1b-instruct",
    "qwen2": "qwen2.5-0.5b-instruct",
    "r1": "deepseek-r1-distill-qwen-1.5b",
}

SPECIALS = {
    "llama3": ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
               "<|reserved_special_token_5|>", "<|python_tag|>"],
    "qwen2": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>"],
    "r1": ["<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<think>", "</think>"],
}

FIXED_TEXTS = [
    # math with LaTeX
    r"Let $f(x) = \frac{x^2 + 3x - 10}{x - 2}$. Find $\lim_{x \to 2} f(x)$.",
    r"\begin{align} \int_0^{\pi} \sin^2\theta \, d\theta &= \frac{\pi}{2} \\ \sum_{k=1}^{n} k &= \frac{n(n+1)}{2} \end{align}",
    "The answer is $\\boxed{\\dfrac{14}{3}}$.\n\nStep 2: Since 3x + 7 = 22, we get x = 5.",
    "Solve for x: 2x^2 - 4x + 1 = 0 ⇒ x = (4 ± √8)/4 = 1 ± √2/2 ≈ 1.7071 or 0.2929",
    "∀ε>0 ∃δ>0: |x−a|<δ ⇒ |f(x)−f(a)|<ε; ∑ᵢ₌₁ⁿ xᵢ² ≤ (∑ xᵢ)²; α, β, γ ∈ ℝ; ∞ ≠ ℵ₀",
    # code
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
    "#include <stdio.h>\nint main(void) {\n\tfor (int i = 0; i < 10; i++) printf(\"%d\\n\", i);\n\treturn 0;\n}\n",
    "    x = {'a': 1, \"b\": [2, 3]}  # comment\r\n\tif x['a'] >= 1 && y != None || z <= -0.5e-3: pass",
    "SELECT id, name FROM users WHERE age > 30 AND name LIKE '%son' ORDER BY id DESC;",
    "fn main() { let v: Vec<u8> = vec![0xff, 0x10]; println!(\"{:?}\", v); } // Rust",
    # emoji and symbols
    "I love 🦙 and 🐍! 👨‍👩‍👧‍👦 👍🏽 🇫🇷 ❤️ 🫠 ✨✨✨",
    "😀😃😄😁😆😅😂🤣🥲☺️😊😇🙂🙃😉😌😍🥰😘",
    # CJK and other scripts
    "你好，世界！这是一个测试。我们来计算 3 + 4 = 7。",
    "日本語のテキスト：東京は日本の首都です。カタカナ、ひらがな、漢字。",
    "한국어 텍스트입니다. 안녕하세요, 세계!",
    "Привет, мир! Ελληνικά: αβγδε. العربية: مرحبا بالعالم. עברית: שלום. हिन्दी: नमस्ते दुनिया. ไทย: สวัสดี",
    # whitespace runs
    "a  b   c    d     e\t\tf\n\ng\n\n\nh \n i \r\n j",
    "                    many spaces then text",
    "trailing spaces      ",
    "\n\n\n\n\n",
    " \t \n \t\n",
    "non\u00a0breaking\u3000ideographic\u2009thin\u2028line\u2029para\u0085nel",
    # digits
    "1234567890 12 123 1234 12345 123456 3.14159 1,000,000 0.000001 -42 +7 1e10 2^64=18446744073709551616",
    "Version 2.0.1-beta (build 4096) on 2024-07-26 at 13:45:09.",
    "٠١٢٣٤٥٦٧٨٩ ०१२३ ①②③ ½ ¾ Ⅻ",
    # contractions and case
    "I'm sure you'll see it's what they've done. WE'LL SEE IT'S THEIR'S. don't won't 'tis",
    # NFC cases: decomposed accents, Hangul jamo
    "Cafe\u0301 nai\u0308ve re\u0301sume\u0301 \u1100\u1161\u11a8 A\u030a \u212b",
    # letters and digits newer than Unicode 14: each must split as a letter / a digit
    "\U0002EE4D$a \U00013E10's x\U00010D40\U00010D41\U00010D42\U00010D43y \U0002EBF0\U0002EBF1, (\U00013460)",
    # special tokens inside text (filled in per tokenizer)
]


def random_texts(rng, count):
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n\r  ",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "éèêëàâäôöûüçñßøåæœ",
        "αβγδεζηθλμπσφψωΩΣΔ",
        "你好世界数学问题答案计算",
        "の日本語テストカタ",
        "🦙🐍😀👍🏽🇫🇷❤️✨",
        "\u0301\u0308\u200d\u00a0\u3000\u2028",
        "'s't're've'm'll'd",
    ]
    out = []
    for _ in range(count):
        n = rng.randint(1, 80)
        s = []
        for _ in range(n):
            pool = rng.choice(pools)
            if pool == "'s't're've'm'll'd":
                s.append(rng.choice(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL"]))
            else:
                s.append(rng.choice(pool))
        out.append("".join(s))
    return out


# Characters where regex engines disagree about \s, \p{L}, \p{N} or case folding
# (U+180E is \s for PCRE2 but not for Oniguruma, which tokenizers uses).
EXOTIC = ['\u180e', '\u200b', '\ufeff', '\u0085', '\u1680', '\u2007', '\u202f', '\u205f', '\x1c', '\x1f', '\x0b',
          '\x0c', '\r', '\t', '\u2028', '\u2029', '\u3000', '\xa0', 'ſ', 'K', 'İ', 'ß', 'ǅ', '\u0345', 'Σ', 'ς',
          '\u00ad', '\u0600', '\U000e0001', '\U0010ffff', '\U0001d7d8', 'Ⅻ', '²', 'ǃ', 'a', ' ', ' ', '1', "'", 'S',
          's', 'T', '\n', '!', '\u0300', '\u200d', '\U0001F999', 'ᾈ', '\u3007',
          # letters / digits assigned after Unicode 14 (PCRE2 10.42's data): CJK Ext. I, Egyptian
          # hieroglyphs Ext. A, Garay digits
          '\U0002EE4D', '\U00013E10', '\U00010D40', '$']


def exotic_texts(rng, count):
    return ["".join(rng.choice(EXOTIC) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def special_texts(key):
    sp = SPECIALS[key]
    return [
        f"Hello{sp[0]}world{sp[1]} again",
        f"{sp[0]}{sp[1]}{sp[2]}",
        f" {sp[0]} spaced {sp[1]} ",
        f"partial {sp[0][:-1]} and {sp[0][1:]} not special",
        f"<{sp[1]}>{sp[1]}{sp[1]}",
        f"text\n{sp[2]}\n\nmore {sp[3]}{sp[4]}{sp[5]}",
    ]


CONVERSATIONS = [
    # (messages, add_generation_prompt, continue_final_message)
    ([{"role": "user", "content": "What is 2 + 2?"}], True, False),
    ([{"role": "user", "content": "What is 2 + 2?"}], False, False),
    ([{"role": "system", "content": "Please reason step by step, and put your final answer within \\boxed{}."},
      {"role": "user", "content": "Find the sum of all integers $n$ such that $n^2 < 10$."}], True, False),
    ([{"role": "system", "content": "  You are terse.\n"},
      {"role": "user", "content": "\u3000 Hi there \n\n"},
      {"role": "assistant", "content": "Hello! How can I help?"},
      {"role": "user", "content": "Compute 12*13."}], True, False),
    ([{"role": "user", "content": "Solve x^2 = 4."},
      {"role": "assistant", "content": "Step 1: Take square roots."}], False, True),
    ([{"role": "system", "content": "Be careful."},
      {"role": "user", "content": "你好，3 + 4 等于多少？"},
      {"role": "assistant", "content": "Step 1: 3 + 4 = 7 🦙"}], False, True),
    ([{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"},
      {"role": "system", "content": "Late system message."}, {"role": "user", "content": "C"}], True, False),
    ([{"role": "user", "content": "Think first."},
      {"role": "assistant", "content": "<think>\nHmm, let me see.\n</think>\n\nThe answer is 4."},
      {"role": "user", "content": "And 3+3?"}], True, False),
]

# continue_final_message cases whose text ends in whitespace: exact in transformers for
# templates that do not trim (ChatML, R1), so only generated for those.
CONT_TRAILING = [
    ([{"role": "user", "content": "Solve 3x = 9."},
      {"role": "assistant", "content": "Step 1: Divide both sides by 3.\n\n"}], False, True),
]


FLAG_TEXTS = [
    "a <mask> b", "a   <mask>", "<mask>", "<mask><mask>", " \u3000<mask>", "\u001c<mask>", "x\t\n<mask>y",
    "x[R]   y", "[R]\u00a0\u2028z", "[R]  <mask> q", "a[R]", "[R][R] [R]",
    "words word sword word_ word. (word) 1word word1 éword wordé",
    "cafe\u0301 café CAFÉ cafés",
    "a  LR  b", "aLRb", "LR", " LR ", "\nLR\n<mask>[R]",
    "the cat sat on the mat <s> with a word", "<s><s>", "naïve résumé \U0001F999 123456",
    # single_word neighbours: the Rust regex crate's \w holds marks and Alphabetic symbols
    # (U+0300, U+093E, U+24D0, U+2160), '_' and U+200D, but not '²' or '½'
    "\u24d0word \u093eword word\u0300 \u2160word \u00b2word word\u00bd \u200dword word\u203f \u0660word",
    # a normalized added token written decomposed matches its NFC form
    "nai\u0308ve na\u00efve <s>nai\u0308ve",
]


def make_flags(out_dir, rng):
    """A small BPE trained here, with added tokens that use lstrip / rstrip / single_word /
    normalized, saved as flags_tokenizer.json with reference encodings in flags.json."""
    tok = Tokenizer(models.BPE(ignore_merges=False))
    tok.normalizer = normalizers.NFC()
    pat = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pat), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             special_tokens=["<s>"], show_progress=False)
    tok.train_from_iterator(["the cat sat on the mat with a word and another word, café résumé naïve 1234"] * 10, tr)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)])
    tok.add_tokens([AddedToken("[R]", rstrip=True, normalized=False), AddedToken("word", single_word=True, normalized=False),
                    AddedToken("café", normalized=True), AddedToken("LR", lstrip=True, rstrip=True, normalized=False),
                    AddedToken("nai\u0308ve", normalized=True)])
    path = os.path.join(out_dir, "flags_tokenizer.json")
    tok.save(path)
    enc = []
    for t in FLAG_TEXTS + random_texts(rng, 20):
        ids = tok.encode(t, add_special_tokens=False).ids
        enc.append({"text": t, "ids": ids, "ids_special": tok.encode(t, add_special_tokens=True).ids,
                    "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    dec = []
    for i in range(20):
        ids = [rng.randrange(tok.get_vocab_size()) for _ in range(rng.randint(1, 10))]
        dec.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                    "text_skip": tok.decode(ids, skip_special_tokens=True)})
    out = {"tokenizer_file": "tests/fixtures/tokenizer/flags_tokenizer.json",
           "made_with": "tools/make_tokenizer_fixture.py (tokenizers %s)" % __import__("tokenizers").__version__,
           "encode": enc, "decode": dec, "chat": []}
    with open(os.path.join(out_dir, "flags.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(path, "and flags.json:", len(enc), "texts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    ap.add_argument("--random", type=int, default=60)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_flags(args.out, random.Random(99))
    for key, folder in TOKENIZERS.items():
        d = os.path.join(args.shared, "tokenizers", folder)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf = AutoTokenizer.from_pretrained(d)
        rng = random.Random(1234 + len(key))
        texts = FIXED_TEXTS + special_texts(key) + random_texts(rng, args.random) + exotic_texts(rng, 30)
        enc = []
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            ids_sp = tok.encode(t, add_special_tokens=True).ids
            enc.append({
                "text": t, "ids": ids, "ids_special": ids_sp,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            })
        dec = []
        n_ids = tok.get_vocab_size(with_added_tokens=True)
        for i in range(40):
            k = rng.randint(1, 12)
            ids = [rng.randrange(n_ids) for _ in range(k)]
            if i % 4 == 0:  # lone byte tokens (parts of UTF-8 characters)
                ids = [rng.randrange(256) for _ in range(k)]
            if i % 5 == 0:
                ids.insert(rng.randrange(len(ids) + 1), tok.token_to_id(SPECIALS[key][0]))
            dec.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                        "text_skip": tok.decode(ids, skip_special_tokens=True)})
        templates = [("config", None)]
        for name in sorted(os.listdir(d)):
            if name.endswith(".jinja"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    templates.append((name, f.read()))
        chat = []
        convs = CONVERSATIONS + (CONT_TRAILING if key != "llama3" else [])
        for tname, tmpl in templates:
            for msgs, gen, cont in convs:
                kw = dict(tokenize=False, add_generation_prompt=gen, continue_final_message=cont,
                          date_string="26 Jul 2024")
                if tmpl is not None:
                    kw["chat_template"] = tmpl
                text = hf.apply_chat_template(msgs, **kw)
                chat.append({"template": tname, "messages": msgs, "add_generation_prompt": gen,
                             "continue_final_message": cont, "text": text,
                             "ids": tok.encode(text, add_special_tokens=False).ids})
        out = {"tokenizer": "tokenizers/" + folder,
               "made_with": "tools/make_tokenizer_fixture.py (tokenizers %s, transformers %s)" % (
                   __import__("tokenizers").__version__, __import__("transformers").__version__),
               "encode": enc, "decode": dec, "chat": chat}
        path = os.path.join(args.out, key + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=0)
            f.write("\n")
        print(path, len(enc), "texts,", len(dec), "decodes,", len(chat), "chats,", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
