"""A Self-Instruct run replayed from a request cache written by an earlier version of synthaug.

``fixtures/replay`` holds the cache and the records of a run made before the consolidation of
the step toolkit (``synthaug run self_instruct`` with 4 instructions, 160 tokens). Replaying the
same command from a copy of that cache must make zero model calls and write the very same
bytes: refactors keep request keys, record ids and field order.

The expected records were rewritten once, when the records step took the reference's
fine-tuning templates (issue 15, fix 5): the prompts changed, the model answers did not.
Since generate_until bounds its window by the missing items, the run asks for 12 of the
cached answers (it used to send 4 bootstrap requests whose answers were thrown away).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run_cli, summary_of

FIXTURES = Path(__file__).parent / "fixtures" / "replay"
ARGS = [
    "--set", "steps[0].params.num_instructions=4",
    "--set", "steps[0].params.max_tokens=160",
    "--set", "steps[0].params.requests_in_flight=8",
]  # fmt: skip


def test_self_instruct_replays_an_old_cache_byte_for_byte(tmp_path):
    cache = tmp_path / "cache.sqlite3"
    shutil.copy(FIXTURES / "self_instruct.cache.sqlite3", cache)
    out = tmp_path / "data.jsonl"
    done = run_cli(
        "run", "self_instruct", *ARGS, "--out", str(out), "--cache", str(cache), "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = summary_of(out)
    assert summary["llm"]["model_calls"] == 0
    assert summary["llm"]["cache_hits"] == 12
    assert out.read_bytes() == (FIXTURES / "self_instruct.expected.jsonl").read_bytes()
