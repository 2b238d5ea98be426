#!/usr/bin/env python3
"""Writes data/PROVENANCE.md from the builders' statistics ($DATA_WORK/stats/*.json), the pinned
sources (sources.lock), the fetched artifacts and data/pretrain/MANIFEST.json. Deterministic: no dates
or host names other than what the inputs carry."""
import glob
import json
import os

from build_pretrain import artifact, dep5_licence, licence_of, lock_versions
from common import DATA_OUT, DATA_WORK, read_jsonl, read_stats, rel, sha256_file
import pretrain_sources as ps

OUT = os.path.join(DATA_OUT, "PROVENANCE.md")


def n(x):
    return f"{x:,}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def release(suite):
    path = os.path.join(DATA_WORK, "indexes", suite, "release.txt")
    info = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    return info


def counts_list(d):
    return "\n".join(f"  - {k.replace('_', ' ')}: {n(v) if isinstance(v, int) else v}" for k, v in d.items())


def pretrain_section(w, manifest, folder, builder, packages_file):
    w(f"## Pre-training corpus (`data/{folder}/`)\n")
    w(f"Built by `{builder}`; `MANIFEST.json` has, per source, every input file with its sha256, the package "
      "versions and artifact hashes, the licence as stated by each package, and the processing counts. Only "
      + (f"`MANIFEST.json`, `{packages_file}`, `subset/` and `tokenizer/`"
         if os.path.isdir(os.path.join(DATA_OUT, folder, "tokenizer")) else f"`MANIFEST.json`, `{packages_file}` and `subset/`")
      + " are committed; `train.jsonl`/`valid.jsonl` are rebuilt.\n")
    lk = manifest["leakage"]
    w(f"- **Leakage removal**: the descriptions of {n(lk['debian_packages_removed'])} Debian packages removed (every package "
      f"of a held-out source package; {n(lk['debian_packages_removed_named_in_eval_files'])} of them named in task dev/test files); "
      f"{n(lk['paragraphs_matching_eval_removed'])} paragraphs equal (by key) to a task dev/test text removed; "
      f"{n(lk['paragraphs_sharing_13_words_with_eval_removed'])} paragraphs sharing a 13-word run with a held-out Debian text removed.")
    w(f"- **Dedupe**: paragraphs by key() across the whole corpus (first kept; keys under 20 characters exempt), then whole "
      f"documents. **Caps**: {', '.join(f'{k} {n(v)} characters' for k, v in manifest['caps_characters'].items())} "
      f"(seeded sample of whole entries). **Split**: {manifest['valid_fraction']:.0%} of documents to valid (seeded hash). "
      f"**Subset**: {manifest['subset']['method']}.\n")
    if "train_copies" in manifest:
        w("- **Copies**: each training document of " + ", ".join(f"{k}" for k in manifest["train_copies"])
          + " is written " + "/".join(sorted({str(v) for v in manifest["train_copies"].values()}))
          + " times, each copy at its own seeded place (language balance); validation documents once. "
          "The counts below include the copies.\n")
    multilingual = "languages_train" in manifest
    rows = []
    for name, e in manifest["sources"].items():
        pk = ", ".join(f"{i['package']}@{i['version']}" for i in e["inputs"] if "package" in i) or \
            " + ".join(f"{i['suite']} {i['file'].split('/')[-1]}" for i in e["inputs"][:1])
        lic = "; ".join(sorted({i["licence"] for i in e["inputs"] if "licence" in i})) or e.get("licence", "")
        t = e["total"]
        rows.append(((name, e["language"]) if multilingual else (name,)) + (pk, lic, n(t["documents"]), n(t["characters"]), n(t["words"]),
                     n(e["subset_train"]["characters"]), n(e["subset_valid"]["characters"])))
    w(table((("source", "language") if multilingual else ("source",)) + ("package@version", "licence as stated", "documents",
             "characters", "words", "subset train chars", "subset valid chars"), rows) + "\n")
    if multilingual:
        total = sum(v["characters"] for v in manifest["languages_train"].values())
        w(table(("language", "train documents", "train characters", "share of train characters", "train words"),
                [(lang, n(v["documents"]), n(v["characters"]), f"{v['characters'] / total:.1%}", n(v["words"]))
                 for lang, v in manifest["languages_train"].items()]) + "\n")
    notes = [(k, e["note"]) for k, e in manifest["sources"].items() if "note" in e]
    for k, v in notes:
        w(f"- {k}: {v}")
    w("- Left out: npm `nlp-corpus` (unclear provenance, offensive content, and it contains UCI IMDB/Yelp test sentences); "
      "the fortune files `art`, `ascii-art`, `translate-me` and `ethnic`"
      + ("; fortunes-de's `asciiart` and `translations` (English/German pairs); gettext catalogues, AppStream metadata and "
         "the English man pages (reserved for held-out evaluation)" if multilingual else "") + ".\n")


