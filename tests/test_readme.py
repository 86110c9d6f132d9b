"""The README's set-up steps work as written: in the order a newcomer needs them, naming
every slash command and every address Slack needs in HTTP mode."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.app import EVENTS_PATH

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
MANIFEST = yaml.safe_load((ROOT / "app_manifest.yml").read_text())


def section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    end = re.compile(r"\n#{1,3} ").search(README, start + len(title) + 2)
    return README[start : end.start() if end else None]


def test_the_config_file_is_made_before_it_is_used() -> None:
    made = README.index("cp examples/stockbot.toml stockbot.toml")
    assert README.index("--config stockbot.toml") > made
    imported = README.index("--config stockbot.toml catalog import")
    assert README.index("--config stockbot.toml run") > imported


def test_every_slash_command_is_listed() -> None:
    commands = section("## Commands")
    for command in MANIFEST["features"]["slash_commands"]:
        assert f"`{command['command']}" in commands, command["command"]


def test_http_mode_names_every_address_slack_needs() -> None:
    http = section("### HTTP mode instead of Socket Mode")
    address = f"https://YOUR-HOST{EVENTS_PATH}"
    for key in ("url", "request_url", "message_menu_options_url"):
        assert re.search(rf"\b{key}: {re.escape(address)}", http), key
    assert "socket_mode_enabled: false" in http
    assert "SLACK_SIGNING_SECRET" in http
    # The manifest's own note says the same.
    header = (ROOT / "app_manifest.yml").read_text().split("_metadata:")[0]
    for key in ("`url`", "request_url", "message_menu_options_url", address):
        assert key in header, key
