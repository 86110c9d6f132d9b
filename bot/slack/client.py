"""The Slack Web API client Stockbot uses everywhere, counting its calls for /metrics."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.telemetry import metrics

# slack_sdk's own default; with a session of ours, the session's timeout is the one used.
TIMEOUT_SECONDS = 30


async def _count_call(
    _session: aiohttp.ClientSession,
    _context: SimpleNamespace,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    # The method is the last part of the path: .../api/chat.postMessage
    method = params.url.path.rsplit("/", 1)[-1] or "?"
    metrics.SLACK_CALLS.labels(method=method, status=str(params.response.status)).inc()


def slack_client(token: str, base_url: str) -> AsyncWebClient:
    """An AsyncWebClient whose every call is counted by method and HTTP status.

    Connection errors are retried by the client; HTTP 429 is not, on purpose: the
    delivery outbox stores Slack's Retry-After and waits without blocking anything.
    Call `close_client` when done: the client's HTTP session is ours."""
    tracing = aiohttp.TraceConfig()
    tracing.on_request_end.append(_count_call)
    session = aiohttp.ClientSession(
        trace_configs=[tracing], timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    )
    return AsyncWebClient(token=token, base_url=base_url, session=session, timeout=TIMEOUT_SECONDS)


async def close_client(client: AsyncWebClient) -> None:
    if client.session is not None:
        await client.session.close()
