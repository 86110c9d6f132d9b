"""Using an alert message's overflow menu over HTTP, as Slack sends it (after
`stack.serve_http()`): picking an item, the substitute dialog and its suggestions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.helpers import ALERT_CHANNEL_ID, Stack, menu_choice


async def choose(stack: Stack, message: Mapping[str, Any], user_id: str, label: str) -> None:
    """`user_id` picks the item labelled `label` in the message's overflow menu."""
    assert stack.sender is not None
    await stack.sender.block_action(
        "alert_menu",
        user_id=user_id,
        channel_id=ALERT_CHANNEL_ID,
        message=message,
        selected_option_value=menu_choice(message, label),
    )


async def open_substitute_modal(
    stack: Stack, message: Mapping[str, Any], user_id: str
) -> dict[str, Any]:
    """The substitute dialog `user_id` opens from the message's menu."""
    await choose(stack, message, user_id, "Substitute…")
    return dict((await stack.slack.wait_for_async("views.open")).params["view"])


async def substitute_suggestions(
    stack: Stack, view: Mapping[str, Any], user_id: str, typed: str
) -> list[str]:
    """The choices the open substitute dialog offers as `user_id` types `typed`."""
    assert stack.sender is not None
    suggestion = await stack.sender.interactive(
        {
            "type": "block_suggestion",
            "user": {"id": user_id},
            "action_id": "substitute_pick",
            "block_id": "substitute_pick",
            "value": typed,
            "view": {**view, "id": "V1"},
        }
    )
    return [o["text"]["text"] for o in suggestion.json()["options"]]
