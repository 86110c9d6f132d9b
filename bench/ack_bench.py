"""Benchmark how fast Slack gets its ack: 50 concurrent signed `/stock SKU` commands
against the real app on a 100,000-product catalog, and against a bare Bolt app.

Run from the repo root:  python bench/ack_bench.py [--products 100000] [--concurrency 50]
                                                   [--rounds 40] [--backend sqlite|postgres|both]

Three kinds of child process (this script again, with --serve):

* slack - the fake Slack Web API of the tests (tests/fakes/slack_api.py), which Bolt's
          client and `respond()` talk to;
* app   - the real Stockbot over HTTP, as tests/helpers.py's Stack.serve_http and
          `stockbot run --http` serve it: Runtime.start on a database holding the
          imported catalog, create_app + create_web_app, the delivery worker running;
* bare  - the floor: a bare Bolt AsyncApp with the same signing secret and the same
          fake Slack, whose `/stock` acks a fixed line.

This process is the load generator: it signs every request as Slack does
(tests/fakes/slack_requests.py), sends `--concurrency` of them at once, each for a
random existing SKU, and times each from send to the ack's last byte. Rounds alternate
between the two apps so a slow spell of the shared machine hits both alike. Every
answer of the app is checked: it must name its SKU, whether it came in the ack or later
through the response URL (to the fake Slack); the time until a round's last answer was
in is shown too.

Target: the app's p99 within 1.5x the bare app's p99 (the load generator shares the
cores, so only the ratio holds). Exits with status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # runnable as a plain script
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import (  # noqa: E402
    catalog_rows,
    config_text,
    create_database,
    throwaway_postgres,
    write_catalog,
)

BOT_TOKEN = "xoxb-bench-token"
SIGNING_SECRET = "bench-signing-secret"
TARGET_RATIO = 1.5
READY = "READY "
FIXED_LINE = "Got it."
ANSWER_TIMEOUT = 30.0  # seconds for a round's answers to reach the fake Slack


# --- the child processes ------------------------------------------------------------------


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def serve_site(web_app: Any) -> Any:
    from aiohttp import web

    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"{READY}http://127.0.0.1:{port}", flush=True)
    return runner


async def serve_slack() -> None:
    """The fake Slack; on each line read from stdin, it prints the texts posted to the
    response URLs so far, as one JSON object (response URL id -> text)."""
    from tests.fakes.slack_api import FakeSlackAPI

    with FakeSlackAPI(token=BOT_TOKEN, channels={"stock-alerts": "C0ALERTS"}) as api:
        print(f"{READY}{api.base_url}", flush=True)

        def answer_queries() -> None:
            for _ in sys.stdin:
                answers = {
                    call.method.removeprefix("response_url/"): call.params.get("text", "")
                    for call in api.calls
                    if call.method.startswith("response_url/")
                }
                print(json.dumps(answers), flush=True)

        threading.Thread(target=answer_queries, daemon=True).start()
        await wait_for_signal()


async def serve_bare(slack_url: str) -> None:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    # As create_app builds Stockbot's: the client carries the token and the fake's URL.
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=f"{slack_url}/api/"),
        signing_secret=SIGNING_SECRET,
        raise_error_for_unhandled_request=False,
    )

    @app.command("/stock")
    async def stock(ack: AsyncAck) -> None:
        await ack(text=FIXED_LINE, response_type="ephemeral")

    runner = await serve_site(app.web_app(path="/slack/events"))
    await wait_for_signal()
    await runner.cleanup()


async def serve_app(config: Path, catalog: Path) -> None:
    from bot.app import create_app, create_web_app
    from bot.config import load_settings
    from bot.core.catalog import import_catalog
    from bot.runtime import Runtime

    runtime = await Runtime.start(load_settings(config))
    async with runtime.sessions() as session, session.begin():
        await import_catalog(session, catalog, {"Acme", "Beta"})
    runner = await serve_site(create_web_app(create_app(runtime), runtime))
    worker = asyncio.create_task(runtime.deliverer.run(poll_every=0.5))
    profile = os.environ.get("ACK_BENCH_PROFILE")
    if profile:  # a cProfile of the app while it serves the load, for digging
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    await wait_for_signal()
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    worker.cancel()
    with contextlib.suppress(BaseException):
        await worker
    await runner.cleanup()
    await runtime.close()


# --- the load generator -------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    url: str
    process: subprocess.Popen[str]

    def answers(self) -> dict[str, str]:
        """From the fake Slack: what was posted to each response URL so far."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write("?\n")
        stdin.flush()
        return dict(json.loads(stdout.readline()))


