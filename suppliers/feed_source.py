"""Opening a supplier feed: an HTTP(S) URL (through `transport`) or a local file.

`open_feed()` is an async context manager that yields a `FeedResponse` whose
`chunks()` stream the (decompressed) body, no more of it than the feed's
limits allow. Everything that can go wrong is raised as `FeedUnavailable` (try
again later) or `FeedInvalid` (the answer is not a usable feed), with a message
written for a shop owner. Messages name the feed by `display_source()`, which
drops credentials and query strings; header values are never logged or quoted
because they may be tokens, nor sent to another site on a redirect.

Local files are read only inside the feeds folder (`within`), symlinks resolved.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from suppliers.base import FeedInvalid, FeedUnavailable, Validators
from suppliers.limits import FeedLimits
from transport import (
    CHUNK_SIZE,
    GZIP_MAGIC,
    HTML_TYPES,
    SNIFF_BYTES,
    FetchPolicy,
    Speaker,
    answer_error,
    body_chunks,
    chained,
    display_source,
    failed_answer,
    gunzip,
    is_http_url,
    looks_like_html,
    open_stream,
    prefetch,
    refused_access,
)

log = logging.getLogger(__name__)

_SETTLE_SECONDS = 2.0  # see _file_validators


def feed_speaker(where: str) -> Speaker:
    """Feed messages: "Supplier feed at <url> ... asked us to wait ...; will try again"."""
    return Speaker(f"Supplier feed at {where}", us="us", we_will="will")


@dataclass(slots=True)
class FeedResponse:
    """An open feed. Iterate `chunks()` once unless `not_modified` is True."""

    source: str  # safe to show: no credentials, no query string
    validators: Validators
    not_modified: bool = False
    content_type: str = ""
    _raw: AsyncIterator[bytes] | None = None
    _encoded: bool = False  # compressed on the wire (Content-Encoding)
    _piece_size: int = CHUNK_SIZE

    async def chunks(self, limits: FeedLimits) -> AsyncGenerator[bytes, None]:
        """The body, gunzipped when it is a gzip file, refused when it is a web page
        or grows past `limits.max_bytes`.

        The loop gets a turn after every piece: a 1 MB download can inflate to
        gigabytes and keep the parser busy for minutes, and Slack must not wait.
        """
        if self._raw is None:
            return
        head, rest = await prefetch(self._raw, len(GZIP_MAGIC))
        stream = chained(head, rest)
        compressed = self._encoded
        if head.startswith(GZIP_MAGIC):
            # .gz files, application/gzip and gzip on disk all look like this;
            # Content-Encoding: gzip was already undone by transport.
            stream = gunzip(stream, feed_speaker(self.source), self._piece_size)
            compressed = True
        head, stream = await prefetch(stream, SNIFF_BYTES)
        if looks_like_html(head):
            raise FeedInvalid(_web_page_message(self.source))
        size = 0
        async for chunk in chained(head, stream):
            size += len(chunk)
            if size > limits.max_bytes:
                raise limits.too_big(compressed)
            yield chunk
            await asyncio.sleep(0)


# --- sources ------------------------------------------------------------------


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


def outside_message(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> str | None:
    """Why `path` may not be read as a feed, or None when it lies in `folder`.

    Symlinks and `..` are resolved first: a link to /etc/passwd is outside.
    """
    real = Path(os.path.realpath(path))
    if real.is_relative_to(os.path.realpath(folder)):
        return None
    shown = str(path) if real == Path(path) else f"{path} (really {real})"
    return (
        f"{shown} is outside the feeds folder {folder}; put the feed there, or set "
        "[paths] feeds_dir to the folder that holds it"
    )


@asynccontextmanager
async def open_feed(
    client: httpx.AsyncClient,
    source: str,
    *,
    validators: Validators | None = None,
    headers: Mapping[str, str] | None = None,
    public_headers: Collection[str] = (),
    policy: FetchPolicy | None = None,
    within: str | os.PathLike[str] | None = None,
) -> AsyncIterator[FeedResponse]:
    """Open `source` (already passed through `resolve_source`) for streaming.

    With `validators` the request is conditional; a 304 (or an unchanged local
    file) yields a response with `not_modified=True` and no body. Of `headers`,
    only `public_headers` follow a redirect to another site. A local file is
    read only when it lies in the folder `within` (when given).
    """
    policy = policy or FetchPolicy()
    validators = validators or Validators()
    if is_http_url(source):
        opener = _open_http(client, source, validators, headers or {}, public_headers, policy)
    else:
        opener = _open_file(Path(source), validators, policy, within)
    async with opener as response:
        yield response


# --- HTTP -----------------------------------------------------------------------


@asynccontextmanager
async def _open_http(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    headers: Mapping[str, str],
    public_headers: Collection[str],
    policy: FetchPolicy,
) -> AsyncIterator[FeedResponse]:
    where = display_source(url)
    speaker = feed_speaker(where)
    conditional = _conditional_headers(validators)

    def check(response: httpx.Response) -> None:
        _check_status(response, where, bool(conditional), policy)

    async with open_stream(
        client,
        url,
        headers={**headers, **conditional},
        check=check,
        policy=policy,
        speaker=speaker,
        log=log,
        where=f"feed {where}",
        public_headers=public_headers,
    ) as response:
        yield _http_response(response, where, validators, policy)


def _conditional_headers(validators: Validators) -> dict[str, str]:
    conditional = {}
    if validators.etag:
        conditional["If-None-Match"] = validators.etag
    if validators.last_modified:
        conditional["If-Modified-Since"] = validators.last_modified
    return conditional


def _check_status(
    response: httpx.Response, where: str, conditional: bool, policy: FetchPolicy
) -> None:
    """Return when the response is usable (2xx or 304); raise Retry or an error otherwise."""

    def usable(status: int) -> bool:
        return 200 <= status < 300 or (status == 304 and conditional)

    answered = failed_answer(response, policy.clock, explain_429=False, usable=usable)
    if answered is None:
        return
    status = response.status_code
    if status in (401, 403):
        hint = "check the login or API key in the supplier settings"
        raise FeedInvalid(refused_access(f"Supplier feed at {where}", status, hint))
    if status in (404, 410):
        raise FeedInvalid(f"Supplier feed at {where} {answered} - check the URL")
    raise answer_error(status, f"Supplier feed at {where} {answered}")


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
    if content_type.startswith(HTML_TYPES):
        raise FeedInvalid(_web_page_message(where))
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return FeedResponse(
        where,
        Validators(etag, last_modified),
        content_type=content_type,
        _raw=body_chunks(response, policy, feed_speaker(where)),
        _encoded=encoding not in ("", "identity"),
        _piece_size=policy.chunk_size,
    )


# --- local files ------------------------------------------------------------------


@asynccontextmanager
async def _open_file(
    path: Path,
    validators: Validators,
    policy: FetchPolicy,
    within: str | os.PathLike[str] | None,
) -> AsyncIterator[FeedResponse]:
    where = str(path)
    if within is not None:
        # Checked again at every read: the file may have become a symlink since.
        path = await asyncio.to_thread(_contained, path, within)
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
            yield FeedResponse(
                where,
                current,
                _raw=_file_chunks(handle, where, policy),
                _piece_size=policy.chunk_size,
            )
    finally:
        handle.close()


def _contained(path: Path, within: str | os.PathLike[str]) -> Path:
    """`path` with symlinks resolved, if it lies in `within`; else FeedInvalid."""
    outside = outside_message(path, within)
    if outside is not None:
        raise FeedInvalid(f"Supplier feed file {outside}")
    return Path(os.path.realpath(path))


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


def _web_page_message(where: str) -> str:
    return (
        f"Supplier feed at {where} answered with a web page instead of a stock feed - "
        "check the URL or login"
    )
