"""LAB, Large-scale Alignment for chatBots / InstructLab (Sudalairaj et al., 2024, arXiv 2403.01081).

Synthetic data generation driven by a taxonomy tree (read by
``lab.taxonomy``), leaf by leaf, with the teacher model as generator and as
judge. For a skill leaf, each of ``instructions_per_leaf`` candidates goes
through the four steps of skills SDG: (1) generate a new instruction from
``examples_in_prompt`` seed examples drawn from the leaf (a grounded skill also
writes a fresh context), (2) the instruction is dropped when it repeats a seed question
(ROUGE-L above 0.7) or when the teacher, in a constrained Yes/No, does not
judge it a clear, safe task for the skill, (3) generate the response,
grounded on the context when the skill is grounded, (4) the teacher scores
the pair from 1 to 3 and pairs under ``min_pair_score`` are dropped. For a
knowledge leaf, each candidate draws one of the leaf's context documents and
the teacher writes a question and answer grounded in it (a question that
copies the document is dropped), then the pair is scored as in (4), with
support by the document part of the rubric.

Kept records carry ``instruction``, ``output``, ``messages``, the leaf path
(``lab_leaf``), its kind, the context, and the verdicts
(``lab_instruction_verdict``, ``lab_pair_score``); with ``keep_rejected`` the
dropped candidates are emitted too, marked ``lab_kept: false`` with the step
that rejected them. Candidates of a leaf run concurrently; each has its own
seed, so a resumed run replays them from the request cache.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, chat, json_object
from ...quality.rouge import rouge_l
from ...records import META
from ..registry import register
from ..templates import render

PAPER = "Sudalairaj et al., 2024, LAB: Large-Scale Alignment for ChatBots (arXiv 2403.01081)"
TAXONOMY = "synthesis / general model distillation (taxonomy-driven generation)"
STAGE = "instruction tuning"
COPY_ROUGE = 0.7  # Self-Instruct's novelty threshold, used to spot copied seeds and documents


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


INSTRUCTION_SCHEMA = _object(question=_text(300))
GROUNDED_INSTRUCTION_SCHEMA = _object(context=_text(600), question=_text(300))
KNOWLEDGE_SCHEMA = _object(question=_text(300), answer=_text(600))
VERDICT_SCHEMA = _object(verdict={"type": "string", "enum": ["Yes", "No"]})
SCORE_SCHEMA = _object(score={"type": "integer", "enum": [1, 2, 3]})


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instructions_per_leaf: int = Field(10, ge=1)
    examples_in_prompt: int = Field(3, ge=1)
    min_pair_score: int = Field(2, ge=1, le=3)
    keep_rejected: bool = False
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)  # the instruction (and context) or knowledge Q&A
    answer_max_tokens: int = Field(1024, ge=16)


@register("lab.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """LAB: skills SDG (instruction, judge, response, judge) and knowledge SDG per leaf."""

    Params = GenerateParams
    reads = ("lab_leaf", "lab_kind", "lab_task_description", "lab_seed_examples")
    writes = (
        "instruction",
        "output",
        "messages",
        "lab_leaf",
        "lab_kind",
        "lab_context",
        "lab_instruction_verdict",
        "lab_pair_score",
        "lab_kept",
        "lab_rejected_by",
    )
    uses_llm = True

    def output_columns(self, input_columns: set[str]) -> set[str]:
        """Records keep only the leaf's path and kind, not its seed examples."""
        return set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        candidates = await asyncio.gather(
            *(
                self._candidate(row, number, ctx)
                for number in range(self.params.instructions_per_leaf)
            )
        )
        records = []
        for number, (fields, requests) in enumerate(candidates):
            if fields["lab_kept"] or self.params.keep_rejected:
                records.append(
                    self.derived(
                        row,
                        fields,
                        ctx,
                        requests,
                        index=number,
                        keep_parent_fields=False,
                        seed=ctx.seed(row[META]["id"], number),
                    )
                )
        return records

    async def _candidate(
        self, row: dict[str, Any], number: int, ctx: StepContext
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        seed = ctx.seed(row[META]["id"], number)
        rng = random.Random(seed)
        examples = row["lab_seed_examples"]
        shots = rng.sample(examples, min(self.params.examples_in_prompt, len(examples)))
        if row["lab_kind"] == "knowledge":
            return await self._knowledge(row, shots, rng.choice(_documents(examples)), seed, ctx)
        return await self._skill(row, shots, seed, ctx)

    async def _skill(
        self, row: dict[str, Any], shots: list[dict[str, str]], seed: int, ctx: StepContext
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        p, llm = self.params, ctx.require_llm()
        grounded = row["lab_kind"] == "grounded_skill"
        ask = self._request(
            render(
                __file__,
                "lab_instruction.j2",
                task_description=row["lab_task_description"],
                examples=shots,
                grounded=grounded,
            ),
            seed,
            GROUNDED_INSTRUCTION_SCHEMA if grounded else INSTRUCTION_SCHEMA,
        )
        task = parse_instruction(await _reply(llm, ask), grounded)
        fields = _fields(row, task)
        if task is None:
            return {**fields, "lab_rejected_by": "unparseable_instruction"}, [ask]
        if is_copy(task["question"], [e["question"] for e in row["lab_seed_examples"]]):
            return {**fields, "lab_rejected_by": "copies_seed_example"}, [ask]
        judge = self._judge("lab_instruction_judge.j2", VERDICT_SCHEMA, row, task)
        verdict = parse_verdict(await _reply(llm, judge))
        fields["lab_instruction_verdict"] = verdict
        if verdict != "Yes":
            return {**fields, "lab_rejected_by": "instruction_judge"}, [ask, judge]
        respond = self._request(
            render(
                __file__, "lab_response.j2", context=task.get("context"), question=task["question"]
            ),
            seed + 1,
            max_tokens=p.answer_max_tokens,
        )
        answer = (await _reply(llm, respond)).strip()
        fields, requests = await self._score({**fields, "output": answer}, row, task, llm)
        return fields, [ask, judge, respond, *requests]

    async def _knowledge(
        self,
        row: dict[str, Any],
        shots: list[dict[str, str]],
        document: str,
        seed: int,
        ctx: StepContext,
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        llm = ctx.require_llm()
        ask = self._request(
            render(__file__, "lab_knowledge.j2", document=document, examples=shots),
            seed,
            KNOWLEDGE_SCHEMA,
        )
        pair = parse_knowledge(await _reply(llm, ask))
        task = {"context": document, "question": pair[0]} if pair else None
        fields = _fields(row, task)
        if pair is None:
            return {**fields, "lab_rejected_by": "unparseable_pair"}, [ask]
        if is_copy(pair[0], [document]):
            return {**fields, "lab_rejected_by": "copies_document"}, [ask]
        fields, requests = await self._score({**fields, "output": pair[1]}, row, task, llm)
        return fields, [ask, *requests]

    async def _score(
        self, fields: dict[str, Any], row: dict[str, Any], task: dict[str, str], llm: LLMClient
    ) -> tuple[dict[str, Any], list[ChatRequest]]:
        """Step (4): the teacher's 1-3 score of the pair; below ``min_pair_score`` is dropped."""
        if not fields["output"]:
            return {**fields, "lab_rejected_by": "empty_response"}, []
        judge = self._judge("lab_pair_judge.j2", SCORE_SCHEMA, row, task, answer=fields["output"])
        score = parse_score(await _reply(llm, judge))
        kept = score is not None and score >= self.params.min_pair_score
        fields |= {"lab_pair_score": score, "lab_kept": kept}
        fields["messages"] = _messages(fields["instruction"], fields["output"])
        return fields | ({} if kept else {"lab_rejected_by": "pair_judge"}), [judge]

    def _request(
        self, prompt: str, seed: int, schema: dict[str, Any] | None = None, max_tokens: int = 0
    ) -> ChatRequest:
        return chat(
            ("user", prompt),
            temperature=self.params.temperature,
            max_tokens=max_tokens or self.params.max_tokens,
            json_schema=schema,
            seed=seed,
        )

    def _judge(
        self,
        template: str,
        schema: dict[str, Any],
        row: dict[str, Any],
        task: dict[str, str],
        **extra: str,
    ) -> ChatRequest:
        prompt = render(
            __file__,
            template,
            task_description=row["lab_task_description"],
            context=task.get("context"),
            question=task["question"],
            **extra,
        )
        return chat(("user", prompt), temperature=0, max_tokens=24, json_schema=schema)


async def _reply(llm: LLMClient, request: ChatRequest) -> str:
    return (await llm.complete(request)).text


def _fields(row: dict[str, Any], task: dict[str, str] | None) -> dict[str, Any]:
    """A candidate's record fields before the judges have spoken."""
    context = (task or {}).get("context")
    question = (task or {}).get("question", "")
    return {
        "instruction": f"{context}\n\n{question}" if context else question,
        "output": "",
        "messages": [],
        "lab_leaf": row["lab_leaf"],
        "lab_kind": row["lab_kind"],
        "lab_context": context,
        "lab_instruction_verdict": None,
        "lab_pair_score": None,
        "lab_kept": False,
        "lab_rejected_by": None,
    }


def _messages(instruction: str, output: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": instruction}, {"role": "assistant", "content": output}]


def _documents(examples: list[dict[str, str]]) -> list[str]:
    """A knowledge leaf's distinct context passages, in order."""
    return list(dict.fromkeys(e["context"] for e in examples))


def parse_instruction(text: str, grounded: bool) -> dict[str, str] | None:
    """The new task (``question`` and, when grounded, ``context``), or None if unusable."""
    data = json_object(text)
    keys = ("context", "question") if grounded else ("question",)
    task = {key: str(data.get(key, "")).strip() for key in keys}
    return task if all(task.values()) else None


def parse_knowledge(text: str) -> tuple[str, str] | None:
    data = json_object(text)
    question, answer = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
    return (question, answer) if question and answer else None


def _judged(text: str, key: str) -> Any:
    """The judge's ``key`` value; from a reply cut off after it too (the small model pads the
    constrained JSON with newlines until ``max_tokens`` runs out)."""
    if key in (data := json_object(text)):
        return data[key]
    found = re.search(rf'"{key}"\s*:\s*("?)(\w+)\1\s*(?:[,}}]|$)', text)
    if found is None:
        return None
    return int(found[2]) if found[2].isdigit() else found[2]


def parse_verdict(text: str) -> str | None:
    verdict = _judged(text, "verdict")
    return verdict if verdict in ("Yes", "No") else None


def parse_score(text: str) -> int | None:
    score = _judged(text, "score")
    return score if score in (1, 2, 3) and not isinstance(score, bool) else None


def is_copy(text: str, sources: list[str], threshold: float = COPY_ROUGE) -> bool:
    """Whether ``text`` is (close to) one of ``sources``: ROUGE-L F1 above ``threshold``."""
    return any(rouge_l(text, source) > threshold for source in sources)
