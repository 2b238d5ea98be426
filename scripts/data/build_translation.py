#!/usr/bin/env python3
"""Translation tasks en->de and en->fr from Debian's DDTP description translations (bookworm + trixie).

Inputs:  $DATA_WORK/indexes/{bookworm,trixie}/{Packages,Translation-en,Translation-de,Translation-fr}
Outputs: data/tasks/translation-en-{de,fr}.{train,dev,test}.jsonl
Record:  {"id","package","source_package","source","target","src_lang":"en","tgt_lang"}

Alignment: a Translation-<lang> entry carries the Description-md5 of the English description it
translates (md5 of the Description-en value plus "\\n"), so English and target are joined on it. Each
description gives one synopsis pair and, when both sides have the same number of paragraphs, one pair
per paragraph. Split by source package with common.package_split, shared with summarization. A
segment whose English text occurs in packages of different splits is kept only in the least
held-out of them (train before dev before test), so no test source text is ever seen in training; a
dev segment sharing a run of 13 words with a test segment, and a train segment sharing one with a dev or
test segment, is dropped (near-duplicates).
"""
import hashlib
import os
import sys
from collections import defaultdict

from common import (DATA_OUT, clean_text, drop_near_duplicates, key, log, package_split, rel, render_description, sha256_file, trim_by_group,
                    words, write_jsonl, write_stats)
from debian_index import index_path, source_map, translations

SUITES = ("trixie", "bookworm")     # trixie first: where both translate one English text, the newer wins
SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}
# The committed train splits are a seeded sample of whole packages that fits this many bytes, to keep
# the repository small; the full train split is written to data/tasks/full/ (gitignored).
TRAIN_BYTES_CAP = 9_000_000


def segments(value, lang="en"):
    if lang == "fr":
        # French DDTP translators write the no-break spaces of French typography (before ; : ! ? », after «
        # and list dashes) as a visible U+22C5 DOT OPERATOR; our normalisation makes no-break spaces plain.
        value = value.replace("\u22c5", " ")
    synopsis, paras = render_description(value)
    return [synopsis] + [clean_text(p) for p in paras]


def main(langs):
    stats = {"inputs": {}, "langs": {}}
    srcmap = source_map("bookworm", "trixie")
    english = {}
    md5_mismatch = 0
    for suite in SUITES:
        stats["inputs"][f"{suite}/Translation-en"] = sha256_file(index_path(suite, "Translation-en"))
        stats["inputs"][f"{suite}/Packages"] = sha256_file(index_path(suite, "Packages"))
        for package, md5, value in translations(suite, "en"):
            if hashlib.md5((value + "\n").encode("utf-8")).hexdigest() != md5:
                md5_mismatch += 1
                continue
            english.setdefault(md5, value)
    stats["english_descriptions"] = len(english)
    stats["english_md5_mismatches"] = md5_mismatch
    log(f"translation: {len(english)} English descriptions (md5 mismatches: {md5_mismatch})")

    for lang in langs:
        c = defaultdict(int)
        occurrences = defaultdict(list)   # English key -> [(split, package, src, tgt, id)] in input order
        seen_desc = set()
        for suite in SUITES:
            stats["inputs"][f"{suite}/Translation-{lang}"] = sha256_file(index_path(suite, "Translation-" + lang))
            for package, md5, value in translations(suite, lang):
                c["entries_" + suite] += 1
                if (package, md5) in seen_desc:
                    continue
                seen_desc.add((package, md5))
                en = english.get(md5)
                if en is None:
                    c["unaligned_descriptions"] += 1
                    continue
                c["aligned_descriptions"] += 1
                src_segs, tgt_segs = segments(en), segments(value, lang)
                if len(src_segs) != len(tgt_segs):
                    c["paragraph_count_mismatches"] += 1
                    src_segs, tgt_segs = src_segs[:1], tgt_segs[:1]
                srcpkg = srcmap.get(package, package)
                split = package_split(srcpkg)
                for i, (s, t) in enumerate(zip(src_segs, tgt_segs)):
                    if not s or not t:
                        c["empty_segments"] += 1
                        continue
                    if key(s) == key(t):
                        c["untranslated_segments"] += 1
                        continue
                    occurrences[key(s)].append((split, package, srcpkg, s, t, f"{lang}:{package}:{md5[:12]}:{i}"))
        # One pair per English segment, in the least held-out split it occurs in.
        by_split = {"train": [], "dev": [], "test": []}
        for k, occ in occurrences.items():
            split = min((o[0] for o in occ), key=SPLIT_ORDER.get)
            if len({o[0] for o in occ}) > 1:
                c["segments_shared_across_splits"] += 1
            split_pkg, package, srcpkg, s, t, rid = next(o for o in occ if o[0] == split)
            c["duplicate_segments_dropped"] += len(occ) - 1
            by_split[split].append({"id": rid, "package": package, "source_package": srcpkg, "source": s,
                                    "target": t, "src_lang": "en", "tgt_lang": lang})
        # Different English revisions can share one translation: keep a held-out target only if it is unseen.
        seen_targets = set()
        for split in ("train", "dev", "test"):
            kept = []
            for r in by_split[split]:
                tk = key(r["target"])
                if split != "train" and tk in seen_targets:
                    c[f"{split}_target_seen_earlier_dropped"] += 1
                    continue
                kept.append(r)
            for r in kept:
                seen_targets.add(key(r["target"]))
            by_split[split] = sorted(kept, key=lambda r: r["id"])
        by_split["dev"], c["dev_near_duplicates_of_test_dropped"] = drop_near_duplicates(by_split["test"], by_split["dev"], "source")
        by_split["train"], c["train_near_duplicates_of_held_out_dropped"] = drop_near_duplicates(
            by_split["test"] + by_split["dev"], by_split["train"], "source")
        out = {}
        full = os.path.join(DATA_OUT, "tasks", "full", f"translation-en-{lang}.train.jsonl")
        write_jsonl(full, by_split["train"])
        out[rel(full)] = {"records": len(by_split["train"]), "packages": len({r["package"] for r in by_split["train"]})}
        by_split["train"] = trim_by_group(by_split["train"], TRAIN_BYTES_CAP, f"trim:translation-en-{lang}")
        for split, recs in by_split.items():
            path = os.path.join(DATA_OUT, "tasks", f"translation-en-{lang}.{split}.jsonl")
            write_jsonl(path, recs)
            out[rel(path)] = {"records": len(recs), "packages": len({r["package"] for r in recs}),
                              "source_words": sum(words(r["source"]) for r in recs),
                              "target_words": sum(words(r["target"]) for r in recs)}
        stats["langs"][lang] = {"counts": dict(sorted(c.items())), "outputs": out}
        for k, v in sorted(c.items()):
            log(f"translation en-{lang} {k}: {v}")
        for p, s in out.items():
            log(f"  {p}: {s}")
        if out[f"data/tasks/translation-en-{lang}.test.jsonl"]["records"] < 1000:
            raise SystemExit(f"translation en-{lang} test split has fewer than 1,000 pairs; raise common.TEST_FRACTION")
    write_stats("translation", stats)


if __name__ == "__main__":
    main(sys.argv[1:] or ["de", "fr"])
