"""The tool-use recipes on an OpenAI-compatible endpoint: llama.cpp's HTTP server with the
bundled model on 127.0.0.1, locked by an API key, in place of the in-process model.

Each recipe runs a couple of source rows through the ``openai`` backend (grammars,
JSON schemas and log-probabilities travel in llama.cpp's request fields). The 135M model
writes few calls that pass every check, so the test asks what holds for any model: every
source row ends as records or as error rows with a reason, every model call went to the
endpoint, and ``synthaug verify`` agrees with every record that carries evidence.
"""

from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, run_cli, start_llamacpp_http, summary_of

KEY = "tool-recipes-token"
RECIPES = {  # recipe -> overrides keeping it small
    "apigen": ["--limit", "2"],
    "toolformer": ["--limit", "1"],
    "toolformer_apis": ["--limit", "1", "--set", "steps[1].params.apis=[Calendar,QA]"],
    "toolcoder": ["--limit", "1"],
    "tool_dialogues": [
        "--set", "steps[0].params.count=1", "--set", "steps[0].params.builtins=[calculate]",
        "--set", "steps[0].params.styles=[simple]", "--set", "steps[4].params.max_steps=2",
        "--set", "steps[4].params.max_call_steps=1",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint():
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_tool_recipe_runs_on_an_endpoint(recipe, endpoint, tmp_path):
    out = tmp_path / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    done = run_cli(
        "run", recipe, *RECIPES[recipe], "--out", str(out), "--quiet",
        "--backend", "openai", "--base-url", endpoint, "--model", "smollm2",
        "--api-key-env", "K", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = summary_of(out)
    assert summary["backend"].startswith("openai") and summary["llm"]["model_calls"] > 0
    records = read_jsonl(out)
    errors_path = out.with_name("data.errors.jsonl")
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    source = summary["steps"][0]["rows_out"]
    assert source >= 1 and records + errors, "no row came out"
    for error in errors:
        assert error["_meta"]["error"]["kind"] and error["_meta"]["error"]["message"]
    assert all(r["_meta"]["model"].startswith("openai:") for r in records if "model" in r["_meta"])
    if any("verification" in r for r in records):
        checked = run_cli("verify", str(out), "--json", "--quiet", cwd=tmp_path, env=env)
        report = json.loads(checked.stdout)
        assert checked.returncode == 0 and report["disagreements"] == [], checked.stdout
