"""Impossible Distillation (Jung et al., NAACL 2024, "Impossible Distillation for Paraphrasing
and Summarization: How to Make High-quality Lemonade out of Small, Low-quality Models",
arXiv 2305.16635; code: jaehunjung1/impossible-distillation).

The paper's premise, *paraphrastic proximity*: continuations a small LM (GPT2-XL) writes for
the same context tend to say the same thing, so pairs of them are paraphrase or summary
candidates even though the LM cannot paraphrase on request. Its stage 0 (released
``pipeline/con.py`` and ``pipeline/filter.py``): for a context ``x_l``, sample 100 sentence
continuations (top_p 0.9, temperature 0.5, 100 new tokens, no newlines), keep each one's first
sentence when it is at least 3 characters and ends in ``.``, ``?`` or ``!``; make every pair
of them; keep a pair when (1) its length ratio ``|y_new| / |y_orig|`` (characters) lies in
[0.8, 1.5], (2) an NLI model (roberta-large-wanli) gives entailment ``y_orig => y_new`` and
(3) ``y_new => y_orig`` at least 0.75, (4) the two mention the same numbers and (5) their
ROUGE-L is at most 0.75 (no near copies); then (6) a diversity filter: originals that entail
one another form connected components, one pair (the lowest reverse-entailment score) stays
per component, and the same again over the new sentences. The pairs train a T5 student,
which then proposes pairs itself (self-distillation, stages 1+).

``impossible_distillation.contexts`` takes contexts from real text (sentence prefixes of the
shipped encyclopedia); ``impossible_distillation.pairs`` runs stage 0 for paraphrases and
sentence summaries. What differs here:

- **The judge.** NLI is asked of an LLM (the recipe's, or the named backend ``judge``, so a
  small generator can have a strong judge): a yes/no question per
  direction under a ``yes|no`` grammar, scored as p(yes) / (p(yes) + p(no)) from the first
  token's log-probabilities, against the authors' threshold 0.75; the dedup's "entails" is
  that score above 0.5 (the authors' argmax). An LLM judge works through
  any backend; a roberta NLI model is neither shipped nor an extra here. The embedded 135M
  model is a weak judge (see docs/student.md).
- **Summaries.** The released code builds paraphrases; sentence summaries are pairs whose
  shorter side has at most ``summary_ratio`` (0.7, chosen here: no value was found in the
  released code) of the longer side's characters and is entailed by it (one direction);
  filters (4)-(6) as for paraphrases.
- Cheap filters (length, numbers, ROUGE-L) run before the judge to save calls (all are
  conjunctive, so the kept pairs are the same); numbers are digit strings (the authors
  numerize words with spaCy); sentences are split by punctuation (the authors: spaCy).
- Counts: ``continuations`` 8 (the authors: 100); no self-distillation rounds (train a student
  on the ``messages`` with the project's students, then sample it the same way).

Output: one record per kept pair with ``task`` (paraphrase or summarization), ``context``,
``source``, ``target``, ``nli``, ``reverse_nli`` (summaries: None), ``rouge_l`` and
``messages`` (the authors' student prompt, "Given context, paraphrase the last sentence.").
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io import read_records
from ...llm.types import ChatRequest, Completion, chat
from ...quality.rouge import rouge_l
from ...records import META, derive, source_record
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = (
    "Jung et al., NAACL 2024, Impossible Distillation for Paraphrasing and Summarization "
    "(arXiv 2305.16635)"
)
TAXONOMY = "synthesis / model self-improvement (pairs from a small LM's proximal continuations)"
STAGE = "fine-tuning (paraphrase and summarization pairs)"
BUILTIN_TEXTS = "encyclopedia.jsonl"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
YES_NO = 'root ::= "yes" | "no"'


def split_sentences(text: str) -> list[str]:
    """``text`` split after ``.``, ``!`` or ``?`` followed by a capital, digit or quote."""
    return [s.strip() for s in SENTENCE_END.split(text.strip()) if s.strip()]


def first_line(text: str) -> str:
    """The continuation's first non-empty line (the authors ban newlines while sampling)."""
    return next((line for line in text.splitlines() if line.strip()), "")


def qualifies(sentence: str) -> bool:
    """The authors' test of a continuation: 3+ characters, one line, ends like a sentence."""
    return len(sentence) >= 3 and "\n" not in sentence and sentence[-1] in ".?!"


def same_numbers(a: str, b: str) -> bool:
    """Both sentences mention the same numbers (digit strings)."""
    return set(NUMBER.findall(a)) == set(NUMBER.findall(b))


