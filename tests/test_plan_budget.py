"""Cost forecast (``synthaug plan``), prices and budgets (``run --max-cost / --max-tokens``).

Token and call figures come from the embedded model through the real pipeline; money comes
from a small OpenAI-compatible server of ours on 127.0.0.1 that answers every chat request
with a reply derived from the prompt and a fixed ``usage`` (1,000 input and 500 output
tokens), so costs are exact and answers are the same in every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import cached_requests, read_jsonl, run_cli, summary_of, write_jsonl

from synthaug.engine.progress import Progress
from synthaug.engine.summary import StepStats
from synthaug.engine.window import ordered_completions
from synthaug.llm.client import LLMClient, Tally
from synthaug.llm.openai import OpenAIBackend
from synthaug.llm.prices import Price, PriceTable
from synthaug.llm.spend import Budget, Spend
from synthaug.llm.types import chat

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500}
GPT_4O_MINI_CALL = (1000 * 0.15 + 500 * 0.60) / 1e6  # one call at the built-in price
ORCA_SMALL = ("--set", "steps[1].params.max_tokens=16")  # answers fill it


class PricedHandler(BaseHTTPRequestHandler):
    """Chat completions whose text depends on the last user message; counts each prompt."""

    hits: Counter[str] = Counter()
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._send({"data": [{"id": "any"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.hits[prompt] += 1
        text = "Answer " + hashlib.sha256(prompt.encode()).hexdigest()[:12]
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        self._send({"choices": [{**choice, "finish_reason": "stop"}], "usage": USAGE})

    def _send(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def priced_server():
    PricedHandler.hits = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), PricedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def priced_recipe(folder: Path, base_url: str, model: str = "gpt-4o-mini", rows: int = 8) -> Path:
    """load ROWS instructions -> orca.explain on the server, one call at a time."""
    data = write_jsonl(
        folder / "rows.jsonl", [{"instruction": f"Explain idea number {i}."} for i in range(rows)]
    )
    recipe = folder / "priced.yaml"
    recipe.write_text(
        "name: priced\n"
        f"backend: {{type: openai, base_url: '{base_url}', model: {model}, max_concurrency: 1}}\n"
        "steps:\n"
        f"  - {{method: load, params: {{path: '{data}'}}}}\n"
        "  - {method: orca.explain, params: {max_tokens: 32}}\n"
    )
    return recipe


def plan_json(cwd: Path, *args: str, env: dict[str, str]) -> dict:
    done = run_cli("plan", *args, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def step_usage(summary: dict) -> dict[str, int]:
    """The answers the run's steps asked for (cached ones included), added up."""
    total = Counter()
    for step in summary["steps"]:
        total.update(step.get("llm", {}))
    return dict(total)


def within(projected: float, real: float, tolerance: float) -> bool:
    return abs(projected - real) <= tolerance * real


