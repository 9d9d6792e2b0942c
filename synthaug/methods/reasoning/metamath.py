"""MetaMath question bootstrapping (Yu et al., 2023, arXiv 2309.12284).

MetaMath rewrites each training question forward and backward and keeps only
the generated answers that are verified against a known result:

- ``metamath.ansaug`` (type ``GSM_AnsAug``): few-shot chain-of-thought answers the
  original question again; a sample is kept when its final answer equals the gold answer.
- ``metamath.rephrase`` (``GSM_Rephrased``): a few-shot prompt rephrases the question;
  forward CoT solves the rephrasing, which is kept only when it reaches the gold answer.
- ``metamath.sv`` (``GSM_SV``, self-verification): one number of the question is masked
  as ``x``; the question sentence plus the known answer is rewritten into a declarative
  statement; "What is the value of unknown variable x?" is appended; a backward CoT is
  kept only when it recovers the masked number.
- ``metamath.fobar`` (``GSM_FOBAR``, forward-backward): every numeric token (tokens that
  mix digits with letters or symbols such as ``-``, ``:``, ``(`` are skipped; small
  number words count, as in the authors' code) is masked as ``x`` in turn, one backward
  question per number, with "If we know the answer to the above question is {A}, what
  is the value of unknown variable x?" appended; a backward CoT is kept when it equals
  the masked value.

Defaults are the authors' generation scripts: temperature 0.7 and two samples per
prompt (``--num_repeat 2``). Records follow the MetaMathQA schema ``{query, response,
type, original_question}`` plus ``verification`` (kind ``answer``; gold is the gold
answer, or the masked number for SV and FOBAR). With ``keep_failed`` unverified samples
are kept too (``verification.verified`` false), e.g. for a weak model in tests.

Deviations, all small: the few-shot exemplars are our own (the format follows the
authors' prompt files: "Question: ... / A: Let's think step by step. ... / The answer
is N"); a masked ``$5.50`` keeps its currency sign (``$x``); SV splits the question at
its last sentence boundary (the authors split at the last full stop or comma).

A recipe is a linear chain, so the four augmentations fan out along it: with
``forward_source`` a step also passes the problem row on, and every step passes
MetaMath records made upstream through untouched, so
``math_problems -> ansaug -> rephrase -> sv -> fobar`` yields all four types.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.evidence import answer_verdict
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = "Yu et al., 2023, MetaMath (arXiv 2309.12284)"
TAXONOMY = "augmentation / data labeling + reformation (question bootstrapping)"
STAGE = "reasoning (SFT data)"
KINDS = ("AnsAug", "Rephrased", "SV", "FOBAR")
STOP = ("\nQuestion:",)

# number words the authors' FOBAR code also masks (their table also maps "fifth" to 5 and
# "half" to 50; those two are left out here because the value would be wrong)
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "sixteen": 16,
}
# a numeric token with one of these (or a letter) is not masked, as in the authors' code
_EXCLUDED = re.compile(r'[\n:()*"+\-–]')
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"\d")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=\S)")


@dataclass(frozen=True)
class Exemplar:
    """One few-shot example, used by every MetaMath prompt."""

    question: str
    cot: str
    answer: str
    rephrased: str
    ask: str  # the question's last (interrogative) sentence
    statement: str  # ``ask`` rewritten as a statement with the answer
    masked: str  # the question body before ``ask`` with one number written as {x}
    masked_ask: str  # ``ask`` with that number masked, when it was in ``ask``
    masked_value: str
    backward: str  # backward reasoning, with {x} for the unknown


EXEMPLARS = (
    Exemplar(
        question="A baker makes 24 muffins in the morning and 18 in the afternoon. She sells "
        "30 of them. How many muffins does she have left?",
        cot="The baker makes 24 + 18 = 42 muffins in total.\nShe sells 30, so 42 - 30 = 12 "
        "muffins are left.",
        answer="12",
        rephrased="After baking 24 muffins in the morning and 18 in the afternoon and "
        "selling 30 of them, how many muffins does the baker still have?",
        ask="How many muffins does she have left?",
        statement="She has 12 muffins left.",
        masked="A baker makes {x} muffins in the morning and 18 in the afternoon. She sells "
        "30 of them.",
        masked_ask="How many muffins does she have left?",
        masked_value="24",
        backward="The baker makes {x} + 18 muffins in total.\nAfter selling 30 she has "
        "{x} + 18 - 30 = {x} - 12 muffins left.\nWe are given that she has 12 muffins left, "
        "so {x} - 12 = 12.\nSolving for {x}, we get {x} = 24.",
    ),
    Exemplar(
        question="Museum tickets cost $8 for adults and $5 for children. A family buys 2 "
        "adult tickets and 3 child tickets. How much do they pay in total?",
        cot="2 adult tickets cost 2 * 8 = $16.\n3 child tickets cost 3 * 5 = $15.\nIn total "
        "they pay 16 + 15 = $31.",
        answer="31",
        rephrased="A family buys 2 adult museum tickets at $8 each and 3 child tickets at $5 "
        "each. What is the total amount they pay?",
        ask="How much do they pay in total?",
        statement="They pay 31 dollars in total.",
        masked="Museum tickets cost $8 for adults and ${x} for children. A family buys 2 "
        "adult tickets and 3 child tickets.",
        masked_ask="How much do they pay in total?",
        masked_value="5",
        backward="2 adult tickets cost 2 * 8 = $16.\n3 child tickets cost 3 * {x} = 3{x} "
        "dollars.\nThe total is 16 + 3{x}.\nWe are given that the total is 31, so "
        "16 + 3{x} = 31.\nSubtracting 16 gives 3{x} = 15, so {x} = 5.",
    ),
    Exemplar(
        question="Liam reads 15 pages a day. His book has 120 pages and he has already read "
        "45 pages. How many more days does he need to finish the book?",
        cot="He still has 120 - 45 = 75 pages to read.\nAt 15 pages a day he needs "
        "75 / 15 = 5 days.",
        answer="5",
        rephrased="Liam has read 45 pages of a 120-page book and reads 15 pages each day. "
        "How many more days will it take him to finish it?",
        ask="How many more days does he need to finish the book?",
        statement="He needs 5 more days to finish the book.",
        masked="Liam reads {x} pages a day. His book has 120 pages and he has already read "
        "45 pages.",
        masked_ask="How many more days does he need to finish the book?",
        masked_value="15",
        backward="He still has 120 - 45 = 75 pages to read.\nAt {x} pages a day he needs "
        "75 / {x} days.\nWe are given that he needs 5 days, so 75 / {x} = 5.\nSolving for "
        "{x}, we get {x} = 15.",
    ),
    Exemplar(
        question="A farmer has 3 fields with 40 rows of corn each. Each row has 25 plants. "
        "Half of the plants are ready to harvest. How many plants are ready?",
        cot="Each field has 40 * 25 = 1000 plants.\nThe 3 fields have 3 * 1000 = 3000 "
        "plants.\nHalf of them is 3000 / 2 = 1500 plants.",
        answer="1500",
        rephrased="There are 3 fields, each with 40 rows of 25 corn plants, and half of all "
        "the plants can be harvested. How many plants can be harvested?",
        ask="How many plants are ready?",
        statement="There are 1500 plants ready.",
        masked="A farmer has 3 fields with {x} rows of corn each. Each row has 25 plants. "
        "Half of the plants are ready to harvest.",
        masked_ask="How many plants are ready?",
        masked_value="40",
        backward="Each field has {x} * 25 = 25{x} plants.\nThe 3 fields have 3 * 25{x} = "
        "75{x} plants.\nHalf of them is 75{x} / 2 = 37.5{x}.\nWe are given that 1500 plants "
        "are ready, so 37.5{x} = 1500.\nSolving for {x}, we get {x} = 40.",
    ),
)


# ---- pure helpers (unit-tested) ----------------------------------------------------------


def fobar_suffix(answer: str, var: str = "x") -> str:
    """The sentence FOBAR appends to a masked question."""
    return (
        f"If we know the answer to the above question is {answer}, "
        f"what is the value of unknown variable {var}?"
    )


def sv_suffix(var: str = "x") -> str:
    return f"What is the value of unknown variable {var}?"


def is_number_token(token: str, number_words: bool = True) -> bool:
    """A space-separated token FOBAR masks: digits without letters or excluded symbols, or
    (optionally) a small number word."""
    if number_words and token in NUMBER_WORDS:
        return True
    return bool(_DIGIT.search(token)) and not _LETTER.search(token) and not _EXCLUDED.search(token)


def mask_token(token: str, var: str = "x") -> tuple[str, str]:
    """``(masked token, masked value)``: ``"$1,200."`` -> ``("$x.", "1200")``."""
    if token in NUMBER_WORDS:
        return var, str(NUMBER_WORDS[token])
    digits = [i for i, char in enumerate(token) if char.isdigit()]
    first, last = digits[0], digits[-1]
    currency = re.match(r"^[$€£]*", token[:first]).group(0)  # type: ignore[union-attr]
    core = token[first : last + 1].replace(",", "")
    return currency + var + token[last + 1 :], core


def masked_questions(
    question: str, var: str = "x", number_words: bool = True
) -> list[tuple[str, str]]:
    """One ``(masked question, masked value)`` per numeric token, in order (FOBAR/SV)."""
    tokens = question.split(" ")
    out = []
    for index, token in enumerate(tokens):
        if not is_number_token(token, number_words):
            continue
        masked, value = mask_token(token, var)
        out.append((" ".join([*tokens[:index], masked, *tokens[index + 1 :]]), value))
    return out


def split_ask(question: str) -> tuple[str, str]:
    """``(body, ask)``: the question's last sentence (the thing asked) and what precedes it."""
    sentences = _SENTENCE_END.split(question.strip())
    return " ".join(sentences[:-1]), sentences[-1]


