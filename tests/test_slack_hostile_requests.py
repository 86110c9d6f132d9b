"""Hostile or broken requests on Slack's HTTP path: refused plainly, never a traceback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import SIGNING_SECRET, Stack

FORM = "application/x-www-form-urlencoded"


def signed_headers(body: bytes, content_type: str = FORM) -> dict[str, str]:
    """Signed as Slack signs: HMAC-SHA256 of `v0:{timestamp}:{raw body}`."""
    timestamp = str(int(time.time()))
    digest = hmac.new(
        SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    )
    signature = "v0=" + digest.hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }


def payload(value: object) -> bytes:
    return urlencode({"payload": json.dumps(value)}).encode()


async def post(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    await stack.serve_http()
    async with httpx.AsyncClient() as client:
        return await client.post(
            stack.extra["base_url"] + "/slack/events", content=body, headers=headers
        )


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []


UNSIGNED = {
    "timestamp is not a number": (
        payload({"type": "block_actions"}),
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00", "Content-Type": FORM},
    ),
    "no signature at all": (b"payload=not-json", {"Content-Type": FORM}),
    "signature of another body": (
        b"payload=not-json",
        {**signed_headers(b"payload=%7B%7D"), "Content-Type": FORM},
    ),
}


@pytest.mark.parametrize("case", UNSIGNED)
async def test_unsigned_requests_get_401_before_anything_is_parsed(
    stack: Stack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, headers = UNSIGNED[case]
    with caplog.at_level(logging.INFO):
        response = await post(stack, body, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert_no_traceback(caplog)


MALFORMED = {
    "payload is not JSON": b"payload=not-json",
    "payload is a list": payload([1, 2]),
    "actions is null": payload({"type": "block_actions", "user": {"id": "U1"}, "actions": None}),
    "action without its id": payload(
        {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"value": "1"}]}
    ),
    "view without callback": payload({"type": "view_submission", "user": {"id": "U1"}, "view": {}}),
    "command without user": urlencode({"command": "/stock", "team_id": "T1"}).encode(),
    "not UTF-8": b"payload=\xff\xfe",
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_signed_but_malformed_requests_get_400(
    stack: Stack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body = MALFORMED[case]
    with caplog.at_level(logging.INFO):
        response = await post(stack, body, signed_headers(body))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed request"}
    assert_no_traceback(caplog)
    assert stack.slack.calls == [] or all(
        not c.method.startswith("chat.") for c in stack.slack.calls
    )


async def test_well_formed_requests_still_reach_the_listeners(stack: Stack) -> None:
    sender = await stack.serve_http()
    response = await sender.slash_command("/stock", "")
    assert response.status_code == 200
