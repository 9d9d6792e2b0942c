"""Case2Code: functions by ast, schema-constrained inputs, sandboxed execution, prompts; and the
acceptance test: a corpus of hostile functions must finish with a recorded verdict for each."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from conftest import read_jsonl, run_cli, run_recipe_twice, summary_of

from synthaug.engine.step import RowError, StepContext
from synthaug.methods.code.case2code import (
    EXAMPLE_HEADERS,
    INSTRUCTIONS,
    Prompt,
    PromptParams,
    build_prompt,
    check_cases,
    humaneval_functions,
    inputs_schema,
    load_functions,
    parse_inputs,
    run_cases,
    value_schema,
)
from synthaug.methods.code.sources import collect_functions
from synthaug.verify.sandbox import Sandbox

# Real replies of the embedded SmolLM2-135M (temperature 0.2, schema-constrained, 5 inputs
# asked) for HumanEval/0..3.
RECORDED_INPUTS = {
    "has_close_elements": (
        '{\n    "inputs": [\n        {\n            "numbers": [\n                1.0, 2.0, 3.0, '
        '4.0, 5.0, 6.0],\n            "threshold": 0.5\n        },\n        {\n            '
        '"numbers": [\n                1.0, 2.8, 3.0, 4.0, 5.0, 6.0],\n            "threshold": '
        '0.3\n        },\n        {\n            "numbers": [\n                1.0, 2.0, 3.0, 4.0, '
        '5.0, 6.0],\n            "threshold": 0.3\n        },\n        {\n            "numbers": '
        '[\n                1.0, 2.0, 3.0, 4.0, 5.0, 6.0],\n            "threshold": 0.3\n        '
        "},\n        {\n            "
        '"numbers": [\n                1.0, 2.0, 3.0, 4.0, 5.0, 6.0],\n            "threshold": '
        "0.3\n        }\n    ]\n}"
    ),
    "truncate_number": (
        '{\n    "inputs": [\n        {\n            "number": 3.5\n        },\n        {\n'
        '            "number": 1.5\n        },\n        {\n            "number": 2.0\n        },\n'
        '        {\n            "number": 1.5\n        },\n        {\n            "number": 2.0\n'
        "        }\n    ]\n}"
    ),
    "below_zero": (
        '{\n    "inputs": [\n        {\n            "operations": [\n               \n'
        "            ]\n        },\n        {\n            "
        '"operations": [\n               \n            ]\n        }\n    ]\n}'
    ),
}

MODULE = """import os
from math import sqrt


def plain(a, b=2):
    return a * b


@staticmethod
def decorated(x: int) -> int:
    return x


def no_args():
    return 1


def positional_only(a, /, b):
    return a


async def coroutine(a):
    return a


class Box:
    def method(self, a):
        return a


def hyp(x: float, y: float) -> float:
    return sqrt(x * x + y * y)
