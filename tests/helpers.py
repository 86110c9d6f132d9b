"""A whole Stockbot wired to local fakes: config file, SQLite, fake Slack, feed files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import create_app, create_web_app
from bot.config import Settings
from bot.core.catalog import ImportReport, import_catalog
from bot.core.polling import PollSummary
from bot.runtime import Runtime
from bot.slack.outbox import DeliveryReport
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import AsyncSlackRequestSender

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
ALERT_CHANNEL_ID = "C0ALERTS"
CATALOG_HEADER = "sku,title,supplier,supplier_sku,priority,low_stock_threshold,price"

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


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `stockbot` command in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


def write_catalog(directory: Path, rows: Iterable[str], name: str = "catalog.csv") -> Path:
    path = directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


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

    def alert_messages(self) -> list[dict[str, Any]]:
        """Top-level messages in the alert channel, as Slack now shows them."""
        return self.slack.messages(ALERT_CHANNEL_ID)

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

    async def close(self) -> None:
        if "worker" in self.extra:
            worker = self.extra.pop("worker")
            worker.cancel()
            with contextlib.suppress(BaseException):
                await worker
        if self._server is not None:
            await self._server.cleanup()
        await self.runtime.close()
