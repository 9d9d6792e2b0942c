"""The grounded recipes on an OpenAI-compatible endpoint: llama.cpp's HTTP server with the
bundled model on 127.0.0.1, locked by an API key, in place of the in-process model.

Each recipe runs its packaged documents or triples, cut small (``rankrag`` runs RAFT's
steps, so ``raft`` itself is left to the local-model tests), through the ``openai``
backend (JSON schemas and grammars travel in llama.cpp's request fields). The 135M model
writes few records that pass every check, so the test asks what holds for any model: every
row ends as a record or an error row with a reason, every model call went to the endpoint,
every record keeps its provenance, and ``synthaug verify`` agrees with every record that
carries evidence.
"""

from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, run_cli, start_llamacpp_http, summary_of

KEY = "grounded-recipes-token"
RECIPES = {  # recipe -> overrides keeping it small; the provenance column of its records
    "genie": (["--limit", "1"], "source"),
    "rankrag": (["--limit", "6", "--set", "steps[1].params.k=2",
                 "--set", "steps[2].params.count=1"], "passages"),
    "huatuo_kg": (["--limit", "2"], "triple"),
    "clingen": (["--set", "steps[1].params.count=2", "--set", "steps[2].params.count=2",
                 "--set", "steps[3].params.max_tokens=48"], "topic_triples"),
    "api_grounded_code": (["--set", "steps[0].params.count=1", "--set", "steps[2].params.k=1",
                           "--set", "steps[2].params.repair_rounds=0",
                           "--set", "steps[2].params.max_tokens=160"], "retrieved_apis"),
}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint():
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_grounded_recipe_runs_on_an_endpoint(recipe, endpoint, tmp_path):
    overrides, provenance = RECIPES[recipe]
    out = tmp_path / "data.jsonl"
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    done = run_cli(
        "run", recipe, *overrides, "--out", str(out), "--quiet",
        "--backend", "openai", "--base-url", endpoint, "--model", "smollm2",
        "--api-key-env", "K", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = summary_of(out)
    assert summary["backend"].startswith("openai") and summary["llm"]["model_calls"] > 0
    records = read_jsonl(out)
    errors_path = out.with_name("data.errors.jsonl")
    errors = read_jsonl(errors_path) if errors_path.exists() else []
    assert records + errors, "no row came out"
    for error in errors:
        assert error["_meta"]["error"]["kind"] and error["_meta"]["error"]["message"]
    for record in records:
        assert record[provenance], f"{recipe} record without {provenance}"
        assert record["_meta"].get("model", "openai:").startswith("openai:")
    if any("verification" in r for r in records):
        checked = run_cli("verify", str(out), "--json", "--quiet", cwd=tmp_path, env=env)
        report = json.loads(checked.stdout)
        assert checked.returncode == 0 and report["disagreements"] == [], checked.stdout
