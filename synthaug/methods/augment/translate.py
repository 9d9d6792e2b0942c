"""Round-trip translation (back-translation) with the LLM itself: Self-Translate (Etxaniz et al.,
2023, "Do Multilingual Language Models Think Better in English?", arXiv 2308.01223) and
back-translation for augmentation (Sennrich, Haddow & Birch, 2016, "Improving Neural Machine
Translation Models with Monolingual Data", ACL).

Self-Translate has the model translate its own input with few-shot translation prompts
(the paper: 4 FLORES-200 demonstrations, greedy decoding) instead of an external MT system.
Back-translation as augmentation translates a text into a pivot language and back, which
rewords it while keeping its meaning (and its label).

``translate.round_trip`` does both directions with the configured model, few-shot
(``demonstrations`` as earlier chat turns, greedy by default), and keeps the round trip
when its similarity to the source (ROUGE-L F1, or MiniLM cosine with ``similarity:
embedding``) is within ``[min_similarity, max_similarity]``: a back-translation that came
back word for word adds nothing, one that drifted too far no longer means the same (the
bounds are ours; neither paper filters). ``mode: forward`` only translates (Self-Translate
proper, or forward translation of data into another language) and keeps every non-empty
translation. Records: ``text`` = the round trip (or the translation in ``forward`` mode),
``original_text``, ``pivot_text``, ``pivot_language``, ``similarity``,
``similarity_metric``, ``kept``, ``rejected_because``; rejected ones are error rows of
that kind unless ``keep_rejected``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ...engine.step import StepContext
from ...llm.types import ChatRequest
from ...records import META
from ..common.steps import TextStep
from ..registry import register
from ..templates import render
from .labelled import (
    FILTER_COLUMNS,
    STAGE,
    SimilarityParams,
    filtered,
    first_line,
    rejection,
    similarities,
    text_of,
)

PAPER = (
    "Etxaniz et al., 2023, Self-Translate (arXiv 2308.01223); "
    "Sennrich et al., 2016, back-translation (ACL)"
)
TAXONOMY = "augmentation / data reformation (back-translation)"

# Hand-written English/French pairs shown as earlier turns (the paper's are from FLORES-200).
DEMONSTRATIONS = [
    {
        "English": "The train to Paris leaves at eight.",
        "French": "Le train pour Paris part à huit heures.",
    },
    {
        "English": "My sister bought a new red bicycle.",
        "French": "Ma sœur a acheté un nouveau vélo rouge.",
    },
    {
        "English": "It rained all day, so we stayed home.",
        "French": "Il a plu toute la journée, alors nous sommes restés à la maison.",
    },
    {
        "English": "The mayor promised to repair the old bridge.",
        "French": "Le maire a promis de réparer le vieux pont.",
    },
]


class RoundTripParams(SimilarityParams):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    mode: Literal["round_trip", "forward"] = "round_trip"
    source_language: str = "English"
    pivot_language: str = "French"
    # pairs of {source_language: ..., pivot_language: ...}; 4 like the paper's few-shot prompt
    demonstrations: list[dict[str, str]] = Field(default_factory=lambda: list(DEMONSTRATIONS))
    temperature: float = Field(0.0, ge=0, le=2)  # Self-Translate decodes greedily
    max_tokens: int = Field(64, ge=4)
    min_similarity: float = Field(0.3, ge=0, le=1)
    max_similarity: float = Field(0.95, ge=0, le=1)


def translation_request(
    text: str, source: str, target: str, shots: list[dict[str, str]], p: RoundTripParams, seed: int
) -> ChatRequest:
    """Few-shot chat: each demonstration as a (request, translation) turn, then ``text``."""
    turns: list[dict[str, str]] = []
    for shot in shots:
        prompt = render(
            __file__, "translate_prompt.j2", source=source, target=target, text=shot[source]
        )
        turns += [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": shot[target]},
        ]
    prompt = render(__file__, "translate_prompt.j2", source=source, target=target, text=text)
    turns.append({"role": "user", "content": prompt})
    return ChatRequest(
        messages=tuple(turns),
        temperature=p.temperature,
        max_tokens=p.max_tokens,
        seed=seed,
    )


@register("translate.round_trip", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class RoundTrip(TextStep):
    """Self-Translate back-translation: to a pivot language and back, kept within similarity bounds."""

    Params = RoundTripParams
    writes = ("pivot_text", "pivot_language", *FILTER_COLUMNS)
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        source = text_of(row, p.text_column)
        llm, row_id = ctx.require_llm(), row[META]["id"]
        src, pivot = p.source_language, p.pivot_language
        shots = [s for s in p.demonstrations if s.get(src) and s.get(pivot)]
        forward = translation_request(source, src, pivot, shots, p, ctx.seed(row_id, "forward"))
        pivot_text = first_line((await llm.complete(forward)).text)
        requests = [forward]
        fields = {"original_text": source, "pivot_text": pivot_text, "pivot_language": pivot}
        if p.mode == "forward":
            reason = None if pivot_text else "empty"
            fields |= {p.text_column: pivot_text, "similarity": None, "similarity_metric": None}
        else:
            back_text = ""
            if pivot_text:
                back = translation_request(
                    pivot_text, pivot, src, shots, p, ctx.seed(row_id, "back")
                )
                requests.append(back)
                back_text = first_line((await llm.complete(back)).text)
            score = similarities(source, [back_text], p.similarity, ctx)[0] if back_text else 0.0
            reason = rejection(source, back_text, score, p)
            fields |= {
                p.text_column: back_text,
                "similarity": score,
                "similarity_metric": p.similarity,
            }
        provenance = {"model": llm.backend.describe(), "request": [llm.key(r) for r in requests]}
        return [filtered(self, row, fields, reason, 0, p.keep_rejected, **provenance)]
