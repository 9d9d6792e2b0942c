"""Lawyer LLaMA (Huang et al., 2023, "Lawyer LLaMA Technical Report", arXiv 2305.15062):
expert-style explanations grounded in retrieved legal articles.

Lawyer LLaMA's instruction data has ChatGPT answer legal questions (judicial-examination
questions, with "give the detailed reasoning, then the answer", and real consultations) as a
lawyer would; the authors found that putting the related legal articles, found by a
retrieval module, in the input improves the answers, and trained the model with the
articles in its input, so that it answers from what the retriever gives it.

``lawyer_llama.explain`` does this per question row with the articles the ``retrieve`` step
found for it (``retrieved``): the model explains the answer from them and cites each article
it relies on as ``[article id]``. Every cited article must be among the retrieved ones, and
one at least must be cited: checked and recorded as ``verification`` of kind
``statute_citations`` (re-checked by ``synthaug verify``); an answer that fails is an error row
``uncited_article``.

Differences from the paper: the prompt is written for synthaug (the report shows the data's
format, "related legal articles, Human, Assistant", not the generation prompt); the
citation check is synthaug's (the paper trusts ChatGPT); any articles (the recipe retrieves
from U.S. constitutional provisions shipped with synthaug, not Chinese law); ``constrain:
citations`` opens the answer with a citation of a retrieved id through a grammar, for small
models.
"""

from __future__ import annotations

from typing import Any

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

PAPER = "Huang et al., 2023, Lawyer LLaMA Technical Report (arXiv 2305.15062)"
TAXONOMY = "synthesis / general model distillation (retrieval-grounded expert explanations)"


def explanation_grammar(articles: list[dict[str, str]]) -> str:
    """GBNF: "According to [id], ..." with one of ``articles``, optionally a second cited line."""
    return ('root ::= "According to " cite ", " line ("\\nAlso, under " cite ", " line)?\n'
            + LINE_RULE + citation_rule(articles))  # fmt: skip


@register("lawyer_llama.explain", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Explain(CitingStep):
    """Lawyer LLaMA: a lawyer's explanation from retrieved articles, citing them.

    Input columns: ``question``, ``retrieved`` (from ``retrieve``). Output columns:
    ``instruction`` (the related articles and the question), ``output``, ``messages``,
    ``reference`` (the articles) and ``verification`` (``statute_citations``)."""

    Params = ArticleParams
    template = "lawyer_llama_explain.j2"
    reads = ("question", "retrieved")
    writes = ("instruction", "output", "messages", "reference", "verification")

    def grammar(self, articles: list[dict[str, str]]) -> str:
        return explanation_grammar(articles)

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        output = replies[0].text.strip()
        if not output:
            raise RowError("format", "an empty answer")
        articles = self.articles(row)
        instruction = grounded_input(articles, str(row["question"]))
        messages = [{"role": "user", "content": instruction},
                    {"role": "assistant", "content": output}]  # fmt: skip
        return {"instruction": instruction, "output": output, "messages": messages,
                "reference": reference(articles), "verification": self.checked(output, articles)}  # fmt: skip
