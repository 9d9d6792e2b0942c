"""Toolformer (Schick et al., NeurIPS 2023, arXiv 2302.04761): a model annotates plain text
with API calls itself, and only calls that make the following text easier to predict stay.

The paper, for a text x = x_1..x_n and an API with a few-shot prompt P(x) (its Figure 3 and
Appendix A.2):

(a) **positions**: p_i = p_M("[" | P(x), x_{1:i-1}) at every position i; keep the
    positions with p_i > τ_s, at most the k most likely (k = 5, τ_s = 0.05);
(b) **calls**: at each kept position sample m calls (m = 5) from M continuing
    P(x), x_{1:i-1}, "["; a sample that does not close with "]" is discarded;
(c) **execution**: every call is run and its result r kept (the calculator rounds to two
    decimal places);
(d) **filtering**: L_i(z) = -Σ_j w_{j-i} log p_M(x_j | z, x_{1:j-1}), the loss of the text
    from position i with z given as a prefix (not inserted: M has not seen calls yet), and
    w_t ∝ max(0, 1 - 0.2 t) normalised to sum 1. With e(c, r) = "[API(input) → r]",
    L⁺ = L_i(e(c, r)) and L⁻ = min(L_i(ε), L_i(e(c, ε))); the call stays iff
    L⁻ - L⁺ ≥ τ_f (τ_f = 1.0 for most tools). The kept calls are inserted into the text,
    x* = x_{1:i-1}, e(c, r), x_{i:n}; the texts x* form the augmented set C*, on which the
    paper fine-tunes M.

Steps here: ``toolformer.texts`` (plain texts, by default ``data/toolformer_texts.jsonl``),
``toolformer.positions`` (a), ``toolformer.calls`` (b and c: the calls run in the sandbox
through ``synthaug.tools``, the built-in ``calculate``) and ``toolformer.filter`` (d, the
augmented text and, when a call stays, ``verification`` evidence that ``synthaug verify``
re-runs). Faithful: the paper's Calculator prompt, k, τ_s, m, τ_f, the weights, L⁺ and L⁻
with the call as a prefix, the "[", "→", "]" spelling, results to two decimal places,
every text kept in C* (with or without calls). Differs:

- log-probabilities come from forced decoding (``common.logprobs``): x is spelt out by a
  grammar after P(x) (and each continuation after its prefix), so the positions and loss
  tokens are those greedy forced decoding picks, not the tokenizer's own split, and the
  token split of x_{i:} may differ between z's; p_i sums "[" and " [" among each token's
  top candidates (``top_logprobs`` ≤ 20 lists every token above 1/21, so τ_s = 0.05 misses
  none); the first token of x is not a position (L_i(ε) would have no text to condition on);
- the call is sampled after "[Calculator(" (the API named, as the paper's prompt has one
  API); the argument is the text up to the closing ")]"; the same argument sampled twice at
  a position is scored once; at a position where several calls pass, the one with the
  largest L⁻ - L⁺ is inserted;
- the calculator is sympy's exact arithmetic (more than the paper's four operations); a
  call that fails to run is dropped with its error;
- the model is whatever the recipe's backend serves (the paper: GPT-J 6.7B), and nothing is
  fine-tuned here: the output is C*.

The paper's other APIs (QA, Wikipedia search, machine translation, calendar) are not built.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io import count_records, read_records
from ...llm.types import ChatRequest, Completion
from ...records import META, source_record
from ...tools.execute import run_calls
from ...tools.registry import Tool, load_tools
from ...verify.evidence import verdict
from ..common.logprobs import forced_grammar, forced_tokens
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = (
    "Schick et al., NeurIPS 2023, Toolformer: Language Models Can Teach Themselves to Use "
    "Tools (arXiv 2302.04761)"
)
TAXONOMY = "synthesis / tool use (self-annotated API calls, loss-filtered)"
STAGE = "pretraining, fine-tuning (tool use)"
BUILTIN_TEXTS = "toolformer_texts.jsonl"
CALL_STARTS = ("[", " [")  # the paper's <API>, alone or with the space before it
ARROW, CALL_END = "→", "]"


def round_result(value: dict[str, Any]) -> str:
    """The calculator's answer as the paper gives it: rounded to two decimal places."""
    if value["exact"] == value["decimal"]:  # an integer
        return value["exact"]
    return f"{float(value['decimal']):.2f}"


