"""Real-text corpora with controlled edits for the curation tests.

Texts: the 175 Self-Instruct seed tasks (instruction plus instances) and the
80 MT-Bench questions, both shipped in the package.
"""

from __future__ import annotations

import json
import random
import re
from importlib import resources

DATA = resources.files("synthaug") / "data"


def seed_texts() -> list[str]:
    lines = (DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines()
    texts = []
    for task in map(json.loads, lines):
        instances = " ".join(f"{i['input']} {i['output']}" for i in task["instances"])
        texts.append(f"{task['instruction']} {instances}".strip())
    return texts


def mt_bench_texts() -> list[str]:
    lines = (DATA / "benchmarks" / "mt_bench.jsonl").read_text().splitlines()
    return ["\n".join(json.loads(line)["turns"]) for line in lines]


def humaneval_items() -> list[dict]:
    lines = (DATA / "benchmarks" / "humaneval.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


EDITS = ("copy", "case_punct", "insert_word", "delete_word", "replace_two", "append", "truncate")


def edit(text: str, kind: str, rng: random.Random) -> str:
    words = text.split()
    if kind == "copy":
        return text
    if kind == "case_punct":
        return re.sub(r"[.,!?;:]", "", text.upper())
    if kind == "insert_word":
        words.insert(rng.randrange(len(words) + 1), "notably")
    elif kind == "delete_word":
        del words[rng.randrange(len(words))]
    elif kind == "replace_two":
        for _ in range(2):
            words[rng.randrange(len(words))] = rng.choice(["zebra", "quantum", "violet"])
    elif kind == "append":
        words += ["Please", "answer", "briefly", "and", "cite", "your", "sources"]
    elif kind == "truncate":
        words = words[: max(1, int(len(words) * 0.8))]
    return " ".join(words)


def near_dup_corpus(seed: int = 0) -> list[str]:
    """Originals followed by edited copies of a third of them, shuffled."""
    rng = random.Random(seed)
    originals = seed_texts() + mt_bench_texts()
    corpus = list(originals)
    for text in rng.sample(originals, len(originals) // 3):
        corpus.append(edit(text, rng.choice(EDITS), rng))
    rng.shuffle(corpus)
    return corpus


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Ground truth: word n-gram sets, independent of synthaug's hashing."""
    tokens = re.findall(r"\w+", text.lower())
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def true_keep_first_drops(texts: list[str], threshold: float) -> set[int]:
    """Brute force: a document is dropped if an earlier kept one has Jaccard ≥ threshold."""
    sets = [shingles(t) for t in texts]
    kept: list[int] = []
    dropped = set()
    for j, s in enumerate(sets):
        if s and any(jaccard(sets[i], s) >= threshold for i in kept):
            dropped.add(j)
        else:
            kept.append(j)
    return dropped
