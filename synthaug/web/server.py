"""A local web app's HTTP server: Python's threaded HTTP server, secured for one user's data.

Security (the server holds the data, so every request is authenticated):

* A random token (``secrets.token_urlsafe``) is made at each start and printed once, in the
  URL. With named users (``review --annotators alice,bob``) each gets a token of its own (one
  URL each) and there is no shared token: the user a request acts as is the token's, whatever
  its body says. Opening ``/?token=T`` starts a session: an ``HttpOnly; SameSite=Strict``
  cookie with a random session id, then a redirect to ``/`` so the token leaves the address
  bar. API clients may send ``Authorization: Bearer T`` instead. No credentials: 401; wrong
  ones: 403; neither gets any data. The token is compared in constant time and never logged
  (the server writes no request log).
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
  script and style run by nonce), ``X-Frame-Options: DENY``, ``nosniff``, ``same-origin``
  referrers and ``no-store``; data is only ever put in the page as text, never as HTML.

An app subclasses :class:`TokenApp` (its state), :class:`SecureHandler` (its routes: ``get``
and ``post``) and :class:`LocalServer` (naming its handler).
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"", "0.0.0.0", "::"}


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(kw_only=True)
class TokenApp:
    """The credentials the handlers share: one shared token, or one per named user."""

    users: list[str] = field(default_factory=list)  # named: one token each, no shared one
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> CSRF token
    session_users: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens = {name: secrets.token_urlsafe(24) for name in self.users}

    def check_token(self, given: str) -> tuple[bool, str | None]:
        """(valid, the user it belongs to): None for the shared token, used when no user is
        named. Every token is compared in constant time."""
        valid, who = False, None
        if not self.tokens:
            valid = hmac.compare_digest(given.encode(), self.token.encode())
        for name, token in self.tokens.items():
            if hmac.compare_digest(given.encode(), token.encode()):
                valid, who = True, name
        return valid, who

    def new_session(self, user: str | None = None) -> tuple[str, str]:
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[session] = csrf
            self.session_users[session] = user
        return session, csrf

    def csrf_of(self, session: str) -> str | None:
        with self.lock:
            return self.sessions.get(session)

    def user_of(self, session: str) -> str | None:
        with self.lock:
            return self.session_users.get(session)


class SecureHandler(BaseHTTPRequestHandler):
    """Authentication, request checks and strict responses; subclasses add ``get``/``post``."""

    server: LocalServer
    server_version = "synthaug"
    sys_version = ""
    cookie: ClassVar[str] = "synthaug"
    csp_extra: ClassVar[str] = ""  # e.g. "img-src 'self' data:; "

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # a silent client cannot hold the thread
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """No request log: a logged first request line would show the token."""

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

    # what a subclass serves ---------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]], csrf: str, user: str | None) -> None:
        """Answer an authenticated GET (``csrf``: the session's token, empty for Bearer)."""
        raise HTTPError(404, "not found")

    def post(self, path: str, body: dict[str, Any], user: str | None) -> Any:
        """The JSON answer to an authenticated, same-origin, CSRF-checked POST of ``body``."""
        raise HTTPError(404, "not found")

    # authentication -------------------------------------------------------------------

    def _session(self) -> str | None:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        morsel = cookie.get(self.cookie)
        return (
            morsel.value if morsel is not None and self.server.app.csrf_of(morsel.value) else None
        )

    def _authenticate(self) -> tuple[str, str | None, str | None]:
        """("bearer", None, user) or ("session", its CSRF token, user); 401/403 for anything
        else. ``user`` is the per-user token's owner, else None."""
        app = self.server.app
        header = self.headers.get("Authorization", "")
        if header:
            valid, who = app.check_token(header.removeprefix("Bearer ").strip())
            if header.startswith("Bearer ") and valid:
                return "bearer", None, who
            raise HTTPError(403, "wrong token")
        session = self._session()
        if session is not None:
            return "session", app.csrf_of(session), app.user_of(session)
        if self.headers.get("Cookie", "").find(self.cookie + "=") >= 0:
            raise HTTPError(403, "unknown session: open the URL printed at start")
        raise HTTPError(401, "missing token: open the URL printed at start")

    def _token_login(self, given: str) -> None:
        valid, who = self.server.app.check_token(given)
        if not valid:
            raise HTTPError(403, "wrong token")
        session, _ = self.server.app.new_session(who)
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header(
            "Set-Cookie", f"{self.cookie}={session}; HttpOnly; SameSite=Strict; Path=/"
        )
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

    # requests ---------------------------------------------------------------------------

    def _get(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/" and "token" in query:
            self._token_login(query["token"][0])
            return
        _, csrf, who = self._authenticate()
        self.get(parts.path, query, csrf or "", who)

    def _post(self) -> None:
        kind, csrf, who = self._authenticate()
        self._check_origin()
        if kind == "session":
            given = self.headers.get("X-CSRF-Token", "")
            if not (csrf and hmac.compare_digest(given.encode(), csrf.encode())):
                raise HTTPError(403, "missing or wrong CSRF token")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise HTTPError(415, "send application/json")
        self._json(self.post(urlsplit(self.path).path, self._body(), who))

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

    # responses ------------------------------------------------------------------------

    def _security_headers(self, nonce: str) -> None:
        scripts = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {scripts}; style-src {scripts}; {self.csp_extra}"
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

    def _page(self, render: Any) -> None:
        """The HTML page ``render(nonce)`` makes, its inline script and style run by nonce."""
        nonce = secrets.token_urlsafe(16)
        self._send(200, render(nonce).encode(), "text/html; charset=utf-8", nonce)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode(), "application/json")


class LocalServer(ThreadingHTTPServer):
    """Serves ``app`` with ``handler`` on ``host:port`` (port 0: any free port)."""

    daemon_threads = True
    allow_reuse_address = True
    handler: ClassVar[type[SecureHandler]] = SecureHandler
    name: ClassVar[str] = "synthaug"  # in the lines it writes to stderr

    def __init__(
        self, app: TokenApp, host: str = "127.0.0.1", port: int = 0, request_timeout: float = 30.0
    ):
        self.app, self.request_timeout = app, request_timeout
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), self.handler)
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
        """(user, address): one per named user, else the shared one (None)."""
        if not self.app.tokens:
            return [(None, self.url)]
        return [(name, f"{self.origin}/?token={t}") for name, t in self.app.tokens.items()]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or went silent is one line on stderr; anything else a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            print(
                f"{self.name}: a client went away before its answer was sent "
                f"({type(error).__name__})",
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
