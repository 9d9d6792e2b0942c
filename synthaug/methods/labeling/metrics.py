"""Label quality against gold labels: accuracy, per-class precision/recall/F1, macro-F1, a
calibration table and the expected calibration error (ECE), plus ``synthaug label-report``.

``classification_metrics(pred, gold)`` scores the items with a gold label (a missing
prediction counts as wrong); the classes are every label seen in gold or predictions, and
macro-F1 is the unweighted mean of their F1 (0 where a class is never predicted correctly).
``calibration(confidences, correct, bins=10)`` splits [0, 1] into equal-width bins (the last
one closed: confidence 1.0 falls in it) and gives each bin's count, mean confidence and
accuracy; ECE = Σ_b (n_b / N) |accuracy_b − confidence_b| (Guo et al., 2017, arXiv 1706.04599).
``allocation_counts`` gives how many rows ``coannotate.allocate`` sent to the LLM and to
humans, and the LLM's accuracy on each part.

``synthaug label-report FILE --gold COLUMN [--pred label] [--confidence label_confidence]
[--json]``: a missing file or column is a one-line error (exit code 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ...commands import command
from ...errors import InputError
from ...io import read_records


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def classification_metrics(pred: Sequence[Any], gold: Sequence[Any]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and macro-F1 over items with gold."""
    pairs = [(_key(p), _key(g)) for p, g in zip(pred, gold, strict=True) if g is not None]
    classes = sorted({g for _, g in pairs} | {p for p, _ in pairs if p is not None})
    per_class = {}
    for name in classes:
        tp = sum(1 for p, g in pairs if p == name and g == name)
        predicted = sum(1 for p, _ in pairs if p == name)
        support = sum(1 for _, g in pairs if g == name)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
            "predicted": predicted,
        }
    correct = sum(1 for p, g in pairs if p == g)
    return {
        "n": len(pairs),
        "correct": correct,
        "accuracy": round(correct / len(pairs), 4) if pairs else None,
        "macro_f1": (
            round(sum(c["f1"] for c in per_class.values()) / len(per_class), 4)
            if per_class
            else None
        ),
        "per_class": per_class,
        "unlabelled": sum(1 for p, _ in pairs if p is None),
    }


