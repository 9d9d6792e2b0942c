"""``--shard i/N`` and ``--merge`` on the row-by-row curation commands (decontaminate, filter),
through the real CLI: the merged output, report and summary are an unsharded run's."""

from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, run_cli
from curation_corpus import mt_bench_texts, seed_texts

COMMANDS = {  # command -> its options past input, -o and --columns
    "decontaminate": ["--benchmark", "mt_bench", "--mode", "overlap"],
    "filter": ["--rules", "length", "--min-words", "8"],
}
TIMINGS = ("wall_s", "mb_per_s")


@pytest.fixture
def corpus(tmp_path):
    texts = seed_texts()[:24]
    texts[3] = "Tell me: " + mt_bench_texts()[3]  # contaminated
    texts[10] = "Too short to keep."
    texts[20] = "Answer this: " + mt_bench_texts()[7]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    return path


def curate(command, tmp_path, out, *extra):
    done = run_cli(command, "in.jsonl", "-o", out, "--columns", "text", *COMMANDS[command],
                   "--quiet", *extra, cwd=tmp_path)  # fmt: skip
    return done


def summary_without_timings(path):
    summary = json.loads(path.read_text())
    return {k: v for k, v in summary.items() if k not in TIMINGS and k != "outputs"}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_merged_shards_equal_one_run(command, corpus, tmp_path):
    assert curate(command, tmp_path, "whole.jsonl").returncode == 0
    for index in (2, 0, 1):  # any order, as an array job's tasks finish
        done = curate(command, tmp_path, "split.jsonl", "--shard", f"{index}/3")
        assert done.returncode == 0, done.stderr
        assert not (tmp_path / "split.jsonl").exists()
        part = read_jsonl(tmp_path / f"split.shard-{index:05d}-of-00003.report.jsonl")
        assert [r["row"] - 1 for r in part] == list(range(index, 24, 3))
    done = curate(command, tmp_path, "split.jsonl", "--merge")
    assert done.returncode == 0, done.stderr
    whole, split = read_jsonl(tmp_path / "whole.jsonl"), read_jsonl(tmp_path / "split.jsonl")
    assert split == whole and 0 < len(whole) <= 24
    assert (tmp_path / "split.report.jsonl").read_text() == (
        tmp_path / "whole.report.jsonl"
    ).read_text()
    merged = summary_without_timings(tmp_path / "split.summary.json")
    alone = summary_without_timings(tmp_path / "whole.summary.json")
    assert merged.pop("settings").pop("shards") == 3
    alone.pop("settings")
    assert merged == alone and alone["dropped"], "the corpus must exercise a drop"


def test_merge_refuses_an_incomplete_or_mixed_split(corpus, tmp_path):
    assert curate("filter", tmp_path, "out.jsonl", "--shard", "0/2").returncode == 0
    missing = curate("filter", tmp_path, "out.jsonl", "--merge")
    assert missing.returncode == 2 and "shard(s) 1/2 not complete" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.jsonl").exists()
    other = run_cli("filter", "in.jsonl", "-o", "out.jsonl", "--columns", "text", "--rules",
                    "length", "--min-words", "3", "--quiet", "--shard", "1/2", cwd=tmp_path)  # fmt: skip
    assert other.returncode == 0
    mixed = curate("filter", tmp_path, "out.jsonl", "--merge")
    assert mixed.returncode == 2 and "made by other options" in mixed.stderr
    assert not (tmp_path / "out.jsonl").exists()
    wrong = curate("decontaminate", tmp_path, "out.jsonl", "--merge")
    assert wrong.returncode == 2 and "made by other options" in wrong.stderr
    nothing = curate("filter", tmp_path, "none.jsonl", "--merge")
    assert nothing.returncode == 2 and "no shards to merge" in nothing.stderr
    bad = curate("filter", tmp_path, "out.jsonl", "--shard", "2/2")
    assert bad.returncode == 2 and "0 <= i < N" in bad.stderr
    both = curate("filter", tmp_path, "out.jsonl", "--shard", "0/2", "--merge")
    assert both.returncode == 2 and "not allowed with" in both.stderr
