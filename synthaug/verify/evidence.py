"""The ``verification`` field of a record, and re-checking it from its stored evidence.

A verified record carries ``verification = {"kind", "verified", **evidence}``;
the evidence is enough to re-run the check without the model (``reverify``):

- ``answer``: ``text``, ``gold``, ``extracted``, ``match`` — re-extract and compare.
- ``program``: ``code``, ``gold``, ``extracted``, ``match``, ``execution`` — re-run in
  the sandbox, read the answer from stdout, compare.
- ``tests``: ``code``, ``tests``, ``passed``, ``execution`` — re-run solution + tests.
- ``cases``: ``code``, ``func_name``, ``inputs``, ``outputs`` — re-call, same outputs.
- ``generator``: ``generator``, ``seed``, ``params``, ``answer`` — re-generate.
- ``step_labels``: ``gold``, ``rule``, ``steps[{label, rollouts[{text, extracted, match}]}]``
  — re-check every rollout, recompute every label.
- ``tool_calls``: ``tools``, ``calls``, ``results``, ``implementations``, ``semantic`` —
  re-check each call against the offered schemas, re-run it with its tool's stored code in
  the sandbox, compare the results (the judge's stored verdict, and a host tool's stored
  result, e.g. the model as a translator, are taken as they are).
- ``api_exists``: ``code``, ``allowed``, ``references[{name, line, resolved}]`` — re-collect
  the code's module and attribute references, re-resolve them in the sandbox (``api_refs``).
- ``api_search``: ``api_source``, ``k``, ``annotated``, ``calls[{query, answer, position, api}]``,
  ``code``, ``tests``, ``passed``, ``execution`` — re-parse the annotated code, re-run every
  API search on a rebuilt index, re-apply ToolCoder's filter, re-run the tests (``api_search``).
- ``quotes``: ``answer``, ``passage``, ``quotes``, ``missing`` — re-read the quotes of the
  answer, look each up in the passage (whitespace normalised); verified only when every
  quote occurs in it.
- ``speedup``: ``code``, ``original``, ``func_name``, ``inputs``, ``outputs``,
  ``call_timeout_s``, ``original_s``, ``edited_s``, ``min_speedup``, ``alpha``, ``speedup``,
  ``p_value`` — re-call both programs on the inputs (both must return the stored outputs)
  and recompute the speed-up test from the stored timings (timings are not re-measured).
- ``chart_qa``: ``table``, ``question_kind``, ``args``, ``question``, ``answer`` — recompute the
  question and its answer from the stored data table (``media.chart_questions``).
- ``scene_qa``: ``scene``, ``question_kind``, ``args``, ``question``, ``answer`` — recompute the
  question and its answer from the stored scene graph (``media.scene_questions``).
- ``abstract_image``: ``figure``, ``seed``, ``spec``, ``question``, ``answer`` — make the
  abstract image's spec, question and answer again from its kind and seed (``media.abstract``).
- ``kg_path``: ``question``, ``answer``, ``path[{subject, relation, object, evidence?}]`` and
  the checks — re-check the chain, the answer as the path's end, each hop's entities in its
  evidence text, the question naming the start but not the answer (``verify.kg``).
- ``toolformer``: ``calls[{api, query, result, losses, gain, threshold}]``, ``implementations``,
  ``date``, ``corpus``, ``stored`` — recompute each kept call's loss filter, re-run the
  Calculator (sandbox), Calendar and WikiSearch (BM25) calls; QA and MT results are taken as
  stored (``verify.toolformer``).
- ``kg_answer``: ``triple``, ``answer``, ``names_object`` — the answer names the object.
- ``community_citations``: ``answer``, ``reports``, ``relevant`` and the checks — re-read the
  answer's ``[Data: Reports (...)]`` references; each must name a report the question was
  mapped over whose analyst scored a point above 0 (``verify.communities``).
- ``statute_citations``: ``text``, ``retrieved`` and the checks — re-read the text's
  ``[article id]`` citations; each must name an article retrieved for the question, and one at
  least must be cited (``verify.statutes``).
- ``finqa_program``: ``code``, ``numbers``, ``literals``, ``ungrounded``, ``grounded``, ``answer``,
  ``execution`` — re-run the program in the sandbox (the same numeric answer), re-check that
  every number it uses is one of the document's or a FinQA constant (``verify.finqa``).
- ``dialogue_state``: ``goal``, ``turns``, ``ontology``, ``aliases``, ``belief_state``,
  ``problems`` — re-accumulate the turns' belief states, re-check them against the goal and
  the ontology (``verify.dialogue_state``).
- ``coq_proof``: ``statement``, ``proof``, ``reason``, ``execution`` — re-check the proof of
  the statement with ``coqc`` in the sandbox (``verify.coq``).
"""

