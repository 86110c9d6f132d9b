"""Benchmark a catalog import of 100,000 rows: peak memory and time.

Run from the repo root:  python bench/import_bench.py [--rows 100000] [--repeat 3]
                                                      [--backend sqlite|postgres|both]

Every measurement runs in a child process of its own (this script again, with
--phase), so each peak RSS belongs to one phase:

* idle   - the floor for memory: load_settings + Runtime.start (migrations) on a fresh
           database, and nothing else;
* floor  - the floor for time: read the same CSV with the csv module and insert its
           rows with one executemany into a plain table, in one transaction, through
           the bot's engine;
* import - the bot's real path, as `stockbot catalog import` runs it: Runtime.start,
           then `import_catalog` in one transaction.

Target: the import's peak RSS under 300 MB. Times are medians of --repeat runs.
PostgreSQL runs on a throw-away server (as scripts/test-postgres.sh starts one) when
its binaries are installed. Exits with status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # runnable as a plain script
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import (  # noqa: E402
    RESULT_MARK,
    config_text,
    create_database,
    current_rss_mb,
    peak_rss_mb,
    throwaway_postgres,
    write_catalog,
)
from bench.common import spawn as spawn_script  # noqa: E402

TARGET_RSS_MB = 300.0
FLOOR_DDL = "CREATE TABLE floor_rows (sku TEXT, title TEXT, supplier TEXT, supplier_sku TEXT)"
FLOOR_INSERT = (
    "INSERT INTO floor_rows (sku, title, supplier, supplier_sku) "
    "VALUES (:sku, :title, :supplier, :supplier_sku)"
)


def floor_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return [
            {"sku": r[0], "title": r[1], "supplier": r[2], "supplier_sku": r[3]}
            for r in list(csv.reader(file))[1:]
        ]


async def phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    from bot.config import load_settings
    from bot.core.catalog import import_catalog
    from bot.runtime import Runtime

    runtime = await Runtime.start(load_settings(Path(args.config)))
    result: dict[str, Any] = {"start_rss_mb": current_rss_mb()}
    try:
        started = time.perf_counter()
        if name == "import":
            async with runtime.sessions() as session, session.begin():
                report = await import_catalog(session, Path(args.catalog), {"Acme", "Beta"})
            result["rows"] = report.offers_created + report.offers_updated
        elif name == "floor":
            async with runtime.engine.begin() as connection:
                await connection.execute(text(FLOOR_DDL))
            started = time.perf_counter()
            rows = await asyncio.to_thread(floor_rows, Path(args.catalog))
            async with runtime.engine.begin() as connection:
                await connection.execute(text(FLOOR_INSERT), rows)
            result["rows"] = len(rows)
        result["seconds"] = time.perf_counter() - started
    finally:
        await runtime.close()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


spawn = partial(spawn_script, __file__)


async def fresh_url(backend: str, workdir: Path, tag: str, admin: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'{tag}.db'}"
    assert admin is not None
    return await create_database(admin, f"stockbot_import_{tag}")


def measure(
    backend: str, args: argparse.Namespace, workdir: Path, catalog: Path, admin: str | None
) -> dict[str, list[dict[str, Any]]]:
    config = workdir / "stockbot.toml"
    config.write_text(config_text(), encoding="utf-8")
    common = ("--config", str(config), "--catalog", str(catalog))
    runs: dict[str, list[dict[str, Any]]] = {"idle": [], "floor": [], "import": []}
    for run in range(args.repeat):
        # Alternated, so that a slow spell of the shared machine hits every phase alike.
        for name in runs:
            url = asyncio.run(fresh_url(backend, workdir, f"{name}{run}", admin))
            env = dict(os.environ, DATABASE_URL=url)
            for secret in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
                env.pop(secret, None)
            runs[name].append(spawn(name, env, *common))
    return runs


def report(backend: str, runs: dict[str, list[dict[str, Any]]]) -> bool:
    idle_rss = max(r["peak_rss_mb"] for r in runs["idle"])
    floor_s = statistics.median(r["seconds"] for r in runs["floor"])
    print(f"\n== {backend} ==")
    header = f"{'phase':<40}{'median s':>10}{'x floor':>9}{'peak RSS MB':>13}{'x idle':>8}"
    print(header)
    print("-" * len(header))
    for name, label in (
        ("idle", "idle: start-up only (memory floor)"),
        ("floor", "floor: csv + one executemany (time floor)"),
        ("import", f"catalog import of {runs['import'][0].get('rows', 0):,} rows"),
    ):
        seconds = statistics.median(r["seconds"] for r in runs[name])
        rss = max(r["peak_rss_mb"] for r in runs[name])  # the worst run counts
        print(
            f"{label:<40}{seconds:>10.2f}{seconds / floor_s:>9.1f}"
            f"{rss:>13.0f}{rss / idle_rss:>8.2f}"
        )
    peak = max(r["peak_rss_mb"] for r in runs["import"])
    ok = peak < TARGET_RSS_MB
    verdict = "OK" if ok else "MISSED"
    print(f"import peak RSS {peak:.0f} MB (target < {TARGET_RSS_MB:.0f} MB)  {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="catalog rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--phase", choices=("idle", "floor", "import"), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(RESULT_MARK + json.dumps(asyncio.run(phase(args.phase, args))), flush=True)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="stockbot-import-bench-"))
    try:
        catalog = write_catalog(workdir, args.rows).path
        size = catalog.stat().st_size / 2**20
        print(f"{args.rows:,} catalog rows ({size:.1f} MB); {args.repeat} run(s) per phase")
        ok = True
        if args.backend in ("sqlite", "both"):
            ok &= report("SQLite", measure("sqlite", args, workdir, catalog, None))
        if args.backend in ("postgres", "both"):
            with throwaway_postgres() as admin:
                if admin is None:
                    print("\nPostgreSQL server binaries not found: skipped")
                else:
                    ok &= report("PostgreSQL", measure("postgres", args, workdir, catalog, admin))
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
