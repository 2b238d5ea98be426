#!/usr/bin/env bash
# Tailor vs Debian's PyTorch (python3-torch 1.13 + OpenBLAS) training tokens/s on the same model shapes, batch, sequence
# and optimizer, measured in one run with the two sides interleaved ROUNDS times; prints medians and the ratios for
# fp32 (Tailor plain, and with its mkl_avx512 + malloc_tuning options), on CPUs with AVX-512 BF16 bf16 autocast, and
# Tailor's default path (every option on auto, as the recipes train: `tailor bench --default-path`) against PyTorch's
# faster side.
# Usage: bench/compare-pytorch.sh [ROUNDS] [THREADS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"; threads="${2:-2}"
need=()
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || need+=(python3-torch)
# Debian's torch links the reference BLAS by default (about 8 GFLOP/s); OpenBLAS is the fair comparison.
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed" || need+=(libopenblas0-pthread)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "install first: sudo apt-get install -y ${need[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
out="$(mktemp -d)"
bf16=false; grep -qw avx512_bf16 /proc/cpuinfo && bf16=true   # elsewhere both sides would emulate bf16: not worth timing
"$root/tailor" bench --help >/dev/null   # build once, outside the timed rounds
tailor() { "$root/tailor" bench --only train --threads "$threads" --json "$@" 2>/dev/null; }
# The machine image sets OPENBLAS_CORETYPE; unset, OpenBLAS picks the kernel for this CPU.
pytorch() { env -u OPENBLAS_CORETYPE /usr/bin/python3 "$root/bench/pytorch/train_llama.py" small,base "$threads" "$1"; }
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: tailor fp32" >&2;                 tailor --precision fp32 > "$out/tailor-fp32-$r.json"
  echo "round $r/$rounds: pytorch fp32" >&2;                pytorch fp32 > "$out/pytorch-fp32-$r.jsonl"
  echo "round $r/$rounds: tailor fp32 + mkl_avx512 + malloc_tuning" >&2
  tailor --precision fp32 --mkl-avx512 --malloc-tuning > "$out/tailor-fp32-tuned-$r.json"
  if $bf16; then
    echo "round $r/$rounds: tailor bf16" >&2;               tailor --precision bf16 > "$out/tailor-bf16-$r.json"
    echo "round $r/$rounds: pytorch bf16" >&2;              pytorch bf16 > "$out/pytorch-bf16-$r.jsonl"
  fi
  echo "round $r/$rounds: tailor default path" >&2;         tailor --default-path > "$out/tailor-default-$r.json"
done
/usr/bin/python3 - "$out" "$rounds" "$bf16" <<'PY'
import json, statistics, sys
out, rounds, bf16 = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
def tailor(name):
    tps, mfu = {}, {}
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/tailor-{name}-{r}.json"))["Training"]:
            tps.setdefault(row["Preset"], []).append(row["TokensPerSecond"])
            mfu.setdefault(row["Preset"], []).append(row["Mfu"])
    return tps, mfu
def pytorch(precision):
    tps = {}
    for r in range(1, rounds + 1):
        for line in open(f"{out}/pytorch-{precision}-{r}.jsonl"):
            row = json.loads(line)
            tps.setdefault(row["preset"], []).append(row["tokens_per_s"])
    return tps
rows = [("fp32", "plain", "fp32", "fp32"), ("fp32", "mkl_avx512 + malloc_tuning", "fp32-tuned", "fp32")]
if bf16:
    rows.append(("bf16 autocast", "plain", "bf16", "bf16"))
print(f"Tailor vs PyTorch training tokens/s: batch 16 x 256, AdamW, clip 1.0; median of {rounds} interleaved rounds")
print(f"{'shape':6} {'precision':14} {'tailor options':27} {'tailor tok/s':>12} {'MFU':>5} {'pytorch tok/s':>13} {'ratio':>6}")
for shape in ("small", "base"):
    for label, options, name, precision in rows:
        t, m = tailor(name)
        p = pytorch(precision)
        a, b, u = statistics.median(t[shape]), statistics.median(p[shape]), statistics.median(m[shape])
        print(f"{shape:6} {label:14} {options:27} {a:12.0f} {u:5.0%} {b:13.0f} {a / b:6.2f}")
best = "bf16" if bf16 else "fp32"
t, m = tailor("default")
pb = pytorch(best)
path = json.load(open(f"{out}/tailor-default-1.json")).get("TrainingPath") or "?"
print(f"Tailor's default path ({path}) against PyTorch's faster side ({'bf16 autocast' if bf16 else 'fp32'}):")
for shape in ("small", "base"):
    a, b, u = statistics.median(t[shape]), statistics.median(pb[shape]), statistics.median(m[shape])
    print(f"{shape:6} {'default':14} {'auto':27} {a:12.0f} {u:5.0%} {b:13.0f} {a / b:6.2f}")
print("MFU: model FLOPs/s over the matmul peak that Tailor measured in the same process and precision.")
PY
