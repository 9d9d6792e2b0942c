"""Runs inside the sandbox process (as a script; the parent imports only the codec).

``python -S -P -B bootstrap.py MODE MAIN.py CPU_S MEMORY_MB FILE_SIZE_MB PROCESSES
OPEN_FILES FDS CALL_TIMEOUT_S SITE_DIR...`` (``FDS``: the ``REPORT,IN,OUT`` descriptors,
comma-separated). It puts the parent's
site-packages folders on ``sys.path`` (``-S`` skips ``site`` and its ``.pth``
files, which cost more than the rest of the start-up), lowers its own resource
limits, installs an audit hook (an informative second layer, not the boundary:
that is ``boundary.py``) that refuses process creation, network use,
native-code loading, writes outside the working directory and reads of other
processes' ``/proc`` entries, then executes ``MAIN.py`` as ``__main__``. When
the code returns (or raises, or calls ``sys.exit``) it writes one line,
``status<tab>exit code<tab>detail``, to ``REPORT_FD`` (a pipe to the parent), so the
parent can tell a finished run from an ``os._exit`` or a kill.

MODE ``run`` runs the program. For checks whose verdict matters, the code under
test and the checking code run in two processes (``serve`` and ``test``) that
talk over two pipes in JSON lines, values in the tagged encoding of
``encode``/``decode``: the candidate (``serve``) runs its code, sends the names
of its functions and answers calls; the tests (``test``) run with a stand-in
for each of those names that forwards the call. A value the encoding does not
cover makes the run ``unverifiable``. The candidate cannot reach the tests'
process, so it cannot change their verdict.

MODE ``pair`` starts both in one boundary (one interpreter start instead of
two): ``FDS`` adds the candidate's ``REPORT,IN,OUT`` and a descriptor holding
the tests' source. Before any untrusted code runs, the process makes itself
non-dumpable (so no other process of the sandbox user can open its ``/proc``
descriptors or memory) and forks: the child closes the tests' descriptors and
serves ``MAIN.py`` (killed when its parent ends); the parent closes the
candidate's, only then reads the tests' source (so the candidate's copy of its
memory never held it) and runs the tests. Each loads the seccomp filter that
refuses process creation and ``execve`` before its code runs.
"""

import _signal  # the C module: ``signal`` would import enum, a tenth of the start-up
import builtins
import os
import resource
import sys

MB = 1024 * 1024
NO_SPAWN_AT = "/sandbox/no-spawn.bpf"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
BLOCKED_EVENTS = {
    "os.fork": "process creation",
    "os.forkpty": "process creation",
    "os.posix_spawn": "process creation",
    "os.spawn": "process creation",
    "os.exec": "process creation",
    "os.system": "process creation",
    "subprocess.Popen": "process creation",
    "pty.spawn": "process creation",
    "os.kill": "signalling processes",
    "os.killpg": "signalling processes",
    "socket.connect": "network",
    "socket.bind": "network",
    "socket.sendto": "network",
    "socket.sendmsg": "network",
    "socket.getaddrinfo": "network",
    "socket.gethostbyname": "network",
    "ctypes.dlopen": "native code",
    "ctypes.dlsym": "native code",
    "ctypes.cdata": "native code",
    "os.setuid": "privileges",
    "os.setgid": "privileges",
}
# see ``preload``; loading a library or looking up a foreign function through ctypes is
# refused by the events above
BLOCKED_IMPORTS = {"_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels"}
# events whose path arguments are written (created, removed, renamed, changed)
PATH_EVENTS = {
    "os.remove",
    "os.rename",
    "os.mkdir",
    "os.rmdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "os.chflags",
    "os.lchflags",
    "os.mkfifo",
    "os.mknod",
    "shutil.rmtree",
}


def set_limits(cpu_s: float, memory_mb: int, file_size_mb: int, processes: int, files: int) -> None:
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MB, memory_mb * MB))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_mb * MB, file_size_mb * MB))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)  # an oversized write fails with EFBIG


