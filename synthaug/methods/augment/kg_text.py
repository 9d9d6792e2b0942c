"""Knowledge-graph triples to text, after KMLM (Liu et al., 2022, "Enhancing Multilingual
Language Model with Massive Multilingual Knowledge Triples", arXiv 2111.10962, EMNLP 2022).

KMLM pretrains on synthetic data made from Wikidata triples without any generation model:
each (subject, relation, object) triple is linearised as the sequence of its three labels,
and, because Wikidata labels exist in many languages, each label may be taken from a
different language, giving *code-switched* sequences (their second data kind, multi-hop
reasoning paths, is not built here). ``kg.verbalize`` writes that sequence as
``kg_sequence`` (the language of each part in ``kg_languages``; a triple's ``labels``
column, ``{"subject": {"de": ...}, "relation": {...}, "object": {...}}``, offers the other
languages, English being the triple's own fields) and, as fluent text (this project's
addition: KMLM itself uses no templates), a templated sentence (``kg_sentence``; relation templates from a YAML file, by default
``templates/kg_relations.yaml``; an unknown relation falls back to the generic template).
``form`` says which becomes ``text``.

With ``smooth: true`` the templated sentence goes to the model to be rewritten fluently
keeping both entity names (temperature 0); the reply's first line is ``kg_rewrite``, and
``kg_smoothed`` says whether it became ``text``. Entity survival is checked (case-insensitive,
whitespace-normalised substring) and recorded as ``kg_entities_kept`` with any
``kg_missing_entities``; a rewrite that lost one falls back to the template sentence
(``on_lost: template``), is kept anyway (``keep``) or dropped (``drop``, error kind
``entities_lost``).

``kg.triples`` reads triples from JSONL, JSON, CSV or TSV (columns ``subject``,
``relation``, ``object``), by default 40 public facts written for this project
(``synthaug/data/kg_triples_sample.jsonl``).
"""

from __future__ import annotations

import csv
import random
import string
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, SourceStep, StepContext
from ...errors import InputError
from ...io import read_records
from ...llm.types import chat
from ...records import META, derive, source_record
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .labelled import first_line

PAPER = (
    "Liu et al., 2022, Enhancing Multilingual Language Model with Massive Multilingual "
    "Knowledge Triples (KMLM, arXiv 2111.10962)"
)
TAXONOMY = "augmentation / non-LLM generation (knowledge-graph triples to text)"
STAGE = "pre-training (knowledge-enhanced)"
PARTS = ("subject", "relation", "object")
PLACEHOLDERS = set(PARTS)
DEFAULT_TEMPLATES = Path(__file__).parent / "templates" / "kg_relations.yaml"
SAMPLE = "kg_triples_sample"
SHIPPED = {"general": SAMPLE, "clinical": "clinical_triples"}  # kg.triples' packaged files


def relation_key(relation: str) -> str:
    """How relation names are matched: lowercase, ``_`` as space, single spaces."""
    return " ".join(relation.replace("_", " ").lower().split())


class Templates(BaseModel):
    """Relation -> sentence templates, aliases of relation names, the generic fallback."""

    model_config = ConfigDict(extra="forbid")
    generic: list[str] = Field(min_length=1)
    relations: dict[str, list[str]] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)

    def for_relation(self, relation: str) -> tuple[str, list[str]]:
        """(the matched relation name, or ``generic``; its templates)."""
        relations = {relation_key(k): v for k, v in self.relations.items()}
        aliases = {relation_key(k): relation_key(v) for k, v in self.aliases.items()}
        key = relation_key(relation)
        key = aliases.get(key, key)
        return (key, relations[key]) if relations.get(key) else ("generic", self.generic)


