"""API-grounded code data: instruction/solution pairs written with the documentation of real
APIs in the prompt, and checked for hallucinated APIs.

The papers ground code *generation at inference time* in retrieved code:

- De-Hallucinator (Eghbali & Pradel, 2024, arXiv 2401.01701) retrieves the project's API
  references most similar to the APIs an initial completion uses and re-prompts with their
  signatures and docs, iterating, so that the model stops inventing APIs;
- RepoCoder (Zhang et al., 2023, arXiv 2303.12570) retrieves code snippets of the repository
  for the unfinished code, then iterates retrieval with the model's own draft as the query;
- AceCoder (Li et al., 2023, arXiv 2303.17780) retrieves similar programs as examples and has
  the model write a preliminary (test cases) before the code.

Here the same retrieval makes *training data*, over an index of one code base's public API
(``api_index``: the standard library by default, an installed package or a folder), in steps:

1. ``api_grounded.apis``: per row, 1–5 entries of one module, sampled (seeded) as the seed.
2. ``api_grounded.instruct``: the model writes a task that uses the sampled APIs.
3. ``api_grounded.solve``: BM25 retrieves the top-``k`` API entries for the task; the model
   writes the solution with their signatures and docs in the prompt (De-Hallucinator's API
   hints, AceCoder's and RepoCoder's retrieval-augmented prompt). The solution's imports and
   attribute chains are resolved in the sandbox (``verify/api_refs.py``, verification kind
   ``api_exists``); when one does not resolve, De-Hallucinator's iteration: the entries
   nearest to the APIs the draft used are retrieved and the model asked again
   (``repair_rounds``).

What differs: the index holds API documentation only (no code snippets, as RepoCoder's and
AceCoder's do; no embeddings: BM25 over names, signatures and docs); AceCoder's test-case
preliminary is not asked for; whether the solution is *correct* is not checked, only that
every API it references exists (a solution naming a missing API is never verified and becomes
an error row with the unresolved references as the reason). With ``require_grounding``, a
solution that uses none of the documented APIs is dropped too.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META, source_record
from ...retrieval.api_index import ApiEntry, ApiSource, api_index, load_entries
from ...verify.api_refs import api_verdict, unresolved
from ..common.code import python_code
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Eghbali & Pradel, 2024, De-Hallucinator (arXiv 2401.01701); Zhang et al., 2023, "
    "RepoCoder (arXiv 2303.12570); Li et al., 2023, AceCoder (arXiv 2303.17780)"
)
TAXONOMY = "synthesis / retrieval-augmented generation (code: API-grounded)"
STAGE = "instruction tuning (code)"


class ApisParams(ApiSource):
    count: int = Field(20, ge=1, description="tasks to seed")
    apis_per_task: int = Field(2, ge=1, le=5, description="API entries sampled per task")


@register("api_grounded.apis", taxonomy="I/O (code base API index)", stage=STAGE, paper=PAPER)
class Apis(SourceStep):
    """Samples of a code base's public API (one module per row) to seed API-using tasks.

    Output columns: ``api_source`` (what was indexed: ``modules``, ``package`` or ``path``),
    ``seed_apis`` (``[{name, kind, signature, doc, module, path?, line?}]``).
    """

    Params = ApisParams
    params: ApisParams
    writes = ("api_source", "seed_apis")

    def source(self) -> ApiSource:
        return ApiSource(**self.params.model_dump(include=set(ApiSource.model_fields)))

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.source()
        by_module: dict[str, list[ApiEntry]] = {}
        for entry in load_entries(source):
            by_module.setdefault(entry.module, []).append(entry)
        modules = sorted(by_module)
        described = source.described()
        for index in range(self.params.count):
            rng = random.Random(ctx.seed("apis", index))
            entries = by_module[rng.choice(modules)]
            chosen = rng.sample(entries, min(self.params.apis_per_task, len(entries)))
            fields = {"api_source": described, "seed_apis": [e.as_row() for e in chosen]}
            yield source_record(fields, source=source.name(), index=index)


class InstructParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)


def parse_instruction(text: str, finish_reason: str | None) -> str:
    """The task of a reply: the text before any code block (a reply cut off inside the code
    still has a whole task), a leading ``Task:`` removed."""
    task, fence, _ = text.partition("```")
    if finish_reason != "stop" and not fence:
        raise RowError("unfinished", f"finish_reason {finish_reason!r}, not 'stop'")
    task = task.strip()
    if task.lower().startswith(("task:", "**task:**")):
        task = task.split(":", 1)[1].lstrip("* \n")
    if len(task.split()) < 5:
        raise RowError("empty_instruction", f"no task in the reply: {text[:80]!r}")
    return task


@register("api_grounded.instruct", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Instruct(ModelStep):
    """Write a programming task that uses the sampled real APIs (shown with their docs)."""

    Params = InstructParams
    params: InstructParams
    reads = ("seed_apis",)
    writes = ("instruction",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        prompt = render(__file__, "api_grounded_instruction.j2", apis=row["seed_apis"])
        return [
            chat(("user", prompt), temperature=self.params.temperature,
                 max_tokens=self.params.max_tokens, seed=ctx.seed(row[META]["id"]))
        ]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        choice = replies[0].choices[0]
        return {"instruction": parse_instruction(choice.text, choice.finish_reason)}


class SolveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(5, ge=1, le=20, description="API entries retrieved into the prompt")
    repair_rounds: int = Field(
        1, ge=0, le=3, description="re-retrievals and retries when an API does not resolve"
    )
    require_grounding: bool = Field(
        True, description="drop solutions that use none of the APIs documented in the prompt"
    )
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)


def grounded(references: list[dict[str, Any]], documented: list[str]) -> list[str]:
    """The references naming a documented API, a part of one (``pathlib.Path`` of
    ``pathlib.Path.read_text``) or something on one; a bare top-level module (``import json``)
    does not count."""

    def related(name: str, doc: str) -> bool:
        return name == doc or doc.startswith(name + ".") or name.startswith(doc + ".")

    return [
        ref["name"]
        for ref in references
        if "." in ref["name"] and any(related(ref["name"], doc) for doc in documented)
    ]


def retry_query(instruction: str, references: list[dict[str, Any]]) -> str:
    """De-Hallucinator's re-retrieval query: the APIs the draft used (missing ones first)."""
    names = [r["name"] for r in sorted(references, key=lambda r: r["resolved"])]
    return " ".join([*names, instruction])


