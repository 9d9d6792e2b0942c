"""ChemLLM's template-based instruction construction (Zhang et al., 2024, arXiv 2402.06852,
the ChemData corpus).

Chemical knowledge sits in structured databases (names, formulas, SMILES, properties) that a
chat model cannot learn from as rows. ChemLLM turns such records into dialogue: hand-written
**seed templates** per task (expanded by GPT-4 into many phrasings) are filled from each
record into question-answer pairs, and the pairs become **multi-turn dialogues**, where an LLM
"plays as chemists" to make the exchange natural while keeping its facts.

Steps: ``chemllm.records`` reads structured records: elements from the ``periodictable``
package (name, symbol, atomic number, standard atomic mass) and the packaged compound table
(name, formula, SMILES, state at room temperature, a use), each compound's molar mass computed
from its formula by ``periodictable``; ``chemllm.template_qa`` fills the seed templates
(``templates/chemllm_seed_templates.yaml``, a seeded phrasing per property) into QA pairs and
a templated multi-turn dialogue (the first question in full, the later ones as short
follow-ups); ``chemllm.play_as_chemists`` has the model rewrite that dialogue as a natural
student-chemist conversation (one exchange per pair, decoded under a JSON schema) and keeps it
only when every fact still appears in the chemist's turns, else the templated dialogue stays
(``dialogue_kept: false``, with the facts it lost).

What differs here: the paper's sources are large chemical databases and its template
expansion is done by GPT-4; here the seed templates are a few hand-written phrasings per
property (written for synthaug) and the data are small. No code was released for ChemData's
construction, so the prompt and the two-stage layout follow the paper's description.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError, SynthaugError
from ...llm.types import ChatRequest, chat, json_object
from ...records import META, derive, source_record
from ...verify.math_answer import NUMBER, answers_match
from ..common.rows import packaged_rows
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = "Zhang et al., 2024, ChemLLM: A Chemical Large Language Model (arXiv 2402.06852)"
TAXONOMY = "augmentation / reformation (structured data -> templated QA -> dialogue)"
STAGE = "domain (chemistry), instruction tuning"
COMPOUNDS = "chem_compounds.jsonl"


def periodictable() -> Any:
    """The ``periodictable`` package; a one-line error naming the extra when it is missing."""
    try:
        import periodictable as table
    except ImportError:
        raise SynthaugError(
            "ChemLLM's records need the 'periodictable' package: pip install 'synthaug[science]'"
        ) from None
    return table


def element_records(count: int) -> list[dict[str, Any]]:
    """The first ``count`` elements: name, symbol, atomic number, atomic mass (3 decimals)."""
    table = periodictable()
    elements = [e for e in table.elements if e.number > 0][:count]
    return [
        {"kind": "element", "name": e.name, "symbol": e.symbol, "atomic_number": e.number,
         "atomic_mass": round(float(e.mass), 3)}
        for e in elements
    ]  # fmt: skip


def compound_records(path: str | None, count: int | None) -> list[dict[str, Any]]:
    """The compound table's rows with ``molar_mass`` computed from the formula (2 decimals)."""
    table = periodictable()
    rows = packaged_rows(path, COMPOUNDS, ["name", "formula"], count)
    out = []
    for line, row in enumerate(rows, 1):
        try:
            mass = float(table.formula(str(row["formula"])).mass)
        except ValueError as exc:
            where = path or COMPOUNDS
            raise InputError(where, f"bad formula {row['formula']!r} ({exc})", line) from None
        if mass <= 0:
            raise InputError(path or COMPOUNDS, f"empty formula {row['formula']!r}", line)
        out.append({"kind": "compound", **row, "molar_mass": round(mass, 2)})
    return out


class RecordsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    elements: int = Field(10, ge=0, le=118)  # the first N elements of the periodic table
    compounds: str | None = None  # default: the packaged table of 16 compounds
    compound_count: int | None = Field(None, ge=0)


