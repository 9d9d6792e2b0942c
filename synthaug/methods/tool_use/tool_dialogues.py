"""Multi-turn tool-use dialogues after APIGen-MT (Prabhakar et al., 2025, arXiv 2504.03601).

APIGen-MT works in two phases. Phase 1 writes a task *blueprint*: a user instruction and
the ground-truth actions (API calls) that fulfil it, kept only when the calls pass format
and execution checks (APIGen's) and an LLM review. Phase 2 turns a blueprint into a
trajectory by simulated human-agent interplay: an LLM plays the user, who knows the
instruction and reveals it turn by turn, talking to the assistant agent, which answers in
text or with tool calls that run in the environment and whose results come back to it; the
user ends the conversation with ``###STOP###`` (τ-bench's user simulator, which APIGen-MT
uses) or the episode ends after 30 agent steps (τ-bench's ``max_num_steps``). A trajectory
is kept only when the agent's actions reach the blueprint's outcome.

Here phase 1 is the APIGen steps (``apigen.sample`` for 1-3 calls over sampled tools,
``apigen.generate``, ``apigen.format_check``, ``apigen.execution_check``: a query and its
executed ground-truth calls), phase 2 is ``tool_dialogues.dialogue``, and
``tool_dialogues.check`` keeps a dialogue whose calls obtained every ground-truth result
and, optionally, that a judge (any backend) says fulfils the goal. Every assistant action
is one JSON object ``{"tool_calls": [...], "content": "..."}`` decoded under a schema
(calls constrained as APIGen's ``constrain``): calls when the list is not empty (the
content is then dropped), else a text answer. Every call is parsed, format-checked and run in the sandbox when it is made;
a malformed call (``malformed_call``), a call that fails the format check (``format``) or
raises (``execution``) ends the row as an error row with its reason (the assistant is not
given the error to retry). The record holds OpenAI-format ``messages`` (user turns,
assistant ``tool_calls`` with ids and JSON-string arguments, ``tool`` messages, assistant
answers), ``tools`` and a ``tool_calls`` verdict over every call in the messages, which
``synthaug verify`` re-checks and re-runs.

Differences from the paper: the blueprint has no policy, database state or expected text
outputs, and its review is APIGen's checks, not a committee of reviewers with a feedback
loop; the tools are stateless functions, so "the final state matches" becomes "every
ground-truth result was obtained by some call in the dialogue"; one dialogue per blueprint
(the paper retries failed trajectories); the assistant's calls and answers are decoded as
JSON, not through a backend's native function calling (the llm layer has none); a step
budget that runs out mid-turn drops the unanswered turn (kept: the dialogue up to the last
answer). The prompts are this module's (written from the paper's description and τ-bench's
user-simulator rules, from memory).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.client import LLMClient
from ...llm.types import ChatRequest, Completion, chat, json_object, object_schema
from ...records import META, derive
from ...tools.execute import format_problems, run_calls
from ...tools.host import Translator
from ...verify.evidence import verdict
from ..registry import register
from ..templates import render
from .apigen import call_schema, parse_calls
from .openai_messages import call_turns, calls_in

PAPER = (
    "Prabhakar et al., 2025, APIGen-MT: Agentic Pipeline for Multi-Turn Data Generation via "
    "Simulated Agent-Human Interplay (arXiv 2504.03601)"
)
TAXONOMY = "synthesis / tool use (multi-turn, simulated user, execution-verified)"
STAGE = "instruction tuning (tool use)"
STOP = "###STOP###"  # τ-bench's user simulator ends the conversation with it
MAX_STEPS = 30  # τ-bench's max_num_steps: agent actions (a call turn or an answer) per episode


def action_schema(
    tools: list[dict[str, Any]], constrain: str, max_calls: int, max_chars: int
) -> dict[str, Any]:
    """An assistant action: calls (``tool_calls`` not empty) or a text answer (``content``)."""
    calls = {"type": "array", "items": call_schema(tools, constrain), "maxItems": max_calls}
    content = {"type": "string", "minLength": 0 if max_calls else 1, "maxLength": max_chars}
    return object_schema({"tool_calls": calls, "content": content})


def user_turn(text: str) -> str | None:
    """The simulated user's message without a speaker label; None when it ends the chat."""
    text = text.strip()
    for label in ("User:", "user:", "USER:"):
        text = text.removeprefix(label).strip()
    if STOP in text or not text:
        return None
    return text


