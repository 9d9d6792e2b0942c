"""The hostile corpus (issue 25): code written to escape the sandbox or forge its verdict.

Run as a user runs synthaug (here: as root, with a secret in the environment).
Every case must end in the expected verdict, and after the whole corpus nothing
outside the sandbox may have changed: the canary folder (world-writable, so that
only the boundary protects it), the Python installation, the host environment,
and no process of a run may survive. Cases print ``ESCAPE`` when a step that
must fail succeeded.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from synthaug.verify import boundary
from synthaug.verify.code import call_function, run_tests
from synthaug.verify.sandbox import Limits, Sandbox, SandboxUnavailable, isolation

pytestmark = pytest.mark.skipif(
    boundary.available() is not None, reason=f"no sandbox boundary: {boundary.available()}"
)
LIMITS = Limits(wall_s=5, cpu_s=2, memory_mb=256, file_size_mb=1, disk_mb=16, output_bytes=20_000)
SECRET = "sk-hostile-corpus-secret-0f3a9"
NOT_OK = {"error", "blocked", "exit", "exited_early", "killed", "cpu_limit", "memory_limit"}

# Stops the audit hook from looking at paths: only the boundary is left.
UNGUARD_PATHS = """
import gc
for guard in [g for g in gc.get_objects() if getattr(g, '__name__', '') == 'guard']:
    for cell in getattr(guard, '__closure__', None) or ():
        if getattr(cell.cell_contents, '__name__', '') in ('check_read', 'check_write'):
            cell.cell_contents = lambda *args: None  # the hook no longer looks at paths
"""
# Disarms the audit hook: empties the refusal tables its closure holds.
DISARM = """
import gc as _gc
for _d in _gc.get_objects():
    if isinstance(_d, dict) and "os.fork" in _d:
        _d.clear()
    if isinstance(_d, frozenset) and ("os.remove" in _d or "_posixsubprocess" in _d):
        pass
for _cell_owner in _gc.get_objects():
    if callable(_cell_owner) and getattr(_cell_owner, "__name__", "") == "guard":
        for _cell in _cell_owner.__closure__ or ():
            try:
                if isinstance(_cell.cell_contents, frozenset):
                    _cell.cell_contents = frozenset()
                if callable(_cell.cell_contents) and _cell.cell_contents.__name__ == "refuse":
                    _cell.cell_contents = lambda what: None
            except ValueError:
                pass
