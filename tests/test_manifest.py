"""app_manifest.yml is all the Slack-side set-up: it must be a manifest Slack accepts, match
what the app handles, and ask for exactly the scopes the code needs."""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from jsonschema import Draft7Validator
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.ids import Command
from tests.helpers import Stack

ROOT = Path(__file__).parents[1]
MANIFEST = yaml.safe_load((ROOT / "app_manifest.yml").read_text())
# The keys Stockbot uses and the limits Slack's manifest reference gives for them
# (tests/manifest_schema.json says where they come from).
SCHEMA = json.loads((ROOT / "tests" / "manifest_schema.json").read_text())

# The bot-token scopes each Web API method needs, from its page in Slack's method reference
# (docs.slack.dev/reference/methods/<method>). Methods on conversations take the scope of
# the conversation's kind: the alert channel may be public (channels:) or private (groups:).
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.delete": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "conversations.history": frozenset({"channels:history", "groups:history"}),
    "conversations.info": frozenset({"channels:read", "groups:read"}),
    "conversations.list": frozenset({"channels:read", "groups:read"}),
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "reactions.add": frozenset({"reactions:write"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "views.open": frozenset(),
    "views.publish": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
}
# Called with the app-level token (xapp-…), whose scope is chosen when the token is made
# (README, "Connect it to Slack"): not a bot scope, so not in the manifest.
APP_TOKEN_METHODS = {"apps.connections.open": "connections:write"}
# Scopes a method can use beyond its required ones (same reference pages).
OPTIONAL_SCOPES: dict[str, frozenset[str]] = {
    # Posting in a public channel the bot was not invited to.
    "chat.postMessage": frozenset({"chat:write.public"}),
}


def test_manifest_is_valid_by_slacks_documented_rules() -> None:
    assert MANIFEST["_metadata"]["major_version"] == 1
    errors = [
        f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in Draft7Validator(SCHEMA).iter_errors(MANIFEST)
    ]
    assert errors == []


def test_the_schema_would_catch_a_mistake() -> None:
    wrong = json.loads(json.dumps(MANIFEST))
    wrong["settings"]["interactivity"]["options_url"] = "https://example.com/slack/events"
    wrong["features"]["slash_commands"][0]["command"] = "stock"
    messages = [error.message for error in Draft7Validator(SCHEMA).iter_errors(wrong)]
    assert any("options_url" in message for message in messages), messages
    assert any("'stock' does not match" in message for message in messages), messages


def test_manifest_enables_what_the_bot_needs() -> None:
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands"} <= scopes
    # The outbox looks for a post whose outcome it never heard in the channel's history.
    assert {"channels:history", "groups:history"} <= scopes
    assert MANIFEST["features"]["bot_user"]["display_name"] == "Stockbot"


def python_files() -> Iterator[Path]:
    for package in ("bot", "handlers"):
        yield from (ROOT / package).rglob("*.py")


@functools.cache
def web_api_method(client_method: str) -> frozenset[str]:
    """The Web API methods behind one of slack_sdk's client methods (e.g. files_upload_v2
    calls two), read from its source: `self.api_call("chat.postMessage", ...)`."""
    source = inspect.getsource(getattr(AsyncWebClient, client_method))
    called = set(re.findall(r'api_call\(\s*"([a-zA-Z.]+)"', source))
    for inner in re.findall(r"self\.([a-z]+_[A-Za-z0-9_]+)\(", source):
        if inner != client_method and inner in vars(AsyncWebClient):
            called |= web_api_method(inner)
    return frozenset(called)


def methods_called() -> dict[str, set[str]]:
    """Web API method -> the files that call it, found in the code's syntax tree: every use
    of one of AsyncWebClient's methods, `api_call("method")`, and Bolt's `say`."""
    client_methods = {name for name in vars(AsyncWebClient) if not name.startswith("_")}
    found: dict[str, set[str]] = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in client_methods:
                methods = web_api_method(node.attr)
            elif isinstance(node, ast.arg) and node.arg == "say":
                methods = frozenset({"chat.postMessage"})
            elif _is_api_call(node):
                assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Constant)
                methods = frozenset({str(node.args[0].value)})
            else:
                continue
            for method in methods:
                found.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return found


def _is_api_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "api_call"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
    )


def test_the_scan_finds_the_calls_we_know_of() -> None:
    called = methods_called()
    assert {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "usergroups.users.list",
        "apps.connections.open",
    } <= set(called)
    assert web_api_method("files_upload_v2") == {
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    }


def test_scopes_are_exactly_what_the_code_uses() -> None:
    declared = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = methods_called()
    unknown = set(called) - set(METHOD_SCOPES) - set(APP_TOKEN_METHODS)
    assert not unknown, f"add these to METHOD_SCOPES from Slack's reference: {unknown}"

    needed = {"commands"} if MANIFEST["features"].get("slash_commands") else set()
    usable = set(needed)
    for method in set(called) - set(APP_TOKEN_METHODS):
        needed |= METHOD_SCOPES[method]
        usable |= METHOD_SCOPES[method] | OPTIONAL_SCOPES.get(method, frozenset())
    missing = {
        scope: sorted(m for m in called if scope in METHOD_SCOPES.get(m, ()))
        for scope in needed - declared
    }
    assert not missing, f"scopes the code needs but the manifest lacks: {missing}"
    assert declared <= usable, f"scopes nothing uses: {sorted(declared - usable)}"


async def test_every_declared_command_is_answered(stack: Stack) -> None:
    sender = await stack.serve_http()
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert {"/stock", "/backorders", "/switch-supplier", "/substitute", "/notify-customers"} <= set(
        commands
    )
    assert set(commands) == set(Command)  # the listeners register exactly these
    for command in commands:
        # Answered in the ack itself, or right after it through the response URL.
        answer = await stack.command(command, "")
        assert answer["response_type"] == "ephemeral", command
        assert answer["text"], command
    # And a command Slack would never send to us is not silently accepted.
    assert (await sender.slash_command("/not-ours", "")).status_code == 404
