"""Notes in the store (`[[stores]] write_order_notes`): what a store order's customer
was told and chose is written on the order, once, by one bot; a note that keeps
failing is said in the product's thread, and never holds up an email.

Real parts: signed Slack requests over HTTP, the fake Slack Web API, the database,
an SMTP server on loopback, a real HTTP client on the choice page, and the fake
Shopify and WooCommerce servers, which check the GraphQL and REST shapes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.core.fixes.customer_notices import NoticeKind
from bot.db.types import utcnow
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.scheduler import build_scheduler
from tests import test_choice_links as choice_tests
from tests.fakes import woocommerce_server as woocommerce
from tests.fakes.api_server import Reply
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.shopify_server import order as shopify_order
from tests.fakes.smtp_server import FakeSMTPServer
from tests.helpers import CONFIG, Stack
from tests.probes import (
    arrange_store_notes_claimed,
    arrange_store_notes_due,
    arrange_store_notes_queued_at,
    arrange_substitute,
    product_alerts,
    product_id,
    store_notes,
)
from tests.test_choice_links import ana_waits_in_shopify, said, store_order_waiting
from tests.test_customer_follow_ups import write_mug_feed
from tests.test_notify_customers import (
    click_email_customers,
    stockout_with_waiting_customers,
    submit,
)

TOKEN = "shpat_notes_token"
WC_KEY, WC_SECRET = "ck_notes", "cs_notes"
SHOP = "Mug Shop"
WOO = "Mug Woo"
GRAPHQL = "/admin/api/2025-01/graphql.json"


# The shop of the choice-link tests: SMTP, fake Shopify and WooCommerce (the shared
# `smtp`, `shop` and `woo` fixtures), both stores.
http, config_path = choice_tests.http, choice_tests.config_path


@pytest.fixture
def store_extra() -> str:
    """Both stores take notes (`config_path` of tests.test_choice_links reads this)."""
    return "write_order_notes = true"


def note_lines(shop: FakeShopify, number: str) -> list[str]:
    return shop.notes.get(f"gid://shopify/Order/{number}", "").splitlines()


def note_calls(shop: FakeShopify) -> int:
    """Shopify calls that wrote tags or a note."""
    return sum(1 for name in shop.operations() if name in ("AddOrderTags", "UpdateOrderNote"))


async def test_a_shopify_order_gets_what_its_customer_was_told_and_chose_once(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, url, number = await ana_waits_in_shopify(stack, smtp, shop)
    gid = f"gid://shopify/Order/{number}"
    # The email went out before anything was written to the store.
    assert len(smtp.messages_to("ana@example.com")) == 1
    assert note_calls(shop) == 0

    report = await stack.runtime.write_store_notes()
    assert (report.written, report.failed) == (1, 0)
    assert shop.tags[gid] == ["stockbot-backordered"]
    [told] = note_lines(shop, number)
    assert told.startswith("Stockbot, ") and told.endswith(
        " UTC: emailed the customer that Blue ceramic mug (MUG-1) is delayed, expected "
        "back around 14 July 2031."
    )

    [alert] = await product_alerts(stack)
    await arrange_substitute(stack, "MUG-1", "MUG-2", alert.id, chosen_by="U0ALICE")
    await http.post(url, data={"choice": "substitute"})
    await said(stack, message, "chose the substitute")
    await stack.runtime.write_store_notes()
    assert shop.tags[gid] == ["stockbot-backordered", "stockbot-substitute-accepted"]
    assert note_lines(shop, number)[1].endswith(
        " UTC: the customer chose the substitute Green ceramic mug (MUG-2) instead of "
        "Blue ceramic mug (MUG-1)."
    )

    # The supplier moves the date; the customer changes their mind and is told.
    await http.post(url, data={"choice": "wait"})
    write_mug_feed(stack, 0, "2031-08-01")
    await stack.poll("Acme")
    mug = await product_id(stack, "MUG-1")
    alert_id = alert.id
    await stack.runtime.notifier.send(alert_id, mug, "New date.", "U0BOB", NoticeKind.DATE_UPDATE)
    await stack.runtime.write_store_notes()
    # Her earlier choice's tag is taken off: the tags say what she chose last.
    assert shop.tags[gid] == [
        "stockbot-backordered",
        "stockbot-will-wait",
        "stockbot-date-updated",
    ]
    lines = note_lines(shop, number)
    assert len(lines) == 4
    assert lines[2].endswith(" UTC: the customer chose to wait for Blue ceramic mug (MUG-1).")
    assert lines[3].endswith(
        " UTC: emailed the customer a new date for Blue ceramic mug (MUG-1): around 1 August 2031."
    )

    # Stock is back and the customer is told: the last note.
    write_mug_feed(stack, 50, "")
    await stack.poll("Acme")
    await stack.runtime.notifier.send(
        alert_id, mug, "On its way.", "U0BOB", NoticeKind.BACK_IN_STOCK
    )
    await stack.runtime.write_store_notes()
    assert shop.tags[gid][-1] == "stockbot-back-in-stock"
    assert note_lines(shop, number)[-1].endswith(
        " UTC: emailed the customer that Blue ceramic mug (MUG-1) is back in stock and the "
        "order is on its way."
    )

    # Written once: nothing is due any more.
    calls = note_calls(shop)
    assert (await stack.runtime.write_store_notes()).written == 0
    assert note_calls(shop) == calls
    assert {(n.state, n.attempts) for n in await store_notes(stack)} == {("written", 1)}


def tag_changes(shop: FakeShopify) -> list[dict[str, object]]:
    """The variables of each request that removed tags (with the tags it added)."""
    return [
        r.body["variables"] for r in shop.requests_for(GRAPHQL) if "tagsRemove(" in r.body["query"]
    ]


async def test_a_customer_changing_their_mind_changes_the_shopify_tag(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, url, number = await ana_waits_in_shopify(stack, smtp, shop)
    gid = f"gid://shopify/Order/{number}"
    await http.post(url, data={"choice": "cancel"})
    await said(stack, message, "wants to cancel")
    await stack.runtime.write_store_notes()
    assert shop.tags[gid] == ["stockbot-backordered", "stockbot-wants-cancel"]

    await http.post(url, data={"choice": "wait"})
    await said(stack, message, "changed their mind: will wait")
    assert (await stack.runtime.write_store_notes()).written == 1
    assert shop.tags[gid] == ["stockbot-backordered", "stockbot-will-wait"]
    # One request takes the old choice's tags off and puts the new one on.
    assert tag_changes(shop)[-1] == {
        "id": gid,
        "add": ["stockbot-will-wait"],
        "remove": ["stockbot-substitute-accepted", "stockbot-wants-cancel"],
    }
    lines = note_lines(shop, number)
    assert lines[1].endswith(
        " UTC: the customer asked to cancel the order (it waits for Blue ceramic mug (MUG-1))."
    )
    assert lines[2].endswith(" UTC: the customer chose to wait for Blue ceramic mug (MUG-1).")


async def test_the_last_choice_keeps_its_tag_whatever_order_the_notes_are_written_in(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    message, url, number = await ana_waits_in_shopify(stack, smtp, shop)
    gid = f"gid://shopify/Order/{number}"
    await stack.runtime.write_store_notes()  # the delay notice's note
    # The note of her cancel fails (Shopify is down) and waits for its next try...
    await http.post(url, data={"choice": "cancel"})
    await said(stack, message, "wants to cancel")
    shop.script(GRAPHQL, Reply(503))
    assert (await stack.runtime.write_store_notes()).failed == 1
    # ...while she changes her mind: that note is written first.
    await http.post(url, data={"choice": "wait"})
    await said(stack, message, "changed their mind: will wait")
    assert (await stack.runtime.write_store_notes()).written == 1
    await arrange_store_notes_due(stack)
    assert (await stack.runtime.write_store_notes()).written == 1
    assert shop.tags[gid] == ["stockbot-backordered", "stockbot-will-wait"]
    assert len(note_lines(shop, number)) == 3


async def test_the_schedule_writes_notes_and_frees_interrupted_cancels_every_minute(
    stack: Stack,
) -> None:
    jobs = {job.id: job for job in build_scheduler(stack.runtime).get_jobs()}
    for name in ("store_notes", "interrupted_cancels"):
        assert jobs[name].trigger.interval == timedelta(minutes=1)
        assert jobs[name].max_instances == 1


async def test_imported_orders_and_stores_without_the_option_get_no_notes(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify
) -> None:
    # Imported (CSV) orders: no store to write in.
    message, alert_id = await stockout_with_waiting_customers(stack)
    sender = await stack.serve_http()
    view = await click_email_customers(stack, sender, message, alert_id)
    await submit(sender, view)
    await said(stack, message, "Emailed 2 customers")
    assert await store_notes(stack) == []
    assert (await stack.runtime.write_store_notes()).written == 0
    assert shop.operations() == []


@pytest.mark.parametrize("store_extra", [""])
async def test_write_order_notes_is_off_unless_asked(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify, http: httpx.AsyncClient
) -> None:
    _, url, _ = await ana_waits_in_shopify(stack, smtp, shop)
    await http.post(url, data={"choice": "cancel"})
    assert await store_notes(stack) == []
    await stack.runtime.write_store_notes()
    assert note_calls(shop) == 0
    assert "store_notes" not in {job.id for job in build_scheduler(stack.runtime).get_jobs()}


async def test_a_woocommerce_order_gets_private_notes_retried_until_written(
    stack: Stack, smtp: FakeSMTPServer, woo: woocommerce.FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    raw = woocommerce.order(1001, ("MUG-1", 1), email="bo@example.com")
    woo.orders.append(raw)
    number = raw["id"]
    # WooCommerce is down when the email goes out: the email does not wait for it.
    woo.script(woocommerce.NOTES, Reply(503))
    message, url = await store_order_waiting(stack, smtp, WOO, "bo@example.com")
    assert len(smtp.messages_to("bo@example.com")) == 1

    report = await stack.runtime.write_store_notes()
    assert (report.written, report.failed) == (0, 1)
    [note] = await store_notes(stack)
    assert (note.state, note.attempts) == ("pending", 1)
    assert woo.notes.get(number, []) == []
    assert (await stack.runtime.write_store_notes()).failed == 0  # waits before retrying

    await arrange_store_notes_due(stack)
    assert (await stack.runtime.write_store_notes()).written == 1
    [written] = woo.notes[number]
    assert written["customer_note"] is False  # private: WooCommerce does not email it
    assert (
        " UTC: emailed the customer that Blue ceramic mug (MUG-1) is delayed" in (written["note"])
    )
    posts = woo.requests_for(f"/wp-json/wc/v3/orders/{number}/notes", "POST")
    assert [post.body for post in posts] == [{"note": written["note"], "customer_note": False}]

    await http.post(url, data={"choice": "cancel"})
    await said(stack, message, "wants to cancel")
    await stack.runtime.write_store_notes()
    assert woo.notes[number][-1]["note"].endswith(
        " UTC: the customer asked to cancel the order (it waits for Blue ceramic mug (MUG-1))."
    )


async def test_a_note_that_keeps_failing_is_said_once_in_the_products_thread(
    stack: Stack, smtp: FakeSMTPServer, woo: woocommerce.FakeWooCommerce
) -> None:
    raw = woocommerce.order(1001, ("MUG-1", 1), email="bo@example.com")
    woo.orders.append(raw)
    number = raw["id"]
    woo.script(woocommerce.NOTES, *[Reply(503)] * 5)
    message, _ = await store_order_waiting(stack, smtp, WOO, "bo@example.com")

    for attempt in range(1, 5):
        assert (await stack.runtime.write_store_notes()).failed == 1
        await arrange_store_notes_due(stack)
        [note] = await store_notes(stack)
        assert (note.state, note.attempts) == ("pending", attempt)
    report = await stack.runtime.write_store_notes()
    assert (report.failed, report.given_up) == (1, 1)
    [note] = await store_notes(stack)
    assert (note.state, note.attempts) == ("failed", 5)
    thread = await said(stack, message, "could not write its note")
    assert thread[-1] == (
        f"Stockbot could not write its note on order {number} in {WOO} (WooCommerce "
        "answered 503 Service Unavailable once) and has stopped trying. The note said: "
        "“emailed the customer that Blue ceramic mug (MUG-1) is delayed, expected back "
        "around 14 July 2031.” Add it to the order by hand if support needs it."
    )
    await arrange_store_notes_due(stack)
    assert (await stack.runtime.write_store_notes()).failed == 0  # given up: said once
    await stack.deliver()
    assert sum("could not write" in t for t in await said(stack, message, "could not")) == 1


async def test_a_note_still_failing_after_an_hour_is_given_up_on(
    stack: Stack, smtp: FakeSMTPServer, woo: woocommerce.FakeWooCommerce
) -> None:
    raw = woocommerce.order(1001, ("MUG-1", 1), email="bo@example.com")
    woo.orders.append(raw)
    woo.script(woocommerce.NOTES, Reply(503))
    message, _ = await store_order_waiting(stack, smtp, WOO, "bo@example.com")
    await arrange_store_notes_queued_at(stack, utcnow() - timedelta(hours=1, minutes=1))
    assert (await stack.runtime.write_store_notes()).given_up == 1
    await said(stack, message, "could not write its note")


async def test_two_bots_write_each_note_once_and_take_over_a_killed_ones(
    stack: Stack, smtp: FakeSMTPServer, shop: FakeShopify
) -> None:
    for n, name in enumerate(("Ana", "Bea", "Cy"), start=1):
        shop.orders.append(
            shopify_order(1000 + n, ("MUG-1", 1), email=f"{name.lower()}@example.com", first=name)
        )
    await store_order_waiting(stack, smtp, SHOP, "ana@example.com", customers=3)
    assert len(await store_notes(stack)) == 3
    # A bot killed while it wrote them: its claims are free once it stops beating.
    await arrange_store_notes_claimed(stack, "gone-host:4242:deadbeef")

    other = await Runtime.start(load_settings(stack.config_path), per_channel_interval=0)
    try:
        reports = await asyncio.gather(stack.runtime.write_store_notes(), other.write_store_notes())
    finally:
        await other.close()
    assert sum(r.written for r in reports) == 3
    assert [name for name in shop.operations() if name == "AddOrderTags"] == ["AddOrderTags"] * 3
    assert [name for name in shop.operations() if name == "UpdateOrderNote"] == [
        "UpdateOrderNote"
    ] * 3
    for raw in shop.orders:
        assert len(note_lines(shop, str(raw["id"]))) == 1


def test_write_order_notes_must_be_true_or_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", TOKEN)
    (tmp_path / "feeds").mkdir()
    path = tmp_path / "stockbot.toml"
    path.write_text(
        CONFIG.format(group_over=10)
        + f"""
[[stores]]
name = "{SHOP}"
kind = "shopify"
shop_url = "https://mug-shop.myshopify.com"
token_env = "SHOPIFY_ADMIN_TOKEN"
location_id = 4242
write_order_notes = "yes"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert any(p.startswith("stores[0].write_order_notes: ") for p in raised.value.problems)
    path.write_text(path.read_text().replace('"yes"', "true"), encoding="utf-8")
    assert load_settings(path).stores[0].write_order_notes is True
    path.write_text(path.read_text().replace("write_order_notes = true", ""), encoding="utf-8")
    assert load_settings(path).stores[0].write_order_notes is False
