"""Store order webhooks as the stores send them (signed, over HTTP), and what they left behind."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import load_settings
from bot.db.models import Alert, AlertState, OrderStatus
from bot.errors import ConfigError
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.helpers import CATALOG_HEADER, CONFIG, Stack
from tests.loopback import TLS
from tests.probes import backorder_alert, order_rows

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,0,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,0,2.00",
]

# As Shopify sends it: the REST order object.
SHOPIFY_ORDER: dict[str, Any] = {
    "id": 820982911946154508,
    "name": "#1001",
    "email": "jon@example.com",
    "created_at": "2024-05-01T10:15:00-04:00",
    "cancelled_at": None,
    "fulfillment_status": None,
    "customer": {"id": 115310627314723954, "first_name": "Jon", "last_name": "Snow"},
    "shipping_address": {"name": "Jon Snow (shipping)"},
    "line_items": [
        {"id": 1, "sku": "MUG-1", "quantity": 3, "fulfillable_quantity": 3, "title": "Mug"},
        {"id": 2, "sku": "CAP-2", "quantity": 1, "fulfillable_quantity": 1, "title": "Cap"},
        {"id": 3, "sku": "GIFT-CARD", "quantity": 1, "title": "Gift card"},
        {"id": 4, "sku": "", "quantity": 1, "title": "Custom engraving"},
    ],
}
# As WooCommerce sends it: the REST v3 order resource.
WOOCOMMERCE_ORDER: dict[str, Any] = {
    "id": 727,
    "number": "727",
    "status": "processing",
    "currency": "EUR",
    "date_created": "2026-11-21T09:30:00",
    "date_created_gmt": "2026-11-21T08:30:00",
    "date_modified_gmt": "2026-11-21T08:30:05",
    "billing": {"first_name": "Bo", "last_name": "Berg", "email": "bo@example.com"},
    "shipping": {"first_name": "Bo", "last_name": "Berg"},
    "line_items": [
        {"id": 1, "product_id": 50, "variation_id": 0, "sku": "MUG-1", "quantity": 3},
        {"id": 2, "product_id": 51, "variation_id": 0, "sku": "CAP-2", "quantity": 1},
        {"id": 3, "product_id": 52, "variation_id": 0, "sku": "GIFT-CARD", "quantity": 1},
        {"id": 4, "product_id": 53, "variation_id": 0, "sku": "", "quantity": 1},
    ],
}


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(body)), as both stores sign their webhooks."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def assert_signature_checked(verify: Callable[[bytes, str, str], bool], body: bytes) -> None:
    """`verify(body, signature, secret)` takes the store's signature of `body` and nothing
    else: not another body's, another secret's, an empty or an unreadable signature."""
    secret = "webhook-secret"
    good = sign(body, secret)
    assert verify(body, good, secret)
    assert not verify(body + b" ", good, secret)
    assert not verify(body, good, "another-secret")
    assert not verify(body, "", secret)
    assert not verify(body, "not base64 ü", secret)


@dataclass(frozen=True, slots=True)
class StoreHooks:
    """One store's order webhook: where it posts, its secret and its headers."""

    path: str
    secret_env: str
    secret: str
    topic: str  # the topic sent when a test names none
    order: dict[str, Any]  # a typical order body
    signature_header: str
    headers: Callable[[str, str], dict[str, str]]  # (topic, delivery id) -> headers
    origin_header: str  # which shop sent it: Shopify's domain, WooCommerce's site URL

    async def deliver(
        self,
        stack: Stack,
        payload: dict[str, Any],
        *,
        topic: str | None = None,
        delivery_id: str | None = None,
        signature: str | None = "valid",
        origin: str | None = None,
    ) -> httpx.Response:
        """POST as the store does: the raw JSON body, signed, with its topic and delivery id;
        `origin` replaces the shop domain (Shopify) or site URL (WooCommerce) it names."""
        body = json.dumps(payload).encode()
        headers = self.headers(topic or self.topic, delivery_id or uuid.uuid4().hex)
        if origin is not None:
            headers[self.origin_header] = origin
        if signature is not None:
            given = sign(body, self.secret) if signature == "valid" else signature
            headers[self.signature_header] = given
        return await post(stack, self.path, body, headers)


def _shopify_headers(topic: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "stockbot-test.myshopify.com",
        "X-Shopify-API-Version": "2024-04",
        "X-Shopify-Webhook-Id": delivery_id,
    }