"""


def test_humaneval_functions_are_full_canonical_solutions():
    functions = humaneval_functions()
    assert len(functions) == 164
    first = functions[0]
    assert first.name == "has_close_elements" and first.source == "HumanEval/0"
    assert first.args == ["numbers", "threshold"]
    assert first.annotations == {"numbers": "List[float]", "threshold": "float"}
    assert first.code.startswith("from typing import List") and "return False" in first.code
    for function in functions:
        compile(function.code, function.source, "exec")


def test_top_level_functions_by_ast_with_their_imports(tmp_path):
    functions = {f.name: f for f in collect_functions(MODULE, "m.py")}
    assert list(functions) == ["plain", "decorated", "hyp"]  # no-arg, pos-only, async, methods out
    assert functions["plain"].args == ["a", "b"]
    assert functions["decorated"].code.startswith(
        "import os\nfrom math import sqrt\n\n\n@staticmethod"
    )
    assert functions["hyp"].annotations == {"x": "float", "y": "float"}
    namespace: dict = {}
    exec(functions["hyp"].code, namespace)
    assert namespace["hyp"](3.0, 4.0) == 5.0
    assert collect_functions("def broken(:\n", "x.py") == []
    (tmp_path / "m.py").write_text(MODULE)
    (tmp_path / "n.py").write_text("def other(q):\n    return q\n")
    assert [f.name for f in load_functions(str(tmp_path))] == ["plain", "decorated", "hyp", "other"]
    assert len(load_functions("humaneval")) == len(load_functions(None)) == 164


def test_schema_requires_every_argument_typed_from_annotations():
    assert value_schema("int") == {"type": "integer"}
    assert value_schema("List[float]") == {"type": "array", "items": {"type": "number"}}
    assert value_schema("list[str]", 8, 3) == {
        "type": "array",
        "items": {"type": "string", "maxLength": 8},
        "maxItems": 3,
    }
    assert value_schema("Optional[int]") == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert value_schema("int | str")["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert value_schema(None) == {} and value_schema("MyClass") == {}
    assert "anyOf" in value_schema(None, 10, 4)
    schema = inputs_schema(["numbers", "threshold"], {"threshold": "float"}, 10)
    items = schema["properties"]["inputs"]
    assert items["minItems"] == items["maxItems"] == 10
    assert items["items"]["required"] == ["numbers", "threshold"]
    assert items["items"]["additionalProperties"] is False


def test_parse_inputs_on_recorded_replies():
    close = parse_inputs(RECORDED_INPUTS["has_close_elements"], ["numbers", "threshold"])
    assert close == [
        {"numbers": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "threshold": 0.5},
        {"numbers": [1.0, 2.8, 3.0, 4.0, 5.0, 6.0], "threshold": 0.3},
        {"numbers": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "threshold": 0.3},
    ]  # five written, duplicates removed
    assert parse_inputs(RECORDED_INPUTS["truncate_number"], ["number"]) == [
        {"number": 3.5},
        {"number": 1.5},
        {"number": 2.0},
    ]
    assert parse_inputs(RECORDED_INPUTS["below_zero"], ["operations"]) == [{"operations": []}]
    assert parse_inputs(RECORDED_INPUTS["truncate_number"], ["other"]) == []
    assert parse_inputs('{"inputs": [{"number": 1', ["number"]) == []  # cut off


def test_filter_rules():
    ok, err = {"return": 1}, {"error": "ZeroDivisionError: division by zero"}
    for inputs, outputs, kind in [
        ([], [], "no_cases"),
        ([{"a": 1}], [], "no_cases"),
        ([{"a": 1}, {"a": 2}], [ok], "count_mismatch"),
        ([{"a": 1}, {"a": 2}], [err, err], "all_errors"),
    ]:
        with pytest.raises(RowError) as failed:
            check_cases(inputs, outputs, keep_errors=False)
        assert failed.value.kind == kind
    inputs = [{"a": 1}, {"a": 0}, {"a": 2}]
    assert check_cases(inputs, [ok, err, ok], False) == ([{"a": 1}, {"a": 2}], [ok, ok])
    assert check_cases(inputs, [ok, err, ok], True) == (inputs, [ok, err, ok])


def _row(n=6):
    return {
        "func_name": "double",
        "code": "def double(x):\n    return 2 * x\n",
        "example_inputs": [{"x": i} for i in range(n)],
        "example_outputs": [{"return": 2 * i} for i in range(n)],
        "_meta": {"id": "r1"},
    }


def test_prompt_construction():
    params = PromptParams()
    with_header = with_name = 0
    for seed in range(200):
        prompt, response, chosen = build_prompt(_row(), random.Random(seed), params)
        assert 3 <= len(chosen) <= 6 and len(set(chosen)) == len(chosen)
        assert any(instruction in prompt for instruction in INSTRUCTIONS)
        assert (
            response == "Here is the function:\n\n```python\ndef double(x):\n    return 2 * x\n```"
        )
        for index in chosen:
            assert str(2 * index) in prompt
        with_header += any(header.strip() in prompt for header in EXAMPLE_HEADERS)
        with_name += "double" in prompt.replace("double(", "")
    assert 0.65 < with_header / 200 < 0.95 and 0.6 < with_name / 200 < 0.95
    assert build_prompt(_row(), random.Random(1), params) == build_prompt(
        _row(), random.Random(1), params
    )
    few = build_prompt(_row(2), random.Random(0), params)[2]
    assert sorted(few) == [0, 1]  # 3 or fewer: all of them
    bare = PromptParams(p_examples_header=0, p_function_name=0)
    for seed in range(20):
        prompt = build_prompt(_row(), random.Random(seed), bare)[0]
        assert not any(header.strip() in prompt for header in EXAMPLE_HEADERS)


def test_prompt_step_task_options_and_length_limit():
    ctx = StepContext(llm=None, run_seed=0, step_name="prompt")
    [record] = asyncio.run(Prompt().process(_row(), ctx))
    assert record["task"] == "case2code" and record["messages"][1]["content"] == record["response"]
    assert record["_meta"]["parents"] == ["r1"]
    [inverse] = asyncio.run(Prompt(task="output_prediction").process(_row(), ctx))
    [index] = inverse["chosen_example_idx"]
    assert f">>> double(x={index})" in inverse["prompt"] and inverse["response"] == str(2 * index)
    long = _row()
    long["code"] = "def double(x):\n    return 2 * x\n" + "#" * 500
    with pytest.raises(RowError) as too_long:
        asyncio.run(Prompt(max_prompt_chars=200, task="output_prediction").process(long, ctx))
    assert too_long.value.kind == "prompt_too_long"


def test_case2code_recipe_end_to_end_and_reverify(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "case2code",
        "--limit",
        "2",
        "--set",
        "steps[1].params.num_inputs=4",
        "--set",
        "steps[1].params.max_tokens=256",
    )
    summary = summary_of(tmp_path / "data.jsonl")
    assert summary["steps"][1]["rows_in"] == 2
    assert records, "HumanEval/0 and /1 inputs are written and run"
    for record in records:
        verification = record["verification"]
        assert verification["kind"] == "cases" and verification["verified"]
        assert verification["inputs"] == record["example_inputs"]
        assert verification["outputs"] == record["example_outputs"]
        assert all("return" in output for output in record["example_outputs"])
        assert record["response"].endswith(f"{record['code'].rstrip()}\n```")
    checked = run_cli("verify", str(tmp_path / "data.jsonl"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


HOSTILE = """import os


