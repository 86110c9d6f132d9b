"""Keeping waiting customers told until their order ships: the first notice, then a
date update when the supplier's date slips and "on its way" when stock covers the
order, each exactly once per customer, threaded under the first notice.

Real parts: signed Slack requests over HTTP, the fake Slack Web API, the database, and
an aiosmtpd server that receives every email.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.core.fixes.customer_notices import NoticeKind
from bot.runtime import Runtime
from tests.fakes.slack_requests import AsyncSlackRequestSender
from tests.fakes.smtp_server import FakeSMTPServer, ReceivedMail
from tests.helpers import ALERT_CHANNEL_ID, Stack
from tests.probes import arrange_order, product_id
from tests.test_notify_customers import (
    EMAIL,
    MODAL,
    click_email_customers,
    stockout_with_waiting_customers,
    submit,
    templates_dir,
    thread_note,
    view_text,
)

UPDATE = "notify_date_update"
ON_ITS_WAY = "notify_back_in_stock"
# Seconds to wait for the delivery worker on a busy machine (a deadline, not a measure).
SLOW = 20.0


@pytest.fixture
def auto_back_in_stock() -> bool:
    return False


@pytest.fixture
def templates() -> dict[str, str]:
    return {}  # files for [email] templates_dir (none: the bundled templates)


@pytest.fixture
def extra_config(
    smtp: FakeSMTPServer, auto_back_in_stock: bool, templates: dict[str, str], tmp_path: Path
) -> str:
    text = EMAIL.format(port=smtp.port) + templates_dir(tmp_path, templates)
    if auto_back_in_stock:
        text += "\n[notify]\nauto_back_in_stock = true\n"
    return text


def write_mug_feed(stack: Stack, quantity: int, restock: str) -> None:
    (stack.tmp_path / "feeds" / "acme.csv").write_text(
        "sku,quantity,price,restock_date\n"
        f"A-MUG,{quantity},9.99,{restock}\n"
        "A-MUG2,30,9.99,\n"
        "A-CAP,50,9.99,\n",
        encoding="utf-8",
    )


def button(message: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    return next(
        (
            element
            for block in message["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element.get("action_id") == action_id
        ),
        None,
    )


def current(stack: Stack, ts: str) -> dict[str, Any]:
    """The alert message as Slack shows it now."""
    return next(m for m in stack.alert_messages() if m["ts"] == ts)


async def redrawn_with(stack: Stack, ts: str, action_id: str, present: bool) -> dict[str, Any]:
    """Wait until the alert shows (or no longer shows) a button."""
    await stack.slack.wait_for_async(
        lambda c: (
            c.method == "chat.update"
            and (button(current(stack, ts), action_id) is not None) == present
        ),
        SLOW,
    )
    return current(stack, ts)


async def open_follow_up(
    stack: Stack, sender: AsyncSlackRequestSender, message: dict[str, Any], action_id: str
) -> dict[str, Any]:
    found = button(message, action_id)
    assert found is not None, f"no {action_id} button"
    trigger = f"trig-{action_id}-{len(stack.slack.calls_to('views.open'))}"
    await sender.block_action(
        action_id,
        value=found["value"],
        user_id="U0ALICE",
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        trigger_id=trigger,
    )
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "views.open" and c.params.get("trigger_id") == trigger
    )
    assert call.ok, call.response
    return call.response["view"]


async def notice_sent(stack: Stack, smtp: FakeSMTPServer) -> tuple[dict[str, Any], int, Any]:
    """The first notice emailed to Ada (orders 1001, 1003) and Grace (1002): restock
    14 July 2031."""
    message, alert_id = await stockout_with_waiting_customers(stack)
    sender = await stack.serve_http()
    view = await click_email_customers(stack, sender, message, alert_id)
    await submit(sender, view)
    await thread_note(stack, message)
    assert len(smtp.mails) == 2
    return message, alert_id, sender


async def said_in_thread(stack: Stack, message: dict[str, Any], start: str) -> str:
    """The note in the alert's thread that starts with `start`."""
    call = await stack.slack.wait_for_async(
        lambda c: (
            c.method == "chat.postMessage"
            and c.params.get("thread_ts") == message["ts"]
            and str(c.params.get("text", "")).startswith(start)
        ),
        SLOW,
    )
    return str(call.params["text"])


async def date_moved(
    stack: Stack, smtp: FakeSMTPServer, quantity: int = 0, restock: str = "2031-08-01"
) -> tuple[dict[str, Any], int, AsyncSlackRequestSender]:
    """The notice sent, then the supplier's next poll: a new date (or stock back)."""
    sent = await notice_sent(stack, smtp)
    write_mug_feed(stack, quantity, restock)
    await stack.poll("Acme")
    return sent


def only(mails: list[ReceivedMail]) -> ReceivedMail:
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return mails[0]


def threaded_under(reply: ReceivedMail, first: ReceivedMail) -> None:
    root = first["Message-ID"]
    assert root and reply["Message-ID"] and reply["Message-ID"] != root
    assert reply["In-Reply-To"] == root
    assert reply["References"] == root