from __future__ import annotations

from typing import Any

from .code import call_function, run_tests
from .communities import check_citations
from .dialogue_state import check_state
from .finqa import check_grounding, numeric
from .kg import check_path, check_triple_answer
from .math_answer import answers_match, check_answer, program_answer
from .quotes import check_quotes
from .sandbox import ExecResult, Sandbox
from .speedup import speedup_test
from .statutes import check_statute_citations


def verdict(kind: str, verified: bool, **evidence: Any) -> dict[str, Any]:
    """The ``verification`` field."""
    return {"kind": kind, "verified": bool(verified), **evidence}


def answer_verdict(text: str, gold: str, last_number: bool = True) -> dict[str, Any]:
    """A rationale checked against a gold answer; ``last_number=False`` accepts only an answer
    stated as such (boxed, ``####``, "The answer is"), as RFT's and STaR's references do."""
    check = check_answer(text, gold, last_number)
    return verdict("answer", check["match"], text=text, last_number=last_number, **check)


def program_verdict(code: str, gold: str, result: ExecResult) -> dict[str, Any]:
    """A program whose printed answer is checked against ``gold``."""
    extracted = program_answer(result.stdout) if result.ok else None
    match = answers_match(extracted, gold)
    return verdict(
        "program", match, code=code, gold=str(gold), extracted=extracted, match=match,
        execution=result.evidence(),
    )  # fmt: skip


def tests_verdict(code: str, tests: str, result: ExecResult) -> dict[str, Any]:
    """A solution run with its tests."""
    return verdict(
        "tests", result.ok, code=code, tests=tests, passed=result.ok, execution=result.evidence()
    )


def quotes_verdict(answer: str, passage: str) -> dict[str, Any]:
    """An answer's verbatim quotes looked up in the passage they cite (``verify.quotes``)."""
    check = check_quotes(answer, passage)
    return verdict("quotes", check.pop("verified"), answer=answer, passage=passage, **check)


def kg_path_verdict(question: str, answer: str, path: list[dict[str, Any]]) -> dict[str, Any]:
    """A multi-hop question over a knowledge-graph path (``verify.kg``)."""
    check = check_path(question, answer, path)
    return verdict("kg_path", check.pop("verified"), question=question, answer=answer,
                   path=path, **check)  # fmt: skip


def kg_answer_verdict(answer: str, triple: dict[str, Any]) -> dict[str, Any]:
    """An instruction's answer checked to name its triple's object (``verify.kg``)."""
    check = check_triple_answer(answer, triple)
    return verdict("kg_answer", check.pop("verified"), answer=answer, triple=triple, **check)


def citations_verdict(answer: str, reports: list[int], relevant: list[int]) -> dict[str, Any]:
    """A GraphRAG global answer's report references (``verify.communities``)."""
    check = check_citations(answer, reports, relevant)
    return verdict("community_citations", check.pop("verified"), answer=answer,
                   reports=reports, relevant=relevant, **check)  # fmt: skip


def statute_citations_verdict(text: str, retrieved: list[str]) -> dict[str, Any]:
    """A legal answer's citations of the articles retrieved for it (``verify.statutes``)."""
    check = check_statute_citations(text, retrieved)
    return verdict("statute_citations", check.pop("verified"), text=text, retrieved=retrieved,
                   **check)  # fmt: skip


def finqa_verdict(code: str, numbers: list[float], result: ExecResult) -> dict[str, Any]:
    """A FinQA-style program: run (``result``) to a numeric answer, using only the document's
    ``numbers`` and FinQA's constants (``verify.finqa``)."""
    answer = program_answer(result.stdout) if result.ok else None
    grounding = check_grounding(code, numbers)
    verified = numeric(answer) is not None and grounding["grounded"]
    return verdict("finqa_program", verified, code=code, numbers=numbers, **grounding,
                   answer=answer, execution=result.evidence())  # fmt: skip


