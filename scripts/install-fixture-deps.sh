#!/usr/bin/env bash
# Installs Debian's PyTorch and NumPy, which are needed only to regenerate the reference
# fixtures under tests/Tailor.Tests/Fixtures/ (never in CI: the fixtures are committed).
# Safe to run repeatedly: it skips apt entirely when both packages are already installed.
set -euo pipefail

packages=(python3-torch python3-numpy)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-fixture-deps: ${packages[*]} already installed"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
echo "install-fixture-deps: installed ${missing[*]}"
