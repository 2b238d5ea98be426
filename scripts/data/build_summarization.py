#!/usr/bin/env python3
"""Summarization task: Debian long description -> one-line synopsis (bookworm main).

Inputs:  $DATA_WORK/indexes/bookworm/{Packages,Translation-en}
Outputs: data/tasks/summarization.{train,dev,test}.jsonl
Record:  {"id","package","source_package","text","summary"}; text keeps paragraphs ("\\n\\n") and list
         lines ("\\n"), summary is the synopsis.
One pair per source package. Split by source package with common.package_split (shared with translation);
a dev item sharing a run of 13 words with a test item, and a train item sharing one with a dev or test
item, is dropped (near-duplicate descriptions of forks and sibling packages).
"""
import os
import re
from collections import defaultdict

from common import (DATA_OUT, clean_text, drop_near_duplicates, key, log, package_split, rel, render_description, words,
                    write_jsonl, write_stats)
from debian_index import index_path, packages, translations

MIN_WORDS, MAX_WORDS = 30, 400
BOILERPLATE_SOURCES = 5     # a paragraph template seen in this many source packages is boilerplate

NAME_EXCLUDE = re.compile(r"-(dev|doc|docs|dbg|dbgsym|prof|data|common|examples|l10n|i18n|tests?)(-|$)|^(fonts-|linux-image|linux-headers|firmware-)")
SECTION_EXCLUDE = {"libdevel", "doc", "debug", "oldlibs", "localization", "fonts", "metapackages", "tasks"}
SYNOPSIS_EXCLUDE = re.compile(r"transitional|dummy|metapackage|meta-package|debug(ging)? symbols|documentation"
                              r"|development files|header files|profiling libraries|data files|\(data\)|\(common files\)|\(transitional", re.I)


def template_key(paragraph, names):
    """key() of a paragraph with the package's own names masked, so that "This package contains the
    Python 3 version of foo." and "... of bar." count as one template."""
    text = paragraph
    for n in sorted(names, key=len, reverse=True):
        text = re.sub(r"(?<![\w.+-])" + re.escape(n) + r"(?![\w+-])", " PKGNAME ", text, flags=re.I)
    return key(text)


def main():
    stats = {"inputs": {}, "filters": {}}
    pk = packages("bookworm")
    entries = translations("bookworm", "en")
    for name in ("Packages", "Translation-en"):
        from common import sha256_file
        stats["inputs"]["bookworm/" + name] = sha256_file(index_path("bookworm", name))
    stats["filters"]["translation_en_entries"] = len(entries)

    # Render every description once; count in how many source packages each paragraph template occurs.
    cands = []
    template_sources = defaultdict(set)
    for package, md5, value in entries:
        info = pk.get(package)
        if info is None or info["md5"] != md5:
            continue          # description of a package version not in this Packages index
        synopsis, paras = render_description(value)
        paras = [clean_text(p) for p in paras]
        names = {package, info["source"]}
        tkeys = [template_key(p, names) for p in paras]
        for t in set(tkeys):
            template_sources[t].add(info["source"])
        cands.append((package, info, synopsis, paras, tkeys))
    stats["filters"]["joined_with_packages"] = len(cands)
    boiler = {t for t, s in template_sources.items() if len(s) >= BOILERPLATE_SOURCES}
    stats["filters"]["boilerplate_templates"] = len(boiler)

    counts = defaultdict(int)
    per_source = defaultdict(list)
    for package, info, synopsis, paras, tkeys in cands:
        if NAME_EXCLUDE.search(package):
            counts["name_pattern"] += 1
            continue
        if info["section"].split("/")[-1] in SECTION_EXCLUDE:
            counts["section"] += 1
            continue
        if SYNOPSIS_EXCLUDE.search(synopsis):
            counts["synopsis_pattern"] += 1
            continue
        kept = [p for p, t in zip(paras, tkeys) if t not in boiler]
        counts["boilerplate_paragraphs_removed"] += len(paras) - len(kept)
        text = "\n\n".join(kept)
        n = words(text)
        if n < MIN_WORDS:
            counts["text_too_short"] += 1
            continue
        if n > MAX_WORDS:
            counts["text_too_long"] += 1
            continue
        per_source[info["source"]].append((package, synopsis, text))
    stats["filters"].update(counts)
    stats["filters"]["candidates_after_filters"] = sum(len(v) for v in per_source.values())

    # One pair per source package: the binary named like the source, else the longest text (ties: name).
    pairs = []
    for src in sorted(per_source):
        options = per_source[src]
        same = [o for o in options if o[0] == src]
        best = same[0] if same else sorted(options, key=lambda o: (-len(o[2]), o[0]))[0]
        pairs.append((src,) + best)

    # Near-duplicates across source packages: identical first 15 words of text, or identical synopsis.
    seen_start, seen_syn, out = set(), set(), []
    for src, package, synopsis, text in pairs:
        start = " ".join(key(text).split()[:15])
        syn = key(synopsis)
        if start in seen_start:
            counts["duplicate_text_start"] += 1
            continue
        if syn in seen_syn:
            counts["duplicate_synopsis"] += 1
            continue
        seen_start.add(start)
        seen_syn.add(syn)
        out.append({"id": "summ:" + src, "package": package, "source_package": src, "text": text, "summary": synopsis})
    stats["filters"]["duplicate_text_start"] = counts["duplicate_text_start"]
    stats["filters"]["duplicate_synopsis"] = counts["duplicate_synopsis"]
    stats["filters"]["pairs"] = len(out)

    # Near-duplicates across splits (a fork's copy of a held-out description) leave the less held-out split.
    by_split = {sp: [r for r in out if package_split(r["source_package"]) == sp] for sp in ("train", "dev", "test")}
    by_split["dev"], n_dev = drop_near_duplicates(by_split["test"], by_split["dev"], "text")
    by_split["train"], n_train = drop_near_duplicates(by_split["test"] + by_split["dev"], by_split["train"], "text")
    stats["filters"]["dev_near_duplicates_of_test_dropped"] = n_dev
    stats["filters"]["train_near_duplicates_of_held_out_dropped"] = n_train

    stats["outputs"] = {}
    for split in ("train", "dev", "test"):
        recs = by_split[split]
        path = os.path.join(DATA_OUT, "tasks", f"summarization.{split}.jsonl")
        write_jsonl(path, recs)
        stats["outputs"][rel(path)] = {"records": len(recs),
                                       "text_words": sum(words(r["text"]) for r in recs),
                                       "summary_words": sum(words(r["summary"]) for r in recs)}
    for k, v in stats["filters"].items():
        log(f"summarization {k}: {v}")
    for p, s in stats["outputs"].items():
        log(f"  {p}: {s}")
    if stats["outputs"]["data/tasks/summarization.test.jsonl"]["records"] < 1000:
        raise SystemExit("summarization test split has fewer than 1,000 pairs; raise common.TEST_FRACTION")
    write_stats("summarization", stats)


if __name__ == "__main__":
    main()
