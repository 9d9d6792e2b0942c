"""Multi-response generation (UltraFeedback sampling) from a pool of two real models."""

from __future__ import annotations

import random

import pytest
import yaml
from conftest import read_jsonl, run_cli, start_llamacpp_http, summary_of, write_jsonl

from synthaug.methods.preference.responses import (
    OTHER_SOURCES,
    PAPER_MIX,
    PRINCIPLE_PROMPTS,
    Member,
    Responses,
    ResponsesParams,
    draw_members,
    draw_principle,
)

KEY = "responses-token"


def test_members_are_distinct_while_the_pool_allows():
    rng = random.Random(0)
    for _ in range(50):
        drawn = draw_members(5, 4, rng)
        assert len(drawn) == 4 == len(set(drawn))
    drawn = draw_members(2, 5, rng)  # every member twice, one more drawn
    assert drawn[:4] == [0, 1, 0, 1] and len(drawn) == 5


def test_principle_mix_by_source_and_validation():
    step = Responses(principles="paper")
    assert step.principle_mix({"source": "evol_instruct"}) == {"helpfulness": 1.0}
    assert step.principle_mix({"source": "unknown"}) == OTHER_SOURCES == {"helpfulness": 1.0}
    assert Responses().principle_mix({"source": "flan"}) is None
    with pytest.raises(ValueError, match="known principles"):
        Responses(principles={"kindness": 1.0})
    assert Responses(pool=[{"backend": "a"}, {}]).backend_names() == {"pool_backends[0]": "a"}


# What the authors' generation script (OpenBMB/UltraFeedback,
# src/comparison_data_generation/main_vllm.py) draws per completion: a uniform pick from a
# list by source, then an honesty pick turns into verbalized calibration with probability 0.1.
SCRIPT_LISTS = {
    "sharegpt": ["helpfulness"] * 3 + ["truthfulness", "honesty"],
    "ultrachat": ["helpfulness"] * 3 + ["truthfulness", "honesty"],
    "flan": ["helpfulness"] * 4 + ["verbalized_calibration"],
    "evol_instruct": ["helpfulness"],
    "truthful_qa": ["honesty", "truthfulness"],
    "false_qa": ["honesty", "truthfulness"],
}


def script_mix(picks: list[str]) -> dict[str, float]:
    mix: dict[str, float] = {}
    for principle in picks:
        share = 1 / len(picks)
        if principle == "honesty":
            mix["verbalized_calibration"] = mix.get("verbalized_calibration", 0) + share * 0.1
            share *= 0.9
        mix[principle] = mix.get(principle, 0) + share
    return mix


def test_paper_mix_is_the_authors_script_and_sampling_their_defaults():
    assert set(PAPER_MIX) == set(SCRIPT_LISTS)
    for source, picks in SCRIPT_LISTS.items():
        expected = script_mix(picks)
        assert set(PAPER_MIX[source]) == set(expected), source
        for principle, share in expected.items():
            assert PAPER_MIX[source][principle] == pytest.approx(share), (source, principle)
    # FLAN 4:1 helpfulness : verbalized calibration; TruthfulQA/FalseQA 1:1 honesty-side : truth
    assert PAPER_MIX["flan"] == pytest.approx({"helpfulness": 0.8, "verbalized_calibration": 0.2})
    assert PAPER_MIX["false_qa"]["truthfulness"] == pytest.approx(0.5)
    assert set(PRINCIPLE_PROMPTS) >= {p for mix in PAPER_MIX.values() for p in mix}
    # the drawn shares follow the mix (seeded draws over many completions)
    step, counts = Responses(principles="paper"), {}
    rng = random.Random(3)
    for _ in range(4000):
        principle = draw_principle(step.principle_mix({"source": "truthful_qa"}), rng)
        counts[principle] = counts.get(principle, 0) + 1
    assert abs(counts["truthfulness"] / 4000 - 0.5) < 0.03
    assert abs(counts["verbalized_calibration"] / 4000 - 0.05) < 0.015
    # temperature 1, top-p 1, up to 1024 new tokens, as in the authors' scripts
    assert (Member().temperature, Member().top_p, ResponsesParams().max_tokens) == (1.0, 1.0, 1024)


@pytest.fixture(scope="module")
def llamacpp_http():
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


def test_pool_of_two_models_keeps_each_responses_identity(tmp_path, llamacpp_http):
    prompts = write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"instruction": "Name three primary colors.", "source": "flan"},
            {"instruction": "Why is the sky blue?", "source": "evol_instruct"},
        ],
    )
    recipe = {
        "name": "pool",
        "backend": {"type": "local", "parallel": 4},
        "backends": {
            "second": {
                "type": "openai",
                "base_url": llamacpp_http,
                "model": "smol-b",
                "api_key_env": "K",
            },
        },
        "steps": [
            {"method": "load", "params": {"path": str(prompts)}},
            {
                "method": "preference.responses",
                "params": {
                    "pool": [
                        {"backend": "default"},
                        {"backend": "default", "temperature": 0.7, "top_p": 0.9},
                        {"backend": "second"},
                    ],
                    "per_prompt": 3,
                    "principles": "paper",
                    "max_tokens": 32,
                },
            },
        ],
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3"), "K": KEY}
    out = tmp_path / "data.jsonl"
    for attempt in range(2):
        result = run_cli("run", str(path), "--out", str(out), "--quiet", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        calls = summary_of(out)["llm"]["model_calls"]
        assert calls == (6 if attempt == 0 else 0)
    records = read_jsonl(out)
    assert [r["instruction"] for r in records] == [
        "Name three primary colors.",
        "Why is the sky blue?",
    ]
    for record in records:
        completions = record["completions"]
        assert len(completions) == 3
        assert sorted((c["backend"], c["temperature"]) for c in completions) == [
            ("default", 0.7),
            ("default", 1.0),
            ("second", 1.0),
        ], "three distinct members"
        for c in completions:
            expected = f"openai:smol-b@{llamacpp_http}" if c["backend"] == "second" else "local:"
            assert c["model"].startswith(expected)
            assert c["response"] and c["system_prompt"]
        assert record["_meta"]["models"] == sorted({c["model"] for c in completions})
        assert len(set(record["_meta"]["request"])) == 3
    evol = records[1]["completions"]
    assert {c["principle"] for c in evol} == {"helpfulness"}  # evol_instruct: 100% helpful
