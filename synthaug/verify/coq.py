"""Coq statements and proofs checked by ``coqc``, in the sandbox.

The statement and the proof are model-written text, so each check is a ``.v`` file run by
``coqc`` in the sandbox (``Sandbox.run_command``: no network, no host files but the Coq
installation, limits). Two rules keep the file's own checks in charge:

- a **statement** is one sentence ``Theorem NAME BINDERS : CONCLUSION.`` (``Lemma`` too),
  without comments, strings or a second sentence;
- a **proof** is tactics only: every sentence starts (after bullets and braces) with a
  lowercase letter or a goal selector, so no vernacular command (``Qed``, ``Admitted``,
  ``Axiom``, ``Load``, ``Redirect``, ``Drop``, ``Print`` ...) can run, and it has no string.

A proof is verified when the file ``HEADER + statement + Proof. proof Qed.`` compiles and
``Print Assumptions`` of the theorem, printed after a marker the proof cannot know, lists no
axiom of the file itself (the standard library's, e.g. the real numbers', are allowed).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from ..errors import SynthaugError
from .sandbox import ExecResult, Limits, Sandbox

HEADER = "From Coq Require Import Arith ZArith Reals Lia Lra Psatz.\n"
FILE = "Proof.v"
LIMITS = Limits(wall_s=60.0, cpu_s=30.0, memory_mb=2048, file_size_mb=64, disk_mb=128)
# the automatic tactics that try to prove False from a statement's hypotheses
CONTRADICTION_TACTICS = "solve [ lia | lra | nia | nra | congruence | contradiction | easy ]"
NOT_FAILED = "The command has not failed"
_IDENT = r"[A-Za-z_][A-Za-z0-9_']*"
_HEAD = re.compile(rf"^\s*(Theorem|Lemma)\s+({_IDENT})\s*")
_SENTENCE_END = re.compile(r"\.(?=\s|$)")
_BULLETS = re.compile(r"^[\s\-+*{}]*")
_TACTIC_START = re.compile(r"^(?:[a-z]|\d+\s*:|all\s*:|\(|\[)")
_FORBIDDEN_TACTICS = re.compile(r"\b(?:admit|give_up)\b")


class CoqUnavailable(SynthaugError):
    """``coqc`` is not installed: Coq statements and proofs cannot be checked."""


@functools.cache
def coqc() -> str | None:
    """The ``coqc`` program's real path, or None."""
    found = shutil.which("coqc")
    return os.path.realpath(found) if found else None


def require_coqc() -> str:
    """``coqc``'s path; raises ``CoqUnavailable`` (one line) when it is missing."""
    path = coqc()
    if path is None:
        raise CoqUnavailable("cannot check Coq proofs: coqc is not installed (apt-get install coq)")
    return path


@functools.cache
def read_only_paths() -> tuple[str, ...]:
    """What ``coqc`` reads outside the sandbox's root: itself, findlib's configuration (the
    plugins are found through it) and the standard library where it is not under ``/usr/lib``."""
    program = require_coqc()
    where = subprocess.run([program, "-where"], capture_output=True, text=True, timeout=30)
    paths = [program, os.environ.get("OCAMLFIND_CONF", "/etc/ocamlfind.conf"),
             "/etc/ocamlfind.conf.d", where.stdout.strip()]  # fmt: skip
    kept = [p for p in paths if p and os.path.exists(p)]
    return tuple(p for p in kept if not p.startswith("/usr/lib/"))


@dataclass(frozen=True)
class Statement:
    """``Theorem name binders : conclusion.``"""

    name: str
    binders: str  # "(x : nat) (h0 : x + 3 = 5)", or ""
    conclusion: str

    def text(self, name: str | None = None) -> str:
        binders = f" {self.binders}" if self.binders else ""
        return f"Theorem {name or self.name}{binders} : {self.conclusion}."

    def negation(self) -> Statement:
        """``~ (forall binders, conclusion)``: proving it refutes the statement."""
        body = f"forall {self.binders}, {self.conclusion}" if self.binders else self.conclusion
        return Statement(f"{self.name}_neg", "", f"~ ({body})")


def parse_statement(text: str) -> Statement:
    """The statement in ``text`` (one sentence); raises ``ValueError`` with the reason."""
    text = text.strip()
    if '"' in text or "(*" in text:
        raise ValueError("a statement has no strings or comments")
    head = _HEAD.match(text)
    if head is None:
        raise ValueError("a statement starts 'Theorem NAME'")
    ends = [m.start() for m in _SENTENCE_END.finditer(text)]
    if len(ends) != 1 or text[ends[0] + 1 :].strip():
        raise ValueError("a statement is one sentence ending in '.'")
    rest, depth, colon = text[head.end() : ends[0]], 0, -1
    for i, char in enumerate(rest):
        depth += (char in "({[") - (char in ")}]")
        if char == ":" and depth == 0 and rest[i + 1 : i + 2] != "=":
            colon = i
            break
    if colon < 0:
        raise ValueError("a statement has ': CONCLUSION'")
    binders, conclusion = rest[:colon].strip(), rest[colon + 1 :].strip()
    if binders and not (binders[0] in "({" and binders[-1] in ")}"):
        raise ValueError("binders are parenthesised, e.g. (x : nat)")
    if not conclusion:
        raise ValueError("the conclusion is empty")
    return Statement(head.group(2), " ".join(binders.split()), " ".join(conclusion.split()))


