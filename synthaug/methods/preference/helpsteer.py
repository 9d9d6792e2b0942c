"""HelpSteer attributes (Wang et al., 2023, arXiv 2311.09528) and SteerLM attribute-conditioned
SFT data (Dong et al., 2023, arXiv 2310.05344).

HelpSteer annotates each response to a prompt with five attributes, each an integer on a
0-4 Likert scale: helpfulness, correctness, coherence, complexity (the intellectual depth
needed to write it) and verbosity (detail relative to what was asked). HelpSteer's labels
come from human annotators; SteerLM trains an attribute-prediction model on such labels and
uses it to annotate more data. ``helpsteer.attributes`` has a model (``judge``, by default
the recipe's backend) rate every completion of a row (or its ``response`` column when the
row has no ``completions``) in one call per response at temperature 0, decoded under a JSON
schema whose five values are enums 0-4. A reply that still does not parse (cut off by
``max_tokens``) makes the row an error row, ``unparseable_attributes``; a row with nothing
to rate is ``no_response``.

``helpsteer.condition`` (no model) writes SteerLM's attribute-conditioned SFT rows: one per
rated completion, with the attribute string (``helpfulness:4,correctness:3,...``, in the
order of ``attributes``) in ``attributes_prompt`` and in a system prompt, and the response
as the target (``instruction``, ``response``, ``messages``). At inference the same system
prompt with the wanted values steers the tuned model. Completions without attributes are
error rows, ``no_attributes``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import ResponseLabeler

PAPER = (
    "Wang et al., 2023, HelpSteer (arXiv 2311.09528); Dong et al., 2023, SteerLM (arXiv 2310.05344)"
)
TAXONOMY = "synthesis / preference alignment (attribute labels, attribute-conditioned SFT)"
STAGE = "preference alignment (SteerLM SFT)"
Attribute = Literal["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
ATTRIBUTES: tuple[str, ...] = Attribute.__args__


def attribute_schema() -> dict[str, Any]:
    """The five attributes, each an integer 0-4."""
    return object_schema(
        {name: {"type": "integer", "enum": [0, 1, 2, 3, 4]} for name in ATTRIBUTES}
    )


def parse_attributes(text: str) -> dict[str, int] | None:
    """The five ratings of a reply, or None when it is not a complete attributes object."""
    reply = json_object(text)
    values = {name: reply.get(name) for name in ATTRIBUTES}
    if any(isinstance(v, bool) or v not in range(5) for v in values.values()):
        return None
    return values


def attribute_string(attributes: dict[str, int], names: list[str]) -> str:
    """SteerLM's attribute label, e.g. ``helpfulness:4,correctness:3``."""
    return ",".join(f"{name}:{attributes[name]}" for name in names)


class AttributesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"  # used when a row has no completions
    judge: str | None = None  # a name in the recipe's backends; None: the default
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(96, ge=32)


@register("helpsteer.attributes", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Attributes(ResponseLabeler):
    """HelpSteer: rate each response 0-4 on helpfulness, correctness, coherence, complexity, verbosity."""

    Params = AttributesParams
    label_key = "attributes"
    seed_tag = "rate"

    def parse_label(self, text: str) -> dict[str, int] | None:
        return parse_attributes(text)

    def request(self, prompt: str, response: str, seed: int) -> ChatRequest:
        return chat(
            ("user", render(__file__, "helpsteer_attributes.j2", prompt=prompt, response=response)),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            json_schema=attribute_schema(),
            seed=seed,
        )


class ConditionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"  # used when a row has no completions
    attributes: list[Attribute] = Field(default_factory=lambda: list(ATTRIBUTES), min_length=1)


@register("helpsteer.condition", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Condition(MapStep):
    """SteerLM: attribute-conditioned SFT rows, the attribute string in the system prompt."""

    Params = ConditionParams
    writes = (
        "response",
        "response_model",
        "attributes",
        "attributes_prompt",
        "system_prompt",
        "messages",
    )

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"completions"}) | set(self.writes)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        completions = row.get("completions") or [
            {"response": row.get(p.response_column), "attributes": row.get("attributes")}
        ]
        parent = {k: v for k, v in row.items() if k != "completions"}
        out = []
        for i, completion in enumerate(completions):
            attributes = completion.get("attributes")
            if not attributes or not isinstance(completion.get("response"), str):
                message = f"completion {i} has no attributes (run helpsteer.attributes first)"
                out.append(dropped(self, row, "no_attributes", message, i))
                continue
            label = attribute_string(attributes, p.attributes)
            system = render(__file__, "helpsteer_condition.j2", attributes=label)
            instruction, response = str(row[p.prompt_column]), completion["response"]
            fields = {
                "response": response,
                "response_model": completion.get("model"),
                "attributes": {name: attributes[name] for name in p.attributes},
                "attributes_prompt": label,
                "system_prompt": system,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": instruction},
                    {"role": "assistant", "content": response},
                ],
            }
            out.append(derive(parent, fields, step=self.name, method=self.method, index=i))
        return out