def answered_prefix(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to its last assistant text answer (an unanswered turn dropped)."""
    ends = [
        i for i, m in enumerate(messages) if m["role"] == "assistant" and not m.get("tool_calls")
    ]
    return messages[: ends[-1] + 1] if ends else []


def transcript(messages: list[dict[str, Any]], with_tools: bool) -> list[dict[str, str]]:
    """``{"speaker", "text"}`` lines for a prompt; the user's view (``with_tools`` False) has
    the user's and the assistant's words only."""
    lines = []
    for m in messages:
        if m["role"] == "user":
            lines.append({"speaker": "User", "text": m["content"]})
        elif m["role"] == "tool":
            if with_tools:
                lines.append({"speaker": f"Result of {m['name']}", "text": m["content"]})
        elif m.get("tool_calls"):
            if with_tools:
                called = [f"{c['function']['name']}({c['function']['arguments']})"
                          for c in m["tool_calls"]]  # fmt: skip
                lines.append({"speaker": "Assistant calls", "text": "; ".join(called)})
        else:
            lines.append({"speaker": "Assistant", "text": m["content"]})
    return lines


class DialogueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_backend: str | None = None  # a name in the recipe's backends; None: the default
    max_steps: int = Field(MAX_STEPS, ge=1, description="assistant actions per dialogue")
    max_calls: int = Field(3, ge=1, description="calls in one assistant action")
    max_call_steps: int | None = Field(
        None,
        ge=1,
        description="call actions per user turn before decoding allows only an "
        "answer (None: no limit, as τ-bench)",
    )
    constrain: Literal["shape", "names", "arguments"] = "shape"
    temperature: float = Field(0.0, ge=0, le=2)  # τ-bench's agent default
    max_tokens: int = Field(256, ge=32)
    max_answer_chars: int = Field(600, ge=20)
    user_temperature: float = Field(1.0, ge=0, le=2)  # τ-bench sends none: 1.0
    user_max_tokens: int = Field(128, ge=16)


@register("tool_dialogues.dialogue", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Dialogue(MapStep):
    """APIGen-MT phase 2: a simulated user with a goal talks to a tool-calling assistant.

    Every call is parsed, format-checked and run in the sandbox as it is made."""

    Params = DialogueParams
    reads = ("query", "tools", "tool_impl")
    writes = ("messages", "dialogue_end", "dialogue_steps", "dialogue_execution")
    uses_llm = True
    backend_params = ("user_backend",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        assistant, user = ctx.require_llm(), ctx.require_llm(p.user_backend)
        messages: list[dict[str, Any]] = []
        keys: list[str] = []
        runs: list[dict[str, Any]] = []
        steps, end = 0, "max_steps"
        while steps < p.max_steps:
            request = self._user_request(row["query"], messages, ctx.seed(row_id, "user", steps))
            text = user_turn((await _complete(user, request, keys)).text)
            if text is None:
                if not messages:
                    raise RowError("empty_turn", "the simulated user ended before a first turn")
                end = "user_stop"
                break
            messages.append({"role": "user", "content": text})
            for turn_step in range(p.max_steps - steps):
                steps += 1
                answer_only = p.max_call_steps is not None and turn_step >= p.max_call_steps
                seed = ctx.seed(row_id, "agent", steps)
                request = self._assistant_request(row, messages, seed, answer_only)
                calls, action = _action(await _complete(assistant, request, keys), row, steps)
                if not calls:
                    messages.append({"role": "assistant", "content": _answer(action, steps)})
                    break
                host = Translator(assistant, seed=seed)  # a translate call: the model
                results, ran = await run_calls(ctx.sandbox, calls, row["tool_impl"], host)
                runs += ran
                failed = [f"step {steps} call {i} {c['name']}: {r['error']}"
                          for i, (c, r) in enumerate(zip(calls, results, strict=True), 1)
                          if "error" in r]  # fmt: skip
                if failed:
                    raise RowError("execution", "; ".join(failed)[:500])
                first = 1 + sum(len(m.get("tool_calls") or []) for m in messages)
                messages += call_turns(calls, [r["return"] for r in results], first)
        kept = answered_prefix(messages)
        if not kept:
            raise RowError("no_answer", f"no assistant answer within {p.max_steps} steps")
        fields = {"messages": kept, "dialogue_end": end, "dialogue_steps": steps,
                  "dialogue_execution": runs}  # fmt: skip
        return [derive(row, fields, step=self.name, method=self.method,
                       model=assistant.backend.describe(), user_model=user.backend.describe(),
                       request=keys, seed=ctx.seed(row_id))]  # fmt: skip

    def _user_request(self, goal: str, messages: list[dict[str, Any]], seed: int) -> ChatRequest:
        prompt = render(__file__, "tool_dialogues_user.j2", goal=goal, stop=STOP,
                        lines=transcript(messages, with_tools=False))  # fmt: skip
        return chat(("user", prompt), temperature=self.params.user_temperature,
                    max_tokens=self.params.user_max_tokens, seed=seed,
                    stop=("\nAssistant:", "\nUser:"))  # fmt: skip

    def _assistant_request(
        self, row: dict[str, Any], messages: list[dict[str, Any]], seed: int, answer_only: bool
    ) -> ChatRequest:
        p = self.params
        prompt = render(
            __file__, "tool_dialogues_assistant.j2",
            tools_json=json.dumps([t["function"] for t in row["tools"]], indent=1),
            lines=transcript(messages, with_tools=True),
        )  # fmt: skip
        calls = 0 if answer_only else p.max_calls
        schema = action_schema(row["tools"], p.constrain, calls, p.max_answer_chars)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip


async def _complete(llm: LLMClient, request: ChatRequest, keys: list[str]) -> Completion:
    keys.append(llm.key(request))
    return await llm.complete(request)


def _action(
    completion: Completion, row: dict[str, Any], step: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The action's calls, parsed and format-checked (a row error names the step), and the
    action itself."""
    action = json_object(completion.text)
    if not action:
        cut = " (cut off at max_tokens)" if completion.choices[0].finish_reason == "length" else ""
        raise RowError("malformed_output", f"step {step}: the assistant's reply is not a JSON "
                       f"object{cut}: {completion.text[:160]!r}")  # fmt: skip
    try:
        calls = parse_calls(action.get("tool_calls", []))
    except RowError as error:
        raise RowError(error.kind, f"step {step}: {error}") from None
    found = format_problems(calls, row["tools"])
    if found:
        raise RowError("format", f"step {step}: " + "; ".join(found)[:480])
    return calls, action


def _answer(action: dict[str, Any], step: int) -> str:
    content = action.get("content")
    if not isinstance(content, str) or not content.strip():
        raise RowError("empty_turn", f"step {step}: the assistant neither called nor answered")
    return content.strip()


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review: bool = False  # also ask a judge whether the dialogue fulfils the goal
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=16)


