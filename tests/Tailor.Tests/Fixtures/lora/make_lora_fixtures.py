#!/usr/bin/python3
"""LoRA reference fixtures: PEFT-format adapters for the tiny llama fixtures, and the logits they must produce.

For each of tiny-llama and tiny-qwen2 (../llama, weights read from their model.safetensors) this writes

  <name>-adapter/adapter_config.json        as PEFT's LoraConfig.save_pretrained writes it (sorted keys, indent 2)
  <name>-adapter/adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in) / .lora_B.weight (out, r)
  <name>-adapter-reference.safetensors      input_ids (the llama fixture's) and logits (B, T, V) of base + adapter

The LoRA math (read in huggingface/peft src/peft/tuners/lora/layer.py and pytorch/torchtune
torchtune/modules/peft/lora.py, written here from scratch):

  y = x W^T + b + scaling * (x A^T) B^T,   scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
  (dropout on the adapter input only in training; the references are eval-mode, so no dropout)

The key names follow PEFT's get_peft_model_state_dict: the live name
base_model.model.<module>.lora_A.default.weight with the adapter name "default" removed.

Unlike PEFT's init, B is drawn non-zero here, or the adapter would change nothing and the test could not fail.

Self-checks before anything is written:
  * the logits of the merged model (W + scaling * B @ A, merged in float64) through the llama fixture's batched
    forward equal the unmerged adapter path (LoRA added at every targeted linear call) to within 1e-5, and
    the float64 loop implementation of the merged model agrees too;
  * plausible LoRA mistakes (adapter ignored, alpha/r vs alpha/sqrt(r) swapped, scaling left out, one target
    module dropped) each move the logits by more than 1e-3, so the C# test can fail;
  * the written files read back identical with the independent parser.

Run (regenerating is only for changing the fixtures on purpose, never to make a test pass):
  env -u OPENBLAS_CORETYPE /usr/bin/python3 tests/Tailor.Tests/Fixtures/lora/make_lora_fixtures.py
"""

from __future__ import annotations

import json
import math
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_DIR = os.path.join(HERE, "..", "llama")
sys.path.insert(0, LLAMA_DIR)
import make_llama_fixtures as mlf  # noqa: E402  (the independent Llama implementation and safetensors I/O)

CSHARP_TOLERANCE = 1e-4
SELF_CHECK_LIMIT = CSHARP_TOLERANCE / 10
MISTAKE_MIN_EFFECT = CSHARP_TOLERANCE * 10
PREFIX = "base_model.model."
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# One adapter per fixture model. target_modules is written in a non-module order, as PEFT dumps its set.
ADAPTERS = [
    {
        "spec": mlf.LLAMA,
        "seed": 2024,
        "r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.05,
        "use_rslora": False,
        "target_modules": ["v_proj", "down_proj", "q_proj"],
        "b_std": 0.05,
    },
    {
        "spec": mlf.QWEN2,
        "seed": 2025,
        "r": 2,
        "lora_alpha": 4,
        "lora_dropout": 0.0,
        "use_rslora": True,
        "target_modules": ["up_proj", "o_proj", "q_proj", "gate_proj", "k_proj", "down_proj", "v_proj"],
        "b_std": 0.05,
    },
]


def module_path(layer: int, name: str) -> str:
    block = "self_attn" if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"model.layers.{layer}.{block}.{name}"


def scaling(a: dict, rslora: bool | None = None) -> float:
    rs = a["use_rslora"] if rslora is None else rslora
    return a["lora_alpha"] / (math.sqrt(a["r"]) if rs else a["r"])


def draw_adapter(a: dict, p: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module path -> (A (r, in), B (out, r)); layer by layer, projections in module order, one generator."""
    g = torch.Generator().manual_seed(a["seed"])
    out = {}
    for i in range(a["spec"].config["num_hidden_layers"]):
        for name in PROJECTIONS:
            if name not in a["target_modules"]:
                continue
            path = module_path(i, name)
            w = p[path + ".weight"]  # (out, in)
            bound = 1.0 / math.sqrt(w.shape[1])  # PEFT's kaiming_uniform_(a=sqrt(5)) bound for A
            A = (torch.rand(a["r"], w.shape[1], generator=g) * 2 - 1) * bound
            B = torch.randn(w.shape[0], a["r"], generator=g) * a["b_std"]
            out[path] = (A.contiguous(), B.contiguous())
    return out


def merged(p: dict, lora: dict, s: float) -> dict:
    q = dict(p)
    for path, (A, B) in lora.items():
        delta = B.double() @ A.double()  # (out, in)
        q[path + ".weight"] = (p[path + ".weight"].double() + s * delta).float().contiguous()
    return q


def unmerged_logits(spec, p: dict, lora: dict, s: float, ids: torch.Tensor) -> torch.Tensor:
    """The batched forward with F.linear replaced by base + adapter for the targeted weights (by identity)."""
    by_weight = {id(p[path + ".weight"]): (A, B) for path, (A, B) in lora.items()}
    real_f = mlf.F

    def linear(x, w, b=None):
        y = real_f.linear(x, w, b)
        if id(w) in by_weight:
            A, B = by_weight[id(w)]
            y = y + s * ((x @ A.T) @ B.T)  # (…, r) -> (…, out)
        return y

    shim = types.SimpleNamespace(**{n: getattr(real_f, n) for n in dir(real_f) if not n.startswith("_")})
    shim.linear = linear
    mlf.F = shim
    try:
        return mlf.forward(spec, p, ids)[0]
    finally:
        mlf.F = real_f


def peft_config(a: dict) -> dict:
    """The fields PEFT's LoraConfig.to_dict() writes for a plain LoRA adapter (a realistic subset)."""
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": a["spec"].folder,
        "bias": "none",
        "corda_config": None,
        "eva_config": None,
        "exclude_modules": None,
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": a["lora_alpha"],
        "lora_bias": False,
        "lora_dropout": a["lora_dropout"],
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": a["r"],
        "rank_pattern": {},
        "revision": None,
        "target_modules": a["target_modules"],
        "task_type": "CAUSAL_LM",
        "trainable_token_indices": None,
        "use_dora": False,
        "use_rslora": a["use_rslora"],
    }


