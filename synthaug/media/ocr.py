"""Legibility of an image's text by OCR (RapidOCR, Apache-2.0: PaddleOCR's detection and
recognition models run with ONNX Runtime, shipped in the ``rapidocr-onnxruntime`` wheel).

``legibility`` reads the picture and says, per expected label (a chart's title and axis
labels), whether OCR found it: the label and an OCR line match when, lowercased with
everything but letters and digits removed, the line contains the label or their similarity
(``difflib`` ratio) reaches the threshold.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import SynthaugError

ENGINE = "rapidocr-onnxruntime"
INSTALL = "the OCR check needs the ocr extra: pip install 'synthaug[ocr]'"
_LOCK = threading.Lock()  # one recognition at a time through the shared engine


def require() -> None:
    """A one-line error when the OCR package is missing."""
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        raise SynthaugError(INSTALL)


@cache
def _engine() -> Any:
    require()
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def found(label: str, lines: list[str], threshold: float) -> bool:
    """Whether ``label`` is among the OCR ``lines`` (see the module's doc)."""
    want = _key(label)
    for line in map(_key, lines):
        if want and want in line:
            return True
        if difflib.SequenceMatcher(None, want, line).ratio() >= threshold:
            return True
    return False


def read(path: Path) -> list[str]:
    """The text lines OCR reads in the picture at ``path``."""
    with _LOCK:
        result, _ = _engine()(str(path))
    return [item[1] for item in result or []]


def legibility(path: Path, labels: dict[str, str], threshold: float = 0.8) -> dict[str, Any]:
    """``{"engine", "read", "legible": {name: bool}, "passed"}`` for ``labels`` in the picture."""
    lines = read(path)
    legible = {name: found(text, lines, threshold) for name, text in labels.items()}
    return {"engine": ENGINE, "read": lines, "legible": legible, "passed": all(legible.values())}