def p_yes(completion: Completion) -> float:
    """p(yes) / (p(yes) + p(no)) from the first token's top log-probabilities (0 if neither)."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        raise RowError("no_logprobs", "the judge's backend returned no log-probabilities")
    mass = {"yes": 0.0, "no": 0.0}
    for entry in tokens[0].top_logprobs or [
        {"token": tokens[0].token, "logprob": tokens[0].logprob}
    ]:
        word = entry["token"].strip().lower()
        if word in mass:
            mass[word] += math.exp(entry["logprob"])
    total = mass["yes"] + mass["no"]
    return round(mass["yes"] / total, 6) if total > 0 else 0.0


class ContextsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the packaged encyclopedia.jsonl
    format: str = "auto"
    text_column: str = "text"
    sentences: int = Field(2, ge=1)  # sentences of real text in each context prefix
    per_text: int = Field(1, ge=1)  # contexts taken from each text (consecutive prefixes)


@register("impossible_distillation.contexts", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Contexts(SourceStep):
    """Contexts from real text: each text's first ``sentences`` sentences (and longer prefixes)."""

    Params = ContextsParams
    writes = ("context",)
    seed_data: ClassVar[dict[str, str]] = {"path": BUILTIN_TEXTS}

    def path(self) -> str:
        return self.params.path or str(resources.files("synthaug") / "data" / BUILTIN_TEXTS)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        source, number = p.path or BUILTIN_TEXTS, 0
        for text_index, record in enumerate(
            read_records(self.path(), fmt=p.format, required=[p.text_column])
        ):
            parts = split_sentences(str(record[p.text_column]))
            for j in range(min(p.per_text, len(parts) - p.sentences + 1)):
                context = " ".join(parts[: p.sentences + j])
                row = {"context": context, "text_index": text_index}
                if "title" in record:
                    row["title"] = record["title"]
                yield source_record(row, source=source, index=number)
                number += 1


class PairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[Literal["paraphrase", "summarization"]] = ["paraphrase", "summarization"]
    continuations: int = Field(8, ge=2, le=128)  # the authors: 100
    max_tokens: int = Field(100, ge=1)  # the authors' max_new_tokens
    temperature: float = Field(0.5, ge=0, le=2)  # the authors' stage 0
    top_p: float = Field(0.9, gt=0, le=1)  # the authors'
    min_length_ratio: float = Field(0.8, gt=0)  # paraphrases, the authors'
    max_length_ratio: float = Field(1.5, gt=0)  # paraphrases, the authors'
    summary_ratio: float = Field(0.7, gt=0, lt=1)  # summaries: chosen here
    nli_threshold: float = Field(0.75, ge=0, le=1)  # the authors' (both directions)
    max_rouge_l: float = Field(0.75, ge=0, le=1)  # the authors' near-copy filter
    judge: str | None = None  # a recipe's named backend for entailment; None: the recipe's


