"""DeepSeek-Prover's data pipeline (Xin et al., 2024, "DeepSeek-Prover: Advancing Theorem
Proving in LLMs through Large-Scale Synthetic Data", arXiv 2405.14333), with Coq.

The paper turns informal competition problems into formal statements and proofs:

1. **Autoformalization**: a model translates each problem into a formal statement.
2. **Quality filtering**: the model scores each statement (chain of thought, few-shot, a
   rating of excellent, good, above average, fair or poor; fair and poor are removed), and
   **hypothesis rejection** removes statements whose hypotheses are inconsistent: a
   statement whose conclusion replaced by ``False`` can be proved is vacuous.
3. **Statement proving**: proofs of the statement *and of its negation* are sampled and
   checked by the proof assistant; whichever is proved first ends the search, and the
   verified proofs become training data.
4. **Iteration**: the prover is fine-tuned on the new data and the loop repeats.

``prover.formalize`` (few-shot, with the gold answer) writes ``formal_statement``: one Coq
sentence ``Theorem problem BINDERS : CONCLUSION.`` (renamed ``problem``). ``prover.filter``
compiles it with ``Admitted`` and tries to prove ``False`` from its hypotheses (dropped as
``does_not_compile`` or ``inconsistent_hypotheses``), then asks the model for the rating
(dropped as ``low_quality``; ``score: false`` skips it) and writes ``quality`` and
``statement_check``. ``prover.prove`` samples ``k`` proofs of the statement, checks the
distinct ones with ``coqc`` in the sandbox until one is verified and, when none is, does the
same for its negation (the paper searches both at once and stops at the first proof), and
writes ``formal_proof``, ``proved`` (``statement`` or ``negation``), ``proof_attempts`` and
``verification`` (kind ``coq_proof``: ``synthaug verify`` re-checks it from the record);
a statement with no verified proof goes to the errors file as ``unproved``.

Different: Coq 8.16 with its standard library (Arith, ZArith, Reals, Lia, Lra, Psatz)
instead of Lean 4 and Mathlib (Lean with Mathlib does not install from a package
registry); GSM-style word problems with answers instead of competition problems; the
embedded 135M model prompted few-shot instead of DeepSeekMath 7B fine-tuned on MMA and
miniF2F-valid, so the statements are mostly arithmetic facts and the proofs mostly
``lia``/``lra`` copied from the exemplars. Hypothesis rejection tries automatic tactics
(``verify.coq.CONTRADICTION_TACTICS``, ``false_timeout_s`` each statement) instead of the
model's proof search. The loop's fine-tuning step is out of scope (train a student on the
output and run again); the proof budget (``k``), the temperature and the prompts are
written from memory, not from the authors' settings.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import one_prompt
from ...records import META
from ...verify import coq
from ...verify.evidence import verdict
from ..common.rows import dropped
from ..common.sampling import sample
from ..registry import register
from ..templates import render

PAPER = "Xin et al., 2024, DeepSeek-Prover: theorem proving data by autoformalization (arXiv 2405.14333)"
TAXONOMY = "synthesis / reasoning (formal statements and verified proofs)"
STAGE = "reasoning (SFT data)"
NAME = "problem"
RATINGS = ("excellent", "good", "above average", "fair", "poor")
RATING = re.compile(r"rating\s*:\s*(excellent|good|above average|fair|poor)", re.IGNORECASE)
_FENCE = re.compile(r"```[a-z]*")
# GBNF of a statement the small model can write: typed quantities, numbered hypotheses,
# (in)equations of arithmetic terms, over nat, Z or R, decimals only in R's scope
# (``constrained: false`` lifts it)
STATEMENT_GRAMMAR = r"""root ::= " "? "Theorem problem" binder{1,4} hyp{0,6} " : " goal "."
binder ::= " (" name (" " name){0,3} " : " ("nat" | "Z" | "R") ")"
hyp ::= " (h" [0-9] " : " goal ")"
goal ::= eq | "(" eq ")%Z" | "(" req ")%R"
eq ::= expr rel expr
expr ::= term (" " [-+*/] " " term){0,5}
term ::= name | [0-9]{1,7} | "(" expr ")"
req ::= rexpr rel rexpr
rexpr ::= rterm (" " [-+*/] " " rterm){0,5}
rterm ::= name | [0-9]{1,7} ("." [0-9]{1,3})? | "(" rexpr ")"
rel ::= " = " | " <= " | " < "
name ::= [a-z] [a-z0-9_]{0,11}"""
# GBNF of a proof: one to six sentences of the usual arithmetic tactics, then Qed (as in the
# exemplars, so the model can end the proof; ``read_proof`` cuts it off)
PROOF_GRAMMAR = r"""root ::= " "? tactic (" " tactic){0,5} " Qed."
tactic ::= ("lia" | "lra" | "nia" | "nra" | "subst" | "simpl" | "reflexivity" | "intros" | "ring" | "field" | "auto" | "easy" | "congruence" | "rewrite h" [0-9] | "rewrite <- h" [0-9]) "." """


def read_statement(reply: str) -> coq.Statement:
    """The first ``Theorem ... .`` sentence of a reply, renamed ``problem``; raises
    ``RowError`` when there is none or it does not parse."""
    text = _FENCE.sub("", reply)
    start = re.search(r"\b(?:Theorem|Lemma)\b", text)
    end = re.search(r"\.(?=\s|$)", text[start.end() :]) if start else None
    if start is None or end is None:
        raise RowError("no_statement", "the reply has no 'Theorem ... .' sentence")
    try:
        parsed = coq.parse_statement(text[start.start() : start.end() + end.end()])
    except ValueError as error:
        raise RowError("bad_statement", str(error)) from None
    return coq.Statement(NAME, parsed.binders, parsed.conclusion)


def read_proof(reply: str) -> str:
    """The tactics of a reply: up to ``Qed.`` (or the end), without a ``Proof.`` line."""
    text = _FENCE.sub("", reply).split("Qed.", 1)[0]
    return re.sub(r"^\s*Proof\.", "", text).strip()


def coq_verdict(statement: str, proof: str, check: dict[str, Any]) -> dict[str, Any]:
    """The ``verification`` of a checked proof (kind ``coq_proof``)."""
    return verdict("coq_proof", check["verified"], statement=statement, proof=proof,
                   reason=check["reason"], execution=check["execution"])  # fmt: skip


class FormalizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(160, ge=16)
    constrained: bool = True  # GBNF: STATEMENT_GRAMMAR (for backends with grammars)
    mode: Literal["completion", "chat"] = "completion"  # few-shot text continued, or a chat


@register("prover.formalize", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Formalize(MapStep):
    """DeepSeek-Prover: autoformalization of a problem and its answer into a Coq theorem."""

    Params = FormalizeParams
    reads = ("question", "answer")
    writes = ("formal_statement",)
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        coq.require_coqc()

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        prompt = render(__file__, "prover_formalize.j2", question=row["question"],
                        answer=row["answer"])  # fmt: skip
        request = one_prompt(prompt, p.mode, temperature=p.temperature,
                             max_tokens=p.max_tokens, stop=("\nProblem:",),
                             seed=ctx.seed(row[META]["id"]),
                             grammar=STATEMENT_GRAMMAR if p.constrained else None)  # fmt: skip
        statement = read_statement((await ctx.require_llm().complete(request)).text)
        return [self.derived(row, {"formal_statement": statement.text()}, ctx, [request])]


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: bool = True  # the model's quality rating (the paper's first filter)
    dropped_ratings: list[str] = Field(default_factory=lambda: ["fair", "poor"])
    false_timeout_s: int = Field(10, ge=1, le=60)  # the tactics' time to prove False
    max_tokens: int = Field(96, ge=16)
    reason_chars: int = Field(200, ge=1)  # the grammar's bound on the one-line reason
    constrained: bool = True  # GBNF: a reason line, then "Rating: <one of the five>"
    mode: Literal["completion", "chat"] = "completion"


@register("prover.filter", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Filter(MapStep):
    """DeepSeek-Prover: keep statements that compile, whose hypotheses are not contradictory
    and whose quality rating is not fair or poor."""

    Params = FilterParams
    reads = ("formal_statement",)
    writes = ("quality", "statement_check")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        coq.require_coqc()
        if unknown := set(self.params.dropped_ratings) - set(RATINGS):
            raise ValueError(f"dropped_ratings: unknown {sorted(unknown)}; use {list(RATINGS)}")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        try:
            statement = coq.parse_statement(row["formal_statement"])
        except ValueError as error:
            raise RowError("bad_statement", str(error)) from None
        check = await coq.check_statement(ctx.sandbox, statement, p.false_timeout_s)
        fields: dict[str, Any] = {"quality": None, "statement_check": check}
        if not check["compiles"]:
            return [dropped(self, row, "does_not_compile", "coqc rejects the statement", 0, fields)]
        if check["inconsistent"]:
            why = "automatic tactics prove False from the hypotheses"
            return [dropped(self, row, "inconsistent_hypotheses", why, 0, fields)]
        requests = []
        if p.score:
            request = self._rating_request(row, ctx)
            requests.append(request)
            found = RATING.findall((await ctx.require_llm().complete(request)).text)
            fields["quality"] = found[-1].lower() if found else None
            if fields["quality"] is None:
                raise RowError("no_rating", "the quality reply has no rating")
            if fields["quality"] in p.dropped_ratings:
                why = f"rated {fields['quality']}"
                return [dropped(self, row, "low_quality", why, 0, fields)]
        return [self.derived(row, fields, ctx, requests)]

    def _rating_request(self, row: dict[str, Any], ctx: StepContext):
        p = self.params
        choices = " | ".join(f'"{rating}"' for rating in RATINGS)
        grammar = f'root ::= [^\\n]{{1,{p.reason_chars}}} "\\nRating: " ({choices})'
        prompt = render(__file__, "prover_score.j2", question=row.get("question", ""),
                        statement=row["formal_statement"])  # fmt: skip
        return one_prompt(prompt, p.mode, temperature=0.0, max_tokens=p.max_tokens,
                          grammar=grammar if p.constrained else None,
                          seed=ctx.seed(row[META]["id"], "score"))  # fmt: skip


class ProveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(8, ge=1, le=128)  # proofs sampled per statement, and per negation
    negation: bool = True  # also try to prove the negated statement (the paper does)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(128, ge=8)
    constrained: bool = True  # GBNF: PROOF_GRAMMAR (for backends with grammars)
    mode: Literal["completion", "chat"] = "completion"


@register("prover.prove", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Prove(MapStep):
    """DeepSeek-Prover: sample proofs of the statement and of its negation, keep the first
    that ``coqc`` verifies."""

    Params = ProveParams
    reads = ("formal_statement",)
    writes = ("formal_proof", "proved", "proof_attempts", "verification")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        coq.require_coqc()

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        try:
            statement = coq.parse_statement(row["formal_statement"])
        except ValueError as error:
            raise RowError("bad_statement", str(error)) from None
        goals = [("statement", statement)]
        if p.negation:
            goals.append(("negation", statement.negation()))
        sent, attempts, last = [], 0, None
        for which, goal in goals:
            request = one_prompt(
                render(__file__, "prover_prove.j2", statement=goal.text()), p.mode,
                n=p.k, temperature=p.temperature, max_tokens=p.max_tokens, stop=("Qed.",),
                seed=ctx.seed(row_id, which), grammar=PROOF_GRAMMAR if p.constrained else None,
            )  # fmt: skip
            choices, parts = await sample(ctx.require_llm(), request)
            sent += parts
            for proof in dict.fromkeys(read_proof(choice.text) for choice in choices):
                attempts += 1
                check = await coq.check_proof(ctx.sandbox, goal.text(), proof)
                last = coq_verdict(goal.text(), proof, check)
                if check["verified"]:
                    fields = {"formal_proof": proof, "proved": which,
                              "proof_attempts": attempts, "verification": last}  # fmt: skip
                    return [self.derived(row, fields, ctx, sent)]
        fields = {"proof_attempts": attempts, "verification": last}
        why = f"no verified proof in {attempts} distinct attempts"
        return [dropped(self, row, "unproved", why, 0, fields)]
