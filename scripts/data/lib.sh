# Shared helpers for the data builders. Sourced, never run.
# Everything downloaded or unpacked lives under $DATA_WORK (default: <repo>/.build/data, gitignored);
# nothing here writes to the system's apt configuration or state.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_WORK="${DATA_WORK:-$REPO_ROOT/.build/data}"
SCRIPTS="$REPO_ROOT/scripts/data"
export REPO_ROOT DATA_WORK SCRIPTS
# Reproducible python: no hash randomisation, no bytecode litter in the tree.
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8 TZ=UTC

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The Debian mirror and keyring this machine already uses, read from /etc/apt at run time
# (the repository must not name a mirror). Picks the deb822 stanza or one-line entry whose
# suite is the bare release (bookworm), not -updates or -security.
debian_mirror() {
  python3 "$SCRIPTS/apt_mirror.py"
}

# Writes a private apt configuration for one suite under $DATA_WORK/apt/<suite> and prints
# the path of its apt.conf. Dir::Etc::parts points at an empty private directory: otherwise the
# system's apt.conf.d (which sets Acquire::Languages "none") is read after APT_CONFIG and wins,
# and the Translation-* indexes that carry the long descriptions are never fetched.
apt_conf_for() {
  local suite="$1" root="$DATA_WORK/apt/$1" uri keyring
  read -r uri keyring < <(debian_mirror)
  mkdir -p "$root/etc/apt.conf.d" "$root/etc/preferences.d" "$root/lists/partial" \
           "$root/cache/archives/partial" "$root/state"
  : > "$root/etc/none.conf"
  printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$uri" "$suite" > "$root/etc/sources.list"
  cat > "$root/apt.conf" <<CONF
Dir::Etc::main "$root/etc/none.conf";
Dir::Etc::parts "$root/etc/apt.conf.d";
Dir::Etc::preferencesparts "$root/etc/preferences.d";
Dir::Etc::sourcelist "$root/etc/sources.list";
Dir::Etc::sourceparts "$root/etc/sources.list.d";
Dir::State "$root/state";
Dir::State::Lists "$root/lists";
Dir::State::status "$root/state/status";
Dir::Cache "$root/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::GzipIndexes "false";
Acquire::Check-Valid-Until "false";
Acquire::Languages { "en"; "de"; "fr"; };
APT::Sandbox::User "root";
CONF
  mkdir -p "$root/etc/sources.list.d"
  : > "$root/state/status"
  echo "$root/apt.conf"
}

apt_private() {  # apt_private <suite> <apt-get args...>
  local suite="$1"; shift
  APT_CONFIG="$(apt_conf_for "$suite")" apt-get -q "$@"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
