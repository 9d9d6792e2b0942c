"""Self-Instruct: bootstrapping instruction data from a language model's own outputs.

Wang et al., "Self-Instruct: Aligning Language Models with Self-Generated
Instructions", ACL 2023 (arXiv 2212.10560); reference code
``yizhongw/self-instruct``. The algorithm, as four steps:

1. ``self_instruct.bootstrap`` — each prompt lists 8 instructions (2 from the
   machine-generated pool once it has any, the rest human seeds, shuffled) and
   ends at "9." so the model continues the list (raw completion; temperature
   0.7, top_p 0.5, presence penalty 2, stop at a blank line or item 16).
   Candidates pass the length, keyword and start-character filters, then the
   ROUGE-L novelty filter: dropped when ROUGE-L F1 > 0.7 against any seed or
   pooled instruction. Accepted ones join the pool and steer later prompts.
   The paper refreshes the pool after each batch of 5 prompts; here prompt i
   sees every result up to i - ``requests_in_flight``, processed in request
   order, so the run is deterministic and resumable while the model stays busy.
2. ``self_instruct.classify`` — a few-shot "is it classification?" prompt
   (seed tasks as demonstrations), answered Yes/No.
3. ``self_instruct.instances`` — input-first examples for ordinary tasks,
   output-first (class label, then input) for classification tasks; at most 5
   per task, greedy decoding with presence penalty 1.5, then the paper's
   instance filters (input == output, empty output, trailing colon, one input
   with two outputs drops the task, exact duplicates).
4. ``self_instruct.format`` — as the reference's ``prepare_for_finetuning.py``:
   a seeded random sample of at most 5 instances per task (not the first
   five), then one record per instance in the paper's fields (instruction,
   input, output) plus a prompt/completion rendering with one of the
   reference's templates (7 with an input, 6 without), drawn per instance. The
   completion is the output and ``<|endoftext|>``, with a leading space exactly
   when the prompt ends with a colon ("Output:"), as in the reference. Half of
   the time a lone "Field:" label is stripped from the input and double line
   breaks are collapsed. Repeated (prompt, completion) pairs of a task are
   dropped.

Small local models need constrained decoding to emit parseable examples, so
steps 2–3 ask for JSON that follows a schema whose field order keeps the
paper's input-first / output-first distinction; the schema's ``maxItems``
bounds the instances as the reference's stop at "Example 6" does.

Differs from the reference's format step: the de-duplication of (prompt,
completion) pairs is per task (a map step sees one task; the built-in recipe's
``dedup_exact`` step covers the whole set), the final shuffle and the seed
tasks' own instances are left to the recipe, and a "Field:" label is
stripped only when its colon ends a label (the reference also splits "10:30"
or "http://x" at their colon when it is the input's only one).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import string
from collections.abc import AsyncIterator
from importlib import resources
from statistics import fmean
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io import read_records
from ...llm.client import LLMError
from ...llm.types import ChatRequest, Completion, chat, json_object, one_prompt
from ...quality.rouge import RougePool
from ...records import META, derive
from ..common.rows import dropped
from ..common.tasks import generate_until
from ..registry import register
from ..templates import render

PAPER = "Wang et al., 2023, Self-Instruct (arXiv 2212.10560)"
TAXONOMY = "synthesis / model self-improvement (general distillation with a stronger teacher)"
STAGE = "instruction tuning"
SEED_TASKS = "self_instruct_seed_tasks.jsonl"  # the 175 human seed tasks (synthaug/data)

BLACKLIST = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)


def load_seed_tasks(path: str | None) -> list[dict[str, Any]]:
    """Seed tasks (``instruction``, ``instances``, ``is_classification``); default: the 175."""
    if path is None:
        source = resources.files("synthaug") / "data" / SEED_TASKS
        path = str(source)
    tasks = list(read_records(path, required=("instruction",)))
    if not tasks:
        raise InputError(path, "no seed tasks")
    for task in tasks:
        task.setdefault("instances", [])
        task.setdefault("is_classification", False)
    return tasks


def normalise_instruction(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":")


def split_listed_instructions(text: str) -> list[str]:
    """The items of a numbered-list continuation (the first piece continues item 9)."""
    return [re.sub(r"\s+", " ", piece).strip() for piece in re.split(r"\n\d+\s?\. ", text)]


def passes_filters(instruction: str, blacklist: tuple[str, ...] = BLACKLIST) -> bool:
    """The paper's post-filters: length, keyword blacklist, start characters."""
    if not instruction:
        return False
    words = len(instruction.split())
    if words <= 3 or words > 150:
        return False
    if any(re.search(rf"\b{re.escape(w)}\b", instruction, re.IGNORECASE) for w in blacklist):
        return False
    if instruction.startswith("Write a program"):
        return False
    return instruction[0] not in string.punctuation and instruction[0].isascii()


class BootstrapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed_tasks: str | None = None
    num_instructions: int = Field(50_000, ge=1)
    num_prompt_instructions: int = Field(8, ge=1)
    num_machine_instructions: int = Field(2, ge=0)
    rouge_threshold: float = Field(0.7, gt=0, le=1)
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.5, ge=0, le=1)
    max_tokens: int = Field(1024, ge=16)
    presence_penalty: float = Field(2.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    stop: list[str] = Field(default_factory=lambda: ["\n\n", "\n16", "16.", "16 ."])
    requests_in_flight: int | None = Field(None, ge=1)
    max_requests: int | None = Field(None, ge=1)
    mode: Literal["completion", "chat"] = "completion"
    blacklist: list[str] = Field(default_factory=lambda: list(BLACKLIST))
    similarity_report: bool = True


@register("self_instruct.bootstrap", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Bootstrap(SourceStep):
    """Self-Instruct step 1: grow a pool of novel instructions from seed tasks."""

    Params = BootstrapParams
    seed_data: ClassVar[dict[str, str]] = {"seed_tasks": SEED_TASKS}
    writes = ("instruction", "most_similar", "avg_similarity_score", "request_idx")
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.num_instructions

    def request(self, prompt_instructions: list[str], seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "self_instruct_tasks.j2", instructions=prompt_instructions)
        options: dict[str, Any] = {
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "presence_penalty": p.presence_penalty,
            "frequency_penalty": p.frequency_penalty,
            "stop": tuple(p.stop),
            "seed": seed,
        }
        return one_prompt(prompt, p.mode, **options)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        machine: list[str] = []
        in_flight = p.requests_in_flight or llm.backend.max_concurrency
        max_requests = p.max_requests or max(50, 20 * p.num_instructions)
        produced = 0

        tasks = load_seed_tasks(p.seed_tasks)
        seeds = [normalise_instruction(t["instruction"]) for t in tasks]
        pool = RougePool()
        for seed in seeds:
            pool.add(seed)

        def make_request(number: int) -> ChatRequest:
            request = self.prompt_request(ctx, number, tasks, seeds, machine)
            return request.model_copy(update={"seed": ctx.seed("request", number)})

        def missing() -> int:
            return p.num_instructions - produced

        results = generate_until(llm, make_request, missing, max_requests, in_flight)
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                if isinstance(result, LLMError):
                    yield self._failed(index, result)
                    continue
                for k, candidate in enumerate(self._candidates(result)):
                    instruction = candidate["instruction"]
                    accepted = self._novel(pool, instruction)
                    if accepted is None:
                        continue
                    pool.add(instruction)
                    machine.append(instruction)
                    produced += 1
                    yield self._record(ctx, index, k, candidate, accepted, request)
                    if missing() <= 0:
                        break

    def prompt_request(
        self,
        ctx: StepContext,
        index: int,
        tasks: list[dict[str, Any]],
        seeds: list[str],
        machine: list[str],
    ) -> ChatRequest:
        """Request ``index`` (its seed is set by the caller): the seed tasks' normalised
        instructions ``seeds`` and the accepted ``machine`` ones in a numbered list."""
        return self.request(self._sample(ctx, index, seeds, machine), 0)

    def _sample(
        self, ctx: StepContext, index: int, seeds: list[str], machine: list[str]
    ) -> list[str]:
        """2 machine instructions (when any) plus human seeds, 8 in all, shuffled."""
        rng = random.Random(ctx.seed("demos", index))
        p = self.params
        chosen = rng.sample(machine, min(p.num_machine_instructions, len(machine)))
        chosen += rng.sample(seeds, min(len(seeds), p.num_prompt_instructions - len(chosen)))
        rng.shuffle(chosen)
        return chosen

    def _candidates(self, completion: Completion) -> list[dict[str, str]]:
        """The listed instructions that pass the filters, each as ``{"instruction": ...}``."""
        choice = completion.choices[0]
        if choice.finish_reason == "length":  # the paper drops truncated lists whole
            return []
        blacklist = tuple(self.params.blacklist)
        items = split_listed_instructions(choice.text)
        return [
            {"instruction": normalise_instruction(i)} for i in items if passes_filters(i, blacklist)
        ]

    def _novel(self, pool: RougePool, instruction: str) -> dict[str, Any] | None:
        """Similarity report if ROUGE-L to every pooled instruction is ≤ threshold, else None."""
        threshold = self.params.rouge_threshold
        if not self.params.similarity_report:
            score = pool.max_score(instruction, stop_above=threshold)
            return None if score > threshold else {}
        scores = pool.scores(instruction)
        if max(scores, default=0.0) > threshold:
            return None
        top = pool.most_similar(instruction, k=10)
        return {"most_similar": dict(top), "avg_similarity_score": fmean(scores) if scores else 0.0}

    def _record(self, ctx, index, k, candidate, report, request) -> dict[str, Any]:
        fields = {
            **candidate,
            "most_similar": report.get("most_similar", {}),
            "avg_similarity_score": report.get("avg_similarity_score"),
            "request_idx": index,
        }
        return self.generated(fields, ctx, request, index, k)

    def _failed(self, index: int, exc: LLMError) -> dict[str, Any]:
        return dropped(self, None, exc.kind, str(exc), (index, "error"), {"request_idx": index})


def _demo_tasks(tasks: list[dict[str, Any]], classification: bool, count: int) -> list[dict]:
    """The first ``count`` seed tasks of one kind that have a non-empty example."""
    chosen = [
        t
        for t in tasks
        if bool(t["is_classification"]) == classification
        and t["instances"]
        and t["instances"][0].get("output")
    ]
    return chosen[:count]


YES_NO_SCHEMA = {
    "type": "object",
    "properties": {"is_classification": {"type": "string", "enum": ["Yes", "No"]}},
    "required": ["is_classification"],
    "additionalProperties": False,
}


class ClassifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed_tasks: str | None = None
    num_demos: int = Field(12, ge=0)
    max_tokens: int = Field(32, ge=8)


@register("self_instruct.classify", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Classify(MapStep):
    """Self-Instruct step 2: decide whether each instruction is a classification task."""

    Params = ClassifyParams
    seed_data: ClassVar[dict[str, str]] = {"seed_tasks": SEED_TASKS}
    reads = ("instruction",)
    writes = ("is_classification",)
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        tasks = load_seed_tasks(self.params.seed_tasks)
        half = self.params.num_demos // 2
        demos = _demo_tasks(tasks, True, half) + _demo_tasks(tasks, False, half)
        self.demos = random.Random(0).sample(demos, len(demos))

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm = ctx.require_llm()
        prompt = render(
            __file__, "self_instruct_classify.j2", demos=self.demos, instruction=row["instruction"]
        )
        request = chat(
            ("user", prompt),
            temperature=0,
            max_tokens=self.params.max_tokens,
            json_schema=YES_NO_SCHEMA,
        )
        completion = await llm.complete(request)
        answer = json_object(completion.text).get("is_classification")
        if answer not in ("Yes", "No"):
            raise RowError(
                "parse_error", f"classification answer not Yes/No: {completion.text[:80]!r}"
            )
        fields = {"is_classification": answer == "Yes"}
        return [self.derived(row, fields, ctx, [request])]


def instance_schema(classification: bool, max_instances: int) -> dict[str, Any]:
    """JSON schema whose field order encodes input-first or output-first generation."""
    first, second = ("class_label", "input") if classification else ("input", "output")
    item = {
        "type": "object",
        "properties": {first: {"type": "string"}, second: {"type": "string"}},
        "required": [first, second],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "examples": {"type": "array", "items": item, "minItems": 1, "maxItems": max_instances}
        },
        "required": ["examples"],
        "additionalProperties": False,
    }


class InstancesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed_tasks: str | None = None
    max_instances: int = Field(5, ge=1)
    num_demos: int = Field(3, ge=0)
    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(0.0, ge=0, le=1)
    presence_penalty: float = Field(1.5, ge=-2, le=2)
    max_tokens: int = Field(350, ge=16)
    max_tokens_classification: int = Field(300, ge=16)


@register("self_instruct.instances", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Instances(MapStep):
    """Self-Instruct step 3: write input/output instances (input-first or output-first)."""

    Params = InstancesParams
    seed_data: ClassVar[dict[str, str]] = {"seed_tasks": SEED_TASKS}
    reads = ("instruction", "is_classification")
    writes = ("instances",)
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        tasks = load_seed_tasks(self.params.seed_tasks)
        self.demos = {
            kind: [self._demo(t, kind) for t in _demo_tasks(tasks, kind, self.params.num_demos)]
            for kind in (False, True)
        }

    def _demo(self, task: dict[str, Any], classification: bool) -> dict[str, str]:
        first, second = ("class_label", "input") if classification else ("input", "output")
        examples = [
            {
                first: i["output"] if classification else i.get("input", ""),
                second: i.get("input", "") if classification else i["output"],
            }
            for i in task["instances"][: self.params.max_instances]
        ]
        return {"instruction": task["instruction"], "examples": json.dumps({"examples": examples})}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, p = ctx.require_llm(), self.params
        classification = bool(row["is_classification"])
        template = (
            "self_instruct_output_first.j2" if classification else "self_instruct_input_first.j2"
        )
        prompt = render(
            __file__, template, demos=self.demos[classification], instruction=row["instruction"]
        )
        request = chat(
            ("user", prompt),
            temperature=p.temperature,
            top_p=p.top_p,
            presence_penalty=p.presence_penalty,
            json_schema=instance_schema(classification, p.max_instances),
            max_tokens=p.max_tokens_classification if classification else p.max_tokens,
            seed=ctx.seed(row[META]["id"]),
        )
        completion = await llm.complete(request)
        raw = parse_examples(
            completion.text, truncated=completion.choices[0].finish_reason == "length"
        )
        instances = filter_instances(raw, classification)  # self_instruct.format samples <= 5
        if not instances:
            return []
        return [self.derived(row, {"instances": instances}, ctx, [request], seed=request.seed)]


def parse_examples(text: str, truncated: bool) -> list[dict[str, str]]:
    """Examples from the model's JSON; a truncated answer keeps its complete examples only."""
    parsed = json_object(text).get("examples")
    if isinstance(parsed, list):
        return [e for e in parsed if isinstance(e, dict)]
    if not truncated:
        raise RowError("parse_error", f"instances are not valid JSON: {text[:80]!r}")
    decoder, complete, position = json.JSONDecoder(), [], text.find("[")
    while position != -1:
        start = text.find("{", position)
        if start == -1:
            break
        try:
            item, position = decoder.raw_decode(text, start)
        except ValueError:
            break  # the paper drops the last, truncated instance
        if isinstance(item, dict):
            complete.append(item)
    return complete


def filter_instances(examples: list[dict[str, str]], classification: bool) -> list[dict[str, str]]:
    """The paper's instance filters; an input with two different outputs drops the task."""
    instances, seen, outputs_by_input = [], set(), {}
    for example in examples:
        output = str(example.get("class_label" if classification else "output", "")).strip()
        input_ = str(example.get("input", "")).strip()
        if not output or input_ == output or input_.endswith(":") or output.endswith(":"):
            continue
        if input_ and outputs_by_input.setdefault(input_, output) != output:
            return []
        if (input_, output) not in seen:
            seen.add((input_, output))
            instances.append({"input": input_, "output": output})
    return instances


# The fine-tuning renderings of the reference's prepare_for_finetuning.py: one is drawn per
# instance, 7 for an instance with an input, 6 without. The completion is the output plus
# end-of-text, with a leading space exactly when the prompt ends with a label's colon
# ("Output:"), and none when it ends with a line break (``completion_text``).
WITH_INPUT = (
    "{instruction}\nInput: {input}\nOutput:",
    "{instruction}\n\nInput: {input}\n\nOutput:",
    "Task: {instruction}\nInput: {input}\nOutput:",
    "{instruction}\n\n{input}\n\nOutput:",
    "{instruction}\n\n{input}\n\n",
    "{instruction}\n{input}\n\n",
    "Task: {instruction}\n\n{input}\n\n",
)
WITHOUT_INPUT = (
    "{instruction} Output:",
    "{instruction}\nOutput:",
    "{instruction}\n\nOutput:",
    "{instruction}\n",
    "{instruction}\n\n",
    "Task: {instruction}\n\n",
)


def completion_text(prompt: str, output: str, end_of_text: str) -> str:
    """The reference's completion: a leading space after a prompt that ends with a colon."""
    return (" " if prompt.endswith(":") else "") + output + end_of_text


class FormatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_instances: int = Field(5, ge=1)  # the reference: a random sample of at most 5 per task
    strip_field_prefix_probability: float = Field(0.5, ge=0, le=1)
    end_of_text: str = "<|endoftext|>"


@register("self_instruct.format", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Format(MapStep):
    """Self-Instruct step 4: one (instruction, input, output) record per sampled instance."""

    Params = FormatParams
    reads = ("instruction", "instances")
    writes = ("input", "output", "prompt", "completion")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"instances"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        instances = list(enumerate(row["instances"]))
        sampled = random.Random(ctx.seed(row_id, "sample")).sample(
            instances, min(len(instances), p.max_instances)
        )
        parent = {k: v for k, v in row.items() if k != "instances"}
        records, seen = [], set()
        for k, instance in sampled:
            rng = random.Random(ctx.seed(row_id, k))
            instruction = str(row["instruction"]).strip()
            input_, output = str(instance["input"]).strip(), str(instance["output"]).strip()
            shown = input_
            if rng.random() < p.strip_field_prefix_probability:
                shown = strip_single_field_prefix(shown).replace("\n\n", "\n")
            templates = WITH_INPUT if shown else WITHOUT_INPUT
            prompt = rng.choice(templates).format(instruction=instruction, input=shown)
            completion = completion_text(prompt, output, p.end_of_text)
            if (prompt, completion) in seen:  # the reference drops repeated pairs
                continue
            seen.add((prompt, completion))
            fields = {
                "instruction": instruction,
                "input": input_,
                "output": output,
                "prompt": prompt,
                "completion": completion,
            }
            records.append(derive(parent, fields, step=self.name, method=self.method, index=k))
        return records


def strip_single_field_prefix(text: str) -> str:
    """Drop a lone "Field:" label, as the reference does when exactly one distinct word
    precedes a colon in the input; here only when that colon ends a label (it is followed by
    white space or the end), so "10:30" or "http://" are left alone."""
    labels = set(re.findall(r"(\w+):", text))
    _, colon, rest = text.partition(":")
    if len(labels) != 1 or not colon or (rest and not rest[0].isspace()):
        return text
    return rest.strip()
