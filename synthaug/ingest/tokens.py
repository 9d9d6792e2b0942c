"""Token counts for chunking, with the embedded model's own tokenizer.

The default is the tokenizer inside the GGUF of the embedded model (SmolLM2-135M-Instruct),
rebuilt with Hugging Face ``tokenizers`` from the file's vocabulary and merges: byte-level BPE
with GPT-2's pre-tokenizer, digits split one by one where the GGUF's ``tokenizer.ggml.pre``
says so (SmolLM, StarCoder). Any other byte-level BPE GGUF (``tokenizer.ggml.model`` =
``gpt2``) or a ``tokenizer.json`` file may be given instead. Special tokens are not added.

:class:`TokenCounter` cuts a page into pieces, each a word (a run of non-whitespace) with
the whitespace before it, and counts each piece's tokens, remembering every piece it has seen:
words repeat, so most are never tokenized again. For byte-level BPE the running sum is exactly
the token count of the page up to each word's end: its pre-tokenizer never joins a word's last
character with the whitespace after it, so the page's pre-tokens are those of its pieces. (The
page encoded whole, with offsets, gives the same counts for more CPU time: 1.3x before the
offsets are even read into Python, measured in ``benchmarks/bench_ingest.py``.) It counts a word by itself the same way (a chunk's first
word, which loses the whitespace before it). A ``tokenizer.json`` of another kind gives exact
counts where its pre-tokenizer, too, always cuts at a word's end (whitespace-splitting ones do).

Reading a GGUF's vocabulary takes seconds (``gguf`` maps every field), so the rebuilt tokenizer
is kept as JSON under ``$XDG_CACHE_HOME/synthaug/tokenizers/``, keyed by the file's path, size
and modification time; loading it again takes a tenth of a second.
"""

from __future__ import annotations

import contextlib
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError, SynthaugError
from ..hashing import stable_hash
from ..io.writers import write_text_atomic

DIGITS_ONE_BY_ONE = {"smollm", "starcoder", "refact"}  # llama.cpp pre-tokenizer names
REMEMBERED = 1 << 20  # pieces whose count is kept, at most
PIECE = re.compile(r"\s*\S+")  # a word and the whitespace before it


class TokenCounter:
    """Tokens per piece of text, memoised; one per thread."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.known: dict[str, int] = {}

    def page(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``(start, end)`` of every word of ``text`` (shape ``(n, 2)``) and, for each word,
        the tokens of ``text`` up to its end."""
        pieces = PIECE.findall(text)
        ends = np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)))
        lengths = np.fromiter(map(len, map(str.lstrip, pieces)), np.int64, len(pieces))
        return np.stack((ends - lengths, ends), axis=1), np.cumsum(self.counts(pieces))

    def word(self, word: str) -> int:
        """The tokens of ``word`` by itself."""
        return int(self.counts([word])[0])

    def counts(self, pieces: list[str]) -> np.ndarray:
        """The tokens of each piece."""
        known = self.known
        new = set(pieces).difference(known)
        if new:
            if len(known) + len(new) > REMEMBERED:
                known.clear()
                new = set(pieces)
            new = list(new)
            encodings = self.tokenizer.encode_batch_fast(new, add_special_tokens=False)
            known.update(zip(new, map(len, encodings), strict=True))
        return np.fromiter(map(known.__getitem__, pieces), np.int64, len(pieces))


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