"""


def _cases(canary: Path, port: int) -> dict[str, tuple[str, set[str]]]:
    target = str(canary / "canary.txt")
    relative = target.lstrip("/")
    touch = f"open({str(canary / 'pwned')!r}, 'w').write('x')"
    return {
        # process creation and native code
        "ext_loader_posixsubprocess": (
            DISARM + "import importlib.machinery as m, importlib.util as u, glob, sys\n"
            "path = glob.glob(sys.base_prefix + '/lib/python3*/lib-dynload/_posixsubprocess*')[0]\n"
            "spec = u.spec_from_file_location('_posixsubprocess', path,"
            " loader=m.ExtensionFileLoader('_posixsubprocess', path))\n"
            "mod = u.module_from_spec(spec)\n"
            "exe = [sys.executable.encode()]\n"
            "args = [[exe[0], b'-c', " + repr(touch.encode()) + "], exe, True, (), None, None,"
            " -1, -1, -1, -1, -1, -1, *__import__('os').pipe(), False, False, -1, None, None,"
            " None, -1, None, False]\n"
            "for n in (23, 22):\n    try:\n        pid = mod.fork_exec(*args[:n])\n"
            "        break\n    except TypeError:\n        pass\n"
            "print('ESCAPE', pid)",
            NOT_OK,
        ),
        "disarm_then_fork": (DISARM + "import os\npid = os.fork()\nprint('ESCAPE', pid)", NOT_OK),
        "disarm_then_daemon": (
            DISARM + "import os, time\nif os.fork() == 0:\n    os.setsid()\n"
            "    if os.fork() == 0:\n        time.sleep(30)\n        " + touch + "\n"
            "    os._exit(0)\nprint('ESCAPE')",
            NOT_OK,
        ),
        "disarm_then_system": (
            DISARM + f"import os\nr = os.system('touch {canary}/pwned')\n"
            "print('ESCAPE' if r == 0 else 'failed', r)\nassert r == 0",
            NOT_OK,
        ),
        "disarm_then_posix_spawn": (
            DISARM + "import os, sys\n"
            f"os.posix_spawn(sys.executable, [sys.executable, '-c', {touch!r}], {{}})\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "disarm_then_subprocess": (
            DISARM + "import sys, subprocess\n"
            f"subprocess.run([sys.executable, '-c', {touch!r}])\nprint('ESCAPE')",
            NOT_OK,
        ),
        "ctypes_libc_fork": (
            DISARM + "import ctypes\npid = ctypes.CDLL(None).fork()\n"
            "print('ESCAPE' if pid >= 0 else 'failed', pid)\nassert pid >= 0",
            NOT_OK,
        ),
        "ctypes_raw_syscall_fork": (
            DISARM + "import ctypes\npid = ctypes.CDLL(None).syscall(57)\n"
            "print('ESCAPE' if pid >= 0 else 'failed', pid)\nassert pid >= 0",
            NOT_OK,
        ),
        "ctypes_unshare_user": (
            DISARM + "import ctypes\nr = ctypes.CDLL(None).unshare(0x10000000)\n"
            "print('ESCAPE' if r == 0 else 'failed', r)\nassert r == 0",
            NOT_OK,
        ),
        "ctypes_ptrace": (
            DISARM + "import ctypes\nr = ctypes.CDLL(None).ptrace(0, 0, 0, 0)\n"
            "print('ESCAPE' if r == 0 else 'failed', r)\nassert r == 0",
            NOT_OK,
        ),
        "ctypes_mount": (
            DISARM
            + "import ctypes\nr = ctypes.CDLL(None).mount(b'none', b'/tmp/w', b'tmpfs', 0, None)\n"
            "print('ESCAPE' if r == 0 else 'failed', r)\nassert r == 0",
            NOT_OK,
        ),
        "exec_replaces_itself": (
            DISARM + f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {touch!r}])",
            NOT_OK,
        ),
        "frame_objects_reach_os": (
            "import sys\nf = sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
            "os = f.f_globals['os']\nos.system('touch /tmp/pwned')\nprint('ESCAPE')",
            NOT_OK,
        ),
        # host files
        "write_outside_dir_fd": (
            DISARM + "import os\nroot = os.open('/', os.O_RDONLY)\n"
            f"fd = os.open({relative!r}, os.O_WRONLY | os.O_TRUNC, dir_fd=root)\n"
            "os.write(fd, b'pwned')\nprint('ESCAPE')",
            NOT_OK,
        ),
        "create_outside_dir_fd": (
            "import os\nroot = os.open('/', os.O_RDONLY)\n"
            f"fd = os.open({str(canary / 'new').lstrip('/')!r}, os.O_WRONLY | os.O_CREAT,"
            " dir_fd=root)\nprint('ESCAPE')",
            NOT_OK,
        ),
        "delete_outside_dir_fd": (
            f"import os\nos.unlink({relative!r}, dir_fd=os.open('/', os.O_RDONLY))\nprint('ESCAPE')",
            NOT_OK,
        ),
        "rename_outside_dir_fd": (
            "import os\nroot = os.open('/', os.O_RDONLY)\n"
            f"os.rename({relative!r}, 'tmp/w/stolen', src_dir_fd=root, dst_dir_fd=root)\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "chmod_outside_dir_fd": (
            f"import os\nos.chmod({relative!r}, 0o600, dir_fd=os.open('/', os.O_RDONLY))\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "write_python_install": (
            DISARM + "import os\nopen(os.__file__, 'a').write('# pwned')\nprint('ESCAPE')",
            NOT_OK,
        ),
        "write_site_packages": (
            DISARM + "import sys\nopen(sys.path[-1] + '/pwned.pth', 'w').write('x')\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "symlink_then_write": (
            f"import os\nos.symlink({target!r}, 'link')\nopen('link', 'w').write('pwned')\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "symlink_race": (
            DISARM + "import os, threading\nstop = False\n"
            "def flip():\n    while not stop:\n"
            "        try:\n            os.remove('f')\n        except OSError:\n            pass\n"
            f"        try:\n            os.symlink({target!r}, 'f')\n        except OSError:\n"
            "            pass\n"
            "t = threading.Thread(target=flip)\nt.start()\n"
            "for _ in range(2000):\n    try:\n        open('f', 'a').write('pwned')\n"
            "    except OSError:\n        pass\nstop = True\nt.join()\n"
            f"print('ESCAPE' if 'pwned' in open({target!r}).read() else 'held')",
            {"ok", "error"},
        ),
        "hardlink_host_file": (
            DISARM + "import os\nos.link(os.__file__, 'x.py')\nopen('x.py', 'a').write('#')\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "read_etc_shadow": ("print(open('/etc/shadow').read())", NOT_OK),
        "read_canary_from_inside": (f"print(open({target!r}).read())", NOT_OK),
        "list_home": (
            "import os\nprint(sorted(os.listdir('/root')))\nprint(os.listdir('/home'))",
            NOT_OK,
        ),
        # secrets
        "env_of_self": (
            "import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ').read())",
            {"ok"},
        ),
        "env_of_all_processes": (
            DISARM
            + UNGUARD_PATHS
            + "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n"
            "        try:\n            print(p, open(f'/proc/{p}/environ').read())\n"
            "            print(p, open(f'/proc/{p}/cmdline').read())\n"
            "        except OSError as e:\n            print(p, e)",
            {"ok"},
        ),
        "parent_environ": (
            DISARM + f"print(open('/proc/{os.getpid()}/environ').read())\nprint('ESCAPE')",
            NOT_OK,
        ),
        "host_proc_visible": (
            "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "print('ESCAPE' if len(pids) > 5 else 'held', pids)",
            {"ok"},
        ),
        "sys_visible": ("import os\nprint(os.listdir('/sys'))\nprint('ESCAPE')", NOT_OK),
        # disk
        "many_files_fill_disk": (
            "data = b'x' * 1000_000\nfor i in range(600):\n"
            "    open(f'f{i}', 'wb').write(data)\nprint('ESCAPE 600 MB written')",
            NOT_OK,
        ),
        "big_file": ("open('big', 'wb').write(b'x' * 5_000_000)", {"file_size_limit"}),
        # what already held
        "network_loopback_server": (
            DISARM + f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 1)\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "network_dns": (
            DISARM + "import socket\nsocket.getaddrinfo('pypi.org', 443)\nprint('ESCAPE')",
            NOT_OK,
        ),
        "packet_socket": (
            DISARM + "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "raw_socket": (
            DISARM + "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\n"
            "print('ESCAPE')",
            NOT_OK,
        ),
        "subprocess_plain": ("import subprocess\nsubprocess.run(['true'])", NOT_OK),
        "fork_bomb": (DISARM + "import os\nwhile True:\n    os.fork()", NOT_OK),
        "thread_bomb": (
            "import threading, time\nts = []\nwhile True:\n"
            "    t = threading.Thread(target=time.sleep, args=(10,), daemon=True)\n"
            "    t.start()\n    ts.append(t)",
            NOT_OK,
        ),
        "memory_bomb": ("x = []\nwhile True:\n    x.append(' ' * 10**7)", {"memory_limit"}),
        "cpu_spin_ignoring_sigxcpu": (
            "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
            {"cpu_limit", "timeout", "killed"},
        ),
        "sleep_forever": ("import time\ntime.sleep(3600)", {"timeout"}),
        "output_flood": ("while True:\n    print('x' * 1000)", {"output_limit"}),
        "fd_exhaustion": ("fs = []\nwhile True:\n    fs.append(open('/dev/null'))", NOT_OK),
        "signal_kill_all": (
            DISARM + "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('ESCAPE')",
            NOT_OK | {"ok"},
        ),
        "kill_parent": (
            DISARM + f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\nprint('ESCAPE')",
            NOT_OK,
        ),
    }


def _snapshot(canary: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        p.name: (p.stat().st_mode, p.stat().st_size, p.read_bytes())
        for p in sorted(canary.iterdir())
    }


def _sandbox_processes() -> set[int]:
    """Sandboxed programs alive now, but not those another test process runs (pytest-xdist's
    other workers use the sandbox at the same time); an orphan counts as ours."""
    found = set()
    for pid in os.listdir("/proc"):
        try:
            if (
                pid.isdigit()
                and b"/sandbox/bootstrap.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
                and not _run_by_another_test_process(int(pid))
            ):
                found.add(int(pid))
        except OSError:
            pass
    return found


def _run_by_another_test_process(pid: int) -> bool:
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if pid == os.getpid():
            return False
        if b"pytest" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return True
    return False


@pytest.fixture
def canary(tmp_path):
    folder = tmp_path / "canary"
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "canary.txt").write_text("intact")
    (folder / "canary.txt").chmod(0o666)
    tmp_path.chmod(0o755)
    return folder


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_hostile_corpus_changes_nothing_outside(canary, server, monkeypatch):
    monkeypatch.setenv("SYNTHAUG_TEST_SECRET", SECRET)
    cases = _cases(canary, server)
    before, processes = _snapshot(canary), _sandbox_processes()
    install = Path(os.__file__).stat().st_mtime_ns
    sandbox = Sandbox(LIMITS, parallel=4)
    started = time.monotonic()

    async def every():
        return await asyncio.gather(*(sandbox.run(code) for code, _ in cases.values()))

    results = dict(zip(cases, asyncio.run(every()), strict=True))
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    escapes = []
    for name, (_, expected) in cases.items():
        result = results[name]
        if result.status not in expected or "ESCAPE" in result.stdout:
            escapes.append((name, result.status, result.detail, result.stdout[-300:]))
        assert SECRET not in result.stdout + result.stderr + result.detail, name
        assert result.isolation.startswith("bwrap+seccomp"), result
    assert not escapes, escapes
    assert _snapshot(canary) == before
    assert Path(os.__file__).stat().st_mtime_ns == install
    assert not Path("/tmp/pwned").exists()
    assert _sandbox_processes() <= processes, "a process of a run survived"
    assert "root:" not in results["read_etc_shadow"].stdout
    assert ".bash" not in results["list_home"].stdout
    assert elapsed < 120, elapsed
    assert len(cases) >= 40


FORGERIES = {
    "frame_finish": "import sys\nsys._getframe(1).f_locals['finish']('ok', 0)",
    "write_report_fd": (
        "import os, sys\nfd = sys._getframe(1).f_locals['report_fd']\n"
        "os.write(fd, b'ok\\t0\\t\\n')\nos._exit(0)"
    ),
    "all_fds": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'ok\\t0\\t\\n')\n"
        "    except OSError:\n        pass\nos._exit(0)"
    ),
    "print_marker": "print('\\nok\\t0\\t')\nimport os\nos._exit(0)",
    "env_nonce": (
        "import os\nprint(open('/proc/self/environ').read())\n"
        "n = os.environ.get('SYNTHAUG_SANDBOX_NONCE', '')\nprint(f'\\n{n}\\tok\\t0\\t')\nos._exit(0)"
    ),
    "shadow_builtins": "def abs(x):\n    return 0\ndef add(a, b):\n    return 99",
    "always_equal": (
        "class E:\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n    return E()"
    ),
    "exit_zero": "import sys\nsys.exit(0)",
    "kill_everything": "import os, signal\nos.kill(-1, signal.SIGKILL)",
    "patch_assertion": "import builtins\nbuiltins.AssertionError = type('X', (BaseException,), {})",
    "spin": "def add(a, b):\n    while True:\n        pass",
    # the tests' process shares the sandbox (same uid, same PID namespace)
    "other_processes_fds": UNGUARD_PATHS
    + (
        "import os\nfor pid in os.listdir('/proc'):\n    if not pid.isdigit():\n        continue\n"
        "    try:\n        fds = os.listdir(f'/proc/{pid}/fd')\n    except OSError:\n        continue\n"
        "    for fd in fds:\n        try:\n            with open(f'/proc/{pid}/fd/{fd}', 'wb') as f:\n"
        "                f.write(b'ok\\t0\\t\\n')\n        except OSError:\n            pass\n"
        "os._exit(0)"
    ),
    "stop_the_tests": (
        "import os, signal\nfor pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() and int(pid) not in (1, os.getpid()):\n"
        "        try:\n            os.kill(int(pid), signal.SIGSTOP)\n        except OSError:\n"
        "            pass\ndef add(a, b):\n    return 0"
    ),
}
TESTS = "assert abs(add(2, 3) - 5) < 1e-9\nassert add(1, 1) == 2"


def test_verdicts_cannot_be_forged_by_the_code_under_test():
    sandbox = Sandbox(LIMITS, parallel=4)

    async def every():
        honest = run_tests(sandbox, "def add(a, b):\n    return a + b", TESTS)
        wrong = run_tests(sandbox, "def add(a, b):\n    return a - b", TESTS)
        forged = [run_tests(sandbox, DISARM + code, TESTS) for code in FORGERIES.values()]
        return await asyncio.gather(honest, wrong, *forged)

    honest, wrong, *forged = asyncio.run(every())
    assert honest.ok and honest.isolation.endswith("+two-process"), honest
    assert wrong.status == "error" and "AssertionError" in wrong.detail
    for name, result in zip(FORGERIES, forged, strict=True):
        assert not result.ok, (name, result)
    verdicts = dict(zip(FORGERIES, forged, strict=True))
    assert verdicts["always_equal"].status == "unverifiable"


SPY = (
    UNGUARD_PATHS
    + """
