"""Robust fetching of a supplier feed: HTTP(S) with retries, or a local file.

`open_feed()` is an async context manager that yields a `FeedResponse` whose
`chunks()` stream the (decompressed) body. Everything that can go wrong is
raised as `FeedUnavailable` (try again later) or `FeedInvalid` (the answer is
not a usable feed), with a message written for a shop owner. Messages name the
feed by `display_source()`, which drops credentials and query strings; header
values are never logged or quoted because they may be tokens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

import httpx

from suppliers.base import FeedInvalid, FeedUnavailable, Validators

log = logging.getLogger(__name__)

# 524 is Cloudflare's "origin timed out"; the rest are the usual transient 5xx.
RETRY_STATUSES = frozenset({500, 502, 503, 504, 524})
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 64 * 1024
# How much of the body to look at before deciding it is a web page.
_SNIFF_BYTES = 1024
_HTML_STARTS = (b"<!doctype html", b"<html")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_EXTRA_PHRASES = {524: "A Timeout Occurred"}
_SETTLE_SECONDS = 2.0  # see _file_validators


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Timeouts and retry behaviour; `sleep`, `jitter` and `clock` are test hooks."""

    timeout: float = 30.0  # seconds to wait for each read (and write/pool)
    connect_timeout: float = 10.0
    max_attempts: int = 4
    base_delay: float = 1.0  # first backoff step; doubles per attempt
    max_delay: float = 30.0  # cap on one backoff step
    max_retry_after: float = 60.0  # longer server-requested waits end the poll
    chunk_size: int = CHUNK_SIZE
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = random.random  # uniform in [0, 1)
    clock: Callable[[], datetime] = field(default=_utc_now)

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.connect_timeout, self.timeout))

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: spreads retries of many bots apart."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.jitter() * ceiling


