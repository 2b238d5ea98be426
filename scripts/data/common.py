"""Shared helpers for Tailor's dataset builders (python3 stdlib only).

Everything here is deterministic: no dict/set iteration order leaks into outputs (sets are sorted before
use), random draws use random.Random seeded with a string (seeded via SHA-512, independent of
PYTHONHASHSEED), and split assignment uses SHA-256 of a fixed salt plus the grouping key, so adding
or removing an unrelated package never moves another package between splits.
"""
import hashlib
import json
import os
import re
import sys
import unicodedata
from collections import defaultdict

# One salt for every split decision in the project. Changing it reshuffles every split.
SPLIT_SALT = "tailor-data-v1"

# Fractions of source packages (hash order) that go to test and dev in the Debian tasks. The same
# assignment is used by summarization and both translation directions, so a source package is an
# evaluation package in every task or in none.
TEST_FRACTION = 0.06
DEV_FRACTION = 0.02

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_WORK = os.environ.get("DATA_WORK", os.path.join(REPO_ROOT, ".build", "data"))
DATA_OUT = os.path.join(REPO_ROOT, "data")
STATS_DIR = os.path.join(DATA_WORK, "stats")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- text normalisation

# C1 control characters that are really cp1252 punctuation decoded as latin-1 (seen in the UCI IMDB file).
_C1 = re.compile("[\u0080-\u009f]")


def repair_c1(text):
    def fix(m):
        try:
            return m.group(0).encode("latin-1").decode("cp1252")
        except UnicodeDecodeError:
            return ""
    return _C1.sub(fix, text)


