"""Decontamination recall and false removals per kind of edit, and throughput, per mode.

Benchmark items (drawn evenly from the built-in benchmarks) are planted in a real corpus of
other text, each in one form:

- ``verbatim``: the item as it is;
- ``typos``: a character typo (swap, drop, double or replace a letter) in 1 of 8 words;
- ``casing``: random words upper-cased or capitalised, the rest lower-cased;
- ``punctuation``: punctuation removed, doubled or swapped, spacing changed;
- ``substitution``: 10-20 % of the words replaced by random real words;
- ``reordered``: the sentences (or lines) in another order; items of two or more only;
- ``embedded``: the item inside a longer text (corpus rows before and after it);
- ``mixed``: typos, casing, punctuation and 10 % substitutions together, embedded;
- ``paraphrased``: rewritten by the embedded model (SmolLM2-135M-Instruct, temperature 0,
  "Rewrite the following question in different words"); an answer that is empty, repeats
  the item or shares under a third of its words is replaced by the deterministic paraphrase
  (WordNet synonyms for half the content words plus a changed opening); the table says how
  many of each.

The corpus of clean rows is real text already in the package: the 2,000 news headlines,
the 175 Self-Instruct seed tasks, the 30 red-team prompts, the 12 summarisation documents,
the 40 knowledge-graph triples written as sentences and the 40 boltons code seeds (none of
them is a benchmark item). GSM-Symbolic (``gsm_symbolic.jsonl``) is left out: its templates
are GSM8K problems with other names and numbers, which Yang et al. count as contamination.

Recall is the share of planted rows removed; false removals are clean rows removed.
Throughput is measured on the clean corpus repeated to ``--megabytes`` (one process; the
machine's cores are reported), so MB/s per core = MB / seconds / cores used (1 for overlap
and fuzzy; the embedder's threads for semantic).

    python benchmarks/bench_decontaminate.py [--per-benchmark 12] [--semantic-per-kind 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import string
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

from synthaug.curate.benchmarks import BUILTIN, BenchmarkItem, load_benchmark
from synthaug.curate.text import words

DATA = resources.files("synthaug") / "data"
EDITED = ("typos", "casing", "punctuation", "substitution", "reordered", "embedded", "mixed")
KINDS = ("verbatim", *EDITED, "paraphrased")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def clean_corpus() -> list[str]:
    """Real rows of other text shipped in the package (none is a benchmark item)."""
    def jsonl(name: str) -> list[dict]:
        return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]

    rows = [r["text"] for r in jsonl("sarcasm_headlines.jsonl")]
    for task in jsonl("self_instruct_seed_tasks.jsonl"):
        instances = "\n".join(f"{i['input']}\n{i['output']}".strip() for i in task["instances"])
        rows.append(f"{task['instruction']}\n{instances}".strip())
    rows += [r["instruction"] for r in jsonl("red_team_prompts.jsonl")]
    rows += [f"{r['title']}\n\n{r['document']}" for r in jsonl("summarize_documents.jsonl")]
    rows += [f"The {r['relation']} of {r['subject']} is {r['object']}." for r in
             jsonl("kg_triples_sample.jsonl")]  # fmt: skip
    seeds = DATA / "code_seeds"
    rows += [p.read_text() for p in sorted(seeds.iterdir()) if p.name.endswith(".py")]
    return rows


def dictionary() -> list[str]:
    return (DATA / "dale_chall_easy_words.txt").read_text().split()


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(len(word) - 1)
    how = rng.choice(("swap", "drop", "double", "replace"))
    if how == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "drop":
        return word[:i] + word[i + 1 :]
    if how == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]


def _map_words(text: str, change, rate: float, rng: random.Random) -> str:
    """``text`` with each alphabetic word changed by ``change`` with probability ``rate``,
    whitespace kept (so code keeps its lines)."""
    parts = re.split(r"(\s+)", text)
    return "".join(
        change(p, rng) if p.strip() and p[0].isalpha() and rng.random() < rate else p
        for p in parts
    )


def add_typos(text: str, rng: random.Random) -> str:
    return _map_words(text, typo, 1 / 8, rng)


def casing(text: str, rng: random.Random) -> str:
    text = text.lower()
    return _map_words(text, lambda w, r: w.upper() if r.random() < 0.5 else w.title(), 0.3, rng)


def punctuation(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        if ch in ".,;:!?\"'()":
            roll = rng.random()
            out.append("" if roll < 0.5 else ch * 2 if roll < 0.7 else rng.choice(".,;:!?"))
        elif ch == " " and rng.random() < 0.1:
            out.append("  ")
        else:
            out.append(ch)
    return "".join(out)


def substitute(text: str, rng: random.Random, share: float, vocabulary: list[str]) -> str:
    parts = re.split(r"(\s+)", text)
    slots = [i for i, p in enumerate(parts) if p.strip()]
    for i in rng.sample(slots, round(share * len(slots))):
        parts[i] = rng.choice(vocabulary)
    return "".join(parts)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCES.split(text) if s.strip()]


def reorder(text: str, rng: random.Random) -> str:
    parts = sentences(text)
    order = list(range(len(parts)))
    while order == sorted(order):
        rng.shuffle(order)
    joiner = "\n" if "\n" in text.strip() else " "
    return joiner.join(parts[i] for i in order)


def embed_in(text: str, corpus: list[str], rng: random.Random) -> str:
    before = "\n\n".join(rng.sample(corpus, rng.randint(1, 3)))
    after = "\n\n".join(rng.sample(corpus, rng.randint(1, 3)))
    return f"{before}\n\n{text}\n\n{after}"


def edited(kind: str, text: str, rng: random.Random, corpus: list[str], vocab: list[str]) -> str:
    if kind == "verbatim":
        return text
    if kind == "typos":
        return add_typos(text, rng)
    if kind == "casing":
        return casing(text, rng)
    if kind == "punctuation":
        return punctuation(text, rng)
    if kind == "substitution":
        return substitute(text, rng, rng.uniform(0.10, 0.20), vocab)
    if kind == "reordered":
        return reorder(text, rng)
    if kind == "embedded":
        return embed_in(text, corpus, rng)
    if kind == "mixed":
        text = substitute(text, rng, 0.10, vocab)
        return embed_in(punctuation(casing(add_typos(text, rng), rng), rng), corpus, rng)
    raise ValueError(kind)


def sample_items(per_benchmark: int, seed: int) -> list[BenchmarkItem]:
    rng = random.Random(seed)
    chosen = []
    for name in BUILTIN:
        items = [i for i in load_benchmark(name) if len(words(i.text)) >= 8]
        chosen += rng.sample(items, per_benchmark)
    return chosen


def planted(items: list[BenchmarkItem], kinds, corpus, seed: int) -> list[tuple[str, BenchmarkItem, str]]:
    """(kind, item, row) for every item and kind (reordered: items of two sentences or more)."""
    rng, vocab = random.Random(seed), dictionary()
    rows = []
    for kind in kinds:
        for item in items:
            if kind == "reordered" and len(sentences(item.text)) < 2:
                continue
            rows.append((kind, item, edited(kind, item.text, rng, corpus, vocab)))
    return rows
