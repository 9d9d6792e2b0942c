"""MetaCritique: precision, recall and F1 of a critique over atomic information units (Sun
et al., 2024, "The Critique of Critique", arXiv 2401.04518; the authors' code,
GAIR-NLP/MetaCritique).

MetaCritique scores a critique of a model-generated answer against a reference answer and a
reference critique (both GPT-4's):

1. **AIU extraction**: the critique, and the reference critique, are split into **atomic
   information units** (check-worthy claims, one fine-grained unit each, self-contained).
2. **Precision** (factuality): each AIU of the critique is verified against the question,
   the model-generated answer and the reference answer (the question is always right, the
   answer least reliable); precision = the share verified true.
3. **Recall** (comprehensiveness): each AIU of the reference critique is verified against
   the critique under evaluation (is it stated or implied there?); recall = the share true.
4. **F1** = the harmonic mean (0 when either is 0). Each verification writes its reasoning
   first (the rationale) and ends "Therefore, the claim is true/false"; a reply stating
   neither counts as not true (the authors' ``cls_post_process``). The benchmark's Meta-P,
   Meta-R and Meta-F1 are the means over items (``cal_meta_scores.py``).

``metacritique.write`` writes the texts MetaCritique needs: ``kind: answer`` the reference
answer, ``kind: critique`` a critique of the row's response (the critique under evaluation
from one backend, the reference critique from another), into ``column``, greedily
(``temperature`` samples a critic). ``metacritique.score`` runs steps 1-4: row field
``metacritique`` = ``{"precision", "recall", "f1", "critique_aius": [{"claim", "true",
"rationale"}], "reference_aius": [...]}``; a critique with no AIU is an error row
``no_aius``. The run summary's ``counts`` of the score step hold ``scored`` (rows scored)
and ``precision_x1e4``, ``recall_x1e4``, ``f1_x1e4`` (the rows' scores times 10^4, summed:
integers, so a resumed or sharded run adds up to the same totals); ``meta_scores`` turns them
into the dataset's Meta-P, Meta-R and Meta-F1.

Faithful: the four stages, what each verification sees, temperature 0 (the authors'
config), the counting rule and F1. Different: the prompts are paraphrases with one few-shot
example (the authors give four), AIUs are returned as a JSON list under a schema (the
authors parse lines) capped at ``max_aius``, and each verification is decoded under a
grammar (one reasoning line, then the verdict sentence) so a small model always answers in
form. The authors' extractor and verifier are GPT-4.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, object_schema
from ...records import META
from ..common.parsing import json_reply
from ..registry import register
from ..templates import render
from .common import prompt_text

PAPER = "Sun et al., 2024, The Critique of Critique / MetaCritique (arXiv 2401.04518)"
TAXONOMY = "curation / critique evaluation (AIU-level precision, recall and F1)"
STAGE = "preference alignment (critique data)"
VERDICT = "\nTherefore, the claim is "


def f1_score(precision: float, recall: float) -> float:
    """The harmonic mean; 0 when either is 0."""
    return 0.0 if precision == 0 or recall == 0 else 2 / (1 / precision + 1 / recall)


SCORES = ("precision", "recall", "f1")
SCALE = 10_000  # the labels' scores have 4 decimals


def meta_scores(counts: dict[str, int]) -> dict[str, float]:
    """Meta-P, Meta-R and Meta-F1 (the means over scored rows, as ``cal_meta_scores.py``)
    from the score step's summed ``counts``; empty when no row was scored."""
    scored = counts.get("scored", 0)
    if not scored:
        return {}
    return {f"meta_{k}": counts[f"{k}_x1e4"] / SCALE / scored for k in SCORES}


def verdict(text: str) -> bool | None:
    """True / False as the reply concludes; None when it says neither."""
    lowered = text.strip().lower()
    if "claim is true" in lowered:
        return True
    if "claim is false" in lowered:
        return False
    return None


def share_true(verdicts: list[bool | None]) -> float:
    """The share of verifications that came out true (None counts as not true)."""
    return sum(v is True for v in verdicts) / len(verdicts)


def verify_grammar(rationale_chars: int) -> str:
    """GBNF: one reasoning line, then the verdict sentence."""
    return (
        f'root ::= [^\\n]{{1,{rationale_chars}}} "\\nTherefore, the claim is " '
        '("true" | "false") "."'
    )


class WriteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["answer", "critique"]
    column: str  # where the text goes, e.g. reference_answer, critique, reference_critique
    prompt_column: str = "instruction"
    response_column: str = "response"
    max_tokens: int = Field(512, ge=8)  # the authors' max_tokens
    temperature: float = Field(0.0, ge=0, le=2)  # the authors': 0
    writer: str = "default"  # a name in the recipe's backends (the paper: GPT-4 for references)