@register("impossible_distillation.pairs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Pairs(MapStep):
    """Impossible Distillation: continuations of one context paired, filtered, deduplicated."""

    Params = PairsParams
    reads = ("context",)
    writes = ("task", "source", "target", "nli", "reverse_nli", "rouge_l", "messages")
    uses_llm = True
    backend_params = ("judge",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, context = self.params, row["context"]
        llm = ctx.require_llm()
        request = ChatRequest(
            prompt=context.rstrip() + " ", n=p.continuations, temperature=p.temperature,
            top_p=p.top_p, max_tokens=p.max_tokens, seed=ctx.seed(row[META]["id"], "continue"),
        )  # fmt: skip
        choices, requests = await sample(llm, request)
        firsts = (split_sentences(first_line(c.text)) for c in choices)
        ys = list(dict.fromkeys(s[0] for s in firsts if s and qualifies(s[0])))
        if len(ys) < 2:
            raise RowError("few_continuations", f"{len(ys)} usable continuation(s)")
        judge = Judge(ctx.require_llm(p.judge), [])
        found = []
        for task in p.tasks:
            found += [(task, pair) for pair in await self.kept(task, ys, judge)]
        keys = [llm.key(r) for r in requests] + [judge.llm.key(r) for r in judge.requests]
        judged_by = {"judge": judge.llm.backend.describe()} if p.judge else {}
        return [
            derive(row, self.fields(task, context, pair), step=self.name, method=self.method,
                   model=llm.backend.describe(), request=keys, index=j, **judged_by)
            for j, (task, pair) in enumerate(found)
        ]  # fmt: skip

    def candidates(self, task: str, ys: list[str]) -> list[dict[str, Any]]:
        """Ordered pairs (source, target) passing the cheap filters: length, numbers, ROUGE-L."""
        p, out = self.params, []
        for i, j in itertools.permutations(range(len(ys)), 2):
            a, b = ys[i], ys[j]
            if task == "paraphrase":
                fits = i < j and p.min_length_ratio * len(a) <= len(b) <= p.max_length_ratio * len(
                    a
                )
            else:
                fits = len(b) <= p.summary_ratio * len(a)
            score = rouge_l(b, a)
            if fits and same_numbers(a, b) and score <= p.max_rouge_l:
                out.append({"i": i, "j": j, "source": a, "target": b, "rouge_l": round(score, 6)})
        return out

    async def kept(self, task: str, ys: list[str], judge: Judge) -> list[dict[str, Any]]:
        """The pairs of ``task`` that pass the entailment filters and the diversity filter."""
        t = self.params.nli_threshold
        pairs = self.candidates(task, ys)
        await asyncio.gather(*(judge.score(ys[c["i"]], ys[c["j"]]) for c in pairs))
        for c in pairs:
            c["nli"] = judge.known[(c["source"], c["target"])]
        pairs = [c for c in pairs if c["nli"] >= t]
        if task == "paraphrase":
            await asyncio.gather(*(judge.score(c["target"], c["source"]) for c in pairs))
            for c in pairs:
                c["reverse_nli"] = judge.known[(c["target"], c["source"])]
            pairs = [c for c in pairs if c["reverse_nli"] >= t]
        else:
            for c in pairs:
                c["reverse_nli"] = None
        pairs = await diverse(pairs, "i", judge)
        return await diverse(pairs, "j", judge)

    def fields(self, task: str, context: str, pair: dict[str, Any]) -> dict[str, Any]:
        prompt = render(__file__, f"impossible_{task}.j2", context=context, source=pair["source"])
        messages = [{"role": "user", "content": prompt.strip()},
                    {"role": "assistant", "content": pair["target"]}]  # fmt: skip
        keys = ("source", "target", "nli", "reverse_nli", "rouge_l")
        return {"task": task, **{k: pair[k] for k in keys}, "messages": messages}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["task"]: 1}


class Judge:
    """Entailment scores from the LLM, each ordered pair asked once per row."""

    def __init__(self, llm: Any, requests: list[ChatRequest]):
        self.llm, self.requests = llm, requests
        self.known: dict[tuple[str, str], float] = {}

    async def score(self, premise: str, hypothesis: str) -> float:
        key = (premise, hypothesis)
        if key not in self.known:
            request = chat(
                ("user", render(__file__, "impossible_entails.j2",
                                premise=premise, hypothesis=hypothesis).strip()),
                temperature=0, max_tokens=1, grammar=YES_NO, logprobs=True, top_logprobs=20,
            )  # fmt: skip
            self.requests.append(request)
            self.known[key] = p_yes(await self.llm.complete(request))
        return self.known[key]


async def diverse(pairs: list[dict[str, Any]], side: str, judge: Judge) -> list[dict[str, Any]]:
    """The authors' diversity filter on one side (``i``: sources, ``j``: targets): sentences
    that entail one another (score > 0.5) form connected components; per component the pair
    with the lowest reverse-entailment score stays (summaries: the lowest ``nli``)."""
    if len(pairs) <= 1:
        return pairs
    text = {c[side]: c["source" if side == "i" else "target"] for c in pairs}
    ordered = list(itertools.permutations(sorted(text), 2))
    scores = await asyncio.gather(*(judge.score(text[a], text[b]) for a, b in ordered))
    edges = [edge for edge, s in zip(ordered, scores, strict=True) if s > 0.5]
    kept = []
    for component in components(list(text), edges):
        members = [c for c in pairs if c[side] in component]
        kept.append(min(members, key=lambda c: (c["reverse_nli"] or c["nli"], c["i"], c["j"])))
    return sorted(kept, key=lambda c: (c["i"], c["j"]))


def components(nodes: list[int], edges: list[tuple[int, int]]) -> list[set[int]]:
    """Connected components of an undirected graph, ordered by their smallest node."""
    parent = {n: n for n in nodes}

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[int, set[int]] = {}
    for n in nodes:
        groups.setdefault(root(n), set()).add(n)
    return sorted(groups.values(), key=min)
