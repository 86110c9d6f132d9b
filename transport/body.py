"""Reading answer bodies: streamed chunks, gzip, web pages where data was expected, JSON."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from transport.errors import ServiceUnusable
from transport.policy import CHUNK_SIZE
from transport.wording import Speaker

GZIP_MAGIC = b"\x1f\x8b"
# How much of a body to look at before deciding it is a web page.
SNIFF_BYTES = 1024
HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_STARTS = (b"<!doctype html", b"<html")


def looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:16].lower()
    return start.startswith(_HTML_STARTS)


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


def cut_off_message(speaker: Speaker) -> str:
    return (
        f"{speaker.subject} was cut off before the end; nothing from this read was used, "
        f"{speaker.we_will} try again next poll"
    )


async def gunzip(
    chunks: AsyncIterator[bytes], speaker: Speaker, piece_size: int = CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """Decompress incrementally, in pieces of at most `piece_size` (a small gzip
    may inflate to gigabytes), across concatenated members."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        async for chunk in chunks:
            data = chunk
            while data:
                if out := inflater.decompress(data, piece_size):
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
        tail = inflater.flush()
    except zlib.error as exc:
        raise ServiceUnusable(f"{speaker.subject} is a damaged gzip file") from exc
    if tail:
        yield tail
    if not inflater.eof:
        raise ServiceUnusable(cut_off_message(speaker))


def read_json(response: httpx.Response, service: str) -> Any:
    """The body as JSON with decimals as Decimal; None for an empty body (which is
    "no data", never zero stock)."""
    body = response.content
    if not body.strip():
        return None
    if looks_like_html(body[:SNIFF_BYTES]):
        raise ServiceUnusable(
            f"{service} answered with a web page instead of data - check base_url in the settings"
        )
    try:
        # Decimal, not float: "12.30" must stay exactly 12.30 (money).
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        raise ServiceUnusable(
            f"{service} sent an answer that is not valid JSON (it may have been cut off); "
            "will try again next poll"
        ) from None
