"""ALIA domain descriptions and edit prompts (Dunlap et al., NeurIPS 2023, "Diversify Your
Vision Datasets with Automatic Diffusion-Based Augmentation").

ALIA captions a dataset's training images (BLIP), has an LLM (GPT-4) summarise a random 200 of
the unique captions into a handful of class-agnostic domain descriptions ("the scenes,
actions, camera pose, zoom, and other image qualities present", each of the form PREFIX ...),
asks a refinement question so each description is a single setting, and uses them as prompts
to edit the training images with a diffusion model (img2img or InstructPix2Pix, one prompt per
class and domain); a filter (CLIP and the classifier's confidence) drops failed edits.

Steps here:

- ``alia.caption``: a vision endpoint (``params.vision``) captions each image (or skip it and
  give captions: any column, see ``alia.domains``' ``caption_column``);
- ``alia.domains``: the paper's summarising prompt over a seeded sample of up to 200 unique
  captions, then the refinement turn; one row per domain description (``domain``: the setting
  after the prefix);
- ``alia.prompts``: per domain and class, the generation prompt (img2img/txt2img) and the
  InstructPix2Pix-style edit instruction: the prompt data that is this recipe's product;
- ``alia.generate`` (only with an image endpoint configured): a picture per generation prompt
  from an OpenAI-compatible ``/images/generations`` endpoint, stored beside the output.

Differences from the paper: no training image is edited (only text-to-image generation through
an endpoint is built) and no filter runs; the refinement question and the edit
instruction's wording are written from memory of the paper (only the summarising prompt's
wording was found); the captioner is whatever model the endpoint serves, not BLIP.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext, WholeStep
from ...errors import InputError
from ...llm.types import ChatRequest, chat
from ...records import META, derive, record_id
from ..registry import register
from ..templates import render
from .image_generation import ImageEndpoint, generate, provenance
from .vision import ShortCaption

PAPER = (
    "Dunlap et al., NeurIPS 2023, Diversify Your Vision Datasets with Automatic "
    "Diffusion-Based Augmentation (ALIA, arXiv 2305.16289)"
)
TAXONOMY = "augmentation / multimodal (LLM-summarised domains as edit prompts)"
STAGE = "data augmentation (vision)"
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*")


@register("alia.caption", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Caption(ShortCaption):
    """A one-sentence caption of each image from a vision endpoint (ALIA's BLIP captions).

    Input columns: ``image``. Output columns: ``vlm_caption``."""


class DomainsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption_column: str = Field("vlm_caption", description="the captions to summarise")
    prefix: str = Field("a photo of", description="the form every description starts with")
    sample: int = Field(200, ge=1, description="unique captions shown (the authors' 200)")
    max_domains: int = Field(10, ge=1, le=50)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(400, ge=16)


def settings(reply: str, prefix: str, limit: int) -> list[tuple[str, str]]:
    """(description, setting) per line of ``reply``: bullets removed, the setting the part after
    ``prefix`` (the whole line when it lacks it), duplicates dropped, at most ``limit``."""
    found: dict[str, tuple[str, str]] = {}
    for line in reply.splitlines():
        text = BULLET.sub("", line).strip().strip('"').rstrip(".").strip()
        lower = text.lower()
        setting = text[len(prefix) :].strip() if lower.startswith(prefix.lower()) else text
        if setting and len(found) < limit:
            found.setdefault(setting.lower(), (text, setting))
    return list(found.values())


@register("alia.domains", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Domains(WholeStep):
    """The LLM summarises the dataset's captions into domain descriptions (one row each).

    Input columns: the caption column. Output columns: ``description``, ``domain``."""

    uses_llm = True
    Params = DomainsParams
    params: DomainsParams
    writes = ("description", "domain")

    def input_columns(self) -> set[str]:
        return {self.params.caption_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    def requests(self, captions: list[str], seed: int, first: str | None) -> ChatRequest:
        p = self.params
        turns: list[tuple[Any, str]] = [
            ("user", render(__file__, "alia_domains.j2", captions=captions, prefix=p.prefix))
        ]
        if first is not None:
            turns += [("assistant", first),
                      ("user", render(__file__, "alia_refine.j2", prefix=p.prefix))]  # fmt: skip
        return chat(*turns, temperature=p.temperature, max_tokens=p.max_tokens, seed=seed)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        unique = sorted({str(row[p.caption_column]).strip() async for row in rows} - {""})
        if not unique:
            raise InputError(self.name, f"no captions in column {p.caption_column!r}")
        seed = ctx.seed("domains")
        captions = random.Random(seed).sample(unique, min(p.sample, len(unique)))
        summary = self.requests(captions, seed, None)
        first = (await llm.complete(summary)).text.strip()
        refine = self.requests(captions, seed, first)
        found = settings((await llm.complete(refine)).text, p.prefix, p.max_domains)
        if not found:
            raise InputError(self.name, "the model named no domain: rerun with another seed")
        for index, (description, setting) in enumerate(found):
            meta = {"id": record_id(self.name, index), "parents": [], "step": self.name,
                    "method": self.method, "model": llm.backend.describe(),
                    "request": [llm.key(summary), llm.key(refine)], "seed": seed}  # fmt: skip
            yield {"description": description, "domain": setting, META: meta}


class PromptsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classes: list[str] = Field(default_factory=lambda: ["object"], min_length=1)
    prompt_template: str = Field("a photo of a {cls} {domain}", description="img2img/txt2img")
    edit_template: str = Field("put the {cls} {domain}", description="InstructPix2Pix-style")


@register("alia.prompts", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Prompts(MapStep):
    """Per domain and class, the generation prompt and the edit instruction (no model).

    Input columns: ``domain``. Output columns: ``class_name``, ``prompt``, ``edit_instruction``."""

    Params = PromptsParams
    params: PromptsParams
    reads = ("domain",)
    writes = ("class_name", "prompt", "edit_instruction")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, out = self.params, []
        for index, cls in enumerate(p.classes):
            fields = {"class_name": cls,
                      "prompt": p.prompt_template.format(cls=cls, domain=row["domain"]),
                      "edit_instruction": p.edit_template.format(cls=cls, domain=row["domain"])}  # fmt: skip
            out.append(derive(row, fields, step=self.name, method=self.method, index=index))
        return out


@register("alia.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """A picture per generation prompt from an OpenAI-compatible image endpoint (``params``:
    ``base_url``, ``model``, ...); only when one is configured, as a last step.

    Input columns: ``prompt``. Output columns: ``image`` (the new picture), ``generated_by``."""

    Params = ImageEndpoint
    params: ImageEndpoint
    reads = ("prompt",)
    writes = ("image", "generated_by")
    checkpointed = True  # each picture is a paid call: keep finished rows across a kill

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        path = await generate(self.params, row["prompt"], ctx)
        fields = {"image": path, "generated_by": provenance(self.params)}
        return [derive(row, fields, step=self.name, method=self.method)]
