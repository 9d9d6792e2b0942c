"""LLaVA visual instruction data (Liu et al., 2023, "Visual Instruction Tuning", arXiv
2304.08485) on synthetic scenes with exact annotations.

LLaVA has a text-only teacher (GPT-4) write instruction data for COCO images it never sees:
the image is given only as symbolic annotations, its five captions and its objects' boxes
(``category: [x1, y1, x2, y2]``, normalised). Per response type, a system message, a few
hand-written in-context examples (annotations as the user turn, the response as the assistant
turn) and then the image's annotations make the request. The three types: **conversation**
(multi-turn questions and answers, one JSON object a line), **detailed description** (a rich
paragraph; the training question is drawn from a list of "describe in detail" instructions)
and **complex reasoning** (one question needing reasoning, with a detailed answer).

Steps here:

- ``scenes.generate`` (source): CLEVR-like scenes drawn with PIL (``synthaug.media.scenes``),
  the picture stored beside the output; the scene graph, five captions and boxes come with it;
- ``llava.instruct``: per scene, one request per response type, the paper's prompt pattern
  (system message, in-context example, annotations); each reply parsed into training
  ``messages`` (a reply that does not parse is an error row of that type); and
  ``scene_questions`` counting, existence and spatial questions answered from the scene graph,
  with ``scene_qa`` verification evidence that ``synthaug verify`` recomputes.

Differences from the paper: the images are synthetic scenes, not COCO, so captions and boxes
are exact; there is one in-context example per type (the paper has two or three), written for
synthaug on a synthetic scene; the system messages follow the released prompts with "photo"
made "picture"; the checked counting and spatial questions are synthaug's addition (the paper's
answers are the teacher's, unchecked).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io.images import ImageStore
from ...llm.types import ChatRequest, chat
from ...media import scene_questions, scenes
from ...records import META, derive, failed, record_id
from ...verify.evidence import scene_verdict
from ..registry import register
from ..templates import render

PAPER = "Liu et al., 2023, Visual Instruction Tuning (LLaVA, arXiv 2304.08485)"
TAXONOMY = "synthesis / multimodal (text-only teacher on symbolic annotations)"
STAGE = "instruction tuning (multimodal)"
TYPES = ("conversation", "detail", "complex")
# the paper's instructions for detailed descriptions (its appendix list, in part)
DETAIL_INSTRUCTIONS = (
    "Describe the following image in detail.",
    "Provide a detailed description of the given image.",
    "Give an elaborate explanation of the image you see.",
    "Share a comprehensive rundown of the presented image.",
    "Offer a thorough analysis of the image.",
    "Explain the various aspects of the image before you.",
    "Walk through the important details of the image.",
    "Write an exhaustive depiction of the given image.",
)


class ScenesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(100, ge=1, description="scenes to make")
    min_objects: int = Field(3, ge=1, le=10)
    max_objects: int = Field(6, ge=1, le=10)


@register("scenes.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Scenes(SourceStep):
    """CLEVR-like scenes drawn with PIL, stored beside the output, with exact annotations.

    Output columns: ``scene`` (the scene graph), ``image``, ``captions`` (five), ``caption``
    (the second: the shapes listed), ``boxes``."""

    Params = ScenesParams
    params: ScenesParams
    writes = ("scene", "image", "captions", "caption", "boxes")

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext):
        p, store = self.params, ImageStore.beside(ctx.output)
        for slot in range(p.count):
            seed = ctx.seed(slot)
            scene = scenes.make_scene(seed, p.min_objects, max(p.min_objects, p.max_objects))
            captions = scenes.captions(scene)
            image = store.put(scenes.draw(scene)) if ctx.keeps(slot) else None
            fields = {"scene": scene, "image": image,
                      "captions": captions, "caption": captions[1],
                      "boxes": scenes.boxes(scene)}  # fmt: skip
            meta = {"id": record_id(self.name, slot), "parents": [], "step": self.name,
                    "method": self.method, "seed": seed}  # fmt: skip
            yield {**fields, META: meta}


@cache
def examples() -> dict[str, Any]:
    """The in-context example per type (``templates/llava_examples.yaml``) with its scene."""
    path = Path(__file__).parent / "templates" / "llava_examples.yaml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    loaded["scene"] = scenes.make_scene(**loaded["scene"])
    return loaded


def annotations(captions: list[str], boxes: list[str]) -> str:
    """The image as the teacher sees it: the captions, a blank line, the boxes."""
    return "\n".join(captions) + "\n\n" + "\n".join(boxes)


def parse_conversation(text: str) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a reply of one JSON object a line (lines that are not
    such an object are skipped)."""
    pairs = []
    for line in text.splitlines():
        try:
            item = yaml.safe_load(line.strip())  # JSON, and the single-quoted slips of models
        except yaml.YAMLError:
            continue
        if isinstance(item, dict):
            question, answer = item.get("question"), item.get("answer")
            if isinstance(question, str) and isinstance(answer, str) and question and answer:
                pairs.append((question.strip(), answer.strip()))
    return pairs