def parse_statement(reply: str) -> str | None:
    """The declarative statement of an SV rewrite reply (its first non-empty line)."""
    for line in reply.strip().splitlines():
        line = re.sub(r"^\s*(Result|Statement)\s*:\s*", "", line).strip()
        if line:
            return line
    return None


def parse_rephrasing(reply: str) -> str | None:
    """The rephrased question: the reply up to a blank line or the next ``Question:``."""
    text = trim_reply(reply)
    text = re.sub(r"^\s*Rephrase the above question\s*:\s*", "", text)
    text = text.split("\n\n")[0].strip()
    return text or None


def trim_reply(reply: str) -> str:
    """A few-shot reply cut where the model starts the next example."""
    for stop in (*STOP, "\n\nQuestion"):
        reply = reply.split(stop)[0]
    return reply.strip()


def exemplar_slots(shots: int, var: str = "x") -> list[dict[str, str]]:
    """The first ``shots`` exemplars with the backward queries built for ``var``."""
    out = []
    for ex in EXEMPLARS[:shots]:
        body, ask = ex.masked.format(x=var), ex.masked_ask.format(x=var)
        out.append(
            {
                "question": ex.question,
                "cot": ex.cot,
                "answer": ex.answer,
                "rephrased": ex.rephrased,
                "ask": ex.ask,
                "statement": ex.statement,
                "fobar_query": f"{body} {ask}\n{fobar_suffix(ex.answer, var)}",
                "sv_query": f"{body} {ex.statement} {sv_suffix(var)}",
                "backward": ex.backward.format(x=var),
                "masked_value": ex.masked_value,
            }
        )
    return out