@dataclass(frozen=True)
class Api:
    """A paper API: its prompt, the registry tool that runs it, its argument and result."""

    name: str
    template: str
    tool: str
    argument: str
    result_text: Callable[[Any], str]

    def load(self) -> Tool:
        return load_tools([self.tool])[0]

    def call(self, argument: str, result: str | None) -> str:
        """e(c, r): ``[API(argument) → r]``; with ``result`` None, e(c, ε)."""
        return f"[{self.name}({argument}) {ARROW} {result or ''}".rstrip() + CALL_END


APIS = {"Calculator": Api("Calculator", "toolformer_calculator.j2", "calculate", "expression",
                          round_result)}  # fmt: skip
ApiName = Literal["Calculator"]


class TextsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: the shipped sentences with arithmetic
    format: str = "auto"
    text_column: str = "text"
    count: int | None = Field(None, ge=1, description="the first count texts; None: all")


@register("toolformer.texts", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Texts(SourceStep):
    """Plain texts to annotate (``text``), by default ``synthaug/data/toolformer_texts.jsonl``."""

    Params = TextsParams
    writes = ("text",)

    @property
    def path(self) -> str:
        return self.params.path or str(resources.files("synthaug") / "data" / BUILTIN_TEXTS)

    def expected_rows(self) -> int | None:
        total = count_records(self.path, fmt=self.params.format)
        return min(total, self.params.count or total)

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        records = read_records(self.path, fmt=p.format, required=[p.text_column])
        for index, record in enumerate(records):
            if p.count is not None and index >= p.count:
                return
            text = record[p.text_column]
            if not isinstance(text, str) or not text.strip():
                problem = "not a non-empty string"
                raise InputError(self.path, problem, line=index + 1, field=p.text_column)
            yield source_record({"text": text.strip()}, source=self.path, index=index)


def prompt_of(api: Api, text: str) -> str:
    """P(x): the paper's few-shot prompt for ``api`` ending in ``Output:``."""
    return render(__file__, api.template, text=text)


def token_offsets(tokens: list[str]) -> list[int]:
    """The character offset where each token starts."""
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token)
    return offsets


def select_positions(
    tokens: list[dict[str, Any]], threshold: float, top_k: int
) -> list[dict[str, Any]]:
    """Step (a): from ``{"offset", "token", "starts": {start: logprob}}`` per position, those
    whose call-start probability (the starts summed) exceeds ``threshold``, the ``top_k``
    most likely, in text order; each with ``probability`` and its likeliest ``start``."""
    found = []
    for token in tokens:
        if not token["starts"]:
            continue
        probability = sum(math.exp(lp) for lp in token["starts"].values())
        if probability > threshold:
            start = max(token["starts"], key=token["starts"].get)
            found.append({"offset": token["offset"], "token": token["token"],
                          "probability": round(probability, 6), "start": start})  # fmt: skip
    found.sort(key=lambda p: -p["probability"])
    return sorted(found[:top_k], key=lambda p: p["offset"])


class PositionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api: ApiName = "Calculator"
    top_k: int = Field(5, ge=1, description="the paper's k: positions kept at most")
    threshold: float = Field(0.05, gt=0, lt=1, description="the paper's τ_s")
    top_logprobs: int = Field(20, ge=1, le=20)
    max_text_tokens: int = Field(512, ge=8)