def make_guard(workdir: str):
    """The audit hook. It closes over its own copies of what it calls, so code that
    rebinds ``os.path`` functions cannot switch it off."""
    realpath, fspath, join, getcwd = os.path.realpath, os.fspath, os.path.join, os.getcwd
    inside = realpath(workdir) + os.sep
    own_proc = "/proc/" + os.readlink("/proc/self") + "/"
    allowed_devices = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/urandom", "/dev/zero"}
    blocked_events, blocked_imports, path_events = (
        dict(BLOCKED_EVENTS),
        frozenset(BLOCKED_IMPORTS),
        frozenset(PATH_EVENTS),
    )

    def refuse(what: str) -> None:
        raise PermissionError(f"sandbox: {what} is not allowed")

    def resolved(path) -> str | None:
        if isinstance(path, int):
            return None  # an already open descriptor
        try:
            text = fspath(path)
        except TypeError:
            return None
        if isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        return realpath(join(getcwd(), text))

    def check_write(path) -> None:
        full = resolved(path)
        outside = full is not None and not (full + os.sep).startswith(inside)
        if outside and full not in allowed_devices:
            refuse(f"writing outside the working directory ({full})")

    def check_read(path) -> None:
        full = resolved(path)
        if full and full.startswith("/proc/") and not (full + "/").startswith(own_proc):
            head = full[6:].split("/", 1)[0]
            if head.isdigit() or full.endswith("environ"):
                refuse(f"reading another process's {full}")

    def guard(event: str, args: tuple) -> None:
        if event in blocked_events:
            refuse(f"{blocked_events[event]} ({event})")
        if event == "import" and args[0].split(".")[0] in blocked_imports:
            refuse(f"importing {args[0]}")
        if event == "open":
            path, mode, flags = args
            writing = (mode and any(c in mode for c in "wax+")) or (
                not mode and isinstance(flags, int) and flags & WRITE_FLAGS
            )
            (check_write if writing else check_read)(path)
        elif event in path_events:
            check_write(args[0])
            if event in ("os.rename", "os.link", "os.symlink"):
                check_write(args[1])

    return guard


def preload() -> None:
    """Before the hook: load the no-spawn filter, import ``ctypes`` (libraries such as sympy
    do; its own start-up loads a library), and put a stand-in for ``_posixsubprocess`` (whose
    ``fork_exec`` is not audited) in ``sys.modules``, so ``import subprocess`` still works and
    creating a process fails."""
    import ctypes

    no_spawn(ctypes)

    def fork_exec(*_args: object) -> None:
        raise PermissionError("sandbox: process creation (_posixsubprocess) is not allowed")

    stand_in = type(sys)("_posixsubprocess")
    stand_in.fork_exec = fork_exec  # type: ignore[attr-defined]
    sys.modules["_posixsubprocess"] = stand_in


