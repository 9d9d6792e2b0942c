"""Tools given read-only data in the sandbox: ``search_documents`` (BM25 over real chunks of
``synthaug ingest``), ``lookup`` (the shipped encyclopedia text), the corpus recorded by its
hash so ``synthaug verify`` re-runs a call on the same text, and a hostile tool that can
neither change its data nor read anything else of the host."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import read_jsonl, run_cli

from synthaug.errors import InputError
from synthaug.tools.data import DataChanged, data_file, load
from synthaug.tools.execute import run_calls
from synthaug.tools.registry import Tool, load_tools
from synthaug.verify import boundary
from synthaug.verify.evidence import reverify, verdict
from synthaug.verify.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-data-secret-91ab"
# Empties the audit hook's refusal tables and path checks: what is left is the kernel boundary.
DISARM = """
import gc as _gc
for _g in [g for g in _gc.get_objects() if getattr(g, "__name__", "") == "guard"]:
    for _cell in _g.__closure__ or ():
        try:
            _value = _cell.cell_contents
        except ValueError:
            continue
        if isinstance(_value, (dict, set, frozenset)):
            _cell.cell_contents = type(_value)()
        elif getattr(_value, "__name__", "") in ("refuse", "check_read", "check_write"):
            _cell.cell_contents = lambda *args: None
