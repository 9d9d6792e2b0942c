"""Watermark detection as a curation signal (Kirchenbauer et al., 2023, arXiv 2301.10226).

A text is tokenized with the generating model's tokenizer and scored by the green-list test
of ``synthaug.llm.watermark``: z > 4 (the paper's threshold) says the text was written with
the watermark (key, gamma) in force; human or unwatermarked text stays near z = 0. The
tokenizer is the model's own (a GGUF file's, read by ``transformers``, or a model folder's);
re-tokenizing a decoded text can split it differently from the generated tokens, which the
paper's detector accepts too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ..llm.local import default_model_path
from ..llm.watermark import GAMMA, HASH_KEY, Z_THRESHOLD, score_tokens


@cache
def load_tokenizer(path: str | None = None) -> Any:
    """The tokenizer of a GGUF file (default: the embedded model) or of a model folder."""
    from transformers import AutoTokenizer

    model = Path(path) if path else default_model_path()
    if model.suffix == ".gguf":
        return AutoTokenizer.from_pretrained(str(model.parent), gguf_file=model.name)
    return AutoTokenizer.from_pretrained(str(model))


def detect(
    text: str,
    tokenizer: Any,
    gamma: float = GAMMA,
    key: int = HASH_KEY,
    z_threshold: float = Z_THRESHOLD,
) -> dict[str, Any]:
    """The detector's counts and z-score for ``text``, and ``watermarked`` (z > threshold)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    result = score_tokens(ids, len(tokenizer), gamma, key)
    return {**result, "watermarked": result["z_score"] > z_threshold}
