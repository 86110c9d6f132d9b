"""Streaming GETs with retries, and their bodies with mid-stream failures translated."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from transport.body import cut_off_message
from transport.client import attempt_failure
from transport.errors import ServiceUnavailable, ServiceUnusable
from transport.policy import FetchPolicy
from transport.retrying import with_retries
from transport.wording import Speaker, duration_text


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    check: Callable[[httpx.Response], None],
    policy: FetchPolicy,
    speaker: Speaker,
    log: logging.Logger,
    where: str,
) -> AsyncIterator[httpx.Response]:
    """GET `url` following redirects, retried until `check` accepts the response.

    `check` raises `Retry` for an answer worth another try, or a ServiceError.
    The response is open (its body unread) until the context ends.
    """

    async def attempt() -> tuple[httpx.Response, AsyncExitStack]:
        async with AsyncExitStack() as stack:  # a failed attempt closes its response
            try:
                response = await stack.enter_async_context(
                    client.stream(
                        "GET",
                        url,
                        headers=headers,
                        timeout=policy.httpx_timeout(),
                        follow_redirects=True,
                    )
                )
            except httpx.TooManyRedirects as exc:
                raise ServiceUnusable(f"{speaker.subject} redirects in a loop") from exc
            except httpx.RequestError as exc:
                log.debug("%s: %s", where, type(exc).__name__)
                raise attempt_failure(exc, policy) from exc
            check(response)
            return response, stack.pop_all()  # a usable one stays open for the caller

    response, stack = await with_retries(
        attempt, policy=policy, speaker=speaker, log=log, where=where
    )
    async with stack:
        yield response


async def body_chunks(
    response: httpx.Response, policy: FetchPolicy, speaker: Speaker
) -> AsyncIterator[bytes]:
    """The body as httpx gives it, with mid-stream failures translated."""
    try:
        async for chunk in response.aiter_bytes(policy.chunk_size):
            yield chunk
    except httpx.TimeoutException as exc:
        raise ServiceUnavailable(
            f"{speaker.subject} stopped sending data partway through "
            f"(nothing for {duration_text(policy.timeout)}); "
            f"{speaker.we_will} try again next poll"
        ) from exc
    except httpx.DecodingError as exc:
        raise ServiceUnusable(
            f"{speaker.subject} sent compressed data that could not be unpacked"
        ) from exc
    except httpx.TransportError as exc:
        # RemoteProtocolError / ReadError: the server closed before the end.
        raise ServiceUnusable(cut_off_message(speaker)) from exc
