"""Sandboxed execution of generated Python.

Each run is a separate process started in an empty temporary directory with a
scrubbed environment (no API keys, no ``PYTHON*`` variables from the host), in
new network and PID namespaces when the kernel allows it (``unshare``: no
network at all; the whole process tree dies with the run), under CPU-time,
address-space, file-size, process-count and open-file limits, with a wall-clock
timeout that kills the whole session, and stdout/stderr capped. Inside, an
audit hook (``bootstrap.py``) refuses process creation, sockets, ``ctypes``,
writes outside the directory and reads of other processes' ``/proc`` files.

Every outcome is a verdict (``ExecResult.status``), never a hang or an
exception. What it does not protect against is listed in ``docs/sandbox.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..hashing import stable_hash
from ..llm.cache import RequestCache

BOOTSTRAP = str(Path(__file__).with_name("bootstrap.py"))
Status = Literal[
    "ok",
    "error",
    "exit",
    "exited_early",
    "timeout",
    "cpu_limit",
    "memory_limit",
    "output_limit",
    "file_size_limit",
    "blocked",
    "killed",
]
EVIDENCE_CHARS = 2000
UNSHARE_LOST_SIGKILL = "unshare: sigprocmask unblock failed: Invalid argument\n"
RESULT_VERSION = 2


class Limits(BaseModel):
    """Resource limits of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wall_s: float = Field(10.0, gt=0)
    cpu_s: float = Field(5.0, gt=0)
    memory_mb: int = Field(1024, ge=64)
    file_size_mb: int = Field(16, ge=0)
    processes: int = Field(64, ge=1)  # RLIMIT_NPROC: per user, and not enforced for root
    open_files: int = Field(256, ge=16)
    output_bytes: int = Field(1_000_000, ge=1024)  # per stream


@dataclass
class ExecResult:
    """The verdict of one run and what it printed."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def evidence(self) -> dict[str, object]:
        """A small JSON-able summary to store in a record."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "wall_s": self.wall_s,
            "detail": self.detail,
            "stdout": self.stdout[:EVIDENCE_CHARS],
            "stderr": self.stderr[-EVIDENCE_CHARS:],
        }


