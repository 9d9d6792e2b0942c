"""``synthaug export``: the record-to-row functions and the command (files, errors, counts)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import run_cli

from synthaug.errors import InputError
from synthaug.export.command import add_command
from synthaug.export.formats import ColumnError, ExportOptions, convert, convert_all
from synthaug.io import read_records, write_records

PAIR = {
    "instruction": "What color is the sky?",
    "chosen": "It is blue.",
    "rejected": "It is green.",
    "chosen_score": 4.5,
    "rejected_score": None,
    "chosen_model": "local:a",
    "rejected_model": "local:b",
    "pair_method": "ultrafeedback.binarize",
    "completions": [{"response": "It is blue.", "annotations": {"honesty": {"rating": 5}}}],
    "_meta": {"id": "p1", "parents": ["s1"], "step": "binarize"},
}
SCORES = {
    "source_id": "p1",
    "chosen_score": 4.5,
    "rejected_score": None,
    "chosen_model": "local:a",
    "rejected_model": "local:b",
    "pair_method": "ultrafeedback.binarize",
}
USER = {"role": "user", "content": "What color is the sky?"}
BLUE, GREEN = (
    {"role": "assistant", "content": "It is blue."},
    {"role": "assistant", "content": "It is green."},
)


def opts(fmt: str, **kwargs) -> ExportOptions:
    return ExportOptions(format=fmt, **kwargs)


def test_sft_from_instruction_response_with_system_and_input():
    record = {
        "instruction": "Translate.",
        "input": "Good morning.",
        "output": "Bonjour.",
        "system": "Be brief.",
        "score": 3,
    }
    assert convert(record, opts("sft")) == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Translate.\n\nGood morning."},
                {"role": "assistant", "content": "Bonjour."},
            ],
            "score": 3,
        }
    ]


def test_sft_uses_messages_as_they_are_unless_columns_are_named():
    messages = [USER, BLUE, {"role": "user", "content": "Why?"}, BLUE]
    record = {"messages": messages, "instruction": "Q", "output": "A", "turns": 2}
    assert convert(record, opts("sft")) == [{"messages": messages, "turns": 2}]
    named = convert(record, opts("sft", response_column="output"))
    assert named[0]["messages"] == [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]


def test_sft_from_a_pair_needs_a_named_response_column():
    with pytest.raises(ColumnError) as caught:
        convert(PAIR, opts("sft"))
    assert caught.value.field == "response"
    assert "nor 'output', 'completion'" in caught.value.problem
    (row,) = convert(PAIR, opts("sft", response_column="chosen"))
    assert row["messages"] == [USER, BLUE]
    assert "rejected" not in row  # a TRL column name never rides along as an extra


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([USER], "no assistant message to train on"),
        ([USER, {"role": "assistant"}], "message 2 has no 'content' string"),
        ("hello", "expected a non-empty list of messages, got a string"),
        ([], "expected a non-empty list of messages, got a list"),
    ],
)
def test_sft_rejects_bad_messages(messages, problem):
    with pytest.raises(ColumnError, match=problem):
        convert({"messages": messages}, opts("sft"))


@pytest.mark.parametrize("fmt", ["dpo", "orpo"])
def test_preference_plain_and_conversational(fmt):
    assert convert(PAIR, opts(fmt)) == [
        {
            "prompt": "What color is the sky?\n\n",
            "chosen": "It is blue.",
            "rejected": "It is green.",
            **SCORES,
        }
    ]
    (row,) = convert({**PAIR, "system": "Be kind."}, opts(fmt, conversational=True))
    assert row["prompt"] == [{"role": "system", "content": "Be kind."}, USER]
    assert (row["chosen"], row["rejected"]) == ([BLUE], [GREEN])
    assert "system" not in row and "completions" not in row


def test_plain_output_keeps_the_system_column_as_an_extra():
    (row,) = convert({**PAIR, "system": "Be kind."}, opts("dpo"))
    assert row["system"] == "Be kind." and row["prompt"] == "What color is the sky?\n\n"


def test_kto_unpairs_a_pair_into_desirable_and_undesirable_rows():
    rows = convert(PAIR, opts("kto"))
    assert [(r["completion"], r["label"]) for r in rows] == [
        ("It is blue.", True),
        ("It is green.", False),
    ]
    assert all(r["prompt"] == "What color is the sky?\n\n" and r["source_id"] == "p1" for r in rows)
    conversational = convert(PAIR, opts("kto", conversational=True, keep_extra=False))
    assert conversational == [
        {"prompt": [USER], "completion": [BLUE], "label": True},
        {"prompt": [USER], "completion": [GREEN], "label": False},
    ]


@pytest.mark.parametrize(
    ("label", "expected"), [(True, True), (0, False), ("false", False), (" TRUE ", True)]
)
def test_kto_from_labelled_rows(label, expected):
    record = {"prompt": "Say hi.", "completion": "Hi!", "label": label}
    assert convert(record, opts("kto")) == [
        {"prompt": "Say hi.\n\n", "completion": "Hi!", "label": expected}
    ]


def test_kto_errors_name_the_column():
    with pytest.raises(ColumnError, match="expected true or false, got 'maybe'"):
        convert({"prompt": "Say hi.", "response": "Hi!", "label": "maybe"}, opts("kto"))
    with pytest.raises(ColumnError, match="missing; or give a 'label' column") as caught:
        convert({"instruction": "Say hi.", "response": "Hi!"}, opts("kto"))
    assert caught.value.field == "chosen"


def test_rm_puts_the_prompt_inside_both_sides():
    (row,) = convert(PAIR, opts("rm", keep_extra=False))
    assert row == {
        "chosen": "What color is the sky?\n\nIt is blue.",
        "rejected": "What color is the sky?\n\nIt is green.",
    }
    (row,) = convert(PAIR, opts("rm", conversational=True))
    assert row == {"chosen": [USER, BLUE], "rejected": [USER, GREEN], **SCORES}


def test_extras_skip_text_columns_and_drop_extra_strips_everything():
    # a Self-Instruct row: instruction/input/output plus raw prompt/completion text
    record = {
        "instruction": "Add.",
        "input": "2 and 3",
        "output": "5",
        "prompt": "Task: Add.\nInput: 2 and 3\nOutput:",
        "completion": " 5<|endoftext|>",
        "verification": {"kind": "answer", "verified": True},
        "difficulty": 2,
        "_meta": {"id": "si-1"},
    }
    (row,) = convert(record, opts("sft"))
    assert row == {
        "messages": [
            {"role": "user", "content": "Add.\n\n2 and 3"},
            {"role": "assistant", "content": "5"},
        ],
        "source_id": "si-1",
        "difficulty": 2,
    }
    assert list(convert(record, opts("sft", keep_extra=False))[0]) == ["messages"]


def test_prompt_column_options():
    record = {"question": "Why?", "chosen": "Because.", "rejected": "No.", "input": ""}
    assert convert(record, opts("dpo"))[0]["prompt"] == "Why?\n\n"
    with pytest.raises(ColumnError) as caught:
        convert(record, opts("dpo", prompt_column="task"))
    assert (caught.value.field, caught.value.problem) == ("task", "missing; set --prompt-column")
    record = {"instruction": "Add.", "input": "2 and 3", "chosen": "5", "rejected": "6"}
    assert convert(record, opts("dpo", input_column=""))[0]["prompt"] == "Add.\n\n"


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"chosen": None}, "chosen", "expected a string, got null"),
        ({"rejected": "  "}, "rejected", "is empty"),
        ({"instruction": ["a"]}, "instruction", "expected a string, got a list"),
        ({"input": 3}, "input", "expected a string, got a number"),
    ],
)
def test_bad_values_name_the_column(change, field, problem):
    with pytest.raises(ColumnError) as caught:
        convert({**PAIR, **change}, opts("dpo"))
    assert (caught.value.field, caught.value.problem) == (field, problem)


def test_convert_all_reports_file_line_and_column():
    rows = [(1, PAIR), (3, {"instruction": "x", "chosen": "y"})]
    with pytest.raises(InputError) as caught:
        list(convert_all("pairs.jsonl", rows, opts("dpo")))
    assert str(caught.value) == "pairs.jsonl:3: field 'rejected': missing"
    assert caught.value.exit_code == 2


# -- the command --------------------------------------------------------------------------


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="synthaug")
    add_command(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    return args.handler(args)


def test_command_writes_jsonl_and_prints_counts(tmp_path, capsys):
    source, out = tmp_path / "pairs.jsonl", tmp_path / "kto.jsonl"
    write_records(source, [PAIR, {**PAIR, "_meta": {"id": "p2"}}])
    assert run(str(source), "--format", "kto", "-o", str(out), "--conversational") == 0
    rows = list(read_records(out))
    assert [r["label"] for r in rows] == [True, False, True, False]
    assert [r["source_id"] for r in rows] == ["p1", "p1", "p2", "p2"]
    printed = capsys.readouterr().out
    assert f"export: 2 rows of {source} -> 4 kto records (conversational) in {out}" in printed
    assert "desirable: 2  undesirable: 2" in printed
    assert "columns: prompt, completion, label, source_id, chosen_score" in printed


def test_pair_formats_skip_rows_that_made_no_pair(tmp_path, capsys):
    # a Self-Refine loop that stopped at its first output: chosen and rejected are null
    unpaired = {**PAIR, "chosen": None, "rejected": None, "response": "It is blue."}
    source, out = tmp_path / "refined.jsonl", tmp_path / "dpo.jsonl"
    write_records(source, [unpaired, {**PAIR, "_meta": {"id": "p2"}}])
    assert run(str(source), "--format", "dpo", "-o", str(out)) == 0
    assert [r["source_id"] for r in read_records(out)] == ["p2"]
    assert "skipped: 1 rows that made no pair (chosen and rejected null)" in capsys.readouterr().out
    assert convert(unpaired, opts("kto")) == []
    assert convert(unpaired, opts("sft"))[0]["messages"][-1]["content"] == "It is blue."
    with pytest.raises(ColumnError, match="field 'chosen': expected a string"):
        convert({**PAIR, "chosen": None}, opts("dpo"))  # half a pair is an error


def test_command_writes_parquet(tmp_path):
    source, out = tmp_path / "sft.jsonl", tmp_path / "sft.parquet"
    record = {"instruction": "Hi?", "response": "Hello.", "score": 4.0, "_meta": {"id": "s1"}}
    write_records(source, [record])
    assert run(str(source), "--format", "sft", "-o", str(out), "--drop-extra") == 0
    assert list(read_records(out)) == [
        {
            "messages": [
                {"role": "user", "content": "Hi?"},
                {"role": "assistant", "content": "Hello."},
            ]
        }
    ]


def test_command_reads_csv_labelled_rows(tmp_path):
    source, out = tmp_path / "labels.csv", tmp_path / "kto.jsonl"
    source.write_text(
        "prompt,response,label,rater\nSay hi.,Hi!,true,ann\nSay hi.,Go away.,false,bob\n"
    )
    assert run(str(source), "--format", "kto", "-o", str(out)) == 0
    rows = list(read_records(out))
    assert [(r["completion"], r["label"], r["rater"]) for r in rows] == [
        ("Hi!", True, "ann"),
        ("Go away.", False, "bob"),
    ]


def test_bad_row_names_the_line_and_leaves_the_output_alone(tmp_path: Path):
    source, out = tmp_path / "pairs.jsonl", tmp_path / "dpo.jsonl"
    write_records(source, [PAIR])
    with open(source, "a", encoding="utf-8") as handle:
        handle.write('\n{"instruction": "x", "rejected": "z"}\n')
    out.write_text("previous export\n")
    with pytest.raises(InputError) as caught:
        run(str(source), "--format", "dpo", "-o", str(out))
    assert str(caught.value) == f"{source}:3: field 'chosen': missing"
    assert out.read_text() == "previous export\n"
    assert {p.name for p in tmp_path.iterdir()} == {"pairs.jsonl", "dpo.jsonl"}  # no temp file


def test_unwritable_output_format_fails_before_reading(tmp_path):
    source = tmp_path / "pairs.jsonl"
    write_records(source, [PAIR])
    with pytest.raises(InputError, match=r"cannot write format '\.csv'"):
        run(str(source), "--format", "rm", "-o", str(tmp_path / "rm.csv"))


def test_cli_export_bad_row_is_one_line_with_exit_code_2(tmp_path):
    source, out = tmp_path / "pairs.jsonl", tmp_path / "dpo.jsonl"
    write_records(source, [PAIR, {"instruction": "x", "chosen": "y"}])
    result = run_cli("export", str(source), "--format", "dpo", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"synthaug: error: {source}:2: field 'rejected': missing\n"
    assert not out.exists()
    ok = run_cli(
        "export",
        str(source),
        "--format",
        "sft",
        "--response-column",
        "chosen",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert [r["messages"][-1]["content"] for r in read_records(out)] == ["It is blue.", "y"]
    assert "--format" in run_cli("export", "--help", cwd=tmp_path).stdout
