"""APIGen (Liu et al., 2024, arXiv 2406.18518): function-calling data verified in three stages.

The paper samples APIs from a library, asks a generator model for queries and the calls
that answer them (JSON), and keeps a pair only when it passes, in order:

1. the **format checker**: the reply parses, each call names an offered function and its
   arguments fit the function's schema;
2. the **execution checker**: every call runs without error, its result stored;
3. the **semantic checker**: an LLM judge confirms the calls and results answer the query.

Query styles follow the paper (and BFCL's categories): ``simple`` (one function, one
call), ``multiple`` (several functions offered, one call), ``parallel`` (one function,
several calls), ``parallel_multiple`` (several functions, several calls), and
``irrelevance`` (the query needs a function that is not offered: no call).

Steps here: ``apigen.sample`` (the functions offered and to be used, per style, from
``synthaug.tools``: the built-ins, Python files, JSON schemas), ``apigen.generate`` (query
and calls, decoded under a JSON schema), ``apigen.format_check``, ``apigen.execution_check``
(each call in the sandbox, the tool's module serving calls sent from synthaug) and
``apigen.semantic_check`` (a judge, any backend; the ``verification`` evidence and the
OpenAI-format ``messages``). A failed check makes the row an error row with its reason.
Differences from the paper: one query per request (the paper asks for several); the paper's
generator sees few-shot examples drawn from its data, here none (a fixed example was
copied verbatim by the small model); the paper's data ends at the calls, here
``apigen.answer`` (after the checks) has the model write the assistant's final turn from
the results, and an ``irrelevance`` row's reply (without it, a fixed ``irrelevance_reply``).
``synthaug verify`` re-checks the format and re-runs every call; the judge's verdict is
stored, not re-asked.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...llm.types import chat, object_schema
from ...records import META, derive, source_record
from ...tools.execute import format_problems, run_calls
from ...tools.host import Translator
from ...tools.registry import Tool, load_tools
from ...verify.evidence import verdict
from ..common.judged import JsonJudge
from ..common.parsing import json_reply
from ..registry import register
from ..templates import render
from .openai_messages import call_turns

PAPER = (
    "Liu et al., 2024, APIGen: Automated Pipeline for Generating Verifiable and Diverse "
    "Function-Calling Datasets (arXiv 2406.18518)"
)
TAXONOMY = "synthesis / tool use (function calling, execution-verified)"
STAGE = "instruction tuning (tool use)"
Style = Literal["simple", "multiple", "parallel", "parallel_multiple", "irrelevance"]
STYLES: tuple[str, ...] = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
INSTRUCTIONS = {
    "simple": "The question needs exactly one call to the function.",
    "multiple": "The question needs exactly one call, to the function `{names}`.",
    "parallel": "The question asks for {count} different things, each answered by one call "
    "to the function: {count} calls.",
    "parallel_multiple": "The question asks for {count} different things, answered by {count} "
    "calls to the functions {names} (each used at least once).",
}


class JsonToolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schemas: str  # a JSON file of OpenAI-format tool schemas
    implementation: str  # the Python file with a function of the same name for each


class OpenApiFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: str  # an OpenAPI 3 document (JSON or YAML)
    implementation: str  # the Python file with a function per operation


class SampleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(20, ge=1, description="rows (one query each)")
    styles: list[Style] = Field(list(STYLES), min_length=1, description="cycled over the rows")
    builtins: list[str] | None = Field(None, description="built-in tools; None: all of them")
    python_files: list[str] = Field([], description="Python files of tools (hints + docstrings)")
    json_files: list[JsonToolFile] = []
    openapi_files: list[OpenApiFile] = []
    corpus: str | None = Field(None, description="chunks of `synthaug ingest` (search_documents)")
    encyclopedia: str | None = Field(None, description="lookup's text (default: the shipped one)")
    max_offered: int = Field(3, ge=2, description="functions offered in multiple-style rows")
    max_calls: int = Field(3, ge=2, description="calls in parallel-style rows")


@register("apigen.sample", taxonomy="tools (sampled APIs)", stage=STAGE, paper=PAPER)
class Sample(SourceStep):
    """The functions each row offers and the ones its query must use, per query style."""

    Params = SampleParams
    writes = ("query_style", "tools", "target_tools", "call_count", "tool_impl")

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        p = self.params
        files = [(f.schemas, f.implementation) for f in p.json_files]
        openapi = [(f.document, f.implementation) for f in p.openapi_files]
        self.tools = load_tools(
            p.builtins, p.python_files, files, p.corpus, p.encyclopedia, openapi
        )
        needs_two = {"multiple", "parallel_multiple", "irrelevance"} & set(p.styles)
        if needs_two and len(self.tools) < 2:
            problem = f"styles {sorted(needs_two)} need at least 2 tools, {len(self.tools)} given"
            raise InputError("tools", problem)

    def expected_rows(self) -> int | None:
        return self.params.count

    def pick(self, style: str, rng: random.Random) -> tuple[list[Tool], list[Tool], int]:
        """(offered, to use, number of calls) for one row of ``style``."""
        p, tools = self.params, self.tools
        if style in ("simple", "parallel"):
            offered = [rng.choice(tools)]
            targets = offered
        elif style == "irrelevance":
            chosen = rng.sample(tools, min(len(tools), p.max_offered + 1))
            targets, offered = chosen[:1], chosen[1:]
        else:
            offered = rng.sample(tools, rng.randint(2, min(len(tools), p.max_offered)))
            targets = rng.sample(
                offered, 1 if style == "multiple" else rng.randint(2, len(offered))
            )
        calls = {"simple": 1, "multiple": 1, "irrelevance": 0}.get(style)
        if calls is None:
            calls = rng.randint(max(2, len(targets)), max(p.max_calls, len(targets)))
        return offered, targets, calls

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        styles = self.params.styles
        for index in range(self.params.count):
            style = styles[index % len(styles)]
            offered, targets, calls = self.pick(style, random.Random(ctx.seed(index)))
            fields = {
                "query_style": style,
                "tools": [tool.schema() for tool in offered],
                "target_tools": [tool.schema() for tool in targets],
                "call_count": calls,
                "tool_impl": {t.name: t.implementation() for t in [*offered, *targets]},
            }
            yield source_record(fields, source=self.name, index=index)


def _names(tools: list[dict[str, Any]]) -> list[str]:
    return [tool["function"]["name"] for tool in tools]


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(384, ge=32)
    max_query_chars: int = Field(400, ge=20)
    constrain: Literal["shape", "names", "arguments"] = Field(
        "shape",
        description="what decoding enforces: the reply's JSON shape only (as the paper's "
        "generator, whose calls the checks then filter), also the function names, or also "
        "each function's argument schema",
    )


def call_schema(targets: list[dict[str, Any]], constrain: str) -> dict[str, Any]:
    """The JSON schema of one call ``{"name", "arguments"}`` to one of ``targets``, holding
    the shape only, also the names, or also each function's argument schema."""
    if constrain == "arguments":
        return {"anyOf": [
            object_schema({"name": {"const": t["function"]["name"]},
                           "arguments": t["function"]["parameters"]})
            for t in targets
        ]}  # fmt: skip
    name = {"enum": _names(targets)} if constrain == "names" else {"type": "string"}
    return object_schema({"name": name, "arguments": {"type": "object"}})


