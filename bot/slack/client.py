"""The Slack Web API client Stockbot uses everywhere, counting its calls for /metrics."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.telemetry import metrics


class CountingWebClient(AsyncWebClient):
    """slack_sdk's client; every call (all go through `api_call`) is counted by method
    and HTTP status ("error" when Slack could not be reached).

    Connection errors are retried by the client; HTTP 429 is not, on purpose: the
    delivery outbox stores Slack's Retry-After and waits without blocking anything."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            _count(api_method, str(exc.response.status_code))
            raise
        except Exception:
            _count(api_method, "error")
            raise
        _count(api_method, str(response.status_code))
        return response


def slack_client(
    token: str, base_url: str, *, timeout: int, retries: bool = True
) -> AsyncWebClient:
    """The bot's client. `retries=False` for the outbox: a post retried blindly after a
    lost answer could show twice, so the outbox retries itself, after looking for the
    message in the channel."""
    client = CountingWebClient(token=token, base_url=base_url, timeout=timeout)
    if not retries:
        client.retry_handlers = []
    return client


def _count(method: str, status: str) -> None:
    metrics.SLACK_CALLS.labels(method=method, status=status).inc()
