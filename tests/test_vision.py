"""Vision-endpoint steps (ShareGPT4V captions, SelTDA, ALIA) against a real HTTP server on
127.0.0.1 that stands in for a hosted vision model, which cannot run here.

The stand-in follows OpenAI's published chat-completions API (POST /v1/chat/completions with
``messages`` whose ``content`` is a string or a list of ``text`` / ``image_url`` parts, the
image a ``data:image/png;base64,...`` URL; GET /v1/models; Bearer authentication; the
``chat.completion`` response object with ``choices[].message`` and ``usage``; errors as
``{"error": {...}}``). Its "vision" is real and deterministic: it decodes the PNG it receives
with PIL and describes what the pixels hold (size, the colours of a fixed palette: CLEVR's,
which synthaug's scenes use, and the background tones; per colour the number of separate
shapes and where they are; text RapidOCR reads when it is installed). Nothing is canned: the
tests recompute the description from the stored picture. The text parts run on the embedded
model (one thread, one slot, a few records).
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from conftest import read_jsonl, resume_after_kill, run_cli, run_recipe_twice
from PIL import Image
from scipy import ndimage

from synthaug.llm.backend import wire_body
from synthaug.llm.cache import request_key
from synthaug.llm.types import ChatRequest, chat, vision_chat
from synthaug.media import scenes
from synthaug.methods.multimodal.llava import DETAIL_INSTRUCTIONS

PALETTE = {**scenes.COLORS, "background": (228, 228, 222), "outline": (30, 30, 30),
           "white": (255, 255, 255), "black": (0, 0, 0)}  # fmt: skip
TONES = {"background", "outline", "white", "black"}
KEY_ENV = "VISION_TEST_KEY"


def describe(png: bytes, detailed: bool) -> str:
    """What the picture shows, computed from its pixels (see the module docstring)."""
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = np.asarray(picture, dtype=np.int32)
    names = list(PALETTE)
    centres = np.array([PALETTE[n] for n in names], dtype=np.int32)
    nearest = ((pixels[:, :, None, :] - centres) ** 2).sum(-1).argmin(-1)
    height, width = nearest.shape
    found = []
    for index, name in enumerate(names):
        mask = nearest == index
        if name in TONES or mask.sum() < 0.002 * mask.size:
            continue
        labels, count = ndimage.label(mask)
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        blobs = [i + 1 for i, size in enumerate(sizes) if size >= 100]  # not an anti-aliased rim
        if blobs:
            centres_of = ndimage.center_of_mass(mask, labels, blobs)
            found.append((name, centres_of, int(mask.sum())))
    found.sort(key=lambda item: -item[2])
    if not found:
        text = f"A plain picture, {width} by {height} pixels."
    elif not detailed:
        shapes = ", ".join(f"{len(c)} {name}" for name, c, _ in found)
        text = f"A picture of {shapes} shapes on a light gray background."
    else:
        parts = [f"A picture of {width} by {height} pixels with flat shapes on a light gray "
                 "background, each with a dark outline."]  # fmt: skip
        for name, where, _ in found:
            spots = ", ".join(_where(y, x, height, width) for y, x in where)
            plural = "shape" if len(where) == 1 else "shapes"
            parts.append(f"There {'is' if len(where) == 1 else 'are'} {len(where)} {name} "
                         f"{plural}: {spots}.")  # fmt: skip
        parts.append("The composition is simple and evenly lit.")
        text = " ".join(parts)
    read = _ocr(png)
    return text + (f' The text "{read}" is written on it.' if read else "")


def _where(y: float, x: float, height: int, width: int) -> str:
    row = "top" if y < height / 3 else "bottom" if y > 2 * height / 3 else "middle"
    column = "left" if x < width / 3 else "right" if x > 2 * width / 3 else "centre"
    return f"at the {row} {column}"


@cache
def _reader() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:  # the ocr extra is optional
        return None
    return RapidOCR()


def _ocr(png: bytes) -> str:
    reader = _reader()
    if reader is None:
        return ""
    result, _ = reader(png)
    words = [text for _, text, score in result or [] if score >= 0.8]
    return " ".join(w for w in words if sum(c.isalnum() for c in w) >= 2)  # not a shape


class VisionEndpoint(ThreadingHTTPServer):
    """The stand-in vision model on 127.0.0.1 (see the module docstring); ``calls`` counts
    completions it answered."""

    daemon_threads = True

    def __init__(self, token: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token, self.calls, self.images, self.generations = token, 0, 0, 0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: VisionEndpoint

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, value: dict) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._reply(status, {"error": {"message": message, "type": kind, "code": None}})

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.token}":
            return True
        self._error(401, "Incorrect API key provided.", "invalid_request_error")
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path != "/v1/models":
            return self._error(404, "not found", "invalid_request_error")
        self._reply(200, {"object": "list", "data": [{"id": "tiny-vision", "object": "model"}]})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/images/generations":
            return self._generate(body)
        if self.path != "/v1/chat/completions" or not isinstance(body.get("model"), str):
            return self._error(400, "expected a chat completion with a model", "invalid_request")
        prompt, images = "", []
        for message in body.get("messages", []):
            content = message["content"]
            for part in (
                [{"type": "text", "text": content}] if isinstance(content, str) else content
            ):
                if part["type"] == "text":
                    prompt += part["text"]
                elif part["type"] == "image_url":
                    head, _, data = part["image_url"]["url"].partition(",")
                    if head != "data:image/png;base64":
                        return self._error(400, "only inline PNG images", "invalid_request")
                    images.append(base64.b64decode(data, validate=True))
                else:
                    return self._error(400, f"unknown part {part['type']}", "invalid_request")
        if not images:
            return self._error(400, "this model needs an image", "invalid_request")
        detailed = "detail" in prompt
        text = " ".join(describe(image, detailed) for image in images)
        with self.server.lock:
            self.server.calls += 1
            self.server.images += len(images)
        self._reply(200, {
            "id": "chatcmpl-" + secrets.token_hex(6), "object": "chat.completion",
            "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt.split()) + 85 * len(images),
                      "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + 85 * len(images) + len(text.split())},
        })  # fmt: skip

    def _generate(self, body: dict) -> None:
        """OpenAI's image generation shape (``data[0].b64_json``): the picture is drawn from
        the prompt, deterministically (see ``drawn``)."""
        if body.get("response_format") != "b64_json" or body.get("n") != 1:
            return self._error(400, "expected n 1 and b64_json", "invalid_request")
        width, height = (int(v) for v in body["size"].split("x"))
        with self.server.lock:
            self.server.generations += 1
        data = base64.b64encode(drawn(body["prompt"], width, height)).decode()
        self._reply(200, {"created": 0, "data": [{"b64_json": data}]})


def drawn(prompt: str, width: int, height: int) -> bytes:
    """The stand-in's picture for ``prompt``: filled with the first palette colour the prompt
    names (gray when none)."""
    colour = next((c for n, c in scenes.COLORS.items() if n in prompt.split()), (128, 128, 128))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def endpoint(monkeypatch):
    token = secrets.token_urlsafe(16)
    monkeypatch.setenv(KEY_ENV, token)
    server = VisionEndpoint(token)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def vision_backend(server: VisionEndpoint) -> list[str]:
    value = f"{{type: openai, base_url: '{server.base_url}', model: tiny-vision, api_key_env: {KEY_ENV}}}"
    return ["--set", f"backends.vision={value}"]


TEXT_MODEL = ["--set", "backend.parallel=1", "--set", "backend.threads=1",
              "--set", "backend.deterministic=true"]  # fmt: skip


def scene_colours(record: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in record["scene"]["objects"]:
        counts[o["color"]] = counts.get(o["color"], 0) + 1
    return counts


# the request shape -------------------------------------------------------------------------


def test_images_go_as_image_url_parts_and_count_by_hash_in_the_cache_key():
    red, blue = (Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255)))
    pngs = []
    for picture in (red, blue):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    request = vision_chat("What colour?", [pngs[0]], temperature=0)
    body = wire_body(request, model="m", schema_style="openai")
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": "What colour?"} and image["type"] == "image_url"
    head, _, data = image["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64" and base64.b64decode(data) == pngs[0]
    keyed = json.dumps(request.cache_fields())
    assert data not in keyed and "sha256:" in keyed
    same = request_key("m", vision_chat("What colour?", [pngs[0]], temperature=0))
    assert request_key("m", request) == same
    assert request_key("m", vision_chat("What colour?", [pngs[1]], temperature=0)) != same
    assert request_key("m", chat(("user", "What colour?"), temperature=0)) != same
    with pytest.raises(ValueError, match="content"):
        ChatRequest(messages=({"role": "user", "content": [{"type": "audio"}]},))


# the steps on the stand-in endpoint --------------------------------------------------------

SHAREGPT4V = """\
name: detailed_captions
seed: 0
output: data.jsonl
steps:
  - {name: scenes, method: scenes.generate, params: {count: 3}}
  - {name: caption, method: sharegpt4v.caption}