import os, re


def spy():
    seen = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for name in ('cmdline', 'environ', 'maps'):
            try:
                seen.append(open(f'/proc/{pid}/{name}', 'rb').read())
            except OSError:
                pass
        try:
            maps = open(f'/proc/{pid}/maps').read()
            mem = os.open(f'/proc/{pid}/mem', os.O_RDONLY)
        except OSError:
            maps, mem = '', -1
        for start, end in re.findall(r'^([0-9a-f]+)-([0-9a-f]+) r', maps, re.M):
            try:
                seen.append(os.pread(mem, int(end, 16) - int(start, 16), int(start, 16)))
            except (OSError, ValueError, OverflowError):
                pass
        try:
            fds = os.listdir(f'/proc/{pid}/fd')
        except OSError:
            fds = []
        for fd in fds:
            try:
                handle = os.open(f'/proc/{pid}/fd/{fd}', os.O_RDONLY | os.O_NONBLOCK)
                seen.append(os.read(handle, 1 << 16))
            except OSError:
                pass
    needle = 'A3F7-REKRAM'[::-1].encode()  # spelled backwards: this source is in memory too
    if any(needle in chunk for chunk in seen):
        print('LEAK')


def add(a, b):  # called by the tests: they are running now
    spy()
    return a + b
"""
)


def test_the_candidate_cannot_read_the_tests():
    """Tests and candidate share one boundary: the candidate's copy of the bootstrap never held
    the tests, and the tests' process is not dumpable (no /proc fds, memory or environ)."""
    tests = "# MARKER-7F3A: hidden expected values\n" + TESTS
    result = asyncio.run(run_tests(Sandbox(LIMITS), DISARM + SPY, tests))
    assert result.ok, result
    assert "LEAK" not in result.stdout and "MARKER" not in result.stdout + result.stderr


