"""LLM reformation steps without a model: the labelled source, similarity filters, BM25,
DISCO spans and fills, GPT3Mix soft labels, variants parsing; on recorded real replies of
the embedded SmolLM2-135M."""

from __future__ import annotations

import asyncio
import math

import pytest

from synthaug.engine.step import RowError, StepContext
from synthaug.llm.types import Choice, Completion, TokenLogprob
from synthaug.methods.augment.core import Retrieve
from synthaug.methods.augment.core_bm25 import BM25
from synthaug.methods.augment.disco import (
    Counterfactuals,
    filled,
    masked,
    parse_label,
    spans,
)
from synthaug.methods.augment.gpt3mix import Examples, Mix, soft_label, vote_share
from synthaug.methods.augment.labelled import (
    Labelled,
    LabelParams,
    SimilarityParams,
    first_line,
    interleaved,
    label_of,
    rejection,
    similarities,
    text_of,
)
from synthaug.methods.augment.paraphrase import ChatAug
from synthaug.methods.augment.translate import RoundTrip, translation_request
from synthaug.methods.augment.variants import parse_variants, variants_schema
from synthaug.records import META, error_of

CTX = StepContext(llm=None, run_seed=0, step_name="test")
SOURCE = "inclement weather prevents liar from getting to work"
# Real paraphrase.chataug samples (temperature 1.0) for SOURCE and another headline.
REAL_PARAPHRASES = [
    "Reportedly inclement weather prevents a liar from getting to work",
    "Polite but Insensitive and Exemplary, Misunderstood, Insincere, Insulting, Insulting.",
    "News headline: inclement weather prevents liars from getting to work",
]
REAL_NEWLINE = (
    "Meet sparkle, the next style-inspired 2-year-old!\n\nRephrased News headline: Meet "
    "sparkle, the next style-inspired 2-year-old!"
)
# Real disco fills for "inclement weather prevents liar from [blank] to work", the teacher's
# reply, a real variants.generate reply and a GPT3Mix label's top log-probabilities.
REAL_FILLS = [
    "stared down from career as tempition turned to reality",
    "troubled in workmate of dishonesty",
    "richard branson's global-warming donation nearly as much as cost of [blank]",
]
REAL_TEACHER = '{\n  "label": "sarcastic"\n}'
REAL_VARIANTS = (
    '{\n  "variants": [\n    {"text": "Sarcastic,"},\n    {"text": "Inclement weather '
    'prevents liar from getting to work"},\n    {"text": "Sarcastic,"}\n  ]\n}'
)
REAL_TOP = [
    (" sarc", -0.738), (" not", -1.15), (" humorous", -4.599), (" no", -4.708),
    (" humor", -5.05), (" s", -5.353), (" ironic", -5.418), (" non", -5.755),
]  # fmt: skip


def rows(*pairs: tuple[str, str]) -> list[dict]:
    return [{"text": t, "label": lab, META: {"id": f"r{i}"}} for i, (t, lab) in enumerate(pairs)]


async def collect(step, items: list[dict]) -> list[dict]:
    async def source():
        for item in items:
            yield item

    return [row async for row in step.transform(source(), CTX)]


def test_labelled_source_interleaves_labels_of_the_builtin_set():
    async def first(n):
        out = []
        async for row in Labelled().rows(CTX):
            out.append(row)
            if len(out) == n:
                return out

    got = asyncio.run(first(6))
    assert [r["label"] for r in got] == ["sarcastic", "not_sarcastic"] * 3
    assert Labelled().expected_rows() == 2000
    assert interleaved([{"l": "a"}, {"l": "a"}, {"l": "b"}], "l") == [
        {"l": "a"},
        {"l": "b"},
        {"l": "a"},
    ]


def test_text_and_label_checks():
    params = LabelParams()
    assert label_of({"label": "sarcastic"}, params) == "sarcastic"
    with pytest.raises(RowError, match="not one of"):
        label_of({"label": "funny"}, params)
    with pytest.raises(RowError):
        text_of({"text": "  "}, "text")
    with pytest.raises(ValueError):
        LabelParams(labels=["a", "a"])


