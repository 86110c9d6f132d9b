"""`stockbot run` in Socket Mode, as a real child process against the fake Slack: a refused
app token stops it with a clear message, an unreachable Slack never stops polling, and
SIGTERM or Ctrl-C stop it at any moment, mid-connect included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.socket_mode import FakeSocketModeServer, serving_socket_mode
from tests.fakes.supplier_server import FakeSupplierServer
from tests.helpers import (
    ACME_CONFIG,
    ALERT_CHANNEL_ID,
    BOT_TOKEN,
    CATALOG_HEADER,
    run_cli,
    write_catalog,
)

APP_TOKEN = "xapp-1-A0STOCKBOT-test"
# Bounds for waits on the child, never expected durations: a stuck bot fails the test.
WAIT = 60.0


@pytest.fixture
def feeds() -> Iterator[FakeSupplierServer]:
    with FakeSupplierServer() as server:
        server.set_feed("/acme.csv", b"sku,qty\nA-MUG,0\n")
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    channels = {"stock-alerts": ALERT_CHANNEL_ID}
    with FakeSlackAPI(token=BOT_TOKEN, app_token=APP_TOKEN, channels=channels) as api:
        yield api


@pytest.fixture
def socket_server(slack: FakeSlackAPI) -> Iterator[FakeSocketModeServer]:
    yield from serving_socket_mode(slack)


@pytest.fixture
def workdir(
    tmp_path: Path,
    feeds: FakeSupplierServer,
    slack: FakeSlackAPI,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
) -> Path:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    if database_url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", database_url)
    (tmp_path / "stockbot.toml").write_text(ACME_CONFIG.format(url=feeds.url("/acme.csv")))
    monkeypatch.setenv("STOCKBOT_CONFIG", str(tmp_path / "stockbot.toml"))
    catalog = write_catalog(tmp_path, [CATALOG_HEADER, "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00"])
    assert run_cli("catalog", "import", str(catalog)).returncode == 0
    return tmp_path


class Bot:
    """`python -m bot run` in a child process; its output goes to a file (no pipe to fill)."""

    def __init__(self, workdir: Path) -> None:
        self.log = workdir / "run.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "200"},
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait(self) -> int:
        """The exit code; a bot still running after WAIT seconds fails the test."""
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the bot did not stop within {WAIT}s; output:\n{self.output}")

    def stop(self, signum: signal.Signals) -> int:
        self.process.send_signal(signum)
        return self.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_bot(workdir: Path) -> Iterator[Callable[[], Bot]]:
    bots: list[Bot] = []

    def start() -> Bot:
        bots.append(Bot(workdir))
        return bots[-1]

    yield start
    for bot in bots:
        bot.kill()


def wait_until(condition: Callable[[], bool], what: str, bot: Bot) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if bot.process.poll() is not None:
            pytest.fail(f"the bot exited ({bot.process.returncode}) before {what}:\n{bot.output}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {WAIT}s; output:\n{bot.output}")
        time.sleep(0.05)


def connection_attempts(slack: FakeSlackAPI) -> int:
    return len(slack.calls_to("apps.connections.open"))


@pytest.mark.parametrize(
    ("app_token", "error"),
    [("xapp-1-A0STOCKBOT-revoked", "invalid_auth"), (BOT_TOKEN, "not_allowed_token_type")],
)
def test_a_refused_app_token_stops_the_bot_with_a_clear_message(
    start_bot: Callable[[], Bot],
    socket_server: FakeSocketModeServer,
    monkeypatch: pytest.MonkeyPatch,
    app_token: str,
    error: str,
) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", app_token)
    bot = start_bot()
    assert bot.wait() == 2
    output = bot.output
    assert "SLACK_APP_TOKEN" in output and error in output, output
    assert "Traceback" not in output
    assert app_token not in output and BOT_TOKEN not in output
    assert socket_server.connections == 0


def test_unreachable_slack_never_stops_polling_and_the_socket_connects_later(
    start_bot: Callable[[], Bot],
    slack: FakeSlackAPI,
    socket_server: FakeSocketModeServer,
    feeds: FakeSupplierServer,
) -> None:
    slack.set_unreachable()
    bot = start_bot()
    wait_until(lambda: bool(feeds.requests_for("/acme.csv")), "poll of the feed", bot)
    # Tried again in the background: the client's own retry of a dropped request, then ours.
    wait_until(lambda: connection_attempts(slack) >= 3, "apps.connections.open retries", bot)
    assert socket_server.connections == 0

    slack.set_unreachable(False)
    wait_until(lambda: socket_server.connections == 1, "Socket Mode connection", bot)
    # The alert the poll raised while Slack was away is delivered too.
    wait_until(lambda: bool(slack.calls_to("chat.postMessage", ok=True)), "alert", bot)
    assert bot.stop(signal.SIGTERM) == 0
    assert "Traceback" not in bot.output
    assert APP_TOKEN not in bot.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_bot_while_it_connects(
    start_bot: Callable[[], Bot],
    slack: FakeSlackAPI,
    socket_server: FakeSocketModeServer,
    signum: signal.Signals,
) -> None:
    slack.set_unreachable()
    bot = start_bot()
    wait_until(lambda: connection_attempts(slack) >= 1, "apps.connections.open", bot)
    assert bot.stop(signum) == 0
    assert "Traceback" not in bot.output


def test_sigterm_stops_a_connected_bot(
    start_bot: Callable[[], Bot], socket_server: FakeSocketModeServer
) -> None:
    bot = start_bot()
    wait_until(lambda: socket_server.connections == 1, "Socket Mode connection", bot)
    assert bot.stop(signal.SIGTERM) == 0
    assert "Traceback" not in bot.output
