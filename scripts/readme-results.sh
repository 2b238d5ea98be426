#!/usr/bin/env bash
# Regenerates the README's results section from a finished `tailor run` folder (never typed by hand):
#   scripts/readme-results.sh [RUN_DIR]     (default: the newest runs/run-* whose manifest says finished)
# Replaces the text between <!-- results:begin --> and <!-- results:end --> with the run's main table, claims table
# and time summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${1:-}"
if [ -z "$run" ]; then
  for d in $(ls -d "$root"/runs/run-* 2>/dev/null | sort -r); do
    if grep -q '"finished": true' "$d/manifest.json" 2>/dev/null; then run="$d"; break; fi
  done
fi
[ -n "$run" ] && [ -f "$run/report/main-table.md" ] || { echo "readme-results: give a finished run folder (runs/run-*/ with report/main-table.md)" >&2; exit 1; }
python3 - "$root/README.md" "$run" <<'PY'
import json, os, sys
readme, run = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(run, "manifest.json")))
table = open(os.path.join(run, "report", "main-table.md")).read().strip()
claims = open(os.path.join(run, "report", "claims.md")).read().strip()
kinds = {}
for s in m["stages"]:
    kinds[s["kind"]] = kinds.get(s["kind"], 0) + s["seconds"]
def fmt(sec): return f"{int(sec)//60}:{int(sec)%60:02d}"
timing = ", ".join(f"{k} {fmt(v)}" for k, v in kinds.items())
opts = m["options"]
body = (f"From `{os.path.relpath(run, os.path.dirname(readme))}` (profile `{m['profile']}`, code {m['code_version']}): "
        f"wall time {fmt(m['elapsed_seconds'])} ({timing}).\n\n{table}\n\n**Claims** (paired bootstrap, 95% CIs):\n\n{claims}\n")
text = open(readme).read()
b, e = "<!-- results:begin -->", "<!-- results:end -->"
if b not in text or e not in text: sys.exit("readme-results: README.md lacks the results markers")
head, rest = text.split(b, 1)
_, tail = rest.split(e, 1)
open(readme, "w").write(head + b + "\n" + body + e + tail)
print(f"README.md results section regenerated from {run}")
PY