@contextlib.contextmanager
def child(mode: str, env: dict[str, str], *options: str) -> Iterator[Child]:
    """Start this script with --serve `mode`, once it says it is ready."""
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", mode, *options]
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        stdout: IO[str] = process.stdout  # type: ignore[assignment]
        line = stdout.readline()
        if not line.startswith(READY):
            raise SystemExit(f"the {mode} process did not start (exit {process.wait()})")
        yield Child(line.removeprefix(READY).strip(), process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(slots=True)
class Load:
    """Ack times of both apps, and how long the app's answers took."""

    app: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # per round: its last answer
    expected: dict[str, str] = field(default_factory=dict)  # response URL id -> SKU
    in_acks: dict[str, str] = field(default_factory=dict)  # answers given in the ack


async def one_round(
    client: Any, base_url: str, slack_url: str, asks: dict[str, str]
) -> tuple[list[float], dict[str, str]]:
    """Send `/stock SKU` for each (response URL id, SKU) at once: the ack times, and the
    non-empty acks by response URL id (an app may answer in the ack itself)."""
    from tests.fakes.slack_requests import SlackRequestBuilder

    builder = SlackRequestBuilder(base_url, SIGNING_SECRET)
    signed = {
        rid: builder.slash_command("/stock", sku, response_url=f"{slack_url}/response_url/{rid}")
        for rid, sku in asks.items()
    }
    bodies: dict[str, str] = {}

    async def send(rid: str, request: Any) -> float:
        started = time.perf_counter()
        async with client.post(
            base_url + request.path, data=request.body, headers=request.headers
        ) as response:
            body = await response.text()
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"{base_url}: HTTP {response.status}: {body[:200]}")
        if body:
            bodies[rid] = body
        return seconds

    times = await asyncio.gather(*(send(rid, request) for rid, request in signed.items()))
    return list(times), bodies


async def wait_for_answers(slack: Child, rids: set[str]) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while not rids <= (await asyncio.to_thread(slack.answers)).keys():
        if time.monotonic() > deadline:
            raise SystemExit(f"answers missing after {ANSWER_TIMEOUT:.0f} s")
        await asyncio.sleep(0.01)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def load(
    app_url: str, bare_url: str, slack: Child, skus: list[str], args: argparse.Namespace
) -> Load:
    import aiohttp

    rng = random.Random(11)
    out = Load()
    tags = itertools.count()

    def asks(app: str) -> dict[str, str]:
        return {f"{app}{next(tags)}": sku for sku in rng.sample(skus, args.concurrency)}

    async def app_round(counted: bool) -> None:
        round_asks = asks("app")
        started = time.perf_counter()
        times, in_acks = await one_round(client, app_url, slack.url, round_asks)
        await wait_for_answers(slack, set(round_asks) - set(in_acks))
        if counted:
            out.answered.append(time.perf_counter() - started)
            out.app += times
            out.expected.update(round_asks)
            out.in_acks.update(in_acks)

    # aiohttp rather than httpx: the load generator shares the cores, so it should be lean.
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await app_round(counted=False)  # warm-up
        await one_round(client, bare_url, slack.url, asks("bare"))
        for _ in range(args.rounds):
            out.bare += (await one_round(client, bare_url, slack.url, asks("bare")))[0]
            await app_round(counted=True)
    return out


