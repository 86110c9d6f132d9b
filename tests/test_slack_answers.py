"""The one error path, over HTTP as Slack sends it, against the fake Slack Web API:
stale button values, people not allowed, refusals from services and bugs all reach
the person as one plain ephemeral answer, after the ack, and change nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.db.models import AlertState
from bot.slack.texts import GENERIC_ERROR, NOT_ALLOWED, STALE_BUTTON
from tests.alert_menu import open_substitute_modal
from tests.helpers import ALERT_CHANNEL_ID, Stack, menu_choice
from tests.probes import (
    active_supplier_sku,
    alert_states,
    arrange_broken_table,
    audit_actions,
    substitutes,
)
from tests.test_fix_actions import ALLOWED, STRANGER, element, out_of_stock_mug

SUBSTITUTE_MODAL = "substitute_product_modal"


@pytest.fixture
def extra_config() -> str:
    return f'\n[access]\nallowed_users = ["{ALLOWED}"]\n'


async def nothing_changed(stack: Stack) -> None:
    assert await audit_actions(stack) == []
    assert await substitutes(stack) == []
    assert await alert_states(stack) == [AlertState.OPEN]
    assert await active_supplier_sku(stack, "MUG-1") == "A-MUG"


def is_ephemeral(answer: dict[str, Any], said: str) -> bool:
    return answer["text"] == said and answer["response_type"] == "ephemeral"


async def ephemeral_to(stack: Stack, user: str) -> str:
    call = await stack.slack.wait_for_async(
        lambda c: c.method == "chat.postEphemeral" and c.params.get("user") == user
    )
    assert call.ok, call.response
    assert call.params["channel"] == ALERT_CHANNEL_ID
    return str(call.params["text"])


async def submit_substitute(
    stack: Stack, view: dict[str, Any], sku: str, user: str = ALLOWED
) -> Any:
    assert stack.sender is not None
    return await stack.sender.view_submission(
        SUBSTITUTE_MODAL,
        values={"substitute_pick": {"substitute_pick": {"selected_option": {"value": sku}}}},
        private_metadata=view["private_metadata"],
        user_id=user,
    )


@pytest.mark.parametrize(
    ("action_id", "options"),
    [
        ("acknowledge_alert", {"value": "9" * 23}),
        ("acknowledge_alert", {"value": "not an alert"}),
        ("acknowledge_alert", {"value": " 7"}),
        ("acknowledge_alert", {"value": str(2**31)}),  # more than an ID column holds
        ("switch_supplier", {"value": "1:" + "9" * 23}),
        ("switch_supplier", {"value": "1"}),
        ("switch_supplier_pick", {"selected_option_value": "1:2:3"}),
        ("snooze_alert", {"selected_option_value": "1:5h"}),
        ("alert_menu", {"selected_option_value": "snooze_5h:1"}),
        ("alert_menu", {"selected_option_value": "substitute"}),
        ("undo_switch", {"value": "-4"}),
        ("substitute_product", {"value": "0"}),
        ("notify_customers", {"value": "1_0"}),
    ],
)
async def test_a_garbage_button_value_is_out_of_date(
    stack: Stack, action_id: str, options: dict[str, str]
) -> None:
    message = await out_of_stock_mug(stack)
    await stack.serve_http()
    answer = await stack.click(action_id, message, ALLOWED, **options)
    assert is_ephemeral(answer, STALE_BUTTON)
    assert answer["replace_original"] is False
    assert stack.slack.calls_to("views.open") == []
    await nothing_changed(stack)


async def test_people_not_allowed_are_told_so_and_nothing_changes(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    alert = element(message, "acknowledge_alert")["value"]
    await stack.serve_http()
    clicks: list[tuple[str, dict[str, str]]] = [
        ("acknowledge_alert", {}),
        ("snooze_alert", {"selected_option_value": f"{alert}:4h"}),
        ("switch_supplier", {}),
        ("substitute_product", {"value": alert}),  # the button of messages posted earlier
        ("alert_menu", {"selected_option_value": menu_choice(message, "Substitute…")}),
        ("alert_menu", {"selected_option_value": menu_choice(message, "Snooze 1 hour")}),
        ("notify_customers", {"value": alert}),
    ]
    for action_id, options in clicks:
        answer = await stack.click(action_id, message, STRANGER, **options)
        assert is_ephemeral(answer, NOT_ALLOWED), action_id
    for command, words in [
        ("/switch-supplier", "MUG-1 Beta"),
        ("/substitute", "MUG-1 CAP-3"),
        ("/notify-customers", "MUG-1"),
    ]:
        assert is_ephemeral(await stack.command(command, words, STRANGER), NOT_ALLOWED), command

    # A modal opened by someone allowed, submitted by someone who is not: it closes,
    # and the answer goes to the channel it was opened from.
    view = await open_substitute_modal(stack, message, ALLOWED)
    response = await submit_substitute(stack, view, "CAP-3", user=STRANGER)
    assert response.status_code == 200 and response.text == ""
    assert await ephemeral_to(stack, STRANGER) == NOT_ALLOWED
    assert len(stack.slack.calls_to("views.open")) == 1
    await nothing_changed(stack)


async def test_a_refusal_from_a_service_reaches_the_person_as_its_text(stack: Stack) -> None:
    message = await out_of_stock_mug(stack)
    await stack.serve_http()
    typed = await stack.command("/switch-supplier", "MUG-9 Beta", ALLOWED)
    assert typed["response_type"] == "ephemeral"
    assert typed["text"].startswith("There is no product `MUG-9` in the catalog. Did you mean")
    gone = await stack.click("acknowledge_alert", message, ALLOWED, value=str(2**31 - 1))
    assert is_ephemeral(gone, "That alert no longer exists.")

    # In a modal, a refusal about what was chosen shows on the form, which stays open.
    view = await open_substitute_modal(stack, message, ALLOWED)
    response = await submit_substitute(stack, view, "NOPE-1")
    assert response.json()["response_action"] == "errors"
    assert "NOPE-1" in response.json()["errors"]["substitute_pick"]
    await nothing_changed(stack)


async def test_a_bug_is_logged_and_answered_with_an_apology(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    message = await out_of_stock_mug(stack)
    await stack.serve_http()
    view = await open_substitute_modal(stack, message, ALLOWED)
    await arrange_broken_table(stack, "audit_log")  # every change is audited

    with caplog.at_level(logging.ERROR, logger="bot.slack.answers"):
        answer = await stack.click("acknowledge_alert", message, ALLOWED)
        assert is_ephemeral(answer, GENERIC_ERROR)
        # A modal whose submission fails unexpectedly closes; the apology follows it.
        response = await submit_substitute(stack, view, "CAP-3")
        assert response.status_code == 200 and response.text == ""
        assert await ephemeral_to(stack, ALLOWED) == GENERIC_ERROR
    failures = [r for r in caplog.records if r.getMessage() == "Slack request failed"]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
    assert await alert_states(stack) == [AlertState.OPEN]
