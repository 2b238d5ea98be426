#!/usr/bin/env bash
# Pre-trains tailor-base-small from scratch with its shipped recipe and checks that the final validation loss is within
# 2% of the one in the shipped model card (about 40 minutes on a 2-core machine).
# Usage: scripts/reproduce-small.sh [OUTPUT]   (default runs/reproduce-small; an existing folder is refused, not reused)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
output="${1:-runs/reproduce-small}"
[ -e "$output" ] && { echo "$output exists: choose another folder (or delete it) for a run from scratch." >&2; exit 1; }
card="models/tailor-base-small/README.md"
shipped=$(sed -n 's/^| final validation loss | \([0-9.]*\) .*/\1/p' "$card")
[ -n "$shipped" ] || { echo "$card: no '| final validation loss |' row to compare with." >&2; exit 1; }
./tailor pretrain --config recipes/pretrain-small.yaml --output "$output"
got=$(grep '"val_loss"' "$output/metrics.jsonl" | tail -1 | sed 's/.*"val_loss":\([0-9.eE+-]*\).*/\1/')
awk -v got="$got" -v want="$shipped" 'BEGIN {
  d = (got - want) / want * 100
  printf "validation loss %.4f, shipped %.4f: %+.2f%% (limit 2%%)\n", got, want, d
  exit (d < -2 || d > 2) ? 1 : 0 }'
