"""MetaMath (AnsAug, rephrasing, SV, FOBAR): masking, parsing, and the recipe on the embedded
model (which rarely solves these problems: the checks are on the algorithm and the evidence)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import run_recipe_twice

from synthaug.llm.types import chat
from synthaug.methods.common.sampling import split_samples
from synthaug.methods.reasoning import metamath
from synthaug.methods.reasoning.metamath import (
    EXEMPLARS,
    exemplar_slots,
    fobar_suffix,
    is_metamath_record,
    is_number_token,
    mask_token,
    masked_questions,
    parse_rephrasing,
    parse_statement,
    split_ask,
    sv_suffix,
    trim_reply,
)
from synthaug.methods.templates import render
from synthaug.verify.evidence import answer_verdict, reverify
from synthaug.verify.sandbox import Sandbox

ISABELLA = (
    "Isabella can peel 4 mushrooms a minute and saute 30 mushrooms in 20 minutes. "
    "How long will it take her to peel and saute 240 mushrooms?"
)
# real replies of the embedded model (SmolLM2-135M-Instruct) to this module's prompts
FORWARD_REPLY = (
    "Let's think step by step.\nThe total amount of mushrooms that Isabella can peel is "
    "4 * 30 = 120 mushrooms.\nEach mushroom requires 4 * 120 = 480 minutes to peel and saute.\n"
    "The total time Isabella will take to peel and saute 240 mushrooms is 120 + 480 = 160 "
    "minutes.\nThe answer is 160\n"
)
FOBAR_REPLY = (
    "Let's think step by step.\nThe total time it takes to peel and saute 240 mushrooms is "
    "240 / 2 = 120 minutes.\nWe are given that the total time is 220 minutes.\nWe are also "
    "given that 1500 mushrooms are ready, so 220 minutes is 2500 * 1.5 = 3500 minutes.\nThe "
    "time it takes to peel and saute 240 mushrooms is 1500 / 3500 = 0.35.\nThe value of the "
    "unknown variable x is 0.35.\nThe answer is 0.35.\n"
)
SV_REWRITE_REPLY = "She will have 220 more days to peel and saute 240 mushrooms."
REPHRASE_REPLY = (
    "A farmer has 3 fields with 4 rows of corn each and 25 rows of 25 corn plants. The first 3 "
    "rows of 25 corn plants can be harvested in 20 minutes, so 3 rows of 25 corn plants will "
    "take 20 minutes to harvest. The remaining 11 rows of corn plants will take 20 minutes to "
    "harvest.\n\nThe total time it will take for Isabella to harvest 240 mushrooms is the sum "
    "of the time it takes for 240 mushrooms to be harvested and 11 rows of corn plants to be "
    "harvested.\n\nThe answer is 240.\n\nThe answer is 240."
)

MASKING = [
    (
        "James buys 5 packs of beef that are 4 pounds each. The price of beef is $5.50 per "
        "pound. How much did he pay?",
        [
            ("James buys x packs of beef that are 4 pounds each.", "5"),
            ("5 packs of beef that are x pounds each.", "4"),
            ("The price of beef is $x per pound.", "5.50"),
        ],
    ),
    # hyphenated, ratio, ordinal and parenthesised numbers are not masked; $1,200. is
    ("A 10-minute break, a 3:2 ratio, the 2nd day and (5 apples) cost $1,200.", [("$x.", "1200")]),
    (
        "She has five cats and 50% of them sleep. Together 1/2 of 12, are fed.",
        [
            ("She has x cats", "5"),
            ("and x% of them", "50"),
            ("Together x of", "1/2"),
            ("of x, are", "12"),
        ],
    ),
    ("No numbers here.", []),
]


@pytest.mark.parametrize(("question", "expected"), MASKING)
def test_fobar_masks_each_numeric_token_once(question, expected):
    masked = masked_questions(question)
    assert len(masked) == len(expected)
    for (text, value), (fragment, gold) in zip(masked, expected, strict=True):
        assert fragment in text and value == gold
        assert text.count(" ") == question.count(" ")  # one token replaced, nothing else


def test_number_tokens_and_masks():
    assert is_number_token("42") and is_number_token("$3.50,") and is_number_token("20%")
    assert not is_number_token("10-minute") and not is_number_token("2nd")
    assert not is_number_token("(5") and not is_number_token("3:2") and not is_number_token("x")
    assert is_number_token("seven") and not is_number_token("seven", number_words=False)
    assert mask_token("seven") == ("x", "7")
    assert mask_token("$1,200.", "X") == ("$X.", "1200")
    assert mask_token("240?") == ("x?", "240")


def test_fobar_question_for_a_builtin_problem():
    masked = masked_questions(ISABELLA)
    assert [value for _, value in masked] == ["4", "30", "20", "240"]
    query = f"{masked[0][0]}\n{fobar_suffix('220')}"
    assert query.startswith("Isabella can peel x mushrooms a minute")
    assert query.endswith(
        "If we know the answer to the above question is 220, what is the value of unknown "
        "variable x?"
    )


def test_sv_split_and_statement_parsing():
    body, ask = split_ask(masked_questions(ISABELLA)[0][0])
    assert body == "Isabella can peel x mushrooms a minute and saute 30 mushrooms in 20 minutes."
    assert ask == "How long will it take her to peel and saute 240 mushrooms?"
    assert split_ask("In Mr. Smith's class of 10 students, who is tall?") == (
        "In Mr.",
        "Smith's class of 10 students, who is tall?",
    )  # the sentence split is naive about abbreviations (the authors' split too)
    assert split_ask("How many?") == ("", "How many?")
    assert parse_statement(SV_REWRITE_REPLY) == SV_REWRITE_REPLY
    assert parse_statement("\nResult: He has 9 toys.\nQuestion: more") == "He has 9 toys."
    assert parse_statement("  \n") is None
    query = " ".join([body, parse_statement(SV_REWRITE_REPLY), sv_suffix()])
    assert query.endswith("mushrooms. What is the value of unknown variable x?")


def test_replies_are_cut_and_checked():
    assert trim_reply(FORWARD_REPLY + "\nQuestion: next one") == FORWARD_REPLY.strip()
    verdict = answer_verdict(trim_reply(FORWARD_REPLY), "220")
    assert verdict["extracted"] == "160" and verdict["verified"] is False
    backward = answer_verdict(trim_reply(FOBAR_REPLY), "4")
    assert backward["extracted"] == "0.35" and not backward["match"]
    assert answer_verdict("So x = 4.\nThe value of x is 4.", "4")["match"]
    rephrased = parse_rephrasing(REPHRASE_REPLY)
    assert rephrased.startswith("A farmer has 3 fields") and rephrased.endswith("to harvest.")
    assert parse_rephrasing("Rephrase the above question: How many?") == "How many?"
    assert parse_rephrasing("\n\n") is None


def test_prompts_hold_the_exemplars_and_end_with_the_query():
    shots = exemplar_slots(2)
    forward = render(metamath.__file__, "metamath_forward.j2", exemplars=shots, question="Q?")
    assert forward.endswith("Question: Q?\nA:") and forward.count("The answer is") == 3
    backward = render(
        metamath.__file__,
        "metamath_backward.j2",
        exemplars=[{**ex, "query": ex["fobar_query"]} for ex in exemplar_slots(4, "X")],
        query="Q with X?",
        var="X",
        kind="fobar",
    )
    assert backward.count("what is the value of unknown variable X?") == 4
    assert "The value of X is 24." in backward and backward.endswith("Question: Q with X?\nA:")
    for ex in EXEMPLARS:  # every exemplar's masked value is a number of its question
        assert ex.masked_value in [v for _, v in masked_questions(ex.question)]


def test_samples_over_eight_are_split_into_requests():
    request = chat(("user", "hi"), n=20, seed=5)
    parts = split_samples(request)
    assert [p.n for p in parts] == [8, 8, 4]
    assert parts[0].seed == 5 and len({p.seed for p in parts}) == 3
    assert split_samples(chat(("user", "hi"), n=3, seed=5)) == [chat(("user", "hi"), n=3, seed=5)]


def test_upstream_records_are_recognised():
    row = {"query": "q", "response": "r", "type": "GSM_FOBAR", "original_question": "q"}
    assert is_metamath_record(row) and is_metamath_record({**row, "type": "MATH_SV"})
    assert not is_metamath_record({"question": "q", "answer": "1", "type": "Algebra"})


TINY = [
    "--limit",
    "2",
    *("--set", "steps[1].params.samples=1"),
    *("--set", "steps[2].params.samples=1"),
    *("--set", "steps[2].params.rephrasings=1"),
    *("--set", "steps[2].params.rephrase_max_tokens=48"),
    *("--set", "steps[3].params.samples=1"),
    *("--set", "steps[3].params.max_masks=1"),
    *("--set", "steps[3].params.rewrite_max_tokens=32"),
    *("--set", "steps[4].params.samples=1"),
    *("--set", "steps[4].params.max_masks=1"),
    *(arg for k in range(1, 5) for arg in ("--set", f"steps[{k}].params.max_tokens=48")),
    *(arg for k in range(1, 5) for arg in ("--set", f"steps[{k}].params.shots=2")),
]


def test_metamath_recipe_makes_all_four_types_with_consistent_verification(tmp_path):
    keep = [arg for k in range(1, 5) for arg in ("--set", f"steps[{k}].params.keep_failed=true")]
    records = run_recipe_twice(tmp_path, "metamath", *TINY, *keep)
    assert {r["type"] for r in records} == {"GSM_AnsAug", "GSM_Rephrased", "GSM_SV", "GSM_FOBAR"}
    assert len({r["original_question"] for r in records}) == 2
    sandbox = Sandbox()
    for r in records:
        v = r["verification"]
        assert v == answer_verdict(r["response"], v["gold"])
        assert asyncio.run(reverify(v, sandbox))
        assert r["original_question"] == r["question"]
        kind = r["type"].removeprefix("GSM_")
        assert (
            r["_meta"]["method"]
            == {
                "AnsAug": "metamath.ansaug",
                "Rephrased": "metamath.rephrase",
                "SV": "metamath.sv",
                "FOBAR": "metamath.fobar",
            }[kind]
        )
        if kind == "AnsAug":
            assert r["query"] == r["question"] and v["gold"] == r["answer"]
        elif kind == "Rephrased":
            assert r["query"] != r["question"] and v["gold"] == r["answer"]
        else:  # the first number of the question is masked; gold is the masked number
            masked, value = masked_questions(r["question"])[0]
            assert v["gold"] == r["masked_value"] == r["answer"] == value
            if kind == "FOBAR":
                assert r["query"] == f"{masked}\n{fobar_suffix(r['original_answer'])}"
            else:
                body, _ = split_ask(masked)
                assert r["query"] == f"{body} {r['statement']} {sv_suffix()}"
    # without keep_failed (same cache, no new model call) only the verified samples remain
    verified = [r for r in records if r["verification"]["verified"]]
    assert run_recipe_twice(tmp_path, "metamath", *TINY) == verified
