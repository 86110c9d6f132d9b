"""app_manifest.yml is all the Slack-side set-up: it must match what the app handles."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import Stack

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "app_manifest.yml").read_text())


def test_manifest_enables_what_the_bot_needs() -> None:
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands"} <= scopes
    # The outbox looks for a post whose outcome it never heard in the channel's history.
    assert {"channels:history", "groups:history"} <= scopes
    assert MANIFEST["features"]["bot_user"]["display_name"] == "Stockbot"


async def test_every_declared_command_is_answered(stack: Stack) -> None:
    sender = await stack.serve_http()
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert {"/stock", "/backorders", "/switch-supplier", "/substitute", "/notify-customers"} <= set(
        commands
    )
    for command in commands:
        rid = stack.slack.response_url(command.strip("/"))
        response = await sender.slash_command(command, "", response_url=rid)
        assert response.status_code == 200, command
        # Answered in the ack itself, or right after it through the response URL.
        if not response.content:
            await stack.slack.wait_for_async(f"response_url/{command.strip('/')}")
            answer = stack.slack.responses(command.strip("/"))[-1]
        else:
            answer = response.json()
        assert answer["response_type"] == "ephemeral", command
        assert answer["text"], command
    # And a command Slack would never send to us is not silently accepted.
    assert (await sender.slash_command("/not-ours", "")).status_code == 404
