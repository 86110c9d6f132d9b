"""Customers' choice links: the notice email carries each customer's link; a real HTTP
client opens and submits the page on the running web server; the choice shows in the
alert's thread, on the alert and in /backorders; a cancel choice gets a confirmed
button that cancels the order in the (fake) store exactly once.

Everything is real: signed Slack requests over HTTP, the fake Slack Web API, SQLite,
an SMTP server on loopback, the fake Shopify and WooCommerce servers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import load_settings
from bot.core.fixes.choice_links import ChoiceLinks
from bot.core.orders import close_order
from bot.runtime import Runtime
from bot.slack.ids import ActionId
from tests.fakes import woocommerce_server as woocommerce
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.shopify_server import order as shopify_order
from tests.fakes.smtp_server import FakeSMTPServer
from tests.helpers import CONFIG, Stack
from tests.loopback import TLS
from tests.probes import arrange_cancel_claimed, order_choices, order_rows, product_alerts
from tests.test_customer_follow_ups import (
    ON_ITS_WAY,
    UPDATE,
    button,
    open_follow_up,
    redrawn_with,
    said_in_thread,
    write_mug_feed,
)
from tests.test_notify_customers import (
    CATALOG,
    EMAIL,
    click_email_customers,
    stockout_with_waiting_customers,
    submit,
    view_text,
    write_acme_feed,
)
from tests.webhook_helpers import shopify_store, store_credentials, woocommerce_store

PUBLIC_URL = "https://stockbot.mugheaven.example.com"
LINK_SECRET = "mug-heaven-link-secret-0123456789abcdef"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/choice/\S+")
SHOP = "Mug Shop"
WOO = "Mug Woo"


@pytest.fixture
def store_extra() -> str:
    """More keys for both `[[stores]]` tables (a module that imports these fixtures may
    override it)."""
    return ""


@pytest.fixture
def config_path(
    tmp_path: Path,
    smtp: FakeSMTPServer,
    shop: FakeShopify,
    woo: woocommerce.FakeWooCommerce,
    store_extra: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("STOCKBOT_LINK_SECRET", LINK_SECRET)
    store_credentials(monkeypatch)
    text = CONFIG.format(group_over=10) + EMAIL.format(port=smtp.port)
    text += f'\n[web]\npublic_url = "{PUBLIC_URL}/"\n'
    text += (
        f"{shopify_store(SHOP, shop)}{store_extra}\n{woocommerce_store(WOO, woo)}{store_extra}\n"
    )
    path = tmp_path / "stockbot.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "feeds").mkdir()
    return path


# -- helpers ---------------------------------------------------------------------------------


def local(stack: Stack, url: str) -> str:
    """The public link as the reverse proxy hands it to `stockbot run --http`."""
    return url.replace(PUBLIC_URL, stack.extra["base_url"])


def links_in(smtp: FakeSMTPServer, address: str) -> list[str]:
    [mail] = smtp.messages_to(address)
    return LINK.findall(mail.text)


async def emailed(stack: Stack, smtp: FakeSMTPServer) -> dict[str, Any]:
    """MUG-1 out of stock, Ada (1001, 1003) and Grace (1002) waiting with a substitute
    offered; staff email them from the alert. Returns the alert message."""
    message, alert_id = await stockout_with_waiting_customers(stack)
    sender = await stack.serve_http()
    view = await click_email_customers(stack, sender, message, alert_id)
    response = await submit(sender, view)
    assert response.status_code == 200
    [summary] = await thread_texts(stack, message, 1)
    assert summary.startswith("Emailed 2 customers")
    return message


async def chosen(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> tuple[dict[str, Any], str, str]:
    """Emailed; then Grace takes the substitute and Ada wants to cancel 1003 (1001 still
    waits). Returns the alert message and Ada's links for 1001 and 1003."""
    message = await emailed(stack, smtp)
    ada_1001, ada_1003 = links_in(smtp, "ada@example.com")
    [grace] = links_in(smtp, "grace@example.com")
    await http.post(local(stack, grace), data={"choice": "substitute"})
    await http.post(local(stack, ada_1003), data={"choice": "cancel"})
    await said(stack, message, "Ada Lovelace, order 1003, wants to cancel")
    return message, ada_1001, ada_1003


