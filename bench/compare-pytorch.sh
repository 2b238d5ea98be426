#!/usr/bin/env bash
# Tailor vs Debian's PyTorch (python3-torch 1.13 + OpenBLAS) training tokens/s on the same model shapes, batch, sequence
# and optimizer, measured in one run with the two sides interleaved ROUNDS times; prints medians and the ratio.
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
"$root/tailor" bench --help >/dev/null   # build once, outside the timed rounds
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: tailor" >&2
  "$root/tailor" bench --only train --threads "$threads" --json 2>/dev/null > "$out/tailor-$r.json"
  echo "round $r/$rounds: pytorch" >&2
  # The machine image sets OPENBLAS_CORETYPE; unset, OpenBLAS picks the kernel for this CPU.
  env -u OPENBLAS_CORETYPE /usr/bin/python3 "$root/bench/pytorch/train_llama.py" small,base "$threads" > "$out/pytorch-$r.jsonl"
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
t, p = {}, {}
for r in range(1, rounds + 1):
    for row in json.load(open(f"{out}/tailor-{r}.json"))["Training"]:
        if row["Precision"] == "fp32":
            t.setdefault(row["Preset"], []).append(row["TokensPerSecond"])
    for line in open(f"{out}/pytorch-{r}.jsonl"):
        row = json.loads(line)
        p.setdefault(row["preset"], []).append(row["tokens_per_s"])
print(f"{'shape':6} {'tailor tok/s':>13} {'pytorch tok/s':>14} {'ratio':>6}   (fp32, batch 16 x 256, AdamW; median of {rounds} interleaved rounds)")
for shape in ("small", "base"):
    a, b = statistics.median(t[shape]), statistics.median(p[shape])
    print(f"{shape:6} {a:13.0f} {b:14.0f} {a / b:6.2f}")
PY
