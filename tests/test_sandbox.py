"""The sandbox holds against hostile code: every case ends in a recorded verdict, fast."""

from __future__ import annotations

import asyncio
import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from synthaug.llm.cache import RequestCache
from synthaug.verify.code import call_function, run_tests
from synthaug.verify.sandbox import Limits, Sandbox, isolation

LIMITS = Limits(wall_s=4, cpu_s=2, memory_mb=256, file_size_mb=1, output_bytes=20_000)

HOSTILE = {
    "infinite_loop": ("while True:\n    pass", {"cpu_limit", "timeout"}),
    "sleep_forever": ("import time\ntime.sleep(3600)", {"timeout"}),
    "c_level_loop": ("sum(range(10**13))", {"cpu_limit", "timeout", "killed"}),
    "memory_bomb": ("x = []\nwhile True:\n    x.append(' ' * 10**7)", {"memory_limit"}),
    "one_huge_allocation": ("x = bytearray(10**10)", {"memory_limit"}),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", {"blocked"}),
    "subprocess": ("import subprocess\nsubprocess.run(['sh', '-c', 'echo hi'])", {"blocked"}),
    "os_system": ("import os\nos.system('touch /tmp/pwned')", {"blocked"}),
    "raw_fork_exec": (
        "import _posixsubprocess\n_posixsubprocess.fork_exec()",
        {"blocked"},
    ),
    "multiprocessing": (
        "import multiprocessing as m\np = m.Process(target=print)\np.start()\np.join()",
        {"blocked"},
    ),
    "ctypes_libc": ("import ctypes\nctypes.CDLL('libc.so.6').fork()", {"blocked"}),
    "huge_output": ("while True:\n    print('x' * 1000)", {"output_limit"}),
    "huge_stderr": ("import sys\nwhile True:\n    sys.stderr.write('y' * 1000)", {"output_limit"}),
    "big_file": ("open('big', 'wb').write(b'x' * 5_000_000)", {"file_size_limit"}),
    "sys_exit_nonzero": ("import sys\nprint('partial')\nsys.exit(3)", {"exit"}),
    "sys_exit_zero": ("import sys\nsys.exit(0)", {"exit"}),
    "os_exit_zero": ("import os\nos._exit(0)", {"exited_early"}),
    "raises": ("raise ValueError('bad')", {"error"}),
    "recursion": ("def f():\n    return f()\nf()", {"error"}),
}


def _run_all(sandbox: Sandbox, programs: dict[str, str]) -> dict:
    async def every():
        results = await asyncio.gather(*(sandbox.run(code) for code in programs.values()))
        return dict(zip(programs, results, strict=True))

    return asyncio.run(every())


def test_hostile_code_gets_a_verdict_never_a_hang():
    sandbox = Sandbox(LIMITS)
    started = time.monotonic()
    results = _run_all(sandbox, {name: code for name, (code, _) in HOSTILE.items()})
    elapsed = time.monotonic() - started
    for name, (_, expected) in HOSTILE.items():
        result = results[name]
        assert result.status in expected, (name, result)
        assert result.wall_s <= LIMITS.wall_s + 2, (name, result.wall_s)
    assert elapsed < 60
    assert not Path("/tmp/pwned").exists()
    assert results["sys_exit_nonzero"].exit_code == 3
    assert results["sys_exit_nonzero"].stdout.strip() == "partial"
    assert results["sys_exit_zero"].exit_code == 0 and not results["sys_exit_zero"].ok
    assert results["os_exit_zero"].exit_code == 0 and not results["os_exit_zero"].ok
    assert len(results["huge_output"].stdout) <= LIMITS.output_bytes
    assert "ValueError: bad" in results["raises"].detail


def test_writes_outside_the_working_directory_are_refused(tmp_path):
    target = tmp_path / "outside.txt"
    programs = {
        "open_write": f"open({str(target)!r}, 'w').write('x')",
        "relative_escape": "open('../escaped.txt', 'w').write('x')",
        "pathlib": f"import pathlib\npathlib.Path({str(target)!r}).write_text('x')",
        "os_open": f"import os\nos.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)",
        "remove": f"import os\nos.remove({str(Path(__file__))!r})",
        "rename": f"import os\nos.rename({str(Path(__file__))!r}, 'stolen.py')",
        "mkdir": f"import os\nos.mkdir({str(tmp_path / 'newdir')!r})",
        "symlink": f"import os\nos.symlink('/etc/passwd', {str(tmp_path / 'link')!r})",
        "inside_is_fine": "open('inside.txt', 'w').write('ok')\nprint(open('inside.txt').read())",
    }
    results = _run_all(Sandbox(LIMITS), programs)
    for name, result in results.items():
        if name == "inside_is_fine":
            assert result.ok and result.stdout.strip() == "ok", result
        else:
            assert result.status == "blocked", (name, result)
    assert not target.exists() and not (tmp_path / "newdir").exists()
    assert Path(__file__).exists()


