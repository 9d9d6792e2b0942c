"""Runs inside the sandbox process (as a script, never imported): limits, guard, then the code.

``python -S -P -B bootstrap.py MAIN.py CPU_S MEMORY_MB FILE_SIZE_MB PROCESSES OPEN_FILES
SITE_DIR...``. It puts the parent's site-packages folders on ``sys.path``
(``-S`` skips ``site`` and its ``.pth`` files, which cost more than the rest of
the start-up), lowers its own resource
limits, installs an audit hook that refuses process creation, network use,
native-code loading, writes outside the working directory and reads of other
processes' ``/proc`` entries, then executes ``MAIN.py`` as ``__main__``. When
the code returns (or raises, or calls ``sys.exit``) it prints one marker line,
``NONCE<tab>status<tab>exit code<tab>detail``, so the parent can tell a finished run from an ``os._exit`` or a kill.
"""

import _signal  # the C module: ``signal`` would import enum, a tenth of the start-up
import os
import resource
import sys

MB = 1024 * 1024
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
    """Before the hook: import ``ctypes`` (libraries such as sympy do; its own start-up loads a
    library), and put a stand-in for ``_posixsubprocess`` (whose ``fork_exec`` is not audited)
    in ``sys.modules``, so ``import subprocess`` still works and creating a process fails."""
    import ctypes  # noqa: F401

    def fork_exec(*_args: object) -> None:
        raise PermissionError("sandbox: process creation (_posixsubprocess) is not allowed")

    stand_in = type(sys)("_posixsubprocess")
    stand_in.fork_exec = fork_exec  # type: ignore[attr-defined]
    sys.modules["_posixsubprocess"] = stand_in


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


def main() -> None:
    path, cpu_s, memory_mb, file_size_mb, processes, files = sys.argv[1:7]
    sys.path.extend(sys.argv[7:])
    nonce = os.environ.pop("SYNTHAUG_SANDBOX_NONCE", "")
    out = sys.stdout

    def finish(status: str, code: int, detail: str = "") -> None:
        try:  # noqa: SIM105 - contextlib would cost start-up time
            out.flush()
        except Exception:  # report the outcome even if stdout is broken
            pass
        detail = " ".join(detail.split())[:500]
        os.write(1, f"\n{nonce}\t{status}\t{code}\t{detail}\n".encode())
        os._exit(code)

    _signal.signal(_signal.SIGXCPU, lambda *_: finish("cpu_limit", 137, "CPU time limit"))
    set_limits(float(cpu_s), int(memory_mb), int(file_size_mb), int(processes), int(files))
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    try:
        code = compile(source, "main.py", "exec")
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL byte in the source
        detail = f"{type(error).__name__}: {error}"
        print(detail, file=sys.stderr)
        finish("error", 1, detail)
    preload()
    sys.addaudithook(make_guard(os.getcwd()))
    sys.argv = ["main.py"]
    namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
    try:
        exec(code, namespace)  # this is the sandbox
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
