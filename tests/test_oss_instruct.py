"""OSS-Instruct (Magicoder): seed extraction, header parsing, cleaning, sandbox check, e2e."""

from __future__ import annotations

import asyncio
import random

import pytest
from conftest import read_jsonl, run_recipe_twice, summary_of

from synthaug.curate.benchmarks import load_benchmark
from synthaug.engine.resources import RunResources
from synthaug.engine.step import RowError, StepContext
from synthaug.errors import InputError
from synthaug.methods.code.oss_instruct import (
    Clean,
    Generate,
    Seeds,
    copies_a_codeblock,
    detect_codeblocks,
    extract_seed,
    parse_problem_solution,
    parse_reply,
)
from synthaug.methods.code.sources import read_code_documents
from synthaug.methods.common.code import python_code
from synthaug.recipe import build_pipeline, load_recipe
from synthaug.verify.sandbox import Sandbox

# Real replies of the embedded SmolLM2-135M (temperature 0) to OSS-Instruct prompts.
NO_HEADERS = (
    "```python\ndef under2camel(under_string):\n"
    '    """Converts an underscored string to camelcased. Useful for turning a function name '
    'into a class name.\n    """\n    return f"Under2camel({under_string})"\n```\n\n'
    "Example output:\n```python\nUnder2camel('complex_tokenizer')\n```"
)
EMPTY_PROBLEM = "[Problem Description]\n\n[Solution]\n(the solution)"
BOTH_SECTIONS = (
    "[Problem Description]\n```python\ndef count_vowels(text):\n"
    '    return sum(1 for ch in text.lower() if ch in "aeiou")\n```\n\n'
    "[Solution]\n```python\ndef count_vowels(text):\n"
    "    return len(set(text.lower().split()))\n```\n\n"
    '[Example]\n```python\nprint(count_vowels("Hello, World!"))  # Output: 3\n'
    'print(count_vowels("Hello, World!"))  # Output: 3\n```'
)


def test_parse_problem_solution_on_recorded_replies():
    problem, solution = parse_problem_solution(BOTH_SECTIONS)
    assert problem.startswith("```python\ndef count_vowels(text):") and "[Solution]" not in problem
    assert solution.startswith("```python\ndef count_vowels(text):\n    return len(set(")
    assert solution.endswith("# Output: 3\n```")  # everything after [Solution] is the solution
    with pytest.raises(RowError) as missing:
        parse_problem_solution(NO_HEADERS)
    assert missing.value.kind == "missing_header"
    with pytest.raises(RowError) as empty:
        parse_problem_solution(EMPTY_PROBLEM)
    assert empty.value.kind == "empty_section"
    with pytest.raises(RowError) as unfinished:
        parse_reply(BOTH_SECTIONS, "length")
    assert unfinished.value.kind == "unfinished"
    assert parse_reply(BOTH_SECTIONS, "stop") == (problem, solution)


def test_headers_are_case_insensitive_ordered_and_markup_tolerant():
    text = (
        "**[PROBLEM DESCRIPTION]**\nSum a list.\n\n### [solution]: Use sum.\n```python\nsum(x)\n```"
    )
    problem, solution = parse_problem_solution(text)
    assert problem == "Sum a list."
    assert solution.startswith("Use sum.\n```python")
    with pytest.raises(RowError) as order:
        parse_problem_solution("[Solution]\nx = 1\n[Problem Description]\nWhat is x?")
    assert order.value.kind == "headers_out_of_order"


def test_seed_is_1_to_15_consecutive_lines_from_a_random_start():
    document = "".join(f"line {i}\n" for i in range(100))
    lines = document.splitlines(keepends=True)
    for seed in range(50):
        text, start, count = extract_seed(document, random.Random(seed), 1, 15)
        assert 1 <= count <= 15 and 1 <= start <= 100
        assert text == "".join(lines[start - 1 : start - 1 + count])
    assert extract_seed(document, random.Random(3), 1, 15) == extract_seed(
        document, random.Random(3), 1, 15
    )
    assert extract_seed("", random.Random(0), 1, 15) == ("", 0, 0)


def _rows(step, seed=0):
    async def collect():
        ctx = StepContext(llm=None, run_seed=seed, step_name=step.name)
        return [row async for row in step.rows(ctx)]

    return asyncio.run(collect())


