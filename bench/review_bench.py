"""Benchmark the daily picture on a 100,000-product shop: the supplier scorecards,
the switch ranking an alert card now computes, and a whole daily review.

Run from the repo root:  python bench/review_bench.py [--products 100000]

The database is the forecast bench's (bench/forecast_bench.py: 90 days of orders,
10 stock observations an offer), plus a second supplier offering the first 1,000
products, restock dates on 1,000 offers (half kept, half passed) and 30 days of
polls every 15 minutes for both suppliers. Measured in the same process, after
building it:

* scorecards - `bot.core.review.scorecard.scorecards`: every supplier over 30 days
               (what `/suppliers` and the review read), on the event loop;
* switch     - `bot.core.fixes.switching.switch_options` (each alert card calls it)
               for 100 products with one in-stock alternative (nothing to rank) and
               100 with two, whose ranking by cover and reliability computes the
               product's forecast and the suppliers' reliability (timed apart);
* review     - `bot.views.review.ReviewBoard.review`: the whole daily review, the
               forecasts recomputed in a worker thread.
Figures only; no targets.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # runnable as a plain script
    sys.path.insert(0, str(REPO_ROOT))

from bench.forecast_bench import NOW, build  # noqa: E402

ALTERNATIVES = 1_000
SWITCH_SAMPLES = 200
RANKED = SWITCH_SAMPLES // 2  # products with two in-stock alternatives


def _stamps(start: float, end: float, step: float) -> list[str]:
    """Epoch seconds as SQLAlchemy's SQLite datetime text."""
    moments = []
    while start < end:
        moments.append(datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
        start += step
    return moments


def add_review_history(path: Path) -> None:
    """A second supplier for the first products, restock dates and 30 days of polls."""
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO suppliers (id, name, consecutive_failures) VALUES (2, 'T', 0)"
        )
        connection.executemany(
            "INSERT INTO offers (product_id, supplier_id, supplier_sku, priority, quantity,"
            " availability) VALUES (?, 2, ?, 2, 50, 'in_stock')",
            ((i, f"T-{i:07d}") for i in range(1, ALTERNATIVES + 1)),
        )
        # A third supplier for the first 100: two in-stock alternatives to rank.
        connection.execute(
            "INSERT INTO suppliers (id, name, consecutive_failures) VALUES (3, 'U', 0)"
        )
        connection.executemany(
            "INSERT INTO offers (product_id, supplier_id, supplier_sku, priority, quantity,"
            " availability) VALUES (?, 3, ?, 3, 80, 'in_stock')",
            ((i, f"U-{i:07d}") for i in range(1, RANKED + 1)),
        )
        restock = (NOW - timedelta(days=5)).date().isoformat()
        connection.execute(
            f"UPDATE offers SET restock_date = '{restock}' WHERE supplier_id = 1 AND id <= 1000"
        )
        # What the forecast job recorded of those dates: half kept, half passed.
        (back,) = _stamps(NOW.timestamp() - 6 * 86400, NOW.timestamp() - 6 * 86400 + 1, 1)
        (seen,) = _stamps(NOW.timestamp() - 4 * 86400, NOW.timestamp() - 4 * 86400 + 1, 1)
        connection.executemany(
            "INSERT INTO restock_dates_kept (supplier_id, offer_id, promised, back_at)"
            " VALUES (1, ?, ?, ?)",
            ((i, restock, back) for i in range(1, 501)),
        )
        connection.executemany(
            "INSERT INTO restock_slips (supplier_id, offer_id, product_id, kind, promised,"
            " detected_at) VALUES (1, ?, ?, 'passed', ?, ?)",
            ((i, i, restock, seen) for i in range(501, 1001)),
        )
        moments = _stamps(NOW.timestamp() - 30 * 86400, NOW.timestamp(), 900)
        connection.executemany(
            "INSERT INTO supplier_polls (supplier_id, at, ok) VALUES (?, ?, ?)",
            ((s, m, (k % 50) != 0) for s in (1, 2) for k, m in enumerate(moments)),
        )
    connection.close()


async def _measure(path: Path) -> dict[str, float]:
    from bot.config import ForecastSection
    from bot.core.fixes.switching import switch_options
    from bot.core.forecast import forecast_for
    from bot.core.review.scorecard import reliabilities, scorecards
    from bot.db import create_engine, session_factory
    from bot.views.review import ReviewBoard

    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    sessions = session_factory(engine)
    result: dict[str, float] = {}
    try:
        async with sessions() as session:
            started = time.perf_counter()
            cards = await scorecards(session, NOW)
            result["scorecards_s"] = time.perf_counter() - started
            result["suppliers"] = len(cards)
            ranked, single, forecast, reliability = [], [], [], []
            for product_id in range(1, SWITCH_SAMPLES + 1):
                started = time.perf_counter()
                await switch_options(session, product_id, NOW)
                (ranked if product_id <= RANKED else single).append(time.perf_counter() - started)
                started = time.perf_counter()
                await forecast_for(session, product_id, NOW)
                forecast.append(time.perf_counter() - started)
                started = time.perf_counter()
                await reliabilities(session, [2, 3], NOW)
                reliability.append(time.perf_counter() - started)
            result["switch_ranked_ms"] = statistics.median(ranked) * 1000
            result["switch_single_ms"] = statistics.median(single) * 1000
            result["switch_forecast_ms"] = statistics.median(forecast) * 1000
            result["switch_reliability_ms"] = statistics.median(reliability) * 1000
        board = ReviewBoard(sessions, url, ForecastSection())
        started = time.perf_counter()
        review = await board.review(NOW)
        result["review_s"] = time.perf_counter() - started
        result["at_risk"] = review.at_risk.total
        result["out_of_stock"] = review.out_of_stock.total
    finally:
        await engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        counts = build(path, args.products, 90)
        add_review_history(path)
        print(f"setup: {time.perf_counter() - started:.1f} s, {counts}")
        result = asyncio.run(_measure(path))
    print(
        f"scorecards: {result['scorecards_s']:.2f} s for {int(result['suppliers'])} suppliers; "
        f"switch options: {result['switch_single_ms']:.1f} ms a product with one in-stock "
        f"alternative, {result['switch_ranked_ms']:.1f} ms with two (forecast "
        f"{result['switch_forecast_ms']:.1f} ms, reliability "
        f"{result['switch_reliability_ms']:.1f} ms); daily review: {result['review_s']:.2f} s "
        f"({int(result['at_risk']):,} at risk, {int(result['out_of_stock']):,} out)"
    )


if __name__ == "__main__":
    main()
