"""``synthaug evaluate --student sft``: real vs synthetic math data for the LoRA SFT student.

Two training sets of ``--rows`` records each: *real*, GSM8K problems with their worked
solutions (``benchmarks/gsm8k.jsonl``, calculator annotations ``<<...>>`` removed), and
*synthetic*, the GSM-Symbolic-style templated problems shipped with synthaug
(``gsm_symbolic.jsonl``, one per template). Held out: ``--test`` other GSM8K problems. GSM8K
problems that GSM-Symbolic templated (word-trigram Jaccard > 0.1 with any of its questions)
are left out of both real sets. Same budget (every row), ``--seeds`` seeds, ``--max-steps``
steps, exact match on the first ``--exact`` test problems (greedy, 256 new tokens).

    python benchmarks/bench_evaluate_sft.py [--rows 40] [--test 20] [--exact 10] [--max-steps 10]
        [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from synthaug.cli import main as synthaug


def shipped(name: str) -> list[dict]:
    text = (resources.files("synthaug") / "data" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def conversation(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}  # fmt: skip


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--exact", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--work-dir", help="keep the training folders here (a rerun reuses them)")
    args = parser.parse_args()
    symbolic = shipped("gsm_symbolic.jsonl")
    templated = [trigrams(r["question"]) for r in symbolic]

    def clean(question: str) -> bool:
        grams = trigrams(question)
        return all(len(grams & t) / max(1, len(grams | t)) <= 0.1 for t in templated)

    gsm8k = [r for r in shipped("benchmarks/gsm8k.jsonl") if clean(r["question"])]
    solution = lambda r: re.sub(r"<<[^>]*>>", "", r["answer"])  # noqa: E731
    test = [conversation(r["question"], solution(r)) for r in gsm8k[: args.test]]
    real = [conversation(r["question"], solution(r)) for r in gsm8k[args.test :][: args.rows]]
    first: dict[str, dict] = {}  # of each template
    for row in symbolic:
        first.setdefault(row["id"].rsplit("_", 1)[0], row)
    synthetic = [conversation(r["question"], r["solution"]) for r in first.values()][: args.rows]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        command = [
            "evaluate", write(work / "real.jsonl", real), write(work / "synthetic.jsonl", synthetic),
            "--student", "sft", "--test", write(work / "test.jsonl", test),
            "--names", "gsm8k_real,gsm_symbolic", "--seeds", str(args.seeds),
            "--max-steps", str(args.max_steps), "--exact-match-limit", str(args.exact),
            "-o", str(work / "report.json"), *(["--work-dir", args.work_dir] if args.work_dir else []),
        ]  # fmt: skip
        started = time.monotonic()
        code = synthaug(command)
        print(f"exit {code}; {time.monotonic() - started:.0f} s")
        print(json.dumps(json.loads((work / "report.json").read_text())["datasets"], indent=1))


if __name__ == "__main__":
    main()
