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
- ``paraphrased``: a deterministic paraphrase (WordNet synonyms for half of the content words,
  the sentences rotated so the question comes first, an opening phrase), for every item;
- ``paraphrased (model)``: rewritten by the embedded model (SmolLM2-135M-Instruct, greedy,
  "Rewrite the following question in different words. Keep its meaning."), for two items per
  benchmark; a reply that is empty, repeats the item or keeps under a third of its words is
  left out (the 135M model often changes the question's numbers or answers it instead, which
  is why the deterministic paraphrase is the main measure).

The corpus of clean rows is real text already in the package: the 2,000 news headlines,
the 175 Self-Instruct seed tasks, the 30 red-team prompts, the 12 summarisation documents,
the 40 knowledge-graph triples written as sentences and the 40 boltons code seeds (none of
them is a benchmark item). GSM-Symbolic (``gsm_symbolic.jsonl``) is left out: its templates
are GSM8K problems with other names and numbers, which Yang et al. count as contamination.

Recall is the share of planted rows where a hit names the planted item; false removals are
clean rows with any hit. Semantic mode embeds every item of the eight built-in benchmarks
(all-MiniLM-L6-v2, read from the request cache after the first run) and judges with the
embedded model; it runs on 32 planted rows of four kinds and on every clean row, and its
table shows recall and false removals by cosine threshold with and without the judge.
Throughput: overlap and fuzzy over the clean corpus repeated to ``--megabytes``, substring
(HumanEval, MBPP and GSM8K, as in the OSS-Instruct recipe) over an eighth of it, semantic over
the last 400 clean rows without the cache (model loading excluded). One process; MB/s per core
is MB over the process's CPU seconds.

    python benchmarks/bench_decontaminate.py [--per-benchmark 12] [--semantic-sample 32]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import random
import re
import string
import time
from importlib import resources
from pathlib import Path

from synthaug.curate.benchmarks import BUILTIN, BenchmarkItem, load_benchmark
from synthaug.curate.text import words

DATA = resources.files("synthaug") / "data"
EDITED = ("typos", "casing", "punctuation", "substitution", "reordered", "embedded", "mixed")
KINDS = ("verbatim", *EDITED, "paraphrased")
SEMANTIC_KINDS = ("verbatim", "mixed", "paraphrased", "paraphrased (model)")
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
        change(p, rng) if p.strip() and p[0].isalpha() and rng.random() < rate else p for p in parts
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


def planted(
    items: list[BenchmarkItem], kinds, corpus, seed: int
) -> list[tuple[str, BenchmarkItem, str]]:
    """(kind, item, row) for every item and kind (reordered: items of two sentences or more)."""
    rng, vocab = random.Random(seed), dictionary()
    rows = []
    for kind in kinds:
        for item in items:
            if kind == "reordered" and len(sentences(item.text)) < 2:
                continue
            rows.append((kind, item, edited(kind, item.text, rng, corpus, vocab)))
    return rows


_STOP = frozenset(
    [
        "about",
        "after",
        "again",
        "also",
        "among",
        "because",
        "been",
        "before",
        "being",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "during",
        "each",
        "from",
        "have",
        "having",
        "here",
        "into",
        "itself",
        "more",
        "most",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "what",
        "when",
        "where",
        "which",
        "while",
        "whom",
        "with",
        "would",
        "your",
    ]
)


def deterministic_paraphrase(text: str, rng: random.Random) -> str:
    """Half of the content words (four letters or more, not stop words) swapped for a WordNet
    synonym, the sentences rotated so the last (usually the question) comes first, and an
    opening phrase: the meaning stays, few word n-grams do."""
    from synthaug.methods.augment import wordnet

    def swap(word: str, rng: random.Random) -> str:
        core = word.strip(string.punctuation)
        if len(core) < 4 or core.lower() in _STOP or not core.isalpha():
            return word
        options = [
            s.replace("_", " ") for s in wordnet.synonyms(core.lower()) if s.lower() != core.lower()
        ]
        return word.replace(core, rng.choice(options)) if options else word

    text = _map_words(text, swap, 0.5, rng)
    parts = sentences(text)
    if len(parts) > 1:
        parts = parts[-1:] + parts[:-1]
    opening = rng.choice(("Here is a question: ", "Consider this. ", "A task for you: "))
    return opening + " ".join(parts)


