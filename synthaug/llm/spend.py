"""What a run's model calls have cost so far, and the budget that stops it.

Spend counts real calls only: answers replayed from the cache cost nothing. Tokens are the
input and output tokens the servers reported; money is those tokens at each client's price
(``PriceTable.for_backend``), and is unknown when a client without a price made a call. With
a budget, every client checks it before sending a call: once the spend reaches either limit,
no new call is sent (``BudgetReached``); calls already sent finish and are cached, so the
spend may pass the limit by what those cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SynthaugError
from .client import BudgetReached, LLMClient
from .prices import Price, PriceTable


@dataclass(frozen=True)
class Budget:
    """Limits on a run's spend: US dollars and input + output tokens (None: no limit)."""

    max_cost: float | None = None
    max_tokens: int | None = None

    def describe(self) -> str:
        parts = []
        if self.max_cost is not None:
            parts.append(f"--max-cost {self.max_cost:g}")
        if self.max_tokens is not None:
            parts.append(f"--max-tokens {self.max_tokens}")
        return " and ".join(parts)


class Spend:
    """The spend of a run's clients (by name: ``default`` and the named backends)."""

    def __init__(
        self,
        clients: dict[str, LLMClient],
        table: PriceTable | None = None,
        budget: Budget | None = None,
    ):
        table = table or PriceTable.default()
        self.clients, self.budget = dict(clients), budget or Budget()
        self.prices: dict[str, Price | None] = {
            name: table.for_backend(client.backend) for name, client in clients.items()
        }
        if self.budget.max_cost is not None:
            for name, client in clients.items():
                if self.prices[name] is None:
                    raise SynthaugError(
                        f"--max-cost: no price for model {client.backend.priced_model()!r} "
                        f"({client.backend.describe()}); give its price in a --prices file"
                    )
        if self.budget.max_cost is not None or self.budget.max_tokens is not None:
            for client in clients.values():
                client.guard = self.check

    @property
    def tokens(self) -> int:
        """Input + output tokens of every real call so far."""
        return sum(c.stats.prompt_tokens + c.stats.completion_tokens for c in self.clients.values())

    @property
    def cost(self) -> float | None:
        """US dollars of every real call so far; None when one without a price was made."""
        total = 0.0
        for name, client in self.clients.items():
            cost = self.cost_of(name, client.stats.prompt_tokens, client.stats.completion_tokens)
            if cost is None:
                return None
            total += cost
        return total

    def cost_of(self, client: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """What these tokens cost through ``client``; None when that has no price (and any
        were used)."""
        price = self.prices.get(client)
        if price is None:
            return 0.0 if prompt_tokens + completion_tokens == 0 else None
        return price.cost(prompt_tokens, completion_tokens)

    def unpriced(self) -> list[str]:
        """The models that have no price."""
        return sorted(
            {
                str(self.clients[name].backend.priced_model())
                for name, price in self.prices.items()
                if price is None
            }
        )

    def reached(self) -> str | None:
        """Which limit the spend has reached, said for the user; None while within budget."""
        budget = self.budget
        if budget.max_tokens is not None and (tokens := self.tokens) >= budget.max_tokens:
            return f"{tokens:,} tokens spent, limit {budget.max_tokens:,}"
        if budget.max_cost is not None and (cost := self.cost or 0.0) >= budget.max_cost:
            return f"${cost:.4f} spent, limit ${budget.max_cost:g}"
        return None

    def check(self) -> None:
        """Refuse a new call (``BudgetReached``) once the budget is spent."""
        if (why := self.reached()) is not None:
            raise BudgetReached(why)
