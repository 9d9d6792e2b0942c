"""Proof-Pile-2's rule-based filters: AlgebraicStack code files and math presence in web text.

Azerbayev et al., 2023, "Llemma: An Open Language Model For Mathematics" (arXiv 2310.10631,
§2 and Appendix A) built Proof-Pile-2 from arXiv, OpenWebMath and AlgebraicStack (source code
about mathematics). The code rules follow the authors' released processing scripts
(EleutherAI/math-lm, ``proof-pile-v2/source_code/process_source_code.py`` and
``process_github.py``):

- every file: at most 1,048,575 bytes and a numerical density (digits over non-whitespace
  characters) of at most 0.5;
- by extension: Python files must import numpy, scipy, sympy, sage, numba or numexpr; C
  files include FFTW, GSL or CBLAS; C++ files include a numerical library (Eigen, Boost,
  Armadillo, ...); TeX files have a sectioning command, no ``gnuplot``, no characters of
  non-Latin scripts and are not under a ``latex/`` folder; notebooks mention
  ``\\begin{equation}``, ``\\begin{align}`` or sympy; Lean files state a theorem, lemma or
  example and are no dependency copies; Isabelle theories state a theorem or lemma; Coq
  ``.v`` files have Coq keywords, no Verilog keywords and no "automatically generated"
  banner; Julia files are no JSON-lines and, above 100 kB, are test files of low numerical
  density; R files are no resource forks, XML or notebooks; Maple files are no XML; MATLAB
  ``.m`` files carry no Objective-C or C.

What differs: repository-level rules (banned repositories, Lean theorems of the LeanDojo test
split removed from files) and the notebook-to-Markdown conversion are left out; a file's
language is read from its extension.

The web rule keeps text that carries mathematics written as LaTeX or MathML-derived TeX
(``$...$`` holding a letter alone or a TeX sign ``^ _ \\ { } = < >``, so that prices are
not math; ``\\(...\\)``, ``\\[...\\]``, ``\\begin{equation}``, a TeX command such as
``\\frac``), the markup test OpenWebMath (Paster et al., 2023) runs before its MathScore
classifier; written from the paper's description (its list of markers was not at hand), and
without the classifier and the KenLM perplexity filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

MAX_BYTES = 1_048_575
MAX_NUMERICAL_DENSITY = 0.5
JULIA_LARGE = 100_000
NON_LATIN = re.compile("[\u0370-\u18aa\u3000-\U0001047f]")
TEX_MATH = re.compile(
    r"\$\$.+?\$\$|(?<![\\$\w])\$(?:[A-Za-z]|[^$\n]*?[\^_\\{}=<>][^$\n]*?)\$"
    r"|\\\(.+?\\\)|\\\[.+?\\\]"
    r"|\\begin\{(?:equation|align|eqnarray|gather|multline)\*?\}"
    r"|\\(?:frac|sqrt|sum|int|lim|binom|cdot|leq|geq|neq|alpha|beta|theta|lambda|pi|infty)\b",
    re.DOTALL,
)

PY_PACKAGES = ("numpy", "scipy", "sympy", "sage", "numba", "numexpr")
C_INCLUDES = ("#include <fftw.h>", "#include <rfftw.h>", "#include <gsl", "#include <cblas.h>")
CPP_INCLUDES = (
    "#include <adept_arrays.h>", "#include <adept.h>", "#include <alglib", "#include <boost",
    "#include <armadillo", "#include <blitz", "#include <Eigen", "#include <deal.II",
    "#include <dlib", "#include <NTL", "#include <mtl",
)  # fmt: skip
TEX_SECTIONS = (
    *(f"\\{cmd}{star}{{" for cmd in ("chapter", "section", "subsection", "subsubsection")
      for star in ("", "*")),
    "\\paragraph{",
    "\\subparagraph{",
)  # fmt: skip
NOTEBOOK_KEYWORDS = ("\\begin{equation}", "\\begin{align}", "import sympy", "from sympy")
COQ_KEYWORDS = ("Theorem", "Proof", "Qed", "Inductive", "Definition", "Fixpoint")
VERILOG_KEYWORDS = ("pragma", "endmodule", "posedge", "negedge", "wire")
OBJC_KEYWORDS = ("#import", "@interface", "@implementation", "@property")
R_REFERENCE_DESIGN = re.compile(r"Requirement\s+\{\s+Identifier")


def numerical_density(text: str) -> float:
    """Digits over the non-whitespace characters."""
    compact = "".join(text.split())
    return sum(c.isdigit() and c.isascii() for c in compact) / max(1, len(compact))


def _any(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


def _python(text: str, path: str) -> str | None:
    imports = tuple(f"{verb} {p}" for p in PY_PACKAGES for verb in ("import", "from"))
    return None if _any(text, imports) else "no numerical import"


def _c(text: str, path: str) -> str | None:
    return None if _any(text, C_INCLUDES) else "no numerical include"


def _cpp(text: str, path: str) -> str | None:
    return None if _any(text, CPP_INCLUDES) else "no numerical include"


def _tex(text: str, path: str) -> str | None:
    if "latex/" in path:
        return "generated latex folder"
    if NON_LATIN.search(text):
        return "non-Latin script"
    if "gnuplot" in text:
        return "gnuplot output"
    return None if _any(text, TEX_SECTIONS) else "no sectioning command"


def _notebook(text: str, path: str) -> str | None:
    return None if _any(text.lower(), NOTEBOOK_KEYWORDS) else "no math keyword"


def _lean(text: str, path: str) -> str | None:
    if "_target/deps/" in path:
        return "dependency copy"
    return None if _any(text, ("theorem ", "lemma ", "example ")) else "no theorem"


def _isabelle(text: str, path: str) -> str | None:
    return None if _any(text, ("theorem ", "lemma ")) else "no theorem"


def _coq(text: str, path: str) -> str | None:
    if not _any(text, COQ_KEYWORDS):
        return "no Coq keyword"
    if _any(text, VERILOG_KEYWORDS):
        return "Verilog"
    return "generated" if "This file was automatically generated" in text else None


def _julia(text: str, path: str) -> str | None:
    if text[:1] in ("%", "{", "["):
        return "not Julia"
    if len(text.encode("utf-8")) >= JULIA_LARGE:
        lines = text.count("\n") + 1
        test = "@test" in text and text.count("@test") / lines >= 0.1
        if not (test and numerical_density(text) <= 0.5):
            return "large non-test file"
    return None


def _r(text: str, path: str) -> str | None:
    if "/* Resource fork" in text or R_REFERENCE_DESIGN.search(text):
        return "not R"
    return "not R" if text.startswith(("<?xml", "{")) else None


def _maple(text: str, path: str) -> str | None:
    return "xml" if text.startswith("<?xml") else None


def _matlab(text: str, path: str) -> str | None:
    if _any(text, OBJC_KEYWORDS) or re.search(r"#include| main\(.*{$", text, re.MULTILINE):
        return "not MATLAB"
    return None


RULES: dict[str, Callable[[str, str], str | None]] = {
    ".py": _python, ".c": _c, ".h": _c, ".cpp": _cpp, ".cc": _cpp, ".cxx": _cpp,
    ".hpp": _cpp, ".hh": _cpp, ".tex": _tex, ".ipynb": _notebook, ".lean": _lean,
    ".thy": _isabelle, ".v": _coq, ".jl": _julia, ".r": _r, ".mpl": _maple, ".m": _matlab,
}  # fmt: skip


def code_reason(text: str, path: str) -> str | None:
    """Why AlgebraicStack's rules drop this file (None: kept)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        return "too large"
    if numerical_density(text) > MAX_NUMERICAL_DENSITY:
        return "numerical density"
    rule = RULES.get(PurePosixPath(path).suffix.lower())
    return rule(text, path) if rule else None


def web_reason(text: str) -> str | None:
    """Why the math-markup rule drops this text (None: it carries TeX math)."""
    return None if TEX_MATH.search(text) else "no math markup"
