"""Emailing waiting customers: button or /notify-customers -> modal -> one email each.

Everything is real: signed Slack requests over HTTP to the running Bolt app, the fake
Slack Web API, SQLite, and an SMTP server on loopback that receives the emails.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bot.db.models import Order, OrderLine, OrderStatus, Product
from bot.db.types import utcnow
from bot.slack.texts import NOT_ALLOWED
from tests import probes
from tests.alert_menu import choose
from tests.fakes.slack_requests import AsyncSlackRequestSender
from tests.fakes.smtp_server import FakeSMTPServer
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, CONFIG, Stack
from tests.probes import arrange_order

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue ceramic mug,Acme,A-MUG,1,5,4.00",
    "MUG-2,Green ceramic mug,Acme,A-MUG2,1,5,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]
EMAIL = """
[email]
smtp_host = "127.0.0.1"
smtp_port = {port}
from_address = "orders@mugheaven.example.com"
starttls = false
store_name = "Mug Heaven"
reply_to = "help@mugheaven.example.com"
timeout = 5
"""
OPS_CHANNEL = "C0OPS"
MODAL = "notify_customers_modal"
_triggers = itertools.count(1)


# -- configuration: a real SMTP server, and [email] / [access] as each test needs ----------


@pytest.fixture
def access_users() -> list[str] | None:
    return None  # no [access]: everyone may act


@pytest.fixture
def email_enabled() -> bool:
    return True


@pytest.fixture
def templates() -> dict[str, str]:
    return {}  # files for [email] templates_dir (none: the bundled templates)


@pytest.fixture
def config_path(
    tmp_path: Path,
    group_over: int,
    smtp: FakeSMTPServer,
    access_users: list[str] | None,
    email_enabled: bool,
    templates: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    text = CONFIG.format(group_over=group_over)
    if access_users is not None:
        text += f"\n[access]\nallowed_users = {json.dumps(access_users)}\n"
    if email_enabled:
        text += EMAIL.format(port=smtp.port) + templates_dir(tmp_path, templates)
    path = tmp_path / "stockbot.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "feeds").mkdir()
    return path


# -- helpers ---------------------------------------------------------------------------------


def templates_dir(tmp_path: Path, templates: dict[str, str]) -> str:
    """Write the [email] templates_dir files; the config line naming it ("" for none)."""
    if not templates:
        return ""
    folder = tmp_path / "email-templates"
    folder.mkdir()
    for name, body in templates.items():
        (folder / name).write_text(body, encoding="utf-8")
    return 'templates_dir = "email-templates"\n'


def write_acme_feed(stack: Stack) -> None:
    # Blue mug out of stock, back on 14 July 2031 says the supplier.
    (stack.tmp_path / "feeds" / "acme.csv").write_text(
        "sku,quantity,price,restock_date\n"
        "A-MUG,0,9.99,2031-07-14\n"
        "A-MUG2,30,9.99,\n"
        "A-CAP,50,9.99,\n",
        encoding="utf-8",
    )


async def stockout_with_waiting_customers(stack: Stack) -> tuple[dict[str, Any], int]:
    """MUG-1 runs out (alert posted); Ada (two orders) and Grace wait for it."""
    await stack.import_catalog(CATALOG)
    write_acme_feed(stack)
    await stack.poll("Acme")
    message = stack.only_alert()
    await arrange_order(stack, "1001", "Ada Lovelace", "Ada@Example.com", quantity=2, backordered=2)
    await arrange_order(stack, "1002", "Grace Hopper", "grace@example.com")
    await arrange_order(stack, "1003", "Ada Lovelace", "ada@example.com")
    # Not waiting: covered by stock, already fulfilled, or another product.
    await arrange_order(stack, "1004", "Alan Turing", "alan@example.com", backordered=0)
    await arrange_order(
        stack, "1005", "Edsger Dijkstra", "ewd@example.com", status=OrderStatus.FULFILLED
    )
    await arrange_order(stack, "1006", "Barbara Liskov", "barbara@example.com", sku="CAP-2")
    alert_id = (await probes.only_alert(stack)).id
    await probes.arrange_substitute(stack, "MUG-1", "MUG-2", alert_id, chosen_by="U0ALICE")
    return message, alert_id


async def click_email_customers(
    stack: Stack,
    sender: AsyncSlackRequestSender,
    message: dict[str, Any],
    alert_id: int,
    user: str = "U0ALICE",
) -> dict[str, Any]:
    """Click the alert's button; return the modal Slack opened."""
    trigger = f"trig-notify-{next(_triggers)}"
    response = await sender.block_action(
        "notify_customers",
        value=str(alert_id),
        user_id=user,
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        trigger_id=trigger,
    )
    assert response.status_code == 200
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "views.open" and c.params.get("trigger_id") == trigger
    )
    assert call.ok, call.response
    return call.response["view"]


