"""The one retry loop of outbound HTTP, built on tenacity.

An attempt raises `Retry` when another try may help; anything else it raises
ends the call as it is. The wait before the next try is what the server asked
for (Retry-After, a rate-limit reset) or else exponential backoff with full
jitter; a server asking for longer than `policy.max_retry_after` ends the call
at once, since sitting through it would stall the whole poll.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from tenacity import AsyncRetrying, Future, RetryCallState, RetryError, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from transport.errors import Retry, ServiceUnavailable
from transport.policy import FetchPolicy
from transport.wording import Speaker

T = TypeVar("T")


def _retry(outcome: Future | None) -> Retry:
    """The Retry an attempt raised (only those are retried)."""
    error = outcome.exception() if outcome is not None else None
    if not isinstance(error, Retry):
        raise TypeError("only Retry is retried")
    return error


class WaitRetryAfter(wait_base):
    """The server's requested wait when it gave one, else full-jitter backoff."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = _retry(retry_state.outcome).wait
        return self.policy.backoff(retry_state.attempt_number) if wait is None else wait


class StopWhenSpent(stop_base):
    """Stop after `limit` attempts (fewer when the cause caps them), or at once when
    the server asks for a longer wait than the policy sits through."""

    def __init__(self, limit: int, policy: FetchPolicy) -> None:
        self.limit = limit
        self.policy = policy

    def attempts_for(self, retry: Retry) -> int:
        return min(self.limit, retry.max_attempts or self.limit)

    def too_long(self, retry: Retry) -> bool:
        return retry.wait is not None and retry.wait > self.policy.max_retry_after

    def __call__(self, retry_state: RetryCallState) -> bool:
        retry = _retry(retry_state.outcome)
        return retry_state.attempt_number >= self.attempts_for(retry) or self.too_long(retry)


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: FetchPolicy,
    speaker: Speaker,
    log: logging.Logger,
    where: str,
    max_attempts: int | None = None,
    on_long_wait: Callable[[datetime, str], None] | None = None,
) -> T:
    """Run `attempt` until it returns, retrying on `Retry`; else ServiceUnavailable.

    `where` names the call in log lines (never with credentials); `log` is the
    caller's logger, so retries are logged under the adapter that made them.
    `on_long_wait(until, message)` hears of a wait too long to sit through.
    """
    stop = StopWhenSpent(min(max_attempts or policy.max_attempts, policy.max_attempts), policy)
    failures: list[str] = []

    def note(state: RetryCallState) -> None:
        failures.append(_retry(state.outcome).what)

    def announce(state: RetryCallState) -> None:
        log.warning(
            "%s %s (attempt %d of %d); retrying in %.1fs",
            where,
            failures[-1],
            state.attempt_number,
            stop.limit,
            state.upcoming_sleep,
        )

    retrying = AsyncRetrying(
        sleep=policy.sleep,
        retry=retry_if_exception_type(Retry),
        wait=WaitRetryAfter(policy),
        stop=stop,
        after=note,
        before_sleep=announce,
    )
    try:
        return await retrying(attempt)
    except RetryError as exc:
        last = exc.last_attempt
        retry = _retry(last)
        if last.attempt_number >= stop.attempts_for(retry) or retry.wait is None:
            raise ServiceUnavailable(speaker.gave_up(failures)) from None
        until = policy.clock() + timedelta(seconds=retry.wait)
        message = speaker.asked_to_wait(retry.what, retry.wait, until)
        if on_long_wait is not None:
            on_long_wait(until, message)
        raise ServiceUnavailable(message) from None
