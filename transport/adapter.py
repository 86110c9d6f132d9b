"""What every adapter of an outside service (a supplier, a store) starts from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import httpx
from pydantic import BaseModel

from transport.credentials import redact
from transport.policy import CallLimits, FetchPolicy


class ServiceAdapter:
    """One configured service: its name, options, HTTP client, environment and policy.

    `policy` is a test hook (recording sleep, fake clock, fixed jitter); its
    timeout, attempts and longest wait always come from the options.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    text_limit: ClassVar[int] = 120  # longest service-sent text quoted in a message

    def __init__(
        self,
        name: str,
        options: BaseModel,
        client: httpx.AsyncClient,
        env: Mapping[str, str] | None = None,
        *,
        policy: FetchPolicy | None = None,
    ) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} needs {self.Options.__name__}")
        self.name = name
        self.options = options
        self.client = client
        self.env: Mapping[str, str] = env or {}
        self.policy = self.limited(policy or FetchPolicy())

    def limited(self, policy: FetchPolicy) -> FetchPolicy:
        """`policy` with the limits the options set."""
        if isinstance(self.options, CallLimits):
            return self.options.policy(policy)
        return policy

    def secrets(self) -> Iterable[str]:
        """Every credential value in use, for `redact`."""
        return ()

    def redact(self, text: str) -> str:
        """Service-sent text for a message: secrets hidden, whitespace folded, length capped."""
        return redact(text, self.secrets(), self.text_limit)