async def thread_texts(stack: Stack, message: dict[str, Any], count: int) -> list[str]:
    """The alert's thread once it holds `count` replies."""
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts") == message["ts"],
        count=count,
    )
    return [reply["text"] for reply in stack.slack.thread_replies("C0ALERTS", message["ts"])]


async def said(stack: Stack, message: dict[str, Any], text: str) -> list[str]:
    """The alert's thread once a reply says `text`."""
    await stack.slack.wait_for_async(
        lambda c: (
            c.method == "chat.postMessage"
            and c.params.get("thread_ts") == message["ts"]
            and text in c.params.get("text", "")
        )
    )
    return [reply["text"] for reply in stack.slack.thread_replies("C0ALERTS", message["ts"])]


def page_text(response: httpx.Response) -> str:
    """What the page says, tags dropped, entities left as they are."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, verify=TLS) as client:
        yield client


# -- the email and the page ------------------------------------------------------------------


async def test_each_email_links_each_order_to_its_page(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    await emailed(stack, smtp)
    ada, [grace] = links_in(smtp, "ada@example.com"), links_in(smtp, "grace@example.com")
    assert len(ada) == 2 and len(set([*ada, grace])) == 3  # one link per order
    [mail] = smtp.messages_to("ada@example.com")
    assert f"Order 1001: {ada[0]}" in mail.text and f"Order 1003: {ada[1]}" in mail.text

    response = await http.get(local(stack, grace))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    shown = page_text(response)
    assert "Mug Heaven" in shown
    assert "Hello Grace," in shown
    assert "Blue ceramic mug in your order 1002 is delayed." in shown
    assert "Expected back in stock around 14 July 2031." in shown
    assert "We can send you Green ceramic mug instead." in shown
    for label in ("I will wait for it", "Send me Green ceramic mug instead", "Cancel my order"):
        assert label in shown
    # No personal data beyond the first name and the order number.
    assert "Hopper" not in response.text and "grace@example.com" not in response.text
    assert 'name="viewport"' in response.text  # laid out for a phone


async def test_a_choice_is_recorded_said_in_the_thread_counted_and_listed(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message = await emailed(stack, smtp)
    ada_1001, ada_1003 = links_in(smtp, "ada@example.com")
    [grace] = links_in(smtp, "grace@example.com")

    answer = await http.post(local(stack, grace), data={"choice": "substitute"})
    assert answer.status_code == 200
    assert "Thank you, Grace: we will send you Green ceramic mug for order 1002." in (
        page_text(answer)
    )
    await http.post(local(stack, ada_1001), data={"choice": "wait"})
    await http.post(local(stack, ada_1003), data={"choice": "cancel"})

    thread = await thread_texts(stack, message, 4)  # the email summary, then 3 choices
    assert "Grace Hopper, order 1002, chose the substitute Green ceramic mug." in thread
    assert "Ada Lovelace, order 1001, will wait." in thread
    # Imported orders: no store to cancel in, so staff are told to do it there.
    assert (
        "Ada Lovelace, order 1003, wants to cancel. Cancel it in your store if you agree." in thread
    )
    shown = await stack.updated_alert(
        "3 waiting: 1 will wait, 1 takes the substitute, 1 wants to cancel"
    )
    blocks = json.dumps(shown["blocks"], ensure_ascii=False)
    assert "🛑 Ada Lovelace, order 1003, wants to cancel: cancel it in your store" in blocks
    assert "cancel_order_in_store" not in blocks  # no store: no button

    listed = json.dumps(await stack.command("/backorders", "MUG-1"), ensure_ascii=False)
    assert "Order 1001 · Ada Lovelace: 2 of 2 waiting" in listed
    assert "🗳️ will wait" in listed and "🗳️ takes the substitute" in listed
    assert "🗳️ wants to cancel" in listed
    assert sorted(await order_choices(stack)) == [
        ("1001", "wait"),
        ("1002", "substitute"),
        ("1003", "cancel"),
    ]


async def chosen_then_date_moved(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """`chosen`, then the supplier moves the date: the alert offers to update only the
    customer still waiting (Ada, for 1001). Returns what `chosen` does, and the alert
    message as redrawn."""
    message, ada_1001, ada_1003 = await chosen(stack, smtp, http)
    write_mug_feed(stack, 0, "2031-08-01")
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], UPDATE, present=True)
    assert button(alert, UPDATE)["text"]["text"] == "Update 1 customer (new date 1 Aug)"
    return message, ada_1001, ada_1003, alert


async def test_date_updates_skip_customers_who_chose_the_substitute_or_to_cancel(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message, ada_1001, ada_1003, alert = await chosen_then_date_moved(stack, smtp, http)
    view = await open_follow_up(stack, stack.sender, alert, UPDATE)
    assert "ada@example.com" in view_text(view).lower()
    assert "grace@example.com" not in view_text(view)
    await submit(stack.sender, view)
    await said_in_thread(stack, message, "Emailed 1 customer about `MUG-1` Blue ceramic mug (the")

    assert len(smtp.messages_to("grace@example.com")) == 1  # only the first notice
    first, update = smtp.messages_to("ada@example.com")
    assert "1 August 2031" in update.text
    # Only the order still waiting: 1003's customer asked to cancel it.
    assert update["Subject"] == "New date for your order 1001: Blue ceramic mug"
    assert "1003" not in update.text
    # The date update carries the order's link, in the text and in the HTML.
    assert ada_1001 in update.text and ada_1003 not in update.text
    assert update.html is not None
    assert f'<a href="{ada_1001}">' in update.html and ada_1003 not in update.html
    assert first.html is not None and f'<a href="{ada_1001}">' in first.html


async def test_a_second_notice_leaves_out_orders_whose_customer_chose_not_to_wait(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message, ada_1001, ada_1003, alert = await chosen_then_date_moved(stack, smtp, http)

    # Staff email the customers again from the alert's menu: a new notice, new text.
    # Alan's order 1004 waits now too (the poll found no stock for it).
    [row] = await product_alerts(stack)
    view = await click_email_customers(stack, stack.sender, alert, row.id)
    shown = view_text(view)
    assert "*2 customers* waiting for `MUG-1` Blue ceramic mug (2 open orders" in shown
    assert "ada@example.com" in shown.lower() and "grace@example.com" not in shown
    assert "Left out: 2 orders whose customer chose the substitute or to cancel." in shown
    await submit(stack.sender, view)
    # The thread so far: the first notice, two choices, the poll's news; now this one.
    summary = (await thread_texts(stack, message, 5))[-1]
    assert summary.startswith("Emailed 2 customers about `MUG-1` Blue ceramic mug")
    assert "grace" not in summary
    assert len(smtp.messages_to("grace@example.com")) == 1  # only the first notice
    _, again = smtp.messages_to("ada@example.com")
    assert "1 August 2031" in again.text
    assert "1001" in again["Subject"] and "1003" not in again["Subject"]
    assert ada_1001 in again.text and ada_1003 not in again.text and "1003" not in again.text

    # Everyone chose: nobody is left to email, and the answer says why.
    [alan] = links_in(smtp, "alan@example.com")
    await http.post(local(stack, alan), data={"choice": "cancel"})
    await http.post(local(stack, ada_1001), data={"choice": "substitute"})
    await said(stack, message, "Ada Lovelace, order 1001, chose the substitute")
    answer = await stack.command("/notify-customers", "MUG-1", "U0ALICE")
    assert answer["text"] == (
        "Nobody is waiting for `MUG-1` Blue ceramic mug any more: the customers of its "
        "4 open orders chose the substitute or to cancel."
    )
    assert len(smtp.messages_to("ada@example.com")) == 2


async def test_back_in_stock_news_goes_only_to_orders_still_waiting_for_the_product(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message, _, _ = await chosen(stack, smtp, http)

    write_mug_feed(stack, 50, "")  # stock is back: every order is covered
    await stack.poll("Acme")
    alert = await redrawn_with(stack, message["ts"], ON_ITS_WAY, present=True)
    # Grace takes the substitute and 1003 is to be cancelled: "on its way" would be false.
    assert button(alert, ON_ITS_WAY)["text"]["text"] == "Tell 1 customer their order is on its way"
    view = await open_follow_up(stack, stack.sender, alert, ON_ITS_WAY)
    assert "grace@example.com" not in view_text(view)
    await submit(stack.sender, view)
    await said_in_thread(stack, message, "Emailed 1 customer about `MUG-1` Blue ceramic mug (their")

    assert len(smtp.messages_to("grace@example.com")) == 1  # only the first notice
    _, news = smtp.messages_to("ada@example.com")
    assert news["Subject"] == "Your order 1001: Blue ceramic mug is on its way"
    assert "1003" not in news.text


async def test_backorders_order_id_shows_the_customers_choice(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message = await emailed(stack, smtp)
    [grace] = links_in(smtp, "grace@example.com")
    _, ada_1003 = links_in(smtp, "ada@example.com")
    await http.post(local(stack, grace), data={"choice": "substitute"})
    await http.post(local(stack, ada_1003), data={"choice": "cancel"})
    await said(stack, message, "Ada Lovelace, order 1003, wants to cancel")

    story = json.dumps((await stack.command("/backorders", "1002"))["blocks"], ensure_ascii=False)
    assert "🧾 Order 1002" in story
    assert "the customer chose the substitute Green ceramic mug · `MUG-1`" in story
    assert "🔁 Covered: the customer chose the substitute instead of waiting." in story
    assert "Still waiting for stock" not in story

    story = json.dumps((await stack.command("/backorders", "1003"))["blocks"], ensure_ascii=False)
    assert "the customer wants to cancel · `MUG-1`" in story
    assert "⏳ Still waiting for stock." in story

    untouched = json.dumps((await stack.command("/backorders", "1001"))["blocks"])
    assert "the customer" not in untouched


async def test_a_customer_may_change_their_mind_and_a_double_submit_says_nothing_twice(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    message = await emailed(stack, smtp)
    [grace] = links_in(smtp, "grace@example.com")
    url = local(stack, grace)

    for _ in range(2):  # a double tap
        assert (await http.post(url, data={"choice": "substitute"})).status_code == 200
    changed = await http.post(url, data={"choice": "wait"})
    assert "Thank you, Grace: we will ship order 1002 as soon as it is back in stock." in (
        page_text(changed)
    )
    thread = await thread_texts(stack, message, 3)
    assert thread[1:] == [
        "Grace Hopper, order 1002, chose the substitute Green ceramic mug.",
        "Grace Hopper, order 1002, changed their mind: will wait.",
    ]
    await stack.deliver()
    assert len(stack.slack.thread_replies("C0ALERTS", message["ts"])) == 3
    # The page marks what she chose last.
    shown = (await http.get(url)).text
    assert re.search(r'value="wait" class="current">I will wait for it ✓', shown)
    assert await order_choices(stack) == [("1002", "wait")]


async def test_tampered_foreign_and_dead_links_get_a_plain_404_and_change_nothing(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    await emailed(stack, smtp)
    [grace] = links_in(smtp, "grace@example.com")
    token = grace.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    tampered = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    # Another shop's Stockbot (another secret) linking to the same order and product.
    order_id, product = ChoiceLinks(PUBLIC_URL, LINK_SECRET).read(token) or (0, 0)
    foreign = ChoiceLinks(PUBLIC_URL, "another-shop-secret-0123456789abcdef").token(
        order_id, product
    )
    base = stack.extra["base_url"] + "/choice/"
    for bad in (tampered, foreign, "x" * 300, "not-a-token"):
        for response in (
            await http.get(base + bad),
            await http.post(base + bad, data={"choice": "cancel"}),
        ):
            assert response.status_code == 404
            assert "This link is not valid any more." in page_text(response)
            assert "Grace" not in response.text and "1002" not in response.text

    # The order ships: its link dies.
    async with stack.runtime.writes() as session, session.begin():
        await close_order(session, "1002", channel=stack.settings.slack.alert_channel)
    for response in (
        await http.get(local(stack, grace)),
        await http.post(local(stack, grace), data={"choice": "cancel"}),
    ):
        assert response.status_code == 404
    assert await order_choices(stack) == []


async def test_bad_submissions_are_refused_plainly(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    await emailed(stack, smtp)
    [grace] = links_in(smtp, "grace@example.com")
    url = local(stack, grace)

    odd = await http.post(url, data={"choice": "<script>alert(1)</script>"})
    assert odd.status_code == 200
    assert "Please pick one of the choices below." in page_text(odd)
    assert "<script>" not in odd.text
    huge = await http.post(url, content=b"choice=wait&" + b"x" * 5000)
    assert huge.status_code == 413
    assert await order_choices(stack) == []


async def test_each_link_is_rate_limited(
    stack: Stack, smtp: FakeSMTPServer, http: httpx.AsyncClient
) -> None:
    await emailed(stack, smtp)
    grace_url, ada_url = (
        local(stack, links_in(smtp, "grace@example.com")[0]),
        local(stack, links_in(smtp, "ada@example.com")[0]),
    )
    statuses = [(await http.get(grace_url)).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    refused = await http.post(grace_url, data={"choice": "cancel"})
    assert refused.status_code == 429
    assert "Too many tries with this link." in page_text(refused)
    assert (await http.get(ada_url)).status_code == 200  # other links are not held back
    assert await order_choices(stack) == []


async def test_without_public_url_emails_have_no_links(
    stack: Stack, smtp: FakeSMTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Same shop, no [web] table: the notice reads as before, and no page is served.
    text = stack.config_path.read_text(encoding="utf-8").replace(
        f'public_url = "{PUBLIC_URL}/"', ""
    )
    stack.config_path.write_text(text, encoding="utf-8")
    monkeypatch.delenv("STOCKBOT_LINK_SECRET")
    settings = load_settings(stack.config_path)
    runtime = await Runtime.start(settings, per_channel_interval=0)
    plain = Stack(tmp_path, stack.config_path, settings, runtime, stack.slack)
    try:
        message, alert_id = await stockout_with_waiting_customers(plain)
        sender = await plain.serve_http()
        view = await click_email_customers(plain, sender, message, alert_id)
        await submit(sender, view)
        await thread_texts(plain, message, 1)
        [mail] = smtp.messages_to("grace@example.com")
        assert "/choice/" not in mail.text and "Tell us here" not in mail.text
        async with httpx.AsyncClient() as client:
            response = await client.get(plain.extra["base_url"] + "/choice/anything")
        assert response.status_code == 404
    finally:
        await plain.close()


# -- cancelling in the store -----------------------------------------------------------------


async def store_order_waiting(
    stack: Stack, smtp: FakeSMTPServer, store: str, address: str, customers: int = 1
) -> tuple[dict[str, Any], str]:
    """MUG-1 out of stock; the store's orders (of `customers` customers) wait for it and
    are emailed. Returns the alert message and the link of the customer at `address`."""
    await stack.import_catalog(CATALOG)
    write_acme_feed(stack)
    await stack.poll("Acme")
    await stack.runtime.poll_store_orders(store)
    await stack.deliver()
    message = stack.only_alert()
    sender = await stack.serve_http()
    [alert] = await product_alerts(stack)
    alert_id = alert.id
    view = await click_email_customers(stack, sender, message, alert_id)
    await submit(sender, view)
    await said(stack, message, f"Emailed {customers} customer")
    [link] = links_in(smtp, address)
    return message, local(stack, link)


async def ana_waits_in_shopify(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify
) -> tuple[dict[str, Any], str, str]:
    """Ana Silva's Shopify order waits for MUG-1 and she is emailed. Returns the alert
    message, her link and the order's number."""
    shop.orders.append(
        shopify_order(1001, ("MUG-1", 1), email="ana@example.com", first="Ana", last="Silva")
    )
    message, url = await store_order_waiting(stack, smtp, SHOP, "ana@example.com")
    return message, url, str(shop.orders[0]["id"])