async def test_every_email_is_multipart_with_reply_to_and_a_message_id(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    await notice_sent(stack, smtp)
    ada = only(smtp.messages_to("ada@example.com"))
    assert ada.message.get_content_type() == "multipart/alternative"
    assert ada["Reply-To"] == "help@mugheaven.example.com"
    assert ada["Message-ID"].endswith("@mugheaven.example.com>")
    assert ada["In-Reply-To"] is None  # the first notice starts the thread
    assert ada.html is not None
    assert "<p>Hello Ada Lovelace,</p>" in ada.html
    assert "order 1001: 2 × Blue ceramic mug" in ada.html
    # No choice link configured: no paragraph about choosing.
    assert "Tell us what you prefer" not in ada.text


async def test_a_date_slip_updates_each_customer_once_threaded_under_the_notice(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, _, sender = await notice_sent(stack, smtp)
    first_ada = only(smtp.messages_to("ada@example.com"))
    first_grace = only(smtp.messages_to("grace@example.com"))

    write_mug_feed(stack, 0, "2031-08-01")  # the supplier moves the date
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], UPDATE, present=True)
    assert button(alert, UPDATE)["text"]["text"] == "Update 2 customers (new date 1 Aug)"

    view = await open_follow_up(stack, sender, alert, UPDATE)
    assert view["callback_id"] == MODAL
    assert "were told another date" in view_text(view)
    assert "*1 August 2031*" in view_text(view)
    assert "Subject: New date for your orders 1001, 1003: Blue ceramic mug" in view_text(view)

    await submit(sender, view)
    await said_in_thread(
        stack, message, "Emailed 2 customers about `MUG-1` Blue ceramic mug (the new date, 1 Aug"
    )
    await submit(sender, view)  # a double click on "Send emails"
    await submit(sender, view, retry_num=1, retry_reason="http_timeout")  # Slack retrying
    await stack.slack.wait_for_async("chat.postEphemeral", count=2)

    ada = [m for m in smtp.messages_to("ada@example.com") if m is not first_ada]
    grace = [m for m in smtp.messages_to("grace@example.com") if m is not first_grace]
    update = only(ada)
    assert update["Subject"] == "New date for your orders 1001, 1003: Blue ceramic mug"
    assert "now expects it back in stock around 1 August 2031" in update.text
    assert update.html is not None and "1 August 2031" in update.html
    threaded_under(update, first_ada)
    threaded_under(only(grace), first_grace)
    # Told: the button goes.
    await redrawn_with(stack, message["ts"], UPDATE, present=False)


async def test_a_date_slip_reaches_only_customers_told_the_old_date(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, _, sender = await notice_sent(stack, smtp)
    # Hedy ordered after the notice, and Ada again: never told a date, nothing to correct.
    await arrange_order(stack, "1011", "Hedy Lamarr", "hedy@example.com")
    await arrange_order(stack, "1013", "Ada Lovelace", "ada@example.com")

    write_mug_feed(stack, 0, "2031-09-30")
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], UPDATE, present=True)
    view = await open_follow_up(stack, sender, alert, UPDATE)
    assert "*2 customers*" in view_text(view)
    assert "hedy@example.com" not in view_text(view) and "1013" not in view_text(view)
    await submit(sender, view)
    await said_in_thread(stack, message, "Emailed 2 customers about `MUG-1` Blue ceramic mug (the")
    _, update = smtp.messages_to("ada@example.com")
    # Only the orders she was told the old date for.
    assert update["Subject"] == "New date for your orders 1001, 1003: Blue ceramic mug"
    assert "1013" not in update.text
    assert update.html is not None and "1013" not in update.html
    assert len(smtp.messages_to("grace@example.com")) == 2
    assert smtp.messages_to("hedy@example.com") == []

    # The date moves back to what Ada and Grace were first told: each is told again,
    # once, since their last email said 30 September.
    write_mug_feed(stack, 0, "2031-07-14")
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], UPDATE, present=True)
    assert button(alert, UPDATE)["text"]["text"] == "Update 2 customers (new date 14 Jul)"