def test_seed_source_reads_the_builtin_seeds_or_any_code_folder(tmp_path):
    documents = read_code_documents(None)
    assert len(documents) == 40 and all(name.endswith(".py") for name, _ in documents)
    assert all("boltons==26.2.0" in text for _, text in documents)
    rows = _rows(Seeds())
    assert 35 <= len(rows) <= 40  # seeds of blank lines only are skipped
    by_name = dict(documents)
    for row in rows:
        start = row["seed_start_line"]
        assert row["seed"] in by_name[row["seed_path"]]
        assert (
            row["seed"]
            == "".join(
                by_name[row["seed_path"]].splitlines(keepends=True)[start - 1 : start - 1 + 15]
            )[: len(row["seed"])]
        )
    assert _rows(Seeds()) == rows and _rows(Seeds(), seed=1) != rows

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("def f():\n    return 3\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    assert [name for name, _ in read_code_documents(str(tmp_path / "pkg"))] == ["a.py", "sub/b.py"]
    cycled = _rows(Seeds(path=str(tmp_path / "pkg"), count=5, min_lines=1, max_lines=1))
    assert [r["seed_path"] for r in cycled] == ["a.py", "sub/b.py"] * 2 + ["a.py"]
    assert all(r["seed"].count("\n") == 1 for r in cycled)
    with pytest.raises(InputError):
        read_code_documents(str(tmp_path / "missing"))
    with pytest.raises(ValueError):
        Seeds(min_lines=5, max_lines=2)


def test_clean_drops_whitespace_duplicates_of_seed_problem_or_solution():
    rows = [
        {"seed": "a = 1", "problem": "P one", "solution": "S one", "_meta": {"id": "1"}},
        {"seed": "a=1\n", "problem": "P two", "solution": "S two", "_meta": {"id": "2"}},
        {"seed": "b = 2", "problem": "P  one", "solution": "S three", "_meta": {"id": "3"}},
        {"seed": "c = 3", "problem": "P four", "solution": "S\tthree", "_meta": {"id": "4"}},
        {"seed": "d = 4", "problem": "P five", "solution": "S five", "_meta": {"id": "5"}},
    ]

    async def run():
        async def source():
            for row in rows:
                yield row

        ctx = StepContext(llm=None, run_seed=0, step_name="clean")
        return [row["_meta"]["id"] async for row in Clean().transform(source(), ctx)]

    # 2 repeats 1's seed and 3 its problem; 4 repeats only the solution of 3, which was dropped
    assert asyncio.run(run()) == ["1", "4", "5"]


def _clean(rows, step=None):
    async def run():
        async def source():
            for row in rows:
                yield row

        ctx = StepContext(llm=None, run_seed=0, step_name="clean")
        return [row["_meta"]["id"] async for row in (step or Clean()).transform(source(), ctx)]

    return asyncio.run(run())


def test_clean_drops_a_solution_that_copies_a_code_block_of_the_problem():
    # Magicoder's filter_same_codeblocks: blocks between lines starting with ``` (indented
    # fences too), compared with all whitespace removed
    problem = "Fix the bug:\n```python\ndef add(a, b):\n    return a - b\n```\nIt subtracts."
    copied = "Here it is:\n  ```python\ndef add(a,b):\n  return a - b\n  ```\nDone."
    fixed = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert [b.strip() for b in detect_codeblocks(copied)] == ["def add(a,b):\n  return a - b"]
    rows = [
        {"seed": "s1", "problem": problem, "solution": copied, "_meta": {"id": "copied"}},
        {
            "seed": "s2",
            "problem": problem + " Please.",
            "solution": fixed,
            "_meta": {"id": "fixed"},
        },
        {
            "seed": "s3",
            "problem": "Add two numbers.",
            "solution": "Use +.",
            "_meta": {"id": "prose"},
        },
    ]
    assert _clean(rows) == ["fixed", "prose"]
    assert _clean(rows, Clean(same_codeblocks=False)) == ["copied", "fixed", "prose"]


def _decontaminate(steps, row):
    async def run():
        rows = [row]
        for step in steps:
            ctx = StepContext(llm=None, run_seed=0, step_name=step.name)
            rows = [out for r in rows for out in await step.process(r, ctx)]
        return rows

    return asyncio.run(run())


def test_recipe_decontaminates_against_humaneval_mbpp_gsm8k_by_substrings_and_ngrams():
    pipeline = build_pipeline(load_recipe("oss_instruct"))
    steps = [step for step in pipeline.steps if step.method == "decontaminate"]
    assert {step.params.mode for step in steps} == {"substring", "overlap"}
    mbpp = {item.item_id: item for item in load_benchmark("mbpp")}
    short = next(i for i in mbpp.values() if len(i.targets[0].split()) < 12)  # below a 13-gram
    gsm8k, humaneval = load_benchmark("gsm8k")[7], load_benchmark("humaneval")[2]
    code = "```python\n" + mbpp["12"].targets[1] + "\n```"
    contaminated = {
        "mbpp text": ("Please " + short.targets[0].lower(), "def f():\n    return 1"),
        "mbpp solution": ("Sort the rows of a matrix by their sums.", code),
        "gsm8k question": (gsm8k.text, "The answer is 42."),
        "humaneval docstring": (humaneval.targets[0].upper(), "return number % 1.0"),
    }
    for kind, (problem, solution) in contaminated.items():
        row = {"problem": problem, "solution": solution, "_meta": {"id": kind}}
        assert _decontaminate(steps, row) == [], kind
    clean = {"problem": "Write a function that reverses a string.", "solution": "s[::-1]"}
    assert _decontaminate(steps, {**clean, "_meta": {"id": "clean"}}) == [
        {**clean, "_meta": {"id": "clean"}}
    ]


def test_solution_code_runs_in_the_sandbox_as_a_tests_verdict():
    _, solution = parse_problem_solution(BOTH_SECTIONS)
    code = python_code(solution)
    assert code.startswith("def count_vowels(text):") and "print(count_vowels(" in code
    ctx = StepContext(
        llm=None, run_seed=0, step_name="generate", resources=RunResources(sandbox=Sandbox())
    )
    step = Generate(verify="record")
    passed = asyncio.run(step.verification(solution, ctx))
    assert passed["kind"] == "tests" and passed["verified"] and passed["tests"] == ""
    # it runs (the check of a solution without tests), though its answer is wrong: 2, not 3
    assert passed["execution"]["status"] == "ok" and passed["execution"]["stdout"] == "2\n2\n"
    failed = asyncio.run(step.verification("```python\nraise SystemError('no')\n```", ctx))
    assert not failed["verified"] and failed["execution"]["status"] == "error"
    assert asyncio.run(step.verification("Just prose, no code.", ctx)) is None


def test_oss_instruct_recipe_end_to_end(tmp_path):
    # run seed 0 (the recipe's): the embedded model answers the second seed snippet (boltons'
    # cachedproperty) with both sections and stops within 512 tokens, so a record comes out.
    # One decoding slot: greedy replies decoded in a batch differ slightly from those decoded
    # alone, and this one is pinned as decoded alone.
    records = run_recipe_twice(
        tmp_path,
        "oss_instruct",
        "--limit",
        "2",
        "--set",
        "steps[1].params.max_tokens=512",
        "--set",
        "backend.parallel=1",
    )
    summary = summary_of(tmp_path / "data.jsonl")
    generate = summary["steps"][1]
    assert generate["rows_in"] == 2
    allowed = {"unfinished", "missing_header", "headers_out_of_order", "empty_section"}
    assert set(generate["errors"]) <= allowed
    assert generate["rows_out"] + sum(generate["errors"].values()) == 2
    errors = tmp_path / "data.errors.jsonl"
    failed = read_jsonl(errors) if errors.exists() else []
    assert all(r["_meta"]["error"]["kind"] in allowed for r in failed)
    assert len(records) >= 1
    documents = dict(read_code_documents(None))
    for record in records:
        problem, solution = record["problem"], record["solution"]
        # the reply's two sections, headers removed, paired as the training conversation
        assert problem and solution
        assert (
            "[solution]" not in problem.lower() and "[problem description]" not in solution.lower()
        )
        assert record["messages"] == [
            {"role": "user", "content": problem},
            {"role": "assistant", "content": solution},
        ]
        # the seed is consecutive lines of a built-in document, from its start line
        lines = documents[record["seed_path"]].splitlines(keepends=True)
        start, count = record["seed_start_line"] - 1, len(record["seed"].splitlines())
        assert 1 <= count <= 15 and record["seed"] == "".join(lines[start : start + count])
        assert record["_meta"]["method"] == "oss_instruct.generate"
        assert len(record["_meta"]["parents"]) == 1 and len(record["_meta"]["request"]) == 1
        # verify: record runs the solution's code (or records that there is none)
        verdict = record["verification"]
        assert verdict is None or (
            verdict["kind"] == "tests"
            and verdict["verified"] == (verdict["execution"]["status"] == "ok")
        )
        assert not copies_a_codeblock(problem, solution)
