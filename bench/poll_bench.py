"""Benchmark polling a 100,000-SKU supplier feed against the machine's floor.

Run from the repo root:  python bench/poll_bench.py [--rows 100000] [--repeat 3]
                                                    [--backend sqlite|postgres|both]

The parent process generates a catalog and a CSV feed, serves it over loopback
HTTP and runs every measurement in a child process of its own (this script again,
with --phase, or the real command), so that each peak RSS belongs to one phase:

* setup  - a fresh database: migrations, `import_catalog`, then the first poll of
           the feed (both timed and shown, not part of the targets). Every later
           run starts from a copy of that database.
* poll   - the long-running bot's poll cycle, in process: load_settings +
           Runtime.start, then one timed `runtime.poller.poll()` of the feed with
           1% of its rows changed (fetch, parse, reconcile, history, alerts).
* floor  - its floor, in process: stream the feed with httpx, parse it with the csv
           module and insert every row with one executemany in one transaction,
           through the bot's engine.
* poll --once - the whole `stockbot poll --once` process, as cron runs it
           (interpreter start, imports, migration check, poll, summary), same feed.
* bare script - its floor: a process that GETs the feed (urllib), parses it with
           `csv` and inserts it with one executemany (sqlite3; asyncpg on PostgreSQL).

Targets: poll cycle <= 2x its floor, poll --once <= 3x the bare script, peak RSS
< 300 MB. The script exits with status 1 when a target is missed, after printing
everything. PostgreSQL runs on a throw-away server (as scripts/test-postgres.sh
starts one) when its binaries are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # runnable as a plain script, even without the editable install
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import RESULT_MARK, current_rss_mb, peak_rss_mb  # noqa: E402
from bench.common import spawn as spawn_script  # noqa: E402

SUPPLIER = "Bench Supplier"
TARGET_RATIO = 2.0  # the poll cycle against fetch+parse+insert, in process
TARGET_PROCESS_RATIO = 3.0  # `stockbot poll --once` against the bare script
CHANGED_EVERY = 100  # 1% of the feed's rows change between the first poll and the timed ones
TARGET_RSS_MB = 300.0
CHUNK_SIZE = 64 * 1024  # what the bot's fetcher reads per chunk (transport.policy)

CONFIG_TEMPLATE = """\
[slack]
alert_channel = "#stock-alerts"

[rules]
group_alerts_over = 10

[[suppliers]]
name = "{name}"
kind = "csv_feed"
url = "{url}"
poll_interval = "15m"
"""

FLOOR_DDL = "CREATE TABLE stock (sku TEXT, qty INTEGER, price NUMERIC)"
FLOOR_INSERT = "INSERT INTO stock (sku, qty, price) VALUES (:sku, :qty, :price)"


# --- data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Files:
    catalog: Path
    feed: Path  # what the first poll reads
    changed: Path  # the same with 1% of its rows changed: what the timed polls read
    low: int
    zero: int


def generate(directory: Path, rows: int, seed: int = 42) -> Files:
    """A catalog and a matching feed: ~94% in stock, ~4% at or under threshold, ~2% at 0."""
    rng = random.Random(seed)  # same files on every run, so runs are comparable
    catalog = ["sku,title,supplier,supplier_sku,priority,low_stock_threshold,price"]
    feed = ["sku,qty,price"]
    changed = ["sku,qty,price"]
    low = zero = 0
    for n in range(1, rows + 1):
        threshold = rng.randint(3, 10)
        price = f"{rng.randint(100, 20000) / 100:.2f}"
        roll = rng.random()
        if roll < 0.02:
            qty, zero = 0, zero + 1
        elif roll < 0.06:
            qty, low = rng.randint(1, threshold), low + 1
        else:
            qty = rng.randint(threshold + 1, 5000)
        catalog.append(f"SKU-{n:07d},Product {n},{SUPPLIER},SUP-{n:07d},1,{threshold},{price}")
        # The supplier's price differs a little from the catalog's, as it usually does.
        feed.append(f"SUP-{n:07d},{qty},{float(price) * 1.05:.2f}")
        # Between polls some stock sells and some comes back.
        later = qty + 1 if n % CHANGED_EVERY == 0 else qty
        changed.append(f"SUP-{n:07d},{later},{float(price) * 1.05:.2f}")
    files = Files(
        directory / "catalog.csv", directory / "feed.csv", directory / "changed.csv", low, zero
    )
    files.catalog.write_text("\n".join(catalog) + "\n", encoding="utf-8")
    files.feed.write_text("\n".join(feed) + "\n", encoding="utf-8")
    files.changed.write_text("\n".join(changed) + "\n", encoding="utf-8")
    return files


# --- loopback feed server ---------------------------------------------------------------


class FeedServer:
    """Serves one body at /feed.csv on 127.0.0.1 from a daemon thread; `body` can change."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real feed host would

            def do_GET(self) -> None:
                if self.path != "/feed.csv":
                    self.send_error(404)
                    return
                body = owner.body
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per request would only clutter the report

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.csv"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- measuring inside a child -------------------------------------------------------------


