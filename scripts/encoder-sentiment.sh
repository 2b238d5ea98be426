#!/usr/bin/env bash
# Reproduces the encoder measurement of docs/encoders.md: fine-tunes the real all-MiniLM-L6-v2 (converted from its NuGet
# package on first use) on the sentiment task, then scores final/ on sentiment (in-domain test) and sentiment-imdb
# (out-of-domain). Prints accuracy/macro-F1, the wall and CPU time of the fine-tune, the load and the CPU model.
# Extra arguments go to `tailor finetune` (e.g. --lora true, --epochs 3). Usage: scripts/encoder-sentiment.sh [--KEY VALUE ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT_DIR:-runs/encoder-sentiment}"
if [ -e "$out" ]; then echo "$out exists; remove it or set OUT_DIR" >&2; exit 1; fi
./tailor info all-MiniLM-L6-v2 >/dev/null            # build the CLI and convert the model before the clock starts
echo "load before: $(uptime)"
start=$(date +%s)
/usr/bin/time -f "finetune: %e s wall, %U s user + %S s system CPU" ./tailor finetune --model all-MiniLM-L6-v2 --task sentiment --output "$out" "$@"
echo "finetune wall time: $(( $(date +%s) - start )) s"
echo "load after: $(uptime)"
./tailor eval --model "$out/final" --tasks sentiment,sentiment-imdb --output "$out/eval"
python3 - "$out/eval/results.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
for t in run["tasks"]:
    print(f'{t["task"]:16} items {t["items"]:4}  accuracy {t["metrics"]["accuracy"]:.4f}  macro-F1 {t["metrics"]["macro_f1"]:.4f}')
PY
lscpu | grep -E "^(Model name|CPU\(s\))"
