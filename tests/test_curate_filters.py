"""Heuristic quality filters: each rule on texts built to pass or fail it."""

from __future__ import annotations

import pytest
from conftest import read_jsonl, run_cli, write_jsonl
from curation_corpus import seed_texts

from synthaug.curate.heuristics import (
    Language,
    LengthBounds,
    QualityFilter,
    c4,
    fineweb,
    gopher_quality,
    gopher_repetition,
)

PROSE = (
    "The history of the city is long and full of change. People have lived here for more than "
    "two thousand years, and each generation has left something behind.\n"
    "Walls, roads and markets were built with care. Some of them still stand today, and visitors "
    "come from far away to see them.\n"
    "In the old town the streets are narrow. Small shops sell bread, cheese and fruit that "
    "farmers bring in from the valley every morning.\n"
    "Scholars still argue about the origin of the name. Most of them agree that it comes from a "
    "word for river crossing."
)


def test_good_prose_passes_every_rule():
    assert gopher_quality(PROSE) is None
    assert gopher_repetition(PROSE) is None
    assert fineweb(PROSE) is None
    assert c4(PROSE).reason is None and c4(PROSE).text.count("\n") == 3
    assert QualityFilter()(PROSE).reason is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to be a document.", "word_count"),
        (" ".join(["a"] * 60) + " the and", "mean_word_length"),
        (" ".join(["the supercalifragilistic"] * 40), "mean_word_length"),
        (PROSE + " " + "# " * 40, "symbol_word_ratio"),
        ("\n".join(f"- item number {i} with the and of words" for i in range(20)), "bullet_lines"),
        (
            "\n".join(
                f"and so the story of town {i} goes on with the people of the valley..."
                for i in range(20)
            ),
            "ellipsis_lines",
        ),
        (" ".join(["123", "456", "the", "and", "789", "000"] * 12), "alphabetic_words"),
        (" ".join(["apple", "banana", "cherry", "dates"] * 20), "stop_words"),
    ],
)
def test_gopher_quality_rules(text, reason):
    assert gopher_quality(text) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\n\n".join([PROSE.split("\n")[0]] * 4 + [PROSE]), "duplicate_paragraphs"),
        ("\n".join(["Buy the cheap shoes now."] * 5 + PROSE.split("\n")), "duplicate_lines"),
        (PROSE.replace("\n", " ") + " " + "of the " * 120, "top_2gram"),
        (
            PROSE.replace("\n", " ")
            + " "
            + "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike. " * 4,
            "duplicate_5grams",
        ),
    ],
)
def test_gopher_repetition_rules(text, reason):
    assert gopher_repetition(text) == reason


def test_c4_removes_bad_lines_and_drops_thin_or_code_pages():
    page = (
        PROSE
        + "\nClick here\nThis site uses cookies to improve your experience.\nEnable JavaScript to continue."
    )
    outcome = c4(page)
    assert outcome.reason is None
    assert (
        "cookies" not in outcome.text
        and "Click here" not in outcome.text
        and "JavaScript" not in outcome.text
    )
    assert c4("Lorem ipsum dolor sit amet. " * 10).reason == "lorem_ipsum"
    assert c4("def f(): return {1: 2}. " * 10).reason == "curly_bracket"
    assert c4("One sentence only here.").reason == "too_few_sentences"


def test_fineweb_rules():
    assert (
        fineweb("\n".join(["menu item"] * 3 + ["home", "about us", "contact"]))
        == "line_punctuation"
    )
    short = "\n".join(["Short line here."] * 1 + [f"Tiny {i}." for i in range(10)])
    assert fineweb(short) == "short_lines"
    dup = PROSE + "\n" + PROSE.split("\n")[0]
    assert fineweb(dup) == "duplicate_line_chars"
    assert (
        fineweb("\n".join(f"Internationalization considerations{i}." for i in range(10)))
        == "newline_ratio"
    )


def test_language_identification_and_length_bounds():
    language = Language(("en",))
    assert language(PROSE) is None
    assert (
        language("Der schnelle braune Fuchs springt über den faulen Hund und läuft weiter.")
        == "language_de"
    )
    bounds = LengthBounds(3, 10)
    assert (
        bounds("one two") == "too_short"
        and bounds(PROSE) == "too_long"
        and bounds("a b c d") is None
    )


def test_instruction_data_with_length_and_language_rules_keeps_real_english_tasks():
    check = QualityFilter(("length", "language"), LengthBounds(3, 2000))
    kept = [t for t in seed_texts() if check(t).reason is None]
    assert len(kept) >= 0.9 * len(seed_texts())


def test_filter_command_reports_first_failing_rule(tmp_path):
    rows = [
        {"text": PROSE},
        {"text": "Too short."},
        {"text": "Ceci est une phrase en français, écrite pour le test de langue. " * 8},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = run_cli(
        "filter",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--columns",
        "text",
        "--rules",
        "length,language",
        "--min-words",
        "20",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [r["text"] for r in read_jsonl(tmp_path / "out.jsonl")] == [PROSE]
    report = read_jsonl(tmp_path / "out.report.jsonl")
    assert [r.get("reason") for r in report] == [
        None,
        "length:too_short",
        "language:language_fr",
    ]
    bad = run_cli(
        "filter",
        "in.jsonl",
        "-o",
        "o.jsonl",
        "--columns",
        "text",
        "--rules",
        "gopher,c5",
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "unknown rule(s) c5, gopher" in bad.stderr
