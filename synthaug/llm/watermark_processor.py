"""The soft watermark as a ``transformers`` logits processor (Kirchenbauer et al., 2023):
``delta`` added to the logits of the green list that the previous token selects
(``synthaug.llm.watermark``). Importing this module imports transformers and torch.

Where it applies: a backend whose decoding loop takes a per-step logits hook. Of synthaug's
backends none does: llama.cpp (``local``, llama.cpp servers) takes a static ``logit_bias``
but no hook that sees the previous token, OpenVINO GenAI's continuous batching exposes no
logits callback in Python, and OpenAI-compatible endpoints take only ``logit_bias``. The
``transformers`` backend that would host it is not built yet; until then this processor
runs with ``model.generate(..., logits_processor=LogitsProcessorList([processor]))``.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from .watermark import DELTA, GAMMA, HASH_KEY, green_list


class WatermarkLogitsProcessor(LogitsProcessor):
    """Adds ``delta`` to the green-list logits of each sequence's next token."""

    def __init__(
        self, vocab_size: int, gamma: float = GAMMA, delta: float = DELTA, key: int = HASH_KEY
    ):
        self.vocab_size, self.gamma, self.delta, self.key = vocab_size, gamma, delta, key

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            green = green_list(int(input_ids[row, -1]), self.vocab_size, self.gamma, self.key)
            scores[row, green.to(scores.device)] += self.delta
        return scores
