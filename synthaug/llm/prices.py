"""What model calls cost: a built-in price snapshot, a user's price file, the price of a backend.

Prices are US dollars per million input (prompt) and output (completion) tokens. The built-in
table is a snapshot that goes stale; a price file (``--prices FILE``, YAML or JSON) adds or
replaces models::

    gpt-4o-mini: {input: 0.15, output: 0.60, batch_discount: 0.5}
    my-gateway-model: {input: 1.0, output: 2.0}

``batch_discount`` is the share of the list price a provider's batch API takes off for that
model; it replaces the backend's own ``price_factor`` when the backend is a batch API. A model
is found by its exact name (case-insensitive), or as a dated or numbered snapshot of a listed
name (``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``, ``gemini-1.5-pro-002``,
``mistral-large-2411``, ``...-latest``). A model not found has no price: its cost is unknown,
never guessed. A model that costs no money (``Backend.priced_model()`` is None: the embedded
local model, a GGUF file) costs 0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from .backend import Backend

# A snapshot of list prices (standard tier, short prompts; USD per 1M tokens), compiled
# 2025-08 from the providers' pricing pages: openai.com/api/pricing,
# docs.anthropic.com/en/docs/about-claude/pricing, ai.google.dev/gemini-api/docs/pricing
# (Gemini 1.5 for prompts up to 128k tokens, 2.5 Pro up to 200k), mistral.ai/pricing,
# api-docs.deepseek.com/quick_start/pricing, together.ai/pricing, fireworks.ai/pricing,
# groq.com/pricing. Prices change: override them with --prices FILE.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI (batch API: 50 % off)
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # Anthropic (message batches: 50 % off)
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    # Google Gemini API
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    # Mistral, DeepSeek
    "mistral-large": (2.00, 6.00),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
    # Llama 3.1 on common hosts, under the names their OpenAI-compatible endpoints take
    "meta-llama/meta-llama-3.1-70b-instruct-turbo": (0.88, 0.88),  # Together
    "meta-llama/meta-llama-3.1-8b-instruct-turbo": (0.18, 0.18),  # Together
    "accounts/fireworks/models/llama-v3p1-70b-instruct": (0.90, 0.90),  # Fireworks
    "accounts/fireworks/models/llama-v3p1-8b-instruct": (0.20, 0.20),  # Fireworks
    "llama-3.1-70b-versatile": (0.59, 0.79),  # Groq
    "llama-3.1-8b-instant": (0.05, 0.08),  # Groq
}

# what may follow a listed name in a snapshot's name: a date, a revision number, "latest"
SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest)$")


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; ``batch_discount``: the share of it a batch
    API takes off (None: the backend's own ``price_factor`` applies)."""

    input: float
    output: float
    batch_discount: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000

    def scaled(self, factor: float) -> Price:
        return replace(self, input=self.input * factor, output=self.output * factor)


FREE = Price(0.0, 0.0)


class PriceTable:
    """Prices by model name (see the module docstring for how a name is found)."""

    def __init__(self, prices: Mapping[str, Price]):
        self.prices = {name.lower(): price for name, price in prices.items()}

    @classmethod
    def default(cls) -> PriceTable:
        return cls({name: Price(i, o) for name, (i, o) in DEFAULT_PRICES.items()})

    def updated(self, prices: Mapping[str, Price]) -> PriceTable:
        """This table with ``prices`` added or replacing its entries."""
        return PriceTable({**self.prices, **prices})

    def lookup(self, model: str) -> Price | None:
        """The list price of ``model`` or of the model it is a snapshot of; None if unknown."""
        name = model.lower()
        while name not in self.prices:
            shorter = SNAPSHOT.sub("", name)
            if shorter == name:
                return None
            name = shorter
        return self.prices[name]

    def for_backend(self, backend: Backend) -> Price | None:
        """What tokens cost through ``backend``: FREE for a model that costs no money, None
        for a model without a price, else its price times what the backend pays of it."""
        model = backend.priced_model()
        if model is None:
            return FREE
        price = self.lookup(model)
        if price is None:
            return None
        factor = backend.price_factor
        if factor != 1.0 and price.batch_discount is not None:
            factor = 1.0 - price.batch_discount
        return price.scaled(factor)


def load_prices(path: Path | None) -> PriceTable:
    """The built-in table, updated from the price file at ``path`` (YAML or JSON) if given;
    a bad file is an ``InputError`` naming the file, the line where known, and the problem."""
    table = PriceTable.default()
    if path is None:
        return table
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the price file ({_why(exc)})") from None
    entries, lines = _parse(path, text)
    if not isinstance(entries, dict):
        raise InputError(path, "a price file maps model names to {input, output}")
    return table.updated(
        {
            str(name): _price(path, str(name), value, lines.get(str(name)))
            for name, value in entries.items()
        }
    )


def _parse(path: Path, text: str) -> tuple[Any, dict[str, int]]:
    """The file's data and, for YAML, the line of each model name."""
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise InputError(
            path, f"invalid YAML ({getattr(exc, 'problem', exc)})", line=line
        ) from None
    lines = {}
    if isinstance(node, yaml.MappingNode):
        lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return data, lines


def _price(path: Path, name: str, value: Any, line: int | None) -> Price:
    """One entry of a price file, checked."""

    def bad(problem: str) -> InputError:
        return InputError(path, f"model {name!r}: {problem}", line=line)

    if not isinstance(value, dict):
        raise bad("expected {input: USD per 1M tokens, output: USD per 1M tokens}")
    unknown = sorted(set(value) - {"input", "output", "batch_discount"})
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (keys: input, output, batch_discount)")
    for key in ("input", "output"):
        if key not in value:
            raise bad(f"'{key}' is missing (USD per 1M {key} tokens)")
    numbers = {key: _number(value[key]) for key in value}
    for key, number in numbers.items():
        if number is None or number < 0:
            raise bad(f"'{key}' must be a number >= 0, not {value[key]!r}")
    discount = numbers.get("batch_discount")
    if discount is not None and discount > 1:
        raise bad(f"'batch_discount' is a share of the price, from 0 to 1, not {discount!r}")
    return Price(numbers["input"], numbers["output"], discount)  # type: ignore[arg-type]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