def calibration(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> dict[str, Any]:
    """Equal-width reliability bins (count, mean confidence, accuracy) and the ECE."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for c, ok in zip(confidences, correct, strict=True):
        if not 0 <= c <= 1:
            raise ValueError(f"confidence {c} is outside [0, 1]")
        members[min(int(c * bins), bins - 1)].append((c, ok))
    table, ece, total = [], 0.0, len(confidences)
    for b, items in enumerate(members):
        mean_conf = sum(c for c, _ in items) / len(items) if items else None
        accuracy = sum(ok for _, ok in items) / len(items) if items else None
        if items:
            ece += len(items) / total * abs(accuracy - mean_conf)
        table.append(
            {
                "bin": [round(b / bins, 4), round((b + 1) / bins, 4)],
                "count": len(items),
                "mean_confidence": None if mean_conf is None else round(mean_conf, 4),
                "accuracy": None if accuracy is None else round(accuracy, 4),
            }
        )
    return {"n": total, "bins": table, "ece": round(ece, 4) if total else None}


def allocation_counts(rows: Iterable[dict[str, Any]], pred: str, gold: str) -> dict[str, Any]:
    """Per ``allocated_to`` value: rows, and the LLM's accuracy on those with gold."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        part = out.setdefault(str(row.get("allocated_to")), {"rows": 0, "gold": 0, "correct": 0})
        part["rows"] += 1
        if row.get(gold) is not None:
            part["gold"] += 1
            part["correct"] += _key(row.get(pred)) == _key(row[gold])
    for part in out.values():
        part["llm_accuracy"] = round(part["correct"] / part["gold"], 4) if part["gold"] else None
    return dict(sorted(out.items()))


def label_report(
    rows: list[dict[str, Any]], gold: str, pred: str = "label", confidence: str = "label_confidence"
) -> dict[str, Any]:
    """The full report of a labelled file's ``rows`` (calibration only where confidences are)."""
    scored = [r for r in rows if r.get(gold) is not None]
    report: dict[str, Any] = {
        "rows": len(rows),
        "gold": gold,
        "pred": pred,
        **classification_metrics([r.get(pred) for r in scored], [r[gold] for r in scored]),
    }
    rated = [r for r in scored if _is_number(r.get(confidence)) and r.get(pred) is not None]
    report["calibration"] = (
        calibration(
            [float(r[confidence]) for r in rated], [_key(r[pred]) == _key(r[gold]) for r in rated]
        )
        if rated
        else None
    )
    report["allocation"] = (
        allocation_counts(rows, pred, gold) if any("allocated_to" in r for r in rows) else None
    )
    return report


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_report(report: dict[str, Any]) -> str:
    """The report as text."""
    lines = [
        f"{report['rows']} rows, {report['n']} with gold '{report['gold']}' "
        f"(predictions: '{report['pred']}', {report['unlabelled']} missing)",
        f"accuracy {report['accuracy']}, macro-F1 {report['macro_f1']}",
        "",
        f"{'class':<20} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8} {'predicted':>9}",
    ]
    for name, c in report["per_class"].items():
        lines.append(
            f"{name:<20} {c['precision']:>9.3f} {c['recall']:>7.3f} {c['f1']:>7.3f} "
            f"{c['support']:>8} {c['predicted']:>9}"
        )
    cal = report["calibration"]
    if cal:
        lines += ["", f"calibration ({cal['n']} rows), ECE {cal['ece']}:"]
        lines.append(f"{'bin':<12} {'count':>6} {'confidence':>10} {'accuracy':>9}")
        for b in cal["bins"]:
            shown = [
                "-" if b[k] is None else f"{b[k]:.3f}" for k in ("mean_confidence", "accuracy")
            ]
            low, high = b["bin"]
            lines.append(f"{low:.1f}-{high:.1f}    {b['count']:>6} {shown[0]:>10} {shown[1]:>9}")
    if report["allocation"]:
        lines += ["", "allocation (LLM accuracy on each part):"]
        for part, a in report["allocation"].items():
            shown = "-" if a["llm_accuracy"] is None else f"{a['llm_accuracy']:.3f}"
            lines.append(f"  {part}: {a['rows']} rows, {shown} ({a['correct']}/{a['gold']})")
    return "\n".join(lines)


def cmd_label_report(args: Any) -> int:
    rows = list(read_records(args.file))
    for column in (args.gold, args.pred):
        if not any(column in r for r in rows):
            raise InputError(args.file, "no record has this column", field=column)
    if args.confidence != "label_confidence" and not any(args.confidence in r for r in rows):
        raise InputError(args.file, "no record has this column", field=args.confidence)
    values = [r[args.confidence] for r in rows if r.get(args.confidence) is not None]
    bad = [v for v in values if not _is_number(v) or not 0 <= v <= 1]
    if bad:
        raise InputError(args.file, f"must be a number 0-1, got {bad[0]!r}", field=args.confidence)
    report = label_report(rows, args.gold, args.pred, args.confidence)
    print(json.dumps(report, indent=2) if args.json else render_report(report))
    return 0


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "label-report",
        help="accuracy, per-class P/R/F1, macro-F1 and calibration (ECE) of labels vs gold",
        description="Compare a labelled file's predictions (label.llm's 'label') with a gold "
        "column: accuracy, per-class precision/recall/F1, macro-F1, a 10-bin calibration table "
        "of the confidence column with its ECE, and, after coannotate.allocate, the rows sent "
        "to the LLM and to humans with the LLM's accuracy on each.",
    )
    parser.add_argument("file", metavar="FILE", help="labelled data file")
    parser.add_argument("--gold", required=True, metavar="COLUMN", help="the gold label column")
    parser.add_argument("--pred", default="label", metavar="COLUMN", help="predictions (label)")
    parser.add_argument(
        "--confidence",
        default="label_confidence",
        metavar="COLUMN",
        help="0-1 confidence for calibration (label_confidence)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=cmd_label_report)