def _woocommerce_headers(topic: str, delivery_id: str) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "12",
        # The name WooCommerce core sends (class-wc-webhook.php, deliver()).
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


SHOPIFY = StoreHooks(
    path="/webhooks/shopify/orders",
    secret_env="SHOPIFY_WEBHOOK_SECRET",
    secret="shpss_test_webhook_secret",
    topic="orders/create",
    order=SHOPIFY_ORDER,
    signature_header="X-Shopify-Hmac-Sha256",
    headers=_shopify_headers,
    origin_header="X-Shopify-Shop-Domain",
)
WOOCOMMERCE = StoreHooks(
    path="/webhooks/woocommerce/orders",
    secret_env="WOOCOMMERCE_WEBHOOK_SECRET",
    secret="wc_test_webhook_secret",
    topic="order.created",
    order=WOOCOMMERCE_ORDER,
    signature_header="X-WC-Webhook-Signature",
    headers=_woocommerce_headers,
    origin_header="X-WC-Webhook-Source",
)


def set_secret(monkeypatch: pytest.MonkeyPatch, hooks: StoreHooks, secret: str | None) -> None:
    """Before the `stack` fixture loads the settings: None leaves the webhook unconfigured."""
    if secret is None:
        monkeypatch.delenv(hooks.secret_env, raising=False)
    else:
        monkeypatch.setenv(hooks.secret_env, secret)


# The stores' API credentials in the tests that run stores (`store_env`, `shop`).
TOKEN = "shpat_test_store_token"
WC_KEY, WC_SECRET = "ck_test_store", "cs_test_store"


def store_credentials(
    monkeypatch: pytest.MonkeyPatch,
    token: str = TOKEN,
    wc_key: str = WC_KEY,
    wc_secret: str = WC_SECRET,
) -> None:
    """Both stores' API credentials and both webhook secrets, set before the `stack`
    fixture loads the config (which checks the variables)."""
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", token)
    monkeypatch.setenv("WC_CONSUMER_KEY", wc_key)
    monkeypatch.setenv("WC_CONSUMER_SECRET", wc_secret)
    set_secret(monkeypatch, SHOPIFY, SHOPIFY.secret)
    set_secret(monkeypatch, WOOCOMMERCE, WOOCOMMERCE.secret)


# Store tables in tests fail at once and are not paced: no test waits on a retry or a pace.
UNPACED: dict[str, object] = {"max_attempts": 1, "requests_per_second": 50}


