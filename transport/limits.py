"""The `[[suppliers]]` / `[[stores]]` keys that limit calls to one service."""

from __future__ import annotations

from pydantic import BaseModel, Field

from transport.policy import FetchPolicy


class CallLimits(BaseModel):
    """Timeouts, attempts and pace; subclasses may change the defaults."""

    timeout: float = Field(30.0, gt=0, le=600)  # seconds to wait for each answer
    max_attempts: int = Field(4, ge=1, le=10)  # tries per request before giving up
    requests_per_second: float = Field(1.0, gt=0, le=50)
    # The longest wait the service may ask for (Retry-After, rate-limit reset)
    # that Stockbot sits through within one poll; longer ones end the poll.
    max_wait: float = Field(60.0, ge=0, le=3600)

    def policy(self, base: FetchPolicy | None = None) -> FetchPolicy:
        """`base` (a test's hooks, or the defaults) with these limits."""
        return (base or FetchPolicy()).limited(self.timeout, self.max_attempts, self.max_wait)