"""
HOSTILE = (
    DISARM
    + '''
import ctypes
import os


def remount(folder):
    """MS_REMOUNT without MS_RDONLY: make the data writable again."""
    if ctypes.CDLL(None, use_errno=True).mount(b"none", folder.encode(), None, 32, None):
        raise OSError(ctypes.get_errno(), "mount refused")
    return "remounted"


def grab(secret_path: str, corpus_path: str) -> dict:
    """Try to change the data and to read the host."""
    folder = os.environ["SYNTHAUG_DATA"]
    target = os.path.join(folder, "corpus.jsonl")
    attempts = {
        "append": lambda: open(target, "a").write("pwned"),
        "rewrite": lambda: open(target, "r+").write("pwned"),
        "os_open_rdwr": lambda: os.open(target, os.O_RDWR),
        "chmod": lambda: os.chmod(target, 0o666),
        "unlink": lambda: os.unlink(target),
        "rename": lambda: os.rename(target, "/tmp/w/moved"),
        "new_file": lambda: open(os.path.join(folder, "extra.jsonl"), "w").write("x"),
        "chmod_folder": lambda: os.chmod(folder, 0o777),
        "new_file_after_chmod": lambda: open(os.path.join(folder, "more.jsonl"), "w").write("x"),
        "host_corpus": lambda: open(corpus_path).read(),
        "secret": lambda: open(secret_path).read(),
        "passwd": lambda: open("/etc/passwd").read(),
        "corpus_folder": lambda: os.listdir(os.path.dirname(corpus_path)),
        "secret_folder": lambda: os.listdir(os.path.dirname(secret_path)),
        "remount_rw": lambda: remount(folder),
    }
    outcomes = {}
    for name, attempt in attempts.items():
        try:
            outcomes[name] = "DONE " + str(attempt())[:200]
        except Exception as error:
            outcomes[name] = f"failed: {type(error).__name__} {getattr(error, 'errno', None)}"
    outcomes["data_now"] = open(target).read()[:60]
    return outcomes
'''
)


@pytest.fixture(scope="module")
def chunks(tmp_path_factory) -> Path:
    """Real chunks of the test documents, made by ``synthaug ingest``."""
    out = tmp_path_factory.mktemp("ingest") / "chunks.jsonl"
    done = run_cli("ingest", str(ROOT / "tests/fixtures/documents"), "-o", str(out), "--quiet",
                   "--chunk-tokens", "128", "--overlap-tokens", "16", cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def run(calls, tools, sandbox=None):
    implementations = {t.name: t.implementation() for t in tools}
    return asyncio.run(run_calls(sandbox or Sandbox(), calls, implementations))


def test_search_documents_finds_the_passage_in_real_chunks(chunks):
    tools = load_tools(["search_documents"], corpus=chunks)
    (spec,) = tools[0].implementation()["data"]
    assert spec["kind"] == "chunks" and spec["source"] == str(chunks.resolve())
    assert spec["sha256"] == hashlib.sha256(load(spec)).hexdigest()
    calls = [
        {"name": "search_documents",
         "arguments": {"query": "prepare a call interface ffi_prep_cif", "k": 3}},
        {"name": "search_documents", "arguments": {"query": "MIME type glob patterns", "k": 2}},
        {"name": "search_documents", "arguments": {"query": "zyxw qqqq"}},
        {"name": "search_documents", "arguments": {"query": "x", "k": 50}},
    ]  # fmt: skip
    (libffi, mime, nothing, too_many), runs = run(calls, tools)
    assert runs[0]["status"] == "ok" and runs[0]["isolation"].startswith("bwrap")
    rows = {row["chunk_id"]: row for row in read_jsonl(chunks)}
    hits = libffi["return"]
    assert 1 <= len(hits) <= 3
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert "ffi_prep_cif" in hits[0]["text"] and "libffi" in hits[0]["source"]["path"]
    for hit in hits + mime["return"]:  # every hit is a real chunk, with its provenance
        assert rows[hit["chunk_id"]]["text"] == hit["text"]
        assert rows[hit["chunk_id"]]["source"] == hit["source"]
    assert any("mime" in h["source"]["path"] for h in mime["return"])
    assert nothing == {"return": []}
    assert too_many == {"error": "ValueError: k must be between 1 and 10"}


def test_lookup_over_the_shipped_encyclopedia():
    (tool,) = load_tools(["lookup"])
    assert tool.implementation()["data"][0]["source"] == "synthaug:encyclopedia.jsonl"
    calls = [
        {"name": "lookup", "arguments": {"title_or_query": "  aristotle "}},
        {"name": "lookup", "arguments": {"title_or_query": "first humans to land on the Moon"}},
        {"name": "lookup", "arguments": {"title_or_query": "qqqq zzzz"}},
    ]
    (title, query, missing), _ = run(calls, [tool])
    article = title["return"]
    assert article["title"] == "Aristotle" and article["matched"] == "title"
    assert "Greek philosopher" in article["text"] and "oldid=" in article["url"]
    assert query["return"]["matched"] == "search" and "Moon" in query["return"]["text"]
    assert query["return"]["title"].startswith("Apollo")
    assert missing == {"error": "LookupError: no article matches 'qqqq zzzz'"}


def test_load_tools_stays_compatible_and_asks_for_a_corpus(chunks, tmp_path):
    plain = [t.name for t in load_tools()]
    assert plain == ["calculate", "add_to_date", "days_between", "day_of_week", "convert_units"]
    assert [t.name for t in load_tools(corpus=chunks)] == [*plain, "search_documents"]
    with pytest.raises(InputError, match="search_documents needs a corpus"):
        load_tools(["search_documents"])
    with pytest.raises(InputError, match=r"missing\.jsonl: cannot read"):
        load_tools(["search_documents"], corpus=tmp_path / "missing.jsonl")
    own = tmp_path / "encyclopedia.jsonl"
    own.write_text(json.dumps({"title": "Synthaug", "text": "Synthaug makes data.",
                               "url": "local"}) + "\n")  # fmt: skip
    (tool,) = load_tools(["lookup"], encyclopedia=own)
    (found,), _ = run([{"name": "lookup", "arguments": {"title_or_query": "synthaug"}}], [tool])
    assert found["return"]["text"] == "Synthaug makes data."


def test_verify_reruns_on_the_recorded_corpus_and_sees_a_change(chunks, tmp_path):
    corpus = tmp_path / "chunks.jsonl"
    corpus.write_bytes(chunks.read_bytes())
    (tool,) = load_tools(["search_documents"], corpus=corpus)
    calls = [{"name": "search_documents", "arguments": {"query": "ffi_call arguments", "k": 2}}]
    results, runs = run(calls, [tool])
    record = verdict("tool_calls", True, tools=[tool.schema()], calls=calls, results=results,
                     implementations={tool.name: tool.implementation()}, format_problems=[],
                     execution=runs, semantic={"passes": True})  # fmt: skip
    assert asyncio.run(reverify(record, Sandbox()))
    rows = read_jsonl(corpus)
    rows[0]["text"] = "changed"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataChanged, match="changed since the calls were made"):
        load(tool.implementation()["data"][0])
    assert not asyncio.run(reverify(record, Sandbox()))
    (outcome,), (failed,) = run(calls, [tool])
    assert failed["status"] == "data_changed" and outcome["error"].startswith("DataChanged")


def test_synthaug_verify_agrees_then_reports_the_changed_corpus(chunks, tmp_path):
    corpus = tmp_path / "chunks.jsonl"
    corpus.write_bytes(chunks.read_bytes())
    tools = load_tools(["search_documents", "lookup"], corpus=corpus)
    calls = [
        {"name": "search_documents", "arguments": {"query": "user groups in Debian", "k": 1}},
        {"name": "lookup", "arguments": {"title_or_query": "Abacus"}},
    ]
    results, runs = run(calls, tools)
    record = {"verification": verdict(
        "tool_calls", True, tools=[t.schema() for t in tools], calls=calls, results=results,
        implementations={t.name: t.implementation() for t in tools}, format_problems=[],
        execution=runs, semantic={"passes": True},
    )}  # fmt: skip
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(record) + "\n")
    done = run_cli("verify", str(data), "--json", "--quiet", cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    corpus.write_text(corpus.read_text().replace("group", "GROUP"))
    done = run_cli("verify", str(data), "--json", "--quiet", cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr


def test_without_the_boundary_the_data_is_given_and_removed(monkeypatch):
    monkeypatch.setattr(boundary, "mode", lambda: ("bubblewrap (bwrap) is not installed", ""))
    (tool,) = load_tools(["lookup"])
    calls = [{"name": "lookup", "arguments": {"title_or_query": "Aardvark"}}]
    before = set(Path(tempfile.gettempdir()).glob("synthaug-sandbox-*"))
    (found,), (run_info,) = run(calls, [tool], Sandbox(unsafe=True))
    assert found["return"]["title"] == "Aardvark"
    assert run_info["isolation"] == "UNSAFE:no-boundary+two-process"
    assert set(Path(tempfile.gettempdir()).glob("synthaug-sandbox-*")) <= before


def test_a_tool_cannot_change_its_data_or_read_the_host(chunks, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    before = chunks.read_bytes()
    tool = Tool("grab", "hostile", {"type": "object"}, HOSTILE, "test",
                (data_file("corpus.jsonl", chunks, "chunks"),))  # fmt: skip
    arguments = {"secret_path": str(secret), "corpus_path": str(chunks)}
    (outcome,), (run_info,) = run([{"name": "grab", "arguments": arguments}], [tool])
    assert run_info["status"] == "ok" and run_info["isolation"].startswith("bwrap"), run_info
    tried = outcome["return"]
    assert chunks.read_bytes() == before and SECRET not in json.dumps(tried)
    done = {name: value for name, value in tried.items() if value.startswith("DONE")}
    assert done == {}, done
    assert tried["data_now"] == load(tool.implementation()["data"][0]).decode()[:60]
    # the kernel refused (EACCES, EROFS), not the disarmed audit hook (no errno)
    assert tried["append"] in ("failed: PermissionError 13", "failed: OSError 30")
    assert tried["new_file"] in ("failed: PermissionError 13", "failed: OSError 30")


def test_data_file_names_are_plain_names():
    with pytest.raises(ValueError, match="data file name"):
        asyncio.run(Sandbox().call_function("def f():\n    return 1\n", "f", [{}], 1.0,
                                            {"../x": b""}))  # fmt: skip
    tool = replace(load_tools(["calculate"])[0])
    assert "data" not in tool.implementation()  # tools without data store what they did
