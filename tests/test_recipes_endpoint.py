"""The grounded and multimodal recipes on an OpenAI-compatible endpoint: llama.cpp's HTTP server with the
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

import pytest
from conftest import run_on_endpoint, start_llamacpp_http

KEY = "recipes-endpoint-token"
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
    # the text parts of the multimodal recipes (their images are drawn here, not by a model)
    "chart_qa": (["--set", "steps[0].params.count=1", "--set", "steps[0].params.max_series=1",
                  "--set", "steps[1].params.max_tokens=160",
                  "--set", "steps[2].params.max_tokens=64"], "image"),
    "llava_instruct": (["--set", "steps[0].params.count=1", "--set", "steps[1].params.max_tokens=48",
                        "--set", "steps[1].params.types=[detail]"], "image"),
}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint():
    server, url = start_llamacpp_http(KEY)
    yield url
    del server


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_runs_on_an_endpoint(recipe, endpoint, tmp_path):
    overrides, provenance = RECIPES[recipe]
    records = run_on_endpoint(recipe, overrides, endpoint, KEY, tmp_path)
    assert all(record[provenance] for record in records), f"{recipe}: a record lost {provenance}"
