#!/usr/bin/env python3
"""Prove that no held-out item leaks: task test (and dev) items vs train, and vs the pre-training corpus.

Checks, each printed with its count; any non-zero leakage count makes the exit status 1:
  tasks       test vs train, test vs dev, dev vs train: texts by key() (case, punctuation and spacing
              folded: "exact normalised text match"); for the Debian tasks also package and source
              package names; IMDB (out-of-domain test) vs all in-domain sentiment splits; FreeDict
              (train-only) vs the en-de dev/test; the full untrimmed train files when present; for the
              Debian tasks, near-duplicates: train/dev items sharing a run of 13 words with a held-out item.
  pretrain    every dev/test text, its paragraphs, summary, source and target vs every paragraph and
              document of data/pretrain/subset/*.jsonl and, when built, data/pretrain/{train,valid}.jsonl;
              task dev/test packages and source packages vs data/pretrain/debian_desc-packages.txt,
              and (when the Debian indexes are present) the source package of every package in it.
              and no corpus paragraph shares a run of 13 words with a paragraph of a held-out
              summarization text or translation source (near-duplicates). The same for every pre-training
              corpus: data/pretrain (English) and data/pretrain-multi (English, German, French), the latter also
              against held-out translation targets (German/French text and 13-word runs of it).
  formats     no pre-training document holds a translation prompt format: no line labelled with one language
              ("English:") followed by a line labelled with another ("German:"), and no fixed phrase of
              a translation template (data/templates/translation-*.json); other task templates' phrases are
              counted for information.
Usage: scripts/data/check-splits.py            (run from anywhere)
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DATA_OUT, NEAR_DUP_WORDS, key, paragraph_ngrams, read_jsonl  # noqa: E402

TASKS = os.path.join(DATA_OUT, "tasks")
failures = []


def load(name):
    path = os.path.join(TASKS, name)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: build the datasets with scripts/data/build-all.sh")
    return list(read_jsonl(path))


def text_keys(recs, fields):
    out = set()
    for r in recs:
        for f in fields:
            k = key(r[f])
            if k:
                out.add(k)
    return out


def report(label, n, fatal=True):
    status = "ok" if n == 0 else ("LEAK" if fatal else "info")
    print(f"  {label:<72} {n:>7}  {status}")
    if n and fatal:
        failures.append(label)


def check_pair(task, held_name, held, other_name, other, fields, names=()):
    for f in fields:
        report(f"{task}: {held_name} {f} in {other_name}", len(text_keys(held, [f]) & text_keys(other, [f])))
    for f in names:
        report(f"{task}: {held_name} {f} in {other_name}", len({r[f] for r in held} & {r[f] for r in other}))


def unique_ids(task, splits):
    ids = [r["id"] for recs in splits.values() for r in recs]
    report(f"{task}: duplicate ids across splits", len(ids) - len(set(ids)))


def check_corpus(corpus, root, pk_name, with_targets, held_out, s, imdb):
    """Leakage checks of one pre-training corpus folder against every held-out task item."""
    print(f"Pre-training corpus {corpus}")
    eval_keys = {}   # key -> label
    for task, recs in list(held_out.items()) + [("sentiment", s["dev"] + s["test"] + imdb)]:
        for r in recs:
            for f in ("text", "summary", "source", "target"):
                if f in r:
                    eval_keys.setdefault(key(r[f]), f"{task} {f}")
                    for p in r[f].split("\n\n"):
                        eval_keys.setdefault(key(p), f"{task} {f} paragraph")
    eval_keys.pop("", None)
    files = sorted(glob.glob(os.path.join(root, "subset", "*.jsonl")))
    full = [os.path.join(root, f) for f in ("train.jsonl", "valid.jsonl") if os.path.exists(os.path.join(root, f))]
    if not full:
        print("  (full corpus not built here; checking the committed subset only)")
    for path in files + full:
        hits, docs, paras = {}, 0, 0
        for r in read_jsonl(path):
            docs += 1
            for k in [key(r["text"])] + [key(p) for p in r["text"].split("\n\n")]:
                paras += 1
                if k in eval_keys:
                    hits[k] = eval_keys[k]
        print(f"  {os.path.relpath(path, DATA_OUT)}: {docs} documents, {paras} documents+paragraphs compared with {len(eval_keys)} held-out keys")
        report(f"{corpus} {os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}: held-out texts found", len(hits))
        for k, label in sorted(hits.items())[:5]:
            print(f"      e.g. [{label}] {k[:100]}")

    pk_path = os.path.join(root, pk_name)
    with open(pk_path, encoding="utf-8") as f:
        pre_pkgs = {l.strip() for l in f if l.strip()}
    eval_pkgs = {r["package"] for t in held_out.values() for r in t}
    eval_srcs = {r["source_package"] for t in held_out.values() for r in t}
    print(f"  {len(pre_pkgs)} Debian packages in the corpus; {len(eval_pkgs)} packages / {len(eval_srcs)} source packages held out")
    report(f"{corpus}: held-out package names among corpus packages", len(pre_pkgs & eval_pkgs))
    report(f"{corpus}: held-out source package names among corpus packages", len(pre_pkgs & eval_srcs))
    try:
        from debian_index import source_map
        srcmap = source_map("bookworm", "trixie")
        report(f"{corpus}: corpus packages whose source package is held out",
               len({p for p in pre_pkgs if srcmap.get(p, p) in eval_srcs}))
    except SystemExit:
        print("  (Debian indexes not fetched here; source-package map check skipped)")

    # Near-duplicates: runs of 13 words shared by a paragraph of a held-out Debian text (summarization
    # text, translation source) and a paragraph of the corpus. The builder removes such paragraphs.
    n = 13
    grams = {}
    for task in ("summarization", "translation-en-de", "translation-en-fr"):
        for r in held_out[task]:
            texts = [r.get("text") or r.get("source")] + ([r["target"]] if with_targets and "target" in r else [])
            for p in (p for t in texts for p in t.split("\n\n")):
                w = key(p).split()
                for i in range(len(w) - n + 1):
                    grams.setdefault(" ".join(w[i:i + n]), set()).add((task, r["id"]))
    for path in files + full:
        touched, paras = set(), 0
        for r in read_jsonl(path):
            for p in r["text"].split("\n\n"):
                w = key(p).split()
                hit = False
                for i in range(len(w) - n + 1):
                    ids = grams.get(" ".join(w[i:i + n]))
                    if ids:
                        touched |= ids
                        hit = True
                paras += hit
        report(f"{corpus} {os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}: paragraphs sharing "
               f"{n} words with held-out Debian texts", paras)
        for task in ("summarization", "translation-en-de", "translation-en-fr"):
            k = sum(1 for t, _ in touched if t == task)
            if k:
                print(f"      {task}: {k} of {len(held_out[task])} held-out items touched")

    check_formats(corpus, files + full)


# A line labelled with a language name, as in the "English: ... German:" prompt format.
_LABEL = re.compile(r"^\s*(English|German|French|Englisch|Deutsch|Französisch|Anglais|Allemand|Français)\s*:", re.M)


def template_phrases():
    """(task, phrase) for each fixed part of a prompt template with at least 3 words, whitespace-normalised."""
    out = []
    for path in sorted(glob.glob(os.path.join(DATA_OUT, "templates", "*.json"))):
        with open(path, encoding="utf-8") as f:
            t = json.load(f)
        for tpl in t["templates"]:
            for part in re.split(r"\{[a-z_]+\}", tpl["prompt"]):
                part = " ".join(part.split()).strip(' "')
                if len(part.split()) >= 3:
                    out.append((t["task"], part))
    return sorted(set(out))


def check_formats(corpus, paths):
    phrases = template_phrases()
    for path in paths:
        pairs, hits = 0, {}
        for r in read_jsonl(path):
            labels = {m.group(1) for m in _LABEL.finditer(r["text"])}
            pairs += len(labels) >= 2
            flat = " ".join(r["text"].split())
            for task, ph in phrases:
                if ph in flat:
                    hits[(task, ph)] = hits.get((task, ph), 0) + 1
        name = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"
        report(f"{corpus} {name}: documents with two language-labelled lines", pairs)
        report(f"{corpus} {name}: translation template phrases found",
               sum(n for (task, _), n in hits.items() if task.startswith("translation")))
        other = sum(n for (task, _), n in hits.items() if not task.startswith("translation"))
        report(f"{corpus} {name}: other task template phrases found (information)", other, fatal=False)
        for (task, ph), n in sorted(hits.items())[:5]:
            print(f"      e.g. [{task}] {ph!r} x{n}")


def main():
    print("Task splits")
    s = {n: load(f"sentiment.{n}.jsonl") for n in ("train", "dev", "test")}
    imdb = load("sentiment-imdb.test.jsonl")
    print(f"  sentiment: train {len(s['train'])}, dev {len(s['dev'])}, test {len(s['test'])}, imdb test {len(imdb)}")
    unique_ids("sentiment", dict(s, imdb=imdb))
    check_pair("sentiment", "test", s["test"], "train", s["train"], ["text"])
    check_pair("sentiment", "test", s["test"], "dev", s["dev"], ["text"])
    check_pair("sentiment", "dev", s["dev"], "train", s["train"], ["text"])
    check_pair("sentiment", "imdb", imdb, "train+dev+test", s["train"] + s["dev"] + s["test"], ["text"])

    held_out = {}   # task -> records of dev + test
    for task, fields in (("summarization", ["text", "summary"]),
                         ("translation-en-de", ["source", "target"]), ("translation-en-fr", ["source", "target"])):
        sp = {n: load(f"{task}.{n}.jsonl") for n in ("train", "dev", "test")}
        full = os.path.join(TASKS, "full", f"{task}.train.jsonl")
        if os.path.exists(full):
            sp["train_full"] = list(read_jsonl(full))
        print(f"  {task}: " + ", ".join(f"{n} {len(v)}" for n, v in sp.items()))
        unique_ids(task, {k: v for k, v in sp.items() if k != "train_full"})
        names = ("package", "source_package")
        for train_name in [n for n in ("train", "train_full") if n in sp]:
            check_pair(task, "test", sp["test"], train_name, sp[train_name], fields, names)
            check_pair(task, "dev", sp["dev"], train_name, sp[train_name], fields, names)
        check_pair(task, "test", sp["test"], "dev", sp["dev"], fields, names)
        field = fields[0]
        grams_test = set().union(*(paragraph_ngrams(r[field]) for r in sp["test"]))
        grams_dev = set().union(*(paragraph_ngrams(r[field]) for r in sp["dev"]))
        report(f"{task}: dev {field}s sharing {NEAR_DUP_WORDS} words with test",
               sum(1 for r in sp["dev"] if paragraph_ngrams(r[field]) & grams_test))
        grams_held = grams_test | grams_dev
        for train_name in [n for n in ("train", "train_full") if n in sp]:
            report(f"{task}: {train_name} {field}s sharing {NEAR_DUP_WORDS} words with dev/test",
                   sum(1 for r in sp[train_name] if not paragraph_ngrams(r[field]).isdisjoint(grams_held)))
        if task == "summarization" or task.startswith("translation"):
            n = sum(len(sp[x]) for x in ("test",))
            report(f"{task}: test has fewer than 1,000 records ({n})", int(n < 1000))
        held_out[task] = sp["dev"] + sp["test"]
    fd = load("translation-en-de.freedict.train.jsonl")
    print(f"  translation-en-de.freedict: train {len(fd)}")
    check_pair("freedict", "en-de dev+test", held_out["translation-en-de"], "freedict train", fd, ["source", "target"])

    for corpus, pk_name, with_targets in (("pretrain", "debian_desc-packages.txt", False),
                                          ("pretrain-multi", "debian-packages.txt", True)):
        root = os.path.join(DATA_OUT, corpus)
        if not os.path.isdir(root):
            print(f"Pre-training corpus {corpus}: not built here, skipped")
            continue
        check_corpus(corpus, root, pk_name, with_targets, held_out, s, imdb)

    if failures:
        print(f"FAILED: {len(failures)} leakage check(s) non-zero: " + "; ".join(failures))
        return 1
    print("OK: no leakage found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
