"""Baize self-chat (Xu et al., 2023, arXiv 2304.01196).

One model plays both sides of a dialogue about a seed question. The prompt asks
it to set aside earlier instructions and write a transcript in which a human and
an AI take turns on the topic, each line prefixed ``[Human]`` or ``[AI]``: the
human asks related follow-up questions and stops when it has none left, the AI
avoids asking questions, and the transcript opens with a fixed greeting
exchange. The paper's seeds are Quora, StackOverflow and MedQuAD questions (not
shipped here); the default seeds are the bundled Self-Instruct seed tasks'
instructions, or any file's column.

Post-processing follows the authors' script: split the reply on ``[Human]``,
drop the text before the first and the last (possibly unfinished) segment, keep
a turn only if it splits into exactly one human and one AI part, and stop at
the first malformed turn. The kept turns are written as ``[|Human|] …\\n[|AI|] …``
under a one-line header and end with an open ``[|Human|]`` (the ``input``
field), and as chat ``messages``. A reply with no kept turn is an error row.

As in the collect script, seeds are taken in order (duplicates once) and
collection stops once the prompt and completion tokens spent so far reach
``max_tokens`` (no budget by default); ``max_turns`` optionally caps the turns
kept. ``mode: turns`` (not in the paper, for models too small to keep the
format) sends the same prompt as raw text and writes one turn per call, stopping
at the next speaker, for up to ``max_turns`` turns; an empty human turn ends
the chat. Its transcript goes through the same post-processing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import SourceStep, StepContext
from ...io import read_records
from ...llm.client import LLMClient, LLMError
from ...llm.types import ChatRequest, Completion, chat
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .self_instruct import load_seed_tasks

PAPER = "Xu et al., 2023, Baize (arXiv 2304.01196): self-chat"
TAXONOMY = "synthesis / general model distillation (self-chat dialogue)"
STAGE = "instruction tuning"
HUMAN, AI = "[Human]", "[AI]"
HEADER = "The conversation between human and AI assistant."
TURN_STOPS = (HUMAN, AI, "\nHuman:", "\nAI:")  # the next speaker, tagged or not
T = TypeVar("T")


def parse_transcript(text: str) -> list[tuple[str, str]]:
    """The well-formed (human, AI) turns of a self-chat reply, as the authors' preprocess keeps them."""
    turns = []
    for segment in text.split(HUMAN)[1:-1]:
        parts = segment.split(AI)
        if len(parts) != 2:
            break
        turns.append((parts[0].strip(), parts[1].strip()))
    return turns


def format_input(turns: list[tuple[str, str]]) -> str:
    """``[|Human|] …\\n[|AI|] …`` lines under the header, ending with an open ``[|Human|]``."""
    body = "".join(f"[|Human|] {human}\n[|AI|] {ai}\n" for human, ai in turns)
    return f"{HEADER}\n{body}[|Human|] "


def as_messages(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {"role": role, "content": content}
        for human, ai in turns
        for role, content in (("user", human), ("assistant", ai))
    ]


@dataclass
class Transcript:
    text: str
    requests: list[ChatRequest]
    tokens: int  # prompt + completion, over every call


class SelfChatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # default: the bundled seed tasks' instructions
    column: str = "instruction"
    max_tokens: int | None = Field(None, ge=1)  # the collect script's total-token budget
    max_turns: int | None = Field(None, ge=1)
    mode: Literal["transcript", "turns"] = "transcript"
    temperature: float = Field(1.0, ge=0, le=2)  # the paper: the API's default sampling
    top_p: float = Field(1.0, gt=0, le=1)
    chat_max_tokens: int = Field(4096, ge=16)  # one transcript; gpt-3.5-turbo's context
    turn_max_tokens: int = Field(256, ge=8)  # one turn, in turns mode
    requests_in_flight: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _turns_need_a_limit(self) -> SelfChatParams:
        if self.mode == "turns" and self.max_turns is None:
            raise ValueError("mode turns needs max_turns")
        return self


