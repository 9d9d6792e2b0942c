"""``synthaug report``: one self-contained HTML page about a data file (no network: styles
inline, charts as inline SVG, a Content-Security-Policy that forbids every fetch)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..records import META
from . import charts
from .preference import TIE_ERRORS, pair_of
from .profile import (
    Profile,
    diversity,
    lineage,
    text_columns,
    value_columns,
    verification_rates,
)

SAMPLES = 5
PAIRS = 3  # sample pairs shown side by side
LINEAGE = 3
CUT = 1200  # characters of a record shown in the samples and lineage
SECTIONS = {
    "curation": "Curation",
    "funnel": "Funnel",
    "model": "Model use",
    "errors": "Errors",
    "verification": "Verification",
    "preference": "Preference pairs",
    "texts": "Text columns",
    "values": "Labels and scores",
    "lineage": "Lineage",
    "samples": "Samples",
}


def render_report(found: Profile) -> str:
    """The report page for ``found``."""
    summary = found.summary or {}
    funnel = summary.get("steps") or []
    texts = [_text_column(found, name) for name in text_columns(found)]
    values = [
        {"name": name, "chart": _distribution(name, data)}
        for name, data in value_columns(found).items()
    ]
    verification = [
        {**rates, "examples": [_dump(e) for e in rates["examples"]]}
        for rates in verification_rates(found)
    ]
    chains = lineage(
        found.path, [r for r in found.sample[:LINEAGE] if not r.get(META, {}).get("error")]
    )
    curation = summary if "operation" in summary else None
    context = {
        "curation": curation,
        "dropped_chart": charts.bars(Counter(curation["dropped"]), "rows removed")
        if curation and curation.get("dropped")
        else "",
        "dropped": [_dump(entry) for entry in found.dropped],
        "name": found.path.name,
        "path": str(found.path),
        "rows": found.rows,
        "sampled": found.sampled,
        "sample_size": len(found.sample),
        "summary": summary,
        "llm": summary.get("llm"),
        "funnel": funnel,
        "funnel_chart": charts.bars(
            {s["name"]: s["rows_out"] for s in funnel}, "rows out", most=len(funnel)
        )
        if funnel
        else "",
        "errors": found.errors.most_common(),
        "error_examples": found.error_examples,
        "verification": verification,
        "texts": texts,
        "values": values,
        "preference": _preference(found),
        "lineage": [
            [
                _generation(row, parent)
                for row, parent in zip(chain, [*chain[1:], None], strict=True)
            ]
            for chain in chains
        ],
        "samples": [_dump(r) for r in found.sample[:SAMPLES]],
    }
    present = {
        "curation": bool(curation),
        "funnel": bool(funnel),
        "model": bool(context["llm"]),
        "verification": bool(verification),
        "preference": bool(context["preference"]),
        "texts": bool(texts),
        "values": bool(values),
        "lineage": bool(chains),
    }
    context["sections"] = [(k, v) for k, v in SECTIONS.items() if present.get(k, True)]
    return _template().render(**context)


def _preference(found: Profile) -> dict[str, Any] | None:
    """Counts over every pair; lengths, scores and margins of the sampled pairs; sample pairs."""
    counts = found.pairs
    if not counts.pairs and not counts.unpaired:
        return None
    pairs = [p for r in found.sample if "chosen" in r and (p := pair_of(r)) is not None]
    # a run's dropped rows are in its errors file; its summary counts them by kind
    dropped = Counter(found.errors)
    for step in (found.summary or {}).get("steps") or []:
        dropped.update(step.get("errors") or {})
    chosen = [len(p.chosen) for p in pairs]
    rejected = [len(p.rejected) for p in pairs]
    scored = [p for p in pairs if p.margin is not None]
    margins = [p.margin for p in scored if p.margin is not None]
    return {
        "counts": counts,
        "tie_errors": sum(dropped[kind] for kind in TIE_ERRORS),
        "chosen_longer": counts.chosen_longer / max(1, counts.pairs),
        "mean_chosen": round(sum(chosen) / len(chosen)) if chosen else None,
        "mean_rejected": round(sum(rejected) / len(rejected)) if rejected else None,
        "mean_margin": round(sum(margins) / len(margins), 3) if margins else None,
        "lengths_chart": charts.overlaid(
            {"chosen": chosen, "rejected": rejected}, "response length (characters)"
        )
        if pairs
        else "",
        "scores_chart": charts.overlaid(
            {
                "chosen": [p.chosen_score for p in scored],
                "rejected": [p.rejected_score for p in scored],
            },
            "score",
        )
        if scored
        else "",
        "margin_chart": charts.histogram(margins, "margin (chosen - rejected score)")
        if margins
        else "",
        "samples": [
            {
                "prompt": _cut(p.prompt or ""),
                "chosen": _cut(p.chosen),
                "rejected": _cut(p.rejected),
                "chosen_score": p.chosen_score,
                "rejected_score": p.rejected_score,
            }
            for p in pairs[:PAIRS]
        ],
    }


def _text_column(found: Profile, name: str) -> dict[str, Any]:
    texts = [r[name] for r in found.sample if isinstance(r.get(name), str)]
    words = [len(t.split()) for t in texts]
    return {
        "name": name,
        "chart": charts.histogram([len(t) for t in texts], f"{name}: characters"),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "mean_words": round(sum(words) / len(words), 1),
        "diversity": diversity(texts),
    }


def _distribution(name: str, data: Counter[str] | list[float]) -> str:
    if isinstance(data, Counter):
        return charts.bars(data, "rows")
    return charts.histogram(data, name)


def _generation(row: dict[str, Any], parent: dict[str, Any] | None) -> dict[str, Any]:
    """One generation of a lineage: the fields its step added or changed (all for the oldest)."""
    meta = row.get(META, {})
    old = parent or {}
    fields = {k: v for k, v in row.items() if k != META and (k not in old or old[k] != v)}
    return {
        "id": meta.get("id"),
        "step": meta.get("step"),
        "method": meta.get("method"),
        "text": _cut(json.dumps(fields, ensure_ascii=False, indent=1)),
    }


def _dump(value: Any) -> str:
    return _cut(json.dumps(value, ensure_ascii=False, indent=1, default=str))


def _cut(text: str) -> str:
    return text if len(text) <= CUT else text[: CUT - 1] + "…"


def _template():
    env = Environment(
        loader=PackageLoader("synthaug.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    return env.get_template("report.html.j2")
