"""The run summary: rows per step, errors by kind, tokens, cache use, spend, speed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..llm.client import ClientStats, Tally
from ..llm.spend import Budget, Spend


@dataclass
class StepStats:
    """One step's counters. ``counts``: what the step's ``row_counts`` reported for the rows
    it passed on; ``usage``: the answers it asked each client for (by client name);
    ``usage_at_limit``: for a source stopped by ``--limit``, its usage when it gave its last
    row (what came after was spent on requests already in flight)."""

    name: str
    method: str
    rows_in: int = 0
    rows_out: int = 0
    reused: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    usage: dict[str, Tally] = field(default_factory=dict)
    usage_at_limit: dict[str, Tally] | None = None

    def tally(self, client: str) -> Tally:
        """The step's tally for ``client`` (created on first use)."""
        return self.usage.setdefault(client, Tally())


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
    spend: Spend | None = None,
    stopped: str | None = None,
    reproduce: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-able summary of one run (``stopped``: why it stopped before the end;
    ``reproduce``: the command and resolved recipe that made it)."""
    llm = llm or ClientStats()
    generated = llm.completion_tokens
    cost = spend.cost if spend else 0.0
    summary = {
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
                **({"counts": dict(sorted(s.counts.items()))} if s.counts else {}),
                **_step_usage(s),
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
            "cost_usd": round(cost, 6) if cost is not None else "unknown",
            **({"unpriced_models": spend.unpriced()} if spend and cost is None else {}),
            **({"endpoints": dict(sorted(llm.endpoints.items()))} if llm.endpoints else {}),
        },
        "sandbox": sandbox or {"executions": 0, "cache_hits": 0},
    }
    if spend is not None and spend.budget != Budget():
        summary["budget"] = {
            "max_cost_usd": spend.budget.max_cost,
            "max_tokens": spend.budget.max_tokens,
        }
    if stopped:
        summary["stopped"] = stopped
    if reproduce:
        summary["reproduce"] = reproduce
    return summary


def _step_usage(step: StepStats) -> dict[str, Any]:
    """A model-calling step's answers (cached ones included) and their tokens."""
    total = sum(step.usage.values(), Tally())
    if not total.requests:
        return {}
    return {
        "llm": {
            "requests": total.requests,
            "cache_hits": total.cache_hits,
            "prompt_tokens": total.prompt_tokens,
            "completion_tokens": total.completion_tokens,
        }
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
        if counts := s.get("counts"):
            lines.append(f"  {'':<28}" + ", ".join(f"{k}={v}" for k, v in counts.items()))
    llm = summary["llm"]
    lines.append(
        f"  model calls {llm['model_calls']}, cache hits {llm['cache_hits']}, "
        f"retries {llm['retries']}, tokens {llm['prompt_tokens']} in / "
        f"{llm['completion_tokens']} out, {llm['tokens_per_s']} tok/s"
    )
    if (cost := llm["cost_usd"]) == "unknown":
        models = ", ".join(llm["unpriced_models"])
        spent = f"cost unknown (no price for {models}: give it in a --prices file)"
    else:
        spent = f"${cost:.4f}"
    if served := llm.get("endpoints"):
        lines.append("  served by " + ", ".join(f"{url} {n}" for url, n in served.items()))
    lines.append(f"  spend {spent} for {llm['prompt_tokens'] + llm['completion_tokens']:,} tokens")
    if (sandbox := summary["sandbox"])["executions"] or sandbox["cache_hits"]:
        lines.append(
            f"  sandbox runs {sandbox['executions']}, replayed from cache {sandbox['cache_hits']}"
        )
    done = "records done before the stop" if "stopped" in summary else "records"
    lines.append(
        f"  {summary['records']} {done}, {summary['error_records']} failed rows, "
        f"{summary['wall_s']:.1f}s"
    )
    if "stopped" in summary:
        lines.append(f"  stopped: {summary['stopped']}; no output written")
    for kind, path in summary["outputs"].items():
        lines.append(f"  {kind}: {path}")
    return "\n".join(lines)
