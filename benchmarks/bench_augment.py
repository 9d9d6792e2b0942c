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

With ``--paraphrase``, a third condition (c) adds LLM paraphrases: the distinct texts drawn
for the Ns in ``--paraphrase-n`` (all seeds) are rephrased once by the project's
``paraphrase.chataug`` step (6 samples per text, kept when ROUGE-L F1 to the source is in
[0.3, 0.9], as in the ``chataug`` recipe) on the embedded SmolLM2-135M, run as a pipeline
with the request cache (``--cache``), so a rerun replays instead of sampling again. Each kept
variant gets its source's label; the paired difference (paraphrase - real) is reported too.
One text (6 samples) takes the 135M model ~10-30 s on 2 cores, hence only N = 10 by default.

    python benchmarks/bench_augment.py [--n 10 50 200] [--seeds 10] [--test 600]
        [--paraphrase [--paraphrase-n 10] [--cache PATH] [--max-paraphrase-texts K]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression

from synthaug.hashing import derive_seed
from synthaug.io import read_records
from synthaug.llm.cache import default_cache_path
from synthaug.llm.embeddings import MiniLM
from synthaug.methods.augment import eda
from synthaug.recipe import build_pipeline, recipe_from_dict
from synthaug.records import META, record_id
from synthaug.resources import open_resources

CHATAUG = {"k": 6, "min_similarity": 0.3, "max_similarity": 0.9}  # the chataug recipe's

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


def paraphrases(texts: list[str], cache: Path) -> dict[str, list[str]]:
    """The kept ``paraphrase.chataug`` variants of each text (a pipeline run on the embedded
    model; each row's id, hence its sampling seed, derives from its text)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "texts.jsonl", Path(tmp) / "paraphrases.jsonl"
        rows = [{"text": t, META: {"id": record_id("bench_augment", t)}} for t in texts]
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        recipe = recipe_from_dict(
            {
                "name": "bench_augment_chataug",
                "backend": {"type": "local"},
                "steps": [
                    {"method": "load", "params": {"path": str(source)}},
                    {"name": "paraphrases", "method": "paraphrase.chataug", "params": CHATAUG},
                ],
            }
        )
        resources = open_resources(cache_path=cache, llm=recipe.backend)
        pipeline = build_pipeline(recipe)
        asyncio.run(
            pipeline.run(out=out, run_dir=Path(tmp) / "run", resources=resources, progress=False)
        )
        kept: dict[str, list[str]] = {t: [] for t in texts}
        for row in read_records(out):
            if row["kept"]:
                kept[row["original_text"]].append(row["text"])
    return kept


def cell(values: list[float], signed: bool = False) -> str:
    """``mean ± half-width`` in %."""
    mean, half = interval(values)
    return f"{100 * mean:{'+' if signed else ''}.1f} ± {100 * half:.1f}"


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
    parser.add_argument("--paraphrase", action="store_true", help="add the + paraphrase arm")
    parser.add_argument(
        "--paraphrase-n", type=int, nargs="+", default=[10], help="the Ns that get it"
    )
    parser.add_argument(
        "--cache", type=Path, help="request cache (default: ~/.cache/synthaug/requests.sqlite3)"
    )
    parser.add_argument(
        "--max-paraphrase-texts", type=int, help="debug: paraphrase only the first K texts"
    )
    args = parser.parse_args()
    para_ns = [n for n in args.n if n in args.paraphrase_n] if args.paraphrase else []
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
    sources = sorted({t for (n, _), d in draws.items() if n in para_ns for t, _ in d})
    sources = sources[: args.max_paraphrase_texts]
    para_started = time.perf_counter()
    paraphrased = paraphrases(sources, args.cache or default_cache_path()) if sources else {}
    para_seconds = time.perf_counter() - para_started
    texts = {t for t, _ in held_out} | {t for d in draws.values() for t, _ in d}
    texts |= {s for sentences in augmented.values() for s in sentences}
    texts |= {s for sentences in paraphrased.values() for s in sentences}
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
    ]
    header = "| N per class | EDA α / n_aug | train rows (real / +EDA) | real only | + EDA "
    header += "| EDA - real (paired) |"
    if para_ns:
        kept = sum(map(len, paraphrased.values()))
        lines.append(
            f"Paraphrase (N = {', '.join(map(str, para_ns))}): paraphrase.chataug on the "
            f"embedded SmolLM2-135M, k = {CHATAUG['k']}, ROUGE-L in "
            f"[{CHATAUG['min_similarity']}, {CHATAUG['max_similarity']}]: {kept} of "
            f"{CHATAUG['k'] * len(sources)} variants kept, {kept / len(sources):.2f} per text "
            f"({len(sources)} distinct texts)."
        )
        header = header.replace("+EDA)", "+EDA / +para)") + " + paraphrase | para - real (paired) |"
    lines += ["", header, "|---" * header.count(" | ") + "|---|"]
    for n in args.n:
        alpha, n_aug = eda.paper_setting(2 * n)
        real, boosted, para, rows_eda, rows_para = [], [], [], [], []
        for seed in range(args.seeds):
            drawn = draws[n, seed]
            extra = [(s, label) for t, label in drawn for s in augmented[t, 2 * n]]
            real.append(accuracy(drawn))
            boosted.append(accuracy(drawn + extra))
            rows_eda.append(len(drawn) + len(extra))
            if n in para_ns:
                extra = [(s, label) for t, label in drawn for s in paraphrased.get(t, [])]
                para.append(accuracy(drawn + extra))
                rows_para.append(len(drawn) + len(extra))
        diffs = [b - r for b, r in zip(boosted, real, strict=True)]
        rows = f"{2 * n} / {round(np.mean(rows_eda))}"
        shown = [cell(real), cell(boosted), cell(diffs, signed=True)]
        if para:
            rows += f" / {round(np.mean(rows_para))}"
            para_diffs = [p - r for p, r in zip(para, real, strict=True)]
            shown += [cell(para), cell(para_diffs, signed=True)]
        elif para_ns:
            rows += " / —"
            shown += ["—", "—"]
        lines.append(f"| {n} | {alpha} / {n_aug:g} | {rows} | " + " | ".join(shown) + " |")
    lines += [
        "",
        "Accuracy in %, mean ± 95% t-interval half-width over seeds. "
        f"{len(texts)} distinct texts embedded in {embed_seconds:.0f} s; "
        + (f"paraphrase phase {para_seconds:.0f} s; " if para_ns else "")
        + f"wall time {time.perf_counter() - started:.0f} s.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
