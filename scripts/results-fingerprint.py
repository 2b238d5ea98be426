#!/usr/bin/env python3
"""sha256 of a tailor run's report/results.json without what differs between identical runs: the creation time, the
measured speeds (items per second) and where the run lies (the run folder's keys; every path inside the run folder
written relative to it, every other path inside the checkout relative to the checkout). Two runs of the same code, data and options print the same fingerprint, in any
clone; a refactoring that keeps every number keeps it too.

usage: scripts/results-fingerprint.py RUN_DIR_OR_RESULTS_JSON ..."""
import hashlib
import json
import os
import sys

VOLATILE = {"created", "folder", "path", "items_per_second"}


def checkout_of(path):
    """The checkout the run belongs to: the nearest folder above it holding the tailor script, else the run folder."""
    folder = os.path.dirname(os.path.abspath(path))
    here = folder
    while True:
        if os.path.isfile(os.path.join(here, "tailor")) and os.path.isdir(os.path.join(here, "src")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return folder
        here = parent


def strip(node, run, root):
    if isinstance(node, dict):
        return {k: strip(v, run, root) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [strip(v, run, root) for v in node]
    if isinstance(node, str):
        relative = os.path.relpath(run, root)
        for prefix in (run, relative):
            node = node.replace(prefix + os.sep, "<run>" + os.sep)
        return node.replace(root + os.sep, "").replace(root, ".")
    return node


def main():
    for arg in sys.argv[1:] or sys.exit(__doc__):
        path = os.path.join(arg, "report", "results.json") if os.path.isdir(arg) else arg
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        run = os.path.dirname(os.path.dirname(os.path.abspath(path)))   # RUN/report/results.json
        canonical = json.dumps(strip(data, run, checkout_of(path)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        print(hashlib.sha256(canonical.encode("utf-8")).hexdigest(), path)


if __name__ == "__main__":
    main()
