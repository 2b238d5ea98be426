"""Extractors for the German and French pre-training sources. Each returns [(doc_id, raw_text)] in a fixed order.

Like pretrain_sources.py: extractors undo each format's markup (roff, HTML, fortune files) and decide the document
boundaries; cleaning, leakage removal and dedupe happen in build_pretrain.py. Paragraphs that are still English
(untranslated strings in a translated man page or manual) are dropped here by `is_language`.

Deliberately not read: gettext catalogues (.po/.mo), AppStream metadata and the English man pages; they are
reserved for held-out evaluation.
"""
import glob
import gzip
import html
import os
import re
from html.parser import HTMLParser

from common import key
from pretrain_sources import decode_mixed, pkg_path

# ---------------------------------------------------------------- language check

# Function words that are frequent in one language and rare as words of the others ("in", "des", "die"... are
# shared between the languages and left out).
STOPWORDS = {
    "en": set("the and of to is are that this with for be it by on as from or which can not you your an have will".split()),
    "de": set("der das und ist nicht ein eine einen mit für von zu den dem auf wird werden sich auch oder sie es im bei "
              "wenn wie kann diese dieser nur einer als wurde sind".split()),
    "fr": set("le la les et est une un du pour dans qui que par sur avec pas ne ce sont au aux être peut il elle "
              "cette ou vous sont fichier si".split()),
}


def is_language(text, lang):
    """False when the paragraph has more English function words than `lang` ones (an untranslated string)."""
    ws = key(text).split()
    own = sum(1 for w in ws if w in STOPWORDS[lang])
    en = sum(1 for w in ws if w in STOPWORDS["en"])
    return en <= own


def keep_language(paras, lang, counter):
    out = []
    for p in paras:
        if is_language(p, lang):
            out.append(p)
        else:
            counter["paragraphs_not_in_language_dropped"] = counter.get("paragraphs_not_in_language_dropped", 0) + 1
    return out


# ---------------------------------------------------------------- man pages (manpages-de, manpages-fr)

MAN_ROOT = {"de": ("manpages-de", "usr/share/man/de"), "fr": ("manpages-fr", "usr/share/man/fr")}
# Sections that are boilerplate of the translation project rather than text of the page (and the often
# untranslated colophon), or command syntax.
MAN_SKIP_SECTIONS = {
    "de": {"ÜBERSETZUNG", "KOLOPHON", "COLOPHON", "ÜBERSICHT"},
    "fr": {"TRADUCTION", "COLOPHON", "SYNOPSIS"},
}
_NAMED = {
    "em": "—", "en": "–", "bu": "•", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘", "cq": "’",
    "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "co": "©", "rg": "®", "tm": "™", "mu": "×", "de": "°",
    "hy": "-", "mi": "-", "pl": "+", "eq": "=", "lt": "<", "gt": ">", "ha": "^", "ti": "~", "rs": "\\",
    "sl": "/", "ga": "`", "aa": "´", "ul": "_", "bv": "|", "ba": "|", "or": "|", "->": "→", "<-": "←",
    "Tm": "™", "R": "®", "ss": "ß", ":a": "ä", ":o": "ö", ":u": "ü", ":A": "Ä", ":O": "Ö", ":U": "Ü",
    "'e": "é", "`e": "è", "^e": "ê", "`a": "à", "^a": "â", ",c": "ç", "^o": "ô", "^i": "î", "ps": "¶",
    "sc": "§", "ua": "↑", "da": "↓", "ct": "¢", "Eu": "€", "eu": "€", "po": "£", "tno": "~", "dg": "†",
}
_ESC = re.compile(
    r"\\(?:"
    r"f(?:\[[^\]]*\]|\(..|.)"            # font changes
    r"|s[-+]?(?:\d|\(\d\d|\[\d+\])"      # size changes
    r"|[hvwlLoXbDZNmMxSRk](?:'[^']*'|\[[^\]]*\]|.)"   # motions, widths, drawing, device controls
    r"|n(?:\[[^\]]*\]|\(..|.)"           # number registers
    r"|\*(?:\[[^\]]*\]|\(..|.)"          # strings
    r"|\(..|\[[^\]]*\]"                  # named characters
    r"|."                                # one-character escapes
    r")")


