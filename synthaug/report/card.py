"""A Hugging Face dataset card (``README.md``: YAML metadata + Markdown) for a data file.

The facts come from :func:`synthaug.report.profile.profile` (rows, columns, errors,
verification, text statistics, the run's ``.summary.json``) and, for a curated file, from
the summary of the file it was curated from. Methods, papers and taxonomy come from the
method registry; seed data from the steps' ``seed_data`` and ``synthaug/data/LICENSES.md``;
the command and recipe from the summary's ``reproduce`` entry. What is not recorded is
written as unknown, never guessed.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, ValidationError

from ..errors import InputError, RecipeError, SynthaugError
from ..methods.registry import get_method
from .licences import UNKNOWN, licence_of
from .profile import Profile, diversity, profile, text_columns, verification_rates

MARKER = "<!-- dataset card written by synthaug card -->"
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (10**9, "100M<n<1B"),
         (10**10, "1B<n<10B"), (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))  # fmt: skip
SAMPLING = ("temperature", "top_p", "top_k", "min_p", "max_tokens", "presence_penalty",
            "frequency_penalty", "repetition_penalty", "n", "num_samples", "stop", "mode")  # fmt: skip
TINY_MODELS = {
    "SmolLM2-135M": "The data was written by SmolLM2-135M-Instruct (4-bit), the 135M-parameter "
    "model embedded in synthaug for trying recipes on a laptop. Its text is fluent but often "
    "shallow, repetitive or wrong; treat this set as a demonstration of the pipeline, not as "
    "training data, and regenerate it with a stronger model (`--backend openai --model ...`).",
}
LANGUAGE_SAMPLE = 200  # texts given to the language identifier


@dataclass(frozen=True)
class CardOptions:
    """What the caller decides: licence, name, language and task overrides."""

    license: str = UNKNOWN
    pretty_name: str | None = None
    language: tuple[str, ...] = ()
    task_categories: tuple[str, ...] = ()
    split: str = "train"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\w+(\.\w+)*", self.split):
            raise SynthaugError(f"--split {self.split}: letters, digits and _ only (e.g. train)")


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket for ``rows`` examples."""
    return next((name for bound, name in SIZES if rows < bound), "n>1T")


def render_card(found: Profile, data_path: str, options: CardOptions) -> str:
    """The card for ``found``, whose data lies at ``data_path`` relative to the card."""
    summary = found.summary or {}
    upstream = _upstream(found, summary)
    run = summary if "steps" in summary else (upstream.summary if upstream else None) or {}
    curation = summary if "operation" in summary else None
    steps = _steps(run)
    texts = text_columns(found)
    facts = {
        "name": options.pretty_name or _pretty(run.get("recipe") or found.path.stem),
        "description": (run.get("reproduce") or {}).get("recipe", {}).get("description", ""),
        "rows": found.rows,
        "split": options.split,
        "data_path": data_path,
        "columns": sorted(found.present),
        "run": run,
        "upstream": upstream.path.name if upstream else None,
        "steps": steps,
        "seeds": _seeds(steps),
        "curation": curation,
        "contamination": _contamination(found, curation, steps),
        "dedup": _dedup(curation, steps),
        "verification": verification_rates(found),
        "errors": found.errors.most_common(),
        "texts": [_text_stats(found, name) for name in texts],
        "sampled": found.sampled,
        "sample_size": len(found.sample),
        "reproduce": run.get("reproduce"),
    }
    facts["limitations"] = _limitations(facts)
    metadata = _metadata(found, facts, options, texts)
    header = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    body = _template().render(**facts, metadata=metadata, marker=MARKER)
    return f"---\n{header}---\n\n{body.strip()}\n"


def check_card_target(out: Path, force: bool = False) -> None:
    """Refuse to replace a card that ``synthaug card`` did not write (unless ``force``)."""
    if out.is_file() and not force:
        try:
            ours = MARKER in out.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise InputError(out, f"cannot read file ({error.strerror})") from None
        if not ours:
            raise SynthaugError(f"{out}: exists and was not written by synthaug card; "
                                "give another -o or --force")  # fmt: skip


