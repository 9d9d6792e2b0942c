"""``synthaug evaluate``: train the same student on several datasets, compare held-out metrics."""

from __future__ import annotations

import argparse
import json
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ..engine.progress import CountProgress
from ..errors import BackendUnavailable, InputError, SynthaugError
from ..hashing import canonical_json
from ..io import read_records
from ..io.readers import read_numbered
from ..io.writers import write_text_atomic
from ..students import ClassifierStudent
from ..students.sft import SFTConfig
from ..verify.math_answer import check_answer, stated_answer
from . import EPILOG, command
from .curation import embedder_of, embedder_options

DEFAULTS = SFTConfig()


@command
def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="train the same student on datasets A, B, ... and compare held-out metrics",
        description="Train the same student on each dataset under the same budget, over "
        "several seeds, and report its held-out metrics (mean ± std over seeds) with a paired "
        "t-test of each dataset against the first. classifier (default): sentence embeddings "
        "+ logistic regression on text/label records; accuracy and macro-F1; training rows "
        "whose text is in the test set are dropped first. sft: LoRA fine-tuning of the "
        "embedded SmolLM2-135M-Instruct (the sft extra) on `messages` records, learning the "
        "last (assistant) turn; held-out loss per learned token, perplexity and exact match "
        "(see --exact-match-limit); training rows whose prompt turns equal a test record's "
        "are dropped first; one training folder per dataset and seed under --work-dir, so a "
        "rerun resumes unfinished trainings and reuses finished ones.",
        epilog=EPILOG,
    )
    parser.add_argument("datasets", nargs="+", type=Path, metavar="DATA", help="training sets")
    parser.add_argument("--test", type=Path, required=True, help="held-out records")
    parser.add_argument("--student", choices=["classifier", "sft"], default="classifier",
                        help="the student trained on each dataset (classifier)")  # fmt: skip
    parser.add_argument("--names", help="comma-separated names (default: the file names)")
    parser.add_argument(
        "--budget", type=int, help="examples per training run (default: the smallest dataset)"
    )
    parser.add_argument(
        "--budget-tokens", type=int, metavar="N",
        help="sft: tokens per training run instead of examples: each seed takes a dataset's "
        "rows in a seeded random order until the next would pass N. A row's tokens are those "
        "the student trains on: its chat-formatted conversation (prompt turns with the chat "
        "template and default system prompt, i.e. the context, plus the learned answer), cut "
        f"at {DEFAULTS.max_length} tokens",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, at least 3 (5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-o", "--out", type=Path, help="also write the JSON report here")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    classifier = parser.add_argument_group("classifier student")
    classifier.add_argument("--text-column", default="text")
    classifier.add_argument("--label-column", default="label")
    embedder_options(classifier)
    sft = parser.add_argument_group("sft student (the same settings for every training)")
    sft.add_argument(
        "--work-dir", type=Path,
        help="training folders, kept (default: OUT with the suffix .runs when -o is given, "
        "else a temporary folder removed at the end)",
    )  # fmt: skip
    sft.add_argument("--epochs", type=float, default=DEFAULTS.epochs,
                     help=f"epochs per training ({DEFAULTS.epochs:g})")  # fmt: skip
    sft.add_argument("--max-steps", type=int, default=DEFAULTS.max_steps,
                     help="optimizer steps per training; -1: the epochs decide (-1)")  # fmt: skip
    sft.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                     help=f"peak learning rate ({DEFAULTS.learning_rate:g})")  # fmt: skip
    sft.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                     help=f"training and generation batch size ({DEFAULTS.batch_size})")  # fmt: skip
    sft.add_argument("--max-new-tokens", type=int, default=256,
                     help="exact match: longest generated answer (256)")  # fmt: skip
    sft.add_argument(
        "--exact-match-limit", type=int, default=20, metavar="N",
        help="exact match: generate for the first N test records whose reference answer (last "
        "turn) states a checkable answer (\\boxed{}, #### or 'The answer is'), and check the "
        "answer the student states (those forms or its last number) against it with synthaug's "
        "math answer checking; 0: no exact match (20)",
    )  # fmt: skip
    parser.set_defaults(handler=cmd_evaluate)


def load(path: Path, text: str, label: str) -> list[dict[str, Any]]:
    rows = [
        {"text": str(r[text]), "label": str(r[label])}
        for r in read_records(path, required=[text, label])
    ]
    if not rows:
        raise InputError(path, "no records")
    return rows


def load_conversations(path: Path) -> list[dict[str, Any]]:
    """The ``messages`` of each record of ``path``, checked (one line per bad record)."""
    from ..students.sft_compare import conversation_problem

    rows = []
    for line, record in read_numbered(path):
        if record.get("messages") is None:
            raise InputError(path, "missing required field", line=line, field="messages")
        if problem := conversation_problem(record):
            raise InputError(path, problem, line=line, field="messages")
        rows.append({"messages": record["messages"]})
    if not rows:
        raise InputError(path, "no records")
    return rows


