"""MixGen (Hao et al., 2023, "MixGen: A New Multi-Modal Data Augmentation", WACV; arXiv
2206.08358) and a box-aware horizontal flip for image-text records.

MixGen makes new image-text pairs inside each training batch of B pairs: for the first M
pairs, the image becomes ``lam * image_i + (1 - lam) * image_{i+M}`` and the text
``text_i + " " + text_{i+M}`` (the released code: ``lam = 0.5``, the paper's M = B/4).

``mixgen``: the same over the records in order, in batches of ``batch_size``: each batch's
first ``ratio * batch_size`` records are mixed with the next as many; the mixed images are
stored beside the output. Differences: offline, so a mixed pair is a new record beside the
originals (``keep_originals``) instead of replacing them in the batch; the second image is
resized to the first's size (the paper's batches are already one size). Input images are read
from the output's folder (``image`` paths relative to it, as the multimodal sources write
them): write the output beside the input file.

``scenes.flip``: a synthetic scene mirrored left to right, its scene graph's boxes mirrored
with it (so captions, boxes and checked questions made from it stay true); a new record beside
each original.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext, WholeStep
from ...io.images import ImageStore
from ...media import scenes
from ...media.augment import hflip, interpolate
from ...records import META, derive, record_id
from ..registry import register

PAPER = "Hao et al., 2023, MixGen: A New Multi-Modal Data Augmentation (arXiv 2206.08358)"
TAXONOMY = "augmentation / non-LLM generation (multimodal)"
STAGE = "pre-training and instruction tuning (multimodal)"


class MixGenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = "caption"
    lam: float = Field(0.5, gt=0, lt=1, description="weight of the first image")
    batch_size: int = Field(64, ge=2)
    ratio: float = Field(0.25, gt=0, le=0.5, description="M / B: share of each batch mixed")
    keep_originals: bool = True


@register("mixgen", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class MixGen(WholeStep):
    """MixGen: image interpolation and text concatenation of record pairs, batch by batch.

    Input columns: ``image`` and ``text_column``. Output columns: the same (new records with
    ``mixed_from``: the two source ids)."""

    Params = MixGenParams
    params: MixGenParams
    reads = ("image",)
    writes = ("mixed_from",)

    def input_columns(self) -> set[str]:
        return {"image", self.params.text_column}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p, store = self.params, ImageStore.beside(ctx.output)
        held = [row async for row in rows]
        if p.keep_originals:
            for row in held:
                yield row
        for start in range(0, len(held), p.batch_size):
            batch = held[start : start + p.batch_size]
            num = min(int(p.ratio * p.batch_size), len(batch) // 2)
            for i in range(num):
                first, second = batch[i], batch[i + num]
                image = interpolate(store.read(first["image"]), store.read(second["image"]),
                                    p.lam)  # fmt: skip
                text = f"{first[p.text_column]} {second[p.text_column]}"
                ids = [first[META]["id"], second[META]["id"]]
                yield {
                    "image": store.put(image),
                    p.text_column: text,
                    "mixed_from": ids,
                    META: {
                        "id": record_id(self.name, *ids),
                        "parents": ids,
                        "step": self.name,
                        "method": self.method,
                    },
                }


@register("scenes.flip", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Flip(MapStep):
    """Each scene and its mirror image, the boxes mirrored and the annotations remade.

    Input columns: ``scene``, ``image``. Output columns: ``flipped`` (and, on the mirrored
    record, the new ``scene``, ``image``, ``captions``, ``boxes`` and ``caption``)."""

    reads = ("scene", "image")
    writes = ("flipped",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        store = ImageStore.beside(ctx.output)
        data, scene = hflip(store.read(row["image"]), row["scene"])
        captions = scenes.captions(scene)
        mirrored = {"scene": scene, "image": store.put(data), "captions": captions,
                    "caption": captions[1], "boxes": scenes.boxes(scene), "flipped": True}  # fmt: skip
        return [
            derive(row, {"flipped": False}, step=self.name, method=self.method, index=0),
            derive(row, mirrored, step=self.name, method=self.method, index=1),
        ]
