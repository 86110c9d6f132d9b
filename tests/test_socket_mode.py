"""Socket Mode end to end, in this process: Bolt and slack_sdk's client for real, against the
fake Web API and the fake Socket Mode server. Envelopes are acked with their envelope_id and
answered; a refresh request and a dropped connection are followed by a new connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from bot.app import create_app
from bot.slack.socket_mode import AppTokenRefused, Backoff, SocketModeConnection
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import SlackRequestBuilder
from tests.fakes.socket_mode import FakeSocketModeServer, payload_of, serving_socket_mode
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, SIGNING_SECRET, Stack

APP_TOKEN = "xapp-test-token"  # FakeSlackAPI's default
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,5,4.40",
]


@pytest.fixture
def socket_server(slack_api: FakeSlackAPI) -> Iterator[FakeSocketModeServer]:
    yield from serving_socket_mode(slack_api)


@contextlib.asynccontextmanager
async def running(connection: SocketModeConnection) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(connection.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await connection.close()


@pytest.fixture
async def connected(stack: Stack, socket_server: FakeSocketModeServer) -> AsyncIterator[None]:
    # A short ping interval: a dropped connection is noticed within a fraction of a second.
    connection = SocketModeConnection(create_app(stack.runtime), APP_TOKEN, ping_interval=0.2)
    worker = asyncio.create_task(stack.runtime.deliverer.run(poll_every=0.2))
    async with running(connection):
        await socket_server.wait_for_connection_async(1)
        yield
    worker.cancel()
    with contextlib.suppress(BaseException):
        await worker


class Slack:
    """What Slack sends over the socket, built like the HTTP requests of the other tests."""

    def __init__(self, stack: Stack, server: FakeSocketModeServer) -> None:
        self.stack, self.server = stack, server
        self.builder = SlackRequestBuilder("http://unused", SIGNING_SECRET, slack_api=stack.slack)

    async def command(self, command: str, text: str) -> dict[str, Any]:
        """Type a slash command; once it is acked, return the answer sent to its
        response_url."""
        rid = f"command-{command.strip('/')}"
        response_url = self.stack.slack.response_url(rid, user="U0ALICE")
        request = self.builder.slash_command(
            command, text, user_id="U0ALICE", response_url=response_url
        )
        envelope_id = await self.server.send_envelope_async(
            "slash_commands", payload_of(request), accepts_response_payload=True
        )
        ack = await self.server.wait_for_ack_async(envelope_id)
        assert ack["envelope_id"] == envelope_id
        await self.stack.slack.wait_for_async(f"response_url/{rid}")
        return dict(self.stack.slack.responses(rid)[-1])

    async def click(self, action_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Click a button of `message`; return the answer sent to its response_url."""
        rid = f"click-{action_id}"
        response_url = self.stack.slack.response_url(
            rid, channel=ALERT_CHANNEL_ID, message_ts=message["ts"], user="U0ALICE"
        )
        request = self.builder.block_action(
            action_id,
            user_id="U0ALICE",
            channel_id=ALERT_CHANNEL_ID,
            message=message,
            response_url=response_url,
        )
        envelope_id = await self.server.send_envelope_async(
            "interactive", payload_of(request), accepts_response_payload=False
        )
        ack = await self.server.wait_for_ack_async(envelope_id)
        assert ack == {"envelope_id": envelope_id}  # an empty ack: the answer comes next
        await self.stack.slack.wait_for_async(f"response_url/{rid}")
        return self.stack.slack.responses(rid)[-1]


async def stock_answer(slack: Slack) -> str:
    answer = await slack.command("/stock", "MUG-1")
    assert answer["response_type"] == "ephemeral"
    return str(answer["text"])


async def test_a_command_and_a_button_are_acked_and_answered(
    stack: Stack, socket_server: FakeSocketModeServer, connected: None
) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Beta", {"B-MUG": 40})
    await stack.poll("Beta")
    stack.write_feed("Acme", {"A-MUG": 0})
    await stack.poll("Acme")
    slack = Slack(stack, socket_server)

    assert "Blue mug" in await stock_answer(slack)
    answer = await slack.click("switch_supplier", stack.only_alert())
    assert answer["text"] == "Switched MUG-1 to Beta (40 in stock)."
    assert answer["response_type"] == "ephemeral"
    await stack.slack.wait_for_async(lambda c: c.method == "chat.update" and c.ok)
    assert stack.only_alert()["text"].startswith("✅ MUG-1 switched to Beta by <@")


@pytest.mark.parametrize(
    "disrupt",
    [
        pytest.param(FakeSocketModeServer.request_refresh_async, id="refresh-request"),
        pytest.param(FakeSocketModeServer.drop_async, id="dropped-connection"),
    ],
)
async def test_a_refresh_request_or_a_dropped_connection_is_followed_by_a_new_one(
    stack: Stack,
    socket_server: FakeSocketModeServer,
    connected: None,
    disrupt: Callable[[FakeSocketModeServer], Awaitable[None]],
) -> None:
    await stack.import_catalog(CATALOG)
    slack = Slack(stack, socket_server)
    await disrupt(socket_server)
    await stack.slack.wait_for_async("apps.connections.open", count=2)
    await socket_server.wait_for_connection_async(2)
    assert "Blue mug" in await stock_answer(slack)


async def test_a_refused_token_ends_the_connection_with_the_reason(
    stack: Stack, socket_server: FakeSocketModeServer
) -> None:
    connection = SocketModeConnection(create_app(stack.runtime), "xapp-revoked")
    async with running(connection) as task:
        with pytest.raises(AppTokenRefused) as refused:
            await asyncio.wait_for(asyncio.shield(task), 30)
    assert refused.value.error == "invalid_auth"
    assert socket_server.connections == 0


async def test_slack_out_of_reach_is_retried_until_it_answers(
    stack: Stack, socket_server: FakeSocketModeServer
) -> None:
    stack.slack.fail_next("apps.connections.open", status=503, times=2)
    backoff = Backoff(first=0.01, cap=0.05)
    connection = SocketModeConnection(create_app(stack.runtime), APP_TOKEN, backoff=backoff)
    async with running(connection):
        await socket_server.wait_for_connection_async(1)
    assert [c.status for c in stack.slack.calls_to("apps.connections.open")] == [503, 503, 200]
