"""Entity names: a normalised key (so "The ffi_cif", "ffi_cif" and "FFI_CIF." are one entity),
the name shown for a key, and where a name occurs in a text."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

_ARTICLES = {"the", "a", "an"}
_QUOTES = re.compile(r"[\"'`\u2018\u2019\u201c\u201d]")
_EDGE_PUNCT = " \t\n.,;:!?()[]{}"


def entity_key(name: str) -> str:
    """The normalised key of an entity name: NFKC, case-folded, quotes removed, whitespace
    collapsed, punctuation at the ends and a leading article stripped."""
    text = _QUOTES.sub("", unicodedata.normalize("NFKC", name)).casefold()
    words = text.strip(_EDGE_PUNCT).split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words).strip(_EDGE_PUNCT)


def canonical_names(names: Iterable[str]) -> dict[str, str]:
    """Key -> the name shown for it: its most frequent spelling (first seen on ties)."""
    counts: dict[str, Counter[str]] = {}
    for name in names:
        spelled = " ".join(name.split())
        counts.setdefault(entity_key(name), Counter())[spelled] += 1
    return {key: spellings.most_common(1)[0][0] for key, spellings in counts.items() if key}


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the entity ``name`` as whole words (its key or its spelling,
    case-insensitive, whitespace normalised): "int" is not in "pointer"."""
    haystack = " ".join(_QUOTES.sub("", unicodedata.normalize("NFKC", text)).casefold().split())
    key = entity_key(name)
    return bool(key) and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", haystack) is not None


_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*_\w+\b|\b[A-Z][A-Z0-9]{1,}\b")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|the\s+)?[A-Z][a-z]+)*\b")
_WORD = re.compile(r"\b[a-z][a-z-]{4,}\b")


def candidate_entities(text: str, limit: int = 64) -> list[str]:
    """Phrases of ``text`` that may name entities, each verbatim in it, in order of first
    occurrence: code identifiers and all-caps words, runs of capitalised words (one word
    only when it does not open a sentence), and
    lowercase content words (5 letters or more, not stop words) used at least twice."""
    from ..quality.stopwords import EDA

    found: dict[int, str] = {}
    for match in _IDENTIFIER.finditer(text):
        found.setdefault(match.start(), match.group())
    for match in _CAPITALISED.finditer(text):
        before = text[: match.start()].rstrip()
        initial = not before or before[-1] in ".:!?-\n" or text[match.start() - 1] == "\n"
        if " " in match.group() or not initial:  # one capitalised word opening a sentence: no
            found.setdefault(match.start(), match.group())
    words = [m for m in _WORD.finditer(text) if m.group() not in EDA]
    counts = Counter(m.group() for m in words)
    for match in words:
        if counts[match.group()] >= 2:
            found.setdefault(match.start(), match.group())
    names = dict.fromkeys(found[start] for start in sorted(found))
    return [n for n in names if n.casefold() not in EDA][:limit]


def nearest_pair(first: str, second: str, text: str) -> tuple[int, int] | None:
    """``(start, end)`` of the shortest stretch of ``text`` naming both ``first`` and
    ``second`` (case-insensitive, whitespace-tolerant), or None when one is absent."""
    spans = []
    for name in (first, second):
        words = name.split()
        if not words:
            return None
        joined = r"\s+".join(map(re.escape, words))
        pattern = re.compile(rf"(?<!\w){joined}(?!\w)", re.IGNORECASE)
        spans.append([m.span() for m in pattern.finditer(text)])
    if not spans[0] or not spans[1]:
        return None
    return min(
        ((min(a[0], b[0]), max(a[1], b[1])) for a in spans[0] for b in spans[1]),
        key=lambda span: (span[1] - span[0], span[0]),
    )
