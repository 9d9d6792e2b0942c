"""ChatAug / AugGPT paraphrase augmentation (Dai et al., 2023, "AugGPT: Leveraging ChatGPT for
Text Data Augmentation", arXiv 2302.13007).

AugGPT asks ChatGPT to rephrase each training sentence into several conceptually similar but
differently worded sentences (the paper makes **6** per sentence) that keep the source's
label, and trains the few-shot classifier on the originals plus the rephrasings; it measures
the augmented data's faithfulness by embedding cosine similarity to the source.

``paraphrase.chataug`` samples ``k`` rephrasings of a row's text (one request, ``n = k``
samples at ChatGPT's default temperature 1.0; the paper asks for all six in one chat turn)
and keeps those whose similarity to the source is within ``[min_similarity,
max_similarity]``: close enough to stay faithful, not so close it is a copy. Similarity is
ROUGE-L F1 (``synthaug.quality.rouge``) or, with ``similarity: embedding``, the cosine of
MiniLM sentence embeddings (the paper's measure). The bounds are ours: the paper reports
similarity but filters nothing. Each variant becomes a record with ``text`` = the variant,
``original_text``, ``similarity``, ``similarity_metric``, ``variant_index``, ``kept`` and
``rejected_because``; a rejected one (``empty``, ``identical``, ``duplicate``,
``too_similar``, ``too_dissimilar``) is an error row of that kind, so the summary counts
the reasons, or stays in the output with ``kept: false`` under ``keep_rejected``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ...engine.step import StepContext
from ...llm.types import chat
from ...records import META
from ..common.steps import TextStep
from ..registry import register
from ..templates import render
from .labelled import (
    FILTER_COLUMNS,
    STAGE,
    TAXONOMY,
    SimilarityParams,
    filtered,
    first_line,
    normalized,
    rejection,
    similarities,
    text_of,
)

PAPER = "Dai et al., 2023, AugGPT / ChatAug (arXiv 2302.13007)"


class ChatAugParams(SimilarityParams):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "text"
    kind: str = "news headline"  # what the text is, for the prompt
    k: int = Field(6, ge=1, le=32)  # the paper's 6 rephrasings per sentence
    temperature: float = Field(1.0, ge=0, le=2)  # ChatGPT's default sampling
    max_tokens: int = Field(48, ge=4)


@register("paraphrase.chataug", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class ChatAug(TextStep):
    """AugGPT: k rephrasings per text, kept when their similarity to it is within bounds."""

    Params = ChatAugParams
    writes = ("text", "variant_index", *FILTER_COLUMNS)
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        source = text_of(row, p.text_column)
        llm = ctx.require_llm()
        request = chat(
            ("user", render(__file__, "paraphrase_chataug.j2", kind=p.kind, text=source)),
            n=p.k,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "chataug"),
        )
        reply = await llm.complete(request)
        variants = [first_line(choice.text) for choice in reply.choices]
        scores = similarities(source, variants, p.similarity, ctx)
        provenance = {"model": llm.backend.describe(), "request": [llm.key(request)]}
        seen: set[str] = set()
        out = []
        for i, (variant, score) in enumerate(zip(variants, scores, strict=True)):
            reason = rejection(source, variant, score, p)
            if reason is None and normalized(variant) in seen:
                reason = "duplicate"
            seen.add(normalized(variant))
            fields = {
                p.text_column: variant,
                "original_text": source,
                "similarity": score,
                "similarity_metric": p.similarity,
                "variant_index": i,
            }
            out.append(filtered(self, row, fields, reason, i, p.keep_rejected, **provenance))
        return out
