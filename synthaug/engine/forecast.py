"""A full run projected from a sample run: rows, model calls, tokens, money and wall time.

The sample runs the first N source rows through the real pipeline (``--limit N``). Each step's
share of the work then scales with its input:

- rows: the source gives the full run's row count (a file's length, a generator's target);
  every later step keeps the share of its input rows it kept in the sample
  (``rows_out / rows_in``), so a filter that dropped half the sample drops half the run;
- calls and tokens of a map or whole-input step: the sample's per input row, times the full
  run's input rows;
- calls and tokens of a source that calls a model: the answers it had taken per row when its
  last sample row came out, times the rows still to make, plus everything the sample spent
  (including the requests still in flight when it stopped, which the full run also pays for,
  at its end);
- money: each client's tokens at its price (unknown when the model has no price);
- wall time: the sample's seconds per generated token of its real (uncached) calls, times the
  tokens to generate; unknown when the sample was answered from the cache.

A source without a known size (and no ``--limit``) leaves the projection unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..llm.client import Tally
from ..llm.spend import Spend
from .summary import StepStats


@dataclass
class Usage:
    """Projected answers and tokens through one client (fractions until shown)."""

    requests: float = 0.0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0

    @classmethod
    def of(cls, tally: Tally, factor: float = 1.0) -> Usage:
        return cls(
            tally.requests * factor, tally.prompt_tokens * factor, tally.completion_tokens * factor
        )

    def plus(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def minus(self, other: Usage) -> Usage:
        return Usage(
            max(self.requests - other.requests, 0.0),
            max(self.prompt_tokens - other.prompt_tokens, 0.0),
            max(self.completion_tokens - other.completion_tokens, 0.0),
        )


@dataclass
class StepForecast:
    """One step of the full run; None where the sample cannot tell."""

    name: str
    method: str
    rows_in: float | None
    rows_out: float | None
    usage: dict[str, Usage] | None  # by client name
    sample: dict[str, Usage] = field(default_factory=dict)  # what the sample asked for


@dataclass
class Forecast:
    recipe: str
    backend: str | None
    sample_rows: int
    source_rows: int | None
    sample_wall_s: float
    steps: list[StepForecast]
    spend: Spend
    seconds_per_token: float | None
    sample_cached: bool  # the sample's answers are in the request cache for the real run

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "backend": self.backend,
            "source_rows": self.source_rows,
            "sample": {
                **self._figures(_sum([s.sample for s in self.steps])),
                "source_rows": self.sample_rows,
                "wall_s": round(self.sample_wall_s, 3),
            },
            "steps": [
                {
                    "name": s.name,
                    "method": s.method,
                    "rows_in": _round(s.rows_in),
                    "rows_out": _round(s.rows_out),
                    **self._figures(s.usage),
                }
                for s in self.steps
            ],
            "total": self._figures(self.total()),
            "sample_cached": self.sample_cached,
            "remaining": self._figures(self.remaining()),
            "unpriced_models": self.spend.unpriced(),
        }

    def total(self) -> dict[str, Usage] | None:
        """The whole recipe's usage by client."""
        if any(s.usage is None for s in self.steps):
            return None
        return _sum([s.usage for s in self.steps])  # type: ignore[misc]

    def remaining(self) -> dict[str, Usage] | None:
        """What the full run still has to pay for: the sample's answers are in the cache."""
        total = self.total()
        if total is None or not self.sample_cached:
            return total
        sample = _sum([s.sample for s in self.steps])
        return {name: u.minus(sample.get(name, Usage())) for name, u in total.items()}

    def _figures(self, usage: dict[str, Usage] | None) -> dict[str, Any]:
        """Calls, tokens, dollars and seconds of ``usage`` (None: all unknown)."""
        if usage is None:
            keys = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "wall_s")
            return dict.fromkeys(keys)
        added = Usage()
        for part in usage.values():
            added = added.plus(part)
        costs = [
            self.spend.cost_of(name, round(u.prompt_tokens), round(u.completion_tokens))
            for name, u in usage.items()
        ]
        cost = None if None in costs else sum(c for c in costs if c is not None)
        wall = (
            self.seconds_per_token * added.completion_tokens
            if self.seconds_per_token is not None
            else None
        )
        return {
            "requests": round(added.requests),
            "prompt_tokens": round(added.prompt_tokens),
            "completion_tokens": round(added.completion_tokens),
            "cost_usd": round(cost, 6) if cost is not None else "unknown",
            "wall_s": round(wall, 1) if wall is not None else None,
        }


