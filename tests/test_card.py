"""``synthaug card`` and ``synthaug export --format hf`` on a real Self-Instruct run.

One small run of the embedded model (4 instructions) through the CLI; its card must parse as
a Hugging Face dataset card and pass the offline checks of ``huggingface_hub`` and
``datasets`` (metadata round trip, ``configs`` data files, the Hub's size, language and
creator vocabularies), state what the run's summary and recipe hold, and the exported folder
must load with ``datasets.load_dataset``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest
import yaml
from conftest import copy_run, read_jsonl, run_cli, summary_of
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from synthaug.methods.registry import get_method
from synthaug.report.card import size_category

VOCABULARY = Path(datasets.__file__).parent / "utils" / "resources"


@pytest.fixture(scope="module")
def run_output(self_instruct_run, tmp_path_factory):
    return copy_run(self_instruct_run, tmp_path_factory.mktemp("card"))


def vocabulary(name: str) -> set[str]:
    values = json.loads((VOCABULARY / f"{name}.json").read_text())
    return set(values) if isinstance(values, list) else set(values.keys())


def checked_card(path: Path) -> DatasetCard:
    """The card at ``path``, after the offline checks the Hub's libraries offer."""
    text = path.read_text(encoding="utf-8")
    card = DatasetCard(text)  # raises on a YAML block that is not a mapping
    header = yaml.safe_load(text.split("---\n")[1])
    assert card.data.to_dict() == header
    again = DatasetCardData(**card.data.to_dict())  # the metadata round trip
    assert again.to_dict() == header
    configs = MetadataConfigs.from_dataset_card_data(card.data)  # checks data_files
    assert list(configs) == ["default"]
    assert set(card.data.size_categories) <= vocabulary("size_categories")
    assert set(card.data.language or []) <= vocabulary("languages")
    creators = json.loads((VOCABULARY / "creators.json").read_text())
    assert set(card.data.annotations_creators or []) <= set(creators["annotations"])
    assert set(card.data.language_creators or []) <= set(creators["language"])
    assert card.data.license and card.data.task_categories and card.data.pretty_name
    return card


def fenced(text: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} block in the card"
    return match.group(1)


def test_card_of_a_run_states_its_methods_seeds_and_reproduce_command(run_output):
    rows = len(read_jsonl(run_output))
    summary = summary_of(run_output)
    done = run_cli("card", str(run_output), "--license", "apache-2.0", cwd=run_output.parent)
    assert done.returncode == 0, done.stderr
    readme = run_output.parent / "README.md"
    card = checked_card(readme)
    text = readme.read_text(encoding="utf-8")

    assert card.data.size_categories == [size_category(rows)]
    assert f"**{rows} rows**" in text
    assert card.data.license == "apache-2.0" and card.data.language == ["en"]
    assert card.data.configs == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data.jsonl"}]}
    ]
    assert {"synthetic", "self-instruct"} <= set(card.data.tags)
    for step in summary["steps"]:
        info = get_method(step["method"])
        row = f"| {step['name']} | `{step['method']}` | {step['rows_in']} | {step['rows_out']} |"
        assert row in text and info.paper in text and info.taxonomy in text
    dedup = summary["steps"][-1]
    removed = dedup["rows_in"] - dedup["rows_out"]
    assert f"{removed} of {dedup['rows_in']} rows removed as duplicates" in text
    # the seed tasks' licence from synthaug/data/LICENSES.md; the embedded model's caveat
    assert "`synthaug/data/self_instruct_seed_tasks.jsonl`" in text and "Apache-2.0" in text
    assert "SmolLM2-135M-Instruct" in text and "temperature=0.7" in text
    assert "max_tokens=160" in text  # the override, not the default of 1024
    assert "No decontamination is recorded" in text and "No row carries a verification" in text
    # the exact command and the recipe as it ran
    command = summary["reproduce"]["command"]
    assert command.startswith("synthaug run self_instruct") and "max_tokens=160" in command
    assert fenced(text, "bash").strip() == command
    assert yaml.safe_load(fenced(text, "yaml")) == summary["reproduce"]["recipe"]


