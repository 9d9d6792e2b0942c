"""Self-Instruct end to end on the real embedded model, through the real CLI.

Covers: records and provenance, a warm-cache rerun making zero model calls,
and a run killed with SIGKILL mid-way that resumes with the same records, no
duplicates and no repeated model calls.
"""

from __future__ import annotations

from conftest import read_jsonl, resume_after_kill, run_cli, summary_of

# short lists keep the tests quick on 2 cores (the paper's 1024-token budget is the default)
FAST = ["--set", "steps[0].params.max_tokens=160", "--set", "steps[0].params.requests_in_flight=8"]
SMALL = ["--set", "steps[0].params.num_instructions=6", *FAST]


def test_self_instruct_records_and_warm_cache_rerun(tmp_path):
    env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
    out = tmp_path / "data.jsonl"
    first = run_cli(
        "run", "self_instruct", *SMALL, "--out", str(out), "--quiet", cwd=tmp_path, env=env
    )
    assert first.returncode == 0, first.stderr
    assert "run summary" in first.stdout and str(out) in first.stdout
    records = read_jsonl(out)
    assert records, "Self-Instruct produced no records"
    for record in records:
        assert {"instruction", "input", "output", "prompt", "completion"} <= set(record)
        assert record["completion"].endswith("<|endoftext|>")
        assert record["_meta"]["method"] == "self_instruct.format" and record["_meta"]["parents"]
    assert len({r["_meta"]["id"] for r in records}) == len(records)
    summary = summary_of(out)
    assert summary["llm"]["model_calls"] > 0 and summary["steps"][0]["rows_out"] == 6

    second = run_cli(
        "run", "self_instruct", *SMALL, "--out", str(out), "--quiet", cwd=tmp_path, env=env
    )
    assert second.returncode == 0, second.stderr
    rerun = summary_of(out)
    assert rerun["llm"]["model_calls"] == 0
    assert sum(step["reused_from_checkpoint"] for step in rerun["steps"]) > 0
    assert read_jsonl(out) == records


def test_kill_9_mid_run_then_resume(tmp_path):
    """Also: while the first run lives, a second one on the same output is refused (one line
    naming its pid); once it is dead, its lock does not block the resumed run."""
    args = ["self_instruct", "--set", "steps[0].params.num_instructions=8", *FAST]
    out = tmp_path / "data.jsonl"
    refusals = []

    def second_run(pid: int) -> None:
        second = ["run", *args, "--out", str(out), "--quiet"]
        env = {"SYNTHAUG_CACHE": str(tmp_path / "cache.sqlite3")}
        refusals.append((pid, run_cli(*second, cwd=tmp_path, env=env)))

    _, summary, _ = resume_after_kill(tmp_path, *args, after_calls=12, while_running=second_run)
    assert summary["steps"][0]["rows_out"] == 8
    ((pid, refused),) = refusals
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert f"another synthaug run (pid {pid}) is writing it" in refused.stderr
