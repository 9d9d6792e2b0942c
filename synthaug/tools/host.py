"""Host tools: tools that need what the sandbox cannot hold, here the model itself, so they
run in synthaug's own process through a synthaug backend (the ``llm`` layer: its request
cache makes a re-run or a resumed run repeat no model call), never in the sandbox and never
with code from a tool file.

The one host tool is ``translate`` (the issue's "the model itself as a translator", as
Toolformer's machine-translation API, which was a separate model, NLLB): a
:class:`Translator` asks the backend for the translation at temperature 0. A host tool
(``Tool.host``) stores ``{"host": NAME, "origin": ...}`` as its implementation; each call's
result and the model that gave it are recorded, and ``synthaug verify`` takes that stored
result as it is (as it takes an APIGen judge's verdict): it re-checks the call's format,
not the model's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..llm.types import ChatRequest, Completion, chat
from .registry import Tool
from .schema import problems

TRANSLATE = Tool(
    name="translate",
    description="Translate a text into another language.",
    parameters={
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "the text to translate"},
            "target_language": {"type": "string", "description": 'e.g. "French"'},
            "source_language": {
                "type": "string",
                "description": "the text's language; leave out to let the translator tell",
            },
        },
        "required": ["text", "target_language"],
    },
    code="",
    origin="host:translate (the model, through a synthaug backend)",
    host=True,
)
HOST_TOOLS = {TRANSLATE.name: TRANSLATE}
MAX_TEXT = 2000
# (tool name, arguments) -> (outcome, evidence of the call)
HostRunner = Callable[[str, dict[str, Any]], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]


class Completer(Protocol):
    async def complete(self, request: ChatRequest) -> Completion: ...


def is_host(implementation: dict[str, Any]) -> bool:
    return "host" in implementation


class Translator:
    """Runs ``translate`` calls with a backend: one request each, temperature 0."""

    def __init__(self, llm: Completer, max_tokens: int = 512, seed: int = 0):
        self.llm, self.max_tokens, self.seed = llm, max_tokens, seed

    def request(self, arguments: dict[str, Any]) -> ChatRequest:
        source = arguments.get("source_language")
        origin = f" from {source}" if source else ""
        system = (
            f"You are a translator. Translate the user's text{origin} into "
            f"{arguments['target_language']}. Reply with the translation only."
        )
        return chat(("system", system), ("user", arguments["text"]), temperature=0.0,
                    max_tokens=self.max_tokens, seed=self.seed)  # fmt: skip

    async def __call__(self, name: str, arguments: dict[str, Any]) -> tuple[dict, dict]:
        """(outcome, evidence) of one call: ``{"return": {"translation"}}`` or an error."""
        if name != TRANSLATE.name:
            return {"error": f"LookupError: no host tool {name!r}"}, {"tool": name}
        found = problems(arguments, TRANSLATE.parameters)
        if found:  # a call that skipped the format check
            return {"error": f"TypeError: {found[0]}"[:300]}, {"tool": name}
        if len(arguments["text"]) > MAX_TEXT:
            return {"error": f"ValueError: text longer than {MAX_TEXT} characters"}, {"tool": name}
        completion = await self.llm.complete(self.request(arguments))
        text = completion.text.strip()
        evidence = {"tool": name, "status": "ok" if text else "error", "model": completion.model,
                    "isolation": "host: a model call, not sandboxed"}  # fmt: skip
        if not text:
            return {"error": "ValueError: the translator returned nothing"}, evidence
        return {"return": {"translation": text}}, evidence
