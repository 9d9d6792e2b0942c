"""``openvino``: the batched local backend, OpenVINO GenAI's continuous-batching engine on CPU.

Chosen by measurement (``benchmarks/bench_engines.py``, RESULTS "Batched CPU engines"): on a
2-core CPU it generates ~5x the llama.cpp backend's tokens per second. OpenVINO GenAI reads
the GGUF itself (its GGUF reader builds the model and the tokenizer from the file, keeping
the Q4_1/Q8_0 weights quantised), so the embedded SmolLM2 needs no conversion and no torch;
an OpenVINO model folder (``optimum-cli export openvino``) works as well.

- One ``ContinuousBatchingPipeline`` serves every request: ``complete`` tokenises, adds the
  request to the running batch (``add_request``) and waits; one engine thread calls
  ``step()`` while requests are unfinished, so a finished sequence's slot is refilled at
  once and prompts of any length decode together. Prefix caching is on: prompts sharing a
  header (a recipe's system prompt, Self-Instruct's few-shot block) reuse its KV blocks.
- Precision: f32 compute on a CPU without AMX (its bf16 default is 1.6x slower there),
  bf16 with AMX; a GPU (OpenVINO's Intel GPU plugin) is used when present, at its default.
- Sampling follows llama.cpp's server defaults besides the request's temperature and
  top_p (top_k 40, min_p 0.05), so ``--backend`` switches the engine, not the distribution.
  Stop strings are cut from the decoded text as the OpenAI API does (text before the stop).
  ``json_schema`` and ``grammar`` (GBNF, which xgrammar's EBNF reads) use GenAI's
  structured output. Log-probabilities of the chosen tokens are the engine's own (raw,
  before any grammar mask, so a forced continuation is scored as llama.cpp scores it).
- Differs: the engine has no top-k alternatives, so a request with ``top_logprobs`` is
  answered by llama.cpp on the same GGUF (loaded on first need). Seeds: the engine has one
  sampler RNG per batch, reseeded by each seeded request, so a seeded sample depends on
  its batch partners; ``deterministic=True`` (one request at a time, no prefix caching)
  makes seeded samples reproducible. The request cache makes reruns reproducible either way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendUnavailable
from .backend import Backend, BackendCallError
from .local import LocalBackend, default_model_path
from .registry import register_backend
from .types import ChatRequest, Choice, Completion, TokenLogprob, Usage

INSTALL = "the openvino backend needs OpenVINO GenAI: pip install 'synthaug[openvino]'"
LLAMACPP_SAMPLING = {"top_k": 40, "min_p": 0.05}  # llama.cpp server defaults


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def compute_precision(device: str, flags: set[str]) -> str | None:
    """The inference precision to ask for: bf16 only where AMX runs it, else f32 on CPU."""
    if device != "CPU":
        return None  # the GPU plugin's own default (f16)
    return "bf16" if "amx_bf16" in flags else "f32"


class OpenVINOBackend(Backend):
    """OpenVINO GenAI continuous batching in-process; see the module docstring."""

    name = "openvino"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        max_num_seqs: int = 64,
        kv_cache_gb: float = 2.0,
        deterministic: bool = False,
    ):
        super().__init__()
        self.model_path = Path(model) if model else default_model_path()
        self.requested_device, self.max_num_seqs = device, max_num_seqs
        self.kv_cache_gb, self.deterministic = kv_cache_gb, deterministic
        self.max_concurrency = 1 if deterministic else 2 * max_num_seqs
        self.device: str | None = None
        self.precision: str | None = None
        self._engine: _Engine | None = None
        self._tokenizer: Any = None
        self._scorer: LocalBackend | None = None
        self._loading = asyncio.Lock()

    def identity(self, file_hash: Callable[[str], str]) -> str:
        if self.model_path.is_dir():
            weights = self.model_path / "openvino_model.bin"
            return f"openvino:ir:{file_hash(str(weights))}"
        return f"openvino:gguf:{file_hash(str(self.model_path))}"

    def describe(self) -> str:
        where = f" ({self.device}, {self.precision or 'default'})" if self.device else ""
        return f"openvino:{self.model_path.name}{where}"

    async def start(self) -> None:
        async with self._loading:
            if self._engine is None:
                self._engine = await asyncio.to_thread(self._load)

    def _load(self) -> _Engine:
        try:
            import openvino as ov
            import openvino_genai as genai
        except ImportError as exc:
            raise BackendUnavailable(INSTALL) from exc
        if not self.model_path.exists():
            raise BackendUnavailable(f"{self.model_path}: model not found")
        device = self.requested_device
        if device == "auto":
            device = "GPU" if "GPU" in ov.Core().available_devices else "CPU"
        self.device, self.precision = device, compute_precision(device, cpu_flags())
        scheduler = genai.SchedulerConfig()
        scheduler.max_num_seqs = 1 if self.deterministic else self.max_num_seqs
        scheduler.enable_prefix_caching = not self.deterministic
        scheduler.dynamic_split_fuse = True
        scheduler.cache_size = max(1, round(self.kv_cache_gb))
        properties = {"INFERENCE_PRECISION_HINT": self.precision} if self.precision else {}
        try:
            pipeline = genai.ContinuousBatchingPipeline(
                str(self.model_path), scheduler, device, properties
            )
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise BackendUnavailable(f"{self.model_path}: cannot load model ({reason})") from exc
        self._tokenizer = pipeline.get_tokenizer()
        return _Engine(pipeline, genai)

    async def complete(self, request: ChatRequest) -> Completion:
        if request.top_logprobs > 0:  # the engine gives no alternatives: llama.cpp does
            return await self._score(request)
        await self.start()
        assert self._engine is not None
        ids, config = self.prepare(request)
        self.calls += 1
        try:
            outputs = await asyncio.wrap_future(self._engine.submit(ids, config))
        except RuntimeError as exc:
            raise BackendCallError("server_error", str(exc)) from exc
        choices = [self._choice(output, request) for output in outputs]
        return Completion(
            choices=choices * (request.n // len(choices)),
            usage=Usage(
                prompt_tokens=int(ids.shape[1]),
                completion_tokens=sum(len(output.generated_ids) for output in outputs),
            ),
            model=self.model_path.name,
        )

    @property
    def pipeline(self) -> Any:
        """The started ``ContinuousBatchingPipeline`` (its thread steps it only for ``complete``)."""
        assert self._engine is not None, "start() first"
        return self._engine.pipeline

    def prepare(self, request: ChatRequest) -> tuple[Any, Any]:
        """The engine's input for ``request``: prompt token ids and a ``GenerationConfig``."""
        text = request.prompt
        if text is None:
            messages = list(request.messages or ())
            text = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return self._tokenizer.encode(text).input_ids, self._generation_config(request)

    def _generation_config(self, request: ChatRequest) -> Any:
        genai = self._engine.genai  # type: ignore[union-attr]
        config = genai.GenerationConfig()
        config.max_new_tokens = request.max_tokens
        # greedy samples are identical: one is computed and repeated
        config.num_return_sequences = request.n if request.temperature > 0 else 1
        config.do_sample = request.temperature > 0
        if config.do_sample:
            config.temperature, config.top_p = request.temperature, request.top_p
            config.top_k, config.min_p = LLAMACPP_SAMPLING["top_k"], LLAMACPP_SAMPLING["min_p"]
            seed = request.seed if request.seed is not None else random.getrandbits(31)
            config.rng_seed = seed
        config.presence_penalty = request.presence_penalty
        config.frequency_penalty = request.frequency_penalty
        if request.stop:
            config.stop_strings = set(request.stop)
            config.include_stop_str_in_output = True  # cut here, as the OpenAI API does
        config.logprobs = 1 if request.logprobs else 0
        if request.json_schema is not None:
            config.structured_output_config = genai.StructuredOutputConfig(
                json_schema=json.dumps(request.json_schema)
            )
        elif request.grammar is not None:
            config.structured_output_config = genai.StructuredOutputConfig(grammar=request.grammar)
        return config

    def _choice(self, output: Any, request: ChatRequest) -> Choice:
        ids = list(output.generated_ids)
        text, cut = cut_at_stop(self._tokenizer.decode(ids), request.stop)
        finish = "stop" if cut or output.finish_reason.name == "STOP" else "length"
        logprobs = None
        if request.logprobs:
            logprobs = [
                TokenLogprob(token=self._tokenizer.decode([token]), logprob=float(value))
                for token, value in zip(ids, output.generated_log_probs, strict=False)
            ]
        return Choice(text=text, finish_reason=finish, logprobs=logprobs)

    async def _score(self, request: ChatRequest) -> Completion:
        if self._scorer is None:
            self._scorer = LocalBackend(str(self.model_path), parallel=2)
        self.calls += 1
        return await self._scorer.complete(request)

    async def apply_template(self, messages: list[dict[str, str]]) -> str:
        """The GGUF's (or model folder's) chat template, rendered by GenAI's tokenizer."""
        await self.start()
        return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True)

    async def close(self) -> None:
        if self._engine is not None:
            await asyncio.to_thread(self._engine.stop)
        if self._scorer is not None:
            await self._scorer.close()
        self._engine = self._scorer = None


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to its first stop string, and whether one was found."""
    positions = [i for stop in stops if (i := text.find(stop)) >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


class _Engine:
    """The pipeline and the one thread that steps it while any request is unfinished.

    ``step()`` holds the GIL while it computes, so the event loop runs between steps;
    ``add_request`` is safe from any thread (GenAI queues it for the next step).
    """

    def __init__(self, pipeline: Any, genai: Any):
        self.pipeline, self.genai = pipeline, genai
        self._ids = itertools.count()
        self._waiting: dict[int, tuple[Any, Future[list[Any]]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="openvino-engine", daemon=True)
        self._thread.start()

    def submit(self, ids: Any, config: Any) -> Future[list[Any]]:
        """Add a tokenised prompt to the running batch; the future gets its outputs."""
        future: Future[list[Any]] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the openvino engine is closed")
            request_id = next(self._ids)
            handle = self.pipeline.add_request(request_id, ids, config)
            self._waiting[request_id] = (handle, future)
        self._wake.set()
        return future

    def _run(self) -> None:
        running = self.genai.GenerationStatus.RUNNING
        while not self._stopped:
            if not self._waiting:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                self.pipeline.step()
            except Exception as exc:  # the engine failed: every waiting request fails with it
                self._fail_all(exc)
                continue
            with self._lock:
                done = [
                    (request_id, handle, future)
                    for request_id, (handle, future) in self._waiting.items()
                    if handle.get_status() != running
                ]
                for request_id, _, _ in done:
                    del self._waiting[request_id]
            for _, handle, future in done:
                if handle.get_status() == self.genai.GenerationStatus.FINISHED:
                    future.set_result(handle.read_all())
                else:
                    future.set_exception(RuntimeError(f"generation {handle.get_status().name}"))

    def _fail_all(self, exc: Exception) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for _, future in waiting.values():
            future.set_exception(RuntimeError(f"the openvino engine failed: {exc}"))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        self._thread.join()
        self._fail_all(RuntimeError("closed"))


class OpenVINOOptions(BaseModel):
    """A recipe's ``backend: {type: openvino, ...}``."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None  # a GGUF path or OpenVINO model folder; None: the embedded model
    device: Literal["auto", "CPU", "GPU"] = "auto"
    max_num_seqs: int = Field(64, ge=1, le=1024)  # sequences decoding together
    kv_cache_gb: float = Field(2.0, gt=0)
    # reproducible seeded samples: one request at a time, no prefix caching
    deterministic: bool = False


register_backend(
    "openvino",
    OpenVINOOptions,
    lambda o: OpenVINOBackend(
        o.model,
        device=o.device,
        max_num_seqs=o.max_num_seqs,
        kv_cache_gb=o.kv_cache_gb,
        deterministic=o.deterministic,
    ),
    "batched local generation (OpenVINO GenAI continuous batching) on a GGUF or OpenVINO "
    "model folder; needs synthaug[openvino]",
)
