"""How long a server asks us to wait before calling again."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# An X-Ratelimit-Reset above this is a Unix time; below it, seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000


def retry_after_seconds(response: httpx.Response, clock: Callable[[], datetime]) -> float | None:
    """Retry-After as seconds from now; None when absent or unreadable.

    Seconds may have a fraction (Shopify sends "2.0"); an HTTP date counts from `clock`.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_date(value, clock)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_date(value: str, clock: Callable[[], datetime]) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock()).total_seconds())


def rate_limit_wait(response: httpx.Response, clock: Callable[[], datetime]) -> float | None:
    """Seconds the server asks us to wait: Retry-After, else X-Ratelimit-Reset."""
    wait = retry_after_seconds(response, clock)
    if wait is not None:
        return wait
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    try:
        value = float(reset)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if value > _EPOCH_THRESHOLD:  # BigBuy: the Unix time the limit resets
        return max(0.0, value - clock().timestamp())
    return max(0.0, value)