async def test_a_restart_between_notice_and_follow_up_still_threads_and_sends_once(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    _, alert_id, _ = await date_moved(stack, smtp)
    first_grace = only(smtp.messages_to("grace@example.com"))

    # Another Stockbot process on the same database (a restart, or a second replica)
    # sends the update: what was sent is read from the database, not from memory.
    mug = await product_id(stack, "MUG-1")
    other = await Runtime.start(load_settings(stack.config_path), per_channel_interval=0)
    try:
        sent = await other.notifier.send(
            alert_id, mug, "New date.", "U0BOB", NoticeKind.DATE_UPDATE
        )
    finally:
        await other.close()
    assert sorted(o.status for o in sent.outcomes) == ["sent", "sent"]
    again = await stack.runtime.notifier.send(
        alert_id, mug, "New date, edited.", "U0ALICE", NoticeKind.DATE_UPDATE
    )
    assert again.outcomes == []  # nobody is due this update any more
    grace = smtp.messages_to("grace@example.com")
    assert len(grace) == 2
    threaded_under(grace[1], first_grace)
    assert grace[1].text.startswith("Hello Grace Hopper,\n\nNew date.\n")


async def test_back_in_stock_tells_each_customer_once_that_it_is_on_its_way(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, _, sender = await notice_sent(stack, smtp)
    first_ada = only(smtp.messages_to("ada@example.com"))

    write_mug_feed(stack, 50, "")  # stock is back: every waiting order is covered
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], ON_ITS_WAY, present=True)
    assert alert["text"].startswith("✅")  # resolved, and still offering the news
    assert button(alert, ON_ITS_WAY)["text"]["text"] == (
        "Tell 2 customers their order is on its way"
    )
    view = await open_follow_up(stack, sender, alert, ON_ITS_WAY)
    assert "now have their order covered" in view_text(view)

    await submit(sender, view)
    await said_in_thread(
        stack, message, "Emailed 2 customers about `MUG-1` Blue ceramic mug (their order is on"
    )
    await submit(sender, view)  # double submit
    said = await stack.slack.wait_for_async("chat.postEphemeral", SLOW)
    assert said.params["text"].startswith("Nothing new was sent about `MUG-1`")
    ada = smtp.messages_to("ada@example.com")
    assert len(ada) == 2 and len(smtp.messages_to("grace@example.com")) == 2
    assert ada[1]["Subject"] == "Your orders 1001, 1003: Blue ceramic mug is on its way"
    assert "is back in stock, so your order is on its way" in ada[1].text
    threaded_under(ada[1], first_ada)
    await redrawn_with(stack, message["ts"], ON_ITS_WAY, present=False)


@pytest.mark.parametrize("auto_back_in_stock", [True])
async def test_auto_back_in_stock_sends_once_and_says_so_in_the_thread(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, _, _ = await date_moved(stack, smtp, quantity=50, restock="")

    [result] = await stack.runtime.notifier.send_due_back_in_stock()
    assert sorted(o.status for o in result.outcomes) == ["sent", "sent"]
    assert await stack.runtime.notifier.send_due_back_in_stock() == []  # nothing due: once
    await stack.deliver()
    await said_in_thread(
        stack,
        message,
        "Emailed 2 customers about `MUG-1` Blue ceramic mug (their order is on its way) "
        "(sent automatically (`[notify] auto_back_in_stock`)).",
    )
    assert len(smtp.messages_to("ada@example.com")) == 2
    assert len(smtp.messages_to("grace@example.com")) == 2


async def test_backorders_order_id_tells_one_orders_story(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    _, alert_id, _ = await date_moved(stack, smtp)
    mug = await product_id(stack, "MUG-1")
    await stack.runtime.notifier.send(alert_id, mug, "New date.", "U0BOB", NoticeKind.DATE_UPDATE)

    story = await stack.command("/backorders", "#1003", "U0CAROL")
    assert story["response_type"] == "ephemeral"
    text = json.dumps(story["blocks"], ensure_ascii=False)
    assert "🧾 Order 1003" in text
    assert "Ada Lovelace" in text
    assert "`MUG-1` Blue ceramic mug: 1 ordered, 1 waiting" in text
    assert "emailed, notice of the delay, said 14 July 2031 (by <@U0ALICE>)" in text
    assert "emailed, new restock date, said 1 August 2031 (by <@U0BOB>)" in text
    assert "Restock dates told: 14 July 2031, 1 August 2031" in text
    assert "⏳ Still waiting for stock." in text

    write_mug_feed(stack, 50, "")
    await stack.poll("Acme")
    covered = json.dumps((await stack.command("/backorders", "1002"))["blocks"])
    assert "Grace Hopper" in covered and "Covered by stock" in covered
    assert "1 ordered, covered" in covered

    unknown = await stack.command("/backorders", "9999")
    assert unknown["text"].startswith("No such product or order: “9999”.")


@pytest.mark.parametrize(
    "templates",
    [
        {
            "date_update.subject.j2": "{{ store_name }}: new date {{ restock_date_text }}",
            "date_update.txt.j2": (
                "Hi {{ customer_name }}, we said {{ previous_restock_date_text }}; "
                "now {{ restock_date_text }}.{% if choice_url %} {{ choice_url }}{% endif %}\n"
            ),
        }
    ],
)
async def test_a_shop_overrides_one_kind_of_email_only(stack: Stack, smtp: FakeSMTPServer) -> None:
    _, alert_id, _ = await date_moved(stack, smtp)
    # The notice kept the bundled templates.
    assert only(smtp.messages_to("grace@example.com"))["Subject"].startswith("Update on your")
    mug = await product_id(stack, "MUG-1")
    await stack.runtime.notifier.send(alert_id, mug, "New date.", "U0BOB", NoticeKind.DATE_UPDATE)
    update = smtp.messages_to("grace@example.com")[1]
    assert update["Subject"] == "Mug Heaven: new date 1 August 2031"
    assert update.text == "Hi Grace Hopper, we said 14 July 2031; now 1 August 2031.\n"
    assert update.html is not None and "<p>New date.</p>" in update.html  # ours: multipart