@register("baize.self_chat", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class SelfChat(SourceStep):
    """Baize self-chat: one model writes a whole human/AI transcript from a seed question."""

    Params = SelfChatParams
    writes = ("topic", "input", "messages", "turns")
    uses_llm = True

    def topics(self) -> list[str]:
        """Seed questions in order, each once."""
        p = self.params
        if p.path is None:
            texts = [str(task["instruction"]).strip() for task in load_seed_tasks(None)]
        else:
            texts = [str(r[p.column]).strip() for r in read_records(p.path, required=(p.column,))]
        return list(dict.fromkeys(t for t in texts if t))

    def expected_rows(self) -> int | None:
        return None if self.params.max_tokens else len(self.topics())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        topics, spent = self.topics(), 0

        def chats() -> Iterator[Awaitable[Transcript]]:
            for index, topic in enumerate(topics):
                if p.max_tokens is not None and spent >= p.max_tokens:
                    return
                yield self._chat(llm, topic, ctx.seed("chat", index))

        results = in_order(chats(), p.requests_in_flight or llm.backend.max_concurrency)
        async with contextlib.aclosing(results):
            async for index, result in results:
                if isinstance(result, LLMError):
                    yield self._failed(index, topics[index], result.kind, str(result))
                    continue
                spent += result.tokens
                yield self._record(ctx, index, topics[index], result)
                if p.max_tokens is not None and spent >= p.max_tokens:
                    break

    def _record(self, ctx, index: int, topic: str, transcript: Transcript) -> dict[str, Any]:
        turns = parse_transcript(transcript.text)[: self.params.max_turns]
        if not turns:
            message = f"no well-formed turn in {transcript.text[:120]!r}"
            return self._failed(index, topic, "malformed_transcript", message)
        fields = {
            "topic": topic,
            "input": format_input(turns),
            "messages": as_messages(turns),
            "turns": len(turns),
        }
        record = self.generated(fields, ctx, transcript.requests[-1], index)
        record[META]["request"] = [ctx.require_llm().key(r) for r in transcript.requests]
        return record

    def _failed(self, index: int, topic: str, kind: str, message: str) -> dict[str, Any]:
        return dropped(self, None, kind, message, (index, "error"), {"topic": topic})

    async def _chat(self, llm: LLMClient, topic: str, seed: int) -> Transcript:
        p = self.params
        prompt = render(__file__, "baize_self_chat.j2", topic=topic)
        sampling = {"temperature": p.temperature, "top_p": p.top_p, "seed": seed}
        if p.mode == "transcript":
            request = chat(("user", prompt), max_tokens=p.chat_max_tokens, **sampling)
            completion = await llm.complete(request)
            return Transcript(completion.text, [request], _tokens(completion))
        return await self._turn_by_turn(llm, prompt, sampling)

    async def _turn_by_turn(
        self, llm: LLMClient, prompt: str, sampling: dict[str, Any]
    ) -> Transcript:
        """One call per turn; ends at ``max_turns`` pairs or an empty turn."""
        text, requests, tokens = "", [], 0
        for _ in range(self.params.max_turns or 0):
            for speaker in (HUMAN, AI):
                request = ChatRequest(
                    prompt=f"{prompt}\n{text}{speaker}",
                    max_tokens=self.params.turn_max_tokens,
                    stop=TURN_STOPS,
                    **sampling,
                )
                completion = await llm.complete(request)
                requests.append(request)
                tokens += _tokens(completion)
                if not (said := completion.text.strip()):
                    return Transcript(text + HUMAN, requests, tokens)
                text += f"{speaker} {said}\n"
        return Transcript(text + HUMAN, requests, tokens)


def _tokens(completion: Completion) -> int:
    return completion.usage.prompt_tokens + completion.usage.completion_tokens


async def in_order(
    jobs: Iterator[Awaitable[T]], in_flight: int
) -> AsyncIterator[tuple[int, T | LLMError]]:
    """Run up to ``in_flight`` jobs at once; yield ``(index, result or LLMError)`` in order.

    ``jobs`` is pulled lazily, so it can stop once the consumer has seen enough;
    jobs already started finish (and land in the cache) when the consumer stops.
    """
    pending: deque[tuple[int, asyncio.Task[T]]] = deque()
    index = 0
    try:
        while True:
            while len(pending) < in_flight and (job := next(jobs, None)) is not None:
                pending.append((index, asyncio.ensure_future(job)))
                index += 1
            if not pending:
                return
            number, task = pending.popleft()
            try:
                result: T | LLMError = await task
            except LLMError as exc:
                result = exc
            yield number, result
    except GeneratorExit:  # the consumer stopped: let started jobs finish into the cache
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
        raise
    finally:
        for _, task in pending:  # failed or cancelled: leave nothing running
            task.cancel()
