"""Several `stockbot run` on one database: each alert is posted once, whoever posts it.

Real processes against the fake Slack: PostgreSQL shares the work between any number of
bots (and a killed one's work is taken over); SQLite serves one bot, and a second says so.
These run on SQLite, and on PostgreSQL under scripts/test-postgres.sh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import db
from bot.config import normalise_database_url
from tests import probes
from tests.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, run_cli, set_slack_env

pytestmark = pytest.mark.database

CONFIG = """
[slack]
alert_channel = "#stock-alerts"
api_timeout = "2s"

[replicas]
takeover_after = "2s"

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "feeds/acme.csv"
poll_interval = "1s"
"""
CATALOG = [CATALOG_HEADER, "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00", "CAP-2,Red cap,Acme,A-CAP,1,5,2.0"]
ORDERS = [
    "order_id,customer_name,customer_email,sku,quantity,ordered_at",
    "1001,Ada Lovelace,ada@example.com,MUG-1,2,2026-11-20T09:15:00Z",
]


def write_feed(workdir: Path, mugs: int) -> None:
    (workdir / "feeds" / "acme.csv").write_text(f"sku,quantity\nA-MUG,{mugs}\nA-CAP,50\n")


@pytest.fixture
def bot_config() -> str:
    return CONFIG


@pytest.fixture
def order_rows() -> list[str]:
    return ORDERS


@pytest.fixture
def workdir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackAPI,
    database_url: str | None,
    bot_config: str,
    order_rows: list[str],
) -> Path:
    (tmp_path / "stockbot.toml").write_text(bot_config)
    (tmp_path / "feeds").mkdir()
    write_feed(tmp_path, 50)
    (tmp_path / "catalog.csv").write_text("\n".join(CATALOG) + "\n")
    (tmp_path / "orders.csv").write_text("\n".join(order_rows) + "\n")
    monkeypatch.setenv("STOCKBOT_CONFIG", str(tmp_path / "stockbot.toml"))
    set_slack_env(monkeypatch, slack_api, database_url)
    assert run_cli("catalog", "import", str(tmp_path / "catalog.csv")).returncode == 0
    assert run_cli("orders", "import", str(tmp_path / "orders.csv")).returncode == 0
    return tmp_path


@pytest.fixture
async def engine(workdir: Path, database_url: str | None) -> AsyncIterator[AsyncEngine]:
    url = database_url or f"sqlite:///{workdir / 'stockbot.db'}"
    engine = db.create_engine(normalise_database_url(url))
    yield engine
    await engine.dispose()


@pytest.fixture
def bots(workdir: Path) -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.stop()


async def eventually(check: Callable[[], object], within: float = 30) -> None:
    """Wait until `check()` (sync or async) is true; the test fails at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {within}s: {check}")
        await asyncio.sleep(0.1)


async def all_delivered(engine: AsyncEngine, count: int) -> bool:
    found = await probes.alerts(engine)
    return len(found) == count and all(a.slack_ts and not a.needs_sync for a in found)


def top_level_posts(slack: FakeSlackAPI) -> list[str]:
    """The ts of every alert message chat.postMessage created (thread replies aside)."""
    return [
        str(call.response["ts"])
        for call in slack.calls_to("chat.postMessage", ok=True)
        if not call.params.get("thread_ts")
    ]


def start(workdir: Path, bots: list[BotProcess], name: str) -> BotProcess:
    bot = BotProcess(workdir, name)
    bots.append(bot)
    return bot


async def test_two_bots_post_every_alert_once(
    workdir: Path,
    engine: AsyncEngine,
    bots: list[BotProcess],
    slack_api: FakeSlackAPI,
    database_url: str | None,
) -> None:
    write_feed(workdir, 0)  # the mug runs out, and an order waits for it
    first, second = start(workdir, bots, "first"), start(workdir, bots, "second")
    if database_url is None:
        # SQLite serves one bot process: whichever started second says so and stops.
        codes = await asyncio.to_thread(_first_exit, first, second)
        assert codes != 0
        refused = first if first.process.poll() is not None else second
        assert "SQLite serves one bot process" in refused.output
        assert "PostgreSQL" in refused.output
        running = second if refused is first else first
        running.wait_ready()
    else:
        first.wait_ready()
        second.wait_ready()
    # A stockout with an order waiting: one product problem, one alert, one message.
    await eventually(lambda: all_delivered(engine, 1))
    await asyncio.sleep(3)  # several more polls and delivery rounds on every bot
    posts = top_level_posts(slack_api)
    assert sorted(posts) == sorted(a.slack_ts for a in await probes.alerts(engine)), posts
    assert len(slack_api.messages(ALERT_CHANNEL_ID)) == 1


def _first_exit(first: BotProcess, second: BotProcess) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for bot in (first, second):
            if bot.process.poll() is not None:
                return bot.process.returncode
        time.sleep(0.05)
    raise AssertionError("both bots kept running on one SQLite file")


async def test_post_in_flight_when_a_bot_is_killed_is_not_posted_again(
    workdir: Path,
    engine: AsyncEngine,
    bots: list[BotProcess],
    slack_api: FakeSlackAPI,
    database_url: str | None,
) -> None:
    """SIGKILL while chat.postMessage is in flight: Slack got it, the bot never heard.
    On PostgreSQL a second bot takes over; on SQLite the bot is started again."""
    first = start(workdir, bots, "first")
    first.wait_ready()
    second = start(workdir, bots, "second") if database_url else None
    if second is not None:
        second.wait_ready()
    slack_api.block("chat.postMessage")
    write_feed(workdir, 3)  # low stock: one alert
    await asyncio.to_thread(slack_api.wait_for_blocked)
    # Whichever bot posts is killed (on SQLite there is only one).
    poster = first if second is None or await _posting(engine, first) else second
    poster.kill()
    slack_api.release()  # Slack carries out the post nobody will hear about
    survivor = second if poster is first else first
    if survivor is None or survivor is poster:
        survivor = start(workdir, bots, "restarted")
        survivor.wait_ready()

    await eventually(lambda: all_delivered(engine, 1))
    # The survivor polls the killed bot's supplier too: the restock resolves the alert.
    write_feed(workdir, 50)
    await eventually(
        lambda: slack_api.messages(ALERT_CHANNEL_ID)[0]["text"].startswith("✅ MUG-1 back in stock")
    )
    assert len(slack_api.messages(ALERT_CHANNEL_ID)) == 1
    assert len(top_level_posts(slack_api)) == 1


async def _posting(engine: AsyncEngine, bot: BotProcess) -> bool:
    """Is `bot` (a process id in its replica name) the one with the alert claimed?"""
    [alert] = await probes.alerts(engine)
    return bool(alert.claimed_by and f":{bot.process.pid}:" in alert.claimed_by)


async def test_answer_after_the_timeout_is_not_posted_again(
    workdir: Path, engine: AsyncEngine, bots: list[BotProcess], slack_api: FakeSlackAPI
) -> None:
    """Slack posts the message but answers after the client gave up (api_timeout 2 s)."""
    slack_api.answer_late("chat.postMessage", 4)
    bot = start(workdir, bots, "bot")
    bot.wait_ready()
    write_feed(workdir, 3)
    await eventually(lambda: all_delivered(engine, 1))
    await asyncio.sleep(5)  # the late answer arrives, nobody listening; more rounds pass
    assert len(slack_api.messages(ALERT_CHANNEL_ID)) == 1
    assert len(top_level_posts(slack_api)) == 1
    assert slack_api.calls_to("conversations.history")  # looked before posting again