_CTRL = re.compile("[\u0000-\u0008\u000b-\u001f\u007f\u00ad\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def clean_line(line):
    """NFC, C1 repair, control characters dropped, runs of blanks collapsed, ends stripped."""
    line = unicodedata.normalize("NFC", repair_c1(line))
    line = _CTRL.sub("", line.replace("\t", " "))
    return _SPACES.sub(" ", line).strip()


def clean_text(text):
    """Normalise a multi-line text: every line cleaned, paragraphs (blank-line separated) kept as
    "\\n\\n", single line breaks inside a paragraph kept (verse, lists), leading/trailing blank lines dropped."""
    paras = []
    cur = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = clean_line(raw)
        if line:
            cur.append(line)
        elif cur:
            paras.append("\n".join(cur))
            cur = []
    if cur:
        paras.append("\n".join(cur))
    return "\n\n".join(paras)


def paragraphs(text):
    return [p for p in text.split("\n\n") if p]


_WORD = re.compile(r"\w+", re.UNICODE)


def key(text):
    """Matching key for dedupe and leakage checks: NFKC, case-folded, only word characters, single spaces.
    Two texts with the same key differ at most in case, punctuation and spacing ("near-exact")."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def words(text):
    return len(text.split())


# ---------------------------------------------------------------- splits and sampling

def unit_hash(*parts):
    """A float in [0, 1) from SHA-256 of the salt and the parts; stable across runs and machines."""
    h = hashlib.sha256("\x1f".join((SPLIT_SALT,) + tuple(parts)).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def package_split(source_package):
    u = unit_hash("debian-split", source_package)
    if u < TEST_FRACTION:
        return "test"
    if u < TEST_FRACTION + DEV_FRACTION:
        return "dev"
    return "train"


# ---------------------------------------------------------------- files

def write_jsonl(path, records):
    """UTF-8, one compact JSON object per line, "\\n" line ends, keys in the order given."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{i}: not valid JSON ({e}); rebuild the file with scripts/data/build-all.sh")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_stats(stage, stats):
    os.makedirs(STATS_DIR, exist_ok=True)
    with open(os.path.join(STATS_DIR, stage + ".json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def read_stats(stage):
    path = os.path.join(STATS_DIR, stage + ".json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run the '{stage}' stage first (scripts/data/build-all.sh does)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def rel(path):
    return os.path.relpath(path, REPO_ROOT)


# ---------------------------------------------------------------- Debian control files

def control_stanzas(path, fields):
    """Yield dicts of the wanted fields from a Debian control-format file (Packages, Translation-*).
    Multi-line values keep their continuation lines (with the leading space) joined by "\\n"."""
    wanted = {f.lower() for f in fields}
    cur = {}
    last = None
    with open(path, encoding="utf-8", errors="strict") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if cur:
                    yield cur
                cur, last = {}, None
                continue
            if line[0] in " \t":
                if last is not None:
                    cur[last] += "\n" + line
                continue
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k in wanted:
                cur[k] = v.strip()
                last = k
            else:
                last = None
    if cur:
        yield cur


def source_name(stanza):
    """Source package of a Packages stanza: the Source field without its "(version)", else the package."""
    src = stanza.get("source", "").split(" ")[0]
    return src or stanza["package"]


_BULLET = re.compile(r"^([-*+o•·‣–—−]|\d{1,2}[.)])\s+\S")


def render_description(value):
    """Render a Debian description value (synopsis line + continuation lines) per Policy 5.6.13.

    Returns (synopsis, [paragraph, ...]). A continuation line " ." is a blank line (paragraph break);
    ordinary lines are word-wrapped text and are joined with spaces; lines indented by two or more
    spaces are displayed verbatim by Debian's tools, so they start a new line here, except when they
    only continue the wrapped text of a list item above them. Lines that start with a list marker
    ("-", "*", "+", "o", "•", "–", "−", "1.") also start a new line, because authors use one-space bullets as lists.
    """
    lines = value.split("\n")
    synopsis = clean_line(lines[0])
    paras, cur = [], []          # cur: list of output lines of the paragraph being built
    cur_bullet_indent = None     # indent of the list item that cur[-1] belongs to, if any
    for raw in lines[1:]:
        body = raw[1:] if raw.startswith(" ") else raw.lstrip("\t")
        if body.strip() == ".":
            if cur:
                paras.append("\n".join(cur))
            cur, cur_bullet_indent = [], None
            continue
        indent = len(body) - len(body.lstrip(" "))
        text = clean_line(body)
        if not text:
            continue
        bullet = _BULLET.match(text) is not None
        if not cur:
            cur.append(text)
        elif bullet:
            cur.append(text)
        elif cur_bullet_indent is not None and indent > cur_bullet_indent:
            cur[-1] += " " + text                      # wrapped continuation of a list item
            continue
        elif indent >= 1:
            cur.append(text)                           # verbatim line
        else:
            cur[-1] += " " + text                      # word-wrapped prose
            continue
        cur_bullet_indent = indent if bullet else None
    if cur:
        paras.append("\n".join(cur))
    return synopsis, paras


def record_bytes(r):
    return len(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1


def trim_by_group(records, budget_bytes, salt, group=lambda r: r["package"]):
    """Seeded sample of whole groups (packages) that fits in budget_bytes of JSONL.

    Groups are visited in unit_hash(salt, group) order and taken while they fit, so the sample is
    deterministic, keeps every group whole, and shrinks monotonically when the budget does.
    Returns the kept records in their original order."""
    size = defaultdict(int)
    for r in records:
        size[group(r)] += record_bytes(r)
    keep, used = set(), 0
    for g in sorted(size, key=lambda g: (unit_hash(salt, g), g)):
        if used + size[g] <= budget_bytes:
            keep.add(g)
            used += size[g]
    return [r for r in records if group(r) in keep]


# Runs of NEAR_DUP_WORDS words (over key()) shared between two paragraphs mark them as near-duplicates:
# a fork's or sibling package's reworded copy of one upstream description.
NEAR_DUP_WORDS = 13


def paragraph_ngrams(text, n=NEAR_DUP_WORDS):
    """The set of n-word runs of key() of each paragraph (runs never cross a paragraph break)."""
    out = set()
    for p in text.split("\n\n"):
        w = key(p).split()
        out.update(" ".join(w[i:i + n]) for i in range(len(w) - n + 1))
    return out


def drop_near_duplicates(held, later, field):
    """Records of `later` whose `field` shares a NEAR_DUP_WORDS run with any record of `held`
    are removed; returns (kept, number removed)."""
    grams = set()
    for r in held:
        grams |= paragraph_ngrams(r[field])
    kept = [r for r in later if not (paragraph_ngrams(r[field]) & grams)]
    return kept, len(later) - len(kept)