def _escape(m):
    s = m.group(0)
    c = s[1]
    if c in "fsnhvwlLoXbDZNmMxSRk" and len(s) > 2:
        return ""
    if c == "*":
        name = s[2:].strip("[]()")
        return {"lq": "“", "rq": "”", "R": "®", "Tm": "™", "(lq": "“"}.get(name, "")
    if c == "(":
        return _NAMED.get(s[2:4], "")
    if c == "[":
        name = s[2:-1]
        if re.fullmatch(r"u[0-9A-Fa-f]{4,6}", name):
            return chr(int(name[1:], 16))
        return _NAMED.get(name, "")
    return {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "'": "´", "`": "`", ".": ".",
            "&": "", ",": "", "/": "", "^": "", "|": "", ":": "", "c": "", "%": "", "t": " ", "a": "",
            "d": "", "u": "", "r": "", "p": "", "z": "", "!": "", "?": "", "{": "", "}": "", '"': ""}.get(c, "")


def roff_inline(text):
    text = re.sub(r'\\".*$', "", text)           # comment to the end of the line
    return _ESC.sub(_escape, text)


def _macro_args(rest):
    """Arguments of a macro line: double-quoted strings or blank-separated words."""
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"?|\S+', rest)]


_PARA = {"PP", "LP", "P", "TP", "TQ", "IP", "HP", "sp", "br", "RS", "RE", "in", "ti", "SY", "YS", "OP", "UR", "UE",
         "MT", "ME", "PD", "ne", "bp"}
_ALT = {"BR", "RB", "IR", "RI", "BI", "IB"}
_FONT = {"B", "I", "SM", "SB", "R"}


def man_page(raw):
    """Roff man page -> (title, [(section, paragraph)]). Verbatim blocks (.nf/.EX), tables (.TS) and macro
    definitions are dropped: they are code, option tables and markup rather than prose."""
    sections, section, cur = [], "", []
    skip_until = None
    title = ""

    def flush():
        if cur:
            sections.append((section, " ".join(cur)))
            cur.clear()

    for line in raw.split("\n"):
        if skip_until:
            if (line.strip() == ".." if skip_until == ".." else re.match(r"^[.']\s*" + skip_until + r"\b", line)):
                skip_until = None
            continue
        if re.match(r"^[.']\s*\\\"", line) or line.startswith('\\"'):
            continue
        m = re.match(r"^[.']\s*([A-Za-z]{1,3})\b\s*(.*)$", line)
        if line[:1] in ".'" and not m:
            if line.strip() in (".", "'"):
                continue
            m2 = re.match(r"^[.']\s*(\S+)", line)
            if m2 and m2.group(1) == "..":
                continue
            if m2 and m2.group(1).startswith("\\"):
                continue
            continue   # other requests (.if, .ie, .el, .ds, .nr, .de ...) carry no text
        if m:
            req, rest = m.group(1), m.group(2)
            if req in ("nf", "EX"):
                flush()
                skip_until = "fi" if req == "nf" else "EE"
                continue
            if req == "TS":
                flush()
                skip_until = "TE"
                continue
            if req in ("de", "ig", "am"):
                flush()
                skip_until = ".."   # a macro body or ignored block ends at a line ".."
                continue
            if req == "TH":
                args = _macro_args(rest)
                title = roff_inline(args[0]) if args else ""
                continue
            if req in ("SH", "SS"):
                flush()
                head = roff_inline(" ".join(_macro_args(rest))).strip()
                if req == "SH":
                    section = head.upper()
                cur.append(head)
                flush()
                continue
            if req in _PARA:
                flush()
                if req == "IP":
                    args = _macro_args(rest)
                    tag = roff_inline(args[0]).strip() if args else ""
                    if tag and tag not in ("•", "-", "*"):
                        cur.append(tag)
                continue
            if req in _ALT:
                cur.append("".join(roff_inline(a) for a in _macro_args(rest)))
                continue
            if req in _FONT:
                text = roff_inline(" ".join(_macro_args(rest)))
                if text:
                    cur.append(text)
                continue
            continue   # any other macro (.so, .ft, .ad, .hy, .if, .nh, .UC, ...) carries no text we want
        text = roff_inline(line).strip()
        if text:
            cur.append(text)
        else:
            flush()
    flush()
    return title, sections


def man_files(lang):
    pkg, root = MAN_ROOT[lang]
    base = pkg_path(pkg, root)
    out = []
    for path in sorted(glob.glob(os.path.join(base, "man*", "*"))):
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        out.append((pkg, path))
    return out


def man_pages(lang, counter):
    docs = []
    for _pkg, path in man_files(lang):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = decode_mixed(f.read())
        if re.match(r"^\s*\.so\s", raw):
            counter["redirect_pages_skipped"] = counter.get("redirect_pages_skipped", 0) + 1
            continue
        _title, secs = man_page(raw)
        paras = [p for s, p in secs if s not in MAN_SKIP_SECTIONS[lang] and not p.isupper()]
        paras = keep_language(paras, lang, counter)
        name = os.path.relpath(path, pkg_path(*MAN_ROOT[lang]))
        docs.append((name, "\n\n".join(paras)))
    return docs