def store_table(name: str, kind: str, settings: dict[str, object]) -> str:
    """One `[[stores]]` TOML table; each setting written as TOML reads it (JSON's
    strings, numbers, booleans and lists are TOML's too)."""
    lines = ["[[stores]]", f"name = {json.dumps(name)}", f"kind = {json.dumps(kind)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n" + "\n".join(lines) + "\n"


def shopify_store(name: str, shop: FakeShopify, **settings: object) -> str:
    """A Shopify store table for `shop`: SHOPIFY_ADMIN_TOKEN, location 4242, unpaced."""
    base = {"shop_url": shop.shop_url, "token_env": "SHOPIFY_ADMIN_TOKEN", "location_id": 4242}
    return store_table(name, "shopify", base | UNPACED | settings)


def woocommerce_store(name: str, woo: FakeWooCommerce, **settings: object) -> str:
    """A WooCommerce store table for `woo`: WC_CONSUMER_KEY/_SECRET, unpaced."""
    base = {
        "site_url": woo.site_url,
        "consumer_key_env": "WC_CONSUMER_KEY",
        "consumer_secret_env": "WC_CONSUMER_SECRET",
    }
    return store_table(name, "woocommerce", base | UNPACED | settings)


@asynccontextmanager
async def shop_selling_the_catalog(token: str) -> AsyncIterator[FakeShopify]:
    """A fake Shopify with a variant for each catalog SKU."""
    async with FakeShopify(token=token) as server:
        server.add_variant("MUG-1")
        server.add_variant("CAP-2")
        yield server


# Fixtures (conftest.py registers this module as a plugin): a test module that runs stores
# says `pytestmark = pytest.mark.usefixtures("store_env")` and takes `shop` where needed.


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`store_credentials`, set before the `stack` fixture loads the config (which checks
    the variables): name it in `usefixtures`, which comes before the test's arguments."""
    store_credentials(monkeypatch)


@pytest.fixture
async def shop() -> AsyncIterator[FakeShopify]:
    """A fake Shopify selling the catalog (TOKEN), unless a test module defines `shop`."""
    async with shop_selling_the_catalog(TOKEN) as server:
        yield server


@pytest.fixture
async def woo() -> AsyncIterator[FakeWooCommerce]:
    """A fake WooCommerce (WC_KEY, WC_SECRET), unless a test module defines `woo`."""
    async with FakeWooCommerce(key=WC_KEY, secret=WC_SECRET) as server:
        yield server


def store_config_problems(tmp_path: Path, stores: str) -> list[str]:
    """The problems `load_settings` reports for the test config plus `stores` (TOML)."""
    path = tmp_path / "stockbot.toml"
    path.write_text(CONFIG.format(group_over=10) + stores, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    return error.value.problems


async def post(stack: Stack, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    # A deadline for a stuck server, not a measure: a delivery may wait its turn for
    # the write lock behind polls on a loaded machine.
    async with httpx.AsyncClient(timeout=60, verify=TLS) as client:
        response = await client.post(stack.extra["base_url"] + path, content=body, headers=headers)
    await stack.deliver()  # after the worker, if it was quicker: nothing is posted twice
    return response


async def ready(stack: Stack, mugs: int = 1) -> None:
    """The catalog, `mugs` blue mugs and 50 caps in stock, and the web server up."""
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": mugs, "A-CAP": 50})
    await stack.poll("Acme")
    await stack.serve_http()


async def assert_backorder_posted(stack: Stack, units: int) -> None:
    """The backorder alert waits for `units` and the delivery worker posted it."""
    alert = await backorder_alert(stack)
    assert alert is not None and alert.details["units"] == units
    assert alert.slack_ts is not None  # posted by the delivery worker
    message = stack.slack.message("C0ALERTS", alert.slack_ts)
    assert message is not None and f"{units} unit" in json.dumps(message["blocks"])


async def assert_created_with_a_backorder(
    stack: Stack, hooks: StoreHooks, order_id: str, placed: tuple[str, str, str, datetime]
) -> None:
    """`hooks`' typical order (3 mugs, a cap, a gift card, a SKU-less line) delivered with
    one mug in stock: created, open, as `placed` says (source, customer, email, ordered
    at), the lines not in the catalog ignored, 2 mugs backordered and posted."""
    await ready(stack, mugs=1)
    response = await hooks.deliver(stack, hooks.order, delivery_id="d-1")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "created"
    lines = [("CAP-2", 1, 0), ("MUG-1", 3, 2)]
    assert await order_rows(stack) == {order_id: (*placed, OrderStatus.OPEN, lines)}
    await assert_backorder_posted(stack, units=2)


async def assert_backorder_resolved(stack: Stack) -> Alert:
    """The mugs' backorder alert is resolved, and its message says so."""
    alert = await backorder_alert(stack)
    assert alert is not None and alert.state == AlertState.RESOLVED
    message = stack.slack.message("C0ALERTS", alert.slack_ts or "")
    assert message is not None
    assert message["text"] == "✅ MUG-1 no open order waits for it any more"
    return alert


async def assert_redelivery_changes_nothing(
    stack: Stack, hooks: StoreHooks, again: dict[str, Any]
) -> None:
    """The typical order delivered, then `again` under the same delivery id: a duplicate,
    leaving the orders and the Slack posts as they were."""
    await ready(stack)
    first = await hooks.deliver(stack, hooks.order, delivery_id="delivery-1")
    assert first.json()["result"] == "created"
    before = await order_rows(stack)
    posts = len(stack.slack.calls_to("chat.postMessage"))
    response = await hooks.deliver(stack, again, delivery_id="delivery-1")
    assert response.status_code == 200
    assert response.json()["result"] == "duplicate"
    assert await order_rows(stack) == before
    assert len(stack.slack.calls_to("chat.postMessage")) == posts


async def closed_status(
    stack: Stack, hooks: StoreHooks, payload: dict[str, Any], topic: str
) -> OrderStatus:
    """The typical order delivered, then `payload` on `topic` closing it: its status."""
    await ready(stack)
    await hooks.deliver(stack, hooks.order)
    response = await hooks.deliver(stack, payload, topic=topic)
    assert response.json()["result"] == "closed"
    [(*_, status, _lines)] = (await order_rows(stack)).values()
    return status
