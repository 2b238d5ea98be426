#!/usr/bin/env bash
# Starts the long pre-training run of tailor-multi (recipes/pretrain-multi.yaml) in the background, or resumes it
# (--resume) when its run folder already has a checkpoint. One command for every session:
#
#   scripts/pretrain-multi.sh            start or resume; returns at once (the run survives this shell)
#   scripts/pretrain-multi.sh --max-steps 8000
#                                        the same, with option overrides that are kept for every later resume
#                                        (pretrain-multi.args); e.g. end a wsd run sooner, still with a full decay:
#                                        stop, then resume with --max-steps >= current step + decay_steps
#   scripts/pretrain-multi.sh status     is it running, last progress line, last validation
#   scripts/pretrain-multi.sh stop       SIGTERM: it finishes the step, writes a checkpoint and exits (a background
#                                        process ignores Ctrl-C's SIGINT); the next start resumes from there
#   scripts/pretrain-multi.sh --recipe recipes/pretrain-multi-continue.yaml [status|stop|...]
#                                        another recipe on the same corpus: its run folder, log and kept arguments are
#                                        named after the file (pretrain-multi-continue/, ...). A recipe with init_from
#                                        (continued pre-training) starts from a copy of that model folder, made once
#                                        under $TAILOR_RUNS like the corpus, and uses the model's own tokenizer
#
# Everything the run reads or writes lives outside the repository, under $TAILOR_RUNS (default /root/tailor-runs),
# so rebuilding or switching the checkout never changes it mid-run:
#   cli-<commit>/             the CLI, copied once from artifacts/cli; pretrain-multi.cli names the copy in use,
#                             and a resume keeps using it (the same binary for the whole run)
#   data-multi/               train.jsonl, valid.jsonl and tokenizer/, copied once from data/pretrain-multi
#                             (build it first with scripts/data/build-all.sh if it is missing)
#   pretrain-multi/           the run folder: checkpoint/, final/, metrics.jsonl, tokens/
#   pretrain-multi.log        its output (appended by every start), pretrain-multi.pid its process id
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${TAILOR_RUNS:-/root/tailor-runs}"
recipe=recipes/pretrain-multi.yaml
if [ "${1:-}" = --recipe ]; then recipe="${2:?--recipe needs a file}"; shift 2; fi
[ -f "$recipe" ] || { echo "$recipe: no such recipe" >&2; exit 2; }
name=$(basename "$recipe" .yaml)
out="$runs/$name" log="$runs/$name.log" pidfile="$runs/$name.pid" clifile="$runs/$name.cli" data="$runs/data-multi"
argsfile="$runs/$name.args"
mkdir -p "$runs"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "${1:-}" = status ]; then
  if running; then echo "$name: running, pid $(cat "$pidfile")"; else echo "$name: not running"; fi
  [ -f "$log" ] && { tr '\r' '\n' < "$log" | grep -E 'pretrain .*[0-9]+/[0-9]+ ' | tail -1; grep -E 'step [0-9]+: validation loss' "$log" | tail -1; } || true
  exit 0
fi
if [ "${1:-}" = stop ]; then
  running || { echo "$name: not running"; exit 0; }
  pid=$(cat "$pidfile"); kill -TERM "$pid"
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || { echo "$name: stopped (checkpoint written)"; exit 0; }; sleep 1; done
  echo "$name: pid $pid still running after 120 s" >&2; exit 1
fi
case "${1:-}" in ''|--*) ;; *) echo "usage: scripts/pretrain-multi.sh [--recipe FILE] [status|stop|--KEY VALUE ...]" >&2; exit 2 ;; esac
if running; then echo "$name is already running (pid $(cat "$pidfile")); see $log" >&2; exit 1; fi

# The CLI: the copy this run started with, else a fresh copy of this checkout's build.
if [ -f "$clifile" ] && [ -f "$(cat "$clifile")/Tailor.Cli.dll" ]; then
  cli="$(cat "$clifile")"
else
  ./tailor --help >/dev/null            # builds artifacts/cli when a source changed
  cli="$runs/cli-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src build || echo -dirty)"
  [ -d "$cli" ] || cp -r artifacts/cli "$cli"
  echo "$cli" > "$clifile"
fi

# The corpus and tokenizer: copied once; a resume must read the very same files (the token cache is keyed by them).
if [ ! -f "$data/train.jsonl" ]; then
  [ -f data/pretrain-multi/train.jsonl ] || { echo "data/pretrain-multi/train.jsonl is missing: build it with scripts/data/build-all.sh" >&2; exit 1; }
  want=$(python3 -c 'import json; m=json.load(open("data/pretrain-multi/MANIFEST.json"));
print(m["outputs"]["data/pretrain-multi/train.jsonl"]["sha256"])')
  [ "$(sha256sum data/pretrain-multi/train.jsonl | cut -d' ' -f1)" = "$want" ] \
    || { echo "data/pretrain-multi/train.jsonl does not match its MANIFEST.json: rebuild it with scripts/data/build-all.sh" >&2; exit 1; }
  mkdir -p "$data.tmp"
  cp data/pretrain-multi/train.jsonl data/pretrain-multi/valid.jsonl data/pretrain-multi/MANIFEST.json "$data.tmp/"
  cp -r data/pretrain-multi/tokenizer "$data.tmp/tokenizer"
  mv "$data.tmp" "$data"
fi

resume=()
[ -d "$out/checkpoint" ] && resume=(--resume true)
# Overrides given now replace the kept ones; without any, the kept ones apply again.
if [ $# -gt 0 ]; then printf '%s\n' "$@" > "$argsfile"; fi
extra=()
[ -f "$argsfile" ] && mapfile -t extra < "$argsfile"
echo "[$(date -u +%FT%TZ)] $name: ${resume[*]:-start} ${extra[*]} with $cli" >> "$log"
# The starting weights of a continued run: copied once, so re-shipping the repository's model never changes them mid-run.
start=(--tokenizer "$data/tokenizer")
init=$(sed -n 's/^init_from: *\([^ #]*\).*/\1/p' "$recipe")
if [ -n "$init" ]; then
  copy="$runs/$name-init"
  if [ ! -f "$copy/model.safetensors" ]; then
    [ -f "$init/model.safetensors" ] || { echo "$recipe: init_from $init has no model.safetensors" >&2; exit 1; }
    rm -rf "$copy.tmp"; cp -r "$init" "$copy.tmp"; mv "$copy.tmp" "$copy"
  fi
  start=(--init-from "$copy")
fi
setsid nohup nice -n 0 dotnet "$cli/Tailor.Cli.dll" pretrain --config "$recipe" \
  --data "$data" "${start[@]}" --output "$out" "${resume[@]}" "${extra[@]}" >> "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo "$name: ${resume[*]:+resumed, }pid $!, log $log (scripts/pretrain-multi.sh status)"
