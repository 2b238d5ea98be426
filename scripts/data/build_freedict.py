#!/usr/bin/env python3
"""Auxiliary en->de TRAIN-only pairs: the example phrases of FreeDict eng-deu (Debian dict-freedict-eng-deu).

Input:  $DATA_WORK/pkg/dict-freedict-eng-deu/usr/share/dictd/freedict-eng-deu.dict.dz (dictzip = gzip)
Output: data/tasks/translation-en-de.freedict.train.jsonl, same record as the DDTP files
        ({"id","package","source_package","source","target","src_lang","tgt_lang"}).
Only the quoted example lines are used ('   "english example"  - deutsches Beispiel'), and of those only
sentences (capital first letter, final . ? or !, at least MIN_WORDS words); headword glosses and noun-phrase
examples are word-level and left out. Pairs whose English or German
occurs in the DDTP dev/test splits are dropped (check-splits.py verifies it).
"""
import gzip
import os
import re

from common import DATA_OUT, DATA_WORK, clean_line, key, log, read_jsonl, rel, sha256_file, words, write_jsonl, write_stats

DICT = os.path.join(DATA_WORK, "pkg", "dict-freedict-eng-deu", "usr", "share", "dictd", "freedict-eng-deu.dict.dz")
EXAMPLE = re.compile(r'^[ \t]+"(?P<en>[^"\n]+)"[ \t]+- (?P<de>[^\n]+)$', re.M)
MIN_WORDS = 4
SENTENCE = re.compile(r'^[A-Z"].*[.?!]"?$')
# Grammar tags (<pl>, <masc>, <v, trans>) and subject labels ([ugs.], [techn.]) are metadata, not text.
TAGS = re.compile(r"\s*(<[^>\n]{1,30}>|\[[^\]\n]{1,30}\])")


def main():
    if not os.path.exists(DICT):
        raise SystemExit(f"{DICT} is missing: run scripts/data/fetch-packages.sh first")
    with gzip.open(DICT, "rt", encoding="utf-8") as f:
        body = f.read()
    held_out = set()
    for split in ("dev", "test"):
        for r in read_jsonl(os.path.join(DATA_OUT, "tasks", f"translation-en-de.{split}.jsonl")):
            held_out.add(key(r["source"]))
            held_out.add(key(r["target"]))
    seen, out, c = set(), [], {"examples": 0, "not_a_sentence": 0, "duplicates": 0, "held_out_overlap": 0}
    for m in EXAMPLE.finditer(body):
        c["examples"] += 1
        en = clean_line(TAGS.sub("", m.group("en")))
        de = clean_line(TAGS.sub("", m.group("de")))
        if words(en) < MIN_WORDS or not de or not SENTENCE.match(en):
            c["not_a_sentence"] += 1
            continue
        k = key(en)
        if k in seen:
            c["duplicates"] += 1
            continue
        seen.add(k)
        if k in held_out or key(de) in held_out:
            c["held_out_overlap"] += 1
            continue
        out.append({"id": f"freedict-de:{len(out):06d}", "package": "dict-freedict-eng-deu", "source_package": "freedict",
                    "source": en, "target": de, "src_lang": "en", "tgt_lang": "de"})
    path = os.path.join(DATA_OUT, "tasks", "translation-en-de.freedict.train.jsonl")
    write_jsonl(path, out)
    c["kept"] = len(out)
    log(f"freedict: {c} -> {rel(path)}")
    write_stats("freedict", {"input": {"file": "/usr/share/dictd/freedict-eng-deu.dict.dz", "sha256": sha256_file(DICT)},
                             "counts": c, "outputs": {rel(path): {"records": len(out)}}})


if __name__ == "__main__":
    main()
