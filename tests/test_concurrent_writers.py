"""Writers never fail for want of SQLite's lock: webhooks and Slack clicks while polls commit.

Every transaction that writes takes the write lock when it begins (`Runtime.writes`),
so it waits its turn instead of failing with "database is locked" when a poll commits
between its first read and its first write.
"""

from __future__ import annotations

import asyncio
import copy
import uuid

import pytest

from bot.slack.ids import ActionId
from bot.slack.texts import GENERIC_ERROR
from tests import probes
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack
from tests.webhook_helpers import SHOPIFY, set_secret

BULK = 400  # products each poll rewrites: a write transaction of some length
CLICKED = 6  # out-of-stock products whose alerts are acknowledged meanwhile
WEBHOOKS = 40


@pytest.fixture(autouse=True)
def _shopify_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_secret(monkeypatch, SHOPIFY, SHOPIFY.secret)


def _feed(stack: Stack, level: int) -> None:
    stock: dict[str, int | str | None] = {f"A-{i}": level + i % 3 for i in range(BULK)}
    stock |= {f"A-OUT-{i}": 0 for i in range(CLICKED)}
    stock |= {"A-MUG": 500, "A-CAP": 500}
    stack.write_feed("Acme", stock)


async def test_webhooks_and_clicks_during_polls_all_succeed(stack: Stack) -> None:
    rows = [
        CATALOG_HEADER,
        "MUG-1,Blue mug,Acme,A-MUG,1,0,4.00",
        "CAP-2,Red cap,Acme,A-CAP,1,0,2.00",
    ]
    rows += [f"BULK-{i},Bulk {i},Acme,A-{i},1,2,1.00" for i in range(BULK)]
    rows += [f"OUT-{i},Gone {i},Acme,A-OUT-{i},1,2,1.00" for i in range(CLICKED)]
    await stack.import_catalog(rows)
    _feed(stack, 50)
    await stack.poll("Acme")
    sender = await stack.serve_http()
    alerts = stack.alert_messages()
    assert len(alerts) == CLICKED

    async def keep_polling() -> None:
        for round_ in range(12):
            _feed(stack, 60 if round_ % 2 else 50)
            summary = await stack.runtime.poller.poll("Acme")
            assert summary.error is None

    async def webhook(number: int) -> int:
        order = copy.deepcopy(SHOPIFY.order)
        order["id"], order["name"] = 5_000 + number, f"#{5_000 + number}"
        response = await SHOPIFY.deliver(stack, order, delivery_id=uuid.uuid4().hex)
        return response.status_code

    async def click(index: int, message: dict[str, object]) -> None:
        value = next(
            e["value"]
            for b in message["blocks"]  # type: ignore[attr-defined]
            for e in b.get("elements", [])
            if e.get("action_id") == ActionId.ACKNOWLEDGE
        )
        rid = stack.slack.response_url(f"ack-{index}", channel=ALERT_CHANNEL_ID)
        response = await sender.block_action(
            ActionId.ACKNOWLEDGE,
            value,
            user_id="U0ALICE",
            channel_id=ALERT_CHANNEL_ID,
            message=message,
            response_url=rid,
        )
        assert response.status_code == 200

    polling = asyncio.create_task(keep_polling())
    await asyncio.sleep(0)
    codes = await asyncio.gather(
        *(webhook(n) for n in range(WEBHOOKS)),
        *(click(i, m) for i, m in enumerate(alerts)),
    )
    await polling

    failed_webhooks = [code for code in codes[:WEBHOOKS] if code != 200]
    assert failed_webhooks == [], f"{len(failed_webhooks)} of {WEBHOOKS} webhooks failed"
    # Each click ends acknowledged, or with an apology to the person who clicked.
    for _ in range(500):
        acknowledged = await probes.acknowledged_count(stack)
        apologies = [r for r in stack.slack.responses() if r.get("text") == GENERIC_ERROR]
        if acknowledged + len(apologies) >= CLICKED:
            break
        await asyncio.sleep(0.02)
    assert apologies == []
    assert acknowledged == CLICKED
