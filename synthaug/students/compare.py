"""Compare training sets by the student they make: the survey's "evaluation of impact" (§5.4).

For each seed and each dataset, ``budget`` examples are drawn without replacement (seeded by
the seed; a dataset of exactly ``budget`` rows is used whole), the same student is trained
on them and scored on the same held-out records. Per dataset: mean, sample standard
deviation and 95% t-interval of each metric over the seeds. Each later dataset is compared
with the first (the baseline) by a two-sided **paired t-test** over seeds (scipy's
``ttest_rel``; a seed's runs share the held-out set), with the mean paired difference and its
95% t-interval; when the differences do not vary (e.g. every run is deterministic) no
p-value exists and the report says so.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ..hashing import derive_seed
from .classifier import ClassifierStudent

if TYPE_CHECKING:
    from ..engine.progress import CountProgress

METRICS = ("accuracy", "macro_f1")
ALPHA = 0.05


def summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample std and the 95% t-interval half-width of ``values``."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    half = float(stats.t.ppf(1 - ALPHA / 2, len(array) - 1) * std / np.sqrt(len(array)))
    return {"mean": float(array.mean()), "std": std, "ci95": half if len(array) > 1 else 0.0}


def paired_test(base: Sequence[float], other: Sequence[float]) -> dict[str, Any]:
    """Paired t-test of ``other`` against ``base`` (same seeds): difference, interval, p."""
    diffs = np.asarray(other, dtype=float) - np.asarray(base, dtype=float)
    result: dict[str, Any] = {"difference": summary(diffs), "test": "paired t-test (two-sided)"}
    if len(diffs) < 2 or np.allclose(diffs, diffs[0]):
        result["p_value"] = None
        result["statement"] = (
            f"the difference is {diffs[0]:+.4f} in every seed: no variance, no p-value"
            if len(diffs)
            else "no seeds"
        )
        return result
    p = float(stats.ttest_rel(other, base).pvalue)
    significant = p < ALPHA
    result["p_value"] = p
    result["statement"] = (
        f"{'significant' if significant else 'not significant'} at α = {ALPHA} (p = {p:.3g})"
    )
    return result


def draw(rows: list[dict[str, Any]], budget: int, seed: int) -> list[dict[str, Any]]:
    """``budget`` rows of ``rows`` drawn without replacement, seeded by ``seed``."""
    if budget == len(rows):
        return rows
    rng = random.Random(derive_seed(seed, "evaluate.draw", len(rows)))
    return rng.sample(rows, budget)


def compare(
    student: ClassifierStudent,
    datasets: dict[str, list[dict[str, Any]]],
    test: list[dict[str, Any]],
    budget: int,
    seeds: Sequence[int],
    progress: CountProgress | None = None,
) -> dict[str, Any]:
    """The report: per dataset, per-seed metrics and their summaries; tests vs the first
    (``progress`` ticks once per training run)."""
    runs: dict[str, dict[str, list[float]]] = {}
    for name, rows in datasets.items():
        runs[name] = {metric: [] for metric in METRICS}
        for seed in seeds:
            scores = student.train(draw(rows, budget, seed), seed).evaluate(test).as_dict()
            for metric in METRICS:
                runs[name][metric].append(scores[metric])
            if progress:
                progress.tick()
    base = next(iter(datasets))
    report: dict[str, Any] = {
        "budget": budget,
        "seeds": list(seeds),
        "test_rows": len(test),
        "student": f"{student.embedder.identity} + logistic regression (C={student.c:g})",
        "baseline": base,
        "datasets": {},
    }
    for name, scores in runs.items():
        entry: dict[str, Any] = {"rows": len(datasets[name]), "runs": scores}
        entry |= {metric: summary(scores[metric]) for metric in METRICS}
        if name != base:
            entry["vs_baseline"] = {m: paired_test(runs[base][m], scores[m]) for m in METRICS}
        report["datasets"][name] = entry
    return report


def render(report: dict[str, Any]) -> str:
    """The report as a Markdown table (metrics in %, mean ± std over seeds)."""
    lines = [
        f"Student: {report['student']}; budget {report['budget']} examples per run; "
        f"{len(report['seeds'])} seeds; {report['test_rows']} held-out rows.",
        "",
        "| dataset | rows | accuracy | macro-F1 | Δ accuracy vs baseline | paired t-test |",
        "|---|---|---|---|---|---|",
    ]

    def cell(s: dict[str, float], signed: bool = False) -> str:
        return f"{100 * s['mean']:{'+' if signed else ''}.1f} ± {100 * s['std']:.1f}"

    for name, entry in report["datasets"].items():
        versus = entry.get("vs_baseline")
        delta = cell(versus["accuracy"]["difference"], signed=True) if versus else "(baseline)"
        test = versus["accuracy"]["statement"] if versus else ""
        lines.append(
            f"| {name} | {entry['rows']} | {cell(entry['accuracy'])} | "
            f"{cell(entry['macro_f1'])} | {delta} | {test} |"
        )
    lines += ["", "In %, mean ± sample standard deviation over seeds."]
    return "\n".join(lines)