@dataclass(slots=True)
class FeedResponse:
    """An open feed. Iterate `chunks()` once unless `not_modified` is True."""

    source: str  # safe to show: no credentials, no query string
    validators: Validators
    not_modified: bool = False
    content_type: str = ""
    _raw: AsyncIterator[bytes] | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, gunzipped when it is a gzip file, refused when it is a web page."""
        if self._raw is None:
            return
        head, rest = await prefetch(self._raw, len(GZIP_MAGIC))
        stream = chained(head, rest)
        if head.startswith(GZIP_MAGIC):
            # .gz files, application/gzip and gzip on disk all look like this;
            # Content-Encoding: gzip was already undone by httpx.
            stream = _gunzip(stream, self.source)
        head, stream = await prefetch(stream, _SNIFF_BYTES)
        if looks_like_html(head):
            raise FeedInvalid(_web_page_message(self.source))
        async for chunk in chained(head, stream):
            yield chunk


# --- sources ------------------------------------------------------------------


def is_http_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def resolve_source(source: str, base_dir: str | os.PathLike[str] | None = None) -> str:
    """Normalise a configured feed location: an http(s) URL, a file:// URL or a path.

    Relative paths are resolved against `base_dir` (the config file's folder) when
    given. Raises ValueError with a readable reason for anything else.
    """
    source = source.strip()
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"{display_source(source)} has no host name")
        return source
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("file:// URLs must point at this machine")
        return str(Path(url2pathname(unquote(parts.path))))
    # One-letter "schemes" are Windows drive letters, i.e. paths.
    if len(scheme) > 1:
        raise ValueError(
            f"{scheme}:// feeds are not supported; use an http(s) URL or a local file path"
        )
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return str(path)


def display_source(source: str) -> str:
    """The source without user:password@ or ?query (either may carry a secret)."""
    parts = urlsplit(source)
    if parts.scheme.lower() not in ("http", "https"):
        return source
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@asynccontextmanager
async def open_feed(
    client: httpx.AsyncClient,
    source: str,
    *,
    validators: Validators | None = None,
    headers: Mapping[str, str] | None = None,
    policy: FetchPolicy | None = None,
) -> AsyncIterator[FeedResponse]:
    """Open `source` (already passed through `resolve_source`) for streaming.

    With `validators` the request is conditional; a 304 (or an unchanged local
    file) yields a response with `not_modified=True` and no body.
    """
    policy = policy or FetchPolicy()
    validators = validators or Validators()
    if is_http_url(source):
        opener = _open_http(client, source, validators, headers or {}, policy)
    else:
        opener = _open_file(Path(source), validators, policy)
    async with opener as response:
        yield response


# --- HTTP -----------------------------------------------------------------------


@dataclass(slots=True)
class _Failure:
    """Why one attempt failed, and how long the server asked us to wait."""

    what: str  # e.g. "answered 503 Service Unavailable"
    retry_after: float | None = None


@asynccontextmanager
async def _open_http(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    headers: Mapping[str, str],
    policy: FetchPolicy,
) -> AsyncIterator[FeedResponse]:
    where = display_source(url)
    conditional = _conditional_headers(validators)
    request_headers = {**headers, **conditional}
    failures: list[str] = []
    for attempt in range(1, policy.max_attempts + 1):
        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(
                    client.stream(
                        "GET",
                        url,
                        headers=request_headers,
                        timeout=policy.httpx_timeout(),
                        follow_redirects=True,
                    )
                )
            except httpx.TimeoutException as exc:
                failure = _Failure(_timeout_text(exc, policy))
            except httpx.TooManyRedirects as exc:
                raise FeedInvalid(f"Supplier feed at {where} redirects in a loop") from exc
            except httpx.TransportError as exc:
                failure = _Failure("could not be reached (no connection)")
                log.debug("feed %s: %s", where, type(exc).__name__)
            else:
                failure = _check_status(response, where, bool(conditional), policy)
                if failure is None:
                    yield _http_response(response, where, validators, policy)
                    return
        failures.append(failure.what)
        if attempt == policy.max_attempts:
            break
        wait = _wait_before_retry(failure, attempt, where, policy)
        log.warning(
            "feed %s %s (attempt %d of %d); retrying in %.1fs",
            where,
            failure.what,
            attempt,
            policy.max_attempts,
            wait,
        )
        await policy.sleep(wait)
    raise FeedUnavailable(_gave_up_message(where, failures))


def _conditional_headers(validators: Validators) -> dict[str, str]:
    conditional = {}
    if validators.etag:
        conditional["If-None-Match"] = validators.etag
    if validators.last_modified:
        conditional["If-Modified-Since"] = validators.last_modified
    return conditional


def _check_status(
    response: httpx.Response, where: str, conditional: bool, policy: FetchPolicy
) -> _Failure | None:
    """None when the response is usable (2xx or 304); a retryable failure; or raise."""
    status = response.status_code
    if 200 <= status < 300 or (status == 304 and conditional):
        return None
    answered = f"answered {_status_text(status)}"
    if status == 429 or status in RETRY_STATUSES:
        return _Failure(answered, _retry_after_seconds(response, policy.clock))
    if status in (401, 403):
        raise FeedInvalid(
            f"Supplier feed at {where} refused access ({_status_text(status)}) - "
            "check the login or API key in the supplier settings"
        )
    if status in (404, 410):
        raise FeedInvalid(f"Supplier feed at {where} {answered} - check the URL")
    error = FeedInvalid if status < 500 else FeedUnavailable
    raise error(f"Supplier feed at {where} {answered}")


def _http_response(
    response: httpx.Response, where: str, sent: Validators, policy: FetchPolicy
) -> FeedResponse:
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if response.status_code == 304:
        # A 304 may refresh the validators; otherwise the old ones stay valid.
        validators = Validators(etag or sent.etag, last_modified or sent.last_modified)
        return FeedResponse(where, validators, not_modified=True)
    content_type = response.headers.get("content-type", "").lower()
    if content_type.startswith(_HTML_TYPES):
        raise FeedInvalid(_web_page_message(where))
    return FeedResponse(
        where,
        Validators(etag, last_modified),
        content_type=content_type,
        _raw=_http_chunks(response, where, policy),
    )


async def _http_chunks(
    response: httpx.Response, where: str, policy: FetchPolicy
) -> AsyncIterator[bytes]:
    """The body as httpx gives it, with mid-stream failures translated."""
    try:
        async for chunk in response.aiter_bytes(policy.chunk_size):
            yield chunk
    except httpx.TimeoutException as exc:
        raise FeedUnavailable(
            f"Supplier feed at {where} stopped sending data partway through "
            f"(nothing for {_duration(policy.timeout)}); will try again next poll"
        ) from exc
    except httpx.DecodingError as exc:
        raise FeedInvalid(
            f"Supplier feed at {where} sent compressed data that could not be unpacked"
        ) from exc
    except httpx.TransportError as exc:
        # RemoteProtocolError / ReadError: the server closed before the end.
        raise FeedInvalid(_cut_off_message(where)) from exc


def _timeout_text(exc: httpx.TimeoutException, policy: FetchPolicy) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        limit = min(policy.connect_timeout, policy.timeout)
        return f"could not be reached within {_duration(limit)}"
    return f"did not answer within {_duration(policy.timeout)}"


def _status_text(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = _EXTRA_PHRASES.get(status, "")
    return f"{status} {phrase}".strip()


def _retry_after_seconds(response: httpx.Response, clock: Callable[[], datetime]) -> float | None:
    """Retry-After as seconds from now; None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock()).total_seconds())


