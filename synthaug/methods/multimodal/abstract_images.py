"""Abstract images with computed answers, after Multimodal Self-Instruct (Zhang et al., 2024,
"Multimodal Self-Instruct: Synthetic Abstract Image and Visual Reasoning Instruction Using
Language Model", arXiv 2407.07053).

The paper has an LLM propose a visual idea (charts, tables, flowcharts, road maps, dashboards,
geometry, puzzles...), write the code that draws it, and write questions with reasoned answers
about it. Here synthaug's own generators (``synthaug.media.abstract``) make the figure: tables
(totals, largest entry), flowcharts (the value coming out of a chain of operations), route maps
on grids (fewest moves from S to G, by breadth-first search) and geometry figures (hypotenuse,
area, perimeter); each record's answer is computed from the figure's spec and kept as
``abstract_image`` evidence that ``synthaug verify`` re-makes from the kind and the seed.
Differences: no model is involved (the ideas, the drawings and the questions are scripted, so
the variety is that of the four generators); answers are the final values without the paper's
step-by-step rationales; dashboards, puzzles and the other paper scenarios are not made.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...engine.step import SourceStep, StepContext
from ...io.images import ImageStore
from ...media import abstract
from ...records import META, record_id
from ...verify.evidence import abstract_verdict
from ..registry import register

PAPER = "Zhang et al., 2024, Multimodal Self-Instruct (arXiv 2407.07053)"
TAXONOMY = "augmentation / non-LLM generation (multimodal, computed answers)"
STAGE = "instruction tuning (multimodal)"


class AbstractParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(100, ge=1, description="images to make")
    kinds: list[str] = Field(default_factory=lambda: list(abstract.KINDS))

    @field_validator("kinds")
    @classmethod
    def _known(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(abstract.KINDS))
        if unknown or not kinds:
            raise ValueError(
                f"unknown kinds {unknown or '(none)'}; use {', '.join(abstract.KINDS)}"
            )
        return kinds


@register("abstract_images.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SourceStep):
    """Tables, flowcharts, route maps and geometry figures drawn by code, answers computed.

    Output columns: ``figure``, ``spec``, ``image``, ``question``, ``answer``, ``messages``,
    ``verification``."""

    Params = AbstractParams
    params: AbstractParams
    writes = ("figure", "spec", "image", "question", "answer", "messages", "verification")

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext):
        store, kinds = ImageStore.beside(ctx.output), self.params.kinds
        for slot in range(self.params.count):
            kind, seed = kinds[slot % len(kinds)], ctx.seed(slot)
            evidence = abstract_verdict(kind, seed)
            question, answer = evidence["question"], evidence["answer"]
            record: dict[str, Any] = {
                "figure": kind,
                "spec": evidence["spec"],
                "image": store.put(abstract.draw(evidence["spec"])) if ctx.keeps(slot) else None,
                "question": question,
                "answer": answer,
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ],
                "verification": evidence,
            }
            record[META] = {"id": record_id(self.name, slot), "parents": [], "step": self.name,
                            "method": self.method, "seed": seed}  # fmt: skip
            yield record

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["figure"]: 1}
