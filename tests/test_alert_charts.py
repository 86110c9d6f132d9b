"""A picture in the thread: when a product alert opens as low stock or out of stock, its
stock chart (30 days of stock at each supplier, daily sales, the forecast) is uploaded
into the alert's thread once; without Slack it is saved and its path printed. A chart
that cannot be made never touches the alert."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.runtime import Runtime
from tests.helpers import ALERT_CHANNEL_ID, CATALOG_HEADER, Stack, run_cli, write_catalog
from tests.probes import arrange_broken_table

PNG = b"\x89PNG\r\n\x1a\n"
LAMP = [
    CATALOG_HEADER,
    "LAMP-02,Brass desk lamp,Acme,A-LAMP,1,5,10.00",
    "LAMP-02,Brass desk lamp,Beta,B-LAMP,2,5,11.00",
]
TITLE = "LAMP-02: stock at each supplier"


async def lamp_runs_out(stack: Stack) -> dict[str, Any]:
    """Acme's lamps sell down poll after poll to none: the stockout alert's message."""
    await stack.import_catalog(LAMP)
    stack.write_feed("Beta", {"B-LAMP": 40})
    await stack.poll("Beta")
    for units in (30, 20, 12, 0):
        stack.write_feed("Acme", {"A-LAMP": units})
        await stack.poll("Acme")
    alert = stack.only_alert()
    assert alert["text"].startswith("🚨 LAMP-02 out of stock at Acme")
    return alert


def charts(stack: Stack, message: dict[str, Any]) -> list[dict[str, Any]]:
    return stack.slack.files_in_thread(ALERT_CHANNEL_ID, message["ts"])


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.database
async def test_a_stockout_alert_gets_its_chart_in_its_thread_once(stack: Stack) -> None:
    alert = await lamp_runs_out(stack)
    loaded_before = "matplotlib" in sys.modules

    report = await stack.post_charts()

    assert report.shown == 1
    # Drawn in a child process: matplotlib holds the GIL while it draws, so in the
    # bot's own process (even in a thread) it would stall the event loop.
    assert loaded_before or "matplotlib" not in sys.modules
    [chart] = charts(stack, alert)
    assert chart["title"] == TITLE
    assert re.fullmatch(r"LAMP-02-stock-alert-\d+\.png", chart["name"]), chart["name"]
    assert png_size(chart["content"]) == (900, 750)  # big enough to read on a phone
    assert stack.slack.warnings == []
    # Later changes of the same alert (the other supplier's stock) bring no new chart.
    stack.write_feed("Beta", {"B-LAMP": 35})
    await stack.poll("Beta")
    assert (await stack.post_charts()).shown == 0
    assert len(charts(stack, alert)) == 1


@pytest.mark.database
async def test_each_opening_gets_its_own_chart_low_stock_too(stack: Stack) -> None:
    first = await lamp_runs_out(stack)
    await stack.post_charts()
    stack.write_feed("Acme", {"A-LAMP": 50})  # restocked: resolved
    await stack.poll("Acme")
    stack.write_feed("Acme", {"A-LAMP": 3})  # low again: a new alert, a new message
    await stack.poll("Acme")

    await stack.post_charts()

    second = stack.alert_messages()[-1]
    assert second["text"].startswith("⚠️ LAMP-02 low stock at Acme: 3 left")
    assert [c["title"] for c in charts(stack, second)] == [TITLE]
    assert len(charts(stack, first)) == 1


@pytest.mark.database
async def test_an_upload_whose_answer_was_lost_is_not_repeated_after_a_restart(
    stack: Stack,
) -> None:
    alert = await lamp_runs_out(stack)
    # Slack shares the file but answers after the bot stopped waiting (1 s).
    stack.slack.answer_late("files.completeUploadExternal", 3)
    impatient = stack.settings.model_copy(
        update={
            "slack": stack.settings.slack.model_copy(update={"api_timeout": timedelta(seconds=1)})
        }
    )
    first = await Runtime.start(impatient, per_channel_interval=0)
    try:
        assert first.charts is not None
        report = await first.charts.post_due()
    finally:
        await first.close()  # and that process goes away
    assert report.deferred == 1
    await stack.slack.wait_for_async("files.completeUploadExternal")

    # Another process (or the same one restarted) finds it in the thread.
    assert (await stack.post_charts()).shown == 1
    assert (await stack.post_charts()).shown == 0

    assert [c["title"] for c in charts(stack, alert)] == [TITLE]
    assert len(stack.slack.calls_to("files.getUploadURLExternal")) == 1
    assert len(stack.slack.calls_to("files.completeUploadExternal")) == 1


@pytest.mark.database
async def test_a_chart_that_cannot_be_made_leaves_the_alert_alone(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    alert = await lamp_runs_out(stack)
    await arrange_broken_table(stack, "stock_observations")  # the history cannot be read

    with caplog.at_level(logging.ERROR, logger="bot.slack.delivery.charts"):
        report = await stack.post_charts()

    assert report.failed == 1
    assert "the chart of alert" in caplog.text
    assert charts(stack, alert) == []
    assert stack.slack.calls_to("files.getUploadURLExternal") == []
    assert (await stack.post_charts()).failed == 0  # given up on, not retried
    assert stack.only_alert()["text"] == alert["text"]


@pytest.mark.database
async def test_a_refused_upload_is_given_up_and_the_alert_still_updates(stack: Stack) -> None:
    alert = await lamp_runs_out(stack)
    stack.slack.fail_next("files.getUploadURLExternal", status=200, error="missing_scope")

    report = await stack.post_charts()

    assert report.failed == 1
    assert charts(stack, alert) == []
    stack.write_feed("Acme", {"A-LAMP": 50})
    await stack.poll("Acme")
    assert stack.only_alert()["text"].startswith("✅ LAMP-02 back in stock at Acme")
    assert (await stack.post_charts()).failed == 0
    assert len(stack.slack.calls_to("files.getUploadURLExternal")) == 1


CONSOLE_CONFIG = """
[slack]
alert_channel = "#stock-alerts"