async def email_button_answer(stack: Stack) -> dict[str, Any]:
    """What Alice is told when the alert's button opens no modal."""
    message, alert_id = await stockout_with_waiting_customers(stack)
    await stack.serve_http()
    return await stack.click("notify_customers", message, "U0ALICE", value=str(alert_id))


def initial_message(view: dict[str, Any]) -> str:
    block = next(b for b in view["blocks"] if b["type"] == "input")
    return block["element"]["initial_value"]


def view_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def submit(
    sender: AsyncSlackRequestSender,
    view: dict[str, Any],
    message: str | None = None,
    user: str = "U0ALICE",
    **options: Any,
) -> Any:
    text = initial_message(view) if message is None else message
    return await sender.view_submission(
        MODAL, {"notify_message": {"message": text}}, user_id=user, view=view, **options
    )


def is_thread_reply(ts: str) -> Any:
    return lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts") == ts


async def thread_note(stack: Stack, message: dict[str, Any], count: int = 1) -> str:
    """The `count`-th note posted in the alert's thread."""
    await stack.slack.wait_for_async(is_thread_reply(message["ts"]), count=count)
    return stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])[count - 1]["text"]


async def ephemeral_to(stack: Stack, user: str, count: int = 1) -> str:
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postEphemeral" and c.params.get("user") == user, count=count
    )
    assert call.ok, call.response
    return call.params["text"]


class Opened(NamedTuple):
    """A stockout with customers waiting, and the modal the alert's button opened."""

    message: dict[str, Any]
    alert_id: int
    sender: AsyncSlackRequestSender
    view: dict[str, Any]


@pytest.fixture
async def opened(stack: Stack, smtp: FakeSMTPServer) -> Opened:
    message, alert_id = await stockout_with_waiting_customers(stack)
    sender = await stack.serve_http()
    return Opened(
        message, alert_id, sender, await click_email_customers(stack, sender, message, alert_id)
    )


# -- the modal ------------------------------------------------------------------------------


