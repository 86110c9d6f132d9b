"""What the supplier and store adapter tests share: a fake clock's policy, building
an adapter from raw options, and reading a supplier's stock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
import pydantic
import pytest

from suppliers.base import FeedRead, StockRecord, SupplierAdapter
from tests.fakes.clock import FakeClock
from transport import FetchPolicy, ServiceAdapter

START = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)

A = TypeVar("A", bound=ServiceAdapter)
A_co = TypeVar("A_co", bound=ServiceAdapter, covariant=True)
S = TypeVar("S")


def fake_clock_policy(clock: FakeClock) -> FetchPolicy:
    """Deterministic waits: sleeping moves `clock`, backoff takes its full 0.5 s step."""
    return FetchPolicy(base_delay=0.5, sleep=clock.sleep, jitter=lambda: 1.0, clock=clock)


class MakeAdapter(Protocol[A_co]):
    def __call__(
        self,
        server: Any,
        client: httpx.AsyncClient,
        clock: FakeClock,
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> A_co: ...


def adapter_maker(
    adapter_type: type[A],
    name: str,
    credentials: dict[str, str],
    defaults: Callable[[S], dict[str, Any]],
) -> MakeAdapter[A]:
    """A `make(server, client, clock, env=None, **options)` for one adapter kind:
    `defaults(server)` are its options (pointing at the fake server), `options`
    override them, and `env` (default: `credentials`) is the environment."""

    def make(
        server: S,
        client: httpx.AsyncClient,
        clock: FakeClock,
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> A:
        env = credentials if env is None else env
        raw = {**defaults(server), **options}
        parsed = adapter_type.Options.model_validate(raw, context={"env": env})
        return adapter_type(name, parsed, client, env, policy=fake_clock_policy(clock))

    return make


async def poll(
    adapter: SupplierAdapter, skus: Sequence[str], batch_size: int = 5000
) -> tuple[dict[str, StockRecord], FeedRead]:
    """The records a supplier adapter reads for `skus`, by SKU, and the read."""
    async with adapter.open(skus=skus, batch_size=batch_size) as read:
        records = [record async for batch in read.batches() for record in batch]
    return {record.supplier_sku: record for record in records}, read


def assert_credential_error(
    error: BaseException,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    secrets: Iterable[str],
) -> str:
    """A refused credential: the error names its `variable`, a warning was logged, and
    no secret shows in the error or the log. The error's message."""
    message = str(error)
    assert variable in message
    assert any(record.levelno >= logging.WARNING for record in caplog.records)
    for secret in secrets:
        assert secret not in message
        assert secret not in caplog.text
    return message


def assert_missing_variable(
    options: type[pydantic.BaseModel],
    raw: dict[str, Any],
    env: dict[str, str],
    field: str,
    variable: str,
) -> None:
    """Options naming a credential `variable` missing from `env` are refused at `field`."""
    with pytest.raises(pydantic.ValidationError) as caught:
        options.model_validate(raw, context={"env": env})

    error = caught.value.errors()[0]
    assert error["loc"] == (field,)
    assert f"{variable} is not set" in error["msg"]
