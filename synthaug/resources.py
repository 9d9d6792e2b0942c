"""The one place that builds a run's resources, and the command-line options they come from.

Every command that runs steps, calls a model or embeds text (``run``, ``score``, ``review``,
the curation commands, the benchmarks) gets its request cache, model clients, sandbox and
embedders from ``open_resources``, so ``--cache`` and ``--no-cache`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .engine.resources import RunResources
from .llm.cache import RequestCache, default_cache_path
from .llm.client import LLMClient
from .llm.registry import backend_types
from .recipe import BackendConfig, build_backend
from .verify.sandbox import Sandbox


def open_resources(
    *,
    cache_path: Path | None = None,
    no_cache: bool = False,
    llm: BackendConfig | None = None,
    backends: dict[str, BackendConfig] | None = None,
) -> RunResources:
    """The cache (``cache_path``, default ``~/.cache/synthaug``; none with ``no_cache``), a
    client for ``llm`` and for each named backend (all sharing the cache; nothing is loaded
    or contacted yet) and a sandbox whose results go to the same cache."""
    cache = None if no_cache else RequestCache(cache_path or default_cache_path())

    def connect(config: BackendConfig, where: str) -> LLMClient:
        return LLMClient(build_backend(config, where), cache, max_retries=config.max_retries)

    return RunResources(
        cache=cache,
        llm=connect(llm, "backend") if llm else None,
        backends={
            name: connect(config, f"backends.{name}")
            for name, config in sorted((backends or {}).items())
        },
        sandbox=Sandbox(cache=cache),
    )


def resources_from_args(
    args: argparse.Namespace,
    llm: BackendConfig | None = None,
    backends: dict[str, BackendConfig] | None = None,
) -> RunResources:
    """``open_resources`` with the ``--cache``/``--no-cache`` options of ``add_cache_options``."""
    return open_resources(
        cache_path=args.cache, no_cache=args.no_cache, llm=llm, backends=backends
    )


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        help="cache of model answers, embeddings and sandbox results (default: ~/.cache/synthaug)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --model, --base-url, --api-key-env: overrides of a recipe's ``backend:``."""
    parser.add_argument(
        "--backend", choices=list(backend_types()), help="override the backend type"
    )
    parser.add_argument("--model", help="GGUF path (local) or model name (openai)")
    parser.add_argument(
        "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument("--api-key-env", help="environment variable holding the API key")


def backend_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set backend.KEY=VALUE`` overrides that ``add_backend_options`` stand for."""
    overrides = []
    for key, value in (
        ("type", args.backend),
        ("model", args.model),
        ("base_url", args.base_url),
        ("api_key_env", args.api_key_env),
    ):
        if value is not None:
            overrides.append(f"backend.{key}={json.dumps(value)}")
    return overrides
