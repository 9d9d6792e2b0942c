"""Tool calls and results as OpenAI chat messages, and back.

An assistant turn that calls tools carries ``tool_calls`` (each with an ``id`` and its
arguments as a JSON string, the OpenAI wire form); each result is a ``tool`` message
answering one ``tool_call_id`` with the result as JSON text.
"""

from __future__ import annotations

import json
from typing import Any


def call_turns(
    calls: list[dict[str, Any]], results: list[Any], first_id: int = 1, content: str = ""
) -> list[dict[str, Any]]:
    """The assistant turn calling ``calls`` (``{"name", "arguments": {...}}``) and one ``tool``
    message per result; call ids are ``call_<n>`` counted from ``first_id``."""
    ids = [f"call_{n}" for n in range(first_id, first_id + len(calls))]
    assistant = {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": i, "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for i, c in zip(ids, calls, strict=True)
        ],
    }  # fmt: skip
    answers = [
        {"role": "tool", "tool_call_id": i, "name": c["name"], "content": json.dumps(r)}
        for i, c, r in zip(ids, calls, results, strict=True)
    ]
    return [assistant, *answers]


def calls_in(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every call of a conversation (``{"name", "arguments": {...}}``, in order) and the result
    its ``tool`` message holds."""
    calls, by_id = [], {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            calls.append((call["id"], {"name": function["name"],
                                       "arguments": json.loads(function["arguments"])}))  # fmt: skip
        if message["role"] == "tool":
            by_id[message["tool_call_id"]] = json.loads(message["content"])
    return [call for _, call in calls], [by_id[i] for i, _ in calls]
