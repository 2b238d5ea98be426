#!/usr/bin/env bash
# Batch-1 decode tokens/s of Tailor (TorchSharp path and CpuDecoder) and llama.cpp (LLamaSharp 0.30.0) on the same
# exported weights, in one run, engines interleaved ROUNDS times; prints medians and the ratio to llama.cpp f32. With
# --processes P, P such runs in fresh processes and the spread of their results (a process is one draw of memory placement).
# Usage: bench/decode-vs-llamacpp.sh [--models shipped,m] [--threads N] [--rounds R] [--new-tokens N] [--processes P] [--json]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-system.sh"            # libgomp1 for llama.cpp's native libraries
out=$(dotnet build "$root/bench/DecodeVsLlamaCpp" -c Release -nologo 2>&1) || { echo "$out" >&2; exit 1; }
exec dotnet "$root/bench/DecodeVsLlamaCpp/bin/Release/net10.0/DecodeVsLlamaCpp.dll" "$@"
