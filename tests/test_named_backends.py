"""Named backends: a step on a second model, its checkpoint identity, summed stats, bad names."""

from __future__ import annotations

import pytest
import yaml
from conftest import read_jsonl, run_cli, start_llamacpp_http, summary_of, write_jsonl

KEY = "named-backends-token"


@pytest.fixture(scope="module")
def llamacpp_http():
    """llama.cpp's HTTP server with the bundled model on 127.0.0.1, locked by an API key."""
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


def dialogue_recipe(tmp_path, backends: dict, user_backend: str | None) -> str:
    openers = write_jsonl(
        tmp_path / "openers.jsonl",
        [{"opener": "How do plants make food?", "ultrachat_sector": "world"}],
    )
    params = {
        "user_backend": user_backend,
        "rounds": {"world": [2, 2]},
        "max_tokens": 48,
        "user_max_tokens": 32,
    }
    recipe = {
        "name": "two_models",
        "backend": {"type": "local", "parallel": 2},
        "backends": backends,
        "steps": [
            {"method": "load", "params": {"path": str(openers)}},
            {"method": "ultrachat.dialogue", "params": params},
        ],
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def test_unknown_backend_name_is_a_recipe_error_with_its_yaml_path(tmp_path):
    backends = {"judge": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}}
    recipe = dialogue_recipe(tmp_path, backends, "user")
    result = run_cli("run", recipe, "--out", str(tmp_path / "data.jsonl"), cwd=tmp_path)
    assert result.returncode == 2
    assert "steps[1].params.user_backend: no backend 'user' in backends (known: judge)" in (
        result.stderr
    )
    assert not (tmp_path / "data.jsonl").exists()


def test_user_simulator_on_a_second_backend(tmp_path, llamacpp_http):
    def user(model: str) -> dict:
        return {"type": "openai", "base_url": llamacpp_http, "model": model, "api_key_env": "K"}

    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    out = tmp_path / "data.jsonl"

    def run(model: str) -> dict:
        recipe = dialogue_recipe(tmp_path, {"user": user(model)}, "user")
        result = run_cli("run", recipe, "--out", str(out), "--quiet", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        return summary_of(out)

    first = run("smollm2")
    [record] = read_jsonl(out)
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"] * 2
    assert record["messages"][0]["content"] == "How do plants make food?"
    assert all(m["content"].strip() for m in record["messages"])
    meta = record["_meta"]
    assert meta["model"].startswith("local:") and "SmolLM2" in meta["model"]
    assert meta["user_model"] == f"openai:smollm2@{llamacpp_http}"
    assert len(meta["request"]) == 3 == len(set(meta["request"]))  # 2 assistant + 1 user turn
    # the summary adds up both clients: two assistant calls here, one on the HTTP server
    assert first["llm"]["model_calls"] == 3 and first["llm"]["completion_tokens"] > 0

    again = run("smollm2")
    assert again["llm"]["model_calls"] == 0
    assert again["steps"][1]["reused_from_checkpoint"] == 1
    assert read_jsonl(out) == [record]

    # another user model: the dialogue step's shards no longer apply; the opening
    # assistant turn (same assistant model, same request) still comes from the cache
    other = run("smollm2-as-user")
    assert other["steps"][1]["reused_from_checkpoint"] == 0
    assert other["llm"]["model_calls"] >= 1 and other["llm"]["cache_hits"] >= 1
    [changed] = read_jsonl(out)
    assert changed["_meta"]["user_model"] == f"openai:smollm2-as-user@{llamacpp_http}"
