"""A classification student: sentence embeddings + logistic regression.

``ClassifierStudent(embedder, cache).train(records, seed)`` embeds each record's text (the
embedder's vectors, L2-normalised; kept in the run's request cache when one is given, and in
memory for the student's life, so a loop that retrains on a growing set embeds each text
once) and fits scikit-learn's ``LogisticRegression`` (L2, C = 1, lbfgs: the settings of
``benchmarks/bench_augment.py``; ``random_state`` = the seed). The trained model predicts
labels and scores held-out records: accuracy and macro-F1 (scikit-learn's metrics). Training
is deterministic for a given seed and set of records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, SynthaugError
from ..llm.cache import RequestCache
from ..llm.embeddings import Embedder, embed_cached
from .metric import Metric, Rows, Scores


def _sklearn() -> Any:
    try:
        import sklearn.linear_model
        import sklearn.metrics
    except ImportError as exc:
        raise BackendUnavailable(
            "the classifier student needs scikit-learn: pip install 'synthaug[augment]'"
        ) from exc
    return sklearn


@dataclass(frozen=True)
class Metrics:
    """Held-out scores: accuracy and macro-F1 over ``count`` records."""

    accuracy: float
    macro_f1: float
    count: int

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "count": self.count}


class ClassifierStudent:
    """Embeds texts and trains logistic-regression classifiers on them (comparable in
    ``synthaug evaluate``: ``metrics``, ``describe``, ``score``)."""

    metrics = (
        Metric("accuracy", "accuracy", percent=True),
        Metric("macro_f1", "macro-F1", percent=True),
    )

    def __init__(
        self,
        embedder: Embedder,
        cache: RequestCache | None = None,
        text_column: str = "text",
        label_column: str = "label",
        c: float = 1.0,
        max_iter: int = 2000,
    ):
        self.embedder, self.cache = embedder, cache
        self.text_column, self.label_column = text_column, label_column
        self.c, self.max_iter = c, max_iter
        self._vectors: dict[str, np.ndarray] = {}

    def texts(self, records: Sequence[dict[str, Any]]) -> list[str]:
        return [str(r[self.text_column]) for r in records]

    def labels(self, records: Sequence[dict[str, Any]]) -> list[str]:
        return [str(r[self.label_column]) for r in records]

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` embeddings, each distinct text embedded once per student."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = embed_cached(self.embedder, missing, self.cache)
            self._vectors.update(zip(missing, fresh, strict=True))
        return np.stack([self._vectors[t] for t in texts])

    def train(self, records: Sequence[dict[str, Any]], seed: int = 0) -> TrainedClassifier:
        """A classifier fitted on ``records`` (at least two labels needed)."""
        labels = self.labels(records)
        if len(set(labels)) < 2:
            raise SynthaugError(f"training needs at least two labels, got {sorted(set(labels))}")
        model = _sklearn().linear_model.LogisticRegression(
            C=self.c, max_iter=self.max_iter, random_state=seed
        )
        model.fit(self.vectors(self.texts(records)), labels)
        return TrainedClassifier(self, model)

    def describe(self, test: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"student": f"{self.embedder.identity} + logistic regression (C={self.c:g})"}

    def score(self, name: str, train: Rows, test: Rows, seed: int) -> Scores:
        """Accuracy and macro-F1 on ``test`` of the classifier trained on ``train``."""
        scores = self.train(train, seed).evaluate(test)
        return {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1}


@dataclass
class TrainedClassifier:
    """A fitted student: ``predict`` labels, ``evaluate`` on labelled records."""

    student: ClassifierStudent
    model: Any  # sklearn.linear_model.LogisticRegression

    def predict(self, records: Sequence[dict[str, Any]]) -> list[str]:
        if not records:
            return []
        return [
            str(p) for p in self.model.predict(self.student.vectors(self.student.texts(records)))
        ]

    def evaluate(self, records: Sequence[dict[str, Any]]) -> Metrics:
        """Accuracy and macro-F1 (over the labels present in gold or predictions)."""
        if not records:
            raise SynthaugError("evaluation needs at least one record")
        metrics = _sklearn().metrics
        gold, predicted = self.student.labels(records), self.predict(records)
        return Metrics(
            accuracy=float(metrics.accuracy_score(gold, predicted)),
            macro_f1=float(metrics.f1_score(gold, predicted, average="macro", zero_division=0)),
            count=len(records),
        )
