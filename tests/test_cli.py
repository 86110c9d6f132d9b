"""The `stockbot` command as a user runs it: real processes, real HTTP, local fakes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from bot.db import alembic_config
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import SlackRequestSender
from tests.fakes.supplier_server import FakeSupplierServer, server_error
from tests.helpers import (
    ALERT_CHANNEL_ID,
    BOT_TOKEN,
    CATALOG_HEADER,
    SIGNING_SECRET,
    run_cli,
    write_catalog,
)

CONFIG = """
[slack]
alert_channel = "#stock-alerts"

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "{url}"
poll_interval = "1h"
"""

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]


@pytest.fixture
def feeds() -> Iterator[FakeSupplierServer]:
    with FakeSupplierServer() as server:
        server.set_feed("/acme.csv", b"sku;qty;price\nA-MUG;2;4,10\nA-CAP;40;2,00\nbad;-3;1\n")
        yield server


@pytest.fixture
def workdir(tmp_path: Path, feeds: FakeSupplierServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "stockbot.toml").write_text(CONFIG.format(url=feeds.url("/acme.csv")))
    write_catalog(tmp_path, CATALOG)
    monkeypatch.setenv("STOCKBOT_CONFIG", str(tmp_path / "stockbot.toml"))
    assert run_cli("catalog", "import", str(tmp_path / "catalog.csv")).returncode == 0
    return tmp_path


def test_poll_once_without_slack_prints_alerts_and_summary(workdir: Path) -> None:
    result = run_cli("poll", "--once")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Slack is not configured" in out
    assert "ALERT ⚠️ Low stock: Blue mug (MUG-1) at Acme: 2 (threshold 5)" in out
    assert "Poll summary" in out
    # rows read 2, changed 2, set aside 1 (the negative quantity), opened 1
    assert "│ Acme     │         2 │       2 │         1 │      1 │" in out
    assert 'set aside line 4: SKU "bad": negative quantity "-3"' in out

    again = run_cli("poll", "--once")
    assert "unchanged (304)" in again.stdout
    assert "ALERT" not in again.stdout  # the alert is not repeated


def test_poll_once_reports_a_failing_supplier(workdir: Path, feeds: FakeSupplierServer) -> None:
    feeds.script("/acme.csv", *[server_error(503)] * 4)
    result = run_cli("poll", "--once")
    assert result.returncode == 1
    assert "failed" in result.stdout
    assert "503" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_poll_once_posts_to_slack(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        result = run_cli("poll", "--once")
        assert result.returncode == 0, result.stdout + result.stderr
        [message] = slack.messages(ALERT_CHANNEL_ID)
        assert message["text"].startswith("⚠️ Low stock: Blue mug (MUG-1) at Acme: 2")
        assert slack.warnings == []


def test_db_upgrade(workdir: Path) -> None:
    result = run_cli("db", "upgrade")
    assert result.returncode == 0
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"Database is at revision {head}." in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_http_serves_slack_and_health(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.1)
            # The scheduler polls at start-up and the alert reaches Slack.
            slack.wait_for("chat.postMessage", timeout=20)
            sender = SlackRequestSender(base, SIGNING_SECRET, slack_api=slack)
            answer = sender.slash_command("/stock", "MUG-1")
            assert answer.status_code == 200
            # Acked at once; the answer follows through the response URL.
            slack.wait_for(lambda call: call.method.startswith("response_url/"), timeout=20)
            assert "Blue mug" in slack.responses()[-1]["text"]
            assert sender.slash_command("/stock", "MUG-1", bad_signature=True).status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        assert "Traceback" not in output
        assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_run_with_slack_but_no_app_token_explains(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    result = run_cli("run")
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN: required for Socket Mode (or use --http)" in result.stdout
