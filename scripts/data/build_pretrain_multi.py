#!/usr/bin/env python3
"""Multilingual pre-training corpus (English, German, French): data/pretrain-multi/.

The same pipeline as build_pretrain.py (extract, held-out package filter, paragraph leakage filter, dedupe,
caps, seeded split and order, proportional subset), over:
  English  the English corpus's sources (brown, austen, gutenberg, kjv, jargon, fortunes, wordnet, gcide) and
           debian_desc: bookworm Translation-en descriptions of train-split packages (the tasks' domain);
  German   ddtp_de (DDTP Translation-de of trixie and bookworm, train-split packages only), man_de (manpages-de),
           debref_de (debian-reference-de), handbook_de (debian-handbook de-DE), fortunes_de (fortunes-de);
  French   ddtp_fr, man_fr (manpages-fr), debref_fr, handbook_fr (fr-FR).

Kept out on purpose: gettext catalogues, AppStream metadata and the English man pages (reserved for held-out
evaluation), npm nlp-corpus (see build_pretrain.py), fortunes-de's "translations" file (English/German pairs:
a translation prompt format). Documents are single-language; the English and German/French descriptions of one
package are separate documents placed independently by a seeded hash, never adjacent as pairs.

Language balance: the dictionary sources are capped lower than in the English corpus (GCIDE 5M, WordNet 3M
characters) and German/French training documents are written twice (REPEAT), so that English is about half and
German and French about a quarter each of the training characters; see docs/data.md.
"""
import os

import build_pretrain as bp
import pretrain_sources as ps
import pretrain_sources_l10n as l10n
from common import DATA_OUT, rel

OUT = os.path.join(DATA_OUT, "pretrain-multi")

ENGLISH = ("brown", "austen", "gutenberg", "kjv", "jargon", "fortunes", "debian_desc", "wordnet", "gcide")
GERMAN = ("ddtp_de", "man_de", "debref_de", "handbook_de", "fortunes_de")
FRENCH = ("ddtp_fr", "man_fr", "debref_fr", "handbook_fr")
SOURCES = ENGLISH + GERMAN + FRENCH
LANGUAGE = {**{n: "en" for n in ENGLISH}, **{n: "de" for n in GERMAN}, **{n: "fr" for n in FRENCH}}

# Definitions are dense, repetitive and English-only: half the English corpus's caps leave English at about 60%
# of the characters, with running prose and the tasks' domain (package descriptions) dominating it.
CAPS = {"gcide": 5_000_000, "wordnet": 3_000_000}

# German and French have about a third of English's unique text here; two copies of each of their training
# documents (fortunes_de excepted: jokes, not the tasks' register) bring the mix to about 48% English, 27% German,
# 25% French characters. The model must write German and French, not just read them; a multi-epoch run then sees
# these documents twice as often, well within the repeats that cost little (Muennighoff et al. 2023: up to ~4 epochs).
REPEAT = {name: 2 for name in GERMAN + FRENCH if name != "fortunes_de"}

EXTRACT = {name: (lambda c, name=name: getattr(ps, name)()) for name in ENGLISH if name != "debian_desc"}
EXTRACT.update({
    "man_de": lambda c: l10n.man_pages("de", c),
    "man_fr": lambda c: l10n.man_pages("fr", c),
    "debref_de": lambda c: l10n.html_manual(l10n.DEBREF, "de", c),
    "debref_fr": lambda c: l10n.html_manual(l10n.DEBREF, "fr", c),
    "handbook_de": lambda c: l10n.html_manual(l10n.HANDBOOK, "de", c),
    "handbook_fr": lambda c: l10n.html_manual(l10n.HANDBOOK, "fr", c),
    "fortunes_de": lambda c: l10n.fortunes_de(c),
})
# Translation-{de,fr}: trixie first (the newer translation of a package wins), then bookworm.
DEBIAN = {"debian_desc": ("en", ("bookworm",)),
          "ddtp_de": ("de", ("trixie", "bookworm")), "ddtp_fr": ("fr", ("trixie", "bookworm"))}


def inputs(name):
    root = lambda pkg: ps.pkg_path(pkg)   # noqa: E731
    if name in ENGLISH:
        return bp.input_files(name)
    if name.startswith("man_"):
        return [(pkg, os.path.relpath(path, root(pkg))) for pkg, path in l10n.man_files(name[-2:])]
    if name.startswith("debref_"):
        return [(pkg, os.path.relpath(path, root(pkg))) for pkg, path in l10n.html_files(l10n.DEBREF, name[-2:])]
    if name.startswith("handbook_"):
        return [(pkg, os.path.relpath(path, root(pkg))) for pkg, path in l10n.html_files(l10n.HANDBOOK, name[-2:])]
    if name == "fortunes_de":
        return [(pkg, os.path.relpath(path, root(pkg))) for pkg, _n, path in l10n.fortune_de_files()]
    raise KeyError(name)


NOTES = dict(bp.CONTENT_NOTE)
NOTES.update({
    "ddtp_de": "Debian Description Translation Project (DDTP) German translations; each description belongs to its "
               "package's debian/control, under that package's debian/copyright",
    "ddtp_fr": "Debian Description Translation Project (DDTP) French translations; each description belongs to its "
               "package's debian/control, under that package's debian/copyright",
    "man_de": "German translations of man pages (manpages-de, po4a); page text only: verbatim blocks, tables, the "
              "translators' section and untranslated (English) paragraphs dropped",
    "man_fr": "French translations of man pages (manpages-fr, po4a); as man_de",
    "debref_de": "Debian Reference (Osamu Aoki), German translation, HTML chapters: paragraphs, lists and headings; "
                 "code blocks, tables and untranslated paragraphs dropped",
    "debref_fr": "Debian Reference, French translation; as debref_de",
    "handbook_de": "The Debian Administrator's Handbook (Hertzog, Mas), German translation, HTML; as debref_de",
    "handbook_fr": "The Debian Administrator's Handbook, French translation, HTML; as debref_de",
    "fortunes_de": "German fortune cookies (fortunes-de); the asciiart and translations (English/German pairs) files left out",
})

MULTI = bp.Spec(
    out=OUT, sources=SOURCES, extract=EXTRACT, debian=DEBIAN, caps=CAPS, language=LANGUAGE, inputs=inputs,
    content_note=NOTES, stats_name="pretrain-multi", target_grams=True, packages_file="debian-packages.txt",
    subset_bytes=8_000_000, subset_valid_bytes=500_000, repeat=REPEAT,
    description="Tailor multilingual (en, de, fr) pre-training corpus; built by scripts/data/build_pretrain_multi.py. "
                "Counts are after cleaning, leakage removal, dedupe and caps.")


if __name__ == "__main__":
    bp.build(MULTI)
    print(f"wrote {rel(OUT)}")
