"""The review web server: the shared local server (``synthaug.web.server``: token login,
sessions, CSRF, strict headers) with the review routes, one SQLite connection per request.

Annotators are the server's named users: with ``--annotators alice,bob`` each gets a token of
its own and the annotator recorded is the token's, whatever a request body says, so nobody can
act as another annotator.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..io.images import ImageStore, referenced
from ..web.server import HTTPError, LocalServer, SecureHandler, TokenApp
from .dialogue import SPEAKERS, DialogueWriter, parse_turns, valid_history
from .page import render_page
from .store import ACTIONS, Conflict, ReviewStore

MAX_TEXT = 100_000
ANNOTATOR = re.compile(r"^[\w.@ +-]{1,64}$")


@dataclass
class ReviewApp(TokenApp):
    """What the handlers share: the queue, the label set, the mode, the credentials
    (``users``: the named annotators) and ``image_root``, the folder of DATA whose image store
    (``images/``) holds the pictures multimodal rows name (None: no images are served)."""

    store: ReviewStore
    labels: list[str]
    text_column: str = "text"
    writer: DialogueWriter | None = None
    image_root: Path | None = None

    @property
    def dialogue(self) -> bool:
        return self.writer is not None


class Handler(SecureHandler):
    server: ReviewServer
    server_version = "synthaug-review"
    cookie = "synthaug_review"
    csp_extra = "img-src 'self'; "

    @property
    def app(self) -> ReviewApp:
        return self.server.app  # type: ignore[return-value]

    def _handle(self, route: Any) -> None:
        try:
            super()._handle(route)
        except Conflict as error:
            self._json({"error": str(error)}, 409)
        except sqlite3.OperationalError as error:  # e.g. the database stayed locked
            self._json({"error": f"the queue database is busy: {error}"}, 503)

    def get(self, path: str, query: dict[str, list[str]], csrf: str, user: str | None) -> None:
        if path == "/":
            self._page(
                lambda nonce: render_page(
                    nonce=nonce, csrf=csrf, dialogue=self.app.dialogue, annotator=user or ""
                )
            )
        elif path == "/api/state":
            self._json(self._state())
        elif path == "/api/image":
            self._image(query.get("path", [""])[0])
        else:
            raise HTTPError(404, "not found")

    def post(self, path: str, body: dict[str, Any], user: str | None) -> Any:
        annotator = user or body.get("annotator")  # a per-annotator token decides who acts
        if not isinstance(annotator, str) or not ANNOTATOR.match(annotator):
            raise HTTPError(400, "annotator: 1-64 letters, digits, spaces or . @ + - _")
        routes = {
            "/api/claim": self._claim,
            "/api/submit": self._submit,
            "/api/skip": self._skip,
            "/api/dialogue/next": self._dialogue_next,
        }
        route = routes.get(path)
        if route is None:
            raise HTTPError(404, "not found")
        return route(annotator, body)

    def _state(self) -> dict[str, Any]:
        return {
            "labels": self.app.labels,
            "mode": "dialogue" if self.app.dialogue else "label",
            "progress": self.app.store.progress(),
        }

    def _image(self, relative: str) -> None:
        """A picture of the image store beside DATA (never a file elsewhere)."""
        if self.app.image_root is None:
            raise HTTPError(404, "no images are served")
        try:
            data, media = ImageStore(self.app.image_root).open_served(relative)
        except (FileNotFoundError, OSError):
            raise HTTPError(404, "no such image in the store (images/ab/<sha256>.png)") from None
        self._send(200, data, media)

    def _claim(self, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
        claimed = self.app.store.claim(annotator)
        item = None
        if claimed is not None:
            record = claimed["record"]
            item = {"id": claimed["id"], "lease": claimed["lease"], "images": referenced(record)}
            if self.app.dialogue:
                item["scenario"] = record.get("scenario", record.get(self.app.text_column))
                item["history"] = claimed["draft"] or []
            else:
                item.update(
                    text=record.get(self.app.text_column),
                    label=record.get("label"),
                    confidence=record.get("label_confidence"),
                    explanation=record.get("label_explanation"),
                    votes=record.get("label_votes"),
                )
        return {"item": item, **self._state()}

    def _lease(self, body: dict[str, Any]) -> tuple[int, str]:
        item, lease = body.get("item"), body.get("lease")
        if not isinstance(item, int) or not isinstance(lease, str):
            raise HTTPError(400, "item (an id) and lease are required")
        return item, lease

    def _submit(self, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
        item, lease = self._lease(body)
        action = body.get("action")
        if action not in ACTIONS:
            raise HTTPError(400, f"action: one of {', '.join(ACTIONS)}")
        record = self.app.store.record(item)
        if record is None:
            raise HTTPError(404, f"no item {item}")
        if self.app.dialogue:
            fields = self._dialogue_fields(action, body)
        else:
            fields = self._label_fields(action, body, record.get("label"))
        self.app.store.submit(item, lease, annotator, **fields)
        return {"ok": True, "progress": self.app.store.progress()}

    def _label_fields(self, action: str, body: dict[str, Any], llm: Any) -> dict[str, Any]:
        label, text = body.get("label"), None
        if action == "accept":
            if not isinstance(llm, str):
                raise HTTPError(400, "this item has no LLM label to accept")
            label = llm
        elif action == "relabel":
            if label not in self.app.labels:
                raise HTTPError(400, "label: not one of the labels")
            action = "accept" if label == llm else "relabel"
        elif action == "edit":
            text = body.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                raise HTTPError(400, f"text: 1 to {MAX_TEXT:,} characters")
            if label is None:
                label = llm if isinstance(llm, str) else None
            elif label not in self.app.labels:
                raise HTTPError(400, "label: not one of the labels")
        else:
            label = None
        return {"action": action, "label": label, "text": text}

    def _dialogue_fields(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if action == "reject":
            return {"action": action}
        if action not in ("accept", "edit"):
            raise HTTPError(400, "a dialogue is accepted, edited or rejected")
        messages = self._history(body) + self._pending(body)
        if not messages:
            raise HTTPError(400, "the dialogue is empty")
        return {"action": action, "messages": messages}

    def _history(self, body: dict[str, Any]) -> list[dict[str, str]]:
        history = valid_history(body.get("history", []))
        if history is None:
            raise HTTPError(400, f"history: a list of {{role: {'|'.join(SPEAKERS)}, content}}")
        return history

    def _pending(self, body: dict[str, Any]) -> list[dict[str, str]]:
        """The turns in the proposal box (``text``), as messages after the history."""
        text = body.get("text") or ""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise HTTPError(400, f"text: at most {MAX_TEXT:,} characters")
        return parse_turns(text, self._history(body))

    def _skip(self, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
        self.app.store.skip(*self._lease(body), annotator)
        return {"ok": True, "progress": self.app.store.progress()}

    def _dialogue_next(self, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
        """Append the (edited) proposal to the history, keep it, propose the next turns."""
        if self.app.writer is None:
            raise HTTPError(404, "not in dialogue mode")
        item, lease = self._lease(body)
        history = self._history(body) + self._pending(body)
        self.app.store.save_draft(item, lease, annotator, history)
        record = self.app.store.record(item) or {}
        scenario = record.get("scenario", record.get(self.app.text_column))
        try:
            turns = self.app.writer.propose(scenario, history)
        except Exception as error:  # the model's failure is the annotator's to see, not fatal
            raise HTTPError(502, f"the model failed: {error}") from None
        proposal = "\n".join(f"{SPEAKERS[t['role']]}: {t['content']}" for t in turns)
        return {"history": history, "proposal": proposal}


class ReviewServer(LocalServer):
    """Serves a :class:`ReviewApp` on ``host:port`` (port 0: any free port)."""

    handler: ClassVar[type[SecureHandler]] = Handler
    name = "review"
