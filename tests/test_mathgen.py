"""Scripted AMPS-style math generators: every answer re-derived independently from the question
text (substitution, differentiation, brute-force enumeration), reproducibility from the seed,
the ``mathgen`` recipe (no model) and third-party generators through entry points."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import re
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from conftest import read_jsonl, run_cli, run_recipe_twice

from synthaug.mathgen import GENERATORS, MATH, PHYSICS, GeneratorError, available, regenerate
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox

SEEDS = range(25)
x = sympy.Symbol("x")


def items(name: str, **params):
    for seed in SEEDS:
        yield regenerate(name, seed, params)


def grab(pattern: str, text: str) -> re.Match:
    match = re.search(pattern, text, flags=re.S)
    assert match, f"{pattern!r} not in {text!r}"
    return match


def rational(text: str) -> sympy.Rational:
    return sympy.Rational(text)


# --- the contract ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GENERATORS))
def test_contract_and_reproducibility(name):
    for seed in range(10):
        made = regenerate(name, seed, {})
        assert {"question", "answer", "solution", "params"} <= set(made)
        assert made["solution"].splitlines()[-1] == f"The answer is {made['answer']}."
        assert len(made["solution"].splitlines()) >= 2, "a solution shows its steps"
        params = json.loads(json.dumps(made["params"]))  # as stored in a record
        assert regenerate(name, seed, params) == made  # regenerate rebuilds it exactly
        assert GENERATORS[name](random.Random(seed), **params) == made
    questions = {regenerate(name, seed, {})["question"] for seed in range(10)}
    assert len(questions) >= 5, "different seeds give different problems"


def test_math_and_physics_names():
    assert set(MATH) | set(PHYSICS) == set(GENERATORS) and not set(MATH) & set(PHYSICS)
    assert {"physics.free_fall", "physics.collision", "physics.incline"} <= set(PHYSICS)
    assert available()[: len(GENERATORS)] == list(GENERATORS)


def test_bad_params_name_the_parameter():
    with pytest.raises(ValueError, match="terms must be an integer from 2 to 8"):
        regenerate("arithmetic.mixed", 0, {"terms": 40})
    with pytest.raises(ValueError, match=r"unknown parameter 'degre' \(known: degree"):
        regenerate("polynomials.factor", 0, {"degre": 3})
    with pytest.raises(ValueError, match="kinds must be a non-empty list"):
        regenerate("calculus.derivative", 0, {"kinds": ["fourier"]})
    with pytest.raises(GeneratorError, match=r"unknown generator 'algebra\.magic'"):
        regenerate("algebra.magic", 0, {})


# --- answers re-derived from the question ----------------------------------------------------


@pytest.mark.parametrize("ops", ["+-*", "+-*/"])
def test_arithmetic_mixed(ops):
    for made in items("arithmetic.mixed", terms=5, ops=ops):
        expression = grab(r"^Evaluate (.*)\.$", made["question"]).group(1)
        assert sympy.sympify(expression) == rational(made["answer"])
        # every step is a true equation between numbers
        for step in made["solution"].splitlines()[:-1]:
            left, right = grab(r"^(.*?) = (-?[\d/]+)", step).groups()
            assert sympy.sympify(left) == rational(right)


def test_gcd_and_lcm():
    for made in items("arithmetic.gcd"):
        a, b = map(int, grab(r"of (\d+) and (\d+)\?", made["question"]).groups())
        assert int(made["answer"]) == math.gcd(a, b)
    for made in items("arithmetic.lcm"):
        a, b = map(int, grab(r"of (\d+) and (\d+)\?", made["question"]).groups())
        assert int(made["answer"]) == math.lcm(a, b)


def test_fraction_arithmetic_is_exact_and_reduced():
    for terms, negative in ((2, False), (3, True)):
        for made in items("fractions.arithmetic", terms=terms, negative=negative):
            expression = grab(r"^Compute (.*)\.$", made["question"]).group(1)
            value = Fraction(made["answer"])
            assert sympy.sympify(expression) == sympy.Rational(value.numerator, value.denominator)
            assert made["answer"] == str(value)  # in lowest terms


def test_fraction_simplify():
    for made in items("fractions.simplify"):
        p, q = map(int, grab(r"Write (\d+)/(\d+) in lowest terms", made["question"]).groups())
        value = Fraction(made["answer"])
        assert value == Fraction(p, q) and math.gcd(value.numerator, value.denominator) == 1
        assert value.denominator < q


@pytest.mark.parametrize("fraction_solution", [False, True])
def test_linear_equation_solution_substitutes_back(fraction_solution):
    for made in items("linear.equation", fraction_solution=fraction_solution):
        left, right = grab(r"^Solve for x: (.*) = (.*)\.$", made["question"]).groups()
        lhs, rhs = sympy.sympify(left), sympy.sympify(right)
        value = rational(made["answer"])
        assert sympy.simplify(lhs.subs(x, value) - rhs.subs(x, value)) == 0
        assert sympy.solve(sympy.Eq(lhs, rhs), x) == [value]  # and it is the only solution
        if not fraction_solution:
            assert value.q == 1


@pytest.mark.parametrize("size", [2, 3])
def test_systems_solution_satisfies_every_equation(size):
    names = sympy.symbols("x y z")[:size]
    for made in items("systems.linear", size=size):
        equations = re.findall(r"^E\d+: (.*) = (.*)$", made["question"], flags=re.M)
        assert len(equations) == size
        solution = sympy.sympify(made["answer"])
        assert len(solution) == size
        values = dict(zip(names, solution, strict=True))
        system = [sympy.Eq(sympy.sympify(a), sympy.sympify(b)) for a, b in equations]
        assert all(eq.subs(values) == sympy.true for eq in system)
        assert sympy.solve(system, names, dict=True) == [values]  # the unique solution


def test_polynomial_expand():
    for made in items("polynomials.expand", factors=3):
        product = grab(r"^Expand (.*)\.$", made["question"]).group(1)
        answer = sympy.sympify(made["answer"])
        assert sympy.expand(sympy.sympify(product) - answer) == 0
        assert answer == sympy.expand(answer), "the answer is written expanded"


def test_polynomial_factor():
    for made in items("polynomials.factor", degree=3, max_leading=3):
        poly = sympy.sympify(grab(r"^Factor (.*)\.$", made["question"]).group(1))
        answer = sympy.sympify(made["answer"])
        assert sympy.expand(answer - poly) == 0
        for factor in sympy.Mul.make_args(answer):
            base = factor.base if factor.is_Pow else factor
            assert sympy.degree(base, x) <= 1, f"{made['answer']} is not fully factored"


@pytest.mark.parametrize("integer_roots", [False, True])
def test_polynomial_roots(integer_roots):
    for made in items("polynomials.roots", integer_roots=integer_roots):
        poly = sympy.sympify(grab(r"roots of (.*) = 0", made["question"]).group(1))
        roots = sympy.sympify(made["answer"])
        assert all(sympy.simplify(poly.subs(x, r)) == 0 for r in roots)
        assert [float(r) for r in roots] == sorted(float(r) for r in roots)
        assert len(roots) == len(set(sympy.Poly(poly, x).real_roots()))


def test_derivative_matches_sympy_diff():
    for made in items("calculus.derivative", terms=3):
        f = sympy.sympify(grab(r"f\(x\) = (.*) with respect to x\.$", made["question"]).group(1))
        assert sympy.simplify(sympy.diff(f, x) - sympy.sympify(made["answer"])) == 0


def test_integral_differentiates_back():
    for made in items("calculus.integral", terms=3):
        f = sympy.sympify(grab(r"f\(x\) = (.*) \(leave out", made["question"]).group(1))
        assert sympy.simplify(sympy.diff(sympy.sympify(made["answer"]), x) - f) == 0


def test_definite_integral_by_exact_power_rule():
    for made in items("calculus.definite_integral"):
        body, low, high = grab(
            r"f\(x\) = (.*) from x = (-?\d+) to x = (-?\d+)\.$", made["question"]
        ).groups()
        coefficients = sympy.Poly(sympy.sympify(body), x).all_coeffs()[::-1]
        a, b = int(low), int(high)
        exact = sum(
            Fraction(int(c)) * Fraction(b ** (n + 1) - a ** (n + 1), n + 1)
            for n, c in enumerate(coefficients)
        )
        assert Fraction(made["answer"]) == exact


def test_dice_by_enumeration():
    holds = {"exactly": int.__eq__, "at least": int.__ge__, "at most": int.__le__}
    for fixed in ({"dice": 1, "sides": 6}, {"dice": 3, "sides": 6}, {}):  # {}: drawn at random
        for made in items("probability.dice", **fixed):
            q = made["question"]
            sides = int(grab(r"(\d+)-sided", q).group(1))
            dice = 1 if q.startswith("A fair") else int(grab(r"^(\d+) fair", q).group(1))
            assert dice == fixed.get("dice", dice) and sides == fixed.get("sides", sides)
            how, target = grab(r"is (exactly|at least|at most) (\d+)\?", q).groups()
            outcomes = list(itertools.product(range(1, sides + 1), repeat=dice))
            good = sum(holds[how](sum(o), int(target)) for o in outcomes)
            assert Fraction(made["answer"]) == Fraction(good, len(outcomes))


@pytest.mark.parametrize("biased", [False, True])
def test_coins_by_enumeration(biased):
    for made in items("probability.coins", biased=biased):
        q = made["question"]
        n = int(grab(r"(\d+) times", q).group(1))
        p = Fraction(grab(r"probability (\d+/\d+)\.", q).group(1)) if biased else Fraction(1, 2)
        how, k = grab(r"getting (exactly|at least|at most) (\d+) heads?\?", q).groups()
        test = {"exactly": int.__eq__, "at least": int.__ge__, "at most": int.__le__}[how]
        total = Fraction(0)
        for flips in itertools.product((True, False), repeat=n):
            heads = sum(flips)
            if test(heads, int(k)):
                total += p**heads * (1 - p) ** (n - heads)
        assert Fraction(made["answer"]) == total


@pytest.mark.parametrize("replacement", [False, True])
def test_urn_by_enumeration(replacement):
    for made in items("probability.urn", colors=3, replacement=replacement):
        q = made["question"]
        balls = [c for n, c in re.findall(r"(\d+) (red|blue|green)", q) for _ in range(int(n))]
        if "1 ball is drawn" in q:
            draws, k = 1, 0 if "not red" in q else 1
        else:
            draws, k = map(int, grab(r"(\d+) balls are drawn.*exactly (\d+) of them", q).groups())
        picks = (
            itertools.product(range(len(balls)), repeat=draws)
            if replacement
            else itertools.permutations(range(len(balls)), draws)
        )
        picks = list(picks)
        good = sum(sum(balls[i] == "red" for i in pick) == k for pick in picks)
        assert Fraction(made["answer"]) == Fraction(good, len(picks))


# --- the recipe (no model) -------------------------------------------------------------------


def test_mathgen_recipe_runs_without_a_model_and_regenerates(tmp_path):
    records = run_recipe_twice(tmp_path, "mathgen", "--limit", str(2 * len(MATH)))
    assert len(records) == 2 * len(MATH)
    assert [r["generator"] for r in records] == MATH + MATH  # the generators in turn
    assert len({r["question"] for r in records}) == len(records)
    for record in records:
        check = record["verification"]
        assert check["kind"] == "generator" and check["verified"] is True
        assert check["generator"] == record["generator"] and check["answer"] == record["answer"]
        again = regenerate(check["generator"], check["seed"], check["params"])
        assert (again["question"], again["answer"]) == (record["question"], record["answer"])
        assert record["messages"] == [
            {"role": "user", "content": record["question"]},
            {"role": "assistant", "content": record["solution"]},
        ]
        assert record["_meta"]["method"] == "mathgen.generate"


def test_generator_verification_reverifies():
    records = []
    for name in MATH + PHYSICS:
        made = regenerate(name, 7, {})
        check = {"kind": "generator", "verified": True, "generator": name, "seed": 7}
        records.append({**check, "params": made["params"], "answer": made["answer"]})
    sandbox = Sandbox()
    assert all(asyncio.run(reverify(v, sandbox)) for v in records)
    tampered = {**records[0], "answer": records[0]["answer"] + "1"}
    assert not asyncio.run(reverify(tampered, sandbox))


def test_mathgen_recipe_params_are_checked_at_build_time(tmp_path):
    bad = run_cli(
        "run",
        "mathgen",
        "--set",
        "steps[0].params.params={systems.linear: {size: 7}}",
        "--set",
        "steps[0].params.generators=[systems.linear]",
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "steps[0].params" in bad.stderr and "size must be an integer from 2 to 3" in bad.stderr


# --- plugins ---------------------------------------------------------------------------------

PLUGIN = '''
"""A third-party generator: doubling a number."""
import random


def double(rng: random.Random, max_value: int = 50) -> dict:
    n = rng.randint(1, max_value)
    return {
        "question": f"What is twice {n}?",
        "answer": str(2 * n),
        "solution": f"2 * {n} = {2 * n}.\\nThe answer is {2 * n}.",
        "params": {"max_value": max_value},
    }
'''


def install_plugins(root: Path) -> Path:
    """A folder holding two installed 'distributions': a working and a broken plugin."""
    site = root / "site"
    site.mkdir()
    (site / "toyplugin.py").write_text(PLUGIN, encoding="utf-8")
    (site / "brokenplugin.py").write_text("raise RuntimeError('missing licence key')\n")
    for dist, entry in (
        ("toyplugin", "toy.double = toyplugin:double"),
        ("brokenplugin", "broken.gen = brokenplugin:gen"),
    ):
        info = site / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[synthaug.math_generators]\n{entry}\n")
    return site


def plugin_recipe(root: Path, generators: list[str]) -> Path:
    recipe = root / f"plugin_{len(generators)}.yaml"
    params = {"toy.double": {"max_value": 20}} if "toy.double" in generators else {}
    recipe.write_text(
        textwrap.dedent(
            f"""\
            name: plugin
            steps:
              - method: mathgen.generate
                params:
                  count: 6
                  generators: {json.dumps(generators)}
                  params: {json.dumps(params)}
            """
        )
    )
    return recipe


def test_plugin_generators_come_from_entry_points(tmp_path):
    path = [str(install_plugins(tmp_path)), os.environ.get("PYTHONPATH", "")]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, path))}
    out = tmp_path / "data.jsonl"
    recipe = plugin_recipe(tmp_path, ["toy.double", "arithmetic.gcd"])
    done = run_cli("run", str(recipe), "--out", str(out), "--quiet", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    records = read_jsonl(out)
    toys = [r for r in records if r["generator"] == "toy.double"]
    assert len(toys) == 3 and len(records) == 6
    for record in toys:
        n = int(grab(r"twice (\d+)\?", record["question"]).group(1))
        assert record["answer"] == str(2 * n) and n <= 20
        assert record["verification"]["params"] == {"max_value": 20}

    broken = plugin_recipe(tmp_path, ["broken.gen"])
    failed = run_cli("run", str(broken), "--out", str(out), cwd=tmp_path, env=env)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    assert "broken.gen" in lines[0] and "failed to load" in lines[0]
    assert "RuntimeError: missing licence key" in lines[0]
