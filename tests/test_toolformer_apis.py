"""Toolformer's five APIs: each prompt is the paper's (Appendix A.2) with its settings
(Appendix A), the call parsing, each executor (sandboxed calculator, BM25 search, calendar
sentence, the MT text filter, the backend's answers), the re-check of the ``toolformer``
evidence, and one run over Calendar and QA on the embedded model, killed with SIGKILL and
resumed, whose records ``synthaug verify`` agrees with."""

from __future__ import annotations

import asyncio
import calendar
import copy
import json
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pytest
from conftest import resume_after_kill, run_cli, write_jsonl

from synthaug.engine.step import StepContext
from synthaug.errors import InputError
from synthaug.methods.tool_use.toolformer import (
    APIS,
    Calls,
    Texts,
    applies,
    insert_calls,
    prompt_of,
)
from synthaug.methods.tool_use.toolformer_apis import (
    calculator_worthy,
    foreign_span,
    looks_ahead,
    model_request,
    model_result,
    parse_call,
    query_of,
)
from synthaug.tools.execute import run_calls
from synthaug.tools.registry import load_tools
from synthaug.verify.evidence import reverify
from synthaug.verify.sandbox import Sandbox
from synthaug.verify.toolformer import calendar_sentence, file_digest, wiki_search

DATA = resources.files("synthaug") / "data"
TEXT = "The bridge opened in 1932."

# The first sentence of each prompt in the paper's Appendix A.2 and the call it shows.
PAPER_PROMPTS = {
    "Calculator": ("Your task is to add calls to a Calculator API to a piece of text.",
                   '"[Calculator(expression)]"', "[Calculator(2011 - 1994)] 17 years."),
    "QA": ("Your task is to add calls to a Question Answering API to a piece of text.",
           '"[QA(question)]"', '[QA("Who manufactures Coca-Cola?")] the Coca-Cola Company.'),
    "WikiSearch": ("Your task is to complete a given piece of text. You can use a Wikipedia "
                   "Search API to look up information.", '"[WikiSearch(term)]"',
                   '[WikiSearch("Metformin first-line drug")] patients'),
    "MT": ("Your task is to complete a given piece of text by using a Machine Translation API.",
           '"[MT(text)]"', "[MT(der klassische jüdische Mann)], there is"),
    "Calendar": ("Your task is to add calls to a Calendar API to a piece of text.",
                 '"[Calendar()]" Here are some examples', "so today [Calendar()] it is closed."),
}  # fmt: skip
# Appendix A: τ_s = 0.05, k = 5, m = 5, τ_f = 1.0; Calculator and MT: τ_s = 0.0, k = 20,
# m = 10, τ_f = 0.5
PAPER_SETTINGS = {"Calculator": (0.0, 20, 10, 0.5), "QA": (0.05, 5, 5, 1.0),
                  "WikiSearch": (0.05, 5, 5, 1.0), "MT": (0.0, 20, 10, 0.5),
                  "Calendar": (0.05, 5, 5, 1.0)}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PAPER_PROMPTS))
def test_each_api_has_the_papers_prompt_and_settings(name: str):
    api = APIS[name]
    prompt = prompt_of(api, TEXT)
    first, syntax, example = PAPER_PROMPTS[name]
    assert prompt.startswith(first) and syntax in prompt and example in prompt
    assert prompt.endswith(f"\nInput: {TEXT}\nOutput:")
    assert prompt.count("\nInput: ") == prompt.count("\nOutput: ") + 1  # the examples, then x
    assert (api.threshold, api.top_k, api.samples, api.filter_threshold) == PAPER_SETTINGS[name]
    assert api.takes_input == (name != "Calendar")


def test_calls_are_parsed_and_their_queries_unquoted():
    assert parse_call('"Ghana flag red meaning")] the blood') == '"Ghana flag red meaning"'
    assert query_of('"Ghana flag red meaning"') == "Ghana flag red meaning"
    assert query_of("“Who manufactures Coca-Cola?”") == "Who manufactures Coca-Cola?"
    assert parse_call("O homem suprimido)] (") == "O homem suprimido"
    assert parse_call('"never closed') is None and parse_call(")]") is None
    assert APIS["Calendar"].call("", "Today is Monday, January 30, 2023.") == (
        "[Calendar() → Today is Monday, January 30, 2023.]"
    )
    assert APIS["QA"].call('"Who?"', None) == '[QA("Who?") →]'