def check_answers(slack: Child, out: Load) -> None:
    answers = {**slack.answers(), **out.in_acks}
    wrong = [rid for rid, sku in out.expected.items() if sku not in answers.get(rid, "")]
    if wrong:
        raise SystemExit(f"{len(wrong)} answer(s) do not name their SKU, e.g. {wrong[:3]}")


def report(name: str, out: Load) -> bool:
    app, bare = out.app, out.bare
    ratio = percentile(app, 0.99) / percentile(bare, 0.99)
    ok = ratio <= TARGET_RATIO
    print(f"\n== {name} ==  ({len(app)} requests each)")
    print(f"{'':<32}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, times in (("bare Bolt AsyncApp (floor)", bare), ("Stockbot /stock SKU", app)):
        print(
            f"{label:<32}{statistics.median(times) * 1000:>9.1f}"
            f"{percentile(times, 0.99) * 1000:>9.1f}{max(times) * 1000:>9.1f}"
        )
    p50_ratio = statistics.median(app) / statistics.median(bare)
    print(
        f"ratio Stockbot / bare: p50 {p50_ratio:.2f}x, p99 {ratio:.2f}x "
        f"(target p99 <= {TARGET_RATIO}x)  {'OK' if ok else 'MISSED'}"
    )
    where = "in the ack" if len(out.in_acks) == len(out.expected) else "through response URLs"
    print(
        f"all {len(out.expected)} answers checked ({where}); a round's "
        f"{len(app) // len(out.answered)} answers were all in within "
        f"{statistics.median(out.answered) * 1000:.0f} ms (median round), "
        f"{max(out.answered) * 1000:.0f} ms (worst)"
    )
    return ok


def measure(
    name: str, database_url: str, slack: Child, workdir: Path, args: argparse.Namespace
) -> bool:
    catalog = write_catalog(workdir, args.products)
    skus = [sku for sku, _ in catalog_rows(args.products)]
    config = workdir / "stockbot.toml"
    config.write_text(config_text(), encoding="utf-8")
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"{slack.url}/api/",
    )
    env.pop("SLACK_APP_TOKEN", None)
    app_options = ("--config", str(config), "--catalog", str(catalog.path))
    with (
        child("app", env, *app_options) as app,
        child("bare", env, "--slack-url", slack.url) as bare,
    ):
        out = asyncio.run(load(app.url, bare.url, slack, skus, args))
    check_answers(slack, out)
    return report(name, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50, help="requests sent at once")
    parser.add_argument("--rounds", type=int, default=40, help="rounds per app")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--serve", choices=("slack", "app", "bare"), help=argparse.SUPPRESS)
    for name in ("--config", "--catalog", "--slack-url"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "slack":
        asyncio.run(serve_slack())
        return 0
    if args.serve == "bare":
        asyncio.run(serve_bare(args.slack_url))
        return 0
    if args.serve == "app":
        asyncio.run(serve_app(Path(args.config), Path(args.catalog)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="stockbot-ack-bench-"))
    print(
        f"{args.products:,} products; {args.rounds} rounds of {args.concurrency} concurrent "
        "signed /stock SKU commands per app"
    )
    ok = True
    try:
        with child("slack", dict(os.environ)) as slack:
            if args.backend in ("sqlite", "both"):
                url = f"sqlite:///{workdir / 'ack.db'}"
                ok &= measure("SQLite", url, slack, workdir, args)
            if args.backend in ("postgres", "both"):
                with throwaway_postgres() as admin:
                    if admin is None:
                        print("\nPostgreSQL server binaries not found: skipped")
                    else:
                        url = asyncio.run(create_database(admin, "stockbot_ack_bench"))
                        ok &= measure("PostgreSQL", url, slack, workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
