"""Text normalisation, word tokens, and stable 64-bit hashes of word n-grams."""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")
_PUNCTUATION = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class Normalization:
    """Which differences a text key ignores."""

    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    nfkc: bool = True

    def apply(self, text: str) -> str:
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = _PUNCTUATION.sub("", text)
        if self.collapse_whitespace:
            text = " ".join(text.split())
        return text


_ASCII_SEPARATORS = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")}
)


def words(text: str) -> list[str]:
    """Lower-cased NFKC ``\\w+`` tokens; punctuation and whitespace are separators."""
    if text.isascii():  # the same tokens, several times faster than the regex
        return text.lower().translate(_ASCII_SEPARATORS).split()
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _odd_constants(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**63, size=count, dtype=np.uint64) * 2 + 1


class NGramHasher:
    """Stable 64-bit hashes of word n-grams, vectorised over whole batches.

    Each distinct word is hashed once (blake2b) and remembered; an n-gram's
    hash is a position-weighted sum of its words' hashes modulo 2**64, so
    "a b" and "b a" differ. The same text gives the same hashes in every run.
    """

    def __init__(self, n: int):
        self.n = n
        self.weights = _odd_constants(n, seed=n)
        self._index: dict[str, int] = {}
        self._hashes = np.zeros(1024, dtype=np.uint64)

    def word_ids(self, tokens: list[str]) -> np.ndarray:
        index = self._index
        new = sorted(set(tokens).difference(index))
        if new:
            start = len(index)
            index.update(zip(new, range(start, start + len(new)), strict=True))
            self._extend(start, new)
        return np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))

    def _extend(self, start: int, new: list[str]) -> None:
        if start + len(new) > len(self._hashes):
            grown = np.zeros(max(start + len(new), 2 * len(self._hashes)), dtype=np.uint64)
            grown[: len(self._hashes)] = self._hashes
            self._hashes = grown
        self._hashes[start : start + len(new)] = [
            int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            for w in new
        ]

    def hashes(self, tokens: list[str]) -> np.ndarray:
        """The n-gram hashes of one token list; a text shorter than n is one n-gram."""
        return self.batch([tokens])[0]

    def batch(self, token_lists: list[list[str]]) -> list[np.ndarray]:
        """N-gram hashes for many token lists at once (one array per list)."""
        flat = self.word_hashes(list(itertools.chain.from_iterable(token_lists)))
        return self.grams(flat, [len(tokens) for tokens in token_lists])

    def word_hashes(self, tokens: list[str]) -> np.ndarray:
        """The 64-bit hash of each word (the same in every hasher, whatever its n)."""
        ids = self.word_ids(tokens)  # first: it may grow the table
        return self._hashes[ids]

    def grams(self, flat: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
        """N-gram hashes of texts given by their words' hashes laid end to end
        (``word_hashes``) and their lengths in words; one array per text."""
        n = self.n
        count = max(len(flat) - n + 1, 0)
        grams = np.zeros(count, dtype=np.uint64)
        for j in range(n if count else 0):
            grams += flat[j : j + count] * self.weights[j]
        out: list[np.ndarray] = []
        start = 0
        for length in lengths:
            if length >= n:
                out.append(grams[start : start + length - n + 1])
            elif length:
                out.append(
                    np.array(
                        [(flat[start : start + length] * self.weights[:length]).sum()],
                        dtype=np.uint64,
                    )
                )
            else:
                out.append(np.zeros(0, dtype=np.uint64))
            start += length
        return out


def row_text(row: dict, columns: list[str]) -> str:
    """The text a curation operation looks at: the columns' values, one per line."""
    parts = []
    for column in columns:
        value = row.get(column)
        if isinstance(value, list):
            parts.extend(map(str, value))
        elif value is not None:
            parts.append(str(value))
    return "\n".join(parts)
