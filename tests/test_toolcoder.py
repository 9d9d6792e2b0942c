"""ToolCoder: parsing and stripping API-search calls, the API-after-a-call filter, the real
search and the sandboxed ``api_search`` verdict with its re-verification, and one small
recipe run on the embedded model, killed with SIGKILL and resumed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import cached_requests, kill_mid_run, read_jsonl, run_cli, summary_of, write_jsonl

from synthaug.engine.step import RowError
from synthaug.methods.tool_use.toolcoder import changed_line, header, reply_code
from synthaug.retrieval.api_index import ApiSource
from synthaug.verify.api_search import (
    _CALL,
    Call,
    CallFormatError,
    answered,
    api_after,
    api_search_verdict,
    insert_calls,
    parse_calls,
    search,
)
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

SEEDS = Path(__file__).resolve().parent.parent / "synthaug" / "data" / "toolcoder_seeds.jsonl"
ERROR_KINDS = {"malformed_call", "changed_code", "no_calls", "no_kept_call", "tests_failed"}


def seed(name: str) -> dict:
    return next(r for r in read_jsonl(SEEDS) if r["name"] == name)


def test_calls_parse_strip_and_insert_back():
    annotated = (
        "import json\n"
        "x = <API>APISearch(Deserialize a JSON document (a str))->json.loads</API>json.loads(s)\n"
        "y = <API>APISearch(Serialize obj)→json.dumps, json.dump</API>json.dumps(x)\n"
    )
    code, calls = parse_calls(annotated)
    assert code == "import json\nx = json.loads(s)\ny = json.dumps(x)\n"
    assert calls == [
        Call("Deserialize a JSON document (a str)", "json.loads", code.index("json.loads(s)")),
        Call("Serialize obj", "json.dumps, json.dump", code.index("json.dumps(x)")),
    ]
    assert insert_calls(code, calls) == annotated.replace("->", "→")
    assert parse_calls("x = 1\n") == ("x = 1\n", [])
    for bad, marker in [
        ("x = <API>APISearch(load json)json.loads(s)\n", "<API>"),  # no arrow, no close
        ("x = json.loads(s)</API>\n", "</API>"),
        ("x = APISearch(load json)→json.loads\n", "APISearch("),
        ("x = <API>APISearch(load\njson)→json.loads</API>\n", "<API>"),  # over two lines
    ]:
        with pytest.raises(CallFormatError, match="outside a well-formed") as error:
            parse_calls(bad)
        assert marker in str(error.value)
    with pytest.raises(CallFormatError, match="empty query"):
        parse_calls("<API>APISearch( )→json.loads</API>json.loads(s)\n")


def test_the_api_used_after_a_call_and_the_filter():
    code = (
        "import numpy as np\nimport os.path\nfrom collections import Counter as C\n"
        "def f(a, p, words):\n"
        "    b = np.squeeze(a)\n"
        "    counts = C(words).most_common(2)\n"
        "    text = p.read_text()\n"
        "    return os.path.join('a', 'b'), len(b), counts\n"
    )

    def after(text: str) -> str | None:
        return api_after(code, code.index(text))

    assert after("np.squeeze") == "numpy.squeeze"
    assert after("b = np") == "numpy.squeeze"  # the assigned name is neither imported nor called
    assert after("C(words)") == "collections.Counter"  # the alias resolved; the call ends it
    assert after("counts =") == "collections.Counter"
    assert after(".most_common") is None  # inside a chain begun before the call
    assert after("p.read_text") == ".read_text"  # an instance: its owner is not known
    assert after("os.path.join") == "os.path.join"
    assert after("len(b)") == "len"
    assert after("\ndef f") is None  # the rest of the line has no API
    assert api_after("if (x):\n    return (len(x))\n", 0) is None  # keywords are no APIs
    assert api_after("    return (len(x))\n", 0) == "len"
    assert answered("numpy.squeeze", ["numpy.squeeze", "numpy.ravel"])
    assert not answered("numpy.squeeze", ["numpy.ravel"])
    assert answered(".read_text", ["pathlib.Path.read_text"])
    assert not answered(".read_text", ["pathlib.Path.read_bytes"])
    assert not answered(None, ["json.dumps"])


def test_the_generation_prompt_is_the_code_up_to_its_def_line():
    assert header(seed("to_json")["code"]) == "import json\n\n\ndef to_json(data):"
    with pytest.raises(RowError) as error:
        header("x = 1\n")
    assert error.value.kind == "no_function"


def test_reply_code_and_change_messages():
    assert reply_code("Sure:\n```python\nx = 1\n```\nmore") == "x = 1"
    assert reply_code("Output:\nx = 1\nInput:\ny = 2") == "x = 1"
    assert reply_code("\nx = 1\n") == "x = 1"
    assert changed_line("a\nb", "a\nc") == "line 2: 'c' instead of 'b'"
    assert changed_line("a\nb", "a") == "1 lines instead of 2"


def verdict_of(name: str, query: str, at: str, k: int = 1) -> dict:
    """The verdict of seed ``name`` annotated with one call before ``at``, the real search's
    answer and the filter applied."""
    row, source = seed(name), ApiSource()
    position = row["code"].index(at)
    answer, api = search(source, query, k), api_after(row["code"], position)
    calls = [{"query": query, "answer": answer, "position": position, "api": api}]
    calls = [c for c in calls if answered(c["api"], c["answer"])]
    return asyncio.run(api_search_verdict(Sandbox(), source, k, row["code"], calls, row["tests"]))


def test_real_search_verdict_and_verify_agree(tmp_path):
    verified = verdict_of("middle_value", "median middle value of data", "statistics.median")
    assert verified["kind"] == "api_search" and verified["verified"] and verified["passed"]
    [call] = verified["calls"]
    assert call["answer"] == ["statistics.median"] and call["api"] == "statistics.median"
    assert (
        "<API>APISearch(median middle value of data)→statistics.median</API>"
        + ("statistics.median(values)")
        in verified["annotated"]
    )
    assert asyncio.run(reverify(verified, Sandbox()))
    assert search(ApiSource(), "the", 3) == [] == search(ApiSource(), "!!", 3)  # no match: empty
    # a query whose top answer is not the API used next: the call is dropped, nothing verified
    dropped = verdict_of("middle_value", "sample standard deviation", "statistics.median")
    assert dropped["calls"] == [] and not dropped["verified"] and dropped["passed"]
    assert asyncio.run(reverify(dropped, Sandbox()))
    # forgeries: another answer, the code changed (tests fail), a call's position moved
    forged_answer = json.loads(json.dumps(verified))
    forged_answer["calls"][0]["answer"] = ["statistics.median", "statistics.mean"]
    forged_answer["annotated"] = forged_answer["annotated"].replace(
        "→statistics.median</", "→statistics.median, statistics.mean</"
    )
    broken = dict(verified, code=verified["code"].replace("median", "mean", 1))
    moved = dict(verified, calls=[dict(call, position=call["position"] - 1)])
    rows = [{"id": i, "verification": v}
            for i, v in enumerate([verified, dropped, forged_answer, broken, moved], 1)]  # fmt: skip
    assert [asyncio.run(reverify(r["verification"], Sandbox())) for r in rows] == [
        True, True, False, False, False,
    ]  # fmt: skip
    checked = run_cli("verify", str(write_jsonl(tmp_path / "d.jsonl", rows)), "--json",
                      cwd=tmp_path)  # fmt: skip
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["by_kind"] == {"api_search": {"checked": 5, "agreed": 2}}
    assert report["disagreements"] == ["record 3", "record 4", "record 5"]


def test_a_failing_seed_is_not_verified():
    row = seed("to_json")
    code = row["code"].replace("sort_keys=True", "sort_keys=False")
    position = code.index("json.dumps")
    answer = search(ApiSource(), "Serialize obj to a JSON formatted str", 1)
    calls = [{"query": "Serialize obj to a JSON formatted str", "answer": answer,
              "position": position, "api": api_after(code, position)}]  # fmt: skip
    assert answered(calls[0]["api"], answer)
    v = asyncio.run(api_search_verdict(Sandbox(), ApiSource(), 1, code, calls, row["tests"]))
    assert not v["passed"] and not v["verified"] and v["execution"]["status"] != "ok"
    assert asyncio.run(reverify(v, Sandbox()))


RUN = ["run", "toolcoder", "--quiet", "--set", "steps[0].params.count=3",
       "--set", "steps[1].params.max_tokens=64",
       # one slot and one thread: the same replies on any machine
       "--set", "backend.deterministic=true", "--set", "backend.threads=1"]  # fmt: skip


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """The recipe on 3 seeds, SIGKILLed after 1 answer, run again to the end, then once more
    (no model call). The embedded 135M model rarely copies code exactly: expect error rows."""
    cwd = tmp_path_factory.mktemp("toolcoder")
    cache, out = cwd / "cache.sqlite3", cwd / "data.jsonl"
    command = [*RUN, "--out", str(out)]
    paid = kill_mid_run(command, cwd, cache, after_calls=1)
    assert not out.exists()
    env = {"SYNTHAUG_CACHE": str(cache)}
    resumed = run_cli(*command, cwd=cwd, env=env)
    assert resumed.returncode == 0, resumed.stderr
    summary = summary_of(out)
    errors = out.with_name("data.errors.jsonl")
    first = (read_jsonl(out), read_jsonl(errors) if errors.exists() else [])
    again = run_cli(*command, cwd=cwd, env=env)
    assert again.returncode == 0, again.stderr
    second = (read_jsonl(out), read_jsonl(errors) if errors.exists() else [])
    assert summary_of(out)["llm"]["model_calls"] == 0 and second == first
    return cwd, summary, paid, cached_requests(cache), *first


def test_recipe_resumes_after_kill_and_rows_carry_reasons(killed_and_resumed):
    cwd, summary, paid, cached, records, failed = killed_and_resumed
    assert cached == 3 and summary["llm"]["model_calls"] == cached - paid  # no call twice
    steps = summary["steps"]
    assert steps[0]["rows_out"] == 3 and len(records) + len(failed) == 3
    ids = [r["_meta"]["id"] for r in records + failed]
    assert len(set(ids)) == 3
    assert set(steps[1]["errors"]) <= ERROR_KINDS
    for row in failed:
        error = row["_meta"]["error"]
        assert error["kind"] in ERROR_KINDS and error["message"]
        assert isinstance(row["annotation"], str)  # the teacher's reply, for inspection
        if error["kind"] == "changed_code":
            assert "instead of" in error["message"]
    for record in records:
        v = record["verification"]
        assert v["kind"] == "api_search" and v["verified"] and v["calls"]
        assert parse_calls(record["annotated_code"])[0] == record["code"]
        assert all(c["kept"] == answered(c["api"], c["answer"]) for c in record["api_calls"])
    if records:
        checked = run_cli("verify", str(cwd / "data.jsonl"), "--json", cwd=cwd)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["agreement"] == 1.0


def test_bad_seed_file_is_one_line_and_exit_2(tmp_path):
    bad = write_jsonl(tmp_path / "seeds.jsonl", [{"code": "x = 1\n", "tests": "assert x\n"},
                                                 {"code": "y = 2\n", "tests": ""}])  # fmt: skip
    out = tmp_path / "out" / "data.jsonl"
    done = run_cli("run", "toolcoder", "--out", str(out), "--quiet",
                   "--set", f"steps[0].params.path={bad}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"synthaug: error: {bad}:2: field 'tests': not a non-empty string"
    assert not out.exists()


def test_generation_pauses_for_the_real_search(tmp_path):
    """toolcoder_generate on two seeds (the embedded model, one slot, one thread): each call
    the model opens is answered by the real search; rows without a passing, calling function
    are error rows with reasons."""
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [seed("from_json"), seed("flatten")])
    out = tmp_path / "data.jsonl"
    done = run_cli("run", "toolcoder_generate", "--out", str(out), "--quiet",
                   "--set", f"steps[0].params.path={seeds}", "--set", "steps[1].params.max_calls=1",
                   "--set", "steps[1].params.max_tokens=48",
                   "--set", "backend.deterministic=true", "--set", "backend.threads=1",
                   cwd=tmp_path, env={"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = out.with_name("data.errors.jsonl")
    rows = read_jsonl(out) + (read_jsonl(errors) if errors.exists() else [])
    assert len(rows) == 2
    answered_calls = 0
    for row in rows:
        generated = row["generated_code"]
        assert generated.startswith(header(row["code"]))
        for call in _CALL.finditer(generated):  # every answer is the search's, not the model's
            query = call.group("query").strip()
            assert call.group("answer") == ", ".join(search(ApiSource(), query, 1))
            answered_calls += 1
        error = row["_meta"].get("error")
        if error:
            assert error["kind"] in {"malformed_call", "no_calls", "tests_failed"}
            assert error["message"]
        else:
            assert row["verification"]["verified"] and not row["verification"]["filtered"]
            assert asyncio.run(reverify(row["verification"], Sandbox()))
    assert answered_calls >= 1, "the model opened no call: the search was never exercised"
    assert summary_of(out)["llm"]["model_calls"] == 2 + answered_calls
