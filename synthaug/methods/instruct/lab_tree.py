"""The InstructLab taxonomy tree that LAB (Sudalairaj et al., 2024, arXiv 2403.01081) reads.

A tree is a folder whose roots are ``knowledge/``, ``foundational_skills/``
and ``compositional_skills/``; every leaf is a folder holding a ``qna.yaml``:
``version: 2``, ``task_description``, ``created_by`` and at least 5
``seed_examples`` of ``{context?, question, answer}`` (about 2,300 words at
most). A skill whose examples carry a context is *grounded*; knowledge leaves
must give a context (a passage of the contributed document) in every example.
``load_tree`` validates every leaf and stops at the first problem with a
one-line ``InputError`` naming the file and what is wrong (exit code 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from ...engine.step import SourceStep, StepContext
from ...errors import InputError
from ...records import source_record
from ..registry import register
from .lab import PAPER, STAGE, TAXONOMY

ROOTS = ("knowledge", "foundational_skills", "compositional_skills")
MIN_EXAMPLES = 5
MAX_WORDS = 2300


def bundled_tree() -> Path:
    """The small example tree shipped with synthaug."""
    return Path(str(resources.files("synthaug") / "data" / "lab_taxonomy"))


def load_tree(root: Path) -> list[dict[str, Any]]:
    """Every leaf of the tree at ``root``, validated, in path order."""
    if not root.is_dir():
        raise InputError(root, "not a folder (a taxonomy tree has knowledge/ and skills roots)")
    files = sorted(root.rglob("qna.yaml"))
    if not files:
        raise InputError(root, f"no qna.yaml leaf under {', '.join(r + '/' for r in ROOTS)}")
    return [load_leaf(root, path) for path in files]


def load_leaf(root: Path, path: Path) -> dict[str, Any]:
    """One validated leaf: its path, kind, task description and seed examples."""
    leaf = path.parent.relative_to(root)
    if not leaf.parts or leaf.parts[0] not in ROOTS:
        raise InputError(path, f"a leaf must lie under one of {', '.join(ROOTS)}")
    data = _yaml(path)
    if data.get("version") != 2:
        raise InputError(path, f"must be 2, not {data.get('version')!r}", field="version")
    for name in ("task_description", "created_by"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise InputError(path, "must be a non-empty string", field=name)
    knowledge = leaf.parts[0] == "knowledge"
    examples = _examples(path, data.get("seed_examples"), knowledge)
    words = sum(len(str(v).split()) for e in examples for v in e.values())
    if words > MAX_WORDS:
        raise InputError(path, f"{words} words, more than {MAX_WORDS}", field="seed_examples")
    grounded = any("context" in e for e in examples)
    return {
        "lab_leaf": leaf.as_posix(),
        "lab_kind": "knowledge" if knowledge else "grounded_skill" if grounded else "skill",
        "lab_task_description": data["task_description"].strip(),
        "lab_seed_examples": examples,
    }


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise InputError(path, "a qna.yaml must be a mapping")
    return data


def _examples(path: Path, examples: Any, knowledge: bool) -> list[dict[str, str]]:
    if not isinstance(examples, list) or len(examples) < MIN_EXAMPLES:
        found = len(examples) if isinstance(examples, list) else 0
        raise InputError(
            path, f"needs at least {MIN_EXAMPLES} examples, found {found}", field="seed_examples"
        )
    clean = []
    for i, example in enumerate(examples):
        field = f"seed_examples[{i}]"
        if not isinstance(example, dict):
            raise InputError(path, "must be a mapping of context?, question, answer", field=field)
        unknown = sorted(set(example) - {"context", "question", "answer"})
        if unknown:
            raise InputError(path, f"unknown key(s) {', '.join(unknown)}", field=field)
        needed = ("context", "question", "answer") if knowledge else ("question", "answer")
        for key in needed:
            if not isinstance(example.get(key), str) or not example[key].strip():
                raise InputError(path, "must be a non-empty string", field=f"{field}.{key}")
        clean.append({k: str(v).strip() for k, v in example.items()})
    return clean


class TreeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the bundled example tree


@register("lab.taxonomy", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Tree(SourceStep):
    """LAB: read and validate an InstructLab taxonomy tree, one row per qna.yaml leaf."""

    Params = TreeParams
    writes = ("lab_leaf", "lab_kind", "lab_task_description", "lab_seed_examples")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.root = Path(self.params.path) if self.params.path else bundled_tree()
        self.leaves = load_tree(self.root)  # a bad tree fails before any model call

    def expected_rows(self) -> int | None:
        return len(self.leaves)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or "lab_taxonomy"
        for index, leaf in enumerate(self.leaves):
            yield source_record(leaf, source=source, index=index)
