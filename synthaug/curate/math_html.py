"""HTML pages to text that keeps their mathematics as LaTeX (Minerva's web data).

Lewkowycz et al., 2022, "Solving Quantitative Reasoning Problems with Language Models"
(Minerva, arXiv 2206.14858, §2): web pages with mathematics were processed so that the math
survives as LaTeX-like text (MathJax sources) while the other HTML is removed, instead of
the usual text extraction that drops formulas. Their processing code is not released; this
follows the description:

- ``<script type="math/tex">`` (MathJax 2 sources; ``; mode=display`` for display math)
  becomes ``$...$`` / ``$$...$$``, and the rendered copies MathJax and KaTeX put beside the
  source (``.MathJax_Preview``, ``.MathJax``, ``mjx-container``, ``.katex-html``) are dropped;
- MathML becomes ``$...$`` from its ``alttext`` or its ``application/x-tex`` annotation;
- a formula image (``img`` with class ``tex``/``latex`` or a ``latex`` source) becomes its
  ``alt`` text in ``$...$``;
- TeX already in the text (``$...$``, ``\\(...\\)``, ``\\[...\\]``) is text and stays;
- everything else goes through trafilatura's main-content extraction (boilerplate such as
  navigation and footers removed), which needs the ``ingest`` extra.
"""

from __future__ import annotations

import importlib.util

import lxml.html
from lxml import etree

from ..errors import SynthaugError

RENDERED = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' MathJax_Preview ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' MathJax ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' MathJax_Display ')]"
    " | //mjx-container | //*[contains(concat(' ', normalize-space(@class), ' '), ' katex-html ')]"
)
INSTALL = "Minerva formatting needs trafilatura: pip install 'synthaug[ingest]'"


def require() -> None:
    """A one-line error when trafilatura is missing."""
    if importlib.util.find_spec("trafilatura") is None:
        raise SynthaugError(INSTALL)


def _replace(node: etree._Element, text: str) -> None:
    """Put ``text`` where ``node`` was (as a span, so the extractor keeps it inline)."""
    span = etree.Element("span")
    span.text = text
    span.tail = node.tail
    node.getparent().replace(node, span)


def _tex(source: str, display: bool) -> str:
    source = source.strip()
    return f"$${source}$$" if display else f"${source}$"


def math_as_tex(html: str) -> str:
    """``html`` with every formula written as TeX text (see the module doc)."""
    if not html.strip():
        return ""
    root = lxml.html.fromstring(html)
    for node in root.xpath(RENDERED):
        node.drop_tree()  # keeps its tail text
    for script in root.xpath("//script[starts-with(normalize-space(@type), 'math/tex')]"):
        _replace(script, _tex(script.text or "", "mode=display" in (script.get("type") or "")))
    for math in root.xpath("//*[local-name()='math']"):
        annotation = math.xpath(".//*[local-name()='annotation'][@encoding='application/x-tex']")
        source = math.get("alttext") or (annotation[0].text if annotation else None)
        if source:
            _replace(math, _tex(source, math.get("display") == "block"))
    for img in root.xpath("//img[@alt]"):
        kind = f"{img.get('class', '')} {img.get('src', '')}".lower()
        if "tex" in kind.split() or "latex" in kind:
            _replace(img, _tex(img.get("alt", ""), False))
    return lxml.html.tostring(root, encoding="unicode")


def minerva_text(html: str) -> str:
    """The page's main text with its mathematics kept as LaTeX ("" when it has no text)."""
    require()
    import trafilatura

    page = math_as_tex(html)
    if not page:
        return ""
    text = trafilatura.extract(page, favor_recall=True, include_comments=False, include_tables=True)
    return text or ""
