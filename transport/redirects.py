"""Following redirects without handing credentials to another site.

httpx builds each next request (`response.next_request`: method, body, cookies,
Host) but only drops `Authorization` when the origin changes; an API key in
any other header (`X-Api-Key`, `CJ-Access-Token`, `X-Shopify-Access-Token`)
would follow the redirect. So redirects are followed here, one hop at a time:
leaving the origin keeps only the headers that say nothing about who we are,
and a hop off the web (file:, ftp:) or to a link-local address (cloud metadata
services live at 169.254.169.254) ends the call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection

import httpx

from transport.errors import ServiceUnusable
from transport.wording import Speaker

MAX_REDIRECTS = 10
# Content negotiation and cache validators: safe to send to any origin.
PORTABLE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
        "content-type",
        "content-length",
        "if-none-match",
        "if-modified-since",
    }
)
_WEB_SCHEMES = ("http", "https")
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


async def send_following(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    stream: bool,
    speaker: Speaker,
    keep: Collection[str] = (),
) -> httpx.Response:
    """Send `request`, following redirects safely; `keep` names headers that are
    not secret and may go to another origin too (a feed's plain headers).

    With `stream` the returned response is open: the caller closes it.
    """
    portable = PORTABLE_HEADERS | {name.lower() for name in keep}
    response = await client.send(request, stream=stream, follow_redirects=False)
    for _ in range(MAX_REDIRECTS):
        following = response.next_request
        if following is None:
            return response
        await response.aclose()
        await _check_target(following.url, speaker)
        if not _same_origin(response.request.url, following.url):
            _strip(following.headers, portable)
        response = await client.send(following, stream=stream, follow_redirects=False)
    await response.aclose()
    raise ServiceUnusable(f"{speaker.subject} redirects in a loop")


def _same_origin(before: httpx.URL, after: httpx.URL) -> bool:
    """Same scheme, host and port; an http -> https upgrade of the same host counts too."""
    if before.host != after.host:
        return False
    if (before.scheme, after.scheme) == ("http", "https"):
        return before.port in (None, 80) and after.port in (None, 443)
    port = before.port or _DEFAULT_PORTS.get(before.scheme)
    return before.scheme == after.scheme and port == (
        after.port or _DEFAULT_PORTS.get(after.scheme)
    )


def _strip(headers: httpx.Headers, portable: frozenset[str]) -> None:
    for name in list(headers.keys()):
        if name.lower() not in portable and name.lower() != "host":
            del headers[name]


async def _check_target(url: httpx.URL, speaker: Speaker) -> None:
    if url.scheme not in _WEB_SCHEMES:
        raise ServiceUnusable(
            f"{speaker.subject} redirected to a {url.scheme}: address; only http(s) "
            "redirects are followed"
        )
    for address in await _addresses(url):
        if any(address in network for network in _LINK_LOCAL):
            named = "" if url.host == str(address) else f" ({url.host})"
            raise ServiceUnusable(
                f"{speaker.subject} redirected to the link-local address {address}{named}, "
                "where cloud metadata services live; not followed"
            )


async def _addresses(url: httpx.URL) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The host's addresses: the literal one, or what it resolves to now (a name
    that cannot be resolved is left to fail when connecting)."""
    host = url.host
    try:
        return [_unmapped(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, url.port or _DEFAULT_PORTS[url.scheme], type=socket.SOCK_STREAM
        )
    except OSError:
        return []
    # A scoped IPv6 address ("fe80::1%eth0") carries its interface after "%".
    return [_unmapped(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos]


def _unmapped(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """::ffff:169.254.169.254 is 169.254.169.254."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