def test_calls_of_several_apis_are_merged_into_one_text():
    text = "Coke is made by the Coca-Cola Company in Atlanta."
    calls = [
        {"api": "QA", "offset": text.index(" the"), "start": " [", "argument": '"Who makes Coke?"',
         "result": "The Coca-Cola Company"},
        {"api": "Calendar", "offset": text.index(" in"), "start": " [", "argument": "",
         "result": "Today is Friday, May 8, 1998."},
    ]  # fmt: skip
    assert insert_calls(text, calls) == (
        'Coke is made by [QA("Who makes Coke?") → The Coca-Cola Company] the Coca-Cola Company '
        "[Calendar() → Today is Friday, May 8, 1998.] in Atlanta."
    )


def test_calendar_gives_the_texts_date_in_the_papers_sentence():
    assert calendar_sentence("2023-01-30") == "Today is Monday, January 30, 2023."  # Table 1
    day = date(2019, 12, 25)
    for _ in range(40):  # against the standard library's own calendar
        day += timedelta(days=37)
        name, month = calendar.day_name[day.weekday()], calendar.month_name[day.month]
        assert (
            calendar_sentence(day.isoformat()) == f"Today is {name}, {month} {day.day}, {day.year}."
        )
    with pytest.raises(ValueError):
        calendar_sentence("2023-02-30")


def test_wiki_search_returns_the_best_passage_shortened(tmp_path: Path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"title": "Danube", "text": "The Danube flows from the Black Forest to the Black Sea."},
        {"title": "Eiffel Tower", "text": " ".join(["The Eiffel Tower stands in Paris."] * 20)},
        {"text": "Bees make honey from nectar."},
    ])  # fmt: skip
    found = wiki_search(str(corpus), "Eiffel Tower Paris", snippets=1, max_words=12)
    assert found["hits"] == [1] and found["sha256"] == file_digest(str(corpus))
    words = ["Eiffel", "Tower", "»", *(["The", "Eiffel", "Tower", "stands", "in", "Paris."] * 2)]
    assert found["result"] == " ".join(words[:12]) + " …"
    both = wiki_search(str(corpus), "honey Black Sea", snippets=2, max_words=50)
    assert both["hits"] == [0, 2] and both["result"].endswith("Bees make honey from nectar.")
    assert both["result"].startswith("Danube » The Danube flows")
    assert "error" in wiki_search(str(corpus), "volcano", snippets=1, max_words=50)


def test_mt_applies_only_to_texts_with_a_non_english_span():
    texts = [json.loads(line) for line in (DATA / "toolformer_dated_texts.jsonl").open()]
    spans = {t["text"]: foreign_span(t["text"]) for t in texts}
    foreign = {text: span for text, span in spans.items() if span}
    assert len(foreign) == 2  # the French painting title and the German saying
    for text, span in foreign.items():
        assert span in text and len(span.split()) == 10
        assert applies(APIS["MT"], {"text": text}) and not applies(APIS["MT"], {"text": TEXT})
    assert foreign_span("12 34 56 78 90 " * 6) is None  # numbers only
    text = "He wrote O homem suprimido, that is, O homem suprimido again."
    assert not looks_ahead(text, text.index(", that"), "O homem suprimido")  # seen before
    assert looks_ahead(text, text.index(" O homem"), "O homem suprimido")  # only after
    assert not applies(APIS["Calendar"], {"text": TEXT, "date": None})