def proof_problem(proof: str) -> str | None:
    """Why ``proof`` is not a tactics-only proof, or None."""
    if not proof.strip():
        return "the proof is empty"
    if '"' in proof:
        return "a proof has no strings"
    if _FORBIDDEN_TACTICS.search(proof):
        return "the proof gives up a goal (admit)"
    text = re.sub(r"\(\*.*?\*\)", " ", proof, flags=re.S)
    for sentence in _SENTENCE_END.split(text):
        body = sentence[_BULLETS.match(sentence).end() :]  # type: ignore[union-attr]
        if body and not _TACTIC_START.match(body):
            return f"not a tactic: {body.split()[0][:40]!r}"
    return None


def proof_text(statement: Statement, proof: str) -> tuple[str, str]:
    """The file that checks ``proof`` of ``statement``, and the marker printed after the
    proof (a hash of the file: the proof cannot print it)."""
    body = f"{HEADER}{statement.text()}\nProof.\n{proof.strip()}\nQed.\n"
    marker = "synthaug-" + hashlib.sha256(body.encode()).hexdigest()[:24]
    tail = f'Goal True. idtac "{marker}". exact I. Qed.\nPrint Assumptions {statement.name}.\n'
    return body + tail, marker


def own_axioms(output: str, marker: str) -> list[str] | None:
    """The axioms ``Print Assumptions`` lists after ``marker`` that the file itself declares
    (unqualified names); None when the marker or the listing is missing."""
    if marker not in output:
        return None
    listing = output.split(marker, 1)[1]
    if "Closed under the global context" in listing:
        return []
    if "Axioms:" not in listing:
        return None
    names = [line.strip() for line in listing.split("Axioms:", 1)[1].splitlines()]
    names = [n for n in names if n and not n.startswith(":") and re.fullmatch(r"[\w.']+", n)]
    return [n for n in names if "." not in n]


async def compile_file(sandbox: Sandbox, text: str) -> ExecResult:
    """``coqc`` on ``text`` in the sandbox (``LIMITS``)."""
    program = require_coqc()
    return await sandbox.run_command([program, "-q", FILE], {FILE: text}, read_only_paths(), LIMITS)


async def check_proof(sandbox: Sandbox, statement: str, proof: str) -> dict[str, Any]:
    """``{"verified", "reason", "execution"}`` of ``proof`` for ``statement``."""
    try:
        parsed = parse_statement(statement)
    except ValueError as error:
        return {"verified": False, "reason": f"statement: {error}", "execution": None}
    if problem := proof_problem(proof):
        return {"verified": False, "reason": problem, "execution": None}
    text, marker = proof_text(parsed, proof)
    result = await compile_file(sandbox, text)
    axioms = own_axioms(result.stdout, marker) if result.ok else None
    if not result.ok:
        reason = f"coqc: {result.status}: {_first_error(result.stderr)}"
    elif axioms is None:
        reason = "no assumptions listing after the proof"
    elif axioms:
        reason = f"the proof rests on axioms of its own: {', '.join(axioms)}"
    else:
        reason = ""
    return {"verified": not reason, "reason": reason, "execution": result.evidence()}


async def check_statement(
    sandbox: Sandbox, statement: Statement, timeout_s: int = 10
) -> dict[str, Any]:
    """``{"compiles", "inconsistent", "execution"}``: whether the statement compiles (with
    ``Admitted``) and whether ``CONTRADICTION_TACTICS`` prove False from its hypotheses
    (its binders and the premises of its conclusion) within ``timeout_s``."""
    probe = statement.text(f"{statement.name}_hypotheses")
    text = (
        f"{HEADER}{statement.text()}\nProof.\nAdmitted.\n{probe}\nProof.\n"
        "repeat match goal with |- forall _, _ => intro end.\n"
        f"Fail timeout {timeout_s} (exfalso; {CONTRADICTION_TACTICS}).\nAbort.\n"
    )
    result = await compile_file(sandbox, text)
    inconsistent = not result.ok and NOT_FAILED in result.stdout + result.stderr
    return {
        "compiles": result.ok or inconsistent,
        "inconsistent": inconsistent,
        "execution": result.evidence(),
    }


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " ".join(lines[:4])[:300]
