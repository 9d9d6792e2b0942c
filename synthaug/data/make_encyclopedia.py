"""Build ``encyclopedia.jsonl``, the text the built-in ``lookup`` tool searches: the lead
sections (the text before the first heading) of English Wikipedia articles, as plain text.

Run once at build time (not at run time)::

    pip download --no-deps -d /tmp gensim==4.4.0
    pip install mwparserfromhell==0.7.2
    python synthaug/data/make_encyclopedia.py /tmp/gensim-4.4.0-*.whl

Source: the shortened English Wikipedia dump gensim ships for its tests,
``gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``
(read out of the wheel as a zip file; nothing of gensim is imported). Kept: the first
``COUNT`` articles of the main namespace that are not redirects and whose lead has at least
``MIN_CHARS`` characters; wikicode stripped with ``mwparserfromhell`` (templates, references,
files and tables dropped; links kept as their text), whitespace normalised, the lead cut at a
sentence end after ``MAX_CHARS``. Each row keeps the page's title, id and revision id, the
attribution that CC BY-SA asks for (``url`` names the exact revision and its history).
"""

from __future__ import annotations

import bz2
import json
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import mwparserfromhell

MEMBER = (
    "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
)
COUNT, MIN_CHARS, MAX_CHARS = 60, 400, 1500
OUT = Path(__file__).with_name("encyclopedia.jsonl")
DROP_TAGS = ("ref", "gallery", "math", "table")


def lead_text(wikitext: str) -> str:
    """The lead section as plain text."""
    code = mwparserfromhell.parse(re.split(r"^==", wikitext, maxsplit=1, flags=re.M)[0])
    for template in code.filter_templates(recursive=False):
        code.remove(template)
    for tag in code.filter_tags(recursive=False):
        if str(tag.tag).lower() in DROP_TAGS:
            code.remove(tag)
    for link in code.filter_wikilinks(recursive=False):
        if str(link.title).split(":")[0].lower() in ("file", "image", "category"):
            code.remove(link)
    text = code.strip_code(normalize=True, collapse=True)
    text = re.sub(r"\{\|.*?\|\}", " ", text, flags=re.S)  # tables left by the parser
    text = " ".join(text.split())
    text = re.sub(r" ?\((?: ?[,;])? ?(?:years ago)?\)", "", text)  # emptied by removed templates
    text = re.sub(r"\( ?(?:[,;] ?)+", "(", text)
    if len(text) > MAX_CHARS:
        end = text.find(". ", MAX_CHARS)
        text = text[: end + 1] if end > 0 else text
    return text


def pages(data: bytes):
    """(title, id, revision id, wikitext) of each main-namespace article, redirects left out."""
    for _, element in ET.iterparse(__import__("io").BytesIO(data)):
        if not element.tag.endswith("}page"):
            continue
        ns = "{" + element.tag[1:].split("}")[0] + "}"
        redirect = element.find(ns + "redirect") is not None
        text = element.findtext(f"{ns}revision/{ns}text") or ""
        if element.findtext(ns + "ns") == "0" and not redirect and not text.startswith("#"):
            yield (element.findtext(ns + "title"), element.findtext(ns + "id"),
                   element.findtext(f"{ns}revision/{ns}id"), text)  # fmt: skip
        element.clear()


def main(wheel: str) -> None:
    data = bz2.decompress(zipfile.ZipFile(wheel).read(MEMBER))
    rows = []
    for title, page_id, revision, wikitext in pages(data):
        text = lead_text(wikitext)
        if len(text) >= MIN_CHARS:
            url = f"https://en.wikipedia.org/w/index.php?oldid={revision}"
            rows.append({"title": title, "text": text, "page_id": int(page_id),
                         "revision": int(revision), "url": url})  # fmt: skip
        if len(rows) == COUNT:
            break
    with OUT.open("w", encoding="utf-8") as sink:
        for row in rows:
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} articles -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
