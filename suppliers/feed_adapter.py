"""Plumbing of the generic feed adapters (CSV, JSON, ...): `FeedOptions` and
`FeedAdapterBase`, so a new feed format only has to turn bytes into rows."""

from __future__ import annotations

import codecs
import re
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from suppliers.base import (
    AdapterOptions,
    FeedInvalid,
    FeedRead,
    OnceFeedRead,
    StockRecord,
    SupplierAdapter,
    Validators,
)
from suppliers.feed_source import FeedResponse, open_feed, resolve_source
from suppliers.parsing import FIELDS, RecordBuilder
from transport import EnvVarName, FetchPolicy, display_source

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

    @field_validator("url")
    @classmethod
    def _resolve_url(cls, url: str, info: ValidationInfo) -> str:
        return resolve_source(url, (info.context or {}).get("base_dir"))

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

    @asynccontextmanager
    async def read(
        self, validators: Validators | None, skus: Sequence[str], batch_size: int
    ) -> AsyncIterator[FeedRead]:
        async with open_feed(
            self.client,
            self.options.url,
            validators=validators,
            headers=self.request_headers(),
            policy=self.policy,
        ) as response:
            read = _StreamedFeedRead(self, response, batch_size)
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
        builder = RecordBuilder(self.stats, self._adapter.unit)
        async with aclosing(self._response.chunks()) as chunks:
            parsed = self._adapter.parse(chunks, builder, self._response.source)
            async with aclosing(parsed):
                async for piece in parsed:
                    yield piece