def test_similarity_bounds_on_real_paraphrases():
    bounds = SimilarityParams(min_similarity=0.3, max_similarity=0.9)
    variants = [first_line(v) for v in REAL_PARAPHRASES]
    assert variants[2] == "inclement weather prevents liars from getting to work"  # prefix cut
    scores = similarities(SOURCE, variants, "rouge_l", CTX)
    assert scores[0] == pytest.approx(0.8889, abs=1e-4)
    assert scores[1] == 0.0
    reasons = [rejection(SOURCE, v, s, bounds) for v, s in zip(variants, scores, strict=True)]
    assert reasons == [None, "too_dissimilar", None]
    assert rejection(SOURCE, SOURCE.upper() + ".", 1.0, bounds) == "identical"
    assert rejection(SOURCE, "x", 0.95, bounds) == "too_similar"
    assert rejection(SOURCE, " ", 0.0, bounds) == "empty"
    assert first_line(REAL_NEWLINE) == "Meet sparkle, the next style-inspired 2-year-old!"


def test_rejected_variants_are_error_rows_unless_kept():
    row = {"text": SOURCE, META: {"id": "r"}}
    step = ChatAug()
    from synthaug.methods.augment.labelled import filtered

    bad = filtered(step, row, {"text": "x"}, "too_dissimilar", 1, False)
    assert error_of(bad)["kind"] == "too_dissimilar" and bad["kept"] is False
    flagged = filtered(step, row, {"text": "x"}, "too_dissimilar", 1, True, model="m")
    assert error_of(flagged) is None and flagged["rejected_because"] == "too_dissimilar"
    good = filtered(step, row, {"text": "y"}, None, 2, False, model="m")
    assert good["kept"] is True and good[META]["model"] == "m"
    assert ChatAug().params.k == 6  # the paper's six rephrasings


def test_bm25_scores_match_the_formula():
    docs = ["the cat sat", "the dog sat on the mat", "cats and dogs"]
    index = BM25(docs)
    n, avgdl = 3, (3 + 6 + 3) / 3
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in {"cat": 1, "sat": 2}.items()}

    def term(t, tf, dl):
        return idf[t] * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))

    scores = index.scores("cat sat")
    assert scores[0] == pytest.approx(term("cat", 1, 3) + term("sat", 1, 3))
    assert scores[1] == pytest.approx(term("sat", 1, 6))
    assert 2 not in scores  # no shared term ("cats" is not "cat")
    assert index.top("cat sat", 5) == sorted(scores.items(), key=lambda x: -x[1])
    assert index.top("cat sat", 5, allowed={1}) == [(1, scores[1])]
    flat = BM25(docs, b=0.0).scores("sat")
    assert flat[0] == pytest.approx(flat[1])  # b = 0: no length normalisation


def test_core_retrieve_flips_labels_and_skips_the_row_itself():
    items = rows(
        ("man wins lottery", "not_sarcastic"),
        ("man heroically wins lottery burden", "sarcastic"),
        ("man wins lottery", "sarcastic"),
        ("dog wins award", "sarcastic"),
    )
    out = asyncio.run(collect(Retrieve(k=3), items))
    first = out[0]
    assert first["target_label"] == "sarcastic"
    assert [r["id"] for r in first["retrieved"]] == ["r1", "r3"]  # same text r2 skipped
    assert first["retrieved"][0]["score"] > first["retrieved"][1]["score"] > 0
    assert all(r["label"] == "not_sarcastic" for r in out[1]["retrieved"])
    unlabelled = asyncio.run(collect(Retrieve(k=1, corpus_label_column=None), items))
    assert unlabelled[1]["retrieved"][0]["label"] is None


def test_disco_spans_masks_and_real_fills():
    assert spans(SOURCE, 2) == [(0, 31), (37, 44)]
    before, span, after, masked_text = masked(SOURCE, (37, 44))
    assert masked_text == "inclement weather prevents liar from [blank] to work"
    assert (before, span, after) == ("inclement weather prevents liar from", "getting", "to work")
    assert filled(REAL_FILLS[0], before, after, span)[2] == "context_changed"
    new, fill, reason = filled(REAL_FILLS[1], before, after, span)
    assert reason is None and fill == "troubled in workmate of dishonesty"
    assert new == "inclement weather prevents liar from troubled in workmate of dishonesty to work"
    assert filled(REAL_FILLS[2], before, after, span)[2] == "forbidden_phrase"
    full = filled("inclement weather prevents liar from rushing to work", before, after, span)
    assert full == ("inclement weather prevents liar from rushing to work", "rushing", None)
    assert parse_label(REAL_TEACHER, ["sarcastic", "not_sarcastic"]) == "sarcastic"
    assert parse_label('{\n  "label" :', ["sarcastic", "not_sarcastic"]) is None


