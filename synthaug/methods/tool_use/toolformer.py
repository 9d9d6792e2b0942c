"""Toolformer (Schick et al., NeurIPS 2023, arXiv 2302.04761): a model annotates plain text
with API calls itself, and only calls that make the following text easier to predict stay.

The paper, for a text x = x_1..x_n and an API with a few-shot prompt P(x) (its Figure 3 and
Appendix A.2):

(a) **positions**: p_i = p_M("[" | P(x), x_{1:i-1}) at every position i; keep the
    positions with p_i > τ_s, at most the k most likely (k = 5, τ_s = 0.05; the Calculator
    and MT, run on heuristically filtered texts: k = 20, τ_s = 0.0);
(b) **calls**: at each kept position sample m calls (m = 5; Calculator, MT: 10) from M
    continuing P(x), x_{1:i-1}, "["; a sample that does not close with "]" is discarded;
(c) **execution**: every call is run and its result r kept (the calculator rounds to two
    decimal places);
(d) **filtering**: L_i(z) = -Σ_j w_{j-i} log p_M(x_j | z, x_{1:j-1}), the loss of the text
    from position i with z given as a prefix (not inserted: M has not seen calls yet), and
    w_t ∝ max(0, 1 - 0.2 t) normalised to sum 1. With e(c, r) = "[API(input) → r]",
    L⁺ = L_i(e(c, r)) and L⁻ = min(L_i(ε), L_i(e(c, ε))); the call stays iff
    L⁻ - L⁺ ≥ τ_f (τ_f = 1.0; Calculator, MT: 0.5). The kept calls of all APIs are
    inserted into the text, x* = x_{1:i-1}, e(c, r), x_{i:n}; the texts x* form the
    augmented set C*, on which the paper fine-tunes M.

Steps here: ``toolformer.texts`` (plain texts, by default ``data/toolformer_texts.jsonl``,
with an optional date column), ``toolformer.positions`` (a), ``toolformer.calls`` (b and c)
and ``toolformer.filter`` (d, the augmented text and, when a call stays, ``verification``
evidence that ``synthaug verify`` re-checks). The five APIs of the paper (Calculator, QA,
WikiSearch, MT, Calendar; ``toolformer_apis``) each have the paper's prompt, executor,
per-API k, τ_s, m, τ_f and text filter (Calendar: a date; MT: a non-English span;
Calculator: the paper's number heuristic; ``text_filters: false`` lifts the last two); a run annotates with the ``apis`` it names, each API scored on its
own as in the paper, and the calls kept for all of them merged into one x*. Faithful: the
paper's prompts, settings, the weights, L⁺ and L⁻ with the call as a prefix, the "[", "→",
"]" spelling, results to two decimal places, every text kept in C* (with or without calls).
Differs:

- log-probabilities come from forced decoding (``common.logprobs``): x is spelt out by a
  grammar after P(x) (and each continuation after its prefix), so the positions and loss
  tokens are those greedy forced decoding picks, not the tokenizer's own split, and the
  token split of x_{i:} may differ between z's; p_i sums "[" and " [" among each token's
  top candidates (``top_logprobs`` ≤ 20 lists every token above 1/21, so τ_s = 0.05 misses
  none; with the Calculator's and MT's τ_s = 0.0 a position counts when "[" is among the 20
  most likely tokens); the first token of x is not a position (L_i(ε) would have no text to
  condition on);
- the call is sampled after "[API(" (the API named, as each of the paper's prompts has one
  API); the argument is the text up to the closing ")]"; the same argument sampled twice at
  a position is scored once; Calendar takes no input, so its one call "[Calendar()]" is not
  sampled; at a position where several calls pass (of any API), the one with the largest
  L⁻ - L⁺ is inserted;
- the executors differ from the paper's (``toolformer_apis``: the calculator is sympy's exact
  arithmetic, QA and MT are the backend, WikiSearch is BM25 over a local corpus, Calendar
  reads the text's date column); a call that fails to run is dropped with its error;
- ``verify`` recomputes the filter and re-runs the Calculator, Calendar and WikiSearch calls;
  QA and MT results are taken as stored;
- the model is whatever the recipe's backend serves (the paper: GPT-J 6.7B), and nothing is
  fine-tuned here: the output is C*.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...errors import InputError
from ...io import count_records, read_records
from ...llm.types import ChatRequest, Completion
from ...records import META, source_record
from ...tools.execute import run_calls
from ...tools.registry import load_tools
from ...verify.evidence import verdict
from ...verify.toolformer import calendar_sentence, file_digest, round_result, wiki_search
from ..common.logprobs import forced_grammar, forced_tokens
from ..common.sampling import sample
from ..registry import register
from ..templates import render
from .toolformer_apis import (
    APIS,
    Api,
    ApiName,
    calculator_worthy,
    foreign_span,
    looks_ahead,
    model_request,
    model_result,
    parse_call,
    query_of,
)

__all__ = ["APIS", "Api", "parse_call", "round_result"]

PAPER = (
    "Schick et al., NeurIPS 2023, Toolformer: Language Models Can Teach Themselves to Use "
    "Tools (arXiv 2302.04761)"
)
TAXONOMY = "synthesis / tool use (self-annotated API calls, loss-filtered)"
STAGE = "pretraining, fine-tuning (tool use)"
BUILTIN_TEXTS = {"arithmetic": "toolformer_texts.jsonl", "dated": "toolformer_dated_texts.jsonl"}
WIKI_CORPUS = "encyclopedia.jsonl"  # WikiSearch's default: 60 Wikipedia lead sections
CALL_STARTS = ("[", " [")  # the paper's <API>, alone or with the space before it
CALCULATE = "calculate"  # the sandboxed tool behind the Calculator


def builtin_data(name: str) -> str:
    return str(resources.files("synthaug") / "data" / name)


class TextsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # None: a shipped file (``shipped``)
    shipped: Literal["arithmetic", "dated"] = Field(
        "arithmetic", description="arithmetic: 12 sentences; dated: 10 dated texts for all APIs"
    )
    format: str = "auto"
    text_column: str = "text"
    date_column: str | None = Field(None, description="ISO dates for the Calendar API")
    count: int | None = Field(None, ge=1, description="the first count texts; None: all")


@register("toolformer.texts", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Texts(SourceStep):
    """Plain texts to annotate (``text``), by default ``synthaug/data/toolformer_texts.jsonl``
    (``shipped: dated``: ``toolformer_dated_texts.jsonl``),
    and each text's ``date`` (``YYYY-MM-DD``, from ``date_column``; None without one)."""

    Params = TextsParams
    writes = ("text", "date")

    @property
    def path(self) -> str:
        return self.params.path or builtin_data(BUILTIN_TEXTS[self.params.shipped])

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
            day = record.get(p.date_column) if p.date_column else None
            if day is not None:
                try:
                    calendar_sentence(str(day))
                except ValueError:
                    problem = f"not a date YYYY-MM-DD: {day!r}"
                    raise InputError(self.path, problem, line=index + 1,
                                     field=p.date_column) from None  # fmt: skip
            fields = {"text": text.strip(), "date": None if day is None else str(day)[:10]}
            yield source_record(fields, source=self.path, index=index)