def parse_complex(text: str) -> tuple[str, str] | None:
    """The question and answer of a ``Question: ... === Answer: ...`` reply."""
    head, sep, tail = text.partition("===")
    question = head.strip().removeprefix("Question:").strip()
    answer = tail.strip().removeprefix("Answer:").strip()
    return (question, answer) if sep and question and answer else None


def messages_for(kind: str, text: str, seed: int) -> list[dict[str, str]]:
    """The training turns of a ``kind`` reply; ``RowError`` ``format`` when it does not parse."""
    if kind == "conversation":
        pairs = parse_conversation(text)
    elif kind == "complex":
        pair = parse_complex(text)
        pairs = [pair] if pair else []
    else:
        instruction = DETAIL_INSTRUCTIONS[seed % len(DETAIL_INSTRUCTIONS)]
        pairs = [(instruction, text.strip())] if text.strip() else []
    if not pairs:
        raise RowError("format", f"no {kind} response in the reply: {text[:200]!r}")
    turns = []
    for question, answer in pairs:
        turns += [{"role": "user", "content": question},
                  {"role": "assistant", "content": answer}]  # fmt: skip
    return turns


class InstructParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    types: list[str] = Field(default_factory=lambda: list(TYPES))
    scene_questions: int = Field(3, ge=0, le=20, description="checked questions per scene")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)

    @field_validator("types")
    @classmethod
    def _known(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(TYPES))
        if unknown:
            raise ValueError(f"unknown response types {unknown}; use {', '.join(TYPES)}")
        return types


@register("llava.instruct", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Instruct(MapStep):
    """LLaVA's three response types from a scene's captions and boxes, plus checked questions.

    The checked questions (counting, existence, spatial) are answered from the scene graph.

    Input columns: ``scene``, ``image``, ``captions``, ``boxes``. Output columns:
    ``response_type``, ``messages``, ``verification`` (the checked questions only)."""

    uses_llm = True
    Params = InstructParams
    params: InstructParams
    reads = ("scene", "image", "captions", "boxes")
    writes = ("response_type", "messages", "verification")

    def request(self, row: dict[str, Any], kind: str, seed: int) -> ChatRequest:
        shot = examples()
        scene = shot["scene"]
        turns: list[tuple[Any, str]] = [
            ("system", render(__file__, f"llava_{kind}.j2")),
            ("user", annotations(scenes.captions(scene), scenes.boxes(scene))),
            ("assistant", shot[kind]),
            ("user", annotations(row["captions"], row["boxes"])),
        ]
        return chat(*turns, temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, out = ctx.require_llm(), []
        for index, kind in enumerate(self.params.types):
            seed = ctx.seed(row[META]["id"], kind)
            request = self.request(row, kind, seed)
            reply = await llm.complete(request)
            try:
                messages = messages_for(kind, reply.text, seed)
            except RowError as error:
                out.append(failed(row, {"response_type": kind, "reply": reply.text},
                                  step=self.name, method=self.method, kind=error.kind,
                                  message=str(error), index=index))  # fmt: skip
                continue
            fields = {"response_type": kind, "messages": messages}
            out.append(self.derived(row, fields, ctx, [request], seed=seed, index=index))
        asked = scene_questions.sample(row["scene"], self.params.scene_questions,
                                       ctx.seed(row[META]["id"], "questions"))  # fmt: skip
        for offset, q in enumerate(asked, len(self.params.types)):
            evidence = scene_verdict(row["scene"], q["kind"], q["args"])
            messages = [{"role": "user", "content": evidence["question"]},
                        {"role": "assistant", "content": evidence["answer"]}]  # fmt: skip
            fields = {"response_type": "scene_qa", "messages": messages,
                      "verification": evidence}  # fmt: skip
            out.append(derive(row, fields, step=self.name, method=self.method, index=offset))
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["response_type"]: 1}
