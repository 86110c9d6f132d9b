"""Several `stockbot run` on one database: each alert is posted once, whoever posts it.

Real processes against the fake Slack: PostgreSQL shares the work between any number of
bots (and a killed one's work is taken over); SQLite serves one bot, and a second says so.
These run on SQLite, and on PostgreSQL under scripts/test-postgres.sh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import db
from bot.config import normalise_database_url
from bot.slack.ids import ActionId
from bot.slack.texts import GENERIC_ERROR
from tests import loopback, probes
from tests.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import AsyncSlackRequestSender
from tests.fakes.supplier_server import FakeSupplierServer, stall
from tests.helpers import (
    ALERT_CHANNEL_ID,
    CATALOG_HEADER,
    SIGNING_SECRET,
    run_cli,
    set_slack_env,
)

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


def two_bots_sharing_postgres(
    workdir: Path, bots: list[BotProcess], database_url: str | None
) -> tuple[BotProcess, BotProcess]:
    """Two `stockbot run --http` on the test's PostgreSQL, up and serving."""
    if database_url is None:
        pytest.skip("SQLite serves one bot process: nobody to share the work with")
    first, second = start(workdir, bots, "first"), start(workdir, bots, "second")
    first.wait_ready()
    second.wait_ready()
    return first, second


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
    deadline = time.monotonic() + 90  # generous: two interpreters start on a loaded machine
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
    # The late answer goes out, nobody listening; then a poll and a delivery round more.
    await eventually(lambda: slack_api.late_answers("chat.postMessage") == 1)
    await asyncio.sleep(1.5)
    assert len(slack_api.messages(ALERT_CHANNEL_ID)) == 1
    assert len(top_level_posts(slack_api)) == 1
    assert slack_api.calls_to("conversations.history")  # looked before posting again


