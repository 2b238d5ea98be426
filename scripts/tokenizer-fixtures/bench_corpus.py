#!/usr/bin/env python3
"""Builds the tokenizer-training benchmark corpus: about 20 MiB of English text from the Debian documentation installed on
the machine (/usr/share/doc: changelogs, NEWS, READMEs, gzipped or not; HTML and images skipped). Lines are kept when
they are at least 20 characters, mostly letters and spaces, and not seen before (changelogs repeat a lot).

Usage: python3 scripts/tokenizer-fixtures/bench_corpus.py OUT.txt [MiB]
"""
import gzip
import os
import sys

out_path = sys.argv[1]
target = int(float(sys.argv[2]) * 1024 * 1024) if len(sys.argv) > 2 else 20 * 1024 * 1024

files = []
for root, _, names in os.walk("/usr/share/doc"):
    for name in names:
        path = os.path.join(root, name)
        if not os.path.islink(path) and not name.endswith((".html", ".htm", ".png", ".js", ".css")):
            files.append(path)
files.sort()

seen = set()
total = 0
with open(out_path, "w", encoding="utf-8", newline="\n") as out:
    for path in files:
        try:
            data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        for line in text.split("\n"):
            s = line.strip()
            if len(s) < 20 or s in seen or sum(c.isalpha() or c == " " for c in s) < 0.8 * len(s):
                continue
            size = len(line.encode("utf-8")) + 1
            if total + size > target:
                break
            seen.add(s)
            out.write(line + "\n")
            total += size
        if total >= target - 200:
            break
print(f"{out_path}: {total} bytes, {len(seen)} lines")
