#!/usr/bin/env python3
"""Tests of the German/French extractors and of the prompt-format check (stdlib unittest; no downloads).

Run: python3 scripts/data/test_l10n.py   (also the first step of build-all.sh's `check` stage)
"""
import importlib.util
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pretrain_sources_l10n as l10n  # noqa: E402


def load_check_splits():
    spec = importlib.util.spec_from_file_location("check_splits", os.path.join(HERE, "check-splits.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAN = r""".\" -*- coding: UTF-8 -*-
.\" This file was generated with po4a.
.de XX
.  ft B
..
.TH LS 1 "September 2022" "GNU coreutils 9.1" "Dienstprogramme für Benutzer"
.SH BEZEICHNUNG
ls \- Verzeichnisinhalte auflisten
.SH ÜBERSICHT
\fBls\fP [\fI\,OPTION\/\fP]… [\fI\,DATEI\/\fP]…
.SH BESCHREIBUNG
.PP
Auflistung von Informationen über die DATEIen \(em sortiert, falls
weder \fB\-cftuvSUX\fP noch \fB\-\-sort\fP angegeben wurden.
.TP
\fB\-a\fP, \fB\-\-all\fP
Einträge nicht ignorieren, die mit ».« beginnen
.nf
ls \-la /tmp
.fi
.TS
l l.
Spalte	Wert
.TE
.PP
Siehe
.BR dir (1)
und die Datei \[u00E4]nderung.
.SH ÜBERSETZUNG
Die deutsche Übersetzung dieser Handbuchseite wurde von Jemandem erstellt.
"""


class ManPages(unittest.TestCase):
    def test_renders_the_prose_of_a_page_and_drops_code_tables_and_macros(self):
        title, sections = l10n.man_page(MAN)
        self.assertEqual(title, "LS")
        text = [p for _, p in sections]
        self.assertIn("ls - Verzeichnisinhalte auflisten", text)
        self.assertIn("Auflistung von Informationen über die DATEIen — sortiert, falls weder -cftuvSUX noch --sort "
                      "angegeben wurden.", text)
        self.assertIn("-a, --all Einträge nicht ignorieren, die mit ».« beginnen", text)
        self.assertIn("Siehe dir(1) und die Datei änderung.", text)
        joined = "\n".join(text)
        for absent in ("ls -la /tmp", "Spalte", "ft B", "po4a", "coding"):
            self.assertNotIn(absent, joined)

    def test_the_translators_section_is_labelled_so_that_it_can_be_dropped(self):
        _, sections = l10n.man_page(MAN)
        dropped = [p for s, p in sections if s in l10n.MAN_SKIP_SECTIONS["de"]]
        self.assertTrue(any("Übersetzung dieser Handbuchseite" in p for p in dropped))
        self.assertTrue(any(p.startswith("ls [OPTION]") for p in dropped))   # the synopsis: command syntax


class Language(unittest.TestCase):
    def test_a_translated_paragraph_is_kept_and_an_untranslated_one_dropped(self):
        self.assertTrue(l10n.is_language("Dieses Paket enthält die Dateien, die für den Server benötigt werden.", "de"))
        self.assertFalse(l10n.is_language("This package contains the files that are needed for the server.", "de"))
        self.assertTrue(l10n.is_language("Ce paquet contient les fichiers pour le serveur et la base de données.", "fr"))
        self.assertFalse(l10n.is_language("This package contains the files that are needed for the server.", "fr"))

    def test_the_counter_records_what_the_language_filter_dropped(self):
        counter = {}
        kept = l10n.keep_language(["Das ist nicht schlimm.", "This is the English text of it."], "de", counter)
        self.assertEqual(kept, ["Das ist nicht schlimm."])
        self.assertEqual(counter["paragraphs_not_in_language_dropped"], 1)


class Html(unittest.TestCase):
    def test_paragraphs_lists_and_headings_are_kept_and_code_tables_navigation_dropped(self):
        page = ("<html><head><title>T</title></head><body><div class='navheader'>Zurück Weiter</div>"
                "<h2>Kapitel 1. Einführung</h2><p>Ein <em>erster</em>\n Absatz &amp; mehr.</p>"
                "<ul><li><p>Punkt eins</p></li><li>Punkt zwei</li></ul><pre class='screen'>$ ls -la</pre>"
                "<table><tr><td>Paket</td><td>Größe</td></tr></table><p>Schluss.</p></body></html>")
        self.assertEqual(l10n.html_paragraphs(page),
                         ["Kapitel 1. Einführung", "Ein erster Absatz & mehr.", "Punkt eins", "Punkt zwei", "Schluss."])


class Formats(unittest.TestCase):
    def test_language_labelled_pairs_and_translation_template_phrases_are_reported_as_leaks(self):
        cs = load_check_splits()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.write(json.dumps({"source": "x", "text": "Englisch:\n  may be useful\nDeutsch:\n  ist nutzlos"}) + "\n")
                f.write(json.dumps({"source": "x", "text": "Please translate from English to German: the cat"}) + "\n")
                f.write(json.dumps({"source": "x", "text": "German: a language. Nothing else is labelled here."}) + "\n")
            cs.check_formats("test", [path])
        self.assertEqual(sorted(cs.failures), ["test d/train.jsonl: documents with two language-labelled lines"
                                                .replace("d/", os.path.basename(d) + "/"),
                                                "test d/train.jsonl: translation template phrases found"
                                                .replace("d/", os.path.basename(d) + "/")])

    def test_the_fortune_file_of_english_german_pairs_is_never_read(self):
        self.assertIn("translations", l10n.FORTUNE_DE_SKIP)


if __name__ == "__main__":
    unittest.main(verbosity=1)
