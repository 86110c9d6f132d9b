"""Slack requests over HTTP, signed as Slack signs them, against the running app."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.db.models import AlertState
from tests import probes
from tests.alert_menu import choose
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue ceramic mug,Acme,A-MUG,1,5,4.00",
    "MUG-1,Blue ceramic mug,Beta,B-MUG,2,5,4.40",
    "MUG-2,Green ceramic mug,Acme,A-MUG2,1,5,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]


async def with_out_of_stock_alert(stack: Stack) -> dict:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Beta", {"B-MUG": 40})
    await stack.poll("Beta")
    stack.write_feed("Acme", {"A-MUG": 0, "A-MUG2": 30, "A-CAP": 50})
    await stack.poll("Acme")
    return stack.only_alert()


async def stock_answer(stack: Stack, text: str) -> dict:
    """`/stock text`: acked at once and empty, answered through the response URL."""
    assert stack.sender is not None
    rid = f"stock-{len(stack.slack.responses())}"
    response = await stack.sender.slash_command(
        "/stock", text, response_url=stack.slack.response_url(rid)
    )
    assert response.status_code == 200 and not response.content, response.text
    await stack.slack.wait_for_async(f"response_url/{rid}")
    return stack.slack.responses(rid)[0]


async def test_bad_signature_is_rejected(stack: Stack) -> None:
    sender = await stack.serve_http()
    response = await sender.slash_command("/stock", "MUG-1", bad_signature=True)
    assert response.status_code == 401
    stale = await sender.slash_command("/stock", "MUG-1", timestamp_offset=-600)
    assert stale.status_code == 401


async def test_healthz(stack: Stack) -> None:
    await stack.serve_http()
    async with httpx.AsyncClient() as client:
        response = await client.get(stack.extra["base_url"] + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "ok", "reasons": []}


async def test_stock_shows_every_supplier(stack: Stack) -> None:
    await with_out_of_stock_alert(stack)
    await stack.serve_http()
    answer = await stock_answer(stack, "mug-1")
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "*Acme* *(active)*: 0" in text
    assert "*Beta*: 40 · $9.99" in text
    assert "Open alerts: out of stock" in text


async def test_stock_searches_by_words(stack: Stack) -> None:
    await with_out_of_stock_alert(stack)
    await stack.serve_http()
    answer = await stock_answer(stack, "ceramic mug")
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert answer["text"] == "2 products match “ceramic mug”"
    assert "MUG-1" in text and "MUG-2" in text and "CAP-2" not in text


async def test_unknown_sku_gets_close_matches(stack: Stack) -> None:
    await with_out_of_stock_alert(stack)
    await stack.serve_http()
    answer = await stock_answer(stack, "MUG-3")
    assert answer["text"].startswith("No product matches “MUG-3”. Did you mean:")
    assert "MUG-1" in answer["text"]


async def test_stock_without_argument_summarises_open_alerts(stack: Stack) -> None:
    await with_out_of_stock_alert(stack)
    await stack.serve_http()
    answer = await stock_answer(stack, "")
    assert answer["text"] == "Open alerts: 1 out of stock"
    assert "MUG-1" in json.dumps(answer["blocks"])


async def test_acknowledge_updates_in_place_with_thread_reply(stack: Stack) -> None:
    message = await with_out_of_stock_alert(stack)
    sender = await stack.serve_http()
    response = await sender.block_action(
        "acknowledge_alert", user_id="U0ALICE", channel_id=ALERT_CHANNEL_ID, message=message
    )
    assert response.status_code == 200
    await stack.slack.wait_for_async(
        lambda call: call.method == "chat.postMessage" and call.params.get("thread_ts")
    )
    # The thread note and the update are separate calls: either may land first.
    updated = await stack.updated_alert("Acknowledged by")
    assert updated["ts"] == message["ts"]
    assert "Acknowledged by <@U0ALICE>" in json.dumps(updated["blocks"])
    replies = stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])
    assert [r["text"] for r in replies] == ["Acknowledged by <@U0ALICE>."]

    # A double click, or Slack retrying the request, changes nothing more.
    await sender.block_action(
        "acknowledge_alert",
        user_id="U0ALICE",
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        retry_num=1,
    )
    await stack.deliver()
    assert len(stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])) == 1
    audit = await probes.audit_entries(stack)
    assert [(a.actor, a.action) for a in audit] == [("U0ALICE", "acknowledge_alert")]


async def test_snooze_then_reminder_when_it_ends(stack: Stack) -> None:
    message = await with_out_of_stock_alert(stack)
    await stack.serve_http()
    await choose(stack, message, "U0BOB", "Snooze 4 hours")
    await stack.slack.wait_for_async(
        lambda call: call.method == "chat.postMessage" and call.params.get("thread_ts")
    )
    shown = await stack.updated_alert("Snoozed by")
    assert "Snoozed by <@U0BOB> until" in json.dumps(shown["blocks"])
    replies = stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])
    assert replies[-1]["text"] == "Snoozed for 4 hours by <@U0BOB>."

    actions = stack.runtime.staff
    assert await actions.wake_snoozed() == 0  # not yet
    await probes.arrange_snoozes_due(stack)  # four hours later…
    assert await actions.wake_snoozed() == 1
    await stack.deliver()
    replies = stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])
    assert replies[-1]["text"].startswith("Reminder: the snooze by <@U0BOB> has ended")
    assert (await probes.only_alert(stack)).state == AlertState.OPEN


async def test_action_on_a_resolved_alert_explains_itself(stack: Stack) -> None:
    message = await with_out_of_stock_alert(stack)
    stack.write_feed("Acme", {"A-MUG": 50, "A-MUG2": 30, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.serve_http()
    answer = await stack.click("acknowledge_alert", message, "U0ALICE")
    assert answer["text"] == "That alert is already resolved: nothing to do."
    assert answer["response_type"] == "ephemeral"


@pytest.mark.parametrize("query", ["%", "_", "%_%"])
async def test_stock_wildcards_are_plain_characters(stack: Stack, query: str) -> None:
    await stack.import_catalog(CATALOG)
    await stack.serve_http()
    answer = await stack.command("/stock", query)
    text = json.dumps(answer)
    # No product has % or _ in its SKU or title: nothing matches, nothing is listed.
    assert "MUG-1" not in text and "CAP-2" not in text, text
