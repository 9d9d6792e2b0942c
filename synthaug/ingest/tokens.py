"""Token counts for chunking, with the embedded model's own tokenizer.

The default is the tokenizer inside the GGUF of the embedded model (SmolLM2-135M-Instruct),
rebuilt with Hugging Face ``tokenizers`` from the file's vocabulary and merges: byte-level BPE
with GPT-2's pre-tokenizer, digits split one by one where the GGUF's ``tokenizer.ggml.pre``
says so (SmolLM, StarCoder). Any other byte-level BPE GGUF (``tokenizer.ggml.model`` =
``gpt2``) or a ``tokenizer.json`` file may be given instead. Special tokens are not added.

:class:`TokenCounter` counts a word's tokens together with the whitespace before it, and
remembers the count of every such piece it has seen: words repeat, so most are never
tokenized again. For byte-level BPE the sum is exactly the token count of the whole text (its
pre-tokenizer never joins a word's last character with the whitespace after it, so the text's
pre-tokens are those of its pieces); for other tokenizers it is the count word by word.

Reading a GGUF's vocabulary takes seconds (``gguf`` maps every field), so the rebuilt tokenizer
is kept as JSON under ``$XDG_CACHE_HOME/synthaug/tokenizers/``, keyed by the file's path, size
and modification time; loading it again takes a tenth of a second.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError, SynthaugError
from ..hashing import stable_hash
from ..io.writers import write_text_atomic

DIGITS_ONE_BY_ONE = {"smollm", "starcoder", "refact"}  # llama.cpp pre-tokenizer names
REMEMBERED = 1 << 20  # pieces whose count is kept, at most


class TokenCounter:
    """Tokens per word (with the whitespace before it), memoised."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.known: dict[str, int] = {}

    def word_counts(self, text: str, words: list[tuple[int, int]]) -> np.ndarray:
        """For each word span of ``text``, the tokens of the text from the previous word's end
        (or the start) to its own end."""
        pieces = [
            text[before:end] for before, (_, end) in zip(self._ends(words), words, strict=True)
        ]
        new = list({piece for piece in pieces if piece not in self.known})
        if new:
            if len(self.known) + len(new) > REMEMBERED:
                self.known.clear()
            encodings = self.tokenizer.encode_batch(new, add_special_tokens=False)
            self.known.update(zip(new, (len(e.ids) for e in encodings), strict=True))
        known = self.known
        return np.fromiter((known[piece] for piece in pieces), np.int64, len(pieces))

    @staticmethod
    def _ends(words: list[tuple[int, int]]) -> list[int]:
        return [0, *(end for _, end in words[:-1])]


@cache
def load_tokenizer(path: str | None = None) -> Any:
    """The ``tokenizers.Tokenizer`` of ``path`` (a ``.gguf`` or ``tokenizer.json``; default:
    the embedded model's GGUF), loaded once per process."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise SynthaugError(
            "ingest needs the ingest extra: pip install 'synthaug[ingest]'"
        ) from exc
    if path is None:
        from ..llm.local import default_model_path

        path = str(default_model_path())
    file = Path(path)
    if not file.is_file():
        raise InputError(path, "no such tokenizer file (give a .gguf or a tokenizer.json)")
    if file.suffix.lower() == ".json":
        try:
            return Tokenizer.from_file(path)
        except Exception as exc:  # the library raises plain Exceptions for a bad file
            raise InputError(path, f"not a tokenizer.json ({exc})") from None
    stat = file.stat()
    cached = (
        _cache_folder()
        / f"{file.stem}-{stable_hash([str(file.resolve()), stat.st_size, stat.st_mtime_ns], 16)}.json"
    )
    if cached.is_file():
        return Tokenizer.from_file(str(cached))
    tokenizer = _from_gguf(file)
    with contextlib.suppress(OutputError):  # a read-only cache folder: rebuild next time
        write_text_atomic(cached, tokenizer.to_str())
    return tokenizer


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "synthaug" / "tokenizers"


def _from_gguf(path: Path) -> Any:
    from gguf import GGUFReader
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    try:
        reader = GGUFReader(path)
    except Exception as exc:  # gguf raises ValueError, struct errors and more for a bad file
        raise InputError(path, f"not a GGUF file ({exc})") from None

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        if field is None:
            raise InputError(path, f"the GGUF has no {key}")
        return field.contents()

    kind = value("tokenizer.ggml.model")
    if kind != "gpt2":
        raise InputError(path, f"tokenizer '{kind}' is not byte-level BPE: give a tokenizer.json")
    tokens = value("tokenizer.ggml.tokens")
    merges = [tuple(merge.split(" ", 1)) for merge in value("tokenizer.ggml.merges")]
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pre = reader.fields.get("tokenizer.ggml.pre")
    if pre is not None and pre.contents() in DIGITS_ONE_BY_ONE:
        digits = pre_tokenizers.Digits(individual_digits=True)
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer
