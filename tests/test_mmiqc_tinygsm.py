"""MMIQC iterative question composing and TinyGSM program variants: parsing of recorded
replies of the embedded model, the sandboxed checks, and both recipes end to end (the
135M model rarely gets these right: the checks are on the algorithm and the evidence)."""

from __future__ import annotations

import asyncio
import itertools

from conftest import run_recipe_twice

from synthaug.methods.reasoning.mmiqc import extract_program, parse_composed
from synthaug.methods.reasoning.tinygsm import parse_function, with_driver
from synthaug.verify.evidence import program_verdict, reverify
from synthaug.verify.math_answer import extract_answer, program_answer
from synthaug.verify.sandbox import Sandbox

# real replies of the embedded model (SmolLM2-135M-Instruct) to the prompts of these methods
# (the TinyGSM ones to an earlier wording of its prompt),
# for the first built-in problem (Isabella peels mushrooms; gold 220)
COMPOSE_REPLY = (
    "The new math problem is: 240 - 240 + 3 * 240 = 240 - 240 + 340 = 340 * 2 + 340 = "
    "240 + 240 + 340 = 600\n\nThe new math problem is: 100 + 100 + 100 = 200"
)
PROGRAM_REPLY = (
    "```python\ndef solve_math_problem():\n    time_to_peel_and_saute = 4 * 20\n    "
    'time_to_peel_and_saute_240 = 4 * 240\n    print(f"Time to peel and saute: '
    '{time_to_peel_and_saute}")\n    print(f"Time to peel and saute: '
    '{time_to_peel_and_saute_240}")\n\nsolve_math_problem()\n```\n\nThis code uses the formula '
    "for calculating time to peel and saute: `time_to_peel_and_saute = 10 * "
    "time_to_peel_and_saute_240`. This can be optimized to a single line of code:\n\n```python\n"
    "def solve_math_problem():\n    time_to_peel_and_sa"
)
COT_REPLY = (
    "To solve this problem, we need to calculate the time it takes Isabella to peel and saute "
    "240 mushrooms.\n\nWe know that Isabella can peel 4 mushrooms in 20 minutes, so to peel 240 "
    "mushrooms, we need to multiply 240 by 4.\n\nSo, 240 * 4 = 960 minutes are required to peel "
    "240 mushrooms.\n\nNow, we can calculate the time it takes Isabella to peel 240 mushrooms:\n"
    "240 * 4 = 960 minutes\n\nThe answer is 960.\n\nThe answer is 960."
)
TINYGSM_PLACEHOLDER = (
    '```python\ndef simple_math_problem():\n    """\n    <the new problem>\n    """\n    '
    'time_difference = 20 * 60\n    time_to_peel_and_saute = 30 * 240\n    print(f"The time to '
    'peel and saute 240 mushrooms takes {time_to_peel_and_saute} minutes.")\n\n'
    "simple_math_problem()\n```"
)
TINYGSM_REPLY = (
    '```python\ndef simple_math_problem():\n    """\n    Simple math problem\n    """\n    '
    'print(f"Simple math problem with different numbers and a different context.")\n    '
    "return 240\n```"
)


def test_program_extraction_and_agreement_check_on_recorded_replies():
    code = extract_program(PROGRAM_REPLY)
    assert code.startswith("def solve_math_problem():") and code.endswith("solve_math_problem()")
    assert extract_program("```py\nprint(1)") == "print(1)"  # a cut-off block still counts
    assert extract_program("print(2)\n") == "print(2)"
    assert extract_program("```python\n```") is None
    result = Sandbox().run_sync(code)
    assert result.ok and program_answer(result.stdout) == "960"  # its last printed line
    cot_answer = extract_answer(COT_REPLY)
    assert cot_answer == "960"
    verdict = program_verdict(code, cot_answer, result)
    assert verdict["verified"] and verdict["match"] and verdict["extracted"] == "960"
    assert asyncio.run(reverify(verdict, Sandbox()))
    failing = Sandbox().run_sync("raise ValueError('no')")
    assert not program_verdict("raise ValueError('no')", "960", failing)["verified"]


def test_composed_problem_parsing():
    assert parse_composed(COMPOSE_REPLY).startswith("The new math problem is: 240 - 240")
    assert parse_composed("New problem: Tom has 3 cats.\nSolution: 3") == "Tom has 3 cats."
    assert parse_composed("**New Problem:** A is 2.\n\n**Solution**\nB") == "A is 2."
    assert parse_composed("  ") is None


def test_tinygsm_functions_are_parsed_and_executed_for_their_return_value():
    assert parse_function(extract_program(TINYGSM_PLACEHOLDER)) is None  # placeholder docstring
    code, question = parse_function(extract_program(TINYGSM_REPLY))
    assert question == "Simple math problem" and code.endswith("return 240")
    result = Sandbox().run_sync(with_driver(code))
    assert result.ok and result.stdout == "240\n"  # the function's own print is silenced
    # module-level calls are dropped; imports and helpers are kept
    reply = (
        "import math\n\ndef helper():\n    return 2\n\n"
        'def simple_math_problem() -> int:\n    """Ann has 2 boxes of 3 pens. How many pens?"""\n'
        "    return helper() * 3\n\nprint(simple_math_problem())\n"
    )
    code, question = parse_function(reply)
    assert question == "Ann has 2 boxes of 3 pens. How many pens?" and "print(" not in code
    assert Sandbox().run_sync(with_driver(code)).stdout == "6\n"
    none = "def simple_math_problem():\n    '''Q?'''\n    print(5)\n"
    assert Sandbox().run_sync(with_driver(parse_function(none)[0])).stdout == ""
    assert parse_function("def other():\n    '''Q'''\n") is None
    assert parse_function("def simple_math_problem(:") is None


def test_mmiqc_recipe_composes_chains_and_records_both_answers(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "mmiqc",
        "--limit",
        "2",
        *("--set", "steps[1].params.keep_failed=true"),
        *("--set", "steps[1].params.max_tokens=64"),
        *("--set", "steps[1].params.solve_max_tokens=96"),
    )
    assert records
    sandbox = Sandbox()
    by_parent: dict[str, list[dict]] = {}
    for r in records:
        by_parent.setdefault(r["_meta"]["parents"][0], []).append(r)
        v = r["verification"]
        assert v["kind"] == "program" and v["verified"] == v["match"]
        assert r["cot_answer"] == extract_answer(r["solution"]) == v["gold"]
        assert r["program_answer"] == v["extracted"]
        if r["program"] is not None and v["execution"] is not None:
            assert v["code"] == r["program"]
        assert asyncio.run(reverify(v, sandbox))
    for chain in by_parent.values():  # each round's problem seeds the next
        assert [r["iteration"] for r in chain] == list(range(1, len(chain) + 1))
        assert chain[0]["seed_question"] == chain[0]["original_question"]
        for before, after in itertools.pairwise(chain):
            assert after["seed_question"] == before["question"]


def test_tinygsm_recipe_answers_come_from_execution(tmp_path):
    records = run_recipe_twice(
        tmp_path,
        "tinygsm",
        "--limit",
        "2",
        *("--set", "steps[1].params.variants=3"),
        *("--set", "steps[1].params.verifier=true"),
        *("--set", "steps[1].params.keep_failed=true"),
        *("--set", "steps[1].params.max_tokens=160"),
    )
    assert records
    sandbox = Sandbox()
    for r in records:
        v = r["verification"]
        assert r["answer_source"] == "execution" and v["kind"] == "program"
        assert parse_function(r["program"]) == (r["program"], r["question"])
        own = v.get("reference", v)  # with the verifier, the first program is the reference
        assert own["code"] == with_driver(r["program"])
        ran = own["execution"]
        assert r["answer"] == (program_answer(ran["stdout"]) if ran["status"] == "ok" else None)
        if "reference" in v:  # the second program is checked against the first one's answer
            assert v["gold"] == r["answer"]
        else:
            assert v["gold"] is None and r["answer"] is None and not v["verified"]
        assert asyncio.run(reverify(v, sandbox))
