"""A fake supplier feed server on 127.0.0.1 for tests.

It runs `http.server` in a background thread, so sync and async tests can use
it alike. Typical fixture::

    @pytest.fixture
    def supplier_server() -> Iterator[FakeSupplierServer]:
        with FakeSupplierServer() as server:
            yield server

    server.set_feed("/stock.csv", b"sku,qty\\nA,1\\n")
    server.script("/stock.csv", too_many_requests("2"), server_error(503))
    url = server.url("/stock.csv")      # first two requests fail, then the feed
    server.requests_for("/stock.csv")   # what the client sent

Feeds get an ETag and Last-Modified and answer If-None-Match /
If-Modified-Since with 304. Scripted replies (`Reply`) are used first, one per
request, in order; a `Reply` with status 200 and no body serves the feed, so
`truncated()` cuts the real feed short and `trickle()` sends it a byte at a time.

Hostile feeds: `gzip_bomb()` and `gzip_of()` build small gzip files that inflate
to a lot; `redirect()` sends the client elsewhere. Another origin is a second
server, or this one named differently: `server.url(path, host="localhost")`.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import zlib
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

WRITE_CHUNK = 64 * 1024


def http_date(moment: datetime) -> str:
    """An RFC 9110 date, e.g. for Retry-After or Last-Modified."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer to the next request for a path."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None with status 200: serve the path's feed
    delay: float = 0.0  # seconds to stall before answering (to trip timeouts)
    cut_after: int | None = None  # send only this many body bytes, then hang up
    disconnect: bool = False  # hang up without answering at all
    trickle: float = 0.0  # seconds between body bytes (0: send at once)


def too_many_requests(retry_after: str) -> Reply:
    """429 with Retry-After given as seconds ("2") or an HTTP date."""
    return Reply(429, {"Retry-After": retry_after}, b"slow down")


def server_error(status: int = 500) -> Reply:
    return Reply(status, {}, b"oops")


def stall(seconds: float) -> Reply:
    """Serve the feed, but only after `seconds` (longer than the client timeout)."""
    return Reply(delay=seconds)


def truncated(cut_after: int | None = None) -> Reply:
    """Serve the feed with its full Content-Length but hang up early (default: halfway)."""
    return Reply(cut_after=-1 if cut_after is None else cut_after)


def html_page(content_type: str = "text/html; charset=utf-8") -> Reply:
    """A login page where the feed should be (as captive portals and expired sessions do)."""
    page = b"\n  <!DOCTYPE html>\n<html><body><form>Please log in</form></body></html>\n"
    return Reply(200, {"Content-Type": content_type}, page)


def disconnect() -> Reply:
    return Reply(disconnect=True)


def trickle(every: float) -> Reply:
    """Serve the feed one byte every `every` seconds: never silent long enough
    for a read timeout, never done."""
    return Reply(trickle=every)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, {"Location": location}, b"")


