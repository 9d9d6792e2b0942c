"""Checks of knowledge-graph data, re-run from a record's evidence alone.

- a **multi-hop path** (``kg_path``): the hops chain (each hop's object is the next hop's
  subject, entity names normalised), the answer is the last hop's object, every hop that
  keeps its source ``evidence`` text names both its entities there, and the question names
  the start entity but not the answer;
- a **triple answer** (``kg_answer``, HuaTuo-style instructions): the answer names the
  triple's object.
"""

from __future__ import annotations

from typing import Any

from ..knowledge.entities import entity_key, mentions


def check_path(question: str, answer: str, path: list[dict[str, Any]]) -> dict[str, Any]:
    """The checks of a multi-hop question over ``path`` and whether all pass (``verified``)."""
    keys = [(entity_key(h["subject"]), entity_key(h["object"])) for h in path]
    chain = bool(path) and all(keys[i][1] == keys[i + 1][0] for i in range(len(keys) - 1))
    grounded = [
        mentions(h["evidence"], h["subject"]) and mentions(h["evidence"], h["object"])
        for h in path
        if "evidence" in h
    ]
    checks = {
        "chain": chain,
        "answer_is_end": bool(path) and entity_key(answer) == keys[-1][1],
        "grounded": all(grounded),
        "names_start": bool(path) and mentions(question, path[0]["subject"]),
        "leaks_answer": mentions(question, answer),
    }
    verified = (
        all(v for k, v in checks.items() if k != "leaks_answer") and not checks["leaks_answer"]
    )
    return {**checks, "verified": verified}


def check_triple_answer(answer: str, triple: dict[str, Any]) -> dict[str, Any]:
    """Whether ``answer`` names the triple's object."""
    names_object = mentions(answer, triple["object"])
    return {"names_object": names_object, "verified": names_object}
