"""What a run shares between its steps: the request cache, the model clients, the code sandbox
and the embedders.

``synthaug.resources.open_resources`` builds it once for every command (``run``, ``score``,
``review``, the curation commands, the benchmarks); the pipeline starts and closes its clients
and hands it to each step through the ``StepContext``. The engine never imports the sandbox's
module: it only passes the object on and reads its counters for the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..llm.cache import RequestCache
from ..llm.client import LLMClient
from ..llm.embeddings import Embedder, EmbedderSpec
from ..llm.spend import Spend

DEFAULT_BACKEND = "default"  # the recipe's ``backend:`` among the run's clients


@dataclass
class RunResources:
    """``llm`` is the recipe's ``backend:``, ``backends`` its named ``backends:``; ``cache`` is
    None with ``--no-cache``; ``sandbox`` is a ``synthaug.verify.Sandbox`` (None where nothing
    runs generated code); ``spend`` prices the clients' calls and holds the budget (default:
    the built-in prices, no budget)."""

    cache: RequestCache | None = None
    llm: LLMClient | None = None
    backends: dict[str, LLMClient] = field(default_factory=dict)
    sandbox: Any = None
    spend: Spend = None  # type: ignore[assignment]  # set in __post_init__ when not given
    _embedders: dict[EmbedderSpec, Embedder] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.spend is None:
            self.spend = Spend(self.named_clients)

    @property
    def clients(self) -> list[LLMClient]:
        return list(self.named_clients.values())

    @property
    def named_clients(self) -> dict[str, LLMClient]:
        """Every client by name: ``default`` (the recipe's ``backend:``) and the named ones."""
        return ({DEFAULT_BACKEND: self.llm} if self.llm else {}) | self.backends

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        """The embedder ``spec`` names, opened once per run."""
        if spec not in self._embedders:
            self._embedders[spec] = spec.open(self.cache)
        return self._embedders[spec]

    async def start(self) -> None:
        """Load or reach every model before the first row (a failure is one clear error)."""
        for client in self.clients:
            await client.backend.start()

    async def drain(self) -> None:
        """Wait for every call in flight to finish (and land in the cache)."""
        for client in self.clients:
            await client.drain()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()

    def sandbox_counts(self) -> dict[str, int]:
        """The summary's sandbox line: programs run and results replayed from the cache."""
        if self.sandbox is None:
            return {"executions": 0, "cache_hits": 0}
        return {"executions": self.sandbox.executions, "cache_hits": self.sandbox.cache_hits}
