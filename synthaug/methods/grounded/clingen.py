"""ClinGen (Xu et al., 2024, "Knowledge-Infused Prompting: Assessing and Advancing Clinical
Text Data Generation with Large Language Models", ACL Findings 2024, arXiv 2311.00287):
synthetic clinical text for a downstream task, conditioned on knowledge-graph topics and
LLM-suggested writing styles.

ClinGen (1) extracts clinical topics per class, from a knowledge graph (iBKH entities:
diseases, drugs, genes, ...) or suggested by an LLM; (2) asks the LLM for writing styles
of the domain (case reports, clinical notes, patient questions, ...); (3) per request,
samples a class, a topic of that class and a style, and has the LLM write one text of the
class that mimics the style and is about the topic. In the authors' code topics and styles
are drawn uniformly from their lists, each class gets the same number of texts, and the
generation runs at temperature 1.0, top_p 1.0, up to 512 tokens.

Here, after triples (``kg.triples``, e.g. ``shipped: clinical``, or ``kg.extract``):
``clingen.topics`` (whole input) builds the graph of the triples (``synthaug.knowledge``)
and makes ``count`` requests, the labels taken in turn, each with a topic drawn uniformly
from the entities of that label's triples (``relations`` maps a label to the relations
whose entities are its topics, e.g. ``treatment: [treated with]``; by default all
entities) and the triples it comes from (``topic_triples``); ``clingen.styles`` (whole
input) asks the model once for ``count`` writing styles of the domain (or takes the given
``styles``) and gives each request one, drawn uniformly; ``clingen.generate`` writes the
text. ``clingen.llm_topics`` (a source, in place of triples and ``clingen.topics``) is the
paper's other knowledge source: the model suggests each label's topics. A text in which
synthaug's PII detector (``synthaug.curate.pii``: e-mail, phone, IP address, card, IBAN,
secrets) finds anything is an error row ``personal_information``.

Differences from the paper: any triples stand for iBKH (whose licence does not allow
shipping it; the default recipe reads 40 textbook clinical facts written for synthaug);
topics per label come from a relation map instead of querying the graph with each class
name; few-shot demonstrations only when ``examples`` are given (the code always shows
three real texts of the class; the recipe is the zero-shot form); the prompts are written
for synthaug after the shape of the authors' text-classification prompt, the style and
LLM-topic prompts from memory of the paper (not in the released code; ``per_label`` and
the style ``count`` are this module's defaults, not the paper's), and the generation
prompt also asks for no personal information; the PII check does not detect person names.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...curate.pii import redact
from ...engine.step import RowError, SourceStep, StepContext, WholeStep
from ...errors import InputError
from ...io import read_records
from ...knowledge.graph import build_graph, relation_key
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, derive, record_id
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Xu et al., 2024, Knowledge-Infused Prompting: Assessing and Advancing Clinical Text Data "
    "Generation with Large Language Models (ACL Findings 2024, arXiv 2311.00287)"
)
TAXONOMY = "synthesis / knowledge-infused prompting (task data from graph topics and styles)"
STAGE = "domain applications (clinical NLP)"
TRIPLE = ("subject", "relation", "object")
DOMAIN = "clinical text"


def list_request(
    prompt: str, key: str, count: int, temperature: float, max_tokens: int, seed: int
) -> ChatRequest:
    """A request for a JSON object ``{key: [1 to count short strings]}``."""
    item = {"type": "string", "minLength": 3, "maxLength": 60}
    items = {"type": "array", "items": item, "minItems": 1, "maxItems": count}
    return chat(("user", prompt), temperature=temperature, max_tokens=max_tokens, seed=seed,
                json_schema=object_schema({key: items}))  # fmt: skip


def listed(reply: str, key: str, count: int, where: str, what: str) -> list[str]:
    """The first ``count`` distinct items (lowercased, spaces squeezed) of the reply's
    ``key`` list; an ``InputError`` naming ``what`` when there is none."""
    items = dict.fromkeys(
        " ".join(str(s).split()).lower() for s in json_object(reply).get(key) or []
    )
    found = [item for item in items if item][:count]
    if not found:
        raise InputError(where, f"the model suggested no {what} ({reply[:120]!r}): "
                                "raise max_tokens or give them")  # fmt: skip
    return found


class TopicParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(min_length=1, description="the task's label set")
    relations: dict[str, list[str]] = Field(
        default_factory=dict,
        description="label -> relations whose triples' entities are its topics (default: all)",
    )
    count: int = Field(20, ge=1, description="requests, the labels taken in turn")

    @model_validator(mode="after")
    def known_labels(self) -> TopicParams:
        if stray := sorted(set(self.relations) - set(self.labels)):
            raise ValueError(f"relations given for labels not in labels: {', '.join(stray)}")
        return self


@register("clingen.topics", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Topics(WholeStep):
    """ClinGen's requests: a label in turn and a topic drawn uniformly from the label's
    knowledge-graph entities, with the triples it comes from.

    Input columns: ``subject``, ``relation``, ``object``. Output columns: ``label``,
    ``topic``, ``topic_triples`` (the label's triples naming the topic, with ids) and
    ``topic_source`` (``graph``)."""

    Params = TopicParams
    params: TopicParams
    reads = TRIPLE
    writes = ("label", "topic", "topic_triples", "topic_source")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    def pools(self, triples: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Per label: topic name -> the triples it comes from."""
        graph = build_graph(triples)
        pools: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for label in self.params.labels:
            wanted = {relation_key(r) for r in self.params.relations.get(label, [])}
            pool: dict[str, list[dict[str, Any]]] = {}
            for u, v, data in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1])):
                if wanted and data["relation"] not in wanted:
                    continue
                for node in (u, v):
                    pool.setdefault(graph.nodes[node]["name"], []).extend(data["sources"])
            if not pool:
                raise InputError(
                    "clingen.topics",
                    f"no triple of {len(triples)} has a relation of label {label!r} "
                    f"({', '.join(sorted(wanted))})",
                )
            pools[label] = pool
        return pools

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        triples = [{**{k: str(row[k]) for k in TRIPLE}, "triple_id": row[META]["id"]}
                   async for row in rows]  # fmt: skip
        pools = self.pools(triples)
        labels = self.params.labels
        for slot in range(self.params.count):
            label = labels[slot % len(labels)]
            names = sorted(pools[label])
            topic = names[random.Random(ctx.seed("topic", slot)).randrange(len(names))]
            sources = pools[label][topic]
            ids = list(dict.fromkeys(t["triple_id"] for t in sources))
            meta = {"id": record_id(self.name, slot), "parents": ids, "step": self.name,
                    "method": self.method}  # fmt: skip
            yield {"label": label, "topic": topic, "topic_triples": sources,
                   "topic_source": "graph", META: meta}  # fmt: skip


class LLMTopicParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(min_length=1, description="the task's label set")
    count: int = Field(20, ge=1, description="requests, the labels taken in turn")
    per_label: int = Field(20, ge=1, description="topics the model suggests per label")
    domain: str = DOMAIN
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)


@register("clingen.llm_topics", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class LLMTopics(SourceStep):
    """ClinGen's other knowledge source: the model suggests ``per_label`` topics per label
    (one call each); requests as in ``clingen.topics``, the labels in turn, a topic drawn
    uniformly from the label's list. Output columns: ``label``, ``topic``, ``topic_triples``
    (empty) and ``topic_source`` (``llm``)."""

    Params = LLMTopicParams
    params: LLMTopicParams
    writes = ("label", "topic", "topic_triples", "topic_source")
    uses_llm = True

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        requests = {
            label: list_request(
                render(__file__, "clingen_topics.j2", domain=p.domain, label=label,
                       labels=p.labels, count=p.per_label),
                "topics", p.per_label, p.temperature, p.max_tokens, ctx.seed("topics", label),
            )
            for label in p.labels
        }  # fmt: skip
        replies = await asyncio.gather(*(llm.complete(r) for r in requests.values()))
        topics = {label: listed(reply.text, "topics", p.per_label, self.name, f"topic of {label!r}")
                  for label, reply in zip(p.labels, replies, strict=True)}  # fmt: skip
        for slot in range(p.count):
            label = p.labels[slot % len(p.labels)]
            names = topics[label]
            topic = names[random.Random(ctx.seed("topic", slot)).randrange(len(names))]
            fields = {"label": label, "topic": topic, "topic_triples": [], "topic_source": "llm"}
            yield self.generated(fields, ctx, requests[label], slot)


class StyleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    styles: list[str] | None = Field(None, description="given styles (no model call)")
    count: int = Field(10, ge=1, description="styles the model suggests")
    domain: str = DOMAIN
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


@register("clingen.styles", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Styles(WholeStep):
    """ClinGen's writing styles: ``count`` suggested by the model in one call (or the given
    ``styles``), one drawn uniformly for each row. Output column: ``style``."""

    Params = StyleParams
    params: StyleParams
    writes = ("style",)
    uses_llm = True

    async def suggested(self, ctx: StepContext) -> list[str]:
        p = self.params
        if p.styles:
            return p.styles
        prompt = render(__file__, "clingen_styles.j2", domain=p.domain, count=p.count)
        request = list_request(
            prompt, "styles", p.count, p.temperature, p.max_tokens, ctx.seed("styles")
        )
        reply = (await ctx.require_llm().complete(request)).text
        return listed(reply, "styles", p.count, "clingen.styles", "writing style")

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        styles = None
        async for row in rows:
            styles = styles or await self.suggested(ctx)
            rng = random.Random(ctx.seed(row[META]["id"]))
            yield derive(row, {"style": styles[rng.randrange(len(styles))]},
                         step=self.name, method=self.method)  # fmt: skip


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = DOMAIN
    unit: str = Field("sentence", description="what to write (the authors' code: a sentence)")
    examples: str | None = Field(
        None, description="few-shot demonstrations: a JSONL/JSON/CSV file with text and label"
    )
    demos: int = Field(3, ge=0, description="demonstrations of the label shown per request")
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int = Field(512, ge=16)


def personal_information(text: str) -> list[str]:
    """The kinds of personal information (or secrets) the PII detector finds in ``text``."""
    return sorted(redact(text)[1])


@register("clingen.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(ModelStep):
    """ClinGen's knowledge-infused generation: one text of the label, about the topic, in the
    style; a text with personal information is an error row ``personal_information``.

    With ``examples``, up to ``demos`` texts of the row's label, drawn per request, are shown
    before it, as the authors' code shows three real texts of the class.

    Input columns: ``label``, ``topic``, ``style``. Output column: ``text``."""

    Params = GenerateParams
    params: GenerateParams
    reads = ("label", "topic", "style")
    writes = ("text",)

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.examples: dict[str, list[str]] = {}
        if self.params.examples:
            for example in read_records(self.params.examples, required=["text", "label"]):
                self.examples.setdefault(str(example["label"]), []).append(str(example["text"]))

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, seed = self.params, ctx.seed(row[META]["id"])
        pool = self.examples.get(str(row["label"]), [])
        demos = random.Random(seed).sample(pool, min(p.demos, len(pool)))
        prompt = render(__file__, "clingen_generate.j2", domain=p.domain, unit=p.unit,
                        label=row["label"], topic=row["topic"], style=row["style"],
                        demos=demos)  # fmt: skip
        return [chat(("user", prompt), temperature=p.temperature, top_p=p.top_p,
                     max_tokens=p.max_tokens, seed=seed)]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        text = replies[0].text.strip()
        if text.lower().startswith("text:"):
            text = text[5:].strip()
        if not text:
            raise RowError("format", "the model wrote no text")
        return {"text": text}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        if found := personal_information(record["text"]):
            message = f"personal information ({', '.join(found)}): {record['text'][:200]!r}"
            return [
                dropped(self, row, "personal_information", message, 0, {"text": record["text"]})
            ]
        return [record]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"label_{row['label']}": 1}
