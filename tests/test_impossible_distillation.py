"""Impossible Distillation: the sentence and number helpers, the judge's yes/no score, the
authors' diversity filter (connected components of mutually entailing sentences), and the
recipe on the embedded model, killed with SIGKILL mid-run and resumed: every pair it keeps
passes the length, number, ROUGE-L and entailment filters it claims."""

from __future__ import annotations

import asyncio
import math

from conftest import resume_after_kill

from synthaug.llm.types import Choice, Completion, TokenLogprob
from synthaug.methods.student.impossible_distillation import (
    components,
    diverse,
    p_yes,
    qualifies,
    same_numbers,
    split_sentences,
)
from synthaug.quality.rouge import rouge_l


def test_sentences_numbers_and_what_qualifies():
    text = 'It rained in 1990. "Then," he said, it stopped! 3 days later? Yes.'
    assert split_sentences(text) == ["It rained in 1990.", '"Then," he said, it stopped!',
                                     "3 days later?", "Yes."]  # fmt: skip
    assert qualifies("It rained.") and not qualifies("It rained") and not qualifies("a.")
    assert same_numbers("In 1990 it cost 2.50 dollars.", "It cost 2.50 dollars in 1990.")
    assert not same_numbers("It cost 2 dollars.", "It cost 3 dollars.")


def test_judge_score_is_yes_over_yes_and_no_any_case():
    top = [{"token": "No", "logprob": math.log(0.5)}, {"token": " yes", "logprob": math.log(0.2)},
           {"token": "Yes", "logprob": math.log(0.05)}, {"token": "The", "logprob": math.log(0.1)}]  # fmt: skip
    reply = Completion(choices=[Choice(text="yes", logprobs=[
        TokenLogprob(token="yes", logprob=math.log(0.2), top_logprobs=top)])])  # fmt: skip
    assert p_yes(reply) == round(0.25 / 0.75, 6)


class KnownJudge:
    """Pure unit logic: entailment scores given by a table instead of a model."""

    def __init__(self, entails: set[tuple[str, str]]):
        self.entails = entails

    async def score(self, premise: str, hypothesis: str) -> float:
        return 0.9 if (premise, hypothesis) in self.entails else 0.1


def test_diversity_filter_keeps_one_pair_per_group_of_entailing_sources():
    assert components([0, 1, 2, 3], [(0, 2), (3, 3)]) == [{0, 2}, {1}, {3}]
    pairs = [
        {"i": 0, "j": 1, "source": "A", "target": "B", "nli": 0.9, "reverse_nli": 0.8},
        {"i": 2, "j": 1, "source": "C", "target": "B", "nli": 0.9, "reverse_nli": 0.77},
        {"i": 3, "j": 4, "source": "D", "target": "E", "nli": 0.9, "reverse_nli": 0.95},
    ]
    judge = KnownJudge({("A", "C")})  # A entails C: sources 0 and 2 are one group
    kept = asyncio.run(diverse(pairs, "i", judge))  # type: ignore[arg-type]
    assert [(c["i"], c["j"]) for c in kept] == [(2, 1), (3, 4)]  # lowest reverse score stays


def test_recipe_pairs_pass_their_filters_after_kill_and_resume(tmp_path):
    # contexts: the first two sentences of the first two encyclopedia articles; nli_threshold
    # 0: the embedded 135M judge rarely says yes, so every judged pair stays and the kept
    # records exercise the other filters on real continuations
    records, summary, _ = resume_after_kill(
        tmp_path, "impossible_distillation", "--limit", "2",
        "--set", "steps[1].params.continuations=4",
        "--set", "steps[1].params.nli_threshold=0",
        "--set", "backend.deterministic=true",
        "--set", "backend.threads=1", "--set", "backend.parallel=2",
        # the judge: a named backend (here the same embedded model, one slot)
        "--set", "backends.nli.type=local", "--set", "backends.nli.threads=1",
        "--set", "backends.nli.parallel=1", "--set", "steps[1].params.judge=nli",
        after_calls=3,
    )  # fmt: skip
    assert {r["task"] for r in records} <= {"paraphrase", "summarization"}
    for r in records:
        source, target = r["source"], r["target"]
        assert source != target and qualifies(source) and qualifies(target)
        assert same_numbers(source, target) and r["rouge_l"] == round(rouge_l(target, source), 6)
        assert r["rouge_l"] <= 0.75 and 0 <= r["nli"] <= 1
        if r["task"] == "paraphrase":
            assert 0.8 * len(source) <= len(target) <= 1.5 * len(source)
            assert 0 <= r["reverse_nli"] <= 1
        else:
            assert len(target) <= 0.7 * len(source) and r["reverse_nli"] is None
        user, assistant = r["messages"]
        assert r["context"] in user["content"] and source in user["content"]
        assert assistant == {"role": "assistant", "content": target}
        assert r["_meta"]["judge"].startswith("local:")
    counts = next(s for s in summary["steps"] if s["name"] == "pairs")
    assert counts["rows_out"] == len(records)
