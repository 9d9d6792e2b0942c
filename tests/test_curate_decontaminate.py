"""Decontamination against the bundled benchmarks, on real text: n-grams, substrings, fuzzy
alignment and semantic (real MiniLM, the embedded model as judge)."""

from __future__ import annotations

import asyncio
import json
import random
import re

import pytest
from curation_corpus import edit, humaneval_items, mt_bench_texts, seed_texts

from synthaug.curate.benchmarks import humaneval_docstring
from synthaug.curate.decontaminate import Decontaminator, SubstringDecontaminator, load_benchmark
from synthaug.curate.fuzzy import FuzzyDecontaminator
from synthaug.curate.llm_decontaminator import SemanticDecontaminator, parse_verdict
from synthaug.curate.text import words
from synthaug.errors import InputError
from synthaug.llm.client import LLMClient

LIGHT_EDITS = ("case_punct", "insert_word", "delete_word")


def _planted(seed: int = 0):
    rng = random.Random(seed)
    benchmark_texts = mt_bench_texts() + [
        i["prompt"] + i["canonical_solution"] for i in humaneval_items()
    ]
    chosen = rng.sample(benchmark_texts, 120)
    verbatim = [f"Question from a user: {text}\nThanks!" for text in chosen[:60]]
    edited = []
    for text in chosen[60:]:
        kind = rng.choice((*LIGHT_EDITS, "one_word"))
        if kind == "one_word":
            words = text.split()
            words[rng.randrange(len(words))] = "banana"
            edited.append(" ".join(words))
        else:
            edited.append(edit(text, kind, rng))
    return verbatim, edited


@pytest.fixture(scope="module")
def index() -> Decontaminator:
    return Decontaminator(load_benchmark("humaneval") + load_benchmark("mt_bench"))


def test_13gram_overlap_finds_planted_items_and_nothing_in_clean_text(index):
    verbatim, edited = _planted()
    clean = seed_texts()
    results = index.check(verbatim + edited + clean)
    found_verbatim = sum(bool(r) for r in results[: len(verbatim)])
    found_edited = sum(bool(r) for r in results[len(verbatim) : len(verbatim) + len(edited)])
    false_hits = [clean[i] for i, r in enumerate(results[len(verbatim) + len(edited) :]) if r]
    assert found_verbatim == len(verbatim)
    assert found_edited >= 0.9 * len(edited), found_edited
    assert false_hits == []


def test_hits_name_benchmark_item_and_ngram(index):
    item = load_benchmark("mt_bench")[5]
    [hits] = index.check(["Prefix words. " + item.text.upper()])
    assert [(h.benchmark, h.item_id) for h in hits] == [("mt_bench", item.item_id)]
    assert len(hits[0].evidence.split()) == 13 and hits[0].evidence in " ".join(words(item.text))
    assert hits[0].similarity == 1.0


