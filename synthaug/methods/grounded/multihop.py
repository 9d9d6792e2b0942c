"""Multi-hop questions from knowledge-graph paths, in the spirit of GraphGen (Chen et al., 2025,
arXiv 2505.20416) and of multi-hop QA built from knowledge-base paths.

GraphGen builds a knowledge graph from documents, samples subgraphs around its edges and has
an LLM write questions whose answers need several of those facts. Here: ``kg.paths`` (whole
input) builds the graph of the triple rows before it (``kg.extract``, ``kg.review`` or a
triples file through ``kg.triples``; entity names normalised, networkx) and samples paths of 2
and 3 hops, keeping a path only when its start and relations lead to its end and to nothing
else in the graph, so the end entity is the question's one answer; ``kg.multihop`` asks the
model for a question that starts from the path's first entity and follows its relations, the
answer being the path's end. Each record's ``verification`` (kind ``kg_path``) holds the path,
every hop with its evidence text and source, and the checks that ``synthaug verify`` re-runs
from the record alone: the hops chain, the answer is the end, each hop's entities occur in its
evidence, the question names the start but not the answer. (The graph-wide uniqueness of the
answer is checked when the path is sampled; re-checking it needs the graph, saved with
``save``.)

Differences from GraphGen: paths instead of its k-hop subgraphs, no comprehension-loss
(perplexity) targeting of weak facts, one question per path; the prompt is written for
synthaug.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext, WholeStep
from ...errors import InputError
from ...knowledge.entities import entity_key
from ...knowledge.graph import build_graph, sample_paths, save_graph
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, record_id
from ...verify.evidence import kg_path_verdict
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Chen et al., 2025, GraphGen: Enhancing Supervised Fine-Tuning for LLMs with "
    "Knowledge-Driven Synthetic Data Generation (arXiv 2505.20416)"
)
TAXONOMY = "synthesis / knowledge-graph driven (multi-hop QA from graph paths)"
STAGE = "instruction tuning (knowledge-grounded data)"
TRIPLE = ("subject", "relation", "object")
# per failed check of a question: the error kind
FAILURES = {"chain": "broken_chain", "answer_is_end": "wrong_answer", "grounded": "ungrounded_hop",
            "names_start": "start_not_named", "leaks_answer": "answer_leak"}  # fmt: skip


def hop_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A triple row as a graph edge's source: the triple, its evidence and provenance."""
    hop = {k: row[k] for k in TRIPLE}
    if row.get("evidence"):
        hop["evidence"] = row["evidence"]
    for field in ("chunk_id", "doc_id"):
        if row.get(field) is not None:
            hop[field] = row[field]
    source = row.get("triple_source") or row.get("source")
    if source:
        hop["source"] = source
    hop["triple_id"] = row[META]["id"]
    return hop


class PathParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hops: list[Annotated[int, Field(ge=1, le=5)]] = Field(
        [2, 3], min_length=1, description="path lengths (1-5 hops), taken in turn"
    )
    count: int = Field(20, ge=1, description="paths to sample")
    save: str | None = Field(None, description="write the graph here (networkx node-link JSON)")


@register("kg.paths", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Paths(WholeStep):
    """The knowledge graph of the triple rows and ``count`` seeded paths through it whose
    end is the only entity their start and relations reach.

    Input columns: ``subject``, ``relation``, ``object`` (and, kept per hop, ``evidence``,
    ``chunk_id``, ``doc_id``, ``triple_source`` or ``source``). Output columns: ``path``
    (the hops), ``hops``, ``start``, ``answer`` (the end entity's name in the graph)."""

    Params = PathParams
    params: PathParams
    reads = TRIPLE
    writes = ("path", "hops", "start", "answer")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        triples = [hop_fields(row) async for row in rows]
        graph = build_graph(triples)
        if self.params.save:
            save_graph(graph, self.params.save)
        paths = sample_paths(graph, self.params.hops, self.params.count, ctx.seed("paths"))
        if not paths:
            raise InputError(
                "kg.paths",
                f"{len(triples)} triples make a graph of {graph.number_of_nodes()} entities and "
                f"{graph.number_of_edges()} edges with no path of {self.params.hops} hops "
                "that leads to one entity: give more documents or triples",
            )
        for path in paths:
            end = graph.nodes[entity_key(path[-1]["object"])]["name"]
            ids = [hop["triple_id"] for hop in path]
            yield {"path": path, "hops": len(path), "start": path[0]["subject"], "answer": end,
                   META: {"id": record_id(self.name, *ids), "parents": ids, "step": self.name,
                          "method": self.method}}  # fmt: skip


class QuestionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(128, ge=16)


@register("kg.multihop", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class MultiHop(ModelStep):
    """A question over a graph path whose answer is the path's end, verified (``kg_path``).

    Input columns: ``path``, ``start``, ``answer``. Output columns: ``question``,
    ``messages`` (user: the question; assistant: the answer) and ``verification``. A question
    failing a check is an error row named by the check (``answer_leak``,
    ``start_not_named``, ...), its verification kept."""

    Params = QuestionParams
    params: QuestionParams
    reads = ("path", "start", "answer")
    writes = ("question", "messages", "verification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        middle = [hop["object"] for hop in row["path"][:-1]]
        prompt = render(__file__, "kg_multihop.j2", path=row["path"], start=row["start"],
                        answer=row["answer"], middle=middle)  # fmt: skip
        schema = object_schema({"question": {"type": "string", "minLength": 10}})
        p = self.params
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     json_schema=schema, seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        question = " ".join(str(json_object(replies[0].text).get("question", "")).split())
        messages = [{"role": "user", "content": question},
                    {"role": "assistant", "content": row["answer"]}]  # fmt: skip
        return {"question": question, "messages": messages,
                "verification": kg_path_verdict(question, row["answer"], row["path"])}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        evidence = record["verification"]
        if evidence["verified"]:
            return [record]
        failed = [k for k, kind in FAILURES.items() if evidence[k] is (k == "leaks_answer")]
        message = f"the question fails {', '.join(failed)}: {record['question'][:200]!r}"
        fields = {k: record[k] for k in self.writes}
        return [dropped(self, row, FAILURES[failed[0]], message, 0, fields)]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"hops_{row['hops']}": 1}