# ---------------------------------------------------------------- HTML manuals (debian-reference, debian-handbook)

_BLOCK = {"p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "title", "div", "blockquote", "caption", "br"}
_SKIP = {"pre", "script", "style", "table", "code_block", "head"}


class _Paragraphs(HTMLParser):
    """Text of an HTML page's block elements, one paragraph each; <pre>, tables, scripts and navigation left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paras, self.cur, self.skip, self.stack = [], [], 0, []

    def _flush(self):
        text = " ".join("".join(self.cur).split())
        if text:
            self.paras.append(text)
        self.cur = []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        skipping = tag in _SKIP or (tag == "div" and re.search(r"\bnav|toc\b|footer|header|legalnotice|revhistory", cls))
        if tag in ("br", "img", "hr", "meta", "link", "input"):
            if tag == "br":
                self.cur.append(" ")
            return
        self.stack.append((tag, bool(skipping)))
        if skipping:
            self.skip += 1
        if tag in _BLOCK and not self.skip:
            self._flush()

    def handle_endtag(self, tag):
        while self.stack:
            t, skipping = self.stack.pop()
            if skipping:
                self.skip -= 1
            if t in _BLOCK and not self.skip:
                self._flush()
            if t == tag:
                break

    def handle_data(self, data):
        if not self.skip:
            self.cur.append(data)

    def close(self):
        super().close()
        self._flush()


def html_paragraphs(raw):
    p = _Paragraphs()
    p.feed(raw)
    p.close()
    return [html.unescape(x) for x in p.paras]


DEBREF = {"de": ("debian-reference-de", "usr/share/debian-reference/*.de.html"),
          "fr": ("debian-reference-fr", "usr/share/debian-reference/*.fr.html")}
HANDBOOK = {"de": ("debian-handbook", "usr/share/doc/debian-handbook/html/de-DE/*.html"),
            "fr": ("debian-handbook", "usr/share/doc/debian-handbook/html/fr-FR/*.html")}
# Pages that are lists of links, legal text or credits rather than prose.
HTML_SKIP = re.compile(r"(^|/)(index|ix01|pr01|pt\d+|sect-credits|.*toc.*|.*legal.*|.*copyright.*)\.([a-z]{2}\.)?html$")


def html_files(spec, lang):
    pkg, pattern = spec[lang]
    root = pkg_path(pkg)
    return [(pkg, p) for p in sorted(glob.glob(os.path.join(root, pattern))) if not HTML_SKIP.search(p)]


MIN_PARA_WORDS = 4


def html_manual(spec, lang, counter):
    docs = []
    for pkg, path in html_files(spec, lang):
        with open(path, "rb") as f:
            raw = decode_mixed(f.read())
        paras = [p for p in html_paragraphs(raw) if len(p.split()) >= MIN_PARA_WORDS]
        paras = keep_language(paras, lang, counter)
        # a manual chapter is long: split it into documents of about 800 words at paragraph boundaries
        chunk, n, part = [], 0, 0
        rel = os.path.relpath(path, pkg_path(pkg))
        for p in paras:
            chunk.append(p)
            n += len(p.split())
            if n >= 800:
                docs.append((f"{rel}:{part:03d}", "\n\n".join(chunk)))
                chunk, n, part = [], 0, part + 1
        if chunk:
            docs.append((f"{rel}:{part:03d}", "\n\n".join(chunk)))
    return docs


# ---------------------------------------------------------------- fortunes-de

FORTUNE_DE_DIR = "usr/share/games/fortunes/de"
# asciiart: pictures; translations: "Englisch: ... Deutsch: ..." pairs (a translation prompt format).
FORTUNE_DE_SKIP = {"asciiart", "translations"}


def fortune_de_files():
    d = pkg_path("fortunes-de", FORTUNE_DE_DIR)
    out = []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.endswith(".dat") or name.endswith(".u8") or os.path.islink(path) or name in FORTUNE_DE_SKIP:
            continue
        out.append(("fortunes-de", name, path))
    return out


def fortunes_de(counter):
    docs = []
    for _pkg, name, path in fortune_de_files():
        with open(path, "rb") as f:
            text = decode_mixed(f.read())
        for i, cookie in enumerate(re.split(r"^%$", text, flags=re.M)):
            if not cookie.strip():
                continue
            if not is_language(cookie, "de"):
                counter["paragraphs_not_in_language_dropped"] = counter.get("paragraphs_not_in_language_dropped", 0) + 1
                continue
            docs.append((f"{name}:{i:05d}", cookie))
    return docs
