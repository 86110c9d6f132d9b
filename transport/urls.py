"""Service addresses: checked when the config loads, shown without secrets."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def is_http_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def display_source(source: str) -> str:
    """The source without user:password@ or ?query (either may carry a secret)."""
    parts = urlsplit(source)
    if parts.scheme.lower() not in ("http", "https"):
        return source
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def http_url(url: str, name: str) -> str:
    """An http(s) address with a host and nothing secret or extra; `name` is the
    setting's name in the error ("base_url", "the store address")."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{display_source(url)!r} is not an http(s) address")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{name} must not contain a login, ?query or #fragment")
    return url