def _wait_before_retry(failure: _Failure, attempt: int, where: str, policy: FetchPolicy) -> float:
    """Seconds to sleep before the next attempt, or raise if the server wants too long."""
    if failure.retry_after is None:
        return policy.backoff(attempt)
    if failure.retry_after > policy.max_retry_after:
        retry_at = policy.clock() + timedelta(seconds=failure.retry_after)
        raise FeedUnavailable(
            f"Supplier feed at {where} {failure.what} and asked us to wait "
            f"{_duration(failure.retry_after)}; will try again after "
            f"{retry_at:%Y-%m-%d %H:%M} UTC"
        )
    return failure.retry_after


def _gave_up_message(where: str, failures: list[str]) -> str:
    count = len(failures)
    times = "once" if count == 1 else f"{count} times"
    if len(set(failures)) == 1:
        what = f"{failures[0]} {times}"
    else:
        what = f"failed {times} (last time it {failures[-1]})"
    return f"Supplier feed at {where} {what}; will try again next poll"


# --- local files ------------------------------------------------------------------


@asynccontextmanager
async def _open_file(
    path: Path, validators: Validators, policy: FetchPolicy
) -> AsyncIterator[FeedResponse]:
    where = str(path)
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError as exc:
        raise FeedUnavailable(
            f"Supplier feed file {where} does not exist; will try again next poll"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FeedUnavailable(f"Supplier feed file {where} could not be opened ({reason})") from exc
    try:
        current = _file_validators(os.fstat(handle.fileno()), policy.clock())
        if current.etag is not None and current.etag == validators.etag:
            yield FeedResponse(where, current, not_modified=True)
        else:
            yield FeedResponse(where, current, _raw=_file_chunks(handle, where, policy))
    finally:
        handle.close()


def _file_validators(stat: os.stat_result, now: datetime) -> Validators:
    """Validators for a file: they change whenever its size or modification time do.

    File times are only as fine as the kernel's clock tick, so a file rewritten
    within the same tick at the same size would look unchanged. Like git's
    "racily clean" check, a file modified in the last few seconds gets no
    validators and is simply read again next time.
    """
    if now.timestamp() - stat.st_mtime < _SETTLE_SECONDS:
        return Validators()
    etag = f'"file-{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    return Validators(etag, formatdate(stat.st_mtime, usegmt=True))


async def _file_chunks(handle: IO[bytes], where: str, policy: FetchPolicy) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await asyncio.to_thread(handle.read, policy.chunk_size)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise FeedUnavailable(
                f"Supplier feed file {where} could not be read ({reason})"
            ) from exc
        if not chunk:
            return
        yield chunk


# --- body helpers ---------------------------------------------------------------------


async def prefetch(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """Read at least `size` bytes (fewer at the end); pass both on to `chained()`."""
    head = bytearray()
    while len(head) < size:
        try:
            head += await anext(chunks)
        except StopAsyncIteration:
            break
    return bytes(head), chunks


async def chained(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in rest:
        yield chunk


def looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:16].lower()
    return start.startswith(_HTML_STARTS)


async def _gunzip(chunks: AsyncIterator[bytes], where: str) -> AsyncIterator[bytes]:
    """Decompress incrementally, in bounded pieces, across concatenated members."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        async for chunk in chunks:
            data = chunk
            while data:
                if out := inflater.decompress(data, CHUNK_SIZE):
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
        tail = inflater.flush()
    except zlib.error as exc:
        raise FeedInvalid(f"Supplier feed at {where} is a damaged gzip file") from exc
    if tail:
        yield tail
    if not inflater.eof:
        raise FeedInvalid(_cut_off_message(where))


def _web_page_message(where: str) -> str:
    return (
        f"Supplier feed at {where} answered with a web page instead of a stock feed - "
        "check the URL or login"
    )


def _cut_off_message(where: str) -> str:
    return (
        f"Supplier feed at {where} was cut off before the end; nothing from this read "
        "was used, will try again next poll"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"


# --- shared with the JSON API adapters (suppliers/api_client.py) ----------------------
# Public names for pieces above, so API adapters wait, word and display the same way.

retry_after_seconds = _retry_after_seconds
status_text = _status_text
duration_text = _duration
