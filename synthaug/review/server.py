"""The review web server: Python's threaded HTTP server, one SQLite connection per request.

Security (the server holds the data, so every request is authenticated):

* A random token (``secrets.token_urlsafe``) is made at each start and printed once, in the
  URL. With named annotators (``--annotators alice,bob``) each gets a token of its own (one URL
  each) and there is no shared token: the annotator recorded is the token's, whatever a request
  body says, so nobody can act as another annotator. Opening ``/?token=T`` starts a session: an ``HttpOnly; SameSite=Strict`` cookie with a
  random session id, then a redirect to ``/`` so the token leaves the address bar. API
  clients may send ``Authorization: Bearer T`` instead. No credentials: 401; wrong ones: 403;
  neither gets any data. The token is compared in constant time and never logged (the server
  writes no request log).
* A request must be whole and prompt: a missing, negative or invalid ``Content-Length``, or a
  body shorter than it says, is refused with 400 and never acted on, and a connection that
  stays silent for ``request_timeout`` seconds (30) is closed, so no thread is held. A client
  that hangs up early is one line on stderr, not a traceback.
* Every state change is a ``POST`` of JSON. A cookie session must send its CSRF token (made
  with the session, embedded in the page) in ``X-CSRF-Token``; a Bearer client needs none,
  since another site cannot make a browser send that header. An ``Origin`` (or, without one,
  a ``Referer``) from another origin is refused with 403, as is a ``Host`` that is not the
  server's own (DNS rebinding) unless it listens on every interface.
* Responses carry a strict Content-Security-Policy (no external resources; the page's inline
  script and style run by nonce), ``X-Frame-Options: DENY``, ``nosniff``, ``same-origin`` referrers
  and ``no-store``; item text is only ever put in the page as text, never as HTML.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import socket
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .dialogue import SPEAKERS, DialogueWriter, parse_turns, valid_history
from .page import render_page
from .store import ACTIONS, Conflict, ReviewStore

COOKIE = "synthaug_review"
MAX_BODY = 1 << 20
MAX_TEXT = 100_000
ANNOTATOR = re.compile(r"^[\w.@ +-]{1,64}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"", "0.0.0.0", "::"}


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ReviewApp:
    """What the handlers share: the queue, the label set, the mode and the credentials."""

    store: ReviewStore
    labels: list[str]
    text_column: str = "text"
    writer: DialogueWriter | None = None
    annotators: list[str] = field(default_factory=list)  # named: one token each, no shared one
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> CSRF token
    session_annotators: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens = {name: secrets.token_urlsafe(24) for name in self.annotators}

    @property
    def dialogue(self) -> bool:
        return self.writer is not None

    def check_token(self, given: str) -> tuple[bool, str | None]:
        """(valid, the annotator it belongs to): None for the shared token, used when no
        annotator is named. Every token is compared in constant time."""
        valid, who = False, None
        if not self.tokens:
            valid = hmac.compare_digest(given.encode(), self.token.encode())
        for name, token in self.tokens.items():
            if hmac.compare_digest(given.encode(), token.encode()):
                valid, who = True, name
        return valid, who

    def new_session(self, annotator: str | None = None) -> tuple[str, str]:
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[session] = csrf
            self.session_annotators[session] = annotator
        return session, csrf

    def csrf_of(self, session: str) -> str | None:
        with self.lock:
            return self.sessions.get(session)

    def annotator_of(self, session: str) -> str | None:
        with self.lock:
            return self.session_annotators.get(session)


class ReviewServer(ThreadingHTTPServer):
    """Serves ``app`` on ``host:port`` (port 0: any free port)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, app: ReviewApp, host: str = "127.0.0.1", port: int = 0, request_timeout: float = 30.0
    ):
        self.app, self.request_timeout = app, request_timeout
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.host, self.port = host, self.server_address[1]

    @property
    def origin(self) -> str:
        shown = "127.0.0.1" if self.host in WILDCARD else self.host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{self.port}"

    @property
    def url(self) -> str:
        """The address to open, with the shared token: the one line that may show it."""
        return f"{self.origin}/?token={self.app.token}"

    def urls(self) -> list[tuple[str | None, str]]:
        """(annotator, address): one per named annotator, else the shared one (None)."""
        if not self.app.tokens:
            return [(None, self.url)]
        return [(name, f"{self.origin}/?token={t}") for name, t in self.app.tokens.items()]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or went silent is one line on stderr; anything else a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            print(
                f"review: a client went away before its answer was sent ({type(error).__name__})",
                file=sys.stderr,
                flush=True,
            )
            return
        super().handle_error(request, client_address)

    def host_allowed(self, value: str) -> bool:
        if self.host in WILDCARD:
            return True
        names = LOOPBACK if self.host in LOOPBACK else {self.host}
        allowed = {f"{n}:{self.port}" for n in names} | {f"[{n}]:{self.port}" for n in names}
        return value in allowed


class Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "synthaug-review"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # a silent client cannot hold the thread
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """No request log: a logged first request line would show the token."""

    @property
    def app(self) -> ReviewApp:
        return self.server.app

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _handle(self, route: Any) -> None:
        try:
            if not self.server.host_allowed(self.headers.get("Host", "")):
                raise HTTPError(403, "unexpected Host header")
            route()
        except HTTPError as error:
            self._json({"error": str(error)}, error.status)
        except Conflict as error:
            self._json({"error": str(error)}, 409)
        except sqlite3.OperationalError as error:  # e.g. the database stayed locked
            self._json({"error": f"the queue database is busy: {error}"}, 503)

    # authentication -------------------------------------------------------------------

    def _session(self) -> str | None:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel is not None and self.app.csrf_of(morsel.value) else None

    def _authenticate(self) -> tuple[str, str | None, str | None]:
        """("bearer", None, annotator) or ("session", its CSRF token, annotator); 401/403 for
        anything else. ``annotator`` is the per-annotator token's owner, else None."""
        header = self.headers.get("Authorization", "")
        if header:
            valid, who = self.app.check_token(header.removeprefix("Bearer ").strip())
            if header.startswith("Bearer ") and valid:
                return "bearer", None, who
            raise HTTPError(403, "wrong token")
        session = self._session()
        if session is not None:
            return "session", self.app.csrf_of(session), self.app.annotator_of(session)
        if self.headers.get("Cookie", "").find(COOKIE + "=") >= 0:
            raise HTTPError(403, "unknown session: open the URL printed at start")
        raise HTTPError(401, "missing token: open the URL printed at start")

    def _token_login(self, given: str) -> None:
        valid, who = self.app.check_token(given)
        if not valid:
            raise HTTPError(403, "wrong token")
        session, _ = self.app.new_session(who)
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Set-Cookie", f"{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/")
        self.send_header("Location", "/")
        self._security_headers("")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _check_origin(self) -> None:
        """403 when the request comes from a page of another origin."""
        own = "http://" + self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        if origin is not None:
            if origin != own:
                raise HTTPError(403, "cross-origin request refused")
            return
        referer = self.headers.get("Referer")
        if referer:
            parts = urlsplit(referer)
            if f"{parts.scheme}://{parts.netloc}" != own:
                raise HTTPError(403, "cross-origin request refused")

    # routes -----------------------------------------------------------------------------

    def _get(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/" and "token" in query:
            self._token_login(query["token"][0])
            return
        _, csrf, who = self._authenticate()
        if parts.path == "/":
            nonce = secrets.token_urlsafe(16)
            page = render_page(
                nonce=nonce, csrf=csrf or "", dialogue=self.app.dialogue, annotator=who or ""
            )
            self._send(200, page.encode(), "text/html; charset=utf-8", nonce)
        elif parts.path == "/api/state":
            self._json(self._state())
        else:
            raise HTTPError(404, "not found")

    def _post(self) -> None:
        kind, csrf, who = self._authenticate()
        self._check_origin()
        if kind == "session":
            given = self.headers.get("X-CSRF-Token", "")
            if not (csrf and hmac.compare_digest(given.encode(), csrf.encode())):
                raise HTTPError(403, "missing or wrong CSRF token")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise HTTPError(415, "send application/json")
        body = self._body()
        annotator = who or body.get("annotator")  # a per-annotator token decides who acts
        if not isinstance(annotator, str) or not ANNOTATOR.match(annotator):
            raise HTTPError(400, "annotator: 1-64 letters, digits, spaces or . @ + - _")
        routes = {
            "/api/claim": self._claim,
            "/api/submit": self._submit,
            "/api/skip": self._skip,
            "/api/dialogue/next": self._dialogue_next,
        }
        route = routes.get(urlsplit(self.path).path)
        if route is None:
            raise HTTPError(404, "not found")
        self._json(route(annotator, body))

    def _body(self) -> dict[str, Any]:
        """The JSON object of a whole body; 400 (and the connection closed) for anything else."""
        given = self.headers.get_all("Content-Length") or []
        if not given:
            raise HTTPError(411, "Content-Length required")
        if len(given) != 1 or not given[0].strip().isdigit():  # no sign, no list, no junk
            self.close_connection = True  # what follows on this connection is not a request
            raise HTTPError(400, "invalid Content-Length")
        length = int(given[0])
        if length > MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, "request too large")
        data = self.rfile.read(length)  # bounded by the socket timeout
        if len(data) != length:
            self.close_connection = True
            raise HTTPError(400, "the body is shorter than its Content-Length")
        try:
            body = json.loads(data or b"{}")
        except ValueError:
            raise HTTPError(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object")
        return body

    def _state(self) -> dict[str, Any]:
        return {
            "labels": self.app.labels,
            "mode": "dialogue" if self.app.dialogue else "label",
            "progress": self.app.store.progress(),
        }

    def _claim(self, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
        claimed = self.app.store.claim(annotator)
        item = None
        if claimed is not None:
            record = claimed["record"]
            item = {"id": claimed["id"], "lease": claimed["lease"]}
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

    # responses ------------------------------------------------------------------------

    def _security_headers(self, nonce: str) -> None:
        scripts = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {scripts}; style-src {scripts}; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")

    def _send(self, status: int, data: bytes, kind: str, nonce: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self._security_headers(nonce)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode(), "application/json")
