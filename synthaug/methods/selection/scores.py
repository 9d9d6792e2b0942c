"""Model-based quality scores for instruction data (survey: data selection / filtering).

- AlpaGasus (Chen et al., ICLR 2024, arXiv 2307.08701): the model grades each
  (instruction, input, response) for accuracy on 0–5 with an explanation; the
  paper keeps items scoring ≥ 4.5. The score is decoded under a JSON schema
  (score first, as the paper's prompt asks) so a small model answers in form.
- Deita (Liu et al., ICLR 2024, arXiv 2312.15685): complexity of the
  instruction and quality of the response, each Σ softmax(logits of "1"…"6") ×
  [1…6] at the first answer token, with the reference's two prompts; evol score
  = complexity × quality. Faithful: the prompts, the six digits, the expectation.
  Differs: the paper's scorers are LLaMA models fine-tuned on ChatGPT-ranked
  Evol variants; here the configured model answers the same prompts (the
  scores are only as good as that model). The reference reads the six digit
  logits from the full distribution and falls back to 3.0 when it cannot (no
  output, or a digit outside vLLM's top 1000). Here the first token is decoded
  under the grammar ``[1-6]`` and its top ``top_logprobs`` (≤ 20) candidates are
  read; a digit they do not list is read by a one-token request forced to that
  digit (the backend reports the log-probability of the model's distribution,
  as llama.cpp does), so the softmax is over all six digits (``read_missing``;
  off, it is over the listed digits only). No fallback value: a reply without
  log-probabilities is a ``no_logprobs`` row error. How many digits each
  reading missed from the top candidates is kept per row and summed in the run
  summary. llama.cpp's ``post_sampling_probs`` are not used: its sampler draws
  first without the grammar and applies the grammar only when that draw is
  rejected, so the probabilities it reports are the softmax over the six digits
  only when the free draw was not one of them; otherwise they are the
  unconstrained candidates (other digits, a newline), and at temperature 0 a
  single token with probability 1.
- IFD (Li et al., NAACL 2024, arXiv 2308.12032): IFD = L(A|Q) / L(A), the
  mean token cross-entropy of the answer with and without the instruction.
  Faithful: both texts use the reference's formats (``prompt``: ``alpaca``, its
  Alpaca template as its README scripts run it, or ``wiz``), so L(A|Q) follows
  the instruction and the ``### Response:`` header and L(A) follows the header
  alone; at most 512 answer tokens. Differs: the paper scores with a
  "pre-experienced" model, its base model fine-tuned briefly on ~1K samples
  chosen by K-means over instruction embeddings ("brief experience"); here the
  configured model scores directly, with no such training. The answer is
  forced through a grammar that spells it exactly and the model's own
  log-probabilities of those tokens are read back, so it needs a backend that
  takes GBNF grammars and returns log-probabilities (the local backend, a
  llama.cpp server); the tokens are those greedy forced decoding picks, which
  need not be the tokenizer's own split of the answer.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, Completion, chat
from ..common.logprobs import forced_grammar, forced_tokens
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
    read_missing: bool = Field(
        True,
        description="read each digit the top candidates lack with a one-token request forced "
        "to it (off: the softmax is over the listed digits only)",
    )


class DigitReading(NamedTuple):
    """One Deita score and how many of the six digits its top candidates did not list."""

    score: float
    missing: int


@register("score.deita", taxonomy=TAXONOMY, stage=STAGE, paper=DEITA)
class DeitaScores(_ScoreStep):
    """Deita: complexity and quality as expected 1-6 scores from digit logits; evol = c x q.

    Input columns: the instruction, input and output columns.
    Output columns: ``deita_complexity``, ``deita_quality``, ``deita_evol_score``, and
    ``deita_complexity_missing_digits`` / ``deita_quality_missing_digits``: how many of the
    six digits the top candidates did not list (read by forced requests with
    ``read_missing``). Summary counts: ``missing_digits``, ``rows_missing_digits``.
    """

    Params = DeitaParams
    writes = (
        "deita_complexity",
        "deita_quality",
        "deita_evol_score",
        "deita_complexity_missing_digits",
        "deita_quality_missing_digits",
    )

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        instruction, extra, response = self.texts(row)
        question = f"{instruction}\n{extra}".strip()
        return [
            self._request(render(__file__, "deita_complexity.j2", instruction=question)),
            self._request(
                render(__file__, "deita_quality.j2", instruction=question, response=response)
            ),
        ]

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, sent, readings = ctx.require_llm(), [], []
        for request in self.requests(row, ctx):
            sent.append(request)
            logprobs = digit_logprobs(await llm.complete(request))
            missing = [digit for digit in DIGITS if digit not in logprobs]
            if self.params.read_missing:
                for digit in missing:
                    forced = request.model_copy(
                        update={"grammar": f'root ::= "{digit}"', "top_logprobs": 0}
                    )
                    sent.append(forced)
                    logprobs[digit] = forced_digit_logprob(await llm.complete(forced), digit)
            readings.append(DigitReading(expected_score(logprobs), len(missing)))
        return [self.derived(row, self.parse(row, readings), ctx, sent)]

    def parse(self, row: dict[str, Any], replies: list[DigitReading]) -> dict[str, Any]:
        complexity, quality = replies
        return {
            "deita_complexity": complexity.score,
            "deita_quality": quality.score,
            "deita_evol_score": round(complexity.score * quality.score, 4),
            "deita_complexity_missing_digits": complexity.missing,
            "deita_quality_missing_digits": quality.missing,
        }

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        missing = [
            int(row.get("deita_complexity_missing_digits") or 0),
            int(row.get("deita_quality_missing_digits") or 0),
        ]
        return {"missing_digits": sum(missing), "rows_missing_digits": int(any(missing))}

    def _request(self, prompt: str) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=0,
            max_tokens=1,
            grammar="root ::= [1-6]",
            logprobs=True,
            top_logprobs=self.params.top_logprobs,
        )


def digit_logprobs(completion: Completion) -> dict[str, float]:
    """The log-probabilities of "1".."6" at the first token: the chosen token and its top
    candidates (the digit tokens themselves, as the reference reads the digits' token ids)."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        raise RowError("no_logprobs", "the backend returned no log-probabilities")
    first = tokens[0]
    listed = {
        entry["token"]: float(entry["logprob"])
        for entry in first.top_logprobs
        if entry["token"] in DIGITS
    }
    if first.token in DIGITS:
        listed.setdefault(first.token, first.logprob)
    return listed


def forced_digit_logprob(completion: Completion, digit: str) -> float:
    """The log-probability of ``digit`` from a reply forced to answer it."""
    tokens = completion.choices[0].logprobs if completion.choices else None
    if not tokens:
        raise RowError("no_logprobs", "the backend returned no log-probabilities")
    if tokens[0].token != digit:
        raise RowError(
            "grammar_ignored", f"a reply forced to {digit!r} began with {tokens[0].token!r}"
        )
    return tokens[0].logprob


def expected_score(logprobs: dict[str, float]) -> float:
    """Σ softmax(log-probabilities of the digits given) × digit, to 4 places."""
    if not logprobs:
        raise RowError("no_digit", "no digit 1-6 among the first token's log-probabilities")
    top = max(logprobs.values())
    weights = {digit: math.exp(lp - top) for digit, lp in logprobs.items()}
    total = sum(weights.values())
    return round(sum(int(digit) * w for digit, w in weights.items()) / total, 4)


RESPONSE_HEADER = "### Response:"  # what the reference puts before the answer in both texts


class IFDParams(ColumnParams):
    max_answer_tokens: int = Field(512, ge=8)  # the paper's maximum length
    prompt: Literal["alpaca", "wiz"] = Field(
        "alpaca",
        description="the reference's text format (its --prompt): the Alpaca template, as its "
        "README scripts run it, or 'wiz' (instruction, then the response header)",
    )


@register("score.ifd", taxonomy=TAXONOMY, stage=STAGE, paper=IFD)
class InstructionFollowingDifficulty(_ScoreStep):
    """IFD = L(answer | instruction) / L(answer), by forced decoding with log-probabilities.

    Input columns: the instruction, input and output columns.
    Output columns: ``ifd``, ``ifd_loss_conditioned`` (L(A|Q)), ``ifd_loss_answer`` (L(A)).
    """

    Params = IFDParams
    writes = ("ifd", "ifd_loss_conditioned", "ifd_loss_answer")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        instruction, extra, response = self.texts(row)
        if not response.strip():
            raise RowError("empty_answer", "IFD needs a non-empty answer")
        conditioned = render(
            __file__, f"ifd_{self.params.prompt}.j2", instruction=instruction, input=extra
        )
        options = {
            "temperature": 0,
            "max_tokens": self.params.max_answer_tokens,
            "grammar": forced_grammar(response),
            "logprobs": True,
        }
        return [
            ChatRequest(prompt=conditioned, **options),
            ChatRequest(prompt=RESPONSE_HEADER, **options),
        ]

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> float:
        return answer_loss(reply)

    def parse(self, row: dict[str, Any], replies: list[float]) -> dict[str, Any]:
        loss_q, loss_a = replies
        return {
            "ifd": round(loss_q / loss_a, 4) if loss_a > 0 else None,
            "ifd_loss_conditioned": round(loss_q, 4),
            "ifd_loss_answer": round(loss_a, 4),
        }


def answer_loss(completion: Completion) -> float:
    """Mean negative log-probability of the forced answer tokens (the end token excluded)."""
    forced = forced_tokens(completion)
    return -sum(t.logprob for t in forced) / len(forced)
