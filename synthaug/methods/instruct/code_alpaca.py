"""Code Alpaca: Self-Instruct, Alpaca style, with code seed tasks.

Chaudhary, 2023, "Code Alpaca: An Instruction-following LLaMA Model trained on code
generation instructions" (github.com/sahil280114/codealpaca). Code Alpaca runs the Stanford
Alpaca generator (Taori et al., 2023), itself Self-Instruct (Wang et al., 2023) simplified,
on code seed tasks. Against Self-Instruct (``self_instruct.bootstrap``):

- one prompt writes whole examples, not instructions alone: a list of requirements (diverse
  verbs and task types, realistic inputs or ``<noinput>``, "all tasks should be coding or
  programming related"), then 3 seed tasks drawn at random from the seeds only (no machine
  instructions) as ``###``-separated "N. Instruction / N. Input / N. Output" blocks, and the
  model continues with task 4 and on, up to 20 in the list (stop at "20.");
- no classification step and one instance per instruction;
- sampling at temperature 1.0, top_p 1.0 (the reference asks for up to 3,072 tokens);
- the same filters (3 < words <= 150, no "Write a program" start, no punctuation or
  non-ASCII first character) with five more blacklisted words (video, audio, music,
  flowchart, diagram), a truncated last block dropped, and the same ROUGE-L novelty filter
  (F1 > 0.7 against any seed or accepted instruction drops it); the reference's target is
  20,000 instructions.

These are the loop, filters and ROUGE-L pool of ``self_instruct.bootstrap``; this step
changes only the prompt, the sampling of prompt tasks and the parsing.

What differs: the reference's 20 seed tasks are not shipped (its repository states no
licence for them); ``code_alpaca_seed_tasks.jsonl`` holds 20 code tasks written for
synthaug in the same format and spread (completion, TODO filling, bug fixing, SQL,
explanation, translation, complexity, tests, syntax checking, shell, HTML, C). The prompt's
requirement list is the reference's with its typos and duplicated item numbers fixed.
The reference refreshes its pool per batch of 5 prompts; here, as in
``self_instruct.bootstrap``, prompt i sees every result up to i - ``requests_in_flight``.
"""

from __future__ import annotations

import random
import re
from typing import Any, ClassVar

from pydantic import Field

from ...engine.step import StepContext
from ...llm.types import ChatRequest, Completion, one_prompt
from ..registry import register
from ..templates import render
from .self_instruct import (
    BLACKLIST,
    Bootstrap,
    BootstrapParams,
    normalise_instruction,
    passes_filters,
)

PAPER = "Chaudhary, 2023, Code Alpaca (github.com/sahil280114/codealpaca)"
TAXONOMY = "synthesis / general model distillation (Self-Instruct with code seeds)"
STAGE = "instruction tuning (code)"
SEED_TASKS = "code_alpaca_seed_tasks.jsonl"  # 20 code seed tasks written for synthaug
CODE_BLACKLIST = (*BLACKLIST, "video", "audio", "music", "flowchart", "diagram")
NO_INPUT = "<noinput>"


class CodeAlpacaParams(BootstrapParams):
    num_instructions: int = Field(20_000, ge=1)
    num_prompt_instructions: int = Field(3, ge=1)
    num_machine_instructions: int = Field(0, ge=0, le=0)  # Alpaca samples seeds only
    list_size: int = Field(20, ge=2)  # tasks the prompt asks for (the list stops there)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int = Field(3072, ge=16)
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    stop: list[str] = Field(default_factory=lambda: ["\n20", "20."])
    blacklist: list[str] = Field(default_factory=lambda: list(CODE_BLACKLIST))


@register("code_alpaca.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(Bootstrap):
    """Code Alpaca: write whole (instruction, input, output) code tasks from 3 code seeds."""

    Params = CodeAlpacaParams
    seed_data: ClassVar[dict[str, str]] = {"seed_tasks": SEED_TASKS}
    writes = (*Bootstrap.writes, "input", "output")

    def prompt_request(
        self,
        ctx: StepContext,
        index: int,
        tasks: list[dict[str, Any]],
        seeds: list[str],
        machine: list[str],
    ) -> ChatRequest:
        p = self.params
        rng = random.Random(ctx.seed("demos", index))
        shown = [
            seed_example(t) for t in rng.sample(tasks, min(len(tasks), p.num_prompt_instructions))
        ]
        prompt = render(__file__, "code_alpaca_tasks.j2", tasks=shown, batch=p.list_size)
        options: dict[str, Any] = {
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "presence_penalty": p.presence_penalty,
            "frequency_penalty": p.frequency_penalty,
            "stop": tuple(p.stop),
        }
        return one_prompt(prompt, p.mode, **options)

    def _candidates(self, completion: Completion) -> list[dict[str, str]]:
        choice = completion.choices[0]
        examples = parse_examples(
            choice.text, self.params.num_prompt_instructions, choice.finish_reason == "length"
        )
        blacklist = tuple(self.params.blacklist)
        return [e for e in examples if passes_filters(e["instruction"], blacklist)]


def seed_example(task: dict[str, Any]) -> dict[str, str]:
    """A seed task as the prompt shows it: its instruction and first instance."""
    instance = (task.get("instances") or [{}])[0]
    return {
        "instruction": normalise_instruction(str(task["instruction"])),
        "input": str(instance.get("input") or ""),
        "output": str(instance.get("output") or ""),
    }


def parse_examples(text: str, shown: int, truncated: bool) -> list[dict[str, str]]:
    """The (instruction, input, output) blocks of a continuation of task ``shown + 1``; a
    block without all three numbered fields is skipped, and a truncated last block dropped."""
    blocks = re.split("###", f"{shown + 1}. Instruction:" + text)
    examples = []
    for position, block in enumerate(blocks):
        if truncated and position == len(blocks) - 1:
            continue
        number = shown + 1 + position
        pieces = re.split(rf"{number}\.\s+(Instruction|Input|Output):", block)
        if len(pieces) != 7:
            continue
        input_ = pieces[4].strip()
        examples.append(
            {
                "instruction": pieces[2].strip(),
                "input": "" if input_.lower() == NO_INPUT else input_,
                "output": pieces[6].strip(),
            }
        )
    return examples