@contextmanager
def measured(
    result: dict[str, Any], trace: bool, profiler: cProfile.Profile | None = None
) -> Iterator[None]:
    """Time the block; with `trace`, report tracemalloc's peak instead (tracing is slow)."""
    result["start_rss_mb"] = current_rss_mb()
    if trace:
        tracemalloc.start()
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    yield
    result["seconds"] = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
    if trace:
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["peak_rss_mb"] = peak_rss_mb()


def child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=database_url, COLUMNS="120")
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL"):
        env.pop(name, None)  # no Slack: alerts are stored, never delivered
    return env


async def phase_setup(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from bot.config import load_settings
    from bot.core.catalog import import_catalog
    from bot.runtime import FORECAST_LEASE, Runtime

    settings = load_settings(args.config)
    runtime = await Runtime.start(settings)
    try:
        with measured(result, args.trace):
            async with runtime.writes() as session, session.begin():
                report = await import_catalog(session, Path(args.catalog), {SUPPLIER})
        result["rows"] = report.offers_created
        started = time.perf_counter()
        summary = await runtime.poller.poll(SUPPLIER)  # every offer gets its stock
        result["first_poll_seconds"] = time.perf_counter() - started
        assert summary.ok, summary.error
        # Then every forecast, as the running bot's first poll cycle would (later
        # polls within [forecast] recompute_every recompute only the products whose
        # stock changed).
        started = time.perf_counter()
        async with runtime.leases.exclusive(FORECAST_LEASE):
            await runtime.watch_forecasts()
        result["forecast_seconds"] = time.perf_counter() - started
        # Deliver the alerts that poll raised (to the console: no Slack here), as the
        # running bot would have long before the next poll; else the timed
        # `poll --once` would spend its time printing thousands of old alerts.
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # a few MB at most
            while (await runtime.deliverer.deliver_due()).delivered:
                pass
        pending, _next_at = await runtime.deliverer.pending()
        assert pending == 0, f"{pending} alerts still undelivered after the set-up"
        result["drain_seconds"] = time.perf_counter() - started
    finally:
        await runtime.close()  # checkpoints SQLite's WAL, so the .db file alone is the template


async def phase_poll(
    args: argparse.Namespace,
    result: dict[str, Any],
    profiler: cProfile.Profile | None = None,
    on_start: Callable[[], None] | None = None,
) -> None:
    from bot.config import load_settings
    from bot.runtime import Runtime

    settings = load_settings(args.config)
    runtime = await Runtime.start(settings)
    if on_start is not None:
        on_start()  # profiling hooks that should see the poll only, not the start-up
    try:
        with measured(result, args.trace, profiler):
            summary = await runtime.poller.poll(SUPPLIER)
        result["rows"] = summary.rows_read
        result["summary"] = {
            "ok": summary.ok,
            "error": summary.error,
            "rows_read": summary.rows_read,
            "changed": summary.changed,
            "unmatched": summary.unmatched,
            "set_aside": summary.set_aside,
            "alerts_opened": summary.alerts_opened,
        }
    finally:
        await runtime.close()


async def phase_floor(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from decimal import Decimal

    import httpx
    from sqlalchemy import text

    from bot.config import normalise_database_url
    from bot.db import create_engine

    # The bot's own engine factory: same driver and the same SQLite pragmas (WAL etc.).
    engine = create_engine(normalise_database_url(os.environ["DATABASE_URL"]))
    # NUMERIC affinity turns the price text into a number in SQLite; asyncpg wants Decimal.
    price_of: Callable[[str], Any] = str if engine.dialect.name == "sqlite" else Decimal
    async with engine.begin() as connection:
        await connection.execute(text(FLOOR_DDL))
    client = httpx.AsyncClient()  # made before timing, like the bot's long-lived client
    try:
        with measured(result, args.trace):
            rows: list[dict[str, Any]] = []
            pending, header = "", True
            async with client.stream("GET", args.url) as response:
                response.raise_for_status()
                async for chunk in response.aiter_text(CHUNK_SIZE):
                    # Whole lines only: a chunk may end mid-line (the generated feed
                    # has no quoted newlines, so splitting on "\n" is safe here).
                    lines = (pending + chunk).split("\n")
                    pending = lines.pop()
                    if header and lines:
                        del lines[0]
                        header = False
                    for sku, qty, price in csv.reader(lines):
                        rows.append({"sku": sku, "qty": int(qty), "price": price_of(price)})
            if pending:
                sku, qty, price = next(csv.reader([pending]))
                rows.append({"sku": sku, "qty": int(qty), "price": price_of(price)})
            async with engine.begin() as connection:
                await connection.execute(text(FLOOR_INSERT), rows)
        result["rows"] = len(rows)
    finally:
        await client.aclose()
        await engine.dispose()


# The whole-process floor: what a bare script does in its own process, stdlib and the
# database driver only. argv: feed URL, database (SQLite file or PostgreSQL URL).
BARE_SCRIPT = """
import csv, io, sys, urllib.request
url, database = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url) as response:
    reader = csv.reader(io.TextIOWrapper(response, encoding="utf-8"))
    next(reader)
    rows = [(sku, int(qty), price) for sku, qty, price in reader]
if database.startswith("postgresql://"):
    import asyncio, decimal, asyncpg
    async def insert():
        connection = await asyncpg.connect(database, ssl=False)
        async with connection.transaction():
            await connection.execute("CREATE TABLE stock (sku TEXT, qty INTEGER, price NUMERIC)")
            await connection.executemany(
                "INSERT INTO stock VALUES ($1, $2, $3)",
                [(s, q, decimal.Decimal(p)) for s, q, p in rows],
            )
        await connection.close()
    asyncio.run(insert())
else:
    import sqlite3
    connection = sqlite3.connect(database)
    with connection:
        connection.execute("CREATE TABLE stock (sku TEXT, qty INTEGER, price NUMERIC)")
        connection.executemany("INSERT INTO stock VALUES (?, ?, ?)", rows)
    connection.close()
print(len(rows))
"""


def timed_process(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a whole process; its wall time (start to exit) and its own peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command} failed ({process.returncode}):\n{output.decode()}")
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "start_rss_mb": 0.0,
        "output": output.decode(),
    }


# --- profiling (--profile) -------------------------------------------------------------------

# Coroutines and functions timed by wall clock in the "stages" run: module, owner, name.
# Wall time matters because aiosqlite runs the SQL in a worker thread that cProfile
# (main thread only) would show as idle event-loop time.
STAGES = (
    ("bot.core.polling", "Poller", "_poll"),
    ("bot.core.reconcile", "Listing", "add"),
    ("bot.core.reconcile", "FeedDiff", "read"),
    ("bot.core.reconcile", "FeedDiff", "__init__"),
    ("bot.core.reconcile", "FeedDiff", "guard_counts"),
    ("bot.core.reconcile", "FeedDiff", "unmatched"),
    ("bot.core.reconcile", "FeedDiff", "apply_changes"),
    ("bot.core.reconcile", "FeedDiff", "mark_missing"),
    ("bot.core.reconcile", "FeedDiff", "record_listing"),
    ("bot.core.polling", "Poller", "_record_success"),
    ("bot.core.problems.evaluate", None, "evaluate"),
    ("bot.core.problems.freshness", None, "mark_stale"),
    ("bot.core.alerts", None, "resolve_supplier_alerts"),
    ("bot.core.alerts", None, "settle_groups"),
    ("bot.core.backorders", None, "allocate"),
    ("sqlalchemy.ext.asyncio", "AsyncConnection", "commit"),
    ("sqlalchemy.ext.asyncio", "AsyncSession", "execute"),
    ("sqlalchemy.ext.asyncio", "AsyncSession", "flush"),
    ("sqlalchemy.ext.asyncio", "AsyncSession", "scalars"),
    ("sqlalchemy.ext.asyncio", "AsyncSessionTransaction", "commit"),
    ("sqlalchemy.ext.asyncio", "AsyncSessionTransaction", "__aexit__"),
)


def _install_stage_timers(totals: dict[str, list[float]]) -> None:
    import functools
    import importlib
    import inspect

    def timed(label: str, function: Any) -> Any:
        def add(seconds: float) -> None:
            entry = totals.setdefault(label, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    add(time.perf_counter() - started)

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                add(time.perf_counter() - started)

        return wrapper

    for module_name, owner_name, name in STAGES:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        label = f"{module_name}:{owner_name + '.' if owner_name else ''}{name}"
        setattr(owner, name, timed(label, getattr(owner, name)))

    # SQLite's own time, spent in aiosqlite's worker thread, by statement.
    import aiosqlite.core

    execute = aiosqlite.core.Connection._execute

    async def timed_execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sql = " ".join(args[0].split()[:4]) if args and isinstance(args[0], str) else ""
        label = f"sqlite3 thread: {fn.__name__} {sql}".rstrip()

        def run() -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = totals.setdefault(label, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        return await execute(self, run)

    aiosqlite.core.Connection._execute = timed_execute  # type: ignore[method-assign]

    # Feed download + parsing: the time spent inside the adapter's batch generator.
    from suppliers.csv_feed import CsvFeedAdapter

    parse = CsvFeedAdapter.parse

    def timed_parse(self: Any, *args: Any, **kwargs: Any) -> Any:
        async def generator() -> Any:
            inner = parse(self, *args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    batch = await inner.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    entry = totals.setdefault("suppliers.csv_feed:fetch+parse (in batches)", [0, 0])
                    entry[0] += 1
                    entry[1] += time.perf_counter() - started
                yield batch

        return generator()

    CsvFeedAdapter.parse = timed_parse  # type: ignore[method-assign]


def _install_gc_timer(totals: dict[str, list[float]]) -> None:
    """Time the cyclic garbage collector, which pauses whatever code happens to run."""
    import gc

    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        entry = totals.setdefault(f"gc: generation {info['generation']} collections", [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)


async def phase_stages(args: argparse.Namespace, result: dict[str, Any]) -> None:
    totals: dict[str, list[float]] = {}
    _install_stage_timers(totals)
    await phase_poll(args, result, on_start=lambda: _install_gc_timer(totals))
    width = max(len(label) for label in totals)
    lines = [f"{'wall time, inclusive (calls)':<{width}}  seconds"]
    for label, (calls, seconds) in sorted(totals.items(), key=lambda item: -item[1][1]):
        lines.append(f"{label:<{width}}  {seconds:7.2f}  ({calls:.0f})")
    result["report"] = "\n".join(lines)


async def phase_cprofile(args: argparse.Namespace, result: dict[str, Any]) -> None:
    import io
    import pstats

    # The event-loop thread only: SQLite's own time (aiosqlite's thread) shows up here
    # as `select.epoll.poll`; the "stages" run splits it by statement instead.
    profiler = cProfile.Profile()
    await phase_poll(args, result, profiler)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write("=== cProfile of the poll (event-loop thread), by own time ===\n")
    stats.sort_stats("tottime").print_stats(args.top)
    out.write("=== cProfile of the poll, cumulative, bot/ and suppliers/ only ===\n")
    stats.sort_stats("cumulative").print_stats(r"/(bot|suppliers)/", args.top)
    result["report"] = out.getvalue()


PHASES: dict[str, Callable[[argparse.Namespace, dict[str, Any]], Any]] = {
    "setup": phase_setup,
    "poll": phase_poll,
    "floor": phase_floor,
    "stages": phase_stages,
    "cprofile": phase_cprofile,
}


def run_phase(args: argparse.Namespace) -> int:
    result: dict[str, Any] = {"phase": args.phase}
    asyncio.run(PHASES[args.phase](args, result))
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --- the parent: orchestrate and report ------------------------------------------------------


spawn = partial(spawn_script, __file__)


@dataclass(slots=True)
class Row:
    phase: str
    runs: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        return statistics.median(r["seconds"] for r in self.runs)

    @property
    def best(self) -> float:
        return min(r["seconds"] for r in self.runs)

    @property
    def rows(self) -> int:
        return int(self.runs[0].get("rows", 0))

    @property
    def peak_rss(self) -> float:
        return max(r["peak_rss_mb"] for r in self.runs)  # the worst run counts

    @property
    def start_rss(self) -> float:
        return max(r["start_rss_mb"] for r in self.runs)


class Databases:
    """Fresh databases for one backend: empty ones, and copies of the set-up template."""

    def __init__(self, backend: str, workdir: Path, admin: str | None) -> None:
        self.backend, self.workdir, self.admin = backend, workdir, admin
        self.template = self.empty("template")

    def _admin(self, *statements: str) -> None:
        import asyncpg

        async def run() -> None:
            connection = await asyncpg.connect(self.admin, ssl=False)  # local, throw-away
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(run())

    def _pg_url(self, name: str) -> str:
        assert self.admin is not None
        return self.admin.rsplit("/", 1)[0] + f"/{name}"

    def empty(self, tag: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / f'{tag}.db'}"
        name = f"stockbot_poll_{tag}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        return self._pg_url(name)

    def copy(self, tag: str) -> str:
        if self.backend == "sqlite":
            path = self.workdir / f"{tag}.db"
            shutil.copyfile(self.workdir / "template.db", path)
            return f"sqlite:///{path}"
        name = f"stockbot_poll_{tag}"
        self._admin(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "stockbot_poll_template"',
        )
        return self._pg_url(name)

    def bare_target(self, url: str) -> str:
        """What the bare script takes: a file for SQLite, a plain URL for PostgreSQL."""
        return url.removeprefix("sqlite:///")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="SKUs in the feed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase (median is shown)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="one extra, untimed run per phase under tracemalloc to report its peak",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, profile one more poll: wall time per stage, then cProfile",
    )
    parser.add_argument("--top", type=int, default=25, help="cProfile lines shown (--profile)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (and print it)")
    # Internal: what the parent passes to a child.
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    for name in ("--config", "--catalog", "--url"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        return run_phase(args)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")

    from bench.common import throwaway_postgres

    workdir = Path(tempfile.mkdtemp(prefix="stockbot-bench-"))
    started = time.perf_counter()
    try:
        files = generate(workdir, args.rows)
        ok = True
        if args.backend in ("sqlite", "both"):
            ok &= orchestrate(args, workdir, files, Databases("sqlite", workdir, None))
        if args.backend in ("postgres", "both"):
            with throwaway_postgres() as admin:
                if admin is None:
                    print("\nPostgreSQL server binaries not found: skipped")
                else:
                    databases = Databases("postgres", workdir, admin)
                    ok &= orchestrate(args, workdir, files, databases)
        print(f"(whole benchmark: {time.perf_counter() - started:.0f} s)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def orchestrate(args: argparse.Namespace, workdir: Path, files: Files, dbs: Databases) -> bool:
    server = FeedServer(files.feed.read_bytes())
    title = "SQLite" if dbs.backend == "sqlite" else "PostgreSQL"
    print(
        f"\n== {title} ==\n{args.rows:,} SKUs ({files.low:,} low, {files.zero:,} at zero), "
        f"feed {len(server.body) / 2**20:.1f} MB at {server.url}, 1 row in {CHANGED_EVERY} "
        f"changed after the first poll; {args.repeat} run(s) per phase, each in its own process\n"
    )
    config = workdir / "stockbot.toml"
    config.write_text(CONFIG_TEMPLATE.format(name=SUPPLIER, url=server.url), encoding="utf-8")
    common = ("--config", str(config), "--catalog", str(files.catalog), "--url", server.url)
    cli = [sys.executable, "-m", "bot", "--config", str(config), "poll", "--once"]
    bare = [sys.executable, "-c", BARE_SCRIPT, server.url]

    try:
        setup = Row("catalog import (setup)", [spawn("setup", child_env(dbs.template), *common)])
        first = Row("first poll (setup)", [{**setup.runs[0]}])
        first.runs[0]["seconds"] = setup.runs[0]["first_poll_seconds"]
        forecasts = Row("every forecast (setup)", [{**setup.runs[0]}])
        forecasts.runs[0]["seconds"] = setup.runs[0]["forecast_seconds"]
        drain = Row("its alerts delivered (setup)", [{**setup.runs[0]}])
        drain.runs[0]["seconds"] = setup.runs[0]["drain_seconds"]
        server.body = files.changed.read_bytes()  # the timed polls find 1% changed
        polls = Row("poll cycle (1% changed)", [])
        floors = Row("floor: fetch+parse+insert", [])
        processes = Row("stockbot poll --once", [])
        bares = Row("floor: bare script", [])
        traced: dict[str, float] = {}
        # Alternate the phases so a slow spell of the machine hits them all alike.
        for run in range(args.repeat):
            polls.runs.append(spawn("poll", child_env(dbs.copy(f"poll{run}")), *common))
            floors.runs.append(spawn("floor", child_env(dbs.empty(f"floor{run}")), *common))
            processes.runs.append(timed_process(cli, child_env(dbs.copy(f"cli{run}"))))
            target = dbs.bare_target(dbs.empty(f"bare{run}"))
            bares.runs.append(timed_process([*bare, target], child_env(target)))
            bares.runs[-1]["rows"] = int(bares.runs[-1]["output"].split()[-1])
        processes.runs[0]["rows"] = polls.rows
        if args.tracemalloc:
            for phase, url in (("poll", dbs.copy("traced")), ("floor", dbs.empty("ftraced"))):
                traced[phase] = spawn(phase, child_env(url), *common, "--trace")["traced_peak_mb"]
        profiles = []
        if args.profile:
            for phase in ("stages", "cprofile"):
                top = ("--top", str(args.top))
                profiles.append(spawn(phase, child_env(dbs.copy(phase)), *common, *top)["report"])
    finally:
        server.close()

    for text in profiles:
        print(text, end="\n\n")
    if profiles:
        print("(profiled runs are slower than the timed ones; compare shares, not seconds)\n")
    report([setup, first, forecasts, drain, floors, polls, bares, processes], traced)
    summary = polls.runs[-1]["summary"]
    print(
        f"\npoll summary: {summary['rows_read']:,} rows read, {summary['changed']:,} changed, "
        f"{summary['unmatched']} unmatched, {summary['set_aside']} set aside, "
        f"{summary['alerts_opened']:,} alerts opened"
        + (f", ERROR: {summary['error']}" if not summary["ok"] else "")
    )
    ratio, process_ratio = polls.seconds / floors.seconds, processes.seconds / bares.seconds
    rss = max(polls.peak_rss, processes.peak_rss)
    ratio_ok, process_ok = ratio <= TARGET_RATIO, process_ratio <= TARGET_PROCESS_RATIO
    rss_ok = rss < TARGET_RSS_MB
    correct = summary["ok"] and summary["rows_read"] == args.rows
    print(
        f"\npoll cycle / floor = {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x)"
        f"  {'OK' if ratio_ok else 'MISSED'}"
    )
    print(
        f"poll --once / bare script = {process_ratio:.2f}x (target <= "
        f"{TARGET_PROCESS_RATIO:.0f}x)  {'OK' if process_ok else 'MISSED'}"
    )
    print(
        f"peak RSS = {rss:.0f} MB (target < {TARGET_RSS_MB:.0f} MB)  {'OK' if rss_ok else 'MISSED'}"
    )
    if not correct:
        print("the poll did not read the whole feed: the figures above are not valid")
    return ratio_ok and process_ok and rss_ok and correct


def report(rows: list[Row], traced: dict[str, float]) -> None:
    header = (
        f"{'phase':<28}{'median s':>10}{'best s':>9}{'rows/s':>11}"
        f"{'RSS at start MB':>17}{'peak RSS MB':>13}"
    )
    if traced:
        header += f"{'tracemalloc MB':>16}"
    print(header)
    print("-" * len(header))
    keys = {"poll cycle (1% changed)": "poll", "floor: fetch+parse+insert": "floor"}
    for row in rows:
        rate = f"{row.rows / row.seconds:>11,.0f}" if row.rows else f"{'':>11}"
        line = (
            f"{row.phase:<28}{row.seconds:>10.2f}{row.best:>9.2f}"
            f"{rate}{row.start_rss:>17.0f}{row.peak_rss:>13.0f}"
        )
        key = keys.get(row.phase)
        if traced:
            line += f"{traced[key]:>16.0f}" if key in traced else f"{'':>16}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
