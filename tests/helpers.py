"""A whole Stockbot wired to local fakes: config file, SQLite, fake Slack, feed files;
and the `stockbot` command run as a user types it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from bot.app import create_app, create_web_app
from bot.cli import main
from bot.config import Settings
from bot.core.catalog import ImportReport, import_catalog
from bot.core.polling import PollSummary
from bot.runtime import Runtime
from bot.slack.delivery.charts import ChartReport
from bot.slack.delivery.outbox import DeliveryReport
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import AsyncSlackRequestSender

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
ALERT_CHANNEL_ID = "C0ALERTS"
CATALOG_HEADER = "sku,title,supplier,supplier_sku,priority,low_stock_threshold,price"
_response_ids = itertools.count(1)

CONFIG = """
[slack]
alert_channel = "#stock-alerts"

[rules]
group_alerts_over = {group_over}

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "feeds/acme.csv"
poll_interval = "15m"

[[suppliers]]
name = "Beta"
kind = "csv_feed"
url = "feeds/beta.csv"
poll_interval = "15m"
"""


# One supplier, Acme, polled hourly from `url`: the shop of the command-line tests.
ACME_CONFIG = """
[slack]
alert_channel = "#stock-alerts"

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "{url}"
poll_interval = "1h"
"""


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run the `stockbot` command in this process, as a user would type it.

    An unexpected exception fails the test with its traceback instead of an exit code.
    """
    with _logging_restored():
        result = CliRunner().invoke(
            main, args, prog_name="stockbot", env={"COLUMNS": "200"}, catch_exceptions=False
        )
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `python -m bot` in a child process (the smoke tests' way)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Undo the logger levels a command sets, as the end of its process would."""
    loggers = logging.root.manager.loggerDict
    levels = {name: lg.level for name, lg in loggers.items() if isinstance(lg, logging.Logger)}
    root_level = logging.root.level
    try:
        yield
    finally:
        logging.root.setLevel(root_level)
        for name, logger in list(loggers.items()):
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))


def set_slack_env(
    monkeypatch: pytest.MonkeyPatch, slack_api: FakeSlackAPI, database_url: str | None
) -> None:
    """The environment a bot reads: the fake Slack's tokens and address, and the test's
    database (None: the default SQLite file beside the config)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", slack_api.url)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    if database_url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", database_url)


def cli_workdir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
    catalog: Iterable[str],
    feed_url: str = "feeds/acme.csv",
    extra_config: str = "",
) -> Path:
    """A folder where a shop owner types `stockbot` commands, Slack not set up: Acme's
    config (STOCKBOT_CONFIG) and `catalog` imported, on the test's database."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    if database_url is not None:
        monkeypatch.setenv("DATABASE_URL", database_url)
    config = tmp_path / "stockbot.toml"
    config.write_text(ACME_CONFIG.format(url=feed_url) + extra_config)
    monkeypatch.setenv("STOCKBOT_CONFIG", str(config))
    result = run_cli("catalog", "import", str(write_catalog(tmp_path, catalog)))
    assert result.returncode == 0, result.stdout
    return tmp_path


def write_catalog(directory: Path, rows: Iterable[str], name: str = "catalog.csv") -> Path:
    path = directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def menu_choice(message: Mapping[str, Any], label: str) -> str:
    """The value of the option labelled `label` in an alert message's overflow menu."""
    return next(
        str(option["value"])
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "overflow"
        for option in element["options"]
        if option["text"]["text"] == label
    )


