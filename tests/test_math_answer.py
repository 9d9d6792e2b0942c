"""Final-answer extraction and equivalence (numeric and symbolic)."""

from __future__ import annotations

import pytest

from synthaug.verify.math_answer import answers_match, check_answer, extract_answer

EXTRACTIONS = [
    ("So the total is \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}"),
    ("We get \\boxed{x^{2} + \\sqrt{2}} and more text", "x^{2} + \\sqrt{2}"),
    ("first 3 + 4 = 7\n#### 1,250", "1,250"),
    ("48 / 2 = 24 clips. The answer is 72.", "72"),
    ("Reasoning... Final answer: $12.50$", "12.50"),
    ("The answer is: 5 apples. Then stuff", "5 apples"),
    ("She has 3 apples and buys 4 more, so 7", "7"),
    ("Half of it is -0.5", "-0.5"),
    ("no numbers at all", None),
    ("", None),
]

EQUIVALENT = [
    ("72", "72"),
    ("72.0", "72"),
    ("1,250", "1250"),
    ("$1,250.00", "1250"),
    ("\\frac{3}{4}", "0.75"),
    ("3/4", "\\dfrac{3}{4}"),
    ("50%", "50"),
    ("50\\%", "0.5"),
    ("220 minutes", "220"),
    ("£3120.0", "3120"),
    ("x = 5", "5"),
    ("\\sqrt{8}", "2\\sqrt{2}"),
    ("2x + 2", "2(x+1)"),
    ("x^2 - 1", "(x-1)(x+1)"),
    ("\\pi/2", "1.5707963"),
    ("(1, 2)", "(1,2)"),
    ("2, 3", "3, 2"),
    ("\\left( 3, \\frac{1}{2} \\right)", "(3, 0.5)"),
    ("-\\frac{1}{3}", "-1/3"),
    ("10^{3}", "1000"),
    ("90^\\circ", "90"),
]

NOT_EQUIVALENT = [
    ("72", "73"),
    ("0.75", "\\frac{2}{3}"),
    ("x^2 + 1", "(x+1)^2"),
    ("(1, 2)", "(2, 1)"),
    ("2, 3", "2, 4"),
    ("1250", "125"),
    ("5 apples", "6"),
    ("yes", "no"),
    (None, "3"),
    ("", "3"),
    ("3", "sqrt(9.5)"),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTIONS)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_answers_match_both_ways(a, b):
    assert answers_match(a, b) and answers_match(b, a)


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_different_answers_do_not_match(a, b):
    assert not answers_match(a, b)


def test_check_answer_on_recorded_gsm_solution():
    solution = (
        "Then add the peeling time to find the total time Isabella spends: "
        "160 minutes + 60 minutes = 220 minutes\n#### 220"
    )
    assert check_answer(solution, "220") == {
        "extracted": "220",
        "form": "####",
        "gold": "220",
        "match": True,
    }
    assert check_answer(solution, "221")["match"] is False


def test_relative_tolerance():
    assert answers_match("3.14159", "3.1416")
    assert not answers_match("3.14", "3.1416", rel_tol=1e-6)
