#!/usr/bin/env bash
# Runs the whole test suite in Release and prints a one-line summary ("N passed, N failed, N skipped").
# Installs the few system packages some tests need when they are missing (root only; Debian/Ubuntu).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup-system.sh" || exit 1

results="$root/artifacts/test-results"
rm -rf "$results"
dotnet test "$root/tests/Tailor.Tests/Tailor.Tests.csproj" -c Release -nologo \
  --logger "trx;LogFileName=tests.trx" --results-directory "$results" "$@"
rc=$?
trx="$results/tests.trx"
if [ -f "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
  skipped=$(( ${total:-0} - ${executed:-0} ))
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
fi
exit $rc
