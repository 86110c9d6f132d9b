"""Streaming GETs with retries, and their bodies with mid-stream failures translated."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from transport.body import cut_off_message, gunzip
from transport.client import attempt_failure
from transport.errors import ServiceUnavailable, ServiceUnusable
from transport.policy import FetchPolicy
from transport.redirects import send_following
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
    public_headers: Collection[str] = (),
) -> AsyncIterator[httpx.Response]:
    """GET `url` following redirects, retried until `check` accepts the response.

    A redirect to another origin carries only `public_headers` of `headers`
    (see `send_following`). `check` raises `Retry` for an answer worth another
    try, or a ServiceError. The response is open (its body unread) until the
    context ends.
    """

    async def attempt() -> tuple[httpx.Response, AsyncExitStack]:
        async with AsyncExitStack() as stack:  # a failed attempt closes its response
            request = client.build_request(
                "GET", url, headers=headers, timeout=policy.httpx_timeout()
            )
            try:
                response = await send_following(
                    client, request, stream=True, speaker=speaker, keep=public_headers
                )
            except httpx.RequestError as exc:
                log.debug("%s: %s", where, type(exc).__name__)
                raise attempt_failure(exc, policy) from exc
            stack.push_async_callback(response.aclose)
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
    """The body, decoded, in pieces of at most `policy.chunk_size`.

    Content-Encoding: gzip is undone here rather than by httpx, which inflates
    each network read whole: 64 KB of a gzip bomb would become 64 MB at once.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        chunks = gunzip(_wire(response, policy, speaker), speaker, policy.chunk_size)
    elif encoding in ("", "identity"):
        chunks = _wire(response, policy, speaker)
    else:  # rare encodings: httpx's own decoders
        chunks = _wire(response, policy, speaker, decoded=True)
    async for chunk in chunks:
        yield chunk


async def _wire(
    response: httpx.Response, policy: FetchPolicy, speaker: Speaker, *, decoded: bool = False
) -> AsyncIterator[bytes]:
    """The body as it came (or decoded by httpx), with mid-stream failures translated."""
    pieces = response.aiter_bytes(policy.chunk_size) if decoded else response.aiter_raw()
    try:
        async for chunk in pieces:
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
