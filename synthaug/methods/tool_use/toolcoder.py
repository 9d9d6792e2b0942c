"""ToolCoder (Zhang et al., 2023, arXiv 2305.04032): code annotated with API-search calls where
an API is chosen, to teach a code model to search for APIs instead of inventing them.

The paper: (1) ChatGPT annotates existing code with a few-shot prompt, inserting
``<API>APISearch(query)→answer</API>`` right before an API is used, where the query says what
the API has to do and the answer is the API's name; (2) the annotated code fine-tunes a code
model (CodeGen, with parameter-efficient tuning); (3) at inference, when the model writes
``APISearch(query)→``, decoding pauses, the search tool answers with API names and generation
goes on. Its tools: an online search engine (DuckDuckGo restricted to one site, the APIs read
off the first result) for public libraries, and BM25 over the library's documentation
answering with the top-1 API (the authors' ``docapi.py``) for private ones.

Steps here:

- ``toolcoder.seeds``: code with tests (default: ``data/toolcoder_seeds.jsonl``, 12 small
  standard-library functions written for synthaug);
- ``toolcoder.annotate``: the paper's annotation prompt (its instruction and few-shot
  ``Input:``/``Output:`` pattern; the examples use the standard library, not numpy), then the
  checks of ``verify/api_search.py``: the reply with its calls removed must be the seed code
  (else an error row, ``changed_code``); every call's query is run against the real search
  (BM25 over an index of a real code base's API, ``retrieval.api_index``: the standard
  library's default modules, an installed package or a folder), whose answer, the top-``k``
  names, replaces the teacher's; a call stays only when the API the code uses right after it
  is in that answer; the code runs with the seed's tests in the sandbox. The record keeps the
  annotated code with the kept calls, each call's query, answers, position and API, and an
  ``api_search`` verdict that ``synthaug verify`` re-checks (searches re-run, filter
  re-applied, tests re-run);
- ``toolcoder.generate``: the paper's inference, where the model completes a seed function
  from its imports and ``def`` line; generation stops at each ``APISearch(query)→``, the real
  search writes the answer and ``</API>``, generation goes on (at most ``max_calls`` times);
  the function, its calls removed, runs with the seed's tests (``api_search``, no filter).

What differs: the teacher is the recipe's backend (the paper: ChatGPT) and its sampling
settings are written from memory (greedy here); the search is the documentation BM25 tool for
every source (no web search engine), over names, signatures and first docstring paragraphs, not
the docstrings alone; the paper's own filtering rules could not be read (only the authors'
search server is public), so the filter here is the one above, written for this task, as is
the sandbox run against tests (the paper's annotated code has no tests); a seed whose calls
were all dropped becomes an error row (``no_kept_call``); "->" is read as "→". Nothing is
fine-tuned here: the output is the annotated data, and ``toolcoder.generate`` shows an untuned
model three annotated functions (written for synthaug) instead of fine-tuning it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io import count_records, read_records
from ...llm.types import ChatRequest, one_prompt
from ...records import META, source_record
from ...retrieval.api_index import ApiSource
from ...verify.api_search import (
    Call,
    CallFormatError,
    answered,
    api_after,
    api_search_verdict,
    call_text,
    parse_calls,
    search,
)
from ..common.code import code_blocks
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = (
    "Zhang et al., 2023, ToolCoder: Teach Code Generation Models to use API search tools "
    "(arXiv 2305.04032)"
)
TAXONOMY = "synthesis / tool use (code annotated with API-search calls)"
STAGE = "fine-tuning (code, tool use)"
BUILTIN_SEEDS = "toolcoder_seeds.jsonl"


class SeedsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the shipped seeds
    format: str = "auto"
    code_column: str = "code"
    tests_column: str = "tests"
    count: int | None = Field(None, ge=1, description="the first count seeds; None: all")


@register("toolcoder.seeds", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Seeds(SourceStep):
    """Code with tests to annotate (``code``, ``tests``).

    By default the 12 functions of ``synthaug/data/toolcoder_seeds.jsonl``."""

    Params = SeedsParams
    params: SeedsParams
    writes = ("code", "tests")

    @property
    def path(self) -> str:
        return self.params.path or str(resources.files("synthaug") / "data" / BUILTIN_SEEDS)

    def expected_rows(self) -> int | None:
        total = count_records(self.path, fmt=self.params.format)
        return min(total, self.params.count or total)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        records = read_records(self.path, fmt=p.format, required=[p.code_column, p.tests_column])
        for index, record in enumerate(records):
            if p.count is not None and index >= p.count:
                return
            fields = {"code": record[p.code_column], "tests": record[p.tests_column]}
            for column, value in zip((p.code_column, p.tests_column), fields.values(), strict=True):
                if not isinstance(value, str) or not value.strip():
                    raise InputError(self.path, "not a non-empty string", line=index + 1,
                                     field=column)  # fmt: skip
            yield source_record(fields, source=self.path, index=index)


class SearchParams(ApiSource):
    """The code base the API search indexes, its answer's size, and the sampling."""

    k: int = Field(1, ge=1, le=20, description="API names the search answers with")
    temperature: float = Field(0.0, ge=0, le=2)