def _metadata(
    found: Profile, facts: dict[str, Any], options: CardOptions, texts: list[str]
) -> dict[str, Any]:
    made = bool(facts["steps"])
    tags = ["synthetic", "synthaug"] if made else ["synthaug"]
    tags += sorted({step["method"].split(".")[0].replace("_", "-") for step in facts["steps"]})
    if {"chosen", "rejected"} <= found.present.keys():
        tags.append("preference")
    metadata: dict[str, Any] = {
        "license": options.license,
        "language": list(options.language) or _languages(found, texts),
        "task_categories": list(options.task_categories) or _task_categories(found),
        "size_categories": [size_category(found.rows)],
        "pretty_name": facts["name"],
        "tags": list(dict.fromkeys(tags)),
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": options.split, "path": facts["data_path"]}],
            }
        ],
    }
    if made:
        metadata["annotations_creators"] = ["machine-generated"]
        metadata["language_creators"] = ["machine-generated"]
        metadata["source_datasets"] = ["original"]
    return {key: value for key, value in metadata.items() if value}


def _task_categories(found: Profile) -> list[str]:
    columns = found.present.keys()
    if "label" in columns and not {"chosen", "rejected"} & columns:
        return ["text-classification"]
    return ["text-generation"]


def _languages(found: Profile, texts: list[str]) -> list[str]:
    """The most common language of the sampled text columns (py3langid), if any text."""
    values = [
        r[c] for r in found.sample[:LANGUAGE_SAMPLE] for c in texts if isinstance(r.get(c), str)
    ]
    if not values:
        return []
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    votes = Counter(identifier.classify(text)[0] for text in values)
    return [votes.most_common(1)[0][0]]


def _upstream(found: Profile, summary: dict[str, Any]) -> Profile | None:
    """For a curated file: the profile of the file it was curated from, when it is there."""
    source = summary.get("input")
    if "operation" not in summary or not isinstance(source, str):
        return None
    for candidate in (Path(source), found.path.parent / Path(source).name):
        if candidate.is_file() and candidate.resolve() != found.path.resolve():
            return profile(candidate, sample_size=1)
    return None


