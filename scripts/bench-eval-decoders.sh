#!/usr/bin/env bash
# scripts/bench-eval-decoders.sh MODEL_DIR [MODEL_DIR ...]
#
# Times `tailor eval --decoder` side by side on the same items with the same threads: for each model, padded (the old
# path), engine, cpu and cpu_serial with the repetition stop off (pure decoding speed; their answers should equal
# padded's), then STOP_DECODER (engine, the default decoder) with the stop on (the default). The order of the decoders rotates each round so that a change in
# the machine's load does not favour one. Prints items/s per task and decoder with the load average around each run,
# how many answers differ from padded's, and what the repetition stop changed (answers cut, ROUGE-L/chrF, off-task).
#
# Environment: TASKS (default summarization,translation-en-de,sentiment), LIMIT (300), BATCH (48, the main job's
# eval_batch), THREADS (2), ROUNDS (1), DECODERS (padded engine cpu cpu_serial), STOP_DECODER (engine; empty = skip),
# OUT (a new folder under /tmp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 MODEL_DIR [MODEL_DIR ...]" >&2; exit 2; }
TASKS="${TASKS:-summarization,translation-en-de,sentiment}"
LIMIT="${LIMIT:-300}"
BATCH="${BATCH:-48}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-1}"
read -r -a DECODERS <<< "${DECODERS:-padded engine cpu cpu_serial}"
STOP_DECODER="${STOP_DECODER-engine}"
OUT="${OUT:-$(mktemp -d /tmp/bench-eval-decoders.XXXXXX)}"
mkdir -p "$OUT"
"$root/tailor" --help > /dev/null   # build once, outside the timings

run() {   # model tag decoder stop round
  local folder="$OUT/$2/$3-stop$4-r$5"
  local before after
  mkdir -p "$OUT/$2"
  before="$(cut -d' ' -f1 /proc/loadavg)"
  "$root/tailor" eval --model "$1" --tasks "$TASKS" --limit "$LIMIT" --loglik false --batch-size "$BATCH" --threads "$THREADS" \
    --decoder "$3" --stop-repetition "$4" --output "$folder" > "$folder.log" 2>&1 || { echo "failed: $folder.log" >&2; tail -5 "$folder.log" >&2; exit 1; }
  after="$(cut -d' ' -f1 /proc/loadavg)"
  echo "$before $after" > "$folder/loadavg"
  echo "$(date -u +%T) $2 $3 stop=$4 round $5: load $before -> $after" >&2
}

for model in "$@"; do
  tag="$(basename "$(cd "$model" && pwd)")"
  for round in $(seq 1 "$ROUNDS"); do
    n=${#DECODERS[@]}
    for i in $(seq 0 $((n - 1))); do
      run "$model" "$tag" "${DECODERS[$(( (i + round - 1) % n ))]}" false "$round"
    done
    [ -z "$STOP_DECODER" ] || run "$model" "$tag" "$STOP_DECODER" true "$round"
  done
done

python3 - "$OUT" <<'EOF'
import json, os, sys, glob, collections
out = sys.argv[1]
def load(folder):
    res = json.load(open(os.path.join(folder, "results.json")))
    preds = [json.loads(l) for l in open(os.path.join(folder, "predictions.jsonl"))]
    load = open(os.path.join(folder, "loadavg")).read().split()
    return res, preds, load
for tag in sorted(os.listdir(out)):
    base = os.path.join(out, tag)
    if not os.path.isdir(base): continue
    runs = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    print(f"\n## {tag}\n")
    print("| decoder | repetition stop | round | load avg before→after | " + " | ".join(f"{t} items/s" for t in os.environ.get("TASKS", "summarization,translation-en-de,sentiment").split(",")) + " | answers ≠ padded |")
    print("|---|---|---|---|" + "---|" * (len(os.environ.get("TASKS", "summarization,translation-en-de,sentiment").split(",")) + 1))
    data = {d: load(os.path.join(base, d)) for d in runs}
    tasks = os.environ.get("TASKS", "summarization,translation-en-de,sentiment").split(",")
    def key(p): return (p["task"], p["id"], p["template"])
    for d in runs:
        res, preds, la = data[d]
        dec, stop, rnd = d.rsplit("-stop", 1)[0], d.rsplit("-stop", 1)[1].split("-r")[0], d.rsplit("-r", 1)[1]
        ips = {t["task"]: t["items_per_second"] for t in res["tasks"]}
        ref = f"padded-stopfalse-r{rnd}"
        diff = "-"
        if ref in data and d != ref:
            refp = {key(p): p["prediction"] for p in data[ref][1]}
            n = sum(1 for p in preds if refp.get(key(p)) != p["prediction"])
            diff = f"{n} of {len(preds)}"
        print(f"| {dec} | {stop} | {rnd} | {la[0]}→{la[1]} | " + " | ".join(f"{ips.get(t, float('nan')):.2f}" for t in tasks) + f" | {diff} |")
    # What the repetition stop changed: the decoder with the stop against the same decoder without it, per task.
    stop_decoder = os.environ.get("STOP_DECODER", "engine")
    for rnd in sorted({d.rsplit('-r', 1)[1] for d in runs}):
        on, off = f"{stop_decoder}-stoptrue-r{rnd}", f"{stop_decoder}-stopfalse-r{rnd}"
        if on not in data or off not in data: continue
        print(f"\nrepetition stop, round {rnd} ({stop_decoder} with it vs without it):\n")
        print("| task | answers cut (finish_reason repetition) | answers changed | tokens/item off→on | metric off→on | off-task off→on | repetition off-task off→on |")
        print("|---|---|---|---|---|---|---|")
        res_on, p_on, _ = data[on]; res_off, p_off, _ = data[off]
        t_on = {t["task"]: t for t in res_on["tasks"]}; t_off = {t["task"]: t for t in res_off["tasks"]}
        offp = {key(p): p for p in p_off}
        for t in tasks:
            items = [p for p in p_on if p["task"] == t]
            cut = sum(1 for p in items if p.get("finish_reason") == "repetition")
            changed = sum(1 for p in items if offp[key(p)]["prediction"] != p["prediction"])
            metric = {"summarization": "rougeL", "sentiment": "accuracy"}.get(t, "chrf")
            a, b = t_off[t], t_on[t]
            print(f"| {t} | {cut} of {len(items)} | {changed} | {a['tokens_per_item']:.1f}→{b['tokens_per_item']:.1f} | {metric} {a['metrics'][metric]:.4f}→{b['metrics'][metric]:.4f} | "
                  f"{a['off_task_rate']:.3f}→{b['off_task_rate']:.3f} | {a['off_task_reasons'].get('repetition', 0):.3f}→{b['off_task_reasons'].get('repetition', 0):.3f} |")
print(f"\nfolders: {out}")
EOF
