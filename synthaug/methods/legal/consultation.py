"""Knowledge-grounded legal consultations, as LawGPT (Zhou et al., 2024, "LawGPT: A Chinese
Legal Knowledge-Enhanced Large Language Model", arXiv 2406.04614) and WisdomInterrogatory
(Zhejiang University, Alibaba DAMO and Huayuan Computing, 2023, the "zhihai-luwen" legal
model, GitHub zhihaiLLM/wisdomInterrogatory) build them.

LawGPT makes its legal instruction data by knowledge-based self-instruct: a teacher model
writes questions and answers, and consultation-style exchanges, from legal knowledge
(statutes), so that each answer has a legal basis. WisdomInterrogatory enhances its
consultations with knowledge: articles (and cases) retrieved for the question are given to
the model with it. Both make dialogues whose lawyer turns rest on legal articles the
generator was given; one step serves both here.

``legal.consultation`` does this per question row with the articles the ``retrieve`` step
found for it (``retrieved``): the model writes a consultation of ``rounds`` exchanges, the
client opening with the row's situation (the model goes on from the lawyer's first reply),
the lawyer asking about facts and answering from
the articles, citing them as ``[article id]``. Every article the lawyer cites must be among
the retrieved ones and one at least must be cited, checked and recorded as ``verification``
of kind ``statute_citations`` (re-checked by ``synthaug verify``); a dialogue that fails is an
error row ``uncited_article``. ``messages`` start with a system turn listing the articles.

Differences from the papers: their generation prompts are not published (what is said
above of their data comes from their reports and READMEs, read from memory here, not from
their code); the prompt and the default of 2 exchanges are written for synthaug; the
citation check is synthaug's; any articles (the recipe retrieves from U.S. constitutional
provisions shipped with synthaug, not Chinese law); ``constrain: citations`` holds the turn
format and a citation of a retrieved id opening each lawyer turn with a grammar, for small
models.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from ...engine.step import RowError
from ..registry import register
from .articles import LINE_RULE, STAGE, ArticleParams, CitingStep, citation_rule, reference, shown

PAPER = (
    "Zhou et al., 2024, LawGPT: A Chinese Legal Knowledge-Enhanced Large Language Model "
    "(arXiv 2406.04614); WisdomInterrogatory (zhihaiLLM/wisdomInterrogatory, 2023)"
)
TAXONOMY = "synthesis / domain model distillation (knowledge-grounded legal dialogues)"
TURN = re.compile(r"^\W*(client|lawyer)\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
ROLES = {"client": "user", "lawyer": "assistant"}


def parse_consultation(opening: str, text: str) -> list[dict[str, str]]:
    """The ``{role, content}`` turns (user for the client, assistant for the lawyer) of the
    client's ``opening`` and the ``Client: ... / Lawyer: ...`` lines that continue it,
    consecutive lines of one speaker joined; ``[]`` unless the lawyer speaks first."""
    turns = [{"role": "user", "content": " ".join(opening.split())}]
    for speaker, content in TURN.findall(text):
        role, content = ROLES[speaker.lower()], " ".join(content.split())
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += " " + content
        else:
            turns.append({"role": role, "content": content})
    return turns if len(turns) > 1 else []


def consultation_grammar(articles: list[dict[str, str]], rounds: int) -> str:
    """GBNF: the lawyer's reply, then ``rounds - 1`` client and lawyer lines, each lawyer line
    opening with a citation of one of ``articles``."""
    return (f"root ::= lawyer{' client lawyer' * (rounds - 1)}\n"
            'lawyer ::= "Lawyer: Under " cite ", " line "\\n"\n'
            'client ::= "Client: " line "\\n"\n' + LINE_RULE + citation_rule(articles))  # fmt: skip


class ConsultationParams(ArticleParams):
    rounds: int = Field(2, ge=1, le=10, description="client-lawyer exchanges")
    max_tokens: int = Field(512, ge=64)


@register("legal.consultation", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Consultation(CitingStep):
    """LawGPT / WisdomInterrogatory: a legal consultation citing retrieved articles.

    Input columns: ``question`` (the client's situation), ``retrieved`` (from ``retrieve``).
    Output columns: ``messages`` (a system turn with the articles, then the dialogue),
    ``dialogue`` (the turns), ``reference`` (the articles) and ``verification``
    (``statute_citations`` over the lawyer's turns)."""

    Params = ConsultationParams
    params: ConsultationParams
    template = "legal_consultation.j2"
    reads = ("question", "retrieved")
    writes = ("messages", "dialogue", "reference", "verification")

    def grammar(self, articles: list[dict[str, str]]) -> str:
        return consultation_grammar(articles, self.params.rounds)

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        dialogue = parse_consultation(str(row["question"]), replies[0].text)
        if not dialogue:
            raise RowError("format", f"not a client-lawyer dialogue: {replies[0].text[:200]!r}")
        articles = self.articles(row)
        system = {"role": "system", "content": f"Related legal articles:\n{shown(articles)}"}
        lawyer = "\n".join(t["content"] for t in dialogue if t["role"] == "assistant")
        return {"messages": [system, *dialogue], "dialogue": dialogue,
                "reference": reference(articles), "verification": self.checked(lawyer, articles)}  # fmt: skip
