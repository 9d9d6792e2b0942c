"""CriticBench-style critique data with correctness evidence (Lin et al., 2024, "CriticBench:
Benchmarking LLMs for Critique-Correct Reasoning", arXiv 2402.14809; the authors' code,
CriticBench/CriticBench).

CriticBench collects responses to questions with gold answers (GSM8K, MATH, code, commonsense,
symbolic tasks), labels each response correct or wrong **by checking it against the gold**,
and asks the model under test to **critique** it: review the answer, say whether it is
correct and, if wrong, where the problem is, ending "[[correct]]" or "[[wrong]]" (few-shot).
The critique score is the **F1 of the "wrong" label** (sklearn's ``f1_score`` over items; a
critique without a verdict counts as a miss).

``criticbench.critique`` takes a row's sampled ``completions`` (``preference.responses`` on
``math_problems``): each is checked against the row's gold ``answer`` (``answer_verdict``,
stored as ``verification``, so ``synthaug verify`` re-checks it; ``task: code`` runs the
reply's code with the row's ``tests`` in the sandbox instead), then critiqued at temperature 0
under a grammar (one reasoning line, then "So the verdict is: [[correct]]" or
"[[wrong]]"). One record per completion: ``response``, ``response_label`` (the check: True =
correct), ``critique``, ``critique_verdict`` (True = the critique says correct) and
``critique_agrees``. Each record also counts ``wrong_tp``, ``wrong_fp``, ``wrong_fn`` and
``wrong_tn`` (the "wrong" label as positive) into the run summary, from which the
benchmark's F1 follows (``critique_f1``).

Different: the few-shot examples are this project's (the authors give four per dataset, from
its training split), and the reasoning is one line under the grammar. The authors' responses
come from several models; here the recipe's pool.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import StepContext
from ...llm.types import chat
from ...records import META, derive
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import FromCompletions, prompt_text, without
from .verified import task_kind, verify

PAPER = "Lin et al., 2024, CriticBench: Benchmarking LLMs for Critique-Correct Reasoning (arXiv 2402.14809)"
TAXONOMY = "synthesis / critique data (critiques of answers with known correctness)"
STAGE = "preference alignment (critique and reward data)"
VERDICT = "\nSo the verdict is: [["


def critique_grammar(reasoning_chars: int) -> str:
    """GBNF: one reasoning line, then the verdict."""
    return (
        f'root ::= [^\\n]{{1,{reasoning_chars}}} "\\nSo the verdict is: [[" '
        '("correct" | "wrong") "]]"'
    )


def parse_verdict(text: str) -> bool | None:
    """True for a critique ending [[correct]], False for [[wrong]], None for neither."""
    tail = text.rsplit("[[", 1)[-1].lower() if "[[" in text else ""
    if tail.startswith("correct"):
        return True
    if tail.startswith("wrong"):
        return False
    return None


def confusion(label: bool, said: bool | None) -> dict[str, int]:
    """One item's counts with "wrong" as the positive label; no verdict counts as a miss."""
    wrong = not label
    predicted = label if said is None else not said  # no verdict: the opposite of the truth
    return {
        "wrong_tp": int(wrong and predicted),
        "wrong_fp": int(not wrong and predicted),
        "wrong_fn": int(wrong and not predicted),
        "wrong_tn": int(not wrong and not predicted),
    }


def critique_f1(counts: dict[str, int]) -> float:
    """F1 of the "wrong" label from summed ``confusion`` counts (0 when undefined)."""
    tp, fp, fn = counts["wrong_tp"], counts["wrong_fp"], counts["wrong_fn"]
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


class CritiqueParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "question"  # math_problems writes it
    task: Literal["auto", "math", "code"] = "auto"
    reasoning_chars: int = Field(1200, ge=1)
    max_tokens: int = Field(512, ge=16)
    critic: str = "default"  # the model under test


@register("criticbench.critique", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Critique(FromCompletions):
    """CriticBench: each answer checked against the gold, then critiqued ([[correct]]/[[wrong]])."""

    Params = CritiqueParams
    reads = ("completions",)
    writes = (
        "response", "response_model", "verification", "response_label", "critique",
        "critique_verdict", "critique_agrees",
    )  # fmt: skip
    uses_llm = True
    backend_params = ("critic",)

    def input_columns(self) -> set[str]:
        extra = {"math": {"answer"}, "code": {"tests"}, "auto": set()}[self.params.task]
        return {self.params.prompt_column, "completions", *extra}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return confusion(row["response_label"], row["critique_verdict"])

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, completions = self.params, row["completions"]
        if not completions:
            return [dropped(self, row, "no_completions", "the row has no completions", "none")]
        question, kind = prompt_text(row, p.prompt_column), task_kind(row, p.task)
        texts = [str(c["response"]) for c in completions]
        verdicts = await asyncio.gather(*(verify(kind, t, row, ctx.sandbox) for t in texts))
        critic = ctx.require_llm(p.critic)
        requests = [
            chat(
                (
                    "user",
                    render(__file__, "criticbench_critique.j2", question=question, response=t),
                ),
                temperature=0,
                max_tokens=p.max_tokens,
                grammar=critique_grammar(p.reasoning_chars),
                seed=ctx.seed(row[META]["id"], i),
            )
            for i, t in enumerate(texts)
        ]
        replies = await asyncio.gather(*(critic.complete(r) for r in requests))
        parent, model = without(row, "completions"), critic.backend.describe()
        records = []
        for i, (c, check, request, reply) in enumerate(
            zip(completions, verdicts, requests, replies, strict=True)
        ):
            said = parse_verdict(reply.text)
            fields = {
                "response": texts[i],
                "response_model": c.get("model"),
                "verification": check,
                "response_label": bool(check["verified"]),
                "critique": reply.text.split(VERDICT)[0].strip(),
                "critique_verdict": said,
                "critique_agrees": said is not None and said == bool(check["verified"]),
            }
            records.append(
                derive(
                    parent,
                    fields,
                    step=self.name,
                    method=self.method,
                    index=i,
                    model=model,
                    request=[critic.key(request)],
                )
            )
        return records