@register("toolformer.positions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Positions(MapStep):
    """Toolformer (a): the positions where the model most expects an API call.

    Output columns: ``toolformer_positions`` (``offset`` in the text, the ``token`` there, the
    call-start ``probability`` and its likeliest ``start``, "[" or " [")."""

    Params = PositionsParams
    reads = ("text",)
    writes = ("toolformer_positions",)
    uses_llm = True

    def request(self, text: str) -> ChatRequest:
        p = self.params
        return ChatRequest(prompt=prompt_of(APIS[p.api], text), temperature=0,
                           max_tokens=p.max_text_tokens, grammar=forced_grammar(" " + text),
                           logprobs=True, top_logprobs=p.top_logprobs)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        text, p = row["text"], self.params
        request = self.request(text)
        completion = await ctx.require_llm().complete(request)
        tokens = spelt(completion, " " + text)
        offsets = token_offsets([t.token for t in tokens])
        candidates = [
            {"offset": offset - 1, "token": token.token,
             "starts": {e["token"]: float(e["logprob"]) for e in token.top_logprobs
                        if e["token"] in CALL_STARTS}}
            for token, offset in zip(tokens, offsets, strict=True) if offset > 1
        ]  # fmt: skip
        fields = {"toolformer_positions": select_positions(candidates, p.threshold, p.top_k)}
        return [self.derived(row, fields, ctx, [request])]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"positions": len(row["toolformer_positions"])}


def spelt(completion: Completion, text: str) -> list[Any]:
    """The forced tokens of ``text``; ``RowError`` when they do not spell all of it."""
    tokens = forced_tokens(completion)
    got = "".join(t.token for t in tokens)
    if got != text:
        kind = "too_long" if text.startswith(got) else "grammar_ignored"
        raise RowError(kind, f"the forced tokens spell {got[:80]!r}…, not the text")
    return tokens


def begun(completion: Completion, text: str) -> list[float]:
    """The log-probabilities of the forced tokens that begin ``text`` (a loss request stops
    where the weights end); ``RowError`` when they spell something else."""
    tokens = forced_tokens(completion)
    got = "".join(t.token for t in tokens)
    if not text.startswith(got):
        raise RowError("grammar_ignored", f"the forced tokens spell {got[:80]!r}, not the text")
    return [t.logprob for t in tokens]


def parse_call(sampled: str) -> str | None:
    """The argument of a call sampled after ``API(``: the text before ``)]``; None when the
    sample does not close the call (the paper discards it)."""
    end = sampled.find(CALL_END)
    inside = sampled[:end].rstrip() if end >= 0 else ""
    if not inside.endswith(")") or not inside[:-1].strip():
        return None
    return inside[:-1].strip()


class CallsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api: ApiName = "Calculator"
    samples: int = Field(5, ge=1, le=64, description="the paper's m: calls sampled per position")
    temperature: float = Field(1.0, ge=0, le=2)
    max_call_tokens: int = Field(40, ge=4)


