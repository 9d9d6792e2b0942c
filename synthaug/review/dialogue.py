"""Dialgen-style co-writing of dialogues (Lu et al., 2023, arXiv 2307.07047): the LLM proposes
the next few turns of a dialogue for a scenario, a human edits or accepts them, the LLM goes
on from the edited history, and "finish" stores the dialogue as ``messages``.

Requests go through :class:`~synthaug.llm.client.LLMClient` (so through the request cache),
on an event loop in a background thread, since the web server is threaded. The embedded
SmolLM2-135M writes short, generic turns and often forgets the speaker tags; a line without
one continues the previous turn, a reply with none becomes one turn of the next speaker.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from ..llm.client import LLMClient
from ..llm.types import chat

SPEAKERS = {"user": "User", "assistant": "Assistant"}
_TAG = re.compile(r"^\s*\**\s*(user|assistant)\s*\**\s*:\s*", re.IGNORECASE)


def dialogue_prompt(scenario: str, history: list[dict[str, str]], turns: int) -> str:
    """The instruction for the next ``turns`` turns of the dialogue for ``scenario``."""
    shown = "\n".join(f"{SPEAKERS[m['role']]}: {m['content']}" for m in history) or "(no turns yet)"
    return (
        f"Scenario: {scenario}\n\nDialogue so far:\n{shown}\n\n"
        f"Write the next {turns} turns of this dialogue between a user and an assistant. "
        "Start each turn on a new line with 'User:' or 'Assistant:'."
    )


def parse_turns(text: str, history: list[dict[str, str]]) -> list[dict[str, str]]:
    """``User: ...`` / ``Assistant: ...`` lines as messages (see the module docstring)."""
    turns: list[dict[str, str]] = []
    for line in text.strip().splitlines():
        match = _TAG.match(line)
        if match:
            turns.append({"role": match.group(1).lower(), "content": line[match.end() :].strip()})
        elif turns:
            turns[-1]["content"] = f"{turns[-1]['content']}\n{line}".strip()
        elif line.strip():
            turns.append({"role": next_role(history), "content": line.strip()})
    return [t for t in turns if t["content"]]


def next_role(history: list[dict[str, str]]) -> str:
    """The speaker after ``history``: the user opens, then they alternate."""
    return "assistant" if history and history[-1]["role"] == "user" else "user"


def valid_history(value: Any) -> list[dict[str, str]] | None:
    """``value`` when it is a list of {role: user|assistant, content: str}; else None."""
    if not isinstance(value, list):
        return None
    for message in value:
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in SPEAKERS
            or not isinstance(message["content"], str)
        ):
            return None
    return value


class DialogueWriter:
    """Proposes turns with ``client`` from any thread; ``close`` stops its event loop."""

    def __init__(self, client: LLMClient, turns: int = 2, max_tokens: int = 96, seed: int = 0):
        self.client, self.turns, self.max_tokens, self.seed = client, turns, max_tokens, seed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def propose(
        self, scenario: str, history: list[dict[str, str]], timeout: float = 300
    ) -> list[dict[str, str]]:
        """The next turns after ``history`` (the same history gives the cached answer)."""
        request = chat(
            ("user", dialogue_prompt(scenario, history, self.turns)),
            temperature=0.7,
            max_tokens=self.max_tokens,
            seed=self.seed + len(history),
        )
        future = asyncio.run_coroutine_threadsafe(self.client.complete(request), self._loop)
        return parse_turns(future.result(timeout).text, history)

    def close(self, close_client: bool = True) -> None:
        if close_client:
            asyncio.run_coroutine_threadsafe(self.client.close(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
