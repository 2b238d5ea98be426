#!/usr/bin/env python3
"""sha256 of a tailor run's report/results.json without what differs between identical runs: the creation time, the
run folder's paths and the measured speeds (items per second). Two runs of the same code, data and options print the
same fingerprint; a refactoring that keeps every number keeps it too.

usage: scripts/results-fingerprint.py RUN_DIR_OR_RESULTS_JSON ..."""
import hashlib
import json
import os
import sys

VOLATILE = {"created", "folder", "path", "items_per_second"}


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


for arg in sys.argv[1:] or sys.exit(__doc__):
    path = os.path.join(arg, "report", "results.json") if os.path.isdir(arg) else arg
    with open(path, encoding="utf-8") as f:
        canonical = json.dumps(strip(json.load(f)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    print(hashlib.sha256(canonical.encode("utf-8")).hexdigest(), path)
