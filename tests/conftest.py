"""Shared fixtures: the real embedded model, a real request cache, helpers to run the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthaug.llm.local import LocalBackend

ROOT = Path(__file__).resolve().parent.parent

YES_NO_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["Yes", "No"]}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def local_backend():
    """One embedded SmolLM2 engine (4 slots) shared by the in-process tests."""
    backend = LocalBackend(parallel=4)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.start())
    yield backend
    loop.run_until_complete(backend.close())
    loop.close()


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    """Run ``synthaug ARGS`` as a real subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "synthaug.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def start_llamacpp_http(api_key: str, embedding: bool = False):
    """llama.cpp's HTTP server on 127.0.0.1 with the bundled model, locked by ``api_key``.

    Returns the server object (keep a reference) and its ``/v1`` base URL. With
    ``embedding``, it serves mean-pooled ``/v1/embeddings`` instead of completions.
    """
    import xllamacpp

    from synthaug.llm.local import default_model_path

    params = xllamacpp.CommonParams()
    params.model.path = str(default_model_path())
    params.n_parallel = 2
    params.n_ctx = 4096
    params.verbosity = -1
    params.api_keys = [api_key]
    if embedding:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)
    return server, server.listening_address + "/v1"