@functools.cache
def namespace_prefix() -> tuple[str, ...]:
    """``unshare`` arguments for new network + PID namespaces, or () where not permitted."""
    command = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        command.append("--map-root-user")
    if shutil.which("unshare") is None:
        return ()
    try:
        probe = subprocess.run([*command, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(command) if probe.returncode == 0 else ()


def isolation() -> list[str]:
    """The protections in force on this machine."""
    layers = ["rlimits", "audit_hook", "scrubbed_env", "empty_tmpdir", "session_kill"]
    return (["netns", "pidns"] if namespace_prefix() else []) + layers


def _scrubbed_env(workdir: str, nonce: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "SYNTHAUG_SANDBOX_NONCE": nonce,
    }


class _Capture:
    """Reads a stream up to a byte cap; reports when the cap was passed."""

    def __init__(self, cap: int):
        self.cap, self.data, self.over = cap, bytearray(), asyncio.Event()

    async def drain(self, stream: asyncio.StreamReader) -> None:
        """Keep reading to EOF (past the cap, discarding): before Python 3.12 a process's
        ``wait()`` does not return while one of its pipes is left unread."""
        while chunk := await stream.read(65536):
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > room:
                self.over.set()

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Sandbox:
    """Runs Python code under ``limits``; results cached by (code, stdin, limits) in ``cache``.

    At most ``parallel`` runs at once (default: the number of CPUs).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        cache: RequestCache | None = None,
        parallel: int | None = None,
    ):
        self.limits = limits or Limits()
        self.cache = cache
        self.parallel = parallel or os.cpu_count() or 1
        self._gates: dict[int, asyncio.Semaphore] = {}
        self.executions = 0
        self.cache_hits = 0

    def with_limits(self, limits: Limits) -> Sandbox:
        """The same sandbox (cache, concurrency gate) with other limits."""
        other = Sandbox(limits, self.cache, self.parallel)
        other._gates = self._gates
        return other

    def key(self, code: str, stdin: str = "") -> str:
        limits = self.limits.model_dump()
        return stable_hash({"v": RESULT_VERSION, "code": code, "stdin": stdin, "limits": limits})

    async def run(self, code: str, stdin: str = "") -> ExecResult:
        """Execute ``code`` (reading ``stdin``); a stored result is returned when there is one."""
        key = self.key(code, stdin)
        if self.cache is not None and (stored := self.cache.get_execution(key)):
            self.cache_hits += 1
            return ExecResult(**json.loads(stored))
        loop = id(asyncio.get_running_loop())
        gate = self._gates.setdefault(loop, asyncio.Semaphore(self.parallel))
        async with gate:
            result = await execute(code, stdin, self.limits)
        self.executions += 1
        if self.cache is not None:
            self.cache.put_execution(key, json.dumps(asdict(result)))
        return result

    def run_sync(self, code: str, stdin: str = "") -> ExecResult:
        """``run`` for callers without an event loop."""
        return asyncio.run(self.run(code, stdin))


async def execute(code: str, stdin: str, limits: Limits) -> ExecResult:
    """One uncached run in a fresh temporary directory."""
    workdir = tempfile.mkdtemp(prefix="synthaug-sandbox-")
    try:
        Path(workdir, "main.py").write_text(code, encoding="utf-8")
        return await _supervise(workdir, stdin, limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _supervise(workdir: str, stdin: str, limits: Limits) -> ExecResult:
    nonce = secrets.token_hex(16)
    command = [
        *namespace_prefix(),
        sys.executable,
        "-S",
        "-P",
        "-B",
        BOOTSTRAP,
        str(Path(workdir, "main.py")),
        *(str(value) for value in (limits.cpu_s, limits.memory_mb, limits.file_size_mb)),
        *(str(value) for value in (limits.processes, limits.open_files)),
        *site.getsitepackages(),
    ]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=workdir,
        env=_scrubbed_env(workdir, nonce),
        start_new_session=True,
    )
    out, err = _Capture(limits.output_bytes + 4096), _Capture(limits.output_bytes)
    readers = asyncio.gather(out.drain(process.stdout), err.drain(process.stderr))  # type: ignore[arg-type]
    overflow = asyncio.ensure_future(_first_of(out.over, err.over))
    feeding = asyncio.ensure_future(_feed(process, stdin))
    reason = None
    try:
        done, _ = await asyncio.wait(
            {asyncio.ensure_future(process.wait()), overflow},
            timeout=limits.wall_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if overflow in done:
            reason = "output_limit"
        elif not done:
            reason = "timeout"
    finally:
        if reason or process.returncode is None:
            _kill_session(process.pid)
        overflow.cancel()
        feeding.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(readers, timeout=5)
        with contextlib.suppress(TimeoutError):  # a pipe held open by an escaped process
            await asyncio.wait_for(process.wait(), timeout=5)
    wall = round(time.monotonic() - started, 3)
    return _verdict(out.text(), err.text(), process.returncode, nonce, reason, wall, limits)


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _feed(process: asyncio.subprocess.Process, stdin: str) -> None:
    try:
        process.stdin.write(stdin.encode())  # type: ignore[union-attr]
        await process.stdin.drain()  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
    except (BrokenPipeError, ConnectionResetError):
        pass


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _verdict(
    stdout: str,
    stderr: str,
    returncode: int | None,
    nonce: str,
    reason: str | None,
    wall: float,
    limits: Limits,
) -> ExecResult:
    """Read the bootstrap's marker line (if any) and name the outcome."""
    marker = stdout.rfind(f"\n{nonce}\t")
    report = None
    if marker >= 0:
        fields = stdout[marker + len(nonce) + 2 :].split("\n", 1)[0].split("\t", 2)
        if len(fields) == 3 and fields[1].lstrip("-").isdigit():
            report = {"status": fields[0], "code": int(fields[1]), "detail": fields[2]}
        stdout = stdout[:marker]
    stdout = stdout[: limits.output_bytes]
    if stderr.endswith(UNSHARE_LOST_SIGKILL):  # unshare cannot re-raise its child's SIGKILL
        stderr, returncode = stderr[: -len(UNSHARE_LOST_SIGKILL)], -signal.SIGKILL
    if reason == "timeout":
        return ExecResult(
            "timeout", None, stdout, stderr, wall, f"wall time over {limits.wall_s} s"
        )
    if reason == "output_limit":
        detail = f"output over {limits.output_bytes} bytes"
        return ExecResult("output_limit", None, stdout, stderr, wall, detail)
    if report:
        return ExecResult(report["status"], report["code"], stdout, stderr, wall, report["detail"])
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        status: Status = (
            "cpu_limit" if -returncode in (signal.SIGXCPU, signal.SIGKILL) else "killed"
        )
        return ExecResult(status, returncode, stdout, stderr, wall, f"killed by {name}")
    detail = "the process ended before the code finished (os._exit or a crash)"
    return ExecResult("exited_early", returncode, stdout, stderr, wall, detail)