def prompt_key(record: dict[str, Any]) -> str:
    return canonical_json(record["messages"][:-1])


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.seeds < 3:
        raise SynthaugError(f"--seeds: at least 3 seeds for a spread, got {args.seeds}")
    names = [n.strip() for n in args.names.split(",")] if args.names else []
    names = names or [p.name for p in args.datasets]
    if len(names) != len(args.datasets) or len(set(names)) != len(names):
        raise SynthaugError(f"--names: give {len(args.datasets)} distinct names")
    if args.budget_tokens is not None and args.student != "sft":
        raise SynthaugError("--budget-tokens: only with --student sft")
    if args.budget_tokens is not None and args.budget is not None:
        raise SynthaugError("--budget and --budget-tokens: give one of them")
    try:  # scipy comes with scikit-learn; loaded only when the command runs
        from ..students.compare import compare, render
    except ImportError as exc:
        raise BackendUnavailable(
            "synthaug evaluate needs the augment extra: pip install 'synthaug[augment]'"
        ) from exc
    with ExitStack() as stack:
        if args.student == "sft":
            student, datasets, test, budget, cost = sft_setup(args, names, stack)
        else:
            student, datasets, test, budget, cost = classifier_setup(args, names)
        runs = len(datasets) * args.seeds
        progress = (
            None if args.quiet else CountProgress("evaluate", runs, unit="trainings", check_every=1)
        )
        report = compare(student, datasets, test, budget, range(args.seeds), progress, cost)
        if progress:
            progress.draw(final=True)
    if args.out:
        write_text_atomic(args.out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2) if args.json else render(report, student.metrics))
    return 0


def examples_budget(args: argparse.Namespace, datasets: dict[str, list[dict[str, Any]]]) -> int:
    smallest = min(len(rows) for rows in datasets.values())
    budget = args.budget or smallest
    if not 0 < budget <= smallest:
        raise SynthaugError(f"--budget: must be 1-{smallest} (the smallest dataset), got {budget}")
    return budget


def classifier_setup(args: argparse.Namespace, names: list[str]) -> tuple[Any, ...]:
    """The classifier student, its datasets and test set, the budget (no cost per row)."""
    test = load(args.test, args.text_column, args.label_column)
    held_out = {r["text"] for r in test}
    datasets: dict[str, list[dict[str, Any]]] = {}
    for name, path in zip(names, args.datasets, strict=True):
        rows = [
            r for r in load(path, args.text_column, args.label_column) if r["text"] not in held_out
        ]
        if len({r["label"] for r in rows}) < 2:
            raise InputError(path, "needs at least two labels (after dropping test texts)")
        datasets[name] = rows
    budget = examples_budget(args, datasets)
    embedder, cache = embedder_of(args, args)
    return ClassifierStudent(embedder, cache), datasets, test, budget, None


def sft_setup(args: argparse.Namespace, names: list[str], stack: ExitStack) -> tuple[Any, ...]:
    """The SFT student, its datasets and test set, the budget and its cost per row."""
    for option in ("max_new_tokens", "batch_size", "epochs", "learning_rate"):
        if getattr(args, option) <= 0:
            raise SynthaugError(f"--{option.replace('_', '-')}: must be positive")
    if args.exact_match_limit < 0:
        raise SynthaugError("--exact-match-limit: must be 0 or more")
    test = load_conversations(args.test)
    held_out = {prompt_key(r) for r in test}
    datasets: dict[str, list[dict[str, Any]]] = {}
    for name, path in zip(names, args.datasets, strict=True):
        rows = [r for r in load_conversations(path) if prompt_key(r) not in held_out]
        if not rows:
            raise InputError(path, "no records left after dropping the test prompts")
        datasets[name] = rows
    budget = None if args.budget_tokens is not None else examples_budget(args, datasets)
    from ..students.sft import LoraSFTStudent
    from ..students.sft_compare import ExactMatch, SFTComparison

    config = SFTConfig(epochs=args.epochs, max_steps=args.max_steps,
                       learning_rate=args.learning_rate, batch_size=args.batch_size)  # fmt: skip
    exact = ExactMatch(
        reference=lambda text: stated_answer(text, last_number=False)[0],
        matches=lambda text, answer: bool(check_answer(text, answer)["match"]),
        max_new_tokens=args.max_new_tokens,
        limit=args.exact_match_limit,
    )
    work_dir = args.work_dir or (args.out.with_suffix(".runs") if args.out else None)
    if work_dir is None:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="synthaug-eval-")))
    import transformers  # present: LoraSFTStudent loaded it

    transformers.utils.logging.disable_progress_bar()  # evaluate shows its own progress
    unit = "examples" if budget else "tokens"
    student = SFTComparison(LoraSFTStudent(config=config), work_dir, exact, unit)
    if budget:
        return student, datasets, test, budget, None
    return (
        student,
        datasets,
        test,
        token_budget(args.budget_tokens, datasets, student.tokens),
        student.tokens,
    )


def token_budget(budget: int, datasets: dict[str, list[dict[str, Any]]], tokens: Any) -> int:
    """``budget``, checked: every draw holds a row, no dataset runs out of rows."""
    sizes = {name: [tokens(r) for r in rows] for name, rows in datasets.items()}
    longest = max(max(counts) for counts in sizes.values())
    smallest = min(sum(counts) for counts in sizes.values())
    if not longest <= budget <= smallest:
        raise SynthaugError(
            f"--budget-tokens: must be {longest}-{smallest} (the longest row; the tokens of "
            f"the smallest dataset), got {budget}"
        )
    return budget