@cache
def load_templates(path: str) -> Templates:
    """The templates file at ``path``, checked: every placeholder is subject/relation/object."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        templates = Templates.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a templates file ({problem})") from None
    for template in [*templates.generic, *(t for ts in templates.relations.values() for t in ts)]:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        except ValueError as exc:
            raise InputError(path, f"template {template!r}: {exc}") from None
        if not names <= PLACEHOLDERS or not {"subject", "object"} <= names:
            raise InputError(
                path,
                f"template {template!r}: needs {{subject}} and {{object}} (and only {{relation}} else)",
            )
    return templates


def verbalize(triple: dict[str, str], templates: Templates, rng: random.Random) -> tuple[str, str]:
    """(relation name matched, the templated sentence) for ``triple``."""
    name, options = templates.for_relation(triple["relation"])
    values = {**triple, "relation": triple["relation"].replace("_", " ")}
    sentence = rng.choice(options).format(**values)
    return name, sentence[:1].upper() + sentence[1:]


def code_switched(
    triple: dict[str, str], labels: dict[str, dict[str, str]] | None, rng: random.Random
) -> tuple[str, dict[str, str]]:
    """KMLM's linearised triple: each part's label in a random one of its languages."""
    words, languages = [], {}
    for part in PARTS:
        other = (labels or {}).get(part)
        if not isinstance(other, dict) or not all(isinstance(v, str) for v in other.values()):
            other = {}  # no usable labels for this part: English only
        options = {"en": triple[part], **other}
        language = rng.choice(sorted(options))
        words.append(options[language])
        languages[part] = language
    return " ".join(words), languages


def _squashed(text: str) -> str:
    return " ".join(text.lower().split())


def missing_entities(text: str, entities: list[str]) -> list[str]:
    """The entities that do not appear in ``text`` (case and spacing ignored)."""
    return [e for e in entities if _squashed(e) not in _squashed(text)]


def read_triples(
    path: str | None, count: int | None = None, shipped: str = SAMPLE
) -> list[dict[str, Any]]:
    """Triples from ``path`` (JSONL/JSON/CSV/TSV), or the packaged file ``shipped``."""
    if path is None:
        path = str(resources.files("synthaug") / "data" / f"{shipped}.jsonl")
    if Path(path).suffix.lower() == ".tsv":
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t")
                rows, header = list(reader), reader.fieldnames or []
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, getattr(exc, "strerror", None) or "not UTF-8 text") from None
        if lacking := [part for part in PARTS if part not in header]:
            raise InputError(path, f"the header lacks {', '.join(lacking)}", line=1)
        for line, row in enumerate(rows, start=2):
            for part in PARTS:
                if not (row.get(part) or "").strip():
                    raise InputError(path, "missing or empty", line=line, field=part)
    else:
        rows = list(read_records(path, required=list(PARTS)))
    return rows[:count] if count is not None else rows


class TriplesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: a shipped file (``shipped``)
    shipped: Literal["general", "clinical"] = Field(
        "general", description="packaged triples when no path: 40 public facts or 40 clinical ones"
    )
    count: int | None = Field(None, ge=1)


@register("kg.triples", taxonomy="I/O (knowledge-graph triples)", stage=STAGE, paper=PAPER)
class Triples(SourceStep):
    """Knowledge-graph triples (subject, relation, object) from JSONL/CSV/TSV; default: 40 facts
    (``shipped: clinical``: 40 textbook clinical facts, ``clinical_triples.jsonl``)."""

    Params = TriplesParams
    seed_data: ClassVar[dict[str, str]] = {"path": f"{SAMPLE}.jsonl"}
    writes = PARTS

    @classmethod
    def seed_files(cls, params: dict[str, Any]) -> dict[str, str]:
        return {"path": f"{SHIPPED[params.get('shipped', 'general')]}.jsonl"}

    def expected_rows(self) -> int | None:
        return len(read_triples(self.params.path, self.params.count, self.shipped))

    @property
    def shipped(self) -> str:
        return SHIPPED[self.params.shipped]

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or self.shipped
        for index, row in enumerate(
            read_triples(self.params.path, self.params.count, self.shipped)
        ):
            yield source_record(row, source=source, index=index)


class VerbalizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    templates: str | None = None  # a templates YAML; default: templates/kg_relations.yaml
    form: Literal["sentence", "sequence"] = "sentence"  # which one becomes `text`
    smooth: bool = False  # rewrite the templated sentence with the model
    on_lost: Literal["template", "keep", "drop"] = "template"
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(64, ge=8)


@register("kg.verbalize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Verbalize(MapStep):
    """KMLM-style triples to text: templated sentence, code-switched sequence, optional LLM smoothing."""

    Params = VerbalizeParams
    reads = PARTS
    writes = ("text", "kg_sentence", "kg_template", "kg_sequence", "kg_languages", "kg_smoothed")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.templates = load_templates(self.params.templates or str(DEFAULT_TEMPLATES))

    @property
    def uses_llm(self) -> bool:  # type: ignore[override]
        return self.params.smooth

    def output_columns(self, input_columns: set[str]) -> set[str]:
        extra = (
            {"kg_entities_kept", "kg_missing_entities", "kg_rewrite"}
            if self.params.smooth
            else set()
        )
        return input_columns | set(self.writes) | extra

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        triple = {part: str(row[part]).strip() for part in PARTS}
        rng = random.Random(ctx.seed(row[META]["id"], "kg"))
        template, sentence = verbalize(triple, self.templates, rng)
        labels = row.get("labels")
        sequence, languages = code_switched(
            triple, labels if isinstance(labels, dict) else None, rng
        )
        fields = {
            "text": sentence if p.form == "sentence" else sequence,
            "kg_sentence": sentence,
            "kg_template": template,
            "kg_sequence": sequence,
            "kg_languages": languages,
            "kg_smoothed": False,
        }
        if not p.smooth:
            return [derive(row, fields, step=self.name, method=self.method)]
        request = chat(
            ("user", render(__file__, "kg_smooth.j2", sentence=sentence, **triple)),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=ctx.seed(row[META]["id"], "smooth"),
        )
        reply = await ctx.require_llm().complete(request)
        rewritten = first_line(reply.choices[0].text)
        missing = missing_entities(rewritten, [triple["subject"], triple["object"]])
        fields |= {"kg_entities_kept": not missing, "kg_missing_entities": missing}
        if missing and p.on_lost == "drop":
            message = f"the rewrite lost {', '.join(missing)}: {rewritten!r}"
            return [dropped(self, row, "entities_lost", message, "none", fields)]
        if rewritten and rewritten != sentence and (not missing or p.on_lost == "keep"):
            fields["kg_smoothed"] = True
            if p.form == "sentence":
                fields["text"] = rewritten
        fields["kg_rewrite"] = rewritten
        return [self.derived(row, fields, ctx, [request])]
