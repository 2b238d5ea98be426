#!/usr/bin/env python3
"""Print "<uri> <keyring>" for the Debian main archive configured on this machine.

Reads /etc/apt/sources.list.d/*.sources (deb822) and *.list plus /etc/apt/sources.list, and picks the
first entry that serves the bare suite of this release (e.g. "bookworm"), so the repository never names
a mirror. Exits non-zero with a hint when none is found.
"""
import glob
import os
import re
import sys

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def codename():
    with open("/etc/os-release", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "bookworm"


def deb822_entries(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split(), fields.get("signed-by", DEFAULT_KEYRING)


def one_line_entries(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if not m:
                continue
            opts = m.group(1) or ""
            k = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
            yield m.group(2), [m.group(3)], (k.group(1).rstrip("]") if k else DEFAULT_KEYRING)


def main():
    suite = codename()
    files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    lists = sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + ["/etc/apt/sources.list"]
    for path in files:
        for uri, suites, key in deb822_entries(path):
            if suite in suites:
                print(uri.rstrip("/"), key)
                return 0
    for path in lists:
        if not os.path.exists(path):
            continue
        for uri, suites, key in one_line_entries(path):
            if suite in suites:
                print(uri.rstrip("/"), key)
                return 0
    print(f"apt_mirror: no apt source for suite '{suite}' in /etc/apt; configure the Debian archive first", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