def test_the_calculator_annotates_only_texts_that_pass_the_papers_heuristic():
    assert calculator_worthy("It bought 48 books in March and 37 in April: 85 in all.")  # 48 + 37
    assert calculator_worthy("An average of 2.87 goals over 252 matches, 723 in all.")  # 723 / 252
    assert calculator_worthy("The bill came to a total of 45 dollars.")  # "total of" and a number
    assert calculator_worthy("We found that 3 x 4 = 12 here.")
    assert not calculator_worthy("The bridge opened in 1932 and is 330 metres long.")
    assert calculator_worthy("It cost 40 dollars, then 2 more, 42 dollars in all.")  # 40 + 2
    far = "It cost 40 dollars. " + "word " * 120 + "Then 2 more, 42 dollars in all."
    assert not calculator_worthy(far)  # 40 is more than 100 words from 2 and 42
    # texts with three numbers and nothing else: the paper keeps a random 1 %
    plain = [f"Room {n}, floor {n + 7} and desk {3 * n + 1000} were booked." for n in range(1, 601)]
    kept = sum(map(calculator_worthy, plain))
    assert 0 < kept < 20
    assert applies(APIS["Calculator"], {"text": TEXT}, text_filters=False)
    assert not applies(APIS["Calculator"], {"text": TEXT})


def test_texts_read_dates_and_reject_a_bad_one(tmp_path: Path):
    path = write_jsonl(tmp_path / "texts.jsonl", [{"text": TEXT, "day": "2023-01-30"},
                                                  {"text": TEXT}, {"text": TEXT, "day": "soon"}])  # fmt: skip
    step = Texts(path=str(path), date_column="day", count=2)

    async def read(step: Texts) -> list:
        return [row async for row in step.rows(StepContext(llm=None, run_seed=0, step_name="t"))]

    assert [row["date"] for row in asyncio.run(read(step))] == ["2023-01-30", None]
    with pytest.raises(InputError) as raised:
        asyncio.run(read(Texts(path=str(path), date_column="day")))
    assert (raised.value.line, raised.value.field) == (3, "day")
    with pytest.raises(InputError):
        Calls(corpus=str(tmp_path / "missing.jsonl"))


def test_model_backed_apis_ask_the_backend_for_a_short_answer():
    qa, mt = (
        model_request(APIS["QA"], "Who manufactures Coca-Cola?"),
        model_request(APIS["MT"], "sûreté nucléaire"),
    )
    assert qa.prompt.endswith("Question: Who manufactures Coca-Cola?\nAnswer:")
    assert mt.prompt.endswith("Text: sûreté nucléaire\nEnglish:")
    assert qa.temperature == mt.temperature == 0 and qa.stop == ("\n",)
    assert model_result("  nuclear safety\nmore text") == "nuclear safety"
    assert model_result(" [1] New Haven ") == "(1) New Haven"  # one [...] per call
    assert model_result(" \n") is None


def evidence_of(calls: list[dict], **extra) -> dict:
    (tool,) = load_tools(["calculate"])
    return {"kind": "toolformer", "verified": True, "calls": calls,
            "implementations": {"calculate": tool.implementation()}, "date": None,
            "corpus": None, "stored": [], **extra}  # fmt: skip


def losses(gain: float, threshold: float) -> dict:
    return {"loss_plus": 1.0, "loss_none": 1.0 + gain, "loss_no_result": 2.0 + gain,
            "gain": gain, "threshold": threshold}  # fmt: skip


def test_verify_re_runs_deterministic_calls_and_takes_model_results_as_stored(tmp_path: Path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"title": "Danube", "text": "The Danube flows to the Black Sea."},
        {"title": "Honey bee", "text": "Honey bees make honey."},
    ])  # fmt: skip
    search = wiki_search(str(corpus), "Danube", 1, 50)
    sandbox = Sandbox()
    (tool,) = load_tools(["calculate"])
    [ran], _ = asyncio.run(run_calls(sandbox, [{"name": "calculate",
                                               "arguments": {"expression": "723 / 252"}}],
                                     {"calculate": tool.implementation()}))  # fmt: skip
    calls = [
        {"api": "Calculator", "argument": "723 / 252", "query": "723 / 252", "result": "2.87",
         "return": ran["return"], **losses(0.6, 0.5)},
        {"api": "Calendar", "argument": "", "query": "", **losses(1.2, 1.0),
         "result": "Today is Monday, January 30, 2023."},
        {"api": "WikiSearch", "argument": '"Danube"', "query": "Danube", **losses(1.5, 1.0),
         "result": search["result"], "hits": search["hits"]},
        {"api": "QA", "argument": '"Who?"', "query": "Who?", "result": "Nobody", **losses(1.1, 1.0)},
    ]  # fmt: skip
    good = evidence_of(calls, date="2023-01-30", stored=["QA"], corpus={
        "path": str(corpus), "sha256": search["sha256"], "snippets": 1, "max_words": 50})  # fmt: skip

    def agrees(v: dict) -> bool:
        return asyncio.run(reverify(v, sandbox))

    assert agrees(good)
    for index, field, value in [(0, "result", "2.88"), (1, "result", "Today is Tuesday."),
                                (2, "result", "Danube » wrong"), (3, "gain", 0.9),
                                (0, "loss_plus", 0.9)]:  # fmt: skip
        bad = copy.deepcopy(good)
        bad["calls"][index][field] = value
        assert not agrees(bad), (index, field)
    unstored = copy.deepcopy(good)
    unstored["stored"] = []
    assert not agrees(unstored)  # a QA result is taken as stored only when the record says so
    corpus.write_text(corpus.read_text() + '{"text": "A new passage."}\n')
    assert not agrees(good)  # the corpus changed since the search ran


