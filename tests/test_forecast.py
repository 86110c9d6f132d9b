"""Seeing stockouts coming: sales history, rates, supplier drain and cover, read through
the read API with an explicit clock; orders come in by the CLI and store webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.core.forecast import DataQuality, DemandClass, Method, Restock, recompute
from bot.db.models import OrderStatus
from tests.forecast_helpers import NOW, TODAY, Shop, hours, open_shop
from tests.helpers import run_cli
from tests.probes import kept_forecasts, order_outcomes

# Repeated on PostgreSQL by scripts/test-postgres.sh.
pytestmark = pytest.mark.database

START = NOW - timedelta(days=3)
ShopFactory = Callable[..., Shop]  # scripted stock readings start here


@pytest.fixture
def shop_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> ShopFactory:
    def make(*skus: str, extra_config: str = "") -> Shop:
        return open_shop(tmp_path, monkeypatch, database_url, skus, extra_config)

    return make


# --- sales history ----------------------------------------------------------------------


def test_csv_status_keeps_fulfilled_and_cancelled_orders_as_history(
    shop_factory: ShopFactory,
) -> None:
    shop = shop_factory("MUG")
    shop.stock("MUG", [(START - timedelta(days=9), 1, "in_stock")], seen=NOW)
    day = (TODAY - timedelta(days=3, hours=-9)).isoformat()
    out = shop.import_orders(
        [
            f"1,Ada,ada@example.com,MUG,4,{day},fulfilled",
            f"2,Bo,bo@example.com,MUG,6,{day},Cancelled",
            f"3,Cy,cy@example.com,MUG,2,{day},",  # blank: open, as without the column
        ]
    )
    assert "3 order(s) created" in out
    assert "1 product(s) now backordered" in out  # only the open order waits for stock

    assert shop.run(order_outcomes) == [
        ("1", OrderStatus.FULFILLED, "person", 0),
        ("2", OrderStatus.CANCELLED, "person", 0),
        ("3", OrderStatus.OPEN, None, 1),
    ]
    # Demand: fulfilled and open units count, cancelled ones do not.
    result = shop.forecast("MUG")
    assert result.data_quality == DataQuality.LITTLE_DATA
    assert result.method == Method.MEAN
    assert result.history_days == 3 and result.rate_per_day == pytest.approx(6 / 3)

    # A later file can close an open order; an open row never reopens a closed one.
    shop.import_orders(
        [f"3,Cy,cy@example.com,MUG,2,{day},fulfilled", f"1,Ada,ada@example.com,MUG,4,{day},open"],
        "again.csv",
    )
    assert [status for _, status, _, _ in shop.run(order_outcomes)] == [
        OrderStatus.FULFILLED,
        OrderStatus.CANCELLED,
        OrderStatus.FULFILLED,
    ]


def test_a_bad_status_is_reported_with_its_line(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    path = shop.path / "bad.csv"
    path.write_text(
        "order_id,customer_name,customer_email,sku,quantity,ordered_at,status\n"
        "1,Ada,ada@example.com,MUG,1,2026-01-01,shipped\n"
        "2,Bo,bo@example.com,MUG,1,2026-01-01,open\n"
        "2,Bo,bo@example.com,MUG,1,2026-01-01,fulfilled\n"
    )
    result = run_cli("orders", "import", str(path))
    assert result.returncode == 1
    assert "line 2: status must be open, fulfilled or cancelled, got 'shipped'" in result.stdout
    assert "line 4: order 2 has a different status than on line 3" in result.stdout


# --- how fast it sells ------------------------------------------------------------------


def test_products_are_classified_and_smoothed_by_their_class(shop_factory: ShopFactory) -> None:
    shop = shop_factory("SMOOTH", "ERRATIC", "INTERMITTENT", "LUMPY", "NEW")
    shop.sell("SMOOTH", [5, 4, 6, 5] * 10)  # a sale every day, steady sizes
    shop.sell("ERRATIC", [1, 20, 2, 15] * 10)  # every day, sizes all over
    shop.sell("INTERMITTENT", [2, 0, 0, 3, 0, 0] * 7)  # every third day, steady
    shop.sell("LUMPY", [1, 0, 0, 25, 0, 0] * 7)  # every third day, sizes all over
    shop.sell("NEW", [3, 0, 5, 4, 0, 0, 2, 6, 1, 3])  # 10 days since the first sale
    found = shop.forecasts(["SMOOTH", "ERRATIC", "INTERMITTENT", "LUMPY", "NEW"])

    assert {sku: (r.demand_class, r.method) for sku, r in found.items()} == {
        "SMOOTH": (DemandClass.SMOOTH, Method.SES),
        "ERRATIC": (DemandClass.ERRATIC, Method.SES),
        "INTERMITTENT": (DemandClass.INTERMITTENT, Method.TSB),
        "LUMPY": (DemandClass.LUMPY, Method.TSB),
        "NEW": (DemandClass.INTERMITTENT, Method.MEAN),  # 7 sales in 10 days: ADI 1.43
    }
    assert found["NEW"].data_quality == DataQuality.LITTLE_DATA
    assert found["NEW"].rate_per_day == pytest.approx(24 / 10)
    assert found["SMOOTH"].data_quality == DataQuality.ENOUGH
    assert 4.5 < found["SMOOTH"].rate_per_day < 5.5
    # TSB: about 5/6 units a day for (2, 3) every third day.
    assert found["INTERMITTENT"].rate_per_day == pytest.approx(5 / 6, rel=0.2)


def test_the_mean_absolute_error_covers_the_last_28_days(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    series = [4.0] * 20 + [4.0, 8.0] * 14  # the last 28 days alternate 4 and 8
    shop.sell("MUG", series)
    result = shop.forecast("MUG")
    assert result.method == Method.SES

    # SES by hand: the level starts at the first value; each day's forecast is the
    # level before that day.
    level, errors = series[0], []
    for units in series:
        errors.append(abs(level - units))
        level = 0.1 * units + 0.9 * level
    assert result.rate_per_day == pytest.approx(level)
    assert result.mae == pytest.approx(sum(errors[-28:]) / 28)


def test_a_product_without_sales_has_a_zero_rate_and_no_error(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    result = shop.forecast("MUG")
    assert (result.rate_per_day, result.method, result.data_quality) == (
        0.0,
        Method.NONE,
        DataQuality.NO_SALES,
    )
    assert result.mae is None
    # No stock known, no drain known: nothing is predicted, and nothing reads as zero.
    assert (result.stock, result.drain_per_day, result.days_of_cover) == (None, None, None)
    assert result.predicted_stockout is None and not result.at_risk


def test_days_out_of_stock_are_left_out_not_counted_as_zero(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG", "CAP")
    series = [3.0] * 40
    for day in range(20, 30):  # out of stock all day: nothing could sell
        series[day] = 0.0
    series[30] = 2.0  # back in stock from 18:00: a short day, still counted
    for sku in ("MUG", "CAP"):
        shop.sell(sku, series)
    day0 = TODAY - timedelta(days=40)
    shop.stock(
        "MUG",
        [
            (day0 - timedelta(days=5), 80, "in_stock"),
            (day0 + timedelta(days=19, hours=23), 0, "out_of_stock"),
            (day0 + timedelta(days=30, hours=18), 60, "in_stock"),
        ],
        seen=NOW,
    )
    mug, cap = shop.forecasts(["MUG", "CAP"]).values()
    assert mug.history_days == 30  # 40 days less the 10 out of stock
    assert cap.history_days == 40  # no stock history: no day is left out
    # Without the zeros the rate stays near 3 a day; with them it sank.
    assert mug.rate_per_day > 2.8
    assert cap.rate_per_day < mug.rate_per_day


def test_a_spike_stays_out_of_the_rate_unless_it_lasts_three_days(
    shop_factory: ShopFactory,
) -> None:
    shop = shop_factory("CALM", "ONCE", "TWICE", "LASTS")
    shop.sell("CALM", [2.0] * 40)
    shop.sell("ONCE", [2.0] * 30 + [30.0] + [2.0] * 9)  # one rush day, weeks ago
    shop.sell("TWICE", [2.0] * 38 + [30.0] * 2)  # two days: not yet a new level
    shop.sell("LASTS", [2.0] * 37 + [30.0] * 3)  # three days in a row: the new normal
    found = shop.forecasts(["CALM", "ONCE", "TWICE", "LASTS"])

    assert found["CALM"].rate_per_day == pytest.approx(2.0)
    assert (found["ONCE"].rate_per_day, found["ONCE"].history_days) == (pytest.approx(2.0), 39)
    assert (found["TWICE"].rate_per_day, found["TWICE"].history_days) == (pytest.approx(2.0), 38)
    # SES through all 40 days: the three 30s count.
    level = 2.0
    for units in [2.0] * 37 + [30.0] * 3:
        level = 0.1 * units + 0.9 * level
    assert found["LASTS"].rate_per_day == pytest.approx(level)
    assert found["LASTS"].history_days == 40


# --- how fast the supplier drains -------------------------------------------------------


def test_drain_from_readings_hours_apart_and_the_predicted_stockout(
    shop_factory: ShopFactory,
) -> None:
    shop = shop_factory("MUG")
    shop.sell("MUG", [1.0] * 30)  # our own sales: 1 a day
    shop.stock(
        "MUG",
        [
            (START, 100, "in_stock"),
            (START + hours(2), 90, "in_stock"),
            (START + hours(4), 80, "in_stock"),
            (START + hours(6), 71, "in_stock"),
        ],
        seen=START + hours(6),
    )
    result = shop.forecast("MUG", now=START + hours(6))
    # Pairwise slopes 5, 5, 4.83, 5, 4.75, 4.5 units an hour: the median is 4.92.
    drain, days = result.drain_per_day, result.days_of_cover
    assert drain == pytest.approx(4.9166 * 24, rel=1e-3)
    assert result.stock == 71
    assert result.depletion_per_day == drain  # theirs beats our 1 a day
    assert drain is not None and days == pytest.approx(71 / drain)
    assert days is not None
    assert result.predicted_stockout == START + hours(6) + timedelta(days=days)
    assert result.at_risk  # within 3 days ([forecast] warn_days)


def test_drain_from_readings_seconds_apart(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    shop.stock(
        "MUG",
        [
            (START, 50, "in_stock"),
            (START + timedelta(seconds=1), 49, "in_stock"),
            (START + timedelta(seconds=2), 48, "in_stock"),
        ],
        seen=START + timedelta(seconds=2),
    )
    result = shop.forecast("MUG", now=START + timedelta(seconds=2))
    assert result.drain_per_day == pytest.approx(86400.0)  # one unit a second
    assert result.days_of_cover == pytest.approx(48 / 86400)


def test_drain_from_real_polls(shop_factory: ShopFactory) -> None:
    """Three polls of a feed showing a steady decline, however close together."""
    shop = shop_factory("MUG")
    for quantity in (30, 20, 10):
        (shop.path / "feeds" / "acme.csv").write_text(f"sku,quantity\nA-MUG,{quantity}\n")
        assert run_cli("poll", "--once").returncode == 0
    result = shop.forecast("MUG", now=NOW)
    assert result.drain_per_day is not None and result.drain_per_day > 0
    assert result.stock == 10 and result.days_of_cover is not None


def test_restocks_are_kept_and_never_negative_demand(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    shop.stock(
        "MUG",
        [
            (START, 100, "in_stock"),
            (START + hours(1), 90, "in_stock"),
            (START + hours(2), 80, "in_stock"),
            (START + hours(3), 300, "in_stock"),  # restocked
            (START + hours(4), 294, "in_stock"),
            (START + hours(5), 288, "in_stock"),
        ],
        seen=START + hours(5),
    )
    result = shop.forecast("MUG", now=START + hours(5))
    assert result.restocks == (Restock(START + hours(3), 220),)
    # Drawn through the readings since the restock only: 6 an hour, not 10.
    assert result.drain_per_day == pytest.approx(6 * 24)


def test_a_drop_that_reverts_on_the_next_reading_is_a_glitch(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG")
    shop.stock(
        "MUG",
        [
            (START, 100, "in_stock"),
            (START + hours(1), 96, "in_stock"),
            (START + hours(2), 0, "out_of_stock"),  # a broken read: back on the next one
            (START + hours(3), 88, "in_stock"),
            (START + hours(4), 84, "in_stock"),
        ],
        seen=START + hours(4),
    )
    result = shop.forecast("MUG", now=START + hours(4))
    assert result.restocks == ()  # the recovery from 0 is no restock
    assert result.drain_per_day == pytest.approx(4 * 24)


def test_capped_and_quantity_less_readings_are_not_used(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG", "CAP")
    shop.stock(
        "MUG",
        [
            (START, 999, "in_stock"),  # "999 or more"
            (START + hours(1), None, "in_stock"),  # only "in stock"
            (START + hours(2), 950, "in_stock"),
            (START + hours(3), 940, "in_stock"),
            (START + hours(4), 930, "in_stock"),
        ],
        seen=START + hours(4),
    )
    shop.stock(
        "CAP",
        [
            (START, 500, "in_stock"),
            (START + hours(1), 480, "in_stock"),
            (START + hours(2), 999, "in_stock"),  # the feed's cap: not a restock
        ],
        seen=START + hours(4),
    )
    mug, cap = shop.forecasts(["MUG", "CAP"], now=START + hours(4)).values()
    assert mug.drain_per_day == pytest.approx(10 * 24)  # 950 -> 930, not from 999
    assert mug.restocks == ()
    # A capped quantity only says "at least": no cover is read from it.
    assert cap.stock is None and cap.days_of_cover is None and cap.predicted_stockout is None
    assert cap.restocks == ()


def test_the_higher_rate_wins_and_an_empty_offer_is_out_now(shop_factory: ShopFactory) -> None:
    shop = shop_factory("MUG", "CAP")
    shop.sell("MUG", [12.0] * 30)  # we sell 12 a day, faster than the feed shows
    shop.stock(
        "MUG",
        [
            (START, 60, "in_stock"),
            (START + hours(12), 59, "in_stock"),
            (START + hours(24), 58, "in_stock"),
        ],
        seen=NOW,
    )
    shop.stock("CAP", [(START, 0, "out_of_stock")], seen=NOW)
    mug, cap = shop.forecasts(["MUG", "CAP"]).values()
    assert mug.drain_per_day is not None and mug.drain_per_day < 2
    assert mug.depletion_per_day == pytest.approx(12.0)
    assert mug.days_of_cover == pytest.approx(58 / 12)
    assert not mug.at_risk  # 4.8 days away; warn_days is 3
    assert cap.out_of_stock and cap.days_of_cover == 0 and cap.predicted_stockout == NOW


# --- the whole catalog, off the event loop ----------------------------------------------


def test_recompute_keeps_each_days_first_forecast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> None:
    shop = open_shop(
        tmp_path, monkeypatch, database_url, ["MUG", "CAP"], "\n[forecast]\nwarn_days = 5\n"
    )
    settings = load_settings(shop.path / "stockbot.toml")
    assert settings.forecast.warn_days == 5
    shop.sell("MUG", [2.0] * 20)
    first = asyncio.run(recompute(settings.database_url, NOW, settings.forecast))
    # CAP never sold: nothing to judge, so nothing kept.
    assert first.recorded == 1 and first.at_risk == []
    assert set(first.forecasts.results()) == {1, 2}
    again = asyncio.run(recompute(settings.database_url, NOW + hours(1), settings.forecast))
    assert again.recorded == 0  # the forecast made first for a day stands

    assert shop.run(kept_forecasts) == [(TODAY.date(), pytest.approx(2.0), "ses")]
