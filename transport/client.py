"""`ApiClient`: requests to one JSON API on behalf of one adapter.

Each call is paced, retried through the one retry loop, follows redirects
without taking credentials to another site, and is refused without a network
call while the service asked us to stay away. The service's own rules
live in a `check(response)` function passed to `call`: it returns the useful
part of the answer or raises `Retry`, `TokenRejected`, `NotFound` or a
`ServiceError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from transport.errors import Retry, ServiceError, ServicePaused
from transport.pacing import Holds, Pacer
from transport.policy import FetchPolicy
from transport.redirects import send_following
from transport.retrying import with_retries
from transport.urls import display_source
from transport.wording import Speaker, duration_text

log = logging.getLogger(__name__)

T = TypeVar("T")


def attempt_failure(exc: httpx.RequestError, policy: FetchPolicy) -> Retry:
    """The Retry for a request that got no answer (timeout, no connection)."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return Retry(f"could not be reached within {duration_text(policy.connect_limit)}")
    if isinstance(exc, httpx.TimeoutException):
        return Retry(f"did not answer within {duration_text(policy.timeout)}")
    return Retry("could not be reached (no connection)")


class ApiClient:
    """Sends requests to one service on behalf of one adapter (so pacing and holds
    are per account). An empty `base_url` makes `call` take whole URLs."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        service: str,
        base_url: str,
        policy: FetchPolicy,
        requests_per_second: float,
        translate: Callable[[ServiceError], Exception] | None = None,
    ) -> None:
        self.http = http
        self.service = service
        self.base_url = base_url
        self.policy = policy
        self._speaker = Speaker(service)
        self._pacer = Pacer(requests_per_second, policy)
        self._holds = Holds(policy)
        # What a caller raises instead of a ServiceError (a store raises its own errors).
        self._translate = translate

    def check_hold(self) -> None:
        """Raise, without any network call, while the service asked us to stay away."""
        self._holds.check()

    def pause(self, until: datetime, message: str) -> ServicePaused:
        """Stop calling until `until`; returns the exception to raise now."""
        return self._holds.pause(until, message)

    async def call(
        self,
        method: str,
        path: str,
        check: Callable[[httpx.Response], T],
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> T:
        """Send until `check` accepts the answer, or raise a ServiceError (translated)."""
        url = self.base_url + path

        async def attempt() -> T:
            self._holds.check()
            await self._pacer.wait()
            request = self.http.build_request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self.policy.httpx_timeout(),
            )
            try:
                response = await send_following(
                    self.http, request, stream=False, speaker=self._speaker
                )
            except httpx.RequestError as exc:
                log.debug("%s %s: %s", self.service, display_source(url), type(exc).__name__)
                raise attempt_failure(exc, self.policy) from exc
            return check(response)

        try:
            return await with_retries(
                attempt,
                policy=self.policy,
                speaker=self._speaker,
                log=log,
                where=f"{self.service} {display_source(url)}",
                max_attempts=max_attempts,
                on_long_wait=self._holds.wait_until,
            )
        except ServiceError as exc:
            if self._translate is None:
                raise
            raise self._translate(exc) from None