def model_paraphrases(items: list[BenchmarkItem], cache) -> tuple[list[str | None], str]:
    """The embedded model's paraphrase of each item (None where it fails the checks)."""
    from synthaug.llm.client import LLMClient
    from synthaug.llm.local import LocalBackend
    from synthaug.llm.types import chat

    async def run() -> tuple[list[str | None], str]:
        backend = LocalBackend(parallel=4)
        await backend.start()
        client = LLMClient(backend, cache)
        prompt = "Rewrite the following question in different words. Keep its meaning.\n\n"
        requests = [
            chat(
                ("user", prompt + item.text),
                temperature=0.0,
                seed=0,
                max_tokens=min(400, 2 * len(item.text.split()) + 32),
            )
            for item in items
        ]
        replies = await asyncio.gather(*(client.complete(r) for r in requests))
        await backend.close()
        out = []
        for item, reply in zip(items, replies, strict=True):
            text = reply.choices[0].text.strip()
            mine, theirs = set(words(item.text)), set(words(text))
            keeps = len(mine & theirs) / max(1, len(mine))
            out.append(text if text and text != item.text and keeps >= 1 / 3 else None)
        return out, backend.describe()

    return asyncio.run(run())


def recall_table(rows, removed: dict[str, set[int]]) -> dict[str, dict[str, str]]:
    """Per kind, per mode: planted rows whose own item was found / planted rows."""
    table: dict[str, dict[str, str]] = {}
    for mode, found in removed.items():
        for kind in dict.fromkeys(k for k, _, _ in rows):
            mine = [i for i, (k, _, _) in enumerate(rows) if k == kind]
            hit = sum(i in found for i in mine)
            table.setdefault(kind, {})[mode] = f"{hit}/{len(mine)} ({100 * hit / len(mine):.1f} %)"
    return table


def own_item_found(rows, results) -> set[int]:
    """Indices of planted rows where a contaminated hit names the planted item."""
    return {
        i
        for i, ((_, item, _), hits) in enumerate(zip(rows, results, strict=True))
        if any(
            h.contaminated and (h.benchmark, h.item_id) == (item.benchmark, item.item_id)
            for h in hits
        )
    }