def main():
    versions = lock_versions()
    sent, summ, tr, fd = (read_stats(s) for s in ("sentiment", "summarization", "translation", "freedict"))
    with open(os.path.join(DATA_OUT, "pretrain", "MANIFEST.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    multi_path = os.path.join(DATA_OUT, "pretrain-multi", "MANIFEST.json")
    multi = None
    if os.path.exists(multi_path):
        with open(multi_path, encoding="utf-8") as f:
            multi = json.load(f)
    L = []
    w = L.append
    w("# Data provenance\n")
    w("Generated by `scripts/data/make_provenance.py` (stage `provenance` of `scripts/data/build-all.sh`); "
      "do not edit by hand. Schemas and usage: `docs/data.md`. Everything here was written by people and "
      "comes from Debian packages, Debian package indexes or npm packages; nothing is synthetic.\n")

    w("## Inputs\n")
    w("### Debian package indexes\n")
    w("Fetched with a private apt configuration (`scripts/data/fetch-indexes.sh`) from the Debian mirror "
      "configured on the build machine; component `main`, architecture amd64.\n")
    rows = []
    for suite in ("bookworm", "trixie"):
        r = release(suite)
        for name in ("Packages", "Translation-en", "Translation-de", "Translation-fr"):
            p = os.path.join(DATA_WORK, "indexes", suite, name)
            rows.append((suite, r.get("Version", "?"), r.get("Date", "?"), name, n(os.path.getsize(p)), f"`{sha256_file(p)}`"))
    w(table(("suite", "release", "Release date", "file", "bytes", "sha256"), rows) + "\n")

    w("### Packages (pinned in `scripts/data/sources.lock`)\n")
    rows = []
    for name, (kind, where, version) in versions.items():
        a = artifact(name, versions)
        pkgdir = ("npm-" if kind == "npm" else "") + name
        if name == "dict-freedict-eng-deu":
            lic = dep5_licence(ps.pkg_path(pkgdir, f"usr/share/doc/{name}/copyright"), "eng-deu/*") + " (debian/copyright, Files: eng-deu/*)"
        else:
            lic = licence_of(pkgdir)[0]
        rows.append((kind, f"{name}@{version}", where if kind == "deb" else "npm", a["artifact"], f"`{a['artifact_sha256']}`", lic))
    w(table(("kind", "package@version", "suite", "artifact", "sha256", "licence as stated by the package"), rows) + "\n")

    w("## Task datasets (`data/tasks/`)\n")
    w("### Sentiment\n")
    w("- **Source**: UCI *Sentiment Labelled Sentences* (Kotzias, Denil, de Freitas, Smyth: \"From Group to Individual "
      "Labels using Deep Features\", KDD 2015), as shipped in npm `sentiment@5.0.2` `package/test/fixtures/`. "
      "The package is MIT (`package.json`, `LICENSE.md`, © 2016 Andrew Sliwinski); its README credits the data to the UCI "
      "Machine Learning Repository and states no separate data licence.")
    for d, s in sent["inputs"].items():
        w(f"- `{s['file']}`: {n(s['records'])} records, sha256 `{s['sha256']}`")
    w("- **Processing** (`build_sentiment.py`): the trailing empty record of each file dropped; text NFC-normalised, "
      "cp1252 punctuation mis-decoded as C1 controls repaired (IMDB), whitespace collapsed; duplicates by key() "
      "(case/punctuation/spacing folded) dropped within and across domains (first kept, order amazon, yelp, imdb); "
      "Amazon + Yelp split 70/10/20 stratified by domain × label with a seeded shuffle; IMDB kept whole as an "
      "out-of-domain test set.\n")
    w(table(("domain", "raw", "empty", "duplicates", "cross-domain duplicates", "label conflicts", "kept", "positive", "negative"),
            [(d, s["raw"], s["empty_dropped"], s["duplicates_dropped"], s["cross_domain_duplicates_dropped"],
              s["label_conflicts"], s["kept"], s["positive"], s["negative"]) for d, s in sent["domains"].items()]) + "\n")

    w("### Summarization (Debian long description → synopsis)\n")
    w("- **Source**: bookworm `main/binary-amd64/Packages` (Source, Section, Description-md5) and `main/i18n/Translation-en` "
      "(Description-en: synopsis line + long description). No licence field in the index: each description is part of its "
      "package's `debian/control`, under that package's `debian/copyright`.")
    w("- **Processing** (`build_summarization.py`): descriptions rendered per Debian Policy 5.6.13 (` .` = paragraph break, "
      "wrapped lines joined, verbatim and list lines kept on their own line); excluded: binary names matching "
      "-dev/-doc/-dbg/-prof/-data/-common/-examples/-l10n/-i18n/-tests, fonts-/linux-image/firmware-; sections libdevel, doc, "
      "debug, oldlibs, localization, fonts, metapackages, tasks; synopses mentioning transitional/dummy/metapackage/debug "
      "symbols/documentation/development or header files/profiling libraries/data files; boilerplate paragraphs (a paragraph "
      "template, with the package's own names masked, found in ≥5 source packages) removed; texts of 30–400 words kept; one "
      "pair per source package (the binary named like the source, else the longest text); near-duplicates by identical first "
      "15 words or identical synopsis dropped; split by source package (SHA-256 of a fixed salt and the source name: 6 % test, "
      "2 % dev, shared with the translation tasks); train/dev items sharing a 13-word run with a held-out item dropped.")
    w("- Counts:\n" + counts_list(summ["filters"]) + "\n")

    w("### Translation en→de, en→fr (Debian DDTP)\n")
    w("- **Source**: `main/i18n/Translation-{en,de,fr}` and `Packages` of bookworm and trixie. Translations are contributed "
      "through the Debian Description Translation Project; the English text belongs to the packages (see above).")
    w("- **Processing** (`build_translation.py`): English joined to each translation by Description-md5 (= md5 of the "
      f"Description-en value plus a newline; {n(tr['english_md5_mismatches'])} English entries whose md5 does not verify are "
      "skipped); one synopsis pair plus one pair per paragraph when both sides have the same number of paragraphs (else the "
      "synopsis only); untranslated segments (same key on both sides) dropped; one pair per English segment, trixie "
      "preferred over bookworm; split by source package as for summarization; a segment found in packages of several "
      "splits kept only in the least held-out one; held-out pairs whose target was already used earlier dropped; "
      "near-duplicates (13-word runs) of held-out segments dropped from dev/train. The committed train files are a seeded "
      "sample of whole packages within 9 MB each; the full train split is rebuilt to `data/tasks/full/` (gitignored).")
    w(f"- English descriptions (bookworm ∪ trixie, unique md5): {n(tr['english_descriptions'])}")
    for lang, s in tr["langs"].items():
        w(f"- en→{lang}:\n" + counts_list(s["counts"]))
    w("")
    w("### FreeDict en→de examples (auxiliary, train only)\n")
    w(f"- **Source**: `dict-freedict-eng-deu` `{fd['input']['file']}` (sha256 `{fd['input']['sha256']}`), FreeDict eng-deu "
      "(Ding 1.9 converted by ding2tei); licence GPL-3+ (debian/copyright, Files: eng-deu/*).")
    w("- **Processing** (`build_freedict.py`): only the quoted example lines (`\"english\"  - deutsch`); grammar tags and "
      "subject labels stripped; only sentences (capital letter, final . ? !, ≥4 words); deduplicated by English key; pairs "
      "whose English or German matches a DDTP en-de dev/test item dropped.")
    w("- Counts:\n" + counts_list(fd["counts"]) + "\n")

    pretrain_section(w, manifest, "pretrain", "build_pretrain.py", "debian_desc-packages.txt")
    if multi:
        pretrain_section(w, multi, "pretrain-multi", "build_pretrain_multi.py", "debian-packages.txt")

    w("## Output files\n")
    rows = []
    for path in sorted(glob.glob(os.path.join(DATA_OUT, "tasks", "*.jsonl"))):
        rows.append((f"`{rel(path)}`", n(sum(1 for _ in read_jsonl(path))), n(os.path.getsize(path)), f"`{sha256_file(path)}`"))
    outputs = dict(manifest["outputs"], **(multi["outputs"] if multi else {}))
    for p, o in outputs.items():
        if o.get("committed"):
            rows.append((f"`{p}`", n(o["documents"]) if "documents" in o else "", n(o["bytes"]), f"`{o['sha256']}`"))
    w(table(("file", "records", "bytes", "sha256"), rows) + "\n")
    w("Not committed (rebuilt by `scripts/data/build-all.sh`):\n")
    rows = [(f"`{p}`", n(o["documents"]), n(o["bytes"]), f"`{o['sha256']}`") for p, o in outputs.items() if not o.get("committed")]
    for path in sorted(glob.glob(os.path.join(DATA_OUT, "tasks", "full", "*.jsonl"))):
        rows.append((f"`{rel(path)}`", n(sum(1 for _ in read_jsonl(path))), n(os.path.getsize(path)), f"`{sha256_file(path)}`"))
    w(table(("file", "records", "bytes", "sha256"), rows))
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(L) + "\n")
    print(f"wrote {rel(OUT)}")


if __name__ == "__main__":
    main()
