"""The `stockbot` command as a user runs it: real HTTP and local fakes, in this process;
`python -m bot` in a real child process for `poll --once` and `run --http`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot import db
from bot.config import normalise_database_url
from tests.bot_process import BotProcess
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import SlackRequestSender
from tests.fakes.supplier_server import FakeSupplierServer, Reply
from tests.helpers import (
    ALERT_CHANNEL_ID,
    BOT_TOKEN,
    CATALOG_HEADER,
    SIGNING_SECRET,
    cli_workdir,
    run_cli,
    run_process,
    write_catalog,
)

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
def workdir(
    tmp_path: Path,
    feeds: FakeSupplierServer,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
) -> Path:
    return cli_workdir(
        tmp_path, monkeypatch, database_url, CATALOG, feed_url=feeds.url("/acme.csv")
    )


# What `stockbot --help` must not import: together they take about a second to load.
HEAVY = (
    "aiohttp",
    "alembic",
    "apscheduler",
    "httpx",
    "pydantic",
    "rich",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
    "bot.config",
    "bot.db",
    "bot.runtime",
)
HEAVY_PACKAGES = tuple(f"{name}." for name in HEAVY)


def test_help_loads_nothing_heavy() -> None:
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "for args in (['--help'], ['poll', '--help'], ['orders', 'import', '--help']):\n"
        "    main(args, prog_name='stockbot', standalone_mode=False)\n"
        f"print([m for m in sys.modules if m in {HEAVY!r} or m.startswith({HEAVY_PACKAGES!r})])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Usage: stockbot poll [OPTIONS]" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


def test_poll_once_without_slack_prints_alerts_and_summary(workdir: Path) -> None:
    result = run_process("poll", "--once")  # the real entry point, once
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Slack is not configured" in out
    assert "ALERT ⚠️ MUG-1 low stock at Acme: 2 left (threshold 5)" in out
    assert "Poll summary" in out
    # rows read 2, changed 2, set aside 1 (the negative quantity), opened 1
    assert "│ Acme     │         2 │       2 │         1 │      1 │" in out
    assert 'set aside line 4: SKU "bad": negative quantity "-3"' in out

    again = run_cli("poll", "--once")
    assert "unchanged (304)" in again.stdout
    assert "ALERT" not in again.stdout  # the alert is not repeated


def test_poll_once_reports_a_failing_supplier(workdir: Path, feeds: FakeSupplierServer) -> None:
    # Overloaded and asking for no wait, so the retries take no time.
    feeds.script("/acme.csv", *[Reply(503, {"Retry-After": "0"}, b"busy")] * 4)
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
        assert message["text"] == "⚠️ MUG-1 low stock at Acme: 2 left (threshold 5)"
        assert slack.warnings == []


def test_db_upgrade(workdir: Path) -> None:
    result = run_cli("db", "upgrade")
    assert result.returncode == 0
    assert f"Database is at revision {head()}." in result.stdout


def test_db_upgrade_brings_an_older_database_to_head(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{workdir / 'old.db'}"
    asyncio.run(migrate(url, "0002"))
    assert "store_inventory" not in asyncio.run(table_names(url))
    monkeypatch.setenv("DATABASE_URL", url)
    result = run_cli("db", "upgrade")
    assert result.returncode == 0, result.stdout
    assert f"Database is at revision {head()}." in result.stdout
    assert "store_inventory" in asyncio.run(table_names(url))


def head() -> str | None:
    return ScriptDirectory.from_config(db.alembic_config()).get_current_head()


async def migrate(url: str, revision: str) -> None:
    engine = db.create_engine(normalise_database_url(url))
    await db.upgrade(engine, revision)
    await engine.dispose()


async def table_names(url: str) -> list[str]:
    engine = db.create_engine(normalise_database_url(url))
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await engine.dispose()
    return names


def test_run_http_serves_slack_and_health(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": ALERT_CHANNEL_ID}) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        bot = BotProcess(workdir, "run")
        try:
            bot.wait_ready()
            # The scheduler polls at start-up and the alert reaches Slack.
            slack.wait_for("chat.postMessage", timeout=20)
            sender = SlackRequestSender(bot.url, SIGNING_SECRET, slack_api=slack)
            answer = sender.slash_command("/stock", "MUG-1")
            assert answer.status_code == 200
            # Acked at once; the answer follows through the response URL.
            slack.wait_for(lambda call: call.method.startswith("response_url/"), timeout=20)
            assert "Blue mug" in slack.responses()[-1]["text"]
            assert sender.slash_command("/stock", "MUG-1", bad_signature=True).status_code == 401
        finally:
            returncode = bot.stop()
        output = bot.output
        assert returncode == 0, output
        assert "Traceback" not in output
        assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_run_with_slack_but_no_app_token_explains(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    result = run_cli("run")
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN: required for Socket Mode (or use --http)" in result.stdout


@pytest.mark.parametrize(
    ("url", "check"),
    [
        # Nothing listens on port 1: refused at once.
        ("postgresql://stockbot:s3cret-pw@127.0.0.1:1/stockbot", "its server is running"),
        # A "folder" that is a file.
        ("sqlite:///{workdir}/stockbot.toml/stock.db", "its folder exists"),
    ],
)
def test_an_unreachable_database_is_one_plain_sentence(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, url: str, check: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url.format(workdir=workdir))
    catalog = str(write_catalog(workdir, CATALOG))
    for command in (["poll", "--once"], ["db", "upgrade"], ["catalog", "import", catalog]):
        result = run_cli(*command)
        said = result.stdout + result.stderr
        assert result.returncode == 1, said
        assert "Database problem: the database" in said
        assert check in said
        assert "s3cret-pw" not in said
        assert "Traceback" not in said


def test_poll_once_says_why_nothing_was_taken_as_missing(
    workdir: Path, feeds: FakeSupplierServer
) -> None:
    assert run_cli("poll", "--once").returncode == 0
    feeds.set_feed("/acme.csv", b"sku;qty;price\nA-MUG;2;4,10\nA-C\xffP;40;2,00\n")
    result = run_cli("poll", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Acme:" in result.stdout and "could not be read" in result.stdout