def build(a: dict) -> dict:
    spec = a["spec"]
    base_folder = os.path.join(LLAMA_DIR, spec.folder)
    p, _ = mlf.read_safetensors(os.path.join(base_folder, "model.safetensors"))
    expect = mlf.init_params(spec)
    mlf.check(sorted(p) == sorted(expect) and all(torch.equal(p[k], expect[k]) for k in p),
              f"{spec.folder}: model.safetensors differs from the llama fixture generator")
    ref, _ = mlf.read_safetensors(os.path.join(base_folder, "reference.safetensors"))
    ids = ref["input_ids"]
    lora = draw_adapter(a, p)
    s = scaling(a)

    with torch.no_grad():
        logits = mlf.forward(spec, merged(p, lora, s), ids)[0]
        base_logits = mlf.forward(spec, p, ids)[0]
        mlf.check(max_abs(base_logits, ref["logits"]) == 0.0, f"{spec.folder}: base logits differ from the llama reference")

        err_unmerged = max_abs(unmerged_logits(spec, p, lora, s, ids), logits)
        mlf.check(err_unmerged < SELF_CHECK_LIMIT, f"{spec.folder}: unmerged vs merged {err_unmerged:.3g}")
        err_loops = max_abs(mlf.forward_loops(spec, merged(p, lora, s), ids)[0], logits)
        mlf.check(err_loops < SELF_CHECK_LIMIT, f"{spec.folder}: merged vs float64 loops {err_loops:.3g}")

        first = next(iter(lora))
        dropped = {k: v for k, v in lora.items() if not k.endswith("down_proj")}
        mistakes = {
            "adapter_ignored": base_logits,
            "other_scaling_rule": mlf.forward(spec, merged(p, lora, scaling(a, not a["use_rslora"])), ids)[0],
            "scaling_left_out": mlf.forward(spec, merged(p, lora, 1.0), ids)[0],
            "down_proj_dropped": mlf.forward(spec, merged(p, dropped, s), ids)[0],
            "first_module_dropped": mlf.forward(spec, merged(p, {k: v for k, v in lora.items() if k != first}, s), ids)[0],
        }
        effects = {m: max_abs(v, logits) for m, v in mistakes.items()}
        for m, e in effects.items():
            mlf.check(e > MISTAKE_MIN_EFFECT, f"{spec.folder}: mistake {m} moves logits only {e:.3g}")

    folder = os.path.join(HERE, f"{spec.folder}-adapter")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        f.write(json.dumps(peft_config(a), indent=2, sort_keys=True))
    tensors = {}
    for path, (A, B) in lora.items():
        tensors[f"{PREFIX}{path}.lora_A.weight"] = A
        tensors[f"{PREFIX}{path}.lora_B.weight"] = B
    mlf.write_safetensors(os.path.join(folder, "adapter_model.safetensors"), tensors, {"format": "pt"})
    reference = {"input_ids": ids, "logits": logits}
    meta = {
        "format": "pt",
        "generator": "tests/Tailor.Tests/Fixtures/lora/make_lora_fixtures.py",
        "torch": torch.__version__,
        "seed": str(a["seed"]),
    }
    ref_path = os.path.join(HERE, f"{spec.folder}-adapter-reference.safetensors")
    mlf.write_safetensors(ref_path, reference, meta)

    for path, expected in ((os.path.join(folder, "adapter_model.safetensors"), tensors), (ref_path, reference)):
        got, _ = mlf.read_safetensors(path)
        mlf.check(sorted(got) == sorted(expected), f"{path}: names differ on read-back")
        for k in expected:
            mlf.check(torch.equal(got[k], expected[k]), f"{path}: {k} differs on read-back")

    return {
        "name": spec.folder,
        "modules": len(lora),
        "adapter_params": sum(A.numel() + B.numel() for A, B in lora.values()),
        "scaling": s,
        "lora_effect": effects["adapter_ignored"],
        "err_unmerged": err_unmerged,
        "err_loops": err_loops,
        "effects": effects,
    }


def max_abs(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x.double() - y.double()).abs().max())


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}")
    for a in ADAPTERS:
        r = build(a)
        print(f"\n{r['name']}-adapter: {r['modules']} modules, {r['adapter_params']} adapter parameters, scaling {r['scaling']:.6f}")
        print(f"  unmerged vs merged            {r['err_unmerged']:.3e}")
        print(f"  merged vs float64 loops       {r['err_loops']:.3e}")
        for m, e in r["effects"].items():
            print(f"  mistake {m:<22} max |d logits| {e:.3e}")
    print("\nall self-checks passed")


if __name__ == "__main__":
    main()
