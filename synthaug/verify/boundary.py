"""The OS-level boundary of a sandbox run: bubblewrap namespaces plus a seccomp filter.

``command(...)`` builds the ``bwrap`` command line of one run. Inside there is
an unprivileged user (uid/gid 65534; when synthaug runs as root, ``bwrap``
itself is started as uid 65534 so that the user namespace maps to *nobody* on
the host, not to root), new user, mount, PID (a fresh ``/proc``), network,
IPC, UTS and cgroup namespaces, a root file system holding only the Python
installation and its site-packages (read-only, bound through descriptors the
parent opened, so ``/root`` need not be readable by *nobody*), the shared
libraries in ``/usr/lib``, a minimal ``/dev`` and one size-limited ``tmpfs``
at ``/tmp`` holding the working directory. No host ``/proc``, ``/sys``,
``/etc``, home or ``/usr/bin``. The seccomp filter (``compile_filter``, from
libseccomp's Python bindings: Debian's ``python3-seccomp`` or PyPI's
``pyseccomp``) refuses process creation, namespace changes, ``ptrace``,
mounts, kernel keyrings, BPF, raw and packet sockets, ``io_uring`` and other
calls no generated program needs; a second filter (``compile_no_spawn``), which
the bootstrap loads before the code runs, refuses ``execve`` and process creation
again. For a tests-and-candidate pair the first filter lets the bootstrap fork
once (``compile_filter(fork=True)``), before any generated code runs.

``available()`` probes once whether the boundary can be set up on this
machine; ``None`` means it can, otherwise the one-line reason.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import py_compile
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

NOBODY = 65534
WORKDIR = "/tmp/w"
BOOTSTRAP_AT = "/sandbox/bootstrap.pyc"
BOOTSTRAP_SOURCE = "/sandbox/bootstrap.py"  # the name tracebacks show
NO_SPAWN_AT = "/sandbox/no-spawn.bpf"  # the bootstrap loads it: no execve, no new process
MAIN_AT = f"{WORKDIR}/main.py"
DATA_AT = "/sandbox/data"  # read-only data files of a run (``call_function(data=...)``)
# syscalls refused with EPERM: nothing a generated program needs
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "pidfd_open",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr", "unshare", "setns", "keyctl", "add_key",
    "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "iopl", "ioperm", "name_to_handle_at", "open_by_handle_at",
    "fanotify_init", "lookup_dcookie", "vhangup", "personality", "mknod", "mknodat",
    "execveat", "memfd_secret", "landlock_create_ruleset",
)  # fmt: skip
CLONE_THREAD = 0x00010000
NAMESPACE_FLAGS = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
    0x00000080,
)  # fmt: skip  CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
AF_NETLINK, AF_PACKET, SOCK_RAW = 16, 17, 3
NO_SECCOMP = "libseccomp or its Python bindings are missing (apt-get install libseccomp2; pip install pyseccomp)"


def _seccomp_module():
    try:
        import seccomp  # Debian's python3-seccomp

        return seccomp
    except ImportError:
        pass
    try:
        import pyseccomp  # PyPI: the same API over libseccomp through ctypes

        return pyseccomp
    except (ImportError, OSError):  # OSError: libseccomp.so.2 missing
        return None


def _export(rules) -> bytes:
    read, write = os.pipe()
    try:
        with os.fdopen(write, "wb") as sink:
            rules.export_bpf(sink)
        with os.fdopen(read, "rb") as source:
            read = -1
            return source.read()
    finally:
        if read >= 0:
            os.close(read)


@functools.cache
def compile_no_spawn() -> bytes:
    """The second filter, loaded by the bootstrap before the code runs: no ``execve``, no
    process creation."""
    seccomp = _seccomp_module()
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)  # type: ignore[union-attr]
    for name in ("execve", "execveat"):
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)  # type: ignore[union-attr]
    _refuse_processes(seccomp, rules)
    return _export(rules)


def _refuse_processes(seccomp, rules) -> None:
    """fork, vfork and clone without ``CLONE_THREAD``: threads only, never a new process."""
    deny = seccomp.ERRNO(errno.EPERM)
    for name in ("fork", "vfork"):
        rules.add_rule(deny, name)
    rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone


@functools.cache
def compile_filter(fork: bool = False) -> bytes | None:
    """The seccomp program (raw BPF, as ``bwrap --seccomp`` reads it), or None without
    libseccomp's bindings. ``fork=True`` lets the process create processes (a pair's
    bootstrap forks once, then loads ``compile_no_spawn``)."""
    seccomp = _seccomp_module()
    if seccomp is None:
        return None
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED:
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # not on this architecture
            rules.add_rule(deny, name)
    if fork:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # flags unreadable: use clone
    else:
        _refuse_processes(seccomp, rules)
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for family in (AF_NETLINK, AF_PACKET):
        rules.add_rule(deny, "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.add_rule(deny, "socket", seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, SOCK_RAW))
    return _export(rules)


@functools.cache
def python_binary() -> str:
    return os.path.realpath(sys.executable)


@functools.cache
def read_only_paths() -> tuple[str, ...]:
    """The host folders bound read-only: the Python installation, its site-packages and the
    shared libraries; nested ones are left out."""
    candidates = [
        "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
        sys.base_prefix, *site.getsitepackages(),
    ]  # fmt: skip
    kept: list[str] = []
    for path in sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)}):
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    return tuple(kept)


def run_as_nobody() -> bool:
    """When synthaug runs as root, ``bwrap`` is started as uid/gid 65534."""
    return os.geteuid() == 0


def command(fds: dict[str, int], disk_mb: int, env: dict[str, str], seccomp_fd: int | None):
    """The ``bwrap`` arguments; ``fds`` maps ``"bootstrap"`` and ``"main"`` to descriptors of
    the two files' contents, and ``"data:NAME"`` to a data file's, bound read-only at
    ``DATA_AT/NAME``."""
    args = [
        "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(NOBODY),
        "--gid", str(NOBODY), "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--cap-drop", "ALL", "--clearenv", "--proc", "/proc", "--dev", "/dev",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    ]  # fmt: skip
    for path in read_only_paths():
        args += ["--ro-bind", path, path]
    args += ["--size", str(disk_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--dir", WORKDIR, "--chdir", WORKDIR]
    if "bootstrap" in fds:  # a command run (``command_binds``) has neither of the two
        args += ["--ro-bind-data", str(fds["bootstrap"]), BOOTSTRAP_AT]
    if "no_spawn" in fds:
        args += ["--ro-bind-data", str(fds["no_spawn"]), NO_SPAWN_AT]
    if "main" in fds:
        args += ["--perms", "0644", "--ro-bind-data", str(fds["main"]), MAIN_AT]
    data = [(key[5:], fd) for key, fd in fds.items() if key.startswith("data:")]
    if data:  # a tmpfs of its own, read-only once the files are bound: no file added
        args += ["--perms", "0555", "--tmpfs", DATA_AT]
        for name, fd in data:
            args += ["--perms", "0444", "--ro-bind-data", str(fd), f"{DATA_AT}/{name}"]
        args += ["--remount-ro", DATA_AT]
    for name, value in env.items():
        args += ["--setenv", name, value]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args


def command_binds(read_only: tuple[str, ...], files: dict[str, int]) -> list[str]:
    """The ``bwrap`` arguments that add, for a command run (``Sandbox.run_command``), host
    paths bound read-only where they are (the program and what it reads outside ``/usr/lib``)
    and input files (name -> descriptor of the contents) read-only in the working directory."""
    args: list[str] = []
    for path in read_only:
        args += ["--ro-bind", path, path]
    for name, fd in files.items():
        args += ["--perms", "0444", "--ro-bind-data", str(fd), f"{WORKDIR}/{name}"]
    return args


def data_fd(data: bytes) -> int:
    """A descriptor reading ``data`` from its start (a memfd: no size limit, no file)."""
    fd = os.memfd_create("synthaug", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def start_options(as_nobody: bool) -> dict[str, object]:
    """``subprocess`` options that start ``bwrap`` as uid/gid 65534 (when root)."""
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody else {}


def _probe(as_nobody: bool) -> str | None:
    fds = {"bootstrap": data_fd(b""), "main": data_fd(b"")}
    seccomp = data_fd(compile_filter() or b"")
    probe = [*command(fds, 1, {"PATH": "/usr/bin"}, seccomp), python_binary(), "-S", "-c", "0"]
    try:
        done = subprocess.run(
            probe, capture_output=True, timeout=30, pass_fds=[*fds.values(), seccomp],
            **start_options(as_nobody),  # type: ignore[arg-type]
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap could not start: {error}"
    finally:
        for fd in [*fds.values(), seccomp]:
            os.close(fd)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap is not permitted here: {reason[-1] if reason else done.returncode}"
    return None


@functools.cache
def mode() -> tuple[str | None, str]:
    """(None, how) when the boundary works here, how being ``"nobody"`` (the sandbox user is
    uid 65534 on the host too) or ``"userns"`` (synthaug runs as root and uid 65534 cannot
    reach the Python installation, e.g. under ``/root``: the sandbox user, without any
    capability, maps to the caller); else (the one-line reason, "")."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap", ""
    if compile_filter() is None:
        return NO_SECCOMP, ""
    if run_as_nobody() and _probe(True) is None:
        return None, "nobody"
    reason = _probe(False)
    return (reason, "") if reason else (None, "userns")


def available() -> str | None:
    """None when the boundary works here; else why not, in one line."""
    return mode()[0]


@functools.cache
def bootstrap_code() -> bytes:
    """``bootstrap.py`` compiled once per synthaug process, as a ``.pyc`` for the sandbox's
    interpreter (this one): compiling it at every start cost ~5 ms a run."""
    with tempfile.TemporaryDirectory() as folder:
        compiled = os.path.join(folder, "bootstrap.pyc")
        py_compile.compile(
            str(Path(__file__).with_name("bootstrap.py")), cfile=compiled, dfile=BOOTSTRAP_SOURCE,
            doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )  # fmt: skip
        return Path(compiled).read_bytes()
