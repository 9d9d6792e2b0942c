"""The command line as a user meets it: help, methods, bad input, bad recipes (real subprocesses)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

UNREACHABLE_OPENAI = ("--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "x")

LOAD_RECIPE = """name: copy
steps:
  - method: load
    params: {{path: {path}, required: [instruction]}}
"""


@pytest.mark.parametrize("command", [[], ["run"], ["plan"], ["methods"], ["inspect"]])
def test_every_command_has_help(command, tmp_path):
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: synthaug" in result.stdout


def test_methods_lists_taxonomy_and_stage(tmp_path):
    result = run_cli("methods", "--json", cwd=tmp_path)
    methods = {m["name"]: m for m in json.loads(result.stdout)}
    assert methods["self_instruct.bootstrap"]["stage"] == "instruction tuning"
    assert "self-improvement" in methods["self_instruct.bootstrap"]["taxonomy"]
    assert "2212.10560" in methods["self_instruct.bootstrap"]["paper"]


def bad_inputs(tmp_path):
    (tmp_path / "malformed.jsonl").write_text('{"instruction": "a"}\n{"instruction": \n')
    (tmp_path / "latin1.jsonl").write_bytes(b'{"instruction": "ok"}\n{"instruction": "caf\xe9"}\n')
    (tmp_path / "missing.jsonl").write_text('{"instruction": "a"}\n{"text": "b"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "folder").mkdir()
    return {
        "malformed.jsonl": "malformed.jsonl:2",
        "latin1.jsonl": "latin1.jsonl:2",
        "missing.jsonl": "missing.jsonl:2",
        "empty.jsonl": "empty",
        "folder": "directory",
        "nowhere.jsonl": "nowhere.jsonl",
    }


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    for name, expected in bad_inputs(tmp_path).items():
        recipe = tmp_path / f"{name}.yaml"
        recipe.write_text(LOAD_RECIPE.format(path=json.dumps(str(tmp_path / name))))
        out = tmp_path / "out" / f"{name}.jsonl"
        result = run_cli("run", str(recipe), "--out", str(out), "--quiet", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert expected in lines[0], (name, lines[0])
        assert not out.exists()
        if name != "missing.jsonl":  # inspect requires no field
            inspected = run_cli("inspect", str(tmp_path / name), cwd=tmp_path)
            assert inspected.returncode == 2 and len(inspected.stderr.strip().splitlines()) == 1


def test_good_input_round_trip_and_inspect(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"task {i}"}) + "\n" for i in range(5)))
    recipe = tmp_path / "copy.yaml"
    recipe.write_text(LOAD_RECIPE.format(path=json.dumps(str(source))))
    out = tmp_path / "out.parquet"
    result = run_cli("run", str(recipe), "--out", str(out), "--limit", "3", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(run_cli("inspect", str(out), "--json", cwd=tmp_path).stdout)
    assert info["rows"] == 3 and "instruction" in info["columns"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "steps[0].params.temperature=3",
            "steps[0].params.temperature: Input should be less than or equal to 2",
        ),
        ("steps[0].params.colour=red", "steps[0].params.colour: Extra inputs are not permitted"),
        (
            "steps[1].method=self_instruct.clasify",
            "steps[1].method: unknown method 'self_instruct.clasify' (did you mean self_instruct.classify",
        ),
        ("backend.parallel=0", "backend.parallel: Input should be greater than or equal to 1"),
        ("backend.paralel=2", "backend.paralel: no backend takes this option (local: model,"),
        (
            "backend.type=vllm",
            "backend.type: unknown backend 'vllm' (known: local, openai, openai_batch, openvino)",
        ),
        ("steps[9].params.x=1", "--set steps[9].params.x: no item 9 in steps"),
    ],
)
def test_recipe_errors_name_the_yaml_path(override, message, tmp_path):
    result = run_cli("run", "self_instruct", "--set", override, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_column_is_found_before_any_model_call(tmp_path):
    recipe = tmp_path / "r.yaml"
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "hello"}\n')
    recipe.write_text(
        LOAD_RECIPE.format(path=json.dumps(str(source))).replace(", required: [instruction]", "")
        + "  - method: self_instruct.classify\n"
    )
    result = run_cli(
        "run",
        str(recipe),
        *UNREACHABLE_OPENAI,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "steps[1] (self_instruct.classify): needs column(s) instruction" in result.stderr


def test_unreachable_backend_is_one_clear_error(tmp_path):
    result = run_cli(
        "run",
        "self_instruct",
        *UNREACHABLE_OPENAI,
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "cannot reach http://127.0.0.1:9/v1" in result.stderr


def test_methods_details_come_from_the_step(tmp_path):
    shown = run_cli("methods", "--details", "self_instruct.bootstrap", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["kind"] == "SourceStep" and info["calls_a_model"] is True
    assert "instruction" in info["writes"] and "2212.10560" in info["paper"]
    assert info["params"]["num_prompt_instructions"] == {"type": "int", "default": 8}
    assert info["params"]["rouge_threshold"]["default"] == 0.7
    text = run_cli("methods", "--details", "dedup_near", cwd=tmp_path).stdout
    assert "columns: list[str], required" in text and "threshold: float, default 0.8" in text
    unknown = run_cli("methods", "--details", "dedup_nears", cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean dedup_near" in unknown.stderr
