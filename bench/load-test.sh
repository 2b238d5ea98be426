#!/usr/bin/env bash
# Load test of `tailor serve`: starts the server on a free loopback port with the shipped small model, runs
# bench/Tailor.LoadTest (32 clients x 50 chat completions by default) and prints its JSON report.
# Usage: bench/load-test.sh [--model DIR] [--max-batch N] [--threads N] [load-test options: --clients --requests --max-tokens --stream]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="$root/models/tailor-base-small"
serve_args=()
load_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --max-batch|--threads|--queue|--dtype) serve_args+=("$1" "$2"); shift 2 ;;
    *) load_args+=("$1"); shift ;;
  esac
done
dotnet build "$root/src/Tailor.Cli" -c Release -v quiet -nologo >/dev/null
dotnet build "$root/bench/Tailor.LoadTest" -c Release -v quiet -nologo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$(mktemp)"
dotnet "$root/src/Tailor.Cli/bin/Release/net10.0/Tailor.Cli.dll" serve --model "$model" --port "$port" "${serve_args[@]}" 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; cat "$log" >&2; rm -f "$log"' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "load-test: the server exited" >&2; exit 1; }
  sleep 0.5
done
echo "load-test: $(nproc) cores; server: ${serve_args[*]:-defaults}; $(curl -s "http://127.0.0.1:$port/health")" >&2
dotnet "$root/bench/Tailor.LoadTest/bin/Release/net10.0/Tailor.LoadTest.dll" --url "http://127.0.0.1:$port" "${load_args[@]}"
