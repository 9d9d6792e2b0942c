"""Heuristic quality filters with their published default thresholds.

- ``gopher_quality`` and ``gopher_repetition``: Rae et al. 2021 (Gopher, MassiveText), App. A.
- ``c4``: Raffel et al. 2020 (T5, C4): lines without terminal punctuation, with
  fewer than 3 words, mentioning JavaScript or cookie/terms policies are
  removed; the document is dropped if fewer than 5 sentences remain, or it
  contains "lorem ipsum" or a curly bracket.
- ``fineweb``: Penedo et al. 2024 (FineWeb) custom filters.
- ``length``: word-count bounds; ``language``: py3langid (ships its model).

Each rule returns ``None`` to keep a text or a reason such as
``gopher_quality:mean_word_length`` to drop it; ``c4`` may also rewrite it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..quality import stopwords

TERMINAL = (".", "!", "?", '"', "'", "”", "’")
_PUNCT_TOKEN = re.compile(r"^\W+$")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_TOP_NGRAM = {2: 0.20, 3: 0.18, 4: 0.16}
_DUP_NGRAM = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


@dataclass(frozen=True)
class Outcome:
    reason: str | None
    text: str


def _tokens(text: str) -> list[str]:
    return [t for t in text.split() if not _PUNCT_TOKEN.match(t)]


def gopher_quality(text: str) -> str | None:
    tokens = _tokens(text)
    n = len(tokens)
    if not 50 <= n <= 100_000:
        return "word_count"
    mean = sum(len(t) for t in tokens) / n
    if not 3 <= mean <= 10:
        return "mean_word_length"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / n > 0.1:
        return "symbol_word_ratio"
    lines = [line for line in text.splitlines() if line.strip()]
    if (
        lines
        and sum(line.lstrip().startswith(("•", "-", "*")) for line in lines) / len(lines) > 0.9
    ):
        return "bullet_lines"
    if lines and sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines) > 0.3:
        return "ellipsis_lines"
    if sum(any(c.isalpha() for c in t) for t in tokens) / n < 0.8:
        return "alphabetic_words"
    if len(stopwords.GOPHER & {t.lower() for t in tokens}) < 2:
        return "stop_words"
    return None


def _duplicate_share(parts: list[str]) -> tuple[float, float]:
    """Share of parts that repeat an earlier part, and share of characters in them."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        seen.add(part)
    total = sum(len(p) for p in parts)
    return count / max(len(parts), 1), chars / max(total, 1)


def gopher_repetition(text: str) -> str | None:
    lines = [line for line in text.split("\n") if line.strip()]
    paragraphs = [p for p in re.split(r"\n{2,}", text) if p.strip()]
    line_share, line_chars = _duplicate_share(lines)
    para_share, para_chars = _duplicate_share(paragraphs)
    if para_share > 0.3:
        return "duplicate_paragraphs"
    if para_chars > 0.2:
        return "duplicate_paragraph_chars"
    if line_share > 0.3:
        return "duplicate_lines"
    if line_chars > 0.2:
        return "duplicate_line_chars"
    words = text.split()
    total = sum(len(w) for w in words) or 1
    for n, limit in _TOP_NGRAM.items():
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        if grams:
            gram, count = grams.most_common(1)[0]
            if count > 1 and sum(len(w) for w in gram) * count / total > limit:
                return f"top_{n}gram"
    for n, limit in _DUP_NGRAM.items():
        if _duplicated_ngram_chars(words, n) / total > limit:
            return f"duplicate_{n}grams"
    return None


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
    """Characters of words covered by n-grams that occur more than once (no overlap counted twice)."""
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c)


def c4(text: str) -> Outcome:
    lowered = text.lower()
    if "lorem ipsum" in lowered:
        return Outcome("lorem_ipsum", text)
    if "{" in text:
        return Outcome("curly_bracket", text)
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        low = stripped.lower()
        if (
            not stripped.endswith(TERMINAL)
            or len(stripped.split()) < 3
            or "javascript" in low
            or any(p in low for p in _C4_POLICY)
        ):
            continue
        kept.append(stripped)
    cleaned = "\n".join(kept)
    if len(_SENTENCE_END.findall(cleaned)) < 5:
        return Outcome("too_few_sentences", cleaned)
    return Outcome(None, cleaned)


def fineweb(text: str) -> str | None:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return "empty"
    if sum(line.rstrip().endswith(TERMINAL) for line in lines) / len(lines) < 0.12:
        return "line_punctuation"
    if sum(len(line) < 30 for line in lines) / len(lines) > 0.67:
        return "short_lines"
    _, dup_chars = _duplicate_share(lines)
    if dup_chars > 0.01:
        return "duplicate_line_chars"
    words = text.split()
    if text.count("\n") / max(len(words), 1) > 0.3:
        return "newline_ratio"
    return None


@dataclass
class LengthBounds:
    min_words: int = 1
    max_words: int = 100_000

    def __call__(self, text: str) -> str | None:
        n = len(_tokens(text))
        if n < self.min_words:
            return "too_short"
        return "too_long" if n > self.max_words else None


@dataclass
class Language:
    """Keep texts whose identified language is allowed with probability ≥ ``min_probability``."""

    allowed: tuple[str, ...] = ("en",)
    min_probability: float = 0.65  # FineWeb's fastText threshold
    _identifier: object = field(default=None, repr=False)

    def __call__(self, text: str) -> str | None:
        if self._identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        language, probability = self._identifier.classify(text)  # type: ignore[attr-defined]
        if language not in self.allowed:
            return f"language_{language}"
        return "language_uncertain" if probability < self.min_probability else None


RULES = ("gopher_quality", "gopher_repetition", "c4", "fineweb", "length", "language")
DEFAULT_RULES = ("language", "gopher_repetition", "gopher_quality", "fineweb")  # FineWeb's order


class QualityFilter:
    """Apply the chosen rules in order; the first that fails names the reason."""

    def __init__(
        self,
        rules: tuple[str, ...] = DEFAULT_RULES,
        length: LengthBounds | None = None,
        language: Language | None = None,
    ):
        unknown = set(rules) - set(RULES)
        if unknown:
            raise ValueError(
                f"unknown rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}"
            )
        checks: dict[str, Callable[[str], str | None]] = {
            "gopher_quality": gopher_quality,
            "gopher_repetition": gopher_repetition,
            "fineweb": fineweb,
            "length": length or LengthBounds(),
            "language": language or Language(),
        }
        self.rules = rules
        self._checks = checks

    def __call__(self, text: str) -> Outcome:
        for rule in self.rules:
            if rule == "c4":
                outcome = c4(text)
                if outcome.reason:
                    return Outcome(f"c4:{outcome.reason}", outcome.text)
                text = outcome.text
                continue
            reason = self._checks[rule](text)
            if reason:
                return Outcome(f"{rule}:{reason}", text)
        return Outcome(None, text)
