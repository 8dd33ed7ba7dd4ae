"""make_gguf_fixtures.py — tiny GGUF models in every weight type, with reference logits.

    ~/ponder-venv/bin/python tools/make_gguf_fixtures.py [OUT] [--only FILE,...]
                                                          (default tests/fixtures/gguf)

Needs torch, transformers, numpy and llama.cpp's sources (its converter and gguf-py) in
build/llama.cpp/src, which tools/check_llama_server.sh unpacks from the llama-cpp-python sdist
(set LLAMA_CPP_SRC to use another checkout), and for the Q2_K / Q3_K file llama.cpp's
llama-quantize built from the same sources (build/llama.cpp/build/bin/llama-quantize, or
LLAMA_QUANTIZE). --only remakes just the named files (e.g. llama-q2_k) and updates their
entries of an existing reference.json.

1. transformers makes two tiny random models in Hugging Face layout (seeded; weights scaled so
   logits spread over several units), with the byte-level BPE tokenizer of the rlhflow PRM
   fixture (905 tokens, Llama 3's pre-tokenizer):
     llama: LlamaForCausalLM, hidden 32, ffn 256, 2 layers, 4 heads / 2 KV heads, untied;
     qwen2: Qwen2ForCausalLM, same shape, q/k/v biases, tied embeddings, 906 tokens (transformers
            reads the tokenizer as Qwen2's, which adds <|endoftext|>).
   The ffn width 256 lets ffn_down (whose rows are 256 long) hold the 256-value K-quant blocks.
2. llama.cpp's own converter (convert_hf_to_gguf.py) writes each as GGUF: it applies the real
   Q/K row permutation to Llama, names tensors as llama.cpp does and writes the tokenizer
   metadata. Types: f32, f16, bf16 and q8_0 are the converter's own; q4_0 / q4_1 / q5_0 /
   q5_1 re-encode every matrix with gguf-py's quantizers (the 1-D tensors stay F32, as the
   converter keeps them); `kquant` is Q8_0 with ffn_down in K-quant formats: llama Q4_K (layer 0)
   and Q6_K (layer 1), qwen2 Q5_K and Q4_K. gguf-py cannot write K-quants, so those blocks
   are random bytes with sensible scales: a valid encoding of some weights, which is all a
   test of the decoder needs. Q2_K and Q3_K (llama-q2_k.gguf) are quantized by llama.cpp's
   llama-quantize from the converter's f32 file (real weights, real scales and mins): every
   matrix Q4_0, ffn_down Q3_K (layer 0) and Q2_K (layer 1), the 256-wide rows of the ffn-256
   model (the other matrices' rows are 32 wide: no K-quant fits them). The rlhflow fixture
   itself (Llama 3.1 rope scaling, which GGUF carries as a rope_freqs tensor) is converted
   too, as f32.
3. The reference: every tensor of the written file is read back and dequantized by gguf-py
   (an implementation independent of ponder's), Llama's Q/K rows are put back in Hugging Face
   order, and the Hugging Face model runs on exactly those weights in float32 (eager
   attention). reference.json holds, per file, the last-position logits of three prompts and
   the argmax at every position (kept small: the files are committed), and for files with
   Q2_K / Q3_K tensors `deq_sha256`: per quantized tensor, the SHA-256 of gguf-py's dequantized
   float32 values (little-endian, row-major), against which the test checks ponder's
   dequantizer bit for bit.
   The script checks that the f32 files round-trip to the original weights bit for bit (so
   the un-permutation is right).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.environ.get("LLAMA_CPP_SRC", os.path.join(ROOT, "build/llama.cpp/src"))
sys.path.insert(0, SRC)
sys.path.insert(1, os.path.join(SRC, "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's vendored gguf-py, matching its converter)
from gguf import GGMLQuantizationType as Q  # noqa: E402

QUANTIZE = os.environ.get("LLAMA_QUANTIZE", os.path.join(ROOT, "build/llama.cpp/build/bin/llama-quantize"))
TOK_DIR = os.path.join(ROOT, "tests/fixtures/prm/rlhflow")
PROMPTS = [[900, 5, 17, 301, 44, 8, 640, 12, 99], [3, 250, 251, 7], [900]]


def make_hf(kind, out, ffn):
    """A tiny random model of `kind` (ffn width ffn) saved in Hugging Face layout at out."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    common = dict(vocab_size=905, hidden_size=32, intermediate_size=ffn, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=900,
                  eos_token_id=901)
    torch.manual_seed((4100 if kind == "llama" else 4200) + ffn)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, rope_theta=10000.0, **common))
    else:
        # transformers reads this tokenizer as a Qwen2Tokenizer, which adds <|endoftext|> as id 905
        common["vocab_size"] = 906
        model = Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=True, rope_theta=1e6, **common))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.5 / p.shape[-1] ** 0.5) * 4)
    model.save_pretrained(out, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOK_DIR, f), out)