def project(
    *,
    recipe: str,
    backend: str | None,
    stats: list[StepStats],
    source_rows: int | None,
    spend: Spend,
    sample_wall_s: float,
    sample_cached: bool = True,
) -> Forecast:
    """The full run of a pipeline whose sample run left ``stats`` (see the module docstring);
    ``source_rows``: how many rows the full run's source makes (None: unknown);
    ``sample_cached``: whether the sample's answers went to a request cache."""
    steps: list[StepForecast] = [_project_source(stats[0], source_rows)]
    for step in stats[1:]:
        steps.append(_project_step(step, steps[-1].rows_out))
    generated = sum(client.stats.completion_tokens for client in spend.clients.values())
    return Forecast(
        recipe=recipe,
        backend=backend,
        sample_rows=stats[0].rows_out,
        source_rows=round(steps[0].rows_out) if steps[0].rows_out is not None else None,
        sample_wall_s=sample_wall_s,
        steps=steps,
        spend=spend,
        seconds_per_token=sample_wall_s / generated if generated else None,
        sample_cached=sample_cached,
    )


def _project_source(step: StepStats, full_rows: int | None) -> StepForecast:
    sample = {name: Usage.of(t) for name, t in step.usage.items()}
    made = step.rows_out
    if step.usage_at_limit is None:  # the source ended within the sample: nothing more to make
        return StepForecast(step.name, step.method, None, made, sample, sample)
    if full_rows is None or not made:
        return StepForecast(step.name, step.method, None, full_rows, None, sample)
    more = max(full_rows - made, 0) / made
    usage = {
        name: sample[name].plus(Usage.of(step.usage_at_limit.get(name, Tally()), more))
        for name in sample
    }
    return StepForecast(step.name, step.method, None, max(full_rows, made), usage, sample)


def _project_step(step: StepStats, rows_in: float | None) -> StepForecast:
    sample = {name: Usage.of(t) for name, t in step.usage.items()}
    if rows_in is None or (not step.rows_in and rows_in):
        return StepForecast(step.name, step.method, rows_in, None, None, sample)
    factor = rows_in / step.rows_in if step.rows_in else 0.0
    usage = {name: Usage.of(t, factor) for name, t in step.usage.items()}
    return StepForecast(step.name, step.method, rows_in, step.rows_out * factor, usage, sample)


def _sum(parts: list[dict[str, Usage]]) -> dict[str, Usage]:
    total: dict[str, Usage] = {}
    for part in parts:
        for name, usage in part.items():
            total[name] = total.get(name, Usage()).plus(usage)
    return total


def _round(value: float | None) -> int | None:
    return round(value) if value is not None else None


def render_forecast(forecast: dict[str, Any]) -> str:
    """A forecast (``Forecast.to_json``) as a text table for the terminal."""
    sample = forecast["sample"]
    full = forecast["source_rows"]
    lines = [
        f"plan — {forecast['recipe']} on {forecast['backend']}: {sample['source_rows']} of "
        f"{full if full is not None else '?'} source rows sampled in {sample['wall_s']:.1f}s",
        f"  {'step':<24}{'rows in':>9}{'rows out':>10}{'calls':>9}{'input tok':>12}"
        f"{'output tok':>12}{'cost':>12}{'wall':>10}",
    ]
    rows = [*forecast["steps"], {"name": "total", **forecast["total"]}]
    for index, step in enumerate(rows):
        rows_in = _n(step["rows_in"]) if 0 < index < len(rows) - 1 else "-"
        rows_out = _n(step["rows_out"]) if index < len(rows) - 1 else "-"
        lines.append(
            f"  {step['name']:<24}{rows_in:>9}{rows_out:>10}"
            f"{_n(step['requests']):>9}{_n(step['prompt_tokens']):>12}"
            f"{_n(step['completion_tokens']):>12}{_money(step['cost_usd']):>12}"
            f"{_clock(step['wall_s']):>10}"
        )
    left = forecast["remaining"]
    if left["requests"] is not None:
        cached = (
            f"the sample's {sample['requests']:,} calls are cached: the run makes about"
            if forecast["sample_cached"]
            else "without a cache the run makes all"
        )
        lines.append(
            f"  {cached} {left['requests']:,} calls "
            f"({left['prompt_tokens'] + left['completion_tokens']:,} tokens, "
            f"{_money(left['cost_usd'])}, {_clock(left['wall_s'])})"
        )
    else:
        lines.append(
            "  cannot project: the source's size is unknown (give --limit N) or no sample row "
            "reached a step"
        )
    if forecast["unpriced_models"]:
        lines.append(
            f"  no price for {', '.join(forecast['unpriced_models'])}: its cost is unknown; "
            "give it in a --prices file"
        )
    if forecast["total"]["wall_s"] is None and left["requests"] is not None:
        lines.append("  wall time unknown: the sample was answered from the cache")
    return "\n".join(lines)


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _money(cost: Any) -> str:
    if cost is None:
        return "?"
    return "unknown" if cost == "unknown" else f"${cost:,.4f}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