@register("chemllm.records", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Records(SourceStep):
    """ChemLLM: structured chemical records (periodictable elements, a compound table).

    Output columns: ``kind`` (``element`` or ``compound``), ``name`` and the properties
    (elements: ``symbol``, ``atomic_number``, ``atomic_mass``; compounds: ``formula``,
    ``molar_mass``, ``smiles``, ``state``, ``use``)."""

    Params = RecordsParams
    params: RecordsParams
    seed_data: ClassVar[dict[str, str]] = {"compounds": COMPOUNDS}
    writes = ("kind", "name")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.records()  # a missing package or a bad formula fails before the run

    def records(self) -> list[dict[str, Any]]:
        p = self.params
        compounds = compound_records(p.compounds, p.compound_count) if p.compound_count != 0 else []
        return element_records(p.elements) + compounds

    def expected_rows(self) -> int | None:
        return len(self.records())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.compounds or "periodictable+" + COMPOUNDS
        for index, record in enumerate(self.records()):
            yield source_record(record, source=source, index=index)


@cache
def seed_templates() -> dict[str, dict[str, dict[str, Any]]]:
    """Per record kind and property: question and answer phrasings and a follow-up."""
    path = Path(__file__).parent / "templates" / "chemllm_seed_templates.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def fill(template: str, record: dict[str, Any], value: Any) -> str:
    text = template.format(value=value, **record)
    return text[0].upper() + text[1:]


def template_pairs(record: dict[str, Any], seed: int) -> list[dict[str, str]]:
    """One QA pair per property the record has: ``{property, value, question, follow_up,
    answer}``, phrasings drawn with ``seed``."""
    rng = random.Random(seed)
    pairs = []
    for prop, forms in seed_templates()[record["kind"]].items():
        if record.get(prop) in (None, ""):
            continue
        value = record[prop]
        pairs.append({
            "property": prop, "value": str(value),
            "question": fill(rng.choice(forms["questions"]), record, value),
            "follow_up": forms["follow_up"],
            "answer": fill(rng.choice(forms["answers"]), record, value),
        })  # fmt: skip
    return pairs


def dialogue(pairs: list[dict[str, str]]) -> list[dict[str, str]]:
    """The templated multi-turn dialogue: the first question in full, then follow-ups."""
    messages = []
    for number, pair in enumerate(pairs):
        messages.append(
            {"role": "user", "content": pair["question"] if number == 0 else pair["follow_up"]}
        )
        messages.append({"role": "assistant", "content": pair["answer"]})
    return messages


class TemplateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    properties: int | None = Field(None, ge=1)  # at most this many pairs per record (None: all)


@register("chemllm.template_qa", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class TemplateQA(MapStep):
    """ChemLLM: fill seed templates from a structured record into QA pairs and a dialogue.

    Input columns: ``kind``, ``name``. Output columns: ``qa_pairs`` and ``messages`` (the
    templated multi-turn dialogue; its facts come from the record, so it is right by
    construction)."""

    Params = TemplateParams
    params: TemplateParams
    reads = ("kind", "name")
    writes = ("qa_pairs", "messages")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        if row["kind"] not in seed_templates():
            raise RowError("unknown_kind", f"no seed templates for records of kind {row['kind']!r}")
        pairs = template_pairs(row, ctx.seed(row[META]["id"]))[: self.params.properties]
        if not pairs:
            raise RowError("no_properties", "the record has none of the templated properties")
        fields = {"qa_pairs": pairs, "messages": dialogue(pairs)}
        return [derive(row, fields, step=self.name, method=self.method)]


def dialogue_schema(turns: int) -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": 600}
    turn = {"type": "object", "properties": {"student": text, "chemist": text},
            "required": ["student", "chemist"], "additionalProperties": False}  # fmt: skip
    return {"type": "object", "required": ["turns"], "additionalProperties": False,
            "properties": {"turns": {"type": "array", "items": turn,
                                     "minItems": turns, "maxItems": turns}}}  # fmt: skip


def fact_present(value: str, text: str) -> bool:
    """Whether ``text`` states ``value``: a number as a number (equal to 1 part in 10^4), a
    symbol, formula or SMILES as a whole token with its case, a lower-case phrase in any case."""
    if re.fullmatch(NUMBER, value):
        return any(answers_match(found, value) for found in re.findall(NUMBER, text))
    flags = re.IGNORECASE if value.islower() else 0
    return (
        re.search(rf"(?<![\w\[\]=#@+-]){re.escape(value)}(?![\w\[\]=#@+-])", text, flags)
        is not None
    )


class PlayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)  # ours (the paper does not give its sampling)
    max_tokens: int = Field(1024, ge=16)
    on_lost_fact: Literal["keep_template", "drop"] = "keep_template"


@register("chemllm.play_as_chemists", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class PlayAsChemists(ModelStep):
    """ChemLLM: the model plays chemists, retelling a templated dialogue; kept if facts survive.

    Input columns: ``qa_pairs``, ``messages``. Output columns: ``messages`` (the natural
    dialogue, or the templated one when a fact was lost), ``dialogue_kept`` and ``facts``
    (``{property, value, present}`` for each pair)."""

    Params = PlayParams
    params: PlayParams
    reads = ("qa_pairs", "messages")
    writes = ("dialogue_kept", "facts")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        pairs, p = row["qa_pairs"], self.params
        prompt = render(__file__, "chemllm_play.j2", pairs=pairs)
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     json_schema=dialogue_schema(len(pairs)), seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        turns = json_object(replies[0].text).get("turns")
        if not isinstance(turns, list) or len(turns) != len(row["qa_pairs"]):
            raise RowError("malformed_output", f"no dialogue of {len(row['qa_pairs'])} turns: "
                           f"{replies[0].text[:200]!r}")  # fmt: skip
        facts = [
            {"property": pair["property"], "value": pair["value"],
             "present": fact_present(pair["value"], str(turn.get("chemist", "")))}
            for pair, turn in zip(row["qa_pairs"], turns, strict=True)
        ]  # fmt: skip
        kept = all(f["present"] for f in facts)
        if not kept and self.params.on_lost_fact == "drop":
            lost = ", ".join(f["property"] for f in facts if not f["present"])
            raise RowError("lost_fact", f"the dialogue lost: {lost}")
        messages = row["messages"]
        if kept:
            messages = [m for t in turns for m in ({"role": "user", "content": t["student"]},
                                                   {"role": "assistant", "content": t["chemist"]})]  # fmt: skip
        return {"messages": messages, "dialogue_kept": kept, "facts": facts}
