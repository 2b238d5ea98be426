#!/usr/bin/env bash
# Stage 1b: fetch the pinned packages of sources.lock and unpack them (no installation):
#   .deb -> $DATA_WORK/debs/*.deb, unpacked with dpkg-deb -x into $DATA_WORK/pkg/<name>/
#   npm  -> $DATA_WORK/npm/*.tgz,  unpacked with tar into        $DATA_WORK/pkg/npm-<name>/
# Needs the bookworm private apt lists from fetch-indexes.sh.
source "$(dirname "$0")/lib.sh"

mkdir -p "$DATA_WORK/debs" "$DATA_WORK/npm" "$DATA_WORK/pkg"
[ -f "$DATA_WORK/apt/bookworm/apt.conf" ] || die "run scripts/data/fetch-indexes.sh first"

while read -r kind where name version; do
  case "$kind" in ''|'#'*) continue ;; esac
  dest="$DATA_WORK/pkg/$([ "$kind" = npm ] && echo "npm-$name" || echo "$name")"
  if [ "$kind" = deb ]; then
    deb=$(find "$DATA_WORK/debs" -maxdepth 1 -name "${name}_*.deb" | head -n1)
    if [ -z "$deb" ] || [ "$(dpkg-deb -f "$deb" Version)" != "$version" ]; then
      rm -f "$DATA_WORK/debs/${name}_"*.deb
      log "apt-get download $name=$version"
      ( cd "$DATA_WORK/debs" && APT_CONFIG="$DATA_WORK/apt/$where/apt.conf" apt-get -q download "$name=$version" >&2 ) \
        || die "$name=$version is not in $where any more; pick the current version with
  APT_CONFIG=$DATA_WORK/apt/$where/apt.conf apt-cache policy $name
then update scripts/data/sources.lock and rebuild"
      deb=$(find "$DATA_WORK/debs" -maxdepth 1 -name "${name}_*.deb" | head -n1)
    fi
    rm -rf "$dest"; mkdir -p "$dest"
    dpkg-deb -x "$deb" "$dest"
  elif [ "$kind" = npm ]; then
    tgz="$DATA_WORK/npm/$name-$version.tgz"
    if [ ! -f "$tgz" ]; then
      log "npm pack $name@$version"
      ( cd "$DATA_WORK/npm" && npm pack --silent "$name@$version" >/dev/null ) || die "npm pack $name@$version failed"
    fi
    rm -rf "$dest"; mkdir -p "$dest"
    tar -xzf "$tgz" -C "$dest"
  else
    die "sources.lock: unknown kind '$kind' for $name"
  fi
done < "$SCRIPTS/sources.lock"

( cd "$DATA_WORK" && sha256sum debs/*.deb npm/*.tgz ) > "$DATA_WORK/packages.sha256"
cat "$DATA_WORK/packages.sha256" >&2
