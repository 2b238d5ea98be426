#!/usr/bin/env python3
"""Writes computed_vectors.json: differential test vectors for Tailor.Evaluation's metrics, produced by the
reference implementations themselves (not by Tailor).

Needs, on the Python path:
  - sacreBLEU 2.6.0 (a checkout of mjpost/sacrebleu at tag v2.6.0 works: put its root on PYTHONPATH and give
    sacrebleu/version.py the line  __version__ = "2.6.0"),
  - NLTK >= 3.6 (PorterStemmer, whose behaviour has not changed since 3.6; Debian's python3-nltk 3.8 was used),
  - scikit-learn (f1_score, accuracy_score; Debian's python3-sklearn 1.2.1 was used),
  - a word list at /usr/share/dict/american-english (Debian package wamerican).

Usage: PYTHONPATH=/path/to/sacrebleu python3 make_vectors.py > computed_vectors.json
The inputs are drawn from a fixed seed, and every input is written into the JSON next to its expected value,
so the C# tests never need this script; it documents where the numbers came from.
"""

import json
import random
import re
import sys

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from nltk.stem.porter import PorterStemmer
from sklearn.metrics import accuracy_score, f1_score

assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__

rng = random.Random(20240611)

with open("/usr/share/dict/american-english", encoding="utf-8") as fh:
    DICT_WORDS = [w.strip() for w in fh if w.strip()]

# Pieces chosen to exercise the tokenizers: punctuation next to digits and letters, entities, hyphens,
# non-ASCII letters and punctuation, symbols outside the BMP, Greek capitals (final sigma when lowercased),
# the dotted capital I, and characters Python calls whitespace but .NET does not (U+001C..U+001F).
SPECIAL = [
    "3.5", "1,000.50", "U.S.A.", "e.g.", "(approx.)", "&amp;", "&quot;hi&quot;", "&lt;b&gt;", "well-known",
    "2-3", "1990-2000", "don't", "it's", "--", "...", "?!", "50%", "$20", "a/b", "x_y", "[ref]", "{x}", "~",
    "@user", "#tag", "Straße", "ÉCOLE", "naïve", "café", "ΟΔΟΣ", "ΣΟΦΟΣ.", "Σ", "İstanbul", "中文。",
    "日本語、テスト", "«quote»", "“smart”", "‘single’", "—", "…", "😀", "👍🏽", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "½", "²", "Ⅻ",
    "٣", "€5", "±", "→", "©", "x\u001fy", "tab\tbed", "nb\u00a0sp", "<skipped>", "end-\nline", "(hi)", "'quoted'",
]
COMMON = ("the a of to and in is was for on that with as by it at from this be are an not have has had "
          "dog man bit first surprised unexpected one no he she they we you house cat sat mat").split()


def word():
    r = rng.random()
    if r < 0.55:
        return rng.choice(COMMON)
    if r < 0.85:
        w = rng.choice(DICT_WORDS)
        return w.upper() if rng.random() < 0.1 else (w.capitalize() if rng.random() < 0.2 else w)
    return rng.choice(SPECIAL)


def sentence(lo=0, hi=18):
    n = rng.randint(lo, hi)
    words = [word() for _ in range(n)]
    s = " ".join(words)
    if words and rng.random() < 0.6:
        s += rng.choice([".", "!", "?", " .", ","])
    if rng.random() < 0.1:
        s = "  " + s + "   "
    return s


def mutate(s):
    """A hypothesis close to a reference, so that scores are not all near zero."""
    toks = s.split(" ")
    out = []
    for t in toks:
        r = rng.random()
        if r < 0.12:
            continue
        if r < 0.24:
            out.append(word())
        else:
            out.append(t)
        if rng.random() < 0.08:
            out.append(word())
    return " ".join(out)


def corpus(n_segments, n_refs, allow_none):
    refs = [[sentence(0 if allow_none else 1) for _ in range(n_segments)] for _ in range(n_refs)]
    hyps = [mutate(refs[0][i]) if rng.random() < 0.85 else sentence() for i in range(n_segments)]
    if allow_none:
        for k in range(1, n_refs):
            for i in range(n_segments):
                if rng.random() < 0.25:
                    refs[k][i] = None
    return hyps, refs


def bleu_result(score, metric):
    return {
        "score": score.score, "counts": list(score.counts), "totals": list(score.totals),
        "precisions": list(score.precisions), "bp": score.bp, "sys_len": score.sys_len,
        "ref_len": score.ref_len, "signature": str(metric.get_signature()),
        "formatted": score.format(signature=str(metric.get_signature())),
    }


vectors = {"bleu": [], "chrf": [], "porter": [], "classification": []}

