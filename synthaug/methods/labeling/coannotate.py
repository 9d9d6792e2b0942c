"""``coannotate.allocate``: CoAnnotating's split of annotation work between an LLM and humans
(Li et al., 2023, EMNLP, arXiv 2310.15638). Deterministic; no model call.

CoAnnotating asks the LLM each item under several prompt variants, takes the majority vote
as the LLM's label and the **entropy** of the variants' labels (−Σ p log2 p) as its
uncertainty; the most certain items go to the LLM and the rest to humans. Its alternative
uncertainty is *self-evaluation*, the model's verbalized confidence. Here ``by`` lists the
measures, read from ``label.llm``'s columns: ``entropy`` (``label_entropy``, bits) and
``self_evaluation`` (1 − ``label_stated_confidence`` / 100, needs ``ask_confidence``). The
first measure is written as ``uncertainty``; later ones break its ties when ranking.

Allocation: with ``budget`` (an integer: that many items; a float in [0, 1]: that share of
the items, rounded half up) the most uncertain items go to ``human`` (ties in every measure by
record id) and the rest to ``llm``; otherwise an item goes to ``human`` when its uncertainty
exceeds ``threshold``. The 0.8 default is the entropy threshold of CoAnnotating's
qualitative study (its notebook also looks at 0.2 and at 0-1 in steps of 0.2; its budgets
give the LLM 20, 40, 60 or 80% of the items). With 5 variants, a 4-1 vote (0.72 bits) stays
with the LLM and a 3-2 vote (0.97 bits) goes to humans. Rows without the measure's column
are error rows, ``no_uncertainty``. ``synthaug label-report FILE --gold gold`` prints the counts
of each part and the LLM's accuracy on it. CoAnnotating's Pareto-front choice among
strategies and the downstream fine-tuning are left to the user.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import StepContext, WholeStep
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register

PAPER = "Li et al., 2023, CoAnnotating (arXiv 2310.15638)"
TAXONOMY = "synthesis / data labeling (human-LLM collaborative annotation)"
STAGE = "labeling (classification data)"
Measure = Literal["entropy", "self_evaluation"]
DEFAULT_THRESHOLD = 0.8  # CoAnnotating's notebook (qualitative study)


def uncertainty_of(row: dict[str, Any], measure: Measure) -> float | None:
    """The row's uncertainty under ``measure``, or None when its column is missing."""
    if measure == "entropy":
        value = row.get("label_entropy")
        return float(value) if _is_number(value) else None
    stated = row.get("label_stated_confidence")
    return round(1 - float(stated) / 100, 6) if _is_number(stated) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def human_count(n: int, budget: int | float) -> int:
    """How many of ``n`` items a budget sends to humans (a float is a share, rounded half up)."""
    count = budget if isinstance(budget, int) else math.floor(budget * n + 0.5)
    return min(count, n)


def allocate(
    keys: list[tuple[float, ...]],
    ids: list[str],
    threshold: float | None = None,
    budget: int | float | None = None,
) -> list[str]:
    """``"llm"`` or ``"human"`` per item from its uncertainty ``keys`` (first: the measure)."""
    if budget is None:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        return ["human" if key[0] > limit else "llm" for key in keys]
    ranked = sorted(range(len(keys)), key=lambda i: (tuple(-k for k in keys[i]), ids[i]))
    humans = set(ranked[: human_count(len(keys), budget)])
    return ["human" if i in humans else "llm" for i in range(len(keys))]


class AllocateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: list[Measure] = Field(default_factory=lambda: ["entropy"], min_length=1)
    threshold: float | None = Field(None, ge=0)  # None (and no budget): 0.8
    budget: int | float | None = None  # humans: an item count, or a share in [0, 1]

    @model_validator(mode="after")
    def _one_rule(self) -> AllocateParams:
        if self.threshold is not None and self.budget is not None:
            raise ValueError("give threshold or budget, not both")
        if isinstance(self.budget, float) and not 0 <= self.budget <= 1:
            raise ValueError("a float budget is a share of the items, in [0, 1]")
        if isinstance(self.budget, int) and self.budget < 0:
            raise ValueError("budget must be at least 0")
        if len(set(self.by)) != len(self.by):
            raise ValueError("by: each measure once")
        return self


@register("coannotate.allocate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Allocate(WholeStep):
    """CoAnnotating: send the most uncertain LLM labels to humans (entropy or self-evaluation)."""

    Params = AllocateParams
    reads = ("label",)
    writes = ("allocated_to", "uncertainty")

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        kept, keys = [], []
        async for row in rows:
            key = [uncertainty_of(row, m) for m in p.by]
            if None in key:
                missing = p.by[key.index(None)]
                message = f"no {missing} uncertainty (run label.llm first"
                message += ", with ask_confidence)" if missing == "self_evaluation" else ")"
                yield dropped(self, row, "no_uncertainty", message, 0)
                continue
            kept.append(row)
            keys.append(tuple(float(k) for k in key))
        ids = [str(row[META]["id"]) for row in kept]
        for row, key, part in zip(
            kept, keys, allocate(keys, ids, p.threshold, p.budget), strict=True
        ):
            fields = {"allocated_to": part, "uncertainty": key[0]}
            yield derive(row, fields, step=self.name, method=self.method)