class SearchStep(MapStep):
    """A map step over code with tests that asks the model and the API search."""

    params: SearchParams
    reads = ("code", "tests")
    uses_llm = True

    def source(self) -> ApiSource:
        return ApiSource(**self.params.model_dump(include=set(ApiSource.model_fields)))


class AnnotateParams(SearchParams):
    mode: Literal["chat", "completion"] = Field(
        "chat", description="the prompt as a user turn (the paper's ChatGPT) or raw text"
    )
    max_tokens: int = Field(512, ge=16)


def reply_code(text: str) -> str:
    """The annotated code of a reply: its first code block, else the text after ``Output:``
    up to a next ``Input:``."""
    blocks = [body for _, body in code_blocks(text) if body.strip()]
    if blocks:
        return blocks[0].strip()
    body = text.split("Output:", 1)[1] if text.lstrip().startswith("Output:") else text
    return body.split("\nInput:", 1)[0].strip()


def changed_line(expected: str, got: str) -> str:
    """Where ``got`` first differs from ``expected``, for an error message."""
    want, have = expected.splitlines(), got.splitlines()
    for number, (a, b) in enumerate(zip(want, have, strict=False), 1):
        if a != b:
            return f"line {number}: {b[:80]!r} instead of {a[:80]!r}"
    return f"{len(have)} lines instead of {len(want)}"


