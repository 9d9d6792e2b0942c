"""The one place that builds a run's resources, and the command-line options they come from.

Every command that runs steps, calls a model or embeds text (``run``, ``score``, ``review``,
the curation commands, the benchmarks) gets its request cache, model clients, sandbox and
embedders from ``open_resources``, so ``--cache`` and ``--no-cache`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .engine.resources import DEFAULT_BACKEND, RunResources
from .llm.cache import RequestCache, default_cache_path
from .llm.client import LLMClient
from .llm.prices import PriceTable, load_prices
from .llm.registry import backend_types
from .llm.spend import Budget, Spend
from .recipe import BackendConfig, build_backend
from .verify.sandbox import UNSAFE_FLAG, Sandbox


def open_resources(
    *,
    cache_path: Path | None = None,
    no_cache: bool = False,
    llm: BackendConfig | None = None,
    backends: dict[str, BackendConfig] | None = None,
    unsafe_sandbox: bool = False,
    prices: PriceTable | None = None,
    budget: Budget | None = None,
) -> RunResources:
    """The cache (``cache_path``, default ``~/.cache/synthaug``; none with ``no_cache``), a
    client for ``llm`` and for each named backend (all sharing the cache; nothing is loaded
    or contacted yet), a sandbox whose results go to the same cache (``unsafe_sandbox``:
    without its OS boundary where that cannot be set up, recorded in every verdict) and the
    spend of the clients at ``prices`` (default: the built-in table), held to ``budget``."""
    cache = None if no_cache else RequestCache(cache_path or default_cache_path())

    def connect(config: BackendConfig, where: str) -> LLMClient:
        return LLMClient(build_backend(config, where), cache, max_retries=config.max_retries)

    clients = {DEFAULT_BACKEND: connect(llm, "backend")} if llm else {}
    for name, config in sorted((backends or {}).items()):
        clients[name] = connect(config, f"backends.{name}")
    spend = Spend(clients, prices, budget)
    default = clients.pop(DEFAULT_BACKEND, None)
    return RunResources(
        cache=cache,
        llm=default,
        backends=clients,
        sandbox=Sandbox(cache=cache, unsafe=unsafe_sandbox),
        spend=spend,
    )


def resources_from_args(
    args: argparse.Namespace,
    llm: BackendConfig | None = None,
    backends: dict[str, BackendConfig] | None = None,
) -> RunResources:
    """``open_resources`` with the ``--cache``/``--no-cache`` options of ``add_cache_options``
    (and ``--unsafe-sandbox``, ``--prices``, ``--max-cost``, ``--max-tokens`` where the
    command has them)."""
    return open_resources(
        cache_path=args.cache,
        no_cache=args.no_cache,
        llm=llm,
        backends=backends,
        unsafe_sandbox=getattr(args, "unsafe_sandbox", False),
        prices=load_prices(getattr(args, "prices", None)),
        budget=Budget(getattr(args, "max_cost", None), getattr(args, "max_tokens", None)),
    )


def add_price_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="model prices, YAML or JSON: MODEL: {input: USD per 1M tokens, output: ...} "
        "(adds to or replaces the built-in snapshot; see docs/costs.md)",
    )


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-cost",
        type=_positive(float),
        metavar="USD",
        help="stop cleanly (exit 3, resumable) once real model calls cost this much",
    )
    parser.add_argument(
        "--max-tokens",
        type=_positive(int),
        metavar="N",
        help="stop cleanly (exit 3, resumable) once real model calls used N input + output tokens",
    )


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return value

    return parse


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        help="cache of model answers, embeddings and sandbox results (default: ~/.cache/synthaug)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def add_sandbox_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        UNSAFE_FLAG,
        dest="unsafe_sandbox",
        action="store_true",
        help="where the sandbox's OS boundary (bubblewrap) cannot be set up, run generated "
        "code without it instead of refusing (recorded in every verdict)",
    )


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --model, --base-url, --api-key-env: overrides of a recipe's ``backend:``."""
    parser.add_argument(
        "--backend", choices=list(backend_types()), help="override the backend type"
    )
    parser.add_argument(
        "--model", help="GGUF path (local, openvino), OpenVINO model folder or model name (openai)"
    )
    parser.add_argument(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; replicas of one "
        "model: their URLs joined by commas",
    )
    parser.add_argument("--api-key-env", help="environment variable holding the API key")


def _urls(value: str | None) -> str | list[str] | None:
    """``--base-url``: one URL, or a list of replicas' URLs given joined by commas."""
    if value is None or "," not in value:
        return value
    return [url.strip() for url in value.split(",") if url.strip()]


def backend_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set backend.KEY=VALUE`` overrides that ``add_backend_options`` stand for."""
    overrides = []
    for key, value in (
        ("type", args.backend),
        ("model", args.model),
        ("base_url", _urls(args.base_url)),
        ("api_key_env", args.api_key_env),
    ):
        if value is not None:
            overrides.append(f"backend.{key}={json.dumps(value)}")
    return overrides
