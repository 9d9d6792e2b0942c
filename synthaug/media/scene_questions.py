"""Counting, existence and spatial questions about a scene, answered from its scene graph.

A question is ``(kind, args)``: ``count`` (how many objects have the given attributes),
``exist`` (is there an object with them) and ``relation`` (is one object left of / right of /
above / below another, by their centres; both named by a description unique in the scene).
``question_text`` and ``answer`` are pure functions of the scene, so ``synthaug verify``
recomputes both from the stored scene graph.
"""

from __future__ import annotations

import random
from typing import Any

from .scenes import COLORS, SHAPES, center, name

KINDS = ("count", "exist", "relation")
RELATIONS = ("left of", "right of", "above", "below")


def _matches(o: dict[str, Any], attributes: dict[str, str]) -> bool:
    return all(o[key] == value for key, value in attributes.items())


def _phrase(attributes: dict[str, str]) -> str:
    words = [attributes[k] for k in ("size", "color") if k in attributes]
    return " ".join([*words, attributes.get("shape", "object")])


def sample(scene: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct questions about ``scene``, drawn with ``seed``."""
    rng = random.Random(seed)
    objects, questions = scene["objects"], []
    unique = [o for o in objects if sum(name(p) == name(o) for p in objects) == 1]
    for _ in range(count * 10):
        if len(questions) == count:
            break
        kind = rng.choice(KINDS if len(unique) >= 2 else KINDS[:2])
        if kind == "relation":
            first, second = rng.sample(unique, 2)
            args = {"first": name(first), "second": name(second),
                    "relation": rng.choice(RELATIONS)}  # fmt: skip
        else:
            which = rng.choice([{"color": rng.choice(sorted(COLORS))},
                                {"shape": rng.choice(SHAPES)},
                                {"color": rng.choice(sorted(COLORS)),
                                 "shape": rng.choice(SHAPES)}])  # fmt: skip
            args = {"attributes": which}
        question = {"kind": kind, "args": args}
        if question not in questions:
            questions.append(question)
    return questions


def question_text(kind: str, args: dict[str, Any]) -> str:
    if kind == "count":
        return f"How many {_phrase(args['attributes'])}s are there in the image?"
    if kind == "exist":
        return f"Is there a {_phrase(args['attributes'])} in the image?"
    if kind == "relation":
        return f"Is the {args['first']} {args['relation']} the {args['second']}?"
    raise ValueError(f"unknown question kind {kind!r}")


def answer(scene: dict[str, Any], kind: str, args: dict[str, Any]) -> str:
    objects = scene["objects"]
    if kind in ("count", "exist"):
        hits = sum(_matches(o, args["attributes"]) for o in objects)
        return str(hits) if kind == "count" else ("Yes" if hits else "No")
    if kind == "relation":
        first, second = (_named(objects, args[which]) for which in ("first", "second"))
        (x1, y1), (x2, y2) = center(first), center(second)
        holds = {"left of": x1 < x2, "right of": x1 > x2, "above": y1 < y2, "below": y1 > y2}
        return "Yes" if holds[args["relation"]] else "No"
    raise ValueError(f"unknown question kind {kind!r}")


def _named(objects: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    for candidate in objects:
        if name(candidate) == wanted:
            return candidate
    raise KeyError(f"no object {wanted!r} in the scene")
