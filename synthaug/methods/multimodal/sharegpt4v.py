"""ShareGPT4V detailed captions (Chen et al., 2023, "ShareGPT4V: Improving Large Multi-Modal
Models with Better Captions", arXiv 2311.12793) from a vision endpoint.

ShareGPT4V asks GPT4-Vision for highly descriptive captions of 100K images (COCO, LAION, SAM,
TextCaps, WikiArt, web landmarks and celebrities): a base prompt asks for a comprehensive
description covering objects and their attributes, counts, spatial relations, text in the
image, world knowledge (landmarks, artworks, people) and aesthetic qualities, and a
data-specific part adapts it to each source. The captions (about 942 characters on average)
replace the short captions in pre-training and SFT data; a Share-Captioner trained on them
extends the set to 1.2M.

Step here: ``sharegpt4v.caption``: per image, one request to the vision endpoint with the
captioning prompt; the caption is kept as ``detailed_caption`` and as a training turn pair
(``messages``: one of LLaVA's detailed-description instructions, drawn with the seed, then the
caption), the form in which ShareGPT4V's captions replace LLaVA's detailed descriptions in SFT.

Differences from the paper: the prompt is written for synthaug from the paper's description of
its prompt (the released prompt was not at hand; its first sentence is the Share-Captioner's
instruction as remembered); ``focus`` stands in for the data-specific part; the teacher is
whatever model the endpoint serves, not GPT4-Vision; no Share-Captioner is trained.
"""

from __future__ import annotations

from typing import Any

from ..registry import register
from .llava import DETAIL_INSTRUCTIONS
from .vision import VisionCaption

PAPER = "Chen et al., 2023, ShareGPT4V: Improving Large Multi-Modal Models with Better Captions (arXiv 2311.12793)"
PROMPT = (
    "Analyze the image in a comprehensive and detailed manner. Describe every object you see "
    "with its attributes (colour, shape, size, material) and how many there are, where each "
    "is in the frame and relative to the others, and transcribe any text. Where the image "
    "shows a landmark, an artwork or a well-known person, name it and add the world knowledge "
    "that explains it. End with the composition, lighting and aesthetic quality of the image. "
    "Describe only what the image shows."
)


@register("sharegpt4v.caption", taxonomy="synthesis / multimodal (VLM captions)",
          stage="pre-training / instruction tuning (multimodal)", paper=PAPER)  # fmt: skip
class Caption(VisionCaption):
    """A detailed caption of each image from a vision endpoint (``params.vision``).

    Input columns: ``image``. Output columns: ``detailed_caption``, ``messages``."""

    PROMPT = PROMPT
    COLUMN = "detailed_caption"
    writes = ("detailed_caption", "messages")

    def fields(self, caption: str, instruction: str, seed: int) -> dict[str, Any]:
        messages = [{"role": "user", "content": DETAIL_INSTRUCTIONS[seed % len(DETAIL_INSTRUCTIONS)]},
                    {"role": "assistant", "content": caption}]  # fmt: skip
        return {self.COLUMN: caption, "messages": messages}
