"""Abstract images of Multimodal Self-Instruct (Zhang et al., 2024) made by our code: tables,
flowcharts, route maps on grids and geometry figures, each with a question whose answer is
computed from the figure's spec.

``make(kind, seed)`` gives ``{"kind", "spec", "question", "answer"}``, a pure function of the
kind and the seed (so ``synthaug verify`` makes it again and compares); ``draw(spec)`` draws the
spec with PIL.
"""

from __future__ import annotations

import io
import math
import random
from collections import deque
from typing import Any

KINDS = ("table", "flowchart", "route", "geometry")
ITEMS = ("apples", "pears", "plums", "lemons", "figs", "limes", "kiwis", "dates")
SHOPS = ("North", "South", "East", "West")
OPERATIONS = (("add", "+"), ("subtract", "-"), ("multiply by", "*"))


def _table(rng: random.Random) -> dict[str, Any]:
    items = rng.sample(ITEMS, rng.randint(3, 5))
    shops = rng.sample(SHOPS, rng.randint(2, 3))
    cells = [[rng.randint(1, 60) for _ in shops] for _ in items]
    spec = {
        "type": "table",
        "header": ["item", *shops],
        "rows": [[i, *c] for i, c in zip(items, cells, strict=True)],
    }
    if rng.random() < 0.5:
        shop = rng.randrange(len(shops))
        question = f"How many fruits in total does the {shops[shop]} shop have, by the table?"
        answer = str(sum(row[shop] for row in cells))
    else:
        shop = rng.randrange(len(shops))
        column = [row[shop] for row in cells]
        if column.count(max(column)) > 1:
            return _table(rng)
        question = f"Which item does the {shops[shop]} shop have the most of, by the table?"
        answer = items[column.index(max(column))]
    return {"spec": spec, "question": question, "answer": answer}


def _flowchart(rng: random.Random) -> dict[str, Any]:
    start = rng.randint(1, 20)
    steps, value = [], start
    for _ in range(rng.randint(2, 4)):
        name, symbol = rng.choice(OPERATIONS)
        operand = rng.randint(2, 5) if symbol == "*" else rng.randint(1, 15)
        steps.append([name, operand])
        value = (
            value + operand
            if symbol == "+"
            else value - operand
            if symbol == "-"
            else value * operand
        )
    spec = {"type": "flowchart", "start": start, "steps": steps}
    question = "Following the flowchart from Start, what number comes out at End?"
    return {"spec": spec, "question": question, "answer": str(value)}


def shortest_path(spec: dict[str, Any]) -> int | None:
    """Moves (up, down, left, right) from start to goal avoiding walls; None when cut off."""
    size, walls = spec["size"], {tuple(w) for w in spec["walls"]}
    start, goal = tuple(spec["start"]), tuple(spec["goal"])
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (x, y), steps = queue.popleft()
        if (x, y) == goal:
            return steps
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if 0 <= nx < size and 0 <= ny < size and (nx, ny) not in walls and (nx, ny) not in seen:
                seen.add((nx, ny))
                queue.append(((nx, ny), steps + 1))
    return None


def _route(rng: random.Random) -> dict[str, Any]:
    size = rng.randint(5, 7)
    cells = [(x, y) for x in range(size) for y in range(size)]
    start, goal, *walls = rng.sample(cells, 2 + rng.randint(size, 2 * size))
    spec = {"type": "route", "size": size, "start": list(start), "goal": list(goal),
            "walls": sorted([list(w) for w in walls])}  # fmt: skip
    moves = shortest_path(spec)
    question = ("On this grid map, moving one square at a time up, down, left or right and never "
                "through a dark square, what is the fewest number of moves from S to G? "
                "Answer 'none' if G cannot be reached.")  # fmt: skip
    return {"spec": spec, "question": question, "answer": "none" if moves is None else str(moves)}