def reply_schema(
    targets: list[dict[str, Any]], count: int, constrain: str, max_chars: int
) -> dict[str, Any]:
    """The JSON schema a reply is decoded under: a query and ``count`` calls."""
    query = {"type": "string", "minLength": 8, "maxLength": max_chars}
    if count == 0:
        return object_schema({"query": query})
    call = call_schema(targets, constrain)
    calls = {"type": "array", "items": call, "minItems": count, "maxItems": count}
    return object_schema({"query": query, "tool_calls": calls})


def call_lines(row: dict[str, Any]) -> list[dict[str, str]]:
    """Each call of a row with its arguments and result as JSON, for a prompt."""
    return [
        {"name": c["name"], "arguments_json": json.dumps(c["arguments"]),
         "result_json": json.dumps(r)}
        for c, r in zip(row["tool_calls"], row["tool_results"], strict=True)
    ]  # fmt: skip


def parse_calls(value: Any) -> list[dict[str, Any]]:
    """The calls of a reply as ``{"name", "arguments": {...}}`` (arguments given as a JSON
    string are decoded); ``RowError`` ``malformed_call`` when one is not a call."""
    if not isinstance(value, list):
        raise RowError("malformed_call", f"tool_calls is not a list: {str(value)[:120]}")
    calls = []
    for number, call in enumerate(value, 1):
        arguments = call.get("arguments") if isinstance(call, dict) else None
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                arguments = None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise RowError("malformed_call", f"call {number} has no function name: {call!r}"[:300])
        if not isinstance(arguments, dict):
            raise RowError("malformed_call", f"call {number} ({call['name']}): arguments are "
                           f"not a JSON object: {call.get('arguments')!r}"[:300])  # fmt: skip
        calls.append({"name": call["name"], "arguments": arguments})
    return calls


