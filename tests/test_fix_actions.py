"""Switch supplier, undo, substitute: from alert buttons and slash commands, over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.alert_menu import open_substitute_modal, substitute_suggestions
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack
from tests.probes import active_supplier_sku, arrange_offer_stock, audit_actions, substitutes

ALLOWED = "U0ALICE"
STRANGER = "U0MALLORY"
CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "MUG-1,Blue mug,Beta,B-MUG,2,5,4.40",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
    "CAP-3,Green cap,Beta,B-CAP3,1,3,2.00",
]


@pytest.fixture
def extra_config() -> str:
    return f'\n[access]\nallowed_users = ["{ALLOWED}"]\n'


def element(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


async def out_of_stock_mug(stack: Stack, beta_stock: int = 40) -> dict[str, Any]:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Beta", {"B-MUG": beta_stock, "B-CAP3": 9})
    await stack.poll("Beta")
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    return stack.only_alert()


async def last_response(stack: Stack, rid: str) -> str:
    await stack.slack.wait_for_async(f"response_url/{rid}")
    return str(stack.slack.responses(rid)[-1]["text"])


async def switch_audits(stack: Stack) -> int:
    return (await audit_actions(stack)).count("switch_supplier")


async def test_switch_button_switches_once_and_resolves(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    await stack.serve_http()
    button = element(message, "switch_supplier")
    assert button["text"]["text"] == "Switch to Beta (40 in stock, same price)"

    answer = await stack.click("switch_supplier", message, ALLOWED)
    assert answer["text"] == "Switched MUG-1 to Beta (40 in stock)."
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    assert await active_supplier_sku(stack, "MUG-1") == "B-MUG"
    updated = await stack.updated_alert("switched to Beta")
    assert updated["ts"] == message["ts"]
    assert updated["text"] == "✅ MUG-1 switched to Beta by <@U0ALICE>"
    notes = [r["text"] for r in stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])]
    assert notes == ["Switched from Acme to Beta by <@U0ALICE> (chosen in Slack)."]

    # Double click and a Slack retry: no second switch.
    for retry in (None, 1):
        again = await stack.click("switch_supplier", message, ALLOWED, retry_num=retry)
        assert again["text"] == "MUG-1 already gets its stock from Beta."
    assert await switch_audits(stack) == 1


async def test_switch_to_a_supplier_without_stock_is_refused(stack: Stack) -> None:
    await out_of_stock_mug(stack, beta_stock=0)
    await stack.serve_http()
    answer = await stack.command("/switch-supplier", "MUG-1 beta", ALLOWED)
    assert answer["text"] == (
        "Beta has no stock of MUG-1 (0 in stock), so nothing was changed. "
        "Pick a supplier with stock."
    )
    assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"
    assert await switch_audits(stack) == 0

    nobody = await stack.command("/switch-supplier", "MUG-1 Gamma", ALLOWED)
    assert nobody["text"].startswith("Gamma has no offer for MUG-1")


async def test_switch_command_works_like_the_button(stack: Stack) -> None:
    await out_of_stock_mug(stack)
    await stack.serve_http()
    answer = await stack.command("/switch-supplier", "mug-1 Beta", ALLOWED)
    assert answer["text"] == "Switched MUG-1 to Beta (40 in stock)."
    assert await active_supplier_sku(stack, "MUG-1") == "B-MUG"


async def test_people_not_listed_cannot_act(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    sender = await stack.serve_http()
    for action in ("switch_supplier", "acknowledge_alert"):
        answer = await stack.click(action, message, STRANGER)
        assert answer["text"].startswith("Sorry, you are not allowed to do that in Stockbot")
    assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"
    # Looking stays open to everyone.
    stock_url = stack.slack.response_url("stranger-stock")
    await sender.slash_command("/stock", "MUG-1", user_id=STRANGER, response_url=stock_url)
    assert "Blue mug" in await last_response(stack, "stranger-stock")


async def test_substitute_from_the_alert_modal(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    sender = await stack.serve_http()
    view = await open_substitute_modal(stack, message, ALLOWED)
    assert view["callback_id"] == "substitute_product_modal"

    # Slack asks for the choices as the person types.
    assert await substitute_suggestions(stack, view, ALLOWED, "cap") == [
        "CAP-3 · Green cap · 9 in stock · $9.99",
        "CAP-2 · Red cap · 50 in stock · $9.99",
    ]

    response = await sender.view_submission(
        "substitute_product_modal",
        values={
            "substitute_pick": {
                "substitute_pick": {
                    "type": "external_select",
                    "selected_option": {"value": "CAP-3"},
                }
            },
            "substitute_note": {
                "substitute_note": {"type": "plain_text_input", "value": "Same size"}
            },
        },
        private_metadata=view["private_metadata"],
        user_id=ALLOWED,
    )
    assert response.status_code == 200
    await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
    )
    updated = await stack.updated_alert("Substitute offered")
    assert "Substitute offered: `CAP-3` Green cap" in json.dumps(updated["blocks"])
    assert await substitutes(stack) == [("Same size", ALLOWED)]


async def test_substitute_out_of_stock_is_refused_in_the_modal(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    sender = await stack.serve_http()
    # A message posted before the menu still has its button: it still works.
    await sender.block_action(
        "substitute_product",
        value=element(message, "acknowledge_alert")["value"],
        user_id=ALLOWED,
        channel_id=ALERT_CHANNEL_ID,
        message=message,
    )
    view = (await stack.slack.wait_for_async("views.open")).params["view"]
    stack.write_feed("Beta", {"B-MUG": 40, "B-CAP3": 0})
    await stack.poll("Beta")
    response = await sender.view_submission(
        "substitute_product_modal",
        values={"substitute_pick": {"substitute_pick": {"selected_option": {"value": "CAP-3"}}}},
        private_metadata=view["private_metadata"],
        user_id=ALLOWED,
    )
    assert response.json()["response_action"] == "errors"
    assert "not in stock either" in response.json()["errors"]["substitute_pick"]


async def test_substitute_command(stack: Stack) -> None:
    await out_of_stock_mug(stack)
    await stack.serve_http()
    answer = await stack.command("/substitute", "MUG-1 CAP-2", ALLOWED)
    assert answer["text"] == (
        "CAP-2 Red cap is now offered instead of MUG-1 to the 0 waiting order(s)."
    )
    usage = await stack.command("/substitute", "MUG-1", ALLOWED)
    assert usage["text"].startswith("Usage: `/substitute SKU SUBSTITUTE_SKU`")


class TestAutomaticSwitch:
    @pytest.fixture
    def extra_config(self) -> str:
        return (
            f'\n[access]\nallowed_users = ["{ALLOWED}"]\n'
            "\n[auto_switch]\nenabled = true\nmax_price_increase_percent = 10\n"
        )

    async def test_switches_by_itself_and_can_be_undone(self, stack: Stack) -> None:
        message = await out_of_stock_mug(stack)
        assert await active_supplier_sku(stack, "MUG-1") == "B-MUG"
        message = stack.only_alert()
        assert message["text"] == "✅ MUG-1 switched to Beta automatically"
        notes = [r["text"] for r in stack.slack.thread_replies(ALERT_CHANNEL_ID, message["ts"])]
        assert notes[-1].startswith("Switched from Acme to Beta automatically")
        undo = element(message, "undo_switch")

        await stack.serve_http()
        answer = await stack.click("undo_switch", message, ALLOWED, value=undo["value"])
        assert answer["text"] == "Switch undone: MUG-1 is back on Acme."
        assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"
        assert await audit_actions(stack) == ["auto_switch", "undo_switch"]

    async def test_does_not_switch_beyond_the_price_limit(self, stack: Stack) -> None:
        await stack.import_catalog(CATALOG)
        stack.write_feed("Beta", {"B-MUG": 40})
        await stack.poll("Beta")
        # Beta now costs 20.00 against Acme's 9.99: far over +10%.
        (stack.tmp_path / "feeds" / "beta.csv").write_text("sku,quantity,price\nB-MUG,40,20.00\n")
        await stack.poll("Beta")
        stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
        await stack.poll("Acme")
        assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"


class TestUserGroupAccess:
    @pytest.fixture
    def extra_config(self) -> str:
        return '\n[access]\nallowed_usergroups = ["S0OPS"]\n'

    async def test_members_of_an_allowed_group_may_act(self, stack: Stack) -> None:
        stack.slack.set_usergroup("S0OPS", ["U0BOB"])
        message = await out_of_stock_mug(stack)
        await stack.serve_http()
        outsider = await stack.click("switch_supplier", message, STRANGER)
        assert outsider["text"].startswith("Sorry, you are not allowed")
        member = await stack.click("switch_supplier", message, "U0BOB")
        assert member["text"] == "Switched MUG-1 to Beta (40 in stock)."
        assert stack.slack.calls_to("usergroups.users.list")


async def test_pick_another_in_stock_supplier_from_the_menu(stack: Stack) -> None:
    await stack.import_catalog([*CATALOG, "MUG-1,Blue mug,Gamma,G-MUG,3,5,5.00"])
    stack.write_feed("Beta", {"B-MUG": 40, "B-CAP3": 9})
    await stack.poll("Beta")
    # Gamma has no feed here: as if a poll had found 7 in stock.
    await arrange_offer_stock(stack, "G-MUG", quantity=7, availability="in_stock")
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 50})
    await stack.poll("Acme")
    message = stack.only_alert()
    assert element(message, "switch_supplier")["text"]["text"].startswith("Switch to Beta")
    menu = element(message, "switch_supplier_pick")  # the other in-stock suppliers
    assert [o["text"]["text"] for o in menu["options"]] == ["Gamma · 7 · $5.00"]

    await arrange_offer_stock(stack, "G-MUG", quantity=0)  # ran out since the message was drawn
    await stack.serve_http()
    answer = await stack.click(
        "switch_supplier_pick", message, ALLOWED, selected_option_value=menu["options"][0]["value"]
    )
    assert answer["text"].startswith("Gamma has no stock of MUG-1")
    assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"
