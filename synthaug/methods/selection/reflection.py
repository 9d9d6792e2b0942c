"""Selective Reflection-Tuning (Li et al., 2024, arXiv 2402.10110; reference code
github.com/tianyi-lab/Reflection_Tuning): a teacher recycles each instruction-response pair
and the student that will be trained decides which recycled version it takes.

1. ``reflection.instruction`` — the teacher reflects on the instruction against the
   reference's criteria (complexity of the topic, level of detail, knowledge, ambiguity,
   reasoning; then the answer's helpfulness, relevance, accuracy, detail) and writes a new
   instruction and its answer, ``[New Instruction] ... [End]`` and ``[New Answer] ... [End]``:
   the pair (Q*, A_Q*).
2. ``reflection.response`` — the teacher reflects on a response (helpfulness, relevance,
   accuracy, level of detail) and writes ``[Better Answer] ... [End]``: A* for the original
   pair (Q, A*) and, with ``on_reflected_instruction``, A** for (Q*, A_Q*).
3. ``reflection.select`` — the student scores the candidates by IFD = PPL(A|Q) / PPL(A) and
   reversed IFD, r-IFD = PPL(Q|A) / PPL(Q), where Q is read after the reference's "guess the
   instruction for this response" prompt. Its rule (``selection_code/get_select_data.py``):
   when IFD(Q*, A_Q*) > IFD(Q, A) the new instruction is taken and then (Q*, A**) is kept if
   its r-IFD is below that of (Q*, A_Q*); otherwise (Q, A*) is kept if its r-IFD is below the
   original's; a kept pair must also have IFD < 1 and r-IFD < 1. Rows with no kept pair are
   error rows ``not_selected`` carrying the scores (the reference drops them; with
   ``keep_unimproved`` the pair whose response was not improved, (Q*, A_Q*) or (Q, A), is
   kept under the same < 1 test, as in the reference's commented-out lines).

Faithful: the reflection prompts and their parsing, with the reference's fallbacks (an empty
or placeholder new instruction or answer keeps the original; a response reflection that does
not give exactly one better answer keeps the original), temperature 0, at most 2,048 tokens;
the selection's prompt formats (``vicuna``, the reference default, or ``alpaca``), the
reverse prompt, Q = instruction + input as one text, perplexity ratios, the rule above. The
reflected instruction pair has an empty input (the reference's ``new_input``).

Differs: the paper's teacher is ChatGPT and its student is the pre-trained base model to be
fine-tuned (Llama-2 7B/13B); here the teacher is the recipe's backend and the student the
``student`` backend (by default the same), so a small model plays both. The reference
compresses instruction and input into one instruction with ChatGPT before reflecting on
the instruction; here they are joined with a newline. Its post-processing retries a reply
that does not parse once; at temperature 0 with a request cache the retry would return the
same reply, so there is none. Perplexities come from forced decoding under a grammar with
the model's own log-probabilities (see ``common/logprobs.py``; the tokens are those greedy
forced decoding picks), and the texts scored alone (PPL(A), PPL(Q)) follow a newline, not
the reference's BOS token alone (an empty prompt cannot be sent). Texts beyond
``max_length`` tokens are cut, as the reference truncates at 2,048 tokens (the forced
request asks for no more tokens than the text has bytes, see ``forced_budget``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, Completion, chat
from ...records import META
from ..common.logprobs import forced_budget, forced_grammar
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .scores import STAGE, answer_loss

PAPER = "Li et al., 2024, Selective Reflection-Tuning (arXiv 2402.10110)"
TAXONOMY = "synthesis / data recycling (teacher reflection, student selection)"
BARE_PREFIX = "\n"  # what the texts scored alone follow (see the module docstring)


class TeacherParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction_column: str = "instruction"
    input_column: str | None = "input"
    output_column: str = "output"
    temperature: float = Field(0.0, ge=0, le=2)  # the reference's
    max_tokens: int = Field(2048, ge=16)  # the reference's


def _text(row: dict[str, Any], column: str | None) -> str:
    return str(row.get(column) or "").strip() if column else ""


def _between(text: str, start: str, end: str) -> str:
    found = re.findall(f"({start})(.*?)({end})", text, re.DOTALL)
    return found[0][1].strip() if found else ""


def parse_new_pair(text: str) -> tuple[str, str]:
    """The new instruction and answer of an instruction reflection ('' where missing), read
    as the reference reads them."""
    start = r"\[New Instruction\]" if "[New Instruction]" in text else "New Instruction:"
    instruction = _between(text, start, r"\[End\]|\[New Answer\]|New Answer:")
    instruction = instruction.removesuffix("\n\n3.")
    start = r"\[New Answer\]" if "[New Answer]" in text else "New Answer:"
    return instruction, _between(text, start, r"\[End\]|$")


def parse_better_answers(text: str) -> list[str]:
    """Every ``[Better Answer]`` segment of a response reflection, as the reference reads them."""
    end = r"\[End\]|\[Better Answer\]|$" if text.count("[Better Answer]") >= 2 else r"\[End\]|End|$"
    return [m[1].strip() for m in re.findall(rf"\[(Better Answer)\](.*?)({end})", text, re.DOTALL)]


@register("reflection.instruction", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class ReflectInstruction(ModelStep):
    """The teacher reflects on an instruction by the paper's criteria: a new instruction and
    its answer (the original kept where the reply gives none).

    Output columns: ``reflected_instruction``, ``reflected_instruction_output``.
    """

    Params = TeacherParams
    writes = ("reflected_instruction", "reflected_instruction_output")

    def input_columns(self) -> set[str]:
        return {self.params.instruction_column, self.params.output_column}

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        instruction = "\n".join(
            t for t in (_text(row, p.instruction_column), _text(row, p.input_column)) if t
        )
        prompt = render(
            __file__,
            "reflection_instruction.j2",
            instruction=instruction,
            output=_text(row, p.output_column),
        )
        system = render(__file__, "reflection_instruction_system.j2")
        return [
            chat(
                ("system", system),
                ("user", prompt),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row[META]["id"]),
            )
        ]

    def parse(self, row: dict[str, Any], replies: list[Completion]) -> dict[str, Any]:
        p = self.params
        instruction, answer = parse_new_pair(replies[0].text)
        if not instruction or "your instruction" in instruction:
            instruction = str(row[p.instruction_column])
        if not answer or "N/A" in answer or "your answer" in answer:
            answer = str(row[p.output_column])
        return {"reflected_instruction": instruction, "reflected_instruction_output": answer}


class ResponseParams(TeacherParams):
    on_reflected_instruction: bool = Field(
        True,
        description="also reflect on the response of the reflected instruction pair "
        "(reflected_instruction, reflected_instruction_output)",
    )


@register("reflection.response", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class ReflectResponse(ModelStep):
    """The teacher reflects on a response: a better answer (the original kept where the reply
    does not give exactly one).

    Output columns: ``reflected_output`` (for the original pair) and, with
    ``on_reflected_instruction``, ``reflected_pair_output`` (for the reflected instruction).
    """

    Params = ResponseParams
    writes = ("reflected_output", "reflected_pair_output")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | set(self.written_columns())

    def written_columns(self) -> tuple[str, ...]:
        return self.writes if self.params.on_reflected_instruction else self.writes[:1]

    def input_columns(self) -> set[str]:
        p = self.params
        columns = {p.instruction_column, p.output_column}
        if p.on_reflected_instruction:
            columns |= {"reflected_instruction", "reflected_instruction_output"}
        return columns

    def pairs(self, row: dict[str, Any]) -> list[tuple[str, str, str]]:
        p = self.params
        pairs = [
            (
                _text(row, p.instruction_column),
                _text(row, p.input_column),
                _text(row, p.output_column),
            )
        ]
        if p.on_reflected_instruction:
            pairs.append(
                (
                    _text(row, "reflected_instruction"),
                    "",
                    _text(row, "reflected_instruction_output"),
                )
            )
        return pairs

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, seed = self.params, ctx.seed(row[META]["id"])
        return [
            chat(
                ("system", render(__file__, "reflection_response_system.j2", input=extra)),
                (
                    "user",
                    render(
                        __file__,
                        "reflection_response.j2",
                        instruction=instruction,
                        input=extra,
                        output=output,
                    ),
                ),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=seed,
            )
            for instruction, extra, output in self.pairs(row)
        ]

    def parse(self, row: dict[str, Any], replies: list[Completion]) -> dict[str, Any]:
        better = []
        for (_, _, output), reply in zip(self.pairs(row), replies, strict=True):
            answers = parse_better_answers(reply.text)
            better.append(answers[0] if len(answers) == 1 and answers[0] else output)
        return dict(zip(self.written_columns(), better, strict=True))


class Pair(NamedTuple):
    """One candidate: its instruction, input and response."""

    instruction: str
    input: str
    output: str


class Scores(NamedTuple):
    """The student's IFD and r-IFD (perplexity ratios) of one candidate."""

    ifd: float
    rifd: float

    def passes(self) -> bool:
        return self.ifd < 1 and self.rifd < 1


class SelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction_column: str = "instruction"
    input_column: str | None = "input"
    output_column: str = "output"
    student: str | None = None  # a name in the recipe's backends; None: the default
    prompt: Literal["vicuna", "alpaca"] = "vicuna"  # the reference's default is vicuna
    max_length: int = Field(2048, ge=8, description="most tokens of a text scored")
    keep_unimproved: bool = Field(
        False,
        description="keep the pair whose response reflection did not help, (Q*, A_Q*) or "
        "(Q, A), under the same < 1 test (the reference leaves it out)",
    )


@register("reflection.select", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class SelectReflected(MapStep):
    """The student chooses: the new instruction if it raises IFD, the better response if it
    lowers r-IFD; the pair kept needs IFD < 1 and r-IFD < 1.

    Output columns: the instruction, input and output columns hold the kept pair;
    ``reflection_choice`` (``QA``: reflected instruction and response, ``A``: reflected
    response, ``Q`` or ``original`` with ``keep_unimproved``), ``reflection_scores``
    ({candidate: {ifd, rifd}}), ``original_instruction``, ``original_output``.
    """

    Params = SelectParams
    uses_llm = True
    backend_params = ("student",)
    reads = ("reflected_instruction", "reflected_instruction_output", "reflected_output",
             "reflected_pair_output")  # fmt: skip
    writes = ("reflection_choice", "reflection_scores", "original_instruction", "original_output")

    def input_columns(self) -> set[str]:
        p = self.params
        return set(self.reads) | {p.instruction_column, p.output_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        p = self.params
        extra = {p.input_column} if p.input_column else set()
        return input_columns | set(self.writes) | extra

    def candidates(self, row: dict[str, Any]) -> dict[str, Pair]:
        p = self.params
        original = Pair(_text(row, p.instruction_column), _text(row, p.input_column),
                        _text(row, p.output_column))  # fmt: skip
        reflected = _text(row, "reflected_instruction")
        return {
            "original": original,
            "Q": Pair(reflected, "", _text(row, "reflected_instruction_output")),
            "A": original._replace(output=_text(row, "reflected_output")),
            "QA": Pair(reflected, "", _text(row, "reflected_pair_output")),
        }

    def requests(self, pair: Pair) -> list[ChatRequest]:
        """L(A|Q), L(A), L(Q|A) after the reverse prompt, L(Q), by forced decoding."""
        if not pair.instruction or not pair.output:
            raise RowError("empty_pair", "a candidate has an empty instruction or response")
        fmt = "ifd_alpaca.j2" if self.params.prompt == "alpaca" else "reflection_vicuna.j2"
        question = pair.instruction + pair.input
        guess = render(__file__, "reflection_guess.j2", output=pair.output)

        def forced(prompt: str, text: str) -> ChatRequest:
            return ChatRequest(
                prompt=prompt,
                temperature=0,
                max_tokens=forced_budget(text, self.params.max_length),
                grammar=forced_grammar(text),
                logprobs=True,
            )

        return [
            forced(
                render(__file__, fmt, instruction=pair.instruction, input=pair.input), pair.output
            ),
            forced(BARE_PREFIX, pair.output),
            forced(render(__file__, fmt, instruction=guess, input=""), question),
            forced(BARE_PREFIX, question),
        ]

    async def score(self, llm: LLMClient, pair: Pair, sent: list[ChatRequest]) -> Scores:
        requests = self.requests(pair)
        sent.extend(requests)
        loss_aq, loss_a, loss_qa, loss_q = [answer_loss(await llm.complete(r)) for r in requests]
        return Scores(math.exp(loss_aq - loss_a), math.exp(loss_qa - loss_q))

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, sent = ctx.require_llm(self.params.student), []
        pairs, scores = self.candidates(row), {}
        for name in ("original", "Q"):
            scores[name] = await self.score(llm, pairs[name], sent)
        new_instruction = scores["Q"].ifd > scores["original"].ifd
        base, reflected = ("Q", "QA") if new_instruction else ("original", "A")
        scores[reflected] = await self.score(llm, pairs[reflected], sent)
        choice = choose(
            scores[base], scores[reflected], base, reflected, self.params.keep_unimproved
        )
        table = {k: {"ifd": round(s.ifd, 4), "rifd": round(s.rifd, 4)} for k, s in scores.items()}
        if choice is None:
            why = f"{'new' if new_instruction else 'original'} instruction; no pair passed"
            return [dropped(self, row, "not_selected", why, "none", {"reflection_scores": table})]
        p, kept = self.params, pairs[choice]
        fields = {
            p.instruction_column: kept.instruction,
            p.output_column: kept.output,
            **({p.input_column: kept.input} if p.input_column else {}),
            "reflection_choice": choice,
            "reflection_scores": table,
            "original_instruction": pairs["original"].instruction,
            "original_output": pairs["original"].output,
        }
        return [self.derived(row, fields, ctx, sent, llm=llm)]


def choose(
    base: Scores, reflected: Scores, base_name: str, reflected_name: str, keep_unimproved: bool
) -> str | None:
    """The reference's response rule: the reflected response when it lowers r-IFD, else the
    base pair only with ``keep_unimproved``; either needs IFD < 1 and r-IFD < 1."""
    if reflected.rifd < base.rifd:
        return reflected_name if reflected.passes() else None
    return base_name if keep_unimproved and base.passes() else None
