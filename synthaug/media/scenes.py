"""CLEVR-like synthetic scenes (Johnson et al., 2017) drawn in 2-D with PIL, with exact
annotations: a scene graph, five captions and normalised bounding boxes.

A **scene** is ``{"width", "height", "objects": [{"id", "shape", "color", "size", "box":
[x1, y1, x2, y2]}]}`` in pixels; objects never overlap. CLEVR's eight colours and two sizes;
its three 3-D shapes (cube, sphere, cylinder) become square, circle and triangle. Everything
is a function of the seed, so a scene is drawn again identically from its record.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from typing import Any

COLORS = {  # CLEVR's palette (its rendering script's RGB values)
    "gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215),
    "green": (29, 105, 20), "brown": (129, 74, 25), "purple": (129, 38, 192),
    "cyan": (41, 208, 208), "yellow": (255, 238, 51),
}  # fmt: skip
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 44, "large": 80}  # side of the bounding box, pixels
WIDTH, HEIGHT, MARGIN = 480, 320, 8
PLACEMENT_TRIES = 200


def make_scene(seed: int, min_objects: int = 3, max_objects: int = 6) -> dict[str, Any]:
    """A scene of ``min_objects``..``max_objects`` non-overlapping objects (fewer when the
    canvas is full)."""
    rng = random.Random(seed)
    objects: list[dict[str, Any]] = []
    for _ in range(rng.randint(min_objects, max_objects)):
        shape, color = rng.choice(SHAPES), rng.choice(sorted(COLORS))
        size = rng.choice(sorted(SIZES))
        side = SIZES[size]
        for _ in range(PLACEMENT_TRIES):
            x, y = (
                rng.randint(MARGIN, WIDTH - side - MARGIN),
                rng.randint(MARGIN, HEIGHT - side - MARGIN),
            )
            box = [x, y, x + side, y + side]
            if not any(_overlap(box, o["box"]) for o in objects):
                objects.append({"id": len(objects), "shape": shape, "color": color,
                                "size": size, "box": box})  # fmt: skip
                break
    return {"width": WIDTH, "height": HEIGHT, "objects": objects}


def _overlap(a: list[int], b: list[int]) -> bool:
    return not (a[2] + MARGIN <= b[0] or b[2] + MARGIN <= a[0] or a[3] + MARGIN <= b[1]
                or b[3] + MARGIN <= a[1])  # fmt: skip


def draw(scene: dict[str, Any]) -> bytes:
    """The scene as PNG bytes (a light background, flat shapes with a dark outline)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (scene["width"], scene["height"]), (228, 228, 222))
    pen = ImageDraw.Draw(picture)
    for o in scene["objects"]:
        x1, y1, x2, y2 = o["box"]
        style = {"fill": COLORS[o["color"]], "outline": (30, 30, 30), "width": 2}
        if o["shape"] == "circle":
            pen.ellipse((x1, y1, x2 - 1, y2 - 1), **style)
        elif o["shape"] == "square":
            pen.rectangle((x1, y1, x2 - 1, y2 - 1), **style)
        else:
            pen.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], **style)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def name(o: dict[str, Any]) -> str:
    """``large red circle``."""
    return f"{o['size']} {o['color']} {o['shape']}"


def center(o: dict[str, Any]) -> tuple[float, float]:
    x1, y1, x2, y2 = o["box"]
    return (x1 + x2) / 2, (y1 + y2) / 2


def position(o: dict[str, Any], scene: dict[str, Any]) -> str:
    """Where the object is in the picture: ``top left`` ... ``bottom right``, ``center``."""
    x, y = center(o)
    column = ("left", "center", "right")[min(2, int(3 * x / scene["width"]))]
    row = ("top", "middle", "bottom")[min(2, int(3 * y / scene["height"]))]
    return "center" if (row, column) == ("middle", "center") else f"{row} {column}"


def boxes(scene: dict[str, Any]) -> list[str]:
    """LLaVA's symbolic boxes: ``large red circle: [x1, y1, x2, y2]`` normalised to 0-1."""
    w, h = scene["width"], scene["height"]
    lines = []
    for o in scene["objects"]:
        x1, y1, x2, y2 = o["box"]
        coords = [round(x1 / w, 3), round(y1 / h, 3), round(x2 / w, 3), round(y2 / h, 3)]
        lines.append(f"{name(o)}: {coords}")
    return lines


def _plural(count: int, noun: str) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    word = words[count] if count < len(words) else str(count)
    return f"{word} {noun}" + ("" if count == 1 else "s")


def _series(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def captions(scene: dict[str, Any]) -> list[str]:
    """Five sentences describing the scene, as COCO gives five captions per image."""
    objects = scene["objects"]
    shapes = Counter(o["shape"] for o in objects)
    colours = Counter(o["color"] for o in objects)
    left = min(objects, key=lambda o: center(o)[0])
    right = max(objects, key=lambda o: center(o)[0])
    biggest = [o for o in objects if o["size"] == "large"]
    listing = _series([_plural(n, s) for s, n in sorted(shapes.items())])
    return [
        f"{_plural(len(objects), 'flat shape').capitalize()} on a plain light background.",
        f"The picture shows {listing}.",
        f"The leftmost object is a {name(left)} and the rightmost one is a {name(right)}.",
        f"The colours are {_series(sorted(colours))}, with "
        f"{_plural(len(biggest), 'large object')} among them.",
        f"A {name(objects[0])} sits in the {position(objects[0], scene)} of the picture.",
    ]
