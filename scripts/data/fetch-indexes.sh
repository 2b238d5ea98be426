#!/usr/bin/env bash
# Stage 1a: fetch the Debian package indexes (Packages + Translation-{en,de,fr}) for bookworm and trixie
# with private apt configurations, and copy them to $DATA_WORK/indexes/<suite>/ under stable names.
# Prints each file's sha256; build-all records them in the provenance.
source "$(dirname "$0")/lib.sh"

for suite in bookworm trixie; do
  log "apt-get update ($suite, private config)"
  apt_private "$suite" update >&2
  lists="$DATA_WORK/apt/$suite/lists"
  out="$DATA_WORK/indexes/$suite"
  mkdir -p "$out"
  # An index can appear compressed or not depending on apt's choice; GzipIndexes=false keeps them plain.
  find_one() {
    local f
    f=$(find "$lists" -maxdepth 1 -name "*_dists_${suite}_main_$1" | sort | head -n1)
    [ -n "$f" ] || die "index main/$1 for $suite not fetched; see $lists"
    echo "$f"
  }
  cp "$(find_one binary-amd64_Packages)" "$out/Packages"
  for lang in en de fr; do
    cp "$(find_one "i18n_Translation-$lang")" "$out/Translation-$lang"
  done
  # The Release file dates the snapshot of the archive these indexes come from.
  rel=$(find "$lists" -maxdepth 1 -name "*_dists_${suite}_InRelease" | head -n1)
  [ -n "$rel" ] && grep -E '^(Version|Date):' "$rel" > "$out/release.txt" || true
done
( cd "$DATA_WORK/indexes" && sha256sum */Packages */Translation-* ) > "$DATA_WORK/indexes/SHA256SUMS"
cat "$DATA_WORK/indexes/SHA256SUMS" >&2
