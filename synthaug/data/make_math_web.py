"""Build ``math_web_pages.jsonl`` and ``math_seed.jsonl``: a small web crawl (HTML pages with
URLs on several hosts, some with mathematics) and a seed corpus of math text, the default
input of the math pre-training corpus steps (DeepSeekMath-style mining, Minerva formatting,
Proof-Pile-2 filters).

Run once at build time (not at run time)::

    python synthaug/data/make_math_web.py

Deterministic (no randomness beyond a fixed seed). Sources, all shipped in this folder:

- the 60 Wikipedia leads of ``encyclopedia.jsonl`` (CC BY-SA 3.0), each wrapped into an
  ``en.wikipedia.org/wiki/...`` page with navigation and a footer (``source`` keeps the
  revision URL for attribution);
- GSM-Symbolic style word problems and solutions from ``gsm_symbolic.jsonl`` (Apache-2.0),
  as plain-text question pages without LaTeX;
- two GSM8K test questions from ``benchmarks/gsm8k.jsonl`` (MIT) posted verbatim on a forum,
  so that decontamination has something to find;
- math statements in LaTeX (``FACTS``) and everyday non-math texts written for synthaug.

The pages put MathJax ``<script type="math/tex">``, ``\\(...\\)``, ``$...$``, ``$$...$$``
and MathML ``alttext`` math on forum and lecture-note hosts; one note is mirrored on another
host (a near duplicate).
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).parent
PAGES = HERE / "math_web_pages.jsonl"
SEED = HERE / "math_seed.jsonl"

FACTS = [
    r"The derivative of $x^n$ is $n x^{n-1}$ for every integer $n \geq 1$.",
    r"By the Pythagorean theorem, $a^2 + b^2 = c^2$ for a right triangle with hypotenuse $c$.",
    r"The roots of $ax^2 + bx + c = 0$ are $x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}$.",
    r"The integral $\int_0^1 x^2 \, dx$ equals $\frac{1}{3}$.",
    r"Euler's identity states that $e^{i\pi} + 1 = 0$.",
    r"The sum of the first $n$ integers is $\sum_{k=1}^{n} k = \frac{n(n+1)}{2}$.",
    r"A matrix $A$ is invertible if and only if $\det(A) \neq 0$.",
    r"The limit $\lim_{x \to 0} \frac{\sin x}{x} = 1$ follows from the squeeze theorem.",
    r"For a geometric series with $|r| < 1$, $\sum_{k=0}^{\infty} r^k = \frac{1}{1-r}$.",
    r"The binomial theorem gives $(a+b)^n = \sum_{k=0}^{n} \binom{n}{k} a^k b^{n-k}$.",
    r"If $f$ is continuous on $[a,b]$, then $\int_a^b f'(x)\,dx = f(b) - f(a)$.",
    r"Every prime $p > 2$ is odd, so $p \equiv 1$ or $p \equiv 3 \pmod 4$.",
    r"The eigenvalues $\lambda$ of $A$ solve $\det(A - \lambda I) = 0$.",
    r"The variance is $\operatorname{Var}(X) = E[X^2] - (E[X])^2$.",
    r"By the chain rule, $\frac{d}{dx} f(g(x)) = f'(g(x))\, g'(x)$.",
    r"There are $\binom{n}{k} = \frac{n!}{k!(n-k)!}$ ways to choose $k$ of $n$ objects.",
    r"The harmonic series $\sum_{n=1}^{\infty} \frac{1}{n}$ diverges.",
    r"The Taylor series of $e^x$ is $\sum_{n=0}^{\infty} \frac{x^n}{n!}$.",
    r"A group $G$ of prime order $p$ is cyclic, since every $g \neq e$ generates $G$.",
    r"The area of a circle of radius $r$ is $\pi r^2$ and its circumference is $2\pi r$.",
    r"Integration by parts reads $\int u \, dv = uv - \int v \, du$.",
    r"The probability of the union is $P(A \cup B) = P(A) + P(B) - P(A \cap B)$.",
    r"For vectors, $\mathbf{u} \cdot \mathbf{v} = |\mathbf{u}| |\mathbf{v}| \cos\theta$.",
    r"The function $f(x) = x^3 - 3x$ has critical points where $f'(x) = 3x^2 - 3 = 0$.",
]
LEADS = [
    "Prove that the following holds.",
    "Can someone explain this step?",
    "I am stuck on a homework exercise.",
    "Why is this identity true?",
    "Here is a short proof.",
]
EVERYDAY = {
    "recipes.example.com/recipe": [
        "Chop two onions and fry them in olive oil until golden. Add garlic, tomatoes and "
        "basil, then let the sauce simmer while the pasta cooks.",
        "Whisk eggs with milk and a pinch of salt. Pour into a hot buttered pan and fold "
        "gently; serve the omelette with chives.",
        "Soak the beans overnight, rinse them and cook them slowly with bay leaves, "
        "carrots and celery until tender.",
        "Knead the dough until smooth, let it rise in a warm place, then shape the loaves "
        "and bake them until the crust is brown.",
        "Roast the vegetables with rosemary and lemon, then toss them with couscous and "
        "fresh mint for a light summer salad.",
        "Melt the chocolate over a water bath, fold in whipped cream and chill the mousse "
        "before serving it with berries.",
    ],
    "travel.example.com/guides": [
        "The old town is best explored on foot: narrow lanes lead from the harbour to the "
        "cathedral, with small cafes on every square.",
        "Take the morning ferry to the island, rent a bicycle at the pier and follow the "
        "coastal road to the lighthouse.",
        "In winter the mountain village is quiet; the ski lifts open in December and the "
        "hut at the top serves soup and tea.",
        "The museum district has three galleries and a botanical garden; buy a combined "
        "ticket at the main entrance.",
        "Night trains connect the capital with the northern lakes; book a sleeper cabin "
        "early during the summer holidays.",
        "The market opens at dawn; farmers sell cheese, honey and flowers under the "
        "arcades of the town hall.",
    ],
    "sports.example.com/news": [
        "The home team won the derby after a late header from their captain, and the fans "
        "celebrated long after the final whistle.",
        "The marathon runners set off in light rain; the favourite broke away at the "
        "harbour and never looked back.",
        "After a long injury break the tennis player returned with a confident win in "
        "straight sets on the clay court.",
        "The cycling team presented its new jerseys and announced the riders for the "
        "spring classics.",
        "The swimming club opened its renovated pool with a relay race between the junior "
        "and senior squads.",
        "A young goalkeeper saved two penalties and sent her team to the cup final.",
    ],
    "mathqa.example.org/users": [
        "Member since 2019. I teach piano and like hiking in the hills with my dog.",
        "Hobby gardener and amateur photographer. Profile picture taken at the coast.",
        "Student from the north. I enjoy football, films and long train journeys.",
        "Retired librarian who reads crime novels and bakes bread on Sundays.",
        "Software tester by day, choir singer by night. Coffee enthusiast.",
        "I volunteer at the animal shelter and collect old postcards.",
    ],
    "homework-help.example.net/blog": [
        "Five tips for a calm exam week: sleep enough, plan short breaks, eat well and "
        "keep your phone in another room while you revise.",
        "How to build a study group that works: agree on goals, meet at a fixed time and "
        "rotate who leads the session.",
        "Our tutors are back from the summer break; the reading room opens again on "
        "Monday morning.",
        "A note on handwriting: neat notes are easier to review, so leave wide margins "
        "and date every page.",
        "Parents often ask how much homework is too much; talk with the teacher and look "
        "for signs of stress.",
        "We are moving to a new office in the city centre next month; the website stays the same.",
    ],
}


def page(title: str, body: str, nav: str = "Home | About | Contact") -> str:
    return (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title>"
        '<script src="/static/site.js"></script><style>body{font-family:serif}</style>'
        f"</head><body><nav>{nav}</nav><main><article><h1>{html.escape(title)}</h1>"
        f"{body}</article></main><footer>Copyright the authors. Terms | Privacy</footer>"
        "</body></html>"
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def mathjax(fact: str, style: str) -> str:
    """``fact`` with its ``$...$`` math in one of the ways pages carry LaTeX."""
    parts = re.split(r"\$([^$]+)\$", html.escape(fact, quote=False))
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif style == "script":
            out.append(
                f'<span class="MathJax_Preview">{part}</span>'
                f'<script type="math/tex">{part}</script>'
            )
        elif style == "paren":
            out.append(f"\\({part}\\)")
        elif style == "mathml":
            out.append(f'<math alttext="{part}"><mi>{part[:1]}</mi></math>')
        else:
            out.append(f"${part}$")
    return "".join(out)


def main() -> None:
    rng = random.Random(0)
    rows: list[dict[str, str]] = []
    for lead in (json.loads(x) for x in (HERE / "encyclopedia.jsonl").open(encoding="utf-8")):
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in lead["text"].split("\n") if p)
        nav = "Main page | Contents | Random article"
        rows.append({
            "url": "https://en.wikipedia.org/wiki/" + lead["title"].replace(" ", "_"),
            "html": page(lead["title"], paragraphs, nav),
            "source": lead["url"],
        })  # fmt: skip
    for host, texts in EVERYDAY.items():
        for text in texts:
            title = text.split(".")[0][:50]
            rows.append(
                {"url": f"https://{host}/{slug(title)}", "html": page(title, f"<p>{text}</p>")}
            )

    facts = list(range(len(FACTS)))
    for i in range(12):  # forum questions with MathJax
        a, b = rng.sample(facts, 2)
        style = ("script", "paren", "script", "mathml")[i % 4]
        body = (f"<p>{LEADS[i % len(LEADS)]} {mathjax(FACTS[a], style)}</p>"
                f'<div class="answer"><p>{mathjax(FACTS[b], style)}</p></div>')  # fmt: skip
        title = f"Question about {slug(FACTS[a])[:24].replace('-', ' ')}"
        rows.append({"url": f"https://mathqa.example.org/questions/{1000 + i}/{slug(title)}",
                     "html": page(title, body, "Questions | Tags | Users")})  # fmt: skip
    problems = [json.loads(x) for x in (HERE / "gsm_symbolic.jsonl").open(encoding="utf-8")]
    for i, problem in enumerate(problems[0:40:5]):  # forum word problems, no LaTeX
        solution = "".join(f"<p>{html.escape(s)}</p>" for s in problem["solution"].split("\n"))
        body = f'<p>{html.escape(problem["question"])}</p><div class="answer">{solution}</div>'
        rows.append({"url": f"https://mathqa.example.org/questions/{2000 + i}/word-problem",
                     "html": page("Word problem", body, "Questions | Tags | Users"),
                     "source": problem["id"]})  # fmt: skip
    gsm8k = [json.loads(x) for x in (HERE / "benchmarks" / "gsm8k.jsonl").open(encoding="utf-8")]
    for i, item in enumerate(gsm8k[:2]):  # a benchmark question posted verbatim
        body = f"<p>Need help with this one: {html.escape(item['question'])}</p>"
        rows.append({"url": f"https://mathqa.example.org/questions/{3000 + i}/help",
                     "html": page("Help with a problem", body, "Questions | Tags | Users"),
                     "source": f"gsm8k test {item['id']}"})  # fmt: skip
    for i, problem in enumerate(problems[100:200:7]):  # a homework site's word problems
        solution = "".join(f"<p>{html.escape(s)}</p>" for s in problem["solution"].split("\n"))
        body = f"<p>{html.escape(problem['question'])}</p><h2>Solution</h2>{solution}"
        rows.append({"url": f"https://homework-help.example.net/word-problems/{i + 1}",
                     "html": page(f"Word problem {i + 1}", body), "source": problem["id"]})  # fmt: skip
    notes = []
    for i in range(8):  # lecture notes with $...$
        chosen = rng.sample(facts, 3)
        body = "".join(f"<p>{mathjax(FACTS[k], 'dollar')}</p>" for k in chosen)
        body += f"<p>$${html.escape(FACTS[chosen[0]].split('$')[1])}$$</p>"
        title = f"Lecture {i + 1}: notes"
        notes.append(body)
        rows.append({"url": f"https://calculus-notes.example.edu/notes/lecture-{i + 1}",
                     "html": page(title, body, "Course | Notes | Exercises")})  # fmt: skip
    rows.append({"url": "https://notes-mirror.example.net/calculus/lecture-3.html",
                 "html": page("Lecture 3 notes (mirror)", notes[2], "Mirror home")})  # fmt: skip
    rng.shuffle(rows)
    write(PAGES, rows)

    seeds = []
    for i in range(40):  # the seed corpus: OpenWebMath-like text with LaTeX
        chosen = rng.sample(facts, 3)
        seeds.append({"text": " ".join(FACTS[k] for k in chosen), "id": f"seed-{i}"})
    write(SEED, seeds)
    print(f"{len(rows)} pages -> {PAGES}; {len(seeds)} seed texts -> {SEED}")


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as sink:
        for row in rows:
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