async def test_button_opens_a_modal_with_recipients_and_a_preview(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    alert_id, view = opened.alert_id, opened.view

    assert view["callback_id"] == MODAL
    assert view["title"]["text"] == "Email customers"
    assert json.loads(view["private_metadata"])["alert_id"] == alert_id
    text = view_text(view)
    # Ada's two orders are one email: 2 customers, 3 backordered orders.
    assert "*2 customers* waiting for `MUG-1` Blue ceramic mug (3 open orders that stock" in text
    assert "Restock date: *14 July 2031*" in text
    assert "Alternative: `MUG-2` Green ceramic mug" in text
    # The preview is the email Ada will get, with both her orders.
    assert "Subject: Update on your orders 1001, 1003: Blue ceramic mug" in text
    assert "Hello Ada Lovelace" in text
    assert "order 1001: 2 × Blue ceramic mug" in text
    assert "grace@example.com" in text and "alan@example.com" not in text
    assert "ewd@example.com" not in text and "barbara@example.com" not in text
    default = initial_message(view)
    assert "back in stock around 14 July 2031" in default
    assert "we can send you Green ceramic mug instead" in default
    assert smtp.mails == []  # nothing is sent before the modal is submitted


async def test_submitting_emails_each_customer_exactly_once(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, alert_id, sender, view = opened.message, opened.alert_id, opened.sender, opened.view

    response = await submit(sender, view)
    assert response.status_code == 200 and response.text == ""  # closes the modal

    note = await thread_note(stack, message)
    assert note.startswith("Emailed 2 customers about `MUG-1` Blue ceramic mug")
    assert "✅ Ada@Example.com: orders 1001, 1003" in note
    assert "✅ grace@example.com: order 1002" in note

    [ada] = smtp.messages_to("ada@example.com")
    [grace] = smtp.messages_to("grace@example.com")
    assert len(smtp.mails) == 2
    assert ada["Subject"] == "Update on your orders 1001, 1003: Blue ceramic mug"
    assert ada["To"] == "Ada Lovelace <Ada@example.com>"
    assert ada["From"] == "Mug Heaven <orders@mugheaven.example.com>"
    assert ada["Reply-To"] == "help@mugheaven.example.com"
    assert "order 1001: 2 × Blue ceramic mug" in ada.text
    assert "order 1003: 1 × Blue ceramic mug" in ada.text
    assert "Your order 1002: 1 × Blue ceramic mug" in grace.text
    for mail in (ada, grace):
        assert "back in stock around 14 July 2031" in mail.text
        assert "Green ceramic mug instead" in mail.text
        assert mail.text.rstrip().endswith("Mug Heaven")

    rows = await probes.customer_notifications(stack)
    assert {(r.customer_email, r.status, r.alert_key) for r in rows} == {
        ("ada@example.com", "sent", str(alert_id)),
        ("grace@example.com", "sent", str(alert_id)),
    }
    entries = [a for a in await probes.audit_entries(stack) if a.action == "notify_customer"]
    assert sorted(
        (a.actor, a.alert_id, a.details["email"], a.details["status"]) for a in entries
    ) == [
        ("U0ALICE", alert_id, "ada@example.com", "sent"),
        ("U0ALICE", alert_id, "grace@example.com", "sent"),
    ]


async def test_edited_message_is_the_one_sent(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, sender, view = opened.message, opened.sender, opened.view
    await submit(sender, view, "Our mug maker is on holiday.\r\nSorry for the wait!  ")
    await thread_note(stack, message)
    for mail in smtp.mails:
        assert "Our mug maker is on holiday.\nSorry for the wait!\n" in mail.text
        assert "14 July 2031" not in mail.text


async def test_an_empty_message_is_refused_in_the_modal(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    sender, view = opened.sender, opened.view
    response = await submit(sender, view, "   \n ")
    assert response.json() == {
        "response_action": "errors",
        "errors": {"notify_message": "Write the message the customers will get."},
    }
    assert await probes.customer_notifications(stack) == []
    assert smtp.mails == []


# -- failures are recorded, reported, and never stop the others ------------------------------


async def test_a_bad_address_fails_alone_and_is_reported(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, alert_id = await stockout_with_waiting_customers(stack)
    await arrange_order(stack, "1007", "Typo Tom", "tom@@example.com")
    await arrange_order(stack, "1008", "No Email Nora", "")
    sender = await stack.serve_http()
    view = await click_email_customers(stack, sender, message, alert_id)
    assert "No email address on order 1008" in view_text(view)

    await submit(sender, view)
    note = await thread_note(stack, message)
    assert note.startswith("Emailed 2 customers about `MUG-1` Blue ceramic mug")
    assert "1 could not be emailed" in note
    assert "❌ tom@@example.com: invalid address (" in note
    assert "No email address on order 1008" in note
    assert {m.rcpt_tos[0].lower() for m in smtp.mails} == {"ada@example.com", "grace@example.com"}

    failed = [r for r in await probes.customer_notifications(stack) if r.status == "failed"]
    assert [(r.customer_email, r.error is not None) for r in failed] == [("tom@@example.com", True)]
    statuses = {a.details["email"]: a.details["status"] for a in await probes.audit_entries(stack)}
    assert statuses["tom@@example.com"] == "failed"


async def test_a_refused_recipient_fails_alone_and_a_resend_reaches_only_them(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, sender, view = opened.message, opened.sender, opened.view
    smtp.reject("grace@example.com")

    await submit(sender, view)
    note = await thread_note(stack, message)
    assert note.startswith("Emailed 1 customer about")
    assert "❌ grace@example.com: refused by the mail server: 550 5.1.1 No such user here" in note
    assert len(smtp.messages_to("ada@example.com")) == 1
    assert smtp.messages_to("grace@example.com") == []

    smtp.accept("grace@example.com")
    await submit(sender, view)  # the same message again: only the failed one is retried
    second = await thread_note(stack, message, count=2)
    assert second.startswith("Emailed 1 customer about")
    assert "✅ grace@example.com" in second
    assert "⏭️ Ada@Example.com: already got this message, not sent again" in second
    assert len(smtp.messages_to("ada@example.com")) == 1
    assert len(smtp.messages_to("grace@example.com")) == 1
    assert {r.status for r in await probes.customer_notifications(stack)} == {"sent"}


async def test_smtp_server_down_is_reported_and_nothing_is_lost(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, sender, view = opened.message, opened.sender, opened.view
    smtp.stop()

    await submit(sender, view)
    note = await thread_note(stack, message)
    assert note.startswith("Could not email 2 of the customers waiting for `MUG-1`")
    assert f"cannot use the mail server 127.0.0.1:{smtp.port}: connection refused" in note
    rows = await probes.customer_notifications(stack)
    assert [(r.status, bool(r.error)) for r in rows] == [("failed", True), ("failed", True)]

    smtp.start()  # the server is back, on the same port
    await submit(sender, view)
    assert (await thread_note(stack, message, count=2)).startswith("Emailed 2 customers")
    assert len(smtp.messages_to("ada@example.com")) == 1
    assert len(smtp.messages_to("grace@example.com")) == 1


# -- exactly once ----------------------------------------------------------------------------


async def test_double_submit_and_slack_retry_send_nothing_twice(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, sender, view = opened.message, opened.sender, opened.view

    await submit(sender, view)
    await thread_note(stack, message)
    await submit(sender, view)  # a second click on "Send emails"
    await submit(sender, view, retry_num=1, retry_reason="http_timeout")  # Slack retrying
    first = await ephemeral_to(stack, "U0ALICE", count=1)
    await ephemeral_to(stack, "U0ALICE", count=2)

    assert first.startswith("Nothing new was sent about `MUG-1` Blue ceramic mug")
    assert len(smtp.mails) == 2
    assert len(await probes.customer_notifications(stack)) == 2
    # Repeats that sent nothing tell only the person, not the whole thread.
    assert len(stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])) == 1


async def test_concurrent_submissions_email_each_customer_once(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, sender, view = opened.message, opened.sender, opened.view

    await asyncio.gather(submit(sender, view), submit(sender, view, retry_num=1))
    # Each submission ends with one answer: a thread note or a word to the person.
    await stack.slack.wait_for_async(
        lambda c: is_thread_reply(message["ts"])(c) or c.method == "chat.postEphemeral", count=2
    )
    assert len(smtp.messages_to("ada@example.com")) == 1
    assert len(smtp.messages_to("grace@example.com")) == 1
    assert len(await probes.customer_notifications(stack)) == 2


# -- who may send ----------------------------------------------------------------------------


@pytest.mark.parametrize("access_users", [["U0ALICE"]])
async def test_only_allowed_people_may_email_customers(stack: Stack, smtp: FakeSMTPServer) -> None:
    message, alert_id = await stockout_with_waiting_customers(stack)
    sender = await stack.serve_http()

    refused = await stack.click("notify_customers", message, "U0MALLORY", value=str(alert_id))
    assert refused["text"] == NOT_ALLOWED
    assert stack.slack.calls_to("views.open") == []

    # Even holding a real modal (opened by Alice), Mallory's submission sends nothing.
    view = await click_email_customers(stack, sender, message, alert_id, user="U0ALICE")
    await submit(sender, view, user="U0MALLORY")
    assert await ephemeral_to(stack, "U0MALLORY") == NOT_ALLOWED
    assert await probes.customer_notifications(stack) == []
    assert smtp.mails == []
    assert [a for a in await probes.audit_entries(stack) if a.action == "notify_customer"] == []


@pytest.mark.parametrize("email_enabled", [False])
async def test_without_email_settings_people_are_told_what_to_configure(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    said = await email_button_answer(stack)
    assert said["response_type"] == "ephemeral"
    assert "Add an `[email]` table" in said["text"] and "SMTP_PASSWORD" in said["text"]

    answer = await stack.command("/notify-customers", "MUG-1")
    assert answer["response_type"] == "ephemeral"
    assert "Add an `[email]` table" in answer["text"]
    assert stack.slack.calls_to("views.open") == []


# -- /notify-customers SKU -------------------------------------------------------------------


async def test_slash_command_opens_the_same_modal(
    opened: Opened, stack: Stack, smtp: FakeSMTPServer
) -> None:
    message, alert_id, sender, from_button = (
        opened.message,
        opened.alert_id,
        opened.sender,
        opened.view,
    )

    response = await sender.slash_command(
        "/notify-customers", "mug-1", user_id="U0ALICE", channel_id=OPS_CHANNEL, trigger_id="T-1"
    )
    assert response.status_code == 200
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "views.open" and c.params.get("trigger_id") == "T-1"
    )
    assert call.ok, call.response
    view = call.response["view"]
    assert view["callback_id"] == MODAL
    assert view_text(view) == view_text(from_button)
    # Attached to the open alert: same "exactly once" key, result in the same thread.
    assert json.loads(view["private_metadata"]) == {
        "alert_id": alert_id,
        "product_id": await probes.product_id(stack, "MUG-1"),
        "channel_id": OPS_CHANNEL,
        "kind": "notice",
    }
    await submit(sender, view)
    assert (await thread_note(stack, message)).startswith("Emailed 2 customers")


async def test_slash_command_answers_unknown_sku_nobody_waiting_and_usage(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    await stockout_with_waiting_customers(stack)
    await stack.serve_http()

    usage = await stack.command("/notify-customers", "")
    assert usage["response_type"] == "ephemeral"
    assert usage["text"].startswith("Usage: `/notify-customers SKU`")

    said = await stack.command("/notify-customers", "MUG-9", "U0ALICE", channel_id=OPS_CHANNEL)
    assert said["response_type"] == "ephemeral"
    assert said["text"].startswith("No product has the SKU “MUG-9”. Did you mean:")
    assert "`MUG-1` Blue ceramic mug" in said["text"]

    nobody = await stack.command("/notify-customers", "MUG-2", "U0ALICE", channel_id=OPS_CHANNEL)
    assert nobody["text"].startswith("Nobody is waiting for `MUG-2` Green ceramic mug")
    assert stack.slack.calls_to("views.open") == []
    assert stack.slack.warnings == []


async def test_without_an_alert_the_result_goes_to_the_person(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    await stockout_with_waiting_customers(stack)
    # The green mug is in stock (no alert), but an order still waits for it.
    await arrange_order(stack, "1010", "Linus", "linus@example.com", sku="MUG-2", backordered=0)
    sender = await stack.serve_http()
    await sender.slash_command(
        "/notify-customers", "MUG-2", user_id="U0ALICE", channel_id=OPS_CHANNEL, trigger_id="T-2"
    )
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "views.open" and c.params.get("trigger_id") == "T-2"
    )
    view = call.response["view"]
    assert json.loads(view["private_metadata"])["alert_id"] is None
    assert "Restock date: not known yet" in view_text(view)
    assert "has not given us a restock date yet" in initial_message(view)

    await submit(sender, view)
    said = await ephemeral_to(stack, "U0ALICE")
    assert said.startswith("Emailed 1 customer about `MUG-2` Green ceramic mug")
    ephemeral = stack.slack.ephemerals(channel=OPS_CHANNEL, user="U0ALICE")
    assert len(ephemeral) == 1
    [mail] = smtp.messages_to("linus@example.com")
    assert mail["Subject"] == "Update on your order 1010: Green ceramic mug"
    [row] = await probes.customer_notifications(stack)
    assert row.alert_key == f"product:{await probes.product_id(stack, 'MUG-2')}"
    assert row.alert_id is None


# -- templates and SMTP login ----------------------------------------------------------------


@pytest.mark.parametrize(
    "templates",
    [
        {
            "customer_notice.subject.j2": "[{{ store_name }}] {{ product.sku }} is late",
            "customer_notice.txt.j2": (
                "Dear {{ customer_name }},\n{{ message }}\n"
                "{% for o in orders %}\n#{{ o.number }}\n{% endfor %}\n"
                "ETA {{ restock_date_text }}; instead: {{ substitute.title }}\n"
            ),
            "customer_notice.html.j2": "<p>{{ message }}</p><p>{{ customer_name }}</p>",
        }
    ],
)
async def test_a_store_can_override_the_templates(stack: Stack, smtp: FakeSMTPServer) -> None:
    message, alert_id = await stockout_with_waiting_customers(stack)
    await arrange_order(stack, "1009", "Bobby <Tables>", "bobby@example.com")
    sender = await stack.serve_http()
    view = await click_email_customers(stack, sender, message, alert_id)
    assert "Subject: [Mug Heaven] MUG-1 is late" in view_text(view)

    await submit(sender, view, "Sorry & thanks for waiting.")
    await thread_note(stack, message)
    [ada] = smtp.messages_to("ada@example.com")
    assert ada["Subject"] == "[Mug Heaven] MUG-1 is late"
    assert ada.text == (
        "Dear Ada Lovelace,\nSorry & thanks for waiting.\n#1001\n#1003\n"
        "ETA 14 July 2031; instead: Green ceramic mug\n"
    )
    [bobby] = smtp.messages_to("bobby@example.com")
    # The HTML alternative is escaped; the text part is not.
    assert bobby.html is not None
    assert "<p>Sorry &amp; thanks for waiting.</p><p>Bobby &lt;Tables&gt;</p>" in bobby.html
    assert "Dear Bobby <Tables>," in bobby.text


@pytest.mark.parametrize(
    "templates", [{"customer_notice.txt.j2": "Hello {{ customer_nmae }}\n{{ message }}\n"}]
)
async def test_a_broken_template_stops_before_anything_is_sent(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    said = (await email_button_answer(stack))["text"]
    assert said.startswith("The customer email template has a problem")
    assert "'customer_nmae' is undefined" in said
    assert stack.slack.calls_to("views.open") == []
    assert smtp.mails == []


@pytest.fixture
def smtp_login() -> Iterator[FakeSMTPServer]:
    with FakeSMTPServer(credentials=("mugheaven", "s3cret")) as server:
        yield server


async def test_smtp_login_comes_from_the_environment(
    tmp_path: Path,
    smtp_login: FakeSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
    slack_env: None,
) -> None:
    from bot.config import load_settings
    from bot.runtime import Runtime

    config = tmp_path / "login.toml"
    config.write_text(CONFIG.format(group_over=10) + EMAIL.format(port=smtp_login.port))
    (tmp_path / "feeds").mkdir(exist_ok=True)
    monkeypatch.setenv("SMTP_USERNAME", "mugheaven")
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    runtime = await Runtime.start(load_settings(config), per_channel_interval=0)
    try:
        async with runtime.writes() as session, session.begin():
            product = Product(sku="MUG-1", title="Blue ceramic mug")
            session.add(product)
            await session.flush()
            session.add(
                Order(
                    external_id="2001",
                    customer_name="Ada",
                    customer_email="ada@example.com",
                    ordered_at=utcnow(),
                    lines=[OrderLine(product_id=product.id, quantity=1, backordered=1)],
                )
            )
        notifier = runtime.notifier
        result = await notifier.send(None, product.id, "Sorry, it is late.", "U0ALICE")
    finally:
        await runtime.close()
    assert [o.status for o in result.outcomes] == ["sent"]
    assert smtp_login.logins == ["mugheaven"]
    assert len(smtp_login.messages_to("ada@example.com")) == 1


async def test_the_button_on_a_posted_alert_opens_the_modal(
    stack: Stack, smtp: FakeSMTPServer
) -> None:
    # Orders first, then the stockout: allocation marks them backordered and the alerts
    # Stockbot posts carry the "Email customers…" button.
    await stack.import_catalog(CATALOG)
    await arrange_order(stack, "1001", "Ada Lovelace", "ada@example.com", quantity=2, backordered=0)
    await arrange_order(stack, "1002", "Grace Hopper", "grace@example.com", backordered=0)
    write_acme_feed(stack)
    await stack.poll("Acme")
    stockout = next(m for m in stack.alert_messages() if m["text"].startswith("🚨 MUG-1"))
    sender = await stack.serve_http()

    await choose(stack, stockout, "U0ALICE", "Email customers…")
    call = await stack.slack.wait_for_async("views.open")
    assert call.ok, call.response
    view = call.response["view"]
    assert "*2 customers* waiting for `MUG-1` Blue ceramic mug (2 open orders that stock" in (
        view_text(view)
    )
    await submit(sender, view)
    assert (await thread_note(stack, stockout)).startswith("Emailed 2 customers")
    assert len(smtp.mails) == 2