# BLEU: every tokenizer x smoothing method, with lowercase, effective order and orders 1..6 mixed in.
for case in range(48):
    tok = ["13a", "none", "intl", "char"][case % 4]
    smooth, value = [("exp", None), ("none", None), ("floor", None), ("floor", 0.5), ("add-k", None),
                     ("add-k", 2), ("add-k", 0.125)][case % 7]
    lowercase = case % 3 == 0
    eff = case % 5 == 0
    order = [4, 4, 4, 1, 2, 3, 5, 6][case % 8]
    n_refs = 1 + case % 3
    allow_none = case % 6 == 5
    hyps, refs = corpus(rng.randint(1, 12), n_refs, allow_none)
    metric = BLEU(tokenize=tok, smooth_method=smooth, smooth_value=value, lowercase=lowercase,
                  effective_order=eff, max_ngram_order=order)
    score = metric.corpus_score(hyps, refs)
    entry = {"kind": "corpus", "hypotheses": hyps, "references": refs,
             "options": {"tokenize": tok, "smooth": smooth, "smooth_value": value, "lowercase": lowercase,
                         "effective_order": eff, "max_ngram_order": order}}
    entry.update(bleu_result(score, metric))
    if smooth == "add-k":
        # sacreBLEU returns counts/totals with k added to orders 2..N; keep the raw ones for comparison.
        stats = metric._extract_corpus_statistics(hyps, refs)
        total = [sum(col) for col in zip(*stats)]
        entry["counts"] = total[2:2 + order]
        entry["totals"] = total[2 + order:]
    vectors["bleu"].append(entry)

# Sentence BLEU through the compat function (effective order on by default).
for case in range(24):
    tok = ["13a", "none", "intl", "char"][case % 4]
    smooth = ["exp", "none", "floor", "add-k"][case % 4 if case < 12 else (case // 4) % 4]
    hyps, refs = corpus(1, 1 + case % 2, False)
    score = sacrebleu.sentence_bleu(hyps[0], [r[0] for r in refs], smooth_method=smooth, tokenize=tok,
                                    lowercase=case % 5 == 0)
    metric = BLEU(tokenize=tok, smooth_method=smooth, lowercase=case % 5 == 0, effective_order=True)
    entry = {"kind": "sentence", "hypotheses": hyps, "references": refs,
             "options": {"tokenize": tok, "smooth": smooth, "smooth_value": None, "lowercase": case % 5 == 0,
                         "effective_order": None, "max_ngram_order": 4}}
    metric.num_refs = len(refs)  # what sentence_score sets on the compat function's own instance
    entry.update(bleu_result(score, metric))
    if smooth == "add-k":
        stats = metric._extract_corpus_statistics(hyps, refs)
        entry["counts"] = stats[0][2:6]
        entry["totals"] = stats[0][6:]
    vectors["bleu"].append(entry)

# chrF / chrF++: both averaging modes, whitespace kept or not, lowercase, beta 1..3, multiple references.
for case in range(40):
    word_order = [0, 2, 1][case % 3]
    char_order = [6, 6, 6, 4, 1, 8][case % 6]
    beta = [2, 2, 3, 1][case % 4]
    eps = case % 2 == 1
    whitespace = case % 7 == 3
    lowercase = case % 5 == 2
    n_refs = 1 + case % 3
    allow_none = case % 8 == 7
    hyps, refs = corpus(rng.randint(1, 10), n_refs, allow_none)
    metric = CHRF(char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase,
                  whitespace=whitespace, eps_smoothing=eps)
    kind = "corpus"
    if case % 4 == 0:
        kind = "sentence"
        hyps = hyps[:1]
        refs = [r[:1] for r in refs if r[0] is not None]
        score = metric.sentence_score(hyps[0], [r[0] for r in refs])
    else:
        score = metric.corpus_score(hyps, refs)
    vectors["chrf"].append({
        "kind": kind, "hypotheses": hyps, "references": refs,
        "options": {"char_order": char_order, "word_order": word_order, "beta": beta, "lowercase": lowercase,
                    "whitespace": whitespace, "eps_smoothing": eps},
        "score": score.score, "name": score.name, "signature": str(metric.get_signature()),
        "formatted": score.format(signature=str(metric.get_signature())),
    })

# Porter (NLTK_EXTENSIONS, the default mode rouge-score uses): words as rouge-score would hand them over,
# lowercase [a-z0-9]+ tokens longer than 3 characters, one in every 40 of the dictionary plus the irregular forms.
stemmer = PorterStemmer()
seen = set()
candidates = []
for w in DICT_WORDS[::40] + ["skies", "dying", "lying", "tying", "news", "innings", "outings", "cannings",
                             "howe", "proceed", "exceed", "succeed", "generalization", "oscillators",
                             "archaeology", "geology", "fully", "hopefulli", "radically", "controlling"]:
    for tok in re.sub(r"[^a-z0-9]+", " ", w.lower()).split():
        if len(tok) > 3 and tok not in seen:
            seen.add(tok)
            candidates.append(tok)
vectors["porter"] = [[w, stemmer.stem(w)] for w in candidates]

# Classification: accuracy and macro-F1 with sklearn's default label set (sorted union) and with labels=.
for case in range(12):
    classes = ["negative", "positive", "neutral", "mixed"][: 2 + case % 3]
    n = rng.randint(1, 40)
    gold = [rng.choice(classes) for _ in range(n)]
    pred = [rng.choice(classes + ["unparsable"]) if rng.random() < 0.3 else g for g in gold]
    labels = sorted(set(gold)) if case % 2 else None
    if case % 4 == 3:
        labels = classes + ["never-seen"]
    entry = {"gold": gold, "predicted": pred, "labels": labels,
             "accuracy": accuracy_score(gold, pred),
             "macro_f1": f1_score(gold, pred, average="macro", labels=labels, zero_division=0)}
    vectors["classification"].append(entry)

json.dump(vectors, sys.stdout, ensure_ascii=False, separators=(",", ":"))
sys.stdout.write("\n")
