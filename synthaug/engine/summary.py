"""The run summary: rows per step, errors by kind, tokens, cache use, speed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..llm.client import ClientStats


@dataclass
class StepStats:
    name: str
    method: str
    rows_in: int = 0
    rows_out: int = 0
    reused: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def build_summary(
    *,
    recipe: str,
    backend: str | None,
    steps: list[StepStats],
    llm: ClientStats | None,
    wall_s: float,
    outputs: dict[str, str],
    records: int,
    error_records: int,
    sandbox: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A JSON-able summary of one run."""
    llm = llm or ClientStats()
    generated = llm.completion_tokens
    return {
        "recipe": recipe,
        "backend": backend,
        "records": records,
        "error_records": error_records,
        "outputs": outputs,
        "wall_s": round(wall_s, 3),
        "steps": [
            {
                "name": s.name,
                "method": s.method,
                "rows_in": s.rows_in,
                "rows_out": s.rows_out,
                "reused_from_checkpoint": s.reused,
                "errors": dict(s.errors),
            }
            for s in steps
        ],
        "llm": {
            "model_calls": llm.model_calls,
            "cache_hits": llm.cache_hits,
            "retries": llm.retries,
            "failed_calls": dict(llm.failures),
            "prompt_tokens": llm.prompt_tokens,
            "completion_tokens": generated,
            "cached_completion_tokens": llm.cached_completion_tokens,
            "tokens_per_s": round(generated / wall_s, 1) if wall_s > 0 else 0.0,
        },
        "sandbox": sandbox or {"executions": 0, "cache_hits": 0},
    }


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as a short text table for the terminal."""
    lines = [f"run summary — {summary['recipe']} on {summary['backend']}"]
    lines.append(f"  {'step':<28}{'in':>8}{'out':>8}{'reused':>8}  errors")
    for s in summary["steps"]:
        errors = ", ".join(f"{k}={v}" for k, v in s["errors"].items()) or "-"
        lines.append(
            f"  {s['name']:<28}{s['rows_in']:>8}{s['rows_out']:>8}"
            f"{s['reused_from_checkpoint']:>8}  {errors}"
        )
    llm = summary["llm"]
    lines.append(
        f"  model calls {llm['model_calls']}, cache hits {llm['cache_hits']}, "
        f"retries {llm['retries']}, tokens {llm['prompt_tokens']} in / "
        f"{llm['completion_tokens']} out, {llm['tokens_per_s']} tok/s"
    )
    if (sandbox := summary["sandbox"])["executions"] or sandbox["cache_hits"]:
        lines.append(
            f"  sandbox runs {sandbox['executions']}, replayed from cache {sandbox['cache_hits']}"
        )
    lines.append(
        f"  {summary['records']} records, {summary['error_records']} failed rows, "
        f"{summary['wall_s']:.1f}s"
    )
    for kind, path in summary["outputs"].items():
        lines.append(f"  {kind}: {path}")
    return "\n".join(lines)