@register("toolcoder.annotate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Annotate(SearchStep):
    """ToolCoder's annotation: API-search calls inserted into code, checked by a real search.

    The teacher inserts the calls; each is run against the real API search and kept when its
    answer holds the API used next; the code runs with its tests in the sandbox.

    Input columns: ``code``, ``tests``. Output columns: ``annotated_code`` (the code with the
    kept calls and the search's answers), ``api_calls`` (every call: ``query``,
    ``teacher_answer``, ``answer``, ``position`` in the code, ``api`` used after it,
    ``kept``), ``annotation`` (the teacher's reply), ``verification`` (kind ``api_search``).
    Error kinds: ``malformed_call``, ``changed_code``, ``no_calls``, ``no_kept_call``,
    ``tests_failed``.
    """

    Params = AnnotateParams
    params: AnnotateParams
    writes = ("annotated_code", "api_calls", "annotation", "verification")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, code = self.params, row["code"]
        prompt = render(__file__, "toolcoder_annotate.j2", code=code)
        request = one_prompt(prompt, p.mode, temperature=p.temperature, max_tokens=p.max_tokens,
                             stop=("\nInput:",), seed=ctx.seed(row[META]["id"]))  # fmt: skip
        reply = (await ctx.require_llm().complete(request)).choices[0].text
        try:
            stripped, calls = parse_calls(reply_code(reply))
        except CallFormatError as error:
            return [dropped(self, row, "malformed_call", str(error), 0, {"annotation": reply})]
        core = code.strip()
        if stripped != core:
            message = "the code without the calls is not the seed code: "
            message += changed_line(core, stripped)
            return [dropped(self, row, "changed_code", message, 0, {"annotation": reply})]
        if not calls:
            message = "the reply inserted no API search call"
            return [dropped(self, row, "no_calls", message, 0, {"annotation": reply})]
        lead, source = len(code) - len(code.lstrip()), self.source()
        found = []
        for call in calls:
            position = call.position + lead
            answer, api = search(source, call.query, p.k), api_after(code, position)
            found.append({"query": call.query, "teacher_answer": call.answer, "answer": answer,
                          "position": position, "api": api, "kept": answered(api, answer)})  # fmt: skip
        kept = [{k: c[k] for k in ("query", "answer", "position", "api")} for c in found
                if c["kept"]]  # fmt: skip
        verification = await api_search_verdict(ctx.sandbox, source, p.k, code, kept, row["tests"])
        fields = {"annotated_code": verification["annotated"], "api_calls": found,
                  "annotation": reply, "verification": verification}  # fmt: skip
        if not kept:
            apis = "; ".join(f"{c['api']} not in {c['answer']}" for c in found)
            return [dropped(self, row, "no_kept_call", f"no call answered its API: {apis}", 0,
                            fields)]  # fmt: skip
        if not verification["passed"]:
            return [tests_failed(self, row, fields)]
        return [self.derived(row, fields, ctx, [request])]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        calls = row["api_calls"]
        return {"calls": len(calls), "kept_calls": sum(c["kept"] for c in calls)}


def tests_failed(step: MapStep, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The error row of code that fails its tests, with the sandbox's detail."""
    execution = fields["verification"]["execution"]
    detail = execution.get("detail") or execution["status"]
    return dropped(step, row, "tests_failed", f"the tests fail: {detail}"[:300], 0, fields)


class GenerateParams(SearchParams):
    max_calls: int = Field(3, ge=0, le=10, description="searches answered per function")
    max_tokens: int = Field(256, ge=16, description="per stretch of generation between calls")


_OPEN = re.compile(r"<API>APISearch\((?P<query>[^\n]*)\)\s*(?:→|->)?\s*$")
GENERATE_STOPS = ("→", "->", "\n\n\n")


def header(code: str) -> str:
    """The code up to and including its first ``def`` line: what the model completes."""
    lines = code.strip().splitlines()
    for number, line in enumerate(lines):
        if line.lstrip().startswith(("def ", "async def ")) and line.rstrip().endswith(":"):
            return "\n".join(lines[: number + 1])
    raise RowError("no_function", "the seed code has no one-line def header to complete")


@register("toolcoder.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SearchStep):
    """ToolCoder's inference: a function completed with the real search answering each call.

    Whenever the model writes ``<API>APISearch(query)→``, generation pauses, the real API
    search writes the answer and ``</API>``, and generation goes on.

    The paper's model is fine-tuned on the annotated data; an untuned model is shown three
    annotated functions first. The function (the calls removed) runs with the seed's tests.
    Input columns: ``code`` (its imports and ``def`` line are the prompt), ``tests``. Output
    columns: ``generated_code`` (with the calls), ``solution`` (without them), ``api_calls``
    (``query``, ``answer``, ``position``, ``api``), ``verification`` (kind ``api_search``,
    unfiltered). Error kinds: ``no_function``, ``malformed_call``, ``no_calls``,
    ``tests_failed``.
    """

    Params = GenerateParams
    params: GenerateParams
    writes = ("generated_code", "solution", "api_calls", "verification")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm, source = self.params, ctx.require_llm(), self.source()
        head = header(row["code"])
        prompt = render(__file__, "toolcoder_generate.j2", header=head) + "\n"
        text, requests = "", []
        for round_ in range(p.max_calls + 1):
            request = ChatRequest(prompt=prompt + text, temperature=p.temperature,
                                  max_tokens=p.max_tokens, stop=GENERATE_STOPS,
                                  seed=ctx.seed(row[META]["id"], round_))  # fmt: skip
            requests.append(request)
            choice = (await llm.complete(request)).choices[0]
            text += choice.text
            open_call = _OPEN.search(text)
            if open_call is None or choice.finish_reason != "stop" or round_ == p.max_calls:
                break
            query = open_call.group("query").strip()
            if not query:
                break
            answer = ", ".join(search(source, query, p.k))
            text = text[: open_call.start()] + call_text(query, answer)
        generated = f"{head}\n{text}".rstrip() + "\n"
        try:
            code, parsed = parse_calls(generated)
        except CallFormatError as error:
            fields = {"generated_code": generated}
            return [dropped(self, row, "malformed_call", str(error), 0, fields)]
        calls = [self.found(code, call) for call in parsed]
        if not calls:
            message = "the model wrote no API search call"
            return [dropped(self, row, "no_calls", message, 0, {"generated_code": generated})]
        verification = await api_search_verdict(ctx.sandbox, source, p.k, code, calls,
                                                row["tests"], filtered=False)  # fmt: skip
        fields = {"generated_code": generated, "solution": code, "api_calls": calls,
                  "verification": verification}  # fmt: skip
        if not verification["passed"]:
            return [tests_failed(self, row, fields)]
        return [self.derived(row, fields, ctx, requests)]

    @staticmethod
    def found(code: str, call: Call) -> dict[str, Any]:
        answer = call.answer.split(", ") if call.answer else []
        return {"query": call.query, "answer": answer, "position": call.position,
                "api": api_after(code, call.position)}  # fmt: skip
