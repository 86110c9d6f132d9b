"""The schedule: one polling job per supplier, plus housekeeping.

Every replica runs this schedule; each job runs once per interval across them all
(`Leases.run_if_due`): whichever process's tick comes first does the work, and when
a process dies the others' ticks pick its jobs up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.polling import PollSummary
from bot.runtime import Runtime
from stores import StoreError

log = logging.getLogger(__name__)

SNOOZE_CHECK = timedelta(seconds=60)
# How often the schedule looks whether the daily review is due (the database makes it
# once a day whichever process looks first).
REVIEW_CHECK = timedelta(seconds=60)
STORE_PUSH_EVERY = timedelta(seconds=60)
# How often notes on store orders are written ([[stores]] write_order_notes).
STORE_NOTES_EVERY = timedelta(seconds=60)
# How often store cancels claimed by a process that stopped are looked for.
CANCEL_CHECK = timedelta(seconds=60)
# [notify] auto_back_in_stock: how often covered orders are looked for.
BACK_IN_STOCK_CHECK = timedelta(seconds=60)


def describe(summary: PollSummary) -> str:
    if summary.error:
        return f"{summary.supplier}: poll failed: {summary.error}"
    if summary.not_modified:
        return f"{summary.supplier}: feed unchanged since last poll"
    notes = "".join(f"; {note}" for note in summary.notes)
    return (
        f"{summary.supplier}: {summary.rows_read} rows read, {summary.changed} changed, "
        f"{summary.set_aside} set aside, {summary.alerts_opened} alert(s) opened, "
        f"{summary.alerts_resolved} resolved{notes}"
    )


# A tick a little early still counts as on time: ticks jitter.
ON_TIME = 0.9


def once_across_replicas(
    runtime: Runtime, name: str, every: timedelta, job: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[None]]:
    """`job`, run by this process only if no replica ran it in the last `every`."""

    async def run() -> None:
        await runtime.leases.run_if_due(f"schedule:{name}", every * ON_TIME, job)

    return run


def every(
    scheduler: AsyncIOScheduler,
    period: timedelta,
    job: Callable[[], Awaitable[object]],
    job_id: str,
    *,
    spread: bool = False,
    **options: Any,
) -> None:
    """Add `job` to run every `period`, one run at a time, a missed tick run once.

    `spread`: for polls, of which there may be many at one interval: up to a tenth of
    the period off the beat (30 s at the most), and a tick late by up to a period still
    runs. `options` go to APScheduler's `add_job` (name, next_run_time)."""
    seconds = period.total_seconds()
    if spread:
        # A little jitter keeps many suppliers from polling in lockstep.
        trigger = IntervalTrigger(seconds=seconds, jitter=min(30, int(seconds * 0.1)))
        options["misfire_grace_time"] = int(seconds)
    else:
        trigger = IntervalTrigger(seconds=seconds)
    # max_instances=1: never two polls of one supplier (or two of any job) at once.
    scheduler.add_job(job, trigger, id=job_id, max_instances=1, coalesce=True, **options)


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)

    def shared(
        job_id: str,
        period: timedelta,
        job: Callable[[], Awaitable[object]],
        *,
        lease: str | None = None,
        **options: Any,
    ) -> None:
        """`job` every `period`, run by one replica (lease "schedule:<lease or job_id>")."""
        lease_job = once_across_replicas(runtime, lease or job_id, period, job)
        every(scheduler, period, lease_job, job_id, **options)

    for supplier in runtime.settings.suppliers:

        async def poll(name: str = supplier.name) -> None:
            log.info(describe(await runtime.poll_cycle(name)))

        shared(
            f"poll:{supplier.name}",
            supplier.poll_interval,
            poll,
            spread=True,
            name=f"poll {supplier.name}",
            next_run_time=now,
        )

    for store in runtime.settings.stores:

        async def poll_orders(name: str = store.name) -> None:
            try:
                report = await runtime.poll_store_orders(name)
            except StoreError as exc:
                log.warning("%s: reading open orders failed: %s", name, exc)
                return
            log.info(
                "%s: %d open orders listed, %d new, %d updated, %d closed",
                name,
                report.listed,
                report.created,
                report.updated,
                report.closed,
            )

        shared(
            f"store_orders:{store.name}",
            store.poll_interval,
            poll_orders,
            spread=True,
            name=f"orders of {store.name}",
            next_run_time=now,
        )

    if runtime.stores:

        async def push_inventory() -> None:
            for report in await runtime.push_store_inventory():
                if report.pushed or report.failed:
                    log.info(
                        "%s: %d stock update(s) sent, %d failed",
                        report.store,
                        report.pushed,
                        report.failed,
                    )

        shared(
            "store_push",
            STORE_PUSH_EVERY,
            push_inventory,
            name="push stock to stores",
            next_run_time=now,
        )
        shared(
            "interrupted_cancels",
            CANCEL_CHECK,
            runtime.choices.release_interrupted_cancels,
            name="offer again the store cancels a stopped process left unfinished",
        )

    if any(store.write_order_notes for store in runtime.settings.stores):
        shared(
            "store_notes",
            STORE_NOTES_EVERY,
            runtime.write_store_notes,
            name="write notes on store orders",
        )

    # Lease "schedule:forecast", as the recompute after a poll: one at a time, anywhere.
    shared(
        "forecasts",
        runtime.settings.forecast.recompute_every,
        runtime.watch_forecasts,
        lease="forecast",
        name="recompute forecasts",
        next_run_time=now + timedelta(minutes=1),
    )
    if runtime.settings.notify.auto_back_in_stock:
        shared(
            "back_in_stock",
            BACK_IN_STOCK_CHECK,
            runtime.notifier.send_due_back_in_stock,
            name="tell customers their order is on its way",
        )
    shared("wake_snoozed", SNOOZE_CHECK, runtime.staff.wake_snoozed)
    if runtime.settings.review.enabled:
        # Not leased: the database makes the review once a day, whoever looks first.
        every(
            scheduler,
            REVIEW_CHECK,
            runtime.reviews.tick,
            "daily_review",
            name="daily review",
            next_run_time=now,
        )
    return scheduler