def is_metamath_record(row: dict[str, Any]) -> bool:
    """A record some MetaMath step made upstream (passed along untouched)."""
    kind = row.get("type")
    return (
        isinstance(kind, str)
        and kind.rpartition("_")[2] in KINDS
        and "query" in row
        and "original_question" in row
    )


# ---- steps -------------------------------------------------------------------------------


class MetaMathParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(2, ge=1, le=128)  # the authors' scripts: --num_repeat 2
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    shots: int = Field(len(EXEMPLARS), ge=0, le=len(EXEMPLARS))
    type_prefix: str = Field("GSM", pattern=r"^[A-Za-z0-9]+$")  # GSM_AnsAug, MATH_AnsAug, ...
    keep_failed: bool = False  # also keep samples that fail verification
    forward_source: bool = False  # pass the problem row on, for a later MetaMath step


class RephraseParams(MetaMathParams):
    rephrasings: int = Field(2, ge=1, le=128)
    rephrase_max_tokens: int = Field(256, ge=16)


class BackwardParams(MetaMathParams):
    unknown: str = Field("x", pattern=r"^[A-Za-z]$")  # the authors use X for MATH
    number_words: bool = True
    max_masks: int | None = Field(None, ge=1)  # at most this many masked numbers per question


class SVParams(BackwardParams):
    rewrite_max_tokens: int = Field(96, ge=8)


class _MetaMath(MapStep):
    kind: ClassVar[str]
    reads = ("question", "answer")
    writes = ("query", "response", "type", "original_question", "verification")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        if is_metamath_record(row):
            return [row]
        made = await self.augment(row, ctx)
        return made + ([row] if self.params.forward_source else [])

    async def augment(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        raise NotImplementedError

    def request(self, prompt: str, seed: int, n: int, max_tokens: int) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=self.params.temperature,
            max_tokens=max_tokens,
            stop=STOP,
            seed=seed,
            n=n,
        )

    def forward_prompt(self, question: str) -> str:
        shots = exemplar_slots(self.params.shots)
        return render(__file__, "metamath_forward.j2", exemplars=shots, question=question)

    def backward_prompt(self, query: str, kind: str) -> str:
        p = self.params
        shots = [{**ex, "query": ex[f"{kind}_query"]} for ex in exemplar_slots(p.shots, p.unknown)]
        return render(
            __file__, "metamath_backward.j2", exemplars=shots, query=query, var=p.unknown, kind=kind
        )

    def checked(
        self,
        row: dict[str, Any],
        ctx: StepContext,
        requests: list[ChatRequest],
        index: int,
        query: str,
        response: str,
        gold: str,
        **extra: Any,
    ) -> dict[str, Any] | None:
        """The record for one sample, or None when it fails verification (and is not kept)."""
        verification = answer_verdict(response, gold)
        if not verification["verified"] and not self.params.keep_failed:
            return None
        fields = {
            "query": query,
            "response": response,
            "type": f"{self.params.type_prefix}_{self.kind}",
            "original_question": row["question"],
            **extra,
            "verification": verification,
        }
        return self.derived(row, fields, ctx, requests, index=index, seed=requests[-1].seed)


