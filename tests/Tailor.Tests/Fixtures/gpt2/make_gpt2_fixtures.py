#!/usr/bin/python3
"""Reference fixture for Tailor's GPT-2 forward pass, from an independent PyTorch implementation.

Writes tiny-gpt2/ next to this script (or under --out): a Hugging Face GPT2LMHeadModel folder with the real
GPT-2 vocabulary size (50257) and tiny random weights, and reference.safetensors with the tensors the C# model
must reproduce (see README.md beside this script). Token ids come from the real GPT-2 tokenizer: the ids npm
gpt-3-encoder produced for the texts in ../tokenizers/gpt2.cases.json (scripts/tokenizer-fixtures/generate.mjs).

The math follows Hugging Face transformers' modeling_gpt2.py (read for the formulas, written here from scratch):
  Conv1D      y = x @ W + b with W stored (in, out)
  block       h = h + attn(ln_1(h)); h = h + mlp(ln_2(h)); LayerNorm with weight and bias, eps layer_norm_epsilon
  attention   q, k, v = split(c_attn(x)); causal softmax(q k^T / sqrt(D)); c_proj
  MLP         c_proj(gelu_new(c_fc(x))), gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  embeddings  wte[ids] + wpe[positions]; logits = ln_f(h) @ wte^T (tied head)

model.safetensors is written the way openai-community/gpt2's file is: names without the "transformer." prefix, and
with the causal-mask buffers h.N.attn.bias that old checkpoints carry, so the C# loader's handling of both is tested.
Weights are drawn as float16 values and stored as F16 (torch_dtype float16) to halve the 50257-row embedding's file;
both implementations run in float32 (float64 for the check) on exactly those values.

To keep the files small the reference stores logits for a fixed subset of vocabulary columns (LOGIT_COLUMNS: every
37th id plus every id the greedy run picks); a forward mistake moves all columns, and the greedy ids are checked
against the argmax over the full vocabulary.

Self-checks before anything is written:
  * a float64 implementation with explicit loops over heads and query positions agrees with the batched one;
  * each greedy step's top-1/top-2 gap over the full vocabulary exceeds 10x the C# tolerance;
  * plausible mistakes (no position embedding, exact GELU for gelu_new, LayerNorm bias ignored, no causal mask,
    untransposed Conv1D in c_attn's q part, wrong attention scale) each move the stored logits by 10x the tolerance.

Run (only to change the fixture on purpose, never to make a test pass):
  scripts/install-fixture-deps.sh
  env -u OPENBLAS_CORETYPE /usr/bin/python3 tests/Tailor.Tests/Fixtures/gpt2/make_gpt2_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct

import torch

CSHARP_TOLERANCE = 1e-4
SELF_CHECK_LIMIT = CSHARP_TOLERANCE / 10
MISTAKE_MIN_EFFECT = CSHARP_TOLERANCE * 10

SEED = 2019
GREEDY_NEW_TOKENS = 12
INPUT_LENGTH = 8
# Case indices in gpt2.cases.json: "The quick brown fox..." and "Hello, world! How's it going?..." (parseSpecial true).
INPUT_CASES = [0, 2]
GREEDY_CASE = 0

CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 64,
    "n_embd": 16,
    "n_head": 2,
    "n_inner": None,
    "n_layer": 2,
    "n_positions": 64,
    "resid_pdrop": 0.1,
    "scale_attn_weights": True,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "torch_dtype": "float16",
    "vocab_size": 50257,
}


def make_weights(cfg: dict) -> dict[str, torch.Tensor]:
    """HF-named weights (no transformer. prefix), drawn in module order from one generator."""
    g = torch.Generator().manual_seed(SEED)
    d, v, p, ff = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], 4 * cfg["n_embd"]

    def normal(*shape, std):
        return (torch.randn(*shape, generator=g) * std).half().float()

    def norm_weight():
        return (1 + 0.1 * torch.randn(d, generator=g)).half().float()

    w = {}
    # wte has a larger spread than HF's 0.02 so that greedy argmax gaps are far above the tolerance.
    w["wte.weight"] = normal(v, d, std=0.5)
    w["wpe.weight"] = normal(p, d, std=0.5)
    for i in range(cfg["n_layer"]):
        pre = f"h.{i}."
        w[pre + "ln_1.weight"] = norm_weight()
        w[pre + "ln_1.bias"] = normal(d, std=0.1)
        w[pre + "attn.c_attn.weight"] = normal(d, 3 * d, std=0.3)
        w[pre + "attn.c_attn.bias"] = normal(3 * d, std=0.1)
        w[pre + "attn.c_proj.weight"] = normal(d, d, std=0.3)
        w[pre + "attn.c_proj.bias"] = normal(d, std=0.1)
        w[pre + "ln_2.weight"] = norm_weight()
        w[pre + "ln_2.bias"] = normal(d, std=0.1)
        w[pre + "mlp.c_fc.weight"] = normal(d, ff, std=0.3)
        w[pre + "mlp.c_fc.bias"] = normal(ff, std=0.1)
        w[pre + "mlp.c_proj.weight"] = normal(ff, d, std=0.3)
        w[pre + "mlp.c_proj.bias"] = normal(d, std=0.1)
    w["ln_f.weight"] = norm_weight()
    w["ln_f.bias"] = normal(d, std=0.1)
    return w


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, weight, bias, eps, use_bias=True):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * weight
    return y + bias if use_bias else y


def forward(w, cfg, ids, mistake=None):
    """Batched float32 forward: ids (B, T) -> logits (B, T, V)."""
    b, t = ids.shape
    d, heads = cfg["n_embd"], cfg["n_head"]
    hd = d // heads
    eps = cfg["layer_norm_epsilon"]
    positions = torch.arange(t)
    x = w["wte.weight"][ids]
    if mistake != "no_positions":
        x = x + w["wpe.weight"][positions].unsqueeze(0)
    ln_bias = mistake != "ln_bias_ignored"
    for i in range(cfg["n_layer"]):
        pre = f"h.{i}."
        h = layer_norm(x, w[pre + "ln_1.weight"], w[pre + "ln_1.bias"], eps, ln_bias)
        c_attn = w[pre + "attn.c_attn.weight"]
        if mistake == "untransposed_q":
            c_attn = torch.cat([c_attn[:, :d].t(), c_attn[:, d:]], dim=1)
        qkv = h @ c_attn + w[pre + "attn.c_attn.bias"]
        q, k, v = qkv.split(d, dim=-1)
        q = q.view(b, t, heads, hd).transpose(1, 2)
        k = k.view(b, t, heads, hd).transpose(1, 2)
        v = v.view(b, t, heads, hd).transpose(1, 2)
        scale = 1.0 / hd if mistake == "scale_by_d" else 1.0 / math.sqrt(hd)
        scores = (q @ k.transpose(-1, -2)) * scale
        if mistake != "no_causal_mask":
            causal = torch.ones(t, t, dtype=torch.bool).tril()
            scores = scores.masked_fill(~causal, float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v
        att = att.transpose(1, 2).reshape(b, t, d)
        x = x + att @ w[pre + "attn.c_proj.weight"] + w[pre + "attn.c_proj.bias"]
        h = layer_norm(x, w[pre + "ln_2.weight"], w[pre + "ln_2.bias"], eps, ln_bias)
        h = h @ w[pre + "mlp.c_fc.weight"] + w[pre + "mlp.c_fc.bias"]
        h = torch.nn.functional.gelu(h) if mistake == "exact_gelu" else gelu_new(h)
        x = x + h @ w[pre + "mlp.c_proj.weight"] + w[pre + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps, ln_bias)
    return x @ w["wte.weight"].t()


def forward_loops64(w, cfg, ids):
    """Second implementation: float64, one sequence, one head and one query position at a time."""
    w = {k: t.double() for k, t in w.items()}
    d, heads = cfg["n_embd"], cfg["n_head"]
    hd = d // heads
    eps = cfg["layer_norm_epsilon"]
    out = []
    for row in ids.tolist():
        t = len(row)
        x = torch.stack([w["wte.weight"][tok] + w["wpe.weight"][pos] for pos, tok in enumerate(row)])
        for i in range(cfg["n_layer"]):
            pre = f"h.{i}."
            h = torch.nn.functional.layer_norm(x, (d,), w[pre + "ln_1.weight"], w[pre + "ln_1.bias"], eps)
            qkv = torch.addmm(w[pre + "attn.c_attn.bias"], h, w[pre + "attn.c_attn.weight"])
            att = torch.zeros(t, d, dtype=torch.float64)
            for head in range(heads):
                q = qkv[:, head * hd:(head + 1) * hd]
                k = qkv[:, d + head * hd:d + (head + 1) * hd]
                v = qkv[:, 2 * d + head * hd:2 * d + (head + 1) * hd]
                for s in range(t):
                    scores = torch.stack([q[s].dot(k[j]) / math.sqrt(hd) for j in range(s + 1)])
                    probs = torch.softmax(scores, dim=0)
                    att[s, head * hd:(head + 1) * hd] = (probs.unsqueeze(1) * v[: s + 1]).sum(0)
            x = x + torch.addmm(w[pre + "attn.c_proj.bias"], att, w[pre + "attn.c_proj.weight"])
            h = torch.nn.functional.layer_norm(x, (d,), w[pre + "ln_2.weight"], w[pre + "ln_2.bias"], eps)
            h = torch.addmm(w[pre + "mlp.c_fc.bias"], h, w[pre + "mlp.c_fc.weight"])
            h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h * h * h)))
            x = x + torch.addmm(w[pre + "mlp.c_proj.bias"], h, w[pre + "mlp.c_proj.weight"])
        x = torch.nn.functional.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
        out.append(x @ w["wte.weight"].t())
    return torch.stack(out)


def save_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Minimal safetensors writer: 8-byte little-endian header length, JSON header, raw little-endian data."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        dtype = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}[tensor.dtype]
        data = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=here)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("torch", torch.__version__)

    with open(os.path.join(here, "..", "tokenizers", "gpt2.cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    input_ids = torch.tensor([cases[i]["ids"][:INPUT_LENGTH] for i in INPUT_CASES], dtype=torch.int64)
    prompt = torch.tensor([cases[GREEDY_CASE]["ids"]], dtype=torch.int64)

    cfg = CONFIG
    w = make_weights(cfg)
    with torch.no_grad():
        logits = forward(w, cfg, input_ids)
        check = forward_loops64(w, cfg, input_ids)
        diff = (logits.double() - check).abs().max().item()
        print(f"batched float32 vs float64 loops: max |diff| {diff:.2e}")
        assert diff < SELF_CHECK_LIMIT, diff

        # Greedy: the full uncached forward over prompt + tokens so far, argmax of the last position.
        seq = prompt.clone()
        step_logits, picked = [], []
        for step in range(GREEDY_NEW_TOKENS):
            last = forward(w, cfg, seq)[0, -1]
            top2 = torch.topk(last, 2).values
            gap = (top2[0] - top2[1]).item()
            assert gap > MISTAKE_MIN_EFFECT, f"step {step}: top-1/top-2 gap {gap:.2e} too small for a stable argmax"
            nxt = int(last.argmax())
            picked.append(nxt)
            step_logits.append(last)
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
        print("greedy ids", picked)

        columns = sorted(set(range(0, cfg["vocab_size"], 37)) | set(picked))
        cols = torch.tensor(columns, dtype=torch.int64)
        for mistake in ["no_positions", "exact_gelu", "ln_bias_ignored", "no_causal_mask", "untransposed_q", "scale_by_d"]:
            moved = (forward(w, cfg, input_ids, mistake)[..., cols] - logits[..., cols]).abs().max().item()
            print(f"mistake {mistake}: moves the stored logits by {moved:.2e}")
            assert moved > MISTAKE_MIN_EFFECT, mistake

    folder = os.path.join(args.out, "tiny-gpt2")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    stored = dict(w)
    p = cfg["n_positions"]
    for i in range(cfg["n_layer"]):
        # The causal-mask buffer old GPT-2 checkpoints saved; not a weight. Placed per layer as in the original file.
        stored[f"h.{i}.attn.bias"] = torch.ones(p, p).tril().view(1, 1, p, p)
    save_safetensors(os.path.join(folder, "model.safetensors"), {k: t.half() for k, t in stored.items()}, {"format": "pt"})
    save_safetensors(os.path.join(folder, "reference.safetensors"), {
        "input_ids": input_ids,
        "logit_columns": cols,
        "logits": logits[..., cols].contiguous(),
        "greedy_prompt": prompt,
        "greedy_ids": torch.tensor([picked], dtype=torch.int64),
        "greedy_step_logits": torch.stack(step_logits)[:, cols].contiguous(),
    }, {"format": "pt", "torch": torch.__version__})
    print("wrote", folder)


if __name__ == "__main__":
    main()