def spin(n: int) -> int:
    while True:
        pass


def memory_bomb(n: int) -> int:
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def fork_loop(n: int) -> int:
    while True:
        os.fork()


def write_outside(n: int) -> int:
    with open({marker!r}, "w") as handle:
        handle.write("escaped")
    return n


def hard_exit(n: int) -> int:
    os._exit(0)


def double(n: int) -> int:
    return 2 * n
"""


def _hostile_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    marker = tmp_path / "escaped.txt"
    (corpus / "hostile.py").write_text(HOSTILE.format(marker=str(marker)))
    return corpus, marker


def test_hostile_functions_get_verdicts_never_hang(tmp_path):
    """Each hostile function runs in the sandbox on fixed inputs and gets a verdict."""
    corpus, marker = _hostile_corpus(tmp_path)
    functions = {f.name: f for f in load_functions(str(corpus))}
    assert set(functions) == {
        "spin",
        "memory_bomb",
        "fork_loop",
        "write_outside",
        "hard_exit",
        "double",
    }
    sandbox = Sandbox()
    inputs = [{"n": 1}, {"n": 2}, {"n": 3}]

    async def verdicts():
        async def one(function):
            try:
                return await run_cases(sandbox, function.code, function.name, inputs)
            except RowError as error:
                return error

        names = list(functions)
        results = await asyncio.gather(*(one(functions[name]) for name in names))
        return dict(zip(names, results, strict=True))

    started = time.monotonic()
    results = asyncio.run(verdicts())
    assert time.monotonic() - started < 60
    assert results["double"]["example_outputs"] == [{"return": 2}, {"return": 4}, {"return": 6}]
    for name in ("spin", "memory_bomb", "fork_loop", "write_outside"):
        assert isinstance(results[name], RowError), name
        assert results[name].kind in {"all_errors", "execution_failed"}, (name, results[name])
    assert results["spin"].kind == "all_errors" and "1.0 s" in str(results["spin"])
    # filling the 1 GB address-space limit may take longer than the 1 s a call gets
    assert any(e in str(results["memory_bomb"]) for e in ("MemoryError", "_Timeout"))
    assert "PermissionError" in str(results["fork_loop"])  # refused, not run
    assert "PermissionError" in str(results["write_outside"])
    assert results["hard_exit"].kind == "execution_failed"
    assert "exited_early" in str(results["hard_exit"])
    assert not marker.exists()


def test_case2code_run_on_hostile_corpus_finishes_with_recorded_verdicts(tmp_path):
    """Acceptance: a whole run over hostile generated code finishes and records every verdict."""
    corpus, marker = _hostile_corpus(tmp_path)
    started = time.monotonic()
    records = run_recipe_twice(
        tmp_path,
        "case2code",
        "--set",
        f"steps[0].params.path={corpus}",
        "--set",
        "steps[1].params.num_inputs=3",
        "--set",
        "steps[1].params.max_tokens=96",
    )
    assert time.monotonic() - started < 540
    assert not marker.exists()
    summary = summary_of(tmp_path / "data.jsonl")
    inputs = summary["steps"][1]
    assert inputs["rows_in"] == 6
    assert inputs["rows_out"] + sum(inputs["errors"].values()) == 6
    failed = read_jsonl(tmp_path / "data.errors.jsonl")
    by_function = {}
    for row in failed:
        by_function[row["func_name"]] = row["_meta"]["error"]
    executed = {"all_errors", "execution_failed"}
    for name in ("spin", "memory_bomb", "fork_loop", "write_outside", "hard_exit"):
        # the schema-constrained inputs parse, so every function was executed and judged
        assert by_function[name]["kind"] in executed, (name, by_function[name])
    assert by_function["hard_exit"]["kind"] == "execution_failed"
    assert "PermissionError" in by_function["fork_loop"]["message"]
    for record in records:
        assert record["func_name"] == "double"
        assert all(
            o == {"return": 2 * i["n"]}
            for i, o in zip(record["example_inputs"], record["example_outputs"], strict=True)
        )
    assert summary["sandbox"]["executions"] == 0  # the rerun replayed every execution
