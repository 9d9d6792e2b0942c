"""Image augmentations that keep their labels true: MixGen's image interpolation and a
horizontal flip that moves the bounding boxes with the picture."""

from __future__ import annotations

import copy
import io
from typing import Any


def _open(data: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def _png(picture: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def interpolate(first: bytes, second: bytes, lam: float = 0.5) -> bytes:
    """``lam * first + (1 - lam) * second`` pixel by pixel (``second`` resized to ``first``)."""
    from PIL import Image

    a = _open(first)
    b = _open(second).resize(a.size, Image.Resampling.BILINEAR)
    return _png(Image.blend(a, b, 1 - lam))


def hflip(data: bytes, scene: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The picture mirrored left to right and its scene with every box mirrored too."""
    from PIL import ImageOps

    flipped = copy.deepcopy(scene)
    width = scene["width"]
    for o in flipped["objects"]:
        x1, y1, x2, y2 = o["box"]
        o["box"] = [width - x2, y1, width - x1, y2]
    return _png(ImageOps.mirror(_open(data))), flipped
