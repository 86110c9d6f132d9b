"""Socket Mode: Bolt's app on Slack's websocket, connected in the background.

slack_sdk's client asks `apps.connections.open` for a websocket URL again every few
seconds whatever went wrong, and its `connect()` returns only once connected: a revoked
app token, or Slack out of reach, would hold the bot forever. Here the URL is asked for
with exponential backoff (Slack's Retry-After on a rate limit), an answer that retrying
cannot change ends `run()` with `AppTokenRefused`, at start-up or at any later reconnect,
and the caller runs `run()` as a task it can cancel at any moment.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# `apps.connections.open` errors about the token itself: only a new token helps.
REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
    }
)
SECONDS_TO_CLOSE = 5.0


class AppTokenRefused(Exception):
    """Slack refused the app-level token; `error` is Slack's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(f"Slack refused the app-level token ({error})")
        self.error = error


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: doubling from `first` up to `cap` seconds, with jitter."""

    first: float = 1.0
    cap: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            # Half fixed, half random: many bots restarted together do not retry in step.
            yield delay / 2 + random.uniform(0, delay / 2)
            delay = min(delay * 2, self.cap)


class _Client(SocketModeClient):
    """slack_sdk's aiohttp client, asking for websocket URLs the way described above."""

    def __init__(
        self,
        app_token: str,
        web_client: AsyncWebClient,
        ping_interval: float,
        backoff: Backoff,
        refused: asyncio.Future[None],
    ) -> None:
        super().__init__(
            app_token=app_token,
            web_client=web_client,
            ping_interval=ping_interval,
            logger=logging.getLogger("slack_sdk.socket_mode"),
        )
        self.backoff = backoff
        self.refused = refused

    async def issue_new_wss_url(self) -> str:
        delays = self.backoff.delays()
        while not self.closed:
            try:
                response = await self.web_client.apps_connections_open(app_token=self.app_token)
                return str(response["url"])
            except SlackApiError as exc:
                error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
                if error in REFUSALS:
                    raise self._refuse(error) from None
                wait = _retry_after(exc) if error == "ratelimited" else None
                wait = next(delays) if wait is None else wait
            except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                error, wait = type(exc).__name__, next(delays)
            log.warning("Socket Mode: cannot reach Slack (%s); trying again in %.1fs", error, wait)
            await asyncio.sleep(wait)
        raise ConnectionError("the Socket Mode client is closed")

    def _refuse(self, error: str) -> AppTokenRefused:
        # Closed, the client stops trying; whoever awaits `refused` learns why.
        self.closed = True
        self.auto_reconnect_enabled = False
        refusal = AppTokenRefused(error)
        if not self.refused.done():
            self.refused.set_exception(refusal)
        return refusal


class SocketModeConnection:
    """Bolt's app served over Socket Mode: `run()` it as a task, `close()` it at the end."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        ping_interval: float = 10.0,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.app = app
        self._refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.client = _Client(app_token, app.client, ping_interval, backoff, self._refused)
        self.client.socket_mode_request_listeners.append(self._handle)

    async def _handle(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        # What Bolt's AsyncSocketModeHandler does: dispatch, then ack with the answer.
        started = time.time()
        response = await run_async_bolt_app(self.app, request)
        await send_async_response(client, request, response, started)

    async def run(self) -> None:
        """Connect, retrying in the background, and stay connected until cancelled.

        Raises `AppTokenRefused` when Slack refuses the token, now or at a reconnect.
        """
        await self.client.connect()
        if not self._refused.done():
            log.info("connected to Slack in Socket Mode")
        await self._refused

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.client.close(), SECONDS_TO_CLOSE)
        except TimeoutError:
            log.warning("Socket Mode: the connection did not close in time; leaving it")


def _retry_after(exc: SlackApiError) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After", ""))
    except ValueError:
        return None
