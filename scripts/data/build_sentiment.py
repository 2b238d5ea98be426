#!/usr/bin/env python3
"""Sentiment task from the UCI "Sentiment Labelled Sentences" copy in npm sentiment@5.0.2.

Inputs:  $DATA_WORK/pkg/npm-sentiment/package/test/fixtures/{amazon,yelp,imdb}.json
Outputs: data/tasks/sentiment.{train,dev,test}.jsonl   (Amazon + Yelp, stratified 70/10/20 by domain x label)
         data/tasks/sentiment-imdb.test.jsonl         (IMDB, whole, out-of-domain test; never trained on)
Record:  {"id","source","text","label"}; label is "positive" or "negative".
Also:    data/baselines/afinn-165.json — the AFINN-165 word list and negators of the same package
         (package/languages/en/{labels,negators}.json, package/build/emoji.json), for the lexicon baseline of `tailor run`.
"""
import json
import os
import random

from common import (DATA_OUT, DATA_WORK, SPLIT_SALT, clean_line, key, log, rel, sha256_file,
                    write_jsonl, write_stats)

FIXTURES = os.path.join(DATA_WORK, "pkg", "npm-sentiment", "package", "test", "fixtures")
DOMAINS = ("amazon", "yelp", "imdb")
FRACTIONS = (("train", 0.7), ("dev", 0.1), ("test", 0.2))


def load(domain):
    path = os.path.join(FIXTURES, domain + ".json")
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    out, dropped_empty = [], 0
    for i, r in enumerate(raw):
        text = clean_line(r.get("text") or "")
        if not text or r.get("class") not in (0, 1):
            dropped_empty += 1      # the last element of each file is an empty {"text":"","class":null}
            continue
        out.append({"id": f"{domain}-{i:04d}", "source": domain, "text": text,
                    "label": "positive" if r["class"] == 1 else "negative"})
    return path, len(raw), dropped_empty, out


def write_afinn():
    """Copies the package's AFINN-165 valences and negators, with their source and hashes, into data/baselines/."""
    en = os.path.join(DATA_WORK, "pkg", "npm-sentiment", "package", "languages", "en")
    out = {"source": "npm sentiment@5.0.2", "files": {}, "licence": "package MIT (package/LICENSE.md); AFINN by Finn Arup Nielsen"}
    for name in ("labels", "negators"):
        path = os.path.join(en, name + ".json")
        with open(path, encoding="utf-8") as f:
            out[name] = json.load(f)
        out["files"][name] = {"file": "package/languages/en/" + name + ".json", "sha256": sha256_file(path)}
    # The package merges its emoji valences into the word list (lib/language-processor.js); keep them too.
    path = os.path.join(DATA_WORK, "pkg", "npm-sentiment", "package", "build", "emoji.json")
    with open(path, encoding="utf-8") as f:
        out["emoji"] = json.load(f)
    out["files"]["emoji"] = {"file": "package/build/emoji.json", "sha256": sha256_file(path)}
    target = os.path.join(DATA_OUT, "baselines", "afinn-165.json")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")
    log(f"afinn: {len(out['labels'])} words, {len(out['negators'])} negators -> {rel(target)}")


def main():
    stats = {"inputs": {}, "domains": {}}
    seen = {}          # key -> (label, id) over all three domains, in file order amazon, yelp, imdb
    kept = {d: [] for d in DOMAINS}
    for d in DOMAINS:
        path, n_raw, n_empty, recs = load(d)
        stats["inputs"][d] = {"file": "package/test/fixtures/" + d + ".json", "sha256": sha256_file(path), "records": n_raw}
        dups = cross = conflicts = 0
        for r in recs:
            k = key(r["text"])
            if k in seen:
                label, first = seen[k]
                if label != r["label"]:
                    conflicts += 1
                if first.split("-")[0] == d:
                    dups += 1
                else:
                    cross += 1    # same sentence in an earlier domain: keep only the first copy
                continue
            seen[k] = (r["label"], r["id"])
            kept[d].append(r)
        pos = sum(r["label"] == "positive" for r in kept[d])
        stats["domains"][d] = {"raw": n_raw, "empty_dropped": n_empty, "duplicates_dropped": dups,
                               "cross_domain_duplicates_dropped": cross, "label_conflicts": conflicts,
                               "kept": len(kept[d]), "positive": pos, "negative": len(kept[d]) - pos}
        log(f"sentiment {d}: {stats['domains'][d]}")

    # Stratified split of Amazon + Yelp: each (domain, label) stratum is shuffled with its own seeded RNG
    # and cut 70/10/20, so every split keeps the domain and label balance.
    splits = {name: [] for name, _ in FRACTIONS}
    for d in ("amazon", "yelp"):
        for label in ("negative", "positive"):
            stratum = sorted((r for r in kept[d] if r["label"] == label), key=lambda r: r["id"])
            random.Random(f"{SPLIT_SALT}:sentiment:{d}:{label}").shuffle(stratum)
            n = len(stratum)
            cut_train = round(n * FRACTIONS[0][1])
            cut_dev = cut_train + round(n * FRACTIONS[1][1])
            splits["train"] += stratum[:cut_train]
            splits["dev"] += stratum[cut_train:cut_dev]
            splits["test"] += stratum[cut_dev:]
    stats["outputs"] = {}
    for name, recs in splits.items():
        recs.sort(key=lambda r: r["id"])
        path = os.path.join(DATA_OUT, "tasks", f"sentiment.{name}.jsonl")
        write_jsonl(path, recs)
        stats["outputs"][rel(path)] = {"records": len(recs), "positive": sum(r["label"] == "positive" for r in recs)}
    path = os.path.join(DATA_OUT, "tasks", "sentiment-imdb.test.jsonl")
    write_jsonl(path, kept["imdb"])
    stats["outputs"][rel(path)] = {"records": len(kept["imdb"]),
                                   "positive": sum(r["label"] == "positive" for r in kept["imdb"])}
    for p, s in stats["outputs"].items():
        log(f"  {p}: {s}")
    write_stats("sentiment", stats)
    write_afinn()


if __name__ == "__main__":
    main()