@register("tool_dialogues.check", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Check(MapStep):
    """APIGen-MT's filter: keeps a dialogue that obtained every ground-truth result.

    With ``review``, a judge (any backend) must also say it fulfils the goal; writes the
    ``tool_calls`` verdict over every call of the dialogue."""

    Params = CheckParams
    reads = ("query", "tools", "tool_calls", "tool_results", "tool_impl", "messages")
    writes = ("goal", "verification", "semantic")
    uses_llm = True
    backend_params = ("judge",)
    dropped = ("tool_impl", "execution", "dialogue_execution", "tool_calls", "tool_results",
               "query")  # fmt: skip

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - set(self.dropped)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        calls, results = calls_in(row["messages"])
        missing = missing_results(row["tool_calls"], row["tool_results"], calls, results)
        if missing:
            raise RowError("goal", "ground-truth results not obtained: " + "; ".join(missing)[:460])
        semantic: dict[str, Any] = {"passes": True, "goal": "every ground-truth result obtained"}
        requests = []
        if self.params.review:
            llm = ctx.require_llm(self.params.judge)
            requests = [self._review_request(row, ctx.seed(row[META]["id"]))]
            reply = json_object((await llm.complete(requests[0])).text)
            if reply.get("passes") not in ("yes", "no"):
                raise RowError("malformed_judgement", f"no yes/no verdict: {reply!r}"[:300])
            if reply["passes"] != "yes":
                raise RowError("semantic", f"the judge says no: {reply.get('thought', '')}"[:500])
            semantic |= {"thought": str(reply.get("thought", "")), "judge": llm.backend.describe()}
        goal = {"query": row["query"], "calls": row["tool_calls"], "results": row["tool_results"]}
        called = dict.fromkeys(call["name"] for call in calls)
        evidence = verdict(
            "tool_calls", True, tools=row["tools"], calls=calls,
            results=[{"return": r} for r in results],
            implementations={name: row["tool_impl"][name] for name in called},
            format_problems=[], execution=row.get("dialogue_execution", []), semantic=semantic,
        )  # fmt: skip
        fields = {"goal": goal, "verification": evidence, "semantic": semantic}
        kept = {k: v for k, v in row.items() if k not in self.dropped}
        if requests:
            return [self.derived(kept, fields, ctx, requests, llm=llm)]
        return [derive(kept, fields, step=self.name, method=self.method)]

    def _review_request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        prompt = render(__file__, "tool_dialogues_review.j2", goal=row["query"],
                        lines=transcript(row["messages"], with_tools=True))  # fmt: skip
        schema = object_schema({"thought": {"type": "string", "maxLength": 300},
                                "passes": {"enum": ["yes", "no"]}})  # fmt: skip
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, json_schema=schema, seed=seed)  # fmt: skip

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        users = sum(m["role"] == "user" for m in row["messages"])
        return {"user_turns": users, "calls": len(row["verification"]["calls"])}


def missing_results(
    goal_calls: list[dict[str, Any]], goal_results: list[Any],
    calls: list[dict[str, Any]], results: list[Any],
) -> list[str]:  # fmt: skip
    """The ground-truth calls whose result no call of the same function in the dialogue
    returned (stateless tools: the stand-in for APIGen-MT's final-state comparison)."""
    obtained = [
        (c["name"], json.dumps(r, sort_keys=True)) for c, r in zip(calls, results, strict=True)
    ]
    return [
        f"{c['name']}({json.dumps(c['arguments'])}) -> {json.dumps(r)}"
        for c, r in zip(goal_calls, goal_results, strict=True)
        if (c["name"], json.dumps(r, sort_keys=True)) not in obtained
    ]
