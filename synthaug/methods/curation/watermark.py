"""``watermark.detect``: the Kirchenbauer et al. (2023) watermark test as a curation filter."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...curate.text import row_text
from ...curate.watermark import detect, load_tokenizer
from ...engine.step import MapStep, StepContext
from ...llm.watermark import GAMMA, HASH_KEY, Z_THRESHOLD
from ...records import META
from ..registry import register

PAPER = "Kirchenbauer et al., 2023, A Watermark for Large Language Models (arXiv 2301.10226)"


class DetectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    tokenizer: str | None = None  # a GGUF file or model folder; None: the embedded model
    gamma: float = Field(GAMMA, gt=0, lt=1)  # the paper: 0.25
    key: int = HASH_KEY  # the authors' hash key
    z_threshold: float = Z_THRESHOLD  # the paper: 4
    # flag: keep every row; drop: drop watermarked rows; keep: keep only watermarked rows
    action: Literal["flag", "drop", "keep"] = "flag"


@register(
    "watermark.detect", taxonomy="curation / provenance (watermark)", stage="any", paper=PAPER
)
class Detect(MapStep):
    """Watermark z-score of each row's text (green-list test); flag, drop or keep watermarked rows.

    The score goes to ``_meta.watermark``: ``tokens_scored``, ``green_tokens``,
    ``green_fraction``, ``z_score`` and ``watermarked`` (z above ``z_threshold``). The tokenizer
    must be the generating model's; ``gamma`` and ``key`` the generator's.
    """

    Params = DetectParams

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self._loading = asyncio.Lock()

    def input_columns(self) -> set[str]:
        return set(self.params.columns)

    async def _tokenizer(self) -> Any:
        async with self._loading:  # loaded once, off the event loop (the first rows wait)
            return await asyncio.to_thread(load_tokenizer, self.params.tokenizer)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        tokenizer = await self._tokenizer()
        found = detect(row_text(row, p.columns), tokenizer, p.gamma, p.key, p.z_threshold)
        if (p.action == "drop" and found["watermarked"]) or (
            p.action == "keep" and not found["watermarked"]
        ):
            return []
        return [{**row, META: {**row[META], "watermark": found}}]
