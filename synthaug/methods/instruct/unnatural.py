"""Unnatural Instructions: three seed examples in, a fourth out, then instruction paraphrases.

Honovich, Scialom, Levy and Schick, 2022, "Unnatural Instructions: Tuning Language Models
with (Almost) No Human Labor" (arXiv 2212.09689; data: ``orhonovich/unnatural-instructions``).
The paper's pipeline, as three steps:

1. ``unnatural.generate`` — core examples. The prompt shows three structured examples
   ("Example k / Instruction / Input / Constraints", the constraints naming the output
   space) and ends at "Example 4", so a pretrained model writes a fourth. The paper uses 5
   fixed triplets ("5 different seeds", 15 examples in all) and stochastic decoding (nucleus
   sampling, p = 0.99); prompt i uses triplet i mod 5 with its own sampling seed. Its three
   filters: a generation without all three fields (instruction, input, constraints) is
   dropped (``missing_fields``), as is one whose instruction or input copies an example of
   its prompt (``copied_demonstration``) and an exact duplicate (same instruction and input)
   of an earlier one (``duplicate``); the dropped ones are error rows, counted in the summary.
   The paper collected 68,478 examples (``num_examples``, default 64,000 as it trained on).
2. ``unnatural.outputs`` — the model executes each (instruction, input, constraints) with
   greedy decoding (temperature 0), with no demonstrations.
3. ``unnatural.paraphrase`` — template expansion: for each core example the model writes
   ``num_reformulations`` alternative formulations of the instruction from a few-shot prompt
   whose demonstrations mark where the input goes with ``{INPUT}``; a reformulation without
   the placeholder is dropped (``no_input_placeholder``), and one equal to the instruction or
   an earlier reformulation is left out. Each core example yields itself and its
   reformulations, all with the same input and output, ``instruction_with_input`` the
   instruction with the input filled in (for the core example: appended after a line break)
   and ``reformulation`` telling them apart. The released set averages about 2.5
   reformulations per core example (240,670 examples from 68,478).

What differs: the paper's 15 seed examples come from Super-Natural Instructions and its
prompts' demonstrations are not reproduced here; ``unnatural_seed_examples.jsonl`` holds 15
examples written for synthaug in the same format (5 triplets, field ``prompt``), and the
paraphrase prompt's three demonstrations are written for synthaug. The output prompt's
field layout ("Instruction / Input / Constraints / Output:") is this module's rendering, sent
as a chat turn by default (``mode: completion`` sends it raw, as the paper prompted
text-davinci-002). Reformulations are sampled as the core examples are (p = 0.99); the
paper's exact setting for them is not reproduced.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io import read_records
from ...llm.types import ChatRequest, Completion, one_prompt
from ...records import META
from ..common.rows import dropped
from ..common.tasks import ModelStep, generated_rows
from ..registry import register
from ..templates import render

PAPER = "Honovich et al., 2022, Unnatural Instructions (arXiv 2212.09689)"
TAXONOMY = "synthesis / general model distillation (instruction generation from seed examples)"
STAGE = "instruction tuning"
SEED_EXAMPLES = "unnatural_seed_examples.jsonl"  # 15 examples (5 prompts of 3), synthaug's own
PLACEHOLDER = "{INPUT}"
FIELDS = ("instruction", "input", "constraints")


def load_seed_prompts(path: str | None, per_prompt: int) -> list[list[dict[str, str]]]:
    """The seed examples grouped into prompts: by their ``prompt`` field when present, else
    in consecutive groups of ``per_prompt``."""
    if path is None:
        path = str(resources.files("synthaug") / "data" / SEED_EXAMPLES)
    rows = list(read_records(path, required=FIELDS))
    if len(rows) < per_prompt:
        raise InputError(path, f"{len(rows)} seed examples; a prompt shows {per_prompt}")
    groups: dict[Any, list[dict[str, str]]] = {}
    for position, row in enumerate(rows):
        example = {f: str(row[f]).strip() for f in FIELDS}
        groups.setdefault(row.get("prompt", position // per_prompt), []).append(example)
    return [g[:per_prompt] for g in groups.values() if len(g) >= per_prompt]


def parse_example(text: str) -> dict[str, str] | None:
    """The (instruction, input, constraints) a continuation of "Example 4" gives, or None when
    a field is missing or empty. The constraints end at a blank line or the next example."""
    match = re.match(
        r"\s*Instruction:(?P<instruction>.*?)\nInput:(?P<input>.*?)\nConstraints:(?P<constraints>.*)",
        text,
        re.DOTALL,
    )
    if match is None:
        return None
    constraints = re.split(r"\n\s*\n|\nExample\b", match["constraints"], maxsplit=1)[0]
    example = {
        "instruction": match["instruction"].strip(),
        "input": match["input"].strip(),
        "constraints": constraints.strip(),
    }
    return example if all(example.values()) else None


def key(text: str) -> str:
    return " ".join(text.split())


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed_path: str | None = None  # default: the 15 built-in seed examples
    num_examples: int = Field(64_000, ge=1)
    examples_per_prompt: int = Field(3, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(0.99, ge=0, le=1)
    max_tokens: int = Field(384, ge=16)
    stop: list[str] = Field(default_factory=lambda: ["Example 5", "\n\n\n"])
    mode: Literal["completion", "chat"] = "completion"
    requests_in_flight: int | None = Field(None, ge=1)
    max_requests: int | None = Field(None, ge=1)


@register("unnatural.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SourceStep):
    """Unnatural Instructions step 1: three seed examples in the prompt, a fourth generated."""

    Params = GenerateParams
    seed_data: ClassVar[dict[str, str]] = {"seed_path": SEED_EXAMPLES}
    writes = ("instruction", "input", "constraints", "request_idx")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.prompts = load_seed_prompts(self.params.seed_path, self.params.examples_per_prompt)

    def expected_rows(self) -> int | None:
        return self.params.num_examples

    def request(self, examples: list[dict[str, str]], seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "unnatural_examples.j2", examples=examples) + "\n"
        options: dict[str, Any] = {
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "stop": tuple(p.stop),
            "seed": seed,
        }
        return one_prompt(prompt, p.mode, **options)

    def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        prompts = self.prompts
        seen: set[tuple[str, str]] = set()
        produced = 0

        def make_request(number: int) -> ChatRequest:
            return self.request(prompts[number % len(prompts)], ctx.seed("request", number))

        def missing() -> int:
            return p.num_examples - produced

        def handle(index: int, request: ChatRequest, result: Completion) -> list[dict[str, Any]]:
            nonlocal produced
            shown = prompts[index % len(prompts)]
            example, problem = check_example(result.choices[0].text, shown, seen)
            if problem is not None:
                text = {"generation": result.choices[0].text, "request_idx": index}
                return [dropped(self, None, problem[0], problem[1], (index, "dropped"), text)]
            seen.add((key(example["instruction"]), key(example["input"])))
            produced += 1
            return [self.generated({**example, "request_idx": index}, ctx, request, index)]

        max_requests = p.max_requests or max(50, 5 * p.num_examples)
        return generated_rows(
            self, llm, make_request, missing, handle, max_requests, p.requests_in_flight
        )


def check_example(
    text: str, shown: list[dict[str, str]], seen: set[tuple[str, str]]
) -> tuple[dict[str, str], None] | tuple[None, tuple[str, str]]:
    """The paper's three filters: the example, or None and (error kind, message)."""
    example = parse_example(text)
    if example is None:
        return None, ("missing_fields", "no instruction, input and constraints in the generation")
    instruction, input_ = key(example["instruction"]), key(example["input"])
    if any(instruction == key(d["instruction"]) or input_ == key(d["input"]) for d in shown):
        return None, ("copied_demonstration", "the instruction or input copies a prompt example")
    if (instruction, input_) in seen:
        return None, ("duplicate", "an earlier example has the same instruction and input")
    return example, None


class OutputsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)  # the paper: greedy decoding
    max_tokens: int = Field(256, ge=8)
    mode: Literal["completion", "chat"] = "chat"


@register("unnatural.outputs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Outputs(ModelStep):
    """Unnatural Instructions step 2: execute each generated example greedily for its output."""

    Params = OutputsParams
    reads = FIELDS
    writes = ("output",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(__file__, "unnatural_output.j2", **{f: row[f] for f in FIELDS})
        options = {"temperature": p.temperature, "max_tokens": p.max_tokens}
        return [one_prompt(prompt, p.mode, **options)]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        output = replies[0].text.strip()
        if not output:
            raise RowError("empty_output", "the model gave an empty output")
        return {"output": output}


class ParaphraseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_reformulations: int = Field(2, ge=1, le=16)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(0.99, ge=0, le=1)
    max_tokens: int = Field(128, ge=8)
    mode: Literal["completion", "chat"] = "completion"


@register("unnatural.paraphrase", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Paraphrase(MapStep):
    """Unnatural Instructions step 3: the example plus reformulations of its instruction."""

    Params = ParaphraseParams
    reads = ("instruction", "input", "output")
    writes = ("instruction_with_input", "reformulation")
    uses_llm = True

    def request(self, instruction: str, seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "unnatural_paraphrase.j2", instruction=instruction)
        options: dict[str, Any] = {
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "stop": ("\n\n", "\nExample"),
            "seed": seed,
        }
        return one_prompt(prompt, p.mode, **options)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, row_id = ctx.require_llm(), row[META]["id"]
        instruction, input_ = str(row["instruction"]).strip(), str(row["input"]).strip()
        fields = {"instruction_with_input": f"{instruction}\n{input_}", "reformulation": False}
        records = [self.derived(row, fields, ctx, [])]
        kept = {key(instruction)}
        for k in range(1, self.params.num_reformulations + 1):
            request = self.request(instruction, ctx.seed(row_id, k))
            text = (await llm.complete(request)).text
            reformulation = parse_reformulation(text)
            if reformulation is None:
                message = f"no {PLACEHOLDER} in the reformulation: {text.strip()[:80]!r}"
                records.append(
                    dropped(self, row, "no_input_placeholder", message, k, {"reformulated": text})
                )
                continue
            if key(reformulation) in kept:
                continue
            kept.add(key(reformulation))
            fields = {
                "instruction": reformulation,
                "instruction_with_input": reformulation.replace(PLACEHOLDER, input_),
                "reformulation": True,
            }
            records.append(self.derived(row, fields, ctx, [request], index=k, seed=request.seed))
        return records


def parse_reformulation(text: str) -> str | None:
    """The reformulated instruction (first paragraph of the reply) if it has the placeholder."""
    reformulation = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].strip()
    return reformulation if PLACEHOLDER in reformulation else None
