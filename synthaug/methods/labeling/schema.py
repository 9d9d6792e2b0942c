"""Label schemas: the labels (name, description), instruction phrasings and few-shot examples.

A schema is a YAML or JSON file::

    instruction: Classify the headline.       # or a list: several phrasings (prompt variants)
    labels:
      - {name: sarcastic, description: satire or irony}
      - {name: not_sarcastic, description: a literal news headline}
    examples:                                 # optional, for few-shot prompts
      - {text: "...", label: sarcastic, explanation: "..."}   # explanation optional

``load_schema`` takes a path or the name of a built-in schema (``synthaug/data/label_schemas``,
e.g. ``sarcasm``) and reports the first problem as a one-line ``InputError`` naming the file
and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ...errors import InputError

DEFAULT_INSTRUCTION = "Classify the text into one of the labels."


@dataclass(frozen=True)
class Label:
    name: str
    description: str


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    explanation: str | None = None


@dataclass(frozen=True)
class LabelSchema:
    path: str
    labels: tuple[Label, ...]
    instructions: tuple[str, ...]
    examples: tuple[Example, ...] = ()

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]


def builtin_schemas() -> dict[str, Path]:
    """Built-in schema name -> file."""
    folder = resources.files("synthaug") / "data" / "label_schemas"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve_schema(name_or_path: str) -> Path:
    """``name_or_path`` as a file: an existing path, else a built-in schema name."""
    path = Path(name_or_path)
    if path.exists() or path.suffix:
        return path
    builtin = builtin_schemas()
    if name_or_path in builtin:
        return builtin[name_or_path]
    raise InputError(
        name_or_path, f"no such file or built-in schema ({', '.join(sorted(builtin))})"
    )


def load_schema(name_or_path: str) -> LabelSchema:
    """The schema at ``name_or_path`` (a file or a built-in name), validated."""
    path = resolve_schema(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0]
        raise InputError(str(path), f"not valid {path.suffix[1:] or 'YAML'}: {problem}") from None
    return parse_schema(raw, str(path))


def parse_schema(raw: Any, path: str) -> LabelSchema:
    """A ``LabelSchema`` from the decoded file ``raw``; ``InputError`` on the first problem."""
    if not isinstance(raw, dict):
        raise InputError(path, "must be a mapping with 'labels'")
    unknown = sorted(set(raw) - {"labels", "instruction", "examples"})
    if unknown:
        raise InputError(
            path, "unknown field (use labels, instruction, examples)", field=unknown[0]
        )
    labels = _labels(raw.get("labels"), path)
    names = {label.name for label in labels}
    instructions = _instructions(raw.get("instruction", DEFAULT_INSTRUCTION), path)
    examples = _examples(raw.get("examples") or [], names, path)
    return LabelSchema(path, labels, instructions, examples)


def _labels(raw: Any, path: str) -> tuple[Label, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise InputError(path, "must be a list of at least two {name, description}", field="labels")
    labels: list[Label] = []
    for i, item in enumerate(raw):
        where = f"labels[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "description"}:
            raise InputError(path, "must be a mapping with name and description", field=where)
        name, description = item.get("name"), item.get("description", "")
        if not isinstance(name, str) or not name.strip():
            raise InputError(path, "must be a non-empty string", field=f"{where}.name")
        if not isinstance(description, str):
            raise InputError(path, "must be a string", field=f"{where}.description")
        if name in {label.name for label in labels}:
            raise InputError(path, f"duplicate label '{name}'", field=f"{where}.name")
        labels.append(Label(name, description.strip()))
    return tuple(labels)


def _instructions(raw: Any, path: str) -> tuple[str, ...]:
    phrasings = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(phrasings, list)
        or not phrasings
        or not all(isinstance(p, str) and p.strip() for p in phrasings)
    ):
        raise InputError(path, "must be a non-empty string or list of strings", field="instruction")
    return tuple(p.strip() for p in phrasings)


def _examples(raw: Any, names: set[str], path: str) -> tuple[Example, ...]:
    if not isinstance(raw, list):
        raise InputError(path, "must be a list of {text, label}", field="examples")
    examples = []
    for i, item in enumerate(raw):
        where = f"examples[{i}]"
        if not isinstance(item, dict) or set(item) - {"text", "label", "explanation"}:
            raise InputError(path, "must be a mapping with text, label (explanation)", field=where)
        text, label, explanation = item.get("text"), item.get("label"), item.get("explanation")
        if not isinstance(text, str) or not text.strip():
            raise InputError(path, "must be a non-empty string", field=f"{where}.text")
        if label not in names:
            raise InputError(path, f"'{label}' is not one of the labels", field=f"{where}.label")
        if explanation is not None and not isinstance(explanation, str):
            raise InputError(path, "must be a string", field=f"{where}.explanation")
        examples.append(Example(text.strip(), label, explanation))
    return tuple(examples)