@register("metacritique.write", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Write(MapStep):
    """MetaCritique inputs: a reference answer, or a critique of the response (greedy by default)."""

    Params = WriteParams
    uses_llm = True
    backend_params = ("writer",)

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.prompt_column} | ({p.response_column} if p.kind == "critique" else set())

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | {self.params.column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        question = prompt_text(row, p.prompt_column)
        text = render(
            __file__,
            f"metacritique_{'reference_answer' if p.kind == 'answer' else 'critique'}.j2",
            question=question,
            response=str(row.get(p.response_column, "")),
        )
        llm = ctx.require_llm(p.writer)
        seed = ctx.seed(row[META]["id"])
        request = chat(
            ("user", text), temperature=p.temperature, max_tokens=p.max_tokens, seed=seed
        )
        reply = (await llm.complete(request)).text.strip()
        if not reply:
            raise RowError("empty_output", f"the {p.kind} is empty")
        return [self.derived(row, {p.column: reply}, ctx, [request], llm=llm)]


class ScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"
    critique_column: str = "critique"
    reference_answer_column: str = "reference_answer"
    reference_critique_column: str = "reference_critique"
    max_aius: int = Field(16, ge=1, le=64)
    claim_chars: int = Field(300, ge=20)
    rationale_chars: int = Field(1200, ge=1)
    max_tokens: int = Field(512, ge=16)  # the authors' max_tokens
    judge: str = "default"  # the paper: GPT-4


@register("metacritique.score", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Score(MapStep):
    """MetaCritique: AIUs of the critique and reference critique, verified; precision, recall, F1."""

    Params = ScoreParams
    writes = ("metacritique",)
    uses_llm = True
    backend_params = ("judge",)

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.prompt_column, p.response_column, p.critique_column,
                p.reference_answer_column, p.reference_critique_column}  # fmt: skip

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        label = row["metacritique"]
        return {"scored": 1, **{f"{k}_x1e4": round(label[k] * SCALE) for k in SCORES}}

    def extract_request(self, critique: str) -> ChatRequest:
        p = self.params
        schema = object_schema(
            {
                "claims": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": p.claim_chars},
                    "minItems": 1,
                    "maxItems": p.max_aius,
                }
            }
        )
        text = render(__file__, "metacritique_extract.j2", critique=critique)
        return chat(("user", text), temperature=0, max_tokens=p.max_tokens, json_schema=schema)

    def verify_request(self, template: str, **fields: str) -> ChatRequest:
        p = self.params
        return chat(
            ("user", render(__file__, template, **fields)),
            temperature=0,
            max_tokens=p.max_tokens,
            grammar=verify_grammar(p.rationale_chars),
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        judge = ctx.require_llm(p.judge)
        question = prompt_text(row, p.prompt_column)
        critique, reference = str(row[p.critique_column]), str(row[p.reference_critique_column])
        extracts = [self.extract_request(critique), self.extract_request(reference)]
        replies = await asyncio.gather(*(judge.complete(r) for r in extracts))
        aius = []
        for name, reply in zip(("critique", "reference critique"), replies, strict=True):
            claims = [c.strip() for c in json_reply(reply).get("claims", []) if c.strip()]
            if not claims:
                raise RowError("no_aius", f"no atomic information unit in the {name}")
            aius.append(claims)
        precision_requests = [
            self.verify_request(
                "metacritique_precision.j2",
                question=question,
                response=str(row[p.response_column]),
                reference_answer=str(row[p.reference_answer_column]),
                claim=claim,
            )
            for claim in aius[0]
        ]
        recall_requests = [
            self.verify_request("metacritique_recall.j2", reference=critique, claim=claim)
            for claim in aius[1]
        ]
        verifications = await asyncio.gather(
            *(judge.complete(r) for r in [*precision_requests, *recall_requests])
        )
        texts = [v.text for v in verifications]
        units = [
            [
                {"claim": claim, "true": verdict(text), "rationale": text.split(VERDICT)[0].strip()}
                for claim, text in zip(claims, chunk, strict=True)
            ]
            for claims, chunk in (
                (aius[0], texts[: len(aius[0])]),
                (aius[1], texts[len(aius[0]) :]),
            )
        ]
        precision = share_true([u["true"] for u in units[0]])
        recall = share_true([u["true"] for u in units[1]])
        label = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1_score(precision, recall), 4),
            "critique_aius": units[0],
            "reference_aius": units[1],
        }
        requests = [*extracts, *precision_requests, *recall_requests]
        return [self.derived(row, {"metacritique": label}, ctx, requests, llm=judge)]
