#!/usr/bin/env bash
# Installs the Debian packages Tailor's tests and tools need, only those missing. Idempotent; needs root for apt.
set -euo pipefail
# chromium: the report test renders report.html headless; fonts-dejavu-core: the report charts' font (ScottPlot/SkiaSharp).
# openmpi-bin, libopenmpi-dev: data-parallel training (mpirun, libmpi.so.40) and its loopback tests.
packages=(libgomp1 chromium fonts-dejavu-core openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