def gzip_of(unit: bytes, times: int, head: bytes = b"") -> bytes:
    """`head` then `unit` repeated `times` times, gzipped as one member without
    building the inflated bytes in memory (what Content-Encoding: gzip sends)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = unit * max(1, (1 << 20) // max(1, len(unit)))
    per_block = len(block) // len(unit)
    parts = [packer.compress(head)]
    whole, rest = divmod(times, per_block)
    parts += [packer.compress(block) for _ in range(whole)]
    parts += [packer.compress(unit * rest), packer.flush()]
    return b"".join(parts)


def gzip_bomb(inflated: int, fill: bytes = b"\0") -> bytes:
    """A .gz file that inflates to `inflated` bytes of `fill` (no newline): about
    1 KB on the wire per MiB, as concatenated gzip members."""
    member = gzip.compress(fill * (1 << 20), compresslevel=9)
    whole, rest = divmod(inflated, 1 << 20)
    return member * whole + (gzip.compress(fill * rest) if rest else b"")


@dataclass(slots=True)
class Feed:
    body: bytes  # as sent on the wire (already gzipped for Content-Encoding: gzip)
    content_type: str
    etag: str
    last_modified: str
    content_encoding: str | None = None
    chunked: bool = False


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names


class FakeSupplierServer:
    """Serves feeds and scripted failures; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._feeds: dict[str, Feed] = {}
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes stalled handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- configuration --

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """`path` on this server; another `host` name for the same server is
        another origin to the client (e.g. "localhost")."""
        return f"http://{host}:{self.port}{path}"

    def set_feed(
        self,
        path: str,
        body: bytes,
        content_type: str = "text/csv; charset=utf-8",
        *,
        content_encoding: str | None = None,
        chunked: bool = False,
        last_modified: datetime | None = None,
        encoded: bool = False,
    ) -> Feed:
        """Serve `body` at `path`. content_encoding="gzip" compresses it on the
        wire, unless `encoded` says `body` is compressed already."""
        if content_encoding not in (None, "gzip"):
            raise ValueError("only gzip content encoding is supported")
        wire = gzip.compress(body) if content_encoding and not encoded else body
        feed = Feed(
            body=wire,
            content_type=content_type,
            etag=f'"{hashlib.sha256(wire).hexdigest()[:16]}"',
            last_modified=http_date(last_modified or datetime.now(UTC)),
            content_encoding=content_encoding,
            chunked=chunked,
        )
        with self._lock:
            self._feeds[path] = feed
        return feed

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests for `path` with `replies`, in order."""
        with self._lock:
            self._scripts[path].extend(replies)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    # -- used by the handler --

    def _next(self, request: RecordedRequest) -> tuple[Reply | None, Feed | None]:
        with self._lock:
            self.requests.append(request)
            script = self._scripts.get(request.path)
            reply = script.popleft() if script else None
            return reply, self._feeds.get(request.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Any, owner: FakeSupplierServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, early close) are part of the tests: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(self.command, parts.path, parts.query, headers)
        owner = self.server.owner
        reply, feed = owner._next(request)
        if reply is not None and reply.delay and owner.stopping.wait(reply.delay):
            return
        if reply is not None and reply.disconnect:
            self._hang_up()
        elif reply is not None and not (reply.status == 200 and reply.body is None):
            self._send(reply.status, reply.headers, reply.body or b"", None)
        elif feed is None:
            self._send(404, {"Content-Type": "text/plain"}, b"no such feed", None)
        elif self._not_modified(feed):
            self._send_headers(304, self._validator_headers(feed))
        elif reply is not None and reply.trickle:
            self._trickle(feed, reply.trickle)
        else:
            self._send_feed(feed, reply.cut_after if reply is not None else None)

    def _not_modified(self, feed: Feed) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # takes precedence over If-Modified-Since
            tags = {tag.strip() for tag in if_none_match.split(",")}
            return "*" in tags or feed.etag in tags or f"W/{feed.etag}" in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return parsedate_to_datetime(feed.last_modified) <= since

    @staticmethod
    def _validator_headers(feed: Feed) -> dict[str, str]:
        return {"ETag": feed.etag, "Last-Modified": feed.last_modified}

    def _send_feed(self, feed: Feed, cut_after: int | None) -> None:
        headers = {"Content-Type": feed.content_type, **self._validator_headers(feed)}
        if feed.content_encoding:
            headers["Content-Encoding"] = feed.content_encoding
        if cut_after == -1:
            cut_after = len(feed.body) // 2
        self._send(200, headers, feed.body, cut_after, chunked=feed.chunked)

    def _send(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        cut_after: int | None,
        *,
        chunked: bool = False,
    ) -> None:
        headers = {"Content-Type": "text/plain", **headers}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(len(body))
        self._send_headers(status, headers)
        sent = body if cut_after is None else body[:cut_after]
        for start in range(0, len(sent), WRITE_CHUNK):
            piece = sent[start : start + WRITE_CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if cut_after is not None:
            self._hang_up()
        elif chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _trickle(self, feed: Feed, every: float) -> None:
        headers = {"Content-Type": feed.content_type, "Content-Length": str(len(feed.body))}
        self._send_headers(200, headers)
        for index in range(len(feed.body)):
            if self.server.owner.stopping.wait(every):
                return
            try:
                self.wfile.write(feed.body[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up, as it should

    def _send_headers(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _hang_up(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