def test_plan_projects_the_real_run_and_the_run_replays_the_sample(tmp_path):
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    plan = plan_json(tmp_path, "orca", "--limit", "8", "--sample", "4", *ORCA_SMALL, env=env)
    assert not (tmp_path / "runs").exists(), "plan must not write the recipe's output"
    assert plan["source_rows"] == 8 and plan["sample"]["source_rows"] == 4
    assert [s["rows_in"] for s in plan["steps"]] == [None, 8]
    total = plan["total"]
    assert total["cost_usd"] == 0.0 and plan["unpriced_models"] == []  # a local model is free
    assert plan["remaining"]["requests"] == total["requests"] - plan["sample"]["requests"]
    out = tmp_path / "data.jsonl"
    run = run_cli("run", "orca", "--limit", "8", *ORCA_SMALL, "--out", str(out), "--quiet",
                  cwd=tmp_path, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = summary_of(out)
    real = step_usage(summary)
    assert total["requests"] == real["requests"] == 8
    assert within(total["prompt_tokens"], real["prompt_tokens"], 0.2), (total, real)
    assert within(total["completion_tokens"], real["completion_tokens"], 0.3), (total, real)
    # the sample's answers came from the cache: the run paid only for the rest
    assert summary["llm"]["cache_hits"] == plan["sample"]["requests"] == 4
    assert summary["llm"]["model_calls"] == 4 < real["requests"]


def test_money_is_tokens_at_the_price_and_a_budget_stops_the_run_resumably(tmp_path, priced_server):
    recipe = priced_recipe(tmp_path, priced_server)
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    plan = plan_json(tmp_path, str(recipe), "--sample", "2", env=env)
    assert plan["source_rows"] == 8 and plan["total"]["requests"] == 8
    assert plan["total"]["cost_usd"] == pytest.approx(8 * GPT_4O_MINI_CALL)
    assert plan["remaining"]["cost_usd"] == pytest.approx(6 * GPT_4O_MINI_CALL)

    out = tmp_path / "data.jsonl"
    command = ("run", str(recipe), "--out", str(out), "--quiet")
    stopped = run_cli(*command, "--max-cost", str(2.5 * GPT_4O_MINI_CALL), cwd=tmp_path, env=env)
    assert stopped.returncode == 3, stopped.stderr
    message = stopped.stderr.strip().splitlines()
    assert len(message) == 1 and "budget reached" in message[0] and "--max-cost" in message[0]
    assert "Traceback" not in stopped.stderr
    assert "stopped: budget reached" in stopped.stdout
    assert not out.exists() and not list(tmp_path.glob(".data*.tmp-*"))
    assert not (tmp_path / "data.summary.json").exists()
    # 2 answers came from the plan's cache; 3 more were paid before the spend reached the limit
    assert sum(PricedHandler.hits.values()) == 2 + 3

    resumed = run_cli(*command, "--max-cost", "1", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    summary = summary_of(out)
    assert summary["llm"]["model_calls"] == 3
    assert summary["llm"]["cost_usd"] == pytest.approx(3 * GPT_4O_MINI_CALL)
    assert summary["budget"] == {"max_cost_usd": 1.0, "max_tokens": None}
    assert set(PricedHandler.hits.values()) == {1}, "a model call was repeated"

    reference = tmp_path / "reference.jsonl"
    again = run_cli("run", str(recipe), "--out", str(reference), "--quiet", cwd=tmp_path,
                    env={"SYNTHAUG_CACHE": str(tmp_path / "other.sqlite3")})  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert read_jsonl(out) == read_jsonl(reference)


def test_max_tokens_stops_a_local_run_that_then_resumes_to_the_same_records(tmp_path):
    args = ("orca", "--limit", "4", "--set", "steps[1].params.max_tokens=16",
            "--set", "backend.deterministic=true", "--quiet")  # fmt: skip
    reference = tmp_path / "reference.jsonl"
    done = run_cli("run", *args, "--out", str(reference), "--cache", str(tmp_path / "ref.sqlite3"),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    usage = step_usage(summary_of(reference))
    budget = (usage["prompt_tokens"] + usage["completion_tokens"]) // 2  # about 2 calls

    cache, out = tmp_path / "cache.sqlite3", tmp_path / "data.jsonl"
    out.write_text("an earlier output\n")
    command = ("run", *args, "--out", str(out), "--cache", str(cache))
    stopped = run_cli(*command, "--max-tokens", str(budget), cwd=tmp_path)
    assert stopped.returncode == 3, stopped.stderr
    assert "budget reached" in stopped.stderr and "--max-tokens" in stopped.stderr
    assert out.read_text() == "an earlier output\n", "a stopped run must leave the output alone"
    paid = cached_requests(cache)
    assert 0 < paid < 4

    resumed = run_cli(*command, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = summary_of(out)
    assert summary["llm"]["model_calls"] == 4 - paid and cached_requests(cache) == 4
    assert summary["steps"][1]["reused_from_checkpoint"] > 0
    assert read_jsonl(out) == read_jsonl(reference)


def test_unknown_model_costs_unknown_not_zero(tmp_path, priced_server):
    recipe = priced_recipe(tmp_path, priced_server, model="mystery-model-7", rows=3)
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    plan = plan_json(tmp_path, str(recipe), "--sample", "1", env=env)
    assert plan["total"]["cost_usd"] == "unknown" and plan["total"]["prompt_tokens"] == 3000
    assert plan["unpriced_models"] == ["mystery-model-7"]
    shown = run_cli("plan", str(recipe), "--sample", "1", "--quiet", cwd=tmp_path, env=env)
    assert "unknown" in shown.stdout and "no price for mystery-model-7" in shown.stdout

    out = tmp_path / "data.jsonl"
    run = run_cli("run", str(recipe), "--out", str(out), "--quiet", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    llm = summary_of(out)["llm"]
    assert llm["cost_usd"] == "unknown" and llm["prompt_tokens"] == 2000
    assert "cost unknown (no price for mystery-model-7" in run.stdout

    refused = run_cli("run", str(recipe), "--out", str(out), "--max-cost", "1", cwd=tmp_path,
                      env=env)  # fmt: skip
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "no price for model 'mystery-model-7'" in refused.stderr

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mystery-model-7": {"input": 2.0, "output": 4.0}}))
    priced = plan_json(tmp_path, str(recipe), "--sample", "1", "--prices", str(prices), env=env)
    assert priced["total"]["cost_usd"] == pytest.approx(3 * (1000 * 2.0 + 500 * 4.0) / 1e6)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("prices.yaml", "gpt-4o: {input: 2.5, output: 10}\nmine: {input: 1}\n",
         "prices.yaml:2: model 'mine': 'output' is missing"),
        ("prices.yaml", "mine: {input: -1, output: 2}\n", "'input' must be a number >= 0"),
        ("prices.yaml", "mine: {input: 1, output: 2, discount: 0.5}\n", "unknown key 'discount'"),
        ("prices.yaml", "mine: [1, 2\n", "prices.yaml:2: invalid YAML"),
        ("prices.json", '{"mine": {"input": 1, "output": 2},\n}', "prices.json:2: invalid JSON"),
        ("prices.json", '["gpt-4o"]', "maps model names to {input, output}"),
    ],
)  # fmt: skip
def test_a_bad_price_file_is_one_line_naming_file_and_problem(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    done = run_cli("plan", "orca", "--prices", name, "--quiet", cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, lines
    assert expected in lines[0], lines[0]


def test_price_lookup_takes_snapshots_of_listed_models_and_never_guesses():
    table = PriceTable.default()
    assert table.lookup("gpt-4o-2024-08-06") == table.lookup("GPT-4o") == Price(2.5, 10.0)
    assert table.lookup("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)
    assert table.lookup("claude-3-5-sonnet-20241022") == Price(3.0, 15.0)
    assert table.lookup("gemini-1.5-pro-002") == table.lookup("gemini-1.5-pro")
    assert table.lookup("gpt-4o-realtime-preview") is None  # another model, not a snapshot
    assert table.lookup("llama-3.1-70b") is None

    batch = OpenAIBackend("http://127.0.0.1:9/v1", "gpt-4o-mini")
    batch.price_factor = 0.5
    assert table.for_backend(batch) == Price(0.075, 0.3)
    own = table.updated({"gpt-4o-mini": Price(0.2, 0.8, batch_discount=0.6)})
    assert own.for_backend(batch).input == pytest.approx(0.08)


def test_progress_line_shows_the_spend_against_the_budget(priced_server):
    client = LLMClient(OpenAIBackend(priced_server, "gpt-4o-mini"))
    spend = Spend({"default": client}, PriceTable.default(), Budget(max_cost=0.01))

    async def one_call() -> None:
        await client.complete(chat(("user", "hello")))
        await client.close()

    asyncio.run(one_call())
    line = Progress([StepStats("s", "m")], client.stats, None, io.StringIO(), spend=spend).line()
    assert "spent $0.0004 of $0.01, 1,500 tok" in line


def test_a_step_is_charged_for_answers_it_took_then_for_those_left_in_flight(priced_server):
    """What a source's forecast rests on: its tally when it stops holds the answers it used;
    the requests still in flight are added when they finish (and are cached)."""
    client = LLMClient(OpenAIBackend(priced_server, "gpt-4o-mini"))
    tally, other = Tally(), Tally()
    view = client.counting(tally)
    client.counting(other)  # another step's view of the same client

    async def take_two() -> int:
        requests = (chat(("user", f"q{i}")) for i in range(10))
        results = ordered_completions(view, requests, in_flight=4)
        async with contextlib.aclosing(results):
            async for number, _, _ in results:
                if number == 1:
                    break
            await asyncio.sleep(0.3)  # the 4 requests in flight have all been answered by now
            taken = tally.requests
        await client.close()
        return taken

    assert asyncio.run(take_two()) == 2
    assert tally.requests == client.stats.model_calls == 5 and other.requests == 0
    assert tally.prompt_tokens == 5 * USAGE["prompt_tokens"]