# ----- Calendar and QA end to end on the embedded model, killed and resumed -----

TAU_F = 0.1  # lowered from the paper's 1.0: the 135M model's gains here stay below 1


@pytest.fixture(scope="module")
def apis_run(tmp_path_factory):
    """Two dated texts, Calendar and QA, k = 1, τ_s = 0.0 and m = 2 (to keep it short), τ_f
    lowered to ``TAU_F``; SIGKILLed after 8 cached answers and resumed."""
    cwd = tmp_path_factory.mktemp("toolformer_apis")
    lines = (DATA / "toolformer_dated_texts.jsonl").read_text().splitlines()[1:3]
    (cwd / "texts.jsonl").write_text("\n".join(lines) + "\n")
    records = resume_after_kill(
        cwd, "toolformer_apis", "--set", "steps[0].params.path=texts.jsonl",
        "--set", "steps[1].params.apis=[Calendar,QA]", "--set", "steps[1].params.top_k=1",
        "--set", "steps[1].params.threshold=0.0", "--set", "steps[2].params.samples=2",
        "--set", f"steps[3].params.threshold={TAU_F}", "--set", "backend.deterministic=true",
        "--set", "backend.threads=1", after_calls=8,
    )[0]  # fmt: skip
    return cwd, records


def test_the_run_annotates_with_both_apis_consistently(apis_run):
    _, records = apis_run
    assert len(records) == 2
    candidates = [c for r in records for c in r["toolformer_candidates"]]
    assert {c["api"] for c in candidates} == {"Calendar", "QA"}
    for record in records:
        assert {p["api"] for p in record["toolformer_positions"]} == {"Calendar", "QA"}
        for c in record["toolformer_candidates"]:
            assert c["threshold"] == TAU_F
            assert c["gain"] == pytest.approx(c["loss_minus"] - c["loss_plus"], abs=1e-5)
            assert c["kept"] == (c["gain"] >= TAU_F)
            if c["api"] == "Calendar":
                assert c["argument"] == "" and c["result"] == calendar_sentence(record["date"])
            else:
                assert c["result"] and "\n" not in c["result"]
        kept = record["toolformer_kept"]
        assert len({c["offset"] for c in kept}) == len(kept)
        best = {}
        for c in record["toolformer_candidates"]:
            if c["kept"]:
                best[c["offset"]] = max(best.get(c["offset"], c["gain"]), c["gain"])
        assert [c["gain"] for c in kept] == [best[o] for o in sorted(best)]
        assert record["augmented_text"] == insert_calls(record["text"], kept)
        assert "tool_impl" not in record and "toolformer_corpus" not in record
        if kept:
            evidence = record["verification"]
            assert evidence["kind"] == "toolformer" and evidence["date"] == record["date"]
            assert evidence["stored"] == (["QA"] if any(c["api"] == "QA" for c in kept) else [])


def test_verify_agrees_with_every_record_with_calls(apis_run):
    cwd, records = apis_run
    with_calls = [r for r in records if r["toolformer_kept"]]
    assert with_calls, f"no call passed τ_f = {TAU_F}"
    done = run_cli("verify", str(cwd / "data.jsonl"), "--json", cwd=cwd,
                   env={"SYNTHAUG_CACHE": str(cwd / "cache.sqlite3")})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == len(with_calls) == report["agreed"]