async def ana_wants_to_cancel(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """`ana_waits_in_shopify`, and she asks to cancel on her link. Returns what it
    does, and the alert message once it offers staff to cancel in Shopify."""
    message, url, number = await ana_waits_in_shopify(stack, smtp, shop)
    await http.post(url, data={"choice": "cancel"})
    shown = await stack.updated_alert(f"Cancel order {number} in Shopify")
    return message, url, number, shown


def cancel_button(message: dict[str, Any]) -> dict[str, Any]:
    return next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == ActionId.CANCEL_ORDER
    )


async def test_cancel_choice_gets_a_confirmed_button_that_cancels_in_shopify_once(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, url, number = await ana_waits_in_shopify(stack, smtp, shop)

    await http.post(url, data={"choice": "cancel"})
    thread = await said(stack, message, "wants to cancel")
    assert thread[-1] == (
        f"Ana Silva, order {number}, wants to cancel. "
        "Cancel it with the alert's *Cancel order* button."
    )
    shown = await stack.updated_alert(f"Cancel order {number} in Shopify")
    button = cancel_button(shown)
    assert button["text"]["text"] == f"Cancel order {number} in Shopify"
    assert button["confirm"]["title"]["text"] == f"Cancel order {number}?"
    assert "refunds the customer" in button["confirm"]["text"]["text"]
    assert button["confirm"]["confirm"]["text"] == "Cancel order"

    # Alice and Bob confirm at the same moment; then Alice once more.
    answers = await asyncio.gather(
        stack.click(ActionId.CANCEL_ORDER, shown, "U0ALICE", value=button["value"]),
        stack.click(ActionId.CANCEL_ORDER, shown, "U0BOB", value=button["value"]),
    )
    done = f"Order {number} is cancelled in Shopify, as its customer asked."
    texts = sorted(answer["text"] for answer in answers)
    assert done in texts
    [other] = [text for text in texts if text != done]
    assert other in (
        f"Order {number} is already cancelled.",
        f"Order {number} is being cancelled already: the alert's thread will say how it went.",
    )
    late = await stack.click(ActionId.CANCEL_ORDER, shown, "U0ALICE", value=button["value"])
    assert late["text"] == f"Order {number} is already cancelled."
    assert shop.cancelled == [f"gid://shopify/Order/{number}"]
    [call] = [
        r
        for r in shop.requests_for("/admin/api/2025-01/graphql.json")
        if "orderCancel(" in r.body["query"]
    ]
    assert call.body["variables"]["reason"] == "CUSTOMER"
    assert call.body["variables"]["refund"] is True

    thread = await said(stack, message, "cancelled order")
    [cancelled] = [text for text in thread if "cancelled order" in text]
    assert cancelled.endswith(f" cancelled order {number} in Shopify (Ana Silva asked to cancel).")
    # The order is closed: the customer's link is dead, the alert has no button left.
    assert (await http.get(url)).status_code == 404
    await stack.deliver()
    assert "cancel_order_in_store" not in json.dumps(stack.only_alert()["blocks"])


async def test_cancel_in_woocommerce_puts_the_cancelled_status_and_a_refusal_is_said(
    stack: Stack, smtp: FakeSMTPServer, woo: woocommerce.FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    raw = woocommerce.order(1001, ("MUG-1", 1), email="bo@example.com")
    raw["billing"].update(first_name="<b>Bo</b>", last_name="<!here>")
    woo.orders.append(raw)
    number = str(raw["id"])
    message, url = await store_order_waiting(stack, smtp, WOO, "bo@example.com")

    # Outside text is inert on the page (HTML) and in Slack (mrkdwn).
    assert "Hello &lt;b&gt;Bo&lt;/b&gt;," in (await http.get(url)).text
    await http.post(url, data={"choice": "cancel"})
    thread = await said(stack, message, "wants to cancel")
    assert thread[-1].startswith(f"&lt;b&gt;Bo&lt;/b&gt; &lt;!here&gt;, order {number}, wants")

    shown = await stack.updated_alert(f"Cancel order {number} in WooCommerce")
    button = cancel_button(shown)
    woo.script(
        woocommerce.ORDER_UPDATES,
        woocommerce.wc_error(400, "woocommerce_rest_cannot_edit", "Sorry, you cannot edit it."),
    )
    refused = await stack.click(ActionId.CANCEL_ORDER, shown, "U0ALICE", value=button["value"])
    assert refused["text"].startswith(f"WooCommerce did not cancel order {number}: ")
    assert "Sorry, you cannot edit it." in refused["text"]
    await said(stack, message, "did not cancel")
    # Still waiting for staff: the button stays and says the last try failed.
    shown = await stack.updated_alert("last try failed")
    button = cancel_button(shown)

    answer = await stack.click(ActionId.CANCEL_ORDER, shown, "U0ALICE", value=button["value"])
    assert answer["text"] == f"Order {number} is cancelled in WooCommerce, as its customer asked."
    puts = woo.requests_for(f"/wp-json/wc/v3/orders/{number}", "PUT")
    assert [put.body for put in puts] == [{"status": "cancelled"}] * 2
    assert woo.orders[0]["status"] == "cancelled"


async def test_a_cancel_cut_short_by_a_stopped_bot_is_offered_again(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, _, number, shown = await ana_wants_to_cancel(stack, smtp, shop, http)
    value = cancel_button(shown)["value"]

    # This bot is calling Shopify about it right now: nobody else may, nothing is released.
    await arrange_cancel_claimed(stack, number, stack.runtime.heartbeat.membership.id)
    assert await stack.runtime.choices.release_interrupted_cancels() == 0
    busy = await stack.click(ActionId.CANCEL_ORDER, shown, "U0BOB", value=value)
    assert busy["text"] == (
        f"Order {number} is being cancelled already: the alert's thread will say how it went."
    )
    assert shop.cancelled == []

    # The bot that claimed it was killed before it called Shopify (or before it heard back).
    await arrange_cancel_claimed(stack, number, "gone-host:4242:deadbeef")
    assert await stack.runtime.choices.release_interrupted_cancels() == 1
    assert await stack.runtime.choices.release_interrupted_cancels() == 0  # said once
    thread = await said(stack, message, "was interrupted")
    assert thread[-1] == (
        f"Cancelling order {number} in Shopify was interrupted (Stockbot stopped). Use the "
        "*Cancel order* button again: Stockbot first checks in Shopify whether it went through."
    )
    shown = await stack.updated_alert("last try failed: interrupted")
    answer = await stack.click(
        ActionId.CANCEL_ORDER, shown, "U0BOB", value=cancel_button(shown)["value"]
    )
    assert answer["text"] == f"Order {number} is cancelled in Shopify, as its customer asked."
    assert shop.cancelled == [f"gid://shopify/Order/{number}"]


async def test_a_retried_cancel_that_reached_shopify_before_the_bot_stopped_is_done(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, url, number, _ = await ana_wants_to_cancel(stack, smtp, shop, http)
    # A bot claimed the cancel and called Shopify, which cancelled the order; the bot was
    # killed before it heard back.
    await arrange_cancel_claimed(stack, number, "gone-host:4242:deadbeef")
    await stack.runtime.stores[SHOP].cancel_order(number)
    assert await stack.runtime.choices.release_interrupted_cancels() == 1
    shown = await stack.updated_alert("last try failed: interrupted")

    answer = await stack.click(
        ActionId.CANCEL_ORDER, shown, "U0BOB", value=cancel_button(shown)["value"]
    )
    assert answer["text"] == (
        f"Order {number} is cancelled in Shopify, as its customer asked "
        "(it already was: nothing was done twice)."
    )
    # Shopify was asked whether it is cancelled, not asked to cancel it again.
    assert shop.cancelled == [f"gid://shopify/Order/{number}"]
    assert shop.operations().count("CancelOrder") == 1
    thread = await said(stack, message, "was already cancelled")
    assert thread[-1] == (
        f"Order {number} was already cancelled in Shopify when <@U0BOB> went to cancel it "
        "(Ana Silva asked to cancel). It is marked cancelled here too."
    )
    assert (await order_rows(stack))[number].status == "cancelled"
    assert (await http.get(url)).status_code == 404
    await stack.deliver()
    assert "cancel_order_in_store" not in json.dumps(stack.only_alert()["blocks"])


async def test_shopify_refusing_an_order_already_cancelled_there_is_taken_as_done(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, _, number, shown = await ana_wants_to_cancel(stack, smtp, shop, http)
    # Someone cancelled it in Shopify's admin before Stockbot's next look at the orders.
    shop.orders[0]["cancelled_at"] = "2026-11-22T09:00:00-05:00"

    answer = await stack.click(
        ActionId.CANCEL_ORDER, shown, "U0ALICE", value=cancel_button(shown)["value"]
    )
    assert answer["text"].startswith(f"Order {number} is cancelled in Shopify, as its customer")
    assert shop.cancelled == []  # Shopify refused: "Order has already been cancelled"
    await said(stack, message, f"Order {number} was already cancelled in Shopify")
    assert (await order_rows(stack))[number].status == "cancelled"
    assert "did not cancel" not in json.dumps(stack.slack.thread_replies("C0ALERTS", message["ts"]))


async def test_a_retried_cancel_that_reached_woocommerce_is_not_put_again(
    stack: Stack, smtp: FakeSMTPServer, woo: woocommerce.FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    raw = woocommerce.order(1001, ("MUG-1", 1), email="bo@example.com")
    woo.orders.append(raw)
    number = str(raw["id"])
    message, url = await store_order_waiting(stack, smtp, WOO, "bo@example.com")
    await http.post(url, data={"choice": "cancel"})
    await stack.updated_alert(f"Cancel order {number} in WooCommerce")
    await arrange_cancel_claimed(stack, number, "gone-host:4242:deadbeef")
    await stack.runtime.stores[WOO].cancel_order(number)  # it went through; the bot died
    assert await stack.runtime.choices.release_interrupted_cancels() == 1
    shown = await stack.updated_alert("last try failed: interrupted")

    answer = await stack.click(
        ActionId.CANCEL_ORDER, shown, "U0ALICE", value=cancel_button(shown)["value"]
    )
    assert answer["text"].startswith(f"Order {number} is cancelled in WooCommerce")
    assert len(woo.requests_for(f"/wp-json/wc/v3/orders/{number}", "PUT")) == 1
    assert len(woo.requests_for(f"/wp-json/wc/v3/orders/{number}", "GET")) == 1
    await said(stack, message, f"Order {number} was already cancelled in WooCommerce")
    assert (await order_rows(stack))[number].status == "cancelled"