@register("apigen.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(MapStep):
    """APIGen's generator: a query and the calls that answer it, as JSON.

    For the row's sampled functions and query style; a reply that holds no query or a call
    that is not ``{"name", "arguments": {...}}`` is a row error."""

    Params = GenerateParams
    reads = ("query_style", "target_tools", "call_count")
    writes = ("query", "tool_calls")
    uses_llm = True

    def request(self, row: dict[str, Any], seed: int):
        p, targets, count = self.params, row["target_tools"], row["call_count"]
        names = ", ".join(f"`{name}`" for name in _names(targets))
        instruction = INSTRUCTIONS.get(row["query_style"], "").format(names=names, count=count)
        prompt = render(
            __file__, "apigen_generate.j2", tools=targets, style=row["query_style"],
            tools_json=json.dumps([t["function"] for t in targets], indent=1),
            instruction=instruction, count=count,
        )  # fmt: skip
        schema = reply_schema(targets, count, p.constrain, p.max_query_chars)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        completion = await ctx.require_llm().complete(request)
        reply = completion.text
        answer = json_reply(completion)
        query = answer.get("query")
        if not isinstance(query, str) or not query.strip():
            raise RowError("malformed_output", f"no query in the reply: {reply[:200]!r}")
        calls = [] if row["query_style"] == "irrelevance" else parse_calls(answer.get("tool_calls"))
        fields = {"query": query.strip(), "tool_calls": calls}
        return [self.derived(row, fields, ctx, [request], seed=seed)]


@register("apigen.format_check", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class FormatCheck(MapStep):
    """APIGen's stage 1: every call names an offered function, its arguments fit the schema."""

    reads = ("tools", "tool_calls")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        found = format_problems(row["tool_calls"], row["tools"])
        if found:
            raise RowError("format", "; ".join(found)[:500])
        return [derive(row, {}, step=self.name, method=self.method)]


@register("apigen.execution_check", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class ExecutionCheck(MapStep):
    """APIGen's stage 2: every call runs in the sandbox without error; results stored (a
    ``translate`` call, the model as a tool, runs through the recipe's backend)."""

    reads = ("tool_calls", "tool_impl")
    writes = ("tool_results", "execution")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        calls = row["tool_calls"]
        host = Translator(ctx.llm, seed=ctx.seed(row[META]["id"], "translate")) if ctx.llm else None
        results, runs = await run_calls(ctx.sandbox, calls, row["tool_impl"], host)
        failed = [f"call {i} {c['name']}: {r['error']}"
                  for i, (c, r) in enumerate(zip(calls, results, strict=True), 1) if "error" in r]  # fmt: skip
        if failed:
            raise RowError("execution", "; ".join(failed)[:500])
        fields = {"tool_results": [r["return"] for r in results], "execution": runs}
        return [derive(row, fields, step=self.name, method=self.method)]


class SemanticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=16)
    irrelevance_reply: str = "None of the available tools can answer this request."


@register("apigen.semantic_check", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class SemanticCheck(JsonJudge):
    """APIGen's stage 3: a judge confirms the calls and results answer the query.

    Writes the evidence ``synthaug verify`` re-checks and the OpenAI-format conversation."""

    Params = SemanticParams
    reads = ("query", "query_style", "tools", "tool_calls", "tool_results", "tool_impl")
    writes = ("semantic", "verification", "messages")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - {"tool_impl", "execution"}

    def request(self, row: dict[str, Any], seed: int):
        calls = call_lines(row)
        prompt = render(
            __file__, "apigen_semantic.j2", query=row["query"], style=row["query_style"],
            calls=calls, tools_json=json.dumps([t["function"] for t in row["tools"]], indent=1),
        )  # fmt: skip
        schema = object_schema({"thought": {"type": "string", "maxLength": 300},
                                "passes": {"enum": ["yes", "no"]}})  # fmt: skip
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, json_schema=schema, seed=seed)  # fmt: skip

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        if reply.get("passes") not in ("yes", "no"):
            raise RowError("malformed_judgement", f"no yes/no verdict: {reply!r}"[:300])
        thought = str(reply.get("thought", ""))
        if reply["passes"] != "yes":
            raise RowError("semantic", f"the judge says no: {thought}"[:500])
        semantic = {"passes": True, "thought": thought, "judge": judge}
        return {"semantic": semantic, "verification": self.evidence(row, semantic),
                "messages": self.messages(row)}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        records = await super().process(row, ctx)
        return [
            {k: v for k, v in r.items() if k not in ("tool_impl", "execution")} for r in records
        ]

    @staticmethod
    def evidence(row: dict[str, Any], semantic: dict[str, Any]) -> dict[str, Any]:
        """A ``tool_calls`` verdict: what ``synthaug verify`` needs to re-check and re-run."""
        called = dict.fromkeys(call["name"] for call in row["tool_calls"])
        results = [{"return": value} for value in row["tool_results"]]
        return verdict(
            "tool_calls", True, tools=row["tools"], calls=row["tool_calls"], results=results,
            implementations={name: row["tool_impl"][name] for name in called},
            format_problems=[], execution=row.get("execution", []), semantic=semantic,
        )  # fmt: skip

    def messages(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """user, assistant with ``tool_calls`` (arguments as JSON strings, the OpenAI wire
        form) and one ``tool`` message per result; an irrelevance row: user, a fixed reply
        (``apigen.answer`` has the model write the final turns)."""
        user = {"role": "user", "content": row["query"]}
        if not row["tool_calls"]:
            return [user, {"role": "assistant", "content": self.params.irrelevance_reply}]
        return [user, *call_turns(row["tool_calls"], row["tool_results"])]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"verified_{row['query_style']}": 1, "calls": len(row["tool_calls"])}


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


@register("apigen.answer", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Answer(MapStep):
    """The assistant's final turn written by the model, from the tool results.

    For an irrelevance row: a reply that none of the offered functions can do it (replacing
    ``semantic_check``'s fixed reply). Not in the paper, whose data ends at the calls."""

    Params = AnswerParams
    reads = ("query", "tools", "tool_calls", "tool_results", "messages")
    writes = ("messages",)
    uses_llm = True

    def request(self, row: dict[str, Any], seed: int):
        calls = call_lines(row)
        prompt = render(__file__, "apigen_answer.j2", query=row["query"], calls=calls,
                        tools=row["tools"])  # fmt: skip
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        text = (await ctx.require_llm().complete(request)).text.strip()
        if not text:
            raise RowError("empty_answer", "the model wrote no final answer")
        kept = row["messages"] if row["tool_calls"] else row["messages"][:1]
        fields = {"messages": [*kept, {"role": "assistant", "content": text}]}
        return [self.derived(row, fields, ctx, [request], seed=seed)]
