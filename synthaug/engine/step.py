"""The step contract.

A step declares the columns it reads and writes and validates its parameters
with a pydantic model, so a pipeline can be checked before any model call.
``SourceStep`` produces rows (a file, a seed pool, a generator such as
Self-Instruct's bootstrap); ``MapStep`` turns each input row into zero or more
output rows; ``WholeStep`` needs every input row before it emits (deduplication,
clustering). A map step's ``process`` may make any number of model calls
through ``ctx.llm``; raising ``RowError`` (or an ``LLMError``) marks the row
failed instead of aborting the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ..hashing import derive_seed
from ..llm.cache import RequestCache
from ..llm.client import LLMClient
from ..llm.embeddings import Embedder, EmbedderSpec
from ..llm.types import ChatRequest
from ..records import META, derive, record_id
from .resources import DEFAULT_BACKEND, RunResources  # DEFAULT_BACKEND in a backend param


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowError(Exception):
    """A row that cannot be processed (e.g. the model's output does not parse)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class StepContext:
    """What a running step may use: the LLM clients, the run's resources, the run seed, its
    own name and the run's output file (``output``: steps that write files beside the
    output, such as images, put them in its folder). ``keeps(position)`` says whether this run
    keeps the source row at that position (a ``--shard`` keeps only its share): a source may
    skip costly work, such as drawing an image, for a row it yields that is not kept.

    ``llm`` is the recipe's ``backend:``; ``backends`` holds the clients of the
    named ``backends:`` the step declared (see ``Step.backend_params``);
    ``resources`` holds what the whole run shares (cache, sandbox, embedders).
    """

    llm: LLMClient | None
    run_seed: int
    step_name: str
    backends: dict[str, LLMClient] = field(default_factory=dict)
    resources: RunResources = field(default_factory=RunResources)
    output: Path | None = None
    keeps: Callable[[int], bool] = field(default=lambda position: True)

    @property
    def sandbox(self) -> Any:
        """The run's ``synthaug.verify.Sandbox`` for generated code (results in its cache)."""
        return self.resources.sandbox

    @property
    def cache(self) -> RequestCache | None:
        return self.resources.cache

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        return self.resources.embedder(spec)

    def seed(self, *parts: Any) -> int:
        """A per-row (or per-request) seed, stable across runs."""
        return derive_seed(self.run_seed, self.step_name, *parts)

    def require_llm(self, name: str | None = None) -> LLMClient:
        """The default client (``name`` None or ``"default"``), or the named backend ``name``."""
        client = self.llm if name in (None, DEFAULT_BACKEND) else self.backends.get(name)
        if client is None:
            raise RuntimeError(f"step {self.step_name} needs backend {name or '(default)'}")
        return client


class Step(ABC):
    """Base of all steps: a name, validated params, declared columns."""

    method: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    uses_llm: ClassVar[bool] = False
    # params whose value (a name, or a list of names) selects among the recipe's ``backends:``;
    # None and "default" select the recipe's ``backend:``
    backend_params: ClassVar[tuple[str, ...]] = ()
    # packaged data the step reads when a param is unset: {param: path under synthaug/data}
    # (their sources and licences are in synthaug/data/LICENSES.md; dataset cards list them)
    seed_data: ClassVar[dict[str, str]] = {}

    @classmethod
    def seed_files(cls, params: dict[str, Any]) -> dict[str, str]:
        """``seed_data`` for these (effective) params: a step whose packaged file depends on
        another param says which one it reads."""
        return dict(cls.seed_data)

    def __init__(self, name: str | None = None, **params: Any):
        self.name = name or self.method
        self.params = self.Params(**params)

    def backend_names(self) -> dict[str, str]:
        """Param name (``param[i]`` for a list) -> the named backend it selects."""
        named: dict[str, str] = {}
        for param in self.backend_params:
            value = getattr(self.params, param)
            if isinstance(value, list | tuple):
                named.update({f"{param}[{i}]": name for i, name in enumerate(value)})
            else:
                named[param] = value
        return {k: v for k, v in named.items() if v not in (None, DEFAULT_BACKEND)}

    def input_columns(self) -> set[str]:
        """Columns that must be present in every input row."""
        return set(self.reads)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        """Columns present after this step, given those before it."""
        return input_columns | set(self.writes)

    def fingerprint_fields(self) -> dict[str, Any]:
        """What identifies this step's work (for checkpoint reuse)."""
        return {"method": self.method, "params": self.params.model_dump(mode="json")}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        """Counters for one row this step passed on, summed into the step's ``counts`` in the
        run summary (e.g. how many readings were incomplete). Read from the row itself, so a
        row reused from a checkpoint counts as it did when it was made and a resumed run
        reports the same totals; failed rows are counted by error kind instead."""
        return {}


class SourceStep(Step):
    """A step that produces the pipeline's rows, in a deterministic order."""

    @abstractmethod
    def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        """Yield rows (each with ``_meta``)."""

    def expected_rows(self) -> int | None:
        """How many rows it will yield, if known (for progress and ETA)."""
        return None

    def generated(
        self, fields: dict[str, Any], ctx: StepContext, request: ChatRequest, *position: Any
    ) -> dict[str, Any]:
        """A new record made by ``request``: ``fields`` and a ``_meta`` whose id is this step
        and ``position`` (e.g. request number and choice)."""
        llm = ctx.require_llm()
        return {
            **fields,
            META: {
                "id": record_id(self.name, *position),
                "parents": [],
                "step": self.name,
                "method": self.method,
                "model": llm.backend.describe(),
                "request": [llm.key(request)],
                "seed": request.seed,
            },
        }


class MapStep(Step):
    """A step that maps each input row to zero or more output rows."""

    @abstractmethod
    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        """The output rows for ``row`` (raise ``RowError`` for a bad row)."""

    def derived(
        self,
        row: dict[str, Any],
        fields: dict[str, Any],
        ctx: StepContext,
        requests: list[ChatRequest],
        llm: LLMClient | None = None,
        **provenance: Any,
    ) -> dict[str, Any]:
        """``row`` plus ``fields``, its ``_meta`` naming this step, the model (``llm``, by
        default the recipe's) and the requests."""
        llm = llm or ctx.require_llm()
        return derive(
            row,
            fields,
            step=self.name,
            method=self.method,
            model=llm.backend.describe(),
            request=[llm.key(r) for r in requests],
            **provenance,
        )

    @property
    def checkpointed(self) -> bool:
        """Model-calling steps keep shards; cheap (possibly stateful) steps simply rerun."""
        return self.uses_llm


class WholeStep(Step):
    """A step that sees all its input rows before emitting any (dedup, clustering).

    Cheap and deterministic, so it is not checkpointed: a resumed run feeds it
    the same rows again.
    """

    @abstractmethod
    def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        """Consume ``rows`` and yield the output rows."""
