"""Compare training sets by the student they make: the survey's "evaluation of impact" (§5.4).

For each seed and each dataset, a training set is drawn (seeded by the seed): ``budget``
examples without replacement (a dataset of exactly ``budget`` rows is used whole), or, with a
``cost`` per row (e.g. its tokens), rows in a seeded random order until the next one would
pass ``budget``. The same student (anything ``Comparable``: the classifier, the LoRA SFT
student) is trained on it and scored on the same held-out records with its own metrics. Per
dataset: mean, sample standard deviation and 95% t-interval of each metric over the seeds.
Each later dataset is compared with the first (the baseline) by a two-sided **paired
t-test** over seeds (scipy's ``ttest_rel``; a seed's runs share the held-out set), with the
mean paired difference and its 95% t-interval; when the differences do not vary (e.g. every
run is deterministic) no p-value exists and the report says so. A metric a student could not
compute (None in any run) has no summary and no test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ..hashing import derive_seed
from .metric import Comparable, Metric

if TYPE_CHECKING:
    from ..engine.progress import CountProgress

ALPHA = 0.05
Cost = Callable[[dict[str, Any]], int]


def summary(values: Sequence[float | None]) -> dict[str, float] | None:
    """Mean, sample std and the 95% t-interval half-width of ``values`` (None if one is)."""
    if any(value is None for value in values):
        return None
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


def draw(
    rows: list[dict[str, Any]], budget: int, seed: int, cost: Cost | None = None
) -> list[dict[str, Any]]:
    """``budget`` rows of ``rows`` drawn without replacement, seeded by ``seed``; with
    ``cost``, the rows of a seeded shuffle before the first that would pass ``budget``."""
    if cost is None and budget == len(rows):
        return rows
    rng = random.Random(derive_seed(seed, "evaluate.draw", len(rows)))
    if cost is None:
        return rng.sample(rows, budget)
    drawn, spent = [], 0
    for row in rng.sample(rows, len(rows)):
        spent += cost(row)
        if spent > budget:
            break
        drawn.append(row)
    return drawn


def compare(
    student: Comparable,
    datasets: dict[str, list[dict[str, Any]]],
    test: list[dict[str, Any]],
    budget: int,
    seeds: Sequence[int],
    progress: CountProgress | None = None,
    cost: Cost | None = None,
) -> dict[str, Any]:
    """The report: per dataset, per-seed metrics and their summaries; tests vs the first
    (``progress`` ticks once per training run; ``cost``: the budget counts its units, and
    each dataset's ``drawn`` rows and units per seed are reported)."""
    metrics = student.metrics
    runs: dict[str, dict[str, list[float | None]]] = {}
    drawn: dict[str, dict[str, list[int]]] = {}
    for name, rows in datasets.items():
        runs[name] = {metric.name: [] for metric in metrics}
        drawn[name] = {"rows": [], "tokens": []}
        for seed in seeds:
            sample = draw(rows, budget, seed, cost)
            scores = student.score(name, sample, test, seed)
            for metric in metrics:
                runs[name][metric.name].append(scores[metric.name])
            if cost:
                drawn[name]["rows"].append(len(sample))
                drawn[name]["tokens"].append(sum(map(cost, sample)))
            if progress:
                progress.tick()
    base = next(iter(datasets))
    report: dict[str, Any] = {
        "budget": budget,
        "seeds": list(seeds),
        "test_rows": len(test),
        **student.describe(test),
        "baseline": base,
        "datasets": {},
    }
    for name, scores in runs.items():
        entry: dict[str, Any] = {"rows": len(datasets[name]), "runs": scores}
        if cost:
            entry["drawn"] = drawn[name]
        entry |= {metric.name: summary(scores[metric.name]) for metric in metrics}
        if name != base:
            entry["vs_baseline"] = {
                m.name: paired_test(runs[base][m.name], scores[m.name])  # type: ignore[arg-type]
                for m in metrics
                if entry[m.name] is not None and report["datasets"][base][m.name] is not None
            }
        report["datasets"][name] = entry
    return report


def render(report: dict[str, Any], metrics: Sequence[Metric]) -> str:
    """The report as a Markdown table (mean ± std over seeds; the Δ and the test are of the
    first metric)."""
    primary = metrics[0]
    direction = "" if primary.higher_is_better else " (lower is better)"
    drawn = any("drawn" in entry for entry in report["datasets"].values())
    unit = report.get("budget_unit", "examples")
    lines = [
        f"Student: {report['student']}; budget {report['budget']} {unit} per run; "
        f"{len(report['seeds'])} seeds; {report['test_rows']} held-out rows.",
        *report.get("notes", []),
        "",
        "| dataset | rows | " + ("drawn rows / tokens | " if drawn else "")
        + " | ".join(m.label for m in metrics)
        + f" | Δ {primary.label} vs baseline{direction} | paired t-test |",
        "|---|---|" + ("---|" if drawn else "") + "---|" * len(metrics) + "---|---|",
    ]  # fmt: skip

    def cell(metric: Metric, s: dict[str, float] | None, signed: bool = False) -> str:
        if s is None:
            return "n/a"
        scale, digits = (100, 1) if metric.percent else (1, metric.digits)
        sign = "+" if signed else ""
        return f"{scale * s['mean']:{sign}.{digits}f} ± {scale * s['std']:.{digits}f}"

    for name, entry in report["datasets"].items():
        versus = entry.get("vs_baseline", {}).get(primary.name)
        delta = cell(primary, versus["difference"], signed=True) if versus else "(baseline)"
        if "vs_baseline" in entry and not versus:
            delta = "n/a"
        test = versus["statement"] if versus else ""
        cells = [cell(m, entry[m.name]) for m in metrics]
        if drawn:
            sizes = entry["drawn"]
            cells.insert(0, f"{np.mean(sizes['rows']):.1f} / {np.mean(sizes['tokens']):.0f}")
        lines.append(f"| {name} | {entry['rows']} | {' | '.join(cells)} | {delta} | {test} |")
    shown = [m.label for m in metrics if m.percent]
    if len(shown) == len(metrics):
        lines += ["", "In %, mean ± sample standard deviation over seeds."]
    else:
        percent = f"; {', '.join(shown)} in %" if shown else ""
        lines += ["", f"Mean ± sample standard deviation over seeds{percent}."]
    return "\n".join(lines)