def test_card_of_decontaminated_data_counts_removed_rows_and_benchmarks(run_output, tmp_path):
    gsm8k = Path(__file__).resolve().parents[1] / "synthaug" / "data" / "benchmarks" / "gsm8k.jsonl"
    problem = json.loads(gsm8k.read_text(encoding="utf-8").splitlines()[0])["question"]
    mixed = tmp_path / "mixed.jsonl"
    rows = read_jsonl(run_output)
    rows.append({"instruction": problem, "output": "18"})
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    clean = tmp_path / "clean.jsonl"
    args = ["--columns", "instruction", "--mode", "overlap", "--benchmarks", "gsm8k,mbpp"]
    done = run_cli("decontaminate", str(mixed), "-o", str(clean), *args, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("card", str(clean), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    checked_card(tmp_path / "README.md")
    assert "synthaug decontaminate (overlap): 1 rows removed" in text
    assert "matched: gsm8k (1 rows)" in text and "gsm8k (1319)" in text

    # decontaminating the run's own output: the card follows it back to the run
    curated = tmp_path / "run_clean.jsonl"
    done = run_cli("decontaminate", str(run_output), "-o", str(curated), *args, "--quiet",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run_cli("card", str(curated), "-o", str(tmp_path / "run_clean.md"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "run_clean.md").read_text(encoding="utf-8")
    assert f"then curated from `{run_output.name}`" in text
    assert "`self_instruct.bootstrap`" in text and "matched: none" in text


def test_export_hf_loads_with_datasets(run_output, tmp_path):
    folder = tmp_path / "hf"
    done = run_cli("export", str(run_output), "--format", "hf", "-o", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = read_jsonl(run_output)
    # a cache of its own: datasets keys a local folder's cache by its name, not its files
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"]
    train = loaded["train"]
    expected = ["source_id", *[k for k in records[0] if k != "_meta"]]
    assert train.num_rows == len(records) and train.column_names == expected
    assert train["source_id"] == [r["_meta"]["id"] for r in records]
    assert train["instruction"] == [r["instruction"] for r in records]
    assert train["completion"] == [r["completion"] for r in records]
    card = checked_card(folder / "README.md")
    assert card.data.configs[0]["data_files"] == [
        {"split": "train", "path": "data/train-*.parquet"}
    ]
    assert card.data.size_categories == [size_category(len(records))]


def test_card_of_a_plain_file_says_what_is_not_recorded(tmp_path):
    data = tmp_path / "labels.jsonl"
    rows = [
        {"text": f"headline number {i} about the weather today", "label": i % 2} for i in range(5)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    done = run_cli("card", str(data), "-o", str(tmp_path / "card.md"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    card = checked_card(tmp_path / "card.md")
    text = (tmp_path / "card.md").read_text(encoding="utf-8")
    assert card.data.task_categories == ["text-classification"]
    assert card.data.pretty_name == "Labels" and card.data.license == "unknown"
    assert card.data.annotations_creators is None and "synthetic" not in card.data.tags
    assert "no synthaug run summary lies beside it" in text and "How it was made" not in text
    assert "**5 rows**" in text and "`label`, `text`" in text


def test_size_categories_follow_the_hub_buckets():
    buckets = json.loads((VOCABULARY / "size_categories.json").read_text())
    buckets.remove("unknown")
    edges = [0, 1_000, 10_000, 100_000, 1_000_000]
    for index, low in enumerate(edges):
        assert size_category(low) == buckets[index]
        assert size_category(low * 10 - 1 if low else 999) == buckets[index]


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path):
    missing = run_cli("card", str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    bad = run_cli("card", str(broken), cwd=tmp_path)
    assert bad.returncode == 2 and "broken.jsonl:2" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    exported = run_cli("export", str(broken), "--format", "hf", "-o", "hf", cwd=tmp_path)
    assert exported.returncode == 2 and "broken.jsonl:2" in exported.stderr
    assert not (tmp_path / "README.md").exists() and not (tmp_path / "hf").exists()

    split = run_cli("card", str(tmp_path / "ok.jsonl"), "--split", "my-split", cwd=tmp_path)
    assert split.returncode == 2 and "--split my-split" in split.stderr

    # a README.md that synthaug did not write is kept
    data = tmp_path / "ok.jsonl"
    data.write_text('{"text": "fine"}\n', encoding="utf-8")
    (tmp_path / "README.md").write_text("# my project\n", encoding="utf-8")
    refused = run_cli("card", str(data), cwd=tmp_path)
    assert refused.returncode == 2 and "not written by synthaug card" in refused.stderr
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "# my project\n"


def test_card_names_the_packaged_file_the_step_read(tmp_path):
    """kg.triples reads one of two packaged files by its ``shipped`` param; the card says which."""
    recipe = {"name": "clinical_facts", "steps": [{"method": "kg.triples",
                                                   "params": {"shipped": "clinical"}}]}  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    done = run_cli("run", "recipe.yaml", "--out", "data.jsonl", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("card", "data.jsonl", "-o", "card.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "card.md").read_text(encoding="utf-8")
    assert "clinical_triples.jsonl" in text and "kg_triples_sample.jsonl" not in text