def prompt_of(api: Api, text: str) -> str:
    """P(x): the paper's few-shot prompt for ``api`` ending in ``Output:``."""
    return render(__file__, api.template, text=text)


def applies(api: Api, row: dict[str, Any], text_filters: bool = True) -> bool:
    """Calendar needs the text's date; with ``text_filters``, the Calculator a text that
    passes the paper's heuristic and MT a non-English span (the paper's text filters)."""
    if api.name == "Calendar":
        return row.get("date") is not None
    if not text_filters:
        return True
    if api.name == "Calculator":
        return calculator_worthy(row["text"])
    return api.name != "MT" or foreign_span(row["text"]) is not None


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
    apis: list[ApiName] = Field(["Calculator"], min_length=1)
    top_k: int | None = Field(None, ge=1, description="the paper's k; None: the API's")
    threshold: float | None = Field(None, ge=0, lt=1, description="τ_s; None: the API's")
    text_filters: bool = Field(True, description="the paper's Calculator and MT text filters")
    top_logprobs: int = Field(20, ge=1, le=20)
    max_text_tokens: int = Field(512, ge=8)


@register("toolformer.positions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Positions(MapStep):
    """Toolformer (a): per API, the positions where the model most expects a call.

    Output columns: ``toolformer_positions`` (per API that applies to the text: ``api``,
    ``offset`` in the text, the ``token`` there, the call-start ``probability`` and its
    likeliest ``start``, "[" or " [")."""

    Params = PositionsParams
    reads = ("text", "date")
    writes = ("toolformer_positions",)
    uses_llm = True

    def request(self, api: Api, text: str) -> ChatRequest:
        p = self.params
        return ChatRequest(prompt=prompt_of(api, text), temperature=0,
                           max_tokens=p.max_text_tokens, grammar=forced_grammar(" " + text),
                           logprobs=True, top_logprobs=p.top_logprobs)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        text, p = row["text"], self.params
        apis = [APIS[n] for n in dict.fromkeys(p.apis) if applies(APIS[n], row, p.text_filters)]
        requests = [self.request(api, text) for api in apis]
        completions = await asyncio.gather(*(ctx.require_llm().complete(r) for r in requests))
        positions = []
        for api, completion in zip(apis, completions, strict=True):
            tokens = spelt(completion, " " + text)
            offsets = token_offsets([t.token for t in tokens])
            candidates = [
                {"offset": offset - 1, "token": token.token,
                 "starts": {e["token"]: float(e["logprob"]) for e in token.top_logprobs
                            if e["token"] in CALL_STARTS}}
                for token, offset in zip(tokens, offsets, strict=True) if offset > 1
            ]  # fmt: skip
            threshold = api.threshold if p.threshold is None else p.threshold
            chosen = select_positions(candidates, threshold, p.top_k or api.top_k)
            positions += [{"api": api.name, **position} for position in chosen]
        return [self.derived(row, {"toolformer_positions": positions}, ctx, requests)]

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


class CallsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int | None = Field(None, ge=1, le=64, description="m per position; None: the API's")
    temperature: float = Field(1.0, ge=0, le=2)
    max_call_tokens: int = Field(40, ge=4)
    corpus: str | None = Field(None, description="WikiSearch's texts (text, title); None: shipped")
    snippets: int = Field(1, ge=1, description="WikiSearch: passages in a result")
    max_words: int = Field(50, ge=5, description="WikiSearch: words kept of each passage")


@register("toolformer.calls", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Calls(MapStep):
    """Toolformer (b, c): m calls sampled at each position, each run by its API's executor.

    Output columns: ``toolformer_calls`` (per distinct call: ``api``, ``offset``,
    ``probability``, ``start``, ``argument``, the executor's ``query``, the paper's
    ``result`` text (and the calculator's ``return``, WikiSearch's ``hits``), or the
    ``error``), ``toolformer_discarded`` (samples that did not close the call or have an
    empty input, and MT calls that look ahead), ``tool_impl`` and ``toolformer_corpus``
    (for the evidence).
    """

    Params = CallsParams
    reads = ("text", "date", "toolformer_positions")
    writes = ("toolformer_calls", "toolformer_discarded", "tool_impl", "toolformer_corpus")
    uses_llm = True
    seed_data: ClassVar[dict[str, str]] = {"corpus": WIKI_CORPUS}

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.calculator = load_tools([CALCULATE])[0]
        if self.params.corpus is not None and not Path(self.params.corpus).is_file():
            raise InputError(self.params.corpus, "no such corpus file", field="corpus")

    @property
    def corpus(self) -> dict[str, Any]:
        p = self.params
        path = p.corpus or builtin_data(WIKI_CORPUS)
        return {"path": path, "sha256": file_digest(path), "snippets": p.snippets,
                "max_words": p.max_words}  # fmt: skip

    def request(self, api: Api, text: str, position: dict[str, Any], seed: int) -> ChatRequest:
        p, prefix = self.params, (" " + text)[: position["offset"] + 1]
        prompt = f"{prompt_of(api, text)}{prefix}{position['start']}{api.name}("
        return ChatRequest(prompt=prompt, n=p.samples or api.samples, temperature=p.temperature,
                           max_tokens=p.max_call_tokens, stop=("\n",), seed=seed)  # fmt: skip

    async def sampled_calls(
        self, row: dict[str, Any], ctx: StepContext
    ) -> tuple[list[dict[str, Any]], int, list[ChatRequest]]:
        """Step (b): the distinct closed calls per position, the samples discarded, the
        requests sent."""
        text, llm, row_id = row["text"], ctx.require_llm(), row[META]["id"]
        sampling = [at for at in row["toolformer_positions"] if APIS[at["api"]].takes_input]
        requests = [
            self.request(APIS[at["api"]], text, at, ctx.seed(row_id, at["api"], at["offset"]))
            for at in sampling
        ]
        sampled = await asyncio.gather(*(sample(llm, request) for request in requests))
        calls, discarded, sent = [], 0, []
        for position, (choices, parts) in zip(sampling, sampled, strict=True):
            sent += parts
            arguments = [parse_call(choice.text) for choice in choices]
            discarded += arguments.count(None)
            for argument in dict.fromkeys(a for a in arguments if a is not None):
                query = query_of(argument)
                if not query or (
                    position["api"] == "MT" and looks_ahead(text, position["offset"], query)
                ):
                    discarded += 1
                    continue
                calls.append({**position, "argument": argument, "query": query})
        calls += [{**at, "argument": "", "query": ""} for at in row["toolformer_positions"]
                  if not APIS[at["api"]].takes_input]  # fmt: skip
        return sorted(calls, key=lambda c: c["offset"]), discarded, sent

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        calls, discarded, sent = await self.sampled_calls(row, ctx)
        by_executor: dict[str, list[dict[str, Any]]] = {}
        for call in calls:
            by_executor.setdefault(APIS[call["api"]].executor, []).append(call)
        impl = {CALCULATE: self.calculator.implementation()}
        await self.calculate(by_executor.get("sandbox", []), impl, ctx)
        asked = await self.ask(by_executor.get("model", []), ctx)
        corpus = self.corpus if "bm25" in by_executor else None
        for call in by_executor.get("bm25", []):
            found = wiki_search(corpus["path"], call["query"], corpus["snippets"],
                                corpus["max_words"])  # fmt: skip
            call.update({k: found[k] for k in ("result", "hits", "error") if k in found})
        for call in by_executor.get("date", []):
            call["result"] = calendar_sentence(row["date"])
        fields = {"toolformer_calls": calls, "toolformer_discarded": discarded,
                  "tool_impl": impl, "toolformer_corpus": corpus}  # fmt: skip
        return [self.derived(row, fields, ctx, sent + asked)]

    @staticmethod
    async def calculate(
        calls: list[dict[str, Any]], impl: dict[str, Any], ctx: StepContext
    ) -> None:
        """The Calculator's calls run in the sandbox: ``return`` and ``result``, or ``error``."""
        tool_calls = [{"name": CALCULATE, "arguments": {"expression": c["query"]}} for c in calls]
        outcomes, _ = await run_calls(ctx.sandbox, tool_calls, impl)
        for call, outcome in zip(calls, outcomes, strict=True):
            if "return" in outcome:
                call.update(
                    {"return": outcome["return"], "result": round_result(outcome["return"])}
                )
            else:
                call["error"] = outcome["error"]

    @staticmethod
    async def ask(calls: list[dict[str, Any]], ctx: StepContext) -> list[ChatRequest]:
        """QA and MT calls answered by the backend; the requests sent."""
        asked = [model_request(APIS[c["api"]], c["query"]) for c in calls]
        answers = await asyncio.gather(*(ctx.require_llm().complete(r) for r in asked))
        for call, answer in zip(calls, answers, strict=True):
            result = model_result(answer.choices[0].text if answer.choices else "")
            call.update({"result": result} if result else {"error": "the backend gave no answer"})
        return asked

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


def insert_calls(text: str, calls: list[dict[str, Any]]) -> str:
    """x*: each call e(c, r) of its ``api`` inserted at its offset (after the space its start
    carries)."""
    for call in sorted(calls, key=lambda c: -c["offset"]):
        space, at = call["start"][:-1], call["offset"]
        made = APIS[call["api"]].call(call["argument"], call["result"])
        text = f"{text[:at]}{space}{made}{text[at:]}"
    return text


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float | None = Field(None, description="the paper's τ_f; None: the API's")
    decay: float = Field(0.2, gt=0, le=1, description="w̃_t = max(0, 1 - decay·t)")


@register("toolformer.filter", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Filter(MapStep):
    """Toolformer (d): keep a call iff L⁻ - L⁺ ≥ τ_f; the text with the kept calls inserted.

    Output columns: ``toolformer_candidates`` (each executed call with ``loss_plus``,
    ``loss_none``, ``loss_no_result``, ``loss_minus``, ``gain`` = L⁻ - L⁺, its API's
    ``threshold`` and ``kept``), ``toolformer_kept`` (the calls inserted, one per position,
    of any API), ``augmented_text`` (x*), and ``verification`` (``toolformer`` evidence of the
    inserted calls) when any call stays.
    """

    Params = FilterParams
    reads = ("text", "date", "toolformer_calls", "tool_impl", "toolformer_corpus")
    writes = ("toolformer_candidates", "toolformer_kept", "augmented_text", "verification")
    uses_llm = True
    DROPS = ("tool_impl", "toolformer_corpus")

    def loss_request(self, prefix: str, continuation: str) -> ChatRequest:
        """x_{i:} forced after ``prefix``, as far as the weights reach."""
        return ChatRequest(prompt=prefix, temperature=0,
                           max_tokens=len(loss_weights(self.params.decay)),
                           grammar=forced_grammar(continuation), logprobs=True)  # fmt: skip

    def requests(self, text: str, calls: list[dict[str, Any]]) -> dict[tuple, ChatRequest]:
        """The loss requests: L_i(ε) per position, L_i(e(c, r)) and L_i(e(c, ε)) per call."""
        requests = {}
        for call in calls:
            at, api, argument = call["offset"], APIS[call["api"]], call["argument"]
            before, after = text[:at], text[at:]
            requests[("none", at)] = self.loss_request(before, after)
            for kind, result in (("plus", call["result"]), ("no_result", None)):
                prefix = f"{api.call(argument, result)} {before}"
                requests[(kind, at, api.name, argument)] = self.loss_request(prefix, after)
        return requests

    def threshold(self, api: str) -> float:
        return (
            APIS[api].filter_threshold if self.params.threshold is None else self.params.threshold
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        text, p = row["text"], self.params
        executed = [c for c in row["toolformer_calls"] if "result" in c]
        requests = self.requests(text, executed)
        llm = ctx.require_llm()
        replies = await asyncio.gather(*(llm.complete(r) for r in requests.values()))
        losses = {
            key: round(weighted_loss(begun(reply, text[key[1] :]), p.decay), 6)
            for key, reply in zip(requests, replies, strict=True)
        }
        candidates = []
        for call in executed:
            key, tau = (call["offset"], call["api"], call["argument"]), self.threshold(call["api"])
            plus, none = losses[("plus", *key)], losses[("none", call["offset"])]
            bare = losses[("no_result", *key)]
            candidates.append({**call, "loss_plus": plus, "loss_none": none,
                               "loss_no_result": bare, "loss_minus": min(none, bare),
                               "gain": round(min(none, bare) - plus, 6), "threshold": tau,
                               "kept": keeps(plus, none, bare, tau)})  # fmt: skip
        best: dict[int, dict[str, Any]] = {}
        for c in candidates:
            if c["kept"] and (c["offset"] not in best or c["gain"] > best[c["offset"]]["gain"]):
                best[c["offset"]] = c
        kept = [best[offset] for offset in sorted(best)]
        fields: dict[str, Any] = {"toolformer_candidates": candidates, "toolformer_kept": kept,
                                  "augmented_text": insert_calls(text, kept)}  # fmt: skip
        if kept:
            fields["verification"] = evidence(kept, row)
        record = self.derived(row, fields, ctx, list(requests.values()))
        return [{k: v for k, v in record.items() if k not in self.DROPS}]

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - set(self.DROPS)

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"candidates": len(row["toolformer_candidates"]),
                "kept_calls": len(row["toolformer_kept"]),
                "texts_with_calls": int(bool(row["toolformer_kept"]))}  # fmt: skip


EVIDENCE_KEYS = ("api", "argument", "query", "result", "return", "hits", "loss_plus",
                 "loss_none", "loss_no_result", "gain", "threshold")  # fmt: skip


def evidence(kept: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """``toolformer`` evidence ``synthaug verify`` re-checks: the inserted calls with their
    losses and results, the calculator's code, the text's date, the search corpus; the
    model-backed APIs' results are ``stored`` (taken as they are)."""
    calls = [{k: c[k] for k in EVIDENCE_KEYS if k in c} for c in kept]
    stored = sorted({c["api"] for c in kept if APIS[c["api"]].executor == "model"})
    corpus = row.get("toolformer_corpus")
    return verdict("toolformer", True, calls=calls, implementations=row["tool_impl"],
                   date=row.get("date"), corpus=corpus, stored=stored)  # fmt: skip
