"""One TLS context for every HTTP client the tests make.

httpx builds a TLS context for each client, loading the CA bundle: about 25 ms of CPU a
client, and the suite makes hundreds of short-lived ones (one per fake Slack request,
per adapter test, per health-check poll). Built once here with httpx's own defaults and
handed to each client as `verify=TLS`, it costs that once.
"""

from __future__ import annotations

from typing import Any

import httpx

TLS = httpx.create_ssl_context()


def get(url: str, **options: Any) -> httpx.Response:
    """`httpx.get` with the shared context."""
    return httpx.get(url, verify=TLS, **options)
