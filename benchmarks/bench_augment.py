"""Augmentation utility: does EDA help a small classifier trained on N real examples per class?

Data: the built-in sarcasm headlines (2,000 rows, sarcastic / not_sarcastic). A fixed,
stratified held-out test split (``--test`` rows, split seed 0); the other rows are the pool
training examples are drawn from. For each N in ``--n`` and each of ``--seeds`` seeds, N
examples per class are drawn from the pool and a logistic regression (scikit-learn, C=1,
lbfgs) is trained on all-MiniLM-L6-v2 sentence embeddings (the project's ``MiniLM``
embedder), (a) on the real examples only and (b) on them plus their EDA augmentations
(``eda.eda`` with the paper's α and n_aug for a training set of 2N rows; the originals kept,
as the paper does). Accuracy on the test split; mean and a 95% t-interval over seeds per N
and condition, and the paired difference (EDA - real) with its t-interval. Every text is
embedded once per run; each original's augmentations are seeded by the text, so a headline
drawn in several seeds gets the same augmentations.

LLM paraphrase augmentation (``paraphrase.chataug`` on the embedded SmolLM2-135M) is not
measured here: on a shared 2-core CPU it would take hours for the 1,400 pool texts.

    python benchmarks/bench_augment.py [--n 10 50 200] [--seeds 10] [--test 600]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from datetime import UTC, datetime
from importlib import resources

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression

from synthaug.curate.embeddings import MiniLM
from synthaug.hashing import derive_seed
from synthaug.methods.augment import eda

LABELS = ("sarcastic", "not_sarcastic")


def load() -> list[dict]:
    path = resources.files("synthaug") / "data" / "sarcasm_headlines.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def split(rows: list[dict], test: int) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(pool texts by label, test (text, label) pairs): stratified, split seed 0."""
    rng = random.Random(0)
    pool, held_out = {}, []
    for label in LABELS:
        texts = [r["text"] for r in rows if r["label"] == label]
        rng.shuffle(texts)
        held_out += [(t, label) for t in texts[: test // 2]]
        pool[label] = texts[test // 2 :]
    return pool, held_out


def augmentations(text: str, train_size: int) -> list[str]:
    """The EDA sentences for ``text`` at the paper's setting for ``train_size``."""
    alpha, n_aug = eda.paper_setting(train_size)
    rng = random.Random(derive_seed(0, "bench_augment", text))
    pairs = eda.eda(text, dict.fromkeys(eda.OPERATIONS, alpha), n_aug, rng)
    return [sentence for _, sentence in pairs]


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval."""
    array = np.asarray(values)
    half = stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array))
    return float(array.mean()), float(half)


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--test", type=int, default=600)
    args = parser.parse_args()
    started = time.perf_counter()
    pool, held_out = split(load(), args.test)

    draws = {}  # (N, seed) -> [(text, label)]
    for n in args.n:
        for seed in range(args.seeds):
            rng = random.Random(derive_seed(seed, "draw", n))
            draws[n, seed] = [(t, label) for label in LABELS for t in rng.sample(pool[label], n)]
    augmented = {
        (text, 2 * n): augmentations(text, 2 * n)
        for (n, _), drawn in draws.items()
        for text, _ in drawn
    }
    texts = {t for t, _ in held_out} | {t for d in draws.values() for t, _ in d}
    texts |= {s for sentences in augmented.values() for s in sentences}
    texts = sorted(texts)
    embed_started = time.perf_counter()
    vectors = MiniLM().embed(texts)
    embed_seconds = time.perf_counter() - embed_started
    vector = dict(zip(texts, vectors, strict=True))

    x_test = np.stack([vector[t] for t, _ in held_out])
    y_test = [label for _, label in held_out]

    def accuracy(pairs: list[tuple[str, str]]) -> float:
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(np.stack([vector[t] for t, _ in pairs]), [label for _, label in pairs])
        return float(model.score(x_test, y_test))

    lines = [
        f"Sarcasm headlines, {len(held_out)} held-out test rows, {args.seeds} seeds; "
        f"MiniLM embeddings + logistic regression. Machine: {cpu_model()}; "
        f"{datetime.now(UTC):%Y-%m-%d}.",
        "",
        "| N per class | EDA α / n_aug | train rows (real / +EDA) | real only | + EDA "
        "| EDA - real (paired) |",
        "|---|---|---|---|---|---|",
    ]
    for n in args.n:
        alpha, n_aug = eda.paper_setting(2 * n)
        real, boosted, rows_eda = [], [], []
        for seed in range(args.seeds):
            drawn = draws[n, seed]
            extra = [(s, label) for t, label in drawn for s in augmented[t, 2 * n]]
            real.append(accuracy(drawn))
            boosted.append(accuracy(drawn + extra))
            rows_eda.append(len(drawn) + len(extra))
        diffs = [b - r for b, r in zip(boosted, real, strict=True)]
        cells = [interval(v) for v in (real, boosted, diffs)]
        shown = [f"{100 * m:.1f} ± {100 * h:.1f}" for m, h in cells]
        shown[2] = f"{100 * cells[2][0]:+.1f} ± {100 * cells[2][1]:.1f}"
        lines.append(
            f"| {n} | {alpha} / {n_aug:g} | {2 * n} / {round(np.mean(rows_eda))} | "
            + " | ".join(shown)
            + " |"
        )
    lines += [
        "",
        "Accuracy in %, mean ± 95% t-interval half-width over seeds. "
        f"{len(texts)} distinct texts embedded in {embed_seconds:.0f} s; "
        f"wall time {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
