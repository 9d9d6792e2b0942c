"""API-grounded code data: the API index, reference collection, the sandboxed "no hallucinated
API" check and its re-verification, and one small recipe run on the embedded model."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import read_jsonl, run_cli, summary_of, write_jsonl

from synthaug.engine.step import RowError
from synthaug.errors import InputError
from synthaug.methods.code.api_grounded import grounded, parse_instruction
from synthaug.retrieval.api_index import ApiSource, api_index, load_entries
from synthaug.verify.api_refs import api_verdict, collect_references
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

HALLUCINATED = "import json\n\n\ndef dump(data):\n    return json.dumpz(data)\n"


def names(code: str) -> list[str]:
    return [ref["name"] for ref in collect_references(code)]


def test_references_follow_aliases_from_imports_and_attribute_chains():
    code = (
        "import json\nimport os.path\nimport collections as c\n"
        "from pathlib import Path as P\nfrom itertools import *\n"
        "def f(data, path):\n"
        "    text = json.dumps(data, indent=2)\n"
        "    joined = os.path.join('a', 'b')\n"
        "    counts = c.Counter(text).most_common(3)\n"
        "    reader = P.read_text\n"
        "    return P(path).exists(), json.decoder.JSONDecodeError\n"
    )
    assert [(r["name"], r["line"], r["module"]) for r in collect_references(code)] == [
        ("json", 1, "json"),
        ("os.path", 2, "os.path"),
        ("collections", 3, "collections"),
        ("pathlib.Path", 4, "pathlib"),
        ("itertools", 5, "itertools"),
        ("json.dumps", 7, "json"),
        ("os.path.join", 8, "os"),  # ``import os.path`` binds ``os``
        ("collections.Counter", 9, "collections"),  # the call ends the chain
        ("pathlib.Path.read_text", 10, "pathlib"),
        ("json.decoder.JSONDecodeError", 11, "json"),
    ]


def test_rebound_names_optional_imports_and_relative_imports():
    code = (
        "import json\nfrom . import sibling\n"
        "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
        "def f(json_text):\n    json = {'a': 1}\n    return json.items(), ujson.dumps(1)\n"
    )
    # ``json`` is rebound (its chains are not the module's); ``ujson`` is optional
    assert names(code) == ["json", ".sibling"]
    assert names("x = 1\nprint(x.real)\n") == []
    with pytest.raises(SyntaxError):
        collect_references("def f(:\n")


def test_api_check_resolves_in_the_sandbox_and_reverifies():
    sandbox = Sandbox()
    good = "import json\nfrom pathlib import Path\nprint(json.dumps(str(Path.read_text)))\n"
    verification = asyncio.run(api_verdict(sandbox, good, []))
    assert verification["kind"] == "api_exists" and verification["verified"]
    assert [r["name"] for r in verification["references"]] == [
        "json", "pathlib.Path", "json.dumps", "pathlib.Path.read_text",
    ]  # fmt: skip
    assert asyncio.run(reverify(verification, Sandbox()))

    bad = asyncio.run(api_verdict(sandbox, HALLUCINATED + "import numpy\nimport nosuchmod\n", []))
    outcome = {r["name"]: (r["resolved"], r.get("reason")) for r in bad["references"]}
    assert not bad["verified"]
    assert outcome["json.dumpz"] == (False, "json has no attribute 'dumpz'")
    assert outcome["numpy"] == (False, "'numpy' is not an allowed module")
    assert outcome["nosuchmod"] == (False, "'nosuchmod' is not an allowed module")
    assert outcome["json"] == (True, None)
    # written by the embedded model: a class imported as if it were a module
    not_a_module = asyncio.run(api_verdict(sandbox, "import statistics.NormalDist as Nd\n", []))
    assert not not_a_module["verified"]
    assert "ModuleNotFoundError" in not_a_module["references"][0]["reason"]
    allowed = asyncio.run(api_verdict(sandbox, "import numpy\nnumpy.zeros(2)\n", ["numpy"]))
    assert allowed["verified"] and asyncio.run(reverify(allowed, Sandbox()))


def test_forged_record_with_hallucinated_api_is_never_verified(tmp_path):
    honest = asyncio.run(api_verdict(Sandbox(), HALLUCINATED, []))
    assert not honest["verified"]
    # the forgery claims every reference resolved; a second one also hides json.dumpz
    claimed = [dict(r, resolved=True) for r in honest["references"]]
    forged = dict(honest, verified=True, references=claimed)
    hidden = dict(forged, references=[r for r in claimed if r["name"] != "json.dumpz"])
    rows = [{"id": 1, "verification": honest}, {"id": 2, "verification": forged},
            {"id": 3, "verification": hidden}]  # fmt: skip
    assert [asyncio.run(reverify(r["verification"], Sandbox())) for r in rows] == [
        True, False, False,
    ]  # fmt: skip
    data = write_jsonl(tmp_path / "forged.jsonl", rows)
    checked = run_cli("verify", str(data), "--json", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["by_kind"] == {"api_exists": {"checked": 3, "agreed": 1}}
    assert report["disagreements"] == ["record 2", "record 3"]


def test_stdlib_index_entries_and_retrieval():
    entries = load_entries(ApiSource())
    by_name = {e.name: e for e in entries}
    expected = ["json.dumps", "pathlib.Path.read_text", "itertools.chain", "collections.Counter",
                "collections.Counter.most_common", "re.sub", "textwrap.wrap"]  # fmt: skip
    assert set(expected) <= set(by_name)
    assert by_name["json.dumps"].signature.startswith("(obj, *, skipkeys=False")
    assert by_name["json.dumps"].doc.startswith("Serialize ``obj`` to a JSON formatted ``str``")
    assert not any(part.startswith("_") for e in entries for part in e.name.split("."))
    assert set(by_name["json.dumps"].as_row()) == {"name", "kind", "signature", "doc", "module"}
    assert " at 0x" not in "".join(e.signature for e in entries)  # stable prompts
    hits = [e.name for e, _ in api_index(ApiSource()).search("serialize an object to JSON", 3)]
    assert "json.dumps" in hits


def test_source_code_index_reads_files_without_importing_them(tmp_path):
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('must not be imported')\n")
    (package / "area.py").write_text(
        '__all__ = ["circle", "Square"]\n\n'
        'def circle(r: float) -> float:\n    """Area of a circle.\n\n    More."""\n'
        "    return 3.14159 * r * r\n\n\ndef hidden():\n    pass\n\n\n"
        "class Square:\n    def __init__(self, side):\n        self.side = side\n\n"
        '    def area(self):\n        """The area."""\n        return self.side ** 2\n'
    )
    source = ApiSource(path=str(package))
    entries = {e.name: e for e in load_entries(source)}
    assert set(entries) == {"shapes.area.circle", "shapes.area.Square", "shapes.area.Square.area"}
    circle = entries["shapes.area.circle"]
    assert circle.signature == "(r: float) -> float"
    assert (circle.doc, circle.line) == ("Area of a circle.", 3)
    assert entries["shapes.area.Square"].signature == "(side)"
    assert source.allowed() == ["shapes"]
    installed = load_entries(ApiSource(package="jinja2"))
    assert any(e.name == "jinja2.environment.Template.render" for e in installed)
    with pytest.raises(InputError):
        load_entries(ApiSource(package="no_such_package_here"))
    with pytest.raises(ValueError):
        ApiSource(modules=("numpy",))


def test_instruction_parsing_and_grounding():
    assert parse_instruction(
        "Task: Write `f(xs)` that returns the sum.\n```python\n", "length"
    ) == ("Write `f(xs)` that returns the sum.")
    for text, reason, kind in [("Write f.", "stop", "empty_instruction"),
                               ("Write a function that ...", "length", "unfinished")]:  # fmt: skip
        with pytest.raises(RowError) as error:
            parse_instruction(text, reason)
        assert error.value.kind == kind
    references = [{"name": "json", "resolved": True}, {"name": "pathlib.Path", "resolved": True}]
    assert grounded(references, ["pathlib.Path.read_text", "re.sub"]) == ["pathlib.Path"]
    assert grounded(references, ["re.sub"]) == []
    assert grounded([{"name": "json", "resolved": True}], ["json.dumps"]) == []


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """One small api_grounded_code run on the embedded model (4 tasks, short replies)."""
    workdir = tmp_path_factory.mktemp("api-grounded")
    out = workdir / "data.jsonl"
    args = ["run", "api_grounded_code", "--out", str(out), "--quiet",
            "--set", "steps[0].params.count=4", "--set", "steps[1].params.max_tokens=96",
            "--set", "steps[2].params.max_tokens=160", "--set", "steps[2].params.k=3",
            # one slot and one thread: the same replies on any machine (batching and the
            # thread count change llama.cpp's samples; some settings leave no code to check)
            "--set", "backend.deterministic=true", "--set", "backend.threads=1"]  # fmt: skip
    done = run_cli(*args, cwd=workdir, env={"SYNTHAUG_CACHE": str(workdir / "cache.sqlite3")})
    assert done.returncode == 0, done.stderr
    return out


def test_recipe_end_to_end_and_verify_agrees(recipe_run):
    out, errors = recipe_run, recipe_run.with_name("data.errors.jsonl")
    records = read_jsonl(out)
    failed = read_jsonl(errors) if errors.exists() else []
    steps = summary_of(out)["steps"]
    assert steps[0]["rows_out"] == 4
    assert set(steps[1]["errors"]) <= {"unfinished", "empty_instruction"}
    assert set(steps[2]["errors"]) <= {"no_code", "hallucinated_api", "ungrounded"}
    for record in records:
        verification = record["verification"]
        assert verification["kind"] == "api_exists" and verification["verified"]
        assert all(r["resolved"] for r in verification["references"])
        assert verification["code"] == record["code"] and record["grounded_apis"]
        assert record["seed_apis"] and record["retrieved_apis"][0]
    for row in failed:
        error = row["_meta"]["error"]
        if error["kind"] == "hallucinated_api":
            assert not row["verification"]["verified"] and error["message"].startswith(
                "unresolved:"
            )
    checked_files = [p for p, rows in ((out, records), (errors, failed))
                     if any("verification" in r for r in rows)]  # fmt: skip
    assert checked_files, "no solution was checked"
    for path in checked_files:
        report = run_cli("verify", str(path), "--json", cwd=path.parent)
        assert report.returncode == 0, report.stdout + report.stderr
        assert json.loads(report.stdout)["agreement"] == 1.0
