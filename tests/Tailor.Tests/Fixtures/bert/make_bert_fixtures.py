#!/usr/bin/python3
"""Reference fixtures for Tailor's BERT and RoBERTa encoders, from an independent PyTorch implementation.

Writes two Hugging Face style folders next to this script (or under --out):

  tiny-bert/      BertForSequenceClassification: 2 layers, width 32, 4 heads, 3 labels, 2 token types
  tiny-roberta/   RobertaForSequenceClassification: 2 layers, width 32, 4 heads, 2 labels, pad_token_id 1

each with config.json, model.safetensors (HF parameter names, "bert."/"roberta." prefixed, float32) and
reference.safetensors: input_ids, attention_mask, token_type_ids (int64, padded batches) and the outputs the C# model
must reproduce: last_hidden_state (B, T, C), pooler_output (BERT only, (B, C)) and logits (B, L).

The math follows Hugging Face transformers' modeling_bert.py / modeling_roberta.py (read for the formulas, written
here from scratch):
  embeddings   LayerNorm(word[ids] + token_type[types] + position[pos]); BERT pos = 0..T-1; RoBERTa pos =
               cumsum(ids != pad) * (ids != pad) + pad, so real tokens start at pad + 1 and padding sits at pad
  attention    softmax(q k^T / sqrt(hd) + (mask ? 0 : -inf over padded keys)) v, all heads, no causal mask
  block        h = LN(x + dense(attn(x))); out = LN(h + dense2(gelu_erf(dense1(h))))     (post-LayerNorm)
  BERT head    logits = classifier(tanh(pooler.dense(h[:, 0])))
  RoBERTa head logits = out_proj(tanh(dense(h[:, 0])))

Before anything is written the script checks itself:
  * a second implementation (float64, one sequence at a time with its padding cut off, attention by explicit loops
    over heads) must agree with the batched float32 one on every real token;
  * a list of plausible mistakes (no padding mask, pre-LayerNorm blocks, tanh-approximated GELU, RoBERTa positions
    without the offset, BERT positions offset, a missing token-type embedding, a missing pooler tanh) must each move
    the outputs by at least 10x the C# tolerance (5x for the GELU form, whose two versions differ by ~5e-4 at most), so the C# tests can actually fail.

Run (regenerating is only for changing the fixtures on purpose, never to make a test pass):
  scripts/install-fixture-deps.sh
  env -u OPENBLAS_CORETYPE /usr/bin/python3 tests/Tailor.Tests/Fixtures/bert/make_bert_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

CSHARP_TOLERANCE = 1e-4
SELF_CHECK_LIMIT = CSHARP_TOLERANCE / 10
MISTAKE_MIN_EFFECT = CSHARP_TOLERANCE * 10
INIT_STD = 0.2  # larger than HF's 0.02 so that every component moves the outputs well above the tolerance

SPECS = {
    "tiny-bert": dict(
        seed=11,
        config={
            "architectures": ["BertForSequenceClassification"], "model_type": "bert",
            "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 37, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
            "id2label": {"0": "negative", "1": "neutral", "2": "positive"},
            "label2id": {"negative": 0, "neutral": 1, "positive": 2}, "torch_dtype": "float32",
        },
        # [CLS]=2 ... [SEP]=3, padding 0; row 1 has a second segment; row 2 is the shortest.
        input_ids=[[2, 17, 42, 5, 88, 63, 9, 3, 31, 77, 3], [2, 60, 17, 95, 3, 44, 17, 3, 0, 0, 0], [2, 50, 3, 0, 0, 0, 0, 0, 0, 0, 0]],
        token_type_ids=[[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0] * 11],
    ),
    "tiny-roberta": dict(
        seed=12,
        config={
            "architectures": ["RobertaForSequenceClassification"], "model_type": "roberta",
            "vocab_size": 101, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 41, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 40, "type_vocab_size": 1,
            "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
            "position_embedding_type": "absolute",
            "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
            "torch_dtype": "float32",
        },
        # <s>=0 ... </s>=2, padding 1.
        input_ids=[[0, 17, 42, 5, 88, 63, 9, 31, 77, 2], [0, 60, 17, 95, 44, 17, 2, 1, 1, 1], [0, 50, 2, 1, 1, 1, 1, 1, 1, 1]],
        token_type_ids=None,
    ),
}


def make_weights(cfg: dict, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    C, FF, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], len(cfg["id2label"])
    base = "roberta" if cfg["model_type"] == "roberta" else "bert"

    def n(*shape):
        return torch.randn(*shape, generator=g) * INIT_STD

    def ln():  # LayerNorm weights away from (1, 0) so that a skipped norm shows
        return 1 + n(C) * 0.5, n(C) * 0.5

    w = {}
    w[f"{base}.embeddings.word_embeddings.weight"] = n(V, C) * 5
    w[f"{base}.embeddings.position_embeddings.weight"] = n(cfg["max_position_embeddings"], C) * 5
    w[f"{base}.embeddings.token_type_embeddings.weight"] = n(cfg["type_vocab_size"], C) * 5
    w[f"{base}.embeddings.LayerNorm.weight"], w[f"{base}.embeddings.LayerNorm.bias"] = ln()
    for i in range(cfg["num_hidden_layers"]):
        p = f"{base}.encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            w[p + f"attention.self.{proj}.weight"], w[p + f"attention.self.{proj}.bias"] = n(C, C), n(C)
        w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"] = n(C, C), n(C)
        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"] = ln()
        w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = n(FF, C), n(FF)
        w[p + "output.dense.weight"], w[p + "output.dense.bias"] = n(C, FF), n(C)
        w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"] = ln()
    if base == "bert":
        w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"] = n(C, C), n(C)
        w["classifier.weight"], w["classifier.bias"] = n(L, C), n(L)
    else:
        w["classifier.dense.weight"], w["classifier.dense.bias"] = n(C, C), n(C)
        w["classifier.out_proj.weight"], w["classifier.out_proj.bias"] = n(L, C), n(L)
    return w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu(x, tanh=False):
    if tanh:
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def forward(cfg, w, ids, mask, types, mistake=None, dtype=torch.float32):
    """Batched forward. Returns (last_hidden_state, pooler_output or None, logits)."""
    w = {k: v.to(dtype) for k, v in w.items()}
    base = "roberta" if cfg["model_type"] == "roberta" else "bert"
    eps, H, pad = cfg["layer_norm_eps"], cfg["num_attention_heads"], cfg["pad_token_id"]
    B, T = ids.shape
    C = cfg["hidden_size"]
    D = C // H
    e = f"{base}.embeddings."
    if base == "roberta" and mistake != "roberta_no_offset":
        real = (ids != pad).long()
        pos = torch.cumsum(real, 1) * real + pad
    else:
        pos = torch.arange(T).unsqueeze(0).expand(B, T) + (1 if mistake == "bert_offset" else 0)
    types = torch.zeros_like(ids) if types is None else types
    x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][pos]
    if mistake != "no_token_type":
        x = x + w[e + "token_type_embeddings.weight"][types]
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    bias = torch.zeros(B, 1, 1, T, dtype=dtype)
    if mistake != "no_mask":
        bias = bias.masked_fill(mask.view(B, 1, 1, T) == 0, float("-inf"))
    for i in range(cfg["num_hidden_layers"]):
        p = f"{base}.encoder.layer.{i}."

        def lin(name, t):
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def norm(name, t):
            return layer_norm(t, w[p + name + ".weight"], w[p + name + ".bias"], eps)

        inp = norm("attention.output.LayerNorm", x) if mistake == "pre_norm" else x
        q = lin("attention.self.query", inp).view(B, T, H, D).transpose(1, 2)
        k = lin("attention.self.key", inp).view(B, T, H, D).transpose(1, 2)
        v = lin("attention.self.value", inp).view(B, T, H, D).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + bias, dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, C)
        a = lin("attention.output.dense", a)
        if mistake == "pre_norm":
            h = x + a
            f = lin("output.dense", gelu(lin("intermediate.dense", norm("output.LayerNorm", h))))
            x = h + f
        else:
            h = norm("attention.output.LayerNorm", x + a)
            f = lin("output.dense", gelu(lin("intermediate.dense", h), tanh=mistake == "gelu_tanh"))
            x = norm("output.LayerNorm", h + f)
    first = x[:, 0]
    if base == "bert":
        pooled = first @ w["bert.pooler.dense.weight"].T + w["bert.pooler.dense.bias"]
        if mistake != "no_pooler_tanh":
            pooled = torch.tanh(pooled)
        logits = pooled @ w["classifier.weight"].T + w["classifier.bias"]
        return x, pooled, logits
    hid = torch.tanh(first @ w["classifier.dense.weight"].T + w["classifier.dense.bias"])
    logits = hid @ w["classifier.out_proj.weight"].T + w["classifier.out_proj.bias"]
    return x, None, logits


def forward_one_by_one(cfg, w, ids, mask, types):
    """Second implementation: float64, each row alone with its padding cut off, attention head by head."""
    w = {k: v.double() for k, v in w.items()}
    base = "roberta" if cfg["model_type"] == "roberta" else "bert"
    eps, H, pad = cfg["layer_norm_eps"], cfg["num_attention_heads"], cfg["pad_token_id"]
    C = cfg["hidden_size"]
    D = C // H
    rows = []
    for r in range(ids.shape[0]):
        n = int(mask[r].sum())
        tok = ids[r, :n]
        typ = torch.zeros(n, dtype=torch.long) if types is None else types[r, :n]
        pos = torch.arange(n) + (pad + 1 if base == "roberta" else 0)
        e = f"{base}.embeddings."
        x = w[e + "word_embeddings.weight"][tok] + w[e + "token_type_embeddings.weight"][typ] + w[e + "position_embeddings.weight"][pos]
        x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
        for i in range(cfg["num_hidden_layers"]):
            p = f"{base}.encoder.layer.{i}."
            W = lambda name: w[p + name + ".weight"]  # noqa: E731
            b = lambda name: w[p + name + ".bias"]  # noqa: E731
            heads = []
            for hh in range(H):
                sl = slice(hh * D, (hh + 1) * D)
                q = x @ W("attention.self.query")[sl].T + b("attention.self.query")[sl]
                k = x @ W("attention.self.key")[sl].T + b("attention.self.key")[sl]
                v = x @ W("attention.self.value")[sl].T + b("attention.self.value")[sl]
                s = q @ k.T / math.sqrt(D)
                s = torch.exp(s - s.max(-1, keepdim=True).values)
                heads.append((s / s.sum(-1, keepdim=True)) @ v)
            a = torch.cat(heads, -1) @ W("attention.output.dense").T + b("attention.output.dense")
            h = layer_norm(x + a, W("attention.output.LayerNorm"), b("attention.output.LayerNorm"), eps)
            f = gelu(h @ W("intermediate.dense").T + b("intermediate.dense"))
            x = layer_norm(h + f @ W("output.dense").T + b("output.dense"), W("output.LayerNorm"), b("output.LayerNorm"), eps)
        rows.append(x)
    return rows


def write_safetensors(path, tensors, metadata):
    dtypes = {torch.float32: ("F32", np.float32), torch.int64: ("I64", np.int64)}
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        code, np_dtype = dtypes[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in chunks:
            f.write(data)


def check(ok, message):
    if not ok:
        sys.exit(f"self-check failed: {message}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    for folder, spec in SPECS.items():
        cfg = spec["config"]
        w = make_weights(cfg, spec["seed"])
        ids = torch.tensor(spec["input_ids"], dtype=torch.long)
        mask = (ids != cfg["pad_token_id"]).long()
        types = None if spec["token_type_ids"] is None else torch.tensor(spec["token_type_ids"], dtype=torch.long)
        hidden, pooled, logits = forward(cfg, w, ids, mask, types)

        for r, row in enumerate(forward_one_by_one(cfg, w, ids, mask, types)):
            err = float((hidden[r, : row.shape[0]].double() - row).abs().max())
            check(err < SELF_CHECK_LIMIT, f"{folder} row {r}: batched vs one-by-one differ by {err:.2e}")
        for mistake in ("no_mask", "pre_norm", "gelu_tanh", "roberta_no_offset", "bert_offset", "no_token_type", "no_pooler_tanh"):
            if mistake == "roberta_no_offset" and cfg["model_type"] != "roberta":
                continue
            if mistake in ("bert_offset", "no_pooler_tanh") and cfg["model_type"] != "bert":
                continue
            if mistake == "no_token_type" and types is None:
                continue
            h2, _, l2 = forward(cfg, w, ids, mask, types, mistake=mistake)
            effect = max(float((h2 - hidden)[mask.bool()].abs().max()), float((l2 - logits).abs().max()))
            # erf and tanh GELU differ by at most ~5e-4 per activation, so that mistake gets a 5x margin, not 10x
            needed = CSHARP_TOLERANCE * 5 if mistake == "gelu_tanh" else MISTAKE_MIN_EFFECT
            check(effect > needed, f"{folder}: mistake '{mistake}' moves outputs by only {effect:.2e}")
            print(f"{folder}: mistake {mistake:18s} moves outputs by {effect:.3g}")

        out = os.path.join(args.out, folder)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(out, "model.safetensors"), w, {"format": "pt"})
        ref = {"input_ids": ids, "attention_mask": mask, "last_hidden_state": hidden, "logits": logits}
        if types is not None:
            ref["token_type_ids"] = types
        if pooled is not None:
            ref["pooler_output"] = pooled
        write_safetensors(os.path.join(out, "reference.safetensors"), ref, {"generator": "make_bert_fixtures.py"})
        print(f"{folder}: logits {logits.tolist()}")


if __name__ == "__main__":
    main()