def test_values_cross_the_pipe_faithfully_or_not_at_all():
    sandbox = Sandbox(LIMITS)
    solution = (
        "def f(x):\n    return x\n"
        "def obj():\n    return object()\n"
        "def boom():\n    raise KeyError('k')\n"
    )
    tests = (
        "for v in [None, True, 3, 2.5, 'é', [1, (2, 3)], {1: 'a', (1, 2): {3}}, b'\\x00',"
        " frozenset({1}), 1j, 10**40]:\n"
        "    r = f(v)\n    assert r == v and type(r) is type(v), (r, v)\n"
        "try:\n    boom()\nexcept KeyError:\n    pass\nelse:\n    raise SystemExit(1)\n"
    )
    assert asyncio.run(run_tests(sandbox, solution, tests)).ok
    unverifiable = asyncio.run(run_tests(sandbox, solution, "assert obj() is not None"))
    assert unverifiable.status == "unverifiable", unverifiable
    swallowed = asyncio.run(
        run_tests(sandbox, solution, "try:\n    obj()\nexcept BaseException:\n    pass")
    )
    assert swallowed.status == "unverifiable", swallowed
    result, outputs = asyncio.run(call_function(sandbox, solution, "obj", [{}]))
    assert result.ok and outputs[0]["error"].startswith("Unverifiable"), outputs


