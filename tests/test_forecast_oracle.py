"""Stockbot's sales rates against statsforecast's (the oracle), on the same series.

statsforecast is a test-only dependency (the `oracle` extra, installed by `make
test`): where it is missing these tests are skipped and say so.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from bot.core.forecast import DataQuality, Method
from tests.forecast_helpers import NOW, TODAY, open_shop


@pytest.fixture(scope="session")
def models() -> ModuleType:
    """statsforecast's models, imported where a test uses them: imported at collection,
    they cost every pytest worker seconds, whatever it runs."""
    return pytest.importorskip(
        "statsforecast.models",
        reason="statsforecast is not installed: pip install -e '.[oracle]' (make test does)",
    )


# Repeated on PostgreSQL by scripts/test-postgres.sh.
pytestmark = pytest.mark.database

SES_ALPHA = 0.1
TSB_ALPHA = 0.1

rng = np.random.default_rng(20261210)


def _series(days: int, chance: float, largest: int) -> list[float]:
    """A sales history starting with a sale, as every series does."""
    sales = (rng.random(days) < chance) * rng.integers(1, largest + 1, days)
    sales[0] = max(1, int(sales[0]))
    return [float(units) for units in sales]


# (SKU, daily units oldest first (yesterday last), the method it must get)
SERIES = [
    ("SMOOTH-1", _series(90, 0.97, 6), Method.SES),
    ("SMOOTH-2", _series(40, 1.0, 3), Method.SES),
    ("INTERMITTENT-1", _series(90, 0.2, 2), Method.TSB),
    ("INTERMITTENT-2", _series(60, 0.35, 3), Method.TSB),
    ("LUMPY-1", [*_series(75, 0.15, 30), 0.0, 0.0, 0.0], Method.TSB),
    ("STOPPED-1", [*_series(50, 0.4, 4), *([0.0] * 20)], Method.TSB),
]


def _oracle(models: ModuleType, series: list[float], method: Method) -> tuple[float, np.ndarray]:
    y = np.asarray(series, dtype=np.float64)
    model = (
        models.TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA)
        if method == Method.TSB
        else models.SimpleExponentialSmoothing(alpha=SES_ALPHA)
    )
    result = model.forecast(y, h=1, fitted=True)
    return float(result["mean"][0]), result["fitted"]


def test_rates_and_errors_match_statsforecast(
    models: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> None:
    shop = open_shop(tmp_path, monkeypatch, database_url, [sku for sku, _, _ in SERIES])
    for sku, series, _ in SERIES:
        shop.sell(sku, series)
    found = shop.forecasts([sku for sku, _, _ in SERIES])

    worst = 0.0
    for sku, series, method in SERIES:
        result = found[sku]
        assert (result.method, result.data_quality) == (method, DataQuality.ENOUGH), sku
        assert result.history_days == len(series)
        rate, fitted = _oracle(models, series, method)
        # The last 28 days' one-day-ahead forecasts against what sold.
        mae = float(np.nanmean(np.abs(fitted[-28:] - np.asarray(series[-28:]))))
        assert result.mae is not None
        worst = max(worst, abs(result.rate_per_day - rate), abs(result.mae - mae))
    print(f"largest difference from statsforecast: {worst:.3g}")
    assert worst < 1e-9


def test_the_oracle_also_agrees_when_stockout_days_are_left_out(
    models: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> None:
    """Days out of stock are cut out of the series: statsforecast gets it without them."""
    shop = open_shop(tmp_path, monkeypatch, database_url, ["GAPPY"])
    series = _series(60, 0.3, 4)
    out_from, out_days = 30, 8  # days 30..37 out of stock all day: nothing sold then
    for day in range(out_from, out_from + out_days):
        series[day] = 0.0
    shop.sell("GAPPY", series)
    day0 = TODAY - timedelta(days=len(series))
    shop.stock(
        "GAPPY",
        [
            (day0 - timedelta(days=1), 500, "in_stock"),
            (day0 + timedelta(days=out_from - 1, hours=20), 0, "out_of_stock"),
            (day0 + timedelta(days=out_from + out_days, hours=1), 400, "in_stock"),
        ],
        seen=NOW - timedelta(minutes=5),
    )
    result = shop.forecast("GAPPY")
    # Day out_from - 1 had stock until 20:00 and day out_from + out_days from 01:00.
    kept = series[:out_from] + series[out_from + out_days :]
    assert result.history_days == len(kept)
    rate, _ = _oracle(models, kept, result.method)
    assert abs(result.rate_per_day - rate) < 1e-9
