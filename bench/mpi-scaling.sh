#!/usr/bin/env bash
# Data-parallel scaling on this machine: training tokens/s of `tailor pretrain` as 1 process and as N MPI ranks (each
# rank with the same micro-batch, so N ranks train N times the tokens per step), then MPI_Allreduce times for
# gradient-sized buckets (bench/Tailor.Bench `allreduce`), from which the communication cost per step follows.
# Usage: bench/mpi-scaling.sh [--preset small] [--batch 8] [--sequence 128] [--steps 30] [--ranks 2] [--threads 1]
# Quote the machine's load with the numbers: ranks share the cores with whatever else runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
preset=small batch=8 sequence=128 steps=30 ranks=2 threads=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --sequence) sequence="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "mpi-scaling: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v mpirun >/dev/null || { echo "mpi-scaling: mpirun not found; run scripts/setup-system.sh" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
dotnet build "$root/src/Tailor.Cli" -c Release -v quiet -nologo >/dev/null
dotnet build "$root/bench/Tailor.Bench" -c Release -v quiet -nologo >/dev/null
cli="$root/src/Tailor.Cli/bin/Release/net10.0/Tailor.Cli.dll"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=(pretrain --data "$root/data/pretrain/subset" --preset "$preset" --batch "$batch" --sequence "$sequence" --max-steps "$steps"
      --warmup-steps 2 --log-interval 1 --eval-interval 100000 --eval-windows 1 --checkpoint-interval 100000 --precision fp32 --threads "$threads")
median_tps() {   # median tokens/s over the steps after the first five (warm-up: allocations, MPI connections)
  python3 -c 'import json,sys,statistics; v=[json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if "tokens_per_s" in l][5:]; print(f"{statistics.median(v):.0f}")' "$1"
}
echo "mpi-scaling: $(nproc) cores, load before: $(uptime | sed 's/.*load average: //')"
dotnet "$cli" "${args[@]}" --output "$out/one" >/dev/null 2>&1
one=$(median_tps "$out/one/metrics.jsonl")
echo "1 process  x batch $batch: $one tokens/s   (load: $(uptime | sed 's/.*load average: //'))"
# The second run reuses the first's tokenizer and token files (same bytes, so its stamp holds): no BPE training or tokenizing again.
mkdir -p "$out/many" && cp -r "$out/one/tokenizer.json" "$out/one/tokens" "$out/many/"
mpirun -np "$ranks" --oversubscribe dotnet "$cli" "${args[@]}" --output "$out/many" >/dev/null 2>&1
many=$(median_tps "$out/many/metrics.jsonl")
echo "$ranks ranks    x batch $batch: $many tokens/s   (load: $(uptime | sed 's/.*load average: //')); speed-up $(python3 -c "print(f'{$many/$one:.2f}')")"
echo "step time: 1 process $(python3 -c "print(f'{$batch*$sequence/$one*1000:.0f}')") ms, $ranks ranks $(python3 -c "print(f'{$ranks*$batch*$sequence/$many*1000:.0f}')") ms"
vocab=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["model"]["vocab"]))' "$out/one/tokenizer.json")
for btl in default "self,tcp"; do
  if [ "$btl" = default ]; then env_btl=(); else env_btl=(-x OMPI_MCA_btl="$btl"); fi
  echo "allreduce, transport $btl:"
  mpirun -np "$ranks" --oversubscribe "${env_btl[@]}" dotnet "$root/bench/Tailor.Bench/bin/Release/net10.0/Tailor.Bench.dll" allreduce "$vocab" 2>/dev/null
done
