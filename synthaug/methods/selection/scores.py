"""Model-based quality scores for instruction data (survey: data selection / filtering).

- AlpaGasus (Chen et al., ICLR 2024, arXiv 2307.08701): the model grades each
  (instruction, input, response) for accuracy on 0–5 with an explanation; the
  paper keeps items scoring ≥ 4.5. The score is decoded under a JSON schema
  (score first, as the paper's prompt asks) so a small model answers in form.
- Deita (Liu et al., ICLR 2024, arXiv 2312.15685): complexity of the
  instruction and quality of the response, each the expected value
  Σ softmax(logits of "1"…"6") × [1…6] read from the first answer token's
  log-probabilities (3.0 when none of the digits is among them); evol score =
  complexity × quality. The paper's scorers are fine-tuned LLaMA models; here
  the configured model answers the same prompts, so the scores are only as
  good as that model.
- IFD (Li et al., NAACL 2024, arXiv 2308.12032): IFD = L(A|Q) / L(A), the
  mean token cross-entropy of the answer with and without the instruction.
  The answer is forced through a grammar that spells it exactly and the model's
  own log-probabilities of those tokens are read back, so it needs a backend
  that takes GBNF grammars and returns log-probabilities (the local backend, a
  llama.cpp server); L(A) conditions on a single space, as llama.cpp does not
  take an empty prompt.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, Completion, chat
from ..common.parsing import parse_rating
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

TAXONOMY = "curation / data selection (model-based quality scoring)"
STAGE = "instruction tuning, fine-tuning"
ALPAGASUS = "Chen et al., ICLR 2024, AlpaGasus (arXiv 2307.08701)"
DEITA = "Liu et al., ICLR 2024, Deita (arXiv 2312.15685)"
IFD = "Li et al., NAACL 2024, Cherry LLM / IFD (arXiv 2308.12032)"

RATING_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 5},
        "explanation": {"type": "string", "maxLength": 400},
    },
    "required": ["score", "explanation"],
    "additionalProperties": False,
}
DIGITS = ("1", "2", "3", "4", "5", "6")


class ColumnParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction_column: str = "instruction"
    input_column: str | None = "input"
    output_column: str = "output"


class _ScoreStep(ModelStep):
    params: ColumnParams

    def input_columns(self) -> set[str]:
        p = self.params
        return {p.instruction_column, p.output_column}

    def texts(self, row: dict[str, Any]) -> tuple[str, str, str]:
        p = self.params
        extra = str(row.get(p.input_column) or "") if p.input_column else ""
        return str(row[p.instruction_column]), extra, str(row[p.output_column])


class AlpaGasusParams(ColumnParams):
    threshold: float = Field(4.5, ge=0, le=5)
    action: Literal["flag", "drop"] = "flag"
    max_tokens: int = Field(160, ge=16)


@register("score.alpagasus", taxonomy=TAXONOMY, stage=STAGE, paper=ALPAGASUS)
class AlpaGasusRating(_ScoreStep):
    """AlpaGasus: the model rates response accuracy 0-5; keep or flag items at >= 4.5."""

    Params = AlpaGasusParams
    writes = ("alpagasus_score", "alpagasus_explanation", "alpagasus_keep")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        instruction, extra, response = self.texts(row)
        prompt = render(
            __file__, "alpagasus_rating.j2", instruction=instruction, input=extra, response=response
        )
        return [
            chat(
                ("user", prompt),
                temperature=0,
                max_tokens=self.params.max_tokens,
                json_schema=RATING_SCHEMA,
            )
        ]

    def parse(self, row: dict[str, Any], replies: list[Completion]) -> dict[str, Any] | None:
        score, explanation = parse_rating(replies[0].text)
        keep = score >= self.params.threshold
        if self.params.action == "drop" and not keep:
            return None
        return {
            "alpagasus_score": score,
            "alpagasus_explanation": explanation,
            "alpagasus_keep": keep,
        }


class DeitaParams(ColumnParams):
    top_logprobs: int = Field(20, ge=6, le=20)


@register("score.deita", taxonomy=TAXONOMY, stage=STAGE, paper=DEITA)
class DeitaScores(_ScoreStep):
    """Deita: complexity and quality as expected 1-6 scores from digit logits; evol = c x q."""

    Params = DeitaParams
    writes = ("deita_complexity", "deita_quality", "deita_evol_score")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        instruction, extra, response = self.texts(row)
        question = f"{instruction}\n{extra}".strip()
        return [
            self._request(render(__file__, "deita_complexity.j2", instruction=question)),
            self._request(
                render(__file__, "deita_quality.j2", instruction=question, response=response)
            ),
        ]

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> float:
        return expected_digit_score(reply)

    def parse(self, row: dict[str, Any], replies: list[float]) -> dict[str, Any]:
        complexity, quality = replies
        return {
            "deita_complexity": complexity,
            "deita_quality": quality,
            "deita_evol_score": round(complexity * quality, 4),
        }

    def _request(self, prompt: str) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=0,
            max_tokens=1,
            grammar="root ::= [1-6]",
            logprobs=True,
            top_logprobs=self.params.top_logprobs,
        )


def expected_digit_score(completion: Completion) -> float:
    """Σ softmax(logprobs of "1".."6") × [1..6] over the first token; 3.0 if no digit is listed."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        return 3.0
    found = {
        entry["token"].strip(): entry["logprob"]
        for entry in tokens[0].top_logprobs
        if entry["token"].strip() in DIGITS
    }
    if not found:
        return 3.0
    top = max(found.values())
    weights = {d: math.exp(lp - top) for d, lp in found.items()}
    total = sum(weights.values())
    return round(sum(int(d) * w for d, w in weights.items()) / total, 4)


class IFDParams(ColumnParams):
    max_answer_tokens: int = Field(512, ge=8)  # the paper's maximum length


@register("score.ifd", taxonomy=TAXONOMY, stage=STAGE, paper=IFD)
class InstructionFollowingDifficulty(_ScoreStep):
    """IFD = L(answer | instruction) / L(answer), by forced decoding with log-probabilities."""

    Params = IFDParams
    writes = ("ifd", "ifd_loss_conditioned", "ifd_loss_answer")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        instruction, extra, response = self.texts(row)
        if not response.strip():
            raise RowError("empty_answer", "IFD needs a non-empty answer")
        question = f"{instruction}\n{extra}".strip()
        grammar = forced_grammar(response)
        options = {
            "temperature": 0,
            "max_tokens": self.params.max_answer_tokens,
            "grammar": grammar,
            "logprobs": True,
        }
        return [chat(("user", question), **options), ChatRequest(prompt=" ", **options)]

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> float:
        return answer_loss(reply)

    def parse(self, row: dict[str, Any], replies: list[float]) -> dict[str, Any]:
        loss_q, loss_a = replies
        return {
            "ifd": round(loss_q / loss_a, 4) if loss_a > 0 else None,
            "ifd_loss_conditioned": round(loss_q, 4),
            "ifd_loss_answer": round(loss_a, 4),
        }


def forced_grammar(text: str) -> str:
    """A GBNF grammar whose only sentence is ``text``."""
    return "root ::= " + json.dumps(text, ensure_ascii=False)


def answer_loss(completion: Completion) -> float:
    """Mean negative log-probability of the forced answer tokens (the end token excluded)."""
    tokens = completion.choices[0].logprobs or []
    forced = [t for t in tokens if t.token]
    if not forced:
        raise RowError("no_logprobs", "the backend returned no log-probabilities")
    return -sum(t.logprob for t in forced) / len(forced)