def test_candidate_failure_is_the_verdict():
    sandbox = Sandbox(LIMITS)
    crash = asyncio.run(run_tests(sandbox, "raise ValueError('top')", "assert True"))
    assert crash.status == "error" and "ValueError" in crash.detail, crash
    spin = asyncio.run(run_tests(sandbox, "while True:\n    pass", "assert True"))
    assert spin.status in {"cpu_limit", "timeout"}, spin
    lingering = (  # never exits: the run ends when the tests do
        "import os, time\nos._exit = lambda code: time.sleep(60)\ndef add(a, b):\n    return a + b"
    )
    passed = asyncio.run(run_tests(sandbox, lingering, TESTS))
    assert passed.ok and passed.wall_s < LIMITS.wall_s, passed


def test_without_the_boundary_runs_are_refused_unless_unsafe(monkeypatch, tmp_path):
    monkeypatch.setattr(boundary, "mode", lambda: ("bubblewrap (bwrap) is not installed", ""))
    with pytest.raises(SandboxUnavailable, match=r"bwrap.*--unsafe-sandbox"):
        Sandbox(LIMITS).run_sync("print(1)")
    assert isolation() == []
    unsafe = Sandbox(LIMITS, unsafe=True)
    result = unsafe.run_sync("print(1)")
    assert result.ok and result.stdout == "1\n" and result.isolation == "UNSAFE:no-boundary"
    assert result.evidence()["isolation"] == "UNSAFE:no-boundary"
    passed = asyncio.run(run_tests(unsafe, "def add(a, b):\n    return a + b", TESTS))
    assert passed.ok and passed.isolation == "UNSAFE:no-boundary+two-process"
    assert "UNSAFE_no_boundary" in isolation(unsafe=True)


def test_the_python_running_the_sandbox_is_the_one_bound():
    assert any(
        sys.base_prefix.startswith(path) or os.path.realpath(sys.base_prefix).startswith(path)
        for path in boundary.read_only_paths()
    )