def test_disco_teacher_decision():
    step = Counterfactuals()
    assert step.teacher_reason("sarcastic", "not_sarcastic", "sarcastic") is None
    assert step.teacher_reason("not_sarcastic", "not_sarcastic", "sarcastic") == (
        "teacher_disagrees"
    )
    assert step.teacher_reason("sarcastic", "sarcastic", "sarcastic") == "original_already_target"
    lenient = Counterfactuals(require_original_differs=False)
    assert lenient.teacher_reason("sarcastic", "sarcastic", "sarcastic") is None
    assert step.teacher_reason(None, "sarcastic", "sarcastic") == "unparseable_teacher"


def test_gpt3mix_soft_label_from_real_logprobs_and_votes():
    words = Mix().words()
    assert words == {"sarcastic": "sarcastic", "not_sarcastic": "not sarcastic"}
    top = [{"token": t, "logprob": lp} for t, lp in REAL_TOP]
    completion = Completion(
        choices=[
            Choice(
                text=" sarcastic",
                logprobs=[TokenLogprob(token=" sarc", logprob=-0.738, top_logprobs=top)],
            )
        ]
    )
    soft = soft_label(completion, words)
    sarc = math.exp(-0.738) + math.exp(-5.353)  # " sarc", " s"
    nots = math.exp(-1.15) + math.exp(-4.708)  # " not", " no"
    assert soft["sarcastic"] == pytest.approx(sarc / (sarc + nots), abs=1e-4)
    assert soft_label(Completion(choices=[Choice(text=" sarcastic")]), words) is None
    votes = Completion(
        choices=[Choice(text=t) for t in [" sarcastic", " not sarcastic", " sarcastic", "?"]]
    )
    assert vote_share(votes, words) == {"sarcastic": 0.6667, "not_sarcastic": 0.3333}


def test_gpt3mix_examples_and_prompt():
    items = rows(("a headline", "sarcastic"), ("b headline", "not_sarcastic"), ("c", "sarcastic"))
    out = asyncio.run(collect(Examples(per_row=2), items))
    assert len(out) == 6
    assert all(len(r["examples"]) == 2 for r in out)
    assert all(r[META]["parents"][0] in {e["id"] for e in r["examples"]} for r in out)
    assert asyncio.run(collect(Examples(per_row=2), items)) == out  # seeded
    prompt = Mix().prompt(out[0]["examples"])
    lines = prompt.splitlines()
    assert lines[0] == (
        "Each item in the following list contains a news headline and the respective tone. "
        "Tone is one of 'sarcastic' or 'not sarcastic'."
    )
    assert lines[1].startswith("News headline: ") and lines[1].endswith(")")
    assert lines[-1] == "News headline:"


def test_translation_prompt_is_few_shot():
    step = RoundTrip()
    request = translation_request(
        SOURCE, "English", "French", step.params.demonstrations, step.params, 1
    )
    roles = [m["role"] for m in request.messages]
    assert roles == ["user", "assistant"] * 4 + ["user"]
    assert request.messages[-1]["content"].endswith(f"English: {SOURCE}\nFrench:")
    assert request.temperature == 0  # Self-Translate decodes greedily


def test_variants_real_reply_and_schema():
    variants = parse_variants(REAL_VARIANTS, ["text"])
    assert [v["text"] for v in variants] == [
        "Sarcastic,",
        "Inclement weather prevents liar from getting to work",
        "Sarcastic,",
    ]
    assert parse_variants('{"variants": [{"text": 1}]}', ["text"]) is None
    assert parse_variants('{\n  "variants": [\n    {"te', ["text"]) is None
    schema = variants_schema(["text", "title"], 3, 50)["properties"]["variants"]
    assert schema["minItems"] == schema["maxItems"] == 3
    assert list(schema["items"]["properties"]) == ["text", "title"]


def test_embedding_similarity_uses_minilm_cosine(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHAUG_CACHE", str(tmp_path / "cache.sqlite3"))
    variants = [first_line(v) for v in REAL_PARAPHRASES]
    scores = similarities(SOURCE, [SOURCE, *variants], "embedding", CTX)
    assert scores[0] == pytest.approx(1.0, abs=1e-3)
    assert scores[1] > 0.8 > scores[2]  # the close rewording vs the unrelated reply


def test_bad_input_file_is_one_line_exit_2(tmp_path):
    from conftest import run_cli, write_jsonl

    missing = run_cli(
        "run", "chataug", "--set", "steps[0].params.path=nope.jsonl", "--out", "o.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    write_jsonl(tmp_path / "x.jsonl", [{"text": "a"}])
    no_label = run_cli(
        "run", "chataug", "--set", "steps[0].params.path=x.jsonl", "--out", "o.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert no_label.returncode == 2 and "label" in no_label.stderr
    assert len(no_label.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()
