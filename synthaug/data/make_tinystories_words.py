"""Build ``tinystories_words.json``: the Dale–Chall easy words split into nouns, verbs, adjectives.

Run once, at build time, where Debian's ``wordnet-base`` is installed
(``apt-get install wordnet-base``; WordNet 3.0 index files in /usr/share/wordnet):

    python synthaug/data/make_tinystories_words.py

Each base-form word goes to the part of speech whose WordNet senses are most
often tagged in the SemCor corpus (``tagsense_cnt``; ties: more senses, then
noun > verb > adjective). Words used mostly as adverbs, closed-class words,
numerals and inflected forms (``ate``, ``boxes``, ``bigger``) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
HERE = Path(__file__).parent
NOTICE = (
    "Words: the Dale-Chall easy-word list from textstat 0.7.13 (MIT). Parts of speech: "
    "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. WordNet is "
    "provided as is, without warranties; see synthaug/data/LICENSES.md for its licence."
)
PARTS = {"noun": "nouns", "verb": "verbs", "adj": "adjectives"}
CLOSED_CLASS = {
    *("a", "all", "another", "any", "both", "be", "each", "either", "every", "few", "many"),
    *("more", "most", "much", "neither", "no", "none", "other", "same", "several", "some"),
    *("such", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "twenty", "hundred", "thousand", "first", "second", "third"),
}
# WordNet's detachment rules (morphy): an inflected form minus its ending is a list word.
ENDINGS = [
    ("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
    ("men", "man"), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
    ("ing", "e"), ("ing", ""), ("er", ""), ("est", ""), ("er", "e"), ("est", "e"),
]  # fmt: skip


def counts(part: str) -> dict[str, tuple[int, int]]:
    """``lemma -> (tagged sense count, sense count)`` from one WordNet index file.

    A lemma whose first (most frequent) sense is a proper name (``April``) counts as unseen.
    """
    data = (WORDNET / f"data.{part}").read_bytes()
    out = {}
    for line in (WORDNET / f"index.{part}").read_text().splitlines():
        if line.startswith(" "):
            continue
        fields = line.split()
        pointers = int(fields[3])
        first = int(fields[6 + pointers])
        synset = data[first : data.index(b"\n", first)].decode().split()
        names = synset[4 : 4 + 2 * int(synset[3], 16) : 2]
        proper = fields[0] not in {name.split("(")[0] for name in names}  # afraid(p)
        out[fields[0]] = (0 if proper else int(fields[5 + pointers]), int(fields[4 + pointers]))
    return out


def inflected(word: str, vocabulary: set[str], exceptions: set[str]) -> bool:
    if word in exceptions:
        return True
    return any(
        word.endswith(end) and word[: -len(end)] + base in vocabulary - {word}
        for end, base in ENDINGS
    )


def main() -> None:
    words = (HERE / "dale_chall_easy_words.txt").read_text().split()
    vocabulary = set(words)
    exceptions = {
        line.split()[0]
        for part in ("noun", "verb", "adj")
        for line in (WORDNET / f"{part}.exc").read_text().splitlines()
    }
    index = {part: counts(part) for part in (*PARTS, "adv")}
    split: dict[str, list[str]] = {name: [] for name in PARTS.values()}
    for word in words:
        if word in CLOSED_CLASS or inflected(word, vocabulary, exceptions):
            continue
        found = [(index[p][word], -rank, p) for rank, p in enumerate(index) if word in index[p]]
        if not found or max(found)[0][0] == 0 or max(found)[2] == "adv":
            continue
        split[PARTS[max(found)[2]]].append(word)
    out = {"notice": NOTICE, **split}
    (HERE / "tinystories_words.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