[charts]
folder = "pictures"

[[suppliers]]
name = "Acme"
kind = "csv_feed"
url = "acme.csv"
"""


def test_without_slack_the_chart_is_saved_and_its_path_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "stockbot.toml"
    config.write_text(CONSOLE_CONFIG)
    monkeypatch.setenv("STOCKBOT_CONFIG", str(config))
    write_catalog(tmp_path, [CATALOG_HEADER, "LAMP-02,Brass desk lamp,Acme,A-LAMP,1,5,10.00"])
    assert run_cli("catalog", "import", str(tmp_path / "catalog.csv")).returncode == 0
    (tmp_path / "acme.csv").write_text("sku,quantity\nA-LAMP,0\n")

    result = run_cli("poll", "--once")

    assert result.returncode == 0, result.stdout
    assert "ALERT 🚨 LAMP-02 out of stock at Acme" in result.stdout
    [line] = [line for line in result.stdout.splitlines() if "chart" in line]
    path = Path(line.rsplit(": ", 1)[1])
    assert path.parent == tmp_path / "pictures"
    assert png_size(path.read_bytes()) == (900, 750)
    assert load_settings(config).charts.folder == tmp_path / "pictures"
    # Once: the next poll prints no chart again.
    assert "chart" not in run_cli("poll", "--once").stdout


@pytest.mark.database
async def test_the_running_bot_posts_the_chart_once_the_message_is_out(stack: Stack) -> None:
    assert stack.runtime.charts is not None
    # As `stockbot run`: the worker waits for the outbox's word that a message is posted
    # (its own round comes only every 10 minutes here).
    worker = asyncio.create_task(stack.runtime.charts.run(poll_every=600))
    try:
        alert = await lamp_runs_out(stack)
        await stack.slack.wait_for_async("files.completeUploadExternal", timeout=60)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert [c["title"] for c in charts(stack, alert)] == [TITLE]