"""


def test_sharegpt4v_captions_come_from_the_pictures(endpoint, tmp_path):
    (tmp_path / "recipe.yaml").write_text(SHAREGPT4V)
    records = run_recipe_twice(tmp_path, "recipe.yaml", *vision_backend(endpoint))
    assert len(records) == 3 and endpoint.calls == 3 and endpoint.images == 3
    for record in records:
        picture = (tmp_path / record["image"]).read_bytes()
        assert record["detailed_caption"] == describe(picture, detailed=True)
        for colour, count in scene_colours(record).items():  # the scene graph agrees
            noun = "shape" if count == 1 else "shapes"
            assert f"{count} {colour} {noun}" in record["detailed_caption"]
        assert record["messages"][1]["content"] == record["detailed_caption"]
        assert record["messages"][0]["content"] in DETAIL_INSTRUCTIONS
        assert record["_meta"]["model"] == f"openai:tiny-vision@{endpoint.base_url}"


def test_a_wrong_key_is_one_line_and_a_missing_endpoint_exit_2(endpoint, tmp_path, monkeypatch):
    (tmp_path / "recipe.yaml").write_text(SHAREGPT4V)
    monkeypatch.setenv(KEY_ENV, "wrong")
    refused = run_cli("run", "recipe.yaml", "--quiet", *vision_backend(endpoint), cwd=tmp_path)
    assert refused.returncode != 0 and "rejected the credentials (401)" in refused.stderr
    assert "wrong" not in refused.stderr and "Traceback" not in refused.stderr
    assert endpoint.calls == 0
    for recipe in ("seltda", "alia_prompts"):
        missing = run_cli("run", recipe, "--out", "x.jsonl", cwd=tmp_path)
        assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
        assert "no backend 'vision'" in missing.stderr and "backends.vision" in missing.stderr
    assert not (tmp_path / "x.jsonl").exists()


SELTDA = ["seltda", "--set", "steps[0].params.count=3", "--set", "steps[0].params.max_objects=4",
          "--set", "steps[2].params.max_tokens=48", *TEXT_MODEL]  # fmt: skip


def test_seltda_resumes_after_kill_with_pseudo_labels_from_the_captions(endpoint, tmp_path):
    args = [*SELTDA, *vision_backend(endpoint)]
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=4)
    assert endpoint.calls == 3, "a caption was asked for twice"
    errors = [e for e in read_jsonl(tmp_path / "data.errors.jsonl")
              if e["_meta"]["method"] == "seltda.questions"]  # fmt: skip
    assert len(records) + len(errors) == 6 and records, "two questions per picture"
    assert {e["_meta"]["error"]["kind"] for e in errors} <= {"format", "ungrounded"}
    for record in records:
        picture = (tmp_path / record["image"]).read_bytes()
        assert record["vlm_caption"] == describe(picture, detailed=False)
        assert record["_meta"]["method"] == "seltda.questions"
        assert record["messages"] == [
            {"role": "user", "content": record["question"]},
            {"role": "assistant", "content": record["answer"]},
        ]
        if record["question_kind"] == "open":  # the pseudo-label is a phrase of the caption
            words = [
                " ".join(re.findall(r"\w+", t.lower()))
                for t in (record["answer"], record["vlm_caption"])
            ]
            assert words[0] and f" {words[0]} " in f" {words[1]} "
        else:
            assert record["question_kind"] == "boolean" and record["answer"] in ("yes", "no")
    step = next(s for s in summary["steps"] if s["method"] == "seltda.questions")
    assert sum(step.get("counts", {}).values()) >= len(records)


ALIA = ["alia_prompts", "--set", "steps[0].params.count=4", "--set",
        "steps[2].params.max_tokens=64", *TEXT_MODEL]  # fmt: skip


def test_alia_prompts_from_summarised_captions(endpoint, tmp_path):
    records = run_recipe_twice(tmp_path, *ALIA, *vision_backend(endpoint))
    assert endpoint.calls == 4
    domains = {r["domain"] for r in records}
    assert domains and len(records) == 3 * len(domains)
    for record in records:
        cls, domain = record["class_name"], record["domain"]
        assert cls in ("circle", "square", "triangle")
        assert record["prompt"] == f"a photo of a {cls} {domain}"
        assert record["edit_instruction"] == f"put the {cls} {domain}"
        assert len(record["_meta"]["parents"]) == 1


GENERATE = """\
name: alia_generate
seed: 0
backend: {{type: local, parallel: 1, threads: 1, deterministic: true}}
output: data.jsonl
steps:
  - {{name: scenes, method: scenes.generate, params: {{count: 2}}}}
  - {{name: domains, method: alia.domains,
     params: {{caption_column: caption, prefix: a picture of, max_tokens: 64}}}}
  - {{name: prompts, method: alia.prompts, params: {{classes: [red circle]}}}}
  - {{name: generate, method: alia.generate,
     params: {{base_url: "{base_url}", model: tiny-diffusion, size: 64x48, api_key_env: {key}}}}}
"""


def test_alia_generates_pictures_for_its_prompts_when_an_image_endpoint_is_set(endpoint, tmp_path):
    recipe = GENERATE.format(base_url=endpoint.base_url, key=KEY_ENV)
    (tmp_path / "recipe.yaml").write_text(recipe)
    records = run_recipe_twice(tmp_path, "recipe.yaml")  # captions given: no vision call
    assert endpoint.calls == 0 and records and endpoint.generations == len(records)
    for record in records:
        picture = (tmp_path / record["image"]).read_bytes()
        assert picture == drawn(record["prompt"], 64, 48)  # what the endpoint drew, stored
        assert record["prompt"].startswith("a photo of a red circle ")
        assert record["generated_by"]["model"] == "tiny-diffusion"
    files = list((tmp_path / "images").rglob("*.png"))
    assert len(files) == 2 + len({r["image"] for r in records})  # two scenes, each picture once
