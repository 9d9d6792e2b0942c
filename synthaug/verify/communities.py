"""GraphRAG's references to community reports in an answer, ``[Data: Reports (2, 7, +more)]``,
written and checked: every report an answer cites must be one it was mapped over, and one
whose analyst found something for the question (a key point scored above 0)."""

from __future__ import annotations

import re
from typing import Any

# GraphRAG's reduce prompt: at most 5 record ids in one reference, then "+more"
MAX_IDS = 5
REFERENCE = re.compile(r"\[Data: Reports \(([^)]*)\)\]")


def reference(ids: list[int]) -> str:
    """``[Data: Reports (1, 4)]``, the first ``MAX_IDS`` ids and ``+more`` past them."""
    shown = [str(i) for i in ids[:MAX_IDS]] + (["+more"] if len(ids) > MAX_IDS else [])
    return f"[Data: Reports ({', '.join(shown)})]"


def cited_reports(answer: str) -> list[int]:
    """The report ids an answer's references name, in order, each once."""
    cited: list[int] = []
    for match in REFERENCE.finditer(answer):
        for part in match.group(1).split(","):
            part = part.strip()
            if part.isdigit() and int(part) not in cited:
                cited.append(int(part))
    return cited


def check_citations(answer: str, reports: list[int], relevant: list[int]) -> dict[str, Any]:
    """``cited``, ``unknown`` (cited, not among ``reports``), ``unsupported`` (cited, but its
    analyst found nothing: not in ``relevant``) and ``verified``: something cited, all of it
    known and relevant."""
    cited = cited_reports(answer)
    unknown = [i for i in cited if i not in reports]
    unsupported = [i for i in cited if i in reports and i not in relevant]
    verified = bool(cited) and not unknown and not unsupported
    return {"cited": cited, "unknown": unknown, "unsupported": unsupported, "verified": verified}
