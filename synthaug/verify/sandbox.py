"""Sandboxed execution of generated Python.

Each run is a fresh interpreter inside an OS-level boundary (``boundary.py``:
bubblewrap namespaces as an unprivileged user, a read-only root holding only
the Python installation, a size-limited private ``/tmp``, a fresh ``/proc``, no
network, and a seccomp filter), with a scrubbed environment, under CPU-time,
address-space, file-size, process-count and open-file limits, with a
wall-clock timeout that kills the whole process tree, and stdout/stderr capped.
Inside, an audit hook (``bootstrap.py``) refuses process creation, sockets,
``ctypes`` and writes outside the directory: an informative second layer, not
the boundary. Where the boundary cannot be set up, runs are refused
(``SandboxUnavailable``, one line) unless the sandbox was made with
``unsafe=True``, which every verdict then records.

Checks whose verdict matters run the candidate and the checking code in two
processes that reach each other only through a pipe of JSON values
(``run_tests``: both in one boundary, the tests' process forking the
candidate's before any generated code runs; ``call_function``: the candidate
alone, called from here; see ``bootstrap.py``).

A program other than Python (``run_command``, e.g. a proof checker) runs in the same
boundary, on input files placed read-only in its working directory, with the program and the
few host files it reads bound read-only; the sandbox's interpreter sets the limits, then
``exec``s it (the seccomp filter refuses any further process).

Every outcome is a verdict (``ExecResult.status``), never a hang or an
exception. What it does not protect against is listed in ``docs/sandbox.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import site
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import SynthaugError
from ..hashing import stable_hash
from ..llm.cache import RequestCache
from ..machine import usable_cpus
from . import boundary
from .bootstrap import Unserialisable, decode, encode

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
    "unverifiable",
]
EVIDENCE_CHARS = 2000
RESULT_VERSION = 3
UNSAFE_FLAG = "--unsafe-sandbox"
DATA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# ``run_command``'s launcher: set the limits (as ``bootstrap.set_limits``), then become the program
LAUNCH = """import os, resource, signal, sys
cpu, memory, size, processes, files = (int(v) for v in sys.argv[1:6])
for which, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, memory),
                     (resource.RLIMIT_FSIZE, size), (resource.RLIMIT_NPROC, processes),
                     (resource.RLIMIT_NOFILE, files), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(which, (value, value + 1 if which == resource.RLIMIT_CPU else value))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
os.execv(sys.argv[7], sys.argv[7:])
"""


class SandboxUnavailable(SynthaugError):
    """The OS boundary cannot be set up here and the sandbox was not made ``unsafe``."""


class Limits(BaseModel):
    """Resource limits of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wall_s: float = Field(10.0, gt=0)
    cpu_s: float = Field(5.0, gt=0)
    memory_mb: int = Field(1024, ge=64)
    file_size_mb: int = Field(16, ge=0)
    disk_mb: int = Field(64, ge=1)  # the private /tmp (a tmpfs) holding the working directory
    # RLIMIT_NPROC, threads (fork is refused); per host user, so x ``parallel`` in force
    processes: int = Field(64, ge=1)
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
    isolation: str = ""  # the boundary, and "two-process" when the checks ran apart

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
            "isolation": self.isolation,
            "stdout": self.stdout[:EVIDENCE_CHARS],
            "stderr": self.stderr[-EVIDENCE_CHARS:],
        }


def isolation(unsafe: bool = False) -> list[str]:
    """The protections in force on this machine."""
    reason, how = boundary.mode()
    layers = ["rlimits", "audit_hook", "scrubbed_env", "private_tmp", "tree_kill"]
    if reason is None:
        user = "uid_nobody" if how == "nobody" else "userns_uid_65534"
        return ["bwrap", user, "netns", "pidns", "mntns", "ipcns", "seccomp", *layers]
    return ["UNSAFE_no_boundary", *layers] if unsafe else []


