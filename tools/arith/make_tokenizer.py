#!/usr/bin/env python3
"""make_tokenizer.py — the arith models' tokenizer: a byte-level BPE trained on the task's text
(`ponder data sums`, common.TASK), in Qwen2's layout (tokenizer.json normalizer NFC, pre-tokenizer Split with Qwen2's regex,
so that every digit is its own token, then ByteLevel; decoder ByteLevel), special tokens
<|endoftext|> <|im_start|> <|im_end|> <extra_0> after the learned vocabulary, and a
tokenizer_config.json with Qwen2.5's ChatML chat template minus its default system prompt
(a conversation without a system message renders none), eos <|im_end|>.

Writes OUT/tokenizer.json and OUT/tokenizer_config.json (default build/arith/tokenizer), and
checks that transformers loads them and renders the chat as common.prompt_text does.

Usage: ~/ponder-venv/bin/python tools/arith/make_tokenizer.py [--out DIR]
"""
import argparse
import json
import os
import sys

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VOCAB = 512  # upper bound; the templated text runs out of merges before it
VOCAB_NUMBERS = 2048  # with --numbers: room for every number the task writes as one token


def chat_template():
    """Qwen2.5's template (../shared) with its default system prompt removed: both branches that
    write 'You are Qwen...' when the first message is not a system message now write nothing
    (the tools branch opens the system turn only when there is a system message)."""
    with open(os.path.join(common.QWEN_TOK_DIR, "chat_template.jinja"), encoding="utf-8") as f:
        t = f.read()
    tools_old = ("    {{- '<|im_start|>system\\n' }}\n"
                 "    {%- if messages[0]['role'] == 'system' %}\n"
                 "        {{- messages[0]['content'] }}\n"
                 "    {%- else %}\n"
                 "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
                 "    {%- endif %}\n"
                 "    {{- \"\\n\\n# Tools")
    tools_new = ("    {{- '<|im_start|>system\\n' }}\n"
                 "    {%- if messages[0]['role'] == 'system' %}\n"
                 "        {{- messages[0]['content'] + '\\n\\n' }}\n"
                 "    {%- endif %}\n"
                 "    {{- \"# Tools")
    plain_old = ("    {%- if messages[0]['role'] == 'system' %}\n"
                 "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
                 "    {%- else %}\n"
                 "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
                 "    {%- endif %}\n")
    plain_new = ("    {%- if messages[0]['role'] == 'system' %}\n"
                 "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
                 "    {%- endif %}\n")
    assert t.count(tools_old) == 1 and t.count(plain_old) == 1
    t = t.replace(tools_old, tools_new).replace(plain_old, plain_new)
    assert "You are Qwen" not in t
    return t


def training_text(seed, numbers=False):
    rows = common.ponder_data(20000, seed)
    text = [" ".join(str(k) for k in range(1000))] * 3 if numbers else []  # every number, even rare ones
    for r in rows:
        text.append(r["problem"])
        text.append(r["solution"])
    text += [common.PRM_SYSTEM] * 100 + ["user", "assistant", "system"] * 100
    return text


def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def build(seed, numbers=False):
    with open(os.path.join(common.QWEN_TOK_DIR, "tokenizer.json"), encoding="utf-8") as f:
        real = json.load(f)
    split = real["pre_tokenizer"]["pretokenizers"][0]
    assert split["type"] == "Split"
    if numbers:  # numbers of up to three digits stay one piece (Llama 3's rule), and BPE learns them
        pat = split["pattern"]["Regex"]
        assert pat.count("|\\p{N}|") == 1
        split["pattern"]["Regex"] = pat.replace("|\\p{N}|", "|\\p{N}{1,3}|")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split["pattern"]["Regex"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tr = trainers.BpeTrainer(vocab_size=VOCAB_NUMBERS if numbers else VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             min_frequency=2, show_progress=False)
    tok.train_from_iterator(training_text(seed, numbers), tr)
    j = json.loads(tok.to_str())
    for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        j[k] = real[k]
    for k in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
              "byte_fallback", "ignore_merges"):
        j["model"][k] = real["model"][k]
    j["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    n = len(j["model"]["vocab"])
    j["added_tokens"] = [added(n + i, s) for i, s in enumerate(common.SPECIALS)]
    return j


def write(d, tj, numbers=False):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    cfg = {"add_bos_token": False, "add_prefix_space": False,
           "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                                       "single_word", "special")}
                                    for a in tj["added_tokens"]},
           "additional_special_tokens": common.SPECIALS[1:], "bos_token": None, "chat_template": chat_template(),
           "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
           "model_max_length": 1024, "pad_token": "<|endoftext|>", "split_special_tokens": False,
           # Qwen2Tokenizer would impose Qwen2's own digit split over tokenizer.json's
           "tokenizer_class": "PreTrainedTokenizerFast" if numbers else "Qwen2Tokenizer", "unk_token": None}
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def check(d, numbers=False):
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(d)
    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    p = "Compute $(12 - 4) \\times 3 + 5$."
    txt = hf.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
    assert txt == common.prompt_text(p), repr(txt)
    steps = ["$12 - 4 = 8$, so the expression becomes $8 \\times 3 + 5$.", "$8 \\times 3 = 24$, so ..."]
    msgs = [{"role": "system", "content": common.PRM_SYSTEM}, {"role": "user", "content": p},
            {"role": "assistant", "content": "".join(s + "<extra_0>" for s in steps)}]
    txt = hf.apply_chat_template(msgs, tokenize=False)
    assert txt == common.prm_text(p, steps), repr(txt)
    ids = raw.encode(txt, add_special_tokens=False).ids
    assert hf(txt, add_special_tokens=False)["input_ids"] == ids
    assert ids.count(raw.token_to_id("<extra_0>")) == 2
    digits = raw.encode("1234567890", add_special_tokens=False).ids
    if numbers:  # every number the task writes (values to 70, sums to 280) is one token
        whole = [k for k in range(1000) if len(raw.encode(str(k), add_special_tokens=False).ids) == 1]
        assert len(whole) == 1000, sorted(set(range(1000)) - set(whole))[:20]
    else:
        assert len(digits) == 10, digits
    return hf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(common.ROOT, "build", "arith", "tokenizer"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--numbers", action="store_true",
                    help="numbers of up to three digits as single tokens (the PRM's tokenizer: checking whether a "
                         "number is in the list is then matching one token)")
    a = ap.parse_args()
    tj = build(a.seed, a.numbers)
    write(a.out, tj, a.numbers)
    hf = check(a.out, a.numbers)
    ex = common.ponder_data(1000, a.seed + 1)
    lens = [len(hf(common.prompt_text(r["problem"]) + r["solution"] + "<|im_end|>")["input_ids"]) for r in ex]
    print("tokenizer: %d tokens (%d learned merges) -> %s; chat tokens per problem: mean %.0f, max %d"
          % (len(hf), len(tj["model"]["merges"]), a.out, sum(lens) / len(lens), max(lens)))


if __name__ == "__main__":
    main()
