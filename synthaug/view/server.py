"""The viewer's server: the shared local server (``synthaug.web.server``: token login,
sessions, strict headers) with read-only routes, all ``GET``.

``/api/rows?offset=N&limit=L``: a page by position. With any of ``step``, ``error``,
``verdict``, ``label``, ``q`` (full-text search): a capped scan from ``cursor`` (see
:meth:`ViewData.find`). ``/api/row?index=N``: one record's detail. ``/api/image?index=N&field=F``:
the image that field F of row N holds (a data URI or the path of an image file; nothing else is
served). ``/api/facets``: the counts of each filter's values so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..web.server import HTTPError, LocalServer, SecureHandler, TokenApp
from .data import Query, ViewData
from .page import render_page
from .rows import FACETS, image_bytes

MAX_LIMIT = 500


@dataclass
class ViewApp(TokenApp):
    """What the handlers share: the data and the credentials."""

    data: ViewData


class Handler(SecureHandler):
    server: ViewServer
    server_version = "synthaug-view"
    cookie = "synthaug_view"
    csp_extra = "img-src 'self'; "

    @property
    def data(self) -> ViewData:
        return self.server.app.data  # type: ignore[attr-defined]

    def get(self, path: str, query: dict[str, list[str]], csrf: str, user: str | None) -> None:
        routes = {
            "/": lambda q: self._page(lambda nonce: render_page(nonce, str(self.data.path))),
            "/api/info": self._info,
            "/api/facets": lambda q: self._json(self.data.facets.snapshot()),
            "/api/rows": self._rows,
            "/api/row": self._row,
            "/api/image": self._image,
        }
        route = routes.get(path)
        if route is None:
            raise HTTPError(404, "not found")
        route(query)

    def _info(self, query: dict[str, list[str]]) -> None:
        parts = [
            {"name": p.name, "file": str(p.source.path), "rows": len(p.source), "first": p.first}
            for p in self.data.parts
        ]
        self._json({"file": str(self.data.path), "total": len(self.data), "parts": parts})

    def _rows(self, query: dict[str, list[str]]) -> None:
        limit = min(_number(query, "limit", 50), MAX_LIMIT)
        found = Query(
            **{name: query[name][0] for name in FACETS if query.get(name, [""])[0]},
            text=query.get("q", [""])[0],
        )
        if found.empty:
            offset = _number(query, "offset", 0)
            self._json({"total": len(self.data), "rows": self.data.page(offset, limit)})
        else:
            answer = self.data.find(found, _number(query, "cursor", 0), max(limit, 1))
            self._json({"total": len(self.data), **answer})

    def _row(self, query: dict[str, list[str]]) -> None:
        try:
            self._json(self.data.detail(_number(query, "index", 0)))
        except IndexError:
            raise HTTPError(404, "no such row") from None

    def _image(self, query: dict[str, list[str]]) -> None:
        try:
            value = self.data.image(_number(query, "index", 0), query.get("field", [""])[0])
        except IndexError:
            raise HTTPError(404, "no such row") from None
        found = image_bytes(value, self.data.path.parent) if value is not None else None
        if found is None:
            raise HTTPError(404, "that field holds no image")
        self._send(200, *found)


def _number(query: dict[str, list[str]], name: str, default: int) -> int:
    value = query.get(name, [str(default)])[0]
    if not value.isdigit():
        raise HTTPError(400, f"{name}: a whole number")
    return int(value)


class ViewServer(LocalServer):
    """Serves a :class:`ViewApp` on ``host:port`` (port 0: any free port)."""

    handler: ClassVar[type[SecureHandler]] = Handler
    name = "view"
