"""How an outbound call can end, other than with a usable answer.

`ServiceError` and its subclasses end a call; their messages are written for a
shop owner and never contain credentials. `Retry`, `TokenRejected` and
`NotFound` are raised by a response check and handled by the caller: `Retry`
by the retry loop, the other two by the adapter that knows what they mean.
"""

from __future__ import annotations

from datetime import datetime


class ServiceError(Exception):
    """The service could not be used this time."""


class ServiceUnavailable(ServiceError):
    """Network failure, timeout, throttling or server error after retries: try later."""


class ServiceUnusable(ServiceError):
    """The service answered, but not usably (access refused, wrong address, garbage)."""


class ServicePaused(ServiceUnavailable):
    """The service's quota is used up: no calls until `until` (UTC)."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class Retry(Exception):
    """This attempt failed, another may succeed.

    `what` completes "<service> ..." for messages; `wait` is the server's requested
    wait in seconds (None: back off); `max_attempts` caps retries for this cause.
    """

    def __init__(self, what: str, wait: float | None = None, max_attempts: int | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait
        self.max_attempts = max_attempts


class TokenRejected(Exception):
    """The service refused the credentials (HTTP 401 or its own code)."""


class NotFound(Exception):
    """The service does not know the product or variant asked for."""
