#!/usr/bin/python3
"""Reference fixtures for Tailor's Llama forward pass, from an independent PyTorch implementation.

Writes two Hugging Face style folders next to this script (or under --out):

  tiny-llama/   LlamaForCausalLM: untied lm_head, no biases, 4 query heads sharing 2 key/value heads
  tiny-qwen2/   Qwen2ForCausalLM: tied embeddings, q/k/v biases, 4 query heads sharing 1 key/value head

each with config.json, model.safetensors (HF parameter names, float32) and reference.safetensors
(input ids and the tensors the C# model must reproduce; see README.md beside this script).

The math follows Hugging Face transformers' modeling_llama.py / modeling_qwen2.py (read for the
formulas, written here from scratch):
  RMSNorm     x * rsqrt(mean(x^2) + eps) * weight, computed in float32
  RoPE        inv_freq = 1 / theta^(arange(0, hd, 2) / hd); cos/sin of cat(freqs, freqs);
              x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x[hd/2:], x[:hd/2])
  attention   grouped-query (query head h reads key/value head h // (n_heads / n_kv_heads)),
              causal softmax of q k^T / sqrt(hd), then o_proj (never biased)
  MLP         down(silu(gate(x)) * up(x))
  block       h = h + attn(input_layernorm(h)); h = h + mlp(post_attention_layernorm(h))
  head        logits = lm_head(norm(h)); lm_head.weight is embed_tokens.weight when tied

Before anything is written the script checks itself:
  * a second implementation (float64, loops over batch/head/query position, RoPE as explicit pair
    rotation, GQA by index instead of repeat_kv) must agree with the batched float32 one;
  * a tied model must equal the same model untied with lm_head.weight = embed_tokens.weight;
  * greedy step logits must equal the logits of one forward over the final sequence (causality), and
    a KV-cached decoder (prefill, then one token at a time) must reproduce them;
  * each greedy step's top-1/top-2 logit gap must exceed 10x the C# test tolerance, so argmax is stable;
  * a list of plausible implementation mistakes (interleaved RoPE, no causal mask, wrong GQA mapping,
    ignored norm weights, RoPE positions restarting in the cache, ...) must each move the logits by at
    least 10x the tolerance, so the C# tests can actually fail;
  * both safetensors files are read back with an independent parser and compared.

Run (regenerating is only for changing the fixtures on purpose, never to make a test pass):
  scripts/install-fixture-deps.sh
  env -u OPENBLAS_CORETYPE /usr/bin/python3 tests/Tailor.Tests/Fixtures/llama/make_llama_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# The C# tests compare against these files with this absolute tolerance; the checks below keep
# every self-consistency error 10x under it and every deliberate mistake 10x over it.
CSHARP_TOLERANCE = 1e-4
SELF_CHECK_LIMIT = CSHARP_TOLERANCE / 10
MISTAKE_MIN_EFFECT = CSHARP_TOLERANCE * 10

INIT_STD = 0.02
GREEDY_NEW_TOKENS = 20

# Fixed inputs (values < vocab_size 96). Row 0 starts with BOS (1); row 1 does not, and repeats a
# token (17) so equal tokens at different positions must get different RoPE phases.
INPUT_IDS = [
    [1, 17, 42, 5, 88, 63, 9, 31, 77, 2, 50],
    [60, 3, 17, 95, 0, 44, 17, 71, 28, 12, 83],
]
GREEDY_PROMPT = [[1, 23, 45, 67, 89]]


@dataclass(frozen=True)
class Spec:
    """One fixture model: the HF config plus the seed its weights are drawn from."""

    folder: str
    seed: int
    config: dict

    @property
    def n_heads(self) -> int:
        return self.config["num_attention_heads"]

    @property
    def n_kv_heads(self) -> int:
        return self.config["num_key_value_heads"]

    @property
    def head_dim(self) -> int:
        # Real Qwen2 config.json files carry no head_dim; HF derives it as hidden_size / heads.
        return self.config.get("head_dim", self.config["hidden_size"] // self.n_heads)

    @property
    def qkv_bias(self) -> bool:
        # Qwen2 always biases q/k/v (its config has no attention_bias field); Llama follows attention_bias.
        return self.config["model_type"] == "qwen2" or self.config.get("attention_bias", False)

    @property
    def tied(self) -> bool:
        return self.config["tie_word_embeddings"]


LLAMA = Spec(
    folder="tiny-llama",
    seed=1234,
    config={
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 96,
        "hidden_size": 64,
        "intermediate_size": 160,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "hidden_act": "silu",
        "initializer_range": INIT_STD,
        "torch_dtype": "float32",
        "use_cache": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
)

QWEN2 = Spec(
    folder="tiny-qwen2",
    seed=4321,
    config={
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": 96,
        "hidden_size": 64,
        "intermediate_size": 160,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "tie_word_embeddings": True,
        "use_sliding_window": False,
        "sliding_window": 128,
        "max_window_layers": 2,
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "initializer_range": INIT_STD,
        "torch_dtype": "float32",
        "use_cache": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
)


# ----------------------------------------------------------------------------------------------
# Weights


def init_params(spec: Spec) -> dict[str, torch.Tensor]:
    """Deterministic float32 weights under HF names; drawn in one fixed order from one generator."""
    c = spec.config
    g = torch.Generator().manual_seed(spec.seed)
    d, ff, v, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], spec.head_dim
    q_out, kv_out = spec.n_heads * hd, spec.n_kv_heads * hd

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * INIT_STD

    def norm_weight() -> torch.Tensor:
        # Not all ones, so a forward that ignores the norm weight cannot pass.
        return 1.0 + 0.1 * torch.randn(d, generator=g)

    def bias(n: int) -> torch.Tensor:
        # Same scale as the projection outputs (std ~ 0.16), so a dropped bias shows.
        return 0.1 * torch.randn(n, generator=g)

    p: dict[str, torch.Tensor] = {"model.embed_tokens.weight": normal(v, d)}
    for i in range(c["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        p[pre + "input_layernorm.weight"] = norm_weight()
        p[pre + "self_attn.q_proj.weight"] = normal(q_out, d)
        p[pre + "self_attn.k_proj.weight"] = normal(kv_out, d)
        p[pre + "self_attn.v_proj.weight"] = normal(kv_out, d)
        if spec.qkv_bias:
            p[pre + "self_attn.q_proj.bias"] = bias(q_out)
            p[pre + "self_attn.k_proj.bias"] = bias(kv_out)
            p[pre + "self_attn.v_proj.bias"] = bias(kv_out)
        p[pre + "self_attn.o_proj.weight"] = normal(d, q_out)
        p[pre + "post_attention_layernorm.weight"] = norm_weight()
        p[pre + "mlp.gate_proj.weight"] = normal(ff, d)
        p[pre + "mlp.up_proj.weight"] = normal(ff, d)
        p[pre + "mlp.down_proj.weight"] = normal(d, ff)
    p["model.norm.weight"] = norm_weight()
    if not spec.tied:
        p["lm_head.weight"] = normal(v, d)
    return {k: t.contiguous() for k, t in p.items()}


# ----------------------------------------------------------------------------------------------
# Implementation 1: batched float32, the shape HF's code has. `mistakes` switches on deliberate
# errors for the sensitivity check only; the fixtures are always produced with none.


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, mistakes: frozenset) -> torch.Tensor:
    xf = x.float()
    var = xf.pow(2).mean(-1, keepdim=True)  # (B, T, 1)
    y = (xf * torch.rsqrt(var + eps)).to(x.dtype)
    return y if "norm_weight_ignored" in mistakes else weight * y


def rope_cos_sin(pos: torch.Tensor, head_dim: int, theta: float, mistakes: frozenset) -> tuple[torch.Tensor, torch.Tensor]:
    # pos: (T,) int64 absolute positions
    if "rope_theta_10000" in mistakes:
        theta = 10000.0 if theta != 10000.0 else 1000000.0
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))  # (hd/2,)
    freqs = pos.float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, hd)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mistakes: frozenset) -> torch.Tensor:
    # x: (B, H, T, hd); cos/sin: (T, hd)
    if "rope_missing" in mistakes:
        return x
    if "rope_interleaved" in mistakes:
        # GPT-J / Meta-checkpoint convention: rotate pairs (0,1), (2,3), ... instead of (i, i + hd/2).
        half = x.shape[-1] // 2
        xe, xo = x[..., 0::2], x[..., 1::2]
        c, s = cos[:, :half], sin[:, :half]
        return torch.stack([xe * c - xo * s, xo * c + xe * s], dim=-1).flatten(-2)
    return x * cos + rotate_half(x) * sin


def repeat_kv(x: torch.Tensor, n_rep: int, mistakes: frozenset) -> torch.Tensor:
    # (B, KV, T, hd) -> (B, KV * n_rep, T, hd): query head h uses kv head h // n_rep.
    if n_rep == 1:
        return x
    if "gqa_tiled" in mistakes:
        return x.repeat(1, n_rep, 1, 1)  # wrong: query head h would use kv head h % KV
    b, kv, t, hd = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, hd).reshape(b, kv * n_rep, t, hd)


def attention(x: torch.Tensor, p: dict, pre: str, spec: Spec, cos, sin, mistakes: frozenset) -> torch.Tensor:
    b, t, _ = x.shape
    nh, nkv, hd = spec.n_heads, spec.n_kv_heads, spec.head_dim
    bias = (lambda n: None) if "qkv_bias_dropped" in mistakes else (lambda n: p.get(pre + n))
    q = F.linear(x, p[pre + "q_proj.weight"], bias("q_proj.bias"))  # (B, T, nh*hd)
    k = F.linear(x, p[pre + "k_proj.weight"], bias("k_proj.bias"))  # (B, T, nkv*hd)
    v = F.linear(x, p[pre + "v_proj.weight"], bias("v_proj.bias"))  # (B, T, nkv*hd)
    q = q.view(b, t, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
    k = k.view(b, t, nkv, hd).transpose(1, 2)  # (B, nkv, T, hd)
    v = v.view(b, t, nkv, hd).transpose(1, 2)  # (B, nkv, T, hd)
    q, k = apply_rope(q, cos, sin, mistakes), apply_rope(k, cos, sin, mistakes)
    k, v = repeat_kv(k, nh // nkv, mistakes), repeat_kv(v, nh // nkv, mistakes)  # (B, nh, T, hd)
    scale = 1.0 / hd if "scale_by_head_dim" in mistakes else 1.0 / math.sqrt(hd)
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, nh, T, T)
    if "no_causal_mask" not in mistakes:
        future = torch.ones(t, t, dtype=torch.bool).triu(1)  # (T, T): True where key is after query
        scores = scores.masked_fill(future, float("-inf"))
    att = torch.softmax(scores.float(), dim=-1).to(q.dtype)  # (B, nh, T, T)
    y = (att @ v).transpose(1, 2).reshape(b, t, nh * hd)  # (B, T, nh*hd)
    return F.linear(y, p[pre + "o_proj.weight"])  # (B, T, D)


def mlp(x: torch.Tensor, p: dict, pre: str, mistakes: frozenset) -> torch.Tensor:
    gate = F.linear(x, p[pre + "gate_proj.weight"])  # (B, T, FF)
    up = F.linear(x, p[pre + "up_proj.weight"])  # (B, T, FF)
    if "gate_up_swapped" in mistakes:
        gate, up = up, gate
    act = F.gelu(gate) if "gelu_not_silu" in mistakes else F.silu(gate)
    return F.linear(act * up, p[pre + "down_proj.weight"])  # (B, T, D)


def forward(spec: Spec, p: dict, ids: torch.Tensor, mistakes: frozenset = frozenset()):
    """Returns (logits (B, T, V) float32, hidden after layer 0 (B, T, D) float32)."""
    c = spec.config
    eps = c["rms_norm_eps"] * (10 if "eps_times_10" in mistakes else 1)
    b, t = ids.shape
    cos, sin = rope_cos_sin(torch.arange(t), spec.head_dim, c["rope_theta"], mistakes)
    h = F.embedding(ids, p["model.embed_tokens.weight"])  # (B, T, D)
    after_layer0 = None
    for i in range(c["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        a_in = rms_norm(h, p[pre + "input_layernorm.weight"], eps, mistakes)
        h = h + attention(a_in, p, pre + "self_attn.", spec, cos, sin, mistakes)
        m_in = rms_norm(h, p[pre + "post_attention_layernorm.weight"], eps, mistakes)
        h = h + mlp(m_in, p, pre + "mlp.", mistakes)
        if i == 0:
            after_layer0 = h
    h = rms_norm(h, p["model.norm.weight"], eps, mistakes)  # (B, T, D)
    head = p["model.embed_tokens.weight"] if spec.tied else p["lm_head.weight"]
    return F.linear(h, head), after_layer0  # (B, T, V), (B, T, D)


# ----------------------------------------------------------------------------------------------
# Implementation 2: float64, one sequence / head / query position at a time. Written differently
# on purpose (pair rotation instead of rotate_half, kv head by index, softmax by hand over the
# visible prefix instead of a mask, explicit sigmoid for SiLU) so a shared mistake is unlikely.


def forward_loops(spec: Spec, params: dict, ids: torch.Tensor):
    c = spec.config
    p = {k: v.double() for k, v in params.items()}
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    nh, nkv, hd = spec.n_heads, spec.n_kv_heads, spec.head_dim
    group, half = nh // nkv, hd // 2
    head = p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"]

    def norm(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def rope(x, pos):  # x: (hd,) at position pos
        out = torch.empty_like(x)
        for j in range(half):
            angle = pos * theta ** (-2.0 * j / hd)
            a, b = x[j], x[j + half]
            out[j] = a * math.cos(angle) - b * math.sin(angle)
            out[j + half] = b * math.cos(angle) + a * math.sin(angle)
        return out

    logits_rows, layer0_rows = [], []
    for row in ids.tolist():
        t = len(row)
        h = torch.stack([p["model.embed_tokens.weight"][tok] for tok in row])  # (T, D)
        for i in range(c["num_hidden_layers"]):
            pre = f"model.layers.{i}."

            def proj(x, name):
                y = x @ p[pre + name + ".weight"].T
                return y + p[pre + name + ".bias"] if pre + name + ".bias" in p else y

            x = norm(h, p[pre + "input_layernorm.weight"])
            q = proj(x, "self_attn.q_proj").view(t, nh, hd)
            k = proj(x, "self_attn.k_proj").view(t, nkv, hd)
            v = proj(x, "self_attn.v_proj").view(t, nkv, hd)
            q = torch.stack([torch.stack([rope(q[s, hh], s) for hh in range(nh)]) for s in range(t)])
            k = torch.stack([torch.stack([rope(k[s, hh], s) for hh in range(nkv)]) for s in range(t)])
            y = torch.zeros(t, nh, hd, dtype=torch.float64)
            for hh in range(nh):
                kv = hh // group
                for s in range(t):
                    sc = torch.tensor([float(q[s, hh] @ k[u, kv]) / math.sqrt(hd) for u in range(s + 1)],
                                      dtype=torch.float64)
                    w = torch.exp(sc - sc.max())
                    w = w / w.sum()
                    y[s, hh] = sum(w[u] * v[u, kv] for u in range(s + 1))
            h = h + y.reshape(t, nh * hd) @ p[pre + "self_attn.o_proj.weight"].T
            x = norm(h, p[pre + "post_attention_layernorm.weight"])
            g = x @ p[pre + "mlp.gate_proj.weight"].T
            u = x @ p[pre + "mlp.up_proj.weight"].T
            h = h + (g * (1.0 / (1.0 + torch.exp(-g))) * u) @ p[pre + "mlp.down_proj.weight"].T
            if i == 0:
                layer0_rows.append(h.clone())
        logits_rows.append(norm(h, p["model.norm.weight"]) @ head.T)
    return torch.stack(logits_rows), torch.stack(layer0_rows)


# ----------------------------------------------------------------------------------------------
# Greedy decoding with the full (uncached) forward at every step.


def greedy(spec: Spec, p: dict, prompt: torch.Tensor, steps: int):
    """Returns (new ids (1, steps) int64, last-position logits per step (steps, V), top1-top2 gaps)."""
    seq = prompt.clone()
    new_ids, step_logits, gaps = [], [], []
    for _ in range(steps):
        logits, _ = forward(spec, p, seq)
        last = logits[0, -1]  # (V,)
        top2 = torch.topk(last, 2).values
        gaps.append(float(top2[0] - top2[1]))
        nxt = int(torch.argmax(last))
        new_ids.append(nxt)
        step_logits.append(last)
        seq = torch.cat([seq, torch.tensor([[nxt]], dtype=torch.int64)], dim=1)
    return torch.tensor([new_ids], dtype=torch.int64), torch.stack(step_logits), gaps


# ----------------------------------------------------------------------------------------------
# Implementation 3: KV-cached decoding (prefill the prompt, then one token at a time), used only to
# check that greedy_step_logits can tell a correct cache from the usual cache mistakes.


def cached_runner(spec: Spec, p: dict, mistakes: frozenset):
    """Returns run(chunk (1, T) int64, start position) -> logits (1, T, V), keeping a per-layer KV cache."""
    c = spec.config
    eps, nh, nkv, hd = c["rms_norm_eps"], spec.n_heads, spec.n_kv_heads, spec.head_dim
    head = p["model.embed_tokens.weight"] if spec.tied else p["lm_head.weight"]
    cache: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * c["num_hidden_layers"]
    none = frozenset()

    def run(chunk: torch.Tensor, start: int) -> torch.Tensor:  # chunk: (1, T) -> logits (1, T, V)
        t = chunk.shape[1]
        first = 0 if "cache_position_reset" in mistakes and start > 0 else start
        cos, sin = rope_cos_sin(torch.arange(first, first + t), hd, c["rope_theta"], none)
        h = F.embedding(chunk, p["model.embed_tokens.weight"])  # (1, T, D)
        for i in range(c["num_hidden_layers"]):
            pre = f"model.layers.{i}."
            a = rms_norm(h, p[pre + "input_layernorm.weight"], eps, none)
            q = F.linear(a, p[pre + "self_attn.q_proj.weight"], p.get(pre + "self_attn.q_proj.bias"))
            k = F.linear(a, p[pre + "self_attn.k_proj.weight"], p.get(pre + "self_attn.k_proj.bias"))
            v = F.linear(a, p[pre + "self_attn.v_proj.weight"], p.get(pre + "self_attn.v_proj.bias"))
            q = apply_rope(q.view(1, t, nh, hd).transpose(1, 2), cos, sin, none)  # (1, nh, T, hd)
            k = apply_rope(k.view(1, t, nkv, hd).transpose(1, 2), cos, sin, none)  # (1, nkv, T, hd)
            v = v.view(1, t, nkv, hd).transpose(1, 2)  # (1, nkv, T, hd)
            if cache[i] is not None:
                k_all = torch.cat([cache[i][0], k], dim=2)  # (1, nkv, L, hd)
                v_all = torch.cat([cache[i][1], v], dim=2)
            else:
                k_all, v_all = k, v
            if not ("cache_not_appended" in mistakes and start > 0):
                cache[i] = (k_all, v_all)
            kr, vr = repeat_kv(k_all, nh // nkv, none), repeat_kv(v_all, nh // nkv, none)
            scores = (q @ kr.transpose(-2, -1)) / math.sqrt(hd)  # (1, nh, T, L)
            l_len = kr.shape[2]
            # Query j sits at absolute position start + j and may see keys 0 .. start + j (bottom-right
            # aligned). The mistake aligns it top-left, which is what a causal flag does for T < L.
            offset = 0 if "cache_causal_top_left" in mistakes else l_len - t
            future = torch.ones(t, l_len, dtype=torch.bool).triu(1 + offset)
            scores = scores.masked_fill(future, float("-inf"))
            y = (torch.softmax(scores, dim=-1) @ vr).transpose(1, 2).reshape(1, t, nh * hd)
            h = h + F.linear(y, p[pre + "self_attn.o_proj.weight"])
            h = h + mlp(rms_norm(h, p[pre + "post_attention_layernorm.weight"], eps, none), p, pre + "mlp.", none)
        return F.linear(rms_norm(h, p["model.norm.weight"], eps, none), head)

    return run


def cached_step_logits(spec: Spec, p: dict, prompt: torch.Tensor, new_ids: torch.Tensor,
                       mistakes: frozenset = frozenset()) -> torch.Tensor:
    """Prefills the prompt, then feeds the reference greedy ids one at a time; last-position logits (steps, V)."""
    run = cached_runner(spec, p, mistakes)
    out = [run(prompt, 0)[0, -1]]
    pos = prompt.shape[1]
    for j in range(new_ids.shape[1] - 1):
        out.append(run(new_ids[:, j : j + 1], pos)[0, -1])
        pos += 1
    return torch.stack(out)  # (steps, V)


CACHE_MISTAKES = ["cache_position_reset", "cache_not_appended", "cache_causal_top_left"]


# ----------------------------------------------------------------------------------------------
# Safetensors, written and read by hand (layout: u64 LE header length, JSON header, raw LE data).

_DTYPES = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}
_NP_BY_CODE = {code: np_dtype for code, np_dtype in _DTYPES.values()}


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    header: dict = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        code, np_dtype = _DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # data then starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in chunks:
            f.write(data)


def read_safetensors(path: str) -> tuple[dict[str, torch.Tensor], dict]:
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = blob[8 + n :]
    out, end = {}, 0
    for name, info in header.items():
        start, stop = info["data_offsets"]
        arr = np.frombuffer(data[start:stop], dtype=_NP_BY_CODE[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
        end = max(end, stop)
    assert end == len(data), f"{path}: {len(data) - end} trailing bytes"
    return out, meta


# ----------------------------------------------------------------------------------------------


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def check(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"SELF-CHECK FAILED: {message}")


MISTAKES = [
    "rope_interleaved",
    "rope_missing",
    "rope_theta_10000",
    "no_causal_mask",
    "gqa_tiled",
    "scale_by_head_dim",
    "norm_weight_ignored",
    "eps_times_10",
    "qkv_bias_dropped",
    "gate_up_swapped",
    "gelu_not_silu",
]


def build(spec: Spec, out_root: str) -> dict:
    torch.manual_seed(spec.seed)  # nothing below draws from the global RNG; set for good measure
    p = init_params(spec)
    ids = torch.tensor(INPUT_IDS, dtype=torch.int64)
    prompt = torch.tensor(GREEDY_PROMPT, dtype=torch.int64)
    v = spec.config["vocab_size"]
    check(int(ids.max()) < v and int(prompt.max()) < v, "input ids must be < vocab_size")

    with torch.no_grad():
        logits, layer0 = forward(spec, p, ids)
        greedy_ids, step_logits, gaps = greedy(spec, p, prompt, GREEDY_NEW_TOKENS)

        # 1. Independent float64 loop implementation.
        alt_logits, alt_layer0 = forward_loops(spec, p, ids)
        err_logits, err_layer0 = max_abs(logits, alt_logits), max_abs(layer0, alt_layer0)
        check(err_logits < SELF_CHECK_LIMIT, f"{spec.folder}: logits vs loop impl {err_logits:.3g}")
        check(err_layer0 < SELF_CHECK_LIMIT, f"{spec.folder}: hidden_after_layer0 vs loop impl {err_layer0:.3g}")

        # 2. Causality: step i's logits are position (prompt_len - 1 + i) of one forward over the whole run.
        full = torch.cat([prompt, greedy_ids], dim=1)[:, :-1]  # (1, 5 + 19)
        pl = prompt.shape[1]
        full_logits, _ = forward(spec, p, full)
        err_causal = max_abs(full_logits[0, pl - 1 :], step_logits)
        check(err_causal < SELF_CHECK_LIMIT, f"{spec.folder}: greedy steps vs one forward {err_causal:.3g}")
        alt_full, _ = forward_loops(spec, p, full)
        err_greedy_alt = max_abs(alt_full[0, pl - 1 :], step_logits)
        check(err_greedy_alt < SELF_CHECK_LIMIT, f"{spec.folder}: greedy steps vs loop impl {err_greedy_alt:.3g}")
        check(torch.equal(alt_full[0, pl - 1 :].argmax(-1), greedy_ids[0]), f"{spec.folder}: loop impl argmax differs")

        # 2b. A KV-cached decoder reproduces the step logits, and the usual cache mistakes do not.
        err_cached = max_abs(cached_step_logits(spec, p, prompt, greedy_ids), step_logits)
        check(err_cached < SELF_CHECK_LIMIT, f"{spec.folder}: cached decode vs greedy steps {err_cached:.3g}")
        cache_effects = {}
        for m in CACHE_MISTAKES:
            cache_effects[m] = max_abs(cached_step_logits(spec, p, prompt, greedy_ids, frozenset([m])), step_logits)
            check(cache_effects[m] > MISTAKE_MIN_EFFECT,
                  f"{spec.folder}: cache mistake {m} moves step logits only {cache_effects[m]:.3g}")

        # 3. Argmax must be stable under the C# tolerance.
        min_gap = min(gaps)
        check(min_gap > MISTAKE_MIN_EFFECT, f"{spec.folder}: greedy top-1/top-2 gap {min_gap:.3g} too small")

        # 4. Tied == untied with lm_head.weight = embed_tokens.weight.
        if spec.tied:
            untied = Spec(spec.folder, spec.seed, {**spec.config, "tie_word_embeddings": False})
            pu = {**p, "lm_head.weight": p["model.embed_tokens.weight"].clone()}
            check(torch.equal(forward(untied, pu, ids)[0], logits), f"{spec.folder}: tied != untied")
            check(max_abs(forward_loops(untied, pu, ids)[0], alt_logits) == 0.0, f"{spec.folder}: loop tied != untied")

        # 5. Every plausible mistake must be visible at 10x the tolerance.
        effects = {}
        for m in MISTAKES:
            if m == "gqa_tiled" and spec.n_kv_heads in (1, spec.n_heads):
                continue  # mapping cannot matter with one kv head or none shared
            if m == "qkv_bias_dropped" and not spec.qkv_bias:
                continue
            effects[m] = max_abs(forward(spec, p, ids, frozenset([m]))[0], logits)
            check(effects[m] > MISTAKE_MIN_EFFECT, f"{spec.folder}: mistake {m} moves logits only {effects[m]:.3g}")

    folder = os.path.join(out_root, spec.folder)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(spec.config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "model.safetensors"), p, {"format": "pt"})
    ref = {
        "input_ids": ids,
        "logits": logits,
        "hidden_after_layer0": layer0,
        "greedy_prompt": prompt,
        "greedy_ids": greedy_ids,
        "greedy_step_logits": step_logits,
    }
    meta = {
        "format": "pt",
        "generator": "tests/Tailor.Tests/Fixtures/llama/make_llama_fixtures.py",
        "torch": torch.__version__,
        "seed": str(spec.seed),
    }
    write_safetensors(os.path.join(folder, "reference.safetensors"), ref, meta)

    # 6. Read both files back with the independent parser.
    for fname, expected in (("model.safetensors", p), ("reference.safetensors", ref)):
        got, _ = read_safetensors(os.path.join(folder, fname))
        check(sorted(got) == sorted(expected), f"{spec.folder}/{fname}: names differ on read-back")
        for k in expected:
            check(got[k].dtype == expected[k].dtype and torch.equal(got[k], expected[k]),
                  f"{spec.folder}/{fname}: {k} differs on read-back")

    return {
        "folder": spec.folder,
        "seed": spec.seed,
        "params": sum(t.numel() for t in p.values()),
        "logits_abs_max": float(logits.abs().max()),
        "err_logits_vs_loops": err_logits,
        "err_layer0_vs_loops": err_layer0,
        "err_greedy_vs_one_forward": err_causal,
        "err_greedy_vs_loops": err_greedy_alt,
        "greedy_min_top_gap": min_gap,
        "greedy_ids": greedy_ids[0].tolist(),
        "err_cached_vs_greedy": err_cached,
        "mistake_effects": effects,
        "cache_mistake_effects": cache_effects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder to write tiny-llama/ and tiny-qwen2/ into (default: beside this script)")
    args = parser.parse_args()

    torch.set_num_threads(1)  # one thread: same reduction order on every run
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    for spec in (LLAMA, QWEN2):
        r = build(spec, args.out)
        print(f"\n{r['folder']}: seed {r['seed']}, {r['params']} parameters, max |logit| {r['logits_abs_max']:.4f}")
        print(f"  logits vs float64 loops       {r['err_logits_vs_loops']:.3e}")
        print(f"  layer0 vs float64 loops       {r['err_layer0_vs_loops']:.3e}")
        print(f"  greedy steps vs one forward   {r['err_greedy_vs_one_forward']:.3e}")
        print(f"  greedy steps vs float64 loops {r['err_greedy_vs_loops']:.3e}")
        print(f"  cached decode vs greedy steps {r['err_cached_vs_greedy']:.3e}")
        print(f"  greedy min top-1/top-2 gap    {r['greedy_min_top_gap']:.3e}")
        print(f"  greedy ids {r['greedy_ids']}")
        for m, e in r["mistake_effects"].items():
            print(f"  mistake {m:<22} max |d logits| {e:.3e}")
        for m, e in r["cache_mistake_effects"].items():
            print(f"  mistake {m:<22} max |d step logits| {e:.3e}")
    print("\nall self-checks passed")


if __name__ == "__main__":
    main()
