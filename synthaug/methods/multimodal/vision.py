"""Captions from a vision endpoint: the image, read from the store beside the output, goes to
an OpenAI-compatible chat endpoint as an inline ``image_url`` part (a base64 PNG ``data:``
URL); the endpoint is a named backend of the recipe (``backends: {vision: {type: openai,
base_url: ..., model: ...}}``), selected by the step's ``vision`` param. The request goes
through the client's cache like any other (keyed by the image bytes' SHA-256), so a resumed
run never asks twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...errors import SynthaugError
from ...io.images import ImageStore
from ...llm.types import vision_chat
from ...records import META

VISION_HELP = "the named backend (under backends:) of an OpenAI-compatible vision endpoint"


class CaptionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vision: str = Field("vision", description=VISION_HELP)
    prompt: str | None = Field(
        None, description="the captioning instruction (default: the paper's)"
    )
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(512, ge=8)


class VisionCaption(MapStep):
    """Base of the captioning steps: one request per image, the reply (stripped) in ``COLUMN``."""

    uses_llm = True
    Params = CaptionParams
    params: CaptionParams
    backend_params = ("vision",)
    reads = ("image",)
    PROMPT: ClassVar[str]
    COLUMN: ClassVar[str]

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return input_columns | {self.COLUMN, *self.writes}

    def fields(self, caption: str, instruction: str, seed: int) -> dict[str, Any]:
        """The columns a caption adds (a subclass may add training turns)."""
        return {self.COLUMN: caption}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        instruction, seed = p.prompt or self.PROMPT, ctx.seed(row[META]["id"])
        try:
            image = ImageStore.beside(ctx.output).read(row["image"])
        except (SynthaugError, OSError) as error:
            raise RowError("image", f"cannot read the picture {row['image']!r}: {error}") from None
        request = vision_chat(instruction, [image], temperature=p.temperature,
                              max_tokens=p.max_tokens, seed=seed)  # fmt: skip
        client = ctx.require_llm(p.vision)
        caption = (await client.complete(request)).text.strip()
        if not caption:
            raise RowError("format", "the vision endpoint returned an empty caption")
        fields = self.fields(caption, instruction, seed)
        return [self.derived(row, fields, ctx, [request], llm=client, seed=seed)]


class ShortCaption(VisionCaption):
    """A one-sentence caption (in ``vlm_caption``), as BLIP writes for SelTDA and ALIA."""

    PROMPT = "Write a short caption of this image: one sentence saying what it shows."
    COLUMN = "vlm_caption"