def test_host_environment_and_other_processes_stay_hidden(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("PYTHONPATH", "/must/not/matter")
    programs = {
        "environ": "import os\nprint(dict(os.environ))",
        "parent_environ": "import os\nprint(open(f'/proc/{os.getppid()}/environ').read())",
        "host_pid_environ": f"print(open('/proc/{os.getpid()}/environ').read())",
        "init_environ": "print(open('/proc/1/environ').read())",
        "own_environ": "print(open('/proc/self/environ').read())",
    }
    results = _run_all(Sandbox(LIMITS), programs)
    for result in results.values():
        assert "sk-must-not-leak" not in result.stdout + result.stderr
    assert results["environ"].ok and "OPENAI_API_KEY" not in results["environ"].stdout
    assert "PYTHONPATH" not in results["environ"].stdout
    for name in ("parent_environ", "host_pid_environ", "init_environ"):
        assert results[name].status == "blocked", results[name]


@pytest.fixture
def local_http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_no_network_even_to_a_server_on_loopback(local_http_server):
    port = local_http_server
    programs = {
        "http": f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/')",
        "raw_socket": f"import socket\nsocket.socket().connect(('127.0.0.1', {port}))",
        "dns": "import socket\nsocket.getaddrinfo('pypi.org', 443)",
        "bind": "import socket\nsocket.socket().bind(('0.0.0.0', 8081))",
        "udp": "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))",
    }
    results = _run_all(Sandbox(LIMITS), programs)
    for name, result in results.items():
        assert result.status == "blocked", (name, result)


def test_ordinary_programs_run_with_stdin_and_libraries():
    sandbox = Sandbox(LIMITS)
    assert sandbox.run_sync("print(input()[::-1])", stdin="olleh").stdout == "hello\n"
    result = sandbox.run_sync("import sympy\nx = sympy.Symbol('x')\nprint(sympy.diff(x**3, x))")
    assert result.ok and result.stdout.strip() == "3*x**2"
    assert set(isolation()) >= {"bwrap", "seccomp", "netns", "pidns", "rlimits", "audit_hook"}


def test_results_are_cached_by_code_and_limits(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite3")
    sandbox = Sandbox(LIMITS, cache=cache)
    first = sandbox.run_sync("import random\nprint(random.random())")
    again = sandbox.run_sync("import random\nprint(random.random())")
    assert first == again and sandbox.executions == 1 and sandbox.cache_hits == 1
    other = sandbox.with_limits(LIMITS.model_copy(update={"wall_s": 5})).run_sync(
        "import random\nprint(random.random())"
    )
    assert other.stdout != first.stdout


def test_tests_and_function_cases():
    sandbox = Sandbox(LIMITS)
    assert asyncio.run(
        run_tests(sandbox, "def add(a, b):\n    return a + b", "assert add(2, 3) == 5")
    ).ok
    failing = asyncio.run(
        run_tests(sandbox, "def add(a, b):\n    return a - b", "assert add(2, 3) == 5")
    )
    assert failing.status == "error" and "AssertionError" in failing.detail
    cheat = asyncio.run(run_tests(sandbox, "import os\nos._exit(0)", "assert False"))
    assert not cheat.ok and cheat.status == "exited_early"
    code = "def f(a, b):\n    if a < 0:\n        while True:\n            pass\n    return (a + b, str(b))"
    inputs = [{"a": 1, "b": 2}, {"a": -1, "b": 0}, {"a": "x", "b": 1}, {"c": 1}]
    result, outputs = asyncio.run(call_function(sandbox, code, "f", inputs))
    assert result.ok
    assert outputs[0] == {"return": [3, "2"]}
    assert outputs[1]["error"].startswith("_Timeout")
    assert outputs[2]["error"].startswith("TypeError")
    assert outputs[3]["error"].startswith("TypeError")


def test_many_runs_in_parallel_leave_no_temp_dirs():
    before = {p for p in os.listdir("/tmp") if p.startswith("synthaug-sandbox-")}
    results = _run_all(Sandbox(LIMITS), {str(i): f"print({i} * {i})" for i in range(24)})
    assert [r.stdout.strip() for r in results.values()] == [str(i * i) for i in range(24)]
    after = {p for p in os.listdir("/tmp") if p.startswith("synthaug-sandbox-")}
    assert after <= before


def test_output_floods_never_leave_the_run_waiting_on_a_pipe():
    flood = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n    sys.stderr.write('y' * 65536)"
    results = _run_all(Sandbox(LIMITS), {str(i): flood for i in range(8)})
    assert {r.status for r in results.values()} == {"output_limit"}
    assert all(r.wall_s < LIMITS.wall_s for r in results.values())
