"""An aiohttp application served on 127.0.0.1 from a thread with its own event loop.

What `FakeSlackAPI` and `FakeSocketModeServer` share: sync tests, async tests (whose own
loop may be busy) and `stockbot run` child processes can all reach the server at once.
A subclass builds its application in `make_app` and may close what it holds in `closing`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from typing import Self

from aiohttp import web


class ThreadedApp:
    def __init__(self) -> None:
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def closing(self) -> None:
        """Run on the server's loop when it stops, before the application is cleaned up."""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on a free port; returns self. Idempotent."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site(sock))
            except BaseException as exc:  # surfaced to start()'s caller below
                started.set_exception(exc)
                sock.close()
                loop.close()
                return
            started.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        name = type(self).__name__
        self._loop = loop
        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        try:
            started.result(timeout=10)
        except BaseException as exc:
            self._thread = self._loop = None
            raise RuntimeError(f"{name} did not start") from exc
        return self

    def stop(self) -> None:
        """Stop serving and join the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_site(self, sock: socket.socket) -> None:
        # Short shutdown timeout: tests must not wait on keep-alive connections at teardown.
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        await self.closing()
        if self._runner is not None:
            await self._runner.cleanup()
