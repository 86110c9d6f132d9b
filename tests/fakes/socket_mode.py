"""A local fake of Slack's Socket Mode websocket server, for tests.

`FakeSocketModeServer` runs an aiohttp websocket server on 127.0.0.1 (random free port) in a
background thread with its own event loop, like `FakeSlackAPI`, so async tests, sync tests and
a `stockbot run` child process can all use it. Attach it to the fake Web API and
`apps.connections.open` hands out its URLs::

    with FakeSocketModeServer() as socket_server:
        slack_api.use_socket_mode(socket_server.issue_url)

It behaves as Slack documents: each connection gets ``{"type": "hello"}``; the test then
delivers envelopes ``{envelope_id, type, payload, accepts_response_payload}`` that the app must
ack with ``{"envelope_id": ..., "payload": ...}``, asks for a reconnect (``disconnect`` with
``reason: refresh_requested``) or drops the connection. URLs are single-use: a reconnect
needs a new ``apps.connections.open``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.slack_requests import SignedRequest
from tests.fakes.threaded_app import ThreadedApp

__all__ = ["EnvelopeKind", "FakeSocketModeServer", "payload_of"]

T = TypeVar("T")
EnvelopeKind = Literal["slash_commands", "interactive", "events_api"]


def payload_of(request: SignedRequest) -> dict[str, Any]:
    """What Socket Mode carries for a request built by `SlackRequestBuilder`: the form fields
    of a slash command, the JSON `payload` of an interactivity request, an event's JSON."""
    if request.headers["Content-Type"] == "application/json":
        return dict(json.loads(request.body))
    fields = dict(parse_qsl(request.text, keep_blank_values=True))
    return dict(json.loads(fields["payload"])) if set(fields) == {"payload"} else fields


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    closed: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)


class SocketModeApi(Protocol):
    """What `serving_socket_mode` needs of a fake Slack Web API."""

    def use_socket_mode(self, issue_url: Callable[[], str] | None) -> None: ...


class FakeSocketModeServer(ThreadedApp):
    """Slack's Socket Mode endpoint; test controls are thread-safe, with sync and async waits."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._connections: list[_Connection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._envelope_ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link/", self._handle)
        return app

    async def closing(self) -> None:
        for connection in self._open_connections():
            await connection.ws.close()

    # -- for FakeSlackAPI ---------------------------------------------------------------------

    def issue_url(self) -> str:
        """A fresh single-use websocket URL, as `apps.connections.open` returns it."""
        if self._port is None:
            raise RuntimeError("FakeSocketModeServer is not running; use start() or `with`")
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}"

    # -- inspection -------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many websocket connections were accepted so far."""
        with self._lock:
            return len(self._connections)

    def acks(self) -> dict[str, dict[str, Any]]:
        """Every ack received, by envelope_id."""
        with self._lock:
            return dict(self._acks)

    def wait_for_connection(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until `count` connections were accepted (not from a thread running a loop)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._connections) >= count, timeout):
                raise AssertionError(f"no {count} connection(s) within {timeout}s")

    async def wait_for_connection_async(
        self,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline, as FakeSlackAPI.wait_for_async
    ) -> None:
        await self._poll(lambda: len(self._connections) >= count or None, timeout, f"{count} conn")

    async def wait_for_ack_async(
        self,
        envelope_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline, as FakeSlackAPI.wait_for_async
    ) -> dict[str, Any]:
        """The app's ack of `envelope_id`: ``{"envelope_id": ..., "payload": ...?}``."""
        return await self._poll(lambda: self._acks.get(envelope_id), timeout, envelope_id)

    async def _poll(self, found: Callable[[], T | None], within: float, what: str) -> T:
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                result = found()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"waited {within}s for {what}; acks: {list(self._acks)}")
            await asyncio.sleep(0.01)

    # -- test controls ------------------------------------------------------------------------

    async def send_envelope_async(
        self, kind: EnvelopeKind, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> str:
        """Deliver an envelope on the newest open connection; returns its envelope_id."""
        envelope_id = f"env-{next(self._envelope_ids)}-{uuid.uuid4().hex[:8]}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        await self._on_server_loop(self._send(envelope))
        return envelope_id

    async def request_refresh_async(self) -> None:
        """Slack's notice that the connection will soon close: the client should reconnect."""
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-fake"},
        }
        await self._on_server_loop(self._send(message))

    async def drop_async(self) -> None:
        """Cut the newest connection without a close frame, as a network failure does."""
        await self._on_server_loop(self._drop())

    async def _on_server_loop(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("FakeSocketModeServer is not running")
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def _send(self, message: dict[str, Any]) -> None:
        await self._newest().ws.send_str(json.dumps(message))

    async def _drop(self) -> None:
        connection = self._newest()
        connection.closed = True
        if isinstance(connection.transport, asyncio.Transport):
            connection.transport.abort()

    def _newest(self) -> _Connection:
        open_ones = self._open_connections()
        if not open_ones:
            raise AssertionError("no open Socket Mode connection")
        return open_ones[-1]

    def _open_connections(self) -> list[_Connection]:
        with self._lock:
            return [c for c in self._connections if not c.closed and not c.ws.closed]

    # -- the websocket --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            return web.Response(status=401, text="unknown or used ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._changed:
            connection = _Connection(ws, request.transport)
            self._connections.append(connection)
            self._changed.notify_all()
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._open_connections()),
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "A0STOCKBOT"},
                }
            )
        )
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            with self._changed:
                connection.received.append(data)
                if isinstance(data, dict) and "envelope_id" in data:
                    self._acks[str(data["envelope_id"])] = data
                self._changed.notify_all()
        connection.closed = True
        return ws


def serving_socket_mode(slack_api: SocketModeApi) -> Iterator[FakeSocketModeServer]:
    """A running `FakeSocketModeServer` whose URLs `slack_api` hands out (for fixtures:
    `yield from serving_socket_mode(api)`)."""
    with FakeSocketModeServer() as server:
        slack_api.use_socket_mode(server.issue_url)
        yield server
