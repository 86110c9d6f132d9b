"""What every store's order webhook refuses: missing or wrong signatures, and all of it
while its secret is not set."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import Stack
from tests.probes import deliveries_and_alerts, order_rows
from tests.webhook_helpers import (
    SHOPIFY,
    WOOCOMMERCE,
    StoreHooks,
    ready,
    set_secret,
    sign,
)

# Signed with the right secret, but over another body.
ANOTHER_BODY = "signature of another body"


@pytest.fixture(params=[SHOPIFY, WOOCOMMERCE], ids=["shopify", "woocommerce"])
def hooks(request: pytest.FixtureRequest) -> StoreHooks:
    return request.param


@pytest.fixture
def secret(hooks: StoreHooks) -> str | None:
    return hooks.secret


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, hooks: StoreHooks, secret: str | None) -> None:
    # Autouse fixtures run first, so the `stack` fixture's settings see this.
    for other in (SHOPIFY, WOOCOMMERCE):
        set_secret(monkeypatch, other, None)
    set_secret(monkeypatch, hooks, secret)


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", ANOTHER_BODY])
async def test_bad_or_missing_signature_is_refused(
    stack: Stack, hooks: StoreHooks, signature: str | None
) -> None:
    if signature == ANOTHER_BODY:
        signature = sign(b"{}", hooks.secret)
    await ready(stack)
    response = await hooks.deliver(stack, hooks.order, signature=signature)
    assert response.status_code == 401
    assert await order_rows(stack) == {}
    assert await deliveries_and_alerts(stack) == (0, 0)  # no delivery recorded, no alert


async def test_signed_with_another_secret_is_refused(stack: Stack, hooks: StoreHooks) -> None:
    await ready(stack)
    body = json.dumps(hooks.order).encode()
    response = await hooks.deliver(stack, hooks.order, signature=sign(body, "another-secret"))
    assert response.status_code == 401
    assert await order_rows(stack) == {}


@pytest.mark.parametrize("secret", [None])
async def test_without_a_secret_webhooks_are_refused_clearly(
    stack: Stack, hooks: StoreHooks, caplog: pytest.LogCaptureFixture
) -> None:
    await ready(stack)
    with caplog.at_level(logging.ERROR, logger="bot.web.webhooks"):
        response = await hooks.deliver(stack, hooks.order)
    assert response.status_code == 503
    assert f"{hooks.secret_env} is not set" in response.json()["error"]
    assert any(f"{hooks.secret_env} is not set" in r.getMessage() for r in caplog.records)
    assert await order_rows(stack) == {}


@pytest.mark.parametrize("quantity", [10**20, -5, 2**63])
async def test_absurd_quantities_are_refused_as_unreadable_and_change_nothing(
    stack: Stack, hooks: StoreHooks, quantity: int
) -> None:
    await ready(stack)
    order = json.loads(json.dumps(hooks.order))
    for line in order["line_items"]:
        line["quantity"] = quantity
        if "fulfillable_quantity" in line:
            line["fulfillable_quantity"] = quantity
    response = await hooks.deliver(stack, order)
    # Signed, so it is the store's: 200 (a retry would not read it better), nothing applied.
    assert response.status_code == 200, response.text
    assert (response.json()["result"], response.json()["detail"]) == (
        "ignored",
        "unreadable order",
    )
    assert await order_rows(stack) == {}
