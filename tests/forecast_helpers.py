"""A shop with a sales history and scripted supplier stock, for the forecast tests.

Orders go in as a shop owner's do (`stockbot orders import`); the supplier's stock
history is scripted as the observations a poll would have recorded, at chosen
times; the numbers are read through the read API with an explicit `now`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import load_settings
from bot.core.forecast import ForecastResult, forecasts
from bot.db import create_engine, session_factory
from tests.helpers import CATALOG_HEADER, cli_workdir, run_cli
from tests.probes import arrange_stock_readings, product_ids

T = TypeVar("T")

ORDERS_HEADER = "order_id,customer_name,customer_email,sku,quantity,ordered_at,status"
# The forecasts' clock: after any real poll a test makes, at midday.
NOW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.replace(hour=0)


@dataclass(frozen=True)
class Shop:
    path: Path

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one committed transaction on the shop's database."""
        settings = load_settings(self.path / "stockbot.toml")

        async def go() -> T:
            engine = create_engine(settings.database_url)
            try:
                async with session_factory(engine)() as session, session.begin():
                    return await work(session)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def import_orders(self, rows: Sequence[str], name: str = "orders.csv") -> str:
        path = self.path / name
        path.write_text("\n".join([ORDERS_HEADER, *rows]) + "\n", encoding="utf-8")
        result = run_cli("orders", "import", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def sell(self, sku: str, daily: Sequence[float], status: str = "open") -> None:
        """One order a day with units, `daily[-1]` yesterday; zeros are days without."""
        start = TODAY - timedelta(days=len(daily))
        rows = [
            f"{sku}-{day},Ada,ada@example.com,{sku},{int(units)},"
            f"{(start + timedelta(days=day, hours=10)).isoformat()},{status}"
            for day, units in enumerate(daily)
            if units
        ]
        self.import_orders(rows, f"orders-{sku}.csv")

    def stock(
        self, sku: str, readings: Sequence[tuple[datetime, int | None, str]], seen: datetime
    ) -> None:
        """Record the supplier's readings of `sku` (time, quantity, availability) as a
        poll does on each change; the offer holds the last one, seen at `seen`."""

        self.run(lambda session: arrange_stock_readings(session, sku, readings, seen))

    def forecasts(self, skus: Sequence[str], now: datetime = NOW) -> Mapping[str, ForecastResult]:
        settings = load_settings(self.path / "stockbot.toml")

        async def read(session: AsyncSession) -> dict[str, ForecastResult]:
            ids = await product_ids(session)
            found = await forecasts(session, [ids[s] for s in skus], now, settings.forecast)
            return {sku: found[ids[sku]] for sku in skus}

        return self.run(read)

    def forecast(self, sku: str, now: datetime = NOW) -> ForecastResult:
        return self.forecasts([sku], now)[sku]


def open_shop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
    skus: Sequence[str],
    extra_config: str = "",
) -> Shop:
    """A configured shop whose catalog has `skus`, each from Acme (supplier SKU A-<sku>)."""
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "acme.csv").write_text("sku,quantity\n")
    rows = [CATALOG_HEADER, *(f"{sku},{sku} title,Acme,A-{sku},1,0,4.00" for sku in skus)]
    return Shop(cli_workdir(tmp_path, monkeypatch, database_url, rows, extra_config=extra_config))


def hours(count: float) -> timedelta:
    return timedelta(hours=count)
