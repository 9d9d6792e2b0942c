"""``synthaug view`` on a large file: index build rate, memory, page and scan latency.

Writes ``--rows`` generated records (a ~300-byte run-output-like row each: text, score, label,
``_meta`` with id, parents, step, method; every 97th a failed row) to a JSONL file in a temp
folder, then measures:

- the byte-offset index build (rows/s) and the memory it holds (the offsets array) and takes
  at its peak (``tracemalloc``: Python and NumPy allocations), and the process's max RSS;
- a plain Python line count over the same file, the baseline the index build is compared to;
- a page read (50 rows) at the start, the middle and the end;
- a capped filter scan (error kind) and a full-text search from the start: rows counted within
  the viewer's one-second budget per request.

    python benchmarks/bench_view.py [--rows 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from synthaug.view.data import Query, ViewData

STEPS = ("generate", "filter", "score", "format")


def write_rows(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(rows):
            meta = {"id": f"{i:016x}", "parents": [f"p{i:015x}"], "step": STEPS[i % 4],
                    "method": "bench.gen"}  # fmt: skip
            if i % 97 == 0:
                meta["error"] = {"kind": "parse_error", "message": "no JSON object in the answer"}
            row = {"text": f"row {i}: " + "the quick brown fox jumps over the lazy dog " * 4,
                   "score": i % 10, "label": "yes" if i % 3 else "no", "_meta": meta}  # fmt: skip
            handle.write(json.dumps(row) + "\n")


def timed(action):
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def count_lines(path: Path) -> int:
    """The baseline: a plain Python pass over the file's lines, in binary."""
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the file here (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "big.jsonl"
        _, wrote = timed(lambda: write_rows(path, args.rows))
        size = path.stat().st_size
        print(f"file: {args.rows:,} rows, {size / 1e6:,.0f} MB (written in {wrote:.1f} s)")
        lines, counted = timed(lambda: count_lines(path))
        assert lines == args.rows
        tracemalloc.start()
        data, built = timed(lambda: ViewData(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held = data.parts[0].source.starts.nbytes
        print(
            f"index: {built:.2f} s, {args.rows / built:,.0f} rows/s, {size / built / 1e6:,.0f} MB/s; "
            f"holds {held / 1e6:.1f} MB ({held / args.rows:.0f} B/row), "
            f"peak while building {peak / 1e6:.1f} MB; "
            f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB"
        )
        print(
            f"baseline, counting lines in Python: {counted:.2f} s ({counted / built:.1f}x the index)"
        )
        for at in (0, args.rows // 2, args.rows - 50):
            page, took = timed(lambda at=at: data.page(at, 50))
            assert page[0]["index"] == at
            print(f"page at row {at:,}: {took * 1e3:.1f} ms")
        for query in (Query(error="parse_error"), Query(text="row 999999:")):
            found, took = timed(lambda query=query: data.find(query, 0, 50))
            print(
                f"find {query}: {found['matched']:,} matches in the first {found['counted_to']:,} "
                f"rows ({took:.2f} s, done={found['done']})"
            )
        data.close()


if __name__ == "__main__":
    main()
