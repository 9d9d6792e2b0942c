"""Benchmark test sets to decontaminate against: the built-in ones, or any data file.

Built-in (``synthaug/data/benchmarks``, sources and licences in ``data/LICENSES.md``):

==================  ======  ========================================================
name                items   item text
==================  ======  ========================================================
``humaneval``       164     prompt + canonical solution (Chen et al., 2021)
``mbpp``            500     task text + reference code, test ids 11-510 (Austin et al., 2021)
``gsm8k``           1,319   question (Cobbe et al., 2021)
``math``            5,000   problem (Hendrycks et al., 2021, MATH)
``mmlu``            14,042  question + options (Hendrycks et al., 2021, MMLU)
``arc_challenge``   1,172   question + options (Clark et al., 2018)
``arc_easy``        2,376   question + options (Clark et al., 2018)
``mt_bench``        80      both turns (Zheng et al., 2023)
``medqa``           1,273   question + options, USMLE test set (Jin et al., 2021, MedQA)
``medmcqa``         4,183   question + options, validation set (Pal et al., 2022, MedMCQA)
``lab_bench``       628     question + options, DbQA and ProtocolQA (Laurent et al., 2024)
==================  ======  ========================================================

Each item also has a *kind* (``code``, ``math`` or ``knowledge``) that chooses the LLM
judge's instruction in semantic decontamination (Yang et al., 2023 use one instruction per
kind of data), and *substrings*: the strings of the StarCoder/Magicoder substring rule
(:func:`substrings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from ..io import read_records

Kind = Literal["code", "math", "knowledge"]


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item_id: str
    text: str
    kind: Kind = "knowledge"
    substrings: tuple[str, ...] = ()  # what the substring rule looks for (default: the text)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.substrings or (self.text,)


@dataclass(frozen=True)
class Builtin:
    filename: str
    kind: Kind
    item: Callable[[dict[str, Any]], tuple[str, str, tuple[str, ...]]]  # id, text, substrings


# StarCoder's list (kept by Magicoder) of HumanEval solutions generic enough to stay in
# training data. Their source writes the fourth as `"return " ".join(strings)"`, which Python
# joins into `return .join(strings)`; the solution they meant is used here.
HUMANEVAL_SOLUTIONS_OK = frozenset(
    {"return x + y", "return len(string)", "return n**2", 'return " ".join(strings)'}
)


def humaneval_docstring(prompt: str) -> str:
    """The docstring of a HumanEval prompt (the last one where there are two), as StarCoder's
    decontamination extracts it."""
    for quote in ('"""', "'''"):
        parts = prompt.split(quote)
        if len(parts) >= 3:
            return parts[-2].strip()
    return prompt.strip()


def _humaneval(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    solution = r["canonical_solution"].strip()
    strings = (humaneval_docstring(r["prompt"]),)
    if solution not in HUMANEVAL_SOLUTIONS_OK:
        strings += (solution,)
    return r["task_id"], r["prompt"] + r["canonical_solution"], strings


def _mbpp(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    return str(r["task_id"]), f"{r['text']}\n{r['code']}", (r["text"].strip(), r["code"].strip())


def _question(field: str) -> Callable[[dict[str, Any]], tuple[str, str, tuple[str, ...]]]:
    def item(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        return str(r["id"]), r[field], (r[field].strip(),)

    return item


def _multiple_choice(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    return str(r["id"]), "\n".join([r["question"], *r["choices"]]), (r["question"].strip(),)


def _mt_bench(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    return str(r["question_id"]), "\n".join(r["turns"]), tuple(t.strip() for t in r["turns"])


BUILTIN: dict[str, Builtin] = {
    "humaneval": Builtin("humaneval.jsonl", "code", _humaneval),
    "mbpp": Builtin("mbpp.jsonl", "code", _mbpp),
    "gsm8k": Builtin("gsm8k.jsonl", "math", _question("question")),
    "math": Builtin("math.jsonl", "math", _question("problem")),
    "mmlu": Builtin("mmlu.jsonl", "knowledge", _multiple_choice),
    "arc_challenge": Builtin("arc_challenge.jsonl", "knowledge", _multiple_choice),
    "arc_easy": Builtin("arc_easy.jsonl", "knowledge", _multiple_choice),
    "mt_bench": Builtin("mt_bench.jsonl", "knowledge", _mt_bench),
    "medqa": Builtin("medqa.jsonl", "knowledge", _multiple_choice),
    "medmcqa": Builtin("medmcqa.jsonl", "knowledge", _multiple_choice),
    "lab_bench": Builtin("lab_bench.jsonl", "knowledge", _multiple_choice),
}
# the general ones; a domain recipe names its own (e.g. lab_bench for biology, medqa and
# medmcqa for medicine)
DOMAIN_BENCHMARKS = {"lab_bench", "medqa", "medmcqa"}
DEFAULT_BENCHMARKS = tuple(name for name in BUILTIN if name not in DOMAIN_BENCHMARKS)

_LOADED: dict[str, list[BenchmarkItem]] = {}


def load_benchmark(
    spec: str,
    fields: list[str] | None = None,
    id_field: str | None = None,
    kind: Kind = "knowledge",
) -> list[BenchmarkItem]:
    """A built-in benchmark by name, or a JSONL/CSV/... file whose ``fields`` hold the item
    text (``kind`` chooses the judge's instruction for a file)."""
    if spec in BUILTIN:
        if spec not in _LOADED:
            builtin = BUILTIN[spec]
            path = resources.files("synthaug") / "data" / "benchmarks" / builtin.filename
            items = []
            for record in read_records(Path(str(path))):
                item_id, text, strings = builtin.item(record)
                items.append(BenchmarkItem(spec, item_id, text, builtin.kind, strings))
            _LOADED[spec] = items
        return list(_LOADED[spec])
    if not Path(spec).exists():
        raise InputError(spec, f"unknown benchmark: not a file, nor one of {', '.join(BUILTIN)}")
    if not fields:
        raise InputError(spec, "a benchmark file needs its text field(s) (--benchmark-fields)")
    name = Path(spec).stem
    items = []
    required = [*fields, id_field] if id_field else fields
    for index, record in enumerate(read_records(spec, required=required)):
        text = "\n".join(_as_text(record[f]) for f in fields)
        item_id = str(record[id_field]) if id_field else str(index)
        items.append(BenchmarkItem(name, item_id, text, kind))
    return items


def load_benchmarks(
    specs: list[str],
    fields: list[str] | None = None,
    id_field: str | None = None,
    kind: Kind = "knowledge",
) -> list[BenchmarkItem]:
    return [item for spec in specs for item in load_benchmark(spec, fields, id_field, kind)]


def _as_text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class Hit:
    """One benchmark item a detector matched, with its evidence.

    ``similarity``: overlap and coverage, the share of the item's distinct n-grams found in
    the row; substring, 1.0; fuzzy, the token edit similarity of the item to its aligned
    windows of the row; semantic, the cosine similarity of the two embeddings.
    ``evidence``: a shared n-gram, the matched substring, the row's aligned window, or the
    judge's answer. ``contaminated`` is False only for a semantic candidate the judge cleared.
    """

    detector: str
    benchmark: str
    item_id: str
    similarity: float
    evidence: str
    contaminated: bool = True