def no_spawn(ctypes) -> None:
    """Load the second seccomp filter (``NO_SPAWN_AT``, written by the parent), which refuses
    ``execve`` and process creation: ``bwrap`` had to exec this interpreter (and, for a pair,
    it forks), so the first filter allows them."""
    try:
        with open(NO_SPAWN_AT, "rb") as handle:
            program = handle.read()
    except OSError:
        return  # not inside the boundary (an unsafe run)
    filters = ctypes.create_string_buffer(program, len(program))

    class Program(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    fprog = Program(len(program) // 8, ctypes.cast(filters, ctypes.c_void_p))
    if _libc(ctypes).prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # SET_SECCOMP, MODE_FILTER
        raise OSError(ctypes.get_errno(), "sandbox: loading the no-spawn filter failed")


def _libc(ctypes):
    return ctypes.CDLL(None, use_errno=True)


def split_pair(fds: list[int]) -> tuple[str, list[int], bytes | None]:
    """Fork the candidate off (see MODE ``pair``): (mode, its descriptors, the tests' source)."""
    import ctypes

    report, tests_in, tests_out, own_report, own_in, own_out, source_fd = fds
    libc = _libc(ctypes)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0, kept across the fork
        raise OSError(ctypes.get_errno(), "sandbox: prctl(PR_SET_DUMPABLE) failed")
    parent = os.getpid()
    if os.fork() == 0:
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG SIGKILL: gone when the tests are
        if os.getppid() != parent:
            os._exit(1)
        for fd in (report, tests_in, tests_out, source_fd):
            os.close(fd)
        return "serve", [own_report, own_in, own_out], None
    for fd in (own_report, own_in, own_out):
        os.close(fd)
    chunks = []
    while chunk := os.read(source_fd, 1 << 20):
        chunks.append(chunk)
    os.close(source_fd)
    return "test", [report, tests_in, tests_out], b"".join(chunks)


def classify(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "memory_limit"
    cause, seen = error, 0
    while cause is not None and seen < 10:  # a refusal wrapped by a library (URLError, ...)
        if "sandbox: " in str(cause):
            return "blocked"
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    if isinstance(error, OSError) and error.errno == 27:  # EFBIG
        return "file_size_limit"
    return "error"


class Unserialisable(TypeError):
    """A value outside the encoding (the verdict becomes ``unverifiable``)."""


class Unverifiable(BaseException):
    """Raised in the tests' process: a value could not cross between the processes.
    A ``BaseException``, so ``except Exception`` in the tests does not swallow it."""


class CandidateGone(BaseException):
    """Raised in the tests' process: the candidate's process ended or broke the protocol."""


def encode(value, depth=0):
    """A JSON-able form of ``value`` that keeps tuples, sets, bytes and dict keys apart."""
    kind = type(value)
    if depth > 100:
        raise Unserialisable("nested too deep")
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind is tuple:
        return {"t": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind in (set, frozenset):
        return {"s" if kind is set else "f": [encode(item, depth + 1) for item in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise Unserialisable(f"a {kind.__name__} value cannot be passed between the processes")


def decode(data):
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    ((tag, body),) = data.items()
    if tag == "t":
        return tuple(decode(item) for item in body)
    if tag == "d":
        return {decode(k): decode(v) for k, v in body}
    if tag in ("s", "f"):
        items = (decode(item) for item in body)
        return set(items) if tag == "s" else frozenset(items)
    if tag == "b":
        return bytes.fromhex(body)
    if tag == "c":
        return complex(*body)
    raise Unserialisable(f"unknown tag {tag!r}")


def exported(namespace: dict) -> list:
    """The names the candidate's process answers calls for: its functions and classes."""
    return sorted(
        name for name, value in namespace.items()
        if not name.startswith("__") and callable(value) and not hasattr(builtins, name)
    )  # fmt: skip


def json_codec():
    """(dumps, loads) for JSON lines on the C accelerator ``_json`` alone: the ``json`` package
    imports ``re`` and ``enum``, ~8 ms of a run's start-up. Same text as ``json.dumps``
    (``allow_nan``) and ``json.loads``; ``loads`` raises ``ValueError`` on anything else."""
    import _json

    constants = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

    class Context:  # what the C scanner reads from a ``json.JSONDecoder``
        strict, object_hook, object_pairs_hook, memo = True, None, None, {}
        parse_float, parse_int, parse_constant = float, int, constants.__getitem__

    def refuse(value):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    scan = _json.make_scanner(Context())
    encoder = _json.make_encoder(
        {}, refuse, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def dumps(value) -> str:
        return "".join(encoder(value, 0))

    def loads(text: str):
        text = text.strip()
        try:
            value, end = scan(text, 0)
        except StopIteration:
            raise ValueError("not JSON") from None
        if end != len(text):
            raise ValueError("extra data after the JSON value")
        return value

    return dumps, loads


def serve(namespace: dict, source, sink, timeout: float) -> None:
    """The candidate's side: answer ``{"call", "args", "kwargs"}`` lines until EOF."""
    dumps, loads = json_codec()

    class _Timeout(Exception):
        pass

    def alarm(*_):
        raise _Timeout(f"call took over {timeout} s")

    def send(message) -> None:
        for stream in (sys.stdout, sys.stderr):  # what the call printed, before the tests go on
            try:  # noqa: SIM105
                stream.flush()
            except Exception:
                pass
        sink.write((dumps(message) + "\n").encode())
        sink.flush()

    _signal.signal(_signal.SIGALRM, alarm)
    send({"names": exported(namespace)})
    while line := source.readline():
        request = loads(line.decode("utf-8"))
        try:
            function = namespace[request["call"]]
            args, kwargs = decode(request["args"]), decode(request["kwargs"])
            if timeout:
                _signal.setitimer(_signal.ITIMER_REAL, timeout)
            try:
                value = function(*args, **kwargs)
            finally:
                _signal.setitimer(_signal.ITIMER_REAL, 0)
            try:
                reply = {"return": encode(value)}
            except (Unserialisable, RecursionError) as error:
                reply = {"unverifiable": str(error)}
        except BaseException as error:  # the call's outcome, whatever it is
            reply = {"raise": [type(error).__name__, str(error)[:300]]}
        send(reply)


def proxies(source, sink, state: dict) -> dict:
    """The tests' side: a stand-in for each name the candidate sent."""
    dumps, loads = json_codec()

    def receive():
        line = source.readline()
        try:
            return loads(line.decode("utf-8", "replace"))
        except ValueError:
            state["gone"] = "the candidate's process ended or sent garbage"
            raise CandidateGone(state["gone"]) from None

    def stand_in(name: str):
        def call(*args, **kwargs):
            try:
                request = {"call": name, "args": encode(list(args)), "kwargs": encode(kwargs)}
            except (Unserialisable, RecursionError) as error:
                state["unverifiable"] = f"{name}(...): {error}"
                raise Unverifiable(state["unverifiable"]) from None
            try:
                sink.write((dumps(request) + "\n").encode())
                sink.flush()
            except OSError:
                state["gone"] = "the candidate's process ended"
                raise CandidateGone(state["gone"]) from None
            reply = receive()
            if "raise" in reply:
                kind, message = reply["raise"]
                error = getattr(builtins, str(kind), None)
                if not (isinstance(error, type) and issubclass(error, Exception)):
                    error = RuntimeError
                raise error(f"{kind}: {message}")
            if "return" in reply:
                try:
                    return decode(reply["return"])
                except (Unserialisable, ValueError, TypeError) as problem:
                    state["unverifiable"] = f"{name}(...) returned {problem}"
            else:
                state["unverifiable"] = f"{name}(...): {reply.get('unverifiable')}"
            raise Unverifiable(state["unverifiable"])

        call.__name__ = call.__qualname__ = name
        return call

    hello = receive()
    if not isinstance(hello, dict) or not isinstance(hello.get("names"), list):
        state["gone"] = "the candidate's process did not start"
        raise CandidateGone(state["gone"])
    return {str(name): stand_in(str(name)) for name in hello["names"] if str(name).isidentifier()}


def main() -> None:
    mode, path, cpu_s, memory_mb, file_size_mb, processes, files, fds = sys.argv[1:9]
    call_timeout = float(sys.argv[9])
    sys.path.extend(sys.argv[10:])
    out, state = sys.stdout, {}
    set_limits(float(cpu_s), int(memory_mb), int(file_size_mb), int(processes), int(files))
    descriptors, source = [int(fd) for fd in fds.split(",")], None
    if mode == "pair":
        mode, descriptors, source = split_pair(descriptors)
    report_fd, in_fd, out_fd = descriptors

    def finish(status: str, code: int, detail: str = "") -> None:
        try:  # noqa: SIM105 - contextlib would cost start-up time
            out.flush()
        except Exception:  # report the outcome even if stdout is broken
            pass
        if state.get("gone") or state.get("unverifiable"):
            status, code = ("candidate_gone", 1) if state.get("gone") else ("unverifiable", 1)
            detail = state.get("gone") or state.get("unverifiable") or ""
        detail = " ".join(detail.split())[:500]
        try:  # noqa: SIM105
            os.write(report_fd, f"{status}\t{code}\t{detail}\n".encode())
        except OSError:
            pass
        os._exit(code)

    _signal.signal(_signal.SIGXCPU, lambda *_: finish("cpu_limit", 137, "CPU time limit"))
    if source is None:
        with open(path, "rb") as handle:
            source = handle.read()
    try:
        code = compile(source, "main.py", "exec")
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL byte in the source
        detail = f"{type(error).__name__}: {error}"
        print(detail, file=sys.stderr)
        finish("error", 1, detail)
    namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
    channel = (os.fdopen(in_fd, "rb"), os.fdopen(out_fd, "wb")) if mode != "run" else None
    if mode == "test":
        try:
            namespace.update(proxies(*channel, state))  # type: ignore[misc]
        except CandidateGone:
            finish("candidate_gone", 1)
    preload()
    sys.addaudithook(make_guard(os.getcwd()))
    sys.argv = ["main.py"]
    try:
        exec(code, namespace)  # this is the sandbox
        if mode == "serve":
            serve(namespace, *channel, call_timeout)  # type: ignore[misc]
    except SystemExit as stop:
        value = stop.code
        number = value if isinstance(value, int) else (0 if value is None else 1)
        if not isinstance(value, int | None):
            print(value, file=sys.stderr)
        finish("exit", number, f"sys.exit({value!r})")
    except BaseException as error:  # every outcome becomes a verdict
        del namespace
        import traceback

        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        try:  # noqa: SIM105
            traceback.print_exc()
        except MemoryError:
            pass
        finish(classify(error), 1, detail)
    finish("ok", 0)


if __name__ == "__main__":
    main()