@register("toolformer.calls", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Calls(MapStep):
    """Toolformer (b, c): m calls sampled at each position, each run in the sandbox.

    Output columns: ``toolformer_calls`` (per distinct call: ``offset``, ``probability``,
    ``start``, ``argument``, the tool's ``return`` and the paper's ``result`` text, or the
    ``error``), ``toolformer_discarded`` (samples that did not close the call), ``tool_impl``.
    """

    Params = CallsParams
    reads = ("text", "toolformer_positions")
    writes = ("toolformer_calls", "toolformer_discarded", "tool_impl")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.api = APIS[self.params.api]
        self.tool = self.api.load()

    def request(self, text: str, position: dict[str, Any], seed: int) -> ChatRequest:
        p, prefix = self.params, (" " + text)[: position["offset"] + 1]
        prompt = f"{prompt_of(self.api, text)}{prefix}{position['start']}{self.api.name}("
        return ChatRequest(prompt=prompt, n=p.samples, temperature=p.temperature,
                           max_tokens=p.max_call_tokens, stop=("\n",), seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, positions, row_id = ctx.require_llm(), row["toolformer_positions"], row[META]["id"]
        requests = [
            self.request(row["text"], at, ctx.seed(row_id, at["offset"])) for at in positions
        ]
        sampled = await asyncio.gather(*(sample(llm, request) for request in requests))
        calls, discarded, sent = [], 0, []
        for position, (choices, parts) in zip(positions, sampled, strict=True):
            sent += parts
            arguments = [parse_call(choice.text) for choice in choices]
            discarded += arguments.count(None)
            for argument in dict.fromkeys(a for a in arguments if a is not None):
                calls.append({**position, "argument": argument})
        outcomes, _ = await run_calls(
            ctx.sandbox,
            [{"name": self.tool.name, "arguments": {self.api.argument: c["argument"]}}
             for c in calls],
            {self.tool.name: self.tool.implementation()},
        )  # fmt: skip
        for call, outcome in zip(calls, outcomes, strict=True):
            if "return" in outcome:
                call.update({"return": outcome["return"],
                             "result": self.api.result_text(outcome["return"])})  # fmt: skip
            else:
                call["error"] = outcome["error"]
        fields = {"toolformer_calls": calls, "toolformer_discarded": discarded,
                  "tool_impl": {self.tool.name: self.tool.implementation()}}  # fmt: skip
        return [self.derived(row, fields, ctx, sent)]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        calls = row["toolformer_calls"]
        failed = sum("error" in c for c in calls)
        return {"calls": len(calls), "calls_failed": failed,
                "samples_discarded": row["toolformer_discarded"]}  # fmt: skip


def loss_weights(decay: float) -> list[float]:
    """The paper's w_t = w̃_t / Σ_s w̃_s with w̃_t = max(0, 1 - decay·t): the positive ones."""
    raw = [1 - decay * t for t in range(math.ceil(1 / decay))]
    raw = [w for w in raw if w > 1e-9]
    return [w / sum(raw) for w in raw]


def weighted_loss(logprobs: list[float], decay: float) -> float:
    """L_i = -Σ_t w_t log p(x_{i+t}) over the tokens from position i (a text ending within
    the weights' window simply has fewer terms)."""
    return -sum(w * lp for w, lp in zip(loss_weights(decay), logprobs, strict=False))


def keeps(loss_plus: float, loss_none: float, loss_no_result: float, tau: float) -> bool:
    """The paper's filter: L⁻ - L⁺ ≥ τ_f with L⁻ = min(L_i(ε), L_i(e(c, ε)))."""
    return min(loss_none, loss_no_result) - loss_plus >= tau


def insert_calls(text: str, calls: list[dict[str, Any]], api: Api) -> str:
    """x*: each call e(c, r) inserted at its offset (after the space its start carries)."""
    for call in sorted(calls, key=lambda c: -c["offset"]):
        space = call["start"][:-1]
        at = call["offset"]
        text = f"{text[:at]}{space}{api.call(call['argument'], call['result'])}{text[at:]}"
    return text


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api: ApiName = "Calculator"
    threshold: float = Field(1.0, description="the paper's τ_f")
    decay: float = Field(0.2, gt=0, le=1, description="w̃_t = max(0, 1 - decay·t)")


@register("toolformer.filter", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Filter(MapStep):
    """Toolformer (d): keep a call iff L⁻ - L⁺ ≥ τ_f; the text with the kept calls inserted.

    Output columns: ``toolformer_candidates`` (each executed call with ``loss_plus``,
    ``loss_none``, ``loss_no_result``, ``loss_minus``, ``gain`` = L⁻ - L⁺ and ``kept``),
    ``toolformer_kept`` (the calls inserted, one per position), ``augmented_text`` (x*), and
    ``verification`` (the inserted calls' ``tool_calls`` evidence) when any call stays.
    """

    Params = FilterParams
    reads = ("text", "toolformer_calls", "tool_impl")
    writes = ("toolformer_candidates", "toolformer_kept", "augmented_text", "verification")
    uses_llm = True

    def loss_request(self, prefix: str, continuation: str) -> ChatRequest:
        """x_{i:} forced after ``prefix``, as far as the weights reach."""
        return ChatRequest(prompt=prefix, temperature=0,
                           max_tokens=len(loss_weights(self.params.decay)),
                           grammar=forced_grammar(continuation), logprobs=True)  # fmt: skip

    def requests(
        self, text: str, calls: list[dict[str, Any]], api: Api
    ) -> dict[tuple, ChatRequest]:
        """The loss requests: L_i(ε) per position, L_i(e(c, r)) and L_i(e(c, ε)) per call."""
        requests = {}
        for call in calls:
            at, argument = call["offset"], call["argument"]
            before, after = text[:at], text[at:]
            requests[("none", at)] = self.loss_request(before, after)
            for kind, result in (("plus", call["result"]), ("no_result", None)):
                prefix = f"{api.call(argument, result)} {before}"
                requests[(kind, at, argument)] = self.loss_request(prefix, after)
        return requests

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        text, api, p = row["text"], APIS[self.params.api], self.params
        executed = [c for c in row["toolformer_calls"] if "return" in c]
        requests = self.requests(text, executed, api)
        llm = ctx.require_llm()
        replies = await asyncio.gather(*(llm.complete(r) for r in requests.values()))
        losses = {
            key: round(weighted_loss(begun(reply, text[key[1] :]), p.decay), 6)
            for key, reply in zip(requests, replies, strict=True)
        }
        candidates = []
        for call in executed:
            at, argument = call["offset"], call["argument"]
            plus, none = losses[("plus", at, argument)], losses[("none", at)]
            bare = losses[("no_result", at, argument)]
            candidates.append({**call, "loss_plus": plus, "loss_none": none,
                               "loss_no_result": bare, "loss_minus": min(none, bare),
                               "gain": round(min(none, bare) - plus, 6),
                               "kept": keeps(plus, none, bare, p.threshold)})  # fmt: skip
        best: dict[int, dict[str, Any]] = {}
        for c in candidates:
            if c["kept"] and (c["offset"] not in best or c["gain"] > best[c["offset"]]["gain"]):
                best[c["offset"]] = c
        kept = [best[offset] for offset in sorted(best)]
        fields: dict[str, Any] = {"toolformer_candidates": candidates, "toolformer_kept": kept,
                                  "augmented_text": insert_calls(text, kept, api)}  # fmt: skip
        if kept:
            fields["verification"] = self.evidence(kept, row["tool_impl"], api)
        record = self.derived(row, fields, ctx, list(requests.values()))
        return [{k: v for k, v in record.items() if k != "tool_impl"}]

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - {"tool_impl"}

    def evidence(
        self, kept: list[dict[str, Any]], impl: dict[str, Any], api: Api
    ) -> dict[str, Any]:
        """A ``tool_calls`` verdict ``synthaug verify`` re-runs: the inserted calls, their
        results and the loss filter as the passed check."""
        tool = api.load()
        calls = [{"name": tool.name, "arguments": {api.argument: c["argument"]}} for c in kept]
        semantic = {"passes": True, "check": "toolformer loss filter",
                    "threshold": self.params.threshold, "gains": [c["gain"] for c in kept]}  # fmt: skip
        return verdict("tool_calls", True, tools=[tool.schema()], calls=calls,
                       results=[{"return": c["return"]} for c in kept],
                       implementations=impl, format_problems=[], semantic=semantic)  # fmt: skip

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"candidates": len(row["toolformer_candidates"]),
                "kept_calls": len(row["toolformer_kept"]),
                "texts_with_calls": int(bool(row["toolformer_kept"]))}  # fmt: skip