@register("metamath.ansaug", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class AnsAug(_MetaMath):
    """MetaMath AnsAug: few-shot CoT answers the question again; keep answers equal to gold."""

    Params = MetaMathParams
    kind = "AnsAug"

    async def augment(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        request = self.request(
            self.forward_prompt(row["question"]),
            ctx.seed(row[META]["id"], "ansaug"),
            p.samples,
            p.max_tokens,
        )
        choices, sent = await sample(llm, request)
        out = []
        for k, choice in enumerate(choices):
            record = self.checked(
                row, ctx, sent, k, row["question"], trim_reply(choice.text), row["answer"]
            )
            if record is not None:
                out.append(record)
        return out


@register("metamath.rephrase", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Rephrase(_MetaMath):
    """MetaMath rephrasing: rephrase the question; keep rephrasings whose CoT reaches gold."""

    Params = RephraseParams
    kind = "Rephrased"

    async def augment(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        shots = exemplar_slots(p.shots)
        prompt = render(__file__, "metamath_rephrase.j2", exemplars=shots, question=row["question"])
        ask = self.request(
            prompt, ctx.seed(row[META]["id"], "rephrase"), p.rephrasings, p.rephrase_max_tokens
        )
        rephrased, asked = await sample(llm, ask)

        async def solve(r: int, question: str | None) -> list[dict[str, Any]]:
            if question is None:
                return []
            request = self.request(
                self.forward_prompt(question),
                ctx.seed(row[META]["id"], "rephrase", r),
                p.samples,
                p.max_tokens,
            )
            answers, solved = await sample(llm, request)
            made = [
                self.checked(
                    row,
                    ctx,
                    [*asked, *solved],
                    r * p.samples + k,
                    question,
                    trim_reply(answer.text),
                    row["answer"],
                )
                for k, answer in enumerate(answers)
            ]
            return [record for record in made if record is not None]

        parts = await asyncio.gather(
            *(solve(r, parse_rephrasing(choice.text)) for r, choice in enumerate(rephrased))
        )
        return [record for part in parts for record in part]


class _Backward(_MetaMath):
    writes = (*_MetaMath.writes, "answer", "original_answer", "masked_value")

    def masks(self, row: dict[str, Any]) -> list[tuple[str, str]]:
        p = self.params
        masked = masked_questions(row["question"], p.unknown, p.number_words)
        return masked[: p.max_masks] if p.max_masks else masked

    async def solve_backward(
        self,
        row: dict[str, Any],
        ctx: StepContext,
        m: int,
        query: str,
        value: str,
        asked: list[ChatRequest],
        **extra: Any,
    ) -> list[dict[str, Any]]:
        p = self.params
        kind = self.kind.lower()
        request = self.request(
            self.backward_prompt(query, kind),
            ctx.seed(row[META]["id"], kind, m),
            p.samples,
            p.max_tokens,
        )
        choices, sent = await sample(ctx.require_llm(), request)
        out = []
        for k, choice in enumerate(choices):
            record = self.checked(
                row,
                ctx,
                [*asked, *sent],
                m * p.samples + k,
                query,
                trim_reply(choice.text),
                value,
                answer=value,
                original_answer=row["answer"],
                masked_value=value,
                **extra,
            )
            if record is not None:
                out.append(record)
        return out


@register("metamath.fobar", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class FOBAR(_Backward):
    """MetaMath FOBAR: mask each number as x, state the answer, keep CoTs that recover x."""

    Params = BackwardParams
    kind = "FOBAR"

    async def augment(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        suffix = fobar_suffix(row["answer"], self.params.unknown)
        parts = await asyncio.gather(
            *(
                self.solve_backward(row, ctx, m, f"{masked}\n{suffix}", value, [])
                for m, (masked, value) in enumerate(self.masks(row))
            )
        )
        return [record for part in parts for record in part]


@register("metamath.sv", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class SV(_Backward):
    """MetaMath self-verification: question + answer as a statement, one number masked as x."""

    Params = SVParams
    kind = "SV"
    writes = (*_Backward.writes, "statement")

    async def augment(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        shots = exemplar_slots(p.shots)

        async def verify(m: int, masked: str, value: str) -> list[dict[str, Any]]:
            body, ask = split_ask(masked)
            prompt = render(
                __file__, "metamath_sv_rewrite.j2", exemplars=shots, ask=ask, answer=row["answer"]
            )
            rewrite = self.request(
                prompt, ctx.seed(row[META]["id"], "sv_rewrite", m), 1, p.rewrite_max_tokens
            )
            statement = parse_statement((await llm.complete(rewrite)).text)
            if statement is None:
                return []
            query = " ".join(part for part in (body, statement, sv_suffix(p.unknown)) if part)
            return await self.solve_backward(
                row, ctx, m, query, value, [rewrite], statement=statement
            )

        parts = await asyncio.gather(
            *(verify(m, masked, value) for m, (masked, value) in enumerate(self.masks(row)))
        )
        return [record for part in parts for record in part]
