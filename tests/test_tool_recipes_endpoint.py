"""The tool-use recipes on an OpenAI-compatible endpoint: llama.cpp's HTTP server with the
bundled model on 127.0.0.1, locked by an API key, in place of the in-process model.

Each recipe runs a couple of source rows through the ``openai`` backend (grammars,
JSON schemas and log-probabilities travel in llama.cpp's request fields). The 135M model
writes few calls that pass every check, so the test asks what holds for any model: every
source row ends as records or as error rows with a reason, every model call went to the
endpoint, and ``synthaug verify`` agrees with every record that carries evidence.
"""

from __future__ import annotations

import pytest
from conftest import run_on_endpoint, start_llamacpp_http

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
    run_on_endpoint(recipe, RECIPES[recipe], endpoint, KEY, tmp_path)
