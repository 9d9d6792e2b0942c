"""DISC-LawLLM (Yue et al., 2023, "DISC-LawLLM: Fine-tuning Large Language Models for
Intelligent Legal Services", arXiv 2309.11325): legal syllogism prompting with retrieved
statutes.

DISC-Law-SFT rebuilds legal QA pairs with GPT-3.5 so that each answer reasons as a judge
does, by legal syllogism: the major premise is the law (the statute that applies), the minor
premise the facts of the case, and the conclusion the judgement that follows. Its "triplet"
subset keeps the statutes retrieved for each question as ``<input, output, reference>``, so
the model learns to answer from retrieved law (the deployed model retrieves with
Langchain-Chatchat).

``disc_law.syllogism`` does this per legal QA row (``question``, ``answer``) with the
articles the ``retrieve`` step found for its question (``retrieved``): the model rewrites
the answer as ``Major premise: ... [article id] ... / Minor premise: ... / Conclusion: ...``;
the major premise must cite a retrieved article, checked and recorded as ``verification`` of
kind ``statute_citations`` (re-checked by ``synthaug verify``); a syllogism that does not
parse is an error row ``format``, one that cites nothing retrieved ``uncited_statute``.

Differences from the paper: DISC-LawLLM's reconstruction prompts are not published (neither
its repository nor the report gives them): the prompt here is written for synthaug from the
report's description, as is the sampling temperature; any statutes (the recipe retrieves
from U.S. constitutional provisions shipped with synthaug, not Chinese law); the article
cited in the major premise is checked against the retrieved ones; ``constrain: citations``
holds the three lines and the citation to the retrieved ids with a grammar, for small models.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from ...engine.step import RowError
from ..registry import register
from .articles import (
    LINE_RULE,
    STAGE,
    ArticleParams,
    CitingStep,
    citation_rule,
    grounded_input,
    reference,
)

PAPER = (
    "Yue et al., 2023, DISC-LawLLM: Fine-tuning Large Language Models for Intelligent Legal "
    "Services (arXiv 2309.11325)"
)
TAXONOMY = "synthesis / domain model distillation (legal syllogism reconstruction)"
SYLLOGISM = re.compile(
    r"major premise\s*:\s*(?P<major>.+?)\s*minor premise\s*:\s*(?P<minor>.+?)\s*"
    r"conclusion\s*:\s*(?P<conclusion>.+)",
    re.IGNORECASE | re.DOTALL,
)


def parse_syllogism(text: str) -> dict[str, str] | None:
    """``{major_premise, minor_premise, conclusion}`` of a reply, or None when one is missing."""
    found = SYLLOGISM.search(text.replace("*", ""))
    if found is None:
        return None
    parts = {k: " ".join(found.group(k).split()) for k in ("major", "minor", "conclusion")}
    if not all(re.search(r"[^\W\d_]", part) for part in parts.values()):  # e.g. "..." copied
        return None
    return {"major_premise": parts["major"], "minor_premise": parts["minor"],
            "conclusion": parts["conclusion"]}  # fmt: skip


def syllogism_text(parts: dict[str, str]) -> str:
    """The answer written out: the three premises, one a line."""
    return (f"Major premise: {parts['major_premise']}\nMinor premise: {parts['minor_premise']}\n"
            f"Conclusion: {parts['conclusion']}")  # fmt: skip


def syllogism_grammar(articles: list[dict[str, str]]) -> str:
    """GBNF: the three lines, the major premise citing one of ``articles``."""
    return ('root ::= "Major premise: According to " cite ", " line "\\nMinor premise: " line '
            '"\\nConclusion: " line\n' + LINE_RULE + citation_rule(articles))  # fmt: skip


class SyllogismParams(ArticleParams):
    max_tokens: int = Field(320, ge=32)


@register("disc_law.syllogism", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Syllogism(CitingStep):
    """DISC-LawLLM: a legal answer rebuilt as a syllogism citing a retrieved statute.

    Input columns: ``question``, ``answer``, ``retrieved`` (from ``retrieve``). Output
    columns: ``instruction`` (the related articles and the question), ``output`` (the
    syllogism), ``messages``, ``major_premise``, ``minor_premise``, ``conclusion``,
    ``reference`` (the articles) and ``verification`` (``statute_citations`` over the major
    premise)."""

    Params = SyllogismParams
    params: SyllogismParams
    template = "disc_law_syllogism.j2"
    uncited = "uncited_statute"
    reads = ("question", "answer", "retrieved")
    writes = ("instruction", "output", "messages", "major_premise", "minor_premise",
              "conclusion", "reference", "verification")  # fmt: skip

    def grammar(self, articles: list[dict[str, str]]) -> str:
        return syllogism_grammar(articles)

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        parts = parse_syllogism(replies[0].text)
        if parts is None:
            raise RowError("format", f"not a syllogism: {replies[0].text[:200]!r}")
        articles = self.articles(row)
        instruction, output = grounded_input(articles, str(row["question"])), syllogism_text(parts)
        messages = [{"role": "user", "content": instruction},
                    {"role": "assistant", "content": output}]  # fmt: skip
        return {"instruction": instruction, "output": output, "messages": messages, **parts,
                "reference": reference(articles),
                "verification": self.checked(parts["major_premise"], articles)}  # fmt: skip