def step_label(matches: list[bool], rule: str) -> float | int:
    """Math-Shepherd: hard = 1 if any rollout reaches the gold answer else 0; soft = the share."""
    if rule == "hard":
        return int(any(matches))
    return round(sum(matches) / len(matches), 4) if matches else 0.0


async def reverify(verification: dict[str, Any], sandbox: Sandbox) -> bool:
    """Whether re-running the check from the stored evidence gives the stored verdict."""
    kind = verification.get("kind")
    check = _CHECKS.get(kind)  # type: ignore[arg-type]
    if check is None:
        raise ValueError(f"unknown verification kind {kind!r}")
    return await check(verification, sandbox)


async def _answer(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_answer(v["text"], v["gold"], v.get("last_number", True))
    return check["match"] == v["match"] == v["verified"]


async def _program(v: dict[str, Any], sandbox: Sandbox) -> bool:
    result = await sandbox.run(v["code"])
    extracted = program_answer(result.stdout) if result.ok else None
    match = answers_match(extracted, v["gold"])
    return match == v["match"] == v["verified"]


async def _tests(v: dict[str, Any], sandbox: Sandbox) -> bool:
    result = await run_tests(sandbox, v["code"], v["tests"])
    return result.ok == v["passed"] == v["verified"]


async def _cases(v: dict[str, Any], sandbox: Sandbox) -> bool:
    _, outputs = await call_function(sandbox, v["code"], v["func_name"], v["inputs"])
    return outputs == v["outputs"]


async def _generator(v: dict[str, Any], _: Sandbox) -> bool:
    from ..mathgen import regenerate

    item = regenerate(v["generator"], v["seed"], v["params"])
    return str(item["answer"]) == str(v["answer"])


async def _step_labels(v: dict[str, Any], _: Sandbox) -> bool:
    for step in v["steps"]:
        matches = [check_answer(r["text"], v["gold"])["match"] for r in step["rollouts"]]
        if matches != [r["match"] for r in step["rollouts"]]:
            return False
        if step_label(matches, v["rule"]) != step["label"]:
            return False
    return True


async def _tool_calls(v: dict[str, Any], sandbox: Sandbox) -> bool:
    from ..tools.execute import format_problems, run_calls

    if format_problems(v["calls"], v["tools"]):
        return v["verified"] is False
    # a host tool's (the model's) stored result is taken as it is, as the judge's verdict
    results, _ = await run_calls(sandbox, v["calls"], v["implementations"], recorded=v["results"])
    if results != v["results"]:
        return False
    passed = all("return" in r for r in results) and v["semantic"].get("passes") is True
    return passed == v["verified"]


async def _toolformer(v: dict[str, Any], sandbox: Sandbox) -> bool:
    from .toolformer import recheck

    return await recheck(v, sandbox)


async def _api_exists(v: dict[str, Any], sandbox: Sandbox) -> bool:
    from .api_refs import recheck

    return await recheck(v, sandbox)


async def _api_search(v: dict[str, Any], sandbox: Sandbox) -> bool:
    from .api_search import recheck

    return await recheck(v, sandbox)


async def _quotes(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_quotes(v["answer"], v["passage"])
    same = check["quotes"] == v["quotes"] and check["missing"] == v["missing"]
    return same and check["verified"] == v["verified"]


async def _speedup(v: dict[str, Any], sandbox: Sandbox) -> bool:
    for code in (v["original"], v["code"]):
        _, outputs = await sandbox.call_function(
            code, v["func_name"], v["inputs"], v["call_timeout_s"]
        )
        if outputs != v["outputs"]:
            return False
    stats = speedup_test(v["original_s"], v["edited_s"], v["min_speedup"], v["alpha"])
    same = stats["speedup"] == v["speedup"] and stats["p_value"] == v["p_value"]
    return same and stats["significant"] == v["verified"]


def chart_verdict(table: dict[str, Any], kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """A chart question whose answer is computed from the chart's data table."""
    from ..media.chart_questions import answer, question_text

    return verdict("chart_qa", True, table=table, question_kind=kind, args=args,
                   question=question_text(table, kind, args), answer=answer(table, kind, args))  # fmt: skip


async def _chart_qa(v: dict[str, Any], _: Sandbox) -> bool:
    from ..media.chart_questions import answer, question_text

    table, kind, args = v["table"], v["question_kind"], v["args"]
    same = question_text(table, kind, args) == v["question"] and (
        answer(table, kind, args) == v["answer"]
    )
    return same == v["verified"]


def scene_verdict(scene: dict[str, Any], kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """A counting, existence or spatial question answered from a scene graph."""
    from ..media.scene_questions import answer, question_text

    return verdict("scene_qa", True, scene=scene, question_kind=kind, args=args,
                   question=question_text(kind, args), answer=answer(scene, kind, args))  # fmt: skip


async def _scene_qa(v: dict[str, Any], _: Sandbox) -> bool:
    from ..media.scene_questions import answer, question_text

    scene, kind, args = v["scene"], v["question_kind"], v["args"]
    same = question_text(kind, args) == v["question"] and answer(scene, kind, args) == v["answer"]
    return same == v["verified"]


def abstract_verdict(figure: str, seed: int) -> dict[str, Any]:
    """An abstract image (table, flowchart, route map, geometry) with its computed answer."""
    from ..media.abstract import make

    made = make(figure, seed)
    return verdict("abstract_image", True, figure=figure, seed=seed, spec=made["spec"],
                   question=made["question"], answer=made["answer"])  # fmt: skip


async def _abstract_image(v: dict[str, Any], _: Sandbox) -> bool:
    from ..media.abstract import make

    made = make(v["figure"], v["seed"])
    same = all(made[key] == v[key] for key in ("spec", "question", "answer"))
    return same == v["verified"]


async def _kg_path(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_path(v["question"], v["answer"], v["path"])
    return all(check[k] == v.get(k) for k in check if k != "verified") and (
        check["verified"] == v["verified"]
    )


async def _community_citations(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_citations(v["answer"], v["reports"], v["relevant"])
    same = all(check[k] == v.get(k) for k in ("cited", "unknown", "unsupported"))
    return same and check["verified"] == v["verified"]


async def _statute_citations(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_statute_citations(v["text"], v["retrieved"])
    same = check["cited"] == v.get("cited") and check["unknown"] == v.get("unknown")
    return same and check["verified"] == v["verified"]


async def _finqa_program(v: dict[str, Any], sandbox: Sandbox) -> bool:
    again = finqa_verdict(v["code"], v["numbers"], await sandbox.run(v["code"]))
    same_answer = (again["answer"] is None) == (v["answer"] is None) and (
        v["answer"] is None or answers_match(again["answer"], v["answer"])
    )
    same = same_answer and all(again[k] == v.get(k) for k in ("ungrounded", "grounded"))
    return same and again["verified"] == v["verified"]


async def _kg_answer(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_triple_answer(v["answer"], v["triple"])
    return check["names_object"] == v["names_object"] and check["verified"] == v["verified"]


def dialogue_state_verdict(
    goal: dict[str, Any],
    turns: list[dict[str, Any]],
    ontology: dict[str, list[str]],
    aliases: dict[str, str],
) -> dict[str, Any]:
    """A generated dialogue's annotation checked against its user goal (``verify.dialogue_state``)."""
    check = check_state(goal, turns, ontology, aliases)
    return verdict("dialogue_state", check.pop("verified"), goal=goal, turns=turns,
                   ontology=ontology, aliases=aliases, **check)  # fmt: skip


async def _dialogue_state(v: dict[str, Any], _: Sandbox) -> bool:
    check = check_state(v["goal"], v["turns"], v["ontology"], v["aliases"])
    same = check["belief_state"] == v["belief_state"] and check["problems"] == v["problems"]
    return same and check["verified"] == v["verified"]


async def _coq_proof(v: dict[str, Any], sandbox: Sandbox) -> bool:
    from .coq import check_proof

    return (await check_proof(sandbox, v["statement"], v["proof"]))["verified"] == v["verified"]


_CHECKS = {
    "answer": _answer,
    "program": _program,
    "tests": _tests,
    "cases": _cases,
    "generator": _generator,
    "step_labels": _step_labels,
    "tool_calls": _tool_calls,
    "api_exists": _api_exists,
    "api_search": _api_search,
    "quotes": _quotes,
    "speedup": _speedup,
    "chart_qa": _chart_qa,
    "scene_qa": _scene_qa,
    "abstract_image": _abstract_image,
    "kg_path": _kg_path,
    "kg_answer": _kg_answer,
    "community_citations": _community_citations,
    "toolformer": _toolformer,
    "dialogue_state": _dialogue_state,
    "coq_proof": _coq_proof,
    "statute_citations": _statute_citations,
    "finqa_program": _finqa_program,
}
