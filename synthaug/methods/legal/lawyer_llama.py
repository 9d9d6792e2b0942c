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

from typing import Any, ClassVar

from pydantic import Field

from ...engine.step import RowError, StepContext
from ...llm.types import ChatRequest, chat
from ...records import META
from ...verify.evidence import statute_citations_verdict
from ..common.rows import kept_if_verified
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .articles import (
    LINE_RULE,
    STAGE,
    STATUTES,
    ArticleParams,
    citation_rule,
    grounded_input,
    reference,
    retrieved_articles,
    shown,
)

PAPER = "Huang et al., 2023, Lawyer LLaMA Technical Report (arXiv 2305.15062)"
TAXONOMY = "synthesis / general model distillation (retrieval-grounded expert explanations)"


def explanation_grammar(articles: list[dict[str, str]]) -> str:
    """GBNF: "According to [id], ..." with one of ``articles``, optionally a second cited line."""
    return ('root ::= "According to " cite ", " line ("\\nAlso, under " cite ", " line)?\n'
            + LINE_RULE + citation_rule(articles))  # fmt: skip


class ExplainParams(ArticleParams):
    max_tokens: int = Field(384, ge=32)


@register("lawyer_llama.explain", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Explain(ModelStep):
    """Lawyer LLaMA: a lawyer's explanation from retrieved articles, citing them.

    Input columns: ``question``, ``retrieved`` (from ``retrieve``). Output columns:
    ``instruction`` (the related articles and the question), ``output``, ``messages``,
    ``reference`` (the articles) and ``verification`` (``statute_citations``)."""

    Params = ExplainParams
    params: ExplainParams
    seed_data: ClassVar[dict[str, str]] = {"statutes": STATUTES}
    reads = ("question", "retrieved")
    writes = ("instruction", "output", "messages", "reference", "verification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        articles = retrieved_articles(row, p.statutes)
        prompt = render(__file__, "lawyer_llama_explain.j2", articles=articles,
                        shown=shown(articles), question=row["question"])  # fmt: skip
        grammar = explanation_grammar(articles) if p.constrain == "citations" else None
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     seed=ctx.seed(row[META]["id"]), grammar=grammar)]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        output = replies[0].text.strip()
        if not output:
            raise RowError("format", "an empty answer")
        articles = retrieved_articles(row, self.params.statutes)
        instruction = grounded_input(articles, str(row["question"]))
        messages = [{"role": "user", "content": instruction},
                    {"role": "assistant", "content": output}]  # fmt: skip
        check = statute_citations_verdict(output, [a["id"] for a in articles])
        return {"instruction": instruction, "output": output, "messages": messages,
                "reference": reference(articles), "verification": check}  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        v = record["verification"]
        message = f"cited {v['cited']}, not retrieved {v['unknown']}: {record['output'][:160]!r}"
        return kept_if_verified(self, row, record, "uncited_article", message)
