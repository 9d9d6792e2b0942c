"""The OpenAI Files and Batches endpoints, as thin async calls that raise ``BackendCallError``.

Spec: https://platform.openai.com/docs/api-reference/files (upload with ``purpose=batch``,
``GET /files/{id}/content``) and https://platform.openai.com/docs/api-reference/batch
(create, retrieve, cancel, list). The key goes only into the Authorization header that
``headers`` returns; every error text passes through ``redact`` (see ``synthaug.llm.openai``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .backend import BackendCallError, parse_wire_completion
from .openai import status_error, transport_error
from .types import Completion

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"  # a batch line's ``url``
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchAPI:
    """One endpoint's ``/files`` and ``/batches`` (``base_url`` ends in ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        headers: Callable[[], dict[str, str]],
        redact: Callable[[str], str],
        timeout: float,
    ):
        self.base_url, self.http, self.headers = base_url.rstrip("/"), http, headers
        self.redact, self.timeout = redact, timeout

    async def upload(self, jsonl: bytes) -> dict[str, Any]:
        """``POST /files`` (multipart, ``purpose=batch``): the File object."""
        files = {"file": ("batch.jsonl", jsonl, "application/jsonl")}
        return await self._object("POST", "/files", files=files, data={"purpose": "batch"})

    async def create(self, input_file_id: str, endpoint: str, window: str) -> dict[str, Any]:
        """``POST /batches``: the Batch object (status ``validating``)."""
        body = {"input_file_id": input_file_id, "endpoint": endpoint, "completion_window": window}
        return await self._object("POST", "/batches", json=body)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._object("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        """``POST /batches/{id}/cancel``: the Batch object (status ``cancelling``)."""
        return await self._object("POST", f"/batches/{batch_id}/cancel")

    async def batches(self) -> AsyncIterator[dict[str, Any]]:
        """Every batch of the account, newest first (``GET /batches``, paged by ``after``)."""
        after: str | None = None
        while True:
            params = {"limit": 100, **({"after": after} if after else {})}
            page = await self._json("GET", "/batches", params=params)
            for batch in page.get("data") or []:
                yield batch
            if not page.get("has_more") or not page.get("data"):
                return
            after = page["data"][-1]["id"]

    async def content(self, file_id: str) -> str:
        """``GET /files/{id}/content``: an output or error file's JSONL text."""
        return (await self._send("GET", f"/files/{file_id}/content")).text

    async def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A File or Batch object: a JSON object with an ``id`` (and a ``status`` for a batch)."""
        data = await self._json(method, path, **kwargs)
        if not isinstance(data.get("id"), str) or ("batches" in path and "status" not in data):
            raise BackendCallError("bad_response", f"{path}: not a File or Batch object")
        return data

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, path, **kwargs)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise BackendCallError("bad_response", f"{path}: response is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BackendCallError("bad_response", f"{path}: response is not a JSON object")
        return data

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(
                method, self.base_url + path, headers=self.headers(), **kwargs
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.timeout, self.redact) from None
        if response.status_code != 200:
            raise status_error(response, self.redact)
        return response


def read_results(
    text: str, *, chat: bool, redact: Callable[[str], str]
) -> dict[str, Completion | str]:
    """An output or error file's lines by ``custom_id``: the completion, or why there is none.

    A line is ``{"custom_id", "response": {"status_code", "body"}, "error"}``; an ``error``, a
    status other than 200 or a body ``parse_wire_completion`` rejects is a reason (redacted,
    cut to 200 characters). Lines without a ``custom_id`` are skipped.
    """
    outcomes: dict[str, Completion | str] = {}
    for line in text.splitlines():
        try:
            item = json.loads(line)
            custom_id = item["custom_id"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(custom_id, str):
            outcomes[custom_id] = _outcome(item, chat=chat, redact=redact)
    return outcomes


def _outcome(item: dict[str, Any], *, chat: bool, redact: Callable[[str], str]) -> Completion | str:
    if error := item.get("error"):
        if isinstance(error, dict):
            return redact(f"{error.get('code')}: {error.get('message')}")[:200]
        return redact(f"error: {error}")[:200]
    response = item.get("response") if isinstance(item.get("response"), dict) else {}
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        return redact(f"status {status}: {json.dumps(body)}")[:200]
    try:
        return parse_wire_completion(body, chat=chat)
    except BackendCallError as exc:
        return redact(str(exc))[:200]


def missing_reason(batch: dict[str, Any]) -> str:
    """Why a request has no line in ``batch``'s files: its status and first batch-level error."""
    errors = (batch.get("errors") or {}).get("data") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    detail = f" ({first.get('code')}: {first.get('message')})" if first else ""
    return f"no answer, batch {batch.get('status')}{detail}"
