"""Bad input that used to end in a traceback: one line ``synthaug: error: ...``, exit 2.

Through the real CLI: an invalid YAML ``--set`` value; outputs under a file, in a place
that cannot hold files (``/proc``) or onto a directory, for ``run``, the curation
commands and ``review --export``; a ``review --db`` or ``--cache`` that is a directory or
not an SQLite file. Nothing is written, and no model is loaded before the error.
"""

from __future__ import annotations

import pytest
from conftest import run_cli, write_jsonl

UNWRITABLE = "/proc/synthaug-test/out.jsonl"  # /proc takes no new files, even for root

CASES = {
    "set-invalid-yaml": (
        ["run", "self_instruct", "--set", "steps[0].params.num_instructions=[1"],
        "--set steps[0].params.num_instructions: the value is not valid YAML",
    ),
    "set-invalid-yaml-mapping": (
        ["run", "mathgen", "--set", "steps[0].params={bad"],
        "--set steps[0].params: the value is not valid YAML",
    ),
    "run-out-under-file": (
        ["run", "mathgen", "--limit", "1", "--out", "afile/x.jsonl"],
        "afile/x.jsonl: cannot write the output (afile is a file, not a folder)",
    ),
    "run-out-unwritable": (
        ["run", "mathgen", "--limit", "1", "--out", UNWRITABLE],
        f"{UNWRITABLE}: cannot write the output",
    ),
    "run-out-parquet-unwritable": (
        ["run", "mathgen", "--limit", "1", "--out", "/proc/x.parquet"],
        "/proc/x.parquet: cannot write the output",
    ),
    "dedup-out-under-file": (
        ["dedup", "in.jsonl", "-o", "afile/o.jsonl", "--columns", "text"],
        "afile/o.jsonl: cannot write the output (afile is a file, not a folder)",
    ),
    "dedup-out-is-directory": (
        ["dedup", "in.jsonl", "-o", "folder.jsonl", "--columns", "text"],
        "folder.jsonl: cannot write the output (is a directory",
    ),
    "filter-out-unwritable": (
        ["filter", "in.jsonl", "-o", UNWRITABLE, "--columns", "text"],
        f"{UNWRITABLE}: cannot write the output",
    ),
    "stats-out-under-file": (
        ["stats", "in.jsonl", "--columns", "text", "--out", "afile/stats.json"],
        "afile/stats.json: cannot write the output (afile is a file, not a folder)",
    ),
    "review-export-under-file": (
        ["review", "labelled.jsonl", "--export", "afile/o.jsonl"],
        "afile/o.jsonl: cannot write the output (afile is a file, not a folder)",
    ),
    "review-export-unwritable": (
        ["review", "labelled.jsonl", "--export", UNWRITABLE],
        f"{UNWRITABLE}: cannot write the output",
    ),
    "review-db-directory": (
        ["review", "labelled.jsonl", "--db", "folder.jsonl", "--export", "o.jsonl"],
        "folder.jsonl: is a directory; give --db a file name",
    ),
    "review-db-not-sqlite": (
        ["review", "labelled.jsonl", "--db", "afile", "--export", "o.jsonl"],
        "afile: not a usable review queue database (file is not a database)",
    ),
    "cache-not-sqlite": (
        ["run", "self_instruct", "--limit", "1", "--cache", "afile", "--out", "o.jsonl"],
        "afile: not a usable request cache (file is not a database)",
    ),
    "cache-directory": (
        ["run", "self_instruct", "--limit", "1", "--cache", "folder.jsonl", "--out", "o.jsonl"],
        "folder.jsonl: cannot open the request cache (is a directory)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_path_or_value_is_one_line_exit_2(case, tmp_path):
    args, message = CASES[case]
    (tmp_path / "afile").write_text("not a folder, not a database\n")
    (tmp_path / "folder.jsonl").mkdir()
    write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c d"}, {"text": "e f g h"}])
    write_jsonl(
        tmp_path / "labelled.jsonl",
        [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}],
    )
    quiet = [] if case.startswith("review") else ["--quiet"]  # review has no --quiet
    result = run_cli(*args, *quiet, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("synthaug: error: ") and message in result.stderr, result.stderr
    assert not (tmp_path / "o.jsonl").exists()
    assert not list(tmp_path.glob(".*.tmp-*")), "a temp file was left behind"
    assert (tmp_path / "afile").read_text() == "not a folder, not a database\n"
