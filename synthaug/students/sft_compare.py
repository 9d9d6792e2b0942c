"""The LoRA SFT student in ``synthaug evaluate``: one training per dataset and seed, scored by
held-out loss, perplexity and exact match.

Each run trains fresh adapters (``LoraSFTStudent.train``: the seed fixes their initialisation
and the data order; the same ``SFTConfig`` for every run) in its own folder under
``work_dir``: ``NAME/seedS-HASH``, where the hash covers the drawn records, the seed, the
settings and the model, so a rerun finds it. When the run is scored, ``scores.json`` is
written there (with the test set's hash, the exact-match settings and each generated answer
with its check): a rerun reuses those
scores without loading the model; a training killed before that resumes from its last
checkpoint (a finished one trains no further step).

Metrics: mean loss per learned (last, assistant) token on the test records and its
perplexity (``LoraSFTStudent.evaluate``), and exact match: for the first ``limit`` test
records whose reference answer (their last turn) states a checkable answer, the student's
greedy answer to the prompt turns is checked against it (``ExactMatch``: the caller's answer
extraction and comparison); None when no record is checkable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..hashing import stable_hash
from ..io.writers import write_text_atomic
from .metric import Metric, Rows, Scores
from .sft import LoraSFTStudent

SCORES = "scores.json"  # in a run's folder: its scores, once computed
METRICS = (
    Metric("loss", "loss", higher_is_better=False, digits=4),
    Metric("perplexity", "perplexity", higher_is_better=False, digits=2),
    Metric("exact_match", "exact match", percent=True),
)


def conversation_problem(record: dict[str, Any]) -> str | None:
    """Why ``record`` is not a conversation the student can learn (None: it is)."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of turns"
    for turn in messages:
        if not (isinstance(turn, dict) and isinstance(turn.get("role"), str)
                and isinstance(turn.get("content"), str)):  # fmt: skip
            return "each turn needs a 'role' and a text 'content'"
    if messages[-1]["role"] != "assistant":
        return "the last turn is not an assistant turn (the answer to learn)"
    if len(messages) < 2:
        return "no prompt turn before the assistant turn"
    return None


@dataclass(frozen=True)
class ExactMatch:
    """How answers are checked: ``reference(text)`` is the checkable answer a reference
    states (None: not checkable); ``matches(generated, answer)`` whether a generated text
    states it. Generation: greedy, at most ``max_new_tokens``, for at most ``limit`` records."""

    reference: Callable[[str], str | None]
    matches: Callable[[str, str], bool]
    max_new_tokens: int = 256
    limit: int | None = None

    def scored(self, test: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """(record, answer) of the test records scored: checkable ones, up to ``limit``."""
        checkable = [(r, self.reference(r["messages"][-1]["content"])) for r in test]
        found = [(r, answer) for r, answer in checkable if answer is not None]
        return found if self.limit is None else found[: self.limit]


class SFTComparison:
    """``LoraSFTStudent`` as a comparable student (``students.compare``)."""

    metrics = METRICS

    def __init__(
        self,
        student: LoraSFTStudent,
        work_dir: Path,
        exact: ExactMatch,
        budget_unit: str = "examples",
    ):
        self.student, self.work_dir, self.exact = student, Path(work_dir), exact
        self.budget_unit = budget_unit  # "tokens": a budget of ``tokens``

    def tokens(self, record: dict[str, Any]) -> int:
        """The tokens the student trains on for ``record``: its chat-formatted prompt turns
        (template and default system prompt included) and answer, cut at ``max_length``."""
        return len(self.student.encode(record)["input_ids"])

    def describe(self, test: Sequence[dict[str, Any]]) -> dict[str, Any]:
        c, exact = self.student.config, self.exact
        checkable = len(ExactMatch(exact.reference, exact.matches).scored(test))  # no limit
        scored = len(exact.scored(test))
        steps = f"{c.max_steps} steps" if c.max_steps > 0 else f"{c.epochs:g} epochs"
        return {
            "student": f"{self.student.model_name} + LoRA (rank {c.rank}, α {c.alpha}; "
            f"lr {c.learning_rate:g}, batch {c.batch_size}, {steps})",
            "budget_unit": self.budget_unit,
            "config": asdict(self.student.config),
            "metrics": {
                m.name: "higher is better" if m.higher_is_better else "lower is better"
                for m in self.metrics
            },
            "exact_match": {
                "checkable": checkable,
                "scored": scored,
                "limit": exact.limit,
                "max_new_tokens": exact.max_new_tokens,
            },
            "notes": [
                "Loss: mean per learned (assistant) token on the held-out records. Exact match: "
                f"{scored} of {len(test)} held-out rows scored ({checkable} with a checkable "
                f"reference answer; greedy, at most {exact.max_new_tokens} new tokens)."
            ],
        }

    def folder(self, name: str, train: Sequence[dict[str, Any]], seed: int) -> Path:
        made = [list(train), seed, asdict(self.student.config), self.student.model_name]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
        return self.work_dir / slug / f"seed{seed}-{stable_hash(made, 12)}"

    def score(self, name: str, train: Rows, test: Rows, seed: int) -> Scores:
        """Train (or resume, or reuse) the run of ``train`` and ``seed``; score it."""
        out = self.folder(name, train, seed)
        key = {"test": stable_hash(list(test)), "limit": self.exact.limit,
               "max_new_tokens": self.exact.max_new_tokens}  # fmt: skip
        done = out / SCORES
        if done.exists():
            found = json.loads(done.read_text(encoding="utf-8"))
            if found.get("key") == key:
                return found["scores"]
        self.student.train(train, out, seed)
        held_out = self.student.evaluate(test)
        scores: dict[str, Any] = {"loss": held_out["loss"], "perplexity": held_out["perplexity"]}
        scored = self.exact.scored(test)
        answers = self.student.generate([r for r, _ in scored], self.exact.max_new_tokens)
        checked = [
            {"answer": answer, "generated": text, "match": self.exact.matches(text, answer)}
            for text, (_, answer) in zip(answers, scored, strict=True)
        ]
        right = sum(c["match"] for c in checked)
        scores["exact_match"] = right / len(checked) if checked else None
        found = {"key": key, "scores": scores, "answers": checked}
        write_text_atomic(done, json.dumps(found, indent=1, ensure_ascii=False) + "\n")
        return scores
