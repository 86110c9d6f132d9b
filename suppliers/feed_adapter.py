"""Plumbing of the generic feed adapters (CSV, JSON, ...): `FeedOptions` and
`FeedAdapterBase`, so a new feed format only has to turn bytes into rows."""

from __future__ import annotations

import codecs
import re
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from suppliers.base import (
    AdapterOptions,
    FeedInvalid,
    FeedRead,
    OnceFeedRead,
    ReadRequest,
    StockRecord,
    SupplierAdapter,
)
from suppliers.feed_source import (
    FeedResponse,
    feed_speaker,
    open_feed,
    outside_message,
    resolve_source,
)
from suppliers.limits import KB, MB, FeedLimits
from suppliers.parsing import FIELDS, RecordBuilder
from transport import EnvVarName, FetchPolicy, display_source, is_http_url

# --- options and adapter plumbing ----------------------------------------------------

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class FeedOptions(AdapterOptions):
    """Options shared by all file-style feeds (`[[suppliers]]` keys)."""

    url: str  # http(s) URL, file:// URL or local path (relative to the config file)
    mapping: dict[str, str] = Field(default_factory=dict)  # logical field -> column name
    headers: dict[str, str] = Field(default_factory=dict)  # plain, non-secret headers
    # header name -> NAME of the environment variable holding its (secret) value
    headers_env: dict[str, EnvVarName] = Field(default_factory=dict)
    encoding: str = "utf-8"
    timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=10)
    # Bounds of one read; past any of them the poll is a feed problem, not stock.
    max_feed_mb: int = Field(256, ge=1, le=64 * 1024)  # inflated size
    max_line_kb: int = Field(1024, ge=1, le=1024 * 1024)
    max_rows: int = Field(1_000_000, ge=1)

    # The folder local feeds must stay in (None: anywhere, for programmatic use).
    _feeds_dir: Path | None = PrivateAttr(None)

    @field_validator("url")
    @classmethod
    def _resolve_url(cls, url: str, info: ValidationInfo) -> str:
        context = info.context or {}
        resolved = resolve_source(url, context.get("base_dir"))
        folder = _feeds_dir(context)
        if folder is not None and not is_http_url(resolved):
            outside = outside_message(resolved, folder)
            if outside is not None:
                raise ValueError(outside)
        return resolved

    @model_validator(mode="after")
    def _remember_feeds_dir(self, info: ValidationInfo) -> FeedOptions:
        self._feeds_dir = _feeds_dir(info.context or {})
        return self

    @property
    def feeds_dir(self) -> Path | None:
        return self._feeds_dir

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, mapping: dict[str, str]) -> dict[str, str]:
        for name, column in mapping.items():
            if name not in FIELDS:
                raise ValueError(f"unknown field {name!r} (known: {', '.join(FIELDS)})")
            if not column.strip():
                raise ValueError(f"the column name for {name} is empty")
        return mapping

    @field_validator("headers", "headers_env")
    @classmethod
    def _valid_header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
        return headers

    @field_validator("headers")
    @classmethod
    def _single_line_values(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if any(char in value for char in "\r\n\0"):
                raise ValueError(f"the value of header {name} must be on one line")
        return headers

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise ValueError(f"unknown text encoding {encoding!r}") from None

    @model_validator(mode="after")
    def _no_header_twice(self) -> FeedOptions:
        both = {name.lower() for name in self.headers} & {n.lower() for n in self.headers_env}
        if both:
            raise ValueError(f"header {sorted(both)[0]} is set in both headers and headers_env")
        return self


def _feeds_dir(context: Mapping[str, Any]) -> Path | None:
    """`[paths] feeds_dir` as the config loader passes it; by default the config's folder."""
    folder = context.get("feeds_dir") or context.get("base_dir")
    return None if folder is None else Path(folder)


class FeedAdapterBase(SupplierAdapter):
    """A supplier whose whole catalogue comes as one document (CSV, JSON, ...).

    Batches are yielded while the download is still running, so a FeedError
    can follow batches already yielded (a cut-off body, a JSON feed without any
    quantity key): callers must treat the whole read as failed then.
    Subclasses set `kind`, `Options` and `unit`, and implement `parse()`.
    """

    Options: ClassVar[type[FeedOptions]]
    unit: ClassVar[str] = "line"  # what RejectedRow.line counts
    needs_skus: ClassVar[bool] = False
    options: FeedOptions

    def limited(self, policy: FetchPolicy) -> FetchPolicy:
        # Feeds have no max_wait key: the policy's longest wait stands.
        return policy.limited(self.options.timeout, self.options.max_attempts)

    @property
    def subject(self) -> str:
        return feed_speaker(display_source(self.options.url)).subject

    @cached_property
    def limits(self) -> FeedLimits:
        options = self.options
        return FeedLimits(
            self.subject,
            max_bytes=options.max_feed_mb * MB,
            max_line_chars=options.max_line_kb * KB,
            max_rows=options.max_rows,
        )

    @asynccontextmanager
    async def read(self, request: ReadRequest) -> AsyncIterator[FeedRead]:
        async with open_feed(
            self.client,
            self.options.url,
            validators=request.validators,
            headers=self.request_headers(),
            public_headers=list(self.options.headers),
            policy=self.policy,
            within=self.options.feeds_dir,
        ) as response:
            read = _StreamedFeedRead(self, response, request.batch_size)
            try:
                yield read
            finally:
                await read.aclose()

    def request_headers(self) -> dict[str, str]:
        """Plain headers plus secret ones read from the environment (never logged)."""
        headers = dict(self.options.headers)
        for header, variable in self.options.headers_env.items():
            value = self.env.get(variable, "").strip()
            if not value:
                raise FeedInvalid(
                    f"Supplier {self.name}: environment variable {variable} "
                    f"(for the {header} header) is not set"
                )
            if any(char in value for char in "\r\n\0"):
                raise FeedInvalid(
                    f"Supplier {self.name}: environment variable {variable} must hold a single line"
                )
            headers[header] = value
        return headers

    @abstractmethod
    def parse(
        self, chunks: AsyncIterator[bytes], builder: RecordBuilder, source: str
    ) -> AsyncGenerator[list[StockRecord], None]:
        """Turn the body into records, yielded as they are read (any number at a
        time, `rebatched` sizes them); raise FeedInvalid if it is unusable."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": display_source(self.options.url)}


class _StreamedFeedRead(OnceFeedRead):
    """One read of a feed adapter; `batches()` may be iterated once."""

    def __init__(self, adapter: FeedAdapterBase, response: FeedResponse, batch_size: int) -> None:
        super().__init__(batch_size, response.validators)
        self.not_modified = response.not_modified
        self._adapter = adapter
        self._response = response

    async def pieces(self) -> AsyncGenerator[list[StockRecord], None]:
        if self.not_modified:
            return
        limits = self._adapter.limits
        builder = RecordBuilder(self.stats, self._adapter.unit, limits)
        async with aclosing(self._response.chunks(limits)) as chunks:
            parsed = self._adapter.parse(chunks, builder, self._response.source)
            async with aclosing(parsed):
                async for piece in parsed:
                    yield piece
        unreadable = self.stats.unreadable_skus
        if unreadable:
            self.complete = False
            rows = "1 row's SKU" if unreadable == 1 else f"{unreadable:,} rows' SKUs"
            self.incomplete_reason = (
                f"{rows} could not be read (garbled text or a broken line), so SKUs "
                "missing from this feed were not marked out of stock: any of them may "
                "be behind such a row"
            )