@register("api_grounded.solve", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Solve(MapStep):
    """Solve a task with the top-k retrieved API docs in the prompt; every module and attribute
    the solution references must exist (checked in the sandbox, kind ``api_exists``).

    Input columns: ``instruction``, ``api_source``. Output columns: ``solution`` (the reply),
    ``code``, ``retrieved_apis`` (per attempt, ``[{name, score}]``), ``grounded_apis``,
    ``attempts``, ``messages``, ``verification``. Error kinds: ``no_code``,
    ``hallucinated_api``, ``ungrounded``.
    """

    Params = SolveParams
    params: SolveParams
    reads = ("instruction", "api_source")
    writes = ("solution", "code", "retrieved_apis", "grounded_apis", "attempts", "messages",
              "verification")  # fmt: skip
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        source = ApiSource(**row["api_source"])
        index, instruction = api_index(source), row["instruction"]
        query, requests, attempts, retrieved = instruction, [], [], []
        kept: tuple[str, str, dict[str, Any]] | None = None  # the last reply with code
        for attempt in range(p.repair_rounds + 1):
            hits = index.search(query, p.k)
            retrieved.append([{"name": e.name, "score": round(s, 4)} for e, s in hits])
            prompt = render(__file__, "api_grounded_solution.j2", instruction=instruction,
                            apis=[e.as_row() for e, _ in hits])  # fmt: skip
            request = chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                           seed=ctx.seed(row[META]["id"], attempt))  # fmt: skip
            requests.append(request)
            text = (await llm.complete(request)).choices[0].text
            code = python_code(text)
            if code is None:  # nothing to re-retrieve from
                attempts.append({"status": "no_code"})
                break
            verification = await api_verdict(ctx.sandbox, code, source.allowed())
            kept = text, code, verification
            missing = unresolved(verification)
            attempts.append(
                {"status": "unresolved" if missing else "verified", "unresolved": missing}
            )
            if verification["verified"]:
                break
            query = retry_query(instruction, verification["references"])
        if kept is None:
            raise RowError("no_code", "no Python code block in the reply")
        text, code, verification = kept
        documented = [api["name"] for hits in retrieved for api in hits]
        fields = {
            "solution": text, "code": code, "retrieved_apis": retrieved, "attempts": attempts,
            "grounded_apis": grounded(verification["references"], documented),
            "messages": [{"role": "user", "content": instruction},
                         {"role": "assistant", "content": text}],
            "verification": verification,
        }  # fmt: skip
        if not verification["verified"]:
            message = "unresolved: " + "; ".join(unresolved(verification) or ["resolver failed"])
            return [dropped(self, row, "hallucinated_api", message, 0, fields)]
        if p.require_grounding and not fields["grounded_apis"]:
            message = "the solution uses none of the documented APIs"
            return [dropped(self, row, "ungrounded", message, 0, fields)]
        return [self.derived(row, fields, ctx, requests)]