def rand_kquant(qtype, rows, cols, rng):
    """Random but sensible K-quant blocks for a (rows, cols) matrix, as uint8 (rows, bytes)."""
    nb = cols // 256
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    blocks = rng.integers(0, 256, size=(rows * nb, size), dtype=np.uint8)
    half = lambda v: np.frombuffer(np.float16(v).tobytes(), dtype=np.uint8)
    for b in blocks:
        if qtype in (Q.Q4_K, Q.Q5_K):
            b[0:2], b[2:4] = half(0.0015), half(0.012)  # d, dmin: w = d*sc*q - dmin*m
            sc = rng.integers(1, 64, size=8)
            mn = np.minimum(63, np.round(sc * (7.5 if qtype == Q.Q4_K else 15.5) * 0.0015 / 0.012)).astype(int)
            s = np.zeros(12, dtype=np.uint8)
            for j in range(4):  # the inverse of ggml's get_scale_min_k4
                s[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
                s[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6)
                s[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)
            b[4:16] = s
        else:  # Q6_K: ql[128] qh[64] scales[16] d
            b[192:208] = rng.integers(-40, 41, size=16).astype(np.int8).view(np.uint8)
            b[208:210] = half(0.0004)
    return blocks.reshape(rows, nb * size)


def convert(hf_dir, out, outtype, plan=None, seed=0):
    """llama.cpp's converter on hf_dir; plan maps tensor names to the type to write them in
    (re-encoding the converter's f32 output)."""
    import conversion.base as base
    import convert_hf_to_gguf as conv
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "llama-bpe"  # a tokenizer trained here

    def no_spm(self, *a, **k):
        raise FileNotFoundError("not a SentencePiece model")
    base.TextModel._set_vocab_sentencepiece = no_spm
    base.TextModel._set_vocab_llama_hf = no_spm
    orig = gguf.GGUFWriter.add_tensor
    rng = np.random.default_rng(seed)

    def add_tensor(self, name, tensor, raw_shape=None, raw_dtype=None, tensor_endianess=None):
        qt = (plan or {}).get(name) if not callable(plan) else plan(name, tensor)
        if qt is not None and tensor.ndim == 2:
            if qt in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
                data = rand_kquant(qt, tensor.shape[0], tensor.shape[1], rng)
            else:
                data = gguf.quants.quantize(np.asarray(tensor, dtype=np.float32), qt)
            return orig(self, name, data, raw_dtype=qt, tensor_endianess=tensor_endianess)
        return orig(self, name, tensor, raw_shape=raw_shape, raw_dtype=raw_dtype, tensor_endianess=tensor_endianess)
    gguf.GGUFWriter.add_tensor = add_tensor
    try:
        sys.argv = ["convert_hf_to_gguf.py", hf_dir, "--outfile", out, "--outtype", outtype, "--no-lazy"]
        conv.main()
    finally:
        gguf.GGUFWriter.add_tensor = orig


HF_NAMES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def unpermute(w, n_head):
    """Inverse of the converter's LlamaModel.permute (rows back to rotate-half order)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_weights(path, cfg):
    """Every tensor of a GGUF file, dequantized by gguf-py, under Hugging Face names."""
    r = gguf.GGUFReader(path)
    arch = "llama" if cfg.model_type == "llama" else "qwen2"
    sd = {}
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        w = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(list(reversed(ne)))
        name = t.name
        if name == "rope_freqs.weight":
            continue
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        else:
            _, n, part, kind = name.split(".")
            hf = f"model.layers.{n}.{HF_NAMES[part]}.{kind}"
            if arch == "llama" and part in ("attn_q", "attn_k"):
                w = unpermute(w, cfg.num_attention_heads if part == "attn_q" else cfg.num_key_value_heads)
        sd[hf] = torch.from_numpy(np.ascontiguousarray(w))
    return sd, {t.name: t.tensor_type.name for t in r.tensors}


class LlamaQuantize:
    """A plan for llama-quantize: base type for every matrix (--pure: no mixture) and
    per-tensor overrides (regex -> type), applied to the converter's f32 file."""
    def __init__(self, base, overrides):
        self.base, self.overrides = base, overrides

    def run(self, f32_path, out):
        cmd = [QUANTIZE, "--pure", "--token-embedding-type", self.base, "--output-tensor-type", self.base]
        for pattern, qt in self.overrides:
            cmd += ["--tensor-type", f"{pattern}={qt}"]
        subprocess.run(cmd + [f32_path, out, self.base, "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def deq_hashes(path):
    """SHA-256 of gguf-py's dequantized float32 values of each Q2_K / Q3_K tensor."""
    r = gguf.GGUFReader(path)
    return {t.name: hashlib.sha256(np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype="<f4").tobytes()).hexdigest()
            for t in r.tensors if t.tensor_type in (Q.Q2_K, Q.Q3_K)}


def reference(hf_dir, path):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager")
    sd, types = read_weights(path, model.config)
    if model.config.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    model.eval()
    with torch.no_grad():
        logits = [model(torch.tensor([p])).logits[0].tolist() for p in PROMPTS]
    return logits, types


def main():
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i:i + 2]
    out = args[0] if args else os.path.join(ROOT, "tests/fixtures/gguf")
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    refs = {"prompts": PROMPTS, "files": {}}
    if only:  # keep the other files' entries
        with open(os.path.join(out, "reference.json")) as f:
            refs = json.load(f)
        assert refs["prompts"] == PROMPTS
    down = lambda a, b: {"blk.0.ffn_down.weight": a, "blk.1.ffn_down.weight": b}
    quant_all = lambda qt: (lambda name, t: qt if t.ndim == 2 else None)
    kquant = lambda kq: (lambda name, t: kq.get(name, Q.Q8_0) if t.ndim == 2 else None)
    # (file, model, ffn width, converter outtype, re-encoding plan): what tests/fixtures/gguf holds
    files = [("llama-q8_0", "llama", 64, "q8_0", None),
             ("llama-q4_0", "llama", 64, "f32", quant_all(Q.Q4_0)),
             ("llama-q5_1", "llama", 64, "f32", quant_all(Q.Q5_1)),
             ("llama-kquant", "llama", 256, "f32", kquant(down(Q.Q4_K, Q.Q6_K))),
             ("qwen2-bf16", "qwen2", 64, "bf16", None),
             ("qwen2-q4_1", "qwen2", 64, "f32", quant_all(Q.Q4_1)),
             ("qwen2-q5_0", "qwen2", 64, "f32", quant_all(Q.Q5_0)),
             ("qwen2-kquant", "qwen2", 256, "f32", kquant(down(Q.Q5_K, Q.Q4_K))),
             ("llama-q2_k", "llama", 256, "f32",
              LlamaQuantize("q4_0", [(r"blk\.0\.ffn_down", "q3_k"), (r"blk\.1\.ffn_down", "q2_k")])),
             ("llama-f32", "llama", 64, "f32", None),  # checks the round trip; not kept
             ("rlhflow-f16", "rlhflow", 0, "f16", None)]
    for seed, (tag, kind, ffn, outtype, plan) in enumerate(files):
        if only and tag not in only:
            continue
        hf = TOK_DIR if kind == "rlhflow" else os.path.join(tmp, f"{kind}-{ffn}")
        if not os.path.exists(hf):
            make_hf(kind, hf, ffn)
        path = os.path.join(out if tag != "llama-f32" else tmp, tag + ".gguf")
        if isinstance(plan, LlamaQuantize):
            f32 = os.path.join(tmp, tag + "-f32.gguf")
            convert(hf, f32, outtype)
            plan.run(f32, path)
        else:
            convert(hf, path, outtype, plan, seed=seed)
        logits, types = reference(hf, path)
        if tag == "llama-f32":  # the round trip (and the un-permutation) is exact
            from safetensors.torch import load_file
            from transformers import AutoConfig
            orig = load_file(os.path.join(hf, "model.safetensors"))
            sd, _ = read_weights(path, AutoConfig.from_pretrained(hf))
            for k, v in orig.items():
                assert torch.equal(sd[k], v), k
            continue
        refs["files"][tag + ".gguf"] = {
            "model": kind, "types": sorted(set(types.values())),
            "last": [[round(v, 6) for v in rows[-1]] for rows in logits],   # last position of each prompt
            "argmax": [[int(np.argmax(r)) for r in rows] for rows in logits]}  # every position
        hashes = deq_hashes(path)
        if hashes:
            refs["files"][tag + ".gguf"]["deq_sha256"] = hashes
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(refs, f)
    shutil.rmtree(tmp)
    for name in sorted(os.listdir(out)):
        print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes")


if __name__ == "__main__":
    main()
