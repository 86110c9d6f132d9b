"""SIGKILL in the middle of a batch of customer emails: none lost, none sent twice.

The email in flight stays `sending` and is reported as unknown, never resent; the
ones never started go out on the next submission of the same message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import probes
from tests.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import SlackRequestSender
from tests.fakes.smtp_server import FakeSMTPServer
from tests.helpers import ALERT_CHANNEL_ID, SIGNING_SECRET, menu_choice
from tests.test_notify_customers import EMAIL, MODAL
from tests.test_replicas import CONFIG, bots, engine, eventually, start, workdir

__all__ = ["bots", "engine", "workdir"]  # fixtures shared with test_replicas

pytestmark = pytest.mark.database

CUSTOMERS = ["ada@example.com", "bob@example.com", "carol@example.com"]


@pytest.fixture
def bot_config(smtp: FakeSMTPServer) -> str:
    return CONFIG + EMAIL.format(port=smtp.port)


@pytest.fixture
def order_rows() -> list[str]:
    rows = ["order_id,customer_name,customer_email,sku,quantity,ordered_at"]
    return rows + [
        f"{1001 + i},Customer {i},{email},MUG-1,1,2026-11-2{i}T09:00:00Z"
        for i, email in enumerate(CUSTOMERS)
    ]


def open_and_submit(bot: BotProcess, slack: FakeSlackAPI, trigger: str) -> None:
    """Choose "Email customers…" in the alert's menu, then send the proposed message."""
    [message] = slack.messages(ALERT_CHANNEL_ID)
    sender = SlackRequestSender(bot.url, SIGNING_SECRET, slack_api=slack)
    sender.block_action(
        "alert_menu",
        user_id="U0ALICE",
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        selected_option_value=menu_choice(message, "Email customers…"),
        trigger_id=trigger,
    )
    view = slack.wait_for(
        lambda c: c.method == "views.open" and c.params.get("trigger_id") == trigger, 20
    ).response["view"]
    text = next(b for b in view["blocks"] if b["type"] == "input")["element"]["initial_value"]
    sender.view_submission(
        MODAL, {"notify_message": {"message": text}}, user_id="U0ALICE", view=view
    )


async def statuses(engine: AsyncEngine) -> dict[str, str]:
    return {n.customer_email: str(n.status) for n in await probes.customer_notifications(engine)}


async def test_killed_in_a_batch_the_rest_go_out_on_the_next_submit(
    workdir: Path,
    engine: AsyncEngine,
    bots: list[BotProcess],
    slack_api: FakeSlackAPI,
    smtp: FakeSMTPServer,
) -> None:
    (workdir / "feeds" / "acme.csv").write_text("sku,quantity\nA-MUG,0\nA-CAP,50\n")
    smtp.hold_answer("bob@example.com")
    first = start(workdir, bots, "first")
    first.wait_ready()
    await eventually(lambda: len(slack_api.messages(ALERT_CHANNEL_ID)) == 1)  # one per product
    await asyncio.to_thread(open_and_submit, first, slack_api, "trigger-1")
    await asyncio.to_thread(smtp.wait_for_held)  # Ada's went out; Bob's is in flight
    first.kill()
    smtp.release()
    assert await statuses(engine) == {"ada@example.com": "sent", "bob@example.com": "sending"}

    second = start(workdir, bots, "second")
    second.wait_ready()
    await asyncio.to_thread(open_and_submit, second, slack_api, "trigger-2")
    await eventually(lambda: smtp.messages_to("carol@example.com"))
    await eventually(lambda: _settled(engine))
    assert [len(smtp.messages_to(c)) for c in CUSTOMERS] == [1, 1, 1]
    assert await statuses(engine) == {
        "ada@example.com": "sent",
        "bob@example.com": "sending",  # unknown: reported so, never resent
        "carol@example.com": "sent",
    }


async def _settled(engine: AsyncEngine) -> bool:
    return (await statuses(engine)).get("carol@example.com") == "sent"
