"""What Stockbot says about itself: /healthz, /readyz, /metrics and JSON logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from tests.helpers import CATALOG_HEADER, Stack, run_process

CATALOG = [
    CATALOG_HEADER,
    "MUG-1,Blue mug,Acme,A-MUG,1,5,4.00",
    "CAP-2,Red cap,Acme,A-CAP,1,3,2.00",
]


async def get(stack: Stack, path: str) -> httpx.Response:
    if "base_url" not in stack.extra:
        await stack.serve_http()
    async with httpx.AsyncClient() as client:
        return await client.get(stack.extra["base_url"] + path)


async def scrape(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = await get(stack, "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_healthz_says_degraded_with_the_reason_when_a_supplier_keeps_failing(
    stack: Stack,
) -> None:
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 10, "A-CAP": 10})
    await stack.poll()
    assert (await get(stack, "/healthz")).json() == {"ok": True, "status": "ok", "reasons": []}

    (stack.tmp_path / "feeds" / "acme.csv").unlink()
    for _ in range(stack.settings.rules.supplier_down_after):
        await stack.poll()
    response = await get(stack, "/healthz")
    # Still 200: a supplier's outage is no reason for a load balancer to restart us.
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "status": "degraded",
        "reasons": ["supplier Acme failed its last 3 polls"],
    }


def swap_for_a_folder(database: Path, aside: Path) -> None:
    database.rename(aside)
    database.mkdir()  # a folder where the file was: SQLite cannot open it


def put_back(database: Path, aside: Path) -> None:
    shutil.rmtree(database)
    aside.rename(database)


async def test_readyz_fails_while_the_database_cannot_be_opened(stack: Stack) -> None:
    url = make_url(stack.settings.database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("takes the SQLite file away; PostgreSQL has no file to take")
    assert (await get(stack, "/readyz")).json() == {"ok": True}
    database = Path(str(url.database))
    await stack.runtime.engine.dispose()
    aside = database.with_suffix(".aside")
    swap_for_a_folder(database, aside)
    try:
        response = await get(stack, "/readyz")
        assert response.status_code == 503
        assert response.json() == {"ok": False, "error": "the database cannot be reached"}
        health = await get(stack, "/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
    finally:
        put_back(database, aside)
    assert (await get(stack, "/readyz")).status_code == 200


async def test_metrics_count_polls_slack_calls_webhooks_and_read_alerts_from_the_database(
    stack: Stack,
) -> None:
    before = await scrape(stack)
    await stack.import_catalog(CATALOG)
    stack.write_feed("Acme", {"A-MUG": 0, "A-CAP": 40})
    await stack.poll()
    # No Shopify secret in this test's environment: refused, and counted.
    async with httpx.AsyncClient() as client:
        refused = await client.post(
            stack.extra["base_url"] + "/webhooks/shopify/orders", content=b"{}"
        )
    assert refused.status_code == 503
    after = await scrape(stack)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("stockbot_polls_total", supplier="Acme", outcome="ok") == 1
    assert grew("stockbot_poll_rows_read_total", supplier="Acme") == 2
    assert grew("stockbot_poll_duration_seconds_count", supplier="Acme") == 1
    assert grew("stockbot_slack_calls_total", method="chat.postMessage", status="200") == 1
    assert grew("stockbot_webhook_deliveries_total", store="shopify", outcome="not_configured") == 1
    # Read from the database when scraped: exact, whichever replica answers.
    assert after[("stockbot_alerts_open", (("kind", "out_of_stock"),))] == 1
    assert after[("stockbot_outbox_depth", ())] == 0
    assert after[("stockbot_outbox_oldest_age_seconds", ())] == 0
    assert after[("stockbot_supplier_consecutive_failures", (("supplier", "Acme"),))] == 0


def test_json_logs_are_one_object_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "stockbot.toml"
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "acme.csv").write_text("sku,quantity\nA-MUG,3\n")
    config.write_text(
        '[slack]\nalert_channel = "#stock-alerts"\n\n[[suppliers]]\nname = "Acme"\n'
        'kind = "csv_feed"\nurl = "feeds/acme.csv"\n'
    )
    for name in ("SLACK_BOT_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STOCKBOT_LOG_FORMAT", "json")
    result = run_process("--config", str(config), "-v", "poll", "--once")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
