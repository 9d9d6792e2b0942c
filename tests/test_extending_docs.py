"""The examples of docs/extending.md run against the real registries (no model is called)."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import pytest

from synthaug.engine.step import RowError, StepContext
from synthaug.errors import RecipeError
from synthaug.llm import registry
from synthaug.llm.client import LLMClient
from synthaug.methods import registry as methods_registry
from synthaug.recipe import build_backend, recipe_from_dict
from synthaug.records import META

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def example(heading: str) -> dict:
    """Execute the first Python block under ``## heading``; returns its namespace."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"__name__": f"docs_example_{heading.split()[-1]}"}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture
def tenant_backend():
    namespace = example("Add a backend")
    yield namespace
    registry._BACKENDS.pop("tenant")


def test_the_backend_example_registers_and_builds(tenant_backend, monkeypatch):
    assert "tenant" in registry.backend_types()
    recipe = recipe_from_dict(
        {
            "name": "r",
            "backend": {"type": "tenant", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                        "tenant": "acme"},
            "steps": [{"method": "load", "params": {"path": "x.jsonl"}}],
        }
    )  # fmt: skip
    backend = build_backend(recipe.backend)
    assert isinstance(backend, tenant_backend["TenantBackend"])
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert backend._headers() == {"Authorization": "Bearer k", "X-Tenant": "acme"}
    with pytest.raises(RecipeError, match=r"backend\.tenant: Field required"):
        recipe_from_dict(
            {
                "name": "r",
                "backend": {"type": "tenant", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
                "steps": [{"method": "load", "params": {"path": "x.jsonl"}}],
            }
        )


def test_the_command_example_adds_a_working_command(tmp_path, capsys):
    namespace = example("Add a command")
    parser = argparse.ArgumentParser()
    namespace["add_command"](parser.add_subparsers())
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n{"a": 2}\n')
    args = parser.parse_args(["count", str(data)])
    assert args.handler(args) == 0 and capsys.readouterr().out == "2\n"


@pytest.fixture
def headline_method():
    namespace = example("Add a method")
    yield namespace
    methods_registry._REGISTRY.pop("example.headline")


def test_the_method_example_runs_on_the_embedded_model(local_backend, headline_method):
    namespace = headline_method
    assert methods_registry.get_method("example.headline").step is namespace["Headline"]
    step = namespace["Headline"](max_words=40)
    ctx = StepContext(LLMClient(local_backend), run_seed=0, step_name="headline")
    row = {"text": "The city opened a new library with ten thousand books.", META: {"id": "r1"}}
    (record,) = asyncio.run(step.process(row, ctx))
    assert record["headline"] and record["text"] == row["text"]
    assert record[META]["method"] == "example.headline" and record[META]["parents"] == ["r1"]
    strict = namespace["Headline"](max_words=1)
    with pytest.raises(RowError) as refused:
        asyncio.run(strict.process(row, ctx))
    assert refused.value.kind == "not_a_headline"