def _geometry(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        a, b = rng.choice([(3, 4), (5, 12), (6, 8), (8, 15), (9, 12), (7, 24)])
        spec = {"type": "right_triangle", "a": a, "b": b}
        return {"spec": spec, "question": "What is the length of the hypotenuse of the right "
                "triangle shown?", "answer": str(math.isqrt(a * a + b * b))}  # fmt: skip
    w, h = rng.randint(2, 12), rng.randint(2, 12)
    spec = {"type": "rectangle", "w": w, "h": h}
    ask = rng.choice(["area", "perimeter"])
    answer = w * h if ask == "area" else 2 * (w + h)
    return {
        "spec": spec,
        "question": f"What is the {ask} of the rectangle shown?",
        "answer": str(answer),
    }


_MAKERS = {"table": _table, "flowchart": _flowchart, "route": _route, "geometry": _geometry}


def make(kind: str, seed: int) -> dict[str, Any]:
    """An abstract image's spec, question and computed answer."""
    if kind not in _MAKERS:
        raise ValueError(f"unknown abstract image kind {kind!r}; use {', '.join(KINDS)}")
    return {"kind": kind, **_MAKERS[kind](random.Random(seed))}


def draw(spec: dict[str, Any]) -> bytes:
    """The spec drawn with PIL as PNG bytes."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.new("RGB", (480, 360), "white")
    pen = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=16)
    black = (20, 20, 20)
    kind = spec["type"]
    if kind == "table":
        columns, height = len(spec["header"]), 36
        width = 440 // columns
        for r, row in enumerate([spec["header"], *spec["rows"]]):
            for c, cell in enumerate(row):
                box = (20 + c * width, 20 + r * height, 20 + (c + 1) * width, 20 + (r + 1) * height)
                pen.rectangle(box, outline=black, fill=(225, 232, 245) if r == 0 else "white")
                pen.text((box[0] + 8, box[1] + 9), str(cell), fill=black, font=font)
    elif kind == "flowchart":
        labels = [f"Start: {spec['start']}", *(f"{n} {v}" for n, v in spec["steps"]), "End"]
        gap = 340 // len(labels)
        for k, label in enumerate(labels):
            top = 10 + k * gap
            shape = pen.ellipse if k in (0, len(labels) - 1) else pen.rectangle
            shape((150, top, 330, top + gap - 22), outline=black, width=2)
            pen.text((165, top + (gap - 22) / 2 - 8), label, fill=black, font=font)
            if k < len(labels) - 1:
                pen.line((240, top + gap - 22, 240, top + gap), fill=black, width=2)
                pen.polygon(
                    [(234, top + gap - 7), (246, top + gap - 7), (240, top + gap)], fill=black
                )
    elif kind == "route":
        cell = 320 // spec["size"]
        walls = {tuple(w) for w in spec["walls"]}
        for x in range(spec["size"]):
            for y in range(spec["size"]):
                box = (80 + x * cell, 20 + y * cell, 80 + (x + 1) * cell, 20 + (y + 1) * cell)
                pen.rectangle(box, outline=black, fill=(60, 60, 60) if (x, y) in walls else "white")
        for mark, (x, y) in (("S", spec["start"]), ("G", spec["goal"])):
            pen.text(
                (80 + x * cell + cell / 2 - 5, 20 + y * cell + cell / 2 - 9),
                mark,
                fill=(200, 30, 30),
                font=font,
            )
    elif kind == "right_triangle":
        scale = 240 / max(spec["a"], spec["b"])
        a, b = spec["a"] * scale, spec["b"] * scale
        corner = (100, 320)
        pen.polygon([corner, (100 + b, 320), (100, 320 - a)], outline=black, width=3)
        pen.rectangle((100, 304, 116, 320), outline=black)
        pen.text((70, 320 - a / 2), str(spec["a"]), fill=black, font=font)
        pen.text((100 + b / 2, 328), str(spec["b"]), fill=black, font=font)
    else:
        scale = 280 / max(spec["w"], spec["h"])
        w, h = spec["w"] * scale, spec["h"] * scale
        pen.rectangle((100, 40, 100 + w, 40 + h), outline=black, width=3)
        pen.text((100 + w / 2 - 6, 40 + h + 6), str(spec["w"]), fill=black, font=font)
        pen.text((100 + w + 8, 40 + h / 2 - 8), str(spec["h"]), fill=black, font=font)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
