#!/usr/bin/env python3
"""Training-step tokens/s of the same Llama-style model in PyTorch, for the Tailor/PyTorch ratio (bench/compare-pytorch.sh).

Same shapes and step as `tailor bench`: RMSNorm, rotary embeddings (rotate-half), SwiGLU, causal attention, tied
embeddings, no biases, N(0, 0.02) init; batch 16 x 256 tokens; AdamW (lr 3e-4, wd 0.1 on matrices, betas 0.9/0.95);
gradient clipping at 1.0; zero_grad(set_to_none). Debian's torch 1.13 has no scaled_dot_product_attention, so attention
is the explicit matmul/mask/softmax/matmul form. Precision fp32, or bf16 autocast (torch.autocast("cpu", bfloat16):
matmuls in bf16, weights and optimizer in fp32, as Tailor's precision bf16). Prints one JSON line per shape.
Usage: train_llama.py SHAPES [THREADS] [fp32|bf16]
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {  # vocab, d, layers, heads, ff — Tailor's presets
    "small": (8192, 256, 6, 8, 704),
    "base": (8192, 384, 8, 6, 1024),
}


class Block(torch.nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.q = torch.nn.Linear(d, d, bias=False)
        self.k = torch.nn.Linear(d, d, bias=False)
        self.v = torch.nn.Linear(d, d, bias=False)
        self.o = torch.nn.Linear(d, d, bias=False)
        self.gate = torch.nn.Linear(d, ff, bias=False)
        self.up = torch.nn.Linear(d, ff, bias=False)
        self.down = torch.nn.Linear(ff, d, bias=False)
        self.n1 = torch.nn.Parameter(torch.ones(d))
        self.n2 = torch.nn.Parameter(torch.ones(d))

    @staticmethod
    def norm(x, w, eps=1e-5):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    @staticmethod
    def rope(x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.norm(x, self.n1)
        q = self.rope(self.q(h).view(b, t, self.heads, self.hd).transpose(1, 2), cos, sin)
        k = self.rope(self.k(h).view(b, t, self.heads, self.hd).transpose(1, 2), cos, sin)
        v = self.v(h).view(b, t, self.heads, self.hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(y)
        h = self.norm(x, self.n2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, ff, seq):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList([Block(d, heads, ff) for _ in range(layers)])
        self.norm = torch.nn.Parameter(torch.ones(d))
        hd = d // heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.outer(torch.arange(seq, dtype=torch.float64), inv)
        ang = torch.cat([ang, ang], dim=-1)
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        self.register_buffer("mask", torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        x = Block.norm(x, self.norm)
        return F.linear(x, self.embed.weight)


def measure(shape, batch=16, seq=256, steps=4, warmup=1, precision="fp32"):
    vocab, d, layers, heads, ff = SHAPES[shape]
    torch.manual_seed(0)
    model = Llama(vocab, d, layers, heads, ff, seq)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95))
    ids = torch.randint(0, vocab, (batch, seq + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - start
    return {"impl": "pytorch", "torch": torch.__version__, "preset": shape, "batch": batch, "sequence": seq,
            "precision": precision, "tokens_per_s": batch * seq * steps / elapsed, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    shapes = sys.argv[1].split(",") if len(sys.argv) > 1 else ["small", "base"]
    precision = sys.argv[3] if len(sys.argv) > 3 else "fp32"
    if precision not in ("fp32", "bf16"):
        sys.exit(f"precision {precision}: use fp32 or bf16")
    for s in shapes:
        print(json.dumps(measure(s, steps=6 if s == "small" else 3, precision=precision)), flush=True)
