"""Math pre-training corpus curation: Minerva formatting, DeepSeekMath mining, Proof-Pile-2
filters, and their recipes run through the CLI (no model; fastText and trafilatura real)."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from urllib.parse import urlsplit

import pytest
from conftest import read_jsonl, run_cli

from synthaug.curate.math_html import minerva_text
from synthaug.curate.math_mining import (
    FastTextConfig,
    MiningConfig,
    annotate,
    fasttext_line,
    math_domains,
    mine,
    url_prefix,
)
from synthaug.curate.proof_pile import code_reason, numerical_density, web_reason
from synthaug.engine.step import StepContext
from synthaug.methods.curation.math_corpus import ProofPileFilter
from synthaug.records import source_record

DATA = resources.files("synthaug") / "data"
# the recipe's settings for the tiny crawl (see deepseekmath_mining.yaml)
SMALL = FastTextConfig(lr=0.5, epochs=25, bucket=100_000)
MATH_PREFIXES = (
    "mathqa.example.org/questions",
    "calculus-notes.example.edu/notes",
    "notes-mirror.example.net/calculus",
    "homework-help.example.net/word-problems",
)


def is_math(url: str) -> bool:
    """Ground truth of the packaged crawl: math lives under these URL prefixes."""
    return url_prefix(url) in MATH_PREFIXES


@pytest.fixture(scope="module")
def crawl() -> tuple[list[str], list[str], list[str]]:
    pages = [json.loads(x) for x in (DATA / "math_web_pages.jsonl").open(encoding="utf-8")]
    seeds = [json.loads(x)["text"] for x in (DATA / "math_seed.jsonl").open(encoding="utf-8")]
    return [minerva_text(p["html"]) for p in pages], [p["url"] for p in pages], seeds


PAGE = """<!DOCTYPE html><html><head><title>Squares</title>
<script src="/site.js"></script><script>var tracker = 1;</script></head>
<body><nav>Home | Questions | Tags</nav><main><article><h1>Sum of squares</h1>
<p>We know that $x^2 \\geq 0$ for real $x$, and also \\(y^2 + 1 > 0\\).</p>
<p>MathJax writes <span class="MathJax_Preview">a2</span><script type="math/tex">a^2+b^2</script>
inline and shows <script type="math/tex; mode=display">\\int_0^1 x\\,dx = \\frac{1}{2}</script></p>
<p>MathML says <math alttext="e^{i\\pi}+1=0"><mi>e</mi></math> and a formula image
<img class="latex" src="/latex.php?x" alt="\\sqrt{2}"> closes it.</p>
<p>KaTeX: <span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>z</mi></mrow>
<annotation encoding="application/x-tex">z_1 z_2</annotation></semantics></math></span>
<span class="katex-html">z1z2</span></span>.</p>
</article></main><footer>Copyright 2024 | Privacy</footer></body></html>"""


def test_minerva_keeps_every_kind_of_math():
    text = minerva_text(PAGE)
    for tex in (
        "$x^2 \\geq 0$",
        "\\(y^2 + 1 > 0\\)",
        "$a^2+b^2$",
        "$$\\int_0^1 x\\,dx = \\frac{1}{2}$$",
        "$e^{i\\pi}+1=0$",
        "$\\sqrt{2}$",
        "$z_1 z_2$",
    ):
        assert tex in text, tex
    for gone in ("a2", "z1z2", "tracker", "Privacy", "Home | Questions"):
        assert gone not in text, gone
    assert minerva_text("") == "" and minerva_text("<html><body></body></html>") == ""


def test_minerva_on_the_packaged_pages(crawl):
    texts, urls, _ = crawl
    by_url = dict(zip(urls, texts, strict=True))
    notes = by_url["https://calculus-notes.example.edu/notes/lecture-1"]
    assert "$" in notes and "Course | Notes" not in notes
    wiki = by_url["https://en.wikipedia.org/wiki/Asia"]
    assert "Asia" in wiki and "Random article" not in wiki


def test_domain_rule_and_annotation():
    urls = [f"https://q.example.org/questions/{i}" for i in range(8)]
    urls += [f"https://q.example.org/users/{i}" for i in range(2)]
    urls += [f"https://big.example.com/page/{i}" for i in range(30)]
    collected = {0, 1, 2, 3, 4, 10, 11, 12}  # 5/10 of q, 3/30 = 10 % of big
    assert math_domains(urls, collected, 0.10) == {"q.example.org"}  # more than 10 %, strictly
    # questions: 5/8 collected >= 0.5 -> its 3 uncollected pages are annotated; users: 0/2
    assert annotate(urls, collected, {"q.example.org"}, 0.5) == {5, 6, 7}
    assert annotate(urls, collected, {"q.example.org"}, 0.7) == set()
    assert (
        url_prefix("https://www.mathoverflow.net/questions/12/title")
        == "mathoverflow.net/questions"
    )
    assert fasttext_line("Let $x^2$ be \\frac{a}{b}") == "let $ x ^ 2 $ be \\frac { a } { b }"


def test_mining_rounds_grow_the_seed_and_the_recall(crawl):
    texts, urls, seeds = crawl
    result = mine(texts, urls, seeds, MiningConfig(fasttext=SMALL), seed=0)
    first, last = result.rounds[0], result.rounds[-1]
    assert "mathqa.example.org" in first.math_domains
    assert "en.wikipedia.org" not in first.math_domains
    # the domain rule adds annotated pages to the seed, and each round trains on them
    assert sum(r.annotated for r in result.rounds) > 0
    for before, after in zip(result.rounds, result.rounds[1:], strict=False):
        assert after.positives == before.positives + before.annotated
    collected_math = [
        sum(
            is_math(urls[i])
            for i, first_seen in result.first_round.items()
            if first_seen <= r.round
        )
        for r in result.rounds
    ]
    assert collected_math[-1] > collected_math[0]  # later rounds recall math round 1 missed
    assert all(is_math(urls[i]) for i in result.collected)  # and nothing else
    assert last.collected == len(result.collected)
    scores = [result.scores[i] for i in result.collected]
    assert scores == sorted(scores, reverse=True) and min(scores) > 0.5
    again = mine(texts, urls, seeds, MiningConfig(fasttext=SMALL), seed=0)
    assert again.collected == result.collected and again.rounds == result.rounds


def test_budget_keeps_the_top_ranked(crawl):
    texts, urls, seeds = crawl
    config = MiningConfig(rounds=1, budget_words=300, fasttext=SMALL)
    result = mine(texts, urls, seeds, config, seed=0)
    assert 0 < sum(len(texts[i].split()) for i in result.collected) <= 300
    best = sorted(range(len(texts)), key=lambda i: -result.scores[i])[: len(result.collected)]
    assert set(best) == set(result.collected)


@pytest.mark.parametrize(
    ("path", "text", "reason"),
    [
        ("a/solve.py", "import numpy as np\nprint(np.linalg.inv(a))\n", None),
        ("a/web.py", "import flask\napp = flask.Flask(__name__)\n", "no numerical import"),
        ("a/fft.c", "#include <fftw.h>\nint main(void) { return 0; }\n", None),
        ("a/io.c", "#include <stdio.h>\nint main(void) { return 0; }\n", "no numerical include"),
        ("a/m.cpp", "#include <Eigen/Dense>\nEigen::MatrixXd m;\n", None),
        ("paper/main.tex", "\\section{Intro}\nLet $x>0$.\n", None),
        ("docs/latex/refman.tex", "\\section{Class}\n", "generated latex folder"),
        ("paper/plot.tex", "\\section{Plot}\n% gnuplot output\n", "gnuplot output"),
        ("paper/ru.tex", "\\section{Введение}\n", "non-Latin script"),
        ("paper/notes.tex", "Some text without sections.\n", "no sectioning command"),
        ("Basic.lean", "theorem add_zero' (n : Nat) : n + 0 = n := rfl\n", None),
        ("_target/deps/mathlib/B.lean", "lemma foo : True := trivial\n", "dependency copy"),
        ("Defs.lean", "def double (n : Nat) := 2 * n\n", "no theorem"),
        ("Main.thy", 'theory Main imports Main begin\nlemma "x = x" by simp\nend\n', None),
        ("Nat.v", "Theorem plus_O : forall n, n + 0 = n.\nProof. auto. Qed.\n", None),
        ("cpu.v", "module cpu(input wire clk);\nDefinition x.\nendmodule\n", "Verilog"),
        ("gen.v", "(* This file was automatically generated *)\nDefinition a := 1.\n", "generated"),
        ("data.jl", '{"a": 1}\n', "not Julia"),
        ("fit.jl", "using LinearAlgebra\nx = sqrt(2)\n", None),
        ("fork.r", "/* Resource fork */\n", "not R"),
        ("sheet.mpl", "<?xml version='1.0'?>\n", "xml"),
        ("App.m", "#import <Foundation/Foundation.h>\n@interface A\n", "not MATLAB"),
        ("fit.m", "x = linspace(0, 1);\ny = sin(x);\n", None),
        ("nb.ipynb", '{"cells": [{"source": "import sympy as sp"}]}', None),
        ("table.py", "import numpy\n" + "1234567890 " * 50, "numerical density"),
        ("notes.txt", "anything else\n", None),
        ("big.py", "import numpy\n" + "x" * 1_048_576, "too large"),
    ],
)
def test_algebraic_stack_rules(path, text, reason):
    assert code_reason(text, path) == reason


def test_web_rule_and_density():
    assert web_reason("so $a^2+b^2=c^2$ holds") is None
    assert web_reason("use \\frac{1}{2} here") is None
    assert web_reason("\\begin{align} x &= 1 \\end{align}") is None
    assert web_reason("It costs $5 and $10 at the market.") == "no math markup"
    assert web_reason("Chop two onions and fry them.") == "no math markup"
    assert numerical_density("ab 12") == 0.5


def _run(recipe: str, out, cwd):
    result = run_cli("run", recipe, "--out", str(out), "--quiet", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return read_jsonl(out)


def test_deepseekmath_recipe_end_to_end(tmp_path):
    out = tmp_path / "data.jsonl"
    rows = _run("deepseekmath_mining", out, tmp_path)
    urls = [r["url"] for r in rows]
    assert rows and all(is_math(u) for u in urls)
    assert all(r["math_score"] > 0.5 and r["mining_round"] >= 1 for r in rows)
    assert "$" in rows[0]["text"] and "html" not in rows[0]
    hosts = {urlsplit(u).netloc for u in urls}
    assert {"calculus-notes.example.edu", "mathqa.example.org"} <= hosts
    # near-dedup keeps one of the mirrored lecture notes; decontamination drops GSM8K posts
    mirrored = {"https://calculus-notes.example.edu/notes/lecture-3",
                "https://notes-mirror.example.net/calculus/lecture-3.html"}  # fmt: skip
    assert len(mirrored & set(urls)) <= 1
    assert not any("/questions/300" in u for u in urls)
    assert _run("deepseekmath_mining", out, tmp_path) == rows  # a rerun: the same records


def test_proof_pile_web_recipe_end_to_end(tmp_path):
    rows = _run("proof_pile_web", tmp_path / "data.jsonl", tmp_path)
    urls = {r["url"] for r in rows}
    assert all(web_reason(r["text"]) is None for r in rows)
    assert all(is_math(u) for u in urls) and not any("wikipedia" in u for u in urls)
    assert sum("/questions/10" in u for u in urls) == 12  # every forum question with LaTeX
    mirrored = {"https://calculus-notes.example.edu/notes/lecture-3",
                "https://notes-mirror.example.net/calculus/lecture-3.html"}  # fmt: skip
    assert len(mirrored & urls) == 1  # the mirror is a near duplicate


def test_proof_pile_step_on_code_rows():
    step = ProofPileFilter(kind="code", text_column="content", path_column="path")
    ctx = StepContext(llm=None, run_seed=0, step_name=step.name)
    files = {
        "solver.py": "from scipy.optimize import minimize\n",
        "server.py": "import socket\n",
        "Basic.lean": "theorem t : 1 = 1 := rfl\n",
    }
    kept = [
        row["path"]
        for i, (path, content) in enumerate(files.items())
        for row in asyncio.run(
            step.process(
                source_record({"path": path, "content": content}, source="t", index=i), ctx
            )
        )
    ]
    assert kept == ["solver.py", "Basic.lean"]
    assert step.input_columns() == {"content", "path"}