def _steps(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each step of the run with its counts, method card and effective parameters."""
    configs = (run.get("reproduce") or {}).get("recipe", {}).get("steps") or []
    steps = []
    for index, step in enumerate(run.get("steps") or []):
        config = configs[index] if index < len(configs) else {}
        entry = {**step, "given": config.get("params") or {}, "params": {}, "seed_data": {}}
        try:
            info = get_method(step["method"])
        except RecipeError:
            entry.update(paper=UNKNOWN, taxonomy=UNKNOWN, stage=UNKNOWN, summary="")
        else:
            entry.update(
                paper=info.paper, taxonomy=info.taxonomy, stage=info.stage, summary=info.summary
            )
            if index < len(configs):  # parameters and seed data are known only from the recipe
                entry["params"] = _effective(info.step.Params, entry["given"])
                entry["seed_data"] = info.step.seed_files(entry["params"])
        entry["sampling"] = {k: entry["params"][k] for k in SAMPLING if k in entry["params"]}
        steps.append(entry)
    return steps


def _effective(params: type[BaseModel], given: dict[str, Any]) -> dict[str, Any]:
    """The step's parameters with defaults filled in (as given when they no longer validate)."""
    try:
        return params.model_validate(given).model_dump(mode="json")
    except ValidationError:
        return dict(given)


def _seeds(steps: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Seed data of every step: packaged files with their licence, or the user's files."""
    seeds: dict[str, dict[str, str]] = {}
    for step in steps:
        for param, packaged in step["seed_data"].items():
            given = step["given"].get(param)
            if given is None:
                found = licence_of(packaged)
                seeds[packaged] = {
                    "file": f"synthaug/data/{packaged}",
                    "what": found.what,
                    "source": found.source,
                    "licence": found.licence,
                }
            else:
                seeds[str(given)] = {
                    "file": str(given),
                    "what": f"given as {step['name']}.{param}",
                    "source": "the user's file",
                    "licence": UNKNOWN,
                }
    return list(seeds.values())


def _contamination(
    found: Profile, curation: dict[str, Any] | None, steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each decontamination pass: rows removed (or flagged), benchmarks checked and matched."""
    passes = []
    for step in steps:
        if step["method"] == "decontaminate":
            flagged = sum(1 for r in found.sample if r.get("contaminated") is True)
            passes.append(
                {
                    "where": f"step {step['name']} of the run",
                    "removed": step["rows_in"] - step["rows_out"],
                    "flagged": flagged if step["params"].get("action") == "flag" else None,
                    "checked": step["params"].get("benchmarks"),
                    "mode": step["params"].get("mode"),
                    "matched": _benchmark_hits(r.get("contamination") for r in found.sample),
                }
            )
    if curation and curation["operation"] == "decontaminate":
        report = Path(curation.get("outputs", {}).get("report", ""))
        if not report.is_file():
            report = found.path.with_name(f"{found.path.stem}.report.jsonl")
        passes.append(
            {
                "where": "synthaug decontaminate",
                "removed": curation["rows_in"] - curation["rows_out"],
                "flagged": None,
                "checked": curation.get("settings", {}).get("benchmarks"),
                "mode": curation.get("settings", {}).get("mode"),
                "matched": _benchmark_hits(_report_matches(report)),
            }
        )
    return passes


def _report_matches(report: Path) -> list[Any]:
    if not report.is_file():
        return []
    with open(report, encoding="utf-8") as handle:
        return [json.loads(line).get("matches") for line in handle if line.strip()]


def _benchmark_hits(matches: Any) -> dict[str, int]:
    """Rows matched per benchmark, from lists of hits (``benchmark``, ``contaminated``)."""
    hits: Counter[str] = Counter()
    for found in matches:
        if isinstance(found, list):
            hits.update(
                {m["benchmark"] for m in found if isinstance(m, dict) and m.get("contaminated")}
            )
    return dict(hits.most_common())


def _dedup(curation: dict[str, Any] | None, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows each deduplication pass removed."""
    passes = [
        {"where": f"step {s['name']} ({s['method']})", "rows_in": s["rows_in"], "removed": s["rows_in"] - s["rows_out"]}
        for s in steps
        if s["method"].startswith("dedup")
    ]  # fmt: skip
    if curation and curation["operation"] in ("dedup", "prune"):
        removed = curation["rows_in"] - curation["rows_out"]
        where = f"synthaug {curation['operation']}"
        passes.append({"where": where, "rows_in": curation["rows_in"], "removed": removed})
    return passes


def _text_stats(found: Profile, name: str) -> dict[str, Any]:
    texts = [r[name] for r in found.sample if isinstance(r.get(name), str)]
    return {
        "name": name,
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 1),
        **diversity(texts),
    }


def _limitations(facts: dict[str, Any]) -> list[str]:
    notes = []
    backend = str(facts["run"].get("backend") or "")
    notes += [text for model, text in TINY_MODELS.items() if model in backend]
    if failed := facts["run"].get("error_records"):
        notes.append(
            f"{failed} rows failed during the run (model errors or unparseable output) and are "
            "not in this file; they are kept in the run's .errors.jsonl."
        )
    notes += [
        f"Verification ({v['kind']}) passed for {v['ok']} of {v['ok'] + v['failed']} rows; "
        "failing rows are still in the file, marked in their verification column."
        for v in facts["verification"]
        if v["failed"]
    ]
    if any(seed["licence"] == UNKNOWN for seed in facts["seeds"]):
        notes.append("The licence of some seed data is unknown; check it before redistributing.")
    if facts["steps"]:
        notes.append(
            "Machine-generated text has not been reviewed by people: it can contain factual "
            "errors, bias and text close to the model's training data."
        )
    if facts["sampled"]:
        notes.append(f"Text statistics come from a seeded sample of {facts['sample_size']} rows.")
    return notes


def _pretty(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def relative_path(target: Path, card: Path) -> str:
    """``target`` relative to the folder of ``card``, with forward slashes."""
    return Path(os.path.relpath(target.resolve(), card.resolve().parent)).as_posix()


def _template():
    env = Environment(
        loader=PackageLoader("synthaug.report", "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml"] = lambda value: yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    env.filters["codes"] = lambda names: ", ".join(f"`{name}`" for name in names)
    return env.get_template("card.md.j2")
