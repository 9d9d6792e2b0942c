"""Generic record variants: "make N variants of this record under these constraints".

Not one paper's method but the common core of LLM reformation (paraphrase, style or
attribute rewriting; Wang et al., 2024, "A Survey on Data Synthesis and Augmentation for
Large Language Models", arXiv 2410.12896, section on data reformation). ``variants.generate``
shows the model the record (``fields`` to vary plus ``context`` fields shown but kept) and
the ``constraints`` (free-text rules from the recipe), and decodes the reply under a JSON
schema: an object whose ``variants`` array holds exactly ``n`` objects with the chosen
fields as strings (``max_length`` characters at most). Each variant becomes a record with
those fields replaced, ``variant_of`` (the original values), ``variant_index``, ``kept``
and ``rejected_because``; a variant equal to the record or to an earlier variant is an
error row (``identical``, ``duplicate``) unless ``keep_rejected``, and a reply that does
not parse (cut off by ``max_tokens``) makes the row an ``unparseable_variants`` error.

Constraints are only asked for, not checked: add a filter or judge step for the ones that
matter.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .labelled import STAGE, filtered, normalized

PAPER = "Wang et al., 2024, survey of data synthesis and augmentation (arXiv 2410.12896)"
TAXONOMY = "augmentation / data reformation (constrained variants)"


def variants_schema(fields: list[str], n: int, max_length: int) -> dict[str, Any]:
    """``{"variants": [n objects with ``fields``, each a string]}``."""
    item = object_schema(
        {f: {"type": "string", "minLength": 1, "maxLength": max_length} for f in fields}
    )
    return object_schema(
        {"variants": {"type": "array", "items": item, "minItems": n, "maxItems": n}}
    )


def parse_variants(text: str, fields: list[str]) -> list[dict[str, str]] | None:
    """The reply's variants (objects with every field a string), or None when it is not."""
    variants = json_object(text).get("variants")
    if not isinstance(variants, list) or not variants:
        return None
    if not all(
        isinstance(v, dict) and all(isinstance(v.get(f), str) for f in fields) for v in variants
    ):
        return None
    return [{f: v[f] for f in fields} for v in variants]


class VariantsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    context: list[str] = Field(default_factory=list)  # shown to the model, never changed
    n: int = Field(3, ge=1, le=20)
    constraints: list[str] = Field(default_factory=list)
    max_length: int = Field(200, ge=1)  # characters per field value
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)
    keep_rejected: bool = False


@register("variants.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """N variants of each record's chosen fields under free-text constraints (JSON schema)."""

    Params = VariantsParams
    writes = ("variant_of", "variant_index", "kept", "rejected_because")
    uses_llm = True

    def input_columns(self) -> set[str]:
        return set(self.params.fields) | set(self.params.context)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        original = {f: "" if row.get(f) is None else str(row[f]) for f in p.fields}
        shown = {**{c: row.get(c) for c in p.context}, **original}
        prompt = render(
            __file__,
            "variants_prompt.j2",
            n=p.n,
            fields=p.fields,
            constraints=p.constraints,
            record=json.dumps(shown, ensure_ascii=False),
        )
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            json_schema=variants_schema(p.fields, p.n, p.max_length),
            seed=ctx.seed(row[META]["id"], "variants"),
        )
        llm = ctx.require_llm()
        reply = await llm.complete(request)
        variants = parse_variants(reply.text, p.fields)
        if variants is None:
            message = "the variants reply is not a complete JSON object"
            return [
                dropped(
                    self,
                    row,
                    "unparseable_variants",
                    message,
                    "none",
                    {"variants_reply": reply.text},
                )
            ]
        provenance = {"model": llm.backend.describe(), "request": [llm.key(request)]}
        key = lambda values: tuple(normalized(values[f]) for f in p.fields)  # noqa: E731
        seen = {key(original)}
        out = []
        for i, variant in enumerate(variants):
            reason = None
            if key(variant) == key(original):
                reason = "identical"
            elif key(variant) in seen:
                reason = "duplicate"
            seen.add(key(variant))
            fields = {**variant, "variant_of": original, "variant_index": i}
            out.append(filtered(self, row, fields, reason, i, p.keep_rejected, **provenance))
        return out
