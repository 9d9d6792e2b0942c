"""Math pre-training corpus steps: a web crawl source, Minerva formatting, DeepSeekMath mining,
Proof-Pile-2 filters. The algorithms and what each differs from its paper are in
:mod:`synthaug.curate.math_html`, :mod:`synthaug.curate.math_mining` and
:mod:`synthaug.curate.proof_pile`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...curate import math_html, math_mining
from ...curate.math_html import minerva_text
from ...curate.math_mining import FastTextConfig, MiningConfig, mine
from ...curate.proof_pile import code_reason, web_reason
from ...engine.step import MapStep, SourceStep, StepContext, WholeStep
from ...errors import InputError
from ...io import count_records, read_records
from ...records import source_record
from ..registry import register

log = logging.getLogger(__name__)
PAGES = "math_web_pages.jsonl"
SEED = "math_seed.jsonl"
STAGE = "pre-training"
DEEPSEEKMATH = "Shao et al. 2024, DeepSeekMath (arXiv 2402.03300), §2.1"
MINERVA = "Lewkowycz et al. 2022, Minerva (arXiv 2206.14858), §2"
LLEMMA = "Azerbayev et al. 2023, Llemma / Proof-Pile-2 (arXiv 2310.10631); Paster et al. 2023"


def packaged(name: str) -> str:
    return str(resources.files("synthaug") / "data" / name)


class PagesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the packaged crawl (math_web_pages.jsonl)
    format: str = "auto"


@register("math_web.pages", taxonomy="I/O", stage=STAGE, paper="-")
class Pages(SourceStep):
    """Web pages (``url``, ``html``); default: the packaged small crawl of 136 pages."""

    Params = PagesParams
    writes = ("url", "html")
    seed_data: ClassVar[dict[str, str]] = {"path": PAGES}

    def path(self) -> str:
        return self.params.path or packaged(PAGES)

    def expected_rows(self) -> int | None:
        return count_records(self.path(), fmt=self.params.format)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        records = read_records(self.path(), fmt=self.params.format, required=["url", "html"])
        for index, record in enumerate(records):
            yield source_record(record, source=self.params.path or PAGES, index=index)


class MinervaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    html_column: str = "html"
    text_column: str = "text"
    keep_html: bool = False


@register("minerva.format", taxonomy="curation / extraction", stage=STAGE, paper=MINERVA)
class MinervaFormat(MapStep):
    """HTML to text that keeps the page's math as LaTeX (MathJax, MathML, TeX images).

    Pages without main text are dropped.
    """

    Params = MinervaParams

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        math_html.require()

    def input_columns(self) -> set[str]:
        return {self.params.html_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        columns = input_columns | {self.params.text_column}
        return columns if self.params.keep_html else columns - {self.params.html_column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = minerva_text(row[p.html_column])
        if not text.strip():
            return []
        out = {**row, p.text_column: text}
        if not p.keep_html:
            out.pop(p.html_column)
        return [out]


class MiningParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    url_column: str = "url"
    seed_path: str | None = None  # None: the packaged seed corpus (math_seed.jsonl)
    seed_column: str = "text"
    rounds: int = Field(4, ge=1)
    domain_share: float = Field(0.10, ge=0, lt=1)
    path_share: float = Field(0.5, gt=0, le=1)
    min_score: float = Field(0.5, gt=0, lt=1)
    budget_words: int | None = Field(None, ge=1)
    negative_ratio: float = Field(1.0, gt=0)
    stop_overlap: float = Field(0.98, gt=0, le=1)
    dim: int = Field(256, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(3, ge=1)
    min_count: int = Field(3, ge=1)
    epochs: int = Field(3, ge=1)
    bucket: int = Field(2_000_000, ge=1)


@register(
    "deepseekmath.mine", taxonomy="curation / domain data mining", stage=STAGE, paper=DEEPSEEKMATH
)
class DeepSeekMathMine(WholeStep):
    """Keep the crawl's math pages found by DeepSeekMath's iterative fastText mining.

    Each kept row gets ``math_score`` (the last classifier's P(math)) and ``mining_round``
    (the first round that collected it); rows come out best first. The per-round counts
    (positives, recalled, math domains, annotated pages) are logged.
    """

    Params = MiningParams
    writes = ("math_score", "mining_round")
    seed_data: ClassVar[dict[str, str]] = {"seed_path": SEED}

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        math_mining.require()

    def input_columns(self) -> set[str]:
        return {self.params.text_column, self.params.url_column}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"collected_in_round_{row['mining_round']}": 1}

    def config(self) -> MiningConfig:
        p = self.params
        fasttext = FastTextConfig(p.dim, p.lr, p.word_ngrams, p.min_count, p.epochs, p.bucket)
        return MiningConfig(p.rounds, p.domain_share, p.path_share, p.min_score,
                            p.budget_words, p.negative_ratio, p.stop_overlap, fasttext)  # fmt: skip

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        held = [row async for row in rows]
        if not held:
            return
        path = p.seed_path or packaged(SEED)
        seeds = [str(r[p.seed_column]) for r in read_records(path, required=[p.seed_column])]
        if not seeds:
            raise InputError(path, "no seed texts")
        texts = [str(row[p.text_column]) for row in held]
        urls = [str(row[p.url_column]) for row in held]
        result = await asyncio.to_thread(mine, texts, urls, seeds, self.config(), ctx.seed("mine"))
        for stats in result.rounds:
            log.info("%s round %s: %s", self.name, stats.round, asdict(stats))
        for i in result.collected:
            yield {**held[i], "math_score": round(result.scores[i], 6),
                   "mining_round": result.first_round[i]}  # fmt: skip


class ProofPileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["code", "web"] = "web"
    text_column: str = "text"
    path_column: str = "path"  # code: the file's path (its extension picks the rules)


@register("proof_pile.filter", taxonomy="curation / quality filtering", stage=STAGE, paper=LLEMMA)
class ProofPileFilter(MapStep):
    """Drop rows failing Proof-Pile-2's rules: AlgebraicStack code files, or web math markup.

    ``kind: code`` reads the file's text and path (its extension picks the rules); ``kind:
    web`` keeps text that carries TeX math.
    """

    Params = ProofPileParams

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.text_column, p.path_column} if p.kind == "code" else {p.text_column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        text = str(row[p.text_column])
        reason = (
            code_reason(text, str(row[p.path_column])) if p.kind == "code" else web_reason(text)
        )
        return [] if reason else [row]
