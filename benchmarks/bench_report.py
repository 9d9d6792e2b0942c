"""``synthaug report`` on a 1M-row JSONL: wall time against a plain ``json.loads`` pass, and
peak memory (target: under 2 minutes, memory bounded by the sample, not the file).

Rows look like a run's output: an ``instruction`` and an ``output`` recombined from real text
shipped in the package (the Self-Instruct seed tasks' instructions and instances, a fifth of
their words swapped for other real words), an ``input`` on a third of them, a ``category``
label, a ``score``, a ``verification`` verdict on a tenth and ``_meta`` (id, parents, step,
method), 1 % error rows.

Each measurement runs in a child process; its peak RSS is that child's own
(``os.wait4``'s resource usage). The baseline child reads the file line by line and
``json.loads`` each line: the least any report over every row must do.

    python benchmarks/bench_report.py [--rows 1000000] [--dir /tmp/bench_report] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

DATA = resources.files("synthaug") / "data"
CATEGORIES = ["open_qa", "brainstorm", "classification", "rewrite", "summarize", "math", "code"]
BASELINE = (
    "import json, sys\n"
    "n = 0\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        if line.strip():\n"
    "            json.loads(line); n += 1\n"
    "print(n)\n"
)


def passages() -> tuple[list[str], list[str]]:
    """The seed tasks' instructions and their instances' texts."""
    instructions, texts = [], []
    for line in (DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        task = json.loads(line)
        instructions.append(task["instruction"])
        texts += [f"{i['input']} {i['output']}".strip() for i in task["instances"]]
    return instructions, [t for t in texts if t]


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` run-like records at ``path``."""
    rng = random.Random(seed)
    instructions, texts = passages()
    vocabulary = sorted({w for t in texts for w in t.split()})

    def swapped(text: str) -> str:
        return " ".join(rng.choice(vocabulary) if rng.random() < 0.2 else w for w in text.split())

    with open(path, "w", encoding="utf-8") as handle:
        for i in range(rows):
            meta = {
                "id": f"r{i:07d}",
                "parents": [f"p{i:07d}"],
                "step": "records",
                "method": "self_instruct.format",
            }
            row: dict = {"instruction": swapped(rng.choice(instructions))}
            if i % 3 == 0:
                row["input"] = swapped(rng.choice(texts))[:200]
            row["output"] = " ".join(swapped(rng.choice(texts)) for _ in range(rng.randint(1, 4)))
            row["category"] = rng.choice(CATEGORIES)
            row["score"] = rng.randint(1, 10)
            if i % 10 == 0:
                row["verification"] = {"kind": "math", "verified": rng.random() < 0.7}
            if i % 100 == 0:
                meta["error"] = {"kind": "unparseable", "message": "the reply is not JSON"}
            row["_meta"] = meta
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def measure(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) and stdout of ``command`` run as a child."""
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    out = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if child.returncode:
        raise SystemExit(f"{command[:4]}... exited with {child.returncode}")
    return wall, usage.ru_maxrss // 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_report"))
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    data = args.dir / "data.jsonl"
    started = time.monotonic()
    generate(data, args.rows)
    size = data.stat().st_size
    print(
        f"generated {args.rows:,} rows, {size / 2**20:,.0f} MiB in {time.monotonic() - started:.1f}s"
    )
    tenth = args.dir / "tenth.jsonl"  # the first tenth: memory should not grow with rows
    with open(data, encoding="utf-8") as source, open(tenth, "w", encoding="utf-8") as head:
        head.writelines(line for _, line in zip(range(args.rows // 10), source, strict=False))
    base_s, base_rss, counted = measure([sys.executable, "-c", BASELINE, str(data)])
    assert int(counted) == args.rows
    runs = [("json.loads baseline", args.rows, base_s, base_rss)]
    for path, rows in ((tenth, args.rows // 10), (data, args.rows)):
        page = path.with_suffix(".report.html")
        command = [sys.executable, "-m", "synthaug.cli", "report", str(path), "-o", str(page)]
        wall, rss, said = measure(command)
        assert f"({rows} rows)" in said, said
        runs.append(("synthaug report", rows, wall, rss))
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; file {size / 2**20:,.0f} MiB"
    )
    print("| pass | rows | wall (s) | rows/s | peak RSS (MiB) |\n|---|---|---|---|---|")
    for name, rows, wall, rss in runs:
        print(f"| {name} | {rows:,} | {wall:.1f} | {rows / wall:,.0f} | {rss:,} |")
    print(f"report / baseline at {args.rows:,} rows: {runs[-1][2] / base_s:.2f}x")
    if not args.keep:
        shutil.rmtree(args.dir)


if __name__ == "__main__":
    main()