def test_coverage_mode_uses_the_share_of_item_8grams():
    item = load_benchmark("mt_bench")[10]
    index = Decontaminator([item], mode="coverage", threshold=0.7)
    words = item.text.split()
    assert index.check([item.text])[0][0].similarity == 1.0
    assert index.check([" ".join(words[: len(words) // 3])]) == [[]]


def test_user_benchmark_file_with_fields_and_ids(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text(
        '{"qid": "q1", "question": "What is the boiling point of water at sea level in degrees '
        'Celsius and why does it change with altitude above the sea?"}\n'
    )
    items = load_benchmark(str(path), ["question"], "qid")
    assert [(i.benchmark, i.item_id) for i in items] == [("bench", "q1")]
    hits = Decontaminator(items).check(
        ["so: what is the boiling point of water at sea level in degrees celsius and why"]
    )
    assert hits[0][0].item_id == "q1"


def test_unknown_benchmark_and_missing_fields_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown benchmark"):
        load_benchmark("no_such_bench")
    path = tmp_path / "bench.jsonl"
    path.write_text('{"q": "x"}\n')
    with pytest.raises(InputError, match="text field"):
        load_benchmark(str(path))
    with pytest.raises(InputError, match="field 'question'"):
        load_benchmark(str(path), ["question"])


# -- substring, fuzzy and semantic modes --------------------------------------------------

DUCKS_PARAPHRASE = (
    "Every day Janet's ducks produce 16 eggs. Janet eats 3 of them each morning and uses 4 to "
    "bake muffins for her friends. She sells the rest at the farmers' market for $2 an egg. "
    "How many dollars does she earn daily at the market?"
)


def _typos(text: str, rng: random.Random, every: int = 4) -> str:
    """A letter dropped from one in ``every`` words of four or more letters."""
    parts, eligible = re.split(r"(\s+)", text), 0
    for i, word in enumerate(parts):
        if len(word) >= 4 and word.isalpha():
            if eligible % every == every // 2:
                cut = rng.randrange(1, len(word) - 1)
                parts[i] = word[:cut] + word[cut + 1 :]
            eligible += 1
    return "".join(parts)


def _substitute(text: str, rng: random.Random, share: float) -> str:
    tokens = text.split(" ")
    for i in rng.sample(range(len(tokens)), round(share * len(tokens))):
        tokens[i] = rng.choice(["zebra", "quantum", "violet", "harbour", "pencil"])
    return " ".join(tokens)


def _reorder(text: str) -> str:
    sentences = [s for s in text.replace("\n", " ").split(". ") if s]
    return ". ".join(sentences[1:] + sentences[:1])


@pytest.fixture(scope="module")
def fuzzy_items():
    return load_benchmark("gsm8k")[:300] + load_benchmark("mt_bench") + load_benchmark("mmlu")[:300]


def test_fuzzy_finds_edited_items_that_13grams_miss_and_nothing_in_clean_text(fuzzy_items):
    rng = random.Random(0)
    chosen = [i for i in rng.sample(fuzzy_items, 60) if len(i.text.split()) >= 20][:40]
    planted = []
    for item in chosen:
        planted += [
            ("typos", _typos(item.text, rng)),
            ("case+punct", edit(item.text, "case_punct", rng)),
            ("substitution", _substitute(item.text, rng, 0.15)),
            ("embedded", f"{rng.choice(seed_texts())}\n\n{_typos(item.text, rng)}\n\nThanks!"),
        ]
        if item.text.count(". ") >= 2:
            planted.append(("reordered", _reorder(item.text)))
    fuzzy = FuzzyDecontaminator(fuzzy_items)
    found = fuzzy.check([text for _, text in planted])
    expected = [item for item in chosen for _ in range(4 + (item.text.count(". ") >= 2))]
    recall = {}
    for (kind, _), hits, item in zip(planted, found, expected, strict=True):
        recall.setdefault(kind, []).append(any(h.item_id == item.item_id for h in hits))
    assert all(sum(v) >= 0.95 * len(v) for v in recall.values()), {
        k: f"{sum(v)}/{len(v)}" for k, v in recall.items()
    }
    assert len(recall["reordered"]) >= 5
    # a typo'd copy seldom keeps a 13-gram of its item: n-gram overlap misses most of them
    typos = [text for kind, text in planted if kind == "typos"]
    overlap = Decontaminator(fuzzy_items).check(typos)
    kept = sum(
        any(h.item_id == i.item_id for h in hits) for hits, i in zip(overlap, chosen, strict=True)
    )
    assert kept <= len(typos) // 3, kept
    clean = seed_texts()
    assert fuzzy.check(clean) == [[] for _ in clean]


def test_fuzzy_hit_names_detector_item_similarity_and_the_rows_window(fuzzy_items):
    item = fuzzy_items[3]
    row = "Some words first.\n" + _typos(item.text, random.Random(1)) + "\nAnd after."
    [hits] = FuzzyDecontaminator(fuzzy_items).check([row])
    hit = hits[0]
    assert (hit.detector, hit.benchmark, hit.item_id) == ("fuzzy", "gsm8k", item.item_id)
    assert 0.7 <= hit.similarity < 1.0 and hit.contaminated
    assert hit.evidence in " ".join(words(row)) and len(hit.evidence.split()) >= 0.8 * len(
        words(item.text)
    )
    # a row holding only half of the item is not that item
    half = " ".join(item.text.split()[: len(item.text.split()) // 2])
    assert FuzzyDecontaminator([item]).check([half]) == [[]]


def test_substring_rule_uses_the_authors_strings():
    humaneval, mbpp, gsm8k = (load_benchmark(b) for b in ("humaneval", "mbpp", "gsm8k"))
    index = SubstringDecontaminator(humaneval + mbpp + gsm8k)
    docstring = humaneval_docstring(humaneval[2].text)
    assert docstring.startswith("Given a positive floating point number")
    rows = [
        "Q: " + docstring.upper(),  # case-insensitive
        "```python\n" + mbpp[0].targets[1] + "\n```",  # an MBPP solution
        gsm8k[10].text,
        "def add(x, y):\n    return x + y\n",  # HumanEval/53's solution, generic: allowed
        "Nothing to see here.",
    ]
    found = index.check(rows)
    assert [(h.benchmark, h.item_id) for h in found[0]] == [("humaneval", "HumanEval/2")]
    assert [(h.benchmark, h.item_id) for h in found[1]] == [("mbpp", mbpp[0].item_id)]
    assert [(h.detector, h.benchmark) for h in found[2]] == [("substring", "gsm8k")]
    assert found[3] == [] and found[4] == []


@pytest.fixture(scope="module")
def minilm():
    from synthaug.llm.embeddings import MiniLM

    return MiniLM()


def test_semantic_judges_the_nearest_items_and_reports_every_verdict(minilm, local_backend):
    items = load_benchmark("gsm8k")[:200] + load_benchmark("mt_bench")
    detector = SemanticDecontaminator(items, minilm, top_k=2, min_similarity=0.5)
    rows = [DUCKS_PARAPHRASE, "shadow government getting too large to meet in marriott room b"]
    nearest = detector.nearest(rows)
    assert [items[c.item].item_id for c in nearest[0]][:1] == ["0"]  # the ducks problem
    assert nearest[0][0].similarity >= 0.7 and nearest[0][0].excerpt == DUCKS_PARAPHRASE
    assert nearest[1] == []  # nothing near enough: not judged
    client = LLMClient(local_backend, None)
    found = asyncio.run(detector.check(client, rows))
    assert len(found[0]) == len(nearest[0]) and found[1] == []
    for hit, candidate in zip(found[0], nearest[0], strict=True):
        verdict = parse_verdict(hit.evidence.removeprefix("judge: "))
        assert verdict is not None and hit.contaminated == verdict
        assert (hit.detector, hit.similarity) == ("semantic", candidate.similarity)
    # without a judge the cosine decides
    [[unjudged]] = [detector.unjudged(nearest[0][:1])]
    assert unjudged.contaminated and unjudged.item_id == "0"


def test_semantic_windows_find_an_item_inside_a_long_row(minilm):
    items = load_benchmark("gsm8k")[:200]
    detector = SemanticDecontaminator(items, minilm, window=64)
    filler = " ".join(seed_texts()[:12])
    row = f"{filler} {DUCKS_PARAPHRASE} {filler}"
    assert len(row.split()) > 4 * 64
    [[candidate]] = detector.nearest([row])
    assert items[candidate.item].item_id == "0" and "Janet" in candidate.excerpt
    assert len(candidate.excerpt.split()) <= 3 * 64 < len(row.split())


def test_step_flags_every_hit_with_its_detector_and_the_judges_verdicts(local_backend, tmp_path):
    from synthaug.engine.resources import RunResources
    from synthaug.engine.step import StepContext
    from synthaug.methods.curation.filters import Decontaminate

    gsm8k = load_benchmark("gsm8k")
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps({"q": i.text, "qid": i.item_id}) + "\n" for i in gsm8k[:50]))
    step = Decontaminate(
        columns=["text"], benchmarks=[str(path)], benchmark_fields=["q"], benchmark_id="qid",
        benchmark_kind="math", mode="all", action="flag",
    )  # fmt: skip
    assert step.uses_llm and step.backend_names() == {}
    assert step.output_columns({"text"}) == {"text", "contaminated", "contamination"}
    assert not Decontaminate(columns=["text"], mode="semantic", judge=False).uses_llm
    ctx = StepContext(LLMClient(local_backend, None), 0, "decontaminate", resources=RunResources())
    rows = [
        {"text": _typos(gsm8k[0].text, random.Random(2)), "_meta": {"id": "typos"}},
        {"text": DUCKS_PARAPHRASE, "_meta": {"id": "paraphrase"}},
        {"text": "inclement weather prevents liar from getting to work", "_meta": {"id": "clean"}},
    ]
    out = [asyncio.run(step.process(row, ctx))[0] for row in rows]
    by_detector = [{h["detector"]: h for h in row["contamination"]} for row in out]
    assert out[0]["contaminated"] and by_detector[0]["fuzzy"]["item_id"] == "0"
    semantic = by_detector[1]["semantic"]
    assert semantic["item_id"] == "0" and semantic["similarity"] >= 0.7
    assert out[1]["contaminated"] == semantic["contaminated"]
    assert semantic["evidence"] == f"judge: {semantic['contaminated']}"
    assert out[2]["contaminated"] is False and out[2]["contamination"] == []
