"""The green list of Kirchenbauer et al., 2023 ("A Watermark for Large Language Models",
arXiv 2301.10226), shared by the logits processor that writes a watermark and the detector
that reads it.

At each step the previous token ``t`` seeds a random generator (``key * t``, the authors'
``hash_key`` 15485863, the paper's "hash of the previous token"); a permutation of the
vocabulary drawn from it gives the **green list**, its first ``gamma * |V|`` tokens. The
generator adds ``delta`` to the green tokens' logits (soft watermark); the detector counts
green tokens and tests z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma)). The paper's
defaults: gamma 0.25, delta 2.0, and z > 4 for detection.

The permutation is ``torch.randperm`` under a ``torch.Generator`` seeded as above, as in the
authors' reference implementation (``lm-watermarking``, ``WatermarkBase``), so a text
watermarked by their code scores the same here; torch (the ``sft`` extra) is imported
on first use.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import pairwise
from typing import Any

from ..errors import BackendUnavailable

GAMMA = 0.25  # the paper's green-list fraction
DELTA = 2.0  # the paper's logit bias
HASH_KEY = 15485863  # the authors' hash key (a large prime)
Z_THRESHOLD = 4.0  # the paper's detection threshold
INSTALL = "watermarking needs torch and transformers: pip install 'synthaug[sft]'"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(INSTALL) from exc
    return torch


@lru_cache(maxsize=2048)  # ~100 kB per list for a 50k vocabulary
def green_list(previous: int, vocab_size: int, gamma: float = GAMMA, key: int = HASH_KEY) -> Any:
    """The green token ids after token ``previous`` (a torch tensor of ``int(gamma * |V|)``)."""
    torch = _torch()
    generator = torch.Generator()
    generator.manual_seed(key * int(previous))
    permutation = torch.randperm(vocab_size, generator=generator)
    return permutation[: int(vocab_size * gamma)].clone()  # not a view: the cache keeps a quarter


def z_score(green: int, scored: int, gamma: float = GAMMA) -> float:
    """The one-proportion z statistic of ``green`` green tokens among ``scored``."""
    if scored <= 0:
        return 0.0
    return (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma))


def score_tokens(
    token_ids: list[int], vocab_size: int, gamma: float = GAMMA, key: int = HASH_KEY
) -> dict[str, Any]:
    """The detector on a token sequence: every token after the first is scored against the
    green list of the token before it."""
    flags = [
        bool((green_list(prev, vocab_size, gamma, key) == token).any())
        for prev, token in pairwise(token_ids)
    ]
    green = sum(flags)
    return {
        "tokens_scored": len(flags),
        "green_tokens": green,
        "green_fraction": round(green / len(flags), 4) if flags else 0.0,
        "z_score": round(z_score(green, len(flags), gamma), 4),
    }
