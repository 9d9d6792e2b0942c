"""LaMini-LM (Wu et al., 2023, "LaMini-LM: A Diverse Herd of Distilled Models from
Large-Scale Instructions", arXiv 2304.14402; data: ``MBZUAI/LaMini-instruction``).

LaMini-LM distils gpt-3.5-turbo into small models through 2.58M instructions and the
teacher's responses. Its instructions are written by the teacher in two ways:

- example-guided: the prompt shows three instructions drawn from a seed pool (the 175
  Self-Instruct seeds, or P3/FLAN prompts) as ``<example>...</example>`` and asks for 20
  diverse examples like them, each an instruction (imperative sentence or question) between
  the same labels, with no response (the paper found two examples enough and three to give a
  more consistent format);
- topic-guided: the same prompt with three Self-Instruct seeds and three Wikipedia topics
  ("... similar to the provided examples with the topics "Design bureaus, Conidae,
  Infantry""); the paper's topics are 3.5K common Wikipedia categories with fewer than three
  words, at least 10 subcategories and 50 pages.

The teacher then answers every instruction under the system message "You are a helpful
assistant, but you must respond the provided instructions as concise as possible."

Here ``lamini.generate`` writes the instructions (``guidance`` lists the kinds, taken in
turn per request: both by default) and ``lamini.respond`` the responses. Every instruction
record keeps the examples its prompt showed (``lamini_examples``), the topics
(``lamini_topics``, empty when example-guided) and ``lamini_guidance``.

What differs: the default pool is the 175 Self-Instruct seeds (P3 and FLAN are not shipped;
give ``seed_path``, a JSONL with ``instruction``, for them); the topics are
``lamini_topics.txt``, 60 category-like names written for synthaug (``topics_path`` for the
paper's list); the prompt and system message are paraphrased. The paper names no sampling
settings or filters: temperature 1 (the API's default) is used, and an instruction that copies
a shown example or repeats an earlier one is dropped (an error row, counted), as is a reply
with no labelled example.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, SourceStep, StepContext
from ...errors import InputError
from ...llm.types import ChatRequest, Completion, chat, one_prompt
from ...records import META
from ..common.lists import read_list
from ..common.rows import dropped
from ..common.tasks import ModelStep, generated_rows
from ..registry import register
from ..templates import render
from .self_instruct import SEED_TASKS, load_seed_tasks

PAPER = "Wu et al., 2023, LaMini-LM (arXiv 2304.14402)"
TAXONOMY = "synthesis / general model distillation (example- and topic-guided instructions)"
STAGE = "instruction tuning"
TOPICS = "lamini_topics.txt"
SYSTEM = (
    "You are a helpful assistant, but you must answer the given instructions as concisely "
    "as possible."
)
OPEN = "<example>"
# an item ends at its closing label; an unclosed one (the reply cut off, or the label left
# out) at the next opening label, a blank line or the end of the reply
_EXAMPLE = re.compile(
    r"<example>(.*?)(?:</example>|(?=<example>)|\n\s*\n|\Z)", re.DOTALL | re.IGNORECASE
)


def parse_examples(text: str, cut: bool = False) -> list[str]:
    """The instructions between ``<example>`` labels, whitespace collapsed, empties left out;
    when the reply was ``cut`` at the token limit, an unclosed last item is left out too."""
    matches = list(_EXAMPLE.finditer(text))
    if cut and matches and not matches[-1].group(0).rstrip().endswith("</example>"):
        matches.pop()
    found = (" ".join(match.group(1).split()) for match in matches)
    return [instruction for instruction in found if instruction]


def key(text: str) -> str:
    return " ".join(text.lower().split())


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_instructions: int = Field(2_580_000, ge=1)  # the paper's total (all sources)
    guidance: list[Literal["example", "topic"]] = Field(
        default_factory=lambda: ["example", "topic"], min_length=1
    )
    seed_path: str | None = None  # default: the 175 Self-Instruct seed tasks
    topics_path: str | None = None  # default: lamini_topics.txt
    examples_per_prompt: int = Field(3, ge=1)  # the paper: 3
    topics_per_prompt: int = Field(3, ge=1)  # the paper: 3
    instructions_per_call: int = Field(20, ge=1)  # the paper: 20
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16)
    mode: Literal["chat", "completion"] = "chat"
    requests_in_flight: int | None = Field(None, ge=1)
    max_requests: int | None = Field(None, ge=1)


@register("lamini.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SourceStep):
    """LaMini-LM: example-guided and topic-guided instructions, k seed examples per prompt."""

    Params = GenerateParams
    seed_data: ClassVar[dict[str, str]] = {"seed_path": SEED_TASKS, "topics_path": TOPICS}
    writes = ("instruction", "lamini_guidance", "lamini_examples", "lamini_topics", "request_idx")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        p = self.params
        self.pool = list(
            dict.fromkeys(str(t["instruction"]).strip() for t in load_seed_tasks(p.seed_path))
        )
        if len(self.pool) < p.examples_per_prompt:
            raise InputError(
                p.seed_path or SEED_TASKS,
                f"{len(self.pool)} seed instructions; a prompt shows {p.examples_per_prompt}",
            )
        self.topics = read_list(p.topics_path, TOPICS) if "topic" in p.guidance else []
        if len(self.topics) < p.topics_per_prompt and "topic" in p.guidance:
            raise InputError(
                p.topics_path or TOPICS,
                f"{len(self.topics)} topics; a prompt names {p.topics_per_prompt}",
            )

    def expected_rows(self) -> int | None:
        return self.params.num_instructions

    def plan(self, number: int, seed: int) -> tuple[str, list[str], list[str]]:
        """Request ``number``'s guidance, its examples and topics (drawn with ``seed``)."""
        p = self.params
        guidance = p.guidance[number % len(p.guidance)]
        draw = random.Random(seed)
        examples = draw.sample(self.pool, p.examples_per_prompt)
        topics = draw.sample(self.topics, p.topics_per_prompt) if guidance == "topic" else []
        return guidance, examples, topics

    def request(self, examples: list[str], topics: list[str], seed: int) -> ChatRequest:
        p = self.params
        prompt = instruction_prompt(examples, topics, p.instructions_per_call, p.mode)
        options = {"temperature": p.temperature, "max_tokens": p.max_tokens, "seed": seed}
        return one_prompt(prompt, p.mode, **options)

    def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        seen = set(map(key, self.pool))
        produced = 0

        def plan(number: int) -> tuple[str, list[str], list[str]]:
            return self.plan(number, ctx.seed("plan", number))

        def make_request(number: int) -> ChatRequest:
            _, examples, topics = plan(number)
            return self.request(examples, topics, ctx.seed("request", number))

        def missing() -> int:
            return p.num_instructions - produced

        def handle(
            index: int, request: ChatRequest, result: Completion
        ) -> Iterator[dict[str, Any]]:
            nonlocal produced
            text = result.choices[0].text
            if p.mode == "completion":
                text = OPEN + text
            instructions = parse_examples(text, result.choices[0].finish_reason == "length")
            if not instructions:
                message = "no <example>...</example> in the reply"
                fields = {"generation": text, "request_idx": index}
                yield dropped(self, None, "no_examples", message, (index, "none"), fields)
                return
            guidance, examples, topics = plan(index)
            shown = set(map(key, examples))
            for k, instruction in enumerate(instructions[: p.instructions_per_call]):
                if missing() <= 0:
                    return
                problem = (
                    "copied_example" if key(instruction) in shown
                    else "duplicate" if key(instruction) in seen
                    else None
                )  # fmt: skip
                if problem is not None:
                    fields = {"instruction": instruction, "request_idx": index}
                    message = f"{problem.replace('_', ' ')}: {instruction[:80]!r}"
                    yield dropped(self, None, problem, message, (index, k, "dropped"), fields)
                    continue
                seen.add(key(instruction))
                produced += 1
                fields = {
                    "instruction": instruction,
                    "lamini_guidance": guidance,
                    "lamini_examples": examples,
                    "lamini_topics": topics,
                    "request_idx": index,
                }
                yield self.generated(fields, ctx, request, index, k)

        max_requests = p.max_requests or max(20, 2 * p.num_instructions)
        return generated_rows(
            self, llm, make_request, missing, handle, max_requests, p.requests_in_flight
        )


def instruction_prompt(
    examples: list[str], topics: list[str], count: int = 20, mode: str = "chat"
) -> str:
    """The generation prompt: the examples as ``<example>`` items, then the request for
    ``count`` more (on ``topics`` when given). As raw text (``completion``) the request comes
    first and the examples after it, then an opened label for the text to go on from."""
    return render(
        __file__, "lamini_instructions.j2", examples=examples, topics=topics, count=count,
        continuation=mode == "completion",
    )  # fmt: skip


class RespondParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str = SYSTEM
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=8)


@register("lamini.respond", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Respond(ModelStep):
    """LaMini-LM: the teacher's concise response to each instruction."""

    Params = RespondParams
    reads = ("instruction",)
    writes = ("response",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        seed = ctx.seed(row[META]["id"])
        turns = (("system", p.system), ("user", str(row["instruction"])))
        return [chat(*turns, temperature=p.temperature, max_tokens=p.max_tokens, seed=seed)]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        response = replies[0].text.strip()
        if not response:
            raise RowError("empty_response", "the teacher gave an empty response")
        return {"response": response}