def _scrubbed_env(home: str, data_dir: str | None = None) -> dict[str, str]:
    data = {"SYNTHAUG_DATA": data_dir} if data_dir else {}
    return data | {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
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

    At most ``parallel`` runs at once (default: the number of CPUs). ``unsafe=True`` runs
    code without the OS boundary where it cannot be set up (the CLI's ``--unsafe-sandbox``);
    every verdict then says so in its ``isolation``.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        cache: RequestCache | None = None,
        parallel: int | None = None,
        *,
        unsafe: bool = False,
    ):
        self.limits = limits or Limits()
        self.cache = cache
        self.parallel = parallel or usable_cpus()
        self.unsafe = unsafe
        self._gates: dict[int, asyncio.Semaphore] = {}
        self.executions = 0
        self.cache_hits = 0

    def with_limits(self, limits: Limits) -> Sandbox:
        """The same sandbox (cache, concurrency gate) with other limits."""
        other = Sandbox(limits, self.cache, self.parallel, unsafe=self.unsafe)
        other._gates = self._gates
        return other

    def level(self) -> str:
        """The isolation recorded in each verdict; raises ``SandboxUnavailable``."""
        reason, how = boundary.mode()
        if reason is None:
            return f"bwrap+seccomp({how})"
        if not self.unsafe:
            raise SandboxUnavailable(
                f"cannot run generated code: {reason} (or accept running it without the "
                f"boundary: {UNSAFE_FLAG})"
            )
        return "UNSAFE:no-boundary"

    def _process_limits(self) -> Limits:
        """``limits`` as the processes get them: RLIMIT_NPROC counts every process and thread
        of the host user, and the runs at once share that user."""
        return self.limits.model_copy(update={"processes": self.limits.processes * self.parallel})

    def key(self, code: str, stdin: str = "", kind: str = "run", extra: Any = None) -> str:
        limits = self.limits.model_dump()
        payload = {"v": RESULT_VERSION, "code": code, "stdin": stdin, "limits": limits}
        if kind != "run":
            payload |= {"kind": kind, "extra": extra, "unsafe": self.unsafe}
        elif self.unsafe:
            payload["unsafe"] = True
        return stable_hash(payload)

    async def _cached(self, key: str, job) -> Any:
        if self.cache is not None and (stored := self.cache.get_execution(key)):
            self.cache_hits += 1
            return json.loads(stored)
        level = self.level()
        loop = id(asyncio.get_running_loop())
        gate = self._gates.setdefault(loop, asyncio.Semaphore(self.parallel))
        async with gate:
            value = await job(level)
        self.executions += 1
        if self.cache is not None:
            self.cache.put_execution(key, json.dumps(value))
        return value

    async def run(self, code: str, stdin: str = "") -> ExecResult:
        """Execute ``code`` (reading ``stdin``); a stored result is returned when there is one."""

        async def job(level: str) -> dict:
            return asdict(await execute(code, stdin, self._process_limits(), level))

        return ExecResult(**await self._cached(self.key(code, stdin), job))

    async def run_tests(self, solution: str, tests: str) -> ExecResult:
        """``tests`` against ``solution``'s functions, each in its own process (the tests
        call the solution's functions through a pipe): ``ok`` only when the tests' process,
        which the solution cannot reach, finished."""

        async def job(level: str) -> dict:
            return asdict(await execute_pair(solution, tests, self._process_limits(), level))

        key = self.key(solution, kind="tests", extra=tests)
        return ExecResult(**await self._cached(key, job))

    async def call_function(
        self, code: str, func_name: str, inputs: list[dict[str, Any]], timeout: float,
        data: dict[str, bytes] | None = None,
    ) -> tuple[ExecResult, list[dict[str, Any]]]:  # fmt: skip
        """Call ``func_name(**input)`` for each input in the candidate's process; this
        process sends the calls and reads the outcomes. ``data`` (file name -> contents) is
        given to the code read-only, in the folder named by ``$SYNTHAUG_DATA``: passed by
        descriptor and bound read-only (``boundary.DATA_AT``), never a host path."""
        for name in data or {}:
            if not DATA_NAME.match(name):
                raise ValueError(f"data file name {name!r}: letters, digits, '.', '_', '-'")

        async def job(level: str) -> dict:
            result, outcomes = await execute_calls(
                code, func_name, inputs, timeout, self._process_limits(), level, data
            )
            return {"result": asdict(result), "outcomes": outcomes}

        extra: list[Any] = [func_name, inputs, timeout]
        if data:  # the contents' hashes: a changed file is a new run
            extra.append({n: hashlib.sha256(b).hexdigest() for n, b in sorted(data.items())})
        key = self.key(code, kind="calls", extra=extra)
        stored = await self._cached(key, job)
        return ExecResult(**stored["result"]), stored["outcomes"]

    async def run_command(
        self, argv: list[str], files: dict[str, str], read_only: tuple[str, ...] = (),
        limits: Limits | None = None,
    ) -> ExecResult:  # fmt: skip
        """Run the program ``argv[0]`` (an absolute host path) with ``argv[1:]`` in a working
        directory holding ``files`` (name -> text, read-only; the program may write beside
        them), under ``limits`` (default: the sandbox's); ``read_only`` names the host paths
        it needs outside the sandbox's read-only root (``/usr/lib`` and the Python
        installation), bound read-only where they are. ``ok`` when it exits 0, ``error``
        (with the code) otherwise."""
        if not os.path.isabs(argv[0]):
            raise ValueError(f"run_command: {argv[0]!r} is not an absolute path")
        for name in files:
            if not DATA_NAME.match(name):
                raise ValueError(f"file name {name!r}: letters, digits, '.', '_', '-'")
        data = {name: text.encode() for name, text in files.items()}

        runner = self if limits is None else self.with_limits(limits)

        async def job(level: str) -> dict:
            limits = runner._process_limits()
            return asdict(await execute_command(argv, data, read_only, limits, level))

        hashes = {n: hashlib.sha256(b).hexdigest() for n, b in sorted(data.items())}
        key = runner.key("", kind="command", extra=[argv, hashes, list(read_only)])
        return ExecResult(**await self._cached(key, job))

    def run_sync(self, code: str, stdin: str = "") -> ExecResult:
        """``run`` for callers without an event loop."""
        return asyncio.run(self.run(code, stdin))


class _Process:
    """One sandboxed interpreter (with ``tests``: a pair, see ``execute_pair``): started, its
    output captured, its reports read."""

    def __init__(
        self, mode: str, code: str, limits: Limits, level: str, channel=(-1, -1), timeout=0.0,
        tests: tuple[str, tuple[int, int]] | None = None, data: dict[str, bytes] | None = None,
    ):  # fmt: skip
        self.mode, self.code, self.limits, self.level = mode, code, limits, level
        self.channel, self.timeout, self.tests, self.data = channel, timeout, tests, data or {}
        self.out = _Capture(limits.output_bytes)
        self.err = _Capture(limits.output_bytes)
        self.process: asyncio.subprocess.Process | None = None
        self.reports: list[int] = []  # read ends: the tests' (or only) one, the candidate's
        self.workdir: str | None = None

    def _report_pipe(self) -> int:
        read, write = os.pipe()
        os.set_blocking(read, False)
        self.reports.append(read)
        return write

    async def start(self) -> None:
        limits = self.limits
        fds = [self._report_pipe(), *self.channel]
        if self.tests is not None:  # the candidate's report and channel, the tests' source
            tests, candidate_channel = self.tests
            fds += [self._report_pipe(), *candidate_channel, boundary.data_fd(tests.encode())]
        numbers = (limits.cpu_s, limits.memory_mb, limits.file_size_mb, limits.processes,
                   limits.open_files, ",".join(map(str, fds)), self.timeout)  # fmt: skip
        tail = [str(value) for value in numbers] + site.getsitepackages()
        keep = [fd for fd in fds if fd >= 0]
        closing = list(keep)  # this process's ends of its pipes: the parent keeps none
        options: dict[str, Any] = {}
        if self.level.startswith("bwrap"):
            files = {"bootstrap": boundary.data_fd(boundary.bootstrap_code()),
                     "main": boundary.data_fd(self.code.encode()),
                     "no_spawn": boundary.data_fd(boundary.compile_no_spawn())}  # fmt: skip
            files |= {f"data:{name}": boundary.data_fd(body) for name, body in self.data.items()}
            seccomp = boundary.data_fd(boundary.compile_filter(fork=self.tests is not None) or b"")
            env = _scrubbed_env(boundary.WORKDIR, boundary.DATA_AT if self.data else None)
            command = [
                *boundary.command(files, limits.disk_mb, env, seccomp),
                boundary.python_binary(), "-S", "-P", "-B", boundary.BOOTSTRAP_AT,
                self.mode, boundary.MAIN_AT, *tail,
            ]  # fmt: skip
            keep += [*files.values(), seccomp]
            closing += [*files.values(), seccomp]
            options = boundary.start_options(boundary.mode()[1] == "nobody")
            options |= {"env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}}
        else:
            self.workdir = tempfile.mkdtemp(prefix="synthaug-sandbox-")
            main = Path(self.workdir, "main.py")
            main.write_text(self.code, encoding="utf-8")
            command = [sys.executable, "-S", "-P", "-B", BOOTSTRAP, self.mode, str(main), *tail]
            options = {"cwd": self.workdir, "env": _scrubbed_env(self.workdir, self._data_dir())}
        await self._spawn(command, keep, closing, options)

    async def _spawn(
        self, command: list[str], keep: list[int], closing: list[int], options: dict[str, Any]
    ) -> None:
        """Start ``command`` in a session of its own, passing ``keep``; close ``closing``."""
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                pass_fds=keep,
                **options,
            )
        finally:
            for fd in closing:
                os.close(fd)

    def _data_dir(self) -> str | None:
        """Without the boundary: the data files in a folder beside the working directory,
        read-only (as far as permissions go: nothing protects them in an unsafe run)."""
        if not self.data:
            return None
        folder = Path(f"{self.workdir}-data")
        folder.mkdir(mode=0o755)
        for name, body in self.data.items():
            (folder / name).write_bytes(body)
            (folder / name).chmod(0o444)
        folder.chmod(0o555)
        return str(folder)

    def report(self, which: int = 0) -> dict[str, Any] | None:
        """The last report line of the bootstrap (``which`` 1: a pair's candidate), if any."""
        data = b""
        with contextlib.suppress(BlockingIOError, OSError, IndexError):
            while chunk := os.read(self.reports[which], 65536):
                data += chunk
        lines = [line for line in data.decode("utf-8", "replace").split("\n") if line]
        fields = lines[-1].split("\t", 2) if lines else []
        if len(fields) == 3 and fields[1].lstrip("-").isdigit():
            return {"status": fields[0], "code": int(fields[1]), "detail": fields[2]}
        return None

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        for fd in self.reports:
            os.close(fd)
        self.reports = []
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.data and os.path.isdir(f"{self.workdir}-data"):
                os.chmod(f"{self.workdir}-data", 0o755)
                shutil.rmtree(f"{self.workdir}-data", ignore_errors=True)


class _Command(_Process):
    """One sandboxed program that is not Python (see ``Sandbox.run_command``)."""

    def __init__(
        self, argv: list[str], files: dict[str, bytes], read_only: tuple[str, ...],
        limits: Limits, level: str,
    ):  # fmt: skip
        super().__init__("command", "", limits, level)
        self.argv, self.files, self.read_only = argv, files, read_only

    async def start(self) -> None:
        limits = self.limits
        numbers = (max(1, int(limits.cpu_s + 0.999)), limits.memory_mb * 2**20,
                   limits.file_size_mb * 2**20, limits.processes, limits.open_files)  # fmt: skip
        launch = [boundary.python_binary(), "-S", "-P", "-B", "-c", LAUNCH,
                  *map(str, numbers), "--", *self.argv]  # fmt: skip
        keep: list[int] = []
        if self.level.startswith("bwrap"):
            fds = {name: boundary.data_fd(body) for name, body in self.files.items()}
            seccomp = boundary.data_fd(boundary.compile_filter() or b"")
            env = _scrubbed_env(boundary.WORKDIR)
            command = [
                *boundary.command({}, limits.disk_mb, env, seccomp),
                *boundary.command_binds(self.read_only, fds), *launch,
            ]  # fmt: skip
            keep = [*fds.values(), seccomp]
            options = boundary.start_options(boundary.mode()[1] == "nobody")
            options |= {"env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}}
        else:
            self.workdir = tempfile.mkdtemp(prefix="synthaug-sandbox-")
            for name, body in self.files.items():
                Path(self.workdir, name).write_bytes(body)
            command = launch
            options = {"cwd": self.workdir, "env": _scrubbed_env(self.workdir)}
        await self._spawn(command, keep, keep, options)


async def execute_command(
    argv: list[str], files: dict[str, bytes], read_only: tuple[str, ...], limits: Limits,
    level: str,
) -> ExecResult:  # fmt: skip
    """One uncached run of a program (``Sandbox.run_command``)."""
    one = _Command(argv, files, read_only, limits, level)
    try:
        reason, wall = await _supervise(one, "", limits)
        result = _verdict(one, reason, wall, limits, level)
    finally:
        one.close()
    if result.status != "exited_early":  # a limit, a signal
        return result
    code = result.exit_code
    status: Status = "ok" if code == 0 else "error"
    detail = "" if code == 0 else f"exit code {code}"
    return ExecResult(status, code, result.stdout, result.stderr, wall, detail, level)


async def _supervise(one: _Process, stdin: str, limits: Limits) -> tuple[str | None, float]:
    """Wait for the process to end, then kill what remains of its tree; or kill it at the wall
    time or an output flood."""
    started = time.monotonic()
    try:
        await one.start()
        process = one.process
        readers = asyncio.gather(
            one.out.drain(process.stdout),  # type: ignore[union-attr, arg-type]
            one.err.drain(process.stderr),  # type: ignore[union-attr, arg-type]
        )
        ended = asyncio.ensure_future(process.wait())  # type: ignore[union-attr]
        feed = asyncio.ensure_future(_feed(process, stdin))  # type: ignore[arg-type]
        overflow = asyncio.ensure_future(_first_of(one.out.over, one.err.over))
        reason = None
        try:
            done, _ = await asyncio.wait(
                {ended, overflow}, timeout=limits.wall_s, return_when=asyncio.FIRST_COMPLETED
            )
            if overflow in done:
                reason = "output_limit"
            elif not done:
                reason = "timeout"
        finally:
            one.kill()
            overflow.cancel()
            feed.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(readers, timeout=5)
            with contextlib.suppress(TimeoutError):  # a pipe held open by an escaped process
                await asyncio.wait_for(ended, timeout=5)
    except BaseException:
        one.kill()
        raise
    return reason, round(time.monotonic() - started, 3)


async def execute(code: str, stdin: str, limits: Limits, level: str = "UNSAFE:no-boundary"):
    """One uncached run."""
    one = _Process("run", code, limits, level)
    try:
        reason, wall = await _supervise(one, stdin, limits)
        return _verdict(one, reason, wall, limits, level)
    finally:
        one.close()


async def execute_pair(solution: str, tests: str, limits: Limits, level: str) -> ExecResult:
    """The tests (``test``) and the solution (``serve``) as two processes of one sandbox, joined
    by pipes; the run ends when the tests' process does. Their output is one stream."""
    to_candidate, from_tests = os.pipe()
    to_tests, from_candidate = os.pipe()
    pair = _Process(
        "pair", solution, limits, level, (to_tests, from_tests),
        tests=(tests, (to_candidate, from_candidate)),
    )  # fmt: skip
    try:
        reason, wall = await _supervise(pair, "", limits)
        result = _verdict(pair, reason, wall, limits, level + "+two-process")
        served = pair.report(1)
    finally:
        pair.close()
    if result.status == "candidate_gone":  # the candidate's own outcome says why
        status, code, why = "exited_early", None, "the process ended before the code finished"
        if served and served["status"] != "ok":
            status, code, why = served["status"], served["code"], served["detail"] or status
        return ExecResult(status, code, result.stdout, result.stderr, wall,  # type: ignore[arg-type]
                          f"the solution's process: {why}", result.isolation)  # fmt: skip
    return result


async def execute_calls(
    code: str, func_name: str, inputs: list[dict[str, Any]], timeout: float, limits: Limits,
    level: str, data: dict[str, bytes] | None = None,
) -> tuple[ExecResult, list[dict[str, Any]]]:  # fmt: skip
    """The candidate serves; this process sends each call and decodes each outcome."""
    to_candidate, from_parent = os.pipe()
    to_parent, from_candidate = os.pipe()
    candidate = _Process(
        "serve", code, limits, level, (to_candidate, from_candidate), timeout, data=data
    )
    replies: list[Any] = []
    loop = asyncio.get_running_loop()

    def converse() -> None:
        with os.fdopen(from_parent, "wb") as sink, os.fdopen(to_parent, "rb") as source:
            hello = source.readline()
            if not hello.startswith(b'{"names"'):
                return
            for arguments in inputs:
                request = {"call": func_name, "args": [], "kwargs": encode(arguments)}
                sink.write((json.dumps(request) + "\n").encode())
                sink.flush()
                line = source.readline()
                if not line:
                    return
                replies.append(json.loads(line))

    try:
        talk = asyncio.ensure_future(loop.run_in_executor(None, converse))
        reason, wall = await _supervise(candidate, "", limits)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(talk, timeout=5)
        result = _verdict(candidate, reason, wall, limits, level + "+two-process")
    finally:
        candidate.close()
    if not result.ok or len(replies) != len(inputs):
        return result, []
    return result, [_outcome(reply) for reply in replies]


def _outcome(reply: Any) -> dict[str, Any]:
    """A reply as Case2Code stores it: ``{"return": JSON value}`` or ``{"error": text}``."""
    if isinstance(reply, dict) and "return" in reply:
        try:
            return {"return": json.loads(json.dumps(decode(reply["return"]), allow_nan=True))}
        except (Unserialisable, TypeError, ValueError) as error:
            return {"error": f"Unverifiable: {error}"[:300]}
    if isinstance(reply, dict) and isinstance(reply.get("raise"), list) and reply["raise"]:
        kind, message = [*reply["raise"], ""][:2]
        return {"error": f"{kind}: {message}"[:300]}
    problem = reply.get("unverifiable") if isinstance(reply, dict) else "garbled reply"
    return {"error": f"Unverifiable: {problem}"[:300]}


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


def _verdict(
    one: _Process, reason: str | None, wall: float, limits: Limits, level: str
) -> ExecResult:
    """Name the outcome from the bootstrap's report (if any) and how the process ended."""
    stdout, stderr = one.out.text(), one.err.text()
    returncode = one.process.returncode if one.process is not None else None
    report = one.report()
    if reason == "timeout":
        detail = f"wall time over {limits.wall_s} s"
        return ExecResult("timeout", None, stdout, stderr, wall, detail, level)
    if reason == "output_limit":
        detail = f"output over {limits.output_bytes} bytes"
        return ExecResult("output_limit", None, stdout, stderr, wall, detail, level)
    if report:
        status, code, detail = report["status"], report["code"], report["detail"]
        return ExecResult(status, code, stdout, stderr, wall, detail, level)
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        status: Status = (
            "cpu_limit" if -returncode in (signal.SIGXCPU, signal.SIGKILL) else "killed"
        )
        return ExecResult(status, returncode, stdout, stderr, wall, f"killed by {name}", level)
    if returncode is not None and returncode > 128 and level.startswith("bwrap"):
        number = returncode - 128  # bwrap exits 128 + N when its child dies of signal N
        with contextlib.suppress(ValueError):
            name = signal.Signals(number).name
            status = "cpu_limit" if number in (signal.SIGXCPU, signal.SIGKILL) else "killed"
            return ExecResult(status, -number, stdout, stderr, wall, f"killed by {name}", level)
    detail = "the process ended before the code finished (os._exit or a crash)"
    return ExecResult("exited_early", returncode, stdout, stderr, wall, detail, level)