@dataclass
class Stack:
    tmp_path: Path
    config_path: Path
    settings: Settings
    runtime: Runtime
    slack: FakeSlackAPI
    _server: web.AppRunner | None = None
    sender: AsyncSlackRequestSender | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def write_feed(self, supplier: str, stock: Mapping[str, int | str | None]) -> None:
        """Write a supplier's CSV feed: supplier SKU -> quantity (None: not in the feed)."""
        lines = ["sku,quantity,price"]
        lines += [f"{sku},{qty},9.99" for sku, qty in stock.items() if qty is not None]
        path = self.tmp_path / "feeds" / f"{supplier.lower()}.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    async def import_catalog(self, rows: list[str]) -> ImportReport:
        path = write_catalog(self.tmp_path, rows)
        async with self.runtime.writes() as session, session.begin():
            return await import_catalog(session, path, {s.name for s in self.settings.suppliers})

    async def poll(self, supplier: str = "Acme", **options: Any) -> PollSummary:
        summary = await self.runtime.poller.poll(supplier, **options)
        await self.deliver()
        return summary

    async def deliver(self) -> DeliveryReport:
        return await self.runtime.deliverer.deliver_due()

    async def post_charts(self) -> ChartReport:
        """Show the charts due, as the chart worker of `stockbot run` does."""
        assert self.runtime.charts is not None, "[charts] enabled = false"
        return await self.runtime.charts.post_due()

    def alert_messages(self) -> list[dict[str, Any]]:
        """Top-level messages in the alert channel, as Slack now shows them."""
        return self.slack.messages(ALERT_CHANNEL_ID)

    async def updated_alert(self, shows: str) -> dict[str, Any]:
        """The only alert message, once a chat.update drew `shows` (text or blocks): after
        a click, the thread note and the message's update go out separately."""
        await self.slack.wait_for_async(
            lambda c: (
                c.method == "chat.update" and shows in json.dumps(c.params, ensure_ascii=False)
            )
        )
        return self.only_alert()

    def only_alert(self) -> dict[str, Any]:
        messages = self.alert_messages()
        assert len(messages) == 1, [m.get("text") for m in messages]
        return messages[0]

    async def serve_http(self) -> AsyncSlackRequestSender:
        """Serve the Bolt app over HTTP on loopback, as `stockbot run --http` does."""
        runner = web.AppRunner(create_web_app(create_app(self.runtime), self.runtime))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._server = runner
        # As `stockbot run` does: a delivery worker sends what the handlers store.
        self.extra["worker"] = asyncio.create_task(self.runtime.deliverer.run(poll_every=0.5))
        self.extra["base_url"] = f"http://127.0.0.1:{port}"
        self.sender = AsyncSlackRequestSender(
            self.extra["base_url"], SIGNING_SECRET, slack_api=self.slack
        )
        return self.sender

    def _answer_url(self, name: str) -> tuple[str, str]:
        rid = f"{name.strip('/')}-{next(_response_ids)}"
        return rid, self.slack.response_url(rid)

    async def _answer(self, rid: str) -> dict[str, Any]:
        await self.slack.wait_for_async(f"response_url/{rid}")
        return self.slack.responses(rid)[-1]

    async def click(
        self, action_id: str, message: Mapping[str, Any], user_id: str, **options: Any
    ) -> dict[str, Any]:
        """Click `action_id` on the alert `message` over HTTP, as `user_id`; return the
        answer the person got through the request's response URL."""
        assert self.sender is not None, "serve_http() first"
        rid, url = self._answer_url(action_id)
        response = await self.sender.block_action(
            action_id,
            user_id=user_id,
            channel_id=ALERT_CHANNEL_ID,
            message=message,
            response_url=url,
            **options,
        )
        assert response.status_code == 200, response.text
        return await self._answer(rid)

    async def command(
        self, command: str, text: str = "", user_id: str = "U123", **options: Any
    ) -> dict[str, Any]:
        """Type a slash command over HTTP; return its answer, whether it came in the ack
        itself or through the response URL."""
        assert self.sender is not None, "serve_http() first"
        rid, url = self._answer_url(command)
        response = await self.sender.slash_command(
            command, text, user_id=user_id, response_url=url, **options
        )
        assert response.status_code == 200, response.text
        return response.json() if response.content else await self._answer(rid)

    async def close(self) -> None:
        if "worker" in self.extra:
            worker = self.extra.pop("worker")
            worker.cancel()
            with contextlib.suppress(BaseException):
                await worker
        if self._server is not None:
            await self._server.cleanup()
        await self.runtime.close()
