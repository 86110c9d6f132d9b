"""Whole polls of suppliers that misbehave, from the config file to Slack: a bad
feed or a wrong setting raises one plain feed-problem alert, never false stockouts."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from tests import probes
from tests.fakes.cj_server import FakeCJ, warehouse
from tests.fakes.supplier_server import FakeSupplierServer, trickle
from tests.helpers import CATALOG_HEADER, Stack

CJ_KEY = "CJ4471@api@5ecr3t-k3y-value"

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]


def all_text(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


@pytest.fixture
def supplier_server() -> Iterator[FakeSupplierServer]:
    with FakeSupplierServer() as server:
        yield server


@pytest.fixture
async def cj() -> AsyncIterator[FakeCJ]:
    async with FakeCJ(api_key=CJ_KEY, clock=lambda: datetime.now(UTC)) as server:
        yield server


@pytest.fixture
def extra_config(
    supplier_server: FakeSupplierServer, cj: FakeCJ, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("CJ_API_KEY", CJ_KEY)
    return f"""
[[suppliers]]
name = "Remote"
kind = "csv_feed"
url = "{supplier_server.url("/stock.csv")}"
timeout = 5
poll_timeout = "1s"

[[suppliers]]
name = "CJ"
kind = "cj_dropshipping"
base_url = "{cj.base_url}"
requests_per_second = 10
"""


# --- bounded polls ----------------------------------------------------------------------


async def test_a_trickling_feed_ends_at_poll_timeout_with_one_feed_alert(
    stack: Stack, supplier_server: FakeSupplierServer
) -> None:
    await stack.import_catalog([CATALOG_HEADER, "MUG-1,Blue mug,Remote,R-MUG,1,5,4.00"])
    rows = b"".join(b"R-%d,1\n" % n for n in range(200))
    supplier_server.set_feed("/stock.csv", b"sku,qty\nR-MUG,10\n" + rows)
    supplier_server.script("/stock.csv", trickle(0.2))  # never 5 s without a byte

    summary = await stack.poll("Remote")

    assert summary.error is not None
    assert "took longer than 1 second" in summary.error
    assert summary.changed == 0
    message = stack.only_alert()
    assert message["text"].startswith("🧾 Supplier feed problem: Remote")
    assert "poll_timeout" in all_text(message)
    # A poll pauses the process's garbage collector; a poll that failed gives it back.
    assert gc.isenabled()

    # The supplier is not stuck: the next poll reads the feed as usual.
    summary = await stack.poll("Remote")
    assert summary.error is None
    assert summary.rows_read == 201
    assert gc.isenabled()
    assert stack.only_alert()["text"].startswith("✅ Resolved: supplier feed problem")


# --- unreadable SKUs --------------------------------------------------------------------


async def test_a_garbled_sku_is_not_a_false_stockout(stack: Stack) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 30, "A-CAP": 50})
    await stack.poll("Acme")
    feed = stack.tmp_path / "feeds" / "acme.csv"
    feed.write_bytes(b"sku,quantity,price\nA-MUG,30,9.99\nA-C\xffP,50,9.99\n")

    summary = await stack.poll("Acme")

    assert summary.error is None
    assert summary.missing == 0
    assert summary.set_aside == 1
    assert [note for note in summary.notes if "could not be read" in note]
    assert stack.alert_messages() == []


async def test_an_unchanged_feed_304_leaves_stock_and_last_seen_as_they_were(
    stack: Stack, supplier_server: FakeSupplierServer
) -> None:
    await stack.import_catalog([CATALOG_HEADER, "MUG-1,Blue mug,Remote,R-MUG,1,5,4.00"])
    supplier_server.set_feed("/stock.csv", b"sku,qty\nR-MUG,10\n")
    first = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    stack.runtime.poller.clock = lambda: first
    assert (await stack.poll("Remote")).ok
    stack.runtime.poller.clock = lambda: first + timedelta(hours=1)

    summary = await stack.poll("Remote")

    assert summary.ok and summary.not_modified
    assert summary.changed == summary.missing == 0
    # A 304 lists nothing: nobody was seen (nor went missing) at the second poll.
    assert await probes.last_seen(stack, "R-MUG") == first
    assert (await probes.offer(stack, "R-MUG")).quantity == 10


# --- CJ: delisted variants and a wrong sku_type -----------------------------------------

CJ_SKUS = ["CJNSFS0010247", "CJNSFS0010248", "CJYD2231907"]


async def test_cj_skus_under_the_vid_setting_raise_one_setup_alert_not_stockouts(
    stack: Stack,
) -> None:
    await stack.import_catalog(
        [CATALOG_HEADER] + [f"P-{n},Product {n},CJ,{sku},1,3,2.00" for n, sku in enumerate(CJ_SKUS)]
    )

    summary = await stack.poll("CJ")

    assert summary.error is not None
    assert 'set sku_type = "sku"' in summary.error
    message = stack.only_alert()
    assert message["text"].startswith("🧾 Supplier feed problem: CJ")
    assert "not found at supplier" not in all_text(message)


async def test_a_delisted_cj_variant_reads_discontinued_by_the_supplier(
    stack: Stack, cj: FakeCJ
) -> None:
    await stack.import_catalog(
        [CATALOG_HEADER, "MUG-1,Blue mug,CJ,V-MUG,1,5,4.00", "CAP-2,Red cap,CJ,V-CAP,1,3,2.00"]
    )
    cj.stock["V-MUG"] = [warehouse("CN", 50)]
    cj.stock["V-CAP"] = [warehouse("CN", 40)]
    cj.codes["V-MUG"] = 1602003

    summary = await stack.poll("CJ")

    assert summary.error is None
    message = stack.only_alert()
    assert message["text"] == "🚨 MUG-1 out of stock at CJ"
    assert "discontinued by the supplier" in all_text(message)


# --- configuration ----------------------------------------------------------------------

BASE = """
[slack]
alert_channel = "#stock"
"""


def load(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "stockbot.toml"
    path.write_text(BASE + text, encoding="utf-8")
    try:
        load_settings(path)
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "../../../../../../etc/passwd", "/etc/passwd"]
)
def test_a_local_feed_outside_the_feeds_folder_is_a_config_error(tmp_path: Path, url: str) -> None:
    problems = load(tmp_path, f'[[suppliers]]\nname = "A"\nkind = "csv_feed"\nurl = "{url}"\n')
    assert len(problems) == 1
    assert problems[0].startswith("suppliers[0].url: ")
    assert f"outside the feeds folder {tmp_path}" in problems[0]


def test_feeds_dir_sets_the_feeds_folder(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "link.csv").symlink_to(tmp_path / "stockbot.toml")
    suppliers = "".join(
        f'[[suppliers]]\nname = "{name}"\nkind = "csv_feed"\nurl = "{url}"\n'
        for name, url in [("In", "feeds/a.csv"), ("Out", "a.csv"), ("Link", "feeds/link.csv")]
    )
    problems = load(tmp_path, f'[paths]\nfeeds_dir = "feeds"\n{suppliers}')
    assert [problem.split(":")[0] for problem in problems] == [
        "suppliers[1].url",
        "suppliers[2].url",
    ]
    assert all(f"outside the feeds folder {tmp_path / 'feeds'}" in p for p in problems)


def test_poll_timeout_defaults_below_the_interval_and_is_checked(tmp_path: Path) -> None:
    (tmp_path / "a.csv").touch()
    supplier = '[[suppliers]]\nname = "A"\nkind = "csv_feed"\nurl = "a.csv"\n'
    assert load(tmp_path, supplier) == []
    path = tmp_path / "stockbot.toml"
    assert load_settings(path).suppliers[0].poll_timeout == timedelta(minutes=5)
    load(tmp_path, supplier + 'poll_interval = "4m"\n')
    assert load_settings(path).suppliers[0].poll_timeout == timedelta(minutes=2)
    load(tmp_path, supplier + 'poll_timeout = "90s"\n')
    assert load_settings(path).suppliers[0].poll_timeout == timedelta(seconds=90)

    problems = load(tmp_path, supplier + 'poll_interval = "10m"\npoll_timeout = "20m"\n')
    assert problems == [
        "suppliers[0].poll_timeout: must not be longer than poll_interval (10 minutes)"
    ]
    problems = load(tmp_path, supplier + 'poll_timeout = "soon"\n')
    assert problems[0].startswith("suppliers[0].poll_timeout: expected a duration")
    problems = load(tmp_path, supplier + "poll_timeout = -5\n")
    assert problems == ["suppliers[0].poll_timeout: must be longer than zero"]


def test_api_suppliers_poll_timeout_is_half_the_interval_at_most_30_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API supplier is asked SKU by SKU (300 CJ SKUs at 1 a second: 5 minutes), so
    its default is not a feed's 5 minutes; but a daily poll still ends within 30."""
    monkeypatch.setenv("CJ_API_KEY", "CJ1@api@x")
    supplier = '[[suppliers]]\nname = "CJ"\nkind = "cj_dropshipping"\napi_key_env = "CJ_API_KEY"\n'
    path = tmp_path / "stockbot.toml"
    for interval, timeout in (("30m", 15), ("2h", 30), ("1d", 30)):
        assert load(tmp_path, supplier + f'poll_interval = "{interval}"\n') == []
        assert load_settings(path).suppliers[0].poll_timeout == timedelta(minutes=timeout)
    assert load(tmp_path, supplier + 'poll_interval = "1d"\npoll_timeout = "3h"\n') == []
    assert load_settings(path).suppliers[0].poll_timeout == timedelta(hours=3)
    problems = load(tmp_path, supplier + 'poll_interval = "1h"\npoll_timeout = "2h"\n')
    assert problems == [
        "suppliers[0].poll_timeout: must not be longer than poll_interval (60 minutes)"
    ]
