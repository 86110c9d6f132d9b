"""What the fake supplier and store APIs share: running on 127.0.0.1 in the test's
event loop, recording every request and answering from a script first.

A subclass adds its routes in `add_routes` and starts each handler with
`recorded, early = await self.begin(request)`: `early` is the next scripted
reply for that path (or the key given), to be returned as is.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: `body` is sent as is when bytes, else JSON-encoded.

    The default (200, body None) serves the request as usual, so a script can
    let some requests through before a failure.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def serves_as_usual(self) -> bool:
        return self.status == 200 and self.body is None


def send(reply: Reply) -> web.Response:
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    headers = {"Content-Type": "application/json", **reply.headers}
    return web.Response(status=reply.status, body=body, headers=headers)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # without the server's prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any = None  # parsed JSON, None when empty or not JSON


class FakeApiServer:
    prefix: ClassVar[str] = ""  # the real API's path prefix, part of `base_url`

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""  # http://127.0.0.1:<port>, once started
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.url + self.prefix

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test controls ---

    def script(self, key: str, *replies: Reply) -> None:
        """Answer the next requests for `key` (a path unless the fake says) with `replies`."""
        self._scripts[key].extend(replies)

    def requests_for(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """The requests to `path` or below it (`method` ones only, when given)."""
        return [
            request
            for request in self.requests
            if (request.path == path or request.path.startswith(path + "/"))
            and method in (None, request.method)
        ]

    # --- for handlers ---

    async def begin(
        self, request: web.Request, key: str | None = None
    ) -> tuple[RecordedRequest, web.Response | None]:
        """Record `request`; return it and the scripted reply to send, if any."""
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            request.method,
            request.path.removeprefix(self.prefix),
            dict(request.query),
            {name.lower(): value for name, value in request.headers.items()},
            body,
        )
        self.requests.append(recorded)
        script = self._scripts.get(recorded.path if key is None else key)
        reply = script.popleft() if script else None
        if reply is None or reply.serves_as_usual:
            return recorded, None
        return recorded, send(reply)