def timed(check, texts: list[str], batch: int = 1024) -> tuple[list, float, float]:
    """Results, CPU seconds and wall seconds of ``check`` over ``texts`` in batches."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = []
    for start in range(0, len(texts), batch):
        out += check(texts[start : start + batch])
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    from synthaug.curate.decontaminate import Decontaminator, SubstringDecontaminator
    from synthaug.curate.fuzzy import FuzzyDecontaminator
    from synthaug.curate.llm_decontaminator import SemanticDecontaminator
    from synthaug.llm.cache import RequestCache, default_cache_path
    from synthaug.llm.client import LLMClient
    from synthaug.llm.embeddings import MiniLM
    from synthaug.llm.local import LocalBackend
    from synthaug.methods.curation.filters import DecontaminateParams

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-benchmark", type=int, default=12, help="items planted per benchmark")
    parser.add_argument("--model-paraphrases", type=int, default=2, help="per benchmark")
    parser.add_argument("--semantic-sample", type=int, default=32, help="planted rows per kind")
    parser.add_argument("--megabytes", type=float, default=8.0, help="clean text timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--semantic-benchmarks", default=",".join(BUILTIN), help="indexed by the semantic mode"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="request cache (default: ~/.cache)"
    )
    args = parser.parse_args()

    corpus = clean_corpus()
    items = sample_items(args.per_benchmark, args.seed)
    rows = planted(items, ("verbatim", *EDITED), corpus, args.seed + 1)
    rng = random.Random(args.seed + 2)
    rows += [("paraphrased", item, deterministic_paraphrase(item.text, rng)) for item in items]
    cache = RequestCache(args.cache or default_cache_path())
    per = args.model_paraphrases
    chosen = [item for k in range(0, len(items), args.per_benchmark) for item in items[k : k + per]]
    texts, engine = model_paraphrases(chosen, cache)
    kept = [(item, text) for item, text in zip(chosen, texts, strict=True) if text]
    rows += [("paraphrased (model)", item, text) for item, text in kept]
    every = load_benchmarks_all()
    print(f"benchmarks: {len(every)} items ({', '.join(BUILTIN)}); planted rows: {len(rows)}; "
          f"clean rows: {len(corpus)} ({sum(len(c.encode()) for c in corpus) / 1e6:.2f} MB)")  # fmt: skip
    print(f"model paraphrases: {len(kept)} of {len(chosen)} usable ({engine})")

    planted_texts = [text for _, _, text in rows]
    removed: dict[str, set[int]] = {}
    false: dict[str, set[int]] = {}
    speed: dict[str, tuple[float, float, float]] = {}
    repeat = max(1, round(args.megabytes * 1e6 / sum(len(c.encode()) for c in corpus)))
    bulk = [f"{text} ({copy})" for copy in range(repeat) for text in corpus]
    megabytes = sum(len(t.encode()) for t in bulk) / 1e6
    lexical = {
        "overlap": Decontaminator(every),
        "fuzzy": FuzzyDecontaminator(every),
    }
    for mode, detector in lexical.items():
        results, _, _ = timed(detector.check, planted_texts)
        removed[mode] = own_item_found(rows, results)
        clean_results, _, _ = timed(detector.check, corpus)
        false[mode] = {i for i, r in enumerate(clean_results) if r}
        _, cpu, wall = timed(detector.check, bulk)
        speed[mode] = (megabytes, cpu, wall)
    subset = load_benchmarks_named(("humaneval", "mbpp", "gsm8k"))
    substring = SubstringDecontaminator(subset)
    part = bulk[: len(bulk) // 8]
    _, cpu, wall = timed(substring.check, part)
    speed["substring (HumanEval+MBPP+GSM8K)"] = (
        sum(len(t.encode()) for t in part) / 1e6,
        cpu,
        wall,
    )

    # semantic: a sample of each kind (one judge call per candidate), and every clean row
    sample_rng = random.Random(args.seed + 3)
    sample = []
    for kind in SEMANTIC_KINDS:
        mine = [i for i, (k, _, _) in enumerate(rows) if k == kind]
        sample += sorted(sample_rng.sample(mine, min(args.semantic_sample, len(mine))))
    embedder = MiniLM(cache=cache)
    started = time.perf_counter()
    semantic_items = load_benchmarks_named(args.semantic_benchmarks.split(","))
    semantic = SemanticDecontaminator(semantic_items, embedder, cache, min_similarity=0.5)
    index_seconds = time.perf_counter() - started

    async def judged(texts: list[str], cached: bool = True) -> list[list]:
        """The judged candidates of ``texts``; timed (CPU and wall, model loading excluded)
        into ``clock``."""
        backend = LocalBackend(parallel=4)
        await backend.start()
        client = LLMClient(backend, cache if cached else None)
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            out = await semantic.check(client, texts)
            clock[:] = [time.process_time() - cpu, time.perf_counter() - wall]
            return out
        finally:
            await backend.close()

    clock: list[float] = []

    sample_rows = [rows[i] for i in sample]
    sample_texts = [text for _, _, text in sample_rows]
    with_judge = asyncio.run(judged(sample_texts + corpus))  # every candidate at cosine >= 0.5

    def at(tau: float, judge: bool) -> tuple[set[int], set[int]]:
        """Planted rows found and clean rows removed, judging candidates at ``tau`` or above
        (or, without a judge, removing them)."""
        results = [
            [
                h if judge else dataclasses.replace(h, contaminated=True)
                for h in hits
                if h.similarity >= tau and (h.contaminated or not judge)
            ]
            for hits in with_judge
        ]
        found = {sample[i] for i in own_item_found(sample_rows, results[: len(sample)])}
        return found, {i for i, r in enumerate(results[len(sample) :]) if r}

    semantic_table = {
        (tau, judge): at(tau, judge) for tau in (0.5, 0.6, 0.7, 0.8) for judge in (True, False)
    }
    default = DecontaminateParams.model_fields["min_similarity"].default
    name = f"semantic (judge, cosine >= {default:g})"
    removed[name], false[name] = semantic_table[(default, True)]
    timing_rows = corpus[-400:]  # the longer rows: seed tasks, documents, code
    semantic.cache = None  # time real embeddings and model calls, not cache reads
    asyncio.run(judged([f"{t} (timing)" for t in timing_rows], cached=False))
    speed[name] = (sum(len(t.encode()) for t in timing_rows) / 1e6, *clock)
    union = "all (overlap | fuzzy | semantic)"
    removed[union] = removed["overlap"] | removed["fuzzy"] | removed[name]
    false[union] = false["overlap"] | false["fuzzy"] | false[name]

    kinds = list(dict.fromkeys(k for k, _, _ in rows))
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("\nrecall (planted rows whose own item was found); semantic on a sample per kind:")
    modes = list(removed)
    print("| kind | " + " | ".join(modes) + " |")
    print("|---" * (len(modes) + 1) + "|")
    for kind in kinds:
        cells = []
        for mode in modes:
            mine = [i for i, (k, _, _) in enumerate(rows) if k == kind]
            if mode.startswith(("semantic", "all")):  # sampled
                if kind not in SEMANTIC_KINDS:
                    cells.append("-")
                    continue
                mine = [i for i in mine if i in set(sample)]
            hit = sum(i in removed[mode] for i in mine)
            cells.append(f"{hit}/{len(mine)} ({100 * hit / max(1, len(mine)):.0f} %)")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print(f"\nfalse removals among {len(corpus)} clean rows:")
    for mode, removed_clean in false.items():
        print(f"- {mode}: {len(removed_clean)}")
    print("\nsemantic mode by cosine threshold (sampled planted rows; all clean rows):")
    print("| cosine >= | judge | " + " | ".join(SEMANTIC_KINDS) + " | false removals |")
    print("|---" * (len(SEMANTIC_KINDS) + 3) + "|")
    for (tau, judge), (found, removed_clean) in semantic_table.items():
        cells = []
        for kind in SEMANTIC_KINDS:
            mine = [i for i in sample if rows[i][0] == kind]
            hit = sum(i in found for i in mine)
            cells.append(f"{hit}/{len(mine)} ({100 * hit / max(1, len(mine)):.0f} %)")
        label = "SmolLM2-135M" if judge else "none"
        print(f"| {tau:g} | {label} | " + " | ".join(cells) + f" | {len(removed_clean)} |")
    print("\nthroughput (one process; MB/s per core = MB / CPU seconds):")
    for mode, (mb, cpu, wall) in speed.items():
        print(f"- {mode}: {mb:.2f} MB, {cpu:.2f} s CPU, {wall:.2f} s wall: "
              f"{mb / cpu:.4g} MB/s per core, {mb / wall:.4g} MB/s wall")  # fmt: skip
    print(
        f"- semantic index: {len(semantic_items)} items embedded or read from the cache in {index_seconds:.1f} s"
    )


def load_benchmarks_all() -> list[BenchmarkItem]:
    return load_benchmarks_named(tuple(BUILTIN))


def load_benchmarks_named(names) -> list[BenchmarkItem]:
    return [item for name in names for item in load_benchmark(name)]


if __name__ == "__main__":
    main()
