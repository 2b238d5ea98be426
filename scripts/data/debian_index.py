"""Readers for the Debian indexes fetched by fetch-indexes.sh ($DATA_WORK/indexes/<suite>/)."""
import os

from common import DATA_WORK, control_stanzas, source_name

INDEXES = os.path.join(DATA_WORK, "indexes")


def index_path(suite, name):
    path = os.path.join(INDEXES, suite, name)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: run scripts/data/fetch-indexes.sh first")
    return path


def packages(suite):
    """{package: {"source", "section", "md5", "synopsis"}} from <suite>/Packages (amd64 + all)."""
    out = {}
    for s in control_stanzas(index_path(suite, "Packages"),
                             ("Package", "Source", "Section", "Description-md5", "Description")):
        p = s["package"]
        if p in out:
            continue      # several versions of one package can be listed; the first is enough here
        out[p] = {"source": source_name(s), "section": s.get("section", ""),
                  "md5": s.get("description-md5", ""), "synopsis": s.get("description", "")}
    return out


def translations(suite, lang):
    """[(package, md5, description value)] from <suite>/Translation-<lang>, in file order."""
    field = "description-" + lang
    return [(s["package"], s["description-md5"], s[field])
            for s in control_stanzas(index_path(suite, "Translation-" + lang), ("Package", "Description-md5", "Description-" + lang))
            if field in s and "description-md5" in s]


def source_map(*suites):
    """Binary package -> source package over the given suites (first suite wins)."""
    out = {}
    for suite in suites:
        for p, info in packages(suite).items():
            out.setdefault(p, info["source"])
    return out
