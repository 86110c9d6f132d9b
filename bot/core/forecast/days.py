"""Days as whole numbers, UTC days since 1970-01-01, alike in Python and in SQL.

Sales history is bucketed by UTC day inside the database (a GROUP BY), so a
hundred thousand products' 90 days come back as aggregates, not as order rows;
times come back as epoch seconds, so no datetime object is built per row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

EPOCH = date(1970, 1, 1)
SECONDS_PER_DAY = 86400.0


def day_number(moment: datetime) -> int:
    """The UTC day of `moment` (timezone-aware)."""
    return (moment.astimezone(UTC).date() - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=number)


def day_start(number: int) -> datetime:
    """Midnight UTC at the start of day `number`."""
    return datetime.combine(day_date(number), datetime.min.time(), tzinfo=UTC)


class epoch_day(FunctionElement[int]):  # reads as the SQL function it is
    """SQL: the UTC day number of a UTCDateTime column."""

    type = Integer()
    inherit_cache = True


class epoch_seconds(FunctionElement[float]):
    """SQL: a UTCDateTime column as seconds since the epoch (with fractions)."""

    type = Float()
    inherit_cache = True


# SQLite keeps UTC datetimes as ISO text, which its date functions read.
@compiles(epoch_day, "sqlite")
def _epoch_day_sqlite(element: epoch_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 AS INTEGER)"


@compiles(epoch_day)
def _epoch_day_default(element: epoch_day, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(floor(EXTRACT(EPOCH FROM {column}) / 86400) AS INTEGER)"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # Fast, and exact once rounded to SQLite's milliseconds (the loader does).
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds)
def _epoch_seconds_default(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS FLOAT)"