def lease_gauges(bot: BotProcess) -> dict[str, float]:
    """`stockbot_supplier_lease_held` by supplier, as `bot`'s /metrics says it."""
    response = loopback.get(bot.url + "/metrics")
    assert response.status_code == 200
    return {
        sample.labels["supplier"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "stockbot_supplier_lease_held"
    }


async def test_metrics_say_which_bot_holds_which_suppliers_poll(
    workdir: Path, bots: list[BotProcess], database_url: str | None
) -> None:
    """Two bots on PostgreSQL: /metrics on the one polling a supplier says 1 for it,
    the other says 0; when the holder is killed, the other takes the supplier and says 1."""
    with FakeSupplierServer() as feeds:
        feeds.set_feed("/slow.csv", b"sku,quantity\nS-1,5\n")
        # Every poll of Slow hangs, so whoever polls it holds its lease meanwhile.
        feeds.script("/slow.csv", stall(60), stall(60))
        config = CONFIG + SLOW_SUPPLIER.format(url=feeds.url("/slow.csv"))
        (workdir / "stockbot.toml").write_text(config)
        first, second = two_bots_sharing_postgres(workdir, bots, database_url)
        await eventually(lambda: len(feeds.requests_for("/slow.csv")) == 1)
        gauges = {bot: await asyncio.to_thread(lease_gauges, bot) for bot in (first, second)}
        assert sorted(g["Slow"] for g in gauges.values()) == [0, 1], gauges
        # Every configured supplier has its line on every bot; Acme polls every second.
        assert all(set(g) == {"Acme", "Slow"} for g in gauges.values()), gauges
        holder = first if gauges[first]["Slow"] == 1 else second
        other = second if holder is first else first

        holder.kill()
        # takeover_after is 2 s: the other bot polls Slow at its next turn (every 6 s),
        # and holds it.
        await eventually(lambda: len(feeds.requests_for("/slow.csv")) == 2)
        assert (await asyncio.to_thread(lease_gauges, other))["Slow"] == 1


# Polled every 6 s, the holder's stalled poll runs for 6 s: time enough to read both
# bots' /metrics and kill the holder before its own next turn; the other bot's turn
# comes within 6 s after that instead of the 20 s a longer interval would cost.
SLOW_SUPPLIER = """
[[suppliers]]
name = "Slow"
kind = "csv_feed"
url = "{url}"
poll_interval = "6s"
poll_timeout = "6s"
timeout = 60
"""


@contextlib.contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock, as a poll of the running bot does while it commits."""
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def cli_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def has_open(process: subprocess.Popen[str], path: Path) -> bool:
    """Has `process` opened the file at `path` (Linux's /proc)?"""
    fds = Path(f"/proc/{process.pid}/fd")
    with contextlib.suppress(OSError):  # gone, or between listing and reading
        return any(os.readlink(fd) == str(path.resolve()) for fd in fds.iterdir())
    return False


async def test_commands_beside_a_running_sqlite_bot_wait_for_its_write_lock(
    workdir: Path, bots: list[BotProcess], database_url: str | None
) -> None:
    """`catalog import`, `orders import` and `poll --once` beside `stockbot run` on SQLite
    wait while the write lock is taken, then do their work; past `sqlite_lock_wait` a
    command stops with a plain sentence and changes nothing."""
    if database_url is not None:
        pytest.skip("SQLite's write lock; PostgreSQL locks rows, not the database")
    bot = start(workdir, bots, "bot")
    bot.wait_ready()
    database = workdir / "stockbot.db"
    (workdir / "more.csv").write_text(
        "\n".join([*CATALOG, "HAT-3,Green hat,Acme,A-HAT,1,5,3.00"]) + "\n"
    )
    (workdir / "more_orders.csv").write_text(
        "\n".join([*ORDERS, ORDERS[1].replace("1001", "1002")])
    )
    with write_lock_held(database):
        commands = [
            cli_process("catalog", "import", str(workdir / "more.csv")),
            cli_process("orders", "import", str(workdir / "more_orders.csv")),
            cli_process("poll", "--once"),
        ]
        # Each has come as far as the database (not still starting Python), then has
        # had time to try for the lock.
        await eventually(lambda: all(has_open(command, database) for command in commands), 90)
        await asyncio.sleep(1)
        # None could write while the lock was held, and none gave up.
        assert [command.poll() for command in commands] == [None, None, None]
    said = [command.communicate(timeout=120)[0] for command in commands]
    assert [command.returncode for command in commands] == [0, 0, 0], said
    assert "1 product(s) created" in said[0]
    assert "1 order(s) created" in said[1]
    assert "Acme" in said[2]
    assert not any("Traceback" in output for output in said)

    # A command told to wait one second, while the lock stays taken for longer.
    impatient = workdir / "impatient.toml"  # beside stockbot.toml: the same database
    impatient.write_text('sqlite_lock_wait = "1s"\n' + CONFIG)
    (workdir / "most.csv").write_text(
        "\n".join([*CATALOG, "SOCK-4,Red socks,Acme,A-SOCK,1,5,1.00"]) + "\n"
    )
    # In this process (click's runner, in a thread): the real processes above showed
    # the waiting; starting two more interpreters would prove nothing more.
    with write_lock_held(database):
        refused = await asyncio.to_thread(
            run_cli, "--config", str(impatient), "catalog", "import", str(workdir / "most.csv")
        )
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "The database is busy" in output and "sqlite_lock_wait" in output
    assert "Traceback" not in output
    # It changed nothing: the same import, run again, creates the product now.
    again = await asyncio.to_thread(run_cli, "catalog", "import", str(workdir / "most.csv"))
    assert "1 product(s) created" in again.stdout, again
    assert bot.process.poll() is None  # the bot kept running throughout


async def answer_from(
    bot: BotProcess, slack: FakeSlackAPI, rid: str, command: str, text: str = ""
) -> dict[str, object]:
    """Type `command` over HTTP to `bot`; the ephemeral answer from its response URL."""
    sender = AsyncSlackRequestSender(bot.url, SIGNING_SECRET, slack_api=slack)
    response = await sender.slash_command(command, text, response_url=slack.response_url(rid))
    assert response.status_code == 200, response.text
    await slack.wait_for_async(f"response_url/{rid}")
    [answer] = slack.responses(rid)
    return {"text": answer["text"], "blocks": answer.get("blocks")}


async def test_slack_requests_get_the_same_answers_on_any_bot_and_clicks_count_once(
    slack_api: FakeSlackAPI,
    workdir: Path,
    bots: list[BotProcess],
    database_url: str | None,
    engine: AsyncEngine,
) -> None:
    """Behind a load balancer each Slack request lands on either bot: both answer alike,
    and a click on one bot's alert, handled by the other and retried by Slack onto the
    first, acts once."""
    write_feed(workdir, 0)  # the mug runs out, and an order waits for it
    first, second = two_bots_sharing_postgres(workdir, bots, database_url)
    await eventually(lambda: all_delivered(engine, 1))

    for command, text in (("/stock", "MUG-1"), ("/stock", ""), ("/backorders", "")):
        name = command.strip("/") + text
        answers = [
            await answer_from(bot, slack_api, f"{name}-{n}", command, text)
            for n, bot in enumerate((first, second))
        ]
        assert answers[0] == answers[1], (command, text, answers)
        assert "MUG-1" in json.dumps(answers[0]), answers[0]  # a real answer, not an error

    [alert] = slack_api.messages(ALERT_CHANNEL_ID)
    clicks = [
        AsyncSlackRequestSender(bot.url, SIGNING_SECRET, slack_api=slack_api).block_action(
            ActionId.ACKNOWLEDGE,
            user_id="U0ALICE",
            channel_id=ALERT_CHANNEL_ID,
            message=alert,
            response_url=slack_api.response_url(f"ack-{n}", channel=ALERT_CHANNEL_ID),
            **retry,
        )
        for n, (bot, retry) in enumerate(((second, {}), (first, {"retry_num": 1})))
    ]
    # Both at once: the click and Slack's retry of it, on the two bots.
    responses = await asyncio.gather(*clicks)
    assert [r.status_code for r in responses] == [200, 200]

    def acknowledged() -> bool:
        [message] = slack_api.messages(ALERT_CHANNEL_ID)
        return "Acknowledged by <@U0ALICE>" in json.dumps(message["blocks"])

    await eventually(acknowledged)
    await asyncio.sleep(3)  # more delivery rounds on both bots
    [message] = slack_api.messages(ALERT_CHANNEL_ID)
    notes = [r["text"] for r in message["replies"] if "Acknowledged" in r["text"]]
    assert notes == ["Acknowledged by <@U0ALICE>."], notes
    assert all(r.get("text") != GENERIC_ERROR for r in slack_api.responses())
    assert len(top_level_posts(slack_api)) == 1
