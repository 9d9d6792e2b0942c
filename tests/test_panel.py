"""The live progress panel: its figures from real run counters, and real ``synthaug run``s on a
pseudo-terminal (the embedded model) — the panel is drawn, the summary follows it, Ctrl-C
leaves the terminal whole (cursor shown, one line saying so, no output file)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import read_jsonl, summary_of
from rich.console import Console

from synthaug.engine.panel import Panel
from synthaug.engine.progress import Progress, run_display
from synthaug.engine.summary import StepStats
from synthaug.llm.client import ClientStats, LLMClient
from synthaug.llm.openai import OpenAIBackend
from synthaug.llm.spend import Budget, Spend

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"
RECIPE = [
    "self_instruct",
    "--set", "steps[0].params.num_instructions=4",
    "--set", "steps[0].params.max_tokens=160",
]  # fmt: skip


def test_panel_shows_the_counters_of_real_stats():
    steps = [
        StepStats("instructions", "self_instruct.bootstrap", rows_out=40),
        StepStats("classify", "self_instruct.classify", rows_in=30, rows_out=28, reused=7),
        StepStats("instances", "self_instruct.instances", rows_in=20, rows_out=55),
    ]
    steps[1].errors["unparseable"] = 2
    client = LLMClient(OpenAIBackend("http://127.0.0.1:9/v1", "gpt-4o-mini"))
    client.stats.model_calls, client.stats.cache_hits = 123, 45
    client.stats.prompt_tokens, client.stats.completion_tokens = 9000, 4000
    spend = Spend({"default": client}, budget=Budget(max_tokens=50_000))
    progress = Progress(steps, client.stats, total=80, spend=spend, notes=[lambda: "3 batches"])
    progress.start -= 1000  # rates over 1000 s: the same at both readings below
    screen = io.StringIO()
    panel = Panel(progress, Console(file=screen, force_terminal=True, width=140))
    panel.console.print(panel.render())
    shown = ANSI.sub("", screen.getvalue())
    figures, line = progress.figures(), progress.line()
    rows = {r.split()[0]: r.split()[1:] for r in shown.splitlines() if r.split()}
    assert rows["instructions"][-4:] == ["40/80", "40", "0", "0"]  # a source has no "in"
    assert rows["classify"][-5:] == ["30/40", "30", "28", "7", "2"]
    assert rows["instances"][-5:] == ["20/28", "20", "55", "0", "0"]
    footer = " ".join(shown.splitlines()[-2:])
    assert f"{figures.rows_per_s:.1f} rows/s (instances)" in footer
    assert f"{figures.tokens_per_s:.0f} tok/s" in footer and "tok/s" in line
    assert "calls 123" in footer and "cache hits 45" in footer and "errors 2" in footer
    assert "3 batches" in footer and "3 batches" in line
    assert "13,000 tok of 50,000" in footer and f"spent {figures.spent}" in line
    assert re.search(r"ETA \d+:\d\d:\d\d", footer) and figures.eta is not None


def test_plain_line_when_stderr_is_not_a_terminal():
    steps = [StepStats("s", "m", rows_out=3)]
    chosen = run_display(steps, ClientStats(), total=None)
    assert type(chosen) is Progress and not chosen.tty  # pytest captures stderr: not a tty
    assert chosen.line().startswith("s:3 | ")


def run_on_terminal(args: list[str], cwd: Path, interrupt_when: str | None = None):
    """``synthaug ARGS`` with stdin, stdout and stderr on a 140-column pseudo-terminal (its
    controlling terminal); Ctrl-C typed once ``interrupt_when`` appears. Returns (exit code,
    everything written)."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "SYNTHAUG_CACHE": str(cwd / "cache.sqlite3"), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", "run", *args],
        cwd=cwd,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_own_terminal,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    interrupted = False
    deadline = time.monotonic() + 540
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: every holder of the terminal closed it
            break
        if not chunk:
            break
        chunks.append(chunk)
        text = b"".join(chunks).decode(errors="replace")
        if interrupt_when and not interrupted and interrupt_when in ANSI.sub("", text):
            os.write(main, b"\x03")  # the terminal sends SIGINT to its foreground group
            interrupted = True
    os.close(main)
    code = process.wait(timeout=120)
    return code, b"".join(chunks).decode(errors="replace")


def _own_terminal() -> None:
    """In the child: make stdin's terminal its controlling one, Ctrl-C a real SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # not ignored, even if the parent ignores it


@pytest.fixture(scope="module")
def terminal_runs(tmp_path_factory):
    """A run interrupted with Ctrl-C once its panel shows a rate, then the same run to the end
    (resumed from the cache and checkpoints)."""
    cwd = tmp_path_factory.mktemp("panel")
    out = cwd / "data.jsonl"
    args = [*RECIPE, "--out", str(out)]
    interrupted = run_on_terminal(args, cwd, interrupt_when="rows/s")
    assert not out.exists(), "an interrupted run must not leave an output"
    finished = run_on_terminal(args, cwd)
    return out, interrupted, finished


def test_a_run_on_a_terminal_shows_the_panel_then_the_summary(terminal_runs):
    out, _, (code, screen) = terminal_runs
    assert code == 0, screen
    plain = ANSI.sub("", screen)
    summary = summary_of(out)
    start = plain.index("run summary — self_instruct")
    panel, after = plain[:start], plain[start:]
    for step in summary["steps"]:  # the panel's last frame: each step with its rows out
        row = next(r for r in panel.splitlines()[::-1] if r.split()[:1] == [step["name"]])
        out_, reused, errors = row.split()[-3:]
        assert (out_, reused) == (str(step["rows_out"]), str(step["reused_from_checkpoint"]))
        assert errors == str(sum(step["errors"].values())), row
    assert re.search(r"\d+\.\d rows/s \(\w+\)", panel) and re.search(r"\d+ tok/s", panel)
    assert "cache hits" in panel and "elapsed 0:0" in panel
    assert f"{summary['records']} records" in after and f"data: {out}" in after
    assert len(read_jsonl(out)) == summary["records"]
    assert screen.rfind(SHOW) > screen.rfind(HIDE)  # the cursor is never left hidden
    assert "Traceback" not in plain


def test_ctrl_c_stops_the_panel_cleanly(terminal_runs):
    _, (code, screen), _ = terminal_runs
    plain = ANSI.sub("", screen)
    assert code == 130, screen
    lines = [line for line in plain.splitlines() if line.strip()]
    assert lines[-1] == "synthaug: interrupted; run the same command again to resume"
    assert "Traceback" not in plain
    assert "rows/s" in plain and screen.rfind(SHOW) > screen.rfind(HIDE)
